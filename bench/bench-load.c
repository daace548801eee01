/*
 * relog-bench's rows under load: runner processes emitting into relogd
 * (throughput, crashes, delivery latency, 1,000 idle runners' memory), and
 * rsyslogd under the same load, fed as syslog(3) would.
 */
#include <sys/inotify.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "relog-bench.h"
#include "proto.h"
#include "relog-ring.h"
#include "shm-ring.h"

/* The CPU time (user and system) of the children reaped so far, in ns. */
static uint64_t
bench_children_ns(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_CHILDREN, &ru) != 0)
		return (0);
	return ((uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) *
	    1000000000 + (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) *
	    1000);
}

/*
 * The CPU time a process's threads have had, in ns, from the scheduler's
 * own count (/proc/PID/task/TID/schedstat): a tick (10 ms) is too coarse
 * to tell relogd's cost of a run apart; and in *wait (if not NULL), the
 * time they were runnable and waited for a CPU. 0 if it cannot be read.
 */
static uint64_t
bench_cpu_ns(pid_t pid, uint64_t *wait)
{
	char path[PATH_MAX];
	unsigned long long ns, delay;
	struct dirent *de;
	uint64_t total = 0, unused;
	FILE *f;
	DIR *d;

	if (wait == NULL)
		wait = &unused;
	*wait = 0;
	bench_path(path, sizeof path, "/proc/%ld/task", (long)pid);
	if ((d = opendir(path)) == NULL)
		return (0);
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		bench_path(path, sizeof path, "/proc/%ld/task/%s/schedstat",
		    (long)pid, de->d_name);
		if ((f = fopen(path, "re")) == NULL)
			continue;
		if (fscanf(f, "%llu %llu", &ns, &delay) == 2) {
			total += ns;
			*wait += delay;
		}
		fclose(f);
	}
	closedir(d);
	return (total);
}

/*
 * Start runner processes (relog-bench MODE: emitter or crasher) on d, of 8
 * plugins, each emitting per_runner records into a ring of queue records;
 * fds, if not NULL, get their stdout, and ins their stdin.
 */
static void
bench_spawn_runners(pid_t *pids, int *fds, int *ins, const char *mode,
    const struct harness *d, int runners, uint64_t per_runner, uint64_t queue)
{
	char runner[16], plugin[16], count[32], ring[32];
	const char *argv[] = { bench_self, mode, d->socket, runner, plugin,
	    count, ring, NULL };
	int i;

	snprintf(count, sizeof count, "%llu", (unsigned long long)per_runner);
	snprintf(ring, sizeof ring, "%llu", (unsigned long long)queue);
	for (i = 0; i < runners; i++) {
		snprintf(runner, sizeof runner, "r%d", i);
		snprintf(plugin, sizeof plugin, "p%d", i % 8);
		pids[i] = harness_spawn(argv, NULL,
		    fds != NULL ? &fds[i] : NULL, ins != NULL ? &ins[i] : NULL);
	}
}

void
bench_throughput(struct bench_tput *r, struct harness *d, int runners,
    uint64_t per_runner)
{
	char *out, *said, ready[8];
	int fds[64], ins[64], i;
	pid_t pids[64];
	uint64_t start, dropped, cpu, wait, cpu_end, wait_end, ns, children;

	r->runners = runners;
	r->records = per_runner * (uint64_t)runners;
	r->dropped = 0;
	bench_spawn_runners(pids, fds, ins, "emitter", d, runners, per_runner,
	    per_runner < BENCH_QUEUE ? per_runner : BENCH_QUEUE);
	/* Every runner started, its ring handed over: then all go at once. */
	for (i = 0; i < runners; i++) {
		if (read(fds[i], ready, 6) != 6 || memcmp(ready, "ready\n", 6))
			bench_fatal("runner %d did not start", i);
	}
	/* The runners' CPU time from the go: less what starting took. */
	children = bench_children_ns();
	for (i = 0; i < runners; i++)
		children += bench_cpu_ns(pids[i], NULL);
	start = measure_now_ns();
	cpu = bench_cpu_ns(d->daemon, &wait);
	for (i = 0; i < runners; i++)
		close(ins[i]);
	for (i = 0; i < runners; i++) {
		out = harness_read_fd(fds[i], NULL);
		if (harness_wait(pids[i], BENCH_TIMEOUT_MS) != 0 ||
		    (said = strstr(out, "dropped=")) == NULL ||
		    sscanf(said, "dropped=%llu",
		    (unsigned long long *)&dropped) != 1)
			bench_fatal("runner %d failed: %s", i, out);
		free(out);
		r->dropped += dropped;
	}
	/* Every runner's close returned: relogd has written it all. */
	ns = measure_now_ns() - start;
	r->per_second = (double)r->records * 1e9 / (double)ns;
	cpu_end = bench_cpu_ns(d->daemon, &wait_end);
	r->relogd_ns = cpu == 0 ? 0 : (double)(cpu_end - cpu) /
	    (double)r->records;
	r->relogd_busy = cpu == 0 ? 0 : 100.0 * (double)(cpu_end - cpu) /
	    (double)ns;
	r->relogd_wait = cpu == 0 ? 0 : 100.0 * (double)(wait_end - wait) /
	    (double)ns;
	/* relogd is not reaped yet: these are the runners'. */
	r->runners_ns = (double)(bench_children_ns() - children) /
	    (double)r->records;
	r->rss_peak_kb = harness_status_num(d->daemon, "VmHWM");
	r->arrived = bench_dir_lines(d->log_dir);
}

/*
 * Runners emit per_runner records each in a burst, into a ring that holds
 * them, and SIGKILL themselves: how many of the records relogd writes,
 * counted once every one is in or the count stopped growing for a second.
 */
void
bench_crash(struct bench_crash *c, struct harness *d, int runners,
    uint64_t per_runner)
{
	pid_t pids[64];
	int i;

	c->runners = runners;
	c->per_runner = per_runner;
	c->emitted = per_runner * (uint64_t)runners;
	bench_spawn_runners(pids, NULL, NULL, "crasher", d, runners,
	    per_runner, per_runner);
	for (i = 0; i < runners; i++)
		if (harness_wait(pids[i], BENCH_TIMEOUT_MS) != 128 + SIGKILL)
			bench_fatal("crashing runner %d did not die by SIGKILL",
			    i);
	c->delivered = bench_await_lines(bench_dir_lines, d->log_dir, 0,
	    c->emitted, NULL);
}

/* The tail of a log file, read as lines appear (inotify). */
struct bench_tail {
	const char *dir;
	const char *file;
	uint64_t want;
	uint64_t *lat_ns;
	uint64_t got;
};

static void *
bench_tail_run(void *arg)
{
	struct bench_tail *t = arg;
	char path[PATH_MAX + 64], buf[1 << 16], ev[4096], *nl, *p;
	struct pollfd pfd = { .events = POLLIN };
	size_t have = 0;
	ssize_t n;
	uint64_t now;
	int fd = -1;

	bench_path(path, sizeof path, "%s/%s", t->dir, t->file);
	pfd.fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	inotify_add_watch(pfd.fd, t->dir, IN_MODIFY | IN_CREATE);
	while (t->got < t->want) {
		if (fd < 0)
			fd = open(path, O_RDONLY | O_CLOEXEC);
		while (fd >= 0 && (n = read(fd, buf + have,
		    sizeof buf - have - 1)) > 0) {
			now = measure_wall_ns();
			have += (size_t)n;
			buf[have] = '\0';
			p = buf;
			while ((nl = strchr(p, '\n')) != NULL) {
				char *ts = strstr(p, " t=");

				if (ts != NULL && ts < nl && t->got < t->want)
					t->lat_ns[t->got++] = now -
					    strtoull(ts + 3, NULL, 10);
				p = nl + 1;
			}
			have -= (size_t)(p - buf);
			memmove(buf, p, have);
		}
		if (t->got >= t->want)
			break;
		if (poll(&pfd, 1, BENCH_TIMEOUT_MS) != 1)
			break;
		while (read(pfd.fd, ev, sizeof ev) > 0)
			;
	}
	if (fd >= 0)
		close(fd);
	close(pfd.fd);
	return (NULL);
}

/*
 * Delivery latency: records emitted at 40 a second (so the flush timer,
 * not the batch size, sends them), each carrying its emit time, timed when
 * its line is read from the file.
 */
void
bench_delivery(struct bench_lat *l, struct harness *d)
{
	struct bench_tail t = {
		.dir = d->log_dir, .file = "lat.log", .want = 200,
	};
	struct timespec gap = { 0, 25000000 };
	pthread_t tail;
	relog_t *h;
	uint64_t i;

	mkdir(d->log_dir, 0755);
	t.lat_ns = calloc(t.want, sizeof *t.lat_ns);
	if (t.lat_ns == NULL)
		bench_fatal("out of memory");
	h = bench_open(d->socket, "bench-lat", 0);
	pthread_create(&tail, NULL, bench_tail_run, &t);
	for (i = 0; i < t.want; i++) {
		relog_log(h, RELOG_INFO, "plugin.lat", "t=%llu",
		    (unsigned long long)measure_wall_ns());
		nanosleep(&gap, NULL);
	}
	pthread_join(tail, NULL);
	relog_close(h, BENCH_TIMEOUT_MS);
	if (t.got < t.want)
		bench_fatal("only %llu of %llu records came back",
		    (unsigned long long)t.got, (unsigned long long)t.want);
	qsort(t.lat_ns, t.got, sizeof *t.lat_ns, measure_cmp_u64);
	l->p50 = bench_pct(t.lat_ns, t.got, 0.50);
	l->p99 = bench_pct(t.lat_ns, t.got, 0.99);
	l->p999 = bench_pct(t.lat_ns, t.got, 0.999);
	l->max = t.lat_ns[t.got - 1];
	l->n = t.got;
	free(t.lat_ns);
}

/* Pack a hello payload (struct proto_hello). */
static void
bench_pack_hello(msgpack_packer *pk, void *arg)
{
	proto_pack_hello(pk, arg);
}

/*
 * Send a hello frame with a ring's memfd and wake socket (SCM_RIGHTS), as
 * librelog does.
 */
static void
bench_send_ring(int fd, const char *buf, size_t len, const int *fds)
{
	union {
		struct cmsghdr hdr;
		char buf[CMSG_SPACE(2 * sizeof(int))];
	} ctl;
	struct iovec iov = { (void *)buf, len };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = ctl.buf, .msg_controllen = sizeof ctl.buf,
	};
	struct cmsghdr *cm;

	memset(&ctl, 0, sizeof ctl);
	cm = CMSG_FIRSTHDR(&msg);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(2 * sizeof(int));
	memcpy(CMSG_DATA(cm), fds, 2 * sizeof(int));
	if (sendmsg(fd, &msg, MSG_NOSIGNAL) != (ssize_t)len)
		bench_fatal("sendmsg: %s", strerror(errno));
}

/* Did a hello reply say the ring was taken? */
static int
bench_ring_taken(const struct proto_msg *m)
{
	const msgpack_object *v = m->env.payload != NULL ?
	    proto_map_get(m->env.payload, "ring") : NULL;

	return (v != NULL && v->type == MSGPACK_OBJECT_BOOLEAN &&
	    v->via.boolean);
}

/*
 * relogd's memory with 1,000 runners connected and idle, each having passed
 * a ring of librelog's default size (1,024 slots) with its hello, as
 * librelog's runners do: its own (RssAnon + RssFile), and the rings' pages
 * it touched (RssShmem: the runners' memory, shared).
 */
void
bench_idle_runners(struct harness *d, int count, long *own_kb,
    long *shared_kb)
{
	struct proto_hello hello = {
		.sdk_version = proto_cstr("bench"),
		.session_token = proto_cstr(""),
		.ring_version = RELOG_RING_VERSION,
	};
	struct proto_header hd = {
		.message_type = RELOG_TYPE_REQUEST,
		.request_id = 1,
		.method = proto_cstr(RELOG_METHOD_HELLO),
		.timeout_ms = RELOG_TIMEOUT_MS_DEFAULT,
	};
	struct rlimit rl = { 16384, 16384 };
	struct shm_ring **rings;
	char runner[32];
	const char *cause;
	struct proto_msg m;
	msgpack_sbuffer sb;
	int *fds, wake[2], pass[2], i;

	setrlimit(RLIMIT_NOFILE, &rl);
	fds = calloc((size_t)count, sizeof *fds);
	rings = calloc((size_t)count, sizeof *rings);
	if (fds == NULL || rings == NULL)
		bench_fatal("out of memory");
	for (i = 0; i < count; i++) {
		if (shm_ring_create(&rings[i], RELOG_RING_SLOTS_MIN, NULL,
		    NULL) != 0 || socketpair(AF_UNIX, SOCK_DGRAM |
		    SOCK_CLOEXEC, 0, wake) != 0)
			bench_fatal("ring %d: %s", i, strerror(errno));
		fds[i] = harness_connect(d);
		snprintf(runner, sizeof runner, "idle%d", i);
		hello.runner_id = proto_cstr(runner);
		proto_client_frame(&sb, &hd, bench_pack_hello, &hello);
		pass[0] = shm_ring_fd(rings[i]);
		pass[1] = wake[1];
		bench_send_ring(fds[i], sb.data, sb.size, pass);
		close(wake[0]);
		close(wake[1]);
		if (proto_client_recv(fds[i], BENCH_TIMEOUT_MS, &m, &cause) != 0)
			bench_fatal("hello %d failed", i);
		if (!bench_ring_taken(&m))
			bench_fatal("hello %d: relogd did not take the ring", i);
		proto_msg_free(&m);
		msgpack_sbuffer_destroy(&sb);
	}
	*own_kb = harness_status_num(d->daemon, "RssAnon") +
	    harness_status_num(d->daemon, "RssFile");
	*shared_kb = harness_status_num(d->daemon, "RssShmem");
	for (i = 0; i < count; i++) {
		close(fds[i]);
		shm_ring_destroy(rings[i]);
	}
	free(rings);
	free(fds);
}

void
bench_rsyslog_start(struct bench_rsyslog *r)
{
	char conf[PATH_MAX + 16], pidfile[PATH_MAX + 16], err[PATH_MAX + 16];
	char notify[PATH_MAX + 16];
	const char *argv[8];
	FILE *f;

	r->available = access("/usr/sbin/rsyslogd", X_OK) == 0;
	if (!r->available)
		return;
	bench_path(r->dir, sizeof r->dir, "%s/rsyslog", bench_out);
	mkdir(r->dir, 0755);
	bench_path(r->socket, sizeof r->socket, "%s/s", r->dir);
	bench_path(r->file, sizeof r->file, "%s/out.log", r->dir);
	bench_path(conf, sizeof conf, "%s/rsyslog.conf", r->dir);
	bench_path(pidfile, sizeof pidfile, "%s/rsyslogd.pid", r->dir);
	bench_path(err, sizeof err, "%s/rsyslogd.err", r->dir);
	bench_path(notify, sizeof notify, "%s/notify", r->dir);
	unlink(r->file);
	f = fopen(conf, "w");
	if (f == NULL)
		bench_fatal("%s: %s", conf, strerror(errno));
	/* imuxsock without rate limiting, one file, as relogd writes. */
	fprintf(f,
	    "global(workDirectory=\"%s\")\n"
	    "module(load=\"imuxsock\" SysSock.Use=\"off\")\n"
	    "input(type=\"imuxsock\" Socket=\"%s\" RateLimit.Interval=\"0\")\n"
	    "template(name=\"line\" type=\"string\" string=\"%%timegenerated:::"
	    "date-rfc3339%% %%syslogseverity-text%% [%%programname%%]"
	    "%%msg%%\\n\")\n"
	    "if $programname == 'bench' then {\n"
	    "  action(type=\"omfile\" file=\"%s\" template=\"line\")\n"
	    "}\n", r->dir, r->socket, r->file);
	fclose(f);
	argv[0] = "/usr/sbin/rsyslogd";
	argv[1] = "-n";
	argv[2] = "-f";
	argv[3] = conf;
	argv[4] = "-i";
	argv[5] = pidfile;
	argv[6] = NULL;
	r->pid = harness_start_ready("rsyslogd", notify, argv, err, NULL, NULL);
	bench_cg_join(bench_cg_daemons, r->pid);
}

void
bench_rsyslog_stop(struct bench_rsyslog *r)
{
	if (!r->available)
		return;
	kill(r->pid, SIGTERM);
	harness_wait(r->pid, BENCH_TIMEOUT_MS);
	unlink(r->file);
}

/* syslog(3)'s cost: one send per record, on a connected datagram socket. */
void
bench_rsyslog_latency(struct bench_lat *l, struct bench_rsyslog *r)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	char dgram[BENCH_MSG_SIZE + 64];
	uint64_t *v, t0, i;
	int fd, head;

	v = calloc(BENCH_EMITS, sizeof *v);
	bench_path(sun.sun_path, sizeof sun.sun_path, "%s", r->socket);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (v == NULL || fd < 0 || connect(fd, (struct sockaddr *)&sun,
	    sizeof sun) != 0)
		bench_fatal("rsyslog socket: %s", strerror(errno));
	head = snprintf(dgram, sizeof dgram, "<14>bench: ");
	bench_message(dgram + head, 0);
	for (i = 0; i < BENCH_EMITS; i++) {
		t0 = measure_tsc();
		send(fd, dgram, (size_t)head + BENCH_MSG_SIZE, 0);
		v[i] = measure_tsc() - t0;
	}
	close(fd);
	bench_lat_from(l, v, BENCH_EMITS);
	free(v);
}

/*
 * rsyslog's end-to-end throughput: senders processes, per_sender records
 * each, timed until the lines are in its file (or it stops growing).
 */
void
bench_rsyslog_throughput(struct bench_tput *t, struct bench_rsyslog *r,
    int senders, uint64_t per_sender)
{
	const char *argv[8][6];
	char count[32];
	pid_t pids[8];
	uint64_t start, base, end;
	int i;

	/*
	 * Each round from an empty file, so that counting its lines stays
	 * cheap (rsyslog appends; were it to write on at its offset, the
	 * hole has no newlines).
	 */
	if (truncate(r->file, 0) != 0 && errno != ENOENT)
		bench_fatal("%s: %s", r->file, strerror(errno));
	base = bench_lines(r->file);
	snprintf(count, sizeof count, "%llu", (unsigned long long)per_sender);
	t->runners = senders;
	t->records = per_sender * (uint64_t)senders;
	t->dropped = 0;
	start = measure_now_ns();
	for (i = 0; i < senders; i++) {
		argv[i][0] = bench_self;
		argv[i][1] = "syslog-sender";
		argv[i][2] = r->socket;
		argv[i][3] = count;
		argv[i][4] = NULL;
		pids[i] = harness_spawn(argv[i], NULL, NULL, NULL);
	}
	for (i = 0; i < senders; i++)
		if (harness_wait(pids[i], BENCH_TIMEOUT_MS) != 0)
			bench_fatal("syslog sender %d failed", i);
	t->arrived = bench_await_lines(bench_lines, r->file, base, t->records,
	    &end);
	t->per_second = (double)t->arrived * 1e9 / (double)(end - start);
	t->rss_peak_kb = harness_status_num(r->pid, "VmHWM");
}

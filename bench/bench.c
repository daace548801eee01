/*
 * relog-bench: measures relog on this machine, in one run, and rsyslog
 * beside it under the same load. It asserts nothing: it prints a table and
 * writes it as JSON (see bench/README.md). Every process it starts, it
 * stops. relogd, rsyslogd and the runner processes are started and waited
 * for with the tests' harness (tests/harness.c).
 *
 *   relog-bench [--quick] RELOGD OUTDIR     the whole run
 *   relog-bench emitter SOCKET RUNNER PLUGIN COUNT QUEUE   "ready", then
 *                                            emits once stdin is closed
 *   relog-bench crasher SOCKET RUNNER PLUGIN COUNT QUEUE   then SIGKILL
 *   relog-bench probe SOCKET COUNT          emits for strace to count
 *   relog-bench syslog-sender SOCKET COUNT
 */
#include <sys/inotify.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <x86intrin.h>

#include "harness.h"
#include "proto.h"
#include "relog-ring.h"
#include "relog.h"
#include "shm-ring.h"

#define BENCH_MSG_SIZE 100		/* bytes of message per record */
#define BENCH_EMITS 100000		/* per latency run and thread */
/*
 * A throughput runner's RELOG_QUEUE_MAX: a ring of 4,096 slots, 1 MiB; 64
 * of them stay closer to the caches (and the TLB) than rings of 4 MiB.
 */
#define BENCH_QUEUE 2048
#define BENCH_TIMEOUT_MS 120000		/* for any one step */
#define BENCH_DAEMON_WEIGHT 400		/* relogd.service's CPUWeight= */

/* Mallocs made by this thread: --wrap=malloc,calloc,realloc count them. */
static __thread uint64_t bench_mallocs;
void *__real_malloc(size_t);
void *__real_calloc(size_t, size_t);
void *__real_realloc(void *, size_t);
void *__wrap_malloc(size_t);
void *__wrap_calloc(size_t, size_t);
void *__wrap_realloc(void *, size_t);

void *
__wrap_malloc(size_t n)
{
	bench_mallocs++;
	return (__real_malloc(n));
}

void *
__wrap_calloc(size_t n, size_t m)
{
	bench_mallocs++;
	return (__real_calloc(n, m));
}

void *
__wrap_realloc(void *p, size_t n)
{
	bench_mallocs++;
	return (__real_realloc(p, n));
}

static void bench_cg_remove(void);

/*
 * Kill the process group and reap our children; what is left after 10 s
 * (SIGALRM: bench_on_signal) is killed outright with the cgroups' help.
 * Async-signal-safe.
 */
static void
bench_stop_all(void)
{
	signal(SIGTERM, SIG_IGN);
	kill(0, SIGTERM);
	alarm(10);
	while (waitpid(-1, NULL, 0) > 0)
		;
	alarm(0);
}

/* Say what went wrong and stop, the children first. */
static void __attribute__((noreturn, format(printf, 1, 2)))
bench_fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("relog-bench: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	bench_stop_all();
	exit(1);
}

/*
 * SIGTERM, from a child's bench_fatal (it signals the group) or a user:
 * stop the children, remove the cgroups, exit. SIGALRM: children that
 * outlived bench_stop_all's 10 s; bench_cg_remove kills them.
 */
static void
bench_on_signal(int sig)
{
	if (sig == SIGTERM)
		bench_stop_all();
	bench_cg_remove();
	_exit(1);
}

/* The harness's failures are the bench's. */
void
harness_fail(const char *fmt, ...)
{
	char msg[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	bench_fatal("%s", msg);
}

/* Format a path; one that does not fit is fatal. */
static void __attribute__((format(printf, 3, 4)))
bench_path(char *out, size_t len, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(out, len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= len)
		bench_fatal("path too long: %s", out);
}

/* Monotonic clock in ns. */
static uint64_t
bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec);
}

/* Wall clock in ns. */
static uint64_t
bench_wall_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ((uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec);
}

/* The TSC: cheap enough to time a single emit. */
static inline uint64_t
bench_tsc(void)
{
	uint64_t t;

	_mm_lfence();
	t = __rdtsc();
	_mm_lfence();
	return (t);
}

static double bench_ns_per_tick;	/* calibrated against the clock */
static uint64_t bench_tsc_overhead;	/* ticks of an empty measurement */

/* How many ns a TSC tick is, and what timing nothing costs. */
static void
bench_calibrate(void)
{
	uint64_t t0, c0, t1, c1, v[1001];
	struct timespec pause = { 0, 200000000 };
	size_t i;

	t0 = bench_now_ns();
	c0 = bench_tsc();
	nanosleep(&pause, NULL);
	t1 = bench_now_ns();
	c1 = bench_tsc();
	bench_ns_per_tick = (double)(t1 - t0) / (double)(c1 - c0);
	for (i = 0; i < 1001; i++) {
		c0 = bench_tsc();
		v[i] = bench_tsc() - c0;
	}
	bench_tsc_overhead = v[0];
	for (i = 1; i < 1001; i++) {
		if (v[i] < bench_tsc_overhead)
			bench_tsc_overhead = v[i];
	}
}

static int
bench_cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x < y ? -1 : x > y);
}

/* The p-th percentile (0..1) of n sorted values. */
static uint64_t
bench_pct(const uint64_t *v, size_t n, double p)
{
	size_t i = (size_t)(p * (double)(n - 1) + 0.5);

	return (v[i < n ? i : n - 1]);
}

/* Ticks to ns, less the cost of measuring. */
static uint64_t
bench_ticks_ns(uint64_t ticks)
{
	ticks = ticks > bench_tsc_overhead ? ticks - bench_tsc_overhead : 0;
	return ((uint64_t)((double)ticks * bench_ns_per_tick + 0.5));
}

/* Count the newlines of a file. */
static uint64_t
bench_lines(const char *path)
{
	char buf[1 << 16];
	uint64_t n = 0;
	ssize_t got, i;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return (0);
	while ((got = read(fd, buf, sizeof buf)) > 0) {
		for (i = 0; i < got; i++)
			n += buf[i] == '\n';
	}
	close(fd);
	return (n);
}

/* Sum the lines of every file in a folder. */
static uint64_t
bench_dir_lines(const char *dir)
{
	char path[PATH_MAX + 256];
	struct dirent *de;
	uint64_t n = 0;
	DIR *d;

	d = opendir(dir);
	if (d == NULL)
		return (0);
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		bench_path(path, sizeof path, "%s/%s", dir, de->d_name);
		n += bench_lines(path);
	}
	closedir(d);
	return (n);
}

static const char *bench_relogd_path;
static const char *bench_out;
static const char *bench_self;

/*
 * Scheduling groups, as on a host run by systemd: relogd.service runs in
 * a cgroup of its own with CPUWeight=400 (which turns the cpu controller
 * on), beside the runtime's unit that holds the runners, so that the
 * kernel shares the CPUs between the two first and 64 runners weigh no
 * more against relogd than 8 do. The bench makes two cgroups when it can
 * (as root, under cgroup v1's cpu hierarchy, or at the root of cgroup v2):
 * the clients', which it joins itself, so that every runner it starts is
 * in it from the start, and the daemons', weighing 400 to 100, into which
 * it moves relogd and rsyslogd (given the same weight) once they are
 * ready. At exit it leaves them, kills what is still in them and removes
 * them; v2's cpu controller, if it turned it on, it turns off again. If it
 * cannot make them, every process stays in the bench's own, and the table
 * says so. One row moves relogd into the clients' cgroup, to show what the
 * weight is worth.
 */
static char bench_cg_base[PATH_MAX];
static char bench_cg_daemons[PATH_MAX];
static char bench_cg_clients[PATH_MAX];
static int bench_cg_v2_on;	/* we turned cpu on in v2's root */
static char bench_cg_kind[160] = "one cgroup, the bench's own (it makes "
    "them as root only, under cgroup v1 or at v2's root)";

/* Write a short text to a cgroup file. Returns 0 or -1 (errno set). */
static int
bench_cg_write(const char *dir, const char *file, const char *text)
{
	char path[PATH_MAX + 32];
	ssize_t n, len = (ssize_t)strlen(text);
	int fd;

	if (snprintf(path, sizeof path, "%s/%s", dir, file) >=
	    (int)sizeof path) {
		errno = ENAMETOOLONG;
		return (-1);
	}
	if ((fd = open(path, O_WRONLY | O_CLOEXEC)) < 0)
		return (-1);
	n = write(fd, text, (size_t)len);
	close(fd);
	if (n >= 0 && n != len)
		errno = EIO;
	return (n == len ? 0 : -1);
}

/* Put a process (all its threads) into a cgroup made by bench_cg_make. */
static void
bench_cg_join(const char *cg, pid_t pid)
{
	char text[32];

	if (cg[0] == '\0')
		return;
	snprintf(text, sizeof text, "%ld\n", (long)pid);
	if (bench_cg_write(cg, "cgroup.procs", text) != 0)
		bench_fatal("cannot move %ld into %s: %s", (long)pid, cg,
		    strerror(errno));
}

/* Say something from a signal handler: write(2) only. */
static void
bench_say(const char *a, const char *b)
{
	ssize_t n;

	n = write(STDERR_FILENO, a, strlen(a));
	n = write(STDERR_FILENO, b, strlen(b));
	n = write(STDERR_FILENO, "\n", 1);
	(void)n;
}

/*
 * SIGKILL whatever is in a cgroup but us, and remove it: tried for a
 * second while the killed exit. Async-signal-safe.
 */
static void
bench_cg_drop(const char *cg)
{
	static char text[4096];
	char path[PATH_MAX + 32];
	struct timespec tick = { 0, 10 * 1000 * 1000 };
	ssize_t n;
	long pid;
	int fd, i;
	char *p;

	if (cg[0] == '\0')
		return;
	memcpy(path, cg, strlen(cg));
	memcpy(path + strlen(cg), "/cgroup.procs", 14);
	for (i = 0; i < 100; i++) {
		if (rmdir(cg) == 0 || errno == ENOENT)
			return;
		if ((fd = open(path, O_RDONLY | O_CLOEXEC)) >= 0) {
			n = read(fd, text, sizeof text - 1);
			close(fd);
			text[n > 0 ? n : 0] = '\0';
			for (p = text; *p != '\0'; p++) {
				for (pid = 0; *p >= '0' && *p <= '9'; p++)
					pid = pid * 10 + (*p - '0');
				if (pid > 0 && pid != (long)getpid())
					kill((pid_t)pid, SIGKILL);
				if (*p == '\0')
					break;
			}
		}
		while (waitpid(-1, NULL, WNOHANG) > 0)
			;
		nanosleep(&tick, NULL);
	}
	bench_say("relog-bench: cannot remove ", cg);
}

/* Leave and remove the cgroups (at exit, and from signal handlers). */
static void
bench_cg_remove(void)
{
	char text[32];
	long pid = (long)getpid();
	int i = (int)sizeof text - 1;

	if (bench_cg_base[0] == '\0')
		return;
	text[i--] = '\0';
	text[i--] = '\n';
	do
		text[i--] = (char)('0' + pid % 10);
	while ((pid /= 10) > 0);
	if (bench_cg_write(bench_cg_base, "cgroup.procs", text + i + 1) != 0)
		bench_say("relog-bench: cannot leave ", bench_cg_clients);
	bench_cg_drop(bench_cg_daemons);
	bench_cg_drop(bench_cg_clients);
	if (bench_cg_v2_on)
		bench_cg_write(bench_cg_base, "cgroup.subtree_control", "-cpu");
	bench_cg_base[0] = '\0';
}

/* Is the bench itself in the root of cgroup v2 (/proc/self/cgroup "0::/")? */
static int
bench_cg_v2_root(void)
{
	char line[256];
	FILE *f = fopen("/proc/self/cgroup", "re");
	int root = 0;

	if (f == NULL)
		return (0);
	while (fgets(line, sizeof line, f) != NULL)
		if (strcmp(line, "0::/\n") == 0)
			root = 1;
	fclose(f);
	return (root);
}

/* Has v2's root the cpu controller on for its children already? */
static int
bench_cg_v2_cpu_on(void)
{
	char line[256];
	FILE *f = fopen("/sys/fs/cgroup/cgroup.subtree_control", "re");
	int on = 0;
	char *w;

	if (f == NULL)
		return (0);
	if (fgets(line, sizeof line, f) != NULL)
		for (w = strtok(line, " \n"); w != NULL; w = strtok(NULL, " \n"))
			on |= strcmp(w, "cpu") == 0;
	fclose(f);
	return (on);
}

/* Make the two cgroups, weigh them and join the clients', if we can. */
static void
bench_cg_make(void)
{
	char weight[16];
	int v1;

	if (geteuid() != 0)
		return;
	if (access("/sys/fs/cgroup/cpu/cpu.shares", W_OK) == 0) {
		snprintf(bench_cg_base, sizeof bench_cg_base,
		    "/sys/fs/cgroup/cpu");
		v1 = 1;
	} else if (bench_cg_v2_root() && access("/sys/fs/cgroup/cgroup."
	    "subtree_control", W_OK) == 0) {
		snprintf(bench_cg_base, sizeof bench_cg_base, "/sys/fs/cgroup");
		v1 = 0;
		if (!bench_cg_v2_cpu_on()) {
			if (bench_cg_write(bench_cg_base,
			    "cgroup.subtree_control", "+cpu") != 0) {
				bench_cg_base[0] = '\0';
				return;
			}
			bench_cg_v2_on = 1;
		}
	} else
		return;
	bench_path(bench_cg_daemons, sizeof bench_cg_daemons,
	    "%s/relog-bench-%ld-daemons", bench_cg_base, (long)getpid());
	bench_path(bench_cg_clients, sizeof bench_cg_clients,
	    "%s/relog-bench-%ld-clients", bench_cg_base, (long)getpid());
	atexit(bench_cg_remove);
	if (mkdir(bench_cg_daemons, 0755) != 0 ||
	    mkdir(bench_cg_clients, 0755) != 0)
		bench_fatal("cannot make %s: %s", bench_cg_clients,
		    strerror(errno));
	/* systemd's own conversion on v1: shares = weight * 1024 / 100. */
	snprintf(weight, sizeof weight, "%d\n", v1 ?
	    BENCH_DAEMON_WEIGHT * 1024 / 100 : BENCH_DAEMON_WEIGHT);
	if (bench_cg_write(bench_cg_daemons, v1 ? "cpu.shares" : "cpu.weight",
	    weight) != 0)
		bench_fatal("cannot weigh %s: %s", bench_cg_daemons,
		    strerror(errno));
	bench_cg_join(bench_cg_clients, getpid());
	snprintf(bench_cg_kind, sizeof bench_cg_kind, "cgroups (%s) of their "
	    "own, the daemons' weighing %d to the runners' 100 (CPUWeight=)",
	    v1 ? "v1" : "v2", BENCH_DAEMON_WEIGHT);
}

/*
 * Start a relogd in OUTDIR/NAME, the harness's folder (its own socket, and
 * logs and state it starts without), with these settings (an INI text, or
 * NULL) and a Fluent Forward socket OUTDIR/NAME/fwd.
 */
static void
bench_relogd_start(struct harness *h, const char *name, const char *config)
{
	char dir[PATH_MAX], fwd[PATH_MAX];
	const char *argv[] = { "--config", NULL, "--rate-limit", "off",
	    "--forward-socket", fwd, NULL };

	bench_path(dir, sizeof dir, "%s/%s", bench_out, name);
	harness_init_at(h, dir);
	h->relogd = bench_relogd_path;
	bench_path(fwd, sizeof fwd, "%s/fwd", h->dir);
	argv[1] = harness_config(h, config != NULL ? config : "");
	harness_daemon_start(h, argv);
	bench_cg_join(bench_cg_daemons, h->daemon);
}

/*
 * Stop it (SIGTERM: it writes everything), then remove its logs, which can
 * be large, and its state: relogd.stderr and relogd.conf stay.
 */
static void
bench_relogd_stop(struct harness *h)
{
	if (harness_daemon_stop(h) != 0)
		bench_fatal("relogd in %s did not stop cleanly", h->dir);
	harness_cleanup(h);
}

/* Fill a message of BENCH_MSG_SIZE bytes: "seq=NNNNNNNNNN " and padding. */
static void
bench_message(char *msg, uint64_t seq)
{
	int i;

	memcpy(msg, "seq=", 4);
	for (i = 13; i >= 4; i--) {
		msg[i] = (char)('0' + seq % 10);
		seq /= 10;
	}
	msg[14] = ' ';
	memset(msg + 15, 'x', BENCH_MSG_SIZE - 15);
	msg[BENCH_MSG_SIZE] = '\0';
}

/* Open a handle on a socket; queue 0 takes the default. */
static relog_t *
bench_open(const char *socket, const char *runner, size_t queue)
{
	struct relog_opts o = {
		.sz = sizeof o,
		.socket_path = socket,
		.runner_id = runner,
		.queue_max = queue,
	};
	relog_t *h = relog_open(&o);

	if (h == NULL)
		bench_fatal("relog_open: %s", strerror(errno));
	return (h);
}

/*
 * A runner process: open (the ring handed to relogd), say "ready" and wait
 * for its stdin to close, so that every runner starts at once; then emit
 * COUNT records of about 100 bytes into a ring of QUEUE (RELOG_QUEUE_MAX:
 * a ring of twice as many slots), in bursts of QUEUE, each followed by
 * relog_flush, so that the ring never overflows however fast relogd reads;
 * then close (which returns once relogd has written them all) and print
 * how many the ring dropped. Crashing, it emits COUNT in one burst at
 * once, then SIGKILLs itself right after the last.
 */
static int
bench_emitter(char **argv, int crash)
{
	struct relog_entry e = { .sz = sizeof e, .level = RELOG_INFO };
	char logger[128], msg[BENCH_MSG_SIZE + 1];
	uint64_t count = strtoull(argv[3], NULL, 10), i, dropped;
	uint64_t queue = strtoull(argv[4], NULL, 10);
	relog_t *h;
	int ret;

	h = bench_open(argv[0], argv[1], queue);
	if (!crash) {
		printf("ready\n");
		fflush(stdout);
		while (read(STDIN_FILENO, logger, sizeof logger) > 0)
			;
	}
	snprintf(logger, sizeof logger, "plugin.%s.bench", argv[2]);
	e.logger_name = logger;
	e.message = msg;
	for (i = 0; i < count; i++) {
		bench_message(msg, i);
		relog_emit(h, &e);
		if (!crash && (i + 1) % queue == 0 &&
		    relog_flush(h, BENCH_TIMEOUT_MS) != 0)
			bench_fatal("relog_flush timed out");
	}
	if (crash)
		raise(SIGKILL);
	dropped = relog_dropped(h);
	ret = relog_close(h, BENCH_TIMEOUT_MS);
	printf("dropped=%llu\n", (unsigned long long)dropped);
	return (ret == 0 ? 0 : 1);
}

/*
 * For strace: the main thread emits COUNT records between two getppid()
 * calls, which mark where to count; then prints its thread id and how many
 * mallocs the emits made.
 */
static int
bench_probe(char **argv)
{
	struct relog_entry e = { .sz = sizeof e, .level = RELOG_INFO };
	char msg[BENCH_MSG_SIZE + 1];
	uint64_t count = strtoull(argv[1], NULL, 10), i, mallocs;
	relog_t *h;

	h = bench_open(argv[0], "bench-probe", 0);
	e.logger_name = "plugin.bench.probe";
	e.message = msg;
	bench_message(msg, 0);
	/*
	 * Warm up until every record buffer has been used once: the ring's,
	 * and those the flusher swaps in for the batches it holds until they
	 * are acknowledged (its window), which come back empty at first.
	 */
	for (i = 0; i < 20000; i++) {
		relog_emit(h, &e);
		if (i % 1000 == 999)
			relog_flush(h, 5000);
	}
	mallocs = bench_mallocs;
	getppid();
	for (i = 0; i < count; i++)
		relog_emit(h, &e);
	getppid();
	mallocs = bench_mallocs - mallocs;
	relog_close(h, 5000);
	printf("tid=%ld mallocs=%llu\n", (long)syscall(SYS_gettid),
	    (unsigned long long)mallocs);
	return (0);
}

/* A syslog(3)-style sender: one datagram per record, as glibc does. */
static int
bench_syslog_sender(char **argv)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	uint64_t count = strtoull(argv[1], NULL, 10), i;
	char dgram[BENCH_MSG_SIZE + 64];
	int fd, head;

	bench_path(sun.sun_path, sizeof sun.sun_path, "%s", argv[0]);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof sun) != 0)
		return (1);
	head = snprintf(dgram, sizeof dgram, "<14>bench: ");
	for (i = 0; i < count; i++) {
		bench_message(dgram + head, i);
		if (send(fd, dgram, (size_t)head + BENCH_MSG_SIZE, 0) < 0)
			return (1);
	}
	close(fd);
	return (0);
}

/* Results of one latency run. */
struct bench_lat {
	uint64_t p50, p99, p999, max;
	uint64_t n;
};

/* Sort samples (ticks) and take their percentiles in ns. */
static void
bench_lat_from(struct bench_lat *l, uint64_t *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		v[i] = bench_ticks_ns(v[i]);
	qsort(v, n, sizeof *v, bench_cmp_u64);
	l->p50 = bench_pct(v, n, 0.50);
	l->p99 = bench_pct(v, n, 0.99);
	l->p999 = bench_pct(v, n, 0.999);
	l->max = v[n - 1];
	l->n = n;
}

/* One producer thread of the emit latency run. */
struct bench_producer {
	relog_t *h;
	uint64_t *ticks;
	int id;
};

static void *
bench_produce(void *arg)
{
	struct bench_producer *p = arg;
	struct relog_entry e = { .sz = sizeof e, .level = RELOG_INFO };
	char msg[BENCH_MSG_SIZE + 1];
	uint64_t t0, i;

	e.logger_name = "plugin.bench.emit";
	e.message = msg;
	bench_message(msg, 0);
	for (i = 0; i < BENCH_EMITS; i++) {
		t0 = bench_tsc();
		relog_emit(p->h, &e);
		p->ticks[i] = bench_tsc() - t0;
	}
	return (NULL);
}

/* A loop body of n adds, no memory shared: the work the floor times. */
static __attribute__((noinline)) void
bench_spin(uint64_t n)
{
	volatile uint64_t x = 0;
	uint64_t i;

	for (i = 0; i < n; i++)
		x += i;
}

/* Time count loops of n adds (into v) and take their percentiles. */
static void
bench_floor_time(struct bench_lat *l, uint64_t *v, size_t count, uint64_t n)
{
	uint64_t t0;
	size_t i;

	for (i = 0; i < count; i++) {
		t0 = bench_tsc();
		bench_spin(n);
		v[i] = bench_tsc() - t0;
	}
	bench_lat_from(l, v, count);
}

/* The p50 (ns) of 1,001 loops of n adds (v holds them). */
static uint64_t
bench_floor_p50(uint64_t *v, uint64_t n)
{
	struct bench_lat l;

	bench_floor_time(&l, v, 1001, n);
	return (l.p50);
}

/*
 * What the machine itself adds to a latency's tail: the same timing around
 * a loop body (no relog, no memory shared) as long as an emit's p50
 * (ns). A VM whose vCPU stops for a few µs now and then shows it here as
 * in the emit rows: p99.9 of the emit is not relog's below this row's.
 */
static void
bench_floor(struct bench_lat *l, uint64_t ns)
{
	uint64_t *v, lo = 0, hi = 1, n;

	if ((v = calloc(BENCH_EMITS, sizeof *v)) == NULL)
		bench_fatal("out of memory");
	/*
	 * The fewest adds whose p50 reaches the emit's: doubled until it
	 * does, then halved in between.
	 */
	while (bench_floor_p50(v, hi) < ns && hi < ((uint64_t)1 << 20)) {
		lo = hi;
		hi *= 2;
	}
	while (hi - lo > 1) {
		n = lo + (hi - lo) / 2;
		if (bench_floor_p50(v, n) < ns)
			lo = n;
		else
			hi = n;
	}
	bench_floor_time(l, v, BENCH_EMITS, hi);
	free(v);
}

/*
 * relog_emit's latency with threads producers, the daemon connected and
 * draining, default settings (a ring of 200).
 */
static void
bench_emit_latency(struct bench_lat *l, const char *socket, int threads)
{
	struct bench_producer p[4];
	pthread_t t[4];
	uint64_t *all;
	relog_t *h;
	int i;

	h = bench_open(socket, "bench-emit", 0);
	/* Connected before timing starts. */
	relog_log(h, RELOG_INFO, "plugin.bench.emit", "hello");
	if (relog_flush(h, BENCH_TIMEOUT_MS) != 0)
		bench_fatal("relogd did not take the first record");
	all = calloc((size_t)threads * BENCH_EMITS, sizeof *all);
	if (all == NULL)
		bench_fatal("out of memory");
	for (i = 0; i < threads; i++) {
		p[i].h = h;
		p[i].ticks = all + (size_t)i * BENCH_EMITS;
		p[i].id = i;
		pthread_create(&t[i], NULL, bench_produce, &p[i]);
	}
	for (i = 0; i < threads; i++)
		pthread_join(t[i], NULL);
	relog_close(h, BENCH_TIMEOUT_MS);
	bench_lat_from(l, all, (size_t)threads * BENCH_EMITS);
	free(all);
}

/*
 * System calls and mallocs per 1,000 emits, counted by strace: the wakeups
 * (a send(2) to relogd's wake socket, allowed on a lane's empty to not
 * empty edge) apart from any other call.
 */
struct bench_calls {
	double syscalls;	/* other than the wakeups */
	double wakeups;
	double mallocs;
	int available;
};

static void
bench_count_calls(struct bench_calls *c, const char *socket)
{
	char trace[PATH_MAX], line[512], countbuf[32], *out, *said;
	const char *argv[16];
	long tid = -1, lines_tid;
	unsigned long long mallocs = 0;
	int fd, marks = 0, status;
	uint64_t count = 100000, calls = 0, wakeups = 0;
	FILE *f;
	pid_t pid;

	c->available = access("/usr/bin/strace", X_OK) == 0;
	if (!c->available)
		return;
	bench_path(trace, sizeof trace, "%s/strace.out", bench_out);
	snprintf(countbuf, sizeof countbuf, "%llu", (unsigned long long)count);
	argv[0] = "/usr/bin/strace";
	argv[1] = "-f";
	argv[2] = "-qq";
	argv[3] = "-o";
	argv[4] = trace;
	argv[5] = bench_self;
	argv[6] = "probe";
	argv[7] = socket;
	argv[8] = countbuf;
	argv[9] = NULL;
	pid = harness_spawn(argv, NULL, &fd, NULL);
	out = harness_read_fd(fd, NULL);
	status = harness_wait(pid, BENCH_TIMEOUT_MS);
	if (status != 0 || (said = strstr(out, "tid=")) == NULL ||
	    sscanf(said, "tid=%ld mallocs=%llu", &tid, &mallocs) != 2)
		bench_fatal("the strace probe failed: %s", out);
	free(out);
	/* Count the main thread's calls between its two getppid()s. */
	f = fopen(trace, "re");
	if (f == NULL)
		bench_fatal("%s: %s", trace, strerror(errno));
	while (fgets(line, sizeof line, f) != NULL) {
		lines_tid = strtol(line, NULL, 10);
		if (lines_tid != tid)
			continue;
		if (strstr(line, " getppid(") != NULL) {
			marks++;
			continue;
		}
		if (marks != 1 || strstr(line, "resumed>") != NULL)
			continue;
		if (strstr(line, " sendto(") != NULL) {
			wakeups++;
			continue;
		}
		/* Say which: none is expected. */
		if (calls++ < 5)
			fprintf(stderr, "relog-bench: an emit called: %s",
			    line);
	}
	fclose(f);
	unlink(trace);
	c->syscalls = (double)calls * 1000.0 / (double)count;
	c->wakeups = (double)wakeups * 1000.0 / (double)count;
	c->mallocs = (double)mallocs * 1000.0 / (double)count;
}

/* End-to-end throughput with some runner processes. */
struct bench_tput {
	int runners;
	uint64_t records;
	double per_second;
	uint64_t dropped;
	uint64_t arrived;
	long rss_peak_kb;
	double relogd_ns;	/* relogd's CPU time per record; 0: not known */
	double relogd_busy;	/* its CPU time over the run's, in % */
	double relogd_wait;	/* its time runnable, not running, in % */
	double runners_ns;	/* the runners' CPU time per record */
};

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

static void
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
	start = bench_now_ns();
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
	ns = bench_now_ns() - start;
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
	r->rss_peak_kb = harness_status_kb(d->daemon, "VmHWM");
	r->arrived = bench_dir_lines(d->log_dir);
}

/* Runners that SIGKILL themselves right after emitting. */
struct bench_crash {
	int runners;
	uint64_t per_runner;
	uint64_t emitted;
	uint64_t delivered;
};

/*
 * Runners emit per_runner records each in a burst, into a ring that holds
 * them, and SIGKILL themselves: how many of the records relogd writes,
 * counted once every one is in or the count stopped growing for a second.
 */
static void
bench_crash(struct bench_crash *c, struct harness *d, int runners,
    uint64_t per_runner)
{
	struct timespec tick = { 0, 20000000 };
	uint64_t start, last_change, lines, last_lines = 0;
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
	start = last_change = bench_now_ns();
	while ((lines = bench_dir_lines(d->log_dir)) < c->emitted &&
	    bench_now_ns() - start < BENCH_TIMEOUT_MS * 1000000ull) {
		if (lines != last_lines) {
			last_lines = lines;
			last_change = bench_now_ns();
		} else if (bench_now_ns() - last_change > 1000000000u)
			break;
		nanosleep(&tick, NULL);
	}
	c->delivered = lines;
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
			now = bench_wall_ns();
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
static void
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
		    (unsigned long long)bench_wall_ns());
		nanosleep(&gap, NULL);
	}
	pthread_join(tail, NULL);
	relog_close(h, BENCH_TIMEOUT_MS);
	if (t.got < t.want)
		bench_fatal("only %llu of %llu records came back",
		    (unsigned long long)t.got, (unsigned long long)t.want);
	qsort(t.lat_ns, t.got, sizeof *t.lat_ns, bench_cmp_u64);
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
static void
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
	*own_kb = harness_status_kb(d->daemon, "RssAnon") +
	    harness_status_kb(d->daemon, "RssFile");
	*shared_kb = harness_status_kb(d->daemon, "RssShmem");
	for (i = 0; i < count; i++) {
		close(fds[i]);
		shm_ring_destroy(rings[i]);
	}
	free(rings);
	free(fds);
}

/* rsyslogd, started by the bench on its own socket and config. */
struct bench_rsyslog {
	pid_t pid;
	char dir[PATH_MAX];
	char socket[PATH_MAX + 16];
	char file[PATH_MAX + 16];
	int available;
};

static void
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

static void
bench_rsyslog_stop(struct bench_rsyslog *r)
{
	if (!r->available)
		return;
	kill(r->pid, SIGTERM);
	harness_wait(r->pid, BENCH_TIMEOUT_MS);
	unlink(r->file);
}

/* syslog(3)'s cost: one send per record, on a connected datagram socket. */
static void
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
		t0 = bench_tsc();
		send(fd, dgram, (size_t)head + BENCH_MSG_SIZE, 0);
		v[i] = bench_tsc() - t0;
	}
	close(fd);
	bench_lat_from(l, v, BENCH_EMITS);
	free(v);
}

/*
 * rsyslog's end-to-end throughput: senders processes, per_sender records
 * each, timed until the lines are in its file (or it stops growing).
 */
static void
bench_rsyslog_throughput(struct bench_tput *t, struct bench_rsyslog *r,
    int senders, uint64_t per_sender)
{
	const char *argv[8][6];
	char count[32];
	pid_t pids[8];
	uint64_t start, base, now_lines, last_lines = 0, last_change;
	struct timespec tick = { 0, 20000000 };
	int i;

	base = bench_lines(r->file);
	snprintf(count, sizeof count, "%llu", (unsigned long long)per_sender);
	t->runners = senders;
	t->records = per_sender * (uint64_t)senders;
	t->dropped = 0;
	start = bench_now_ns();
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
	/* Until every line is written; a second without growth ends it. */
	last_change = bench_now_ns();
	for (;;) {
		now_lines = bench_lines(r->file) - base;
		if (now_lines >= t->records)
			break;
		if (now_lines != last_lines) {
			last_lines = now_lines;
			last_change = bench_now_ns();
		} else if (bench_now_ns() - last_change > 1000000000u)
			break;
		nanosleep(&tick, NULL);
	}
	t->arrived = now_lines;
	t->per_second = (double)t->arrived * 1e9 /
	    (double)(last_lines == now_lines && now_lines < t->records ?
	    last_change - start : bench_now_ns() - start);
	t->rss_peak_kb = harness_status_kb(r->pid, "VmHWM");
}

/* Everything measured in one run. */
struct bench_results {
	struct bench_lat emit1, emit4, delivery, syslog_send, floor;
	struct bench_calls calls;
	struct bench_tput tput[3], rsyslog;
	struct bench_tput flat;		/* 64 runners, relogd in their cgroup */
	struct bench_tput fwd_down, fwd_up;	/* 8 runners, a forward sink */
	struct bench_crash crash;
	uint64_t fwd_arrived;	/* at the collector, of fwd_up */
	double fwd_per_second;	/* from start to the last arrived */
	long rss_idle_kb, rss_1000_kb, rss_1000_rings_kb;
	char cpu[128];
	int cores;
};

/* The processor's name, from /proc/cpuinfo. */
static void
bench_cpu(char *out, size_t len)
{
	char line[256], *p;
	FILE *f = fopen("/proc/cpuinfo", "re");

	snprintf(out, len, "unknown");
	if (f == NULL)
		return;
	while (fgets(line, sizeof line, f) != NULL) {
		if (strncmp(line, "model name", 10) == 0 &&
		    (p = strchr(line, ':')) != NULL) {
			snprintf(out, len, "%s", p + 2);
			out[strcspn(out, "\n")] = '\0';
			break;
		}
	}
	fclose(f);
}

/* A ratio, or 0 when it has no meaning. */
static double
bench_ratio(double a, double b)
{
	return (b > 0 ? a / b : 0);
}

/* Print the crash row: what the runners that SIGKILLed themselves lost. */
static void
bench_print_crash(FILE *f, const struct bench_crash *c)
{
	char label[64];

	fprintf(f, "\n%-44s %10s %10s %10s\n", "runners SIGKILLed right after "
	    "emitting", "emitted", "delivered", "ratio");
	snprintf(label, sizeof label, "  relog, %d runners x %llu, ring holds "
	    "them", c->runners, (unsigned long long)c->per_runner);
	fprintf(f, "%-44s %10llu %10llu %10.2f\n", label,
	    (unsigned long long)c->emitted, (unsigned long long)c->delivered,
	    bench_ratio((double)c->delivered, (double)c->emitted));
}

/* A latency row: p50, p99 and p99.9 in ns. */
static void
bench_print_lat(FILE *f, const char *label, const struct bench_lat *l)
{
	fprintf(f, "  %-42s %10llu %10llu %10llu\n", label,
	    (unsigned long long)l->p50, (unsigned long long)l->p99,
	    (unsigned long long)l->p999);
}

/* The emit latency rows, and the header above them. */
static void
bench_print_emit(FILE *f, const struct bench_results *r)
{
	fprintf(f, "relog benchmark on %s, %d cores\n\n", r->cpu, r->cores);
	fprintf(f, "%-44s %10s %10s %10s\n", "emit latency (ns)", "p50", "p99",
	    "p99.9");
	bench_print_lat(f, "relog_emit, 1 producer", &r->emit1);
	bench_print_lat(f, "relog_emit, 4 producers", &r->emit4);
	bench_print_lat(f, "the machine: a loop as long, no relog", &r->floor);
	if (r->syslog_send.n != 0)
		bench_print_lat(f, "rsyslog: send(2) to imuxsock, 1 sender",
		    &r->syslog_send);
	if (r->calls.available)
		fprintf(f, "%-44s %10.2f\n%-44s %10.2f\n%-44s %10.2f\n",
		    "  system calls per 1,000 emits, but wakeups",
		    r->calls.syscalls,
		    "  wakeups of relogd (sendto) per 1,000 emits",
		    r->calls.wakeups,
		    "  mallocs per 1,000 emits", r->calls.mallocs);
}

/* A throughput row of relog's. */
static void
bench_print_tput(FILE *f, const char *label, const struct bench_tput *t)
{
	fprintf(f, "  %-42s %10.0f %10llu %10llu %10.0f %6.0f %6.0f %10.0f\n",
	    label, t->per_second, (unsigned long long)t->dropped,
	    (unsigned long long)t->arrived, t->relogd_ns, t->relogd_busy,
	    t->relogd_wait, t->runners_ns);
}

/* Print the table. */
static void
bench_print(FILE *f, const struct bench_results *r)
{
	const struct bench_tput *t;
	char label[64];
	int i;

	bench_print_emit(f, r);
	fprintf(f, "\ndaemons and runners scheduled in: %s\n", bench_cg_kind);
	fprintf(f, "%-44s %10s %10s %10s %10s %6s %6s %10s\n",
	    "end to end, ~100-byte records", "records/s", "dropped", "arrived",
	    "relogd ns", "busy%", "wait%", "runners ns");
	for (i = 0; i < 3; i++) {
		t = &r->tput[i];
		snprintf(label, sizeof label, "relog, %2d runner%s", t->runners,
		    t->runners == 1 ? "" : "s");
		bench_print_tput(f, label, t);
	}
	if (r->flat.records != 0)
		bench_print_tput(f, "relog, 64 runners, relogd in their cgroup",
		    &r->flat);
	bench_print_tput(f, "relog, 8 runners, forward sink down", &r->fwd_down);
	bench_print_tput(f, "relog, 8 runners, forward sink up", &r->fwd_up);
	fprintf(f, "    forwarded to the collector (a relogd)%*s %10.0f %10llu "
	    "%10llu\n", 3, "", r->fwd_per_second, (unsigned long long)
	    (r->fwd_up.records - r->fwd_arrived),
	    (unsigned long long)r->fwd_arrived);
	if (r->rsyslog.records != 0)
		fprintf(f, "  rsyslog, %d senders%*s %10.0f %10llu %10llu\n",
		    r->rsyslog.runners, 24, "", r->rsyslog.per_second,
		    (unsigned long long)(r->rsyslog.records -
		    r->rsyslog.arrived), (unsigned long long)r->rsyslog.arrived);
	bench_print_crash(f, &r->crash);
	fprintf(f, "\n%-44s %10s %10s\n", "delivery latency, emit to file (ms)",
	    "p50", "p99");
	fprintf(f, "%-44s %10.1f %10.1f\n", "  relog, 40 records/s",
	    (double)r->delivery.p50 / 1e6, (double)r->delivery.p99 / 1e6);
	fprintf(f, "\n%-44s %10s\n", "relogd memory (RSS)", "MiB");
	fprintf(f, "%-44s %10.1f\n", "  idle", (double)r->rss_idle_kb / 1024);
	fprintf(f, "%-44s %10.1f\n", "  1,000 idle ring runners, relogd's own",
	    (double)r->rss_1000_kb / 1024);
	fprintf(f, "%-44s %10.1f\n", "    and their rings' pages it touched",
	    (double)r->rss_1000_rings_kb / 1024);
	fprintf(f, "%-44s %10.1f\n", "  peak, 64 runners, ring pages too",
	    (double)r->tput[2].rss_peak_kb / 1024);
	fprintf(f, "\n%-44s %10s\n", "with a forward sink / without", "ratio");
	fprintf(f, "%-44s %10.2f\n", "  throughput, 8 runners, sink down",
	    bench_ratio(r->fwd_down.per_second, r->tput[1].per_second));
	fprintf(f, "%-44s %10.2f\n", "  throughput, 8 runners, sink up",
	    bench_ratio(r->fwd_up.per_second, r->tput[1].per_second));
	if (r->rsyslog.records != 0) {
		fprintf(f, "\n%-44s %10s\n", "relog / rsyslog", "ratio");
		fprintf(f, "%-44s %10.1f\n", "  throughput, 8 runners vs 8 "
		    "senders", bench_ratio(r->tput[1].per_second,
		    r->rsyslog.per_second));
		fprintf(f, "%-44s %10.1f\n", "  rsyslog send p50 / relog emit p50",
		    bench_ratio((double)r->syslog_send.p50,
		    (double)r->emit1.p50));
	}
}

/* Print one latency as JSON. */
static void
bench_json_lat(FILE *f, const char *name, const struct bench_lat *l,
    const char *end)
{
	fprintf(f, "  \"%s\": {\"p50_ns\": %llu, \"p99_ns\": %llu, "
	    "\"p999_ns\": %llu, \"max_ns\": %llu, \"samples\": %llu}%s\n", name,
	    (unsigned long long)l->p50, (unsigned long long)l->p99,
	    (unsigned long long)l->p999, (unsigned long long)l->max,
	    (unsigned long long)l->n, end);
}

/* Print one throughput as JSON. */
static void
bench_json_tput(FILE *f, const struct bench_tput *t, const char *end)
{
	fprintf(f, "    {\"runners\": %d, \"records\": %llu, "
	    "\"records_per_s\": %.0f, \"dropped\": %llu, \"arrived\": %llu, "
	    "\"relogd_cpu_ns_per_record\": %.0f, \"relogd_busy_pct\": %.1f, "
	    "\"relogd_wait_pct\": %.1f, \"runners_cpu_ns_per_record\": %.0f, "
	    "\"rss_peak_kib\": %ld}%s\n",
	    t->runners, (unsigned long long)t->records, t->per_second,
	    (unsigned long long)t->dropped, (unsigned long long)t->arrived,
	    t->relogd_ns, t->relogd_busy, t->relogd_wait, t->runners_ns,
	    t->rss_peak_kb, end);
}

/* Write the results as JSON. */
static void
bench_json(FILE *f, const struct bench_results *r)
{
	fprintf(f, "{\n  \"machine\": {\"cpu\": \"%s\", \"cores\": %d, "
	    "\"cgroups\": \"%s\"},\n", r->cpu, r->cores, bench_cg_kind);
	bench_json_lat(f, "emit_1_producer", &r->emit1, ",");
	bench_json_lat(f, "emit_4_producers", &r->emit4, ",");
	bench_json_lat(f, "floor_loop", &r->floor, ",");
	bench_json_lat(f, "delivery", &r->delivery, ",");
	bench_json_lat(f, "rsyslog_send", &r->syslog_send, ",");
	fprintf(f, "  \"syscalls_per_1000_emits\": %.2f,\n"
	    "  \"wakeups_per_1000_emits\": %.2f,\n"
	    "  \"mallocs_per_1000_emits\": %.2f,\n", r->calls.syscalls,
	    r->calls.wakeups, r->calls.mallocs);
	fprintf(f, "  \"throughput\": [\n");
	bench_json_tput(f, &r->tput[0], ",");
	bench_json_tput(f, &r->tput[1], ",");
	bench_json_tput(f, &r->tput[2], "");
	fprintf(f, "  ],\n  \"throughput_64_relogd_in_runners_cgroup\":\n");
	bench_json_tput(f, &r->flat, ",");
	fprintf(f, "  \"forward_throughput\": {\"sink_down\":\n");
	bench_json_tput(f, &r->fwd_down, ",");
	fprintf(f, "  \"sink_up\":\n");
	bench_json_tput(f, &r->fwd_up, ",");
	fprintf(f, "  \"sink_up_arrived\": %llu, \"sink_up_forwarded_per_s\": "
	    "%.0f},\n", (unsigned long long)r->fwd_arrived, r->fwd_per_second);
	fprintf(f, "  \"rsyslog_throughput\": [\n");
	bench_json_tput(f, &r->rsyslog, "");
	fprintf(f, "  ],\n  \"crash\": {\"runners\": %d, \"per_runner\": %llu, "
	    "\"emitted\": %llu, \"delivered\": %llu, "
	    "\"delivered_over_emitted\": %.4f},\n", r->crash.runners,
	    (unsigned long long)r->crash.per_runner,
	    (unsigned long long)r->crash.emitted,
	    (unsigned long long)r->crash.delivered, bench_ratio((double)
	    r->crash.delivered, (double)r->crash.emitted));
	fprintf(f, "  \"rss_kib\": {\"idle\": %ld, \"idle_1000_runners\": "
	    "%ld, \"idle_1000_rings_shared\": %ld, \"peak_64_runners\": %ld},"
	    "\n", r->rss_idle_kb, r->rss_1000_kb, r->rss_1000_rings_kb,
	    r->tput[2].rss_peak_kb);
	fprintf(f, "  \"ratios\": {\"throughput_relog_over_rsyslog\": %.2f, "
	    "\"send_latency_rsyslog_over_relog\": %.2f}\n}\n",
	    bench_ratio(r->tput[1].per_second, r->rsyslog.per_second),
	    bench_ratio((double)r->syslog_send.p50, (double)r->emit1.p50));
}

/* The whole run; or, emit_only, its emit latency rows and nothing else. */
static int
bench_run(int quick, int emit_only)
{
	static const int runners[3] = { 1, 8, 64 };
	struct bench_results r;
	struct harness d, collector;
	struct bench_rsyslog rs;
	char path[PATH_MAX + 32], name[16], config[2 * PATH_MAX + 128];
	uint64_t total = quick ? 200000 : 2000000, start;
	FILE *f;
	int i;

	memset(&r, 0, sizeof r);
	bench_cpu(r.cpu, sizeof r.cpu);
	r.cores = (int)sysconf(_SC_NPROCESSORS_ONLN);
	bench_calibrate();
	/* Our children die with us, whatever happens. */
	setpgid(0, 0);
	signal(SIGTERM, bench_on_signal);
	signal(SIGALRM, bench_on_signal);
	bench_cg_make();

	fprintf(stderr, "relog-bench: emit latency, system calls, delivery\n");
	bench_relogd_start(&d, "main", NULL);
	r.rss_idle_kb = harness_status_kb(d.daemon, "VmRSS");
	bench_emit_latency(&r.emit1, d.socket, 1);
	bench_emit_latency(&r.emit4, d.socket, 4);
	bench_floor(&r.floor, r.emit1.p50);
	bench_count_calls(&r.calls, d.socket);
	if (emit_only) {
		bench_relogd_stop(&d);
		bench_print_emit(stdout, &r);
		return (0);
	}
	bench_delivery(&r.delivery, &d);
	bench_relogd_stop(&d);

	fprintf(stderr, "relog-bench: runners that SIGKILL themselves\n");
	bench_relogd_start(&d, "crash", NULL);
	bench_crash(&r.crash, &d, 8, 1000);
	bench_relogd_stop(&d);

	for (i = 0; i < 3; i++) {
		fprintf(stderr, "relog-bench: throughput, %d runners\n",
		    runners[i]);
		snprintf(name, sizeof name, "t%d", runners[i]);
		bench_relogd_start(&d, name, NULL);
		bench_throughput(&r.tput[i], &d, runners[i],
		    total / (uint64_t)runners[i]);
		bench_relogd_stop(&d);
	}
	if (bench_cg_daemons[0] != '\0') {
		fprintf(stderr, "relog-bench: throughput, 64 runners, relogd "
		    "in their cgroup\n");
		bench_relogd_start(&d, "t64-flat", NULL);
		bench_cg_join(bench_cg_clients, d.daemon);
		bench_throughput(&r.flat, &d, 64, total / 64);
		bench_relogd_stop(&d);
	}

	/*
	 * The same 8 runners, every record also forwarded: to a collector
	 * that is down (so all of it goes to the file queue), then to a
	 * second relogd's Forward input.
	 */
	fprintf(stderr, "relog-bench: throughput, forward sink down\n");
	bench_path(path, sizeof path, "%s/fwd-down/nobody", bench_out);
	snprintf(config, sizeof config, "[relogd]\nforward = fluent+unix:%s\n"
	    "forward_disk = 4294967296\n", path);
	bench_relogd_start(&d, "fwd-down", config);
	bench_throughput(&r.fwd_down, &d, 8, total / 8);
	bench_relogd_stop(&d);
	fprintf(stderr, "relog-bench: throughput, forward sink up\n");
	bench_relogd_start(&collector, "collector", NULL);
	snprintf(config, sizeof config, "[relogd]\nforward = fluent+unix:%s/"
	    "fwd\nforward_disk = 4294967296\n", collector.dir);
	bench_relogd_start(&d, "fwd-up", config);
	start = bench_now_ns();
	bench_throughput(&r.fwd_up, &d, 8, total / 8);
	/* Until the collector wrote them all (or two minutes passed). */
	while ((r.fwd_arrived = bench_dir_lines(collector.log_dir)) < total &&
	    bench_now_ns() - start < 120 * 1000000000ull)
		nanosleep(&(struct timespec){ 0, 200 * 1000 * 1000 }, NULL);
	r.fwd_per_second = (double)r.fwd_arrived * 1e9 /
	    (double)(bench_now_ns() - start);
	bench_relogd_stop(&d);
	bench_relogd_stop(&collector);

	fprintf(stderr, "relog-bench: 1,000 idle runners\n");
	bench_relogd_start(&d, "idle", NULL);
	bench_idle_runners(&d, 1000, &r.rss_1000_kb, &r.rss_1000_rings_kb);
	bench_relogd_stop(&d);

	bench_rsyslog_start(&rs);
	if (rs.available) {
		fprintf(stderr, "relog-bench: rsyslog\n");
		bench_rsyslog_latency(&r.syslog_send, &rs);
		bench_rsyslog_throughput(&r.rsyslog, &rs, 8, total / 8);
		bench_rsyslog_stop(&rs);
	} else
		fprintf(stderr, "relog-bench: no rsyslogd: skipped\n");

	bench_print(stdout, &r);
	bench_path(path, sizeof path, "%s/results.json", bench_out);
	f = fopen(path, "w");
	if (f == NULL)
		bench_fatal("%s: %s", path, strerror(errno));
	bench_json(f, &r);
	fclose(f);
	printf("\n(written to %s)\n", path);
	return (0);
}

int
main(int argc, char **argv)
{
	static char self[PATH_MAX];
	ssize_t n;
	int quick = 0, emit_only = 0;

	/* Children and strace start this same program. */
	n = readlink("/proc/self/exe", self, sizeof self - 1);
	if (n <= 0)
		bench_fatal("readlink /proc/self/exe: %s", strerror(errno));
	self[n] = '\0';
	bench_self = self;
	if (argc >= 2 && strcmp(argv[1], "emitter") == 0 && argc == 7)
		return (bench_emitter(argv + 2, 0));
	if (argc >= 2 && strcmp(argv[1], "crasher") == 0 && argc == 7)
		return (bench_emitter(argv + 2, 1));
	if (argc >= 2 && strcmp(argv[1], "probe") == 0 && argc == 4)
		return (bench_probe(argv + 2));
	if (argc >= 2 && strcmp(argv[1], "syslog-sender") == 0 && argc == 4)
		return (bench_syslog_sender(argv + 2));
	for (; argc >= 2 && argv[1][0] == '-'; argc--, argv++) {
		if (strcmp(argv[1], "--quick") == 0)
			quick = 1;
		else if (strcmp(argv[1], "--emit") == 0)
			emit_only = 1;
		else
			break;
	}
	if (argc != 3) {
		fprintf(stderr, "usage: relog-bench [--quick] [--emit] RELOGD "
		    "OUTDIR\n");
		return (2);
	}
	bench_relogd_path = argv[1];
	mkdir(argv[2], 0755);
	/* Absolute: NOTIFY_SOCKET must be. */
	bench_out = realpath(argv[2], NULL);
	if (bench_out == NULL)
		bench_fatal("%s: %s", argv[2], strerror(errno));
	return (bench_run(quick, emit_only));
}

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
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "relog-bench.h"

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
	mallocs = measure_mallocs;
	getppid();
	for (i = 0; i < count; i++)
		relog_emit(h, &e);
	getppid();
	mallocs = measure_mallocs - mallocs;
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

/* One throughput row: a relogd of its own, per_runner records a runner. */
static void
bench_tput_row(struct bench_tput *t, struct harness *d, int runners,
    uint64_t per_runner, int round)
{
	char name[32];

	fprintf(stderr, "relog-bench: throughput, %d runners%s", runners,
	    runners == 1 ? "\n" : ", round ");
	if (runners != 1)
		fprintf(stderr, "%d\n", round + 1);
	snprintf(name, sizeof name, "t%d-%d", runners, round + 1);
	bench_relogd_start(d, name, NULL);
	bench_throughput(t, d, runners, per_runner);
	bench_relogd_stop(d);
}

/* The round of median records/s (of n, odd). */
static const struct bench_tput *
bench_median(const struct bench_tput *t, int n)
{
	int i, j, below;

	for (i = 0; i < n; i++) {
		below = 0;
		for (j = 0; j < n; j++)
			if (t[j].per_second < t[i].per_second ||
			    (t[j].per_second == t[i].per_second && j < i))
				below++;
		if (below == n / 2)
			return (&t[i]);
	}
	return (&t[0]);
}

/* The whole run; or, emit_only, its emit latency rows and nothing else. */
static int
bench_run(int quick, int emit_only)
{
	struct bench_results r;
	struct harness d, collector;
	struct bench_rsyslog rs;
	char path[PATH_MAX + 32], config[2 * PATH_MAX + 128];
	uint64_t total = quick ? 200000 : 2000000, start;
	FILE *f;
	int i;

	memset(&r, 0, sizeof r);
	bench_cpu(r.cpu, sizeof r.cpu);
	r.cores = (int)sysconf(_SC_NPROCESSORS_ONLN);
	measure_calibrate();
	/* Our children die with us, whatever happens. */
	setpgid(0, 0);
	signal(SIGTERM, bench_on_signal);
	signal(SIGALRM, bench_on_signal);
	bench_cg_make();

	fprintf(stderr, "relog-bench: emit latency, system calls, delivery\n");
	bench_relogd_start(&d, "main", NULL);
	r.rss_idle_kb = harness_status_num(d.daemon, "VmRSS");
	bench_emit_latency(&r.emit1_full, d.socket, 1, BENCH_FULL);
	bench_emit_latency(&r.emit4_full, d.socket, 4, BENCH_FULL);
	bench_emit_latency(&r.emit1, d.socket, 1, BENCH_PACED);
	bench_emit_latency(&r.emit4, d.socket, 4, BENCH_PACED);
	bench_emit_latency(&r.emit4_yield, d.socket, 4, BENCH_PACED_YIELD);
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

	bench_rsyslog_start(&rs);
	if (rs.available) {
		fprintf(stderr, "relog-bench: rsyslog's send\n");
		bench_rsyslog_latency(&r.syslog_send, &rs);
	} else
		fprintf(stderr, "relog-bench: no rsyslogd: its rows skipped\n");
	bench_tput_row(&r.tput[0], &d, 1, total, 0);
	r.rounds = quick ? 1 : BENCH_ROUNDS;
	for (i = 0; i < r.rounds; i++) {
		bench_tput_row(&r.round8[i], &d, 8, total / 8, i);
		bench_tput_row(&r.round64[i], &d, 64, total / 64, i);
		if (rs.available) {
			fprintf(stderr, "relog-bench: rsyslog, 8 senders, round "
			    "%d\n", i + 1);
			bench_rsyslog_throughput(&r.round_rs[i], &rs, 8,
			    total / 8);
		}
	}
	bench_rsyslog_stop(&rs);
	r.tput[1] = *bench_median(r.round8, r.rounds);
	r.tput[2] = *bench_median(r.round64, r.rounds);
	if (rs.available)
		r.rsyslog = *bench_median(r.round_rs, r.rounds);

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
	start = measure_now_ns();
	bench_throughput(&r.fwd_up, &d, 8, total / 8);
	/* Until the collector wrote them all (or two minutes passed). */
	while ((r.fwd_arrived = bench_dir_lines(collector.log_dir)) < total &&
	    measure_now_ns() - start < 120 * 1000000000ull)
		nanosleep(&(struct timespec){ 0, 200 * 1000 * 1000 }, NULL);
	r.fwd_per_second = (double)r.fwd_arrived * 1e9 /
	    (double)(measure_now_ns() - start);
	bench_relogd_stop(&d);
	bench_relogd_stop(&collector);

	fprintf(stderr, "relog-bench: 1,000 idle runners\n");
	bench_relogd_start(&d, "idle", NULL);
	bench_idle_runners(&d, 1000, &r.rss_1000_kb, &r.rss_1000_rings_kb);
	bench_relogd_stop(&d);

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

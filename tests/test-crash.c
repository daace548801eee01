/*
 * A runner that crashes loses nothing (issue 13): runners linked with
 * librelog die by SIGKILL, SIGSEGV or abort() right after their last emit,
 * with no flush and no close, and relogd still writes every record they
 * emitted, in order, the last one included. Each runner logs to a plugin
 * of its own (RELOG_PLUGIN: ID.log) but where told.
 *
 * relogd killed under runners that stay alive and close normally is
 * test_daemon_sigkill_restart (test-daemon.c); here the runners die after
 * such a restart.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto.h"
#include "tests.h"

/* Runners may take this long to start and emit (sanitizers are slow). */
#define CRASH_CHILD_TIMEOUT_MS 120000
/* From the runners' deaths, for all their records to arrive. */
#define CRASH_DELIVERY_MS 30000
/* A window of batches sent twice per kill of relogd (PROTOCOL.md). */
#define CRASH_DUPS_PER_KILL (32 * 20)

/* A runner started to crash, and what it emits first. */
struct crash_runner {
	char id[32];		/* RELOG_RUNNER_ID */
	const char *plugin;	/* RELOG_PLUGIN; NULL: the id */
	long count;		/* records: "runner=ID thread=0 seq=I" */
	const char *rate;	/* records a second; NULL: one burst */
	const char *queue;	/* its ring, in records */
	const char *how;	/* -k: kill, segv or abort */
	const char *threads;	/* -t; NULL: 1 */
	const char *lanes;	/* -L; NULL: librelog's default */
	int sig;		/* the signal that ends it */
	int critical;		/* -c: its last record is CRITICAL */
	int gate;		/* -g: halfway, it waits for a line on in */
	pid_t pid;
	int out, in;		/* its stdout and stdin, with gate */
};

static struct harness H;

static const char *const no_rate_limit[] = { "--rate-limit", "off", NULL };

/* The ways to die, one loop of test_crash_dies each. */
static const struct {
	const char *how;
	int sig;
} crash_ways[] = {
	{ "kill", SIGKILL }, { "segv", SIGSEGV }, { "abort", SIGABRT },
};

/*
 * What runners emit before they die: a few records or many, in a burst or
 * at 1000 a second, into a ring that holds them or that they fill exactly.
 * At that pace librelog sends a batch (20 records) once it is full, else
 * on its timer: 1000 ends on a full batch, 990 does not.
 */
static const struct {
	const char *name;
	long count;
	const char *rate;
	const char *queue;
} crash_shapes[] = {
	{ "b10", 10, NULL, "16384" },
	{ "r10", 10, "1000", "16384" },
	{ "b1000", 1000, NULL, "16384" },
	{ "r1000", 1000, "1000", "16384" },
	{ "r990", 990, "1000", "16384" },
	{ "bfull", 1000, NULL, "1000" },
};

static void
crash_setup(void)
{
	harness_init(&H);
}

static void
crash_teardown(void)
{
	harness_cleanup(&H);
}

/* A runner that emits count records in a burst and dies as how says. */
static void
crash_init(struct crash_runner *r, const char *id, long count,
    const char *how, int sig)
{
	memset(r, 0, sizeof *r);
	snprintf(r->id, sizeof r->id, "%s", id);
	r->count = count;
	r->queue = "16384";
	r->how = how;
	r->sig = sig;
	r->out = r->in = -1;
}

/* Start a runner as r says. */
static void
crash_start(struct crash_runner *r)
{
	const char *args[16];
	char count[24];
	size_t n = 0;

	snprintf(count, sizeof count, "%ld", r->count);
	args[n++] = "-n";
	args[n++] = count;
	args[n++] = "-k";
	args[n++] = r->how;
	if (r->rate != NULL) {
		args[n++] = "-r";
		args[n++] = r->rate;
	}
	if (r->threads != NULL) {
		args[n++] = "-t";
		args[n++] = r->threads;
	}
	if (r->lanes != NULL) {
		args[n++] = "-L";
		args[n++] = r->lanes;
	}
	if (r->critical)
		args[n++] = "-c";
	if (r->gate)
		args[n++] = "-g";
	args[n] = NULL;
	r->pid = harness_runner_env(&H, r->id, r->plugin != NULL ? r->plugin :
	    r->id, r->queue, args, r->gate ? &r->out : NULL,
	    r->gate ? &r->in : NULL);
}

/*
 * Wait for a runner to die by its signal. Under the sanitizers a fault is
 * theirs: they report it and end the runner with status 1 instead.
 */
static void
crash_reap(struct crash_runner *r)
{
	int status = harness_wait(r->pid, CRASH_CHILD_TIMEOUT_MS);

	if (r->gate) {
		close(r->out);
		close(r->in);
	}
	if (r->sig == SIGSEGV && status == 1 &&
	    getenv("RELOG_SANITIZE_RUNTIMES") != NULL)
		return;
	ck_assert_msg(status == 128 + r->sig, "runner %s: status %d, not "
	    "signal %d", r->id, status, r->sig);
}

/* The file a runner's records go to (static, until the next call). */
static const char *
crash_path(const struct crash_runner *r)
{
	static char path[512];

	snprintf(path, sizeof path, "%s/%s.log", H.log_dir,
	    r->plugin != NULL ? r->plugin : r->id);
	return (path);
}

/*
 * Wait until each runner's last record is in its file, for all of them
 * together at most CRASH_DELIVERY_MS; fail saying how many of each
 * arrived (duplicates counted) if one is not. Then check that each one's
 * records are all there, in order, with at most max_dups written twice.
 */
static void
crash_await(const struct crash_runner *rs, size_t n, long max_dups)
{
	int64_t deadline = harness_now_ms() + CRASH_DELIVERY_MS, left;
	char needle[96], report[2048] = "", *text;
	size_t i, len = 0, late = 0;

	for (i = 0; i < n; i++) {
		snprintf(needle, sizeof needle, "runner=%s thread=0 seq=%ld\n",
		    rs[i].id, rs[i].count - 1);
		left = deadline - harness_now_ms();
		if (harness_await_file(crash_path(&rs[i]), needle, 1,
		    left > 0 ? (int)left : 0) != 0)
			late++;
	}
	for (i = 0; i < n && len < sizeof report; i++) {
		text = harness_read_file(crash_path(&rs[i]), NULL);
		snprintf(needle, sizeof needle, "runner=%s thread=0 seq=",
		    rs[i].id);
		len += (size_t)snprintf(report + len, sizeof report - len,
		    " %s %zu/%ld", rs[i].id, harness_count(text, needle),
		    rs[i].count);
		free(text);
	}
	ck_assert_msg(late == 0, "%zu of %zu runners' last records did not "
	    "arrive in %d ms; delivered/emitted:%s", late, n,
	    CRASH_DELIVERY_MS, report);
	for (i = 0; i < n; i++) {
		text = harness_read_file(crash_path(&rs[i]), NULL);
		if (max_dups == 0)
			harness_check_sequence(text, rs[i].id, 0, rs[i].count);
		else
			harness_check_delivered(text, rs[i].id, rs[i].count,
			    max_dups);
		free(text);
	}
}

/*
 * Runners of every shape die one way (SIGKILL, SIGSEGV, abort: one loop
 * each) right after their last emit: every record arrives.
 */
START_TEST(test_crash_dies)
{
	size_t i, n = sizeof crash_shapes / sizeof crash_shapes[0];
	struct crash_runner rs[sizeof crash_shapes / sizeof crash_shapes[0]];
	char id[32];

	harness_daemon_start(&H, no_rate_limit);
	for (i = 0; i < n; i++) {
		snprintf(id, sizeof id, "%s-%s", crash_ways[_i].how,
		    crash_shapes[i].name);
		crash_init(&rs[i], id, crash_shapes[i].count,
		    crash_ways[_i].how, crash_ways[_i].sig);
		rs[i].rate = crash_shapes[i].rate;
		rs[i].queue = crash_shapes[i].queue;
		crash_start(&rs[i]);
	}
	for (i = 0; i < n; i++)
		crash_reap(&rs[i]);
	crash_await(rs, n, 0);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
}
END_TEST

/*
 * A forked child's handle makes a ring of its own at its first record, and
 * hands it to relogd before it takes that record, as relog_open does: a
 * child that emits and dies at once loses nothing (its records were lost
 * while the ring was not in relogd's hands yet; 8 runners with
 * librelog's default ring, as that was a race). The parents go on.
 */
START_TEST(test_crash_forked_child)
{
	static const char *const args[] = {
		"-n", "5", "-l", "plugin.fc", "-f", "-k", "kill", NULL
	};
	char path[512], ids[8][8], *text;
	pid_t pids[8];
	int i;

	snprintf(path, sizeof path, "%s/fc.log", H.log_dir);
	harness_daemon_start(&H, no_rate_limit);
	for (i = 0; i < 8; i++) {
		snprintf(ids[i], sizeof ids[i], "fc%d", i);
		pids[i] = harness_runner_env(&H, ids[i], NULL, "200", args,
		    NULL, NULL);
	}
	for (i = 0; i < 8; i++)
		ck_assert_int_eq(harness_wait(pids[i], CRASH_CHILD_TIMEOUT_MS),
		    0);
	ck_assert_int_eq(harness_await_file(path, "\n", 8 * 15,
	    CRASH_DELIVERY_MS), 0);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
	text = harness_plugin_log(&H, "fc");
	for (i = 0; i < 8; i++) {
		harness_check_sequence(text, ids[i], 0, 10);
		harness_check_sequence(text, ids[i], 1, 5);
	}
	free(text);
}
END_TEST

/*
 * The attack: 300 records at 1000 a second, then a CRITICAL one,
 * then SIGSEGV. The CRITICAL record is the one that must not be lost.
 */
START_TEST(test_crash_critical_then_segv)
{
	struct crash_runner r;
	char *text;

	harness_daemon_start(&H, no_rate_limit);
	crash_init(&r, "critical", 301, "segv", SIGSEGV);
	r.rate = "1000";
	r.critical = 1;
	crash_start(&r);
	crash_reap(&r);
	crash_await(&r, 1, 0);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
	text = harness_plugin_log(&H, "critical");
	ck_assert_ptr_nonnull(strstr(text, " CRITICAL [plugin.test] "
	    "runner=critical thread=0 seq=300\n"));
	free(text);
}
END_TEST

/*
 * The ms of the day a log line starts with ("2026-11-30T02:43:12.345Z "),
 * or -1 if it starts otherwise.
 */
static long
crash_line_ms(const char *line)
{
	int h, m, sec, ms;

	if (strlen(line) < 24 || line[10] != 'T' || sscanf(line + 11,
	    "%2d:%2d:%2d.%3d", &h, &m, &sec, &ms) != 4)
		return (-1);
	return (((h * 60L + m) * 60 + sec) * 1000 + ms);
}

/*
 * Four threads, each in a lane of its own, at 500 records a second each,
 * then SIGKILL: every thread's records arrive, in order, and the lanes are
 * merged by time: no line is more than CRASH_MERGE_SLACK_MS older than one
 * before it (read lane by lane, a read's worth of one lane would come
 * before the others', up to relogd's tick apart).
 */
#define CRASH_MERGE_SLACK_MS 60

START_TEST(test_crash_lanes)
{
	struct crash_runner r;
	char needle[96], *text, *line, *save;
	long t, ms, newest = -1, back = 0;

	harness_daemon_start(&H, no_rate_limit);
	crash_init(&r, "lanes", 500, "kill", SIGKILL);
	r.rate = "500";
	r.threads = "4";
	r.lanes = "4";
	r.queue = "1000";
	crash_start(&r);
	crash_reap(&r);
	crash_await(&r, 1, 0);
	for (t = 1; t < 4; t++) {
		snprintf(needle, sizeof needle, "runner=lanes thread=%ld "
		    "seq=499\n", t);
		ck_assert_int_eq(harness_await_file(crash_path(&r), needle, 1,
		    CRASH_DELIVERY_MS), 0);
	}
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
	text = harness_read_file(crash_path(&r), NULL);
	for (t = 0; t < 4; t++)
		harness_check_sequence(text, "lanes", (int)t, 500);
	for (line = strtok_r(text, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		ms = crash_line_ms(line);
		ck_assert_msg(ms >= 0, "not a record line: %s", line);
		if (newest - ms > back)
			back = newest - ms;
		if (ms > newest)
			newest = ms;
	}
	ck_assert_msg(back <= CRASH_MERGE_SLACK_MS, "a line %ld ms older than "
	    "one before it: the lanes were not merged", back);
	free(text);
}
END_TEST

/* Ten runners at once, 1000 records each in a burst, then SIGKILL. */
START_TEST(test_crash_ten_runners)
{
	struct crash_runner rs[10];
	char id[32];
	int i;

	harness_daemon_start(&H, no_rate_limit);
	for (i = 0; i < 10; i++) {
		snprintf(id, sizeof id, "ten%d", i);
		crash_init(&rs[i], id, 1000, "kill", SIGKILL);
		crash_start(&rs[i]);
	}
	for (i = 0; i < 10; i++)
		crash_reap(&rs[i]);
	crash_await(rs, 10, 0);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
}
END_TEST

/*
 * A runner whose flusher thread gets no CPU before it dies has handed its
 * ring over all the same: relog_open said hello, passing the ring, from
 * its caller's thread. Every connect(2) but the main thread's waits 2 s
 * here (slow-connect.so); the runner emits 1000 records right after
 * relog_open returns (waiting for relogd's answer 50 ms at most, the
 * default) and SIGKILLs itself. All 1000 arrive.
 */
START_TEST(test_crash_flusher_late)
{
	const char *args[] = { "-n", "1000", "-k", "kill", NULL };
	const char *runtimes = getenv("RELOG_SANITIZE_RUNTIMES");
	char preload[1024];
	struct crash_runner r;

	snprintf(preload, sizeof preload, "LD_PRELOAD=%s%s%s",
	    runtimes != NULL ? runtimes : "", runtimes != NULL ? ":" : "",
	    harness_build_path("slow-connect.so"));
	harness_daemon_start(&H, no_rate_limit);
	crash_init(&r, "late", 1000, "kill", SIGKILL);
	r.pid = harness_runner_more(&H, "late", "late", "16384", args,
	    preload, NULL, NULL);
	crash_reap(&r);
	crash_await(&r, 1, 0);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
}
END_TEST

/*
 * relogd's listen backlog full when a runner opens: relog_open tries to
 * connect again until there is room (RELOG_OPEN_WAIT_MS), so the ring is
 * relogd's before the runner's first record. relogd listens on a socket
 * with a backlog of one (systemd's way), is stopped, and one connection
 * waits in it; the runner's connect finds it full (busy-connect.so says
 * so), then relogd goes on, and the runner emits 1000 records and
 * SIGKILLs itself. All 1000 arrive.
 */
START_TEST(test_crash_backlog_full)
{
	const char *args[] = { "-n", "1000", "-k", "kill", NULL };
	const char *runtimes = getenv("RELOG_SANITIZE_RUNTIMES");
	const char *env[] = { NULL, "RELOG_OPEN_WAIT_MS=10000", NULL };
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	char preload[1024], *said = NULL;
	struct crash_runner r;
	int queued;

	snprintf(preload, sizeof preload, "LD_PRELOAD=%s%s%s",
	    runtimes != NULL ? runtimes : "", runtimes != NULL ? ":" : "",
	    harness_build_path("busy-connect.so"));
	env[0] = preload;
	memcpy(sun.sun_path, H.socket, strlen(H.socket) + 1);
	ck_assert_int_eq(harness_daemon_start_activated(&H, 0, no_rate_limit),
	    0);

	/* relogd accepts nothing: one connection fills the backlog. */
	ck_assert_int_eq(kill(H.daemon, SIGSTOP), 0);
	queued = socket(AF_UNIX, SOCK_STREAM, 0);
	ck_assert_int_eq(connect(queued, (struct sockaddr *)&sun, sizeof sun),
	    0);
	crash_init(&r, "busy", 1000, "kill", SIGKILL);
	r.pid = harness_runner_list(&H, "busy", "busy", "16384", args, env,
	    &r.out, NULL);
	capture_await(r.out, &said, "busy-connect: EAGAIN\n", 1,
	    CRASH_CHILD_TIMEOUT_MS);
	free(said);
	ck_assert_int_eq(kill(H.daemon, SIGCONT), 0);
	close(queued);
	crash_reap(&r);
	close(r.out);
	crash_await(&r, 1, 0);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
}
END_TEST

/*
 * relogd SIGKILLed while four runners emit, and started again: once they
 * are back (connected to the new relogd), they emit their second half and
 * die by SIGKILL. The new relogd has their records as the first did:
 * every one arrives, at most a window of batches twice.
 */
START_TEST(test_crash_after_restart)
{
	struct crash_runner rs[4];
	char path[512], id[32], needle[64], *said;
	int i;

	snprintf(path, sizeof path, "%s/restart.log", H.log_dir);
	harness_daemon_start(&H, no_rate_limit);
	for (i = 0; i < 4; i++) {
		snprintf(id, sizeof id, "rk%d", i);
		crash_init(&rs[i], id, 2000, "kill", SIGKILL);
		rs[i].plugin = "restart";
		rs[i].rate = "1000";
		rs[i].gate = 1;
		crash_start(&rs[i]);
	}
	/* Mid-stream: a quarter of the first halves are in. */
	ck_assert_int_eq(harness_await_file(path, "\n", 1000,
	    CRASH_CHILD_TIMEOUT_MS), 0);
	ck_assert_int_eq(harness_daemon_kill(&H), 128 + SIGKILL);
	harness_daemon_start(&H, no_rate_limit);
	for (i = 0; i < 4; i++) {
		said = NULL;
		capture_await(rs[i].out, &said, "halfway\n", 1,
		    CRASH_CHILD_TIMEOUT_MS);
		free(said);
		snprintf(needle, sizeof needle, "\"runner_id\":\"rk%d\",", i);
		peer_await_count(&H, needle, 1);
	}
	for (i = 0; i < 4; i++)
		ck_assert_int_eq(write(rs[i].in, "\n", 1), 1);
	for (i = 0; i < 4; i++)
		crash_reap(&rs[i]);
	crash_await(rs, 4, CRASH_DUPS_PER_KILL);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
}
END_TEST

/* An old-style client's batches: 40 of 10 records, broadcast. */
static void
crash_raw_batches(int fd)
{
	int i;

	for (i = 0; i < 40; i++)
		wire_batch(fd, "plugin.raw", 10, 4096);
}

/*
 * A raw socket client (no instance, broadcasts, as the Python runtime's
 * runners) connected all along, sending before, while and after four
 * librelog runners emit and die by SIGKILL: both are written whole.
 */
START_TEST(test_crash_beside_socket_client)
{
	struct crash_runner rs[4];
	char path[512], id[32];
	int fd, i;

	snprintf(path, sizeof path, "%s/raw.log", H.log_dir);
	harness_daemon_start(&H, no_rate_limit);
	fd = wire_open(&H, "raw");
	crash_raw_batches(fd);
	for (i = 0; i < 4; i++) {
		snprintf(id, sizeof id, "ring%d", i);
		crash_init(&rs[i], id, 1000, "kill", SIGKILL);
		crash_start(&rs[i]);
	}
	crash_raw_batches(fd);
	for (i = 0; i < 4; i++)
		crash_reap(&rs[i]);
	crash_raw_batches(fd);
	ck_assert_int_eq(harness_await_file(path, "raw seq=", 3 * 40 * 10,
	    CRASH_DELIVERY_MS), 0);
	close(fd);
	crash_await(rs, 4, 0);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
}
END_TEST

/*
 * A Python runner (shim/python's RelogHandler on this build's librelog)
 * logs 1000 records and SIGKILLs itself (tests/python/crash_runner.py):
 * all 1000 arrive. Python emits slowly enough for librelog's flusher to
 * keep up with the default settings, so it is told to wait (batches of
 * 4096, an hour's timer): the records are in the ring when the runner
 * dies, not yet sent. With the sanitizers, their runtimes are preloaded
 * into python, as in test_daemon_python_handler.
 */
START_TEST(test_crash_python)
{
	const char *src = getenv("RELOG_SRC");
	char script[512], sock[320], lib[512], preload[1024];
	const char *argv[] = { "/usr/bin/python3", script, "1000", NULL };
	const char *env[] = { sock, "RELOG_RUNNER_ID=py", "RELOG_PLUGIN=py",
	    "RELOG_QUEUE_MAX=16384", "RELOG_FLUSH_BATCH=4096",
	    "RELOG_FLUSH_INTERVAL_MS=3600000", lib, NULL, NULL, NULL };
	struct crash_runner r;

	snprintf(script, sizeof script, "%s/tests/python/crash_runner.py",
	    src != NULL ? src : ".");
	snprintf(sock, sizeof sock, "RELOG_SOCKET=%s", H.socket);
	snprintf(lib, sizeof lib, "RELOG_LIBRARY=%s",
	    harness_build_path("librelog.so.1"));
	if (getenv("RELOG_SANITIZE_RUNTIMES") != NULL) {
		snprintf(preload, sizeof preload, "LD_PRELOAD=%s",
		    getenv("RELOG_SANITIZE_RUNTIMES"));
		env[7] = preload;
		env[8] = "ASAN_OPTIONS=detect_leaks=0";
	}
	harness_daemon_start(&H, no_rate_limit);
	crash_init(&r, "py", 1000, "kill", SIGKILL);
	r.pid = harness_spawn(argv, env, NULL, NULL);
	crash_reap(&r);
	crash_await(&r, 1, 0);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
}
END_TEST

/*
 * A runner overflows its ring, relogd reads the rest, and the runner
 * closes: relog_close returns once relogd has said every loss in a notice
 * it wrote, as the count goes with the ring; relogd SIGKILLed right after
 * its return loses none of it. With nothing left to read, close used not
 * to ask, and a count relogd held back for its second (a notice a second)
 * was lost with it: here relogd is stopped while the runner closes, and
 * killed as it is if the runner's close returned without it.
 */
START_TEST(test_crash_close_drops_said)
{
	const char *args[] = { "-n", "200000", "-d", "-L", "1", "-w", NULL };
	const char *needle = "runner cd dropped ", *p;
	struct pollfd pfd = { .events = POLLIN };
	uint64_t said = 0, delivered;
	char path[512], *log;
	int out, in, waited;
	pid_t pid;

	harness_daemon_start(&H, no_rate_limit);
	pid = harness_runner_env(&H, "cd", "cd", "1", args, &out, &in);
	/* The newest record is never the one dropped: all are read then. */
	snprintf(path, sizeof path, "%s/cd.log", H.log_dir);
	ck_assert_int_eq(harness_await_file(path, "seq=199999\n", 1,
	    CRASH_DELIVERY_MS), 0);
	ck_assert_int_eq(kill(H.daemon, SIGSTOP), 0);
	close(in);
	/* Its close waits for relogd: a second of that, then relogd goes on. */
	pfd.fd = harness_pidfd(pid);
	ck_assert_int_ge(pfd.fd, 0);
	waited = poll(&pfd, 1, 1000) == 0;
	close(pfd.fd);
	if (waited)
		ck_assert_int_eq(kill(H.daemon, SIGCONT), 0);
	log = harness_read_fd(out, NULL);
	free(log);
	ck_assert_int_eq(harness_wait(pid, CRASH_CHILD_TIMEOUT_MS), 0);
	ck_assert_int_eq(harness_daemon_kill(&H), 128 + SIGKILL);
	log = harness_plugin_log(&H, "cd");
	delivered = harness_count(log, "runner=cd ");
	for (p = log; (p = harness_find(p, needle)) != NULL;
	    p += strlen(needle))
		said += strtoull(p + strlen(needle), NULL, 10);
	ck_assert_uint_lt(delivered, 200000);
	ck_assert_uint_eq(said, 200000 - delivered);
	free(log);
}
END_TEST

/*
 * What a runner's plugin log says of it, by the records of its four
 * threads: how many it pushed (each thread's up to its newest delivered),
 * how many were delivered, how many notices said lost, in how many
 * notices. A line at a time: the sanitizers' strstr measures all that
 * follows at each call.
 */
static void
crash_overflow_read(const char *id, uint64_t *pushed, uint64_t *delivered,
    uint64_t *said, size_t *notices)
{
	char needle[64], line[256], *log, *tp, *sp;
	const char *p, *q, *end;
	long top[4] = { -1, -1, -1, -1 };
	int t;

	snprintf(needle, sizeof needle, "runner %s dropped ", id);
	*pushed = *delivered = *said = *notices = 0;
	log = harness_plugin_log(&H, id);
	for (p = log, end = log + strlen(log); p < end; p = q + 1) {
		if ((q = memchr(p, '\n', (size_t)(end - p))) == NULL)
			q = end;
		snprintf(line, sizeof line, "%.*s", (int)(q - p), p);
		if ((tp = strstr(line, needle)) != NULL) {
			*said += strtoull(tp + strlen(needle), NULL, 10);
			(*notices)++;
		} else if ((tp = strstr(line, " thread=")) != NULL &&
		    (sp = strstr(tp, " seq=")) != NULL) {
			t = atoi(tp + strlen(" thread="));
			if (t >= 0 && t < 4 && atol(sp + 5) > top[t])
				top[t] = atol(sp + 5);
			(*delivered)++;
		}
	}
	free(log);
	for (t = 0; t < 4; t++)
		*pushed += (uint64_t)(top[t] + 1);
}

/*
 * Runners SIGKILLed while three of their four threads overflow their
 * lanes: every record pushed is delivered or said lost, even one a claim
 * destroyed as the runner was killed (its count is made before the
 * claim's CAS). Each thread has a lane of its own, which keeps its newest
 * records, so a thread pushed the records up to its newest delivered, and
 * maybe the one it was writing, counted unfinished.
 */
START_TEST(test_crash_overflow_killed)
{
	/* Under valgrind or the sanitizers: a few kills, to run the code. */
	int slow = !harness_native(), k, rounds = slow ? 3 : 12;
	const char *args[] = { "-n", slow ? "200000" : "3000000", "-t", "4",
	    "-L", "8", "-d", "-g", NULL };
	uint64_t pushed, delivered, said, unfinished;
	char id[16], needle[64], path[512], *err, *got;
	const char *p;
	int64_t deadline;
	size_t notices;
	int out, in;
	pid_t pid;

	harness_daemon_start(&H, no_rate_limit);
	for (k = 0; k < rounds; k++) {
		snprintf(id, sizeof id, "ov%d", k);
		pid = harness_runner_env(&H, id, id, "1", args, &out, &in);
		/* Thread 0 waits at its halfway; the other three flood on. */
		got = NULL;
		capture_await(out, &got, "halfway\n", 1,
		    CRASH_CHILD_TIMEOUT_MS);
		free(got);
		ck_assert_int_eq(kill(pid, SIGKILL), 0);
		ck_assert_int_eq(harness_wait(pid, CRASH_CHILD_TIMEOUT_MS),
		    128 + SIGKILL);
		close(out);
		close(in);
		snprintf(needle, sizeof needle, "runner %s disconnected", id);
		ck_assert_int_eq(harness_daemon_await(&H, needle, 1,
		    CRASH_DELIVERY_MS), 0);
		err = harness_read_file(H.stderr_path, NULL);
		snprintf(needle, sizeof needle, "runner %s: ", id);
		unfinished = 0;
		if ((p = harness_find(err, needle)) != NULL &&
		    (p = strstr(p, "after it left, ")) != NULL)
			unfinished = strtoull(p + strlen("after it left, "),
			    NULL, 10);
		free(err);

		/*
		 * Its records are written before it is gone; the last notice
		 * may come later (relogd waits a second for it, no more).
		 */
		snprintf(path, sizeof path, "%s/%s.log", H.log_dir, id);
		snprintf(needle, sizeof needle, "runner %s dropped ", id);
		deadline = harness_now_ms() + CRASH_DELIVERY_MS;
		for (;;) {
			crash_overflow_read(id, &pushed, &delivered, &said,
			    &notices);
			if (said >= unfinished && said - unfinished >=
			    pushed - delivered)
				break;
			if (harness_now_ms() >= deadline ||
			    harness_await_file(path, needle, notices + 1,
			    (int)(deadline - harness_now_ms())) != 0)
				break;
		}
		/* Each record delivered once, in one lane: no duplicates. */
		ck_assert_msg(said >= unfinished && said - unfinished >=
		    pushed - delivered, "runner %s: %llu records pushed, "
		    "%llu delivered, %llu said lost in %zu notices (%llu "
		    "unfinished)", id, (unsigned long long)pushed,
		    (unsigned long long)delivered, (unsigned long long)said,
		    notices, (unsigned long long)unfinished);
		/* Killed between a count and its CAS: counted twice. */
		ck_assert_uint_le(said - unfinished, pushed - delivered + 4);
	}
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
}
END_TEST

Suite *
suite_crash(void)
{
	Suite *s = suite_create("crash");
	TCase *tc = tcase_create("crash");

	tcase_add_checked_fixture(tc, crash_setup, crash_teardown);
	tcase_set_timeout(tc, 300);
	tcase_add_loop_test(tc, test_crash_dies, 0,
	    sizeof crash_ways / sizeof crash_ways[0]);
	tcase_add_test(tc, test_crash_critical_then_segv);
	tcase_add_test(tc, test_crash_flusher_late);
	tcase_add_test(tc, test_crash_backlog_full);
	tcase_add_test(tc, test_crash_forked_child);
	tcase_add_test(tc, test_crash_lanes);
	tcase_add_test(tc, test_crash_ten_runners);
	tcase_add_test(tc, test_crash_after_restart);
	tcase_add_test(tc, test_crash_beside_socket_client);
	tcase_add_test(tc, test_crash_python);
	tcase_add_test(tc, test_crash_close_drops_said);
	tcase_add_test(tc, test_crash_overflow_killed);
	suite_add_tcase(s, tc);
	return (s);
}

/*
 * relogd end to end: the real daemon, real runner processes linked with
 * librelog, a Python runner, and raw clients that misbehave.
 */
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <dirent.h>
#include <linux/capability.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto.h"
#include "tests.h"

/* Child processes may take this long (sanitizers are slow). */
#define DAEMON_CHILD_TIMEOUT_MS 120000
#define DAEMON_REPLY_TIMEOUT_MS 20000

static struct harness H;

/* For tests that send more than the default rate limit lets through. */
static const char *const no_rate_limit[] = { "--rate-limit", "off", NULL };

static void
daemon_setup(void)
{
	harness_init(&H);
}

static void
daemon_teardown(void)
{
	harness_cleanup(&H);
}

/* 8 runners of 4 plugins, 10,000 records each: all there, in order. */
START_TEST(test_daemon_many_runners)
{
	static const char *const by_hello[] = {
		"-n", "10000", "-l", "plugin_runtime.worker", NULL
	};
	char runner[8][16], plugin[16], logger[64];
	const char *by_name[] = { "-n", "10000", "-l", logger, NULL };
	const char *args[] = { "--rate-limit", "off", "--config", NULL, NULL };
	pid_t pids[8];
	char *text;
	int i;

	/* Their ids known from the start, whoever speaks first. */
	args[3] = harness_config(&H, "[plugin.p0]\n[plugin.p1]\n"
	    "[plugin.p2]\n[plugin.p3]\n");
	harness_daemon_start(&H, args);
	for (i = 0; i < 8; i++) {
		snprintf(runner[i], sizeof runner[i], "r%d", i);
		snprintf(plugin, sizeof plugin, "p%d", i % 4);
		if (i < 4) {
			/* Plugin named in the hello. */
			pids[i] = harness_runner(&H, runner[i], plugin, by_hello,
			    NULL);
		} else {
			/* Plugin named by the logger: plugin.<id>.worker. */
			snprintf(logger, sizeof logger, "plugin.%s.worker",
			    plugin);
			pids[i] = harness_runner(&H, runner[i], NULL, by_name, NULL);
		}
	}
	for (i = 0; i < 8; i++)
		ck_assert_int_eq(harness_wait(pids[i],
		    DAEMON_CHILD_TIMEOUT_MS), 0);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);

	for (i = 0; i < 4; i++) {
		snprintf(plugin, sizeof plugin, "p%d", i);
		text = harness_plugin_log(&H, plugin);
		ck_assert_msg(text != NULL, "no log file for %s", plugin);
		ck_assert_uint_eq(harness_lines(text), 20000);
		harness_check_sequence(text, runner[i], 0, 10000);
		harness_check_sequence(text, runner[i + 4], 0, 10000);
		free(text);
	}
	/* The line format, with the record's level and logger. */
	text = harness_plugin_log(&H, "p1");
	ck_assert_ptr_nonnull(strstr(text, "Z WARNING [plugin.p1.worker] "
	    "runner=r5 thread=0 seq=4\n"));
	ck_assert_ptr_nonnull(strstr(text, "Z INFO [plugin_runtime.worker] "
	    "runner=r1 thread=0 seq=0\n"));
	free(text);
}
END_TEST

/* Many producer threads in one runner: every record arrives. */
START_TEST(test_daemon_threads)
{
	static const char *const args[] = {
		"-n", "3000", "-t", "4", "-l", "plugin.mt", NULL
	};
	char *text;
	int t;

	harness_daemon_start(&H, no_rate_limit);
	ck_assert_int_eq(harness_wait(harness_runner(&H, "mt", NULL, args, NULL),
	    DAEMON_CHILD_TIMEOUT_MS), 0);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
	text = harness_plugin_log(&H, "mt");
	ck_assert_uint_eq(harness_lines(text), 12000);
	for (t = 0; t < 4; t++)
		harness_check_sequence(text, "mt", t, 3000);
	free(text);
}
END_TEST

/*
 * A runner id that forks (test-runner -f, and flags; each emits count
 * records): it exits with status; its file has the parent's 2 * count
 * records and child_count of the child's, and relogd saw conns of its
 * connections.
 */
static void
daemon_fork_check(const char *id, const char *flag, long count, int status,
    long child_count, size_t conns)
{
	char n[24], logger[64], said[64], *text;
	const char *args[] = { "-n", n, "-l", logger, "-f", flag, NULL };

	snprintf(n, sizeof n, "%ld", count);
	snprintf(logger, sizeof logger, "plugin.%s", id);
	snprintf(said, sizeof said, "runner %s connected", id);
	harness_daemon_start(&H, NULL);
	ck_assert_int_eq(harness_wait(harness_runner(&H, id, NULL, args,
	    NULL), DAEMON_CHILD_TIMEOUT_MS), status);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
	text = harness_plugin_log(&H, id);
	harness_check_sequence(text, id, 0, 2 * count);
	harness_check_sequence(text, id, 1, child_count);
	free(text);
	text = harness_read_file(H.stderr_path, NULL);
	ck_assert_uint_eq(harness_count(text, said), conns);
	free(text);
}

/*
 * fork(): the child logs through the handle it inherited, with its own
 * connection and an empty ring (nothing of the parent's sent twice); the
 * parent goes on undisturbed.
 */
START_TEST(test_daemon_fork)
{
	daemon_fork_check("fk", NULL, 500, 0, 500, 2);
}
END_TEST

/*
 * fork() into a child that can start no thread (-T): its first emit fails
 * (EAGAIN, exit 6) before it connects, so relogd sees one connection, the
 * parent's, which goes on undisturbed; none is left open by the child.
 */
START_TEST(test_daemon_fork_no_thread)
{
	daemon_fork_check("fn", "-T", 50, 6, 0, 1);
}
END_TEST

/*
 * The Python logging handler (shim/python/relog.py) through librelog, with
 * Debian's python3 and python3-structlog: tests/python/handler_check.py
 * says what it checks. With the sanitizers, their runtimes are preloaded
 * into python (they must come first).
 */
START_TEST(test_daemon_python_handler)
{
	const char *src = getenv("RELOG_SRC");
	const char *build = getenv("RELOG_BUILD");
	char script[512], preload[1024];
	const char *argv[4], *env[3] = { NULL, NULL, NULL };
	int out, status;
	pid_t pid;
	char *text;

	snprintf(script, sizeof script, "%s/tests/python/handler_check.py",
	    src != NULL ? src : ".");
	argv[0] = "/usr/bin/python3";
	argv[1] = script;
	argv[2] = build != NULL ? build : "build";
	argv[3] = NULL;
	if (getenv("RELOG_SANITIZE_RUNTIMES") != NULL) {
		snprintf(preload, sizeof preload, "LD_PRELOAD=%s",
		    getenv("RELOG_SANITIZE_RUNTIMES"));
		env[0] = preload;
		env[1] = "ASAN_OPTIONS=detect_leaks=0";
	}
	pid = harness_spawn(argv, env, &out, NULL);
	text = harness_read_fd(out, NULL);
	status = harness_wait(pid, DAEMON_CHILD_TIMEOUT_MS);
	ck_assert_msg(status == 0, "handler_check.py: %d: %s", status, text);
	free(text);
}
END_TEST

/* Connect to relogd's Forward socket at path. */
static int
fluent_connect(const char *path)
{
	int fd = proto_client_connect(path);

	ck_assert_msg(fd >= 0, "connect %s: %s", path, strerror(-fd));
	return (fd);
}

/*
 * Fluent clients on the Forward socket: Debian's python3-fluent-logger,
 * then Forward and PackedForward with acks (tests/python/forward_check.py);
 * a message whose chunk cannot be answered is dropped unwritten (its
 * events used to be written first), garbage like anywhere else.
 */
START_TEST(test_daemon_fluent_forward)
{
	const char *src = getenv("RELOG_SRC");
	char script[512], fwd[300], *text;
	const char *dargs[] = { "--forward-socket", fwd, NULL };
	const char *argv[] = { "/usr/bin/python3", script, fwd, NULL };
	int out, status, fd;
	pid_t pid;

	snprintf(script, sizeof script, "%s/tests/python/forward_check.py",
	    src != NULL ? src : ".");
	snprintf(fwd, sizeof fwd, "%s/fwd.sock", H.dir);
	harness_daemon_start(&H, dargs);
	pid = harness_spawn(argv, NULL, &out, NULL);
	text = harness_read_fd(out, NULL);
	status = harness_wait(pid, DAEMON_CHILD_TIMEOUT_MS);
	ck_assert_msg(status == 0, "forward_check.py: %d: %s", status, text);
	free(text);
	/* Not msgpack: the connection is dropped, relogd goes on. */
	fd = fluent_connect(fwd);
	ck_assert_int_eq(send(fd, "\xc1garbage", 8, MSG_NOSIGNAL), 8);
	ck_assert_int_eq(harness_daemon_await(&H, "invalid msgpack type byte",
	    1, DAEMON_REPLY_TIMEOUT_MS), 0);
	close(fd);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
	text = harness_plugin_log(&H, "fw");
	ck_assert_ptr_nonnull(text);
	ck_assert_uint_eq(harness_lines(text), 8);
	ck_assert_ptr_nonnull(strstr(text, " INFO [plugin.fw.split] split k00=0 "
	    "k01=1 "));
	ck_assert_ptr_nonnull(strstr(text, " DEBUG [plugin.fw.app] cold start "
	    "n=0\n"));
	ck_assert_ptr_nonnull(strstr(text, " WARNING [plugin.fw.app] disk 91% "
	    "n=1\n"));
	ck_assert_ptr_nonnull(strstr(text, " ERROR [plugin.fw.app] lost the "
	    "cache n=2\n"));
	ck_assert_ptr_nonnull(strstr(text, " INFO [plugin.fw.batch] forward "
	    "one user=ann\n"));
	ck_assert_ptr_nonnull(strstr(text, " INFO [plugin.fw.batch] forward "
	    "two tags=[\"a\",\"b\"]\n"));
	ck_assert_uint_eq(harness_count(text, " ERROR [plugin.fw.packed] "
	    "packed "), 2);
	ck_assert_ptr_null(strstr(text, "never written"));
	free(text);
}
END_TEST

/* Pack a Forward message [tag, time, {message}, {chunk: id}]. */
static void
fluent_pack_chunk(msgpack_packer *pk, const char *tag, const char *msg,
    const char *id)
{
	msgpack_pack_array(pk, 4);
	proto_pack_key(pk, tag);
	msgpack_pack_uint32(pk, 1700000000);
	msgpack_pack_map(pk, 1);
	proto_pack_key(pk, "message");
	proto_pack_key(pk, msg);
	msgpack_pack_map(pk, 1);
	proto_pack_key(pk, "chunk");
	proto_pack_key(pk, id);
}

/*
 * SIGTERM while a Fluent client is owed more acks than a socket holds, and
 * reads them only now: relogd writes every chunk it read, then hands every
 * ack over, waiting for the client to take them, before it closes. A chunk
 * whose ack is lost is sent again and written twice (relogd keeps no chunk
 * ids). The acks owed at exit used to be freed unwritten.
 */
START_TEST(test_daemon_fluent_term_acks)
{
	/* 10,000 acks of 71 bytes: three times what relogd's socket holds. */
	enum { CHUNKS = 10000 };
	char fwd[300], id[RELOG_ID_MAX + 1];
	const char *dargs[] = { "--forward-socket", fwd, "--rate-limit", "off",
	    NULL };
	msgpack_unpacker up;
	msgpack_unpacked u;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	const msgpack_object_kv *kv;
	char *text;
	size_t off;
	ssize_t n;
	int fd, i, acks = 0;

	snprintf(fwd, sizeof fwd, "%s/fwd.sock", H.dir);
	harness_daemon_start(&H, dargs);
	fd = fluent_connect(fwd);
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	for (i = 0; i < CHUNKS; i++) {
		snprintf(id, sizeof id, "%0*d", RELOG_ID_MAX, i);
		fluent_pack_chunk(&pk, "plugin.ft", id, id);
	}
	/* Returns once relogd holds all of it: read, or in its socket. */
	for (off = 0; off < sb.size; off += (size_t)n)
		ck_assert_int_gt(n = send(fd, sb.data + off, sb.size - off,
		    MSG_NOSIGNAL), 0);
	msgpack_sbuffer_destroy(&sb);
	ck_assert_int_eq(kill(H.daemon, SIGTERM), 0);
	/* Each answer is {"ack": id}, in order, up to relogd's exit. */
	ck_assert(msgpack_unpacker_init(&up, 65536));
	msgpack_unpacked_init(&u);
	for (;;) {
		if (msgpack_unpacker_buffer_capacity(&up) < 4096)
			ck_assert(msgpack_unpacker_reserve_buffer(&up, 65536));
		n = recv(fd, msgpack_unpacker_buffer(&up),
		    msgpack_unpacker_buffer_capacity(&up), 0);
		ck_assert_int_ge(n, 0);
		if (n == 0)
			break;
		msgpack_unpacker_buffer_consumed(&up, (size_t)n);
		while (msgpack_unpacker_next(&up, &u) ==
		    MSGPACK_UNPACK_SUCCESS) {
			ck_assert_int_eq(u.data.type, MSGPACK_OBJECT_MAP);
			ck_assert_uint_eq(u.data.via.map.size, 1);
			kv = u.data.via.map.ptr;
			snprintf(id, sizeof id, "%0*d", RELOG_ID_MAX, acks++);
			ck_assert_int_eq(kv->val.type, MSGPACK_OBJECT_STR);
			ck_assert_uint_eq(kv->val.via.str.size, RELOG_ID_MAX);
			ck_assert(memcmp(kv->val.via.str.ptr, id,
			    RELOG_ID_MAX) == 0);
		}
	}
	msgpack_unpacked_destroy(&u);
	msgpack_unpacker_destroy(&up);
	close(fd);
	ck_assert_int_eq(harness_wait(H.daemon, DAEMON_CHILD_TIMEOUT_MS), 0);
	H.daemon = -1;
	ck_assert_int_eq(acks, CHUNKS);
	text = harness_plugin_log(&H, "ft");
	ck_assert_uint_eq(harness_lines(text), CHUNKS);
	free(text);
}
END_TEST

/*
 * Connect to the Forward socket and send, in one send (read at once), a
 * chunk for plugin with ack id "c1", then garbage. Returns the socket.
 */
static int
fluent_chunk_garbage(const char *path, const char *logger, const char *msg)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	int fd;

	fd = fluent_connect(path);
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	fluent_pack_chunk(&pk, logger, msg, "c1");
	msgpack_sbuffer_write(&sb, "\xc1garbage", 8);
	ck_assert_int_eq(send(fd, sb.data, sb.size, MSG_NOSIGNAL),
	    (ssize_t)sb.size);
	msgpack_sbuffer_destroy(&sb);
	return (fd);
}

/* Read what relogd sends until it closes: {"ack": "c1"} is expected. */
static void
fluent_expect_ack(int fd)
{
	char buf[256];
	size_t got = 0;
	ssize_t n;

	while (got < sizeof buf && (n = recv(fd, buf + got, sizeof buf - got,
	    0)) > 0)
		got += (size_t)n;
	close(fd);
	ck_assert_uint_eq(got, 8);
	ck_assert(memcmp(buf, "\x81\xa3" "ack" "\xa2" "c1", 8) == 0);
}

/*
 * A chunk, then garbage, read at once: the garbage drops the connection,
 * but the chunk before it is written and acked first (its ack used to be
 * dropped with the connection, and the client would send it again).
 */
START_TEST(test_daemon_fluent_ack_before_drop)
{
	char fwd[300];
	const char *dargs[] = { "--forward-socket", fwd, NULL };
	char *text;

	snprintf(fwd, sizeof fwd, "%s/fwd.sock", H.dir);
	harness_daemon_start(&H, dargs);
	fluent_expect_ack(fluent_chunk_garbage(fwd, "plugin.fb",
	    "before the garbage"));
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
	text = harness_plugin_log(&H, "fb");
	ck_assert_ptr_nonnull(text);
	ck_assert_uint_eq(harness_lines(text), 1);
	ck_assert_ptr_nonnull(strstr(text, "before the garbage"));
	free(text);
	text = harness_read_file(H.stderr_path, NULL);
	ck_assert_ptr_nonnull(strstr(text, "invalid msgpack type byte"));
	free(text);
}
END_TEST

/*
 * The same, the chunk's file full when it comes: the connection, dropped,
 * waits for the chunk to be written (the file emptied) and acks it, where
 * it used to be freed at once and the ack lost.
 */
START_TEST(test_daemon_fluent_ack_after_stall)
{
	char fwd[300];
	const char *dargs[] = { "--forward-socket", fwd, NULL };
	const char *full = harness_fill_log(&H, "fs", 4096);
	char *text;
	int fd;

	snprintf(fwd, sizeof fwd, "%s/fwd.sock", H.dir);
	harness_daemon_start(&H, dargs);
	fd = fluent_chunk_garbage(fwd, "plugin.fs", "written late");
	ck_assert_int_eq(harness_daemon_await(&H, "1 records wait", 1,
	    30000), 0);
	ck_assert_int_eq(truncate(full, 0), 0);
	fluent_expect_ack(fd);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
	text = harness_plugin_log(&H, "fs");
	ck_assert_ptr_nonnull(text);
	ck_assert_ptr_nonnull(strstr(text, "written late"));
	free(text);
}
END_TEST

/* An unmodified Python runner (Debian's python3-msgpack) is served. */
START_TEST(test_daemon_python_runner)
{
	const char *src = getenv("RELOG_SRC");
	char script[512], *text;
	const char *argv[5];
	const char *p;
	long expect = 0;

	snprintf(script, sizeof script, "%s/tests/pyclient.py",
	    src != NULL ? src : ".");
	argv[0] = "/usr/bin/python3";
	argv[1] = script;
	argv[2] = H.socket;
	argv[3] = "500";
	argv[4] = NULL;
	harness_daemon_start(&H, NULL);
	ck_assert_int_eq(harness_wait(harness_spawn(argv, NULL, NULL, NULL),
	    DAEMON_CHILD_TIMEOUT_MS), 0);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
	/* No plugin known: plugin.py.client names one, py.client. */
	text = harness_plugin_log(&H, "py.client");
	ck_assert_ptr_nonnull(text);
	ck_assert_uint_eq(harness_lines(text), 500);
	for (p = text; (p = strstr(p, "py seq=")) != NULL; p += 7)
		ck_assert_int_eq(strtol(p + 7, NULL, 10), expect++);
	ck_assert_int_eq(expect, 500);
	ck_assert_ptr_nonnull(strstr(text, " WARNING [plugin.py.client] "
	    "py seq=0\n"));
	ck_assert_ptr_nonnull(strstr(text, " INFO [plugin.py.client] "
	    "py seq=3\n"));
	free(text);
}
END_TEST

/*
 * Start a runner that emits everything (args has -a) before relogd is up,
 * then relogd: all of it arrives, in order.
 */
static void
deliver_after_start(const char *runner, const char *plugin,
    const char *const *args, long count)
{
	char line[16] = "", *text;
	pid_t pid;
	int out;

	pid = harness_runner(&H, runner, NULL, args, &out);
	/* All are in its ring, with nobody listening. */
	ck_assert_int_eq(read(out, line, sizeof line - 1) > 0, 1);
	ck_assert_str_eq(line, "emitted\n");
	harness_daemon_start(&H, NULL);
	ck_assert_int_eq(harness_wait(pid, DAEMON_CHILD_TIMEOUT_MS), 0);
	close(out);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
	text = harness_plugin_log(&H, plugin);
	harness_check_sequence(text, runner, 0, count);
	free(text);
}

/* A runner that starts before relogd delivers once relogd is up. */
START_TEST(test_daemon_runner_first)
{
	static const char *const args[] = {
		"-n", "300", "-l", "plugin.early", "-a", NULL
	};

	deliver_after_start("early", "early", args, 300);
}
END_TEST

/*
 * Large records, many waiting when relogd comes: batches are cut by size
 * as well as count, each well under relogd's frame limit.
 */
START_TEST(test_daemon_large_records)
{
	static const char *const args[] = {
		"-n", "300", "-s", "15000", "-l", "plugin.large", "-a", NULL
	};

	deliver_after_start("large", "large", args, 300);
}
END_TEST

/* A hello and a batch written one byte at a time still make it. */
START_TEST(test_daemon_split_frames)
{
	char *text;
	int fd, eof;

	harness_daemon_start(&H, NULL);
	fd = harness_connect(&H);
	wire_hello(fd, "slow", NULL, 1);
	ck_assert_str_eq(wire_reply(fd, 0, &eof), "accepted");
	wire_batch(fd, "plugin.split", 5, 1);
	wire_batch(fd, "plugin.split", 5, 7);
	close(fd);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
	text = harness_plugin_log(&H, "split");
	ck_assert_uint_eq(harness_lines(text), 10);
	ck_assert_uint_eq(harness_count(text, "[plugin.split] raw seq=4\n"), 2);
	ck_assert_ptr_nonnull(strstr(text, "2025-11-28T05:08:39.000Z INFO "
	    "[plugin.split] raw seq=0\n"));
	free(text);
}
END_TEST

/* Pack an empty payload. */
static void
daemon_pack_empty(msgpack_packer *pk, void *arg)
{
	(void)arg;
	msgpack_pack_map(pk, 0);
}

/* Requests are answered; a method relogd does not take is refused. */
START_TEST(test_daemon_requests_answered)
{
	struct proto_header hd;
	char *text;
	int fd, eof = 0;

	harness_daemon_start(&H, NULL);
	fd = wire_open(&H, "req");
	wire_batch_seq(fd, RELOG_TYPE_REQUEST, "plugin.req", 5, 0, 0, 4096);
	ck_assert_str_eq(wire_reply(fd, 0, &eof), "written=5");
	wire_begin(&hd, RELOG_TYPE_REQUEST, 3, "runner.ping");
	wire_send(fd, &hd, daemon_pack_empty, NULL, 4096);
	ck_assert_str_eq(wire_reply(fd, 0, &eof), RELOG_E_METHOD_NOT_ALLOWED);
	/* The connection goes on. */
	wire_batch_seq(fd, RELOG_TYPE_REQUEST, "plugin.req", 3, 0, 0, 4096);
	ck_assert_str_eq(wire_reply(fd, 0, &eof), "written=3");
	/* A second hello is a protocol error. */
	wire_hello(fd, "req", NULL, 4096);
	ck_assert_str_eq(wire_reply(fd, 1, &eof), RELOG_E_PROTOCOL_MISMATCH);
	ck_assert_int_eq(eof, 1);
	close(fd);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
	text = harness_plugin_log(&H, "req");
	ck_assert_uint_eq(harness_lines(text), 8);
	free(text);
}
END_TEST

/* A runner that sends batches and reads no reply until told. */
struct daemon_late {
	int fd;
	int batches;
	int half[2];		/* a byte once half of them are sent */
};

/* Batch i has i % 37 + 1 records: its reply says which batch it is. */
static int
daemon_late_records(int i)
{
	return (i % 37 + 1);
}

static void *
daemon_late_send(void *arg)
{
	struct daemon_late *l = arg;
	int i;

	for (i = 0; i < l->batches; i++) {
		wire_batch_seq(l->fd, RELOG_TYPE_REQUEST, "plugin.late",
		    daemon_late_records(i), 0, 0, 4096);
		if (i == l->batches / 2)
			ck_assert_int_eq(write(l->half[1], "h", 1), 1);
	}
	return (NULL);
}

/*
 * A runner that reads its replies late gets each one whole and in order:
 * those its socket took, and those relogd queued while the socket was
 * full (1,500 replies fill it many times over).
 */
START_TEST(test_daemon_replies_late)
{
	struct daemon_late l = { .batches = 3000 };
	pthread_t t;
	char expect[32], *text;
	size_t total = 0;
	int i, eof = 0;

	harness_daemon_start(&H, no_rate_limit);
	l.fd = wire_open(&H, "late");
	ck_assert_int_eq(pipe(l.half), 0);
	ck_assert_int_eq(pthread_create(&t, NULL, daemon_late_send, &l), 0);
	/* 1,500 replies fill the socket many times over; none read yet. */
	ck_assert_int_eq(read(l.half[0], expect, 1), 1);
	for (i = 0; i < l.batches; i++) {
		snprintf(expect, sizeof expect, "written=%d",
		    daemon_late_records(i));
		ck_assert_str_eq(wire_reply(l.fd, 0, &eof), expect);
		total += (size_t)daemon_late_records(i);
	}
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	close(l.half[0]);
	close(l.half[1]);
	close(l.fd);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
	text = harness_plugin_log(&H, "late");
	ck_assert_uint_eq(harness_lines(text), total);
	free(text);
}
END_TEST

/*
 * A log file that ends in the middle of a line (a relogd killed while it
 * wrote there) has that line ended before the next record, which would
 * run on from it; a file that ends a line is taken as it is.
 */
START_TEST(test_daemon_torn_line_ended)
{
	char torn[512], whole[512], *text;
	int fd, eof;

	snprintf(torn, sizeof torn, "%s/torn.log", H.log_dir);
	snprintf(whole, sizeof whole, "%s/whole.log", H.log_dir);
	ck_assert_int_eq(mkdir(H.log_dir, 0755), 0);
	harness_write_file(torn, "a line\na line cut sh");
	harness_write_file(whole, "a line\n");
	harness_daemon_start(&H, NULL);
	fd = wire_open(&H, "torn");
	wire_batch_seq(fd, RELOG_TYPE_REQUEST, "plugin.torn", 2, 0, 0, 4096);
	ck_assert_str_eq(wire_reply(fd, 0, &eof), "written=2");
	wire_batch_seq(fd, RELOG_TYPE_REQUEST, "plugin.whole", 2, 0, 0, 4096);
	ck_assert_str_eq(wire_reply(fd, 0, &eof), "written=2");
	close(fd);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
	text = harness_read_file(torn, NULL);
	ck_assert_uint_eq(harness_lines(text), 4);
	ck_assert_int_eq(strncmp(text, "a line\na line cut sh\n", 21), 0);
	ck_assert_uint_eq(harness_count(text, "] raw seq="), 2);
	free(text);
	text = harness_read_file(whole, NULL);
	ck_assert_uint_eq(harness_lines(text), 3);
	ck_assert_int_eq(strncmp(text, "a line\n", 7), 0);
	free(text);
}
END_TEST

/*
 * A log file relogd may write and not read (mode 0200, to a relogd without
 * CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH, as one of its own uid is) is
 * written as before: whether it ends a line is not known, and not asked.
 */
START_TEST(test_daemon_write_only_log)
{
	char path[512], *text;
	int fd, eof;

	/* This test's process and its children only. */
	ck_assert_int_eq(prctl(PR_CAPBSET_DROP, CAP_DAC_OVERRIDE), 0);
	ck_assert_int_eq(prctl(PR_CAPBSET_DROP, CAP_DAC_READ_SEARCH), 0);
	snprintf(path, sizeof path, "%s/wo.log", H.log_dir);
	ck_assert_int_eq(mkdir(H.log_dir, 0755), 0);
	harness_write_file(path, "a line\n");
	ck_assert_int_eq(chmod(path, 0200), 0);
	harness_daemon_start(&H, NULL);
	fd = wire_open(&H, "wo");
	wire_batch_seq(fd, RELOG_TYPE_REQUEST, "plugin.wo", 2, 0, 0, 4096);
	ck_assert_str_eq(wire_reply(fd, 0, &eof), "written=2");
	close(fd);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
	ck_assert_int_eq(chmod(path, 0600), 0);
	text = harness_read_file(path, NULL);
	ck_assert_uint_eq(harness_lines(text), 3);
	free(text);
}
END_TEST

/*
 * Drops a batch counted are answered before their notice is written when
 * one was written less than a second before: relogd SIGKILLed in that
 * second leaves them in the runner instance's state slot, and the next
 * relogd says them, once, when the instance says hello again.
 */
START_TEST(test_daemon_drops_kept)
{
	char *text;
	int fd, eof, i;

	harness_daemon_start(&H, NULL);
	fd = wire_open_as(&H, "dk", NULL, "d0d0");
	wire_batch_seq(fd, RELOG_TYPE_REQUEST, "plugin.dk", 1, 1, 5, 4096);
	ck_assert_str_eq(wire_reply(fd, 0, &eof), "written=1");
	/* Within the second: answered, its count not said yet. */
	wire_batch_seq(fd, RELOG_TYPE_REQUEST, "plugin.dk", 1, 2, 7, 4096);
	ck_assert_str_eq(wire_reply(fd, 0, &eof), "written=1");
	ck_assert_int_eq(harness_daemon_kill(&H), 128 + SIGKILL);
	close(fd);
	/* Killed within the second: the 7 were not said. */
	text = harness_plugin_log(&H, "_runtime");
	ck_assert_ptr_nonnull(text);
	ck_assert_uint_eq(harness_count(text, "runner dk dropped 5 records"),
	    1);
	ck_assert_uint_eq(harness_count(text, "runner dk dropped 7 records"),
	    0);
	free(text);

	/*
	 * Twice: said by the first relogd after, not again by the next. The
	 * first is sent 3 more within the second, kept until the connection
	 * ends says them: the next relogd does not say them again either.
	 */
	for (i = 0; i < 2; i++) {
		harness_daemon_start(&H, NULL);
		fd = wire_open_as(&H, "dk", NULL, "d0d0");
		wire_batch_seq(fd, RELOG_TYPE_REQUEST, "plugin.dk", 1, 3 + i,
		    i == 0 ? 3 : 0, 4096);
		ck_assert_str_eq(wire_reply(fd, 0, &eof), "written=1");
		close(fd);
		ck_assert_int_eq(harness_daemon_stop(&H), 0);
	}
	text = harness_plugin_log(&H, "_runtime");
	ck_assert_ptr_nonnull(text);
	ck_assert_uint_eq(harness_count(text, "runner dk dropped 5 records"),
	    1);
	ck_assert_uint_eq(harness_count(text, "runner dk dropped 7 records"),
	    1);
	ck_assert_uint_eq(harness_count(text, "runner dk dropped 3 records"),
	    1);
	ck_assert_uint_eq(harness_count(text, "runner dk dropped "), 3);
	free(text);
}
END_TEST

/*
 * A batch is written once per runner instance and seq, across a restart of
 * relogd; another instance of the same runner starts afresh.
 */
START_TEST(test_daemon_dedup)
{
	char *text;
	int fd, eof;

	harness_daemon_start(&H, NULL);
	fd = wire_open_as(&H, "dd", NULL, "a1b2c3");
	wire_batch_seq(fd, RELOG_TYPE_REQUEST, "plugin.dd", 3, 1, 0, 4096);
	ck_assert_str_eq(wire_reply(fd, 0, &eof), "written=3");
	wire_batch_seq(fd, RELOG_TYPE_REQUEST, "plugin.dd", 3, 1, 0, 4096);
	ck_assert_str_eq(wire_reply(fd, 0, &eof), "written=0");
	wire_batch_seq(fd, RELOG_TYPE_REQUEST, "plugin.dd", 2, 2, 0, 4096);
	ck_assert_str_eq(wire_reply(fd, 0, &eof), "written=2");
	close(fd);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);

	harness_daemon_start(&H, NULL);
	fd = wire_open_as(&H, "dd", NULL, "a1b2c3");
	wire_batch_seq(fd, RELOG_TYPE_REQUEST, "plugin.dd", 2, 2, 0, 4096);
	ck_assert_str_eq(wire_reply(fd, 0, &eof), "written=0");
	wire_batch_seq(fd, RELOG_TYPE_REQUEST, "plugin.dd", 4, 3, 0, 4096);
	ck_assert_str_eq(wire_reply(fd, 0, &eof), "written=4");
	close(fd);
	/* A new process of the same runner. */
	fd = wire_open_as(&H, "dd", NULL, "ffff0001");
	wire_batch_seq(fd, RELOG_TYPE_REQUEST, "plugin.dd", 5, 1, 0, 4096);
	ck_assert_str_eq(wire_reply(fd, 0, &eof), "written=5");
	close(fd);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
	text = harness_plugin_log(&H, "dd");
	ck_assert_uint_eq(harness_lines(text), 3 + 2 + 4 + 5);
	free(text);
}
END_TEST

/*
 * relogd killed twice with SIGKILL under a steady stream from four runners,
 * and started again: every record arrives, in order per runner; only
 * records relogd wrote but had not committed in the ring may arrive twice
 * (what it had read and not yet seen written, per kill: here a tick's
 * worth, 150; bounded by what librelog's batches would resend, SHIM_WINDOW
 * batches of 20).
 */
START_TEST(test_daemon_sigkill_restart)
{
	static const char *const args[] = {
		"-n", "3000", "-r", "1500", "-l", "plugin.kill", NULL
	};
	char runner[4][8], path[512], *text;
	pid_t pids[4];
	int i, kill_round;

	snprintf(path, sizeof path, "%s/kill.log", H.log_dir);
	harness_daemon_start(&H, no_rate_limit);
	for (i = 0; i < 4; i++) {
		snprintf(runner[i], sizeof runner[i], "k%d", i);
		pids[i] = harness_runner(&H, runner[i], NULL, args, NULL);
	}
	for (kill_round = 1; kill_round <= 2; kill_round++) {
		/* Mid-stream: some thousands of the 12,000 are in. */
		ck_assert_int_eq(harness_await_file(path, "\n",
		    (size_t)kill_round * 2500, DAEMON_CHILD_TIMEOUT_MS), 0);
		ck_assert_int_eq(harness_daemon_kill(&H), 128 + SIGKILL);
		harness_daemon_start(&H, no_rate_limit);
	}
	for (i = 0; i < 4; i++)
		ck_assert_int_eq(harness_wait(pids[i],
		    DAEMON_CHILD_TIMEOUT_MS), 0);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
	text = harness_plugin_log(&H, "kill");
	for (i = 0; i < 4; i++)
		harness_check_delivered(text, runner[i], 3000, 2 * 32 * 20);
	free(text);
}
END_TEST

/*
 * A runner whose ring overflows says how many records it dropped, while it
 * is idle; what arrived and what was reported dropped add up. Its hello
 * named no plugin: the count goes to _runtime.log. It emits before relogd
 * is up, so that its ring overflows however fast relogd would read.
 */
START_TEST(test_daemon_drops_reported)
{
	static const char *const args[] = {
		"-n", "2000", "-l", "plugin.dr", "-w", "-d", NULL
	};
	char path[512], said[1024] = "", *text, *notices;
	const char *p;
	long reported = 0;
	size_t len = 0;
	ssize_t n;
	int out, in;
	pid_t pid;

	snprintf(path, sizeof path, "%s/_runtime.log", H.log_dir);
	pid = harness_runner_env(&H, "dr", NULL, "8", args, &out, &in);
	/* librelog may say its drops on stderr (the same pipe) first. */
	while (strstr(said, "emitted\n") == NULL && len < sizeof said - 1 &&
	    (n = read(out, said + len, sizeof said - 1 - len)) > 0)
		said[len += (size_t)n] = '\0';
	ck_assert_msg(strstr(said, "emitted\n") != NULL, "runner said: %s",
	    said);
	harness_daemon_start(&H, NULL);
	/* It waits on stdin now: the count must come without new records. */
	ck_assert_int_eq(harness_await_file(path, "records: its queue was "
	    "full", 1, DAEMON_REPLY_TIMEOUT_MS), 0);
	close(in);
	ck_assert_int_eq(harness_wait(pid, DAEMON_CHILD_TIMEOUT_MS), 0);
	close(out);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
	text = harness_plugin_log(&H, "dr");
	notices = harness_plugin_log(&H, "_runtime");
	for (p = notices; (p = strstr(p, "runner dr dropped ")) != NULL; p++)
		reported += strtol(p + strlen("runner dr dropped "), NULL, 10);
	ck_assert_int_gt(reported, 0);
	ck_assert_int_eq(reported + (long)harness_count(text, "runner=dr "),
	    2000);
	ck_assert_ptr_nonnull(strstr(notices, " WARNING [relog] runner dr "
	    "dropped "));
	free(notices);
	free(text);
}
END_TEST

/* Anything but hello first: E_PROTOCOL_MISMATCH, then closed. */
START_TEST(test_daemon_hello_required)
{
	int fd, eof = 0;

	harness_daemon_start(&H, NULL);
	fd = harness_connect(&H);
	wire_batch(fd, "plugin.sneaky", 3, 4096);
	ck_assert_str_eq(wire_reply(fd, 1, &eof), RELOG_E_PROTOCOL_MISMATCH);
	ck_assert_int_eq(eof, 1);
	close(fd);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
	ck_assert_ptr_null(harness_plugin_log(&H, "sneaky"));
}
END_TEST

/*
 * A length prefix over the limit is refused before anything is buffered;
 * relogd goes on serving others.
 */
START_TEST(test_daemon_frame_too_large)
{
	static const char *const args[] = {
		"-n", "100", "-l", "plugin.after", NULL
	};
	char *text;
	int fd, eof = 0;

	harness_daemon_start(&H, NULL);
	fd = harness_connect(&H);
	ck_assert_int_eq(send(fd, "\xff\xff\xff\xff", 4, MSG_NOSIGNAL), 4);
	ck_assert_str_eq(wire_reply(fd, 1, &eof), RELOG_E_PROTOCOL_MISMATCH);
	ck_assert_int_eq(eof, 1);
	close(fd);
	/* Just over the 1 MiB default, after a good hello. */
	fd = wire_open(&H, "big");
	ck_assert_int_eq(send(fd, "\x00\x10\x00\x01", 4, MSG_NOSIGNAL), 4);
	ck_assert_str_eq(wire_reply(fd, 1, &eof), RELOG_E_BAD_PAYLOAD);
	ck_assert_int_eq(eof, 1);
	close(fd);
	ck_assert_int_eq(harness_wait(harness_runner(&H, "after", NULL, args, NULL),
	    DAEMON_CHILD_TIMEOUT_MS), 0);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
	text = harness_plugin_log(&H, "after");
	harness_check_sequence(text, "after", 0, 100);
	free(text);
}
END_TEST

/*
 * --max-frame raises the frame limit; max_entries (10,000) still holds:
 * the entries past it are rejected, the others written.
 */
START_TEST(test_daemon_max_frame)
{
	static const char *const args[] = {
		"--max-frame", "4194304", "--rate-limit", "off", NULL
	};
	char *text;
	int fd, eof;

	harness_daemon_start(&H, args);
	fd = wire_open(&H, "big");
	/* About 3 MiB in one frame. */
	wire_batch_seq(fd, RELOG_TYPE_REQUEST, "plugin.big", 30000, 0, 0,
	    65536);
	ck_assert_str_eq(wire_reply(fd, 0, &eof), RELOG_E_BAD_PAYLOAD);
	close(fd);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
	text = harness_plugin_log(&H, "big");
	ck_assert_uint_eq(harness_lines(text), 10000);
	ck_assert_ptr_nonnull(strstr(text, "raw seq=9999\n"));
	free(text);
}
END_TEST

/* Ids that are not safe file names never leave the log directory. */
START_TEST(test_daemon_unsafe_ids)
{
	static const char *const bad[] = {
		"../evil", "/tmp/evil", ".hidden", "a/b", "", NULL
	};
	struct stat st;
	struct dirent *de;
	char path[512], *text;
	DIR *dir;
	int fd, eof, i;

	harness_daemon_start(&H, NULL);
	for (i = 0; bad[i] != NULL; i++) {
		fd = harness_connect(&H);
		wire_hello(fd, bad[i][0] != '\0' ? "ok" : bad[i],
		    bad[i][0] != '\0' ? bad[i] : NULL, 4096);
		ck_assert_str_eq(wire_reply(fd, 1, &eof), "refused");
		ck_assert_int_eq(eof, 1);
		close(fd);
	}
	/* A logger name naming an unsafe plugin goes to _runtime.log. */
	fd = wire_open(&H, "fallback");
	wire_batch(fd, "plugin.../../evil", 2, 4096);
	wire_batch(fd, "_maibot_plugin_/etc/x", 2, 4096);
	close(fd);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
	text = harness_plugin_log(&H, "_runtime");
	ck_assert_uint_eq(harness_lines(text), 4);
	free(text);
	snprintf(path, sizeof path, "%s/evil.log", H.dir);
	ck_assert_int_ne(stat(path, &st), 0);
	/* Nothing but that file was made. */
	dir = opendir(H.log_dir);
	ck_assert_ptr_nonnull(dir);
	while ((de = readdir(dir)) != NULL) {
		if (strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0)
			ck_assert_str_eq(de->d_name, "_runtime.log");
	}
	closedir(dir);
}
END_TEST

/* Socket activation: relogd serves the socket systemd hands it. */
START_TEST(test_daemon_socket_activation)
{
	static const char *const args[] = {
		"-n", "100", "-l", "plugin.act", NULL
	};
	char *text;

	/* relogd must not bind the path it is told: unused.sock. */
	ck_assert_int_eq(harness_daemon_start_activated(&H, 16, NULL), 0);
	ck_assert_int_eq(harness_wait(harness_runner(&H, "act", NULL, args, NULL),
	    DAEMON_CHILD_TIMEOUT_MS), 0);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
	text = harness_plugin_log(&H, "act");
	harness_check_sequence(text, "act", 0, 100);
	free(text);
	/* systemd's socket is left where it is; none was made at the other. */
	ck_assert_int_eq(access(H.socket, F_OK), 0);
	snprintf(H.socket, sizeof H.socket, "%s/unused.sock", H.dir);
	ck_assert_int_ne(access(H.socket, F_OK), 0);
}
END_TEST

/* SIGTERM: what was received is written, then exit 0. */
START_TEST(test_daemon_sigterm_finishes)
{
	char *text;
	int fd;

	harness_daemon_start(&H, NULL);
	fd = wire_open(&H, "term");
	wire_batch(fd, "plugin.term", 50, 4096);
	/* Still connected: relogd must read what is waiting, then stop. */
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
	close(fd);
	text = harness_plugin_log(&H, "term");
	ck_assert_uint_eq(harness_lines(text), 50);
	free(text);
	/* The socket file is gone. */
	ck_assert_int_ne(access(H.socket, F_OK), 0);
}
END_TEST

/* SIGHUP reopens the files, for logrotate. */
START_TEST(test_daemon_sighup_reopens)
{
	char path[512], moved[512], *text;
	int fd;

	harness_daemon_start(&H, NULL);
	fd = wire_open(&H, "rot");
	wire_batch(fd, "plugin.rot", 3, 4096);
	ck_assert_int_eq(harness_daemon_await(&H, "runner rot connected", 1,
	    DAEMON_REPLY_TIMEOUT_MS), 0);
	snprintf(path, sizeof path, "%s/rot.log", H.log_dir);
	snprintf(moved, sizeof moved, "%s/rot.log.1", H.log_dir);
	/* The first batch is in the file before it is moved. */
	close(fd);
	ck_assert_int_eq(harness_daemon_await(&H,
	    "runner rot disconnected after 3 records", 1,
	    DAEMON_REPLY_TIMEOUT_MS), 0);
	ck_assert_int_eq(rename(path, moved), 0);
	ck_assert_int_eq(kill(H.daemon, SIGHUP), 0);
	ck_assert_int_eq(harness_daemon_await(&H, "log files reopened", 1,
	    DAEMON_REPLY_TIMEOUT_MS), 0);
	fd = wire_open(&H, "rot");
	wire_batch(fd, "plugin.rot", 2, 4096);
	close(fd);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
	text = harness_read_file(moved, NULL);
	ck_assert_uint_eq(harness_lines(text), 3);
	free(text);
	text = harness_read_file(path, NULL);
	ck_assert_uint_eq(harness_lines(text), 2);
	free(text);
}
END_TEST

/* --stderr: one line per record with its <N> priority, for journald. */
START_TEST(test_daemon_stderr_priorities)
{
	static const char *const dargs[] = { "--stderr", NULL };
	static const char *const args[] = {
		"-n", "5", "-l", "plugin.jd", "-x", NULL
	};
	char *text;

	harness_daemon_start(&H, dargs);
	ck_assert_int_eq(harness_wait(harness_runner(&H, "jd", NULL, args, NULL),
	    DAEMON_CHILD_TIMEOUT_MS), 0);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
	text = harness_read_file(H.stderr_path, NULL);
	ck_assert_ptr_nonnull(text);
	ck_assert_ptr_nonnull(strstr(text, "<6>relogd: relogd "));
	ck_assert_uint_eq(harness_count(text, "<6>jd: "), 4 * 4);
	ck_assert_uint_eq(harness_count(text, "<4>jd: "), 1 * 4);
	/* Every line of an exception text keeps the prefix. */
	ck_assert_ptr_nonnull(strstr(text, "WARNING [plugin.jd] runner=jd "
	    "thread=0 seq=4\n<4>jd: \tTraceback (most recent call last):\n"
	    "<4>jd: \t  File \"x.py\", line 1\n<4>jd: \tValueError: boom\n"));
	free(text);
	/* The file has the traceback on lines that start with a tab. */
	text = harness_plugin_log(&H, "jd");
	ck_assert_ptr_nonnull(strstr(text, "seq=4\n\tTraceback (most recent "
	    "call last):\n\t  File \"x.py\", line 1\n\tValueError: boom\n"));
	free(text);
}
END_TEST

/* relogd --check-config on the test's config file: its output. */
static char *
daemon_check_config(const char *conf, int status)
{
	const char *check[] = {
		harness_build_path("relogd"), "--check-config", "--config",
		conf, NULL
	};
	char *text;
	pid_t pid;
	int outfd;

	pid = harness_spawn(check, NULL, &outfd, NULL);
	text = harness_read_fd(outfd, NULL);
	ck_assert_int_eq(harness_wait(pid, DAEMON_CHILD_TIMEOUT_MS), status);
	return (text);
}

/* The config file is read; a bad one is refused with file and line. */
START_TEST(test_daemon_config)
{
	char conf[512], other[512], line[600], out[512] = "", *text;
	const char *args[] = { "--config", conf, NULL };
	const char *argv[4];
	ssize_t n;
	int fd, eof, outfd;

	snprintf(conf, sizeof conf, "%s/relogd.conf", H.dir);
	snprintf(other, sizeof other, "%s/other", H.dir);
	snprintf(line, sizeof line, "; relogd\n[relogd]\nlog_dir = %s\n"
	    "max_frame = 524288\n", other);
	harness_write_file(conf, line);
	harness_daemon_start(&H, args);
	/* max_frame came from the file. */
	fd = wire_open(&H, "conf");
	ck_assert_int_eq(send(fd, "\x00\x08\x00\x01", 4, MSG_NOSIGNAL), 4);
	ck_assert_str_eq(wire_reply(fd, 1, &eof), RELOG_E_BAD_PAYLOAD);
	close(fd);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
	/* --log-dir on the command line won over the file's. */
	ck_assert_int_eq(access(H.log_dir, F_OK), 0);
	ck_assert_int_ne(access(other, F_OK), 0);

	harness_write_file(conf, "[relogd]\n\nmax_frame = 12\n");
	argv[0] = harness_build_path("relogd");
	argv[1] = "--config";
	argv[2] = conf;
	argv[3] = NULL;
	ck_assert_int_eq(harness_wait(harness_spawn(argv, NULL, &outfd, NULL),
	    DAEMON_CHILD_TIMEOUT_MS), 1);
	n = read(outfd, out, sizeof out - 1);
	close(outfd);
	ck_assert_int_gt(n, 0);
	ck_assert_msg(strstr(out, "relogd.conf:3: [relogd] max_frame") != NULL,
	    "unexpected: %s", out);
	/* --check-config says the same, and ok for a good file. */
	text = daemon_check_config(conf, 1);
	ck_assert_ptr_nonnull(strstr(text, "relogd.conf:3: [relogd] max_frame "
	    "must be a number from 524288 to 16777216"));
	free(text);
	/* Every error of the file, each on a line of its own. */
	harness_write_file(conf, "[relogd]\nmax_frame = 12\nnot a key\n"
	    "[plugin.x]\nlevel = loud\n");
	text = daemon_check_config(conf, 1);
	ck_assert_msg(harness_count(text, "\n") == 3 &&
	    strstr(text, "relogd.conf:2: [relogd] max_frame ") != NULL &&
	    strstr(text, "relogd.conf:3: syntax error\n") != NULL &&
	    strstr(text, "relogd.conf:5: [plugin.x] level must be ") != NULL,
	    "unexpected: %s", text);
	ck_assert_uint_eq(harness_count(text, "relogd: "), 3);
	free(text);
	harness_write_file(conf, "[relogd]\nmax_frame = 600000\n[plugin.x]\n"
	    "level = warning\n");
	text = daemon_check_config(conf, 0);
	ck_assert_ptr_nonnull(strstr(text, "relogd.conf: ok\n"));
	free(text);
	/* Two plugins may not write one file. */
	harness_write_file(conf, "[plugin.a]\nfile = x.log\n[plugin.b]\n"
	    "file = x.log\n");
	text = daemon_check_config(conf, 1);
	ck_assert_ptr_nonnull(strstr(text, "both write x.log"));
	free(text);
	/* token_file is a key of [relogd] and of a plugin's section both. */
	snprintf(line, sizeof line, "[plugin.own]\ntoken_file = %s\n", other);
	harness_write_file(conf, line);
	text = daemon_check_config(conf, 1);
	ck_assert_msg(strstr(text, "other: No such file") != NULL,
	    "unexpected: %s", text);
	free(text);
	harness_write_file(other, "s3cret\n");
	text = daemon_check_config(conf, 0);
	ck_assert_ptr_nonnull(strstr(text, "relogd.conf: ok\n"));
	free(text);
}
END_TEST

Suite *
suite_daemon(void)
{
	Suite *s = suite_create("daemon");
	TCase *tc = tcase_create("daemon");

	tcase_add_checked_fixture(tc, daemon_setup, daemon_teardown);
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_daemon_many_runners);
	tcase_add_test(tc, test_daemon_threads);
	tcase_add_test(tc, test_daemon_fork);
	tcase_add_test(tc, test_daemon_fork_no_thread);
	tcase_add_test(tc, test_daemon_python_runner);
	tcase_add_test(tc, test_daemon_python_handler);
	tcase_add_test(tc, test_daemon_fluent_forward);
	tcase_add_test(tc, test_daemon_fluent_term_acks);
	tcase_add_test(tc, test_daemon_fluent_ack_before_drop);
	tcase_add_test(tc, test_daemon_fluent_ack_after_stall);
	tcase_add_test(tc, test_daemon_runner_first);
	tcase_add_test(tc, test_daemon_large_records);
	tcase_add_test(tc, test_daemon_split_frames);
	tcase_add_test(tc, test_daemon_requests_answered);
	tcase_add_test(tc, test_daemon_replies_late);
	tcase_add_test(tc, test_daemon_dedup);
	tcase_add_test(tc, test_daemon_drops_kept);
	tcase_add_test(tc, test_daemon_torn_line_ended);
	tcase_add_test(tc, test_daemon_write_only_log);
	tcase_add_test(tc, test_daemon_sigkill_restart);
	tcase_add_test(tc, test_daemon_drops_reported);
	tcase_add_test(tc, test_daemon_hello_required);
	tcase_add_test(tc, test_daemon_frame_too_large);
	tcase_add_test(tc, test_daemon_max_frame);
	tcase_add_test(tc, test_daemon_unsafe_ids);
	tcase_add_test(tc, test_daemon_socket_activation);
	tcase_add_test(tc, test_daemon_sigterm_finishes);
	tcase_add_test(tc, test_daemon_sighup_reopens);
	tcase_add_test(tc, test_daemon_stderr_priorities);
	tcase_add_test(tc, test_daemon_config);
	suite_add_tcase(s, tc);
	return (s);
}

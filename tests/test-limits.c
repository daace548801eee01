/*
 * relogd against peers it must not trust: limits, identity, strict
 * namespaces, rate limits, hostile frames, floods of connections, running
 * out of file descriptors, and a sink that cannot keep up.
 */
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <sched.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "proto.h"
#include "tests.h"

#define LIMITS_ROTATE_WAIT_MS 15000	/* three of relogd's rotate retries */

#define LIMITS_CHILD_TIMEOUT_MS 120000
#define LIMITS_WAIT_MS 20000

static struct harness H;

static void
limits_setup(void)
{
	harness_init(&H);
}

static void
limits_teardown(void)
{
	harness_cleanup(&H);
}

/* Start relogd with a config file of this text. */
static void
start_with_config(const char *conf, const char *extra)
{
	const char *args[] = { "--config", harness_config(&H, conf), extra,
	    NULL };

	harness_daemon_start(&H, args);
}

/* Pack a batch of the one entry arg points to. */
static void
limits_pack_entry(msgpack_packer *pk, void *arg)
{
	proto_pack_batch_head(pk, 1, 0, 0);
	proto_pack_entry(pk, arg);
}

/* Send one batch entry with the given logger and message (a request). */
static void
send_entry(int fd, int level, struct proto_str logger, struct proto_str msg)
{
	struct proto_entry e = {
		.timestamp_ms = 1764306519000, .level = level,
		.logger_name = logger, .message = msg,
		.exception_text = proto_cstr("")
	};
	struct proto_header hd;

	wire_begin(&hd, RELOG_TYPE_REQUEST, 5, RELOG_METHOD_LOG_BATCH);
	wire_send(fd, &hd, limits_pack_entry, &e, 65536);
}

/* Can this fd be read before the timeout, and does it say end of file? */
static int
await_eof(int fd, int timeout_ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	char buf[4096];
	ssize_t n;

	for (;;) {
		if (poll(&pfd, 1, timeout_ms) != 1)
			return (0);
		n = read(fd, buf, sizeof buf);
		if (n == 0)
			return (1);
		if (n < 0 && errno != EINTR)
			return (errno == ECONNRESET);
	}
}

/* The socket is made with the configured mode and group. */
START_TEST(test_limits_socket_mode)
{
	struct group *gr = getgrnam("daemon");
	struct stat st;
	char conf[128];

	ck_assert_ptr_nonnull(gr);
	snprintf(conf, sizeof conf, "[relogd]\nsocket_mode = 0620\n"
	    "socket_group = daemon\n");
	start_with_config(conf, NULL);
	ck_assert_int_eq(stat(H.socket, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0620);
	ck_assert_int_eq(st.st_gid, gr->gr_gid);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
	/* A group that does not exist is a config error. */
	ck_assert_int_ne(harness_wait(harness_spawn((const char *[]){
	    harness_build_path("relogd"), "--check-config", "--config",
	    harness_config(&H, "[relogd]\nsocket_group = no-such-group\n"),
	    NULL }, NULL, NULL, NULL), LIMITS_CHILD_TIMEOUT_MS), 0);
}
END_TEST

/*
 * Per-plugin settings: a least level, another file name, a JSON sink
 * (valid JSON, whatever the bytes), size rotation keeping N files.
 */
START_TEST(test_limits_plugin_settings)
{
	const char *check[] = { "/usr/bin/python3", "-c",
	    "import json, sys\n"
	    "lines = [json.loads(l) for l in open(sys.argv[1], 'rb')]\n"
	    "assert len(lines) == 3, lines\n"
	    "assert lines[0]['level'] == 'INFO' and lines[0]['levelno'] == 20\n"
	    "assert lines[0]['plugin'] == 'js'\n"
	    "assert lines[0]['logger'] == 'plugin.js.app'\n"
	    "assert lines[1]['message'] == 'say \"hi\"\\n\\tand \\ bye'\n"
	    "assert lines[2]['message'] == 'bad \\ufffd end', lines[2]\n",
	    NULL, NULL };
	char path[512], *text;
	struct stat st;
	int fd, i;

	start_with_config("[plugin.*]\nlevel = info\n"
	    "[plugin.js]\nsinks = file, json\nfile = javascript.log\n"
	    "[plugin.rot]\nmax_size = 2000\nkeep = 2\n", NULL);
	fd = wire_open(&H, "js");
	send_entry(fd, 10, proto_cstr("plugin.js.app"), proto_cstr("debug"));
	ck_assert_str_eq(wire_reply(fd, 0, NULL), "written=1");
	send_entry(fd, 20, proto_cstr("plugin.js.app"), proto_cstr("info"));
	ck_assert_str_eq(wire_reply(fd, 0, NULL), "written=1");
	send_entry(fd, 30, proto_cstr("plugin.js.app"),
	    proto_cstr("say \"hi\"\n\tand \\ bye"));
	ck_assert_str_eq(wire_reply(fd, 0, NULL), "written=1");
	send_entry(fd, 40, proto_cstr("plugin.js.app"),
	    proto_cstr("bad \xff end"));
	ck_assert_str_eq(wire_reply(fd, 0, NULL), "written=1");
	/* Each batch its own write: 100 lines, rotated at 2000 bytes. */
	for (i = 0; i < 100; i++) {
		wire_batch_seq(fd, RELOG_TYPE_REQUEST, "plugin.rot", 1, 0, 0,
		    4096);
		ck_assert_str_eq(wire_reply(fd, 0, NULL), "written=1");
	}
	close(fd);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);

	text = harness_plugin_log(&H, "javascript");
	ck_assert_ptr_nonnull(text);
	ck_assert_uint_eq(harness_lines(text), 4);
	ck_assert_ptr_null(strstr(text, "] debug\n"));
	free(text);
	ck_assert_ptr_null(harness_plugin_log(&H, "js"));
	snprintf(path, sizeof path, "%s/js.json", H.log_dir);
	check[3] = path;
	ck_assert_int_eq(harness_wait(harness_spawn(check, NULL, NULL, NULL),
	    LIMITS_CHILD_TIMEOUT_MS), 0);
	snprintf(path, sizeof path, "%s/rot.log", H.log_dir);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_le(st.st_size, 2000);
	snprintf(path, sizeof path, "%s/rot.log.1", H.log_dir);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_gt(st.st_size, 1900);
	snprintf(path, sizeof path, "%s/rot.log.2", H.log_dir);
	ck_assert_int_eq(stat(path, &st), 0);
	snprintf(path, sizeof path, "%s/rot.log.3", H.log_dir);
	ck_assert_int_ne(stat(path, &st), 0);
}
END_TEST

/*
 * Rotation comes between records, before the one that would pass
 * max_size: a batch that is flushed at once fills three files none past
 * it (the file took the whole flush, into an empty file or one just
 * rotated); a record larger than max_size has a file of its own, the next
 * records go into the next file; none is lost.
 */
START_TEST(test_limits_rotate_per_record)
{
	char path[512], big[3001], *text;
	size_t lines = 0, len;
	int fd, i;

	start_with_config("[plugin.rot]\nmax_size = 2000\nkeep = 5\n", NULL);
	fd = wire_open(&H, "rt");
	/* About 5.5 KiB, flushed at once. */
	wire_batch_seq(fd, RELOG_TYPE_REQUEST, "plugin.rot", 100, 0, 0, 65536);
	ck_assert_str_eq(wire_reply(fd, 0, NULL), "written=100");
	memset(big, 'b', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	send_entry(fd, 20, proto_cstr("plugin.rot"), proto_cstr(big));
	ck_assert_str_eq(wire_reply(fd, 0, NULL), "written=1");
	wire_batch_seq(fd, RELOG_TYPE_REQUEST, "plugin.rot", 10, 0, 0, 65536);
	ck_assert_str_eq(wire_reply(fd, 0, NULL), "written=10");
	close(fd);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);

	/* rot.log.4 .. .2 the batch, .1 the large record, rot.log the 10. */
	for (i = 0; i <= 5; i++) {
		if (i == 0)
			snprintf(path, sizeof path, "%s/rot.log", H.log_dir);
		else
			snprintf(path, sizeof path, "%s/rot.log.%d", H.log_dir,
			    i);
		text = harness_read_file(path, &len);
		if (i == 5) {
			ck_assert_ptr_null(text);
			break;
		}
		ck_assert_msg(text != NULL, "%s: missing", path);
		lines += harness_lines(text);
		if (i == 1) {
			ck_assert_uint_eq(harness_lines(text), 1);
			ck_assert_ptr_nonnull(strstr(text, big));
		} else
			ck_assert_msg(len <= 2000, "%s: %zu bytes", path, len);
		if (i == 0)
			ck_assert_uint_eq(harness_lines(text), 10);
		free(text);
	}
	ck_assert_uint_eq(lines, 111);
}
END_TEST

/*
 * Rotation with something in the way (folders named rot.log.1 and
 * rot.log.2): the file is kept and grows past max_size, nothing is lost,
 * and that is said once (and the chain's rename that failed with it),
 * not at every write; once the way is clear, it rotates again, within
 * SINK_ROTATE_RETRY_MS (5 s) of a write.
 */
START_TEST(test_limits_rotate_blocked)
{
	char path[512], *text;
	int64_t until;
	struct stat st;
	int fd, i, n = 0;

	start_with_config("[plugin.rot]\nmax_size = 2000\nkeep = 2\n", NULL);
	for (i = 1; i <= 2; i++) {
		snprintf(path, sizeof path, "%s/rot.log.%d", H.log_dir, i);
		ck_assert_int_eq(mkdir(path, 0755), 0);
		snprintf(path, sizeof path, "%s/rot.log.%d/x", H.log_dir, i);
		ck_assert_int_eq(mkdir(path, 0755), 0);
	}
	fd = wire_open(&H, "rot");
	for (; n < 60; n++) {
		wire_batch_seq(fd, RELOG_TYPE_REQUEST, "plugin.rot", 1, 0, 0,
		    4096);
		ck_assert_str_eq(wire_reply(fd, 0, NULL), "written=1");
	}
	snprintf(path, sizeof path, "%s/rot.log", H.log_dir);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_gt(st.st_size, 2000);
	text = harness_plugin_log(&H, "rot");
	ck_assert_uint_eq(harness_lines(text), 60);
	free(text);
	text = harness_read_file(H.stderr_path, NULL);
	ck_assert_uint_eq(harness_count(text, "rot.log: Is a directory: it "
	    "grows past max_size until it can be"), 1);
	ck_assert_uint_eq(harness_count(text, "rot.log.1: Directory not "
	    "empty"), 1);
	free(text);

	for (i = 1; i <= 2; i++) {
		snprintf(path, sizeof path, "%s/rot.log.%d/x", H.log_dir, i);
		ck_assert_int_eq(rmdir(path), 0);
		snprintf(path, sizeof path, "%s/rot.log.%d", H.log_dir, i);
		ck_assert_int_eq(rmdir(path), 0);
	}
	/* Records come on; one of them finds the retry due. */
	snprintf(path, sizeof path, "%s/rot.log.1", H.log_dir);
	until = harness_now_ms() + LIMITS_ROTATE_WAIT_MS;
	while (stat(path, &st) != 0 && harness_now_ms() < until) {
		wire_batch_seq(fd, RELOG_TYPE_REQUEST, "plugin.rot", 1, 0, 0,
		    4096);
		n++;
		ck_assert_str_eq(wire_reply(fd, 0, NULL), "written=1");
		nanosleep(&(struct timespec){ 0, 50 * 1000 * 1000 }, NULL);
	}
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert(S_ISREG(st.st_mode));
	close(fd);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
	text = harness_read_file(H.stderr_path, NULL);
	ck_assert_uint_eq(harness_count(text, "rot.log rotated again"), 1);
	ck_assert_uint_eq(harness_count(text, "grows past max_size"), 1);
	ck_assert_uint_eq(harness_count(text, "cannot rename"), 1);
	free(text);
	/* Every record is in rot.log.1 (the big one) or rot.log. */
	text = harness_read_file(path, NULL);
	i = (int)harness_lines(text);
	free(text);
	text = harness_plugin_log(&H, "rot");
	i += (int)harness_lines(text);
	free(text);
	ck_assert_int_eq(i, n);
}
END_TEST

/*
 * SIGHUP reads the config file again; a bad file is refused and the old
 * settings stay.
 */
START_TEST(test_limits_reload)
{
	const char *args[] = { "--config", NULL, NULL };
	char *text;
	int fd;

	args[1] = harness_config(&H, "[plugin.rl]\nlevel = error\n");
	harness_daemon_start(&H, args);
	fd = wire_open(&H, "rl");
	send_entry(fd, 20, proto_cstr("plugin.rl"), proto_cstr("dropped"));
	ck_assert_str_eq(wire_reply(fd, 0, NULL), "written=1");
	harness_config(&H, "[plugin.rl]\nlevel = bogus\n");
	ck_assert_int_eq(kill(H.daemon, SIGHUP), 0);
	ck_assert_int_eq(harness_daemon_await(&H, "configuration not "
	    "reloaded", 1, LIMITS_WAIT_MS), 0);
	send_entry(fd, 20, proto_cstr("plugin.rl"), proto_cstr("still"));
	ck_assert_str_eq(wire_reply(fd, 0, NULL), "written=1");
	harness_config(&H, "[plugin.rl]\nlevel = info\n");
	ck_assert_int_eq(kill(H.daemon, SIGHUP), 0);
	ck_assert_int_eq(harness_daemon_await(&H, "configuration reloaded",
	    1, LIMITS_WAIT_MS), 0);
	send_entry(fd, 20, proto_cstr("plugin.rl"), proto_cstr("kept"));
	ck_assert_str_eq(wire_reply(fd, 0, NULL), "written=1");
	close(fd);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
	text = harness_plugin_log(&H, "rl");
	ck_assert_uint_eq(harness_lines(text), 1);
	ck_assert_ptr_nonnull(strstr(text, " INFO [plugin.rl] kept\n"));
	free(text);
}
END_TEST

/*
 * Give this test process (and what it starts) its own /run/systemd/journal
 * and /run/log, and start Debian's systemd-journald there: the test's own,
 * whether or not the machine runs one.
 */
static pid_t
start_journald(void)
{
	static const char *const argv[] = {
		"/lib/systemd/systemd-journald", NULL
	};
	pid_t pid;

	harness_unshare_mounts();
	mkdir("/run/systemd", 0755);
	mkdir("/run/systemd/journal", 0755);
	mkdir("/run/log", 0755);
	ck_assert_int_eq(mount("tmpfs", "/run/systemd/journal", "tmpfs", 0,
	    "mode=0755"), 0);
	ck_assert_int_eq(mount("tmpfs", "/run/log", "tmpfs", 0, "mode=0755"),
	    0);
	pid = harness_spawn(argv, NULL, NULL, NULL);
	ck_assert_int_eq(harness_await_path("/run/systemd/journal/socket",
	    LIMITS_WAIT_MS), 0);
	return (pid);
}

/*
 * The journald sink, against a real systemd-journald, read back with
 * journalctl -o json: every field, the record's own time, the exception.
 */
START_TEST(test_limits_journald)
{
	static const char *const args[] = {
		"-n", "3", "-l", "plugin.jd.db", "-x", NULL
	};
	const char *sync[] = { "/usr/bin/journalctl", "--sync", NULL };
	const char *query[] = {
		"/usr/bin/journalctl", "-D", "/run/log/journal", "-o", "json",
		"--no-pager", "RELOG_PLUGIN=jd", NULL
	};
	pid_t journald, runner, pid;
	char *text;
	int out;

	journald = start_journald();
	start_with_config("[plugin.jd]\nsinks = journald, file\n", NULL);
	runner = harness_runner(&H, "jdr", NULL, args, NULL);
	ck_assert_int_eq(harness_wait(runner, LIMITS_CHILD_TIMEOUT_MS), 0);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
	ck_assert_int_eq(harness_wait(harness_spawn(sync, NULL, NULL, NULL),
	    LIMITS_CHILD_TIMEOUT_MS), 0);
	pid = harness_spawn(query, NULL, &out, NULL);
	text = harness_read_fd(out, NULL);
	ck_assert_int_eq(harness_wait(pid, LIMITS_CHILD_TIMEOUT_MS), 0);
	kill(journald, SIGTERM);
	harness_wait(journald, LIMITS_CHILD_TIMEOUT_MS);
	ck_assert_uint_eq(harness_count(text, "\"RELOG_PLUGIN\":\"jd\""), 3);
	ck_assert_uint_eq(harness_count(text, "\"SYSLOG_IDENTIFIER\":\"jd\""),
	    3);
	ck_assert_ptr_nonnull(strstr(text, "\"MESSAGE\":\"runner=jdr thread=0 "
	    "seq=2\""));
	ck_assert_ptr_nonnull(strstr(text, "\"RELOG_LOGGER\":\"plugin.jd.db\""));
	ck_assert_ptr_nonnull(strstr(text, "\"RELOG_LEVEL\":\"INFO\""));
	ck_assert_ptr_nonnull(strstr(text, "\"PRIORITY\":\"6\""));
	ck_assert_ptr_nonnull(strstr(text, "\"RELOG_RUNNER_PID\":\""));
	ck_assert_ptr_nonnull(strstr(text, "\"RELOG_TIMESTAMP\":\"20"));
	ck_assert_ptr_nonnull(strstr(text, "\"RELOG_EXCEPTION\":\"Traceback "
	    "(most recent call last):\\n  File \\\"x.py\\\", line 1\\n"
	    "ValueError: boom\""));
	free(text);
	/* And the file sink alongside. */
	text = harness_plugin_log(&H, "jd");
	ck_assert_uint_eq(harness_count(text, " [plugin.jd.db] runner=jdr "),
	    3);
	free(text);
}
END_TEST

/* Strict: a runner of plugin st cannot write outside plugin.st. */
START_TEST(test_limits_strict)
{
	static const char *const args[] = {
		"-n", "3", "-l", "plugin.other.sneaky", NULL
	};
	char path[512], *text;
	int fd;

	start_with_config("[plugin.st]\nstrict = yes\nsinks = file, json\n",
	    NULL);
	fd = harness_connect(&H);
	wire_hello(fd, "str", "st", 4096);
	ck_assert_str_eq(wire_reply(fd, 0, NULL), "accepted");
	send_entry(fd, 20, proto_cstr("plugin.st.db"), proto_cstr("own"));
	ck_assert_str_eq(wire_reply(fd, 0, NULL), "written=1");
	send_entry(fd, 20, proto_cstr("plugin.stx"), proto_cstr("near"));
	ck_assert_str_eq(wire_reply(fd, 0, NULL), "written=1");
	send_entry(fd, 20, proto_cstr("root"), proto_cstr("outside"));
	ck_assert_str_eq(wire_reply(fd, 0, NULL), "written=1");
	close(fd);
	/* A plugin without strict: its runner names any logger. */
	ck_assert_int_eq(harness_wait(harness_runner(&H, "lax", "lx", args,
	    NULL), LIMITS_CHILD_TIMEOUT_MS), 0);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);

	text = harness_plugin_log(&H, "st");
	ck_assert_ptr_nonnull(strstr(text, " [plugin.st.db] own\n"));
	ck_assert_ptr_nonnull(strstr(text, " [plugin.st.plugin.stx] near\n"));
	ck_assert_ptr_nonnull(strstr(text, " [plugin.st.root] outside\n"));
	free(text);
	/* The JSON sink names the loggers as the text file does. */
	snprintf(path, sizeof path, "%s/st.json", H.log_dir);
	text = harness_read_file(path, NULL);
	ck_assert_ptr_nonnull(text);
	ck_assert_ptr_nonnull(strstr(text, "\"logger\":\"plugin.st.db\""));
	ck_assert_ptr_nonnull(strstr(text,
	    "\"logger\":\"plugin.st.plugin.stx\""));
	ck_assert_ptr_nonnull(strstr(text, "\"logger\":\"plugin.st.root\""));
	free(text);
	text = harness_plugin_log(&H, "lx");
	ck_assert_uint_eq(harness_count(text, " [plugin.other.sneaky] "), 3);
	free(text);
	ck_assert_ptr_null(harness_plugin_log(&H, "other"));
}
END_TEST

/*
 * Past max_plugins, new plugins get no logger of their own: their records
 * go to _unrouted.log, and relogd says so once.
 */
START_TEST(test_limits_max_plugins)
{
	static const char *const names[] = {
		"plugin.p1", "plugin.p2", "plugin.p3", "plugin.p4"
	};
	char *text;
	int fd, i;

	start_with_config("[relogd]\nmax_plugins = 2\n", NULL);
	fd = wire_open(&H, "many");
	for (i = 0; i < 4; i++) {
		send_entry(fd, 20, proto_cstr(names[i]), proto_cstr(names[i]));
		ck_assert_str_eq(wire_reply(fd, 0, NULL), "written=1");
	}
	close(fd);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);

	for (i = 0; i < 2; i++) {
		text = harness_plugin_log(&H, names[i] + 7);
		ck_assert_ptr_nonnull(text);
		ck_assert_uint_eq(harness_count(text, names[i]), 2);
		free(text);
	}
	ck_assert_ptr_null(harness_plugin_log(&H, "p3"));
	ck_assert_ptr_null(harness_plugin_log(&H, "p4"));
	text = harness_plugin_log(&H, "_unrouted");
	ck_assert_ptr_nonnull(text);
	ck_assert_uint_eq(harness_lines(text), 2);
	ck_assert_ptr_nonnull(strstr(text, " [plugin.p3] plugin.p3\n"));
	ck_assert_ptr_nonnull(strstr(text, " [plugin.p4] plugin.p4\n"));
	free(text);
	text = harness_read_file(H.stderr_path, NULL);
	ck_assert_uint_eq(harness_count(text, "2 plugins already: records "
	    "of new ones go to _unrouted.log"), 1);
	free(text);
}
END_TEST

/*
 * A log file that cannot be opened (here a folder stands in its place):
 * its records wait, unacknowledged, relogd says so once, and other
 * plugins go on; once the file can be made, they are written and
 * answered.
 */
START_TEST(test_limits_sink_unwritable)
{
	struct pollfd pfd = { .events = POLLIN };
	char path[512], *text;
	int fd, good, i;

	harness_daemon_start(&H, NULL);
	snprintf(path, sizeof path, "%s/bad.log", H.log_dir);
	ck_assert_int_eq(mkdir(path, 0755), 0);
	fd = wire_open(&H, "unw");
	for (i = 0; i < 3; i++)
		send_entry(fd, 20, proto_cstr("plugin.bad"), proto_cstr("kept"));
	good = wire_open(&H, "good");
	send_entry(good, 20, proto_cstr("plugin.good"), proto_cstr("kept"));
	ck_assert_str_eq(wire_reply(good, 0, NULL), "written=1");
	close(good);
	ck_assert_int_eq(harness_daemon_await(&H, "bad.log: Is a directory: ",
	    1, LIMITS_WAIT_MS), 0);
	/* Nothing of bad is acknowledged while it is not written. */
	pfd.fd = fd;
	ck_assert_int_eq(poll(&pfd, 1, 0), 0);
	ck_assert_int_eq(rmdir(path), 0);
	for (i = 0; i < 3; i++)
		ck_assert_str_eq(wire_reply(fd, 0, NULL), "written=1");
	close(fd);
	ck_assert_int_eq(harness_daemon_await(&H, "bad.log: writing again "
	    "after ", 1, LIMITS_WAIT_MS), 0);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);

	text = harness_plugin_log(&H, "good");
	ck_assert_ptr_nonnull(strstr(text, " [plugin.good] kept\n"));
	free(text);
	text = harness_plugin_log(&H, "bad");
	ck_assert_uint_eq(harness_count(text, " [plugin.bad] kept\n"), 3);
	free(text);
	text = harness_read_file(H.stderr_path, NULL);
	ck_assert_uint_eq(harness_count(text, "cannot write "), 1);
	free(text);
}
END_TEST

/*
 * Rate limit, 50 records per second per budget: a flood of INFO is cut at
 * 50, ERROR has its own 50, and when the window ends one record says how
 * many were suppressed.
 */
START_TEST(test_limits_rate)
{
	static const char *const args[] = { "--rate-limit", "50/1", NULL };
	char path[512], *text;
	int fd, i;

	snprintf(path, sizeof path, "%s/rl.log", H.log_dir);
	harness_daemon_start(&H, args);
	fd = wire_open(&H, "rl");
	wire_batch(fd, "plugin.rl", 200, 65536);
	for (i = 0; i < 20; i++) {
		send_entry(fd, 40, proto_cstr("plugin.rl"),
		    proto_cstr("an error"));
		ck_assert_str_eq(wire_reply(fd, 0, NULL), "written=1");
	}
	ck_assert_int_eq(harness_await_file(path, "suppressed 150 records "
	    "below ERROR", 1, LIMITS_WAIT_MS), 0);
	close(fd);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
	text = harness_plugin_log(&H, "rl");
	ck_assert_uint_eq(harness_count(text, " INFO [plugin.rl] raw seq="),
	    50);
	ck_assert_uint_eq(harness_count(text, " ERROR [plugin.rl] an error"),
	    20);
	ck_assert_ptr_nonnull(strstr(text, " WARNING [relog] suppressed 150 "
	    "records below ERROR (rate limit: 50 per 1 s)\n"));
	ck_assert_uint_eq(harness_count(text, "suppressed"), 1);
	free(text);
}
END_TEST

/* A session token, when set, must match: E_UNAUTHORIZED otherwise. */
START_TEST(test_limits_token)
{
	char conf[600], tokfile[300], *text;
	int fd, eof = 0;
	FILE *f;

	snprintf(tokfile, sizeof tokfile, "%s/token", H.dir);
	f = fopen(tokfile, "w");
	ck_assert_ptr_nonnull(f);
	fputs("s3cret-t0ken\n", f);
	fclose(f);
	snprintf(conf, sizeof conf, "[relogd]\ntoken_file = %s\n", tokfile);
	start_with_config(conf, NULL);
	fd = harness_connect(&H);
	wire_hello(fd, "tk", NULL, 4096);	/* token "" */
	ck_assert_str_eq(wire_reply(fd, 1, &eof), RELOG_E_UNAUTHORIZED);
	ck_assert_int_eq(eof, 1);
	close(fd);
	ck_assert_int_eq(harness_daemon_await(&H, "wrong session token", 1,
	    LIMITS_WAIT_MS), 0);
	/* The runner from the environment, with the right token. */
	{
		static const char *const args[] = {
			"-n", "10", "-l", "plugin.tk", NULL
		};
		char env_token[] = "RELOG_TOKEN=s3cret-t0ken";

		putenv(env_token);
		ck_assert_int_eq(harness_wait(harness_runner(&H, "tk", NULL,
		    args, NULL), LIMITS_CHILD_TIMEOUT_MS), 0);
		unsetenv("RELOG_TOKEN");
	}
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
	text = harness_plugin_log(&H, "tk");
	ck_assert_uint_eq(harness_lines(text), 10);
	free(text);
}
END_TEST

/* Only the listed uids may connect. */
START_TEST(test_limits_allow_uids)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	char conf[512];
	int fd;

	snprintf(conf, sizeof conf, "[relogd]\nallow_uids = %ld, 4242\n",
	    (long)getuid() + 1);
	start_with_config(conf, NULL);
	/* Closed as it is accepted, before anything is read. */
	fd = harness_connect(&H);
	ck_assert_int_eq(await_eof(fd, LIMITS_WAIT_MS), 1);
	close(fd);
	ck_assert_int_eq(harness_daemon_await(&H, "may not connect "
	    "(allow_uids): closed", 1, LIMITS_WAIT_MS), 0);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);

	/* Fluent clients too. */
	snprintf(conf, sizeof conf, "[relogd]\nallow_uids = 4242\n"
	    "forward_socket = %s/fwd.sock\n", H.dir);
	start_with_config(conf, NULL);
	ck_assert_uint_lt(strlen(H.dir) + 10, sizeof sun.sun_path);
	memcpy(sun.sun_path, H.dir, strlen(H.dir));
	memcpy(sun.sun_path + strlen(H.dir), "/fwd.sock", 10);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sun, sizeof sun), 0);
	ck_assert_int_eq(await_eof(fd, LIMITS_WAIT_MS), 1);
	close(fd);
	ck_assert_int_eq(harness_daemon_await(&H, "may not connect "
	    "(allow_uids): closed", 1, LIMITS_WAIT_MS), 0);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);

	snprintf(conf, sizeof conf, "[relogd]\nallow_uids = 4242,%ld\n",
	    (long)getuid());
	start_with_config(conf, NULL);
	fd = wire_open(&H, "uid");
	close(fd);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
}
END_TEST

/* Long texts are cut at a character boundary and marked, not dropped. */
START_TEST(test_limits_truncation)
{
	char msg[300], name[100], *text;
	int fd;

	start_with_config("[relogd]\nmax_message = 100\n"
	    "max_logger_name = 20\n[plugin.tr]\n", NULL);
	fd = wire_open(&H, "tr");
	/* 99 bytes, then a two-byte character across the limit. */
	memset(msg, 'm', sizeof msg);
	memcpy(msg + 99, "\xc3\xa9", 2);
	memset(name, 'n', sizeof name);
	memcpy(name, "plugin.tr.", 10);
	send_entry(fd, 20, (struct proto_str){ name, 30 },
	    (struct proto_str){ msg, 250 });
	ck_assert_str_eq(wire_reply(fd, 0, NULL), "written=1");
	close(fd);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
	text = harness_plugin_log(&H, "tr");
	ck_assert_ptr_nonnull(text);
	ck_assert_ptr_nonnull(strstr(text, " [plugin.tr.nnnnnnnnnn...] "));
	ck_assert_ptr_nonnull(strstr(text, "m [truncated 151 bytes]\n"));
	ck_assert_ptr_null(strstr(text, "\xc3"));
	free(text);
}
END_TEST

/* Silent peers are dropped: before the hello, and idle after it. */
START_TEST(test_limits_timeouts)
{
	int fd, idle, eof = 0;

	start_with_config("[relogd]\nhello_timeout = 1\nidle_timeout = 1\n",
	    NULL);
	fd = harness_connect(&H);
	ck_assert_str_eq(wire_reply(fd, 1, &eof), RELOG_E_PROTOCOL_MISMATCH);
	ck_assert_int_eq(eof, 1);
	close(fd);
	idle = wire_open(&H, "idle");
	ck_assert_int_eq(await_eof(idle, LIMITS_WAIT_MS), 1);
	close(idle);
	ck_assert_int_eq(harness_daemon_await(&H, "sent nothing for 1 s", 1,
	    LIMITS_WAIT_MS), 0);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
}
END_TEST

/* Send a frame body after a hello; expect E_BAD_PAYLOAD and a close. */
static void
expect_refused(const char *body, size_t len)
{
	int fd, eof = 0;

	fd = wire_open(&H, "bad");
	wire_send_frame(fd, body, len);
	ck_assert_str_eq(wire_reply(fd, 1, &eof), RELOG_E_BAD_PAYLOAD);
	ck_assert_int_eq(eof, 1);
	close(fd);
}

/* An envelope with one field of the wrong type. */
static void
expect_wrong_type(const char *field)
{
	static const char *const keys[] = {
		"message_type", "method", "request_id", "plugin_id",
		"timestamp_ms", "timeout_ms", "payload", "error"
	};
	msgpack_sbuffer sb;
	msgpack_packer pk;
	size_t i;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 8);
	for (i = 0; i < 8; i++) {
		proto_pack_key(&pk, keys[i]);
		if (strcmp(keys[i], field) == 0)
			msgpack_pack_array(&pk, 0);
		else if (i == 0)
			proto_pack_key(&pk, "request");
		else if (i == 1)
			proto_pack_key(&pk, RELOG_METHOD_LOG_BATCH);
		else if (i == 3)
			proto_pack_key(&pk, "");
		else if (i < 6)
			msgpack_pack_int(&pk, 7);
		else if (i == 6) {
			msgpack_pack_map(&pk, 1);
			proto_pack_key(&pk, "entries");
			msgpack_pack_array(&pk, 0);
		} else
			msgpack_pack_nil(&pk);
	}
	expect_refused(sb.data, sb.size);
	msgpack_sbuffer_destroy(&sb);
}

/*
 * Hostile frames: each gets its error and its connection closed, relogd
 * stays up with bounded memory, and a good runner gets every record
 * through afterwards.
 */
START_TEST(test_limits_hostile_frames)
{
	static const char *const args[] = {
		"-n", "1000", "-l", "plugin.good", NULL
	};
	static const char *const fields[] = {
		"message_type", "method", "request_id", "plugin_id",
		"timestamp_ms", "timeout_ms", "payload", "error"
	};
	char deep[200], big[64], *text;
	size_t i, len;
	int fd;

	harness_daemon_start(&H, NULL);
	/* Garbage: not msgpack at all. */
	expect_refused("\xc1\xc1\xc1\xc1\xff\x00garbage", 13);
	/* A 4-billion-element array inside a valid frame. */
	len = (size_t)snprintf(big, sizeof big, "%s", "\x81\xa7payload");
	memcpy(big + len, "\x81\xa7" "entries\xdd\xff\xff\xff\xff\xc0", 14);
	expect_refused(big, len + 14);
	/* Nesting 100 deep. */
	memset(deep, 0x91, sizeof deep);
	deep[150] = (char)0xc0;
	expect_refused(deep, 151);
	/* A map claiming more pairs than bytes follow, and trailing bytes. */
	expect_refused("\xdf\x00\x01\x00\x00\xc0\xc0", 7);
	expect_refused("\x80\xc0", 2);
	for (i = 0; i < sizeof fields / sizeof fields[0]; i++)
		expect_wrong_type(fields[i]);
	/* A frame cut short, then the connection closed. */
	fd = wire_open(&H, "cut");
	ck_assert_int_eq(send(fd, "\x00\x00\x01\x00\x81\xa7", 6,
	    MSG_NOSIGNAL), 6);
	close(fd);
	ck_assert_int_eq(harness_daemon_await(&H, "closed in the middle of a "
	    "frame", 1, LIMITS_WAIT_MS), 0);
	/* Invalid UTF-8 is not an error: the bytes are kept, shown as \xNN. */
	fd = wire_open(&H, "utf");
	send_entry(fd, 20, proto_cstr("plugin.utf.\xff"),
	    proto_cstr("bad \xc3\x28 and \xed\xa0\x80 and \xff"));
	ck_assert_str_eq(wire_reply(fd, 0, NULL), "written=1");
	close(fd);

	ck_assert_int_eq(harness_wait(harness_runner(&H, "good", NULL, args,
	    NULL), LIMITS_CHILD_TIMEOUT_MS), 0);
	if (harness_rss_measured())
		ck_assert_int_lt(harness_rss_kb(&H), 64 * 1024);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
	text = harness_plugin_log(&H, "good");
	harness_check_sequence(text, "good", 0, 1000);
	free(text);
	text = harness_plugin_log(&H, "utf");
	ck_assert_ptr_nonnull(strstr(text, "[plugin.utf.\\xff] bad \\xc3( and "
	    "\\xed\\xa0\\x80 and \\xff\n"));
	free(text);
}
END_TEST

/* Raise this process's descriptor limit to what the test needs. */
static void
raise_nofile(rlim_t want)
{
	struct rlimit rl;

	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	if (rl.rlim_cur < want) {
		rl.rlim_cur = want;
		if (rl.rlim_max < want)
			rl.rlim_max = want;
		ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
	}
}

/*
 * 1,000 connections that never say hello: relogd stays up, its memory
 * stays bounded, and a well-behaved runner still gets every record
 * through.
 */
START_TEST(test_limits_silent_crowd)
{
	static const char *const args[] = {
		"-n", "2000", "-l", "plugin.crowd", NULL
	};
	int fds[1000], i;
	char *text;

	raise_nofile(4096);
	harness_daemon_start(&H, NULL);
	for (i = 0; i < 1000; i++)
		fds[i] = harness_connect(&H);
	ck_assert_int_eq(harness_wait(harness_runner(&H, "crowd", NULL, args,
	    NULL), LIMITS_CHILD_TIMEOUT_MS), 0);
	if (harness_rss_measured())
		ck_assert_int_lt(harness_rss_kb(&H), 64 * 1024);
	for (i = 0; i < 1000; i++)
		close(fds[i]);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
	text = harness_plugin_log(&H, "crowd");
	harness_check_sequence(text, "crowd", 0, 2000);
	free(text);
}
END_TEST

/* At max_connections relogd stops accepting until one goes. */
START_TEST(test_limits_max_connections)
{
	int a, b, c;

	start_with_config("[relogd]\nmax_connections = 2\n", NULL);
	a = wire_open(&H, "a");
	b = wire_open(&H, "b");
	/* The kernel queues the third; relogd does not take it. */
	c = harness_connect(&H);
	wire_hello(c, "c", NULL, 4096);
	ck_assert_int_eq(harness_daemon_await(&H, "2 connections: not "
	    "accepting more", 1, LIMITS_WAIT_MS), 0);
	close(a);
	ck_assert_str_eq(wire_reply(c, 0, NULL), "accepted");
	close(b);
	close(c);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
}
END_TEST

/*
 * Out of file descriptors: relogd pauses accepting on a timer instead of
 * spinning, and serves again once descriptors are free.
 */
START_TEST(test_limits_emfile)
{
	static const char *const args[] = {
		"-n", "100", "-l", "plugin.em", NULL
	};
	int fds[60], i;
	int64_t start;
	size_t said;
	char *text;

	H.nofile = 32;
	harness_daemon_start(&H, NULL);
	start = harness_now_ms();
	for (i = 0; i < 60; i++)
		fds[i] = harness_connect(&H);
	ck_assert_int_eq(harness_daemon_await(&H, "out of file descriptors",
	    1, LIMITS_WAIT_MS), 0);
	for (i = 0; i < 60; i++)
		close(fds[i]);
	ck_assert_int_eq(harness_wait(harness_runner(&H, "em", NULL, args,
	    NULL), LIMITS_CHILD_TIMEOUT_MS), 0);
	/* One message per pause of 500 ms, not a busy loop. */
	text = harness_read_file(H.stderr_path, NULL);
	said = harness_count(text, "out of file descriptors");
	free(text);
	ck_assert_uint_le(said, (size_t)((harness_now_ms() - start) / 500 + 2));
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
	text = harness_plugin_log(&H, "em");
	harness_check_sequence(text, "em", 0, 100);
	free(text);
}
END_TEST

/*
 * A resent batch is answered only once its first copy is written and
 * recorded: while that copy waits in a stalled sink (a full file), the
 * answer to the resend, and the replies after it, wait too.
 */
START_TEST(test_limits_resend_waits)
{
	static const char *const dargs[] = { "-v", NULL };
	const char *full = harness_fill_log(&H, "dw", 1 << 20);
	struct pollfd pfd;
	int a, b;

	harness_daemon_start(&H, dargs);
	a = wire_open_as(&H, "dw", "dw", "0123abcd");
	wire_batch_seq(a, RELOG_TYPE_REQUEST, "plugin.dw", 3000, 1, 0, 65536);
	b = wire_open_as(&H, "dw", "dw", "0123abcd");
	wire_batch_seq(b, RELOG_TYPE_REQUEST, "plugin.dw", 3000, 1, 0, 65536);
	ck_assert_int_eq(harness_daemon_await(&H, "batch 1 was written before",
	    1, LIMITS_WAIT_MS), 0);
	/* The resend was handled; a round trip lets relogd write any reply. */
	close(wire_open(&H, "sync"));
	/* Neither answer may come while the first copy is not written. */
	pfd.fd = a;
	pfd.events = POLLIN;
	ck_assert_int_eq(poll(&pfd, 1, 0), 0);
	pfd.fd = b;
	ck_assert_int_eq(poll(&pfd, 1, 0), 0);
	/* Room again: both are answered. */
	ck_assert_int_eq(truncate(full, 0), 0);
	ck_assert_str_eq(wire_reply(a, 0, NULL), "written=3000");
	ck_assert_str_eq(wire_reply(b, 0, NULL), "written=0");
	close(a);
	close(b);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
}
END_TEST

/*
 * Stopped (SIGTERM) while a file cannot be written, relogd answers no
 * batch it holds for it, nor records its seq: the runner sends it again to
 * the next relogd, which writes it (deduplication does not take it for
 * done), each record once.
 */
START_TEST(test_limits_stop_stalled)
{
	static const char *const dargs[] = { "-v", NULL };
	const char *full = harness_fill_log(&H, "dw", 1 << 20);
	char *text, c;
	int a;

	harness_daemon_start(&H, dargs);
	a = wire_open_as(&H, "dw", "dw", "0123abcd");
	wire_batch_seq(a, RELOG_TYPE_REQUEST, "plugin.dw", 3000, 1, 0, 65536);
	ck_assert_int_eq(harness_daemon_await(&H, "3000 records wait", 1,
	    LIMITS_WAIT_MS), 0);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
	ck_assert_int_eq(harness_daemon_await(&H, "3000 records (", 1,
	    LIMITS_WAIT_MS), 0);
	/* The connection ends with no answer. */
	ck_assert_int_eq(recv(a, &c, 1, 0), 0);
	close(a);

	ck_assert_int_eq(truncate(full, 0), 0);
	harness_daemon_start(&H, dargs);
	a = wire_open_as(&H, "dw", "dw", "0123abcd");
	wire_batch_seq(a, RELOG_TYPE_REQUEST, "plugin.dw", 3000, 1, 0, 65536);
	ck_assert_str_eq(wire_reply(a, 0, NULL), "written=3000");
	close(a);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
	text = harness_read_file(full, NULL);
	ck_assert_uint_eq(harness_lines(text), 3000);
	ck_assert_uint_eq(harness_count(text, " [plugin.dw] raw seq=2999\n"),
	    1);
	free(text);
}
END_TEST

/*
 * relogctl stats count a record written once its file took it: while the
 * file cannot take the rest of a batch (RLIMIT_FSIZE, in the middle of
 * it), "written" is the records the file holds and the rest are
 * "waiting", with relogd's notice of the batch's drops, which is no record
 * of the plugin's (stats said all written while they waited); once there
 * is room, all are written.
 */
START_TEST(test_limits_stats_written_held)
{
	static const char *const dargs[] = { "-v", NULL };
	char path[512], *text;
	long long lines;
	int a;

	H.fsize = 64 << 10;
	harness_daemon_start(&H, dargs);
	a = wire_open_as(&H, "sw", "sw", "0123abcf");
	/* About 55 KiB, then 16: the file's limit comes in the middle. */
	wire_batch_seq(a, RELOG_TYPE_REQUEST, "plugin.sw", 1000, 1, 0, 65536);
	ck_assert_str_eq(wire_reply(a, 0, NULL), "written=1000");
	ck_assert_int_eq(peer_stat(&H, "sw", "written"), 1000);
	wire_batch_seq(a, RELOG_TYPE_REQUEST, "plugin.sw", 300, 2, 3, 65536);
	ck_assert_int_eq(harness_daemon_await(&H, "sw.log: File too large: ",
	    1, LIMITS_WAIT_MS), 0);
	snprintf(path, sizeof path, "%s/sw.log", H.log_dir);
	text = harness_read_file(path, NULL);
	lines = (long long)harness_lines(text);
	ck_assert_int_eq(harness_count(text, "dropped 3 records"), 0);
	free(text);
	ck_assert_int_gt(lines, 1000);
	ck_assert_int_lt(lines, 1300);
	ck_assert_int_eq(peer_stat(&H, "sw", "received"), 1300);
	ck_assert_int_eq(peer_stat(&H, "sw", "written"), lines);
	ck_assert_int_eq(peer_stat(&H, "sw", "waiting"), 1300 - lines + 1);

	ck_assert_int_eq(truncate(path, 0), 0);
	ck_assert_str_eq(wire_reply(a, 0, NULL), "written=300");
	ck_assert_int_eq(peer_stat(&H, "sw", "written"), 1300);
	ck_assert_int_eq(peer_stat(&H, "sw", "waiting"), 0);
	close(a);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
}
END_TEST

/*
 * Every line of text is a whole record of a wire batch to logger (no line
 * torn, nothing between); returns how many.
 */
static size_t
limits_whole_lines(const char *text, const char *logger)
{
	const char *p = text, *nl;
	char want[64];
	size_t n = 0;

	snprintf(want, sizeof want, " INFO [%s] raw seq=", logger);
	for (; *p != '\0'; p = nl + 1, n++) {
		nl = strchr(p, '\n');
		ck_assert_msg(nl != NULL, "a last line not ended: %.60s", p);
		ck_assert_msg(strncmp(p, "2025-11-2", 9) == 0 &&
		    memmem(p, (size_t)(nl - p), want, strlen(want)) != NULL &&
		    nl[-1] >= '0' && nl[-1] <= '9', "a torn line: %.*s",
		    (int)(nl - p), p);
	}
	return (n);
}

/*
 * A file emptied under relogd (logrotate's copytruncate), then full in the
 * middle of a record: the part written is cut off where it is in the file,
 * not where relogd's count of the file's size says (which would pad the
 * file with zeros, or fail); moved away and reopened (SIGHUP), the file
 * and the new one hold every record once, none torn.
 */
START_TEST(test_limits_cut_back_emptied)
{
	static const char *const dargs[] = { "-v", NULL };
	char path[512], old[520], *text, *more;
	int a;

	H.fsize = 64 << 10;
	harness_daemon_start(&H, dargs);
	a = wire_open_as(&H, "cb", "cb", "0123abce");
	wire_batch_seq(a, RELOG_TYPE_REQUEST, "plugin.cb", 100, 1, 0, 65536);
	ck_assert_str_eq(wire_reply(a, 0, NULL), "written=100");
	snprintf(path, sizeof path, "%s/cb.log", H.log_dir);
	ck_assert_int_eq(truncate(path, 0), 0);
	/* About 110 KiB: the file's limit comes in the middle of a record. */
	wire_batch_seq(a, RELOG_TYPE_REQUEST, "plugin.cb", 2000, 2, 0, 65536);
	ck_assert_int_eq(harness_daemon_await(&H, "records wait", 1,
	    LIMITS_WAIT_MS), 0);
	snprintf(old, sizeof old, "%s.old", path);
	ck_assert_int_eq(rename(path, old), 0);
	ck_assert_int_eq(kill(H.daemon, SIGHUP), 0);
	ck_assert_str_eq(wire_reply(a, 0, NULL), "written=2000");
	close(a);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
	text = harness_read_file(old, NULL);
	more = harness_read_file(path, NULL);
	ck_assert_uint_eq(limits_whole_lines(text, "plugin.cb") +
	    limits_whole_lines(more, "plugin.cb"), 2000);
	ck_assert_uint_eq(harness_count(text, " raw seq=1999\n") +
	    harness_count(more, " raw seq=1999\n"), 1);
	free(text);
	free(more);
}
END_TEST

/*
 * Peers that come and go, each with one batch for a file that cannot be
 * written: once the files hold more than max_buffered not written, relogd
 * reads no one, so its memory stays bounded (each connection used to add
 * its records to the file's buffer, and close, for as long as they came).
 * Once the file has room again, every record is written.
 */
START_TEST(test_limits_sinks_bounded)
{
	const char *dargs[] = { "--rate-limit", "off", "--config", NULL, NULL };
	const char *full = harness_fill_log(&H, "amp", 16 << 20);
	long before = 0;
	char *text;
	int i, fd;

	dargs[3] = harness_config(&H, "[relogd]\nmax_buffered = 2097152\n");
	harness_daemon_start(&H, dargs);
	/* Not under the sanitizers: their quarantine keeps what is freed. */
	if (harness_frees_measured())
		before = harness_rss_kb(&H);
	for (i = 0; i < 200; i++) {
		fd = wire_open(&H, "amp");
		wire_batch(fd, "plugin.amp", 1000, 65536);
		close(fd);
	}
	/* A round trip: relogd has taken in what it will. */
	close(wire_open(&H, "sync"));
	if (harness_frees_measured())
		ck_assert_int_lt(harness_rss_kb(&H) - before, 6 * 1024);
	ck_assert_int_eq(truncate(full, 0), 0);
	ck_assert_int_eq(harness_await_file(full, " raw seq=999\n", 200,
	    LIMITS_CHILD_TIMEOUT_MS), 0);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
	text = harness_read_file(full, NULL);
	ck_assert_uint_eq(harness_lines(text), 200 * 1000);
	free(text);
}
END_TEST

/*
 * Flood relogd with broadcasts (no acknowledgements hold it back, as from
 * a Python runner) in a child process: 300 batches of 100 records.
 */
static pid_t
flood(const char *runner, const char *logger)
{
	pid_t pid;
	int fd, i;

	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid != 0)
		return (pid);
	fd = wire_open(&H, runner);
	for (i = 0; i < 300; i++)
		wire_batch(fd, logger, 100, 65536);
	close(fd);
	_exit(0);
}

/*
 * A stalled sink (a full file) makes relogd stop reading the runner that
 * floods it, not the others, and its memory stays bounded; once the file
 * has room again everything arrives, once.
 */
START_TEST(test_limits_backpressure)
{
	static const char *const fast_args[] = {
		"-n", "5000", "-l", "plugin.fast", NULL
	};
	static const char *const dargs[] = { "--rate-limit", "off", "-v",
	    NULL };
	const char *full = harness_fill_log(&H, "slow", 4 << 20);
	char *text;
	pid_t slow;

	harness_daemon_start(&H, dargs);
	slow = flood("slow", "plugin.slow");
	ck_assert_int_eq(harness_daemon_await(&H, "sinks full or acks owed",
	    1, LIMITS_CHILD_TIMEOUT_MS), 0);
	/* Another runner is not held up by it. */
	ck_assert_int_eq(harness_wait(harness_runner(&H, "fast", NULL,
	    fast_args, NULL), LIMITS_CHILD_TIMEOUT_MS), 0);
	text = harness_plugin_log(&H, "fast");
	harness_check_sequence(text, "fast", 0, 5000);
	free(text);
	if (harness_rss_measured())
		ck_assert_int_lt(harness_rss_kb(&H), 64 * 1024);

	/* Room again: all 30,000 arrive, each once. */
	ck_assert_int_eq(truncate(full, 0), 0);
	ck_assert_int_eq(harness_wait(slow, LIMITS_CHILD_TIMEOUT_MS), 0);
	ck_assert_int_eq(harness_await_file(full, " [plugin.slow] raw "
	    "seq=99\n", 300, LIMITS_CHILD_TIMEOUT_MS), 0);
	ck_assert_int_eq(harness_daemon_await(&H, "sinks drained, reading "
	    "again", 1, LIMITS_WAIT_MS), 0);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
	text = harness_read_file(full, NULL);
	ck_assert_uint_eq(harness_lines(text), 30000);
	ck_assert_uint_eq(harness_count(text, " [plugin.slow] raw seq=0\n"),
	    300);
	free(text);
}
END_TEST

Suite *
suite_limits(void)
{
	Suite *s = suite_create("limits");
	TCase *tc = tcase_create("limits");

	tcase_add_checked_fixture(tc, limits_setup, limits_teardown);
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_limits_socket_mode);
	tcase_add_test(tc, test_limits_strict);
	tcase_add_test(tc, test_limits_max_plugins);
	tcase_add_test(tc, test_limits_sink_unwritable);
	tcase_add_test(tc, test_limits_plugin_settings);
	tcase_add_test(tc, test_limits_rotate_blocked);
	tcase_add_test(tc, test_limits_rotate_per_record);
	tcase_add_test(tc, test_limits_reload);
	tcase_add_test(tc, test_limits_journald);
	tcase_add_test(tc, test_limits_rate);
	tcase_add_test(tc, test_limits_token);
	tcase_add_test(tc, test_limits_allow_uids);
	tcase_add_test(tc, test_limits_truncation);
	tcase_add_test(tc, test_limits_timeouts);
	tcase_add_test(tc, test_limits_hostile_frames);
	tcase_add_test(tc, test_limits_silent_crowd);
	tcase_add_test(tc, test_limits_max_connections);
	tcase_add_test(tc, test_limits_emfile);
	tcase_add_test(tc, test_limits_backpressure);
	tcase_add_test(tc, test_limits_resend_waits);
	tcase_add_test(tc, test_limits_stop_stalled);
	tcase_add_test(tc, test_limits_cut_back_emptied);
	tcase_add_test(tc, test_limits_stats_written_held);
	tcase_add_test(tc, test_limits_sinks_bounded);
	suite_add_tcase(s, tc);
	return (s);
}

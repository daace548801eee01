/*
 * relogd attacked as a hostile plugin or a local user would: one test per
 * attack of the review (issue 11), on real processes and sockets. Peers of
 * another uid are children that became nobody (or a uid of no one), so the
 * suite runs as root; test-security-files.c has the attacks on files.
 */
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto.h"
#include "tests.h"

#define SEC_WAIT_MS 60000
#define SEC_STRANGER 4242		/* a uid of no one */

static struct harness S;

/* Each test's relogd, in a folder other uids may reach. */
static void
sec_setup(void)
{
	harness_init(&S);
	ck_assert_int_eq(chmod(S.dir, 0755), 0);
}

static void
sec_teardown(void)
{
	harness_cleanup(&S);
}

/* Start relogd with [relogd] settings (a socket every uid may reach). */
static int sec_reloads;		/* of the relogd sec_start started */

/* The config file sec_start and sec_reload give relogd. */
static const char *
sec_config(const char *conf)
{
	char text[4096];

	snprintf(text, sizeof text, "[relogd]\nsocket_mode = 0666\n%s", conf);
	return (harness_config(&S, text));
}

static void
sec_start(const char *conf)
{
	const char *args[] = { "--config", sec_config(conf), NULL };

	sec_reloads = 0;
	harness_daemon_start(&S, args);
}

/* Have relogd read the config again, now these settings; once it did. */
static void
sec_reload(const char *conf)
{
	sec_config(conf);
	ck_assert_int_eq(kill(S.daemon, SIGHUP), 0);
	ck_assert_int_eq(harness_daemon_await(&S, "configuration reloaded",
	    (size_t)++sec_reloads, SEC_WAIT_MS), 0);
}

/*
 * A runner's word on its drops is a notice, not a licence: empty batches
 * each saying "dropped: 1", as fast as a socket takes them, into another
 * plugin's log under rate_limit = 10/30, make a few lines, not millions,
 * and every drop is still counted.
 */
START_TEST(test_security_dropped_flood)
{
	enum { FRAMES = 10000, ROUNDS = 20 };
	msgpack_sbuffer sb;
	struct stat st;
	char path[512], *text;
	int fd, i;

	sec_start("rate_limit = 10/30\n");
	fd = peer_open(&S, "flood", "victim", NULL);
	msgpack_sbuffer_init(&sb);
	for (i = 0; i < FRAMES; i++)
		peer_batch(&sb, "plugin.victim", "", 0, 1);
	for (i = 0; i < ROUNDS; i++)
		ck_assert_int_eq(send(fd, sb.data, sb.size, MSG_NOSIGNAL),
		    (ssize_t)sb.size);
	msgpack_sbuffer_destroy(&sb);
	close(fd);
	/* Every claimed drop is counted, once the connection is gone. */
	peer_await_stat(&S, "victim", "dropped_by_runners", FRAMES * ROUNDS);
	ck_assert_int_eq(harness_daemon_stop(&S), 0);
	snprintf(path, sizeof path, "%s/victim.log", S.log_dir);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_lt(st.st_size, 1 << 20);
	text = harness_plugin_log(&S, "victim");
	/* Ten a window at most: the flood took well under 30 s. */
	ck_assert_uint_ge(harness_count(text, "dropped "), 1);
	ck_assert_uint_le(harness_count(text, "dropped "), 10);
	free(text);
}
END_TEST

/* A runner of root's logs n records and exits 0: every one delivered. */
static void
sec_runner(const char *runner, const char *logger, const char *count)
{
	const char *args[] = { "-n", count, "-l", logger, "-a", NULL };

	ck_assert_int_eq(harness_wait(harness_runner(&S, runner, NULL, args,
	    NULL), SEC_WAIT_MS), 0);
}

/*
 * A uid that may not connect holds no slot: with allow_uids = 0 and room
 * for 1,000 connections, a stranger keeping 3,000 connections open is
 * closed as each is accepted, and root's runner delivers all it logs.
 */
START_TEST(test_security_refused_uid)
{
	char *text;
	pid_t pid;

	sec_start("allow_uids = 0\nmax_connections = 1000\n");
	pid = peer_hold(&S, SEC_STRANGER, 3000);
	sec_runner("rt", "plugin.rt", "1000");
	peer_kill(pid);
	ck_assert_int_eq(harness_daemon_stop(&S), 0);
	text = harness_plugin_log(&S, "rt");
	harness_check_sequence(text, "rt", 0, 1000);
	free(text);
}
END_TEST

/*
 * An allowed uid holds at most max_connections_per_uid: nobody keeping
 * 3,000 idle connections open gets 100 of them, and root's runner still
 * connects and delivers all it logs.
 */
START_TEST(test_security_uid_connections)
{
	char *text;
	pid_t pid;

	sec_start("max_connections = 1000\nmax_connections_per_uid = 100\n");
	pid = peer_hold(&S, PEER_NOBODY, 3000);
	peer_await_count(&S, "\"uid\":65534,", 100);
	/* And no more, while it goes on trying. */
	text = peer_stats(&S);
	ck_assert_uint_le(harness_count(text, "\"uid\":65534,"), 100);
	free(text);
	sec_runner("rt", "plugin.rt", "1000");
	peer_kill(pid);
	ck_assert_int_eq(harness_daemon_stop(&S), 0);
	text = harness_plugin_log(&S, "rt");
	harness_check_sequence(text, "rt", 0, 1000);
	free(text);
}
END_TEST

/* Is relogd's RSS under 128 MiB (not measured under the sanitizers)? */
static void
sec_assert_rss(void)
{
	if (harness_rss_measured() && getenv("RELOG_SANITIZE_RUNTIMES") ==
	    NULL)
		ck_assert_int_lt(harness_rss_kb(&S), 128 * 1024);
}

/*
 * Memory bounded in total, not per connection: 400 connections of a uid
 * refused at accept, 400 of nobody before any hello, and 400 of nobody
 * after theirs, each sending 1 MiB - 1 of a 1 MiB frame, leave relogd
 * under 128 MiB, holding no more than nobody's share of max_buffered,
 * while root's runner delivers all it logs; and so once they are gone.
 */
START_TEST(test_security_total_memory)
{
	msgpack_sbuffer frame, hello;
	pid_t refused, early, late;
	long long held;
	char *text;

	sec_start("allow_uids = 0, 65534\nmax_connections = 2000\n"
	    "max_connections_per_uid = 1000\nmax_buffered = 67108864\n");
	msgpack_sbuffer_init(&frame);
	peer_big_frame(&frame, 1 << 20);
	msgpack_sbuffer_init(&hello);
	peer_hello(&hello, "mem", NULL, NULL, NULL);
	msgpack_sbuffer_write(&hello, frame.data, frame.size);

	refused = peer_flood(&S, SEC_STRANGER, 400, &frame);
	early = peer_flood(&S, PEER_NOBODY, 400, &frame);
	late = peer_flood(&S, PEER_NOBODY, 400, &hello);
	/*
	 * Nobody's share is a quarter of max_buffered: reached, and passed by
	 * no more than the frame one starved connection may finish (a frame
	 * and its header), and the stats request being answered (under 1 KiB,
	 * as below).
	 */
	peer_await_stat(&S, NULL, "buffered", 16 << 20);
	held = peer_stat(&S, NULL, "buffered");
	ck_assert_int_lt(held, (16 << 20) + (1 << 20) +
	    RELOG_FRAME_HEADER_SIZE + 1024);
	sec_assert_rss();
	sec_runner("rt", "plugin.rt", "1000");
	peer_kill(refused);
	peer_kill(early);
	peer_kill(late);
	peer_await_count(&S, "\"uid\":65534,", 0);
	/* Only the stats request being answered is held. */
	ck_assert_int_lt(peer_stat(&S, NULL, "buffered"), 1024);
	sec_assert_rss();
	ck_assert_int_eq(harness_daemon_stop(&S), 0);
	msgpack_sbuffer_destroy(&frame);
	msgpack_sbuffer_destroy(&hello);
	text = harness_plugin_log(&S, "rt");
	harness_check_sequence(text, "rt", 0, 1000);
	free(text);
}
END_TEST

/* Does text hold no line that contains needle (and is there text)? */
static void
sec_assert_absent(const char *plugin, const char *needle)
{
	char *text = harness_plugin_log(&S, plugin);

	ck_assert_msg(text == NULL || strstr(text, needle) == NULL,
	    "%s.log holds %s", plugin, needle);
	free(text);
}

/* How many times a plugin's log holds needle. */
static size_t
sec_count(const char *plugin, const char *needle)
{
	char *text = harness_plugin_log(&S, plugin);
	size_t n = text != NULL ? harness_count(text, needle) : 0;

	free(text);
	return (n);
}

/* Send one Fluent Forward message [tag, time, {message}] and close. */
static void
sec_fluent(const char *path, const char *tag, const char *msg)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	msgpack_sbuffer sb;
	msgpack_packer pk;
	int fd;

	memcpy(sun.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sun, sizeof sun), 0);
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_array(&pk, 3);
	proto_pack_key(&pk, tag);
	msgpack_pack_uint32(&pk, 1764306519);
	msgpack_pack_map(&pk, 1);
	proto_pack_key(&pk, "message");
	proto_pack_key(&pk, msg);
	peer_send(fd, &sb);
	msgpack_sbuffer_destroy(&sb);
	close(fd);
}

/* A hello naming plugin with this token is refused as unauthorized. */
static void
sec_refused(const char *plugin, const char *token)
{
	msgpack_sbuffer sb;
	int fd, eof;

	fd = harness_connect(&S);
	msgpack_sbuffer_init(&sb);
	peer_hello(&sb, "forger", plugin, NULL, token);
	peer_send(fd, &sb);
	msgpack_sbuffer_destroy(&sb);
	ck_assert_str_eq(wire_reply(fd, 1, &eof), RELOG_E_UNAUTHORIZED);
	ck_assert_int_eq(eof, 1);
	close(fd);
}

/* Run test-runner as plugin's runner with RELOG_TOKEN token; its status. */
static int
sec_token_runner(const char *runner, const char *plugin, const char *token,
    const char *logger)
{
	const char *args[] = { "-n", "100", "-l", logger, "-a", NULL };
	int status;

	ck_assert_int_eq(setenv("RELOG_TOKEN", token, 1), 0);
	status = harness_wait(harness_runner(&S, runner, plugin, args, NULL),
	    SEC_WAIT_MS);
	unsetenv("RELOG_TOKEN");
	return (status);
}

/*
 * An owned plugin takes records only from who proved it: a hello naming
 * bank without its token is refused; records aimed at bank by logger name
 * (from a connection of its own plugin, and from one of none), by the
 * mangled module logger, by runner id and by Fluent tag never reach
 * bank.log, and a flood of them spends none of bank's rate budget: its
 * genuine runner, with the token, gets every record through.
 */
START_TEST(test_security_forged_routes)
{
	char conf[512], fluent[300], *text;
	int fd;

	snprintf(fluent, sizeof fluent, "%s/fluent.sock", S.dir);
	snprintf(conf, sizeof conf, "rate_limit = 200/60\n"
	    "fluent_socket = %s\n[plugin.bank]\ntoken = bank-secret-1\n",
	    fluent);
	sec_start(conf);
	sec_refused("bank", NULL);
	sec_refused("bank", "bank-secret-2");
	fd = peer_open(&S, "forger", "mallory", NULL);
	peer_log(fd, "plugin.bank.core", "FORGED by mallory", 1);
	close(fd);
	fd = peer_open(&S, "bank", NULL, NULL);
	peer_log(fd, "x", "FORGED by runner id", 1);
	close(fd);
	sec_fluent(fluent, "plugin.bank", "FORGED by tag");
	fd = peer_open(&S, "forger", NULL, NULL);
	peer_log(fd, "_maibot_plugin_bank.x", "FORGED by module", 1);
	peer_await_stat(&S, "bank", "refused", 2);
	/* A flood, past _unrouted's budget: bank's is not touched. */
	peer_log(fd, "plugin.bank.core", "FORGED by name", 1000);
	close(fd);
	peer_await_stat(&S, "bank", "refused", 1002);
	ck_assert_int_eq(sec_token_runner("bank", "bank", "bank-secret-1",
	    "plugin.bank.core"), 0);
	ck_assert_int_eq(harness_daemon_stop(&S), 0);

	text = harness_plugin_log(&S, "bank");
	harness_check_sequence(text, "bank", 0, 100);
	ck_assert_ptr_null(strstr(text, "FORGED"));
	free(text);
	text = harness_plugin_log(&S, "mallory");
	ck_assert_uint_eq(harness_count(text, "FORGED by mallory"), 1);
	free(text);
	/* The rest is kept, counted, and said once per connection. */
	text = harness_plugin_log(&S, "_unrouted");
	ck_assert_uint_ge(harness_count(text, "FORGED by name"), 1);
	ck_assert_uint_eq(harness_count(text, "FORGED by module"), 1);
	ck_assert_uint_eq(harness_count(text, "FORGED by tag"), 1);
	free(text);
	sec_assert_absent("bank", "FORGED by runner id");
	text = harness_read_file(S.stderr_path, NULL);
	ck_assert_uint_eq(harness_count(text, "which it does not own"), 2);
	free(text);
}
END_TEST

/*
 * uids own a plugin too: nobody's connection writes into alice, root's
 * hello naming alice is refused, and its records aimed at alice are not
 * written there.
 */
static int
sec_alice_run(void *arg)
{
	msgpack_sbuffer sb;
	char c;
	int fd = peer_connect(&S, 0);

	(void)arg;
	if (fd < 0)
		return (1);
	msgpack_sbuffer_init(&sb);
	peer_hello(&sb, "alice-r", "alice", NULL, NULL);
	peer_batch(&sb, "plugin.alice", "alice's own", 1, 0);
	if (send(fd, sb.data, sb.size, MSG_NOSIGNAL) != (ssize_t)sb.size)
		return (1);
	/* The hello's reply; then relogd closes after we do. */
	if (recv(fd, &c, 1, 0) != 1)
		return (1);
	shutdown(fd, SHUT_WR);
	while (recv(fd, &c, 1, 0) > 0)
		;
	return (0);
}

START_TEST(test_security_owned_by_uid)
{
	char *text;
	int fd;

	sec_start("[plugin.alice]\nuids = nobody\n");
	ck_assert_int_eq(harness_wait(peer_as(PEER_NOBODY, 0, sec_alice_run,
	    NULL), SEC_WAIT_MS), 0);
	sec_refused("alice", NULL);
	fd = peer_open(&S, "root-r", NULL, NULL);
	peer_log(fd, "plugin.alice.x", "FORGED by root", 1);
	close(fd);
	peer_await_stat(&S, "alice", "refused", 1);
	peer_await_stat(&S, "alice", "written", 1);
	ck_assert_int_eq(harness_daemon_stop(&S), 0);
	text = harness_plugin_log(&S, "alice");
	ck_assert_uint_eq(harness_count(text, "alice's own"), 1);
	ck_assert_ptr_null(strstr(text, "FORGED"));
	free(text);
}
END_TEST

/*
 * An owned plugin's dotted children are its own (and relogd's own logs no
 * one's to name): a hello naming bank.audit
 * (bound to it, or listing it) without bank's token is refused, or the id
 * not taken; so bank's runner, hosting bank, has its records of
 * plugin.bank.audit in bank.log, not in a bank.audit another made up.
 * With the token, the child is bank's to name.
 */
START_TEST(test_security_owned_children)
{
	static const char *const args[] = {
		"-n", "20", "-l", "plugin.bank.audit", "-a", NULL
	};
	char *text;
	int fd, status;

	sec_start("[plugin.bank]\ntoken = bank-secret-1\n");
	/* relogd's own logs are named by no hello, no logger, no grant. */
	sec_refused("_unrouted", NULL);
	sec_refused("_runtime", NULL);
	fd = peer_open(&S, "forger", NULL, NULL);
	peer_log(fd, "plugin._unrouted", "FORGED into _unrouted", 1);
	close(fd);
	free(peer_relogctl(&S, "grant", "_unrouted", &status));
	ck_assert_int_ne(status, 0);
	sec_refused("bank.audit", NULL);
	sec_refused("bank.audit.deep", "bank-secret-2");
	/* Listed (plugin_ids) without the token: not hosted, not written. */
	ck_assert_int_eq(setenv("RELOG_PLUGIN_IDS", "bank.audit", 1), 0);
	ck_assert_int_eq(harness_wait(harness_runner(&S, "forger-ids", NULL,
	    args, NULL), SEC_WAIT_MS), 0);
	unsetenv("RELOG_PLUGIN_IDS");
	ck_assert_int_eq(setenv("RELOG_TOKEN", "bank-secret-1", 1), 0);
	ck_assert_int_eq(setenv("RELOG_PLUGIN_IDS", "bank", 1), 0);
	ck_assert_int_eq(harness_wait(harness_runner(&S, "bank-r", NULL, args,
	    NULL), SEC_WAIT_MS), 0);
	unsetenv("RELOG_PLUGIN_IDS");
	unsetenv("RELOG_TOKEN");
	fd = peer_open(&S, "bank-r2", "bank.audit", "bank-secret-1");
	close(fd);
	ck_assert_int_eq(harness_daemon_stop(&S), 0);
	text = harness_plugin_log(&S, "bank");
	harness_check_sequence(text, "bank-r", 0, 20);
	free(text);
	ck_assert_ptr_null(harness_plugin_log(&S, "bank.audit"));
	sec_assert_absent("_unrouted", "FORGED into _unrouted");
	ck_assert_uint_eq(sec_count("_runtime", "FORGED into _unrouted"), 1);
	ck_assert_uint_eq(sec_count("_unrouted", "runner=forger-ids "), 20);
	text = harness_read_file(S.stderr_path, NULL);
	ck_assert_ptr_nonnull(strstr(text, "lists plugin bank.audit, owned, "
	    "without its token or uid: not taken"));
	free(text);
}
END_TEST

/*
 * A plugin's file setting is its own: with bank writing bankfile.log, a
 * plugin id bankfile (which would write bankfile.log too) is not made,
 * from a hello (whose runner is then bound to none) or a logger name (its
 * records go to _unrouted); test_config_finish: nor is a section that
 * would.
 */
START_TEST(test_security_file_taken)
{
	char *text;
	int fd;

	sec_start("[plugin.bank]\ntoken = bank-secret-1\n"
	    "file = bankfile.log\n");
	fd = peer_open(&S, "forger", "bankfile", NULL);
	peer_log(fd, "x", "FORGED by hello", 1);
	close(fd);
	fd = peer_open(&S, "forger2", NULL, NULL);
	peer_log(fd, "plugin.bankfile", "FORGED by name", 1);
	close(fd);
	ck_assert_int_eq(sec_token_runner("bank", "bank", "bank-secret-1",
	    "plugin.bank"), 0);
	ck_assert_int_eq(harness_daemon_stop(&S), 0);
	text = harness_plugin_log(&S, "bankfile");
	harness_check_sequence(text, "bank", 0, 100);
	ck_assert_ptr_null(strstr(text, "FORGED"));
	free(text);
	text = harness_read_file(S.stderr_path, NULL);
	ck_assert_ptr_nonnull(strstr(text, "plugin bankfile: its file is "
	    "plugin bank's"));
	free(text);
	/* Bound to no plugin, the hello's runner writes into its home. */
	ck_assert_uint_eq(sec_count("_runtime", "FORGED by hello"), 1);
	ck_assert_uint_eq(sec_count("_unrouted", "FORGED by name"), 1);
}
END_TEST

/*
 * The same once a reload gives another plugin the file of one made before:
 * weather-api, made by a hello, takes no more records when weather's
 * section sets file = weather-api.log, from its old connection or a new
 * one; they go to _unrouted, and weather's to the file.
 */
START_TEST(test_security_file_taken_reload)
{
	static const char *const args[] = {
		"-n", "10", "-l", "plugin.weather", "-a", NULL
	};
	int fd, late;

	sec_start("");
	fd = peer_open(&S, "early", "weather-api", NULL);
	peer_log(fd, "x", "EARLY", 1);
	peer_await_stat(&S, "weather-api", "written", 1);
	sec_reload("[plugin.weather]\nfile = weather-api.log\n");
	peer_log(fd, "x", "FORGED after the reload", 1);
	late = peer_open(&S, "late", "weather-api", NULL);
	peer_log(late, "x", "FORGED by a new hello", 1);
	close(late);
	close(fd);
	ck_assert_int_eq(harness_wait(harness_runner(&S, "weather", "weather",
	    args, NULL), SEC_WAIT_MS), 0);
	ck_assert_int_eq(harness_daemon_stop(&S), 0);
	sec_assert_absent("weather-api", "FORGED");
	ck_assert_uint_eq(sec_count("_unrouted", "FORGED"), 2);
}
END_TEST

/*
 * A reload that gives a plugin a token holds for the connection bound to
 * it before, without it: its next records go to _unrouted.
 */
START_TEST(test_security_owned_by_reload)
{
	int fd;

	sec_start("");
	fd = peer_open(&S, "early", "payroll", NULL);
	peer_log(fd, "x", "before the reload", 1);
	peer_await_stat(&S, "payroll", "written", 1);
	sec_reload("[plugin.payroll]\ntoken = pay-secret-1\n");
	peer_log(fd, "x", "FORGED after the reload", 1);
	close(fd);
	ck_assert_int_eq(harness_daemon_stop(&S), 0);
	ck_assert_uint_eq(sec_count("payroll", "before the reload"), 1);
	sec_assert_absent("payroll", "FORGED");
	ck_assert_uint_eq(sec_count("_unrouted", "FORGED after the reload"),
	    1);
}
END_TEST

/*
 * A config path that became a folder (or a file that cannot be read) is
 * refused on reload, and the old settings stay: it used to read as an
 * empty file, and a plugin's token, so its ownership, was gone.
 */
START_TEST(test_security_config_folder)
{
	char path[512], real[520], *text;
	int fd;

	sec_start("[plugin.payroll]\ntoken = pay-secret-1\n");
	snprintf(path, sizeof path, "%s/relogd.conf", S.dir);
	snprintf(real, sizeof real, "%s.real", path);
	ck_assert_int_eq(rename(path, real), 0);
	ck_assert_int_eq(mkdir(path, 0755), 0);
	ck_assert_int_eq(kill(S.daemon, SIGHUP), 0);
	ck_assert_int_eq(harness_daemon_await(&S, "configuration not "
	    "reloaded, the old one stays: ", 1, SEC_WAIT_MS), 0);
	fd = peer_open(&S, "late", NULL, NULL);
	peer_log(fd, "plugin.payroll", "FORGED by name", 1);
	close(fd);
	ck_assert_int_eq(harness_daemon_stop(&S), 0);
	sec_assert_absent("payroll", "FORGED");
	ck_assert_uint_eq(sec_count("_unrouted", "FORGED by name"), 1);
	text = harness_read_file(S.stderr_path, NULL);
	ck_assert_ptr_nonnull(strstr(text, "relogd.conf: Is a directory"));
	free(text);
	ck_assert_int_eq(rmdir(path), 0);
}
END_TEST

/*
 * One uid cannot use up max_plugins: hellos naming 100 new plugins make
 * three quarters of the 40 at most, and another uid still gets its own;
 * configured plugins are not counted.
 */
static int
sec_nobody_plugin_run(void *arg)
{
	msgpack_sbuffer sb;
	char c;
	int fd = peer_connect(&S, 0);

	(void)arg;
	if (fd < 0)
		return (1);
	msgpack_sbuffer_init(&sb);
	peer_hello(&sb, "nob-r", "nobodys", NULL, NULL);
	if (send(fd, sb.data, sb.size, MSG_NOSIGNAL) != (ssize_t)sb.size ||
	    recv(fd, &c, 1, 0) != 1)
		return (1);
	close(fd);
	return (0);
}

START_TEST(test_security_plugin_slots)
{
	char name[32], *text;
	int fd, i;

	sec_start("max_plugins = 40\n[plugin.cfg]\nlevel = info\n");
	for (i = 0; i < 100; i++) {
		snprintf(name, sizeof name, "squat%d", i);
		fd = peer_open(&S, "squatter", name, NULL);
		close(fd);
	}
	text = peer_stats(&S);
	ck_assert_uint_le(harness_count(text, "{\"plugin\":\"squat"), 30);
	free(text);
	ck_assert_int_eq(harness_wait(peer_as(PEER_NOBODY, 0,
	    sec_nobody_plugin_run, NULL), SEC_WAIT_MS), 0);
	peer_await_count(&S, "{\"plugin\":\"nobodys\",", 1);
	sec_runner("cfg", "plugin.cfg", "10");
	ck_assert_int_eq(harness_daemon_stop(&S), 0);
	text = harness_plugin_log(&S, "cfg");
	harness_check_sequence(text, "cfg", 0, 10);
	free(text);
}
END_TEST

/* A hello of no plugin; exits 0 if relogd refuses it as unauthorized. */
static int
sec_unbound_run(void *arg)
{
	msgpack_sbuffer sb;
	char reply[512];
	ssize_t n;
	int fd = peer_connect(&S, 0);

	(void)arg;
	msgpack_sbuffer_init(&sb);
	peer_hello(&sb, "unbound", NULL, NULL, NULL);
	if (fd < 0 || send(fd, sb.data, sb.size, MSG_NOSIGNAL) !=
	    (ssize_t)sb.size || (n = recv(fd, reply, sizeof reply, 0)) <= 0)
		return (1);
	return (memmem(reply, (size_t)n, RELOG_E_UNAUTHORIZED,
	    strlen(RELOG_E_UNAUTHORIZED)) != NULL ? 0 : 2);
}

/*
 * A Fluent message tagged plugin.byuid; exits 0 if relogd closes the
 * connection without reading it, 1 if it stays open for it.
 */
static int
sec_fluent_run(void *arg)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct pollfd pfd = { .events = POLLIN };
	msgpack_sbuffer sb;
	msgpack_packer pk;
	char c;
	int fd;

	(void)arg;
	if (strlen(S.dir) + sizeof "/fluent.sock" > sizeof sun.sun_path)
		return (3);
	memcpy(sun.sun_path, S.dir, strlen(S.dir));
	memcpy(sun.sun_path + strlen(S.dir), "/fluent.sock",
	    sizeof "/fluent.sock");
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    connect(fd, (struct sockaddr *)&sun, sizeof sun) != 0)
		return (2);
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_array(&pk, 3);
	proto_pack_key(&pk, "plugin.byuid");
	msgpack_pack_uint32(&pk, 1764306519);
	msgpack_pack_map(&pk, 1);
	proto_pack_key(&pk, "message");
	proto_pack_key(&pk, "by uid");
	send(fd, sb.data, sb.size, MSG_NOSIGNAL);
	/* Closed at once, or still open after the message. */
	pfd.fd = fd;
	if (poll(&pfd, 1, 2000) == 1 && recv(fd, &c, 1, 0) <= 0)
		return (0);
	return (1);
}

/*
 * identity = required: a runner that does not bind to an owned plugin is
 * refused (nobody's naming none, root's naming one not owned), one that
 * proves its plugin is not, and relogctl (an admin, no plugin) still
 * reads stats. A Fluent client, with no hello, sends only if its uid has
 * a plugin.
 */
START_TEST(test_security_identity_required)
{
	char conf[512], *text;

	snprintf(conf, sizeof conf, "identity = required\n"
	    "fluent_socket = %s/fluent.sock\n[plugin.own]\n"
	    "token = own-secret\n[plugin.open]\nlevel = info\n"
	    "[plugin.byuid]\nuids = %d\n", S.dir, SEC_STRANGER);
	sec_start(conf);
	ck_assert_int_eq(harness_wait(peer_as(PEER_NOBODY, 0,
	    sec_unbound_run, NULL), SEC_WAIT_MS), 0);
	sec_refused("open", NULL);
	sec_refused("own", "not-its-token");
	ck_assert_int_eq(sec_token_runner("own", "own", "own-secret",
	    "plugin.own"), 0);
	ck_assert_int_eq(peer_stat(&S, "own", "written"), 100);
	/* Fluent: closed for a uid of no plugin, taken from a plugin's. */
	ck_assert_int_eq(harness_wait(peer_as(PEER_NOBODY, 0,
	    sec_fluent_run, NULL), SEC_WAIT_MS), 0);
	ck_assert_int_eq(harness_wait(peer_as(SEC_STRANGER, 0,
	    sec_fluent_run, NULL), SEC_WAIT_MS), 1);
	peer_await_stat(&S, "byuid", "written", 1);
	ck_assert_int_eq(harness_daemon_stop(&S), 0);
	text = harness_read_file(S.stderr_path, NULL);
	ck_assert_uint_eq(harness_count(text, "identity is required"), 3);
	free(text);
}
END_TEST

/* relogctl's exit status with these arguments (NULL-terminated). */
static int
sec_ctl(const char *const *args)
{
	int status;

	free(peer_relogctl_args(&S, args, &status));
	return (status);
}

/*
 * relogctl grant gives a plugin a fresh token, kept (hashed, 0600)
 * across a restart: the plugin is owned from then on, its runner proves it
 * with the token; relogctl revoke ends it, and the plugin is open again.
 */
START_TEST(test_security_grant)
{
	char path[512], *token, *text;
	struct stat st;
	int status;

	sec_start("");
	token = peer_relogctl(&S, "grant", "payroll", &status);
	ck_assert_int_eq(status, 0);
	ck_assert_uint_ge(strlen(token), 33);
	token[strcspn(token, "\n")] = '\0';
	sec_refused("payroll", NULL);
	/* relogctl send and exec without the token: denied (4), at once. */
	ck_assert_int_eq(sec_ctl((const char *const []){ "send", "-p",
	    "payroll", "not mine", NULL }), 4);
	ck_assert_int_eq(sec_ctl((const char *const []){ "exec", "-p",
	    "payroll", "--", "true", NULL }), 4);
	ck_assert_int_eq(harness_daemon_stop(&S), 0);
	snprintf(path, sizeof path, "%s/grants", S.state_dir);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0600);
	text = harness_read_file(path, NULL);
	ck_assert_ptr_null(strstr(text, token));
	free(text);

	sec_start("");
	sec_refused("payroll", "not-the-token");
	ck_assert_int_eq(sec_token_runner("payroll", "payroll", token,
	    "plugin.payroll"), 0);
	free(peer_relogctl(&S, "revoke", "payroll", &status));
	ck_assert_int_eq(status, 0);
	ck_assert_int_eq(peer_stat(&S, "payroll", "owned"), 0);
	ck_assert_int_eq(harness_wait(harness_runner(&S, "open", "payroll",
	    (const char *const []){ "-n", "5", "-a", NULL }, NULL),
	    SEC_WAIT_MS), 0);
	ck_assert_int_eq(peer_stat(&S, "payroll", "written"), 105);
	ck_assert_int_eq(harness_daemon_stop(&S), 0);
	free(token);
}
END_TEST

/* Hellos of nobody with n new instance ids, each answered. */
static int
sec_instances_run(void *arg)
{
	int n = *(int *)arg, i, fd;
	msgpack_sbuffer sb;
	char inst[32], c;

	msgpack_sbuffer_init(&sb);
	for (i = 0; i < n; i++) {
		snprintf(inst, sizeof inst, "evict-%d", i);
		peer_hello(&sb, "evictor", NULL, inst, NULL);
		if ((fd = peer_connect(&S, 0)) < 0 || send(fd, sb.data, sb.size,
		    MSG_NOSIGNAL) != (ssize_t)sb.size || recv(fd, &c, 1, 0) != 1)
			return (1);
		close(fd);
		msgpack_sbuffer_clear(&sb);
	}
	msgpack_sbuffer_destroy(&sb);
	return (0);
}

/*
 * Deduplication slots per uid: 5,000 hellos of nobody with new instance
 * ids evict none of root's, so a batch root's runner sends again after
 * them is known: answered, written once.
 */
START_TEST(test_security_dedup_slots)
{
	msgpack_sbuffer sb;
	int n = 5000, fd, eof;
	char *text;

	sec_start("");
	msgpack_sbuffer_init(&sb);
	fd = harness_connect(&S);
	peer_hello(&sb, "dd", NULL, "inst-a", NULL);
	peer_send(fd, &sb);
	ck_assert_str_eq(wire_reply(fd, 0, &eof), "accepted");
	wire_batch_seq(fd, RELOG_TYPE_REQUEST, "plugin.dd", 10, 1, 0, 65536);
	ck_assert_str_eq(wire_reply(fd, 0, &eof), "written=10");
	close(fd);
	ck_assert_int_eq(harness_wait(peer_as(PEER_NOBODY, 0, sec_instances_run,
	    &n), SEC_WAIT_MS), 0);

	fd = harness_connect(&S);
	peer_hello(&sb, "dd", NULL, "inst-a", NULL);
	peer_send(fd, &sb);
	msgpack_sbuffer_destroy(&sb);
	ck_assert_str_eq(wire_reply(fd, 0, &eof), "accepted");
	wire_batch_seq(fd, RELOG_TYPE_REQUEST, "plugin.dd", 10, 1, 0, 65536);
	/* Known: answered, nothing written again. */
	ck_assert_str_eq(wire_reply(fd, 0, &eof), "written=0");
	close(fd);
	ck_assert_int_eq(harness_daemon_stop(&S), 0);
	text = harness_plugin_log(&S, "dd");
	ck_assert_uint_eq(harness_lines(text), 10);
	free(text);
}
END_TEST

Suite *
suite_security(void)
{
	Suite *s = suite_create("security");
	TCase *tc = tcase_create("peers");

	tcase_add_checked_fixture(tc, sec_setup, sec_teardown);
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_security_dropped_flood);
	tcase_add_test(tc, test_security_refused_uid);
	tcase_add_test(tc, test_security_uid_connections);
	tcase_add_test(tc, test_security_total_memory);
	tcase_add_test(tc, test_security_forged_routes);
	tcase_add_test(tc, test_security_owned_by_uid);
	tcase_add_test(tc, test_security_owned_children);
	tcase_add_test(tc, test_security_file_taken);
	tcase_add_test(tc, test_security_file_taken_reload);
	tcase_add_test(tc, test_security_owned_by_reload);
	tcase_add_test(tc, test_security_config_folder);
	tcase_add_test(tc, test_security_plugin_slots);
	tcase_add_test(tc, test_security_identity_required);
	tcase_add_test(tc, test_security_grant);
	tcase_add_test(tc, test_security_dedup_slots);
	suite_add_tcase(s, tc);
	suite_add_tcase(s, security_files_tcase());
	return (s);
}

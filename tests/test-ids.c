/*
 * Plugin ids as the Python plugin runtime has them (dots and hyphens, three
 * logger names a plugin), found the way PROTOCOL.md's "Which plugin a
 * record belongs to" says: a runner named as the runtime names things
 * gets every plugin into a file of its own, its own records into
 * _runtime.log, and each traceback once.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto.h"
#include "tests.h"

#define IDS_TIMEOUT_MS 60000

static struct harness H;

/* The runtime's four plugins (tests/pyruntime.py). */
static const char *const ids_plugins[] = {
	"maibot-team.hello-world-plugin", "builtin.plugin-management",
	"builtin.emoji-manager", "github.author.plugin",
};

static void
ids_setup(void)
{
	harness_init(&H);
}

static void
ids_teardown(void)
{
	harness_cleanup(&H);
}

/* Run tests/pyruntime.py against relogd, in the given order. */
static void
ids_run_runtime(const char *order)
{
	const char *src = getenv("RELOG_SRC");
	char script[512];
	const char *argv[] = { "/usr/bin/python3", script, H.socket, order,
	    NULL };
	int out;
	pid_t pid;

	snprintf(script, sizeof script, "%s/tests/pyruntime.py",
	    src != NULL ? src : ".");
	pid = harness_spawn(argv, NULL, &out, NULL);
	free(harness_read_fd(out, NULL));
	ck_assert_int_eq(harness_wait(pid, IDS_TIMEOUT_MS), 0);
}

/* How many files the log folder holds. */
static int
ids_files(void)
{
	struct dirent *de;
	DIR *d;
	int n = 0;

	d = opendir(H.log_dir);
	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)) != NULL)
		n += de->d_name[0] != '.';
	closedir(d);
	return (n);
}

/* The file of a plugin holds exactly these lines' worth and needles. */
static char *
ids_log(const char *plugin)
{
	char *text = harness_plugin_log(&H, plugin);

	ck_assert_msg(text != NULL, "no %s.log", plugin);
	return (text);
}

/*
 * One runner hosting four plugins, named as the runtime names them (a
 * uuid runner id, no plugin in the hello, ctx.logger, a child, a module
 * logger; tracebacks in the message and the exception text): each plugin
 * gets its file, with all of its records; the runtime's records go to
 * _runtime.log; nothing goes to a file named after the runner.
 */
START_TEST(test_ids_runtime_runner)
{
	char needle[256], *text;
	size_t i;

	harness_daemon_start(&H, NULL);
	ids_run_runtime("ctx-first");
	ck_assert_int_eq(harness_daemon_stop(&H), 0);

	for (i = 0; i < 4; i++) {
		text = ids_log(ids_plugins[i]);
		/* 6 records, the error's traceback on 3 more lines. */
		ck_assert_uint_eq(harness_lines(text), 9);
		snprintf(needle, sizeof needle, "INFO [plugin.%s] on_load %s\n",
		    ids_plugins[i], ids_plugins[i]);
		ck_assert_ptr_nonnull(strstr(text, needle));
		snprintf(needle, sizeof needle, "INFO [plugin.%s.store] store "
		    "of %s opened\n", ids_plugins[i], ids_plugins[i]);
		ck_assert_ptr_nonnull(strstr(text, needle));
		snprintf(needle, sizeof needle, "] module of %s imported\n",
		    ids_plugins[i]);
		ck_assert_ptr_nonnull(strstr(text, needle));
		snprintf(needle, sizeof needle, "] handled in %s\n",
		    ids_plugins[i]);
		ck_assert_ptr_nonnull(strstr(text, needle));
		snprintf(needle, sizeof needle, "DEBUG [plugin.%s.store.sql] "
		    "query in %s\n", ids_plugins[i], ids_plugins[i]);
		ck_assert_ptr_nonnull(strstr(text, needle));
		/* The traceback once: as the exception text, not the message. */
		snprintf(needle, sizeof needle, "ERROR [plugin.%s] failed in "
		    "%s\n\tTraceback (most recent call last):\n", ids_plugins[i],
		    ids_plugins[i]);
		ck_assert_ptr_nonnull(strstr(text, needle));
		ck_assert_uint_eq(harness_count(text, "Traceback"), 1);
		ck_assert_uint_eq(harness_count(text, "ValueError"), 1);
		free(text);
	}
	text = ids_log("_runtime");
	ck_assert_uint_eq(harness_lines(text), 6);
	ck_assert_uint_eq(harness_count(text, " [plugin_runtime.runner."), 6);
	free(text);
	/* The four plugins and _runtime: no <first segment>.log, no <uuid>. */
	ck_assert_int_eq(ids_files(), 5);
}
END_TEST

/*
 * Before a plugin's id is known, its module loggers' records go to
 * _runtime.log (a mangled id cannot be read back); from its first
 * "plugin.<id>" record on, they go to its file.
 */
START_TEST(test_ids_module_first)
{
	char *text;
	size_t i;

	harness_daemon_start(&H, NULL);
	ids_run_runtime("module-first");
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
	text = ids_log("_runtime");
	ck_assert_uint_eq(harness_count(text, "] module of "), 4);
	ck_assert_uint_eq(harness_count(text, "] handled in "), 0);
	free(text);
	for (i = 0; i < 4; i++) {
		text = ids_log(ids_plugins[i]);
		ck_assert_uint_eq(harness_count(text, "] module of "), 0);
		ck_assert_uint_eq(harness_count(text, "] handled in "), 1);
		ck_assert_uint_eq(harness_lines(text), 8);
		free(text);
	}
	ck_assert_int_eq(ids_files(), 5);
}
END_TEST

/* Pack a hello (wire_send's payload). */
static void
ids_pack_hello(msgpack_packer *pk, void *arg)
{
	proto_pack_hello(pk, arg);
}

/* What ids_pack_batch packs: a record "m<i>" for each logger. */
struct ids_batch {
	const char *const *loggers;
	size_t n;
};

/* Pack a batch of one record for each logger (wire_send's payload). */
static void
ids_pack_batch(msgpack_packer *pk, void *arg)
{
	const struct ids_batch *b = arg;
	struct proto_entry e = { .level = 20,
	    .exception_text = { "", 0 } };
	char msg[32];
	size_t i;

	proto_pack_batch_head(pk, (uint32_t)b->n, 0, 0);
	for (i = 0; i < b->n; i++) {
		snprintf(msg, sizeof msg, "m%zu", i);
		e.timestamp_ms = 1764306519000 + (int64_t)i;
		e.logger_name = proto_cstr(b->loggers[i]);
		e.message = proto_cstr(msg);
		proto_pack_entry(pk, &e);
	}
}

/* Pack a batch of the one entry arg (wire_send's payload). */
static void
ids_pack_entry(msgpack_packer *pk, void *arg)
{
	proto_pack_batch_head(pk, 1, 0, 0);
	proto_pack_entry(pk, arg);
}

/*
 * Say hello as a runner hosting these plugins (plugin_ids, or none) and
 * bound to none.
 */
static int
ids_hello(const char *const *hosted, size_t n)
{
	struct proto_str ids[4];
	struct proto_hello hello = {
		.runner_id = proto_cstr("a6f2e0b4-1c57-4c0e-9d43-2c1d5e8f7a10"),
		.sdk_version = proto_cstr("2.0.0"),
		.session_token = proto_cstr(""),
		.plugin_ids = ids,
		.nplugin_ids = (uint32_t)n,
	};
	struct proto_header hd;
	size_t i;
	int fd;

	for (i = 0; i < n; i++)
		ids[i] = proto_cstr(hosted[i]);
	fd = harness_connect(&H);
	wire_begin(&hd, RELOG_TYPE_REQUEST, 1, RELOG_METHOD_HELLO);
	wire_send(fd, &hd, ids_pack_hello, &hello, 65536);
	ck_assert_str_eq(wire_reply(fd, 0, NULL), "accepted");
	return (fd);
}

/* Send one batch request, a record "m<i>" for each logger; it is answered. */
static void
ids_send(int fd, const char *const *loggers, size_t n)
{
	struct ids_batch b = { loggers, n };
	struct proto_header hd;

	wire_begin(&hd, RELOG_TYPE_REQUEST, 7, RELOG_METHOD_LOG_BATCH);
	wire_send(fd, &hd, ids_pack_batch, &b, 65536);
	ck_assert_str_ne(wire_reply(fd, 0, NULL), "none");
}

/* Does a plugin's file hold this line's end? */
static int
ids_has(const char *plugin, const char *needle)
{
	char *text = harness_plugin_log(&H, plugin);
	int found = text != NULL && strstr(text, needle) != NULL;

	free(text);
	return (found);
}

/*
 * A child logger that speaks before its plugin's ctx.logger names a file
 * of its own; once the shorter id is learned, the child's records go to
 * the plugin, and a plugin whose module logger spoke first is learned by
 * its mangled form.
 */
START_TEST(test_ids_learning)
{
	static const char *const first[] = {
		"plugin.acme.tools.store", "_maibot_plugin_acme_web.views",
		"plugin.acme-web.api",
	};
	static const char *const then[] = {
		"plugin.acme.tools", "plugin.acme.tools.store",
		"_maibot_plugin_acme_web.views", "plugin.acme.tools.store.db",
	};
	int fd;

	harness_daemon_start(&H, NULL);
	fd = ids_hello(NULL, 0);
	ids_send(fd, first, 3);
	ids_send(fd, then, 4);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
	close(fd);
	/* Before acme.tools was known, its child named a file. */
	ck_assert(ids_has("acme.tools.store", "[plugin.acme.tools.store] m0\n"));
	/* acme-web: "acme_web" was seen, so acme-web.api taught acme-web. */
	ck_assert(ids_has("_runtime", "[_maibot_plugin_acme_web.views] m1\n"));
	ck_assert(ids_has("acme-web", "[plugin.acme-web.api] m2\n"));
	ck_assert(ids_has("acme-web", "[_maibot_plugin_acme_web.views] m2\n"));
	/* Then acme.tools, and its children, retired as ids. */
	ck_assert(ids_has("acme.tools", "[plugin.acme.tools] m0\n"));
	ck_assert(ids_has("acme.tools", "[plugin.acme.tools.store] m1\n"));
	ck_assert(ids_has("acme.tools", "[plugin.acme.tools.store.db] m3\n"));
	ck_assert(!ids_has("acme.tools.store", "] m1\n"));
	ck_assert_int_eq(harness_daemon_await(&H, "plugin acme.tools.store: "
	    "learned as an id, now taken as a logger of plugin acme.tools", 1,
	    IDS_TIMEOUT_MS), 0);
}
END_TEST

/*
 * Declared ids (a config section; a hello's plugin_ids, sent by librelog
 * from RELOG_PLUGIN_IDS) are right from the first record: a child before
 * its plugin, a module logger before anything.
 */
START_TEST(test_ids_declared)
{
	char env[4][340];
	const char *envp[] = { env[0], env[1], env[2], env[3], NULL };
	const char *runner[] = { harness_build_path("test-runner"), "-n", "5",
	    "-l", "_maibot_plugin_team_b_tool.core", NULL };
	static const char *const child[] = { "plugin.team.a.x.y" };
	const char *argv[] = { "--config", NULL, NULL };
	int fd;

	argv[1] = harness_config(&H, "[plugin.team.a]\nlevel = debug\n");
	harness_daemon_start(&H, argv);
	fd = ids_hello(NULL, 0);
	ids_send(fd, child, 1);
	close(fd);
	snprintf(env[0], sizeof env[0], "RELOG_SOCKET=%s", H.socket);
	snprintf(env[1], sizeof env[1], "RELOG_RUNNER_ID=r1");
	snprintf(env[2], sizeof env[2], "RELOG_PLUGIN_IDS=team.b-tool, x-y");
	snprintf(env[3], sizeof env[3], "RELOG_PLUGIN=");
	ck_assert_int_eq(harness_wait(harness_spawn(runner, envp, NULL, NULL),
	    IDS_TIMEOUT_MS), 0);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
	ck_assert(ids_has("team.a", "[plugin.team.a.x.y] m0\n"));
	ck_assert(ids_has("team.b-tool", "[_maibot_plugin_team_b_tool.core] "
	    "runner=r1 thread=0 seq=4\n"));
	ck_assert_ptr_null(harness_plugin_log(&H, "_runtime"));
	ck_assert_ptr_null(harness_plugin_log(&H, "team.a.x.y"));
}
END_TEST

/*
 * Two known ids that mangle alike: a module logger is the connection's
 * own plugin's when its hello listed one of them, else it goes to
 * _runtime.log, said once.
 */
START_TEST(test_ids_mangled_alike)
{
	static const char *const hosted[] = { "a-b" };
	static const char *const module[] = { "_maibot_plugin_a_b.m" };
	const char *argv[] = { "--config", NULL, NULL };
	char *text;
	int fd;

	argv[1] = harness_config(&H, "[plugin.a.b]\n[plugin.a-b]\n");
	harness_daemon_start(&H, argv);
	fd = ids_hello(hosted, 1);
	ids_send(fd, module, 1);
	close(fd);
	fd = ids_hello(NULL, 0);
	ids_send(fd, module, 1);
	ids_send(fd, module, 1);
	close(fd);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
	ck_assert(ids_has("a-b", "[_maibot_plugin_a_b.m] m0\n"));
	text = harness_plugin_log(&H, "a.b");
	ck_assert_msg(text == NULL, "a.b.log: %s", text);
	ck_assert(ids_has("_runtime", "[_maibot_plugin_a_b.m] m0\n"));
	ck_assert_int_eq(harness_daemon_await(&H, "plugins have ids that "
	    "read a_b", 1, IDS_TIMEOUT_MS), 0);
	ck_assert_int_eq(harness_daemon_await(&H, "plugins have ids that "
	    "read a_b", 2, 0), -1);
}
END_TEST

/* How many lines of a plugin's file end so. */
static size_t
ids_count(const char *plugin, const char *needle)
{
	char *text = harness_plugin_log(&H, plugin);
	size_t n = harness_count(text, needle);

	free(text);
	return (n);
}

/*
 * A logger's records follow its route as the ids change: learned from
 * "plugin.kit.web.api", the id kit.web.api retires when another runner's
 * hello declares kit.web, and the same connection's next record of that
 * logger goes to kit.web (relogd remembers each connection's last route,
 * never past such a change).
 */
START_TEST(test_ids_route_changes)
{
	static const char *const hosted[] = { "kit.web" };
	static const char *const api[] = { "plugin.kit.web.api" };
	int fd, other;

	harness_daemon_start(&H, NULL);
	fd = ids_hello(NULL, 0);
	ids_send(fd, api, 1);
	ids_send(fd, api, 1);
	other = ids_hello(hosted, 1);
	ids_send(fd, api, 1);
	ids_send(fd, api, 1);
	close(other);
	close(fd);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
	ck_assert_uint_eq(ids_count("kit.web.api", "[plugin.kit.web.api] m0\n"),
	    2);
	ck_assert_uint_eq(ids_count("kit.web", "[plugin.kit.web.api] m0\n"), 2);
}
END_TEST

/*
 * A grant between two records of one logger: the first goes to the plugin,
 * the second, from a connection that does not prove the plugin now owned,
 * to _unrouted (the route remembered for the logger does not outlive it).
 */
START_TEST(test_ids_route_granted)
{
	static const char *const pay[] = { "plugin.payroll" };
	int fd, status;

	harness_daemon_start(&H, NULL);
	fd = ids_hello(NULL, 0);
	ids_send(fd, pay, 1);
	ids_send(fd, pay, 1);
	free(peer_relogctl(&H, "grant", "payroll", &status));
	ck_assert_int_eq(status, 0);
	ids_send(fd, pay, 1);
	close(fd);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
	ck_assert_uint_eq(ids_count("payroll", "[plugin.payroll] m0\n"), 2);
	ck_assert_uint_eq(ids_count("_unrouted", "[plugin.payroll] m0\n"), 1);
}
END_TEST

/*
 * A grant holds for the connections that named the plugin before it too:
 * one bound to it by its hello, one hosting it (plugin_ids), neither with
 * the token. Their next records go to _unrouted, as a new connection's
 * would; what they named was not a proof.
 */
START_TEST(test_ids_route_granted_named)
{
	static const char *const pay[] = { "plugin.payroll" };
	static const char *const hosted[] = { "payroll" };
	int bound, host, status, eof;

	harness_daemon_start(&H, NULL);
	bound = harness_connect(&H);
	wire_hello(bound, "bound-r", "payroll", 4096);
	ck_assert_str_eq(wire_reply(bound, 0, &eof), "accepted");
	host = ids_hello(hosted, 1);
	ids_send(bound, pay, 1);
	ids_send(host, pay, 1);
	free(peer_relogctl(&H, "grant", "payroll", &status));
	ck_assert_int_eq(status, 0);
	ids_send(bound, pay, 1);
	ids_send(host, pay, 1);
	close(bound);
	close(host);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
	ck_assert_uint_eq(ids_count("payroll", "[plugin.payroll] m0\n"), 2);
	ck_assert_uint_eq(ids_count("_unrouted", "[plugin.payroll] m0\n"), 2);
}
END_TEST

/* Learned ids are loggers like any: past max_plugins, _unrouted. */
START_TEST(test_ids_learned_bounded)
{
	static const char *const loggers[] = {
		"plugin.x.one", "plugin.x.two", "plugin.x.three",
	};
	const char *argv[] = { "--config", NULL, NULL };
	int fd;

	argv[1] = harness_config(&H, "[relogd]\nmax_plugins = 2\n");
	harness_daemon_start(&H, argv);
	fd = ids_hello(NULL, 0);
	ids_send(fd, loggers, 3);
	close(fd);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
	ck_assert(ids_has("x.one", "] m0\n"));
	ck_assert(ids_has("x.two", "] m1\n"));
	ck_assert_ptr_null(harness_plugin_log(&H, "x.three"));
	ck_assert(ids_has("_unrouted", "[plugin.x.three] m2\n"));
}
END_TEST

/*
 * A traceback in the message and the exception text is written once, in
 * the file, the JSON file and on stderr.
 */
START_TEST(test_ids_traceback_once)
{
	struct proto_entry e = {
		.timestamp_ms = 1764306519000, .level = 40,
		.logger_name = proto_cstr("plugin.tb"),
		.message = proto_cstr("failed\nTraceback (most recent call "
		    "last):\nValueError: x\n"),
		.exception_text = proto_cstr("Traceback (most recent call "
		    "last):\nValueError: x"),
	};
	const char *argv[] = { "--config", NULL, "--stderr", NULL };
	struct proto_header hd;
	char path[400], *text;
	int fd;

	argv[1] = harness_config(&H, "[plugin.tb]\nsinks = file, json, "
	    "stderr\n");
	harness_daemon_start(&H, argv);
	fd = ids_hello(NULL, 0);
	wire_begin(&hd, RELOG_TYPE_REQUEST, 3, RELOG_METHOD_LOG_BATCH);
	wire_send(fd, &hd, ids_pack_entry, &e, 65536);
	ck_assert_str_eq(wire_reply(fd, 0, NULL), "written=1");
	close(fd);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
	text = ids_log("tb");
	ck_assert_ptr_nonnull(strstr(text, " ERROR [plugin.tb] failed\n"
	    "\tTraceback (most recent call last):\n\tValueError: x\n"));
	ck_assert_uint_eq(harness_count(text, "ValueError"), 1);
	free(text);
	snprintf(path, sizeof path, "%s/tb.json", H.log_dir);
	text = harness_read_file(path, NULL);
	ck_assert_ptr_nonnull(text);
	ck_assert_ptr_nonnull(strstr(text, "\"message\":\"failed\","));
	ck_assert_uint_eq(harness_count(text, "ValueError"), 1);
	free(text);
	text = harness_read_file(H.stderr_path, NULL);
	ck_assert_uint_eq(harness_count(text, "ValueError"), 1);
	free(text);
}
END_TEST

Suite *
suite_ids(void)
{
	Suite *s = suite_create("ids");
	TCase *tc = tcase_create("ids");

	tcase_add_checked_fixture(tc, ids_setup, ids_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_ids_runtime_runner);
	tcase_add_test(tc, test_ids_module_first);
	tcase_add_test(tc, test_ids_learning);
	tcase_add_test(tc, test_ids_declared);
	tcase_add_test(tc, test_ids_mangled_alike);
	tcase_add_test(tc, test_ids_learned_bounded);
	tcase_add_test(tc, test_ids_route_changes);
	tcase_add_test(tc, test_ids_route_granted);
	tcase_add_test(tc, test_ids_route_granted_named);
	tcase_add_test(tc, test_ids_traceback_once);
	suite_add_tcase(s, tc);
	return (s);
}

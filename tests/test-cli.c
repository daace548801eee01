/*
 * relogctl's command line: --help and --version on stdout with status 0,
 * usage errors that say what is wrong (status 2), a socket path that is
 * not a socket apart from relogd not running, exec of a command that
 * cannot start, and tail -f across relogd restarts.
 */
#include <sys/stat.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests.h"

#define CLI_TIMEOUT_MS 60000

static struct harness H;

static void
cli_setup(void)
{
	harness_init(&H);
}

static void
cli_teardown(void)
{
	harness_cleanup(&H);
}

/* Run relogctl with args (NULL-terminated) to its end. */
static void
cli_run(const char *const *args, struct capture *c)
{
	const char *argv[24];
	size_t n = 0, i;

	argv[n++] = harness_build_path("relogctl");
	for (i = 0; args[i] != NULL && n < 23; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	capture_run(argv, NULL, 0, c, CLI_TIMEOUT_MS);
}

/* --help, COMMAND --help and --version: stdout, status 0. */
START_TEST(test_cli_help_version)
{
	static const char *const help[] = { "--help", NULL };
	static const char *const h[] = { "-h", NULL };
	static const char *const show[] = { "show", "--help", NULL };
	static const char *const version[] = { "--version", NULL };
	struct capture c;

	cli_run(help, &c);
	ck_assert_int_eq(c.status, 0);
	ck_assert_str_eq(c.err, "");
	ck_assert_ptr_eq(strstr(c.out, "usage: relogctl [-s SOCKET] COMMAND"),
	    c.out);
	ck_assert_ptr_nonnull(strstr(c.out, "\n  show [-p PLUGIN]... "));
	ck_assert_ptr_nonnull(strstr(c.out, "exit status: 0, 1 failed, "
	    "2 usage, 3 relogd not running, 4 denied\n"));
	capture_free(&c);
	cli_run(h, &c);
	ck_assert_int_eq(c.status, 0);
	ck_assert_ptr_eq(strstr(c.out, "usage: relogctl"), c.out);
	capture_free(&c);
	cli_run(show, &c);
	ck_assert_int_eq(c.status, 0);
	ck_assert_str_eq(c.err, "");
	ck_assert_ptr_eq(strstr(c.out, "usage: relogctl [-s SOCKET] show "),
	    c.out);
	ck_assert_ptr_nonnull(strstr(c.out, "  --since TIME "));
	capture_free(&c);
	cli_run(version, &c);
	ck_assert_int_eq(c.status, 0);
	ck_assert_str_eq(c.out, "relogctl 0.1.0 (protocol 1.0.0)\n");
	ck_assert_str_eq(c.err, "");
	capture_free(&c);
}
END_TEST

/* Each usage error says what is wrong, then the usage; status 2. */
START_TEST(test_cli_usage_errors)
{
	static const struct {
		const char *args[10];
		const char *says;
	} cases[] = {
		{ { NULL }, "relogctl: no command given\n" },
		{ { "frob", NULL }, "relogctl: frob: unknown command\n" },
		{ { "-x", "stats", NULL }, "relogctl: unknown option -x\n" },
		{ { "--bogus", NULL }, "relogctl: unknown option --bogus\n" },
		{ { "stats", "-o", "yaml", NULL },
		    "relogctl: stats: -o yaml: not text, json or "
		    "prometheus\n" },
		{ { "stats", "extra", NULL },
		    "relogctl: stats: extra: stats takes no arguments\n" },
		{ { "tail", "-n", NULL },
		    "relogctl: tail: -n needs an argument\n" },
		{ { "tail", "-n", "999", NULL },
		    "relogctl: tail: -n takes 0 to 256 lines\n" },
		{ { "send", "hello", NULL },
		    "relogctl: send: -p PLUGIN is missing" },
		{ { "send", "-p", "a", "-p", "b", "m", NULL },
		    "relogctl: send: -p given twice" },
		{ { "send", "-p", "../x", "m", NULL },
		    "relogctl: send: -p ../x: not a plugin id" },
		{ { "send", "-p", "x", "-l", "loud", "m", NULL },
		    "relogctl: send: -l loud: not a level" },
		{ { "exec", "-p", "x", NULL },
		    "relogctl: exec: COMMAND is missing" },
		{ { "exec", "-p", "x", "-l", "error", "--", "true", NULL },
		    "relogctl: exec: unknown option -l\n" },
		{ { "show", "--since", "soon", NULL },
		    "relogctl: show: --since soon: not a time" },
	};
	struct capture c;
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		cli_run(cases[i].args, &c);
		ck_assert_msg(c.status == 2, "%s: status %d", cases[i].says,
		    c.status);
		ck_assert_str_eq(c.out, "");
		ck_assert_msg(strstr(c.err, cases[i].says) == c.err,
		    "wanted \"%s\", got: %s", cases[i].says, c.err);
		ck_assert_msg(strstr(c.err, "\nusage: relogctl") != NULL,
		    "no usage after: %s", c.err);
		capture_free(&c);
	}
}
END_TEST

/*
 * A socket path that is some other file: "not a socket", status 1; one
 * that is not there: "not running", status 3.
 */
START_TEST(test_cli_not_a_socket)
{
	const char *stats[] = { "-s", H.socket, "stats", NULL };
	struct capture c;
	char want[512];

	harness_write_file(H.socket, "a plain file\n");
	cli_run(stats, &c);
	ck_assert_int_eq(c.status, 1);
	snprintf(want, sizeof want, "relogctl: %s is not a socket\n",
	    H.socket);
	ck_assert_str_eq(c.err, want);
	capture_free(&c);
	ck_assert_int_eq(unlink(H.socket), 0);
	ck_assert_int_eq(mkdir(H.socket, 0755), 0);
	cli_run(stats, &c);
	ck_assert_int_eq(c.status, 1);
	ck_assert_str_eq(c.err, want);
	capture_free(&c);
	ck_assert_int_eq(rmdir(H.socket), 0);
	cli_run(stats, &c);
	ck_assert_int_eq(c.status, 3);
	snprintf(want, sizeof want, "relogctl: relogd is not running at %s\n",
	    H.socket);
	ck_assert_str_eq(c.err, want);
	capture_free(&c);
}
END_TEST

/*
 * exec of a command that cannot start: why, on stderr and as a record;
 * status 127.
 */
START_TEST(test_cli_exec_missing)
{
	const char *args[] = { "-s", H.socket, "exec", "-p", "cx", "--",
	    "/nonexistent/tool", "--flag", NULL };
	struct capture c;
	char *log;

	harness_daemon_start(&H, NULL);
	cli_run(args, &c);
	ck_assert_int_eq(c.status, 127);
	ck_assert_str_eq(c.err, "relogctl: cannot run /nonexistent/tool: "
	    "No such file or directory\n");
	ck_assert_str_eq(c.out, "");
	capture_free(&c);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
	log = harness_plugin_log(&H, "cx");
	ck_assert_ptr_nonnull(strstr(log, " WARNING [plugin.cx] relogctl: "
	    "/nonexistent/tool: No such file or directory\n"));
	free(log);
}
END_TEST

/* relogctl send a record to plugin tr; it must succeed. */
static void
cli_send(const char *msg)
{
	const char *args[] = { "-s", H.socket, "send", "-p", "tr", msg, NULL };
	struct capture c;

	cli_run(args, &c);
	ck_assert_msg(c.status == 0, "send: %d %s", c.status, c.err);
	capture_free(&c);
}

/* Stop a tail -f and relogd, and let go of what the tail printed. */
static void
cli_tail_end(pid_t pid, int ofd, int efd, char *out, char *err)
{
	kill(pid, SIGTERM);
	harness_wait(pid, CLI_TIMEOUT_MS);
	close(ofd);
	close(efd);
	free(out);
	free(err);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
}

/*
 * tail -f outlives relogd: when relogd stops it says so on stderr, once
 * per disconnect, connects again once relogd is back, and shows what
 * comes then.
 */
START_TEST(test_cli_tail_restart)
{
	const char *argv[] = { harness_build_path("relogctl"), "-s", H.socket,
	    "tail", "-f", "-n", "5", "-p", "tr", NULL };
	char *out = NULL, *err = NULL;
	int ofd, efd;
	pid_t pid;

	harness_daemon_start(&H, NULL);
	cli_send("before");
	pid = capture_spawn(argv, NULL, &ofd, &efd);
	capture_await(ofd, &out, "] before\n", 1, CLI_TIMEOUT_MS);

	ck_assert_int_eq(harness_daemon_stop(&H), 0);
	capture_await(efd, &err, "relogctl: relogd closed the connection; "
	    "reconnecting to ", 1, CLI_TIMEOUT_MS);
	harness_daemon_start(&H, NULL);
	capture_await(efd, &err, "relogctl: reconnected to ", 1,
	    CLI_TIMEOUT_MS);
	cli_send("after the first restart");
	capture_await(ofd, &out, "] after the first restart\n", 1,
	    CLI_TIMEOUT_MS);

	ck_assert_int_eq(harness_daemon_stop(&H), 0);
	capture_await(efd, &err, "reconnecting to ", 2, CLI_TIMEOUT_MS);
	/* Not before relogd is back, whatever the retries meanwhile. */
	harness_daemon_start(&H, NULL);
	capture_await(efd, &err, "reconnected to ", 2, CLI_TIMEOUT_MS);
	cli_send("after the second restart");
	capture_await(ofd, &out, "] after the second restart\n", 1,
	    CLI_TIMEOUT_MS);

	ck_assert_uint_eq(harness_count(err, "reconnecting"), 2);
	ck_assert_uint_eq(harness_count(err, "\n"), 4);
	ck_assert_uint_eq(harness_count(out, "] before\n"), 1);
	ck_assert_ptr_nonnull(strstr(out, "tr: "));
	cli_tail_end(pid, ofd, efd, out, err);
}
END_TEST

/*
 * tail -f, away while relogd restarted (stopped, so that what the new
 * relogd writes meanwhile is in its replay): it shows what it had not,
 * whatever the records' own times (these from 2025: it used to skip a
 * replayed record not newer than the newest it had shown).
 */
START_TEST(test_cli_tail_away)
{
	const char *argv[] = { harness_build_path("relogctl"), "-s", H.socket,
	    "tail", "-f", "-n", "5", "-p", "tr", NULL };
	char *out = NULL, *err = NULL;
	int ofd, efd, fd;
	pid_t pid;

	harness_daemon_start(&H, NULL);
	cli_send("before");
	pid = capture_spawn(argv, NULL, &ofd, &efd);
	capture_await(ofd, &out, "] before\n", 1, CLI_TIMEOUT_MS);
	ck_assert_int_eq(kill(pid, SIGSTOP), 0);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
	harness_daemon_start(&H, NULL);
	fd = wire_open(&H, "old-times");
	wire_batch_seq(fd, RELOG_TYPE_REQUEST, "plugin.tr", 3, 0, 0, 65536);
	ck_assert_str_eq(wire_reply(fd, 0, NULL), "written=3");
	close(fd);
	cli_send("while away");
	ck_assert_int_eq(kill(pid, SIGCONT), 0);
	capture_await(ofd, &out, "] while away\n", 1, CLI_TIMEOUT_MS);
	ck_assert_uint_eq(harness_count(out, "] raw seq="), 3);
	ck_assert_uint_eq(harness_count(out, "] before\n"), 1);
	cli_tail_end(pid, ofd, efd, out, err);
}
END_TEST

Suite *
suite_cli(void)
{
	Suite *s = suite_create("cli");
	TCase *tc = tcase_create("cli");

	tcase_add_checked_fixture(tc, cli_setup, cli_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_cli_help_version);
	tcase_add_test(tc, test_cli_usage_errors);
	tcase_add_test(tc, test_cli_not_a_socket);
	tcase_add_test(tc, test_cli_exec_missing);
	tcase_add_test(tc, test_cli_tail_restart);
	tcase_add_test(tc, test_cli_tail_away);
	suite_add_tcase(s, tc);
	return (s);
}

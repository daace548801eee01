/*
 * relogctl against a real relogd: send and exec log like runners; stats,
 * tail and reopen are admin methods; errors have their own exit status.
 */
#include <sys/stat.h>
#include <sys/wait.h>

#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests.h"

#define CTL_TIMEOUT_MS 60000

static struct harness H;

static void
ctl_setup(void)
{
	harness_init(&H);
}

static void
ctl_teardown(void)
{
	harness_cleanup(&H);
}

/* Start relogctl with these arguments; *out reads its output. */
static pid_t
ctl_start(const char *const *args, int *out, int *in)
{
	const char *argv[24];
	size_t n = 0, i;

	argv[n++] = harness_build_path("relogctl");
	argv[n++] = "-s";
	argv[n++] = H.socket;
	for (i = 0; args[i] != NULL && n < 23; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	return (harness_spawn(argv, NULL, out, in));
}

/* Run relogctl to its end: its exit status, and its output in *text. */
static int
ctl_run(const char *const *args, char **text)
{
	int out, status;
	pid_t pid;
	char *s;

	pid = ctl_start(args, &out, NULL);
	s = harness_read_fd(out, NULL);
	status = harness_wait(pid, CTL_TIMEOUT_MS);
	if (text != NULL)
		*text = s;
	else
		free(s);
	return (status);
}

/* send: its arguments as one record, or stdin a line each. */
START_TEST(test_ctl_send)
{
	static const char *const one[] = {
		"send", "-p", "cs", "-l", "error", "disk", "is", "full", NULL
	};
	static const char *const lines[] = {
		"send", "-p", "cs", "-n", "plugin.cs.cron", NULL
	};
	char *text;
	pid_t pid;
	int in, out;

	harness_daemon_start(&H, NULL);
	ck_assert_int_eq(ctl_run(one, NULL), 0);
	pid = ctl_start(lines, &out, &in);
	ck_assert_int_eq(write(in, "first\nsecond\nno newline", 23), 23);
	close(in);
	free(harness_read_fd(out, NULL));
	ck_assert_int_eq(harness_wait(pid, CTL_TIMEOUT_MS), 0);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
	text = harness_plugin_log(&H, "cs");
	ck_assert_ptr_nonnull(strstr(text, " ERROR [plugin.cs] disk is full\n"));
	ck_assert_ptr_nonnull(strstr(text, " INFO [plugin.cs.cron] first\n"));
	ck_assert_ptr_nonnull(strstr(text, " INFO [plugin.cs.cron] second\n"));
	ck_assert_ptr_nonnull(strstr(text, " INFO [plugin.cs.cron] no "
	    "newline\n"));
	free(text);
}
END_TEST

/* exec: stdout as INFO, stderr as WARNING, and the command's status. */
START_TEST(test_ctl_exec)
{
	static const char *const args[] = {
		"exec", "-p", "ce", "--", "/bin/sh", "-c",
		"echo to stdout; echo to stderr >&2; echo again; exit 7", NULL
	};
	char *text;

	harness_daemon_start(&H, NULL);
	ck_assert_int_eq(ctl_run(args, NULL), 7);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
	text = harness_plugin_log(&H, "ce");
	ck_assert_ptr_nonnull(strstr(text, " INFO [plugin.ce] to stdout\n"));
	ck_assert_ptr_nonnull(strstr(text, " WARNING [plugin.ce] to stderr\n"));
	ck_assert_ptr_nonnull(strstr(text, " INFO [plugin.ce] again\n"));
	free(text);
}
END_TEST

/*
 * exec of a command that writes faster than relogd takes: it is held up,
 * not cut, and every line arrives, in order (the ring of 4,096 dropped the
 * oldest, and exec still exited 0).
 */
START_TEST(test_ctl_exec_fast)
{
	static const char *const args[] = {
		"exec", "-p", "cf", "--", "seq", "1", "100000", NULL
	};
	static const char *const dargs[] = { "--rate-limit", "off", NULL };
	char *text, want[32];
	const char *p;
	long i;

	harness_daemon_start(&H, dargs);
	ck_assert_int_eq(ctl_run(args, NULL), 0);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
	text = harness_plugin_log(&H, "cf");
	ck_assert_uint_eq(harness_lines(text), 100000);
	for (i = 1, p = text; i <= 100000; i++, p++) {
		snprintf(want, sizeof want, " INFO [plugin.cf] %ld\n", i);
		p = harness_find(p, want);
		ck_assert_msg(p != NULL, "line %ld missing or out of order", i);
	}
	free(text);
}
END_TEST

/* The length of the first line's text that is a run of c (after "] "). */
static size_t
ctl_run_of(const char *text, char c)
{
	char head[] = "] x";
	const char *p;

	head[2] = c;
	ck_assert_ptr_nonnull(p = strstr(text, head));
	p += 2;
	ck_assert_int_eq(p[strspn(p, head + 2)], '\n');
	return (strspn(p, head + 2));
}

/*
 * Bytes a record's text cannot hold as they came: a NUL (send and exec),
 * logged as relogd writes any control byte; and a line cut at 64 KiB in
 * the middle of a character, which is cut before it instead.
 */
START_TEST(test_ctl_send_bytes)
{
	static const char *const send[] = { "send", "-p", "cb", NULL };
	static const char *const args[] = {
		"exec", "-p", "cb", "--", "/bin/sh", "-c",
		"printf 'one\\000two\\n'; "
		"head -c 65535 /dev/zero | tr '\\000' x; "
		"printf '\\303\\251 after the cut\\n'", NULL
	};
	char *text, *p, *input;
	size_t long_len, done;
	ssize_t n;
	pid_t pid;
	int in, out;

	/*
	 * Past what a record holds, a line goes in pieces, a NUL counted as
	 * the 4 bytes it is logged as: 65,534 z and a NUL are 65,538 bytes.
	 */
	long_len = 6 + 65534 + 5 + 70001;
	ck_assert_ptr_nonnull(input = malloc(long_len));
	memcpy(input, "a\0b\n\0\n", 6);
	memset(input + 6, 'z', 65534);
	memcpy(input + 6 + 65534, "\0end\n", 5);
	memset(input + 6 + 65534 + 5, 'w', 70000);
	input[long_len - 1] = '\n';
	harness_daemon_start(&H, NULL);
	pid = ctl_start(send, &out, &in);
	for (done = 0; done < long_len; done += (size_t)n)
		ck_assert_int_gt(n = write(in, input + done, long_len - done), 0);
	free(input);
	close(in);
	free(harness_read_fd(out, NULL));
	ck_assert_int_eq(harness_wait(pid, CTL_TIMEOUT_MS), 0);
	ck_assert_int_eq(ctl_run(args, NULL), 0);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
	text = harness_plugin_log(&H, "cb");
	ck_assert_ptr_nonnull(strstr(text, " INFO [plugin.cb] a\\x00b\n"));
	ck_assert_ptr_nonnull(strstr(text, " INFO [plugin.cb] \\x00\n"));
	ck_assert_ptr_nonnull(strstr(text, " INFO [plugin.cb] one\\x00two\n"));
	ck_assert_uint_eq(ctl_run_of(text, 'z'), 65534);
	ck_assert_ptr_nonnull(strstr(text, " INFO [plugin.cb] \\x00end\n"));
	ck_assert_uint_eq(ctl_run_of(text, 'w'), 65536);
	ck_assert_uint_eq(ctl_run_of(strstr(text, "ww\n") + 3, 'w'), 4464);
	/* 65,535 x, then the whole character on the next line. */
	p = strstr(text, " INFO [plugin.cb] xxxxxxxx");
	ck_assert_ptr_nonnull(p);
	p += strlen(" INFO [plugin.cb] ");
	ck_assert_uint_eq(strspn(p, "x"), 65535);
	ck_assert_int_eq(p[65535], '\n');
	ck_assert_ptr_nonnull(strstr(p, " INFO [plugin.cb] \xc3\xa9 after the "
	    "cut\n"));
	ck_assert_ptr_null(strstr(p, "\\x"));
	free(text);
}
END_TEST

/* stats: connections and per-plugin counters, as a table or JSON. */
START_TEST(test_ctl_stats)
{
	static const char *const runner[] = {
		"-n", "120", "-l", "plugin.st", NULL
	};
	static const char *const stats[] = { "stats", NULL };
	static const char *const json[] = { "stats", "--json", NULL };
	char *text;

	harness_daemon_start(&H, NULL);
	ck_assert_int_eq(harness_wait(harness_runner(&H, "str", NULL, runner,
	    NULL), CTL_TIMEOUT_MS), 0);
	ck_assert_int_eq(ctl_run(stats, &text), 0);
	ck_assert_ptr_nonnull(strstr(text, "relogd 0.1.0, up "));
	ck_assert_ptr_nonnull(strstr(text, "connections: 1, input held: "));
	ck_assert_ptr_nonnull(strstr(text, "st                              "
	    "120        120          0          0"));
	ck_assert_ptr_nonnull(strstr(text, " relogctl-"));
	free(text);
	ck_assert_int_eq(ctl_run(json, &text), 0);
	ck_assert_ptr_nonnull(strstr(text, "{\"plugin\":\"st\",\"received\":120,"
	    "\"written\":120,\"dropped_by_runners\":0,\"suppressed\":0,"));
	free(text);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
}
END_TEST

/* Read a child's output until it holds needle (poll: no sleeps). */
static char *
ctl_read_until(int fd, const char *needle)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	char *buf = NULL, *p;
	size_t len = 0, cap = 0;
	ssize_t n;

	for (;;) {
		if (cap - len < 4096) {
			cap = cap != 0 ? cap * 2 : 8192;
			p = realloc(buf, cap);
			ck_assert_ptr_nonnull(p);
			buf = p;
		}
		buf[len] = '\0';
		if (strstr(buf, needle) != NULL)
			return (buf);
		ck_assert_msg(poll(&pfd, 1, CTL_TIMEOUT_MS) == 1,
		    "waited for \"%s\", got: %.200s", needle, buf);
		n = read(fd, buf + len, cap - len - 1);
		ck_assert_msg(n > 0, "ended without \"%s\": %.200s", needle,
		    buf);
		len += (size_t)n;
	}
}

/*
 * Is the table whose header line starts with head aligned: each of its
 * rows (up to an empty line or the text's end) as long as the header?
 */
static void
ctl_table_aligned(const char *text, const char *head, size_t rows)
{
	const char *p = text, *end;
	size_t width, n = 0;

	while ((p = strstr(p, head)) != NULL && p != text && p[-1] != '\n')
		p++;
	ck_assert_msg(p != NULL, "no %s in %s", head, text);
	ck_assert_ptr_nonnull(end = strchr(p, '\n'));
	width = (size_t)(end - p);
	for (p = end + 1; *p != '\0' && *p != '\n'; p = end + 1, n++) {
		ck_assert_ptr_nonnull(end = strchr(p, '\n'));
		ck_assert_msg((size_t)(end - p) == width, "%s row %zu: %.*s",
		    head, n, (int)(end - p), p);
	}
	ck_assert_uint_eq(n, rows);
}

/*
 * stats: names longer than their columns widen them, the rows' numbers
 * still under their headers.
 */
START_TEST(test_ctl_stats_long_names)
{
	static const char *const runner[] = {
		"-n", "3", "-l", "plugin.a-plugin-named-at-length-for-its-column",
		"-w", NULL
	};
	static const char *const stats[] = { "stats", NULL };
	char *text;
	pid_t pid;
	int out, in;

	harness_daemon_start(&H, NULL);
	pid = harness_runner_env(&H, "a-runner-named-at-length-for-its-column",
	    "a-plugin-named-at-length-for-its-column", "200", runner, &out,
	    &in);
	free(ctl_read_until(out, "emitted\n"));
	ck_assert_int_eq(ctl_run(stats, &text), 0);
	ck_assert_ptr_nonnull(strstr(text, " a-runner-named-at-length-for-its-"
	    "column a-plugin-named-at-length-for-its-column "));
	ck_assert_ptr_nonnull(strstr(text, "\na-plugin-named-at-length-for-"
	    "its-column "));
	ck_assert_ptr_nonnull(strstr(text, " relogctl-"));
	ctl_table_aligned(text, "CONN ", 2);
	ctl_table_aligned(text, "PLUGIN ", 1);
	free(text);
	close(in);
	close(out);
	ck_assert_int_eq(harness_wait(pid, CTL_TIMEOUT_MS), 0);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
}
END_TEST

/* Run relogctl send for a plugin at a level; it must succeed. */
static void
ctl_say(const char *plugin, const char *level, const char *msg)
{
	const char *args[] = { "send", "-p", plugin, "-l", level, msg, NULL };

	ck_assert_int_eq(ctl_run(args, NULL), 0);
}

/*
 * tail -f: the last record, then new ones, filtered in relogd by plugin
 * and level.
 */
START_TEST(test_ctl_tail_follow)
{
	static const char *const tail[] = {
		"tail", "-f", "-n", "1", "-p", "tf", "-l", "warning", NULL
	};
	char *text;
	pid_t pid;
	int out;

	harness_daemon_start(&H, NULL);
	ctl_say("tf", "warning", "older");
	ctl_say("tf", "warning", "before");
	pid = ctl_start(tail, &out, NULL);
	/* The last record came: the tail follows from now on. */
	free(ctl_read_until(out, "] before\n"));
	ctl_say("tf", "info", "filtered-info");
	ctl_say("other", "error", "other-plugin");
	ctl_say("tf", "error", "wanted");
	text = ctl_read_until(out, "] wanted\n");
	ck_assert_ptr_nonnull(strstr(text, "tf: "));
	ck_assert_ptr_nonnull(strstr(text, " ERROR [plugin.tf] wanted\n"));
	ck_assert_ptr_null(strstr(text, "older"));
	ck_assert_ptr_null(strstr(text, "filtered-info"));
	ck_assert_ptr_null(strstr(text, "other-plugin"));
	free(text);
	kill(pid, SIGTERM);
	harness_wait(pid, CTL_TIMEOUT_MS);
	close(out);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
}
END_TEST

/*
 * A tail that stopped reading does not hold relogd's stop up: it is owed
 * no answers (relogd used to wait 5 s for it, and say it had not read its
 * last replies).
 */
START_TEST(test_ctl_tail_stopped_exit)
{
	static const char *const tail[] = { "tail", "-f", "-n", "1", NULL };
	static const char *const flood[] = {
		"exec", "-p", "ts", "--", "seq", "-w", "1", "200000", NULL
	};
	static const char *const dargs[] = { "--rate-limit", "off", NULL };
	char *text;
	pid_t pid;
	int out;

	harness_daemon_start(&H, dargs);
	ctl_say("ts", "warning", "first");
	pid = ctl_start(tail, &out, NULL);
	free(ctl_read_until(out, "] first\n"));
	ck_assert_int_eq(kill(pid, SIGSTOP), 0);
	ck_assert_int_eq(ctl_run(flood, NULL), 0);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
	text = harness_read_file(H.stderr_path, NULL);
	ck_assert_ptr_null(strstr(text, "did not read"));
	free(text);
	kill(pid, SIGKILL);
	harness_wait(pid, CTL_TIMEOUT_MS);
	close(out);
}
END_TEST

/*
 * A tail that does not read loses records, and says how many; the runners
 * and relogd go on at their pace.
 */
START_TEST(test_ctl_tail_slow)
{
	static const char *const tail[] = {
		"tail", "-f", "-n", "1", "-p", "sl", NULL
	};
	static const char *const flood[] = {
		"-n", "60000", "-s", "200", "-l", "plugin.sl", NULL
	};
	static const char *const dargs[] = { "--rate-limit", "off", NULL };
	char *text;
	pid_t pid;
	int out;

	harness_daemon_start(&H, dargs);
	ctl_say("sl", "info", "start");
	pid = ctl_start(tail, &out, NULL);
	/* The last record came: the tail follows from now on. */
	free(ctl_read_until(out, "] start\n"));
	ck_assert_int_eq(harness_wait(harness_runner_env(&H, "fl", NULL,
	    "65536", flood, NULL, NULL), CTL_TIMEOUT_MS), 0);
	/* Reading its backlog, it learns how much it missed. */
	free(ctl_read_until(out, "records not shown: read too slowly"));
	kill(pid, SIGTERM);
	harness_wait(pid, CTL_TIMEOUT_MS);
	close(out);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
	text = harness_plugin_log(&H, "sl");
	ck_assert_uint_eq(harness_lines(text), 60001);
	free(text);
}
END_TEST

/* reopen: the same as SIGHUP. */
START_TEST(test_ctl_reopen)
{
	static const char *const reopen[] = { "reopen", NULL };
	char path[512], moved[512], *text;

	harness_daemon_start(&H, NULL);
	ctl_say("ro", "info", "one");
	snprintf(path, sizeof path, "%s/ro.log", H.log_dir);
	snprintf(moved, sizeof moved, "%s/ro.log.1", H.log_dir);
	ck_assert_int_eq(rename(path, moved), 0);
	ck_assert_int_eq(ctl_run(reopen, NULL), 0);
	ctl_say("ro", "info", "two");
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
	text = harness_read_file(path, NULL);
	ck_assert_uint_eq(harness_lines(text), 1);
	ck_assert_ptr_nonnull(strstr(text, "] two\n"));
	free(text);
}
END_TEST

/*
 * Start relogctl with these arguments (up to 4) as user nobody; *out reads
 * its output and errors.
 */
static pid_t
ctl_start_as_nobody(const char *const *args, int *out)
{
	const char *argv[8] = { harness_build_path("relogctl"), "-s",
	    H.socket };
	struct passwd *pw = getpwnam("nobody");
	size_t i;
	int p[2];
	pid_t pid;

	for (i = 0; args[i] != NULL && i < 4; i++)
		argv[3 + i] = args[i];
	ck_assert_ptr_nonnull(pw);
	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(p[1], STDOUT_FILENO);
		dup2(p[1], STDERR_FILENO);
		if (setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0)
			_exit(99);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(p[1]);
	*out = p[0];
	return (pid);
}

/* Run relogctl stats as user nobody. Returns its exit status. */
static int
ctl_stats_as_nobody(char **text)
{
	static const char *const stats[] = { "stats", NULL };
	int out;
	pid_t pid = ctl_start_as_nobody(stats, &out);

	*text = harness_read_fd(out, NULL);
	return (harness_wait(pid, CTL_TIMEOUT_MS));
}

/* Admin methods: only root, relogd's uid and admin_uids. */
START_TEST(test_ctl_admin_only)
{
	const char *args[] = { "--config", NULL, NULL };
	struct passwd *pw = getpwnam("nobody");
	char conf[128], *text;

	ck_assert_ptr_nonnull(pw);
	ck_assert_int_eq(chmod(H.dir, 0755), 0);
	args[1] = harness_config(&H, "[relogd]\nsocket_mode = 0666\n");
	harness_daemon_start(&H, args);
	ck_assert_int_eq(ctl_stats_as_nobody(&text), 4);
	ck_assert_ptr_nonnull(strstr(text, "E_UNAUTHORIZED"));
	free(text);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
	snprintf(conf, sizeof conf, "[relogd]\nsocket_mode = 0666\n"
	    "admin_uids = %ld\n", (long)pw->pw_uid);
	args[1] = harness_config(&H, conf);
	harness_daemon_start(&H, args);
	ck_assert_int_eq(ctl_stats_as_nobody(&text), 0);
	ck_assert_ptr_nonnull(strstr(text, "relogd 0.1.0"));
	free(text);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
}
END_TEST

/*
 * A tail of a uid taken out of admin_uids by a reload is closed: the uid
 * was asked only when it asked to tail, and its tail went on getting every
 * record.
 */
START_TEST(test_ctl_admin_revoked)
{
	static const char *const tail[] = { "tail", "-f", "-n", "1", NULL };
	const char *args[] = { "--config", NULL, NULL };
	struct passwd *pw = getpwnam("nobody");
	char conf[128], *text;
	int out;
	pid_t pid;

	ck_assert_ptr_nonnull(pw);
	ck_assert_int_eq(chmod(H.dir, 0755), 0);
	snprintf(conf, sizeof conf, "[relogd]\nsocket_mode = 0666\n"
	    "admin_uids = %ld\n", (long)pw->pw_uid);
	args[1] = harness_config(&H, conf);
	harness_daemon_start(&H, args);
	ctl_say("rv", "warning", "while an admin");
	pid = ctl_start_as_nobody(tail, &out);
	free(ctl_read_until(out, "] while an admin\n"));
	harness_config(&H, "[relogd]\nsocket_mode = 0666\n");
	ck_assert_int_eq(kill(H.daemon, SIGHUP), 0);
	ck_assert_int_eq(harness_daemon_await(&H, "may no longer tail", 1,
	    CTL_TIMEOUT_MS), 0);
	ctl_say("rv", "warning", "after the reload");
	/* It ends (refused when it tries again), without the record. */
	text = harness_read_fd(out, NULL);
	ck_assert_int_ne(harness_wait(pid, CTL_TIMEOUT_MS), 0);
	ck_assert_ptr_null(strstr(text, "after the reload"));
	free(text);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
}
END_TEST

/* Clear errors with their own status: not running, bad arguments. */
START_TEST(test_ctl_errors)
{
	static const char *const stats[] = { "stats", NULL };
	static const char *const bad[] = { "frobnicate", NULL };
	static const char *const nolevel[] = {
		"send", "-p", "x", "-l", "loud", "m", NULL
	};
	char *text;

	ck_assert_int_eq(ctl_run(stats, &text), 3);
	ck_assert_ptr_nonnull(strstr(text, "relogd is not running at "));
	free(text);
	ck_assert_int_eq(ctl_run(bad, &text), 2);
	ck_assert_ptr_nonnull(strstr(text, "usage: relogctl"));
	free(text);
	ck_assert_int_eq(ctl_run(nolevel, &text), 2);
	ck_assert_ptr_nonnull(strstr(text, "loud: not a level"));
	free(text);
}
END_TEST

Suite *
suite_ctl(void)
{
	Suite *s = suite_create("ctl");
	TCase *tc = tcase_create("ctl");

	tcase_add_checked_fixture(tc, ctl_setup, ctl_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_ctl_send);
	tcase_add_test(tc, test_ctl_exec);
	tcase_add_test(tc, test_ctl_exec_fast);
	tcase_add_test(tc, test_ctl_send_bytes);
	tcase_add_test(tc, test_ctl_stats);
	tcase_add_test(tc, test_ctl_stats_long_names);
	tcase_add_test(tc, test_ctl_tail_follow);
	tcase_add_test(tc, test_ctl_tail_slow);
	tcase_add_test(tc, test_ctl_tail_stopped_exit);
	tcase_add_test(tc, test_ctl_reopen);
	tcase_add_test(tc, test_ctl_admin_only);
	tcase_add_test(tc, test_ctl_admin_revoked);
	tcase_add_test(tc, test_ctl_errors);
	suite_add_tcase(s, tc);
	return (s);
}

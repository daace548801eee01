/*
 * The security suite's attacks on what relogd writes: lines a record
 * could forge in every output, symlinks planted in log-dir, a log-dir
 * that fills up, file descriptors that run out, a state_dir with no room,
 * with FIFOs planted in it, another user's runners.state or a symbolic
 * link for its forward folder (refused), a journald that is not there.
 * Full disks are small tmpfs mounted in the test's own mount namespace.
 */
#include <sys/mount.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto.h"
#include "tests.h"

#define FILES_WAIT_MS 60000

static struct harness F;

static void
files_setup(void)
{
	harness_init(&F);
}

static void
files_teardown(void)
{
	harness_cleanup(&F);
}

/* Start relogd with these [relogd] settings (and sections after). */
static void
files_start(const char *conf)
{
	char text[2048];
	const char *args[] = { "--config", NULL, NULL };

	snprintf(text, sizeof text, "[relogd]\n%s", conf);
	args[1] = harness_config(&F, text);
	harness_daemon_start(&F, args);
}

/* A runner (test-runner) sends 100 records to plugin test, and ends. */
static void
files_run(const char *runner)
{
	static const char *const args[] = { "-n", "100", "-a", NULL };

	ck_assert_int_eq(harness_wait(harness_runner(&F, runner, NULL, args,
	    NULL), FILES_WAIT_MS), 0);
}

/* relogd said needle (on its stderr) exactly n times. */
static void
files_assert_said(const char *needle, size_t n)
{
	char *text = harness_read_file(F.stderr_path, NULL);

	ck_assert_msg(harness_count(text, needle) == n, "\"%s\" said %zu "
	    "times, not %zu", needle, harness_count(text, needle), n);
	free(text);
}

/* The runner's 100 records are all in test.log, in order. */
static void
files_assert_delivered(const char *runner)
{
	char *text = harness_plugin_log(&F, "test");

	harness_check_sequence(text, runner, 0, 100);
	free(text);
}

/*
 * Is there, in len bytes of an output, no byte a terminal or a line
 * reader would act on: C0 controls but tab and newline, DEL, and C1
 * controls (U+0080..U+009F)?
 */
static void
files_assert_clean(const char *text, size_t len, const char *what)
{
	const unsigned char *p = (const unsigned char *)text;
	size_t i;

	ck_assert_ptr_nonnull(text);
	for (i = 0; i < len; i++) {
		ck_assert_msg((p[i] >= 0x20 && p[i] != 0x7f) || p[i] == '\t' ||
		    p[i] == '\n', "%s: byte 0x%02x at %zu", what, p[i], i);
		ck_assert_msg(!(p[i] == 0xc2 && i + 1 < len &&
		    p[i + 1] >= 0x80 && p[i + 1] <= 0x9f), "%s: a C1 control "
		    "at %zu", what, i);
	}
}

/* Does no line of text start with prefix? */
static void
files_assert_no_line(const char *text, const char *prefix, const char *what)
{
	const char *p = text;

	for (; p != NULL && *p != '\0'; p = strchr(p, '\n'), p = p ? p + 1 :
	    NULL)
		ck_assert_msg(strncmp(p, prefix, strlen(prefix)) != 0,
		    "%s: a line starts with %s", what, prefix);
}

/* Pack a batch of the one entry arg (wire_send's payload). */
static void
files_pack_entry(msgpack_packer *pk, void *arg)
{
	proto_pack_batch_head(pk, 1, 0, 0);
	proto_pack_entry(pk, arg);
}

/* Send one record with these texts (NULs and all) on a connection. */
static void
files_entry(int fd, struct proto_str logger, struct proto_str msg,
    struct proto_str exc)
{
	struct proto_entry e = {
		.timestamp_ms = 1764306519000, .level = RELOG_LEVEL_INFO,
		.logger_name = logger, .message = msg, .exception_text = exc
	};
	struct proto_header hd;

	wire_begin(&hd, RELOG_TYPE_REQUEST, 7, RELOG_METHOD_LOG_BATCH);
	wire_send(fd, &hd, files_pack_entry, &e, 65536);
	ck_assert_str_eq(wire_reply(fd, 0, NULL), "written=1");
}

#define S(lit) ((struct proto_str){ lit, sizeof lit - 1 })

/*
 * No byte of a record forges a line, a priority or terminal control: NUL,
 * CR, ESC, DEL, C1 controls and a newline in a logger name come out
 * escaped in the file, on --stderr (where journald would read "<N>"), in
 * the JSON file and in relogctl tail; an exception text keeps its
 * continuation lines.
 */
START_TEST(test_security_forged_lines)
{
	const char *argv[] = { harness_build_path("relogctl"), "-s", F.socket,
	    "tail", "-f", "-p", "inj", NULL };
	char path[512], *text, *tail = NULL;
	size_t len, got = 0;
	int fd, out;
	pid_t pid;
	ssize_t n;

	files_start("stderr = 1\n[plugin.inj]\nsinks = file, stderr, json\n");
	pid = harness_spawn(argv, NULL, &out, NULL);
	fd = harness_connect(&F);
	wire_hello(fd, "inj-r", "inj", 4096);
	ck_assert_str_eq(wire_reply(fd, 0, NULL), "accepted");
	files_entry(fd, S("plugin.inj"), S("ok\0<2>FORGED nul"), S(""));
	files_entry(fd, S("plugin.inj"), S("a\rFORGED cr"), S(""));
	files_entry(fd, S("plugin.inj"), S("\x1b[2J\x1b]0;FORGED esc\x07"),
	    S(""));
	files_entry(fd, S("plugin.inj\n<2>FORGED nl"), S("x"), S(""));
	files_entry(fd, S("plugin.inj"), S("del \x7f c1 \xc2\x9b" "31m"),
	    S("Traceback\n<2>FORGED exc\r\n"));
	files_entry(fd, S("plugin.inj"), S("END"), S(""));
	close(fd);
	/* relogctl tail shows them as they come, END last. */
	while (tail == NULL || strstr(tail, " END\n") == NULL) {
		tail = realloc(tail, got + 4097);
		ck_assert_ptr_nonnull(tail);
		n = read(out, tail + got, 4096);
		ck_assert_int_gt(n, 0);
		got += (size_t)n;
		tail[got] = '\0';
	}
	ck_assert_int_eq(kill(pid, SIGTERM), 0);
	harness_wait(pid, FILES_WAIT_MS);
	close(out);
	ck_assert_int_eq(harness_daemon_stop(&F), 0);

	files_assert_clean(tail, got, "relogctl tail");
	files_assert_no_line(tail, "<2>", "relogctl tail");
	free(tail);
	text = harness_plugin_log(&F, "inj");
	files_assert_clean(text, strlen(text), "inj.log");
	ck_assert_ptr_nonnull(strstr(text, "ok\\x00<2>FORGED nul"));
	ck_assert_ptr_nonnull(strstr(text, "a\\x0dFORGED cr"));
	ck_assert_ptr_nonnull(strstr(text, "\\x1b[2J\\x1b]0;FORGED esc\\x07"));
	ck_assert_ptr_nonnull(strstr(text, "[plugin.inj\\x0a<2>FORGED\\x20nl] x"));
	ck_assert_ptr_nonnull(strstr(text, "del \\x7f c1 \\u009b31m\n"
	    "\tTraceback\n\t<2>FORGED exc\\x0d\n"));
	files_assert_no_line(text, "<2>", "inj.log");
	ck_assert_uint_eq(harness_lines(text), 8);
	free(text);
	text = harness_read_file(F.stderr_path, &len);
	files_assert_clean(text, len, "stderr");
	files_assert_no_line(text, "<2>", "stderr");
	ck_assert_uint_eq(harness_count(text, "<6>inj: "), 8);
	free(text);
	snprintf(path, sizeof path, "%s/inj.json", F.log_dir);
	text = harness_read_file(path, &len);
	files_assert_clean(text, len, "inj.json");
	ck_assert_uint_eq(harness_lines(text), 6);
	free(text);
}
END_TEST

/* Is no reply waiting on fd (what relogd withholds)? */
static void
files_assert_no_reply(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	ck_assert_int_eq(poll(&pfd, 1, 0), 0);
}

/* Connect as runner for plugin and send 3 records as a request. */
static int
files_three(const char *runner, const char *plugin)
{
	char logger[64];
	int fd = harness_connect(&F);

	snprintf(logger, sizeof logger, "plugin.%s", plugin);
	wire_hello(fd, runner, plugin, 4096);
	ck_assert_str_eq(wire_reply(fd, 0, NULL), "accepted");
	wire_batch_seq(fd, RELOG_TYPE_REQUEST, logger, 3, 0, 0, 65536);
	return (fd);
}

/* relogd said why it holds fd's 3 records (needle), and answers nothing. */
static void
files_held(int fd, const char *needle)
{
	ck_assert_int_eq(harness_daemon_await(&F, needle, 1, FILES_WAIT_MS),
	    0);
	files_assert_no_reply(fd);
}

/* What was planted at path is gone: fd's 3 records are written. */
static void
files_released(const char *path, int fd)
{
	ck_assert_int_eq(unlink(path), 0);
	ck_assert_str_eq(wire_reply(fd, 0, NULL), "written=3");
	close(fd);
}

/*
 * Symlinks planted in log-dir are not followed: records for a plugin whose
 * file is a link to another file, or a dangling one, wait unacknowledged
 * (the target untouched, the dangling one's not made) until the link is
 * gone; then they are written into a file of relogd's own.
 */
START_TEST(test_security_symlinks)
{
	char target[512], created[512], evil[512], dang[512], *text;
	int fe, fd;

	snprintf(target, sizeof target, "%s/target", F.dir);
	snprintf(created, sizeof created, "%s/created", F.dir);
	snprintf(evil, sizeof evil, "%s/evil.log", F.log_dir);
	snprintf(dang, sizeof dang, "%s/dang.log", F.log_dir);
	ck_assert_int_eq(mkdir(F.log_dir, 0755), 0);
	harness_write_file(target, "orig\n");
	ck_assert_int_eq(symlink(target, evil), 0);
	ck_assert_int_eq(symlink(created, dang), 0);
	files_start("");
	fe = files_three("ev", "evil");
	fd = files_three("da", "dang");
	files_held(fe, "evil.log: a symbolic link: ");
	files_held(fd, "dang.log: a symbolic link: ");
	text = harness_read_file(target, NULL);
	ck_assert_str_eq(text, "orig\n");
	free(text);
	ck_assert_int_eq(access(created, F_OK), -1);

	files_released(evil, fe);
	files_released(dang, fd);
	ck_assert_int_eq(harness_daemon_stop(&F), 0);
	ck_assert_int_eq(access(created, F_OK), -1);
	text = harness_plugin_log(&F, "evil");
	ck_assert_uint_eq(harness_lines(text), 3);
	free(text);
	text = harness_plugin_log(&F, "dang");
	ck_assert_uint_eq(harness_lines(text), 3);
	free(text);
}
END_TEST

/*
 * A log file planted in log-dir by another uid (to read what relogd would
 * write into it), or a hard link to a file elsewhere, is not written to:
 * the records wait, unacknowledged, until it is gone; then they go into a
 * file of relogd's own.
 */
START_TEST(test_security_planted_file)
{
	char planted[512], outside[512], linked[512], *text;
	int fp, fl;

	snprintf(planted, sizeof planted, "%s/plant.log", F.log_dir);
	snprintf(outside, sizeof outside, "%s/outside", F.dir);
	snprintf(linked, sizeof linked, "%s/linked.log", F.log_dir);
	ck_assert_int_eq(mkdir(F.log_dir, 0755), 0);
	harness_write_file(planted, "");
	ck_assert_int_eq(chown(planted, PEER_NOBODY, PEER_NOBODY), 0);
	ck_assert_int_eq(chmod(planted, 0666), 0);
	harness_write_file(outside, "orig\n");
	ck_assert_int_eq(link(outside, linked), 0);
	files_start("");
	fp = files_three("pl", "plant");
	fl = files_three("li", "linked");
	files_held(fp, "plant.log: not relogd's");
	files_held(fl, "linked.log: not relogd's");
	text = harness_read_file(planted, NULL);
	ck_assert_str_eq(text, "");
	free(text);
	text = harness_read_file(outside, NULL);
	ck_assert_str_eq(text, "orig\n");
	free(text);

	files_released(planted, fp);
	files_released(linked, fl);
	ck_assert_int_eq(harness_daemon_stop(&F), 0);
	text = harness_plugin_log(&F, "plant");
	ck_assert_uint_eq(harness_lines(text), 3);
	free(text);
	text = harness_read_file(outside, NULL);
	ck_assert_str_eq(text, "orig\n");
	free(text);
}
END_TEST

/* Start a runner of count 300-byte records that flushes before exiting. */
static pid_t
files_runner(const char *runner, const char *count)
{
	const char *args[] = { "-n", count, "-s", "300", "-a", NULL };

	return (harness_runner(&F, runner, "full", args, NULL));
}

/* Is every line of text one whole record (none torn, none glued)? */
static void
files_assert_whole(const char *text)
{
	const char *p = text, *nl, *rec;

	for (; *p != '\0'; p = nl + 1) {
		nl = strchr(p, '\n');
		ck_assert_msg(nl != NULL, "a torn last line: %.80s", p);
		ck_assert_msg(strncmp(p, "20", 2) == 0 && p[10] == 'T' &&
		    p[23] == 'Z', "a torn line: %.80s", p);
		rec = strstr(p, " [plugin.test] runner=");
		ck_assert_msg(rec != NULL && rec < nl, "a torn line: %.80s", p);
		rec = strstr(rec + 1, " [plugin.test] runner=");
		ck_assert_msg(rec == NULL || rec > nl, "a glued line: %.80s", p);
	}
}

/* relogctl stats -o FORMAT (free it). */
static char *
files_stats_text(const char *format)
{
	const char *argv[] = { harness_build_path("relogctl"), "-s", F.socket,
	    "stats", "-o", format, NULL };
	char *text;
	int out;
	pid_t pid;

	pid = harness_spawn(argv, NULL, &out, NULL);
	text = harness_read_fd(out, NULL);
	ck_assert_int_eq(harness_wait(pid, FILES_WAIT_MS), 0);
	return (text);
}

/*
 * log-dir on a small tmpfs, filled up twice while runners log: no record
 * is acknowledged that is not written, relogd says when each episode
 * starts and ends, stats show it, and once there is room every record is
 * in the file once, in order, and no line is torn.
 */
START_TEST(test_security_disk_full)
{
	pid_t r1, r2;
	char *text;

	harness_unshare_mounts();
	ck_assert_int_eq(mkdir(F.log_dir, 0755), 0);
	ck_assert_int_eq(mount("tmpfs", F.log_dir, "tmpfs", 0,
	    "size=2m,mode=0755"), 0);
	files_start("[plugin.full]\nlevel = info\n");
	harness_fill(F.log_dir);
	r1 = files_runner("r1", "3000");
	ck_assert_int_eq(harness_daemon_await(&F, "full.log: No space left on "
	    "device: ", 1, FILES_WAIT_MS), 0);
	peer_await_stat(&F, "full", "waiting", 200);
	text = peer_stats(&F);
	ck_assert_ptr_nonnull(strstr(text, "\"writing\":\"No space left on "
	    "device\""));
	free(text);
	text = files_stats_text("text");
	ck_assert_ptr_nonnull(strstr(text, "full: cannot write its file: No "
	    "space left on device; "));
	free(text);
	harness_unfill(F.log_dir);
	ck_assert_int_eq(harness_wait(r1, FILES_WAIT_MS), 0);
	ck_assert_int_eq(harness_daemon_await(&F, "full.log: writing again "
	    "after ", 1, FILES_WAIT_MS), 0);

	/* A second episode is said too. */
	harness_fill(F.log_dir);
	r2 = files_runner("r2", "500");
	ck_assert_int_eq(harness_daemon_await(&F, "full.log: No space left on "
	    "device: ", 2, FILES_WAIT_MS), 0);
	harness_unfill(F.log_dir);
	ck_assert_int_eq(harness_wait(r2, FILES_WAIT_MS), 0);
	ck_assert_int_eq(harness_daemon_await(&F, "full.log: writing again "
	    "after ", 2, FILES_WAIT_MS), 0);
	ck_assert_int_eq(peer_stat(&F, "full", "written"), 3500);
	ck_assert_int_eq(harness_daemon_stop(&F), 0);
	text = harness_plugin_log(&F, "full");
	files_assert_whole(text);
	harness_check_sequence(text, "r1", 0, 3000);
	harness_check_sequence(text, "r2", 0, 500);
	free(text);
	umount2(F.log_dir, MNT_DETACH);
}
END_TEST

/*
 * Out of file descriptors, a new plugin's records wait: not acknowledged
 * while its file cannot be made, written once descriptors are free.
 */
START_TEST(test_security_out_of_fds)
{
	int fds[64], fd, i, n = 0;
	char *text;

	F.nofile = 40;
	files_start("");
	fd = harness_connect(&F);
	wire_hello(fd, "nf", "newp", 4096);
	ck_assert_str_eq(wire_reply(fd, 0, NULL), "accepted");
	for (i = 0; i < 64; i++)
		fds[n++] = harness_connect(&F);
	ck_assert_int_eq(harness_daemon_await(&F, "out of file descriptors",
	    1, FILES_WAIT_MS), 0);
	wire_batch_seq(fd, RELOG_TYPE_REQUEST, "plugin.newp", 5, 0, 0, 65536);
	ck_assert_int_eq(harness_daemon_await(&F, "newp.log: Too many open "
	    "files: 5 records wait", 1, FILES_WAIT_MS), 0);
	files_assert_no_reply(fd);
	for (i = 0; i < n; i++)
		close(fds[i]);
	ck_assert_str_eq(wire_reply(fd, 0, NULL), "written=5");
	close(fd);
	ck_assert_int_eq(harness_daemon_stop(&F), 0);
	text = harness_plugin_log(&F, "newp");
	ck_assert_uint_eq(harness_lines(text), 5);
	free(text);
}
END_TEST

/*
 * state_dir on a full tmpfs: relogd starts (no SIGBUS), says once that it
 * runs without deduplication, and delivers.
 */
START_TEST(test_security_state_full)
{
	harness_unshare_mounts();
	ck_assert_int_eq(mkdir(F.state_dir, 0755), 0);
	ck_assert_int_eq(mount("tmpfs", F.state_dir, "tmpfs", 0,
	    "size=64k,mode=0755"), 0);
	harness_fill(F.state_dir);
	files_start("");
	files_run("st");
	ck_assert_int_eq(harness_daemon_stop(&F), 0);
	files_assert_said("runners.state: No space left on device: batches a "
	    "runner sends again may be written twice", 1);
	files_assert_delivered("st");
	umount2(F.state_dir, MNT_DETACH);
}
END_TEST

/*
 * FIFOs planted in state_dir, where relogd opens files at its start (the
 * owners' grants, a forward queue's uri): relogd must not wait on them
 * for a writer that never comes. It starts, says what it could not read,
 * takes records and stops on SIGTERM.
 */
START_TEST(test_security_state_fifos)
{
	char path[512];

	ck_assert_int_eq(mkdir(F.state_dir, 0755), 0);
	snprintf(path, sizeof path, "%s/grants", F.state_dir);
	ck_assert_int_eq(mkfifo(path, 0600), 0);
	snprintf(path, sizeof path, "%s/forward", F.state_dir);
	ck_assert_int_eq(mkdir(path, 0700), 0);
	snprintf(path, sizeof path, "%s/forward/x", F.state_dir);
	ck_assert_int_eq(mkdir(path, 0700), 0);
	snprintf(path, sizeof path, "%s/forward/x/uri", F.state_dir);
	ck_assert_int_eq(mkfifo(path, 0600), 0);
	files_start("");
	files_run("ff");
	ck_assert_int_eq(harness_daemon_stop(&F), 0);
	files_assert_said("grants: not a regular file: granted tokens are "
	    "not known", 1);
	files_assert_delivered("ff");
}
END_TEST

/*
 * A runners.state another user made, writable by all, before relogd
 * first ran: relogd maps it MAP_SHARED, so that user could cut it short
 * under the map (a SIGBUS at the next store). relogd makes its own
 * instead: the file it keeps is root's, 0600, another inode, and cutting
 * the old one short harms nothing. A grants file of that user's (tokens
 * that prove plugins' identities) is not read.
 */
START_TEST(test_security_state_foreign)
{
	char path[512];
	struct stat old, st;
	int fd;

	ck_assert_int_eq(mkdir(F.state_dir, 0755), 0);
	snprintf(path, sizeof path, "%s/runners.state", F.state_dir);
	fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0666);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fchown(fd, 65534, 65534), 0);
	ck_assert_int_eq(fchmod(fd, 0666), 0);
	ck_assert_int_eq(fstat(fd, &old), 0);
	snprintf(path, sizeof path, "%s/grants", F.state_dir);
	harness_write_file(path, "weather 00\n");
	ck_assert_int_eq(chown(path, 65534, 65534), 0);
	snprintf(path, sizeof path, "%s/runners.state", F.state_dir);
	files_start("");
	ck_assert_int_eq(ftruncate(fd, 0), 0);
	close(fd);
	files_run("sf");
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_ne(st.st_ino, old.st_ino);
	ck_assert_uint_eq(st.st_uid, geteuid());
	ck_assert_uint_eq(st.st_mode & 077, 0);
	ck_assert_int_eq(harness_daemon_stop(&F), 0);
	files_assert_said("runners.state was not relogd's alone (owner, mode "
	    "or links): made anew", 1);
	files_assert_said("grants: not relogd's alone (owner or mode): "
	    "granted tokens are not known", 1);
	files_assert_delivered("sf");
}
END_TEST

/*
 * state_dir/forward planted as a symbolic link before relogd made it: the
 * forward queues (with the records in them) would be made where it
 * points. relogd refuses it: a forward sink with no queue stops it at its
 * start, saying why, and nothing is made there.
 */
START_TEST(test_security_forward_symlink)
{
	char outside[512], path[512], text[1024], *out;
	const char *argv[] = { harness_build_path("relogd"), "--socket",
	    F.socket, "--log-dir", F.log_dir, "--state-dir", F.state_dir,
	    "--config", NULL, NULL };
	struct dirent *de;
	DIR *d;
	pid_t pid;
	int fd, n = 0;

	ck_assert_int_eq(mkdir(F.state_dir, 0755), 0);
	snprintf(outside, sizeof outside, "%s/outside", F.dir);
	ck_assert_int_eq(mkdir(outside, 0755), 0);
	snprintf(path, sizeof path, "%s/forward", F.state_dir);
	ck_assert_int_eq(symlink(outside, path), 0);
	snprintf(text, sizeof text, "[relogd]\nforward = fluent+unix:%s/"
	    "nobody\n", F.dir);
	argv[8] = harness_config(&F, text);
	pid = harness_spawn(argv, NULL, &fd, NULL);
	ck_assert_int_eq(harness_wait(pid, FILES_WAIT_MS), 1);
	out = harness_read_fd(fd, NULL);
	close(fd);
	ck_assert_msg(strstr(out, "/forward: a symbolic link: no forward "
	    "queue there") != NULL, "%s", out);
	free(out);
	d = opendir(outside);
	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)) != NULL)
		n += de->d_name[0] != '.';
	closedir(d);
	ck_assert_int_eq(n, 0);
}
END_TEST

/*
 * A journald that is not there loses records: counted in stats (not
 * written), said once, and the file still has them.
 */
START_TEST(test_security_journald_lost)
{
	static const char *const args[] = { "-n", "20", "-a", NULL };
	char *text;

	harness_unshare_mounts();
	ck_assert_int_eq(mkdir("/run/systemd", 0755) == 0 || errno == EEXIST,
	    1);
	ck_assert_int_eq(mkdir("/run/systemd/journal", 0755) == 0 ||
	    errno == EEXIST, 1);
	ck_assert_int_eq(mount("tmpfs", "/run/systemd/journal", "tmpfs", 0,
	    "mode=0755"), 0);
	files_start("[plugin.test]\nsinks = file, journald\n");
	ck_assert_int_eq(harness_wait(harness_runner(&F, "jl", NULL, args,
	    NULL), FILES_WAIT_MS), 0);
	ck_assert_int_eq(peer_stat(&F, "test", "journald_lost"), 20);
	/* Written by each of its outputs: none was. */
	ck_assert_int_eq(peer_stat(&F, "test", "received"), 20);
	ck_assert_int_eq(peer_stat(&F, "test", "written"), 0);
	text = files_stats_text("prometheus");
	ck_assert_ptr_nonnull(strstr(text, "\nrelog_plugin_journald_lost_total"
	    "{plugin=\"test\"} 20\n"));
	free(text);
	text = files_stats_text("text");
	ck_assert_ptr_nonnull(strstr(text, "\ntest: 20 records journald did "
	    "not take\n"));
	free(text);
	ck_assert_int_eq(harness_daemon_stop(&F), 0);
	text = harness_plugin_log(&F, "test");
	harness_check_sequence(text, "jl", 0, 20);
	free(text);
}
END_TEST

/* The security suite's cases on files (test-security.c adds them). */
TCase *
security_files_tcase(void)
{
	TCase *tc = tcase_create("files");

	tcase_add_checked_fixture(tc, files_setup, files_teardown);
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_security_forged_lines);
	tcase_add_test(tc, test_security_symlinks);
	tcase_add_test(tc, test_security_planted_file);
	tcase_add_test(tc, test_security_disk_full);
	tcase_add_test(tc, test_security_out_of_fds);
	tcase_add_test(tc, test_security_state_full);
	tcase_add_test(tc, test_security_state_fifos);
	tcase_add_test(tc, test_security_state_foreign);
	tcase_add_test(tc, test_security_forward_symlink);
	tcase_add_test(tc, test_security_journald_lost);
	return (tc);
}

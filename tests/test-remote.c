/*
 * What a forward sink does whatever its protocol: its file queue (the disk
 * budget, a full disk, a file size limit, a record torn by a kill, records
 * dropped while in flight), its stall, its backoff, its settings and
 * reloads. The collectors are a second relogd's Forward input and the
 * test itself (collector.c).
 */
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tests.h"

static struct harness H;	/* the relogd forwarding */
static struct harness B;	/* a second one, collecting */
static char B_SOCK[300];	/* B's Forward input */
static char B_URI[320];		/* the same, as a forward URI */

/* Each test: folders for the relogd forwarding and the collecting one. */
static void
remote_setup(void)
{
	harness_init(&H);
	harness_init(&B);
	snprintf(B_SOCK, sizeof B_SOCK, "%s/fwd.sock", B.dir);
	snprintf(B_URI, sizeof B_URI, "fluent+unix:%s", B_SOCK);
}

/* Stop what the test left running, and remove its folders. */
static void
remote_teardown(void)
{
	harness_cleanup(&H);
	harness_cleanup(&B);
}

/* Where a plugin's log file of relogd h is. */
static const char *
remote_log_path(const struct harness *h, const char *plugin)
{
	static char path[400];

	snprintf(path, sizeof path, "%s/%s.log", h->log_dir, plugin);
	return (path);
}

/* Stop relogd and the collector; what the collector wrote of alpha. */
static char *
remote_stop_both(void)
{
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
	ck_assert_int_eq(harness_daemon_stop(&B), 0);
	return (harness_plugin_log(&B, "alpha"));
}

/*
 * Past the disk budget the oldest records are dropped and counted, and a
 * record tells the collector so; the newest arrive.
 */
START_TEST(test_remote_disk_full)
{
	const char *args[] = { "-n", "3000", "-s", "200", NULL };
	char *text, *notice;
	long long dropped;

	collector_forward_start(&H, B_URI, "forward_disk = 65536\n");
	collector_run(&H, "r1", "alpha", args);
	collector_await_stat(&H, "dropped", 1, 0);
	dropped = collector_stat(&H, "dropped");
	ck_assert_int_le(collector_stat(&H, "queued_disk"),
	    3000 - dropped + 10);

	collector_relogd_start(&B, B_SOCK);
	ck_assert_int_eq(harness_await_file(remote_log_path(&B,
	    "alpha"), "seq=2999 ", 1, COLLECTOR_TIMEOUT_MS), 0);
	ck_assert_int_eq(harness_await_file(remote_log_path(&B,
	    "relogd"), "the oldest, as the file queue was full", 1,
	    COLLECTOR_TIMEOUT_MS), 0);
	text = remote_stop_both();
	notice = harness_plugin_log(&B, "relogd");
	ck_assert_ptr_null(strstr(text, "seq=0 "));
	ck_assert_ptr_nonnull(strstr(notice, " since relogd started): the "
	    "oldest, as the file queue was full (forward_disk = 65536 bytes)"));
	/* Every record is there or counted as dropped (notices may be too). */
	ck_assert_int_ge((long long)harness_lines(text) + dropped, 3000);
	free(text);
	free(notice);
}
END_TEST

/*
 * Under a file size limit (here 1 MiB of RLIMIT_FSIZE, as LimitFSIZE=
 * sets), the file queue's segments end before the limit: 5000 records
 * (1.7 MB) wait on disk for a collector that is down, none dropped, and
 * arrive in order; so do the records of a second outage. The local file
 * rotates below the limit (a file at the limit stalls its plugin).
 */
START_TEST(test_remote_fsize_limit)
{
	const char *args[] = { "-n", "5000", "-s", "300", NULL };
	const char *args2[] = { "-n", "3000", "-s", "300", NULL };
	char *text;

	H.fsize = 1 << 20;
	collector_forward_start(&H, B_URI,
	    "[plugin.alpha]\nmax_size = 262144\n");
	collector_run(&H, "r1", "alpha", args);
	collector_await_stat(&H, "queued_disk", 5000, 0);
	collector_relogd_start(&B, B_SOCK);
	collector_await_stat(&H, "acked", 5000, 0);
	ck_assert_int_eq(harness_daemon_stop(&B), 0);

	collector_run(&H, "r2", "alpha", args2);
	collector_await_stat(&H, "queued_disk", 3000, 0);
	collector_relogd_start(&B, B_SOCK);
	collector_await_stat(&H, "acked", 8000, 0);
	ck_assert_int_eq(collector_stat(&H, "dropped"), 0);
	text = remote_stop_both();
	harness_check_sequence(text, "r1", 0, 5000);
	harness_check_sequence(text, "r2", 0, 3000);
	free(text);
}
END_TEST

/*
 * The file queue on a full disk (a tmpfs filled up) while the collector
 * is down: records the disk has no room for (fallocate says so) wait in
 * memory instead of being dropped, up to forward_memory. Once the disk has
 * room again (asked within a second, at the next reconnect) they go to
 * it, and survive relogd's SIGKILL: the collector gets them all.
 */
START_TEST(test_remote_disk_refuses)
{
	const char *r1[] = { "-n", "10", "-s", "2000", NULL };
	const char *r2[] = { "-n", "100", NULL };
	const char *argv[] = { "--config", NULL, NULL };
	char fwd[400], line[600], *text;

	harness_unshare_mounts();
	ck_assert_int_eq(mkdir(H.state_dir, 0755), 0);
	snprintf(fwd, sizeof fwd, "%s/forward", H.state_dir);
	ck_assert_int_eq(mkdir(fwd, 0700), 0);
	ck_assert_int_eq(mount("tmpfs", fwd, "tmpfs", 0, "size=1m,mode=0700"),
	    0);
	collector_forward_start(&H, B_URI, "forward_memory = 65536\n");
	collector_await_stat(&H, "queued_disk", 0, 1);
	harness_fill(fwd);

	/* What the disk has no room for waits in memory, none dropped. */
	collector_run(&H, "r1", "alpha", r1);
	collector_run(&H, "r2", "alpha", r2);
	ck_assert_int_ge(collector_stat(&H, "queued_memory"), 100);
	ck_assert_int_eq(collector_stat(&H, "queued_memory") +
	    collector_stat(&H, "queued_disk"), 110);
	ck_assert_int_eq(collector_stat(&H, "dropped"), 0);
	ck_assert_int_eq(collector_stat(&H, "disk_full"), 1);
	text = collector_stats(&H, 0);
	snprintf(line, sizeof line, "\n%s: its file queue's disk is full; %lld "
	    "records wait in memory\n", B_URI,
	    collector_stat(&H, "queued_memory"));
	ck_assert_msg(strstr(text, line) != NULL, "no \"%s\" in %s", line,
	    text);
	free(text);

	/* Room again: they go to disk, and survive a SIGKILL. */
	harness_unfill(fwd);
	collector_await_stat(&H, "queued_memory", 0, 1);
	ck_assert_int_eq(collector_stat(&H, "queued_disk"), 110);
	ck_assert_int_eq(collector_stat(&H, "dropped"), 0);
	ck_assert_int_eq(collector_stat(&H, "disk_full"), 0);
	ck_assert_int_eq(harness_daemon_kill(&H), 128 + SIGKILL);

	collector_relogd_start(&B, B_SOCK);
	argv[1] = harness_config(&H, "[relogd]\nforward_retry_max = 1\n");
	harness_daemon_start(&H, argv);
	ck_assert_int_eq(harness_await_file(remote_log_path(&B, "alpha"),
	    "seq=99 ", 1, COLLECTOR_TIMEOUT_MS), 0);
	text = remote_stop_both();
	harness_check_sequence(text, "r1", 0, 10);
	harness_check_sequence(text, "r2", 0, 100);
	ck_assert_int_eq(harness_lines(text), 110);
	free(text);
	umount2(fwd, MNT_DETACH);
}
END_TEST

/* The file queue's segment being appended to (the only one, here). */
static void
remote_segment_path(const struct harness *h, char *buf, size_t size)
{
	char dir[400];
	struct dirent *de;
	DIR *d;

	snprintf(dir, sizeof dir, "%s/forward", h->state_dir);
	d = opendir(dir);
	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] != '.')
			break;
	}
	ck_assert_ptr_nonnull(de);
	snprintf(buf, size, "%s/%s/0000000000000001.q", dir, de->d_name);
	closedir(d);
}

/*
 * A record cut short in the file queue (a kill in the middle of a write),
 * then a stray segment numbered past all others: relogd, started again
 * without that sink in its settings, opens the queue all the same (its
 * folder names the sink), renumbers the segments, and delivers the whole
 * records.
 */
START_TEST(test_remote_torn_record)
{
	const char *args[] = { "-n", "100", NULL };
	static const char torn[] = { 0x00, 0x10, 0x00, 0x00, 'p', 'a', 'r' };
	const char *argv[] = { "--config", NULL, NULL };
	char seg[1024], *text;
	int fd;

	collector_forward_start(&H, B_URI, NULL);
	collector_run(&H, "r1", "alpha", args);
	collector_await_stat(&H, "queued_disk", 100, 0);
	ck_assert_int_eq(harness_daemon_kill(&H), 128 + SIGKILL);
	remote_segment_path(&H, seg, sizeof seg);
	fd = open(seg, O_WRONLY | O_APPEND);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, torn, sizeof torn), (ssize_t)sizeof torn);
	close(fd);
	/* And an empty segment put there by hand, numbered at the very end. */
	strcpy(strrchr(seg, '/') + 1, "ffffffffffffffff.q");
	fd = open(seg, O_WRONLY | O_CREAT, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "RELOGQ1\n", 8), 8);
	close(fd);

	/* Started again with no forward sink configured: the queue names it. */
	collector_relogd_start(&B, B_SOCK);
	argv[1] = harness_config(&H, "[relogd]\nforward_retry_max = 1\n");
	harness_daemon_start(&H, argv);
	ck_assert_int_eq(harness_daemon_await(&H, "segment files renumbered",
	    1, COLLECTOR_TIMEOUT_MS), 0);
	collector_await_stat(&H, "acked", 100, 0);
	text = remote_stop_both();
	harness_check_sequence(text, "r1", 0, 100);
	free(text);
}
END_TEST

/*
 * A segment file left empty (begun on a full disk, relogd stopped before
 * there was room): the records queued after the restart go into it,
 * header first, and every one reaches the collector.
 */
START_TEST(test_remote_empty_segment)
{
	const char *args[] = { "-n", "100", NULL };
	char seg[1024], *text;

	collector_forward_start(&H, B_URI, NULL);
	collector_await_stat(&H, "queued_disk", 0, 1);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
	remote_segment_path(&H, seg, sizeof seg);
	ck_assert_int_eq(truncate(seg, 0), 0);
	collector_forward_start(&H, B_URI, NULL);
	collector_run(&H, "r1", "alpha", args);
	collector_await_stat(&H, "queued_disk", 100, 0);
	collector_relogd_start(&B, B_SOCK);
	collector_await_stat(&H, "acked", 100, 0);
	ck_assert_int_eq(collector_stat(&H, "dropped"), 0);
	text = remote_stop_both();
	harness_check_sequence(text, "r1", 0, 100);
	free(text);
}
END_TEST

/* The total relogd's last notice of drops gives, or -1 if none. */
static long long
remote_said_dropped(const struct harness *h, size_t *notices)
{
	static const char said[] = " since relogd started): the oldest";
	char *text, *p, *q;
	long long total = -1;

	text = harness_read_file(h->stderr_path, NULL);
	ck_assert_ptr_nonnull(text);
	*notices = harness_count(text, said);
	for (p = text; (p = strstr(p, said)) != NULL; p++) {
		for (q = p; q > text && q[-1] != '('; q--)
			continue;
		total = strtoll(q, NULL, 10);
	}
	free(text);
	return (total);
}

/*
 * Is every record acked or dropped, and every drop said? The log is read
 * first: a notice said after it would still be queued when the stats are.
 */
static int
remote_settled(const struct harness *h, size_t *notices)
{
	long long said = remote_said_dropped(h, notices);

	return ((said < 0 ? 0 : said) == collector_stat(h, "dropped") &&
	    collector_stat(h, "queued_memory") == 0 &&
	    collector_stat(h, "queued_disk") == 0);
}

/*
 * Records dropped from a full file queue while batches holding them are in
 * flight (sent, not acked): relogd says so, closes the connection (an ack
 * for them would count records that were also dropped) and sends again
 * from the oldest record kept. The collector reads all but acks nothing
 * until the runner is done; then it acks what it holds, and all after. In
 * the end each record (relogd's notices of drops among them) was acked or
 * dropped, once. The runner is paced (2,000 a second): relogd reads its
 * ring a thousand records at a time, and all 5,000 at once would fill the
 * queue before the first batch is in flight.
 */
START_TEST(test_remote_dropped_in_flight)
{
	const char *args[] = { "-n", "5000", "-s", "200", "-r", "2000", NULL };
	struct collector_conn c = { .fd = -1 };
	char uri[64], seen[5000];
	int lfd, fd, n, port, status, acking = 0;
	int64_t deadline = harness_now_ms() + COLLECTOR_TIMEOUT_MS;
	size_t notices;
	pid_t runner;

	lfd = collector_listen_tcp(&port);
	snprintf(uri, sizeof uri, "fluent://127.0.0.1:%d", port);
	collector_forward_start(&H, uri, "forward_memory = 65536\n"
	    "forward_disk = 65536\n");
	memset(seen, 0, sizeof seen);
	runner = harness_runner(&H, "r1", "alpha", args, NULL);
	for (;;) {
		if ((fd = collector_accept(lfd, c.fd < 0 ? 100 : 0)) >= 0) {
			/* relogd gave the last one up: acks come too late. */
			if (c.fd >= 0)
				collector_conn_close(&c);
			collector_conn_open(&c, fd);
		}
		ck_assert_msg(harness_now_ms() < deadline, acking ? "records "
		    "still queued" : "no records dropped in flight");
		n = c.fd >= 0 ? collector_conn_read(&c, 100, seen, 5000) : 0;
		if (n < 0)
			collector_conn_close(&c);
		if (n != 0) {
			if (n > 0 && acking)
				collector_conn_ack(&c);
			continue;
		}
		if (!acking && runner > 0 && waitpid(runner, &status,
		    WNOHANG) == runner) {
			ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
			runner = -1;
		}
		if (!acking) {
			if (runner > 0 || harness_daemon_await(&H, "records in "
			    "flight were dropped from the file queue; sending "
			    "again from the oldest kept", 1, 0) != 0)
				continue;
			acking = 1;
			deadline = harness_now_ms() + COLLECTOR_TIMEOUT_MS;
			if (c.fd >= 0)
				collector_conn_ack(&c);
		}
		if (remote_settled(&H, &notices))
			break;
	}
	if (c.fd >= 0)
		collector_conn_close(&c);
	ck_assert_int_eq(seen[4999], 1);
	ck_assert_int_gt(collector_stat(&H, "dropped"), 0);
	ck_assert_int_eq(collector_stat(&H, "acked") +
	    collector_stat(&H, "dropped"), 5000 + (long long)notices);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
	close(lfd);
}
END_TEST

/*
 * A Fluent collector that took the connection and reads nothing (a
 * listener that never accepts): once the connection was up and the acks
 * it owes have not come for REMOTE_STALL_MS, the records in memory go to
 * disk, and those after them too, though forward_timeout is an hour. They
 * survive relogd's SIGKILL and reach the collector once it reads.
 */
START_TEST(test_remote_sigkill_stalled)
{
	char *text;
	int lfd;

	lfd = collector_listen_unix(B_SOCK);
	collector_forward_stalled(&H, B_URI);
	ck_assert_int_eq(harness_daemon_kill(&H), 128 + SIGKILL);
	close(lfd);
	ck_assert_int_eq(unlink(B_SOCK), 0);

	collector_relogd_start(&B, B_SOCK);
	collector_forward_start(&H, B_URI, NULL);
	collector_await_stat(&H, "acked", 510, 0);
	text = remote_stop_both();
	harness_check_sequence(text, "r0", 0, 10);
	harness_check_sequence(text, "r1", 0, 500);
	free(text);
}
END_TEST

/*
 * relogd's event loop wakes how often (its main thread's voluntary context
 * switches) over ms of being left alone? Measured over a span of time: an
 * absence of wakeups has no event to wait for.
 */
static long
remote_wakeups(const struct harness *h, long ms)
{
	struct timespec span = { ms / 1000, ms % 1000 * 1000000L };
	long before = harness_status_num(h->daemon, "voluntary_ctxt_switches");

	ck_assert_int_ge(before, 0);
	nanosleep(&span, NULL);
	return (harness_status_num(h->daemon, "voluntary_ctxt_switches") -
	    before);
}

/*
 * A connected collector that owes nothing is not looked at: once its acks
 * are in, relogd sleeps (no look every REMOTE_STALL_LOOK_MS, 0.5 s). The
 * looks begin again with the next records sent: the stall tests show it.
 */
START_TEST(test_remote_idle_unwatched)
{
	const char *args[] = { "-n", "10", NULL };

	collector_relogd_start(&B, B_SOCK);
	collector_forward_start(&H, B_URI, NULL);
	collector_run(&H, "r1", "alpha", args);
	collector_await_stat(&H, "acked", 10, 0);
	/* The last look (it finds nothing owed) comes within 0.5 s. */
	remote_wakeups(&H, 700);
	ck_assert_int_le(remote_wakeups(&H, 1600), 1);
	ck_assert_int_eq(collector_stat(&H, "connected"), 1);
	ck_assert_int_eq(harness_daemon_stop(&B), 0);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
}
END_TEST

/*
 * A collector that takes connections and closes them at once is retried
 * with backoff (0.1 s doubling, here up to 1 s), not as fast as it closes.
 */
START_TEST(test_remote_backoff)
{
	const char *args[] = { "-n", "10", NULL };
	char uri[64];
	int lfd, fd, port, accepted = 0;
	int64_t end;

	lfd = collector_listen_tcp(&port);
	snprintf(uri, sizeof uri, "syslog://127.0.0.1:%d", port);
	collector_forward_start(&H, uri, NULL);
	collector_run(&H, "r1", "alpha", args);
	end = harness_now_ms() + 3000;
	while (harness_now_ms() < end) {
		fd = collector_accept(lfd, (int)(end - harness_now_ms()));
		if (fd < 0)
			break;
		close(fd);
		accepted++;
	}
	/* Delays from 0.05-0.1 s doubling: about 7 in 3 s; without, 30+. */
	ck_assert_int_ge(accepted, 3);
	ck_assert_int_le(accepted, 12);
	ck_assert_int_eq(collector_stat(&H, "acked"), 0);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
	close(lfd);
}
END_TEST

/* Bad forward URIs are refused with a clear error. */
START_TEST(test_remote_config)
{
	static const char *const bad[] = {
		"syslog:/host:514", "http://host", "syslog://", "syslog://h:0",
		"syslog://h:99999", "fluent://[::1", "fluent+unix:relative",
		"syslog://a fluent://b syslog://c fluent://d syslog://e",
	};
	const char *argv[] = { harness_build_path("relogd"), "--check-config",
	    "--config", NULL, NULL };
	char text[512], *out;
	size_t i;
	int fd;
	pid_t pid;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		snprintf(text, sizeof text, "[plugin.alpha]\nforward = %s\n",
		    bad[i]);
		argv[3] = harness_config(&H, text);
		pid = harness_spawn(argv, NULL, &fd, NULL);
		out = harness_read_fd(fd, NULL);
		ck_assert_int_ne(harness_wait(pid, COLLECTOR_TIMEOUT_MS), 0);
		ck_assert_msg(strstr(out, "relogd.conf:2: forward: ") != NULL,
		    "%s: %s", bad[i], out);
		free(out);
	}
	argv[3] = harness_config(&H, "[relogd]\nforward = syslog://h:514, "
	    "fluent+tls://[::1]:24224\n[plugin.alpha]\nforward = none\n");
	pid = harness_spawn(argv, NULL, &fd, NULL);
	out = harness_read_fd(fd, NULL);
	ck_assert_msg(harness_wait(pid, COLLECTOR_TIMEOUT_MS) == 0, "%s", out);
	free(out);
}
END_TEST

/*
 * SIGHUP with a forward sink added: records from then on go to it, those
 * before do not. A reload naming a TLS file that is not there is refused
 * (relogd goes on, with the sink).
 */
START_TEST(test_remote_reload)
{
	const char *args[] = { "-n", "5", NULL };
	const char *args2[] = { "-n", "10", NULL };
	const char *argv[] = { "--config", NULL, NULL };
	char text[1024], *log;

	collector_relogd_start(&B, B_SOCK);
	argv[1] = harness_config(&H, "[relogd]\nrate_limit = off\n");
	harness_daemon_start(&H, argv);
	collector_run(&H, "r1", "alpha", args);
	snprintf(text, sizeof text, "[relogd]\nrate_limit = off\n"
	    "[plugin.alpha]\nforward = %s\n", B_URI);
	harness_config(&H, text);
	ck_assert_int_eq(kill(H.daemon, SIGHUP), 0);
	ck_assert_int_eq(harness_daemon_await(&H, "configuration reloaded", 1,
	    COLLECTOR_TIMEOUT_MS), 0);
	collector_run(&H, "r2", "alpha", args2);
	collector_await_stat(&H, "acked", 10, 0);
	/* A TLS file that is not there: refused, and the sink goes on. */
	snprintf(text, sizeof text, "[relogd]\nrate_limit = off\n"
	    "forward_tls_ca = %s/no-such-ca.pem\n"
	    "[plugin.alpha]\nforward = %s\n", H.dir, B_URI);
	harness_config(&H, text);
	ck_assert_int_eq(kill(H.daemon, SIGHUP), 0);
	ck_assert_int_eq(harness_daemon_await(&H, "configuration not "
	    "reloaded, the old one stays: [relogd] forward_tls_ca ", 1,
	    COLLECTOR_TIMEOUT_MS), 0);
	collector_run(&H, "r3", "alpha", args);
	collector_await_stat(&H, "acked", 15, 0);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
	ck_assert_int_eq(harness_daemon_stop(&B), 0);
	log = harness_plugin_log(&B, "alpha");
	harness_check_sequence(log, "r2", 0, 10);
	harness_check_sequence(log, "r3", 0, 5);
	harness_check_sequence(log, "r1", 0, 0);
	free(log);
}
END_TEST

/*
 * A sink taken out of the configuration by SIGHUP still sends what it
 * holds, and nothing more: records that waited on disk for the collector
 * arrive once it is up, those after the reload do not go to it.
 */
START_TEST(test_remote_reload_removed)
{
	const char *args[] = { "-n", "300", NULL };
	const char *args2[] = { "-n", "10", NULL };
	char *log;

	collector_forward_start(&H, B_URI, NULL);
	collector_run(&H, "r1", "alpha", args);
	collector_await_stat(&H, "queued_disk", 300, 0);
	harness_config(&H, "[relogd]\nrate_limit = off\n");
	ck_assert_int_eq(kill(H.daemon, SIGHUP), 0);
	ck_assert_int_eq(harness_daemon_await(&H, "configuration reloaded", 1,
	    COLLECTOR_TIMEOUT_MS), 0);
	collector_run(&H, "r2", "alpha", args2);
	collector_relogd_start(&B, B_SOCK);
	collector_await_stat(&H, "acked", 300, 0);
	ck_assert_int_eq(collector_stat(&H, "queued_disk") +
	    collector_stat(&H, "queued_memory"), 0);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
	ck_assert_int_eq(harness_daemon_stop(&B), 0);
	log = harness_plugin_log(&B, "alpha");
	harness_check_sequence(log, "r1", 0, 300);
	harness_check_sequence(log, "r2", 0, 0);
	free(log);
	/* And the records after the reload were written here all the same. */
	log = harness_plugin_log(&H, "alpha");
	harness_check_sequence(log, "r2", 0, 10);
	free(log);
}
END_TEST

/*
 * A file queue left by a sink no longer configured, its uri file emptied
 * or naming another URI: relogd says that its records are not sent, and
 * keeps them; with the URI written back, they are sent.
 */
START_TEST(test_remote_left_without_uri)
{
	static const struct {
		const char *text;
		const char *said;
	} bad[] = {
		{ "", "it names no collector" },
		{ "\n", "it names no collector" },
		{ "syslog://\n", "forward: bad URI \"syslog://\"" },
		/* Valid, but not the one: its queue is another folder. */
		{ "fluent+unix:/nowhere.sock\n", "fluent+unix:/nowhere.sock is "
		    "not the URI its records were queued for" },
	};
	const char *args[] = { "-n", "100", NULL };
	const char *argv[] = { "--config", NULL, NULL };
	char path[600], text[400], *log, *line, *p, *last = NULL;
	struct dirent *de;
	size_t i;
	DIR *d;

	collector_forward_start(&H, B_URI, NULL);
	collector_run(&H, "r1", "alpha", args);
	collector_await_stat(&H, "queued_disk", 100, 0);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
	snprintf(path, sizeof path, "%s/forward", H.state_dir);
	ck_assert_ptr_nonnull(d = opendir(path));
	while ((de = readdir(d)) != NULL && de->d_name[0] == '.')
		;
	ck_assert_ptr_nonnull(de);
	snprintf(path, sizeof path, "%s/forward/%s/uri", H.state_dir,
	    de->d_name);
	closedir(d);
	argv[1] = harness_config(&H, "[relogd]\nrate_limit = off\n");
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		harness_write_file(path, bad[i].text);
		harness_daemon_start(&H, argv);
		/* relogd.stderr holds the runs before. */
		snprintf(text, sizeof text, "/uri: %s", bad[i].said);
		ck_assert_int_eq(harness_daemon_await(&H, "the records queued "
		    "there are not sent", i + 1, COLLECTOR_TIMEOUT_MS), 0);
		ck_assert_int_eq(harness_daemon_stop(&H), 0);
		/* This run's line, the last such, says why. */
		log = harness_read_file(H.stderr_path, NULL);
		ck_assert_uint_eq(harness_count(log, "are not sent"), i + 1);
		for (line = log; (p = strstr(line, "are not sent")) != NULL;
		    line = p + 1)
			last = p;
		while (last > log && last[-1] != '\n')
			last--;
		ck_assert_msg(strstr(last, text) != NULL &&
		    strstr(last, text) < strstr(last, "are not sent"), "%s",
		    log);
		free(log);
	}

	snprintf(text, sizeof text, "%s\n", B_URI);
	harness_write_file(path, text);
	collector_relogd_start(&B, B_SOCK);
	harness_daemon_start(&H, argv);
	collector_await_stat(&H, "acked", 100, 0);
	log = remote_stop_both();
	harness_check_sequence(log, "r1", 0, 100);
	free(log);
}
END_TEST

/*
 * A forward sink whose file queue cannot be made: added by SIGHUP it is
 * not used, said so, and relogd goes on writing; at startup relogd refuses
 * to start without it.
 */
START_TEST(test_remote_queue_unusable)
{
	const char *args[] = { "-n", "5", NULL };
	const char *argv[] = { "--config", NULL, NULL };
	const char *start[] = { harness_build_path("relogd"), "--config", NULL,
	    "--socket", NULL, "--log-dir", NULL, "--state-dir", NULL, NULL };
	char path[400], text[400], *log;
	pid_t pid;
	int fd;

	argv[1] = harness_config(&H, "[relogd]\nrate_limit = off\n");
	harness_daemon_start(&H, argv);
	/* A file where the queues' folder goes. */
	snprintf(path, sizeof path, "%s/forward", H.state_dir);
	harness_write_file(path, "not a folder\n");
	snprintf(text, sizeof text, "[relogd]\nrate_limit = off\n"
	    "forward = %s\n", B_URI);
	harness_config(&H, text);
	ck_assert_int_eq(kill(H.daemon, SIGHUP), 0);
	ck_assert_int_eq(harness_daemon_await(&H, "/fwd.sock: not used", 1,
	    COLLECTOR_TIMEOUT_MS), 0);
	ck_assert_int_eq(harness_daemon_await(&H, "Not a directory", 1,
	    COLLECTOR_TIMEOUT_MS), 0);
	collector_run(&H, "r1", "alpha", args);
	log = harness_plugin_log(&H, "alpha");
	harness_check_sequence(log, "r1", 0, 5);
	free(log);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);

	/* Started so, relogd says why and exits. */
	start[2] = argv[1];
	start[4] = H.socket;
	start[6] = H.log_dir;
	start[8] = H.state_dir;
	pid = harness_spawn(start, NULL, &fd, NULL);
	log = harness_read_fd(fd, NULL);
	ck_assert_int_eq(harness_wait(pid, COLLECTOR_TIMEOUT_MS), 1);
	ck_assert_msg(strstr(log, "/fwd.sock: cannot start") != NULL, "%s",
	    log);
	free(log);
}
END_TEST

/* A test case of the suite, with its fixture. */
static TCase *
remote_tcase(Suite *s, const char *name)
{
	TCase *tc = tcase_create(name);

	tcase_add_checked_fixture(tc, remote_setup, remote_teardown);
	tcase_set_timeout(tc, 240);
	suite_add_tcase(s, tc);
	return (tc);
}

/* A forward sink's queue, backoff and settings, whatever its protocol. */
Suite *
suite_remote(void)
{
	Suite *s = suite_create("remote");
	TCase *tc;

	tc = remote_tcase(s, "queue");
	tcase_add_test(tc, test_remote_disk_full);
	tcase_add_test(tc, test_remote_disk_refuses);
	tcase_add_test(tc, test_remote_fsize_limit);
	tcase_add_test(tc, test_remote_torn_record);
	tcase_add_test(tc, test_remote_empty_segment);
	tcase_add_test(tc, test_remote_dropped_in_flight);
	tcase_add_test(tc, test_remote_sigkill_stalled);
	tcase_add_test(tc, test_remote_idle_unwatched);
	tcase_add_test(tc, test_remote_backoff);
	tc = remote_tcase(s, "config");
	tcase_add_test(tc, test_remote_config);
	tcase_add_test(tc, test_remote_reload);
	tcase_add_test(tc, test_remote_reload_removed);
	tcase_add_test(tc, test_remote_left_without_uri);
	tcase_add_test(tc, test_remote_queue_unusable);
	return (s);
}

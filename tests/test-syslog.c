/*
 * The syslog forward sink (RFC 5424 over RFC 6587 octet counting) against
 * real peers: Debian's rsyslogd (imtcp on a loopback port, plain and over
 * TLS), and the test itself as the collector, over TCP, a Unix socket and
 * IPv6. The collector goes away, relogd is killed: nothing is lost.
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests.h"

static struct harness H;	/* the relogd forwarding */
static struct rsyslog RS;

/* Each test: a folder for the relogd forwarding, and an rsyslogd. */
static void
syslog_setup(void)
{
	harness_init(&H);
	collector_rsyslog_init(&RS);
}

/* Stop what the test left running, and remove its folders. */
static void
syslog_teardown(void)
{
	collector_rsyslog_kill(&RS);
	harness_cleanup(&H);
}

/* Pack a batch of the two entries arg points to. */
static void
syslog_pack_two(msgpack_packer *pk, void *arg)
{
	const struct proto_entry *e = arg;

	proto_pack_batch_head(pk, 2, 0, 0);
	proto_pack_entry(pk, &e[0]);
	proto_pack_entry(pk, &e[1]);
}

/*
 * RFC 5424 over TCP to rsyslogd: APP-NAME the plugin, PROCID the runner's
 * pid, MSGID the logger, the structured data escaped, the record's own
 * time to the millisecond, the exception text in the same message, and
 * control bytes escaped.
 */
START_TEST(test_syslog_fields)
{
	struct proto_entry e[2] = {
		{ .timestamp_ms = 981173106789, .level = 30,
		  .logger_name = proto_cstr("plugin.alpha.we\"ird]"),
		  .message = proto_cstr("quote \" back \\ bracket ] done"),
		  .exception_text = proto_cstr("Traceback (most recent call "
		  "last):\n  File \"x.py\"\nValueError: boom") },
		{ .timestamp_ms = 1764306519123, .level = 40,
		  .logger_name = proto_cstr("plugin.alpha"),
		  .message = proto_cstr("second \x1b[31m\r"),
		  .exception_text = proto_cstr("") },
	};
	struct proto_header hd;
	char uri[64], expect[1024], *text;
	int fd, eof;

	collector_rsyslog_start(&RS, H.dir, 0, NULL);
	snprintf(uri, sizeof uri, "syslog://127.0.0.1:%d", RS.port);
	collector_forward_start(&H, uri, NULL);
	fd = wire_open(&H, "r1");
	wire_begin(&hd, "request", 2, RELOG_METHOD_LOG_BATCH);
	wire_send(fd, &hd, syslog_pack_two, e, 65536);
	ck_assert_str_eq(wire_reply(fd, 0, &eof), "written=2");
	close(fd);

	ck_assert_int_eq(harness_await_file(RS.out, "\n", 2,
	    COLLECTOR_TIMEOUT_MS), 0);
	text = harness_read_file(RS.out, NULL);
	snprintf(expect, sizeof expect, "alpha|%ld|plugin.alpha.we\"ird]|"
	    "2001-02-03T04:05:06.789Z|12|[relog@32473 plugin=\"alpha\" "
	    "logger=\"plugin.alpha.we\\\"ird\\]\" level=\"WARNING\"]|"
	    "quote \\\" back \\\\ bracket ] done\\nTraceback (most recent "
	    "call last):\\n  File \\\"x.py\\\"\\nValueError: boom\n"
	    "alpha|%ld|plugin.alpha|2025-11-28T05:08:39.123Z|11|"
	    "[relog@32473 plugin=\"alpha\" logger=\"plugin.alpha\" "
	    "level=\"ERROR\"]|second \\\\x1b[31m\\\\x0d\n", (long)getpid(),
	    (long)getpid());
	ck_assert_str_eq(text, expect);
	free(text);
	/* A second without records: the connection is closed, all acked. */
	collector_await_stat(&H, "acked", 2, 0);
	ck_assert_int_eq(collector_stat(&H, "queued_memory"), 0);
	ck_assert_int_eq(collector_stat(&H, "queued_disk"), 0);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
	collector_rsyslog_stop(&RS);
}
END_TEST

/*
 * rsyslogd stopped for a while under load, then started again: the records
 * wait on disk meanwhile, and every one arrives, in order (some twice: those
 * of the connection that broke).
 */
START_TEST(test_syslog_restart)
{
	const char *args[] = { "-n", "20000", "-r", "4000", NULL };
	char uri[64], *text;
	pid_t runner;

	collector_rsyslog_start(&RS, H.dir, 0, NULL);
	snprintf(uri, sizeof uri, "syslog://127.0.0.1:%d", RS.port);
	collector_forward_start(&H, uri, NULL);
	runner = harness_runner(&H, "r1", "alpha", args, NULL);
	ck_assert_int_eq(harness_await_file(RS.out, "runner=r1 thread=0 seq=",
	    1000, COLLECTOR_TIMEOUT_MS), 0);
	collector_rsyslog_stop(&RS);
	collector_await_stat(&H, "connected", 0, 1);
	collector_await_stat(&H, "queued_disk", 1000, 0);
	collector_rsyslog_start(&RS, H.dir, RS.port, NULL);
	ck_assert_int_eq(harness_wait(runner, COLLECTOR_TIMEOUT_MS), 0);
	ck_assert_int_eq(harness_await_file(RS.out, "seq=19999\n", 1,
	    COLLECTOR_TIMEOUT_MS), 0);
	text = harness_read_file(RS.out, NULL);
	/* At most what one connection carries comes twice. */
	harness_check_delivered(text, "r1", 20000, 10000);
	free(text);
	collector_await_stat(&H, "acked", 20000, 0);
	ck_assert_int_eq(collector_stat(&H, "dropped"), 0);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
	collector_rsyslog_stop(&RS);
}
END_TEST

/* Kill relogd (SIGKILL), and see it gone. */
static void
syslog_kill(void)
{
	ck_assert_int_eq(kill(H.daemon, SIGKILL), 0);
	ck_assert_int_eq(harness_wait(H.daemon, COLLECTOR_TIMEOUT_MS), 128 +
	    SIGKILL);
	H.daemon = -1;
}

/*
 * rsyslogd started on port, and relogd again, forwarding to uri: the n
 * records its queue held arrive, once each. Then both stop.
 */
static void
syslog_restart_delivers(const char *uri, int port, long n)
{
	collector_rsyslog_start(&RS, H.dir, port, NULL);
	collector_forward_start(&H, uri, NULL);
	collector_rsyslog_check_sequence(&RS, n);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
	collector_rsyslog_stop(&RS);
}

/*
 * relogd killed (SIGKILL) while the collector is down and records wait on
 * disk: started again, it delivers them, once each.
 */
START_TEST(test_syslog_sigkill)
{
	const char *args[] = { "-n", "500", NULL };
	char uri[64];
	int port;

	/* A port rsyslogd will listen on, free meanwhile. */
	collector_rsyslog_start(&RS, H.dir, 0, NULL);
	port = RS.port;
	collector_rsyslog_stop(&RS);
	snprintf(uri, sizeof uri, "syslog://127.0.0.1:%d", port);
	collector_forward_start(&H, uri, NULL);
	collector_run(&H, "r1", "alpha", args);
	collector_await_stat(&H, "queued_disk", 500, 0);
	ck_assert_int_eq(collector_stat(&H, "connected"), 0);
	syslog_kill();

	syslog_restart_delivers(uri, port, 500);
}
END_TEST

/*
 * The collector's host gone away (a connect answered by nothing, until
 * forward_timeout), from relogd's start: the records a runner handed over
 * wait on disk at once, not in memory, and survive relogd's SIGKILL.
 */
START_TEST(test_syslog_sigkill_unanswered)
{
	const char *args[] = { "-n", "500", NULL };
	char uri[64];
	int port = 0, lfd, filler;

	lfd = collector_unanswered(&port, &filler);
	snprintf(uri, sizeof uri, "syslog://127.0.0.1:%d", port);
	collector_forward_start(&H, uri, "forward_timeout = 3600\n");
	collector_run(&H, "r1", "alpha", args);
	/* Written before the ring moved past them. */
	ck_assert_int_eq(collector_stat(&H, "queued_disk"), 500);
	ck_assert_int_eq(collector_stat(&H, "queued_memory"), 0);
	ck_assert_int_eq(collector_stat(&H, "connected"), 0);
	syslog_kill();
	close(filler);
	close(lfd);

	syslog_restart_delivers(uri, port, 500);
}
END_TEST

/*
 * The same once the collector was up: its connection ended well (the
 * collector went away with nothing owed), and a connect is answered by
 * nothing: the records wait in memory only REMOTE_CONNECT_SLOW_MS, then
 * on disk.
 */
START_TEST(test_syslog_unanswered_after_up)
{
	const char *args[] = { "-n", "100", NULL };
	const char *more[] = { "-n", "300", NULL };
	char uri[64];
	int port, lfd, filler;

	collector_rsyslog_start(&RS, H.dir, 0, NULL);
	port = RS.port;
	snprintf(uri, sizeof uri, "syslog://127.0.0.1:%d", port);
	/* Its connect not failed by forward_timeout while the test runs. */
	collector_forward_start(&H, uri, "forward_timeout = 3600\n");
	collector_run(&H, "r1", "alpha", args);
	collector_await_stat(&H, "acked", 100, 0);
	/* Closed when idle, its end-of-file awaited: it ended well. */
	collector_await_stat(&H, "connected", 0, 1);
	collector_rsyslog_stop(&RS);
	lfd = collector_unanswered(&port, &filler);
	collector_run(&H, "r2", "alpha", more);
	collector_await_stat(&H, "queued_disk", 300, 0);
	ck_assert_int_eq(collector_stat(&H, "queued_memory"), 0);
	ck_assert_int_eq(collector_stat(&H, "dropped"), 0);
	syslog_kill();
	close(filler);
	close(lfd);
}
END_TEST

/*
 * A collector that took the connection and reads nothing (a listener that
 * never accepts: the kernel completes the handshake and queues the bytes).
 * Once the connection was up (records before it wait on disk anyway), and
 * the collector then took nothing for REMOTE_STALL_MS (here: no end-of-file
 * to syslog's close when idle), the records in memory go to disk, and so
 * do the ones after them, long before forward_timeout. They survive
 * relogd's SIGKILL.
 */
START_TEST(test_syslog_sigkill_stalled)
{
	char uri[64], *text;
	int port, lfd;

	lfd = collector_listen_tcp(&port);
	snprintf(uri, sizeof uri, "syslog://127.0.0.1:%d", port);
	collector_forward_stalled(&H, uri);
	syslog_kill();
	/* The bytes it held are lost with it: each record comes from disk. */
	close(lfd);

	collector_rsyslog_start(&RS, H.dir, port, NULL);
	collector_forward_start(&H, uri, NULL);
	collector_rsyslog_check_sequence(&RS, 500);
	text = harness_read_file(RS.out, NULL);
	harness_check_sequence(text, "r0", 0, 10);
	free(text);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
	collector_rsyslog_stop(&RS);
}
END_TEST

/*
 * relogd stopped (SIGTERM) while sending: what was in flight is acked
 * before it exits (the connection closed, and the collector's end-of-file
 * awaited), the rest waits on disk and goes after the restart: each record
 * arrives once.
 */
START_TEST(test_syslog_sigterm)
{
	const char *args[] = { "-n", "15000", NULL };
	char uri[64];

	collector_rsyslog_start(&RS, H.dir, 0, NULL);
	snprintf(uri, sizeof uri, "syslog://127.0.0.1:%d", RS.port);
	collector_forward_start(&H, uri, NULL);
	collector_run(&H, "r1", "alpha", args);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
	collector_forward_start(&H, uri, NULL);
	collector_rsyslog_check_sequence(&RS, 15000);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
	collector_rsyslog_stop(&RS);
}
END_TEST

/*
 * The TLS tests' collector: certificates made, rsyslogd over TLS showing
 * cert; uri (64 bytes) names it.
 */
static void
syslog_tls_start(const char *cert, char *uri)
{
	collector_make_certs(H.dir);
	collector_rsyslog_start(&RS, H.dir, 0, cert);
	snprintf(uri, 64, "syslog+tls://127.0.0.1:%d", RS.port);
}

/* relogd was refused (its log says why): the 200 records wait on disk. */
static void
syslog_tls_refused(const char *why)
{
	ck_assert_int_eq(harness_daemon_await(&H, why, 1, COLLECTOR_TIMEOUT_MS),
	    0);
	collector_await_stat(&H, "queued_disk", 200, 0);
	ck_assert_int_eq(collector_stat(&H, "acked"), 0);
}

/* The 200 records arrive, once each; then both stop. */
static void
syslog_tls_delivered(void)
{
	collector_await_stat(&H, "acked", 200, 0);
	collector_rsyslog_check_sequence(&RS, 200);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
	collector_rsyslog_stop(&RS);
}

/*
 * syslog over TLS to rsyslogd's ossl driver: a certificate the CA does not
 * vouch for, or one made for another host, gets nothing (the records wait,
 * across restarts, and the log says why); the right one gets them all.
 */
START_TEST(test_syslog_tls)
{
	const char *args[] = { "-n", "200", NULL };
	char uri[64], more[400];
	int port;

	syslog_tls_start("cert.pem", uri);
	port = RS.port;
	snprintf(more, sizeof more, "forward_tls_ca = %s/other.pem\n", H.dir);
	collector_forward_start(&H, uri, more);
	collector_run(&H, "r1", "alpha", args);
	/* rsyslogd sends its CA along: one the given CA does not know. */
	syslog_tls_refused("TLS: certificate verify failed (self-signed "
	    "certificate in certificate chain); records wait on disk");
	ck_assert_int_eq(harness_daemon_stop(&H), 0);

	/* The right CA, but the collector's certificate names another host. */
	collector_rsyslog_stop(&RS);
	collector_rsyslog_start(&RS, H.dir, port, "far.pem");
	snprintf(more, sizeof more, "forward_tls_ca = %s/ca.pem\n", H.dir);
	collector_forward_start(&H, uri, more);
	syslog_tls_refused("TLS: certificate verify failed (IP address "
	    "mismatch); records wait on disk");
	ck_assert_int_eq(harness_daemon_stop(&H), 0);

	collector_rsyslog_stop(&RS);
	collector_rsyslog_start(&RS, H.dir, port, "cert.pem");
	collector_forward_start(&H, uri, more);
	syslog_tls_delivered();
}
END_TEST

/*
 * A CA file replaced in place (a certificate rotated) takes effect at
 * SIGHUP: the sink's next connection verifies with it, and the records
 * that waited arrive.
 */
START_TEST(test_syslog_tls_reload)
{
	const char *args[] = { "-n", "200", NULL };
	char uri[64], more[400], ca[340], path[340], *text;

	syslog_tls_start("cert.pem", uri);
	snprintf(path, sizeof path, "%s/other.pem", H.dir);
	text = harness_read_file(path, NULL);
	ck_assert_ptr_nonnull(text);
	snprintf(ca, sizeof ca, "%s/ca-in-use.pem", H.dir);
	harness_write_file(ca, text);
	free(text);
	snprintf(more, sizeof more, "forward_tls_ca = %s\n", ca);
	collector_forward_start(&H, uri, more);
	collector_run(&H, "r1", "alpha", args);
	syslog_tls_refused("TLS: certificate verify failed");

	/* The right CA, at the same path. */
	snprintf(path, sizeof path, "%s/ca.pem", H.dir);
	text = harness_read_file(path, NULL);
	ck_assert_ptr_nonnull(text);
	harness_write_file(ca, text);
	free(text);
	ck_assert_int_eq(kill(H.daemon, SIGHUP), 0);
	ck_assert_int_eq(harness_daemon_await(&H, "configuration reloaded", 1,
	    COLLECTOR_TIMEOUT_MS), 0);
	syslog_tls_delivered();
}
END_TEST

/*
 * A collector that asks for a client certificate (rsyslogd, x509/certvalid)
 * gets nothing without one, the records waiting; with forward_tls_cert and
 * forward_tls_key they arrive.
 */
START_TEST(test_syslog_tls_client)
{
	const char *args[] = { "-n", "200", NULL };
	char uri[64], more[1024], *text;

	RS.client_auth = 1;
	syslog_tls_start("cert.pem", uri);
	snprintf(more, sizeof more, "forward_tls_ca = %s/ca.pem\n", H.dir);
	collector_forward_start(&H, uri, more);
	collector_run(&H, "r1", "alpha", args);
	syslog_tls_refused("; records wait on disk");
	/* The alert, or the close after it if that is what relogd reads. */
	text = harness_read_file(H.stderr_path, NULL);
	ck_assert_msg(strstr(text, "TLS: tlsv13 alert certificate required;") !=
	    NULL || strstr(text, "the collector closed the connection;") !=
	    NULL, "%s", text);
	free(text);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);

	/* The server's certificate serves as the client's: the CA signed it. */
	snprintf(more, sizeof more, "forward_tls_ca = %s/ca.pem\n"
	    "forward_tls_cert = %s/cert.pem\nforward_tls_key = %s/key.pem\n",
	    H.dir, H.dir, H.dir);
	collector_forward_start(&H, uri, more);
	syslog_tls_delivered();
}
END_TEST

/* Mark in seen[] each "runner=r1 thread=0 seq=N" of a text. */
static void
syslog_mark_seen(const char *text, size_t len, char *seen, long count)
{
	static const char tag[] = "runner=r1 thread=0 seq=";
	const char *p = text, *end = text + len;
	long seq;

	while ((p = memmem(p, (size_t)(end - p), tag, sizeof tag - 1)) !=
	    NULL) {
		p += sizeof tag - 1;
		seq = strtol(p, NULL, 10);
		if (seq >= 0 && seq < count)
			seen[seq] = 1;
	}
}

/* Read a connection to its end (or an error), into a growing buffer. */
static void
syslog_read_all(int fd, struct msgpack_sbuffer *buf)
{
	char chunk[65536];
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	ssize_t n;

	for (;;) {
		ck_assert_int_eq(poll(&pfd, 1, COLLECTOR_TIMEOUT_MS), 1);
		n = read(fd, chunk, sizeof chunk);
		if (n <= 0)
			return;
		msgpack_sbuffer_write(buf, chunk, (size_t)n);
	}
}

/*
 * Take relogd's next connection and read nothing. Once relogd means to
 * close it (past 1 MiB, or a second without records), the collector
 * closes its side first, and goes without reading what it was sent: relogd
 * takes that for a broken connection, not an ack (its nth).
 */
static void
syslog_close_unread(int lfd, size_t nth)
{
	int fd;

	fd = collector_accept(lfd, COLLECTOR_TIMEOUT_MS);
	ck_assert_int_ge(fd, 0);
	collector_await_state(&H, "closing");
	ck_assert_int_eq(shutdown(fd, SHUT_WR), 0);
	ck_assert_int_eq(harness_daemon_await(&H, "the collector closed the "
	    "connection; ", nth, COLLECTOR_TIMEOUT_MS), 0);
	close(fd);
}

/*
 * A syslog collector that reads some of a connection and closes it: what
 * it did not read is sent again on the next one (its end-of-file is an
 * ack only after relogd half-closed and the collector had every byte).
 */
START_TEST(test_syslog_peer_closes)
{
	const char *args[] = { "-n", "3000", "-s", "500", NULL };
	char uri[64], seen[3000];
	msgpack_sbuffer all;
	int lfd, fd, port, rcvbuf = 4096;
	long i, missing = 0;

	lfd = collector_listen_tcp(&port);
	/*
	 * A receive buffer too small for what relogd sends before it means to
	 * close (whatever tcp_rmem says): relogd cannot have every byte
	 * acknowledged and half-close first, which would make the
	 * collector's close, with nothing read, its ack.
	 */
	ck_assert_int_eq(setsockopt(lfd, SOL_SOCKET, SO_RCVBUF, &rcvbuf,
	    sizeof rcvbuf), 0);
	snprintf(uri, sizeof uri, "syslog://127.0.0.1:%d", port);
	collector_forward_start(&H, uri, NULL);
	collector_run(&H, "r1", "alpha", args);
	msgpack_sbuffer_init(&all);
	/*
	 * The first connection: nothing read, and relogd says so, with how
	 * many records go again (the remote is down from then on).
	 */
	syslog_close_unread(lfd, 1);
	ck_assert_int_eq(harness_daemon_await(&H, " records sent and not acked "
	    "go again; records wait on disk", 1, COLLECTOR_TIMEOUT_MS), 0);
	/*
	 * The second, the same way. The remote is known down by now, and its
	 * retries are not said; records sent again are.
	 */
	syslog_close_unread(lfd, 2);
	ck_assert_int_eq(harness_daemon_await(&H, " records sent and not acked "
	    "go again", 2, COLLECTOR_TIMEOUT_MS), 0);
	/* Then every connection read to its end, until all 3000 came. */
	memset(seen, 0, sizeof seen);
	do {
		fd = collector_accept(lfd, COLLECTOR_TIMEOUT_MS);
		ck_assert_msg(fd >= 0, "relogd did not send the rest");
		syslog_read_all(fd, &all);
		close(fd);
		syslog_mark_seen(all.data, all.size, seen, 3000);
		for (i = 0, missing = 0; i < 3000; i++)
			missing += !seen[i];
	} while (missing != 0);
	collector_await_stat(&H, "acked", 3000, 0);
	ck_assert_int_eq(collector_stat(&H, "dropped"), 0);
	msgpack_sbuffer_destroy(&all);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
	close(lfd);
}
END_TEST

/*
 * Be the syslog collector on lfd, relogd forwarding to uri: 500 records
 * arrive as exactly 500 RFC 6587 octet-counted frames ("LEN SP MSG", MSG
 * starting with its PRI), in order; relogd half-closes the connection a
 * second after the last record, and the collector's close acks them all.
 */
static void
syslog_collect(int lfd, const char *uri)
{
	const char *args[] = { "-n", "500", NULL };
	msgpack_sbuffer all, lines;
	const char *p, *end;
	unsigned long len;
	long frames = 0;
	char *num;
	int fd;

	collector_forward_start(&H, uri, NULL);
	collector_run(&H, "r1", "alpha", args);
	fd = collector_accept(lfd, COLLECTOR_TIMEOUT_MS);
	ck_assert_int_ge(fd, 0);
	msgpack_sbuffer_init(&all);
	syslog_read_all(fd, &all);
	close(fd);
	collector_await_stat(&H, "acked", 500, 0);

	/* Each message, a line each, for the sequence check. */
	msgpack_sbuffer_init(&lines);
	msgpack_sbuffer_write(&all, "", 1);	/* strtoul stops there */
	p = all.data;
	end = p + all.size - 1;
	while (p < end) {
		len = strtoul(p, &num, 10);
		ck_assert_ptr_ne(num, p);
		ck_assert_int_eq(*num, ' ');
		p = num + 1;
		ck_assert_uint_le(len, (unsigned long)(end - p));
		ck_assert_int_eq(*p, '<');
		msgpack_sbuffer_write(&lines, p, len);
		msgpack_sbuffer_write(&lines, "\n", 1);
		p += len;
		frames++;
	}
	ck_assert_int_eq(frames, 500);
	msgpack_sbuffer_write(&lines, "", 1);
	harness_check_sequence(lines.data, "r1", 0, 500);
	msgpack_sbuffer_destroy(&lines);
	msgpack_sbuffer_destroy(&all);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
}

/* syslog over a Unix stream socket (syslog+unix:). */
START_TEST(test_syslog_unix)
{
	char path[300], uri[320];
	int lfd;

	snprintf(path, sizeof path, "%s/collector.sock", H.dir);
	snprintf(uri, sizeof uri, "syslog+unix:%s", path);
	lfd = collector_listen_unix(path);
	syslog_collect(lfd, uri);
	close(lfd);
}
END_TEST

/* syslog over TCP to an IPv6 address ([::1]). */
START_TEST(test_syslog_ipv6)
{
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6 };
	socklen_t len = sizeof sin6;
	char uri[64];
	int lfd;

	sin6.sin6_addr = in6addr_loopback;
	lfd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sin6, sizeof sin6) != 0) {
		/* Containers may run without IPv6: nothing to test there. */
		ck_assert_msg(errno == EAFNOSUPPORT || errno == EADDRNOTAVAIL,
		    "[::1]: %s", strerror(errno));
		fprintf(stderr, "test_syslog_ipv6: no [::1] here (%s); "
		    "skipped\n", strerror(errno));
		if (lfd >= 0)
			close(lfd);
		return;
	}
	ck_assert_int_eq(listen(lfd, 16), 0);
	ck_assert_int_eq(getsockname(lfd, (struct sockaddr *)&sin6, &len), 0);
	snprintf(uri, sizeof uri, "syslog://[::1]:%d", ntohs(sin6.sin6_port));
	syslog_collect(lfd, uri);
	close(lfd);
}
END_TEST

/* A test case of the suite, with its fixture. */
static TCase *
syslog_tcase(Suite *s, const char *name)
{
	TCase *tc = tcase_create(name);

	tcase_add_checked_fixture(tc, syslog_setup, syslog_teardown);
	tcase_set_timeout(tc, 240);
	suite_add_tcase(s, tc);
	return (tc);
}

/* The syslog forward sink: rsyslogd, and the test, as collectors. */
Suite *
suite_syslog(void)
{
	Suite *s = suite_create("syslog");
	TCase *tc;

	tc = syslog_tcase(s, "tcp");
	tcase_add_test(tc, test_syslog_fields);
	tcase_add_test(tc, test_syslog_restart);
	tcase_add_test(tc, test_syslog_sigkill);
	tcase_add_test(tc, test_syslog_sigkill_unanswered);
	tcase_add_test(tc, test_syslog_unanswered_after_up);
	tcase_add_test(tc, test_syslog_sigkill_stalled);
	tcase_add_test(tc, test_syslog_sigterm);
	tcase_add_test(tc, test_syslog_peer_closes);
	tcase_add_test(tc, test_syslog_unix);
	tcase_add_test(tc, test_syslog_ipv6);
	tc = syslog_tcase(s, "tls");
	tcase_add_test(tc, test_syslog_tls);
	tcase_add_test(tc, test_syslog_tls_client);
	tcase_add_test(tc, test_syslog_tls_reload);
	return (s);
}

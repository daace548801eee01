/*
 * Forward sinks against real peers: Debian's rsyslogd (imtcp on a loopback
 * port, writing a file), relogd's own Forward input, and the test itself as
 * a Fluent collector checking the bytes against the Forward protocol spec
 * v1. The collector goes away, relogd is killed: nothing is lost.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "proto.h"
#include "tests.h"

#define REMOTE_TIMEOUT_MS 60000
#define REMOTE_RSYSLOGD "/usr/sbin/rsyslogd"

/* An rsyslogd started by a test, in its own folder. */
struct rsyslog {
	char dir[300];
	char out[340];		/* what it received, one record a line */
	pid_t pid;
	int port;
	int client_auth;	/* TLS: ask for a client certificate */
};

static struct harness H;	/* the relogd forwarding */
static struct harness B;	/* a second one, collecting */
static char B_SOCK[300];	/* B's Forward input */
static char B_URI[320];		/* the same, as a forward URI */
static struct rsyslog RS;

static void
remote_setup(void)
{
	harness_init(&H);
	harness_init(&B);
	snprintf(B_SOCK, sizeof B_SOCK, "%s/fwd.sock", B.dir);
	snprintf(B_URI, sizeof B_URI, "fluent+unix:%s", B_SOCK);
	memset(&RS, 0, sizeof RS);
	RS.pid = -1;
}

static void
remote_teardown(void)
{
	if (RS.pid > 0) {
		kill(RS.pid, SIGKILL);
		waitpid(RS.pid, NULL, 0);
	}
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

/* Wait a little between two looks at a condition that has no event. */
static void
remote_poll_pause(void)
{
	struct timespec ts = { 0, 20 * 1000 * 1000 };

	nanosleep(&ts, NULL);
}

/* Can a TCP connection to 127.0.0.1:port be made? */
static int
remote_port_open(int port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	int fd, ok;

	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	ok = connect(fd, (struct sockaddr *)&sin, sizeof sin) == 0;
	close(fd);
	return (ok);
}

/*
 * Start rsyslogd: imtcp on 127.0.0.1:port (0: any, read back from its port
 * file), each record written as one line: APP-NAME|PROCID|MSGID|TIMESTAMP|
 * PRI|STRUCTURED-DATA|MSG (MSG JSON-escaped, so newlines stay in it). With
 * cert non-NULL, over TLS, showing dir/cert (see remote_make_certs).
 */
static void
rsyslog_start(struct rsyslog *rs, const char *dir, int port,
    const char *cert)
{
	char conf[400], portfile[340], pidfile[340], *text;
	const char *argv[] = { REMOTE_RSYSLOGD, "-n", "-f", conf, "-i",
	    pidfile, NULL };
	int64_t deadline = harness_now_ms() + REMOTE_TIMEOUT_MS;
	FILE *f;

	snprintf(rs->dir, sizeof rs->dir, "%s", dir);
	snprintf(rs->out, sizeof rs->out, "%s/rsyslog.out", dir);
	snprintf(conf, sizeof conf, "%s/rsyslog.conf", dir);
	snprintf(portfile, sizeof portfile, "%s/rsyslog.port", dir);
	snprintf(pidfile, sizeof pidfile, "%s/rsyslog.pid", dir);
	unlink(portfile);
	f = fopen(conf, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "global(workDirectory=\"%s\" maxMessageSize=\"256k\"\n"
	    "    parser.escapeControlCharactersOnReceive=\"off\"", dir);
	if (cert != NULL)
		fprintf(f, " DefaultNetstreamDriver=\"ossl\"\n"
		    "    DefaultNetstreamDriverCAFile=\"%s/ca.pem\"\n"
		    "    DefaultNetstreamDriverCertFile=\"%s/%s\"\n"
		    "    DefaultNetstreamDriverKeyFile=\"%s/key.pem\"", dir, dir,
		    cert, dir);
	fprintf(f, ")\n"
	    "main_queue(queue.timeoutShutdown=\"30000\")\n"
	    "module(load=\"imtcp\"%s%s%s)\n"
	    "input(type=\"imtcp\" address=\"127.0.0.1\" port=\"%d\"\n"
	    "    listenPortFileName=\"%s\")\n"
	    "template(name=\"line\" type=\"string\" string=\"%%app-name%%|"
	    "%%procid%%|%%msgid%%|%%timereported:::date-rfc3339%%|%%pri%%|"
	    "%%structured-data%%|%%msg:::json%%\\n\")\n"
	    "*.* action(type=\"omfile\" file=\"%s\" template=\"line\")\n",
	    cert != NULL ? " StreamDriver.Name=\"ossl\" StreamDriver.Mode=\"1\"\n"
	    "    StreamDriver.AuthMode=\"" : "", cert == NULL ? "" :
	    rs->client_auth ? "x509/certvalid" : "anon", cert != NULL ? "\"" : "",
	    port, portfile, rs->out);
	ck_assert_int_eq(fclose(f), 0);
	rs->pid = harness_spawn(argv, NULL, NULL, NULL);
	rs->port = port;
	/* Listening: its port file says so (port 0), or it takes connections. */
	while (rs->port == 0) {
		text = harness_read_file(portfile, NULL);
		if (text != NULL)
			rs->port = atoi(text);
		free(text);
		ck_assert_msg(harness_now_ms() < deadline, "rsyslogd did not "
		    "start");
		if (rs->port == 0)
			remote_poll_pause();
	}
	while (!remote_port_open(rs->port)) {
		ck_assert_msg(harness_now_ms() < deadline, "rsyslogd does not "
		    "listen on %d", rs->port);
		remote_poll_pause();
	}
}

/* Run a program to its end; it must succeed. */
static void
remote_run_program(const char *const *argv)
{
	char *text;
	int out;
	pid_t pid;

	pid = harness_spawn(argv, NULL, &out, NULL);
	text = harness_read_fd(out, NULL);
	ck_assert_msg(harness_wait(pid, REMOTE_TIMEOUT_MS) == 0, "%s: %s",
	    argv[0], text);
	free(text);
}

/*
 * Make certificates in dir with openssl(1): ca.pem (and ca.key); server
 * certificates signed by it, with the one key key.pem, cert.pem for IP
 * 127.0.0.1 and far.pem for IP 192.0.2.1 (another host); and other.pem, a
 * CA that signed nothing.
 */
static void
remote_make_certs(const char *dir)
{
	char ca[340], cakey[340], key[340], req[340], cert[340], ext[340];
	char other[340], otherkey[340], far[340], farext[340];
	const char *mkca[] = { "/usr/bin/openssl", "req", "-x509", "-newkey",
	    "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
	    cakey, "-out", ca, "-subj", "/CN=relog test CA", "-days", "2",
	    NULL };
	const char *mkother[] = { "/usr/bin/openssl", "req", "-x509",
	    "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
	    "-keyout", otherkey, "-out", other, "-subj", "/CN=other CA",
	    "-days", "2", NULL };
	const char *mkreq[] = { "/usr/bin/openssl", "req", "-newkey", "ec",
	    "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key,
	    "-out", req, "-subj", "/CN=127.0.0.1", NULL };
	const char *sign[] = { "/usr/bin/openssl", "x509", "-req", "-in", req,
	    "-CA", ca, "-CAkey", cakey, "-CAcreateserial", "-out", cert,
	    "-days", "2", "-extfile", ext, NULL };
	const char *signfar[] = { "/usr/bin/openssl", "x509", "-req", "-in",
	    req, "-CA", ca, "-CAkey", cakey, "-CAcreateserial", "-out", far,
	    "-days", "2", "-extfile", farext, NULL };

	snprintf(ca, sizeof ca, "%s/ca.pem", dir);
	snprintf(cakey, sizeof cakey, "%s/ca.key", dir);
	snprintf(other, sizeof other, "%s/other.pem", dir);
	snprintf(otherkey, sizeof otherkey, "%s/other.key", dir);
	snprintf(key, sizeof key, "%s/key.pem", dir);
	snprintf(req, sizeof req, "%s/req.csr", dir);
	snprintf(cert, sizeof cert, "%s/cert.pem", dir);
	snprintf(ext, sizeof ext, "%s/ext.cnf", dir);
	snprintf(far, sizeof far, "%s/far.pem", dir);
	snprintf(farext, sizeof farext, "%s/far.cnf", dir);
	harness_write_file(ext, "subjectAltName = IP:127.0.0.1\n");
	harness_write_file(farext, "subjectAltName = IP:192.0.2.1\n");
	remote_run_program(mkca);
	remote_run_program(mkother);
	remote_run_program(mkreq);
	remote_run_program(sign);
	remote_run_program(signfar);
}

/* Stop rsyslogd (it writes what it read, then exits). */
static void
rsyslog_stop(struct rsyslog *rs)
{
	if (rs->pid <= 0)
		return;
	ck_assert_int_eq(kill(rs->pid, SIGTERM), 0);
	ck_assert_int_eq(harness_wait(rs->pid, REMOTE_TIMEOUT_MS), 0);
	rs->pid = -1;
}

/*
 * Wait until rsyslogd wrote runner r1's record count-1, then check that
 * records 0 .. count-1 are there, each once, in order.
 */
static void
rsyslog_check_sequence(const struct rsyslog *rs, long count)
{
	char last[32], *text;

	snprintf(last, sizeof last, "seq=%ld\n", count - 1);
	ck_assert_int_eq(harness_await_file(rs->out, last, 1,
	    REMOTE_TIMEOUT_MS), 0);
	text = harness_read_file(rs->out, NULL);
	harness_check_sequence(text, "r1", 0, count);
	free(text);
}

/* relogd's stats, as relogctl stats --json prints them (free them). */
static char *
remote_stats_json(const struct harness *h)
{
	const char *argv[] = { harness_build_path("relogctl"), "-s", h->socket,
	    "stats", "--json", NULL };
	char *text;
	int out;
	pid_t pid;

	pid = harness_spawn(argv, NULL, &out, NULL);
	text = harness_read_fd(out, NULL);
	ck_assert_int_eq(harness_wait(pid, REMOTE_TIMEOUT_MS), 0);
	return (text);
}

/*
 * A field of relogd's first forward sink, from its stats: numbers as they
 * are, true 1 and false 0.
 */
static long long
remote_stat(const struct harness *h, const char *key)
{
	char needle[64], *text, *p;
	long long v;

	text = remote_stats_json(h);
	snprintf(needle, sizeof needle, "\"%s\":", key);
	p = strstr(text, "\"forward\":[{");
	ck_assert_msg(p != NULL, "no forward sink in stats: %s", text);
	p = strstr(p, needle);
	ck_assert_ptr_nonnull(p);
	p += strlen(needle);
	if (strncmp(p, "true", 4) == 0)
		v = 1;
	else if (strncmp(p, "false", 5) == 0)
		v = 0;
	else
		v = strtoll(p, NULL, 10);
	free(text);
	return (v);
}

/* Wait until relogd's first forward sink is in a state. */
static void
remote_await_state(const struct harness *h, const char *state)
{
	int64_t deadline = harness_now_ms() + REMOTE_TIMEOUT_MS;
	char needle[64], *text;
	int found;

	snprintf(needle, sizeof needle, "\"state\":\"%s\"", state);
	for (;;) {
		text = remote_stats_json(h);
		found = strstr(text, needle) != NULL;
		free(text);
		if (found)
			return;
		ck_assert_msg(harness_now_ms() < deadline, "no %s", needle);
		remote_poll_pause();
	}
}

/* Wait until a stat is at least (or, with at_most, at most) value. */
static void
remote_await_stat(const struct harness *h, const char *key, long long value,
    int at_most)
{
	int64_t deadline = harness_now_ms() + REMOTE_TIMEOUT_MS;
	long long v;

	for (;;) {
		v = remote_stat(h, key);
		if (at_most ? v <= value : v >= value)
			return;
		ck_assert_msg(harness_now_ms() < deadline, "stats %s is %lld, "
		    "waited for %s %lld", key, v, at_most ? "<=" : ">=",
		    value);
		remote_poll_pause();
	}
}

/* Start relogd h with a config that forwards every plugin to uri. */
static void
remote_start(struct harness *h, const char *uri, const char *more)
{
	char text[2048];
	const char *argv[] = { "--config", NULL, NULL };

	/* Retry within a second, not the default 30 s: tests wait less. */
	snprintf(text, sizeof text, "[relogd]\nforward = %s\n"
	    "forward_retry_max = 1\nrate_limit = off\n%s", uri,
	    more != NULL ? more : "");
	argv[1] = harness_config(h, text);
	harness_daemon_start(h, argv);
}

/* Start the collecting relogd, B, Fluent's Forward protocol on B_SOCK. */
static void
remote_collector_start(void)
{
	const char *argv[] = { "--forward-socket", B_SOCK, NULL };

	harness_daemon_start(&B, argv);
}

/* Run a test-runner to its end (it exits 0 when nothing was dropped). */
static void
remote_run(const char *runner, const char *plugin, const char *const *args)
{
	pid_t pid = harness_runner(&H, runner, plugin, args, NULL);

	ck_assert_int_eq(harness_wait(pid, REMOTE_TIMEOUT_MS), 0);
}

/* Pack a batch of the two entries arg points to. */
static void
remote_pack_two(msgpack_packer *pk, void *arg)
{
	const struct proto_entry *e = arg;

	proto_pack_batch_head(pk, 2, 0, 0);
	proto_pack_entry(pk, &e[0]);
	proto_pack_entry(pk, &e[1]);
}

/*
 * RFC 5424 over TCP to rsyslogd: APP-NAME the plugin, PROCID the runner's
 * pid, MSGID the logger, the structured data escaped, the record's own
 * time to the millisecond, the exception text in the same message.
 */
START_TEST(test_remote_syslog_fields)
{
	struct proto_entry e[2] = {
		{ .timestamp_ms = 981173106789, .level = 30,
		  .logger_name = proto_cstr("plugin.alpha.we\"ird]"),
		  .message = proto_cstr("quote \" back \\ bracket ] done"),
		  .exception_text = proto_cstr("Traceback (most recent call "
		  "last):\n  File \"x.py\"\nValueError: boom") },
		{ .timestamp_ms = 1764306519123, .level = 40,
		  .logger_name = proto_cstr("plugin.alpha"),
		  .message = proto_cstr("second"),
		  .exception_text = proto_cstr("") },
	};
	struct proto_header hd;
	char uri[64], expect[1024], *text;
	int fd, eof;

	rsyslog_start(&RS, H.dir, 0, NULL);
	snprintf(uri, sizeof uri, "syslog://127.0.0.1:%d", RS.port);
	remote_start(&H, uri, NULL);
	fd = wire_open(&H, "r1");
	wire_begin(&hd, "request", 2, RELOG_METHOD_LOG_BATCH);
	wire_send(fd, &hd, remote_pack_two, e, 65536);
	ck_assert_str_eq(wire_reply(fd, 0, &eof), "written=2");
	close(fd);

	ck_assert_int_eq(harness_await_file(RS.out, "\n", 2,
	    REMOTE_TIMEOUT_MS), 0);
	text = harness_read_file(RS.out, NULL);
	snprintf(expect, sizeof expect, "alpha|%ld|plugin.alpha.we\"ird]|"
	    "2001-02-03T04:05:06.789Z|12|[relog@32473 plugin=\"alpha\" "
	    "logger=\"plugin.alpha.we\\\"ird\\]\" level=\"WARNING\"]|"
	    "quote \\\" back \\\\ bracket ] done\\nTraceback (most recent "
	    "call last):\\n  File \\\"x.py\\\"\\nValueError: boom\n"
	    "alpha|%ld|plugin.alpha|2025-11-28T05:08:39.123Z|11|"
	    "[relog@32473 plugin=\"alpha\" logger=\"plugin.alpha\" "
	    "level=\"ERROR\"]|second\n", (long)getpid(), (long)getpid());
	ck_assert_str_eq(text, expect);
	free(text);
	/* A second without records: the connection is closed, all acked. */
	remote_await_stat(&H, "acked", 2, 0);
	ck_assert_int_eq(remote_stat(&H, "queued_memory"), 0);
	ck_assert_int_eq(remote_stat(&H, "queued_disk"), 0);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
	rsyslog_stop(&RS);
}
END_TEST

/*
 * rsyslogd stopped for a while under load, then started again: the records
 * wait on disk meanwhile, and every one arrives, in order (some twice: those
 * of the connection that broke).
 */
START_TEST(test_remote_syslog_restart)
{
	const char *args[] = { "-n", "20000", "-r", "4000", NULL };
	char uri[64], *text;
	pid_t runner;

	rsyslog_start(&RS, H.dir, 0, NULL);
	snprintf(uri, sizeof uri, "syslog://127.0.0.1:%d", RS.port);
	remote_start(&H, uri, NULL);
	runner = harness_runner(&H, "r1", "alpha", args, NULL);
	ck_assert_int_eq(harness_await_file(RS.out, "runner=r1 thread=0 seq=",
	    1000, REMOTE_TIMEOUT_MS), 0);
	rsyslog_stop(&RS);
	remote_await_stat(&H, "connected", 0, 1);
	remote_await_stat(&H, "queued_disk", 1000, 0);
	rsyslog_start(&RS, H.dir, RS.port, NULL);
	ck_assert_int_eq(harness_wait(runner, REMOTE_TIMEOUT_MS), 0);
	ck_assert_int_eq(harness_await_file(RS.out, "seq=19999\n", 1,
	    REMOTE_TIMEOUT_MS), 0);
	text = harness_read_file(RS.out, NULL);
	/* At most what one connection carries comes twice. */
	harness_check_delivered(text, "r1", 20000, 10000);
	free(text);
	remote_await_stat(&H, "acked", 20000, 0);
	ck_assert_int_eq(remote_stat(&H, "dropped"), 0);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
	rsyslog_stop(&RS);
}
END_TEST

/*
 * relogd killed (SIGKILL) while the collector is down and records wait on
 * disk: started again, it delivers them, once each.
 */
START_TEST(test_remote_sigkill)
{
	const char *args[] = { "-n", "500", NULL };
	char uri[64];
	int port;

	/* A port rsyslogd will listen on, free meanwhile. */
	rsyslog_start(&RS, H.dir, 0, NULL);
	port = RS.port;
	rsyslog_stop(&RS);
	snprintf(uri, sizeof uri, "syslog://127.0.0.1:%d", port);
	remote_start(&H, uri, NULL);
	remote_run("r1", "alpha", args);
	remote_await_stat(&H, "queued_disk", 500, 0);
	ck_assert_int_eq(remote_stat(&H, "connected"), 0);
	ck_assert_int_eq(kill(H.daemon, SIGKILL), 0);
	ck_assert_int_eq(harness_wait(H.daemon, REMOTE_TIMEOUT_MS), 128 +
	    SIGKILL);
	H.daemon = -1;

	rsyslog_start(&RS, H.dir, port, NULL);
	remote_start(&H, uri, NULL);
	rsyslog_check_sequence(&RS, 500);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
	rsyslog_stop(&RS);
}
END_TEST

/*
 * relogd stopped (SIGTERM) while sending: what was in flight is acked
 * before it exits (the connection closed, and the collector's end-of-file
 * awaited), the rest waits on disk and goes after the restart: each record
 * arrives once.
 */
START_TEST(test_remote_syslog_sigterm)
{
	const char *args[] = { "-n", "15000", NULL };
	char uri[64];

	rsyslog_start(&RS, H.dir, 0, NULL);
	snprintf(uri, sizeof uri, "syslog://127.0.0.1:%d", RS.port);
	remote_start(&H, uri, NULL);
	remote_run("r1", "alpha", args);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
	remote_start(&H, uri, NULL);
	rsyslog_check_sequence(&RS, 15000);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
	rsyslog_stop(&RS);
}
END_TEST

/*
 * The TLS tests' collector: certificates made, rsyslogd over TLS showing
 * cert; uri (64 bytes) names it.
 */
static void
remote_tls_start(const char *cert, char *uri)
{
	remote_make_certs(H.dir);
	rsyslog_start(&RS, H.dir, 0, cert);
	snprintf(uri, 64, "syslog+tls://127.0.0.1:%d", RS.port);
}

/* relogd was refused (its log says why): the 200 records wait on disk. */
static void
remote_tls_refused(const char *why)
{
	ck_assert_int_eq(harness_daemon_await(&H, why, 1, REMOTE_TIMEOUT_MS),
	    0);
	remote_await_stat(&H, "queued_disk", 200, 0);
	ck_assert_int_eq(remote_stat(&H, "acked"), 0);
}

/* The 200 records arrive, once each; then both stop. */
static void
remote_tls_delivered(void)
{
	remote_await_stat(&H, "acked", 200, 0);
	rsyslog_check_sequence(&RS, 200);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
	rsyslog_stop(&RS);
}

/*
 * syslog over TLS to rsyslogd's ossl driver: a certificate the CA does not
 * vouch for, or one made for another host, gets nothing (the records wait,
 * across restarts, and the log says why); the right one gets them all.
 */
START_TEST(test_remote_syslog_tls)
{
	const char *args[] = { "-n", "200", NULL };
	char uri[64], more[400];
	int port;

	remote_tls_start("cert.pem", uri);
	port = RS.port;
	snprintf(more, sizeof more, "forward_tls_ca = %s/other.pem\n", H.dir);
	remote_start(&H, uri, more);
	remote_run("r1", "alpha", args);
	/* rsyslogd sends its CA along: one the given CA does not know. */
	remote_tls_refused("TLS: certificate verify failed (self-signed "
	    "certificate in certificate chain); records wait on disk");
	ck_assert_int_eq(harness_daemon_stop(&H), 0);

	/* The right CA, but the collector's certificate names another host. */
	rsyslog_stop(&RS);
	rsyslog_start(&RS, H.dir, port, "far.pem");
	snprintf(more, sizeof more, "forward_tls_ca = %s/ca.pem\n", H.dir);
	remote_start(&H, uri, more);
	remote_tls_refused("TLS: certificate verify failed (IP address "
	    "mismatch); records wait on disk");
	ck_assert_int_eq(harness_daemon_stop(&H), 0);

	rsyslog_stop(&RS);
	rsyslog_start(&RS, H.dir, port, "cert.pem");
	remote_start(&H, uri, more);
	remote_tls_delivered();
}
END_TEST

/*
 * Fluent Forward to relogd's own Forward input; the collector stopped and
 * started again in between: each record arrives once, in order.
 */
START_TEST(test_remote_fluent_relogd)
{
	const char *args[] = { "-n", "2000", NULL };
	const char *args2[] = { "-n", "500", NULL };
	char *text;

	remote_collector_start();
	remote_start(&H, B_URI, NULL);
	remote_run("r1", "alpha", args);
	remote_await_stat(&H, "acked", 2000, 0);
	ck_assert_int_eq(harness_daemon_stop(&B), 0);

	remote_run("r2", "alpha", args2);
	remote_await_stat(&H, "queued_disk", 500, 0);
	ck_assert_int_eq(remote_stat(&H, "connected"), 0);
	remote_collector_start();
	remote_await_stat(&H, "acked", 2500, 0);
	ck_assert_int_eq(remote_stat(&H, "queued_disk"), 0);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
	ck_assert_int_eq(harness_daemon_stop(&B), 0);

	/* Tagged plugin.alpha: B writes them as plugin alpha's. */
	text = harness_plugin_log(&B, "alpha");
	harness_check_sequence(text, "r1", 0, 2000);
	harness_check_sequence(text, "r2", 0, 500);
	ck_assert_ptr_nonnull(strstr(text, " INFO [plugin.alpha] runner=r1 "
	    "thread=0 seq=0 levelno=20 logger=plugin.test plugin=alpha "));
	free(text);
}
END_TEST

/* Listen on a Unix socket. */
static int
remote_listen(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd;

	memcpy(sun.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sun, sizeof sun), 0);
	ck_assert_int_eq(listen(fd, 4), 0);
	return (fd);
}

/* Listen on 127.0.0.1, any port; *port says which. */
static int
remote_listen_tcp(int *port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof sin;
	int fd;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof sin), 0);
	ck_assert_int_eq(listen(fd, 16), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	*port = ntohs(sin.sin_port);
	return (fd);
}

/* Accept relogd's connection, and read one msgpack object from it. */
static int
remote_accept_message(int lfd, msgpack_unpacker *up, msgpack_unpacked *res)
{
	struct pollfd pfd = { .fd = lfd, .events = POLLIN };
	ssize_t n;
	int fd;

	ck_assert_int_eq(poll(&pfd, 1, REMOTE_TIMEOUT_MS), 1);
	fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	msgpack_unpacker_reset(up);
	pfd.fd = fd;
	while (msgpack_unpacker_next(up, res) != MSGPACK_UNPACK_SUCCESS) {
		ck_assert_int_eq(poll(&pfd, 1, REMOTE_TIMEOUT_MS), 1);
		ck_assert(msgpack_unpacker_reserve_buffer(up, 65536));
		n = read(fd, msgpack_unpacker_buffer(up), 65536);
		ck_assert_int_gt(n, 0);
		msgpack_unpacker_buffer_consumed(up, (size_t)n);
	}
	return (fd);
}

/* A map's value for a key, or NULL. */
static const msgpack_object *
remote_map_get(const msgpack_object *map, const char *key)
{
	uint32_t i;

	ck_assert_int_eq(map->type, MSGPACK_OBJECT_MAP);
	for (i = 0; i < map->via.map.size; i++) {
		if (map->via.map.ptr[i].key.type == MSGPACK_OBJECT_STR &&
		    map->via.map.ptr[i].key.via.str.size == strlen(key) &&
		    memcmp(map->via.map.ptr[i].key.via.str.ptr, key,
		    strlen(key)) == 0)
			return (&map->via.map.ptr[i].val);
	}
	return (NULL);
}

static void
remote_assert_str(const msgpack_object *o, const char *s)
{
	ck_assert_ptr_nonnull(o);
	ck_assert_int_eq(o->type, MSGPACK_OBJECT_STR);
	ck_assert_int_eq(o->via.str.size, strlen(s));
	ck_assert(memcmp(o->via.str.ptr, s, strlen(s)) == 0);
}

/*
 * One PackedForward message as the Forward protocol spec v1 lays it out:
 * [tag, bin of [EventTime, record] entries, {"chunk", "size"}], EventTime
 * being fixext 8 of type 0 (d7 00), seconds and nanoseconds big-endian.
 * Returns the chunk id (free it).
 */
static char *
remote_check_packed(const msgpack_object *o)
{
	const msgpack_object *opt, *chunk, *entries, *rec;
	static const unsigned char head[] = { 0xd7, 0x00 };
	msgpack_unpacked ent;
	size_t off = 0, start;
	uint32_t sec, nsec;
	char msg[64];
	int i;

	ck_assert_int_eq(o->type, MSGPACK_OBJECT_ARRAY);
	ck_assert_int_eq(o->via.array.size, 3);
	remote_assert_str(&o->via.array.ptr[0], "plugin.alpha");
	entries = &o->via.array.ptr[1];
	ck_assert_int_eq(entries->type, MSGPACK_OBJECT_BIN);
	opt = &o->via.array.ptr[2];
	chunk = remote_map_get(opt, "chunk");
	ck_assert_ptr_nonnull(chunk);
	ck_assert_int_eq(chunk->type, MSGPACK_OBJECT_STR);
	ck_assert_ptr_nonnull(remote_map_get(opt, "size"));
	ck_assert_int_eq(remote_map_get(opt, "size")->via.u64, 3);

	msgpack_unpacked_init(&ent);
	for (i = 0; i < 3; i++) {
		start = off;
		ck_assert_int_eq(msgpack_unpack_next(&ent, entries->via.bin.ptr,
		    entries->via.bin.size, &off), MSGPACK_UNPACK_SUCCESS);
		/* The bytes: fixarray 2, then EventTime. */
		ck_assert_int_eq((unsigned char)entries->via.bin.ptr[start],
		    0x92);
		ck_assert(memcmp(entries->via.bin.ptr + start + 1, head, 2) ==
		    0);
		memcpy(&sec, entries->via.bin.ptr + start + 3, 4);
		memcpy(&nsec, entries->via.bin.ptr + start + 7, 4);
		/* wire_batch's record i: 1764306519000 + i ms. */
		ck_assert_uint_eq(ntohl(sec), 1764306519u);
		ck_assert_uint_eq(ntohl(nsec), (uint32_t)i * 1000000u);
		rec = &ent.data.via.array.ptr[1];
		snprintf(msg, sizeof msg, "raw seq=%d", i);
		remote_assert_str(remote_map_get(rec, "message"), msg);
		remote_assert_str(remote_map_get(rec, "level"), "INFO");
		ck_assert_int_eq(remote_map_get(rec, "levelno")->via.u64, 20);
		remote_assert_str(remote_map_get(rec, "logger"),
		    "plugin.alpha.db");
		remote_assert_str(remote_map_get(rec, "plugin"), "alpha");
		ck_assert_int_eq(remote_map_get(rec, "pid")->via.u64,
		    (uint64_t)getpid());
	}
	ck_assert_uint_eq(off, entries->via.bin.size);
	msgpack_unpacked_destroy(&ent);
	return (strndup(chunk->via.str.ptr, chunk->via.str.size));
}

/*
 * The test as the Fluent collector, over TCP: the bytes are the spec's,
 * and a batch is held until its chunk is acked: without the ack it comes
 * again.
 */
START_TEST(test_remote_fluent_layout)
{
	msgpack_unpacker up;
	msgpack_unpacked res;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	char uri[64], *chunk;
	int lfd, cfd, fd, port;

	lfd = remote_listen_tcp(&port);
	snprintf(uri, sizeof uri, "fluent://127.0.0.1:%d", port);
	remote_start(&H, uri, NULL);
	fd = wire_open(&H, "r1");
	wire_batch(fd, "plugin.alpha.db", 3, 65536);

	ck_assert(msgpack_unpacker_init(&up, 65536));
	msgpack_unpacked_init(&res);
	cfd = remote_accept_message(lfd, &up, &res);
	chunk = remote_check_packed(&res.data);
	free(chunk);
	/* No ack: the connection closes, the batch is sent again. */
	close(cfd);
	cfd = remote_accept_message(lfd, &up, &res);
	chunk = remote_check_packed(&res.data);
	ck_assert_int_eq(remote_stat(&H, "acked"), 0);
	ck_assert_int_eq(remote_stat(&H, "queued_memory") +
	    remote_stat(&H, "queued_disk"), 3);
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 1);
	proto_pack_key(&pk, "ack");
	proto_pack_key(&pk, chunk);
	ck_assert_int_eq(write(cfd, sb.data, sb.size), (ssize_t)sb.size);
	msgpack_sbuffer_destroy(&sb);
	remote_await_stat(&H, "acked", 3, 0);
	ck_assert_int_eq(remote_stat(&H, "queued_memory") +
	    remote_stat(&H, "queued_disk"), 0);
	/* Sent twice, once per connection; still connected. */
	ck_assert_int_eq(remote_stat(&H, "sent"), 6);
	ck_assert_int_eq(remote_stat(&H, "connected"), 1);
	free(chunk);
	msgpack_unpacked_destroy(&res);
	msgpack_unpacker_destroy(&up);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
	close(fd);
	close(cfd);
	close(lfd);
}
END_TEST

/*
 * Past the disk budget the oldest records are dropped and counted, and a
 * record tells the collector so; the newest arrive.
 */
START_TEST(test_remote_disk_full)
{
	const char *args[] = { "-n", "3000", "-s", "200", NULL };
	char *text, *notice;
	long long dropped;

	remote_start(&H, B_URI, "forward_disk = 65536\n");
	remote_run("r1", "alpha", args);
	remote_await_stat(&H, "dropped", 1, 0);
	dropped = remote_stat(&H, "dropped");
	ck_assert_int_le(remote_stat(&H, "queued_disk"), 3000 - dropped + 10);

	remote_collector_start();
	ck_assert_int_eq(harness_await_file(remote_log_path(&B,
	    "alpha"), "seq=2999 ", 1, REMOTE_TIMEOUT_MS), 0);
	ck_assert_int_eq(harness_await_file(remote_log_path(&B,
	    "relogd"), "the oldest, as the file queue was full", 1,
	    REMOTE_TIMEOUT_MS), 0);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
	ck_assert_int_eq(harness_daemon_stop(&B), 0);
	text = harness_plugin_log(&B, "alpha");
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

/* Accept relogd's next connection, waiting up to timeout_ms; -1 if none. */
static int
remote_accept(int lfd, int timeout_ms)
{
	struct pollfd pfd = { .fd = lfd, .events = POLLIN };

	if (poll(&pfd, 1, timeout_ms) != 1)
		return (-1);
	return (accept4(lfd, NULL, NULL, SOCK_CLOEXEC));
}

/* Mark in seen[] each "runner=r1 thread=0 seq=N" of a text. */
static void
remote_mark_seen(const char *text, size_t len, char *seen, long count)
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
remote_read_all(int fd, struct msgpack_sbuffer *buf)
{
	char chunk[65536];
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	ssize_t n;

	for (;;) {
		ck_assert_int_eq(poll(&pfd, 1, REMOTE_TIMEOUT_MS), 1);
		n = read(fd, chunk, sizeof chunk);
		if (n <= 0)
			return;
		msgpack_sbuffer_write(buf, chunk, (size_t)n);
	}
}

/*
 * A syslog collector that reads some of a connection and closes it: what
 * it did not read is sent again on the next one (its end-of-file is an
 * ack only after relogd half-closed and the collector had every byte).
 */
START_TEST(test_remote_syslog_peer_closes)
{
	const char *args[] = { "-n", "3000", "-s", "500", NULL };
	char uri[64], seen[3000];
	msgpack_sbuffer all;
	int lfd, fd, port;
	long i, missing = 0;

	lfd = remote_listen_tcp(&port);
	snprintf(uri, sizeof uri, "syslog://127.0.0.1:%d", port);
	remote_start(&H, uri, NULL);
	remote_run("r1", "alpha", args);
	msgpack_sbuffer_init(&all);
	/*
	 * The first connection: nothing read. Once relogd means to close it
	 * (past 1 MiB, or a second without records), the collector closes
	 * its side first, and goes without reading what it was sent: relogd
	 * takes that for a broken connection, not an ack.
	 */
	fd = remote_accept(lfd, REMOTE_TIMEOUT_MS);
	ck_assert_int_ge(fd, 0);
	remote_await_state(&H, "closing");
	ck_assert_int_eq(shutdown(fd, SHUT_WR), 0);
	ck_assert_int_eq(harness_daemon_await(&H, "the collector closed the "
	    "connection; records wait on disk", 1, REMOTE_TIMEOUT_MS), 0);
	close(fd);
	/* Then every connection read to its end, until all 3000 came. */
	memset(seen, 0, sizeof seen);
	do {
		fd = remote_accept(lfd, REMOTE_TIMEOUT_MS);
		ck_assert_msg(fd >= 0, "relogd did not send the rest");
		remote_read_all(fd, &all);
		close(fd);
		remote_mark_seen(all.data, all.size, seen, 3000);
		for (i = 0, missing = 0; i < 3000; i++)
			missing += !seen[i];
	} while (missing != 0);
	remote_await_stat(&H, "acked", 3000, 0);
	ck_assert_int_eq(remote_stat(&H, "dropped"), 0);
	msgpack_sbuffer_destroy(&all);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
	close(lfd);
}
END_TEST

/*
 * A CA file replaced in place (a certificate rotated) takes effect at
 * SIGHUP: the sink's next connection verifies with it, and the records
 * that waited arrive.
 */
START_TEST(test_remote_syslog_tls_reload)
{
	const char *args[] = { "-n", "200", NULL };
	char uri[64], more[400], ca[340], path[340], *text;

	remote_tls_start("cert.pem", uri);
	snprintf(path, sizeof path, "%s/other.pem", H.dir);
	text = harness_read_file(path, NULL);
	ck_assert_ptr_nonnull(text);
	snprintf(ca, sizeof ca, "%s/ca-in-use.pem", H.dir);
	harness_write_file(ca, text);
	free(text);
	snprintf(more, sizeof more, "forward_tls_ca = %s\n", ca);
	remote_start(&H, uri, more);
	remote_run("r1", "alpha", args);
	remote_tls_refused("TLS: certificate verify failed");

	/* The right CA, at the same path. */
	snprintf(path, sizeof path, "%s/ca.pem", H.dir);
	text = harness_read_file(path, NULL);
	ck_assert_ptr_nonnull(text);
	harness_write_file(ca, text);
	free(text);
	ck_assert_int_eq(kill(H.daemon, SIGHUP), 0);
	ck_assert_int_eq(harness_daemon_await(&H, "configuration reloaded", 1,
	    REMOTE_TIMEOUT_MS), 0);
	remote_tls_delivered();
}
END_TEST

/*
 * A collector that asks for a client certificate (rsyslogd, x509/certvalid)
 * gets nothing without one, the records waiting; with forward_tls_cert and
 * forward_tls_key they arrive.
 */
START_TEST(test_remote_syslog_tls_client)
{
	const char *args[] = { "-n", "200", NULL };
	char uri[64], more[1024], *text;

	RS.client_auth = 1;
	remote_tls_start("cert.pem", uri);
	snprintf(more, sizeof more, "forward_tls_ca = %s/ca.pem\n", H.dir);
	remote_start(&H, uri, more);
	remote_run("r1", "alpha", args);
	remote_tls_refused("; records wait on disk");
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
	remote_start(&H, uri, more);
	remote_tls_delivered();
}
END_TEST

/*
 * Be the syslog collector on lfd, relogd forwarding to uri: 500 records
 * arrive as exactly 500 RFC 6587 octet-counted frames ("LEN SP MSG", MSG
 * starting with its PRI), in order; relogd half-closes the connection a
 * second after the last record, and the collector's close acks them all.
 */
static void
remote_syslog_collect(int lfd, const char *uri)
{
	const char *args[] = { "-n", "500", NULL };
	msgpack_sbuffer all, lines;
	const char *p, *end;
	unsigned long len;
	long frames = 0;
	char *num;
	int fd;

	remote_start(&H, uri, NULL);
	remote_run("r1", "alpha", args);
	fd = remote_accept(lfd, REMOTE_TIMEOUT_MS);
	ck_assert_int_ge(fd, 0);
	msgpack_sbuffer_init(&all);
	remote_read_all(fd, &all);
	close(fd);
	remote_await_stat(&H, "acked", 500, 0);

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
START_TEST(test_remote_syslog_unix)
{
	char path[300], uri[320];
	int lfd;

	snprintf(path, sizeof path, "%s/collector.sock", H.dir);
	snprintf(uri, sizeof uri, "syslog+unix:%s", path);
	lfd = remote_listen(path);
	remote_syslog_collect(lfd, uri);
	close(lfd);
}
END_TEST

/* syslog over TCP to an IPv6 address ([::1]). */
START_TEST(test_remote_syslog_ipv6)
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
		fprintf(stderr, "test_remote_syslog_ipv6: no [::1] here (%s); "
		    "skipped\n", strerror(errno));
		if (lfd >= 0)
			close(lfd);
		return;
	}
	ck_assert_int_eq(listen(lfd, 16), 0);
	ck_assert_int_eq(getsockname(lfd, (struct sockaddr *)&sin6, &len), 0);
	snprintf(uri, sizeof uri, "syslog://[::1]:%d", ntohs(sin6.sin6_port));
	remote_syslog_collect(lfd, uri);
	close(lfd);
}
END_TEST

/*
 * A Fluent collector that never acks: within forward_timeout of the first
 * batch relogd gives up on the connection, though records keep coming.
 */
START_TEST(test_remote_fluent_no_ack)
{
	msgpack_unpacker up;
	msgpack_unpacked res;
	char path[300], uri[320];
	int lfd, cfd, cfd2, fd;
	struct pollfd pfd;
	int64_t deadline;

	snprintf(path, sizeof path, "%s/collector.sock", H.dir);
	snprintf(uri, sizeof uri, "fluent+unix:%s", path);
	lfd = remote_listen(path);
	remote_start(&H, uri, "forward_timeout = 2\n");
	fd = wire_open(&H, "r1");
	wire_batch(fd, "plugin.alpha.db", 3, 65536);
	ck_assert(msgpack_unpacker_init(&up, 65536));
	msgpack_unpacked_init(&res);
	cfd = remote_accept_message(lfd, &up, &res);
	/* Records every 100 ms, no ack: a second connection comes. */
	pfd.fd = lfd;
	pfd.events = POLLIN;
	deadline = harness_now_ms() + REMOTE_TIMEOUT_MS;
	while (poll(&pfd, 1, 100) == 0) {
		ck_assert_msg(harness_now_ms() < deadline, "no reconnection");
		wire_batch(fd, "plugin.alpha.db", 3, 65536);
		ck_assert_int_lt(remote_stat(&H, "acked"), 1);
	}
	cfd2 = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	ck_assert_int_ge(cfd2, 0);
	ck_assert_int_eq(harness_daemon_await(&H, "no ack in time "
	    "(forward_timeout)", 1, REMOTE_TIMEOUT_MS), 0);
	msgpack_unpacked_destroy(&res);
	msgpack_unpacker_destroy(&up);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
	close(cfd2);
	close(cfd);
	close(fd);
	close(lfd);
}
END_TEST

/* A Fluent collector's connection, as the test reads it. */
struct remote_conn {
	int		fd;
	msgpack_unpacker up;
	long		last;		/* r1's last sequence number on it */
	char	       *chunks[1024];	/* the chunks read, not acked yet */
	size_t		nchunks;
};

static void
remote_conn_open(struct remote_conn *c, int fd)
{
	memset(c, 0, sizeof *c);
	c->fd = fd;
	c->last = -1;
	ck_assert(msgpack_unpacker_init(&c->up, 65536));
}

/* Ack the chunks read; the connection may have been closed by relogd. */
static void
remote_conn_ack(struct remote_conn *c)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	size_t i;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	for (i = 0; i < c->nchunks; i++) {
		msgpack_pack_map(&pk, 1);
		proto_pack_key(&pk, "ack");
		proto_pack_key(&pk, c->chunks[i]);
		free(c->chunks[i]);
	}
	c->nchunks = 0;
	(void)send(c->fd, sb.data, sb.size, MSG_NOSIGNAL);
	msgpack_sbuffer_destroy(&sb);
}

static void
remote_conn_close(struct remote_conn *c)
{
	remote_conn_ack(c);
	msgpack_unpacker_destroy(&c->up);
	close(c->fd);
	c->fd = -1;
}

/*
 * Read what a connection has (one read, waiting up to timeout_ms): keep
 * each PackedForward message's chunk id, check r1's sequence numbers in it
 * rise, and mark them in seen[]. Returns 1, 0 if nothing came in time, or
 * -1 at the connection's end.
 */
static int
remote_conn_read(struct remote_conn *c, int timeout_ms, char *seen,
    long count)
{
	static const char tag[] = "runner=r1 thread=0 seq=";
	struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
	const msgpack_object *o, *entries, *chunk;
	msgpack_unpacked res;
	const char *p, *end;
	ssize_t n;
	long seq;

	if (poll(&pfd, 1, timeout_ms) != 1)
		return (0);
	ck_assert(msgpack_unpacker_reserve_buffer(&c->up, 65536));
	n = read(c->fd, msgpack_unpacker_buffer(&c->up), 65536);
	if (n <= 0)
		return (-1);
	msgpack_unpacker_buffer_consumed(&c->up, (size_t)n);
	msgpack_unpacked_init(&res);
	while (msgpack_unpacker_next(&c->up, &res) == MSGPACK_UNPACK_SUCCESS) {
		o = &res.data;
		ck_assert_int_eq(o->type, MSGPACK_OBJECT_ARRAY);
		ck_assert_int_eq(o->via.array.size, 3);
		entries = &o->via.array.ptr[1];
		ck_assert_int_eq(entries->type, MSGPACK_OBJECT_BIN);
		p = entries->via.bin.ptr;
		end = p + entries->via.bin.size;
		while ((p = memmem(p, (size_t)(end - p), tag,
		    sizeof tag - 1)) != NULL) {
			p += sizeof tag - 1;
			seq = strtol(p, NULL, 10);
			ck_assert_int_gt(seq, c->last);
			ck_assert_int_lt(seq, count);
			seen[seq] = 1;
			c->last = seq;
		}
		chunk = remote_map_get(&o->via.array.ptr[2], "chunk");
		ck_assert_ptr_nonnull(chunk);
		ck_assert_uint_lt(c->nchunks, sizeof c->chunks /
		    sizeof c->chunks[0]);
		c->chunks[c->nchunks++] = strndup(chunk->via.str.ptr,
		    chunk->via.str.size);
	}
	msgpack_unpacked_destroy(&res);
	return (1);
}

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

	return ((said < 0 ? 0 : said) == remote_stat(h, "dropped") &&
	    remote_stat(h, "queued_memory") == 0 &&
	    remote_stat(h, "queued_disk") == 0);
}

/*
 * Records dropped from a full file queue while batches holding them are in
 * flight (sent, not acked): relogd says so, closes the connection (an ack
 * for them would count records that were also dropped) and sends again
 * from the oldest record kept. The collector reads all but acks nothing
 * until the runner is done; then it acks what it holds, and all after. In
 * the end each record (relogd's notices of drops among them) was acked or
 * dropped, once.
 */
START_TEST(test_remote_dropped_in_flight)
{
	const char *args[] = { "-n", "5000", "-s", "200", NULL };
	struct remote_conn c = { .fd = -1 };
	char uri[64], seen[5000];
	int lfd, fd, n, port, status, acking = 0;
	int64_t deadline = harness_now_ms() + REMOTE_TIMEOUT_MS;
	size_t notices;
	pid_t runner;

	lfd = remote_listen_tcp(&port);
	snprintf(uri, sizeof uri, "fluent://127.0.0.1:%d", port);
	remote_start(&H, uri, "forward_memory = 65536\n"
	    "forward_disk = 65536\n");
	memset(seen, 0, sizeof seen);
	runner = harness_runner(&H, "r1", "alpha", args, NULL);
	for (;;) {
		if ((fd = remote_accept(lfd, c.fd < 0 ? 100 : 0)) >= 0) {
			/* relogd gave the last one up: acks come too late. */
			if (c.fd >= 0)
				remote_conn_close(&c);
			remote_conn_open(&c, fd);
		}
		ck_assert_msg(harness_now_ms() < deadline, acking ? "records "
		    "still queued" : "no records dropped in flight");
		n = c.fd >= 0 ? remote_conn_read(&c, 100, seen, 5000) : 0;
		if (n < 0)
			remote_conn_close(&c);
		if (n != 0) {
			if (n > 0 && acking)
				remote_conn_ack(&c);
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
			deadline = harness_now_ms() + REMOTE_TIMEOUT_MS;
			if (c.fd >= 0)
				remote_conn_ack(&c);
		}
		if (remote_settled(&H, &notices))
			break;
	}
	if (c.fd >= 0)
		remote_conn_close(&c);
	ck_assert_int_eq(seen[4999], 1);
	ck_assert_int_gt(remote_stat(&H, "dropped"), 0);
	ck_assert_int_eq(remote_stat(&H, "acked") + remote_stat(&H, "dropped"),
	    5000 + (long long)notices);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
	close(lfd);
}
END_TEST

/*
 * Under a file size limit (here 1 MiB of RLIMIT_FSIZE, as LimitFSIZE=
 * sets), the file queue's segments end before the limit: 5000 records
 * (1.7 MB) wait on disk for a collector that is down, none dropped, and
 * arrive in order; so do the records of a second outage.
 */
START_TEST(test_remote_fsize_limit)
{
	const char *args[] = { "-n", "5000", "-s", "300", NULL };
	const char *args2[] = { "-n", "3000", "-s", "300", NULL };
	char *text;

	H.fsize = 1 << 20;
	remote_start(&H, B_URI, NULL);
	remote_run("r1", "alpha", args);
	remote_await_stat(&H, "queued_disk", 5000, 0);
	remote_collector_start();
	remote_await_stat(&H, "acked", 5000, 0);
	ck_assert_int_eq(harness_daemon_stop(&B), 0);

	remote_run("r2", "alpha", args2);
	remote_await_stat(&H, "queued_disk", 3000, 0);
	remote_collector_start();
	remote_await_stat(&H, "acked", 8000, 0);
	ck_assert_int_eq(remote_stat(&H, "dropped"), 0);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
	ck_assert_int_eq(harness_daemon_stop(&B), 0);
	text = harness_plugin_log(&B, "alpha");
	harness_check_sequence(text, "r1", 0, 5000);
	harness_check_sequence(text, "r2", 0, 3000);
	free(text);
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

	lfd = remote_listen_tcp(&port);
	snprintf(uri, sizeof uri, "syslog://127.0.0.1:%d", port);
	remote_start(&H, uri, NULL);
	remote_run("r1", "alpha", args);
	end = harness_now_ms() + 3000;
	while (harness_now_ms() < end) {
		fd = remote_accept(lfd, (int)(end - harness_now_ms()));
		if (fd < 0)
			break;
		close(fd);
		accepted++;
	}
	/* Delays from 0.05-0.1 s doubling: about 7 in 3 s; without, 30+. */
	ck_assert_int_ge(accepted, 3);
	ck_assert_int_le(accepted, 12);
	ck_assert_int_eq(remote_stat(&H, "acked"), 0);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
	close(lfd);
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

	remote_start(&H, B_URI, NULL);
	remote_run("r1", "alpha", args);
	remote_await_stat(&H, "queued_disk", 100, 0);
	ck_assert_int_eq(kill(H.daemon, SIGKILL), 0);
	ck_assert_int_eq(harness_wait(H.daemon, REMOTE_TIMEOUT_MS), 128 +
	    SIGKILL);
	H.daemon = -1;
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
	remote_collector_start();
	argv[1] = harness_config(&H, "[relogd]\nforward_retry_max = 1\n");
	harness_daemon_start(&H, argv);
	ck_assert_int_eq(harness_daemon_await(&H, "segment files renumbered",
	    1, REMOTE_TIMEOUT_MS), 0);
	remote_await_stat(&H, "acked", 100, 0);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
	ck_assert_int_eq(harness_daemon_stop(&B), 0);
	text = harness_plugin_log(&B, "alpha");
	harness_check_sequence(text, "r1", 0, 100);
	free(text);
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

	remote_collector_start();
	argv[1] = harness_config(&H, "[relogd]\nrate_limit = off\n");
	harness_daemon_start(&H, argv);
	remote_run("r1", "alpha", args);
	snprintf(text, sizeof text, "[relogd]\nrate_limit = off\n"
	    "[plugin.alpha]\nforward = %s\n", B_URI);
	harness_config(&H, text);
	ck_assert_int_eq(kill(H.daemon, SIGHUP), 0);
	ck_assert_int_eq(harness_daemon_await(&H, "configuration reloaded", 1,
	    REMOTE_TIMEOUT_MS), 0);
	remote_run("r2", "alpha", args2);
	remote_await_stat(&H, "acked", 10, 0);
	/* A TLS file that is not there: refused, and the sink goes on. */
	snprintf(text, sizeof text, "[relogd]\nrate_limit = off\n"
	    "forward_tls_ca = %s/no-such-ca.pem\n"
	    "[plugin.alpha]\nforward = %s\n", H.dir, B_URI);
	harness_config(&H, text);
	ck_assert_int_eq(kill(H.daemon, SIGHUP), 0);
	ck_assert_int_eq(harness_daemon_await(&H, "configuration not "
	    "reloaded, the old one stays: forward_tls_ca ", 1,
	    REMOTE_TIMEOUT_MS), 0);
	remote_run("r3", "alpha", args);
	remote_await_stat(&H, "acked", 15, 0);
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

	remote_start(&H, B_URI, NULL);
	remote_run("r1", "alpha", args);
	remote_await_stat(&H, "queued_disk", 300, 0);
	harness_config(&H, "[relogd]\nrate_limit = off\n");
	ck_assert_int_eq(kill(H.daemon, SIGHUP), 0);
	ck_assert_int_eq(harness_daemon_await(&H, "configuration reloaded", 1,
	    REMOTE_TIMEOUT_MS), 0);
	remote_run("r2", "alpha", args2);
	remote_collector_start();
	remote_await_stat(&H, "acked", 300, 0);
	ck_assert_int_eq(remote_stat(&H, "queued_disk") +
	    remote_stat(&H, "queued_memory"), 0);
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
	    REMOTE_TIMEOUT_MS), 0);
	ck_assert_int_eq(harness_daemon_await(&H, "Not a directory", 1,
	    REMOTE_TIMEOUT_MS), 0);
	remote_run("r1", "alpha", args);
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
	ck_assert_int_eq(harness_wait(pid, REMOTE_TIMEOUT_MS), 1);
	ck_assert_msg(strstr(log, "/fwd.sock: cannot start") != NULL, "%s",
	    log);
	free(log);
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
		ck_assert_int_ne(harness_wait(pid, REMOTE_TIMEOUT_MS), 0);
		ck_assert_msg(strstr(out, "relogd.conf:2: forward: ") != NULL,
		    "%s: %s", bad[i], out);
		free(out);
	}
	argv[3] = harness_config(&H, "[relogd]\nforward = syslog://h:514, "
	    "fluent+tls://[::1]:24224\n[plugin.alpha]\nforward = none\n");
	pid = harness_spawn(argv, NULL, &fd, NULL);
	out = harness_read_fd(fd, NULL);
	ck_assert_msg(harness_wait(pid, REMOTE_TIMEOUT_MS) == 0, "%s", out);
	free(out);
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

Suite *
suite_remote(void)
{
	Suite *s = suite_create("remote");
	TCase *tc;

	tc = remote_tcase(s, "syslog");
	tcase_add_test(tc, test_remote_syslog_fields);
	tcase_add_test(tc, test_remote_syslog_restart);
	tcase_add_test(tc, test_remote_sigkill);
	tcase_add_test(tc, test_remote_syslog_sigterm);
	tcase_add_test(tc, test_remote_syslog_tls);
	tcase_add_test(tc, test_remote_syslog_tls_client);
	tcase_add_test(tc, test_remote_syslog_tls_reload);
	tcase_add_test(tc, test_remote_syslog_peer_closes);
	tcase_add_test(tc, test_remote_syslog_unix);
	tcase_add_test(tc, test_remote_syslog_ipv6);
	tcase_add_test(tc, test_remote_backoff);
	tc = remote_tcase(s, "fluent");
	tcase_add_test(tc, test_remote_fluent_relogd);
	tcase_add_test(tc, test_remote_fluent_layout);
	tcase_add_test(tc, test_remote_disk_full);
	tcase_add_test(tc, test_remote_fsize_limit);
	tcase_add_test(tc, test_remote_torn_record);
	tcase_add_test(tc, test_remote_fluent_no_ack);
	tcase_add_test(tc, test_remote_dropped_in_flight);
	tc = remote_tcase(s, "config");
	tcase_add_test(tc, test_remote_config);
	tcase_add_test(tc, test_remote_reload);
	tcase_add_test(tc, test_remote_reload_removed);
	tcase_add_test(tc, test_remote_queue_unusable);
	return (s);
}

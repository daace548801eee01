/*
 * The peers relogd's forward sinks send to, for the syslog, fluent and
 * remote suites: Debian's rsyslogd (imtcp on a loopback port, plain or
 * over TLS with certificates made with openssl(1), writing a file),
 * relogd's own Forward input (a second relogd), and the test itself as a
 * Fluent collector. Also what the tests read of the forwarding relogd: its
 * forward sink's stats.
 */
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tests.h"

#define COLLECTOR_RSYSLOGD "/usr/sbin/rsyslogd"

/* Wait a little between two looks at a condition that has no event. */
static void
collector_pause(void)
{
	struct timespec ts = { 0, 20 * 1000 * 1000 };

	nanosleep(&ts, NULL);
}

/* Can a TCP connection to 127.0.0.1:port be made? */
static int
collector_port_open(int port)
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

/* An rsyslogd not started yet (a test's setup). */
void
collector_rsyslog_init(struct rsyslog *rs)
{
	memset(rs, 0, sizeof *rs);
	rs->pid = -1;
}

/*
 * Start rsyslogd: imtcp on 127.0.0.1:port (0: any, read back from its port
 * file), each record written as one line: APP-NAME|PROCID|MSGID|TIMESTAMP|
 * PRI|STRUCTURED-DATA|MSG (MSG JSON-escaped, so newlines stay in it). With
 * cert non-NULL, over TLS, showing dir/cert (see collector_make_certs).
 * It is ready when it says READY=1 (its listener is bound by then).
 */
void
collector_rsyslog_start(struct rsyslog *rs, const char *dir, int port,
    const char *cert)
{
	char conf[400], portfile[340], pidfile[340], notify[340], err[340];
	char *text;
	const char *argv[] = { COLLECTOR_RSYSLOGD, "-n", "-f", conf, "-i",
	    pidfile, NULL };
	FILE *f;

	snprintf(rs->dir, sizeof rs->dir, "%s", dir);
	snprintf(rs->out, sizeof rs->out, "%s/rsyslog.out", dir);
	snprintf(conf, sizeof conf, "%s/rsyslog.conf", dir);
	snprintf(portfile, sizeof portfile, "%s/rsyslog.port", dir);
	snprintf(pidfile, sizeof pidfile, "%s/rsyslog.pid", dir);
	snprintf(notify, sizeof notify, "%s/rsyslog.notify", dir);
	snprintf(err, sizeof err, "%s/rsyslog.stderr", dir);
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
	rs->pid = harness_start_ready("rsyslogd", notify, argv, err, NULL,
	    NULL);
	rs->port = port;
	/* Listening: its port file says where (port 0), and it connects. */
	if (rs->port == 0) {
		text = harness_read_file(portfile, NULL);
		ck_assert_msg(text != NULL, "rsyslogd wrote no port file");
		rs->port = atoi(text);
		free(text);
	}
	ck_assert_msg(collector_port_open(rs->port), "rsyslogd does not "
	    "listen on %d", rs->port);
}

/* Run a program to its end; it must succeed. */
static void
collector_run_program(const char *const *argv)
{
	char *text;
	int out;
	pid_t pid;

	pid = harness_spawn(argv, NULL, &out, NULL);
	text = harness_read_fd(out, NULL);
	ck_assert_msg(harness_wait(pid, COLLECTOR_TIMEOUT_MS) == 0, "%s: %s",
	    argv[0], text);
	free(text);
}

/*
 * Make certificates in dir with openssl(1): ca.pem (and ca.key); server
 * certificates signed by it, with the one key key.pem, cert.pem for IP
 * 127.0.0.1 and far.pem for IP 192.0.2.1 (another host); and other.pem, a
 * CA that signed nothing.
 */
void
collector_make_certs(const char *dir)
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
	collector_run_program(mkca);
	collector_run_program(mkother);
	collector_run_program(mkreq);
	collector_run_program(sign);
	collector_run_program(signfar);
}

/* Stop rsyslogd (it writes what it read, then exits). */
void
collector_rsyslog_stop(struct rsyslog *rs)
{
	if (rs->pid <= 0)
		return;
	ck_assert_int_eq(kill(rs->pid, SIGTERM), 0);
	ck_assert_int_eq(harness_wait(rs->pid, COLLECTOR_TIMEOUT_MS), 0);
	rs->pid = -1;
}

/* Kill rsyslogd if it still runs (a test's teardown). */
void
collector_rsyslog_kill(struct rsyslog *rs)
{
	if (rs->pid > 0) {
		kill(rs->pid, SIGKILL);
		waitpid(rs->pid, NULL, 0);
	}
	rs->pid = -1;
}

/*
 * Wait until rsyslogd wrote runner r1's record count-1, then check that
 * records 0 .. count-1 are there, each once, in order.
 */
void
collector_rsyslog_check_sequence(const struct rsyslog *rs, long count)
{
	char last[32], *text;

	snprintf(last, sizeof last, "seq=%ld\n", count - 1);
	ck_assert_int_eq(harness_await_file(rs->out, last, 1,
	    COLLECTOR_TIMEOUT_MS), 0);
	text = harness_read_file(rs->out, NULL);
	harness_check_sequence(text, "r1", 0, count);
	free(text);
}

/*
 * relogd's stats, as relogctl stats prints them: as JSON, or (json 0) as
 * its tables (free them).
 */
char *
collector_stats(const struct harness *h, int json)
{
	const char *argv[] = { harness_build_path("relogctl"), "-s", h->socket,
	    "stats", json ? "--json" : NULL, NULL };
	char *text;
	int out;
	pid_t pid;

	pid = harness_spawn(argv, NULL, &out, NULL);
	text = harness_read_fd(out, NULL);
	ck_assert_int_eq(harness_wait(pid, COLLECTOR_TIMEOUT_MS), 0);
	return (text);
}

/*
 * A field of relogd's first forward sink, from its stats: numbers as they
 * are, true 1 and false 0.
 */
long long
collector_stat(const struct harness *h, const char *key)
{
	char needle[64], *text, *p;
	long long v;

	text = collector_stats(h, 1);
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
void
collector_await_state(const struct harness *h, const char *state)
{
	int64_t deadline = harness_now_ms() + COLLECTOR_TIMEOUT_MS;
	char needle[64], *text;
	int found;

	snprintf(needle, sizeof needle, "\"state\":\"%s\"", state);
	for (;;) {
		text = collector_stats(h, 1);
		found = strstr(text, needle) != NULL;
		free(text);
		if (found)
			return;
		ck_assert_msg(harness_now_ms() < deadline, "no %s", needle);
		collector_pause();
	}
}

/*
 * Start relogd h forwarding to uri, whose collector took the connection
 * and reads nothing: 10 records of runner r0 go out on the connection,
 * then runner r1's 500 come. Returns once h is stalled, the 510 records
 * on disk and none in memory, still connected, none dropped.
 */
void
collector_forward_stalled(struct harness *h, const char *uri)
{
	const char *first[] = { "-n", "10", NULL };
	const char *args[] = { "-n", "500", NULL };
	char row[PATH_MAX], state[16], *text, *p;
	long long mem, disk;

	collector_forward_start(h, uri, "forward_timeout = 3600\n");
	collector_run(h, "r0", "alpha", first);
	collector_await_stat(h, "sent", 10, 0);
	collector_run(h, "r1", "alpha", args);
	collector_await_stat(h, "queued_disk", 510, 0);
	collector_await_state(h, "stalled");
	/* The table says it too: "<uri> stalled 0 510 ...". */
	text = collector_stats(h, 0);
	snprintf(row, sizeof row, "\n%s ", uri);
	ck_assert_msg((p = strstr(text, row)) != NULL, "no row: %s", text);
	ck_assert_msg(sscanf(p, "%*s %15s %lld %lld", state, &mem, &disk) ==
	    3 && strcmp(state, "stalled") == 0 && mem == 0 && disk == 510,
	    "the row says otherwise: %s", text);
	free(text);
	ck_assert_int_eq(collector_stat(h, "queued_memory"), 0);
	ck_assert_int_eq(collector_stat(h, "connected"), 1);
	ck_assert_int_eq(collector_stat(h, "dropped"), 0);
}

/* Wait until a stat is at least (or, with at_most, at most) value. */
void
collector_await_stat(const struct harness *h, const char *key,
    long long value, int at_most)
{
	int64_t deadline = harness_now_ms() + COLLECTOR_TIMEOUT_MS;
	long long v;

	for (;;) {
		v = collector_stat(h, key);
		if (at_most ? v <= value : v >= value)
			return;
		ck_assert_msg(harness_now_ms() < deadline, "stats %s is %lld, "
		    "waited for %s %lld", key, v, at_most ? "<=" : ">=",
		    value);
		collector_pause();
	}
}

/*
 * Start relogd h with a config that forwards every plugin to uri, and
 * more settings of [relogd] (may be NULL).
 */
void
collector_forward_start(struct harness *h, const char *uri, const char *more)
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

/* Start a collecting relogd, Fluent's Forward protocol on socket. */
void
collector_relogd_start(struct harness *h, const char *socket)
{
	const char *argv[] = { "--forward-socket", socket, NULL };

	harness_daemon_start(h, argv);
}

/* Run a test-runner to its end (it exits 0 when nothing was dropped). */
void
collector_run(const struct harness *h, const char *runner,
    const char *plugin, const char *const *args)
{
	pid_t pid = harness_runner(h, runner, plugin, args, NULL);

	ck_assert_int_eq(harness_wait(pid, COLLECTOR_TIMEOUT_MS), 0);
}

/* Listen on a Unix socket. */
int
collector_listen_unix(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd;

	ck_assert_uint_lt(strlen(path), sizeof sun.sun_path);
	memcpy(sun.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sun, sizeof sun), 0);
	ck_assert_int_eq(listen(fd, 4), 0);
	return (fd);
}

/* Listen on 127.0.0.1, any port; *port says which. */
int
collector_listen_tcp(int *port)
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

/*
 * A port on 127.0.0.1 (*port; 0: any, set) that answers no connect, as a
 * host gone away does: a listener whose accept queue (of one) is full,
 * with a connection of the test's (*filler), so that the kernel drops the
 * SYNs after it. Returns the listener.
 */
int
collector_unanswered(int *port, int *filler)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	struct tcp_info ti;
	socklen_t len = sizeof sin;
	int64_t deadline;
	int fd, one = 1;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)*port);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one,
	    sizeof one), 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof sin), 0);
	ck_assert_int_eq(listen(fd, 0), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	*port = ntohs(sin.sin_port);
	*filler = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(*filler, 0);
	ck_assert_int_eq(connect(*filler, (struct sockaddr *)&sin, sizeof sin),
	    0);
	/* A listener's tcpi_unacked is its accept queue's length. */
	for (deadline = harness_now_ms() + COLLECTOR_TIMEOUT_MS;;) {
		len = sizeof ti;
		ck_assert_int_eq(getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti,
		    &len), 0);
		if (ti.tcpi_unacked >= 1)
			break;
		ck_assert_msg(harness_now_ms() < deadline, "the accept queue "
		    "never filled");
		collector_pause();
	}
	return (fd);
}

/* Accept relogd's next connection, waiting up to timeout_ms; -1 if none. */
int
collector_accept(int lfd, int timeout_ms)
{
	struct pollfd pfd = { .fd = lfd, .events = POLLIN };

	if (poll(&pfd, 1, timeout_ms) != 1)
		return (-1);
	return (accept4(lfd, NULL, NULL, SOCK_CLOEXEC));
}

/* Accept relogd's connection, and read one msgpack object from it. */
int
collector_accept_message(int lfd, msgpack_unpacker *up, msgpack_unpacked *res)
{
	struct pollfd pfd = { .fd = lfd, .events = POLLIN };
	ssize_t n;
	int fd;

	ck_assert_int_eq(poll(&pfd, 1, COLLECTOR_TIMEOUT_MS), 1);
	fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	msgpack_unpacker_reset(up);
	pfd.fd = fd;
	while (msgpack_unpacker_next(up, res) != MSGPACK_UNPACK_SUCCESS) {
		ck_assert_int_eq(poll(&pfd, 1, COLLECTOR_TIMEOUT_MS), 1);
		ck_assert(msgpack_unpacker_reserve_buffer(up, 65536));
		n = read(fd, msgpack_unpacker_buffer(up), 65536);
		ck_assert_int_gt(n, 0);
		msgpack_unpacker_buffer_consumed(up, (size_t)n);
	}
	return (fd);
}

/* A map's value for a key, or NULL; what is not a map fails the test. */
const msgpack_object *
collector_map_get(const msgpack_object *map, const char *key)
{
	ck_assert_int_eq(map->type, MSGPACK_OBJECT_MAP);
	return (proto_map_get(map, key));
}

/* Begin reading a connection relogd made. */
void
collector_conn_open(struct collector_conn *c, int fd)
{
	memset(c, 0, sizeof *c);
	c->fd = fd;
	c->last = -1;
	ck_assert(msgpack_unpacker_init(&c->up, 65536));
}

/* Ack the chunks read; the connection may have been closed by relogd. */
void
collector_conn_ack(struct collector_conn *c)
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

/* Ack what was read, and close. */
void
collector_conn_close(struct collector_conn *c)
{
	collector_conn_ack(c);
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
int
collector_conn_read(struct collector_conn *c, int timeout_ms, char *seen,
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
		chunk = collector_map_get(&o->via.array.ptr[2], "chunk");
		ck_assert_ptr_nonnull(chunk);
		ck_assert_uint_lt(c->nchunks, sizeof c->chunks /
		    sizeof c->chunks[0]);
		c->chunks[c->nchunks++] = strndup(chunk->via.str.ptr,
		    chunk->via.str.size);
	}
	msgpack_unpacked_destroy(&res);
	return (1);
}

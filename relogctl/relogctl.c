/*
 * relogctl: talk to relogd over its socket.
 *
 *   relogctl [-s PATH] stats [--json]
 *   relogctl [-s PATH] tail [-f] [-n LINES] [-p PLUGIN]... [-l LEVEL] [--json]
 *   relogctl [-s PATH] send -p PLUGIN [-l LEVEL] [-n LOGGER] [MESSAGE...]
 *   relogctl [-s PATH] exec -p PLUGIN [-n LOGGER] -- COMMAND [ARG...]
 *   relogctl [-s PATH] reopen
 *
 * The socket: -s, else RELOG_SOCKET, else relogd's default. send and exec
 * log like any runner, through librelog; stats, tail and reopen are admin
 * methods (root, relogd's uid, admin_uids). Exit status: 0, 1 failed,
 * 2 usage, 3 relogd not running, 4 permission denied; exec: the command's.
 */
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "proto.h"
#include "relog.h"

#define CTL_FAILED 1
#define CTL_USAGE 2
#define CTL_NOT_RUNNING 3
#define CTL_DENIED 4
#define CTL_TIMEOUT_MS 10000
#define CTL_LINE_MAX (64 * 1024)

static const char *ctl_socket;
static int ctl_json;

/* Print usage and exit 2. */
static void __attribute__((noreturn))
ctl_usage(void)
{
	fprintf(stderr,
	    "usage: relogctl [-s SOCKET] stats [--json]\n"
	    "       relogctl [-s SOCKET] tail [-f] [-n LINES] [-p PLUGIN]... "
	    "[-l LEVEL] [--json]\n"
	    "       relogctl [-s SOCKET] send -p PLUGIN [-l LEVEL] [-n LOGGER] "
	    "[MESSAGE...]\n"
	    "       relogctl [-s SOCKET] exec -p PLUGIN [-n LOGGER] -- COMMAND "
	    "[ARG...]\n"
	    "       relogctl [-s SOCKET] reopen\n");
	exit(CTL_USAGE);
}

/* Say what failed and exit with status. */
static void __attribute__((noreturn, format(printf, 2, 3)))
ctl_fail(int status, const char *fmt, ...)
{
	va_list ap;

	fputs("relogctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(status);
}

/* A level: a name (debug, info, warning, error, critical) or a number. */
static int
ctl_level(const char *s)
{
	int64_t level;

	if (proto_level_parse(proto_cstr(s), &level) != 0)
		ctl_fail(CTL_USAGE, "%s: not a level", s);
	return ((int)level);
}

/* Connect to relogd; a clear error, and its own status, if it cannot. */
static int
ctl_connect(void)
{
	int fd = proto_client_connect(ctl_socket);

	if (fd >= 0)
		return (fd);
	if (fd == -ENAMETOOLONG)
		ctl_fail(CTL_USAGE, "%s: socket path too long", ctl_socket);
	if (fd == -ENOENT || fd == -ECONNREFUSED)
		ctl_fail(CTL_NOT_RUNNING, "relogd is not running at %s",
		    ctl_socket);
	if (fd == -EACCES || fd == -EPERM)
		ctl_fail(CTL_DENIED, "%s: permission denied", ctl_socket);
	ctl_fail(CTL_FAILED, "%s: %s", ctl_socket, strerror(-fd));
}

/* Send a request: the envelope, then what pack_payload packs. */
static void
ctl_request(int fd, int64_t id, const char *method,
    void (*pack_payload)(msgpack_packer *, void *), void *arg)
{
	struct proto_header hd = {
		.message_type = RELOG_TYPE_REQUEST,
		.request_id = id,
		.method = proto_cstr(method),
		.plugin_id = proto_cstr(""),
		.timestamp_ms = (int64_t)time(NULL) * 1000,
		.timeout_ms = RELOG_TIMEOUT_MS_DEFAULT,
	};
	msgpack_sbuffer sb;

	proto_client_frame(&sb, &hd, pack_payload, arg);
	if (proto_client_send(fd, sb.data, sb.size) != 0)
		ctl_fail(CTL_FAILED, "relogd closed the connection");
	msgpack_sbuffer_destroy(&sb);
}

/*
 * Read one frame (free it with proto_msg_free). Returns 0, or -1 at end of
 * file; anything else ends relogctl.
 */
static int
ctl_frame(int fd, struct proto_msg *m, int timeout_ms)
{
	const char *cause;
	int ret;

	ret = proto_client_recv(fd, timeout_ms, m, &cause);
	if (ret == 0)
		return (0);
	proto_msg_free(m);
	if (ret == -ECONNRESET)
		return (-1);
	if (ret == -ETIMEDOUT)
		ctl_fail(CTL_FAILED, "relogd did not answer");
	if (ret == -EBADMSG)
		ctl_fail(CTL_FAILED, "bad reply: %s", cause);
	ctl_fail(CTL_FAILED, "read: %s", strerror(-ret));
}

/* A string field of a map, or "". */
static struct proto_str
ctl_field(const msgpack_object *map, const char *key)
{
	const msgpack_object *o = proto_map_get(map, key);

	if (o == NULL || o->type != MSGPACK_OBJECT_STR)
		return (proto_cstr(""));
	return ((struct proto_str){ o->via.str.ptr, o->via.str.size });
}

/* An integer field of a map, or 0. */
static int64_t
ctl_int(const msgpack_object *map, const char *key)
{
	const msgpack_object *o = proto_map_get(map, key);

	if (o != NULL && o->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
		return ((int64_t)o->via.u64);
	if (o != NULL && o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
		return (o->via.i64);
	return (0);
}

/* An error reply ends relogctl: E_UNAUTHORIZED with status 4. */
static void
ctl_check(const struct proto_envelope *env)
{
	struct proto_str code, msg;

	if (env->error == NULL)
		return;
	code = ctl_field(env->error, "code");
	msg = ctl_field(env->error, "message");
	ctl_fail(proto_str_eq(code, RELOG_E_UNAUTHORIZED) ? CTL_DENIED :
	    CTL_FAILED, "relogd: %.*s (%.*s)", (int)msg.len, msg.ptr,
	    (int)code.len, code.ptr);
}

/*
 * Send a request and read its reply, which must not be an error; free it
 * with proto_msg_free.
 */
static void
ctl_call(int fd, int64_t id, const char *method,
    void (*pack_payload)(msgpack_packer *, void *), void *arg,
    struct proto_msg *r)
{
	ctl_request(fd, id, method, pack_payload, arg);
	if (ctl_frame(fd, r, CTL_TIMEOUT_MS) != 0)
		ctl_fail(CTL_FAILED, "relogd closed the connection");
	ctl_check(&r->env);
}

/* Pack a hello payload. */
static void
ctl_pack_hello(msgpack_packer *pk, void *arg)
{
	char runner[32];
	struct proto_hello h = {
		.sdk_version = proto_cstr("relogctl/" RELOG_PROTOCOL_VERSION),
		.session_token = proto_cstr(arg),
	};

	snprintf(runner, sizeof runner, "relogctl-%ld", (long)getpid());
	h.runner_id = proto_cstr(runner);
	proto_pack_hello(pk, &h);
}

/* Connect and say hello. */
static int
ctl_open(void)
{
	const char *token = getenv("RELOG_TOKEN");
	struct proto_msg r;
	int fd;

	fd = ctl_connect();
	ctl_call(fd, 1, RELOG_METHOD_HELLO, ctl_pack_hello,
	    (void *)(token != NULL ? token : ""), &r);
	proto_msg_free(&r);
	return (fd);
}

/* Write a JSON string (proto_json_str: bad UTF-8 as U+FFFD). */
static void
ctl_json_str(const char *p, size_t len)
{
	static struct proto_buf b;

	b.len = 0;
	proto_json_str(&b, (struct proto_str){ p, len });
	fwrite(b.data, 1, b.len, stdout);
}

/* Write a msgpack object as JSON. */
static void
ctl_json_object(const msgpack_object *o)
{
	uint32_t i;

	switch (o->type) {
	case MSGPACK_OBJECT_NIL:
		fputs("null", stdout);
		break;
	case MSGPACK_OBJECT_BOOLEAN:
		fputs(o->via.boolean ? "true" : "false", stdout);
		break;
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		printf("%llu", (unsigned long long)o->via.u64);
		break;
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		printf("%lld", (long long)o->via.i64);
		break;
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64:
		printf("%g", o->via.f64);
		break;
	case MSGPACK_OBJECT_STR:
		ctl_json_str(o->via.str.ptr, o->via.str.size);
		break;
	case MSGPACK_OBJECT_BIN:
		ctl_json_str(o->via.bin.ptr, o->via.bin.size);
		break;
	case MSGPACK_OBJECT_ARRAY:
		putchar('[');
		for (i = 0; i < o->via.array.size; i++) {
			if (i != 0)
				putchar(',');
			ctl_json_object(&o->via.array.ptr[i]);
		}
		putchar(']');
		break;
	case MSGPACK_OBJECT_MAP:
		putchar('{');
		for (i = 0; i < o->via.map.size; i++) {
			if (i != 0)
				putchar(',');
			ctl_json_object(&o->via.map.ptr[i].key);
			putchar(':');
			ctl_json_object(&o->via.map.ptr[i].val);
		}
		putchar('}');
		break;
	default:
		fputs("null", stdout);
		break;
	}
}

/* An array field of a map, or NULL. */
static const msgpack_object *
ctl_array(const msgpack_object *map, const char *key)
{
	const msgpack_object *o = proto_map_get(map, key);

	return (o != NULL && o->type == MSGPACK_OBJECT_ARRAY ? o : NULL);
}

/* Pack an empty payload. */
static void
ctl_pack_empty(msgpack_packer *pk, void *arg)
{
	(void)arg;
	msgpack_pack_map(pk, 0);
}

/* relogctl stats */
static int
ctl_stats(void)
{
	const msgpack_object *conns, *plugins, *fwd, *o, *payload, *up;
	struct proto_str s, t, state;
	struct proto_msg r;
	uint32_t i;
	int fd;

	fd = ctl_open();
	ctl_call(fd, 2, RELOG_METHOD_STATS, ctl_pack_empty, NULL, &r);
	payload = r.env.payload;
	if (ctl_json) {
		ctl_json_object(payload);
		putchar('\n');
		goto done;
	}
	conns = ctl_array(payload, "connections");
	plugins = ctl_array(payload, "plugins");
	s = ctl_field(payload, "version");
	printf("relogd %.*s, up %lld s, connections: %u\n\n", (int)s.len,
	    s.ptr, (long long)ctl_int(payload, "uptime_s"),
	    conns != NULL ? conns->via.array.size : 0);
	printf("%-6s %-8s %-6s %-24s %-16s %-8s %10s\n", "CONN", "PID", "UID",
	    "RUNNER", "PLUGIN", "STATE", "RECORDS");
	for (i = 0; conns != NULL && i < conns->via.array.size; i++) {
		o = &conns->via.array.ptr[i];
		s = ctl_field(o, "runner_id");
		t = ctl_field(o, "plugin");
		state = ctl_field(o, "state");
		printf("%-6lld %-8lld %-6lld %-24.*s %-16.*s %-8.*s %10lld\n",
		    (long long)ctl_int(o, "id"), (long long)ctl_int(o, "pid"),
		    (long long)ctl_int(o, "uid"), (int)s.len, s.ptr,
		    (int)t.len, t.ptr, (int)state.len, state.ptr,
		    (long long)ctl_int(o, "records"));
	}
	printf("\n%-24s %10s %10s %10s %10s %12s\n", "PLUGIN", "RECEIVED",
	    "WRITTEN", "DROPPED", "SUPPRESSED", "BYTES");
	for (i = 0; plugins != NULL && i < plugins->via.array.size; i++) {
		o = &plugins->via.array.ptr[i];
		s = ctl_field(o, "plugin");
		printf("%-24.*s %10lld %10lld %10lld %10lld %12lld\n",
		    (int)s.len, s.ptr, (long long)ctl_int(o, "received"),
		    (long long)ctl_int(o, "written"),
		    (long long)ctl_int(o, "dropped_by_runners"),
		    (long long)ctl_int(o, "suppressed"),
		    (long long)ctl_int(o, "bytes"));
	}
	fwd = ctl_array(payload, "forward");
	if (fwd != NULL && fwd->via.array.size != 0)
		printf("\n%-32s %-4s %10s %10s %10s %10s %10s\n", "FORWARD",
		    "UP", "MEMORY", "DISK", "SENT", "ACKED", "DROPPED");
	for (i = 0; fwd != NULL && i < fwd->via.array.size; i++) {
		o = &fwd->via.array.ptr[i];
		s = ctl_field(o, "uri");
		up = proto_map_get(o, "connected");
		printf("%-32.*s %-4s %10lld %10lld %10lld %10lld %10lld\n",
		    (int)s.len, s.ptr, up != NULL && up->type ==
		    MSGPACK_OBJECT_BOOLEAN && up->via.boolean ? "yes" : "no",
		    (long long)ctl_int(o, "queued_memory"),
		    (long long)ctl_int(o, "queued_disk"),
		    (long long)ctl_int(o, "sent"),
		    (long long)ctl_int(o, "acked"),
		    (long long)ctl_int(o, "dropped"));
	}
done:
	proto_msg_free(&r);
	close(fd);
	return (0);
}

/* What relogctl tail asks for. */
struct ctl_tail {
	const char *plugins[RELOG_TAIL_PLUGINS_MAX];
	int nplugins;
	int level;
	int follow;
	int lines;
};

/* Pack relogd.tail's payload. */
static void
ctl_pack_tail(msgpack_packer *pk, void *arg)
{
	struct ctl_tail *t = arg;
	int i;

	msgpack_pack_map(pk, 4);
	proto_pack_key(pk, "plugins");
	msgpack_pack_array(pk, (uint32_t)t->nplugins);
	for (i = 0; i < t->nplugins; i++)
		proto_pack_key(pk, t->plugins[i]);
	proto_pack_key(pk, "level");
	msgpack_pack_int(pk, t->level);
	proto_pack_key(pk, "follow");
	if (t->follow)
		msgpack_pack_true(pk);
	else
		msgpack_pack_false(pk);
	proto_pack_key(pk, "lines");
	msgpack_pack_int(pk, t->lines);
}

/* Print a tailed record as relogd writes it (proto_format_line). */
static void
ctl_print_record(const msgpack_object *p)
{
	static struct proto_buf b;
	struct proto_str plugin = ctl_field(p, "plugin");
	struct proto_line l = {
		.timestamp_ms = ctl_int(p, "timestamp_ms"),
		.level = ctl_int(p, "level"),
		.logger = ctl_field(p, "logger_name"),
		.message = ctl_field(p, "message"),
		.exception = ctl_field(p, "exception_text"),
	};
	char first[RELOG_ID_MAX + 3];
	int n;

	if (ctl_json) {
		ctl_json_object(p);
		putchar('\n');
		return;
	}
	n = snprintf(first, sizeof first, "%.*s: ", (int)(plugin.len <
	    RELOG_ID_MAX ? plugin.len : RELOG_ID_MAX), plugin.ptr);
	b.len = 0;
	proto_format_line(&b, &l, (struct proto_str){ first, (size_t)n },
	    proto_cstr("\t"));
	fwrite(b.data, 1, b.len, stdout);
}

/* relogctl tail */
static int
ctl_tail(struct ctl_tail *t)
{
	struct proto_msg m;
	struct proto_envelope env;
	int64_t dropped = 0, d;
	int fd, answered = 0;

	fd = ctl_open();
	ctl_request(fd, 2, RELOG_METHOD_TAIL, ctl_pack_tail, t);
	for (;;) {
		if (ctl_frame(fd, &m, answered && t->follow ? -1 :
		    CTL_TIMEOUT_MS) != 0)
			break;
		env = m.env;
		ctl_check(&env);
		if (env.type == PROTO_RESPONSE)
			answered = 1;
		else if (proto_str_eq(env.method, RELOG_METHOD_RECORD) ||
		    proto_str_eq(env.method, RELOG_METHOD_DROPPED)) {
			d = ctl_int(env.payload, "dropped");
			if (d > dropped)
				fprintf(stderr, "relogctl: %lld records not "
				    "shown: read too slowly\n",
				    (long long)(d - dropped));
			dropped = d;
			if (proto_str_eq(env.method, RELOG_METHOD_RECORD))
				ctl_print_record(env.payload);
		}
		proto_msg_free(&m);
		fflush(stdout);
		if (answered && !t->follow)
			break;
	}
	close(fd);
	return (0);
}

/* relogctl reopen */
static int
ctl_reopen(void)
{
	struct proto_msg r;
	int fd;

	fd = ctl_open();
	ctl_call(fd, 2, RELOG_METHOD_REOPEN, ctl_pack_empty, NULL, &r);
	proto_msg_free(&r);
	close(fd);
	return (0);
}

/*
 * Open librelog for a plugin, after making sure relogd is there (so that
 * "not running" is said at once, not after a close timeout).
 */
static relog_t *
ctl_relog(const char *plugin)
{
	static const char *const every[] = { NULL };
	char runner[32];
	struct relog_opts o = {
		.sz = sizeof o,
		.socket_path = ctl_socket,
		.plugin_id = plugin,
		.runner_id = runner,
		.prefixes = every,
		.queue_max = 4096,
	};
	relog_t *h;

	/* A safe id, and a hello relogd accepts: clear errors at once. */
	if (!proto_id_valid(plugin, strlen(plugin)))
		ctl_fail(CTL_USAGE, "%s: not a plugin id", plugin);
	close(ctl_open());
	snprintf(runner, sizeof runner, "relogctl-%ld", (long)getpid());
	h = relog_open(&o);
	if (h == NULL)
		ctl_fail(CTL_FAILED, "relog_open: %s", strerror(errno));
	return (h);
}

/* Log one line as a record. */
static void
ctl_emit(relog_t *h, int level, const char *logger, const char *line)
{
	struct relog_entry e = {
		.sz = sizeof e, .level = level, .logger_name = logger,
		.message = line,
	};

	relog_emit(h, &e);
}

/* Close librelog; what it could not deliver is a failure. */
static void
ctl_relog_close(relog_t *h)
{
	if (relog_close(h, CTL_TIMEOUT_MS) != 0)
		ctl_fail(CTL_FAILED, "some records were not delivered");
}

/* relogctl send: the arguments as one record, or stdin, a line each. */
static int
ctl_send(const char *logger, int level, int argc, char **argv, relog_t *h)
{
	char *line = NULL, *msg;
	size_t cap = 0, len = 0, lines = 0;
	ssize_t n;
	int i;

	if (argc > 0) {
		for (i = 0; i < argc; i++)
			len += strlen(argv[i]) + 1;
		msg = calloc(1, len + 1);
		if (msg == NULL)
			ctl_fail(CTL_FAILED, "out of memory");
		for (i = 0; i < argc; i++) {
			if (i != 0)
				strcat(msg, " ");
			strcat(msg, argv[i]);
		}
		ctl_emit(h, level, logger, msg);
		free(msg);
	} else {
		while ((n = getline(&line, &cap, stdin)) > 0) {
			if (line[n - 1] == '\n')
				line[n - 1] = '\0';
			ctl_emit(h, level, logger, line);
			/* Let a long input through before the ring fills. */
			if (++lines % 1024 == 0 &&
			    relog_flush(h, CTL_TIMEOUT_MS) != 0)
				ctl_fail(CTL_FAILED, "relogd does not take "
				    "the records");
		}
		free(line);
	}
	ctl_relog_close(h);
	return (0);
}

/* A command's output being cut into lines. */
struct ctl_stream {
	int fd;
	int level;
	char buf[CTL_LINE_MAX + 1];
	size_t len;
};

/* Read what a stream has; emit every whole line (and, at its end, the rest). */
static int
ctl_stream_read(struct ctl_stream *s, relog_t *h, const char *logger)
{
	char *nl, *p;
	ssize_t n;

	n = read(s->fd, s->buf + s->len, CTL_LINE_MAX - s->len);
	if (n < 0 && errno == EINTR)
		return (0);
	if (n > 0)
		s->len += (size_t)n;
	s->buf[s->len] = '\0';
	p = s->buf;
	while ((nl = memchr(p, '\n', s->len - (size_t)(p - s->buf))) != NULL) {
		*nl = '\0';
		ctl_emit(h, s->level, logger, p);
		p = nl + 1;
	}
	s->len -= (size_t)(p - s->buf);
	memmove(s->buf, p, s->len);
	/* A line too long, or the last one without a newline. */
	if (s->len == CTL_LINE_MAX || (n <= 0 && s->len != 0)) {
		s->buf[s->len] = '\0';
		ctl_emit(h, s->level, logger, s->buf);
		s->len = 0;
	}
	return (n <= 0 ? -1 : 0);
}

/* relogctl exec: a command's stdout as INFO, its stderr as WARNING. */
static int
ctl_exec(const char *logger, char **argv, relog_t *h)
{
	struct ctl_stream out = { .level = RELOG_INFO };
	struct ctl_stream err = { .level = RELOG_WARNING };
	struct pollfd pfd[2];
	int po[2], pe[2], status, open_fds = 2, i;
	pid_t pid;

	if (pipe2(po, O_CLOEXEC) != 0 || pipe2(pe, O_CLOEXEC) != 0)
		ctl_fail(CTL_FAILED, "pipe: %s", strerror(errno));
	pid = fork();
	if (pid < 0)
		ctl_fail(CTL_FAILED, "fork: %s", strerror(errno));
	if (pid == 0) {
		dup2(po[1], STDOUT_FILENO);
		dup2(pe[1], STDERR_FILENO);
		/* relogctl ignores it; the command should not. */
		signal(SIGPIPE, SIG_DFL);
		execvp(argv[0], argv);
		dprintf(pe[1], "relogctl: %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(po[1]);
	close(pe[1]);
	out.fd = po[0];
	err.fd = pe[0];
	pfd[0].fd = out.fd;
	pfd[1].fd = err.fd;
	pfd[0].events = pfd[1].events = POLLIN;
	while (open_fds > 0) {
		if (poll(pfd, 2, -1) < 0 && errno != EINTR)
			break;
		for (i = 0; i < 2; i++) {
			if (pfd[i].fd < 0 || pfd[i].revents == 0)
				continue;
			if (ctl_stream_read(i == 0 ? &out : &err, h,
			    logger) != 0) {
				close(pfd[i].fd);
				pfd[i].fd = -1;
				open_fds--;
			}
		}
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	ctl_relog_close(h);
	if (WIFSIGNALED(status))
		return (128 + WTERMSIG(status));
	return (WEXITSTATUS(status));
}

/* relogctl: the command line, then the command. */
int
main(int argc, char **argv)
{
	static const struct option top[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	static const struct option sub[] = {
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 }
	};
	struct ctl_tail t = { .level = 0, .lines = 10 };
	const char *cmd, *plugin = NULL, *logger = NULL;
	char *end;
	char logger_buf[RELOG_ID_MAX + 16];
	int opt, level = RELOG_INFO;

	ctl_socket = getenv("RELOG_SOCKET");
	if (ctl_socket == NULL || *ctl_socket == '\0')
		ctl_socket = RELOG_SOCKET_DEFAULT;
	while ((opt = getopt_long(argc, argv, "+s:h", top, NULL)) != -1) {
		if (opt == 's')
			ctl_socket = optarg;
		else
			ctl_usage();
	}
	if (optind >= argc)
		ctl_usage();
	cmd = argv[optind];
	argc -= optind;
	argv += optind;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "+fn:p:l:", sub, NULL)) != -1) {
		switch (opt) {
		case 'j': ctl_json = 1; break;
		case 'f': t.follow = 1; break;
		case 'n':
			/* tail: how many lines; send, exec: the logger. */
			logger = optarg;
			t.lines = (int)strtol(optarg, &end, 10);
			if (strcmp(cmd, "tail") == 0 && (*optarg == '\0' ||
			    *end != '\0' || t.lines < 0 ||
			    t.lines > RELOG_TAIL_LINES_MAX))
				ctl_fail(CTL_USAGE, "-n takes 0 to %d lines",
				    RELOG_TAIL_LINES_MAX);
			break;
		case 'p':
			plugin = optarg;
			if (t.nplugins == RELOG_TAIL_PLUGINS_MAX)
				ctl_fail(CTL_USAGE, "%d plugins at most",
				    RELOG_TAIL_PLUGINS_MAX);
			t.plugins[t.nplugins++] = optarg;
			break;
		case 'l':
			level = ctl_level(optarg);
			t.level = level;
			break;
		default:
			ctl_usage();
		}
	}
	argc -= optind;
	argv += optind;
	signal(SIGPIPE, SIG_IGN);

	if (strcmp(cmd, "stats") == 0 && argc == 0)
		return (ctl_stats());
	if (strcmp(cmd, "tail") == 0 && argc == 0)
		return (ctl_tail(&t));
	if (strcmp(cmd, "reopen") == 0 && argc == 0)
		return (ctl_reopen());
	if ((strcmp(cmd, "send") == 0 || strcmp(cmd, "exec") == 0) &&
	    plugin != NULL && t.nplugins == 1) {
		if (logger == NULL) {
			snprintf(logger_buf, sizeof logger_buf, "plugin.%s",
			    plugin);
			logger = logger_buf;
		}
		if (strcmp(cmd, "send") == 0)
			return (ctl_send(logger, level, argc, argv,
			    ctl_relog(plugin)));
		if (argc > 0)
			return (ctl_exec(logger, argv, ctl_relog(plugin)));
	}
	ctl_usage();
}

/*
 * Peers for the security suites: children that became another uid, raw
 * clients that send exactly the frames they mean to (hellos with tokens
 * and instance ids, batches with drop counts, frames left unfinished),
 * crowds holding connections, and relogd's stats read back.
 */
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
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

#define PEER_WAIT_MS 60000

/*
 * Run fn(arg) in a child that became uid (and gid) uid, with nofile file
 * descriptors (0: as it is); the child exits with what fn returns.
 */
pid_t
peer_as(uid_t uid, int nofile, int (*fn)(void *), void *arg)
{
	struct rlimit rl = { (rlim_t)nofile, (rlim_t)nofile };
	pid_t pid;

	ck_assert_msg(geteuid() == 0, "the security suite runs as root: it "
	    "starts peers of other uids");
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid != 0)
		return (pid);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if ((nofile != 0 && setrlimit(RLIMIT_NOFILE, &rl) != 0) ||
	    setgroups(0, NULL) != 0 || setresgid(uid, uid, uid) != 0 ||
	    setresuid(uid, uid, uid) != 0)
		_exit(100);
	_exit(fn(arg));
}

/*
 * Run fn(arg) as uid (see peer_as); *ready, a field of arg, is a pipe the
 * child writes a byte to when it is under way. Returns once it did.
 */
pid_t
peer_as_ready(uid_t uid, int nofile, int (*fn)(void *), void *arg,
    int *ready)
{
	struct pollfd pfd = { .events = POLLIN };
	int p[2];
	pid_t pid;
	char c;

	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	*ready = p[1];
	pid = peer_as(uid, nofile, fn, arg);
	close(p[1]);
	pfd.fd = p[0];
	ck_assert_int_eq(poll(&pfd, 1, PEER_WAIT_MS), 1);
	ck_assert_int_eq(read(p[0], &c, 1), 1);
	close(p[0]);
	return (pid);
}

/* Stop a child that runs until told, and reap it. */
void
peer_kill(pid_t pid)
{
	kill(pid, SIGKILL);
	harness_wait(pid, PEER_WAIT_MS);
}

/*
 * Run relogctl with args (NULL-terminated, 12 at most) on h's socket: what
 * it printed (free it), its exit status in *status.
 */
char *
peer_relogctl_args(const struct harness *h, const char *const *args,
    int *status)
{
	const char *argv[16] = { harness_build_path("relogctl"), "-s",
	    h->socket };
	char *text;
	size_t n = 3;
	int out;
	pid_t pid;

	while (*args != NULL && n < 15)
		argv[n++] = *args++;
	argv[n] = NULL;
	pid = harness_spawn(argv, NULL, &out, NULL);
	text = harness_read_fd(out, NULL);
	*status = harness_wait(pid, PEER_WAIT_MS);
	return (text);
}

/* Run relogctl COMMAND ARG (may be NULL) on h's socket, as above. */
char *
peer_relogctl(const struct harness *h, const char *command, const char *arg,
    int *status)
{
	const char *args[] = { command, arg, NULL };

	return (peer_relogctl_args(h, args, status));
}

/* relogd's stats, as relogctl stats --json prints them (free them). */
char *
peer_stats(const struct harness *h)
{
	int status;
	char *text = peer_relogctl(h, "stats", "--json", &status);

	ck_assert_int_eq(status, 0);
	return (text);
}

/* A number after needle (NULL: from the top) in relogd's stats; -1: none. */
static long long
peer_stat_after(const struct harness *h, const char *needle, const char *key)
{
	char want[128], *text = peer_stats(h), *p = text;
	long long v = -1;

	if (needle != NULL)
		p = strstr(text, needle);
	snprintf(want, sizeof want, "\"%s\":", key);
	if (p != NULL && (p = strstr(p, want)) != NULL) {
		p += strlen(want);
		v = strncmp(p, "true", 4) == 0 ? 1 : strtoll(p, NULL, 10);
	}
	free(text);
	return (v);
}

/*
 * A number from relogd's stats (true 1, false 0): of the plugin's entry,
 * or with plugin NULL of the top level. -1 if it is not there.
 */
long long
peer_stat(const struct harness *h, const char *plugin, const char *key)
{
	char needle[128];

	if (plugin == NULL)
		return (peer_stat_after(h, NULL, key));
	snprintf(needle, sizeof needle, "{\"plugin\":\"%s\",", plugin);
	return (peer_stat_after(h, needle, key));
}

/* A number from the stats of a runner's connection, as peer_stat. */
long long
peer_runner_stat(const struct harness *h, const char *runner,
    const char *key)
{
	char needle[128];

	snprintf(needle, sizeof needle, "\"runner_id\":\"%s\"", runner);
	return (peer_stat_after(h, needle, key));
}

/* Wait until a stat is at least value. */
void
peer_await_stat(const struct harness *h, const char *plugin,
    const char *key, long long value)
{
	int64_t deadline = harness_now_ms() + PEER_WAIT_MS;
	long long v;

	while ((v = peer_stat(h, plugin, key)) < value) {
		ck_assert_msg(harness_now_ms() < deadline, "stats %s %s is "
		    "%lld, waited for %lld", plugin != NULL ? plugin : "",
		    key, v, value);
		/* relogctl is the probe: one a 20 ms, not a busy loop. */
		poll(NULL, 0, 20);
	}
}

/* Wait until stats hold needle n times. */
void
peer_await_count(const struct harness *h, const char *needle, size_t n)
{
	int64_t deadline = harness_now_ms() + PEER_WAIT_MS;
	size_t seen;
	char *text;

	for (;;) {
		text = peer_stats(h);
		seen = harness_count(text, needle);
		free(text);
		if (seen == n)
			return;
		ck_assert_msg(harness_now_ms() < deadline, "stats hold %s "
		    "%zu times, waited for %zu", needle, seen, n);
		poll(NULL, 0, 20);
	}
}

/* Connect to relogd; -1 if it cannot be now (a non-blocking socket). */
int
peer_connect(const struct harness *h, int nonblock)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd;

	memcpy(sun.sun_path, h->socket, strlen(h->socket) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC |
	    (nonblock ? SOCK_NONBLOCK : 0), 0);
	if (fd < 0)
		return (-1);
	if (connect(fd, (struct sockaddr *)&sun, sizeof sun) != 0) {
		close(fd);
		return (-1);
	}
	return (fd);
}

/* Begin a frame of the given method in sb (append to what it holds). */
size_t
peer_frame_begin(msgpack_sbuffer *sb, msgpack_packer *pk, const char *type,
    const char *method)
{
	struct proto_header hd = {
		.message_type = type, .request_id = 1,
		.method = proto_cstr(method), .plugin_id = proto_cstr(""),
		.timestamp_ms = 1764306519123, .timeout_ms = 30000,
	};
	size_t start = proto_frame_begin(sb);

	msgpack_packer_init(pk, sb, msgpack_sbuffer_write);
	proto_pack_header(pk, &hd);
	return (start);
}

/* Append a hello frame to sb (plugin, instance and token may be NULL). */
void
peer_hello(msgpack_sbuffer *sb, const char *runner, const char *plugin,
    const char *instance, const char *token)
{
	struct proto_hello hello = {
		.runner_id = proto_cstr(runner),
		.sdk_version = proto_cstr("test/1"),
		.session_token = proto_cstr(token != NULL ? token : ""),
		.plugin_id = proto_cstr(plugin),
		.instance = proto_cstr(instance),
	};
	msgpack_packer pk;
	size_t start;

	start = peer_frame_begin(sb, &pk, RELOG_TYPE_REQUEST,
	    RELOG_METHOD_HELLO);
	proto_pack_hello(&pk, &hello);
	proto_pack_no_error(&pk);
	proto_frame_end(sb, start, RELOG_FRAME_MAX_LIMIT);
}

/* Append a batch of n records of this logger and message to sb. */
void
peer_batch(msgpack_sbuffer *sb, const char *logger, const char *msg, int n,
    uint64_t dropped)
{
	struct proto_entry e = {
		.timestamp_ms = 1764306519000, .level = RELOG_LEVEL_INFO,
		.logger_name = proto_cstr(logger), .message = proto_cstr(msg),
		.exception_text = proto_cstr("")
	};
	msgpack_packer pk;
	size_t start;
	int i;

	start = peer_frame_begin(sb, &pk, RELOG_TYPE_BROADCAST,
	    RELOG_METHOD_LOG_BATCH);
	proto_pack_batch_head(&pk, (uint32_t)n, 0, dropped);
	for (i = 0; i < n; i++)
		proto_pack_entry(&pk, &e);
	proto_pack_no_error(&pk);
	proto_frame_end(sb, start, RELOG_FRAME_MAX_LIMIT);
}

/* Send all of sb on fd (a blocking socket), and empty it. */
void
peer_send(int fd, msgpack_sbuffer *sb)
{
	size_t off = 0;
	ssize_t n;

	while (off < sb->size) {
		n = send(fd, sb->data + off, sb->size - off, MSG_NOSIGNAL);
		ck_assert_msg(n > 0, "send: %s", strerror(errno));
		off += (size_t)n;
	}
	msgpack_sbuffer_clear(sb);
}

/* Connect and say hello; returns the fd once relogd accepted. */
int
peer_open(const struct harness *h, const char *runner, const char *plugin,
    const char *token)
{
	msgpack_sbuffer sb;
	int fd, eof;

	fd = harness_connect(h);
	msgpack_sbuffer_init(&sb);
	peer_hello(&sb, runner, plugin, NULL, token);
	peer_send(fd, &sb);
	msgpack_sbuffer_destroy(&sb);
	ck_assert_str_eq(wire_reply(fd, 0, &eof), "accepted");
	return (fd);
}

/* Send a batch of n records on a connection (see peer_batch). */
void
peer_log(int fd, const char *logger, const char *msg, int n)
{
	msgpack_sbuffer sb;

	msgpack_sbuffer_init(&sb);
	peer_batch(&sb, logger, msg, n, 0);
	peer_send(fd, &sb);
	msgpack_sbuffer_destroy(&sb);
}

/* What a peer holding connections does (peer_hold_run). */
struct peer_hold {
	const struct harness *h;
	int n;			/* connections to hold at once */
	int ready;		/* a pipe: one byte once n were made */
};

/*
 * Hold n connections open without a word, making a new one for each that
 * relogd closes, until killed. Tells the pipe once n connect() calls
 * succeeded.
 */
static int
peer_hold_run(void *arg)
{
	const struct peer_hold *hd = arg;
	struct pollfd *pfd = calloc((size_t)hd->n, sizeof *pfd);
	long made = 0;
	char c;
	int i;

	if (pfd == NULL)
		return (1);
	for (i = 0; i < hd->n; i++)
		pfd[i].fd = -1;
	for (;;) {
		for (i = 0; i < hd->n; i++) {
			if (pfd[i].fd >= 0 && (pfd[i].revents & (POLLIN |
			    POLLHUP | POLLERR)) && recv(pfd[i].fd, &c, 1,
			    MSG_DONTWAIT) <= 0) {
				close(pfd[i].fd);
				pfd[i].fd = -1;
			}
			if (pfd[i].fd < 0 && (pfd[i].fd = peer_connect(hd->h,
			    1)) >= 0)
				made++;
			pfd[i].events = POLLIN;
			pfd[i].revents = 0;
		}
		if (made >= hd->n && hd->ready >= 0) {
			if (write(hd->ready, "x", 1) != 1)
				return (1);
			made = -(1L << 40);	/* told */
		}
		/* Until relogd closes one (or 100 ms, to connect again). */
		poll(pfd, (nfds_t)hd->n, 100);
	}
}

/*
 * Start a peer of uid holding n connections (file descriptors for them);
 * returns once it holds them.
 */
pid_t
peer_hold(const struct harness *h, uid_t uid, int n)
{
	struct peer_hold hd = { .h = h, .n = n };

	return (peer_as_ready(uid, n + 64, peer_hold_run, &hd, &hd.ready));
}

/* What a peer sending large frames does (peer_flood_run). */
struct peer_flood {
	const struct harness *h;
	int n;			/* connections */
	const char *data;	/* what each sends */
	size_t len;
	int ready;		/* a pipe: one byte once under way */
};

/*
 * Send the data on n connections at once, as far as relogd reads it (tell
 * the pipe once each connection had its first go); then hold what is open
 * until killed.
 */
static int
peer_flood_run(void *arg)
{
	const struct peer_flood *fl = arg;
	struct pollfd *pfd = calloc((size_t)fl->n, sizeof *pfd);
	size_t *off = calloc((size_t)fl->n, sizeof *off);
	int i, busy, told = 0;
	ssize_t w;

	if (pfd == NULL || off == NULL)
		return (1);
	for (i = 0; i < fl->n; i++) {
		if ((pfd[i].fd = peer_connect(fl->h, 1)) < 0 &&
		    errno != ECONNREFUSED && errno != EAGAIN)
			return (2);
		pfd[i].events = POLLOUT;
	}
	for (;;) {
		for (i = busy = 0; i < fl->n; i++) {
			if (pfd[i].fd < 0 || off[i] == fl->len)
				continue;
			w = send(pfd[i].fd, fl->data + off[i], fl->len - off[i],
			    MSG_NOSIGNAL | MSG_DONTWAIT);
			if (w > 0)
				off[i] += (size_t)w;
			else if (w < 0 && errno != EAGAIN) {
				close(pfd[i].fd);
				pfd[i].fd = -1;
				continue;
			}
			busy |= off[i] < fl->len;
		}
		/* Under way: each connection had its first go. */
		if (!told) {
			if (write(fl->ready, "x", 1) != 1)
				return (1);
			told = 1;
		}
		if (!busy)
			pause();	/* holding what is open */
		poll(pfd, (nfds_t)fl->n, -1);
	}
}

/* Start a peer of uid sending sb on n connections; returns when told. */
pid_t
peer_flood(const struct harness *h, uid_t uid, int n,
    const msgpack_sbuffer *sb)
{
	struct peer_flood fl = { .h = h, .n = n, .data = sb->data,
	    .len = sb->size };

	return (peer_as_ready(uid, n + 64, peer_flood_run, &fl, &fl.ready));
}

/* Append to sb a frame of len bytes of nil; its last byte left off. */
void
peer_big_frame(msgpack_sbuffer *sb, size_t len)
{
	unsigned char head[RELOG_FRAME_HEADER_SIZE] = {
		(unsigned char)(len >> 24), (unsigned char)(len >> 16),
		(unsigned char)(len >> 8), (unsigned char)len
	};
	char *body = malloc(len);

	ck_assert_ptr_nonnull(body);
	memset(body, 0xc0, len);
	msgpack_sbuffer_write(sb, (char *)head, sizeof head);
	msgpack_sbuffer_write(sb, body, len - 1);
	free(body);
}

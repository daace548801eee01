/*
 * librelog's API in this process: options, the logger filter, drops,
 * relog_flush meaning "written by relogd", and relog_close staying within
 * its bound whatever relogd or stderr do.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <stddef.h>
#include <pthread.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "proto.h"
#include "relog.h"
#include "shim.h"
#include "shm-ring.h"
#include "tests.h"

/* What relog_close may take past its timeout: the stderr fallback. */
#define SHIM_CLOSE_SLACK_MS 1500

static struct harness H;
static int saved_stderr = -1;

static void
shim_setup(void)
{
	harness_init(&H);
}

/* Point stderr back where it was before capture_stderr. */
static void
restore_stderr(void)
{
	if (saved_stderr >= 0) {
		dup2(saved_stderr, STDERR_FILENO);
		close(saved_stderr);
		saved_stderr = -1;
	}
}

static void
shim_teardown(void)
{
	restore_stderr();
	harness_cleanup(&H);
}

/* Point stderr at a pipe; returns its read end (non-blocking). */
static int
capture_stderr(void)
{
	int p[2];

	ck_assert_int_eq(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
	saved_stderr = dup(STDERR_FILENO);
	ck_assert_int_ge(saved_stderr, 0);
	ck_assert_int_eq(dup2(p[1], STDERR_FILENO), STDERR_FILENO);
	close(p[1]);
	return (p[0]);
}

/* Listen on the test's socket path but never accept: a hung relogd. */
static int
listen_deaf(void)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd;

	memcpy(sun.sun_path, H.socket, strlen(H.socket) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sun, sizeof sun), 0);
	ck_assert_int_eq(listen(fd, 8), 0);
	return (fd);
}

/* Open a handle on the test's socket. */
static relog_t *
open_handle(size_t queue_max)
{
	struct relog_opts o = {
		.sz = sizeof o,
		.socket_path = H.socket,
		.runner_id = "shim",
		.queue_max = queue_max,
	};
	relog_t *h = relog_open(&o);

	ck_assert_ptr_nonnull(h);
	return (h);
}

START_TEST(test_shim_bad_options)
{
	struct relog_opts o = { .sz = sizeof o + 64 };
	char bad[] = "RELOG_QUEUE_MAX=lots";

	errno = 0;
	ck_assert_ptr_null(relog_open(&o));
	ck_assert_int_eq(errno, EINVAL);
	putenv(bad);
	errno = 0;
	ck_assert_ptr_null(relog_open(NULL));
	ck_assert_int_eq(errno, EINVAL);
	unsetenv("RELOG_QUEUE_MAX");
	ck_assert_int_eq(relog_emit(NULL, NULL), -EINVAL);
}
END_TEST

/*
 * More plugin ids than a hello holds (256), given or from
 * RELOG_PLUGIN_IDS: EINVAL, and the handle freed (the sanitizers and
 * valgrind see that nothing of it is read after).
 */
START_TEST(test_shim_too_many_plugin_ids)
{
	static char text[8 * 257];
	static char names[257][8];
	const char *ids[258];
	struct relog_opts o = { .sz = sizeof o, .runner_id = "ids",
	    .socket_path = "/nonexistent/relogd.sock", .plugin_ids = ids };
	size_t i, len = 0;

	for (i = 0; i < 257; i++) {
		snprintf(names[i], sizeof names[i], "p%zu", i);
		ids[i] = names[i];
		len += (size_t)snprintf(text + len, sizeof text - len, "%s%s",
		    i == 0 ? "" : ",", names[i]);
	}
	ids[257] = NULL;
	errno = 0;
	ck_assert_ptr_null(relog_open(&o));
	ck_assert_int_eq(errno, EINVAL);
	o.plugin_ids = NULL;
	ck_assert_int_eq(setenv("RELOG_PLUGIN_IDS", text, 1), 0);
	errno = 0;
	ck_assert_ptr_null(relog_open(&o));
	ck_assert_int_eq(errno, EINVAL);
	unsetenv("RELOG_PLUGIN_IDS");
}
END_TEST

/* relog_open refuses these options with EINVAL. */
static void
shim_assert_invalid(const struct relog_opts *o)
{
	errno = 0;
	ck_assert_ptr_null(relog_open(o));
	ck_assert_int_eq(errno, EINVAL);
}

/* Ids relogd would refuse at every hello: EINVAL from relog_open. */
START_TEST(test_shim_unsafe_ids)
{
	const char *ids[] = { "ok", ".hidden", NULL };
	const char *own[] = { "ok", "_unrouted", NULL };
	struct relog_opts o = { .sz = sizeof o, .runner_id = "a/b",
	    .socket_path = "/nonexistent/relogd.sock" };

	shim_assert_invalid(&o);
	o.runner_id = "fine";
	o.plugin_id = "..";
	shim_assert_invalid(&o);
	o.plugin_id = "bank";
	o.plugin_ids = ids;
	shim_assert_invalid(&o);
	/* relogd's own logs are named by no hello. */
	o.plugin_ids = own;
	shim_assert_invalid(&o);
	o.plugin_ids = NULL;
	o.plugin_id = "_runtime";
	shim_assert_invalid(&o);
}
END_TEST

/* Only the allowed logger prefixes are queued. */
START_TEST(test_shim_filter)
{
	static const char *const prefixes[] = { "app.", NULL };
	struct relog_opts o = {
		.sz = sizeof o, .socket_path = H.socket, .queue_max = 2,
		.prefixes = prefixes,
	};
	struct relog_entry e = { .sz = sizeof e, .message = "m" };
	relog_t *h;

	h = open_handle(2);
	e.logger_name = "plugin.x";
	ck_assert_int_eq(relog_emit(h, &e), 0);
	e.logger_name = "plugin_runtime.core";
	ck_assert_int_eq(relog_emit(h, &e), 0);
	e.logger_name = "_maibot_plugin_y.z";
	ck_assert_int_eq(relog_emit(h, &e), 0);
	e.logger_name = "asyncio";
	ck_assert_int_eq(relog_emit(h, &e), 1);
	ck_assert_int_eq(relog_log(h, RELOG_INFO, "urllib3", "%d", 1), 1);
	capture_stderr();
	relog_close(h, 0);

	h = relog_open(&o);
	ck_assert_ptr_nonnull(h);
	e.logger_name = "plugin.x";
	ck_assert_int_eq(relog_emit(h, &e), 1);
	e.logger_name = "app.web";
	ck_assert_int_eq(relog_emit(h, &e), 0);
	relog_close(h, 0);
}
END_TEST

/*
 * The filter compares a name of 16 bytes or more in words under masks, a
 * shorter one or a prefix past 16 bytes byte by byte: each way, a name is
 * forwarded exactly when it starts with a prefix, whichever byte differs.
 */
START_TEST(test_shim_filter_words)
{
	static const char *const prefixes[] = { "plugin.",
	    "sixteen.bytes.ab", "a.prefix.longer.than.16.", NULL };
	static const struct {
		const char *name;
		int ret;
	} cases[] = {
		{ "plugin.abcdefghijklmnop", 0 },
		{ "plugin_abcdefghijklmnop", 1 },
		{ "Plugin.abcdefghijklmnop", 1 },
		{ "plugin.", 0 },
		{ "plugin", 1 },
		{ "plugin.x", 0 },
		{ "sixteen.bytes.ab", 0 },
		{ "sixteen.bytes.ab.more", 0 },
		{ "sixteen.bytes.aX.more", 1 },
		{ "sixteen.bytes.a", 1 },
		{ "a.prefix.longer.than.16.x", 0 },
		{ "a.prefix.longer.than.16", 1 },
		{ "a.prefix.longer.than.1X.x", 1 },
		{ "asyncio.base_events.loop", 1 },
	};
	struct relog_opts o = {
		.sz = sizeof o, .socket_path = H.socket, .prefixes = prefixes,
	};
	struct relog_entry e = { .sz = sizeof e, .message = "m" };
	relog_t *h = relog_open(&o);
	size_t i;

	ck_assert_ptr_nonnull(h);
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		e.logger_name = cases[i].name;
		ck_assert_msg(relog_emit(h, &e) == cases[i].ret, "%s: not %d",
		    cases[i].name, cases[i].ret);
		ck_assert_int_eq(relog_log(h, RELOG_INFO, cases[i].name, "m"),
		    cases[i].ret);
	}
	capture_stderr();
	relog_close(h, 0);
}
END_TEST

/*
 * A full ring overwrites its oldest records and counts them. Its smallest
 * size, 1024 slots, holds 1024 short records (PROTOCOL.md, "Size").
 */
START_TEST(test_shim_drops_counted)
{
	char buf[8192];
	relog_t *h;
	ssize_t n;
	int err, i;

	err = capture_stderr();
	h = open_handle(4);
	for (i = 0; i < 1024 + 6; i++)
		ck_assert_int_eq(relog_log(h, RELOG_INFO, "plugin.d", "%d", i),
		    0);
	ck_assert_uint_eq(relog_dropped(h), 6);
	ck_assert_int_eq(relog_flush(h, 50), -ETIMEDOUT);
	ck_assert_int_eq(relog_close(h, 0), -ETIMEDOUT);
	/* The flusher (not emit) said it cannot reach relogd, and the drops. */
	n = read(err, buf, sizeof buf - 1);
	ck_assert_int_gt(n, 0);
	buf[n] = '\0';
	ck_assert_msg(strstr(buf, "relog: relogd unreachable at ") != NULL &&
	    strstr(buf, "; 6 records dropped so far\n") != NULL,
	    "stderr: %s", buf);
	close(err);
}
END_TEST

/*
 * relog_flush returns once relogd has written the records: they are in the
 * file when it returns, relogd still running.
 */
START_TEST(test_shim_flush_means_written)
{
	relog_t *h;
	char *text;
	int i;

	harness_daemon_start(&H, NULL);
	h = open_handle(1000);
	for (i = 0; i < 500; i++)
		relog_log(h, RELOG_INFO, "plugin.fl", "flushed %d", i);
	ck_assert_int_eq(relog_flush(h, 30000), 0);
	text = harness_plugin_log(&H, "fl");
	ck_assert_uint_eq(harness_lines(text), 500);
	ck_assert_ptr_nonnull(strstr(text, "] flushed 499\n"));
	free(text);
	ck_assert_int_eq(relog_close(h, 30000), 0);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
}
END_TEST

/*
 * The length of a run of unit at p, then " [truncated N bytes]" with N:
 * what a text cut by librelog leaves in a log file. Returns the run's
 * bytes; *cut, N.
 */
static size_t
long_run(const char *p, const char *unit, size_t *cut)
{
	size_t n = 0, u = strlen(unit);
	int end = -1;

	while (strncmp(p + n, unit, u) == 0)
		n += u;
	ck_assert_int_eq(sscanf(p + n, " [truncated %zu bytes]%n", cut, &end),
	    1);
	ck_assert_int_gt(end, 0);
	return (n);
}

/*
 * A message or exception text past what the ring keeps of it (64 KiB) is
 * cut at a character boundary and marked with what it lost, as relogd
 * marks what it cuts: from relog_emit and relog_log alike.
 */
START_TEST(test_shim_long_texts)
{
	struct relog_entry e = { .sz = sizeof e, .level = RELOG_ERROR };
	size_t msg_len = 100000, exc_len = 300000, log_len = 100001, cut, n;
	char *msg = malloc(msg_len + 1), *exc = malloc(exc_len + 1);
	char *log = malloc(log_len + 1), *text, *p;
	relog_t *h;

	ck_assert(msg != NULL && exc != NULL && log != NULL);
	for (n = 0; n < msg_len; n += 2)
		memcpy(msg + n, "\xc3\xa9", 2);
	msg[msg_len] = '\0';
	memset(exc, 'x', exc_len);
	exc[exc_len] = '\0';
	memset(log, 'a', log_len);
	log[log_len] = '\0';
	harness_daemon_start(&H, NULL);
	h = open_handle(1000);
	e.logger_name = "plugin.long";
	e.message = msg;
	e.exception_text = exc;
	ck_assert_int_eq(relog_emit(h, &e), 0);
	ck_assert_int_eq(relog_log(h, RELOG_INFO, "plugin.long", "%s",
	    log), 0);
	ck_assert_int_eq(relog_flush(h, 30000), 0);
	text = harness_plugin_log(&H, "long");
	ck_assert_ptr_nonnull(text);

	p = strstr(text, " ERROR [plugin.long] ");
	ck_assert_ptr_nonnull(p);
	n = long_run(p + strlen(" ERROR [plugin.long] "), "\xc3\xa9",
	    &cut);
	ck_assert_uint_eq(n + cut, msg_len);
	ck_assert_uint_le(n + strlen(" [truncated 34464 bytes]"), 65536);
	ck_assert_uint_gt(n, 60000);
	p = strstr(p, "\n\tx");
	ck_assert_ptr_nonnull(p);
	n = long_run(p + 2, "x", &cut);
	ck_assert_uint_eq(n + cut, exc_len);
	ck_assert_uint_gt(n, 60000);

	p = strstr(text, " INFO [plugin.long] ");
	ck_assert_ptr_nonnull(p);
	n = long_run(p + strlen(" INFO [plugin.long] "), "a", &cut);
	ck_assert_uint_eq(n + cut, log_len);
	ck_assert_uint_gt(n, 60000);
	free(text);
	ck_assert_int_eq(relog_close(h, 30000), 0);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
	free(msg);
	free(exc);
	free(log);
}
END_TEST

/*
 * An entry of an older, shorter layout (its sz says how much of it there
 * is) is read only that far: the fields after it are none, whatever the
 * memory beyond holds. A NULL message is an empty one.
 */
START_TEST(test_shim_entry_layouts)
{
	struct relog_entry e = { .sz = sizeof e, .level = RELOG_ERROR };
	relog_t *h;
	char *text;

	harness_daemon_start(&H, NULL);
	h = open_handle(1000);
	e.logger_name = "plugin.lay";
	e.message = "full";
	e.exception_text = "Traceback: full";
	ck_assert_int_eq(relog_emit(h, &e), 0);
	e.sz = offsetof(struct relog_entry, exception_text);
	e.message = "short";
	e.exception_text = "Traceback: beyond sz";
	e.color = "#ff0000";
	ck_assert_int_eq(relog_emit(h, &e), 0);
	e.sz = sizeof e;
	e.message = NULL;
	e.exception_text = NULL;
	e.color = NULL;
	ck_assert_int_eq(relog_emit(h, &e), 0);
	ck_assert_int_eq(relog_flush(h, 30000), 0);
	text = harness_plugin_log(&H, "lay");
	ck_assert_ptr_nonnull(strstr(text, "] full"));
	ck_assert_ptr_nonnull(strstr(text, "Traceback: full"));
	ck_assert_ptr_nonnull(strstr(text, "] short\n"));
	ck_assert_ptr_null(strstr(text, "beyond sz"));
	ck_assert_ptr_null(strstr(text, "ff0000"));
	ck_assert_uint_eq(harness_count(text, "plugin.lay"), 3);
	free(text);
	ck_assert_int_eq(relog_close(h, 30000), 0);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
}
END_TEST

/*
 * relogd hangs (its socket accepts nothing): relog_close gives up at its
 * timeout and writes the records to stderr.
 */
START_TEST(test_shim_close_hung_relogd)
{
	char buf[8192];
	relog_t *h;
	int64_t start;
	ssize_t n;
	int deaf, err, i;

	deaf = listen_deaf();
	h = open_handle(100);
	for (i = 0; i < 5; i++)
		relog_log(h, RELOG_ERROR, "plugin.hung", "lost %d", i);
	err = capture_stderr();
	start = harness_now_ms();
	ck_assert_int_eq(relog_close(h, 300), -ETIMEDOUT);
	ck_assert_int_lt(harness_now_ms() - start, 300 + SHIM_CLOSE_SLACK_MS);
	n = read(err, buf, sizeof buf - 1);
	ck_assert_int_gt(n, 0);
	buf[n] = '\0';
	ck_assert_uint_eq(harness_count(buf, "[LOG-FALLBACK] [plugin.hung] "
	    "lost "), 5);
	ck_assert_ptr_nonnull(strstr(buf, "lost 4\n"));
	close(err);
	close(deaf);
}
END_TEST

/*
 * The ring written over by another process (only relogd maps it too):
 * the records left in it at close can be neither read nor written to
 * stderr; relog_close says so there and returns -EIO, not 0.
 */
START_TEST(test_shim_close_ring_written_over)
{
	struct relog_ring_header *hdr;
	char buf[8192];
	relog_t *h;
	size_t size;
	ssize_t n;
	int deaf, err, i;

	deaf = listen_deaf();
	h = open_handle(0);
	for (i = 0; i < 5; i++)
		relog_log(h, RELOG_ERROR, "plugin.over", "lost %d", i);
	ck_assert_ptr_nonnull(hdr = shm_ring_memory(h->shm, &size));
	hdr->magic = 0;
	err = capture_stderr();
	ck_assert_int_eq(relog_close(h, 100), -EIO);
	restore_stderr();
	n = read(err, buf, sizeof buf - 1);
	ck_assert_int_gt(n, 0);
	buf[n] = '\0';
	ck_assert_msg(strstr(buf, "[LOG-FALLBACK] relog: records left in its "
	    "ring are lost: the ring was written over (") != NULL, "%s", buf);
	close(err);
	close(deaf);
}
END_TEST

/* What a relogd that never acknowledges does (shim_mute_main). */
struct shim_mute {
	int listen_fd;
	int records;		/* those it received */
	int told;		/* a pipe: a byte once it received them all */
	int want;
};

/* Pack the hello's answer: accepted. */
static void
shim_pack_accepted(msgpack_packer *pk, void *arg)
{
	(void)arg;
	proto_pack_hello_reply(pk, 1, "", PROTO_RING_UNASKED, NULL);
}

/*
 * A relogd that accepts the hello, reads the batches and answers none of
 * them, until its runner hangs up.
 */
static void *
shim_mute_main(void *arg)
{
	struct shim_mute *m = arg;
	struct proto_header hd = { .message_type = RELOG_TYPE_RESPONSE,
	    .method = proto_cstr(RELOG_METHOD_HELLO),
	    .plugin_id = proto_cstr("") };
	struct proto_batch b;
	struct proto_msg r;
	msgpack_sbuffer sb;
	const char *cause;
	int fd;

	if ((fd = accept4(m->listen_fd, NULL, NULL, SOCK_CLOEXEC)) < 0 ||
	    proto_client_recv(fd, 10000, &r, &cause) != 0)
		return (NULL);
	hd.request_id = r.env.request_id;
	proto_msg_free(&r);
	proto_client_frame(&sb, &hd, shim_pack_accepted, NULL);
	proto_client_send(fd, sb.data, sb.size);
	msgpack_sbuffer_destroy(&sb);
	while (proto_client_recv(fd, 10000, &r, &cause) == 0) {
		if (proto_decode_batch(r.env.payload, &b, &cause) == 0)
			m->records += (int)b.n;
		proto_msg_free(&r);
		if (m->records >= m->want && m->told >= 0) {
			(void)!write(m->told, "x", 1);
			m->told = -1;
		}
	}
	close(fd);
	return (NULL);
}

/*
 * relogd takes the batches and never acknowledges them: at relog_close's
 * deadline they go to stderr too, but marked [LOG-FALLBACK?] after a line
 * saying relogd may have written them, not as records surely lost.
 */
START_TEST(test_shim_close_unacked)
{
	struct shim_mute m = { .want = 5 };
	struct pollfd pfd = { .events = POLLIN };
	char buf[8192];
	pthread_t t;
	relog_t *h;
	ssize_t n;
	int p[2], err, i;

	m.listen_fd = listen_deaf();
	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	m.told = p[1];
	ck_assert_int_eq(pthread_create(&t, NULL, shim_mute_main, &m), 0);
	h = open_handle(100);
	for (i = 0; i < 5; i++)
		relog_log(h, RELOG_ERROR, "plugin.unacked", "kept %d", i);
	pfd.fd = p[0];
	ck_assert_int_eq(poll(&pfd, 1, 20000), 1);
	err = capture_stderr();
	ck_assert_int_eq(relog_close(h, 300), -ETIMEDOUT);
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	n = read(err, buf, sizeof buf - 1);
	ck_assert_int_gt(n, 0);
	buf[n] = '\0';
	ck_assert_ptr_nonnull(strstr(buf, "[LOG-FALLBACK] relog: 5 records "
	    "were sent to relogd and not acknowledged by the close deadline; "
	    "relogd may have written them too"));
	ck_assert_uint_eq(harness_count(buf, "[LOG-FALLBACK?] "
	    "[plugin.unacked] kept "), 5);
	ck_assert_uint_eq(harness_count(buf, "[LOG-FALLBACK] [plugin."), 0);
	close(err);
	close(p[0]);
	close(p[1]);
	close(m.listen_fd);
}
END_TEST

/* stderr is a pipe nobody reads, and full: relog_close still returns. */
START_TEST(test_shim_close_stuck_stderr)
{
	char fill[4096];
	relog_t *h;
	int64_t start;
	int err, i;

	h = open_handle(100);
	for (i = 0; i < 50; i++)
		relog_log(h, RELOG_ERROR, "plugin.stuck", "lost %d", i);
	err = capture_stderr();
	memset(fill, 'x', sizeof fill);
	fcntl(STDERR_FILENO, F_SETFL, O_NONBLOCK);
	while (write(STDERR_FILENO, fill, sizeof fill) > 0)
		;
	fcntl(STDERR_FILENO, F_SETFL, 0);
	start = harness_now_ms();
	ck_assert_int_eq(relog_close(h, 200), -ETIMEDOUT);
	ck_assert_int_lt(harness_now_ms() - start, 200 + SHIM_CLOSE_SLACK_MS);
	close(err);
}
END_TEST

/* How long relog_open took, in ms (the handle is closed at once). */
static int64_t
shim_open_took(void)
{
	int64_t t0 = harness_now_ms(), took;
	relog_t *h = open_handle(0);

	took = harness_now_ms() - t0;
	relog_close(h, 0);
	return (took);
}

/*
 * A relogd that takes connections but never answers: relog_open waits
 * for it RELOG_OPEN_WAIT_MS (50 ms by default), then returns.
 */
START_TEST(test_shim_open_wait)
{
	char longer[] = "RELOG_OPEN_WAIT_MS=400";
	char bad[] = "RELOG_OPEN_WAIT_MS=0";
	int fd = listen_deaf();
	int64_t took;

	took = shim_open_took();
	ck_assert_msg(took >= 49 && took < 400, "took %lld ms",
	    (long long)took);
	putenv(longer);
	took = shim_open_took();
	ck_assert_msg(took >= 399 && took < 4000, "took %lld ms",
	    (long long)took);
	putenv(bad);
	errno = 0;
	ck_assert_ptr_null(relog_open(NULL));
	ck_assert_int_eq(errno, EINVAL);
	unsetenv("RELOG_OPEN_WAIT_MS");
	close(fd);
}
END_TEST

/* CLOCK_REALTIME in ms, read afresh. */
static int64_t
shim_test_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

/* One thread's calls for 300 ms; the ms outside their brackets counted. */
static void *
shim_clock_calls(void *arg)
{
	long *wrong = arg;
	int64_t until = shim_test_wall_ms() + 300, before, ms, after;

	do {
		before = shim_test_wall_ms();
		ms = shim_wall_ms();
		after = shim_test_wall_ms();
		if (ms < before || ms > after)
			(*wrong)++;
	} while (after < until);
	return (NULL);
}

/*
 * The timestamp librelog gives records is the wall clock's ms, kept while
 * the TSC says it has not ended (shim.c): each is between two readings of
 * the clock taken around it, from four threads at once, for 300 ms (the
 * TSC's rate is measured after some ms, and again and again).
 */
START_TEST(test_shim_wall_clock)
{
	pthread_t t[4];
	long wrong[4] = { 0 };
	int i;

	for (i = 0; i < 4; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, shim_clock_calls,
		    &wrong[i]), 0);
	for (i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		ck_assert_int_eq(wrong[i], 0);
	}
	/* The kept ms was in use (where the CPU has an invariant TSC). */
	if (shim_clock_kept() < 0)
		fprintf(stderr, "test_shim_wall_clock: no invariant TSC, the "
		    "clock is read each time\n");
	else
		ck_assert_int_eq(shim_clock_kept(), 1);
}
END_TEST

/*
 * A relogd of the test's: by default one of old that takes the ring but
 * does not say ring_recheck.
 */
struct shim_fake {
	int lfd;
	int recheck;		/* say ring_recheck: true */
	/* The hello's answer, if not shim_fake_pack's. */
	void (*answer)(msgpack_packer *, void *);
};

static void
shim_fake_pack(msgpack_packer *pk, void *arg)
{
	const struct shim_fake *f = arg;

	msgpack_pack_map(pk, f->recheck ? 5 : 4);
	proto_pack_key(pk, "accepted");
	msgpack_pack_true(pk);
	proto_pack_key(pk, "host_version");
	proto_pack_key(pk, RELOG_PROTOCOL_VERSION);
	proto_pack_key(pk, "reason");
	proto_pack_key(pk, "");
	proto_pack_key(pk, "ring");
	msgpack_pack_true(pk);
	if (f->recheck) {
		proto_pack_key(pk, "ring_recheck");
		msgpack_pack_true(pk);
	}
}

/* Accept one runner and answer its hello; its connection, or -1. */
static int
shim_fake_greet(struct shim_fake *f)
{
	struct proto_header hd;
	struct proto_msg m;
	msgpack_sbuffer sb;
	const char *cause;
	int fd;

	fd = accept4(f->lfd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0 || proto_client_recv(fd, 10000, &m, &cause) != 0)
		return (-1);
	wire_begin(&hd, RELOG_TYPE_RESPONSE, m.env.request_id,
	    RELOG_METHOD_HELLO);
	proto_msg_free(&m);
	proto_client_frame(&sb, &hd, f->answer != NULL ? f->answer :
	    shim_fake_pack, f);
	if (send(fd, sb.data, sb.size, MSG_NOSIGNAL) != (ssize_t)sb.size) {
		close(fd);
		fd = -1;
	}
	msgpack_sbuffer_destroy(&sb);
	return (fd);
}

/* Accept one runner, answer its hello, hold it until it goes. */
static void *
shim_fake_serve(void *arg)
{
	char b[256];
	int fd;

	if ((fd = shim_fake_greet(arg)) < 0)
		return (NULL);
	while (read(fd, b, sizeof b) > 0)
		;
	close(fd);
	return (NULL);
}

/*
 * Wait until h's ring is handed over: relog_open waits for that a few ms
 * only, which under valgrind on a slow machine is not enough.
 */
static void
shim_await_ring(relog_t *h)
{
	int64_t deadline = harness_now_ms() + 10000;

	while (!__atomic_load_n(&h->ring_mode, __ATOMIC_RELAXED)) {
		ck_assert(harness_now_ms() < deadline);
		poll(NULL, 0, 5);
	}
}

/*
 * A relogd that answers the hello (taking the ring, or not asked for it),
 * then sends replies without end, to no request of the runner's (empty
 * envelopes, 64 KiB of them at a time), until the runner hangs up.
 */
static void *
shim_flood_serve(void *arg)
{
	static char flood[65535];
	size_t i;
	int fd, big = 32 << 20;

	for (i = 0; i + 5 <= sizeof flood; i += 5)
		memcpy(flood + i, "\0\0\0\1\x80", 5);
	if ((fd = shim_fake_greet(arg)) < 0)
		return (NULL);
	/*
	 * Replies always waiting, however fast the runner reads: 32 MiB of
	 * them queued (as root; else what the system allows).
	 */
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof big) != 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
	while (send(fd, flood, sizeof flood, MSG_NOSIGNAL) > 0)
		;
	close(fd);
	return (NULL);
}

/* Pack the hello's answer: refused, for a reason that would forge a line. */
static void
shim_pack_refused(msgpack_packer *pk, void *arg)
{
	(void)arg;
	proto_pack_hello_reply(pk, 0, "no\x1b[31mRED\n[LOG-FALLBACK] forged"
	    "\xc2\x9b" "1m\x9b" "2m\tend \xc3\xa9", PROTO_RING_UNASKED, NULL);
}

/*
 * relogd's reason for a refusal goes to stderr with its control bytes
 * shown (\xNN, C1 controls \u00NN), as relogd shows them in its files: it
 * cannot end the line, forge a fallback record, or drive the terminal.
 */
START_TEST(test_shim_refusal_shown)
{
	struct shim_fake f = { .answer = shim_pack_refused };
	struct pollfd pfd;
	char buf[4096] = "";
	size_t len = 0;
	pthread_t t;
	relog_t *h;
	ssize_t n;
	int err;

	f.lfd = listen_deaf();
	pthread_create(&t, NULL, shim_fake_serve, &f);
	err = capture_stderr();
	h = open_handle(0);
	pfd.fd = err;
	pfd.events = POLLIN;
	while (strchr(buf, '\n') == NULL) {
		ck_assert_int_eq(poll(&pfd, 1, 10000), 1);
		n = read(err, buf + len, sizeof buf - 1 - len);
		ck_assert_int_gt(n, 0);
		len += (size_t)n;
		buf[len] = '\0';
	}
	restore_stderr();
	ck_assert_msg(strstr(buf, "relog: relogd refused runner shim: "
	    "no\\x1b[31mRED\\x0a[LOG-FALLBACK] forged\\u009b1m\\x9b2m\tend "
	    "\xc3\xa9\n") != NULL, "%s", buf);
	ck_assert_ptr_null(strchr(buf, '\x1b'));
	ck_assert_ptr_null(strchr(buf, '\x9b'));
	relog_close(h, 0);
	close(err);
	pthread_join(t, NULL);
	close(f.lfd);
}
END_TEST

/*
 * relogd answers without end, to nothing asked: relog_close still returns
 * by its deadline, the records on stderr, with the ring taken (its
 * ring_sync never answered) and with batches (never acknowledged).
 */
START_TEST(test_shim_close_flooded)
{
	struct shim_fake f;
	char buf[8192];
	pthread_t t;
	relog_t *h;
	int64_t start;
	ssize_t n;
	int err, i;

	for (f.recheck = 0; f.recheck <= 1; f.recheck++) {
		/* Taking the ring, or not asked for it. */
		f.answer = f.recheck ? NULL : shim_pack_accepted;
		f.lfd = listen_deaf();
		pthread_create(&t, NULL, shim_flood_serve, &f);
		h = open_handle(0);
		if (f.recheck)
			shim_await_ring(h);
		for (i = 0; i < 5; i++)
			relog_log(h, RELOG_ERROR, "plugin.flood", "lost %d", i);
		err = capture_stderr();
		start = harness_now_ms();
		ck_assert_int_eq(relog_close(h, 300), -ETIMEDOUT);
		ck_assert_int_lt(harness_now_ms() - start, 300 +
		    SHIM_CLOSE_SLACK_MS);
		n = read(err, buf, sizeof buf - 1);
		ck_assert_int_gt(n, 0);
		buf[n] = '\0';
		ck_assert_msg(strstr(buf, "[plugin.flood] lost 4\n") != NULL,
		    "%s", buf);
		restore_stderr();
		close(err);
		pthread_join(t, NULL);
		close(f.lfd);
		unlink(H.socket);
	}
}
END_TEST

/*
 * librelog commits without a store-load fence only where relogd says it
 * looks again after arming (ring_recheck in the hello's reply): told so, it
 * does; by a relogd that takes the ring and does not say it, it keeps its
 * seq_cst commits. And relogd itself says it.
 */
START_TEST(test_shim_recheck_negotiated)
{
	struct shim_fake f;
	pthread_t t;
	relog_t *h;

	f.answer = NULL;
	for (f.recheck = 0; f.recheck <= 1; f.recheck++) {
		f.lfd = listen_deaf();
		pthread_create(&t, NULL, shim_fake_serve, &f);
		h = open_handle(0);
		shim_await_ring(h);
		ck_assert_int_eq(shm_ring_is_rechecked(h->shm), f.recheck);
		relog_close(h, 0);
		pthread_join(t, NULL);
		close(f.lfd);
		unlink(H.socket);
	}
	harness_daemon_start(&H, NULL);
	h = open_handle(0);
	shim_await_ring(h);
	ck_assert(shm_ring_is_rechecked(h->shm));
	relog_close(h, 10000);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
}
END_TEST

Suite *
suite_shim(void)
{
	Suite *s = suite_create("shim");
	TCase *tc = tcase_create("shim");

	tcase_add_checked_fixture(tc, shim_setup, shim_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_shim_bad_options);
	tcase_add_test(tc, test_shim_filter);
	tcase_add_test(tc, test_shim_filter_words);
	tcase_add_test(tc, test_shim_drops_counted);
	tcase_add_test(tc, test_shim_wall_clock);
	tcase_add_test(tc, test_shim_flush_means_written);
	tcase_add_test(tc, test_shim_entry_layouts);
	tcase_add_test(tc, test_shim_long_texts);
	tcase_add_test(tc, test_shim_close_hung_relogd);
	tcase_add_test(tc, test_shim_close_ring_written_over);
	tcase_add_test(tc, test_shim_close_unacked);
	tcase_add_test(tc, test_shim_close_flooded);
	tcase_add_test(tc, test_shim_refusal_shown);
	tcase_add_test(tc, test_shim_close_stuck_stderr);
	tcase_add_test(tc, test_shim_too_many_plugin_ids);
	tcase_add_test(tc, test_shim_unsafe_ids);
	tcase_add_test(tc, test_shim_open_wait);
	tcase_add_test(tc, test_shim_recheck_negotiated);
	suite_add_tcase(s, tc);
	return (s);
}

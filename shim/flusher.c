/*
 * The flusher thread: connects to relogd (and reconnects with backoff), says
 * hello, and drains the ring in batches every flush interval or as soon as a
 * batch is waiting. All its I/O is non-blocking with poll, and every wait is
 * bounded by the close deadline once relog_close has been called.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "proto.h"
#include "shim.h"

/* Largest reply relogd sends to the shim. */
#define FLUSHER_REPLY_MAX (64u * 1024)
/* Frames are cut below this size, well under relogd's 1 MiB default. */
#define FLUSHER_FRAME_SOFT_MAX (256u * 1024)

/* The earlier of a deadline and, once closing, the close deadline. */
static int64_t
flusher_deadline(struct relog *h, int64_t deadline)
{
	int64_t close_deadline;

	if (__atomic_load_n(&h->closing, __ATOMIC_ACQUIRE)) {
		close_deadline = __atomic_load_n(&h->close_deadline,
		    __ATOMIC_ACQUIRE);
		if (close_deadline < deadline)
			return (close_deadline);
	}
	return (deadline);
}

/*
 * Wait for events on the socket until the deadline. Polls in short slices so
 * that a relog_close called meanwhile shortens the wait. Returns 0 or -1.
 */
static int
flusher_wait_fd(struct relog *h, short events, int64_t deadline)
{
	struct pollfd pfd = { .fd = h->fd, .events = events };
	int64_t left;
	int n;

	for (;;) {
		left = flusher_deadline(h, deadline) - shim_now_ms();
		if (left <= 0)
			return (-1);
		n = poll(&pfd, 1, left > 50 ? 50 : (int)left);
		if (n > 0)
			return (0);
		if (n < 0 && errno != EINTR)
			return (-1);
	}
}

/*
 * Send all of buf (sending) or receive exactly len bytes into it before the
 * deadline. Returns 0 or -1.
 */
static int
flusher_io(struct relog *h, int sending, char *buf, size_t len,
    int64_t deadline)
{
	ssize_t n;

	while (len > 0) {
		if (sending)
			n = send(h->fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		else
			n = recv(h->fd, buf, len, MSG_DONTWAIT);
		if (n > 0) {
			buf += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) &&
		    flusher_wait_fd(h, sending ? POLLOUT : POLLIN,
		    deadline) == 0)
			continue;
		return (-1);
	}
	return (0);
}

/* Drop the connection and schedule the next attempt. */
static void
flusher_disconnect(struct relog *h)
{
	if (h->fd >= 0)
		close(h->fd);
	h->fd = -1;
	h->next_connect = shim_now_ms() + h->backoff_ms;
	h->backoff_ms *= 2;
	if (h->backoff_ms > SHIM_BACKOFF_MAX_MS)
		h->backoff_ms = SHIM_BACKOFF_MAX_MS;
}

/* Write one frame header for a message to the output buffer. */
static size_t
flusher_begin_frame(struct relog *h, msgpack_packer *pk, const char *type,
    const char *method)
{
	struct proto_header hd = {
		.message_type = type,
		.request_id = ++h->request_id,
		.method = proto_cstr(method),
		.plugin_id = proto_cstr(h->plugin_id),
		.timestamp_ms = shim_wall_ms(),
		.timeout_ms = RELOG_TIMEOUT_MS_DEFAULT,
	};
	size_t start = proto_frame_begin(&h->out);

	proto_pack_header(pk, &hd);
	return (start);
}

/*
 * Read the reply to hello: was the runner accepted? Returns 0 if so, else -1
 * with the reason (borrowed from buf) in *reason.
 */
static int
flusher_hello_accepted(const char *buf, size_t len, struct proto_str *reason)
{
	struct proto_reader r;
	struct proto_str key;
	uint32_t n, m, i, j;
	int accepted = 0;

	*reason = proto_cstr("malformed reply");
	proto_reader_init(&r, buf, len);
	if (proto_read_map(&r, &n) != 0)
		return (-1);
	for (i = 0; i < n; i++) {
		if (proto_read_str(&r, &key) != 0) {
			if (proto_read_skip(&r) != 0)	/* an odd key */
				return (-1);
			key = proto_cstr("");
		}
		if (!proto_str_eq(key, "payload") &&
		    !proto_str_eq(key, "error")) {
			if (proto_read_skip(&r) != 0)
				return (-1);
			continue;
		}
		if (proto_read_map(&r, &m) != 0) {
			if (proto_read_skip(&r) != 0)
				return (-1);
			continue;
		}
		for (j = 0; j < m; j++) {
			if (proto_read_str(&r, &key) != 0)
				return (-1);
			if ((proto_str_eq(key, "reason") ||
			    proto_str_eq(key, "message")) &&
			    proto_read_str(&r, reason) == 0)
				continue;
			if (proto_str_eq(key, "accepted") &&
			    proto_read_bool(&r, &accepted) == 0)
				continue;
			if (proto_read_skip(&r) != 0)
				return (-1);
		}
	}
	return (accepted ? 0 : -1);
}

/* Say hello and wait for relogd to accept. Returns 0 or -1. */
static int
flusher_hello(struct relog *h, int64_t deadline)
{
	struct proto_hello hello = {
		.runner_id = proto_cstr(h->runner_id),
		.sdk_version = proto_cstr(SHIM_SDK_VERSION),
		.session_token = proto_cstr(h->session_token),
		.plugin_id = proto_cstr(h->plugin_id),
	};
	msgpack_packer pk;
	struct proto_str reason;
	unsigned char head[RELOG_FRAME_HEADER_SIZE];
	char reply[FLUSHER_REPLY_MAX];
	uint32_t len;
	size_t start;

	msgpack_sbuffer_clear(&h->out);
	msgpack_packer_init(&pk, &h->out, msgpack_sbuffer_write);
	start = flusher_begin_frame(h, &pk, RELOG_TYPE_REQUEST,
	    RELOG_METHOD_HELLO);
	proto_pack_hello(&pk, &hello);
	proto_pack_no_error(&pk);
	if (proto_frame_end(&h->out, start, RELOG_FRAME_MAX_DEFAULT) != 0 ||
	    flusher_io(h, 1, h->out.data, h->out.size, deadline) != 0)
		return (-1);

	if (flusher_io(h, 0, (char *)head, sizeof head, deadline) != 0)
		return (-1);
	len = proto_frame_length(head);
	if (len > sizeof reply ||
	    flusher_io(h, 0, reply, len, deadline) != 0)
		return (-1);
	if (flusher_hello_accepted(reply, len, &reason) != 0) {
		dprintf(STDERR_FILENO, "relog: relogd refused runner %s: "
		    "%.*s\n", h->runner_id, (int)reason.len, reason.ptr);
		return (-1);
	}
	return (0);
}

/* Connect and say hello. Returns 0, or -1 with the next try scheduled. */
static int
flusher_connect(struct relog *h)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int64_t deadline = shim_now_ms() + SHIM_IO_TIMEOUT_MS;
	socklen_t len = sizeof(int);
	int error = 0;

	if (strlen(h->socket_path) >= sizeof sun.sun_path)
		goto fail;
	strcpy(sun.sun_path, h->socket_path);
	h->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (h->fd < 0)
		goto fail;
	if (connect(h->fd, (struct sockaddr *)&sun, sizeof sun) != 0) {
		if (errno != EINPROGRESS && errno != EAGAIN)
			goto fail;
		/* A full listen backlog: wait for room. */
		if (flusher_wait_fd(h, POLLOUT, deadline) != 0 ||
		    getsockopt(h->fd, SOL_SOCKET, SO_ERROR, &error,
		    &len) != 0 || error != 0)
			goto fail;
	}
	if (flusher_hello(h, deadline) != 0)
		goto fail;
	h->backoff_ms = SHIM_BACKOFF_FIRST_MS;
	return (0);

fail:
	flusher_disconnect(h);
	return (-1);
}

/* Has relogd closed its end? (Checked before each send, not to lose more.) */
static int
flusher_peer_gone(struct relog *h)
{
	char c;
	ssize_t n;

	n = recv(h->fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
	return (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK &&
	    errno != EINTR));
}

/* Write records that could not be sent to stderr, so they are not lost. */
static void
flusher_fallback(const struct ring_slot *slots, size_t n)
{
	const struct ring_slot *s;
	size_t i;

	for (i = 0; i < n; i++) {
		s = &slots[i];
		dprintf(STDERR_FILENO, "[LOG-FALLBACK] [%.*s] %.*s%s%.*s\n",
		    (int)s->name_len, ring_slot_name(s),
		    (int)s->msg_len, ring_slot_msg(s),
		    s->exc_len != 0 ? "\n" : "",
		    (int)s->exc_len, ring_slot_exc(s));
	}
}

/* Bytes a slot will take on the wire, roughly (for cutting frames). */
static size_t
flusher_slot_size(const struct ring_slot *s)
{
	return (128 + s->name_len + s->msg_len + s->exc_len + s->color_len);
}

/* Pack slots[0..n) as one runner.log_batch frame. */
static void
flusher_pack_batch(struct relog *h, const struct ring_slot *slots, size_t n)
{
	msgpack_packer pk;
	struct proto_entry e;
	size_t start, i;

	msgpack_packer_init(&pk, &h->out, msgpack_sbuffer_write);
	start = flusher_begin_frame(h, &pk, RELOG_TYPE_BROADCAST,
	    RELOG_METHOD_LOG_BATCH);
	msgpack_pack_map(&pk, 1);
	proto_pack_key(&pk, "entries");
	msgpack_pack_array(&pk, (uint32_t)n);
	for (i = 0; i < n; i++) {
		e.timestamp_ms = slots[i].timestamp_ms;
		e.level = slots[i].level;
		e.logger_name.ptr = ring_slot_name(&slots[i]);
		e.logger_name.len = slots[i].name_len;
		e.message.ptr = ring_slot_msg(&slots[i]);
		e.message.len = slots[i].msg_len;
		e.exception_text.ptr = ring_slot_exc(&slots[i]);
		e.exception_text.len = slots[i].exc_len;
		e.color.ptr = slots[i].has_color ? ring_slot_color(&slots[i]) :
		    NULL;
		e.color.len = slots[i].color_len;
		proto_pack_entry(&pk, &e);
	}
	proto_pack_no_error(&pk);
	/* Cannot fail: frames are cut at FLUSHER_FRAME_SOFT_MAX. */
	proto_frame_end(&h->out, start, RELOG_FRAME_MAX_DEFAULT);
}

/*
 * Take what the ring holds (up to SHIM_FRAMES_PER_SEND batches), send it,
 * and account for it. Returns how many records were taken; *failed is set
 * if they had to go to stderr.
 */
static size_t
flusher_send_some(struct relog *h, int *failed)
{
	size_t n, i, first, bytes;

	pthread_mutex_lock(&h->lock);
	n = ring_pop(&h->ring, h->batch_slots, h->batch * SHIM_FRAMES_PER_SEND);
	pthread_mutex_unlock(&h->lock);
	if (n == 0)
		return (0);

	msgpack_sbuffer_clear(&h->out);
	for (first = 0; first < n; first = i) {
		bytes = 0;
		for (i = first; i < n && i - first < h->batch; i++) {
			bytes += flusher_slot_size(&h->batch_slots[i]);
			if (bytes > FLUSHER_FRAME_SOFT_MAX && i > first)
				break;
		}
		flusher_pack_batch(h, h->batch_slots + first, i - first);
	}

	*failed = flusher_peer_gone(h) || flusher_io(h, 1, h->out.data,
	    h->out.size, shim_now_ms() + SHIM_IO_TIMEOUT_MS) != 0;
	if (*failed) {
		flusher_fallback(h->batch_slots, n);
		flusher_disconnect(h);
	}

	pthread_mutex_lock(&h->lock);
	h->retired += n;
	pthread_cond_broadcast(&h->sent_cond);
	pthread_mutex_unlock(&h->lock);
	return (n);
}

/* Send until the ring is empty or the connection fails. */
static void
flusher_drain(struct relog *h, int closing)
{
	int failed = 0;

	if (h->fd < 0) {
		if (!closing && shim_now_ms() < h->next_connect)
			return;
		if (flusher_connect(h) != 0)
			return;
	}
	while (!failed && flusher_send_some(h, &failed) > 0)
		;
}

/* Write what is left in the ring to stderr (at close). */
static void
flusher_give_up(struct relog *h)
{
	size_t n;

	for (;;) {
		pthread_mutex_lock(&h->lock);
		n = ring_pop(&h->ring, h->batch_slots,
		    h->batch * SHIM_FRAMES_PER_SEND);
		if (n > 0)
			h->close_fallback = 1;
		pthread_mutex_unlock(&h->lock);
		if (n == 0)
			break;
		flusher_fallback(h->batch_slots, n);
		pthread_mutex_lock(&h->lock);
		h->retired += n;
		pthread_cond_broadcast(&h->sent_cond);
		pthread_mutex_unlock(&h->lock);
	}
}

/* Absolute CLOCK_MONOTONIC time for pthread_cond_timedwait. */
static struct timespec
flusher_abstime(int64_t mono_ms)
{
	struct timespec ts = {
		.tv_sec = mono_ms / 1000,
		.tv_nsec = (mono_ms % 1000) * 1000000,
	};

	return (ts);
}

/* The flusher thread. */
void *
flusher_main(void *arg)
{
	struct relog *h = arg;
	struct timespec until;
	int64_t wake_at;
	int closing;

	pthread_mutex_lock(&h->lock);
	for (;;) {
		wake_at = shim_now_ms() + h->interval_ms;
		if (h->fd < 0)
			wake_at = h->next_connect;
		until = flusher_abstime(wake_at);
		while (!h->closing && !h->flush_wanted &&
		    (h->fd < 0 || h->ring.count < h->batch)) {
			h->flusher_idle = 1;
			if (pthread_cond_timedwait(&h->wake, &h->lock,
			    &until) == ETIMEDOUT)
				break;
		}
		h->flusher_idle = 0;
		h->flush_wanted = 0;
		closing = h->closing;
		pthread_mutex_unlock(&h->lock);

		flusher_drain(h, closing);
		if (closing) {
			flusher_give_up(h);
			break;
		}
		pthread_mutex_lock(&h->lock);
	}
	if (h->fd >= 0)
		close(h->fd);
	h->fd = -1;
	return (NULL);
}

/*
 * The flusher thread: connects to relogd (and reconnects with backoff),
 * says hello, and drains the ring every flush interval or as soon as a
 * batch is waiting.
 *
 * Delivery is acknowledged and pipelined. Records taken from the ring go
 * into a window of up to SHIM_WINDOW batches (runner.log_batch requests,
 * each with a seq that only grows in this process); the flusher keeps the
 * window full and sends while relogd answers, and retires the oldest batch
 * once it is acknowledged (after relogd's sinks wrote it). On a broken
 * connection the window is sent again after the reconnect with the same
 * seqs, and relogd skips what it wrote. Meanwhile new records wait in the
 * ring, which overwrites its oldest when full and counts them; that count
 * travels with the next batch.
 *
 * All I/O is non-blocking with poll, and every wait is bounded by the close
 * deadline once relog_close has been called.
 */
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "proto.h"
#include "shim.h"

/* Frames are cut below this size, well under relogd's 1 MiB default. */
#define FLUSHER_FRAME_SOFT_MAX (256u * 1024)

/* Pick a new instance id: relogd tells this process's seqs by it. */
static void
flusher_new_instance(struct relog *h)
{
	uint64_t v;

	if (getrandom(&v, sizeof v, GRND_NONBLOCK) != sizeof v)
		v = (uint64_t)shim_wall_ms() ^ (uint64_t)getpid() << 32 ^
		    (uint64_t)(uintptr_t)h;
	snprintf(h->instance, sizeof h->instance, "%016llx",
	    (unsigned long long)v);
}

/*
 * Start as a new instance with no connection and nothing sent (at open,
 * and in a forked child, where what was sent is the parent's).
 */
void
flusher_reset(struct relog *h)
{
	if (h->fd >= 0)
		close(h->fd);
	h->fd = -1;
	h->seq = 0;
	h->dropped_sent = h->dropped_told = 0;
	h->fhead = h->fcount = h->in_len = 0;
	h->next_connect = 0;
	h->backoff_ms = SHIM_BACKOFF_FIRST_MS;
	msgpack_sbuffer_clear(&h->out);
	flusher_new_instance(h);
}

/*
 * Write one line to stderr if it takes it before the deadline: the line is
 * cut to PIPE_BUF bytes and written once poll says there is room, so a
 * reader that is stuck can never hold the flusher (or relog_close).
 * Returns 0, or -1 if stderr did not take it.
 */
static int __attribute__((format(printf, 2, 3)))
flusher_say(int64_t deadline, const char *fmt, ...)
{
	struct pollfd pfd = { .fd = STDERR_FILENO, .events = POLLOUT };
	char line[PIPE_BUF];
	int64_t left = deadline - shim_now_ms();
	va_list ap;
	size_t len;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	if (n <= 0)
		return (-1);
	len = (size_t)n < sizeof line ? (size_t)n : sizeof line - 1;
	line[len - 1] = '\n';
	if (poll(&pfd, 1, left > 0 ? (int)left : 0) != 1)
		return (-1);
	return (write(STDERR_FILENO, line, len) == (ssize_t)len ? 0 : -1);
}

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

/* Send all of buf before the deadline. Returns 0 or -1. */
static int
flusher_send(struct relog *h, const char *buf, size_t len, int64_t deadline)
{
	ssize_t n;

	while (len > 0) {
		n = send(h->fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			buf += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) &&
		    flusher_wait_fd(h, POLLOUT, deadline) == 0)
			continue;
		return (-1);
	}
	return (0);
}

/*
 * Read the next reply frame into h->in (body at h->in + 4), waiting for it
 * until the deadline, or not at all with deadline 0. Returns its length, 0
 * if none is complete and it may not wait, or -1 on error, end of file or
 * time out. Call flusher_reply_done after using it.
 */
static ssize_t
flusher_reply(struct relog *h, int64_t deadline)
{
	uint32_t len;
	ssize_t n;

	for (;;) {
		if (h->in_len >= RELOG_FRAME_HEADER_SIZE) {
			len = proto_frame_length((unsigned char *)h->in);
			if (len == 0 || len > SHIM_REPLY_MAX)
				return (-1);
			if (h->in_len >= RELOG_FRAME_HEADER_SIZE + len)
				return ((ssize_t)len);
		}
		n = recv(h->fd, h->in + h->in_len, sizeof h->in - h->in_len,
		    MSG_DONTWAIT);
		if (n > 0) {
			h->in_len += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (deadline == 0)
				return (0);
			if (flusher_wait_fd(h, POLLIN, deadline) == 0)
				continue;
		}
		return (-1);
	}
}

/* Drop the reply frame of len bytes from the input buffer. */
static void
flusher_reply_done(struct relog *h, size_t len)
{
	size_t used = RELOG_FRAME_HEADER_SIZE + len;

	memmove(h->in, h->in + used, h->in_len - used);
	h->in_len -= used;
}

/*
 * Drop the connection and schedule the next attempt. The batches in the
 * window will be sent again on the next one.
 */
static void
flusher_disconnect(struct relog *h)
{
	size_t i;

	for (i = 0; i < SHIM_WINDOW; i++)
		h->frames[i].sent = h->frames[i].acked = 0;
	if (h->fd >= 0)
		close(h->fd);
	h->fd = -1;
	h->in_len = 0;
	h->next_connect = shim_now_ms() + h->backoff_ms;
	h->backoff_ms *= 2;
	if (h->backoff_ms > SHIM_BACKOFF_MAX_MS)
		h->backoff_ms = SHIM_BACKOFF_MAX_MS;
}

/* Start a request frame in the output buffer; returns where it starts. */
static size_t
flusher_begin_frame(struct relog *h, msgpack_packer *pk, const char *method,
    int64_t *request_id)
{
	struct proto_header hd = {
		.message_type = RELOG_TYPE_REQUEST,
		.request_id = ++h->request_id,
		.method = proto_cstr(method),
		.plugin_id = proto_cstr(h->plugin_id),
		.timestamp_ms = shim_wall_ms(),
		.timeout_ms = RELOG_TIMEOUT_MS_DEFAULT,
	};
	size_t start = proto_frame_begin(&h->out);

	*request_id = hd.request_id;
	proto_pack_header(pk, &hd);
	return (start);
}

/*
 * Read a reply: its request_id, and, in its payload, accepted and reason
 * (for hello). Returns 0, or -1 if it is no readable response.
 */
static int
flusher_parse_reply(const char *buf, size_t len, int64_t *request_id,
    int *accepted, struct proto_str *reason)
{
	struct proto_reader r;
	struct proto_str key;
	uint32_t n, m, i, j;

	*request_id = -1;
	*accepted = 0;
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
		if (proto_str_eq(key, "request_id") &&
		    proto_read_int(&r, request_id) == 0)
			continue;
		if ((!proto_str_eq(key, "payload") &&
		    !proto_str_eq(key, "error")) ||
		    proto_read_map(&r, &m) != 0) {
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
			    proto_read_bool(&r, accepted) == 0)
				continue;
			if (proto_read_skip(&r) != 0)
				return (-1);
		}
	}
	return (0);
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
		.instance = proto_cstr(h->instance),
		.plugin_ids = h->plugin_ids,
		.nplugin_ids = h->nplugin_ids,
	};
	msgpack_packer pk;
	struct proto_str reason;
	int64_t id, got;
	ssize_t len;
	size_t start;
	int accepted;

	pthread_mutex_lock(&h->pack_lock);
	msgpack_sbuffer_clear(&h->out);
	msgpack_packer_init(&pk, &h->out, msgpack_sbuffer_write);
	start = flusher_begin_frame(h, &pk, RELOG_METHOD_HELLO, &id);
	proto_pack_hello(&pk, &hello);
	proto_pack_no_error(&pk);
	proto_frame_end(&h->out, start, RELOG_FRAME_MAX_DEFAULT);
	pthread_mutex_unlock(&h->pack_lock);
	if (flusher_send(h, h->out.data, h->out.size, deadline) != 0)
		return (-1);
	len = flusher_reply(h, deadline);
	if (len < 0)
		return (-1);
	if (flusher_parse_reply(h->in + RELOG_FRAME_HEADER_SIZE, (size_t)len,
	    &got, &accepted, &reason) != 0 || got != id || !accepted) {
		/* Once a minute, not at every retry. */
		if (h->refused_told == 0 ||
		    shim_now_ms() - h->refused_told >= 60000) {
			h->refused_told = shim_now_ms();
			flusher_say(h->refused_told, "relog: relogd refused "
			    "runner %s: %.*s\n", h->runner_id,
			    (int)reason.len, reason.ptr);
		}
		return (-1);
	}
	flusher_reply_done(h, (size_t)len);
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

/*
 * Write a record that would otherwise vanish unseen to stderr, as
 * "[LOG-FALLBACK] [logger] message", or, when relogd may have written it
 * too (it was sent, not acknowledged), "[LOG-FALLBACK?] [logger] message".
 * Returns 0, or -1 if stderr did not take it before the deadline.
 */
static int
flusher_fallback(const struct ring_slot *s, int maybe, int64_t deadline)
{
	return (flusher_say(deadline, "[LOG-FALLBACK%s] [%.*s] %.*s%s%.*s\n",
	    maybe ? "?" : "", (int)s->name_len, ring_slot_name(s),
	    (int)s->msg_len, ring_slot_msg(s), s->exc_len != 0 ? "\n" : "",
	    (int)s->exc_len, ring_slot_exc(s)));
}

/*
 * Take one batch from the ring into the window: at most `batch` records
 * and about FLUSHER_FRAME_SOFT_MAX bytes, with the next seq. Overflows of
 * the ring counted since the last batch go with it (alone, in an empty
 * batch, if no record waits). Returns 1, or 0 if there was nothing to take
 * (or the window is full).
 */
static int
flusher_take(struct relog *h)
{
	size_t pos = (h->fhead + h->fcount) % SHIM_WINDOW, k;
	struct shim_frame *f = &h->frames[pos];
	uint64_t first, dropped;

	if (h->fcount == SHIM_WINDOW)
		return (0);
	pthread_mutex_lock(&h->lock);
	first = h->taken + h->ring.evicted;
	k = ring_pop_bytes(&h->ring, h->win_slots + pos * h->batch, h->batch,
	    FLUSHER_FRAME_SOFT_MAX);
	dropped = h->ring.dropped - h->dropped_sent;
	if (k == 0 && dropped == 0) {
		pthread_mutex_unlock(&h->lock);
		return (0);
	}
	h->dropped_sent = h->ring.dropped;
	h->taken += k;
	if (h->fcount == 0)
		h->flight_first = first;
	h->flight_n += k;
	h->fcount++;
	pthread_mutex_unlock(&h->lock);

	memset(f, 0, sizeof *f);
	f->seq = ++h->seq;
	f->first_index = first;
	f->n = k;
	f->dropped = dropped;
	return (1);
}

/* The records of the batch at window position pos. */
static struct ring_slot *
flusher_slots(struct relog *h, size_t pos)
{
	return (h->win_slots + pos * h->batch);
}

/* Pack the batch at window position pos as a runner.log_batch request. */
static void
flusher_pack(struct relog *h, size_t pos)
{
	struct shim_frame *f = &h->frames[pos];
	const struct ring_slot *s;
	msgpack_packer pk;
	struct proto_entry e;
	size_t start, i;

	msgpack_packer_init(&pk, &h->out, msgpack_sbuffer_write);
	start = flusher_begin_frame(h, &pk, RELOG_METHOD_LOG_BATCH,
	    &f->request_id);
	proto_pack_batch_head(&pk, (uint32_t)f->n, f->seq, f->dropped);
	for (i = 0; i < f->n; i++) {
		s = &flusher_slots(h, pos)[i];
		e.timestamp_ms = s->timestamp_ms;
		e.level = s->level;
		e.logger_name.ptr = ring_slot_name(s);
		e.logger_name.len = s->name_len;
		e.message.ptr = ring_slot_msg(s);
		e.message.len = s->msg_len;
		e.exception_text.ptr = ring_slot_exc(s);
		e.exception_text.len = s->exc_len;
		e.color.ptr = s->has_color ? ring_slot_color(s) : NULL;
		e.color.len = s->color_len;
		proto_pack_entry(&pk, &e);
	}
	proto_pack_no_error(&pk);
	/* Cannot fail: frames are cut at FLUSHER_FRAME_SOFT_MAX. */
	proto_frame_end(&h->out, start, RELOG_FRAME_MAX_DEFAULT);
}

/* The oldest batch in the window left the shim; wake relog_flush. */
static void
flusher_retire(struct relog *h)
{
	struct shim_frame *f = &h->frames[h->fhead];

	pthread_mutex_lock(&h->lock);
	h->flight_n -= f->n;
	h->fhead = (h->fhead + 1) % SHIM_WINDOW;
	h->fcount--;
	if (h->fcount != 0)
		h->flight_first = h->frames[h->fhead].first_index;
	pthread_cond_broadcast(&h->sent_cond);
	pthread_mutex_unlock(&h->lock);
}

/*
 * Take replies: all that are here, and, with wait set, at least one (up to
 * SHIM_ACK_TIMEOUT_MS). Each acknowledges its batch; the oldest batches are
 * retired once acknowledged (relogd answers in order). Returns 0 or -1.
 */
static int
flusher_acks(struct relog *h, int wait)
{
	struct proto_str reason;
	int64_t id;
	ssize_t len;
	size_t i, pos;
	int accepted;

	for (;;) {
		len = flusher_reply(h, wait ? shim_now_ms() +
		    SHIM_ACK_TIMEOUT_MS : 0);
		if (len <= 0)
			return ((int)len);
		wait = 0;
		if (flusher_parse_reply(h->in + RELOG_FRAME_HEADER_SIZE,
		    (size_t)len, &id, &accepted, &reason) != 0)
			return (-1);
		flusher_reply_done(h, (size_t)len);
		/* An error reply acknowledges too: relogd took the batch. */
		for (i = 0; i < h->fcount; i++) {
			pos = (h->fhead + i) % SHIM_WINDOW;
			if (h->frames[pos].sent &&
			    h->frames[pos].request_id == id)
				h->frames[pos].acked = 1;
		}
		while (h->fcount != 0 && h->frames[h->fhead].acked)
			flusher_retire(h);
	}
}

/* Is a record waiting in the ring, or an overflow count? (Under lock.) */
static int
flusher_ring_waiting(const struct relog *h)
{
	return (h->ring.count != 0 || h->ring.dropped != h->dropped_sent);
}

/*
 * Deliver until the ring is empty and every batch acknowledged: keep the
 * window full, send what it has not sent on this connection, and take the
 * acknowledgements as they come, waiting for them only when the window is
 * full or nothing else is left to send. Returns 0, or -1 with the
 * connection dropped (the window kept, to be sent again).
 */
static int
flusher_deliver(struct relog *h)
{
	size_t i, pos;
	int waiting;

	for (;;) {
		while (flusher_take(h))
			;
		pthread_mutex_lock(&h->pack_lock);
		msgpack_sbuffer_clear(&h->out);
		for (i = 0; i < h->fcount; i++) {
			pos = (h->fhead + i) % SHIM_WINDOW;
			if (!h->frames[pos].sent) {
				flusher_pack(h, pos);
				h->frames[pos].sent = h->frames[pos].tried = 1;
			}
		}
		pthread_mutex_unlock(&h->pack_lock);
		if (h->out.size != 0 && flusher_send(h, h->out.data,
		    h->out.size, shim_now_ms() + SHIM_IO_TIMEOUT_MS) != 0)
			goto fail;
		if (h->fcount == 0)
			return (0);
		pthread_mutex_lock(&h->lock);
		waiting = flusher_ring_waiting(h);
		pthread_mutex_unlock(&h->lock);
		if (flusher_acks(h, h->fcount == SHIM_WINDOW || !waiting) != 0)
			goto fail;
	}

fail:
	flusher_disconnect(h);
	return (-1);
}

/*
 * While relogd cannot be reached, say once per attempt how many records the
 * ring had to drop meanwhile (emit never writes anything).
 */
static void
flusher_tell_drops(struct relog *h)
{
	uint64_t dropped;

	pthread_mutex_lock(&h->lock);
	dropped = h->ring.dropped;
	pthread_mutex_unlock(&h->lock);
	if (dropped == h->dropped_told)
		return;
	flusher_say(shim_now_ms(), "[LOG-FALLBACK] relog: relogd unreachable "
	    "at %s; %llu records dropped so far\n", h->socket_path,
	    (unsigned long long)dropped);
	h->dropped_told = dropped;
}

/* Send until the ring is empty or the connection fails. */
static void
flusher_drain(struct relog *h, int closing)
{
	if (h->fd < 0) {
		if (!closing && shim_now_ms() < h->next_connect)
			return;
		if (flusher_connect(h) != 0) {
			flusher_tell_drops(h);
			return;
		}
	}
	flusher_deliver(h);
}

/*
 * Write n records to stderr by the deadline (maybe: relogd may have them
 * too). Once one is not taken, the rest are not tried: they are counted
 * in *lost.
 */
static void
flusher_fallback_n(struct relog *h, struct ring_slot *slots, size_t n,
    int maybe, int64_t deadline, uint64_t *lost)
{
	size_t i;

	if (n != 0)
		h->close_fallback = 1;
	for (i = 0; i < n; i++) {
		if (*lost != 0 ||
		    flusher_fallback(&slots[i], maybe, deadline) != 0)
			(*lost)++;
	}
}

/*
 * Say, before they come, how many records of the window relogd was sent
 * but did not acknowledge: it may have written them, or not; they go to
 * stderr too, marked "[LOG-FALLBACK?]", and a reader decides.
 */
static void
flusher_say_unacked(struct relog *h, int64_t deadline)
{
	uint64_t n = 0;
	size_t i, pos;

	for (i = 0; i < h->fcount; i++) {
		pos = (h->fhead + i) % SHIM_WINDOW;
		if (h->frames[pos].tried && !h->frames[pos].acked)
			n += h->frames[pos].n;
	}
	if (n != 0)
		flusher_say(deadline, "[LOG-FALLBACK] relog: %llu records were "
		    "sent to relogd and not acknowledged by the close deadline; "
		    "relogd may have written them too: [LOG-FALLBACK?] marks "
		    "them\n", (unsigned long long)n);
}

/*
 * At the close deadline: write what was not delivered to stderr, the
 * batches in the window first, then the ring, for at most SHIM_FALLBACK_MS
 * more; what stderr does not take by then is counted in one last line.
 */
static void
flusher_give_up(struct relog *h)
{
	int64_t deadline = shim_now_ms() + SHIM_FALLBACK_MS;
	uint64_t lost = 0;
	struct shim_frame *f;
	size_t n;

	flusher_say_unacked(h, deadline);
	while (h->fcount != 0) {
		/* Batches relogd acknowledged are delivered: not those. */
		f = &h->frames[h->fhead];
		flusher_fallback_n(h, flusher_slots(h, h->fhead),
		    f->acked ? 0 : f->n, f->tried, deadline, &lost);
		flusher_retire(h);
	}
	for (;;) {
		pthread_mutex_lock(&h->lock);
		n = ring_pop(&h->ring, h->win_slots, h->batch * SHIM_WINDOW);
		h->taken += n;
		pthread_cond_broadcast(&h->sent_cond);
		pthread_mutex_unlock(&h->lock);
		if (n == 0)
			break;
		flusher_fallback_n(h, h->win_slots, n, 0, deadline, &lost);
	}
	if (lost != 0)
		flusher_say(shim_now_ms(), "[LOG-FALLBACK] relog: %llu records "
		    "lost at close: stderr did not take them\n",
		    (unsigned long long)lost);
}

/* Is there anything left to deliver? (Under lock.) */
static int
flusher_pending(const struct relog *h)
{
	return (h->fcount != 0 || flusher_ring_waiting(h));
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
		if (h->closing && (!flusher_pending(h) ||
		    shim_now_ms() >= h->close_deadline))
			break;
		/* Connected: the timer. Not: the next attempt. */
		wake_at = h->fd < 0 ? h->next_connect :
		    shim_now_ms() + h->interval_ms;
		if (h->closing && h->close_deadline < wake_at)
			wake_at = h->close_deadline;
		until = shim_abstime(wake_at);
		while (!h->flush_wanted && (h->fd < 0 ||
		    (!h->closing && h->ring.count < h->batch))) {
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
		pthread_mutex_lock(&h->lock);
	}
	pthread_mutex_unlock(&h->lock);
	flusher_give_up(h);
	if (h->fd >= 0)
		close(h->fd);
	h->fd = -1;
	return (NULL);
}

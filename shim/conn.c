/*
 * The flusher's connection to relogd: non-blocking I/O with poll, every
 * wait bounded (by the close deadline too, once relog_close was called),
 * replies read and parsed, request frames begun; and stderr, written only
 * when poll says it takes a line.
 */
#include <sys/socket.h>

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "proto.h"
#include "shim.h"

/*
 * Write one line to stderr if it takes it before the deadline: the line is
 * cut to PIPE_BUF bytes and written once poll says there is room, so a
 * reader that is stuck can never hold the flusher (or relog_close).
 * Returns 0, or -1 if stderr did not take it.
 */
int
conn_say(int64_t deadline, const char *fmt, ...)
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

/*
 * A text of relogd's (a refusal's reason), fit to write to stderr, shown
 * as relogd shows texts in its files (proto_shown_char), so that it cannot
 * end the line or drive the terminal; cut to fit out (size bytes, NUL
 * included), never inside a character or an escape.
 */
const char *
conn_shown(char *out, size_t size, struct proto_str s)
{
	const unsigned char *p = (const unsigned char *)s.ptr;
	char esc[PROTO_SHOWN_MAX];
	size_t i = 0, o = 0, n, esc_len;

	while (i < s.len) {
		n = proto_shown_char(p + i, s.len - i, esc, &esc_len);
		if (o + (esc_len != 0 ? esc_len : n) >= size)
			break;
		memcpy(out + o, esc_len != 0 ? esc : (const char *)p + i,
		    esc_len != 0 ? esc_len : n);
		o += esc_len != 0 ? esc_len : n;
		i += n;
	}
	out[o] = '\0';
	return (out);
}

/* The earlier of a deadline and, once closing, the close deadline. */
int64_t
conn_deadline(struct relog *h, int64_t deadline)
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
int
conn_wait(struct relog *h, short events, int64_t deadline)
{
	struct pollfd pfd = { .fd = h->fd, .events = events };
	int64_t left;
	int n;

	for (;;) {
		left = conn_deadline(h, deadline) - shim_now_ms();
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
 * Send all of buf before the deadline; nfds descriptors (0 to 2) go with
 * its first bytes (SCM_RIGHTS). Returns 0 or -1.
 */
int
conn_send(struct relog *h, const char *buf, size_t len, const int *fds,
    int nfds, int64_t deadline)
{
	_Alignas(struct cmsghdr) char ctl[CMSG_SPACE(2 * sizeof(int))];
	struct iovec iov;
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *cm;
	ssize_t n;

	if (nfds > 0) {
		memset(ctl, 0, sizeof ctl);
		msg.msg_control = ctl;
		msg.msg_controllen = CMSG_SPACE((size_t)nfds * sizeof(int));
		cm = CMSG_FIRSTHDR(&msg);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN((size_t)nfds * sizeof(int));
		memcpy(CMSG_DATA(cm), fds, (size_t)nfds * sizeof(int));
	}
	while (len > 0) {
		iov.iov_base = (void *)buf;
		iov.iov_len = len;
		n = sendmsg(h->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			buf += n;
			len -= (size_t)n;
			msg.msg_control = NULL;	/* they went with the first */
			msg.msg_controllen = 0;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) &&
		    conn_wait(h, POLLOUT, deadline) == 0)
			continue;
		return (-1);
	}
	return (0);
}

/*
 * Read the next reply frame into h->in (its body at conn_reply_body),
 * waiting for it until the deadline, or not at all with deadline 0.
 * Returns its length, 0 if none is complete and it may not wait, or -1 on
 * error, end of file or time out: also past the deadline with frames
 * still coming, so that a relogd that answers without end cannot hold the
 * caller (a caller with deadline 0 bounds how many it reads). Call
 * conn_reply_done after using it.
 */
ssize_t
conn_reply(struct relog *h, int64_t deadline)
{
	size_t avail;
	uint32_t len;
	ssize_t n;

	for (;;) {
		avail = h->in_len - h->in_off;
		if (avail >= RELOG_FRAME_HEADER_SIZE) {
			len = proto_frame_length((unsigned char *)h->in +
			    h->in_off);
			if (len == 0 || len > SHIM_REPLY_MAX)
				return (-1);
			if (avail >= RELOG_FRAME_HEADER_SIZE + len) {
				if (deadline != 0 && shim_now_ms() >=
				    conn_deadline(h, deadline))
					return (-1);
				return ((ssize_t)len);
			}
		}
		/* The frames before this one were used: make room. */
		if (h->in_off != 0) {
			memmove(h->in, h->in + h->in_off, avail);
			h->in_len = avail;
			h->in_off = 0;
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
			if (conn_wait(h, POLLIN, deadline) == 0)
				continue;
		}
		return (-1);
	}
}

/* The body of the frame conn_reply returned. */
const char *
conn_reply_body(const struct relog *h)
{
	return (h->in + h->in_off + RELOG_FRAME_HEADER_SIZE);
}

/*
 * Done with the frame conn_reply returned (len bytes of body): the next
 * one starts after it. Moved to the front only when more must be read, so
 * that many small frames cost what their bytes do.
 */
void
conn_reply_done(struct relog *h, size_t len)
{
	h->in_off += RELOG_FRAME_HEADER_SIZE + len;
	if (h->in_off == h->in_len)
		h->in_off = h->in_len = 0;
}

/*
 * Drop the connection and schedule the next attempt. The batches in the
 * window will be sent again on the next one.
 */
void
conn_drop(struct relog *h)
{
	size_t i;

	for (i = 0; i < SHIM_WINDOW; i++)
		h->frames[i].sent = h->frames[i].acked = 0;
	if (h->fd >= 0)
		close(h->fd);
	h->fd = -1;
	h->in_len = h->in_off = 0;
	h->next_connect = shim_now_ms() + h->backoff_ms;
	h->backoff_ms *= 2;
	if (h->backoff_ms > SHIM_BACKOFF_MAX_MS)
		h->backoff_ms = SHIM_BACKOFF_MAX_MS;
}

/* Start a request frame in pk's sbuffer; returns where it starts. */
size_t
conn_begin_frame(struct relog *h, msgpack_packer *pk, const char *method,
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
	size_t start = proto_frame_begin(pk->data);

	*request_id = hd.request_id;
	proto_pack_header(pk, &hd);
	return (start);
}

/* Take one key of a reply's payload (or error) into r. Returns 0 or -1. */
static int
conn_reply_key(struct proto_reader *rd, struct shim_reply *r)
{
	struct proto_str key;

	if (proto_read_str(rd, &key) != 0)
		return (-1);
	if ((proto_str_eq(key, "reason") || proto_str_eq(key, "message")) &&
	    proto_read_str(rd, &r->reason) == 0)
		return (0);
	if (proto_str_eq(key, "ring_reason") &&
	    proto_read_str(rd, &r->ring_reason) == 0)
		return (0);
	if (proto_str_eq(key, "accepted") &&
	    proto_read_bool(rd, &r->accepted) == 0)
		return (0);
	if (proto_str_eq(key, "ring") && proto_read_bool(rd, &r->ring) == 0)
		return (0);
	if (proto_str_eq(key, "ring_recheck") &&
	    proto_read_bool(rd, &r->ring_recheck) == 0)
		return (0);
	return (proto_read_skip(rd));
}

/*
 * Read a reply: its request_id, and what its payload (or error) says.
 * Returns 0, or -1 if it is no readable response.
 */
int
conn_parse_reply(const char *buf, size_t len, struct shim_reply *r)
{
	struct proto_reader rd;
	struct proto_str key;
	uint32_t n, m, i, j;

	memset(r, 0, sizeof *r);
	r->request_id = -1;
	r->ring = -1;
	r->reason = proto_cstr("malformed reply");
	r->ring_reason = proto_cstr("");
	proto_reader_init(&rd, buf, len);
	if (proto_read_map(&rd, &n) != 0)
		return (-1);
	for (i = 0; i < n; i++) {
		if (proto_read_str(&rd, &key) != 0) {
			if (proto_read_skip(&rd) != 0)	/* an odd key */
				return (-1);
			key = proto_cstr("");
		}
		if (proto_str_eq(key, "request_id") &&
		    proto_read_int(&rd, &r->request_id) == 0)
			continue;
		if ((!proto_str_eq(key, "payload") &&
		    !proto_str_eq(key, "error")) ||
		    proto_read_map(&rd, &m) != 0) {
			if (proto_read_skip(&rd) != 0)
				return (-1);
			continue;
		}
		for (j = 0; j < m; j++) {
			if (conn_reply_key(&rd, r) != 0)
				return (-1);
		}
	}
	return (0);
}

/*
 * Remotes over syslog: RFC 5424 records over TCP (optionally TLS) or a
 * Unix stream socket, octet-counted (RFC 6587 3.4.1).
 *
 * syslog has no answers, so a record leaves the queue when the collector,
 * after every byte of a connection was sent and the connection
 * half-closed, closes its side too: a peer that closes after reading
 * end-of-file has read every byte before it. A connection is closed so
 * after 1 MiB, or 1 s without new records; if it breaks instead, what it
 * carried is sent again.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "relogd.h"
#include "remote.h"

#define REMOTE_SYSLOG_CLOSE_BYTES (1024u * 1024)
#define REMOTE_SYSLOG_IDLE_MS 1000
#define REMOTE_SYSLOG_FACILITY 1	/* user */

/* Append a PRINTUSASCII field of RFC 5424 (others become '_'), or "-". */
static void
remote_syslog_field(struct proto_buf *b, struct proto_str s, size_t max)
{
	size_t i, n = s.len < max ? s.len : max;
	char c;

	if (n == 0) {
		proto_buf_add(b, "-", 1);
		return;
	}
	for (i = 0; i < n; i++) {
		c = s.ptr[i];
		proto_buf_add(b, c > 32 && c < 127 ? &c : "_", 1);
	}
}

/* Append an SD-PARAM value: '"', '\\' and ']' escaped (RFC 5424 6.3.3). */
static void
remote_syslog_value(struct proto_buf *b, struct proto_str s)
{
	size_t i, from = 0;

	for (i = 0; i < s.len; i++) {
		if (s.ptr[i] != '"' && s.ptr[i] != '\\' && s.ptr[i] != ']')
			continue;
		proto_buf_add(b, s.ptr + from, i - from);
		proto_buf_add(b, "\\", 1);
		from = i;
	}
	proto_buf_add(b, s.ptr + from, s.len - from);
}

/*
 * Append one record as RFC 5424, octet-counted: LEN SP <PRI>1 TIMESTAMP
 * HOSTNAME APP-NAME PROCID MSGID [relog@32473 plugin="" logger=""
 * level=""] MSG, where MSG is the message and, on the lines after it, the
 * exception text. Every record fits a batch: returns 0.
 */
static int
remote_syslog_add(struct remote *rm, struct proto_buf *b,
    const struct remote_view *v, uint32_t nth)
{
	static struct proto_buf msg;
	struct proto_buf *line = &msg;
	const char *host = relogd_hostname();
	char num[32], other[PROTO_LEVEL_NAME_MAX];
	const char *level = proto_level_name(v->h.level, other);
	int n;

	(void)rm;
	(void)nth;
	line->len = 0;
	n = snprintf(num, sizeof num, "<%d>1 ", REMOTE_SYSLOG_FACILITY * 8 +
	    proto_level_priority(v->h.level));
	proto_buf_add(line, num, (size_t)n);
	proto_format_time(line, v->h.timestamp_ms);
	proto_buf_add(line, " ", 1);
	proto_buf_add(line, host, strlen(host));
	proto_buf_add(line, " ", 1);
	remote_syslog_field(line, v->plugin, 48);
	if (v->h.pid != 0)
		n = snprintf(num, sizeof num, " %" PRIu32 " ", v->h.pid);
	else
		n = snprintf(num, sizeof num, " - ");
	proto_buf_add(line, num, (size_t)n);
	remote_syslog_field(line, v->logger, 32);
	proto_buf_add(line, " [relog@32473 plugin=\"", 22);
	remote_syslog_value(line, v->plugin);
	proto_buf_add(line, "\" logger=\"", 10);
	remote_syslog_value(line, v->logger);
	proto_buf_add(line, "\" level=\"", 9);
	proto_buf_add(line, level, strlen(level));
	proto_buf_add(line, "\"] ", 3);
	proto_buf_add(line, v->message.ptr, v->message.len);
	if (v->exception.len != 0) {
		proto_buf_add(line, "\n", 1);
		proto_buf_add(line, v->exception.ptr, v->exception.len);
	}
	n = snprintf(num, sizeof num, "%zu ", line->len);
	proto_buf_add(b, num, (size_t)n);
	proto_buf_add(b, line->data, line->len);
	return (0);
}

/* Send a batch: its records as they are. */
static void
remote_syslog_send(struct remote *rm, struct evbuffer *out,
    const struct proto_buf *b, struct remote_batch *batch)
{
	(void)batch;
	evbuffer_add(out, b->data, b->len);
	rm->since_close += b->len;
}

/* Another batch may go until the connection carried 1 MiB. */
static int
remote_syslog_may_send(const struct remote *rm)
{
	return (rm->since_close < REMOTE_SYSLOG_CLOSE_BYTES);
}

/*
 * After sending: close the connection (to learn the collector read all
 * of it) after 1 MiB, or after a second without new records.
 */
static void
remote_syslog_sent(struct remote *rm, int sent)
{
	struct timeval tv = { REMOTE_SYSLOG_IDLE_MS / 1000,
	    REMOTE_SYSLOG_IDLE_MS % 1000 * 1000 };

	if (rm->since_close >= REMOTE_SYSLOG_CLOSE_BYTES)
		remote_conn_finish(rm);
	else if (sent)
		evtimer_add(rm->timer, &tv);
}

/* Collectors say nothing over syslog; ignore what they do. */
static void
remote_syslog_read(struct remote *rm, struct evbuffer *in)
{
	(void)rm;
	evbuffer_drain(in, evbuffer_get_length(in));
}

/* A second without new records: close, to have the batches acked. */
static void
remote_syslog_timer(struct remote *rm)
{
	remote_conn_finish(rm);
}

/*
 * The collector closed. After our half-close, with every byte taken, it
 * read all we sent: that acks every batch (returns 1). Else it is a
 * broken connection.
 */
static int
remote_syslog_eof(struct remote *rm)
{
	size_t i;

	if (rm->state != REMOTE_CLOSING || !rm->half_closed ||
	    !remote_conn_sent_all(rm))
		return (0);
	for (i = 0; i < rm->nbatches; i++)
		rm->batches[i].acked = 1;
	remote_queue_settle(rm);
	return (1);
}

/* Nothing to forget when a connection goes. */
static void
remote_syslog_reset(struct remote *rm)
{
	(void)rm;
}

/* Exiting: close the connection so that what it carried is acked. */
static void
remote_syslog_drain(struct remote *rm)
{
	if (rm->state == REMOTE_UP && rm->nbatches != 0)
		remote_conn_finish(rm);
}

const struct remote_proto remote_syslog = {
	.name = "syslog",
	.add = remote_syslog_add,
	.send = remote_syslog_send,
	.may_send = remote_syslog_may_send,
	.sent = remote_syslog_sent,
	.read = remote_syslog_read,
	.timer = remote_syslog_timer,
	.eof = remote_syslog_eof,
	.reset = remote_syslog_reset,
	.drain = remote_syslog_drain,
};

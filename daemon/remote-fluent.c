/*
 * Remotes over Fluent's Forward protocol: PackedForward batches, all of
 * one plugin, tagged "plugin.<id>", with EventTime timestamps and the
 * chunk option. A batch leaves the queue when the collector answers
 * {"ack": chunk}; an ack not come within forward_timeout breaks the
 * connection, and what it carried is sent again.
 */
#include <sys/random.h>

#include <arpa/inet.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "relogd.h"
#include "remote.h"

#define REMOTE_FLUENT_WINDOW 128	/* chunks not acked yet */
#define REMOTE_FLUENT_ANSWER_MAX (64u * 1024)	/* one of Fluent's answers */
#define REMOTE_FLUENT_TIMEOUT_S ((time_t)relogd_config.remote_timeout_s)

static char remote_fluent_chunk_prefix[24];	/* this process's chunk ids */
/* The plugin of the batch being made. */
static char remote_fluent_plugin[RELOG_ID_MAX + 1];
static size_t remote_fluent_plugin_len;

/* Once at startup: the chunk ids' prefix, random for this process. */
void
remote_fluent_init(void)
{
	unsigned char rnd[8];
	size_t i;

	if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
		memset(rnd, 0, sizeof rnd);
	for (i = 0; i < sizeof rnd; i++)
		snprintf(remote_fluent_chunk_prefix + 2 * i, 3, "%02x", rnd[i]);
	remote_fluent_chunk_prefix[16] = '-';
	remote_fluent_chunk_prefix[17] = '\0';
}

/* msgpack-c's writer into a proto_buf. */
static int
remote_fluent_buf_write(void *data, const char *buf, size_t len)
{
	proto_buf_add(data, buf, len);
	return (0);
}

/*
 * Append one record as a Fluent entry: [EventTime, {message, level,
 * levelno, logger, plugin, host, pid, exception}], EventTime being ext
 * type 0: seconds and nanoseconds, both big-endian u32. A record of
 * another plugin than the batch's starts the next batch (returns -1).
 */
static int
remote_fluent_add(struct remote *rm, struct proto_buf *b,
    const struct remote_view *v, uint32_t nth)
{
	msgpack_packer pk;
	int64_t ms = v->h.timestamp_ms < 0 ? 0 : v->h.timestamp_ms;
	uint32_t sec = htonl((uint32_t)(ms / 1000));
	uint32_t nsec = htonl((uint32_t)(ms % 1000) * 1000000u);
	char t[8], other[PROTO_LEVEL_NAME_MAX];

	(void)rm;
	if (nth != 0 && (v->plugin.len != remote_fluent_plugin_len ||
	    memcmp(v->plugin.ptr, remote_fluent_plugin,
	    remote_fluent_plugin_len) != 0))
		return (-1);
	if (nth == 0) {
		remote_fluent_plugin_len = v->plugin.len <
		    sizeof remote_fluent_plugin ? v->plugin.len :
		    sizeof remote_fluent_plugin - 1;
		memcpy(remote_fluent_plugin, v->plugin.ptr,
		    remote_fluent_plugin_len);
	}
	msgpack_packer_init(&pk, b, remote_fluent_buf_write);
	msgpack_pack_array(&pk, 2);
	memcpy(t, &sec, 4);
	memcpy(t + 4, &nsec, 4);
	msgpack_pack_ext(&pk, 8, 0);
	msgpack_pack_ext_body(&pk, t, 8);
	msgpack_pack_map(&pk, 6 + (v->h.pid != 0) + (v->exception.len != 0));
	proto_pack_key(&pk, "message");
	proto_pack_str(&pk, v->message);
	proto_pack_key(&pk, "level");
	proto_pack_key(&pk, proto_level_name(v->h.level, other));
	proto_pack_key(&pk, "levelno");
	msgpack_pack_int64(&pk, v->h.level);
	proto_pack_key(&pk, "logger");
	proto_pack_str(&pk, v->logger);
	proto_pack_key(&pk, "plugin");
	proto_pack_str(&pk, v->plugin);
	proto_pack_key(&pk, "host");
	proto_pack_key(&pk, relogd_hostname());
	if (v->h.pid != 0) {
		proto_pack_key(&pk, "pid");
		msgpack_pack_uint32(&pk, v->h.pid);
	}
	if (v->exception.len != 0) {
		proto_pack_key(&pk, "exception");
		proto_pack_str(&pk, v->exception);
	}
	return (0);
}

/* msgpack-c's writer into an evbuffer. */
static int
remote_fluent_ev_write(void *data, const char *buf, size_t len)
{
	return (evbuffer_add(data, buf, len));
}

/*
 * Send a batch of entries as PackedForward: ["plugin.<id>", entries as
 * bin, {"chunk": id, "size": n}]; its chunk is the next number.
 */
static void
remote_fluent_send(struct remote *rm, struct evbuffer *out,
    const struct proto_buf *b, struct remote_batch *batch)
{
	msgpack_packer pk;
	char id[64];
	int len;

	batch->chunk = rm->next_chunk++;
	msgpack_packer_init(&pk, out, remote_fluent_ev_write);
	msgpack_pack_array(&pk, 3);
	msgpack_pack_str(&pk, sizeof RELOG_PLUGIN_PREFIX - 1 +
	    remote_fluent_plugin_len);
	msgpack_pack_str_body(&pk, RELOG_PLUGIN_PREFIX,
	    sizeof RELOG_PLUGIN_PREFIX - 1);
	msgpack_pack_str_body(&pk, remote_fluent_plugin,
	    remote_fluent_plugin_len);
	msgpack_pack_bin(&pk, b->len);
	msgpack_pack_bin_body(&pk, b->data, b->len);
	msgpack_pack_map(&pk, 2);
	proto_pack_key(&pk, "chunk");
	len = snprintf(id, sizeof id, "%s%" PRIu32, remote_fluent_chunk_prefix,
	    batch->chunk);
	proto_pack_str(&pk, (struct proto_str){ id, (size_t)len });
	proto_pack_key(&pk, "size");
	msgpack_pack_uint32(&pk, batch->records);
}

/* Another batch may go while fewer than the window wait for their ack. */
static int
remote_fluent_may_send(const struct remote *rm)
{
	return (rm->nbatches < REMOTE_FLUENT_WINDOW);
}

/* An ack is owed within the timeout (remote_fluent_timer). */
static void
remote_fluent_sent(struct remote *rm, int sent)
{
	struct timeval tv = { REMOTE_FLUENT_TIMEOUT_S, 0 };

	(void)sent;
	if (!evtimer_pending(rm->timer, NULL))
		evtimer_add(rm->timer, &tv);
}

/* A Fluent answer: {"ack": chunk id}. Marks that batch acked. */
static void
remote_fluent_answer(struct remote *rm, const msgpack_object *o)
{
	const msgpack_object *val = proto_map_get(o, "ack");
	size_t j, plen = strlen(remote_fluent_chunk_prefix);
	char id[64];
	uint32_t k;

	if (val == NULL || val->type != MSGPACK_OBJECT_STR ||
	    val->via.str.size >= sizeof id)
		return;
	memcpy(id, val->via.str.ptr, val->via.str.size);
	id[val->via.str.size] = '\0';
	if (strncmp(id, remote_fluent_chunk_prefix, plen) != 0 ||
	    id[plen] == '\0' || strspn(id + plen, "0123456789") !=
	    strlen(id + plen) || strlen(id + plen) > 9)
		return;
	k = (uint32_t)strtoul(id + plen, NULL, 10);
	for (j = 0; j < rm->nbatches; j++) {
		if (rm->batches[j].chunk == k)
			rm->batches[j].acked = 1;
	}
}

/*
 * Unpack the collector's answers as they come (each at most
 * REMOTE_FLUENT_ANSWER_MAX). Returns 0, or -1 with *why.
 */
static int
remote_fluent_unpack(struct remote *rm, struct evbuffer *in, const char **why)
{
	msgpack_unpacked res;
	size_t n;
	int ret = MSGPACK_UNPACK_CONTINUE;

	if (rm->answers == NULL &&
	    (rm->answers = msgpack_unpacker_new(1024)) == NULL)
		fatal("msgpack_unpacker_new");
	msgpack_unpacked_init(&res);
	while ((n = evbuffer_get_length(in)) != 0) {
		if (n > REMOTE_FLUENT_ANSWER_MAX)
			n = REMOTE_FLUENT_ANSWER_MAX;
		if (!msgpack_unpacker_reserve_buffer(rm->answers, n))
			fatal("msgpack_unpacker_reserve_buffer");
		evbuffer_remove(in, msgpack_unpacker_buffer(rm->answers), n);
		msgpack_unpacker_buffer_consumed(rm->answers, n);
		while ((ret = msgpack_unpacker_next(rm->answers, &res)) ==
		    MSGPACK_UNPACK_SUCCESS)
			remote_fluent_answer(rm, &res.data);
		if (ret != MSGPACK_UNPACK_CONTINUE ||
		    msgpack_unpacker_message_size(rm->answers) >
		    REMOTE_FLUENT_ANSWER_MAX)
			break;
	}
	msgpack_unpacked_destroy(&res);
	*why = "a bad answer";
	if (ret != MSGPACK_UNPACK_CONTINUE && ret != MSGPACK_UNPACK_SUCCESS)
		return (-1);
	*why = "an answer too long";
	if (msgpack_unpacker_message_size(rm->answers) >
	    REMOTE_FLUENT_ANSWER_MAX)
		return (-1);
	return (0);
}

/*
 * Answers came: settle the acked batches, expect the next ack within the
 * timeout, and send more.
 */
static void
remote_fluent_read(struct remote *rm, struct evbuffer *in)
{
	struct timeval tv = { REMOTE_FLUENT_TIMEOUT_S, 0 };
	const char *why;

	if (remote_fluent_unpack(rm, in, &why) != 0) {
		remote_conn_lost(rm, why);
		return;
	}
	if (remote_queue_settle(rm) != 0 && rm->state == REMOTE_UP) {
		if (rm->nbatches != 0)
			evtimer_add(rm->timer, &tv);
		else
			evtimer_del(rm->timer);
	}
	remote_conn_pump(rm);
}

/* No ack in time: the connection is taken as broken. */
static void
remote_fluent_timer(struct remote *rm)
{
	remote_conn_lost(rm, "no ack in time (forward_timeout)");
}

/* Fluent's end-of-file acks nothing. */
static int
remote_fluent_eof(struct remote *rm)
{
	(void)rm;
	return (0);
}

/* The connection is gone: forget a half-read answer. */
static void
remote_fluent_reset(struct remote *rm)
{
	if (rm->answers != NULL)
		msgpack_unpacker_reset(rm->answers);
}

/* Exiting: acks may still come; nothing to do. */
static void
remote_fluent_drain(struct remote *rm)
{
	(void)rm;
}

const struct remote_proto remote_fluent = {
	.name = "fluent",
	.acks = 1,
	.add = remote_fluent_add,
	.send = remote_fluent_send,
	.may_send = remote_fluent_may_send,
	.sent = remote_fluent_sent,
	.read = remote_fluent_read,
	.timer = remote_fluent_timer,
	.eof = remote_fluent_eof,
	.reset = remote_fluent_reset,
	.drain = remote_fluent_drain,
};

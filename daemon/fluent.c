/*
 * The Fluent input: Fluentd's Forward protocol (v1) on a second socket
 * (forward_socket), for Fluent clients: a stream of msgpack arrays, no
 * length prefix, no hello. proto-fluent.c finds each message in the stream
 * and decodes it into entries; here they become records, and an option
 * {"chunk": id} is answered {"ack": id} once the records are written, as
 * relogd acknowledges its own batches.
 *
 * A tag "plugin.<id>[.rest]" names the plugin, and is the logger name. The
 * same limits hold as for runners: the object is scanned before msgpack-c
 * unpacks it, and must fit in max_frame.
 */
#include <string.h>

#include <event2/buffer.h>

#include "relogd.h"

/* The message text being made for a record. */
static struct proto_buf fluent_text;

/* Take one event: it becomes a relog record of the tag's plugin. */
static void
fluent_event(struct client *c, const struct proto_entry *e)
{
	struct record r;

	memset(&r, 0, sizeof r);
	r.e = *e;
	record_make(&r, &c->origin, 0);
	record_write(&c->origin, &r);
	c->records++;
}

/*
 * One Forward message, whole in data: its events are written, and its
 * chunk, if any, answered once they are. Returns 0, or -1 (with *cause)
 * if it is malformed.
 */
static int
fluent_message(struct client *c, const char *data, size_t len,
    const char **cause)
{
	struct proto_fluent m;
	struct proto_entry e;
	struct proto_str chunk;
	msgpack_unpacked u;
	struct ack *ack;
	const char *why = NULL;
	unsigned long bad = 0;
	int ret;

	msgpack_unpacked_init(&u);
	if (proto_fluent_decode(data, len, &u, &m, cause) != 0) {
		msgpack_unpacked_destroy(&u);
		return (-1);
	}
	/* A chunk that cannot be answered refuses the message, unwritten. */
	if (proto_fluent_chunk(&m, &chunk, cause) != 0) {
		proto_fluent_done(&m);
		msgpack_unpacked_destroy(&u);
		return (-1);
	}
	while ((ret = proto_fluent_next(&m, &fluent_text, &e, &why)) != 0) {
		if (ret == 1)
			fluent_event(c, &e);
		else
			bad++;
	}
	/* They can never be written: said (a peer's doing), the chunk acked. */
	if (bad != 0)
		log_peer("%s: %lu events skipped: %s", c->origin.runner_id, bad,
		    why);
	if (chunk.ptr != NULL) {
		/* Answered once the records are written. */
		ack = ack_new(NULL, 0);
		ack->chunk_len = chunk.len;
		memcpy(ack->chunk, chunk.ptr, chunk.len);
		ack->request_id = 0;
		ack_queue(c->origin.acks, ack, 1);
	}
	proto_fluent_done(&m);
	msgpack_unpacked_destroy(&u);
	return (0);
}

/* Free the text buffer (at exit). */
void
fluent_free(void)
{
	proto_buf_free(&fluent_text);
}

/* Log why, and drop the client: Fluent's protocol has no error replies. */
static int
fluent_fail(struct client *c, const char *why)
{
	log_warn("%s dropped: %s", client_name(c), why);
	client_close(c);
	return (-1);
}

/*
 * Handle every whole message in the client's buffer. Returns 0, or -1 if
 * the client is gone (a bad message, or one past max_frame).
 */
static int
fluent_process(struct client *c)
{
	const char *cause;
	size_t have, used;
	char *data;
	int ret;

	while (c->state == CLIENT_READY &&
	    (have = evbuffer_get_length(c->in)) != 0) {
		data = (char *)evbuffer_pullup(c->in, (ev_ssize_t)have);
		if (data == NULL)
			fatalx("out of memory for a connection");
		/* Resumed where the last read left it: nothing twice. */
		ret = proto_fluent_scan(&c->fluent_scan, data, have,
		    relogd_config.max_frame, &used, &cause);
		if (ret == 0)
			break;
		if (ret < 0 || fluent_message(c, data, used, &cause) != 0)
			return (fluent_fail(c, cause));
		evbuffer_drain(c->in, used);
	}
	return (0);
}

/*
 * A Fluent client connected (its uid was checked as it was accepted):
 * records whose tag names no plugin go to the logger "fluent", and a tag
 * of an unknown plugin names its first dot segment. It has no hello to
 * prove a plugin with: under identity = required, only an admin or the
 * uid of a plugin ([plugin.NAME] uids) may send.
 */
static void
fluent_start(struct client *c)
{
	if (relogd_config.identity && !owner_admin(c->origin.uid) &&
	    !owner_uid_any(c->origin.uid)) {
		log_peer("Fluent client pid %ld uid %ld owns no plugin "
		    "(identity is required): closed", (long)c->origin.pid,
		    (long)c->origin.uid);
		client_close(c);
		return;
	}
	snprintf(c->origin.runner_id, sizeof c->origin.runner_id, "fluent");
	c->origin.home = "fluent";
	c->origin.learn = 0;
	proto_scanner_init(&c->fluent_scan, 1);
}

/* Fluent's ack: a bare map, no envelope and no length. */
static void
fluent_answer(struct client *c, const struct ack *a)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 1);
	proto_pack_key(&pk, "ack");
	proto_pack_str(&pk, (struct proto_str){ a->chunk, a->chunk_len });
	client_send(c, sb.data, sb.size);
	msgpack_sbuffer_destroy(&sb);
}

/* What needs nothing of the Fluent input. */
static void
fluent_nothing(struct client *c)
{
	(void)c;
}

const struct client_ops fluent_ops = {
	.name = "fluent",
	.hello = 0,
	.answers_closing = 1,
	.start = fluent_start,
	.process = fluent_process,
	.answer = fluent_answer,
	.timeout = fluent_nothing,
	.drained = fluent_nothing,
	.gone = fluent_nothing,
};

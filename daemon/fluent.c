/*
 * The Fluent input: Fluentd's Forward protocol (v1) on a second socket
 * (forward_socket), for Fluent clients: a stream of msgpack arrays, no
 * length prefix, no hello.
 *   Message        [tag, time, record, option?]
 *   Forward        [tag, [[time, record], ...], option?]
 *   PackedForward  [tag, bin (msgpack [time, record] one after the other),
 *                   option?]
 * time is seconds, or an EventTime (ext 0: seconds and nanoseconds, both
 * 32-bit big-endian). An option {"chunk": id} is answered {"ack": id} once
 * the records are written, as relogd acknowledges its own batches.
 *
 * A tag "plugin.<id>[.rest]" names the plugin, and is the logger name. In a
 * record, "message" (else "log", else "msg") is the message, "level" (a
 * number or a name) the level, INFO without one; the other keys follow
 * the message as key=value. The same limits hold as for runners: the object
 * is scanned before msgpack-c unpacks it, and must fit in max_frame.
 */
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/buffer.h>

#include "relogd.h"

/* The message text being made for a record. */
static struct proto_buf fluent_text;

/* Is this msgpack string (str or bin) the given key? */
static int
fluent_is(const msgpack_object *o, const char *key)
{
	size_t len = strlen(key);

	if (o->type == MSGPACK_OBJECT_STR)
		return (o->via.str.size == len &&
		    memcmp(o->via.str.ptr, key, len) == 0);
	if (o->type == MSGPACK_OBJECT_BIN)
		return (o->via.bin.size == len &&
		    memcmp(o->via.bin.ptr, key, len) == 0);
	return (0);
}

/* A str or bin's bytes. Returns 0, or -1 if it is neither. */
static int
fluent_str(const msgpack_object *o, struct proto_str *s)
{
	if (o->type == MSGPACK_OBJECT_STR) {
		s->ptr = o->via.str.ptr != NULL ? o->via.str.ptr : "";
		s->len = o->via.str.size;
		return (0);
	}
	if (o->type == MSGPACK_OBJECT_BIN) {
		s->ptr = o->via.bin.ptr != NULL ? o->via.bin.ptr : "";
		s->len = o->via.bin.size;
		return (0);
	}
	return (-1);
}

/* An event's time in ms: seconds, or an EventTime. -1 if neither. */
static int64_t
fluent_time(const msgpack_object *o)
{
	const unsigned char *p;

	if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER &&
	    o->via.u64 < INT64_MAX / 1000)
		return ((int64_t)o->via.u64 * 1000);
	if (o->type == MSGPACK_OBJECT_FLOAT64 ||
	    o->type == MSGPACK_OBJECT_FLOAT32)
		return (o->via.f64 > 0 && o->via.f64 < 1e15 ?
		    (int64_t)(o->via.f64 * 1000) : -1);
	if (o->type == MSGPACK_OBJECT_EXT && o->via.ext.type == 0 &&
	    o->via.ext.size == 8) {
		p = (const unsigned char *)o->via.ext.ptr;
		return ((int64_t)proto_frame_length(p) * 1000 +
		    proto_frame_length(p + 4) / 1000000);
	}
	return (-1);
}

/* A level: a number, or a name (proto_level_parse's); INFO if neither. */
static int64_t
fluent_level(const msgpack_object *o)
{
	struct proto_str s;
	int64_t level;

	if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER &&
	    o->via.u64 <= RELOG_LEVEL_MAX)
		return ((int64_t)o->via.u64);
	/* A name: "40" as a string is no level. */
	if (fluent_str(o, &s) == 0 && s.len != 0 &&
	    (s.ptr[0] < '0' || s.ptr[0] > '9') &&
	    proto_level_parse(s, &level) == 0)
		return (level);
	return (RELOG_LEVEL_INFO);
}

/* Append a value as text: strings as they are, the rest as JSON. */
static void
fluent_add_value(struct proto_buf *b, const msgpack_object *o, int quote)
{
	struct proto_str s;
	char num[64];
	uint32_t i;
	int n = 0;

	if (fluent_str(o, &s) == 0) {
		/* Inside an array or map: a JSON string. */
		if (quote)
			proto_json_str(b, s);
		else
			proto_buf_add(b, s.ptr, s.len);
		return;
	}
	switch (o->type) {
	case MSGPACK_OBJECT_NIL:
		proto_buf_add(b, "null", 4);
		return;
	case MSGPACK_OBJECT_BOOLEAN:
		proto_buf_add(b, o->via.boolean ? "true" : "false",
		    o->via.boolean ? 4 : 5);
		return;
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		n = snprintf(num, sizeof num, "%llu",
		    (unsigned long long)o->via.u64);
		break;
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		n = snprintf(num, sizeof num, "%lld", (long long)o->via.i64);
		break;
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64:
		n = snprintf(num, sizeof num, "%g", o->via.f64);
		break;
	case MSGPACK_OBJECT_ARRAY:
		proto_buf_add(b, "[", 1);
		for (i = 0; i < o->via.array.size; i++) {
			if (i != 0)
				proto_buf_add(b, ",", 1);
			fluent_add_value(b, &o->via.array.ptr[i], 1);
		}
		proto_buf_add(b, "]", 1);
		return;
	case MSGPACK_OBJECT_MAP:
		proto_buf_add(b, "{", 1);
		for (i = 0; i < o->via.map.size; i++) {
			if (i != 0)
				proto_buf_add(b, ",", 1);
			fluent_add_value(b, &o->via.map.ptr[i].key, 1);
			proto_buf_add(b, ":", 1);
			fluent_add_value(b, &o->via.map.ptr[i].val, 1);
		}
		proto_buf_add(b, "}", 1);
		return;
	default:
		n = snprintf(num, sizeof num, "(ext)");
		break;
	}
	proto_buf_add(b, num, (size_t)n);
}

/* Take one event: its record becomes a relog record of the tag's plugin. */
static int
fluent_event(struct client *c, struct proto_str tag, int64_t ms,
    const msgpack_object *rec)
{
	static const char *const message_keys[] = { "message", "log", "msg" };
	const msgpack_object *msg = NULL, *level = NULL;
	const msgpack_object_kv *kv;
	struct record r;
	uint32_t i;
	size_t k;

	if (rec->type != MSGPACK_OBJECT_MAP)
		return (-1);
	for (k = 0; k < 3 && msg == NULL; k++) {
		for (i = 0; i < rec->via.map.size; i++) {
			if (fluent_is(&rec->via.map.ptr[i].key,
			    message_keys[k]))
				msg = &rec->via.map.ptr[i].val;
		}
	}
	fluent_text.len = 0;
	if (msg != NULL)
		fluent_add_value(&fluent_text, msg, 0);
	for (i = 0; i < rec->via.map.size; i++) {
		kv = &rec->via.map.ptr[i];
		if (fluent_is(&kv->key, "level")) {
			level = &kv->val;
			continue;
		}
		if (&kv->val == msg)
			continue;
		if (fluent_text.len != 0)
			proto_buf_add(&fluent_text, " ", 1);
		fluent_add_value(&fluent_text, &kv->key, 0);
		proto_buf_add(&fluent_text, "=", 1);
		fluent_add_value(&fluent_text, &kv->val, 0);
	}
	memset(&r, 0, sizeof r);
	r.e.timestamp_ms = ms;
	r.e.level = level != NULL ? fluent_level(level) : RELOG_LEVEL_INFO;
	r.e.logger_name = tag;
	r.e.message.ptr = fluent_text.len != 0 ? fluent_text.data : "";
	r.e.message.len = fluent_text.len;
	r.e.exception_text = proto_cstr("");
	record_make(&r, &c->origin, 0);
	record_write(&c->origin, &r);
	c->records++;
	return (0);
}

/* The events of a PackedForward blob: [time, record] after each other. */
static int
fluent_packed(struct client *c, struct proto_str tag, struct proto_str blob)
{
	struct proto_scanner sc;
	msgpack_unpacked u;
	const char *cause;
	size_t off = 0, used, pos;
	int ret = 0;

	msgpack_unpacked_init(&u);
	while (ret == 0 && off < blob.len) {
		proto_scanner_init(&sc, 0);
		if (proto_scanner_run(&sc, (const unsigned char *)blob.ptr + off,
		    blob.len - off, &cause) != 1) {
			ret = -1;
			break;
		}
		used = sc.off;
		if (sc.objects > PROTO_OBJECTS_MAX(used)) {
			ret = -1;
			break;
		}
		pos = 0;
		if (msgpack_unpack_next(&u, blob.ptr + off, used, &pos) !=
		    MSGPACK_UNPACK_SUCCESS || u.data.type != MSGPACK_OBJECT_ARRAY ||
		    u.data.via.array.size != 2)
			ret = -1;
		else
			ret = fluent_event(c, tag, fluent_time(
			    &u.data.via.array.ptr[0]), &u.data.via.array.ptr[1]);
		off += used;
	}
	msgpack_unpacked_destroy(&u);
	return (ret);
}

/* One Forward message. Returns 0, or -1 (with *cause) if it is malformed. */
static int
fluent_message(struct client *c, const msgpack_object *o, const char **cause)
{
	const msgpack_object *a, *opt = NULL, *ev;
	struct proto_str tag, blob, chunk = { NULL, 0 };
	struct ack *ack;
	uint32_t i, n;
	int bad = 0;

	*cause = "not a Forward message";
	if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size < 2 ||
	    o->via.array.size > 4 ||
	    fluent_str(&o->via.array.ptr[0], &tag) != 0)
		return (-1);
	a = o->via.array.ptr;
	n = o->via.array.size;
	if (a[1].type == MSGPACK_OBJECT_ARRAY) {
		/* Forward: [tag, entries, option?] */
		opt = n >= 3 ? &a[2] : NULL;
		for (i = 0; i < a[1].via.array.size; i++) {
			ev = &a[1].via.array.ptr[i];
			bad |= ev->type != MSGPACK_OBJECT_ARRAY ||
			    ev->via.array.size != 2 || fluent_event(c, tag,
			    fluent_time(&ev->via.array.ptr[0]),
			    &ev->via.array.ptr[1]) != 0;
		}
	} else if (fluent_str(&a[1], &blob) == 0) {
		/* PackedForward: [tag, blob, option?] */
		opt = n >= 3 ? &a[2] : NULL;
		if (opt != NULL && opt->type == MSGPACK_OBJECT_MAP) {
			for (i = 0; i < opt->via.map.size; i++) {
				if (fluent_is(&opt->via.map.ptr[i].key,
				    "compressed")) {
					*cause = "compressed PackedForward "
					    "is not supported";
					return (-1);
				}
			}
		}
		bad = fluent_packed(c, tag, blob) != 0;
	} else if (n >= 3) {
		/* Message: [tag, time, record, option?] */
		opt = n == 4 ? &a[3] : NULL;
		bad = fluent_event(c, tag, fluent_time(&a[1]), &a[2]) != 0;
	} else
		return (-1);
	if (bad)
		log_warn("%s: events that are not [time, record] skipped",
		    c->origin.runner_id);
	for (i = 0; opt != NULL && opt->type == MSGPACK_OBJECT_MAP &&
	    i < opt->via.map.size; i++) {
		if (!fluent_is(&opt->via.map.ptr[i].key, "chunk"))
			continue;
		/* An id we could not echo whole would never be acked. */
		if (fluent_str(&opt->via.map.ptr[i].val, &chunk) != 0 ||
		    chunk.len > RELOG_ID_MAX) {
			*cause = "chunk is not a string of 64 bytes at most";
			return (-1);
		}
	}
	if (chunk.ptr != NULL) {
		/* Answered once the records are written. */
		ack = ack_new(NULL, 0);
		ack->chunk_len = chunk.len;
		memcpy(ack->chunk, chunk.ptr, chunk.len);
		ack->request_id = 0;
		ack_queue(c->origin.acks, ack, 1);
	}
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
	msgpack_unpacked u;
	const char *cause;
	size_t have, used, off;
	char *data;
	int ret;

	while (c->state == CLIENT_READY &&
	    (have = evbuffer_get_length(c->in)) != 0) {
		data = (char *)evbuffer_pullup(c->in, (ev_ssize_t)have);
		if (data == NULL)
			fatalx("out of memory for a connection");
		/* Resumed where the last read left it: nothing twice. */
		ret = proto_scanner_run(&c->fluent_scan, (unsigned char *)data,
		    have, &cause);
		if (ret == 0 && have > relogd_config.max_frame)
			return (fluent_fail(c,
			    "a Forward message over max_frame"));
		if (ret == 0)
			break;
		if (ret < 0)
			return (fluent_fail(c, cause));
		used = c->fluent_scan.off;
		if (c->fluent_scan.objects > PROTO_OBJECTS_MAX(used))
			return (fluent_fail(c, "more msgpack objects than "
			    "the message's size allows"));
		proto_scanner_init(&c->fluent_scan, 1);
		msgpack_unpacked_init(&u);
		off = 0;
		if (msgpack_unpack_next(&u, data, used, &off) !=
		    MSGPACK_UNPACK_SUCCESS)
			ret = fluent_fail(c, "undecodable msgpack");
		else if (fluent_message(c, &u.data, &cause) != 0)
			ret = fluent_fail(c, cause);
		else
			ret = 0;
		msgpack_unpacked_destroy(&u);
		if (ret != 0)
			return (-1);
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
	.start = fluent_start,
	.process = fluent_process,
	.answer = fluent_answer,
	.timeout = fluent_nothing,
	.drained = fluent_nothing,
	.gone = fluent_nothing,
};

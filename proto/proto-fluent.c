/*
 * Decoding Fluentd's Forward protocol (v1), relogd's second input: a stream
 * of msgpack arrays, no length prefix, no hello.
 *   Message        [tag, time, record, option?]
 *   Forward        [tag, [[time, record], ...], option?]
 *   PackedForward  [tag, bin (msgpack [time, record] one after the other),
 *                   option?]
 * time is seconds, or an EventTime (ext 0: seconds and nanoseconds, both
 * 32-bit big-endian). The option may hold a chunk id, to be answered
 * {"ack": id}.
 *
 * Each event becomes an entry: the tag is its logger name; in the record,
 * "message" (else "log", else "msg") is the message, "level" (a number or
 * a name) the level, INFO without one; the other keys follow the message
 * as key=value. Nothing here is trusted: a message is scanned as a frame
 * body is before msgpack-c unpacks it, and so is each event of a
 * PackedForward blob.
 */
#include <stdio.h>
#include <string.h>

#include "proto.h"

/* Is this msgpack string (str or bin) the given key? */
static int
proto_fluent_is(const msgpack_object *o, const char *key)
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
proto_fluent_str(const msgpack_object *o, struct proto_str *s)
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
proto_fluent_time(const msgpack_object *o)
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
proto_fluent_level(const msgpack_object *o)
{
	struct proto_str s;
	int64_t level;

	if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER &&
	    o->via.u64 <= RELOG_LEVEL_MAX)
		return ((int64_t)o->via.u64);
	/* A name: "40" as a string is no level. */
	if (proto_fluent_str(o, &s) == 0 && s.len != 0 &&
	    (s.ptr[0] < '0' || s.ptr[0] > '9') &&
	    proto_level_parse(s, &level) == 0)
		return (level);
	return (RELOG_LEVEL_INFO);
}

/*
 * Append a value as text: strings as they are (as JSON strings inside an
 * array or map: quote), the rest as JSON. Nesting is as deep as the scan
 * allows, RELOG_NEST_MAX.
 */
static void
proto_fluent_value(struct proto_buf *b, const msgpack_object *o, int quote)
{
	struct proto_str s;
	char num[64];
	uint32_t i;
	int n = 0;

	if (proto_fluent_str(o, &s) == 0) {
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
			proto_fluent_value(b, &o->via.array.ptr[i], 1);
		}
		proto_buf_add(b, "]", 1);
		return;
	case MSGPACK_OBJECT_MAP:
		proto_buf_add(b, "{", 1);
		for (i = 0; i < o->via.map.size; i++) {
			if (i != 0)
				proto_buf_add(b, ",", 1);
			proto_fluent_value(b, &o->via.map.ptr[i].key, 1);
			proto_buf_add(b, ":", 1);
			proto_fluent_value(b, &o->via.map.ptr[i].val, 1);
		}
		proto_buf_add(b, "}", 1);
		return;
	default:
		n = snprintf(num, sizeof num, "(ext)");
		break;
	}
	proto_buf_add(b, num, (size_t)n);
}

/*
 * Make an entry of one event: the record's text into b (emptied first),
 * which e->message borrows. Returns 0, or -1 if the record is not a map.
 */
static int
proto_fluent_event(struct proto_str tag, const msgpack_object *time,
    const msgpack_object *rec, struct proto_buf *b, struct proto_entry *e)
{
	static const char *const message_keys[] = { "message", "log", "msg" };
	const msgpack_object *msg = NULL, *level = NULL;
	const msgpack_object_kv *kv;
	uint32_t i;
	size_t k;

	if (rec->type != MSGPACK_OBJECT_MAP)
		return (-1);
	for (k = 0; k < 3 && msg == NULL; k++) {
		for (i = 0; i < rec->via.map.size; i++) {
			if (proto_fluent_is(&rec->via.map.ptr[i].key,
			    message_keys[k]))
				msg = &rec->via.map.ptr[i].val;
		}
	}
	b->len = 0;
	if (msg != NULL)
		proto_fluent_value(b, msg, 0);
	for (i = 0; i < rec->via.map.size; i++) {
		kv = &rec->via.map.ptr[i];
		if (proto_fluent_is(&kv->key, "level")) {
			level = &kv->val;
			continue;
		}
		if (&kv->val == msg)
			continue;
		if (b->len != 0)
			proto_buf_add(b, " ", 1);
		proto_fluent_value(b, &kv->key, 0);
		proto_buf_add(b, "=", 1);
		proto_fluent_value(b, &kv->val, 0);
	}
	memset(e, 0, sizeof *e);
	e->timestamp_ms = proto_fluent_time(time);
	e->level = level != NULL ? proto_fluent_level(level) :
	    RELOG_LEVEL_INFO;
	e->logger_name = tag;
	e->message.ptr = b->len != 0 ? b->data : "";
	e->message.len = b->len;
	e->exception_text = proto_cstr("");
	return (0);
}

/*
 * Find the end of the next message in a stream: data holds len bytes so
 * far, and sc (proto_scanner_init(sc, 1) to begin) resumes where the last
 * call stopped. Returns 1 when the message is whole (its length in *used;
 * sc is ready for the next), 0 if more bytes are needed, or -1 with a
 * static *cause: malformed, more than max bytes, or more objects than
 * PROTO_OBJECTS_MAX allows unpacking.
 *
 * A message over max is refused whether its end has come or not: where
 * a stream's reads fall is the peer's to choose.
 */
int
proto_fluent_scan(struct proto_scanner *sc, const char *data, size_t len,
    size_t max, size_t *used, const char **cause)
{
	int ret;

	/*
	 * No further than a byte past max: what lies beyond would refuse the
	 * message for another cause when it came in one read, not bytewise.
	 */
	if (len > max && len - max > 1)
		len = max + 1;
	ret = proto_scanner_run(sc, (const unsigned char *)data, len, cause);
	if ((ret == 0 && len > max) || (ret == 1 && sc->off > max)) {
		*cause = "a Forward message over max_frame";
		return (-1);
	}
	if (ret != 1)
		return (ret);
	if (sc->objects > PROTO_OBJECTS_MAX(sc->off)) {
		*cause = "more msgpack objects than the message's size allows";
		return (-1);
	}
	*used = sc->off;
	proto_scanner_init(sc, 1);
	return (1);
}

/* Is a PackedForward's option compressed (which relog does not read)? */
static int
proto_fluent_compressed(const msgpack_object *opt)
{
	uint32_t i;

	for (i = 0; opt != NULL && opt->type == MSGPACK_OBJECT_MAP &&
	    i < opt->via.map.size; i++) {
		if (proto_fluent_is(&opt->via.map.ptr[i].key, "compressed"))
			return (1);
	}
	return (0);
}

/*
 * Unpack a message proto_fluent_scan found whole (len bytes at data) into
 * u, and decode its shape into m: m borrows from u, which borrows from
 * data; read its events with proto_fluent_next, then free it with
 * proto_fluent_done (u is the caller's, initialised and destroyed by it).
 * Returns 0, or -1 with a static *cause (m needs no proto_fluent_done).
 */
int
proto_fluent_decode(const char *data, size_t len, msgpack_unpacked *u,
    struct proto_fluent *m, const char **cause)
{
	const msgpack_object *a;
	size_t off = 0;
	uint32_t n;

	memset(m, 0, sizeof *m);
	if (msgpack_unpack_next(u, data, len, &off) !=
	    MSGPACK_UNPACK_SUCCESS) {
		*cause = "undecodable msgpack";
		return (-1);
	}
	*cause = "not a Forward message";
	if (u->data.type != MSGPACK_OBJECT_ARRAY ||
	    u->data.via.array.size < 2 || u->data.via.array.size > 4 ||
	    proto_fluent_str(&u->data.via.array.ptr[0], &m->tag) != 0)
		return (-1);
	a = u->data.via.array.ptr;
	n = u->data.via.array.size;
	if (a[1].type == MSGPACK_OBJECT_ARRAY) {
		m->mode = PROTO_FLUENT_FORWARD;
		m->events = &a[1];
		m->option = n >= 3 ? &a[2] : NULL;
	} else if (proto_fluent_str(&a[1], &m->blob) == 0) {
		m->mode = PROTO_FLUENT_PACKED;
		m->option = n >= 3 ? &a[2] : NULL;
		if (proto_fluent_compressed(m->option)) {
			*cause = "compressed PackedForward is not supported";
			return (-1);
		}
	} else if (n >= 3) {
		m->mode = PROTO_FLUENT_MESSAGE;
		m->events = &u->data;
		m->option = n == 4 ? &a[3] : NULL;
	} else
		return (-1);
	msgpack_unpacked_init(&m->packed);
	return (0);
}

/*
 * The next event of a PackedForward blob: scanned, then unpacked into
 * m->packed (which the previous one's objects die with). Returns as
 * proto_fluent_next does; after a bad event the blob is not read further.
 */
static int
proto_fluent_next_packed(struct proto_fluent *m, struct proto_buf *b,
    struct proto_entry *e, const char **cause)
{
	struct proto_scanner sc;
	const msgpack_object *ev;
	const char *p;
	size_t left, used, off = 0;

	if (m->next >= m->blob.len)
		return (0);
	p = m->blob.ptr + m->next;
	left = m->blob.len - m->next;
	proto_scanner_init(&sc, 0);
	if (proto_scanner_run(&sc, (const unsigned char *)p, left,
	    cause) != 1 || sc.objects > PROTO_OBJECTS_MAX(sc.off)) {
		m->next = m->blob.len;
		*cause = "a packed event is not msgpack within its bounds";
		return (-1);
	}
	used = sc.off;
	m->next += used;
	ev = &m->packed.data;
	if (msgpack_unpack_next(&m->packed, p, used, &off) !=
	    MSGPACK_UNPACK_SUCCESS || ev->type != MSGPACK_OBJECT_ARRAY ||
	    ev->via.array.size != 2 || proto_fluent_event(m->tag,
	    &ev->via.array.ptr[0], &ev->via.array.ptr[1], b, e) != 0) {
		/* Its bounds are known: the events after it are read on. */
		*cause = "an event is not [time, record]";
		return (-1);
	}
	return (1);
}

/*
 * Decode a message's next event into e, its text into b (the caller's, and
 * emptied first): e borrows from b, from m, and in a PackedForward from
 * m->packed until the next call. Returns 1 for an event, 0 when there are
 * no more, or -1 with a static *cause for an event that is not [time,
 * record], skipped (call again for the next).
 */
int
proto_fluent_next(struct proto_fluent *m, struct proto_buf *b,
    struct proto_entry *e, const char **cause)
{
	const msgpack_object *ev;

	switch (m->mode) {
	case PROTO_FLUENT_MESSAGE:
		if (m->next != 0)
			return (0);
		m->next = 1;
		ev = m->events;
		if (proto_fluent_event(m->tag, &ev->via.array.ptr[1],
		    &ev->via.array.ptr[2], b, e) != 0)
			break;
		return (1);
	case PROTO_FLUENT_FORWARD:
		if (m->next >= m->events->via.array.size)
			return (0);
		ev = &m->events->via.array.ptr[m->next++];
		if (ev->type != MSGPACK_OBJECT_ARRAY ||
		    ev->via.array.size != 2 || proto_fluent_event(m->tag,
		    &ev->via.array.ptr[0], &ev->via.array.ptr[1], b, e) != 0)
			break;
		return (1);
	case PROTO_FLUENT_PACKED:
		return (proto_fluent_next_packed(m, b, e, cause));
	}
	*cause = "an event is not [time, record]";
	return (-1);
}

/*
 * The option's chunk id, to be answered {"ack": chunk} (chunk->ptr NULL:
 * none asked). Returns 0, or -1 with a static *cause if it is not a string
 * that can be echoed whole.
 */
int
proto_fluent_chunk(const struct proto_fluent *m, struct proto_str *chunk,
    const char **cause)
{
	const msgpack_object *opt = m->option;
	uint32_t i;

	chunk->ptr = NULL;
	chunk->len = 0;
	for (i = 0; opt != NULL && opt->type == MSGPACK_OBJECT_MAP &&
	    i < opt->via.map.size; i++) {
		if (!proto_fluent_is(&opt->via.map.ptr[i].key, "chunk"))
			continue;
		if (proto_fluent_str(&opt->via.map.ptr[i].val, chunk) != 0 ||
		    chunk->len > RELOG_ID_MAX) {
			*cause = "chunk is not a string of 64 bytes at most";
			return (-1);
		}
	}
	return (0);
}

/* Free what decoding a message took (m itself is the caller's). */
void
proto_fluent_done(struct proto_fluent *m)
{
	msgpack_unpacked_destroy(&m->packed);
}

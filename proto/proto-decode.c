/*
 * Decoding envelopes from msgpack-c objects (relogd side). The frame must
 * have passed proto_scan before it is unpacked.
 */
#include <math.h>
#include <string.h>

#include "proto.h"

/*
 * Take a string from str, bin, or the ISO-date ext types. Returns 1 for a
 * string, 0 for nil (s->ptr NULL), -1 for anything else.
 */
static int
proto_get_str(const msgpack_object *o, struct proto_str *s)
{
	s->ptr = NULL;
	s->len = 0;
	switch (o->type) {
	case MSGPACK_OBJECT_NIL:
		return (0);
	case MSGPACK_OBJECT_STR:
		s->ptr = o->via.str.ptr;
		s->len = o->via.str.size;
		break;
	case MSGPACK_OBJECT_BIN:
		s->ptr = o->via.bin.ptr;
		s->len = o->via.bin.size;
		break;
	case MSGPACK_OBJECT_EXT:
		if (o->via.ext.type != RELOG_EXT_DATETIME &&
		    o->via.ext.type != RELOG_EXT_DATE)
			return (-1);
		s->ptr = o->via.ext.ptr;
		s->len = o->via.ext.size;
		break;
	default:
		return (-1);
	}
	if (s->ptr == NULL)	/* msgpack-c leaves empty strings NULL */
		s->ptr = "";
	return (1);
}

/* Take an integer (a finite float in range is truncated). Returns 0 or -1. */
static int
proto_get_int(const msgpack_object *o, int64_t *v)
{
	switch (o->type) {
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		if (o->via.u64 > INT64_MAX)
			return (-1);
		*v = (int64_t)o->via.u64;
		return (0);
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		*v = o->via.i64;
		return (0);
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64:
		if (!isfinite(o->via.f64) || o->via.f64 >= 9.2e18 ||
		    o->via.f64 <= -9.2e18)
			return (-1);
		*v = (int64_t)o->via.f64;
		return (0);
	default:
		return (-1);
	}
}

/* The map keys relog reads. */
enum proto_key {
	KEY_OTHER,
	KEY_DROPPED, KEY_ENTRIES, KEY_ERROR, KEY_EXCEPTION_TEXT, KEY_INSTANCE,
	KEY_LEVEL, KEY_LOG_COLOR, KEY_LOGGER_NAME, KEY_MESSAGE,
	KEY_MESSAGE_TYPE, KEY_METHOD, KEY_PAYLOAD, KEY_PLUGIN_ID,
	KEY_PLUGIN_IDS, KEY_POSITION, KEY_REQUEST_ID, KEY_RING, KEY_RUNNER_ID,
	KEY_SDK_VERSION, KEY_SEQ, KEY_SESSION_TOKEN, KEY_TIMEOUT_MS,
	KEY_TIMESTAMP_MS, KEY_VERSION,
};

/* Does s hold exactly the literal l? */
#define PROTO_IS(s, l) (memcmp((s), (l), sizeof (l) - 1) == 0)

/*
 * Which key this is: by length first, so that a record's six keys cost a
 * comparison or two each (this runs for every field of every record).
 */
static enum proto_key
proto_key(const msgpack_object *key)
{
	const char *p;

	if (key->type == MSGPACK_OBJECT_STR)
		p = key->via.str.ptr;
	else if (key->type == MSGPACK_OBJECT_BIN)
		p = key->via.bin.ptr;
	else
		return (KEY_OTHER);
	switch (key->type == MSGPACK_OBJECT_STR ? key->via.str.size :
	    key->via.bin.size) {
	case 3:
		return (PROTO_IS(p, "seq") ? KEY_SEQ : KEY_OTHER);
	case 4:
		return (PROTO_IS(p, "ring") ? KEY_RING : KEY_OTHER);
	case 5:
		if (PROTO_IS(p, "level"))
			return (KEY_LEVEL);
		return (PROTO_IS(p, "error") ? KEY_ERROR : KEY_OTHER);
	case 6:
		return (PROTO_IS(p, "method") ? KEY_METHOD : KEY_OTHER);
	case 7:
		if (PROTO_IS(p, "message"))
			return (KEY_MESSAGE);
		if (PROTO_IS(p, "payload"))
			return (KEY_PAYLOAD);
		if (PROTO_IS(p, "entries"))
			return (KEY_ENTRIES);
		if (PROTO_IS(p, "version"))
			return (KEY_VERSION);
		return (PROTO_IS(p, "dropped") ? KEY_DROPPED : KEY_OTHER);
	case 8:
		if (PROTO_IS(p, "position"))
			return (KEY_POSITION);
		return (PROTO_IS(p, "instance") ? KEY_INSTANCE : KEY_OTHER);
	case 9:
		if (PROTO_IS(p, "plugin_id"))
			return (KEY_PLUGIN_ID);
		return (PROTO_IS(p, "runner_id") ? KEY_RUNNER_ID : KEY_OTHER);
	case 10:
		if (PROTO_IS(p, "request_id"))
			return (KEY_REQUEST_ID);
		if (PROTO_IS(p, "plugin_ids"))
			return (KEY_PLUGIN_IDS);
		return (PROTO_IS(p, "timeout_ms") ? KEY_TIMEOUT_MS : KEY_OTHER);
	case 11:
		if (PROTO_IS(p, "logger_name"))
			return (KEY_LOGGER_NAME);
		return (PROTO_IS(p, "sdk_version") ? KEY_SDK_VERSION :
		    KEY_OTHER);
	case 12:
		if (PROTO_IS(p, "timestamp_ms"))
			return (KEY_TIMESTAMP_MS);
		return (PROTO_IS(p, "message_type") ? KEY_MESSAGE_TYPE :
		    KEY_OTHER);
	case 13:
		return (PROTO_IS(p, "session_token") ? KEY_SESSION_TOKEN :
		    KEY_OTHER);
	case 14:
		return (PROTO_IS(p, "exception_text") ? KEY_EXCEPTION_TEXT :
		    KEY_OTHER);
	case 16:
		return (PROTO_IS(p, "log_color_in_hex") ? KEY_LOG_COLOR :
		    KEY_OTHER);
	}
	return (KEY_OTHER);
}

/*
 * Decode one frame's body: check it with proto_scan, unpack it into u
 * (initialised by the caller, who destroys it after using env), and decode
 * its envelope. env borrows from u, which borrows from data. Returns 0, or
 * -1 with a static *cause.
 */
int
proto_decode_frame(const char *data, size_t len, msgpack_unpacked *u,
    struct proto_envelope *env, const char **cause)
{
	size_t off = 0;

	if (proto_scan(data, len, cause) != 0)
		return (-1);
	if (msgpack_unpack_next(u, data, len, &off) !=
	    MSGPACK_UNPACK_SUCCESS) {
		*cause = "undecodable msgpack";
		return (-1);
	}
	return (proto_decode_envelope(&u->data, env, cause));
}

/* Decode an envelope map. Returns 0, or -1 with a static *cause. */
int
proto_decode_envelope(const msgpack_object *o, struct proto_envelope *env,
    const char **cause)
{
	const msgpack_object_kv *kv;
	struct proto_str type = { NULL, 0 };
	uint32_t i;
	int bad = 0;

	memset(env, 0, sizeof *env);
	env->timeout_ms = RELOG_TIMEOUT_MS_DEFAULT;
	if (o->type != MSGPACK_OBJECT_MAP) {
		*cause = "envelope is not a map";
		return (-1);
	}
	for (i = 0; i < o->via.map.size; i++) {
		kv = &o->via.map.ptr[i];
		switch (proto_key(&kv->key)) {
		case KEY_MESSAGE_TYPE:
			bad |= proto_get_str(&kv->val, &type) != 1;
			break;
		case KEY_REQUEST_ID:
			bad |= proto_get_int(&kv->val, &env->request_id);
			break;
		case KEY_METHOD:
			bad |= proto_get_str(&kv->val, &env->method) != 1;
			break;
		case KEY_PLUGIN_ID:
			bad |= proto_get_str(&kv->val, &env->plugin_id) < 0;
			break;
		case KEY_TIMESTAMP_MS:
			bad |= proto_get_int(&kv->val, &env->timestamp_ms);
			break;
		case KEY_TIMEOUT_MS:
			bad |= proto_get_int(&kv->val, &env->timeout_ms);
			break;
		case KEY_PAYLOAD:
			if (kv->val.type == MSGPACK_OBJECT_MAP)
				env->payload = &kv->val;
			else
				bad |= kv->val.type != MSGPACK_OBJECT_NIL;
			break;
		case KEY_ERROR:
			if (kv->val.type == MSGPACK_OBJECT_MAP)
				env->error = &kv->val;
			else
				bad |= kv->val.type != MSGPACK_OBJECT_NIL;
			break;
		default:
			break;
		}
		if (bad) {
			*cause = "envelope field of the wrong type";
			return (-1);
		}
	}
	if (type.ptr == NULL || env->method.ptr == NULL) {
		*cause = "envelope lacks message_type or method";
		return (-1);
	}
	if (proto_str_eq(type, RELOG_TYPE_REQUEST))
		env->type = PROTO_REQUEST;
	else if (proto_str_eq(type, RELOG_TYPE_RESPONSE))
		env->type = PROTO_RESPONSE;
	else if (proto_str_eq(type, RELOG_TYPE_BROADCAST))
		env->type = PROTO_BROADCAST;
	else {
		*cause = "unknown message_type";
		return (-1);
	}
	if (env->payload == NULL) {
		static const msgpack_object empty = {
			.type = MSGPACK_OBJECT_MAP
		};
		env->payload = &empty;
	}
	return (0);
}

/*
 * Take a hello's plugin_ids: an array of at most RELOG_HELLO_PLUGINS_MAX
 * strings (nil: absent). Returns 0 or -1.
 */
static int
proto_get_plugin_ids(const msgpack_object *o, struct proto_hello *h)
{
	struct proto_str s;
	uint32_t i;

	if (o->type == MSGPACK_OBJECT_NIL)
		return (0);
	if (o->type != MSGPACK_OBJECT_ARRAY ||
	    o->via.array.size > RELOG_HELLO_PLUGINS_MAX)
		return (-1);
	for (i = 0; i < o->via.array.size; i++) {
		if (proto_get_str(&o->via.array.ptr[i], &s) != 1)
			return (-1);
	}
	h->plugin_ids_array = o;
	return (0);
}

/*
 * The i-th id of a decoded hello's plugin_ids (i below
 * proto_hello_nplugin_ids).
 */
struct proto_str
proto_hello_plugin_id(const struct proto_hello *h, uint32_t i)
{
	struct proto_str s;

	proto_get_str(&h->plugin_ids_array->via.array.ptr[i], &s);
	return (s);
}

/* How many ids a decoded hello's plugin_ids has. */
uint32_t
proto_hello_nplugin_ids(const struct proto_hello *h)
{
	return (h->plugin_ids_array != NULL ?
	    h->plugin_ids_array->via.array.size : 0);
}

/*
 * Take a hello's ring (relog's extension): a map whose version is an int
 * from 1 up (nil: absent). Returns 0 or -1.
 */
static int
proto_get_ring(const msgpack_object *o, struct proto_hello *h)
{
	const msgpack_object_kv *kv;
	int64_t v = 0;
	uint32_t i;

	if (o->type == MSGPACK_OBJECT_NIL)
		return (0);
	if (o->type != MSGPACK_OBJECT_MAP)
		return (-1);
	for (i = 0; i < o->via.map.size; i++) {
		kv = &o->via.map.ptr[i];
		if (proto_key(&kv->key) == KEY_VERSION &&
		    proto_get_int(&kv->val, &v) != 0)
			return (-1);
	}
	if (v < 1 || v > UINT32_MAX)
		return (-1);
	h->ring_version = (uint32_t)v;
	return (0);
}

/* Decode a runner.hello payload. Returns 0, or -1 with a static *cause. */
int
proto_decode_hello(const msgpack_object *payload, struct proto_hello *h,
    const char **cause)
{
	const msgpack_object_kv *kv;
	uint32_t i;
	int bad = 0;

	memset(h, 0, sizeof *h);
	for (i = 0; i < payload->via.map.size; i++) {
		kv = &payload->via.map.ptr[i];
		switch (proto_key(&kv->key)) {
		case KEY_RUNNER_ID:
			bad |= proto_get_str(&kv->val, &h->runner_id) < 0;
			break;
		case KEY_SDK_VERSION:
			bad |= proto_get_str(&kv->val, &h->sdk_version) < 0;
			break;
		case KEY_SESSION_TOKEN:
			bad |= proto_get_str(&kv->val, &h->session_token) < 0;
			break;
		case KEY_PLUGIN_ID:
			bad |= proto_get_str(&kv->val, &h->plugin_id) < 0;
			break;
		case KEY_INSTANCE:
			bad |= proto_get_str(&kv->val, &h->instance) < 0;
			break;
		case KEY_PLUGIN_IDS:
			bad |= proto_get_plugin_ids(&kv->val, h);
			break;
		case KEY_RING:
			bad |= proto_get_ring(&kv->val, h);
			break;
		default:
			break;
		}
	}
	if (bad) {
		*cause = "hello field of the wrong type";
		return (-1);
	}
	if (h->runner_id.ptr == NULL) {
		*cause = "hello lacks runner_id";
		return (-1);
	}
	return (0);
}

/* Take a count that cannot be negative. Returns 0 or -1. */
static int
proto_get_count(const msgpack_object *o, uint64_t *v)
{
	int64_t n;

	if (proto_get_int(o, &n) != 0 || n < 0)
		return (-1);
	*v = (uint64_t)n;
	return (0);
}

/* Decode a runner.log_batch payload. Returns 0, or -1 with *cause. */
int
proto_decode_batch(const msgpack_object *payload, struct proto_batch *b,
    const char **cause)
{
	const msgpack_object_kv *kv;
	uint32_t i;
	int have_entries = 0;

	memset(b, 0, sizeof *b);
	for (i = 0; i < payload->via.map.size; i++) {
		kv = &payload->via.map.ptr[i];
		switch (proto_key(&kv->key)) {
		case KEY_ENTRIES:
			if (kv->val.type != MSGPACK_OBJECT_ARRAY) {
				*cause = "entries is not an array";
				return (-1);
			}
			b->entries = kv->val.via.array.ptr;
			b->n = kv->val.via.array.size;
			have_entries = 1;
			break;
		case KEY_SEQ:
			if (proto_get_count(&kv->val, &b->seq) != 0) {
				*cause = "seq is not a count";
				return (-1);
			}
			break;
		case KEY_DROPPED:
			if (proto_get_count(&kv->val, &b->dropped) != 0) {
				*cause = "dropped is not a count";
				return (-1);
			}
			break;
		default:
			break;
		}
	}
	if (!have_entries) {
		*cause = "log batch lacks entries";
		return (-1);
	}
	return (0);
}

/*
 * Decode a runner.ring_sync payload: the position relogd is to commit
 * past. Returns 0, or -1 with a static *cause.
 */
int
proto_decode_ring_sync(const msgpack_object *payload, uint64_t *position,
    const char **cause)
{
	const msgpack_object_kv *kv;
	uint32_t i;
	int have = 0;

	for (i = 0; i < payload->via.map.size; i++) {
		kv = &payload->via.map.ptr[i];
		if (proto_key(&kv->key) != KEY_POSITION)
			continue;
		if (proto_get_count(&kv->val, position) != 0) {
			*cause = "position is not a count";
			return (-1);
		}
		have = 1;
	}
	if (!have) {
		*cause = "ring_sync lacks position";
		return (-1);
	}
	return (0);
}

/* Decode one entry. Returns 0, or -1 with a static *cause. */
int
proto_decode_entry(const msgpack_object *o, struct proto_entry *e,
    const char **cause)
{
	const msgpack_object_kv *kv;
	uint32_t i;
	int bad = 0, have_level = 0;

	memset(e, 0, sizeof *e);
	if (o->type != MSGPACK_OBJECT_MAP) {
		*cause = "entry is not a map";
		return (-1);
	}
	for (i = 0; i < o->via.map.size; i++) {
		kv = &o->via.map.ptr[i];
		switch (proto_key(&kv->key)) {
		case KEY_TIMESTAMP_MS:
			bad |= proto_get_int(&kv->val, &e->timestamp_ms);
			break;
		case KEY_LEVEL:
			bad |= proto_get_int(&kv->val, &e->level);
			have_level = 1;
			break;
		case KEY_LOGGER_NAME:
			bad |= proto_get_str(&kv->val, &e->logger_name) < 0;
			break;
		case KEY_MESSAGE:
			bad |= proto_get_str(&kv->val, &e->message) < 0;
			break;
		case KEY_EXCEPTION_TEXT:
			bad |= proto_get_str(&kv->val, &e->exception_text) < 0;
			break;
		case KEY_LOG_COLOR:
			bad |= proto_get_str(&kv->val, &e->color) < 0;
			break;
		default:
			break;
		}
	}
	if (bad) {
		*cause = "entry field of the wrong type";
		return (-1);
	}
	if (!have_level || e->message.ptr == NULL) {
		*cause = "entry lacks level or message";
		return (-1);
	}
	if (e->logger_name.ptr == NULL)
		e->logger_name = proto_cstr("");
	if (e->exception_text.ptr == NULL)
		e->exception_text = proto_cstr("");
	return (0);
}

/* The value of a string key in a msgpack map, or NULL. */
const msgpack_object *
proto_map_get(const msgpack_object *map, const char *key)
{
	const msgpack_object_kv *kv;
	size_t len = strlen(key);
	uint32_t i;

	for (i = 0; map != NULL && map->type == MSGPACK_OBJECT_MAP &&
	    i < map->via.map.size; i++) {
		kv = &map->via.map.ptr[i];
		if (kv->key.type == MSGPACK_OBJECT_STR &&
		    kv->key.via.str.size == len &&
		    memcmp(kv->key.via.str.ptr, key, len) == 0)
			return (&kv->val);
	}
	return (NULL);
}

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

/* Is this map key the given name? */
static int
proto_key_is(const msgpack_object *key, const char *name)
{
	struct proto_str s;

	return (proto_get_str(key, &s) == 1 && proto_str_eq(s, name));
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
		if (proto_key_is(&kv->key, "message_type"))
			bad |= proto_get_str(&kv->val, &type) != 1;
		else if (proto_key_is(&kv->key, "request_id"))
			bad |= proto_get_int(&kv->val, &env->request_id);
		else if (proto_key_is(&kv->key, "method"))
			bad |= proto_get_str(&kv->val, &env->method) != 1;
		else if (proto_key_is(&kv->key, "plugin_id"))
			bad |= proto_get_str(&kv->val, &env->plugin_id) < 0;
		else if (proto_key_is(&kv->key, "timestamp_ms"))
			bad |= proto_get_int(&kv->val, &env->timestamp_ms);
		else if (proto_key_is(&kv->key, "timeout_ms"))
			bad |= proto_get_int(&kv->val, &env->timeout_ms);
		else if (proto_key_is(&kv->key, "payload")) {
			if (kv->val.type == MSGPACK_OBJECT_MAP)
				env->payload = &kv->val;
			else
				bad |= kv->val.type != MSGPACK_OBJECT_NIL;
		} else if (proto_key_is(&kv->key, "error")) {
			if (kv->val.type == MSGPACK_OBJECT_MAP)
				env->error = &kv->val;
			else
				bad |= kv->val.type != MSGPACK_OBJECT_NIL;
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
		if (proto_key_is(&kv->key, "runner_id"))
			bad |= proto_get_str(&kv->val, &h->runner_id) < 0;
		else if (proto_key_is(&kv->key, "sdk_version"))
			bad |= proto_get_str(&kv->val, &h->sdk_version) < 0;
		else if (proto_key_is(&kv->key, "session_token"))
			bad |= proto_get_str(&kv->val, &h->session_token) < 0;
		else if (proto_key_is(&kv->key, "plugin_id"))
			bad |= proto_get_str(&kv->val, &h->plugin_id) < 0;
		else if (proto_key_is(&kv->key, "instance"))
			bad |= proto_get_str(&kv->val, &h->instance) < 0;
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
		if (proto_key_is(&kv->key, "entries")) {
			if (kv->val.type != MSGPACK_OBJECT_ARRAY) {
				*cause = "entries is not an array";
				return (-1);
			}
			b->entries = kv->val.via.array.ptr;
			b->n = kv->val.via.array.size;
			have_entries = 1;
		} else if (proto_key_is(&kv->key, "seq")) {
			if (proto_get_count(&kv->val, &b->seq) != 0) {
				*cause = "seq is not a count";
				return (-1);
			}
		} else if (proto_key_is(&kv->key, "dropped")) {
			if (proto_get_count(&kv->val, &b->dropped) != 0) {
				*cause = "dropped is not a count";
				return (-1);
			}
		}
	}
	if (!have_entries) {
		*cause = "log batch lacks entries";
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
		if (proto_key_is(&kv->key, "timestamp_ms"))
			bad |= proto_get_int(&kv->val, &e->timestamp_ms);
		else if (proto_key_is(&kv->key, "level")) {
			bad |= proto_get_int(&kv->val, &e->level);
			have_level = 1;
		} else if (proto_key_is(&kv->key, "logger_name"))
			bad |= proto_get_str(&kv->val, &e->logger_name) < 0;
		else if (proto_key_is(&kv->key, "message"))
			bad |= proto_get_str(&kv->val, &e->message) < 0;
		else if (proto_key_is(&kv->key, "exception_text"))
			bad |= proto_get_str(&kv->val, &e->exception_text) < 0;
		else if (proto_key_is(&kv->key, "log_color_in_hex"))
			bad |= proto_get_str(&kv->val, &e->color) < 0;
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

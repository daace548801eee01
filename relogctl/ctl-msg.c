/*
 * relogd's replies as msgpack-c decoded them: fields of a map, read
 * leniently (a missing or mistyped field is empty, 0 or NULL), and any
 * object as JSON, strings escaped by proto_json_str.
 */
#include <inttypes.h>
#include <stdio.h>

#include "relogctl.h"

/* A string field of a map, or "". */
struct proto_str
ctl_msg_str(const msgpack_object *map, const char *key)
{
	const msgpack_object *o = proto_map_get(map, key);

	if (o == NULL || o->type != MSGPACK_OBJECT_STR)
		return (proto_cstr(""));
	return ((struct proto_str){ o->via.str.ptr, o->via.str.size });
}

/* An integer field of a map, or 0. */
int64_t
ctl_msg_int(const msgpack_object *map, const char *key)
{
	const msgpack_object *o = proto_map_get(map, key);

	if (o != NULL && o->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
		return ((int64_t)o->via.u64);
	if (o != NULL && o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
		return (o->via.i64);
	return (0);
}

/* A bool field of a map: 0 if it is not there, or not a bool. */
int
ctl_msg_bool(const msgpack_object *map, const char *key)
{
	const msgpack_object *o = proto_map_get(map, key);

	return (o != NULL && o->type == MSGPACK_OBJECT_BOOLEAN &&
	    o->via.boolean);
}

/* An array field of a map, or NULL. */
const msgpack_object *
ctl_msg_array(const msgpack_object *map, const char *key)
{
	const msgpack_object *o = proto_map_get(map, key);

	return (o != NULL && o->type == MSGPACK_OBJECT_ARRAY ? o : NULL);
}

/* Append a msgpack object as JSON. */
void
ctl_msg_json(struct proto_buf *b, const msgpack_object *o)
{
	char num[64];
	uint32_t i;
	int n = 0;

	switch (o->type) {
	case MSGPACK_OBJECT_BOOLEAN:
		n = snprintf(num, sizeof num, "%s", o->via.boolean ? "true" :
		    "false");
		break;
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		n = snprintf(num, sizeof num, "%" PRIu64, o->via.u64);
		break;
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		n = snprintf(num, sizeof num, "%" PRId64, o->via.i64);
		break;
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64:
		n = snprintf(num, sizeof num, "%g", o->via.f64);
		break;
	case MSGPACK_OBJECT_STR:
		proto_json_str(b, (struct proto_str){ o->via.str.ptr,
		    o->via.str.size });
		return;
	case MSGPACK_OBJECT_BIN:
		proto_json_str(b, (struct proto_str){ o->via.bin.ptr,
		    o->via.bin.size });
		return;
	case MSGPACK_OBJECT_ARRAY:
		proto_buf_add(b, "[", 1);
		for (i = 0; i < o->via.array.size; i++) {
			if (i != 0)
				proto_buf_add(b, ",", 1);
			ctl_msg_json(b, &o->via.array.ptr[i]);
		}
		proto_buf_add(b, "]", 1);
		return;
	case MSGPACK_OBJECT_MAP:
		proto_buf_add(b, "{", 1);
		for (i = 0; i < o->via.map.size; i++) {
			if (i != 0)
				proto_buf_add(b, ",", 1);
			ctl_msg_json(b, &o->via.map.ptr[i].key);
			proto_buf_add(b, ":", 1);
			ctl_msg_json(b, &o->via.map.ptr[i].val);
		}
		proto_buf_add(b, "}", 1);
		return;
	default:
		n = snprintf(num, sizeof num, "null");
		break;
	}
	proto_buf_add(b, num, (size_t)n);
}

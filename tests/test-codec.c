/*
 * The wire codec: frames, envelopes and entries packed by proto-pack.c and
 * read back by the scan and decoder relogd uses; every limit of the scan;
 * the Fluent Forward messages relogd's second input decodes.
 */
#include <stdlib.h>
#include <string.h>

#include "proto.h"
#include "tests.h"

static msgpack_sbuffer sb;
static msgpack_packer pk;
static msgpack_unpacked un;

static void
codec_setup(void)
{
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_unpacked_init(&un);
}

static void
codec_teardown(void)
{
	msgpack_unpacked_destroy(&un);
	msgpack_sbuffer_destroy(&sb);
}

/* Scan and unpack sb's bytes from off; the object is un.data. */
static void
unpack_from(size_t off)
{
	const char *cause = NULL;
	size_t used = 0;

	ck_assert_msg(proto_scan(sb.data + off, sb.size - off, &cause) == 0,
	    "scan: %s", cause);
	ck_assert_int_eq(msgpack_unpack_next(&un, sb.data + off,
	    sb.size - off, &used), MSGPACK_UNPACK_SUCCESS);
	ck_assert_uint_eq(used, sb.size - off);
}

/* Does a wire string hold this C string? */
static int
str_is(struct proto_str s, const char *c)
{
	return (proto_str_eq(s, c));
}

/* Pack a log batch envelope with the given entries. */
static size_t
pack_batch(const struct proto_entry *entries, uint32_t n)
{
	struct proto_header hd = {
		.message_type = RELOG_TYPE_BROADCAST,
		.request_id = 7,
		.method = proto_cstr(RELOG_METHOD_LOG_BATCH),
		.plugin_id = proto_cstr("weather"),
		.timestamp_ms = 1764300000123,
		.timeout_ms = 30000,
	};
	size_t start = proto_frame_begin(&sb);
	uint32_t i;

	proto_pack_header(&pk, &hd);
	proto_pack_batch_head(&pk, n, 12, 4);
	for (i = 0; i < n; i++)
		proto_pack_entry(&pk, &entries[i]);
	proto_pack_no_error(&pk);
	ck_assert_int_eq(proto_frame_end(&sb, start, RELOG_FRAME_MAX_DEFAULT),
	    0);
	return (start);
}

START_TEST(test_codec_frame_header)
{
	static const unsigned char be[4] = { 0x01, 0x02, 0x03, 0x04 };
	size_t start;

	msgpack_pack_nil(&pk);	/* something before: frames can follow */
	start = proto_frame_begin(&sb);
	ck_assert_uint_eq(start, 1);
	proto_pack_key(&pk, "abc");	/* 4 bytes: a3 61 62 63 */
	ck_assert_int_eq(proto_frame_end(&sb, start, 1024), 0);
	ck_assert_uint_eq(sb.size, 1 + 4 + 4);
	ck_assert_uint_eq(proto_frame_length((unsigned char *)sb.data + 1),
	    4);
	ck_assert_int_eq(memcmp(sb.data + 1, "\0\0\0\4\xa3" "abc", 8), 0);
	/* A body over the limit is refused. */
	ck_assert_int_eq(proto_frame_end(&sb, start, 3), -1);
	ck_assert_uint_eq(proto_frame_length(be), 0x01020304u);
}
END_TEST

START_TEST(test_codec_batch_round_trip)
{
	struct proto_entry in[3] = {
		{ 1764300000001, 20, proto_cstr("plugin.weather.api"),
		    proto_cstr("fetched 3 cities"), proto_cstr(""),
		    proto_cstr("#00ff00") },
		{ 1764300000002, 40, proto_cstr("plugin.weather"),
		    proto_cstr("failed: ünïcode ✓"),
		    proto_cstr("Traceback:\n  line 1\nKeyError"),
		    { NULL, 0 } },
		{ 5, 35, proto_cstr(""), proto_cstr(""), { NULL, 0 },
		    { NULL, 0 } },
	};
	struct proto_envelope env;
	struct proto_entry out;
	struct proto_batch b;
	const char *cause = NULL;
	uint32_t i;
	size_t start;

	start = pack_batch(in, 3);
	ck_assert_uint_eq(proto_frame_length((unsigned char *)sb.data +
	    start), sb.size - start - 4);
	unpack_from(start + 4);
	ck_assert_int_eq(proto_decode_envelope(&un.data, &env, &cause), 0);
	ck_assert_int_eq(env.type, PROTO_BROADCAST);
	ck_assert_int_eq(env.request_id, 7);
	ck_assert(str_is(env.method, RELOG_METHOD_LOG_BATCH));
	ck_assert(str_is(env.plugin_id, "weather"));
	ck_assert_int_eq(env.timestamp_ms, 1764300000123);
	ck_assert_int_eq(env.timeout_ms, 30000);
	ck_assert_ptr_null(env.error);
	ck_assert_int_eq(proto_decode_batch(env.payload, &b, &cause), 0);
	ck_assert_uint_eq(b.n, 3);
	ck_assert_uint_eq(b.seq, 12);
	ck_assert_uint_eq(b.dropped, 4);
	for (i = 0; i < b.n; i++) {
		ck_assert_int_eq(proto_decode_entry(&b.entries[i], &out,
		    &cause), 0);
		ck_assert_int_eq(out.timestamp_ms, in[i].timestamp_ms);
		ck_assert_int_eq(out.level, in[i].level);
		ck_assert_uint_eq(out.logger_name.len, in[i].logger_name.len);
		ck_assert_int_eq(memcmp(out.logger_name.ptr,
		    in[i].logger_name.ptr, out.logger_name.len), 0);
		ck_assert_uint_eq(out.message.len, in[i].message.len);
		ck_assert_int_eq(memcmp(out.message.ptr, in[i].message.ptr,
		    out.message.len), 0);
		ck_assert_uint_eq(out.exception_text.len,
		    in[i].exception_text.len);
		ck_assert_int_eq(memcmp(out.exception_text.ptr,
		    in[i].exception_text.ptr != NULL ?
		    in[i].exception_text.ptr : "", out.exception_text.len), 0);
		ck_assert_int_eq(out.color.ptr == NULL, in[i].color.ptr == NULL);
	}
	ck_assert(str_is(out.exception_text, ""));
}
END_TEST

START_TEST(test_codec_hello_round_trip)
{
	static const struct proto_str ids[] = {
		{ "builtin.emoji-manager", 21 }, { "maibot-team.hello", 17 },
	};
	struct proto_hello in = {
		.runner_id = proto_cstr("runner-1"),
		.sdk_version = proto_cstr("sdk/2"),
		.session_token = proto_cstr("tok"),
		.plugin_id = proto_cstr("weather"),
		.instance = proto_cstr("5f3a9c"),
		.plugin_ids = ids,
		.nplugin_ids = 2,
	}, out;
	struct proto_header hd = {
		.message_type = RELOG_TYPE_REQUEST,
		.request_id = 1,
		.method = proto_cstr(RELOG_METHOD_HELLO),
	};
	struct proto_envelope env;
	const char *cause;

	proto_pack_header(&pk, &hd);
	proto_pack_hello(&pk, &in);
	proto_pack_no_error(&pk);
	unpack_from(0);
	ck_assert_int_eq(proto_decode_envelope(&un.data, &env, &cause), 0);
	ck_assert_int_eq(env.type, PROTO_REQUEST);
	ck_assert(str_is(env.plugin_id, ""));	/* nil plugin packs as "" */
	ck_assert_int_eq(proto_decode_hello(env.payload, &out, &cause), 0);
	ck_assert(str_is(out.runner_id, "runner-1"));
	ck_assert(str_is(out.sdk_version, "sdk/2"));
	ck_assert(str_is(out.session_token, "tok"));
	ck_assert(str_is(out.plugin_id, "weather"));
	ck_assert(str_is(out.instance, "5f3a9c"));
	ck_assert_uint_eq(proto_hello_nplugin_ids(&out), 2);
	ck_assert(str_is(proto_hello_plugin_id(&out, 0),
	    "builtin.emoji-manager"));
	ck_assert(str_is(proto_hello_plugin_id(&out, 1), "maibot-team.hello"));

	/* Without relog's extensions they are absent. */
	msgpack_sbuffer_clear(&sb);
	in.plugin_id.ptr = NULL;
	in.instance.ptr = NULL;
	in.nplugin_ids = 0;
	proto_pack_hello(&pk, &in);
	unpack_from(0);
	ck_assert_int_eq(proto_decode_hello(&un.data, &out, &cause), 0);
	ck_assert_ptr_null(out.plugin_id.ptr);
	ck_assert_ptr_null(out.instance.ptr);
	ck_assert_uint_eq(proto_hello_nplugin_ids(&out), 0);
}
END_TEST

/*
 * The shared ring's words (relog's extension): a hello that passes one,
 * the reply that says what became of it, runner.ring_sync.
 */
START_TEST(test_codec_ring)
{
	struct proto_hello in = {
		.runner_id = proto_cstr("r"),
		.sdk_version = proto_cstr("s"),
		.session_token = proto_cstr(""),
		.ring_version = 1,
	}, out;
	const msgpack_object *v;
	const char *cause;
	uint64_t pos;

	proto_pack_hello(&pk, &in);
	unpack_from(0);
	ck_assert_int_eq(proto_decode_hello(&un.data, &out, &cause), 0);
	ck_assert_uint_eq(out.ring_version, 1);
	msgpack_sbuffer_clear(&sb);
	in.ring_version = 0;
	proto_pack_hello(&pk, &in);
	unpack_from(0);
	ck_assert_int_eq(proto_decode_hello(&un.data, &out, &cause), 0);
	ck_assert_uint_eq(out.ring_version, 0);
	/* A ring that is no map, or has no version: a hello of bad shape. */
	msgpack_sbuffer_clear(&sb);
	msgpack_pack_map(&pk, 2);
	proto_pack_key(&pk, "runner_id");
	proto_pack_key(&pk, "r");
	proto_pack_key(&pk, "ring");
	msgpack_pack_true(&pk);
	unpack_from(0);
	ck_assert_int_eq(proto_decode_hello(&un.data, &out, &cause), -1);
	msgpack_sbuffer_clear(&sb);
	msgpack_pack_map(&pk, 2);
	proto_pack_key(&pk, "runner_id");
	proto_pack_key(&pk, "r");
	proto_pack_key(&pk, "ring");
	msgpack_pack_map(&pk, 0);
	unpack_from(0);
	ck_assert_int_eq(proto_decode_hello(&un.data, &out, &cause), -1);

	/* The replies: ring true; ring false and why; no ring key. */
	msgpack_sbuffer_clear(&sb);
	proto_pack_hello_reply(&pk, 1, "", PROTO_RING_TAKEN, NULL);
	unpack_from(0);
	v = proto_map_get(&un.data, "ring");
	ck_assert(v != NULL && v->type == MSGPACK_OBJECT_BOOLEAN &&
	    v->via.boolean);
	ck_assert_ptr_null(proto_map_get(&un.data, "ring_reason"));
	msgpack_sbuffer_clear(&sb);
	proto_pack_hello_reply(&pk, 1, "", PROTO_RING_REFUSED, "too big");
	unpack_from(0);
	v = proto_map_get(&un.data, "ring");
	ck_assert(v != NULL && v->type == MSGPACK_OBJECT_BOOLEAN &&
	    !v->via.boolean);
	v = proto_map_get(&un.data, "ring_reason");
	ck_assert(v != NULL && v->type == MSGPACK_OBJECT_STR &&
	    v->via.str.size == 7);
	msgpack_sbuffer_clear(&sb);
	proto_pack_hello_reply(&pk, 1, "", PROTO_RING_UNASKED, NULL);
	unpack_from(0);
	ck_assert_ptr_null(proto_map_get(&un.data, "ring"));

	msgpack_sbuffer_clear(&sb);
	proto_pack_ring_sync(&pk, 123456789012ULL);
	unpack_from(0);
	ck_assert_int_eq(proto_decode_ring_sync(&un.data, &pos, &cause), 0);
	ck_assert_uint_eq(pos, 123456789012ULL);
	msgpack_sbuffer_clear(&sb);
	msgpack_pack_map(&pk, 1);
	proto_pack_key(&pk, "position");
	msgpack_pack_int64(&pk, -1);
	unpack_from(0);
	ck_assert_int_eq(proto_decode_ring_sync(&un.data, &pos, &cause), -1);
	msgpack_sbuffer_clear(&sb);
	msgpack_pack_map(&pk, 0);
	unpack_from(0);
	ck_assert_int_eq(proto_decode_ring_sync(&un.data, &pos, &cause), -1);
}
END_TEST

/* The reply to hello, read back with the shim's cursor reader. */
START_TEST(test_codec_reader_hello_reply)
{
	struct proto_header hd = {
		.message_type = RELOG_TYPE_RESPONSE,
		.request_id = 1,
		.method = proto_cstr(RELOG_METHOD_HELLO),
	};
	struct proto_reader r;
	struct proto_str key, reason = { NULL, 0 };
	uint32_t n, m, i, j;
	int accepted = -1;

	proto_pack_header(&pk, &hd);
	proto_pack_hello_reply(&pk, 0, "plugin_id is not a safe name",
	    PROTO_RING_UNASKED, NULL);
	proto_pack_no_error(&pk);
	proto_reader_init(&r, sb.data, sb.size);
	ck_assert_int_eq(proto_read_map(&r, &n), 0);
	ck_assert_uint_eq(n, 9);
	for (i = 0; i < n; i++) {
		ck_assert_int_eq(proto_read_str(&r, &key), 0);
		if (!proto_str_eq(key, "payload")) {
			ck_assert_int_eq(proto_read_skip(&r), 0);
			continue;
		}
		ck_assert_int_eq(proto_read_map(&r, &m), 0);
		for (j = 0; j < m; j++) {
			ck_assert_int_eq(proto_read_str(&r, &key), 0);
			if (proto_str_eq(key, "accepted"))
				ck_assert_int_eq(proto_read_bool(&r,
				    &accepted), 0);
			else if (proto_str_eq(key, "reason"))
				ck_assert_int_eq(proto_read_str(&r, &reason),
				    0);
			else
				ck_assert_int_eq(proto_read_skip(&r), 0);
		}
	}
	ck_assert_uint_eq(r.off, sb.size);
	ck_assert_int_eq(accepted, 0);
	ck_assert(str_is(reason, "plugin_id is not a safe name"));
	/* Type mismatches consume nothing. */
	proto_reader_init(&r, sb.data, sb.size);
	ck_assert_int_eq(proto_read_bool(&r, &accepted), -1);
	ck_assert_int_eq(proto_read_str(&r, &key), -1);
	ck_assert_uint_eq(r.off, 0);
}
END_TEST

/* Strings as bin, ext 42/43 where strings go, unknown keys ignored. */
START_TEST(test_codec_python_types)
{
	static const char iso[] = "2026-11-28T05:08:39.123456";
	struct proto_envelope env;
	struct proto_entry e;
	const char *cause;

	msgpack_pack_map(&pk, 5);
	proto_pack_key(&pk, "message_type");
	msgpack_pack_bin(&pk, 9);
	msgpack_pack_bin_body(&pk, "broadcast", 9);
	proto_pack_key(&pk, "method");
	proto_pack_key(&pk, RELOG_METHOD_LOG_BATCH);
	proto_pack_key(&pk, "sent_at");		/* unknown, an ext */
	msgpack_pack_ext(&pk, sizeof iso - 1, RELOG_EXT_DATETIME);
	msgpack_pack_ext_body(&pk, iso, sizeof iso - 1);
	proto_pack_key(&pk, "timeout_ms");
	msgpack_pack_double(&pk, 15000.0);
	proto_pack_key(&pk, "payload");
	msgpack_pack_map(&pk, 0);
	unpack_from(0);
	ck_assert_int_eq(proto_decode_envelope(&un.data, &env, &cause), 0);
	ck_assert_int_eq(env.type, PROTO_BROADCAST);
	ck_assert_int_eq(env.timeout_ms, 15000);

	msgpack_sbuffer_clear(&sb);
	msgpack_pack_map(&pk, 4);
	proto_pack_key(&pk, "level");
	msgpack_pack_int(&pk, 20);
	proto_pack_key(&pk, "message");
	msgpack_pack_ext(&pk, 10, RELOG_EXT_DATE);
	msgpack_pack_ext_body(&pk, "2026-11-28", 10);
	proto_pack_key(&pk, "logger_name");
	msgpack_pack_bin(&pk, 8);
	msgpack_pack_bin_body(&pk, "plugin.x", 8);
	proto_pack_key(&pk, "extra");
	msgpack_pack_array(&pk, 1);
	msgpack_pack_nil(&pk);
	unpack_from(0);
	ck_assert_int_eq(proto_decode_entry(&un.data, &e, &cause), 0);
	ck_assert(str_is(e.message, "2026-11-28"));
	ck_assert(str_is(e.logger_name, "plugin.x"));
	ck_assert(str_is(e.exception_text, ""));
	ck_assert_ptr_null(e.color.ptr);
}
END_TEST

/* Each entry field, in turn, given a value of the wrong type. */
START_TEST(test_codec_entry_wrong_types)
{
	static const char *const fields[] = {
		"timestamp_ms", "level", "logger_name", "message",
		"exception_text", "log_color_in_hex"
	};
	struct proto_entry e;
	const char *cause;
	size_t f, g;

	for (f = 0; f < 6; f++) {
		msgpack_sbuffer_clear(&sb);
		msgpack_pack_map(&pk, 6);
		for (g = 0; g < 6; g++) {
			proto_pack_key(&pk, fields[g]);
			if (g == f)
				msgpack_pack_array(&pk, 0);
			else if (g < 2)
				msgpack_pack_int(&pk, 20);
			else
				proto_pack_key(&pk, "text");
		}
		unpack_from(0);
		cause = NULL;
		ck_assert_msg(proto_decode_entry(&un.data, &e, &cause) == -1,
		    "wrong %s accepted", fields[f]);
		ck_assert_ptr_nonnull(cause);
	}
	/* An ext that is not a date is no string. */
	msgpack_sbuffer_clear(&sb);
	msgpack_pack_map(&pk, 2);
	proto_pack_key(&pk, "level");
	msgpack_pack_int(&pk, 20);
	proto_pack_key(&pk, "message");
	msgpack_pack_ext(&pk, 1, 7);
	msgpack_pack_ext_body(&pk, "x", 1);
	unpack_from(0);
	ck_assert_int_eq(proto_decode_entry(&un.data, &e, &cause), -1);
	/* Level and message are required; a level must fit in int64. */
	msgpack_sbuffer_clear(&sb);
	msgpack_pack_map(&pk, 1);
	proto_pack_key(&pk, "message");
	proto_pack_key(&pk, "m");
	unpack_from(0);
	ck_assert_int_eq(proto_decode_entry(&un.data, &e, &cause), -1);
	msgpack_sbuffer_clear(&sb);
	msgpack_pack_map(&pk, 2);
	proto_pack_key(&pk, "level");
	msgpack_pack_uint64(&pk, UINT64_MAX);
	proto_pack_key(&pk, "message");
	proto_pack_key(&pk, "m");
	unpack_from(0);
	ck_assert_int_eq(proto_decode_entry(&un.data, &e, &cause), -1);
	/* Not a map at all. */
	msgpack_sbuffer_clear(&sb);
	msgpack_pack_int(&pk, 1);
	unpack_from(0);
	ck_assert_int_eq(proto_decode_entry(&un.data, &e, &cause), -1);
}
END_TEST

START_TEST(test_codec_envelope_rejects)
{
	struct proto_envelope env;
	struct proto_batch b;
	const char *cause;

	/* No method. */
	msgpack_pack_map(&pk, 1);
	proto_pack_key(&pk, "message_type");
	proto_pack_key(&pk, "request");
	unpack_from(0);
	ck_assert_int_eq(proto_decode_envelope(&un.data, &env, &cause), -1);
	/* Unknown message_type. */
	msgpack_sbuffer_clear(&sb);
	msgpack_pack_map(&pk, 2);
	proto_pack_key(&pk, "message_type");
	proto_pack_key(&pk, "shout");
	proto_pack_key(&pk, "method");
	proto_pack_key(&pk, "x");
	unpack_from(0);
	ck_assert_int_eq(proto_decode_envelope(&un.data, &env, &cause), -1);
	/* request_id of the wrong type. */
	msgpack_sbuffer_clear(&sb);
	msgpack_pack_map(&pk, 3);
	proto_pack_key(&pk, "message_type");
	proto_pack_key(&pk, "request");
	proto_pack_key(&pk, "method");
	proto_pack_key(&pk, "x");
	proto_pack_key(&pk, "request_id");
	proto_pack_key(&pk, "1");
	unpack_from(0);
	ck_assert_int_eq(proto_decode_envelope(&un.data, &env, &cause), -1);
	/* Not a map. */
	msgpack_sbuffer_clear(&sb);
	msgpack_pack_array(&pk, 0);
	unpack_from(0);
	ck_assert_int_eq(proto_decode_envelope(&un.data, &env, &cause), -1);
	/* A batch without entries, and entries that are no array. */
	msgpack_sbuffer_clear(&sb);
	msgpack_pack_map(&pk, 1);
	proto_pack_key(&pk, "entries");
	msgpack_pack_int(&pk, 3);
	unpack_from(0);
	ck_assert_int_eq(proto_decode_batch(&un.data, &b, &cause), -1);
	msgpack_sbuffer_clear(&sb);
	msgpack_pack_map(&pk, 0);
	unpack_from(0);
	ck_assert_int_eq(proto_decode_batch(&un.data, &b, &cause), -1);
	/* A negative seq. */
	msgpack_sbuffer_clear(&sb);
	msgpack_pack_map(&pk, 2);
	proto_pack_key(&pk, "entries");
	msgpack_pack_array(&pk, 0);
	proto_pack_key(&pk, "seq");
	msgpack_pack_int(&pk, -3);
	unpack_from(0);
	ck_assert_int_eq(proto_decode_batch(&un.data, &b, &cause), -1);
	ck_assert_str_eq(cause, "seq is not a count");
}
END_TEST

/* A container header claiming 4 billion elements is refused unallocated. */
START_TEST(test_codec_scan_huge_counts)
{
	static const char array32[] = "\x81\xa7payload\xdd\xff\xff\xff\xff\x01";
	static const char map32[] = "\xdf\xff\xff\xff\xff\x01\x02";
	static const char str32[] = "\xdb\xff\xff\xff\xff" "abc";
	static const char bin32[] = "\xc6\x7f\xff\xff\xff" "abc";
	static const char ext32[] = "\xc9\x00\x01\x00\x00\x2a" "abc";
	const char *cause = NULL;

	ck_assert_int_eq(proto_scan(array32, sizeof array32 - 1, &cause), -1);
	ck_assert_str_eq(cause, "container count exceeds the frame");
	ck_assert_int_eq(proto_scan(map32, sizeof map32 - 1, &cause), -1);
	ck_assert_str_eq(cause, "container count exceeds the frame");
	ck_assert_int_eq(proto_scan(str32, sizeof str32 - 1, &cause), -1);
	ck_assert_str_eq(cause, "truncated msgpack object");
	ck_assert_int_eq(proto_scan(bin32, sizeof bin32 - 1, &cause), -1);
	ck_assert_int_eq(proto_scan(ext32, sizeof ext32 - 1, &cause), -1);
	/* An array of 3 nils in 3 bytes is fine; claiming 4 is not. */
	ck_assert_int_eq(proto_scan("\x93\xc0\xc0\xc0", 4, &cause), 0);
	ck_assert_int_eq(proto_scan("\x94\xc0\xc0\xc0", 4, &cause), -1);
}
END_TEST

START_TEST(test_codec_scan_nesting)
{
	char buf[RELOG_NEST_MAX + 2];
	const char *cause = NULL;
	size_t off = 0;

	/* RELOG_NEST_MAX arrays around a nil: fine. One more: refused. */
	memset(buf, 0x91, sizeof buf);
	buf[RELOG_NEST_MAX] = (char)0xc0;
	ck_assert_int_eq(proto_scan(buf, RELOG_NEST_MAX + 1, &cause), 0);
	memset(buf, 0x91, sizeof buf);
	buf[RELOG_NEST_MAX + 1] = (char)0xc0;
	ck_assert_int_eq(proto_scan(buf, RELOG_NEST_MAX + 2, &cause), -1);
	ck_assert_str_eq(cause, "nesting too deep");
	/* And msgpack-c takes what the scan passed. */
	buf[RELOG_NEST_MAX] = (char)0xc0;
	ck_assert_int_eq(msgpack_unpack_next(&un, buf, RELOG_NEST_MAX + 1,
	    &off), MSGPACK_UNPACK_SUCCESS);
	ck_assert_uint_eq(off, RELOG_NEST_MAX + 1);
}
END_TEST

/* Every cut of a valid frame is refused, as is a byte too many. */
START_TEST(test_codec_scan_truncation)
{
	struct proto_entry e = { 1, 20, proto_cstr("plugin.a"),
	    proto_cstr("hello"), proto_cstr("exc"), proto_cstr("#fff") };
	const char *cause;
	size_t start, body, len;

	start = pack_batch(&e, 1);
	body = start + 4;
	for (len = 0; len < sb.size - body; len++)
		ck_assert_msg(proto_scan(sb.data + body, len, &cause) == -1,
		    "a cut at %zu passed", len);
	ck_assert_int_eq(proto_scan(sb.data + body, sb.size - body, &cause),
	    0);
	msgpack_pack_nil(&pk);
	ck_assert_int_eq(proto_scan(sb.data + body, sb.size - body, &cause),
	    -1);
	ck_assert_str_eq(cause, "trailing bytes after the envelope");
	ck_assert_int_eq(proto_scan("\xc1", 1, &cause), -1);
	ck_assert_str_eq(cause, "invalid msgpack type byte");
}
END_TEST

/* Pack a Fluent record: {"message": msg, "level": level, "n": 7}. */
static void
pack_fluent_record(msgpack_packer *p, const char *msg, const char *level)
{
	msgpack_pack_map(p, 3);
	proto_pack_key(p, "message");
	proto_pack_key(p, msg);
	proto_pack_key(p, "level");
	proto_pack_key(p, level);
	proto_pack_key(p, "n");
	msgpack_pack_int(p, 7);
}

/* Pack an EventTime: ext 0, seconds and nanoseconds. */
static void
pack_event_time(msgpack_packer *p, uint32_t sec, uint32_t nsec)
{
	unsigned char t[8] = { sec >> 24, sec >> 16, sec >> 8, sec,
	    nsec >> 24, nsec >> 16, nsec >> 8, nsec };

	msgpack_pack_ext(p, 8, 0);
	msgpack_pack_ext_body(p, t, 8);
}

/*
 * Read the Fluent message at sb's bytes from *off one byte more at a time,
 * as a stream arrives, and decode it into m (un holds it).
 */
static void
fluent_stream(struct proto_scanner *sc, size_t *off, struct proto_fluent *m)
{
	const char *cause = NULL;
	size_t have, used = 0;
	int ret = 0;

	for (have = 1; *off + have <= sb.size && ret == 0; have++)
		ret = proto_fluent_scan(sc, sb.data + *off, have,
		    RELOG_FRAME_MAX_DEFAULT, &used, &cause);
	ck_assert_msg(ret == 1, "scan: %s", cause);
	ck_assert_int_eq(proto_fluent_decode(sb.data + *off, used, &un, m,
	    &cause), 0);
	*off += used;
}

/* Each mode of the Forward protocol, streamed, and its events' texts. */
START_TEST(test_codec_fluent_modes)
{
	static const char junk[] = "\x92\x01";	/* a cut [time, record] */
	msgpack_sbuffer blob;
	msgpack_packer bp;
	struct proto_scanner sc;
	struct proto_fluent m;
	struct proto_buf text = { NULL, 0, 0 };
	struct proto_entry e;
	struct proto_str chunk;
	const char *cause;
	size_t off = 0;

	/* Message, with a chunk. */
	msgpack_pack_array(&pk, 4);
	proto_pack_key(&pk, "plugin.fw.app");
	msgpack_pack_uint32(&pk, 1700000000);
	pack_fluent_record(&pk, "disk full", "warning");
	msgpack_pack_map(&pk, 1);
	proto_pack_key(&pk, "chunk");
	proto_pack_key(&pk, "c2hvcnQ=");
	/* Forward: an EventTime, a value as JSON, an event that is not one. */
	msgpack_pack_array(&pk, 2);
	proto_pack_key(&pk, "plugin.fw.fwd");
	msgpack_pack_array(&pk, 3);
	msgpack_pack_array(&pk, 2);
	pack_event_time(&pk, 1700000000, 250000000);
	msgpack_pack_map(&pk, 2);
	proto_pack_key(&pk, "tags");
	msgpack_pack_array(&pk, 2);
	proto_pack_key(&pk, "a\"");
	msgpack_pack_nil(&pk);
	proto_pack_key(&pk, "log");
	proto_pack_key(&pk, "forward one");
	msgpack_pack_int(&pk, 5);
	msgpack_pack_array(&pk, 2);
	msgpack_pack_double(&pk, 1.5);
	msgpack_pack_map(&pk, 1);
	proto_pack_key(&pk, "msg");
	msgpack_pack_int(&pk, 40);
	/*
	 * PackedForward: two events, one that is msgpack but no event (only
	 * it is skipped), one more, then bytes that are none.
	 */
	msgpack_sbuffer_init(&blob);
	msgpack_packer_init(&bp, &blob, msgpack_sbuffer_write);
	msgpack_pack_array(&bp, 2);
	msgpack_pack_uint32(&bp, 1);
	pack_fluent_record(&bp, "packed 0", "40");
	msgpack_pack_array(&bp, 2);
	msgpack_pack_uint32(&bp, 2);
	pack_fluent_record(&bp, "packed 1", "error");
	msgpack_pack_array(&bp, 2);
	msgpack_pack_uint32(&bp, 3);
	proto_pack_key(&bp, "not a map");
	msgpack_pack_array(&bp, 2);
	msgpack_pack_uint32(&bp, 4);
	pack_fluent_record(&bp, "packed 3", "info");
	msgpack_sbuffer_write(&blob, junk, sizeof junk - 1);
	msgpack_pack_array(&pk, 3);
	proto_pack_key(&pk, "plugin.fw.packed");
	msgpack_pack_bin(&pk, blob.size);
	msgpack_pack_bin_body(&pk, blob.data, blob.size);
	msgpack_pack_map(&pk, 0);
	msgpack_sbuffer_destroy(&blob);

	proto_scanner_init(&sc, 1);
	fluent_stream(&sc, &off, &m);
	ck_assert_int_eq(m.mode, PROTO_FLUENT_MESSAGE);
	ck_assert_int_eq(proto_fluent_next(&m, &text, &e, &cause), 1);
	ck_assert(str_is(e.logger_name, "plugin.fw.app"));
	ck_assert(str_is(e.message, "disk full n=7"));
	ck_assert_int_eq(e.level, RELOG_LEVEL_WARNING);
	ck_assert_int_eq(e.timestamp_ms, 1700000000000);
	ck_assert_int_eq(proto_fluent_next(&m, &text, &e, &cause), 0);
	ck_assert_int_eq(proto_fluent_chunk(&m, &chunk, &cause), 0);
	ck_assert(str_is(chunk, "c2hvcnQ="));
	proto_fluent_done(&m);

	fluent_stream(&sc, &off, &m);
	ck_assert_int_eq(m.mode, PROTO_FLUENT_FORWARD);
	ck_assert_int_eq(proto_fluent_next(&m, &text, &e, &cause), 1);
	ck_assert(str_is(e.message, "forward one tags=[\"a\\\"\",null]"));
	ck_assert_int_eq(e.timestamp_ms, 1700000000250);
	ck_assert_int_eq(e.level, RELOG_LEVEL_INFO);
	ck_assert_int_eq(proto_fluent_next(&m, &text, &e, &cause), -1);
	ck_assert_str_eq(cause, "an event is not [time, record]");
	ck_assert_int_eq(proto_fluent_next(&m, &text, &e, &cause), 1);
	ck_assert(str_is(e.message, "40"));
	ck_assert_int_eq(e.timestamp_ms, 1500);
	ck_assert_int_eq(proto_fluent_next(&m, &text, &e, &cause), 0);
	ck_assert_int_eq(proto_fluent_chunk(&m, &chunk, &cause), 0);
	ck_assert_ptr_null(chunk.ptr);
	proto_fluent_done(&m);

	fluent_stream(&sc, &off, &m);
	ck_assert_int_eq(m.mode, PROTO_FLUENT_PACKED);
	ck_assert_int_eq(proto_fluent_next(&m, &text, &e, &cause), 1);
	ck_assert(str_is(e.message, "packed 0 n=7"));
	/* "40" as a string is no level name. */
	ck_assert_int_eq(e.level, RELOG_LEVEL_INFO);
	ck_assert_int_eq(proto_fluent_next(&m, &text, &e, &cause), 1);
	ck_assert(str_is(e.message, "packed 1 n=7"));
	ck_assert_int_eq(e.level, RELOG_LEVEL_ERROR);
	ck_assert_int_eq(e.timestamp_ms, 2000);
	ck_assert_int_eq(proto_fluent_next(&m, &text, &e, &cause), -1);
	ck_assert_str_eq(cause, "an event is not [time, record]");
	ck_assert_int_eq(proto_fluent_next(&m, &text, &e, &cause), 1);
	ck_assert(str_is(e.message, "packed 3 n=7"));
	ck_assert_int_eq(e.timestamp_ms, 4000);
	ck_assert_int_eq(proto_fluent_next(&m, &text, &e, &cause), -1);
	ck_assert_str_eq(cause, "a packed event is not msgpack within its "
	    "bounds");
	ck_assert_int_eq(proto_fluent_next(&m, &text, &e, &cause), 0);
	proto_fluent_done(&m);
	ck_assert_uint_eq(off, sb.size);
	proto_buf_free(&text);
}
END_TEST

/* Decode one whole Fluent message in sb; expect it refused with why. */
static void
fluent_refused(const char *why)
{
	struct proto_scanner sc;
	struct proto_fluent m;
	struct proto_str chunk;
	const char *cause = NULL;
	size_t used = 0;

	proto_scanner_init(&sc, 1);
	ck_assert_int_eq(proto_fluent_scan(&sc, sb.data, sb.size,
	    RELOG_FRAME_MAX_DEFAULT, &used, &cause), 1);
	if (proto_fluent_decode(sb.data, used, &un, &m, &cause) == 0) {
		ck_assert_int_eq(proto_fluent_chunk(&m, &chunk, &cause), -1);
		proto_fluent_done(&m);
	}
	ck_assert_str_eq(cause, why);
	sb.size = 0;
}

/* What drops a Fluent client: its shape, its option, its size. */
START_TEST(test_codec_fluent_rejects)
{
	struct proto_scanner sc;
	const char *cause = NULL;
	size_t used = 0;
	char chunk[RELOG_ID_MAX + 2];
	int i;

	msgpack_pack_array(&pk, 2);
	msgpack_pack_int(&pk, 1);
	msgpack_pack_array(&pk, 0);
	fluent_refused("not a Forward message");
	msgpack_pack_array(&pk, 2);
	proto_pack_key(&pk, "tag");
	msgpack_pack_int(&pk, 1);
	fluent_refused("not a Forward message");
	msgpack_pack_array(&pk, 3);
	proto_pack_key(&pk, "tag");
	msgpack_pack_bin(&pk, 0);
	msgpack_pack_map(&pk, 1);
	proto_pack_key(&pk, "compressed");
	proto_pack_key(&pk, "gzip");
	fluent_refused("compressed PackedForward is not supported");
	memset(chunk, 'c', sizeof chunk - 1);
	chunk[sizeof chunk - 1] = '\0';
	msgpack_pack_array(&pk, 3);
	proto_pack_key(&pk, "tag");
	msgpack_pack_array(&pk, 0);
	msgpack_pack_map(&pk, 1);
	proto_pack_key(&pk, "chunk");
	proto_pack_key(&pk, chunk);
	fluent_refused("chunk is not a string of 64 bytes at most");

	/* 100 nils in 103 bytes: more objects than unpacking may take. */
	msgpack_pack_array(&pk, 100);
	for (i = 0; i < 100; i++)
		msgpack_pack_nil(&pk);
	proto_scanner_init(&sc, 1);
	ck_assert_int_eq(proto_fluent_scan(&sc, sb.data, sb.size,
	    RELOG_FRAME_MAX_DEFAULT, &used, &cause), -1);
	ck_assert_str_eq(cause, "more msgpack objects than the message's "
	    "size allows");
	/* Unfinished past the limit; and whole past it, read at once. */
	proto_scanner_init(&sc, 1);
	ck_assert_int_eq(proto_fluent_scan(&sc, sb.data, 50, 40, &used,
	    &cause), -1);
	ck_assert_str_eq(cause, "a Forward message over max_frame");
	proto_scanner_init(&sc, 1);
	ck_assert_int_eq(proto_fluent_scan(&sc, "\x92\xc0\xc0", 3, 2, &used,
	    &cause), -1);
	ck_assert_str_eq(cause, "a Forward message over max_frame");
	proto_scanner_init(&sc, 1);
	ck_assert_int_eq(proto_fluent_scan(&sc, "\x92\xc0\xc0", 3, 3, &used,
	    &cause), 1);
	/*
	 * Malformed past the limit (0xc1 is no msgpack type): refused for its
	 * size, as it is when read a byte at a time (the fluent fuzzer's find).
	 */
	proto_scanner_init(&sc, 1);
	ck_assert_int_eq(proto_fluent_scan(&sc, "\x93\xc0\xc0\xc1", 4, 2,
	    &used, &cause), -1);
	ck_assert_str_eq(cause, "a Forward message over max_frame");
}
END_TEST

/*
 * A cut never ends inside a character, and looks back no further than a
 * character's length: a run of continuation bytes is cut where it falls.
 */
START_TEST(test_codec_utf8_cut)
{
	char run[100];

	ck_assert_uint_eq(proto_utf8_cut("abc", 3, 5), 3);
	ck_assert_uint_eq(proto_utf8_cut("abcdef", 6, 4), 4);
	/* "a" then U+00E9 (2 bytes), U+20AC (3), U+1F600 (4). */
	ck_assert_uint_eq(proto_utf8_cut("a\xc3\xa9", 3, 2), 1);
	ck_assert_uint_eq(proto_utf8_cut("a\xe2\x82\xac", 4, 3), 1);
	ck_assert_uint_eq(proto_utf8_cut("a\xe2\x82\xac", 4, 2), 1);
	ck_assert_uint_eq(proto_utf8_cut("a\xf0\x9f\x98\x80", 5, 4), 1);
	ck_assert_uint_eq(proto_utf8_cut("a\xf0\x9f\x98\x80" "b", 6, 5), 5);
	memset(run, 0x80, sizeof run);
	ck_assert_uint_eq(proto_utf8_cut(run, sizeof run, 50), 50);
	run[47] = 'x';
	ck_assert_uint_eq(proto_utf8_cut(run, sizeof run, 50), 47);
}
END_TEST

/*
 * Escaping, at every offset of a text longer than the 32- and 8-byte
 * blocks proto_escape checks at once, and of one shorter than 32: each
 * kind of byte comes out as it must, the plain text around it untouched.
 */
START_TEST(test_codec_escape_offsets)
{
	static const struct {
		const char *in, *out;
	} kinds[] = {
		{ "\x1b", "\\x1b" }, { "\x7f", "\\x7f" }, { "\x00", "\\x00" },
		{ "\r", "\\x0d" }, { "\n", "\\x0a" }, { "\xff", "\\xff" },
		{ "\xc2\x9b", "\\u009b" }, { "\xc3\xa9", "\xc3\xa9" },
		{ "\t", "\t" },
	};
	static const size_t lens[] = { 71, 11 };
	char in[128], out[160];
	struct proto_buf b = { NULL, 0, 0 };
	size_t k, i, klen, len, j;

	for (j = 0; j < sizeof lens / sizeof lens[0]; j++) {
		len = lens[j];
		for (k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
			klen = kinds[k].in[0] == '\0' ? 1 :
			    strlen(kinds[k].in);
			for (i = 0; i < len; i++) {
				memset(in, 'a', sizeof in);
				memcpy(in + i, kinds[k].in, klen);
				b.len = 0;
				proto_escape(&b, (struct proto_str){ in,
				    len + klen - 1 }, 1);
				memset(out, 'a', i);
				snprintf(out + i, sizeof out - i, "%s%.*s",
				    kinds[k].out, (int)(len - 1 - i),
				    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
				    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
				ck_assert_msg(b.len == strlen(out) &&
				    memcmp(b.data, out, b.len) == 0,
				    "kind %zu at %zu of %zu: %.*s", k, i, len,
				    (int)b.len, b.data);
			}
		}
	}
	proto_buf_free(&b);
}
END_TEST

Suite *
suite_codec(void)
{
	Suite *s = suite_create("codec");
	TCase *tc = tcase_create("codec");

	tcase_set_tags(tc, TESTS_UNIT_TAG);
	tcase_add_checked_fixture(tc, codec_setup, codec_teardown);
	tcase_add_test(tc, test_codec_frame_header);
	tcase_add_test(tc, test_codec_batch_round_trip);
	tcase_add_test(tc, test_codec_hello_round_trip);
	tcase_add_test(tc, test_codec_reader_hello_reply);
	tcase_add_test(tc, test_codec_ring);
	tcase_add_test(tc, test_codec_python_types);
	tcase_add_test(tc, test_codec_entry_wrong_types);
	tcase_add_test(tc, test_codec_envelope_rejects);
	tcase_add_test(tc, test_codec_scan_huge_counts);
	tcase_add_test(tc, test_codec_scan_nesting);
	tcase_add_test(tc, test_codec_scan_truncation);
	tcase_add_test(tc, test_codec_fluent_modes);
	tcase_add_test(tc, test_codec_fluent_rejects);
	tcase_add_test(tc, test_codec_utf8_cut);
	tcase_add_test(tc, test_codec_escape_offsets);
	suite_add_tcase(s, tc);
	return (s);
}

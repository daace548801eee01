/*
 * A raw protocol client for the tests: frames built with proto/ by hand,
 * so that a test can send exactly what it means to, well-formed or not.
 */
#include <sys/socket.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto.h"
#include "tests.h"

/* How long relogd may take to reply (sanitizers are slow). */
#define WIRE_REPLY_TIMEOUT_MS 20000

/* Pack an envelope header into sb; the caller packs the payload. */
size_t
wire_begin(msgpack_sbuffer *sb, msgpack_packer *pk, const char *type,
    int64_t id, const char *method)
{
	struct proto_header hd = {
		.message_type = type,
		.request_id = id,
		.method = proto_cstr(method),
		.plugin_id = proto_cstr(""),
		.timestamp_ms = 1764306519123,
		.timeout_ms = 30000,
	};
	size_t start;

	msgpack_sbuffer_init(sb);
	msgpack_packer_init(pk, sb, msgpack_sbuffer_write);
	start = proto_frame_begin(sb);
	proto_pack_header(pk, &hd);
	return (start);
}

/* Finish the frame begun by raw_begin and send it, n bytes per write. */
void
wire_send(int fd, msgpack_sbuffer *sb, msgpack_packer *pk, size_t start,
    size_t chunk)
{
	size_t off;

	proto_pack_no_error(pk);
	ck_assert_int_eq(proto_frame_end(sb, start, RELOG_FRAME_MAX_LIMIT), 0);
	for (off = 0; off < sb->size; off += chunk)
		ck_assert_int_eq(send(fd, sb->data + off, sb->size - off < chunk ?
		    sb->size - off : chunk, MSG_NOSIGNAL) > 0, 1);
	msgpack_sbuffer_destroy(sb);
}

/*
 * Send a log batch of n records "raw seq=<i>" as the given message_type,
 * with relog's seq (0: none) and dropped count.
 */
void
wire_batch_seq(int fd, const char *type, const char *logger, int n,
    uint64_t seq, uint64_t dropped, size_t chunk)
{
	struct proto_entry e = { .level = 20, .logger_name =
	    proto_cstr(logger), .exception_text = proto_cstr("") };
	msgpack_sbuffer sb;
	msgpack_packer pk;
	char msg[64];
	size_t start;
	int i;

	start = wire_begin(&sb, &pk, type, 2, RELOG_METHOD_LOG_BATCH);
	proto_pack_batch_head(&pk, (uint32_t)n, seq, dropped);
	for (i = 0; i < n; i++) {
		snprintf(msg, sizeof msg, "raw seq=%d", i);
		e.timestamp_ms = 1764306519000 + i;
		e.message = proto_cstr(msg);
		proto_pack_entry(&pk, &e);
	}
	wire_send(fd, &sb, &pk, start, chunk);
}

/*
 * Say hello as runner (plugin and instance may be NULL), chunk bytes per
 * write.
 */
void
wire_hello_as(int fd, const char *runner, const char *plugin,
    const char *instance, size_t chunk)
{
	struct proto_hello hello = {
		.runner_id = proto_cstr(runner),
		.sdk_version = proto_cstr("test/1"),
		.session_token = proto_cstr(""),
		.plugin_id = proto_cstr(plugin),
		.instance = proto_cstr(instance),
	};
	msgpack_sbuffer sb;
	msgpack_packer pk;
	size_t start;

	start = wire_begin(&sb, &pk, RELOG_TYPE_REQUEST, 1, RELOG_METHOD_HELLO);
	proto_pack_hello(&pk, &hello);
	wire_send(fd, &sb, &pk, start, chunk);
}

/* Say hello as runner (plugin may be NULL), chunk bytes per write. */
void
wire_hello(int fd, const char *runner, const char *plugin, size_t chunk)
{
	wire_hello_as(fd, runner, plugin, NULL, chunk);
}

/* Send a log batch (a broadcast) of n records "raw seq=<i>" for logger. */
void
wire_batch(int fd, const char *logger, int n, size_t chunk)
{
	wire_batch_seq(fd, RELOG_TYPE_BROADCAST, logger, n, 0, 0, chunk);
}

/*
 * Receive a response. Returns the error code (static) if it has one,
 * "accepted"/"refused" for a hello reply, "written=N" for a batch's. *eof tells whether relogd closed
 * the connection right after.
 */
const char *
wire_reply(int fd, int check_eof, int *eof)
{
	static char result[64];
	struct proto_envelope env;
	msgpack_unpacked un;
	const msgpack_object_kv *kv;
	const char *cause;
	char *body, c;
	size_t len, off = 0;
	uint32_t i;

	ck_assert_int_eq(harness_recv_frame(fd, &body, &len,
	    WIRE_REPLY_TIMEOUT_MS), 0);
	ck_assert_int_eq(proto_scan(body, len, &cause), 0);
	msgpack_unpacked_init(&un);
	ck_assert_int_eq(msgpack_unpack_next(&un, body, len, &off),
	    MSGPACK_UNPACK_SUCCESS);
	ck_assert_int_eq(proto_decode_envelope(&un.data, &env, &cause), 0);
	ck_assert_int_eq(env.type, PROTO_RESPONSE);
	snprintf(result, sizeof result, "none");
	if (env.error != NULL) {
		for (i = 0; i < env.error->via.map.size; i++) {
			kv = &env.error->via.map.ptr[i];
			if (kv->key.via.str.size == 4 &&
			    memcmp(kv->key.via.str.ptr, "code", 4) == 0)
				snprintf(result, sizeof result, "%.*s",
				    (int)kv->val.via.str.size,
				    kv->val.via.str.ptr);
		}
	} else {
		for (i = 0; i < env.payload->via.map.size; i++) {
			kv = &env.payload->via.map.ptr[i];
			if (kv->key.via.str.size == 8 &&
			    memcmp(kv->key.via.str.ptr, "accepted", 8) == 0)
				snprintf(result, sizeof result, "%s",
				    kv->val.via.boolean ? "accepted" :
				    "refused");
			if (kv->key.via.str.size == 7 &&
			    memcmp(kv->key.via.str.ptr, "written", 7) == 0)
				snprintf(result, sizeof result, "written=%llu",
				    (unsigned long long)kv->val.via.u64);
		}
	}
	msgpack_unpacked_destroy(&un);
	free(body);
	if (check_eof) {
		/* relogd closes after a fatal error: read gives 0. */
		*eof = recv(fd, &c, 1, 0) == 0;
	}
	return (result);
}

/* Connect and say hello as runner; relogd must accept. */
int
wire_open(const struct harness *h, const char *runner)
{
	int fd, eof;

	fd = harness_connect(h);
	wire_hello(fd, runner, NULL, 4096);
	ck_assert_str_eq(wire_reply(fd, 0, &eof), "accepted");
	return (fd);
}


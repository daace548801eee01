/*
 * libFuzzer target: bytes as relogd reads them from a peer. The input is
 * cut into frames by their length prefixes (up to relogd's default limit),
 * and each frame goes through relogd's decoding: the scan, msgpack-c's
 * unpacker, the envelope, a hello, a batch and every entry, whose strings
 * are read to the last byte. The whole input also goes through the cursor
 * reader librelog uses on relogd's replies.
 */
#include <stddef.h>
#include <stdint.h>

#include "proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static volatile unsigned fuzz_sink;

/* Read every byte of a string, so the sanitizers see any overrun. */
static void
fuzz_touch(struct proto_str s)
{
	size_t i;

	for (i = 0; s.ptr != NULL && i < s.len; i++)
		fuzz_sink += (unsigned char)s.ptr[i];
}

/* One frame's body, decoded as relogd does. */
static void
fuzz_frame(const char *data, size_t len)
{
	struct proto_envelope env;
	struct proto_hello hello;
	struct proto_batch batch;
	struct proto_entry e;
	msgpack_unpacked u;
	const char *cause;
	uint32_t i;

	msgpack_unpacked_init(&u);
	if (proto_decode_frame(data, len, &u, &env, &cause) == 0) {
		fuzz_touch(env.method);
		fuzz_touch(env.plugin_id);
		if (proto_decode_hello(env.payload, &hello, &cause) == 0) {
			fuzz_touch(hello.runner_id);
			fuzz_touch(hello.plugin_id);
			fuzz_touch(hello.instance);
		}
		if (proto_decode_batch(env.payload, &batch, &cause) == 0) {
			for (i = 0; i < batch.n; i++) {
				if (proto_decode_entry(&batch.entries[i], &e,
				    &cause) != 0)
					continue;
				fuzz_touch(e.logger_name);
				fuzz_touch(e.message);
				fuzz_touch(e.exception_text);
				fuzz_touch(e.color);
				fuzz_sink += (unsigned)proto_utf8_cut(
				    e.message.ptr, e.message.len, 7);
			}
		}
	}
	msgpack_unpacked_destroy(&u);
}

/* The cursor reader, walking whatever map it finds. */
static void
fuzz_reader(const char *data, size_t len)
{
	struct proto_reader r;
	struct proto_str s;
	uint32_t n, i;
	int64_t v;
	int b;

	proto_reader_init(&r, data, len);
	if (proto_read_map(&r, &n) != 0)
		return;
	for (i = 0; i < n; i++) {
		if (proto_read_str(&r, &s) == 0)
			fuzz_touch(s);
		else if (proto_read_skip(&r) != 0)
			return;
		if (proto_read_int(&r, &v) == 0)
			fuzz_sink += (unsigned)v;
		else if (proto_read_bool(&r, &b) == 0)
			fuzz_sink += (unsigned)b;
		else if (proto_read_str(&r, &s) == 0)
			fuzz_touch(s);
		else if (proto_read_skip(&r) != 0)
			return;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *p = data;
	size_t left = size;
	uint32_t len;

	while (left >= RELOG_FRAME_HEADER_SIZE) {
		len = proto_frame_length(p);
		if (len > RELOG_FRAME_MAX_DEFAULT ||
		    left - RELOG_FRAME_HEADER_SIZE < len)
			break;
		fuzz_frame((const char *)p + RELOG_FRAME_HEADER_SIZE, len);
		p += RELOG_FRAME_HEADER_SIZE + len;
		left -= RELOG_FRAME_HEADER_SIZE + len;
	}
	fuzz_reader((const char *)data, size);
	return (0);
}

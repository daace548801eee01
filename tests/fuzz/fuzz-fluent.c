/*
 * libFuzzer target: bytes as a Fluent client sends them to relogd's
 * Forward socket. The input is one stream of messages, cut as relogd cuts
 * it (proto_fluent_scan); each message is decoded and its events read to
 * the last byte, then written as relogd's outputs write records. The stream
 * is scanned twice, whole and then growing a byte at a time as a slow peer
 * sends it: both must find the same messages and end the same way, since
 * where a stream's reads fall is the peer's to choose.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* Small, so that inputs reach it: relogd's own is 512 KiB at least. */
#define FUZZ_MAX 8192
/* Message ends compared between the two scans; past it, not compared. */
#define FUZZ_ENDS_MAX 4096

static volatile unsigned fuzz_sink;
static struct proto_buf fuzz_text;
static struct proto_buf fuzz_out;

/* Read every byte of a string, so the sanitizers see any overrun. */
static void
fuzz_touch(struct proto_str s)
{
	size_t i;

	for (i = 0; s.ptr != NULL && i < s.len; i++)
		fuzz_sink += (unsigned char)s.ptr[i];
}

/* Write an entry as relogd's file and JSON outputs do, cut to a limit. */
static void
fuzz_write(const struct proto_entry *e)
{
	struct proto_line l = { 0 };
	size_t keep;

	l.timestamp_ms = e->timestamp_ms > 0 ? e->timestamp_ms : 1;
	l.level = e->level;
	l.logger_prefix = proto_cstr("");
	l.logger = e->logger_name;
	l.message = e->message;
	keep = proto_utf8_cut(l.message.ptr, l.message.len, 256);
	l.message_cut = l.message.len - keep;
	l.message.len = keep;
	l.exception = e->exception_text;
	fuzz_out.len = 0;
	proto_format_line(&fuzz_out, &l, proto_cstr(""), proto_cstr("\t"));
	proto_format_json(&fuzz_out, &l, proto_cstr("fuzz"));
	fuzz_sink += (unsigned)fuzz_out.len;
}

/* One whole message, decoded as relogd does. */
static void
fuzz_message(const char *data, size_t len)
{
	struct proto_fluent m;
	struct proto_entry e;
	struct proto_str chunk;
	msgpack_unpacked u;
	const char *cause;
	int ret;

	msgpack_unpacked_init(&u);
	if (proto_fluent_decode(data, len, &u, &m, &cause) == 0) {
		fuzz_touch(m.tag);
		while ((ret = proto_fluent_next(&m, &fuzz_text, &e,
		    &cause)) != 0) {
			if (ret != 1)
				continue;
			fuzz_touch(e.logger_name);
			fuzz_touch(e.message);
			fuzz_write(&e);
		}
		if (proto_fluent_chunk(&m, &chunk, &cause) == 0)
			fuzz_touch(chunk);
		proto_fluent_done(&m);
	}
	msgpack_unpacked_destroy(&u);
}

/*
 * Scan the stream as one read, decoding each message: *n of them, the
 * first FUZZ_ENDS_MAX ending where ends says. Returns how the last scan
 * ended: 1 at the stream's end, 0 wanting more, -1 refusing (*cause).
 */
static int
fuzz_whole(const char *data, size_t size, size_t *ends, size_t *n,
    const char **cause)
{
	struct proto_scanner sc;
	size_t off = 0, used;
	int ret = 0;

	*n = 0;
	proto_scanner_init(&sc, 1);
	while (off < size && (ret = proto_fluent_scan(&sc, data + off,
	    size - off, FUZZ_MAX, &used, cause)) == 1) {
		fuzz_message(data + off, used);
		off += used;
		if (*n < FUZZ_ENDS_MAX)
			ends[*n] = off;
		(*n)++;
	}
	return (ret);
}

/*
 * Scan it again a byte more at a time, as relogd would read a slow peer,
 * and check that it cuts the same messages and ends the same way.
 */
static void
fuzz_bytewise(const char *data, size_t size, const size_t *ends,
    size_t nends, int whole, const char *whole_cause)
{
	struct proto_scanner sc;
	const char *cause = NULL;
	size_t off = 0, have = 0, used, n = 0;
	int ret = 0;

	proto_scanner_init(&sc, 1);
	while (off + have < size) {
		have++;
		ret = proto_fluent_scan(&sc, data + off, have, FUZZ_MAX, &used,
		    &cause);
		if (ret < 0)
			break;
		if (ret == 0)
			continue;
		if (used != have)
			abort();	/* it waited past a message's end */
		off += used;
		have = 0;
		if (n < FUZZ_ENDS_MAX && ends[n] != off)
			abort();	/* a message cut elsewhere */
		n++;
	}
	if (n != nends)
		abort();	/* more or fewer messages */
	if (ret != whole)
		abort();	/* one refused, or waited, where one took */
	if (ret < 0 && strcmp(cause, whole_cause) != 0)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static size_t ends[FUZZ_ENDS_MAX];
	const char *cause = NULL;
	size_t nends;
	int ret;

	ret = fuzz_whole((const char *)data, size, ends, &nends, &cause);
	fuzz_bytewise((const char *)data, size, ends, nends, ret, cause);
	return (0);
}

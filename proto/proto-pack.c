/*
 * Packing relog frames. Only msgpack-c's header-only packer is used here:
 * keep it that way, librelog links this file and must not need libmsgpackc.
 */
#include <string.h>

#include "proto.h"

/* Wrap a C string (NULL stays nil). */
struct proto_str
proto_cstr(const char *s)
{
	struct proto_str str = { s, s != NULL ? strlen(s) : 0 };

	return (str);
}

/* Is this wire string equal to a C string? */
int
proto_str_eq(struct proto_str s, const char *c)
{
	size_t len = strlen(c);

	return (s.ptr != NULL && s.len == len && memcmp(s.ptr, c, len) == 0);
}

/*
 * Is this a safe id (a plugin or runner id, which names a file): 1 to
 * RELOG_ID_MAX of [A-Za-z0-9_.-], not starting with a dot (so neither "."
 * nor ".." nor a hidden file)?
 */
int
proto_id_valid(const char *id, size_t len)
{
	size_t i;
	char c;

	if (len == 0 || len > RELOG_ID_MAX || id[0] == '.')
		return (0);
	for (i = 0; i < len; i++) {
		c = id[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.'))
			return (0);
	}
	return (1);
}

/*
 * Is the id one of relogd's own logs (_runtime, _unrouted), which no hello
 * and no logger names and no one owns: their lines would pass for relogd's?
 */
int
proto_id_own_log(const char *id, size_t len)
{
	return ((len == sizeof RELOG_PLUGIN_RUNTIME - 1 &&
	    memcmp(id, RELOG_PLUGIN_RUNTIME, len) == 0) ||
	    (len == sizeof RELOG_PLUGIN_UNROUTED - 1 &&
	    memcmp(id, RELOG_PLUGIN_UNROUTED, len) == 0));
}

/*
 * Length of the valid UTF-8 sequence at p (of at most left bytes), or 0.
 * Here, not in proto-text.c: librelog shows relogd's texts with it.
 */
size_t
proto_utf8_len(const unsigned char *p, size_t left)
{
	size_t n, i;
	uint32_t c;

	if (p[0] < 0x80)
		return (1);
	if ((p[0] & 0xe0) == 0xc0)
		n = 2, c = p[0] & 0x1f;
	else if ((p[0] & 0xf0) == 0xe0)
		n = 3, c = p[0] & 0x0f;
	else if ((p[0] & 0xf8) == 0xf0)
		n = 4, c = p[0] & 0x07;
	else
		return (0);
	if (n > left)
		return (0);
	for (i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return (0);
		c = c << 6 | (p[i] & 0x3f);
	}
	/* No overlong forms, surrogates, or past U+10FFFF. */
	if ((n == 2 && c < 0x80) || (n == 3 && c < 0x800) ||
	    (n == 4 && c < 0x10000) || (c >= 0xd800 && c <= 0xdfff) ||
	    c > 0x10ffff)
		return (0);
	return (n);
}

/*
 * How a text shows the character at p (of at most left bytes): returns the
 * bytes it takes of p; when it is to be shown escaped, writes the escape to
 * esc and its length to *esc_len, else sets *esc_len to 0. Kept: tab,
 * printable ASCII and UTF-8 from U+00A0 on. Escaped: C0 controls, DEL and
 * bytes that are no UTF-8 as \xNN; C1 controls (U+0080 to U+009F) as
 * \u00NN. relogd's files and librelog's stderr both show texts so.
 */
size_t
proto_shown_char(const unsigned char *p, size_t left,
    char esc[PROTO_SHOWN_MAX], size_t *esc_len)
{
	static const char hex[] = "0123456789abcdef";
	size_t n;

	*esc_len = 0;
	if (p[0] == '\t' || (p[0] >= 0x20 && p[0] < 0x7f))
		return (1);
	n = p[0] >= 0x80 ? proto_utf8_len(p, left) : 0;
	if (n == 2 && p[0] == 0xc2 && p[1] < 0xa0) {
		memcpy(esc, "\\u00", 4);
		esc[4] = hex[p[1] >> 4];
		esc[5] = hex[p[1] & 15];
		*esc_len = 6;
		return (2);
	}
	if (n != 0)
		return (n);
	esc[0] = '\\';
	esc[1] = 'x';
	esc[2] = hex[p[0] >> 4];
	esc[3] = hex[p[0] & 15];
	*esc_len = 4;
	return (1);
}

/*
 * How much of a text of len bytes to keep so that it is at most max bytes
 * and does not end inside a UTF-8 sequence. A character is 4 bytes at most:
 * past 3 continuation bytes the text is no UTF-8 there, and is cut at max
 * (not scanned back to its start: librelog cuts in a push).
 */
size_t
proto_utf8_cut(const char *text, size_t len, size_t max)
{
	size_t cut = max;

	if (len <= max)
		return (len);
	while (cut > 0 && max - cut < 3 &&
	    ((unsigned char)text[cut] & 0xc0) == 0x80)
		cut--;
	return (((unsigned char)text[cut] & 0xc0) == 0x80 ? max : cut);
}

/*
 * Write " [truncated N bytes]", the mark of a text cut by n bytes, at dst
 * (PROTO_CUT_MARK_MAX bytes of room, no NUL added); returns its length.
 * No stdio: librelog marks a text in a push, which a signal handler may
 * make.
 */
size_t
proto_cut_mark(char *dst, size_t n)
{
	static const char head[] = " [truncated ", tail[] = " bytes]";
	char digits[20];
	size_t len = sizeof head - 1, k = 0;

	memcpy(dst, head, len);
	do {
		digits[k++] = (char)('0' + n % 10);
		n /= 10;
	} while (n != 0);
	while (k > 0)
		dst[len++] = digits[--k];
	memcpy(dst + len, tail, sizeof tail - 1);
	return (len + sizeof tail - 1);
}

/* Start a frame at the end of the buffer; returns where it starts. */
size_t
proto_frame_begin(msgpack_sbuffer *sb)
{
	static const char placeholder[RELOG_FRAME_HEADER_SIZE];
	size_t start = sb->size;

	msgpack_sbuffer_write(sb, placeholder, sizeof placeholder);
	return (start);
}

/*
 * Finish the frame begun at start: write its big-endian length. Returns -1
 * if the body is larger than max (the caller must not send it).
 */
int
proto_frame_end(msgpack_sbuffer *sb, size_t start, size_t max)
{
	size_t len = sb->size - start - RELOG_FRAME_HEADER_SIZE;
	unsigned char *p = (unsigned char *)sb->data + start;

	if (len > max)
		return (-1);
	p[0] = (unsigned char)(len >> 24);
	p[1] = (unsigned char)(len >> 16);
	p[2] = (unsigned char)(len >> 8);
	p[3] = (unsigned char)len;
	return (0);
}

/* Pack a string, or nil when its pointer is NULL. */
void
proto_pack_str(msgpack_packer *pk, struct proto_str s)
{
	if (s.ptr == NULL) {
		msgpack_pack_nil(pk);
		return;
	}
	msgpack_pack_str(pk, s.len);
	msgpack_pack_str_body(pk, s.ptr, s.len);
}

/* Pack a map key. */
void
proto_pack_key(msgpack_packer *pk, const char *key)
{
	proto_pack_str(pk, proto_cstr(key));
}

/*
 * Pack an envelope map up to and including the "payload" key: the caller
 * packs the payload, then proto_pack_no_error or proto_pack_error.
 */
void
proto_pack_header(msgpack_packer *pk, const struct proto_header *h)
{
	struct proto_str plugin_id = h->plugin_id;

	if (plugin_id.ptr == NULL)
		plugin_id = proto_cstr("");
	msgpack_pack_map(pk, 9);
	proto_pack_key(pk, "protocol_version");
	proto_pack_key(pk, RELOG_PROTOCOL_VERSION);
	proto_pack_key(pk, "request_id");
	msgpack_pack_int64(pk, h->request_id);
	proto_pack_key(pk, "message_type");
	proto_pack_key(pk, h->message_type);
	proto_pack_key(pk, "method");
	proto_pack_str(pk, h->method);
	proto_pack_key(pk, "plugin_id");
	proto_pack_str(pk, plugin_id);
	proto_pack_key(pk, "timestamp_ms");
	msgpack_pack_int64(pk, h->timestamp_ms);
	proto_pack_key(pk, "timeout_ms");
	msgpack_pack_int64(pk, h->timeout_ms);
	proto_pack_key(pk, "payload");
}

/* Close an envelope with "error": nil. */
void
proto_pack_no_error(msgpack_packer *pk)
{
	proto_pack_key(pk, "error");
	msgpack_pack_nil(pk);
}

/* Close an envelope with "error": {code, message, details}. */
void
proto_pack_error(msgpack_packer *pk, const char *code, const char *message)
{
	proto_pack_key(pk, "error");
	msgpack_pack_map(pk, 3);
	proto_pack_key(pk, "code");
	proto_pack_key(pk, code);
	proto_pack_key(pk, "message");
	proto_pack_key(pk, message);
	proto_pack_key(pk, "details");
	msgpack_pack_map(pk, 0);
}

/* Pack one log entry. */
void
proto_pack_entry(msgpack_packer *pk, const struct proto_entry *e)
{
	struct proto_str exc = e->exception_text;

	if (exc.ptr == NULL)
		exc = proto_cstr("");
	msgpack_pack_map(pk, 6);
	proto_pack_key(pk, "timestamp_ms");
	msgpack_pack_int64(pk, e->timestamp_ms);
	proto_pack_key(pk, "level");
	msgpack_pack_int64(pk, e->level);
	proto_pack_key(pk, "logger_name");
	proto_pack_str(pk, e->logger_name);
	proto_pack_key(pk, "message");
	proto_pack_str(pk, e->message);
	proto_pack_key(pk, "exception_text");
	proto_pack_str(pk, exc);
	proto_pack_key(pk, "log_color_in_hex");
	proto_pack_str(pk, e->color);
}

/*
 * Pack a runner.hello payload; plugin_id and instance are left out if nil,
 * plugin_ids if empty, ring if no ring is passed.
 */
void
proto_pack_hello(msgpack_packer *pk, const struct proto_hello *h)
{
	uint32_t i;

	msgpack_pack_map(pk, 3 + (h->plugin_id.ptr != NULL) +
	    (h->instance.ptr != NULL) + (h->nplugin_ids != 0) +
	    (h->ring_version != 0));
	proto_pack_key(pk, "runner_id");
	proto_pack_str(pk, h->runner_id);
	proto_pack_key(pk, "sdk_version");
	proto_pack_str(pk, h->sdk_version);
	proto_pack_key(pk, "session_token");
	proto_pack_str(pk, h->session_token);
	if (h->plugin_id.ptr != NULL) {
		proto_pack_key(pk, "plugin_id");
		proto_pack_str(pk, h->plugin_id);
	}
	if (h->instance.ptr != NULL) {
		proto_pack_key(pk, "instance");
		proto_pack_str(pk, h->instance);
	}
	if (h->nplugin_ids != 0) {
		proto_pack_key(pk, "plugin_ids");
		msgpack_pack_array(pk, h->nplugin_ids);
		for (i = 0; i < h->nplugin_ids; i++)
			proto_pack_str(pk, h->plugin_ids[i]);
	}
	if (h->ring_version != 0) {
		proto_pack_key(pk, "ring");
		msgpack_pack_map(pk, 1);
		proto_pack_key(pk, "version");
		msgpack_pack_uint32(pk, h->ring_version);
	}
}

/*
 * Pack a runner.log_batch payload up to its entries array's header: the
 * caller packs the n entries. seq 0 is left out (no deduplication).
 */
void
proto_pack_batch_head(msgpack_packer *pk, uint32_t n, uint64_t seq,
    uint64_t dropped)
{
	msgpack_pack_map(pk, seq != 0 ? 3 : 2);
	if (seq != 0) {
		proto_pack_key(pk, "seq");
		msgpack_pack_uint64(pk, seq);
	}
	proto_pack_key(pk, "dropped");
	msgpack_pack_uint64(pk, dropped);
	proto_pack_key(pk, "entries");
	msgpack_pack_array(pk, n);
}

/*
 * Pack the payload of the reply to runner.hello; ring says what became of
 * the shared ring (ring_reason: why it was refused). A ring taken is one
 * relogd looks at again after arming it (ring_recheck).
 */
void
proto_pack_hello_reply(msgpack_packer *pk, int accepted, const char *reason,
    enum proto_ring_answer ring, const char *ring_reason)
{
	msgpack_pack_map(pk, ring == PROTO_RING_UNASKED ? 3 : 5);
	proto_pack_key(pk, "accepted");
	if (accepted)
		msgpack_pack_true(pk);
	else
		msgpack_pack_false(pk);
	proto_pack_key(pk, "host_version");
	proto_pack_key(pk, RELOG_PROTOCOL_VERSION);
	proto_pack_key(pk, "reason");
	proto_pack_key(pk, reason != NULL ? reason : "");
	if (ring == PROTO_RING_UNASKED)
		return;
	proto_pack_key(pk, "ring");
	if (ring == PROTO_RING_TAKEN) {
		msgpack_pack_true(pk);
		proto_pack_key(pk, "ring_recheck");
		msgpack_pack_true(pk);
		return;
	}
	msgpack_pack_false(pk);
	proto_pack_key(pk, "ring_reason");
	proto_pack_key(pk, ring_reason != NULL ? ring_reason : "");
}

/* Pack a runner.ring_sync payload: commit past this position. */
void
proto_pack_ring_sync(msgpack_packer *pk, uint64_t position)
{
	msgpack_pack_map(pk, 1);
	proto_pack_key(pk, "position");
	msgpack_pack_uint64(pk, position);
}

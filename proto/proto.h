/*
 * Encoding and decoding of relog frames (see relog-protocol.h, PROTOCOL.md).
 *
 * proto-pack.c and proto-scan.c only use msgpack-c's header-only parts, so
 * librelog links them without needing libmsgpackc at run time.
 * proto-decode.c works on unpacked msgpack-c objects, proto-fluent.c
 * decodes the Fluent Forward input's messages (relogd's), proto-client.c is
 * a blocking client (relogctl, the tests), proto-text.c writes records as
 * text and reads them back, proto-metrics.c writes relogd.stats as
 * Prometheus text, proto-file.c opens files others may have planted:
 * relogd's and relogctl's, not librelog's.
 */
#ifndef RELOG_PROTO_H
#define RELOG_PROTO_H

#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

#include "proto-buf.h"
#include "relog-protocol.h"

/* A string on the wire: not NUL-terminated. ptr == NULL means nil. */
struct proto_str {
	const char *ptr;
	size_t len;
};

/* The envelope keys other than payload and error. */
struct proto_header {
	const char *message_type;
	int64_t request_id;
	struct proto_str method;
	struct proto_str plugin_id;
	int64_t timestamp_ms;
	int64_t timeout_ms;
};

/* One log entry of a runner.log_batch payload. */
struct proto_entry {
	int64_t timestamp_ms;
	int64_t level;
	struct proto_str logger_name;
	struct proto_str message;
	struct proto_str exception_text;	/* len 0 when none */
	struct proto_str color;		/* ptr NULL when nil */
};

enum proto_type {
	PROTO_REQUEST,
	PROTO_RESPONSE,
	PROTO_BROADCAST,
};

/*
 * A decoded envelope. Every pointer borrows from the msgpack object it was
 * decoded from, which itself borrows from the frame bytes: both must outlive
 * it.
 */
struct proto_envelope {
	enum proto_type type;
	int64_t request_id;
	struct proto_str method;
	struct proto_str plugin_id;
	int64_t timestamp_ms;
	int64_t timeout_ms;
	const msgpack_object *payload;	/* a map, never NULL after decode */
	const msgpack_object *error;	/* NULL when absent or nil */
};

/*
 * The runner.hello payload. plugin_ids (relog's extension) is packed from
 * the plugin_ids array, and decoded into plugin_ids_array (read it with
 * proto_hello_plugin_id).
 */
struct proto_hello {
	struct proto_str runner_id;
	struct proto_str sdk_version;
	struct proto_str session_token;
	struct proto_str plugin_id;	/* relog's extension; ptr NULL if absent */
	struct proto_str instance;	/* relog's extension; ptr NULL if absent */
	const struct proto_str *plugin_ids;	/* packing; NULL: none */
	uint32_t nplugin_ids;
	const msgpack_object *plugin_ids_array;	/* decoded; NULL: absent */
	uint32_t ring_version;	/* relog's extension: a shared ring is passed
				   with the hello (RELOG_RING_VERSION); 0: no */
};

/*
 * What a hello reply says of the shared ring: nothing (the hello asked for
 * none), no (with a reason), or yes.
 */
enum proto_ring_answer {
	PROTO_RING_UNASKED,
	PROTO_RING_REFUSED,
	PROTO_RING_TAKEN,
};

/* A runner.log_batch payload. entries borrows like an envelope. */
struct proto_batch {
	const msgpack_object *entries;
	uint32_t n;
	uint64_t seq;		/* relog's extension; 0 if absent */
	uint64_t dropped;	/* relog's extension; 0 if absent */
};

/*
 * A record to write as text (proto_format_line, proto_format_json). The
 * strings are borrowed; a *_cut is how many bytes were cut off the text
 * (0: none), which the line marks.
 */
struct proto_line {
	int64_t timestamp_ms;
	int64_t level;
	struct proto_str logger_prefix;	/* before the name: a strict plugin's */
	struct proto_str logger;
	struct proto_str message;
	struct proto_str exception;	/* len 0: none */
	size_t logger_cut;
	size_t message_cut;
	size_t exception_cut;
};

/*
 * How relogctl dresses a record line for a terminal
 * (proto_format_line_styled): the level name between level_on and
 * level_off (SGR sequences, or NULL), then padded to CRITICAL's width.
 */
struct proto_line_style {
	const char *level_on;
	const char *level_off;
	int pad_level;
};

/* Room for a level's name, "LEVEL-9223372036854775808" included. */
#define PROTO_LEVEL_NAME_MAX 32

/* relogd's default cuts of a record's texts (max_message and the others). */
#define PROTO_MESSAGE_CUT_DEFAULT (64u * 1024)
#define PROTO_EXCEPTION_CUT_DEFAULT (256u * 1024)
#define PROTO_LOGGER_CUT_DEFAULT 256u
#define PROTO_LOGGER_CUT_MAX 4096u	/* the most max_logger_name may be */

/*
 * The longest record proto_format_line writes (its lines and newlines) of
 * texts cut to these: a byte is escaped to 4 at most, and the time, level,
 * logger's prefix and cut marks take less than 1 KiB.
 */
#define PROTO_LINE_MAX(message, exception, logger) \
	(4 * ((size_t)(message) + (exception) + (logger)) + 1024)
#define PROTO_LINE_MAX_DEFAULT PROTO_LINE_MAX(PROTO_MESSAGE_CUT_DEFAULT, \
	PROTO_EXCEPTION_CUT_DEFAULT, PROTO_LOGGER_CUT_DEFAULT)

/* A frame read by proto_client_recv: its body, and the envelope in it. */
struct proto_msg {
	char *body;
	size_t len;
	msgpack_unpacked u;
	struct proto_envelope env;	/* borrows from u and body */
};

/* Where a scan of a streamed object stands (proto-scan.c). */
struct proto_scanner {
	uint64_t pending[RELOG_NEST_MAX + 1];	/* elements left per level */
	int depth;		/* -1: done */
	size_t off;		/* where the next element starts */
	uint64_t objects;	/* elements so far (msgpack_objects to make) */
	int stream;
};

/*
 * What msgpack-c may make of a body of len bytes: one object (24 bytes) per
 * PROTO_OBJECT_BYTES bytes, and some; real envelopes hold one per ten or
 * more. So unpacking a frame takes at most about six times its size.
 */
#define PROTO_OBJECT_BYTES 4
#define PROTO_OBJECTS_MAX(len) ((len) / PROTO_OBJECT_BYTES + 64)

/* The three modes of a Fluent Forward message (proto-fluent.c). */
enum proto_fluent_mode {
	PROTO_FLUENT_MESSAGE,	/* [tag, time, record, option?] */
	PROTO_FLUENT_FORWARD,	/* [tag, [[time, record], ...], option?] */
	PROTO_FLUENT_PACKED,	/* [tag, bin of [time, record] ..., opt?] */
};

/*
 * A Fluent Forward message, decoded: its tag, its option, where its events
 * are, and how far proto_fluent_next has read them. It borrows from the
 * msgpack object it was decoded from; a PackedForward's events are unpacked
 * one at a time into packed (proto_fluent_done frees it).
 */
struct proto_fluent {
	enum proto_fluent_mode mode;
	struct proto_str tag;
	const msgpack_object *option;	/* NULL: none */
	/* Message: the message itself; Forward: the array of events. */
	const msgpack_object *events;
	struct proto_str blob;	/* PackedForward */
	size_t next;		/* the next event: an index, or an offset */
	msgpack_unpacked packed;
};

/* A cursor over raw msgpack bytes (proto-scan.c). */
struct proto_reader {
	const unsigned char *p;
	size_t len;
	size_t off;
};

/* Room for the escape of one character (proto_shown_char): \u00NN. */
#define PROTO_SHOWN_MAX 6

/* Room for " [truncated N bytes]" of any N (proto_cut_mark). */
#define PROTO_CUT_MARK_MAX 40

/* proto-pack.c */
struct proto_str proto_cstr(const char *);
int	proto_str_eq(struct proto_str, const char *);
int	proto_id_valid(const char *, size_t);
int	proto_id_own_log(const char *, size_t);
size_t	proto_utf8_cut(const char *, size_t, size_t);
size_t	proto_cut_mark(char *, size_t);
size_t	proto_frame_begin(msgpack_sbuffer *);
int	proto_frame_end(msgpack_sbuffer *, size_t, size_t);
void	proto_pack_str(msgpack_packer *, struct proto_str);
void	proto_pack_key(msgpack_packer *, const char *);
void	proto_pack_header(msgpack_packer *, const struct proto_header *);
void	proto_pack_no_error(msgpack_packer *);
void	proto_pack_error(msgpack_packer *, const char *, const char *);
void	proto_pack_entry(msgpack_packer *, const struct proto_entry *);
void	proto_pack_hello(msgpack_packer *, const struct proto_hello *);
void	proto_pack_batch_head(msgpack_packer *, uint32_t, uint64_t, uint64_t);
void	proto_pack_hello_reply(msgpack_packer *, int, const char *,
	    enum proto_ring_answer, const char *);
void	proto_pack_ring_sync(msgpack_packer *, uint64_t);

/* proto-scan.c */
uint32_t proto_frame_length(const unsigned char *);
int	proto_scan(const char *, size_t, const char **);
void	proto_scanner_init(struct proto_scanner *, int);
int	proto_scanner_run(struct proto_scanner *, const unsigned char *, size_t,
	    const char **);
void	proto_reader_init(struct proto_reader *, const char *, size_t);
int	proto_read_skip(struct proto_reader *);
int	proto_read_map(struct proto_reader *, uint32_t *);
int	proto_read_str(struct proto_reader *, struct proto_str *);
int	proto_read_bool(struct proto_reader *, int *);
int	proto_read_int(struct proto_reader *, int64_t *);
int	proto_read_array(struct proto_reader *, uint32_t *);
int	proto_read_find(struct proto_reader *, const char *);

/* proto-decode.c */
int	proto_decode_frame(const char *, size_t, msgpack_unpacked *,
	    struct proto_envelope *, const char **);
int	proto_decode_envelope(const msgpack_object *, struct proto_envelope *,
	    const char **);
int	proto_decode_hello(const msgpack_object *, struct proto_hello *,
	    const char **);
uint32_t proto_hello_nplugin_ids(const struct proto_hello *);
struct proto_str proto_hello_plugin_id(const struct proto_hello *, uint32_t);
int	proto_decode_batch(const msgpack_object *, struct proto_batch *,
	    const char **);
int	proto_decode_ring_sync(const msgpack_object *, uint64_t *,
	    const char **);
int	proto_decode_entry(const msgpack_object *, struct proto_entry *,
	    const char **);
const msgpack_object *proto_map_get(const msgpack_object *, const char *);

/* proto-fluent.c */
int	proto_fluent_scan(struct proto_scanner *, const char *, size_t,
	    size_t, size_t *, const char **);
int	proto_fluent_decode(const char *, size_t, msgpack_unpacked *,
	    struct proto_fluent *, const char **);
int	proto_fluent_next(struct proto_fluent *, struct proto_buf *,
	    struct proto_entry *, const char **);
int	proto_fluent_chunk(const struct proto_fluent *, struct proto_str *,
	    const char **);
void	proto_fluent_done(struct proto_fluent *);

/* proto-client.c */
int	proto_client_connect(const char *);
void	proto_client_frame(msgpack_sbuffer *, const struct proto_header *,
	    void (*)(msgpack_packer *, void *), void *);
int	proto_client_send(int, const char *, size_t);
int	proto_client_recv(int, int, struct proto_msg *, const char **);
void	proto_msg_free(struct proto_msg *);

/* proto-text.c */
const char *proto_level_name(int64_t, char [PROTO_LEVEL_NAME_MAX]);
int	proto_level_parse(struct proto_str, int64_t *);
int	proto_level_priority(int64_t);
void	proto_format_time(struct proto_buf *, int64_t);
void	proto_escape(struct proto_buf *, struct proto_str, int);
void	proto_format_line(struct proto_buf *, const struct proto_line *,
	    struct proto_str, struct proto_str);
void	proto_format_line_styled(struct proto_buf *,
	    const struct proto_line *, struct proto_str, struct proto_str,
	    const struct proto_line_style *);
int	proto_parse_time(const char *, size_t, int64_t *);
int	proto_parse_line(char *, size_t, struct proto_line *);
size_t	proto_utf8_len(const unsigned char *, size_t);
size_t	proto_shown_char(const unsigned char *, size_t,
	    char [PROTO_SHOWN_MAX], size_t *);
void	proto_json_text(struct proto_buf *, struct proto_str);
void	proto_json_str(struct proto_buf *, struct proto_str);
void	proto_format_json(struct proto_buf *, const struct proto_line *,
	    struct proto_str);

/* proto-metrics.c */
int	proto_metrics_format(struct proto_buf *, const char *, size_t);

/* proto-file.c */
struct stat;
int	proto_openat(int, const char *, int, mode_t, struct stat *);

#endif

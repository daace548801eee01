/* relogd's private header: structs, then prototypes by file. */
#ifndef RELOGD_H
#define RELOGD_H

#include <sys/queue.h>
#include <sys/types.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <event2/bufferevent.h>
#include <event2/event.h>

#include "proto.h"

#define RELOGD_VERSION "0.1.0"
#define RELOGD_SOCKET_DEFAULT "/run/relogd/relogd.sock"
#define RELOGD_LOG_DIR_DEFAULT "/var/log/relogd"
#define RELOGD_STATE_DIR_DEFAULT "/var/lib/relogd"
#define RELOGD_CONFIG_DEFAULT "/etc/relogd/relogd.conf"

/* syslog priorities, for the <N> prefix journald reads. */
#define RELOGD_PRI_CRIT 2
#define RELOGD_PRI_ERR 3
#define RELOGD_PRI_WARNING 4
#define RELOGD_PRI_NOTICE 5
#define RELOGD_PRI_INFO 6
#define RELOGD_PRI_DEBUG 7

/* A list of uids (allow_uids, admin_uids). */
struct uid_list {
	uid_t *uids;		/* NULL: not set */
	size_t n;
};

/* A rate limit: burst records per interval; burst 0 is off. */
struct config_rate {
	uint32_t burst;
	uint32_t interval_s;
};

/* Where a plugin's records go (sinks = file, stderr, json). */
#define SINK_TO_FILE 0x1
#define SINK_TO_STDERR 0x2
#define SINK_TO_JSON 0x4
#define SINK_TO_JOURNALD 0x8

/* Forward sinks a plugin may have, and their list's length in settings. */
#define RELOGD_FORWARD_MAX 4
#define RELOGD_FORWARD_LIST_MAX 1024

/* A plugin's settings: its section, else [plugin.*], else the defaults. */
struct plugin_settings {
	int strict;		/* logger names kept under plugin.<id> */
	struct config_rate rate;
	int64_t level;		/* records below it are not written */
	char file[RELOG_ID_MAX + 1];	/* under log_dir; "": <id>.log */
	int sinks;		/* SINK_TO_*; 0: file, and stderr if set */
	size_t max_size;	/* rotate the file past it; 0: never */
	size_t keep;		/* rotated files kept */
	char forward[RELOGD_FORWARD_LIST_MAX];	/* URIs; "": none */
};

/* A [plugin.NAME] or [plugin.*] section: what it sets. */
struct plugin_config {
	char *name;
	struct plugin_settings set;
	int has_strict, has_rate, has_level, has_file, has_sinks;
	int has_max_size, has_keep, has_forward;
	struct plugin_config *next;
};

/* Settings: defaults, then the config file, then the command line. */
struct config {
	char *socket_path;
	char *forward_socket;	/* Fluent's Forward protocol; NULL: none */
	mode_t socket_mode;
	char *socket_group;	/* NULL: the process's */
	char *log_dir;
	char *state_dir;
	int to_stderr;		/* records also go to stderr */
	int verbose;
	char *token_file;
	char *token;		/* read from token_file; NULL: none */
	size_t token_len;
	struct uid_list allow_uids;	/* not set: any uid */
	struct uid_list admin_uids;	/* besides root and relogd's own */
	size_t max_frame;
	size_t max_entries;	/* per batch; the rest are rejected */
	size_t max_message;	/* longer texts are cut and marked */
	size_t max_exception;
	size_t max_logger;
	size_t max_connections;
	size_t max_plugins;
	size_t hello_timeout_s;
	size_t idle_timeout_s;	/* 0: none */
	struct config_rate rate;	/* for plugins without their own */
	char *forward;		/* for plugins without their own; NULL: none */
	size_t forward_memory;	/* bytes each forward sink holds in memory */
	size_t forward_disk;	/* and in its file queue */
	size_t forward_retry_max_s;	/* reconnect backoff's cap */
	size_t forward_timeout_s;	/* for a connect, an ack */
	char *forward_tls_ca;	/* NULL: the system's CAs */
	char *forward_tls_cert;	/* a client certificate; NULL: none */
	char *forward_tls_key;
	struct plugin_config *plugins;
};

/*
 * A growable byte buffer, used for pending output of each sink: records of a
 * batch are formatted into it and written out with one write(2).
 */
struct outbuf {
	char *data;
	size_t len;
	size_t cap;
};

/* A reply being packed (client.c): the caller packs the payload. */
struct client_reply {
	msgpack_sbuffer sb;
	msgpack_packer pk;
	size_t start;
};

/* A relogctl tail: which records it wants, and how many it missed. */
struct control_tail {
	char plugins[8][RELOG_ID_MAX + 1];
	size_t nplugins;	/* 0: every plugin */
	int64_t level;		/* the least level */
	uint64_t dropped;	/* not sent: it read too slowly */
	uint64_t told;		/* dropped, as last told */
	int follow;
};

/* Bytes a sink may hold before its clients stop being read, and resume. */
#define SINK_HIGH_WATER (1024u * 1024)
#define SINK_LOW_WATER (256u * 1024)
/* Past this, relogd's own messages to stderr are dropped, and counted. */
#define SINK_OWN_MAX (4u * 1024 * 1024)

/*
 * An output: a plugin's file, or stderr. Formatted records wait in out from
 * off on; writes never block. queued and written count bytes ever, so a
 * batch's acknowledgement can wait for "written >= what was queued".
 */
struct sink {
	char *name;		/* the path, or "stderr" */
	int fd;			/* -1 while a file cannot be opened */
	int is_file;
	int is_socket;		/* send(MSG_DONTWAIT) */
	int broken;		/* an error was logged already */
	struct outbuf out;
	size_t off;
	uint64_t queued;
	uint64_t written;
	uint64_t lost;		/* bytes given up on after write errors */
	size_t max_size;	/* a file rotated past this; 0: never */
	size_t keep;		/* rotated files kept: name.1 .. name.keep */
	uint64_t size;		/* the file's, as written */
	uint64_t own_dropped;	/* relogd's own lines not written */
	struct event *wev;	/* EV_WRITE once the kernel said EAGAIN */
	int dirty;		/* on the list of sinks to flush */
	TAILQ_ENTRY(sink) dirty_entry;
};

/*
 * A record on its way into the sinks: the entry as decoded (borrowing from
 * the frame), cut to relogd's limits, with what was cut and, under strict,
 * the prefix its untrusted logger name is put under.
 */
struct record {
	struct proto_entry e;
	struct proto_str logger_prefix;	/* "plugin.<id>." or empty */
	size_t name_cut;	/* bytes cut off the logger name */
	size_t msg_cut;
	size_t exc_cut;
};

void	outbuf_grow(struct outbuf *, size_t);

/* Append bytes to a buffer (inline: it runs several times per record). */
static inline void
outbuf_add(struct outbuf *b, const void *data, size_t len)
{
	if (len == 0)
		return;
	if (len > b->cap - b->len)
		outbuf_grow(b, len);
	memcpy(b->data + b->len, data, len);
	b->len += len;
}

/* The sinks a batch wrote to, each with how far it had queued then. */
struct sink_mark {
	struct sink *sink;
	uint64_t mark;
};

/* One rate-limit window of a plugin (journald's scheme). */
struct rate_budget {
	int64_t window_start;	/* monotonic ms */
	uint32_t used;
	uint64_t suppressed;	/* in this window */
	struct event *ev;	/* at window end, with some suppressed */
	struct plugin *owner;
	int high;		/* ERROR and above */
};

/*
 * A record queued for a forward sink, after its u32 length (which counts
 * this header and the texts after it: plugin id, logger name, message,
 * exception). The same bytes are held in memory and in the file queue.
 */
struct remote_rec {
	int64_t timestamp_ms;
	int64_t level;
	uint32_t pid;		/* the runner's; 0: unknown */
	uint32_t message_len;
	uint32_t exception_len;
	uint16_t plugin_len;
	uint16_t logger_len;
};
/* A record comes from one frame: its texts fit in one, and some marks. */
#define REMOTE_REC_MAX (RELOG_FRAME_MAX_LIMIT + 64u * 1024)
#define SPOOL_SEGMENT_MAX (4u * 1024 * 1024)
#define SPOOL_SEGMENT_LAST ((uint64_t)1 << 48)	/* numbers past it: renumber */

/* A place in a file queue: a segment and an offset in it. */
struct spool_pos {
	uint64_t seg;
	uint64_t off;
};

/* A forward sink's file queue (spool.c). */
struct spool {
	char *dir;
	uint64_t max_bytes;	/* all segments */
	uint64_t seg_max;	/* one segment */
	uint64_t head;		/* the oldest segment */
	uint64_t tail;		/* the one appended to */
	uint64_t tail_size;	/* its size, with wbuf */
	uint64_t bytes;		/* every segment's */
	uint64_t records;	/* from ack to the end */
	struct spool_pos ack;	/* the first record not acked */
	struct spool_pos read;	/* the next record to send */
	int wfd;
	struct outbuf wbuf;	/* appended, not written yet */
	uint64_t wbuf_records;
	uint64_t lost;		/* could not be written (spool_take_lost) */
	int rfd;		/* the segment being read */
	uint64_t rseg;
	struct outbuf rbuf;	/* bytes of it, from offset rbase */
	uint64_t rbase;
	int cursor_fd;
	int broken;		/* an error was said */
};

/* A batch sent to a collector, not acked yet. */
struct remote_batch {
	int on_disk;		/* its records are in the file queue */
	struct spool_pos end;	/* on disk: where its last record ends */
	uint64_t mem_end;	/* in memory: the same, as a stream offset */
	uint32_t records;
	uint32_t chunk;		/* Fluent: the number in its chunk id */
	int acked;
};

enum remote_kind {
	REMOTE_SYSLOG,		/* RFC 5424, RFC 6587 octet counting */
	REMOTE_FLUENT,		/* Fluent Forward, PackedForward */
};

enum remote_state {
	REMOTE_DOWN,		/* waiting to connect (or to retry) */
	REMOTE_CONNECTING,
	REMOTE_UP,
	REMOTE_CLOSING,		/* syslog: sent all, waiting for its EOF */
};

/*
 * A forward sink: a collector relogd sends records to, shared by every
 * plugin naming its URI. Records wait in memory (mem, from mem_head; those
 * before mem_sent are sent), or in the file queue, which holds older
 * records than memory does.
 */
struct remote {
	char *uri;
	enum remote_kind kind;
	int tls;
	char *host;		/* NULL: a Unix socket at path */
	char *port;
	char *path;
	enum remote_state state;
	struct bufferevent *bev;
	struct event *timer;	/* retry, or syslog's idle close */
	unsigned failures;	/* in a row, without an ack in between */
	int said_down;
	int half_closed;	/* syslog: SHUT_WR sent */
	int resync;		/* batches in flight lost records on disk */
	msgpack_unpacker *acks;	/* Fluent's answers */

	struct outbuf mem;	/* records; mem.data[0] is offset mem_base */
	uint64_t mem_base;
	uint64_t mem_head;	/* the first record not acked */
	uint64_t mem_sent;	/* the first not sent */
	uint64_t mem_records;	/* from mem_head on */
	struct spool spool;

	struct remote_batch *batches;	/* in flight, oldest first */
	size_t nbatches;
	size_t batches_cap;
	uint64_t since_close;	/* syslog: bytes sent on this connection */
	uint32_t next_chunk;

	uint64_t sent;
	uint64_t acked;
	uint64_t dropped;
	uint64_t dropped_unsaid;
	int64_t said_dropped_at;	/* monotonic ms */
	struct event *say_timer;	/* to say more dropped, later */
	int dirty;
	struct remote *next;
};

/*
 * A plugin's logger: where its records end up. Created on first use, kept
 * until exit.
 */
struct plugin {
	char id[RELOG_ID_MAX + 1];
	/* "plugin.<id>." for strict mode; logger_len leaves out the dot. */
	char logger[sizeof RELOG_PLUGIN_PREFIX + RELOG_ID_MAX + 1];
	size_t logger_len;
	struct sink file;	/* DIR/<id>.log, or the file setting */
	struct sink json;	/* DIR/<id>.json, with sinks = json */
	struct plugin_settings set;
	struct rate_budget budgets[2];	/* below ERROR; ERROR and above */
	struct remote *forward[RELOGD_FORWARD_MAX];
	size_t nforward;
	uint64_t records;
	uint64_t bytes;
	uint64_t dropped_by_runners;	/* their rings overflowed */
	uint64_t suppressed;	/* by the rate limit */

	struct plugin *hash_next;
};

/*
 * A reply owed to a peer, or a batch's seq to record: settled once every
 * sink the batch fed has written past its mark (and, for a resent batch,
 * once its first copy is recorded). Every reply after the hello goes
 * through here, so replies keep the order of their requests.
 */
struct ack {
	int64_t request_id;	/* -1: nothing to answer (a broadcast) */
	char method[RELOG_ID_MAX + 1];	/* echoed, cut to an id's length */
	size_t method_len;
	char plugin_id[RELOG_ID_MAX + 1];
	size_t plugin_id_len;
	int batch;		/* payload {written, rejected}; else {} */
	uint32_t written;
	uint32_t rejected;
	const char *code;	/* error code, or NULL */
	char chunk[RELOG_ID_MAX + 1];	/* Fluent: answered {"ack": chunk} */
	size_t chunk_len;
	const char *message;	/* static */
	uint64_t seq;		/* record once written; 0: none */
	uint64_t after_seq;	/* a resend: wait until this is recorded */
	size_t nmarks;
	struct sink_mark *marks;
	TAILQ_ENTRY(ack) entry;
};
TAILQ_HEAD(acks, ack);

/*
 * A connection. Each is a small state machine:
 * CLIENT_HELLO: connected, waiting for runner.hello (on a timer);
 * CLIENT_READY: said hello, sending batches;
 * CLIENT_CLOSING: a last reply is being written, then it is freed;
 * CLIENT_DEAD: the connection is gone, but acknowledgements it was owed
 * are still waiting for sinks: their seqs are recorded when written, then
 * the struct is freed.
 */
enum client_state {
	CLIENT_HELLO,
	CLIENT_READY,
	CLIENT_CLOSING,
	CLIENT_DEAD,
};

struct client {
	uint64_t id;		/* for relogd's own messages */
	int fd;
	int forward;		/* a Fluent Forward client: no hello, no frames */
	struct proto_scanner scan;	/* Forward: the message being read */
	struct event *read_ev;	/* readable, or idle too long */
	struct evbuffer *in;	/* read, not yet handled: one frame at most */
	struct bufferevent *bev;	/* replies (it owns and closes fd) */
	struct event *timer;	/* hello timeout */
	enum client_state state;

	pid_t pid;		/* SO_PEERCRED at accept */
	uid_t uid;

	char runner_id[RELOG_ID_MAX + 1];
	struct plugin *plugin;	/* from hello; NULL: route by logger name */
	struct plugin *own;	/* named after the runner: the fallback */
	int state_slot;		/* runner's dedup state; -1: none */
	uint64_t records;
	uint64_t duplicates;	/* resent records not written again */

	struct acks acks;	/* owed, oldest first */
	struct sink_mark *touched;	/* sinks the current frame wrote to */
	size_t ntouched;
	size_t touched_cap;
	int congested;		/* a sink it feeds is full: not reading */
	int output_full;	/* it does not read its replies: not reading */
	int owing;		/* on client_owing: acks wait */
	struct control_tail *tail;	/* relogctl tail -f; NULL: none */

	TAILQ_ENTRY(client) entry;
	TAILQ_ENTRY(client) owing_entry;
	TAILQ_ENTRY(client) congested_entry;
};
TAILQ_HEAD(clients, client);

/* relogd.c */
extern struct event_base *relogd_base;
extern time_t relogd_started;
extern struct config relogd_config;
int64_t	relogd_now_ms(clockid_t);

/* log.c */
void	log_open(int);
void	log_debug(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_error(const char *, ...) __attribute__((format(printf, 1, 2)));
__attribute__((noreturn, format(printf, 1, 2)))
void	fatal(const char *, ...);
__attribute__((noreturn, format(printf, 1, 2)))
void	fatalx(const char *, ...);

/* config.c */
void	config_defaults(struct config *);
int	config_set(struct config *, const char *, const char *, const char *,
	    char **);
int	config_load(struct config *, const char *, char **);
int	config_finish(struct config *, char **);
void	config_plugin(const struct config *, const char *,
	    struct plugin_settings *);
void	config_free(struct config *);
int	config_uid_listed(const struct uid_list *, uid_t);

/* server.c */
void	server_start(void);
void	server_stop(void);
void	server_client_gone(void);

/* client.c */
void	client_create(int, int);
void	client_drain_all(void);
void	client_free_all(void);
void	client_sinks_progressed(void);
void	client_touched(struct client *, struct sink *);
int	client_fail(struct client *, const struct proto_envelope *,
	    const char *, const char *);
void	client_record(struct client *, int64_t, struct record *);
struct plugin *client_route(struct client *, const struct proto_entry *);
struct ack *client_ack_new(const struct proto_envelope *, int);
void	client_ack_queue(struct client *, struct ack *, int);
void	client_reading(struct client *, int);
size_t	client_count(void);
void	client_foreach(void (*)(struct client *, void *), void *);
void	client_reply_begin(struct client_reply *,
	    const struct proto_envelope *);
void	client_broadcast_begin(struct client_reply *, const char *,
	    int64_t);
void	client_reply_send(struct client *, struct client_reply *,
	    const char *, const char *);
void	client_error(struct client *, const struct proto_envelope *,
	    const char *, const char *);
int	client_writable(const struct client *, size_t);
void	client_send(struct client *, const char *, size_t);

/* control.c */
int	control_method(struct proto_str);
void	control_request(struct client *, const struct proto_envelope *);
void	control_record(const struct plugin *, const struct record *);
void	control_client_gone(struct client *);
void	control_drained(struct client *);
void	control_free(void);

/* plugin.c */
int	plugin_id_valid(const char *, size_t);
struct plugin *plugin_get(const char *, size_t);
struct plugin *plugin_for_logger(struct proto_str);
struct plugin *plugin_unrouted(void);
void	plugin_write(struct plugin *, const struct record *, struct client *);
void	plugin_notice_record(struct record *, const char *);
void	plugin_notice(struct plugin *, const char *, struct client *);
void	plugin_reopen_all(void);
void	plugin_reconfigure_all(void);
void	plugin_drain_all(void);
void	plugin_free_all(void);
void	plugin_foreach(void (*)(struct plugin *, void *), void *);

/* sink.c (and outbuf_grow above) */
void	outbuf_free(struct outbuf *);
int	sink_priority(int64_t);
void	sink_format(struct sink *, const char *, const struct record *, int);
struct sink *sink_stderr(void);
void	sink_stderr_close(void);
void	sink_write_line(struct sink *, const char *, size_t);
void	sink_init_file(struct sink *, const char *, size_t, size_t);
void	sink_format_json(struct sink *, const char *, const struct record *);
void	sink_format_level(struct outbuf *, int64_t);
void	sink_json_str(struct outbuf *, struct proto_str);
void	sink_format_time(struct outbuf *, int64_t);
void	sink_reopen(struct sink *);
void	sink_set_file(struct sink *, const char *, size_t, size_t);
size_t	sink_pending(const struct sink *);
void	sink_touch(struct sink *);
void	sink_flush(struct sink *);
void	sink_flush_all(void);
void	sink_drain(struct sink *, int64_t);
void	sink_free(struct sink *);

/* forward.c */
int	forward_process(struct client *);
void	forward_free(void);

/* remote.c */
int	remote_list_check(const char *, char **);
size_t	remote_resolve(const char *, struct remote **);
void	remote_init(void);
void	remote_start_all(int);
void	remote_enqueue(struct remote *, const char *, const struct record *,
	    pid_t);
void	remote_flush_all(void);
void	remote_drain_all(void);
void	remote_foreach(void (*)(struct remote *, void *), void *);
void	remote_free_all(void);

/* spool.c */
int	spool_open(struct spool *, const char *, uint64_t);
int	spool_pending(const struct spool *);
uint64_t spool_append(struct spool *, const char *, size_t);
void	spool_flush(struct spool *);
struct spool_pos spool_end(const struct spool *);
int	spool_unread(const struct spool *);
const char *spool_peek(struct spool *, size_t *);
void	spool_consume(struct spool *, size_t);
void	spool_drop_read(struct spool *, size_t);
uint64_t spool_take_lost(struct spool *);
struct spool_pos spool_tell(const struct spool *);
void	spool_rewind(struct spool *);
void	spool_skip_all(struct spool *);
void	spool_ack(struct spool *, struct spool_pos, uint64_t);
void	spool_close(struct spool *);

/* journal.c */
void	journal_send(const char *, const struct record *, pid_t);
void	journal_free(void);

/* state.c */
void	state_open(const char *);
void	state_close(void);
int	state_lookup(struct proto_str, struct proto_str);
void	state_release(int);
uint64_t state_accepted(int);
uint64_t state_recorded(int);
void	state_accept(int, uint64_t);
void	state_record(int, uint64_t);

#endif

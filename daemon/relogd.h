/*
 * relogd's private header: a glossary, the layers, the structs, then the
 * prototypes of each file, from the top layer down.
 *
 *   connection  an accepted socket (struct client): a runner, relogctl, or
 *               a Fluent client
 *   record      one log entry on its way to the outputs (struct record)
 *   plugin      a plugin's logger (struct plugin): settings, rate limits,
 *               and the outputs its records fan out to
 *   output      where records go: a file or stderr (struct sink), journald,
 *               the tails of relogctl, a remote
 *   remote      a collector relogd sends records on to (struct remote),
 *               over syslog or Fluent Forward; the "forward" config key
 *   fluent      the Fluent Forward *input* (fluent.c, forward_socket)
 *   ring        a runner's shared ring (ring.c): records relogd reads out
 *               of the runner's memory, passed with its hello
 *   ack         a reply owed once the outputs a batch fed have written it
 *
 * Each layer calls only the ones below it; news goes back up through
 * callbacks (README.md in this folder draws it):
 *
 *   intake     main.c server.c metrics.c runner.c control.c fluent.c ring.c
 *              reply.c client.c
 *   records    record.c route.c
 *   plugins    plugin.c
 *   outputs    sink.c journal.c tail.c remote.c remote-syslog.c
 *              remote-fluent.c remote-conn.c remote-queue.c
 *   utilities  ack.c owner.c spool.c state.c config-load.c config.c uri.c
 *              log.c relogd.c, proto/
 */
#ifndef RELOGD_H
#define RELOGD_H

#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "proto.h"
#include "relog-ring.h"

#define RELOGD_VERSION "0.1.0"
#define RELOGD_LOG_DIR_DEFAULT "/var/log/relogd"
#define RELOGD_STATE_DIR_DEFAULT "/var/lib/relogd"
#define RELOGD_CONFIG_DEFAULT "/etc/relogd/relogd.conf"

struct ack_owner;
struct client;
struct plugin;
struct remote;
struct ring;
struct sink;

/* A list of uids (allow_uids, admin_uids). */
struct uid_list {
	uid_t *uids;		/* NULL: not set */
	size_t n;
};

/* The uids that own a plugin ([plugin.NAME] uids). */
#define RELOGD_PLUGIN_UIDS_MAX 16
struct uid_set {
	uid_t uids[RELOGD_PLUGIN_UIDS_MAX];
	size_t n;
};

/* A plugin's secret: its token, given in the config or read from a file. */
#define RELOGD_TOKEN_MAX 256

/* A rate limit: burst records per interval; burst 0 is off. */
struct config_rate {
	uint32_t burst;
	uint32_t interval_s;
};

/* The outputs a plugin's records go to ("sinks = file, stderr, ..."). */
#define OUTPUT_FILE 0x1
#define OUTPUT_STDERR 0x2
#define OUTPUT_JSON 0x4
#define OUTPUT_JOURNALD 0x8

/* Remotes a plugin may have, and their list's length in settings. */
#define RELOGD_REMOTE_MAX 4
#define RELOGD_REMOTE_LIST_MAX 1024

/* A plugin's settings: its section, else [plugin.*], else [relogd]'s. */
struct plugin_settings {
	int strict;		/* logger names kept under plugin.<id> */
	struct config_rate rate;
	int64_t level;		/* records below it are not written */
	char file[RELOG_ID_MAX + 1];	/* under log_dir; "": <id>.log */
	int outputs;		/* OUTPUT_*; 0: file, and stderr if set */
	size_t max_size;	/* rotate the file past it; 0: never */
	size_t keep;		/* rotated files kept */
	char remotes[RELOGD_REMOTE_LIST_MAX];	/* URIs; "": none */
	/* Who may write into it; either set: it is owned. */
	char token[RELOGD_TOKEN_MAX + 1];	/* "": none */
	char token_file[RELOG_ID_MAX * 4];	/* read into token */
	struct uid_set uids;
};

/* A [plugin.NAME] or [plugin.*] section: what it sets. */
struct plugin_config {
	char *name;
	struct plugin_settings set;
	uint64_t has;		/* bit i: config_keys[i] was set here */
	struct plugin_config *next;
};

/* Settings: defaults, then the config file, then the command line. */
struct config {
	char *socket_path;
	char *fluent_socket;	/* Fluent's Forward protocol; NULL: none */
	mode_t socket_mode;
	char *socket_group;	/* NULL: the process's */
	char *log_dir;
	char *state_dir;
	int to_stderr;		/* records also go to stderr */
	int verbose;
	char *token_file;
	char *token;		/* read from token_file; NULL: none */
	size_t token_len;
	int identity;		/* required: runners bind to owned plugins */
	struct uid_list allow_uids;	/* not set: any uid */
	struct uid_list admin_uids;	/* besides root and relogd's own */
	size_t max_frame;
	size_t max_entries;	/* per batch; the rest are rejected */
	size_t max_message;	/* longer texts are cut and marked */
	size_t max_exception;
	size_t max_logger;
	size_t max_connections;
	size_t max_connections_per_uid;
	size_t max_buffered;	/* input of every connection, together */
	size_t max_plugins;
	size_t hello_timeout_s;
	size_t idle_timeout_s;	/* 0: none */
	size_t max_ring;	/* bytes of one runner's ring; 0: no rings */
	size_t max_ring_total;	/* bytes of every ring mapped at once */
	size_t remote_memory;	/* bytes each remote holds in memory */
	size_t remote_disk;	/* and in its file queue */
	size_t remote_retry_max_s;	/* reconnect backoff's cap */
	size_t remote_timeout_s;	/* for a connect, an ack */
	char *remote_tls_ca;	/* NULL: the system's CAs */
	char *remote_tls_cert;	/* a client certificate; NULL: none */
	char *remote_tls_key;
	char *metrics_listen;	/* "IP:PORT" of GET /metrics; NULL: none */
	struct plugin_settings plugin_defaults;	/* with [relogd]'s keys */
	struct plugin_config *plugins;
};

/* A remote URI, parsed (uri.c). */
enum uri_proto {
	URI_SYSLOG,		/* RFC 5424, RFC 6587 octet counting */
	URI_FLUENT,		/* Fluent Forward, PackedForward */
};

struct uri {
	enum uri_proto proto;
	int tls;
	char *host;		/* NULL: a Unix socket at path */
	char *port;
	char *path;
};

/*
 * A record on its way into the outputs: the entry as decoded (borrowing
 * from the frame), cut to relogd's limits, with what was cut and, under
 * strict, the prefix its untrusted logger name is put under.
 */
struct record {
	struct proto_entry e;
	struct proto_str logger_prefix;	/* "plugin.<id>." or empty */
	size_t name_cut;	/* bytes cut off the logger name */
	size_t msg_cut;
	size_t exc_cut;
};

/* The longest logger name a connection's route memo keeps. */
#define RELOG_ROUTE_MEMO_MAX 128

/*
 * Who sent a record: what routing and the outputs need to know of a
 * connection (or of relogd itself, all zero).
 */
struct origin {
	pid_t pid;		/* SO_PEERCRED; -1: unknown */
	uid_t uid;
	char runner_id[RELOG_ID_MAX + 1];
	struct plugin *plugin;	/* bound by its hello; NULL: by logger name */
	struct plugin **hosted;	/* the hello's plugin_ids, known */
	size_t nhosted;
	char *token;		/* the hello's session token; NULL: none */
	int plugin_ok;		/* plugin is not owned, or proved */
	uint64_t proof_gen;	/* 1 + plugin_changes() when last proved */
	const char *home;	/* where records of no plugin go */
	struct plugin *own;	/* home's plugin, made when needed */
	int learn;		/* unknown ids: learned (runners), else the
				   first dot segment (Fluent tags) */
	int said_refused;	/* records aimed at an owned plugin: said */
	uint64_t drops;		/* its ring's losses, not said yet */
	uint64_t drops_kept;	/* of them, in its state slot once the
				   answers queued for them are written */
	int64_t drops_said_at;	/* monotonic ms */
	struct event *drops_ev;	/* to say them, a second after the last */
	void (*drops_said)(void *, struct plugin *);	/* told when they
					   are, and where; or NULL */
	void *drops_said_arg;
	struct ack_owner *acks;	/* notes the sinks its records fed; or NULL */
	/* The last "plugin.<rest>" logger route.c looked up, and its plugin. */
	char memo_name[RELOG_ROUTE_MEMO_MAX];
	size_t memo_len;	/* 0: none */
	struct plugin *memo;
	uint64_t memo_gen;	/* valid while route_gen() says this */
};

/* Bytes a sink may hold before its clients stop being read, and resume. */
#define SINK_HIGH_WATER (1024u * 1024)
#define SINK_LOW_WATER (256u * 1024)
/* Past this, relogd's own messages to stderr are dropped, and counted. */
#define SINK_OWN_MAX (4u * 1024 * 1024)
/* A file that cannot be written is tried again after this, doubling. */
#define SINK_RETRY_MIN_MS 100
#define SINK_RETRY_MAX_MS 5000
/* A rotation that found something in the way is tried again after this. */
#define SINK_ROTATE_RETRY_MS 5000

/*
 * An output to a file descriptor: a plugin's file (name, in the log folder),
 * or stderr. Formatted records wait in out from off on; writes never
 * block. queued and written count bytes ever, so that an ack can wait for
 * "written >= what was queued" (struct sink_mark); a file that cannot be
 * written holds its records, and so its acks, until it can.
 */
struct sink {
	char *name;		/* the path, or "stderr" */
	int fd;			/* -1 while a file cannot be opened */
	int is_file;
	int is_socket;		/* send(MSG_DONTWAIT) */
	int broken;		/* an error was logged already */
	struct proto_buf out;
	size_t off;
	uint64_t queued;
	uint64_t written;
	uint64_t lost;		/* bytes given up on after write errors */
	size_t max_size;	/* a file rotated past this; 0: never */
	size_t keep;		/* rotated files kept: name.1 .. name.keep */
	uint64_t size;		/* the file's, as written */
	int64_t rotate_next;	/* monotonic ms: name could not become
				   name.1 (said), try again then; or 0 */
	int check_end;		/* opened not empty: its last line is
				   looked at before it is written to */
	uint64_t own_dropped;	/* relogd's own lines not written */
	int stalled;		/* a file that failed: records wait, retried */
	int error;		/* why, while stalled */
	int64_t stalled_at;	/* monotonic ms */
	unsigned backoff_ms;
	struct event *retry;	/* the next try, while stalled */
	struct event *wev;	/* EV_WRITE once the kernel said EAGAIN */
	int dirty;		/* on the list of sinks to flush */
	TAILQ_ENTRY(sink) dirty_entry;
	size_t held;		/* its bytes in sink_held_total's sum */
	uint64_t *own;		/* where relogd's own lines (notices) end,
				   as queued: those not written yet, and
				   the last (sink_note_own) */
	size_t nown;
	size_t own_cap;
};

/* Bytes a sink holds, not written yet. */
static inline size_t
sink_pending(const struct sink *s)
{
	return ((size_t)(s->queued - s->written));
}

/* A sink a batch fed, and how far it had queued then. */
struct sink_mark {
	struct sink *sink;
	uint64_t mark;
};

/*
 * A reply owed to a peer, or a batch's seq to record: settled once every
 * sink the batch fed has written past its mark (and, for a resent batch,
 * once its first copy is recorded). The reply's fields are the intake's;
 * the ledger only waits for the marks, records the seq and hands the ack
 * to its owner's answer callback.
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
	int ring;		/* a ring read: commit ring_pos once written;
				   with a request_id, a ring_sync's answer */
	uint64_t ring_pos;
	int ring_said;		/* a ring's drop notice: once written,
				   store ring_found as said */
	uint64_t ring_found[RELOG_RING_LANES_MAX];
	int merge;		/* queued by ack_queue_silent: later ones
				   may merge into it */
	uint64_t kept;		/* a batch's: once written, add this many
				   to the state slot's unsaid count */
	uint64_t unsaid;	/* a drop notice: once written, take this
				   many off it */
	size_t nmarks;
	struct sink_mark *marks;
	TAILQ_ENTRY(ack) entry;
};
TAILQ_HEAD(acks, ack);

/*
 * What the ack ledger keeps for one connection: the acks it is owed, the
 * sinks its current read fed, whether those are too full to read it. It
 * outlives the connection while acks wait (their seqs are still recorded).
 */
struct ack_owner {
	struct acks acks;	/* owed, oldest first */
	size_t nacks;		/* how many */
	struct sink_mark *touched;	/* sinks the current read fed */
	size_t ntouched;
	size_t touched_cap;
	int state_slot;		/* the runner's dedup state; -1: none */
	int owing;		/* on the ledger's list of owners owed */
	int congested;		/* a sink it feeds is full: not read */
	/* Up to the connection (NULL once it is gone). */
	void *arg;
	void (*answer)(void *, const struct ack *);
	void (*resume)(void *);	/* its sinks drained: read it again */
	TAILQ_ENTRY(ack_owner) owing_entry;
	TAILQ_ENTRY(ack_owner) congested_entry;
};

/*
 * A relogctl tail: which records it wants, how many it missed, and how
 * they reach it (control.c sends them).
 */
struct tail_follower {
	char plugins[RELOG_TAIL_PLUGINS_MAX][RELOG_ID_MAX + 1];
	size_t nplugins;	/* 0: every plugin */
	int64_t level;		/* the least level */
	uint64_t dropped;	/* not sent: it read too slowly */
	uint64_t told;		/* dropped, as last told */
	int following;		/* on the list of followers */
	void (*send)(struct tail_follower *, const char *,
	    const struct proto_entry *);
	void *arg;
	LIST_ENTRY(tail_follower) entry;
};

/*
 * A connection. Each is a small state machine:
 * CLIENT_HELLO: connected, not yet identified (a runner's hello is due);
 * CLIENT_READY: identified, sending records or requests;
 * CLIENT_CLOSING: a last reply is being written, then it is freed.
 * What is read goes to its protocol (struct client_ops): a runner's frames
 * (runner.c) or Fluent's Forward messages (fluent.c).
 */
enum client_state {
	CLIENT_HELLO,
	CLIENT_READY,
	CLIENT_CLOSING,
};

struct client_ops {
	const char *name;
	int hello;		/* connections start in CLIENT_HELLO */
	int fds;		/* may pass descriptors with its hello */
	int answers_closing;	/* a closing connection is still answered */
	void (*start)(struct client *);		/* accepted; may be NULL */
	/* Take what the input buffer holds. Returns -1 if c is closing. */
	int (*process)(struct client *);
	void (*answer)(struct client *, const struct ack *);	/* an ack */
	void (*timeout)(struct client *);	/* no hello in time */
	void (*drained)(struct client *);	/* its replies fell below half */
	void (*gone)(struct client *);		/* it is about to be freed */
	/*
	 * The peer hung up: returns 1 to keep the connection (it still has
	 * work: a ring to drain) and client_close it later. May be NULL.
	 */
	int (*hangup)(struct client *);
	void (*resume)(struct client *);	/* its sinks drained; or NULL */
	void (*stop)(struct client *);	/* relogd stops: take what it holds */
};

struct client_uid;

/* Descriptors a runner passes with its hello: its ring, its wake socket. */
#define CLIENT_FDS_MAX 2

struct client {
	uint64_t id;		/* for relogd's own messages */
	int fd;
	struct client_uid *peer;	/* its uid's connections and bytes */
	size_t buffered;	/* input held, counted in the budget */
	int starved;		/* not read: the budget is spent */
	TAILQ_ENTRY(client) starved_entry;
	const struct client_ops *ops;
	struct origin origin;
	struct proto_scanner fluent_scan;	/* the message being read */
	struct event *read_ev;	/* readable, or idle too long */
	struct evbuffer *in;	/* read, not yet handled */
	struct bufferevent *bev;	/* replies (it owns and closes fd) */
	struct event *timer;	/* the hello timeout, then the close */
	enum client_state state;
	int listener;		/* sends nothing for long (a tail, a ring
				   runner): no idle timeout */
	int hungup;		/* the peer is gone; its ring still drains */
	int fds[CLIENT_FDS_MAX];	/* passed with the hello, not taken */
	int nfds;
	struct ring *ring;	/* its shared ring (ring.c); NULL: none */
	int output_full;	/* it does not read its replies: not read */
	uint64_t records;
	uint64_t duplicates;	/* resent records not written again */
	struct tail_follower *tail;	/* relogctl tail; NULL: none */
	TAILQ_ENTRY(client) entry;
};

/* A reply being packed (reply.c): the caller packs the payload. */
struct reply {
	msgpack_sbuffer sb;
	msgpack_packer pk;
	size_t start;
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
 * A plugin's logger: where its records end up. Created on first use, kept
 * until exit.
 */
struct plugin {
	char id[RELOG_ID_MAX + 1];
	size_t id_len;
	/* "plugin.<id>." for strict mode; logger_len leaves out the dot. */
	char logger[sizeof RELOG_PLUGIN_PREFIX + RELOG_ID_MAX + 1];
	size_t logger_len;
	struct sink file;	/* DIR/<id>.log, or the file setting */
	struct sink json;	/* DIR/<id>.json, with sinks = json */
	struct plugin_settings set;
	struct rate_budget budgets[2];	/* below ERROR; ERROR and above */
	struct remote *remotes[RELOGD_REMOTE_MAX];
	size_t nremotes;
	uint64_t records;
	uint64_t bytes;
	uint64_t dropped_by_runners;	/* their rings overflowed */
	uint64_t suppressed;	/* by the rate limit */
	int owned;		/* only those who prove it write into it */
	int own_log;		/* _runtime, _unrouted: named by no logger */
	int file_taken;		/* its file is another's (since a reload) */
	uint64_t refused;	/* records others aimed at it (owned) */
	uint64_t journald_lost;	/* records journald did not take */
	uint64_t journald_missed; /* of them, the plugin's (not notices) */
	uid_t creator;		/* whose hello or records made it */
	uint64_t filtered;	/* below its level setting */
	int learned;		/* its id was learned from a logger name */
	int retired;		/* learned, then found another's logger */
	int mangled_known;	/* route.c knows its mangled id */

	struct plugin *hash_next;
};

/* The lines of a record as proto-text writes them. */
static inline void
record_line(const struct record *r, struct proto_line *l)
{
	l->timestamp_ms = r->e.timestamp_ms;
	l->level = r->e.level;
	l->logger_prefix = r->logger_prefix;
	l->logger = r->e.logger_name;
	l->message = r->e.message;
	l->exception = r->e.exception_text;
	l->logger_cut = r->name_cut;
	l->message_cut = r->msg_cut;
	l->exception_cut = r->exc_cut;
}

/* One of relogd's own records: now, WARNING, logger "relog". */
static inline void
record_notice(struct record *r, int64_t now_ms, const char *msg)
{
	memset(r, 0, sizeof *r);
	r->e.timestamp_ms = now_ms;
	r->e.level = RELOG_LEVEL_WARNING;
	r->e.logger_name = proto_cstr("relog");
	r->e.message = proto_cstr(msg);
	r->e.exception_text = proto_cstr("");
}

/* server.c */
void	server_start(void);
void	server_stop(void);

/* runner.c */
extern const struct client_ops runner_ops;

/* metrics.c */
void	metrics_start(void);
void	metrics_stop(void);

/* control.c */
int	control_method(struct proto_str);
void	control_stats_pack(msgpack_packer *);
void	control_request(struct client *, const struct proto_envelope *);
void	control_drained(struct client *);
void	control_client_gone(struct client *);
void	control_config(void);

/* fluent.c */
extern const struct client_ops fluent_ops;
void	fluent_free(void);

/* ring.c */
const char *ring_attach(struct client *, uint32_t, int *, int);
const char *ring_sync(struct client *, const struct proto_envelope *);
void	ring_settled(struct client *, const struct ack *);
int	ring_hangup(struct client *);
void	ring_resume(struct client *);
void	ring_stop(struct client *);
void	ring_detach(struct client *);
size_t	ring_bytes_total(void);
size_t	ring_count(void);

/* reply.c */
void	reply_begin(struct reply *, const struct proto_envelope *);
void	reply_broadcast_begin(struct reply *, const char *, int64_t);
void	reply_send(struct client *, struct reply *, const char *,
	    const char *);
void	reply_error(struct client *, const struct proto_envelope *,
	    const char *, const char *);

/* client.c */
void	client_init(void (*)(void));
int	client_create(int, const struct client_ops *);
const char *client_name(const struct client *);
size_t	client_rings_left(const struct client *);
void	client_rings_count(struct client *, size_t, int);
void	client_reading(struct client *, int);
int	client_fds(struct client *, int *);
void	client_close(struct client *);
int	client_writable(const struct client *, size_t);
void	client_send(struct client *, const char *, size_t);
size_t	client_count(void);
size_t	client_buffered_total(void);
void	client_foreach(void (*)(struct client *, void *), void *);
void	client_drain_all(void);
void	client_free_all(void);

/* record.c */
void	record_make(struct record *, const struct origin *, int64_t);
void	record_write(struct origin *, const struct record *);
void	record_drops(struct origin *, uint64_t);
void	record_forget(struct origin *);
void	record_drops_now(struct origin *);
uint64_t record_drops_keep(struct origin *);
void	record_drops_inherited(struct origin *);

/* route.c */
struct plugin *route_declare(const char *, size_t, uid_t);
void	route_config(void);
struct plugin *route_home(struct origin *);
struct plugin *route_own(struct origin *);
size_t	route_owner_len(const char *, size_t, struct plugin_settings *);
struct plugin *route_record(struct origin *, struct proto_str);
void	route_free(void);

/* plugin.c */
struct plugin *plugin_find(const char *, size_t);
uint64_t plugin_changes(void);
struct plugin *plugin_get(const char *, size_t, uid_t);
void	plugin_owned_again(const char *);
struct plugin *plugin_special(const char *);
void	plugin_write(struct plugin *, const struct record *,
	    const struct origin *);
void	plugin_notice(struct plugin *, const char *, const struct origin *);
uint64_t plugin_written(const struct plugin *);
void	plugin_touch(struct plugin *, struct ack_owner *);
void	plugin_notice_limited(struct plugin *, const char *,
	    const struct origin *);
void	plugin_flush_all(void);
void	plugin_reopen_all(void);
void	plugin_reconfigure_all(void);
void	plugin_drain_all(void);
void	plugin_free_all(void);
void	plugin_foreach(void (*)(struct plugin *, void *), void *);

/* sink.c */
void	sink_format(struct sink *, const char *, const struct record *, int);
void	sink_format_json(struct sink *, const char *, const struct record *);
struct sink *sink_stderr(void);
void	sink_stderr_close(void);
void	sink_init_file(struct sink *, const char *, size_t, size_t);
void	sink_set_file(struct sink *, const char *, size_t, size_t);
void	sink_reopen(struct sink *);
size_t	sink_waiting(const struct sink *);
void	sink_note_own(struct sink *);
size_t	sink_records_waiting(const struct sink *);
size_t	sink_held_total(void);
void	sink_set_progress(void (*)(void));
void	sink_flush_all(void);
void	sink_drain(struct sink *, int64_t);
void	sink_free(struct sink *);

/* journal.c */
int	journal_send(const char *, const struct record *, pid_t);
void	journal_free(void);

/* tail.c */
void	tail_record(const char *, const struct record *);
void	tail_replay(struct tail_follower *, uint32_t);
void	tail_follow(struct tail_follower *, int);
void	tail_each(void (*)(struct tail_follower *));
int	tail_wanted(const struct tail_follower *, const char *, int64_t);
void	tail_free(void);

/* remote.c */
size_t	remote_resolve(const char *, struct remote **);
void	remote_init(void);
void	remote_start_all(int);
void	remote_flush_all(void);
void	remote_foreach(void (*)(struct remote *, void *), void *);
void	remote_drain_all(void);
void	remote_free_all(void);

/* remote-queue.c */
void	remote_queue_add(struct remote *, const char *,
	    const struct record *, pid_t);

/* ack.c */
struct ack_owner *ack_owner_new(int, void (*)(void *, const struct ack *),
	    void (*)(void *), void *);
void	ack_owner_detach(struct ack_owner *);
void	ack_read_begin(struct ack_owner *);
int	ack_owed(const struct ack_owner *);
void	ack_touch(struct ack_owner *, struct sink *);
struct ack *ack_new(const struct proto_envelope *, int);
void	ack_queue(struct ack_owner *, struct ack *, int);
void	ack_queue_silent(struct ack_owner *, struct ack *);
int	ack_throttled(struct ack_owner *);
void	ack_free(struct ack *);
int	ack_congested(struct ack_owner *);
int	ack_overloaded(struct ack_owner *);
void	ack_progress(void);
void	ack_free_all(void);

/* owner.c */
#define OWNER_TOKEN_LEN 64	/* hex digits of a granted token */
void	owner_load(void);
int	owner_grant(const char *, char [OWNER_TOKEN_LEN + 1]);
int	owner_revoke(const char *);
int	owner_owned(const char *, const struct plugin_settings *);
const char *owner_granted(size_t);
int	owner_uid(const struct plugin_settings *, uid_t);
int	owner_admin(uid_t);
int	owner_uid_any(uid_t);
int	owner_token(const char *, const struct plugin_settings *,
	    struct proto_str);
void	owner_free(void);

/* state.c */
void	state_open(const char *);
void	state_close(void);
int	state_lookup(struct proto_str, struct proto_str, uid_t);
void	state_release(int);
uint64_t state_accepted(int);
uint64_t state_recorded(int);
void	state_accept(int, uint64_t);
void	state_record(int, uint64_t);
void	state_unsaid_add(int, uint64_t);
void	state_unsaid_sub(int, uint64_t);
uint64_t state_unsaid_take(int);

/* config.c */
void	config_defaults(struct config *);
int	config_error(char **, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
struct plugin_config *config_plugin_section(struct config *, const char *);
int	config_section_known(const char *);
const char *config_file_taken(const struct config *, const char *);
int	config_file_is(const char *, const char *, const char *);
int	config_set(struct config *, const char *, const char *, const char *,
	    char **);
void	config_plugin(const struct config *, const char *,
	    struct plugin_settings *);
void	config_free(struct config *);
int	config_uid_listed(const struct uid_list *, uid_t);
int	config_listen_addr(const char *, struct sockaddr_storage *,
	    socklen_t *, char **);

/* config-load.c */
int	config_load_file(struct config *, FILE *, const char *, char **);
int	config_load(struct config *, const char *, char **);
int	config_load_finish(struct config *, char **);

/* uri.c */
int	uri_parse(const char *, struct uri *, char **);
void	uri_free(struct uri *);
int	uri_list_foreach(const char *, int (*)(const char *, void *), void *);
int	uri_list_check(const char *, char **);

/* log.c */
void	log_open(int);
void	log_set_writer(void (*)(const char *, size_t, void *), void *);
void	log_debug(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_error(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_peer(const char *, ...) __attribute__((format(printf, 1, 2)));
uint64_t log_peer_dropped(void);
__attribute__((noreturn, format(printf, 1, 2)))
void	fatal(const char *, ...);
__attribute__((noreturn, format(printf, 1, 2)))
void	fatalx(const char *, ...);

/* relogd.c */
extern struct event_base *relogd_base;
extern time_t relogd_started;
extern int relogd_log_dir_fd;
extern int relogd_state_dir_fd;
extern struct config relogd_config;
int64_t	relogd_now_ms(clockid_t);
int64_t	relogd_now_us(clockid_t);
const char *relogd_hostname(void);
struct stat;
int	relogd_alone(const struct stat *);
int	relogd_create(int, const char *, int);
int	relogd_opendirat(int, const char *, int);
const char *relogd_error_text(int);
const char *relogd_dir_error_text(int);

#endif

/*
 * The forward sinks' own header (remote*.c, spool.c, and control.c for
 * their stats): a queued record's layout, the file queue, a batch in
 * flight, a protocol's table and a sink. relogd.h has what the rest of
 * relogd calls (remote.c's registry, remote_queue_add).
 */
#ifndef RELOGD_REMOTE_H
#define RELOGD_REMOTE_H

#include "relogd.h"

/*
 * A record queued for a remote, after its u32 length (which counts this
 * header and the texts after it: plugin id, logger name, message,
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

/* A queued record, its texts borrowed from the queue. */
struct remote_view {
	struct remote_rec h;
	struct proto_str plugin, logger, message, exception;
	size_t len;		/* in the queue, its length field included */
};

/* A place in a file queue: a segment and an offset in it. */
struct spool_pos {
	uint64_t seg;
	uint64_t off;
};

#define SPOOL_SEGMENT_MAX (4u * 1024 * 1024)
#define SPOOL_SEGMENT_LAST ((uint64_t)1 << 48)	/* numbers past it: renumber */

/* A file queue (spool.c): records of rec_min to rec_max bytes, in order. */
struct spool {
	char *dir;
	int dirfd;		/* its files are opened relative to it */
	uint64_t max_bytes;	/* all segments */
	uint64_t seg_max;	/* one segment */
	uint32_t rec_min;	/* a record's length field's bounds */
	uint32_t rec_max;
	uint64_t head;		/* the oldest segment */
	uint64_t tail;		/* the one appended to */
	uint64_t tail_size;	/* its size, with wbuf */
	uint64_t bytes;		/* every segment's */
	uint64_t records;	/* from ack to the end */
	struct spool_pos ack;	/* the first record not acked */
	struct spool_pos read;	/* the next record to send */
	/*
	 * The reader went on from skip_from (a segment's end, or what could
	 * not be read of it) to skip_to: an ack at the first is at the
	 * second, as no batch holds what is between.
	 */
	struct spool_pos skip_from;
	struct spool_pos skip_to;
	struct spool_pos marked; /* a batch is acked there: never reused */
	int wfd;
	int header_due;		/* the tail's file has no header yet */
	struct proto_buf wbuf;	/* appended, not written yet */
	uint64_t wbuf_records;
	uint64_t lost;		/* could not be written (spool_take_lost) */
	int rfd;		/* the segment being read */
	uint64_t rseg;
	struct proto_buf rbuf;	/* bytes of it, from offset rbase */
	uint64_t rbase;
	int cursor_fd;
	int broken;		/* an error was said */
	int refused;		/* no room: a write refused, or none when asked */
	int64_t asked_at;	/* when the disk was asked for room */
	uint64_t room;		/* what it had, to be counted on till then */
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

enum remote_state {
	REMOTE_DOWN,		/* waiting to connect (or to retry) */
	REMOTE_CONNECTING,
	REMOTE_UP,
	REMOTE_CLOSING,		/* syslog: sent all, waiting for its EOF */
};

/*
 * What a remote's protocol does (remote-syslog.c, remote-fluent.c); the
 * connection and the queue call it and never look at the protocol.
 */
struct remote_proto {
	const char *name;
	int acks;	/* answers each batch (Fluent): an answer owed */
	/* Append the nth record of a batch to b; -1: it starts the next. */
	int (*add)(struct remote *, struct proto_buf *,
	    const struct remote_view *, uint32_t);
	/* Send the batch made in b (a protocol may give it a chunk). */
	void (*send)(struct remote *, struct evbuffer *,
	    const struct proto_buf *, struct remote_batch *);
	int (*may_send)(const struct remote *);	/* another batch, now? */
	void (*sent)(struct remote *, int);	/* after a round of sends */
	void (*read)(struct remote *, struct evbuffer *);	/* answers */
	void (*timer)(struct remote *);	/* up, batches in flight */
	int (*eof)(struct remote *);	/* it closed: 1 if that is an ack */
	void (*reset)(struct remote *);	/* the connection is gone */
	void (*drain)(struct remote *);	/* exiting: conclude what is sent */
};

/*
 * A remote: a collector relogd sends records to, shared by every plugin
 * naming its URI. Records wait in memory (mem, from mem_head; those
 * before mem_sent are sent), or in the file queue, which holds older
 * records than memory does.
 */
struct remote {
	char *uri;
	const struct remote_proto *proto;
	struct uri addr;
	enum remote_state state;
	struct bufferevent *bev;
	struct event *timer;	/* retry, slow connect, or the protocol's */
	struct event *stall_ev;	/* owed: does the collector take? */
	int stalled;		/* it took nothing for REMOTE_STALL_MS */
	int stall_looks;	/* looks in a row that saw it take nothing */
	uint64_t out_taken;	/* bytes our output handed the kernel */
	uint64_t progress_seen;	/* what it took, acks too, at the last look */
	unsigned failures;	/* in a row, without an ack in between */
	int was_up;		/* a connection came up since relogd started */
	int connect_slow;	/* this connect is REMOTE_CONNECT_SLOW_MS old */
	int said_down;
	int half_closed;	/* syslog: SHUT_WR sent */
	int resync;		/* batches in flight lost records on disk */
	msgpack_unpacker *answers;	/* Fluent's */

	struct proto_buf mem;	/* records; mem.data[0] is offset mem_base */
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

/* remote-syslog.c */
extern const struct remote_proto remote_syslog;

/* remote-fluent.c */
extern const struct remote_proto remote_fluent;
void	remote_fluent_init(void);

/* remote-conn.c */
extern int remote_conn_draining;
void	remote_conn_init(struct remote *);
void	remote_conn_start(struct remote *);
void	remote_conn_pump(struct remote *);
void	remote_conn_flush(struct remote *);
void	remote_conn_finish(struct remote *);
int	remote_conn_sent_all(struct remote *);
void	remote_conn_lost(struct remote *, const char *);
void	remote_conn_close(struct remote *);
void	remote_conn_reload_tls(void);
void	remote_conn_free_all(void);

/* remote-queue.c */
int	remote_queue_view(const char *, struct remote_view *);
int	remote_queue_next(struct remote *, struct proto_buf *,
	    struct remote_batch *);
void	remote_queue_sent(struct remote *, const struct remote_batch *);
size_t	remote_queue_settle(struct remote *);
void	remote_queue_rewind(struct remote *);
int	remote_queue_pending(const struct remote *);
void	remote_queue_spill(struct remote *);
void	remote_queue_flush(struct remote *);
uint64_t remote_queue_close(struct remote *);
void	remote_queue_free(struct remote *);

/* spool.c */
int	spool_open(struct spool *, int, const char *, const char *, uint64_t,
	    uint32_t, uint32_t);
int	spool_pending(const struct spool *);
uint64_t spool_append(struct spool *, const char *, size_t);
void	spool_flush(struct spool *);
struct spool_pos spool_end(const struct spool *);
struct spool_pos spool_mark(struct spool *);
int	spool_unread(const struct spool *);
const char *spool_peek(struct spool *, size_t *);
void	spool_consume(struct spool *, size_t);
void	spool_drop_read(struct spool *, size_t);
uint64_t spool_take_lost(struct spool *);
int	spool_refused(const struct spool *);
int	spool_room(struct spool *, uint64_t);
struct spool_pos spool_tell(const struct spool *);
void	spool_rewind(struct spool *);
void	spool_skip_all(struct spool *);
void	spool_ack(struct spool *, struct spool_pos, uint64_t);
int	spool_dir_holds(int);
void	spool_close(struct spool *);

#endif

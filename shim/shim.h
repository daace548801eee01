/* librelog's private header. */
#ifndef RELOG_SHIM_H
#define RELOG_SHIM_H

#include <sys/queue.h>
#include <sys/types.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#if defined(__x86_64__)
#include <x86intrin.h>
#endif

#include <msgpack.h>

#include "proto.h"
#include "relog-ring.h"
#include "relog.h"
#include "slot.h"

struct proto_ring;
struct shm_ring;

#define RELOG_API __attribute__((visibility("default")))

#define SHIM_QUEUE_MAX_DEFAULT 200
#define SHIM_LANES_DEFAULT 8		/* lanes, unless RELOG_LANES says */
#define SHIM_LANES_SLOTS_MAX 65536	/* in them all, unless it says */
#define SHIM_FLUSH_INTERVAL_DEFAULT 100
#define SHIM_FLUSH_BATCH_DEFAULT 20
#define SHIM_SDK_VERSION "relog-c/0.1.0"

/*
 * Batches in flight at once: sent and not yet acknowledged. The flusher
 * keeps sending while relogd acknowledges, so the two work in parallel.
 */
#define SHIM_WINDOW 32
/*
 * Replies read at once when none is waited for: relogd owes one a batch
 * in the window and one a ring_sync; more wait for the next round.
 */
#define SHIM_REPLIES_AT_ONCE (4 * SHIM_WINDOW)
/* Reconnect backoff, doubling from the first to the cap. */
#define SHIM_BACKOFF_FIRST_MS 50
#define SHIM_BACKOFF_MAX_MS 1000
/* How long a connect, a hello or a send may take (outside of close). */
#define SHIM_IO_TIMEOUT_MS 5000
/* How long relogd may take to acknowledge a batch (a slow sink). */
#define SHIM_ACK_TIMEOUT_MS 30000
/*
 * How long relog_open waits for relogd's answer to the hello it sent, the
 * ring with it (RELOG_OPEN_WAIT_MS): a live relogd answers in well under a
 * millisecond; a down one fails the connect at once.
 */
#define SHIM_OPEN_WAIT_MS_DEFAULT 50
/* How long relog_close may write undelivered records to stderr. */
#define SHIM_FALLBACK_MS 500
/* Largest reply relogd sends to the shim. */
#define SHIM_REPLY_MAX (64u * 1024)

/*
 * A batch in the window, sent when relogd does not read the ring itself.
 * The one at position p holds its n records in win_slots[p * batch]
 * onwards; end is the ring's consumer position after them, committed
 * (the ring's tail moves past them) once relogd acknowledges the batch.
 */
struct shim_frame {
	uint64_t seq;
	int64_t request_id;
	uint64_t end;
	size_t n;
	uint64_t dropped;	/* ring losses reported with it */
	uint64_t found[RELOG_RING_LANES_MAX];	/* ...the ring's, once acked */
	int sent;		/* on the current connection */
	int tried;		/* sent on some connection: relogd may have it */
	int acked;
};

/*
 * A handle. Records live in a shared ring (shm-ring.c), pushed by any
 * thread with no lock. When relogd takes the ring with the hello it reads
 * them itself; otherwise the flusher reads them (cons) and sends batches.
 * Either way the ring's tail moves only past what relogd has written, so
 * a record was delivered once tail passed its position.
 */
/* A logger-name prefix the handle forwards (relog_wanted). */
struct relog_prefix {
	/*
	 * Of a prefix up to 16 bytes: its bytes as two words, and masks of
	 * them (a name of 16 bytes or more is compared so).
	 */
	uint64_t key[4];
	size_t len;
	char *text;
};

struct relog {
	/* Set by relog_open, then read-only. */
	char *socket_path;
	char *plugin_id;	/* NULL: none */
	struct proto_str *plugin_ids;	/* hosted, for the hello; copies */
	uint32_t nplugin_ids;
	char *session_token;
	char *runner_id;
	size_t batch;
	unsigned interval_ms;
	size_t open_wait_ms;	/* RELOG_OPEN_WAIT_MS */
	struct relog_prefix *prefixes;	/* nprefixes of them */
	size_t nprefixes;

	/* Pushed into by any thread; replaced only after fork(). */
	struct shm_ring *shm;
	int wake_tx;		/* the ring's wakeups are sent here... */
	int wake_rx;		/* ...and arrive here: passed to relogd */
	int ring_mode;		/* atomic: relogd reads the ring itself */

	/* Under lock. */
	pthread_mutex_t lock;
	pthread_cond_t wake;	/* the flusher: work, flush or close */
	pthread_cond_t sent_cond;	/* tail moved; the first connect */
	int flush_waiters;
	int flusher_idle;	/* the flusher waits on wake */
	int flush_wanted;
	int tried;		/* the first connect was tried */
	int closing;
	int64_t close_deadline;	/* monotonic ms, when closing */
	int close_fallback;	/* close had to write records to stderr */
	int close_lost;		/* ...and some in a broken ring it could not */
	int fork_gen;		/* relog_fork_gen when the flusher started */

	/* The flusher thread's own. */
	pthread_t thread;
	int close_said;		/* close asked relogd to say the ring's
				   losses (flusher_ring) */
	LIST_ENTRY(relog) all_entry;	/* under relog_all_lock */
	char instance[17];	/* this process's instance id, hex */
	int fd;			/* -1: not connected */
	int64_t hello_id;	/* a hello sent, its answer not read: its
				   request id; else 0 (flusher_greet) */
	int64_t next_connect;	/* monotonic ms */
	unsigned backoff_ms;
	int64_t request_id;
	uint64_t seq;		/* of the last batch made */
	uint64_t dropped_told;	/* losses said on stderr */
	int64_t refused_told;	/* when a refusal was said on stderr */
	int ring_refused_told;	/* relogd's ring: false said on stderr */
	int ring_broken_told;	/* its own ring found broken, said */
	struct proto_ring *cons;	/* the flusher reading its own ring */
	pthread_mutex_t pack_lock;	/* out changes: fork() waits it out */
	msgpack_sbuffer out;
	char in[SHIM_REPLY_MAX + RELOG_FRAME_HEADER_SIZE];
	size_t in_len;
	size_t in_off;		/* where the next frame in it starts */
	struct slot *win_slots;	/* batch * SHIM_WINDOW */
	struct shim_frame frames[SHIM_WINDOW];	/* a circle */
	size_t fhead;		/* the oldest batch not acknowledged */
	size_t fcount;		/* batches in the window */
};

/* What a reply of relogd's says (conn_parse_reply). */
struct shim_reply {
	int64_t request_id;
	int accepted;		/* hello */
	int ring;		/* hello: -1 not said, 0 refused, 1 taken */
	int ring_recheck;	/* hello: relogd looks again after arming */
	struct proto_str reason;	/* hello's reason, or an error's */
	struct proto_str ring_reason;	/* hello: why the ring was refused */
};

/*
 * The wall clock's millisecond, kept while the TSC says it has not ended
 * (shim.c says how). Read inline (shim_wall_ms): the TSC is most of a
 * timestamp, and a timestamp a fourth of an emit.
 */
struct shim_clock {
	_Atomic uint64_t seq;		/* odd while renewed */
	_Atomic uint64_t start;		/* TSC at (before) the reading */
	_Atomic uint64_t end;		/* TSC by which the ms has ended */
	_Atomic int64_t ms;
	_Atomic uint64_t rate;		/* TSC ticks per ns << 16; 0: none */
	_Atomic int tsc;		/* 1 invariant, -1 not, 0 unknown */
	/* Where the rate is measured from: a seqlock of its own. */
	_Atomic uint64_t cal;		/* odd while taken; 0: not yet */
	_Atomic uint64_t cal_tsc;
	_Atomic int64_t cal_ns;
};
extern struct shim_clock shim_clock __attribute__((visibility("hidden")));

/* shim.c */
int64_t	shim_now_ms(void);
struct timespec shim_abstime(int64_t);
int64_t	shim_wall_ms_read(uint64_t);
void	shim_clock_forked(void);
int	shim_clock_kept(void);
uint64_t shim_ring_head(const struct relog *);
int	shim_ring_behind(const struct relog *);
int	shim_ring_unsaid(const struct relog *);

/* flusher.c */
void	flusher_reset(struct relog *);
int	flusher_greet(struct relog *, int64_t);
void   *flusher_main(void *);

/* batch.c */
int	batch_start(struct relog *);
int	batch_deliver(struct relog *);
void	batch_forget(struct relog *);
int	batch_pending(const struct relog *);
void	batch_give_up(struct relog *);

/* conn.c */
int	conn_say(int64_t, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
int64_t	conn_deadline(struct relog *, int64_t);
int	conn_wait(struct relog *, short, int64_t);
int	conn_send(struct relog *, const char *, size_t, const int *, int,
	    int64_t);
const char *conn_shown(char *, size_t, struct proto_str);
ssize_t	conn_reply(struct relog *, int64_t);
const char *conn_reply_body(const struct relog *);
void	conn_reply_done(struct relog *, size_t);
int	conn_parse_reply(const char *, size_t, struct shim_reply *);
size_t	conn_begin_frame(struct relog *, msgpack_packer *, const char *,
	    int64_t *);
void	conn_drop(struct relog *);

/*
 * Wall clock in ms since the epoch: the kept ms while the TSC says it
 * holds (a seqlock read), else read afresh (shim_wall_ms_read). None is
 * kept (start and end 0) until a TSC is known to keep one.
 */
static inline int64_t
shim_wall_ms(void)
{
#if defined(__x86_64__)
	uint64_t s, t, start, end;
	int64_t ms;

	s = atomic_load_explicit(&shim_clock.seq, memory_order_acquire);
	t = __rdtsc();
	start = atomic_load_explicit(&shim_clock.start, memory_order_relaxed);
	end = atomic_load_explicit(&shim_clock.end, memory_order_relaxed);
	ms = atomic_load_explicit(&shim_clock.ms, memory_order_relaxed);
	atomic_thread_fence(memory_order_acquire);
	if ((s & 1) == 0 &&
	    atomic_load_explicit(&shim_clock.seq, memory_order_relaxed) == s &&
	    t - start < end - start)
		return (ms);
	return (shim_wall_ms_read(t));
#else
	return (shim_wall_ms_read(0));
#endif
}

#endif

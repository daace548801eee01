/* librelog's private header. */
#ifndef RELOG_SHIM_H
#define RELOG_SHIM_H

#include <sys/queue.h>

#include <pthread.h>
#include <stdint.h>

#include <msgpack.h>

#include "proto.h"
#include "relog.h"
#include "ring.h"

#define RELOG_API __attribute__((visibility("default")))

#define SHIM_QUEUE_MAX_DEFAULT 200
#define SHIM_FLUSH_INTERVAL_DEFAULT 100
#define SHIM_FLUSH_BATCH_DEFAULT 20
#define SHIM_SDK_VERSION "relog-c/0.1.0"

/*
 * Batches in flight at once: sent and not yet acknowledged. The flusher
 * keeps sending while relogd acknowledges, so the two work in parallel.
 */
#define SHIM_WINDOW 32
/* Reconnect backoff, doubling from the first to the cap. */
#define SHIM_BACKOFF_FIRST_MS 50
#define SHIM_BACKOFF_MAX_MS 1000
/* How long a connect, a hello or a send may take (outside of close). */
#define SHIM_IO_TIMEOUT_MS 5000
/* How long relogd may take to acknowledge a batch (a slow sink). */
#define SHIM_ACK_TIMEOUT_MS 30000
/* How long relog_close may write undelivered records to stderr. */
#define SHIM_FALLBACK_MS 500
/* Largest reply relogd sends to the shim. */
#define SHIM_REPLY_MAX (64u * 1024)

/*
 * A batch in the window. The one at position p holds its n records in
 * win_slots[p * batch] onwards.
 */
struct shim_frame {
	uint64_t seq;
	int64_t request_id;
	uint64_t first_index;	/* number of its first record */
	size_t n;
	uint64_t dropped;	/* ring overflows reported with it */
	int sent;		/* on the current connection */
	int tried;		/* sent on some connection: relogd may have it */
	int acked;
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
	char **prefixes;	/* NULL-terminated */
	size_t *prefix_lens;

	/* Under lock. */
	pthread_mutex_t lock;
	pthread_cond_t wake;	/* the flusher: work, flush or close */
	pthread_cond_t sent_cond;	/* relog_flush: records left */
	struct ring ring;
	/*
	 * Records are numbered as pushed. They leave the ring in that order,
	 * taken by the flusher or evicted, so the ring's head is record
	 * taken + ring.evicted; taken ones stay in flight, [flight_first,
	 * flight_first + flight_n), until acknowledged or written to stderr.
	 */
	uint64_t pushed;
	uint64_t taken;
	uint64_t flight_first;	/* the oldest batch's first record */
	size_t flight_n;	/* records in the window */
	int flush_waiters;
	int flusher_idle;	/* the flusher waits on wake */
	int flush_wanted;
	int closing;
	int64_t close_deadline;	/* monotonic ms, when closing */
	int close_fallback;	/* close had to write records to stderr */
	int fork_gen;		/* relog_fork_gen when the flusher started */

	/* The flusher thread's own. */
	pthread_t thread;
	LIST_ENTRY(relog) all_entry;	/* under relog_all_lock */
	char instance[17];	/* this process's instance id, hex */
	int fd;			/* -1: not connected */
	int64_t next_connect;	/* monotonic ms */
	unsigned backoff_ms;
	int64_t request_id;
	uint64_t seq;		/* of the last batch made */
	uint64_t dropped_sent;	/* ring.dropped reported in batches */
	uint64_t dropped_told;	/* ring.dropped said on stderr */
	int64_t refused_told;	/* when a refusal was said on stderr */
	pthread_mutex_t pack_lock;	/* out changes: fork() waits it out */
	msgpack_sbuffer out;
	char in[SHIM_REPLY_MAX + RELOG_FRAME_HEADER_SIZE];
	size_t in_len;
	struct ring_slot *win_slots;	/* batch * SHIM_WINDOW */
	struct shim_frame frames[SHIM_WINDOW];	/* a circle */
	size_t fhead;		/* the oldest batch not acknowledged */
	size_t fcount;		/* batches in the window */
};

/* shim.c */
int64_t	shim_now_ms(void);
struct timespec shim_abstime(int64_t);
int64_t	shim_wall_ms(void);

/* flusher.c */
void	flusher_reset(struct relog *);
void   *flusher_main(void *);

#endif

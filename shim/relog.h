/*
 * librelog: ship a plugin runner's log records to relogd.
 *
 * relog_emit and relog_log never block and never do I/O: they copy the
 * record into a fixed ring and return, with no lock, no system call and no
 * allocation (but one datagram that wakes relogd when it asked to be
 * woken: when a lane goes from empty to not empty, or fills past half;
 * and a thread's first record in a lane of the ring not used before, which
 * allocates that lane's pages).
 * The ring lives in shared memory (a sealed memfd) that relog_open hands
 * to relogd with its hello; relogd reads the records out of it itself.
 * It has lanes (RELOG_LANES): each emitting thread writes into one of its
 * own while one is free (others share lane 0), and relogd merges them
 * oldest first. A
 * background thread connects, reconnects, and sends the records in batches
 * over the Unix socket instead when relogd does not take the ring. When the
 * ring is full the oldest record is overwritten and counted (relog_dropped).
 *
 * What survives what (a record relog_emit returned from):
 *
 *   the runner dies (exit, SIGKILL, SIGSEGV, abort): delivered; relogd
 *       reads what the ring holds before it lets it go
 *   relogd dies: delivered once it is back (the runner keeps emitting into
 *       the ring; if the ring fills, its oldest records are dropped, counted)
 *   both at once: what the ring held is lost (until the runner reconnects,
 *       up to about a second after relogd is back, without socket
 *       activation)
 *   the machine: what relogd had not handed to the kernel is lost, and what
 *       the kernel had not written to disk
 *
 * Where memfd_create(2) is forbidden (a sandbox), or relogd refuses the
 * ring (larger than its max_ring), the ring is memory of the runner's own,
 * relogd gets batches, and a runner that dies loses what was not sent yet
 * (librelog says so on stderr, once).
 *
 * Every function is safe to call from any number of threads at once, except
 * relog_close, after which the handle must not be used.
 */
#ifndef RELOG_H
#define RELOG_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RELOG_DEBUG 10
#define RELOG_INFO 20
#define RELOG_WARNING 30
#define RELOG_ERROR 40
#define RELOG_CRITICAL 50

/* An open connection to relogd; opaque. */
typedef struct relog relog_t;

/*
 * Options for relog_open. Set sz to sizeof(struct relog_opts) so that the
 * struct can grow. Any field left 0 or NULL takes its value from the
 * environment (the variable named beside it), else the default.
 */
struct relog_opts {
	size_t sz;
	const char *socket_path;	/* RELOG_SOCKET; /run/relogd/relogd.sock */
	const char *plugin_id;		/* RELOG_PLUGIN; none */
	const char *session_token;	/* RELOG_TOKEN; "" */
	const char *runner_id;		/* RELOG_RUNNER_ID; "runner-<pid>" */
	/*
	 * RELOG_QUEUE_MAX; 200. Sizes the ring: the least power of two of
	 * slots of 256 bytes that is at least 1,024 and twice this, so 200
	 * is 1,024 slots (256 KiB). A record of up to 248 bytes (header,
	 * padded name and message) takes one slot, a longer one more.
	 */
	size_t queue_max;
	unsigned flush_interval_ms;	/* RELOG_FLUSH_INTERVAL_MS; 100 */
	unsigned flush_batch;		/* RELOG_FLUSH_BATCH; 20 */
	/*
	 * Logger-name prefixes to forward, NULL-terminated; others are
	 * ignored. NULL: "plugin.", "plugin_runtime.", "_maibot_plugin_".
	 * An array whose first element is NULL forwards every logger. The
	 * strings are copied.
	 */
	const char *const *prefixes;
	/*
	 * The plugins this runner hosts, NULL-terminated (at most 256), for
	 * relogd to know their ids: a logger "plugin.<id>.<x>" is then id's
	 * even when <id> holds dots. NULL: RELOG_PLUGIN_IDS, separated by
	 * commas or spaces; else none. The strings are copied.
	 */
	const char *const *plugin_ids;
	/*
	 * RELOG_LANES; 8 (1 where one CPU is online: not the affinity,
	 * which may change while the ring lives), fewer if they would pass
	 * 65,536 slots in all (relogd's default max_ring). A number set
	 * here is taken as it is: a ring past relogd's max_ring is refused,
	 * and records go as batches, which a crash loses (librelog says so
	 * on stderr). The ring's lanes (1, 2, 4 or 8): each
	 * emitting thread pushes into a lane of its own (1 on) while one is
	 * free (or was a thread's that has ended), so threads on different
	 * CPUs do not contend, and a push there swaps no atomic word but
	 * where relogd may be reading (its commit is a plain release store
	 * where relogd says it looks again after arming, as this one does,
	 * else one seq_cst store); the threads that find none share lane 0,
	 * and stay there. A thread
	 * keeps its lane until it ends. Each lane is a ring as queue_max
	 * says (256 KiB by default), its pages allocated when a thread first
	 * takes it: the memory is at most lanes times that. relogd merges
	 * the lanes' records, oldest first.
	 */
	unsigned lanes;
};

/*
 * One record. Strings are copied by relog_emit; NULL is taken as "". A
 * message or exception text past 64 KiB is cut at a UTF-8 boundary and
 * marked " [truncated N bytes]" (N: the bytes cut), as relogd marks what
 * it cuts; a logger name is cut there unmarked.
 */
struct relog_entry {
	size_t sz;			/* sizeof(struct relog_entry) */
	int64_t timestamp_ms;		/* ms since the epoch; 0: now */
	int level;			/* RELOG_DEBUG ... or any number */
	const char *logger_name;
	const char *message;
	const char *exception_text;	/* may be NULL */
	const char *color;		/* "#rrggbb" or NULL */
};

/*
 * Make the ring, say hello to relogd passing it (from the calling thread),
 * and start the flusher thread, which reads the answer and reconnects in
 * the background. When relogd's socket takes the connection, the ring is
 * relogd's before relog_open returns, even if the runner dies before
 * relogd answers; relog_open waits for the answer (how relogd takes the
 * records) RELOG_OPEN_WAIT_MS at most, 50 by default. When relogd is down
 * it returns at once, and the ring is handed over on the first connect.
 * After fork(), the child's first call on the handle (emit or flush)
 * hands the child's own ring over the same way.
 * opts may be NULL: everything then comes from the environment. Returns
 * NULL with errno set on bad options (EINVAL, also for a runner or plugin
 * id relogd would refuse: PROTOCOL.md, the hello), or when out of memory,
 * threads or descriptors.
 */
relog_t *relog_open(const struct relog_opts *opts);

/*
 * Queue a record. Returns 0, 1 if its logger is filtered out, -EINVAL (h
 * or entry NULL, entry->sz 0 or too large), or -EAGAIN in a forked child
 * whose flusher thread could not be started.
 */
int relog_emit(relog_t *h, const struct relog_entry *entry);

/* Queue a record with a printf-style message. Returns as relog_emit. */
int relog_log(relog_t *h, int level, const char *logger_name,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/*
 * Wait until relogd has written every record queued before the call, for
 * at most timeout_ms. Returns 0, -ETIMEDOUT, -EINVAL (h NULL), or -EAGAIN
 * as relog_emit.
 */
int relog_flush(relog_t *h, int timeout_ms);

/*
 * Stop the flusher and wait until relogd has written what is left, giving
 * up after timeout_ms: what relogd has not confirmed by then is taken out
 * of the ring and written to stderr ("[LOG-FALLBACK]"; those relogd had
 * read or been sent, so may have written too, as "[LOG-FALLBACK?]"). Frees
 * the handle. Returns 0, -ETIMEDOUT if records had to be written to
 * stderr, -EIO if records were left in a ring another process wrote over
 * (only relogd maps it too), which cannot be read (said on stderr), or
 * -EINVAL if h is NULL.
 */
int relog_close(relog_t *h, int timeout_ms);

/*
 * How many records the ring lost since relog_open: overwritten when full,
 * given up by a writer another overtook, or (after fork, when no ring
 * could be made) never kept.
 */
uint64_t relog_dropped(const relog_t *h);

#ifdef __cplusplus
}
#endif

#endif

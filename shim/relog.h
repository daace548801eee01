/*
 * librelog: ship a plugin runner's log records to relogd.
 *
 * relog_emit and relog_log never block and never do I/O: they copy the
 * record into a fixed ring and return. A background thread sends batches to
 * relogd over a Unix socket. When the ring is full the oldest record is
 * overwritten and counted (relog_dropped).
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
	size_t queue_max;		/* RELOG_QUEUE_MAX; 200 */
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
};

/* One record. Strings are copied by relog_emit; NULL is taken as "". */
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
 * Start the flusher thread; it connects (and reconnects) in the background.
 * opts may be NULL: everything then comes from the environment. Returns
 * NULL with errno set on bad options or when out of memory or threads.
 */
relog_t *relog_open(const struct relog_opts *opts);

/* Queue a record. Returns 0, 1 if its logger is filtered out, or -EINVAL. */
int relog_emit(relog_t *h, const struct relog_entry *entry);

/* Queue a record with a printf-style message. Returns as relog_emit. */
int relog_log(relog_t *h, int level, const char *logger_name,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/*
 * Wait until every record queued before the call has been sent, for at most
 * timeout_ms. Returns 0, or -ETIMEDOUT.
 */
int relog_flush(relog_t *h, int timeout_ms);

/*
 * Stop the flusher and send what is left, giving up after timeout_ms: what
 * could not be sent by then is written to stderr ("[LOG-FALLBACK]"; those
 * relogd was sent but did not acknowledge, so may have written too, as
 * "[LOG-FALLBACK?]"). Frees the handle. Returns 0, or -ETIMEDOUT if
 * records had to be written to stderr.
 */
int relog_close(relog_t *h, int timeout_ms);

/* How many records the ring has overwritten since relog_open. */
uint64_t relog_dropped(const relog_t *h);

#ifdef __cplusplus
}
#endif

#endif

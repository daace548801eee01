/* librelog's private header. */
#ifndef RELOG_SHIM_H
#define RELOG_SHIM_H

#include <pthread.h>
#include <stdint.h>

#include <msgpack.h>

#include "relog.h"
#include "ring.h"

#define RELOG_API __attribute__((visibility("default")))

#define SHIM_SOCKET_DEFAULT "/run/relogd/relogd.sock"
#define SHIM_QUEUE_MAX_DEFAULT 200
#define SHIM_FLUSH_INTERVAL_DEFAULT 100
#define SHIM_FLUSH_BATCH_DEFAULT 20
#define SHIM_SDK_VERSION "relog-c/0.1.0"

/* Frames the flusher packs into one send. */
#define SHIM_FRAMES_PER_SEND 8
/* Reconnect backoff, doubling from the first to the cap. */
#define SHIM_BACKOFF_FIRST_MS 50
#define SHIM_BACKOFF_MAX_MS 1000
/* How long one connect, hello or send may take outside of close. */
#define SHIM_IO_TIMEOUT_MS 5000

struct relog {
	/* Set by relog_open, then read-only. */
	char *socket_path;
	char *plugin_id;	/* NULL: none */
	char *session_token;
	char *runner_id;
	size_t batch;
	unsigned interval_ms;
	char **prefixes;	/* NULL-terminated */
	size_t *prefix_lens;

	/* Under lock. */
	pthread_mutex_t lock;
	pthread_cond_t wake;	/* the flusher: work, flush or close */
	pthread_cond_t sent_cond;	/* relog_flush: sent moved on */
	struct ring ring;
	uint64_t pushed;	/* records accepted, ever */
	uint64_t retired;	/* records sent, or written to stderr */
	int flusher_idle;	/* the flusher waits on wake */
	int flush_wanted;
	int closing;
	int64_t close_deadline;	/* monotonic ms, when closing */
	int close_fallback;	/* close had to write records to stderr */

	/* The flusher thread's own. */
	pthread_t thread;
	int fd;			/* -1: not connected */
	int64_t next_connect;	/* monotonic ms */
	unsigned backoff_ms;
	int64_t request_id;
	msgpack_sbuffer out;
	struct ring_slot *batch_slots;	/* batch * SHIM_FRAMES_PER_SEND */
};

/* relog.c */
int64_t	shim_now_ms(void);
int64_t	shim_wall_ms(void);

/* flusher.c */
void   *flusher_main(void *);

#endif

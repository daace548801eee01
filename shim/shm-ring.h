/*
 * The producer side of the shared record ring (proto/relog-ring.h): a
 * sealed memfd the runner passes to relogd (or, without memfds, memory of
 * its own), into which any number of threads push records with no lock,
 * no system call and no allocation, each into a lane of its own while one
 * is free, the others into lane 0.
 * A full ring overwrites its oldest records and counts them.
 *
 * Thread safety: shm_ring_push may run in any number of threads at once,
 * and in a signal handler that interrupts one (into lane 0, then).
 * Everything else is for one thread at a time, with no push running
 * (shm_ring_dropped and shm_ring_stats excepted: they only read).
 */
#ifndef RELOG_SHM_RING_H
#define RELOG_SHM_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A record to copy in: strings with lengths, not NUL-terminated. */
struct shm_ring_record {
	int64_t timestamp_ms;
	int level;
	const char *name;
	size_t name_len;
	const char *msg;
	size_t msg_len;
	const char *exc;
	size_t exc_len;
	const char *color;	/* NULL: none */
	size_t color_len;
};

/*
 * Wakes relogd: called by the push that finds the consumer armed, at most
 * once per arming, in the pushing thread. It must not block or allocate
 * (e.g. a send(2) of one byte, MSG_DONTWAIT | MSG_NOSIGNAL, on a socket of
 * its own).
 */
typedef void (*shm_ring_wake_cb)(void *);

/*
 * What the ring has seen, summed over its lanes; positions count slots
 * (see relog-ring.h).
 */
struct shm_ring_stats {
	uint64_t head;		/* positions handed out */
	uint64_t tail;		/* where the consumer is (relogd writes it) */
	uint64_t overwritten;	/* unread records overwritten (ring full) */
	uint64_t abandoned;	/* given up: a lapped writer was in the way */
	uint64_t torn;		/* unread records relogd found overwritten */
	uint64_t unfinished;	/* records relogd skipped as never finished */
	uint64_t reported;	/* of those four, what relogd has said in a
				   notice it wrote (relogd writes it) */
	uint64_t unmapped;	/* records pushed while there was no ring
				   (or lane 0 could not be made) */
};

struct shm_ring;

uint32_t shm_ring_slots(size_t);
int	shm_ring_create(struct shm_ring **, uint32_t, shm_ring_wake_cb, void *);
int	shm_ring_create_lanes(struct shm_ring **, uint32_t, unsigned,
	    shm_ring_wake_cb, void *);
void	shm_ring_destroy(struct shm_ring *);
int	shm_ring_fd(const struct shm_ring *);
void   *shm_ring_memory(const struct shm_ring *, size_t *);
int	shm_ring_push(struct shm_ring *, const struct shm_ring_record *);
void	shm_ring_rechecked(struct shm_ring *, bool);
bool	shm_ring_is_rechecked(const struct shm_ring *);
int	shm_ring_reset(struct shm_ring *);
uint64_t shm_ring_dropped(const struct shm_ring *);
void	shm_ring_stats(const struct shm_ring *, struct shm_ring_stats *);
void	shm_ring_heads(const struct shm_ring *, uint64_t *);
int	shm_ring_passed(const struct shm_ring *, const uint64_t *);

#endif

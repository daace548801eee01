/*
 * The shared record ring, producer side, its state: private to the two
 * files that are it. shm-ring-map.c makes the ring (its memfd, lanes,
 * mapping) and reads its counts; shm-ring.c pushes records into it.
 */
#ifndef SHM_RING_INT_H
#define SHM_RING_INT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "relog-ring.h"
#include "shm-ring.h"

/* Tokens of threads in lane 0 a ring keeps (then it takes over no lane). */
#define SHM_RING_SHARED_MAX 64

/* A lane: its header and slots, in the ring's mapping. */
struct shm_lane {
	struct relog_ring_header *hdr;
	struct relog_ring_slot *slots;
	_Atomic int ready;		/* its slots: 1 ready; 0 not made
					   yet, -1 not to be used (its
					   threads use lane 0) */
};

struct shm_ring {
	void *base;			/* NULL: no ring (a reset failed) */
	struct shm_lane lane[RELOG_RING_LANES_MAX];
	unsigned lane_count;
	uint64_t mask;			/* slot_count - 1 */
	uint32_t slot_count;		/* of a lane */
	size_t size;			/* of the mapping and the memfd */
	int fd;				/* -1 when base is NULL */
	shm_ring_wake_cb wake;		/* NULL: none */
	void *wake_arg;
	bool prefetchw;			/* the CPU has PREFETCHW */
	/*
	 * The consumer looks again after it arms (relogd says so in the
	 * hello's reply): a push into a lane of its own commits with release
	 * order, not seq_cst, and loads wake_at relaxed (shm_ring_push_one).
	 */
	_Atomic bool rechecked;
	_Atomic uint64_t unmapped;

	/*
	 * Which thread has which lane, by token (shm_ring_token): owner[i]
	 * (i >= 1), the token of the thread whose lane i is, 0 while none has
	 * it; shared[], tokens of threads sent to lane 0 (0: a free entry),
	 * so that they stay there; no_steal: shared[] was full, so no lane
	 * of an ended thread is taken over (a thread in lane 0 not in shared[]
	 * could take it). serial: this mapping's, to tell it apart in
	 * threads' caches.
	 */
	_Atomic uint64_t owner[RELOG_RING_LANES_MAX];
	_Atomic uint64_t shared[SHM_RING_SHARED_MAX];
	_Atomic bool no_steal;
	uint64_t serial;
};

int	shm_ring_make(struct shm_ring *, struct shm_lane *);
struct shm_lane *shm_ring_populate(struct shm_ring *, struct shm_lane *);

#endif

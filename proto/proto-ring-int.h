/*
 * The consumer of a shared ring, its state: private to the three files
 * that are it. proto-ring-open.c checks and maps a runner's memfd;
 * proto-ring.c reads records out of it; proto-ring-commit.c writes the
 * consumer's words back into it (tails and taken, wake_at, reported).
 */
#ifndef PROTO_RING_INT_H
#define PROTO_RING_INT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "proto-ring.h"
#include "relog-ring.h"

/*
 * Positions reads reached, kept for proto_ring_commit when the ring has
 * more than one lane: one a read, as many as there are reads whose records
 * are not written yet. Past that, a read keeps none, and its commit makes
 * the one kept before it: records read twice after a crash, never lost.
 */
#define PROTO_RING_MARKS 64

/* One lane, read in position order. */
struct proto_lane {
	struct relog_ring_header *hdr;
	struct relog_ring_slot *slots;
	uint64_t pos;			/* next position to read: ours alone */
	uint64_t head;			/* as loaded by this read */
	uint64_t end;			/* with limited: read no further */
	uint64_t sync;			/* proto_ring_synced: read to here */
	uint64_t torn;			/* totals, for the runner to read */
	uint64_t unfinished;
	uint64_t seen;			/* losses proto_ring_new_drops found */
	uint64_t said;			/* ...and said: the header's reported */
	uint64_t claims;		/* records taken, not committed past */
	uint64_t survivors;		/* taken before us, not read again */
	uint64_t survivors_end;		/* ...all before this position */
	uint64_t delivered;		/* since the start: taken ones done */
	uint64_t committed;		/* delivered, as of the last commit */
	int fresh;			/* not read since the start */
	int limited;
	int skipping;			/* the last slot skipped: unfinished */
	int status;			/* this read: PROTO_RING_*, or -1 */
	int stuck;			/* pending at stuck_pos since
					   stuck_since, as reads ended */
	uint64_t stuck_pos;
	int64_t stuck_since;		/* CLOCK_MONOTONIC ns */
	uint64_t armed;			/* wake_at as we stored it; 0: not */
	int held;			/* rec is copied, not delivered yet */
	int let_go;			/* ...or was, too large to keep, as
					   the last read ended */
	uint64_t rec_s0;		/* its first slot's seq, as copied */
	struct proto_ring_record rec;
	uint64_t rec_slots;		/* the slots rec takes */
	uint64_t rec_bytes;		/* its size in the ring */
	uint64_t *buf;			/* rec's copy; NULL until a record */
	size_t buf_words;		/* its size */
};

struct proto_ring {
	void *base;
	size_t size;			/* of the mapping */
	uint64_t slot_count;		/* as checked at open, never reread */
	uint64_t mask;
	unsigned lane_count;		/* likewise */
	int give_up;			/* this read: PROTO_RING_GIVE_UP */
	int error;			/* sticky: 0 or a negative errno */
	const char *cause;
	int mapped;			/* by proto_ring_open: to unmap */
	uint64_t token_base;		/* tokens go on above those given */
	uint64_t token_last;
	/*
	 * What proto_ring_position said and the lanes then, a mark each:
	 * PROTO_RING_MARKS kept for commits, then the last token's (1 + 2 x
	 * lane_count words: the token, then each lane's position and
	 * deliveries), sized by the lanes.
	 */
	uint64_t *marks;
	unsigned mark_first, mark_n;
	struct proto_lane lane[RELOG_RING_LANES_MAX];
};

/* Mark the ring failed; every later call says so. Returns error. */
static inline int
proto_ring_fail(struct proto_ring *r, int error, const char *cause)
{
	r->error = error;
	r->cause = cause;
	return (error);
}

/* A lane's losses as its header counts them (the runner's word). */
static inline uint64_t
proto_lane_losses(const struct proto_lane *l)
{
	return (atomic_load_explicit(&l->hdr->overwritten,
	    memory_order_relaxed) + atomic_load_explicit(&l->hdr->abandoned,
	    memory_order_relaxed) + l->torn + l->unfinished);
}

/* Store a lane's count of records taken and not committed past. */
static inline void
proto_lane_store_taken(struct proto_lane *l)
{
	atomic_store_explicit(&l->hdr->taken, l->claims >= l->committed ?
	    l->claims - l->committed : 0, memory_order_relaxed);
}

/* Mark i (PROTO_RING_MARKS: the last token's). */
static inline uint64_t *
proto_ring_mark(const struct proto_ring *r, unsigned i)
{
	return (r->marks + (size_t)i * (1 + 2 * r->lane_count));
}

/* Note the lanes' positions and deliveries now in mark i. */
static inline void
proto_ring_mark_now(const struct proto_ring *r, unsigned i, uint64_t token)
{
	uint64_t *m = proto_ring_mark(r, i);
	unsigned j;

	m[0] = token;
	for (j = 0; j < r->lane_count; j++) {
		m[1 + 2 * j] = r->lane[j].pos;
		m[2 + 2 * j] = r->lane[j].delivered;
	}
}

/* The slot a position of a lane maps to. */
static inline struct relog_ring_slot *
proto_lane_slot(const struct proto_ring *r, const struct proto_lane *l,
    uint64_t pos)
{
	return (&l->slots[pos & r->mask]);
}

/* Has a lane's reading reached its limit (proto_ring_limit), if it has one? */
static inline int
proto_lane_at_limit(const struct proto_lane *l)
{
	return (l->limited && (int64_t)(l->pos - l->end) >= 0);
}

void	proto_ring_start(struct proto_ring *);

#endif

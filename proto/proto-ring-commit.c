/*
 * The shared record ring, consumer side: what the consumer writes back
 * into the ring (PROTOCOL.md, "Shared ring"): its tails and taken, where a
 * consumer after it goes on from, as records are written; wake_at, to be
 * woken; reported, the losses it said. Besides these, it writes only the
 * CASes that take records and settle lost ones (proto-ring.c).
 */
#include <string.h>

#include "proto-ring-int.h"

/*
 * Store a lane's tail as a mark says: what was taken before it is no
 * longer taken (stored first: a consumer killed between the two stores
 * reads those records again, rather than count them lost).
 */
static void
proto_lane_commit(struct proto_lane *l, uint64_t pos, uint64_t delivered)
{
	l->committed = delivered;
	proto_lane_store_taken(l);
	atomic_store_explicit(&l->hdr->tail, pos, memory_order_release);
}

/*
 * Where reads reached (records taken and not delivered are not past it),
 * as a token for proto_ring_commit: with one lane its position, else a
 * number that grows with every lane's. A caller that sees
 * PROTO_RING_PENDING at the same position for long knows a writer is stuck.
 */
uint64_t
proto_ring_position(struct proto_ring *r)
{
	uint64_t t = r->token_base;
	unsigned i;

	for (i = 0; i < r->lane_count; i++)
		t += r->lane[i].pos;
	r->token_last = t;
	proto_ring_mark_now(r, PROTO_RING_MARKS, t);
	if (r->mark_n > 0 && proto_ring_mark(r, (r->mark_first + r->mark_n -
	    1) % PROTO_RING_MARKS)[0] == t)
		return (t);
	if (r->mark_n < PROTO_RING_MARKS)
		proto_ring_mark_now(r, (r->mark_first + r->mark_n++) %
		    PROTO_RING_MARKS, t);
	return (t);
}

/*
 * The records before token (from proto_ring_position) are written: store
 * the lanes' tails, where a consumer that comes next goes on from, and how
 * many records are taken and not committed.
 */
void
proto_ring_commit(struct proto_ring *r, uint64_t token)
{
	const uint64_t *m = NULL;
	unsigned i;

	while (r->mark_n > 0 && (int64_t)(proto_ring_mark(r,
	    r->mark_first)[0] - token) <= 0) {
		m = proto_ring_mark(r, r->mark_first);
		r->mark_first = (r->mark_first + 1) % PROTO_RING_MARKS;
		r->mark_n--;
	}
	/* The last token given, kept or not: its positions. */
	if (token == r->token_last)
		m = proto_ring_mark(r, PROTO_RING_MARKS);
	if (m == NULL)
		return;
	for (i = 0; i < r->lane_count; i++)
		proto_lane_commit(&r->lane[i], m[1 + 2 * i], m[2 + 2 * i]);
}

/*
 * Go back to the shared tails, as a consumer opening the ring would:
 * records read and not committed are read again (librelog, when it becomes
 * the consumer again after relogd was).
 */
void
proto_ring_rewind(struct proto_ring *r)
{
	if (r->error == 0)
		proto_ring_start(r);
}

/*
 * Read no further than where each lane's head is now (a drain that must
 * end though the runner may still push): a record that starts before it
 * is read whole.
 */
void
proto_ring_limit(struct proto_ring *r)
{
	struct proto_lane *l;
	unsigned i;

	for (i = 0; i < r->lane_count; i++) {
		l = &r->lane[i];
		l->end = atomic_load_explicit(&l->hdr->head,
		    memory_order_acquire);
		l->limited = 1;
	}
}

/*
 * A runner asks that what it pushed so far be read (and written): note
 * where each lane's head is now, for proto_ring_synced.
 */
void
proto_ring_sync(struct proto_ring *r)
{
	struct proto_lane *l;
	unsigned i;

	for (i = 0; i < r->lane_count; i++) {
		l = &r->lane[i];
		l->sync = atomic_load_explicit(&l->hdr->head,
		    memory_order_acquire);
	}
}

/*
 * Have reads passed, in every lane, where its head was at the last
 * proto_ring_sync (or the lane's limit, or what the lane still holds)?
 */
int
proto_ring_synced(const struct proto_ring *r)
{
	const struct proto_lane *l;
	unsigned i;

	for (i = 0; i < r->lane_count; i++) {
		l = &r->lane[i];
		if ((int64_t)(l->pos - l->sync) < 0 && !proto_lane_at_limit(l))
			return (0);
	}
	return (1);
}

/*
 * Is there enough to read in a lane for a consumer waiting for position w:
 * the slot at our position ready (not being written, not unclaimed) and
 * head at w? seq_cst loads: see proto_ring_arm.
 */
static int
proto_lane_due(struct proto_ring *r, struct proto_lane *l, uint64_t w)
{
	uint64_t s, h;
	unsigned state;
	int64_t n;

	/* Head first: a lane never used is never read (its pages not made). */
	h = atomic_load_explicit(&l->hdr->head, memory_order_seq_cst);
	if ((int64_t)(h - w) < 0)
		return (0);
	if (l->held)
		return (1);	/* its slot at pos is the record we hold */
	s = atomic_load_explicit(&proto_lane_slot(r, l, l->pos)->seq,
	    memory_order_seq_cst);
	n = relog_ring_seq_cmp(s, l->pos);
	state = relog_ring_seq_state(s);
	return (n > 0 || (n == 0 && state != RELOG_RING_WRITING &&
	    state != RELOG_RING_WRITING_FIRST));
}

/* Arm one lane; returns 1 if it is due already, else 0. */
static int
proto_lane_arm(struct proto_ring *r, struct proto_lane *l, uint32_t slots)
{
	uint64_t w = l->pos + (slots == 0 ? 1 : slots > r->slot_count / 2 ?
	    r->slot_count / 2 : slots);

	/* Busy: do not arm at all, or producers would wake us for nothing. */
	if (proto_lane_due(r, l, w))
		return (1);
	/*
	 * seq_cst store, then seq_cst loads, against a push's seq_cst commit
	 * then load of wake_at: either it sees us armed, or we see it.
	 */
	atomic_store_explicit(&l->hdr->wake_at, w, memory_order_seq_cst);
	if (!proto_lane_due(r, l, w)) {
		l->armed = w;
		return (0);
	}
	atomic_compare_exchange_strong_explicit(&l->hdr->wake_at, &w,
	    RELOG_RING_DISARMED, memory_order_relaxed, memory_order_relaxed);
	return (1);
}

/*
 * Ask to be woken (through the runner's wake callback) once a lane holds
 * slots slots past our position in it: 1 is "as soon as it is not empty";
 * more than half a lane (UINT32_MAX, say) is half a lane, or it would
 * overflow before the wakeup. After a read that found a record being
 * written, its lane is armed for 1 slot (its commit), and lanes holding a
 * record copied out (or letting go of one too large to keep) not at all.
 * Returns 0 when armed (wait for the wakeup), 1 when there is already
 * enough to read (read now: nothing will wake us), or the ring's error.
 * Above 1, or after PROTO_RING_PENDING, a caller also needs a timer for
 * the records below the mark.
 */
int
proto_ring_arm(struct proto_ring *r, uint32_t slots)
{
	unsigned i;

	if (r->error != 0)
		return (r->error);
	struct proto_lane *l;
	int blocked = 0;

	/*
	 * A lane the last read found a record being written in holds the
	 * others' back: wake as soon as that record is committed, and not
	 * for the records held meanwhile, or let go (a timer reads them if
	 * it is stuck): they are ready, and would have us read at once.
	 */
	for (i = 0; i < r->lane_count; i++) {
		l = &r->lane[i];
		l->armed = 0;
		if (!l->held && l->status == PROTO_RING_PENDING)
			blocked = 1;
	}
	for (i = 0; i < r->lane_count; i++) {
		l = &r->lane[i];
		if ((l->held || l->let_go) && blocked)
			continue;
		if (proto_lane_arm(r, l, blocked &&
		    l->status == PROTO_RING_PENDING ? 1 : slots))
			return (1);
	}
	return (0);
}

/*
 * Look again, some time after proto_ring_arm returned 0, at the lanes it
 * armed: 1 if one has what it was armed for (read now: a producer that
 * committed without a store-load fence may have missed the arming), else 0
 * (still armed), or the ring's error. A producer's commit is seen by then
 * whatever its order: stores leave a CPU's store buffer within
 * microseconds (PROTOCOL.md, "Wakeup").
 */
int
proto_ring_due(struct proto_ring *r)
{
	struct proto_lane *l;
	unsigned i;

	if (r->error != 0)
		return (r->error);
	for (i = 0; i < r->lane_count; i++) {
		l = &r->lane[i];
		if (l->armed != 0 && proto_lane_due(r, l, l->armed))
			return (1);
	}
	return (0);
}

/*
 * How many more records the ring lost (overwritten and abandoned, the
 * runner's counts; torn and unfinished, the consumers') since they were
 * last found here, or said by a consumer before (its headers' reported).
 * The runner's word: a lane's sum counts only as it passes the most it
 * was (one that went back counts nothing until then: a producer takes its
 * count back when its CAS fails, and a count seen before that must not be
 * said again), one that jumped counts PROTO_RING_DROPS_MAX at most. Stores
 * nothing: proto_ring_drops_said does, once they are said.
 */
uint64_t
proto_ring_new_drops(struct proto_ring *r)
{
	struct proto_lane *l;
	uint64_t lost, d, total = 0;
	unsigned i;

	if (r->error != 0)
		return (0);
	for (i = 0; i < r->lane_count; i++) {
		l = &r->lane[i];
		lost = proto_lane_losses(l);
		if (lost <= l->seen)
			continue;
		d = lost - l->seen;
		l->seen = lost;
		total += d < PROTO_RING_DROPS_MAX ? d : PROTO_RING_DROPS_MAX;
	}
	return (total < PROTO_RING_DROPS_MAX ? total : PROTO_RING_DROPS_MAX);
}

/*
 * The losses proto_ring_new_drops has found so far, a lane each, into
 * found (RELOG_RING_LANES_MAX of them): what proto_ring_drops_said stores
 * once the notice that says them is written.
 */
void
proto_ring_drops_found(const struct proto_ring *r, uint64_t *found)
{
	unsigned i;

	memset(found, 0, RELOG_RING_LANES_MAX * sizeof *found);
	for (i = 0; i < r->lane_count; i++)
		found[i] = r->lane[i].seen;
}

/*
 * Losses (from proto_ring_drops_found) are said, and what said them is
 * written: store them in the headers, so that a consumer after us (we may
 * be killed) says only what was not.
 */
void
proto_ring_drops_said(struct proto_ring *r, const uint64_t *found)
{
	struct proto_lane *l;
	unsigned i;

	if (r->error != 0)
		return;
	for (i = 0; i < r->lane_count; i++) {
		l = &r->lane[i];
		if (l->said == found[i])
			continue;
		l->said = found[i];
		atomic_store_explicit(&l->hdr->reported, l->said,
		    memory_order_relaxed);
	}
}

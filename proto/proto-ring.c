/*
 * The shared record ring, consumer side (PROTOCOL.md, "Shared ring"). The
 * runner's memory is read as io_uring reads a submission queue: each shared
 * word is loaded once into a local and only the local is checked and used;
 * positions are masked on use; a record is copied out before it is checked
 * (a seqlock: its slots' seqs are read before and after the copy); each call
 * visits at most slot_count slots and the caller's budget of records.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proto-clock.h"
#include "proto-ring-int.h"

/*
 * Words a lane's copy buffer keeps between reads (4 KiB: most records),
 * from its first record on. It grows for a larger one, up to the largest
 * (192 KiB), until that record is delivered: relogd has a ring a runner,
 * and each keeping 192 KiB once it saw one large record would be that much
 * memory a runner, for nothing.
 */
#define PROTO_RING_BUF_SMALL 512

/* PROTO_RING_STUCK_MS: its writer is stuck, or long descheduled. */
#define PROTO_RING_STUCK_NS (PROTO_RING_STUCK_MS * 1000000LL)

/*
 * n records taken before us are done with, not by a commit (lost, or given
 * up): no longer taken, nor to be read again.
 */
static void
proto_lane_untaken(struct proto_lane *l, uint64_t n)
{
	l->claims -= n < l->claims ? n : l->claims;
	l->survivors -= n < l->survivors ? n : l->survivors;
	proto_lane_store_taken(l);
}

/* Count a record lost in a lane's header now: a crash must not undo it. */
static void
proto_lane_torn(struct proto_lane *l, uint64_t n, struct proto_ring_counts *c)
{
	l->torn += n;
	c->torn += n;
	atomic_store_explicit(&l->hdr->torn, l->torn, memory_order_relaxed);
}

/*
 * A read asks for the slot this many positions on (when the lane has
 * handed it out, and one more: not the one being written), so that the
 * lines another core wrote are on their way while the records before it
 * are copied and delivered. Those loads were most of proto_ring_read.
 * relogd's CPU per record, 8 runners x 200,000 records, three alternated
 * runs on a 2-core Intel Xeon VM: none 186 / 183 / 178 ns; 2 on 179 /
 * 174 / 175; 4 on 178 / 175 / 176; 8 on 179 / 171 / 169; 16 on 173 / 168
 * / 170.
 */
#define PROTO_RING_AHEAD 8

/*
 * Ask for a slot's first three lines (a 152-byte record's), to read. A
 * prefetch never faults, wherever the runner moved head.
 */
static inline void
proto_lane_prefetch(const struct relog_ring_slot *slot)
{
	__builtin_prefetch((const char *)slot, 0, 3);
	__builtin_prefetch((const char *)slot + 64, 0, 3);
	__builtin_prefetch((const char *)slot + 128, 0, 3);
}

/* Does a record header (a private copy) describe a record we can read? */
static int
proto_ring_header_ok(const struct relog_ring_record *h)
{
	if (h->name_len > RELOG_RING_TEXT_MAX ||
	    h->msg_len > RELOG_RING_TEXT_MAX ||
	    h->exc_len > RELOG_RING_TEXT_MAX ||
	    h->color_len > RELOG_RING_COLOR_MAX)
		return (0);
	if ((h->flags & ~RELOG_RING_RECORD_COLOR) != 0 ||
	    ((h->flags & RELOG_RING_RECORD_COLOR) == 0 && h->color_len != 0))
		return (0);
	return (h->size == RELOG_RING_RECORD_HEADER +
	    relog_ring_pad(h->name_len) + relog_ring_pad(h->msg_len) +
	    relog_ring_pad(h->exc_len) + relog_ring_pad(h->color_len));
}

/*
 * Move a record's first slot, read as s0, to state at the same position:
 * out of COMMITTED_FIRST, who does so counts the record once (delivered or
 * lost); a producer that claims it first counts it overwritten instead.
 * Returns 1 if we moved it.
 */
static int
proto_ring_settle(struct relog_ring_slot *slot, uint64_t s0, unsigned state)
{
	return (atomic_compare_exchange_strong_explicit(&slot->seq, &s0,
	    (s0 & ~(uint64_t)RELOG_RING_STATE_MASK) | state,
	    memory_order_acq_rel, memory_order_relaxed));
}

/*
 * Settle a record lost unread, its first slot read as s0, to a skip and
 * count it torn: the header's torn one past the lane's is stored first, so
 * that a consumer killed between the store and the CAS counts the record
 * twice, never not at all. Returns 1 if we moved it; else the header's
 * count goes back.
 */
static int
proto_lane_settle_lost(struct proto_lane *l, struct relog_ring_slot *slot,
    uint64_t s0, struct proto_ring_counts *c)
{
	atomic_store_explicit(&l->hdr->torn, l->torn + 1,
	    memory_order_relaxed);
	if (!proto_ring_settle(slot, s0, RELOG_RING_SKIP)) {
		atomic_store_explicit(&l->hdr->torn, l->torn,
		    memory_order_relaxed);
		return (0);
	}
	l->torn++;
	c->torn++;
	return (1);
}

/*
 * Give an unread record up (librelog's close), its first slot read as s0:
 * move it to a skip, counted lost until it is written (proto_lane_given).
 * The count is the runner's abandoned, which a relogd still reading the
 * ring loads at every read (torn is each consumer's own, loaded when it
 * opens the ring): added to before the CAS, and taken back if the CAS
 * fails, so that a runner killed between the two counts the record twice,
 * never not at all. Returns 1 if we moved it.
 */
static int
proto_lane_give_up(struct proto_lane *l, struct relog_ring_slot *slot,
    uint64_t s0)
{
	atomic_fetch_add_explicit(&l->hdr->abandoned, 1, memory_order_relaxed);
	if (!proto_ring_settle(slot, s0, RELOG_RING_SKIP)) {
		atomic_fetch_sub_explicit(&l->hdr->abandoned, 1,
		    memory_order_relaxed);
		return (0);
	}
	return (1);
}

/*
 * A record lost unread, its first slot read as s0: count it if it is ours
 * to count, and leave it a skip. Ours: one not taken (COMMITTED_FIRST); or
 * one at our position that a consumer before us took and did not commit
 * (CONSUMED_FIRST: counted as taken, at the first read, until now).
 */
static void
proto_lane_lost(struct proto_lane *l, struct relog_ring_slot *slot,
    uint64_t s0, uint64_t pos, struct proto_ring_counts *c)
{
	unsigned state = relog_ring_seq_state(s0);

	if (state == RELOG_RING_CONSUMED_FIRST &&
	    relog_ring_seq_cmp(s0, pos) == 0) {
		if (proto_lane_settle_lost(l, slot, s0, c))
			proto_lane_untaken(l, 1);
	} else if (state == RELOG_RING_COMMITTED_FIRST)
		(void)proto_lane_settle_lost(l, slot, s0, c);
}

/*
 * The last look at a lane's record, held at its position, before it is
 * delivered: take it (unread: to CONSUMED_FIRST, or given up: to SKIP), or
 * see it still there (taken before), and count it: one more delivered,
 * and one more taken and not committed if no one had taken it. An unread
 * one's taken is stored before its CAS, as proto_lane_settle_lost's
 * count. A given-up one is counted lost until it is delivered
 * (proto_lane_given): an unread one in abandoned (proto_lane_give_up),
 * one taken before in taken, where it stays. Returns 0 if the record
 * changed meanwhile: its claimer counted.
 */
static int
proto_lane_claim(const struct proto_ring *r, struct proto_lane *l)
{
	struct relog_ring_slot *first = proto_lane_slot(r, l, l->pos);
	uint64_t s0 = l->rec_s0;
	unsigned state = relog_ring_seq_state(s0);

	if (r->give_up) {
		if (state == RELOG_RING_CONSUMED_FIRST)
			return (proto_ring_settle(first, s0, RELOG_RING_SKIP));
		return (proto_lane_give_up(l, first, s0));
	}
	if (state == RELOG_RING_CONSUMED_FIRST) {
		/* Read again: a commit will see to it. */
		if (atomic_load_explicit(&first->seq, memory_order_relaxed) !=
		    s0)
			return (0);
		if (l->survivors > 0)
			l->survivors--;
		l->delivered++;
		return (1);
	}
	l->claims++;
	proto_lane_store_taken(l);
	if (!proto_ring_settle(first, s0, RELOG_RING_CONSUMED_FIRST)) {
		l->claims--;
		proto_lane_store_taken(l);
		return (0);
	}
	l->delivered++;
	return (1);
}

/*
 * A given-up record is delivered (librelog's close wrote it to stderr): no
 * longer counted lost, nor taken if it was.
 */
static void
proto_lane_given(struct proto_lane *l)
{
	if (relog_ring_seq_state(l->rec_s0) == RELOG_RING_CONSUMED_FIRST)
		proto_lane_untaken(l, 1);
	else
		atomic_fetch_sub_explicit(&l->hdr->abandoned, 1,
		    memory_order_relaxed);
}

/*
 * Have a lane's copy buffer hold words (a checked header's: the largest
 * record's at most), keeping what it holds. Returns 0 or -ENOMEM.
 */
static int
proto_lane_buf_fit(struct proto_lane *l, size_t words)
{
	uint64_t *p;

	if (words < PROTO_RING_BUF_SMALL)
		words = PROTO_RING_BUF_SMALL;
	if (words <= l->buf_words)
		return (0);
	if ((p = realloc(l->buf, words * sizeof *p)) == NULL)
		return (-ENOMEM);
	l->buf = p;
	l->buf_words = words;
	return (0);
}

/* A buffer grown for a large record, delivered, goes back to small. */
static void
proto_lane_buf_shrink(struct proto_lane *l)
{
	uint64_t *p;

	if (l->held || l->buf_words <= PROTO_RING_BUF_SMALL)
		return;
	if ((p = realloc(l->buf, PROTO_RING_BUF_SMALL * sizeof *p)) == NULL)
		return;
	l->buf = p;
	l->buf_words = PROTO_RING_BUF_SMALL;
}

/*
 * Copy out the record whose first slot (at l->pos, below l->head) read s0,
 * committed or consumed, check it, and hold it in l->rec until it is
 * delivered (and taken then: proto_lane_claim). Returns 0 when held; 1 if
 * it was overwritten meanwhile (move on by a slot); or a negative errno if
 * the ring is inconsistent.
 */
static int
proto_lane_take(struct proto_ring *r, struct proto_lane *l, unsigned lane,
    uint64_t s0, struct proto_ring_counts *c)
{
	struct relog_ring_slot *first = proto_lane_slot(r, l, l->pos);
	const struct relog_ring_slot *s;
	struct relog_ring_record hd;
	struct proto_ring_record *rec = &l->rec;
	uint64_t pos = l->pos, k, i, j, w, words, si, hw[4];
	const char *text;

	if (proto_lane_buf_fit(l, 0) != 0)
		return (proto_ring_fail(r, -ENOMEM, "out of memory"));
	/*
	 * The header, checked once the seq says it was not being rewritten,
	 * taken apart from the words loaded (relog_ring_header_from); they
	 * are not kept in the copy, whose texts start after them.
	 */
	for (i = 0; i < 4; i++)
		hw[i] = atomic_load_explicit(&first->word[i],
		    memory_order_relaxed);
	atomic_thread_fence(memory_order_acquire);
	if (atomic_load_explicit(&first->seq, memory_order_relaxed) != s0)
		return (1);
	relog_ring_header_from(&hd, hw);
	if (!proto_ring_header_ok(&hd))
		return (proto_ring_fail(r, -EBADMSG,
		    "a committed record has an inconsistent header"));
	k = relog_ring_record_slots(hd.size);
	if (l->head - pos < k)
		return (proto_ring_fail(r, -EPROTO,
		    "a committed record runs past head"));
	if (proto_lane_buf_fit(l, hd.size / 8) != 0)
		return (proto_ring_fail(r, -ENOMEM, "out of memory"));

	/* Its later slots were committed before its first: all or newer. */
	for (i = 1; i < k; i++) {
		si = atomic_load_explicit(&proto_lane_slot(r, l, pos + i)->seq,
		    memory_order_acquire);
		if (relog_ring_seq_cmp(si, pos + i) > 0)
			goto torn;
		if (si != relog_ring_seq(pos + i, RELOG_RING_COMMITTED))
			return (proto_ring_fail(r, -EPROTO,
			    "a committed record has a slot never committed"));
	}

	/* Copy, then see that no slot was claimed meanwhile. */
	words = hd.size / 8;
	for (i = 0, w = 4; w < words; i++) {
		s = proto_lane_slot(r, l, pos + i);
		for (j = i == 0 ? 4 : 0; j < RELOG_RING_SLOT_WORDS && w < words;
		    j++, w++)
			l->buf[w] = atomic_load_explicit(&s->word[j],
			    memory_order_relaxed);
	}
	atomic_thread_fence(memory_order_acquire);
	for (i = 1; i < k; i++) {
		if (atomic_load_explicit(&proto_lane_slot(r, l, pos + i)->seq,
		    memory_order_relaxed) !=
		    relog_ring_seq(pos + i, RELOG_RING_COMMITTED))
			goto torn;
	}

	text = (const char *)l->buf + RELOG_RING_RECORD_HEADER;
	rec->position = pos;
	rec->lane = lane;
	rec->timestamp_ms = hd.timestamp_ms;
	rec->level = hd.level;
	rec->name.ptr = text;
	rec->name.len = hd.name_len;
	text += relog_ring_pad(hd.name_len);
	rec->message.ptr = text;
	rec->message.len = hd.msg_len;
	text += relog_ring_pad(hd.msg_len);
	rec->exception.ptr = text;
	rec->exception.len = hd.exc_len;
	text += relog_ring_pad(hd.exc_len);
	rec->color.ptr = (hd.flags & RELOG_RING_RECORD_COLOR) != 0 ? text :
	    NULL;
	rec->color.len = hd.color_len;
	rec->taken = relog_ring_seq_state(s0) == RELOG_RING_CONSUMED_FIRST;
	l->rec_s0 = s0;
	l->rec_slots = k;
	l->rec_bytes = hd.size;
	l->held = 1;
	return (0);

torn:
	/* Overwritten under us; the later slots are skipped one by one. */
	proto_lane_lost(l, first, s0, pos, c);
	return (1);
}

/*
 * Skip a slot whose writer will never finish (the runner is dead): an
 * unfinished record is counted at its first slot, or once for a run of
 * slots never claimed; an older record still unread there is lost too.
 */
static void
proto_lane_skip_unfinished(struct proto_ring *r, struct proto_lane *l,
    uint64_t s, struct proto_ring_counts *c)
{
	int64_t cmp = relog_ring_seq_cmp(s, l->pos);

	if ((cmp == 0 && relog_ring_seq_state(s) == RELOG_RING_WRITING_FIRST) ||
	    (cmp < 0 && !l->skipping)) {
		l->unfinished++;
		c->unfinished++;
		atomic_store_explicit(&l->hdr->unfinished, l->unfinished,
		    memory_order_relaxed);
	}
	if (cmp < 0)
		proto_lane_lost(l, proto_lane_slot(r, l, l->pos), s, l->pos, c);
	l->skipping = 1;
	l->pos++;
}

/*
 * Lapped (head, as loaded, more than a lane past us): go on from the
 * oldest position the lane still holds. A record held is let go: its
 * slots are handed out again, and its claim would fail.
 */
static void
proto_lane_lapped(const struct proto_ring *r, struct proto_lane *l)
{
	if (l->head - l->pos > r->slot_count) {
		l->pos = l->head - r->slot_count;
		l->skipping = 0;
		l->held = 0;
	}
}

/*
 * The first read of a lane since its start: of the records a consumer
 * before us took and did not commit (its header's taken), those still
 * there (their first slot CONSUMED_FIRST at its position) we read again;
 * the others were overwritten while no one read, and no producer counted
 * them (a producer counts only records no one took): they are counted
 * torn now. At most a lane of slots looked at, once.
 */
static void
proto_lane_settle_taken(struct proto_ring *r, struct proto_lane *l,
    struct proto_ring_counts *c)
{
	uint64_t taken, left = 0, p;

	l->fresh = 0;
	taken = atomic_load_explicit(&l->hdr->taken, memory_order_relaxed);
	if (taken == 0)
		return;
	for (p = l->pos; p != l->head; p++) {
		if (atomic_load_explicit(&proto_lane_slot(r, l, p)->seq,
		    memory_order_relaxed) ==
		    relog_ring_seq(p, RELOG_RING_CONSUMED_FIRST))
			left++;
	}
	/* Counted first: killed between the two, we count them twice. */
	if (taken > left)
		proto_lane_torn(l, taken - left < PROTO_RING_DROPS_MAX ?
		    taken - left : PROTO_RING_DROPS_MAX, c);
	l->claims = l->survivors = left;
	l->survivors_end = l->head;
	proto_lane_store_taken(l);
}

/*
 * Past the last of the records taken before us that were there at the
 * first read: those we did not read again (nor count torn) were
 * overwritten since, or skipped by a lapped read; no producer counted
 * them (they were taken), so we do.
 */
static void
proto_lane_survivors_gone(struct proto_lane *l, struct proto_ring_counts *c)
{
	uint64_t n = l->survivors;

	if (n == 0 || (int64_t)(l->pos - l->survivors_end) < 0)
		return;
	proto_lane_torn(l, n, c);
	proto_lane_untaken(l, n);
}

/*
 * A read's first look at a lane: where its head is, which must not have
 * gone back (nor below a record held). Returns 0 or a negative errno.
 */
static int
proto_lane_begin(struct proto_ring *r, struct proto_lane *l,
    struct proto_ring_counts *c)
{
	/* READ_ONCE: a plain field the runner may scribble on. */
	const volatile uint32_t *magic = &l->hdr->magic;

	if (*magic != RELOG_RING_MAGIC)
		return (proto_ring_fail(r, -EPROTO,
		    "the ring's header was overwritten"));
	l->head = atomic_load_explicit(&l->hdr->head, memory_order_acquire);
	if ((int64_t)(l->head - l->pos) < 0 ||
	    (l->held && l->head - l->pos < l->rec_slots))
		return (proto_ring_fail(r, -EPROTO,
		    "the ring's head went back"));
	proto_lane_lapped(r, l);
	if (l->fresh)
		proto_lane_settle_taken(r, l, c);
	proto_lane_survivors_gone(l, c);
	l->status = -1;
	l->let_go = 0;
	return (0);
}

/*
 * Move a lane on to its next record and hold it, or find it has none ready
 * (l->status then says why: drained, or pending, a record being written).
 * Visits at most a lane of slots a read. Returns 0 or a negative errno.
 */
static int
proto_lane_next(struct proto_ring *r, struct proto_lane *l, unsigned lane,
    int flags, struct proto_ring_counts *c)
{
	uint64_t s;
	int64_t n;
	unsigned state;
	int rc;

	while (l->pos != l->head && !proto_lane_at_limit(l)) {
		if (l->head - l->pos > PROTO_RING_AHEAD + 1)
			proto_lane_prefetch(proto_lane_slot(r, l,
			    l->pos + PROTO_RING_AHEAD));
		s = atomic_load_explicit(&proto_lane_slot(r, l, l->pos)->seq,
		    memory_order_acquire);
		n = relog_ring_seq_cmp(s, l->pos);
		state = relog_ring_seq_state(s);
		if (n > 0) {
			/* Claimed again: its claimer counted what it held. */
			l->skipping = 0;
			l->pos++;
			c->skipped++;
			continue;
		}
		if (n < 0 || state == RELOG_RING_WRITING ||
		    state == RELOG_RING_WRITING_FIRST) {
			/* Not claimed yet, or being written. */
			if ((flags & PROTO_RING_PEER_DEAD) == 0) {
				l->status = PROTO_RING_PENDING;
				return (0);
			}
			proto_lane_skip_unfinished(r, l, s, c);
			continue;
		}
		l->skipping = 0;
		switch (state) {
		case RELOG_RING_SKIP:
		case RELOG_RING_COMMITTED:	/* the rest of a lost record */
		case RELOG_RING_POISONED:	/* given up */
			l->pos++;
			c->skipped++;
			continue;
		case RELOG_RING_COMMITTED_FIRST:
		case RELOG_RING_CONSUMED_FIRST:	/* taken, not acknowledged */
			rc = proto_lane_take(r, l, lane, s, c);
			if (rc < 0)
				return (rc);
			if (rc == 0)
				return (0);
			l->pos++;
			continue;
		default:
			return (proto_ring_fail(r, -EPROTO,
			    "a slot is in no known state"));
		}
	}
	l->status = PROTO_RING_DRAINED;
	return (0);
}

/* After a read stopped: might a lane have more (records, or skips)? */
static int
proto_ring_more(const struct proto_ring *r)
{
	const struct proto_lane *l;
	unsigned i;

	for (i = 0; i < r->lane_count; i++) {
		l = &r->lane[i];
		if (l->held || (l->pos != l->head && !proto_lane_at_limit(l)))
			return (1);
	}
	return (0);
}

/*
 * Have a lane hold its next record, unless it holds one or was found
 * without one this read (proto_lane_next). Returns 0 or a negative errno.
 */
static int
proto_lane_look(struct proto_ring *r, struct proto_lane *l, int flags,
    struct proto_ring_counts *c)
{
	if (l->held || l->status >= 0)
		return (0);
	return (proto_lane_next(r, l, (unsigned)(l - r->lane), flags, c));
}

/*
 * The lane holding the oldest record that may be delivered now, every lane
 * looked at (proto_lane_look), and how many hold one (*held); or NULL, and
 * *status says why: drained, or a record being written. Returns 0 or a
 * negative errno.
 */
static int
proto_ring_oldest(struct proto_ring *r, int flags, int64_t now,
    struct proto_ring_counts *c, struct proto_lane **best, unsigned *held,
    int *status)
{
	struct proto_lane *l;
	int pending = 0, waiting = 0, rc;
	unsigned i;

	*best = NULL;
	*held = 0;
	for (i = 0; i < r->lane_count; i++) {
		l = &r->lane[i];
		if ((rc = proto_lane_look(r, l, flags, c)) != 0)
			return (rc);
		if (l->held) {
			(*held)++;
			if (*best == NULL ||
			    l->rec.timestamp_ms < (*best)->rec.timestamp_ms)
				*best = l;
		} else if (l->status == PROTO_RING_PENDING) {
			waiting = 1;
			/* A writer stuck holds up its lane only. */
			if (!l->stuck || l->stuck_pos != l->pos ||
			    now - l->stuck_since < PROTO_RING_STUCK_NS)
				pending = 1;
		}
	}
	/* Giving up (librelog's close) waits for no writer. */
	if (pending && (flags & PROTO_RING_GIVE_UP) == 0)
		*best = NULL;
	if (*best == NULL)
		*status = waiting ? PROTO_RING_PENDING : PROTO_RING_DRAINED;
	return (0);
}

/*
 * Read committed records into cb, until every lane is drained (or at its
 * limit), a record is still being written (unless flags has
 * PROTO_RING_PEER_DEAD: then unfinished records are skipped and counted),
 * max_records (>= 1) were delivered, max_bytes were passed, or cb asked to
 * stop. The lanes' records are merged oldest first by timestamp (a lane's
 * own stay in their order); while a lane has a record being written, none
 * is delivered, as it may be older, unless reads have found that writer
 * at it for PROTO_RING_STUCK_NS (stuck, or descheduled that long: it holds
 * up its own lane only), or PROTO_RING_GIVE_UP. A record is taken as it
 * is delivered; one copied out for the merge waits for the next read, not
 * taken (a large one is let go, and copied again). Adds what it found to
 * *c. The shared tails do not move (proto_ring_commit). Returns
 * PROTO_RING_DRAINED, PROTO_RING_PENDING, PROTO_RING_AGAIN, or a negative
 * errno if the ring is inconsistent (sticky; see proto_ring_cause). Its
 * work is bounded by slot_count slots a lane and the budget.
 */
int
proto_ring_read(struct proto_ring *r, int flags, size_t max_records,
    size_t max_bytes, proto_ring_cb cb, void *arg, struct proto_ring_counts *c)
{
	struct proto_lane *l, *best, *only = NULL;
	uint64_t delivered = c->delivered, bytes = c->bytes;
	int64_t now = r->lane_count > 1 ? proto_clock_ns(CLOCK_MONOTONIC) : 0;
	int status, rc;
	unsigned i, held;

	if (r->error != 0)
		return (r->error);
	r->give_up = (flags & PROTO_RING_GIVE_UP) != 0;
	for (i = 0; i < r->lane_count; i++) {
		if ((rc = proto_lane_begin(r, &r->lane[i], c)) != 0)
			return (rc);
	}
	for (;;) {
		/*
		 * The one lane with records when the last look found no other
		 * (drained, or a stuck writer's, as they stay for the rest of
		 * a read): its next record is the oldest, with no look at the
		 * others (a sixth of proto_ring_read with 8 lanes, one busy).
		 */
		best = NULL;
		if (only != NULL) {
			if ((rc = proto_lane_look(r, only, flags, c)) != 0)
				return (rc);
			if (only->held)
				best = only;
		}
		if (best == NULL) {
			if ((rc = proto_ring_oldest(r, flags, now, c, &best,
			    &held, &status)) != 0)
				return (rc);
			if (best == NULL)
				break;
			only = held == 1 ? best : NULL;
		}
		if (c->delivered - delivered >= max_records ||
		    c->bytes - bytes >= max_bytes) {
			status = PROTO_RING_AGAIN;
			break;
		}
		best->held = 0;
		if (!proto_lane_claim(r, best)) {
			/* Overwritten since the copy: its claimer counted. */
			best->pos++;
			continue;
		}
		c->delivered++;
		c->bytes += best->rec_bytes;
		rc = cb(&best->rec, arg);
		if (r->give_up)
			proto_lane_given(best);
		best->pos += best->rec_slots;
		if (rc != 0) {
			status = proto_ring_more(r) ? PROTO_RING_AGAIN :
			    PROTO_RING_DRAINED;
			break;
		}
	}
	for (i = 0; i < r->lane_count; i++) {
		l = &r->lane[i];
		proto_lane_survivors_gone(l, c);
		/* A large record held is copied again next time, not kept. */
		if (l->held && l->buf_words > PROTO_RING_BUF_SMALL) {
			l->held = 0;
			l->let_go = 1;
		}
		proto_lane_buf_shrink(l);
		if (l->status != PROTO_RING_PENDING)
			l->stuck = 0;
		else if (!l->stuck || l->stuck_pos != l->pos) {
			l->stuck = 1;
			l->stuck_pos = l->pos;
			l->stuck_since = now;
		}
	}
	return (status);
}

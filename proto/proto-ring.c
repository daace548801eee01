/*
 * The shared record ring, consumer side (PROTOCOL.md, "Shared ring"). The
 * runner's memory is read as io_uring reads a submission queue: each shared
 * word is loaded once into a local and only the local is checked and used;
 * positions are masked on use; a record is copied out before it is checked
 * (a seqlock: its slots' seqs are read before and after the copy); each call
 * visits at most slot_count slots and the caller's budget of records.
 */
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "proto-clock.h"
#include "proto-ring.h"
#include "relog-ring.h"

/*
 * Words a lane's copy buffer keeps between reads (4 KiB: most records),
 * from its first record on. It grows for a larger one, up to the largest
 * (192 KiB), until that record is delivered: relogd has a ring a runner,
 * and each keeping 192 KiB once it saw one large record would be that much
 * memory a runner, for nothing.
 */
#define PROTO_RING_BUF_SMALL 512

/*
 * Positions reads reached, kept for proto_ring_commit when the ring has
 * more than one lane: one a read, as many as there are reads whose records
 * are not written yet. Past that, a read keeps none, and its commit makes
 * the one kept before it: records read twice after a crash, never lost.
 */
#define PROTO_RING_MARKS 64

/* PROTO_RING_STUCK_MS: its writer is stuck, or long descheduled. */
#define PROTO_RING_STUCK_NS (PROTO_RING_STUCK_MS * 1000000LL)

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
static int
proto_ring_fail(struct proto_ring *r, int error, const char *cause)
{
	r->error = error;
	r->cause = cause;
	return (error);
}

/* The header of lane i of a ring mapped at base. */
static struct relog_ring_header *
proto_ring_lane_hdr(void *base, uint64_t slot_count, unsigned i)
{
	return ((struct relog_ring_header *)((char *)base +
	    i * relog_ring_lane_size(slot_count)));
}

/* A lane's losses as its header counts them (the runner's word). */
static uint64_t
proto_lane_losses(const struct proto_lane *l)
{
	return (atomic_load_explicit(&l->hdr->overwritten,
	    memory_order_relaxed) + atomic_load_explicit(&l->hdr->abandoned,
	    memory_order_relaxed) + l->torn + l->unfinished);
}

/*
 * Go on from the lane's shared tail, within what it still holds, with the
 * counts its header keeps (a previous consumer's): what it had said is
 * said; what it had taken is settled at the first read (a consumer opened
 * while another still reads stores nothing).
 */
static void
proto_lane_start(struct proto_ring *r, struct proto_lane *l)
{
	uint64_t h, t, lost;

	t = atomic_load_explicit(&l->hdr->tail, memory_order_acquire);
	h = atomic_load_explicit(&l->hdr->head, memory_order_acquire);
	l->pos = h - t <= r->slot_count ? t : h - r->slot_count;
	l->skipping = 0;
	l->held = 0;
	l->stuck = 0;
	l->torn = atomic_load_explicit(&l->hdr->torn, memory_order_relaxed);
	l->unfinished = atomic_load_explicit(&l->hdr->unfinished,
	    memory_order_relaxed);
	lost = proto_lane_losses(l);
	l->said = atomic_load_explicit(&l->hdr->reported,
	    memory_order_relaxed);
	if (l->said > lost)
		l->said = lost;
	l->seen = l->said;
	l->claims = l->delivered = l->committed = l->survivors = 0;
	l->fresh = 1;
}

/* Store a lane's count of records taken and not committed past. */
static void
proto_lane_store_taken(struct proto_lane *l)
{
	atomic_store_explicit(&l->hdr->taken, l->claims >= l->committed ?
	    l->claims - l->committed : 0, memory_order_relaxed);
}

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

/* Mark i (PROTO_RING_MARKS: the last token's). */
static uint64_t *
proto_ring_mark(const struct proto_ring *r, unsigned i)
{
	return (r->marks + (size_t)i * (1 + 2 * r->lane_count));
}

/* Note the lanes' positions and deliveries now in mark i. */
static void
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

/* Start every lane afresh; tokens given before stay below those to come. */
static void
proto_ring_start(struct proto_ring *r)
{
	unsigned i;

	for (i = 0; i < r->lane_count; i++)
		proto_lane_start(r, &r->lane[i]);
	r->mark_first = r->mark_n = 0;
	/* A stale commit of the last token commits where we start. */
	proto_ring_mark_now(r, PROTO_RING_MARKS, r->token_last);
	r->token_base = 0;
	if (r->lane_count > 1) {
		r->token_base = r->token_last + 1;
		for (i = 0; i < r->lane_count; i++)
			r->token_base -= r->lane[i].pos;
	}
}

/* A consumer of the ring mapped at p. Returns 0, or -ENOMEM and *cause. */
static int
proto_ring_new(void *p, size_t size, uint32_t slot_count, unsigned lanes,
    struct proto_ring **out, const char **cause)
{
	struct proto_ring *r;
	struct proto_lane *l;
	unsigned i;

	r = calloc(1, sizeof *r);
	if (r == NULL || (r->marks = calloc(PROTO_RING_MARKS + 1,
	    (1 + 2 * (size_t)lanes) * sizeof *r->marks)) == NULL) {
		free(r);
		*cause = "out of memory";
		return (-ENOMEM);
	}
	r->base = p;
	r->size = size;
	r->slot_count = slot_count;
	r->mask = slot_count - 1;
	r->lane_count = lanes;
	for (i = 0; i < lanes; i++) {
		l = &r->lane[i];
		l->hdr = proto_ring_lane_hdr(p, slot_count, i);
		l->slots = (struct relog_ring_slot *)((char *)l->hdr +
		    RELOG_RING_HEADER_SIZE);
	}
	proto_ring_start(r);
	*out = r;
	return (0);
}

/*
 * Does a lane's header (its first fields, as read) describe a lane of a
 * ring of this version? With size, lane 0's: of a ring size bytes long;
 * else, another lane's: the same geometry as geo0. Returns 0, or -1 and
 * *cause.
 */
static int
proto_ring_geometry(const struct relog_ring_header *geo, uint64_t size,
    const struct relog_ring_header *geo0, const char **cause)
{
	if (geo->magic != RELOG_RING_MAGIC ||
	    geo->version != RELOG_RING_VERSION) {
		*cause = "the ring has the wrong magic or version";
		return (-1);
	}
	if (geo->header_size != RELOG_RING_HEADER_SIZE ||
	    geo->slot_size != RELOG_RING_SLOT_SIZE ||
	    geo->slot_count < RELOG_RING_SLOTS_MIN ||
	    geo->slot_count > RELOG_RING_SLOTS_MAX ||
	    (geo->slot_count & (geo->slot_count - 1)) != 0 ||
	    geo->lane_count < 1 || geo->lane_count > RELOG_RING_LANES_MAX) {
		*cause = "the ring's geometry is not allowed";
		return (-1);
	}
	if (geo0 != NULL && (geo->slot_count != geo0->slot_count ||
	    geo->lane_count != geo0->lane_count)) {
		*cause = "the ring's lanes differ in geometry";
		return (-1);
	}
	if (geo0 == NULL && size != relog_ring_file_size(geo->slot_count,
	    geo->lane_count)) {
		*cause = "the ring's size is not what its header says";
		return (-1);
	}
	return (0);
}

/*
 * The lanes after the first, mapped at p: each must say what lane 0 says
 * (its fields copied out: the runner may change them). Returns 0, or -1
 * and *cause.
 */
static int
proto_ring_lanes_ok(void *p, const struct relog_ring_header *geo0,
    const char **cause)
{
	struct relog_ring_header geo;
	unsigned i;

	for (i = 1; i < geo0->lane_count; i++) {
		memcpy(&geo, proto_ring_lane_hdr(p, geo0->slot_count, i),
		    offsetof(struct relog_ring_header, pad0));
		if (proto_ring_geometry(&geo, 0, geo0, cause) != 0)
			return (-1);
	}
	return (0);
}

/*
 * Check a runner's ring fd and map it. It must be a memfd on shmem (not
 * hugetlbfs, whose faults can fail) sealed against shrinking and growing,
 * of at most max_size bytes (else -EFBIG), whose size is what its header
 * says: checked before mmap, so the mapping can never fault. The fd stays
 * the caller's (it may close it). Returns 0 and the ring in *out (free it
 * with proto_ring_close), or a negative errno and *cause.
 */
int
proto_ring_open(int fd, size_t max_size, struct proto_ring **out,
    const char **cause)
{
	struct relog_ring_header geo;
	struct statfs sfs;
	struct stat st;
	uint64_t size;
	void *p;
	int seals, error;

	seals = fcntl(fd, F_GET_SEALS);
	if (seals < 0) {
		*cause = "the ring is not a memfd (it has no seals)";
		return (-EINVAL);
	}
	if ((seals & (F_SEAL_SHRINK | F_SEAL_GROW)) !=
	    (F_SEAL_SHRINK | F_SEAL_GROW)) {
		*cause = "the ring is not sealed against shrinking and growing";
		return (-EPERM);
	}
	if ((seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE)) != 0) {
		*cause = "the ring is sealed against writing";
		return (-EPERM);
	}
	if (fstatfs(fd, &sfs) != 0 || sfs.f_type != TMPFS_MAGIC) {
		*cause = "the ring is not on shmem";
		return (-EINVAL);
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		*cause = "the ring is not a regular file";
		return (-EINVAL);
	}
	if (st.st_size < (off_t)relog_ring_file_size(RELOG_RING_SLOTS_MIN, 1) ||
	    st.st_size > (off_t)relog_ring_file_size(RELOG_RING_SLOTS_MAX,
	    RELOG_RING_LANES_MAX)) {
		*cause = "the ring's size is out of bounds";
		return (-EINVAL);
	}
	if ((uint64_t)st.st_size > max_size) {
		*cause = "the ring is larger than allowed";
		return (-EFBIG);
	}
	if (pread(fd, &geo, offsetof(struct relog_ring_header, pad0), 0) !=
	    (ssize_t)offsetof(struct relog_ring_header, pad0)) {
		*cause = "the ring's header cannot be read";
		return (-EIO);
	}
	if (proto_ring_geometry(&geo, (uint64_t)st.st_size, NULL, cause) != 0)
		return (-EPROTO);
	size = (uint64_t)st.st_size;

	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		*cause = "the ring cannot be mapped";
		return (-errno);
	}
	if (proto_ring_lanes_ok(p, &geo, cause) != 0) {
		munmap(p, size);
		return (-EPROTO);
	}
	error = proto_ring_new(p, size, geo.slot_count, geo.lane_count, out,
	    cause);
	if (error != 0) {
		munmap(p, size);
		return (error);
	}
	(*out)->mapped = 1;
	return (0);
}

/*
 * Read a ring this process made in memory of its own (librelog's, when
 * memfds are not to be had): at p, of size bytes, as its header says. The
 * memory stays the caller's, and must outlive the ring. Returns as
 * proto_ring_open.
 */
int
proto_ring_attach(void *p, size_t size, struct proto_ring **out,
    const char **cause)
{
	struct relog_ring_header geo;

	memcpy(&geo, p, offsetof(struct relog_ring_header, pad0));
	if (proto_ring_geometry(&geo, size, NULL, cause) != 0 ||
	    proto_ring_lanes_ok(p, &geo, cause) != 0)
		return (-EPROTO);
	return (proto_ring_new(p, size, geo.slot_count, geo.lane_count, out,
	    cause));
}

/*
 * Unmap (if proto_ring_open mapped it) and free the ring; the runner's
 * memfd lives on in the runner.
 */
void
proto_ring_close(struct proto_ring *r)
{
	unsigned i;

	if (r == NULL)
		return;
	if (r->mapped)
		munmap(r->base, r->size);
	for (i = 0; i < r->lane_count; i++)
		free(r->lane[i].buf);
	free(r->marks);
	free(r);
}

/* The bytes the ring maps. */
size_t
proto_ring_size(const struct proto_ring *r)
{
	return (r->size);
}

/* How many lanes the ring has. */
unsigned
proto_ring_lanes(const struct proto_ring *r)
{
	return (r->lane_count);
}

/* The slot a position of a lane maps to. */
static inline struct relog_ring_slot *
proto_lane_slot(const struct proto_ring *r, const struct proto_lane *l,
    uint64_t pos)
{
	return (&l->slots[pos & r->mask]);
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
 * count it torn. The count is stored first: a consumer killed between the
 * store and the CAS counts the record twice, never not at all. Returns 1
 * if we moved it; else the header's count goes back.
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
 * and one more taken and not committed if no one had taken it (a
 * given-up one: none to commit, one less taken if it was). An unread
 * one's taken is stored before its CAS, as proto_lane_settle_lost's
 * count. Returns 0 if the record changed meanwhile: its claimer counted.
 */
static int
proto_lane_claim(const struct proto_ring *r, struct proto_lane *l)
{
	struct relog_ring_slot *first = proto_lane_slot(r, l, l->pos);
	uint64_t s0 = l->rec_s0;
	unsigned state = relog_ring_seq_state(s0);

	if (r->give_up) {
		if (!proto_ring_settle(first, s0, RELOG_RING_SKIP))
			return (0);
		if (state == RELOG_RING_CONSUMED_FIRST)
			proto_lane_untaken(l, 1);
		return (1);
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

/* Has a lane's reading reached its limit (proto_ring_limit), if it has one? */
static int
proto_lane_at_limit(const struct proto_lane *l)
{
	return (l->limited && (int64_t)(l->pos - l->end) >= 0);
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
	struct proto_lane *l, *best;
	uint64_t delivered = c->delivered, bytes = c->bytes;
	int64_t now = r->lane_count > 1 ? proto_clock_ns(CLOCK_MONOTONIC) : 0;
	int status, pending, waiting, rc;
	unsigned i;

	if (r->error != 0)
		return (r->error);
	r->give_up = (flags & PROTO_RING_GIVE_UP) != 0;
	for (i = 0; i < r->lane_count; i++) {
		if ((rc = proto_lane_begin(r, &r->lane[i], c)) != 0)
			return (rc);
	}
	for (;;) {
		best = NULL;
		pending = waiting = 0;
		for (i = 0; i < r->lane_count; i++) {
			l = &r->lane[i];
			if (!l->held && l->status < 0 &&
			    (rc = proto_lane_next(r, l, i, flags, c)) != 0)
				return (rc);
			if (l->held) {
				if (best == NULL || l->rec.timestamp_ms <
				    best->rec.timestamp_ms)
					best = l;
			} else if (l->status == PROTO_RING_PENDING) {
				waiting = 1;
				/* A writer stuck holds up its lane only. */
				if (!l->stuck || l->stuck_pos != l->pos ||
				    now - l->stuck_since < PROTO_RING_STUCK_NS)
					pending = 1;
			}
		}
		/* Giving up (librelog's close) waits for no writer. */
		if (pending && best != NULL &&
		    (flags & PROTO_RING_GIVE_UP) == 0) {
			status = PROTO_RING_PENDING;
			break;
		}
		if (best == NULL) {
			status = waiting ? PROTO_RING_PENDING :
			    PROTO_RING_DRAINED;
			break;
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

/* Why the ring failed (NULL if it has not). */
const char *
proto_ring_cause(const struct proto_ring *r)
{
	return (r->cause);
}

/*
 * How many more records the ring lost (overwritten and abandoned, the
 * runner's counts; torn and unfinished, the consumers') since they were
 * last found here, or said by a consumer before (its headers' reported).
 * The runner's word: a lane's sum that went back starts again from where
 * it is, one that jumped counts PROTO_RING_DROPS_MAX at most. Stores
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
		d = lost >= l->seen ? lost - l->seen : 0;
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

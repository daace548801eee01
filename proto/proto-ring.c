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
#include <unistd.h>

#include "proto-ring.h"
#include "relog-ring.h"

/*
 * Words the copy buffer holds between reads (4 KiB: most records). It
 * grows for a larger one, up to the largest (192 KiB), for that read only:
 * relogd has a ring a runner, and each keeping 192 KiB once it saw one
 * large record would be that much memory a runner, for nothing.
 */
#define PROTO_RING_BUF_SMALL 512

struct proto_ring {
	struct relog_ring_header *hdr;
	struct relog_ring_slot *slots;
	size_t size;			/* of the mapping */
	uint64_t slot_count;		/* as checked at open, never reread */
	uint64_t mask;
	uint64_t pos;			/* next position to read: ours alone */
	uint64_t end;			/* with limited: read no further */
	uint64_t torn;			/* totals, for the runner to read */
	uint64_t unfinished;
	uint64_t reported;		/* the runner's losses, said */
	int limited;
	int give_up;			/* this read: PROTO_RING_GIVE_UP */
	int skipping;			/* the last slot skipped: unfinished */
	int error;			/* sticky: 0 or a negative errno */
	const char *cause;
	uint64_t *buf;			/* a record copied out */
	size_t buf_words;		/* its size */
	int mapped;			/* by proto_ring_open: to unmap */
};

/* Mark the ring failed; every later call says so. Returns error. */
static int
proto_ring_fail(struct proto_ring *r, int error, const char *cause)
{
	r->error = error;
	r->cause = cause;
	return (error);
}

/*
 * Go on from the shared tail, within what the ring still holds, with the
 * counts the header keeps (a previous consumer's).
 */
static void
proto_ring_start(struct proto_ring *r)
{
	uint64_t h, t, lost;

	t = atomic_load_explicit(&r->hdr->tail, memory_order_acquire);
	h = atomic_load_explicit(&r->hdr->head, memory_order_acquire);
	r->pos = h - t <= r->slot_count ? t : h - r->slot_count;
	r->skipping = 0;
	r->torn = atomic_load_explicit(&r->hdr->torn, memory_order_relaxed);
	r->unfinished = atomic_load_explicit(&r->hdr->unfinished,
	    memory_order_relaxed);
	lost = atomic_load_explicit(&r->hdr->overwritten,
	    memory_order_relaxed) + atomic_load_explicit(&r->hdr->abandoned,
	    memory_order_relaxed);
	r->reported = atomic_load_explicit(&r->hdr->reported,
	    memory_order_relaxed);
	if (r->reported > lost)
		r->reported = lost;
}

/* A consumer of the ring mapped at p. Returns 0, or -ENOMEM and *cause. */
static int
proto_ring_new(void *p, size_t size, uint32_t slot_count,
    struct proto_ring **out, const char **cause)
{
	struct proto_ring *r;

	r = calloc(1, sizeof *r);
	if (r == NULL) {
		*cause = "out of memory";
		return (-ENOMEM);
	}
	r->buf_words = PROTO_RING_BUF_SMALL;
	r->buf = malloc(r->buf_words * sizeof *r->buf);
	if (r->buf == NULL) {
		free(r);
		*cause = "out of memory";
		return (-ENOMEM);
	}
	r->hdr = p;
	r->slots = (struct relog_ring_slot *)((char *)p +
	    RELOG_RING_HEADER_SIZE);
	r->size = size;
	r->slot_count = slot_count;
	r->mask = slot_count - 1;
	proto_ring_start(r);
	*out = r;
	return (0);
}

/*
 * Does a ring's header (its first fields, as read) describe a ring of
 * version 1 that is size bytes long? Returns 0, or -1 and *cause.
 */
static int
proto_ring_geometry(const struct relog_ring_header *geo, uint64_t size,
    const char **cause)
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
	    (geo->slot_count & (geo->slot_count - 1)) != 0) {
		*cause = "the ring's geometry is not allowed";
		return (-1);
	}
	if (size != relog_ring_file_size(geo->slot_count)) {
		*cause = "the ring's size is not what its header says";
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
	if (st.st_size < (off_t)relog_ring_file_size(RELOG_RING_SLOTS_MIN) ||
	    st.st_size > (off_t)relog_ring_file_size(RELOG_RING_SLOTS_MAX)) {
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
	if (proto_ring_geometry(&geo, (uint64_t)st.st_size, cause) != 0)
		return (-EPROTO);
	size = (uint64_t)st.st_size;

	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		*cause = "the ring cannot be mapped";
		return (-errno);
	}
	error = proto_ring_new(p, size, geo.slot_count, out, cause);
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
	const struct relog_ring_header *hdr = p;

	if (proto_ring_geometry(hdr, size, cause) != 0)
		return (-EPROTO);
	return (proto_ring_new(p, size, hdr->slot_count, out, cause));
}

/*
 * Unmap (if proto_ring_open mapped it) and free the ring; the runner's
 * memfd lives on in the runner.
 */
void
proto_ring_close(struct proto_ring *r)
{
	if (r == NULL)
		return;
	if (r->mapped)
		munmap(r->hdr, r->size);
	free(r->buf);
	free(r);
}

/* The bytes the ring maps. */
size_t
proto_ring_size(const struct proto_ring *r)
{
	return (r->size);
}

/* The slot a position maps to. */
static inline struct relog_ring_slot *
proto_ring_slot(const struct proto_ring *r, uint64_t pos)
{
	return (&r->slots[pos & r->mask]);
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

/* A record lost unread: count it if it was ours to count. */
static void
proto_ring_lost(struct proto_ring *r, struct relog_ring_slot *slot,
    uint64_t s0, struct proto_ring_counts *c)
{
	if (relog_ring_seq_state(s0) == RELOG_RING_COMMITTED_FIRST &&
	    proto_ring_settle(slot, s0, RELOG_RING_CONSUMED_FIRST)) {
		r->torn++;
		c->torn++;
	}
}

/*
 * The last look at a record's first slot, read as s0, before it is
 * delivered: take it (unread: to CONSUMED_FIRST, or given up: to SKIP), or
 * see it still there (taken before). Returns 0 if it changed meanwhile.
 */
static int
proto_ring_claim(struct proto_ring *r, struct relog_ring_slot *first,
    uint64_t s0)
{
	if (r->give_up)
		return (proto_ring_settle(first, s0, RELOG_RING_SKIP));
	if (relog_ring_seq_state(s0) == RELOG_RING_COMMITTED_FIRST)
		return (proto_ring_settle(first, s0,
		    RELOG_RING_CONSUMED_FIRST));
	return (atomic_load_explicit(&first->seq, memory_order_relaxed) == s0);
}

/*
 * Have the copy buffer hold words (a checked header's: the largest
 * record's at most), keeping what it holds. Returns 0 or -ENOMEM.
 */
static int
proto_ring_buf_fit(struct proto_ring *r, size_t words)
{
	uint64_t *p;

	if (words <= r->buf_words)
		return (0);
	if ((p = realloc(r->buf, words * sizeof *p)) == NULL)
		return (-ENOMEM);
	r->buf = p;
	r->buf_words = words;
	return (0);
}

/* After a read: a buffer grown for a large record goes back to small. */
static void
proto_ring_buf_shrink(struct proto_ring *r)
{
	uint64_t *p;

	if (r->buf_words <= PROTO_RING_BUF_SMALL)
		return;
	if ((p = realloc(r->buf, PROTO_RING_BUF_SMALL * sizeof *p)) == NULL)
		return;
	r->buf = p;
	r->buf_words = PROTO_RING_BUF_SMALL;
}

/*
 * Take the record whose first slot (at r->pos, below head h) read s0,
 * committed or consumed: copy it out, check it, hand it to cb. Returns the
 * slots to move on by (the record's, or 1 if it was overwritten meanwhile),
 * or a negative errno if the ring is inconsistent. *stop is set if cb asks.
 */
static int64_t
proto_ring_take(struct proto_ring *r, uint64_t h, uint64_t s0,
    proto_ring_cb cb, void *arg, struct proto_ring_counts *c, int *stop)
{
	struct relog_ring_slot *first = proto_ring_slot(r, r->pos);
	const struct relog_ring_slot *s;
	struct relog_ring_record hd;
	struct proto_ring_record rec;
	uint64_t pos = r->pos, k, i, j, w, words, si;
	const char *text;

	/* The header, checked once the seq says it was not being rewritten. */
	for (i = 0; i < 4; i++)
		r->buf[i] = atomic_load_explicit(&first->word[i],
		    memory_order_relaxed);
	atomic_thread_fence(memory_order_acquire);
	if (atomic_load_explicit(&first->seq, memory_order_relaxed) != s0)
		return (1);
	memcpy(&hd, r->buf, sizeof hd);
	if (!proto_ring_header_ok(&hd))
		return (proto_ring_fail(r, -EBADMSG,
		    "a committed record has an inconsistent header"));
	k = relog_ring_record_slots(hd.size);
	if (h - pos < k)
		return (proto_ring_fail(r, -EPROTO,
		    "a committed record runs past head"));
	if (proto_ring_buf_fit(r, hd.size / 8) != 0)
		return (proto_ring_fail(r, -ENOMEM, "out of memory"));

	/* Its later slots were committed before its first: all or newer. */
	for (i = 1; i < k; i++) {
		si = atomic_load_explicit(&proto_ring_slot(r, pos + i)->seq,
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
		s = proto_ring_slot(r, pos + i);
		for (j = i == 0 ? 4 : 0; j < RELOG_RING_SLOT_WORDS && w < words;
		    j++, w++)
			r->buf[w] = atomic_load_explicit(&s->word[j],
			    memory_order_relaxed);
	}
	atomic_thread_fence(memory_order_acquire);
	for (i = 1; i < k; i++) {
		if (atomic_load_explicit(&proto_ring_slot(r, pos + i)->seq,
		    memory_order_relaxed) !=
		    relog_ring_seq(pos + i, RELOG_RING_COMMITTED))
			goto torn;
	}
	if (!proto_ring_claim(r, first, s0))
		return (1);

	text = (const char *)r->buf + RELOG_RING_RECORD_HEADER;
	rec.position = pos;
	rec.timestamp_ms = hd.timestamp_ms;
	rec.level = hd.level;
	rec.name.ptr = text;
	rec.name.len = hd.name_len;
	text += relog_ring_pad(hd.name_len);
	rec.message.ptr = text;
	rec.message.len = hd.msg_len;
	text += relog_ring_pad(hd.msg_len);
	rec.exception.ptr = text;
	rec.exception.len = hd.exc_len;
	text += relog_ring_pad(hd.exc_len);
	rec.color.ptr = (hd.flags & RELOG_RING_RECORD_COLOR) != 0 ? text : NULL;
	rec.color.len = hd.color_len;
	rec.taken = relog_ring_seq_state(s0) == RELOG_RING_CONSUMED_FIRST;
	c->delivered++;
	c->bytes += hd.size;
	if (cb(&rec, arg) != 0)
		*stop = 1;
	return ((int64_t)k);

torn:
	/* Overwritten under us; the later slots are skipped one by one. */
	proto_ring_lost(r, first, s0, c);
	return (1);
}

/*
 * Skip a slot whose writer will never finish (the runner is dead): an
 * unfinished record is counted at its first slot, or once for a run of
 * slots never claimed; an older record still unread there is lost too.
 */
static void
proto_ring_skip_unfinished(struct proto_ring *r, uint64_t s,
    struct proto_ring_counts *c)
{
	int64_t cmp = relog_ring_seq_cmp(s, r->pos);

	if ((cmp == 0 && relog_ring_seq_state(s) == RELOG_RING_WRITING_FIRST) ||
	    (cmp < 0 && !r->skipping)) {
		r->unfinished++;
		c->unfinished++;
	}
	if (cmp < 0)
		proto_ring_lost(r, proto_ring_slot(r, r->pos), s, c);
	r->skipping = 1;
	r->pos++;
}

/*
 * Read committed records, oldest first, into cb, until the ring is drained
 * (or the limit reached), a record is still being written (unless flags
 * has PROTO_RING_PEER_DEAD: then unfinished records are skipped and
 * counted), max_records (>= 1) were delivered, max_bytes were passed, or cb
 * asked to stop. Adds what it found to *c. The shared tail does not move
 * (proto_ring_commit). Returns PROTO_RING_DRAINED, PROTO_RING_PENDING,
 * PROTO_RING_AGAIN, or a negative errno if the ring is inconsistent
 * (sticky; see proto_ring_cause). Its work is bounded by slot_count slots
 * and the budget.
 */
int
proto_ring_read(struct proto_ring *r, int flags, size_t max_records,
    size_t max_bytes, proto_ring_cb cb, void *arg, struct proto_ring_counts *c)
{
	const volatile uint32_t *magic = &r->hdr->magic;
	uint64_t h, s, delivered = c->delivered, bytes = c->bytes;
	int64_t n;
	int status = PROTO_RING_DRAINED, stop = 0;
	unsigned state;

	if (r->error != 0)
		return (r->error);
	r->give_up = (flags & PROTO_RING_GIVE_UP) != 0;
	/* READ_ONCE: a plain field the runner may scribble on. */
	if (*magic != RELOG_RING_MAGIC)
		return (proto_ring_fail(r, -EPROTO,
		    "the ring's header was overwritten"));
	h = atomic_load_explicit(&r->hdr->head, memory_order_acquire);
	if ((int64_t)(h - r->pos) < 0)
		return (proto_ring_fail(r, -EPROTO,
		    "the ring's head went back"));
	if (h - r->pos > r->slot_count) {
		/* Lapped: those positions are handed out again. */
		r->pos = h - r->slot_count;
		r->skipping = 0;
	}

	while (r->pos != h) {
		if (r->limited && (int64_t)(r->pos - r->end) >= 0)
			break;
		if (c->delivered - delivered >= max_records ||
		    c->bytes - bytes >= max_bytes || stop) {
			status = PROTO_RING_AGAIN;
			break;
		}
		s = atomic_load_explicit(&proto_ring_slot(r, r->pos)->seq,
		    memory_order_acquire);
		n = relog_ring_seq_cmp(s, r->pos);
		state = relog_ring_seq_state(s);
		if (n > 0) {
			/* Claimed again: its claimer counted what it held. */
			r->skipping = 0;
			r->pos++;
			continue;
		}
		if (n < 0 || state == RELOG_RING_WRITING ||
		    state == RELOG_RING_WRITING_FIRST) {
			/* Not claimed yet, or being written. */
			if ((flags & PROTO_RING_PEER_DEAD) == 0) {
				status = PROTO_RING_PENDING;
				break;
			}
			proto_ring_skip_unfinished(r, s, c);
			continue;
		}
		r->skipping = 0;
		switch (state) {
		case RELOG_RING_SKIP:
		case RELOG_RING_COMMITTED:	/* the rest of a lost record */
		case RELOG_RING_POISONED:	/* given up */
			r->pos++;
			continue;
		case RELOG_RING_COMMITTED_FIRST:
		case RELOG_RING_CONSUMED_FIRST:	/* taken, not acknowledged */
			n = proto_ring_take(r, h, s, cb, arg, c, &stop);
			if (n < 0)
				return ((int)n);
			r->pos += (uint64_t)n;
			continue;
		default:
			return (proto_ring_fail(r, -EPROTO,
			    "a slot is in no known state"));
		}
	}
	proto_ring_buf_shrink(r);
	return (status);
}

/*
 * The records before pos (a position reads reached: proto_ring_position)
 * are written: store the shared tail, where a consumer that comes next goes
 * on from, and the counts of records lost that the runner reads.
 */
void
proto_ring_commit(struct proto_ring *r, uint64_t pos)
{
	atomic_store_explicit(&r->hdr->tail, pos, memory_order_release);
	atomic_store_explicit(&r->hdr->torn, r->torn, memory_order_relaxed);
	atomic_store_explicit(&r->hdr->unfinished, r->unfinished,
	    memory_order_relaxed);
}

/*
 * Go back to the shared tail, as a consumer opening the ring would: records
 * read and not committed are read again (librelog, when it becomes the
 * consumer again after relogd was).
 */
void
proto_ring_rewind(struct proto_ring *r)
{
	if (r->error == 0)
		proto_ring_start(r);
}

/*
 * Read no further than position end (a drain that must end though the
 * runner may still push): a record that starts before it is read whole.
 */
void
proto_ring_limit(struct proto_ring *r, uint64_t end)
{
	r->end = end;
	r->limited = 1;
}

/*
 * Is there enough to read for a consumer waiting for position w: the slot
 * at our position is ready (not being written, not unclaimed) and head has
 * reached w? seq_cst loads: see proto_ring_arm.
 */
static int
proto_ring_due(struct proto_ring *r, uint64_t w)
{
	uint64_t s, h;
	unsigned state;
	int64_t n;

	s = atomic_load_explicit(&proto_ring_slot(r, r->pos)->seq,
	    memory_order_seq_cst);
	h = atomic_load_explicit(&r->hdr->head, memory_order_seq_cst);
	n = relog_ring_seq_cmp(s, r->pos);
	state = relog_ring_seq_state(s);
	return (n > 0 || (n == 0 && state != RELOG_RING_WRITING &&
	    state != RELOG_RING_WRITING_FIRST)) && (int64_t)(h - w) >= 0;
}

/*
 * Ask to be woken (through the runner's wake callback) once the ring holds
 * slots slots past our position: 1 is "as soon as it is not empty"; more
 * than half the ring (UINT32_MAX, say) is half the ring, or it would
 * overflow before the wakeup. Returns 0 when armed (wait for the wakeup), 1
 * when there is already enough to read (read now: nothing will wake us), or
 * the ring's error. Above 1, a caller also needs a timer for the records
 * below the mark.
 */
int
proto_ring_arm(struct proto_ring *r, uint32_t slots)
{
	uint64_t w = r->pos + (slots == 0 ? 1 : slots > r->slot_count / 2 ?
	    r->slot_count / 2 : slots);

	if (r->error != 0)
		return (r->error);
	/* Busy: do not arm at all, or producers would wake us for nothing. */
	if (proto_ring_due(r, w))
		return (1);
	/*
	 * seq_cst store, then seq_cst loads, against a push's seq_cst commit
	 * then load of wake_at: either it sees us armed, or we see it.
	 */
	atomic_store_explicit(&r->hdr->wake_at, w, memory_order_seq_cst);
	if (!proto_ring_due(r, w))
		return (0);
	atomic_compare_exchange_strong_explicit(&r->hdr->wake_at, &w,
	    RELOG_RING_DISARMED, memory_order_relaxed, memory_order_relaxed);
	return (1);
}

/* Why the ring failed (NULL if it has not). */
const char *
proto_ring_cause(const struct proto_ring *r)
{
	return (r->cause);
}

/*
 * The position we read next: a caller that sees PROTO_RING_PENDING at the
 * same position for long knows a writer is stuck there.
 */
uint64_t
proto_ring_position(const struct proto_ring *r)
{
	return (r->pos);
}

/* Where producers are (untrusted: a bound for proto_ring_limit). */
uint64_t
proto_ring_head(const struct proto_ring *r)
{
	return (atomic_load_explicit(&r->hdr->head, memory_order_acquire));
}

/*
 * How many more records the runner says its ring lost (overwritten,
 * abandoned) since this consumer, or one before it (the header's
 * reported), last said so. The runner's word: a sum that went back starts
 * again from where it is, one that jumped counts PROTO_RING_DROPS_MAX at
 * most. Stores what is now said in the header.
 */
uint64_t
proto_ring_new_drops(struct proto_ring *r)
{
	uint64_t lost, d;

	if (r->error != 0)
		return (0);
	lost = atomic_load_explicit(&r->hdr->overwritten,
	    memory_order_relaxed) + atomic_load_explicit(&r->hdr->abandoned,
	    memory_order_relaxed);
	d = lost >= r->reported ? lost - r->reported : 0;
	if (lost != r->reported) {
		r->reported = lost;
		atomic_store_explicit(&r->hdr->reported, lost,
		    memory_order_relaxed);
	}
	return (d < PROTO_RING_DROPS_MAX ? d : PROTO_RING_DROPS_MAX);
}

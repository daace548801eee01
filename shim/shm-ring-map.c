/*
 * The shared record ring, producer side: the ring made, mapped and let go
 * of, and its counts read (the protocol: PROTOCOL.md, "Shared ring"). A
 * ring is a sealed memfd of lanes relogd can map, or, where there is no
 * memfd to be had, memory of this process's own. Its first lane is made
 * with it, the others when a thread first takes one (shm-ring.c pushes).
 */
#include <sys/mman.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#if defined(__x86_64__)
#include <cpuid.h>
#endif

#include "shm-ring-int.h"

/* Numbers rings apart in threads' caches (shm-ring.c, shm_last). */
static _Atomic uint64_t shm_serials;

#if defined(__x86_64__)
/* Does this CPU have PREFETCHW (AMD64; Intel since Broadwell)? */
static bool
shm_ring_has_prefetchw(void)
{
	unsigned a, b, c, d;

	return (__get_cpuid(0x80000001, &a, &b, &c, &d) &&
	    (c & bit_PRFCHW) != 0);
}
#else
static bool
shm_ring_has_prefetchw(void)
{
	return (true);
}
#endif

/*
 * The slot count for a queue of n typical records (one or two slots each):
 * the least power of two holding 2n slots and the largest record.
 */
uint32_t
shm_ring_slots(size_t n)
{
	uint32_t slots = RELOG_RING_SLOTS_MIN;

	while (slots < RELOG_RING_SLOTS_MAX && slots / 2 < n)
		slots *= 2;
	return (slots);
}

/*
 * The lane made with the ring: the one the first thread to push takes
 * (lane 1; lane 0 in a ring of one lane). The others are made when a
 * thread first takes them (shm_ring_make).
 */
static unsigned
shm_ring_first_lane(unsigned lane_count)
{
	return (lane_count > 1 ? 1 : 0);
}

/*
 * A memfd of lane_count lanes of lane_size bytes, sealed, so relogd can map
 * it without fear of SIGBUS; mapped at *p. The first lane and every lane's
 * header page are allocated now (charged to the runner: relogd's reads
 * never allocate), in one fallocate each and one madvise, not a page fault
 * a page (a 4 MiB ring was 1,024 of them). Returns the fd, or a negative
 * errno.
 */
static int
shm_ring_memfd(size_t lane_size, unsigned lane_count, void **p)
{
	size_t size = lane_size * lane_count;
	unsigned i, first = shm_ring_first_lane(lane_count);
	int fd, error;

	fd = memfd_create("relog-ring", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return (-errno);
	if (ftruncate(fd, (off_t)size) != 0)
		goto fail;
	for (i = 0; i < lane_count; i++) {
		if (fallocate(fd, 0, (off_t)(i * lane_size), i == first ?
		    (off_t)lane_size : RELOG_RING_HEADER_SIZE) != 0)
			goto fail;
	}
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW |
	    F_SEAL_SEAL) != 0)
		goto fail;
	*p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (*p == MAP_FAILED)
		goto fail;
#ifdef MADV_POPULATE_WRITE
	(void)madvise((char *)*p + first * lane_size, lane_size,
	    MADV_POPULATE_WRITE);
#endif
	return (fd);

fail:
	error = -errno;
	close(fd);
	return (error);
}

/*
 * Slot i of a lane holds SKIP at position i: older than any to come. A seq
 * is written only while it is still 0 (as the memfd made it), so that two
 * threads may make lane 0 at once, and one push into it after the first
 * maker is done: its seqs are not 0 (positions start at slot_count).
 */
static void
shm_ring_init_slots(const struct shm_ring *r, struct shm_lane *l)
{
	uint64_t zero;
	uint32_t i;

	for (i = 0; i < r->slot_count; i++) {
		zero = 0;
		atomic_compare_exchange_strong_explicit(&l->slots[i].seq,
		    &zero, relog_ring_seq(i, RELOG_RING_SKIP),
		    memory_order_relaxed, memory_order_relaxed);
	}
}

/*
 * Make a fresh ring of lane_count lanes of slot_count slots in r: in a
 * memfd, or, where there is none to be had (a sandbox may forbid
 * memfd_create), in memory of this process's own, which relogd cannot be
 * given: the flusher reads it and sends batches. Returns 0 or a negative
 * errno (r is then left without a ring).
 */
static int
shm_ring_map(struct shm_ring *r, uint32_t slot_count, unsigned lane_count)
{
	struct relog_ring_header *hdr;
	size_t size = relog_ring_file_size(slot_count, lane_count);
	void *p;
	unsigned n;
	int fd;

	if ((fd = shm_ring_memfd(relog_ring_lane_size(slot_count), lane_count,
	    &p)) < 0) {
		p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE |
		    MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			return (-errno);
		fd = -1;
	}
	for (n = 0; n < lane_count; n++) {
		hdr = (struct relog_ring_header *)((char *)p +
		    n * relog_ring_lane_size(slot_count));
		hdr->magic = RELOG_RING_MAGIC;
		hdr->version = RELOG_RING_VERSION;
		hdr->header_size = RELOG_RING_HEADER_SIZE;
		hdr->slot_size = RELOG_RING_SLOT_SIZE;
		hdr->slot_count = slot_count;
		hdr->lane_count = lane_count;
		atomic_init(&hdr->head, slot_count);
		atomic_init(&hdr->tail, slot_count);
		atomic_init(&hdr->wake_at, RELOG_RING_DISARMED);
		r->lane[n].hdr = hdr;
		r->lane[n].slots = (struct relog_ring_slot *)((char *)hdr +
		    RELOG_RING_HEADER_SIZE);
		atomic_init(&r->lane[n].ready,
		    n == shm_ring_first_lane(lane_count));
	}
	for (n = 0; n < RELOG_RING_LANES_MAX; n++)
		atomic_init(&r->owner[n], 0);
	for (n = 0; n < SHM_RING_SHARED_MAX; n++)
		atomic_init(&r->shared[n], 0);
	atomic_init(&r->no_steal, false);
	r->serial = atomic_fetch_add_explicit(&shm_serials, 1,
	    memory_order_relaxed) + 1;
	r->base = p;
	r->lane_count = lane_count;
	r->mask = slot_count - 1;
	r->slot_count = slot_count;
	r->size = size;
	/* The other lanes' slots are written when a thread first takes one. */
	shm_ring_init_slots(r, &r->lane[shm_ring_first_lane(lane_count)]);
	r->fd = fd;
	return (0);
}

/* Let go of r's ring: this process's mapping and fd. */
static void
shm_ring_unmap(struct shm_ring *r)
{
	if (r->base != NULL)
		munmap(r->base, r->size);
	if (r->fd >= 0)
		close(r->fd);
	r->base = NULL;
	memset(r->lane, 0, sizeof r->lane);
	r->fd = -1;
}

/*
 * Create a ring of lane_count lanes (a power of two, 1 to
 * RELOG_RING_LANES_MAX) of slot_count slots each (a power of two in
 * [RELOG_RING_SLOTS_MIN, RELOG_RING_SLOTS_MAX]; shm_ring_slots picks one). wake (may be NULL) is
 * called with arg as shm_ring_wake_cb says. Returns 0 and the ring in *out
 * (free it with shm_ring_destroy), or a negative errno.
 */
int
shm_ring_create_lanes(struct shm_ring **out, uint32_t slot_count,
    unsigned lane_count, shm_ring_wake_cb wake, void *arg)
{
	struct shm_ring *r;
	int error;

	if (slot_count < RELOG_RING_SLOTS_MIN ||
	    slot_count > RELOG_RING_SLOTS_MAX ||
	    (slot_count & (slot_count - 1)) != 0 ||
	    lane_count < 1 || lane_count > RELOG_RING_LANES_MAX ||
	    (lane_count & (lane_count - 1)) != 0)
		return (-EINVAL);
	r = calloc(1, sizeof *r);
	if (r == NULL)
		return (-ENOMEM);
	r->fd = -1;
	r->wake = wake;
	r->wake_arg = arg;
	r->prefetchw = shm_ring_has_prefetchw();
	error = shm_ring_map(r, slot_count, lane_count);
	if (error != 0) {
		free(r);
		return (error);
	}
	*out = r;
	return (0);
}

/* Create a ring of one lane (shm_ring_create_lanes says the rest). */
int
shm_ring_create(struct shm_ring **out, uint32_t slot_count,
    shm_ring_wake_cb wake, void *arg)
{
	return (shm_ring_create_lanes(out, slot_count, 1, wake, arg));
}

/* Unmap, close and free a ring (relogd keeps its own mapping, if any). */
void
shm_ring_destroy(struct shm_ring *r)
{
	if (r == NULL)
		return;
	shm_ring_unmap(r);
	free(r);
}

/*
 * The memfd to pass to relogd (SCM_RIGHTS). The ring owns it: it stays open
 * until shm_ring_reset or shm_ring_destroy. -1 when there is no ring, or
 * it is not in a memfd.
 */
int
shm_ring_fd(const struct shm_ring *r)
{
	return (r->fd);
}

/* The ring's memory and its size in *size; NULL when there is no ring. */
void *
shm_ring_memory(const struct shm_ring *r, size_t *size)
{
	*size = r->size;
	return (r->base);
}

/*
 * In a forked child (its only thread): let go of the parent's ring and make
 * a fresh one of the same size, so the child never writes into the ring
 * relogd reads as the parent's. Returns 0, or a negative errno: then the
 * child has no ring and its pushes are dropped (counted as unmapped).
 */
int
shm_ring_reset(struct shm_ring *r)
{
	shm_ring_unmap(r);
	atomic_store_explicit(&r->unmapped, 0, memory_order_relaxed);
	atomic_store_explicit(&r->rechecked, false, memory_order_relaxed);
	return (shm_ring_map(r, r->slot_count, r->lane_count));
}

/*
 * The first push into a lane (but the first lane, made with the ring):
 * allocate its slots' pages (fallocate: out of memory is an error here,
 * not a fault in a later push), map them in one call (not a page fault
 * every 16 pushes of its first lap) and write their seqs, then let pushes
 * in. Two system calls, once a lane; where MADV_POPULATE_WRITE is not
 * known, the seqs' stores fault the pages in. The seqs written here, not
 * left zero: a lane whose slots were never touched before its first lap
 * had make bench's 1-producer p99.9 at 741 to 842 ns, against 571 to 591
 * written. Returns 0, or a negative errno (errno itself is kept: a push
 * leaves it as it was).
 *
 * A lane of a thread's own is made by that thread only. Lane 0 may be made
 * by two threads at once (neither waits for the other): what both write is
 * the same, and a seq a push wrote is left alone (shm_ring_init_slots).
 */
int
shm_ring_make(struct shm_ring *r, struct shm_lane *l)
{
	size_t len = (size_t)r->slot_count * RELOG_RING_SLOT_SIZE;
	int saved = errno, error;

	if (r->fd >= 0 && fallocate(r->fd, 0, (off_t)((char *)l->slots -
	    (char *)r->base), (off_t)len) != 0) {
		error = -errno;
		errno = saved;
		return (error);
	}
#ifdef MADV_POPULATE_WRITE
	(void)madvise(l->slots, len, MADV_POPULATE_WRITE);
#endif
	shm_ring_init_slots(r, l);
	atomic_store_explicit(&l->ready, 1, memory_order_release);
	errno = saved;
	return (0);
}

/*
 * A thread's first push into its own lane: make it. If it cannot be made
 * (-1), that thread pushes into lane 0 of this ring from then on, as does
 * any thread that takes the lane after it: the state goes from 0 to 1 or
 * -1 and stays, so a thread's records in a ring stay in one lane (two
 * lanes' records of one ms are merged in either order). Lane 0 of another
 * ring is not its concern. Returns the lane to push into: this one, or
 * lane 0.
 */
struct shm_lane *
shm_ring_populate(struct shm_ring *r, struct shm_lane *l)
{
	if (atomic_load_explicit(&l->ready, memory_order_acquire) != 0 ||
	    shm_ring_make(r, l) != 0) {
		atomic_store_explicit(&l->ready, -1, memory_order_relaxed);
		return (&r->lane[0]);
	}
	return (l);
}

/*
 * Does the consumer look again after arming (the hello's ring_recheck)?
 * Set before the ring is handed over (false) and once relogd has said.
 */
void
shm_ring_rechecked(struct shm_ring *r, bool yes)
{
	atomic_store_explicit(&r->rechecked, yes, memory_order_relaxed);
}

bool
shm_ring_is_rechecked(const struct shm_ring *r)
{
	return (atomic_load_explicit(&r->rechecked, memory_order_relaxed));
}

/*
 * What the ring has seen, summed over its lanes (the consumer's fields as
 * relogd last wrote them).
 */
void
shm_ring_stats(const struct shm_ring *r, struct shm_ring_stats *st)
{
	const struct relog_ring_header *hdr;
	unsigned i;

	memset(st, 0, sizeof *st);
	st->unmapped = atomic_load_explicit(&r->unmapped, memory_order_relaxed);
	if (r->base == NULL)
		return;
	for (i = 0; i < r->lane_count; i++) {
		hdr = r->lane[i].hdr;
		st->head += atomic_load_explicit(&hdr->head,
		    memory_order_acquire);
		st->tail += atomic_load_explicit(&hdr->tail,
		    memory_order_acquire);
		st->overwritten += atomic_load_explicit(&hdr->overwritten,
		    memory_order_relaxed);
		st->abandoned += atomic_load_explicit(&hdr->abandoned,
		    memory_order_relaxed);
		st->torn += atomic_load_explicit(&hdr->torn,
		    memory_order_relaxed);
		st->unfinished += atomic_load_explicit(&hdr->unfinished,
		    memory_order_relaxed);
		st->reported += atomic_load_explicit(&hdr->reported,
		    memory_order_relaxed);
	}
}

/*
 * Where every lane's head is, into heads (RELOG_RING_LANES_MAX of them):
 * for shm_ring_passed.
 */
void
shm_ring_heads(const struct shm_ring *r, uint64_t *heads)
{
	unsigned i;

	memset(heads, 0, RELOG_RING_LANES_MAX * sizeof *heads);
	if (r->base == NULL)
		return;
	for (i = 0; i < r->lane_count; i++)
		heads[i] = atomic_load_explicit(&r->lane[i].hdr->head,
		    memory_order_acquire);
}

/*
 * Has every lane's tail reached heads (from shm_ring_heads): is all that
 * was pushed before written? 1 too when there is no ring.
 */
int
shm_ring_passed(const struct shm_ring *r, const uint64_t *heads)
{
	unsigned i;

	if (r->base == NULL)
		return (1);
	for (i = 0; i < r->lane_count; i++) {
		if ((int64_t)(atomic_load_explicit(&r->lane[i].hdr->tail,
		    memory_order_acquire) - heads[i]) < 0)
			return (0);
	}
	return (1);
}

/*
 * Records lost so far, for relog_dropped(): overwritten unread or found so by
 * relogd, given up, skipped unfinished, or pushed with no ring.
 */
uint64_t
shm_ring_dropped(const struct shm_ring *r)
{
	struct shm_ring_stats st;

	shm_ring_stats(r, &st);
	return (st.overwritten + st.abandoned + st.torn + st.unfinished +
	    st.unmapped);
}

/*
 * The shared record ring, consumer side: a runner's memfd checked and
 * mapped (PROTOCOL.md, "Shared ring"). Nothing is mapped that is not
 * sealed against shrinking and growing and of the size its header says;
 * the geometry is read once, with pread, and never again from the ring.
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

#include "proto-ring-int.h"

/* The header of lane i of a ring mapped at base. */
static struct relog_ring_header *
proto_ring_lane_hdr(void *base, uint64_t slot_count, unsigned i)
{
	return ((struct relog_ring_header *)((char *)base +
	    i * relog_ring_lane_size(slot_count)));
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

/* Start every lane afresh; tokens given before stay below those to come. */
void
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

/* Why the ring failed (NULL if it has not). */
const char *
proto_ring_cause(const struct proto_ring *r)
{
	return (r->cause);
}

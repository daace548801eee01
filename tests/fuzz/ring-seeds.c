/*
 * Write fuzz-ring's seed corpus: rings as librelog's producer leaves them
 * (shim/shm-ring.c), in fuzz-ring's input form: a control byte, the
 * header's first 512 bytes, the slots of the positions a consumer would
 * read (from where it starts up to head).
 *
 * usage: ring-seeds DIR
 */
#include <sys/mman.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "relog-ring.h"
#include "shm-ring.h"

#define SEEDS_SLOTS RELOG_RING_SLOTS_MIN

static const char *seeds_dir;

/* Say what failed and stop. */
static void __attribute__((noreturn))
seeds_fatal(const char *what)
{
	fprintf(stderr, "ring-seeds: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* Push n records, some of several slots, some with a color. */
static void
seeds_push(struct shm_ring *ring, unsigned n, size_t exc_len)
{
	static char text[8192];
	struct shm_ring_record rec;
	unsigned i;

	memset(text, 'x', sizeof text);
	for (i = 0; i < n; i++) {
		memset(&rec, 0, sizeof rec);
		rec.timestamp_ms = 1764306519000 + i;
		rec.level = 10 + (int)(i % 5) * 10;
		rec.name = "plugin.seed";
		rec.name_len = 11;
		rec.msg = text;
		rec.msg_len = 20 + i % 200;
		rec.exc = text;
		rec.exc_len = i % 4 == 3 ? exc_len : 0;
		if (i % 2 == 0) {
			rec.color = "\x1b[32m";
			rec.color_len = 5;
		}
		shm_ring_push(ring, &rec);
	}
}

/*
 * Write a lane of a ring of lanes lanes as seed name; with dead, as if a
 * writer had died mid-record.
 */
static void
seeds_write(struct shm_ring *ring, unsigned lanes, unsigned lane,
    const char *name, int dead)
{
	struct relog_ring_header *hdr;
	struct relog_ring_slot *slots;
	size_t size = relog_ring_file_size(SEEDS_SLOTS, lanes);
	uint64_t t, h, pos;
	char path[4096], *base;
	FILE *f;

	base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED,
	    shm_ring_fd(ring), 0);
	if (base == MAP_FAILED)
		seeds_fatal("mmap");
	hdr = (struct relog_ring_header *)(base +
	    lane * relog_ring_lane_size(SEEDS_SLOTS));
	slots = (struct relog_ring_slot *)((char *)hdr + RELOG_RING_HEADER_SIZE);
	t = atomic_load(&hdr->tail);
	h = atomic_load(&hdr->head);
	if (dead && h != t) {
		/* The newest record: claimed, never committed. */
		atomic_store(&slots[(h - 1) & (SEEDS_SLOTS - 1)].seq,
		    relog_ring_seq(h - 1, RELOG_RING_WRITING_FIRST));
	}
	snprintf(path, sizeof path, "%s/%s", seeds_dir, name);
	f = fopen(path, "we");
	if (f == NULL)
		seeds_fatal(path);
	fputc(dead ? 0x08 : 0x30, f);
	fwrite(hdr, 1, 512, f);
	for (pos = h - t <= SEEDS_SLOTS ? t : h - SEEDS_SLOTS; pos != h; pos++)
		fwrite(&slots[pos & (SEEDS_SLOTS - 1)], 1, RELOG_RING_SLOT_SIZE,
		    f);
	if (ferror(f) || fclose(f) != 0)
		seeds_fatal(path);
	munmap(base, size);
}

int
main(int argc, char **argv)
{
	struct shm_ring *ring;

	if (argc != 2) {
		fprintf(stderr, "usage: ring-seeds DIR\n");
		return (2);
	}
	seeds_dir = argv[1];
	if (shm_ring_create(&ring, SEEDS_SLOTS, NULL, NULL) != 0)
		seeds_fatal("shm_ring_create");
	seeds_write(ring, 1, 0, "empty", 0);
	seeds_push(ring, 5, 0);
	seeds_write(ring, 1, 0, "five", 0);
	seeds_push(ring, 12, 3000);
	seeds_write(ring, 1, 0, "tracebacks", 0);
	seeds_write(ring, 1, 0, "writer-died", 1);
	shm_ring_destroy(ring);

	/* Wrapped: the oldest records overwritten. */
	if (shm_ring_create(&ring, SEEDS_SLOTS, NULL, NULL) != 0)
		seeds_fatal("shm_ring_create");
	seeds_push(ring, 3000, 1500);
	seeds_write(ring, 1, 0, "wrapped", 0);
	shm_ring_destroy(ring);

	/*
	 * Lanes: this thread's records are in lane 1 (the first thread's),
	 * written as the seed's; fuzz-ring copies it into the others.
	 */
	if (shm_ring_create_lanes(&ring, SEEDS_SLOTS, 4, NULL, NULL) != 0)
		seeds_fatal("shm_ring_create_lanes");
	seeds_push(ring, 40, 500);
	seeds_write(ring, 4, 1, "lanes", 0);
	seeds_write(ring, 4, 1, "lanes-writer-died", 1);
	shm_ring_destroy(ring);
	return (0);
}

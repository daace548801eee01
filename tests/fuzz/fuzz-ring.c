/*
 * libFuzzer target: a shared ring (relog-ring.h) as a hostile runner may
 * hand it to relogd. The input is the ring's bytes; it is put in a memfd,
 * sealed, checked and mapped by proto_ring_open as relogd would, and
 * drained: reads under small budgets, as if the runner lived and then as
 * if it were dead, arming and committing in between (a rewind, a limit and
 * a give-up read among them), then a second consumer on the same fd
 * (relogd restarted) going on from the first one's tail. Every byte a
 * callback gets is read, so the sanitizers see any overrun.
 *
 * Input: one control byte, the header's first 512 bytes (the rest of its
 * page is padding), then slots, laid from the slot of the position where
 * the consumer will start (as proto_ring_open picks it from the header's
 * head and tail) on, wrapping, so that a small input reaches where it
 * reads. The rest of the ring is zeros (slots of an old skip). Control
 * bits: 0x01 leave the geometry as given (else it is made valid: 1 to
 * 4 lanes, as (lane_count - 1) % 4 + 1 says), 0x02 do not seal,
 * 0x04 one page too large, 0x08 the runner is dead from the start; bits
 * 4..7: the read budget in records, less one. Every lane after the first
 * is a copy of it, its head one position further back a lane, so the
 * merge has records to order and lanes that end apart. The header's bytes
 * FUZZ_SCRIPT on (past wake_at: padding to the consumer) are what the
 * runner writes while the consumer reads: FUZZ_SCRIPT_N entries of a u32
 * read call, a u32 offset (mod the file size, to 8 bytes) and a u64
 * value, stored before that read, so a record held across reads, a head
 * moved under it, a seq changed between copy and claim are all reached.
 */
#include <sys/mman.h>
#include <sys/stat.h>

#include <fcntl.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "proto-ring.h"
#include "relog-ring.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define FUZZ_SLOTS RELOG_RING_SLOTS_MIN
#define FUZZ_HEADER 512	/* header bytes in an input */
#define FUZZ_READS 32	/* read calls per consumer at most */
#define FUZZ_SCRIPT 400	/* header bytes from here: the scribbles */
#define FUZZ_SCRIPT_N 7	/* of 16 bytes each */

static volatile unsigned fuzz_sink;

/* Read every byte of a delivered record. */
static int
fuzz_touch(const struct proto_ring_record *rec, void *arg)
{
	const struct proto_ring_text *t[] = {
		&rec->name, &rec->message, &rec->exception, &rec->color,
	};
	size_t i, j;

	(void)arg;
	for (i = 0; i < 4; i++) {
		for (j = 0; t[i]->ptr != NULL && j < t[i]->len; j++)
			fuzz_sink += (unsigned char)t[i]->ptr[j];
	}
	fuzz_sink += (unsigned)rec->level + (unsigned)rec->timestamp_ms;
	return (rec->position % 7 == 3);
}

/* The ring's memfd, as the runner would make it from the input. */
static int
fuzz_memfd(const uint8_t *data, size_t len, unsigned ctl)
{
	struct relog_ring_header hdr;
	uint64_t size, t, h, first, lane;
	uint32_t lanes;
	size_t off, n;
	int fd;

	fd = memfd_create("fuzz-ring", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return (-1);
	memset(&hdr, 0, FUZZ_HEADER);
	memcpy(&hdr, data, len < FUZZ_HEADER ? len : FUZZ_HEADER);
	if ((ctl & 0x01) == 0) {
		hdr.magic = RELOG_RING_MAGIC;
		hdr.version = RELOG_RING_VERSION;
		hdr.header_size = RELOG_RING_HEADER_SIZE;
		hdr.slot_size = RELOG_RING_SLOT_SIZE;
		hdr.slot_count = FUZZ_SLOTS;
		hdr.lane_count = 1 + (hdr.lane_count - 1) % 4;
	}
	lanes = hdr.lane_count >= 1 && hdr.lane_count <= 4 ?
	    hdr.lane_count : 1;
	size = relog_ring_file_size(FUZZ_SLOTS, lanes);
	if (ctl & 0x04)
		size += 4096;
	if (ftruncate(fd, (off_t)size) != 0)
		goto fail;
	t = atomic_load(&hdr.tail);
	h = atomic_load(&hdr.head);
	for (lane = 0; lane < lanes; lane++) {
		if (pwrite(fd, &hdr, FUZZ_HEADER, (off_t)(lane *
		    relog_ring_lane_size(FUZZ_SLOTS))) != FUZZ_HEADER)
			goto fail;
		/* The slots, from where the consumer starts: two pieces. */
		first = (h - t <= FUZZ_SLOTS ? t : h - FUZZ_SLOTS) &
		    (FUZZ_SLOTS - 1);
		off = FUZZ_HEADER;
		while (off < len && off < FUZZ_HEADER +
		    (size_t)FUZZ_SLOTS * RELOG_RING_SLOT_SIZE) {
			n = (FUZZ_SLOTS - first) * RELOG_RING_SLOT_SIZE;
			if (n > len - off)
				n = len - off;
			if (pwrite(fd, data + off, n, (off_t)(lane *
			    relog_ring_lane_size(FUZZ_SLOTS) +
			    RELOG_RING_HEADER_SIZE + first *
			    RELOG_RING_SLOT_SIZE)) != (ssize_t)n)
				goto fail;
			off += n;
			first = 0;
		}
		atomic_store(&hdr.head, atomic_load(&hdr.head) - 1);
	}
	if ((ctl & 0x02) == 0 && fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK |
	    F_SEAL_GROW | F_SEAL_SEAL) != 0)
		goto fail;
	return (fd);
fail:
	close(fd);
	return (-1);
}

/* The runner's writes before read call i, from the script (may be NULL). */
static void
fuzz_scribble(const uint8_t *script, void *map, size_t size, int i)
{
	uint32_t when, off;
	uint64_t v;
	int j;

	if (script == NULL || map == NULL)
		return;
	for (j = 0; j < FUZZ_SCRIPT_N; j++) {
		memcpy(&when, script + 16 * j, 4);
		memcpy(&off, script + 16 * j + 4, 4);
		memcpy(&v, script + 16 * j + 8, 8);
		if (when % FUZZ_READS != (uint32_t)i || when == 0)
			continue;
		off = (uint32_t)(off % size) & ~7u;
		atomic_store_explicit((_Atomic uint64_t *)((char *)map + off),
		    v, memory_order_relaxed);
	}
}

/*
 * Drain a ring as relogd would, within FUZZ_READS calls, the runner
 * scribbling on it as script says (NULL: not at all).
 */
static void
fuzz_drain(int fd, int dead, size_t budget, const uint8_t *script)
{
	struct proto_ring_counts counts;
	struct proto_ring *r;
	const char *cause;
	void *map = NULL;
	struct stat st = { .st_size = 0 };
	int i, rc;

	if (proto_ring_open(fd, SIZE_MAX, &r, &cause) != 0) {
		fuzz_sink += (unsigned)strlen(cause);
		return;
	}
	if (script != NULL && fstat(fd, &st) == 0 && st.st_size > 0) {
		map = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE,
		    MAP_SHARED, fd, 0);
		if (map == MAP_FAILED)
			map = NULL;
	}
	memset(&counts, 0, sizeof counts);
	for (i = 0; i < FUZZ_READS; i++) {
		fuzz_scribble(script, map, (size_t)st.st_size, i);
		rc = proto_ring_read(r, (dead ? PROTO_RING_PEER_DEAD : 0) |
		    (i == 7 ? PROTO_RING_GIVE_UP : 0), budget,
		    (size_t)1 << (10 + i % 8), fuzz_touch, NULL, &counts);
		if (rc < 0) {
			fuzz_sink += (unsigned)strlen(proto_ring_cause(r));
			break;
		}
		/* Commit as relogd does once written; rewind as librelog. */
		if (i % 3 == 0)
			proto_ring_commit(r, proto_ring_position(r));
		if (i == 5)
			proto_ring_rewind(r);
		if (i == 4)
			proto_ring_sync(r);
		if (i == 6)
			proto_ring_limit(r);
		if (rc == PROTO_RING_AGAIN)
			continue;
		if (proto_ring_arm(r, 1 + (uint32_t)i % 20) == 0) {
			if (dead)
				break;
			dead = 1;
		}
	}
	fuzz_sink += (unsigned)(counts.delivered + counts.torn +
	    counts.unfinished + proto_ring_position(r) +
	    proto_ring_new_drops(r)) + (unsigned)proto_ring_synced(r);
	proto_ring_close(r);
	if (map != NULL)
		munmap(map, (size_t)st.st_size);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	unsigned ctl;
	int fd;

	if (len < 1)
		return (0);
	ctl = data[0];
	fd = fuzz_memfd(data + 1, len - 1, ctl);
	if (fd < 0)
		return (0);
	fuzz_drain(fd, (ctl & 0x08) != 0, 1 + (ctl >> 4),
	    len > 1 + FUZZ_SCRIPT + 16 * FUZZ_SCRIPT_N ?
	    data + 1 + FUZZ_SCRIPT : NULL);
	fuzz_drain(fd, 1, 1 + (ctl >> 4), NULL);
	close(fd);
	return (0);
}

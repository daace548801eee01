/*
 * relog shared ring: the layout of the memory a runner (librelog) and relogd
 * share to pass log records without a system call per record. PROTOCOL.md's
 * last section, "Shared ring (relog extension)", is the prose version, with
 * the protocols and their invariants; keep the two in step.
 *
 * The ring is one memfd of lane_count lanes, one after another. A lane is
 * a header page, then slot_count slots of RELOG_RING_SLOT_SIZE bytes; every
 * lane has the same geometry, and lane 0's header, at the start of the
 * file, says it. Each emitting thread pushes into a lane of its own while
 * there are lanes enough (threads share them beyond), so threads on
 * different CPUs do not fight over one head. Both sides are processes of
 * one host: fields are in native byte order, and every shared field is a
 * lock-free (hence address-free) C11 atomic, accessed with atomic
 * operations only.
 *
 * Bump RELOG_RING_VERSION on any change a deployed peer would notice.
 */
#ifndef RELOG_RING_H
#define RELOG_RING_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define RELOG_RING_MAGIC 0x52474c52u	/* "RLGR" in a little-endian dump */
#define RELOG_RING_VERSION 2u	/* 2: lanes */

/* Geometry. Version 1 allows only these header and slot sizes. */
#define RELOG_RING_HEADER_SIZE 4096u	/* the slots start on a page */
#define RELOG_RING_SLOT_SIZE 256u
#define RELOG_RING_SLOT_WORDS 31u	/* 8-byte payload words per slot */
#define RELOG_RING_PAYLOAD (RELOG_RING_SLOT_WORDS * 8u)	/* 248 bytes */
/*
 * slot_count is a power of two in [MIN, MAX]. MIN is the least in which the
 * largest record fits (RELOG_RING_RECORD_SLOTS_MAX), MAX bounds what relogd
 * maps per runner (64 MiB of slots).
 */
#define RELOG_RING_SLOTS_MIN 1024u
#define RELOG_RING_SLOTS_MAX (1u << 18)
#define RELOG_RING_SLOTS_DEFAULT 1024u	/* 256 KiB of slots */

/* Lanes in a ring: lane_count is 1 to this. */
#define RELOG_RING_LANES_MAX 8u

/* Records. Texts are cut (at a UTF-8 boundary) to these many bytes. */
#define RELOG_RING_TEXT_MAX (64u * 1024)	/* name, message, exception */
#define RELOG_RING_COLOR_MAX 256u
#define RELOG_RING_RECORD_HEADER 32u	/* struct relog_ring_record */
#define RELOG_RING_RECORD_MAX (RELOG_RING_RECORD_HEADER + \
	3 * RELOG_RING_TEXT_MAX + RELOG_RING_COLOR_MAX)	/* 196896 */
#define RELOG_RING_RECORD_SLOTS_MAX \
	((RELOG_RING_RECORD_MAX + RELOG_RING_PAYLOAD - 1) / RELOG_RING_PAYLOAD)

/* wake_at when no consumer waits to be woken. */
#define RELOG_RING_DISARMED UINT64_MAX

/*
 * A slot's seq word: (position << 3) | state. Positions are free-running
 * slot numbers (a record of k slots takes k consecutive ones, slot index =
 * position & (slot_count - 1)); seq keeps the low 61 bits, enough for
 * 2^61 slots (5 * 10^20 bytes) before it wraps. head and tail start at
 * slot_count, and a fresh slot i holds SKIP at position i: older than the
 * first position that maps to it.
 */
#define RELOG_RING_STATE_BITS 3
#define RELOG_RING_STATE_MASK 7u
#define RELOG_RING_FIRST 4u		/* the first slot of a record */
enum relog_ring_state {
	RELOG_RING_SKIP = 0,		/* done, nothing to deliver */
	RELOG_RING_WRITING = 1,		/* claimed, being written */
	RELOG_RING_COMMITTED = 2,	/* written (a record's later slot) */
	RELOG_RING_POISONED = 3,	/* given up; its writer leaves a skip */
	RELOG_RING_WRITING_FIRST = 5,
	RELOG_RING_COMMITTED_FIRST = 6,	/* a whole record, unread */
	RELOG_RING_CONSUMED_FIRST = 7,	/* a whole record, read by a consumer */
};

/*
 * A lane's header page. Each group that one side writes often has its own
 * 128-byte block, so producers and the consumer do not false-share (128:
 * the adjacent-line prefetcher pairs 64-byte lines).
 */
struct relog_ring_header {
	/* Written once by the runner, before it passes the fd. */
	uint32_t magic;			/* RELOG_RING_MAGIC */
	uint32_t version;		/* RELOG_RING_VERSION */
	uint32_t header_size;		/* RELOG_RING_HEADER_SIZE */
	uint32_t slot_size;		/* RELOG_RING_SLOT_SIZE */
	uint32_t slot_count;		/* of each lane: a power of two,
					   SLOTS_MIN..SLOTS_MAX */
	uint32_t lane_count;		/* 1..RELOG_RING_LANES_MAX */
	char pad0[128 - 24];

	/* Producers'. */
	_Atomic uint64_t head;		/* next position to hand out */
	_Atomic uint64_t overwritten;	/* unread records a claim destroyed */
	_Atomic uint64_t abandoned;	/* records their writer gave up */
	char pad1[128 - 24];

	/* The consumer's (a runner only reads them). */
	_Atomic uint64_t tail;		/* where the consumer goes on from */
	_Atomic uint64_t torn;		/* unread records found overwritten */
	_Atomic uint64_t unfinished;	/* skipped: their writer died */
	_Atomic uint64_t reported;	/* overwritten + abandoned + torn +
					   unfinished, said */
	_Atomic uint64_t taken;		/* records taken, not committed */
	char pad2[128 - 40];

	/* Armed by the consumer, disarmed by the producer that wakes it. */
	_Atomic uint64_t wake_at;	/* a position, or RELOG_RING_DISARMED */
	char pad3[RELOG_RING_HEADER_SIZE - 384 - 8];
};

/* A slot: its seq, then 248 bytes of a record, as 31 atomic words. */
struct relog_ring_slot {
	_Atomic uint64_t seq;
	_Atomic uint64_t word[RELOG_RING_SLOT_WORDS];
};

/*
 * A record starts its first slot's payload with this header. Then come the
 * logger name, the message, the exception text and the color, each padded
 * with zeros to a multiple of 8 bytes; the record runs on into the payload
 * of the next slots. size counts the header and the padded texts.
 */
#define RELOG_RING_RECORD_COLOR 0x1u	/* has a color (color_len may be 0) */
struct relog_ring_record {
	int64_t timestamp_ms;
	uint32_t size;
	int32_t level;
	uint32_t name_len;
	uint32_t msg_len;
	uint32_t exc_len;
	uint16_t color_len;
	uint16_t flags;			/* RELOG_RING_RECORD_* */
};

_Static_assert(sizeof(struct relog_ring_header) == RELOG_RING_HEADER_SIZE,
    "header page");
_Static_assert(offsetof(struct relog_ring_header, head) == 128, "head");
_Static_assert(offsetof(struct relog_ring_header, tail) == 256, "tail");
_Static_assert(offsetof(struct relog_ring_header, reported) == 280,
    "reported");
_Static_assert(offsetof(struct relog_ring_header, taken) == 288, "taken");
_Static_assert(offsetof(struct relog_ring_header, wake_at) == 384, "wake_at");
_Static_assert(sizeof(struct relog_ring_slot) == RELOG_RING_SLOT_SIZE,
    "slot");
_Static_assert(sizeof(struct relog_ring_record) == RELOG_RING_RECORD_HEADER,
    "record header");
_Static_assert(sizeof(_Atomic uint64_t) == 8 && ATOMIC_LLONG_LOCK_FREE == 2 &&
    ATOMIC_LONG_LOCK_FREE == 2, "shared atomics must be lock-free");
_Static_assert(RELOG_RING_RECORD_SLOTS_MAX <= RELOG_RING_SLOTS_MIN,
    "the largest record fits in the smallest ring");

/*
 * The byte of its word a header field is at. The struct is the header's
 * layout, but both sides store and load it as its four words, each field
 * placed into or taken out of its word in a register: a word loaded over
 * the narrower stores that filled it (or a field over a word's store) is
 * not forwarded by the CPU, and it waits for them.
 */
#define RELOG_RING_FIELD_AT(f) (offsetof(struct relog_ring_record, f) % 8)
_Static_assert(offsetof(struct relog_ring_record, size) / 8 == 1 &&
    offsetof(struct relog_ring_record, level) / 8 == 1 &&
    offsetof(struct relog_ring_record, name_len) / 8 == 2 &&
    offsetof(struct relog_ring_record, msg_len) / 8 == 2 &&
    offsetof(struct relog_ring_record, exc_len) / 8 == 3 &&
    offsetof(struct relog_ring_record, color_len) / 8 == 3 &&
    offsetof(struct relog_ring_record, flags) / 8 == 3,
    "the header's words");

/* A value of len bytes, as loaded from memory, put at byte o of a word. */
static inline uint64_t
relog_ring_place(uint64_t v, size_t o, size_t len)
{
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	return (v << (64 - 8 * (o + len)));
#else
	(void)len;
	return (v << (8 * o));
#endif
}

/* The value of len (1 to 4) bytes at byte o of a word loaded from memory. */
static inline uint32_t
relog_ring_take(uint64_t w, size_t o, size_t len)
{
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	w >>= 64 - 8 * (o + len);
#else
	w >>= 8 * o;
#endif
	return ((uint32_t)(w & (((uint64_t)1 << (8 * len)) - 1)));
}

/* A record's header as the four words it is stored in. */
static inline void
relog_ring_header_words(const struct relog_ring_record *h, uint64_t w[4])
{
	w[0] = (uint64_t)h->timestamp_ms;
	w[1] = relog_ring_place(h->size, RELOG_RING_FIELD_AT(size), 4) |
	    relog_ring_place((uint32_t)h->level, RELOG_RING_FIELD_AT(level), 4);
	w[2] = relog_ring_place(h->name_len, RELOG_RING_FIELD_AT(name_len), 4) |
	    relog_ring_place(h->msg_len, RELOG_RING_FIELD_AT(msg_len), 4);
	w[3] = relog_ring_place(h->exc_len, RELOG_RING_FIELD_AT(exc_len), 4) |
	    relog_ring_place(h->color_len, RELOG_RING_FIELD_AT(color_len), 2) |
	    relog_ring_place(h->flags, RELOG_RING_FIELD_AT(flags), 2);
}

/* A record's header from the four words it was loaded as. */
static inline void
relog_ring_header_from(struct relog_ring_record *h, const uint64_t w[4])
{
	h->timestamp_ms = (int64_t)w[0];
	h->size = relog_ring_take(w[1], RELOG_RING_FIELD_AT(size), 4);
	h->level = (int32_t)relog_ring_take(w[1], RELOG_RING_FIELD_AT(level),
	    4);
	h->name_len = relog_ring_take(w[2], RELOG_RING_FIELD_AT(name_len), 4);
	h->msg_len = relog_ring_take(w[2], RELOG_RING_FIELD_AT(msg_len), 4);
	h->exc_len = relog_ring_take(w[3], RELOG_RING_FIELD_AT(exc_len), 4);
	h->color_len = (uint16_t)relog_ring_take(w[3],
	    RELOG_RING_FIELD_AT(color_len), 2);
	h->flags = (uint16_t)relog_ring_take(w[3], RELOG_RING_FIELD_AT(flags),
	    2);
}

/* A seq word. */
static inline uint64_t
relog_ring_seq(uint64_t pos, unsigned state)
{
	return (pos << RELOG_RING_STATE_BITS | state);
}

/* A seq word's state. */
static inline unsigned
relog_ring_seq_state(uint64_t seq)
{
	return ((unsigned)(seq & RELOG_RING_STATE_MASK));
}

/*
 * How a seq word's position compares with pos, modulo 2^61: < 0 older,
 * 0 the same, > 0 newer.
 */
static inline int64_t
relog_ring_seq_cmp(uint64_t seq, uint64_t pos)
{
	uint64_t d = (seq & ~(uint64_t)RELOG_RING_STATE_MASK) -
	    (pos << RELOG_RING_STATE_BITS);

	return ((int64_t)d >> RELOG_RING_STATE_BITS);
}

/* A text's length padded to whole words. */
static inline uint64_t
relog_ring_pad(uint64_t len)
{
	return ((len + 7) & ~(uint64_t)7);
}

/* How many slots a record of size bytes takes. */
static inline uint64_t
relog_ring_record_slots(uint64_t size)
{
	return ((size + RELOG_RING_PAYLOAD - 1) / RELOG_RING_PAYLOAD);
}

/* The size of a lane of slot_count slots: its header page and slots. */
static inline uint64_t
relog_ring_lane_size(uint64_t slot_count)
{
	return (RELOG_RING_HEADER_SIZE + slot_count * RELOG_RING_SLOT_SIZE);
}

/* The file size a ring of lane_count lanes of slot_count slots must have. */
static inline uint64_t
relog_ring_file_size(uint64_t slot_count, uint64_t lane_count)
{
	return (lane_count * relog_ring_lane_size(slot_count));
}

#endif

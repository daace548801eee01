/*
 * The shim's fixed-capacity record ring (not thread-safe: relog.c holds its
 * lock around every call).
 */
#ifndef RELOG_RING_H
#define RELOG_RING_H

#include <stddef.h>
#include <stdint.h>

/* Longest logger name, message or exception text kept; longer is cut. */
#define RING_TEXT_MAX (64u * 1024)

/* A record to copy in: strings with lengths, not NUL-terminated. */
struct ring_record {
	int64_t timestamp_ms;
	int level;
	const char *name;
	size_t name_len;
	const char *msg;
	size_t msg_len;
	const char *exc;
	size_t exc_len;
	const char *color;	/* NULL: none */
	size_t color_len;
};

/*
 * One slot. Its buffer holds name, message, exception and color one after
 * the other and is reused: it only grows, so that a ring that has wrapped
 * once no longer allocates.
 */
struct ring_slot {
	int64_t timestamp_ms;
	int level;
	uint32_t name_len;
	uint32_t msg_len;
	uint32_t exc_len;
	uint32_t color_len;
	int has_color;
	char *buf;
	size_t cap;
};

struct ring {
	struct ring_slot *slots;
	size_t cap;
	size_t head;		/* oldest record */
	size_t count;
	uint64_t dropped;	/* records lost, ever: overwritten or no memory */
	uint64_t evicted;	/* of those, overwritten: they left the head */
};

int	ring_init(struct ring *, size_t);
void	ring_free(struct ring *);
void	ring_clear(struct ring *);
int	ring_push(struct ring *, const struct ring_record *);
size_t	ring_pop(struct ring *, struct ring_slot *, size_t);
size_t	ring_pop_bytes(struct ring *, struct ring_slot *, size_t, size_t);
void	ring_slots_free(struct ring_slot *, size_t);

/* About how many bytes a record takes on the wire. */
static inline size_t ring_slot_size(const struct ring_slot *s)
{
	return (128 + s->name_len + s->msg_len + s->exc_len + s->color_len);
}

/* Where each field of a popped slot starts. */
static inline const char *ring_slot_name(const struct ring_slot *s)
{
	return (s->buf);
}
static inline const char *ring_slot_msg(const struct ring_slot *s)
{
	return (s->buf + s->name_len);
}
static inline const char *ring_slot_exc(const struct ring_slot *s)
{
	return (s->buf + s->name_len + s->msg_len);
}
static inline const char *ring_slot_color(const struct ring_slot *s)
{
	return (s->buf + s->name_len + s->msg_len + s->exc_len);
}

#endif

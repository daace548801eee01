/*
 * The record ring: a fixed array of slots, oldest at head. When full, a push
 * overwrites the oldest record and counts it as dropped.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"
#include "ring.h"

/* Allocate a ring of cap slots (cap > 0). Returns 0 or -ENOMEM. */
int
ring_init(struct ring *r, size_t cap)
{
	memset(r, 0, sizeof *r);
	r->slots = calloc(cap, sizeof *r->slots);
	if (r->slots == NULL)
		return (-ENOMEM);
	r->cap = cap;
	return (0);
}

/* Free n slots' buffers. */
void
ring_slots_free(struct ring_slot *slots, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(slots[i].buf);
		slots[i].buf = NULL;
		slots[i].cap = 0;
	}
}

/* Free the ring and everything in it. */
/* Forget every record and count (the slots keep their buffers). */
void
ring_clear(struct ring *r)
{
	r->head = r->count = 0;
	r->dropped = r->evicted = 0;
}

/* Free a ring and its slots' buffers. */
void
ring_free(struct ring *r)
{
	if (r->slots != NULL)
		ring_slots_free(r->slots, r->cap);
	free(r->slots);
	memset(r, 0, sizeof *r);
}

/*
 * Copy a record in, overwriting the oldest one when full. Returns 0, or
 * -ENOMEM when a slot could not grow (the record is then dropped and
 * counted).
 */
int
ring_push(struct ring *r, const struct ring_record *rec)
{
	struct ring_slot *s;
	size_t name_len = proto_utf8_cut(rec->name, rec->name_len,
	    RING_TEXT_MAX);
	size_t msg_len = proto_utf8_cut(rec->msg, rec->msg_len, RING_TEXT_MAX);
	size_t exc_len = proto_utf8_cut(rec->exc, rec->exc_len, RING_TEXT_MAX);
	size_t color_len = rec->color != NULL ?
	    proto_utf8_cut(rec->color, rec->color_len, RING_TEXT_MAX) : 0;
	size_t need = name_len + msg_len + exc_len + color_len, cap;
	char *buf;

	if (r->count == r->cap) {
		s = &r->slots[r->head];
		r->head = (r->head + 1) % r->cap;
		r->count--;
		r->dropped++;
		r->evicted++;
	} else
		s = &r->slots[(r->head + r->count) % r->cap];

	if (need > s->cap) {
		cap = need < 128 ? 128 : need;
		buf = realloc(s->buf, cap);
		if (buf == NULL) {
			r->dropped++;
			return (-ENOMEM);
		}
		s->buf = buf;
		s->cap = cap;
	}
	s->timestamp_ms = rec->timestamp_ms;
	s->level = rec->level;
	s->name_len = (uint32_t)name_len;
	s->msg_len = (uint32_t)msg_len;
	s->exc_len = (uint32_t)exc_len;
	s->color_len = (uint32_t)color_len;
	s->has_color = rec->color != NULL;
	if (need != 0) {
		memcpy(s->buf, rec->name, name_len);
		memcpy(s->buf + name_len, rec->msg, msg_len);
		memcpy(s->buf + name_len + msg_len, rec->exc, exc_len);
		if (color_len != 0)
			memcpy(s->buf + name_len + msg_len + exc_len,
			    rec->color, color_len);
	}
	r->count++;
	return (0);
}

/*
 * Like ring_pop, but stop before the records taken pass max_bytes on the
 * wire (ring_slot_size); one record is taken whatever its size.
 */
size_t
ring_pop_bytes(struct ring *r, struct ring_slot *out, size_t n,
    size_t max_bytes)
{
	size_t i, bytes = 0;

	for (i = 0; i < n && i < r->count; i++) {
		bytes += ring_slot_size(&r->slots[(r->head + i) % r->cap]);
		if (bytes > max_bytes && i > 0)
			break;
	}
	return (ring_pop(r, out, i));
}

/*
 * Take up to n oldest records into out. Slots are swapped, not copied: out's
 * previous buffers go back into the ring for reuse, and the caller owns the
 * ones it receives (free them with ring_slots_free).
 */
size_t
ring_pop(struct ring *r, struct ring_slot *out, size_t n)
{
	struct ring_slot tmp;
	size_t i;

	for (i = 0; i < n && r->count > 0; i++) {
		tmp = r->slots[r->head];
		r->slots[r->head].buf = out[i].buf;
		r->slots[r->head].cap = out[i].cap;
		out[i] = tmp;
		r->head = (r->head + 1) % r->cap;
		r->count--;
	}
	return (i);
}

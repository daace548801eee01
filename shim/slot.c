/*
 * Copies of records taken out of the ring (slot.h). The ring's consumer
 * hands a record over only for the length of a callback; a batch keeps it
 * until relogd acknowledges it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proto-ring.h"
#include "slot.h"

/* Copy a text, which may be empty with no pointer. */
static void
slot_copy(char *dst, const struct proto_ring_text *t)
{
	if (t->len != 0)
		memcpy(dst, t->ptr, t->len);
}

/* Copy a record into s, growing its buffer. Returns 0 or -ENOMEM. */
int
slot_set(struct slot *s, const struct proto_ring_record *rec)
{
	size_t need = rec->name.len + rec->message.len + rec->exception.len +
	    rec->color.len, cap;
	char *buf;

	if (need > s->cap) {
		cap = need < 128 ? 128 : need;
		if ((buf = realloc(s->buf, cap)) == NULL)
			return (-ENOMEM);
		s->buf = buf;
		s->cap = cap;
	}
	s->timestamp_ms = rec->timestamp_ms;
	s->level = rec->level;
	s->name_len = (uint32_t)rec->name.len;
	s->msg_len = (uint32_t)rec->message.len;
	s->exc_len = (uint32_t)rec->exception.len;
	s->color_len = (uint32_t)rec->color.len;
	s->has_color = rec->color.ptr != NULL;
	s->taken = rec->taken;
	slot_copy(s->buf, &rec->name);
	slot_copy(s->buf + s->name_len, &rec->message);
	slot_copy(s->buf + s->name_len + s->msg_len, &rec->exception);
	slot_copy(s->buf + s->name_len + s->msg_len + s->exc_len, &rec->color);
	return (0);
}

/* Free n slots' buffers. */
void
slot_free_n(struct slot *slots, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(slots[i].buf);
		slots[i].buf = NULL;
		slots[i].cap = 0;
	}
}

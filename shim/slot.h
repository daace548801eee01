/*
 * A record the flusher took out of the ring, kept while the batch that
 * carries it is in flight (sent, not yet acknowledged), or until close
 * writes it to stderr.
 */
#ifndef RELOG_SLOT_H
#define RELOG_SLOT_H

#include <stddef.h>
#include <stdint.h>

struct proto_ring_record;

/*
 * Its buffer holds name, message, exception and color one after the other
 * and is reused: it only grows, so a window that has been filled once no
 * longer allocates.
 */
struct slot {
	int64_t timestamp_ms;
	int level;
	uint32_t name_len;
	uint32_t msg_len;
	uint32_t exc_len;
	uint32_t color_len;
	int has_color;
	int taken;		/* an earlier consumer had it: relogd may have
				   written it */
	char *buf;
	size_t cap;
};

int	slot_set(struct slot *, const struct proto_ring_record *);
void	slot_free_n(struct slot *, size_t);

/* Where each field starts. */
static inline const char *slot_name(const struct slot *s)
{
	return (s->buf);
}
static inline const char *slot_msg(const struct slot *s)
{
	return (s->buf + s->name_len);
}
static inline const char *slot_exc(const struct slot *s)
{
	return (s->buf + s->name_len + s->msg_len);
}
static inline const char *slot_color(const struct slot *s)
{
	return (s->buf + s->name_len + s->msg_len + s->exc_len);
}

#endif

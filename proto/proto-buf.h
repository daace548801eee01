/*
 * A growable byte buffer (proto-buf.c): data[0 .. len) is in use, and
 * proto_buf_add appends. Used by relogd and relogctl, never by librelog.
 */
#ifndef RELOG_PROTO_BUF_H
#define RELOG_PROTO_BUF_H

#include <stddef.h>
#include <string.h>

struct proto_buf {
	char *data;
	size_t len;
	size_t cap;
};

void	proto_buf_grow(struct proto_buf *, size_t);
void	proto_buf_free(struct proto_buf *);

/* Append bytes (inline: it runs several times for every record written). */
static inline void
proto_buf_add(struct proto_buf *b, const void *data, size_t len)
{
	if (len == 0)
		return;
	if (len > b->cap - b->len)
		proto_buf_grow(b, len);
	memcpy(b->data + b->len, data, len);
	b->len += len;
}

#endif

/*
 * A growable byte buffer, for relogd's outputs and relogctl (not librelog:
 * running out of memory here is the end of the process).
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto-buf.h"

/*
 * Make room for len more bytes (proto_buf_add's slow path); a buffer that
 * has the room is left as it is. Out of memory is the end: relogd and
 * relogctl cannot go on without their buffers.
 */
void
proto_buf_grow(struct proto_buf *b, size_t len)
{
	size_t cap = b->cap != 0 ? b->cap : 4096;
	char *p;

	if (b->data != NULL && b->cap - b->len >= len)
		return;
	while (cap - b->len < len)
		cap *= 2;
	p = realloc(b->data, cap);
	if (p == NULL) {
		(void)!write(STDERR_FILENO, "out of memory\n", 14);
		abort();
	}
	b->data = p;
	b->cap = cap;
}

/* Free a buffer's memory; it can be used again. */
void
proto_buf_free(struct proto_buf *b)
{
	free(b->data);
	memset(b, 0, sizeof *b);
}

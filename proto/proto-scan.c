/*
 * Reading raw msgpack bytes without allocating: the safety scan relogd runs
 * before msgpack-c's unpacker, and a small cursor reader that lets librelog
 * read relogd's replies without libmsgpackc.
 *
 * msgpack-c's unpacker has no limits: a container header is trusted and
 * allocated for at once. proto_scan refuses any container that claims more
 * elements than there are bytes left, any nesting deeper than RELOG_NEST_MAX
 * and any truncated object, so that what the unpacker later allocates is
 * bounded by the frame's size.
 */
#include <string.h>

#include "proto.h"

/* Read a big-endian length header. */
uint32_t
proto_frame_length(const unsigned char *p)
{
	return ((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | (uint32_t)p[3]);
}

/* Read an n-byte big-endian unsigned number. */
static uint64_t
proto_be(const unsigned char *p, size_t n)
{
	uint64_t v = 0;

	while (n-- > 0)
		v = v << 8 | *p++;
	return (v);
}

/*
 * Describe the head of the object at p[0]: how many bytes its length field
 * has, how many payload bytes follow it besides that length, and whether it
 * is a container (1 element per count for arrays, 2 for maps). Returns -1
 * for the unused type byte 0xc1.
 */
static int
proto_head(unsigned char b, size_t *lensize, uint64_t *skip, uint64_t *count,
    int *elements)
{
	*lensize = 0;
	*skip = *count = 0;
	*elements = 0;
	if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3)
		return (0);
	if (b <= 0x8f) {
		*count = b & 0x0f;
		*elements = 2;
		return (0);
	}
	if (b <= 0x9f) {
		*count = b & 0x0f;
		*elements = 1;
		return (0);
	}
	if (b <= 0xbf) {
		*skip = b & 0x1f;
		return (0);
	}
	switch (b) {
	case 0xc4: case 0xd9: *lensize = 1; break;
	case 0xc5: case 0xda: *lensize = 2; break;
	case 0xc6: case 0xdb: *lensize = 4; break;
	case 0xc7: *lensize = 1; *skip = 1; break;	/* ext: + type byte */
	case 0xc8: *lensize = 2; *skip = 1; break;
	case 0xc9: *lensize = 4; *skip = 1; break;
	case 0xcc: case 0xd0: *skip = 1; break;
	case 0xcd: case 0xd1: *skip = 2; break;
	case 0xca: case 0xce: case 0xd2: *skip = 4; break;
	case 0xcb: case 0xcf: case 0xd3: *skip = 8; break;
	case 0xd4: *skip = 2; break;
	case 0xd5: *skip = 3; break;
	case 0xd6: *skip = 5; break;
	case 0xd7: *skip = 9; break;
	case 0xd8: *skip = 17; break;
	case 0xdc: *lensize = 2; *elements = 1; break;
	case 0xdd: *lensize = 4; *elements = 1; break;
	case 0xde: *lensize = 2; *elements = 2; break;
	case 0xdf: *lensize = 4; *elements = 2; break;
	default:
		return (-1);
	}
	return (0);
}

/* Start scanning an object (stream: counts are not held to bytes so far). */
void
proto_scanner_init(struct proto_scanner *sc, int stream)
{
	sc->pending[0] = 1;
	sc->depth = 0;
	sc->off = 0;
	sc->objects = 0;
	sc->stream = stream;
}

/*
 * Walk the object at p (len bytes so far), from where the last call
 * stopped. Returns 1 when it is whole (its length in sc->off), 0 if more
 * bytes are needed (call again with them: nothing is scanned twice), or -1
 * with a static *cause.
 *
 * Every element takes at least one byte, so a container claiming more
 * elements than its frame has bytes is refused at once; in a stream, whose
 * end is not known yet, the caller bounds the object's size instead.
 */
int
proto_scanner_run(struct proto_scanner *sc, const unsigned char *p,
    size_t len, const char **cause)
{
	uint64_t skip, count;
	size_t lensize, off;
	int elements;

	while (sc->depth >= 0) {
		if (sc->pending[sc->depth] == 0) {
			sc->depth--;
			continue;
		}
		/* Parse one element's head; commit only once it is all here. */
		off = sc->off;
		if (off >= len)
			return (0);
		if (proto_head(p[off++], &lensize, &skip, &count,
		    &elements) != 0) {
			*cause = "invalid msgpack type byte";
			return (-1);
		}
		if (lensize != 0) {
			if (len - off < lensize)
				return (0);
			count = proto_be(p + off, lensize);
			off += lensize;
			if (elements == 0) {
				skip += count;
				count = 0;
			}
		}
		if (skip > len - off)
			return (0);
		off += skip;
		if (count != 0) {
			if (!sc->stream &&
			    count > (len - off) / (uint64_t)elements) {
				*cause = "container count exceeds the frame";
				return (-1);
			}
			if (sc->depth == RELOG_NEST_MAX) {
				*cause = "nesting too deep";
				return (-1);
			}
		}
		sc->pending[sc->depth]--;
		sc->objects++;
		sc->off = off;
		if (count != 0)
			sc->pending[++sc->depth] = count * (uint64_t)elements;
	}
	return (1);
}

/*
 * Walk one object starting at *off, leaving *off just past it; *objects
 * gets how many msgpack objects it holds. Returns 0, or -1 with a static
 * *cause.
 */
static int
proto_scan_object(const unsigned char *p, size_t len, size_t *off,
    uint64_t *objects, const char **cause)
{
	struct proto_scanner sc;
	int ret;

	proto_scanner_init(&sc, 0);
	ret = proto_scanner_run(&sc, p + *off, len - *off, cause);
	if (ret == 0)
		*cause = "truncated msgpack object";
	if (ret != 1)
		return (-1);
	*off += sc.off;
	*objects = sc.objects;
	return (0);
}

/*
 * Check that buf holds exactly one well-formed msgpack object whose
 * containers fit in it, and no more objects than PROTO_OBJECTS_MAX(len)
 * (what unpacking it may allocate). Returns 0, or -1 with a static *cause.
 */
int
proto_scan(const char *buf, size_t len, const char **cause)
{
	uint64_t objects;
	size_t off = 0;

	if (proto_scan_object((const unsigned char *)buf, len, &off, &objects,
	    cause) != 0)
		return (-1);
	if (off != len) {
		*cause = "trailing bytes after the envelope";
		return (-1);
	}
	if (objects > PROTO_OBJECTS_MAX(len)) {
		*cause = "more msgpack objects than the frame's size allows";
		return (-1);
	}
	return (0);
}

/* Start reading len bytes at buf. */
void
proto_reader_init(struct proto_reader *r, const char *buf, size_t len)
{
	r->p = (const unsigned char *)buf;
	r->len = len;
	r->off = 0;
}

/* Skip one object. Returns 0 or -1. */
int
proto_read_skip(struct proto_reader *r)
{
	const char *cause;
	uint64_t objects;

	return (proto_scan_object(r->p, r->len, &r->off, &objects, &cause));
}

/* Read a map header. Returns 0, or -1 (nothing consumed) if not a map. */
int
proto_read_map(struct proto_reader *r, uint32_t *n)
{
	unsigned char b;

	if (r->off >= r->len)
		return (-1);
	b = r->p[r->off];
	if (b >= 0x80 && b <= 0x8f) {
		*n = b & 0x0f;
		r->off++;
		return (0);
	}
	if (b == 0xde && r->len - r->off >= 3) {
		*n = (uint32_t)proto_be(r->p + r->off + 1, 2);
		r->off += 3;
		return (0);
	}
	if (b == 0xdf && r->len - r->off >= 5) {
		*n = (uint32_t)proto_be(r->p + r->off + 1, 4);
		r->off += 5;
		return (0);
	}
	return (-1);
}

/* Read a str or bin. Returns 0, or -1 (nothing consumed) for other types. */
int
proto_read_str(struct proto_reader *r, struct proto_str *s)
{
	size_t lensize = 0, start = r->off;
	uint64_t len;
	unsigned char b;

	if (r->off >= r->len)
		return (-1);
	b = r->p[r->off++];
	if (b >= 0xa0 && b <= 0xbf)
		len = b & 0x1f;
	else {
		switch (b) {
		case 0xc4: case 0xd9: lensize = 1; break;
		case 0xc5: case 0xda: lensize = 2; break;
		case 0xc6: case 0xdb: lensize = 4; break;
		default:
			r->off = start;
			return (-1);
		}
		if (r->len - r->off < lensize) {
			r->off = start;
			return (-1);
		}
		len = proto_be(r->p + r->off, lensize);
		r->off += lensize;
	}
	if (len > r->len - r->off) {
		r->off = start;
		return (-1);
	}
	s->ptr = (const char *)r->p + r->off;
	s->len = (size_t)len;
	r->off += (size_t)len;
	return (0);
}

/* Read a boolean. Returns 0, or -1 (nothing consumed) for other types. */
int
proto_read_bool(struct proto_reader *r, int *v)
{
	if (r->off >= r->len ||
	    (r->p[r->off] != 0xc2 && r->p[r->off] != 0xc3))
		return (-1);
	*v = r->p[r->off++] == 0xc3;
	return (0);
}

/* Read an integer that fits in int64. Returns 0, or -1 (nothing consumed). */
int
proto_read_int(struct proto_reader *r, int64_t *v)
{
	static const size_t sizes[] = { 1, 2, 4, 8 };
	const unsigned char *p = r->p + r->off;
	size_t left = r->len - r->off, n;
	uint64_t u;
	unsigned char b;

	if (left == 0)
		return (-1);
	b = p[0];
	if (b <= 0x7f || b >= 0xe0) {
		*v = (int8_t)b;
		r->off++;
		return (0);
	}
	if (b < 0xcc || b > 0xd3)
		return (-1);
	n = sizes[(b - 0xcc) % 4];
	if (left < 1 + n)
		return (-1);
	u = proto_be(p + 1, n);
	if (b <= 0xcf) {		/* unsigned */
		if (u > INT64_MAX)
			return (-1);
		*v = (int64_t)u;
	} else if (n == 1)
		*v = (int8_t)u;
	else if (n == 2)
		*v = (int16_t)u;
	else if (n == 4)
		*v = (int32_t)u;
	else
		*v = (int64_t)u;
	r->off += 1 + n;
	return (0);
}

/* Read an array header. Returns 0, or -1 (nothing consumed) if not one. */
int
proto_read_array(struct proto_reader *r, uint32_t *n)
{
	unsigned char b;

	if (r->off >= r->len)
		return (-1);
	b = r->p[r->off];
	if (b >= 0x90 && b <= 0x9f) {
		*n = b & 0x0f;
		r->off++;
		return (0);
	}
	if (b == 0xdc && r->len - r->off >= 3) {
		*n = (uint32_t)proto_be(r->p + r->off + 1, 2);
		r->off += 3;
		return (0);
	}
	if (b == 0xdd && r->len - r->off >= 5) {
		*n = (uint32_t)proto_be(r->p + r->off + 1, 4);
		r->off += 5;
		return (0);
	}
	return (-1);
}

/*
 * Move a reader that is at a map to the value of key in it. Returns 0, or
 * -1 (nothing consumed) if it is not a map, or has no such key.
 */
int
proto_read_find(struct proto_reader *r, const char *key)
{
	struct proto_reader s = *r;
	struct proto_str k;
	uint32_t n, i;

	if (proto_read_map(&s, &n) != 0)
		return (-1);
	for (i = 0; i < n; i++) {
		if (proto_read_str(&s, &k) == 0) {
			if (proto_str_eq(k, key)) {
				*r = s;
				return (0);
			}
		} else if (proto_read_skip(&s) != 0)
			return (-1);
		if (proto_read_skip(&s) != 0)
			return (-1);
	}
	return (-1);
}

/*
 * A file queue: records waiting for a collector (a remote's), kept in
 * order in numbered segment files in a folder of their own
 * (state_dir/forward/<remote>/), so that they survive a restart, SIGKILL
 * included.
 *
 *   0000000000000001.q   "RELOGQ1\n", then records: u32 length, body
 *   cursor               "<segment> <offset>\n": the first record not acked
 *
 * Records are appended to the last segment; a full one is closed and the
 * next begun. They are read from the cursor on, and the cursor moves once
 * the collector has them. Segments wholly before the cursor are deleted.
 * Past the disk budget the oldest segment is deleted, and its records are
 * counted as dropped. The cursor is written without fsync: after a crash of
 * the machine, records may be sent twice, but a SIGKILL loses nothing (the
 * kernel has the bytes).
 *
 * On a full disk, records that cannot be written are cut off and counted
 * as lost; a position a batch holds past the cut is never reused, and a
 * segment begun without room gets its header with its first records.
 *
 * Lengths are in the machine's byte order: a queue is not moved between
 * machines. A record cut short by a kill (the last of the last segment) is
 * cut off when the queue is opened again. A length no record has is damage
 * (a kill never writes one): the rest of that segment is skipped, said,
 * and left in its file until the segment goes as any does; the last is
 * then appended to no more. A cursor inside a record goes back to that
 * record's start.
 */
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "relogd.h"
#include "remote.h"

#define SPOOL_MAGIC "RELOGQ1\n"
#define SPOOL_HDR ((uint64_t)sizeof SPOOL_MAGIC - 1)
#define SPOOL_READ_CHUNK (64u * 1024)
#define SPOOL_ASK_MS 1000	/* the disk is asked for room so often */
#define SPOOL_SLACK (16u * 1024 * 1024)	/* free room not counted on */
#define SPOOL_SPARE (64u * 1024)	/* nearly full: to spare for a new file */
#define SPOOL_INODES_SLACK 64		/* free inodes not counted on */

/* Are a and b the same place in the queue? */
static int
spool_pos_eq(struct spool_pos a, struct spool_pos b)
{
	return (a.seg == b.seg && a.off == b.off);
}

/* Is a before b in the queue? */
static int
spool_pos_before(struct spool_pos a, struct spool_pos b)
{
	return (a.seg < b.seg || (a.seg == b.seg && a.off < b.off));
}

/* Take n off a count, down to 0 at most (counts lag the files). */
static void
spool_less(uint64_t *count, uint64_t n)
{
	*count -= n < *count ? n : *count;
}

/* The name of a segment file in the queue's folder. */
static void
spool_path(const struct spool *sp, uint64_t seg, char *buf, size_t size)
{
	(void)sp;
	snprintf(buf, size, "%016" PRIx64 ".q", seg);
}

/* Is name a segment file's (spool_path)? Its number in *seg. */
static int
spool_segment_name(const char *name, uint64_t *seg)
{
	return (strlen(name) == 18 && strcmp(name + 16, ".q") == 0 &&
	    strspn(name, "0123456789abcdef") == 16 &&
	    sscanf(name, "%16" SCNx64, seg) == 1);
}

/* Open a file of the queue's folder (proto_openat: a regular file). */
static int
spool_openat(const struct spool *sp, const char *name, int flags)
{
	return (proto_openat(sp->dirfd, name, flags, 0600, NULL));
}

/* Write the cursor; a failure is said once. */
static void
spool_write_cursor(struct spool *sp)
{
	char line[64];
	int n;

	n = snprintf(line, sizeof line, "%016" PRIx64 " %016" PRIx64 "\n",
	    sp->ack.seg, sp->ack.off);
	if (pwrite(sp->cursor_fd, line, (size_t)n, 0) != n && !sp->broken) {
		log_error("%s: cannot write the queue's cursor: %s", sp->dir,
		    strerror(errno));
		sp->broken = 1;
	}
}

/*
 * The length of the record at p (with left bytes there), its 4-byte length
 * included: 0 if it is not all there, -1 if the length is not a record's.
 */
static int64_t
spool_record_len(const struct spool *sp, const char *p, size_t left)
{
	uint32_t len;

	if (left < 4)
		return (0);
	memcpy(&len, p, 4);
	if (len < sp->rec_min || len > sp->rec_max)
		return (-1);
	if (left - 4 < len)
		return (0);
	return ((int64_t)len + 4);
}

/* What follows the records spool_scan found. */
enum spool_scan_end {
	SPOOL_SCAN_CLEAN,	/* the file's end, or the limit */
	SPOOL_SCAN_TORN,	/* a record cut short by the file's end */
	SPOOL_SCAN_GARBAGE,	/* a length no record has */
};

/*
 * Count the records of a segment file from off on, up to the limit (a
 * record that would end past it is not taken). Returns the offset after
 * the last whole record; *end says what follows it.
 */
static uint64_t
spool_scan(const struct spool *sp, int fd, uint64_t off, uint64_t limit,
    uint64_t *count, enum spool_scan_end *end)
{
	struct proto_buf b = { 0 };
	uint64_t base = off;
	size_t at = 0;
	ssize_t n;
	int64_t len;

	*count = 0;
	*end = SPOOL_SCAN_CLEAN;
	proto_buf_grow(&b, SPOOL_READ_CHUNK);
	for (;;) {
		len = spool_record_len(sp, b.data + at, b.len - at);
		if (len > 0 && base + at + (uint64_t)len > limit)
			break;
		if (len > 0) {
			at += (size_t)len;
			(*count)++;
			continue;
		}
		if (len < 0) {
			*end = SPOOL_SCAN_GARBAGE;
			break;
		}
		/* Keep what is not used yet, and read more. */
		memmove(b.data, b.data + at, b.len - at);
		b.len -= at;
		base += at;
		at = 0;
		proto_buf_grow(&b, SPOOL_READ_CHUNK);
		n = pread(fd, b.data + b.len, b.cap - b.len,
		    (off_t)(base + b.len));
		if (n <= 0) {
			if (b.len != 0)
				*end = SPOOL_SCAN_TORN;
			break;
		}
		b.len += (size_t)n;
	}
	proto_buf_free(&b);
	return (base + at);
}

/*
 * Write the tail segment's header, if it has none yet (begun on a full
 * disk), into its file made empty first: a header written in part before
 * is not followed by another. Returns 0, or -1 with errno set.
 */
static int
spool_write_header(struct spool *sp)
{
	char path[PATH_MAX];
	struct stat st;
	ssize_t n;

	if (!sp->header_due)
		return (0);
	if (sp->wfd < 0) {
		spool_path(sp, sp->tail, path, sizeof path);
		sp->wfd = spool_openat(sp, path, O_WRONLY | O_CREAT | O_APPEND);
		if (sp->wfd < 0)
			return (-1);
	}
	if (fstat(sp->wfd, &st) != 0 || ftruncate(sp->wfd, 0) != 0)
		return (-1);
	spool_less(&sp->bytes, (uint64_t)st.st_size);
	n = write(sp->wfd, SPOOL_MAGIC, SPOOL_HDR);
	if (n != (ssize_t)SPOOL_HDR) {
		if (n > 0)
			sp->bytes += (uint64_t)n;
		if (n >= 0)
			errno = ENOSPC;
		return (-1);
	}
	sp->header_due = 0;
	sp->bytes += SPOOL_HDR;
	return (0);
}

/*
 * Begin a segment file after the last one. On a full disk its header waits
 * for its first records (spool_flush).
 */
static void
spool_new_segment(struct spool *sp)
{
	char path[PATH_MAX];

	if (sp->wfd >= 0)
		close(sp->wfd);
	sp->wfd = -1;
	sp->tail++;
	sp->tail_size = SPOOL_HDR;
	sp->header_due = 1;
	if (spool_write_header(sp) != 0) {
		if (!sp->broken) {
			spool_path(sp, sp->tail, path, sizeof path);
			log_error("%s/%s: cannot write the queue: %s", sp->dir,
			    path, strerror(errno));
		}
		sp->broken = 1;
	}
}

/* qsort's order of segment numbers. */
static int
spool_cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x < y ? -1 : x > y);
}

/*
 * The numbers of the segment files in dir, sorted (free them). Numbers
 * with gaps, or too large to count on from (files put there by hand), are
 * made 0.. or first.. in a row again, and the cursor's segment with them.
 * Returns -1 if the folder cannot be read.
 */
static int
spool_segments(struct spool *sp, uint64_t **segsp, size_t *np)
{
	char from[PATH_MAX], to[PATH_MAX];
	uint64_t *segs = NULL, seg, base, ack = UINT64_MAX;
	size_t n = 0, i;
	struct dirent *de;
	DIR *d;
	int fd;

	if ((fd = dup(sp->dirfd)) < 0 || (d = fdopendir(fd)) == NULL) {
		if (fd >= 0)
			close(fd);
		return (-1);
	}
	rewinddir(d);
	while ((de = readdir(d)) != NULL) {
		if (!spool_segment_name(de->d_name, &seg))
			continue;
		if ((segs = reallocarray(segs, n + 1, sizeof *segs)) == NULL)
			fatal("reallocarray");
		segs[n++] = seg;
	}
	closedir(d);
	if (n != 0)
		qsort(segs, n, sizeof *segs, spool_cmp_u64);
	if (n != 0 && (segs[n - 1] - segs[0] + 1 != n ||
	    segs[n - 1] > SPOOL_SEGMENT_LAST)) {
		/* new[i] <= old[i]: renaming in order overwrites nothing. */
		base = segs[0] == 0 || segs[n - 1] <= SPOOL_SEGMENT_LAST ?
		    segs[0] : 1;
		log_warn("%s: segment files renumbered from %" PRIu64, sp->dir,
		    base);
		for (i = 0; i < n; i++) {
			if (ack == UINT64_MAX && segs[i] >= sp->ack.seg) {
				ack = base + i;
				if (segs[i] != sp->ack.seg)
					sp->ack.off = SPOOL_HDR;
			}
			spool_path(sp, segs[i], from, sizeof from);
			segs[i] = base + i;
			spool_path(sp, segs[i], to, sizeof to);
			if (strcmp(from, to) != 0 && renameat(sp->dirfd, from,
			    sp->dirfd, to) != 0)
				log_error("%s/%s: cannot rename to %s: %s",
				    sp->dir, from, to, strerror(errno));
		}
		sp->ack.seg = ack != UINT64_MAX ? ack : segs[n - 1] + 1;
	}
	*segsp = segs;
	*np = n;
	return (0);
}

/*
 * The cursor (in the segment file fd, path) must be at a record's start:
 * one that is not (damaged, or written so by hand) is moved back to the
 * start of the record it is in, so that no record after it is skipped
 * (that one may be sent twice). Records before it that cannot be read
 * leave it where it is.
 */
static void
spool_cursor_check(struct spool *sp, int fd, const char *path)
{
	enum spool_scan_end how;
	uint64_t count, at;

	if (sp->ack.off == SPOOL_HDR)
		return;
	at = spool_scan(sp, fd, SPOOL_HDR, sp->ack.off, &count, &how);
	if (at == sp->ack.off || how == SPOOL_SCAN_GARBAGE)
		return;
	log_warn("%s/%s: the cursor at byte %" PRIu64 " is not at a record's "
	    "start: read from byte %" PRIu64 ", that record perhaps sent "
	    "twice", sp->dir, path, sp->ack.off, at);
	sp->ack.off = at;
}

/*
 * Count the records of one segment file from where the cursor is (or its
 * start), and cut off a record written in part at the end of the last.
 * Returns 1 if the last has garbage (damage, not a kill's), so that
 * records are appended to a new segment instead, else 0.
 */
static int
spool_load_segment(struct spool *sp, uint64_t seg, uint64_t last)
{
	char path[PATH_MAX];
	uint64_t count, end, size;
	enum spool_scan_end how;
	struct stat st;
	int fd, headless, garbage = 0;

	spool_path(sp, seg, path, sizeof path);
	if ((fd = proto_openat(sp->dirfd, path, O_RDWR, 0600, &st)) < 0)
		return (0);
	sp->bytes += (uint64_t)st.st_size;
	/* Begun on a full disk, without its header: empty, not short. */
	headless = (uint64_t)st.st_size < SPOOL_HDR;
	size = headless ? SPOOL_HDR : (uint64_t)st.st_size;
	/* A cursor past the end (data lost to a power cut, or written so). */
	if (seg == sp->ack.seg && (sp->ack.off < SPOOL_HDR ||
	    sp->ack.off > size)) {
		log_warn("%s/%s: the cursor is at byte %" PRIu64 " of %" PRIu64
		    ": read from %s", sp->dir, path, sp->ack.off,
		    size, sp->ack.off < SPOOL_HDR ? "its start" :
		    "its end");
		sp->ack.off = sp->ack.off < SPOOL_HDR ? SPOOL_HDR : size;
	}
	if (seg == sp->ack.seg && !headless)
		spool_cursor_check(sp, fd, path);
	end = spool_scan(sp, fd, seg == sp->ack.seg ? sp->ack.off : SPOOL_HDR,
	    UINT64_MAX, &count, &how);
	if (seg >= sp->ack.seg)
		sp->records += count;
	if (seg == last && headless) {
		/* Begun on a full disk: its header comes with its records. */
		sp->header_due = 1;
		sp->tail_size = SPOOL_HDR;
	} else if (seg == last && how != SPOOL_SCAN_GARBAGE) {
		/* A record cut short by a kill: cut it off. */
		if (how == SPOOL_SCAN_TORN && ftruncate(fd, (off_t)end) == 0) {
			log_warn("%s/%s: cut off %" PRIu64 " bytes of a record "
			    "written in part", sp->dir, path,
			    (uint64_t)st.st_size - end);
			sp->bytes -= (uint64_t)st.st_size - end;
		}
		sp->tail_size = end;
	} else if (how == SPOOL_SCAN_GARBAGE) {
		/* Left in its file (no longer appended to, if the last). */
		log_warn("%s/%s: garbage after %" PRIu64 " bytes; the rest of "
		    "it (%" PRIu64 " bytes) is skipped", sp->dir, path, end,
		    (uint64_t)st.st_size - end);
		if (seg == last) {
			sp->tail_size = (uint64_t)st.st_size;
			garbage = 1;
		}
	}
	close(fd);
	return (garbage);
}

/*
 * Take the queue's segment files as they are: delete those acked before a
 * kill, count the records of the others, and append to the last.
 */
static void
spool_load(struct spool *sp, const uint64_t *segs, size_t nsegs)
{
	char path[PATH_MAX];
	uint64_t first = segs[0], last = segs[nsegs - 1];
	int garbage = 0;
	size_t i;

	sp->head = first;
	sp->tail = last;
	/* As a cursor past a segment's end: its records were acked. */
	if (sp->ack.seg > last)
		log_warn("%s: the cursor is in segment %" PRIu64 ", past the "
		    "last (%" PRIu64 "): the records there are taken as sent",
		    sp->dir, sp->ack.seg, last);
	if (spool_pos_before(sp->ack, (struct spool_pos){ first, SPOOL_HDR })) {
		sp->ack.seg = first;
		sp->ack.off = SPOOL_HDR;
	}
	for (i = 0; i < nsegs; i++) {
		if (segs[i] < sp->ack.seg && segs[i] < last) {
			/* Acked, but a kill came before the unlink. */
			spool_path(sp, segs[i], path, sizeof path);
			unlinkat(sp->dirfd, path, 0);
			sp->head = segs[i] + 1;
			continue;
		}
		garbage = spool_load_segment(sp, segs[i], last);
	}
	if (spool_pos_before(spool_end(sp), sp->ack))
		sp->ack = spool_end(sp);
	if (garbage) {
		/* Records after the garbage would never be read. */
		spool_new_segment(sp);
		/* None waits (the cursor was at the garbage): start there. */
		if (sp->records == 0)
			sp->ack = (struct spool_pos){ sp->tail, SPOOL_HDR };
		return;
	}
	spool_path(sp, last, path, sizeof path);
	sp->wfd = spool_openat(sp, path, O_WRONLY | O_APPEND);
}

/* Open the cursor file and read where the first record not acked is. */
static int
spool_read_cursor(struct spool *sp)
{
	char path[PATH_MAX], line[64];
	ssize_t n;

	snprintf(path, sizeof path, "cursor");
	sp->cursor_fd = spool_openat(sp, path, O_RDWR | O_CREAT);
	if (sp->cursor_fd < 0)
		return (-1);
	n = pread(sp->cursor_fd, line, sizeof line - 1, 0);
	line[n > 0 ? n : 0] = '\0';
	if (sscanf(line, "%" SCNx64 " %" SCNx64, &sp->ack.seg,
	    &sp->ack.off) != 2 || sp->ack.seg > SPOOL_SEGMENT_LAST)
		sp->ack.seg = sp->ack.off = 0;
	return (0);
}

/*
 * Open (or create) the queue in the folder name of atfd's (or AT_FDCWD and
 * a path), shown as dir; all its segments hold about max_bytes; a record's
 * length field (the bytes after it) is rec_min to rec_max, and anything
 * else is damage. The folder must be relogd's alone. Returns 0, or -1 (said
 * in relogd's log).
 */
int
spool_open(struct spool *sp, int atfd, const char *name, const char *dir,
    uint64_t max_bytes, uint32_t rec_min, uint32_t rec_max)
{
	uint64_t *segs;
	size_t nsegs;
	struct rlimit rl;
	int error;

	memset(sp, 0, sizeof *sp);
	sp->wfd = sp->rfd = sp->cursor_fd = sp->dirfd = -1;
	sp->max_bytes = max_bytes;
	sp->rec_min = rec_min;
	sp->rec_max = rec_max;
	sp->seg_max = max_bytes / 8 < SPOOL_SEGMENT_MAX ? max_bytes / 8 :
	    SPOOL_SEGMENT_MAX;
	/* Under a file size limit (LimitFSIZE=), segments end before it. */
	if (getrlimit(RLIMIT_FSIZE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur < sp->seg_max)
		sp->seg_max = rl.rlim_cur;
	if ((sp->dir = strdup(dir)) == NULL)
		fatal("strdup");
	if ((sp->dirfd = relogd_opendirat(atfd, name, 1)) < 0 ||
	    spool_read_cursor(sp) != 0 ||
	    spool_segments(sp, &segs, &nsegs) != 0)
		goto fail;
	if (nsegs == 0) {
		/* Empty: begin after where the cursor was. */
		sp->head = sp->tail = sp->ack.seg;
		spool_new_segment(sp);
		sp->head = sp->tail;
		sp->ack.seg = sp->tail;
		sp->ack.off = SPOOL_HDR;
	} else
		spool_load(sp, segs, nsegs);
	free(segs);
	if (sp->wfd < 0)
		goto fail;
	sp->read = sp->ack;
	spool_write_cursor(sp);
	return (0);
fail:
	error = errno;
	log_error("forward queue %s: %s", dir, relogd_dir_error_text(error));
	spool_close(sp);
	errno = error;
	return (-1);
}

/*
 * How many bytes of the len at p are whole records (their count in *n):
 * the appended records, each its u32 length and its body.
 */
static size_t
spool_whole(const char *p, size_t len, uint64_t *n)
{
	size_t at = 0;
	uint32_t body;

	*n = 0;
	while (len - at >= 4) {
		memcpy(&body, p + at, 4);
		if (len - at - 4 < body)
			break;
		at += 4 + (size_t)body;
		(*n)++;
	}
	return (at);
}

/*
 * Write what was appended. If it cannot all be written (a full disk), the
 * file is cut back to the last whole record written, and the records after
 * it are counted in lost. A position a batch holds past the cut
 * (spool_mark) then stands for them alone: the next record appended
 * begins a segment (spool_append).
 */
void
spool_flush(struct spool *sp)
{
	struct spool_pos cut = { sp->tail, sp->tail_size - sp->wbuf.len };
	uint64_t kept;
	ssize_t n;
	size_t off = 0, keep;
	int error = 0;

	if (sp->wbuf.len == 0)
		return;
	if (spool_write_header(sp) != 0)
		error = errno;
	while (error == 0 && off < sp->wbuf.len) {
		n = write(sp->wfd, sp->wbuf.data + off, sp->wbuf.len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			error = n < 0 ? errno : ENOSPC;
		else
			off += (size_t)n;
	}
	if (error != 0) {
		/* The whole records the disk took stay; the rest is lost. */
		keep = spool_whole(sp->wbuf.data, off, &kept);
		if (!sp->broken)
			log_error("%s: cannot write the queue: %s; %" PRIu64
			    " records lost", sp->dir, strerror(error),
			    sp->wbuf_records - kept);
		sp->broken = 1;
		sp->refused = 1;
		sp->asked_at = relogd_now_ms(CLOCK_MONOTONIC);
		cut.off += keep;
		if (!sp->header_due && ftruncate(sp->wfd, (off_t)cut.off) != 0)
			log_error("%s: cannot cut the queue back: %s", sp->dir,
			    strerror(errno));
		sp->tail_size = cut.off;
		spool_less(&sp->bytes, sp->wbuf.len - keep);
		spool_less(&sp->records, sp->wbuf_records - kept);
		sp->lost += sp->wbuf_records - kept;
		if (spool_pos_before(spool_end(sp), sp->read))
			sp->read = spool_end(sp);
	} else
		sp->broken = sp->refused = 0;
	sp->wbuf.len = 0;
	sp->wbuf_records = 0;
}

/* Where the next record appended will go. */
struct spool_pos
spool_end(const struct spool *sp)
{
	return ((struct spool_pos){ sp->tail, sp->tail_size });
}

/*
 * Where the records appended so far end, for a batch that holds them (it
 * is acked there): that position is never given to later records.
 */
struct spool_pos
spool_mark(struct spool *sp)
{
	sp->marked = spool_end(sp);
	return (sp->marked);
}

/* Forget the reader's file and buffer. */
static void
spool_read_reset(struct spool *sp)
{
	if (sp->rfd >= 0)
		close(sp->rfd);
	sp->rfd = -1;
	sp->rbuf.len = 0;
	sp->rbase = 0;
}

/* Delete the oldest segment file, and take its bytes off the count. */
static void
spool_unlink_head(struct spool *sp)
{
	char path[PATH_MAX];
	struct stat st;

	spool_path(sp, sp->head, path, sizeof path);
	if (fstatat(sp->dirfd, path, &st, AT_SYMLINK_NOFOLLOW) == 0)
		spool_less(&sp->bytes, (uint64_t)st.st_size);
	if (sp->rfd >= 0 && sp->rseg == sp->head)
		spool_read_reset(sp);
	unlinkat(sp->dirfd, path, 0);
	sp->head++;
}

/* Drop the oldest segment; returns how many unacked records it held. */
static uint64_t
spool_drop_head(struct spool *sp)
{
	char path[PATH_MAX];
	enum spool_scan_end how;
	uint64_t count = 0;
	int fd;

	spool_path(sp, sp->head, path, sizeof path);
	if (sp->ack.seg == sp->head &&
	    (fd = spool_openat(sp, path, O_RDONLY)) >= 0) {
		spool_scan(sp, fd, sp->ack.off, UINT64_MAX, &count, &how);
		close(fd);
	}
	spool_unlink_head(sp);
	if (sp->ack.seg < sp->head) {
		sp->ack.seg = sp->head;
		sp->ack.off = SPOOL_HDR;
		spool_write_cursor(sp);
	}
	if (spool_pos_before(sp->read, sp->ack))
		sp->read = sp->ack;
	spool_less(&sp->records, count);
	return (count);
}

/*
 * Append a record (its u32 length first). Returns how many of the oldest
 * records were dropped to keep to the disk budget.
 */
uint64_t
spool_append(struct spool *sp, const char *rec, size_t len)
{
	uint64_t dropped = 0;

	if (sp->tail_size + len > sp->seg_max && sp->tail_size > SPOOL_HDR) {
		spool_flush(sp);
		/* Unless a failed write left it empty. */
		if (sp->tail_size > SPOOL_HDR)
			spool_new_segment(sp);
	}
	/*
	 * A batch in flight is acked at its mark: if a failed write cut the
	 * file back before it, its records were lost, and later ones must not
	 * take that position.
	 */
	if (spool_pos_before(spool_end(sp), sp->marked))
		spool_new_segment(sp);
	proto_buf_add(&sp->wbuf, rec, len);
	sp->wbuf_records++;
	sp->tail_size += len;
	sp->bytes += len;
	sp->records++;
	while (sp->bytes > sp->max_bytes && sp->head < sp->tail)
		dropped += spool_drop_head(sp);
	return (dropped);
}

/* Are there records not acked yet? */
int
spool_pending(const struct spool *sp)
{
	return (spool_pos_before(sp->ack, spool_end(sp)));
}

/* Are there records not read yet? */
int
spool_unread(const struct spool *sp)
{
	return (spool_pos_before(sp->read, spool_end(sp)));
}

/*
 * The reader goes on from where it is to to, past a segment's end or what
 * cannot be read of it. Noted, so that an ack where it was is an ack at
 * to (a batch may end there, and none after it hold what is skipped); and
 * if nothing before it waits for an ack, acked now.
 */
static void
spool_skip(struct spool *sp, struct spool_pos to)
{
	struct spool_pos from = sp->read;

	/* Skips in a row make one. */
	if (!spool_pos_eq(from, sp->skip_to))
		sp->skip_from = from;
	sp->skip_to = to;
	sp->read = to;
	if (spool_pos_eq(sp->ack, from))
		spool_ack(sp, to, 0);
}

/*
 * The next record to read, not consumed (spool_consume does), or NULL when
 * all are read. It lives until the next call.
 */
const char *
spool_peek(struct spool *sp, size_t *lenp)
{
	char path[PATH_MAX];
	size_t at;
	int64_t len;
	ssize_t n;

	if (sp->rbuf.data == NULL)
		proto_buf_grow(&sp->rbuf, SPOOL_READ_CHUNK);
	while (spool_unread(sp)) {
		if (sp->read.seg == sp->tail)
			spool_flush(sp);
		if (sp->rfd < 0 || sp->rseg != sp->read.seg) {
			spool_read_reset(sp);
			spool_path(sp, sp->read.seg, path, sizeof path);
			sp->rfd = spool_openat(sp, path, O_RDONLY);
			sp->rseg = sp->read.seg;
			sp->rbase = sp->read.off;
			if (sp->rfd < 0)
				goto next_segment;
		}
		if (sp->read.off < sp->rbase ||
		    sp->read.off > sp->rbase + sp->rbuf.len) {
			sp->rbuf.len = 0;
			sp->rbase = sp->read.off;
		}
		at = (size_t)(sp->read.off - sp->rbase);
		len = spool_record_len(sp, sp->rbuf.data + at,
		    sp->rbuf.len - at);
		if (len > 0) {
			*lenp = (size_t)len;
			return (sp->rbuf.data + at);
		}
		if (len == 0) {
			memmove(sp->rbuf.data, sp->rbuf.data + at,
			    sp->rbuf.len - at);
			sp->rbuf.len -= at;
			sp->rbase += at;
			proto_buf_grow(&sp->rbuf, SPOOL_READ_CHUNK);
			n = pread(sp->rfd, sp->rbuf.data + sp->rbuf.len,
			    sp->rbuf.cap - sp->rbuf.len,
			    (off_t)(sp->rbase + sp->rbuf.len));
			if (n > 0) {
				sp->rbuf.len += (size_t)n;
				continue;
			}
		}
		/* Past the end of a segment: fine, unless bytes are left. */
		if (len < 0 || sp->rbuf.len != 0 || sp->read.seg == sp->tail)
			log_warn("%s: a record cannot be read; the rest of "
			    "segment %" PRIu64 " is skipped", sp->dir,
			    sp->read.seg);
next_segment:
		/* The end of a segment (or what cannot be read of it). */
		if (sp->read.seg == sp->tail) {
			spool_skip(sp, spool_end(sp));
			break;
		}
		spool_skip(sp, (struct spool_pos){ sp->read.seg + 1,
		    SPOOL_HDR });
	}
	return (NULL);
}

/* Move past the record spool_peek returned. */
void
spool_consume(struct spool *sp, size_t len)
{
	sp->read.off += len;
}

/* Move past the record spool_peek returned, giving it up (damaged). */
void
spool_drop_read(struct spool *sp, size_t len)
{
	spool_consume(sp, len);
	if (sp->records != 0)
		sp->records--;
}

/*
 * Has the disk no room (it refused the last write, or spool_room found
 * none)? Till a write is taken again.
 */
int
spool_refused(const struct spool *sp)
{
	return (sp->refused);
}

/*
 * Can bytes more be written, the disk nearly full? What fits in the
 * segment appended to is reserved past its end (fallocate, its size kept:
 * a write there cannot fail for room); what begins the next segment needs
 * a file (an inode) and free blocks, with SPOOL_SPARE to spare, as does
 * all of it on a file system without fallocate.
 */
static int
spool_reserve(struct spool *sp, uint64_t bytes)
{
	uint64_t fit = 0, ahead = 0;
	struct statvfs vfs;
	struct stat st;

	/* No segment open (it could not be made): no room known. */
	if (sp->wfd < 0 || fstat(sp->wfd, &st) != 0)
		return (0);
	if (sp->tail_size < sp->seg_max)
		fit = sp->seg_max - sp->tail_size < bytes ?
		    sp->seg_max - sp->tail_size : bytes;
	/* What the file does not have yet: appended, a header due. */
	if ((uint64_t)st.st_size < sp->tail_size)
		ahead = sp->tail_size - (uint64_t)st.st_size;
	if (fit + ahead != 0 && fallocate(sp->wfd, FALLOC_FL_KEEP_SIZE,
	    st.st_size, (off_t)(fit + ahead)) != 0) {
		if (errno != EOPNOTSUPP)
			return (0);
		fit = 0;
	}
	if (fit == bytes)
		return (1);
	return (fstatvfs(sp->wfd, &vfs) == 0 &&
	    (uint64_t)vfs.f_bavail * vfs.f_frsize >= bytes - fit +
	    SPOOL_HDR + SPOOL_SPARE && (vfs.f_files == 0 || vfs.f_favail > 0));
}

/*
 * Has the disk room for bytes more? Asked once a SPOOL_ASK_MS: its free
 * room less SPOOL_SLACK (others write there too) is counted on till then;
 * with less free (or few inodes), each write's room is reserved first
 * (spool_reserve). Once the disk had none, or refused a write, it is asked
 * again after SPOOL_ASK_MS (no till then), by reserving, or when a write
 * is taken.
 */
int
spool_room(struct spool *sp, uint64_t bytes)
{
	int64_t now = relogd_now_ms(CLOCK_MONOTONIC);
	struct statvfs vfs;
	uint64_t avail;

	bytes += SPOOL_HDR;
	if (now - sp->asked_at < SPOOL_ASK_MS) {
		if (sp->refused)
			return (0);
		if (bytes <= sp->room) {
			sp->room -= bytes;
			return (1);
		}
	}
	sp->asked_at = now;
	sp->room = 0;
	if (!sp->refused && fstatvfs(sp->dirfd, &vfs) == 0 &&
	    (vfs.f_files == 0 || vfs.f_favail > SPOOL_INODES_SLACK)) {
		avail = (uint64_t)vfs.f_bavail * vfs.f_frsize;
		if (avail >= bytes + SPOOL_SLACK) {
			sp->room = avail - SPOOL_SLACK - bytes;
			return (1);
		}
	}
	if (spool_reserve(sp, bytes))
		return (1);
	sp->refused = 1;
	return (0);
}

/* The records that could not be written since the last call. */
uint64_t
spool_take_lost(struct spool *sp)
{
	uint64_t n = sp->lost;

	sp->lost = 0;
	return (n);
}

/* Where the reader is: after the records read so far. */
struct spool_pos
spool_tell(const struct spool *sp)
{
	return (sp->read);
}

/* Read again from the first record not acked. */
void
spool_rewind(struct spool *sp)
{
	sp->read = sp->ack;
	/* No batch holds a position any more. */
	sp->marked = (struct spool_pos){ 0, 0 };
}

/* The reader is past every record (they were sent from memory). */
void
spool_skip_all(struct spool *sp)
{
	sp->read = spool_end(sp);
}

/*
 * Does the queue's folder (dirfd) hold a segment file with records in it?
 * For a folder no sink opens (a left one): read, not opened.
 */
int
spool_dir_holds(int dirfd)
{
	struct dirent *de;
	struct stat st;
	uint64_t seg;
	DIR *d;
	int fd, found = 0;

	if ((fd = dup(dirfd)) < 0 || (d = fdopendir(fd)) == NULL) {
		if (fd >= 0)
			close(fd);
		return (1);
	}
	while (!found && (de = readdir(d)) != NULL)
		found = spool_segment_name(de->d_name, &seg) &&
		    fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    (uint64_t)st.st_size > SPOOL_HDR;
	closedir(d);
	return (found);
}

/* The collector has every record before pos, n of them since the last. */
void
spool_ack(struct spool *sp, struct spool_pos pos, uint64_t n)
{
	/* Where the reader skipped from: nothing is held up to where to. */
	if (spool_pos_eq(pos, sp->skip_from))
		pos = sp->skip_to;
	/* Past the end: records that could not be written. */
	if (spool_pos_before(spool_end(sp), pos))
		pos = spool_end(sp);
	if (!spool_pos_before(sp->ack, pos))
		return;
	sp->ack = pos;
	spool_less(&sp->records, n);
	if (!spool_pending(sp))
		sp->records = 0;
	while (sp->head < sp->ack.seg)
		spool_unlink_head(sp);
	spool_write_cursor(sp);
}

/* Write what is buffered and close the files. */
void
spool_close(struct spool *sp)
{
	spool_flush(sp);
	if (sp->cursor_fd >= 0) {
		spool_write_cursor(sp);
		close(sp->cursor_fd);
	}
	spool_read_reset(sp);
	if (sp->wfd >= 0)
		close(sp->wfd);
	proto_buf_free(&sp->wbuf);
	proto_buf_free(&sp->rbuf);
	if (sp->dirfd >= 0)
		close(sp->dirfd);
	free(sp->dir);
	memset(sp, 0, sizeof *sp);
	sp->wfd = sp->rfd = sp->cursor_fd = sp->dirfd = -1;
}

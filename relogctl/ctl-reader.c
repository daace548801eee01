/*
 * show's records: each plugin's log read as records, its files one after
 * the other (plain or gzip, through zlib), and the logs merged by the
 * records' times.
 *
 * Memory stays bounded whatever the history: a reader holds one record
 * and the first line of the next, and the merge one reader per log in a
 * heap. Records of equal times come in the logs' order (by plugin), then
 * in their file's: the merge is stable. A line that is no record's (not
 * proto_format_line's) is skipped and counted; so is a record longer than
 * relogd writes (the filter's record_max), whose bytes past that are read
 * and not kept, so that no file (a line with no end, a gzip bomb) can make
 * a reader hold more.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>

#include "relogctl.h"

#define CTL_READER_CHUNK 16384
#define CTL_READER_SKIP (-2)	/* a file of an owner not trusted */

/* One log being read. */
struct ctl_reader {
	const struct ctl_log *log;
	int *fds;		/* log->paths opened at the start (-1: not,
				   opened by name when reached; or
				   CTL_READER_SKIP) */
	size_t file;		/* the next of log->paths to open */
	gzFile gz;		/* the one being read, or NULL */
	char *buf;		/* read from it: buf[off .. len) not taken */
	size_t off;
	size_t len;
	struct proto_buf next;	/* the next record's first line */
	int have_next;
	struct proto_buf text;	/* the current record's lines */
	struct ctl_record rec;	/* borrows from text */
	size_t max;		/* the longest record kept */
	uint64_t skipped;	/* lines that are not records */
	uint64_t too_long;	/* records longer than max */
};

/* The logs' readers, and a heap of those with a record, oldest first. */
struct ctl_merge {
	struct ctl_reader *readers;
	size_t n;
	struct ctl_reader **heap;
	size_t nheap;
	struct ctl_reader *last;	/* its record was returned last */
	const struct ctl_filter *filter;
};

/*
 * Open a log's file as relogd writes them: a regular file, never through
 * a symbolic link nor waiting on a FIFO (proto_openat), of an owner trusted
 * (ctl_files_trusted). Returns the fd; CTL_READER_SKIP for a file of
 * another owner (replaced since it was listed, say), which is said; or -1
 * with errno.
 */
static int
ctl_reader_openat(const struct ctl_reader *r, const char *path)
{
	struct stat st;
	int fd;

	if ((fd = proto_openat(AT_FDCWD, path, O_RDONLY, 0, &st)) < 0 ||
	    ctl_files_trusted(st.st_uid, r->log->owner))
		return (fd);
	close(fd);
	ctl_files_foreign(path, st.st_uid, r->log->owner);
	return (CTL_READER_SKIP);
}

/*
 * Open every file of the logs at once, as they were listed: relogd may
 * rotate them while the first are read, and a file opened by its name
 * then would be another (one generation skipped, or one read twice).
 * What cannot be opened now (out of descriptors, say) is opened by its
 * name when it is reached.
 */
static void
ctl_reader_open_all(struct ctl_reader *readers, size_t n)
{
	struct ctl_reader *r;
	size_t i, j;
	int full = 0;

	for (i = 0; i < n; i++) {
		r = &readers[i];
		r->fds = calloc(r->log->npaths != 0 ? r->log->npaths : 1,
		    sizeof *r->fds);
		if (r->fds == NULL)
			ctl_fail(CTL_FAILED, "out of memory");
		for (j = 0; j < r->log->npaths; j++) {
			r->fds[j] = full ? -1 : ctl_reader_openat(r,
			    r->log->paths[j]);
			if (r->fds[j] == -1 && (errno == EMFILE ||
			    errno == ENFILE))
				full = 1;
		}
	}
}

/*
 * Open the log's next file (ctl_reader_openat). Returns 1, or 0 if none
 * is left. A file rotated away (or replaced by what is no log file, or by
 * another user's) meanwhile is skipped; one that cannot be read ends
 * relogctl.
 */
static int
ctl_reader_open(struct ctl_reader *r)
{
	const char *path;
	int fd;

	while (r->file < r->log->npaths) {
		path = r->log->paths[r->file];
		if ((fd = r->fds[r->file]) == -1)
			fd = ctl_reader_openat(r, path);
		r->fds[r->file++] = -1;
		if (fd == CTL_READER_SKIP)
			continue;
		if (fd >= 0 && (r->gz = gzdopen(fd, "rb")) != NULL) {
			r->off = r->len = 0;
			return (1);
		}
		if (fd >= 0)
			close(fd);
		if (errno == ENOENT || errno == ELOOP || errno == EINVAL)
			continue;
		if (errno == EMFILE || errno == ENFILE)
			ctl_fail(CTL_FAILED, "%s: too many files open: ask "
			    "for fewer plugins (-p)", path);
		ctl_fail(errno == EACCES ? CTL_DENIED : CTL_FAILED,
		    "cannot read %s: %s", path, strerror(errno));
	}
	return (0);
}

/* Close the file being read: it ended. */
static void
ctl_reader_close(struct ctl_reader *r)
{
	int error = 0;
	const char *msg;

	msg = gzerror(r->gz, &error);
	if (error != Z_OK && error != Z_BUF_ERROR)
		ctl_fail(CTL_FAILED, "%s: %s", r->log->paths[r->file - 1],
		    msg);
	gzclose(r->gz);
	r->gz = NULL;
}

/*
 * Keep up to n bytes of a line, and no more than r->max + 1 of it: a line
 * longer than r->max is read to its end and not kept.
 */
static void
ctl_reader_keep(struct ctl_reader *r, struct proto_buf *line, size_t n,
    int *any)
{
	size_t room = line->len <= r->max ? r->max + 1 - line->len : 0;

	proto_buf_add(line, r->buf + r->off, n < room ? n : room);
	r->off += n;
	*any = 1;
}

/*
 * Read a line of the open file into line (without its newline; longer
 * than r->max if line->len is r->max + 1). Returns 1, or 0 at the file's
 * end. A last line without its newline is a record being written, or one
 * a crash cut (relogd ends every record with one): skipped and counted.
 */
static int
ctl_reader_line(struct ctl_reader *r, struct proto_buf *line)
{
	char *nl;
	int n, any = 0;

	line->len = 0;
	for (;;) {
		if (r->off == r->len) {
			n = gzread(r->gz, r->buf, CTL_READER_CHUNK);
			if (n <= 0) {
				r->skipped += any;
				return (0);
			}
			r->off = 0;
			r->len = (size_t)n;
		}
		nl = memchr(r->buf + r->off, '\n', r->len - r->off);
		if (nl == NULL) {
			ctl_reader_keep(r, line, r->len - r->off, &any);
			continue;
		}
		ctl_reader_keep(r, line, (size_t)(nl - r->buf) - r->off, &any);
		r->off++;
		return (1);
	}
}

/*
 * Read the log's next record: a first line and the lines after it that
 * start with a tab. Returns 1, or 0 at the end of the log.
 */
static int
ctl_reader_record(struct ctl_reader *r)
{
	struct proto_buf swap;
	uint64_t lines;
	int too_long;

	for (;;) {
		if (!r->have_next) {
			if (r->gz == NULL && !ctl_reader_open(r))
				return (0);
			if (!ctl_reader_line(r, &r->next)) {
				ctl_reader_close(r);
				continue;
			}
		}
		swap = r->text;
		r->text = r->next;
		r->next = swap;
		r->have_next = 0;
		too_long = r->text.len > r->max;
		for (lines = 1; ctl_reader_line(r, &r->next); lines++) {
			if (r->next.len == 0 || r->next.data[0] != '\t') {
				r->have_next = 1;
				break;
			}
			if (too_long || r->text.len + 1 + r->next.len >
			    r->max) {
				too_long = 1;
				continue;
			}
			proto_buf_add(&r->text, "\n", 1);
			proto_buf_add(&r->text, r->next.data, r->next.len);
		}
		if (!r->have_next)
			ctl_reader_close(r);
		if (too_long) {
			r->too_long++;
			continue;
		}
		/* A byte after the texts, for ctl_reader_match. */
		proto_buf_add(&r->text, "", 1);
		r->text.len--;
		if (proto_parse_line(r->text.data, r->text.len,
		    &r->rec.line) == 0)
			return (1);
		r->skipped += lines;
	}
}

/*
 * Does a text of the record match the regex? It is in the reader's text,
 * which has a byte after it (a newline, or the NUL ctl_reader_record put
 * there): regexec gets it NUL-terminated for the time of the match.
 */
static int
ctl_reader_match(const regex_t *re, struct proto_str s)
{
	char *end = (char *)s.ptr + s.len, was = *end;
	int ret;

	*end = '\0';
	ret = regexec(re, s.ptr, 0, NULL, 0);
	*end = was;
	return (ret == 0);
}

/* Is a record one the filter wants? */
static int
ctl_reader_wanted(const struct ctl_filter *f, const struct proto_line *l)
{
	if (l->level < f->level || l->timestamp_ms < f->since ||
	    l->timestamp_ms >= f->until)
		return (0);
	return (f->regex == NULL || ctl_reader_match(f->regex, l->message) ||
	    (l->exception.len != 0 &&
	    ctl_reader_match(f->regex, l->exception)));
}

/* Read the log's next wanted record. Returns 1, or 0 at the end. */
static int
ctl_reader_advance(struct ctl_reader *r, const struct ctl_filter *f)
{
	while (ctl_reader_record(r)) {
		if (ctl_reader_wanted(f, &r->rec.line))
			return (1);
	}
	return (0);
}

/* Does a's record come before b's? By time, then by log. */
static int
ctl_reader_before(const struct ctl_reader *a, const struct ctl_reader *b)
{
	if (a->rec.line.timestamp_ms != b->rec.line.timestamp_ms)
		return (a->rec.line.timestamp_ms < b->rec.line.timestamp_ms);
	return (a < b);
}

/* Put a reader with a record into the heap. */
static void
ctl_reader_push(struct ctl_merge *m, struct ctl_reader *r)
{
	size_t i = m->nheap++, up;

	while (i > 0 && ctl_reader_before(r, m->heap[up = (i - 1) / 2])) {
		m->heap[i] = m->heap[up];
		i = up;
	}
	m->heap[i] = r;
}

/* Take the reader with the oldest record out of the heap. */
static struct ctl_reader *
ctl_reader_pop(struct ctl_merge *m)
{
	struct ctl_reader *top = m->heap[0], *r = m->heap[--m->nheap];
	size_t i = 0, c;

	while ((c = 2 * i + 1) < m->nheap) {
		if (c + 1 < m->nheap &&
		    ctl_reader_before(m->heap[c + 1], m->heap[c]))
			c++;
		if (!ctl_reader_before(m->heap[c], r))
			break;
		m->heap[i] = m->heap[c];
		i = c;
	}
	m->heap[i] = r;
	return (top);
}

/*
 * Start reading logs (they and the filter must outlive the merge): each
 * log's first wanted record. Free it with ctl_reader_free.
 */
struct ctl_merge *
ctl_reader_merge(const struct ctl_log *logs, size_t n,
    const struct ctl_filter *filter)
{
	struct ctl_merge *m;
	size_t i;

	if ((m = calloc(1, sizeof *m)) == NULL ||
	    (m->readers = calloc(n != 0 ? n : 1, sizeof *m->readers)) ==
	    NULL || (m->heap = calloc(n != 0 ? n : 1, sizeof *m->heap)) == NULL)
		ctl_fail(CTL_FAILED, "out of memory");
	m->n = n;
	m->filter = filter;
	for (i = 0; i < n; i++)
		m->readers[i].log = &logs[i];
	ctl_reader_open_all(m->readers, n);
	for (i = 0; i < n; i++) {
		m->readers[i].rec.plugin = logs[i].plugin;
		m->readers[i].max = filter->record_max;
		if ((m->readers[i].buf = malloc(CTL_READER_CHUNK)) == NULL)
			ctl_fail(CTL_FAILED, "out of memory");
		if (ctl_reader_advance(&m->readers[i], filter))
			ctl_reader_push(m, &m->readers[i]);
	}
	return (m);
}

/*
 * The next record in time order, or NULL at the end. It is valid until
 * the next call.
 */
const struct ctl_record *
ctl_reader_next(struct ctl_merge *m)
{
	if (m->last != NULL && ctl_reader_advance(m->last, m->filter))
		ctl_reader_push(m, m->last);
	m->last = m->nheap != 0 ? ctl_reader_pop(m) : NULL;
	return (m->last != NULL ? &m->last->rec : NULL);
}

/*
 * How many lines were not records, or (too_long) how many records were
 * longer than relogd writes; *where, a log that had some.
 */
uint64_t
ctl_reader_skipped(const struct ctl_merge *m, int too_long,
    const char **where)
{
	uint64_t n = 0, k;
	size_t i;

	*where = NULL;
	for (i = 0; i < m->n; i++) {
		k = too_long ? m->readers[i].too_long : m->readers[i].skipped;
		if (k != 0 && *where == NULL)
			*where = m->readers[i].log->base;
		n += k;
	}
	return (n);
}

/* Close the files, free the readers. */
void
ctl_reader_free(struct ctl_merge *m)
{
	size_t i, j;

	for (i = 0; i < m->n; i++) {
		if (m->readers[i].gz != NULL)
			gzclose(m->readers[i].gz);
		for (j = m->readers[i].file; j < m->readers[i].log->npaths; j++)
			if (m->readers[i].fds[j] >= 0)
				close(m->readers[i].fds[j]);
		free(m->readers[i].fds);
		free(m->readers[i].buf);
		proto_buf_free(&m->readers[i].next);
		proto_buf_free(&m->readers[i].text);
	}
	free(m->readers);
	free(m->heap);
	free(m);
}

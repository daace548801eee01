/*
 * Sinks: outputs to a file descriptor (a plugin's file, or stderr). Records
 * of a batch are formatted into the sink's buffer (proto-text.c) and
 * written out together; writes never block the loop: what the kernel does
 * not take waits for EV_WRITE, and a sink holding more than
 * SINK_HIGH_WATER bytes is congested, which makes the connections feeding
 * it stop being read (ack.c). Every write is news for the ack ledger.
 *
 * A line: "2026-11-28T05:08:39.123Z WARNING [plugin.foo.db] message", the
 * record's own timestamp in UTC, then the exception text, if any, on the
 * lines after it. On stderr every line starts with "<N>" (the syslog
 * priority, for journald) and the plugin id.
 */
#include <sys/socket.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "relogd.h"

static TAILQ_HEAD(, sink) sink_dirty = TAILQ_HEAD_INITIALIZER(sink_dirty);
static struct sink sink_stderr_sink;
static int sink_stderr_made;

static void sink_write_cb(evutil_socket_t, short, void *);
static void sink_retry_cb(evutil_socket_t, short, void *);
static void sink_touch(struct sink *);
static void sink_flush(struct sink *);
static void sink_stall(struct sink *, int);
static void sink_write_line(const char *, size_t, void *);

/*
 * Format one record into a sink (proto_format_line); for stderr, every
 * line also starts with "<N>plugin: " (for journald).
 */
void
sink_format(struct sink *s, const char *plugin_id, const struct record *r,
    int for_stderr)
{
	char lead[RELOG_ID_MAX + 16];
	struct proto_line l;
	size_t n = 0;

	if (for_stderr)
		n = (size_t)snprintf(lead, sizeof lead, "<%d>%s: ",
		    proto_level_priority(r->e.level), plugin_id);
	lead[n] = '\t';
	record_line(r, &l);
	proto_format_line(&s->out, &l, (struct proto_str){ lead, n },
	    (struct proto_str){ lead, n + 1 });
	sink_touch(s);
}

/* Format one record into a sink as a line of JSON (proto_format_json). */
void
sink_format_json(struct sink *s, const char *plugin_id, const struct record *r)
{
	struct proto_line l;

	record_line(r, &l);
	proto_format_json(&s->out, &l, proto_cstr(plugin_id));
	sink_touch(s);
}

/*
 * Does the file open at fd end in the middle of a line? A relogd killed
 * while it wrote there leaves one so (a write that fails is cut back to
 * its last whole record); the next record would run on from it. Looked at
 * through a read-only opening of the same file: one relogd may only write
 * is taken as whole.
 */
static int
sink_ends_torn(int fd, off_t size)
{
	char path[64], c = '\n';
	int rfd;

	if (size == 0)
		return (0);
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	if ((rfd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) < 0)
		return (0);
	if (pread(rfd, &c, 1, size - 1) != 1)
		c = '\n';
	close(rfd);
	return (c != '\n');
}

/*
 * Open a file sink's file (again), in the log folder: never through a
 * symbolic link, only a regular file, and only relogd's own: one another
 * uid owns (planted in a folder others may write in, to read what relogd
 * writes) or with another name (a hard link to a file elsewhere) is not
 * written to (EPERM). Returns 0, or -1 (errno set).
 */
static int
sink_open_file(struct sink *s)
{
	struct stat st;
	int fd, error;

	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	if (s->wev != NULL)
		event_free(s->wev);
	s->wev = NULL;
	fd = openat(relogd_log_dir_fd, s->name, O_WRONLY | O_CREAT | O_APPEND |
	    O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK, 0640);
	if (fd < 0)
		return (-1);
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    st.st_uid != geteuid() || st.st_nlink > 1) {
		if (fstat(fd, &st) != 0)
			error = errno;
		else
			error = !S_ISREG(st.st_mode) ? EINVAL : EPERM;
		close(fd);
		errno = error;
		return (-1);
	}
	s->fd = fd;
	s->size = (uint64_t)st.st_size;
	s->check_end = st.st_size != 0;
	s->wev = event_new(relogd_base, s->fd, EV_WRITE, sink_write_cb, s);
	return (0);
}

/*
 * Rotate a file that would pass its max_size: name.1 becomes name.2 and so
 * on up to name.keep, name becomes name.1, and a new name is opened.
 * Returns as sink_open_file. If name cannot become name.1 (something is
 * in the way), the file is kept and grows past max_size, the rotation is
 * tried again SINK_ROTATE_RETRY_MS later, and that is said once until a
 * rotation works: returns 0.
 */
static int
sink_rotate(struct sink *s)
{
	char *from = NULL, *to = NULL;
	size_t i;
	int error = 0;

	for (i = s->keep; i > 0; i--) {
		if (asprintf(&to, "%s.%zu", s->name, i) < 0 ||
		    (i > 1 && asprintf(&from, "%s.%zu", s->name, i - 1) < 0))
			fatal("asprintf");
		if (renameat(relogd_log_dir_fd, i > 1 ? from : s->name,
		    relogd_log_dir_fd, to) != 0 && errno != ENOENT) {
			if (i == 1)
				error = errno;
			else if (s->rotate_next == 0)
				log_error("cannot rename %s/%s: %s",
				    relogd_config.log_dir, from,
				    strerror(errno));
		}
		free(from);
		free(to);
		from = to = NULL;
	}
	if (error != 0) {
		if (s->rotate_next == 0)
			log_error("cannot rotate %s/%s: %s: it grows past "
			    "max_size until it can be (tried every %d s)",
			    relogd_config.log_dir, s->name, strerror(error),
			    SINK_ROTATE_RETRY_MS / 1000);
		s->rotate_next = relogd_now_ms(CLOCK_MONOTONIC) +
		    SINK_ROTATE_RETRY_MS;
		return (0);
	}
	if (s->rotate_next != 0)
		log_info("%s/%s rotated again", relogd_config.log_dir,
		    s->name);
	s->rotate_next = 0;
	return (sink_open_file(s));
}

/*
 * Set up a sink writing to a file of the log folder (name is copied); past
 * max_size bytes (0: never) the file is rotated, keeping keep of them.
 */
void
sink_init_file(struct sink *s, const char *name, size_t max_size,
    size_t keep)
{
	memset(s, 0, sizeof *s);
	s->name = strdup(name);
	if (s->name == NULL)
		fatal("strdup");
	s->fd = -1;
	s->is_file = 1;
	s->max_size = max_size;
	s->keep = keep;
	s->retry = evtimer_new(relogd_base, sink_retry_cb, s);
	if (s->retry == NULL)
		fatalx("out of memory");
	/* Opened at its first write: no empty files for unused loggers. */
}

/*
 * Set up the stderr sink. A socket (journald's stream) is written with
 * MSG_DONTWAIT; a pipe or terminal is reopened as a new, non-blocking open
 * file, leaving the one relogd shares with its parent as it was.
 */
static void
sink_init_stderr(struct sink *s)
{
	struct stat st;
	int fd = STDERR_FILENO;

	memset(s, 0, sizeof *s);
	s->name = strdup("stderr");
	if (s->name == NULL)
		fatal("strdup");
	if (fstat(STDERR_FILENO, &st) == 0 && S_ISSOCK(st.st_mode))
		s->is_socket = 1;
	else if (fstat(STDERR_FILENO, &st) == 0 && !S_ISREG(st.st_mode)) {
		fd = open("/proc/self/fd/2", O_WRONLY | O_NONBLOCK | O_CLOEXEC);
		if (fd < 0)
			fd = STDERR_FILENO;
	}
	s->fd = fd;
	s->wev = event_new(relogd_base, s->fd, EV_WRITE, sink_write_cb, s);
}

/*
 * The stderr sink, shared by records (with --stderr) and relogd's own
 * messages (log.c writes through it); made on first use, once the event
 * loop exists.
 */
struct sink *
sink_stderr(void)
{
	if (!sink_stderr_made && relogd_base != NULL) {
		sink_init_stderr(&sink_stderr_sink);
		sink_stderr_made = 1;
		log_set_writer(sink_write_line, &sink_stderr_sink);
	}
	return (sink_stderr_made ? &sink_stderr_sink : NULL);
}

/* Free the stderr sink (at exit, drained): messages go out directly now. */
void
sink_stderr_close(void)
{
	if (!sink_stderr_made)
		return;
	log_set_writer(NULL, NULL);
	if (sink_stderr_sink.own_dropped != 0)
		dprintf(STDERR_FILENO, "<4>relogd: %llu of its own messages "
		    "were dropped: stderr was full\n",
		    (unsigned long long)sink_stderr_sink.own_dropped);
	sink_free(&sink_stderr_sink);
	sink_stderr_made = 0;
}

/*
 * Queue one of relogd's own lines (log.c's writer) and write what the
 * kernel takes now. When stderr is this far behind, the line is dropped
 * (and counted): the daemon must not stall, nor grow, on a stuck journal.
 */
static void
sink_write_line(const char *line, size_t len, void *arg)
{
	struct sink *s = arg;

	if (sink_pending(s) > SINK_OWN_MAX) {
		s->own_dropped++;
		return;
	}
	proto_buf_add(&s->out, line, len);
	sink_touch(s);
	sink_flush(s);
}

/*
 * Point a file sink at a file of the log folder and a rotation (config
 * reloaded); it opens the new file at its next write.
 */
void
sink_set_file(struct sink *s, const char *name, size_t max_size,
    size_t keep)
{
	s->max_size = max_size;
	s->keep = keep;
	if (strcmp(s->name, name) == 0)
		return;
	sink_flush(s);
	free(s->name);
	s->name = strdup(name);
	if (s->name == NULL)
		fatal("strdup");
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	if (s->wev != NULL)
		event_free(s->wev);
	s->wev = NULL;
}

/*
 * Reopen a file sink (after logrotate moved its file); one never opened,
 * or closed by a failure, opens at its next write.
 */
void
sink_reopen(struct sink *s)
{
	if (s->is_file && s->fd >= 0) {
		sink_flush(s);
		if (s->fd >= 0 && sink_open_file(s) != 0)
			sink_stall(s, errno);
	}
}

/* Bytes in the sink's buffer (sink_pending, once touched). */
static size_t
sink_buffered(const struct sink *s)
{
	return (s->out.len - s->off);
}

/*
 * What every sink holds not written, together: past max_buffered, relogd
 * reads no peer (ack_congested), so that peers that come and go cannot
 * grow a stalled file's buffer without end.
 */
static size_t sink_held;

/* Bring a sink's share of sink_held up to date. */
static void
sink_count(struct sink *s)
{
	sink_held = sink_held - s->held + sink_buffered(s);
	s->held = sink_buffered(s);
}

size_t
sink_held_total(void)
{
	return (sink_held);
}

/* Note that a sink has new bytes to write. */
static void
sink_touch(struct sink *s)
{
	sink_count(s);
	s->queued = s->written + sink_buffered(s);
	if (!s->dirty) {
		s->dirty = 1;
		TAILQ_INSERT_TAIL(&sink_dirty, s, dirty_entry);
	}
}

/* Give up on what the sink holds (it cannot be written): count it. */
static void
sink_discard(struct sink *s)
{
	s->lost += sink_buffered(s);
	s->written += sink_buffered(s);
	s->out.len = s->off = 0;
	sink_count(s);
}

/* Records in the sink's buffer: lines that do not continue a record. */
size_t
sink_waiting(const struct sink *s)
{
	const char *p = s->out.data + s->off, *end = s->out.data + s->out.len;
	size_t n = 0;

	for (; p < end; p++) {
		if ((p == s->out.data + s->off || p[-1] == '\n') && *p != '\t')
			n++;
	}
	return (n);
}

/*
 * Note that the line just formatted into a sink is one of relogd's own (a
 * notice), not a record a peer sent, for sink_records_waiting. The notes
 * of lines written are let go here: they are as many as the notices the
 * sink holds, and one.
 */
void
sink_note_own(struct sink *s)
{
	uint64_t *own;
	size_t i, n = 0;

	for (i = 0; i < s->nown; i++) {
		if (s->own[i] > s->written)
			s->own[n++] = s->own[i];
	}
	s->nown = n;
	if (s->nown == s->own_cap) {
		s->own_cap = s->own_cap != 0 ? s->own_cap * 2 : 4;
		own = reallocarray(s->own, s->own_cap, sizeof *own);
		if (own == NULL)
			fatal("reallocarray");
		s->own = own;
	}
	s->own[s->nown++] = s->queued;
}

/* Records in the sink's buffer that peers sent: relogd's own left out. */
size_t
sink_records_waiting(const struct sink *s)
{
	size_t i, n = sink_waiting(s), own = 0;

	for (i = 0; i < s->nown; i++) {
		if (s->own[i] > s->written)
			own++;
	}
	return (own < n ? n - own : 0);
}

/*
 * A file cannot be written (opened, rotated or appended to): its records
 * wait in the buffer, unacknowledged (ack.c waits for written bytes), and
 * writing is tried again with backoff. Said when the episode begins.
 */
static void
sink_stall(struct sink *s, int error)
{
	struct timeval tv;

	if (!s->stalled) {
		s->stalled = 1;
		s->stalled_at = relogd_now_ms(CLOCK_MONOTONIC);
		s->backoff_ms = SINK_RETRY_MIN_MS;
		s->error = error;
		log_error("cannot write %s/%s: %s: %zu records wait",
		    relogd_config.log_dir, s->name, relogd_error_text(error),
		    sink_waiting(s));
	} else if ((s->backoff_ms *= 2) > SINK_RETRY_MAX_MS)
		s->backoff_ms = SINK_RETRY_MAX_MS;
	tv.tv_sec = s->backoff_ms / 1000;
	tv.tv_usec = (suseconds_t)(s->backoff_ms % 1000) * 1000;
	evtimer_add(s->retry, &tv);
}

/* The file took bytes again: the episode is over, say so. */
static void
sink_unstall(struct sink *s)
{
	if (!s->stalled)
		return;
	s->stalled = 0;
	evtimer_del(s->retry);
	log_info("%s/%s: writing again after %lld s", relogd_config.log_dir,
	    s->name, (long long)((relogd_now_ms(CLOCK_MONOTONIC) -
	    s->stalled_at + 500) / 1000));
}

/*
 * A write failed after part of a record went into the file: cut the file
 * back to the last whole record (a line that does not continue one), and
 * keep the cut bytes to write again. The part is at the file's end as the
 * file says (O_APPEND), not as relogd counted: another may have emptied
 * the file meanwhile (logrotate's copytruncate).
 */
static void
sink_cut_back(struct sink *s, size_t from)
{
	const char *start = s->out.data + from, *p = s->out.data + s->off;
	struct stat st;
	const char *why = NULL;
	size_t cut;

	while (p > start && !(p[-1] == '\n' && *p != '\t'))
		p--;
	cut = (size_t)(s->out.data + s->off - p);
	if (cut == 0)
		return;
	if (fstat(s->fd, &st) != 0)
		why = strerror(errno);
	else if ((uint64_t)st.st_size < cut)
		why = "it is shorter than the part written";
	else if (ftruncate(s->fd, st.st_size - (off_t)cut) != 0)
		why = strerror(errno);
	if (why != NULL) {
		log_error("cannot cut %s/%s back to its last whole record: %s",
		    relogd_config.log_dir, s->name, why);
		return;
	}
	s->off -= cut;
	s->written -= cut;
	s->size = (uint64_t)st.st_size - cut;
}

/*
 * Open the file if it is not, and end its last line if it was left torn:
 * looked at now, not at the open (it may have been emptied while writes
 * failed). Returns 0, or -1 (errno set).
 */
static int
sink_ready(struct sink *s)
{
	struct stat st;

	if (s->fd < 0 && sink_open_file(s) != 0)
		return (-1);
	if (s->check_end) {
		if (fstat(s->fd, &st) != 0)
			return (-1);
		if (!sink_ends_torn(s->fd, st.st_size)) {
			s->check_end = 0;
			return (0);
		}
		if (write(s->fd, "\n", 1) != 1)
			return (-1);
		s->check_end = 0;
		s->size++;
		log_info("%s/%s ended in the middle of a line (relogd stopped "
		    "while writing it): the line is ended there",
		    relogd_config.log_dir, s->name);
	}
	return (0);
}

/* Does a record begin at p, in the buffer past its start? */
static int
sink_record_starts(const char *p)
{
	return (p[-1] == '\n' && *p != '\t');
}

/*
 * How much of what the file sink holds goes into its file now: all of it
 * when that fits in max_size (or there is none, or a rotation is to be
 * tried again later); else the whole records that fit, and 0 if none does:
 * the file is to be rotated first. Where it may not be (rotate 0: in the
 * middle of a record, or just rotated), and into an empty file, at least
 * the next record goes: one larger than max_size has a file of its own.
 */
static size_t
sink_fit(const struct sink *s, int rotate)
{
	const char *start = s->out.data + s->off;
	const char *end = s->out.data + s->out.len, *p;
	size_t room;

	if (s->max_size == 0 || s->size + sink_buffered(s) <= s->max_size ||
	    relogd_now_ms(CLOCK_MONOTONIC) < s->rotate_next)
		return (sink_buffered(s));
	room = s->size < s->max_size ? (size_t)(s->max_size - s->size) : 0;
	/* room < what is pending: start + room is in the buffer. */
	for (p = start + room; p > start && !sink_record_starts(p); p--)
		;
	if (p > start)
		return ((size_t)(p - start));
	if (rotate && s->size != 0)
		return (0);
	for (p = start + 1; p < end && !sink_record_starts(p); p++)
		;
	return ((size_t)(p - start));
}

/*
 * Write what the kernel takes now; a file with max_size is rotated before
 * the record that would pass it. A file that fails stalls (sink_stall)
 * with no record torn; stderr, which cannot be reopened, gives its bytes
 * up and says so once.
 */
static void
sink_flush(struct sink *s)
{
	size_t left, from = s->off;
	int rotate = 1;
	ssize_t n;

	if (sink_buffered(s) == 0)
		goto done;
	/* Opened at its first bytes: no empty files for unused loggers. */
	if (s->is_file && sink_ready(s) != 0) {
		sink_stall(s, errno);
		return;
	}
	while ((left = sink_pending(s)) > 0) {
		if (s->is_file && (left = sink_fit(s, rotate)) == 0) {
			if (sink_rotate(s) != 0 || sink_ready(s) != 0) {
				sink_stall(s, errno);
				break;
			}
			rotate = 0;
			continue;
		}
		if (s->is_socket)
			n = send(s->fd, s->out.data + s->off, left,
			    MSG_DONTWAIT | MSG_NOSIGNAL);
		else
			n = write(s->fd, s->out.data + s->off, left);
		if (n > 0) {
			s->off += (size_t)n;
			s->written += (uint64_t)n;
			s->size += (uint64_t)n;
			/* Only between records, and once a new file has one. */
			rotate = s->off < s->out.len &&
			    sink_record_starts(s->out.data + s->off);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (s->wev != NULL)
				event_add(s->wev, NULL);
			break;
		}
		if (s->is_file) {
			sink_cut_back(s, from);
			sink_stall(s, n < 0 ? errno : EIO);
			break;
		}
		sink_discard(s);
		if (!s->broken) {
			/* Broken first: the message may go to this sink. */
			s->broken = 1;
			log_error("cannot write %s: %s", s->name,
			    n < 0 ? strerror(errno) : "short write");
		}
	}
	if (s->is_file && sink_pending(s) == 0)
		sink_unstall(s);
done:
	if (s->off == s->out.len)
		s->out.len = s->off = 0;
	else if (s->off > s->out.len / 2) {
		memmove(s->out.data, s->out.data + s->off, s->out.len - s->off);
		s->out.len -= s->off;
		s->off = 0;
	}
	sink_count(s);
}

/*
 * Who is told when a sink may have written (the ack ledger, which watches
 * the sinks from above: set by main at startup).
 */
static void (*sink_progress)(void);

void
sink_set_progress(void (*fn)(void))
{
	sink_progress = fn;
}

/* Write a sink, and tell the ledger what it took. */
static void
sink_flush_told(struct sink *s)
{
	sink_flush(s);
	if (sink_progress != NULL)
		sink_progress();
}

/* Time to try a stalled file again. */
static void
sink_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	sink_flush_told(arg);
}

/* The kernel takes more. */
static void
sink_write_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	sink_flush_told(arg);
}

/* Write every sink that has new bytes. */
void
sink_flush_all(void)
{
	struct sink *s;

	while ((s = TAILQ_FIRST(&sink_dirty)) != NULL) {
		TAILQ_REMOVE(&sink_dirty, s, dirty_entry);
		s->dirty = 0;
		sink_flush(s);
	}
}

/*
 * At exit: write what is left, waiting for a slow reader up to the deadline
 * (CLOCK_MONOTONIC ms), then give up on the rest. A file's rest is not
 * counted as written, so that no answer or ring commit covers it: a runner
 * that waits for answers (a ring, acked batches) has it written by the next
 * relogd. stderr's is, as when it breaks (its reader is gone).
 */
void
sink_drain(struct sink *s, int64_t deadline)
{
	struct pollfd pfd = { .fd = s->fd, .events = POLLOUT };
	int64_t now;

	for (;;) {
		sink_flush(s);
		if (sink_pending(s) == 0 || s->fd < 0 || s->stalled)
			break;
		pfd.fd = s->fd;
		now = relogd_now_ms(CLOCK_MONOTONIC);
		if (now >= deadline || poll(&pfd, 1, (int)(deadline - now)) <= 0)
			break;
	}
	if (sink_pending(s) == 0)
		return;
	if (!s->is_file) {
		log_error("%s: %zu records (%zu bytes) not written at exit",
		    s->name, sink_waiting(s), sink_pending(s));
		sink_discard(s);
		return;
	}
	log_error("%s/%s: %zu records (%zu bytes) not written at exit, nor "
	    "acknowledged: runners that wait for acks send them again",
	    relogd_config.log_dir, s->name, sink_waiting(s), sink_pending(s));
	s->out.len = s->off = 0;
	sink_count(s);
}

/* Free a sink (it is written or given up on already). */
void
sink_free(struct sink *s)
{
	if (s->dirty)
		TAILQ_REMOVE(&sink_dirty, s, dirty_entry);
	if (s->wev != NULL)
		event_free(s->wev);
	if (s->retry != NULL)
		event_free(s->retry);
	if (s->fd >= 0 && s->fd != STDERR_FILENO)
		close(s->fd);
	s->out.len = s->off = 0;
	sink_count(s);
	proto_buf_free(&s->out);
	free(s->own);
	free(s->name);
	memset(s, 0, sizeof *s);
	s->fd = -1;
}

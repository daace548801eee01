/*
 * Sinks: where formatted records go (a plugin's file, or stderr). Records of
 * a batch are formatted into the sink's buffer and written out together;
 * writes never block the loop: what the kernel does not take waits for
 * EV_WRITE, and a sink holding more than SINK_HIGH_WATER bytes is
 * congested, which makes the clients feeding it stop being read.
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

#define SINK_TIME_MAX_MS 253402300799999LL	/* 9999-12-31T23:59:59.999 */

/* Make room for len more bytes (outbuf_add's slow path). */
void
outbuf_grow(struct outbuf *b, size_t len)
{
	size_t cap = b->cap != 0 ? b->cap : 4096;
	char *p;

	while (cap - b->len < len)
		cap *= 2;
	p = realloc(b->data, cap);
	if (p == NULL)
		fatal("realloc");
	b->data = p;
	b->cap = cap;
}

/* Free a buffer's memory. */
void
outbuf_free(struct outbuf *b)
{
	free(b->data);
	memset(b, 0, sizeof *b);
}

/* The syslog priority of a level. */
int
sink_priority(int64_t level)
{
	if (level >= RELOG_LEVEL_CRITICAL)
		return (RELOGD_PRI_CRIT);
	if (level >= RELOG_LEVEL_ERROR)
		return (RELOGD_PRI_ERR);
	if (level >= RELOG_LEVEL_WARNING)
		return (RELOGD_PRI_WARNING);
	if (level >= RELOG_LEVEL_INFO)
		return (RELOGD_PRI_INFO);
	return (RELOGD_PRI_DEBUG);
}

/* Append a level's name: Python's, or "LEVEL<n>" for other numbers. */
void
sink_format_level(struct outbuf *b, int64_t level)
{
	static const char *const names[] = {
		"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"
	};
	char other[32];
	int n;

	if (level % 10 == 0 && level >= 10 && level <= 50) {
		outbuf_add(b, names[level / 10 - 1],
		    strlen(names[level / 10 - 1]));
		return;
	}
	n = snprintf(other, sizeof other, "LEVEL%" PRId64, level);
	outbuf_add(b, other, (size_t)n);
}

/*
 * Append "YYYY-MM-DDTHH:MM:SS.mmmZ". The part up to the seconds is cached:
 * records of one batch mostly share their second.
 */
void
sink_format_time(struct outbuf *b, int64_t ms)
{
	static time_t cached_sec = -1;
	static char cached[24];
	static size_t cached_len;
	char frac[5] = { '.', 0, 0, 0, 'Z' };
	unsigned milli;
	time_t sec;
	struct tm tm;

	/* What strftime can print: year 1970 to 9999. */
	if (ms < 0)
		ms = 0;
	if (ms > SINK_TIME_MAX_MS)
		ms = SINK_TIME_MAX_MS;
	sec = (time_t)(ms / 1000);
	if (sec != cached_sec) {
		if (gmtime_r(&sec, &tm) == NULL)
			memset(&tm, 0, sizeof tm);
		cached_len = strftime(cached, sizeof cached,
		    "%Y-%m-%dT%H:%M:%S", &tm);
		cached_sec = sec;
	}
	outbuf_add(b, cached, cached_len);
	milli = (unsigned)(ms % 1000);
	frac[1] = (char)('0' + milli / 100);
	frac[2] = (char)('0' + milli / 10 % 10);
	frac[3] = (char)('0' + milli % 10);
	outbuf_add(b, frac, sizeof frac);
}

/* Append text; every line after its first starts with the prefix. */
static void
sink_add_text(struct outbuf *b, struct proto_str text, const char *prefix,
    size_t prefix_len)
{
	const char *p = text.ptr, *end = text.ptr + text.len, *nl;

	while ((nl = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		outbuf_add(b, p, (size_t)(nl - p) + 1);
		outbuf_add(b, prefix, prefix_len);
		p = nl + 1;
	}
	outbuf_add(b, p, (size_t)(end - p));
}

/* Append " [truncated N bytes]" when something was cut. */
static void
sink_add_cut(struct outbuf *b, size_t cut)
{
	char mark[48];
	int n;

	if (cut == 0)
		return;
	n = snprintf(mark, sizeof mark, " [truncated %zu bytes]", cut);
	outbuf_add(b, mark, (size_t)n);
}

/*
 * Format one record into a sink: a line, and its exception text on the
 * lines after it. Every line after the first starts with a tab, so that a
 * message cannot pass for a record of its own; for stderr, every line also
 * starts with "<N>plugin: " (for journald).
 */
void
sink_format(struct sink *s, const char *plugin_id, const struct record *r,
    int for_stderr)
{
	const struct proto_entry *e = &r->e;
	struct outbuf *b = &s->out;
	char prefix[RELOG_ID_MAX + 16];
	size_t prefix_len = 0;

	if (for_stderr) {
		prefix_len = (size_t)snprintf(prefix, sizeof prefix, "<%d>%s: ",
		    sink_priority(e->level), plugin_id);
		outbuf_add(b, prefix, prefix_len);
	}
	prefix[prefix_len++] = '\t';
	sink_format_time(b, e->timestamp_ms);
	outbuf_add(b, " ", 1);
	sink_format_level(b, e->level);
	outbuf_add(b, " [", 2);
	outbuf_add(b, r->logger_prefix.ptr, r->logger_prefix.len);
	sink_add_text(b, e->logger_name, prefix, prefix_len);
	if (r->name_cut != 0)
		outbuf_add(b, "...", 3);
	outbuf_add(b, "] ", 2);
	sink_add_text(b, e->message, prefix, prefix_len);
	sink_add_cut(b, r->msg_cut);
	if (e->exception_text.len != 0) {
		outbuf_add(b, "\n", 1);
		outbuf_add(b, prefix, prefix_len);
		sink_add_text(b, e->exception_text, prefix, prefix_len);
		sink_add_cut(b, r->exc_cut);
	}
	outbuf_add(b, "\n", 1);
	sink_touch(s);
}

/* Length of the valid UTF-8 sequence at p (of at most left bytes), or 0. */
static size_t
sink_utf8_len(const unsigned char *p, size_t left)
{
	size_t n, i;
	uint32_t c;

	if (p[0] < 0x80)
		return (1);
	if ((p[0] & 0xe0) == 0xc0)
		n = 2, c = p[0] & 0x1f;
	else if ((p[0] & 0xf0) == 0xe0)
		n = 3, c = p[0] & 0x0f;
	else if ((p[0] & 0xf8) == 0xf0)
		n = 4, c = p[0] & 0x07;
	else
		return (0);
	if (n > left)
		return (0);
	for (i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return (0);
		c = c << 6 | (p[i] & 0x3f);
	}
	/* No overlong forms, surrogates, or past U+10FFFF. */
	if ((n == 2 && c < 0x80) || (n == 3 && c < 0x800) ||
	    (n == 4 && c < 0x10000) || (c >= 0xd800 && c <= 0xdfff) ||
	    c > 0x10ffff)
		return (0);
	return (n);
}

/*
 * Append text inside a JSON string: quotes, backslashes and control
 * characters escaped, and bytes that are not UTF-8 as U+FFFD.
 */
static void
sink_json_text(struct outbuf *b, struct proto_str text)
{
	const unsigned char *p = (const unsigned char *)text.ptr;
	size_t i = 0, n, run;
	char esc[8];

	while (i < text.len) {
		for (run = i; run < text.len && p[run] >= 0x20 &&
		    p[run] < 0x80 && p[run] != '"' && p[run] != '\\'; run++)
			;
		outbuf_add(b, p + i, run - i);
		if ((i = run) == text.len)
			break;
		if (p[i] == '"' || p[i] == '\\') {
			esc[0] = '\\';
			esc[1] = (char)p[i];
			outbuf_add(b, esc, 2);
			i++;
		} else if (p[i] < 0x20) {
			snprintf(esc, sizeof esc, "\\u%04x", p[i]);
			outbuf_add(b, esc, 6);
			i++;
		} else if ((n = sink_utf8_len(p + i, text.len - i)) != 0) {
			outbuf_add(b, p + i, n);
			i += n;
		} else {
			outbuf_add(b, "\xef\xbf\xbd", 3);
			i++;
		}
	}
}

/* Append a JSON string (see sink_json_text). */
void
sink_json_str(struct outbuf *b, struct proto_str text)
{
	outbuf_add(b, "\"", 1);
	sink_json_text(b, text);
	outbuf_add(b, "\"", 1);
}

/*
 * Format one record as a line of JSON: {"time", "timestamp_ms", "level",
 * "levelno", "plugin", "logger", "message", "exception"}.
 */
void
sink_format_json(struct sink *s, const char *plugin_id, const struct record *r)
{
	const struct proto_entry *e = &r->e;
	struct outbuf *b = &s->out;
	char num[64];
	int n;

	outbuf_add(b, "{\"time\":\"", 9);
	sink_format_time(b, e->timestamp_ms);
	n = snprintf(num, sizeof num, "\",\"timestamp_ms\":%" PRId64
	    ",\"level\":\"", e->timestamp_ms);
	outbuf_add(b, num, (size_t)n);
	sink_format_level(b, e->level);		/* ASCII: nothing to escape */
	n = snprintf(num, sizeof num, "\",\"levelno\":%" PRId64
	    ",\"plugin\":", e->level);
	outbuf_add(b, num, (size_t)n);
	sink_json_str(b, proto_cstr(plugin_id));
	outbuf_add(b, ",\"logger\":", 10);
	/* Under strict, the name as the text files have it: prefixed. */
	outbuf_add(b, "\"", 1);
	sink_json_text(b, r->logger_prefix);
	sink_json_text(b, e->logger_name);
	outbuf_add(b, "\"", 1);
	outbuf_add(b, ",\"message\":", 11);
	sink_json_str(b, e->message);
	outbuf_add(b, ",\"exception\":", 13);
	sink_json_str(b, e->exception_text);
	outbuf_add(b, "}\n", 2);
	sink_touch(s);
}

static TAILQ_HEAD(, sink) sink_dirty = TAILQ_HEAD_INITIALIZER(sink_dirty);
static struct sink sink_stderr_sink;
static int sink_stderr_made;

static void sink_write_cb(evutil_socket_t, short, void *);

/* Open a file sink's file (again). Says once if it cannot. */
static void
sink_open_file(struct sink *s)
{
	struct stat st;

	if (s->fd >= 0)
		close(s->fd);
	/* O_NONBLOCK: a FIFO with a slow reader must not stall relogd. */
	s->fd = open(s->name, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC |
	    O_NONBLOCK, 0640);
	if (s->fd < 0 && !s->broken) {
		log_error("cannot open %s: %s", s->name, strerror(errno));
		s->broken = 1;
	} else if (s->fd >= 0)
		s->broken = 0;
	if (s->wev != NULL) {
		event_free(s->wev);
		s->wev = NULL;
	}
	if (s->fd >= 0)
		s->wev = event_new(relogd_base, s->fd, EV_WRITE, sink_write_cb,
		    s);
	s->size = s->fd >= 0 && fstat(s->fd, &st) == 0 ? (uint64_t)st.st_size :
	    0;
}

/*
 * Rotate a file that would pass its max_size: name.1 becomes name.2 and so
 * on up to name.keep, name becomes name.1, and a new name is opened.
 */
static void
sink_rotate(struct sink *s)
{
	char *from = NULL, *to = NULL;
	size_t i;

	for (i = s->keep; i > 0; i--) {
		if (asprintf(&to, "%s.%zu", s->name, i) < 0 ||
		    (i > 1 && asprintf(&from, "%s.%zu", s->name, i - 1) < 0))
			fatal("asprintf");
		if (rename(i > 1 ? from : s->name, to) != 0 && errno != ENOENT)
			log_error("cannot rename %s: %s", i > 1 ? from : s->name,
			    strerror(errno));
		free(from);
		free(to);
		from = to = NULL;
	}
	sink_open_file(s);
}

/*
 * Set up a sink writing to a file (path is copied); past max_size bytes
 * (0: never) the file is rotated, keeping keep of them.
 */
void
sink_init_file(struct sink *s, const char *path, size_t max_size,
    size_t keep)
{
	memset(s, 0, sizeof *s);
	s->name = strdup(path);
	if (s->name == NULL)
		fatal("strdup");
	s->fd = -1;
	s->is_file = 1;
	s->max_size = max_size;
	s->keep = keep;
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
 * messages; made on first use, once the event loop exists.
 */
struct sink *
sink_stderr(void)
{
	if (!sink_stderr_made && relogd_base != NULL) {
		sink_init_stderr(&sink_stderr_sink);
		sink_stderr_made = 1;
	}
	return (sink_stderr_made ? &sink_stderr_sink : NULL);
}

/* Free the stderr sink (at exit, drained): messages go out directly now. */
void
sink_stderr_close(void)
{
	if (!sink_stderr_made)
		return;
	if (sink_stderr_sink.own_dropped != 0)
		dprintf(STDERR_FILENO, "<4>relogd: %llu of its own messages "
		    "were dropped: stderr was full\n",
		    (unsigned long long)sink_stderr_sink.own_dropped);
	sink_free(&sink_stderr_sink);
	sink_stderr_made = 0;
}

/*
 * Queue one of relogd's own lines and write what the kernel takes now.
 * When stderr is this far behind, the line is dropped (and counted): the
 * daemon must not stall, nor grow, on a stuck journal.
 */
void
sink_write_line(struct sink *s, const char *line, size_t len)
{
	if (sink_pending(s) > SINK_OWN_MAX) {
		s->own_dropped++;
		return;
	}
	outbuf_add(&s->out, line, len);
	sink_touch(s);
	sink_flush(s);
}

/*
 * Point a file sink at a path and rotation (config reloaded); it opens the
 * new file at its next write.
 */
void
sink_set_file(struct sink *s, const char *path, size_t max_size,
    size_t keep)
{
	s->max_size = max_size;
	s->keep = keep;
	if (strcmp(s->name, path) == 0)
		return;
	sink_flush(s);
	free(s->name);
	s->name = strdup(path);
	if (s->name == NULL)
		fatal("strdup");
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	if (s->wev != NULL)
		event_free(s->wev);
	s->wev = NULL;
}

/* Reopen a file sink (after logrotate moved its file). */
void
sink_reopen(struct sink *s)
{
	if (s->is_file) {
		sink_flush(s);
		sink_open_file(s);
	}
}

/* Bytes waiting to be written. */
size_t
sink_pending(const struct sink *s)
{
	return (s->out.len - s->off);
}

/* Note that a sink has new bytes to write. */
void
sink_touch(struct sink *s)
{
	s->queued = s->written + sink_pending(s);
	if (!s->dirty) {
		s->dirty = 1;
		TAILQ_INSERT_TAIL(&sink_dirty, s, dirty_entry);
	}
}

/* Give up on what the sink holds (it cannot be written): count it. */
static void
sink_discard(struct sink *s)
{
	s->lost += sink_pending(s);
	s->written += sink_pending(s);
	s->out.len = s->off = 0;
}

/* Write what the kernel takes now. */
void
sink_flush(struct sink *s)
{
	size_t left;
	ssize_t n;

	if (s->is_file && s->fd < 0)
		sink_open_file(s);
	if (s->fd < 0)
		sink_discard(s);
	if (s->max_size != 0 && s->size != 0 &&
	    s->size + sink_pending(s) > s->max_size)
		sink_rotate(s);
	while ((left = sink_pending(s)) > 0) {
		if (s->is_socket)
			n = send(s->fd, s->out.data + s->off, left,
			    MSG_DONTWAIT | MSG_NOSIGNAL);
		else
			n = write(s->fd, s->out.data + s->off, left);
		if (n > 0) {
			s->off += (size_t)n;
			s->written += (uint64_t)n;
			s->size += (uint64_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (s->wev != NULL)
				event_add(s->wev, NULL);
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
	if (s->off == s->out.len)
		s->out.len = s->off = 0;
	else if (s->off > s->out.len / 2) {
		memmove(s->out.data, s->out.data + s->off, s->out.len - s->off);
		s->out.len -= s->off;
		s->off = 0;
	}
}

/* The kernel takes more: write, and tell the clients if it drained. */
static void
sink_write_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	sink_flush(arg);
	client_sinks_progressed();
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
	remote_flush_all();
}

/*
 * At exit: write what is left, waiting for a slow reader up to the deadline
 * (CLOCK_MONOTONIC ms), then give up on the rest.
 */
void
sink_drain(struct sink *s, int64_t deadline)
{
	struct pollfd pfd = { .fd = s->fd, .events = POLLOUT };
	int64_t now;

	for (;;) {
		sink_flush(s);
		if (sink_pending(s) == 0 || s->fd < 0)
			break;
		now = relogd_now_ms(CLOCK_MONOTONIC);
		if (now >= deadline || poll(&pfd, 1, (int)(deadline - now)) <= 0)
			break;
	}
	if (sink_pending(s) != 0) {
		log_error("%s: %zu bytes not written at exit", s->name,
		    sink_pending(s));
		sink_discard(s);
	}
}

/* Free a sink (it is written or given up on already). */
void
sink_free(struct sink *s)
{
	if (s->dirty)
		TAILQ_REMOVE(&sink_dirty, s, dirty_entry);
	if (s->wev != NULL)
		event_free(s->wev);
	if (s->fd >= 0 && s->fd != STDERR_FILENO)
		close(s->fd);
	outbuf_free(&s->out);
	free(s->name);
	memset(s, 0, sizeof *s);
	s->fd = -1;
}

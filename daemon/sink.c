/*
 * Formatting records into lines, and the buffers they wait in until a batch
 * is written out with one write(2) per sink.
 *
 * A line: "2026-11-28T05:08:39.123Z WARNING [plugin.foo.db] message", the
 * record's own timestamp in UTC, then the exception text, if any, on the
 * lines after it. On stderr every line starts with "<N>" (the syslog
 * priority, for journald) and the plugin id.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "relogd.h"

/* Append bytes, growing the buffer. */
void
outbuf_add(struct outbuf *b, const void *data, size_t len)
{
	size_t cap;
	char *p;

	if (len == 0)
		return;
	if (len > b->cap - b->len) {
		cap = b->cap != 0 ? b->cap : 4096;
		while (cap - b->len < len)
			cap *= 2;
		p = realloc(b->data, cap);
		if (p == NULL)
			fatal("realloc");
		b->data = p;
		b->cap = cap;
	}
	memcpy(b->data + b->len, data, len);
	b->len += len;
}

/* Free a buffer's memory. */
void
outbuf_free(struct outbuf *b)
{
	free(b->data);
	memset(b, 0, sizeof *b);
}

/*
 * Write the buffer to fd and empty it. Returns 0, or -1 with errno set (the
 * buffer is emptied all the same: a sink that fails must not grow forever).
 */
int
outbuf_write(struct outbuf *b, int fd)
{
	size_t off = 0;
	ssize_t n;
	int ret = 0;

	while (off < b->len) {
		n = write(fd, b->data + off, b->len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			ret = -1;
			break;
		}
		off += (size_t)n;
	}
	b->len = 0;
	return (ret);
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
static void
sink_add_level(struct outbuf *b, int64_t level)
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
static void
sink_add_time(struct outbuf *b, int64_t ms)
{
	static time_t cached_sec = -1;
	static char cached[24];
	static size_t cached_len;
	char frac[8];
	time_t sec;
	struct tm tm;

	if (ms < 0)
		ms = 0;
	sec = (time_t)(ms / 1000);
	if (sec != cached_sec) {
		if (gmtime_r(&sec, &tm) == NULL)
			memset(&tm, 0, sizeof tm);
		cached_len = strftime(cached, sizeof cached,
		    "%Y-%m-%dT%H:%M:%S", &tm);
		cached_sec = sec;
	}
	outbuf_add(b, cached, cached_len);
	snprintf(frac, sizeof frac, ".%03dZ", (int)(ms % 1000));
	outbuf_add(b, frac, 5);
}

/* Append text; with a prefix, every line after the first starts with it. */
static void
sink_add_text(struct outbuf *b, struct proto_str text, const char *prefix,
    size_t prefix_len)
{
	const char *p = text.ptr, *end = text.ptr + text.len, *nl;

	while (prefix != NULL && (nl = memchr(p, '\n', (size_t)(end - p))) !=
	    NULL) {
		outbuf_add(b, p, (size_t)(nl - p) + 1);
		outbuf_add(b, prefix, prefix_len);
		p = nl + 1;
	}
	outbuf_add(b, p, (size_t)(end - p));
}

/*
 * Format one record as a line (and its exception text) into b. For stderr,
 * for_stderr adds the "<N>plugin: " prefix to each line.
 */
void
sink_format(struct outbuf *b, const struct plugin *plugin,
    const struct proto_entry *e, int for_stderr)
{
	char prefix[RELOG_ID_MAX + 16];
	size_t prefix_len = 0;

	if (for_stderr) {
		prefix_len = (size_t)snprintf(prefix, sizeof prefix, "<%d>%s: ",
		    sink_priority(e->level), plugin->id);
		outbuf_add(b, prefix, prefix_len);
	}
	sink_add_time(b, e->timestamp_ms);
	outbuf_add(b, " ", 1);
	sink_add_level(b, e->level);
	outbuf_add(b, " [", 2);
	outbuf_add(b, e->logger_name.ptr, e->logger_name.len);
	outbuf_add(b, "] ", 2);
	sink_add_text(b, e->message, for_stderr ? prefix : NULL, prefix_len);
	if (e->exception_text.len != 0) {
		outbuf_add(b, "\n", 1);
		if (for_stderr)
			outbuf_add(b, prefix, prefix_len);
		sink_add_text(b, e->exception_text, for_stderr ? prefix : NULL,
		    prefix_len);
	}
	outbuf_add(b, "\n", 1);
}

/*
 * Records as text, the way relogd writes them and relogctl shows them (see
 * "Line format" in PROTOCOL.md): level names, syslog priorities, times, the
 * record line, and JSON strings. One implementation, so that every output
 * escapes and marks the same way; and the record line read back, for
 * relogctl show.
 *
 * relogd and relogctl link this file; librelog does not (it allocates).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "proto.h"

#define PROTO_TIME_MAX_MS 253402300799999LL	/* 9999-12-31T23:59:59.999 */
#define PROTO_LEVEL_WIDTH 8	/* the widest name, CRITICAL */

/* Level names and what they mean: Python's, then Fluent's and syslog's. */
static const struct {
	const char *name;
	int64_t level;
} proto_levels[] = {
	{ "DEBUG", RELOG_LEVEL_DEBUG }, { "INFO", RELOG_LEVEL_INFO },
	{ "WARNING", RELOG_LEVEL_WARNING }, { "ERROR", RELOG_LEVEL_ERROR },
	{ "CRITICAL", RELOG_LEVEL_CRITICAL },
	{ "trace", 5 }, { "notice", 25 }, { "warn", RELOG_LEVEL_WARNING },
	{ "err", RELOG_LEVEL_ERROR }, { "crit", RELOG_LEVEL_CRITICAL },
	{ "fatal", RELOG_LEVEL_CRITICAL }, { "alert", RELOG_LEVEL_CRITICAL },
	{ "emerg", RELOG_LEVEL_CRITICAL },
};

/* The name of a level: Python's five, else "LEVEL<n>" written into other. */
const char *
proto_level_name(int64_t level, char other[PROTO_LEVEL_NAME_MAX])
{
	if (level % 10 == 0 && level >= RELOG_LEVEL_DEBUG &&
	    level <= RELOG_LEVEL_CRITICAL)
		return (proto_levels[level / 10 - 1].name);
	snprintf(other, PROTO_LEVEL_NAME_MAX, "LEVEL%" PRId64, level);
	return (other);
}

/*
 * Read a level: a name in any case (Python's, or trace, notice, warn, err,
 * crit, fatal, alert, emerg), or a number from 0 to RELOG_LEVEL_MAX.
 * Returns 0, or -1 if it is neither.
 */
int
proto_level_parse(struct proto_str s, int64_t *level)
{
	unsigned long n = 0;
	size_t i;

	for (i = 0; i < sizeof proto_levels / sizeof proto_levels[0]; i++) {
		if (strlen(proto_levels[i].name) == s.len &&
		    strncasecmp(proto_levels[i].name, s.ptr, s.len) == 0) {
			*level = proto_levels[i].level;
			return (0);
		}
	}
	if (s.len == 0)
		return (-1);
	for (i = 0; i < s.len; i++) {
		if (s.ptr[i] < '0' || s.ptr[i] > '9')
			return (-1);
		n = n * 10 + (unsigned long)(s.ptr[i] - '0');
		if (n > RELOG_LEVEL_MAX)
			return (-1);
	}
	*level = (int64_t)n;
	return (0);
}

/* The syslog priority of a level, as journald and collectors read it. */
int
proto_level_priority(int64_t level)
{
	if (level >= RELOG_LEVEL_CRITICAL)
		return (RELOG_PRI_CRIT);
	if (level >= RELOG_LEVEL_ERROR)
		return (RELOG_PRI_ERR);
	if (level >= RELOG_LEVEL_WARNING)
		return (RELOG_PRI_WARNING);
	if (level >= RELOG_LEVEL_INFO)
		return (RELOG_PRI_INFO);
	return (RELOG_PRI_DEBUG);
}

/*
 * Append "YYYY-MM-DDTHH:MM:SS.mmmZ" (UTC). The last one is kept, as records
 * of a batch mostly share their millisecond; a new millisecond of the same
 * second rewrites only ".mmmZ": not thread-safe.
 */
void
proto_format_time(struct proto_buf *b, int64_t ms)
{
	static int64_t cached_ms = -1;
	static time_t cached_sec = -1;
	static char text[32];		/* the last ms's; its second's first */
	static size_t sec_len;
	uint64_t w;
	unsigned milli;
	time_t sec;
	struct tm tm;

	/* What strftime can print: year 1970 to 9999. */
	if (ms < 0)
		ms = 0;
	if (ms > PROTO_TIME_MAX_MS)
		ms = PROTO_TIME_MAX_MS;
	if (ms != cached_ms) {
		sec = (time_t)(ms / 1000);
		if (sec != cached_sec) {
			if (gmtime_r(&sec, &tm) == NULL)
				memset(&tm, 0, sizeof tm);
			sec_len = strftime(text, sizeof text - 5,
			    "%Y-%m-%dT%H:%M:%S", &tm);
			cached_sec = sec;
		}
		/* ".mmmZ", built in a register and stored whole. */
		milli = (unsigned)(ms % 1000);
		w = (uint64_t)'.' << 0 | (uint64_t)('0' + milli / 100) << 8 |
		    (uint64_t)('0' + milli / 10 % 10) << 16 |
		    (uint64_t)('0' + milli % 10) << 24 | (uint64_t)'Z' << 32;
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
		w = __builtin_bswap64(w);
#endif
		memcpy(text + sec_len, &w, 5);
		cached_ms = ms;
	}
	proto_buf_add(b, text, sec_len + 5);
}

/* Append a level's name, dressed and padded as the style says (or NULL). */
static void
proto_format_level(struct proto_buf *b, int64_t level,
    const struct proto_line_style *style)
{
	char other[PROTO_LEVEL_NAME_MAX];
	const char *name = proto_level_name(level, other);
	size_t len = strlen(name);

	if (style != NULL && style->level_on != NULL)
		proto_buf_add(b, style->level_on, strlen(style->level_on));
	proto_buf_add(b, name, len);
	if (style != NULL && style->level_off != NULL)
		proto_buf_add(b, style->level_off, strlen(style->level_off));
	while (style != NULL && style->pad_level && len++ < PROTO_LEVEL_WIDTH)
		proto_buf_add(b, " ", 1);
}

/*
 * The bytes of a word that need a look (not printable ASCII: below 0x20,
 * DEL, or 0x80 and up), as their high bits: word at a time, for most text
 * is plain.
 */
static inline uint64_t
proto_special_bits(uint64_t x)
{
	const uint64_t ones = 0x0101010101010101ull;

	/* A byte below 0x20; a byte with its high bit; 0x7f (+1 sets it). */
	return ((((x - 0x20 * ones) & ~x) | x | (x + ones)) &
	    0x8080808080808080ull);
}

/* Does any of the 8 bytes at p need a look? */
static int
proto_special8(const unsigned char *p)
{
	uint64_t x;

	memcpy(&x, p, 8);
	return (proto_special_bits(x) != 0);
}

/* Does any of the 32 bytes at p need a look? */
static int
proto_special32(const unsigned char *p)
{
	uint64_t x[4];

	memcpy(x, p, sizeof x);
	return ((proto_special_bits(x[0]) | proto_special_bits(x[1]) |
	    proto_special_bits(x[2]) | proto_special_bits(x[3])) != 0);
}

/*
 * Append text with the bytes a peer could forge lines or terminal control
 * with shown escaped, as proto_shown_char shows them. A newline starts the
 * next line with cont, or, with cont's ptr NULL, is \x0a too.
 */
static void
proto_format_escaped(struct proto_buf *b, struct proto_str text,
    struct proto_str cont)
{
	const unsigned char *p = (const unsigned char *)text.ptr;
	const unsigned char *end = p + text.len, *run = p;
	char esc[PROTO_SHOWN_MAX];
	size_t n, esc_len;

	while (p < end) {
		/* Plain text a block of 32 bytes at a time, then 8. */
		while (end - p >= 32 && !proto_special32(p))
			p += 32;
		if (end - p >= 8 && !proto_special8(p)) {
			p += 8;
			continue;
		}
		/* The last few: the text's last 8 bytes at once. */
		if (end - p < 8 && end - (const unsigned char *)text.ptr >= 8 &&
		    !proto_special8(end - 8))
			p = end;
		if (p == end)
			break;
		/* Kept by proto_shown_char too; here without a call. */
		if ((*p >= 0x20 && *p < 0x7f) || *p == '\t') {
			p++;
			continue;
		}
		if (*p == '\n' && cont.ptr != NULL) {
			proto_buf_add(b, run, (size_t)(p - run));
			proto_buf_add(b, "\n", 1);
			proto_buf_add(b, cont.ptr, cont.len);
			n = 1;
		} else {
			n = proto_shown_char(p, (size_t)(end - p), esc,
			    &esc_len);
			if (esc_len == 0) {
				/* UTF-8 kept: part of the run. */
				p += n;
				continue;
			}
			proto_buf_add(b, run, (size_t)(p - run));
			proto_buf_add(b, esc, esc_len);
		}
		p += n;
		run = p;
	}
	proto_buf_add(b, run, (size_t)(p - run));
}

/*
 * Append text with control bytes escaped (proto_format_escaped); its
 * newlines kept, or (name) escaped too, for a one-line field.
 */
void
proto_escape(struct proto_buf *b, struct proto_str text, int name)
{
	static const char nl[] = "";

	/* An empty continuation: each newline stays one. */
	proto_format_escaped(b, text, (struct proto_str){ name ? NULL : nl,
	    0 });
}

/* Append " [truncated N bytes]" when something was cut. */
static void
proto_format_cut(struct proto_buf *b, size_t cut)
{
	char mark[PROTO_CUT_MARK_MAX];

	if (cut != 0)
		proto_buf_add(b, mark, proto_cut_mark(mark, cut));
}

/*
 * Append a record as lines of text:
 *     <first><time> <LEVEL> [<logger>] <message>
 *     <cont><exception text, from its own line on>
 * where every line after the first starts with cont, and control bytes are
 * escaped (proto_format_escaped), so that no text of a record can pass for
 * a record of its own, nor start a line of journald's stream. A file has
 * first "" and cont "\t"; stderr has "<N>plugin: " before both.
 */
void
proto_format_line(struct proto_buf *b, const struct proto_line *l,
    struct proto_str first, struct proto_str cont)
{
	proto_format_line_styled(b, l, first, cont, NULL);
}

/*
 * Append a logger name escaped: one line (its newlines \x0a), and its
 * spaces \x20, so that the first "] " of a line ends it, as
 * proto_parse_line reads it.
 */
static void
proto_format_logger(struct proto_buf *b, struct proto_str name)
{
	const char *p = name.ptr, *end = p + name.len, *sp;

	while ((sp = memchr(p, ' ', (size_t)(end - p))) != NULL) {
		proto_format_escaped(b, (struct proto_str){ p, (size_t)(sp - p) },
		    (struct proto_str){ NULL, 0 });
		proto_buf_add(b, "\\x20", 4);
		p = sp + 1;
	}
	proto_format_escaped(b, (struct proto_str){ p, (size_t)(end - p) },
	    (struct proto_str){ NULL, 0 });
}

/*
 * Append a record as proto_format_line does, its level dressed for a
 * terminal as style says (NULL: not at all).
 */
void
proto_format_line_styled(struct proto_buf *b, const struct proto_line *l,
    struct proto_str first, struct proto_str cont,
    const struct proto_line_style *style)
{
	proto_buf_add(b, first.ptr, first.len);
	proto_format_time(b, l->timestamp_ms);
	proto_buf_add(b, " ", 1);
	proto_format_level(b, l->level, style);
	proto_buf_add(b, " [", 2);
	proto_buf_add(b, l->logger_prefix.ptr, l->logger_prefix.len);
	proto_format_logger(b, l->logger);
	if (l->logger_cut != 0)
		proto_buf_add(b, "...", 3);
	proto_buf_add(b, "] ", 2);
	proto_format_escaped(b, l->message, cont);
	proto_format_cut(b, l->message_cut);
	if (l->exception.len != 0) {
		proto_buf_add(b, "\n", 1);
		proto_buf_add(b, cont.ptr, cont.len);
		proto_format_escaped(b, l->exception, cont);
		proto_format_cut(b, l->exception_cut);
	}
	proto_buf_add(b, "\n", 1);
}

/* Read n digits at p. Returns the number, or -1 if one is not a digit. */
static int
proto_parse_digits(const char *p, int n)
{
	int v = 0;

	while (n-- > 0) {
		if (*p < '0' || *p > '9')
			return (-1);
		v = v * 10 + (*p++ - '0');
	}
	return (v);
}

/* Days from 1970-01-01 to a date (proleptic Gregorian calendar). */
static int64_t
proto_days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return (era * 146097 + doe - 719468);
}

/*
 * Read a time as proto_format_time writes it, "YYYY-MM-DDTHH:MM:SS.mmmZ",
 * into ms since the epoch. Returns 0, or -1 if it is not one.
 */
int
proto_parse_time(const char *p, size_t len, int64_t *ms)
{
	int y, mo, d, h, mi, s, milli;

	if (len != 24 || p[4] != '-' || p[7] != '-' || p[10] != 'T' ||
	    p[13] != ':' || p[16] != ':' || p[19] != '.' || p[23] != 'Z')
		return (-1);
	y = proto_parse_digits(p, 4);
	mo = proto_parse_digits(p + 5, 2);
	d = proto_parse_digits(p + 8, 2);
	h = proto_parse_digits(p + 11, 2);
	mi = proto_parse_digits(p + 14, 2);
	s = proto_parse_digits(p + 17, 2);
	milli = proto_parse_digits(p + 20, 3);
	if (y < 0 || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 ||
	    h > 23 || mi < 0 || mi > 59 || s < 0 || s > 60 || milli < 0)
		return (-1);
	*ms = ((proto_days_from_civil(y, mo, d) * 24 + h) * 60 + mi) * 60 + s;
	*ms = *ms * 1000 + milli;
	return (0);
}

/* Read a level as proto_format_line writes it: a name, or LEVEL<n>. */
static int
proto_parse_level(struct proto_str s, int64_t *level)
{
	char other[PROTO_LEVEL_NAME_MAX], *end;
	const char *name;
	long long n;

	for (n = RELOG_LEVEL_DEBUG; n <= RELOG_LEVEL_CRITICAL; n += 10) {
		name = proto_level_name(n, other);
		if (strlen(name) == s.len && memcmp(name, s.ptr, s.len) == 0) {
			*level = n;
			return (0);
		}
	}
	if (s.len < 6 || s.len >= sizeof other ||
	    memcmp(s.ptr, "LEVEL", 5) != 0)
		return (-1);
	memcpy(other, s.ptr + 5, s.len - 5);
	other[s.len - 5] = '\0';
	if (other[other[0] == '-'] < '0' || other[other[0] == '-'] > '9')
		return (-1);
	errno = 0;
	n = strtoll(other, &end, 10);
	if (errno != 0 || *end != '\0')
		return (-1);
	*level = n;
	return (0);
}

/*
 * Read back a record proto_format_line wrote with first "" and cont "\t":
 * text holds its lines, without the last newline; each line after the
 * first starts with the tab, which is taken out in place. l borrows from
 * text. Those lines come back as the exception text: a newline in a
 * message cannot be told from them, and either way the record formats
 * back to the same bytes. Marks of cut texts stay part of the texts.
 * Returns 0, or -1 if the first line is not a record's.
 */
int
proto_parse_line(char *text, size_t len, struct proto_line *l)
{
	char *end = text + len, *nl, *p, *sp, *close, *to;
	size_t first, n;

	memset(l, 0, sizeof *l);
	l->logger_prefix = l->exception = proto_cstr("");
	if (len < 25)
		return (-1);
	nl = memchr(text, '\n', len);
	first = nl != NULL ? (size_t)(nl - text) : len;
	if (first < 25 || text[24] != ' ' ||
	    proto_parse_time(text, 24, &l->timestamp_ms) != 0)
		return (-1);
	p = text + 25;
	if ((sp = memchr(p, ' ', first - 25)) == NULL ||
	    proto_parse_level((struct proto_str){ p, (size_t)(sp - p) },
	    &l->level) != 0)
		return (-1);
	p = sp + 1;
	if (p == text + first || *p++ != '[' ||
	    (close = memmem(p, (size_t)(text + first - p), "] ", 2)) == NULL)
		return (-1);
	l->logger = (struct proto_str){ p, (size_t)(close - p) };
	l->message = (struct proto_str){ close + 2,
	    (size_t)(text + first - close - 2) };
	if (nl == NULL)
		return (0);
	/* The lines after the first, each without its tab. */
	to = nl + 1;
	for (p = nl + 1; p < end; p += n) {
		if (*p == '\t')
			p++;
		nl = memchr(p, '\n', (size_t)(end - p));
		n = nl != NULL ? (size_t)(nl - p) + 1 : (size_t)(end - p);
		memmove(to, p, n);
		to += n;
	}
	l->exception = (struct proto_str){ text + first + 1,
	    (size_t)(to - text - first - 1) };
	return (0);
}

/*
 * Append text inside a JSON string: quotes, backslashes and control
 * characters escaped, and bytes that are not UTF-8 as U+FFFD.
 */
void
proto_json_text(struct proto_buf *b, struct proto_str text)
{
	const unsigned char *p = (const unsigned char *)text.ptr;
	size_t i = 0, n, run;
	char esc[8];

	while (i < text.len) {
		for (run = i; run < text.len && p[run] >= 0x20 &&
		    p[run] < 0x7f && p[run] != '"' && p[run] != '\\'; run++)
			;
		proto_buf_add(b, p + i, run - i);
		if ((i = run) == text.len)
			break;
		if (p[i] == '"' || p[i] == '\\') {
			esc[0] = '\\';
			esc[1] = (char)p[i];
			proto_buf_add(b, esc, 2);
			i++;
		} else if (p[i] < 0x20 || p[i] == 0x7f) {
			snprintf(esc, sizeof esc, "\\u%04x", p[i]);
			proto_buf_add(b, esc, 6);
			i++;
		} else if ((n = proto_utf8_len(p + i, text.len - i)) == 2 &&
		    p[i] == 0xc2 && p[i + 1] < 0xa0) {
			/* C1 controls, visible, as the other outputs show them. */
			snprintf(esc, sizeof esc, "\\u%04x", p[i + 1]);
			proto_buf_add(b, esc, 6);
			i += 2;
		} else if (n != 0) {
			proto_buf_add(b, p + i, n);
			i += n;
		} else {
			proto_buf_add(b, "\xef\xbf\xbd", 3);
			i++;
		}
	}
}

/* Append a JSON string (see proto_json_text). */
void
proto_json_str(struct proto_buf *b, struct proto_str text)
{
	proto_buf_add(b, "\"", 1);
	proto_json_text(b, text);
	proto_buf_add(b, "\"", 1);
}

/*
 * Append a record as a line of JSON: {"time", "timestamp_ms", "level",
 * "levelno", "plugin", "logger", "message", "exception"}. The logger is
 * the prefixed name, as the text line has it; cut texts are not marked.
 */
void
proto_format_json(struct proto_buf *b, const struct proto_line *l,
    struct proto_str plugin)
{
	char num[64];
	int n;

	proto_buf_add(b, "{\"time\":\"", 9);
	proto_format_time(b, l->timestamp_ms);
	n = snprintf(num, sizeof num, "\",\"timestamp_ms\":%" PRId64
	    ",\"level\":\"", l->timestamp_ms);
	proto_buf_add(b, num, (size_t)n);
	/* ASCII: nothing to escape. */
	proto_format_level(b, l->level, NULL);
	n = snprintf(num, sizeof num, "\",\"levelno\":%" PRId64
	    ",\"plugin\":", l->level);
	proto_buf_add(b, num, (size_t)n);
	proto_json_str(b, plugin);
	proto_buf_add(b, ",\"logger\":\"", 11);
	proto_json_text(b, l->logger_prefix);
	proto_json_text(b, l->logger);
	proto_buf_add(b, "\",\"message\":", 12);
	proto_json_str(b, l->message);
	proto_buf_add(b, ",\"exception\":", 13);
	proto_json_str(b, l->exception);
	proto_buf_add(b, "}\n", 2);
}

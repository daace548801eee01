/*
 * Times for show's --since and --until, in ms since the epoch:
 *   2026-11-28, 2026-11-28T05:08, 2026-11-28 05:08:39, ...:39.123, each
 *   with Z or an offset (+01:00, -0500), else in local time (as date(1)
 *   reads them); @SECONDS since the epoch; now, today, yesterday,
 *   tomorrow (the day's first moment, local time); "N UNIT ago", units
 *   s, min, h, d, w (or sec, second, m, minute, hour, day, week, plurals),
 *   several in a row: "1h 30min ago".
 * "now" is the clock's; the environment variable RELOGCTL_NOW, a time in
 * any absolute form above, stands for it (for tests).
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "relogctl.h"

/* Units of "N UNIT ago", in seconds. */
static const struct {
	const char *name;
	int64_t seconds;
} ctl_time_units[] = {
	{ "s", 1 }, { "sec", 1 }, { "secs", 1 }, { "second", 1 },
	{ "seconds", 1 }, { "m", 60 }, { "min", 60 }, { "mins", 60 },
	{ "minute", 60 }, { "minutes", 60 }, { "h", 3600 }, { "hour", 3600 },
	{ "hours", 3600 }, { "d", 86400 }, { "day", 86400 },
	{ "days", 86400 }, { "w", 604800 }, { "week", 604800 },
	{ "weeks", 604800 },
};

/* Read n digits at *p, moving past them. Returns the number, or -1. */
static int
ctl_time_digits(const char **p, int n)
{
	int v = 0;

	for (; n > 0; n--, (*p)++) {
		if (**p < '0' || **p > '9')
			return (-1);
		v = v * 10 + (**p - '0');
	}
	return (v);
}

/*
 * Read what follows a date: "[T| ]HH:MM[:SS[.fff]]" into tm and *milli.
 * Returns 0, or -1.
 */
static int
ctl_time_clock(const char **p, struct tm *tm, int *milli)
{
	int scale = 100;

	if (**p != 'T' && **p != 't' && **p != ' ')
		return (0);
	(*p)++;
	if ((tm->tm_hour = ctl_time_digits(p, 2)) < 0 || *(*p)++ != ':' ||
	    (tm->tm_min = ctl_time_digits(p, 2)) < 0)
		return (-1);
	if (**p != ':')
		return (0);
	(*p)++;
	if ((tm->tm_sec = ctl_time_digits(p, 2)) < 0)
		return (-1);
	if (**p != '.' && **p != ',')
		return (0);
	for ((*p)++; **p >= '0' && **p <= '9'; (*p)++, scale /= 10)
		*milli += (**p - '0') * scale;
	return (0);
}

/*
 * Read a zone: "Z", "+HH:MM", "-HHMM", "+HH" into *offset (seconds east
 * of UTC). Returns 1 if there is one, 0 if not, -1 if it is bad.
 */
static int
ctl_time_zone(const char **p, int *offset)
{
	int sign, hh, mm = 0;

	if (**p == 'Z' || **p == 'z') {
		(*p)++;
		*offset = 0;
		return (1);
	}
	if (**p != '+' && **p != '-')
		return (0);
	sign = *(*p)++ == '-' ? -1 : 1;
	if ((hh = ctl_time_digits(p, 2)) < 0 || hh > 23)
		return (-1);
	if (**p == ':')
		(*p)++;
	if (**p != '\0' && ((mm = ctl_time_digits(p, 2)) < 0 || mm > 59))
		return (-1);
	*offset = sign * (hh * 3600 + mm * 60);
	return (1);
}

/* The days of a month (1 to 12) of a year: mktime would take 30 February. */
static int
ctl_time_month_days(int year, int month)
{
	static const int days[12] = {
		31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31
	};

	if (month == 2 && ((year % 4 == 0 && year % 100 != 0) ||
	    year % 400 == 0))
		return (29);
	return (days[month - 1]);
}

/* Read an ISO 8601 date and time (see above). Returns 0, or -1. */
static int
ctl_time_iso(const char *s, int64_t *ms)
{
	struct tm tm;
	const char *p = s;
	int milli = 0, offset = 0, zoned;
	time_t t;

	memset(&tm, 0, sizeof tm);
	if ((tm.tm_year = ctl_time_digits(&p, 4)) < 0 || *p++ != '-' ||
	    (tm.tm_mon = ctl_time_digits(&p, 2)) < 0 || *p++ != '-' ||
	    (tm.tm_mday = ctl_time_digits(&p, 2)) < 0 ||
	    ctl_time_clock(&p, &tm, &milli) != 0 ||
	    (zoned = ctl_time_zone(&p, &offset)) < 0 || *p != '\0')
		return (-1);
	if (tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 ||
	    tm.tm_mday > ctl_time_month_days(tm.tm_year, tm.tm_mon) ||
	    tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60)
		return (-1);
	tm.tm_year -= 1900;
	tm.tm_mon--;
	tm.tm_isdst = -1;
	t = zoned ? timegm(&tm) - offset : mktime(&tm);
	*ms = (int64_t)t * 1000 + milli;
	return (0);
}

/* Read an absolute time: ISO 8601, or @SECONDS. Returns 0, or -1. */
static int
ctl_time_absolute(const char *s, int64_t *ms)
{
	char *end;
	long long sec;

	if (*s == '@') {
		sec = strtoll(s + 1, &end, 10);
		if (end == s + 1 || *end != '\0')
			return (-1);
		*ms = (int64_t)sec * 1000;
		return (0);
	}
	return (ctl_time_iso(s, ms));
}

/* Now, in ms: RELOGCTL_NOW's time (for tests), else the clock's. */
int64_t
ctl_time_now(void)
{
	const char *env = getenv("RELOGCTL_NOW");
	struct timespec ts;
	int64_t ms;

	if (env != NULL && *env != '\0') {
		if (ctl_time_absolute(env, &ms) != 0)
			ctl_fail(CTL_USAGE, "RELOGCTL_NOW=%s: not a time", env);
		return (ms);
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	return ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

/* The first moment of the local day days after now's. */
static int64_t
ctl_time_midnight(int64_t now, int days)
{
	time_t t = (time_t)(now / 1000 - (now % 1000 < 0));
	struct tm tm;

	localtime_r(&t, &tm);
	tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
	tm.tm_mday += days;
	tm.tm_isdst = -1;
	return ((int64_t)mktime(&tm) * 1000);
}

/* Read "N UNIT [N UNIT]... ago" into ms before now. Returns 0, or -1. */
static int
ctl_time_ago(const char *s, int64_t now, int64_t *ms)
{
	int64_t back = 0;
	long long n;
	size_t len, i;
	char *end;

	for (;;) {
		s += strspn(s, " ");
		if (strcmp(s, "ago") == 0)
			break;
		if (*s < '0' || *s > '9')
			return (-1);
		n = strtoll(s, &end, 10);
		s = end + strspn(end, " ");
		len = strcspn(s, " 0123456789");
		for (i = 0; i < sizeof ctl_time_units /
		    sizeof ctl_time_units[0]; i++) {
			if (strlen(ctl_time_units[i].name) == len &&
			    strncmp(ctl_time_units[i].name, s, len) == 0)
				break;
		}
		if (len == 0 || i == sizeof ctl_time_units /
		    sizeof ctl_time_units[0] || n > INT64_MAX / 1000 /
		    ctl_time_units[i].seconds)
			return (-1);
		back += n * ctl_time_units[i].seconds * 1000;
		s += len;
	}
	*ms = now - back;
	return (0);
}

/*
 * Read a time for --since or --until (see above), relative ones from now.
 * Returns 0, or -1 if it is none.
 */
int
ctl_time_parse(const char *s, int64_t now, int64_t *ms)
{
	if (strcmp(s, "now") == 0)
		*ms = now;
	else if (strcmp(s, "today") == 0)
		*ms = ctl_time_midnight(now, 0);
	else if (strcmp(s, "yesterday") == 0)
		*ms = ctl_time_midnight(now, -1);
	else if (strcmp(s, "tomorrow") == 0)
		*ms = ctl_time_midnight(now, 1);
	else if (strlen(s) > 4 && strcmp(s + strlen(s) - 3, "ago") == 0)
		return (ctl_time_ago(s, now, ms));
	else
		return (ctl_time_absolute(s, ms));
	return (0);
}

/*
 * relogd's own messages. Each is one line on stderr with a <N> syslog
 * priority prefix, which journald turns into the entry's priority. Once
 * the loop runs, they go through the writer the stderr output installs
 * (non-blocking); before that, and for fatal ones, straight to fd 2.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "relogd.h"

static int log_verbose;
static void (*log_writer)(const char *, size_t, void *);
static void *log_writer_arg;

/* Set whether debug messages are shown. */
void
log_open(int verbose)
{
	log_verbose = verbose;
}

/* Send messages through fn (NULL: straight to stderr again). */
void
log_set_writer(void (*fn)(const char *, size_t, void *), void *arg)
{
	log_writer = fn;
	log_writer_arg = arg;
}

/* Write one message with its priority; a failed write is not retried. */
static void
log_vwrite(int pri, const char *suffix, const char *fmt, va_list ap)
{
	char line[1024];
	int n, m;

	n = snprintf(line, sizeof line, "<%d>relogd: ", pri);
	m = vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
	if (m < 0)
		return;
	n = (size_t)(n + m) >= sizeof line ? (int)sizeof line - 1 : n + m;
	if (suffix != NULL)
		n += snprintf(line + n, sizeof line - (size_t)n, ": %s",
		    suffix);
	if ((size_t)n >= sizeof line - 1)
		n = (int)sizeof line - 2;
	line[n++] = '\n';
	if (pri > RELOG_PRI_CRIT && log_writer != NULL)
		log_writer(line, (size_t)n, log_writer_arg);
	else if (write(STDERR_FILENO, line, (size_t)n) < 0)
		return;
}

/* Log a debug message (shown with -v). */
void
log_debug(const char *fmt, ...)
{
	va_list ap;

	if (!log_verbose)
		return;
	va_start(ap, fmt);
	log_vwrite(RELOG_PRI_DEBUG, NULL, fmt, ap);
	va_end(ap);
}

/* Log an informational message. */
void
log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(RELOG_PRI_INFO, NULL, fmt, ap);
	va_end(ap);
}

/* Log a warning. */
void
log_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(RELOG_PRI_WARNING, NULL, fmt, ap);
	va_end(ap);
}

/* Log an error. */
void
log_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(RELOG_PRI_ERR, NULL, fmt, ap);
	va_end(ap);
}

/* Log an error with strerror(errno) and exit. */
void
fatal(const char *fmt, ...)
{
	const char *cause = strerror(errno);
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(RELOG_PRI_CRIT, cause, fmt, ap);
	va_end(ap);
	exit(1);
}

/* Log an error and exit. */
void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(RELOG_PRI_CRIT, NULL, fmt, ap);
	va_end(ap);
	exit(1);
}

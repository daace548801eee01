/*
 * relogd's own messages. Each is one line on stderr with a <N> syslog
 * priority prefix, which journald turns into the entry's priority. Once
 * the loop runs, they go through the writer the stderr output installs
 * (non-blocking); before that, and for fatal ones, straight to fd 2.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "relogd.h"

/* relogd's lines about peers: at most this many a window, like journald. */
#define LOG_PEER_BURST 100
#define LOG_PEER_INTERVAL_MS 10000

static int log_verbose;
static int64_t log_peer_window;	/* monotonic ms the window began */
static unsigned log_peer_used;
static uint64_t log_peer_suppressed;	/* in this window */
static uint64_t log_peer_total;	/* suppressed, ever */
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
static void __attribute__((format(printf, 3, 0)))
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

/*
 * Log a warning about a peer: a peer can make relogd say things, so these
 * lines are rate-limited (LOG_PEER_BURST a window); the next window
 * begins by saying how many were suppressed.
 */
void
log_peer(const char *fmt, ...)
{
	int64_t now = relogd_now_ms(CLOCK_MONOTONIC);
	va_list ap;

	if (now - log_peer_window >= LOG_PEER_INTERVAL_MS) {
		log_peer_window = now;
		log_peer_used = 0;
		if (log_peer_suppressed != 0)
			log_warn("suppressed %llu messages about peers (%llu "
			    "since relogd started)",
			    (unsigned long long)log_peer_suppressed,
			    (unsigned long long)log_peer_total);
		log_peer_suppressed = 0;
	}
	if (log_peer_used >= LOG_PEER_BURST) {
		log_peer_suppressed++;
		log_peer_total++;
		return;
	}
	log_peer_used++;
	va_start(ap, fmt);
	log_vwrite(RELOG_PRI_WARNING, NULL, fmt, ap);
	va_end(ap);
}

/* Messages about peers suppressed since relogd started (for stats). */
uint64_t
log_peer_dropped(void)
{
	return (log_peer_total);
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

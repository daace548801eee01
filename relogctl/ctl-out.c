/*
 * Records printed, for show and tail: "plugin: " then the line relogd
 * wrote (proto_format_line), a line of JSON, or the texts alone (cat).
 * On a terminal the levels are aligned and, unless NO_COLOR is set or
 * TERM is dumb, coloured; show's output goes through a pager ($PAGER,
 * else less, with LESS=FRX unless LESS is set) unless --no-pager. Into a
 * pipe or a file, the lines are exactly the log file's.
 */
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "relogctl.h"

#define CTL_OUT_SGR_OFF "\033[0m"

static int ctl_out_on_tty;	/* stdout was a terminal */
static int ctl_out_color;
static pid_t ctl_out_pager = -1;
static int ctl_out_error;	/* errno of the first failed write */

/* Is a program in PATH? */
static int
ctl_out_in_path(const char *name)
{
	const char *path = getenv("PATH"), *p, *colon;
	char file[4096];
	int n;

	for (p = path != NULL ? path : "/usr/bin:/bin"; *p != '\0';
	    p = *colon != '\0' ? colon + 1 : colon) {
		colon = strchrnul(p, ':');
		n = snprintf(file, sizeof file, "%.*s/%s", (int)(colon - p), p,
		    name);
		if (n > 0 && (size_t)n < sizeof file && access(file, X_OK) == 0)
			return (1);
	}
	return (0);
}

/*
 * A signal while paging: close the pipe so that the pager sees the end,
 * wait for the user to leave it, then die of the signal (as git does).
 */
static void
ctl_out_signal(int sig)
{
	close(STDOUT_FILENO);
	if (ctl_out_pager > 0)
		waitpid(ctl_out_pager, NULL, 0);
	signal(sig, SIG_DFL);
	raise(sig);
}

/* Send stdout through the pager from now on. */
static void
ctl_out_page(void)
{
	const char *pager = getenv("PAGER");
	int p[2];

	if (pager == NULL && !ctl_out_in_path("less"))
		return;
	if (pager == NULL)
		pager = "less";
	if (*pager == '\0' || strcmp(pager, "cat") == 0 ||
	    pipe2(p, O_CLOEXEC) != 0)
		return;
	fflush(stdout);
	if ((ctl_out_pager = fork()) < 0) {
		close(p[0]);
		close(p[1]);
		return;
	}
	if (ctl_out_pager == 0) {
		dup2(p[0], STDIN_FILENO);
		signal(SIGPIPE, SIG_DFL);
		setenv("LESS", "FRX", 0);
		execl("/bin/sh", "sh", "-c", pager, (char *)NULL);
		_exit(127);
	}
	dup2(p[1], STDOUT_FILENO);
	close(p[0]);
	close(p[1]);
	signal(SIGINT, ctl_out_signal);
	signal(SIGTERM, ctl_out_signal);
	signal(SIGHUP, ctl_out_signal);
}

/* Look at stdout: colours, alignment, and (page) the pager. */
void
ctl_out_start(int page)
{
	const char *no_color = getenv("NO_COLOR"), *term = getenv("TERM");

	ctl_out_on_tty = isatty(STDOUT_FILENO);
	ctl_out_color = ctl_out_on_tty &&
	    (no_color == NULL || *no_color == '\0') &&
	    (term == NULL || strcmp(term, "dumb") != 0);
	if (page && ctl_out_on_tty)
		ctl_out_page();
}

/* The colour of a level: by its syslog priority. */
static const char *
ctl_out_level_color(int64_t level)
{
	switch (proto_level_priority(level)) {
	case RELOG_PRI_CRIT:
		return ("\033[1;31m");
	case RELOG_PRI_ERR:
		return ("\033[31m");
	case RELOG_PRI_WARNING:
		return ("\033[33m");
	case RELOG_PRI_INFO:
		return ("\033[32m");
	default:
		return ("\033[2m");
	}
}

/* Append a record as a line of JSON: the entry's keys, plugin, time. */
static void
ctl_out_json(struct proto_buf *b, const char *plugin,
    const struct proto_line *l)
{
	char num[96];
	int n;

	proto_buf_add(b, "{\"plugin\":", 10);
	proto_json_str(b, proto_cstr(plugin));
	proto_buf_add(b, ",\"time\":\"", 9);
	proto_format_time(b, l->timestamp_ms);
	n = snprintf(num, sizeof num, "\",\"timestamp_ms\":%" PRId64
	    ",\"level\":%" PRId64 ",\"logger_name\":\"", l->timestamp_ms,
	    l->level);
	proto_buf_add(b, num, (size_t)n);
	proto_json_text(b, l->logger_prefix);
	proto_json_text(b, l->logger);
	proto_buf_add(b, "\",\"message\":", 12);
	proto_json_str(b, l->message);
	proto_buf_add(b, ",\"exception_text\":", 18);
	proto_json_str(b, l->exception);
	proto_buf_add(b, "}\n", 2);
}

/* Append a record in a format. */
void
ctl_out_record(struct proto_buf *b, const char *plugin,
    const struct proto_line *l, enum ctl_format format)
{
	struct proto_line_style style = { NULL, NULL, ctl_out_on_tty };
	char first[RELOG_ID_MAX + 3];
	int n;

	switch (format) {
	case CTL_FORMAT_JSON:
		ctl_out_json(b, plugin, l);
		break;
	case CTL_FORMAT_CAT:
		proto_buf_add(b, l->message.ptr, l->message.len);
		proto_buf_add(b, "\n", 1);
		if (l->exception.len != 0) {
			proto_buf_add(b, l->exception.ptr, l->exception.len);
			proto_buf_add(b, "\n", 1);
		}
		break;
	case CTL_FORMAT_SHORT:
		if (ctl_out_color) {
			style.level_on = ctl_out_level_color(l->level);
			style.level_off = CTL_OUT_SGR_OFF;
		}
		n = snprintf(first, sizeof first, "%.*s: ", RELOG_ID_MAX,
		    plugin);
		proto_format_line_styled(b, l, (struct proto_str){ first,
		    (size_t)n }, proto_cstr("\t"), &style);
		break;
	}
}

/*
 * Write what b holds; flush if following (tail -f, one record at a time).
 * Returns 0, or -1 once the reader is gone (the pager quit, a pipe
 * closed): stop then.
 */
int
ctl_out_write(const struct proto_buf *b, int flush)
{
	if (fwrite(b->data, 1, b->len, stdout) == b->len &&
	    (!flush || fflush(stdout) == 0) && !ferror(stdout))
		return (0);
	if (ctl_out_error == 0)
		ctl_out_error = errno;
	return (-1);
}

/*
 * The end of the output: flush it, let the pager finish. Returns the exit
 * status: a reader that left early (EPIPE) is no failure.
 */
int
ctl_out_end(void)
{
	int failed;

	if ((fflush(stdout) != 0 || ferror(stdout)) && ctl_out_error == 0)
		ctl_out_error = errno;
	failed = ctl_out_error != 0 && ctl_out_error != EPIPE;
	if (ctl_out_pager > 0) {
		fclose(stdout);
		while (waitpid(ctl_out_pager, NULL, 0) < 0 && errno == EINTR)
			;
		ctl_out_pager = -1;
	}
	if (failed)
		fprintf(stderr, "relogctl: write: %s\n",
		    strerror(ctl_out_error));
	return (failed ? CTL_FAILED : CTL_OK);
}

/*
 * relogctl send and exec: records logged through librelog, as any runner
 * logs them, for the plugin named with -p. send: its arguments as one
 * record, or each line of stdin. exec: a command's stdout lines as INFO,
 * its stderr lines as WARNING, and its exit status.
 */
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "relog.h"
#include "relog-ring.h"
#include "relogctl.h"

#define CTL_SEND_LINE_MAX (64 * 1024)

/* What send and exec were told. */
struct ctl_send {
	const char *plugin;
	const char *logger;
	int level;
	char logger_buf[sizeof RELOG_PLUGIN_PREFIX + RELOG_ID_MAX];
};

/*
 * Read send's or exec's options (exec takes no -l); what is missing or
 * wrong is a usage error. Returns the index of the first argument.
 */
static int
ctl_send_options(const char *name, int argc, char **argv, struct ctl_send *s)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	int exec = strcmp(name, "exec") == 0, opt;

	memset(s, 0, sizeof *s);
	s->level = RELOG_INFO;
	while ((opt = getopt_long(argc, argv, exec ? "+:p:n:h" : "+:p:l:n:h",
	    opts, NULL)) != -1) {
		switch (opt) {
		case 'p':
			if (s->plugin != NULL)
				ctl_usage_error(name, "-p given twice: one "
				    "plugin");
			if (!proto_id_valid(optarg, strlen(optarg)))
				ctl_usage_error(name, "-p %s: not a plugin id "
				    "([A-Za-z0-9_.-], at most %d bytes)",
				    optarg, RELOG_ID_MAX);
			s->plugin = optarg;
			break;
		case 'l': s->level = (int)ctl_level(name, optarg); break;
		case 'n': s->logger = optarg; break;
		case 'h': ctl_help(name); break;
		default: ctl_bad_option(name, opt, argv);
		}
	}
	if (s->plugin == NULL)
		ctl_usage_error(name, "-p PLUGIN is missing: which plugin "
		    "the records are for");
	if (exec && optind == argc)
		ctl_usage_error(name, "COMMAND is missing: what to run");
	if (s->logger == NULL) {
		snprintf(s->logger_buf, sizeof s->logger_buf, "%s%s",
		    RELOG_PLUGIN_PREFIX, s->plugin);
		s->logger = s->logger_buf;
	}
	return (optind);
}

/*
 * Open librelog for a plugin, after making sure relogd is there (so that
 * "not running" is said at once, not after a close timeout).
 */
static relog_t *
ctl_send_open(const char *plugin)
{
	static const char *const every[] = { NULL };
	char runner[32];
	struct relog_opts o = {
		.sz = sizeof o,
		.socket_path = ctl_socket,
		.plugin_id = plugin,
		.runner_id = runner,
		.prefixes = every,
		.queue_max = 4096,
	};
	relog_t *h;

	/* A hello relogd accepts, for this plugin: clear errors at once. */
	close(ctl_conn_open_as(plugin));
	snprintf(runner, sizeof runner, "relogctl-%ld", (long)getpid());
	h = relog_open(&o);
	if (h == NULL)
		ctl_fail(CTL_FAILED, "relog_open: %s%s", strerror(errno),
		    errno == EINVAL ? " (a RELOG_* setting, or a plugin id in "
		    "RELOG_PLUGIN_IDS that is not a safe name)" : "");
	return (h);
}

/* Lines logged so far: every CTL_SEND_FLUSH of them wait for relogd. */
static size_t ctl_send_lines;
#define CTL_SEND_FLUSH 1024

/*
 * Log one line as a record. A long input waits for relogd every
 * CTL_SEND_FLUSH lines, before the ring (4096) fills and drops the oldest:
 * a command that writes faster than relogd takes is held up (its pipe
 * fills), not cut.
 */
static void
ctl_send_emit(relog_t *h, int level, const char *logger, const char *line)
{
	struct relog_entry e = {
		.sz = sizeof e, .level = level, .logger_name = logger,
		.message = line,
	};

	relog_emit(h, &e);
	if (++ctl_send_lines % CTL_SEND_FLUSH == 0 &&
	    relog_flush(h, CTL_TIMEOUT_MS) != 0)
		ctl_fail(CTL_FAILED, "relogd does not take the records");
}

/*
 * Log len bytes of a line (line[len] is a NUL): as one record, or, past
 * what a record's text holds (RELOG_RING_TEXT_MAX), as records of that
 * much at most, each cut before a character it would split. A NUL, which a
 * record's text cannot hold, is logged as relogd writes any control byte
 * ("\\x00"), not left to cut the line short; the pieces count it so.
 */
static void
ctl_send_line(relog_t *h, int level, const char *logger, const char *line,
    size_t len)
{
	static char buf[RELOG_RING_TEXT_MAX + 1];
	const char *unit;
	size_t n = 0, i, k, size;

	if (len <= RELOG_RING_TEXT_MAX && memchr(line, '\0', len) == NULL) {
		ctl_send_emit(h, level, logger, line);
		return;
	}
	for (i = 0; i < len; i += k) {
		if (line[i] == '\0') {
			unit = "\\x00";
			k = 1;
			size = 4;
		} else {
			/* A character: its lead byte and continuation bytes. */
			unit = line + i;
			for (k = 1; k < 4 && i + k < len &&
			    ((unsigned char)line[i + k] & 0xc0) == 0x80; k++)
				;
			size = k;
		}
		if (n + size > RELOG_RING_TEXT_MAX) {
			buf[n] = '\0';
			ctl_send_emit(h, level, logger, buf);
			n = 0;
		}
		memcpy(buf + n, unit, size);
		n += size;
	}
	buf[n] = '\0';
	ctl_send_emit(h, level, logger, buf);
}

/*
 * Where to cut a piece of len bytes that ends in no newline: before a
 * character its last bytes only begin, so that the character goes whole
 * with the next piece. Bytes that are no UTF-8 are cut where they fall.
 */
static size_t
ctl_send_cut(const char *buf, size_t len)
{
	const unsigned char *p = (const unsigned char *)buf;
	size_t i, want;

	for (i = len; i > 0 && len - i < 4; i--) {
		if ((p[i - 1] & 0xc0) == 0x80)
			continue;	/* a continuation byte */
		if (p[i - 1] >= 0xf8 || p[i - 1] < 0xc0)
			return (len);
		want = p[i - 1] >= 0xf0 ? 4 : p[i - 1] >= 0xe0 ? 3 : 2;
		return (want > len - (i - 1) ? i - 1 : len);
	}
	return (len);
}

/* Close librelog; what it dropped or could not deliver is a failure. */
static void
ctl_send_close(relog_t *h)
{
	uint64_t dropped = relog_dropped(h);

	if (relog_close(h, CTL_TIMEOUT_MS) != 0)
		ctl_fail(CTL_FAILED, "some records were not delivered");
	if (dropped != 0)
		ctl_fail(CTL_FAILED, "%llu records were dropped (the queue "
		    "was full)", (unsigned long long)dropped);
}

/* relogctl send: the arguments as one record, or stdin, a line each. */
int
ctl_send_main(int argc, char **argv)
{
	struct ctl_send s;
	char *line = NULL, *msg;
	size_t cap = 0, len = 0;
	ssize_t n;
	relog_t *h;
	int i, first = ctl_send_options("send", argc, argv, &s);

	h = ctl_send_open(s.plugin);
	if (first < argc) {
		for (i = first; i < argc; i++)
			len += strlen(argv[i]) + 1;
		if ((msg = calloc(1, len + 1)) == NULL)
			ctl_fail(CTL_FAILED, "out of memory");
		for (i = first; i < argc; i++) {
			if (i != first)
				strcat(msg, " ");
			strcat(msg, argv[i]);
		}
		ctl_send_emit(h, s.level, s.logger, msg);
		free(msg);
	} else {
		while ((n = getline(&line, &cap, stdin)) > 0) {
			if (line[n - 1] == '\n')
				line[--n] = '\0';
			ctl_send_line(h, s.level, s.logger, line, (size_t)n);
		}
		free(line);
	}
	ctl_send_close(h);
	return (CTL_OK);
}

/* A command's output being cut into lines. */
struct ctl_stream {
	int fd;
	int level;
	char buf[CTL_SEND_LINE_MAX + 1];
	size_t len;
};

/* Read what a stream has; emit every whole line (and, at its end, the rest). */
static int
ctl_send_read(struct ctl_stream *s, relog_t *h, const char *logger)
{
	char *nl, *p, rest[4];
	size_t cut;
	ssize_t n;

	n = read(s->fd, s->buf + s->len, CTL_SEND_LINE_MAX - s->len);
	if (n < 0 && errno == EINTR)
		return (0);
	if (n > 0)
		s->len += (size_t)n;
	s->buf[s->len] = '\0';
	p = s->buf;
	while ((nl = memchr(p, '\n', s->len - (size_t)(p - s->buf))) != NULL) {
		*nl = '\0';
		ctl_send_line(h, s->level, logger, p, (size_t)(nl - p));
		p = nl + 1;
	}
	s->len -= (size_t)(p - s->buf);
	memmove(s->buf, p, s->len);
	/* A line too long, or the last one without a newline. */
	if (s->len == CTL_SEND_LINE_MAX || (n <= 0 && s->len != 0)) {
		cut = n > 0 ? ctl_send_cut(s->buf, s->len) : s->len;
		memcpy(rest, s->buf + cut, s->len - cut);
		s->buf[cut] = '\0';
		ctl_send_line(h, s->level, logger, s->buf, cut);
		memcpy(s->buf, rest, s->len - cut);
		s->len -= cut;
	}
	return (n <= 0 ? -1 : 0);
}

/*
 * In the child: run the command with stdout and stderr on the pipes. If
 * it cannot start, say why as a record (on its stderr pipe) and on
 * relogctl's own stderr, and exit 127.
 */
static void __attribute__((noreturn))
ctl_send_child(char **argv, int out, int err)
{
	int own_err = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3), error;

	dup2(out, STDOUT_FILENO);
	dup2(err, STDERR_FILENO);
	/* relogctl ignores it; the command should not. */
	signal(SIGPIPE, SIG_DFL);
	execvp(argv[0], argv);
	error = errno;
	dprintf(STDERR_FILENO, "relogctl: %s: %s\n", argv[0], strerror(error));
	if (own_err >= 0)
		dprintf(own_err, "relogctl: cannot run %s: %s\n", argv[0],
		    strerror(error));
	_exit(127);
}

/* Log both streams of the child until they close. */
static void
ctl_send_pump(int out_fd, int err_fd, relog_t *h, const char *logger)
{
	static struct ctl_stream out = { .level = RELOG_INFO };
	static struct ctl_stream err = { .level = RELOG_WARNING };
	struct pollfd pfd[2];
	int open_fds = 2, i;

	out.fd = pfd[0].fd = out_fd;
	err.fd = pfd[1].fd = err_fd;
	pfd[0].events = pfd[1].events = POLLIN;
	while (open_fds > 0) {
		if (poll(pfd, 2, -1) < 0 && errno != EINTR)
			break;
		for (i = 0; i < 2; i++) {
			if (pfd[i].fd < 0 || pfd[i].revents == 0)
				continue;
			if (ctl_send_read(i == 0 ? &out : &err, h,
			    logger) != 0) {
				close(pfd[i].fd);
				pfd[i].fd = -1;
				open_fds--;
			}
		}
	}
}

/* relogctl exec: a command's stdout as INFO, its stderr as WARNING. */
int
ctl_exec_main(int argc, char **argv)
{
	struct ctl_send s;
	int po[2], pe[2], status, first;
	relog_t *h;
	pid_t pid;

	first = ctl_send_options("exec", argc, argv, &s);
	h = ctl_send_open(s.plugin);
	if (pipe2(po, O_CLOEXEC) != 0 || pipe2(pe, O_CLOEXEC) != 0)
		ctl_fail(CTL_FAILED, "pipe: %s", strerror(errno));
	if ((pid = fork()) < 0)
		ctl_fail(CTL_FAILED, "fork: %s", strerror(errno));
	if (pid == 0)
		ctl_send_child(argv + first, po[1], pe[1]);
	close(po[1]);
	close(pe[1]);
	ctl_send_pump(po[0], pe[0], h, s.logger);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	ctl_send_close(h);
	if (WIFSIGNALED(status))
		return (128 + WTERMSIG(status));
	return (WEXITSTATUS(status));
}

/*
 * Programs run for a test with their stdout and stderr apart (the
 * harness's spawn merges them): to their end, collecting both, or left
 * running with a pipe each to read from until a text shows up; and on a
 * pseudo-terminal, for what a program does on a tty. Waits are polls with
 * deadlines, never sleeps.
 */
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests.h"

/*
 * With RELOG_VALGRIND set, relogctl runs under memcheck as harness.c runs
 * relogd: any error or leak fails it (exit 99).
 */
static const char *const capture_valgrind[] = {
	"/usr/bin/valgrind", "-q", "--error-exitcode=99", "--leak-check=full",
	"--errors-for-leak-kinds=definite,indirect",
	"--show-leak-kinds=definite,indirect", NULL
};

/* A growing text. */
struct capture_text {
	char *p;
	size_t len;
	size_t cap;
};

/* Read what fd has into t. Returns the bytes read, 0 at its end. */
static ssize_t
capture_take(int fd, struct capture_text *t)
{
	ssize_t n;
	char *p;

	if (t->cap - t->len < 4096) {
		t->cap = t->cap != 0 ? t->cap * 2 : 16384;
		p = realloc(t->p, t->cap);
		ck_assert_ptr_nonnull(p);
		t->p = p;
	}
	do
		n = read(fd, t->p + t->len, t->cap - t->len - 1);
	while (n < 0 && errno == EINTR);
	/* A pseudo-terminal's master says EIO once the other side closed. */
	if (n < 0 && errno == EIO)
		n = 0;
	ck_assert_int_ge(n, 0);
	t->len += (size_t)n;
	t->p[t->len] = '\0';
	return (n);
}

/* exec argv; relogctl under valgrind if RELOG_VALGRIND is set. */
static void __attribute__((noreturn))
capture_exec(const char *const *argv)
{
	const char *full[64];
	size_t n = 0, i;

	if (getenv("RELOG_VALGRIND") != NULL &&
	    strstr(argv[0], "relogctl") != NULL) {
		for (i = 0; capture_valgrind[i] != NULL; i++)
			full[n++] = capture_valgrind[i];
	}
	for (i = 0; argv[i] != NULL && n < 63; i++)
		full[n++] = argv[i];
	full[n] = NULL;
	execv(full[0], (char *const *)full);
	_exit(127);
}

/*
 * Start argv with env ("K=V" entries, NULL-terminated, may be NULL) added,
 * stdin /dev/null, stdout and stderr on *out and *err (or, with err NULL,
 * both on a pseudo-terminal whose master is *out).
 */
pid_t
capture_spawn(const char *const *argv, const char *const *env, int *out,
    int *err)
{
	int po[2], pe[2], master = -1, slave = -1;
	pid_t parent = getpid(), pid;
	size_t i;

	if (err != NULL) {
		ck_assert_int_eq(pipe2(po, O_CLOEXEC), 0);
		ck_assert_int_eq(pipe2(pe, O_CLOEXEC), 0);
	} else
		ck_assert_int_eq(openpty(&master, &slave, NULL, NULL, NULL), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		for (i = 0; env != NULL && env[i] != NULL; i++)
			putenv((char *)env[i]);
		dup2(open("/dev/null", O_RDONLY), STDIN_FILENO);
		dup2(err != NULL ? po[1] : slave, STDOUT_FILENO);
		dup2(err != NULL ? pe[1] : slave, STDERR_FILENO);
		capture_exec(argv);
	}
	if (err == NULL) {
		close(slave);
		*out = master;
		return (pid);
	}
	close(po[1]);
	close(pe[1]);
	*out = po[0];
	*err = pe[0];
	return (pid);
}

/*
 * Run argv to its end (see capture_spawn; pty: on a pseudo-terminal, its
 * output in c->out) within timeout_ms. Free c with capture_free.
 */
void
capture_run(const char *const *argv, const char *const *env, int pty,
    struct capture *c, int timeout_ms)
{
	struct capture_text t[2] = { { NULL, 0, 0 }, { NULL, 0, 0 } };
	struct pollfd pfd[2];
	struct rusage ru;
	int64_t deadline = harness_now_ms() + timeout_ms, left;
	int open_fds, i;
	pid_t pid;

	pid = capture_spawn(argv, env, &pfd[0].fd, pty ? NULL : &pfd[1].fd);
	open_fds = pty ? 1 : 2;
	pfd[0].events = pfd[1].events = POLLIN;
	if (pty)
		pfd[1].fd = -1;
	while (open_fds > 0) {
		left = deadline - harness_now_ms();
		ck_assert_msg(left > 0 && poll(pfd, 2, (int)left) > 0,
		    "%s did not end in time", argv[0]);
		for (i = 0; i < 2; i++) {
			if (pfd[i].fd < 0 || pfd[i].revents == 0 ||
			    capture_take(pfd[i].fd, &t[i]) > 0)
				continue;
			close(pfd[i].fd);
			pfd[i].fd = -1;
			open_fds--;
		}
	}
	c->status = harness_wait_usage(pid, timeout_ms, &ru);
	c->maxrss_kb = ru.ru_maxrss;
	c->out = t[0].p != NULL ? t[0].p : strdup("");
	c->err = t[1].p != NULL ? t[1].p : strdup("");
	ck_assert_ptr_nonnull(c->out);
	ck_assert_ptr_nonnull(c->err);
}

/* Free what capture_run collected. */
void
capture_free(struct capture *c)
{
	free(c->out);
	free(c->err);
	c->out = c->err = NULL;
}

/* Read fd to its end within timeout_ms, and close it. Free the text. */
char *
capture_read_all(int fd, int timeout_ms)
{
	struct capture_text t = { NULL, 0, 0 };
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	int64_t deadline = harness_now_ms() + timeout_ms, left;

	do {
		left = deadline - harness_now_ms();
		ck_assert_msg(left > 0 && poll(&pfd, 1, (int)left) > 0,
		    "no end in time: %.400s", t.p != NULL ? t.p : "");
	} while (capture_take(fd, &t) > 0);
	close(fd);
	return (t.p);
}

/*
 * Read fd, adding to *text (free it), until *text holds needle n times,
 * within timeout_ms; fail the test if it does not.
 */
void
capture_await(int fd, char **text, const char *needle, size_t n,
    int timeout_ms)
{
	struct capture_text t = { *text, 0, 0 };
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	int64_t deadline = harness_now_ms() + timeout_ms, left;

	if (t.p != NULL)
		t.cap = (t.len = strlen(t.p)) + 1;
	while (harness_count(t.p, needle) < n) {
		left = deadline - harness_now_ms();
		ck_assert_msg(left > 0 && poll(&pfd, 1, (int)left) > 0,
		    "waited for \"%s\" x%zu, got: %.400s", needle, n,
		    t.p != NULL ? t.p : "");
		ck_assert_msg(capture_take(fd, &t) > 0, "ended without "
		    "\"%s\" x%zu: %.400s", needle, n, t.p != NULL ? t.p : "");
	}
	*text = t.p;
}

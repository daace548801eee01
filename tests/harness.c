/*
 * The integration harness: a temporary directory per test (or a folder
 * given, for the bench), a real relogd started in it (ready when it says
 * READY=1 on the notify socket, as under systemd), real child processes,
 * and waits on conditions with pidfds and poll, never sleeps. What fails
 * goes to harness_fail (harness.h): no Check here.
 */
#include <sys/inotify.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "proto.h"

/* How long relogd may take to start or stop (sanitizers are slow). */
#define HARNESS_DAEMON_TIMEOUT_MS 30000

/*
 * With RELOG_VALGRIND set, relogd and the runners run under valgrind's
 * memcheck, which fails them (exit 99) on any error or leak.
 */
static const char *const harness_valgrind[] = {
	"/usr/bin/valgrind", "-q", "--error-exitcode=99", "--leak-check=full",
	"--errors-for-leak-kinds=definite,indirect",
	"--show-leak-kinds=definite,indirect", NULL
};

/* Put argv behind valgrind's arguments when RELOG_VALGRIND is set. */
static void
harness_argv(const char **out, size_t max, const char *const *argv)
{
	size_t n = 0, i;

	if (getenv("RELOG_VALGRIND") != NULL) {
		for (i = 0; harness_valgrind[i] != NULL; i++)
			out[n++] = harness_valgrind[i];
	}
	for (i = 0; argv[i] != NULL && n < max - 1; i++)
		out[n++] = argv[i];
	out[n] = NULL;
}

/* Is relogd's memory measured (not under valgrind, which adds its own)? */
int
harness_rss_measured(void)
{
	return (getenv("RELOG_VALGRIND") == NULL);
}

/*
 * Do relogd and the runners run as built for use: neither under valgrind
 * nor built with the sanitizers (the test binary is built as they are)?
 */
int
harness_native(void)
{
#ifdef __SANITIZE_ADDRESS__
	return (0);
#else
	return (harness_rss_measured());
#endif
}

/*
 * Does relogd give back the memory it frees, for a test to see? Not under
 * the sanitizers (a quarantine keeps it) nor valgrind.
 */
int
harness_frees_measured(void)
{
	return (harness_native());
}

/* Path of a file in the build folder (RELOG_BUILD, else build/). */
const char *
harness_build_path(const char *name)
{
	static char paths[4][512];
	static int next;
	const char *build = getenv("RELOG_BUILD");
	char *p = paths[next++ % 4];

	snprintf(p, sizeof paths[0], "%s/%s", build != NULL ? build : "build",
	    name);
	return (p);
}

/* Name relogd's files in h->dir, which is set. */
static void
harness_paths(struct harness *h)
{
	snprintf(h->socket, sizeof h->socket, "%s/relogd.sock", h->dir);
	snprintf(h->log_dir, sizeof h->log_dir, "%s/log", h->dir);
	snprintf(h->state_dir, sizeof h->state_dir, "%s/state", h->dir);
	snprintf(h->stderr_path, sizeof h->stderr_path, "%s/relogd.stderr",
	    h->dir);
}

/* Make a temporary directory for one test. */
void
harness_init(struct harness *h)
{
	const char *tmp = getenv("TMPDIR");

	memset(h, 0, sizeof *h);
	h->daemon = -1;
	h->listen_fd = -1;
	snprintf(h->dir, sizeof h->dir, "%s/relog.XXXXXX",
	    tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
	if (mkdtemp(h->dir) == NULL)
		harness_fail("mkdtemp %s: %s", h->dir, strerror(errno));
	harness_paths(h);
}

/* nftw callback: remove one entry. */
static int
harness_rm(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return (remove(path));
}

/* Remove a folder and all in it, if it is there. */
static void
harness_remove_tree(const char *dir)
{
	nftw(dir, harness_rm, 16, FTW_DEPTH | FTW_PHYS);
}

/*
 * Root h at a given folder (made if missing) instead of a temporary one:
 * relogd's logs and state from before are removed, so that it starts
 * fresh. harness_cleanup keeps the folder (its relogd.stderr, its config).
 */
void
harness_init_at(struct harness *h, const char *dir)
{
	memset(h, 0, sizeof *h);
	h->daemon = -1;
	h->listen_fd = -1;
	h->rooted = 1;
	if (strlen(dir) + sizeof "/relogd.stderr" > sizeof h->dir)
		harness_fail("%s: a path too long for the harness", dir);
	snprintf(h->dir, sizeof h->dir, "%s", dir);
	harness_paths(h);
	if (mkdir(h->dir, 0755) != 0 && errno != EEXIST)
		harness_fail("mkdir %s: %s", h->dir, strerror(errno));
	harness_remove_tree(h->log_dir);
	harness_remove_tree(h->state_dir);
}

/*
 * In a child, before exec: die with the test. A failed check ends the
 * test's process without its teardown (Check's fork mode); this way the
 * processes it started (relogd, runners, rsyslogd) go with it.
 */
static void
harness_die_with_parent(pid_t parent)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(127);	/* it died before prctl */
}

/* Monotonic milliseconds, for deadlines. */
int64_t
harness_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

/*
 * Stop anything still running and remove the directory (of a rooted
 * harness, only relogd's logs and state).
 */
void
harness_cleanup(struct harness *h)
{
	if (h->daemon > 0) {
		kill(h->daemon, SIGKILL);
		waitpid(h->daemon, NULL, 0);
		h->daemon = -1;
	}
	if (h->dir[0] != '\0' && h->rooted) {
		harness_remove_tree(h->log_dir);
		harness_remove_tree(h->state_dir);
	} else if (h->dir[0] != '\0')
		harness_remove_tree(h->dir);
	h->dir[0] = '\0';
}

/* A pidfd for a child, to poll for its exit. */
int
harness_pidfd(pid_t pid)
{
	return ((int)syscall(SYS_pidfd_open, pid, 0));
}

/*
 * Wait for a child to exit, up to timeout_ms; kill it if it does not.
 * Returns its exit status, 128 + signal if killed by one, -1 on timeout.
 */
int
harness_wait(pid_t pid, int timeout_ms)
{
	return (harness_wait_usage(pid, timeout_ms, NULL));
}

/* harness_wait, and what the child used in *ru if not NULL. */
int
harness_wait_usage(pid_t pid, int timeout_ms, struct rusage *ru)
{
	struct pollfd pfd;
	int status, n;

	pfd.fd = harness_pidfd(pid);
	pfd.events = POLLIN;
	if (pfd.fd < 0)
		harness_fail("pidfd_open %ld: %s", (long)pid, strerror(errno));
	do
		n = poll(&pfd, 1, timeout_ms);
	while (n < 0 && errno == EINTR);
	close(pfd.fd);
	if (n == 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		return (-1);
	}
	if (wait4(pid, &status, 0, ru) != pid)
		harness_fail("wait4 %ld: %s", (long)pid, strerror(errno));
	if (WIFSIGNALED(status))
		return (128 + WTERMSIG(status));
	return (WEXITSTATUS(status));
}

/*
 * Start a program with extra environment entries ("K=V", NULL-terminated,
 * may be NULL). With out non-NULL, *out reads the child's stdout and
 * stderr; with in non-NULL, *in writes its stdin.
 */
pid_t
harness_spawn(const char *const *argv, const char *const *env, int *out,
    int *in)
{
	int outp[2] = { -1, -1 }, inp[2] = { -1, -1 };
	pid_t pid, parent;
	size_t i;

	if ((out != NULL && pipe2(outp, O_CLOEXEC) != 0) ||
	    (in != NULL && pipe2(inp, O_CLOEXEC) != 0))
		harness_fail("pipe2: %s", strerror(errno));
	parent = getpid();
	pid = fork();
	if (pid < 0)
		harness_fail("fork: %s", strerror(errno));
	if (pid == 0) {
		harness_die_with_parent(parent);
		for (i = 0; env != NULL && env[i] != NULL; i++)
			putenv((char *)env[i]);
		if (out != NULL) {
			dup2(outp[1], STDOUT_FILENO);
			dup2(outp[1], STDERR_FILENO);
		}
		if (in != NULL)
			dup2(inp[0], STDIN_FILENO);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	if (out != NULL) {
		close(outp[1]);
		*out = outp[0];
	}
	if (in != NULL) {
		close(inp[0]);
		*in = inp[1];
	}
	return (pid);
}

/*
 * Start a program that says READY=1 on NOTIFY_SOCKET, as under systemd
 * (relogd, rsyslogd), and wait for that: the socket is bound at notify,
 * the program's stderr appended to errpath, and setup(arg), if not NULL,
 * runs in the child before exec. Returns its pid. It exiting first (the
 * failure quotes errpath) or saying nothing in time fails, the child
 * killed.
 */
pid_t
harness_start_ready(const char *name, const char *notify,
    const char *const *argv, const char *errpath, void (*setup)(void *),
    void *arg)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	char env_notify[sizeof sun.sun_path + 16], buf[256], *log;
	struct pollfd pfd[2];
	ssize_t n;
	int nfd, errfd;
	pid_t pid, parent;

	if (strlen(notify) >= sizeof sun.sun_path)
		harness_fail("%s: too long for a socket", notify);
	memcpy(sun.sun_path, notify, strlen(notify) + 1);
	unlink(sun.sun_path);
	nfd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (nfd < 0 || bind(nfd, (struct sockaddr *)&sun, sizeof sun) != 0)
		harness_fail("%s: %s", notify, strerror(errno));
	snprintf(env_notify, sizeof env_notify, "NOTIFY_SOCKET=%s", notify);
	errfd = open(errpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (errfd < 0)
		harness_fail("%s: %s", errpath, strerror(errno));
	parent = getpid();
	pid = fork();
	if (pid < 0)
		harness_fail("fork: %s", strerror(errno));
	if (pid == 0) {
		harness_die_with_parent(parent);
		dup2(errfd, STDERR_FILENO);
		putenv(env_notify);
		if (setup != NULL)
			setup(arg);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(errfd);

	/* Ready, or dead: whichever comes first. */
	pfd[0].fd = nfd;
	pfd[0].events = POLLIN;
	pfd[1].fd = harness_pidfd(pid);
	pfd[1].events = POLLIN;
	if (pfd[1].fd < 0)
		harness_fail("pidfd_open: %s", strerror(errno));
	for (;;) {
		n = poll(pfd, 2, HARNESS_DAEMON_TIMEOUT_MS);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0 || pfd[1].revents != 0) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			if (n <= 0)
				harness_fail("%s did not get ready in time",
				    name);
			log = harness_read_file(errpath, NULL);
			harness_fail("%s exited at start: %s", name,
			    log != NULL ? log : "");
		}
		n = recv(nfd, buf, sizeof buf - 1, 0);
		if (n <= 0)
			harness_fail("%s: recv: %s", notify, strerror(errno));
		buf[n] = '\0';
		if (strstr(buf, "READY=1") != NULL)
			break;
	}
	close(pfd[1].fd);
	close(nfd);
	return (pid);
}

/* In relogd's child, before exec: the limits and the socket it is given. */
static void
harness_daemon_setup(void *arg)
{
	const struct harness *h = arg;
	char buf[32];

	if (h->nofile != 0) {
		struct rlimit rl = { h->nofile, h->nofile };

		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (h->fsize != 0) {
		struct rlimit rl = { (rlim_t)h->fsize, (rlim_t)h->fsize };

		setrlimit(RLIMIT_FSIZE, &rl);
	}
	if (h->listen_fd >= 0) {
		/* Socket activation: fd 3, LISTEN_PID, LISTEN_FDS. */
		snprintf(buf, sizeof buf, "%ld", (long)getpid());
		setenv("LISTEN_PID", buf, 1);
		setenv("LISTEN_FDS", "1", 1);
		dup2(h->listen_fd, 3);
	}
}

/*
 * Start relogd on the harness's socket and log directory, with extra
 * arguments (NULL-terminated, may be NULL), and wait for its READY=1.
 */
void
harness_daemon_start(struct harness *h, const char *const *extra)
{
	const char *argv[32], *full[48];
	char notify[sizeof h->dir + 8];
	size_t argc = 0, i;

	argv[argc++] = h->relogd != NULL ? h->relogd :
	    harness_build_path("relogd");
	/* Not the machine's /etc/relogd/relogd.conf (a test's own wins). */
	argv[argc++] = "--config";
	argv[argc++] = "/dev/null";
	argv[argc++] = "--socket";
	argv[argc++] = h->socket;
	argv[argc++] = "--log-dir";
	argv[argc++] = h->log_dir;
	argv[argc++] = "--state-dir";
	argv[argc++] = h->state_dir;
	for (i = 0; extra != NULL && extra[i] != NULL && argc < 31; i++)
		argv[argc++] = extra[i];
	argv[argc] = NULL;
	harness_argv(full, sizeof full / sizeof full[0], argv);
	snprintf(notify, sizeof notify, "%s/notify", h->dir);
	h->daemon = harness_start_ready("relogd", notify, full, h->stderr_path,
	    harness_daemon_setup, h);
}

/*
 * Start relogd as systemd's socket activation does: the harness's socket
 * bound and listening (with backlog), handed over as fd 3, and relogd
 * told to bind DIR/unused.sock, which it must not. Returns 0 or -1.
 */
int
harness_daemon_start_activated(struct harness *h, int backlog,
    const char *const *extra)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };

	if (strlen(h->socket) >= sizeof sun.sun_path)
		return (-1);
	memcpy(sun.sun_path, h->socket, strlen(h->socket) + 1);
	/* Not close-on-exec: it may be fd 3 already (dup2 then keeps it). */
	h->listen_fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (h->listen_fd < 0 || bind(h->listen_fd, (struct sockaddr *)&sun,
	    sizeof sun) != 0 || listen(h->listen_fd, backlog) != 0) {
		if (h->listen_fd >= 0)
			close(h->listen_fd);
		h->listen_fd = -1;
		return (-1);
	}
	snprintf(h->socket, sizeof h->socket, "%s/unused.sock", h->dir);
	harness_daemon_start(h, extra);
	close(h->listen_fd);
	h->listen_fd = -1;
	memcpy(h->socket, sun.sun_path, strlen(sun.sun_path) + 1);
	return (0);
}

/* Send relogd sig and wait for it to end. Returns its exit status. */
static int
harness_daemon_end(struct harness *h, int sig)
{
	int status;

	if (h->daemon <= 0 || kill(h->daemon, sig) != 0)
		harness_fail("relogd is not running");
	status = harness_wait(h->daemon, HARNESS_DAEMON_TIMEOUT_MS);
	h->daemon = -1;
	return (status);
}

/* SIGTERM relogd and wait for it. Returns its exit status. */
int
harness_daemon_stop(struct harness *h)
{
	return (harness_daemon_end(h, SIGTERM));
}

/* SIGKILL relogd and wait for it. Returns its exit status. */
int
harness_daemon_kill(struct harness *h)
{
	return (harness_daemon_end(h, SIGKILL));
}

/* Connect to relogd's socket. */
int
harness_connect(const struct harness *h)
{
	int fd;

	fd = proto_client_connect(h->socket);
	if (fd < 0)
		harness_fail("connect %s: %s", h->socket, strerror(-fd));
	return (fd);
}

/* Read a whole file, NUL-terminated (free it). NULL if it cannot. */
char *
harness_read_file(const char *path, size_t *lenp)
{
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return (NULL);
	return (harness_read_fd(fd, lenp));
}

/* The contents of a plugin's log file (free it), or NULL. */
char *
harness_plugin_log(const struct harness *h, const char *plugin)
{
	char path[512];

	snprintf(path, sizeof path, "%s/%s.log", h->log_dir, plugin);
	return (harness_read_file(path, NULL));
}

/*
 * strstr(text, needle), in time linear in the text it passes over. GCC's
 * ASan measures strstr's whole haystack at every call, which makes a loop
 * of strstr over a log quadratic: over 100,000 lines test_ctl_exec_fast
 * ran past its 120 s. Its strchr and strncmp read only as far as they go.
 */
const char *
harness_find(const char *text, const char *needle)
{
	size_t len = strlen(needle);

	if (len == 0)
		return (text);
	for (; (text = strchr(text, needle[0])) != NULL; text++) {
		if (strncmp(text, needle, len) == 0)
			return (text);
	}
	return (NULL);
}

/* How often needle occurs in text. */
size_t
harness_count(const char *text, const char *needle)
{
	size_t n = 0, len = strlen(needle);

	while (text != NULL && (text = harness_find(text, needle)) != NULL) {
		n++;
		text += len;
	}
	return (n);
}

/*
 * Wait for an inotify event until the deadline (CLOCK_MONOTONIC ms), and
 * take all that came. Returns 0, or -1 on timeout.
 */
static int
harness_inotify_wait(int fd, int64_t deadline)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	char events[4096];
	int64_t now = harness_now_ms();

	if (now >= deadline || poll(&pfd, 1, (int)(deadline - now)) <= 0)
		return (-1);
	while (read(fd, events, sizeof events) > 0)
		;
	return (0);
}

/* Wait until relogd's stderr holds needle at least n times (see below). */
int
harness_daemon_await(const struct harness *h, const char *needle, size_t n,
    int timeout_ms)
{
	return (harness_await_file(h->stderr_path, needle, n, timeout_ms));
}

/*
 * Wait until a file holds needle at least n times, watching its folder
 * with inotify. Returns 0, or -1 on timeout.
 */
int
harness_await_file(const char *path, const char *needle, size_t n,
    int timeout_ms)
{
	struct pollfd pfd = { .events = POLLIN };
	char dir[512], *text, *slash;
	int64_t deadline = harness_now_ms() + timeout_ms;
	size_t found;

	pfd.fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	/* The folder: the file may not exist yet. */
	snprintf(dir, sizeof dir, "%s", path);
	slash = strrchr(dir, '/');
	if (slash != NULL)
		*slash = '\0';
	if (pfd.fd < 0 || inotify_add_watch(pfd.fd, slash != NULL ? dir : ".",
	    IN_MODIFY | IN_CREATE | IN_MOVED_TO) < 0)
		harness_fail("inotify on %s: %s", dir, strerror(errno));
	for (;;) {
		text = harness_read_file(path, NULL);
		found = harness_count(text, needle);
		free(text);
		if (found >= n)
			break;
		if (harness_inotify_wait(pfd.fd, deadline) != 0) {
			close(pfd.fd);
			return (-1);
		}
	}
	close(pfd.fd);
	return (0);
}

/*
 * Start test-runner with RELOG_RUNNER_ID=runner, RELOG_PLUGIN=plugin (if
 * not NULL), a ring of queue records and the given arguments
 * (NULL-terminated). out and in, if not NULL, get its stdout and stdin.
 */
pid_t
harness_runner_env(const struct harness *h, const char *runner,
    const char *plugin, const char *queue, const char *const *args,
    int *out, int *in)
{
	return (harness_runner_more(h, runner, plugin, queue, args, NULL, out,
	    in));
}

/* The same, with one more variable in its environment (or NULL). */
pid_t
harness_runner_more(const struct harness *h, const char *runner,
    const char *plugin, const char *queue, const char *const *args,
    const char *more, int *out, int *in)
{
	const char *list[] = { more, NULL };

	return (harness_runner_list(h, runner, plugin, queue, args, list, out,
	    in));
}

/*
 * The same, with the variables of more (up to 4, NULL-terminated) in its
 * environment; the last RELOG_OPEN_WAIT_MS wins.
 */
pid_t
harness_runner_list(const struct harness *h, const char *runner,
    const char *plugin, const char *queue, const char *const *args,
    const char *const *more, int *out, int *in)
{
	static char env[4][4][320];
	static int slot;
	char (*e)[320] = env[slot++ % 4];
	const char *envp[10], *argv[16], *full[32];
	size_t n = 0, ne = 4, i;

	snprintf(e[0], sizeof e[0], "RELOG_SOCKET=%s", h->socket);
	snprintf(e[1], sizeof e[1], "RELOG_RUNNER_ID=%s", runner);
	snprintf(e[2], sizeof e[2], "RELOG_QUEUE_MAX=%s", queue);
	snprintf(e[3], sizeof e[3], "RELOG_PLUGIN=%s",
	    plugin != NULL ? plugin : "");
	for (i = 0; i < 4; i++)
		envp[i] = e[i];
	/*
	 * Under valgrind a hello takes longer than librelog waits for it by
	 * default; a runner that dies at once must still have handed its
	 * ring over, as it does at full speed.
	 */
	if (getenv("RELOG_VALGRIND") != NULL)
		envp[ne++] = "RELOG_OPEN_WAIT_MS=10000";
	for (i = 0; more != NULL && more[i] != NULL && i < 4; i++)
		envp[ne++] = more[i];
	envp[ne] = NULL;
	argv[n++] = harness_build_path("test-runner");
	for (i = 0; args[i] != NULL && n < 15; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	harness_argv(full, sizeof full / sizeof full[0], argv);
	return (harness_spawn(full, envp, out, in));
}

/* Start test-runner with a ring of 16384 records (see harness_runner_env). */
pid_t
harness_runner(const struct harness *h, const char *runner,
    const char *plugin, const char *const *args, int *out)
{
	return (harness_runner_env(h, runner, plugin, "16384", args, out, NULL));
}

/*
 * Check that text holds exactly count records of runner's thread, with seq
 * 0 .. count-1 in that order.
 */
void
harness_check_sequence(const char *text, const char *runner, int thread,
    long count)
{
	char tag[128];
	const char *p = text;
	long expect = 0, seq;
	size_t taglen;

	if (text == NULL)
		harness_fail("runner %s: no text to look in", runner);
	taglen = (size_t)snprintf(tag, sizeof tag, "runner=%s thread=%d seq=",
	    runner, thread);
	while ((p = harness_find(p, tag)) != NULL) {
		p += taglen;
		seq = strtol(p, NULL, 10);
		if (seq != expect)
			harness_fail("runner %s: seq %ld where %ld was due",
			    runner, seq, expect);
		expect++;
	}
	if (expect != count)
		harness_fail("runner %s: %ld records, not %ld", runner, expect,
		    count);
}

/*
 * Check that every record 0 .. count-1 of runner's thread 0 is in text, the
 * first time each appears in order, and that at most max_dups appear again
 * (batches resent around a relogd that was killed).
 */
void
harness_check_delivered(const char *text, const char *runner, long count,
    long max_dups)
{
	char tag[128];
	const char *p = text;
	long next = 0, seq, dups = 0;
	size_t taglen;

	if (text == NULL)
		harness_fail("runner %s: no text to look in", runner);
	taglen = (size_t)snprintf(tag, sizeof tag, "runner=%s thread=0 seq=",
	    runner);
	while ((p = harness_find(p, tag)) != NULL) {
		p += taglen;
		seq = strtol(p, NULL, 10);
		if (seq < next) {
			dups++;
			continue;
		}
		if (seq != next)
			harness_fail("runner %s: seq %ld where %ld was due",
			    runner, seq, next);
		next++;
	}
	if (next != count)
		harness_fail("runner %s: %ld records, not %ld", runner, next,
		    count);
	if (dups > max_dups)
		harness_fail("runner %s: %ld duplicates, more than %ld",
		    runner, dups, max_dups);
}

/* Count the lines of a text. */
size_t
harness_lines(const char *text)
{
	return (harness_count(text, "\n"));
}

/*
 * A number of /proc/PID/status ("VmRSS" and "VmHWM" in KiB,
 * "voluntary_ctxt_switches"), or -1.
 */
long
harness_status_num(pid_t pid, const char *field)
{
	char path[64], line[256];
	size_t len = strlen(field);
	long kb = -1;
	FILE *f;

	snprintf(path, sizeof path, "/proc/%ld/status", (long)pid);
	if ((f = fopen(path, "re")) == NULL)
		return (-1);
	while (fgets(line, sizeof line, f) != NULL) {
		if (strncmp(line, field, len) == 0 && line[len] == ':')
			kb = strtol(line + len + 1, NULL, 10);
	}
	fclose(f);
	return (kb);
}

/* relogd's resident memory in KiB (VmRSS). */
long
harness_rss_kb(const struct harness *h)
{
	long kb = harness_status_num(h->daemon, "VmRSS");

	if (kb <= 0)
		harness_fail("relogd %ld: no VmRSS", (long)h->daemon);
	return (kb);
}

/*
 * Make a plugin's log file full: relogd will run with a file size limit
 * (RLIMIT_FSIZE, set by harness_daemon_start) and the file is that big
 * already, so that its sink stalls until the test empties it. Call before
 * relogd starts. Returns its path (static, valid until the next call).
 */
const char *
harness_fill_log(struct harness *h, const char *plugin, long limit)
{
	static char path[512];
	int fd;

	h->fsize = limit;
	if (mkdir(h->log_dir, 0755) != 0 && errno != EEXIST)
		harness_fail("%s: %s", h->log_dir, strerror(errno));
	snprintf(path, sizeof path, "%s/%s.log", h->log_dir, plugin);
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0 || ftruncate(fd, limit) != 0)
		harness_fail("%s: %s", path, strerror(errno));
	close(fd);
	return (path);
}

/*
 * Write a config file in the test's folder; returns its path (static,
 * valid until the next call).
 */
const char *
harness_config(const struct harness *h, const char *text)
{
	static char path[512];

	snprintf(path, sizeof path, "%s/relogd.conf", h->dir);
	harness_write_file(path, text);
	return (path);
}

/* Write text to a file, replacing it. */
void
harness_write_file(const char *path, const char *text)
{
	FILE *f;

	f = fopen(path, "w");
	if (f == NULL)
		harness_fail("%s: %s", path, strerror(errno));
	if (fputs(text, f) < 0 || fclose(f) != 0)
		harness_fail("%s: %s", path, strerror(errno));
}

/*
 * Enter a mount namespace of the caller's own, mounts private, where it
 * can mount small tmpfs as full disks (root only).
 */
void
harness_unshare_mounts(void)
{
	if (unshare(CLONE_NEWNS) != 0)
		harness_fail("unshare: %s (this test needs root)",
		    strerror(errno));
	if (mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
		harness_fail("mount: %s", strerror(errno));
}

/* Fill the file system of dir: a file there takes all the room it has. */
void
harness_fill(const char *dir)
{
	static char block[65536];
	char path[PATH_MAX];
	int fd;

	snprintf(path, sizeof path, "%s/filler", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		harness_fail("%s: %s", path, strerror(errno));
	while (write(fd, block, sizeof block) > 0)
		;
	while (write(fd, block, 1) > 0)
		;
	if (errno != ENOSPC)
		harness_fail("%s: %s, not full", path, strerror(errno));
	close(fd);
}

/* Give the room harness_fill took back. */
void
harness_unfill(const char *dir)
{
	char path[PATH_MAX];

	snprintf(path, sizeof path, "%s/filler", dir);
	if (unlink(path) != 0)
		harness_fail("%s: %s", path, strerror(errno));
}

/* Read an fd to its end, NUL-terminated (free it; the fd is closed). */
char *
harness_read_fd(int fd, size_t *lenp)
{
	char *buf = NULL, *p;
	size_t len = 0, cap = 0;
	ssize_t n;

	for (;;) {
		if (cap - len < 65536) {
			cap = cap != 0 ? cap * 2 : 131072;
			if ((p = realloc(buf, cap)) == NULL)
				harness_fail("out of memory");
			buf = p;
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			harness_fail("read: %s", strerror(errno));
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	if (lenp != NULL)
		*lenp = len;
	return (buf);
}

/* Wait until a path exists, watching its folder with inotify. */
int
harness_await_path(const char *path, int timeout_ms)
{
	struct pollfd pfd = { .events = POLLIN };
	char dir[512], *slash;
	int64_t deadline = harness_now_ms() + timeout_ms;

	snprintf(dir, sizeof dir, "%s", path);
	if ((slash = strrchr(dir, '/')) == NULL)
		harness_fail("%s: not a path", path);
	*slash = '\0';
	pfd.fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	if (pfd.fd < 0 || inotify_add_watch(pfd.fd, dir, IN_CREATE |
	    IN_MOVED_TO) < 0)
		harness_fail("inotify on %s: %s", dir, strerror(errno));
	while (access(path, F_OK) != 0) {
		if (harness_inotify_wait(pfd.fd, deadline) != 0) {
			close(pfd.fd);
			return (-1);
		}
	}
	close(pfd.fd);
	return (0);
}

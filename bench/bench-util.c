/*
 * relog-bench's ground (relog-bench.h): dying with the children stopped,
 * clocks and percentiles, counting a log's lines, the scheduling groups,
 * starting and stopping relogd, and a runner's handle.
 */
#include <sys/stat.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "relog-bench.h"

static void bench_cg_remove(void);

/*
 * Kill the process group and reap our children; what is left after 10 s
 * (SIGALRM: bench_on_signal) is killed outright with the cgroups' help.
 * Async-signal-safe.
 */
static void
bench_stop_all(void)
{
	signal(SIGTERM, SIG_IGN);
	kill(0, SIGTERM);
	alarm(10);
	while (waitpid(-1, NULL, 0) > 0)
		;
	alarm(0);
}

/* Say what went wrong and stop, the children first. */
void __attribute__((noreturn, format(printf, 1, 2)))
bench_fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("relog-bench: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	bench_stop_all();
	exit(1);
}

/*
 * SIGTERM, from a child's bench_fatal (it signals the group) or a user:
 * stop the children, remove the cgroups, exit. SIGALRM: children that
 * outlived bench_stop_all's 10 s; bench_cg_remove kills them.
 */
void
bench_on_signal(int sig)
{
	if (sig == SIGTERM)
		bench_stop_all();
	bench_cg_remove();
	_exit(1);
}

/* The harness's failures are the bench's. */
void
harness_fail(const char *fmt, ...)
{
	char msg[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	bench_fatal("%s", msg);
}

/* Format a path; one that does not fit is fatal. */
void __attribute__((format(printf, 3, 4)))
bench_path(char *out, size_t len, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(out, len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= len)
		bench_fatal("path too long: %s", out);
}

/* The p-th percentile (0..1) of n sorted values. */
uint64_t
bench_pct(const uint64_t *v, size_t n, double p)
{
	size_t i = (size_t)(p * (double)(n - 1) + 0.5);

	return (v[i < n ? i : n - 1]);
}

/*
 * Wait, looking every 20 ms, until count(path) less base reaches want,
 * stops growing for a second, or BENCH_TIMEOUT_MS has passed. Returns what
 * it reached; *end, if not NULL, gets when it reached want or last grew
 * (measure_now_ns).
 */
uint64_t
bench_await_lines(uint64_t (*count)(const char *), const char *path,
    uint64_t base, uint64_t want, uint64_t *end)
{
	struct timespec tick = { 0, 20000000 };
	uint64_t start = measure_now_ns(), changed = start, n, seen = 0;

	for (;;) {
		n = count(path) - base;
		if (n >= want) {
			changed = measure_now_ns();
			break;
		}
		if (n != seen) {
			seen = n;
			changed = measure_now_ns();
		} else if (measure_now_ns() - changed > 1000000000u)
			break;
		if (measure_now_ns() - start > BENCH_TIMEOUT_MS * 1000000ull)
			break;
		nanosleep(&tick, NULL);
	}
	if (end != NULL)
		*end = changed;
	return (n);
}

/* Count the newlines of a file. */
uint64_t
bench_lines(const char *path)
{
	char buf[1 << 16];
	uint64_t n = 0;
	ssize_t got, i;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return (0);
	while ((got = read(fd, buf, sizeof buf)) > 0) {
		for (i = 0; i < got; i++)
			n += buf[i] == '\n';
	}
	close(fd);
	return (n);
}

/* Sum the lines of every file in a folder. */
uint64_t
bench_dir_lines(const char *dir)
{
	char path[PATH_MAX + 256];
	struct dirent *de;
	uint64_t n = 0;
	DIR *d;

	d = opendir(dir);
	if (d == NULL)
		return (0);
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		bench_path(path, sizeof path, "%s/%s", dir, de->d_name);
		n += bench_lines(path);
	}
	closedir(d);
	return (n);
}

const char *bench_relogd_path;
const char *bench_out;
const char *bench_self;

/*
 * Scheduling groups, as on a host run by systemd: relogd.service runs in
 * a cgroup of its own with CPUWeight=400 (which turns the cpu controller
 * on), beside the runtime's unit that holds the runners, so that the
 * kernel shares the CPUs between the two first and 64 runners weigh no
 * more against relogd than 8 do. The bench makes two cgroups when it can
 * (as root, under cgroup v1's cpu hierarchy, or at the root of cgroup v2):
 * the clients', which it joins itself, so that every runner it starts is
 * in it from the start, and the daemons', weighing 400 to 100, into which
 * it moves relogd and rsyslogd (given the same weight) once they are
 * ready. At exit it leaves them, kills what is still in them and removes
 * them; v2's cpu controller, if it turned it on, it turns off again. If it
 * cannot make them, every process stays in the bench's own, and the table
 * says so. One row moves relogd into the clients' cgroup, to show what the
 * weight is worth.
 */
static char bench_cg_base[PATH_MAX];
char bench_cg_daemons[PATH_MAX];
char bench_cg_clients[PATH_MAX];
static int bench_cg_v2_on;	/* we turned cpu on in v2's root */
char bench_cg_kind[160] = "one cgroup, the bench's own (it makes "
    "them as root only, under cgroup v1 or at v2's root)";

/* Write a short text to a cgroup file. Returns 0 or -1 (errno set). */
static int
bench_cg_write(const char *dir, const char *file, const char *text)
{
	char path[PATH_MAX + 32];
	ssize_t n, len = (ssize_t)strlen(text);
	int fd;

	if (snprintf(path, sizeof path, "%s/%s", dir, file) >=
	    (int)sizeof path) {
		errno = ENAMETOOLONG;
		return (-1);
	}
	if ((fd = open(path, O_WRONLY | O_CLOEXEC)) < 0)
		return (-1);
	n = write(fd, text, (size_t)len);
	close(fd);
	if (n >= 0 && n != len)
		errno = EIO;
	return (n == len ? 0 : -1);
}

/* Put a process (all its threads) into a cgroup made by bench_cg_make. */
void
bench_cg_join(const char *cg, pid_t pid)
{
	char text[32];

	if (cg[0] == '\0')
		return;
	snprintf(text, sizeof text, "%ld\n", (long)pid);
	if (bench_cg_write(cg, "cgroup.procs", text) != 0)
		bench_fatal("cannot move %ld into %s: %s", (long)pid, cg,
		    strerror(errno));
}

/* Say something from a signal handler: write(2) only. */
static void
bench_say(const char *a, const char *b)
{
	ssize_t n;

	n = write(STDERR_FILENO, a, strlen(a));
	n = write(STDERR_FILENO, b, strlen(b));
	n = write(STDERR_FILENO, "\n", 1);
	(void)n;
}

/*
 * SIGKILL whatever is in a cgroup but us, and remove it: tried for a
 * second while the killed exit. Async-signal-safe.
 */
static void
bench_cg_drop(const char *cg)
{
	static char text[4096];
	char path[PATH_MAX + 32];
	struct timespec tick = { 0, 10 * 1000 * 1000 };
	ssize_t n;
	long pid;
	int fd, i;
	char *p;

	if (cg[0] == '\0')
		return;
	memcpy(path, cg, strlen(cg));
	memcpy(path + strlen(cg), "/cgroup.procs", 14);
	for (i = 0; i < 100; i++) {
		if (rmdir(cg) == 0 || errno == ENOENT)
			return;
		if ((fd = open(path, O_RDONLY | O_CLOEXEC)) >= 0) {
			n = read(fd, text, sizeof text - 1);
			close(fd);
			text[n > 0 ? n : 0] = '\0';
			for (p = text; *p != '\0'; p++) {
				for (pid = 0; *p >= '0' && *p <= '9'; p++)
					pid = pid * 10 + (*p - '0');
				if (pid > 0 && pid != (long)getpid())
					kill((pid_t)pid, SIGKILL);
				if (*p == '\0')
					break;
			}
		}
		while (waitpid(-1, NULL, WNOHANG) > 0)
			;
		nanosleep(&tick, NULL);
	}
	bench_say("relog-bench: cannot remove ", cg);
}

/* Leave and remove the cgroups (at exit, and from signal handlers). */
static void
bench_cg_remove(void)
{
	char text[32];
	long pid = (long)getpid();
	int i = (int)sizeof text - 1;

	if (bench_cg_base[0] == '\0')
		return;
	text[i--] = '\0';
	text[i--] = '\n';
	do
		text[i--] = (char)('0' + pid % 10);
	while ((pid /= 10) > 0);
	if (bench_cg_write(bench_cg_base, "cgroup.procs", text + i + 1) != 0)
		bench_say("relog-bench: cannot leave ", bench_cg_clients);
	bench_cg_drop(bench_cg_daemons);
	bench_cg_drop(bench_cg_clients);
	if (bench_cg_v2_on)
		bench_cg_write(bench_cg_base, "cgroup.subtree_control", "-cpu");
	bench_cg_base[0] = '\0';
}

/* Is the bench itself in the root of cgroup v2 (/proc/self/cgroup "0::/")? */
static int
bench_cg_v2_root(void)
{
	char line[256];
	FILE *f = fopen("/proc/self/cgroup", "re");
	int root = 0;

	if (f == NULL)
		return (0);
	while (fgets(line, sizeof line, f) != NULL)
		if (strcmp(line, "0::/\n") == 0)
			root = 1;
	fclose(f);
	return (root);
}

/* Has v2's root the cpu controller on for its children already? */
static int
bench_cg_v2_cpu_on(void)
{
	char line[256];
	FILE *f = fopen("/sys/fs/cgroup/cgroup.subtree_control", "re");
	int on = 0;
	char *w;

	if (f == NULL)
		return (0);
	if (fgets(line, sizeof line, f) != NULL)
		for (w = strtok(line, " \n"); w != NULL; w = strtok(NULL, " \n"))
			on |= strcmp(w, "cpu") == 0;
	fclose(f);
	return (on);
}

/* Make the two cgroups, weigh them and join the clients', if we can. */
void
bench_cg_make(void)
{
	char weight[16];
	int v1;

	if (geteuid() != 0)
		return;
	if (access("/sys/fs/cgroup/cpu/cpu.shares", W_OK) == 0) {
		snprintf(bench_cg_base, sizeof bench_cg_base,
		    "/sys/fs/cgroup/cpu");
		v1 = 1;
	} else if (bench_cg_v2_root() && access("/sys/fs/cgroup/cgroup."
	    "subtree_control", W_OK) == 0) {
		snprintf(bench_cg_base, sizeof bench_cg_base, "/sys/fs/cgroup");
		v1 = 0;
		if (!bench_cg_v2_cpu_on()) {
			if (bench_cg_write(bench_cg_base,
			    "cgroup.subtree_control", "+cpu") != 0) {
				bench_cg_base[0] = '\0';
				return;
			}
			bench_cg_v2_on = 1;
		}
	} else
		return;
	bench_path(bench_cg_daemons, sizeof bench_cg_daemons,
	    "%s/relog-bench-%ld-daemons", bench_cg_base, (long)getpid());
	bench_path(bench_cg_clients, sizeof bench_cg_clients,
	    "%s/relog-bench-%ld-clients", bench_cg_base, (long)getpid());
	atexit(bench_cg_remove);
	if (mkdir(bench_cg_daemons, 0755) != 0 ||
	    mkdir(bench_cg_clients, 0755) != 0)
		bench_fatal("cannot make %s: %s", bench_cg_clients,
		    strerror(errno));
	/* systemd's own conversion on v1: shares = weight * 1024 / 100. */
	snprintf(weight, sizeof weight, "%d\n", v1 ?
	    BENCH_DAEMON_WEIGHT * 1024 / 100 : BENCH_DAEMON_WEIGHT);
	if (bench_cg_write(bench_cg_daemons, v1 ? "cpu.shares" : "cpu.weight",
	    weight) != 0)
		bench_fatal("cannot weigh %s: %s", bench_cg_daemons,
		    strerror(errno));
	bench_cg_join(bench_cg_clients, getpid());
	snprintf(bench_cg_kind, sizeof bench_cg_kind, "cgroups (%s) of their "
	    "own, the daemons' weighing %d to the runners' 100 (CPUWeight=)",
	    v1 ? "v1" : "v2", BENCH_DAEMON_WEIGHT);
}

/*
 * Start a relogd in OUTDIR/NAME, the harness's folder (its own socket, and
 * logs and state it starts without), with these settings (an INI text, or
 * NULL) and a Fluent Forward socket OUTDIR/NAME/fwd.
 */
void
bench_relogd_start(struct harness *h, const char *name, const char *config)
{
	char dir[PATH_MAX], fwd[PATH_MAX];
	const char *argv[] = { "--config", NULL, "--rate-limit", "off",
	    "--forward-socket", fwd, NULL };

	bench_path(dir, sizeof dir, "%s/%s", bench_out, name);
	harness_init_at(h, dir);
	h->relogd = bench_relogd_path;
	bench_path(fwd, sizeof fwd, "%s/fwd", h->dir);
	argv[1] = harness_config(h, config != NULL ? config : "");
	harness_daemon_start(h, argv);
	bench_cg_join(bench_cg_daemons, h->daemon);
}

/*
 * Stop it (SIGTERM: it writes everything), then remove its logs, which can
 * be large, and its state: relogd.stderr and relogd.conf stay.
 */
void
bench_relogd_stop(struct harness *h)
{
	if (harness_daemon_stop(h) != 0)
		bench_fatal("relogd in %s did not stop cleanly", h->dir);
	harness_cleanup(h);
}

/* Fill a message of BENCH_MSG_SIZE bytes: "seq=NNNNNNNNNN " and padding. */
void
bench_message(char *msg, uint64_t seq)
{
	int i;

	memcpy(msg, "seq=", 4);
	for (i = 13; i >= 4; i--) {
		msg[i] = (char)('0' + seq % 10);
		seq /= 10;
	}
	msg[14] = ' ';
	memset(msg + 15, 'x', BENCH_MSG_SIZE - 15);
	msg[BENCH_MSG_SIZE] = '\0';
}

/* Open a handle on a socket; queue 0 takes the default. */
relog_t *
bench_open(const char *socket, const char *runner, size_t queue)
{
	struct relog_opts o = {
		.sz = sizeof o,
		.socket_path = socket,
		.runner_id = runner,
		.queue_max = queue,
	};
	relog_t *h = relog_open(&o);

	if (h == NULL)
		bench_fatal("relog_open: %s", strerror(errno));
	return (h);
}

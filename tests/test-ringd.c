/*
 * relogd's shared-ring intake, driven by runners of the test's own making:
 * a ring (shim/shm-ring.c) and its wake socket passed with a raw hello, so
 * that a test can hand relogd exactly the ring, the descriptors and the
 * damage it means to; and librelog's runners when relogd turns rings off.
 */
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <linux/sockios.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "proto-ring.h"
#include "relog-ring.h"
#include "shm-ring.h"
#include "tests.h"

#define RD_WAIT_MS 30000	/* for relogd, under valgrind too */

static struct harness H;

/* A runner of the test's making: its ring, wake socket, connection. */
struct rd_runner {
	const char *id;
	struct shm_ring *ring;
	int wake[2];		/* [0] the producers', [1] relogd's */
	int wakes;		/* the wake callback's calls */
	int mute;		/* the callback sends nothing: a wakeup lost */
	int fd;
	int64_t next_request;
};

static void
rd_setup(void)
{
	harness_init(&H);
}

static void
rd_teardown(void)
{
	harness_cleanup(&H);
}

/* The wake callback: one datagram, never blocking. */
static void
rd_wake(void *arg)
{
	struct rd_runner *r = arg;

	r->wakes++;
	if (!r->mute)
		(void)!send(r->wake[0], "w", 1, MSG_DONTWAIT | MSG_NOSIGNAL);
}

/* Make the ring (of lanes) and wake socket of a runner, not connected yet. */
static void
rd_make_lanes(struct rd_runner *r, const char *id, uint32_t slots,
    unsigned lanes)
{
	memset(r, 0, sizeof *r);
	r->id = id;
	r->fd = -1;
	r->next_request = 2;
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0,
	    r->wake), 0);
	ck_assert_int_eq(shm_ring_create_lanes(&r->ring, slots, lanes, rd_wake,
	    r), 0);
}

/* The same with a ring of one lane. */
static void
rd_make(struct rd_runner *r, const char *id, uint32_t slots)
{
	rd_make_lanes(r, id, slots, 1);
}

/* Connect and pass the ring with the hello; returns wire_reply's word. */
static const char *
rd_connect(struct rd_runner *r, const char *plugin)
{
	int fds[2] = { shm_ring_fd(r->ring), r->wake[1] }, eof;

	r->fd = harness_connect(&H);
	wire_hello_fds(r->fd, r->id, plugin, RELOG_RING_VERSION, fds, 2);
	return (wire_reply(r->fd, 0, &eof));
}

/* A runner connected with its ring taken. */
static void
rd_open(struct rd_runner *r, const char *id, const char *plugin)
{
	rd_make(r, id, 1024);
	ck_assert_str_eq(rd_connect(r, plugin), "accepted, ring, recheck");
}

static void
rd_close(struct rd_runner *r)
{
	if (r->fd >= 0)
		close(r->fd);
	close(r->wake[0]);
	close(r->wake[1]);
	shm_ring_destroy(r->ring);
	r->fd = -1;
}

/*
 * Push records "runner=<id> thread=0 seq=<i>", i from first, n of them,
 * as harness_check_sequence reads them (then a space and pad zeros, if
 * pad); each must be taken, unless the ring is being scribbled on (any).
 */
static void
rd_push_padded(struct rd_runner *r, const char *logger, long first, long n,
    size_t pad, int any)
{
	struct shm_ring_record rec = { .level = RELOG_LEVEL_INFO };
	char msg[128 + 1000];
	long i;

	ck_assert_uint_le(pad, 1000);
	rec.name = logger;
	rec.name_len = strlen(logger);
	rec.exc = "";
	rec.msg = msg;
	for (i = first; i < first + n; i++) {
		rec.msg_len = (size_t)snprintf(msg, sizeof msg,
		    "runner=%s thread=0 seq=%ld", r->id, i);
		if (pad != 0) {
			msg[rec.msg_len++] = ' ';
			memset(msg + rec.msg_len, '0', pad);
			rec.msg_len += pad;
		}
		if (shm_ring_push(r->ring, &rec) != 0)
			ck_assert(any);
	}
}

/* The same, unpadded. */
static void
rd_push(struct rd_runner *r, const char *logger, long first, long n,
    int any)
{
	rd_push_padded(r, logger, first, n, 0, any);
}

/* Push records that must all be taken. */
static void
rd_emit(struct rd_runner *r, const char *logger, long first, long n)
{
	rd_push(r, logger, first, n, 0);
}

/* Where the ring's producers are. */
static uint64_t
rd_head(const struct rd_runner *r)
{
	struct shm_ring_stats st;

	shm_ring_stats(r->ring, &st);
	return (st.head);
}

/* ring_sync to where producers are; returns once relogd answered. */
static void
rd_sync(struct rd_runner *r)
{
	char want[64];
	uint64_t head = rd_head(r);
	int eof;

	wire_ring_sync(r->fd, r->next_request++, head);
	snprintf(want, sizeof want, "tail=%llu", (unsigned long long)head);
	ck_assert_str_eq(wire_reply(r->fd, 0, &eof), want);
}

/* The plugin's log, once it holds n lines (NULL: it never did). */
static char *
rd_await_log(const char *plugin, size_t n)
{
	char path[512];

	snprintf(path, sizeof path, "%s/%s.log", H.log_dir, plugin);
	ck_assert_int_eq(harness_await_file(path, "\n", n, RD_WAIT_MS), 0);
	return (harness_plugin_log(&H, plugin));
}

/* The log at path holds runner's records 0 to n - 1, each once, and no more. */
static void
rd_each_once(const char *path, const char *runner, long n)
{
	char *text = harness_read_file(path, NULL);

	harness_check_sequence(text, runner, 0, n);
	ck_assert_uint_eq(harness_lines(text), (size_t)n);
	free(text);
}

/* SIGKILL relogd; the runner's connection to it is gone. */
static void
rd_kill_daemon(struct rd_runner *r)
{
	ck_assert_int_eq(harness_daemon_kill(&H), 128 + SIGKILL);
	close(r->fd);
	r->fd = -1;
}

/*
 * Wait until relogd maps at most n rings (peer_await_stat waits for a
 * count to grow; this one goes down as connections go).
 */
static void
rd_await_rings(long long n)
{
	int64_t deadline = harness_now_ms() + RD_WAIT_MS;
	long long v;

	while ((v = peer_stat(&H, NULL, "rings")) > n) {
		ck_assert_msg(harness_now_ms() < deadline, "stats rings is "
		    "%lld, waited for %lld", v, n);
		poll(NULL, 0, 20);
	}
}

/* The records a runner's ring lost, as its headers count them. */
static uint64_t
rd_lost(const struct rd_runner *r)
{
	return (shm_ring_dropped(r->ring));
}

/* The drops relogd's notices in a log said of a runner, summed. */
static uint64_t
rd_drops_said(const char *path, const char *runner)
{
	char needle[64], *log, *p;
	uint64_t sum = 0;

	snprintf(needle, sizeof needle, "runner %s dropped ", runner);
	if ((log = harness_read_file(path, NULL)) == NULL)
		return (0);
	for (p = log; (p = strstr(p, needle)) != NULL; p += strlen(needle))
		sum += strtoull(p + strlen(needle), NULL, 10);
	free(log);
	return (sum);
}

/* Until the notices in a log say n drops of a runner (or fail). */
static void
rd_await_drops_said(const char *path, const char *runner, uint64_t n)
{
	int64_t deadline = harness_now_ms() + RD_WAIT_MS;
	uint64_t said;

	while ((said = rd_drops_said(path, runner)) != n) {
		ck_assert_msg(said < n && harness_now_ms() < deadline,
		    "%llu drops said of %s, not %llu", (unsigned long long)said,
		    runner, (unsigned long long)n);
		nanosleep(&(struct timespec){ 0, 10000000 }, NULL);
	}
}

/*
 * A runner of plugin id connected (relogd runs), whose ring overwrote 6
 * records before its hello (1,030 into 1,024 slots): once the notice in
 * the log at path says them.
 */
static void
rd_open_lost6(struct rd_runner *r, const char *id, const char *path)
{
	char logger[64];

	snprintf(logger, sizeof logger, "plugin.%s", id);
	rd_make(r, id, 1024);
	rd_emit(r, logger, 0, 1030);
	ck_assert_str_eq(rd_connect(r, id), "accepted, ring, recheck");
	rd_sync(r);
	rd_await_drops_said(path, id, 6);
}

/*
 * A ring passed with the hello is taken: records pushed before the hello
 * and after it arrive in order, ring_sync answers once they are written,
 * and stats count the ring and its bytes.
 */
START_TEST(test_ringd_records)
{
	struct rd_runner r;
	char *text;

	harness_daemon_start(&H, NULL);
	rd_make(&r, "rr", 1024);
	rd_emit(&r, "plugin.rr", 0, 300);
	ck_assert_str_eq(rd_connect(&r, NULL), "accepted, ring, recheck");
	rd_emit(&r, "plugin.rr", 300, 700);
	rd_sync(&r);
	/* Answered once written: in the file now. */
	text = harness_plugin_log(&H, "rr");
	harness_check_sequence(text, "rr", 0, 1000);
	free(text);
	ck_assert_int_eq(peer_stat(&H, NULL, "rings"), 1);
	ck_assert_int_eq(peer_stat(&H, NULL, "ring_bytes"),
	    (long long)relog_ring_file_size(1024, 1));
	ck_assert_int_eq(peer_stat(&H, "rr", "written"), 1000);
	rd_close(&r);
	rd_await_rings(0);
	ck_assert_int_eq(peer_stat(&H, NULL, "ring_bytes"), 0);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
}
END_TEST

/* A memfd of size bytes whose header says slots slots, sealed or not. */
static int
rd_memfd(uint64_t size, uint32_t slots, int sealed)
{
	struct relog_ring_header h;
	int fd;

	fd = memfd_create("rd", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, (off_t)size), 0);
	memset(&h, 0, sizeof h);
	h.magic = RELOG_RING_MAGIC;
	h.version = RELOG_RING_VERSION;
	h.header_size = RELOG_RING_HEADER_SIZE;
	h.slot_size = RELOG_RING_SLOT_SIZE;
	h.slot_count = slots;
	h.lane_count = 1;
	ck_assert_int_eq(pwrite(fd, &h, 24, 0), 24);
	if (sealed)
		ck_assert_int_eq(fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK |
		    F_SEAL_GROW | F_SEAL_SEAL), 0);
	return (fd);
}

/*
 * Pass fds (ring or not) with a hello asking for a ring: accepted, the
 * ring refused for why; batches then go over the socket as before.
 */
static void
rd_refused(const char *runner, int *fds, int nfds, const char *why)
{
	char want[160];
	int fd, eof;

	fd = harness_connect(&H);
	wire_hello_fds(fd, runner, NULL, RELOG_RING_VERSION, fds, nfds);
	snprintf(want, sizeof want, "accepted, no ring: %s", why);
	ck_assert_str_eq(wire_reply(fd, 0, &eof), want);
	wire_batch_seq(fd, RELOG_TYPE_REQUEST, "plugin.refused", 3, 0, 0,
	    4096);
	ck_assert_str_eq(wire_reply(fd, 0, &eof), "written=3");
	close(fd);
}

/*
 * Rings relogd could fault on, or will not map, are refused at the hello
 * (the runner falls back to batches): unsealed, truncated (smaller than
 * its header says), larger than max_ring, past max_ring_total, none at
 * all; and all of them when max_ring is 0.
 */
START_TEST(test_ringd_refused)
{
	/* A uid's share (max_ring here) is all of max_ring_total. */
	const char *args[] = { "--config", harness_config(&H, "[relogd]\n"
	    "max_ring = 600000\nmax_ring_total = 600000\n"), NULL };
	const uint64_t good = relog_ring_file_size(1024, 1);
	struct rd_runner big, a, b, c;
	int fds[2], wake[2];
	char *text;

	harness_daemon_start(&H, args);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0,
	    wake), 0);
	fds[1] = wake[1];
	fds[0] = rd_memfd(good, 1024, 0);
	rd_refused("unsealed", fds, 2, "the ring is not sealed against "
	    "shrinking and growing");
	close(fds[0]);
	fds[0] = rd_memfd(good, 2048, 1);
	rd_refused("truncated", fds, 2, "the ring's size is not what its "
	    "header says");
	close(fds[0]);
	rd_refused("none", fds, 0, "the hello must pass the ring and its "
	    "wake socket");
	fds[0] = wake[0];
	rd_refused("nowake", fds, 1, "the hello must pass the ring and its "
	    "wake socket");

	rd_make(&big, "big", 4096);
	ck_assert_str_eq(rd_connect(&big, NULL), "accepted, no ring: it is "
	    "larger than max_ring");
	rd_open(&a, "a", NULL);
	rd_open(&b, "b", NULL);
	rd_make(&c, "c", 1024);
	ck_assert_str_eq(rd_connect(&c, NULL), "accepted, no ring: it is "
	    "over what max_ring_total has left");
	text = harness_plugin_log(&H, "refused");
	ck_assert_uint_eq(harness_lines(text), 12);
	free(text);
	rd_close(&big);
	rd_close(&a);
	rd_close(&b);
	rd_close(&c);
	close(wake[0]);
	close(wake[1]);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
	text = harness_read_file(H.stderr_path, NULL);
	ck_assert_uint_eq(harness_count(text, "(said once)"), 2);
	free(text);

	args[1] = harness_config(&H, "[relogd]\nmax_ring = 0\n");
	harness_daemon_start(&H, args);
	rd_make(&a, "off", 1024);
	ck_assert_str_eq(rd_connect(&a, NULL), "accepted, no ring: rings are "
	    "turned off (max_ring = 0)");
	rd_close(&a);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
}
END_TEST

/*
 * Descriptors anywhere but with the hello, or more than two, drop the
 * connection with one line; a hello that asks for no ring has what it
 * passed closed and is answered as always.
 */
START_TEST(test_ringd_stray_fds)
{
	int p[2], fds[3], fd, eof;
	char *text;

	harness_daemon_start(&H, NULL);
	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	fds[0] = fds[1] = fds[2] = p[0];
	fd = harness_connect(&H);
	wire_hello_fds(fd, "three", NULL, RELOG_RING_VERSION, fds, 3);
	ck_assert_int_le(recv(fd, &eof, 1, 0), 0);
	close(fd);

	fd = harness_connect(&H);
	wire_hello_fds(fd, "noring", NULL, 0, fds, 2);
	ck_assert_str_eq(wire_reply(fd, 0, &eof), "accepted");
	/* Descriptors after the hello: dropped. */
	wire_hello_fds(fd, "again", NULL, 0, fds, 1);
	ck_assert_int_le(recv(fd, &eof, 1, 0), 0);
	close(fd);
	close(p[0]);
	close(p[1]);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
	text = harness_read_file(H.stderr_path, NULL);
	ck_assert_uint_eq(harness_count(text, "passed more than two "
	    "descriptors: dropped"), 1);
	ck_assert_uint_eq(harness_count(text, "passed descriptors but with "
	    "its hello: dropped"), 1);
	free(text);
}
END_TEST

/*
 * A runner scribbles over its own ring while it pushes (one lane, then
 * four, their headers too): relogd drops it with one line, and never
 * crashes, hangs or stalls; a good runner beside it delivers every record,
 * in order. At the end the last lane's header is broken for sure.
 */
START_TEST(test_ringd_scribbler)
{
	struct rd_runner good, bad;
	struct relog_ring_header *hdr;
	uint64_t *words, x = 88172645463325252u, n, i;
	unsigned lanes = _i == 0 ? 1 : 4;
	size_t size = relog_ring_file_size(1024, lanes);
	char *text;
	long k;

	harness_daemon_start(&H, NULL);
	rd_open(&good, "good", NULL);
	rd_make_lanes(&bad, "bad", 1024, lanes);
	ck_assert_str_eq(rd_connect(&bad, NULL), "accepted, ring, recheck");
	hdr = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED,
	    shm_ring_fd(bad.ring), 0);
	ck_assert(hdr != MAP_FAILED);
	words = (uint64_t *)((char *)hdr + RELOG_RING_HEADER_SIZE);
	n = (size - RELOG_RING_HEADER_SIZE) / 8;
	for (k = 0; k < 20; k++) {
		rd_emit(&good, "plugin.good", k * 100, 100);
		rd_sync(&good);
		rd_push(&bad, "plugin.bad", k * 100, 100, 1);
		/* Random words anywhere in the slots, seqs and texts alike. */
		for (i = 0; i < 64; i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			atomic_store((_Atomic uint64_t *)&words[x % n], x);
		}
	}
	/* Whatever the scribbles did, this one is an error. */
	((struct relog_ring_header *)((char *)hdr + (lanes - 1) *
	    relog_ring_lane_size(1024)))->magic = 0;
	rd_push(&bad, "plugin.bad", 5000, 600, 1);
	rd_sync(&good);
	text = harness_plugin_log(&H, "good");
	harness_check_sequence(text, "good", 0, 2000);
	free(text);
	ck_assert_int_eq(harness_daemon_await(&H, "runner bad) dropped: its "
	    "ring: ", 1, RD_WAIT_MS), 0);
	ck_assert_int_eq(peer_stat(&H, NULL, "rings"), 1);
	munmap(hdr, size);
	rd_close(&good);
	rd_close(&bad);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
	text = harness_read_file(H.stderr_path, NULL);
	ck_assert_uint_eq(harness_count(text, "runner bad) dropped"), 1);
	free(text);
}
END_TEST

/*
 * The identity rules hold for ring records as for batches: a ring bound
 * to plugin a writes everything into a, whatever its loggers say; an
 * unbound one cannot write into an owned plugin (its records go to
 * _unrouted, counted as refused).
 */
START_TEST(test_ringd_identity)
{
	const char *args[] = { "--config", harness_config(&H,
	    "[plugin.vault]\ntoken = s3cret\n"), NULL };
	struct rd_runner a, free_;
	char *text;

	harness_daemon_start(&H, args);
	rd_open(&a, "ra", "a");
	rd_emit(&a, "plugin.vault", 0, 10);
	rd_sync(&a);
	rd_open(&free_, "rf", NULL);
	rd_emit(&free_, "plugin.vault.keys", 0, 10);
	rd_sync(&free_);
	text = harness_plugin_log(&H, "a");
	harness_check_sequence(text, "ra", 0, 10);
	free(text);
	text = harness_plugin_log(&H, "_unrouted");
	harness_check_sequence(text, "rf", 0, 10);
	free(text);
	ck_assert_ptr_null(harness_plugin_log(&H, "vault"));
	ck_assert_int_eq(peer_stat(&H, "vault", "refused"), 10);
	rd_close(&a);
	rd_close(&free_);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
}
END_TEST

/*
 * What the ring lost reaches the runner's plugin as a notice: overflow
 * before relogd came, said once; a counter that goes back is no loss; one
 * that jumps is said as a bounded count.
 */
START_TEST(test_ringd_drops)
{
	struct rd_runner r;
	struct relog_ring_header *hdr;
	size_t size = relog_ring_file_size(1024, 1);
	char path[512];

	snprintf(path, sizeof path, "%s/dr.log", H.log_dir);
	harness_daemon_start(&H, NULL);
	rd_open_lost6(&r, "dr", path);
	ck_assert_int_eq(harness_await_file(path, "runner dr dropped 6 "
	    "records: its queue was full", 1, RD_WAIT_MS), 0);
	hdr = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED,
	    shm_ring_fd(r.ring), 0);
	ck_assert(hdr != MAP_FAILED);
	atomic_store(&hdr->overwritten, 0);
	rd_emit(&r, "plugin.dr", 1030, 1);
	rd_sync(&r);
	atomic_store(&hdr->abandoned, (uint64_t)1 << 50);
	rd_emit(&r, "plugin.dr", 1031, 1);
	rd_sync(&r);
	ck_assert_int_eq(harness_await_file(path, "runner dr dropped "
	    "4294967296 records", 1, RD_WAIT_MS), 0);
	ck_assert_int_ge(peer_stat(&H, "dr", "dropped_by_runners"),
	    6 + ((long long)1 << 32));
	munmap(hdr, size);
	rd_close(&r);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
}
END_TEST

/*
 * Until the ring has room for n more slots besides what relogd has not
 * committed (RD_WAIT_MS at most). Returns whether it had to wait: relogd
 * was a whole ring behind.
 */
static int
rd_await_room(const struct rd_runner *r, uint32_t slots, uint64_t n)
{
	int64_t deadline = harness_now_ms() + RD_WAIT_MS;
	struct shm_ring_stats st;
	int waited = 0;

	for (;;) {
		shm_ring_stats(r->ring, &st);
		if (st.head - st.tail + n <= slots)
			return (waited);
		ck_assert_msg(harness_now_ms() < deadline, "relogd reads not");
		waited = 1;
		poll(NULL, 0, 1);
	}
}

/*
 * Records that keep coming fast are read on ticks, not wakeups: a wakeup
 * is a system call in the emitting thread. At 10 records a millisecond, a
 * 1024-slot ring is half full in 51 ms, so relogd, armed for half the ring,
 * is woken until its tick is shorter than that (once: the tick then follows
 * the rate); with a tick that stayed at 100 ms it is woken some 35 times in
 * these 3 s. Every record arrives (no rate limit: they are 30,000): the
 * producer waits for room rather than overwrite, should relogd fall a whole
 * ring behind (descheduled, or under valgrind on a busy machine); then its
 * wakeups say nothing of its tick, and are not counted against it.
 */
START_TEST(test_ringd_fast_ticks)
{
	const struct timespec ms = { 0, 1000 * 1000 };
	const char *argv[] = { "--rate-limit", "off", NULL };
	struct rd_runner r;
	long i, n = 30000;
	int behind = 0;
	char *text;

	harness_daemon_start(&H, argv);
	rd_open(&r, "ft", "ft");
	for (i = 0; i < n; i += 10) {
		/* Ten records of one slot each, and a margin. */
		behind |= rd_await_room(&r, 1024, 20);
		rd_emit(&r, "plugin.ft", i, 10);
		nanosleep(&ms, NULL);
	}
	rd_sync(&r);
	if (!behind && getenv("RELOG_VALGRIND") == NULL)
		ck_assert_int_le(r.wakes, 12);
	ck_assert_uint_eq(rd_lost(&r), 0);
	text = rd_await_log("ft", (size_t)n);
	harness_check_sequence(text, "ft", 0, n);
	free(text);
	rd_close(&r);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
}
END_TEST

/* The ring's (first) lane header, mapped as the runner may write it. */
static struct relog_ring_header *
rd_header(struct rd_runner *r)
{
	void *p = mmap(NULL, relog_ring_file_size(1024, 1),
	    PROT_READ | PROT_WRITE, MAP_SHARED, shm_ring_fd(r->ring), 0);

	ck_assert(p != MAP_FAILED);
	return (p);
}

/*
 * Claim the next slot of a ring of one lane of 1,024 (hdr: rd_header) as
 * a writer does, and leave it in state (being written); returns it.
 */
static struct relog_ring_slot *
rd_claim(struct relog_ring_header *hdr, unsigned state)
{
	struct relog_ring_slot *slots = (struct relog_ring_slot *)((char *)hdr +
	    RELOG_RING_HEADER_SIZE);
	uint64_t pos = atomic_fetch_add(&hdr->head, 1);

	atomic_store(&slots[pos % 1024].seq, relog_ring_seq(pos, state));
	return (&slots[pos % 1024]);
}

/*
 * Its writer ends a record left being written (rd_claim,
 * rd_push_unfinished): committed (RELOG_RING_COMMITTED_FIRST), or given up
 * (RELOG_RING_SKIP).
 */
static void
rd_finish(struct relog_ring_slot *slot, unsigned state)
{
	uint64_t s = atomic_load(&slot->seq);

	atomic_store(&slot->seq, (s & ~(uint64_t)RELOG_RING_STATE_MASK) |
	    state);
}

/* Monotonic ns. */
static int64_t
rd_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec);
}

/* Until relogd has armed the lane for slots records past its head. */
static void
rd_await_armed(struct relog_ring_header *hdr, uint64_t slots)
{
	int64_t deadline = harness_now_ms() + RD_WAIT_MS;

	while (atomic_load(&hdr->wake_at) != atomic_load(&hdr->head) + slots) {
		ck_assert_msg(harness_now_ms() < deadline, "relogd never armed "
		    "for %llu records", (unsigned long long)slots);
		sched_yield();
	}
}

/*
 * Is it less than 1/share of PROTO_RING_RECHECK_MS since `since` (ns)?
 * Then relogd's recheck after an arming seen since has not run yet.
 */
static int
rd_before_recheck(int64_t since, int share)
{
	return (rd_now_ns() - since < PROTO_RING_RECHECK_MS * 1000000 / share);
}

/*
 * A commit whose wakeup crossed relogd's arming is read all the same
 * (librelog commits without a store-load fence when relogd says
 * ring_recheck: its load of wake_at may miss an arming that relogd's second
 * look misses its commit for): relogd, idle and armed for the next record
 * with no tick, looks again PROTO_RING_RECHECK_MS after arming. Made by
 * hand: a record pushed with its wakeup lost just after relogd armed. A
 * push that came late (the test was descheduled: relogd may have looked
 * already) is woken for, read, and the attempt made again.
 */
START_TEST(test_ringd_recheck)
{
	struct relog_ring_header *hdr;
	struct rd_runner r;
	int64_t seen;
	long n = 0;
	int attempts = 0, late;
	char *text;

	harness_daemon_start(&H, NULL);
	rd_open(&r, "rc", "rc");
	shm_ring_rechecked(r.ring, true);
	hdr = rd_header(&r);
	do {
		/* Idle: armed for the next record, waiting for no tick. */
		rd_await_armed(hdr, 1);
		seen = rd_now_ns();
		r.mute = 1;
		rd_emit(&r, "plugin.rc", n++, 1);
		r.mute = 0;
		late = !rd_before_recheck(seen, 5);
		if (late) {
			ck_assert_int_lt(++attempts, 20);
			rd_emit(&r, "plugin.rc", n++, 1);
			free(rd_await_log("rc", (size_t)n));
		}
	} while (late);
	text = rd_await_log("rc", (size_t)n);
	harness_check_sequence(text, "rc", 0, n);
	free(text);
	munmap(hdr, relog_ring_file_size(1024, 1));
	rd_close(&r);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
}
END_TEST

/* A request's payload: nothing. */
static void
rd_pack_nothing(msgpack_packer *pk, void *arg)
{
	(void)arg;
	msgpack_pack_map(pk, 0);
}

/*
 * Leave relogd's replies to the runner unread until it stops reading its
 * requests (over CLIENT_OUTPUT_MAX of them waiting): requests of a method
 * it does not take, each answered with an error, sent until the socket
 * stays full. A connection closed now lingers, its replies still owed.
 */
static void
rd_replies_pile(struct rd_runner *r)
{
	int64_t deadline = harness_now_ms() + RD_WAIT_MS;
	struct proto_header hd;
	struct pollfd pfd = { .fd = r->fd, .events = POLLOUT };
	msgpack_sbuffer sb;
	ssize_t n;

	wire_begin(&hd, RELOG_TYPE_REQUEST, 0, "runner.nothing");
	proto_client_frame(&sb, &hd, rd_pack_nothing, NULL);
	for (;;) {
		n = send(r->fd, sb.data, sb.size, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0) {
			ck_assert_int_eq(errno, EAGAIN);
			if (poll(&pfd, 1, 300) == 0)
				break;
		} else
			/* Whole frames: a partial one is finished blocking. */
			ck_assert_int_eq(proto_client_send(r->fd, sb.data +
			    n, sb.size - (size_t)n), 0);
		ck_assert_msg(harness_now_ms() < deadline, "relogd reads on");
	}
	msgpack_sbuffer_destroy(&sb);
}

/*
 * A ring dropped (its header overwritten) on a read just after relogd
 * armed it, while its connection lingers (replies owed to it, unread):
 * said in one line, not again by the recheck PROTO_RING_RECHECK_MS after
 * the arming. relogd is stopped (SIGSTOP) while the recheck is still
 * PROTO_RING_RECHECK_MS / 2 or more away, and let go with the ring broken
 * and a wakeup waiting, which it reads first (unless kept off the CPUs
 * that long). A stop that came late (the test was descheduled: the
 * recheck may have run) is tried again.
 */
START_TEST(test_ringd_recheck_closing)
{
	struct relog_ring_header *hdr;
	struct rd_runner r;
	int64_t pushed;
	int attempts = 0, status;
	long n = 0;
	char *text;

	/* Under valgrind relogd never reads and arms within the 5 ms. */
	if (getenv("RELOG_VALGRIND") != NULL)
		return;
	harness_daemon_start(&H, NULL);
	rd_open(&r, "rl", "rl");
	hdr = rd_header(&r);
	rd_replies_pile(&r);
	for (;;) {
		/*
		 * Idle (armed for the next record, no ticks), so that the
		 * push wakes relogd: after a late attempt it is armed for
		 * more, and reads on its ticks, until one finds nothing.
		 */
		rd_await_armed(hdr, 1);
		/* One record read, woken for, then armed for more. */
		pushed = rd_now_ns();
		rd_emit(&r, "plugin.rl", n++, 1);
		rd_await_armed(hdr, 512);
		ck_assert_int_eq(kill(H.daemon, SIGSTOP), 0);
		ck_assert_int_eq(waitpid(H.daemon, &status, WUNTRACED),
		    H.daemon);
		ck_assert(WIFSTOPPED(status));
		/* Half the recheck's time: relogd's clock is read a loop late. */
		if (rd_before_recheck(pushed, 2))
			break;
		ck_assert_int_eq(kill(H.daemon, SIGCONT), 0);
		ck_assert_int_lt(++attempts, 200);
	}
	hdr->magic = 0;
	ck_assert_int_eq(send(r.wake[0], "w", 1, MSG_DONTWAIT), 1);
	ck_assert_int_eq(kill(H.daemon, SIGCONT), 0);
	ck_assert_int_eq(harness_daemon_await(&H, "runner rl) dropped: its "
	    "ring: ", 1, RD_WAIT_MS), 0);
	/* The recheck's time, and more. */
	poll(NULL, 0, PROTO_RING_RECHECK_MS * 10);
	text = harness_read_file(H.stderr_path, NULL);
	ck_assert_uint_eq(harness_count(text, "runner rl) dropped"), 1);
	free(text);
	munmap(hdr, relog_ring_file_size(1024, 1));
	rd_close(&r);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
}
END_TEST

/*
 * The runner dies: every record it committed is delivered after its
 * connection is gone. mid: it dies inside a record (claimed, never
 * committed), which is skipped and said as a loss, records of other
 * threads after it delivered; the pidfd says at once that it is dead.
 */
static void
rd_dies(int mid)
{
	struct rd_runner r;
	char *text, path[512];
	pid_t pid;

	harness_daemon_start(&H, NULL);
	rd_make(&r, mid ? "mid" : "dead", 1024);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		rd_connect(&r, NULL);
		rd_emit(&r, "plugin.dead", 0, 300);
		if (mid) {
			rd_claim(rd_header(&r), RELOG_RING_WRITING_FIRST);
			rd_emit(&r, "plugin.dead", 300, 10);
		}
		raise(SIGKILL);
	}
	ck_assert_int_eq(harness_wait(pid, RD_WAIT_MS), 128 + SIGKILL);
	text = rd_await_log("dead", mid ? 310 : 300);
	harness_check_sequence(text, mid ? "mid" : "dead", 0, mid ? 310 : 300);
	free(text);
	if (mid) {
		snprintf(path, sizeof path, "%s/_runtime.log", H.log_dir);
		ck_assert_int_eq(harness_await_file(path, "runner mid dropped "
		    "1 records", 1, RD_WAIT_MS), 0);
		ck_assert_int_eq(harness_daemon_await(&H, "records read from "
		    "its ring after it left, 1 unfinished skipped", 1,
		    RD_WAIT_MS), 0);
	}
	rd_await_rings(0);
	rd_close(&r);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
}

START_TEST(test_ringd_runner_killed)
{
	rd_dies(0);
}
END_TEST

START_TEST(test_ringd_killed_mid_record)
{
	rd_dies(1);
}
END_TEST

/*
 * A runner alive hangs up with a record half written (a thread stuck in
 * it): relogd waits for it a bounded time, then skips it and delivers the
 * rest.
 */
START_TEST(test_ringd_hangup_pending)
{
	struct rd_runner r;
	struct relog_ring_header *hdr;
	char *text;

	harness_daemon_start(&H, NULL);
	rd_open(&r, "stuck", NULL);
	hdr = rd_header(&r);
	rd_emit(&r, "plugin.stuck", 0, 5);
	rd_claim(hdr, RELOG_RING_WRITING);
	rd_emit(&r, "plugin.stuck", 5, 5);
	close(r.fd);
	r.fd = -1;
	text = rd_await_log("stuck", 10);
	harness_check_sequence(text, "stuck", 0, 10);
	free(text);
	ck_assert_int_eq(harness_daemon_await(&H, "read from its ring after "
	    "it left, 0 unfinished skipped", 1, RD_WAIT_MS), 0);
	munmap(hdr, relog_ring_file_size(1024, 1));
	rd_close(&r);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
}
END_TEST

/* relogd's RING_FRUITLESS_MS (daemon/ring.c). */
#define RD_FRUITLESS_MS 100

/*
 * A runner that wakes relogd again and again while its ring has nothing to
 * deliver (a record that stays in the writing) has its wakeups read
 * together, once a RING_FRUITLESS_MS, not one read each: every read ends
 * arming the lane (wake_at), which the test clears to count them. Once a
 * record can be delivered again, it is, and promptly.
 */
START_TEST(test_ringd_fruitless_wakes)
{
	struct relog_ring_header *hdr;
	struct relog_ring_slot *slot;
	struct rd_runner r;
	int64_t start, elapsed;
	long wakes = 0, reads = 0;
	int queued;
	char *text;

	harness_daemon_start(&H, NULL);
	rd_open(&r, "fw", NULL);
	hdr = rd_header(&r);
	rd_emit(&r, "plugin.fw", 0, 1);
	text = rd_await_log("fw", 1);
	free(text);
	slot = rd_claim(hdr, RELOG_RING_WRITING_FIRST);
	/* A wake each time relogd took the last: 500 ms of them. */
	start = harness_now_ms();
	while ((elapsed = harness_now_ms() - start) < 500) {
		if (atomic_exchange(&hdr->wake_at, 0) != 0)
			reads++;
		ck_assert_int_eq(ioctl(r.wake[0], SIOCOUTQ, &queued), 0);
		if (queued == 0 && send(r.wake[0], "w", 1, MSG_DONTWAIT) == 1)
			wakes++;
		poll(NULL, 0, 1);
	}
	/*
	 * A read each, before; the asks' and the ticks' now. Under valgrind
	 * relogd takes too few wakes (10 in 500 ms once) for the count to
	 * tell: the paths still run under memcheck.
	 */
	if (getenv("RELOG_VALGRIND") == NULL)
		ck_assert_msg(reads <= 2 * (elapsed / RD_FRUITLESS_MS) + 4,
		    "%ld reads for %ld wakes in %lld ms", reads, wakes,
		    (long long)elapsed);
	ck_assert_int_ge(reads, 1);
	/* Its writer gives the record up: the next are delivered. */
	rd_finish(slot, RELOG_RING_SKIP);
	rd_emit(&r, "plugin.fw", 1, 9);
	text = rd_await_log("fw", 10);
	harness_check_sequence(text, "fw", 0, 10);
	free(text);
	text = harness_read_file(H.stderr_path, NULL);
	ck_assert_uint_eq(harness_count(text, " dropped: "), 0);
	free(text);
	munmap(hdr, relog_ring_file_size(1024, 1));
	rd_close(&r);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
}
END_TEST

/*
 * An old-style client (batches on the socket, as the Python runtime's
 * runners) and ring runners side by side, each delivering everything.
 */
START_TEST(test_ringd_beside_socket_clients)
{
	struct rd_runner r1, r2;
	char *text;
	int fd, eof, i;

	harness_daemon_start(&H, NULL);
	rd_open(&r1, "ring1", NULL);
	fd = wire_open(&H, "sock");
	rd_open(&r2, "ring2", NULL);
	for (i = 0; i < 10; i++) {
		rd_emit(&r1, "plugin.mix", i * 50, 50);
		wire_batch_seq(fd, RELOG_TYPE_REQUEST, "plugin.mix", 50, 0, 0,
		    4096);
		ck_assert_str_eq(wire_reply(fd, 0, &eof), "written=50");
		rd_emit(&r2, "plugin.mix", i * 50, 50);
	}
	rd_sync(&r1);
	rd_sync(&r2);
	text = harness_plugin_log(&H, "mix");
	harness_check_sequence(text, "ring1", 0, 500);
	harness_check_sequence(text, "ring2", 0, 500);
	ck_assert_uint_eq(harness_count(text, "] raw seq="), 500);
	free(text);
	close(fd);
	rd_close(&r1);
	rd_close(&r2);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
}
END_TEST

/*
 * A runner relogd gets batches from (args: 2 threads of 3,000 records
 * each, to plugin.<runner>): librelog says so, in word; every record
 * arrives, in order; relogd's log says no ring. Stops relogd.
 */
static void
rd_batches(const char *runner, const char *const *args, const char *word)
{
	char said[512] = "", line[64], *text;
	size_t len = 0;
	ssize_t n;
	pid_t pid;
	int out;

	pid = harness_runner(&H, runner, NULL, args, &out);
	/* Its output: librelog's word on the ring, then the runner's. */
	while (strstr(said, "emitted\n") == NULL && len < sizeof said - 1 &&
	    (n = read(out, said + len, sizeof said - 1 - len)) > 0)
		said[len += (size_t)n] = '\0';
	ck_assert_msg(strstr(said, word) != NULL, "runner said: %s", said);
	ck_assert_int_eq(harness_wait(pid, RD_WAIT_MS), 0);
	close(out);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
	text = harness_plugin_log(&H, runner);
	harness_check_sequence(text, runner, 0, 3000);
	harness_check_sequence(text, runner, 1, 3000);
	free(text);
	text = harness_read_file(H.stderr_path, NULL);
	snprintf(line, sizeof line, "runner %s connected", runner);
	ck_assert_uint_eq(harness_count(text, line), 1);
	ck_assert_uint_eq(harness_count(text, "shared ring"), 0);
	free(text);
}

/*
 * relogd with rings turned off (max_ring = 0), as to an old relogd:
 * librelog runners hear ring: false and send batches, the flusher reading
 * its own ring; every record arrives, and relog_flush (-a) returns once
 * they are written.
 */
START_TEST(test_ringd_off_batches)
{
	static const char *const args[] = {
		"-n", "3000", "-t", "2", "-r", "5000", "-l", "plugin.off", "-a",
		NULL
	};
	const char *conf[] = { "--config", NULL, NULL };

	conf[1] = harness_config(&H, "[relogd]\nmax_ring = 0\n"
	    "rate_limit = off\n");
	harness_daemon_start(&H, conf);
	rd_batches("off", args, "relog: relogd did not take the ring of "
	    "runner off (rings are turned off (max_ring = 0)); sending "
	    "batches\n");
}
END_TEST

/*
 * A runner that cannot make a memfd (its sandbox forbids memfd_create)
 * still logs: its ring is memory of its own, its flusher sends batches.
 * relog_open used to fail.
 */
START_TEST(test_ringd_no_memfd)
{
	static const char *const args[] = {
		"-m", "-n", "3000", "-t", "2", "-l", "plugin.nomemfd", "-a",
		NULL
	};
	const char *dargs[] = { "--rate-limit", "off", NULL };

	harness_daemon_start(&H, dargs);
	rd_batches("nomemfd", args, "relog: no memfd for the ring of runner "
	    "nomemfd: relogd gets batches");
}
END_TEST

/* relogd closes the connection (without a word). */
static void
rd_await_eof(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	char c;

	ck_assert_int_eq(poll(&pfd, 1, RD_WAIT_MS), 1);
	ck_assert_int_eq(recv(fd, &c, 1, 0), 0);
}

/* Descriptors relogd holds of the pipe whose inode is ino. */
static int
rd_fds_of(pid_t pid, ino_t ino)
{
	char dir[64], path[320], link[128], want[64];
	struct dirent *de;
	ssize_t len;
	DIR *d;
	int n = 0;

	snprintf(dir, sizeof dir, "/proc/%ld/fd", (long)pid);
	snprintf(want, sizeof want, "pipe:[%lu]", (unsigned long)ino);
	ck_assert_ptr_nonnull(d = opendir(dir));
	while ((de = readdir(d)) != NULL) {
		snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
		len = readlink(path, link, sizeof link - 1);
		if (len > 0) {
			link[len] = '\0';
			n += strcmp(link, want) == 0;
		}
	}
	closedir(d);
	return (n);
}

/*
 * Four descriptors with a hello: the connection is dropped and
 * every descriptor the kernel handed relogd is closed (it kept three, and
 * leaked the fourth, one per connection).
 */
START_TEST(test_ringd_extra_fds_closed)
{
	struct stat st;
	int p[2], fds[4], fd, i;

	harness_daemon_start(&H, NULL);
	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	ck_assert_int_eq(fstat(p[0], &st), 0);
	for (i = 0; i < 4; i++)
		fds[i] = p[0];
	for (i = 0; i < 4; i++) {
		fd = harness_connect(&H);
		wire_hello_fds(fd, "many", NULL, RELOG_RING_VERSION, fds, 4);
		/* Dropped without a reply: its descriptors are closed. */
		rd_await_eof(fd);
		close(fd);
	}
	ck_assert_int_eq(rd_fds_of(H.daemon, st.st_ino), 0);
	close(p[0]);
	close(p[1]);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
}
END_TEST

/*
 * A wake socket that is never empty (the runner shut it down: every read
 * returns at once) would have relogd spin: the runner is dropped with one
 * line, what it logged before written.
 */
START_TEST(test_ringd_wake_shut_down)
{
	struct rd_runner r;
	char *text;

	harness_daemon_start(&H, NULL);
	rd_open(&r, "spin", NULL);
	rd_emit(&r, "plugin.spin", 0, 10);
	rd_sync(&r);
	ck_assert_int_eq(shutdown(r.wake[1], SHUT_RD), 0);
	ck_assert_int_eq(harness_daemon_await(&H, "runner spin) dropped: its "
	    "wake socket is never empty", 1, RD_WAIT_MS), 0);
	rd_await_eof(r.fd);
	rd_close(&r);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
	text = harness_plugin_log(&H, "spin");
	harness_check_sequence(text, "spin", 0, 10);
	free(text);
}
END_TEST

/*
 * A runner of plugin "again", whose log is full (harness_fill_log before
 * relogd starts): it connects, emits n records that cannot be written, and
 * hangs up; its connection stays, draining its ring, until they are.
 */
static void
rd_leave_stalled(struct rd_runner *r, const char *id, long n)
{
	rd_make(r, id, 1024);
	ck_assert_str_eq(rd_connect(r, "again"), "accepted, ring, recheck");
	rd_emit(r, "plugin.again", 0, n);
	ck_assert_int_eq(harness_daemon_await(&H, "again.log: File too "
	    "large: ", 1, RD_WAIT_MS), 0);
	close(r->fd);
}

/*
 * A runner reconnects, passing the same ring, while its last connection
 * waits for a stalled sink to write what it read: the new connection reads
 * on only once the old one is gone, from the tail it committed once its
 * records were written. Each record is written once (twice, before). The
 * ring passed again is the same memory: it is taken whatever the limits
 * (refused, the runner would read it while relogd drains it: two readers).
 * RD_TOTAL: max_ring_total has room for that one ring, which counts it
 * once; once both connections are gone, the room is there for another.
 * RD_OFF: rings are turned off by a reload in between; another ring is
 * refused.
 */
enum { RD_PLAIN, RD_TOTAL, RD_OFF };

static void
rd_reconnect(int mode)
{
	const char *args[] = { "--config", harness_config(&H, mode ==
	    RD_TOTAL ? "[relogd]\nmax_ring_total = 266240\n" : ""), NULL };
	const char *path = harness_fill_log(&H, "again", 1 << 20);
	struct rd_runner r, other;

	ck_assert_uint_eq(relog_ring_file_size(1024, 1), 266240);
	harness_daemon_start(&H, args);
	rd_leave_stalled(&r, "again", 100);
	if (mode == RD_OFF) {
		harness_config(&H, "[relogd]\nmax_ring = 0\n");
		ck_assert_int_eq(kill(H.daemon, SIGHUP), 0);
		ck_assert_int_eq(harness_daemon_await(&H, "configuration "
		    "reloaded", 1, RD_WAIT_MS), 0);
	}
	ck_assert_str_eq(rd_connect(&r, "again"), "accepted, ring, recheck");
	ck_assert_int_eq(peer_stat(&H, NULL, "rings"), 2);
	ck_assert_int_eq(peer_stat(&H, NULL, "ring_bytes"), 266240);
	rd_emit(&r, "plugin.again", 100, 50);
	ck_assert_int_eq(truncate(path, 0), 0);
	rd_sync(&r);
	rd_each_once(path, "again", 150);
	rd_close(&r);
	rd_await_rings(0);
	ck_assert_int_eq(peer_stat(&H, NULL, "ring_bytes"), 0);
	rd_make(&other, "other", 1024);
	ck_assert_str_eq(rd_connect(&other, NULL), mode == RD_OFF ?
	    "accepted, no ring: rings are turned off (max_ring = 0)" :
	    "accepted, ring, recheck");
	rd_close(&other);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
}

START_TEST(test_ringd_reconnect_same_ring)
{
	rd_reconnect(RD_PLAIN);
}
END_TEST

START_TEST(test_ringd_reconnect_total)
{
	rd_reconnect(RD_TOTAL);
}
END_TEST

START_TEST(test_ringd_reconnect_off)
{
	rd_reconnect(RD_OFF);
}
END_TEST

/*
 * Stopped (SIGTERM) while the records it read cannot be written (a full
 * file), relogd commits none of them: the next relogd, given the same
 * ring, reads them again and writes each once.
 */
START_TEST(test_ringd_stop_stalled)
{
	const char *args[] = { "--rate-limit", "off", NULL };
	const char *path = harness_fill_log(&H, "again", 1 << 20);
	struct rd_runner r;

	harness_daemon_start(&H, args);
	rd_leave_stalled(&r, "again", 100);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
	ck_assert_int_eq(harness_daemon_await(&H, "100 records (", 1,
	    RD_WAIT_MS), 0);
	ck_assert_int_eq(truncate(path, 0), 0);
	harness_daemon_start(&H, args);
	ck_assert_str_eq(rd_connect(&r, "again"), "accepted, ring, recheck");
	rd_sync(&r);
	rd_each_once(path, "again", 100);
	rd_close(&r);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
}
END_TEST

/* How a test pushes records: rd_emit, rd_push_long. */
typedef void (*rd_push_fn)(struct rd_runner *, const char *, long, long);

/*
 * Push record seq, have it look still being written (claimed, not
 * committed, by a writer that lives on), then push n more; returns its
 * first slot, for rd_finish. A ring of one lane of slots slots.
 */
static struct relog_ring_slot *
rd_push_unfinished(struct rd_runner *r, uint32_t slots, rd_push_fn push,
    const char *logger, long seq, long n)
{
	uint64_t pos = rd_head(r);
	struct relog_ring_slot *slot = (struct relog_ring_slot *)((char *)
	    shm_ring_memory(r->ring, &(size_t){ 0 }) + RELOG_RING_HEADER_SIZE) +
	    (pos & (slots - 1));

	push(r, logger, seq, 1);
	atomic_store(&slot->seq, relog_ring_seq(pos, RELOG_RING_WRITING_FIRST));
	push(r, logger, seq + 1, n);
	return (slot);
}

/* Records in the ring relogd has not taken (their first slot unread). */
static long
rd_unread(const struct rd_runner *r, uint32_t slots)
{
	size_t size = relog_ring_file_size(slots, 1);
	struct relog_ring_slot *slot;
	char *map;
	long n = 0;
	uint32_t i;

	map = mmap(NULL, size, PROT_READ, MAP_SHARED, shm_ring_fd(r->ring), 0);
	ck_assert(map != MAP_FAILED);
	slot = (struct relog_ring_slot *)(map + RELOG_RING_HEADER_SIZE);
	for (i = 0; i < slots; i++)
		n += relog_ring_seq_state(atomic_load(&slot[i].seq)) ==
		    RELOG_RING_COMMITTED_FIRST;
	munmap(map, size);
	return (n);
}

/*
 * Wait until n records of the ring are left not taken: relogd's reads got
 * that far (from the ring itself, so as soon as they do).
 */
static void
rd_await_unread(const struct rd_runner *r, uint32_t slots, long n)
{
	int64_t deadline = harness_now_ms() + RD_WAIT_MS;

	while (rd_unread(r, slots) != n) {
		ck_assert_msg(harness_now_ms() < deadline, "%ld records not "
		    "taken, not %ld", rd_unread(r, slots), n);
		nanosleep(&(struct timespec){ 0, 1000000 }, NULL);
	}
}

/*
 * A connection that hung up while waiting for its ring's last connection
 * to go, then finds a record being written when its turn comes, waits for
 * that writer RING_DEAD_WAIT_MS from its turn, not from its hangup (so it
 * did not wait at all once the other took longer: the live runner's
 * record was skipped, and lost when it was finished a moment later).
 */
START_TEST(test_ringd_chain_writer_waited)
{
	const char *path = harness_fill_log(&H, "again", 1 << 20);
	struct relog_ring_slot *slot;
	struct rd_runner r;
	char *text;

	harness_daemon_start(&H, NULL);
	rd_leave_stalled(&r, "chain", 10);
	/* Taken again: this one waits for the first to write and go. */
	ck_assert_str_eq(rd_connect(&r, "again"), "accepted, ring, recheck");
	/* Record 10 seen as still being written, then 5 more. */
	slot = rd_push_unfinished(&r, 1024, rd_emit, "plugin.again", 10, 5);
	close(r.fd);
	r.fd = -1;
	/* Behind the first connection for longer than RING_DEAD_WAIT_MS. */
	poll(NULL, 0, 1500);
	ck_assert_int_eq(truncate(path, 0), 0);
	/* The first one gone, its turn: the writer finishes. */
	rd_await_rings(1);
	rd_finish(slot, RELOG_RING_COMMITTED_FIRST);
	rd_await_rings(0);
	rd_each_once(path, "chain", 16);
	rd_close(&r);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
	text = harness_read_file(H.stderr_path, NULL);
	ck_assert_ptr_null(strstr(text, " 1 unfinished skipped"));
	free(text);
}
END_TEST

/* Push n records of about 1 KiB (five slots each), each taken. */
static void
rd_push_long(struct rd_runner *r, const char *logger, long first, long n)
{
	rd_push_padded(r, logger, first, n, 1000, 0);
}

/*
 * The same for a ring's only reader: hung up while a full sink held its
 * reads back for over RING_DEAD_WAIT_MS, it waits for the writer it then
 * finds at work from then on, not from its hangup.
 */
START_TEST(test_ringd_congested_writer_waited)
{
	const char *path = harness_fill_log(&H, "cong", 8 << 20);
	struct relog_ring_slot *slot;
	struct rd_runner r;
	char *text;

	harness_daemon_start(&H, NULL);
	rd_make(&r, "cong", 16384);
	ck_assert_str_eq(rd_connect(&r, "cong"), "accepted, ring, recheck");
	/* 2.3 MB: relogd stops reading at its sink's high water, 1 MiB. */
	rd_push_long(&r, "plugin.cong", 0, 2300);
	ck_assert_int_eq(harness_daemon_await(&H, "cong.log: File too "
	    "large: ", 1, RD_WAIT_MS), 0);
	/* Behind what relogd can read: record 2300, still being written. */
	slot = rd_push_unfinished(&r, 16384, rd_push_long, "plugin.cong",
	    2300, 5);
	close(r.fd);
	r.fd = -1;
	/* The sink full for longer than RING_DEAD_WAIT_MS; then it drains. */
	poll(NULL, 0, 1500);
	ck_assert_int_eq(truncate(path, 0), 0);
	/*
	 * relogd reads up to the writer (all before it taken, the 5 after
	 * it not): it finishes then, well within RING_DEAD_WAIT_MS.
	 */
	rd_await_unread(&r, 16384, 5);
	rd_finish(slot, RELOG_RING_COMMITTED_FIRST);
	rd_await_rings(0);
	text = harness_read_file(path, NULL);
	harness_check_sequence(text, "cong", 0, 2306);
	free(text);
	rd_close(&r);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
}
END_TEST

/*
 * relogd has read all the test sent on fd (SIOCOUTQ: none of it waits in
 * the socket), and then answered a hello on another connection: whatever
 * that read set off in relogd's loop has run.
 */
static void
rd_await_taken(int fd)
{
	int64_t deadline = harness_now_ms() + RD_WAIT_MS;
	int queued;

	for (;;) {
		ck_assert_int_eq(ioctl(fd, SIOCOUTQ, &queued), 0);
		if (queued == 0)
			break;
		ck_assert_msg(harness_now_ms() < deadline, "relogd reads not");
		nanosleep(&(struct timespec){ 0, 1000000 }, NULL);
	}
	close(wire_open(&H, "probe"));
}

/*
 * A ring whose sink is too full is not read, whatever else its connection
 * sends: each request on the socket used to resume it, a budget read into
 * the full sink per request, without bound.
 */
START_TEST(test_ringd_congested_stays)
{
	struct rd_runner r;
	int i;

	harness_fill_log(&H, "full", 1 << 20);
	harness_daemon_start(&H, NULL);
	rd_make(&r, "full", 16384);
	ck_assert_str_eq(rd_connect(&r, "full"), "accepted, ring, recheck");
	/* 2.3 MiB: the sink stops taking records past 1 MiB. */
	rd_push_long(&r, "plugin.full", 0, 2300);
	ck_assert_int_eq(harness_daemon_await(&H, "full.log: File too "
	    "large: ", 1, RD_WAIT_MS), 0);
	for (i = 0; i < 12; i++) {
		wire_ring_sync(r.fd, r.next_request++, rd_head(&r));
		rd_await_taken(r.fd);
	}
	ck_assert_int_gt(rd_unread(&r, 16384), 500);
	rd_close(&r);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
}
END_TEST

/*
 * Start relogd (no rate limit) with plugin stall's log full at limit
 * bytes, and a ring runner whose 5 records to it wait: an ack owed that
 * will not settle.
 */
static void
rd_open_stalled(struct rd_runner *r, const char *id, long limit)
{
	const char *args[] = { "--rate-limit", "off", NULL };

	harness_fill_log(&H, "stall", limit);
	harness_daemon_start(&H, args);
	rd_open(r, id, NULL);
	rd_emit(r, "plugin.stall", 0, 5);
	ck_assert_int_eq(harness_daemon_await(&H, "stall.log: File too "
	    "large: ", 1, RD_WAIT_MS), 0);
}

/*
 * Behind an ack that waits on a stalled sink, the commits of later reads
 * into a healthy sink are merged into one: they used to pile up, one per
 * read, for as long as the sink stalled.
 */
START_TEST(test_ringd_acks_merge)
{
	struct rd_runner r;
	char *log;
	long i;

	rd_open_stalled(&r, "mix", 4 << 20);
	/* 40 times past half the ring: a read each, at least. */
	for (i = 0; i < 40; i++) {
		rd_emit(&r, "plugin.fine", i * 600, 600);
		peer_await_stat(&H, "fine", "written", (i + 1) * 600);
	}
	ck_assert_int_le(peer_runner_stat(&H, "mix", "acks_owed"), 2);
	ck_assert_int_eq(peer_runner_stat(&H, "mix", "congested"), 0);
	log = harness_plugin_log(&H, "fine");
	harness_check_sequence(log, "mix", 0, 40 * 600);
	free(log);
	rd_close(&r);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
}
END_TEST

/*
 * Answers owed behind a stalled sink are bounded: past 1,024 the
 * connection is not read until they settle, so at most a read's worth
 * more are taken (ring_syncs used to be taken and queued without end).
 */
START_TEST(test_ringd_acks_bounded)
{
	struct rd_runner r;
	int64_t deadline;
	int i, queued, congested = 0;

	rd_open_stalled(&r, "syncer", 1 << 20);
	/* 100 at a time, each taken, until relogd stops reading. */
	for (i = 0; i < 1500 && !congested; i++) {
		wire_ring_sync(r.fd, r.next_request++, rd_head(&r));
		if (i % 100 != 99)
			continue;
		deadline = harness_now_ms() + RD_WAIT_MS;
		for (;;) {
			congested = peer_runner_stat(&H, "syncer",
			    "congested") == 1;
			if (congested || (ioctl(r.fd, SIOCOUTQ, &queued) == 0 &&
			    queued == 0))
				break;
			ck_assert(harness_now_ms() < deadline);
			/* relogctl is the probe: one a 20 ms. */
			poll(NULL, 0, 20);
		}
	}
	ck_assert_int_eq(peer_runner_stat(&H, "syncer", "congested"), 1);
	ck_assert_int_gt(peer_runner_stat(&H, "syncer", "acks_owed"), 1000);
	ck_assert_int_le(peer_runner_stat(&H, "syncer", "acks_owed"), 1125);
	rd_close(&r);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
}
END_TEST

/*
 * A record of 128 KiB (message and exception at their most) from each of
 * 40 runners: relogd copies each into a buffer grown for it, which goes
 * back to small after the read. Kept grown, a buffer a ring was 40 * 128
 * KiB of memory more (5,320 KiB measured).
 */
START_TEST(test_ringd_large_records_memory)
{
	const char *args[] = { "--rate-limit", "off", NULL };
	struct shm_ring_record rec = { .level = RELOG_LEVEL_INFO };
	struct rd_runner r[40];
	char id[16], *msg = malloc(RELOG_RING_TEXT_MAX);
	char *exc = malloc(RELOG_RING_TEXT_MAX);
	long before, after;
	int i;

	ck_assert_ptr_nonnull(msg);
	ck_assert_ptr_nonnull(exc);
	harness_daemon_start(&H, args);
	for (i = 0; i < 40; i++) {
		snprintf(id, sizeof id, "big%d", i);
		rd_open(&r[i], strdup(id), NULL);
	}
	before = harness_status_num(H.daemon, "RssAnon");
	memset(msg, 'm', RELOG_RING_TEXT_MAX);
	memset(exc, 'x', RELOG_RING_TEXT_MAX);
	rec.name = "plugin.big";
	rec.name_len = strlen(rec.name);
	rec.msg = msg;
	rec.msg_len = RELOG_RING_TEXT_MAX;
	rec.exc = exc;
	rec.exc_len = RELOG_RING_TEXT_MAX;
	for (i = 0; i < 40; i++)
		ck_assert_int_eq(shm_ring_push(r[i].ring, &rec), 0);
	for (i = 0; i < 40; i++)
		rd_sync(&r[i]);
	after = harness_status_num(H.daemon, "RssAnon");
	if (harness_frees_measured())
		ck_assert_msg(after - before < 2048, "relogd's anonymous "
		    "memory grew by %ld KiB", after - before);
	ck_assert_int_eq(peer_stat(&H, "big", "written"), 40);
	for (i = 0; i < 40; i++) {
		free((char *)r[i].id);
		rd_close(&r[i]);
	}
	free(msg);
	free(exc);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
}
END_TEST

/*
 * relogd back after a kill (with args; the file at empty, if not NULL,
 * emptied first: its sink has room again), the runner connected again
 * and synced.
 */
static void
rd_back(struct rd_runner *r, const char *const *args, const char *empty,
    const char *plugin)
{
	if (empty != NULL)
		ck_assert_int_eq(truncate(empty, 0), 0);
	harness_daemon_start(&H, args);
	ck_assert_str_eq(rd_connect(r, plugin), "accepted, ring, recheck");
	rd_sync(r);
}

/*
 * The runner done: relogd said all its ring lost (into the log at path),
 * and no more once stopped. Returns how many.
 */
static uint64_t
rd_said_all(struct rd_runner *r, const char *path)
{
	uint64_t lost = rd_lost(r);

	rd_await_drops_said(path, r->id, lost);
	rd_close(r);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
	ck_assert_uint_eq(rd_drops_said(path, r->id), lost);
	return (lost);
}

/*
 * relogd started (args), and a runner of plugin id (its log at path, of
 * len bytes) whose ring lost more records after its first notice, said at
 * once: the notice of these waits a second. relogd is stopped while the
 * ring overflows, so that it loses records however fast relogd reads.
 */
static void
rd_drops_waiting(struct rd_runner *r, const char *id,
    const char *const *args, char *path, size_t len)
{
	char logger[64];
	int status;

	snprintf(path, len, "%s/%s.log", H.log_dir, id);
	snprintf(logger, sizeof logger, "plugin.%s", id);
	harness_daemon_start(&H, args);
	rd_open_lost6(r, id, path);
	ck_assert_int_eq(kill(H.daemon, SIGSTOP), 0);
	ck_assert_int_eq(waitpid(H.daemon, &status, WUNTRACED), H.daemon);
	ck_assert(WIFSTOPPED(status));
	rd_push(r, logger, 1030, 2000, 1);
	ck_assert_int_eq(kill(H.daemon, SIGCONT), 0);
	rd_sync(r);
	ck_assert_uint_gt(rd_lost(r), 6);
}

/*
 * relogd drops a ring runner (a bad frame) while its drops wait for their
 * second: it says them as the connection goes, and stores them said once
 * written, so that the runner, back with its ring, has none said twice
 * (the notice's ledger was let go before its sink wrote it).
 */
START_TEST(test_ringd_drops_said_when_dropped)
{
	const char *args[] = { "--rate-limit", "off", NULL };
	static const char junk[8] = { (char)0xff, (char)0xff, (char)0xff,
	    (char)0x7f, 1, 2, 3, 4 };
	struct rd_runner r;
	char path[512], buf[256];

	rd_drops_waiting(&r, "bf", args, path, sizeof path);
	ck_assert_int_eq(write(r.fd, junk, sizeof junk), (ssize_t)sizeof junk);
	while (read(r.fd, buf, sizeof buf) > 0)
		;
	close(r.fd);
	rd_await_rings(0);
	ck_assert_str_eq(rd_connect(&r, "bf"), "accepted, ring, recheck");
	rd_sync(&r);
	(void)rd_said_all(&r, path);
}
END_TEST

/*
 * Two live connections pass one ring (a runner gone wrong): the second is
 * not the same ring passed again after a hangup, so the limits hold for it
 * (the first still reads it).
 */
START_TEST(test_ringd_same_ring_live)
{
	const char *args[] = { "--config", harness_config(&H, "[relogd]\n"
	    "max_ring_total = 266240\n"), NULL };
	struct rd_runner r;
	int fd;

	harness_daemon_start(&H, args);
	rd_open(&r, "twice", NULL);
	fd = r.fd;
	ck_assert_str_eq(rd_connect(&r, NULL), "accepted, no ring: it is "
	    "over what max_ring_total has left");
	ck_assert_int_eq(peer_stat(&H, NULL, "rings"), 1);
	close(fd);
	rd_close(&r);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
}
END_TEST

/* As nobody: pass the ring fd (inherited) on a connection of its own. */
static int
rd_pass_as_other(void *arg)
{
	struct rd_runner *r = arg;
	int fds[2] = { shm_ring_fd(r->ring), r->wake[1] }, fd, eof;

	fd = harness_connect(&H);
	wire_hello_fds(fd, "other", NULL, RELOG_RING_VERSION, fds, 2);
	return (strcmp(wire_reply(fd, 0, &eof), "accepted, no ring: its ring "
	    "was made by another uid") != 0);
}

/*
 * A ring is not taken from a connection of another uid than the one that
 * made it (a forked child that changed uid holds its parent's memfd):
 * that one's records would be routed as the other's. Not while a
 * connection of its maker reads it, nor while none does (the maker
 * between two connections: it would be refused its own ring then).
 */
START_TEST(test_ringd_ring_of_other_uid)
{
	const char *args[] = { "--config", harness_config(&H, "[relogd]\n"
	    "socket_mode = 0666\n"), NULL };
	struct rd_runner r, idle;

	ck_assert_int_eq(chmod(H.dir, 0755), 0);
	harness_daemon_start(&H, args);
	rd_open(&r, "mine", NULL);
	ck_assert_int_eq(harness_wait(peer_as(PEER_NOBODY, 0, rd_pass_as_other,
	    &r), RD_WAIT_MS), 0);
	rd_make(&idle, "idle", 1024);
	ck_assert_int_eq(harness_wait(peer_as(PEER_NOBODY, 0, rd_pass_as_other,
	    &idle), RD_WAIT_MS), 0);
	ck_assert_int_eq(peer_stat(&H, NULL, "rings"), 1);
	/* Its maker still may. */
	ck_assert_str_eq(rd_connect(&idle, NULL), "accepted, ring, recheck");
	ck_assert_int_eq(peer_stat(&H, NULL, "rings"), 2);
	rd_close(&idle);
	rd_close(&r);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
}
END_TEST

/* As nobody: pass a ring of its own; 0 if it is taken. */
static int
rd_own_ring_as_other(void *arg)
{
	struct rd_runner r;
	int fds[2], fd, eof;

	(void)arg;
	memset(&r, 0, sizeof r);
	if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, r.wake) != 0 ||
	    shm_ring_create_lanes(&r.ring, 1024, 1, rd_wake, &r) != 0)
		return (2);
	fds[0] = shm_ring_fd(r.ring);
	fds[1] = r.wake[1];
	fd = harness_connect(&H);
	wire_hello_fds(fd, "other", NULL, RELOG_RING_VERSION, fds, 2);
	return (strcmp(wire_reply(fd, 0, &eof), "accepted, ring, recheck") != 0);
}

/*
 * One uid maps at most three quarters of max_ring_total (or a max_ring,
 * if that is more): a uid that
 * passes rings until it is refused leaves another uid room for its own,
 * and a ring let go gives its uid the room back.
 */
START_TEST(test_ringd_ring_share_of_uid)
{
	/* Four rings of 1,024 slots, each a max_ring. */
	const char *args[] = { "--config", harness_config(&H, "[relogd]\n"
	    "socket_mode = 0666\n"
	    "max_ring = 266240\n"
	    "max_ring_total = 1064960\n"), NULL };
	struct rd_runner r[4];
	int i;

	ck_assert_int_eq(chmod(H.dir, 0755), 0);
	harness_daemon_start(&H, args);
	for (i = 0; i < 3; i++)
		rd_open(&r[i], "mine", NULL);
	rd_make(&r[3], "mine", 1024);
	ck_assert_str_eq(rd_connect(&r[3], NULL), "accepted, no ring: it is "
	    "over what its uid's share of max_ring_total has left");
	ck_assert_int_eq(harness_wait(peer_as(PEER_NOBODY, 0,
	    rd_own_ring_as_other, NULL), RD_WAIT_MS), 0);
	/* One let go (and nobody's, gone with it): its room is ours again. */
	rd_close(&r[0]);
	rd_await_rings(2);
	rd_close(&r[3]);
	rd_open(&r[3], "mine", NULL);
	for (i = 1; i < 4; i++)
		rd_close(&r[i]);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
}
END_TEST

/*
 * Drops relogd found and had not said yet (a notice a second at most)
 * when it was killed: the next relogd says them, and none twice. The ring
 * used to store them as said as soon as they were found.
 */
START_TEST(test_ringd_drops_said_after_kill)
{
	const char *args[] = { "--rate-limit", "off", NULL };
	struct rd_runner r;
	char path[512];

	rd_drops_waiting(&r, "dk", args, path, sizeof path);
	rd_kill_daemon(&r);
	rd_back(&r, args, NULL, "dk");
	(void)rd_said_all(&r, path);
}
END_TEST

/*
 * Records relogd took and had not written (its sink stalled) when it was
 * killed, then overwritten while no relogd read the ring: no producer
 * counts a record taken, so the next relogd counts them, and every record
 * is written or said lost.
 */
START_TEST(test_ringd_taken_lost_after_kill)
{
	const char *args[] = { "--rate-limit", "off", NULL };
	struct rd_runner r;
	const char *path;
	char *log, home[512];
	uint64_t lost;
	long lines;

	/* The notices of a runner of no plugin go to its home. */
	snprintf(home, sizeof home, "%s/_runtime.log", H.log_dir);
	path = harness_fill_log(&H, "stall", 4 << 20);
	harness_daemon_start(&H, args);
	rd_open(&r, "tk", NULL);
	rd_emit(&r, "plugin.stall", 0, 5);
	ck_assert_int_eq(harness_daemon_await(&H, "stall.log: File too "
	    "large: ", 1, RD_WAIT_MS), 0);
	rd_kill_daemon(&r);
	/* Twice the ring while relogd is down: the 5 are overwritten. */
	rd_emit(&r, "plugin.stall", 5, 2000);
	rd_back(&r, args, path, NULL);
	lost = rd_said_all(&r, home);
	log = harness_read_file(path, NULL);
	lines = (long)harness_count(log, "runner=tk ");
	free(log);
	ck_assert_uint_eq((uint64_t)lines + lost, 2005);
	ck_assert_uint_eq(rd_drops_said(home, "tk"), lost);
}
END_TEST

/*
 * A drop notice stuck in a stalled sink is not said yet: the ring's
 * headers do not say it said (they did once it was queued), and a relogd
 * killed meanwhile leaves it to the next, which says it.
 */
START_TEST(test_ringd_drops_said_stalled)
{
	const char *args[] = { "--rate-limit", "off", NULL };
	struct relog_ring_header *hdr;
	struct rd_runner r;
	const char *path;

	path = harness_fill_log(&H, "stall", 4 << 20);
	harness_daemon_start(&H, args);
	rd_make(&r, "sk", 1024);
	rd_emit(&r, "plugin.stall", 0, 1030);
	ck_assert_str_eq(rd_connect(&r, "stall"), "accepted, ring, recheck");
	/* Its first write failed: the read that queued the notice is done. */
	ck_assert_int_eq(harness_daemon_await(&H, "stall.log: File too "
	    "large: ", 1, RD_WAIT_MS), 0);
	hdr = shm_ring_memory(r.ring, &(size_t){ 0 });
	ck_assert_uint_eq(atomic_load(&hdr->reported), 0);
	rd_kill_daemon(&r);
	rd_back(&r, args, path, "stall");
	ck_assert_uint_eq(rd_said_all(&r, path), 6);
}
END_TEST

/*
 * Drops found within a second of the last notice, then the runner
 * reconnects with the same ring: the old connection says them before it
 * goes, and waits until that is written, so the new one does not say them
 * again (said at close, they used to be said twice).
 */
START_TEST(test_ringd_drops_said_at_close)
{
	const char *args[] = { "--rate-limit", "off", NULL };
	struct relog_ring_header *hdr;
	struct rd_runner r;
	char path[512];
	uint64_t lost;

	snprintf(path, sizeof path, "%s/dc.log", H.log_dir);
	harness_daemon_start(&H, args);
	rd_open_lost6(&r, "dc", path);
	hdr = shm_ring_memory(r.ring, &(size_t){ 0 });
	/* 7 more lost (the runner's word): found, their notice waits. */
	atomic_fetch_add(&hdr->abandoned, 7);
	rd_emit(&r, "plugin.dc", 1030, 1);
	rd_sync(&r);
	close(r.fd);
	ck_assert_str_eq(rd_connect(&r, "dc"), "accepted, ring, recheck");
	rd_emit(&r, "plugin.dc", 1031, 1);
	/* The old connection is gone once the new one reads. */
	rd_sync(&r);
	lost = rd_lost(&r);
	ck_assert_uint_eq(lost, 13);
	ck_assert_uint_eq(rd_drops_said(path, "dc"), lost);
	rd_close(&r);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
	ck_assert_uint_eq(rd_drops_said(path, "dc"), lost);
}
END_TEST

/*
 * A runner's drop notice stuck in a stalled sink (its home's, _runtime:
 * it has no plugin) holds up none of its records: their commits, and a
 * ring_sync, go on as they are written (each used to wait for the notice,
 * so the tail stood still; relogd killed then, the next one wrote again
 * what was still there and counted the rest lost, though written).
 */
START_TEST(test_ringd_notice_stall_commits)
{
	const char *args[] = { "--rate-limit", "off", NULL };
	struct rd_runner r;
	char home[512], okp[512], *log;
	uint64_t lost;
	long lines, pushed, i;

	snprintf(home, sizeof home, "%s/_runtime.log", H.log_dir);
	snprintf(okp, sizeof okp, "%s/ok.log", H.log_dir);
	(void)harness_fill_log(&H, "_runtime", 4 << 20);
	harness_daemon_start(&H, args);
	rd_make(&r, "hs", 1024);
	rd_emit(&r, "plugin.ok", 0, 1030);
	pushed = 1030;
	ck_assert_str_eq(rd_connect(&r, NULL), "accepted, ring, recheck");
	rd_sync(&r);
	for (i = 0; i < 3; i++) {
		rd_emit(&r, "plugin.ok", pushed, 1000);
		pushed += 1000;
		rd_sync(&r);
	}
	rd_kill_daemon(&r);
	rd_back(&r, args, home, NULL);
	lost = rd_said_all(&r, home);
	ck_assert_uint_eq(lost, 6);
	log = harness_read_file(okp, NULL);
	lines = (long)harness_count(log, "runner=hs ");
	free(log);
	ck_assert_int_eq(lines + (long)lost, pushed);
}
END_TEST

/*
 * A batch (a runner with no ring) that carries drops is acknowledged only
 * once their notice is written, as its records: librelog stores them said
 * on that ack. Its notice waits in a stalled sink (its home, _runtime),
 * then the sink has room again: the answer comes after the notice.
 */
START_TEST(test_ringd_batch_notice_before_ack)
{
	const char *args[] = { "--rate-limit", "off", NULL };
	char home[512];
	int fd, eof;

	snprintf(home, sizeof home, "%s/_runtime.log", H.log_dir);
	(void)harness_fill_log(&H, "_runtime", 4 << 20);
	harness_daemon_start(&H, args);
	fd = wire_open(&H, "bn");
	wire_batch_seq(fd, RELOG_TYPE_REQUEST, "plugin.ok", 1, 0, 5, 4096);
	ck_assert_int_eq(harness_daemon_await(&H, "_runtime.log: File too "
	    "large: ", 1, RD_WAIT_MS), 0);
	ck_assert_int_eq(truncate(home, 0), 0);
	ck_assert_str_eq(wire_reply(fd, 0, &eof), "written=1");
	ck_assert_uint_eq(rd_drops_said(home, "bn"), 5);
	close(fd);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
}
END_TEST

/*
 * A batch's drops within a second of the last notice wait for that second;
 * the connection goes first (hangup), or relogd is stopped (SIGTERM): they
 * are said then, and written. They were queued and never written: at a
 * hangup until other input came, at a stop after the sinks had drained.
 */
static void
rd_drops_pending(int stop)
{
	const char *args[] = { "--rate-limit", "off", NULL };
	char home[512];
	int fd, eof;

	snprintf(home, sizeof home, "%s/_runtime.log", H.log_dir);
	harness_daemon_start(&H, args);
	fd = wire_open(&H, "dp");
	wire_batch_seq(fd, RELOG_TYPE_REQUEST, "plugin.ok", 1, 0, 5, 64);
	ck_assert_str_eq(wire_reply(fd, 0, &eof), "written=1");
	ck_assert_uint_eq(rd_drops_said(home, "dp"), 5);
	wire_batch_seq(fd, RELOG_TYPE_REQUEST, "plugin.ok", 1, 0, 7, 64);
	ck_assert_str_eq(wire_reply(fd, 0, &eof), "written=1");
	if (stop) {
		ck_assert_int_eq(harness_daemon_stop(&H), 0);
		ck_assert_uint_eq(rd_drops_said(home, "dp"), 12);
		close(fd);
		return;
	}
	close(fd);
	rd_await_drops_said(home, "dp", 12);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
}

START_TEST(test_ringd_drops_said_at_hangup)
{
	rd_drops_pending(0);
}
END_TEST

START_TEST(test_ringd_drops_said_at_stop)
{
	rd_drops_pending(1);
}
END_TEST

/*
 * A runner whose last drop notice waits in a stalled sink hangs up and
 * comes back with its ring: the old connection waits a second at most for
 * the notice, then goes, and the new one's ring is read (it waited for the
 * notice without end; the new ring, behind it, was never read).
 */
START_TEST(test_ringd_notice_stall_reconnect)
{
	const char *args[] = { "--rate-limit", "off", NULL };
	struct rd_runner r;
	char *log;

	(void)harness_fill_log(&H, "_runtime", 4 << 20);
	harness_daemon_start(&H, args);
	rd_make(&r, "hr", 1024);
	rd_emit(&r, "plugin.ok", 0, 1030);
	ck_assert_str_eq(rd_connect(&r, NULL), "accepted, ring, recheck");
	rd_sync(&r);
	close(r.fd);
	ck_assert_str_eq(rd_connect(&r, NULL), "accepted, ring, recheck");
	rd_emit(&r, "plugin.ok", 1030, 10);
	rd_sync(&r);
	/* All but the 6 the ring overwrote before the first hello. */
	log = harness_plugin_log(&H, "ok");
	ck_assert_int_eq(harness_count(log, "runner=hr "), 1034);
	ck_assert_ptr_nonnull(strstr(log, "seq=1039\n"));
	free(log);
	rd_close(&r);
	ck_assert_int_eq(harness_daemon_stop(&H), 0);
}
END_TEST

/*
 * A ring's losses are said before its ring_sync is answered, and the
 * answer waits for their notice: relog_close returns on it and the ring
 * goes with the runner, so a relogd killed right after the answer left a
 * count it held back (a notice a second) to no one.
 */
START_TEST(test_ringd_drops_said_before_sync)
{
	const char *args[] = { "--rate-limit", "off", NULL };
	struct rd_runner r;
	uint64_t lost;
	char home[512];

	snprintf(home, sizeof home, "%s/ds.log", H.log_dir);
	harness_daemon_start(&H, args);
	rd_open_lost6(&r, "ds", home);
	rd_sync(&r);
	/*
	 * Within the second after that notice: more lost (relogd stopped,
	 * or it may keep up), then a sync.
	 */
	ck_assert_int_eq(kill(H.daemon, SIGSTOP), 0);
	rd_emit(&r, "plugin.ds", 1030, 3000);
	ck_assert_int_eq(kill(H.daemon, SIGCONT), 0);
	lost = rd_lost(&r);
	ck_assert_uint_gt(lost, 6);
	rd_sync(&r);
	rd_close(&r);
	ck_assert_int_eq(harness_daemon_kill(&H), 128 + SIGKILL);
	ck_assert_uint_eq(rd_drops_said(home, "ds"), lost);
}
END_TEST

Suite *
suite_ringd(void)
{
	Suite *s = suite_create("ringd");
	TCase *tc = tcase_create("ringd");

	tcase_add_checked_fixture(tc, rd_setup, rd_teardown);
	tcase_set_timeout(tc, 180);
	tcase_add_test(tc, test_ringd_records);
	tcase_add_test(tc, test_ringd_refused);
	tcase_add_test(tc, test_ringd_stray_fds);
	tcase_add_loop_test(tc, test_ringd_scribbler, 0, 2);
	tcase_add_test(tc, test_ringd_identity);
	tcase_add_test(tc, test_ringd_drops);
	tcase_add_test(tc, test_ringd_fast_ticks);
	tcase_add_test(tc, test_ringd_recheck);
	tcase_add_test(tc, test_ringd_recheck_closing);
	tcase_add_test(tc, test_ringd_runner_killed);
	tcase_add_test(tc, test_ringd_killed_mid_record);
	tcase_add_test(tc, test_ringd_hangup_pending);
	tcase_add_test(tc, test_ringd_beside_socket_clients);
	tcase_add_test(tc, test_ringd_off_batches);
	tcase_add_test(tc, test_ringd_no_memfd);
	tcase_add_test(tc, test_ringd_extra_fds_closed);
	tcase_add_test(tc, test_ringd_wake_shut_down);
	tcase_add_test(tc, test_ringd_reconnect_same_ring);
	tcase_add_test(tc, test_ringd_reconnect_total);
	tcase_add_test(tc, test_ringd_reconnect_off);
	tcase_add_test(tc, test_ringd_stop_stalled);
	tcase_add_test(tc, test_ringd_chain_writer_waited);
	tcase_add_test(tc, test_ringd_congested_writer_waited);
	tcase_add_test(tc, test_ringd_same_ring_live);
	tcase_add_test(tc, test_ringd_ring_of_other_uid);
	tcase_add_test(tc, test_ringd_fruitless_wakes);
	tcase_add_test(tc, test_ringd_ring_share_of_uid);
	tcase_add_test(tc, test_ringd_drops_said_when_dropped);
	tcase_add_test(tc, test_ringd_drops_said_before_sync);
	tcase_add_test(tc, test_ringd_congested_stays);
	tcase_add_test(tc, test_ringd_acks_merge);
	tcase_add_test(tc, test_ringd_acks_bounded);
	tcase_add_test(tc, test_ringd_large_records_memory);
	tcase_add_test(tc, test_ringd_drops_said_after_kill);
	tcase_add_test(tc, test_ringd_taken_lost_after_kill);
	tcase_add_test(tc, test_ringd_drops_said_stalled);
	tcase_add_test(tc, test_ringd_drops_said_at_close);
	tcase_add_test(tc, test_ringd_notice_stall_commits);
	tcase_add_test(tc, test_ringd_batch_notice_before_ack);
	tcase_add_test(tc, test_ringd_drops_said_at_hangup);
	tcase_add_test(tc, test_ringd_drops_said_at_stop);
	tcase_add_test(tc, test_ringd_notice_stall_reconnect);
	suite_add_tcase(s, tc);
	return (s);
}

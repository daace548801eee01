/*
 * ringbench: what the shared record ring (shim/shm-ring.c, proto/proto-ring.c)
 * costs on this machine, in one run. It asserts nothing; it prints a table.
 * Every process it starts, it stops.
 *
 *   ringbench [--quick]
 *
 * - Push latency: the TSC read around each shm_ring_push (its own cost
 *   subtracted), 100,000 pushes per thread after 10,000 to warm up, from 1
 *   and 4 threads on one ring of the default size, sharing its one lane
 *   ("lane0": lane 0's protocol, with atomic swaps), or each in a lane of
 *   its own ("own": of 8 lanes), while a consumer process
 *   drains it as relogd will: it reads, arms for 1, 20 or N/2 slots (or
 *   never: "timer") and waits for the wakeup or 100 ms. "flood": back to
 *   back, so the ring overflows and most pushes overwrite an unread record.
 *   "paced": bursts of 16 pushes, each after 50 us asleep (or what
 *   nanosleep makes of it), which the consumer keeps up with when woken, so
 *   that the wakeups (a send(2) in the pushing thread) are in the figures:
 *   about one per "arm" slots. "lost": records overwritten or given up
 *   while measured. And the pushes that wake a consumer asleep in poll,
 *   alone.
 * - System calls and mallocs per 1,000 pushes, in steady state: the pushing
 *   thread runs under a seccomp filter that traps every system call but
 *   sendto (the wakeup, counted apart), and malloc, calloc and realloc are
 *   wrapped (-Wl,--wrap) and counted per thread.
 * - One consumer's throughput: a thread fills the ring, the consumer drains
 *   it, over and over (records cross cores as they will); and the records a
 *   consumer process gets per second while a producer floods.
 */
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include "proto-ring.h"
#include "relog-ring.h"
#include "shm-ring.h"
#include "measure.h"

#define RB_MSG_SIZE 100		/* bytes of message per record */
#define RB_WARMUP 10000		/* pushes per thread before measuring */
#define RB_BURST 16		/* paced: pushes in a burst, then */
#define RB_PAUSE_NS 50000	/* asleep this long (or more) */
#define RB_TIMER_MS 100		/* the consumer reads at least this often */
#define RB_THREADS_MAX 4

static size_t rb_pushes = 100000;	/* measured, per thread */

/* Say what went wrong and stop (children die with their parent's pipe). */
static void __attribute__((noreturn))
rb_fatal(const char *what)
{
	fprintf(stderr, "ringbench: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* The p-th percentile (0..1) of n sorted samples, in ns. */
static uint64_t
rb_pct(const uint64_t *v, size_t n, double p)
{
	size_t i = (size_t)(p * (double)(n - 1) + 0.5);

	return (measure_ticks_ns(v[i < n ? i : n - 1]));
}

/* The record every push copies: 152 bytes in the ring, one slot. */
static char rb_msg[RB_MSG_SIZE];

static void
rb_record(struct shm_ring_record *rec, uint64_t i)
{
	memset(rec, 0, sizeof *rec);
	rec->timestamp_ms = 1764306519000 + (int64_t)i;
	rec->level = 20;
	rec->name = "plugin.bench";
	rec->name_len = 12;
	rec->msg = rb_msg;
	rec->msg_len = sizeof rb_msg;
	rec->exc = "";
}

/* The wake callback: one datagram on the consumer's socket, counted. */
static _Atomic uint64_t rb_wakes;

static void
rb_wake(void *arg)
{
	int fd = *(const int *)arg;

	atomic_fetch_add_explicit(&rb_wakes, 1, memory_order_relaxed);
	(void)send(fd, "w", 1, MSG_DONTWAIT | MSG_NOSIGNAL);
}

/* What a consumer process got, written to its pipe when told to stop. */
struct rb_consumed {
	uint64_t delivered;
	uint64_t torn;
	uint64_t ns;		/* from its first record to the stop */
};

struct rb_consumer {
	pid_t pid;
	int ctl;		/* write a byte: drain, report, exit */
	int result;
	int wake[2];		/* [0] the runner's end, [1] relogd's */
};

static int
rb_count_cb(const struct proto_ring_record *rec, void *arg)
{
	uint64_t *sum = arg;

	*sum += rec->message.len;
	return (0);
}

/*
 * A consumer process draining the ring as relogd will, until ctl speaks:
 * it reads, arms for arm slots (0: never), and waits for the wakeup or its
 * timer.
 */
static void __attribute__((noreturn))
rb_consume(int ring_fd, int wake_fd, int ctl_fd, int out_fd, uint32_t arm)
{
	struct proto_ring_counts c;
	struct rb_consumed res;
	struct proto_ring *r;
	struct pollfd pfd[2];
	const char *cause;
	uint64_t sum = 0, first = 0;
	char b[64];
	int rc, done = 0;

	if (proto_ring_open(ring_fd, SIZE_MAX, &r, &cause) != 0) {
		fprintf(stderr, "ringbench: %s\n", cause);
		_exit(1);
	}
	memset(&c, 0, sizeof c);
	for (;;) {
		rc = proto_ring_read(r, 0, 256, 1u << 20, rb_count_cb, &sum,
		    &c);
		if (rc < 0) {
			fprintf(stderr, "ringbench: %s\n", proto_ring_cause(r));
			_exit(1);
		}
		proto_ring_commit(r, proto_ring_position(r));
		if (first == 0 && c.delivered != 0)
			first = measure_now_ns();
		if (rc == PROTO_RING_AGAIN)
			continue;
		if (done)
			break;
		if (arm != 0 && proto_ring_arm(r, arm) == 1)
			continue;
		pfd[0].fd = wake_fd;
		pfd[0].events = POLLIN;
		pfd[1].fd = ctl_fd;
		pfd[1].events = POLLIN;
		if (poll(pfd, 2, RB_TIMER_MS) < 0 && errno != EINTR)
			_exit(1);
		while (recv(wake_fd, b, sizeof b, MSG_DONTWAIT) > 0)
			;
		if (pfd[1].revents != 0)
			done = 1;
	}
	res.delivered = c.delivered;
	res.torn = c.torn;
	res.ns = first != 0 ? measure_now_ns() - first : 0;
	if (write(out_fd, &res, sizeof res) != sizeof res)
		_exit(1);
	proto_ring_close(r);
	_exit(0);
}

/* Start a consumer process on ring's fd, arming for arm slots. */
static void
rb_consumer_start(struct rb_consumer *cons, struct shm_ring *ring,
    uint32_t arm)
{
	int ctl[2], out[2];

	if (pipe2(ctl, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0)
		rb_fatal("pipe");
	cons->pid = fork();
	if (cons->pid < 0)
		rb_fatal("fork");
	if (cons->pid == 0) {
		close(ctl[1]);
		close(out[0]);
		rb_consume(shm_ring_fd(ring), cons->wake[1], ctl[0], out[1],
		    arm);
	}
	close(ctl[0]);
	close(out[1]);
	cons->ctl = ctl[1];
	cons->result = out[0];
}

/* Tell it to drain and stop; its report, once it has exited. */
static void
rb_consumer_stop(struct rb_consumer *cons, struct rb_consumed *res)
{
	int status;

	if (write(cons->ctl, "s", 1) != 1 ||
	    read(cons->result, res, sizeof *res) != sizeof *res)
		rb_fatal("consumer");
	if (waitpid(cons->pid, &status, 0) != cons->pid || status != 0)
		rb_fatal("consumer exit");
	close(cons->ctl);
	close(cons->result);
}

struct rb_producer {
	pthread_t thread;
	struct shm_ring *ring;
	size_t count;		/* pushes measured */
	uint64_t *ticks;	/* count of them */
	int paced;		/* bursts and sleeps; 0: back to back */
	uint64_t mallocs;	/* while measured */
	uint64_t wakes;
	uint64_t ns;		/* the measured pushes took, pacing included */
};

static _Atomic unsigned rb_ready;
static _Atomic int rb_go;

/* A producer thread: warm up, wait for the others, push and time. */
static void *
rb_produce(void *arg)
{
	struct timespec pause = { 0, RB_PAUSE_NS };
	struct rb_producer *p = arg;
	struct shm_ring_record rec;
	uint64_t i, t0, m0, start;

	rb_record(&rec, 0);
	for (i = 0; i < RB_WARMUP; i++)
		shm_ring_push(p->ring, &rec);
	atomic_fetch_add(&rb_ready, 1);
	while (!atomic_load(&rb_go))
		_mm_pause();
	m0 = measure_mallocs;
	start = measure_now_ns();
	for (i = 0; i < p->count; i++) {
		if (p->paced && i % RB_BURST == 0)
			nanosleep(&pause, NULL);
		rec.timestamp_ms++;
		t0 = measure_tsc();
		shm_ring_push(p->ring, &rec);
		p->ticks[i] = measure_tsc() - t0;
	}
	p->ns = measure_now_ns() - start;
	p->mallocs = measure_mallocs - m0;
	return (NULL);
}

/*
 * One latency run: n threads on a fresh ring, a consumer draining it and
 * arming for arm slots. own: the ring has RELOG_RING_LANES_MAX lanes, and
 * each thread one of its own (n < 8); else one lane, lane 0, which the
 * threads share (as threads beyond the free lanes do).
 */
static void
rb_latency(unsigned n, int own, int paced, uint32_t arm)
{
	struct rb_producer p[RB_THREADS_MAX];
	struct shm_ring_stats st;
	struct rb_consumed res;
	struct rb_consumer cons;
	struct shm_ring *ring;
	uint64_t *all, mallocs = 0, ns = 0, w0, lost0;
	unsigned t;

	if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, cons.wake) != 0)
		rb_fatal("socketpair");
	if (shm_ring_create_lanes(&ring, shm_ring_slots(200), own ?
	    RELOG_RING_LANES_MAX : 1, rb_wake, &cons.wake[0]) != 0)
		rb_fatal("shm_ring_create_lanes");
	rb_consumer_start(&cons, ring, arm);
	all = calloc(n * rb_pushes, sizeof *all);
	if (all == NULL)
		rb_fatal("calloc");
	atomic_store(&rb_ready, 0);
	atomic_store(&rb_go, 0);
	for (t = 0; t < n; t++) {
		memset(&p[t], 0, sizeof p[t]);
		p[t].ring = ring;
		p[t].count = rb_pushes;
		p[t].ticks = all + t * rb_pushes;
		p[t].paced = paced;
		if (pthread_create(&p[t].thread, NULL, rb_produce, &p[t]) != 0)
			rb_fatal("pthread_create");
	}
	while (atomic_load(&rb_ready) != n)
		sched_yield();
	shm_ring_stats(ring, &st);
	lost0 = st.overwritten + st.abandoned;
	w0 = atomic_load(&rb_wakes);
	atomic_store(&rb_go, 1);
	for (t = 0; t < n; t++) {
		pthread_join(p[t].thread, NULL);
		mallocs += p[t].mallocs;
		ns = p[t].ns > ns ? p[t].ns : ns;
	}
	shm_ring_stats(ring, &st);
	w0 = atomic_load(&rb_wakes) - w0;
	rb_consumer_stop(&cons, &res);
	qsort(all, n * rb_pushes, sizeof *all, measure_cmp_u64);
	printf("  %u thread%s %-5s %-5s %-5s %7llu %7llu %7llu %9llu %6.2f M/s "
	    "%4.0f%% %6.1f\n", n, n > 1 ? "s" : " ", own ? "own" : "lane0",
	    paced ? "paced" : "flood",
	    arm == 0 ? "timer" : arm == 1 ? "1" : arm == 20 ? "20" : "N/2",
	    (unsigned long long)rb_pct(all, n * rb_pushes, 0.5),
	    (unsigned long long)rb_pct(all, n * rb_pushes, 0.99),
	    (unsigned long long)rb_pct(all, n * rb_pushes, 0.999),
	    (unsigned long long)rb_pct(all, n * rb_pushes, 1.0),
	    (double)(n * rb_pushes) * 1e3 / (double)ns,
	    100.0 * (double)(st.overwritten + st.abandoned - lost0) /
	    (double)(n * rb_pushes), (double)w0 * 1000 /
	    (double)(n * rb_pushes));
	if (mallocs != 0)
		printf("    (%llu mallocs while measured)\n",
		    (unsigned long long)mallocs);
	free(all);
	shm_ring_destroy(ring);
	close(cons.wake[0]);
	close(cons.wake[1]);
}

/*
 * What a wakeup costs the pushing thread: pushes that find the consumer
 * armed (for 1 slot: every one, as it sleeps in poll between them), timed
 * like the others.
 */
static void
rb_wakeup(void)
{
	struct timespec pause = { 0, RB_PAUSE_NS };
	struct shm_ring_record rec;
	struct rb_consumed res;
	struct rb_consumer cons;
	struct shm_ring *ring;
	uint64_t *v, i, n = rb_pushes / 10, t0, w0;

	v = calloc(n, sizeof *v);
	if (v == NULL ||
	    socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, cons.wake) != 0 ||
	    shm_ring_create(&ring, shm_ring_slots(200), rb_wake,
	    &cons.wake[0]) != 0)
		rb_fatal("ring");
	rb_consumer_start(&cons, ring, 1);
	rb_record(&rec, 0);
	w0 = atomic_load(&rb_wakes);
	for (i = 0; i < n; i++) {
		nanosleep(&pause, NULL);
		t0 = measure_tsc();
		shm_ring_push(ring, &rec);
		v[i] = measure_tsc() - t0;
	}
	w0 = atomic_load(&rb_wakes) - w0;
	rb_consumer_stop(&cons, &res);
	qsort(v, n, sizeof *v, measure_cmp_u64);
	printf("  a push that wakes (%3.0f%% did)         %7llu %7llu %7llu "
	    "%9llu\n",
	    100.0 * (double)w0 / (double)n,
	    (unsigned long long)rb_pct(v, n, 0.5),
	    (unsigned long long)rb_pct(v, n, 0.99),
	    (unsigned long long)rb_pct(v, n, 0.999),
	    (unsigned long long)rb_pct(v, n, 1.0));
	free(v);
	shm_ring_destroy(ring);
	close(cons.wake[0]);
	close(cons.wake[1]);
}

/* System calls the probe thread made (SIGSYS from its seccomp filter). */
static volatile sig_atomic_t rb_trapped;

static void
rb_sigsys(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)si;
	rb_trapped++;
	((ucontext_t *)uc)->uc_mcontext.gregs[REG_RAX] = -ENOSYS;
}

struct rb_probe {
	struct shm_ring *ring;
	_Atomic int done;
	uint64_t trapped, wakes, mallocs;
};

/*
 * The probe thread: from here on every system call but sendto (the wakeup)
 * and rt_sigreturn (the handler's return) traps and is counted. It never
 * returns: its process ends with _exit from the main thread.
 */
static void *
rb_probe_thread(void *arg)
{
	struct sock_filter filter[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
		    offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_sendto, 2, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_rt_sigreturn, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRAP),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {
		.len = sizeof filter / sizeof filter[0], .filter = filter,
	};
	struct rb_probe *p = arg;
	struct shm_ring_record rec;
	uint64_t i, w0, m0;

	rb_record(&rec, 0);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0)
		rb_fatal("seccomp");
	for (i = 0; i < RB_WARMUP; i++)
		shm_ring_push(p->ring, &rec);
	rb_trapped = 0;
	w0 = atomic_load(&rb_wakes);
	m0 = measure_mallocs;
	for (i = 0; i < rb_pushes; i++) {
		rec.timestamp_ms++;
		shm_ring_push(p->ring, &rec);
		/* Now and then, a pause the consumer catches up in. */
		if (i % 1000 == 999) {
			uint64_t until = measure_tsc() +
			    measure_ns_ticks(200000);

			while (measure_tsc() < until)
				_mm_pause();
		}
	}
	p->trapped = (uint64_t)rb_trapped;
	p->wakes = atomic_load(&rb_wakes) - w0;
	p->mallocs = measure_mallocs - m0;
	atomic_store(&p->done, 1);
	for (;;)
		_mm_pause();
	return (NULL);
}

/*
 * System calls and mallocs per 1,000 pushes, in a process of its own (its
 * probe thread cannot shed its filter), with a consumer draining and arming
 * the wakeup as relogd will.
 */
static void
rb_calls(void)
{
	struct rb_probe probe;
	struct rb_consumed res;
	struct rb_consumer cons;
	struct sigaction sa;
	pthread_t thread;
	int out[2], status;
	pid_t pid;

	if (pipe2(out, O_CLOEXEC) != 0)
		rb_fatal("pipe");
	pid = fork();
	if (pid < 0)
		rb_fatal("fork");
	if (pid == 0) {
		memset(&probe, 0, sizeof probe);
		memset(&sa, 0, sizeof sa);
		sa.sa_sigaction = rb_sigsys;
		sa.sa_flags = SA_SIGINFO;
		if (sigaction(SIGSYS, &sa, NULL) != 0 ||
		    socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0,
		    cons.wake) != 0 ||
		    shm_ring_create(&probe.ring, shm_ring_slots(200), rb_wake,
		    &cons.wake[0]) != 0)
			_exit(1);
		rb_consumer_start(&cons, probe.ring, 20);
		if (pthread_create(&thread, NULL, rb_probe_thread, &probe) != 0)
			_exit(1);
		while (!atomic_load(&probe.done))
			sched_yield();
		rb_consumer_stop(&cons, &res);
		if (write(out[1], &probe, sizeof probe) != sizeof probe)
			_exit(1);
		_exit(0);
	}
	close(out[1]);
	if (read(out[0], &probe, sizeof probe) != sizeof probe ||
	    waitpid(pid, &status, 0) != pid || status != 0)
		rb_fatal("probe");
	close(out[0]);
	printf("system calls per 1,000 pushes     %8.2f   (and wakeups, "
	    "sendto: %.2f)\n", (double)probe.trapped * 1000 / (double)rb_pushes,
	    (double)probe.wakes * 1000 / (double)rb_pushes);
	printf("mallocs per 1,000 pushes          %8.2f\n",
	    (double)probe.mallocs * 1000 / (double)rb_pushes);
}

struct rb_filler {
	struct shm_ring *ring;
	_Atomic uint64_t want;	/* rounds asked for */
	_Atomic uint64_t made;	/* rounds filled */
	unsigned per_round;
};

/* Fill the ring each time a round is asked for (another core). */
static void *
rb_fill(void *arg)
{
	struct rb_filler *f = arg;
	struct shm_ring_record rec;
	uint64_t round = 0;
	unsigned i;

	rb_record(&rec, 0);
	for (;;) {
		while (atomic_load(&f->want) == round)
			_mm_pause();
		round = atomic_load(&f->want);
		if (round == UINT64_MAX)
			break;
		for (i = 0; i < f->per_round; i++)
			shm_ring_push(f->ring, &rec);
		atomic_store(&f->made, round);
	}
	return (NULL);
}

/* One consumer's drain rate: a thread fills, this one drains, timed. */
static void
rb_drain(void)
{
	struct proto_ring_counts c;
	struct rb_filler f;
	struct proto_ring *r;
	const char *cause;
	pthread_t thread;
	uint64_t round, rounds = rb_pushes / 500, ns = 0, t0, sum = 0;

	memset(&f, 0, sizeof f);
	f.per_round = 1000;
	if (shm_ring_create(&f.ring, shm_ring_slots(200), NULL, NULL) != 0 ||
	    proto_ring_open(shm_ring_fd(f.ring), SIZE_MAX, &r, &cause) != 0)
		rb_fatal("ring");
	if (pthread_create(&thread, NULL, rb_fill, &f) != 0)
		rb_fatal("pthread_create");
	memset(&c, 0, sizeof c);
	for (round = 1; round <= rounds; round++) {
		atomic_store(&f.want, round);
		while (atomic_load(&f.made) != round)
			_mm_pause();
		t0 = measure_now_ns();
		while (proto_ring_read(r, 0, 256, 1u << 20, rb_count_cb, &sum,
		    &c) == PROTO_RING_AGAIN)
			;
		proto_ring_commit(r, proto_ring_position(r));
		ns += measure_now_ns() - t0;
	}
	atomic_store(&f.want, UINT64_MAX);
	pthread_join(thread, NULL);
	printf("consumer, draining a full ring    %8.1f ns a record, "
	    "%.1f M records/s (%.0f MB/s of records)\n",
	    (double)ns / (double)c.delivered,
	    (double)c.delivered * 1e3 / (double)ns,
	    (double)c.bytes * 1e3 / (double)ns);
	proto_ring_close(r);
	shm_ring_destroy(f.ring);
}

/* A consumer process's rate while one producer thread floods. */
static void
rb_flooded(void)
{
	struct rb_producer p;
	struct shm_ring_stats st;
	struct rb_consumed res;
	struct rb_consumer cons;
	struct shm_ring *ring;

	if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, cons.wake) != 0 ||
	    shm_ring_create(&ring, shm_ring_slots(200), rb_wake,
	    &cons.wake[0]) != 0)
		rb_fatal("ring");
	rb_consumer_start(&cons, ring, 20);
	memset(&p, 0, sizeof p);
	p.ring = ring;
	p.count = 10 * rb_pushes;
	p.ticks = calloc(p.count, sizeof *p.ticks);
	if (p.ticks == NULL)
		rb_fatal("calloc");
	atomic_store(&rb_ready, 0);
	atomic_store(&rb_go, 1);
	rb_produce(&p);
	rb_consumer_stop(&cons, &res);
	shm_ring_stats(ring, &st);
	printf("consumer process, one producer    %8.1f M records/s read "
	    "(%.0f%% of %.1f M/s pushed; %llu overwritten, %llu torn)\n",
	    (double)res.delivered * 1e3 / (double)res.ns,
	    100.0 * (double)res.delivered / (double)(p.count + RB_WARMUP),
	    (double)p.count * 1e3 / (double)p.ns,
	    (unsigned long long)st.overwritten, (unsigned long long)res.torn);
	free(p.ticks);
	shm_ring_destroy(ring);
	close(cons.wake[0]);
	close(cons.wake[1]);
}

int
main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "--quick") == 0)
		rb_pushes /= 10;
	else if (argc != 1) {
		fprintf(stderr, "usage: ringbench [--quick]\n");
		return (2);
	}
	memset(rb_msg, 'm', sizeof rb_msg);
	measure_calibrate();
	printf("ringbench: %ld cores, a ring of %u slots of %u bytes, records "
	    "of %llu bytes (%u of message), %zu pushes per thread\n",
	    sysconf(_SC_NPROCESSORS_ONLN), shm_ring_slots(200),
	    RELOG_RING_SLOT_SIZE,
	    (unsigned long long)(RELOG_RING_RECORD_HEADER + relog_ring_pad(12) +
	    relog_ring_pad(RB_MSG_SIZE)), RB_MSG_SIZE,
	    rb_pushes);
	printf("push latency (ns); the consumer         p50     p99   p99.9 "
	    "      max    pushed  lost wakeups\n"
	    "reads every %d ms, and when woken if armed (for 1, 20 or N/2 "
	    "slots)                   per 1,000\n"
	    "(lane0: one lane all share; own: a lane each)\n", RB_TIMER_MS);
	rb_latency(1, 0, 0, 20);
	rb_latency(4, 0, 0, 20);
	rb_latency(1, 0, 1, 1);
	rb_latency(1, 0, 1, 20);
	rb_latency(1, 0, 1, UINT32_MAX);
	rb_latency(1, 0, 1, 0);
	rb_latency(4, 0, 1, 1);
	rb_latency(4, 0, 1, 20);
	rb_latency(4, 0, 1, UINT32_MAX);
	rb_latency(4, 0, 1, 0);
	rb_latency(1, 1, 0, 20);
	rb_latency(4, 1, 0, 20);
	rb_latency(1, 1, 1, 1);
	rb_latency(1, 1, 1, UINT32_MAX);
	rb_latency(4, 1, 1, UINT32_MAX);
	rb_latency(1, 1, 1, 0);
	rb_wakeup();
	rb_calls();
	rb_drain();
	rb_flooded();
	return (0);
}

/*
 * relog-bench's emit rows: relog_emit timed one call at a time from one
 * and four threads on one handle, paced (1 M records/s in all: relogd
 * keeps up) and as fast as they go (relogd falls behind: the ring full),
 * the machine's own row beside them (a loop as long, no relog), and the
 * system calls and mallocs of 1,000 emits, counted by strace.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "relog-bench.h"

/* Sort samples (ticks) and take their percentiles in ns. */
void
bench_lat_from(struct bench_lat *l, uint64_t *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		v[i] = measure_ticks_ns(v[i]);
	qsort(v, n, sizeof *v, measure_cmp_u64);
	l->p50 = bench_pct(v, n, 0.50);
	l->p99 = bench_pct(v, n, 0.99);
	l->p999 = bench_pct(v, n, 0.999);
	l->max = v[n - 1];
	l->n = n;
}

/* Paced, four producers yield before one emit in this many. */
#define BENCH_YIELD_EVERY 16

/* One producer thread of the emit latency run. */
struct bench_producer {
	relog_t *h;
	uint64_t *ticks;
	uint64_t pace;		/* ticks from one emit's start to the next */
	int yield;		/* yield before every yield-th emit (0: never) */
	int id;
};

static void *
bench_produce(void *arg)
{
	struct bench_producer *p = arg;
	struct relog_entry e = { .sz = sizeof e, .level = RELOG_INFO };
	char msg[BENCH_MSG_SIZE + 1];
	uint64_t t0 = 0, i, spin = measure_ns_ticks(1000);

	e.logger_name = "plugin.bench.emit";
	e.message = msg;
	bench_message(msg, 0);
	for (i = 0; i < BENCH_EMITS; i++) {
		/*
		 * Paced: wait (untimed) for the next emit's turn, the last
		 * µs spinning, so that no system call comes just before it.
		 */
		while (p->pace != 0 && i != 0 && measure_tsc() - t0 < p->pace) {
			if (p->yield != 0 && i % (uint64_t)p->yield == 0 &&
			    p->pace - (measure_tsc() - t0) > spin)
				sched_yield();
			else
				_mm_pause();
		}
		t0 = measure_tsc();
		relog_emit(p->h, &e);
		p->ticks[i] = measure_tsc() - t0;
	}
	return (NULL);
}

/* A loop body of n adds, no memory shared: the work the floor times. */
static __attribute__((noinline)) void
bench_spin(uint64_t n)
{
	volatile uint64_t x = 0;
	uint64_t i;

	for (i = 0; i < n; i++)
		x += i;
	(void)x;
}

/* Time count loops of n adds (into v) and take their percentiles. */
static void
bench_floor_time(struct bench_lat *l, uint64_t *v, size_t count, uint64_t n)
{
	uint64_t t0;
	size_t i;

	for (i = 0; i < count; i++) {
		t0 = measure_tsc();
		bench_spin(n);
		v[i] = measure_tsc() - t0;
	}
	bench_lat_from(l, v, count);
}

/* The p50 (ns) of 1,001 loops of n adds (v holds them). */
static uint64_t
bench_floor_p50(uint64_t *v, uint64_t n)
{
	struct bench_lat l;

	bench_floor_time(&l, v, 1001, n);
	return (l.p50);
}

/*
 * What the machine itself adds to a latency's tail: the same timing around
 * a loop body (no relog, no memory shared) as long as an emit's p50
 * (ns). A VM whose vCPU stops for a few µs now and then shows it here as
 * in the emit rows: p99.9 of the emit is not relog's below this row's.
 */
void
bench_floor(struct bench_lat *l, uint64_t ns)
{
	uint64_t *v, lo = 0, hi = 1, n;

	if ((v = calloc(BENCH_EMITS, sizeof *v)) == NULL)
		bench_fatal("out of memory");
	/*
	 * The fewest adds whose p50 reaches the emit's: doubled until it
	 * does, then halved in between.
	 */
	while (bench_floor_p50(v, hi) < ns && hi < ((uint64_t)1 << 20)) {
		lo = hi;
		hi *= 2;
	}
	while (hi - lo > 1) {
		n = lo + (hi - lo) / 2;
		if (bench_floor_p50(v, n) < ns)
			lo = n;
		else
			hi = n;
	}
	bench_floor_time(l, v, BENCH_EMITS, hi);
	free(v);
}

/*
 * relog_emit's latency with threads producers, the daemon connected and
 * draining, default settings (a ring of 200): paced (BENCH_PACED,
 * BENCH_PACED_YIELD), the threads together emit BENCH_PACED_RATE
 * records/s (relogd keeps up: no record dropped, it says if one was), else
 * (BENCH_FULL) as fast as they can (relogd falls behind, and emits
 * overwrite the oldest records).
 *
 * Paced, a thread waits spinning; but four on two CPUs would starve
 * relogd (records dropped), so each yields the CPU (but for the last µs)
 * before one emit in BENCH_YIELD_EVERY, and BENCH_PACED_YIELD before
 * every emit. A yield is a system call, and where the kernel isolates
 * its page tables (PTI) without PCIDs, its return empties the TLB: the
 * next emit pays a page walk for each page it touches. That row shows
 * what an emit costs right after a system call; the other the rest.
 */
void
bench_emit_latency(struct bench_lat *l, const char *socket, int threads,
    enum bench_pace pace)
{
	struct bench_producer p[4];
	pthread_t t[4];
	uint64_t *all;
	relog_t *h;
	int i;

	h = bench_open(socket, "bench-emit", 0);
	/* Connected before timing starts. */
	relog_log(h, RELOG_INFO, "plugin.bench.emit", "hello");
	if (relog_flush(h, BENCH_TIMEOUT_MS) != 0)
		bench_fatal("relogd did not take the first record");
	all = calloc((size_t)threads * BENCH_EMITS, sizeof *all);
	if (all == NULL)
		bench_fatal("out of memory");
	for (i = 0; i < threads; i++) {
		p[i].h = h;
		p[i].ticks = all + (size_t)i * BENCH_EMITS;
		p[i].pace = pace != BENCH_FULL ? measure_ns_ticks(
		    1000000000ULL * (uint64_t)threads / BENCH_PACED_RATE) : 0;
		p[i].yield = threads == 1 || pace == BENCH_FULL ? 0 :
		    pace == BENCH_PACED_YIELD ? 1 : BENCH_YIELD_EVERY;
		p[i].id = i;
		pthread_create(&t[i], NULL, bench_produce, &p[i]);
	}
	for (i = 0; i < threads; i++)
		pthread_join(t[i], NULL);
	if (pace != BENCH_FULL && relog_dropped(h) != 0)
		fprintf(stderr, "relog-bench: the paced emit run with %d "
		    "producer%s dropped %llu records\n", threads,
		    threads == 1 ? "" : "s",
		    (unsigned long long)relog_dropped(h));
	relog_close(h, BENCH_TIMEOUT_MS);
	bench_lat_from(l, all, (size_t)threads * BENCH_EMITS);
	free(all);
}

void
bench_count_calls(struct bench_calls *c, const char *socket)
{
	char trace[PATH_MAX], line[512], countbuf[32], *out, *said;
	const char *argv[16];
	long tid = -1, lines_tid;
	unsigned long long mallocs = 0;
	int fd, marks = 0, status;
	uint64_t count = 100000, calls = 0, wakeups = 0;
	FILE *f;
	pid_t pid;

	c->available = access("/usr/bin/strace", X_OK) == 0;
	if (!c->available)
		return;
	bench_path(trace, sizeof trace, "%s/strace.out", bench_out);
	snprintf(countbuf, sizeof countbuf, "%llu", (unsigned long long)count);
	argv[0] = "/usr/bin/strace";
	argv[1] = "-f";
	argv[2] = "-qq";
	argv[3] = "-o";
	argv[4] = trace;
	argv[5] = bench_self;
	argv[6] = "probe";
	argv[7] = socket;
	argv[8] = countbuf;
	argv[9] = NULL;
	pid = harness_spawn(argv, NULL, &fd, NULL);
	out = harness_read_fd(fd, NULL);
	status = harness_wait(pid, BENCH_TIMEOUT_MS);
	if (status != 0 || (said = strstr(out, "tid=")) == NULL ||
	    sscanf(said, "tid=%ld mallocs=%llu", &tid, &mallocs) != 2)
		bench_fatal("the strace probe failed: %s", out);
	free(out);
	/* Count the main thread's calls between its two getppid()s. */
	f = fopen(trace, "re");
	if (f == NULL)
		bench_fatal("%s: %s", trace, strerror(errno));
	while (fgets(line, sizeof line, f) != NULL) {
		lines_tid = strtol(line, NULL, 10);
		if (lines_tid != tid)
			continue;
		if (strstr(line, " getppid(") != NULL) {
			marks++;
			continue;
		}
		if (marks != 1 || strstr(line, "resumed>") != NULL)
			continue;
		if (strstr(line, " sendto(") != NULL) {
			wakeups++;
			continue;
		}
		/* Say which: none is expected. */
		if (calls++ < 5)
			fprintf(stderr, "relog-bench: an emit called: %s",
			    line);
	}
	fclose(f);
	unlink(trace);
	c->syscalls = (double)calls * 1000.0 / (double)count;
	c->wakeups = (double)wakeups * 1000.0 / (double)count;
	c->mallocs = (double)mallocs * 1000.0 / (double)count;
}

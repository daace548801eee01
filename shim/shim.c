/*
 * What every part of librelog shares: its clocks, where its ring stands.
 */
#include <stdatomic.h>
#include <time.h>
#if defined(__x86_64__)
#include <cpuid.h>
#include <x86intrin.h>
#endif

#include "shim.h"
#include "shm-ring.h"

/*
 * The wall clock's millisecond, kept while the TSC says it has not ended:
 * a record's timestamp is in whole ms, and clock_gettime costs 26 ns where
 * the kernel's clock is kvm-clock (a fifth of relog_emit), rdtsc 8. A
 * seqlock, so any thread may read it and the one that finds it over may
 * renew it. The TSC must be invariant (CPUID says so); its rate is
 * measured against CLOCK_MONOTONIC over SHIM_CLOCK_CAL_NS once the process
 * has run that long, and a 64th is taken off it, so that a millisecond
 * ends early by the TSC, never late. Until then, and where there is no
 * such TSC, every call reads the clock.
 */
#define SHIM_CLOCK_CAL_NS (20 * 1000000LL)
#define SHIM_CLOCK_CAL_MAX (1000 * 1000000LL)	/* else measured again */

static struct {
	_Atomic uint64_t seq;		/* odd while renewed */
	_Atomic uint64_t start;		/* TSC at (before) the reading */
	_Atomic uint64_t end;		/* TSC by which the ms has ended */
	_Atomic int64_t ms;
	_Atomic uint64_t rate;		/* TSC ticks per ns << 16; 0: none */
	_Atomic int tsc;		/* 1 invariant, -1 not, 0 unknown */
	_Atomic int cal;		/* 0, 1 taking, 2 taken: the first reading */
	_Atomic uint64_t cal_tsc;
	_Atomic int64_t cal_ns;
} shim_clock;

#if defined(__x86_64__)
/* Does the CPU say its TSC runs at one rate, in every state? */
static int
shim_clock_invariant(void)
{
	unsigned a, b, c, d;

	return (__get_cpuid(0x80000007, &a, &b, &c, &d) && (d & (1u << 8)));
}

static uint64_t
shim_clock_tsc(void)
{
	return (__rdtsc());
}
#else
static int
shim_clock_invariant(void)
{
	return (0);
}

static uint64_t
shim_clock_tsc(void)
{
	return (0);
}
#endif

/* Monotonic ns, for measuring the TSC's rate. */
static int64_t
shim_clock_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec);
}

/*
 * Measure the TSC's rate (t: the TSC, read before this call), once
 * SHIM_CLOCK_CAL_NS have passed since a first reading that one thread
 * takes. Each reading errs toward a slower rate: the first reads the TSC
 * after the clock, the last before it. A rate no TSC has (the clock
 * stepped?) is not taken, and the measure starts over.
 */
static void
shim_clock_calibrate(uint64_t t)
{
	int cal = atomic_load_explicit(&shim_clock.cal, memory_order_acquire);
	int64_t ns = shim_clock_mono_ns(), dns;
	uint64_t t0, rate;

	if (cal == 0) {
		if (!atomic_compare_exchange_strong_explicit(&shim_clock.cal,
		    &cal, 1, memory_order_acquire, memory_order_relaxed))
			return;
		atomic_store_explicit(&shim_clock.cal_ns, ns,
		    memory_order_relaxed);
		atomic_store_explicit(&shim_clock.cal_tsc, shim_clock_tsc(),
		    memory_order_relaxed);
		atomic_store_explicit(&shim_clock.cal, 2, memory_order_release);
		return;
	}
	if (cal != 2)
		return;
	t0 = atomic_load_explicit(&shim_clock.cal_tsc, memory_order_relaxed);
	dns = ns - atomic_load_explicit(&shim_clock.cal_ns,
	    memory_order_relaxed);
	if (dns < SHIM_CLOCK_CAL_NS)
		return;
	/* Ticks per ns << 16, less a 64th: a ms ends early, never late. */
	rate = t > t0 && t - t0 < (uint64_t)1 << 47 && dns < SHIM_CLOCK_CAL_MAX ?
	    ((t - t0) << 16) / (uint64_t)dns : 0;
	rate -= rate / 64;
	if (rate < (1u << 16) / 10 || rate > (uint64_t)100 << 16) {
		atomic_store_explicit(&shim_clock.cal, 0, memory_order_relaxed);
		return;
	}
	atomic_store_explicit(&shim_clock.rate, rate, memory_order_release);
}

/*
 * Read the wall clock (the TSC just before, in t0) and keep its ms for
 * the other calls until the TSC says it has ended. A renewal another
 * thread is making is left to it.
 */
static int64_t
shim_clock_renew(uint64_t t0, uint64_t rate)
{
	struct timespec ts;
	uint64_t s;
	int64_t ms;

	clock_gettime(CLOCK_REALTIME, &ts);
	ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	s = atomic_load_explicit(&shim_clock.seq, memory_order_relaxed);
	if (rate == 0 || (s & 1) != 0 ||
	    !atomic_compare_exchange_strong_explicit(&shim_clock.seq, &s,
	    s + 1, memory_order_acquire, memory_order_relaxed))
		return (ms);
	atomic_thread_fence(memory_order_release);
	atomic_store_explicit(&shim_clock.start, t0, memory_order_relaxed);
	atomic_store_explicit(&shim_clock.end, t0 + (((uint64_t)(1000000 -
	    ts.tv_nsec % 1000000) * rate) >> 16), memory_order_relaxed);
	atomic_store_explicit(&shim_clock.ms, ms, memory_order_relaxed);
	atomic_store_explicit(&shim_clock.seq, s + 2, memory_order_release);
	return (ms);
}

/* Monotonic clock in ms. */
int64_t
shim_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

/* A CLOCK_MONOTONIC time in ms, for pthread_cond_timedwait. */
struct timespec
shim_abstime(int64_t mono_ms)
{
	struct timespec ts = {
		.tv_sec = mono_ms / 1000,
		.tv_nsec = (mono_ms % 1000) * 1000000,
	};

	return (ts);
}

/*
 * Wall clock in ms since the epoch: the kept ms while the TSC says it
 * holds (a seqlock read), else read afresh.
 */
int64_t
shim_wall_ms(void)
{
	uint64_t s, t, start, end, rate;
	int64_t ms;
	int tsc = atomic_load_explicit(&shim_clock.tsc, memory_order_relaxed);

	if (tsc == 0) {
		tsc = shim_clock_invariant() ? 1 : -1;
		atomic_store_explicit(&shim_clock.tsc, tsc,
		    memory_order_relaxed);
	}
	if (tsc < 0)
		return (shim_clock_renew(0, 0));
	s = atomic_load_explicit(&shim_clock.seq, memory_order_acquire);
	t = shim_clock_tsc();
	start = atomic_load_explicit(&shim_clock.start, memory_order_relaxed);
	end = atomic_load_explicit(&shim_clock.end, memory_order_relaxed);
	ms = atomic_load_explicit(&shim_clock.ms, memory_order_relaxed);
	atomic_thread_fence(memory_order_acquire);
	if ((s & 1) == 0 && s != 0 &&
	    atomic_load_explicit(&shim_clock.seq, memory_order_relaxed) == s &&
	    t - start < end - start)
		return (ms);
	rate = atomic_load_explicit(&shim_clock.rate, memory_order_acquire);
	if (rate == 0)
		shim_clock_calibrate(t);
	return (shim_clock_renew(t, rate));
}

/* The ring's head: the position after every record pushed so far. */
uint64_t
shim_ring_head(const struct relog *h)
{
	struct shm_ring_stats st;

	shm_ring_stats(h->shm, &st);
	return (st.head);
}

/*
 * The ring's tail: every record before it is written by relogd (or given
 * up, or lost and counted).
 */
uint64_t
shim_ring_tail(const struct relog *h)
{
	struct shm_ring_stats st;

	shm_ring_stats(h->shm, &st);
	return (st.tail);
}

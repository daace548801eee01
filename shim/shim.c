/*
 * What every part of librelog shares: its clocks, where its ring stands.
 */
#include <stdatomic.h>
#include <time.h>
#if defined(__x86_64__)
#include <cpuid.h>
#include <x86intrin.h>
#endif

#include "proto-clock.h"
#include "relog-ring.h"
#include "shim.h"
#include "shm-ring.h"

/*
 * The wall clock's millisecond, kept while the TSC says it has not ended:
 * a record's timestamp is in whole ms, and clock_gettime costs 26 ns where
 * the kernel's clock is kvm-clock, rdtsc 8. A
 * seqlock, so any thread may read it and the one that finds it over may
 * renew it. The TSC must be invariant (CPUID says so). Its rate is
 * measured against CLOCK_MONOTONIC between readings SHIM_CLOCK_CAL_TICKS
 * apart (5 ms at 2 GHz; again and again, from each renewal that finds one
 * that old), each reading erring toward a slower rate, and a 64th is
 * taken off it: a millisecond ends early by the TSC, never late. Until a
 * rate is known, and where there is no such TSC, every call reads the
 * clock.
 */
#define SHIM_CLOCK_CAL_TICKS 10000000ULL	/* 1 ms at 10 GHz */
#define SHIM_CLOCK_CAL_NS 1000000LL		/* at least */
#define SHIM_CLOCK_CAL_MAX (1000 * 1000000LL)	/* else measured again */

struct shim_clock shim_clock;

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

/*
 * Measure from here (cal was g, even): the clock, then the TSC, so the
 * rate errs slower. One thread does; the others find cal changed.
 */
static void
shim_clock_anchor(uint64_t g)
{
	if (!atomic_compare_exchange_strong_explicit(&shim_clock.cal, &g,
	    g + 1, memory_order_acquire, memory_order_relaxed))
		return;
	atomic_thread_fence(memory_order_release);
	atomic_store_explicit(&shim_clock.cal_ns,
	    proto_clock_ns(CLOCK_MONOTONIC), memory_order_relaxed);
	atomic_store_explicit(&shim_clock.cal_tsc, shim_clock_tsc(),
	    memory_order_relaxed);
	atomic_store_explicit(&shim_clock.cal, g + 2, memory_order_release);
}

/*
 * Measure the TSC's rate (t: the TSC, read before the clock here) from
 * the anchor, once it is SHIM_CLOCK_CAL_TICKS old (no clock is read
 * before), and anchor again. A rate no TSC has (the clock stepped?
 * another CPU's TSC?) is not taken.
 */
static void
shim_clock_calibrate(uint64_t t)
{
	uint64_t g = atomic_load_explicit(&shim_clock.cal,
	    memory_order_acquire), t0, rate;
	int64_t ns0, dns;

	if (g == 0) {
		shim_clock_anchor(0);
		return;
	}
	t0 = atomic_load_explicit(&shim_clock.cal_tsc, memory_order_relaxed);
	ns0 = atomic_load_explicit(&shim_clock.cal_ns, memory_order_relaxed);
	atomic_thread_fence(memory_order_acquire);
	if ((g & 1) != 0 ||
	    atomic_load_explicit(&shim_clock.cal, memory_order_relaxed) != g ||
	    t - t0 < SHIM_CLOCK_CAL_TICKS)
		return;
	dns = proto_clock_ns(CLOCK_MONOTONIC) - ns0;
	if (dns < SHIM_CLOCK_CAL_NS)
		return;
	/* Ticks per ns << 16, less a 64th: a ms ends early, never late. */
	if (dns < SHIM_CLOCK_CAL_MAX && t > t0 && t - t0 < (uint64_t)1 << 47) {
		rate = ((t - t0) << 16) / (uint64_t)dns;
		rate -= rate / 64;
		if (rate >= (1u << 16) / 10 && rate <= (uint64_t)100 << 16)
			atomic_store_explicit(&shim_clock.rate, rate,
			    memory_order_release);
	}
	shim_clock_anchor(g);
}

/* Is a ms kept: 1 yes, 0 not yet (no rate), -1 never (no such TSC). */
int
shim_clock_kept(void)
{
	if (atomic_load_explicit(&shim_clock.tsc, memory_order_relaxed) < 0)
		return (-1);
	return (atomic_load_explicit(&shim_clock.rate,
	    memory_order_relaxed) != 0);
}

/* In a forked child: no renewal or measure is under way any more. */
void
shim_clock_forked(void)
{
	atomic_store_explicit(&shim_clock.seq, 0, memory_order_relaxed);
	atomic_store_explicit(&shim_clock.cal, 0, memory_order_relaxed);
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
	return (proto_clock_ns(CLOCK_MONOTONIC) / 1000000);
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
 * The wall clock's ms where shim_wall_ms found none kept (t: the TSC it
 * read, or 0): whether the TSC can keep one is found out on the first
 * call; then the rate is measured and the ms renewed, or, where no TSC
 * can, the clock read.
 */
int64_t
shim_wall_ms_read(uint64_t t)
{
	uint64_t rate;
	int tsc = atomic_load_explicit(&shim_clock.tsc, memory_order_relaxed);

	if (tsc == 0) {
		tsc = shim_clock_invariant() ? 1 : -1;
		atomic_store_explicit(&shim_clock.tsc, tsc,
		    memory_order_relaxed);
	}
	if (tsc < 0)
		return (shim_clock_renew(0, 0));
	if (t == 0)
		t = shim_clock_tsc();
	shim_clock_calibrate(t);
	rate = atomic_load_explicit(&shim_clock.rate, memory_order_acquire);
	return (shim_clock_renew(t, rate));
}

/* The ring's head, summed over its lanes: a count, for ring_sync. */
uint64_t
shim_ring_head(const struct relog *h)
{
	struct shm_ring_stats st;

	shm_ring_stats(h->shm, &st);
	return (st.head);
}

/*
 * Has relogd (or the flusher) yet to write something pushed into the ring:
 * is any lane's tail short of its head?
 */
int
shim_ring_behind(const struct relog *h)
{
	uint64_t heads[RELOG_RING_LANES_MAX];

	shm_ring_heads(h->shm, heads);
	return (!shm_ring_passed(h->shm, heads));
}

/*
 * Has the ring lost records relogd has not said in a notice yet? Its
 * count is relogd's until then, and the ring goes with the handle.
 */
int
shim_ring_unsaid(const struct relog *h)
{
	struct shm_ring_stats st;

	shm_ring_stats(h->shm, &st);
	return (st.overwritten + st.abandoned + st.torn + st.unfinished >
	    st.reported);
}

/*
 * What both benchmarks measure with (measure.h): the TSC's rate and cost,
 * the monotonic clock, and mallocs counted per thread.
 */
#include <stddef.h>
#include <time.h>

#include "measure.h"

__thread uint64_t measure_mallocs;
void *__real_malloc(size_t);
void *__real_calloc(size_t, size_t);
void *__real_realloc(void *, size_t);
void *__wrap_malloc(size_t);
void *__wrap_calloc(size_t, size_t);
void *__wrap_realloc(void *, size_t);

void *
__wrap_malloc(size_t n)
{
	measure_mallocs++;
	return (__real_malloc(n));
}

void *
__wrap_calloc(size_t n, size_t m)
{
	measure_mallocs++;
	return (__real_calloc(n, m));
}

void *
__wrap_realloc(void *p, size_t n)
{
	measure_mallocs++;
	return (__real_realloc(p, n));
}

static double measure_ns_per_tick;	/* calibrated against the clock */
static uint64_t measure_overhead;	/* ticks of an empty measurement */

/* How many ns a TSC tick is, and what timing nothing costs. */
void
measure_calibrate(void)
{
	struct timespec pause = { 0, 200000000 };
	uint64_t t0, c0, t1, c1, d;
	size_t i;

	t0 = measure_now_ns();
	c0 = measure_tsc();
	nanosleep(&pause, NULL);
	t1 = measure_now_ns();
	c1 = measure_tsc();
	measure_ns_per_tick = (double)(t1 - t0) / (double)(c1 - c0);
	measure_overhead = UINT64_MAX;
	for (i = 0; i < 1001; i++) {
		c0 = measure_tsc();
		d = measure_tsc() - c0;
		if (d < measure_overhead)
			measure_overhead = d;
	}
}

/* Ticks to ns, less the cost of measuring. */
uint64_t
measure_ticks_ns(uint64_t ticks)
{
	ticks = ticks > measure_overhead ? ticks - measure_overhead : 0;
	return ((uint64_t)((double)ticks * measure_ns_per_tick + 0.5));
}

/* ns to ticks, for a wait timed by the TSC. */
uint64_t
measure_ns_ticks(uint64_t ns)
{
	return ((uint64_t)((double)ns / measure_ns_per_tick));
}

/* For qsort: two uint64_t in order. */
int
measure_cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x < y ? -1 : x > y);
}

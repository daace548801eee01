/*
 * What both benchmarks (relog-bench, ringbench) measure with: the clocks;
 * the TSC around a single call, calibrated against the clock; sorting
 * samples; and mallocs counted per thread (measure.c wraps malloc, calloc
 * and realloc: link with -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc).
 */
#ifndef RELOG_MEASURE_H
#define RELOG_MEASURE_H

#include <stdint.h>
#include <x86intrin.h>

#include "proto-clock.h"

/* Mallocs made by this thread so far. */
extern __thread uint64_t measure_mallocs;

/* The TSC: cheap enough to time a single call. */
static inline uint64_t
measure_tsc(void)
{
	uint64_t t;

	_mm_lfence();
	t = __rdtsc();
	_mm_lfence();
	return (t);
}

/* Monotonic clock in ns. */
static inline uint64_t
measure_now_ns(void)
{
	return ((uint64_t)proto_clock_ns(CLOCK_MONOTONIC));
}

/* Wall clock in ns. */
static inline uint64_t
measure_wall_ns(void)
{
	return ((uint64_t)proto_clock_ns(CLOCK_REALTIME));
}

void	measure_calibrate(void);
uint64_t measure_ticks_ns(uint64_t);
uint64_t measure_ns_ticks(uint64_t);
int	measure_cmp_u64(const void *, const void *);

#endif

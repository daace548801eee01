/*
 * The time by a clock, read one way for librelog, relogd and relogctl
 * (each converts to the unit its callers count in).
 */
#ifndef RELOG_PROTO_CLOCK_H
#define RELOG_PROTO_CLOCK_H

#include <stdint.h>
#include <time.h>

/* The time by clock, in ns. */
static inline int64_t
proto_clock_ns(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return ((int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec);
}

#endif

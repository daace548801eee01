/*
 * What every part of librelog shares: its clocks, where its ring stands.
 */
#include <time.h>

#include "shim.h"
#include "shm-ring.h"

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

/* Wall clock in ms since the epoch. */
int64_t
shim_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
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

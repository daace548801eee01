/*
 * The consumer side of the shared record ring (relog-ring.h), for relogd
 * and the fuzzer: check and map a runner's memfd, read its committed records
 * out, arm the wakeup. Single-threaded: one reader per ring.
 *
 * The ring is hostile memory: the runner may write anything into it at any
 * time. Nothing read from it is trusted; every inconsistency is a negative
 * errno (relogd then drops the runner), never a fault or an unbounded loop.
 *
 * Typical use, in relogd's loop, when the runner's wakeup socket is readable
 * or its flush timer (100 ms, as librelog's today) fires:
 *
 *	rc = proto_ring_read(r, dead, 1024, 256 << 10, cb, arg, &c);
 *	(yield to the loop, and call again, while rc is PROTO_RING_AGAIN)
 *	if (rc < 0)
 *		drop the runner, saying proto_ring_cause(r)
 *	else if (proto_ring_arm(r, UINT32_MAX) == 1)
 *		read again now: the ring filled up while arming
 *	else, PROTO_RING_RECHECK_MS later: if (proto_ring_due(r) == 1)
 *		read now: a commit's wakeup crossed the arming
 *	...
 *	once what cb was given is written: proto_ring_commit(r, position)
 *
 * A ring has lanes (one an emitting thread, while there are enough); a
 * read merges them, oldest first. A read takes records (no other consumer
 * gets them) but does not move the shared tails: proto_ring_commit does,
 * once the records before a position (proto_ring_position after a read)
 * are written, so a consumer that dies before it commits leaves them to the
 * next one (delivered twice, never lost). dead: PROTO_RING_PEER_DEAD once the runner is known gone (its
 * connection hung up and it has exited). The wakeup is a send(2) in the
 * emitting thread, some microseconds there: arming for half the ring
 * (UINT32_MAX), the timer reads the records and relogd is woken only when
 * they come faster than half a ring per tick (relogd's tick then shortens).
 * Arming for 1 slot wakes relogd as soon as the ring is not empty, which is
 * a wakeup per record when records trickle in; for 20, one per 20
 * (bench/ringbench.c measures them).
 */
#ifndef RELOG_PROTO_RING_H
#define RELOG_PROTO_RING_H

#include <stddef.h>
#include <stdint.h>

struct proto_ring;

/* A text of a record: not NUL-terminated. */
struct proto_ring_text {
	const char *ptr;	/* NULL only for an absent color */
	size_t len;
};

/*
 * A record read out. Its texts point into the lane's private copy: valid
 * until the callback returns.
 */
struct proto_ring_record {
	uint64_t position;	/* of its first slot, in its lane */
	unsigned lane;
	int64_t timestamp_ms;
	int32_t level;
	struct proto_ring_text name;
	struct proto_ring_text message;
	struct proto_ring_text exception;	/* len 0 when none */
	struct proto_ring_text color;		/* ptr NULL when none */
	int taken;		/* a consumer had taken it (and may have
				   written it) but not committed past it */
};

/*
 * Gets each record; returns 0 to go on, non-zero to stop after it. It must
 * not call proto_ring_* on the same ring.
 */
typedef int (*proto_ring_cb)(const struct proto_ring_record *, void *);

/* What reads found; proto_ring_read adds to these. */
struct proto_ring_counts {
	uint64_t delivered;	/* records passed to the callback */
	uint64_t bytes;		/* their size in the ring */
	uint64_t torn;		/* unread records found overwritten: lost */
	uint64_t unfinished;	/* records skipped, their writer dead */
	uint64_t skipped;	/* slots passed with no record in them */
};

/* proto_ring_read's flags. */
#define PROTO_RING_PEER_DEAD 0x1	/* the runner is gone: wait no more */
/*
 * Take records as given up (their first slot a skip) rather than read:
 * no consumer delivers them after this one. librelog's close, which
 * writes them to stderr instead. Each is counted lost (the runner's
 * abandoned, or taken) until the callback returns.
 */
#define PROTO_RING_GIVE_UP 0x2

/* proto_ring_read's results (errors are negative errnos). */
#define PROTO_RING_DRAINED 0	/* read all there was: arm and wait */
#define PROTO_RING_AGAIN 1	/* the budget ran out: call again */
#define PROTO_RING_PENDING 2	/* a record is being written: arm and wait */

/*
 * A lane whose record reads have found in the writing this long (ms) holds
 * up only its own records, not the other lanes' (proto_ring_read).
 */
#define PROTO_RING_STUCK_MS 10

/*
 * How long after arming a consumer looks again (proto_ring_due), for the
 * producers that commit without a store-load fence ("ring_recheck" in the
 * hello's reply: PROTOCOL.md, "Wakeup").
 */
#define PROTO_RING_RECHECK_MS 10

/* The most proto_ring_new_drops says at once: a counter that jumped. */
#define PROTO_RING_DROPS_MAX ((uint64_t)1 << 32)

int	proto_ring_open(int, size_t, struct proto_ring **, const char **);
int	proto_ring_attach(void *, size_t, struct proto_ring **,
	    const char **);
void	proto_ring_close(struct proto_ring *);
size_t	proto_ring_size(const struct proto_ring *);
int	proto_ring_read(struct proto_ring *, int, size_t, size_t, proto_ring_cb,
	    void *, struct proto_ring_counts *);
void	proto_ring_commit(struct proto_ring *, uint64_t);
void	proto_ring_rewind(struct proto_ring *);
void	proto_ring_limit(struct proto_ring *);
void	proto_ring_sync(struct proto_ring *);
int	proto_ring_synced(const struct proto_ring *);
int	proto_ring_arm(struct proto_ring *, uint32_t);
int	proto_ring_due(struct proto_ring *);
const char *proto_ring_cause(const struct proto_ring *);
uint64_t proto_ring_position(struct proto_ring *);
unsigned proto_ring_lanes(const struct proto_ring *);
uint64_t proto_ring_new_drops(struct proto_ring *);
void	proto_ring_drops_found(const struct proto_ring *, uint64_t *);
void	proto_ring_drops_said(struct proto_ring *, const uint64_t *);

#endif

/*
 * A runner's shared ring (PROTOCOL.md, "Shared ring"): the intake for
 * records a runner hands over without a system call each. The runner
 * passes the ring's memfd and a wake socket with its hello; relogd maps the
 * ring (proto-ring-open.c checks it first: it is the runner's memory,
 * hostile) and reads its records out, each into the records layer with the
 * connection's origin, as a batch entry would go.
 *
 * When it reads: at once after the hello; when the wake socket says the
 * ring went from empty to not empty (armed for 1 slot while it was idle),
 * or passed half its size (armed so while records come); and on a tick
 * while records come: RING_TICK_MS at most, so none waits longer, and
 * shorter while they come fast, so they are read without wakeups. A read
 * takes at most a budget of records and bytes, then yields to the loop.
 * What a read took is committed (the ring's tail moves past it) only once
 * the sinks it fed have written it: an ack in the ledger, as a batch's. So
 * a relogd killed re-reads at most what it had read and not yet written,
 * and a stalled sink stops the tail, and the reading: the ring fills and
 * its producers overwrite the oldest, counted.
 *
 * When the runner hangs up (exit, crash, kill), the connection stays until
 * every record committed before then is read and written (so its commits
 * land); one being written is waited for until the runner is known dead
 * (pidfd), or RING_DEAD_WAIT_MS, then skipped and counted. Any
 * inconsistency in the ring drops the connection with one line.
 *
 * One ring, one reader: a runner that reconnects passes the same ring
 * (the same file) while its last connection may still be draining it. The
 * new connection's ring waits (blocked) until the old one is gone, then
 * goes on from the tail the old one committed. It is the same memory, so
 * max_ring_total counts it once, and it is taken whatever the limits say
 * now: refused, it would be read by its runner (batches) while the old
 * connection drains it, two readers of one ring.
 */
#include <sys/pidfd.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "relogd.h"
#include "proto-ring.h"
#include "relog-ring.h"

/* What one read takes at most: as much as a read of a socket. */
#define RING_READ_RECORDS 1024
#define RING_READ_BYTES (256u * 1024)
/*
 * While records come, a read at least this often (librelog's interval)...
 * and more often while they come fast: each wakeup costs the emitting
 * thread a system call, so each time records came fast enough to wake us
 * between ticks, the tick becomes what a quarter of the ring took to come
 * at that rate (at most half the last, at least RING_TICK_MIN_US), and it
 * doubles back each time a tick found less than RING_TICK_FEW of it.
 * Counted in the slots of records read, not in positions moved: a runner
 * that moves its head without writing records keeps no tick short.
 */
#define RING_TICK_MS 100
#define RING_TICK_MIN_US 50
#define RING_TICK_FEW 8		/* an eighth */
#define RING_TICK_MANY 4	/* a wakeup with less than a quarter: stray */
/* Datagrams read from the wake socket at one wakeup. */
#define RING_WAKE_READS 64
/* After a hangup, a record being written: looked at again this often... */
#define RING_PENDING_MS 10
/* ...until its runner is known dead, or this long. */
#define RING_DEAD_WAIT_MS 1000
/*
 * A drained ring waits this long at most for its last drop notice to be
 * written (a stalled sink: the next reader of the ring says it again).
 */
#define RING_SAID_WAIT_MS 1000
/*
 * A read the runner asked for (a wakeup, or the recheck after arming) that
 * found nothing to deliver, or passed over many more slots than it
 * delivered records, is fruitless. After RING_FRUITLESS_RUN of them in a
 * row (one is a wakeup a tick's read answered first), the runner's next
 * asks are read together, once, RING_FRUITLESS_MS after the last, until a
 * read delivers again. A runner that wakes relogd for nothing (or for a
 * lane of slots to pass over) costs it a read a tick, not one a datagram.
 */
#define RING_FRUITLESS_MS RING_TICK_MS
#define RING_FRUITLESS_RUN 4
#define RING_SKIPS_PER_RECORD 64

struct ring {
	struct client *c;
	struct proto_ring *r;
	size_t size;		/* mapped */
	int wake_fd;		/* the runner's wake socket, our end */
	struct event *wake_ev;
	struct event *tick_ev;	/* every tick_us while records come */
	struct event *read_ev;	/* a read on the next turn, or in a while */
	struct event *recheck_ev; /* a look at the lanes armed, after it */
	uint64_t queued;	/* the position the last ack commits */
	uint64_t tick_slots;	/* of records read since tick_at */
	int64_t tick_us;	/* the tick's interval now */
	int64_t tick_at;	/* monotonic us when it was set */
	int congested;		/* a sink it fed is full: not read */
	struct ack *sync;	/* a ring_sync's answer, not queued yet */
	int64_t sync_at;	/* monotonic ms: its records were read (its
				   answer waits for the notice); 0 */
	int hungup;
	int dead;		/* the runner has exited */
	int pidfd;		/* readable once it has; -1: none */
	struct event *pid_ev;
	int64_t pending_at;	/* monotonic ms: after the hangup, reads
					   found a writer at work since; 0 */
	int64_t finish_at;	/* ...when drained; 0: not yet */
	uint64_t late;		/* records read after the hangup */
	uint64_t unfinished;	/* skipped then, their writer dead */
	struct ack *last;	/* hung up and drained: settles after the rest */
	struct ack_owner *said;	/* drop notices, until written: a ledger
				   apart, so that records' commits never
				   wait for a notice's sink */
	int empty_wakes;	/* in a row: woken with nothing to read */
	int fruitless;		/* asked-for reads in a row that were */
	int64_t fruitless_at;	/* monotonic ms of the last of them */
	int paced;		/* read_ev is the asks' read, so paced */
	dev_t dev;		/* the ring's file, to know it again */
	ino_t ino;
	int counted;		/* in ring_total (not if taken again) */
	struct ring *next_reader;	/* the same ring, on a newer connection */
	struct ring *prev_reader;	/* ...and on the older: it waits for it */
	TAILQ_ENTRY(ring) entry;
};

static TAILQ_HEAD(, ring) ring_all = TAILQ_HEAD_INITIALIZER(ring_all);
static size_t ring_total;	/* bytes mapped, each ring's file once */
static size_t ring_n;

static void ring_read_cb(evutil_socket_t, short, void *);
static void ring_again(struct ring *, int);
static void ring_next(struct ring *, int, int);

/*
 * A lane's slot count: what one emitting thread fills, and what the wakeup
 * and the tick are measured in.
 */
static uint64_t
ring_slots(const struct ring *rg)
{
	return ((rg->size / proto_ring_lanes(rg->r) - RELOG_RING_HEADER_SIZE) /
	    RELOG_RING_SLOT_SIZE);
}

/* Is the tick set (records are coming)? */
static int
ring_ticking(const struct ring *rg)
{
	return (evtimer_pending(rg->tick_ev, NULL));
}

/* Tick (again) in tick_us. */
static void
ring_tick_add(struct ring *rg)
{
	struct timeval tv = { rg->tick_us / 1000000, rg->tick_us % 1000000 };

	evtimer_add(rg->tick_ev, &tv);
	rg->tick_at = relogd_now_us(CLOCK_MONOTONIC);
}

/*
 * Woken between ticks with at least a quarter of the ring read since the
 * tick was set: tick as often as a quarter of the ring came at that rate,
 * counting from now.
 */
static void
ring_tick_faster(struct ring *rg)
{
	int64_t took = relogd_now_us(CLOCK_MONOTONIC) - rg->tick_at, us;

	us = took * (int64_t)(ring_slots(rg) / RING_TICK_MANY) /
	    (int64_t)rg->tick_slots;
	if (us > rg->tick_us / 2)
		us = rg->tick_us / 2;
	rg->tick_us = us < RING_TICK_MIN_US ? RING_TICK_MIN_US : us;
	rg->tick_slots = 0;
	ring_tick_add(rg);
}

/* A record read out of the ring: into the records layer, as an entry. */
static int
ring_record_cb(const struct proto_ring_record *rec, void *arg)
{
	struct ring *rg = arg;
	struct record r;

	memset(&r, 0, sizeof r);
	r.e.timestamp_ms = rec->timestamp_ms;
	r.e.level = rec->level;
	r.e.logger_name = (struct proto_str){ rec->name.ptr, rec->name.len };
	r.e.message = (struct proto_str){ rec->message.ptr, rec->message.len };
	r.e.exception_text = (struct proto_str){ rec->exception.ptr,
	    rec->exception.len };
	r.e.color = (struct proto_str){ rec->color.ptr, rec->color.len };
	record_make(&r, &rg->c->origin, 0);
	record_write(&rg->c->origin, &r);
	return (0);
}

/*
 * The records layer said the ring's losses, into plugin p: its notice is
 * in p's sinks' queues, and an ack queued now on the ring's notice ledger
 * settles once they wrote it (ring_said_written).
 */
static void
ring_drops_said(void *arg, struct plugin *p)
{
	struct ring *rg = arg;
	struct ack *a;

	a = ack_new(NULL, 0);
	a->ring_said = 1;
	proto_ring_drops_found(rg->r, a->ring_found);
	ack_read_begin(rg->said);
	plugin_touch(p, rg->said);
	/* Merged into the last while a sink stalls: they do not pile up. */
	ack_queue_silent(rg->said, a);
}

/*
 * A drop notice is written: the headers say its losses said, so that a
 * relogd after us (we may be killed) says only what was not. A ring
 * drained after its hangup waited for it, as does a ring_sync's answer.
 */
static void
ring_said_written(void *arg, const struct ack *a)
{
	struct ring *rg = arg;

	if (proto_ring_cause(rg->r) == NULL)
		proto_ring_drops_said(rg->r, a->ring_found);
	if (rg->hungup || rg->sync != NULL)
		ring_again(rg, 0);
}

/* The ring is inconsistent: drop the runner, with one line. */
static void
ring_fail(struct ring *rg)
{
	log_peer("%s dropped: its ring: %s", client_name(rg->c),
	    proto_ring_cause(rg->r));
	event_del(rg->wake_ev);
	client_close(rg->c);
}

/*
 * Say the ring's losses not said yet, and should what comes next (a
 * ring_sync's answer, the end after a hangup) wait for their notice to be
 * written? 1 while it should: from *since (set now if 0) until
 * RING_SAID_WAIT_MS after, as a sink may be stalled, reading again in a
 * while (and ring_said_written at once). Else 0.
 */
static int
ring_said_wait(struct ring *rg, int64_t *since)
{
	int64_t now = relogd_now_ms(CLOCK_MONOTONIC);

	record_drops_now(&rg->c->origin);
	if (*since == 0)
		*since = now;
	if (!ack_owed(rg->said) || now - *since >= RING_SAID_WAIT_MS)
		return (0);
	ring_again(rg, RING_PENDING_MS);
	return (1);
}

/*
 * Owe the ledger what a read took: an ack that commits the position
 * reached once the sinks have written it; and, once reads have passed it,
 * the answer to a ring_sync, in turn after it.
 */
static void
ring_owe(struct ring *rg)
{
	struct ack_owner *o = rg->c->origin.acks;
	uint64_t pos = proto_ring_position(rg->r);
	struct ack *a;

	if (pos != rg->queued) {
		a = ack_new(NULL, 0);
		a->ring = 1;
		a->ring_pos = pos;
		ack_queue_silent(o, a);
		rg->queued = pos;
	}
	if (rg->sync != NULL && proto_ring_synced(rg->r)) {
		/*
		 * The ring's losses are said first, and the answer waits for
		 * their notice: relog_close returns on it and the ring goes
		 * with the runner, so a relogd killed between the answer and
		 * the notice would leave the count to no one.
		 */
		if (ring_said_wait(rg, &rg->sync_at))
			return;
		rg->sync_at = 0;
		a = rg->sync;
		rg->sync = NULL;
		a->ring_pos = pos;
		ack_queue(o, a, 1);
	}
}

/*
 * How long (ms) the runner's asks wait yet after fruitless reads; 0 or
 * less if they need not. Not while a ring_sync waits, or after the
 * hangup, which are paced apart.
 */
static int64_t
ring_fruitless_wait(const struct ring *rg)
{
	if (rg->fruitless < RING_FRUITLESS_RUN || rg->hungup ||
	    rg->sync != NULL)
		return (0);
	return (rg->fruitless_at + RING_FRUITLESS_MS -
	    relogd_now_ms(CLOCK_MONOTONIC));
}

/*
 * The asks' read, in ms (unless a read is on its way already). Until it,
 * the wake socket is not listened to: its datagrams wait there, and a
 * runner that piles up more than RING_WAKE_READS of them meanwhile (one
 * that wakes relogd only when armed sends a few) is dropped then.
 */
static void
ring_paced(struct ring *rg, int64_t ms)
{
	if (evtimer_pending(rg->read_ev, NULL))
		return;
	rg->paced = 1;
	event_del(rg->wake_ev);
	ring_again(rg, (int)ms);
}

/*
 * Read once (a budget's worth) into the records layer; say the runner's
 * losses; owe the commit; have the sinks write. Returns what
 * proto_ring_read did, or -1 if the runner is dropped or not to be read.
 */
static int
ring_read(struct ring *rg, int asked)
{
	struct client *c = rg->c;
	struct proto_ring_counts n;
	uint64_t lost, slots;
	int64_t wait;
	int rc;

	if (rg->prev_reader != NULL || rg->congested ||
	    c->state == CLIENT_CLOSING)
		return (-1);
	/* Asked again soon after a fruitless read: once, in a while. */
	if (asked && (wait = ring_fruitless_wait(rg)) > 0) {
		ring_paced(rg, wait);
		return (-1);
	}
	memset(&n, 0, sizeof n);
	ack_read_begin(c->origin.acks);
	rc = proto_ring_read(rg->r, rg->dead ? PROTO_RING_PEER_DEAD : 0,
	    RING_READ_RECORDS, RING_READ_BYTES, ring_record_cb, rg, &n);
	if (rc < 0) {
		ring_fail(rg);
		return (-1);
	}
	c->records += n.delivered;
	if (n.delivered != 0 &&
	    n.skipped <= RING_SKIPS_PER_RECORD * n.delivered)
		rg->fruitless = 0;
	else if (asked) {
		if (rg->fruitless < RING_FRUITLESS_RUN)
			rg->fruitless++;
		rg->fruitless_at = relogd_now_ms(CLOCK_MONOTONIC);
	}
	/* Each record takes a slot, or as many as its bytes fill. */
	slots = relog_ring_record_slots(n.bytes);
	rg->tick_slots += slots > n.delivered ? slots : n.delivered;
	if (rg->hungup) {
		rg->late += n.delivered;
		rg->unfinished += n.unfinished;
		/* On to another record: its writer's wait starts anew. */
		if (n.delivered != 0)
			rg->pending_at = 0;
	}
	/* Said at once, or within a second: ring_drops_said. */
	if ((lost = proto_ring_new_drops(rg->r)) != 0)
		record_drops(&c->origin, lost);
	ring_owe(rg);
	if (ack_congested(c->origin.acks))
		rg->congested = 1;
	plugin_flush_all();
	ack_progress();
	return (rg->congested ? -1 : rc);
}

/* Read again on the next loop turn (0), or after ms. */
static void
ring_again(struct ring *rg, int ms)
{
	struct timeval tv = { 0, (suseconds_t)ms * 1000 };

	if (ms == 0)
		event_active(rg->read_ev, EV_TIMEOUT, 0);
	else
		evtimer_add(rg->read_ev, &tv);
}

/*
 * The ring is drained after the hangup: once what it read is written (its
 * last ack settled, its commits made), the connection goes.
 */
static void
ring_finish(struct ring *rg)
{
	struct ack_owner *o = rg->c->origin.acks;

	if (rg->last != NULL)
		return;
	if (ring_said_wait(rg, &rg->finish_at))
		return;
	if (ack_owed(o)) {
		rg->last = ack_new(NULL, 0);
		rg->last->ring = 1;
		rg->last->ring_pos = proto_ring_position(rg->r);
		ack_queue(o, rg->last, 0);
		return;
	}
	if (rg->late != 0 || rg->unfinished != 0)
		log_info("runner %s: %llu records read from its ring after it "
		    "left, %llu unfinished skipped", rg->c->origin.runner_id,
		    (unsigned long long)rg->late,
		    (unsigned long long)rg->unfinished);
	client_close(rg->c);
}

/*
 * After the hangup: done once what was committed is read; a record still
 * being written is waited for while the runner may still finish it (not
 * when it reconnected: the newer connection reads it), RING_DEAD_WAIT_MS
 * from when reads found it so: not from the hangup, as a full sink or an
 * older reader of the ring may have held the reads back longer than that.
 */
static void
ring_hungup_next(struct ring *rg, int rc)
{
	int64_t now = relogd_now_ms(CLOCK_MONOTONIC);

	if (rc == PROTO_RING_DRAINED ||
	    (rc == PROTO_RING_PENDING && rg->next_reader != NULL)) {
		ring_finish(rg);
		return;
	}
	if (rg->pending_at == 0)
		rg->pending_at = now;
	if (!rg->dead && now - rg->pending_at >= RING_DEAD_WAIT_MS)
		rg->dead = 1;
	ring_again(rg, rg->dead ? 0 : RING_PENDING_MS);
}

/*
 * Armed: look again in a while, for a commit whose producer did not see
 * the arming (librelog commits without a store-load fence: "ring_recheck"
 * in PROTOCOL.md). Once an arming, not a tick: an idle ring costs nothing.
 */
static void
ring_recheck_add(struct ring *rg)
{
	struct timeval tv = { 0, PROTO_RING_RECHECK_MS * 1000 };

	evtimer_add(rg->recheck_ev, &tv);
}

static void
ring_recheck_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ring *rg = arg;
	int rc;

	(void)fd;
	(void)what;
	/* Closing (dropped, maybe for this ring's error: said once). */
	if (rg->hungup || rg->congested || rg->c->state == CLIENT_CLOSING ||
	    evtimer_pending(rg->read_ev, NULL))
		return;
	if ((rc = proto_ring_due(rg->r)) < 0)
		ring_fail(rg);
	else if (rc == 1)
		ring_next(rg, ring_read(rg, 1), 0);
}

/*
 * After a read: more now if its budget ran out or the ring filled while
 * arming. Else arm: while records come, for half the ring, the ticks
 * reading the rest; once a tick found none (idle), for the first record,
 * and no ticks.
 */
static void
ring_next(struct ring *rg, int rc, int idle)
{
	uint32_t slots = UINT32_MAX;
	int64_t wait;
	int armed;

	if (rc < 0)
		return;
	if (rc == PROTO_RING_AGAIN) {
		ring_again(rg, 0);
		return;
	}
	if (rg->hungup) {
		ring_hungup_next(rg, rc);
		return;
	}
	if (idle)
		slots = 1;
	else if (!ring_ticking(rg))
		ring_tick_add(rg);
	armed = proto_ring_arm(rg->r, slots);
	if (armed < 0)
		ring_fail(rg);
	else if (armed == 1 && (wait = ring_fruitless_wait(rg)) > 0)
		ring_paced(rg, wait);	/* due at once, as the asks say */
	else if (armed == 1)
		ring_again(rg, 0);
	else
		ring_recheck_add(rg);
}

/* A read on the next turn (more to read, a sync, a resume), or a retry. */
static void
ring_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ring *rg = arg;
	int asked;

	(void)fd;
	(void)what;
	asked = rg->paced;
	rg->paced = 0;
	if (asked && !rg->hungup && rg->c->state != CLIENT_CLOSING)
		event_add(rg->wake_ev, NULL);
	ring_next(rg, ring_read(rg, asked), 0);
}

/*
 * The tick: read what came since the last; tick less often if that was
 * little (ring_next sets the next tick, if records still come).
 */
static void
ring_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ring *rg = arg;
	uint64_t read;
	int rc;

	(void)fd;
	(void)what;
	rc = ring_read(rg, 0);
	read = rg->tick_slots;
	rg->tick_slots = 0;
	if (read < ring_slots(rg) / RING_TICK_FEW)
		rg->tick_us = rg->tick_us * 2 > RING_TICK_MS * 1000 ?
		    RING_TICK_MS * 1000 : rg->tick_us * 2;
	/* A record in the writing (maybe stuck, holding others): tick on. */
	ring_next(rg, rc, read == 0 && rc != PROTO_RING_PENDING);
}

/*
 * The runner woke us: take its datagrams, then read. A socket that never
 * empties (a flood), reads as ended, or says it is readable again and
 * again with nothing in it (shut down for reading) would have relogd spin:
 * the runner is dropped.
 */
static void
ring_wake_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ring *rg = arg;
	char b[64];
	ssize_t n = 1;
	int i, rc;

	(void)what;
	for (i = 0; i < RING_WAKE_READS && n > 0; i++)
		n = recv(fd, b, sizeof b, MSG_DONTWAIT);
	if (i > 1)
		rg->empty_wakes = 0;
	else if (n < 0)
		rg->empty_wakes++;
	if (n == 0 || (n > 0 && i == RING_WAKE_READS) ||
	    rg->empty_wakes > RING_WAKE_READS) {
		log_peer("%s dropped: its wake socket is never empty",
		    client_name(rg->c));
		event_del(rg->wake_ev);
		client_close(rg->c);
		return;
	}
	rc = ring_read(rg, 1);
	/* Woken between ticks, half the ring come since: tick faster. */
	if (ring_ticking(rg) && rg->tick_us > RING_TICK_MIN_US &&
	    rg->tick_slots >= ring_slots(rg) / RING_TICK_MANY)
		ring_tick_faster(rg);
	ring_next(rg, rc, 0);
}

/* The runner exited (its pidfd is readable): read on, waiting no more. */
static void
ring_pid_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ring *rg = arg;

	(void)fd;
	(void)what;
	rg->dead = 1;
	event_del(rg->pid_ev);
	ring_again(rg, 0);
}

/* Is fd a Unix datagram socket (checked without touching any file)? */
static int
ring_wake_ok(int fd)
{
	socklen_t len = sizeof(int);
	int type = 0, domain = 0;

	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 ||
	    type != SOCK_DGRAM)
		return (0);
	len = sizeof(int);
	return (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) == 0 &&
	    domain == AF_UNIX);
}

/*
 * Map the ring fd within max_ring and what max_ring_total has left; or,
 * if its last connection drains it still (again), whatever they say now
 * (a reload may have lowered them). Returns it, or NULL and why (a
 * limit is said once: it is the operator's to raise; a bad ring, each
 * time, as any bad peer).
 */
static struct proto_ring *
ring_map(struct client *c, int fd, int again, const char **why)
{
	static int said[3];
	static const char *const whys[3] = {
		"it is larger than max_ring",
		"it is over what max_ring_total has left",
		"it is over what its uid's share of max_ring_total has left"
	};
	size_t left, share, limit = again ? SIZE_MAX : relogd_config.max_ring;
	struct proto_ring *r;
	int error, which = 0;

	left = again ? SIZE_MAX : ring_total < relogd_config.max_ring_total ?
	    relogd_config.max_ring_total - ring_total : 0;
	share = again ? SIZE_MAX : client_rings_left(c);
	if (left < limit) {
		limit = left;
		which = 1;
	}
	if (share < limit) {
		limit = share;
		which = 2;
	}
	error = proto_ring_open(fd, limit, &r, why);
	if (error == 0)
		return (r);
	if (error != -EFBIG) {
		log_peer("%s: its ring refused: %s", client_name(c), *why);
		return (NULL);
	}
	*why = whys[which];
	if (!said[which])
		log_warn("%s: its ring refused: %s (said once)",
		    client_name(c), *why);
	said[which] = 1;
	return (NULL);
}

/* The newest connection that reads the ring file st says, if any. */
static struct ring *
ring_reader(const struct stat *st)
{
	struct ring *other;

	TAILQ_FOREACH(other, &ring_all, entry) {
		if (other->dev == st->st_dev && other->ino == st->st_ino &&
		    other->next_reader == NULL)
			return (other);
	}
	return (NULL);
}

/*
 * If another connection reads this ring still (prev, the newest of them:
 * the runner reconnected while its last connection drains), wait for it
 * to go. ring_total counts the ring unless it was taken again (prev had
 * hung up: the same memory, mapped already).
 */
static void
ring_follow(struct ring *rg, const struct stat *st, struct ring *prev,
    int again)
{
	rg->dev = st->st_dev;
	rg->ino = st->st_ino;
	if (prev != NULL) {
		prev->next_reader = rg;
		rg->prev_reader = prev;
	}
	if (!again) {
		rg->counted = 1;
		ring_total += rg->size;
		client_rings_count(rg->c, rg->size, 1);
	}
	TAILQ_INSERT_TAIL(&ring_all, rg, entry);
}

/*
 * A counted reader goes: a reader of the same file taken again carries
 * its count on, so the file stays counted while it is mapped (for the
 * same uid: a file's readers are all of one uid, ring_attach).
 */
static void
ring_uncount(struct ring *rg)
{
	struct ring *other;

	if (!rg->counted)
		return;
	for (other = rg->next_reader; other != NULL && other->counted;
	    other = other->next_reader)
		;
	if (other == NULL) {
		for (other = rg->prev_reader; other != NULL && other->counted;
		    other = other->prev_reader)
			;
	}
	if (other != NULL) {
		other->counted = 1;
	} else {
		ring_total -= rg->size;
		client_rings_count(rg->c, rg->size, 0);
	}
	rg->counted = 0;
}

/*
 * The hello asked to pass a ring of this version, with these descriptors
 * (the ring's memfd, the wake socket), which are ours now. Returns NULL
 * once it is taken (read from the next loop turn on), or why not: the
 * runner then sends batches. A ring is taken only from the uid that made
 * it (its memfd's owner, set by the kernel, changed by no one without
 * CAP_CHOWN): another that holds it (a forked child that changed uid, or a
 * process it was passed to) would have its maker's records routed as its
 * own, whether or not a connection of the maker reads it now.
 */
const char *
ring_attach(struct client *c, uint32_t version, int *fds, int nfds)
{
	struct proto_ring *r = NULL;
	const char *why = NULL;
	struct ring *rg, *prev;
	struct stat st;
	int i, seen, again;

	seen = nfds == 2 && fstat(fds[0], &st) == 0;
	prev = seen ? ring_reader(&st) : NULL;
	/* One its last connection still drains: taken whatever the limits. */
	again = prev != NULL && prev->hungup;
	if (relogd_config.max_ring == 0 && !again)
		why = "rings are turned off (max_ring = 0)";
	else if (version != RELOG_RING_VERSION)
		why = "its ring's version is not one relogd reads";
	else if (nfds != 2)
		why = "the hello must pass the ring and its wake socket";
	else if (!ring_wake_ok(fds[1]))
		why = "the wake descriptor is no Unix datagram socket";
	else if (!seen)
		why = "its ring cannot be looked at (fstat)";
	else if (st.st_uid != c->origin.uid)
		why = "its ring was made by another uid";
	else
		r = ring_map(c, fds[0], again, &why);
	for (i = 0; i < nfds; i++) {
		if (r == NULL || i != 1)
			close(fds[i]);
	}
	if (r == NULL)
		return (why);

	if ((rg = calloc(1, sizeof *rg)) == NULL)
		fatal("calloc");
	rg->c = c;
	rg->r = r;
	rg->size = proto_ring_size(r);
	rg->wake_fd = fds[1];
	rg->pidfd = -1;
	rg->queued = proto_ring_position(r);
	rg->tick_us = RING_TICK_MS * 1000;
	ring_follow(rg, &st, prev, again);
	rg->wake_ev = event_new(relogd_base, rg->wake_fd, EV_READ | EV_PERSIST,
	    ring_wake_cb, rg);
	rg->tick_ev = evtimer_new(relogd_base, ring_tick_cb, rg);
	rg->read_ev = evtimer_new(relogd_base, ring_read_cb, rg);
	rg->recheck_ev = evtimer_new(relogd_base, ring_recheck_cb, rg);
	if (rg->wake_ev == NULL || rg->tick_ev == NULL || rg->read_ev == NULL ||
	    rg->recheck_ev == NULL)
		fatalx("out of memory for a ring");
	event_add(rg->wake_ev, NULL);
	ring_n++;
	c->ring = rg;
	rg->said = ack_owner_new(-1, ring_said_written, NULL, rg);
	c->origin.drops_said = ring_drops_said;
	c->origin.drops_said_arg = rg;
	/* Records it logged before the hello. */
	ring_again(rg, 0);
	return (NULL);
}

/*
 * runner.ring_sync: answer once the reads passed every lane's head as it
 * is now (the runner's position only says where its own count was) and
 * what they took is written. Returns NULL, or why it is refused.
 */
const char *
ring_sync(struct client *c, const struct proto_envelope *env)
{
	struct ring *rg = c->ring;
	const char *cause;
	uint64_t pos;

	if (rg == NULL)
		return ("no ring was passed on this connection");
	if (proto_decode_ring_sync(env->payload, &pos, &cause) != 0)
		return (cause);
	if (rg->sync != NULL)
		return ("a ring_sync is pending already");
	rg->sync = ack_new(env, 1);
	rg->sync->ring = 1;
	/* What the runner pushed before it asked: every lane's head now. */
	proto_ring_sync(rg->r);
	ring_again(rg, 0);
	return (NULL);
}

/*
 * What an ack of this connection owed is written: commit its position; the
 * last one after a hangup lets the connection go.
 */
void
ring_settled(struct client *c, const struct ack *a)
{
	struct ring *rg = c->ring;

	if (rg == NULL)
		return;
	if (proto_ring_cause(rg->r) == NULL)
		proto_ring_commit(rg->r, a->ring_pos);
	if (a == rg->last) {
		rg->last = NULL;
		ring_again(rg, 0);
	}
}

/*
 * The runner hung up: keep the connection until its ring is drained, up
 * to where producers were now (they may be alive, reconnecting). Returns
 * 1 if it has a ring to drain.
 */
int
ring_hangup(struct client *c)
{
	struct ring *rg = c->ring;

	if (rg == NULL)
		return (0);
	rg->hungup = 1;
	event_del(rg->wake_ev);
	evtimer_del(rg->tick_ev);
	if (rg->sync != NULL)
		ack_free(rg->sync);
	rg->sync = NULL;
	proto_ring_limit(rg->r);
	/* Told when it has exited (ESRCH: it has; ENOSYS: ask no one). */
	if (c->origin.pid > 0) {
		rg->pidfd = pidfd_open(c->origin.pid, 0);
		if (rg->pidfd < 0 && errno == ESRCH)
			rg->dead = 1;
	}
	if (rg->pidfd >= 0) {
		rg->pid_ev = event_new(relogd_base, rg->pidfd, EV_READ,
		    ring_pid_cb, rg);
		if (rg->pid_ev == NULL)
			fatalx("out of memory for a ring");
		event_add(rg->pid_ev, NULL);
	}
	ring_again(rg, 0);
	return (1);
}

/* The sinks it fed drained: read it again. */
void
ring_resume(struct client *c)
{
	if (c->ring == NULL || !c->ring->congested)
		return;
	c->ring->congested = 0;
	ring_again(c->ring, 0);
}

/*
 * relogd stops: read what the ring holds now, within a bound (the runner
 * may push on), waiting for no writer.
 */
void
ring_stop(struct client *c)
{
	struct ring *rg = c->ring;
	int i, rc = PROTO_RING_AGAIN;

	if (rg == NULL)
		return;
	proto_ring_limit(rg->r);
	rg->congested = 0;
	for (i = 0; rc == PROTO_RING_AGAIN && i <= (int)(RELOG_RING_SLOTS_MAX /
	    RING_READ_RECORDS * RELOG_RING_LANES_MAX); i++)
		rc = ring_read(rg, 0);
}

/* The connection is freed: unmap its ring and let go of its descriptors. */
void
ring_detach(struct client *c)
{
	struct ring *rg = c->ring;

	if (rg == NULL)
		return;
	c->origin.drops_said = NULL;
	/*
	 * Notices not written yet (record_forget had the sinks write the
	 * last): a stalled sink holds them, and the next reader says them
	 * again.
	 */
	ack_owner_detach(rg->said);
	event_free(rg->wake_ev);
	event_free(rg->tick_ev);
	event_free(rg->read_ev);
	event_free(rg->recheck_ev);
	if (rg->pid_ev != NULL)
		event_free(rg->pid_ev);
	if (rg->pidfd >= 0)
		close(rg->pidfd);
	close(rg->wake_fd);
	if (rg->sync != NULL)
		ack_free(rg->sync);
	ring_uncount(rg);
	if (rg->prev_reader != NULL)
		rg->prev_reader->next_reader = rg->next_reader;
	if (rg->next_reader != NULL) {
		rg->next_reader->prev_reader = rg->prev_reader;
		/* Its turn: on from the tail this one committed. */
		if (rg->prev_reader == NULL) {
			proto_ring_rewind(rg->next_reader->r);
			rg->next_reader->queued =
			    proto_ring_position(rg->next_reader->r);
			ring_again(rg->next_reader, 0);
		}
	}
	TAILQ_REMOVE(&ring_all, rg, entry);
	proto_ring_close(rg->r);
	ring_n--;
	free(rg);
	c->ring = NULL;
}

/* Bytes the rings map, for stats: a file mapped again counted once. */
size_t
ring_bytes_total(void)
{
	return (ring_total);
}

/* How many rings are mapped. */
size_t
ring_count(void)
{
	return (ring_n);
}

/*
 * The ack ledger: how the news that records were written travels back up
 * to the connections that sent them, without the outputs knowing who that
 * is.
 *
 * A connection owns a struct ack_owner. While a read is handled, every sink
 * its records feed is noted (ack_touch); an ack queued then carries each
 * sink's mark: how far the sink had queued. The sinks own their counters;
 * whenever they may have moved (a write, a timer), ack_progress settles
 * the acks whose sinks have written past their marks, oldest first per
 * owner: it records the batch's seq (state.c) and hands the ack to the
 * owner's answer callback. It also tells owners whose sinks were too full
 * to read them (ack_congested) that they drained (the resume callback).
 *
 * An owner outlives its connection while acks wait: their seqs are still
 * recorded when written (no answer goes out), then it is freed.
 */
#include <stdlib.h>
#include <string.h>

#include "relogd.h"

/*
 * Acks one owner may be owed before its connection is not read, and how
 * few let it be read again: each is a request answered once written, which
 * a stalled sink would otherwise let pile up without bound.
 */
#define ACK_OWED_HIGH 1024
#define ACK_OWED_LOW 512

/* Owners with acks owed, and owners not read while their sinks are full. */
static TAILQ_HEAD(, ack_owner) ack_owing = TAILQ_HEAD_INITIALIZER(ack_owing);
static TAILQ_HEAD(, ack_owner) ack_congestion =
    TAILQ_HEAD_INITIALIZER(ack_congestion);

/*
 * A ledger entry for a connection, with its dedup slot (-1: none), which
 * the owner releases when it is freed.
 */
struct ack_owner *
ack_owner_new(int state_slot, void (*answer)(void *, const struct ack *),
    void (*resume)(void *), void *arg)
{
	struct ack_owner *o;

	if ((o = calloc(1, sizeof *o)) == NULL)
		fatal("calloc");
	TAILQ_INIT(&o->acks);
	o->state_slot = state_slot;
	o->answer = answer;
	o->resume = resume;
	o->arg = arg;
	return (o);
}

/* Free an owner that is owed nothing. */
static void
ack_owner_free(struct ack_owner *o)
{
	if (o->owing)
		TAILQ_REMOVE(&ack_owing, o, owing_entry);
	state_release(o->state_slot);
	free(o->touched);
	free(o);
}

/* Free an ack (one never queued, or settled). */
void
ack_free(struct ack *a)
{
	free(a->marks);
	free(a);
}

/*
 * The connection is gone: answer nothing more; the owner is freed once its
 * acks are settled (now, if it is owed none).
 */
void
ack_owner_detach(struct ack_owner *o)
{
	if (o->congested)
		TAILQ_REMOVE(&ack_congestion, o, congested_entry);
	o->congested = 0;
	o->arg = NULL;
	o->answer = NULL;
	o->resume = NULL;
	if (TAILQ_EMPTY(&o->acks))
		ack_owner_free(o);
}

/*
 * A read of the owner's connection begins: no sink is fed yet. While the
 * owner is congested the sinks that were too full stay noted: they, not
 * what a later read (a ring runner's request on the socket) fed, say when
 * it may be read again.
 */
void
ack_read_begin(struct ack_owner *o)
{
	if (!o->congested)
		o->ntouched = 0;
}

/* Is the owner owed so many acks that its connection is not to be read? */
static int
ack_owed_too_many(const struct ack_owner *o)
{
	return (o->nacks > ACK_OWED_HIGH);
}

/* Does the owner wait for acks to settle? */
int
ack_owed(const struct ack_owner *o)
{
	return (!TAILQ_EMPTY(&o->acks));
}

/* Note that the current read fed a sink (for acks and backpressure). */
void
ack_touch(struct ack_owner *o, struct sink *sink)
{
	struct sink_mark *m;
	size_t i;

	for (i = 0; i < o->ntouched; i++) {
		if (o->touched[i].sink == sink)
			return;
	}
	if (o->ntouched == o->touched_cap) {
		o->touched_cap = o->touched_cap != 0 ? o->touched_cap * 2 : 4;
		m = reallocarray(o->touched, o->touched_cap, sizeof *m);
		if (m == NULL)
			fatal("reallocarray");
		o->touched = m;
	}
	o->touched[o->ntouched++].sink = sink;
}

/* Copy up to an id's length of a peer's string, for echoing. */
static size_t
ack_echo(char *out, struct proto_str s)
{
	size_t len = s.ptr != NULL ? s.len : 0;

	if (len > RELOG_ID_MAX)
		len = RELOG_ID_MAX;
	if (len != 0)
		memcpy(out, s.ptr, len);
	out[len] = '\0';
	return (len);
}

/* A new ack answering env (reply: 1) or only recording (0); env may be NULL. */
struct ack *
ack_new(const struct proto_envelope *env, int reply)
{
	struct ack *a;

	if ((a = calloc(1, sizeof *a)) == NULL)
		fatal("calloc");
	a->request_id = reply && env != NULL ? env->request_id : -1;
	if (env != NULL) {
		a->method_len = ack_echo(a->method, env->method);
		a->plugin_id_len = ack_echo(a->plugin_id, env->plugin_id);
	}
	return (a);
}

/*
 * Give an ack the marks of the sinks this read fed: how much each holds
 * now. A merged ack keeps the sinks it had and waits for all of them (the
 * read's sinks are each noted once: only the ack's own are looked through).
 */
static void
ack_mark(struct ack_owner *o, struct ack *a)
{
	struct sink_mark *m;
	size_t had = a->nmarks, i, j;

	if (o->ntouched == 0)
		return;
	m = reallocarray(a->marks, had + o->ntouched, sizeof *m);
	if (m == NULL)
		fatal("reallocarray");
	a->marks = m;
	for (i = 0; i < o->ntouched; i++) {
		for (j = 0; j < had && m[j].sink != o->touched[i].sink; j++)
			;
		if (j == had)
			j = a->nmarks++;
		m[j].sink = o->touched[i].sink;
		m[j].mark = o->touched[i].sink->queued;
	}
}

/*
 * Queue an ack (the owner now owns it). With marks, it waits for the sinks
 * this read fed to write what they hold now.
 */
void
ack_queue(struct ack_owner *o, struct ack *a, int marks)
{
	if (marks)
		ack_mark(o, a);
	TAILQ_INSERT_TAIL(&o->acks, a, entry);
	o->nacks++;
	if (!o->owing) {
		o->owing = 1;
		TAILQ_INSERT_TAIL(&ack_owing, o, owing_entry);
	}
}

/*
 * Queue an ack that answers nothing (request_id -1, no resend to wait for:
 * a ring read's commit, a batch sent with a seq and no request id), with
 * marks. Behind an older ack (one waiting on a stalled sink, say) such
 * acks would pile up, one per read: it is merged into the last one queued
 * instead, if that came this way too and is not the oldest (which never
 * grows, so acks keep settling while records flow). The merged ack waits
 * for the sinks both fed, then commits the later position and records the
 * later seq. a may be freed.
 */
void
ack_queue_silent(struct ack_owner *o, struct ack *a)
{
	struct ack *last = TAILQ_LAST(&o->acks, acks);

	if (last != NULL && last != TAILQ_FIRST(&o->acks) && last->merge &&
	    last->ring == a->ring) {
		ack_mark(o, last);
		last->ring_pos = a->ring_pos;
		if (a->ring_said) {
			last->ring_said = 1;
			memcpy(last->ring_found, a->ring_found,
			    sizeof last->ring_found);
		}
		if (a->seq > last->seq)
			last->seq = a->seq;
		last->kept += a->kept;
		last->unsaid += a->unsaid;
		ack_free(a);
		return;
	}
	a->merge = 1;
	ack_queue(o, a, 1);
}

/*
 * Settle the owner's acks that are due, oldest first: record the seq (only
 * now, so a restart never skips an unwritten batch), then answer. Frees a
 * detached owner once it is owed nothing. Returns whether any was settled.
 */
static int
ack_settle(struct ack_owner *o)
{
	struct ack *a;
	size_t i;
	int settled = 0;

	while ((a = TAILQ_FIRST(&o->acks)) != NULL) {
		for (i = 0; i < a->nmarks; i++) {
			if (a->marks[i].sink->written < a->marks[i].mark)
				return (settled);
		}
		if (a->after_seq != 0 && o->state_slot >= 0 &&
		    state_recorded(o->state_slot) < a->after_seq)
			return (settled);
		if (o->state_slot >= 0) {
			if (a->seq != 0)
				state_record(o->state_slot, a->seq);
			/* A batch's drops kept, a notice's taken off. */
			state_unsaid_add(o->state_slot, a->kept);
			state_unsaid_sub(o->state_slot, a->unsaid);
		}
		if ((a->request_id >= 0 || a->ring || a->ring_said) &&
		    o->answer != NULL)
			o->answer(o->arg, a);
		TAILQ_REMOVE(&o->acks, a, entry);
		o->nacks--;
		ack_free(a);
		settled = 1;
	}
	TAILQ_REMOVE(&ack_owing, o, owing_entry);
	o->owing = 0;
	if (o->arg == NULL)
		ack_owner_free(o);
	return (1);
}

/* Does a sink this owner's read fed hold more than limit bytes? */
static int
ack_feeds_full(const struct ack_owner *o, size_t limit)
{
	size_t i;

	for (i = 0; i < o->ntouched; i++) {
		if (sink_pending(o->touched[i].sink) > limit)
			return (1);
	}
	return (0);
}

/* Hold the owner until ack_progress resumes it. Returns 1. */
static int
ack_hold(struct ack_owner *o)
{
	if (!o->congested) {
		o->congested = 1;
		TAILQ_INSERT_TAIL(&ack_congestion, o, congested_entry);
	}
	return (1);
}

/*
 * Do the sinks together hold more than max_buffered not written? Then the
 * owner is held, and its connection not read, until they are down to half
 * (so that peers that come and go cannot grow a stalled file's buffer
 * without end). Asked before a read too: a connection not read yet has fed
 * no sink that ack_congested could find full. Returns 1 if held.
 */
int
ack_overloaded(struct ack_owner *o)
{
	return (sink_held_total() > relogd_config.max_buffered ?
	    ack_hold(o) : 0);
}

/*
 * Is a sink the current read fed too full, is the owner owed too many acks
 * (answers queued behind a stalled sink), or are the sinks overloaded
 * together? Then the owner is not to be read until they drain and its acks
 * settle (ack_progress calls its resume). Returns 1 if its connection must
 * stop reading.
 */
int
ack_congested(struct ack_owner *o)
{
	if (o->congested)
		return (1);
	if (ack_feeds_full(o, SINK_HIGH_WATER) || ack_owed_too_many(o))
		return (ack_hold(o));
	return (ack_overloaded(o));
}

/*
 * After a read of the owner's socket: is it to be read no more, now? When
 * ack_congested says so, but for an owner congested already (the socket
 * of a ring whose sinks are full is still read), unless it is owed too
 * many acks.
 */
int
ack_throttled(struct ack_owner *o)
{
	if (o->congested && !ack_owed_too_many(o))
		return (0);
	return (ack_congested(o));
}

/*
 * Sinks may have written something: settle the acks that are due, and
 * resume the owners whose sinks drained below the low watermark.
 */
void
ack_progress(void)
{
	struct ack_owner *o, *next;
	int settled;

	/* Again while any settles: a resend may wait on another's record. */
	do {
		settled = 0;
		for (o = TAILQ_FIRST(&ack_owing); o != NULL; o = next) {
			next = TAILQ_NEXT(o, owing_entry);
			settled |= ack_settle(o);
		}
	} while (settled);
	/* Past max_buffered together, no one is read until half of it. */
	if (sink_held_total() > relogd_config.max_buffered / 2)
		return;
	for (o = TAILQ_FIRST(&ack_congestion); o != NULL; o = next) {
		next = TAILQ_NEXT(o, congested_entry);
		if (ack_feeds_full(o, SINK_LOW_WATER) ||
		    o->nacks > ACK_OWED_LOW)
			continue;
		TAILQ_REMOVE(&ack_congestion, o, congested_entry);
		o->congested = 0;
		o->resume(o->arg);
	}
}

/*
 * At exit (the connections are detached): settle what acks can be, so
 * their seqs are recorded, and drop the rest.
 */
void
ack_free_all(void)
{
	struct ack_owner *o;
	struct ack *a;

	ack_progress();
	while ((o = TAILQ_FIRST(&ack_owing)) != NULL) {
		while ((a = TAILQ_FIRST(&o->acks)) != NULL) {
			TAILQ_REMOVE(&o->acks, a, entry);
			ack_free(a);
		}
		ack_owner_free(o);
	}
}

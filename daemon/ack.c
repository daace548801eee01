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

#include "relogd.h"

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
 * Queue an ack (the owner now owns it). With marks, it waits for the sinks
 * this read fed to write what they hold now.
 */
void
ack_queue(struct ack_owner *o, struct ack *a, int marks)
{
	size_t i;

	if (marks && o->ntouched != 0) {
		a->marks = calloc(o->ntouched, sizeof *a->marks);
		if (a->marks == NULL)
			fatal("calloc");
		for (i = 0; i < o->ntouched; i++) {
			a->marks[i].sink = o->touched[i].sink;
			a->marks[i].mark = o->touched[i].sink->queued;
		}
		a->nmarks = o->ntouched;
	}
	TAILQ_INSERT_TAIL(&o->acks, a, entry);
	if (!o->owing) {
		o->owing = 1;
		TAILQ_INSERT_TAIL(&ack_owing, o, owing_entry);
	}
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
		if (a->seq != 0 && o->state_slot >= 0)
			state_record(o->state_slot, a->seq);
		if ((a->request_id >= 0 || a->ring) && o->answer != NULL)
			o->answer(o->arg, a);
		TAILQ_REMOVE(&o->acks, a, entry);
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

/*
 * Is a sink the current read fed too full? Then the owner is not to be
 * read until its sinks drain (ack_progress calls its resume). Returns 1 if
 * its connection must stop reading.
 */
int
ack_congested(struct ack_owner *o)
{
	if (o->congested)
		return (1);
	if (!ack_feeds_full(o, SINK_HIGH_WATER))
		return (0);
	o->congested = 1;
	TAILQ_INSERT_TAIL(&ack_congestion, o, congested_entry);
	return (1);
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
	for (o = TAILQ_FIRST(&ack_congestion); o != NULL; o = next) {
		next = TAILQ_NEXT(o, congested_entry);
		if (ack_feeds_full(o, SINK_LOW_WATER))
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

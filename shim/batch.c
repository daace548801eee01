/*
 * The batch path: when relogd does not read the ring itself (it refused
 * it, or is too old to know of it), the flusher reads its own ring and
 * sends the records as runner.log_batch requests, as librelog always did;
 * and at close, whichever path was in use, it writes what relogd did not
 * confirm to stderr.
 *
 * Delivery is acknowledged and pipelined. Records read from the ring go
 * into a window of up to SHIM_WINDOW batches, each with a seq that only
 * grows in this process; the flusher keeps the window full and sends while
 * relogd answers, and retires the oldest batch once it is acknowledged
 * (after relogd's sinks wrote it), committing the ring's tail past it. On
 * a broken connection the window is sent again after the reconnect with
 * the same seqs, and relogd skips what it wrote. The ring's losses since
 * the last batch travel with the next one.
 */
#include <stdint.h>
#include <string.h>

#include "proto-ring.h"
#include "shim.h"
#include "shm-ring.h"

/* Frames are cut below this size, well under relogd's 1 MiB default. */
#define BATCH_FRAME_SOFT_MAX (256u * 1024)
/* Records written to stderr per read of the ring at close. */
#define BATCH_GIVE_UP_READ 256

/* What a read of the ring fills: the slots of one batch. */
struct batch_fill {
	struct slot *slots;
	size_t n;
	uint64_t lost;		/* no memory to keep them */
};

/* What close's last read of the ring writes to stderr. */
struct batch_stderr {
	int64_t deadline;
	uint64_t lost;		/* stderr did not take them */
	int said;		/* the line before the first "?" one */
};

/*
 * Read the ring as the flusher: from where the window's batches end, or,
 * with the window empty, from the ring's tail, where the last commit
 * (relogd's, or the flusher's own) left it. Returns 0, or -1 with *why.
 */
static int
batch_open(struct relog *h, int window, const char **why)
{
	const char *cause = "there is none";
	size_t size;
	void *mem;

	/* Its own memory: no need to check and map the memfd again. */
	if (h->cons == NULL) {
		mem = shm_ring_memory(h->shm, &size);
		if (mem == NULL ||
		    proto_ring_attach(mem, size, &h->cons, &cause) != 0) {
			h->cons = NULL;
			if (!h->ring_broken_told)
				conn_say(shim_now_ms(), "relog: cannot read "
				    "its own ring: %s\n", cause);
			h->ring_broken_told = 1;
			*why = cause;
			return (-1);
		}
	}
	if (!window)
		proto_ring_rewind(h->cons);
	return (0);
}

/*
 * relogd did not take the ring on this connection: the flusher reads it.
 * The window, if a broken connection left one, is sent again as it was.
 * Returns 0 or -1.
 */
int
batch_start(struct relog *h)
{
	const char *why;

	return (batch_open(h, h->fcount != 0, &why));
}

/*
 * relogd takes the ring on this connection: the window's batches are
 * forgotten, not resent. Their records are before the ring's tail, which
 * only moves once they are written, so relogd reads them again (written
 * twice at most, if the last relogd wrote them but had not said so).
 */
void
batch_forget(struct relog *h)
{
	pthread_mutex_lock(&h->lock);
	h->fhead = h->fcount = 0;
	pthread_mutex_unlock(&h->lock);
}

/* Is a batch still unacknowledged? */
int
batch_pending(const struct relog *h)
{
	return (h->fcount != 0);
}

/* A record read out of the ring: into the next slot of the batch. */
static int
batch_fill_cb(const struct proto_ring_record *rec, void *arg)
{
	struct batch_fill *fill = arg;

	if (slot_set(&fill->slots[fill->n], rec) != 0)
		fill->lost++;
	else
		fill->n++;
	return (0);
}

/*
 * Read one batch from the ring into the window: at most `batch` records
 * and about BATCH_FRAME_SOFT_MAX bytes, with the next seq. The ring's
 * losses said since the last batch go with it (alone, in an empty batch,
 * if no record waits). Returns 1, or 0 if there was nothing to take (or
 * the window is full).
 */
static int
batch_take(struct relog *h)
{
	size_t pos = (h->fhead + h->fcount) % SHIM_WINDOW;
	struct shim_frame *f = &h->frames[pos];
	struct batch_fill fill = { h->win_slots + pos * h->batch, 0, 0 };
	struct proto_ring_counts counts;
	uint64_t dropped;

	if (h->fcount == SHIM_WINDOW)
		return (0);
	memset(&counts, 0, sizeof counts);
	if (proto_ring_read(h->cons, 0, h->batch, BATCH_FRAME_SOFT_MAX,
	    batch_fill_cb, &fill, &counts) < 0) {
		if (!h->ring_broken_told)
			conn_say(shim_now_ms(), "relog: its own ring is "
			    "broken: %s\n", proto_ring_cause(h->cons));
		h->ring_broken_told = 1;
		return (0);
	}
	dropped = proto_ring_new_drops(h->cons) + fill.lost;
	if (fill.n == 0 && dropped == 0)
		return (0);
	memset(f, 0, sizeof *f);
	/* They go with this batch: said once relogd acknowledges it. */
	proto_ring_drops_found(h->cons, f->found);
	f->seq = ++h->seq;
	f->end = proto_ring_position(h->cons);
	f->n = fill.n;
	f->dropped = dropped;
	pthread_mutex_lock(&h->lock);
	h->fcount++;
	pthread_mutex_unlock(&h->lock);
	return (1);
}

/* The records of the batch at window position pos. */
static struct slot *
batch_slots(struct relog *h, size_t pos)
{
	return (h->win_slots + pos * h->batch);
}

/* Pack the batch at window position pos as a runner.log_batch request. */
static void
batch_pack(struct relog *h, size_t pos)
{
	struct shim_frame *f = &h->frames[pos];
	const struct slot *s;
	msgpack_packer pk;
	struct proto_entry e;
	size_t start, i;

	msgpack_packer_init(&pk, &h->out, msgpack_sbuffer_write);
	start = conn_begin_frame(h, &pk, RELOG_METHOD_LOG_BATCH,
	    &f->request_id);
	proto_pack_batch_head(&pk, (uint32_t)f->n, f->seq, f->dropped);
	for (i = 0; i < f->n; i++) {
		s = &batch_slots(h, pos)[i];
		e.timestamp_ms = s->timestamp_ms;
		e.level = s->level;
		e.logger_name.ptr = slot_name(s);
		e.logger_name.len = s->name_len;
		e.message.ptr = slot_msg(s);
		e.message.len = s->msg_len;
		e.exception_text.ptr = slot_exc(s);
		e.exception_text.len = s->exc_len;
		e.color.ptr = s->has_color ? slot_color(s) : NULL;
		e.color.len = s->color_len;
		proto_pack_entry(&pk, &e);
	}
	proto_pack_no_error(&pk);
	/* Cannot fail: frames are cut at BATCH_FRAME_SOFT_MAX. */
	proto_frame_end(&h->out, start, RELOG_FRAME_MAX_DEFAULT);
}

/*
 * The oldest batch in the window is done with: acknowledged (commit the
 * ring's tail past it, and wake relog_flush), or, at close, written to
 * stderr.
 */
static void
batch_retire(struct relog *h, int commit)
{
	struct shim_frame *f = &h->frames[h->fhead];

	if (commit) {
		proto_ring_commit(h->cons, f->end);
		proto_ring_drops_said(h->cons, f->found);
	}
	pthread_mutex_lock(&h->lock);
	h->fhead = (h->fhead + 1) % SHIM_WINDOW;
	h->fcount--;
	pthread_cond_broadcast(&h->sent_cond);
	pthread_mutex_unlock(&h->lock);
}

/*
 * Take replies: all that are here (SHIM_REPLIES_AT_ONCE at most), and,
 * with wait set, at least one (up to SHIM_ACK_TIMEOUT_MS). Each
 * acknowledges its batch; the oldest batches are retired once
 * acknowledged (relogd answers in order). Returns 0 or -1.
 */
static int
batch_acks(struct relog *h, int wait)
{
	struct shim_reply r;
	ssize_t len;
	size_t i, pos, n;

	for (n = 0; n < SHIM_REPLIES_AT_ONCE; n++) {
		len = conn_reply(h, wait ? shim_now_ms() +
		    SHIM_ACK_TIMEOUT_MS : 0);
		if (len <= 0)
			return ((int)len);
		wait = 0;
		if (conn_parse_reply(conn_reply_body(h), (size_t)len, &r) != 0)
			return (-1);
		conn_reply_done(h, (size_t)len);
		/* An error reply acknowledges too: relogd took the batch. */
		for (i = 0; i < h->fcount; i++) {
			pos = (h->fhead + i) % SHIM_WINDOW;
			if (h->frames[pos].sent &&
			    h->frames[pos].request_id == r.request_id)
				h->frames[pos].acked = 1;
		}
		while (h->fcount != 0 && h->frames[h->fhead].acked)
			batch_retire(h, 1);
	}
	return (0);
}

/* Send what the window holds that this connection was not sent. */
static int
batch_send(struct relog *h)
{
	size_t i, pos;

	pthread_mutex_lock(&h->pack_lock);
	msgpack_sbuffer_clear(&h->out);
	for (i = 0; i < h->fcount; i++) {
		pos = (h->fhead + i) % SHIM_WINDOW;
		if (!h->frames[pos].sent) {
			batch_pack(h, pos);
			h->frames[pos].sent = h->frames[pos].tried = 1;
		}
	}
	pthread_mutex_unlock(&h->pack_lock);
	if (h->out.size == 0)
		return (0);
	return (conn_send(h, h->out.data, h->out.size, NULL, 0, shim_now_ms() +
	    SHIM_IO_TIMEOUT_MS));
}

/*
 * Deliver until the ring is empty and every batch acknowledged: keep the
 * window full, send what it has not sent on this connection, and take the
 * acknowledgements as they come, waiting for them only when the window is
 * full or nothing else is left to send. Then arm the ring to wake the
 * flusher once a batch waits. Returns 0, or -1 with the connection dropped
 * (the window kept, to be sent again).
 */
int
batch_deliver(struct relog *h)
{
	int took;

	for (;;) {
		took = 0;
		while (batch_take(h))
			took = 1;
		if (batch_send(h) != 0)
			goto fail;
		if (h->fcount == 0) {
			if (proto_ring_arm(h->cons, (uint32_t)h->batch) == 1)
				continue;
			return (0);
		}
		if (batch_acks(h, h->fcount == SHIM_WINDOW || !took) != 0)
			goto fail;
	}

fail:
	conn_drop(h);
	return (-1);
}

/* Write a record to stderr, marked "?" when relogd may have written it. */
static int
batch_fallback(const char *name, size_t name_len, const char *msg,
    size_t msg_len, const char *exc, size_t exc_len, int maybe,
    int64_t deadline)
{
	return (conn_say(deadline, "[LOG-FALLBACK%s] [%.*s] %.*s%s%.*s\n",
	    maybe ? "?" : "", (int)name_len, name, (int)msg_len, msg,
	    exc_len != 0 ? "\n" : "", (int)exc_len, exc));
}

/*
 * Say, before they come, how many records of the window relogd was sent
 * but did not acknowledge: it may have written them, or not; they go to
 * stderr too, marked "[LOG-FALLBACK?]", and a reader decides.
 */
static void
batch_say_unacked(struct relog *h, int64_t deadline)
{
	uint64_t n = 0;
	size_t i, pos;

	for (i = 0; i < h->fcount; i++) {
		pos = (h->fhead + i) % SHIM_WINDOW;
		if (h->frames[pos].tried && !h->frames[pos].acked)
			n += h->frames[pos].n;
	}
	if (n != 0)
		conn_say(deadline, "[LOG-FALLBACK] relog: %llu records were "
		    "sent to relogd and not acknowledged by the close deadline; "
		    "relogd may have written them too: [LOG-FALLBACK?] marks "
		    "them\n", (unsigned long long)n);
}

/* Write the window's unacknowledged records to stderr, and empty it. */
static void
batch_give_up_window(struct relog *h, struct batch_stderr *st)
{
	struct shim_frame *f;
	struct slot *s;
	size_t i;

	batch_say_unacked(h, st->deadline);
	while (h->fcount != 0) {
		f = &h->frames[h->fhead];
		for (i = 0; !f->acked && i < f->n; i++) {
			s = &batch_slots(h, h->fhead)[i];
			if (st->lost != 0 || batch_fallback(slot_name(s),
			    s->name_len, slot_msg(s), s->msg_len, slot_exc(s),
			    s->exc_len, f->tried || s->taken, st->deadline) != 0)
				st->lost++;
			h->close_fallback = 1;
		}
		batch_retire(h, 0);
	}
}

/* A record close takes from the ring: to stderr. */
static int
batch_stderr_cb(const struct proto_ring_record *rec, void *arg)
{
	struct batch_stderr *st = arg;

	if (rec->taken && !st->said) {
		conn_say(st->deadline, "[LOG-FALLBACK] relog: relogd read the "
		    "next records and did not confirm them by the close "
		    "deadline; it may have written them too: [LOG-FALLBACK?] "
		    "marks them\n");
		st->said = 1;
	}
	if (st->lost != 0 || batch_fallback(rec->name.ptr, rec->name.len,
	    rec->message.ptr, rec->message.len, rec->exception.ptr,
	    rec->exception.len, rec->taken, st->deadline) != 0)
		st->lost++;
	return (0);
}

/*
 * At close, records are left in a ring found broken (written over by
 * another process, relogd the only other that maps it, or by a stray write
 * in this one): they cannot be read, so neither delivered nor written to
 * stderr. Said, and relog_close says so.
 */
static void
batch_lost_in_ring(struct relog *h, const char *cause)
{
	conn_say(shim_now_ms(), "[LOG-FALLBACK] relog: records left in its "
	    "ring are lost: the ring was written over (%s)\n", cause);
	h->close_lost = 1;
}

/*
 * At the close deadline: write what relogd did not confirm to stderr, the
 * batches in the window first, then the ring up to where producers were,
 * for at most SHIM_FALLBACK_MS more; what stderr does not take by then is
 * counted in one last line. Records taken so are skips in the ring: relogd
 * does not deliver them after this.
 */
void
batch_give_up(struct relog *h)
{
	struct batch_stderr st = { shim_now_ms() + SHIM_FALLBACK_MS, 0, 0 };
	struct proto_ring_counts counts;
	const char *why;
	int rc, window = h->fcount != 0;

	batch_give_up_window(h, &st);
	if (batch_open(h, window, &why) == 0) {
		proto_ring_limit(h->cons);
		memset(&counts, 0, sizeof counts);
		do {
			rc = proto_ring_read(h->cons, PROTO_RING_GIVE_UP,
			    BATCH_GIVE_UP_READ, SIZE_MAX, batch_stderr_cb, &st,
			    &counts);
		} while (rc == PROTO_RING_AGAIN);
		if (counts.delivered != 0)
			h->close_fallback = 1;
		if (rc < 0)
			batch_lost_in_ring(h, proto_ring_cause(h->cons));
	} else
		batch_lost_in_ring(h, why);
	if (st.lost != 0)
		conn_say(shim_now_ms(), "[LOG-FALLBACK] relog: %llu records "
		    "lost at close: stderr did not take them\n",
		    (unsigned long long)st.lost);
}

/*
 * A remote's queue: the records it took, waiting for its collector. They
 * are held in memory (rm->mem) up to forward_memory, else, or while the
 * collector is away and the disk has room, in the file queue (spool.c),
 * which holds the older ones. Batches are cut from the queue's front
 * (from the file queue while it has records not sent, then from memory)
 * and leave it once acked, in order. Past the disk budget the oldest are dropped, counted, and a
 * record says so.
 */
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "relogd.h"
#include "remote.h"

#define REMOTE_BATCH_RECORDS 1000
#define REMOTE_BATCH_BYTES (256u * 1024)

/*
 * Append a text, control bytes escaped, and " [truncated N bytes]" if
 * some was cut. Returns how many bytes it took.
 */
static size_t
remote_queue_text(struct proto_buf *b, struct proto_str s, size_t cut)
{
	size_t before = b->len;
	char mark[PROTO_CUT_MARK_MAX];

	proto_escape(b, s, 0);
	if (cut != 0)
		proto_buf_add(b, mark, proto_cut_mark(mark, cut));
	return (b->len - before);
}

/*
 * Queue a record for a remote: plugin id, pid of the runner, and the
 * record as the plugin's file has it (logger name under its prefix, marks
 * where texts were cut, control bytes escaped).
 */
void
remote_queue_add(struct remote *rm, const char *plugin_id,
    const struct record *r, pid_t pid)
{
	const struct proto_entry *e = &r->e;
	struct proto_buf *b = &rm->mem;
	struct remote_rec h;
	size_t start = b->len, hdr = 4 + sizeof h;
	uint32_t len;

	memset(&h, 0, sizeof h);
	h.timestamp_ms = e->timestamp_ms;
	h.level = e->level;
	h.pid = pid > 0 ? (uint32_t)pid : 0;
	h.plugin_len = (uint16_t)strlen(plugin_id);
	proto_buf_grow(b, hdr);
	b->len += hdr;
	proto_buf_add(b, plugin_id, h.plugin_len);
	proto_buf_add(b, r->logger_prefix.ptr, r->logger_prefix.len);
	proto_escape(b, e->logger_name, 1);
	if (r->name_cut != 0)
		proto_buf_add(b, "...", 3);
	h.logger_len = (uint16_t)(b->len - start - hdr - h.plugin_len);
	h.message_len = (uint32_t)remote_queue_text(b, e->message, r->msg_cut);
	h.exception_len = (uint32_t)remote_queue_text(b, e->exception_text,
	    r->exc_cut);
	len = (uint32_t)(b->len - start - 4);
	memcpy(b->data + start, &len, 4);
	memcpy(b->data + start + 4, &h, sizeof h);
	rm->mem_records++;
	rm->dirty = 1;
}

/* Read a queued record; -1 if its lengths do not add up. */
int
remote_queue_view(const char *p, struct remote_view *v)
{
	uint32_t len;
	const char *s;

	memcpy(&len, p, 4);
	memcpy(&v->h, p + 4, sizeof v->h);
	v->len = (size_t)len + 4;
	if ((uint64_t)v->h.plugin_len + v->h.logger_len + v->h.message_len +
	    v->h.exception_len != len - sizeof v->h)
		return (-1);
	s = p + 4 + sizeof v->h;
	v->plugin = (struct proto_str){ s, v->h.plugin_len };
	s += v->h.plugin_len;
	v->logger = (struct proto_str){ s, v->h.logger_len };
	s += v->h.logger_len;
	v->message = (struct proto_str){ s, v->h.message_len };
	s += v->h.message_len;
	v->exception = (struct proto_str){ s, v->h.exception_len };
	return (0);
}

/* The length of the record in memory at stream offset at. */
static size_t
remote_queue_mem_len(const struct remote *rm, uint64_t at)
{
	uint32_t len;

	memcpy(&len, rm->mem.data + (at - rm->mem_base), 4);
	return ((size_t)len + 4);
}

/* Count records given up on; a record and a log line say so, later. */
static void
remote_queue_dropped(struct remote *rm, uint64_t n)
{
	rm->dropped += n;
	rm->dropped_unsaid += n;
	/* Batches in flight may have lost records: send again from disk. */
	if (n != 0 && rm->nbatches != 0)
		rm->resync = 1;
}

/*
 * Move the records in memory to the file queue, after the ones there: the
 * collector is down, or memory is full. Batches sent from memory are now
 * acked by where they end on disk.
 */
void
remote_queue_spill(struct remote *rm)
{
	uint64_t at = rm->mem_head, end = rm->mem_base + rm->mem.len, n = 0;
	int moved = 0;
	size_t i, len;

	for (i = 0; i < rm->nbatches; i++) {
		if (rm->batches[i].on_disk)
			continue;
		for (; at < rm->batches[i].mem_end; at += len) {
			len = remote_queue_mem_len(rm, at);
			n += spool_append(&rm->spool, rm->mem.data +
			    (at - rm->mem_base), len);
		}
		rm->batches[i].on_disk = 1;
		rm->batches[i].end = spool_mark(&rm->spool);
		moved = 1;
	}
	/* They were sent; the file queue had nothing unread before them. */
	if (moved)
		spool_skip_all(&rm->spool);
	for (; at < end; at += len) {
		len = remote_queue_mem_len(rm, at);
		n += spool_append(&rm->spool, rm->mem.data + (at - rm->mem_base),
		    len);
	}
	rm->mem.len = 0;
	rm->mem_base = rm->mem_head = rm->mem_sent = end;
	rm->mem_records = 0;
	remote_queue_dropped(rm, n);
}

/*
 * Cut the next batch into b, formatted by the remote's protocol, and note
 * it in flight: from the file queue while it has records not sent, then
 * from memory. Returns 0 when there is nothing to send.
 */
int
remote_queue_next(struct remote *rm, struct proto_buf *b,
    struct remote_batch *batch)
{
	struct remote_view v;
	int from_disk = spool_unread(&rm->spool);
	const char *p;
	size_t len;

	memset(batch, 0, sizeof *batch);
	b->len = 0;
	while (batch->records < REMOTE_BATCH_RECORDS &&
	    b->len < REMOTE_BATCH_BYTES) {
		if (from_disk)
			p = spool_peek(&rm->spool, &len);
		else if (rm->mem_sent < rm->mem_base + rm->mem.len)
			p = rm->mem.data + (rm->mem_sent - rm->mem_base);
		else
			p = NULL;
		if (p == NULL)
			break;
		/* remote_queue_add wrote those in memory: only disk can lie. */
		if (remote_queue_view(p, &v) != 0 && from_disk) {
			log_warn("forward %s: a damaged record on disk was "
			    "dropped", rm->uri);
			spool_drop_read(&rm->spool, len);
			remote_queue_dropped(rm, 1);
			continue;
		}
		if (rm->proto->add(rm, b, &v, batch->records) != 0)
			break;
		if (from_disk)
			spool_consume(&rm->spool, v.len);
		else
			rm->mem_sent += v.len;
		batch->records++;
	}
	if (batch->records == 0)
		return (0);
	batch->on_disk = from_disk;
	batch->end = spool_tell(&rm->spool);
	batch->mem_end = rm->mem_sent;
	return (1);
}

/* Note a batch sent (the protocol may have set its chunk). */
void
remote_queue_sent(struct remote *rm, const struct remote_batch *batch)
{
	if (rm->nbatches == rm->batches_cap) {
		rm->batches_cap = rm->batches_cap != 0 ? rm->batches_cap * 2 :
		    16;
		rm->batches = reallocarray(rm->batches, rm->batches_cap,
		    sizeof *rm->batches);
		if (rm->batches == NULL)
			fatal("reallocarray");
	}
	rm->batches[rm->nbatches++] = *batch;
	rm->sent += batch->records;
}

/* A batch reached the collector: its records leave the queue. */
static void
remote_queue_done(struct remote *rm, const struct remote_batch *b)
{
	size_t used;

	rm->acked += b->records;
	if (b->on_disk) {
		spool_ack(&rm->spool, b->end, b->records);
		return;
	}
	rm->mem_head = b->mem_end;
	rm->mem_records -= b->records < rm->mem_records ? b->records :
	    rm->mem_records;
	/* Give back the room of what was acked, now and then. */
	used = (size_t)(rm->mem_head - rm->mem_base);
	if (used > rm->mem.len / 2) {
		memmove(rm->mem.data, rm->mem.data + used, rm->mem.len - used);
		rm->mem.len -= used;
		rm->mem_base = rm->mem_head;
	}
}

/*
 * Settle the acked batches at the front. Returns how many; any means the
 * collector takes records, and the backoff starts over.
 */
size_t
remote_queue_settle(struct remote *rm)
{
	size_t n = 0;

	while (n < rm->nbatches && rm->batches[n].acked)
		remote_queue_done(rm, &rm->batches[n++]);
	if (n == 0)
		return (0);
	memmove(rm->batches, rm->batches + n,
	    (rm->nbatches - n) * sizeof *rm->batches);
	rm->nbatches -= n;
	if (rm->said_down)
		log_info("forward %s: delivering again", rm->uri);
	rm->said_down = 0;
	rm->failures = 0;
	return (n);
}

/* The connection is gone: what was sent and not acked is sent again. */
void
remote_queue_rewind(struct remote *rm)
{
	rm->nbatches = 0;
	spool_rewind(&rm->spool);
	rm->mem_sent = rm->mem_head;
}

/* Has the remote records waiting? */
int
remote_queue_pending(const struct remote *rm)
{
	return (rm->mem_records != 0 || spool_pending(&rm->spool));
}

/*
 * Say what a full disk budget dropped, once a second at most (at_exit: at
 * once): in relogd's log, and in a record to the collector (which may
 * itself be dropped, if more are; the next one counts them all).
 */
static void
remote_queue_say_dropped(struct remote *rm, int at_exit)
{
	int64_t now = relogd_now_ms(CLOCK_MONOTONIC), wait;
	struct timeval tv;
	struct record r;
	char msg[PATH_MAX + 200];

	if (rm->dropped_unsaid == 0)
		return;
	if (!at_exit && (wait = rm->said_dropped_at + 1000 - now) > 0) {
		if (!evtimer_pending(rm->say_timer, NULL)) {
			tv.tv_sec = 0;
			tv.tv_usec = (suseconds_t)wait * 1000;
			evtimer_add(rm->say_timer, &tv);
		}
		return;
	}
	snprintf(msg, sizeof msg, "forward %s: dropped %" PRIu64 " records "
	    "(%" PRIu64 " since relogd started): the oldest, as the file "
	    "queue was full (forward_disk = %zu bytes), or those the disk "
	    "did not take", rm->uri, rm->dropped_unsaid, rm->dropped,
	    relogd_config.remote_disk);
	log_warn("%s", msg);
	record_notice(&r, relogd_now_ms(CLOCK_REALTIME), msg);
	rm->dropped_unsaid = 0;
	rm->said_dropped_at = now;
	remote_queue_add(rm, "relogd", &r, getpid());
}

/*
 * Write the file queue; what the disk did not take is dropped, counted and
 * said with the rest (at_exit: at once).
 */
static void
remote_queue_write(struct remote *rm, int at_exit)
{
	spool_flush(&rm->spool);
	remote_queue_dropped(rm, spool_take_lost(&rm->spool));
	remote_queue_say_dropped(rm, at_exit);
}

/*
 * Is the collector away, as far as relogd can tell? Connected, but it
 * took nothing for REMOTE_STALL_MS while it owed (remote_conn_stall_cb);
 * or not connected, and its last connection failed, or none came up since
 * relogd started, or this connect has taken REMOTE_CONNECT_SLOW_MS. Only
 * a reconnect right after a connection ended well (syslog's close after 1
 * MiB, or when idle) keeps records in memory; and a disk with no room.
 */
static int
remote_queue_away(const struct remote *rm)
{
	if (rm->stalled)
		return (1);
	if (rm->state != REMOTE_DOWN && rm->state != REMOTE_CONNECTING)
		return (0);
	return (rm->failures != 0 || !rm->was_up || rm->connect_slow);
}

/*
 * After a batch of records: say what was dropped, keep to the memory
 * budget (and keep records on disk while the collector is away), write the
 * file queue.
 */
void
remote_queue_flush(struct remote *rm)
{
	uint64_t held;

	held = rm->mem_base + rm->mem.len - rm->mem_head;
	/*
	 * While the collector is away, records wait on disk: they survive
	 * a SIGKILL. While the disk has no room for them (full), they wait
	 * in memory instead of being dropped, up to the budget (past it
	 * they go to disk all the same), till it has.
	 */
	if ((remote_queue_away(rm) && spool_room(&rm->spool, held)) ||
	    held > relogd_config.remote_memory)
		remote_queue_spill(rm);
	remote_queue_write(rm, 0);
}

/*
 * At exit: the records in memory go to the file queue, after a notice of
 * the drops not said yet. Returns how many records the file queue holds.
 */
uint64_t
remote_queue_close(struct remote *rm)
{
	remote_queue_say_dropped(rm, 1);
	remote_queue_spill(rm);
	/* Said in relogd's log: their notice has no queue left to go in. */
	remote_queue_write(rm, 1);
	return (rm->spool.records);
}

/* Free a remote's queue in memory (after remote_queue_spill). */
void
remote_queue_free(struct remote *rm)
{
	proto_buf_free(&rm->mem);
	free(rm->batches);
	rm->batches = NULL;
}

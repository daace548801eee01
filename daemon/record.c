/*
 * Records: an entry a peer sent becomes a record (cut to relogd's limits,
 * its time filled in, a traceback said once, under strict its logger name
 * kept under its plugin), and is handed to the plugin route.c finds for
 * it.
 */
#include <string.h>
#include <time.h>

#include "relogd.h"

/* A runner's drop counts: one notice a second, a count at most a batch. */
#define RECORD_DROPS_MS 1000
#define RECORD_DROPS_MAX ((uint64_t)1 << 32)

static void record_drops_cb(evutil_socket_t, short, void *);

/* Drop one trailing newline. */
static void
record_chomp(struct proto_str *text)
{
	if (text->len != 0 && text->ptr[text->len - 1] == '\n')
		text->len--;
}

/*
 * A traceback in both fields (Python's formatter appends it to the
 * message, and the handler sends it as the exception text too): keep it
 * once, as the exception text.
 */
static void
record_untwin(struct proto_str *message, struct proto_str exc)
{
	size_t keep;

	if (exc.len == 0 || message->len < exc.len ||
	    memcmp(message->ptr + message->len - exc.len, exc.ptr,
	    exc.len) != 0)
		return;
	keep = message->len - exc.len;
	if (keep == 0 || message->ptr[keep - 1] == '\n')
		message->len = keep != 0 ? keep - 1 : 0;
}

/* Cut a text to max bytes (not inside a UTF-8 sequence); returns the cut. */
static size_t
record_cut(struct proto_str *text, size_t max)
{
	size_t keep = proto_utf8_cut(text->ptr, text->len, max);
	size_t cut = text->len - keep;

	text->len = keep;
	return (cut);
}

/*
 * Make a record of the entry in r->e: cut to the limits, with `when` (else
 * now) if it has no time, and, for a plugin in strict mode, a logger name
 * outside plugin.<id> put under it.
 */
void
record_make(struct record *r, const struct origin *o, int64_t when)
{
	const struct plugin *p = o->plugin;
	struct proto_str name = r->e.logger_name;
	size_t plen;

	r->logger_prefix = proto_cstr("");
	if (r->e.timestamp_ms <= 0)
		r->e.timestamp_ms = when > 0 ? when :
		    relogd_now_ms(CLOCK_REALTIME);
	/* A traceback's last newline would leave an empty line. */
	record_chomp(&r->e.message);
	record_chomp(&r->e.exception_text);
	record_untwin(&r->e.message, r->e.exception_text);
	r->name_cut = record_cut(&r->e.logger_name, relogd_config.max_logger);
	r->msg_cut = record_cut(&r->e.message, relogd_config.max_message);
	r->exc_cut = record_cut(&r->e.exception_text,
	    relogd_config.max_exception);
	if (p == NULL || !p->set.strict)
		return;
	plen = p->logger_len;
	if (name.len >= plen && memcmp(name.ptr, p->logger, plen) == 0 &&
	    (name.len == plen || name.ptr[plen] == '.'))
		return;
	/* Under plugin.<id>: "plugin.<id>.<name>", or the plugin's own. */
	r->logger_prefix.ptr = p->logger;
	r->logger_prefix.len = name.len != 0 ? plen + 1 : plen;
}

/* Route a record (route.c) and hand it to its plugin. */
void
record_write(struct origin *o, const struct record *r)
{
	plugin_write(route_record(o, r->e.logger_name), r, o);
}

/*
 * Say how many records the runner's ring dropped since it was last said,
 * into the hello's plugin (while it may write there), else the
 * connection's home: at once if that
 * was a second ago or more (or now), else a second after it. The notice
 * counts against the plugin's rate limit.
 */
static void
record_drops_say(struct origin *o, int now)
{
	int64_t t = relogd_now_ms(CLOCK_MONOTONIC), wait;
	struct plugin *p;
	struct timeval tv;
	struct ack *a;
	char msg[160];

	if (o->drops == 0)
		return;
	if (!now && (wait = o->drops_said_at + RECORD_DROPS_MS - t) > 0) {
		if (o->drops_ev == NULL && (o->drops_ev = evtimer_new(
		    relogd_base, record_drops_cb, o)) == NULL)
			fatalx("out of memory");
		if (!evtimer_pending(o->drops_ev, NULL)) {
			tv.tv_sec = 0;
			tv.tv_usec = (suseconds_t)wait * 1000;
			evtimer_add(o->drops_ev, &tv);
		}
		return;
	}
	p = route_own(o);
	snprintf(msg, sizeof msg, "runner %s dropped %llu records: its queue "
	    "was full", o->runner_id, (unsigned long long)o->drops);
	plugin_notice_limited(p, msg, o);
	p->dropped_by_runners += o->drops;
	o->drops = 0;
	o->drops_said_at = t;
	/*
	 * A ring's notice is waited for on a ledger of its own; a batch's on
	 * the sender's, as its records (its ack waits for it).
	 */
	if (o->drops_said != NULL)
		o->drops_said(o->drops_said_arg, p);
	else if (o->acks != NULL) {
		plugin_touch(p, o->acks);
		/* Once written, the slot forgets what answers kept of them. */
		if (o->drops_kept != 0) {
			a = ack_new(NULL, 0);
			a->unsaid = o->drops_kept;
			ack_queue_silent(o->acks, a);
		}
	}
	o->drops_kept = 0;
}

/* A second after the last notice: say the drops counted since. */
static void
record_drops_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	record_drops_say(arg, 0);
	plugin_flush_all();
	ack_progress();
}

/*
 * A runner says its ring dropped records (its word: a count no larger
 * than RECORD_DROPS_MAX a batch is taken). At most one notice a second
 * says them, summed.
 */
void
record_drops(struct origin *o, uint64_t dropped)
{
	if (dropped > RECORD_DROPS_MAX)
		dropped = RECORD_DROPS_MAX;
	o->drops += dropped;
	record_drops_say(o, 0);
}

/*
 * A batch's drops not said yet (within a second of the last notice) are
 * answered before their notice is written: holding the answer that second
 * would hold a runner's window of batches as long. The runner forgets them
 * once answered, so the answer keeps them in the runner instance's state
 * slot until their notice is written, for a relogd after us to say
 * (record_drops_inherited). Returns how many the answer about to be queued
 * is to keep.
 */
uint64_t
record_drops_keep(struct origin *o)
{
	uint64_t n = o->drops - o->drops_kept;

	if (o->drops_said != NULL || o->acks == NULL ||
	    o->acks->state_slot < 0)
		return (0);
	o->drops_kept = o->drops;
	return (n);
}

/*
 * A runner instance said hello: say the drops a relogd before us acked
 * and did not say (record_drops_keep), now. Until that notice is written
 * they stay kept.
 */
void
record_drops_inherited(struct origin *o)
{
	uint64_t n;

	if (o->acks == NULL || o->acks->state_slot < 0 ||
	    (n = state_unsaid_take(o->acks->state_slot)) == 0)
		return;
	o->drops += n;
	o->drops_kept += n;	/* in the slot already */
	record_drops_say(o, 1);
}

/* Say what the connection dropped now, not a second after the last. */
void
record_drops_now(struct origin *o)
{
	record_drops_say(o, 1);
}

/*
 * The connection is gone: say what it dropped, have the sinks write it
 * now (not when other input comes; at a stop, after the drain, never),
 * so that its notice's ack settles while the connection is still there
 * to hear it, and forget it.
 */
void
record_forget(struct origin *o)
{
	record_drops_say(o, 1);
	plugin_flush_all();
	ack_progress();
	if (o->drops_ev != NULL)
		event_free(o->drops_ev);
	o->drops_ev = NULL;
}

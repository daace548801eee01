/*
 * Records: an entry a peer sent becomes a record (cut to relogd's limits,
 * its time filled in, under strict its logger name kept under its plugin),
 * and is routed to the plugin it belongs to: the one its connection's
 * hello named, else the one its logger name names, else one named after
 * its runner.
 */
#include <string.h>
#include <time.h>

#include "relogd.h"

/* Drop one trailing newline. */
static void
record_chomp(struct proto_str *text)
{
	if (text->len != 0 && text->ptr[text->len - 1] == '\n')
		text->len--;
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

/*
 * The plugin a logger name belongs to: "plugin.<id>[.rest]" or
 * "_maibot_plugin_<id>[.rest]". NULL when it names none (or an unsafe one).
 */
static struct plugin *
record_named(struct proto_str name)
{
	static const char *const prefixes[] = {
		RELOG_PLUGIN_PREFIX, RELOG_MAIBOT_PREFIX
	};
	const char *id, *dot;
	size_t i, plen;

	for (i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++) {
		plen = strlen(prefixes[i]);
		if (name.len <= plen || memcmp(name.ptr, prefixes[i], plen) != 0)
			continue;
		id = name.ptr + plen;
		dot = memchr(id, '.', name.len - plen);
		return (plugin_get(id, dot != NULL ? (size_t)(dot - id) :
		    name.len - plen));
	}
	return (NULL);
}

/*
 * The logger named after the runner, made when first needed; past
 * max_plugins, the one for unrouted records.
 */
static struct plugin *
record_own(struct origin *o)
{
	if (o->own == NULL)
		o->own = plugin_get(o->runner_id, strlen(o->runner_id));
	return (o->own != NULL ? o->own : plugin_unrouted());
}

/*
 * The plugin of a record: the hello's, else the one its logger name names,
 * else the one named after the runner.
 */
struct plugin *
record_route(struct origin *o, const struct proto_entry *e)
{
	struct plugin *p;

	if (o->plugin != NULL)
		return (o->plugin);
	p = record_named(e->logger_name);
	return (p != NULL ? p : record_own(o));
}

/* Route a record and hand it to its plugin. */
void
record_write(struct origin *o, const struct record *r)
{
	plugin_write(record_route(o, &r->e), r, o);
}

/*
 * Write the record saying how many records the runner's ring dropped, into
 * the hello's plugin, else the runner's own.
 */
void
record_drops(struct origin *o, uint64_t dropped)
{
	struct plugin *p = o->plugin != NULL ? o->plugin : record_own(o);
	char msg[160];

	snprintf(msg, sizeof msg, "runner %s dropped %llu records: its queue "
	    "was full", o->runner_id, (unsigned long long)dropped);
	plugin_notice(p, msg, o);
	p->dropped_by_runners += dropped;
}

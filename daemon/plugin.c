/*
 * Per-plugin loggers: a table from plugin id to its outputs, its settings
 * and its rate limit; a record taken by a plugin fans out to its outputs.
 * A plugin id is used as a file name, so only safe names are accepted: a
 * peer can never make relogd write outside the log directory. Their number
 * is capped (max_plugins): a peer naming ever new plugins cannot use up
 * relogd's file descriptors.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "relogd.h"

#define PLUGIN_BUCKETS 1024

/* How long the sinks may take to take their last bytes at exit. */
#define PLUGIN_DRAIN_MS 5000

/*
 * The plugins each uid's hellos and records made: at most three quarters
 * of max_plugins each, so that one uid cannot take them all.
 */
struct plugin_uid {
	uid_t uid;
	size_t made;
	struct plugin_uid *next;
};

static struct plugin *plugin_table[PLUGIN_BUCKETS];
static struct plugin_uid *plugin_uids;
static size_t plugin_total;
static int plugin_full_said;
static uint64_t plugin_changed;	/* plugins made, reconfigured, owned anew */

static void plugin_rate_cb(evutil_socket_t, short, void *);
static int plugin_rate_allow(struct plugin *, int64_t);

/* FNV-1a of an id, for the table. */
static unsigned
plugin_hash(const char *id, size_t len)
{
	uint32_t h = 2166136261u;
	size_t i;

	for (i = 0; i < len; i++)
		h = (h ^ (unsigned char)id[i]) * 16777619u;
	return (h % PLUGIN_BUCKETS);
}

/* A file name in the log directory (allocated). */
static char *
plugin_path(const char *name, const char *suffix)
{
	char *path;

	if (asprintf(&path, "%s%s", name, suffix) < 0)
		fatal("asprintf");
	return (path);
}

/*
 * Point a plugin's file sinks where its settings say, at its creation and
 * after a reload. The sinks stay the same objects (acks point at them): a
 * file sink only changes its name and rotation; a JSON sink, once made,
 * stays.
 */
static void
plugin_set_sinks(struct plugin *p)
{
	char *path;

	path = p->set.file[0] != '\0' ? plugin_path(p->set.file, "") :
	    plugin_path(p->id, ".log");
	if (p->file.name == NULL)
		sink_init_file(&p->file, path, p->set.max_size, p->set.keep);
	else
		sink_set_file(&p->file, path, p->set.max_size, p->set.keep);
	free(path);
	if (p->json.name != NULL)
		sink_set_file(&p->json, p->json.name, p->set.max_size,
		    p->set.keep);
	else if (p->set.outputs & OUTPUT_JSON) {
		path = plugin_path(p->id, ".json");
		sink_init_file(&p->json, path, p->set.max_size, p->set.keep);
		free(path);
	}
	p->nremotes = remote_resolve(p->set.remotes, p->remotes);
}

/* Make the logger of a (checked) id. */
static struct plugin *
plugin_create(const char *id, size_t len, unsigned bucket)
{
	struct plugin *p;
	int i;

	p = calloc(1, sizeof *p);
	if (p == NULL)
		fatal("calloc");
	memcpy(p->id, id, len);
	p->id_len = len;
	/* Whoever names it first: a logger of the same name does. */
	p->own_log = proto_id_own_log(p->id, p->id_len);
	plugin_changed++;
	p->logger_len = (size_t)snprintf(p->logger, sizeof p->logger, "%s%s.",
	    RELOG_PLUGIN_PREFIX, p->id) - 1;
	config_plugin(&relogd_config, p->id, &p->set);
	p->owned = owner_owned(p->id, &p->set);
	plugin_set_sinks(p);
	for (i = 0; i < 2; i++) {
		p->budgets[i].owner = p;
		p->budgets[i].high = i;
		p->budgets[i].ev = evtimer_new(relogd_base, plugin_rate_cb,
		    &p->budgets[i]);
		if (p->budgets[i].ev == NULL)
			fatalx("out of memory");
	}
	p->hash_next = plugin_table[bucket];
	plugin_table[bucket] = p;
	log_debug("plugin %s logs to %s", p->id, p->file.name);
	return (p);
}

/* The logger of a plugin id, if it exists. */
struct plugin *
plugin_find(const char *id, size_t len)
{
	struct plugin *p;

	if (len == 0 || len > RELOG_ID_MAX)
		return (NULL);
	for (p = plugin_table[plugin_hash(id, len)]; p != NULL;
	    p = p->hash_next) {
		if (p->id_len == len && memcmp(p->id, id, len) == 0)
			return (p);
	}
	return (NULL);
}

/*
 * A count that moves whenever a plugin is made or its settings or owners
 * change: what a record's route depends on, besides route.c's own state.
 */
uint64_t
plugin_changes(void)
{
	return (plugin_changed);
}

/* The count of plugins a uid made (made when needed). */
static struct plugin_uid *
plugin_uid(uid_t uid)
{
	struct plugin_uid *u;

	for (u = plugin_uids; u != NULL; u = u->next) {
		if (u->uid == uid)
			return (u);
	}
	if ((u = calloc(1, sizeof *u)) == NULL)
		fatal("calloc");
	u->uid = uid;
	u->next = plugin_uids;
	plugin_uids = u;
	return (u);
}

/*
 * Find or create the logger of a plugin id, made for uid ((uid_t)-1:
 * relogd's configuration, which counts against no limit). NULL if the id
 * is not safe, or its file would be another plugin's, or there are
 * max_plugins already, or the uid made three quarters of them.
 */
struct plugin *
plugin_get(const char *id, size_t len, uid_t uid)
{
	struct plugin_uid *u = NULL;
	struct plugin *p;
	char name[RELOG_ID_MAX + 1];
	const char *owner;

	if (!proto_id_valid(id, len))
		return (NULL);
	if ((p = plugin_find(id, len)) != NULL)
		return (p);
	/* Its file another's (file = ID.log): it would write into it. */
	memcpy(name, id, len);
	name[len] = '\0';
	if ((owner = config_file_taken(&relogd_config, name)) != NULL) {
		log_peer("plugin %s: its file is plugin %s's (file = %s.log): "
		    "its records go to %s.log", name, owner, name,
		    RELOG_PLUGIN_UNROUTED);
		return (NULL);
	}
	if (uid != (uid_t)-1) {
		u = plugin_uid(uid);
		if (plugin_total >= relogd_config.max_plugins ||
		    u->made >= relogd_config.max_plugins -
		    relogd_config.max_plugins / 4) {
			if (!plugin_full_said)
				log_warn("%zu plugins already: records of new "
				    "ones go to %s.log (uid %ld made %zu)",
				    plugin_total, RELOG_PLUGIN_UNROUTED,
				    (long)uid, u->made);
			plugin_full_said = 1;
			return (NULL);
		}
		u->made++;
		plugin_total++;
	}
	p = plugin_create(id, len, plugin_hash(id, len));
	p->creator = uid;
	return (p);
}

/* A plugin's ownership may have changed (granted, revoked). */
void
plugin_owned_again(const char *id)
{
	struct plugin *p = plugin_find(id, strlen(id));

	if (p != NULL)
		p->owned = owner_owned(p->id, &p->set);
	plugin_changed++;
}

/*
 * One of relogd's own loggers (_runtime, _unrouted, fluent): it does not
 * count against max_plugins.
 */
struct plugin *
plugin_special(const char *id)
{
	struct plugin *p;
	size_t len = strlen(id);

	if ((p = plugin_find(id, len)) != NULL)
		return (p);
	p = plugin_create(id, len, plugin_hash(id, len));
	p->creator = (uid_t)-1;
	return (p);
}

/* Note in a ledger the plugin's sinks a record goes to (it waits for them). */
void
plugin_touch(struct plugin *p, struct ack_owner *acks)
{
	struct sink *err;

	if (p->set.outputs & OUTPUT_FILE)
		ack_touch(acks, &p->file);
	if ((p->set.outputs & OUTPUT_JSON) && p->json.name != NULL)
		ack_touch(acks, &p->json);
	if ((p->set.outputs & OUTPUT_STDERR) && (err = sink_stderr()) != NULL)
		ack_touch(acks, err);
}

/*
 * Fan a record out to the plugin's outputs: its file, its JSON file,
 * journald, its remotes, stderr with --stderr. acks, if not NULL (the
 * sender's ledger), learns which sinks it fed. Returns 0, or -1 if
 * journald did not take it (counted in journald_lost).
 */
static int
plugin_fan_out(struct plugin *p, const struct record *r,
    const struct origin *o, struct ack_owner *acks)
{
	pid_t pid = o != NULL ? o->pid : 0;
	uint64_t before = p->file.queued;
	struct sink *err;
	size_t i;
	int ret = 0;

	if (p->set.outputs & OUTPUT_FILE) {
		sink_format(&p->file, p->id, r, 0);
		p->bytes += p->file.queued - before;
	}
	if ((p->set.outputs & OUTPUT_JSON) && p->json.name != NULL)
		sink_format_json(&p->json, p->id, r);
	if ((p->set.outputs & OUTPUT_JOURNALD) &&
	    journal_send(p->id, r, pid) != 0) {
		p->journald_lost++;
		ret = -1;
	}
	for (i = 0; i < p->nremotes; i++)
		remote_queue_add(p->remotes[i], p->id, r, pid);
	if ((p->set.outputs & OUTPUT_STDERR) && (err = sink_stderr()) != NULL)
		sink_format(err, p->id, r, 1);
	if (acks != NULL)
		plugin_touch(p, acks);
	return (ret);
}

/* Write one of relogd's own records into a plugin's outputs. */
void
plugin_notice(struct plugin *p, const char *msg, const struct origin *o)
{
	uint64_t file = p->file.queued, json = p->json.queued;
	struct record r;

	record_notice(&r, relogd_now_ms(CLOCK_REALTIME), msg);
	/* Not on the sender's ledger: its records' acks never wait for it. */
	(void)plugin_fan_out(p, &r, o, NULL);
	/* Not one of the plugin's records while it waits (plugin_written). */
	if (p->file.queued != file)
		sink_note_own(&p->file);
	if (p->json.queued != json)
		sink_note_own(&p->json);
}

/*
 * The plugin's records every output of it took. Its log files take a
 * record when they write it: one that waits for them (a file that cannot
 * be written now) is not counted yet. Both files are given the same
 * records in the same order: those not in both are those the one further
 * behind holds. One journald did not take is never counted.
 */
uint64_t
plugin_written(const struct plugin *p)
{
	uint64_t held = sink_records_waiting(&p->file), json;

	if (p->json.name != NULL &&
	    (json = sink_records_waiting(&p->json)) > held)
		held = json;
	held += p->journald_missed;
	return (held < p->records ? p->records - held : 0);
}

/*
 * Write a notice a peer's word made (a runner's drop count) into a plugin:
 * it counts against the plugin's rate limit as a WARNING record would.
 */
void
plugin_notice_limited(struct plugin *p, const char *msg,
    const struct origin *o)
{
	if (RELOG_LEVEL_WARNING < p->set.level ||
	    !plugin_rate_allow(p, RELOG_LEVEL_WARNING))
		return;
	plugin_notice(p, msg, o);
}

/* Say how many records a budget suppressed in its window, and reset it. */
static void
plugin_rate_report(struct plugin *p, int high)
{
	struct rate_budget *b = &p->budgets[high];
	char msg[160];

	if (b->suppressed == 0)
		return;
	snprintf(msg, sizeof msg, "suppressed %llu records %s (rate limit: "
	    "%u per %u s)", (unsigned long long)b->suppressed, high ?
	    "at ERROR and above" : "below ERROR", p->set.rate.burst,
	    p->set.rate.interval_s);
	plugin_notice(p, msg, NULL);
	b->suppressed = 0;
}

/*
 * May a record of this level pass the plugin's rate limit? Two budgets,
 * so that a flood of DEBUG cannot starve ERROR. When a window ends with
 * records suppressed, one record says how many: from the budget's timer,
 * or here if a record comes first.
 */
static int
plugin_rate_allow(struct plugin *p, int64_t level)
{
	int high = level >= RELOG_LEVEL_ERROR;
	struct rate_budget *b = &p->budgets[high];
	int64_t now, interval = (int64_t)p->set.rate.interval_s * 1000, left;
	struct timeval tv;

	if (p->set.rate.burst == 0)
		return (1);
	/*
	 * The coarse clock (a tick, some ms) is enough for windows of
	 * seconds, and a seventh of the cost: this is once per record.
	 */
	now = relogd_now_ms(CLOCK_MONOTONIC_COARSE);
	if (now - b->window_start >= interval) {
		plugin_rate_report(p, high);
		b->window_start = now;
		b->used = 0;
	}
	if (b->used < p->set.rate.burst) {
		b->used++;
		return (1);
	}
	if (b->suppressed++ == 0) {
		left = b->window_start + interval - now;
		tv.tv_sec = left / 1000;
		tv.tv_usec = (left % 1000) * 1000;
		evtimer_add(b->ev, &tv);
	}
	p->suppressed++;
	return (0);
}

/* A budget's window ended with records suppressed: say how many. */
static void
plugin_rate_cb(evutil_socket_t fd, short what, void *arg)
{
	struct rate_budget *b = arg;

	(void)fd;
	(void)what;
	plugin_rate_report(b->owner, b->high);
	plugin_flush_all();
	ack_progress();
}

/*
 * Take a record into the plugin's outputs, unless its level or rate limit
 * holds it back (counted either way); the sinks are written after the
 * batch (plugin_flush_all).
 */
void
plugin_write(struct plugin *p, const struct record *r,
    const struct origin *o)
{
	if (r->e.level < p->set.level) {
		p->filtered++;
		return;
	}
	if (!plugin_rate_allow(p, r->e.level))
		return;
	p->records++;
	if (plugin_fan_out(p, r, o, o != NULL ? o->acks : NULL) != 0)
		p->journald_missed++;
	tail_record(p->id, r);
}

/* Have every output write what it was given (once per batch of input). */
void
plugin_flush_all(void)
{
	sink_flush_all();
	remote_flush_all();
}

/* Call fn for every plugin logger. */
void
plugin_foreach(void (*fn)(struct plugin *, void *), void *arg)
{
	struct plugin *p;
	unsigned i;

	for (i = 0; i < PLUGIN_BUCKETS; i++) {
		for (p = plugin_table[i]; p != NULL; p = p->hash_next)
			fn(p, arg);
	}
}

/* Take a plugin's settings again (after the config was reloaded). */
static void
plugin_reconfigure(struct plugin *p, void *arg)
{
	(void)arg;
	config_plugin(&relogd_config, p->id, &p->set);
	p->owned = owner_owned(p->id, &p->set);
	/* Made before, its file another's now: it takes no more records. */
	p->file_taken = !p->own_log &&
	    config_file_taken(&relogd_config, p->id) != NULL;
	plugin_set_sinks(p);
	plugin_changed++;
}

/* Take every plugin's settings again. */
void
plugin_reconfigure_all(void)
{
	plugin_foreach(plugin_reconfigure, NULL);
}

/* Reopen a plugin's log files (after logrotate moved them). */
static void
plugin_reopen(struct plugin *p, void *arg)
{
	(void)arg;
	sink_reopen(&p->file);
	if (p->json.name != NULL)
		sink_reopen(&p->json);
}

/* Reopen every log file. */
void
plugin_reopen_all(void)
{
	plugin_foreach(plugin_reopen, NULL);
}

/* Say what a plugin's rate limits suppressed, and write what it holds. */
static void
plugin_drain(struct plugin *p, void *arg)
{
	int64_t deadline = *(const int64_t *)arg;

	plugin_rate_report(p, 0);
	plugin_rate_report(p, 1);
	sink_drain(&p->file, deadline);
	if (p->json.name != NULL)
		sink_drain(&p->json, deadline);
}

/*
 * At exit: say what the rate limits suppressed so far, then write what the
 * sinks hold, waiting a bounded time for them.
 */
void
plugin_drain_all(void)
{
	int64_t deadline = relogd_now_ms(CLOCK_MONOTONIC) + PLUGIN_DRAIN_MS;

	plugin_foreach(plugin_drain, &deadline);
	if (sink_stderr() != NULL)
		sink_drain(sink_stderr(), deadline);
}

/* Close and free every logger (drained already). */
void
plugin_free_all(void)
{
	struct plugin_uid *u;
	struct plugin *p, *next;
	unsigned i;

	for (i = 0; i < PLUGIN_BUCKETS; i++) {
		for (p = plugin_table[i]; p != NULL; p = next) {
			next = p->hash_next;
			event_free(p->budgets[0].ev);
			event_free(p->budgets[1].ev);
			sink_free(&p->file);
			if (p->json.name != NULL)
				sink_free(&p->json);
			free(p);
		}
		plugin_table[i] = NULL;
	}
	while ((u = plugin_uids) != NULL) {
		plugin_uids = u->next;
		free(u);
	}
	plugin_total = 0;
}

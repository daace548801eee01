/*
 * Per-plugin loggers: a table from plugin id to its log file and pending
 * output. A plugin id is used as a file name, so only safe names are
 * accepted: a peer can never make relogd write outside the log directory.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "relogd.h"

#define PLUGIN_BUCKETS 256

static struct plugin *plugin_table[PLUGIN_BUCKETS];
static struct sink plugin_stderr;	/* with --stderr, every record */
static int plugin_stderr_on;

/* How long the sinks may take to take their last bytes at exit. */
#define PLUGIN_DRAIN_MS 5000

/*
 * Is this a safe plugin id: 1 to RELOG_ID_MAX of [A-Za-z0-9_.-], not
 * starting with a dot (so neither "." nor ".." nor a hidden file)?
 */
int
plugin_id_valid(const char *id, size_t len)
{
	size_t i;
	char c;

	if (len == 0 || len > RELOG_ID_MAX || id[0] == '.')
		return (0);
	for (i = 0; i < len; i++) {
		c = id[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.'))
			return (0);
	}
	return (1);
}

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

/* Set up what all plugins share: the stderr sink, with --stderr. */
void
plugin_init(void)
{
	if (relogd_config.to_stderr) {
		sink_init_stderr(&plugin_stderr);
		plugin_stderr_on = 1;
	}
}

/* Find or create the logger of a plugin id. NULL if the id is not safe. */
struct plugin *
plugin_get(const char *id, size_t len)
{
	unsigned bucket;
	struct plugin *p;
	char *path;

	if (!plugin_id_valid(id, len))
		return (NULL);
	bucket = plugin_hash(id, len);
	for (p = plugin_table[bucket]; p != NULL; p = p->hash_next) {
		if (strlen(p->id) == len && memcmp(p->id, id, len) == 0)
			return (p);
	}
	p = calloc(1, sizeof *p);
	if (p == NULL)
		fatal("calloc");
	memcpy(p->id, id, len);
	if (asprintf(&path, "%s/%s.log", relogd_config.log_dir, p->id) < 0)
		fatal("asprintf");
	sink_init_file(&p->file, path);
	free(path);
	p->hash_next = plugin_table[bucket];
	plugin_table[bucket] = p;
	log_debug("plugin %s logs to %s", p->id, p->file.name);
	return (p);
}

/*
 * The plugin a logger name belongs to: "plugin.<id>[.rest]" or
 * "_maibot_plugin_<id>[.rest]". NULL when it names none (or an unsafe one).
 */
struct plugin *
plugin_for_logger(struct proto_str name)
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
 * Format a record into the plugin's sinks; they are written after the batch
 * (sink_flush_all). The client learns which sinks it fed.
 */
void
plugin_write(struct plugin *p, const struct proto_entry *e, struct client *c)
{
	uint64_t before = p->file.queued;

	sink_format(&p->file, p->id, e, 0);
	p->bytes += p->file.queued - before;
	p->records++;
	client_touched(c, &p->file);
	if (plugin_stderr_on) {
		sink_format(&plugin_stderr, p->id, e, 1);
		client_touched(c, &plugin_stderr);
	}
}

/* Reopen every log file (after logrotate moved them). */
void
plugin_reopen_all(void)
{
	struct plugin *p;
	unsigned i;

	for (i = 0; i < PLUGIN_BUCKETS; i++) {
		for (p = plugin_table[i]; p != NULL; p = p->hash_next)
			sink_reopen(&p->file);
	}
}

/* At exit: write what the sinks hold, waiting a bounded time for them. */
void
plugin_drain_all(void)
{
	struct plugin *p;
	struct timespec ts;
	int64_t deadline;
	unsigned i;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	deadline = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 +
	    PLUGIN_DRAIN_MS;
	for (i = 0; i < PLUGIN_BUCKETS; i++) {
		for (p = plugin_table[i]; p != NULL; p = p->hash_next)
			sink_drain(&p->file, deadline);
	}
	if (plugin_stderr_on)
		sink_drain(&plugin_stderr, deadline);
}

/* Close and free every logger (drained already). */
void
plugin_free_all(void)
{
	struct plugin *p, *next;
	unsigned i;

	for (i = 0; i < PLUGIN_BUCKETS; i++) {
		for (p = plugin_table[i]; p != NULL; p = next) {
			next = p->hash_next;
			sink_free(&p->file);
			free(p);
		}
		plugin_table[i] = NULL;
	}
	if (plugin_stderr_on) {
		sink_free(&plugin_stderr);
		plugin_stderr_on = 0;
	}
}

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
#include <unistd.h>

#include "relogd.h"

#define PLUGIN_BUCKETS 256

static struct plugin *plugin_table[PLUGIN_BUCKETS];
static TAILQ_HEAD(, plugin) plugin_dirty = TAILQ_HEAD_INITIALIZER(plugin_dirty);
static struct outbuf plugin_stderr;	/* records bound for stderr */

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

/* Open (or reopen) a plugin's file. Says once if it cannot. */
static void
plugin_open(struct plugin *p)
{
	if (p->fd >= 0)
		close(p->fd);
	p->fd = open(p->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
	if (p->fd < 0 && !p->open_failed) {
		log_error("cannot open %s: %s", p->path, strerror(errno));
		p->open_failed = 1;
	} else if (p->fd >= 0)
		p->open_failed = 0;
}

/* Find or create the logger of a plugin id. NULL if the id is not safe. */
struct plugin *
plugin_get(const char *id, size_t len)
{
	unsigned bucket;
	struct plugin *p;

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
	if (asprintf(&p->path, "%s/%s.log", relogd_config.log_dir,
	    p->id) < 0)
		fatal("asprintf");
	p->fd = -1;
	plugin_open(p);
	p->hash_next = plugin_table[bucket];
	plugin_table[bucket] = p;
	log_debug("plugin %s logs to %s", p->id, p->path);
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

/* Format a record into the plugin's pending output (and stderr's). */
void
plugin_write(struct plugin *p, const struct proto_entry *e)
{
	size_t before = p->out.len;

	sink_format(&p->out, p, e, 0);
	p->bytes += p->out.len - before;
	p->records++;
	if (relogd_config.to_stderr)
		sink_format(&plugin_stderr, p, e, 1);
	if (!p->dirty) {
		p->dirty = 1;
		TAILQ_INSERT_TAIL(&plugin_dirty, p, dirty_entry);
	}
}

/* Write every plugin's pending output: one write(2) per file. */
void
plugin_flush_all(void)
{
	struct plugin *p;

	while ((p = TAILQ_FIRST(&plugin_dirty)) != NULL) {
		TAILQ_REMOVE(&plugin_dirty, p, dirty_entry);
		p->dirty = 0;
		if (p->fd < 0)
			plugin_open(p);
		if (p->fd < 0) {
			p->out.len = 0;
			continue;
		}
		if (outbuf_write(&p->out, p->fd) != 0)
			log_error("cannot write %s: %s", p->path,
			    strerror(errno));
	}
	if (plugin_stderr.len != 0)
		outbuf_write(&plugin_stderr, STDERR_FILENO);
}

/* Reopen every log file (after logrotate moved them). */
void
plugin_reopen_all(void)
{
	struct plugin *p;
	unsigned i;

	plugin_flush_all();
	for (i = 0; i < PLUGIN_BUCKETS; i++) {
		for (p = plugin_table[i]; p != NULL; p = p->hash_next)
			plugin_open(p);
	}
}

/* Flush, close and free every logger. */
void
plugin_free_all(void)
{
	struct plugin *p, *next;
	unsigned i;

	plugin_flush_all();
	for (i = 0; i < PLUGIN_BUCKETS; i++) {
		for (p = plugin_table[i]; p != NULL; p = next) {
			next = p->hash_next;
			if (p->fd >= 0)
				close(p->fd);
			outbuf_free(&p->out);
			free(p->path);
			free(p);
		}
		plugin_table[i] = NULL;
	}
	outbuf_free(&plugin_stderr);
}

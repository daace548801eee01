/*
 * relogd's settings: built-in defaults, then the INI file (parsed with
 * libinih), then the command line, whose flags go through the same setter
 * as the file's keys.
 *
 *   [relogd]          the daemon (config_keys below)
 *   [plugin.NAME]     one plugin: strict, rate_limit
 *   [plugin.*]        every plugin without a section of its own
 *
 * A plugin key in [relogd] (rate_limit, forward) is the default for every
 * plugin.
 */
#include <errno.h>
#include <grp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <ini.h>

#include "relogd.h"

enum config_type {
	CONFIG_STR,
	CONFIG_SIZE,		/* a number in [min, max] */
	CONFIG_BOOL,
	CONFIG_MODE,		/* octal file mode */
	CONFIG_RATE,		/* "BURST/SECONDS", or "off" */
	CONFIG_UIDS,		/* comma-separated uids */
	CONFIG_LEVEL,		/* a level name or number (plugins) */
	CONFIG_FILE,		/* a safe file name (plugins) */
	CONFIG_SINKS,		/* file, stderr, json (plugins) */
	CONFIG_FORWARD,		/* forward sinks' URIs */
};

/* Where a key may stand. */
#define CONFIG_RELOGD 1
#define CONFIG_PLUGIN 2

/*
 * A key: the sections it may stand in, where it goes in struct config (for
 * [relogd]; plugin sections fill struct plugin_config), and its range.
 */
struct config_key {
	const char *name;
	enum config_type type;
	int where;
	size_t offset;
	unsigned long long min;
	unsigned long long max;
};

#define CONFIG_AT(field) offsetof(struct config, field)
#define R CONFIG_RELOGD
#define P CONFIG_PLUGIN

static const struct config_key config_keys[] = {
	{ "socket", CONFIG_STR, R, CONFIG_AT(socket_path), 0, 0 },
	{ "forward_socket", CONFIG_STR, R, CONFIG_AT(forward_socket), 0, 0 },
	{ "socket_mode", CONFIG_MODE, R, CONFIG_AT(socket_mode), 0, 0777 },
	{ "socket_group", CONFIG_STR, R, CONFIG_AT(socket_group), 0, 0 },
	{ "log_dir", CONFIG_STR, R, CONFIG_AT(log_dir), 0, 0 },
	{ "state_dir", CONFIG_STR, R, CONFIG_AT(state_dir), 0, 0 },
	{ "stderr", CONFIG_BOOL, R, CONFIG_AT(to_stderr), 0, 1 },
	{ "verbose", CONFIG_BOOL, R, CONFIG_AT(verbose), 0, 1 },
	{ "token_file", CONFIG_STR, R, CONFIG_AT(token_file), 0, 0 },
	{ "allow_uids", CONFIG_UIDS, R, CONFIG_AT(allow_uids), 0, 0 },
	{ "admin_uids", CONFIG_UIDS, R, CONFIG_AT(admin_uids), 0, 0 },
	/* At least what librelog's batches may take (relog-protocol.h). */
	{ "max_frame", CONFIG_SIZE, R, CONFIG_AT(max_frame), RELOG_FRAME_MIN,
	    RELOG_FRAME_MAX_LIMIT },
	{ "max_entries", CONFIG_SIZE, R, CONFIG_AT(max_entries), 1, 1000000 },
	{ "max_message", CONFIG_SIZE, R, CONFIG_AT(max_message), 64,
	    RELOG_FRAME_MAX_LIMIT },
	{ "max_exception", CONFIG_SIZE, R, CONFIG_AT(max_exception), 64,
	    RELOG_FRAME_MAX_LIMIT },
	{ "max_logger_name", CONFIG_SIZE, R, CONFIG_AT(max_logger), 16, 4096 },
	{ "max_connections", CONFIG_SIZE, R, CONFIG_AT(max_connections), 1,
	    1000000 },
	{ "max_plugins", CONFIG_SIZE, R, CONFIG_AT(max_plugins), 1, 100000 },
	{ "hello_timeout", CONFIG_SIZE, R, CONFIG_AT(hello_timeout_s), 1, 3600 },
	{ "idle_timeout", CONFIG_SIZE, R, CONFIG_AT(idle_timeout_s), 0,
	    86400 * 7 },
	{ "rate_limit", CONFIG_RATE, R | P, CONFIG_AT(rate), 0, 0 },
	{ "strict", CONFIG_BOOL, P, 0, 0, 1 },
	{ "level", CONFIG_LEVEL, P, 0, 0, 1000 },
	{ "file", CONFIG_FILE, P, 0, 0, 0 },
	{ "sinks", CONFIG_SINKS, P, 0, 0, 0 },
	{ "max_size", CONFIG_SIZE, P, 0, 0, (size_t)1 << 40 },
	{ "keep", CONFIG_SIZE, P, 0, 1, 100 },
	{ "forward", CONFIG_FORWARD, R | P, CONFIG_AT(forward), 0, 0 },
	{ "forward_memory", CONFIG_SIZE, R, CONFIG_AT(forward_memory),
	    64 * 1024, (size_t)1 << 32 },
	{ "forward_disk", CONFIG_SIZE, R, CONFIG_AT(forward_disk), 64 * 1024,
	    (size_t)1 << 40 },
	{ "forward_retry_max", CONFIG_SIZE, R, CONFIG_AT(forward_retry_max_s),
	    1, 3600 },
	{ "forward_timeout", CONFIG_SIZE, R, CONFIG_AT(forward_timeout_s), 1,
	    3600 },
	{ "forward_tls_ca", CONFIG_STR, R, CONFIG_AT(forward_tls_ca), 0, 0 },
	{ "forward_tls_cert", CONFIG_STR, R, CONFIG_AT(forward_tls_cert), 0,
	    0 },
	{ "forward_tls_key", CONFIG_STR, R, CONFIG_AT(forward_tls_key), 0, 0 },
};

#undef R
#undef P

/* Fill in the built-in defaults. */
void
config_defaults(struct config *config)
{
	memset(config, 0, sizeof *config);
	config->socket_path = strdup(RELOGD_SOCKET_DEFAULT);
	config->log_dir = strdup(RELOGD_LOG_DIR_DEFAULT);
	config->state_dir = strdup(RELOGD_STATE_DIR_DEFAULT);
	if (config->socket_path == NULL || config->log_dir == NULL ||
	    config->state_dir == NULL)
		fatal("strdup");
	config->socket_mode = 0660;
	config->max_frame = RELOG_FRAME_MAX_DEFAULT;
	config->max_entries = 10000;
	config->max_message = 64 * 1024;
	config->max_exception = 256 * 1024;
	config->max_logger = 256;
	config->max_connections = 4096;
	config->max_plugins = 1024;
	config->hello_timeout_s = 10;
	config->idle_timeout_s = 3600;
	/* journald's default: 10,000 records per 30 s. */
	config->rate.burst = 10000;
	config->rate.interval_s = 30;
	config->forward_memory = 4 * 1024 * 1024;
	config->forward_disk = 256 * 1024 * 1024;
	config->forward_retry_max_s = 30;
	config->forward_timeout_s = 30;
}

/* Free a config's allocations. */
void
config_free(struct config *config)
{
	struct plugin_config *pc;

	free(config->socket_path);
	free(config->forward_socket);
	free(config->socket_group);
	free(config->log_dir);
	free(config->state_dir);
	free(config->token_file);
	free(config->token);
	free(config->allow_uids.uids);
	free(config->admin_uids.uids);
	free(config->forward);
	free(config->forward_tls_ca);
	free(config->forward_tls_cert);
	free(config->forward_tls_key);
	while ((pc = config->plugins) != NULL) {
		config->plugins = pc->next;
		free(pc->name);
		free(pc);
	}
	memset(config, 0, sizeof *config);
}

/* Parse an unsigned number in [min, max], in the given base. */
static int
config_number(const char *value, int base, unsigned long long min,
    unsigned long long max, unsigned long long *out)
{
	unsigned long long n;
	char *end;

	errno = 0;
	n = strtoull(value, &end, base);
	if (errno != 0 || end == value || *end != '\0' || value[0] == '-' ||
	    n < min || n > max)
		return (-1);
	*out = n;
	return (0);
}

/* Parse "yes"/"no" and friends. */
static int
config_bool(const char *value, int *out)
{
	if (strcmp(value, "yes") == 0 || strcmp(value, "true") == 0 ||
	    strcmp(value, "on") == 0 || strcmp(value, "1") == 0)
		*out = 1;
	else if (strcmp(value, "no") == 0 || strcmp(value, "false") == 0 ||
	    strcmp(value, "off") == 0 || strcmp(value, "0") == 0)
		*out = 0;
	else
		return (-1);
	return (0);
}

/* Parse "BURST/SECONDS" (or "off", "0"). */
static int
config_rate(const char *value, struct config_rate *rate)
{
	unsigned long long burst, interval;
	char copy[64], *slash;

	if (strcmp(value, "off") == 0 || strcmp(value, "0") == 0) {
		rate->burst = 0;
		rate->interval_s = 0;
		return (0);
	}
	if (strlen(value) >= sizeof copy)
		return (-1);
	strcpy(copy, value);
	slash = strchr(copy, '/');
	if (slash == NULL)
		return (-1);
	*slash = '\0';
	if (config_number(copy, 10, 1, 100000000, &burst) != 0 ||
	    config_number(slash + 1, 10, 1, 86400, &interval) != 0)
		return (-1);
	rate->burst = (uint32_t)burst;
	rate->interval_s = (uint32_t)interval;
	return (0);
}

/* Parse "0, 1000,1001". */
static int
config_uids(const char *value, struct uid_list *list)
{
	unsigned long long uid;
	char *copy, *word, *save = NULL;
	uid_t *uids;
	int ret = 0;

	copy = strdup(value);
	if (copy == NULL)
		fatal("strdup");
	free(list->uids);
	list->uids = NULL;
	list->n = 0;
	for (word = strtok_r(copy, ", ", &save); word != NULL;
	    word = strtok_r(NULL, ", ", &save)) {
		if (config_number(word, 10, 0, (uid_t)-2, &uid) != 0) {
			ret = -1;
			break;
		}
		uids = reallocarray(list->uids, list->n + 1, sizeof *uids);
		if (uids == NULL)
			fatal("reallocarray");
		list->uids = uids;
		list->uids[list->n++] = (uid_t)uid;
	}
	free(copy);
	return (ret);
}

/* Is uid in the list? */
int
config_uid_listed(const struct uid_list *list, uid_t uid)
{
	size_t i;

	for (i = 0; i < list->n; i++) {
		if (list->uids[i] == uid)
			return (1);
	}
	return (0);
}

/* Parse a level: a name (any case) or a number. */
static int
config_level(const char *value, int64_t *out)
{
	static const char *const names[] = {
		"debug", "info", "warning", "error", "critical"
	};
	unsigned long long n;
	int i;

	for (i = 0; i < 5; i++) {
		if (strcasecmp(value, names[i]) == 0) {
			*out = (i + 1) * 10;
			return (0);
		}
	}
	if (config_number(value, 10, 0, 1000, &n) != 0)
		return (-1);
	*out = (int64_t)n;
	return (0);
}

/* Parse "file, stderr, json, journald". */
static int
config_sinks(const char *value, int *out)
{
	char *copy, *word, *save = NULL;
	int ret = 0;

	copy = strdup(value);
	if (copy == NULL)
		fatal("strdup");
	*out = 0;
	for (word = strtok_r(copy, ", ", &save); word != NULL;
	    word = strtok_r(NULL, ", ", &save)) {
		if (strcmp(word, "file") == 0)
			*out |= SINK_TO_FILE;
		else if (strcmp(word, "stderr") == 0)
			*out |= SINK_TO_STDERR;
		else if (strcmp(word, "json") == 0)
			*out |= SINK_TO_JSON;
		else if (strcmp(word, "journald") == 0)
			*out |= SINK_TO_JOURNALD;
		else
			ret = -1;
	}
	free(copy);
	return (*out == 0 ? -1 : ret);
}

/* Find or add the section of a plugin ("*": the default). */
static struct plugin_config *
config_plugin_section(struct config *c, const char *name)
{
	struct plugin_config *pc;

	for (pc = c->plugins; pc != NULL; pc = pc->next) {
		if (strcmp(pc->name, name) == 0)
			return (pc);
	}
	pc = calloc(1, sizeof *pc);
	if (pc == NULL || (pc->name = strdup(name)) == NULL)
		fatal("calloc");
	pc->next = c->plugins;
	c->plugins = pc;
	return (pc);
}

/* Make *cause from a format. Returns -1. */
static int __attribute__((format(printf, 2, 3)))
config_error(char **cause, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(cause, fmt, ap) < 0)
		*cause = NULL;
	va_end(ap);
	return (-1);
}

/*
 * Set one key of a section. Returns 0, or -1 with an allocated *cause
 * saying what is wrong.
 */
int
config_set(struct config *c, const char *section, const char *name,
    const char *value, char **cause)
{
	const struct config_key *k = NULL;
	struct plugin_config *pc = NULL;
	unsigned long long n;
	char *p = (char *)c;
	size_t i;
	int b;

	if (strncmp(section, "plugin.", 7) == 0) {
		if (strcmp(section + 7, "*") != 0 &&
		    !plugin_id_valid(section + 7, strlen(section + 7)))
			return (config_error(cause, "[%s]: %s is not a safe "
			    "plugin id", section, section + 7));
		pc = config_plugin_section(c, section + 7);
	} else if (strcmp(section, "relogd") != 0)
		return (config_error(cause, "[%s] is an unknown section",
		    section));
	for (i = 0; i < sizeof config_keys / sizeof config_keys[0]; i++) {
		if (strcmp(config_keys[i].name, name) == 0)
			k = &config_keys[i];
	}
	if (k == NULL || !(k->where & (pc != NULL ? CONFIG_PLUGIN :
	    CONFIG_RELOGD)))
		return (config_error(cause, "[%s] %s is an unknown key",
		    section, name));

	switch (k->type) {
	case CONFIG_STR:
		free(*(char **)(p + k->offset));
		*(char **)(p + k->offset) = strdup(value);
		if (*(char **)(p + k->offset) == NULL)
			fatal("strdup");
		return (0);
	case CONFIG_SIZE:
	case CONFIG_MODE:
		if (config_number(value, k->type == CONFIG_MODE ? 8 : 10,
		    k->min, k->max, &n) != 0)
			return (config_error(cause, "[%s] %s must be a number "
			    "from %llu to %llu%s", section, name, k->min,
			    k->max, k->type == CONFIG_MODE ? " (octal)" : ""));
		if (k->type == CONFIG_MODE)
			*(mode_t *)(p + k->offset) = (mode_t)n;
		else if (pc != NULL && strcmp(name, "keep") == 0) {
			pc->set.keep = (size_t)n;
			pc->has_keep = 1;
		} else if (pc != NULL) {
			pc->set.max_size = (size_t)n;
			pc->has_max_size = 1;
		} else
			*(size_t *)(p + k->offset) = (size_t)n;
		return (0);
	case CONFIG_BOOL:
		if (config_bool(value, &b) != 0)
			return (config_error(cause, "[%s] %s must be yes or no",
			    section, name));
		if (pc != NULL) {
			pc->set.strict = b;
			pc->has_strict = 1;
		} else
			*(int *)(p + k->offset) = b;
		return (0);
	case CONFIG_LEVEL:
		if (config_level(value, &pc->set.level) != 0)
			return (config_error(cause, "[%s] %s must be DEBUG, "
			    "INFO, WARNING, ERROR, CRITICAL or a number",
			    section, name));
		pc->has_level = 1;
		return (0);
	case CONFIG_FILE:
		if (strcmp(pc->name, "*") == 0)
			return (config_error(cause, "[%s] %s: plugins cannot "
			    "share a file", section, name));
		if (!plugin_id_valid(value, strlen(value)))
			return (config_error(cause, "[%s] %s must be a file "
			    "name of [A-Za-z0-9_.-], not starting with a dot",
			    section, name));
		snprintf(pc->set.file, sizeof pc->set.file, "%s", value);
		pc->has_file = 1;
		return (0);
	case CONFIG_SINKS:
		if (config_sinks(value, &pc->set.sinks) != 0)
			return (config_error(cause, "[%s] %s must list file, "
			    "stderr, json or journald", section, name));
		pc->has_sinks = 1;
		return (0);
	case CONFIG_RATE:
		if (config_rate(value, pc != NULL ? &pc->set.rate :
		    (struct config_rate *)(p + k->offset)) != 0)
			return (config_error(cause, "[%s] %s must be "
			    "BURST/SECONDS or off", section, name));
		if (pc != NULL)
			pc->has_rate = 1;
		return (0);
	case CONFIG_FORWARD:
		if (strlen(value) >= RELOGD_FORWARD_LIST_MAX)
			return (config_error(cause, "[%s] %s is too long",
			    section, name));
		if (remote_list_check(value, cause) != 0)
			return (-1);
		if (pc != NULL) {
			snprintf(pc->set.forward, sizeof pc->set.forward, "%s",
			    value);
			pc->has_forward = 1;
			return (0);
		}
		free(c->forward);
		if ((c->forward = strdup(value)) == NULL)
			fatal("strdup");
		return (0);
	case CONFIG_UIDS:
		if (config_uids(value, (struct uid_list *)(p + k->offset)) != 0)
			return (config_error(cause, "[%s] %s must be a list "
			    "of uids", section, name));
		return (0);
	}
	return (config_error(cause, "[%s] %s: unhandled", section, name));
}

/* What the INI handler carries. */
struct config_parse {
	struct config *config;
	char *cause;
};

/* libinih's handler: one key. Returns 1 to go on, 0 for an error. */
static int
config_handler(void *arg, const char *section, const char *name,
    const char *value)
{
	struct config_parse *p = arg;
	char *cause = NULL;

	if (config_set(p->config, section, name, value, &cause) == 0)
		return (1);
	if (p->cause == NULL)
		p->cause = cause;
	else
		free(cause);
	return (0);
}

/* Read the session token from its file: the first line. */
static int
config_read_token(struct config *c, char **cause)
{
	char *line = NULL;
	size_t cap = 0, len;
	FILE *f;

	f = fopen(c->token_file, "re");
	if (f == NULL)
		return (config_error(cause, "%s: %s", c->token_file,
		    strerror(errno)));
	if (getline(&line, &cap, f) < 0) {
		free(line);
		line = NULL;
	}
	fclose(f);
	len = line != NULL ? strcspn(line, "\r\n") : 0;
	if (len == 0) {
		free(line);
		return (config_error(cause, "%s: no token in it",
		    c->token_file));
	}
	free(c->token);
	c->token = strndup(line, len);
	if (c->token == NULL)
		fatal("strndup");
	c->token_len = len;
	explicit_bzero(line, cap);
	free(line);
	return (0);
}

/*
 * Read the INI file into config. Returns 0, or -1 with an allocated *cause
 * naming the file and line.
 */
int
config_load(struct config *config, const char *path, char **cause)
{
	struct config_parse p = { .config = config };
	int line;

	line = ini_parse(path, config_handler, &p);
	if (line == 0)
		return (0);
	if (line < 0) {
		if (asprintf(cause, "%s: %s", path, line == -1 ?
		    strerror(errno) : "out of memory") < 0)
			*cause = NULL;
	} else if (asprintf(cause, "%s:%d: %s", path, line, p.cause != NULL ?
	    p.cause : "syntax error") < 0)
		*cause = NULL;
	free(p.cause);
	return (-1);
}

/*
 * Check what can only be checked once everything is set, and load the
 * token. Returns 0, or -1 with an allocated *cause.
 */
int
config_finish(struct config *c, char **cause)
{
	const struct plugin_config *a, *b;

	/* One file, one plugin: each tracks its size and rotates it. */
	for (a = c->plugins; a != NULL; a = a->next) {
		for (b = a->next; a->has_file && b != NULL; b = b->next) {
			if (b->has_file && strcmp(a->set.file, b->set.file) == 0)
				return (config_error(cause, "[plugin.%s] and "
				    "[plugin.%s] both write %s", a->name,
				    b->name, a->set.file));
		}
	}
	if (c->socket_group != NULL && getgrnam(c->socket_group) == NULL &&
	    strspn(c->socket_group, "0123456789") != strlen(c->socket_group)) {
		if (asprintf(cause, "socket_group %s: no such group",
		    c->socket_group) < 0)
			*cause = NULL;
		return (-1);
	}
	/* Checked here, so that a reload cannot take a sink's TLS away. */
	if (c->forward_tls_ca != NULL && access(c->forward_tls_ca, R_OK) != 0)
		return (config_error(cause, "forward_tls_ca %s: %s",
		    c->forward_tls_ca, strerror(errno)));
	if (c->forward_tls_cert != NULL &&
	    access(c->forward_tls_cert, R_OK) != 0)
		return (config_error(cause, "forward_tls_cert %s: %s",
		    c->forward_tls_cert, strerror(errno)));
	if (c->forward_tls_key != NULL && access(c->forward_tls_key, R_OK) != 0)
		return (config_error(cause, "forward_tls_key %s: %s",
		    c->forward_tls_key, strerror(errno)));
	if (c->token_file != NULL)
		return (config_read_token(c, cause));
	return (0);
}

/* Take what a section sets over the settings so far. */
static void
config_plugin_over(struct plugin_settings *s, const struct plugin_config *pc)
{
	if (pc == NULL)
		return;
	if (pc->has_strict)
		s->strict = pc->set.strict;
	if (pc->has_rate)
		s->rate = pc->set.rate;
	if (pc->has_level)
		s->level = pc->set.level;
	if (pc->has_file)
		memcpy(s->file, pc->set.file, sizeof s->file);
	if (pc->has_sinks)
		s->sinks = pc->set.sinks;
	if (pc->has_max_size)
		s->max_size = pc->set.max_size;
	if (pc->has_keep)
		s->keep = pc->set.keep;
	if (pc->has_forward)
		memcpy(s->forward, pc->set.forward, sizeof s->forward);
}

/* The settings of a plugin: its section, else [plugin.*], else [relogd]. */
void
config_plugin(const struct config *c, const char *id,
    struct plugin_settings *s)
{
	const struct plugin_config *pc, *own = NULL, *any = NULL;

	for (pc = c->plugins; pc != NULL; pc = pc->next) {
		if (strcmp(pc->name, id) == 0)
			own = pc;
		else if (strcmp(pc->name, "*") == 0)
			any = pc;
	}
	memset(s, 0, sizeof *s);
	s->rate = c->rate;
	s->level = INT64_MIN;
	s->keep = 5;
	if (c->forward != NULL)
		snprintf(s->forward, sizeof s->forward, "%s", c->forward);
	config_plugin_over(s, any);
	config_plugin_over(s, own);
	if (s->sinks == 0)
		s->sinks = SINK_TO_FILE | (c->to_stderr ? SINK_TO_STDERR : 0);
}

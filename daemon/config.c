/*
 * relogd's settings: built-in defaults, then the INI file (config-load.c
 * reads it), then the command line, whose flags go through the same setter
 * as the file's keys.
 *
 *   [relogd]          the daemon (config_keys below)
 *   [plugin.NAME]     one plugin: the keys with a plugin offset
 *   [plugin.*]        every plugin without a section of its own
 *
 * A plugin key in [relogd] (rate_limit, forward) is the default for every
 * plugin. Adding a key is one line of config_keys and a field.
 */
#include <errno.h>
#include <pwd.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "relog-ring.h"
#include "relogd.h"

enum config_type {
	CONFIG_STR,		/* char *, allocated */
	CONFIG_SIZE,		/* size_t in [min, max] */
	CONFIG_BOOL,		/* int */
	CONFIG_MODE,		/* mode_t, octal */
	CONFIG_RATE,		/* struct config_rate: "BURST/SECONDS" or "off" */
	CONFIG_UIDS,		/* struct uid_list: comma-separated uids */
	CONFIG_LEVEL,		/* int64_t: a level name or number */
	CONFIG_NAME,		/* char[RELOG_ID_MAX + 1]: a safe file name */
	CONFIG_OUTPUTS,		/* int: file, stderr, json, journald */
	CONFIG_REMOTES,		/* char[RELOGD_REMOTE_LIST_MAX]: URIs */
	CONFIG_SECRET,		/* char[RELOGD_TOKEN_MAX + 1] (plugins) */
	CONFIG_PATH,		/* char[RELOG_ID_MAX * 4] (plugins) */
	CONFIG_UIDSET,		/* struct uid_set: uids or user names */
	CONFIG_IDENTITY,	/* int: "required" 1, "optional" 0 */
};

/* A key not allowed in a kind of section. */
#define CONFIG_NONE ((size_t)-1)

/* A rate limit's bounds: records in a window, the window's seconds. */
#define CONFIG_RATE_BURST_MAX 100000000
#define CONFIG_RATE_SECONDS_MAX 86400

/*
 * A key: where it goes in [relogd] (an offset into struct config, which
 * for a plugin key is the default every plugin gets) and in a plugin
 * section (into struct plugin_settings), its type and range. A key's index
 * is its bit in a section's "has".
 */
struct config_key {
	const char *name;
	enum config_type type;
	size_t relogd;
	size_t plugin;
	unsigned long long min;
	unsigned long long max;
};

#define R(field) offsetof(struct config, field)
#define P(field) offsetof(struct plugin_settings, field)
#define RP(field) R(plugin_defaults.field), P(field)
#define NONE CONFIG_NONE

static const struct config_key config_keys[] = {
	{ "socket", CONFIG_STR, R(socket_path), NONE, 0, 0 },
	{ "forward_socket", CONFIG_STR, R(fluent_socket), NONE, 0, 0 },
	{ "fluent_socket", CONFIG_STR, R(fluent_socket), NONE, 0, 0 },
	{ "socket_mode", CONFIG_MODE, R(socket_mode), NONE, 0, 0777 },
	{ "socket_group", CONFIG_STR, R(socket_group), NONE, 0, 0 },
	{ "log_dir", CONFIG_STR, R(log_dir), NONE, 0, 0 },
	{ "state_dir", CONFIG_STR, R(state_dir), NONE, 0, 0 },
	{ "stderr", CONFIG_BOOL, R(to_stderr), NONE, 0, 1 },
	{ "verbose", CONFIG_BOOL, R(verbose), NONE, 0, 1 },
	{ "token_file", CONFIG_STR, R(token_file), NONE, 0, 0 },
	{ "allow_uids", CONFIG_UIDS, R(allow_uids), NONE, 0, 0 },
	{ "admin_uids", CONFIG_UIDS, R(admin_uids), NONE, 0, 0 },
	/* At least what librelog's batches may take (relog-protocol.h). */
	{ "max_frame", CONFIG_SIZE, R(max_frame), NONE, RELOG_FRAME_MIN,
	    RELOG_FRAME_MAX_LIMIT },
	{ "max_entries", CONFIG_SIZE, R(max_entries), NONE, 1, 1000000 },
	{ "max_message", CONFIG_SIZE, R(max_message), NONE, 64,
	    RELOG_FRAME_MAX_LIMIT },
	{ "max_exception", CONFIG_SIZE, R(max_exception), NONE, 64,
	    RELOG_FRAME_MAX_LIMIT },
	{ "max_logger_name", CONFIG_SIZE, R(max_logger), NONE, 16,
	    PROTO_LOGGER_CUT_MAX },
	{ "max_connections", CONFIG_SIZE, R(max_connections), NONE, 1,
	    1000000 },
	{ "max_connections_per_uid", CONFIG_SIZE, R(max_connections_per_uid),
	    NONE, 1, 1000000 },
	{ "max_buffered", CONFIG_SIZE, R(max_buffered), NONE, 1 << 20,
	    (size_t)1 << 34 },
	{ "max_plugins", CONFIG_SIZE, R(max_plugins), NONE, 1, 100000 },
	{ "hello_timeout", CONFIG_SIZE, R(hello_timeout_s), NONE, 1, 3600 },
	{ "idle_timeout", CONFIG_SIZE, R(idle_timeout_s), NONE, 0, 86400 * 7 },
	/* A ring's file: 1 to 8 lanes of a 4 KiB header, 1024 to 262144 slots. */
	{ "max_ring", CONFIG_SIZE, R(max_ring), NONE, 0,
	    RELOG_RING_LANES_MAX * (4096 + ((size_t)256 << 18)) },
	{ "max_ring_total", CONFIG_SIZE, R(max_ring_total), NONE, 0,
	    (size_t)1 << 40 },
	{ "rate_limit", CONFIG_RATE, RP(rate), 0, 0 },
	{ "strict", CONFIG_BOOL, NONE, P(strict), 0, 1 },
	{ "level", CONFIG_LEVEL, NONE, P(level), 0, RELOG_LEVEL_MAX },
	{ "file", CONFIG_NAME, NONE, P(file), 0, 0 },
	{ "sinks", CONFIG_OUTPUTS, NONE, P(outputs), 0, 0 },
	{ "max_size", CONFIG_SIZE, NONE, P(max_size), 0, (size_t)1 << 40 },
	{ "keep", CONFIG_SIZE, NONE, P(keep), 1, 100 },
	{ "forward", CONFIG_REMOTES, RP(remotes), 0, 0 },
	{ "forward_memory", CONFIG_SIZE, R(remote_memory), NONE, 64 * 1024,
	    (size_t)1 << 32 },
	{ "forward_disk", CONFIG_SIZE, R(remote_disk), NONE, 64 * 1024,
	    (size_t)1 << 40 },
	{ "forward_retry_max", CONFIG_SIZE, R(remote_retry_max_s), NONE, 1,
	    3600 },
	{ "forward_timeout", CONFIG_SIZE, R(remote_timeout_s), NONE, 1, 3600 },
	{ "forward_tls_ca", CONFIG_STR, R(remote_tls_ca), NONE, 0, 0 },
	{ "forward_tls_cert", CONFIG_STR, R(remote_tls_cert), NONE, 0, 0 },
	{ "forward_tls_key", CONFIG_STR, R(remote_tls_key), NONE, 0, 0 },
	{ "identity", CONFIG_IDENTITY, R(identity), NONE, 0, 0 },
	{ "token", CONFIG_SECRET, NONE, P(token), 0, 0 },
	{ "token_file", CONFIG_PATH, NONE, P(token_file), 0, 0 },
	{ "uids", CONFIG_UIDSET, NONE, P(uids), 0, 0 },
	{ "metrics_listen", CONFIG_STR, R(metrics_listen), NONE, 0, 0 },
};

#undef R
#undef P
#undef RP
#undef NONE

#define CONFIG_NKEYS (sizeof config_keys / sizeof config_keys[0])
_Static_assert(CONFIG_NKEYS <= 64, "a section's has holds 64 keys");

/* The bytes a key's value takes in struct plugin_settings. */
static size_t
config_type_size(enum config_type type)
{
	switch (type) {
	case CONFIG_SIZE:
		return (sizeof(size_t));
	case CONFIG_BOOL:
	case CONFIG_OUTPUTS:
		return (sizeof(int));
	case CONFIG_RATE:
		return (sizeof(struct config_rate));
	case CONFIG_LEVEL:
		return (sizeof(int64_t));
	case CONFIG_NAME:
		return (RELOG_ID_MAX + 1);
	case CONFIG_REMOTES:
		return (RELOGD_REMOTE_LIST_MAX);
	case CONFIG_SECRET:
		return (RELOGD_TOKEN_MAX + 1);
	case CONFIG_PATH:
		return (RELOG_ID_MAX * 4);
	case CONFIG_UIDSET:
		return (sizeof(struct uid_set));
	default:
		/* Allocated types have no place in plugin settings. */
		fatalx("config: a plugin key of type %d", (int)type);
	}
}

/* Fill in the built-in defaults. */
void
config_defaults(struct config *config)
{
	struct plugin_settings *p = &config->plugin_defaults;

	memset(config, 0, sizeof *config);
	config->socket_path = strdup(RELOG_SOCKET_DEFAULT);
	config->log_dir = strdup(RELOGD_LOG_DIR_DEFAULT);
	config->state_dir = strdup(RELOGD_STATE_DIR_DEFAULT);
	if (config->socket_path == NULL || config->log_dir == NULL ||
	    config->state_dir == NULL)
		fatal("strdup");
	config->socket_mode = 0660;
	config->max_frame = RELOG_FRAME_MAX_DEFAULT;
	config->max_entries = 10000;
	config->max_message = PROTO_MESSAGE_CUT_DEFAULT;
	config->max_exception = PROTO_EXCEPTION_CUT_DEFAULT;
	config->max_logger = PROTO_LOGGER_CUT_DEFAULT;
	config->max_connections = 4096;
	config->max_connections_per_uid = 1024;
	config->max_buffered = 64 * 1024 * 1024;
	config->max_plugins = 1024;
	config->hello_timeout_s = 10;
	config->idle_timeout_s = 3600;
	/* 65536 slots (16 MiB) per runner in its lanes, 4 GiB in all. */
	config->max_ring = RELOG_RING_LANES_MAX * 4096 + ((size_t)256 << 16);
	config->max_ring_total = (size_t)1 << 32;
	config->remote_memory = 4 * 1024 * 1024;
	config->remote_disk = 256 * 1024 * 1024;
	config->remote_retry_max_s = 30;
	config->remote_timeout_s = 30;
	/* journald's default: 10,000 records per 30 s. */
	p->rate.burst = 10000;
	p->rate.interval_s = 30;
	p->level = INT64_MIN;
	p->keep = 5;
}

/* Free a config's allocations. */
void
config_free(struct config *config)
{
	struct plugin_config *pc;
	size_t i;
	char *base = (char *)config;

	for (i = 0; i < CONFIG_NKEYS; i++) {
		if (config_keys[i].relogd == CONFIG_NONE)
			continue;
		if (config_keys[i].type == CONFIG_STR) {
			free(*(char **)(base + config_keys[i].relogd));
			*(char **)(base + config_keys[i].relogd) = NULL;
		} else if (config_keys[i].type == CONFIG_UIDS) {
			free(((struct uid_list *)(base +
			    config_keys[i].relogd))->uids);
			memset(base + config_keys[i].relogd, 0,
			    sizeof(struct uid_list));
		}
	}
	free(config->token);
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
	if (config_number(copy, 10, 1, CONFIG_RATE_BURST_MAX, &burst) != 0 ||
	    config_number(slash + 1, 10, 1, CONFIG_RATE_SECONDS_MAX,
	    &interval) != 0)
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

/*
 * Parse "1001, alice": uids or user names, RELOGD_PLUGIN_UIDS_MAX at most.
 * Returns 0; -1 if there are none or too many; -2 if a name is no user's
 * (copied into unknown, of size len).
 */
static int
config_uidset(const char *value, struct uid_set *set, char *unknown,
    size_t len)
{
	unsigned long long uid;
	char *copy, *word, *save = NULL;
	struct passwd *pw;
	int ret = 0;

	if ((copy = strdup(value)) == NULL)
		fatal("strdup");
	set->n = 0;
	for (word = strtok_r(copy, ", ", &save); word != NULL && ret == 0;
	    word = strtok_r(NULL, ", ", &save)) {
		if (set->n == RELOGD_PLUGIN_UIDS_MAX)
			ret = -1;
		else if (config_number(word, 10, 0, (uid_t)-2, &uid) == 0)
			set->uids[set->n++] = (uid_t)uid;
		else if ((pw = getpwnam(word)) != NULL)
			set->uids[set->n++] = pw->pw_uid;
		else {
			snprintf(unknown, len, "%s", word);
			ret = -2;
		}
	}
	free(copy);
	return (set->n == 0 && ret == 0 ? -1 : ret);
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

/* Parse "file, stderr, json, journald". */
static int
config_outputs(const char *value, int *out)
{
	static const struct {
		const char *name;
		int bit;
	} names[] = {
		{ "file", OUTPUT_FILE }, { "stderr", OUTPUT_STDERR },
		{ "json", OUTPUT_JSON }, { "journald", OUTPUT_JOURNALD },
	};
	char *copy, *word, *save = NULL;
	size_t i;
	int ret = 0;

	copy = strdup(value);
	if (copy == NULL)
		fatal("strdup");
	*out = 0;
	for (word = strtok_r(copy, ", ", &save); word != NULL;
	    word = strtok_r(NULL, ", ", &save)) {
		for (i = 0; i < sizeof names / sizeof names[0]; i++) {
			if (strcmp(word, names[i].name) == 0)
				break;
		}
		if (i == sizeof names / sizeof names[0])
			ret = -1;
		else
			*out |= names[i].bit;
	}
	free(copy);
	return (*out == 0 ? -1 : ret);
}

/* Find or add the section of a plugin ("*": the default). */
struct plugin_config *
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

/* Is section one of relogd's: [relogd], [plugin.ID] or [plugin.*]? */
int
config_section_known(const char *section)
{
	if (strncmp(section, "plugin.", 7) == 0)
		return (strcmp(section + 7, "*") == 0 ||
		    proto_id_valid(section + 7, strlen(section + 7)));
	return (strcmp(section, "relogd") == 0);
}

/* Make *cause from a format. Returns -1. */
int
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
 * Parse a value of a key's type into the field at p. Returns 0, or -1 with
 * *cause.
 */
static int
config_value(const struct config_key *k, const char *section,
    const char *value, char *p, char **cause)
{
	unsigned long long n;
	char unknown[64];
	int64_t level;
	int b, ret;

	switch (k->type) {
	case CONFIG_STR:
		free(*(char **)p);
		if ((*(char **)p = strdup(value)) == NULL)
			fatal("strdup");
		return (0);
	case CONFIG_SIZE:
	case CONFIG_MODE:
		if (config_number(value, k->type == CONFIG_MODE ? 8 : 10,
		    k->min, k->max, &n) != 0)
			return (config_error(cause, k->type == CONFIG_MODE ?
			    "[%s] %s must be an octal mode from %#llo to %#llo" :
			    "[%s] %s must be a number from %llu to %llu",
			    section, k->name, k->min, k->max));
		if (k->type == CONFIG_MODE)
			*(mode_t *)p = (mode_t)n;
		else
			*(size_t *)p = (size_t)n;
		return (0);
	case CONFIG_BOOL:
		if (config_bool(value, &b) != 0)
			return (config_error(cause, "[%s] %s must be yes or no",
			    section, k->name));
		*(int *)p = b;
		return (0);
	case CONFIG_LEVEL:
		if (proto_level_parse(proto_cstr(value), &level) != 0)
			return (config_error(cause, "[%s] %s must be DEBUG, "
			    "INFO, WARNING, ERROR, CRITICAL or a number from "
			    "0 to %d", section, k->name, RELOG_LEVEL_MAX));
		*(int64_t *)p = level;
		return (0);
	case CONFIG_NAME:
		if (!proto_id_valid(value, strlen(value)))
			return (config_error(cause, "[%s] %s must be a file "
			    "name of [A-Za-z0-9_.-], not starting with a dot",
			    section, k->name));
		snprintf(p, RELOG_ID_MAX + 1, "%s", value);
		return (0);
	case CONFIG_OUTPUTS:
		if (config_outputs(value, (int *)p) != 0)
			return (config_error(cause, "[%s] %s must list file, "
			    "stderr, json or journald", section, k->name));
		return (0);
	case CONFIG_RATE:
		if (config_rate(value, (struct config_rate *)p) != 0)
			return (config_error(cause, "[%s] %s must be "
			    "BURST/SECONDS (1 to %d / 1 to %d) or off",
			    section, k->name, CONFIG_RATE_BURST_MAX,
			    CONFIG_RATE_SECONDS_MAX));
		return (0);
	case CONFIG_REMOTES:
		if (strlen(value) >= RELOGD_REMOTE_LIST_MAX)
			return (config_error(cause, "[%s] %s is too long",
			    section, k->name));
		if (uri_list_check(value, cause) != 0)
			return (-1);
		snprintf(p, RELOGD_REMOTE_LIST_MAX, "%s", value);
		return (0);
	case CONFIG_UIDS:
		if (config_uids(value, (struct uid_list *)p) != 0)
			return (config_error(cause, "[%s] %s must be a list "
			    "of uids", section, k->name));
		return (0);
	case CONFIG_UIDSET:
		if ((ret = config_uidset(value, (struct uid_set *)p, unknown,
		    sizeof unknown)) == -2)
			return (config_error(cause, "[%s] %s: %s is no user",
			    section, k->name, unknown));
		if (ret != 0)
			return (config_error(cause, "[%s] %s must list at most "
			    "%d uids or user names", section, k->name,
			    RELOGD_PLUGIN_UIDS_MAX));
		return (0);
	case CONFIG_SECRET:
	case CONFIG_PATH:
		if (*value == '\0' || strlen(value) >= config_type_size(k->type))
			return (config_error(cause, "[%s] %s must be 1 to %zu "
			    "bytes", section, k->name,
			    config_type_size(k->type) - 1));
		snprintf(p, config_type_size(k->type), "%s", value);
		return (0);
	case CONFIG_IDENTITY:
		if (strcmp(value, "required") != 0 &&
		    strcmp(value, "optional") != 0)
			return (config_error(cause, "[%s] %s must be required "
			    "or optional", section, k->name));
		*(int *)p = strcmp(value, "required") == 0;
		return (0);
	}
	return (config_error(cause, "[%s] %s: unhandled", section, k->name));
}

/*
 * Set one key of a section: [relogd], [plugin.NAME] or [plugin.*].
 * Returns 0, or -1 with an allocated *cause saying what is wrong.
 */
int
config_set(struct config *c, const char *section, const char *name,
    const char *value, char **cause)
{
	const struct config_key *k = NULL;
	struct plugin_config *pc = NULL;
	size_t i;

	if (!config_section_known(section))
		return (strncmp(section, "plugin.", 7) == 0 ?
		    config_error(cause, "[%s]: %s is not a safe plugin id",
		    section, section + 7) :
		    config_error(cause, "[%s] is an unknown section", section));
	if (strncmp(section, "plugin.", 7) == 0)
		pc = config_plugin_section(c, section + 7);
	/* A name may be a key of each kind of section (token_file). */
	for (i = 0; i < CONFIG_NKEYS && k == NULL; i++) {
		if (strcmp(config_keys[i].name, name) == 0 &&
		    (pc != NULL ? config_keys[i].plugin :
		    config_keys[i].relogd) != CONFIG_NONE)
			k = &config_keys[i];
	}
	if (k == NULL)
		return (config_error(cause, "[%s] %s is an unknown key",
		    section, name));
	if (pc == NULL)
		return (config_value(k, section, value, (char *)c + k->relogd,
		    cause));
	if (k->type == CONFIG_NAME && strcmp(pc->name, "*") == 0)
		return (config_error(cause, "[%s] %s: plugins cannot share a "
		    "file", section, name));
	if ((k->type == CONFIG_SECRET || k->type == CONFIG_PATH ||
	    k->type == CONFIG_UIDSET) && strcmp(pc->name, "*") == 0)
		return (config_error(cause, "[%s] %s: a plugin owns its name "
		    "alone", section, name));
	/* Every runner's records of no plugin go there: owned by none. */
	if ((k->type == CONFIG_SECRET || k->type == CONFIG_PATH ||
	    k->type == CONFIG_UIDSET) &&
	    proto_id_own_log(pc->name, strlen(pc->name)))
		return (config_error(cause, "[%s] %s: relogd's own logs are "
		    "owned by no one", section, name));
	if (config_value(k, section, value, (char *)&pc->set + k->plugin,
	    cause) != 0)
		return (-1);
	pc->has |= (uint64_t)1 << (k - config_keys);
	return (0);
}

/*
 * Read "IPv4:PORT" or "[IPv6]:PORT" (metrics_listen): an address, never a
 * name to look up, and a port. Returns 0, or -1 with an allocated *cause.
 */
int
config_listen_addr(const char *value, struct sockaddr_storage *ss,
    socklen_t *len, char **cause)
{
	const char *colon = strrchr(value, ':');
	unsigned long long port;
	int n = (int)sizeof *ss;

	memset(ss, 0, sizeof *ss);
	if (colon == NULL || (strchr(value, ':') != colon && *value != '[') ||
	    config_number(colon + 1, 10, 1, 65535, &port) != 0 ||
	    evutil_parse_sockaddr_port(value, (struct sockaddr *)ss, &n) != 0)
		return (config_error(cause, "[relogd] metrics_listen %s: not "
		    "an IP address and a port, e.g. 127.0.0.1:9464 or "
		    "[::1]:9464", value));
	*len = (socklen_t)n;
	return (0);
}

/* Is file id's name with this ending (".log", ".json")? */
int
config_file_is(const char *file, const char *id, const char *ending)
{
	size_t len = strlen(id);

	return (strncmp(file, id, len) == 0 && strcmp(file + len, ending) == 0);
}

/*
 * The [plugin.ID] section other than id's own whose file setting is a file
 * id would write (id.log, unless its own section sets a file; id.json, the
 * JSON output's, always), or NULL: such an id would write into that
 * plugin's file.
 */
const char *
config_file_taken(const struct config *c, const char *id)
{
	const struct plugin_config *pc;
	int own_file = 0;

	for (pc = c->plugins; pc != NULL; pc = pc->next) {
		if (strcmp(pc->name, id) == 0 && pc->set.file[0] != '\0')
			own_file = 1;
	}
	for (pc = c->plugins; pc != NULL; pc = pc->next) {
		if (strcmp(pc->name, id) == 0)
			continue;
		if ((!own_file && config_file_is(pc->set.file, id, ".log")) ||
		    config_file_is(pc->set.file, id, ".json"))
			return (pc->name);
	}
	return (NULL);
}

/* Take what a section sets over the settings so far. */
static void
config_plugin_over(struct plugin_settings *s, const struct plugin_config *pc)
{
	const struct config_key *k;
	size_t i;

	for (i = 0; pc != NULL && i < CONFIG_NKEYS; i++) {
		k = &config_keys[i];
		if (pc->has & ((uint64_t)1 << i))
			memcpy((char *)s + k->plugin, (const char *)&pc->set +
			    k->plugin, config_type_size(k->type));
	}
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
	*s = c->plugin_defaults;
	config_plugin_over(s, any);
	config_plugin_over(s, own);
	if (s->outputs == 0)
		s->outputs = OUTPUT_FILE | (c->to_stderr ? OUTPUT_STDERR : 0);
}

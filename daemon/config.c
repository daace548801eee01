/*
 * relogd's settings: built-in defaults, then the INI file (parsed with
 * libinih), then the command line.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

#include "relogd.h"

/* What the INI handler carries. */
struct config_parse {
	struct config *config;
	char *cause;
};

/* Fill in the built-in defaults. */
void
config_defaults(struct config *config)
{
	memset(config, 0, sizeof *config);
	config->socket_path = strdup(RELOGD_SOCKET_DEFAULT);
	config->log_dir = strdup(RELOGD_LOG_DIR_DEFAULT);
	config->state_dir = strdup(RELOGD_STATE_DIR_DEFAULT);
	config->max_frame = RELOG_FRAME_MAX_DEFAULT;
	if (config->socket_path == NULL || config->log_dir == NULL ||
	    config->state_dir == NULL)
		fatal("strdup");
}

/* Free a config's strings. */
void
config_free(struct config *config)
{
	free(config->socket_path);
	free(config->log_dir);
	free(config->state_dir);
	memset(config, 0, sizeof *config);
}

/* Parse a frame size limit (the INI key and --max-frame). Returns 0 or -1. */
int
config_parse_frame_size(const char *value, size_t *out)
{
	unsigned long long n;
	char *end;

	errno = 0;
	n = strtoull(value, &end, 10);
	if (errno != 0 || end == value || *end != '\0' || n < 1024 ||
	    n > RELOG_FRAME_MAX_LIMIT)
		return (-1);
	*out = (size_t)n;
	return (0);
}

/* Parse a boolean. Returns 0 or -1. */
static int
config_bool(const char *value, int *out)
{
	if (strcmp(value, "yes") == 0 || strcmp(value, "true") == 0 ||
	    strcmp(value, "1") == 0)
		*out = 1;
	else if (strcmp(value, "no") == 0 || strcmp(value, "false") == 0 ||
	    strcmp(value, "0") == 0)
		*out = 0;
	else
		return (-1);
	return (0);
}

/* Replace a string setting. */
static void
config_set_str(char **field, const char *value)
{
	char *copy = strdup(value);

	if (copy == NULL)
		fatal("strdup");
	free(*field);
	*field = copy;
}

/* libinih's handler: one key. Returns 1 to go on, 0 for an error. */
static int
config_handler(void *arg, const char *section, const char *name,
    const char *value)
{
	struct config_parse *p = arg;
	struct config *c = p->config;
	const char *what = "unknown key";

	if (strcmp(section, "relogd") != 0)
		what = "unknown section";
	else if (strcmp(name, "socket") == 0) {
		config_set_str(&c->socket_path, value);
		return (1);
	} else if (strcmp(name, "log_dir") == 0) {
		config_set_str(&c->log_dir, value);
		return (1);
	} else if (strcmp(name, "state_dir") == 0) {
		config_set_str(&c->state_dir, value);
		return (1);
	} else if (strcmp(name, "max_frame") == 0) {
		if (config_parse_frame_size(value, &c->max_frame) == 0)
			return (1);
		what = "max_frame must be a number of bytes from 1024 to "
		    "16777216";
	} else if (strcmp(name, "stderr") == 0) {
		if (config_bool(value, &c->to_stderr) == 0)
			return (1);
		what = "stderr must be yes or no";
	}
	if (p->cause == NULL &&
	    asprintf(&p->cause, "[%s] %s: %s", section, name, what) < 0)
		p->cause = NULL;
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

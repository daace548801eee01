/*
 * Reading relogd's settings file: the INI text (parsed with libinih) from
 * a file or any stream, each key handed to config_set (config.c); then, once
 * the command line is set too, what can only be checked with everything
 * set, and the tokens read from their files.
 */
#include <sys/stat.h>

#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ini.h>

#include "relogd.h"

/* What the INI handler carries. */
struct config_load_parse {
	struct config *config;
	char *cause;
};

/* libinih's handler: one key. Returns 1 to go on, 0 for an error. */
static int
config_load_handler(void *arg, const char *section, const char *name,
    const char *value)
{
	struct config_load_parse *p = arg;
	char *cause = NULL;

	if (config_set(p->config, section, name, value, &cause) == 0)
		return (1);
	if (p->cause == NULL)
		p->cause = cause;
	else
		free(cause);
	return (0);
}

/*
 * Read a token from its file: the first line, at most max bytes (no more
 * is read: the file may be /dev/zero, or a FIFO). Returns it (allocated;
 * free it with explicit_bzero), or NULL with *cause, which names the
 * section whose token_file it is.
 */
static char *
config_load_secret(const char *section, const char *path, size_t max,
    char **cause)
{
	char *line;
	size_t len;
	FILE *f;

	if ((f = fopen(path, "re")) == NULL) {
		config_error(cause, "[%s] token_file %s: %s", section, path,
		    strerror(errno));
		return (NULL);
	}
	if ((line = malloc(max + 2)) == NULL)
		fatal("malloc");
	if (fgets(line, (int)max + 2, f) == NULL)
		line[0] = '\0';
	fclose(f);
	len = strcspn(line, "\r\n");
	if (len == 0 || len > max) {
		explicit_bzero(line, max + 2);
		free(line);
		config_error(cause, "[%s] token_file %s: %s", section, path,
		    len == 0 ? "no token in it" : "the token is too long");
		return (NULL);
	}
	line[len] = '\0';
	return (line);
}

/* Read the session token from its file. */
static int
config_load_token(struct config *c, char **cause)
{
	char *line;

	if ((line = config_load_secret("relogd", c->token_file, 4096,
	    cause)) == NULL)
		return (-1);
	free(c->token);
	c->token = strdup(line);
	if (c->token == NULL)
		fatal("strdup");
	c->token_len = strlen(line);
	explicit_bzero(line, c->token_len);
	free(line);
	return (0);
}

/* Read the plugins' token_file into their token, as if it were set. */
static int
config_load_plugin_tokens(struct config *c, char **cause)
{
	char section[sizeof RELOG_PLUGIN_PREFIX + RELOG_ID_MAX], *line;
	struct plugin_config *pc;
	int ret;

	for (pc = c->plugins; pc != NULL; pc = pc->next) {
		if (pc->set.token_file[0] == '\0')
			continue;
		snprintf(section, sizeof section, "%s%s", RELOG_PLUGIN_PREFIX,
		    pc->name);
		if ((line = config_load_secret(section, pc->set.token_file,
		    RELOGD_TOKEN_MAX, cause)) == NULL)
			return (-1);
		ret = config_set(c, section, "token", line, cause);
		explicit_bzero(line, strlen(line));
		free(line);
		if (ret != 0)
			return (-1);
	}
	return (0);
}

/*
 * The longest line libinih reads whole (its buffer, less the newline and
 * the NUL): it reads the rest of a longer one as a line of its own, so
 * the tail of a long comment could set a key.
 */
#define CONFIG_LINE_MAX (INI_MAX_LINE - 2)

/*
 * Take every [plugin.ID] section of the file, keys or none: a section
 * alone declares its plugin's id (libinih calls the handler only for
 * keys). Returns 0, or the line of a section that is not a plugin id, or
 * of a line longer than CONFIG_LINE_MAX.
 */
static int
config_load_sections(struct config *c, FILE *f, char **cause)
{
	char line[CONFIG_LINE_MAX + 2], *p, *end;
	int n = 0;

	while (fgets(line, sizeof line, f) != NULL) {
		n++;
		if (strchr(line, '\n') == NULL && !feof(f)) {
			config_error(cause, "a line longer than %d bytes",
			    CONFIG_LINE_MAX);
			return (n);
		}
		p = line + strspn(line, " \t");
		if (*p != '[' || (end = strchr(p, ']')) == NULL)
			continue;
		*end = '\0';
		p++;
		if (strncmp(p, "plugin.", 7) != 0)
			continue;
		if (strcmp(p + 7, "*") != 0 &&
		    !proto_id_valid(p + 7, strlen(p + 7))) {
			config_error(cause, "[%s]: %s is not a safe plugin id",
			    p, p + 7);
			return (n);
		}
		config_plugin_section(c, p + 7);
	}
	return (0);
}

/*
 * Read INI text from f (named name in errors) into config: the daemon's
 * file, or any stream (the fuzzer's). f is read twice, so it must be
 * seekable. Returns 0, or -1 with an allocated *cause naming the line.
 */
int
config_load_file(struct config *config, FILE *f, const char *name,
    char **cause)
{
	struct config_load_parse p = { .config = config };
	int line;

	/*
	 * A read that fails ends both loops as the end of the file would:
	 * ferror tells them apart, so that half a file is never taken whole.
	 */
	line = config_load_sections(config, f, &p.cause);
	if (line == 0 && (ferror(f) || fseek(f, 0, SEEK_SET) != 0))
		line = -1;
	if (line == 0)
		line = ini_parse_file(f, config_load_handler, &p);
	if (line == 0 && ferror(f))
		line = -1;
	if (line == 0)
		return (0);
	if (line < 0) {
		if (asprintf(cause, "%s: %s", name, line == -1 ?
		    strerror(errno) : "out of memory") < 0)
			*cause = NULL;
	} else if (asprintf(cause, "%s:%d: %s", name, line, p.cause != NULL ?
	    p.cause : "syntax error") < 0)
		*cause = NULL;
	free(p.cause);
	return (-1);
}

/*
 * Read the INI file at path into config. Returns 0, or -1 with an
 * allocated *cause naming the file and line.
 */
int
config_load(struct config *config, const char *path, char **cause)
{
	const char *why = NULL;
	struct stat st;
	FILE *f;
	int ret;

	if ((f = fopen(path, "re")) == NULL) {
		if (asprintf(cause, "%s: %s", path, strerror(errno)) < 0)
			*cause = NULL;
		return (-1);
	}
	/*
	 * A folder opens, and reads as an empty file would: no settings (an
	 * empty file, /dev/null, is one a user may mean).
	 */
	if (fstat(fileno(f), &st) != 0)
		why = strerror(errno);
	else if (S_ISDIR(st.st_mode))
		why = strerror(EISDIR);
	if (why != NULL) {
		if (asprintf(cause, "%s: %s", path, why) < 0)
			*cause = NULL;
		fclose(f);
		return (-1);
	}
	ret = config_load_file(config, f, path, cause);
	fclose(f);
	return (ret);
}

/*
 * Check what can only be checked once everything is set, and load the
 * token. Returns 0, or -1 with an allocated *cause.
 */
int
config_load_finish(struct config *c, char **cause)
{
	const struct plugin_config *a, *b;
	const char *owner;
	struct sockaddr_storage ss;
	socklen_t sslen;

	/* One file, one plugin: each tracks its size and rotates it. */
	for (a = c->plugins; a != NULL; a = a->next) {
		for (b = a->next; a->set.file[0] != '\0' && b != NULL;
		    b = b->next) {
			if (strcmp(a->set.file, b->set.file) == 0)
				return (config_error(cause, "[plugin.%s] and "
				    "[plugin.%s] both write %s", a->name,
				    b->name, a->set.file));
		}
		if (strcmp(a->set.file, RELOG_PLUGIN_RUNTIME ".log") == 0 ||
		    strcmp(a->set.file, RELOG_PLUGIN_UNROUTED ".log") == 0)
			return (config_error(cause, "[plugin.%s] file = %s: "
			    "relogd's own log", a->name, a->set.file));
		if (strcmp(a->name, "*") == 0)
			continue;
		/* Its JSON output writes ID.json whatever its file. */
		if (config_file_is(a->set.file, a->name, ".json"))
			return (config_error(cause, "[plugin.%s] file = %s: "
			    "its JSON output's file", a->name,
			    a->set.file));
		if ((owner = config_file_taken(c, a->name)) == NULL)
			continue;
		if (a->set.file[0] == '\0')
			return (config_error(cause, "[plugin.%s] writes "
			    "%s.log or %s.json, which [plugin.%s] has as its "
			    "file", a->name, a->name, a->name, owner));
		return (config_error(cause, "[plugin.%s] writes %s.json (its "
		    "JSON output's file), which [plugin.%s] has as its file",
		    a->name, a->name, owner));
	}
	/* The input budget takes a whole frame at least. */
	if (c->max_buffered < c->max_frame + RELOG_FRAME_HEADER_SIZE)
		return (config_error(cause, "[relogd] max_buffered (%zu) must "
		    "be more than max_frame (%zu)", c->max_buffered,
		    c->max_frame));
	if (c->socket_group != NULL && getgrnam(c->socket_group) == NULL &&
	    strspn(c->socket_group, "0123456789") != strlen(c->socket_group)) {
		return (config_error(cause, "[relogd] socket_group %s: no "
		    "such group", c->socket_group));
	}
	/* Checked here, so that a reload cannot take a sink's TLS away. */
	if (c->remote_tls_ca != NULL && access(c->remote_tls_ca, R_OK) != 0)
		return (config_error(cause, "[relogd] forward_tls_ca %s: %s",
		    c->remote_tls_ca, strerror(errno)));
	if (c->remote_tls_cert != NULL &&
	    access(c->remote_tls_cert, R_OK) != 0)
		return (config_error(cause, "[relogd] forward_tls_cert %s: %s",
		    c->remote_tls_cert, strerror(errno)));
	if (c->remote_tls_key != NULL && access(c->remote_tls_key, R_OK) != 0)
		return (config_error(cause, "[relogd] forward_tls_key %s: %s",
		    c->remote_tls_key, strerror(errno)));
	if (config_load_plugin_tokens(c, cause) != 0)
		return (-1);
	if (c->metrics_listen != NULL &&
	    config_listen_addr(c->metrics_listen, &ss, &sslen, cause) != 0)
		return (-1);
	if (c->token_file != NULL)
		return (config_load_token(c, cause));
	return (0);
}


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

/* A settings file's size at most (each error may cost a parse of it). */
#define CONFIG_FILE_MAX (4 * 1024 * 1024)
/* A file's errors said at most (the first by line); past them, a count. */
#define CONFIG_ERRORS_MAX 20
/*
 * The longest section name libinih hands its handler (its MAX_SECTION,
 * less the NUL): a longer one is cut there, and the reader's own is used.
 */
#define CONFIG_INI_SECTION_MAX 49

/* How a line was read. */
enum config_line {
	CONFIG_LINE_OK,
	CONFIG_LINE_LONG,	/* past CONFIG_LINE_MAX: the rest left out */
	CONFIG_LINE_NUL,	/* with a NUL byte in it */
};

/* An error of the file, at its line. */
struct config_load_error {
	int line;
	char *cause;		/* NULL: out of memory */
};

/*
 * What the INI reader and handler carry. libinih gives its handler no
 * line number, and returns the first line it could not parse: the reader
 * counts lines, so that the handler knows its; and the file is parsed
 * again, keys not set, with each line that could not be parsed read as a
 * comment, until none is left, so that every such line is said.
 */
struct config_load_parse {
	struct config *config;
	FILE *f;
	int line;		/* lines read so far */
	int set;		/* the handler sets keys (the first parse) */
	char section[INI_MAX_LINE]; /* the last [section], as read */
	char said[INI_MAX_LINE]; /* an unknown section said for a key */
	int unparsed[CONFIG_ERRORS_MAX]; /* lines read as comments */
	size_t nunparsed;
	struct config_load_error errors[CONFIG_ERRORS_MAX];
	size_t nerrors;
	size_t more;		/* errors not kept */
};

/*
 * Note an error at a line (cause is taken, and may be NULL), keeping the
 * CONFIG_ERRORS_MAX first by line. Returns 1 if it was kept.
 */
static int
config_load_error(struct config_load_parse *p, int line, char *cause)
{
	size_t i, last = 0;

	if (p->nerrors < CONFIG_ERRORS_MAX)
		last = p->nerrors++;
	else {
		for (i = 1; i < p->nerrors; i++) {
			if (p->errors[i].line > p->errors[last].line)
				last = i;
		}
		p->more++;
		if (line >= p->errors[last].line) {
			free(cause);
			return (0);
		}
		free(p->errors[last].cause);
	}
	p->errors[last].line = line;
	p->errors[last].cause = cause;
	return (1);
}

/*
 * Read a line of f into buf (size bytes): at most size - 2 bytes of it and
 * its newline, NUL-terminated; a longer one is read to its end, and left
 * out. Returns how it was read, or -1 at the end of f.
 */
static int
config_load_line(FILE *f, char *buf, int size)
{
	int c, n = 0, how = CONFIG_LINE_OK, any = 0;

	while ((c = getc(f)) != EOF) {
		any = 1;
		if (c == '\n')
			break;
		if (c == '\0')
			how = CONFIG_LINE_NUL;
		if (n < size - 2)
			buf[n++] = (char)c;
		else if (how == CONFIG_LINE_OK)
			how = CONFIG_LINE_LONG;
	}
	if (!any)
		return (-1);
	buf[n++] = '\n';
	buf[n] = '\0';
	return (how);
}

/*
 * The name of a [section] line, its length in *len, or NULL. As libinih
 * reads one, but for a comment inside the brackets.
 */
static char *
config_load_section_name(char *line, size_t *len)
{
	char *p = line + strspn(line, " \t\r\v\f"), *end;

	if (*p != '[' || (end = strchr(p, ']')) == NULL)
		return (NULL);
	*len = (size_t)(end - p - 1);
	return (p + 1);
}

/*
 * libinih's reader: a line, counted, and the [section] it is in noted. A
 * line that is too long or has a NUL byte (said by config_load_sections)
 * is read as a comment, as are the lines a parse could not take.
 */
static char *
config_load_reader(char *str, int num, void *arg)
{
	struct config_load_parse *p = arg;
	size_t i, len;
	char *name;
	int how;

	if ((how = config_load_line(p->f, str, num)) < 0)
		return (NULL);
	p->line++;
	if (how != CONFIG_LINE_OK)
		strcpy(str, ";\n");
	for (i = 0; i < p->nunparsed; i++) {
		if (p->unparsed[i] == p->line)
			strcpy(str, ";\n");
	}
	if ((name = config_load_section_name(str, &len)) != NULL)
		snprintf(p->section, sizeof p->section, "%.*s", (int)len, name);
	return (str);
}

/*
 * libinih's handler: one key, set (the first parse only). Returns 1: an
 * error is noted with its line, and the parse goes on, so that what
 * libinih returns is only ever a line it could not parse. The keys of a
 * section that is not one say so once (a plugin id that is not safe is
 * said at its section's line, by config_load_sections).
 */
static int
config_load_handler(void *arg, const char *section, const char *name,
    const char *value)
{
	struct config_load_parse *p = arg;
	char *cause = NULL;

	if (!p->set)
		return (1);
	/* Cut by libinih: the reader's is the whole name. */
	if (strlen(section) == CONFIG_INI_SECTION_MAX &&
	    strncmp(p->section, section, CONFIG_INI_SECTION_MAX) == 0)
		section = p->section;
	if (!config_section_known(section)) {
		if (strncmp(section, "plugin.", 7) == 0 ||
		    strcmp(section, p->said) == 0)
			return (1);
		snprintf(p->said, sizeof p->said, "%s", section);
	} else
		p->said[0] = '\0';
	if (config_set(p->config, section, name, value, &cause) != 0)
		config_load_error(p, p->line, cause);
	return (1);
}

/* Free the errors noted. */
static void
config_load_free_errors(struct config_load_parse *p)
{
	size_t i;

	for (i = 0; i < p->nerrors; i++)
		free(p->errors[i].cause);
	p->nerrors = 0;
}

/* Order errors by line (a few: insertion). */
static void
config_load_sort(struct config_load_parse *p)
{
	struct config_load_error e;
	size_t i, j;

	for (i = 1; i < p->nerrors; i++) {
		e = p->errors[i];
		for (j = i; j > 0 && p->errors[j - 1].line > e.line; j--)
			p->errors[j] = p->errors[j - 1];
		p->errors[j] = e;
	}
}

/* Append a line "NAME" head why to b. */
static void
config_load_say(struct proto_buf *b, const char *name, const char *head,
    const char *why)
{
	if (b->len != 0)
		proto_buf_add(b, "\n", 1);
	proto_buf_add(b, name, strlen(name));
	proto_buf_add(b, head, strlen(head));
	proto_buf_add(b, why, strlen(why));
}

/*
 * Make *cause of the errors, one a line, "NAME:LINE: cause", in the
 * file's order. Frees the errors.
 */
static void
config_load_causes(struct config_load_parse *p, const char *name,
    char **cause)
{
	struct proto_buf b = { 0 };
	char head[64];
	size_t i;

	config_load_sort(p);
	for (i = 0; i < p->nerrors; i++) {
		snprintf(head, sizeof head, ":%d: ", p->errors[i].line);
		config_load_say(&b, name, head, p->errors[i].cause != NULL ?
		    p->errors[i].cause : "out of memory");
	}
	if (p->more != 0) {
		snprintf(head, sizeof head, ": more errors, not said (%zu at "
		    "least)", p->more);
		config_load_say(&b, name, head, "");
	}
	proto_buf_add(&b, "", 1);
	*cause = b.data;
	config_load_free_errors(p);
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
 * keys). Notes a section that is not a plugin id, a line longer than
 * CONFIG_LINE_MAX and one with a NUL byte (config_load_reader reads those
 * as comments).
 */
static void
config_load_sections(struct config_load_parse *lp)
{
	char line[INI_MAX_LINE], *p, *cause;
	size_t len;
	int n = 0, how;

	while ((how = config_load_line(lp->f, line, sizeof line)) >= 0) {
		n++;
		if (how != CONFIG_LINE_OK) {
			if (how == CONFIG_LINE_LONG)
				config_error(&cause, "a line longer than %d "
				    "bytes", CONFIG_LINE_MAX);
			else
				config_error(&cause, "a NUL byte in the line");
			config_load_error(lp, n, cause);
			continue;
		}
		p = line;
		/* A UTF-8 byte order mark, as libinih skips it. */
		if (n == 1 && strncmp(p, "\xEF\xBB\xBF", 3) == 0)
			p += 3;
		if ((p = config_load_section_name(p, &len)) == NULL)
			continue;
		p[len] = '\0';
		if (strncmp(p, "plugin.", 7) != 0)
			continue;
		if (!config_section_known(p)) {
			config_error(&cause, "[%s]: %s is not a safe plugin id",
			    p, p + 7);
			config_load_error(lp, n, cause);
			continue;
		}
		config_plugin_section(lp->config, p + 7);
	}
}

/*
 * Parse f from its start. Returns 0, the first line libinih could not
 * parse, or -1 (a read failed: errno) or -2 (out of memory).
 */
static int
config_load_parse(struct config_load_parse *p)
{
	int line;

	if (fseek(p->f, 0, SEEK_SET) != 0)
		return (-1);
	p->line = 0;
	line = ini_parse_stream(config_load_reader, p, config_load_handler, p);
	if (line >= 0 && ferror(p->f))
		return (-1);
	return (line);
}

/*
 * Read INI text from f (named name in errors) into config: the daemon's
 * file, or any stream (the fuzzer's). f is read more than once, so it
 * must be seekable. Returns 0, or -1 with an allocated *cause: every
 * error of the file (up to CONFIG_ERRORS_MAX), one a line, each naming
 * its line; or why the file could not be read.
 */
int
config_load_file(struct config *config, FILE *f, const char *name,
    char **cause)
{
	struct config_load_parse p = { .config = config, .f = f, .set = 1 };
	int line;

	/*
	 * A read that fails ends the loops as the end of the file would:
	 * ferror tells them apart, so that half a file is never taken whole.
	 */
	config_load_sections(&p);
	line = ferror(f) ? -1 : config_load_parse(&p);
	/*
	 * Each parse again reads the lines that could not be as comments,
	 * till none is left, or one is past the errors kept (as any after it).
	 */
	p.set = 0;
	while (line > 0 && p.nunparsed < CONFIG_ERRORS_MAX &&
	    config_load_error(&p, line, strdup("syntax error"))) {
		p.unparsed[p.nunparsed++] = line;
		line = config_load_parse(&p);
	}
	if (line < 0) {
		config_load_free_errors(&p);
		if (asprintf(cause, "%s: %s", name, line == -1 ?
		    strerror(errno) : "out of memory") < 0)
			*cause = NULL;
		return (-1);
	}
	if (p.nerrors == 0)
		return (0);
	config_load_causes(&p, name, cause);
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
	else if (st.st_size > CONFIG_FILE_MAX)
		why = "larger than 4 MiB";
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


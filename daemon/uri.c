/*
 * Remote URIs ("forward = URI, ..."): what a collector's address looks like
 * and how a list of them is read. The settings check lists with it; the
 * remotes open what it parses.
 *
 *   syslog://HOST[:PORT]   syslog+tls://HOST[:PORT]   syslog+unix:/PATH
 *   fluent://HOST[:PORT]   fluent+tls://HOST[:PORT]   fluent+unix:/PATH
 *
 * HOST may be [IPv6]. Ports default to 514 (syslog), 6514 (syslog over
 * TLS) and 24224 (Fluent).
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "relogd.h"

/* Parse the host and port after a scheme into u. Returns 0 or -1. */
static int
uri_parse_host(const char *rest, const char *port, struct uri *u)
{
	const char *colon, *end;
	unsigned long n;
	size_t hlen;
	char *e;

	if (rest[0] == '[') {
		if ((end = strchr(rest, ']')) == NULL)
			return (-1);
		rest++;
		hlen = (size_t)(end - rest);
		colon = end[1] == ':' ? end + 1 : NULL;
		if (end[1] != '\0' && colon == NULL)
			return (-1);
	} else {
		colon = strrchr(rest, ':');
		hlen = colon != NULL ? (size_t)(colon - rest) : strlen(rest);
	}
	if (hlen == 0 || hlen > 253 || strcspn(rest, "/?#@ ") < hlen)
		return (-1);
	if (colon != NULL) {
		errno = 0;
		n = strtoul(colon + 1, &e, 10);
		if (colon[1] == '\0' || *e != '\0' || errno != 0 || n == 0 ||
		    n > 65535)
			return (-1);
	}
	u->host = strndup(rest, hlen);
	u->port = strdup(colon != NULL ? colon + 1 : port);
	if (u->host == NULL || u->port == NULL)
		fatal("strdup");
	return (0);
}

/* Parse a URI into u (free it with uri_free). Returns 0, or -1 with *cause. */
int
uri_parse(const char *uri, struct uri *u, char **cause)
{
	static const struct {
		const char *scheme;
		enum uri_proto proto;
		int tls, unix_path;
		const char *port;
	} schemes[] = {
		{ "syslog://", URI_SYSLOG, 0, 0, "514" },
		{ "syslog+tls://", URI_SYSLOG, 1, 0, "6514" },
		{ "syslog+unix:", URI_SYSLOG, 0, 1, NULL },
		{ "fluent://", URI_FLUENT, 0, 0, "24224" },
		{ "fluent+tls://", URI_FLUENT, 1, 0, "24224" },
		{ "fluent+unix:", URI_FLUENT, 0, 1, NULL },
	};
	const char *rest = NULL;
	size_t i;

	memset(u, 0, sizeof *u);
	for (i = 0; i < sizeof schemes / sizeof schemes[0]; i++) {
		if (strncmp(uri, schemes[i].scheme,
		    strlen(schemes[i].scheme)) == 0) {
			rest = uri + strlen(schemes[i].scheme);
			break;
		}
	}
	if (rest == NULL)
		goto bad;
	u->proto = schemes[i].proto;
	u->tls = schemes[i].tls;
	if (schemes[i].unix_path) {
		if (rest[0] != '/' || strlen(rest) >=
		    sizeof ((struct sockaddr_un *)NULL)->sun_path)
			goto bad;
		if ((u->path = strdup(rest)) == NULL)
			fatal("strdup");
		return (0);
	}
	if (uri_parse_host(rest, schemes[i].port, u) == 0)
		return (0);
bad:
	uri_free(u);
	if (asprintf(cause, "forward: bad URI \"%s\" (syslog://HOST:PORT, "
	    "syslog+tls://, fluent://, fluent+tls://, or syslog+unix:/PATH, "
	    "fluent+unix:/PATH)", uri) < 0)
		*cause = NULL;
	return (-1);
}

/* Free what uri_parse allocated. */
void
uri_free(struct uri *u)
{
	free(u->host);
	free(u->port);
	free(u->path);
	memset(u, 0, sizeof *u);
}

/*
 * Call fn for each URI of a list (separated by commas or spaces; "none" is
 * none). Stops at fn's first non-zero, which it returns.
 */
int
uri_list_foreach(const char *list, int (*fn)(const char *, void *),
    void *arg)
{
	char uri[RELOGD_REMOTE_LIST_MAX];
	const char *p = list;
	size_t n;
	int ret;

	for (;;) {
		p += strspn(p, ", \t");
		if (*p == '\0')
			return (0);
		n = strcspn(p, ", \t");
		if (n >= sizeof uri)
			n = sizeof uri - 1;
		memcpy(uri, p, n);
		uri[n] = '\0';
		p += n;
		if (strcmp(uri, "none") != 0 && (ret = fn(uri, arg)) != 0)
			return (ret);
	}
}

/* What checking a list carries. */
struct uri_check {
	char **cause;
	size_t n;
};

/* Check one URI of a list, and that the list is not too long. */
static int
uri_check_one(const char *uri, void *arg)
{
	struct uri_check *check = arg;
	struct uri u;

	if (uri_parse(uri, &u, check->cause) != 0)
		return (-1);
	uri_free(&u);
	if (++check->n > RELOGD_REMOTE_MAX) {
		if (asprintf(check->cause, "forward: at most %d sinks",
		    RELOGD_REMOTE_MAX) < 0)
			*check->cause = NULL;
		return (-1);
	}
	return (0);
}

/* Is a list of URIs well formed? Returns 0, or -1 with *cause. */
int
uri_list_check(const char *list, char **cause)
{
	struct uri_check check = { cause, 0 };

	return (uri_list_foreach(list, uri_check_one, &check));
}

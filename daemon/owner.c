/*
 * Who may write into a plugin. A plugin is owned when its section sets a
 * token (token, token_file) or uids, or when an admin granted it a token
 * (relogctl grant); then only a connection that proved it, by that token
 * in its hello or by its peer's uid, writes into it.
 *
 * Granted tokens are kept as SHA-256 hashes in state_dir/grants (mode
 * 0600), "<plugin> <hex>" a line, so that they last across restarts; the
 * token itself is only ever shown to the admin who asked for it.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "relogd.h"

#define OWNER_GRANTS "grants"
#define OWNER_GRANTS_MAX 4096

/* A granted token: the plugin, and the hash of its token. */
struct owner_grant {
	char id[RELOG_ID_MAX + 1];
	unsigned char hash[SHA256_DIGEST_LENGTH];
};

static struct owner_grant *owner_grants;
static size_t owner_ngrants;

/* The grant of a plugin, or NULL. */
static struct owner_grant *
owner_find(const char *id)
{
	size_t i;

	for (i = 0; i < owner_ngrants; i++) {
		if (strcmp(owner_grants[i].id, id) == 0)
			return (&owner_grants[i]);
	}
	return (NULL);
}

/* Read a hex digit's value, or -1. */
static int
owner_hex(char c)
{
	if (c >= '0' && c <= '9')
		return (c - '0');
	if (c >= 'a' && c <= 'f')
		return (c - 'a' + 10);
	return (-1);
}

/* Take one line of the grants file; a bad one is skipped. */
static void
owner_take(const char *line)
{
	struct owner_grant g;
	const char *sp = strchr(line, ' ');
	size_t i;
	int hi, lo;

	if (sp == NULL || !proto_id_valid(line, (size_t)(sp - line)) ||
	    strlen(sp + 1) < 2 * SHA256_DIGEST_LENGTH ||
	    owner_ngrants == OWNER_GRANTS_MAX)
		return;
	memset(&g, 0, sizeof g);
	memcpy(g.id, line, (size_t)(sp - line));
	for (i = 0; i < SHA256_DIGEST_LENGTH; i++) {
		hi = owner_hex(sp[1 + 2 * i]);
		lo = owner_hex(sp[2 + 2 * i]);
		if (hi < 0 || lo < 0)
			return;
		g.hash[i] = (unsigned char)(hi << 4 | lo);
	}
	if (owner_find(g.id) != NULL)
		return;
	owner_grants[owner_ngrants++] = g;
}

/*
 * Read the granted tokens (at start). A file that cannot be read is said:
 * its plugins are not owned by grants until they are granted again.
 */
void
owner_load(void)
{
	char line[256];
	struct stat st;
	FILE *f = NULL;
	int fd;

	owner_grants = calloc(OWNER_GRANTS_MAX, sizeof *owner_grants);
	if (owner_grants == NULL)
		fatal("calloc");
	fd = proto_openat(relogd_state_dir_fd, OWNER_GRANTS, O_RDONLY, 0, &st);
	/* Grants prove identities: a file another could write is none. */
	if (fd >= 0 && !relogd_alone(&st)) {
		close(fd);
		fd = -1;
		errno = EPERM;
	}
	if (fd < 0 || (f = fdopen(fd, "r")) == NULL) {
		if (errno != ENOENT)
			log_error("%s/%s: %s: granted tokens are not known",
			    relogd_config.state_dir, OWNER_GRANTS,
			    relogd_dir_error_text(errno));
		if (fd >= 0)
			close(fd);
		return;
	}
	while (fgets(line, sizeof line, f) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		owner_take(line);
	}
	fclose(f);
}

/*
 * Write the grants file anew (a new file renamed over the old: a kill
 * leaves one or the other). Returns 0, or -1 (errno set).
 */
static int
owner_save(void)
{
	char tmp[] = OWNER_GRANTS ".new";
	size_t i, j;
	FILE *f;
	int fd, error;

	fd = relogd_create(relogd_state_dir_fd, tmp, O_WRONLY);
	if (fd < 0 || (f = fdopen(fd, "w")) == NULL) {
		error = errno;
		if (fd >= 0)
			close(fd);
		errno = error;
		return (-1);
	}
	for (i = 0; i < owner_ngrants; i++) {
		fprintf(f, "%s ", owner_grants[i].id);
		for (j = 0; j < SHA256_DIGEST_LENGTH; j++)
			fprintf(f, "%02x", owner_grants[i].hash[j]);
		fputc('\n', f);
	}
	if (fflush(f) != 0 || fsync(fileno(f)) != 0) {
		error = errno;
		fclose(f);
		errno = error;
		return (-1);
	}
	if (fclose(f) != 0)
		return (-1);
	return (renameat(relogd_state_dir_fd, tmp, relogd_state_dir_fd,
	    OWNER_GRANTS));
}

/*
 * Grant a plugin a fresh token (in place of any before), written into
 * token (64 hex digits and a NUL). Returns 0, or -1 with errno.
 */
int
owner_grant(const char *id, char token[OWNER_TOKEN_LEN + 1])
{
	unsigned char raw[OWNER_TOKEN_LEN / 2];
	struct owner_grant *g = owner_find(id), saved;
	size_t i;
	int error;

	if (g == NULL && owner_ngrants == OWNER_GRANTS_MAX) {
		errno = ENOSPC;
		return (-1);
	}
	if (RAND_bytes(raw, sizeof raw) != 1) {
		errno = EIO;
		return (-1);
	}
	for (i = 0; i < sizeof raw; i++)
		snprintf(token + 2 * i, 3, "%02x", raw[i]);
	explicit_bzero(raw, sizeof raw);
	if (g == NULL) {
		g = &owner_grants[owner_ngrants++];
		memset(g, 0, sizeof *g);
		snprintf(g->id, sizeof g->id, "%s", id);
		memset(&saved, 0, sizeof saved);
	} else
		saved = *g;
	SHA256((const unsigned char *)token, OWNER_TOKEN_LEN, g->hash);
	if (owner_save() != 0) {
		error = errno;
		if (saved.id[0] == '\0')
			owner_ngrants--;
		else
			*g = saved;
		explicit_bzero(token, OWNER_TOKEN_LEN);
		errno = error;
		return (-1);
	}
	return (0);
}

/* End a plugin's grant. Returns 1 if it had one, 0 if not, -1 (errno). */
int
owner_revoke(const char *id)
{
	struct owner_grant *g = owner_find(id), saved;
	size_t at;

	if (g == NULL)
		return (0);
	saved = *g;
	at = (size_t)(g - owner_grants);
	owner_grants[at] = owner_grants[--owner_ngrants];
	if (owner_save() != 0) {
		owner_grants[owner_ngrants++] = owner_grants[at];
		owner_grants[at] = saved;
		return (-1);
	}
	return (1);
}

/* Is a plugin owned: a token or uids in its settings, or a grant? */
int
owner_owned(const char *id, const struct plugin_settings *set)
{
	return (set->token[0] != '\0' || set->uids.n != 0 ||
	    owner_find(id) != NULL);
}

/* The id of the i-th granted plugin, or NULL past the last. */
const char *
owner_granted(size_t i)
{
	return (i < owner_ngrants ? owner_grants[i].id : NULL);
}

/* Is uid one of a plugin's? */
int
owner_uid(const struct plugin_settings *set, uid_t uid)
{
	size_t i;

	for (i = 0; i < set->uids.n; i++) {
		if (set->uids.uids[i] == uid)
			return (1);
	}
	return (0);
}

/* Is uid an admin's: root, relogd's own, or in admin_uids? */
int
owner_admin(uid_t uid)
{
	return (uid == 0 || uid == geteuid() ||
	    config_uid_listed(&relogd_config.admin_uids, uid));
}

/* Does a [plugin.NAME] section give uid a plugin (its uids)? */
int
owner_uid_any(uid_t uid)
{
	const struct plugin_config *pc;

	for (pc = relogd_config.plugins; pc != NULL; pc = pc->next) {
		if (strcmp(pc->name, "*") != 0 && owner_uid(&pc->set, uid))
			return (1);
	}
	return (0);
}

/*
 * Does a token prove a plugin: its configured token, or its granted one?
 * In constant time for the configured token's length.
 */
int
owner_token(const char *id, const struct plugin_settings *set,
    struct proto_str token)
{
	unsigned char hash[SHA256_DIGEST_LENGTH];
	struct owner_grant *g;
	size_t len = strlen(set->token), i;
	unsigned char diff;

	if (token.ptr == NULL || token.len == 0)
		return (0);
	if (len != 0) {
		diff = token.len != len;
		for (i = 0; i < len; i++)
			diff |= (unsigned char)set->token[i] ^
			    (i < token.len ? (unsigned char)token.ptr[i] : 0);
		if (diff == 0)
			return (1);
	}
	if ((g = owner_find(id)) == NULL)
		return (0);
	SHA256((const unsigned char *)token.ptr, token.len, hash);
	return (CRYPTO_memcmp(hash, g->hash, sizeof hash) == 0);
}

/* Free the grants (at exit). */
void
owner_free(void)
{
	if (owner_grants != NULL)
		explicit_bzero(owner_grants, OWNER_GRANTS_MAX *
		    sizeof *owner_grants);
	free(owner_grants);
	owner_grants = NULL;
	owner_ngrants = 0;
}

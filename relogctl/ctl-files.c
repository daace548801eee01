/*
 * show's files: relogd's log folder and which plugin each file is of.
 *
 * A plugin's file is "<id>.log" in the folder, or what its [plugin.ID]
 * section's "file =" names in relogd's config; its rotations are
 * "<file>.1" (the newest) to "<file>.N", as relogd rotates them, and
 * "<file>.N.gz", as logrotate compresses them. Plugin ids may hold dots:
 * "builtin.plugin-management.log" is builtin.plugin-management's, and
 * "x.log.3" x's third rotation. A plugin's files are read oldest first.
 *
 * Only regular files of an owner trusted are taken: the folder's (relogd's
 * user: systemd's LogsDirectory= makes it so), root, or the user running
 * relogctl. A file another user put there, in a folder it may write to,
 * would read as a plugin's records. Such a folder is said: that user could
 * still rename or remove relogd's own files.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ini.h>

#include "relogctl.h"

/* What relogctl takes from relogd's config. */
struct ctl_files_ini {
	char *log_dir;
	struct ctl_log *maps;	/* [plugin.ID] file = NAME: ID, NAME */
	size_t nmaps;
	size_t cut[3];		/* max_message, max_exception,
				   max_logger_name */
};

/* The cuts of a record's texts, in ctl_files_ini's order. */
static const char *const ctl_files_cuts[3] = {
	"max_message", "max_exception", "max_logger_name"
};

/* One file found: whose, which rotation. */
struct ctl_files_entry {
	char plugin[RELOG_ID_MAX + 1];
	char *base;
	unsigned long rotation;	/* 0: the file itself */
	int gz;
	char *path;
};

/* libinih's handler: log_dir, and every plugin's file setting. */
static int
ctl_files_ini_key(void *arg, const char *section, const char *name,
    const char *value)
{
	struct ctl_files_ini *c = arg;
	struct ctl_log *m;
	unsigned long long n;
	char *end;
	size_t i;

	for (i = 0; i < 3 && strcmp(section, "relogd") == 0; i++) {
		if (strcmp(name, ctl_files_cuts[i]) != 0)
			continue;
		errno = 0;
		n = strtoull(value, &end, 10);
		/* relogd refuses what is no number, or too large. */
		if (errno == 0 && end != value && *end == '\0' &&
		    n <= RELOG_FRAME_MAX_LIMIT)
			c->cut[i] = (size_t)n;
		return (1);
	}
	if (strcmp(section, "relogd") == 0 && strcmp(name, "log_dir") == 0) {
		free(c->log_dir);
		if ((c->log_dir = strdup(value)) == NULL)
			ctl_fail(CTL_FAILED, "out of memory");
	} else if (strncmp(section, "plugin.", 7) == 0 &&
	    strcmp(name, "file") == 0 &&
	    proto_id_valid(section + 7, strlen(section + 7)) &&
	    proto_id_valid(value, strlen(value))) {
		m = reallocarray(c->maps, c->nmaps + 1, sizeof *m);
		if (m == NULL)
			ctl_fail(CTL_FAILED, "out of memory");
		c->maps = m;
		m = &c->maps[c->nmaps++];
		memset(m, 0, sizeof *m);
		snprintf(m->plugin, sizeof m->plugin, "%s", section + 7);
		if ((m->base = strdup(value)) == NULL)
			ctl_fail(CTL_FAILED, "out of memory");
	}
	return (1);
}

/*
 * Read relogd's config at path: its log_dir (returned, allocated; NULL if
 * it sets none), its plugins' file settings into *maps (free them with
 * ctl_files_free), and the longest record its cuts let relogd write into
 * *record_max. It is relogd's to check: what relogctl does not read is
 * ignored. Fails if the file cannot be read.
 */
char *
ctl_files_config(const char *path, struct ctl_log **maps, size_t *nmaps,
    size_t *record_max)
{
	struct ctl_files_ini c = { NULL, NULL, 0, { PROTO_MESSAGE_CUT_DEFAULT,
	    PROTO_EXCEPTION_CUT_DEFAULT, PROTO_LOGGER_CUT_DEFAULT } };
	struct stat st;
	FILE *f;
	int ret;

	/* A folder opens, and reads as an empty file would. */
	if ((f = fopen(path, "re")) == NULL || fstat(fileno(f), &st) != 0)
		ctl_fail(errno == EACCES ? CTL_DENIED : CTL_FAILED,
		    "cannot read %s: %s", path, strerror(errno));
	if (S_ISDIR(st.st_mode))
		ctl_fail(CTL_FAILED, "cannot read %s: %s", path,
		    strerror(EISDIR));
	ret = ini_parse_file(f, ctl_files_ini_key, &c);
	if (ret == 0 && ferror(f))
		ret = -1;
	if (ret < 0)
		ctl_fail(CTL_FAILED, "cannot read %s: %s", path, ret == -1 ?
		    "a read failed" : "out of memory");
	fclose(f);
	*maps = c.maps;
	*nmaps = c.nmaps;
	*record_max = PROTO_LINE_MAX(c.cut[0], c.cut[1], c.cut[2]);
	return (c.log_dir);
}

/*
 * Split a file name into base and rotation: "x.log.3.gz" is x.log, 3,
 * compressed. Returns 0, or -1 if it cannot be a log file of relogd's.
 */
static int
ctl_files_split(const char *name, struct ctl_files_entry *e)
{
	size_t len = strlen(name), digits;
	char *end;

	if (name[0] == '.' || (e->base = strdup(name)) == NULL)
		return (-1);
	if (len > 3 && strcmp(e->base + len - 3, ".gz") == 0) {
		e->gz = 1;
		e->base[len -= 3] = '\0';
	}
	end = strrchr(e->base, '.');
	digits = end != NULL ? strspn(end + 1, "0123456789") : 0;
	if (end != NULL && digits > 0 && digits < 7 &&
	    end[1 + digits] == '\0' && end[1] != '0') {
		e->rotation = strtoul(end + 1, NULL, 10);
		*end = '\0';
	} else if (e->gz) {
		free(e->base);
		return (-1);
	}
	return (0);
}

/*
 * Whose is a file's base name: the plugin whose file setting names it,
 * else <id> of "<id>.log". Returns 0 with e->plugin, or -1 if nobody's.
 */
static int
ctl_files_owner(struct ctl_files_entry *e, const struct ctl_log *maps,
    size_t nmaps)
{
	size_t i = nmaps, len = strlen(e->base);

	/* The last setting wins, as it does for relogd. */
	while (i-- > 0) {
		if (strcmp(maps[i].base, e->base) == 0) {
			memcpy(e->plugin, maps[i].plugin, sizeof e->plugin);
			return (0);
		}
	}
	if (len <= 4 || len - 4 > RELOG_ID_MAX ||
	    strcmp(e->base + len - 4, ".log") != 0 ||
	    !proto_id_valid(e->base, len - 4))
		return (-1);
	memcpy(e->plugin, e->base, len - 4);
	e->plugin[len - 4] = '\0';
	return (0);
}

/* Is a plugin one of those asked for (none: all)? */
static int
ctl_files_wanted(const char *plugin, char *const *plugins, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (strcmp(plugins[i], plugin) == 0)
			return (1);
	}
	return (n == 0);
}

/* qsort: by plugin, then base name, then the oldest rotation first. */
static int
ctl_files_cmp(const void *a, const void *b)
{
	const struct ctl_files_entry *x = a, *y = b;
	int c;

	if ((c = strcmp(x->plugin, y->plugin)) != 0 ||
	    (c = strcmp(x->base, y->base)) != 0)
		return (c);
	if (x->rotation != y->rotation)
		return (x->rotation > y->rotation ? -1 : 1);
	return (x->gz - y->gz);
}

/*
 * Take one folder entry, if it is a log file wanted, of an owner trusted
 * (ctl_files_trusted); else free it (one of another owner is said).
 */
static int
ctl_files_take(const char *dir, uid_t owner, const char *name,
    const struct ctl_log *maps, size_t nmaps, char *const *plugins,
    size_t nplugins, struct ctl_files_entry *e)
{
	struct stat st;
	size_t i;

	memset(e, 0, sizeof *e);
	/* A file setting may end in .digits itself: "app.2026" is app's. */
	for (i = 0; i < nmaps && strcmp(maps[i].base, name) != 0; i++)
		;
	if (i < nmaps) {
		if ((e->base = strdup(name)) == NULL)
			return (0);
	} else if (ctl_files_split(name, e) != 0)
		return (0);
	if (ctl_files_owner(e, maps, nmaps) != 0 ||
	    !ctl_files_wanted(e->plugin, plugins, nplugins) ||
	    asprintf(&e->path, "%s/%s", dir, name) < 0) {
		free(e->base);
		return (0);
	}
	if (lstat(e->path, &st) == 0 && S_ISREG(st.st_mode)) {
		if (ctl_files_trusted(st.st_uid, owner))
			return (1);
		ctl_files_foreign(e->path, st.st_uid, owner);
	}
	free(e->base);
	free(e->path);
	return (0);
}

/*
 * May a log file of uid be read, in a folder of owner: is it the folder's
 * owner's, root's or ours? No other user can make a file theirs.
 */
int
ctl_files_trusted(uid_t uid, uid_t owner)
{
	return (uid == owner || uid == 0 || uid == geteuid());
}

/* Say that a file is skipped: its owner is not trusted. */
void
ctl_files_foreign(const char *path, uid_t uid, uid_t owner)
{
	fprintf(stderr, "relogctl: %s not read: its owner (uid %lu) is "
	    "neither the log folder's (uid %lu) nor root nor you, and another "
	    "user's file could be forged\n", path, (unsigned long)uid,
	    (unsigned long)owner);
}

/* Make the logs from sorted entries: one per base name, oldest first. */
static void
ctl_files_group(struct ctl_files_entry *es, size_t n, uid_t owner,
    struct ctl_log **logs, size_t *nlogs)
{
	struct ctl_log *l = NULL;
	size_t i, j;

	*logs = calloc(n != 0 ? n : 1, sizeof **logs);
	if (*logs == NULL)
		ctl_fail(CTL_FAILED, "out of memory");
	*nlogs = 0;
	for (i = 0; i < n; i++) {
		if (l == NULL || strcmp(l->base, es[i].base) != 0 ||
		    strcmp(l->plugin, es[i].plugin) != 0) {
			l = &(*logs)[(*nlogs)++];
			l->owner = owner;
			snprintf(l->plugin, sizeof l->plugin, "%s",
			    es[i].plugin);
			l->base = es[i].base;
			for (j = i; j < n && strcmp(es[j].base, l->base) == 0 &&
			    strcmp(es[j].plugin, l->plugin) == 0; j++)
				;
			l->paths = calloc(j - i, sizeof *l->paths);
			if (l->paths == NULL)
				ctl_fail(CTL_FAILED, "out of memory");
		} else
			free(es[i].base);
		/* The same rotation twice (logrotate compressing it). */
		if (i > 0 && l->npaths > 0 &&
		    es[i - 1].rotation == es[i].rotation) {
			free(es[i].path);
			continue;
		}
		l->paths[l->npaths++] = es[i].path;
	}
}

/*
 * Find the log files of the plugins asked for (none: all) in dir, the
 * file settings in maps. Returns 0 with *logs (free them with
 * ctl_files_free), sorted by plugin, or -errno if dir cannot be read.
 */
int
ctl_files_find(const char *dir, const struct ctl_log *maps, size_t nmaps,
    char *const *plugins, size_t nplugins, struct ctl_log **logs,
    size_t *nlogs)
{
	struct ctl_files_entry *es = NULL, *grown;
	struct dirent *de;
	struct stat st;
	size_t n = 0, cap = 0;
	DIR *d;
	int error;

	if ((d = opendir(dir)) == NULL)
		return (-errno);
	if (fstat(dirfd(d), &st) != 0) {
		error = errno;
		closedir(d);
		return (-error);
	}
	if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0 &&
	    (st.st_mode & S_ISVTX) == 0)
		fprintf(stderr, "relogctl: warning: others may write to the log "
		    "folder %s: they may have renamed or removed its files\n",
		    dir);
	while ((de = readdir(d)) != NULL) {
		if (n == cap) {
			cap = cap != 0 ? cap * 2 : 64;
			if ((grown = reallocarray(es, cap, sizeof *es)) == NULL)
				ctl_fail(CTL_FAILED, "out of memory");
			es = grown;
		}
		n += (size_t)ctl_files_take(dir, st.st_uid, de->d_name, maps,
		    nmaps, plugins, nplugins, &es[n]);
	}
	closedir(d);
	qsort(es, n, sizeof *es, ctl_files_cmp);
	ctl_files_group(es, n, st.st_uid, logs, nlogs);
	free(es);
	return (0);
}

/* Free logs (or maps). */
void
ctl_files_free(struct ctl_log *logs, size_t n)
{
	size_t i, j;

	for (i = 0; i < n; i++) {
		for (j = 0; j < logs[i].npaths; j++)
			free(logs[i].paths[j]);
		free(logs[i].paths);
		free(logs[i].base);
	}
	free(logs);
}

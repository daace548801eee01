/*
 * relogctl show: history straight from relogd's log files, so it works
 * with relogd down. The folder is -D's, else log_dir in relogd's config
 * (--config FILE, else /etc/relogd/relogd.conf if it is there), else
 * relogd's default. Every plugin's files (ctl-files.c), rotated ones
 * included, merged in time order (ctl-reader.c), filtered by plugin,
 * level, time and regex, printed by ctl-out.c.
 *
 * -n N keeps only the last N records printed, in a ring, while the
 * history streams by: memory for N records, never for the history.
 */
#include <sys/resource.h>

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "relogctl.h"

#define CTL_SHOW_CONFIG_DEFAULT "/etc/relogd/relogd.conf"
#define CTL_SHOW_LOG_DIR_DEFAULT "/var/log/relogd"

/* What relogctl show was asked. */
struct ctl_show {
	char **plugins;
	size_t nplugins;
	struct ctl_filter filter;
	regex_t re;
	long long last;		/* -n: the last N records; -1: all */
	enum ctl_format format;
	const char *dir;
	const char *config;
	size_t record_max;	/* --max-record; 0: the config's */
	int pager;
};

/* The last N records printed, formatted, oldest at head once full. */
struct ctl_show_ring {
	struct proto_buf *slots;
	size_t cap;		/* slots allocated, up to N */
	unsigned long long count;	/* records put */
};

/* -o FORMAT */
static enum ctl_format
ctl_show_format(const char *s)
{
	if (strcmp(s, "short") == 0)
		return (CTL_FORMAT_SHORT);
	if (strcmp(s, "json") == 0)
		return (CTL_FORMAT_JSON);
	if (strcmp(s, "cat") == 0)
		return (CTL_FORMAT_CAT);
	ctl_usage_error("show", "-o %s: not short, json or cat", s);
}

/* --since and --until: a time, else a usage error. */
static int64_t
ctl_show_time(const char *opt, const char *s, int64_t now)
{
	int64_t ms;

	if (ctl_time_parse(s, now, &ms) != 0)
		ctl_usage_error("show", "%s %s: not a time (2026-11-28, "
		    "2026-11-28T05:08:39Z, \"1h ago\", today, yesterday, ...)",
		    opt, s);
	return (ms);
}

/* -p PLUGIN, once more. */
static void
ctl_show_plugin(struct ctl_show *s, char *id)
{
	char **grown;

	if (!proto_id_valid(id, strlen(id)))
		ctl_usage_error("show", "-p %s: not a plugin id", id);
	grown = reallocarray(s->plugins, s->nplugins + 1, sizeof *grown);
	if (grown == NULL)
		ctl_fail(CTL_FAILED, "out of memory");
	s->plugins = grown;
	s->plugins[s->nplugins++] = id;
}

/* -g REGEX: compiled, else a usage error that says why. */
static void
ctl_show_regex(struct ctl_show *s, const char *pattern)
{
	char why[256];
	int ret;

	ret = regcomp(&s->re, pattern, REG_EXTENDED | REG_NOSUB | REG_NEWLINE);
	if (ret != 0) {
		regerror(ret, &s->re, why, sizeof why);
		ctl_usage_error("show", "-g %s: %s", pattern, why);
	}
	s->filter.regex = &s->re;
}

/* Read show's options into s. */
static void
ctl_show_options(int argc, char **argv, struct ctl_show *s)
{
	static const struct option opts[] = {
		{ "since", required_argument, NULL, 'S' },
		{ "until", required_argument, NULL, 'U' },
		{ "config", required_argument, NULL, 'C' },
		{ "no-pager", no_argument, NULL, 'P' },
		{ "max-record", required_argument, NULL, 'M' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const size_t most = PROTO_LINE_MAX(RELOG_FRAME_MAX_LIMIT,
	    RELOG_FRAME_MAX_LIMIT, PROTO_LOGGER_CUT_MAX);
	int64_t now = ctl_time_now();
	unsigned long long n;
	char *end;
	int opt;

	while ((opt = getopt_long(argc, argv, "+:p:l:g:n:o:D:h", opts,
	    NULL)) != -1) {
		switch (opt) {
		case 'p': ctl_show_plugin(s, optarg); break;
		case 'l': s->filter.level = ctl_level("show", optarg); break;
		case 'S':
			s->filter.since = ctl_show_time("--since", optarg, now);
			break;
		case 'U':
			s->filter.until = ctl_show_time("--until", optarg, now);
			break;
		case 'g': ctl_show_regex(s, optarg); break;
		case 'n':
			errno = 0;
			s->last = strtoll(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' || errno != 0 ||
			    s->last < 0)
				ctl_usage_error("show", "-n %s: not a number "
				    "of records", optarg);
			break;
		case 'o': s->format = ctl_show_format(optarg); break;
		case 'D': s->dir = optarg; break;
		case 'C': s->config = optarg; break;
		case 'P': s->pager = 0; break;
		case 'M':
			errno = 0;
			n = strtoull(optarg, &end, 10);
			if (!isdigit((unsigned char)*optarg) || *end != '\0' ||
			    errno != 0 || n == 0 || n > most)
				ctl_usage_error("show", "--max-record %s: not a "
				    "number of bytes from 1 to %zu", optarg,
				    most);
			s->record_max = (size_t)n;
			break;
		case 'h': ctl_help("show"); break;
		default: ctl_bad_option("show", opt, argv);
		}
	}
	if (optind != argc)
		ctl_usage_error("show", "%s: show takes no arguments (a plugin "
		    "is -p PLUGIN)", argv[optind]);
}

/*
 * The log folder, and the plugins' file settings: -D, else relogd's
 * config's log_dir, else the default. Returns it, allocated.
 */
static char *
ctl_show_dir(struct ctl_show *s, struct ctl_log **maps, size_t *nmaps)
{
	const char *config = s->config;
	char *dir = NULL;

	*maps = NULL;
	*nmaps = 0;
	if (config == NULL && access(CTL_SHOW_CONFIG_DEFAULT, F_OK) == 0) {
		config = CTL_SHOW_CONFIG_DEFAULT;
		if (access(config, R_OK) != 0) {
			fprintf(stderr, "relogctl: cannot read %s: %s\n",
			    config, strerror(errno));
			config = NULL;
		}
	}
	if (config != NULL)
		dir = ctl_files_config(config, maps, nmaps,
		    &s->filter.record_max);
	if (s->record_max != 0)
		s->filter.record_max = s->record_max;
	if (s->dir != NULL || dir == NULL) {
		free(dir);
		dir = strdup(s->dir != NULL ? s->dir :
		    CTL_SHOW_LOG_DIR_DEFAULT);
		if (dir == NULL)
			ctl_fail(CTL_FAILED, "out of memory");
	}
	return (dir);
}

/* Say which plugins asked for have no log in the folder. */
static void
ctl_show_missing(const struct ctl_show *s, const char *dir,
    const struct ctl_log *logs, size_t nlogs)
{
	size_t i, j;

	for (i = 0; i < s->nplugins; i++) {
		for (j = 0; j < nlogs; j++) {
			if (strcmp(logs[j].plugin, s->plugins[i]) == 0)
				break;
		}
		if (j == nlogs)
			fprintf(stderr, "relogctl: %s: no log of plugin %s\n",
			    dir, s->plugins[i]);
	}
}

/* Put a record into the ring of the last N. */
static void
ctl_show_ring_put(struct ctl_show_ring *ring, unsigned long long n,
    const struct ctl_record *rec, enum ctl_format format)
{
	struct proto_buf *grown, *slot;
	size_t cap;

	if (ring->count < n && ring->count == ring->cap) {
		cap = ring->cap != 0 ? ring->cap * 2 : 64;
		if (cap > n)
			cap = (size_t)n;
		grown = reallocarray(ring->slots, cap, sizeof *grown);
		if (grown == NULL)
			ctl_fail(CTL_FAILED, "out of memory");
		memset(grown + ring->cap, 0, (cap - ring->cap) * sizeof *grown);
		ring->slots = grown;
		ring->cap = cap;
	}
	slot = &ring->slots[ring->count++ % n];
	slot->len = 0;
	ctl_out_record(slot, rec->plugin, &rec->line, format);
}

/* Print the ring's records, oldest first, and free it. */
static void
ctl_show_ring_print(struct ctl_show_ring *ring, unsigned long long n)
{
	unsigned long long i, first = ring->count > n ? ring->count - n : 0;
	int gone = 0;

	for (i = first; i < ring->count && !gone; i++)
		gone = ctl_out_write(&ring->slots[i % n], 0) != 0;
	for (i = 0; i < ring->cap; i++)
		proto_buf_free(&ring->slots[i]);
	free(ring->slots);
}

/* Print the merged records: all of them, or the last N. */
static void
ctl_show_print(const struct ctl_show *s, struct ctl_merge *m)
{
	struct ctl_show_ring ring = { NULL, 0, 0 };
	struct proto_buf b = { NULL, 0, 0 };
	const struct ctl_record *rec;

	if (s->last == 0)
		return;
	while ((rec = ctl_reader_next(m)) != NULL) {
		if (s->last >= 0) {
			ctl_show_ring_put(&ring, (unsigned long long)s->last,
			    rec, s->format);
			continue;
		}
		b.len = 0;
		ctl_out_record(&b, rec->plugin, &rec->line, s->format);
		if (ctl_out_write(&b, 0) != 0)
			break;
	}
	if (s->last > 0)
		ctl_show_ring_print(&ring, (unsigned long long)s->last);
	proto_buf_free(&b);
}

/* Use as many file descriptors as allowed: a plugin's file each. */
static void
ctl_show_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* relogctl show */
int
ctl_show_main(int argc, char **argv)
{
	struct ctl_show s = {
		.filter = { INT64_MIN, INT64_MIN, INT64_MAX, NULL,
		    PROTO_LINE_MAX_DEFAULT },
		.last = -1, .format = CTL_FORMAT_SHORT, .pager = 1,
	};
	struct ctl_log *maps, *logs;
	size_t nmaps, nlogs;
	struct ctl_merge *m;
	const char *where;
	uint64_t skipped;
	char *dir;
	int ret;

	ctl_show_options(argc, argv, &s);
	dir = ctl_show_dir(&s, &maps, &nmaps);
	ret = ctl_files_find(dir, maps, nmaps, s.plugins, s.nplugins, &logs,
	    &nlogs);
	if (ret != 0)
		ctl_fail(ret == -EACCES ? CTL_DENIED : CTL_FAILED,
		    "cannot read the log folder %s: %s", dir, strerror(-ret));
	ctl_show_missing(&s, dir, logs, nlogs);
	ctl_show_nofile();
	ctl_out_start(s.pager);
	m = ctl_reader_merge(logs, nlogs, &s.filter);
	ctl_show_print(&s, m);
	if ((skipped = ctl_reader_skipped(m, 0, &where)) == 1)
		fprintf(stderr, "relogctl: a line that is no record was "
		    "skipped, in %s/%s\n", dir, where);
	else if (skipped > 1)
		fprintf(stderr, "relogctl: %llu lines that are no records "
		    "were skipped, some in %s/%s\n",
		    (unsigned long long)skipped, dir, where);
	if ((skipped = ctl_reader_skipped(m, 1, &where)) == 1)
		fprintf(stderr, "relogctl: a record longer than relogd writes "
		    "(%zu bytes, by its max_message, max_exception and "
		    "max_logger_name) was skipped, in %s/%s (--max-record "
		    "shows longer ones)\n", s.filter.record_max, dir, where);
	else if (skipped > 1)
		fprintf(stderr, "relogctl: %llu records longer than relogd "
		    "writes (%zu bytes, by its max_message, max_exception and "
		    "max_logger_name) were skipped, some in %s/%s "
		    "(--max-record shows longer ones)\n",
		    (unsigned long long)skipped, s.filter.record_max, dir,
		    where);
	ctl_reader_free(m);
	ctl_files_free(logs, nlogs);
	ctl_files_free(maps, nmaps);
	free(s.plugins);
	if (s.filter.regex != NULL)
		regfree(&s.re);
	free(dir);
	return (ctl_out_end());
}

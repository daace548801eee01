/*
 * relogctl's private header: exit statuses, what every command shares,
 * and each file's prototypes.
 *
 *   relogctl.c    the command line: options, usage, the commands
 *   ctl-conn.c    relogd's socket: connect, hello, requests, replies
 *   ctl-msg.c     fields of relogd's replies, and msgpack as JSON
 *   ctl-stats.c   stats: a table, JSON, or Prometheus text
 *   ctl-tail.c    tail: the last records, then new ones, across restarts
 *   ctl-send.c    send and exec: records through librelog
 *   ctl-show.c    show: history from the log files, filtered
 *   ctl-files.c   show: the log files, of which plugin, in which order
 *   ctl-reader.c  show: a plugin's files as records; records merged
 *   ctl-time.c    show: --since and --until
 *   ctl-out.c     records printed: short, JSON or cat; colours, the pager
 *
 * Layers as relogd's: relogctl.c calls the commands, which call the
 * files below them; nothing calls back up by name.
 */
#ifndef RELOGCTL_H
#define RELOGCTL_H

#include <stddef.h>
#include <stdint.h>

#include "proto.h"

/* relog's version (relogd's RELOGD_VERSION). */
#define RELOGCTL_VERSION "0.1.0"

/* Exit statuses. */
#define CTL_OK 0
#define CTL_FAILED 1
#define CTL_USAGE 2
#define CTL_NOT_RUNNING 3
#define CTL_DENIED 4

/* How long relogd may take to answer. */
#define CTL_TIMEOUT_MS 10000

/* How records are printed (ctl-out.c). */
enum ctl_format {
	CTL_FORMAT_SHORT,	/* "plugin: " and the line relogd wrote */
	CTL_FORMAT_JSON,	/* an object per record */
	CTL_FORMAT_CAT,		/* the message and exception text only */
};

/* A record read back from a log file (ctl-reader.c). */
struct ctl_record {
	const char *plugin;
	struct proto_line line;	/* borrows from the reader */
};

/* A plugin's log: a file and its rotations, oldest first (ctl-files.c). */
struct ctl_log {
	char plugin[RELOG_ID_MAX + 1];
	char *base;		/* the file's name in the folder */
	char **paths;		/* base.N[.gz] ... base.1, base */
	size_t npaths;
	uid_t owner;		/* the folder's (ctl_files_trusted) */
};

/* Which records show wants (ctl-show.c fills it, ctl-reader.c asks). */
struct ctl_filter {
	int64_t level;		/* at least; INT64_MIN: any */
	int64_t since;		/* ms, at least; INT64_MIN: any */
	int64_t until;		/* ms, before; INT64_MAX: any */
	void *regex;		/* a regex_t, or NULL */
	size_t record_max;	/* longer is no record relogd wrote */
};

/* relogctl.c */
extern const char *ctl_socket;
__attribute__((noreturn, format(printf, 2, 3)))
void	ctl_fail(int, const char *, ...);
__attribute__((noreturn, format(printf, 2, 3)))
void	ctl_usage_error(const char *, const char *, ...);
void	ctl_bad_option(const char *, int, char **);
void	ctl_help(const char *);
int64_t	ctl_level(const char *, const char *);

/* ctl-stats.c */
int	ctl_stats_main(int, char **);
int	ctl_reopen_main(int, char **);

/* ctl-grant.c */
int	ctl_grant_main(int, char **);
int	ctl_revoke_main(int, char **);

/* ctl-tail.c */
int	ctl_tail_main(int, char **);

/* ctl-send.c */
int	ctl_send_main(int, char **);
int	ctl_exec_main(int, char **);

/* ctl-show.c */
int	ctl_show_main(int, char **);

/* ctl-files.c */
char   *ctl_files_config(const char *, struct ctl_log **, size_t *,
	    size_t *);
int	ctl_files_find(const char *, const struct ctl_log *, size_t,
	    char *const *, size_t, struct ctl_log **, size_t *);
void	ctl_files_free(struct ctl_log *, size_t);
int	ctl_files_trusted(uid_t, uid_t);
void	ctl_files_foreign(const char *, uid_t, uid_t);

/* ctl-reader.c */
struct ctl_merge *ctl_reader_merge(const struct ctl_log *, size_t,
	    const struct ctl_filter *);
const struct ctl_record *ctl_reader_next(struct ctl_merge *);
uint64_t ctl_reader_skipped(const struct ctl_merge *, int, const char **);
void	ctl_reader_free(struct ctl_merge *);

/* ctl-time.c */
int64_t	ctl_time_now(void);
int	ctl_time_parse(const char *, int64_t, int64_t *);

/* ctl-out.c */
void	ctl_out_start(int);
void	ctl_out_record(struct proto_buf *, const char *,
	    const struct proto_line *, enum ctl_format);
int	ctl_out_write(const struct proto_buf *, int);
int	ctl_out_end(void);

/* ctl-conn.c */
int	ctl_conn_open(void);
int	ctl_conn_open_as(const char *);
int	ctl_conn_try_open(int *, const char *);
void	ctl_conn_request(int, int64_t, const char *,
	    void (*)(msgpack_packer *, void *), void *);
int	ctl_conn_frame(int, struct proto_msg *, int);
void	ctl_conn_check(const struct proto_envelope *);
void	ctl_conn_call(int, int64_t, const char *,
	    void (*)(msgpack_packer *, void *), void *, struct proto_msg *);
void	ctl_conn_pack_empty(msgpack_packer *, void *);

/* ctl-msg.c */
struct proto_str ctl_msg_str(const msgpack_object *, const char *);
int	ctl_msg_bool(const msgpack_object *, const char *);
int64_t	ctl_msg_int(const msgpack_object *, const char *);
const msgpack_object *ctl_msg_array(const msgpack_object *, const char *);
void	ctl_msg_json(struct proto_buf *, const msgpack_object *);

#endif

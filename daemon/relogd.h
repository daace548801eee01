/* relogd's private header: structs, then prototypes by file. */
#ifndef RELOGD_H
#define RELOGD_H

#include <sys/queue.h>
#include <sys/types.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/bufferevent.h>
#include <event2/event.h>

#include "proto.h"

#define RELOGD_VERSION "0.1.0"
#define RELOGD_SOCKET_DEFAULT "/run/relogd/relogd.sock"
#define RELOGD_LOG_DIR_DEFAULT "/var/log/relogd"
#define RELOGD_STATE_DIR_DEFAULT "/var/lib/relogd"
#define RELOGD_HELLO_TIMEOUT_MS 10000
#define RELOGD_SOCKET_MODE 0660

/* syslog priorities, for the <N> prefix journald reads. */
#define RELOGD_PRI_CRIT 2
#define RELOGD_PRI_ERR 3
#define RELOGD_PRI_WARNING 4
#define RELOGD_PRI_NOTICE 5
#define RELOGD_PRI_INFO 6
#define RELOGD_PRI_DEBUG 7

/* Settings: defaults, then the config file, then the command line. */
struct config {
	char *socket_path;
	char *log_dir;
	char *state_dir;
	size_t max_frame;
	int to_stderr;		/* records also go to stderr */
	int verbose;
};

/*
 * A growable byte buffer, used for pending output of each sink: records of a
 * batch are formatted into it and written out with one write(2).
 */
struct outbuf {
	char *data;
	size_t len;
	size_t cap;
};

/* Bytes a sink may hold before its clients stop being read, and resume. */
#define SINK_HIGH_WATER (1024u * 1024)
#define SINK_LOW_WATER (256u * 1024)

/*
 * An output: a plugin's file, or stderr. Formatted records wait in out from
 * off on; writes never block. queued and written count bytes ever, so a
 * batch's acknowledgement can wait for "written >= what was queued".
 */
struct sink {
	char *name;		/* the path, or "stderr" */
	int fd;			/* -1 while a file cannot be opened */
	int is_file;
	int is_socket;		/* send(MSG_DONTWAIT) */
	int broken;		/* an error was logged already */
	struct outbuf out;
	size_t off;
	uint64_t queued;
	uint64_t written;
	uint64_t lost;		/* bytes given up on after write errors */
	struct event *wev;	/* EV_WRITE once the kernel said EAGAIN */
	int dirty;		/* on the list of sinks to flush */
	TAILQ_ENTRY(sink) dirty_entry;
};

/* The sinks a batch wrote to, each with how far it had queued then. */
struct sink_mark {
	struct sink *sink;
	uint64_t mark;
};

/*
 * A plugin's logger: where its records end up. Created on first use, kept
 * until exit.
 */
struct plugin {
	char id[RELOG_ID_MAX + 1];
	struct sink file;	/* DIR/<id>.log */
	uint64_t records;
	uint64_t bytes;
	uint64_t dropped_by_runners;	/* their rings overflowed */

	struct plugin *hash_next;
};

/*
 * A runner.log_batch request whose records are not all written yet: it is
 * answered, and its seq recorded, once every sink it touched has written
 * past its mark. Kept in order per connection.
 */
struct ack {
	int64_t request_id;
	char plugin_id[RELOG_ID_MAX + 1];	/* echoed, cut if longer */
	uint64_t seq;		/* 0: none */
	uint32_t written;
	uint32_t rejected;
	const char *cause;	/* static; for rejected entries */
	size_t nmarks;
	struct sink_mark *marks;
	TAILQ_ENTRY(ack) entry;
};
TAILQ_HEAD(acks, ack);

/*
 * A connection. Each is a small state machine:
 * CLIENT_HELLO: connected, waiting for runner.hello (on a timer);
 * CLIENT_READY: said hello, sending batches;
 * CLIENT_CLOSING: a last reply is being written, then it is freed;
 * CLIENT_DEAD: the connection is gone, but acknowledgements it was owed
 * are still waiting for sinks: their seqs are recorded when written, then
 * the struct is freed.
 */
enum client_state {
	CLIENT_HELLO,
	CLIENT_READY,
	CLIENT_CLOSING,
	CLIENT_DEAD,
};

struct client {
	uint64_t id;		/* for relogd's own messages */
	int fd;
	struct bufferevent *bev;
	struct event *timer;	/* hello timeout */
	enum client_state state;

	pid_t pid;		/* SO_PEERCRED at accept */
	uid_t uid;
	gid_t gid;

	char runner_id[RELOG_ID_MAX + 1];
	struct plugin *plugin;	/* from hello; NULL: route by logger name */
	int state_slot;		/* runner's dedup state; -1: none */
	uint64_t records;
	uint64_t duplicates;	/* resent records not written again */
	uint64_t bad_entries;

	struct acks acks;	/* owed, oldest first */
	struct sink_mark *touched;	/* sinks the current frame wrote to */
	size_t ntouched;
	size_t touched_cap;
	int congested;		/* a sink it feeds is full: not reading */
	int owing;		/* on client_owing: acks wait */

	TAILQ_ENTRY(client) entry;
	TAILQ_ENTRY(client) owing_entry;
	TAILQ_ENTRY(client) congested_entry;
};
TAILQ_HEAD(clients, client);

/* relogd.c */
extern struct event_base *relogd_base;
extern struct config relogd_config;

/* log.c */
void	log_open(int);
void	log_debug(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_error(const char *, ...) __attribute__((format(printf, 1, 2)));
__attribute__((noreturn, format(printf, 1, 2)))
void	fatal(const char *, ...);
__attribute__((noreturn, format(printf, 1, 2)))
void	fatalx(const char *, ...);

/* config.c */
void	config_defaults(struct config *);
int	config_load(struct config *, const char *, char **);
int	config_parse_frame_size(const char *, size_t *);
void	config_free(struct config *);

/* server.c */
void	server_start(void);
void	server_stop(void);

/* client.c */
void	client_create(int);
void	client_drain_all(void);
void	client_free_all(void);
void	client_sinks_progressed(void);
void	client_touched(struct client *, struct sink *);

/* plugin.c */
int	plugin_id_valid(const char *, size_t);
void	plugin_init(void);
struct plugin *plugin_get(const char *, size_t);
struct plugin *plugin_for_logger(struct proto_str);
void	plugin_write(struct plugin *, const struct proto_entry *,
	    struct client *);
void	plugin_reopen_all(void);
void	plugin_drain_all(void);
void	plugin_free_all(void);

/* sink.c */
void	outbuf_add(struct outbuf *, const void *, size_t);
void	outbuf_free(struct outbuf *);
int	sink_priority(int64_t);
void	sink_format(struct sink *, const char *, const struct proto_entry *,
	    int);
void	sink_init_file(struct sink *, const char *);
void	sink_init_stderr(struct sink *);
void	sink_reopen(struct sink *);
size_t	sink_pending(const struct sink *);
int	sink_congested(const struct sink *);
void	sink_touch(struct sink *);
int	sink_flush(struct sink *);
void	sink_flush_all(void);
void	sink_drain(struct sink *, int64_t);
void	sink_free(struct sink *);

/* state.c */
void	state_open(const char *);
void	state_close(void);
int	state_lookup(struct proto_str, struct proto_str);
void	state_release(int);
uint64_t state_accepted(int);
void	state_accept(int, uint64_t);
void	state_record(int, uint64_t);

#endif

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

/*
 * A plugin's logger: where its records end up. Created on first use, kept
 * until exit.
 */
struct plugin {
	char id[RELOG_ID_MAX + 1];
	char *path;		/* DIR/<id>.log */
	int fd;			/* -1 while it cannot be opened */
	int open_failed;	/* said so already */
	struct outbuf out;
	int dirty;		/* on the dirty list */
	uint64_t records;
	uint64_t bytes;

	struct plugin *hash_next;
	TAILQ_ENTRY(plugin) dirty_entry;
};

/*
 * A connection. Each is a small state machine:
 * CLIENT_HELLO: connected, waiting for runner.hello (on a timer);
 * CLIENT_READY: said hello, sending batches;
 * CLIENT_CLOSING: a last reply is being written, then it is freed.
 */
enum client_state {
	CLIENT_HELLO,
	CLIENT_READY,
	CLIENT_CLOSING,
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
	uint64_t records;
	uint64_t bad_entries;

	TAILQ_ENTRY(client) entry;
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

/* plugin.c */
int	plugin_id_valid(const char *, size_t);
struct plugin *plugin_get(const char *, size_t);
struct plugin *plugin_for_logger(struct proto_str);
void	plugin_write(struct plugin *, const struct proto_entry *);
void	plugin_flush_all(void);
void	plugin_reopen_all(void);
void	plugin_free_all(void);

/* sink.c */
void	outbuf_add(struct outbuf *, const void *, size_t);
void	outbuf_free(struct outbuf *);
int	outbuf_write(struct outbuf *, int);
int	sink_priority(int64_t);
void	sink_format(struct outbuf *, const struct plugin *,
	    const struct proto_entry *, int);

#endif

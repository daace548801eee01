/* relog's Check test suites and what they share besides the harness. */
#ifndef RELOG_TESTS_H
#define RELOG_TESTS_H

#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>

#include <check.h>
#include <msgpack.h>

#include "harness.h"
#include "proto.h"

/* Suites, one per module (main.c runs them all). */
Suite  *suite_codec(void);
Suite  *suite_shim(void);
Suite  *suite_spool(void);
Suite  *suite_config(void);
Suite  *suite_daemon(void);
Suite  *suite_limits(void);
Suite  *suite_ctl(void);
Suite  *suite_syslog(void);
Suite  *suite_fluent(void);
Suite  *suite_remote(void);
Suite  *suite_ids(void);
Suite  *suite_security(void);
TCase  *security_files_tcase(void);
Suite  *suite_show(void);
Suite  *suite_metrics(void);
Suite  *suite_cli(void);
Suite  *suite_shmring(void);
Suite  *suite_ringd(void);
Suite  *suite_crash(void);

/*
 * The tag of test cases that run in the test's own process, with nothing
 * started: `make valgrind` runs those under memcheck itself.
 */
#define TESTS_UNIT_TAG "unit"

/* A program run to its end (capture.c). */
struct capture {
	char *out;		/* stdout, or a pseudo-terminal's output */
	char *err;
	int status;		/* as harness_wait's */
	long maxrss_kb;		/* its peak RSS */
};

/* capture.c */
pid_t	capture_spawn(const char *const *, const char *const *, int *,
	    int *);
void	capture_run(const char *const *, const char *const *, int,
	    struct capture *, int);
void	capture_free(struct capture *);
void	capture_await(int, char **, const char *, size_t, int);
char   *capture_read_all(int, int);

/* wire.c: a raw protocol client. */
void	wire_begin(struct proto_header *, const char *, int64_t, const char *);
void	wire_send(int, const struct proto_header *,
	    void (*)(msgpack_packer *, void *), void *, size_t);
void	wire_send_frame(int, const char *, size_t);
void	wire_batch_seq(int, const char *, const char *, int, uint64_t,
	    uint64_t, size_t);
void	wire_batch(int, const char *, int, size_t);
void	wire_hello_as(int, const char *, const char *, const char *, size_t);
void	wire_hello(int, const char *, const char *, size_t);
void	wire_hello_fds(int, const char *, const char *, uint32_t, const int *,
	    int);
void	wire_ring_sync(int, int64_t, uint64_t);
const char *wire_reply(int, int, int *);
int	wire_open_as(const struct harness *, const char *, const char *,
	    const char *);
int	wire_open(const struct harness *, const char *);

/* collector.c: the peers forward sinks send to. */

/* How long a collector, or a forwarding relogd, may take for a step. */
#define COLLECTOR_TIMEOUT_MS 60000

/* An rsyslogd started by a test, in its own folder. */
struct rsyslog {
	char dir[300];
	char out[340];		/* what it received, one record a line */
	pid_t pid;		/* -1: not running */
	int port;
	int client_auth;	/* TLS: ask for a client certificate */
};

/* A Fluent collector's connection, as the test reads it. */
struct collector_conn {
	int		fd;
	msgpack_unpacker up;
	long		last;		/* r1's last sequence number on it */
	char	       *chunks[1024];	/* the chunks read, not acked yet */
	size_t		nchunks;
};

void	collector_rsyslog_init(struct rsyslog *);
void	collector_rsyslog_start(struct rsyslog *, const char *, int,
	    const char *);
void	collector_rsyslog_stop(struct rsyslog *);
void	collector_rsyslog_kill(struct rsyslog *);
void	collector_rsyslog_check_sequence(const struct rsyslog *, long);
void	collector_make_certs(const char *);
int	collector_unanswered(int *, int *);
long long collector_stat(const struct harness *, const char *);
char   *collector_stats(const struct harness *, int);
void	collector_await_state(const struct harness *, const char *);
void	collector_await_stat(const struct harness *, const char *, long long,
	    int);
void	collector_forward_start(struct harness *, const char *, const char *);
void	collector_relogd_start(struct harness *, const char *);
void	collector_forward_stalled(struct harness *, const char *);
void	collector_run(const struct harness *, const char *, const char *,
	    const char *const *);
int	collector_listen_unix(const char *);
int	collector_listen_tcp(int *);
int	collector_accept(int, int);
int	collector_accept_message(int, msgpack_unpacker *, msgpack_unpacked *);
const msgpack_object *collector_map_get(const msgpack_object *,
	    const char *);
void	collector_conn_open(struct collector_conn *, int);
void	collector_conn_ack(struct collector_conn *);
void	collector_conn_close(struct collector_conn *);
int	collector_conn_read(struct collector_conn *, int, char *, long);

/* peer.c: peers of other uids and raw clients (the security suites). */
#define PEER_NOBODY 65534
pid_t	peer_as(uid_t, int, int (*)(void *), void *);
pid_t	peer_as_ready(uid_t, int, int (*)(void *), void *, int *);
void	peer_kill(pid_t);
char   *peer_relogctl_args(const struct harness *, const char *const *,
	    int *);
char   *peer_relogctl(const struct harness *, const char *, const char *,
	    int *);
char   *peer_stats(const struct harness *);
long long peer_stat(const struct harness *, const char *, const char *);
long long peer_runner_stat(const struct harness *, const char *,
	    const char *);
void	peer_await_stat(const struct harness *, const char *, const char *,
	    long long);
void	peer_await_count(const struct harness *, const char *, size_t);
int	peer_connect(const struct harness *, int);
size_t	peer_frame_begin(msgpack_sbuffer *, msgpack_packer *, const char *,
	    const char *);
void	peer_hello(msgpack_sbuffer *, const char *, const char *, const char *,
	    const char *);
void	peer_batch(msgpack_sbuffer *, const char *, const char *, int,
	    uint64_t);
void	peer_send(int, msgpack_sbuffer *);
int	peer_open(const struct harness *, const char *, const char *,
	    const char *);
void	peer_log(int, const char *, const char *, int);
pid_t	peer_hold(const struct harness *, uid_t, int);
pid_t	peer_flood(const struct harness *, uid_t, int, const msgpack_sbuffer *);
void	peer_big_frame(msgpack_sbuffer *, size_t);

#endif

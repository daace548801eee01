/* relog's Check test suites and the harness they share. */
#ifndef RELOG_TESTS_H
#define RELOG_TESTS_H

#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>

#include <check.h>
#include <msgpack.h>

/* Suites, one per module (main.c runs them all). */
Suite  *suite_ring(void);
Suite  *suite_codec(void);
Suite  *suite_shim(void);
Suite  *suite_daemon(void);
Suite  *suite_limits(void);
Suite  *suite_ctl(void);
Suite  *suite_remote(void);
Suite  *suite_shmring(void);

/* A relogd started for one test, in its own temporary directory. */
struct harness {
	char dir[256];		/* removed by harness_cleanup */
	char socket[300];
	char log_dir[300];
	char state_dir[300];
	char stderr_path[300];
	pid_t daemon;		/* -1: not running */
	int listen_fd;		/* >= 0: hand it over as systemd would */
	int nofile;		/* != 0: relogd's RLIMIT_NOFILE */
	long fsize;		/* != 0: relogd's RLIMIT_FSIZE, bytes */
};

/* harness.c */
const char *harness_build_path(const char *);
int64_t	harness_now_ms(void);
void	harness_init(struct harness *);
void	harness_cleanup(struct harness *);
void	harness_daemon_start(struct harness *, const char *const *);
int	harness_daemon_stop(struct harness *);
int	harness_daemon_await(const struct harness *, const char *, size_t,
	    int);
int	harness_await_file(const char *, const char *, size_t, int);
int	harness_await_path(const char *, int);
pid_t	harness_spawn(const char *const *, const char *const *, int *, int *);
int	harness_wait(pid_t, int);
int	harness_connect(const struct harness *);
char   *harness_read_file(const char *, size_t *);
void	harness_write_file(const char *, const char *);
char   *harness_read_fd(int, size_t *);
char   *harness_plugin_log(const struct harness *, const char *);
size_t	harness_count(const char *, const char *);
void	harness_send_frame(int, const char *, size_t);
int	harness_recv_frame(int, char **, size_t *, int);
pid_t	harness_runner_env(const struct harness *, const char *, const char *,
	    const char *, const char *const *, int *, int *);
pid_t	harness_runner(const struct harness *, const char *, const char *,
	    const char *const *, int *);
void	harness_check_sequence(const char *, const char *, int, long);
void	harness_check_delivered(const char *, const char *, long, long);
size_t	harness_lines(const char *);
long	harness_rss_kb(const struct harness *);
int	harness_rss_measured(void);
const char *harness_config(const struct harness *, const char *);

/* wire.c: a raw protocol client. */
size_t	wire_begin(msgpack_sbuffer *, msgpack_packer *, const char *, int64_t,
	    const char *);
void	wire_send(int, msgpack_sbuffer *, msgpack_packer *, size_t, size_t);
void	wire_batch_seq(int, const char *, const char *, int, uint64_t,
	    uint64_t, size_t);
void	wire_batch(int, const char *, int, size_t);
void	wire_hello_as(int, const char *, const char *, const char *, size_t);
void	wire_hello(int, const char *, const char *, size_t);
const char *wire_reply(int, int, int *);
int	wire_open(const struct harness *, const char *);

#endif

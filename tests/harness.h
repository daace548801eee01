/*
 * The harness (harness.c): relogd and the processes around it started for
 * real, in a folder of their own, and waits on conditions. It knows nothing
 * of Check: the test binary and the bench both link it. A step that fails
 * calls harness_fail, which each program defines: the tests fail the test
 * (ck_abort_msg), the bench says why and stops.
 */
#ifndef RELOG_HARNESS_H
#define RELOG_HARNESS_H

#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>

/*
 * A relogd in a folder of its own: a temporary one (harness_init), or one
 * given (harness_init_at, the bench's).
 */
struct harness {
	char dir[256];		/* temporary: removed by harness_cleanup */
	char socket[300];
	char log_dir[300];
	char state_dir[300];
	char stderr_path[300];
	int rooted;		/* dir was given: harness_cleanup keeps it */
	const char *relogd;	/* NULL: relogd in the build folder */
	pid_t daemon;		/* -1: not running */
	int listen_fd;		/* >= 0: hand it over as systemd would */
	int nofile;		/* != 0: relogd's RLIMIT_NOFILE */
	long fsize;		/* != 0: relogd's RLIMIT_FSIZE, bytes */
};

/* Say what failed and do not return; each program defines it. */
__attribute__((noreturn, format(printf, 1, 2)))
void	harness_fail(const char *, ...);

/* harness.c */
const char *harness_build_path(const char *);
int64_t	harness_now_ms(void);
void	harness_init(struct harness *);
void	harness_init_at(struct harness *, const char *);
void	harness_cleanup(struct harness *);
pid_t	harness_start_ready(const char *, const char *, const char *const *,
	    const char *, void (*)(void *), void *);
void	harness_daemon_start(struct harness *, const char *const *);
int	harness_daemon_start_activated(struct harness *, int,
	    const char *const *);
int	harness_daemon_stop(struct harness *);
int	harness_daemon_kill(struct harness *);
int	harness_daemon_await(const struct harness *, const char *, size_t,
	    int);
int	harness_await_file(const char *, const char *, size_t, int);
int	harness_await_path(const char *, int);
pid_t	harness_spawn(const char *const *, const char *const *, int *, int *);
int	harness_wait(pid_t, int);
int	harness_pidfd(pid_t);
struct rusage;
int	harness_wait_usage(pid_t, int, struct rusage *);
int	harness_connect(const struct harness *);
char   *harness_read_file(const char *, size_t *);
void	harness_write_file(const char *, const char *);
void	harness_unshare_mounts(void);
void	harness_fill(const char *);
void	harness_unfill(const char *);
char   *harness_read_fd(int, size_t *);
char   *harness_plugin_log(const struct harness *, const char *);
const char *harness_find(const char *, const char *);
size_t	harness_count(const char *, const char *);
pid_t	harness_runner_env(const struct harness *, const char *, const char *,
	    const char *, const char *const *, int *, int *);
pid_t	harness_runner_more(const struct harness *, const char *,
	    const char *, const char *, const char *const *, const char *, int *,
	    int *);
pid_t	harness_runner_list(const struct harness *, const char *,
	    const char *, const char *, const char *const *,
	    const char *const *, int *, int *);
pid_t	harness_runner(const struct harness *, const char *, const char *,
	    const char *const *, int *);
void	harness_check_sequence(const char *, const char *, int, long);
void	harness_check_delivered(const char *, const char *, long, long);
size_t	harness_lines(const char *);
long	harness_status_num(pid_t, const char *);
int	harness_native(void);
int	harness_frees_measured(void);
long	harness_rss_kb(const struct harness *);
int	harness_rss_measured(void);
const char *harness_config(const struct harness *, const char *);
const char *harness_fill_log(struct harness *, const char *, long);

#endif

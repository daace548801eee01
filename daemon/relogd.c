/*
 * What every part of relogd shares: the event loop, the settings, the clock
 * and the host's name. Set up by main.c; read by all.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "proto-clock.h"
#include "relogd.h"

struct event_base *relogd_base;
time_t relogd_started;
int relogd_log_dir_fd = -1;	/* files are opened relative to these */
int relogd_state_dir_fd = -1;
struct config relogd_config;

/* The time by a clock, in us. */
int64_t
relogd_now_us(clockid_t clock)
{
	return (proto_clock_ns(clock) / 1000);
}

/* The time by a clock, in ms. */
int64_t
relogd_now_ms(clockid_t clock)
{
	return (relogd_now_us(clock) / 1000);
}

/*
 * This machine's name as records sent on carry it: printable ASCII, no
 * spaces ("-" if it has none). Read once.
 */
const char *
relogd_hostname(void)
{
	static char host[256];
	size_t i;

	if (host[0] != '\0')
		return (host);
	if (gethostname(host, sizeof host) != 0 || host[0] == '\0')
		strcpy(host, "-");
	host[sizeof host - 1] = '\0';
	for (i = 0; host[i] != '\0'; i++) {
		if (host[i] <= 32 || host[i] >= 127)
			host[i] = '_';
	}
	return (host);
}

/*
 * Open a file in a folder of relogd's (dirfd, or AT_FDCWD and a path)
 * that someone else may have written in: never through a symbolic link
 * (the last part of the path), never waiting on a FIFO or a device (opened
 * O_NONBLOCK, which is cleared again), and only a regular file (else
 * EINVAL); its stat in *stp if not NULL. Returns the fd, or -1 (errno
 * set).
 */
int
relogd_openat(int dirfd, const char *path, int flags, mode_t mode,
    struct stat *stp)
{
	struct stat st, *sp = stp != NULL ? stp : &st;
	int fd, fl, error;

	fd = openat(dirfd, path, flags | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY |
	    O_NONBLOCK, mode);
	if (fd < 0)
		return (-1);
	if (fstat(fd, sp) != 0)
		error = errno;
	else if (!S_ISREG(sp->st_mode))
		error = EINVAL;
	else if ((fl = fcntl(fd, F_GETFL)) < 0 ||
	    fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0)
		error = errno;
	else
		return (fd);
	close(fd);
	errno = error;
	return (-1);
}

/*
 * Is a file (or folder) relogd's alone: its own, and not writable by its
 * group or others? One that is not may be changed under relogd by whoever
 * else can: its state is not to be trusted to it.
 */
int
relogd_alone(const struct stat *st)
{
	return (st->st_uid == geteuid() && (st->st_mode & 022) == 0);
}

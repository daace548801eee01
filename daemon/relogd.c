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
 * Is a file (or folder) relogd's alone: its own, and not writable by its
 * group or others? One that is not may be changed under relogd by whoever
 * else can: its state is not to be trusted to it.
 */
int
relogd_alone(const struct stat *st)
{
	return (st->st_uid == geteuid() && (st->st_mode & 022) == 0);
}

/*
 * Make a file name in dirfd anew, 0600, for relogd alone: one there already
 * (left by a kill, or planted by someone who may hold it open to write it
 * later) is removed first, and the new one made O_EXCL. Returns the fd, or
 * -1 (errno set).
 */
int
relogd_create(int dirfd, const char *name, int flags)
{
	if (unlinkat(dirfd, name, 0) != 0 && errno != ENOENT)
		return (-1);
	return (proto_openat(dirfd, name, flags | O_CREAT | O_EXCL, 0600,
	    NULL));
}

/*
 * Open a folder in dirfd (made 0700 first if create and missing), for
 * relogd to keep files in: never through a symbolic link, and relogd's
 * alone, so that what it reads there no one else wrote. Returns the fd,
 * or -1 (errno set: ELOOP for a symbolic link, EPERM for one not relogd's
 * alone).
 */
int
relogd_opendirat(int dirfd, const char *name, int create)
{
	struct stat st;
	int fd, error;

	if (create && mkdirat(dirfd, name, 0700) != 0 && errno != EEXIST)
		return (-1);
	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
	if (fd < 0) {
		error = errno;
		/* A link to a folder is ENOTDIR (O_DIRECTORY): say what. */
		if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISLNK(st.st_mode))
			error = ELOOP;
		errno = error;
		return (-1);
	}
	if (fstat(fd, &st) == 0 && relogd_alone(&st))
		return (fd);
	close(fd);
	errno = EPERM;
	return (-1);
}

/*
 * Why a file could not be opened or written, in words (for relogd's log
 * and stats): proto_openat's refusals said plainly, the rest as strerror
 * says them.
 */
const char *
relogd_error_text(int error)
{
	if (error == EINVAL)
		return ("not a regular file");
	if (error == ELOOP)
		return ("a symbolic link");
	if (error == EPERM)
		return ("not relogd's (another owner, another name, or its "
		    "attributes)");
	return (strerror(error));
}

/* Why relogd_opendirat failed, in words. */
const char *
relogd_dir_error_text(int error)
{
	if (error == EPERM)
		return ("not relogd's alone (owner or mode)");
	return (relogd_error_text(error));
}

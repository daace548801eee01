/*
 * Opening a file that someone else may have written beside it: the one way
 * relogd opens its state and queue files and relogctl show the log files.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "proto.h"

/*
 * Open a file (dirfd and a name, or AT_FDCWD and a path) never through a
 * symbolic link (the last part of the path), never waiting on a FIFO or a
 * device (opened O_NONBLOCK, which is cleared again), and only a regular
 * file (else EINVAL); its stat in *stp if not NULL. Returns the fd, or -1
 * (errno set: ELOOP for a symbolic link).
 */
int
proto_openat(int dirfd, const char *path, int flags, mode_t mode,
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

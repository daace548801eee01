/*
 * Preloaded into a runner (LD_PRELOAD) by test_crash_backlog_full: the
 * first connect(2) that finds the listen backlog full (EAGAIN) says so on
 * stderr, which the test waits for before it lets relogd accept again.
 */
#define _GNU_SOURCE
#include <sys/socket.h>

#include <dlfcn.h>
#include <errno.h>
#include <unistd.h>

#define BUSY_SAID "busy-connect: EAGAIN\n"

int
connect(int fd, const struct sockaddr *sa, socklen_t len)
{
	static int (*real)(int, const struct sockaddr *, socklen_t);
	static int said;
	int ret, error;

	if (real == NULL)
		*(void **)&real = dlsym(RTLD_NEXT, "connect");
	ret = real(fd, sa, len);
	error = errno;
	if (ret != 0 && error == EAGAIN &&
	    !__atomic_exchange_n(&said, 1, __ATOMIC_RELAXED))
		(void)!write(STDERR_FILENO, BUSY_SAID, sizeof BUSY_SAID - 1);
	errno = error;
	return (ret);
}

/*
 * Preloaded into a runner (LD_PRELOAD) by test_crash_flusher_late: every
 * connect(2) but the main thread's waits two seconds first, as librelog's
 * flusher thread does when the machine gives it no CPU that long.
 */
#define _GNU_SOURCE
#include <sys/socket.h>

#include <dlfcn.h>
#include <time.h>
#include <unistd.h>

int
connect(int fd, const struct sockaddr *sa, socklen_t len)
{
	static int (*real)(int, const struct sockaddr *, socklen_t);
	struct timespec ts = { 2, 0 };

	if (real == NULL)
		*(void **)&real = dlsym(RTLD_NEXT, "connect");
	if (gettid() != getpid())
		while (nanosleep(&ts, &ts) != 0)
			;
	return (real(fd, sa, len));
}

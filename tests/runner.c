/*
 * A plugin runner for the integration tests, linked with librelog.so as a
 * real one is. Everything about the connection comes from the environment
 * (relog_open(NULL)), as a supervisor would set it.
 *
 * usage: test-runner -n COUNT [-l LOGGER] [-t THREADS] [-r RATE] [-a] [-w]
 *     [-x] [-s SIZE] [-d] [-f] [-T] [-c] [-g] [-k kill|segv|abort] [-m]
 *     [-L LANES]
 *   -n  records to emit per thread: "runner=<RELOG_RUNNER_ID> thread=<t>
 *       seq=<i>", i from 0
 *   -l  logger name (default plugin.test)
 *   -t  producer threads (default 1)
 *   -r  emit at most RATE records per second per thread
 *   -a  after emitting, print "emitted" on stdout, then relog_flush
 *   -w  after emitting, print "emitted" on stdout, then wait for stdin to
 *       close
 *   -x  attach an exception text to every record
 *   -s  pad every message to SIZE bytes
 *   -d  dropped records are expected: do not fail on them
 *   -f  then fork: the child emits COUNT records as thread 1 and closes
 *       (with -k, dies so right after its last record instead); once it
 *       ended, the parent emits COUNT more as thread 0
 *   -T  with -f, the child can start no thread (clone and clone3 fail
 *       with EAGAIN, a seccomp filter): its first emit fails, and it exits
 *       6 at once
 *   -c  the last record of each thread is CRITICAL
 *   -g  halfway through thread 0's records, print "halfway" on stdout and
 *       wait for a line on stdin
 *   -k  crash right after the last record is emitted, by the last thread
 *       to finish: SIGKILL, SIGSEGV (a write through a NULL pointer) or
 *       abort(); nothing else runs, no flush, no close (with -f: the
 *       child)
 *   -m  memfd_create fails (EPERM, a seccomp filter), as in a sandbox that
 *       forbids it
 *   -L  the ring's lanes (RELOG_LANES)
 * Exits 0 when every record was handed over and none was dropped.
 */
#include <sys/syscall.h>
#include <sys/wait.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "relog.h"
#include "seccomp-deny.h"

#define RUNNER_TIMEOUT_MS 60000

static relog_t *runner_h;
static const char *runner_logger = "plugin.test";
static const char *runner_id;
static long runner_count;
static long runner_first;	/* seq of thread 0's first record */
static long runner_rate;
static size_t runner_size;
static int runner_exception;
static int runner_critical;
static int runner_gate;
static int runner_crash;	/* the signal -k dies by; 0: none */
static int runner_child_crash;	/* ...with -f: the child's */
static int runner_no_threads;	/* -T: the forked child starts none */
static long runner_threads = 1;
static long runner_done;	/* producer threads done emitting */

/*
 * Die by runner_crash at once, as a plugin that crashes does: nothing of
 * librelog's runs after the last emit.
 */
static void
runner_die(void)
{
	/* Volatile both: the compiler keeps the store. */
	volatile int *volatile null = NULL;

	if (runner_crash == SIGSEGV)
		*null = 1;
	if (runner_crash == SIGABRT)
		abort();
	raise(SIGKILL);
}

/*
 * Halfway: say so and wait for the test's line on stdin. Returns 0, or -1
 * if stdin closed first.
 */
static int
runner_halfway(void)
{
	char c;

	printf("halfway\n");
	fflush(stdout);
	while (read(STDIN_FILENO, &c, 1) == 1)
		if (c == '\n')
			return (0);
	return (-1);
}

/* One producer thread. */
static void *
runner_produce(void *arg)
{
	long thread = (long)arg, i;
	struct relog_entry e = { .sz = sizeof e, .level = RELOG_INFO };
	char *msg;
	size_t cap = runner_size > 128 ? runner_size + 1 : 128;
	int len;

	msg = malloc(cap);
	if (msg == NULL)
		return ((void *)1);
	e.logger_name = runner_logger;
	e.message = msg;
	if (runner_exception)
		e.exception_text = "Traceback (most recent call last):\n"
		    "  File \"x.py\", line 1\nValueError: boom";
	struct timespec next;

	clock_gettime(CLOCK_MONOTONIC, &next);
	for (i = runner_first; i < runner_first + runner_count; i++) {
		if (runner_gate && thread == 0 &&
		    i == runner_first + runner_count / 2) {
			if (runner_halfway() != 0)
				break;
			/* The pace starts again, not a burst to catch up. */
			clock_gettime(CLOCK_MONOTONIC, &next);
		}
		if (runner_rate > 0) {
			/* Pace the plugin: this is its behaviour, not a sync. */
			next.tv_nsec += 1000000000L / runner_rate;
			if (next.tv_nsec >= 1000000000L) {
				next.tv_sec++;
				next.tv_nsec -= 1000000000L;
			}
			clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next,
			    NULL);
		}
		len = snprintf(msg, cap, "runner=%s thread=%ld seq=%ld",
		    runner_id, thread, i);
		if ((size_t)len + 1 < runner_size) {
			msg[len] = ' ';
			memset(msg + len + 1, 'p', runner_size - (size_t)len - 1);
			msg[runner_size] = '\0';
		}
		e.level = i % 5 == 4 ? RELOG_WARNING : RELOG_INFO;
		if (runner_critical && i == runner_first + runner_count - 1)
			e.level = RELOG_CRITICAL;
		if (relog_emit(runner_h, &e) != 0) {
			free(msg);
			return ((void *)1);
		}
	}
	if (i < runner_first + runner_count) {
		free(msg);
		return ((void *)1);
	}
	if (runner_crash != 0 && __atomic_add_fetch(&runner_done, 1,
	    __ATOMIC_ACQ_REL) == runner_threads)
		runner_die();
	free(msg);
	return (NULL);
}

/*
 * The child emits as thread 1 through the handle it inherited, and closes
 * it (or crashes); then the parent goes on as thread 0. Returns the
 * child's status (0 if it died as told).
 */
static int
runner_fork(void)
{
	pid_t pid;
	int status;

	pid = fork();
	if (pid < 0)
		return (7);
	if (pid == 0) {
		if (runner_no_threads &&
		    (seccomp_deny(__NR_clone3, EAGAIN) != 0 ||
		    seccomp_deny(__NR_clone, EAGAIN) != 0))
			_exit(9);
		runner_crash = runner_child_crash;
		if (runner_produce((void *)1) != NULL)
			_exit(6);
		if (relog_dropped(runner_h) != 0)
			_exit(5);
		_exit(relog_close(runner_h, RUNNER_TIMEOUT_MS) == 0 ? 0 : 4);
	}
	if (waitpid(pid, &status, 0) != pid)
		return (8);
	if (runner_child_crash != 0 ? !WIFSIGNALED(status) ||
	    WTERMSIG(status) != runner_child_crash : !WIFEXITED(status))
		return (8);
	runner_first = runner_count;
	if (runner_produce((void *)0) != NULL)
		return (6);
	return (WIFEXITED(status) ? WEXITSTATUS(status) : 0);
}

/* The signal -k names ("kill", "segv", "abort"), or -1. */
static int
runner_signal(const char *how)
{
	if (strcmp(how, "kill") == 0)
		return (SIGKILL);
	if (strcmp(how, "segv") == 0)
		return (SIGSEGV);
	if (strcmp(how, "abort") == 0)
		return (SIGABRT);
	return (-1);
}

/* -m: memfd_create fails with EPERM from now on; other calls are left be. */
static int
runner_forbid_memfd(void)
{
	if (seccomp_deny(__NR_memfd_create, EPERM) != 0) {
		perror("seccomp");
		return (-1);
	}
	return (0);
}

int
main(int argc, char **argv)
{
	pthread_t threads[64];
	long t;
	int opt, announce = 0, wait_stdin = 0, drops_ok = 0, status = 0;
	int do_fork = 0;
	char c;
	void *ret;

	while ((opt = getopt(argc, argv, "n:l:t:r:s:awxdfTcgk:mL:")) != -1) {
		switch (opt) {
		case 'n': runner_count = atol(optarg); break;
		case 'l': runner_logger = optarg; break;
		case 't': runner_threads = atol(optarg); break;
		case 'r': runner_rate = atol(optarg); break;
		case 's': runner_size = (size_t)atol(optarg); break;
		case 'a': announce = 1; break;
		case 'w': wait_stdin = 1; break;
		case 'd': drops_ok = 1; break;
		case 'f': do_fork = 1; break;
		case 'T': runner_no_threads = 1; break;
		case 'x': runner_exception = 1; break;
		case 'c': runner_critical = 1; break;
		case 'g': runner_gate = 1; break;
		case 'k': runner_crash = runner_signal(optarg); break;
		case 'L': setenv("RELOG_LANES", optarg, 1); break;
		case 'm':
			if (runner_forbid_memfd() != 0)
				return (2);
			break;
		default: return (2);
		}
	}
	if (runner_threads < 1 || runner_threads > 64 || runner_crash < 0)
		return (2);
	if (do_fork) {
		runner_child_crash = runner_crash;
		runner_crash = 0;
	}
	runner_id = getenv("RELOG_RUNNER_ID");
	if (runner_id == NULL)
		runner_id = "none";
	runner_h = relog_open(NULL);
	if (runner_h == NULL) {
		perror("relog_open");
		return (1);
	}
	for (t = 0; t < runner_threads; t++)
		pthread_create(&threads[t], NULL, runner_produce, (void *)t);
	for (t = 0; t < runner_threads; t++) {
		pthread_join(threads[t], &ret);
		if (ret != NULL)
			status = 6;
	}
	if (do_fork)
		status = runner_fork();
	if (announce || wait_stdin) {
		printf("emitted\n");
		fflush(stdout);
	}
	if (announce && relog_flush(runner_h, RUNNER_TIMEOUT_MS) != 0)
		status = 3;
	while (wait_stdin && read(STDIN_FILENO, &c, 1) > 0)
		;
	if (relog_dropped(runner_h) != 0 && !drops_ok) {
		fprintf(stderr, "runner %s dropped %llu\n", runner_id,
		    (unsigned long long)relog_dropped(runner_h));
		status = 5;
	}
	if (relog_close(runner_h, RUNNER_TIMEOUT_MS) != 0 && status == 0)
		status = 4;
	return (status);
}

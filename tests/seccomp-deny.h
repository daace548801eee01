/*
 * A system call made to fail as a sandbox would make it, for tests (and
 * test-runner, which links nothing else of theirs): a seccomp filter on
 * the calling thread, and the threads and processes it starts after.
 */
#ifndef RELOG_TESTS_SECCOMP_DENY_H
#define RELOG_TESTS_SECCOMP_DENY_H

#include <sys/prctl.h>

#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>

/* From now on, system call nr fails here with err. Returns 0 or -1. */
static inline int
seccomp_deny(unsigned nr, unsigned err)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
		    offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, nr, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | err),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {
		.len = sizeof f / sizeof f[0],
		.filter = f,
	};

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0)
		return (-1);
	return (0);
}

#endif

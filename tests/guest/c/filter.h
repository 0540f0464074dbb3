/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A seccomp filter for the tests: one system call answered with an action,
 * every other allowed. Filters cannot be removed: each TEST() runs in a
 * child of its own, so one test's filter ends with it.
 */
#ifndef SYSLET_FILTER_H
#define SYSLET_FILTER_H

#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>

#include "tap.h"

/* Installs a filter that answers @nr with @action; all else is allowed. */
static inline void install_filter(int nr, __u32 action)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, nr, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, action),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = sizeof(f) / sizeof(f[0]), .filter = f };

	CHECK(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0);
	CHECK(prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) == 0);
}

#endif /* SYSLET_FILTER_H */

// SPDX-License-Identifier: GPL-2.0
/*
 * The atom interpreter's accesses to user memory (chain.rs), word by word.
 *
 * Every atom reads its 80 bytes and usually writes its 8-byte result. The
 * kernel crate's user copies are copy_{from,to}_user() of any size, which
 * go out of line to rep_movs_alternative(); for a few known words that
 * cost more than a cheap system call's own work. These use the kernel's
 * word-sized accessors in one masked user-access section each, as hot
 * paths in the kernel do (select's get_sigset_argpack(), rseq).
 *
 * Each returns 0, or -EFAULT if any word could not be accessed; a read
 * that faults may leave part of the destination written.
 */
#include <linux/uaccess.h>

#include "../include/uapi/linux/syslet.h"
#include "atom_access.h"

int syslet_read_atom(struct syslet_atom *atom, u64 addr)
{
	const struct syslet_atom __user *u = u64_to_user_ptr(addr);

	/* Spelled out: gcc does not unroll the loop over the arguments. */
	scoped_user_read_access(u, efault) {
		unsafe_get_user(atom->nr, &u->nr, efault);
		unsafe_get_user(atom->flags, &u->flags, efault);
		unsafe_get_user(atom->result, &u->result, efault);
		unsafe_get_user(atom->next, &u->next, efault);
		unsafe_get_user(atom->args[0], &u->args[0], efault);
		unsafe_get_user(atom->args[1], &u->args[1], efault);
		unsafe_get_user(atom->args[2], &u->args[2], efault);
		unsafe_get_user(atom->args[3], &u->args[3], efault);
		unsafe_get_user(atom->args[4], &u->args[4], efault);
		unsafe_get_user(atom->args[5], &u->args[5], efault);
		unsafe_get_user(atom->cookie, &u->cookie, efault);
	}
	return 0;
efault:
	return -EFAULT;
}

int syslet_read_u64(u64 *value, u64 addr)
{
	const u64 __user *u = u64_to_user_ptr(addr);

	scoped_user_read_access(u, efault)
		unsafe_get_user(*value, u, efault);
	return 0;
efault:
	return -EFAULT;
}

int syslet_write_s64(u64 addr, s64 value)
{
	s64 __user *u = u64_to_user_ptr(addr);

	scoped_user_write_access(u, efault)
		unsafe_put_user(value, u, efault);
	return 0;
efault:
	return -EFAULT;
}

// SPDX-License-Identifier: GPL-2.0
/*
 * Word-sized user accesses of the hot paths: the atom interpreter
 * (chain.rs) and the submission (device.rs).
 *
 * Every atom reads its 80 bytes and usually writes its 8-byte result, and
 * every submission reads its struct syslet_submit and writes outcomes and
 * its report. The kernel crate's user copies are copy_{from,to}_user() of
 * any size, which go out of line to rep_movs_alternative(); for a few known
 * words that cost more than a cheap system call's own work. These use the
 * kernel's word-sized accessors in one masked user-access section each, as
 * hot paths in the kernel do (select's get_sigset_argpack(), rseq).
 *
 * Each returns 0, or -EFAULT if any word could not be accessed; a read
 * that faults may leave part of the destination written, a write part of
 * the user memory.
 */
#include <linux/uaccess.h>

#include "../include/uapi/linux/syslet.h"
#include "user_words.h"

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

int syslet_read_submit(struct syslet_submit *req, u64 addr)
{
	const struct syslet_submit __user *u = u64_to_user_ptr(addr);

	scoped_user_read_access(u, efault) {
		unsafe_get_user(req->chains, &u->chains, efault);
		unsafe_get_user(req->nr_chains, &u->nr_chains, efault);
		unsafe_get_user(req->flags, &u->flags, efault);
		unsafe_get_user(req->done, &u->done, efault);
		unsafe_get_user(req->queued, &u->queued, efault);
		unsafe_get_user(req->outcomes, &u->outcomes, efault);
		unsafe_get_user(req->timeout_ns, &u->timeout_ns, efault);
		unsafe_get_user(req->reserved[0], &u->reserved[0], efault);
		unsafe_get_user(req->reserved[1], &u->reserved[1], efault);
	}
	return 0;
efault:
	return -EFAULT;
}

/* Not "done": the scoped access's loop has a variable of that name. */
int syslet_write_report(u64 addr, u32 nr_done, u32 nr_queued)
{
	struct syslet_submit __user *u = u64_to_user_ptr(addr);

	scoped_user_write_access(u, efault) {
		unsafe_put_user(nr_done, &u->done, efault);
		unsafe_put_user(nr_queued, &u->queued, efault);
	}
	return 0;
efault:
	return -EFAULT;
}

int syslet_write_outcome(u64 addr, const struct syslet_outcome *out)
{
	struct syslet_outcome __user *u = u64_to_user_ptr(addr);

	scoped_user_write_access(u, efault) {
		unsafe_put_user(out->cookie, &u->cookie, efault);
		unsafe_put_user(out->result, &u->result, efault);
		unsafe_put_user(out->last_atom, &u->last_atom, efault);
		unsafe_put_user(out->atoms_run, &u->atoms_run, efault);
		unsafe_put_user(out->flags, &u->flags, efault);
	}
	return 0;
efault:
	return -EFAULT;
}

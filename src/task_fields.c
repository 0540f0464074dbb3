// SPDX-License-Identifier: GPL-2.0
/*
 * Fields of task_struct the Rust code needs, read in C: bindgen's layout of
 * task_struct is not C's on these kernels (an empty ____cacheline_aligned
 * struct loses its alignment, so every field after @stats is 48 bytes off
 * without CONFIG_SCHEDSTATS), and the kernel crate's accessors read the
 * wrong words (CurrentTask::mm() among them).
 */
#include <linux/sched.h>
#include <linux/sched/signal.h>

#include "task_fields.h"

struct mm_struct *syslet_current_mm(void)
{
	return current->mm;
}

/*
 * Whether current belongs to the thread group whose id is @tgid: the same
 * struct pid, not the same number. The number of an exited process's pid
 * is free for reuse while a reference keeps the struct (and pid_nr_ns()
 * still reads the old number from it); the struct of a live process stays
 * its group's across exec and every hand-off of the leadership.
 */
bool syslet_current_tgid_is(const struct pid *tgid)
{
	return task_tgid(current) == tgid;
}

/*
 * Whether current is a vfork child, whose parent waits for it to exit or
 * exec (a syslet thread's vfork_done is its engine's completion instead:
 * the caller tells them apart).
 */
bool syslet_current_in_vfork(void)
{
	return READ_ONCE(current->vfork_done) != NULL;
}

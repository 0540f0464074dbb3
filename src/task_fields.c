// SPDX-License-Identifier: GPL-2.0
/*
 * Fields of task_struct the Rust code needs, read in C: bindgen's layout of
 * task_struct is not C's on these kernels (an empty ____cacheline_aligned
 * struct loses its alignment, so every field after @stats is 48 bytes off
 * without CONFIG_SCHEDSTATS), and the kernel crate's accessors read the
 * wrong words (CurrentTask::mm() among them).
 */
#include <linux/sched.h>

#include "task_fields.h"

struct mm_struct *syslet_current_mm(void)
{
	return current->mm;
}

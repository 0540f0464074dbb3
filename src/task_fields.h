/* SPDX-License-Identifier: GPL-2.0 */
/* Fields of task_struct read in C: see task_fields.c. */
#ifndef _SYSLET_TASK_FIELDS_H
#define _SYSLET_TASK_FIELDS_H

struct mm_struct;
struct pid;

struct mm_struct *syslet_current_mm(void);
bool syslet_current_tgid_is(const struct pid *tgid);
bool syslet_current_in_vfork(void);

#endif

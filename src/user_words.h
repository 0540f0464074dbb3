/* SPDX-License-Identifier: GPL-2.0 */
/* Word-sized user accesses of the hot paths: see user_words.c. */
#ifndef _SYSLET_USER_WORDS_H
#define _SYSLET_USER_WORDS_H

#include <linux/types.h>

struct syslet_atom;
struct syslet_outcome;
struct syslet_submit;

int syslet_read_atom(struct syslet_atom *atom, u64 addr);
int syslet_read_u64(u64 *value, u64 addr);
int syslet_write_s64(u64 addr, s64 value);
int syslet_read_submit(struct syslet_submit *req, u64 addr);
int syslet_write_report(u64 addr, u32 nr_done, u32 nr_queued);
int syslet_write_outcome(u64 addr, const struct syslet_outcome *out);

#endif

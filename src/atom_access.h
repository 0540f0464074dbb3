/* SPDX-License-Identifier: GPL-2.0 */
/* User-memory accesses of the atom interpreter: see atom_access.c. */
#ifndef _SYSLET_ATOM_ACCESS_H
#define _SYSLET_ATOM_ACCESS_H

#include <linux/types.h>

struct syslet_atom;

int syslet_read_atom(struct syslet_atom *atom, u64 addr);
int syslet_read_u64(u64 *value, u64 addr);
int syslet_write_s64(u64 addr, s64 value);

#endif

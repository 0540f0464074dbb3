/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * Syslets: chains of system calls run in the caller's context, made
 * asynchronous only when one of them blocks.
 *
 * This header is the single source of truth for the user-space ABI of
 * /dev/syslet. The kernel module and the Rust user-space crate are generated
 * from it with bindgen; a host test checks that C and Rust agree on every
 * size, offset and ioctl number.
 *
 * Rules for every structure here:
 *  - only __u8/__u16/__u32/__u64/__s32/__s64 fields; user pointers are __u64;
 *  - explicit padding, one layout on 32-bit and 64-bit user space;
 *  - reserved fields must be zero on input (the kernel rejects anything else
 *    with EINVAL, so they can be given a meaning later) and are zeroed on
 *    output.
 *
 * Compatibility: SYSLET_ABI_VERSION changes only on an incompatible change.
 * Additions are announced by feature bits in syslet_query.features; a client
 * checks for the bits it needs rather than for a version number.
 */
#ifndef _UAPI_LINUX_SYSLET_H
#define _UAPI_LINUX_SYSLET_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define SYSLET_ABI_VERSION	1

/* The ioctl magic of /dev/syslet (0xBB, 00-1F). */
#define SYSLET_IOC_MAGIC	0xBB

/*
 * struct syslet_query - what this kernel's syslet module supports.
 * Filled by SYSLET_IOC_QUERY; needs no set-up and works on any open fd.
 *
 * @abi_version:	SYSLET_ABI_VERSION of the running module.
 * @query_size:		sizeof(struct syslet_query) as the module knows it.
 * @features:		SYSLET_FEAT_* bits.
 * @reserved:		zero.
 */
struct syslet_query {
	__u32 abi_version;
	__u32 query_size;
	__u64 features;
	__u64 reserved[6];
};

/* syslet_query.features: none defined yet in ABI version 1. */

#define SYSLET_IOC_QUERY	_IOR(SYSLET_IOC_MAGIC, 0x00, struct syslet_query)

#endif /* _UAPI_LINUX_SYSLET_H */

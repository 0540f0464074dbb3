// SPDX-License-Identifier: GPL-2.0

// Copyright (C) 2026 The syslet authors.

//! Who may make a syslet context.
//!
//! Two gates, both the administrator's. The device node: the kernel makes
//! `/dev/syslet` mode 0600, owner root, so nobody else can open it until
//! the administrator grants it (a udev rule giving it a group and mode
//! 0660, as for `/dev/kvm`, or 0666). Then the module's `disabled`
//! parameter, which mirrors io_uring's `io_uring_disabled` sysctl: 0 lets
//! anyone who can open the node make a context, 1 only tasks with
//! `CAP_SYS_ADMIN` or in the group `group`, 2 nobody. Both are checked when
//! a file is opened; contexts that exist keep working.

use kernel::{bindings, prelude::*};

/// `Ok` if current may make a context, else `EPERM`.
pub(crate) fn may_open() -> Result {
    match crate::module_parameters::disabled.value() {
        0 => Ok(()),
        1 if admin_or_group() => Ok(()),
        _ => Err(EPERM),
    }
}

fn admin_or_group() -> bool {
    let gid = crate::module_parameters::group.value();
    // The group is a gid of the initial user namespace, which maps every
    // valid id to itself: that is the kgid (as for `io_uring_group`).
    // u32::MAX is the invalid id: no group.
    let in_group = gid != u32::MAX && {
        // SAFETY: no preconditions; checks current's credentials.
        unsafe { bindings::in_group_p(bindings::kgid_t { val: gid }) != 0 }
    };
    // SAFETY: no preconditions; checks current's credentials (and audits).
    in_group || unsafe { bindings::capable(bindings::CAP_SYS_ADMIN as i32) }
}

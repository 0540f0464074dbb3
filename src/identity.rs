// SPDX-License-Identifier: GPL-2.0

// Copyright (C) 2026 The syslet authors.

//! The program thread a carried chain runs for, and whether it still has
//! the identity the chain runs with.
//!
//! A hand-off gives the caller's user context, and its thread id, only to a
//! spare with exactly the caller's security identity; the task that had
//! them carries the blocked chain on with that identity. The program goes
//! on meanwhile and may drop privileges, install a seccomp filter or
//! unshare its file table, and it can still write the atoms the carrier
//! has not read yet. So before each atom a carrier compares its identity
//! with the thread's (patch 33): a chain never runs a call with an
//! identity its thread no longer has.

use core::ptr::NonNull;
use kernel::bindings;

/// The thread id a carried chain's context went to: its `struct pid`,
/// referenced, which follows the thread through every later hand-off.
///
/// # Invariants
///
/// `self.0` is a `struct pid` we hold a reference to (`get_task_pid()`),
/// dropped only by `Drop`.
pub(crate) struct ProgramThread(NonNull<bindings::pid>);

impl ProgramThread {
    /// The thread id of `task`, a live task, at this moment.
    ///
    /// # Safety
    ///
    /// `task` is a live task for the duration of the call.
    pub(crate) unsafe fn of(task: *mut bindings::task_struct) -> Option<Self> {
        // SAFETY: `task` is live (the caller's guarantee); the reference
        // we get, if any, is ours. Takes no sleeping lock (RCU and an
        // atomic increment), as the scheduler hook that calls it requires.
        let pid = unsafe { bindings::get_task_pid(task, bindings::pid_type_PIDTYPE_PID) };
        // INVARIANT: a referenced `struct pid`.
        NonNull::new(pid).map(Self)
    }

    /// The thread id as current's pid namespace sees it (0 if it cannot).
    pub(crate) fn nr_seen_by_current(&self) -> i32 {
        // SAFETY: `self.0` is a referenced `struct pid` (type invariant).
        unsafe { bindings::pid_vnr(self.0.as_ptr()) }
    }

    /// Whether the task that has this thread id now (or, if that thread
    /// has exited, its process's leader) has current's security identity.
    pub(crate) fn has_current_identity(&self) -> bool {
        // SAFETY: `self.0` is a referenced `struct pid` (type invariant);
        // the hook only reads it, under RCU.
        unsafe { bindings::syslet_thread_identity_same(self.0.as_ptr()) }
    }
}

impl Drop for ProgramThread {
    fn drop(&mut self) {
        // SAFETY: we hold a reference to `self.0` (type invariant), dropped
        // here once; `put_pid()` may be called from any context.
        unsafe { bindings::put_pid(self.0.as_ptr()) };
    }
}

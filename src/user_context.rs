// SPDX-License-Identifier: GPL-2.0

// Copyright (C) 2026 The syslet authors.

//! A saved user context: what a spare needs to return to user space as the
//! thread whose chain blocked.
//!
//! The blocking task saves its own context into the receiving spare's
//! buffer from the scheduler hook (`syslet_user_context_save()`, which
//! neither sleeps nor allocates and writes nothing into the spare); the
//! spare, woken, installs it on itself (`syslet_user_context_take()`).
//! Nobody ever writes into another task, which might still be running on
//! another CPU. The save also checks that the spare has exactly the
//! caller's security identity: a context never lands on a thread with other
//! credentials, seccomp filters, namespaces or I/O privileges.

use core::ptr::NonNull;
use kernel::{
    bindings,
    prelude::*, //
};

/// Why a context could not be saved for a given spare.
pub(crate) enum SaveError {
    /// The caller's context may not leave its task at all (it is traced,
    /// in a compat system call, or uses syscall user dispatch): its chain
    /// blocks synchronously. The spare is fine.
    Stays,
    /// The spare cannot take this caller's context (another identity, or
    /// another FPU image): it must not serve this caller.
    WrongSpare,
}

/// Room for one saved user context, owned.
///
/// # Invariants
///
/// `self.0` came from `syslet_user_context_alloc()` and is freed only by
/// `Drop`.
pub(crate) struct UserContext(NonNull<bindings::syslet_user_context>);

// SAFETY: the buffer is plain kernel memory owned by this value; it is not
// tied to the thread that allocated it.
unsafe impl Send for UserContext {}

impl UserContext {
    /// Allocates the room (process context; may sleep).
    pub(crate) fn new() -> Result<Self> {
        // SAFETY: no preconditions; process context.
        let p = unsafe { bindings::syslet_user_context_alloc() };
        // INVARIANT: a non-null pointer from `syslet_user_context_alloc()`.
        NonNull::new(p).map(Self).ok_or(ENOMEM)
    }

    /// Saves current's user context, with `syscall_ret` as the return value
    /// of its system call, for `to` to take with [`UserContext::take`].
    /// On success current's robust list, clear_child_tid, signal stack and
    /// rseq registration are in the buffer, not in current any more.
    ///
    /// Neither sleeps nor allocates: usable from the scheduler hook.
    ///
    /// # Safety
    ///
    /// `to` is a live thread of current's process that will not return to
    /// user space before it calls [`UserContext::take`] on this buffer, and
    /// nobody else uses the buffer until then.
    pub(crate) unsafe fn save(
        &self,
        to: *mut bindings::task_struct,
        syscall_ret: kernel::ffi::c_long,
    ) -> core::result::Result<(), SaveError> {
        // SAFETY: the buffer is valid (type invariant) and ours (caller);
        // `to` is live and not in user space (caller).
        let ret = unsafe { bindings::syslet_user_context_save(self.0.as_ptr(), to, syscall_ret) };
        match ret {
            0 => Ok(()),
            r if r == EBUSY.to_errno() => Err(SaveError::Stays),
            _ => Err(SaveError::WrongSpare),
        }
    }

    /// Installs the saved context on current, which then returns to user
    /// space with it. Process context.
    ///
    /// # Safety
    ///
    /// The context was saved by [`UserContext::save`] with current as `to`,
    /// and the save happens before this call (a completion orders them).
    pub(crate) unsafe fn take(&self) {
        // SAFETY: a context saved for current (caller); the buffer is valid
        // (type invariant).
        unsafe { bindings::syslet_user_context_take(self.0.as_ptr()) };
    }
}

impl Drop for UserContext {
    fn drop(&mut self) {
        // SAFETY: allocated by `syslet_user_context_alloc()` and not freed
        // yet (type invariant).
        unsafe { bindings::syslet_user_context_free(self.0.as_ptr()) };
    }
}

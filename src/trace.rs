// SPDX-License-Identifier: GPL-2.0

// Copyright (C) 2026 The syslet authors.

//! Trace events: submit, atom, hand-off, completion, cancel, deadline.
//!
//! They are declared in C (`syslet_events.h`, instantiated by
//! `syslet_events.c`, which is linked into this module) because the trace
//! event machinery is C macros. The kernel crate's `declare_trace!` only
//! reaches tracepoints in its own bindings, so this file declares the
//! module's own the same way: one static branch per event, and the C call
//! only when the event is enabled in tracefs. Without `CONFIG_TRACEPOINTS`
//! every function here is empty.
//!
//! Events that name a task take its `task_struct` and read the pid in C:
//! bindgen's `task_struct` is not C's on these kernels (an empty
//! `____cacheline_aligned` struct loses its alignment, so every field after
//! `stats` is 48 bytes off without `CONFIG_SCHEDSTATS`).

use kernel::bindings;

/// Declares one Rust function per trace event, `unsafe` if the declaration
/// says so (its arguments then carry a precondition, stated in its doc).
macro_rules! events {
    () => {};
    ($(#[$attr:meta])* unsafe fn $name:ident($($arg:ident: $ty:ty),* $(,)?); $($rest:tt)*) => {
        events!(@one [unsafe] $(#[$attr])* $name($($arg: $ty),*));
        events!($($rest)*);
    };
    ($(#[$attr:meta])* fn $name:ident($($arg:ident: $ty:ty),* $(,)?); $($rest:tt)*) => {
        events!(@one [] $(#[$attr])* $name($($arg: $ty),*));
        events!($($rest)*);
    };
    (@one [$($unsafe:tt)?] $(#[$attr:meta])* $name:ident($($arg:ident: $ty:ty),*)) => {
        kernel::macros::paste! {
            // `struct tracepoint` ends in a flexible array, which Rust calls
            // FFI-unsafe; only the static's address and key are used.
            #[cfg(CONFIG_TRACEPOINTS)]
            #[allow(improper_ctypes)]
            extern "C" {
                static [<__tracepoint_ $name>]: bindings::tracepoint;
                fn [<rust_do_trace_ $name>]($($arg: $ty),*);
            }

            $(#[$attr])*
            #[inline(always)]
            pub(crate) $($unsafe)? fn $name($($arg: $ty),*) {
                #[cfg(CONFIG_TRACEPOINTS)]
                {
                    // SAFETY: the tracepoint is a static defined by
                    // syslet_events.c in this module; querying its key is
                    // always allowed.
                    let on = unsafe {
                        kernel::static_branch_unlikely!(
                            [<__tracepoint_ $name>],
                            bindings::tracepoint,
                            key
                        )
                    };
                    if on {
                        // SAFETY: an event may fire in any context; the
                        // caller meets the event's precondition, if any.
                        unsafe { [<rust_do_trace_ $name>]($($arg),*) };
                    }
                }
                #[cfg(not(CONFIG_TRACEPOINTS))]
                {
                    $(let _ = $arg;)*
                }
            }
        }
    };
}

events! {
    /// A submission arrives: how many chains, its flags and timeout.
    fn syslet_submit(nr_chains: u32, flags: u32, timeout_ns: i64);

    /// An atom ran, or was refused (`result` is then the chain's errno).
    fn syslet_atom(cookie: u64, nr: u32, result: i64);

    /// A chain went asynchronous: `program` took the program's context (and
    /// its thread id), `carrier` carries the chain.
    ///
    /// # Safety
    ///
    /// Both tasks must be alive for the duration of the call.
    unsafe fn syslet_handoff(
        cookie: u64,
        program: *mut bindings::task_struct,
        carrier: *mut bindings::task_struct,
    );

    /// A completion was posted, to the overflow if the ring was full.
    fn syslet_complete(cookie: u64, result: i64, flags: u32, atoms_run: u32, overflow: bool);

    /// `SYSLET_IOC_CANCEL` marked `matched` chains that `carrier` carries.
    ///
    /// # Safety
    ///
    /// `carrier` must be alive for the duration of the call.
    unsafe fn syslet_cancel(
        cookie: u64,
        all: bool,
        matched: u32,
        carrier: *mut bindings::task_struct,
    );

    /// A submission's deadline passed; `task` runs or carries it.
    ///
    /// # Safety
    ///
    /// `task` must be alive for the duration of the call.
    unsafe fn syslet_timeout(task: *mut bindings::task_struct);
}

// SPDX-License-Identifier: GPL-2.0

// Copyright (C) 2026 The syslet authors.

//! The references to a context's file that are not its users' descriptors.
//!
//! A submission in progress, the rest of a batch carried on by a spare and
//! every thread-free I/O in flight hold a reference to the context's file,
//! so that the context outlives them. A chain that never ends (a read of a
//! pipe nobody writes) would then keep the file open for ever once the
//! program closed its last descriptor; so each `close()` (`flush`) compares
//! the file's count with these and, when only they are left, cancels what
//! is queued. Counting them must never make a user's descriptor look like
//! one of them: a context orphaned while the program can still use it
//! loses every completion.
//!
//! So a reference is counted only once it is taken and uncounted before it
//! is dropped (the file's count never holds fewer), and [`HeldRefs`] keeps,
//! beside the references held, how many were ever counted: two equal reads
//! of it around a read of the file's count mean that nothing was counted
//! or dropped in between, and the file's count then held at least these.

use kernel::{
    bindings,
    fs::File,
    sync::{
        atomic::{
            Acquire,
            Atomic,
            Relaxed,
            Release, //
        },
        barrier::{
            smp_mb,
            Read, //
        },
    },
};

/// One counted reference: one more held (low half), one more ever counted
/// (high half; wraps after 2^32 references, far more than can come and go
/// between two reads a few instructions apart).
const ONE: u64 = 1 | 1 << 32;
const HELD: u64 = u32::MAX as u64;

/// The references to a context's file held by its submissions, spares and
/// I/O (see the module's documentation).
pub(crate) struct HeldRefs(Atomic<u64>);

impl HeldRefs {
    pub(crate) const fn new() -> Self {
        Self(Atomic::new(0))
    }

    /// A reference to the file was just taken: counts it.
    #[inline]
    pub(crate) fn count(&self) {
        // Release: after the reference itself, which `only_these` relies
        // on (the file's count is never below what this says).
        self.0.fetch_add(ONE, Release);
    }

    /// A counted reference is about to be dropped: uncounts it. The drop
    /// (`fput()`, a fully ordered decrement) comes after this.
    #[inline]
    pub(crate) fn uncount(&self) {
        self.0.fetch_sub(1u64, Relaxed);
    }

    /// Whether every reference to `file` but one (the caller's, a
    /// descriptor being closed) is counted here. May answer no while a
    /// reference is being taken or dropped; never yes while a descriptor
    /// other than the caller's is open.
    pub(crate) fn only_these(&self, file: &File) -> bool {
        loop {
            let before = self.0.load(Acquire);
            // SAFETY: `file` is valid for the call.
            let refs = unsafe { bindings::file_count(file.as_ptr()) } as u64;
            smp_mb(Read);
            let after = self.0.load(Relaxed);
            if before == after {
                // Nothing counted or uncounted while `refs` was read: it
                // held at least these then.
                return refs <= (before & HELD) + 1;
            }
        }
    }
}

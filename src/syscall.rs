// SPDX-License-Identifier: GPL-2.0

// Copyright (C) 2026 The syslet authors.

//! One system call of an atom: the caller's seccomp filters, then the call.
//!
//! Both go through hooks of the kernel series (patch 4):
//! `seccomp_check_syscall()` and `arch_syscall_exec()`. A call runs on a
//! register frame ([`Frame`]) that a chain builds once and reuses: the call
//! only reads it, and each atom changes the number and the six arguments.
//! A frame built per call was 168 bytes zeroed per atom, more work than a
//! cheap system call does. x86-64 only, as the allowlist (`policy`) is.

use core::mem::{
    align_of,
    size_of,
    MaybeUninit, //
};
use kernel::{
    bindings,
    ffi::{
        c_long,
        c_ulong, //
    },
};

/// What the caller's seccomp filters say of a call.
pub(crate) enum Verdict {
    /// It may run.
    Run,
    /// It may not; this is its result.
    Denied(i64),
    /// A KILL action: SIGSYS is forced on current, the process must die.
    Killed,
}

/// The caller's seccomp filters on system call `nr` with `args`. `nr` is an
/// allowed call (`policy`) or `restart_syscall`.
#[inline]
pub(crate) fn seccomp(nr: u32, args: &[u64; 6]) -> Verdict {
    let mut denied: c_long = 0;
    // SAFETY: `args` is an array of six `unsigned long`s (see
    // `as_c_ulongs`) that lives across the call, and `denied` is a valid
    // place for the returned value. Allowed numbers are below 512, so `nr`
    // fits an `int`.
    let verdict =
        unsafe { bindings::seccomp_check_syscall(nr as i32, as_c_ulongs(args), &mut denied) };
    match verdict as u32 {
        bindings::SECCOMP_CHECK_RUN => Verdict::Run,
        bindings::SECCOMP_CHECK_KILLED => Verdict::Killed,
        // `c_long` is 64 bits on x86-64, the only architecture built.
        _ => Verdict::Denied(denied as i64),
    }
}

/// The six arguments as C's `unsigned long[6]`, in place: on x86-64, the
/// only architecture built, `unsigned long` is 64 bits (checked at build
/// time). Converting them one by one cost every atom tens of instructions.
fn as_c_ulongs(args: &[u64; 6]) -> *const c_ulong {
    const _: () = assert!(size_of::<c_ulong>() == size_of::<u64>());
    const _: () = assert!(align_of::<c_ulong>() == align_of::<u64>());
    args.as_ptr().cast()
}

/// A register frame for `arch_syscall_exec()`: built once per chain, by
/// its first system call (a chain of thread-free I/O or `SYSLET_OP_ADD`
/// never zeroes its 168 bytes), and each call sets its number and
/// arguments. Not the task's user register frame, which the calls leave
/// alone.
///
/// # Invariants
///
/// `regs` is initialised if `ready`.
pub(crate) struct Frame {
    regs: MaybeUninit<bindings::pt_regs>,
    ready: bool,
}

impl Frame {
    /// A frame not built yet.
    #[inline]
    pub(crate) fn new() -> Self {
        // INVARIANT: not ready.
        Self {
            regs: MaybeUninit::uninit(),
            ready: false,
        }
    }

    /// Runs system call `nr` with `args`, which the allowlist (`policy`)
    /// and [`seccomp`] let run, or `restart_syscall`. Returns restart codes
    /// as they are.
    #[inline]
    pub(crate) fn exec(&mut self, nr: u32, args: &[u64; 6]) -> i64 {
        if !self.ready {
            // INVARIANT: initialised (zeros) before `ready` says so.
            self.regs.write(pin_init::zeroed());
            self.ready = true;
        }
        // SAFETY: initialised (type invariant, `ready` just above).
        let regs = unsafe { self.regs.assume_init_mut() };
        // Where the x86-64 system call entry leaves them (`c_ulong` is
        // 64 bits, see `as_c_ulongs`).
        regs.di = args[0] as c_ulong;
        regs.si = args[1] as c_ulong;
        regs.dx = args[2] as c_ulong;
        regs.r10 = args[3] as c_ulong;
        regs.r8 = args[4] as c_ulong;
        regs.r9 = args[5] as c_ulong;
        regs.orig_ax = nr as c_ulong;
        // SAFETY: the frame is valid and lives across the call, which only
        // reads it. An allowed system call takes its arguments from the
        // frame's argument registers and none works on the task's own
        // register frame (see `policy`); we are in process context inside
        // the caller's ioctl. `restart_syscall` takes no argument and runs
        // the restart block the interrupted call of this atom just set.
        (unsafe { bindings::arch_syscall_exec(regs) }) as i64
    }
}

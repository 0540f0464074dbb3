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

use core::{
    mem::{
        align_of,
        size_of,
        MaybeUninit, //
    },
    ptr::addr_of_mut,
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

/// A register frame for `arch_syscall_exec()`: built once per chain, and
/// each call sets its number and arguments. Not the task's user register
/// frame, which the calls leave alone.
///
/// # Invariants
///
/// Every field but the six argument registers and `orig_ax` is zero; those
/// seven are written by [`Frame::exec`] before each call, so the frame is
/// whole whenever a call reads it.
pub(crate) struct Frame(MaybeUninit<bindings::pt_regs>);

impl Frame {
    /// A frame whose every other register is zero.
    ///
    /// Not `zeroed()`: 168 bytes of zeros became a call to `memset()`, 63
    /// instructions a chain here (its generic loop), where the 14 words
    /// the calls do not write take 14 stores.
    #[inline(always)]
    pub(crate) fn new() -> Self {
        let mut regs = MaybeUninit::<bindings::pt_regs>::uninit();
        let p = regs.as_mut_ptr();
        // SAFETY: `p` points to a `pt_regs` of ours, valid for writes;
        // each field is written through a raw pointer, no reference to
        // the uninitialised whole is made.
        unsafe {
            addr_of_mut!((*p).r15).write(0);
            addr_of_mut!((*p).r14).write(0);
            addr_of_mut!((*p).r13).write(0);
            addr_of_mut!((*p).r12).write(0);
            addr_of_mut!((*p).bp).write(0);
            addr_of_mut!((*p).bx).write(0);
            addr_of_mut!((*p).r11).write(0);
            addr_of_mut!((*p).ax).write(0);
            addr_of_mut!((*p).cx).write(0);
            addr_of_mut!((*p).ip).write(0);
            addr_of_mut!((*p).__bindgen_anon_1).write(bindings::pt_regs__bindgen_ty_1 { csx: 0 });
            addr_of_mut!((*p).flags).write(0);
            addr_of_mut!((*p).sp).write(0);
            addr_of_mut!((*p).__bindgen_anon_2).write(bindings::pt_regs__bindgen_ty_2 { ssx: 0 });
        }
        // INVARIANT: every field but the seven `exec` writes is zero.
        Self(regs)
    }

    /// Runs system call `nr` with `args`, which the allowlist (`policy`)
    /// and [`seccomp`] let run, or `restart_syscall`. Returns restart codes
    /// as they are.
    ///
    /// Always inlined: out of line (as the compiler chose once the frame
    /// was built field by field) it cost every atom 15 instructions.
    #[inline(always)]
    pub(crate) fn exec(&mut self, nr: u32, args: &[u64; 6]) -> i64 {
        let p = self.0.as_mut_ptr();
        // Where the x86-64 system call entry leaves them (`c_ulong` is
        // 64 bits, see `as_c_ulongs`).
        // SAFETY: `p` points to our frame, valid for writes.
        unsafe {
            addr_of_mut!((*p).di).write(args[0] as c_ulong);
            addr_of_mut!((*p).si).write(args[1] as c_ulong);
            addr_of_mut!((*p).dx).write(args[2] as c_ulong);
            addr_of_mut!((*p).r10).write(args[3] as c_ulong);
            addr_of_mut!((*p).r8).write(args[4] as c_ulong);
            addr_of_mut!((*p).r9).write(args[5] as c_ulong);
            addr_of_mut!((*p).orig_ax).write(nr as c_ulong);
        }
        // SAFETY: the frame is whole (type invariant, and the seven
        // registers just written) and lives across the call, which only
        // reads it. An allowed system call takes its arguments from the
        // frame's argument registers and none works on the task's own
        // register frame (see `policy`); we are in process context inside
        // the caller's ioctl. `restart_syscall` takes no argument and runs
        // the restart block the interrupted call of this atom just set.
        (unsafe { bindings::arch_syscall_exec(p) }) as i64
    }
}

// SPDX-License-Identifier: GPL-2.0

// Copyright (C) 2026 The syslet authors.

//! Word-sized user accesses of the hot paths, implemented in C
//! (`user_words.c`): the atoms the interpreter reads and the words it
//! writes, and a submission's request, outcomes and report.
//!
//! The kernel crate's `UserSlice` copies go out of line to
//! `rep_movs_alternative()` whatever their size, which cost an atom more
//! than a cheap system call does; the kernel's word-sized accessors are
//! C macros. Every user address may be given: the C side checks it, and a
//! bad one is `EFAULT`.

use kernel::{
    ffi::c_int,
    prelude::*, //
};

use crate::uapi;

extern "C" {
    fn syslet_read_atom(atom: *mut uapi::syslet_atom, addr: u64) -> c_int;
    fn syslet_read_u64(value: *mut u64, addr: u64) -> c_int;
    fn syslet_write_s64(addr: u64, value: i64) -> c_int;
    fn syslet_read_submit(req: *mut uapi::syslet_submit, addr: u64) -> c_int;
    fn syslet_write_report(addr: u64, done: u32, queued: u32) -> c_int;
    fn syslet_write_outcome(addr: u64, out: *const uapi::syslet_outcome) -> c_int;
}

/// What the C accessors return (0 or `-EFAULT`) as a `Result`, inline:
/// `to_result()` is a call of its own.
#[inline(always)]
fn faulted(ret: c_int) -> Result {
    if ret == 0 {
        Ok(())
    } else {
        Err(EFAULT)
    }
}

/// Reads the atom at user address `addr` into `atom`, in place: an atom
/// is 80 bytes, and moving it costs more than reading it. After an error
/// `atom` may be partly overwritten.
#[inline]
pub(crate) fn read_atom(atom: &mut uapi::syslet_atom, addr: u64) -> Result {
    // SAFETY: `atom` is valid for writes of a `struct syslet_atom`, which
    // `uapi` is bindgen's rendering of (the header user_words.c includes),
    // and every bit pattern is a valid one.
    faulted(unsafe { syslet_read_atom(atom, addr) })
}

/// The 64-bit word at user address `addr`.
#[inline]
pub(crate) fn read_u64(addr: u64) -> Result<u64> {
    let mut value = 0;
    // SAFETY: `value` is valid for writes of a `u64`.
    faulted(unsafe { syslet_read_u64(&mut value, addr) })?;
    Ok(value)
}

/// Stores `value` in the 64-bit word at user address `addr`.
#[inline]
pub(crate) fn write_i64(addr: u64, value: i64) -> Result {
    // SAFETY: no kernel pointer is passed.
    faulted(unsafe { syslet_write_s64(addr, value) })
}

/// The `struct syslet_submit` at user address `addr`.
#[inline]
pub(crate) fn read_submit(addr: u64) -> Result<uapi::syslet_submit> {
    let mut req = uapi::syslet_submit::default();
    // SAFETY: `req` is valid for writes of a `struct syslet_submit`, which
    // `uapi` is bindgen's rendering of, and every bit pattern is a valid
    // one.
    faulted(unsafe { syslet_read_submit(&mut req, addr) })?;
    Ok(req)
}

/// Writes `done` and `queued` into the `struct syslet_submit` at user
/// address `addr`, the fields the kernel reports in; the others stay as
/// the program left them.
#[inline]
pub(crate) fn write_report(addr: u64, done: u32, queued: u32) -> Result {
    // SAFETY: no kernel pointer is passed.
    faulted(unsafe { syslet_write_report(addr, done, queued) })
}

/// Writes `out` as the `struct syslet_outcome` at user address `addr`.
#[inline]
pub(crate) fn write_outcome(addr: u64, out: &uapi::syslet_outcome) -> Result {
    // SAFETY: `out` is a valid `struct syslet_outcome` for reads during
    // the call.
    faulted(unsafe { syslet_write_outcome(addr, out) })
}

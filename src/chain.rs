// SPDX-License-Identifier: GPL-2.0

// Copyright (C) 2026 The syslet authors.

//! The atom interpreter: runs one chain in the caller's context.
//!
//! Atoms live in user memory and are read one at a time, just before they
//! run, so that a chain can be changed by its own results (an argument read
//! through a pointer sees the result an earlier atom stored). Every user
//! access is a checked copy: a bad address ends the chain with `EFAULT`, it
//! never reaches the ioctl. Between two atoms the chain gives up the CPU if
//! needed and ends on a fatal signal; the atom budget bounds every loop.

use core::mem::size_of;
use kernel::{
    bindings,
    prelude::*, //
};

use crate::{
    buffers::Slice,
    context::Context,
    direct_io::{
        self,
        InFlight,
        Issued, //
    },
    policy,
    stats::Stats,
    syscall::{
        self,
        Frame,
        Verdict, //
    },
    trace,
    uapi,
    user_words::{
        read_atom,
        read_u64,
        write_i64, //
    },
};

const ATOM_SIZE: usize = size_of::<uapi::syslet_atom>();

/// An atom's result when a signal, a cancel or the deadline interrupted
/// it: `-EINTR`, as a constant (`Error::to_errno()` is a call per atom).
const EINTR_RESULT: i64 = -(bindings::EINTR as i64);

/// One bit per argument: the argument is the address of its value.
const ARG_POINTERS: u32 = 0x3f;

/// Stop and skip flags, one argument-pointer bit per argument, the
/// fixed-buffer flag and its index (which [`run_atom`] checks further).
const KNOWN_FLAGS: u32 = ARG_POINTERS
    | uapi::SYSLET_ATOM_STOP_NONZERO
    | uapi::SYSLET_ATOM_STOP_ZERO
    | uapi::SYSLET_ATOM_STOP_NEGATIVE
    | uapi::SYSLET_ATOM_STOP_NONPOSITIVE
    | uapi::SYSLET_ATOM_SKIP_ON_STOP
    | FIXED_BUFFER;

/// `SYSLET_ATOM_FIXED_BUFFER` and the bits above the flags that hold its
/// index: one test tells an atom that uses neither.
const FIXED_BUFFER: u32 = uapi::SYSLET_ATOM_FIXED_BUFFER | BUFFER_INDEX;
const BUFFER_INDEX: u32 = 0xffff_0000;

/// x86-64's `gettid`: on a carrier, the program thread's id (see [`call`]).
const NR_GETTID: u32 = 186;

/// x86-64's `pread64` and `pwrite64`, the calls a fixed buffer serves.
const NR_PREAD64: u32 = 17;
const NR_PWRITE64: u32 = 18;

/// Whether a system call's return value `ret` is one of the errnos of a
/// call that was interrupted and would be restarted on its way back to
/// user space: `ERESTARTSYS`, `ERESTARTNOINTR`, `ERESTARTNOHAND` and
/// `ERESTART_RESTARTBLOCK` (515 between them is `ENOIOCTLCMD`, not a
/// restart). An atom that a signal (or a cancel, or the deadline)
/// interrupted reports `EINTR`; one that only task work interrupted is
/// restarted (see [`run`]).
///
/// Compared as returned, never negated: a call may return any 64-bit value
/// (`lseek()` of `/proc/<pid>/mem` returns the offset it was given, down to
/// `i64::MIN`), whose negation overflows.
fn is_restart(ret: i64) -> bool {
    matches!(ret, -514..=-512 | ERESTART_RESTARTBLOCK)
}

/// Whether x86-64's system call `nr` installs a signal mask of its own
/// for its wait (`pselect6`, `ppoll`, `epoll_pwait`, `epoll_pwait2`),
/// which it leaves in place when a signal interrupts it.
/// Every other call is numbered below 270: one test for them, which the
/// chain makes after every atom.
#[inline(always)]
pub(crate) fn sets_signal_mask(nr: u32) -> bool {
    nr >= 270 && matches!(nr, 270 | 271 | 281 | 441)
}

/// `-ERESTART_RESTARTBLOCK`: the call continues through `restart_syscall`.
const ERESTART_RESTARTBLOCK: i64 = -516;
/// x86-64's `restart_syscall`, which runs `current->restart_block`.
const NR_RESTART_SYSCALL: u32 = 219;
/// Restarts of one atom after task work, at most: task work queued again
/// and again (a busy io_uring) cannot keep an atom from ending.
const MAX_RESTARTS: u32 = 64;

/// How a chain ended; becomes a `struct syslet_outcome`.
#[derive(Default, Clone)]
pub(crate) struct Outcome {
    cookie: u64,
    result: i64,
    last_atom: u64,
    atoms_run: u32,
    flags: u32,
    /// The chain's last atom is I/O in flight (`direct_io`): its
    /// completion posts the outcome, nobody else does.
    in_flight: bool,
}

impl Outcome {
    pub(crate) fn to_uapi(&self) -> uapi::syslet_outcome {
        uapi::syslet_outcome {
            cookie: self.cookie,
            result: self.result,
            last_atom: self.last_atom,
            atoms_run: self.atoms_run,
            flags: self.flags,
        }
    }

    /// Whether the chain ends with I/O in flight, which posts its
    /// completion itself.
    pub(crate) fn in_flight(&self) -> bool {
        self.in_flight
    }

    /// The outcome of a chain whose last atom, I/O issued when this was
    /// its outcome, finished with `result`; `atom_flags` are its flags.
    pub(crate) fn completed(&self, result: i64, atom_flags: u32) -> Self {
        let mut out = Self {
            result,
            atoms_run: self.atoms_run + 1,
            in_flight: false,
            ..self.clone()
        };
        if stops(atom_flags, result) {
            out.flags |= uapi::SYSLET_OUTCOME_STOPPED;
        }
        out
    }

    /// Whether a seccomp KILL action ended the chain: the process must die.
    pub(crate) fn killed(&self) -> bool {
        self.flags & uapi::SYSLET_OUTCOME_KILLED != 0
    }

    fn abort(&mut self, err: Error) {
        self.result = err.to_errno().into();
        self.flags |= uapi::SYSLET_OUTCOME_ABORTED;
    }

    fn stop(&mut self, why: Halt) {
        let (err, flag) = match why {
            Halt::Cancelled => (ECANCELED, uapi::SYSLET_OUTCOME_CANCELLED),
            Halt::TimedOut => (ETIME, uapi::SYSLET_OUTCOME_TIMED_OUT),
            Halt::IdentityChanged => (EPERM, uapi::SYSLET_OUTCOME_ABORTED),
        };
        self.result = err.to_errno().into();
        self.flags |= flag;
    }

    /// A chain that starts at `first`, with `cookie`, before its first
    /// atom runs.
    fn unstarted(first: u64, cookie: u64) -> Self {
        Self {
            cookie,
            last_atom: first,
            ..Self::default()
        }
    }

    /// The outcome of a chain stopped before it started: no atom ran.
    pub(crate) fn stopped_before_start(first: u64, cookie: u64, why: Halt) -> Self {
        let mut out = Self::unstarted(first, cookie);
        out.stop(why);
        out
    }

    /// The outcome of a chain that could not start: no atom ran.
    pub(crate) fn failed_before_start(first: u64, cookie: u64, err: Error) -> Self {
        let mut out = Self::unstarted(first, cookie);
        out.abort(err);
        out
    }

    /// Counts the chain in `stats` if `SYSLET_IOC_CANCEL` or a deadline
    /// stopped it.
    #[inline]
    pub(crate) fn count_halt(&self, stats: &Stats) {
        if self.flags & uapi::SYSLET_OUTCOME_CANCELLED != 0 {
            Stats::bump(&stats.cancelled);
        }
        if self.flags & uapi::SYSLET_OUTCOME_TIMED_OUT != 0 {
            Stats::bump(&stats.timed_out);
        }
    }
}

/// Why a chain was stopped from outside.
#[derive(Clone, Copy)]
pub(crate) enum Halt {
    /// `SYSLET_IOC_CANCEL`: `-ECANCELED`.
    Cancelled,
    /// The submission's deadline passed: `-ETIME`.
    TimedOut,
    /// A carried chain's program thread no longer has the identity the
    /// chain runs with: `-EPERM`, as an aborted chain.
    IdentityChanged,
}

/// Where a chain learns that it must stop (`SYSLET_IOC_CANCEL`, a
/// deadline).
pub(crate) trait Stop {
    /// The chain is about to run the atom with `cookie`: whether it must
    /// stop instead, and why.
    fn before_atom(&self, cookie: u64) -> Option<Halt>;
    /// An atom returned EINTR: whether it was interrupted to stop the
    /// chain, and why.
    fn interrupted(&self) -> Option<Halt>;
    /// Whether the chain is being stopped (so that an interrupted call
    /// must not be restarted); changes nothing.
    fn stopping(&self) -> bool;
    /// Atom `nr`'s call returned (or did not run).
    fn after_atom(&self, nr: u32);
    /// Whether the chain runs on a carrier, a thread of its own that runs
    /// no user code (after a hand-off).
    fn carried(&self) -> bool;
    /// On a carrier, the id of the program thread its context went to, as
    /// current sees it (`gettid()` in that thread); `None` otherwise.
    fn thread_id(&self) -> Option<i64>;
}

/// Whether `result` meets one of the stop conditions in `flags`.
/// Most atoms have none: one test for them.
#[inline]
fn stops(flags: u32, result: i64) -> bool {
    use uapi::{
        SYSLET_ATOM_STOP_NEGATIVE as NEGATIVE,
        SYSLET_ATOM_STOP_NONPOSITIVE as NONPOSITIVE,
        SYSLET_ATOM_STOP_NONZERO as NONZERO,
        SYSLET_ATOM_STOP_ZERO as ZERO, //
    };
    if flags & (NONZERO | ZERO | NEGATIVE | NONPOSITIVE) == 0 {
        return false;
    }
    // The conditions `result` meets.
    let met = match result {
        ..0 => NONZERO | NEGATIVE | NONPOSITIVE,
        0 => ZERO | NONPOSITIVE,
        _ => NONZERO,
    };
    flags & met != 0
}

/// `SYSLET_OP_ADD`: `*args[0] += args[1]`, returning the new value. Not
/// atomic with respect to other threads writing the same word.
fn op_add(args: &[u64; 6]) -> Result<i64> {
    // The word is a signed 64-bit counter: reinterpret the bits.
    let value = (read_u64(args[0])? as i64).wrapping_add(args[1] as i64);
    write_i64(args[0], value)?;
    Ok(value)
}

/// Runs system call `nr`, allowed by the allowlist (or `restart_syscall`):
/// seccomp, then the call on `frame`. Returns restart codes as they are.
fn syscall(
    ctx: &Context,
    frame: &mut Frame,
    nr: u32,
    args: &[u64; 6],
) -> core::result::Result<i64, AtomError> {
    if let Some(denied) = seccomp(ctx, nr, args)? {
        return Ok(denied);
    }
    Ok(frame.exec(nr, args))
}

/// The caller's seccomp filters on system call `nr`: `None` if it may run,
/// else the result it has instead.
#[inline]
fn seccomp(ctx: &Context, nr: u32, args: &[u64; 6]) -> core::result::Result<Option<i64>, AtomError> {
    match syscall::seccomp(nr, args) {
        Verdict::Run => Ok(None),
        Verdict::Denied(result) => {
            Stats::bump(&ctx.stats.seccomp_denied);
            Ok(Some(result))
        }
        Verdict::Killed => {
            Stats::bump(&ctx.stats.seccomp_denied);
            Err(AtomError::Killed)
        }
    }
}

/// Runs the chain that starts at user address `first`; `stop` says when
/// it was cancelled.
pub(crate) fn run(ctx: &Context, first: u64, stop: &(impl Stop + InFlight)) -> Outcome {
    let mut out = Outcome::default();
    let budget = ctx.atom_budget();
    let mut addr = first;
    let mut frame = Frame::new();
    let mut atom = uapi::syslet_atom::default();

    while addr != 0 {
        if out.atoms_run >= budget {
            out.abort(ELOOP);
            break;
        }
        // SAFETY: no preconditions; we are in process context.
        if unsafe { bindings::syslet_atom_boundary() } != 0 {
            out.abort(EINTR);
            break;
        }
        out.last_atom = addr;
        if let Err(e) = read_atom(&mut atom, addr) {
            out.abort(e);
            break;
        }
        out.cookie = atom.cookie;
        if atom.flags & !KNOWN_FLAGS != 0 {
            out.abort(EINVAL);
            break;
        }
        if let Some(why) = stop.before_atom(atom.cookie) {
            out.stop(why);
            break;
        }
        // The fixed-buffer bits pick the instance of `run_atom` that
        // handles them: the other carries nothing of them.
        let ran = if atom.flags & FIXED_BUFFER == 0 {
            run_atom::<false>(ctx, &mut frame, &atom, &out, stop)
        } else {
            run_fixed_atom(ctx, &mut frame, &atom, &out, stop)
        };
        stop.after_atom(atom.nr);
        trace::syslet_atom(
            atom.cookie,
            atom.nr,
            match &ran {
                Ok(result) => *result,
                Err(AtomError::Chain(e)) => i64::from(e.to_errno()),
                Err(AtomError::Killed) => EINTR_RESULT,
                Err(AtomError::InFlight) => -i64::from(bindings::EIOCBQUEUED),
            },
        );
        match ran {
            // An interrupted sleep: a cancellation or the deadline (a
            // carrier blocks every signal; the caller's own chains may also
            // see a signal, which `interrupted` tells apart).
            Ok(EINTR_RESULT) => match stop.interrupted() {
                Some(why) => {
                    out.stop(why);
                    out.atoms_run += 1;
                    if atom.result != 0 {
                        // The chain ends here whether or not this works.
                        let _ = write_i64(atom.result, out.result);
                    }
                    break;
                }
                None => out.result = EINTR_RESULT,
            },
            Ok(result) => out.result = result,
            Err(AtomError::Chain(e)) => {
                out.abort(e);
                break;
            }
            Err(AtomError::Killed) => {
                out.abort(EINTR);
                out.flags |= uapi::SYSLET_OUTCOME_KILLED;
                break;
            }
            // The last atom: its completion writes its result word.
            Err(AtomError::InFlight) => {
                out.atoms_run += 1;
                out.in_flight = true;
                break;
            }
        }
        out.atoms_run += 1;
        if atom.result != 0 {
            if let Err(e) = write_i64(atom.result, out.result) {
                out.abort(e);
                break;
            }
        }
        if stops(atom.flags, out.result) {
            if atom.flags & uapi::SYSLET_ATOM_SKIP_ON_STOP == 0 {
                out.flags |= uapi::SYSLET_OUTCOME_STOPPED;
                break;
            }
            // The linearly next atom; an address that wraps cannot be read.
            addr = addr.checked_add(ATOM_SIZE as u64).unwrap_or(0);
            if addr == 0 {
                out.abort(EFAULT);
                break;
            }
            continue;
        }
        addr = atom.next;
    }
    // Once per chain, not per atom: the counters are shared by every thread
    // of the process that submits to this context.
    Stats::add(&ctx.stats.atoms, out.atoms_run);
    if out.flags & uapi::SYSLET_OUTCOME_ABORTED != 0 {
        Stats::bump(&ctx.stats.aborted);
    }
    out.count_halt(&ctx.stats);
    Stats::bump(&ctx.stats.chains);
    out
}

/// Why an atom gave no result.
enum AtomError {
    /// An error of the chain itself (bad pointer, refused call...).
    Chain(Error),
    /// A seccomp KILL action: the process must die.
    Killed,
    /// I/O in flight, the chain's last atom (`direct_io`).
    InFlight,
}

impl From<Error> for AtomError {
    fn from(e: Error) -> Self {
        Self::Chain(e)
    }
}

/// Resolves the arguments of one atom and runs it. `FIXED`: whether the
/// atom has fixed-buffer bits (`SYSLET_ATOM_FIXED_BUFFER` or an index),
/// so that the instance for the others has no code for them.
///
/// A system call interrupted by task work alone -- `TIF_NOTIFY_SIGNAL`
/// with no signal pending and no stop of ours, as io_uring queues for a
/// task that used a ring -- is restarted as the way back to user space
/// would restart it: the task work runs, then the same call again, or
/// `restart_syscall` for `ERESTART_RESTARTBLOCK` (a nanosleep goes on for
/// the time left). Any other interruption is `EINTR`, which [`run`] tells
/// apart from a stop.
fn run_atom<const FIXED: bool>(
    ctx: &Context,
    frame: &mut Frame,
    atom: &uapi::syslet_atom,
    out: &Outcome,
    stop: &(impl Stop + InFlight),
) -> core::result::Result<i64, AtomError> {
    // Most atoms take no argument through a pointer: no copy for them.
    let mut resolved;
    let args = if atom.flags & ARG_POINTERS == 0 {
        &atom.args
    } else {
        resolved = atom.args;
        for (n, arg) in resolved.iter_mut().enumerate() {
            if atom.flags & (1 << n) != 0 {
                *arg = read_u64(*arg)?;
            }
        }
        &resolved
    };
    let nr = match atom.nr {
        uapi::SYSLET_OP_ADD => return Ok(op_add(args)?),
        nr if nr >= uapi::SYSLET_OP_BASE => return Err(EINVAL.into()),
        nr => nr,
    };
    if !policy::allowed(nr) {
        Stats::bump(&ctx.stats.refused);
        return Err(EOPNOTSUPP.into());
    }
    if !FIXED {
        if let Some(denied) = seccomp(ctx, nr, args)? {
            return Ok(denied);
        }
        return call(ctx, frame, atom, nr, args, None, out, stop);
    }
    // An atom with `SYSLET_ATOM_FIXED_BUFFER` or its index bits. An index
    // without the flag, the flag on another call: a bad atom. The buffer
    // is checked for every such atom, whichever way it then runs, so that
    // a bad one fails the same way on each.
    if atom.flags & uapi::SYSLET_ATOM_FIXED_BUFFER == 0 || (nr != NR_PREAD64 && nr != NR_PWRITE64) {
        return Err(EINVAL.into());
    }
    if let Some(denied) = seccomp(ctx, nr, args)? {
        return Ok(denied);
    }
    let index = atom.flags >> BUFFER_INDEX.trailing_zeros();
    let slice = match ctx.buffers.as_ref() {
        Some(buffers) => buffers.slice(index, args[1], args[2]),
        None => Err(EFAULT),
    };
    match slice {
        Ok(slice) => call(ctx, frame, atom, nr, args, Some(&slice), out, stop),
        Err(_) => Ok(-i64::from(bindings::EFAULT)),
    }
}

/// `run_atom` for an atom with fixed-buffer bits, out of line: inlined
/// too, it made the loop of every chain longer.
#[inline(never)]
fn run_fixed_atom(
    ctx: &Context,
    frame: &mut Frame,
    atom: &uapi::syslet_atom,
    out: &Outcome,
    stop: &(impl Stop + InFlight),
) -> core::result::Result<i64, AtomError> {
    run_atom::<true>(ctx, frame, atom, out, stop)
}

/// Runs the call of an atom that seccomp let run: as thread-free I/O
/// (into or from `fixed`, if given) when it can be, else as the system
/// call, restarted as [`run_atom`] says.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn call(
    ctx: &Context,
    frame: &mut Frame,
    atom: &uapi::syslet_atom,
    nr: u32,
    args: &[u64; 6],
    fixed: Option<&Slice<'_>>,
    out: &Outcome,
    stop: &(impl Stop + InFlight),
) -> core::result::Result<i64, AtomError> {
    // The carrier has the id the spare had; the program thread, which a
    // `gettid` atom asks about, has the caller's.
    if nr == NR_GETTID {
        if let Some(tid) = stop.thread_id() {
            return Ok(tid);
        }
    }
    if direct_io::candidate(nr, atom) {
        match direct_io::issue(ctx, nr, atom, args, fixed, out, stop) {
            Issued::InFlight => return Err(AtomError::InFlight),
            Issued::Done(result) => return Ok(result),
            Issued::Declined => {}
        }
    }
    let mut ret = frame.exec(nr, args);
    let mut restarts = 0;
    // Only an interrupted call is restarted, as on the way to user space,
    // which looks at a restart errno only with a signal or a notification
    // pending: without one, the value is what the call returned (`lseek()`
    // of `/proc/<pid>/mem` can return -512) and the atom reports it.
    while is_restart(ret) && kernel::current!().signal_pending() {
        // `stopping()` again once the notification is cleared: a cancel or
        // deadline marks the chain before it interrupts the task, so one
        // that came in between is seen here or interrupts the restart.
        if restarts == MAX_RESTARTS
            || stop.stopping()
            || !only_task_work(stop.carried())
            || stop.stopping()
        {
            return Ok(EINTR_RESULT);
        }
        restarts += 1;
        // The way to user space restores the mask before a restart: the
        // call saves current's again (see `Stop::after_atom`).
        if !stop.carried() && sets_signal_mask(nr) {
            // SAFETY: no preconditions; process context, current runs the
            // program, between two system calls.
            unsafe { bindings::syslet_restore_sigmask() };
        }
        let again = if ret == ERESTART_RESTARTBLOCK { NR_RESTART_SYSCALL } else { nr };
        ret = syscall(ctx, frame, again, args)?;
    }
    Ok(ret)
}

/// After an interrupted call: runs current's task work and clears
/// `TIF_NOTIFY_SIGNAL` (as the way to user space would), and says whether
/// that was all, no signal being pending. A carrier (`carried`) first
/// takes part in a stop or freeze of its process, as the way to user space
/// would make it (patch 30): the call is then restarted once the process
/// goes on, as a system call is, not failed with `EINTR`.
fn only_task_work(carried: bool) -> bool {
    // SAFETY: no preconditions; process context, no lock held (we are
    // between two system calls of an atom).
    unsafe { bindings::syslet_interrupt_done() };
    if carried {
        // SAFETY: as above; current is a carrier, which blocks every
        // signal but SIGKILL and SIGSTOP and runs no user code.
        return unsafe { bindings::syslet_carrier_stop() };
    }
    !kernel::current!().signal_pending()
}

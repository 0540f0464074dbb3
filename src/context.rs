// SPDX-License-Identifier: GPL-2.0

// Copyright (C) 2026 The syslet authors.

//! A syslet context: the state behind one open file of `/dev/syslet`.
//!
//! A context belongs to the process that opened it. Another process that
//! gets the file (through fork or SCM_RIGHTS) can query the device but not
//! use the context: `EBADFD`.

use core::ptr::NonNull;
use kernel::{
    bindings,
    prelude::*,
    sync::{
        atomic::{
            Acquire,
            Atomic,
            Relaxed,
            Release, //
        },
        SetOnce,
    },
    task::Pid,
};

use crate::{
    buffers::Registered,
    completions::Completions,
    direct_io::DirectIo,
    held_refs::HeldRefs,
    stats::Stats,
    threads::{
        Pool,
        MAX_THREADS, //
    },
    uapi, //
};

/// Atoms one chain may run when set-up does not say.
pub(crate) const DEFAULT_ATOM_BUDGET: u32 = 4096;
/// The largest atom budget set-up accepts.
pub(crate) const MAX_ATOM_BUDGET: u32 = 1 << 20;
/// The most chains one submission takes.
pub(crate) const MAX_BATCH: u32 = 256;
/// Spare threads kept parked when set-up does not say.
pub(crate) const DEFAULT_SPARES: u32 = 2;
/// Cap on a context's threads when set-up does not say.
pub(crate) const DEFAULT_MAX_THREADS: u32 = 8;
/// Cap on pending completions when set-up does not say, and its limit.
pub(crate) const DEFAULT_MAX_PENDING: u32 = 256;
pub(crate) const MAX_PENDING: u32 = 4096;
/// Ring entries when set-up does not say, and their limit.
pub(crate) const DEFAULT_RING_ENTRIES: u32 = 128;
pub(crate) const MAX_RING_ENTRIES: u32 = 4096;

/// Life cycle of a context; only moves forward.
const STATE_NEW: u32 = 0;
const STATE_SETTING_UP: u32 = 1;
const STATE_READY: u32 = 2;

/// The thread group that opened a context: its `struct pid`, referenced.
///
/// # Invariants
///
/// `self.0` is a `struct pid` we hold a reference to (`get_task_pid()`),
/// dropped only by `Drop`.
pub(crate) struct Owner(NonNull<bindings::pid>);

// SAFETY: a `struct pid` reference may be used and dropped from any task.
unsafe impl Send for Owner {}
// SAFETY: only read through the kernel's own functions, which are safe to
// call concurrently.
unsafe impl Sync for Owner {}

impl Owner {
    /// Current's thread group.
    pub(crate) fn current() -> Result<Self> {
        // SAFETY: current is a live task; the reference we get is ours.
        let pid = unsafe {
            bindings::get_task_pid(bindings::get_current(), bindings::pid_type_PIDTYPE_TGID)
        };
        // INVARIANT: a referenced `struct pid`.
        NonNull::new(pid).map(Self).ok_or(ESRCH)
    }

    /// Whether current belongs to the owning thread group.
    fn is_current(&self) -> bool {
        // SAFETY: `self.0` is a referenced `struct pid` (type invariant),
        // only compared with current's; no preconditions otherwise.
        unsafe { syslet_current_tgid_is(self.0.as_ptr().cast()) }
    }

    /// The owner's thread-group id as current's pid namespace sees it, 0
    /// if it cannot see it.
    fn nr_seen_by_current(&self) -> Pid {
        // SAFETY: `self.0` is a referenced `struct pid` (type invariant);
        // current's active namespace is valid while current runs.
        unsafe {
            bindings::pid_nr_ns(
                self.0.as_ptr(),
                bindings::task_active_pid_ns(bindings::get_current()),
            )
        }
    }
}

// task_fields.c.
extern "C" {
    // `struct pid` through `void`: bindgen renders it with a
    // flexible-array member, which Rust's FFI lint rejects.
    fn syslet_current_tgid_is(tgid: *const c_void) -> bool;
}

impl Drop for Owner {
    fn drop(&mut self) {
        // SAFETY: our reference (type invariant).
        unsafe { bindings::put_pid(self.0.as_ptr()) };
    }
}

#[pin_data(PinnedDrop)]
pub(crate) struct Context {
    /// The thread group that opened the context.
    owner: Owner,
    state: Atomic<u32>,
    atom_budget: Atomic<u32>,
    /// File references held by submissions in progress, spares carrying
    /// the rest of a batch and I/O in flight, so that `flush` can tell them
    /// from the users' descriptors.
    pub(crate) held_refs: HeldRefs,
    pub(crate) stats: Stats,
    /// Reads and writes in flight with no thread (`direct_io`); each holds the file,
    /// so none is left when the context goes.
    #[pin]
    pub(crate) direct_io: DirectIo,
    #[pin]
    pub(crate) pool: Pool,
    #[pin]
    pub(crate) completions: Completions,
    /// Buffers pinned for fixed-buffer atoms (`SYSLET_IOC_REGISTER_BUFFERS`):
    /// set once, released with the context, after every I/O that used them.
    pub(crate) buffers: SetOnce<Registered>,
}

impl Context {
    pub(crate) fn new(owner: Owner) -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            owner,
            state: Atomic::new(STATE_NEW),
            atom_budget: Atomic::new(DEFAULT_ATOM_BUDGET),
            held_refs: HeldRefs::new(),
            stats: Stats::new(),
            direct_io <- DirectIo::new(),
            pool <- Pool::new(DEFAULT_SPARES, DEFAULT_MAX_THREADS),
            completions <- Completions::new(),
            buffers: SetOnce::new(),
        })
    }

    /// The owner's thread-group id as current sees it (0: not visible).
    pub(crate) fn owner_tgid(&self) -> Pid {
        self.owner.nr_seen_by_current()
    }

    /// Fails with `EBADFD` unless current belongs to the owning process:
    /// the same `struct pid`, not an equal number (until 2026-12-03 the
    /// numbers were compared, and a process that got the exited owner's
    /// number, with `clone3()`'s `set_tid` or after the numbers wrapped,
    /// passed as the owner).
    pub(crate) fn check_owner(&self) -> Result {
        if self.owner.is_current() {
            Ok(())
        } else {
            Err(EBADFD)
        }
    }

    pub(crate) fn atom_budget(&self) -> u32 {
        self.atom_budget.load(Relaxed)
    }

    /// `SYSLET_IOC_SETUP`: applies `setup` (zero fields take defaults) and
    /// fills it with the values in force. Only once, before any submission.
    pub(crate) fn setup(&self, setup: &mut uapi::syslet_setup) -> Result {
        // `ring_size` is an output and ignored here.
        if setup.flags & !uapi::SYSLET_SETUP_NO_SPARES != 0
            || setup.reserved.iter().any(|&r| r != 0)
        {
            return Err(EINVAL);
        }
        let pick = |v: u32, default: u32, max: u32| match v {
            0 => Ok(default),
            v if v <= max => Ok(v),
            _ => Err(EINVAL),
        };
        let budget = pick(setup.atom_budget, DEFAULT_ATOM_BUDGET, MAX_ATOM_BUDGET)?;
        let max_threads = pick(setup.max_threads, DEFAULT_MAX_THREADS, MAX_THREADS)?;
        // A hand-off needs a place under the cap for the task that carries
        // the blocked chain on: spares that filled the cap could never take
        // over anything.
        let spare_cap = max_threads - 1;
        let spares = if setup.flags & uapi::SYSLET_SETUP_NO_SPARES != 0 {
            0
        } else {
            pick(setup.spares, DEFAULT_SPARES.min(spare_cap), spare_cap)?
        };
        let max_pending = pick(setup.max_pending, DEFAULT_MAX_PENDING, MAX_PENDING)?;
        let ring_entries = pick(setup.ring_entries, DEFAULT_RING_ENTRIES, MAX_RING_ENTRIES)?;
        if !ring_entries.is_power_of_two() {
            return Err(EINVAL);
        }
        if self
            .state
            .cmpxchg(STATE_NEW, STATE_SETTING_UP, Acquire)
            .is_err()
        {
            return Err(EBUSY);
        }
        // The pool's slots first: the ring cannot be made twice.
        let ret = self
            .pool
            .configure(spares, max_threads)
            .and_then(|()| self.completions.init(ring_entries, max_pending));
        if ret.is_ok() {
            self.atom_budget.store(budget, Relaxed);
            self.state.store(STATE_READY, Release);
        } else {
            // Nothing was set: a later set-up may try again.
            self.state.store(STATE_NEW, Release);
        }
        setup.ring_size = ret? as u64;
        setup.atom_budget = budget;
        setup.spares = spares;
        setup.max_threads = max_threads;
        setup.max_pending = max_pending;
        setup.ring_entries = ring_entries;
        Ok(())
    }

    /// Before the first submission: applies the defaults set-up would have.
    pub(crate) fn ensure_ready(&self) -> Result {
        if self.state.load(Acquire) == STATE_READY {
            return Ok(());
        }
        let mut setup = uapi::syslet_setup::default();
        match self.setup(&mut setup) {
            Ok(()) => Ok(()),
            // Another thread is setting up: wait until it is done.
            Err(EBUSY) => {
                // Sleep, not yield: a SCHED_FIFO caller that only yielded
                // would never let a lower-priority setter on its CPU finish.
                while self.state.load(Acquire) == STATE_SETTING_UP {
                    // SAFETY: no preconditions; process context.
                    unsafe { kernel::bindings::msleep(1) };
                }
                if self.state.load(Acquire) == STATE_READY {
                    Ok(())
                } else {
                    Err(EAGAIN)
                }
            }
            Err(e) => Err(e),
        }
    }
}

#[pinned_drop]
impl PinnedDrop for Context {
    fn drop(self: Pin<&mut Self>) {
        // Spares run our code and point into this context: they must be
        // gone first.
        self.pool.close();
        self.pool.wait_gone();
    }
}

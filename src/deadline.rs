// SPDX-License-Identifier: GPL-2.0

// Copyright (C) 2026 The syslet authors.

//! A submission's deadline (`SYSLET_SUBMIT_TIMEOUT`).
//!
//! An hrtimer that, when it fires, marks the submission expired and
//! interrupts the task running its chains (`syslet_interrupt()`): the caller
//! itself, or the same task as the carrier once the submission went
//! asynchronous. The chains look at the mark before each atom and after an
//! atom that returned EINTR, as they do for `SYSLET_IOC_CANCEL`. The timer
//! lives on the heap (an on-stack hrtimer would need the debug-objects
//! annotations) and is cancelled, waiting for its callback, before the
//! submission returns: the task it points to is alive whenever it runs.

use kernel::{
    bindings,
    impl_has_hr_timer,
    prelude::*,
    sync::atomic::{
        Atomic,
        Relaxed, //
    },
    time::{
        hrtimer::{
            HrTimer,
            HrTimerCallback,
            HrTimerCallbackContext,
            HrTimerRestart,
            PinHrTimerHandle,
            RelativeMode,
            UnsafeHrTimerPointer, //
        },
        Delta,
        Monotonic, //
    },
};

use crate::{
    trace,
    uapi, //
};

/// The deadline of one submission.
#[pin_data]
pub(crate) struct Deadline {
    #[pin]
    timer: HrTimer<Self>,
    /// The task running the submission: current, in its ioctl.
    task: *mut bindings::task_struct,
    expired: Atomic<bool>,
}

// SAFETY: `task` is only handed to `syslet_interrupt()`, which may be called
// from any context, while the task is alive (see the module comment).
unsafe impl Send for Deadline {}
// SAFETY: as above; `expired` is atomic.
unsafe impl Sync for Deadline {}

impl_has_hr_timer! {
    impl HasHrTimer<Self> for Deadline {
        mode: RelativeMode<Monotonic>,
        field: self.timer
    }
}

impl HrTimerCallback for Deadline {
    type Pointer<'a> = Pin<&'a Self>;

    fn run(this: Pin<&Self>, _ctx: HrTimerCallbackContext<'_, Self>) -> HrTimerRestart {
        this.expired.store(true, Relaxed);
        // SAFETY: the task is alive until the timer is cancelled, which
        // waits for this callback (module comment).
        unsafe { trace::syslet_timeout(this.task) };
        // SAFETY: the task runs the submission until the timer is cancelled,
        // which waits for this callback (module comment).
        unsafe { bindings::syslet_interrupt(this.task) };
        HrTimerRestart::NoRestart
    }
}

impl Deadline {
    /// The nanoseconds from now to the deadline `flags` and `timeout_ns` of
    /// a `struct syslet_submit` give (at least 0), `None` if they give none;
    /// EINVAL for a bad combination.
    pub(crate) fn from_submit(flags: u32, timeout_ns: i64) -> Result<Option<i64>> {
        let timeout = flags & uapi::SYSLET_SUBMIT_TIMEOUT != 0;
        let abs = flags & uapi::SYSLET_SUBMIT_TIMEOUT_ABS != 0;
        match (timeout, abs) {
            (false, false) if timeout_ns == 0 => Ok(None),
            (false, _) => Err(EINVAL),
            (true, false) if timeout_ns > 0 => Ok(Some(timeout_ns)),
            (true, false) => Err(EINVAL),
            (true, true) if timeout_ns >= 0 => {
                // SAFETY: no preconditions.
                let now = unsafe { bindings::ktime_get() };
                Ok(Some(timeout_ns.saturating_sub(now).max(0)))
            }
            (true, true) => Err(EINVAL),
        }
    }

    /// A deadline for the submission current runs, not started yet.
    pub(crate) fn new() -> Result<Pin<KBox<Self>>> {
        KBox::pin_init(
            pin_init!(Self {
                timer <- HrTimer::new(),
                // SAFETY: no preconditions.
                task: unsafe { bindings::get_current() },
                expired: Atomic::new(false),
            }),
            GFP_KERNEL,
        )
    }

    /// Starts the timer, `ns` from now; a deadline already passed expires
    /// at once, with no timer. The timer is cancelled (waiting for its
    /// callback) when the handle is dropped.
    pub(crate) fn start(self: Pin<&Self>, ns: i64) -> Option<PinHrTimerHandle<'_, Self>> {
        if ns <= 0 {
            self.expired.store(true, Relaxed);
            return None;
        }
        // SAFETY: the handle borrows `self` and cancels the timer when
        // dropped; the caller keeps it until the submission ends and never
        // leaks it.
        Some(unsafe { UnsafeHrTimerPointer::start(self, Delta::from_nanos(ns)) })
    }

    /// Whether the deadline passed.
    pub(crate) fn expired(&self) -> bool {
        self.expired.load(Relaxed)
    }
}

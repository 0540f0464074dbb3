// SPDX-License-Identifier: GPL-2.0

// Copyright (C) 2026 The syslet authors.

//! Contexts torn down later, on the module's own workqueue.
//!
//! A context is freed when its file is released, once every thread of its
//! pool is gone ([`crate::threads::Pool::wait_gone`]). Usually the release
//! runs in a task that can wait for that, and the threads leave at once.
//! Not when it runs in a carrier on its way to park: `fput()` defers the
//! release to task_work, which runs newest first, so the release comes
//! before the carrier has parked, and it would wait for itself. Nor when
//! the threads do not leave within a second: stopped while they handled a
//! signal (a group or ptrace stop, a frozen cgroup), they leave only when
//! their process goes on, and the releasing task may be another process
//! or a kworker. Such a context is closed at once and freed here. Unloading the module destroys the queue, which first runs every
//! teardown still queued: no work item outlives the module's code.

use core::ptr;
use kernel::{
    bindings,
    prelude::*,
    sync::atomic::{
        Acquire,
        Atomic,
        Release, //
    },
    workqueue::{
        self,
        WorkItem, //
    },
};

use crate::device::SysletFile;

/// The queue, for [`defer`]; set while the module is loaded.
static QUEUE: Atomic<*mut bindings::workqueue_struct> = Atomic::new(ptr::null_mut());

/// The module's teardown workqueue, for the module's lifetime.
pub(crate) struct TeardownQueue(());

impl TeardownQueue {
    pub(crate) fn new() -> Result<Self> {
        // SAFETY: a valid format string without conversions, so no variadic
        // arguments; `max_active` 0 takes the default.
        let wq = unsafe {
            bindings::alloc_workqueue_noprof(
                c"syslet_teardown".as_char_ptr(),
                bindings::wq_flags_WQ_UNBOUND,
                0,
            )
        };
        if wq.is_null() {
            return Err(ENOMEM);
        }
        QUEUE.store(wq, Release);
        Ok(Self(()))
    }
}

impl Drop for TeardownQueue {
    fn drop(&mut self) {
        let wq = QUEUE.xchg(ptr::null_mut(), Acquire);
        // SAFETY: allocated in `new`; no file is open any more (each pins
        // the module), so nothing queues on it now. Runs what is queued.
        unsafe { bindings::destroy_workqueue(wq) };
    }
}

/// Frees `file`'s context on the teardown queue. The caller closed the
/// context's pool already.
pub(crate) fn defer(file: Pin<KBox<SysletFile>>) {
    let wq = QUEUE.load(Acquire);
    if wq.is_null() {
        // Cannot happen while a file is open; leaking beats a deadlock.
        pr_warn!("syslet: no teardown queue; leaking a context\n");
        core::mem::forget(file);
        return;
    }
    // SAFETY: `wq` is the module's queue, valid until the module's exit,
    // which cannot start while this file's release runs.
    let queue = unsafe { workqueue::Queue::from_raw(wq) };
    queue.enqueue(file);
}

impl WorkItem for SysletFile {
    type Pointer = Pin<KBox<SysletFile>>;

    fn run(this: Pin<KBox<SysletFile>>) {
        // The context's drop waits for the pool's threads.
        drop(this);
    }
}

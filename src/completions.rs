// SPDX-License-Identifier: GPL-2.0

// Copyright (C) 2026 The syslet authors.

//! Completions of chains that went asynchronous.
//!
//! Nothing is ever dropped: a chain may go asynchronous only after it
//! reserved its completion's place ([`Completions::reserve`], lock-free, so
//! the scheduler hook can do it), and the queue is allocated for the whole
//! reservation limit up front, so posting never allocates and never fails.
//! The queue is drained by `SYSLET_IOC_WAIT`; a place is given back only
//! when its completion has been copied to user space.

use core::mem::size_of;
use kernel::{
    new_condvar,
    new_mutex,
    prelude::*,
    sync::{
        atomic::{
            Atomic,
            Full,
            Relaxed, //
        },
        CondVar,
        CondVarTimeoutResult,
        Mutex,
    },
    time::msecs_to_jiffies,
    uaccess::UserSliceWriter,
};

use crate::uapi;

/// A fixed-size FIFO of completions.
struct Queue {
    buf: KVec<uapi::syslet_outcome>,
    head: usize,
    len: usize,
}

#[pin_data]
pub(crate) struct Completions {
    #[pin]
    queue: Mutex<Queue>,
    #[pin]
    posted: CondVar,
    /// Places promised: completions queued plus chains still running.
    reserved: Atomic<u32>,
    limit: Atomic<u32>,
}

impl Completions {
    pub(crate) fn new() -> impl PinInit<Self> {
        pin_init!(Self {
            queue <- new_mutex!(Queue { buf: KVec::new(), head: 0, len: 0 }, "Completions::queue"),
            posted <- new_condvar!("Completions::posted"),
            reserved: Atomic::new(0),
            limit: Atomic::new(0),
        })
    }

    /// Sizes the queue for `limit` completions. Before the first submission.
    pub(crate) fn set_limit(&self, limit: u32) -> Result {
        let mut buf = KVec::with_capacity(limit as usize, GFP_KERNEL)?;
        for _ in 0..limit {
            buf.push(uapi::syslet_outcome::default(), GFP_KERNEL)?;
        }
        let mut q = self.queue.lock();
        if q.len != 0 {
            return Err(EBUSY);
        }
        q.buf = buf;
        q.head = 0;
        self.limit.store(limit, Relaxed);
        Ok(())
    }

    /// Reserves `n` places; false if that would pass the limit. Lock-free.
    pub(crate) fn reserve(&self, n: u32) -> bool {
        let limit = self.limit.load(Relaxed);
        let mut cur = self.reserved.load(Relaxed);
        loop {
            if cur.saturating_add(n) > limit {
                return false;
            }
            match self.reserved.cmpxchg(cur, cur + n, Full) {
                Ok(_) => return true,
                Err(now) => cur = now,
            }
        }
    }

    /// Gives back `n` places reserved but not used. Lock-free.
    pub(crate) fn unreserve(&self, n: u32) {
        self.reserved.fetch_sub(n, Relaxed);
    }

    /// Queues a completion whose place was reserved.
    pub(crate) fn post(&self, outcome: uapi::syslet_outcome) {
        let mut q = self.queue.lock();
        let cap = q.buf.len();
        // A reservation guarantees room: `len < reserved <= limit == cap`.
        if q.len < cap {
            let at = (q.head + q.len) % cap;
            q.buf[at] = outcome;
            q.len += 1;
        }
        drop(q);
        self.posted.notify_all();
    }

    /// Completions queued now.
    pub(crate) fn queued(&self) -> usize {
        self.queue.lock().len
    }

    /// `SYSLET_IOC_WAIT`: waits for `min` completions (with `timeout_ns`,
    /// negative for none), then copies up to `max` of them to `out`.
    pub(crate) fn wait(
        &self,
        out: &mut UserSliceWriter,
        max: usize,
        min: usize,
        timeout_ns: i64,
    ) -> Result<usize> {
        let mut q = self.queue.lock();
        let mut left = match timeout_ns {
            t if t < 0 => None,
            t => Some(msecs_to_jiffies((t / 1_000_000).try_into().unwrap_or(u32::MAX))),
        };
        while q.len < min {
            match left {
                None => {
                    if self.posted.wait_interruptible(&mut q) {
                        return Err(EINTR);
                    }
                }
                Some(0) => return Err(ETIMEDOUT),
                Some(j) => match self.posted.wait_interruptible_timeout(&mut q, j) {
                    CondVarTimeoutResult::Woken { jiffies } => left = Some(jiffies),
                    CondVarTimeoutResult::Timeout => left = Some(0),
                    CondVarTimeoutResult::Signal { .. } => return Err(EINTR),
                },
            }
        }
        let n = q.len.min(max);
        let cap = q.buf.len();
        for i in 0..n {
            let at = (q.head + i) % cap;
            // A fault leaves the queue as it was: nothing is consumed.
            out.write(&q.buf[at])?;
        }
        q.head = (q.head + n) % cap.max(1);
        q.len -= n;
        drop(q);
        // `n` is at most the queue's size, a u32.
        self.reserved.fetch_sub(n as u32, Relaxed);
        Ok(n)
    }
}

/// Bytes of `n` outcomes in user memory.
pub(crate) fn outcomes_len(n: usize) -> usize {
    n * size_of::<uapi::syslet_outcome>()
}

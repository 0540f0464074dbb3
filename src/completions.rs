// SPDX-License-Identifier: GPL-2.0

// Copyright (C) 2026 The syslet authors.

//! Completions of chains that went asynchronous: the ring and its overflow.
//!
//! Nothing is ever dropped. A chain may go asynchronous only after it
//! reserved a place ([`Completions::reserve`], lock-free, so the scheduler
//! hook can do it); the overflow queue is allocated for every place up
//! front, so posting never allocates and never fails. A completion goes to
//! the ring when it has room, else to the overflow, from which it moves to
//! the ring as user space frees entries. Its place is given back when it
//! enters the ring.
//!
//! Lock: `state`, a spinlock taken with interrupts off: the completion of
//! a thread-free read is posted from its kiocb's callback, in interrupt
//! context (`direct_io`). Nothing under it sleeps or allocates but with
//! `GFP_ATOMIC`; the ring's pages, made once, are mapped without it.

use kernel::{
    bindings,
    new_poll_condvar, new_spinlock_irq,
    prelude::*,
    sync::{
        atomic::{
            Atomic,
            Full,
            Relaxed, //
        },
        poll::PollCondVar,
        CondVarTimeoutResult, SetOnce, SpinLockIrq, SpinLockIrqGuard,
    },
    time::{
        Instant,
        Monotonic, //
    },
};

use crate::{
    ring::Ring,
    trace,
    uapi, //
};

/// Completions waiting for room in the ring: a fixed-size FIFO.
struct Overflow {
    buf: KVec<uapi::syslet_outcome>,
    head: usize,
    len: usize,
}

impl Overflow {
    fn front(&self) -> Option<&uapi::syslet_outcome> {
        if self.len > 0 {
            self.buf.get(self.head)
        } else {
            None
        }
    }

    fn pop(&mut self) {
        if self.len > 0 {
            self.head = (self.head + 1).checked_rem(self.buf.len()).unwrap_or(0);
            self.len -= 1;
        }
    }

    /// Doubles the buffer (at least one place), keeping the order. Under
    /// the spinlock: `GFP_ATOMIC`.
    fn grow(&mut self) -> Result {
        let cap = self.buf.len();
        let mut buf = KVec::with_capacity(cap.max(1) * 2, GFP_ATOMIC)?;
        for i in 0..self.len {
            let at = (self.head + i).checked_rem(cap).unwrap_or(0);
            buf.push(self.buf.get(at).copied().unwrap_or_default(), GFP_ATOMIC)?;
        }
        while buf.len() < buf.capacity() {
            buf.push(uapi::syslet_outcome::default(), GFP_ATOMIC)?;
        }
        self.buf = buf;
        self.head = 0;
        Ok(())
    }

    /// False only if full, which reservations rule out.
    fn push(&mut self, o: uapi::syslet_outcome) -> bool {
        let cap = self.buf.len();
        if self.len >= cap {
            return false;
        }
        let at = (self.head + self.len).checked_rem(cap).unwrap_or(0);
        if let Some(slot) = self.buf.get_mut(at) {
            *slot = o;
            self.len += 1;
            return true;
        }
        false
    }
}

/// What the lock guards: the ring's tail and the overflow.
struct State {
    tail: u32,
    overflow: Overflow,
    /// Tasks in [`Completions::wait`], which may sleep on `posted`.
    waiters: u32,
    /// Someone polled the file: a poll or epoll entry may sit on `posted`
    /// for as long as its owner likes, so from then on every post wakes.
    polled: bool,
}

impl State {
    /// Moves overflowed completions into `ring` while it has room.
    /// Returns how many moved. Inlined for the common case, an empty
    /// overflow (a call to learn that cost every completion 20-odd
    /// instructions).
    #[inline(always)]
    fn flush(&mut self, ring: &Ring) -> u32 {
        if self.overflow.len == 0 {
            // The ring's overflow word says 0 already: whoever emptied the
            // overflow (or last added to it) published its length.
            return 0;
        }
        self.flush_overflow(ring)
    }

    /// [`State::flush`] with completions in the overflow.
    #[inline(never)]
    fn flush_overflow(&mut self, ring: &Ring) -> u32 {
        let mut moved = 0;
        while let Some(o) = self.overflow.front() {
            if ring.room(self.tail) == 0 || ring.push(&mut self.tail, o).is_err() {
                break;
            }
            self.overflow.pop();
            moved += 1;
        }
        // At most the overflow's size, a u32 limit.
        ring.set_overflow(self.overflow.len as u32);
        moved
    }
}

#[pin_data]
pub(crate) struct Completions {
    /// Made by set-up, once.
    ring: SetOnce<Ring>,
    #[pin]
    state: SpinLockIrq<State>,
    #[pin]
    pub(crate) posted: PollCondVar,
    /// Places promised: chains running asynchronously plus overflow.
    reserved: Atomic<u32>,
    limit: Atomic<u32>,
    /// Nobody can read the completions any more (the program closed its
    /// last reference): they are dropped instead of posted.
    orphaned: Atomic<bool>,
}

impl Completions {
    pub(crate) fn new() -> impl PinInit<Self> {
        pin_init!(Self {
            ring: SetOnce::new(),
            state <- new_spinlock_irq!(
                State {
                    tail: 0,
                    overflow: Overflow { buf: KVec::new(), head: 0, len: 0 },
                    waiters: 0,
                    polled: false,
                },
                "Completions::state"
            ),
            posted <- new_poll_condvar!("Completions::posted"),
            reserved: Atomic::new(0),
            limit: Atomic::new(0),
            orphaned: Atomic::new(false),
        })
    }

    /// The program closed its last reference to the context: completions
    /// posted from now on go nowhere (their places are given back).
    pub(crate) fn orphan(&self) {
        self.orphaned.store(true, Relaxed);
    }

    /// Whether [`Completions::orphan`] was called.
    pub(crate) fn orphaned(&self) -> bool {
        self.orphaned.load(Relaxed)
    }

    /// Creates the ring and sizes the overflow. Once, before the first
    /// submission. Returns the ring's size in bytes.
    pub(crate) fn init(&self, ring_entries: u32, max_pending: u32) -> Result<usize> {
        let ring = Ring::new(ring_entries)?;
        let size = ring.size();
        let mut buf = KVec::with_capacity(max_pending as usize, GFP_KERNEL)?;
        for _ in 0..max_pending {
            buf.push(uapi::syslet_outcome::default(), GFP_KERNEL)?;
        }
        if !self.ring.populate(ring) {
            return Err(EBUSY);
        }
        let old = core::mem::replace(
            &mut self.state.lock().overflow,
            Overflow {
                buf,
                head: 0,
                len: 0,
            },
        );
        // Empty, but dropped outside the lock all the same.
        drop(old);
        self.limit.store(max_pending, Relaxed);
        Ok(size)
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

    /// Posts a completion whose place was reserved. Any context, interrupts
    /// included.
    pub(crate) fn post(&self, outcome: uapi::syslet_outcome) {
        if self.orphaned.load(Relaxed) {
            self.unreserve(1);
            return;
        }
        let ring = self.ring.as_ref();
        let mut st = self.state.lock();
        let mut freed = ring.map_or(0, |r| st.flush(r));
        let to_ring = st.overflow.len == 0 && ring.is_some_and(|r| r.room(st.tail) > 0);
        // Traced before user space can see it: a program that reaps it and
        // goes on must find its event before those of what it does next.
        trace::syslet_complete(
            outcome.cookie,
            outcome.result,
            outcome.flags,
            outcome.atoms_run,
            !to_ring,
        );
        let pushed = to_ring && ring.is_some_and(|r| r.push(&mut st.tail, &outcome).is_ok());
        if pushed {
            freed += 1;
        } else {
            if !st.overflow.push(outcome) {
                // Cannot happen: every posted completion holds a place, and
                // the overflow has one for each place. Should the accounting
                // ever be wrong, grow rather than lose a completion, if
                // memory allows.
                kernel::pr_warn_once!("syslet: completion overflow full despite reservations\n");
                if st.overflow.grow().is_err() || !st.overflow.push(outcome) {
                    pr_err!("syslet: out of memory: a completion is lost\n");
                }
            }
            // At most the overflow's size, a u32 limit.
            let overflow = st.overflow.len as u32;
            if let Some(ring) = ring {
                ring.set_overflow(overflow);
            }
        }
        // Only a task that waits, or a poll entry, can be on `posted`: both
        // register under this lock before they check for completions (see
        // `wait` and `poll_ready`), so one that this post must wake is
        // counted by now. Waking nobody cost every completion the wait
        // queue's lock, a third of what posting costs.
        let wake = st.waiters > 0 || st.polled;
        drop(st);
        self.unreserve(freed);
        if wake {
            self.posted.notify_all();
        }
    }

    /// `poll`, once its entry is on `posted`: whether a completion is
    /// waiting, in the ring or the overflow. Every post wakes from now on.
    pub(crate) fn poll_ready(&self) -> bool {
        let ring = self.ring.as_ref();
        let mut st = self.state.lock();
        st.polled = true;
        let freed = ring.map_or(0, |r| st.flush(r));
        let ready = st.overflow.len > 0 || ring.is_some_and(|r| r.available(st.tail) > 0);
        drop(st);
        self.unreserve(freed);
        ready
    }

    /// Completions waiting in the overflow, for fdinfo.
    pub(crate) fn overflowed(&self) -> usize {
        self.state.lock().overflow.len
    }

    /// `SYSLET_IOC_WAIT`: waits for `min` completions in the ring, with a
    /// timeout (negative: none). Returns how many are there.
    pub(crate) fn wait(&self, min: u32, timeout_ns: i64) -> Result<u32> {
        let Some(ring) = self.ring.as_ref() else {
            return Err(EINVAL);
        };
        let mut st = self.state.lock();
        let entries = ring.available(st.tail) + ring.room(st.tail);
        if min == 0 || min > entries {
            return Err(EINVAL);
        }
        // The deadline is kept in nanoseconds; the sleep itself has the
        // scheduler tick's resolution, so the wait never ends early but may
        // end up to a tick late.
        let deadline = (timeout_ns >= 0).then(|| (Instant::<Monotonic>::now(), timeout_ns));
        // Counted from before the first check (under the lock) until the
        // last: a post then knows to wake us.
        st.waiters += 1;
        let ret = self.wait_locked(&mut st, ring, min, deadline);
        st.waiters -= 1;
        ret
    }

    /// The loop of [`Completions::wait`], with the lock held (released
    /// while it sleeps).
    fn wait_locked(
        &self,
        st: &mut SpinLockIrqGuard<'_, State>,
        ring: &Ring,
        min: u32,
        deadline: Option<(Instant<Monotonic>, i64)>,
    ) -> Result<u32> {
        loop {
            let freed = st.flush(ring);
            self.unreserve(freed);
            let available = ring.available(st.tail);
            if available >= min {
                return Ok(available);
            }
            // A pending signal may be only task work the kernel runs on the
            // way out (TIF_NOTIFY_SIGNAL, which io_uring uses): the system
            // call is then restarted, and user space sees EINTR only when a
            // handler without SA_RESTART ran.
            let signalled = match deadline {
                None => self.posted.wait_interruptible(st),
                Some((start, total)) => {
                    let left = total.saturating_sub(start.elapsed().as_nanos());
                    if left <= 0 {
                        return Err(ETIMEDOUT);
                    }
                    matches!(
                        self.posted
                            .wait_interruptible_timeout(st, jiffies_at_least(left)),
                        CondVarTimeoutResult::Signal { .. }
                    )
                }
            };
            if signalled {
                return Err(ERESTARTSYS);
            }
        }
    }

    /// Maps the ring into `vma`.
    pub(crate) fn map(&self, vma: &kernel::mm::virt::VmaNew) -> Result {
        match self.ring.as_ref() {
            Some(ring) => ring.map(vma),
            None => Err(EINVAL),
        }
    }
}

/// Jiffies that last at least `ns` (> 0) nanoseconds. `nsecs_to_jiffies()`
/// rounds down, and the first tick of a sleep may come at once: two more.
fn jiffies_at_least(ns: i64) -> kernel::time::Jiffies {
    // `ns` > 0 here.
    // SAFETY: no preconditions.
    unsafe { bindings::nsecs_to_jiffies(ns as u64) }.saturating_add(2)
}

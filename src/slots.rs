// SPDX-License-Identifier: GPL-2.0

// Copyright (C) 2026 The syslet authors.

//! The slot table of a thread pool: what each slot's thread is doing, and
//! the sets a hand-off picks from, each in O(1).
//!
//! The table is sized once, at set-up (`max_threads` slots, allocated in
//! process context), and never grows: the scheduler hook, which may not
//! allocate, only moves slots between states. Every state change goes
//! through [`SlotTable::set`], which keeps the per-state counts and three
//! index sets up to date: the free slots (a hand-off takes one for its
//! carrier), the parked spares (it claims one) and the slots whose thread
//! may have gone (Leaving, Busy: what `Pool::reap` looks at). So a hand-off
//! costs the same with 8 threads or 1,000, apart from the reaping of the
//! threads that left since the last one.
//!
//! The table lives under `Pool::inner`; nothing here locks.

use core::ptr;
use kernel::{
    bindings,
    prelude::*, //
};

use crate::cancel::Marks;

/// What a slot's thread is doing, as the pool sees it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum SlotState {
    /// No thread.
    Free,
    /// A thread that cannot be claimed now: starting, back from a claim
    /// with nothing to do, handling a signal, or a carrier about to park.
    Busy,
    /// The task of a submission whose context a spare took: it carries the
    /// chains on, and parks here once its ioctl returns.
    Carrying,
    /// Parked in `spare_main`, waiting for `go`: may be claimed.
    Ready,
    /// Claimed: its thread waits for the claim's holder to complete `go`.
    Claimed,
    /// Its thread left, for user space or for good: free once `exited`
    /// completes.
    Leaving,
}

const STATES: usize = 6;

impl SlotState {
    fn index(self) -> usize {
        match self {
            Self::Free => 0,
            Self::Busy => 1,
            Self::Carrying => 2,
            Self::Ready => 3,
            Self::Claimed => 4,
            Self::Leaving => 5,
        }
    }

    /// Whether `Pool::reap` must look at a slot in this state: its thread
    /// may be gone without telling the pool.
    fn watched(self) -> bool {
        matches!(self, Self::Busy | Self::Leaving)
    }
}

/// A slot's part of the pool state.
#[derive(Clone, Copy)]
pub(crate) struct SlotInner {
    pub(crate) state: SlotState,
    /// The slot's thread, published by the thread itself when it parks (a
    /// carrier: when it takes the slot). Only compared or handed to the
    /// kernel while the thread is Ready, Claimed or Carrying, when it is
    /// alive: a claimed thread waits for `go` before it exits.
    pub(crate) task: *mut bindings::task_struct,
}

impl SlotInner {
    const FREE: Self = Self {
        state: SlotState::Free,
        task: ptr::null_mut(),
    };
}

/// Where a slot is not in an [`IndexSet`].
const OUT: u32 = u32::MAX;

/// A set of slot indices below a fixed bound: insert, remove and pick in
/// O(1), with no allocation after it is made.
struct IndexSet {
    items: KVec<u32>,
    /// Where each slot is in `items`, or [`OUT`].
    at: KVec<u32>,
}

impl IndexSet {
    const fn empty() -> Self {
        Self {
            items: KVec::new(),
            at: KVec::new(),
        }
    }

    fn new(n: usize) -> Result<Self> {
        Ok(Self {
            items: KVec::with_capacity(n, GFP_KERNEL)?,
            at: KVec::from_elem(OUT, n, GFP_KERNEL)?,
        })
    }

    fn insert(&mut self, i: usize) {
        let len = self.items.len() as u32;
        let Some(at) = self.at.get_mut(i) else { return };
        // Within capacity: `items` was made as large as `at`.
        if *at == OUT && self.items.push_within_capacity(i as u32).is_ok() {
            *at = len;
        }
    }

    fn remove(&mut self, i: usize) {
        let Some(at) = self.at.get_mut(i) else { return };
        let k = core::mem::replace(at, OUT) as usize;
        if k == OUT as usize {
            return;
        }
        // Swap-remove: the last item takes the place of the removed one.
        if let Some(last) = self.items.pop() {
            if k < self.items.len() {
                self.items[k] = last;
                if let Some(a) = self.at.get_mut(last as usize) {
                    *a = k as u32;
                }
            }
        }
    }

    fn update(&mut self, i: usize, member: bool) {
        if member {
            self.insert(i);
        } else {
            self.remove(i);
        }
    }

    /// Some member, the last added.
    fn pick(&self) -> Option<usize> {
        self.items.last().map(|&i| i as usize)
    }

    fn len(&self) -> usize {
        self.items.len()
    }

    /// The member at position `k` (0 .. `len()`).
    fn at_position(&self, k: usize) -> Option<usize> {
        self.items.get(k).map(|&i| i as usize)
    }
}

/// The slots of a pool, their states and what their carriers publish.
pub(crate) struct SlotTable {
    slots: KVec<SlotInner>,
    /// What each Carrying slot's thread publishes for `SYSLET_IOC_CANCEL`.
    marks: KVec<Marks>,
    counts: [u32; STATES],
    free: IndexSet,
    ready: IndexSet,
    watched: IndexSet,
}

impl SlotTable {
    /// A table with no slot, until [`SlotTable::new`] replaces it.
    pub(crate) const fn empty() -> Self {
        Self {
            slots: KVec::new(),
            marks: KVec::new(),
            counts: [0; STATES],
            free: IndexSet::empty(),
            ready: IndexSet::empty(),
            watched: IndexSet::empty(),
        }
    }

    /// `n` free slots. Process context.
    pub(crate) fn new(n: usize) -> Result<Self> {
        let mut t = Self {
            slots: KVec::from_elem(SlotInner::FREE, n, GFP_KERNEL)?,
            marks: KVec::from_elem(Marks::NONE, n, GFP_KERNEL)?,
            counts: [0; STATES],
            free: IndexSet::new(n)?,
            ready: IndexSet::new(n)?,
            watched: IndexSet::new(n)?,
        };
        t.counts[SlotState::Free.index()] = n as u32;
        // Taken from the top: slot 0 first.
        for i in (0..n).rev() {
            t.free.insert(i);
        }
        Ok(t)
    }

    /// The number of slots.
    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    pub(crate) fn get(&self, i: usize) -> SlotInner {
        self.slots.get(i).copied().unwrap_or(SlotInner::FREE)
    }

    /// How many slots are in `state`.
    pub(crate) fn count(&self, state: SlotState) -> u32 {
        self.counts[state.index()]
    }

    /// Puts slot `i` in `state`, with `task`.
    pub(crate) fn set(&mut self, i: usize, state: SlotState, task: *mut bindings::task_struct) {
        let Some(s) = self.slots.get_mut(i) else { return };
        let old = core::mem::replace(s, SlotInner { state, task }).state;
        self.counts[old.index()] = self.counts[old.index()].saturating_sub(1);
        self.counts[state.index()] += 1;
        self.free.update(i, state == SlotState::Free);
        self.ready.update(i, state == SlotState::Ready);
        self.watched.update(i, state.watched());
    }

    /// Puts slot `i` in `state`, keeping its task.
    pub(crate) fn set_state(&mut self, i: usize, state: SlotState) {
        let task = self.get(i).task;
        self.set(i, state, task);
    }

    /// A free slot, if any.
    pub(crate) fn any_free(&self) -> Option<usize> {
        self.free.pick()
    }

    /// A parked spare's slot, if any.
    pub(crate) fn any_ready(&self) -> Option<usize> {
        self.ready.pick()
    }

    /// Frees each slot whose thread may be gone (Busy, Leaving) and is,
    /// as `gone` says.
    pub(crate) fn reap(&mut self, gone: impl Fn(usize) -> bool) {
        // From the end: a slot freed here is swapped with the last member,
        // which has been looked at already.
        let mut k = self.watched.len();
        while k > 0 {
            k -= 1;
            if let Some(i) = self.watched.at_position(k) {
                if gone(i) {
                    self.set(i, SlotState::Free, ptr::null_mut());
                }
            }
        }
    }

    /// The slots and their states, in order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (usize, SlotInner)> + '_ {
        self.slots.iter().copied().enumerate()
    }

    pub(crate) fn marks(&self, i: usize) -> Option<&Marks> {
        self.marks.get(i)
    }

    pub(crate) fn marks_mut(&mut self, i: usize) -> Option<&mut Marks> {
        self.marks.get_mut(i)
    }
}

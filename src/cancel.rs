// SPDX-License-Identifier: GPL-2.0

// Copyright (C) 2026 The syslet authors.

//! Stopping queued chains: `SYSLET_IOC_CANCEL`.
//!
//! A submission that went asynchronous runs on its carrier (the caller's
//! own task, see [`crate::threads`]), which publishes the submission's
//! [`Cancel`] with [`Marks`] in its pool slot, under `Pool::inner`, from the
//! hand-off until its last chain has run. `SYSLET_IOC_CANCEL`
//! (`Pool::cancel`) looks at every carrier there, marks the chains it
//! matches and, if the chain running is one of them, interrupts the
//! carrier's sleep with `syslet_interrupt()` (kernel patch 16): a carrier
//! blocks every signal, so nothing else could. The carrier reads the marks
//! when it starts a chain and -- only once a mark was made, so that a
//! submission nobody cancels pays one atomic load per atom -- before each
//! atom and after an atom that returned EINTR.
//!
//! A chain is matched by the cookie its completion would carry now: that
//! of the atom it runs, or of its first atom if it has not started.

use kernel::{
    prelude::*,
    sync::atomic::{
        Atomic,
        Relaxed, //
    },
};

/// The most chains one submission has (`MAX_BATCH`), one mark bit each.
const MARK_WORDS: usize = 4;

/// What a carrier shows of its submission to `SYSLET_IOC_CANCEL`. Lives in
/// the submitting ioctl's frame; published in the carrier's slot while it
/// carries the submission.
pub(crate) struct Cancel {
    /// Set once a chain of this submission was marked: the carrier's
    /// checks take `Pool::inner` only then.
    asked: Atomic<bool>,
    /// The cookie of the atom the running chain runs.
    cookie: Atomic<u64>,
    /// The cookie of the first atom of each chain after the first (0 if
    /// it could not be read: that chain ends with EFAULT when it starts).
    /// The first chain runs at once and publishes its own; a submission
    /// of one chain, the common case, reads nothing here.
    firsts: Firsts,
}

/// The chains after the first that a submission keeps inline rather than
/// in an allocation.
const INLINE_FIRSTS: usize = 15;

/// First-atom cookies: none for a submission of one chain (which then
/// neither reads nor zeroes anything here), inline for a small batch, else
/// allocated.
enum Firsts {
    None,
    Inline([u64; INLINE_FIRSTS], usize),
    Allocated(KVec<u64>),
}

impl Firsts {
    fn as_slice(&self) -> &[u64] {
        match self {
            Self::None => &[],
            Self::Inline(a, n) => a.get(..*n).unwrap_or(&[]),
            Self::Allocated(v) => v,
        }
    }
}

impl Cancel {
    /// Reads the first-atom cookie of each chain but the first that
    /// starts at an address in `chains`.
    ///
    /// Inlined so that the submission builds it in place: out of line, its
    /// 152-byte result was moved into the caller on every submission.
    #[inline(always)]
    pub(crate) fn new(chains: &[u64]) -> Result<Self> {
        let rest = chains.get(1..).unwrap_or(&[]);
        let firsts = if rest.is_empty() {
            Firsts::None
        } else if rest.len() <= INLINE_FIRSTS {
            let mut a = [0; INLINE_FIRSTS];
            for (c, &first) in a.iter_mut().zip(rest) {
                *c = first_cookie(first);
            }
            Firsts::Inline(a, rest.len())
        } else {
            // Filled in place: `push` checked the capacity, a call, for
            // every chain.
            let mut v = KVec::from_elem(0u64, rest.len(), GFP_KERNEL)?;
            for (c, &first) in v.iter_mut().zip(rest) {
                *c = first_cookie(first);
            }
            Firsts::Allocated(v)
        };
        Ok(Self {
            asked: Atomic::new(false),
            cookie: Atomic::new(0),
            firsts,
        })
    }

    /// The running chain is about to run the atom with `cookie`.
    #[inline]
    pub(crate) fn at_atom(&self, cookie: u64) {
        self.cookie.store(cookie, Relaxed);
    }

    /// Whether any chain of the submission was marked (then the marks
    /// must be read under `Pool::inner`).
    #[inline]
    pub(crate) fn asked(&self) -> bool {
        self.asked.load(Relaxed)
    }

    /// The first-atom cookie of chain `i`, which starts at `first`.
    pub(crate) fn first_cookie(&self, i: usize, first: u64) -> u64 {
        match i.checked_sub(1).and_then(|j| self.firsts.as_slice().get(j)) {
            Some(&c) => c,
            None => first_cookie(first),
        }
    }

    /// The chains the submission has.
    fn chains(&self) -> usize {
        self.firsts.as_slice().len() + 1
    }
}

/// The cookie of the atom at user address `first` (0 if unreadable).
pub(crate) fn first_cookie(first: u64) -> u64 {
    first
        .checked_add(core::mem::offset_of!(crate::uapi::syslet_atom, cookie) as u64)
        .and_then(|a| crate::user_words::read_u64(a).ok())
        .unwrap_or(0)
}

/// A carrier's marks, kept in `PoolInner` (under `Pool::inner`) beside its
/// slot.
#[derive(Clone, Copy)]
pub(crate) struct Marks {
    /// The carrier's [`Cancel`], or null when the slot carries nothing.
    /// Valid while it is not null: the carrier clears it before its ioctl
    /// returns, under `Pool::inner`.
    pub(crate) cancel: *const Cancel,
    /// The chain the carrier runs (an index into the submission).
    pub(crate) running: usize,
    /// The chains after `running` it will run end here (exclusive).
    end: usize,
    /// Chains asked to stop, one bit each.
    stop: [u64; MARK_WORDS],
    /// Whether the carrier was interrupted for the running chain and has
    /// not seen it yet (`syslet_interrupt_done()`).
    pub(crate) interrupted: bool,
}

impl Marks {
    pub(crate) const NONE: Self = Self {
        cancel: core::ptr::null(),
        running: 0,
        end: 0,
        stop: [0; MARK_WORDS],
        interrupted: false,
    };

    /// Marks published by a carrier for `cancel`, running chain `running`
    /// and then those before `end`.
    pub(crate) fn new(cancel: *const Cancel, running: usize, end: usize) -> Self {
        Self {
            cancel,
            running,
            end,
            ..Self::NONE
        }
    }

    /// Whether chain `i` was asked to stop.
    pub(crate) fn stopped(&self, i: usize) -> bool {
        self.stop
            .get(i / 64)
            .is_some_and(|w| w & (1u64 << (i % 64)) != 0)
    }

    /// Marks the chains of the carrier's submission that `matches` accepts
    /// (given each chain's cookie now) and have not been marked yet.
    /// Returns how many it marked and whether the running chain is among
    /// them.
    ///
    /// # Safety
    ///
    /// `self.cancel` is not null, so valid (see its field).
    pub(crate) unsafe fn mark(&mut self, matches: impl Fn(u64) -> bool) -> (u32, bool) {
        // SAFETY: valid while published (caller).
        let c = unsafe { &*self.cancel };
        let mut found = 0;
        let mut running = false;
        for i in self.running..self.end.min(c.chains()).min(MARK_WORDS * 64) {
            let cookie = if i == self.running {
                c.cookie.load(Relaxed)
            } else {
                // `i` > `running` >= 0, and `i` < `firsts.len()` + 1.
                c.firsts.as_slice().get(i - 1).copied().unwrap_or(0)
            };
            if !matches(cookie) || self.stopped(i) {
                continue;
            }
            self.stop[i / 64] |= 1u64 << (i % 64);
            found += 1;
            running |= i == self.running;
        }
        if found > 0 {
            c.asked.store(true, Relaxed);
        }
        (found, running)
    }
}

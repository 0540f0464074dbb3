// SPDX-License-Identifier: GPL-2.0

// Copyright (C) 2026 The syslet authors.

//! The rest of a batch: the chains after one that blocked, run in the
//! caller's context by the spare that took it over.
//!
//! When a chain of a submission blocks, its task keeps that chain alone
//! (`Carry::Split`, the default) and the spare that takes over the caller's
//! context gets the chains after it as a [`Rest`]. Before it returns to user
//! space, the spare runs them as the caller would have: in order, armed, so
//! that the next chain that blocks is handed to a carrier of its own and the
//! rest goes on to the next spare. A submission of N chains that all block
//! thus has N in flight, and returns once the last has started. The spare
//! first tops the spares up and waits for one it started to park; the
//! hand-off gave it the rest only if one can be (`Carry::All` otherwise:
//! the blocked task runs the rest in turn).
//!
//! The submission already reported these chains as queued: each posts its
//! completion to the ring, whether it ends here or on a carrier, with a
//! place the first hand-off reserved. They run whatever happens meanwhile,
//! as a carrier's chains do; only how they end can change:
//! - a signal pending for the caller hands every chain left to one carrier
//!   at once (`Takeover::hand_off_now`), so that the program gets to handle
//!   it; with no spare to take over, they run here, where an interruptible
//!   sleep of theirs ends at once (EINTR) instead;
//! - a chain starts stopped (ECANCELED) once the users' last descriptor is
//!   closed, since nobody could reap it, or (ETIME) past the deadline;
//! - ENOMEM, when the spare cannot allocate what it needs to run them, ends
//!   every one of them with that error.
//!
//! As long as a chain of the rest runs here, unblocked, it is not queued
//! on a carrier, and `SYSLET_IOC_CANCEL` does not find it: like the chains
//! a caller runs before its first hand-off.

use core::mem::size_of;
use kernel::{
    bindings,
    fs::File,
    prelude::*,
    sync::aref::ARef,
};

use crate::{
    cancel::{
        self,
        Cancel, //
    },
    chain::{
        self,
        Outcome, //
    },
    context::Context,
    deadline::Deadline,
    direct_io::Plug,
    threads::{
        Batch,
        Carry,
        Slot,
        Takeover, //
    }, //
};

/// The chains after one that blocked, handed with the caller's context to
/// the spare that takes it over. Made in the scheduler hook: it takes a
/// file reference (an atomic increment) and allocates nothing.
pub(crate) struct Rest {
    /// The context; lives at least as long as `file`.
    ctx: *const Context,
    /// A reference of the rest's own, counted in `Context::held_refs`:
    /// the carrier of the blocked chain may drop the submission's before
    /// the spare runs.
    file: ARef<File>,
    /// The caller's `struct syslet_submit` and its array of chains.
    submit: u64,
    chains: u64,
    /// The chains of the rest: `[next, end)` in that array.
    next: u32,
    end: u32,
    /// What the submission reported (`done`, `queued`).
    report: (u32, u32),
    deadline_at: Option<i64>,
}

// SAFETY: `ctx` is only dereferenced while `file` holds the context alive;
// everything else is plain data or a reference-counted file, which any task
// may drop.
unsafe impl Send for Rest {}

impl Rest {
    /// The chains of `batch`'s submission from `next` on.
    pub(crate) fn new(batch: &Batch<'_>, next: u32, report: (u32, u32)) -> Self {
        let ctx = batch.ctx;
        let file: ARef<File> = batch.file.into();
        // Counted only once the reference is taken (`HeldRefs`).
        ctx.held_refs.count();
        Self {
            ctx,
            file,
            submit: batch.submit,
            chains: batch.chains,
            next,
            end: batch.end,
            report,
            deadline_at: batch.deadline_at,
        }
    }

    fn ctx(&self) -> &Context {
        // SAFETY: the file reference we hold keeps the context alive.
        unsafe { &*self.ctx }
    }

    /// The user address of chain `i`'s first atom, 0 if it cannot be read
    /// (the chain then ends with EFAULT).
    fn first(&self, i: u32) -> u64 {
        self.chains
            .checked_add(u64::from(i) * size_of::<u64>() as u64)
            .and_then(|a| crate::user_words::read_u64(a).ok())
            .unwrap_or(0)
    }

    /// The first atom of each chain of the rest (ENOMEM only).
    fn chains(&self) -> Result<KVec<u64>> {
        let mut v = KVec::with_capacity((self.end - self.next) as usize, GFP_KERNEL)?;
        for i in self.next..self.end {
            v.push(self.first(i), GFP_KERNEL)?;
        }
        Ok(v)
    }

    /// Ends every chain of the rest with `err`, before it starts.
    fn fail(&self, err: Error) {
        for i in self.next..self.end {
            let first = self.first(i);
            let o = Outcome::failed_before_start(first, cancel::first_cookie(first), err);
            self.ctx().completions.post(o.to_uapi());
        }
    }
}

impl Drop for Rest {
    fn drop(&mut self) {
        // Before the reference goes (the field drops after this).
        self.ctx().held_refs.uncount();
    }
}

/// Runs `rest` in current, the spare in `slot`, which took over the
/// caller's context. Returns whether current still has that context (it
/// returns to user space with it), false if a chain blocked and current
/// carried it while another spare took the context and the chains after it.
pub(crate) fn run(slot: &Slot, rest: Rest) -> bool {
    let ctx = rest.ctx();
    // Spares for the chains that will block here, as a submission makes,
    // and one of them parked before a chain can block: the hand-off chose
    // to give us the rest because one can be.
    ctx.pool.replenish(&ctx.stats);
    ctx.pool.wait_parked();
    let chains = match rest.chains() {
        Ok(c) => c,
        Err(e) => {
            rest.fail(e);
            return true;
        }
    };
    let n = chains.len();
    let deadline = match rest.deadline_at.map(|_| Deadline::new()).transpose() {
        Ok(d) => d,
        Err(e) => {
            rest.fail(e);
            return true;
        }
    };
    // SAFETY: no preconditions.
    let now = unsafe { bindings::ktime_get() };
    let _timer = deadline
        .as_ref()
        .zip(rest.deadline_at)
        .and_then(|(d, at)| d.as_ref().start(at.saturating_sub(now)));
    let cancel = match Cancel::new(&chains) {
        Ok(c) => c,
        Err(e) => {
            rest.fail(e);
            return true;
        }
    };
    let takeover = Takeover::continuing(
        Batch {
            ctx,
            file: &rest.file,
            submit: rest.submit,
            chains: rest.chains,
            base: rest.next,
            end: rest.end,
            deadline_at: rest.deadline_at,
            deadline: deadline.as_deref(),
            cancel: &cancel,
        },
        slot,
        rest.report,
    );
    // As in `device::submit`: thread-free I/O goes to the device together,
    // and once current carries a chain, its completion is posted after
    // current parked.
    pin_init::stack_pin_init!(let plug = Plug::new());
    plug.as_ref().start(n as u32);
    let mut last = None;
    for (i, &first) in chains.iter().enumerate() {
        takeover.deadline_settled();
        // `i` < MAX_BATCH.
        takeover.set_done(i as u32);
        if !takeover.taken() && kernel::current!().signal_pending() {
            takeover.hand_off_now();
        }
        let outcome = match takeover.halted_before_start(i) {
            Some(why) => {
                let o = Outcome::stopped_before_start(first, cancel.first_cookie(i, first), why);
                o.count_halt(&ctx.stats);
                o
            }
            None => takeover.armed(|| chain::run(ctx, first, &takeover)),
        };
        let unstarted = (n - i - 1) as u32;
        if takeover.taken() {
            // With `Carry::All` current holds the places of the chains
            // after this one; with `Carry::Split` the next spare does.
            let held = if takeover.carry() == Carry::All { unstarted } else { 0 };
            if takeover.after_carried(&outcome, &mut last, held) {
                break;
            }
            continue;
        }
        if !outcome.in_flight() {
            ctx.completions.post(outcome.to_uapi());
        }
        if outcome.killed() {
            // The forced SIGSYS kills the process when current returns to
            // user space; the chains after this one do not run.
            ctx.completions.unreserve(unstarted);
            break;
        }
    }
    plug.as_ref().finish();
    let taken = takeover.taken();
    takeover.finish_continuing(last);
    // `_timer` is cancelled before the deadline it points to goes.
    !taken
}

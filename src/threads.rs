// SPDX-License-Identifier: GPL-2.0

// Copyright (C) 2026 The syslet authors.

//! Cachemiss threads: spares parked in the user process, and the takeover.
//!
//! A context keeps up to [`MAX_THREADS`] spare threads, each in a [`Slot`].
//! A spare is an ordinary thread of the caller's process
//! (`syslet_thread_create()`), parked in [`spare_main`] with every blockable
//! signal blocked. When a task running a chain is about to block, the
//! scheduler calls [`sleeping`]: it claims a parked spare, moves the task's
//! user context into it (`move_user_context()`) and wakes it. The spare
//! takes the caller's signal mask, writes "queued" into the caller's
//! submission and returns to user space as the caller. Its slot is free
//! again once the kernel completes the slot's `exited`.
//!
//! The task that blocked (the *carrier*) takes a slot of its own at the
//! hand-off, finishes the chain and the rest of the batch in the kernel,
//! posts their completions, and once its ioctl has returned parks in
//! [`spare_main`] like any spare (`syslet_thread_park_on_return()`): it
//! never returns to user space with the frame it gave away, and a steady
//! stream of cachemisses creates no thread. The submission's last
//! completion is posted only once its carrier is a parked spare, so a
//! program that reaped it can count on that spare. The pool thus keeps the
//! threads a burst needed, but a thread that would park with the pool at
//! its thread cap exits instead: parked spares must leave a place for the
//! next carrier. The process's leader always parks, and is the first spare
//! claimed, so the program's thread is the leader again as often as it can
//! be (and `/proc/<pid>` stays its own).
//!
//! Context rules: [`sleeping`] runs inside `schedule()` with the task state
//! set. It only uses atomics, `move_user_context()` and `complete()` or
//! `complete_on_current_cpu()` (whose lock is a raw spinlock): nothing that
//! sleeps or allocates, on PREEMPT_RT too. Everything else here runs in
//! process context.

use core::{
    cell::UnsafeCell,
    ffi::c_void,
    ptr, //
};
use kernel::{
    bindings,
    prelude::*,
    sync::atomic::{
        Acquire,
        Atomic,
        Full,
        Relaxed,
        Release, //
    },
    types::Opaque,
    uaccess::{
        UserPtr,
        UserSlice, //
    },
};

use crate::{
    completions::Completions,
    stats::Stats,
    uapi, //
};

/// The most cachemiss threads (spares and carriers) a context may have.
pub(crate) const MAX_THREADS: u32 = 32;

/// Every slot's bit.
const ALL_SLOTS: u32 = u32::MAX >> (32 - MAX_THREADS);

/// What a woken spare is told to do.
const CMD_NONE: u32 = 0;
const CMD_TAKEOVER: u32 = 1;
const CMD_EXIT: u32 = 2;

/// `*a |= bits`, returning the old value (the kernel's `Atomic` has no
/// bitwise read-modify-write yet). Fully ordered. Lock-free.
fn fetch_or(a: &Atomic<u32>, bits: u32) -> u32 {
    let mut cur = a.load(Relaxed);
    loop {
        match a.cmpxchg(cur, cur | bits, Full) {
            Ok(old) => return old,
            Err(now) => cur = now,
        }
    }
}

/// `*a &= bits`, returning the old value. Fully ordered. Lock-free.
fn fetch_and(a: &Atomic<u32>, bits: u32) -> u32 {
    let mut cur = a.load(Relaxed);
    loop {
        match a.cmpxchg(cur, cur & bits, Full) {
            Ok(old) => return old,
            Err(now) => cur = now,
        }
    }
}

/// The module that threads pin while they run its code.
fn this_module() -> *mut bindings::module {
    <crate::SysletModule as kernel::ModuleMetadata>::THIS_MODULE.as_ptr()
}

/// One spare thread's place. `st` comes first: the thread function gets a
/// pointer to it and finds its slot at the same address.
#[repr(C)]
#[pin_data]
pub(crate) struct Slot {
    #[pin]
    st: Opaque<bindings::syslet_thread>,
    #[pin]
    exited: Opaque<bindings::completion>,
    #[pin]
    go: Opaque<bindings::completion>,
    pool: Atomic<*const Pool>,
    bit: u32,
    /// The parked thread, for `move_user_context()`.
    task: Atomic<*mut bindings::task_struct>,
    cmd: Atomic<u32>,
    /// Written by [`sleeping`] before it completes `go`; read by the spare
    /// after its wait returns (the completion orders the two).
    handoff: UnsafeCell<Handoff>,
    /// The last completion of the submission the slot's thread carried,
    /// and where it goes: posted by [`spare_main`] once the thread is a
    /// ready spare. Only the slot's own thread touches it.
    last: UnsafeCell<Option<(*const Completions, uapi::syslet_outcome)>>,
}

#[derive(Clone, Copy)]
struct Handoff {
    submit: u64,
    done: u32,
    queued: u32,
    mask: bindings::sigset_t,
}

// SAFETY: `handoff` is written only by the task that claimed the slot's
// ready bit, before it completes `go`, and read only by the slot's thread
// after `go` completed; `last` is only touched by the slot's own thread;
// everything else is atomic or owned by the kernel.
unsafe impl Sync for Slot {}
// SAFETY: see above; nothing in a slot is tied to a thread.
unsafe impl Send for Slot {}

impl Slot {
    fn new(bit: u32) -> impl PinInit<Self> {
        pin_init!(Self {
            st <- Opaque::uninit(),
            // SAFETY: `init_completion` initialises the completion in place.
            exited <- Opaque::ffi_init(|c| unsafe { bindings::init_completion(c) }),
            // SAFETY: as above.
            go <- Opaque::ffi_init(|c| unsafe { bindings::init_completion(c) }),
            pool: Atomic::new(ptr::null()),
            bit,
            task: Atomic::new(ptr::null_mut()),
            cmd: Atomic::new(CMD_NONE),
            handoff: UnsafeCell::new(Handoff {
                submit: 0,
                done: 0,
                queued: 0,
                // SAFETY: `sigset_t` is plain data; all zeroes is the empty set.
                mask: unsafe { core::mem::zeroed() },
            }),
            last: UnsafeCell::new(None),
        })
    }

    /// Makes the slot's parked thread exit. The caller claimed its ready
    /// bit.
    fn send_away(&self) {
        self.cmd.store(CMD_EXIT, Release);
        // SAFETY: the caller claimed the slot's ready bit, so its thread waits
        // on `go` and nobody else completes it.
        unsafe { bindings::complete(self.go.get()) };
    }

    fn mask(&self) -> u32 {
        1 << self.bit
    }

    /// Readies a slot just claimed for a new thread (a spare to start, or a
    /// carrier about to park) of `pool`.
    fn prepare(&self, pool: &Pool, task: *mut bindings::task_struct) {
        self.pool.store(pool, Relaxed);
        self.task.store(task, Relaxed);
        self.cmd.store(CMD_NONE, Relaxed);
        // SAFETY: the slot is claimed and has no thread yet: nobody waits on
        // or completes its completions, nor reads `st`.
        unsafe {
            bindings::init_completion(self.exited.get());
            bindings::init_completion(self.go.get());
            let st = self.st.get();
            (*st).fn_ = Some(spare_main);
            (*st).owner = this_module();
            (*st).exited = self.exited.get();
        }
    }
}

/// The spares of one context.
#[pin_data]
pub(crate) struct Pool {
    #[pin]
    slots: [Slot; MAX_THREADS as usize],
    /// Slots whose thread is parked and may be claimed.
    ready: Atomic<u32>,
    /// Slots with a thread (starting, parked, carrying, waking or leaving):
    /// the thread cap counts these.
    used: Atomic<u32>,
    /// Slots whose thread said it leaves; free once `exited` completes.
    leaving: Atomic<u32>,
    /// Slots of carriers: tasks finishing chains whose context a spare took.
    carrying: Atomic<u32>,
    /// Slots whose thread is its process's leader.
    leaders: Atomic<u32>,
    /// Set once, when the context goes away: spares exit.
    dying: Atomic<u32>,
    /// How many spares to keep parked.
    spares: Atomic<u32>,
    /// Cap on used slots.
    max_threads: Atomic<u32>,
}

impl Pool {
    pub(crate) fn new(spares: u32, max_threads: u32) -> impl PinInit<Self> {
        pin_init!(Self {
            slots <- pin_init::pin_init_array_from_fn(|i| Slot::new(i as u32)),
            ready: Atomic::new(0),
            used: Atomic::new(0),
            leaving: Atomic::new(0),
            carrying: Atomic::new(0),
            leaders: Atomic::new(0),
            dying: Atomic::new(0),
            spares: Atomic::new(spares),
            max_threads: Atomic::new(max_threads),
        })
    }

    pub(crate) fn configure(&self, spares: u32, max_threads: u32) {
        self.spares.store(spares, Relaxed);
        self.max_threads.store(max_threads, Relaxed);
    }

    pub(crate) fn parked(&self) -> u32 {
        self.ready.load(Relaxed).count_ones()
    }

    /// Threads of this context that run its code now: spares (starting,
    /// parked or leaving) and carriers. Lock-free.
    pub(crate) fn threads(&self) -> u32 {
        self.reap();
        self.used.load(Relaxed).count_ones()
    }

    /// Spares that are, or are about to be, parked.
    fn spares_alive(&self) -> u32 {
        let gone = self.leaving.load(Relaxed) | self.carrying.load(Relaxed);
        (self.used.load(Relaxed) & !gone).count_ones()
    }

    /// Claims a free slot for a new thread, within the thread cap.
    /// Lock-free: usable from [`sleeping`].
    fn claim_slot(&self) -> Option<&Slot> {
        self.reap();
        let max = self.max_threads.load(Relaxed);
        let mut used = self.used.load(Relaxed);
        loop {
            let free = !used & ALL_SLOTS;
            if free == 0 || used.count_ones() >= max {
                return None;
            }
            let bit = 1 << free.trailing_zeros();
            match self.used.cmpxchg(used, used | bit, Full) {
                Ok(_) => return Some(&self.slots[bit.trailing_zeros() as usize]),
                Err(now) => used = now,
            }
        }
    }

    /// Gives back a slot claimed by [`Pool::claim_slot`] whose thread never
    /// ran.
    fn free_slot(&self, slot: &Slot) {
        fetch_and(&self.carrying, !slot.mask());
        fetch_and(&self.used, !slot.mask());
    }

    /// Frees the slots whose thread has gone, to user space or for good.
    /// Lock-free (`try_wait_for_completion` takes a raw spinlock only).
    fn reap(&self) {
        let mut leaving = self.leaving.load(Acquire);
        while leaving != 0 {
            let i = leaving.trailing_zeros();
            let slot = &self.slots[i as usize];
            // SAFETY: `exited` was initialised in `Slot::new`.
            if unsafe { bindings::try_wait_for_completion(slot.exited.get()) } {
                fetch_and(&self.leaving, !slot.mask());
                fetch_and(&self.used, !slot.mask());
            }
            leaving &= !slot.mask();
        }
    }

    /// Brings the number of parked spares up to the configured number,
    /// within the thread cap. Process context; creating a thread can sleep.
    pub(crate) fn replenish(&self, stats: &Stats) {
        self.reap();
        while self.dying.load(Relaxed) == 0 && self.spares_alive() < self.spares.load(Relaxed) {
            match self.spawn() {
                Ok(true) => Stats::bump(&stats.spawned),
                // The thread cap: not a failure.
                Ok(false) => break,
                Err(_) => {
                    Stats::bump(&stats.spawn_failed);
                    break;
                }
            }
        }
    }

    /// Starts one spare in a free slot. `Ok(false)` at the thread cap.
    fn spawn(&self) -> Result<bool> {
        let Some(slot) = self.claim_slot() else {
            return Ok(false);
        };
        slot.prepare(self, ptr::null_mut());
        // SAFETY: `st` is initialised and, with `exited`, stays valid until
        // `exited` completes: the slot is not reused before `reap` sees that,
        // and the pool outlives its threads (`wait_gone`).
        let ret = unsafe { bindings::syslet_thread_create(slot.st.get()) };
        if ret != 0 {
            self.free_slot(slot);
            return Err(Error::from_errno(ret));
        }
        Ok(true)
    }

    /// Claims a parked spare, the process's leader first. Lock-free:
    /// usable from [`sleeping`].
    fn claim(&self) -> Option<&Slot> {
        self.claim_by(|ready, leaders| {
            if ready & leaders != 0 {
                ready & leaders
            } else {
                ready
            }
        })
    }

    /// Claims a parked spare that is not the process's leader. Lock-free.
    fn claim_follower(&self) -> Option<&Slot> {
        self.claim_by(|ready, leaders| ready & !leaders)
    }

    /// Claims the lowest ready slot among those `choose(ready, leaders)`
    /// returns. Lock-free.
    fn claim_by(&self, choose: impl Fn(u32, u32) -> u32) -> Option<&Slot> {
        let mut ready = self.ready.load(Acquire);
        loop {
            let pick = choose(ready, self.leaders.load(Relaxed));
            if pick == 0 {
                return None;
            }
            let bit = 1 << pick.trailing_zeros();
            match self.ready.cmpxchg(ready, ready & !bit, Full) {
                Ok(_) => return Some(&self.slots[bit.trailing_zeros() as usize]),
                Err(now) => ready = now,
            }
        }
    }

    /// Tells every spare to exit; one that parks later sees `dying` and
    /// exits too. Does not wait. Called when the context goes away, when no
    /// carrier runs chains any more (each holds the file while it does).
    pub(crate) fn close(&self) {
        self.dying.xchg(1, Full);
        while let Some(slot) = self.claim() {
            slot.send_away();
        }
    }

    /// Whether the pool's threads fill the thread cap: the next hand-off
    /// would find no place for its carrier.
    fn full(&self) -> bool {
        self.reap();
        self.used.load(Relaxed).count_ones() >= self.max_threads.load(Relaxed)
    }

    /// Whether current is a thread of this pool that has not left: it
    /// cannot wait for itself in [`Pool::wait_gone`]. That is a carrier
    /// whose file reference was the last one, closing the context on its
    /// way to park.
    pub(crate) fn is_own_thread(&self) -> bool {
        // SAFETY: no preconditions.
        let me = unsafe { bindings::get_current() };
        let mut live = self.used.load(Acquire) & !self.leaving.load(Acquire);
        while live != 0 {
            let slot = &self.slots[live.trailing_zeros() as usize];
            if slot.task.load(Relaxed) == me {
                return true;
            }
            live &= !slot.mask();
        }
        false
    }

    /// Waits until every thread of the pool has exited or gone to user
    /// space, after [`Pool::close`].
    pub(crate) fn wait_gone(&self) {
        let mut used = self.used.load(Acquire);
        while used != 0 {
            let slot = &self.slots[used.trailing_zeros() as usize];
            // SAFETY: `exited` is initialised; a slot's thread completes it
            // when it exits or goes to user space, whichever comes first.
            unsafe { bindings::wait_for_completion(slot.exited.get()) };
            used &= !slot.mask();
        }
    }
}

/// The part of a submission the scheduler hook sees. Lives on the
/// submitting task's stack while it runs chains; only that task and its own
/// hook touch it, but the hook runs inside `schedule()`, hence the atomics.
pub(crate) struct Takeover<'a> {
    pool: &'a Pool,
    stats: &'a Stats,
    /// The user address of the `struct syslet_submit` being run.
    submit: u64,
    /// Chains finished so far, and chains in the submission.
    done: Atomic<u32>,
    total: u32,
    /// Whether a spare has taken the caller's context.
    taken: Atomic<u32>,
    /// Whether the hook may hand off right now (only around a chain).
    may: Atomic<u32>,
    /// Whether current, a carrier, blocked every signal already.
    blocked_all: Atomic<u32>,
    /// Current's own slot once it is a carrier (set with `taken`).
    carrier: Atomic<u32>,
    /// Where the chains that go asynchronous post their completions.
    completions: &'a Completions,
    /// Every chain's place was reserved up front (`SYSLET_SUBMIT_RING`).
    prereserved: bool,
    mask: bindings::sigset_t,
    /// Whether the submission may go asynchronous at all.
    may_go_async: bool,
}

impl<'a> Takeover<'a> {
    pub(crate) fn new(
        pool: &'a Pool,
        stats: &'a Stats,
        submit: u64,
        total: u32,
        completions: &'a Completions,
        prereserved: bool,
        may_go_async: bool,
    ) -> Self {
        // SAFETY: `sigset_t` is plain data; all zeroes is the empty set.
        let mut mask: bindings::sigset_t = unsafe { core::mem::zeroed() };
        // A submission that is never armed needs none of the hand-off state.
        if may_go_async {
            // SAFETY: `sigset_t` is plain data; all zeroes is the empty set.
            let mut none: bindings::sigset_t = unsafe { core::mem::zeroed() };
            // SAFETY: both sets are valid; blocking the empty set changes
            // nothing and reads current's mask into `mask`.
            unsafe { bindings::sigprocmask(bindings::SIG_BLOCK as i32, &mut none, &mut mask) };
        }
        Self {
            pool,
            stats,
            submit,
            done: Atomic::new(0),
            total,
            taken: Atomic::new(0),
            may: Atomic::new(0),
            blocked_all: Atomic::new(0),
            carrier: Atomic::new(0),
            completions,
            prereserved,
            mask,
            may_go_async,
        }
    }

    pub(crate) fn taken(&self) -> bool {
        self.taken.load(Relaxed) != 0
    }

    pub(crate) fn set_done(&self, done: u32) {
        self.done.store(done, Relaxed);
    }

    /// Chains not finished yet, counting the one running.
    pub(crate) fn remaining(&self) -> u32 {
        self.total - self.done.load(Relaxed)
    }

    /// Once current has handed its context over, it blocks every signal:
    /// signals for the process must go to threads that can take them.
    pub(crate) fn became_carrier(&self) {
        if self.blocked_all.xchg(1, Relaxed) == 0 {
            // SAFETY: `sigset_t` is plain data; all zeroes is the empty set.
            let mut all: bindings::sigset_t = unsafe { core::mem::zeroed() };
            for w in all.sig.iter_mut() {
                *w = !0;
            }
            // Unlike the system call, sigprocmask() itself blocks whatever
            // it is given: a carrier that blocked SIGKILL would survive its
            // process's exit_group() once it parks.
            let unblockable = (1 << (bindings::SIGKILL - 1)) | (1 << (bindings::SIGSTOP - 1));
            all.sig[0] &= !unblockable;
            // SAFETY: `all` is valid; this changes current's own mask only.
            unsafe {
                bindings::sigprocmask(bindings::SIG_SETMASK as i32, &mut all, ptr::null_mut())
            };
        }
    }

    /// Lets the hook hand off while `f` runs, if the caller is still ours.
    pub(crate) fn armed<R>(&self, f: impl FnOnce() -> R) -> R {
        if self.taken() || !self.may_go_async {
            return f();
        }
        self.may.store(1, Relaxed);
        // SAFETY: `self` outlives the armed period: we disarm below, before
        // returning, and the hook only runs while current is armed.
        let armed = unsafe { bindings::syslet_arm(self as *const Self as *mut c_void) } == 0;
        let r = f();
        self.may.store(0, Relaxed);
        if armed {
            // SAFETY: no preconditions; a no-op if the hook disarmed us.
            unsafe { bindings::syslet_disarm() };
        }
        r
    }

    /// After a takeover, at the end of the submission: current, the
    /// carrier, parks as a spare in its own slot once the ioctl returned,
    /// and posts `last`, the submission's last completion, from there.
    pub(crate) fn finish(self, last: Option<uapi::syslet_outcome>) {
        if !self.taken() {
            return;
        }
        let slot = &self.pool.slots[self.carrier.load(Relaxed) as usize];
        // SAFETY: no preconditions.
        slot.prepare(self.pool, unsafe { bindings::get_current() });
        // SAFETY: current is the slot's thread from now on, and the only
        // one to touch `last` (in `spare_main`, which it runs).
        unsafe { *slot.last.get() = last.map(|o| (self.completions as *const Completions, o)) };
        // From now on a spare about to park (`spares_alive`).
        fetch_and(&self.pool.carrying, !slot.mask());
        // SAFETY: `st` is initialised and, with `exited`, stays valid until
        // `exited` completes (as for `Pool::spawn`). The arm succeeded, so
        // current is not a vfork child; it is not exiting either: it is in
        // its ioctl.
        let ret = unsafe { bindings::syslet_thread_park_on_return(slot.st.get()) };
        // Cannot fail here (see above); if it did, the task would return to
        // user space with a frame another thread owns.
        if ret != 0 {
            // SAFETY: as above; `spare_main` will not run.
            if let Some((_, o)) = unsafe { (*slot.last.get()).take() } {
                self.completions.post(o);
            }
            self.pool.free_slot(slot);
            kernel::pr_err!("syslet: cannot park a carrier ({ret}); killing it\n");
            // SAFETY: makes the process die before current returns to user
            // space; SIGKILL cannot be blocked or caught.
            unsafe { bindings::send_sig(bindings::SIGKILL as i32, bindings::get_current(), 1) };
        }
    }
}

/// The scheduler hook: the armed task `data` is about to block.
///
/// # Safety
///
/// Called by the kernel with the pointer given to `syslet_arm()`, from
/// `schedule()` of that very task.
unsafe extern "C" fn sleeping(data: *mut c_void) {
    // SAFETY: `data` is the `Takeover` of the submission current is running,
    // alive while current is armed (see `Takeover::armed`).
    let t = unsafe { &*(data as *const Takeover<'_>) };
    if t.may.load(Relaxed) == 0 || t.taken() {
        return;
    }
    hand_off(t);
}

impl Takeover<'_> {
    /// `SYSLET_SUBMIT_ASYNC_NOW`: hands the caller's context to a spare
    /// before running anything. Returns whether it did; if not (no spare, a
    /// cap), the submission runs as usual.
    pub(crate) fn hand_off_now(&self) -> bool {
        if !self.may_go_async {
            return false;
        }
        hand_off(self)
    }
}

/// Moves current's user context to a parked spare and wakes it; current
/// becomes the carrier of the submission. Neither sleeps nor allocates:
/// runs in the scheduler hook. Returns whether the handoff happened.
fn hand_off(t: &Takeover<'_>) -> bool {
    let pool = t.pool;
    let blocked = || {
        Stats::bump(&t.stats.blocked_sync);
        false
    };
    // A place for the completion of this chain and of every one after it,
    // unless the submission reserved every place already.
    let places = if t.prereserved { 0 } else { t.remaining() };
    if !t.completions.reserve(places) {
        return blocked();
    }
    // Current needs a slot of its own, to park in once it is done: that is
    // where the thread cap bites.
    let Some(own) = pool.claim_slot() else {
        t.completions.unreserve(places);
        return blocked();
    };
    fetch_or(&pool.carrying, own.mask());
    let Some(slot) = pool.claim() else {
        pool.free_slot(own);
        t.completions.unreserve(places);
        return blocked();
    };
    let dst = slot.task.load(Relaxed);
    // SAFETY: `dst` is the slot's parked thread (it published the pointer
    // before its ready bit, which we claimed), a thread of our process that
    // sleeps in the kernel; current is the task whose context moves.
    if unsafe { bindings::move_user_context(dst, 0) } != 0 {
        // Wake the spare with nothing to do: it parks again. Setting its
        // ready bit back instead would strand a spare that a signal woke
        // meanwhile: it waits for `go` once its bit is gone.
        slot.cmd.store(CMD_NONE, Release);
        // SAFETY: we claimed the slot; `complete` takes a raw spinlock only.
        unsafe { bindings::complete(slot.go.get()) };
        pool.free_slot(own);
        t.completions.unreserve(places);
        return blocked();
    }
    let done = t.done.load(Relaxed);
    // SAFETY: we own the slot's handoff until we complete `go`.
    unsafe {
        *slot.handoff.get() = Handoff {
            submit: t.submit,
            done,
            queued: t.total - done,
            mask: t.mask,
        };
    }
    slot.cmd.store(CMD_TAKEOVER, Release);
    t.carrier.store(own.bit, Relaxed);
    t.taken.store(1, Relaxed);
    Stats::bump(&t.stats.went_async);
    // SAFETY: no preconditions; current stops telling us it blocks.
    unsafe { bindings::syslet_disarm() };
    // On this CPU, which current is about to leave for it: waking the spare
    // elsewhere would cost an IPI and an idle CPU's wake-up, and current's
    // CPU would go idle. The spare waits on `go`; completing takes a raw
    // spinlock only.
    // SAFETY: as above.
    unsafe { bindings::complete_on_current_cpu(slot.go.get()) };
    true
}

/// The hook table registered with the kernel.
#[repr(transparent)]
struct Hooks(bindings::syslet_hook_ops);

// SAFETY: the table is immutable.
unsafe impl Sync for Hooks {}

static HOOKS: Hooks = Hooks(bindings::syslet_hook_ops {
    sleeping: Some(sleeping),
});

/// The registration of [`sleeping`] with the scheduler, for the module's
/// lifetime. Only one syslet engine can be registered at a time.
pub(crate) struct HookRegistration(());

impl HookRegistration {
    pub(crate) fn new() -> Result<Self> {
        // SAFETY: `HOOKS` is a static, valid until `drop` unregisters it.
        kernel::error::to_result(unsafe { bindings::syslet_register_hooks(&HOOKS.0) })?;
        Ok(Self(()))
    }
}

impl Drop for HookRegistration {
    fn drop(&mut self) {
        // SAFETY: registered in `new`; returns once no CPU runs the hook.
        unsafe { bindings::syslet_unregister_hooks(&HOOKS.0) };
    }
}

/// Where a spare parks. Returns a `SYSLET_THREAD_*` value.
///
/// # Safety
///
/// Called by the kernel with the `st` of a slot set up by `Pool::spawn`.
unsafe extern "C" fn spare_main(st: *mut bindings::syslet_thread, exiting: bool) -> i32 {
    // SAFETY: `st` is the first field of a `repr(C)` `Slot`.
    let slot = unsafe { &*(st as *const Slot) };
    // SAFETY: set in `Pool::spawn`; the pool outlives the slot's thread.
    let pool = unsafe { &*slot.pool.load(Relaxed) };
    let exit = |pool: &Pool| {
        post_last(slot);
        fetch_or(&pool.leaving, slot.mask());
        bindings::SYSLET_THREAD_EXIT as i32
    };
    if exiting {
        return exit(pool);
    }
    // A new spare has no task yet (`Pool::spawn`), and parks whatever the
    // count: its place was claimed under the cap. A carrier (`finish` set
    // its task), or a spare a signal or a failed hand-off woke, looks at
    // the cap first.
    let mut settled = !slot.task.load(Relaxed).is_null();
    // SAFETY: a valid `current` pointer for the move into this thread.
    slot.task.store(unsafe { bindings::get_current() }, Relaxed);
    let leader = is_leader();
    if leader {
        fetch_or(&pool.leaders, slot.mask());
    } else {
        fetch_and(&pool.leaders, !slot.mask());
    }
    loop {
        if pool.dying.load(Relaxed) != 0 {
            return exit(pool);
        }
        // Parked threads must not fill the thread cap: the next carrier
        // would find no place, and no chain could go asynchronous again.
        // At the cap, a thread leaves rather than park; the leader, which
        // always parks, sends a parked follower away instead.
        if settled && pool.full() {
            if !leader {
                return exit(pool);
            }
            if let Some(other) = pool.claim_follower() {
                other.send_away();
            }
        }
        slot.cmd.store(CMD_NONE, Relaxed);
        // SAFETY: our ready bit is clear, so nobody waits on or completes
        // `go` now.
        unsafe { bindings::init_completion(slot.go.get()) };
        fetch_or(&pool.ready, slot.mask());
        // Ready, so the program that reaps this may count on us.
        post_last(slot);
        // `Pool::close` may have looked for parked spares just before we
        // were one (it sets `dying`, then claims; we set `ready`, then look
        // at `dying`; all fully ordered): leave unless claimed meanwhile.
        if pool.dying.load(Relaxed) != 0 && fetch_and(&pool.ready, !slot.mask()) & slot.mask() != 0
        {
            return exit(pool);
        }
        // SAFETY: `go` is initialised.
        let ret = unsafe { bindings::wait_for_completion_interruptible(slot.go.get()) };
        if ret != 0 {
            if fetch_and(&pool.ready, !slot.mask()) & slot.mask() != 0 {
                // Nobody claimed us: let the kernel handle the signal.
                return bindings::SYSLET_THREAD_SIGNAL as i32;
            }
            // Claimed just now: the claimer completes `go` at once.
            // SAFETY: `go` is initialised.
            unsafe { bindings::wait_for_completion(slot.go.get()) };
        }
        match slot.cmd.load(Acquire) {
            CMD_TAKEOVER => {
                // The slot is free once the kernel says we are in user space.
                fetch_or(&pool.leaving, slot.mask());
                return take_over(slot);
            }
            CMD_EXIT => return exit(pool),
            _ => settled = true,
        }
    }
}

/// Posts the completion a carrier left in its slot, if any. Only ever
/// called by the slot's own thread.
fn post_last(slot: &Slot) {
    // SAFETY: only the slot's own thread, current, touches `last`.
    if let Some((completions, outcome)) = unsafe { (*slot.last.get()).take() } {
        // SAFETY: the completions belong to the context that owns the pool,
        // which outlives the pool's threads (`Pool::wait_gone`).
        unsafe { &*completions }.post(outcome);
    }
}

/// Whether current is its process's leader (whose id is the process's).
fn is_leader() -> bool {
    let me = kernel::current!();
    // SAFETY: `me` is current; a null namespace means current's own.
    let pid = unsafe {
        bindings::__task_pid_nr_ns(me.as_ptr(), bindings::pid_type_PIDTYPE_PID, ptr::null_mut())
    };
    pid == me.tgid_nr_ns(None)
}

/// The spare has the caller's user context: finish the caller's ioctl.
fn take_over(slot: &Slot) -> i32 {
    // SAFETY: the claimer wrote the handoff before completing `go`.
    let h = unsafe { *slot.handoff.get() };
    let mut mask = h.mask;
    // SAFETY: `mask` is a valid signal set; this is current's own mask.
    unsafe { bindings::sigprocmask(bindings::SIG_SETMASK as i32, &mut mask, ptr::null_mut()) };
    // Report "queued" in the caller's struct syslet_submit: `done` and
    // `queued` are adjacent u32 fields. The caller may have unmapped it; the
    // chains are queued whatever happens to this report.
    let at = h.submit as usize + core::mem::offset_of!(uapi::syslet_submit, done);
    let mut w = UserSlice::new(UserPtr::from_addr(at), 8).writer();
    let _ = w.write(&[h.done, h.queued]);
    bindings::SYSLET_THREAD_USER as i32
}

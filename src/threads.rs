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
//! The task that blocked (the *carrier*) finishes the chain and the rest of
//! the batch in the kernel, posts their completions, and exits right after
//! its ioctl returns (`syslet_thread_park_on_return()` with
//! [`carrier_exit`]); it never returns to user space with the frame it
//! gave away.
//!
//! Context rules: [`sleeping`] runs inside `schedule()` with the task state
//! set. It only uses atomics, `move_user_context()` and `complete()` (whose
//! lock is a raw spinlock): nothing that sleeps or allocates, on PREEMPT_RT
//! too. Everything else here runs in process context.

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
// after `go` completed; everything else is atomic or owned by the kernel.
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
        })
    }

    fn mask(&self) -> u32 {
        1 << self.bit
    }
}

/// The spares of one context.
#[pin_data]
pub(crate) struct Pool {
    #[pin]
    slots: [Slot; MAX_THREADS as usize],
    /// Slots whose thread is parked and may be claimed.
    ready: Atomic<u32>,
    /// Slots with a thread (parked, waking or leaving).
    used: Atomic<u32>,
    /// Slots whose thread said it exits; free once `exited` completes.
    leaving: Atomic<u32>,
    /// Carriers: tasks finishing chains whose context a spare took.
    carriers: Atomic<u32>,
    /// Set once, when the context goes away: spares exit.
    dying: Atomic<u32>,
    /// How many spares to keep parked.
    spares: Atomic<u32>,
    /// Cap on spares + carriers.
    max_threads: Atomic<u32>,
}

impl Pool {
    pub(crate) fn new(spares: u32, max_threads: u32) -> impl PinInit<Self> {
        pin_init!(Self {
            slots <- pin_init::pin_init_array_from_fn(|i| Slot::new(i as u32)),
            ready: Atomic::new(0),
            used: Atomic::new(0),
            leaving: Atomic::new(0),
            carriers: Atomic::new(0),
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

    /// Threads of this context that run its code now: spares (parked,
    /// starting or leaving) plus carriers. Lock-free.
    pub(crate) fn threads(&self) -> u32 {
        self.reap();
        self.used.load(Relaxed).count_ones() + self.carriers.load(Relaxed)
    }

    /// Spares that are, or are about to be, parked.
    fn spares_alive(&self) -> u32 {
        (self.used.load(Relaxed) & !self.leaving.load(Relaxed)).count_ones()
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
        while self.dying.load(Relaxed) == 0
            && self.spares_alive() < self.spares.load(Relaxed)
            && self.threads() < self.max_threads.load(Relaxed)
        {
            if self.spawn().is_err() {
                Stats::bump(&stats.spawn_failed);
                break;
            }
            Stats::bump(&stats.spawned);
        }
    }

    /// Starts one spare in a free slot.
    fn spawn(&self) -> Result {
        let used = self.used.load(Relaxed);
        let free = !used & (u32::MAX >> (32 - MAX_THREADS));
        if free == 0 {
            return Err(EAGAIN);
        }
        let slot = &self.slots[free.trailing_zeros() as usize];
        fetch_or(&self.used, slot.mask());
        slot.pool.store(self, Relaxed);
        slot.task.store(ptr::null_mut(), Relaxed);
        slot.cmd.store(CMD_NONE, Relaxed);
        // SAFETY: the slot is free: no thread uses its completions or `st`.
        unsafe {
            bindings::init_completion(slot.exited.get());
            bindings::init_completion(slot.go.get());
            let st = slot.st.get();
            (*st).fn_ = Some(spare_main);
            (*st).owner = this_module();
            (*st).exited = slot.exited.get();
        }
        // SAFETY: `st` is initialised and, with `exited`, stays valid until
        // `exited` completes: the slot is not reused before `reap` sees that,
        // and the pool outlives its threads (`shut_down`).
        let ret = unsafe { bindings::syslet_thread_create(slot.st.get()) };
        if ret != 0 {
            fetch_and(&self.used, !slot.mask());
            return Err(Error::from_errno(ret));
        }
        Ok(())
    }

    /// Claims a parked spare. Lock-free: usable from [`sleeping`].
    fn claim(&self) -> Option<&Slot> {
        let mut ready = self.ready.load(Acquire);
        loop {
            if ready == 0 {
                return None;
            }
            let bit = 1 << ready.trailing_zeros();
            match self.ready.cmpxchg(ready, ready & !bit, Full) {
                Ok(_) => return Some(&self.slots[bit.trailing_zeros() as usize]),
                Err(now) => ready = now,
            }
        }
    }

    /// Tells every spare to exit and waits until each has, unless it took a
    /// user context on the way. Called when the context goes away; carriers
    /// are gone by then (each holds the file while it works).
    pub(crate) fn shut_down(&self) {
        self.dying.xchg(1, Full);
        while let Some(slot) = self.claim() {
            slot.cmd.store(CMD_EXIT, Release);
            // SAFETY: we claimed the slot's ready bit, so its thread waits on
            // `go` and nobody else completes it.
            unsafe { bindings::complete(slot.go.get()) };
        }
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
    /// Where the chains that go asynchronous post their completions.
    completions: &'a Completions,
    /// Every chain's place was reserved up front (`SYSLET_SUBMIT_RING`).
    prereserved: bool,
    mask: bindings::sigset_t,
    /// What current runs once it is a carrier, allocated up front because
    /// the hook cannot allocate and the carrier must not fail to leave.
    carrier: Option<KBox<Opaque<bindings::syslet_thread>>>,
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
        let carrier = if may_go_async {
            // SAFETY: `sigset_t` is plain data; all zeroes is the empty set.
            let mut none: bindings::sigset_t = unsafe { core::mem::zeroed() };
            // SAFETY: both sets are valid; blocking the empty set changes
            // nothing and reads current's mask into `mask`.
            unsafe { bindings::sigprocmask(bindings::SIG_BLOCK as i32, &mut none, &mut mask) };
            KBox::new(Opaque::uninit(), GFP_KERNEL).ok()
        } else {
            None
        };
        Self {
            pool,
            stats,
            submit,
            done: Atomic::new(0),
            total,
            taken: Atomic::new(0),
            may: Atomic::new(0),
            blocked_all: Atomic::new(0),
            completions,
            prereserved,
            mask,
            carrier,
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
            // SAFETY: `all` is valid; this changes current's own mask only
            // (SIGKILL and SIGSTOP stay deliverable).
            unsafe {
                bindings::sigprocmask(bindings::SIG_SETMASK as i32, &mut all, ptr::null_mut())
            };
        }
    }

    /// Lets the hook hand off while `f` runs, if the caller is still ours.
    pub(crate) fn armed<R>(&self, f: impl FnOnce() -> R) -> R {
        if self.taken() || self.carrier.is_none() {
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

    /// After a takeover, at the end of the submission: counts current as a
    /// carrier until it exits, right after the ioctl returns.
    pub(crate) fn finish(mut self) {
        if !self.taken() {
            return;
        }
        // A takeover only happens with a carrier allocated (see `armed`).
        let Some(st) = self.carrier.take() else {
            return;
        };
        let st = KBox::into_raw(st).cast::<bindings::syslet_thread>();
        // SAFETY: `st` is a fresh allocation we own; `carrier_exit` frees it.
        unsafe {
            (*st).fn_ = Some(carrier_exit);
            (*st).owner = this_module();
            (*st).exited = ptr::null_mut();
        }
        self.pool.carriers.fetch_sub(1u32, Relaxed);
        // SAFETY: `st` is valid until `carrier_exit` frees it. The arm
        // succeeded, so current is not a vfork child and is not exiting.
        let ret = unsafe { bindings::syslet_thread_park_on_return(st) };
        // Cannot fail here (see above); if it did, the task would return to
        // user space with a frame another thread owns.
        if ret != 0 {
            kernel::pr_err!("syslet: cannot retire a carrier ({ret}); killing it\n");
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
        if self.carrier.is_none() {
            return false;
        }
        hand_off(self)
    }
}

/// Moves current's user context to a parked spare and wakes it; current
/// becomes the carrier of the submission. Neither sleeps nor allocates:
/// runs in the scheduler hook. Returns whether the handoff happened.
fn hand_off(t: &Takeover<'_>) -> bool {
    if t.pool.threads() >= t.pool.max_threads.load(Relaxed) {
        Stats::bump(&t.stats.blocked_sync);
        return false;
    }
    let Some(slot) = t.pool.claim() else {
        Stats::bump(&t.stats.blocked_sync);
        return false;
    };
    // A place for the completion of this chain and of every one after it,
    // unless the submission reserved every place already.
    let places = if t.prereserved { 0 } else { t.remaining() };
    if !t.completions.reserve(places) {
        fetch_or(&t.pool.ready, slot.mask());
        Stats::bump(&t.stats.blocked_sync);
        return false;
    }
    let dst = slot.task.load(Relaxed);
    // SAFETY: `dst` is the slot's parked thread (it published the pointer
    // before its ready bit, which we claimed), a thread of our process that
    // sleeps in the kernel; current is the task whose context moves.
    if unsafe { bindings::move_user_context(dst, 0) } != 0 {
        t.completions.unreserve(places);
        fetch_or(&t.pool.ready, slot.mask());
        Stats::bump(&t.stats.blocked_sync);
        return false;
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
    t.taken.store(1, Relaxed);
    t.pool.carriers.fetch_add(1, Relaxed);
    Stats::bump(&t.stats.went_async);
    // SAFETY: no preconditions; current stops telling us it blocks.
    unsafe { bindings::syslet_disarm() };
    // SAFETY: the spare waits on `go`; `complete` takes a raw spinlock only.
    unsafe { bindings::complete(slot.go.get()) };
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
        fetch_or(&pool.leaving, slot.mask());
        bindings::SYSLET_THREAD_EXIT as i32
    };
    if exiting {
        return exit(pool);
    }
    // SAFETY: a valid `current` pointer for the move into this thread.
    slot.task.store(unsafe { bindings::get_current() }, Relaxed);
    loop {
        if pool.dying.load(Relaxed) != 0 {
            return exit(pool);
        }
        slot.cmd.store(CMD_NONE, Relaxed);
        // SAFETY: our ready bit is clear, so nobody waits on or completes
        // `go` now.
        unsafe { bindings::init_completion(slot.go.get()) };
        fetch_or(&pool.ready, slot.mask());
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
            _ => continue,
        }
    }
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

/// What a carrier runs after its ioctl returned: nothing but leaving.
///
/// # Safety
///
/// Called by the kernel with the `st` allocated in `Takeover::finish`.
unsafe extern "C" fn carrier_exit(st: *mut bindings::syslet_thread, _exiting: bool) -> i32 {
    // SAFETY: allocated by `Takeover::finish` as a `KBox`; the kernel does
    // not touch it once we return (its `exited` is null).
    drop(unsafe { KBox::from_raw(st.cast::<Opaque<bindings::syslet_thread>>()) });
    bindings::SYSLET_THREAD_EXIT as i32
}

// SPDX-License-Identifier: GPL-2.0

// Copyright (C) 2026 The syslet authors.

//! Cachemiss threads: spares parked in the user process, and the takeover.
//!
//! A context keeps up to [`MAX_THREADS`] threads, each in a [`Slot`]. A
//! spare is an ordinary thread of the caller's process
//! (`syslet_thread_create()`), parked in [`spare_main`] with every blockable
//! signal blocked. When a task running a chain is about to block, the
//! scheduler calls [`sleeping`]: it claims a parked spare ([`Claim`]),
//! saves the task's user context into the spare's buffer
//! ([`UserContext::save`], which also checks that the spare has exactly the
//! caller's security identity) and wakes it. The spare installs the context
//! on itself ([`UserContext::take`]: registers, TLS, FPU state, signal
//! mask...), writes "queued" into the caller's submission and returns to
//! user space as the caller, with the caller's thread id: the save
//! exchanges the two tasks' ids (for the leader, the group leadership),
//! thread-directed pending signals and children, under `tasklist_lock`.
//! Nothing else is written into another task, which may still be running
//! on the other CPU. A spare whose identity
//! differs from the caller's (the caller dropped privileges, or installed a
//! seccomp filter, after the spare was made; or it is another thread's
//! parked carrier) is sent away and the next one tried; with none left the
//! chain blocks synchronously, and the caller's next submission makes
//! spares of its own identity.
//!
//! The task that blocked (the *carrier*) takes a slot of its own at the
//! hand-off, finishes the chain in the kernel (with [`Carry::All`], the
//! rest of the batch too), posts its completion, and once its ioctl has
//! returned parks in
//! [`spare_main`] like any spare (`syslet_thread_park_on_return()`): it
//! never returns to user space with the frame it gave away, and a steady
//! stream of cachemisses creates no thread. The submission's last
//! completion is posted only once its carrier is a parked spare, so a
//! program that reaped it can count on that spare. The pool keeps the
//! threads a burst needed, but a thread that would park with the pool at
//! its thread cap exits instead: parked spares must leave a place for the
//! next carrier. No parked thread is ever the process's leader: the
//! leadership goes with the leader's context.
//!
//! By default ([`Carry::Split`]) the spare gets the chains after the blocked
//! one with the context ([`Rest`]) and runs them before it returns to user
//! space ([`continuation`]), armed with `syslet_thread_arm()`: a chain that
//! blocks there is handed on the same way, and the spare, now a carrier,
//! keeps its own slot (Leaving, then Carrying) and parks in it again once
//! the chain is done; it never returns to user space with the frame it gave
//! away.
//!
//! Every slot's state lives in [`PoolInner`], under [`Pool::inner`]; a
//! slot's thread and whoever claims it meet only there and through the
//! slot's `go` completion. What a claimer hands over (an [`Order`] and a
//! saved context) belongs to the [`Claim`] until `go` completes, and to the
//! slot's thread after.
//!
//! Lock order: `Pool::inner`, then a completion's own lock
//! (`completion_done()`). `complete()` is never called under `Pool::inner`.
//!
//! Context rules: [`sleeping`] runs inside `schedule()` with the task state
//! set. It takes `Pool::inner` (a `spinlock_t`: a raw spinlock unless the
//! kernel is PREEMPT_RT, where this hook would need a raw one), saves the
//! context, takes a file reference for a [`Rest`] (`get_file()`, an atomic
//! increment) and calls `complete()` or `complete_on_current_cpu()`:
//! nothing that sleeps or allocates. Everything else here runs in process
//! context.

use core::{
    cell::{
        Cell,
        OnceCell,
        UnsafeCell, //
    },
    ffi::c_void,
    mem::ManuallyDrop,
    ptr, //
};
use kernel::{
    bindings,
    fs::File,
    new_condvar,
    new_spinlock,
    prelude::*,
    sync::{
        atomic::{
            Atomic,
            Relaxed, //
        },
        CondVar,
        SetOnce,
        SpinLock,
    },
    types::Opaque,
};

use crate::{
    cancel::{
        Cancel,
        Marks, //
    },
    chain::{
        Halt,
        Outcome,
        Stop, //
    },
    context::Context,
    continuation::{
        self,
        Rest, //
    },
    deadline::Deadline,
    completions::Completions,
    direct_io::{
        InFlight,
        IoStash, //
    },
    identity::ProgramThread,
    slots::{
        SlotState,
        SlotTable, //
    },
    stats::Stats,
    trace,
    uapi,
    user_context::{
        SaveError,
        UserContext, //
    }, //
};

/// The most cachemiss threads (spares and carriers) a context may have:
/// one per chain in flight, and the spares. `RLIMIT_NPROC` bounds them too.
pub(crate) const MAX_THREADS: u32 = 1024;

/// The module that threads pin while they run its code.
fn this_module() -> *mut bindings::module {
    <crate::SysletModule as kernel::ModuleMetadata>::THIS_MODULE.as_ptr()
}

/// The state of a pool's slots, under [`Pool::inner`].
struct PoolInner {
    /// One entry per slot of [`Pool::slots`] (none before set-up).
    table: SlotTable,
    /// Set once, when the context goes away: no slot is taken any more and
    /// spares exit.
    dying: bool,
    /// How many spares to keep parked.
    spares: u32,
    /// Cap on slots with a thread.
    max_threads: u32,
    /// Spares started that have not parked or left yet.
    starting: u32,
    /// Tasks waiting in [`Pool::wait_parked`].
    waiting: u32,
}

// SAFETY: the task pointers are never dereferenced here: they are compared
// with `current` or given to the kernel while the task is known to be alive
// (see `SlotInner::task`); a `Marks::cancel` pointer is only dereferenced
// under `Pool::inner` while published (see there).
unsafe impl Send for PoolInner {}

impl PoolInner {
    /// Threads of the pool: spares in any state, carriers, leaving threads.
    fn threads(&self) -> u32 {
        self.table.len() as u32 - self.table.count(SlotState::Free)
    }

    /// Spares that are, or are about to be, parked.
    fn spares_alive(&self) -> u32 {
        [SlotState::Busy, SlotState::Ready, SlotState::Claimed]
            .iter()
            .map(|&s| self.table.count(s))
            .sum()
    }

    /// Whether the threads fill the thread cap: the next hand-off would
    /// find no place for its carrier.
    fn full(&self) -> bool {
        self.threads() >= self.max_threads
    }

    /// Whether the next chain of a rest that blocks can be handed off: a
    /// spare is parked, or the rest's spare can make one under the cap.
    fn spare_in_sight(&self) -> bool {
        !self.full() || self.table.count(SlotState::Ready) > 0
    }
}

/// What the holder of a [`Claim`] tells the slot's thread.
enum Order {
    /// Park again.
    Park,
    /// Exit.
    Exit,
    /// Take over the context saved in the slot's buffer, report
    /// `done`/`queued` into the caller's `struct syslet_submit` at `submit`,
    /// and run the `rest` of the caller's batch, if any, before returning to
    /// user space.
    TakeOver {
        submit: u64,
        done: u32,
        queued: u32,
        rest: Option<Rest>,
    },
}

/// One thread's place. `st` comes first: the thread function gets a
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
    /// The pool, set before the slot's thread first runs our code.
    pool: Atomic<*const Pool>,
    index: usize,
    /// Written by a [`Claim`]'s holder before it completes `go`; read by
    /// the slot's thread after its wait for `go` returned.
    order: UnsafeCell<Order>,
    /// Where a claimer saves the context the slot's thread takes over.
    /// Allocated by the slot's own thread before it first parks, kept while
    /// the slot is reused, freed with the pool; its contents belong to a
    /// claim's holder between the claim and `go`.
    uc: UnsafeCell<Option<UserContext>>,
    /// The last completion of the submission the slot's thread carried,
    /// and where it goes: posted by [`spare_main`] once the thread is a
    /// ready spare. Only the slot's own thread touches it.
    last: UnsafeCell<Option<(*const Completions, uapi::syslet_outcome)>>,
}

// SAFETY: `order` and the contents of `uc` are handed from a claim's
// holder to the slot's thread by the `go` completion, which orders the
// accesses; `uc` itself and `last` are only touched by the slot's own
// thread; the rest is atomic or owned by the kernel.
unsafe impl Sync for Slot {}
// SAFETY: see above; nothing in a slot is tied to a thread.
unsafe impl Send for Slot {}

impl Slot {
    fn new(index: usize) -> impl PinInit<Self> {
        pin_init!(Self {
            st <- Opaque::uninit(),
            // SAFETY: `init_completion` initialises the completion in place.
            exited <- Opaque::ffi_init(|c| unsafe { bindings::init_completion(c) }),
            // SAFETY: as above.
            go <- Opaque::ffi_init(|c| unsafe { bindings::init_completion(c) }),
            pool: Atomic::new(ptr::null()),
            index,
            order: UnsafeCell::new(Order::Park),
            uc: UnsafeCell::new(None),
            last: UnsafeCell::new(None),
        })
    }

    /// Readies a slot just taken for a new thread (a spare to start, or a
    /// carrier about to park) of `pool`.
    ///
    /// # Safety
    ///
    /// The slot was taken from Free (a spare) or is the caller's own
    /// Carrying slot: nobody waits on or completes its completions, and
    /// nobody else reads `st`.
    unsafe fn prepare(&self, pool: &Pool) {
        self.pool.store(pool, Relaxed);
        // SAFETY: nobody uses the completions or `st` now (caller).
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

/// A parked spare claimed by the holder (its state is Claimed): until the
/// holder sends it an [`Order`], the slot's `order` and context buffer are
/// the holder's. Dropping a claim sends [`Order::Park`].
struct Claim<'a> {
    slot: &'a Slot,
    task: *mut bindings::task_struct,
}

impl Claim<'_> {
    /// The slot's context buffer (the slot's thread set it before it
    /// parked).
    fn user_context(&self) -> Option<&UserContext> {
        // SAFETY: the slot's thread set `uc` before it parked, and leaves
        // it alone until `go`; the contents are ours until then.
        unsafe { (*self.slot.uc.get()).as_ref() }
    }

    /// Sends the slot's thread `order`, waking it on this CPU if
    /// `on_this_cpu`. Takes a raw spinlock only: usable from [`sleeping`].
    fn send(self, order: Order, on_this_cpu: bool) {
        let this = ManuallyDrop::new(self);
        this.go(order, on_this_cpu);
    }

    fn go(&self, order: Order, on_this_cpu: bool) {
        // SAFETY: the order is ours until `go` completes (type invariant).
        unsafe { *self.slot.order.get() = order };
        let go = self.slot.go.get();
        // SAFETY: the slot's thread waits on `go` (it is Claimed), and only
        // the claim's holder completes it.
        unsafe {
            if on_this_cpu {
                bindings::complete_on_current_cpu(go)
            } else {
                bindings::complete(go)
            }
        };
    }
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        self.go(Order::Park, false);
    }
}

/// The threads of one context.
#[pin_data]
pub(crate) struct Pool {
    #[pin]
    inner: SpinLock<PoolInner>,
    /// Notified when a spare parks while someone waits for one.
    #[pin]
    parked: CondVar,
    /// The slots, made at set-up ([`Pool::configure`]) and kept until the
    /// pool goes: their threads point into them.
    slots: SetOnce<KVec<Pin<KBox<Slot>>>>,
}

impl Pool {
    pub(crate) fn new(spares: u32, max_threads: u32) -> impl PinInit<Self> {
        pin_init!(Self {
            inner <- new_spinlock!(
                PoolInner {
                    table: SlotTable::empty(),
                    dying: false,
                    spares,
                    max_threads,
                    starting: 0,
                    waiting: 0,
                },
                "Pool::inner"
            ),
            parked <- new_condvar!("Pool::parked"),
            slots: SetOnce::new(),
        })
    }

    /// Set-up: makes `max_threads` slots. Once, before any thread runs; a
    /// set-up tried again after a failure keeps the slots made the first
    /// time, and at most as many threads. Process context.
    pub(crate) fn configure(&self, spares: u32, max_threads: u32) -> Result {
        if self.slots.as_ref().is_none() {
            let n = max_threads as usize;
            let table = SlotTable::new(n)?;
            let mut slots = KVec::with_capacity(n, GFP_KERNEL)?;
            for i in 0..n {
                slots.push(KBox::pin_init(Slot::new(i), GFP_KERNEL)?, GFP_KERNEL)?;
            }
            if self.slots.populate(slots) {
                self.inner.lock().table = table;
            }
        }
        let made = self.slots().len() as u32;
        let mut inner = self.inner.lock();
        inner.max_threads = max_threads.min(made);
        inner.spares = spares.min(inner.max_threads.saturating_sub(1));
        Ok(())
    }

    /// The pool's slots (none before set-up).
    fn slots(&self) -> &[Pin<KBox<Slot>>] {
        self.slots.as_ref().map_or(&[], |s| &s[..])
    }

    /// Slot `i`.
    fn slot(&self, i: usize) -> Option<&Slot> {
        self.slots().get(i).map(|s| s.as_ref().get_ref())
    }

    /// Spares parked now.
    pub(crate) fn parked(&self) -> u32 {
        self.inner.lock().table.count(SlotState::Ready)
    }

    /// Threads of this context that run its code now: spares (starting,
    /// parked or leaving) and carriers.
    pub(crate) fn threads(&self) -> u32 {
        let mut inner = self.inner.lock();
        self.reap(&mut inner);
        inner.threads()
    }

    /// Frees the slots whose thread has gone, to user space or for good:
    /// Leaving ones, and Busy ones whose thread died without leaving (a
    /// spare killed while it handled a signal: another thread's execve()
    /// kills the others that way). `completion_done()` does not consume
    /// the completion: `wait_gone` may still wait for it.
    fn reap(&self, inner: &mut PoolInner) {
        inner.table.reap(|i| {
            // SAFETY: `exited` is initialised; a Leaving or Busy slot is
            // not prepared again before it is Free, and a slot is prepared
            // under `Pool::inner` before it is Busy (so a Busy slot's
            // `exited` is its own thread's).
            self.slot(i)
                .is_some_and(|slot| unsafe { bindings::completion_done(slot.exited.get()) })
        });
    }

    /// Takes a free slot for a new thread, within the thread cap, and puts
    /// it in `state` with `task`.
    fn take_slot(
        &self,
        inner: &mut PoolInner,
        state: SlotState,
        task: *mut bindings::task_struct,
    ) -> Option<&Slot> {
        self.reap(inner);
        if inner.dying || inner.full() {
            return None;
        }
        let i = inner.table.any_free()?;
        let slot = self.slot(i)?;
        inner.table.set(i, state, task);
        Some(slot)
    }

    /// Gives back a slot taken by [`Pool::take_slot`] whose thread never
    /// ran.
    fn free_slot(&self, slot: &Slot) {
        self.inner.lock().table.set(slot.index, SlotState::Free, ptr::null_mut());
    }

    /// A continuing spare, current, becomes the carrier of the chain that
    /// blocked in `slot`, its own.
    fn set_carrying(&self, slot: &Slot, me: *mut bindings::task_struct) {
        self.inner.lock().table.set(slot.index, SlotState::Carrying, me);
    }

    /// Sets the state of `slot`.
    fn set_state(&self, slot: &Slot, state: SlotState) {
        self.inner.lock().table.set_state(slot.index, state);
    }

    /// `SYSLET_IOC_CANCEL`: marks the queued chains whose cookie is
    /// `cookie` (every one with `all`) and interrupts the carriers that run
    /// one of them. Returns how many it marked.
    pub(crate) fn cancel(&self, cookie: u64, all: bool) -> u32 {
        let mut inner = self.inner.lock();
        let mut found = 0;
        for i in 0..inner.table.len() {
            let s = inner.table.get(i);
            if s.state != SlotState::Carrying {
                continue;
            }
            let task = s.task;
            let Some(marks) = inner.table.marks_mut(i).filter(|m| !m.cancel.is_null()) else {
                continue;
            };
            // SAFETY: published, so valid (`Marks::cancel`).
            let (n, running) = unsafe { marks.mark(|c| all || c == cookie) };
            found += n;
            if n > 0 {
                // Before the interruption, so that the event comes before
                // the completions it causes.
                // SAFETY: a Carrying slot's task is alive (as below).
                unsafe { trace::syslet_cancel(cookie, all, n, task) };
            }
            if running && !marks.interrupted {
                marks.interrupted = true;
                // SAFETY: a Carrying slot's task is alive (`SlotInner::task`):
                // it clears its marks under this lock before it can exit.
                unsafe { bindings::syslet_interrupt(task) };
            }
        }
        found
    }

    /// The carrier in `slot` starts chain `i`: whether it was asked to stop
    /// already (it does not run then), and whether the carrier must clear
    /// an interruption meant for the chain before.
    fn start_chain(&self, slot: usize, i: usize) -> (bool, bool) {
        let mut inner = self.inner.lock();
        let Some(marks) = inner.table.marks_mut(slot) else {
            return (false, false);
        };
        marks.running = i;
        let interrupted = core::mem::replace(&mut marks.interrupted, false);
        (marks.stopped(i), interrupted)
    }

    /// Whether chain `i` of the carrier in `slot` was asked to stop.
    fn marked(&self, slot: usize, i: usize) -> bool {
        self.inner.lock().table.marks(slot).is_some_and(|m| m.stopped(i))
    }

    /// Whether chain `i` of the carrier in `slot` was asked to stop; if so,
    /// the interruption (if any) is the carrier's to clear now.
    fn chain_stopped(&self, slot: usize, i: usize) -> bool {
        let mut inner = self.inner.lock();
        let Some(marks) = inner.table.marks_mut(slot) else {
            return false;
        };
        let stopped = marks.stopped(i);
        if stopped {
            marks.interrupted = false;
        }
        stopped
    }

    /// The carrier in `slot` carries nothing any more: its `Cancel` is
    /// about to go. Returns whether an interruption is left to clear.
    fn unpublish(&self, slot: usize) -> bool {
        let mut inner = self.inner.lock();
        inner
            .table
            .marks_mut(slot)
            .is_some_and(|m| core::mem::replace(m, Marks::NONE).interrupted)
    }

    /// Brings the number of parked spares up to the configured number,
    /// within the thread cap. Process context; creating a thread can sleep.
    pub(crate) fn replenish(&self, stats: &Stats) {
        loop {
            let slot = {
                let mut inner = self.inner.lock();
                self.reap(&mut inner);
                if inner.spares_alive() >= inner.spares {
                    return;
                }
                // None: the thread cap, or dying; not a failure.
                match self.take_slot(&mut inner, SlotState::Busy, ptr::null_mut()) {
                    Some(slot) => {
                        // SAFETY: taken from Free just now. Under the lock,
                        // so that `reap` never sees this Busy slot with the
                        // last thread's completed `exited`.
                        unsafe { slot.prepare(self) };
                        inner.starting += 1;
                        slot
                    }
                    None => return,
                }
            };
            // SAFETY: `st` is initialised and, with `exited`, stays valid
            // until `exited` completes: the slot is not prepared again
            // before `reap` sees that, and the pool outlives its threads
            // (`wait_gone`).
            let ret = unsafe { bindings::syslet_thread_create(slot.st.get()) };
            if ret != 0 {
                self.free_slot(slot);
                self.started();
                Stats::bump(&stats.spawn_failed);
                return;
            }
            Stats::bump(&stats.spawned);
        }
    }

    /// A spare that `replenish` started parked, or left without parking:
    /// it no longer counts as starting. Wakes [`Pool::wait_parked`].
    fn started(&self) {
        let wake = {
            let mut inner = self.inner.lock();
            inner.starting = inner.starting.saturating_sub(1);
            inner.waiting > 0
        };
        if wake {
            self.parked.notify_all();
        }
    }

    /// After [`Pool::replenish`]: waits until a spare is parked, as long as
    /// a spare it started may still park. Returns early on a signal.
    pub(crate) fn wait_parked(&self) {
        let mut inner = self.inner.lock();
        while !inner.dying
            && inner.starting > 0
            && inner.table.count(SlotState::Ready) == 0
        {
            inner.waiting += 1;
            let signalled = self.parked.wait_interruptible(&mut inner);
            inner.waiting -= 1;
            if signalled {
                break;
            }
        }
    }

    /// Claims a parked spare.
    fn claim(&self, inner: &mut PoolInner) -> Option<Claim<'_>> {
        let i = inner.table.any_ready()?;
        let slot = self.slot(i)?;
        inner.table.set_state(i, SlotState::Claimed);
        Some(Claim {
            slot,
            task: inner.table.get(i).task,
        })
    }

    /// Tells every spare to exit; one that parks later sees `dying` and
    /// exits too. Does not wait. Called when the context goes away, when no
    /// carrier runs chains any more (each holds the file while it does).
    pub(crate) fn close(&self) {
        self.inner.lock().dying = true;
        loop {
            // The guard goes at the end of the statement: `send` completes
            // `go`, never under `Pool::inner`.
            let claim = self.claim(&mut self.inner.lock());
            match claim {
                Some(claim) => claim.send(Order::Exit, false),
                None => return,
            }
        }
    }

    /// Whether current is a thread of this pool that has not left: it
    /// cannot wait for itself in [`Pool::wait_gone`]. That is a carrier
    /// whose file reference was the last one, closing the context on its
    /// way to park.
    pub(crate) fn is_own_thread(&self) -> bool {
        // SAFETY: no preconditions.
        let me = unsafe { bindings::get_current() };
        let inner = self.inner.lock();
        let own = inner
            .table
            .iter()
            .any(|(_, s)| !matches!(s.state, SlotState::Free | SlotState::Leaving) && s.task == me);
        own
    }

    /// Waits until every thread of the pool has exited or gone to user
    /// space, after [`Pool::close`] (no slot is prepared again then).
    ///
    /// A thread stopped while it handled a signal (a group stop, a ptrace
    /// stop, the cgroup freezer) comes back only when its process goes on,
    /// which may be never: the wait is `TASK_IDLE`, which neither counts as
    /// load nor looks hung, and only the module's teardown queue waits this
    /// long (see [`Pool::wait_gone_within`]).
    pub(crate) fn wait_gone(&self) {
        for slot in self.slots() {
            if self.inner.lock().table.get(slot.index).state == SlotState::Free {
                continue;
            }
            // SAFETY: `exited` is initialised; a slot's thread completes it
            // when it exits or goes to user space, whichever comes first,
            // and nobody consumes it before (`reap` only looks).
            unsafe { bindings::wait_for_completion_state(slot.exited.get(), bindings::TASK_IDLE) };
        }
    }

    /// As [`Pool::wait_gone`], but for at most `msecs` in all: whether every
    /// thread is gone. The task that releases the file may be anyone's (a
    /// process the descriptor was passed to, a kworker running a deferred
    /// `fput()`): it must not wait for a process that is stopped.
    pub(crate) fn wait_gone_within(&self, msecs: u32) -> bool {
        let mut left = kernel::time::msecs_to_jiffies(msecs);
        for slot in self.slots() {
            if self.inner.lock().table.get(slot.index).state == SlotState::Free {
                continue;
            }
            // SAFETY: as in `wait_gone`.
            left = unsafe { bindings::wait_for_completion_timeout(slot.exited.get(), left) };
            if left == 0 {
                return false;
            }
            // Done again, as it was: `wait_gone` and `reap` look at it
            // later, and nobody else completes it.
            // SAFETY: `exited` is initialised.
            unsafe { bindings::complete(slot.exited.get()) };
        }
        true
    }
}

/// Which chains the task whose chain blocked carries on after a hand-off.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Carry {
    /// The blocked chain; the chains after it go with the caller's context
    /// to the spare, which runs them before it returns to user space (the
    /// default: each chain of a batch that blocks gets a carrier of its
    /// own).
    Split,
    /// The blocked chain and every one after it (`SYSLET_SUBMIT_ASYNC_NOW`,
    /// or the rest of a batch while a signal is pending for the caller).
    All,
    /// The blocked chain; the submission ends there and the chains after
    /// it do not start (`SYSLET_SUBMIT_RETURN_ON_BLOCK`).
    Alone,
}

/// The chains a [`Takeover`] runs: all or the rest of one submission.
pub(crate) struct Batch<'a> {
    pub(crate) ctx: &'a Context,
    /// The context's file: a spare that runs the rest of the batch holds a
    /// reference of its own ([`Rest`]).
    pub(crate) file: &'a File,
    /// The user address of the `struct syslet_submit` being run.
    pub(crate) submit: u64,
    /// The user address of its array of chains.
    pub(crate) chains: u64,
    /// The index in that array of this batch's first chain, and of the end
    /// of the submission.
    pub(crate) base: u32,
    pub(crate) end: u32,
    /// The submission's deadline (CLOCK_MONOTONIC nanoseconds), if it has
    /// one, and the timer that enforces it on current.
    pub(crate) deadline_at: Option<i64>,
    pub(crate) deadline: Option<&'a Deadline>,
    /// What the carrier publishes for `SYSLET_IOC_CANCEL`, indexed from
    /// `base`.
    pub(crate) cancel: &'a Cancel,
}

/// The part of a submission the scheduler hook sees. Lives on the stack of
/// the task running the chains, with the [`Batch`] it runs; only that task
/// and its own hook, which runs inside `schedule()` called from the same
/// task, touch it: plain cells, not atomics.
pub(crate) struct Takeover<'a> {
    batch: Batch<'a>,
    pool: &'a Pool,
    stats: &'a Stats,
    completions: &'a Completions,
    /// Chains of the batch finished so far (an index from `batch.base`).
    done: Cell<u32>,
    /// Whether a spare has taken the caller's context.
    taken: Cell<bool>,
    /// Whether the hook may hand off right now (only around a chain).
    may: Cell<bool>,
    /// Current's own slot once it is a carrier (set with `taken`).
    carrier: Cell<usize>,
    /// The program thread the caller's context went to (set with
    /// `taken`): the carrier runs an atom only while that thread has the
    /// carrier's identity. Unset if its id could not be had: no atom runs.
    thread: OnceCell<ProgramThread>,
    /// Every chain's place was reserved already (`SYSLET_SUBMIT_RING`, the
    /// hand-off that queued the rest of the batch, or a read that went in
    /// flight).
    prereserved: Cell<bool>,
    /// What the caller's submission reports, once a chain of it went
    /// asynchronous without a hand-off (I/O in flight, `direct_io`).
    reported: Cell<Option<(u32, u32)>>,
    /// The places the `InFlight::begin` of the chain running reserved when
    /// it set `reported`, for `InFlight::abandon` to give back if its I/O
    /// did not go in flight after all; `None` otherwise.
    fresh: Cell<Option<u32>>,
    /// Whether the submission may go asynchronous at all.
    may_go_async: bool,
    /// What a carrier takes at a hand-off.
    carry: Cell<Carry>,
    /// When current is a spare running the rest of a batch: its slot, which
    /// it keeps as a carrier, and what the submission reported already.
    continuing: Option<(&'a Slot, (u32, u32))>,
    /// The cookie of the atom running, kept here (plain: only current and
    /// its hook touch it) and published in `cancel` once carried.
    cookie: Cell<u64>,
    /// Empty `Io`s for the thread-free I/O of these chains.
    stash: IoStash<'a>,
}

impl<'a> Takeover<'a> {
    /// The takeover of the caller's own submission.
    pub(crate) fn new(batch: Batch<'a>, prereserved: bool, may_go_async: bool, carry: Carry) -> Self {
        Self::make(batch, prereserved, may_go_async, carry, None)
    }

    /// The takeover of the rest of a batch that the spare in `slot` runs
    /// with the caller's context, which it took over with the report
    /// `(done, queued)`. The hand-off that queued these chains reserved
    /// their places.
    pub(crate) fn continuing(batch: Batch<'a>, slot: &'a Slot, report: (u32, u32)) -> Self {
        Self::make(batch, true, true, Carry::Split, Some((slot, report)))
    }

    fn make(
        batch: Batch<'a>,
        prereserved: bool,
        may_go_async: bool,
        carry: Carry,
        continuing: Option<(&'a Slot, (u32, u32))>,
    ) -> Self {
        let ctx = batch.ctx;
        Self {
            batch,
            pool: &ctx.pool,
            stats: &ctx.stats,
            completions: &ctx.completions,
            done: Cell::new(0),
            taken: Cell::new(false),
            may: Cell::new(false),
            carrier: Cell::new(0),
            thread: OnceCell::new(),
            prereserved: Cell::new(prereserved),
            reported: Cell::new(None),
            fresh: Cell::new(None),
            may_go_async,
            carry: Cell::new(carry),
            continuing,
            cookie: Cell::new(0),
            stash: IoStash::new(&ctx.direct_io),
        }
    }

    pub(crate) fn taken(&self) -> bool {
        self.taken.get()
    }

    /// What the carrier took at the hand-off (or will take).
    pub(crate) fn carry(&self) -> Carry {
        self.carry.get()
    }

    pub(crate) fn set_done(&self, done: u32) {
        self.done.set(done);
    }

    /// `(done, queued)` if a chain of the caller's own submission went
    /// asynchronous without a hand-off: from then on every chain's outcome
    /// goes to the ring.
    pub(crate) fn reported(&self) -> Option<(u32, u32)> {
        self.reported.get()
    }

    /// Between two chains of the caller's own: clears the interruption of
    /// a deadline that passed, so that only a real signal ends the
    /// submission there (the chains after it stop as timed out).
    pub(crate) fn deadline_settled(&self) {
        if !self.taken() && self.batch.deadline.is_some_and(|d| d.expired()) {
            interrupt_done();
        }
    }

    /// Before chain `i` runs: whether it was stopped already: by its
    /// deadline, by the users' last close (a chain whose completion goes to
    /// the ring), or by `SYSLET_IOC_CANCEL` (only a carried chain can be
    /// cancelled).
    #[inline]
    pub(crate) fn halted_before_start(&self, i: usize) -> Option<Halt> {
        if self.batch.deadline.is_some_and(|d| d.expired()) {
            return Some(Halt::TimedOut);
        }
        // Its completion goes to the ring (the submission is reported
        // queued, or this is the rest of a batch): once the users closed
        // their last reference, nobody reaps it, and it does not start.
        if (self.reported().is_some() || self.continuing.is_some()) && self.completions.orphaned() {
            return Some(Halt::Cancelled);
        }
        if !self.taken() {
            return None;
        }
        let (stopped, interrupted) = self.pool.start_chain(self.carrier.get(), i);
        if interrupted {
            interrupt_done();
        }
        stopped.then_some(Halt::Cancelled)
    }

    /// Whether the chain running now must stop; clears the interruption
    /// that told the task so.
    fn halted_now(&self) -> Option<Halt> {
        if self.batch.deadline.is_some_and(|d| d.expired()) {
            interrupt_done();
            return Some(Halt::TimedOut);
        }
        if !self.taken() || !self.batch.cancel.asked() {
            return None;
        }
        let stopped = self.pool.chain_stopped(self.carrier.get(), self.done.get() as usize);
        if stopped {
            interrupt_done();
        }
        stopped.then_some(Halt::Cancelled)
    }

    /// Chains of the batch not finished yet, counting the one running.
    fn remaining(&self) -> u32 {
        self.batch.end - self.batch.base - self.done.get()
    }

    /// The chains a carrier runs after a hand-off: the one running and,
    /// with [`Carry::All`], every one after it.
    fn carried(&self) -> u32 {
        match self.carry() {
            Carry::All => self.remaining(),
            Carry::Split | Carry::Alone => 1,
        }
    }

    /// The chains a hand-off queues: the carrier's and the rest's.
    fn queued(&self) -> u32 {
        match self.carry() {
            Carry::All | Carry::Split => self.remaining(),
            Carry::Alone => 1,
        }
    }

    /// Lets the hook hand off while `f` runs, if the caller is still ours.
    pub(crate) fn armed<R>(&self, f: impl FnOnce() -> R) -> R {
        if self.taken() || !self.may_go_async {
            return f();
        }
        self.may.set(true);
        let data = core::ptr::from_ref(self).cast_mut().cast::<c_void>();
        // SAFETY: `self` outlives the armed period: we disarm below, before
        // returning, and the hook only runs while current is armed. A
        // continuing spare's `st` is its own, whose function runs now.
        let ret = unsafe {
            match self.continuing {
                Some((slot, _)) => bindings::syslet_thread_arm(slot.st.get(), data),
                None => bindings::syslet_arm(data),
            }
        };
        let r = f();
        self.may.set(false);
        if ret == 0 {
            // SAFETY: no preconditions; a no-op if the hook disarmed us.
            unsafe { bindings::syslet_disarm() };
        }
        r
    }

    /// Hands the caller's context to a spare before the next chain runs,
    /// the carrier taking every chain left: `SYSLET_SUBMIT_ASYNC_NOW`, or
    /// the rest of a batch while a signal is pending for the caller. Returns
    /// whether it did; if not (no spare, a cap, a traced caller), the
    /// chains run as usual.
    pub(crate) fn hand_off_now(&self) -> bool {
        if !self.may_go_async || self.taken() {
            return false;
        }
        // A vfork child's parent waits for it to exit or exec: its context
        // must not leave (arming refuses it for the same reason, so the
        // hook never hands it off either). A continuing spare's
        // `vfork_done` is its engine's own completion.
        // SAFETY: no preconditions.
        if self.continuing.is_none() && unsafe { syslet_current_in_vfork() } {
            return false;
        }
        let carry = self.carry.replace(Carry::All);
        let done = hand_off(self);
        if !done {
            self.carry.set(carry);
        }
        done
    }

    /// After chain `outcome` ran with the caller's context gone: posts the
    /// completion of the chain current carried before it (the last one
    /// waits in `last` for current to park) and says whether current stops
    /// here: on a seccomp KILL, when it ends the process at once (a carrier
    /// never returns to user space, where the forced SIGSYS would act), or
    /// when it carries this chain alone. Then it gives back `held`, the
    /// places of the chains after this one that current would have run.
    pub(crate) fn after_carried(
        &self,
        outcome: &Outcome,
        last: &mut Option<uapi::syslet_outcome>,
        held: u32,
    ) -> bool {
        // A read in flight posts its own completion.
        if !outcome.in_flight() {
            if let Some(o) = last.replace(outcome.to_uapi()) {
                self.completions.post(o);
            }
        }
        if outcome.killed() {
            self.completions.unreserve(held);
            // SAFETY: current is a live task; SIGKILL kills its process.
            unsafe { bindings::send_sig(bindings::SIGKILL as i32, bindings::get_current(), 1) };
            return true;
        }
        if self.carry() != Carry::All {
            self.completions.unreserve(held);
            return true;
        }
        false
    }

    /// After a takeover, at the end of the caller's submission: current,
    /// the carrier, parks as a spare in its own slot once the ioctl
    /// returned, and posts `last`, the submission's last completion, from
    /// there.
    pub(crate) fn finish(self, last: Option<uapi::syslet_outcome>) {
        if !self.taken() {
            return;
        }
        let pool = self.pool;
        // Always there: the hand-off took it.
        let Some(slot) = pool.slot(self.carrier.get()) else {
            return;
        };
        self.unpublish(slot, last);
        // SAFETY: our own Carrying slot.
        unsafe { slot.prepare(pool) };
        // From now on a spare about to park (`spares_alive`).
        pool.set_state(slot, SlotState::Busy);
        // SAFETY: `st` is initialised and, with `exited`, stays valid until
        // `exited` completes (as for `Pool::replenish`). The arm succeeded,
        // so current is not a vfork child; it is not exiting either: it is
        // in its ioctl.
        let ret = unsafe { bindings::syslet_thread_park_on_return(slot.st.get()) };
        // Cannot fail here (see above); if it did, the task would return to
        // user space with a frame another thread owns.
        if ret != 0 {
            // SAFETY: as above; `spare_main` will not run.
            if let Some((_, o)) = unsafe { (*slot.last.get()).take() } {
                self.completions.post(o);
            }
            pool.free_slot(slot);
            kernel::pr_err!("syslet: cannot park a carrier ({ret}); killing it\n");
            // SAFETY: makes the process die before current returns to user
            // space; SIGKILL cannot be blocked or caught.
            unsafe { bindings::send_sig(bindings::SIGKILL as i32, bindings::get_current(), 1) };
        }
    }

    /// After a takeover, at the end of the rest of a batch: current, a
    /// spare that carried a chain of it, parks again in its own slot
    /// ([`spare_main`] goes on) and posts `last` from there.
    pub(crate) fn finish_continuing(self, last: Option<uapi::syslet_outcome>) {
        if let Some((slot, _)) = self.continuing.filter(|_| self.taken()) {
            self.unpublish(slot, last);
            self.pool.set_state(slot, SlotState::Busy);
        }
    }

    /// The carrier in `slot`, current, is done with its chains: their
    /// `Cancel` goes, and `last` waits in the slot for current to park.
    fn unpublish(&self, slot: &Slot, last: Option<uapi::syslet_outcome>) {
        if self.pool.unpublish(slot.index) {
            interrupt_done();
        }
        // SAFETY: current is the slot's thread from now on, and the only
        // one to touch `last` (in `spare_main`, which it runs).
        unsafe { *slot.last.get() = last.map(|o| (core::ptr::from_ref(self.completions), o)) };
    }
}

impl InFlight for Takeover<'_> {
    /// A read may go in flight in the task that has the caller's context
    /// (not on a carrier, which has a thread of its own for its chain
    /// anyway), in a submission that may go asynchronous. In the caller's
    /// own submission the first one makes it asynchronous, as a hand-off
    /// would: it reserves the places of the chains it queues and fixes
    /// what the ioctl reports.
    fn begin(&self) -> Option<&File> {
        self.fresh.set(None);
        if !self.may_go_async || self.taken() {
            return None;
        }
        if self.continuing.is_none() && self.reported.get().is_none() {
            let places = if self.prereserved.get() { 0 } else { self.queued() };
            if !self.completions.reserve(places) {
                return None;
            }
            self.reported.set(Some((self.done.get(), self.queued())));
            self.fresh.set(Some(places));
            self.prereserved.set(true);
        }
        Some(self.batch.file)
    }

    fn stash(&self) -> &IoStash<'_> {
        &self.stash
    }

    fn abandon(&self) {
        // A hand-off since `begin` made the submission asynchronous with
        // what `begin` set: it stays.
        if let Some(places) = self.fresh.take().filter(|_| !self.taken()) {
            self.completions.unreserve(places);
            self.reported.set(None);
            self.prereserved.set(places == 0);
        }
    }
}

impl Stop for Takeover<'_> {
    #[inline]
    fn before_atom(&self, cookie: u64) -> Option<Halt> {
        // Published for `SYSLET_IOC_CANCEL` only once carried; the hand-off
        // publishes the cookie of the atom running then.
        self.cookie.set(cookie);
        let taken = self.taken();
        if taken {
            self.batch.cancel.at_atom(cookie);
            if let Some(why) = carrier_between_atoms(&self.thread) {
                return Some(why);
            }
        }
        if self.batch.deadline.is_none() && !(taken && self.batch.cancel.asked()) {
            return None;
        }
        self.halted_now()
    }

    fn interrupted(&self) -> Option<Halt> {
        self.halted_now()
    }

    fn stopping(&self) -> bool {
        self.batch.deadline.is_some_and(|d| d.expired())
            || (self.taken()
                && self.batch.cancel.asked()
                && self.pool.marked(self.carrier.get(), self.done.get() as usize))
    }

    #[inline]
    fn carried(&self) -> bool {
        self.taken()
    }

    fn thread_id(&self) -> Option<i64> {
        if !self.taken() {
            return None;
        }
        self.thread.get().map(|t| i64::from(t.nr_seen_by_current()))
    }

    /// An atom with a signal mask of its own (`ppoll()`, `pselect6()`,
    /// `epoll_pwait()`) leaves it in place when a signal interrupts it,
    /// for a way to user space that restores it. A carrier never takes
    /// one and blocks every signal again, or the process's signals would
    /// go to it (patch 24); a thread of the program restores its own mask
    /// at once (patch 34): the atom's lasts for that atom, and no later
    /// atom saves it as the one to restore.
    #[inline]
    fn after_atom(&self, nr: u32) {
        if self.taken() {
            // SAFETY: no preconditions; process context, and current runs
            // no user code (a carrier).
            unsafe { bindings::syslet_block_signals() };
        } else if crate::chain::sets_signal_mask(nr) {
            // SAFETY: no preconditions; process context, current runs the
            // program and is between two system calls of a chain.
            unsafe { bindings::syslet_restore_sigmask() };
        }
    }
}

/// A carrier before each atom: a stop or freeze of the process is taken
/// part in here, as a thread would on its way back to user space after
/// each call (patch 30), and the chain stops if the program thread no
/// longer has the carrier's identity ([`ProgramThread`]).
fn carrier_between_atoms(thread: &OnceCell<ProgramThread>) -> Option<Halt> {
    // A carrier blocks every signal but SIGKILL and SIGSTOP: pending, they
    // mean a stop, a freeze or a fatal signal (which the next atom
    // boundary ends the chain on).
    if kernel::current!().signal_pending() {
        // SAFETY: no preconditions; process context, no lock held, and
        // current is a carrier, which runs no user code.
        unsafe { bindings::syslet_carrier_stop() };
    }
    if thread.get().is_some_and(ProgramThread::has_current_identity) {
        None
    } else {
        Some(Halt::IdentityChanged)
    }
}

/// Clears an interruption of current by `SYSLET_IOC_CANCEL`
/// (`syslet_interrupt()`), so that its next sleep is not cut short.
fn interrupt_done() {
    // SAFETY: no preconditions; process context, no lock held.
    unsafe { bindings::syslet_interrupt_done() };
}

/// The scheduler hook: the armed task `data` is about to block.
///
/// # Safety
///
/// Called by the kernel with the pointer given to `syslet_arm()`, from
/// `schedule()` of that very task.
unsafe extern "C" fn sleeping(data: *mut c_void) {
    // SAFETY: `data` is the `Takeover` of the submission current is running,
    // alive while current is armed (see `Takeover::armed`); only current
    // uses it, and it is in `schedule()` here.
    let t = unsafe { &*(data as *const Takeover<'_>) };
    if !t.may.get() || t.taken() {
        return;
    }
    hand_off(t);
}

/// Saves current's user context for a parked spare and wakes it; current
/// becomes the carrier of the blocked chain (and, with [`Carry::All`], of
/// the chains after it). Neither sleeps nor allocates: runs in the
/// scheduler hook. Returns whether the hand-off happened.
fn hand_off(t: &Takeover<'_>) -> bool {
    let pool = t.pool;
    // The users closed their last descriptor (a chain that ran CPU-bound
    // atoms until now): a carrier nobody can reap or cancel would run on
    // for ever. The atom blocks in the caller, as a system call would.
    if t.completions.orphaned() {
        Stats::bump(&t.stats.blocked_sync);
        return false;
    }
    // A place for the completion of each chain it queues, unless they were
    // reserved already.
    let places = if t.prereserved.get() { 0 } else { t.queued() };
    if !t.completions.reserve(places) {
        Stats::bump(&t.stats.blocked_sync);
        return false;
    }
    // SAFETY: no preconditions.
    let me = unsafe { bindings::get_current() };
    // Current needs a slot of its own, to park in once it is done: that is
    // where the thread cap bites. A continuing spare has one.
    let own = match t.continuing {
        Some((slot, _)) => {
            pool.set_carrying(slot, me);
            Some(slot)
        }
        None => pool.take_slot(&mut pool.inner.lock(), SlotState::Carrying, me),
    };
    let Some(own) = own else {
        t.completions.unreserve(places);
        Stats::bump(&t.stats.blocked_sync);
        return false;
    };
    let gave_up = || {
        match t.continuing {
            Some(_) => pool.set_state(own, SlotState::Leaving),
            None => pool.free_slot(own),
        }
        t.completions.unreserve(places);
        Stats::bump(&t.stats.blocked_sync);
        false
    };
    // The first parked spare that can take this caller's context; those
    // that cannot (another identity or FPU image) are sent away.
    let claim = loop {
        // Each guard goes at the end of its statement: what follows takes
        // `Pool::inner` again or completes `go`.
        let claim = pool.claim(&mut pool.inner.lock());
        let Some(claim) = claim else {
            return gave_up();
        };
        let Some(uc) = claim.user_context() else {
            claim.send(Order::Exit, false);
            continue;
        };
        // SAFETY: the claimed thread is a live thread of our process that
        // waits for `go` before it returns to user space or exits, and
        // takes the context then; the buffer is ours until `go`.
        match unsafe { uc.save(claim.task, 0) } {
            Ok(()) => break claim,
            Err(SaveError::Stays) => {
                // Parks again (the claim's drop).
                drop(claim);
                return gave_up();
            }
            Err(SaveError::WrongSpare) => {
                Stats::bump(&t.stats.retired);
                claim.send(Order::Exit, false);
            }
        }
    };
    // The rest goes with the context only if its next chain that blocks can
    // be handed off in turn; otherwise current carries it, in order, and
    // the caller returns at once, as when no spare is left.
    if t.carry() == Carry::Split && !pool.inner.lock().spare_in_sight() {
        t.carry.set(Carry::All);
    }
    let done = t.done.get();
    // From now on `SYSLET_IOC_CANCEL` may stop the carried chains: the
    // frame where the `Cancel` lives lasts until the carrier unpublishes it.
    t.batch.cancel.at_atom(t.cookie.get());
    if let Some(m) = pool.inner.lock().table.marks_mut(own.index) {
        *m = Marks::new(t.batch.cancel, done as usize, (done + t.carried()) as usize);
    }
    t.carrier.set(own.index);
    // SAFETY: the claimed spare is alive: it waits for `go` below. It has
    // the caller's thread id now (the save exchanged them).
    if let Some(thread) = unsafe { ProgramThread::of(claim.task) } {
        // Set once: a takeover hands off at most once (`taken`).
        let _ = t.thread.set(thread);
    }
    t.taken.set(true);
    Stats::bump(&t.stats.went_async);
    // What the caller's submission reports: the first hand-off of a
    // submission decides it.
    let (reported_done, queued) = match t.continuing {
        Some((_, report)) => report,
        None => t.reported.get().unwrap_or((done, t.queued())),
    };
    // The chains after the blocked one, for the spare to run, unless the
    // carrier takes them or they do not start.
    let next = t.batch.base + done + 1;
    let rest = (t.carry() == Carry::Split && next < t.batch.end).then(|| {
        Stats::bump(&t.stats.continued);
        Rest::new(&t.batch, next, (reported_done, queued))
    });
    // SAFETY: both tasks are alive: current, and the claimed spare, which
    // waits for `go` below.
    unsafe { trace::syslet_handoff(t.cookie.get(), claim.task, me) };
    // SAFETY: no preconditions; current stops telling us it blocks.
    unsafe { bindings::syslet_disarm() };
    // On this CPU, which current is about to leave for it: waking the spare
    // elsewhere would cost an IPI and an idle CPU's wake-up, and current's
    // CPU would go idle.
    claim.send(
        Order::TakeOver {
            submit: t.batch.submit,
            done: reported_done,
            queued,
            rest,
        },
        true,
    );
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

/// The slot's thread leaves for good: posts what it still holds and marks
/// the slot Leaving (free once the kernel completes `exited`).
fn leave(pool: &Pool, slot: &Slot) -> i32 {
    post_last(slot);
    pool.set_state(slot, SlotState::Leaving);
    bindings::SYSLET_THREAD_EXIT as i32
}

/// Where a spare parks. Returns a `SYSLET_THREAD_*` value.
///
/// # Safety
///
/// Called by the kernel with the `st` of a slot readied by
/// `Slot::prepare`.
unsafe extern "C" fn spare_main(st: *mut bindings::syslet_thread, exiting: bool) -> i32 {
    // SAFETY: `st` is the first field of a `repr(C)` `Slot`.
    let slot = unsafe { &*(st as *const Slot) };
    // SAFETY: set in `Slot::prepare`; the pool outlives the slot's thread.
    let pool = unsafe { &*slot.pool.load(Relaxed) };
    if exiting {
        return leave(pool, slot);
    }
    // A new spare (one `replenish` started) has no task yet, and parks
    // whatever the count: its place was taken under the cap. A carrier (it
    // has a task), or a spare a signal woke, looks at the cap first.
    let new = pool.inner.lock().table.get(slot.index).task.is_null();
    {
        // SAFETY: outside a claim only the slot's own thread, current,
        // touches `uc`, and the slot is not Ready; the reference ends with
        // this block, before the slot can be claimed.
        let uc = unsafe { &mut *slot.uc.get() };
        if uc.is_none() {
            match UserContext::new() {
                Ok(buf) => *uc = Some(buf),
                Err(_) => {
                    if new {
                        pool.started();
                    }
                    return leave(pool, slot);
                }
            }
        }
    }
    // SAFETY: a valid `current` pointer.
    let me = unsafe { bindings::get_current() };
    let mut settled = !new;
    let mut starting = new;
    loop {
        let leaving = {
            let mut inner = pool.inner.lock();
            pool.reap(&mut inner);
            // Parked threads must not fill the thread cap: the next carrier
            // would find no place, and no chain could go asynchronous
            // again. At the cap, a thread leaves rather than park (never
            // the process's leader: its leadership went with its context).
            if inner.dying || (settled && inner.full()) {
                true
            } else {
                // SAFETY: the slot is not Ready, so nobody waits on or
                // completes `go`.
                unsafe { bindings::init_completion(slot.go.get()) };
                inner.table.set(slot.index, SlotState::Ready, me);
                false
            }
        };
        if core::mem::take(&mut starting) {
            pool.started();
        }
        if leaving {
            return leave(pool, slot);
        }
        // Ready, so the program that reaps this may count on us.
        post_last(slot);
        // SAFETY: `go` is initialised.
        let ret = unsafe { bindings::wait_for_completion_interruptible(slot.go.get()) };
        if ret != 0 {
            let claimed = {
                let mut inner = pool.inner.lock();
                if inner.table.get(slot.index).state == SlotState::Ready {
                    inner.table.set_state(slot.index, SlotState::Busy);
                    false
                } else {
                    true
                }
            };
            if !claimed {
                // Nobody claimed us: let the kernel handle the signal.
                return bindings::SYSLET_THREAD_SIGNAL as i32;
            }
            // Claimed just now: the claimer completes `go` at once.
            // SAFETY: `go` is initialised.
            unsafe { bindings::wait_for_completion(slot.go.get()) };
        }
        // SAFETY: the claim's holder wrote the order before completing `go`,
        // and claims no more: the order is ours.
        match unsafe { core::mem::replace(&mut *slot.order.get(), Order::Park) } {
            Order::TakeOver {
                submit,
                done,
                queued,
                rest,
            } => {
                // The slot is free once the kernel says we are in user space.
                pool.set_state(slot, SlotState::Leaving);
                if take_over(slot, submit, done, queued, rest) {
                    return bindings::SYSLET_THREAD_USER as i32;
                }
                // Current carried a chain of the rest and gave the caller's
                // context on; it is Busy in its slot again. The kernel runs
                // its task work (the last reference to the context's file
                // may have been the rest's), then calls us again to park,
                // with no stop in between (patch 35): the chain's
                // completion waits in `last` until then, and a stop would
                // keep it for as long as it lasts (a tracer's, for ever),
                // or lose it if the thread were killed in the stop.
                return bindings::SYSLET_THREAD_TASK_WORK as i32;
            }
            Order::Exit => return leave(pool, slot),
            Order::Park => {
                pool.set_state(slot, SlotState::Busy);
                settled = true;
            }
        }
    }
}

// task_fields.c.
extern "C" {
    fn syslet_current_in_vfork() -> bool;
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

/// The spare was handed the caller's user context: install it on current
/// and finish the caller's ioctl: report, then run the rest of its batch.
/// Returns whether current still has the caller's context (it goes to user
/// space), false if it gave it on to another spare while it ran the rest.
fn take_over(slot: &Slot, submit: u64, done: u32, queued: u32, rest: Option<Rest>) -> bool {
    // SAFETY: only a claim whose slot had a buffer sends `TakeOver`, and the
    // buffer stays; the claimer saved the context for current into it
    // before completing `go`.
    if let Some(uc) = unsafe { (*slot.uc.get()).as_ref() } {
        // SAFETY: saved for current, before `go` completed (see above).
        unsafe { uc.take() };
    }
    // Report "queued" in the caller's struct syslet_submit. The caller may
    // have unmapped it; the chains are queued whatever happens to this
    // report.
    let _ = crate::user_words::write_report(submit, done, queued);
    match rest {
        Some(rest) => continuation::run(slot, rest),
        None => true,
    }
}

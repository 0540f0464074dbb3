// SPDX-License-Identifier: GPL-2.0

// Copyright (C) 2026 The syslet authors.

//! `/dev/syslet`: the misc device and its file operations.
//!
//! Every open file is a syslet context ([`Context`]). The ioctl entry point
//! decodes the command and hands the user pointer to the handler of that
//! command; unknown commands fail with `ENOTTY`, as the ioctl convention
//! asks.

use core::mem::size_of;
use kernel::{
    transmute::AsBytes,
    bindings,
    fs::File,
    ioctl::_IOC_SIZE,
    miscdevice::{
        MiscDevice,
        MiscDeviceRegistration, //
    },
    mm::virt::VmaNew,
    prelude::*,
    seq_file::SeqFile,
    seq_print,
    sync::{
        aref::ARef,
        poll::PollTable, //
    },
    types::ForeignOwnable,
    uaccess::{
        UserPtr,
        UserSlice, //
    },
    workqueue::{
        impl_has_work,
        new_work,
        Work, //
    },
};

use crate::{
    buffers::Registered,
    cancel::Cancel,
    deadline::Deadline,
    direct_io::Plug,
    held_refs::HeldRefs,
    access,
    chain::{
        self,
        Outcome, //
    },
    context::{
        Context,
        Owner,
        MAX_ATOM_BUDGET,
        MAX_BATCH, //
    },
    teardown,
    threads::{
        Batch,
        Carry,
        Takeover,
        MAX_THREADS, //
    },
    trace,
    uapi,
    user_words, //
};

impl SysletFile {
    /// A user reference to `file` is going (a descriptor closed, a mapping
    /// of the ring unmapped): if it is the users' last (every other
    /// reference is a submission's, a spare's or an I/O's own), nobody can
    /// reap what is queued any more: cancel it, so that the carriers stop,
    /// drop their references and the context is released, and post
    /// nothing.
    fn users_let_go(&self, file: &File) {
        if self.ctx.held_refs.only_these(file) {
            self.ctx.completions.orphan();
            self.ctx.pool.cancel(0, true);
        }
    }
}

/// The ring's mappings. A mapping is a reference to the file: the program
/// may close its descriptor while the ring is mapped (queued chains go on,
/// their completions reach the mapping) and unmap it later, which is then
/// the users' last reference going.
static RING_VM_OPS: bindings::vm_operations_struct = bindings::vm_operations_struct {
    close: Some(ring_vma_close),
    // SAFETY: all zeroes is a valid `vm_operations_struct`: every other
    // operation absent.
    ..unsafe { core::mem::zeroed() }
};

/// `vm_operations_struct::close` of a ring mapping.
///
/// # Safety
///
/// Called by the kernel for a mapping made by [`SysletFile::mmap`], whose
/// `vm_file` it holds a reference to until after this returns.
unsafe extern "C" fn ring_vma_close(vma: *mut bindings::vm_area_struct) {
    // SAFETY: the mapping's file, referenced by the mapping (see above).
    let filp = unsafe { (*vma).vm_file };
    // SAFETY: a file of `/dev/syslet`, whose `private_data` the misc device
    // set at open to its `Pin<KBox<SysletFile>>`, freed only at release,
    // after the last reference, which the mapping still holds.
    let this = unsafe { <Pin<KBox<SysletFile>> as ForeignOwnable>::borrow((*filp).private_data) };
    // SAFETY: `filp` is valid for the call (see above), and this task holds
    // no `fdget_pos()` of it (it is unmapping memory).
    let file = unsafe { File::from_raw_file(filp) };
    this.users_let_go(file);
}

/// How long a release waits for the context's threads to leave before it
/// lets the teardown queue wait for them.
const RELEASE_WAIT_MS: u32 = 1000;

/// Chains a submission reads onto the stack rather than into an allocation.
const SMALL_BATCH: usize = 16;

/// Bytes of `n` outcomes in user memory.
fn outcomes_len(n: usize) -> usize {
    n * size_of::<uapi::syslet_outcome>()
}

/// The state of one open `/dev/syslet` file.
#[pin_data]
pub(crate) struct SysletFile {
    #[pin]
    ctx: Context,
    /// For a release that cannot free the context itself ([`teardown`]).
    #[pin]
    teardown: Work<SysletFile>,
}

impl_has_work! {
    impl HasWork<Self> for SysletFile { self.teardown }
}

#[vtable]
impl MiscDevice for SysletFile {
    type Ptr = Pin<KBox<Self>>;

    fn open(_file: &File, _misc: &MiscDeviceRegistration<Self>) -> Result<Pin<KBox<Self>>> {
        access::may_open()?;
        let owner = Owner::current()?;
        KBox::try_pin_init(
            try_pin_init!(Self {
                ctx <- Context::new(owner),
                teardown <- new_work!("SysletFile::teardown"),
            }),
            GFP_KERNEL,
        )
    }

    fn release(this: Pin<KBox<Self>>, _file: &File) {
        let pool = &this.ctx.pool;
        pool.close();
        // A carrier on its way to park, which the context's drop would wait
        // for; or threads that do not leave at once: stopped (a group or
        // ptrace stop, a frozen cgroup), they leave only when the process
        // goes on, and whoever releases the file (another process, a
        // kworker's deferred `fput()`) must not wait for that.
        if pool.is_own_thread() || !pool.wait_gone_within(RELEASE_WAIT_MS) {
            teardown::defer(this);
        } else {
            drop(this);
        }
    }

    fn ioctl(this: Pin<&SysletFile>, file: &File, cmd: u32, arg: usize) -> Result<isize> {
        let user = UserSlice::new(UserPtr::from_addr(arg), _IOC_SIZE(cmd));
        match cmd {
            uapi::SYSLET_IOC_QUERY => query(user),
            uapi::SYSLET_IOC_SETUP => {
                this.ctx.check_owner()?;
                setup(&this.ctx, user)
            }
            uapi::SYSLET_IOC_SUBMIT => {
                this.ctx.check_owner()?;
                submit(&this.ctx, file, arg)
            }
            uapi::SYSLET_IOC_WAIT => {
                this.ctx.check_owner()?;
                wait(&this.ctx, user)
            }
            uapi::SYSLET_IOC_CANCEL => {
                this.ctx.check_owner()?;
                cancel(&this.ctx, user)
            }
            uapi::SYSLET_IOC_REGISTER_BUFFERS => {
                this.ctx.check_owner()?;
                register_buffers(&this.ctx, user)
            }
            _ => Err(ENOTTY),
        }
    }

    /// 32-bit callers are refused: atoms are x86-64 system calls, judged by
    /// seccomp as such, and a takeover moves a 64-bit user context only.
    #[cfg(CONFIG_COMPAT)]
    fn compat_ioctl(_this: Pin<&SysletFile>, _file: &File, _cmd: u32, _arg: usize) -> Result<isize> {
        Err(ENOTTY)
    }

    fn mmap(this: Pin<&SysletFile>, _file: &File, vma: &VmaNew) -> Result {
        this.ctx.check_owner()?;
        this.ctx.ensure_ready()?;
        this.ctx.completions.map(vma)?;
        // SAFETY: `mmap` holds the mmap lock for the new area, which is
        // not visible to anyone yet; `RING_VM_OPS` is static.
        unsafe { (*vma.as_ptr()).vm_ops = &RING_VM_OPS };
        Ok(())
    }

    fn poll(this: Pin<&SysletFile>, file: &File, table: &PollTable<'_>) -> Result<u32> {
        table.register_wait(file, &this.ctx.completions.posted);
        Ok(if this.ctx.completions.poll_ready() {
            bindings::POLLIN | bindings::POLLRDNORM
        } else {
            0
        })
    }

    /// Each `close()`: when it closes the users' last descriptor (every
    /// other reference is a submission's own), nobody can reap what is
    /// queued any more: cancel it, so that the carriers stop, drop their
    /// references and the context is released, and post nothing.
    fn flush(this: Pin<&SysletFile>, file: &File) -> Result {
        this.users_let_go(file);
        Ok(())
    }

    fn show_fdinfo(this: Pin<&SysletFile>, m: &SeqFile, _file: &File) {
        let ctx = &this.ctx;
        seq_print!(m, "syslet-abi:\t{}\n", uapi::SYSLET_ABI_VERSION);
        seq_print!(m, "syslet-owner-tgid:\t{}\n", ctx.owner_tgid());
        seq_print!(m, "syslet-atom-budget:\t{}\n", ctx.atom_budget());
        seq_print!(m, "syslet-spares:\t{}\n", ctx.pool.parked());
        seq_print!(m, "syslet-threads:\t{}\n", ctx.pool.threads());
        seq_print!(
            m,
            "syslet-ring-overflow:\t{}\n",
            ctx.completions.overflowed()
        );
        seq_print!(
            m,
            "syslet-direct-io-in-flight:\t{}\n",
            ctx.direct_io.in_flight()
        );
        seq_print!(
            m,
            "syslet-registered-buffers:\t{}\n",
            ctx.buffers.as_ref().map_or(0, |b| b.count())
        );
        ctx.stats.show(m);
    }
}

/// `SYSLET_IOC_QUERY`: report the ABI version and features.
fn query(user: UserSlice) -> Result<isize> {
    let answer = uapi::syslet_query {
        abi_version: uapi::SYSLET_ABI_VERSION,
        // These structs are tens of bytes: the casts cannot truncate.
        query_size: size_of::<uapi::syslet_query>() as u32,
        features: u64::from(
            uapi::SYSLET_FEAT_CHAINS
                | uapi::SYSLET_FEAT_SECCOMP
                | uapi::SYSLET_FEAT_CACHEMISS
                | uapi::SYSLET_FEAT_SAME_IDENTITY
                | uapi::SYSLET_FEAT_SAME_THREAD
                | uapi::SYSLET_FEAT_CANCEL
                | uapi::SYSLET_FEAT_RETURN_ON_BLOCK
                | uapi::SYSLET_FEAT_CONCURRENT_BATCH
                | uapi::SYSLET_FEAT_THREAD_FREE_IO
                | uapi::SYSLET_FEAT_FIXED_BUFFERS,
        ),
        atom_size: size_of::<uapi::syslet_atom>() as u32,
        max_batch: MAX_BATCH,
        max_atom_budget: MAX_ATOM_BUDGET,
        max_threads: MAX_THREADS,
        ..Default::default()
    };
    user.writer().write(&answer)?;
    Ok(0)
}

/// A file reference a submission holds while it runs its chains, which
/// may close the descriptor or go asynchronous: the system call's own if
/// it has one (it is dropped only after the submission returned), else one
/// taken here. It is counted in
/// [`Context::held_refs`], so that `flush` can tell the users' references
/// from the submissions'.
struct SubmissionRef<'a> {
    held: &'a HeldRefs,
    /// `None` when the system call holds one.
    _file: Option<ARef<File>>,
}

impl<'a> SubmissionRef<'a> {
    /// `call_ref`: whether the system call holds a reference of its own
    /// (`syslet_files_shared()` at its start). Taking a second one cost
    /// every submission an atomic increment and an `fput()`.
    fn new(ctx: &'a Context, file: &File, call_ref: bool) -> Self {
        let r = Self {
            held: &ctx.held_refs,
            _file: (!call_ref).then(|| file.into()),
        };
        // Counted only once the reference is taken (`HeldRefs`).
        r.held.count();
        r
    }
}

impl Drop for SubmissionRef<'_> {
    fn drop(&mut self) {
        // Before the reference goes (the field drops after this).
        self.held.uncount();
    }
}

/// `SYSLET_IOC_SETUP`.
fn setup(ctx: &Context, user: UserSlice) -> Result<isize> {
    let (mut reader, mut writer) = user.reader_writer();
    let mut setup: uapi::syslet_setup = reader.read()?;
    ctx.setup(&mut setup)?;
    ctx.pool.replenish(&ctx.stats);
    writer.write(&setup)?;
    Ok(0)
}

/// `SYSLET_IOC_SUBMIT`: run each chain of the batch in turn. The request
/// is read and reported word by word (`user_words`): the general copies
/// cost a one-chain submission more than its chain.
fn submit(ctx: &Context, file: &File, arg: usize) -> Result<isize> {
    // Before anything here can make a thread (see `SubmissionRef`).
    // SAFETY: no preconditions.
    let call_ref = unsafe { bindings::syslet_files_shared() };
    let mut req = user_words::read_submit(arg as u64)?;
    const KNOWN: u32 = uapi::SYSLET_SUBMIT_SYNC_ONLY
        | uapi::SYSLET_SUBMIT_ASYNC_NOW
        | uapi::SYSLET_SUBMIT_RING
        | uapi::SYSLET_SUBMIT_TIMEOUT
        | uapi::SYSLET_SUBMIT_TIMEOUT_ABS
        | uapi::SYSLET_SUBMIT_RETURN_ON_BLOCK;
    // Contradictions: never and at once; never and alone.
    const NOW: u32 = uapi::SYSLET_SUBMIT_SYNC_ONLY | uapi::SYSLET_SUBMIT_ASYNC_NOW;
    const ALONE: u32 = uapi::SYSLET_SUBMIT_SYNC_ONLY | uapi::SYSLET_SUBMIT_RETURN_ON_BLOCK;
    if req.flags & !KNOWN != 0
        || req.flags & NOW == NOW
        || req.flags & ALONE == ALONE
        || req.reserved.iter().any(|&r| r != 0)
    {
        return Err(EINVAL);
    }
    if req.nr_chains == 0 || req.nr_chains > MAX_BATCH {
        return Err(EINVAL);
    }
    trace::syslet_submit(req.nr_chains, req.flags, req.timeout_ns);
    let timeout = Deadline::from_submit(req.flags, req.timeout_ns)?;
    let deadline = timeout.map(|_| Deadline::new()).transpose()?;
    let n = req.nr_chains as usize;
    let chains_addr = usize::try_from(req.chains).map_err(|_| EFAULT)?;
    // One copy for the whole array; on the stack for a small batch, which
    // then allocates nothing. A single chain, the common case, does not
    // even zero the small array first.
    let mut one = [0u64; 1];
    let mut small;
    let mut large: KVec<u64>;
    let chains: &mut [u64] = if n == 1 {
        one[0] = user_words::read_u64(req.chains)?;
        &mut one
    } else {
        let chains = if n <= SMALL_BATCH {
            small = [0u64; SMALL_BATCH];
            // Always there (`n` <= SMALL_BATCH); no panic path.
            small.get_mut(..n).ok_or(EINVAL)?
        } else {
            large = KVec::from_elem(0u64, n, GFP_KERNEL)?;
            large.as_mut_slice()
        };
        UserSlice::new(UserPtr::from_addr(chains_addr), n * size_of::<u64>())
            .reader()
            .read_slice(AsBytes::as_bytes_mut(chains))?;
        chains
    };
    let chains: &[u64] = chains;
    // Where the outcomes go, one after the other. An array that would wrap
    // around the address space takes none: `EFAULT` at the first, as for
    // any address that cannot be written.
    let outcomes = (req.outcomes != 0).then_some(req.outcomes);
    let outcomes_fit = req.outcomes.checked_add(outcomes_len(n) as u64).is_some();
    // `done` and `queued` are written back once chains ran, on whichever
    // path: a request that cannot be written is refused now, before any
    // chain runs, and not after (the program could not tell what ran).
    user_words::write_report(arg as u64, 0, 0)?;
    ctx.ensure_ready()?;
    let sync_only = req.flags & uapi::SYSLET_SUBMIT_SYNC_ONLY != 0;
    // A file reference for the whole submission, synchronous or not: an
    // atom may close the descriptor (`close`, `dup2` onto it, a deferred
    // `fput()` that the task work run between atoms completes), and a
    // spare that takes over may close it while we still run its chains.
    // The ioctl's own serves if it took one; it does not when the process
    // had one thread at entry (`fdget()` borrowed the file, trusting that
    // nothing but this system call uses the table), and then we take one.
    // Dropped last, after `Takeover::finish`.
    let _file_ref = SubmissionRef::new(ctx, file, call_ref);
    if !sync_only {
        ctx.pool.replenish(&ctx.stats);
    }

    // A takeover reserves a completion for the blocked chain and every one
    // after it, at once: no chain that goes asynchronous lacks a place. With
    // SYSLET_SUBMIT_RING every chain's outcome goes to the ring: all places
    // are reserved now, or the submission is refused (EBUSY: reap first).
    let to_ring = req.flags & uapi::SYSLET_SUBMIT_RING != 0;
    if to_ring && !ctx.completions.reserve(req.nr_chains) {
        return Err(EBUSY);
    }
    // The deadline runs from here; it is cancelled when `_timer` goes, at
    // the latest on the way out of this function. A spare that runs the
    // rest of the batch starts a timer of its own for the same time.
    // SAFETY: no preconditions.
    let deadline_at = timeout.map(|ns| unsafe { bindings::ktime_get() }.saturating_add(ns));
    let _timer = deadline.as_ref().zip(timeout).and_then(|(d, ns)| d.as_ref().start(ns));
    // What SYSLET_IOC_CANCEL sees of the chains once they are queued (the
    // first-atom cookies are read only if they can be).
    let cancel = match Cancel::new(if sync_only { &[] } else { chains }) {
        Ok(c) => c,
        Err(e) => {
            if to_ring {
                ctx.completions.unreserve(req.nr_chains);
            }
            return Err(e);
        }
    };
    let carry = if req.flags & uapi::SYSLET_SUBMIT_RETURN_ON_BLOCK != 0 {
        Carry::Alone
    } else {
        Carry::Split
    };
    let takeover = Takeover::new(
        Batch {
            ctx,
            file,
            submit: arg as u64,
            chains: req.chains,
            base: 0,
            end: req.nr_chains,
            deadline_at,
            deadline: deadline.as_deref(),
            cancel: &cancel,
        },
        to_ring,
        !sync_only,
        carry,
    );
    // Whether it did or not, the submission runs as usual: as a carrier
    // (every signal but SIGKILL and SIGSTOP blocked by the hand-off) or in
    // the caller's context.
    if req.flags & uapi::SYSLET_SUBMIT_ASYNC_NOW != 0 {
        takeover.hand_off_now();
    }
    let mut status = Ok(0);
    // Thread-free I/O of the batch goes to the device together. Not with
    // SYSLET_SUBMIT_RETURN_ON_BLOCK, which ends the submission at the first
    // chain that goes asynchronous: one I/O at most, and a plug would only
    // allocate requests for the chains that never start.
    pin_init::stack_pin_init!(let plug = Plug::new());
    if !sync_only && carry != Carry::Alone {
        plug.as_ref().start(req.nr_chains);
    }
    // Once the caller's context is gone, the last chain's completion is
    // posted after current parked (`Takeover::finish`): a program that saw
    // every completion of a submission can count on the carrier as a
    // spare, and the next submission will not start another.
    let mut last = None;
    for (i, &first) in chains.iter().enumerate() {
        // A signal pending for the caller acts between two chains (a
        // handler, a stop, the freezer) instead of after the whole batch:
        // the submission ends there, and `done` says where. A carrier runs
        // every chain it was given: they are queued.
        takeover.deadline_settled();
        if takeover.reported().is_some() {
            // Reported queued already: the chains left run, as the rest of
            // a batch does, or go to a carrier if a signal is pending (from
            // chain `i` on: the marks the hand-off publishes start there).
            if kernel::current!().signal_pending() {
                takeover.set_done(i as u32);
                takeover.hand_off_now();
            }
        } else if i > 0 && !takeover.taken() && kernel::current!().signal_pending() {
            // The deadline may have passed between the two lines above: it
            // is marked expired before it interrupts, so settle it again.
            takeover.deadline_settled();
            if kernel::current!().signal_pending() {
                break;
            }
        }
        // `i` < MAX_BATCH.
        takeover.set_done(i as u32);
        let outcome = if let Some(why) = takeover.halted_before_start(i) {
            let o = Outcome::stopped_before_start(first, cancel.first_cookie(i, first), why);
            o.count_halt(&ctx.stats);
            o
        } else if sync_only {
            chain::run(ctx, first, &takeover)
        } else {
            takeover.armed(|| chain::run(ctx, first, &takeover))
        };
        if takeover.taken() {
            // The caller's context is gone: the rest is asynchronous, and
            // nothing more may be written to its submission. The chains
            // after this one hold places (the hand-off's, or
            // SYSLET_SUBMIT_RING's): current gives them back if they do not
            // run -- with SYSLET_SUBMIT_RETURN_ON_BLOCK they do not start --
            // unless the spare that took the context runs them
            // (`Carry::Split`, `continuation`).
            let unstarted = req.nr_chains - (i as u32 + 1);
            let held = match takeover.carry() {
                Carry::All => unstarted,
                Carry::Alone if to_ring => unstarted,
                Carry::Alone | Carry::Split => 0,
            };
            if takeover.after_carried(&outcome, &mut last, held) {
                break;
            }
            continue;
        }
        if takeover.reported().is_some() {
            // Asynchronous without a hand-off (a read in flight, now or
            // before): outcomes go to the ring, with places reserved then.
            if !outcome.in_flight() {
                ctx.completions.post(outcome.to_uapi());
            }
            let stops_here = outcome.killed() || carry == Carry::Alone;
            if stops_here {
                // The places of the chains that do not start: reserved for
                // each with SYSLET_SUBMIT_RING or without RETURN_ON_BLOCK.
                let unstarted = req.nr_chains - (i as u32 + 1);
                if to_ring || carry != Carry::Alone {
                    ctx.completions.unreserve(unstarted);
                }
                break;
            }
            continue;
        }
        if to_ring {
            ctx.completions.post(outcome.to_uapi());
        }
        if let Some(array) = outcomes {
            let written = if outcomes_fit {
                // `i` < `n`: no overflow, the whole array fits.
                user_words::write_outcome(array + outcomes_len(i) as u64, &outcome.to_uapi())
            } else {
                Err(EFAULT)
            };
            if let Err(e) = written {
                // The chain ran, but its outcome cannot be reported: stop.
                req.done = i as u32 + 1;
                status = Err(e);
                break;
            }
        }
        req.done = i as u32 + 1;
        if outcome.killed() {
            // The forced SIGSYS kills the process on the way out.
            break;
        }
    }
    plug.as_ref().finish();
    if takeover.taken() {
        // The last completion is posted once current is a parked spare.
        takeover.finish(last);
        return Ok(0);
    }
    if let Some((done, queued)) = takeover.reported() {
        // The chains ran: if the report cannot be written, the program
        // still gets every completion through the ring.
        user_words::write_report(arg as u64, done, queued)?;
        return Ok(0);
    }
    // The chains that did not start give back the places
    // SYSLET_SUBMIT_RING reserved for them.
    if to_ring {
        ctx.completions.unreserve(req.nr_chains - req.done);
    }
    user_words::write_report(arg as u64, req.done, 0)?;
    status
}

/// `SYSLET_IOC_CANCEL`: stop queued chains (see `crate::cancel`).
fn cancel(ctx: &Context, user: UserSlice) -> Result<isize> {
    let (mut reader, mut writer) = user.reader_writer();
    let mut req: uapi::syslet_cancel = reader.read()?;
    let all = req.flags & uapi::SYSLET_CANCEL_ALL != 0;
    if req.flags & !uapi::SYSLET_CANCEL_ALL != 0
        || (all && req.cookie != 0)
        || req.reserved.iter().any(|&r| r != 0)
    {
        return Err(EINVAL);
    }
    req.found = ctx.pool.cancel(req.cookie, all);
    writer.write(&req)?;
    if req.found == 0 && !all {
        return Err(ENOENT);
    }
    Ok(0)
}

/// `SYSLET_IOC_REGISTER_BUFFERS`: pin buffers for fixed-buffer atoms
/// (see `crate::buffers`), once per context.
fn register_buffers(ctx: &Context, user: UserSlice) -> Result<isize> {
    let req: uapi::syslet_buffers = user.reader().read()?;
    // Before pinning anything: a second registration is refused anyway.
    if ctx.buffers.as_ref().is_some() {
        return Err(EBUSY);
    }
    let buffers = Registered::register(&req)?;
    // Two at once: the loser's pages are unpinned as it drops.
    if !ctx.buffers.populate(buffers) {
        return Err(EBUSY);
    }
    Ok(0)
}

/// `SYSLET_IOC_WAIT`: wait for completions in the ring.
fn wait(ctx: &Context, user: UserSlice) -> Result<isize> {
    let (mut reader, mut writer) = user.reader_writer();
    let mut req: uapi::syslet_wait = reader.read()?;
    if req.flags != 0 || req.reserved0 != 0 || req.reserved.iter().any(|&r| r != 0) {
        return Err(EINVAL);
    }
    ctx.ensure_ready()?;
    req.available = ctx.completions.wait(req.min_complete, req.timeout_ns)?;
    writer.write(&req)?;
    Ok(0)
}

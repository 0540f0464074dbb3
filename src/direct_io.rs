// SPDX-License-Identifier: GPL-2.0

// Copyright (C) 2026 The syslet authors.

//! Thread-free I/O: a read or write that completes without a thread waiting
//! for it.
//!
//! A `pread64`, `preadv`, `pwrite64` or `pwritev` atom that ends its
//! chain, on a block device opened with `O_DIRECT`, is issued as an
//! asynchronous kiocb from the task that runs the chain, as io_uring issues
//! one: `IOCB_NOWAIT`, so the submission itself does not sleep. When the
//! driver queues it (`-EIOCBQUEUED`) the chain is asynchronous at once,
//! with no hand-off and no thread parked for it: the caller goes on with
//! the next chain, or returns. The kiocb's
//! callback, usually in interrupt context, writes the atom's result word,
//! posts the chain's completion (waking a waiter straight from the device's
//! completion) and lets go of the files; only unpinning the result word's
//! page needs process context, and goes to the context's work item, which
//! takes every one left for it at once.
//!
//! Everything that would make the I/O wait or behave differently keeps the
//! usual path, where it runs as a system call and a block hands off:
//! another call, an atom after it (or a skip on stop), a file without
//! `O_DIRECT`, I/O the driver would have to wait to start (`-EAGAIN`, also
//! when the block layer reports it through the callback from inside the
//! submission, as it does when no request is free: see [`Io::state`]), a
//! regular file (a direct read of one can fail with `-EAGAIN` after part of
//! it was issued, from the callback, when nothing can retry it as the
//! system call would; a write holds the file system's freeze protection
//! until it completes, which a block device's write, as its system call,
//! does not take: see [`write_iter`]), a
//! result word across two pages or not writable, a carrier (already a
//! thread of its own) or a submission that may not go asynchronous. The
//! caller's seccomp filters judge the call first, as for any atom.
//!
//! The result word's page is pinned at issue, so the callback writes it
//! without the process's memory map. Each I/O in flight holds a
//! reference to the context's file (counted in `held_refs`, as a
//! submission's own): the context outlives it, and its drop cancels the
//! work item, which therefore never runs after the module's code is gone
//! (the callback runs with interrupts or bottom halves off, which module
//! removal waits out).

use core::{
    cell::Cell,
    mem::{
        offset_of,
        size_of,
        MaybeUninit, //
    },
    ptr,
};
use kernel::{
    bindings,
    fs::{
        File,
        LocalFile, //
    },
    page::PAGE_SIZE,
    prelude::*,
    sync::{
        aref::ARef,
        atomic::{
            Acquire,
            Atomic,
            Full,
            Relaxed,
            Release, //
        },
    },
    types::Opaque,
};

use crate::{
    buffers::Slice,
    chain::Outcome,
    context::Context,
    stats::Stats,
    uapi, //
};

/// x86-64's numbers of the calls that may go in flight.
const NR_PREAD64: u32 = 17;
const NR_PWRITE64: u32 = 18;
const NR_PREADV: u32 = 295;
const NR_PWRITEV: u32 = 296;
// Not in the generated bindings (their `#define`s are casts):
// include/linux/fs.h and include/uapi/linux/fs.h.
const FMODE_READ: u32 = 1 << 0;
const FMODE_WRITE: u32 = 1 << 1;
const FMODE_PREAD: u32 = 1 << 3;
const FMODE_PWRITE: u32 = 1 << 4;
const FMODE_CAN_WRITE: u32 = 1 << 18;
const FMODE_NOWAIT: u32 = 1 << 27;
/// `rw_verify_area()`'s direction for a write (include/linux/kernel.h).
const WRITE: i32 = 1;
/// `IOCB_NOWAIT`, which is `RWF_NOWAIT`.
const IOCB_NOWAIT: i32 = 0x8;

/// Whether `atom`, running system call `nr`, may be thread-free I/O: a
/// positioned read or write after which nothing of the chain can run.
#[inline]
pub(crate) fn candidate(nr: u32, atom: &uapi::syslet_atom) -> bool {
    // Cheapest first: in a chain, only the last atom can be one.
    atom.next == 0 && atom.flags & uapi::SYSLET_ATOM_SKIP_ON_STOP == 0 && Call::of(nr).is_some()
}

/// What [`issue`] did.
pub(crate) enum Issued {
    /// The I/O is in flight: its completion will be posted.
    InFlight,
    /// The I/O finished (or failed) at once with this result.
    Done(i64),
    /// Not thread-free I/O: run the system call.
    Declined,
}

/// Where the chain's task may let its chain go asynchronous without a
/// hand-off (implemented by `Takeover`).
pub(crate) trait InFlight {
    /// The chain running is about to be completed later by its I/O: the
    /// file of the context, which the I/O holds while in flight, or `None`
    /// if the chain may not go asynchronous this way now. Reserves what a
    /// completion needs.
    fn begin(&self) -> Option<&File>;
    /// The I/O did not go in flight after [`InFlight::begin`]: undoes it.
    fn abandon(&self);
    /// The empty `Io`s of the submission.
    fn stash(&self) -> &IoStash<'_>;
}

/// A user page pinned for one word written at completion.
///
/// # Invariants
///
/// `page` is a page pinned by `pin_user_pages_fast()` for writing, unpinned
/// only by `Drop`; `offset` + 8 <= `PAGE_SIZE`.
struct ResultWord {
    page: *mut bindings::page,
    offset: usize,
}

impl ResultWord {
    /// Pins the page of the `__s64` at user address `addr`, if it lies in
    /// one page and can be written. `FOLL_LONGTERM` (the pin lasts as long
    /// as the I/O) refuses a page of a file mapping that needs dirty
    /// tracking: writing it behind the file system's back, as the callback
    /// would, is what the kernel forbids long pins for. Such a word takes
    /// the system call path, which writes it through the page tables.
    fn pin(addr: u64) -> Option<Self> {
        let addr = usize::try_from(addr).ok()?;
        let offset = addr % PAGE_SIZE;
        if offset + size_of::<i64>() > PAGE_SIZE {
            return None;
        }
        let mut page = ptr::null_mut();
        // SAFETY: `page` is room for one page pointer; the address is a
        // user address (the call checks it) of current's memory map.
        let n = unsafe {
            bindings::pin_user_pages_fast(
                (addr - offset) as c_ulong,
                1,
                bindings::FOLL_WRITE | bindings::FOLL_LONGTERM,
                &mut page,
            )
        };
        if n != 1 {
            return None;
        }
        // INVARIANT: one page pinned for writing; `offset` checked above.
        Some(Self { page, offset })
    }

    /// Writes `value` into the word.
    fn write(&self, value: i64) {
        // SAFETY: a pinned page (type invariant); mapped until the
        // `kunmap_local` below.
        let base = unsafe { bindings::kmap_local_page(self.page) };
        // SAFETY: `offset` + 8 lies in the page (type invariant); user
        // space may access the word at any time, hence the unaligned,
        // volatile store of plain bytes.
        unsafe {
            ptr::write_volatile(
                base.cast::<u8>().add(self.offset).cast::<[u8; 8]>(),
                value.to_ne_bytes(),
            )
        };
        // SAFETY: pairs with the `kmap_local_page` above.
        unsafe { bindings::kunmap_local(base) };
    }
}

impl Drop for ResultWord {
    fn drop(&mut self) {
        let mut page = self.page;
        // SAFETY: our pin (type invariant); the page was written (or may
        // have been), so it is marked dirty. Process context: the work item
        // or the task that pinned it.
        unsafe { bindings::unpin_user_pages_dirty_lock(&mut page, 1, true) };
    }
}

/// [`Io::state`] while the I/O is being issued.
const ISSUING: i64 = i64::MIN;
/// [`Io::state`] once the issuer let the callback have the I/O.
const QUEUED: i64 = i64::MIN + 1;

/// One read or write in flight.
struct Io {
    kiocb: bindings::kiocb,
    /// Who completes the I/O. [`ISSUING`] until the issuer's call returns:
    /// a callback that comes before that (the block layer completes a
    /// request it cannot allocate without waiting with `-EAGAIN`, from
    /// inside the submission) stores its result here instead and leaves
    /// the I/O to the issuer, which then runs the system call (for
    /// `-EAGAIN`) or completes it as the callback would have. [`QUEUED`]
    /// once the issuer let go: the callback completes it. No result is one
    /// of the two (they are below every errno).
    state: Atomic<i64>,
    /// The next one on the stack of those released.
    next: *mut Io,
    /// The context, alive as long as `ctx_file`.
    ctx: *const Context,
    /// A reference to the context's file, counted in `held_refs`; `None`
    /// once released ([`Io::release`]).
    ctx_file: Option<ARef<File>>,
    /// The file read or written; `kiocb.ki_filp` points to it.
    target: Option<ARef<File>>,
    word: Option<ResultWord>,
    /// The chain's outcome as the I/O started, and the atom's flags.
    outcome: Outcome,
    atom_flags: u32,
}

impl Io {
    /// An empty `Io`, for [`DirectIo::take`] to hand out.
    fn empty() -> Self {
        Self {
            // SAFETY: all-zero is a valid `struct kiocb` (pointers null, no
            // callback); `issue` sets the fields that matter.
            kiocb: unsafe { core::mem::zeroed() },
            state: Atomic::new(ISSUING),
            next: ptr::null_mut(),
            ctx: ptr::null(),
            ctx_file: None,
            target: None,
            word: None,
            outcome: Outcome::default(),
            atom_flags: 0,
        }
    }

    /// Lets go of what the I/O holds (the caller drops the returned file
    /// references, the context's last, after it is done with the context):
    /// `self` is empty again, to be used for another I/O.
    fn release(&mut self) -> (Option<ARef<File>>, Option<ARef<File>>) {
        self.word = None;
        let ctx_file = self.ctx_file.take();
        if ctx_file.is_some() {
            // SAFETY: `ctx_file`, dropped by the caller after this, keeps
            // the context alive.
            let ctx = unsafe { &*self.ctx };
            // Before the reference goes, as for a submission's own.
            ctx.held_refs.uncount();
        }
        (self.target.take(), ctx_file)
    }
}

impl Drop for Io {
    fn drop(&mut self) {
        // A no-op for an empty one.
        drop(self.release());
    }
}

/// Empty [`Io`]s a submission took from its context's cache
/// ([`DirectIo::free`]) for its own reads: each is taken with no atomic
/// operation; what is left goes back when the submission ends.
pub(crate) struct IoStash<'a> {
    cache: &'a DirectIo,
    /// A list linked by `next`, of boxes from `KBox::into_raw`.
    top: Cell<*mut Io>,
}

impl<'a> IoStash<'a> {
    pub(crate) fn new(cache: &'a DirectIo) -> Self {
        Self {
            cache,
            top: Cell::new(ptr::null_mut()),
        }
    }

    /// An empty `Io`: the stash's, else every one the cache has (taken at
    /// once), else a new one.
    fn take(&self) -> Result<KBox<Io>> {
        let mut top = self.top.get();
        if top.is_null() {
            // Acquire: pairs with the release of `DirectIo::give`.
            top = self.cache.free.xchg(ptr::null_mut(), Acquire);
        }
        if top.is_null() {
            return Ok(KBox::new(Io::empty(), GFP_KERNEL)?);
        }
        // SAFETY: a box of the list, ours alone (off the cache).
        self.top.set(unsafe { (*top).next });
        // SAFETY: from `KBox::into_raw` (see `top`).
        Ok(unsafe { KBox::from_raw(top) })
    }
}

impl Drop for IoStash<'_> {
    fn drop(&mut self) {
        let first = self.top.get();
        if first.is_null() {
            return;
        }
        let mut last = first;
        // SAFETY: boxes of our list, ours alone until pushed below.
        unsafe {
            while !(*last).next.is_null() {
                last = (*last).next;
            }
        }
        self.cache.push(first, last);
    }
}

/// The thread-free I/O of one context.
#[pin_data(PinnedDrop)]
pub(crate) struct DirectIo {
    /// Runs [`release_work`].
    #[pin]
    work: Opaque<bindings::work_struct>,
    /// I/O completed whose result word's page is still pinned: a
    /// lock-free stack, pushed from interrupt context, taken whole by the
    /// work item.
    released: Atomic<*mut Io>,
    /// I/O in flight, for fdinfo.
    in_flight: Atomic<u32>,
    /// Empty `Io`s for reuse, as io_uring keeps its requests instead of
    /// allocating one a read: a lock-free stack (boxes from
    /// `KBox::into_raw`, linked by `next`), pushed from interrupt context
    /// too, only ever taken whole ([`IoStash`]), so no pop can meet a
    /// reused node. One `Io` for each I/O once in flight at the same time
    /// (at most the completions the context can hold), until it closes; a
    /// submission whose chain blocked keeps those it took until its
    /// carrier is done (a thread each, so at most `max_threads` such).
    free: Atomic<*mut Io>,
}

// SAFETY: the work item is only used through the workqueue API (queueing,
// cancelling), which any task and interrupt context may call at any time;
// the other fields are atomics. Nothing in it belongs to one task.
unsafe impl Send for DirectIo {}
// SAFETY: as above.
unsafe impl Sync for DirectIo {}

impl DirectIo {
    pub(crate) fn new() -> impl PinInit<Self> {
        pin_init!(Self {
            work <- Opaque::ffi_init(|slot| {
                // SAFETY: `slot` is the work item's place, pinned; the
                // function has the work function's signature. The key is a
                // static one, registered by the macro.
                unsafe {
                    bindings::init_work_with_key(
                        slot,
                        Some(release_work),
                        false,
                        c"DirectIo::work".as_char_ptr(),
                        kernel::static_lock_class!().as_ptr(),
                    )
                }
            }),
            released: Atomic::new(ptr::null_mut()),
            in_flight: Atomic::new(0),
            free: Atomic::new(ptr::null_mut()),
        })
    }

    /// Keeps `io`, released (empty), for reuse. Any context.
    fn give(&self, io: KBox<Io>) {
        let io = KBox::into_raw(io);
        self.push(io, io);
    }

    /// Pushes the list from `first` to `last` (linked by `next`, boxes
    /// from `KBox::into_raw`, ours) on [`DirectIo::free`].
    fn push(&self, first: *mut Io, last: *mut Io) {
        let mut head = self.free.load(Relaxed);
        loop {
            // SAFETY: `last` is ours until the exchange succeeds.
            unsafe { (*last).next = head };
            // Release: whoever takes the stack sees the links.
            match self.free.cmpxchg(head, first, Release) {
                Ok(_) => return,
                Err(now) => head = now,
            }
        }
    }

    /// I/O in flight now.
    pub(crate) fn in_flight(&self) -> u32 {
        self.in_flight.load(Relaxed)
    }
}

#[pinned_drop]
impl PinnedDrop for DirectIo {
    fn drop(self: Pin<&mut Self>) {
        // Every I/O in flight held the context's file, so none is left;
        // the work item may still be returning from the last one.
        // SAFETY: an initialised work item that lives until this returns.
        unsafe { bindings::cancel_work_sync(self.work.get()) };
        let mut top = self.free.xchg(ptr::null_mut(), Acquire);
        while !top.is_null() {
            // SAFETY: a box of the cache, from `KBox::into_raw`.
            let io = unsafe { KBox::from_raw(top) };
            top = io.next;
        }
    }
}

/// A block plug over the chains of one submission, as io_uring plugs a
/// batch of SQEs: the requests of the thread-free I/O they issue are
/// allocated in one go and dispatched together when the plug ends, or
/// when the task sleeps (`schedule()` flushes it first, so a chain that
/// blocks never holds back I/O queued before it).
///
/// # Invariants
///
/// While `started`, `plug` is current's plug (`current->plug`) or current
/// had one already; it ends (`blk_finish_plug`) before it moves or goes.
#[pin_data(PinnedDrop)]
pub(crate) struct Plug {
    #[pin]
    plug: Opaque<bindings::blk_plug>,
    started: Cell<bool>,
}

impl Plug {
    pub(crate) fn new() -> impl PinInit<Self> {
        pin_init!(Self {
            plug <- Opaque::uninit(),
            started: Cell::new(false),
        })
    }

    /// Plugs current for the `chains` of a submission that may issue
    /// thread-free I/O; as io_uring, not for fewer than three (a plug
    /// holds the first I/O back until the last chain ran).
    pub(crate) fn start(self: Pin<&Self>, chains: u32) {
        if chains < 3 || self.started.get() {
            return;
        }
        // SAFETY: `plug` is pinned and outlives the plug (`finish`, at the
        // latest on drop); a nested plug is left alone by the callee. At
        // most `BLK_MAX_REQUEST_COUNT` are taken from the hint.
        unsafe { bindings::blk_start_plug_nr_ios(self.plug.get(), chains.min(32) as u16) };
        // INVARIANT: started just now.
        self.started.set(true);
    }

    /// Ends the plug: dispatches what it holds.
    pub(crate) fn finish(self: Pin<&Self>) {
        if self.started.replace(false) {
            // SAFETY: started by `start` (type invariant), in this task:
            // the plug is a local of the system call that runs the chains.
            // A plug that was not current's (nested) is ignored.
            unsafe { bindings::blk_finish_plug(self.plug.get()) };
        }
    }
}

#[pinned_drop]
impl PinnedDrop for Plug {
    fn drop(self: Pin<&mut Self>) {
        self.into_ref().finish();
    }
}

/// Which way a call moves data, and whether through an iovec array.
#[derive(Clone, Copy)]
struct Call {
    write: bool,
    vectored: bool,
}

impl Call {
    fn of(nr: u32) -> Option<Self> {
        let (write, vectored) = match nr {
            NR_PREAD64 => (false, false),
            NR_PWRITE64 => (true, false),
            NR_PREADV => (false, true),
            NR_PWRITEV => (true, true),
            _ => return None,
        };
        Some(Self { write, vectored })
    }
}

/// The user buffer(s) of a call, as an `iov_iter`; an iovec array that
/// did not fit on the stack is freed with it. Only used while the I/O is
/// issued: a direct read or write takes the pages it needs then.
///
/// Left uninitialised but for `allocated` (zeroing it cost every read tens
/// of instructions): `iter` is set by a successful [`UserIter::import`],
/// before anything reads it, `fast` only by `import_iovec`.
struct UserIter {
    iter: MaybeUninit<bindings::iov_iter>,
    fast: MaybeUninit<[bindings::iovec; bindings::UIO_FASTIOV as usize]>,
    allocated: *mut bindings::iovec,
}

impl UserIter {
    fn new() -> Self {
        Self {
            iter: MaybeUninit::uninit(),
            fast: MaybeUninit::uninit(),
            allocated: ptr::null_mut(),
        }
    }

    /// Imports `args[1]` and `args[2]` of `call`: a buffer and its length,
    /// or an iovec array and its length; or, for a `fixed` one, the pages
    /// registered for it. The total, or the errno the system call would
    /// have returned; on success `iter` is initialised.
    fn import(
        self: Pin<&mut Self>,
        call: Call,
        args: &[u64; 6],
        fixed: Option<&Slice<'_>>,
    ) -> Result<usize, isize> {
        // SAFETY: nothing here moves out of `self`; `iter` may point into
        // `fast`, which is why `self` is pinned.
        let this = unsafe { self.get_unchecked_mut() };
        let dir = if call.write {
            bindings::ITER_SOURCE
        } else {
            bindings::ITER_DEST
        } as i32;
        if let Some(slice) = fixed {
            slice.import(dir as u32, this.iter.as_mut_ptr());
            return Ok(args[2] as usize);
        }
        if !call.vectored {
            // SAFETY: `iter` is valid for writing (the callee sets all of
            // it); the buffer is a user address, which `import_ubuf` checks.
            let ret = unsafe {
                bindings::import_ubuf(
                    dir,
                    args[1] as *mut c_void,
                    args[2] as usize,
                    this.iter.as_mut_ptr(),
                )
            };
            return match ret {
                0 => Ok(args[2] as usize),
                e => Err(e as isize),
            };
        }
        let Ok(segs) = u32::try_from(args[2]) else {
            return Err(-(bindings::EINVAL as isize));
        };
        let mut iov = this.fast.as_mut_ptr().cast::<bindings::iovec>();
        // SAFETY: `fast` holds `UIO_FASTIOV` entries, written before they
        // are read, and stays where it is (pinned) while `iter` points into
        // it; `iter` is valid for writing (set whole on success); the array
        // is a user address, which `import_iovec` checks.
        let ret = unsafe {
            bindings::import_iovec(
                dir,
                args[1] as *const bindings::iovec,
                segs,
                bindings::UIO_FASTIOV,
                &mut iov,
                this.iter.as_mut_ptr(),
            )
        };
        // NULL if `fast` sufficed, else an array of ours (also on error).
        this.allocated = iov;
        if ret < 0 {
            Err(ret)
        } else {
            Ok(ret as usize)
        }
    }
}

impl Drop for UserIter {
    fn drop(&mut self) {
        // SAFETY: NULL or the array `import_iovec` allocated for us.
        unsafe { bindings::kfree(self.allocated.cast()) };
    }
}

/// Issues `atom` (a [`candidate`] running system call `nr`) with the
/// resolved `args` as a thread-free read or write, into or from the
/// registered pages of `fixed` if it is a fixed-buffer atom; `outcome` is
/// the chain's so far.
pub(crate) fn issue(
    ctx: &Context,
    nr: u32,
    atom: &uapi::syslet_atom,
    args: &[u64; 6],
    fixed: Option<&Slice<'_>>,
    outcome: &Outcome,
    via: &impl InFlight,
) -> Issued {
    let Some(call) = Call::of(nr) else {
        return Issued::Declined;
    };
    let Ok(fd) = u32::try_from(args[0]) else {
        return Issued::Declined;
    };
    // The offset, `pos_l` for the vectored calls (on 64-bit, `pos_h` adds
    // nothing).
    let pos = args[3] as i64;
    if pos < 0 {
        return Issued::Declined;
    }
    let Ok(target) = LocalFile::fget(fd) else {
        return Issued::Declined;
    };
    // SAFETY: we are in an ioctl of the syslet device, which never holds
    // an `fdget_pos` of another file; and the call takes no file position.
    let target = unsafe { LocalFile::assume_no_fdget_pos(target) };
    let filp = target.as_ptr();
    // SAFETY: `target` holds the file; `f_mode` and `f_iocb_flags` are set
    // at open (and by fcntl(F_SETFL), a plain store: a stale value only
    // declines or issues one call as if set a moment earlier); `f_inode`
    // and its mode never change.
    let (mode, iocb_flags, imode) = unsafe {
        (
            (*filp).f_mode,
            (*filp).f_iocb_flags,
            (*(*filp).f_inode).i_mode,
        )
    };
    // Block devices only: their `IOCB_NOWAIT` I/O is one bio, refused
    // (`-EAGAIN`) from inside the submission if at all (block/fops.c),
    // which `Io::state` catches. A regular file's may fail that way after
    // part of it was issued, from the callback (and a write holds the file
    // system's freeze protection until it completes). Of block devices,
    // only those with a request queue (blk-mq): a bio-based one (device
    // mapper, md) may end a `REQ_NOWAIT` bio with `BLK_STS_AGAIN` from its
    // completion, after the bio was queued (dm splitting it across targets,
    // raid5 reshaping), where the system call, which may wait, never sees
    // `EAGAIN`.
    let needs = if call.write {
        FMODE_WRITE | FMODE_PWRITE
    } else {
        FMODE_READ | FMODE_PREAD
    };
    if mode & (needs | FMODE_NOWAIT) != needs | FMODE_NOWAIT
        || u32::from(imode) & bindings::S_IFMT != bindings::S_IFBLK
        || target.flags() & bindings::O_DIRECT == 0
        || !has_request_queue(filp)
    {
        return Issued::Declined;
    }
    let word = match atom.result {
        0 => None,
        addr => match ResultWord::pin(addr) {
            Some(w) => Some(w),
            None => return Issued::Declined,
        },
    };
    let mut iter = core::pin::pin!(UserIter::new());
    let len = match iter.as_mut().import(call, args, fixed) {
        // The system call returns 0 at once.
        Ok(0) => return Issued::Declined,
        Ok(len) => len,
        // As the system call fails: EFAULT, EINVAL...
        Err(e) => return Issued::Done(e as i64),
    };
    let Some(ctx_file) = via.begin() else {
        return Issued::Declined;
    };
    let Ok(mut io) = via.stash().take() else {
        via.abandon();
        return Issued::Declined;
    };
    // SAFETY: all-zero is a valid `struct kiocb` (pointers null, no
    // callback); the fields that matter are set below.
    io.kiocb = unsafe { core::mem::zeroed() };
    io.kiocb.ki_filp = filp;
    io.kiocb.ki_pos = pos;
    io.kiocb.ki_complete = Some(io_done);
    // As `init_sync_kiocb()`; the I/O priority is the caller's, which the
    // block layer applies when the bio is submitted here.
    io.kiocb.ki_flags = iocb_flags as i32 | IOCB_NOWAIT;
    io.state = Atomic::new(ISSUING);
    io.ctx = ctx;
    io.ctx_file = Some(ctx_file.into());
    // Counted only once the reference is taken (`HeldRefs`).
    ctx.held_refs.count();
    io.target = Some(target);
    io.word = word;
    io.outcome = outcome.clone();
    io.atom_flags = atom.flags;
    let io = KBox::into_raw(io);
    ctx.direct_io.in_flight.add(1, Relaxed);
    // SAFETY: `target` (in `io`) holds the file; the kiocb is set up and
    // lives in `io` until its callback; `iter` describes the caller's
    // buffers, in current's memory map, and outlives the call, or pages
    // registered with the context, which outlives the I/O (`io` holds its
    // file): the block layer may point its bios at their `bio_vec`s until
    // the I/O completes.
    let ret = unsafe {
        // Initialised by the successful `import` above.
        let iter = iter.as_mut().get_unchecked_mut().iter.as_mut_ptr();
        if call.write {
            write_iter(filp, &mut (*io).kiocb, iter, len)
        } else {
            bindings::vfs_iocb_iter_read(filp, &mut (*io).kiocb, iter)
        }
    };
    let mut result = ret as i64;
    if ret == -(bindings::EIOCBQUEUED as isize) {
        // SAFETY: `io` is alive: the callback leaves it to us while its
        // state is `ISSUING`.
        let state = unsafe { &(*io).state };
        match state.cmpxchg(ISSUING, QUEUED, Full) {
            // `io` belongs to the callback from now on.
            Ok(_) => {
                Stats::bump(&ctx.stats.direct_io);
                return Issued::InFlight;
            }
            // The callback came first, with this result: the I/O was not
            // started, the system call runs instead.
            Err(early) if is_retry(early) => result = early,
            // It is done already (a fast device, or a slow issuer):
            // completed as if the callback had come a moment later, so
            // that the chain goes asynchronous the same way whatever the
            // timing.
            Err(early) => {
                Stats::bump(&ctx.stats.direct_io);
                // SAFETY: `io` is ours (the callback is over) and was
                // issued by us.
                unsafe { complete(io, early) };
                return Issued::InFlight;
            }
        }
    }
    ctx.direct_io.in_flight.fetch_sub(1, Relaxed);
    // Not queued, or completed already: the callback will not touch it.
    // SAFETY: from `KBox::into_raw` above, and nobody else has it.
    let mut io = unsafe { KBox::from_raw(io) };
    // The context's file goes after the `Io` is back (we hold the
    // submission's reference anyway).
    let refs = io.release();
    ctx.direct_io.give(io);
    drop(refs);
    via.abandon();
    if is_retry(result) {
        return Issued::Declined;
    }
    Issued::Done(result)
}

/// Whether the block device `filp` is request-based (blk-mq): its I/O
/// goes through a request queue, whose `REQ_NOWAIT` refusals come from
/// inside the submission.
fn has_request_queue(filp: *mut bindings::file) -> bool {
    // SAFETY: `filp` is a block device file that the caller holds
    // (`S_IFBLK` checked first), so `file_bdev()` gives its device, whose
    // queue is set when the device is made and stays with it; a queue's
    // `mq_ops` is set when it is allocated and never changes.
    unsafe {
        let bdev = bindings::file_bdev(filp);
        !(*(*bdev).bd_queue).mq_ops.is_null()
    }
}

/// Starts the write of `len` bytes from `iter` that `kiocb` describes, to
/// the block device `filp`: `vfs_iocb_iter_write()` without the freeze
/// protection of the file system that holds the device's node.
///
/// That function takes it for any file (`kiocb_start_write()`) and, for
/// queued I/O, leaves it to the completion to drop (`kiocb_end_write()`);
/// the `pwrite64` system call takes it for regular files only
/// (`file_start_write()`), as io_uring and aio do. Taken here it would be
/// one more difference from the system call, and a sleep in the issue
/// while that file system is frozen. (Until 2026-12-03 it was taken here
/// and never dropped: the next `FIFREEZE` of the file system that holds
/// the node waited for ever.) As the function, no `fsnotify` event; see
/// the module's documentation.
///
/// # Safety
///
/// `filp` is a block device file that the caller holds, open for writing
/// (`FMODE_WRITE`); `kiocb` and `iter` are set up for it, `iter` holds
/// `len` bytes, and both stay valid as the block layer needs them
/// (`kiocb` until its callback).
unsafe fn write_iter(
    filp: *mut bindings::file,
    kiocb: *mut bindings::kiocb,
    iter: *mut bindings::iov_iter,
    len: usize,
) -> isize {
    // SAFETY: the caller holds `filp`; its operations and mode are set at
    // open and never change.
    let (write_iter, mode) = unsafe { ((*(*filp).f_op).write_iter, (*filp).f_mode) };
    let Some(write_iter) = write_iter else {
        return -(bindings::EINVAL as isize);
    };
    if mode & FMODE_CAN_WRITE == 0 {
        return -(bindings::EINVAL as isize);
    }
    // SAFETY: `filp` is held; `ki_pos` is the kiocb's, valid for reads.
    let ret = unsafe { bindings::rw_verify_area(WRITE, filp, &(*kiocb).ki_pos, len) };
    if ret < 0 {
        return ret as isize;
    }
    // SAFETY: as `vfs_iocb_iter_write()` calls it, with the checks it
    // makes first done above; the caller's contract covers the rest.
    unsafe { write_iter(kiocb, iter) }
}

/// Whether `result` says that the I/O did not start because the driver
/// would have had to wait for it (or cannot do without): the system call
/// then waits instead, as it would have.
fn is_retry(result: i64) -> bool {
    result == -i64::from(bindings::EAGAIN) || result == -i64::from(bindings::EOPNOTSUPP)
}

/// The kiocb's callback: the I/O in `iocb` finished with `ret`. Usually
/// interrupt context. Writes the result word and posts the completion here,
/// so the waiter is woken straight from the device's completion, as
/// io_uring's would be; what needs process context (unpinning the word's
/// page) goes to the work item.
///
/// # Safety
///
/// Called by the file's read or write only, once, for a kiocb [`issue`]
/// queued.
unsafe extern "C" fn io_done(iocb: *mut bindings::kiocb, ret: c_long) {
    // SAFETY: `iocb` is the `kiocb` field of an `Io` issued by `issue`.
    let io = unsafe { iocb.byte_sub(offset_of!(Io, kiocb)).cast::<Io>() };
    // `c_long` is 64 bits on x86-64, the only architecture built.
    let result = ret as i64;
    // SAFETY: as above; alive until one of us frees it.
    let state = unsafe { &(*io).state };
    if state.cmpxchg(ISSUING, result, Full).is_ok() {
        // Before the issuer let go: it finishes the I/O (and may free `io`
        // the moment the exchange is seen).
        return;
    }
    // SAFETY: `io` is ours now (`QUEUED`), issued by `issue`.
    unsafe { complete(io, result) };
}

/// Completes `io` with `result`: writes the result word, posts the chain's
/// completion, and gives back what the I/O held; what needs process
/// context (unpinning the word's page) goes to the work item.
///
/// # Safety
///
/// `io` is an `Io` issued by [`issue`] whose I/O finished, ours alone.
unsafe fn complete(io: *mut Io, result: i64) {
    // SAFETY: ours (see above); `ctx` is alive while `io` holds its file.
    let (io_ref, ctx) = unsafe { (&*io, &*(*io).ctx) };
    if let Some(w) = io_ref.word.as_ref() {
        // Before the post, whose release of the ring's tail publishes it.
        w.write(result);
    }
    let outcome = io_ref.outcome.completed(result, io_ref.atom_flags);
    ctx.completions.post(outcome.to_uapi());
    ctx.direct_io.in_flight.fetch_sub(1, Relaxed);
    if io_ref.word.is_none() {
        // Nothing that needs process context: the `Io` goes back to the
        // cache, then the file references go (`fput()` defers a last one);
        // the context's last, so it outlives its cache.
        // SAFETY: from `KBox::into_raw` in `issue`; ours, and not used
        // after this.
        let mut io = unsafe { KBox::from_raw(io) };
        let refs = io.release();
        ctx.direct_io.give(io);
        drop(refs);
        return;
    }
    // Once `io` is on the stack, a work item already running may release
    // it, and with it the context's last file reference: a reference of our
    // own (counted, see `Io::ctx_file`) keeps the context until the work
    // item is queued.
    let Some(keep) = io_ref.ctx_file.clone() else {
        // Cannot be: an `Io` in flight holds its context's file.
        return;
    };
    ctx.held_refs.count();
    let stack = &ctx.direct_io.released;
    let mut head = stack.load(Relaxed);
    loop {
        // SAFETY: `io` is ours until it is on the stack.
        unsafe { (*io).next = head };
        // Release: the work item sees the link it takes.
        match stack.cmpxchg(head, io, Release) {
            Ok(_) => break,
            Err(now) => head = now,
        }
    }
    if head.is_null() {
        // SAFETY: an initialised work item of a live context; queueing an
        // item already queued does nothing, which is fine: it takes the
        // whole stack when it runs.
        unsafe {
            bindings::queue_work_on(
                bindings::wq_misc_consts_WORK_CPU_UNBOUND as i32,
                bindings::system_percpu_wq,
                ctx.direct_io.work.get(),
            )
        };
    }
    ctx.held_refs.uncount();
    // `fput()` defers a last reference dropped here.
    drop(keep);
}

/// The work item: releases every I/O on the stack (unpins its result
/// word's page, drops its file references).
///
/// # Safety
///
/// Called by the workqueue only, for the work item of a [`DirectIo`].
unsafe extern "C" fn release_work(work: *mut bindings::work_struct) {
    // SAFETY: `work` is the `work` field of a `DirectIo`, the `direct_io`
    // field of a `Context`, which lives until `cancel_work_sync` in its
    // drop returned, so at least until this function returns.
    let ctx = unsafe {
        let direct = work
            .cast::<u8>()
            .sub(offset_of!(DirectIo, work))
            .cast::<DirectIo>();
        &*direct
            .cast::<u8>()
            .sub(offset_of!(Context, direct_io))
            .cast::<Context>()
    };
    // Acquire: pairs with the callbacks' release.
    let mut top = ctx.direct_io.released.xchg(ptr::null_mut(), Acquire);
    while !top.is_null() {
        // SAFETY: from `KBox::into_raw` in `issue`; taken off the stack.
        let mut io = unsafe { KBox::from_raw(top) };
        top = io.next;
        // Unpins the word; the `Io` goes back to the cache; then both file
        // references go: the context's release, should this be the last,
        // waits for us to return.
        let refs = io.release();
        ctx.direct_io.give(io);
        drop(refs);
    }
}

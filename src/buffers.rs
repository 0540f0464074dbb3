// SPDX-License-Identifier: GPL-2.0

// Copyright (C) 2026 The syslet authors.

//! Registered buffers: user memory pinned once, for many reads and writes.
//!
//! A direct read or write pins the pages of its user buffer when it is
//! issued and unpins them when it completes; for a 4 KiB read of a fast
//! device that is a third of the kernel's work. `SYSLET_IOC_REGISTER_BUFFERS`
//! pins a set of buffers once, as io_uring's `IORING_REGISTER_BUFFERS`
//! does, and keeps one `bio_vec` per page: an atom with
//! `SYSLET_ATOM_FIXED_BUFFER` whose I/O goes thread-free (`direct_io`)
//! hands the device those pages, with no pinning of its own.
//!
//! The buffers live as long as the context: registered once, released
//! when the context goes, which no I/O in flight outlives (each holds the
//! context's file). So the hot path reads them with no lock and no
//! reference count.

use kernel::{
    bindings,
    mm::Mm,
    page::{
        PAGE_SHIFT,
        PAGE_SIZE, //
    },
    alloc::flags::__GFP_NOWARN,
    prelude::*,
    sync::aref::ARef,
    uaccess::UserSlice, //
};

use crate::uapi;

/// The most buffers one context registers.
const MAX_BUFFERS: u32 = uapi::SYSLET_MAX_BUFFERS;
/// The longest buffer.
const MAX_BUFFER_LEN: u64 = uapi::SYSLET_MAX_BUFFER_LEN as u64;
/// An address's offset in its page.
const PAGE_MASK: u64 = PAGE_SIZE as u64 - 1;
/// Bytes of one `struct iovec` (two 64-bit words on x86-64).
const IOVEC_SIZE: usize = 16;

/// One registered buffer: its user range and where its pages are in
/// [`Registered::pages`].
struct Buffer {
    addr: u64,
    len: u64,
    /// Index of its first page's `bio_vec`.
    first: usize,
    /// How many pages (`bio_vec`s) it has.
    count: usize,
    /// Its offset in its first page.
    head: u64,
}

/// The buffers of one context, pinned.
///
/// # Invariants
///
/// Every `bv_page` of `pages` is a page pinned by `pin_user_pages_fast()`
/// (`FOLL_WRITE | FOLL_LONGTERM`), unpinned only by `Drop`; each buffer's
/// `bio_vec`s are consecutive from `first` and cover exactly its range:
/// the first starts at the buffer's offset in its page, every later one
/// at offset 0, all but the last end at the end of a page. `charged`
/// pages are charged to `mm`'s `locked_vm`.
pub(crate) struct Registered {
    mm: ARef<Mm>,
    charged: usize,
    buffers: KVec<Buffer>,
    pages: KVVec<bindings::bio_vec>,
}

// SAFETY: the pages are pinned for the structure's whole life and only
// read through it; `mm` is a counted reference. Nothing here belongs to
// one task, and no field is written after registration.
unsafe impl Send for Registered {}
// SAFETY: as above: read-only once built.
unsafe impl Sync for Registered {}

/// A range of a registered buffer, for one read or write.
pub(crate) struct Slice<'a> {
    /// The `bio_vec`s from the one of the range's first byte to the
    /// buffer's last.
    pages: &'a [bindings::bio_vec],
    /// Where the range starts in the first of them.
    skip: usize,
    len: usize,
}

impl Registered {
    /// `SYSLET_IOC_REGISTER_BUFFERS`: pins the buffers that `request`
    /// names, charging them to current's locked memory.
    pub(crate) fn register(request: &uapi::syslet_buffers) -> Result<Self> {
        if request.flags != 0
            || request.reserved.iter().any(|&r| r != 0)
            || request.nr == 0
            || request.nr > MAX_BUFFERS
        {
            return Err(EINVAL);
        }
        let nr = request.nr as usize;
        let mut reader = UserSlice::new(
            kernel::uaccess::UserPtr::from_addr(request.iovecs as usize),
            nr * IOVEC_SIZE,
        )
        .reader();
        let mut buffers = KVec::with_capacity(nr, GFP_KERNEL)?;
        let mut total = 0usize;
        for _ in 0..nr {
            // A `struct iovec`: base and length, two words on x86-64.
            let [addr, len] = reader.read::<[u64; 2]>()?;
            let end = addr.checked_add(len).ok_or(EINVAL)?;
            if len == 0 || len > MAX_BUFFER_LEN {
                return Err(EINVAL);
            }
            let count = pages_of(addr, end);
            buffers.push(
                Buffer {
                    addr,
                    len,
                    first: total,
                    count,
                    head: addr & PAGE_MASK,
                },
                GFP_KERNEL,
            )?;
            total = total.checked_add(count).ok_or(EINVAL)?;
        }
        let mm = current_mm();
        if mm.is_null() {
            return Err(EFAULT);
        }
        // SAFETY: current's memory map is alive while current runs; the
        // `ARef` takes a reference of its own (`mmgrab`).
        let mm: ARef<Mm> = ARef::from(unsafe { Mm::from_raw(mm) });
        let mut this = Self {
            mm,
            charged: 0,
            buffers,
            pages: KVVec::new(),
        };
        // Charged before anything is allocated for the pages: past
        // RLIMIT_MEMLOCK a caller gets ENOMEM at no cost.
        // SAFETY: `mm` is referenced (so alive) and is current's, whose
        // locked memory the pages count in; the callee takes its lock.
        let ret = unsafe { bindings::account_locked_vm(this.mm.as_raw(), total as _, true) };
        if ret != 0 {
            return Err(Error::from_errno(ret));
        }
        // INVARIANT: charged just now; `Drop` gives it back.
        this.charged = total;
        // Without a warning: a caller with CAP_IPC_LOCK may ask for more
        // than `kvmalloc()` ever gives (ENOMEM).
        this.pages.reserve(total, GFP_KERNEL | __GFP_NOWARN)?;
        for buffer in this.buffers.iter() {
            Self::pin(&mut this.pages, buffer.addr, buffer.len)?;
        }
        Ok(this)
    }

    /// Pins the pages of `[addr, addr + len)` and appends their `bio_vec`s
    /// to `pages`, which has room for them.
    fn pin(pages: &mut KVVec<bindings::bio_vec>, addr: u64, len: u64) -> Result {
        let end = addr + len;
        let mut at = addr & !PAGE_MASK;
        while at < end {
            let mut page: *mut bindings::page = core::ptr::null_mut();
            // One page a call: registration is rare, and a page at a time
            // needs no array of page pointers as large as a 1 GiB buffer's.
            // SAFETY: `page` has room for the one pointer asked for; the
            // address is a user address, which the callee checks.
            let got = unsafe {
                bindings::pin_user_pages_fast(
                    at as usize,
                    1,
                    bindings::FOLL_WRITE | bindings::FOLL_LONGTERM,
                    &mut page,
                )
            };
            if got != 1 {
                return Err(if got < 0 {
                    Error::from_errno(got)
                } else {
                    EFAULT
                });
            }
            let start = addr.max(at);
            let stop = end.min(at + PAGE_SIZE as u64);
            // INVARIANT: a pinned page, its part of the buffer. Room was
            // reserved for every page, so this cannot fail; should it, the
            // page is not kept.
            let pushed = pages.push_within_capacity(bindings::bio_vec {
                bv_page: page,
                bv_len: (stop - start) as u32,
                bv_offset: (start - at) as u32,
            });
            if pushed.is_err() {
                // SAFETY: pinned just now, not kept.
                unsafe { bindings::unpin_user_pages_dirty_lock(&mut page, 1, true) };
                return Err(ENOMEM);
            }
            at += PAGE_SIZE as u64;
        }
        Ok(())
    }

    /// The range `[addr, addr + len)` of buffer `index`, for a read or
    /// write of current's: `EFAULT` if there is no such buffer, the range
    /// is not inside it, or current's memory map is not the one that
    /// registered it. On every fixed-buffer atom's path: a few compares.
    #[inline]
    pub(crate) fn slice(&self, index: u32, addr: u64, len: u64) -> Result<Slice<'_>> {
        let buffer = self.buffers.get(index as usize).ok_or(EFAULT)?;
        // `off + len <= buffer.len`, written so that nothing overflows.
        let off = addr.wrapping_sub(buffer.addr);
        if addr < buffer.addr
            || len > buffer.len
            || off > buffer.len - len
            || current_mm() != self.mm.as_raw()
        {
            return Err(EFAULT);
        }
        // From the start of the buffer's first page; the first `bio_vec`
        // starts at the buffer, the others at their page's start.
        let from = buffer.head + off;
        let page = (from >> PAGE_SHIFT) as usize;
        let skip = if page == 0 { off } else { from & PAGE_MASK };
        let pages = self
            .pages
            .get(buffer.first + page..buffer.first + buffer.count)
            .ok_or(EFAULT)?;
        Ok(Slice {
            pages,
            skip: skip as usize,
            len: len as usize,
        })
    }

    /// How many buffers are registered.
    pub(crate) fn count(&self) -> usize {
        self.buffers.len()
    }
}

impl Drop for Registered {
    fn drop(&mut self) {
        for bvec in self.pages.iter_mut() {
            // SAFETY: pinned by `pin` (type invariant), unpinned once, here.
            // Dirtied: a device may have written it behind the page tables.
            unsafe { bindings::unpin_user_pages_dirty_lock(&mut bvec.bv_page, 1, true) };
        }
        if self.charged == 0 {
            return;
        }
        // A map with no users left took its counter with it.
        if let Some(mm) = self.mm.mmget_not_zero() {
            // SAFETY: `mm` has a user reference; `charged` pages were
            // charged to it (type invariant); the callee takes its lock.
            unsafe { bindings::account_locked_vm(mm.as_raw(), self.charged as _, false) };
        }
    }
}

impl Slice<'_> {
    /// Points `iter` (uninitialised, set whole here) at the range, for a
    /// read (`dir` `ITER_DEST`) or write (`ITER_SOURCE`). The `bio_vec`s
    /// it points to live as long as the context.
    #[inline]
    pub(crate) fn import(&self, dir: u32, iter: *mut bindings::iov_iter) {
        // SAFETY: `iter` is valid for writing; the `bio_vec`s are
        // initialised and outlive the iterator's use (the context holds
        // them until every I/O of it completed); `len` bytes from `skip`
        // in the first lie in them (checked by `slice`). `iov_offset` set
        // after, as io_uring's `io_import_fixed()` does: `skip` is inside
        // the first `bio_vec`, which `iov_iter_advance()` would find at
        // the cost of a call.
        unsafe {
            bindings::iov_iter_bvec(
                iter,
                dir,
                self.pages.as_ptr(),
                self.pages.len() as _,
                self.len,
            );
            (*iter).iov_offset = self.skip;
        }
    }
}

/// Current's memory map (`current->mm`), null for a kernel thread. Read in
/// C: bindgen's `task_struct` is not C's on these kernels (see `trace`), so
/// the kernel crate's `CurrentTask::mm()` reads the wrong field.
fn current_mm() -> *mut bindings::mm_struct {
    // SAFETY: no preconditions.
    unsafe { syslet_current_mm() }.cast()
}

extern "C" {
    fn syslet_current_mm() -> *mut c_void;
}

/// The pages `[addr, end)` touches, `addr < end`.
fn pages_of(addr: u64, end: u64) -> usize {
    let page = PAGE_SIZE as u64;
    ((end - 1) / page - addr / page + 1) as usize
}

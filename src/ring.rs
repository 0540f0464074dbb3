// SPDX-License-Identifier: GPL-2.0

// Copyright (C) 2026 The syslet authors.

//! The completion ring: pages shared with user space.
//!
//! One header page (`struct syslet_ring`) and the entries after it, each a
//! `struct syslet_outcome` (32 bytes, so none straddles a page). The kernel
//! keeps its own copy of `tail` (under the completions' lock, which this
//! file leaves to its caller) and only publishes it; it reads the user's
//! `head` with acquire semantics and never trusts it beyond clamping. The
//! memory-ordering contract is written in the uapi header. The pages never
//! change once made, so mapping them needs no lock, and the kernel writes
//! them through their direct-map addresses, taken once: posting a
//! completion maps nothing.

use core::{
    mem::{
        offset_of,
        size_of, //
    },
    ptr,
};
use kernel::{
    bindings,
    mm::virt::VmaNew,
    page::{
        Page,
        PAGE_SIZE, //
    },
    prelude::*,
    sync::atomic::{
        Acquire,
        Atomic,
        Relaxed,
        Release, //
    },
};

use crate::uapi;

const OUTCOME_SIZE: usize = size_of::<uapi::syslet_outcome>();
const ENTRIES_OFFSET: usize = PAGE_SIZE;

// Entries never straddle a page, and the header fits its page.
const _: () = assert!(PAGE_SIZE % OUTCOME_SIZE == 0);
const _: () = assert!(size_of::<uapi::syslet_ring>() <= PAGE_SIZE);

/// The ring pages.
///
/// # Invariants
///
/// `addrs[i]` is the direct-map address of `pages[i]`, valid as long as
/// the page is ours: the pages are never highmem (`GFP_KERNEL`).
pub(crate) struct Ring {
    pages: KVec<Page>,
    addrs: KVec<*mut u8>,
    entries: u32,
}

// SAFETY: the pointers are addresses of pages the ring owns, which any task
// (and interrupt context) may access under the rules of the methods:
// header words atomically, entries by the one writer of `tail`.
unsafe impl Send for Ring {}
// SAFETY: as above.
unsafe impl Sync for Ring {}

impl Ring {
    /// A ring of `entries` completions, a power of two.
    pub(crate) fn new(entries: u32) -> Result<Self> {
        let bytes = ENTRIES_OFFSET + entries as usize * OUTCOME_SIZE;
        let n = bytes.div_ceil(PAGE_SIZE);
        let mut pages = KVec::with_capacity(n, GFP_KERNEL)?;
        let mut addrs = KVec::with_capacity(n, GFP_KERNEL)?;
        for _ in 0..n {
            let page = Page::alloc_page(GFP_KERNEL | __GFP_ZERO)?;
            // SAFETY: our page. Not highmem (no `__GFP_HIGHMEM`), so this
            // is its permanent direct-map address, `page_address()`, still
            // valid after `kunmap_local`, which does nothing for it.
            let addr = unsafe {
                let a = bindings::kmap_local_page(page.as_ptr());
                bindings::kunmap_local(a);
                a.cast::<u8>()
            };
            pages.push(page, GFP_KERNEL)?;
            addrs.push(addr, GFP_KERNEL)?;
        }
        // INVARIANT: one address for each page, taken above.
        let ring = Self {
            pages,
            addrs,
            entries,
        };
        let header = uapi::syslet_ring {
            entries,
            mask: entries - 1,
            entries_offset: ENTRIES_OFFSET as u64,
            ..Default::default()
        };
        let first = ring.pages.first().ok_or(ENOMEM)?;
        // SAFETY: the header is plain data and fits the first page, which
        // nobody has mapped yet.
        unsafe {
            first.write_raw(
                core::ptr::from_ref(&header).cast(),
                0,
                size_of::<uapi::syslet_ring>(),
            )?
        };
        Ok(ring)
    }

    /// Bytes user space maps.
    pub(crate) fn size(&self) -> usize {
        self.pages.len() * PAGE_SIZE
    }

    /// The `u32` at byte `offset` of the header page.
    fn header_word(&self, offset: usize) -> Option<&Atomic<u32>> {
        let base = *self.addrs.first()?;
        // SAFETY: `base` is the header page's address (type invariant),
        // valid while `self` is; `offset` is that of a u32 field of the
        // header, inside the page and 4-byte aligned. User space may write
        // it at any time, which is why it is only accessed atomically.
        Some(unsafe { Atomic::from_ptr(base.add(offset).cast::<u32>()) })
    }

    /// Free entries after `tail`, by the user's head; a head that claims
    /// more than the ring holds counts as a full ring.
    pub(crate) fn room(&self, tail: u32) -> u32 {
        let Some(head) = self.header_word(offset_of!(uapi::syslet_ring, head)) else {
            return 0;
        };
        let head = head.load(Acquire);
        let used = tail.wrapping_sub(head);
        self.entries.saturating_sub(used)
    }

    /// Entries before `tail` user space has not consumed, as far as its
    /// head says.
    pub(crate) fn available(&self, tail: u32) -> u32 {
        self.entries - self.room(tail)
    }

    /// Writes `o` at `tail`, advances it and publishes it. The caller
    /// checked `room` and serialises the writers of `tail`.
    pub(crate) fn push(&self, tail: &mut u32, o: &uapi::syslet_outcome) -> Result {
        let at = ENTRIES_OFFSET + (*tail & self.entries.wrapping_sub(1)) as usize * OUTCOME_SIZE;
        let page = *self.addrs.get(at / PAGE_SIZE).ok_or(EINVAL)?;
        let word = self.header_word(offset_of!(uapi::syslet_ring, tail)).ok_or(EINVAL)?;
        // SAFETY: the page's address (type invariant); the entry lies in it
        // and is 32-byte aligned (checked above at build time). User space
        // may read it at any time: a volatile store of plain data, which it
        // reads only once the tail covers it.
        unsafe {
            ptr::write_volatile(
                page.add(at % PAGE_SIZE).cast::<uapi::syslet_outcome>(),
                *o,
            )
        };
        *tail = tail.wrapping_add(1);
        // Release: the entry (and every result word written before the
        // completion was posted) is visible before the tail that covers it.
        word.store(*tail, Release);
        Ok(())
    }

    /// Publishes how many completions wait in the kernel for room.
    pub(crate) fn set_overflow(&self, n: u32) {
        if let Some(w) = self.header_word(offset_of!(uapi::syslet_ring, overflow)) {
            w.store(n, Relaxed);
        }
    }

    /// Maps the ring into `vma`, which must not be larger than the ring.
    pub(crate) fn map(&self, vma: &VmaNew) -> Result {
        let len = vma.end() - vma.start();
        // SAFETY: `mmap` holds the mmap lock for the new area, as for
        // `start()` and `end()`, which read the same struct this way.
        let pgoff = unsafe { (*vma.as_ptr()).vm_pgoff };
        // The ring is mapped whole or from its start: no offset, so that
        // no mapping can pass for another part of it.
        if pgoff != 0 || len > self.size() {
            return Err(EINVAL);
        }
        if vma.executable() {
            return Err(EPERM);
        }
        vma.try_clear_mayexec()?;
        vma.set_dontcopy();
        vma.set_dontexpand();
        let mixed = vma.set_mixedmap();
        for (i, page) in self.pages.iter().take(len.div_ceil(PAGE_SIZE)).enumerate() {
            mixed.vm_insert_page(vma.start() + i * PAGE_SIZE, page)?;
        }
        Ok(())
    }
}

//! The memory of a submitted chain: everything the kernel reads or writes
//! while the chain runs, in heap allocations whose addresses never change.
//!
//! While a chain may run, its memory is held through raw pointers only
//! ([`Heap`], [`RawBytes`]): moving the owner around (into the context's
//! table, out of a dropped future) then asserts nothing about memory that
//! the kernel is writing behind Rust's back, as moving a `Box` or a `Vec`
//! would. Once the chain's completion has been reaped, [`Storage::land`]
//! turns it back into ordinary owned values ([`Landed`]).

use std::{
    mem::ManuallyDrop,
    os::fd::{FromRawFd, OwnedFd},
    ptr::NonNull,
    sync::Arc,
};

use crate::Atom;

/// The result word of a step that did not run: the kernel writes a step's
/// word only when it runs, and no system call returns this.
pub(crate) const NOT_RUN: i64 = i64::MIN;

/// A heap allocation owned through a raw pointer; freed on drop.
pub(crate) struct Heap<T: ?Sized>(NonNull<T>);

// SAFETY: `Heap<T>` owns its `T` like a `Box<T>` does; it can go to another
// thread whenever a `T` can.
unsafe impl<T: ?Sized + Send> Send for Heap<T> {}

impl<T: ?Sized> Heap<T> {
    pub(crate) fn new(value: Box<T>) -> Self {
        Self(NonNull::from(Box::leak(value)))
    }

    /// The address of the value, for the kernel.
    pub(crate) fn addr(&self) -> u64 {
        self.0.as_ptr().cast::<u8>() as u64
    }

    /// The value back as a `Box`. Only once the kernel is done with it.
    pub(crate) fn into_box(self) -> Box<T> {
        let this = ManuallyDrop::new(self);
        // SAFETY: the pointer came from `Box::leak` in `new` and, `self` being
        // consumed without running its `Drop`, is turned back into a box once.
        unsafe { Box::from_raw(this.0.as_ptr()) }
    }
}

impl<T: ?Sized> Drop for Heap<T> {
    fn drop(&mut self) {
        // SAFETY: as in `into_box`: the pointer came from `Box::leak` and is
        // freed once, here.
        drop(unsafe { Box::from_raw(self.0.as_ptr()) });
    }
}

/// The parts of a `Vec<u8>` handed to the kernel; freed on drop.
pub(crate) struct RawBytes {
    ptr: NonNull<u8>,
    len: usize,
    cap: usize,
}

// SAFETY: owns its bytes like a `Vec<u8>`, which is `Send`.
unsafe impl Send for RawBytes {}

impl RawBytes {
    pub(crate) fn new(v: Vec<u8>) -> Self {
        let mut v = ManuallyDrop::new(v);
        Self {
            ptr: NonNull::new(v.as_mut_ptr()).expect("a Vec's pointer is never null"),
            len: v.len(),
            cap: v.capacity(),
        }
    }

    pub(crate) fn addr(&self) -> u64 {
        self.ptr.as_ptr() as u64
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn capacity(&self) -> usize {
        self.cap
    }

    /// The vector back, with `len` bytes (at most the capacity, else none).
    /// Only once the kernel is done with it, and `len` must be no more than
    /// the bytes given at `new` plus those the kernel wrote from the start.
    fn into_vec(self, len: usize) -> Vec<u8> {
        let this = ManuallyDrop::new(self);
        let len = if len <= this.cap { len } else { 0 };
        // SAFETY: pointer and capacity are those of a `Vec<u8>` of the global
        // allocator, taken apart in `new` and put back together once; the
        // first `len` bytes are initialised (the caller's duty, see above),
        // and `len` <= capacity.
        unsafe { Vec::from_raw_parts(this.ptr.as_ptr(), len, this.cap) }
    }
}

impl Drop for RawBytes {
    fn drop(&mut self) {
        // SAFETY: as in `into_vec`; `len` bytes were initialised at `new`.
        drop(unsafe { Vec::from_raw_parts(self.ptr.as_ptr(), self.len, self.cap) });
    }
}

/// The kernel's `struct __kernel_timespec`.
#[repr(C)]
pub(crate) struct Timespec {
    pub(crate) sec: i64,
    pub(crate) nsec: i64,
}

/// A buffer of a chain, while the chain may run.
pub(crate) enum Slot {
    /// Bytes the kernel reads (`fill` false) or writes from the start
    /// (`fill` true: the step's result is how many).
    Bytes {
        raw: RawBytes,
        step: usize,
        fill: bool,
    },
    /// A time the kernel reads.
    Time(Heap<Timespec>),
}

impl Slot {
    pub(crate) fn addr(&self) -> u64 {
        match self {
            Self::Bytes { raw, .. } => raw.addr(),
            Self::Time(h) => h.addr(),
        }
    }
}

/// A file descriptor that a step of the chain opens.
#[derive(Clone, Copy)]
pub(crate) struct OpenedFd {
    /// The step that opens it (its result is the descriptor).
    pub(crate) step: usize,
    /// The step that closes it, if any.
    pub(crate) closed_by: Option<usize>,
}

/// A chain ready to run or running: atoms, result words, buffers.
///
/// Invariant (upheld by `Context`): a `Storage` is dropped or landed only
/// when its chain never started, ran synchronously, or its completion has
/// been reaped; otherwise it is kept, or leaked.
pub(crate) struct Storage {
    pub(crate) chain: u64,
    atoms: Heap<[Atom]>,
    nr_atoms: usize,
    results: Heap<[i64]>,
    /// The steps' paths, NUL-terminated, one after the other.
    paths: RawBytes,
    /// The `struct stat`s the steps fill.
    stats: Heap<[libc::stat]>,
    slots: Vec<Slot>,
    fds: Vec<Arc<OwnedFd>>,
    opened: Vec<OpenedFd>,
}

impl Storage {
    /// Takes over the parts of a built chain; `results` must have one word
    /// per atom, and the atoms refer only to memory owned here.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        chain: u64,
        atoms: Heap<[Atom]>,
        nr_atoms: usize,
        results: Heap<[i64]>,
        paths: RawBytes,
        stats: Heap<[libc::stat]>,
        slots: Vec<Slot>,
        fds: Vec<Arc<OwnedFd>>,
        opened: Vec<OpenedFd>,
    ) -> Self {
        Self {
            chain,
            atoms,
            nr_atoms,
            results,
            paths,
            stats,
            slots,
            fds,
            opened,
        }
    }

    /// The user address of the first atom.
    pub(crate) fn first_atom(&self) -> u64 {
        self.atoms.addr()
    }

    /// Whether `addr` is the address of one of this chain's atoms.
    pub(crate) fn owns_atom(&self, addr: u64) -> bool {
        let size = std::mem::size_of::<Atom>() as u64;
        let first = self.atoms.addr();
        addr >= first && addr < first + size * self.nr_atoms as u64 && (addr - first) % size == 0
    }

    /// Back to owned values. Only once the chain cannot run any more.
    pub(crate) fn land(self) -> Landed {
        let results = self.results.into_box();
        let slots = self
            .slots
            .into_iter()
            .map(|slot| match slot {
                Slot::Bytes { raw, step, fill } => {
                    let len = if fill {
                        // The kernel wrote `results[step]` bytes from the
                        // start (read(2) and getdents64(2) return at most
                        // the count they were given: the capacity).
                        usize::try_from(results[step]).unwrap_or(0)
                    } else {
                        raw.len()
                    };
                    LandedSlot::Bytes(Some(raw.into_vec(len)))
                }
                Slot::Time(_) => LandedSlot::Gone,
            })
            .collect();
        drop(self.atoms);
        drop(self.paths);
        Landed {
            chain: self.chain,
            results,
            stats: self.stats.into_box(),
            slots,
            _fds: self.fds,
            opened: self.opened.into_iter().map(|o| (o, false)).collect(),
        }
    }
}

/// A buffer of a chain that has finished.
pub(crate) enum LandedSlot {
    Bytes(Option<Vec<u8>>),
    Gone,
}

/// A chain that has finished: its result words and buffers as owned values.
/// On drop, closes the descriptors the chain opened and neither closed nor
/// handed out.
pub(crate) struct Landed {
    pub(crate) chain: u64,
    pub(crate) results: Box<[i64]>,
    /// The `struct stat`s the steps filled, by [`StatStep`](crate::StatStep) index.
    pub(crate) stats: Box<[libc::stat]>,
    pub(crate) slots: Vec<LandedSlot>,
    /// The descriptors the chain held (duplicates, or shared with the
    /// caller): dropped, so closed if nobody else holds them, now.
    _fds: Vec<Arc<OwnedFd>>,
    /// The descriptors the chain opened, and whether one was handed out.
    pub(crate) opened: Vec<(OpenedFd, bool)>,
}

impl Landed {
    /// The descriptor opened by `opened[i]` if it is open and still ours.
    pub(crate) fn take_opened(&mut self, i: usize) -> Option<OwnedFd> {
        let (o, taken) = self.opened.get_mut(i)?;
        let fd = self.results[o.step];
        let closed = o.closed_by.is_some_and(|c| self.results[c] != NOT_RUN);
        if *taken || closed || fd < 0 || fd > i64::from(i32::MAX) {
            return None;
        }
        *taken = true;
        // SAFETY: the step's result is a descriptor that openat(2) returned
        // to this chain; no step of the chain closed it (the close step did
        // not run) and it was not handed out before (`taken`), so nothing
        // else owns it.
        Some(unsafe { OwnedFd::from_raw_fd(fd as i32) })
    }
}

impl Drop for Landed {
    fn drop(&mut self) {
        for i in 0..self.opened.len() {
            drop(self.take_opened(i));
        }
    }
}

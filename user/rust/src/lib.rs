//! User-space interface to `/dev/syslet`.
//!
//! A syslet is a chain of system calls that the kernel runs synchronously in
//! the caller's context and makes asynchronous only when one of them blocks.
//! This crate wraps the ABI of `include/uapi/linux/syslet.h`; the raw
//! structures are in [`sys`], generated from that header.
//!
//! # The safe API
//!
//! A [`Chain`] is built from owned values (paths, buffers, descriptors) with
//! typed steps; [`Context::submit`] runs it and returns a [`ChainFuture`],
//! ready at once if the chain ran to its end, or later if a step blocked
//! and the chain went on in the kernel. The context keeps the chain's
//! memory at a fixed address until its completion has been reaped, even if
//! the future is dropped or forgotten. Its output, a [`Finished`], gives
//! back each step's result and the buffers. The futures run on the crate's
//! own [`block_on`] (and [`join_all`]), or, with the `tokio` feature, on
//! tokio (`Context::with_tokio`).
//!
//! ```no_run
//! use syslet::{block_on, Chain, Context};
//!
//! let ctx = Context::open()?;
//! let mut chain = Chain::new();
//! let file = chain.open(c"/etc/hostname", libc::O_RDONLY);
//! let read = chain.read(file, Vec::with_capacity(64));
//! chain.close(file);
//! let mut done = block_on(&ctx, ctx.submit(chain))?.check()?;
//! let text = done.take_buf(read).unwrap_or_default();
//! println!("{} bytes: {}", text.len(), String::from_utf8_lossy(&text));
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! # The low-level API
//!
//! A chain is a linked list of [`Atom`]s in user memory; the kernel runs
//! it in the caller's context, storing each result where the atom says, so
//! that a later atom can take it as an argument:
//!
//! ```no_run
//! use syslet::{Atom, Syslet};
//!
//! let dev = Syslet::open()?;
//! assert!(dev.query()?.abi_version >= 1);
//!
//! let path = c"/etc/hostname";
//! let mut buf = [0u8; 64];
//! let (mut fd, mut n) = (0i64, 0i64);
//! let mut chain = [
//!     Atom::syscall(libc::SYS_openat)
//!         .arg(0, libc::AT_FDCWD as u64)
//!         .arg(1, path.as_ptr() as u64)
//!         .arg(2, libc::O_RDONLY as u64)
//!         .stop_on(syslet::STOP_NEGATIVE)
//!         .result_into(&mut fd),
//!     Atom::syscall(libc::SYS_read)
//!         .arg_from(0, &fd)
//!         .arg(1, buf.as_mut_ptr() as u64)
//!         .arg(2, buf.len() as u64)
//!         .result_into(&mut n),
//!     Atom::syscall(libc::SYS_close).arg_from(0, &fd),
//! ];
//! syslet::link(&mut chain);
//! // SAFETY: the chain and every buffer and result it names live on this
//! // stack frame until `run` returns.
//! let outcome = unsafe { dev.run(&chain[0])? };
//! assert_eq!(outcome.atoms_run, 3);
//! println!("read {n} bytes: {:?}", &buf[..n as usize]);
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! A chain whose atom blocks goes asynchronous: a spare thread takes over
//! the caller, [`Syslet::submit_with`] returns [`Submitted::Queued`] at once
//! (on another kernel task, with the same thread id), and the chain's outcome
//! arrives in the mapped [`Ring`]:
//!
//! ```no_run
//! use syslet::{sys, Atom, Outcome, Submitted, Syslet};
//!
//! let dev = Syslet::open()?;
//! let setup = dev.setup_with(sys::syslet_setup { spares: 1, ..Default::default() })?;
//! let mut ring = dev.map_ring(setup.ring_size)?;
//!
//! let mut fds = [0i32; 2];
//! // SAFETY: `fds` has room for both descriptors.
//! assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
//! let mut buf = [0u8; 16];
//! let read = Atom::syscall(libc::SYS_read)
//!     .arg(0, fds[0] as u64)
//!     .arg(1, buf.as_mut_ptr() as u64)
//!     .arg(2, buf.len() as u64)
//!     .cookie(7);
//! let mut outcome = [Outcome::default()];
//! // SAFETY: `read` and `buf` outlive the chain: its completion is reaped
//! // below, before they go.
//! match unsafe { dev.submit_with(&[&read], &mut outcome, 0)? } {
//!     Submitted::Done => println!("ran synchronously: {:?}", outcome[0]),
//!     Submitted::Queued { .. } => {
//!         // The pipe was empty: we carry on while the read waits.
//!         // SAFETY: writes two bytes from a static buffer to our pipe.
//!         unsafe { libc::write(fds[1], b"hi".as_ptr().cast(), 2) };
//!         dev.wait(1, None)?;
//!         for done in ring.completions() {
//!             assert_eq!((done.cookie, done.result), (7, 2));
//!         }
//!     }
//! }
//! # Ok::<(), std::io::Error>(())
//! ```

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

mod chain;
mod context;
mod dirents;
mod exec;
mod finished;
mod storage;

pub use chain::{BufStep, Chain, Fd, Opened, RawArg, StatStep, Step, Stop};
pub use context::{ChainFuture, Context};
pub use dirents::{dirents, Dirent, Dirents};
pub use exec::{block_on, join_all, JoinAll};
pub use finished::Finished;

use std::{
    fs::OpenOptions,
    io,
    os::{
        fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd},
        unix::fs::OpenOptionsExt,
    },
    path::Path,
};

/// The raw ABI, generated by bindgen from `include/uapi/linux/syslet.h`.
#[allow(non_camel_case_types, non_upper_case_globals, dead_code, missing_docs)]
pub mod sys {
    include!(concat!(env!("OUT_DIR"), "/syslet_uapi.rs"));
}

/// Stop the chain when the atom's result is non-zero.
pub const STOP_NONZERO: u32 = sys::SYSLET_ATOM_STOP_NONZERO;
/// Stop the chain when the atom's result is zero.
pub const STOP_ZERO: u32 = sys::SYSLET_ATOM_STOP_ZERO;
/// Stop the chain when the atom's result is negative (an error).
pub const STOP_NEGATIVE: u32 = sys::SYSLET_ATOM_STOP_NEGATIVE;
/// Stop the chain when the atom's result is zero or negative.
pub const STOP_NONPOSITIVE: u32 = sys::SYSLET_ATOM_STOP_NONPOSITIVE;
/// On a stop, go on at the atom that follows in memory instead of ending.
pub const SKIP_ON_STOP: u32 = sys::SYSLET_ATOM_SKIP_ON_STOP;

/// One atom of a chain: a system call (or [`Atom::add`]) with its
/// arguments, where to store its result and which atom comes next.
///
/// Atoms hold raw user addresses (arguments by pointer, result slots, the
/// next atom); the kernel checks every access, so a wrong address makes the
/// chain end with `EFAULT` rather than harm the kernel, but it can still
/// scribble over this process's memory. That is why running a chain is
/// `unsafe`.
#[derive(Clone, Copy, Debug, Default)]
#[repr(transparent)]
pub struct Atom(sys::syslet_atom);

impl Atom {
    /// An atom that runs system call `nr` (a `libc::SYS_*` number) with all
    /// arguments zero.
    pub const fn syscall(nr: libc::c_long) -> Self {
        let mut a = Self(Self::zeroed());
        a.0.nr = nr as u32;
        a
    }

    /// An atom that adds `delta` to the `i64` at `word` and returns the new
    /// value (not atomically with respect to other threads).
    pub fn add(word: &mut i64, delta: i64) -> Self {
        let mut a = Self(Self::zeroed());
        a.0.nr = sys::SYSLET_OP_ADD;
        a.0.args[0] = word as *mut i64 as u64;
        a.0.args[1] = delta as u64;
        a
    }

    const fn zeroed() -> sys::syslet_atom {
        sys::syslet_atom {
            nr: 0,
            flags: 0,
            result: 0,
            next: 0,
            args: [0; 6],
            cookie: 0,
        }
    }

    /// Sets argument `n` (0..6) to `value`.
    pub const fn arg(mut self, n: usize, value: u64) -> Self {
        self.0.args[n] = value;
        self.0.flags &= !(1 << n);
        self
    }

    /// Makes argument `n` (0..6) the value at `src` when the atom runs,
    /// typically the result slot of an earlier atom.
    pub fn arg_from(mut self, n: usize, src: &i64) -> Self {
        self.0.args[n] = src as *const i64 as u64;
        self.0.flags |= 1 << n;
        self
    }

    /// Stores the atom's result at `dst`.
    pub fn result_into(mut self, dst: &mut i64) -> Self {
        self.0.result = dst as *mut i64 as u64;
        self
    }

    /// Adds stop conditions ([`STOP_NONZERO`], ..., [`SKIP_ON_STOP`]).
    pub const fn stop_on(mut self, flags: u32) -> Self {
        self.0.flags |= flags;
        self
    }

    /// Marks this `pread64`/`pwrite64` as using registered buffer `index`
    /// ([`Syslet::register_buffers`]), which must hold its whole buffer:
    /// thread-free I/O then uses the pages pinned at registration.
    pub const fn fixed_buffer(mut self, index: u16) -> Self {
        self.0.flags |= sys::SYSLET_ATOM_FIXED_BUFFER | ((index as u32) << 16);
        self
    }

    /// Sets the cookie reported when the chain ends at this atom.
    pub const fn cookie(mut self, cookie: u64) -> Self {
        self.0.cookie = cookie;
        self
    }

    /// Makes `next` the atom that runs after this one (see also [`link`]).
    pub fn set_next(&mut self, next: &Atom) {
        self.0.next = next as *const Atom as u64;
    }

    /// The raw atom.
    pub fn as_raw(&self) -> &sys::syslet_atom {
        &self.0
    }
}

/// Links `atoms` into one chain, in order; the last one ends it.
pub fn link(atoms: &mut [Atom]) {
    for i in 1..atoms.len() {
        let next = &atoms[i] as *const Atom as u64;
        atoms[i - 1].0.next = next;
    }
    if let Some(last) = atoms.last_mut() {
        last.0.next = 0;
    }
}

/// How a chain ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Outcome {
    /// Cookie of the last atom run.
    pub cookie: u64,
    /// Its result, or the error that ended the chain (negative errno).
    pub result: i64,
    /// Address of the last atom run (or read).
    pub last_atom: u64,
    /// How many atoms ran.
    pub atoms_run: u32,
    /// A stop condition ended the chain.
    pub stopped: bool,
    /// An error of the chain itself ended it (bad atom, refused call, ...).
    pub aborted: bool,
    /// A seccomp KILL action ended it (the process dies).
    pub killed: bool,
    /// [`Syslet::cancel`] stopped it (`-ECANCELED`).
    pub cancelled: bool,
    /// Its submission's deadline stopped it (`-ETIME`).
    pub timed_out: bool,
}

impl From<sys::syslet_outcome> for Outcome {
    fn from(o: sys::syslet_outcome) -> Self {
        Self {
            cookie: o.cookie,
            result: o.result,
            last_atom: o.last_atom,
            atoms_run: o.atoms_run,
            stopped: o.flags & sys::SYSLET_OUTCOME_STOPPED != 0,
            aborted: o.flags & sys::SYSLET_OUTCOME_ABORTED != 0,
            killed: o.flags & sys::SYSLET_OUTCOME_KILLED != 0,
            cancelled: o.flags & sys::SYSLET_OUTCOME_CANCELLED != 0,
            timed_out: o.flags & sys::SYSLET_OUTCOME_TIMED_OUT != 0,
        }
    }
}

/// What became of a submission.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Submitted {
    /// Every chain ran synchronously; the outcomes are filled in.
    Done,
    /// Chains `[done, done + queued)` went asynchronous (an atom of chain
    /// `done` blocked); each posts one completion to the [`Ring`].
    Queued {
        /// Chains that ran synchronously (their outcomes are filled in).
        done: usize,
        /// Chains that will complete through the ring.
        queued: usize,
    },
}

/// The completion ring, mapped into this process.
///
/// Completions come out oldest first through [`Ring::completions`], an
/// iterator that consumes what it yields (it moves the ring's head).
#[derive(Debug)]
pub struct Ring {
    base: *mut u8,
    len: usize,
}

// SAFETY: the mapping is plain shared memory; all index accesses are atomic.
unsafe impl Send for Ring {}

impl Ring {
    fn header(&self) -> &sys::syslet_ring {
        // SAFETY: the mapping starts with the header and lives as long as
        // `self`.
        unsafe { &*self.base.cast::<sys::syslet_ring>() }
    }

    fn index(&self, field: &u32) -> &std::sync::atomic::AtomicU32 {
        // SAFETY: `field` is a naturally aligned u32 of the shared header,
        // which the kernel accesses atomically too.
        unsafe { std::sync::atomic::AtomicU32::from_ptr(field as *const u32 as *mut u32) }
    }

    /// Completions in the ring now.
    pub fn ready(&self) -> u32 {
        let h = self.header();
        // Acquire: entries below tail are written before tail.
        self.index(&h.tail)
            .load(std::sync::atomic::Ordering::Acquire)
            .wrapping_sub(
                self.index(&h.head)
                    .load(std::sync::atomic::Ordering::Relaxed),
            )
    }

    /// Completions the kernel holds because the ring was full.
    pub fn overflow(&self) -> u32 {
        self.index(&self.header().overflow)
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// An iterator over the completions in the ring now, consuming them.
    pub fn completions(&mut self) -> Completions<'_> {
        let left = self.ready();
        Completions { ring: self, left }
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        // SAFETY: `base`/`len` are the mapping made in `map_ring`.
        unsafe { libc::munmap(self.base.cast(), self.len) };
    }
}

/// Iterator over a [`Ring`]'s completions; see [`Ring::completions`].
#[derive(Debug)]
pub struct Completions<'a> {
    ring: &'a mut Ring,
    left: u32,
}

impl Iterator for Completions<'_> {
    type Item = Outcome;

    fn next(&mut self) -> Option<Outcome> {
        if self.left == 0 {
            return None;
        }
        let h = self.ring.header();
        let head = self
            .ring
            .index(&h.head)
            .load(std::sync::atomic::Ordering::Relaxed);
        let off = h.entries_offset as usize
            + (head & h.mask) as usize * std::mem::size_of::<sys::syslet_outcome>();
        if off + std::mem::size_of::<sys::syslet_outcome>() > self.ring.len {
            return None;
        }
        // SAFETY: the entry lies inside the mapping (checked) and was
        // published by the tail loaded in `ready`.
        let raw = unsafe {
            std::ptr::read_volatile(self.ring.base.add(off).cast::<sys::syslet_outcome>())
        };
        // Release: done reading the entry before the kernel may reuse it.
        self.ring
            .index(&h.head)
            .store(head.wrapping_add(1), std::sync::atomic::Ordering::Release);
        self.left -= 1;
        Some(raw.into())
    }
}

/// The default path of the device node.
pub const DEVICE_PATH: &str = "/dev/syslet";

/// What the running module supports, from `SYSLET_IOC_QUERY`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Query {
    /// `SYSLET_ABI_VERSION` of the module.
    pub abi_version: u32,
    /// `sizeof(struct syslet_query)` as the module knows it.
    pub query_size: u32,
    /// `SYSLET_FEAT_*` bits.
    pub features: u64,
}

/// An open syslet context (one open file of `/dev/syslet`).
#[derive(Debug)]
pub struct Syslet {
    fd: OwnedFd,
}

impl Syslet {
    /// Opens [`DEVICE_PATH`].
    pub fn open() -> io::Result<Self> {
        Self::open_path(DEVICE_PATH)
    }

    /// Opens the device node at `path`.
    pub fn open_path(path: impl AsRef<Path>) -> io::Result<Self> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_CLOEXEC)
            .open(path)?;
        Ok(Self { fd: file.into() })
    }

    /// Wraps a file descriptor already open on `/dev/syslet`.
    pub fn from_fd(fd: OwnedFd) -> Self {
        Self { fd }
    }

    /// Asks the module for its ABI version and features.
    pub fn query(&self) -> io::Result<Query> {
        let mut raw = sys::syslet_query::default();
        // SAFETY: SYSLET_IOC_QUERY writes exactly one `struct syslet_query`
        // (its size is encoded in the command) to the pointer, which refers to
        // a live, writable value of that type.
        unsafe { self.ioctl(sys::SYSLET_IOC_QUERY, &mut raw as *mut _ as usize)? };
        Ok(Query {
            abi_version: raw.abi_version,
            query_size: raw.query_size,
            features: raw.features,
        })
    }

    /// Configures the context (once, before the first chain): the most atoms
    /// one chain may run, 0 for the default. Returns the budget in force.
    pub fn setup(&self, atom_budget: u32) -> io::Result<u32> {
        let mut raw = sys::syslet_setup {
            atom_budget,
            ..Default::default()
        };
        // SAFETY: SYSLET_IOC_SETUP reads and writes one `struct syslet_setup`
        // at the pointer, which refers to a live value of that type.
        unsafe { self.ioctl(sys::SYSLET_IOC_SETUP, &mut raw as *mut _ as usize)? };
        Ok(raw.atom_budget)
    }

    /// Configures the context (once, before the first chain) with every
    /// knob of `struct syslet_setup`; zero fields take the defaults. Returns
    /// the values in force, including the ring's size.
    pub fn setup_with(&self, mut raw: sys::syslet_setup) -> io::Result<sys::syslet_setup> {
        // SAFETY: SYSLET_IOC_SETUP reads and writes one `struct syslet_setup`
        // at the pointer, which refers to a live value of that type.
        unsafe { self.ioctl(sys::SYSLET_IOC_SETUP, &mut raw as *mut _ as usize)? };
        Ok(raw)
    }

    /// Maps the completion ring; `ring_size` comes from [`Syslet::setup_with`].
    pub fn map_ring(&self, ring_size: u64) -> io::Result<Ring> {
        let len =
            usize::try_from(ring_size).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
        // SAFETY: a fresh shared mapping of our own file; nothing else of
        // this process lives at the address the kernel picks.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                self.fd.as_raw_fd(),
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(Ring {
            base: p.cast(),
            len,
        })
    }

    /// Waits until at least `min` completions are in the ring, or for
    /// `timeout` (`None`: no limit). Returns how many are there.
    pub fn wait(&self, min: u32, timeout: Option<std::time::Duration>) -> io::Result<u32> {
        let mut raw = sys::syslet_wait {
            min_complete: min,
            timeout_ns: timeout.map_or(-1, |t| i64::try_from(t.as_nanos()).unwrap_or(i64::MAX)),
            ..Default::default()
        };
        // SAFETY: SYSLET_IOC_WAIT reads and writes one `struct syslet_wait`.
        unsafe { self.ioctl(sys::SYSLET_IOC_WAIT, &mut raw as *mut _ as usize)? };
        Ok(raw.available)
    }

    /// Stops the queued chains whose completion would carry `cookie` now
    /// (`SYSLET_IOC_CANCEL`): each posts one completion with
    /// `SYSLET_OUTCOME_CANCELLED` (result `-ECANCELED`) unless it finished
    /// first. Returns how many it found; `ENOENT` if none.
    pub fn cancel(&self, cookie: u64) -> io::Result<u32> {
        self.cancel_raw(cookie, 0)
    }

    /// Stops every queued chain of the context; returns how many it found.
    pub fn cancel_all(&self) -> io::Result<u32> {
        self.cancel_raw(0, sys::SYSLET_CANCEL_ALL)
    }

    /// Pins `buffers` for fixed-buffer atoms ([`Atom::fixed_buffer`]) for
    /// as long as the context lives (`SYSLET_IOC_REGISTER_BUFFERS`): once
    /// per context (`EBUSY` after), at most `SYSLET_MAX_BUFFERS`, each
    /// 1 byte to 1 GiB of anonymous memory, counted against
    /// `RLIMIT_MEMLOCK` (`ENOMEM` beyond it). The memory must stay mapped
    /// as it is while atoms use it: I/O that goes thread-free reads and
    /// writes the pages pinned now.
    pub fn register_buffers(&self, buffers: &[std::io::IoSliceMut<'_>]) -> io::Result<()> {
        let iovecs: Vec<libc::iovec> = buffers
            .iter()
            .map(|b| libc::iovec {
                iov_base: b.as_ptr() as *mut libc::c_void,
                iov_len: b.len(),
            })
            .collect();
        let mut raw = sys::syslet_buffers {
            iovecs: iovecs.as_ptr() as u64,
            nr: u32::try_from(iovecs.len())
                .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?,
            ..Default::default()
        };
        // SAFETY: SYSLET_IOC_REGISTER_BUFFERS reads one `struct
        // syslet_buffers` and the `nr` iovecs it points to, alive here; it
        // writes nothing of ours (the pages it pins are only written by
        // atoms, which their submission's safety contract covers).
        unsafe {
            self.ioctl(
                sys::SYSLET_IOC_REGISTER_BUFFERS,
                &mut raw as *mut _ as usize,
            )?
        };
        Ok(())
    }

    fn cancel_raw(&self, cookie: u64, flags: u32) -> io::Result<u32> {
        let mut raw = sys::syslet_cancel {
            cookie,
            flags,
            ..Default::default()
        };
        // SAFETY: SYSLET_IOC_CANCEL reads and writes one `struct syslet_cancel`.
        unsafe { self.ioctl(sys::SYSLET_IOC_CANCEL, &mut raw as *mut _ as usize)? };
        Ok(raw.found)
    }

    /// Runs the chain that starts at `first` and returns how it ended.
    ///
    /// # Safety
    ///
    /// Every atom reachable from `first`, and every address the atoms hold
    /// (arguments read by pointer, result slots, buffers the system calls
    /// read or write), must be valid for what the ABI and the system calls
    /// do with them until this returns.
    pub unsafe fn run(&self, first: &Atom) -> io::Result<Outcome> {
        let mut outcome = [Outcome::default()];
        // SAFETY: the caller's guarantees are ours.
        unsafe { self.submit(&[first], &mut outcome)? };
        Ok(outcome[0])
    }

    /// Runs a batch of chains, each from its first atom, in order, and
    /// stores how each ended in `outcomes` (as long as `firsts`); the chains
    /// run synchronously whatever blocks. Returns how many chains ran.
    ///
    /// # Safety
    ///
    /// As for [`Syslet::run`], for every chain.
    pub unsafe fn submit(&self, firsts: &[&Atom], outcomes: &mut [Outcome]) -> io::Result<usize> {
        // SAFETY: the caller's guarantees are ours.
        match unsafe { self.submit_with(firsts, outcomes, sys::SYSLET_SUBMIT_SYNC_ONLY)? } {
            Submitted::Done => Ok(firsts.len()),
            Submitted::Queued { done, .. } => Ok(done),
        }
    }

    /// Runs a batch of chains that may go asynchronous when an atom blocks
    /// (`flags` are `SYSLET_SUBMIT_*` bits). If they do, this returns on
    /// another kernel task (the same thread id: the program cannot tell)
    /// once the rest of the batch has run or is blocked, each blocked chain
    /// on a kernel task of its own; the completions of the chains from the
    /// first that blocked on come through the [`Ring`].
    ///
    /// # Safety
    ///
    /// As for [`Syslet::run`], and every address in a chain that goes
    /// asynchronous must stay valid until its completion has been reaped.
    pub unsafe fn submit_with(
        &self,
        firsts: &[&Atom],
        outcomes: &mut [Outcome],
        flags: u32,
    ) -> io::Result<Submitted> {
        // SAFETY: the caller's guarantees are ours.
        unsafe { self.submit_timeout(firsts, outcomes, flags, None) }
    }

    /// [`Syslet::submit_with`] with a deadline for every chain of the batch
    /// (`SYSLET_SUBMIT_TIMEOUT`): a chain still running after `timeout`,
    /// and the chains after it, end with `SYSLET_OUTCOME_TIMED_OUT` and
    /// `-ETIME`. `None`: no deadline.
    ///
    /// # Safety
    ///
    /// As for [`Syslet::submit_with`].
    pub unsafe fn submit_timeout(
        &self,
        firsts: &[&Atom],
        outcomes: &mut [Outcome],
        flags: u32,
        timeout: Option<std::time::Duration>,
    ) -> io::Result<Submitted> {
        let chains: Vec<u64> = firsts.iter().map(|a| *a as *const Atom as u64).collect();
        // SAFETY: the caller's guarantees are ours.
        let (done, queued) = unsafe { self.submit_addrs(&chains, outcomes, flags, timeout)? };
        Ok(match queued {
            0 => Submitted::Done,
            q => Submitted::Queued { done, queued: q },
        })
    }

    /// [`Syslet::submit_timeout`] with the chains given by the user
    /// addresses of their first atoms; returns the submission's `done` and
    /// `queued` as the kernel wrote them (`done` < chains with `queued` 0:
    /// a pending signal ended the submission before chain `done` started).
    ///
    /// # Safety
    ///
    /// As for [`Syslet::submit_with`], for the chains at those addresses.
    pub(crate) unsafe fn submit_addrs(
        &self,
        chains: &[u64],
        outcomes: &mut [Outcome],
        mut flags: u32,
        timeout: Option<std::time::Duration>,
    ) -> io::Result<(usize, usize)> {
        let timeout_ns = match timeout {
            Some(t) => {
                flags |= sys::SYSLET_SUBMIT_TIMEOUT;
                i64::try_from(t.as_nanos()).unwrap_or(i64::MAX).max(1)
            }
            None => 0,
        };
        if outcomes.len() != chains.len() {
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        }
        let mut raw_outcomes = vec![sys::syslet_outcome::default(); chains.len()];
        let mut req = sys::syslet_submit {
            chains: chains.as_ptr() as u64,
            nr_chains: u32::try_from(chains.len())
                .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?,
            flags,
            outcomes: raw_outcomes.as_mut_ptr() as u64,
            timeout_ns,
            ..Default::default()
        };
        // SAFETY: `req`, `chains` and `raw_outcomes` live across the call and
        // have the sizes the request states; the atoms are the caller's duty.
        unsafe { self.ioctl(sys::SYSLET_IOC_SUBMIT, &mut req as *mut _ as usize)? };
        let done = req.done as usize;
        for (dst, src) in outcomes.iter_mut().zip(&raw_outcomes).take(done) {
            *dst = (*src).into();
        }
        Ok((done, req.queued as usize))
    }

    /// Issues a raw ioctl on the context and returns its non-negative result.
    ///
    /// # Safety
    ///
    /// `arg` must be what `cmd` expects: for commands that read or write user
    /// memory, a pointer valid for the size and direction encoded in `cmd`.
    pub unsafe fn ioctl(&self, cmd: u32, arg: usize) -> io::Result<i64> {
        // SAFETY: the caller vouches for `arg`; the fd is open for our lifetime.
        let r = unsafe { libc::ioctl(self.fd.as_raw_fd(), cmd as _, arg) };
        if r < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(r as i64)
        }
    }
}

impl AsFd for Syslet {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_missing_node_is_not_found() {
        let err = Syslet::open_path("/nonexistent/syslet").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn query_struct_is_64_bytes() {
        assert_eq!(std::mem::size_of::<sys::syslet_query>(), 64);
    }

    #[test]
    fn atom_is_the_raw_atom() {
        assert_eq!(
            std::mem::size_of::<Atom>(),
            std::mem::size_of::<sys::syslet_atom>()
        );
        assert_eq!(std::mem::size_of::<Atom>(), 80);
    }

    #[test]
    fn builder_sets_fields_and_pointer_flags() {
        let mut slot = 0i64;
        let src = 7i64;
        let a = Atom::syscall(libc::SYS_read)
            .arg(1, 5)
            .arg_from(0, &src)
            .result_into(&mut slot)
            .stop_on(STOP_NEGATIVE)
            .cookie(9);
        let raw = a.as_raw();
        assert_eq!(raw.nr, libc::SYS_read as u32);
        assert_eq!(raw.args[1], 5);
        assert_eq!(raw.args[0], &src as *const i64 as u64);
        assert_eq!(raw.flags, 1 | STOP_NEGATIVE);
        assert_eq!(raw.result, &mut slot as *mut i64 as u64);
        assert_eq!(raw.cookie, 9);
        // A plain value replaces a pointer argument.
        assert_eq!(a.arg(0, 3).as_raw().flags, STOP_NEGATIVE);
    }

    #[test]
    fn link_chains_atoms_in_order() {
        let mut atoms = [Atom::syscall(libc::SYS_getpid); 3];
        atoms[2].set_next(&Atom::default());
        link(&mut atoms);
        assert_eq!(atoms[0].as_raw().next, &atoms[1] as *const Atom as u64);
        assert_eq!(atoms[1].as_raw().next, &atoms[2] as *const Atom as u64);
        assert_eq!(atoms[2].as_raw().next, 0);
    }

    #[test]
    fn a_shared_descriptor_stays_open_until_the_chain_goes() {
        let file = std::fs::File::open("/dev/null").expect("/dev/null");
        let fd = std::sync::Arc::new(OwnedFd::from(file));
        let mut chain = Chain::new();
        let shared = chain.shared_fd(fd.clone());
        chain.fstat(shared);
        assert_eq!(std::sync::Arc::strong_count(&fd), 2);
        drop(chain);
        assert_eq!(std::sync::Arc::strong_count(&fd), 1);
    }
}

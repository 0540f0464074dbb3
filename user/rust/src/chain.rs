//! [`Chain`]: a chain of typed steps built from owned values, which the
//! crate keeps alive until the kernel is done with them.

use std::{
    ffi::CStr,
    io,
    os::fd::{AsFd, AsRawFd, OwnedFd, RawFd},
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::Duration,
};

use crate::{
    storage::{Heap, OpenedFd, RawBytes, Slot, Storage, Timespec, NOT_RUN},
    sys, Atom,
};

/// Tells apart the handles of different chains.
static NEXT_CHAIN: AtomicU64 = AtomicU64::new(1);

/// A step of a [`Chain`]: the handle to its result in
/// [`Finished::result`](crate::Finished::result).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Step {
    pub(crate) chain: u64,
    pub(crate) index: usize,
}

/// A step that opens a file: its result is a file descriptor, which later
/// steps of the same chain can use (see [`Fd`]) and [`Chain::close`] can
/// close.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Opened {
    pub(crate) step: Step,
    pub(crate) opened: usize,
}

/// A step with a byte buffer (read, write, getdents64): the buffer comes
/// back through [`Finished::take_buf`](crate::Finished::take_buf).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BufStep {
    pub(crate) step: Step,
    pub(crate) slot: usize,
}

/// A step that fills a `struct stat`: read it with
/// [`Finished::stat`](crate::Finished::stat).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct StatStep {
    pub(crate) step: Step,
    /// Its index among the chain's `struct stat`s.
    pub(crate) stat: usize,
}

impl From<Opened> for Step {
    fn from(o: Opened) -> Step {
        o.step
    }
}

impl From<BufStep> for Step {
    fn from(b: BufStep) -> Step {
        b.step
    }
}

impl From<StatStep> for Step {
    fn from(s: StatStep) -> Step {
        s.step
    }
}

/// A file descriptor argument of a step: one the chain keeps open
/// ([`Chain::fd`]) or the one an earlier step opened ([`Opened`], passed by
/// pointer to that step's result word, read when the step runs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Fd {
    chain: u64,
    kind: FdKind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum FdKind {
    Held(RawFd),
    Opened(Opened),
}

impl From<Opened> for Fd {
    fn from(o: Opened) -> Fd {
        Fd {
            chain: o.step.chain,
            kind: FdKind::Opened(o),
        }
    }
}

/// When a step ends its chain, judged by the step's result.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Stop {
    /// Never: the chain goes on whatever the result.
    Never,
    /// On an error (a negative result); the default of every step.
    #[default]
    OnError,
    /// On a result of zero (end of file for a read).
    OnZero,
    /// On an error or zero.
    OnNonPositive,
    /// On any result but zero.
    OnNonZero,
}

impl Stop {
    fn flags(self) -> u32 {
        match self {
            Stop::Never => 0,
            Stop::OnError => crate::STOP_NEGATIVE,
            Stop::OnZero => crate::STOP_ZERO,
            Stop::OnNonPositive => crate::STOP_NONPOSITIVE,
            Stop::OnNonZero => crate::STOP_NONZERO,
        }
    }
}

/// An argument of [`Chain::raw_step`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RawArg {
    /// The value itself.
    Value(u64),
    /// The result of an earlier step of the chain, read when the step runs.
    ResultOf(Step),
}

/// An argument as a step is built. The chain's paths and `struct stat`s
/// live in one allocation each, whose address is known only once the chain
/// is laid out ([`Chain::freeze`]): a step names them by position.
#[derive(Clone, Copy)]
enum Arg {
    Value(u64),
    ResultOf(Step),
    /// The path at this offset of the chain's path bytes.
    Path(usize),
    /// The chain's `struct stat` with this index.
    Stat(usize),
}

impl From<RawArg> for Arg {
    fn from(arg: RawArg) -> Arg {
        match arg {
            RawArg::Value(v) => Arg::Value(v),
            RawArg::ResultOf(s) => Arg::ResultOf(s),
        }
    }
}

struct Spec {
    nr: u32,
    args: [Arg; 6],
    stop: Stop,
}

/// A chain of system calls built from owned values.
///
/// Each method appends one step and returns a handle to it. Every buffer,
/// path and descriptor a step names is moved into (or duplicated into) the
/// chain, which [`Context::submit`](crate::Context::submit) keeps at a fixed
/// address until the kernel is done with it, whatever happens to the
/// future; the buffers come back through
/// [`Finished`](crate::Finished). Only typed operations are safe: no step
/// takes an address from the caller ([`Chain::raw_step`] is `unsafe`).
///
/// Every step stops the chain on an error ([`Stop::OnError`]) unless
/// [`Chain::stop`] says otherwise. Descriptors opened by the chain are
/// opened with `O_CLOEXEC`; those it does not close are closed when the
/// [`Finished`](crate::Finished) goes, unless taken with
/// [`Finished::take_fd`](crate::Finished::take_fd).
///
/// # Panics
///
/// The methods panic when given a handle of another chain, a descriptor
/// the chain already closes, or a second close of one descriptor: each
/// would make a step use a number that is not (or no longer) the
/// descriptor meant.
pub struct Chain {
    id: u64,
    steps: Vec<Spec>,
    /// The paths of the steps, each NUL-terminated, one after the other.
    paths: Vec<u8>,
    /// How many `struct stat` the steps fill.
    stats: usize,
    slots: Vec<Slot>,
    fds: Vec<Arc<OwnedFd>>,
    opened: Vec<OpenedFd>,
}

impl Default for Chain {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Chain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chain")
            .field("id", &self.id)
            .field("steps", &self.steps.len())
            .finish_non_exhaustive()
    }
}

impl Chain {
    /// An empty chain.
    pub fn new() -> Self {
        Self {
            id: NEXT_CHAIN.fetch_add(1, Ordering::Relaxed),
            steps: Vec::new(),
            paths: Vec::new(),
            stats: 0,
            slots: Vec::new(),
            fds: Vec::new(),
            opened: Vec::new(),
        }
    }

    /// An empty chain with room for `steps` steps: a program that knows
    /// how long its chains are saves their growth.
    pub fn with_capacity(steps: usize) -> Self {
        let mut chain = Self::new();
        chain.steps.reserve_exact(steps);
        chain
    }

    /// How many steps the chain has.
    pub fn len(&self) -> usize {
        self.steps.len()
    }

    /// Whether the chain has no step.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// A descriptor the steps can use: a duplicate of `fd` (close-on-exec),
    /// which the chain keeps open until it has finished, so that the number
    /// its steps use stays this file whatever the caller does with `fd`.
    pub fn fd(&mut self, fd: impl AsFd) -> io::Result<Fd> {
        let dup = fd.as_fd().try_clone_to_owned()?;
        Ok(self.shared_fd(Arc::new(dup)))
    }

    /// A descriptor the steps can use, without a system call: the chain
    /// keeps a reference to `fd` until it has finished, so that the
    /// descriptor stays open (and the number this file) for its steps. The
    /// way for a program that runs many chains on one directory or file.
    pub fn shared_fd(&mut self, fd: Arc<OwnedFd>) -> Fd {
        let raw = fd.as_raw_fd();
        self.fds.push(fd);
        Fd {
            chain: self.id,
            kind: FdKind::Held(raw),
        }
    }

    /// `openat(AT_FDCWD, path, flags | O_CLOEXEC, 0o666)`.
    pub fn open(&mut self, path: impl AsRef<CStr>, flags: i32) -> Opened {
        self.openat(None, path, flags, 0o666)
    }

    /// `openat(dir, path, flags | O_CLOEXEC, mode)`; `dir` `None` is the
    /// working directory.
    pub fn openat(
        &mut self,
        dir: Option<Fd>,
        path: impl AsRef<CStr>,
        flags: i32,
        mode: u32,
    ) -> Opened {
        let dir = self.dir_arg(dir);
        let path = self.path(path.as_ref());
        let step = self.push(
            libc::SYS_openat,
            &[
                dir,
                path,
                Arg::Value((flags | libc::O_CLOEXEC) as u32 as u64),
                Arg::Value(u64::from(mode)),
            ],
        );
        self.opened.push(OpenedFd {
            step: step.index,
            closed_by: None,
        });
        Opened {
            step,
            opened: self.opened.len() - 1,
        }
    }

    /// `close(fd)` of a descriptor the chain opened.
    pub fn close(&mut self, fd: Opened) -> Step {
        let arg = self.fd_arg(fd.into());
        let step = self.push(libc::SYS_close, &[arg]);
        self.opened[fd.opened].closed_by = Some(step.index);
        step
    }

    /// `read(fd, buf, buf.capacity())`: reads into `buf` from its start, up
    /// to its capacity. [`Finished::take_buf`](crate::Finished::take_buf)
    /// gives it back with its length set to the bytes read.
    pub fn read(&mut self, fd: impl Into<Fd>, buf: Vec<u8>) -> BufStep {
        self.bytes_step(libc::SYS_read, fd.into(), buf, true, None)
    }

    /// `pread64(fd, buf, buf.capacity(), offset)`: as [`Chain::read`], at
    /// `offset`.
    pub fn pread(&mut self, fd: impl Into<Fd>, buf: Vec<u8>, offset: u64) -> BufStep {
        self.bytes_step(libc::SYS_pread64, fd.into(), buf, true, Some(offset))
    }

    /// `write(fd, buf, buf.len())`: the buffer comes back unchanged.
    pub fn write(&mut self, fd: impl Into<Fd>, buf: Vec<u8>) -> BufStep {
        self.bytes_step(libc::SYS_write, fd.into(), buf, false, None)
    }

    /// `pwrite64(fd, buf, buf.len(), offset)`.
    pub fn pwrite(&mut self, fd: impl Into<Fd>, buf: Vec<u8>, offset: u64) -> BufStep {
        self.bytes_step(libc::SYS_pwrite64, fd.into(), buf, false, Some(offset))
    }

    /// `getdents64(fd, buf, buf.capacity())`: directory entries into `buf`
    /// from its start, as with [`Chain::read`]; walk them with
    /// [`dirents`](crate::dirents).
    pub fn getdents64(&mut self, fd: impl Into<Fd>, buf: Vec<u8>) -> BufStep {
        self.bytes_step(libc::SYS_getdents64, fd.into(), buf, true, None)
    }

    /// `fsync(fd)`.
    pub fn fsync(&mut self, fd: impl Into<Fd>) -> Step {
        let fd = self.fd_arg(fd.into());
        self.push(libc::SYS_fsync, &[fd])
    }

    /// `fstat(fd, &stat)`.
    pub fn fstat(&mut self, fd: impl Into<Fd>) -> StatStep {
        let fd = self.fd_arg(fd.into());
        let (buf, stat) = self.stat();
        let step = self.push(libc::SYS_fstat, &[fd, buf]);
        StatStep { step, stat }
    }

    /// `newfstatat(dir, path, &stat, flags)` (`flags`: `AT_SYMLINK_NOFOLLOW`,
    /// ...); `dir` `None` is the working directory.
    pub fn fstatat(&mut self, dir: Option<Fd>, path: impl AsRef<CStr>, flags: i32) -> StatStep {
        let dir = self.dir_arg(dir);
        let path = self.path(path.as_ref());
        let (buf, stat) = self.stat();
        let step = self.push(
            libc::SYS_newfstatat,
            &[dir, path, buf, Arg::Value(flags as u32 as u64)],
        );
        StatStep { step, stat }
    }

    /// `nanosleep(duration, NULL)`.
    pub fn sleep(&mut self, duration: Duration) -> Step {
        let time = self.slot(Slot::Time(Heap::new(Box::new(Timespec {
            sec: i64::try_from(duration.as_secs()).unwrap_or(i64::MAX),
            nsec: i64::from(duration.subsec_nanos()),
        }))));
        self.push(libc::SYS_nanosleep, &[Arg::Value(time)])
    }

    /// Sets when `step` ends the chain (by default [`Stop::OnError`]).
    pub fn stop(&mut self, step: impl Into<Step>, stop: Stop) {
        let step = self.own(step.into());
        self.steps[step.index].stop = stop;
    }

    /// Appends system call `nr` (a `libc::SYS_*` number) with `args`.
    ///
    /// # Safety
    ///
    /// The call, with these arguments, must not break memory or I/O safety
    /// of the program when it runs, at any time until the chain's
    /// completion has been reaped: every address among `args` must stay
    /// valid for what the call does with it until then (the chain does not
    /// own it), and every descriptor must be one the caller may use so long.
    pub unsafe fn raw_step(&mut self, nr: libc::c_long, args: [RawArg; 6]) -> Step {
        for arg in args {
            if let RawArg::ResultOf(s) = arg {
                let s = self.own(s);
                assert!(
                    s.index < self.steps.len(),
                    "a step can only use an earlier step's result"
                );
            }
        }
        self.push(nr, &args.map(Arg::from))
    }

    fn own(&self, step: Step) -> Step {
        assert_eq!(step.chain, self.id, "a handle of another chain");
        step
    }

    fn fd_arg(&self, fd: Fd) -> Arg {
        assert_eq!(fd.chain, self.id, "a descriptor of another chain");
        match fd.kind {
            FdKind::Held(raw) => Arg::Value(raw as u32 as u64),
            FdKind::Opened(o) => {
                assert!(
                    self.opened[o.opened].closed_by.is_none(),
                    "a descriptor the chain closes before this step"
                );
                Arg::ResultOf(o.step)
            }
        }
    }

    fn dir_arg(&self, dir: Option<Fd>) -> Arg {
        match dir {
            Some(fd) => self.fd_arg(fd),
            None => Arg::Value(libc::AT_FDCWD as u32 as u64),
        }
    }

    /// Copies `path` to the chain's path bytes.
    fn path(&mut self, path: &CStr) -> Arg {
        if self.paths.capacity() == 0 {
            // Room for a few names at once, rather than growth from 8 bytes.
            self.paths.reserve(256);
        }
        let at = self.paths.len();
        self.paths.extend_from_slice(path.to_bytes_with_nul());
        Arg::Path(at)
    }

    /// One more `struct stat` for a step to fill: the argument, and its
    /// index for [`StatStep`].
    fn stat(&mut self) -> (Arg, usize) {
        self.stats += 1;
        (Arg::Stat(self.stats - 1), self.stats - 1)
    }

    fn slot(&mut self, slot: Slot) -> u64 {
        let addr = slot.addr();
        self.slots.push(slot);
        addr
    }

    fn bytes_step(
        &mut self,
        nr: libc::c_long,
        fd: Fd,
        buf: Vec<u8>,
        fill: bool,
        offset: Option<u64>,
    ) -> BufStep {
        let fd = self.fd_arg(fd);
        let raw = RawBytes::new(buf);
        let count = if fill { raw.capacity() } else { raw.len() } as u64;
        let slot = self.slots.len();
        let addr = self.slot(Slot::Bytes {
            raw,
            step: self.steps.len(),
            fill,
        });
        let step = self.push(
            nr,
            &[
                fd,
                Arg::Value(addr),
                Arg::Value(count),
                Arg::Value(offset.unwrap_or(0)),
            ],
        );
        BufStep { step, slot }
    }

    /// Appends system call `nr` with `args` (at most six; those not given
    /// are zero).
    fn push(&mut self, nr: libc::c_long, args: &[Arg]) -> Step {
        let mut all = [Arg::Value(0); 6];
        all[..args.len()].copy_from_slice(args);
        self.steps.push(Spec {
            nr: nr as u32,
            args: all,
            stop: Stop::default(),
        });
        Step {
            chain: self.id,
            index: self.steps.len() - 1,
        }
    }

    /// Lays the chain out for the kernel: one result word per step
    /// ([`NOT_RUN`] until it runs), the atoms linked in order, each with
    /// `cookie`. `None` for an empty chain.
    pub(crate) fn freeze(self, cookie: u64) -> Option<Storage> {
        if self.steps.is_empty() {
            return None;
        }
        let n = self.steps.len();
        let results = Heap::new(vec![NOT_RUN; n].into_boxed_slice());
        let word = |i: usize| results.addr() + (i * std::mem::size_of::<i64>()) as u64;
        let paths = RawBytes::new(self.paths);
        // SAFETY: `libc::stat` is a C structure of integers (and padding),
        // for which all-zero bytes are a valid value.
        let zeroed: libc::stat = unsafe { std::mem::zeroed() };
        let stats = Heap::new(vec![zeroed; self.stats].into_boxed_slice());
        let stat = |i: usize| stats.addr() + (i * std::mem::size_of::<libc::stat>()) as u64;
        let mut atoms: Box<[Atom]> = self
            .steps
            .iter()
            .enumerate()
            .map(|(i, spec)| {
                let mut raw = sys::syslet_atom {
                    nr: spec.nr,
                    flags: spec.stop.flags(),
                    result: word(i),
                    next: 0,
                    args: [0; 6],
                    cookie,
                };
                for (n, arg) in spec.args.iter().enumerate() {
                    raw.args[n] = match *arg {
                        Arg::Value(v) => v,
                        Arg::ResultOf(s) => {
                            raw.flags |= 1 << n; // SYSLET_ATOM_ARG_PTR(n)
                            word(s.index)
                        }
                        Arg::Path(at) => paths.addr() + at as u64,
                        Arg::Stat(i) => stat(i),
                    };
                }
                Atom(raw)
            })
            .collect();
        crate::link(&mut atoms);
        Some(Storage::new(
            self.id,
            Heap::new(atoms),
            n,
            results,
            paths,
            stats,
            self.slots,
            self.fds,
            self.opened,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The paths and `struct stat`s of a chain live in one allocation each;
    /// laying the chain out points every step at its own.
    #[test]
    fn paths_and_stats_are_laid_out_once_per_chain() {
        let mut c = Chain::with_capacity(3);
        let first = c.fstatat(None, c"first", 0);
        c.openat(None, c"second/name", libc::O_RDONLY, 0);
        let third = c.fstatat(None, c"3", libc::AT_SYMLINK_NOFOLLOW);
        assert_eq!((first.stat, third.stat), (0, 1));
        let storage = c.freeze(7).expect("a chain of three steps");
        // SAFETY: `first_atom` is the address of the chain's three atoms,
        // which `storage` owns and nothing changes while it lives.
        let atoms = unsafe { std::slice::from_raw_parts(storage.first_atom() as *const Atom, 3) };
        // SAFETY: each path argument points at a NUL-terminated copy that
        // `storage` owns.
        let path = |addr: u64| unsafe { CStr::from_ptr(addr as *const libc::c_char) };
        assert_eq!(path(atoms[0].0.args[1]), c"first");
        assert_eq!(path(atoms[1].0.args[1]), c"second/name");
        assert_eq!(path(atoms[2].0.args[1]), c"3");
        let (a, b) = (atoms[0].0.args[2], atoms[2].0.args[2]);
        assert_eq!(b - a, std::mem::size_of::<libc::stat>() as u64);
        assert_eq!(a % std::mem::align_of::<libc::stat>() as u64, 0);
        assert_eq!(atoms[2].0.args[3], libc::AT_SYMLINK_NOFOLLOW as u64);
        assert!(atoms.iter().all(|atom| atom.0.cookie == 7));
    }
}

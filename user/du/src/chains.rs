//! The walk with syslet chains, through the crate's safe API: no `unsafe`
//! here. Each directory is one chain that opens it and reads its entries;
//! its entries are then stat'ed (and read) by chains of [`STATS_PER_CHAIN`]
//! (and [`FILES_PER_CHAIN`]) calls, and its subdirectories walked, all
//! submitted before any is waited for. A chain runs in this thread until a
//! call blocks (a cold inode or data block); then it goes on in the kernel
//! while this thread submits the next: the blocking calls of the walk are
//! in flight together, with no thread of the program's own per call.
//!
//! At most [`CHAINS_IN_FLIGHT`] chains exist at once, so that the
//! program's memory and the kernel's thread cap bound the walk, not the
//! tree. A chain shares its directory's descriptor (`Chain::shared_fd`): no
//! system call to keep it open while the chain runs. The buffers of its
//! reads come back from the finished chain and are used again ([`Buffers`]):
//! allocating a fresh one per read cost more than the read's atom (musl's
//! allocator hands such blocks back to the kernel and faults them in again).

use std::{
    cell::{Cell, RefCell},
    collections::VecDeque,
    ffi::{CStr, CString},
    future::{poll_fn, Future},
    io,
    os::fd::OwnedFd,
    pin::Pin,
    sync::Arc,
    task::{Poll, Waker},
};

use syslet::{dirents, join_all, Chain, Context, Stop};

use crate::{
    plain::{DENTS_BUF, READ_BUF},
    tree::{child, is_dot, Entry, Listing, Walk},
};

/// fstatat calls per chain. A chain that blocks holds one kernel thread
/// until it ends, so shorter chains would keep more reads in flight; but a
/// directory's inodes share a few inode-table blocks, so the stats after a
/// blocked one mostly find them read, and each chain costs its set-up
/// (16 a chain took the stat walk 230 ms, 64 took 202, plain calls 196).
const STATS_PER_CHAIN: usize = 64;
/// Files (openat, read, close each) per chain of the read series.
const FILES_PER_CHAIN: usize = 16;
/// Chains built and not finished, at most.
const CHAINS_IN_FLIGHT: usize = 64;

/// Walks the tree at `root` through `ctx`.
pub fn walk(ctx: &Context, root: &CStr, read: bool) -> Walk {
    let w = Walker {
        ctx,
        read,
        walk: RefCell::new(Walk::default()),
        dents: Buffers::new(DENTS_BUF),
        reads: Buffers::new(READ_BUF),
        free: Cell::new(CHAINS_IN_FLIGHT),
        waiting: RefCell::new(VecDeque::new()),
    };
    let (bytes, files) = syslet::block_on(ctx, w.dir(None, root.to_owned(), Vec::new()));
    let mut walk = w.walk.into_inner();
    walk.bytes_read = bytes;
    walk.files_read = files;
    walk
}

fn errno(e: &io::Error) -> i32 {
    e.raw_os_error().unwrap_or(libc::EIO)
}

/// Bytes and files read.
type Read = (u64, u64);

/// Byte buffers of one size, used again once a chain gives them back.
struct Buffers {
    size: usize,
    free: RefCell<Vec<Vec<u8>>>,
}

impl Buffers {
    fn new(size: usize) -> Self {
        Self {
            size,
            free: RefCell::new(Vec::new()),
        }
    }

    /// An empty buffer with room for `size` bytes (a read fills it up to
    /// its capacity).
    fn get(&self) -> Vec<u8> {
        self.free
            .borrow_mut()
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(self.size))
    }

    /// Gives back a buffer that [`Buffers::get`] gave.
    fn put(&self, buf: Option<Vec<u8>>) {
        if let Some(mut buf) = buf {
            buf.clear();
            self.free.borrow_mut().push(buf);
        }
    }
}

struct Walker<'a> {
    ctx: &'a Context,
    read: bool,
    walk: RefCell<Walk>,
    /// getdents64 buffers.
    dents: Buffers,
    /// The read series' file buffers.
    reads: Buffers,
    /// Chains that may still be built.
    free: Cell<usize>,
    /// Futures waiting for one.
    waiting: RefCell<VecDeque<Waker>>,
}

/// The right to build and run one chain; given back when dropped.
struct Permit<'w, 'a>(&'w Walker<'a>);

impl Drop for Permit<'_, '_> {
    fn drop(&mut self) {
        self.0.free.set(self.0.free.get() + 1);
        if let Some(w) = self.0.waiting.borrow_mut().pop_front() {
            w.wake();
        }
    }
}

impl<'a> Walker<'a> {
    /// Waits until fewer than [`CHAINS_IN_FLIGHT`] chains exist.
    async fn permit(&self) -> Permit<'_, 'a> {
        poll_fn(|cx| match self.free.get() {
            0 => {
                self.waiting.borrow_mut().push_back(cx.waker().clone());
                Poll::Pending
            }
            n => {
                self.free.set(n - 1);
                Poll::Ready(Permit(self))
            }
        })
        .await
    }

    /// Opens `name` (in `parent`, or from the current directory) and reads
    /// it to its end: its descriptor and names, or an errno.
    async fn list(
        &self,
        parent: Option<&Arc<OwnedFd>>,
        name: CString,
    ) -> Result<(OwnedFd, Vec<CString>), i32> {
        let _permit = self.permit().await;
        let mut c = Chain::new();
        let dir = parent.map(|p| c.shared_fd(p.clone()));
        let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW;
        let opened = c.openat(dir, name, flags, 0);
        let first = c.getdents64(opened, self.dents.get());
        c.stop(first, Stop::OnNonPositive);
        // Usually returns 0: the whole directory fitted in the first buffer.
        let second = c.getdents64(opened, self.dents.get());
        c.stop(second, Stop::OnNonPositive);
        let mut done = self.ctx.submit(c).await.map_err(|e| errno(&e))?;
        done.result(opened).map_err(|e| errno(&e))?;
        let fd = done.take_fd(opened).ok_or(libc::EBADF)?;
        let mut names = Vec::new();
        let mut last = 0;
        for step in [first, second] {
            let buf = done.take_buf(step);
            let Some(n) = done.raw_result(step) else {
                self.dents.put(buf);
                break;
            };
            if n < 0 {
                self.dents.put(buf);
                return Err(-n as i32);
            }
            names_in(buf.as_deref(), n, &mut names);
            self.dents.put(buf);
            last = n;
        }
        // A big directory: one more getdents64 per chain until it returns 0.
        while last > 0 {
            let mut c = Chain::new();
            let dir = c.fd(&fd).map_err(|e| errno(&e))?;
            let more = c.getdents64(dir, self.dents.get());
            let mut done = self.ctx.submit(c).await.map_err(|e| errno(&e))?;
            let buf = done.take_buf(more);
            last = done.result(more).map_err(|e| errno(&e))?;
            names_in(buf.as_deref(), last, &mut names);
            self.dents.put(buf);
        }
        Ok((fd, names))
    }

    /// `lstat()` of each of `names` (at most [`STATS_PER_CHAIN`]) in `dir`.
    async fn stat_some(&self, dir: &Arc<OwnedFd>, names: Vec<CString>) -> Vec<Entry> {
        let failed = |names: Vec<CString>, e: i32| {
            names
                .into_iter()
                .map(|name| Entry { name, stat: Err(e) })
                .collect()
        };
        let _permit = self.permit().await;
        let mut c = Chain::with_capacity(names.len());
        let d = c.shared_fd(dir.clone());
        let steps: Vec<_> = names
            .iter()
            .map(|name| {
                let s = c.fstatat(Some(d), name, libc::AT_SYMLINK_NOFOLLOW);
                c.stop(s, Stop::Never);
                s
            })
            .collect();
        let done = match self.ctx.submit(c).await {
            Ok(done) => done,
            Err(e) => return failed(names, errno(&e)),
        };
        names
            .into_iter()
            .zip(steps)
            .map(|(name, s)| Entry {
                name,
                stat: done
                    .stat(s)
                    .map(|st| crate::tree::Stat::from_libc(&st))
                    .map_err(|e| errno(&e)),
            })
            .collect()
    }

    /// Reads up to [`READ_BUF`] bytes of each of `files` (at most
    /// [`FILES_PER_CHAIN`]) in `dir`.
    async fn read_some(&self, dir: &Arc<OwnedFd>, files: &[&CStr]) -> Read {
        let _permit = self.permit().await;
        let mut c = Chain::with_capacity(3 * files.len());
        let d = c.shared_fd(dir.clone());
        let reads: Vec<_> = files
            .iter()
            .map(|name| {
                let f = c.openat(Some(d), name, libc::O_RDONLY, 0);
                c.stop(f, Stop::Never);
                let r = c.read(f, self.reads.get());
                c.stop(r, Stop::Never);
                let closed = c.close(f);
                c.stop(closed, Stop::Never);
                r
            })
            .collect();
        let Ok(mut done) = self.ctx.submit(c).await else {
            return (0, 0);
        };
        let mut read = (0, 0);
        for r in reads {
            if let Ok(n) = done.result(r) {
                read = (read.0 + n as u64, read.1 + 1);
            }
            self.reads.put(done.take_buf(r));
        }
        read
    }

    /// Walks the directory `name` of `parent` (the root if `None`), at
    /// `rel`. Returns the bytes and files read below it.
    fn dir<'w>(
        &'w self,
        parent: Option<Arc<OwnedFd>>,
        name: CString,
        rel: Vec<u8>,
    ) -> Pin<Box<dyn Future<Output = Read> + 'w>> {
        Box::pin(async move {
            let listed = self.list(parent.as_ref(), name).await;
            drop(parent);
            let (fd, names) = match listed {
                Ok(found) => found,
                Err(e) => {
                    let listing = Listing {
                        entries: Vec::new(),
                        error: Some(e),
                    };
                    self.walk.borrow_mut().dirs.insert(rel, listing);
                    return (0, 0);
                }
            };
            let fd = Arc::new(fd);
            let mut chunks = Vec::new();
            let mut names = names.into_iter();
            loop {
                let chunk: Vec<CString> = names.by_ref().take(STATS_PER_CHAIN).collect();
                if chunk.is_empty() {
                    break;
                }
                chunks.push(self.stat_some(&fd, chunk));
            }
            let entries: Vec<Entry> = join_all(chunks).await.into_iter().flatten().collect();
            let files: Vec<&CStr> = entries
                .iter()
                .filter(|e| self.read && e.stat.is_ok_and(|st| st.is_file()))
                .map(|e| e.name.as_c_str())
                .collect();
            let subdirs: Vec<_> = entries
                .iter()
                .filter(|e| e.stat.is_ok_and(|st| st.is_dir()))
                .map(|e| self.dir(Some(fd.clone()), e.name.clone(), child(&rel, &e.name)))
                .collect();
            // The reads borrow `fd` and `files` (so `entries`), so this list
            // lives shorter than the subdirectories' walks it takes in, and
            // the listing is recorded once they are done.
            let mut work: Vec<Pin<Box<dyn Future<Output = Read> + '_>>> = Vec::new();
            for sub in subdirs {
                work.push(sub);
            }
            for chunk in files.chunks(FILES_PER_CHAIN) {
                work.push(Box::pin(self.read_some(&fd, chunk)));
            }
            let read = join_all(work)
                .await
                .into_iter()
                .fold((0, 0), |(b, f), (nb, nf)| (b + nb, f + nf));
            self.walk.borrow_mut().dirs.insert(
                rel,
                Listing {
                    entries,
                    error: None,
                },
            );
            read
        })
    }
}

/// Adds the names in the first `n` bytes of getdents64 buffer `buf` to
/// `names`.
fn names_in(buf: Option<&[u8]>, n: i64, names: &mut Vec<CString>) {
    let Some(buf) = buf else { return };
    let n = usize::try_from(n).unwrap_or(0).min(buf.len());
    names.extend(
        dirents(&buf[..n])
            .filter(|d| !is_dot(d.name.to_bytes()))
            .map(|d| d.name.to_owned()),
    );
}

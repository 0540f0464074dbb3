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
//! system call to keep it open while the chain runs.

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

/// fstatat calls per chain: a chain that blocks holds one kernel thread
/// until it ends, so short chains keep more of them in flight.
const STATS_PER_CHAIN: usize = 16;
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

struct Walker<'a> {
    ctx: &'a Context,
    read: bool,
    walk: RefCell<Walk>,
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
        let first = c.getdents64(opened, vec![0; DENTS_BUF]);
        c.stop(first, Stop::OnNonPositive);
        // Usually returns 0: the whole directory fitted in the first buffer.
        let second = c.getdents64(opened, vec![0; DENTS_BUF]);
        c.stop(second, Stop::OnNonPositive);
        let mut done = self.ctx.submit(c).await.map_err(|e| errno(&e))?;
        done.result(opened).map_err(|e| errno(&e))?;
        let fd = done.take_fd(opened).ok_or(libc::EBADF)?;
        let mut names = Vec::new();
        let mut last = 0;
        for step in [first, second] {
            let Some(n) = done.raw_result(step) else { break };
            if n < 0 {
                return Err(-n as i32);
            }
            names_in(done.take_buf(step), n, &mut names);
            last = n;
        }
        // A big directory: one more getdents64 per chain until it returns 0.
        while last > 0 {
            let mut c = Chain::new();
            let dir = c.fd(&fd).map_err(|e| errno(&e))?;
            let more = c.getdents64(dir, vec![0; DENTS_BUF]);
            let mut done = self.ctx.submit(c).await.map_err(|e| errno(&e))?;
            last = done.result(more).map_err(|e| errno(&e))?;
            names_in(done.take_buf(more), last, &mut names);
        }
        Ok((fd, names))
    }

    /// `lstat()` of each of `names` (at most [`STATS_PER_CHAIN`]) in `dir`.
    async fn stat_some(&self, dir: &Arc<OwnedFd>, names: &[CString]) -> Vec<Entry> {
        let failed = |e: i32| {
            names
                .iter()
                .map(|name| Entry {
                    name: name.clone(),
                    stat: Err(e),
                })
                .collect()
        };
        let _permit = self.permit().await;
        let mut c = Chain::new();
        let d = c.shared_fd(dir.clone());
        let steps: Vec<_> = names
            .iter()
            .map(|name| {
                let s = c.fstatat(Some(d), name.clone(), libc::AT_SYMLINK_NOFOLLOW);
                c.stop(s, Stop::Never);
                s
            })
            .collect();
        let done = match self.ctx.submit(c).await {
            Ok(done) => done,
            Err(e) => return failed(errno(&e)),
        };
        names
            .iter()
            .zip(steps)
            .map(|(name, s)| Entry {
                name: name.clone(),
                stat: done
                    .stat(s)
                    .map(|st| crate::tree::Stat::from_libc(&st))
                    .map_err(|e| errno(&e)),
            })
            .collect()
    }

    /// Reads up to [`READ_BUF`] bytes of each of `files` (at most
    /// [`FILES_PER_CHAIN`]) in `dir`.
    async fn read_some(&self, dir: &Arc<OwnedFd>, files: &[CString]) -> Read {
        let _permit = self.permit().await;
        let mut c = Chain::new();
        let d = c.shared_fd(dir.clone());
        let reads: Vec<_> = files
            .iter()
            .map(|name| {
                let f = c.openat(Some(d), name.clone(), libc::O_RDONLY, 0);
                c.stop(f, Stop::Never);
                let r = c.read(f, vec![0; READ_BUF]);
                c.stop(r, Stop::Never);
                let closed = c.close(f);
                c.stop(closed, Stop::Never);
                r
            })
            .collect();
        let Ok(done) = self.ctx.submit(c).await else {
            return (0, 0);
        };
        reads
            .into_iter()
            .filter_map(|r| done.result(r).ok())
            .fold((0, 0), |(b, f), n| (b + n as u64, f + 1))
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
            let entries: Vec<Entry> = join_all(
                names
                    .chunks(STATS_PER_CHAIN)
                    .map(|chunk| self.stat_some(&fd, chunk)),
            )
            .await
            .into_iter()
            .flatten()
            .collect();
            let files: Vec<CString> = entries
                .iter()
                .filter(|e| self.read && e.stat.is_ok_and(|st| st.is_file()))
                .map(|e| e.name.clone())
                .collect();
            let subdirs: Vec<_> = entries
                .iter()
                .filter(|e| e.stat.is_ok_and(|st| st.is_dir()))
                .map(|e| self.dir(Some(fd.clone()), e.name.clone(), child(&rel, &e.name)))
                .collect();
            self.walk.borrow_mut().dirs.insert(
                rel,
                Listing {
                    entries,
                    error: None,
                },
            );
            // The reads borrow `fd` and `files`, so this list lives shorter
            // than the subdirectories' walks it takes in.
            let mut work: Vec<Pin<Box<dyn Future<Output = Read> + '_>>> = Vec::new();
            for sub in subdirs {
                work.push(sub);
            }
            for chunk in files.chunks(FILES_PER_CHAIN) {
                work.push(Box::pin(self.read_some(&fd, chunk)));
            }
            join_all(work)
                .await
                .into_iter()
                .fold((0, 0), |(b, f), (nb, nf)| (b + nb, f + nf))
        })
    }
}

/// Adds the names in the first `n` bytes of getdents64 buffer `buf` to
/// `names`.
fn names_in(buf: Option<Vec<u8>>, n: i64, names: &mut Vec<CString>) {
    let Some(buf) = buf else { return };
    let n = usize::try_from(n).unwrap_or(0).min(buf.len());
    names.extend(
        dirents(&buf[..n])
            .filter(|d| !is_dot(d.name.to_bytes()))
            .map(|d| d.name.to_owned()),
    );
}

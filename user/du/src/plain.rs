//! The walk with plain system calls, one at a time: the baseline, and what
//! runs when `/dev/syslet` is absent. The pool runs [`list_dir`] too.

use std::{
    ffi::{CStr, CString},
    io,
    os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd},
};

use syslet::dirents;

use crate::tree::{child, is_dot, Entry, Listing, Stat, Walk};

/// Bytes per getdents64 call (as the chains use).
pub const DENTS_BUF: usize = 32 * 1024;
/// Bytes read from each file by the read series.
pub const READ_BUF: usize = 4096;

fn errno() -> i32 {
    io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO)
}

/// Opens the directory `name` relative to `dir` (`AT_FDCWD` for none).
pub fn open_dir(dir: RawFd, name: &CStr) -> Result<OwnedFd, i32> {
    // SAFETY: `name` is a NUL-terminated string that outlives the call.
    let fd = unsafe {
        libc::openat(
            dir,
            name.as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(errno());
    }
    // SAFETY: openat() just returned this descriptor, which nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `lstat()` of `name` in `dir`.
pub fn lstat_at(dir: RawFd, name: &CStr) -> Result<Stat, i32> {
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: `name` is NUL-terminated and `st` has room for a stat.
    let r = unsafe { libc::fstatat(dir, name.as_ptr(), st.as_mut_ptr(), libc::AT_SYMLINK_NOFOLLOW) };
    if r < 0 {
        return Err(errno());
    }
    // SAFETY: fstatat() succeeded, so it filled `st`.
    Ok(Stat::from_libc(unsafe { &st.assume_init() }))
}

/// The names in the open directory `fd`, without `.` and `..`, in
/// getdents64 order.
pub fn read_names(fd: &OwnedFd) -> Result<Vec<CString>, i32> {
    let mut buf = vec![0u8; DENTS_BUF];
    let mut names = Vec::new();
    loop {
        // SAFETY: getdents64 writes at most `buf.len()` bytes into `buf`.
        let n = unsafe {
            libc::syscall(libc::SYS_getdents64, fd.as_raw_fd(), buf.as_mut_ptr(), buf.len())
        };
        match n {
            n if n < 0 => return Err(errno()),
            0 => return Ok(names),
            n => names.extend(
                dirents(&buf[..n as usize])
                    .filter(|d| !is_dot(d.name.to_bytes()))
                    .map(|d| d.name.to_owned()),
            ),
        }
    }
}

/// Reads up to [`READ_BUF`] bytes of the file `name` in `dir`: the bytes
/// read, or the errno.
pub fn read_file(dir: RawFd, name: &CStr, buf: &mut [u8]) -> Result<u64, i32> {
    // SAFETY: `name` is NUL-terminated.
    let fd = unsafe { libc::openat(dir, name.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(errno());
    }
    // SAFETY: `fd` was just opened and is ours; `buf` has `buf.len()` bytes.
    let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
    let e = errno();
    // SAFETY: `fd` is ours and closed once.
    unsafe { libc::close(fd) };
    if n < 0 {
        Err(e)
    } else {
        Ok(n as u64)
    }
}

/// Lists the open directory `fd`, stats every entry and (with `read`)
/// reads every regular file. Returns the listing and the bytes and files
/// read.
pub fn list_dir(fd: &OwnedFd, read: bool) -> (Listing, u64, u64) {
    let names = match read_names(fd) {
        Ok(names) => names,
        Err(e) => {
            return (
                Listing {
                    entries: Vec::new(),
                    error: Some(e),
                },
                0,
                0,
            )
        }
    };
    let mut buf = vec![0u8; READ_BUF];
    let (mut bytes, mut files) = (0, 0);
    let entries = names
        .into_iter()
        .map(|name| {
            let stat = lstat_at(fd.as_raw_fd(), &name);
            if read && stat.is_ok_and(|st| st.is_file()) {
                if let Ok(n) = read_file(fd.as_raw_fd(), &name, &mut buf) {
                    bytes += n;
                    files += 1;
                }
            }
            Entry { name, stat }
        })
        .collect();
    (
        Listing {
            entries,
            error: None,
        },
        bytes,
        files,
    )
}

/// Walks the tree at `root` depth-first with plain calls.
pub fn walk(root: &CStr, read: bool) -> Walk {
    let mut walk = Walk::default();
    match open_dir(libc::AT_FDCWD, root) {
        Ok(fd) => walk_dir(&mut walk, Vec::new(), &fd, read),
        Err(e) => {
            walk.dirs.insert(
                Vec::new(),
                Listing {
                    entries: Vec::new(),
                    error: Some(e),
                },
            );
        }
    }
    walk
}

fn walk_dir(walk: &mut Walk, rel: Vec<u8>, fd: &OwnedFd, read: bool) {
    let (listing, bytes, files) = list_dir(fd, read);
    walk.bytes_read += bytes;
    walk.files_read += files;
    for e in &listing.entries {
        if !e.stat.is_ok_and(|st| st.is_dir()) {
            continue;
        }
        let sub = child(&rel, &e.name);
        match open_dir(fd.as_raw_fd(), &e.name) {
            Ok(subfd) => walk_dir(walk, sub, &subfd, read),
            Err(err) => {
                walk.dirs.insert(
                    sub,
                    Listing {
                        entries: Vec::new(),
                        error: Some(err),
                    },
                );
            }
        }
    }
    walk.dirs.insert(rel, listing);
}

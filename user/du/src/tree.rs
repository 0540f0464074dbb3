//! What a walk finds, and how `du -k` adds it up.
//!
//! Every walker (plain calls, a thread pool, syslet chains) fills the same
//! [`Walk`]: one [`Listing`] per directory, its entries in the order
//! getdents64 gave them. The sums are made afterwards, in one pass in that
//! order, so that a hard link is counted where `du` would count it (at its
//! first sighting in a depth-first walk in directory order) however the
//! walk itself was scheduled, and every mode prints the same lines.

use std::{
    collections::{HashMap, HashSet},
    ffi::CString,
    io::{self, Write},
};

/// What `lstat()` says of an entry, the fields `du` needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stat {
    pub dev: u64,
    pub ino: u64,
    pub mode: u32,
    pub nlink: u64,
    /// In 512-byte units, as `st_blocks`.
    pub blocks: u64,
    pub size: i64,
}

impl Stat {
    pub fn from_libc(st: &libc::stat) -> Self {
        Self {
            dev: st.st_dev,
            ino: st.st_ino,
            mode: st.st_mode,
            nlink: st.st_nlink,
            blocks: st.st_blocks as u64,
            size: st.st_size,
        }
    }

    pub fn is_dir(&self) -> bool {
        self.mode & libc::S_IFMT == libc::S_IFDIR
    }

    pub fn is_file(&self) -> bool {
        self.mode & libc::S_IFMT == libc::S_IFREG
    }
}

/// One entry of a directory (never `.` or `..`): its name and `lstat()`
/// (an errno if that failed).
#[derive(Debug)]
pub struct Entry {
    pub name: CString,
    pub stat: Result<Stat, i32>,
}

/// A directory's entries, or why it could not be read.
#[derive(Debug, Default)]
pub struct Listing {
    pub entries: Vec<Entry>,
    /// The errno of opening or reading the directory.
    pub error: Option<i32>,
}

/// Every directory of a walk, by its path relative to the root (the root
/// is the empty path), with the bytes read from files when the walk reads
/// them.
#[derive(Debug, Default)]
pub struct Walk {
    pub dirs: HashMap<Vec<u8>, Listing>,
    pub bytes_read: u64,
    pub files_read: u64,
}

/// The relative path of `name` in the directory at `rel`.
pub fn child(rel: &[u8], name: &CString) -> Vec<u8> {
    let mut p = rel.to_vec();
    if !p.is_empty() {
        p.push(b'/');
    }
    p.extend_from_slice(name.as_bytes());
    p
}

/// Whether a getdents64 name is `.` or `..`.
pub fn is_dot(name: &[u8]) -> bool {
    name == b"." || name == b".."
}

/// Prints `du -k`'s lines for the tree at `root` (whose own `lstat()` is
/// `root_stat`): each directory's total in KiB, children before their
/// parent, in directory order. Errors go to stderr, as `du`'s do. Returns
/// the root's total and whether anything failed.
pub fn report(
    root: &str,
    root_stat: &Stat,
    walk: &Walk,
    out: &mut impl Write,
) -> io::Result<(u64, bool)> {
    let mut sum = Sum {
        walk,
        seen: HashSet::new(),
        failed: false,
        out,
    };
    let total = sum.dir(b"", root, root_stat)?;
    Ok((total, sum.failed))
}

struct Sum<'a, W> {
    walk: &'a Walk,
    /// (device, inode) of files with more than one link, counted once.
    seen: HashSet<(u64, u64)>,
    failed: bool,
    out: &'a mut W,
}

impl<W: Write> Sum<'_, W> {
    fn dir(&mut self, rel: &[u8], shown: &str, own: &Stat) -> io::Result<u64> {
        let mut total = own.blocks;
        match self.walk.dirs.get(rel) {
            None => {}
            Some(Listing {
                error: Some(e), ..
            }) => {
                eprintln!(
                    "syslet-du: cannot read directory '{shown}': {}",
                    io::Error::from_raw_os_error(*e)
                );
                self.failed = true;
            }
            Some(listing) => {
                for e in &listing.entries {
                    let name = String::from_utf8_lossy(e.name.as_bytes());
                    let st = match e.stat {
                        Ok(st) => st,
                        Err(errno) => {
                            eprintln!(
                                "syslet-du: cannot access '{shown}/{name}': {}",
                                io::Error::from_raw_os_error(errno)
                            );
                            self.failed = true;
                            continue;
                        }
                    };
                    if st.is_dir() {
                        total += self.dir(&child(rel, &e.name), &format!("{shown}/{name}"), &st)?;
                    } else if st.nlink < 2 || self.seen.insert((st.dev, st.ino)) {
                        total += st.blocks;
                    }
                }
            }
        }
        writeln!(self.out, "{}\t{shown}", total.div_ceil(2))?;
        Ok(total)
    }
}

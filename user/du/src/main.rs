//! `syslet-du`: `du -k` built on syslets.
//!
//! Prints, for a directory tree, each directory's disk usage in KiB, its
//! subdirectories first, as `du -k` does (hard links counted once, symbolic
//! links not followed). The walk -- open, getdents64 and an `lstat()` of
//! every entry -- runs as syslet chains, so that on a cold cache the reads
//! of inode and directory blocks are in flight together; without
//! `/dev/syslet` it falls back to plain calls.
//!
//! ```text
//! syslet-du [--mode syslet|plain|pool] [--threads N] [--read] [-s] DIR
//! syslet-du --bench ROUNDS DIR
//! ```
//!
//! `--read` also reads every regular file (the first 4 KiB), as a backup or
//! indexing tool would; `-s` prints the total only. `--bench` times every
//! mode on `DIR` with the page cache dropped before each walk, and checks
//! that every mode prints the same.

mod bench;
mod chains;
mod plain;
mod pool;
mod tree;

use std::{
    ffi::CString,
    io::{self, Write},
    process::ExitCode,
};

use syslet::{sys, Context, Syslet};

/// How the walk makes its calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// One plain system call at a time.
    Plain,
    /// Plain calls from a pool of threads.
    Pool(usize),
    /// Syslet chains, from this thread.
    Syslet,
}

/// Threads of the pool unless `--threads` says otherwise, and spares of
/// the syslet context: as many blocking calls in flight either way.
pub const DEFAULT_THREADS: usize = 16;

/// A syslet context for the walk: spares and threads enough for
/// [`DEFAULT_THREADS`] blocked calls at once. `None` (with a note on
/// stderr) if the device is absent or refuses.
pub fn open_context() -> Option<Context> {
    let setup = sys::syslet_setup {
        spares: DEFAULT_THREADS as u32,
        max_threads: 2 * DEFAULT_THREADS as u32,
        ring_entries: 512,
        max_pending: 1024,
        ..Default::default()
    };
    match Syslet::open().and_then(|dev| Context::with_setup(dev, setup)) {
        Ok(ctx) => Some(ctx),
        Err(e) => {
            eprintln!("syslet-du: {}: {e}; plain calls instead", syslet::DEVICE_PATH);
            None
        }
    }
}

/// Walks `root` in `mode` (syslet mode with `ctx`).
pub fn walk(mode: Mode, ctx: Option<&Context>, root: &CString, read: bool) -> tree::Walk {
    match (mode, ctx) {
        (Mode::Syslet, Some(ctx)) => chains::walk(ctx, root, read),
        (Mode::Pool(n), _) => pool::walk(root, read, n),
        _ => plain::walk(root, read),
    }
}

/// The `du -k` lines of `root` as `mode` walks it, and whether all went well.
pub fn du(mode: Mode, ctx: Option<&Context>, root: &str, read: bool, out: &mut impl Write) -> io::Result<bool> {
    let croot = CString::new(root).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    let root_stat =
        plain::lstat_at(libc::AT_FDCWD, &croot).map_err(io::Error::from_raw_os_error)?;
    if !root_stat.is_dir() {
        writeln!(out, "{}\t{root}", root_stat.blocks.div_ceil(2))?;
        return Ok(true);
    }
    let walk = walk(mode, ctx, &croot, read);
    let (_, failed) = tree::report(root, &root_stat, &walk, out)?;
    Ok(!failed)
}

struct Args {
    mode: Mode,
    read: bool,
    summary: bool,
    bench: Option<usize>,
    root: String,
}

fn usage() -> ExitCode {
    eprintln!("usage: syslet-du [--mode syslet|plain|pool] [--threads N] [--read] [-s] DIR");
    eprintln!("       syslet-du --bench ROUNDS DIR");
    ExitCode::from(2)
}

fn parse() -> Option<Args> {
    let mut args = std::env::args().skip(1);
    let (mut mode, mut threads) = ("syslet".to_string(), DEFAULT_THREADS);
    let (mut read, mut summary, mut bench, mut root) = (false, false, None, None);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--mode" => mode = args.next()?,
            "--threads" => threads = args.next()?.parse().ok().filter(|&n| n > 0)?,
            "--read" => read = true,
            "-s" => summary = true,
            "--bench" => bench = Some(args.next()?.parse().ok().filter(|&n| n > 0)?),
            _ if a.starts_with('-') => return None,
            _ if root.is_none() => root = Some(a),
            _ => return None,
        }
    }
    let mode = match mode.as_str() {
        "syslet" => Mode::Syslet,
        "plain" => Mode::Plain,
        "pool" => Mode::Pool(threads),
        _ => return None,
    };
    let mut root = root?;
    while root.len() > 1 && root.ends_with('/') {
        root.pop();
    }
    Some(Args {
        mode,
        read,
        summary,
        bench,
        root,
    })
}

fn main() -> ExitCode {
    let Some(args) = parse() else {
        return usage();
    };
    if let Some(rounds) = args.bench {
        return match bench::run(&args.root, rounds) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("syslet-du: bench: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let ctx = match args.mode {
        Mode::Syslet => open_context(),
        _ => None,
    };
    let mut lines = Vec::new();
    let ok = match du(args.mode, ctx.as_ref(), &args.root, args.read, &mut lines) {
        Ok(ok) => ok,
        Err(e) => {
            eprintln!("syslet-du: cannot access '{}': {e}", args.root);
            return ExitCode::FAILURE;
        }
    };
    let text = String::from_utf8_lossy(&lines);
    let shown = if args.summary {
        text.lines().last().map(|l| format!("{l}\n")).unwrap_or_default()
    } else {
        text.into_owned()
    };
    if io::stdout().write_all(shown.as_bytes()).is_err() {
        return ExitCode::FAILURE;
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

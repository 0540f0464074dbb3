//! `--bench`: every mode on the same tree, the page cache dropped before
//! each walk, so every inode, directory and data block is read from the
//! device (make bench runs it on ext4 on a null_blk device whose reads
//! complete 50 us after submission). Every walk's output must equal the
//! first one's: a mode that is fast but wrong fails the benchmark.
//!
//! Prints a line per mode and series for people, and `data walk-SERIES
//! MODE-INDEX ENTRIES-PER-SECOND` lines for scripts/bench-report.py.

use std::{
    io,
    os::fd::{AsFd, AsRawFd},
    time::Instant,
};

use crate::{du, open_context, Mode, DEFAULT_THREADS};

fn drop_caches() -> io::Result<()> {
    // SAFETY: no arguments.
    unsafe { libc::sync() };
    std::fs::write("/proc/sys/vm/drop_caches", "3")
}

/// A counter of the context's fdinfo ("syslet-went-async", ...).
fn fdinfo(fd: i32, name: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/thread-self/fdinfo/{fd}"))
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(':')?.trim().parse().ok())
        })
        .unwrap_or(0)
}

/// Runs the benchmark on `root`, `rounds` walks per mode and series.
///
/// `SYSLET_BENCH_ONLY=walk-MODE:SERIES` (MODE plain, pool, syslet, or
/// none; SERIES 0 both, 1 the stat walk, 2 the read walk) walks in that
/// mode alone, after the reference walk, and prints the entries walked for
/// `scripts/profile.sh`, which profiles it.
pub fn run(root: &str, rounds: usize) -> io::Result<()> {
    let ctx = open_context().ok_or_else(|| io::Error::other("no syslet context"))?;
    let fd = ctx.as_fd().as_raw_fd();
    let modes = [
        ("plain calls", Mode::Plain),
        ("pool of 16 threads", Mode::Pool(DEFAULT_THREADS)),
        ("syslet chains", Mode::Syslet),
    ];
    let mut reference = Vec::new();
    du(Mode::Plain, None, root, false, &mut reference)?;
    if let Some(only) = std::env::var("SYSLET_BENCH_ONLY").ok().and_then(|o| {
        let (mode, series) = o.strip_prefix("walk-")?.split_once(':')?;
        Some((mode.to_owned(), series.parse::<u32>().ok()?))
    }) {
        return run_only(&ctx, root, rounds, &only.0, only.1, &reference);
    }
    let entries = reference.len(); // bytes: only for the check below
    let dirs = reference.iter().filter(|&&b| b == b'\n').count();
    let mut files = 0usize;
    for series in ["stat", "read"] {
        let read = series == "read";
        println!(
            "## cold-cache tree walk of {root} ({dirs} directories): getdents64 + lstat{} ({rounds} walks each, caches dropped before each)",
            if read { " + open/read/close of every file" } else { "" }
        );
        let mut per_s = Vec::new();
        for (i, (name, mode)) in modes.iter().enumerate() {
            let mut times = Vec::new();
            let went0 = fdinfo(fd, "syslet-went-async");
            for _ in 0..rounds {
                drop_caches()?;
                let mut out = Vec::with_capacity(entries);
                let t0 = Instant::now();
                let ok = du(*mode, Some(&ctx), root, read, &mut out)?;
                times.push(t0.elapsed().as_secs_f64());
                if !ok || out != reference {
                    return Err(io::Error::other(format!("{name} printed something else")));
                }
            }
            times.sort_by(f64::total_cmp);
            let median = times[times.len() / 2];
            if files == 0 {
                files = count_entries(root)?;
            }
            let rate = files as f64 / median;
            per_s.push(rate);
            let went = fdinfo(fd, "syslet-went-async") - went0;
            println!(
                "{name:<22} {:>8.1} ms [{:.1}..{:.1}]  {rate:>9.0} entries/s  {:.2}x plain{}",
                median * 1e3,
                times[0] * 1e3,
                times[times.len() - 1] * 1e3,
                rate / per_s[0],
                if *mode == Mode::Syslet {
                    format!(", {:.0} chains went async per walk", went as f64 / rounds as f64)
                } else {
                    String::new()
                }
            );
            println!("data walk-{series} {i} {rate:.0}");
        }
        println!(
            "syslet chains: {:.2}x the pool, {:.2}x plain calls\n",
            per_s[2] / per_s[1],
            per_s[2] / per_s[0]
        );
    }
    Ok(())
}

/// The walks of one mode alone (`run`), of one series (1 stat, 2 read) or
/// both (0), checked as `run`'s.
fn run_only(
    ctx: &syslet::Context,
    root: &str,
    rounds: usize,
    only: &str,
    series: u32,
    reference: &[u8],
) -> io::Result<()> {
    let mode = match only {
        "plain" => Some(Mode::Plain),
        "pool" => Some(Mode::Pool(DEFAULT_THREADS)),
        "syslet" => Some(Mode::Syslet),
        "none" => None,
        _ => return Err(io::Error::other(format!("no walk mode {only}"))),
    };
    // Counted before, so that the profile's base run counts it too.
    let entries = count_entries(root)?;
    let mut walked = 0;
    for read in [false, true] {
        if series == 1 + u32::from(!read) {
            continue;
        }
        for _ in 0..rounds {
            // The base run (none) drops the caches as often, so that the
            // profile's difference is the walks alone.
            drop_caches()?;
            let Some(mode) = mode else { continue };
            let mut out = Vec::new();
            if !du(mode, Some(ctx), root, read, &mut out)? || out != reference {
                return Err(io::Error::other(format!("{only} printed something else")));
            }
            walked += entries;
        }
    }
    // What the profile divides by.
    println!("data reads-done {walked}");
    Ok(())
}

/// Entries (files, directories, links) under `root`, itself included.
fn count_entries(root: &str) -> io::Result<usize> {
    let mut n = 1;
    for e in std::fs::read_dir(root)? {
        let e = e?;
        n += if e.file_type()?.is_dir() {
            count_entries(&e.path().to_string_lossy())?
        } else {
            1
        };
    }
    Ok(n)
}

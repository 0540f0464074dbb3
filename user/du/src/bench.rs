//! `--bench`: every mode on the same tree, the page cache dropped before
//! each walk, so every inode, directory and data block is read from the
//! device (make bench runs it on ext4 on a null_blk device whose reads
//! complete 50 us after submission). Every walk's output must equal the
//! first one's: a mode that is fast but wrong fails the benchmark.
//!
//! Prints a line per mode and series for people (with the share of the
//! CPUs' time, all CPUs together, that was busy during its walks), and `data walk-SERIES
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

/// The busy and the idle time of all CPUs so far, in clock ticks
/// (`/proc/stat`'s first line; iowait counts as idle).
fn cpu_ticks() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let fields: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    let idle = fields.get(3).copied().unwrap_or(0) + fields.get(4).copied().unwrap_or(0);
    (fields.iter().sum::<u64>().saturating_sub(idle), idle)
}

/// Inter-processor interrupts so far, all CPUs together: rescheduling
/// (a wake-up on another CPU), function calls, TLB shootdowns (an unmap
/// in a process that ran on another CPU), from `/proc/interrupts`.
fn ipis() -> [u64; 3] {
    let text = std::fs::read_to_string("/proc/interrupts").unwrap_or_default();
    let mut n = [0; 3];
    for line in text.lines() {
        let mut fields = line.split_whitespace();
        let i = match fields.next() {
            Some("RES:") => 0,
            Some("CAL:") => 1,
            Some("TLB:") => 2,
            _ => continue,
        };
        n[i] = fields.map_while(|f| f.parse::<u64>().ok()).sum();
    }
    n
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
            let (mut busy, mut idle) = (0, 0);
            let mut ipi = [0; 3];
            let went0 = fdinfo(fd, "syslet-went-async");
            for _ in 0..rounds {
                drop_caches()?;
                let mut out = Vec::with_capacity(entries);
                let cpu0 = cpu_ticks();
                let ipi0 = ipis();
                let t0 = Instant::now();
                let ok = du(*mode, Some(&ctx), root, read, &mut out)?;
                times.push(t0.elapsed().as_secs_f64());
                let cpu1 = cpu_ticks();
                for (sum, (a, b)) in ipi.iter_mut().zip(ipis().iter().zip(ipi0)) {
                    *sum += a.saturating_sub(b);
                }
                busy += cpu1.0.saturating_sub(cpu0.0);
                idle += cpu1.1.saturating_sub(cpu0.1);
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
            // How much of the CPUs' time the walks kept busy: a walk at
            // 100% is CPU-bound, one well below has only I/O to wait for.
            println!(
                "{name:<22} {:>8.1} ms [{:.1}..{:.1}]  {rate:>9.0} entries/s  cpus {:>3.0}% busy  {:.2}x plain{}",
                median * 1e3,
                times[0] * 1e3,
                times[times.len() - 1] * 1e3,
                100.0 * busy as f64 / (busy + idle).max(1) as f64,
                rate / per_s[0],
                if *mode == Mode::Syslet {
                    format!(", {:.0} chains went async per walk", went as f64 / rounds as f64)
                } else {
                    String::new()
                }
            );
            let r = rounds.max(1) as u64;
            println!(
                "{:<22} IPIs per walk: {} rescheduling, {} function call, {} TLB shootdown",
                "",
                ipi[0] / r,
                ipi[1] / r,
                ipi[2] / r
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
        let wanted = match series {
            1 => !read,
            2 => read,
            _ => true,
        };
        if !wanted {
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

//! In-guest tests of `/dev/syslet` through the `syslet` crate.
//!
//! Prints one TAP line per case and exits non-zero if any failed. A case is
//! a function returning `Result<(), String>`; a panic fails the case, not the
//! program.

use std::panic;

use std::os::fd::AsFd;

use syslet::{sys, Atom, Syslet};

type Case = fn() -> Result<(), String>;

/// Turns a false condition into a failure that says where it happened.
macro_rules! ensure {
    ($cond:expr) => {
        if !$cond {
            return Err(format!("{}:{}: {}", file!(), line!(), stringify!($cond)));
        }
    };
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(format!("{}:{}: {}", file!(), line!(), format!($($fmt)+)));
        }
    };
}

// After `ensure!`, which it uses.
mod safe;

fn open() -> Result<Syslet, String> {
    Syslet::open().map_err(|e| format!("open {}: {e}", syslet::DEVICE_PATH))
}

fn query_reports_abi_version() -> Result<(), String> {
    let q = open()?.query().map_err(|e| e.to_string())?;
    ensure!(
        q.abi_version == sys::SYSLET_ABI_VERSION,
        "abi_version {}",
        q.abi_version
    );
    ensure!(q.query_size as usize == std::mem::size_of::<sys::syslet_query>());
    Ok(())
}

fn unknown_ioctl_is_enotty() -> Result<(), String> {
    let dev = open()?;
    // _IO(SYSLET_IOC_MAGIC, 0x1e): a number the module does not define.
    let cmd = (sys::SYSLET_IOC_MAGIC << 8) | 0x1e;
    // SAFETY: a command without a direction passes no pointer.
    let err = unsafe { dev.ioctl(cmd, 0) }.unwrap_err();
    ensure!(err.raw_os_error() == Some(libc::ENOTTY), "got {err}");
    Ok(())
}

fn contexts_are_independent_files() -> Result<(), String> {
    let a = open()?;
    let b = open()?;
    ensure!(a.query().is_ok() && b.query().is_ok());
    drop(a);
    ensure!(b.query().is_ok(), "closing one context broke the other");
    Ok(())
}

fn query_bad_pointer_is_efault() -> Result<(), String> {
    let dev = open()?;
    // SAFETY: the kernel must refuse the kernel-half address without
    // writing anything; our memory is not touched.
    let err = unsafe { dev.ioctl(sys::SYSLET_IOC_QUERY, 0xffff_8000_0000_0000) }.unwrap_err();
    ensure!(err.raw_os_error() == Some(libc::EFAULT), "got {err}");
    Ok(())
}

fn chain_passes_results_along() -> Result<(), String> {
    let dev = open()?;
    let path = c"/proc/self/stat";
    let mut buf = [0u8; 256];
    let (mut fd, mut n, mut closed) = (-1i64, -1i64, -1i64);
    let mut chain = [
        Atom::syscall(libc::SYS_openat)
            .arg(0, libc::AT_FDCWD as u64)
            .arg(1, path.as_ptr() as u64)
            .arg(2, libc::O_RDONLY as u64)
            .stop_on(syslet::STOP_NEGATIVE)
            .result_into(&mut fd),
        Atom::syscall(libc::SYS_read)
            .arg_from(0, &fd)
            .arg(1, buf.as_mut_ptr() as u64)
            .arg(2, buf.len() as u64)
            .result_into(&mut n),
        Atom::syscall(libc::SYS_close)
            .arg_from(0, &fd)
            .result_into(&mut closed)
            .cookie(3),
    ];
    syslet::link(&mut chain);
    // SAFETY: the chain, the path, the buffer and the result slots all live
    // on this stack frame until `run` returns.
    let o = unsafe { dev.run(&chain[0]) }.map_err(|e| e.to_string())?;
    ensure!(o.atoms_run == 3 && !o.stopped && !o.aborted, "{o:?}");
    ensure!(o.cookie == 3 && o.result == 0 && closed == 0, "{o:?}");
    ensure!(n > 0, "read returned {n}");
    // /proc/self/stat starts with our pid.
    let text = String::from_utf8_lossy(&buf[..n as usize]);
    let pid = std::process::id().to_string();
    ensure!(text.starts_with(&pid), "{text}");
    Ok(())
}

fn counted_loop_and_refused_call() -> Result<(), String> {
    let dev = open()?;
    let (mut left, mut calls) = (5i64, 0i64);
    let mut chain = [
        Atom::add(&mut calls, 1),
        Atom::add(&mut left, -1).stop_on(syslet::STOP_ZERO),
    ];
    syslet::link(&mut chain);
    // Close the loop: the second atom goes back to the first.
    let (first, second) = chain.split_at_mut(1);
    second[0].set_next(&first[0]);
    // SAFETY: as above, everything lives until `run` returns.
    let o = unsafe { dev.run(&chain[0]) }.map_err(|e| e.to_string())?;
    ensure!(
        o.stopped && o.atoms_run == 10 && calls == 5 && left == 0,
        "{o:?} {calls} {left}"
    );

    let fork = Atom::syscall(libc::SYS_fork);
    // SAFETY: a refused call never runs; the atom lives across the call.
    let o = unsafe { dev.run(&fork) }.map_err(|e| e.to_string())?;
    ensure!(
        o.aborted && o.result == -(libc::EOPNOTSUPP as i64) && o.atoms_run == 0,
        "{o:?}"
    );
    Ok(())
}

/// Waits until the context's fdinfo shows `want` parked spares.
fn wait_for_spares(dev: &Syslet, want: u32) -> Result<(), String> {
    use std::os::fd::AsRawFd;
    let path = format!("/proc/thread-self/fdinfo/{}", dev.as_fd().as_raw_fd());
    for _ in 0..500 {
        let text = std::fs::read_to_string(&path).map_err(|e| e.to_string())?;
        if text.contains(&format!("syslet-spares:\t{want}\n")) {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    Err(format!("no {want} spares parked"))
}

/// A context with one spare to keep parked, and its ring mapped.
fn open_with_ring() -> Result<(Syslet, syslet::Ring), String> {
    let dev = open()?;
    let setup = dev
        .setup_with(sys::syslet_setup {
            spares: 1,
            ..Default::default()
        })
        .map_err(|e| e.to_string())?;
    let ring = dev.map_ring(setup.ring_size).map_err(|e| e.to_string())?;
    Ok((dev, ring))
}

fn blocking_read_completes_through_the_ring() -> Result<(), String> {
    let (dev, mut ring) = open_with_ring()?;
    wait_for_spares(&dev, 1)?;
    let mut p = [0i32; 2];
    // SAFETY: `p` has room for the two descriptors.
    ensure!(unsafe { libc::pipe(p.as_mut_ptr()) } == 0);
    let mut buf = [0u8; 8];
    let mut n = -1i64;
    let read = Atom::syscall(libc::SYS_read)
        .arg(0, p[0] as u64)
        .arg(1, buf.as_mut_ptr() as u64)
        .arg(2, buf.len() as u64)
        .result_into(&mut n)
        .cookie(0x51);
    // SAFETY: the atom, the buffer and `n` live until the completion has
    // been reaped below.
    let submitted = unsafe { dev.submit_with(&[&read], &mut [syslet::Outcome::default()], 0) }
        .map_err(|e| e.to_string())?;
    ensure!(
        submitted == syslet::Submitted::Queued { done: 0, queued: 1 },
        "{submitted:?}"
    );
    // SAFETY: writing two bytes from a static buffer to our pipe.
    ensure!(unsafe { libc::write(p[1], b"ok".as_ptr().cast(), 2) } == 2);
    dev.wait(1, Some(std::time::Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    let got: Vec<_> = ring.completions().collect();
    ensure!(
        got.len() == 1 && got[0].cookie == 0x51 && got[0].result == 2,
        "{got:?}"
    );
    ensure!(n == 2 && &buf[..2] == b"ok");
    ensure!(ring.ready() == 0 && ring.overflow() == 0);
    Ok(())
}

/// A read nobody feeds, cancelled by cookie; then one given a deadline.
fn cancel_and_deadline() -> Result<(), String> {
    let (dev, mut ring) = open_with_ring()?;
    let mut p = [0i32; 2];
    // SAFETY: `p` has room for the two descriptors.
    ensure!(unsafe { libc::pipe(p.as_mut_ptr()) } == 0);
    let mut buf = [0u8; 1];
    let read = Atom::syscall(libc::SYS_read)
        .arg(0, p[0] as u64)
        .arg(1, buf.as_mut_ptr() as u64)
        .arg(2, 1)
        .cookie(0xca);
    wait_for_spares(&dev, 1)?;
    // SAFETY: the atom and the buffer live until the completion is reaped.
    let submitted = unsafe { dev.submit_with(&[&read], &mut [syslet::Outcome::default()], 0) }
        .map_err(|e| e.to_string())?;
    ensure!(matches!(submitted, syslet::Submitted::Queued { .. }), "{submitted:?}");
    ensure!(dev.cancel(0xca).map_err(|e| e.to_string())? == 1);
    dev.wait(1, Some(std::time::Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    let got: Vec<_> = ring.completions().collect();
    ensure!(
        got.len() == 1 && got[0].cancelled && got[0].result == -(libc::ECANCELED as i64),
        "{got:?}"
    );
    ensure!(dev.cancel(0xca).is_err_and(|e| e.raw_os_error() == Some(libc::ENOENT)));
    wait_for_spares(&dev, 1)?;
    // SAFETY: as above.
    let submitted = unsafe {
        dev.submit_timeout(
            &[&read],
            &mut [syslet::Outcome::default()],
            0,
            Some(std::time::Duration::from_millis(20)),
        )
    }
    .map_err(|e| e.to_string())?;
    ensure!(matches!(submitted, syslet::Submitted::Queued { .. }), "{submitted:?}");
    dev.wait(1, Some(std::time::Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    let got: Vec<_> = ring.completions().collect();
    ensure!(
        got.len() == 1 && got[0].timed_out && got[0].result == -(libc::ETIME as i64),
        "{got:?}"
    );
    Ok(())
}

/// A registered buffer: a direct read of null_blk that names it goes in
/// flight with no thread; one that names a buffer not registered fails
/// with `-EFAULT`; a second registration is `EBUSY`.
fn registered_buffer_read() -> Result<(), String> {
    use std::os::{fd::AsRawFd, unix::fs::OpenOptionsExt};

    let (dev, mut ring) = open_with_ring()?;
    let disk = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECT)
        .open("/dev/nullb0")
        .map_err(|e| format!("/dev/nullb0: {e}"))?;
    // Page-aligned, as O_DIRECT wants: a fresh anonymous mapping.
    // SAFETY: a new private mapping; nothing else refers to it.
    let area = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            8192,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    ensure!(area != libc::MAP_FAILED);
    // SAFETY: the mapping is 8192 bytes, ours, and outlives `buf`.
    let buf = unsafe { std::slice::from_raw_parts_mut(area.cast::<u8>(), 8192) };
    let ptr = buf.as_mut_ptr() as u64;
    dev.register_buffers(&[std::io::IoSliceMut::new(buf)])
        .map_err(|e| format!("register: {e}"))?;
    let again = dev
        .register_buffers(&[std::io::IoSliceMut::new(buf)])
        .err()
        .and_then(|e| e.raw_os_error());
    ensure!(again == Some(libc::EBUSY), "{again:?}");
    let read = |index: u16| {
        Atom::syscall(libc::SYS_pread64)
            .arg(0, disk.as_fd().as_raw_fd() as u64)
            .arg(1, ptr + 4096)
            .arg(2, 4096)
            .arg(3, 0)
            .fixed_buffer(index)
            .cookie(0x70 + index as u64)
    };
    let (good, bad) = (read(0), read(1));
    let mut out = [syslet::Outcome::default()];
    // SAFETY: the atoms and the mapping they read into live until the
    // completion is reaped below; the bad one runs synchronously.
    let submitted = unsafe { dev.submit_with(&[&bad], &mut out, 0) }.map_err(|e| e.to_string())?;
    ensure!(
        submitted == syslet::Submitted::Done && out[0].result == -(libc::EFAULT as i64),
        "{submitted:?} {:?}",
        out[0]
    );
    // SAFETY: as above.
    let submitted = unsafe { dev.submit_with(&[&good], &mut out, 0) }.map_err(|e| e.to_string())?;
    ensure!(
        submitted == syslet::Submitted::Queued { done: 0, queued: 1 },
        "{submitted:?}"
    );
    dev.wait(1, Some(std::time::Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    let got: Vec<_> = ring.completions().collect();
    ensure!(
        got.len() == 1 && got[0].cookie == 0x70 && got[0].result == 4096,
        "{got:?}"
    );
    Ok(())
}

const CASES: &[(&str, Case)] = &[
    ("rust_query_reports_abi_version", query_reports_abi_version),
    ("rust_unknown_ioctl_is_enotty", unknown_ioctl_is_enotty),
    (
        "rust_contexts_are_independent_files",
        contexts_are_independent_files,
    ),
    (
        "rust_query_bad_pointer_is_efault",
        query_bad_pointer_is_efault,
    ),
    (
        "rust_chain_passes_results_along",
        chain_passes_results_along,
    ),
    (
        "rust_counted_loop_and_refused_call",
        counted_loop_and_refused_call,
    ),
    ("rust_registered_buffer_read", registered_buffer_read),
    (
        "rust_blocking_read_completes_through_the_ring",
        blocking_read_completes_through_the_ring,
    ),
    ("rust_cancel_and_deadline", cancel_and_deadline),
];

fn main() {
    panic::set_hook(Box::new(|info| println!("# panic: {info}")));
    println!("1..{}", CASES.len() + safe::CASES.len());
    let mut failed = 0;
    for (i, (name, case)) in CASES.iter().chain(safe::CASES).enumerate() {
        match panic::catch_unwind(case) {
            Ok(Ok(())) => println!("ok {} {name}", i + 1),
            Ok(Err(why)) => {
                println!("# {why}");
                println!("not ok {} {name}", i + 1);
                failed += 1;
            }
            Err(_) => {
                println!("not ok {} {name}", i + 1);
                failed += 1;
            }
        }
    }
    std::process::exit(if failed == 0 { 0 } else { 1 });
}

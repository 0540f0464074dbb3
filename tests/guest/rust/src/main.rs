//! In-guest tests of `/dev/syslet` through the `syslet` crate.
//!
//! Prints one TAP line per case and exits non-zero if any failed. A case is
//! a function returning `Result<(), String>`; a panic fails the case, not the
//! program.

use std::panic;

use syslet::{sys, Syslet};

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

fn open() -> Result<Syslet, String> {
    Syslet::open().map_err(|e| format!("open {}: {e}", syslet::DEVICE_PATH))
}

fn query_reports_abi_version() -> Result<(), String> {
    let q = open()?.query().map_err(|e| e.to_string())?;
    ensure!(q.abi_version == sys::SYSLET_ABI_VERSION, "abi_version {}", q.abi_version);
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

const CASES: &[(&str, Case)] = &[
    ("rust_query_reports_abi_version", query_reports_abi_version),
    ("rust_unknown_ioctl_is_enotty", unknown_ioctl_is_enotty),
    ("rust_contexts_are_independent_files", contexts_are_independent_files),
    ("rust_query_bad_pointer_is_efault", query_bad_pointer_is_efault),
];

fn main() {
    panic::set_hook(Box::new(|info| println!("# panic: {info}")));
    println!("1..{}", CASES.len());
    let mut failed = 0;
    for (i, (name, case)) in CASES.iter().enumerate() {
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

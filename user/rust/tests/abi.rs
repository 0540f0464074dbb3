//! The C header and this crate must agree on the ABI: compile a C program
//! against `include/uapi/linux/syslet.h` that prints every size, offset and
//! ioctl number, and compare each with what Rust sees.

use std::{collections::HashMap, mem::offset_of, mem::size_of, path::PathBuf, process::Command};
use syslet::sys;

/// Every fact both sides must agree on: `(name, C expression, Rust value)`.
fn facts() -> Vec<(String, String, u64)> {
    let mut v: Vec<(String, String, u64)> = Vec::new();
    macro_rules! constants {
        ($($c:ident),*) => {$(
            v.push((stringify!($c).into(), stringify!($c).into(), sys::$c as u64));
        )*};
    }
    macro_rules! layout {
        ($($t:ident { $($f:ident),* })*) => {$(
            v.push((
                format!("sizeof({})", stringify!($t)),
                format!("sizeof(struct {})", stringify!($t)),
                size_of::<sys::$t>() as u64,
            ));
            $(v.push((
                format!("{}.{}", stringify!($t), stringify!($f)),
                format!("offsetof(struct {}, {})", stringify!($t), stringify!($f)),
                offset_of!(sys::$t, $f) as u64,
            ));)*
        )*};
    }
    constants!(
        SYSLET_ABI_VERSION,
        SYSLET_IOC_MAGIC,
        SYSLET_IOC_QUERY,
        SYSLET_IOC_SETUP,
        SYSLET_IOC_SUBMIT,
        SYSLET_IOC_WAIT,
        SYSLET_SUBMIT_SYNC_ONLY,
        SYSLET_SUBMIT_ASYNC_NOW,
        SYSLET_SUBMIT_RING,
        SYSLET_SETUP_NO_SPARES,
        SYSLET_FEAT_CACHEMISS,
        SYSLET_OP_BASE,
        SYSLET_OP_ADD,
        SYSLET_ATOM_STOP_NONZERO,
        SYSLET_ATOM_STOP_ZERO,
        SYSLET_ATOM_STOP_NEGATIVE,
        SYSLET_ATOM_STOP_NONPOSITIVE,
        SYSLET_ATOM_SKIP_ON_STOP,
        SYSLET_OUTCOME_STOPPED,
        SYSLET_OUTCOME_ABORTED,
        SYSLET_OUTCOME_KILLED,
        SYSLET_FEAT_CHAINS,
        SYSLET_FEAT_SECCOMP,
        SYSLET_FEAT_SAME_IDENTITY,
        SYSLET_FEAT_SAME_THREAD,
        SYSLET_FEAT_CANCEL,
        SYSLET_IOC_CANCEL,
        SYSLET_CANCEL_ALL,
        SYSLET_OUTCOME_CANCELLED,
        SYSLET_OUTCOME_TIMED_OUT,
        SYSLET_SUBMIT_TIMEOUT,
        SYSLET_SUBMIT_TIMEOUT_ABS,
        SYSLET_SUBMIT_RETURN_ON_BLOCK,
        SYSLET_FEAT_RETURN_ON_BLOCK,
        SYSLET_FEAT_CONCURRENT_BATCH,
        SYSLET_FEAT_THREAD_FREE_IO,
        SYSLET_FEAT_FIXED_BUFFERS,
        SYSLET_ATOM_FIXED_BUFFER,
        SYSLET_IOC_REGISTER_BUFFERS,
        SYSLET_MAX_BUFFERS,
        SYSLET_MAX_BUFFER_LEN
    );
    layout! {
        syslet_query { abi_version, query_size, features, atom_size, max_batch, max_atom_budget, max_threads, reserved }
        syslet_atom { nr, flags, result, next, args, cookie }
        syslet_setup { atom_budget, flags, spares, max_threads, max_pending, ring_entries, ring_size, reserved }
        syslet_submit { chains, nr_chains, flags, done, queued, outcomes, timeout_ns, reserved }
        syslet_outcome { cookie, result, last_atom, atoms_run, flags }
        syslet_wait { min_complete, flags, timeout_ns, available, reserved0, reserved }
        syslet_cancel { cookie, flags, found, reserved }
        syslet_buffers { iovecs, nr, flags, reserved }
        syslet_ring { head, tail, entries, mask, overflow, flags, entries_offset, reserved }
    }
    v
}

/// Compiles and runs the C side for one `-m32`/`-m64` flag.
fn c_facts(mflag: &str) -> HashMap<String, u64> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let src = tmp.join("abi_facts.c");
    let exe = tmp.join(format!("abi_facts{mflag}"));
    let mut c = String::from(
        "#include <stddef.h>\n#include <stdio.h>\n#include <linux/syslet.h>\nint main(void) {\n",
    );
    for (name, expr, _) in facts() {
        c += &format!("\tprintf(\"%s %llu\\n\", \"{name}\", (unsigned long long)({expr}));\n");
    }
    c += "\treturn 0;\n}\n";
    std::fs::write(&src, c).unwrap();
    let status = Command::new("cc")
        .arg(mflag)
        .arg("-Wall")
        .arg("-Werror")
        .arg("-I")
        .arg(root.join("include/uapi"))
        .arg("-o")
        .arg(&exe)
        .arg(&src)
        .status()
        .expect("cannot run cc");
    assert!(status.success(), "cc {mflag} failed");
    let out = Command::new(&exe)
        .output()
        .expect("cannot run the C program");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let (k, v) = l.rsplit_once(' ').unwrap();
            (k.to_string(), v.parse().unwrap())
        })
        .collect()
}

#[test]
fn c_and_rust_agree_on_every_size_offset_and_ioctl() {
    let c = c_facts("-m64");
    let rust = facts();
    assert_eq!(c.len(), rust.len());
    for (name, _, value) in &rust {
        assert_eq!(c.get(name), Some(value), "C and Rust disagree on {name}");
    }
}

/// One layout for 32-bit and 64-bit callers: the module relies on it
/// (no compat_ioctl translation).
#[test]
fn layout_is_the_same_for_32_bit_callers() {
    // gcc -m32 comes from gcc-multilib, which scripts/bootstrap.sh installs.
    assert_eq!(c_facts("-m32"), c_facts("-m64"));
}

//! The C header and this crate must agree on the ABI: compile a C program
//! against `include/uapi/linux/syslet.h` that prints every size, offset and
//! ioctl number, and compare each with what Rust sees.

use std::{collections::HashMap, mem::offset_of, mem::size_of, path::PathBuf, process::Command};
use syslet::sys;

/// `(name, C expression)` pairs evaluated by the C compiler.
const C_FACTS: &[(&str, &str)] = &[
    ("SYSLET_ABI_VERSION", "SYSLET_ABI_VERSION"),
    ("SYSLET_IOC_MAGIC", "SYSLET_IOC_MAGIC"),
    ("SYSLET_IOC_QUERY", "SYSLET_IOC_QUERY"),
    ("sizeof(syslet_query)", "sizeof(struct syslet_query)"),
    ("syslet_query.abi_version", "offsetof(struct syslet_query, abi_version)"),
    ("syslet_query.query_size", "offsetof(struct syslet_query, query_size)"),
    ("syslet_query.features", "offsetof(struct syslet_query, features)"),
    ("syslet_query.reserved", "offsetof(struct syslet_query, reserved)"),
];

fn rust_facts() -> HashMap<&'static str, u64> {
    HashMap::from([
        ("SYSLET_ABI_VERSION", sys::SYSLET_ABI_VERSION as u64),
        ("SYSLET_IOC_MAGIC", sys::SYSLET_IOC_MAGIC as u64),
        ("SYSLET_IOC_QUERY", sys::SYSLET_IOC_QUERY as u64),
        ("sizeof(syslet_query)", size_of::<sys::syslet_query>() as u64),
        ("syslet_query.abi_version", offset_of!(sys::syslet_query, abi_version) as u64),
        ("syslet_query.query_size", offset_of!(sys::syslet_query, query_size) as u64),
        ("syslet_query.features", offset_of!(sys::syslet_query, features) as u64),
        ("syslet_query.reserved", offset_of!(sys::syslet_query, reserved) as u64),
    ])
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
    for (name, expr) in C_FACTS {
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
    let out = Command::new(&exe).output().expect("cannot run the C program");
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
    let rust = rust_facts();
    assert_eq!(c.len(), C_FACTS.len());
    for (name, value) in &rust {
        assert_eq!(c.get(*name), Some(value), "C and Rust disagree on {name}");
    }
}

/// One layout for 32-bit and 64-bit callers: the module relies on it
/// (no compat_ioctl translation).
#[test]
fn layout_is_the_same_for_32_bit_callers() {
    // gcc -m32 comes from gcc-multilib, which scripts/bootstrap.sh installs.
    assert_eq!(c_facts("-m32"), c_facts("-m64"));
}

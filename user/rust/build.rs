//! Generates the raw ABI (`syslet::sys`) from the uapi header, the single
//! source of truth shared with the kernel module.

use std::{env, path::PathBuf};

fn main() {
    let header = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap())
        .join("../../include/uapi/linux/syslet.h");
    println!("cargo:rerun-if-changed={}", header.display());
    // Same libclang as the kernel build (scripts/lib.sh).
    println!("cargo:rerun-if-env-changed=LIBCLANG_PATH");
    let bindings = bindgen::Builder::default()
        .header(header.to_str().expect("header path is UTF-8"))
        .allowlist_item("syslet_.*|SYSLET_.*")
        .clang_macro_fallback()
        .derive_default(true)
        .generate()
        .expect("bindgen could not read include/uapi/linux/syslet.h");
    let out = PathBuf::from(env::var("OUT_DIR").unwrap()).join("syslet_uapi.rs");
    bindings
        .write_to_file(out)
        .expect("cannot write the generated bindings");
}

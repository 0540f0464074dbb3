//! Reads a file with one chain (openat, fstat, read, close), without a line
//! of `unsafe`: `cargo run --example read_file -- /etc/hostname`.
//!
//! Needs `/dev/syslet` (the module loaded).

use std::{ffi::CString, io, os::unix::ffi::OsStringExt};

use syslet::{block_on, Chain, Context};

fn main() -> io::Result<()> {
    let path = std::env::args_os()
        .nth(1)
        .unwrap_or_else(|| "/etc/hostname".into());
    let path = CString::new(path.into_vec()).map_err(io::Error::other)?;

    let ctx = Context::open()?;
    let mut chain = Chain::new();
    let file = chain.open(path, libc::O_RDONLY);
    let stat = chain.fstat(file);
    let read = chain.read(file, Vec::with_capacity(4096));
    chain.close(file);

    let fut = ctx.submit(chain);
    let went_async = fut.went_async();
    let mut done = block_on(&ctx, fut)?.check()?;
    let size = done.stat(stat)?.st_size;
    let data = done.take_buf(read).unwrap_or_default();
    println!(
        "{} of {size} bytes ({}):",
        data.len(),
        if went_async { "asynchronously" } else { "synchronously" }
    );
    println!("{}", String::from_utf8_lossy(&data));
    Ok(())
}

//! In-guest tests of the safe API: [`Chain`]s of owned buffers run by a
//! [`Context`], their [`ChainFuture`](syslet::ChainFuture)s driven by the
//! crate's `block_on` and by tokio. No chain here is submitted with
//! `unsafe` (only the pipes are made with it).

use std::{
    fs::File,
    future::Future,
    io::Write,
    os::fd::{FromRawFd, OwnedFd},
    pin::Pin,
    task::{Context as TaskContext, Waker},
    thread,
    time::Duration,
};

use syslet::{block_on, join_all, sys, BufStep, Chain, ChainFuture, Context, Syslet};

use crate::{wait_for_spares, Case};

/// A context with `spares` spares, or with none on purpose (every chain
/// runs synchronously) if 0.
fn context(spares: u32) -> Result<Context, String> {
    let dev = Syslet::open().map_err(|e| format!("open {}: {e}", syslet::DEVICE_PATH))?;
    let setup = if spares == 0 {
        sys::syslet_setup {
            flags: sys::SYSLET_SETUP_NO_SPARES,
            ..Default::default()
        }
    } else {
        sys::syslet_setup {
            spares,
            ..Default::default()
        }
    };
    Context::with_setup(dev, setup).map_err(|e| e.to_string())
}

fn pipe() -> Result<(OwnedFd, OwnedFd), String> {
    let mut p = [0i32; 2];
    // SAFETY: `p` has room for the two descriptors.
    if unsafe { libc::pipe2(p.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(format!("pipe2: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: pipe2 just made them; nothing else owns them.
    Ok(unsafe { (OwnedFd::from_raw_fd(p[0]), OwnedFd::from_raw_fd(p[1])) })
}

/// Submits a read of `rx` into a 16-byte buffer.
fn pipe_read<'c>(ctx: &'c Context, rx: &OwnedFd) -> Result<(ChainFuture<'c>, BufStep), String> {
    let mut chain = Chain::new();
    let fd = chain.fd(rx).map_err(|e| e.to_string())?;
    let read = chain.read(fd, vec![0; 16]);
    Ok((ctx.submit(chain), read))
}

/// Writes `data` to `tx` after `ms` milliseconds, from another thread.
fn write_later(
    tx: OwnedFd,
    data: &'static [u8],
    ms: u64,
) -> thread::JoinHandle<std::io::Result<()>> {
    thread::spawn(move || {
        thread::sleep(Duration::from_millis(ms));
        File::from(tx).write_all(data)
    })
}

fn is_pending(fut: &mut ChainFuture<'_>) -> bool {
    Pin::new(fut)
        .poll(&mut TaskContext::from_waker(Waker::noop()))
        .is_pending()
}

/// The data a finished read step got.
fn read_data(
    done: Result<syslet::Finished, std::io::Error>,
    read: BufStep,
) -> Result<Vec<u8>, String> {
    let mut done = done.map_err(|e| e.to_string())?;
    let n = done
        .result(read)
        .map_err(|e| format!("{e}: {:?}", done.outcome()))?;
    let buf = done.take_buf(read).ok_or("no buffer")?;
    ensure!(
        buf.len() as i64 == n,
        "{} bytes for a result of {n}",
        buf.len()
    );
    Ok(buf)
}

/// openat, read, close of /proc/self/stat, the descriptor passed from step
/// to step: synchronous, the future ready at once.
fn open_read_close_synchronously() -> Result<(), String> {
    let ctx = context(0)?;
    let mut chain = Chain::new();
    let file = chain.open(c"/proc/self/stat", libc::O_RDONLY);
    let read = chain.read(file, Vec::with_capacity(256));
    let close = chain.close(file);
    let fut = ctx.submit(chain);
    ensure!(
        !fut.went_async(),
        "a chain that never blocks went asynchronous"
    );
    let mut done = block_on(&ctx, fut).map_err(|e| e.to_string())?;
    let o = *done.outcome();
    ensure!(
        o.atoms_run == 3 && !o.stopped && !o.aborted && o.result == 0,
        "{o:?}"
    );
    ensure!(done.result(file).is_ok_and(|fd| fd >= 0), "{o:?}");
    ensure!(done.result(close).is_ok_and(|r| r == 0), "{o:?}");
    ensure!(done.take_fd(file).is_none(), "the chain closed it");
    let text = read_data(Ok(done), read)?;
    let text = String::from_utf8_lossy(&text);
    ensure!(text.starts_with(&std::process::id().to_string()), "{text}");
    ensure!(ctx.in_flight() == 0);
    Ok(())
}

/// A read of an empty pipe goes asynchronous; another thread writes; the
/// future gives the owned buffer back with the data.
fn blocking_read_goes_asynchronous() -> Result<(), String> {
    let ctx = context(1)?;
    wait_for_spares(ctx.syslet(), 1)?;
    let (rx, tx) = pipe()?;
    let (mut fut, read) = pipe_read(&ctx, &rx)?;
    // The chain holds its own duplicate of the read end.
    drop(rx);
    ensure!(
        fut.went_async(),
        "a read of an empty pipe stayed synchronous"
    );
    ensure!(is_pending(&mut fut), "ready before anything was written");
    ensure!(ctx.in_flight() == 1);
    let writer = write_later(tx, b"hello", 50);
    let data = read_data(block_on(&ctx, fut), read)?;
    writer
        .join()
        .map_err(|_| "writer panicked")?
        .map_err(|e| e.to_string())?;
    ensure!(data == b"hello", "{data:?}");
    ensure!(ctx.in_flight() == 0 && ctx.abandoned() == 0);
    Ok(())
}

/// Three chains in flight at once, completed in another order than
/// submitted: each future gets its own buffer.
fn chains_complete_out_of_order() -> Result<(), String> {
    let ctx = context(3)?;
    wait_for_spares(ctx.syslet(), 3)?;
    let (rx_a, tx_a) = pipe()?;
    let (rx_b, tx_b) = pipe()?;
    let (rx_c, tx_c) = pipe()?;
    let (mut a, read_a) = pipe_read(&ctx, &rx_a)?;
    let (mut b, read_b) = pipe_read(&ctx, &rx_b)?;
    let (c, read_c) = pipe_read(&ctx, &rx_c)?;
    ensure!(
        a.went_async() && b.went_async() && c.went_async(),
        "{} {} {}",
        a.went_async(),
        b.went_async(),
        c.went_async()
    );
    ensure!(ctx.in_flight() == 3);
    // The last one first.
    let w = write_later(tx_c, b"charlie", 20);
    let data = read_data(block_on(&ctx, c), read_c)?;
    w.join()
        .map_err(|_| "writer panicked")?
        .map_err(|e| e.to_string())?;
    ensure!(data == b"charlie", "{data:?}");
    ensure!(
        is_pending(&mut a) && is_pending(&mut b),
        "a or b done before its write"
    );
    // a completes before b, but b is awaited first: a's completion waits
    // in its entry.
    File::from(tx_a)
        .write_all(b"alpha")
        .map_err(|e| e.to_string())?;
    File::from(tx_b)
        .write_all(b"bravo")
        .map_err(|e| e.to_string())?;
    let data = read_data(block_on(&ctx, b), read_b)?;
    ensure!(data == b"bravo", "{data:?}");
    let data = read_data(block_on(&ctx, a), read_a)?;
    ensure!(data == b"alpha", "{data:?}");
    ensure!(ctx.in_flight() == 0);
    Ok(())
}

/// A pending future dropped: the chain is cancelled, its memory stays with
/// the context until the completion is reaped; the context goes on.
fn dropped_future_keeps_memory_until_completion() -> Result<(), String> {
    let ctx = context(1)?;
    wait_for_spares(ctx.syslet(), 1)?;
    let (rx, tx) = pipe()?;
    let (fut, _) = pipe_read(&ctx, &rx)?;
    ensure!(
        fut.went_async(),
        "a read of an empty pipe stayed synchronous"
    );
    drop(fut);
    ensure!(
        ctx.abandoned() == 1 && ctx.in_flight() == 1,
        "abandoned {} in flight {}",
        ctx.abandoned(),
        ctx.in_flight()
    );
    // Cancelled or not by now, the chain ends once the pipe has data.
    File::from(tx)
        .write_all(b"late")
        .map_err(|e| e.to_string())?;
    ctx.syslet()
        .wait(1, Some(Duration::from_secs(5)))
        .map_err(|e| format!("no completion: {e}"))?;
    ensure!(ctx.reap() == 1);
    ensure!(ctx.abandoned() == 0 && ctx.in_flight() == 0);
    // A later chain still works.
    let mut chain = Chain::new();
    let file = chain.open(c"/proc/self/stat", libc::O_RDONLY);
    let read = chain.read(file, Vec::with_capacity(64));
    chain.close(file);
    let data = read_data(block_on(&ctx, ctx.submit(chain)), read)?;
    ensure!(!data.is_empty());
    Ok(())
}

/// `ChainFuture::cancel` and a deadline: the future still gives the
/// chain back, its outcome saying why it ended.
fn cancel_and_deadline_give_the_buffer_back() -> Result<(), String> {
    let ctx = context(1)?;
    let (rx, _tx) = pipe()?;
    wait_for_spares(ctx.syslet(), 1)?;
    let (fut, read) = pipe_read(&ctx, &rx)?;
    ensure!(
        fut.went_async(),
        "a read of an empty pipe stayed synchronous"
    );
    ensure!(
        fut.cancel().map_err(|e| e.to_string())?,
        "the kernel did not find the chain"
    );
    let mut done = block_on(&ctx, fut).map_err(|e| e.to_string())?;
    let o = *done.outcome();
    ensure!(
        o.cancelled && o.result == -(libc::ECANCELED as i64),
        "{o:?}"
    );
    let buf = done.take_buf(read).ok_or("no buffer")?;
    ensure!(buf.is_empty() && buf.capacity() >= 16, "{buf:?}");
    ensure!(done
        .check()
        .is_err_and(|e| e.raw_os_error() == Some(libc::ECANCELED)));

    wait_for_spares(ctx.syslet(), 1)?;
    let mut chain = Chain::new();
    let fd = chain.fd(&rx).map_err(|e| e.to_string())?;
    chain.read(fd, vec![0; 1]);
    let fut = ctx.submit_timeout(chain, Some(Duration::from_millis(20)));
    let done = block_on(&ctx, fut).map_err(|e| e.to_string())?;
    let o = *done.outcome();
    ensure!(o.timed_out && o.result == -(libc::ETIME as i64), "{o:?}");
    Ok(())
}

/// The typed steps against the real policy: pwrite, fsync, fstat,
/// newfstatat, pread, getdents64, nanosleep.
fn typed_steps() -> Result<(), String> {
    let ctx = context(0)?;
    let path = format!("/tmp/rust-safe-{}", std::process::id());
    let cpath = std::ffi::CString::new(path.clone()).map_err(|e| e.to_string())?;
    let mut chain = Chain::new();
    let file = chain.openat(
        None,
        cpath.clone(),
        libc::O_CREAT | libc::O_RDWR | libc::O_TRUNC,
        0o600,
    );
    let write = chain.pwrite(file, b"syslets".to_vec(), 3);
    let sync = chain.fsync(file);
    let st = chain.fstat(file);
    let at = chain.fstatat(None, cpath, 0);
    let read = chain.pread(file, Vec::with_capacity(16), 3);
    chain.close(file);
    let dir = chain.open(c"/proc/self", libc::O_RDONLY | libc::O_DIRECTORY);
    let list = chain.getdents64(dir, Vec::with_capacity(8192));
    chain.close(dir);
    let nap = chain.sleep(Duration::from_millis(1));
    let done = block_on(&ctx, ctx.submit(chain));
    let _ = std::fs::remove_file(&path);
    let mut done = done.map_err(|e| e.to_string())?;
    let o = *done.outcome();
    ensure!(o.atoms_run == 11 && !o.stopped && !o.aborted, "{o:?}");
    ensure!(
        done.result(write).ok() == Some(7) && done.result(sync).ok() == Some(0),
        "{done:?}"
    );
    let (st, at) = (
        done.stat(st).map_err(|e| e.to_string())?,
        done.stat(at).map_err(|e| e.to_string())?,
    );
    ensure!(
        st.st_size == 10 && at.st_size == 10 && st.st_ino == at.st_ino,
        "{} {}",
        st.st_size,
        at.st_size
    );
    let data = done.take_buf(read).ok_or("no buffer")?;
    ensure!(data == b"syslets", "{data:?}");
    let names = done.take_buf(list).ok_or("no buffer")?;
    ensure!(
        syslet::dirents(&names).any(|e| e.name == c"stat"),
        "no stat in /proc/self"
    );
    ensure!(done.result(nap).ok() == Some(0));
    Ok(())
}

/// Two chains on a current-thread tokio runtime, woken through `AsyncFd`.
fn tokio_runs_two_chains() -> Result<(), String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async {
        let ctx = context(2)?.with_tokio().map_err(|e| e.to_string())?;
        wait_for_spares(ctx.syslet(), 2)?;
        let (rx1, tx1) = pipe()?;
        let (rx2, tx2) = pipe()?;
        let (f1, r1) = pipe_read(&ctx, &rx1)?;
        let (f2, r2) = pipe_read(&ctx, &rx2)?;
        ensure!(
            f1.went_async() && f2.went_async(),
            "{} {}",
            f1.went_async(),
            f2.went_async()
        );
        let w2 = write_later(tx2, b"two", 30);
        let w1 = write_later(tx1, b"one", 60);
        let mut done = join_all([f1, f2]).await.into_iter();
        for w in [w1, w2] {
            w.join()
                .map_err(|_| "writer panicked")?
                .map_err(|e| e.to_string())?;
        }
        let one = read_data(done.next().ok_or("no result")?, r1)?;
        let two = read_data(done.next().ok_or("no result")?, r2)?;
        ensure!(one == b"one" && two == b"two", "{one:?} {two:?}");
        ensure!(ctx.in_flight() == 0);
        Ok(())
    })
}

/// The cases of this module, appended to `main`'s.
pub const CASES: &[(&str, Case)] = &[
    (
        "rust_safe_open_read_close_synchronously",
        open_read_close_synchronously,
    ),
    (
        "rust_safe_blocking_read_goes_asynchronous",
        blocking_read_goes_asynchronous,
    ),
    (
        "rust_safe_chains_complete_out_of_order",
        chains_complete_out_of_order,
    ),
    (
        "rust_safe_dropped_future_keeps_memory_until_completion",
        dropped_future_keeps_memory_until_completion,
    ),
    (
        "rust_safe_cancel_and_deadline_give_the_buffer_back",
        cancel_and_deadline_give_the_buffer_back,
    ),
    ("rust_safe_typed_steps", typed_steps),
    ("rust_safe_tokio_runs_two_chains", tokio_runs_two_chains),
];

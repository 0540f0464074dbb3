//! Host tests of the safe API against a fake kernel: the "device" is an
//! eventfd, the ring an anonymous shared mapping, and a chain "goes
//! asynchronous" by being run, atom by atom as the kernel would, on another
//! thread, which then posts its completion.

use std::{
    os::fd::{FromRawFd, OwnedFd},
    sync::{
        atomic::{AtomicU32, Ordering},
        Arc, Mutex,
    },
    thread,
    time::Duration,
};

use super::*;
use crate::{block_on, dirents, join_all, Atom, Opened, Stop};

const ENTRIES: u32 = 8;
const ENTRIES_OFFSET: usize = 256;

/// The fake kernel's side of a fake context.
#[derive(Clone, Copy)]
struct Kernel {
    base: usize,
    efd: i32,
}

fn fake() -> (Context, Kernel) {
    // SAFETY: eventfd(2) takes no pointer.
    let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
    assert!(fd >= 0);
    // SAFETY: a new descriptor, ours alone.
    let efd = unsafe { OwnedFd::from_raw_fd(fd) };
    let len = 4096;
    // SAFETY: a fresh anonymous mapping.
    let base = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    assert_ne!(base, libc::MAP_FAILED);
    let header = base.cast::<sys::syslet_ring>();
    // SAFETY: the mapping is zeroed, page-aligned and large enough.
    unsafe {
        (*header).entries = ENTRIES;
        (*header).mask = ENTRIES - 1;
        (*header).entries_offset = ENTRIES_OFFSET as u64;
    }
    let ring = Ring {
        base: base.cast(),
        len,
    };
    let mut ctx = Context::from_parts(Syslet::from_fd(efd), ring, Default::default());
    ctx.fake = true;
    (
        ctx,
        Kernel {
            base: base as usize,
            efd: fd,
        },
    )
}

impl Kernel {
    fn header(&self) -> *mut sys::syslet_ring {
        self.base as *mut sys::syslet_ring
    }

    /// Posts a completion, as the kernel does: entry, then tail (release),
    /// then a wake-up.
    fn post(&self, out: sys::syslet_outcome) {
        // SAFETY: the header's tail is an aligned u32 of the live mapping.
        let tail = unsafe { AtomicU32::from_ptr(&raw mut (*self.header()).tail) };
        let t = tail.load(Ordering::Relaxed);
        let entry = self.base
            + ENTRIES_OFFSET
            + (t & (ENTRIES - 1)) as usize * std::mem::size_of::<sys::syslet_outcome>();
        // SAFETY: the entry lies inside the mapping.
        unsafe { std::ptr::write_volatile(entry as *mut sys::syslet_outcome, out) };
        tail.store(t.wrapping_add(1), Ordering::Release);
        let one = 1u64;
        // SAFETY: 8 bytes from a live u64 to the eventfd.
        unsafe { libc::write(self.efd, (&one as *const u64).cast(), 8) };
    }

    /// Runs the chain at `first` as the kernel's `chain::run` does (no
    /// budget, no cancellation), then posts its completion.
    fn run_and_post(&self, first: u64) -> sys::syslet_outcome {
        // SAFETY: the chain's memory is alive until its completion is reaped,
        // which `post` below allows only afterwards.
        let out = unsafe { run_chain(first) };
        self.post(out);
        out
    }
}

/// A user-space stand-in for the kernel's chain runner.
///
/// # Safety
///
/// The chain at `first` and everything it names must be alive.
unsafe fn run_chain(first: u64) -> sys::syslet_outcome {
    let mut out = sys::syslet_outcome::default();
    let mut addr = first;
    while addr != 0 {
        out.last_atom = addr;
        // SAFETY: the caller's guarantee.
        let atom = unsafe { std::ptr::read(addr as *const sys::syslet_atom) };
        out.cookie = atom.cookie;
        let mut args = atom.args;
        for (n, arg) in args.iter_mut().enumerate() {
            if atom.flags & (1 << n) != 0 {
                // SAFETY: a pointer argument names a live result word.
                *arg = unsafe { std::ptr::read(*arg as *const u64) };
            }
        }
        // SAFETY: the atoms come from `Chain`'s typed steps, whose arguments
        // are the caller's guarantee.
        let r = unsafe {
            libc::syscall(
                atom.nr as libc::c_long,
                args[0],
                args[1],
                args[2],
                args[3],
                args[4],
                args[5],
            )
        };
        let r = if r == -1 {
            -i64::from(io::Error::last_os_error().raw_os_error().unwrap())
        } else {
            r
        };
        out.result = r;
        out.atoms_run += 1;
        if atom.result != 0 {
            // SAFETY: the result word is alive (the caller's guarantee).
            unsafe { std::ptr::write(atom.result as *mut i64, r) };
        }
        let f = atom.flags;
        if (f & crate::STOP_NONZERO != 0 && r != 0)
            || (f & crate::STOP_ZERO != 0 && r == 0)
            || (f & crate::STOP_NEGATIVE != 0 && r < 0)
            || (f & crate::STOP_NONPOSITIVE != 0 && r <= 0)
        {
            out.flags |= sys::SYSLET_OUTCOME_STOPPED;
            break;
        }
        addr = atom.next;
    }
    out
}

/// Submits `chain` to the fake kernel: it is queued, as if its first atom
/// had blocked. Returns the future and the chain's first atom.
fn submit_fake(ctx: &Context, chain: Chain) -> (ChainFuture<'_>, u64) {
    let cookie = COOKIE_TAG | ctx.next_cookie.get();
    ctx.next_cookie.set(ctx.next_cookie.get() + 1);
    let storage = chain.freeze(cookie).expect("a non-empty chain");
    let first = storage.first_atom();
    ctx.table.borrow_mut().insert(
        cookie,
        Entry {
            storage,
            state: State::Waiting(None),
        },
    );
    (
        ChainFuture::new(ctx, FutState::InFlight(cookie), true),
        first,
    )
}

fn pid_stat_chain() -> (Chain, Opened, crate::BufStep, crate::Step) {
    let mut chain = Chain::new();
    let file = chain.open(c"/proc/self/stat", libc::O_RDONLY);
    let read = chain.read(file, Vec::with_capacity(256));
    let close = chain.close(file);
    (chain, file, read, close)
}

#[test]
fn atoms_are_laid_out_for_the_kernel() {
    let (chain, ..) = pid_stat_chain();
    let storage = chain.freeze(0x77).unwrap();
    let first = storage.first_atom();
    // SAFETY: three atoms at `first`, owned by `storage`, which nothing runs.
    let atoms: Vec<sys::syslet_atom> = (0..3)
        .map(|i| unsafe { std::ptr::read((first as *const sys::syslet_atom).add(i)) })
        .collect();
    let size = std::mem::size_of::<Atom>() as u64;
    assert_eq!(atoms[0].nr, libc::SYS_openat as u32);
    assert_eq!(atoms[0].args[2] as i32 & libc::O_CLOEXEC, libc::O_CLOEXEC);
    assert_eq!(atoms[1].nr, libc::SYS_read as u32);
    assert_eq!(atoms[1].args[2], 256, "a read's count is the capacity");
    assert_eq!(atoms[2].nr, libc::SYS_close as u32);
    for (i, a) in atoms.iter().enumerate() {
        assert_eq!(a.cookie, 0x77);
        assert_eq!(a.flags & !1, crate::STOP_NEGATIVE);
        assert_eq!(a.result, atoms[0].result + 8 * i as u64);
        assert_eq!(
            a.next,
            if i < 2 {
                first + size * (i as u64 + 1)
            } else {
                0
            }
        );
        assert!(storage.owns_atom(first + size * i as u64));
    }
    // The descriptor goes from step to step by pointer to openat's result.
    assert_eq!(atoms[0].flags & 1, 0);
    assert_eq!((atoms[1].flags & 1, atoms[1].args[0]), (1, atoms[0].result));
    assert_eq!((atoms[2].flags & 1, atoms[2].args[0]), (1, atoms[0].result));
    assert!(!storage.owns_atom(first + 1) && !storage.owns_atom(first + 3 * size));
    drop(storage.land());
}

#[test]
fn a_queued_chain_completes_through_block_on() {
    let (ctx, kernel) = fake();
    let (chain, file, read, close) = pid_stat_chain();
    let (fut, first) = submit_fake(&ctx, chain);
    assert!(fut.went_async());
    assert_eq!(ctx.in_flight(), 1);
    let runner = thread::spawn(move || {
        thread::sleep(Duration::from_millis(20));
        kernel.run_and_post(first)
    });
    let mut done = block_on(&ctx, fut).unwrap().check().unwrap();
    runner.join().unwrap();
    assert_eq!(done.outcome().atoms_run, 3);
    assert!(done.result(file).unwrap() >= 0);
    assert_eq!(done.result(close).unwrap(), 0);
    let n = done.result(read).unwrap() as usize;
    let buf = done.take_buf(read).unwrap();
    assert_eq!(buf.len(), n);
    assert!(String::from_utf8_lossy(&buf).starts_with(&std::process::id().to_string()));
    assert!(done.take_buf(read).is_none());
    assert!(done.take_fd(file).is_none(), "the chain closed it");
    assert_eq!(ctx.in_flight(), 0);
}

#[test]
fn typed_steps_write_stat_and_list() {
    let (ctx, kernel) = fake();
    let dir = std::env::temp_dir().join(format!("syslet-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path =
        std::ffi::CString::new(dir.join("file").into_os_string().into_encoded_bytes()).unwrap();
    let dirpath =
        std::ffi::CString::new(dir.clone().into_os_string().into_encoded_bytes()).unwrap();

    let mut chain = Chain::new();
    let file = chain.openat(
        None,
        path.clone(),
        libc::O_CREAT | libc::O_WRONLY | libc::O_TRUNC,
        0o600,
    );
    let write = chain.write(file, b"hello".to_vec());
    let sync = chain.fsync(file);
    let st = chain.fstat(file);
    let at = chain.fstatat(None, path.clone(), 0);
    let nap = chain.sleep(Duration::from_millis(1));
    let d = chain.open(dirpath, libc::O_RDONLY | libc::O_DIRECTORY);
    let list = chain.getdents64(d, Vec::with_capacity(4096));
    let (fut, first) = submit_fake(&ctx, chain);
    kernel.run_and_post(first);
    let mut done = block_on(&ctx, fut).unwrap().check().unwrap();
    assert_eq!(done.result(write).unwrap(), 5);
    assert_eq!(done.take_buf(write).unwrap(), b"hello");
    assert_eq!(done.result(sync).unwrap(), 0);
    assert_eq!(done.stat(st).unwrap().st_size, 5);
    assert_eq!(done.stat(at).unwrap().st_size, 5);
    assert_eq!(done.result(nap).unwrap(), 0);
    let names = done.take_buf(list).unwrap();
    assert!(dirents(&names).any(|e| e.name == c"file"));
    // Neither descriptor was closed by the chain: one is taken, the other
    // closed with the `Finished`.
    let fd = done.take_fd(file).expect("open and not closed");
    assert!(done.take_fd(file).is_none());
    assert_eq!(std::fs::File::from(fd).metadata().unwrap().len(), 5);
    drop(done);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_failed_step_stops_the_chain() {
    let (ctx, kernel) = fake();
    let mut chain = Chain::new();
    let file = chain.open(c"/nonexistent/syslet", libc::O_RDONLY);
    let read = chain.read(file, vec![1, 2, 3]);
    let (fut, first) = submit_fake(&ctx, chain);
    kernel.run_and_post(first);
    let mut done = block_on(&ctx, fut).unwrap();
    assert!(done.outcome().stopped);
    assert_eq!(
        done.result(file).unwrap_err().kind(),
        io::ErrorKind::NotFound
    );
    assert!(done.raw_result(read).is_none());
    assert_eq!(
        done.take_buf(read).unwrap(),
        b"",
        "a read that did not run read nothing"
    );
    assert!(done.take_fd(file).is_none());
    assert_eq!(done.check().unwrap_err().kind(), io::ErrorKind::NotFound);

    // Stop::Never lets the chain go on.
    let mut chain = Chain::new();
    let file = chain.open(c"/nonexistent/syslet", libc::O_RDONLY);
    chain.stop(file, Stop::Never);
    let read = chain.read(file, Vec::with_capacity(8));
    let (fut, first) = submit_fake(&ctx, chain);
    kernel.run_and_post(first);
    let done = block_on(&ctx, fut).unwrap();
    assert_eq!(done.raw_result(read), Some(-i64::from(libc::EBADF)));
}

#[test]
fn a_dropped_future_leaves_the_memory_until_the_completion() {
    let (ctx, kernel) = fake();
    let (chain, ..) = pid_stat_chain();
    let (fut, first) = submit_fake(&ctx, chain);
    drop(fut);
    assert_eq!((ctx.abandoned(), ctx.in_flight()), (1, 1));
    assert_eq!(ctx.reap(), 0);
    assert_eq!(ctx.abandoned(), 1, "no completion yet: the memory stays");
    // The chain runs on after the drop, in memory the context still holds.
    let out = kernel.run_and_post(first);
    assert_eq!(out.atoms_run, 3);
    assert_eq!(ctx.reap(), 1);
    assert_eq!((ctx.abandoned(), ctx.in_flight()), (0, 0));
    // The context still works.
    let (chain, _, read, _) = pid_stat_chain();
    let (fut, first) = submit_fake(&ctx, chain);
    kernel.run_and_post(first);
    assert!(block_on(&ctx, fut).unwrap().result(read).unwrap() > 0);
}

#[test]
fn futures_get_their_own_completions_out_of_order() {
    let (ctx, kernel) = fake();
    let mut futs = Vec::new();
    let mut firsts = Vec::new();
    let mut steps = Vec::new();
    for len in 1..=3 {
        let mut chain = Chain::new();
        let null = chain.open(c"/dev/null", libc::O_WRONLY);
        steps.push(chain.write(null, vec![b'x'; len]));
        chain.close(null);
        let (fut, first) = submit_fake(&ctx, chain);
        futs.push(fut);
        firsts.push(first);
    }
    let runner = thread::spawn(move || {
        for i in [2, 0, 1] {
            thread::sleep(Duration::from_millis(10));
            kernel.run_and_post(firsts[i]);
        }
    });
    let done = block_on(&ctx, join_all(futs));
    runner.join().unwrap();
    for (i, (d, step)) in done.into_iter().zip(steps).enumerate() {
        assert_eq!(d.unwrap().result(step).unwrap(), i as i64 + 1);
    }
}

#[test]
fn a_completion_is_kept_for_a_future_polled_later() {
    let (ctx, kernel) = fake();
    let (a, first_a) = submit_fake(&ctx, pid_stat_chain().0);
    let (b, first_b) = submit_fake(&ctx, pid_stat_chain().0);
    kernel.run_and_post(first_a);
    kernel.run_and_post(first_b);
    // Waiting for b reaps a's completion too, which waits in a's entry.
    assert_eq!(block_on(&ctx, b).unwrap().outcome().atoms_run, 3);
    assert_eq!(ctx.in_flight(), 0);
    let mut a = std::pin::pin!(a);
    let poll = a.as_mut().poll(&mut TaskContext::from_waker(Waker::noop()));
    assert!(matches!(poll, Poll::Ready(Ok(_))));
}

#[test]
fn a_foreign_completion_is_not_taken_for_ours() {
    let (ctx, kernel) = fake();
    let (fut, first) = submit_fake(&ctx, pid_stat_chain().0);
    let cookie = match fut.state {
        FutState::InFlight(c) => c,
        _ => unreachable!(),
    };
    // Our cookie, but an atom that is not ours.
    kernel.post(sys::syslet_outcome {
        cookie,
        last_atom: 0x1000,
        ..Default::default()
    });
    assert_eq!(ctx.reap(), 1);
    assert_eq!(ctx.in_flight(), 1);
    kernel.run_and_post(first);
    assert!(block_on(&ctx, fut).is_ok());
}

#[test]
fn a_forgotten_future_only_leaks_until_the_context_goes() {
    let (ctx, kernel) = fake();
    let (fut, first) = submit_fake(&ctx, pid_stat_chain().0);
    std::mem::forget(fut);
    kernel.run_and_post(first);
    ctx.reap();
    assert_eq!(ctx.in_flight(), 0);
    drop(ctx);
}

#[test]
fn dropping_a_context_with_a_running_chain_leaks_it() {
    let (ctx, _kernel) = fake();
    let (fut, _first) = submit_fake(&ctx, pid_stat_chain().0);
    drop(fut);
    // cancel_all and wait fail on the fake device: the memory is leaked
    // at once, never freed while the chain might run.
    let start = Instant::now();
    drop(ctx);
    assert!(start.elapsed() < DRAIN_ON_DROP);
}

#[test]
fn a_failed_submission_fails_the_future() {
    let (ctx, _kernel) = fake();
    // The fake device is an eventfd: SYSLET_IOC_SUBMIT is ENOTTY.
    let fut = ctx.submit(pid_stat_chain().0);
    assert!(!fut.went_async());
    let err = block_on(&ctx, fut).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::ENOTTY));
    assert_eq!(ctx.in_flight(), 0);
    let err = block_on(&ctx, ctx.submit(Chain::new())).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
}

#[test]
fn an_overflow_that_does_not_drain_ends_the_reap() {
    let (ctx, kernel) = fake();
    // SAFETY: the header lives in the fake's mapping.
    unsafe { (*kernel.header()).overflow = 3 };
    assert_eq!(ctx.reap_inner(), (0, true));
}

#[test]
fn block_on_wakes_for_other_threads() {
    let (ctx, _kernel) = fake();
    let shared: Arc<Mutex<(bool, Option<Waker>)>> = Arc::default();
    let other = shared.clone();
    thread::spawn(move || {
        thread::sleep(Duration::from_millis(20));
        let mut s = other.lock().unwrap();
        s.0 = true;
        if let Some(w) = s.1.take() {
            w.wake();
        }
    });
    let fut = std::future::poll_fn(|cx| {
        let mut s = shared.lock().unwrap();
        if s.0 {
            Poll::Ready(7)
        } else {
            s.1 = Some(cx.waker().clone());
            Poll::Pending
        }
    });
    assert_eq!(block_on(&ctx, fut), 7);
}

#[test]
#[should_panic(expected = "another chain")]
fn a_handle_of_another_chain_is_refused() {
    let (_, file, ..) = pid_stat_chain();
    Chain::new().read(file, Vec::new());
}

#[test]
#[should_panic(expected = "closes before")]
fn a_closed_descriptor_cannot_be_used() {
    let (mut chain, file, ..) = pid_stat_chain();
    chain.fsync(file);
}

#[test]
#[should_panic(expected = "closes before")]
fn a_descriptor_cannot_be_closed_twice() {
    let (mut chain, file, ..) = pid_stat_chain();
    chain.close(file);
}

#[test]
fn a_borrowed_descriptor_is_duplicated() {
    let (ctx, kernel) = fake();
    let file = std::fs::File::open("/proc/self/stat").unwrap();
    let mut chain = Chain::new();
    let fd = chain.fd(&file).unwrap();
    let read = chain.read(fd, Vec::with_capacity(64));
    drop(file); // the chain keeps its own duplicate
    let (fut, first) = submit_fake(&ctx, chain);
    kernel.run_and_post(first);
    assert!(block_on(&ctx, fut).unwrap().result(read).unwrap() > 0);
}

#[cfg(feature = "tokio")]
#[test]
fn tokio_drives_two_chains_through_asyncfd() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .unwrap();
    let (ctx, kernel) = fake();
    let ctx = {
        let _guard = rt.enter();
        ctx.with_tokio().unwrap()
    };
    let (a, first_a) = submit_fake(&ctx, pid_stat_chain().0);
    let (b, first_b) = submit_fake(&ctx, pid_stat_chain().0);
    let runner = thread::spawn(move || {
        for first in [first_b, first_a] {
            thread::sleep(Duration::from_millis(20));
            kernel.run_and_post(first);
        }
    });
    let done = rt.block_on(join_all([a, b]));
    runner.join().unwrap();
    for d in done {
        assert_eq!(d.unwrap().outcome().atoms_run, 3);
    }
    // One more, alone, after the readiness was cleared.
    let (c, first_c) = submit_fake(&ctx, pid_stat_chain().0);
    let runner = thread::spawn(move || {
        thread::sleep(Duration::from_millis(20));
        kernel.run_and_post(first_c);
    });
    assert!(rt.block_on(c).is_ok());
    runner.join().unwrap();
    assert_eq!(ctx.in_flight(), 0);
}

#[test]
fn contexts_chains_and_results_can_change_threads() {
    fn send<T: Send>() {}
    send::<Context>();
    send::<Chain>();
    send::<crate::Finished>();
    assert!(block_on(&fake().0, join_all(Vec::<ChainFuture<'_>>::new())).is_empty());
}

//! A minimal executor: [`block_on`] runs a future on the calling thread,
//! waiting with poll(2) on the context's descriptor; [`join_all`] runs
//! several futures as one.

use std::{
    future::Future,
    io,
    os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd},
    pin::Pin,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    task::{Context as TaskContext, Poll, Wake, Waker},
};

use crate::Context;

/// The waker of [`block_on`]: a flag, and an eventfd that makes a wake from
/// any thread end the poll(2).
struct Notify {
    woken: AtomicBool,
    efd: Option<OwnedFd>,
}

impl Notify {
    fn new() -> Self {
        // SAFETY: eventfd(2) takes no pointer.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        // SAFETY: a non-negative result is a new descriptor that nothing else
        // owns.
        let efd = (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd) });
        Self {
            woken: AtomicBool::new(true),
            efd,
        }
    }

    /// Empties the eventfd's counter.
    fn drain(&self) {
        if let Some(efd) = &self.efd {
            let mut count = 0u64;
            // SAFETY: reads at most 8 bytes into a live, writable u64.
            unsafe { libc::read(efd.as_raw_fd(), (&mut count as *mut u64).cast(), 8) };
        }
    }
}

impl Wake for Notify {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if !self.woken.swap(true, Ordering::AcqRel) {
            if let Some(efd) = &self.efd {
                let one = 1u64;
                // SAFETY: writes 8 bytes from a live u64 to our eventfd.
                unsafe { libc::write(efd.as_raw_fd(), (&one as *const u64).cast(), 8) };
            }
        }
    }
}

/// Runs `fut` to completion on this thread, reaping `ctx`'s completions
/// whenever it would wait: the thread sleeps in poll(2) until the context's
/// descriptor is readable (a completion is waiting) or the future is woken
/// from elsewhere.
///
/// Any future can run here; chains of `ctx` make progress while it waits.
/// There is no lost wake-up: poll(2) reports the state of the ring (and of
/// the waker's eventfd), not edges, so a completion posted between a reap
/// and the wait ends the wait at once.
///
/// # Panics
///
/// If poll(2) fails other than with `EINTR`, or if `fut` panics.
pub fn block_on<F: Future>(ctx: &Context, fut: F) -> F::Output {
    let notify = Arc::new(Notify::new());
    let waker = Waker::from(notify.clone());
    let mut cx = TaskContext::from_waker(&waker);
    let mut fut = std::pin::pin!(fut);
    loop {
        if notify.woken.swap(false, Ordering::AcqRel) {
            if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
                return out;
            }
        }
        ctx.reap();
        if notify.woken.load(Ordering::Acquire) {
            continue;
        }
        let efd = notify.efd.as_ref().map_or(-1, |e| e.as_raw_fd());
        let mut fds = [
            libc::pollfd {
                fd: ctx.as_fd().as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            // A negative descriptor is ignored.
            libc::pollfd {
                fd: efd,
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // Without an eventfd, look at the flag every 10 ms.
        let timeout = if efd < 0 { 10 } else { -1 };
        // SAFETY: `fds` is an array of two live `pollfd`s, of which poll(2)
        // writes only the `revents`.
        let r = unsafe { libc::poll(fds.as_mut_ptr(), 2, timeout) };
        if r < 0 {
            let e = io::Error::last_os_error();
            assert!(
                e.raw_os_error() == Some(libc::EINTR),
                "poll(2) on a syslet context: {e}"
            );
        }
        if fds[1].revents != 0 {
            notify.drain();
        }
    }
}

/// Runs every future of `futs` concurrently; the output is their outputs
/// in order. Polls each one that is not done whenever it is polled.
pub fn join_all<I>(futs: I) -> JoinAll<I::Item>
where
    I: IntoIterator,
    I::Item: Future,
{
    let futs: Vec<_> = futs.into_iter().map(|f| Some(Box::pin(f))).collect();
    let outs = futs.iter().map(|_| None).collect();
    JoinAll { futs, outs }
}

/// The future of [`join_all`].
#[must_use = "futures do nothing unless polled"]
pub struct JoinAll<F: Future> {
    futs: Vec<Option<Pin<Box<F>>>>,
    outs: Vec<Option<F::Output>>,
}

impl<F: Future> std::fmt::Debug for JoinAll<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let left = self.futs.iter().filter(|f| f.is_some()).count();
        f.debug_struct("JoinAll")
            .field("futures", &self.futs.len())
            .field("pending", &left)
            .finish()
    }
}

// The futures are pinned in their boxes; nothing else is pinned.
impl<F: Future> Unpin for JoinAll<F> {}

impl<F: Future> Future for JoinAll<F> {
    type Output = Vec<F::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let mut pending = false;
        for (slot, out) in this.futs.iter_mut().zip(&mut this.outs) {
            if let Some(fut) = slot {
                match fut.as_mut().poll(cx) {
                    Poll::Ready(v) => {
                        *out = Some(v);
                        *slot = None;
                    }
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            return Poll::Pending;
        }
        Poll::Ready(
            this.outs
                .iter_mut()
                .map(|o| o.take().expect("each output once"))
                .collect(),
        )
    }
}

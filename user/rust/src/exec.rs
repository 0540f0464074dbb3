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
        Arc, Mutex,
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
/// in order. Each future has a waker of its own, and a poll of the
/// `JoinAll` polls only the futures woken since the last one (all of them
/// the first time): with hundreds of chains in flight, a completion costs
/// one poll, not one per future.
pub fn join_all<I>(futs: I) -> JoinAll<I::Item>
where
    I: IntoIterator,
    I::Item: Future,
{
    let futs: Vec<_> = futs.into_iter().map(|f| Some(Box::pin(f))).collect();
    let ready = Arc::new(Ready {
        woken: Mutex::new((0..futs.len()).collect()),
        parent: Mutex::new(None),
    });
    let children: Vec<_> = (0..futs.len())
        .map(|index| {
            Arc::new(Child {
                index,
                queued: AtomicBool::new(true),
                ready: ready.clone(),
            })
        })
        .collect();
    let wakers = children.iter().map(|c| Waker::from(c.clone())).collect();
    let outs = futs.iter().map(|_| None).collect();
    JoinAll {
        left: futs.len(),
        futs,
        outs,
        children,
        wakers,
        ready,
    }
}

/// What the futures of a [`JoinAll`] share: which were woken, and the
/// waker of whoever polls the `JoinAll`.
struct Ready {
    woken: Mutex<Vec<usize>>,
    parent: Mutex<Option<Waker>>,
}

/// The waker of one future of a [`JoinAll`].
struct Child {
    index: usize,
    /// Whether `index` is in `ready.woken` already.
    queued: AtomicBool,
    ready: Arc<Ready>,
}

impl Wake for Child {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if !self.queued.swap(true, Ordering::AcqRel) {
            lock(&self.ready.woken).push(self.index);
        }
        if let Some(parent) = lock(&self.ready.parent).as_ref() {
            parent.wake_by_ref();
        }
    }
}

/// A lock that a panic elsewhere does not poison for us: the data (indices,
/// a waker) stays consistent whatever panicked.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The future of [`join_all`].
#[must_use = "futures do nothing unless polled"]
pub struct JoinAll<F: Future> {
    futs: Vec<Option<Pin<Box<F>>>>,
    outs: Vec<Option<F::Output>>,
    children: Vec<Arc<Child>>,
    /// `children`, as wakers.
    wakers: Vec<Waker>,
    ready: Arc<Ready>,
    /// Futures not done yet.
    left: usize,
}

impl<F: Future> std::fmt::Debug for JoinAll<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JoinAll")
            .field("futures", &self.futs.len())
            .field("pending", &self.left)
            .finish()
    }
}

// The futures are pinned in their boxes; nothing else is pinned.
impl<F: Future> Unpin for JoinAll<F> {}

impl<F: Future> Future for JoinAll<F> {
    type Output = Vec<F::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        {
            let mut parent = lock(&this.ready.parent);
            if !parent.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                *parent = Some(cx.waker().clone());
            }
        }
        // Until a round finds nothing woken: a future may wake itself, or
        // another, while it is polled.
        loop {
            let woken = std::mem::take(&mut *lock(&this.ready.woken));
            if woken.is_empty() {
                break;
            }
            for i in woken {
                let Some(fut) = this.futs[i].as_mut() else {
                    continue;
                };
                // Before the poll: a wake during it queues `i` again.
                this.children[i].queued.store(false, Ordering::Release);
                let mut child_cx = TaskContext::from_waker(&this.wakers[i]);
                if let Poll::Ready(v) = fut.as_mut().poll(&mut child_cx) {
                    this.outs[i] = Some(v);
                    this.futs[i] = None;
                    this.left -= 1;
                }
            }
        }
        if this.left > 0 {
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

#[cfg(test)]
mod tests {
    use std::{cell::Cell, rc::Rc};

    use super::*;

    /// Pending until `go` is set; counts its polls and keeps its waker.
    struct Gate {
        go: Rc<Cell<bool>>,
        polls: Rc<Cell<u32>>,
        waker: Rc<Cell<Option<Waker>>>,
    }

    impl Future for Gate {
        type Output = u32;

        fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<u32> {
            self.polls.set(self.polls.get() + 1);
            if self.go.get() {
                return Poll::Ready(self.polls.get());
            }
            self.waker.set(Some(cx.waker().clone()));
            Poll::Pending
        }
    }

    #[test]
    fn join_all_polls_only_the_woken_future() {
        let gates: Vec<_> = (0..3)
            .map(|_| Gate {
                go: Rc::new(Cell::new(false)),
                polls: Rc::new(Cell::new(0)),
                waker: Rc::new(Cell::new(None)),
            })
            .collect();
        let (go, polls, wakers): (Vec<_>, Vec<_>, Vec<_>) = gates
            .iter()
            .map(|g| (g.go.clone(), g.polls.clone(), g.waker.clone()))
            .fold((vec![], vec![], vec![]), |mut acc, (a, b, c)| {
                acc.0.push(a);
                acc.1.push(b);
                acc.2.push(c);
                acc
            });
        let mut all = join_all(gates);
        let noop = Waker::noop();
        let mut cx = TaskContext::from_waker(noop);
        assert!(Pin::new(&mut all).poll(&mut cx).is_pending());
        assert_eq!(polls.iter().map(|p| p.get()).collect::<Vec<_>>(), [1, 1, 1]);
        // Nothing woken: nothing polled.
        assert!(Pin::new(&mut all).poll(&mut cx).is_pending());
        assert_eq!(polls.iter().map(|p| p.get()).collect::<Vec<_>>(), [1, 1, 1]);
        go[1].set(true);
        wakers[1].take().expect("a waker").wake();
        assert!(Pin::new(&mut all).poll(&mut cx).is_pending());
        assert_eq!(polls.iter().map(|p| p.get()).collect::<Vec<_>>(), [1, 2, 1]);
        for i in [0, 2] {
            go[i].set(true);
            wakers[i].take().expect("a waker").wake();
        }
        assert_eq!(Pin::new(&mut all).poll(&mut cx), Poll::Ready(vec![2, 2, 2]));
    }
}

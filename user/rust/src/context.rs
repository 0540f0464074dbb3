//! [`Context`]: a syslet context that runs owned [`Chain`]s and routes
//! their completions to [`ChainFuture`]s.

use std::{
    cell::{Cell, RefCell},
    collections::HashMap,
    future::Future,
    io,
    ops::ControlFlow,
    os::fd::{AsFd, BorrowedFd},
    pin::Pin,
    task::{Context as TaskContext, Poll, Waker},
    time::{Duration, Instant},
};

use crate::{chain::Chain, finished::Finished, storage::Storage, sys, Outcome, Ring, Syslet};

/// Tags the cookies of this crate's chains, so that they are unlikely to
/// match a cookie a program picks for chains of its own.
const COOKIE_TAG: u64 = 0x5afe << 48;

/// How long dropping a [`Context`] waits for its queued chains to stop
/// before it leaks their memory.
const DRAIN_ON_DROP: Duration = Duration::from_secs(1);

/// Where a submitted chain is, between its submission and the moment its
/// future takes its result.
enum State {
    /// Queued; the future's waker, if it was polled.
    Waiting(Option<Waker>),
    /// Its completion was reaped; the future has not taken it yet.
    Completed(Outcome),
    /// Its future was dropped: free the memory once the completion comes.
    Abandoned,
}

struct Entry {
    storage: Storage,
    state: State,
}

/// A syslet context that runs [`Chain`]s: the device, its mapped
/// completion ring, and the chains that went asynchronous.
///
/// [`Context::submit`] runs a chain at once, in the calling thread, as far
/// as it goes without blocking, and returns a [`ChainFuture`]. If an atom
/// blocks and a spare thread is parked, the chain goes on in the kernel;
/// the context then keeps its memory (atoms, result words, buffers) until
/// its completion has been reaped from the ring, whatever becomes of the
/// future: a dropped future leaves the memory to the context (and cancels
/// the chain), a forgotten one too. Without a parked spare, a blocking
/// atom blocks the calling thread, executor included (see the README on
/// when spares exist).
///
/// Completions are reaped by [`Context::reap`], which every poll of a
/// [`ChainFuture`] calls; something must wait for the device to become
/// readable and poll again: [`block_on`](crate::block_on) does (it works
/// for any context), or, with the `tokio` feature, the futures of a context
/// registered by `Context::with_tokio` do, through tokio's reactor.
///
/// A context is for one thread at a time: it is `Send` but not `Sync`
/// (plain `Cell`/`RefCell` inside, no locks), and so its futures are not
/// `Send`: with tokio, use a current-thread runtime or a `LocalSet`.
///
/// The context owns its ring: completions it does not recognise (say of
/// chains submitted through [`Context::syslet`] with `unsafe`) are reaped
/// and dropped.
pub struct Context {
    // Dropped first: deregisters the descriptor while it is still open.
    #[cfg(feature = "tokio")]
    tokio: Option<tokio::io::unix::AsyncFd<DevFd>>,
    ring: RefCell<Ring>,
    dev: Syslet,
    setup: sys::syslet_setup,
    table: RefCell<HashMap<u64, Entry>>,
    next_cookie: Cell<u64>,
    /// Tests: the "device" is an eventfd that the fake kernel writes.
    #[cfg(test)]
    fake: bool,
}

/// The context's descriptor, as tokio registers it (owned by `Context::dev`).
#[cfg(feature = "tokio")]
struct DevFd(std::os::fd::RawFd);

#[cfg(feature = "tokio")]
impl std::os::fd::AsRawFd for DevFd {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.0
    }
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("dev", &self.dev)
            .field("in_flight", &self.in_flight())
            .finish_non_exhaustive()
    }
}

impl Context {
    /// Opens [`DEVICE_PATH`](crate::DEVICE_PATH) with the default set-up
    /// (two spares, a ring of 128 completions) and maps its ring.
    pub fn open() -> io::Result<Self> {
        Self::with_setup(Syslet::open()?, sys::syslet_setup::default())
    }

    /// Sets `dev` up with `setup` (zero fields take the defaults; `dev`
    /// must not have been set up or used before) and maps its ring.
    pub fn with_setup(dev: Syslet, setup: sys::syslet_setup) -> io::Result<Self> {
        let setup = dev.setup_with(setup)?;
        let ring = dev.map_ring(setup.ring_size)?;
        Ok(Self::from_parts(dev, ring, setup))
    }

    fn from_parts(dev: Syslet, ring: Ring, setup: sys::syslet_setup) -> Self {
        Self {
            #[cfg(feature = "tokio")]
            tokio: None,
            ring: RefCell::new(ring),
            dev,
            setup,
            table: RefCell::new(HashMap::new()),
            next_cookie: Cell::new(1),
            #[cfg(test)]
            fake: false,
        }
    }

    /// Registers the context's descriptor with the tokio reactor of the
    /// current runtime (which needs its I/O driver enabled), so that its
    /// futures wait for completions through tokio. Calling it again does
    /// nothing.
    ///
    /// # Panics
    ///
    /// If called outside a tokio runtime, as `AsyncFd` does.
    #[cfg(feature = "tokio")]
    pub fn with_tokio(mut self) -> io::Result<Self> {
        use std::os::fd::AsRawFd;
        if self.tokio.is_none() {
            let fd = DevFd(self.dev.as_fd().as_raw_fd());
            // SAFETY: the descriptor is `self.dev`'s, which stays open and
            // the same file for as long as the `AsyncFd`: `dev` is never
            // replaced, and the `AsyncFd` (the field declared first) is
            // dropped before it.
            let afd = unsafe {
                tokio::io::unix::AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE)
            }
            .map_err(|e| e.into_parts().1)?;
            self.tokio = Some(afd);
        }
        Ok(self)
    }

    /// The device, for what needs no ring of its own: [`Syslet::query`],
    /// its descriptor (fdinfo), [`Syslet::wait`].
    pub fn syslet(&self) -> &Syslet {
        &self.dev
    }

    /// The set-up in force (spares, caps, ring size).
    pub fn setup(&self) -> &sys::syslet_setup {
        &self.setup
    }

    /// Runs `chain`: synchronously, in this thread, up to its end or to an
    /// atom that blocks while a spare thread is parked, from where it goes
    /// on in the kernel. The future is ready at once in the first case.
    ///
    /// The future fails only if the submission itself failed (the chain did
    /// not run); how the chain ended is in its [`Finished`]. An empty chain
    /// fails with [`io::ErrorKind::InvalidInput`]. A signal pending when the
    /// chain should start makes the kernel skip it; it is submitted again.
    pub fn submit(&self, chain: Chain) -> ChainFuture<'_> {
        self.submit_timeout(chain, None)
    }

    /// [`Context::submit`] with a deadline: a chain still running after
    /// `timeout` is stopped, and ends with
    /// [`Outcome::timed_out`](crate::Outcome::timed_out) (`-ETIME`).
    pub fn submit_timeout(&self, chain: Chain, timeout: Option<Duration>) -> ChainFuture<'_> {
        let cookie = COOKIE_TAG | self.next_cookie.get();
        self.next_cookie.set(self.next_cookie.get() + 1);
        let Some(storage) = chain.freeze(cookie) else {
            let empty = io::Error::new(io::ErrorKind::InvalidInput, "an empty chain");
            return ChainFuture::new(self, FutState::Ready(Err(empty)), false);
        };
        let mut outcome = [Outcome::default()];
        let submitted = loop {
            // SAFETY: the atoms, their result words and every buffer, path
            // and time they name are heap allocations owned by `storage`,
            // held through raw pointers, and every descriptor is one it owns
            // or one an earlier atom opened (`Chain` builds nothing else
            // without `unsafe`, whose caller answers for it). They stay put
            // and unchanged: on failure no chain ran, and `storage` goes; if
            // the chain ran to its end it goes to the `Finished`; if it was
            // queued, it moves to the table (its heap blocks do not move),
            // which frees it only once its completion has been reaped
            // (`reap`) and leaks it if the context goes first (`drop`).
            match unsafe {
                self.dev
                    .submit_addrs(&[storage.first_atom()], &mut outcome, 0, timeout)
            } {
                // A pending signal ended the submission before the chain
                // started: it is delivered on the way back; try again.
                Ok((0, 0)) => continue,
                other => break other,
            }
        };
        match submitted {
            Err(e) => ChainFuture::new(self, FutState::Ready(Err(e)), false),
            Ok((0, _)) => {
                self.table.borrow_mut().insert(
                    cookie,
                    Entry {
                        storage,
                        state: State::Waiting(None),
                    },
                );
                ChainFuture::new(self, FutState::InFlight(cookie), true)
            }
            Ok(_) => {
                let done = Finished::new(storage.land(), outcome[0]);
                ChainFuture::new(self, FutState::Ready(Ok(done)), false)
            }
        }
    }

    /// Reaps every completion in the ring (and in the kernel's overflow):
    /// each goes to its chain's entry and wakes its future; the memory of a
    /// chain whose future was dropped is freed. Returns how many it reaped.
    pub fn reap(&self) -> usize {
        self.reap_inner().0
    }

    /// Chains submitted and not finished yet (their completion has not been
    /// reaped), whether their future is alive or not.
    pub fn in_flight(&self) -> usize {
        self.table
            .borrow()
            .values()
            .filter(|e| !matches!(e.state, State::Completed(_)))
            .count()
    }

    /// Chains whose future was dropped before their completion was reaped:
    /// their memory waits for it.
    pub fn abandoned(&self) -> usize {
        self.table
            .borrow()
            .values()
            .filter(|e| matches!(e.state, State::Abandoned))
            .count()
    }

    /// [`Context::reap`], and whether completions may be left (in the
    /// kernel's overflow) that it could not move into the ring.
    fn reap_inner(&self) -> (usize, bool) {
        #[cfg(test)]
        self.fake_clear();
        let mut woken = Vec::new();
        let mut freed = Vec::new();
        let mut reaped = 0;
        let backlog;
        {
            let mut ring = self.ring.borrow_mut();
            let mut table = self.table.borrow_mut();
            loop {
                for done in ring.completions() {
                    reaped += 1;
                    route(&mut table, done, &mut woken, &mut freed);
                }
                if ring.overflow() == 0 {
                    backlog = false;
                    break;
                }
                // The ring is empty and completions wait in the kernel: it
                // moves them in when it notices room, on a WAIT among others.
                let _ = self.dev.wait(1, Some(Duration::ZERO));
                if ring.ready() == 0 {
                    backlog = ring.overflow() > 0;
                    break;
                }
            }
        }
        // Outside the borrows: landing closes descriptors, waking may run
        // code of the executor.
        for storage in freed {
            drop(storage.land());
        }
        for waker in woken {
            waker.wake();
        }
        (reaped, backlog)
    }

    /// Tests: the fake kernel makes the eventfd readable with each
    /// completion; empty it before draining, as the real device is emptied
    /// by draining.
    #[cfg(test)]
    fn fake_clear(&self) {
        use std::os::fd::AsRawFd;
        if self.fake {
            let mut count = 0u64;
            // SAFETY: reads at most 8 bytes into a live u64 from our
            // non-blocking eventfd.
            unsafe {
                libc::read(
                    self.dev.as_fd().as_raw_fd(),
                    (&mut count as *mut u64).cast(),
                    8,
                )
            };
        }
    }

    /// The result of chain `cookie` if its completion was reaped; otherwise
    /// remembers `waker` for it.
    fn claim(&self, cookie: u64, waker: &Waker) -> Option<Finished> {
        let mut table = self.table.borrow_mut();
        let entry = table
            .get_mut(&cookie)
            .expect("a queued chain's entry stays until its future takes it");
        match &mut entry.state {
            State::Waiting(w) => {
                if !w.as_ref().is_some_and(|w| w.will_wake(waker)) {
                    *w = Some(waker.clone());
                }
                None
            }
            State::Completed(outcome) => {
                let outcome = *outcome;
                let entry = table.remove(&cookie)?;
                Some(Finished::new(entry.storage.land(), outcome))
            }
            State::Abandoned => unreachable!("an abandoned chain has no future"),
        }
    }

    /// The future of chain `cookie` is gone: free its memory now if it has
    /// finished, else when its completion comes; and ask it to stop.
    fn abandon(&self, cookie: u64) {
        let finished = {
            let mut table = self.table.borrow_mut();
            match table.get_mut(&cookie) {
                Some(Entry {
                    state: State::Completed(_),
                    ..
                }) => table.remove(&cookie),
                Some(entry) => {
                    entry.state = State::Abandoned;
                    None
                }
                None => None,
            }
        };
        match finished {
            Some(entry) => drop(entry.storage.land()),
            // ENOENT: it finished meanwhile; its completion frees it.
            None => drop(self.dev.cancel(cookie)),
        }
    }
}

/// Gives completion `done` to its entry, if it is one of ours: its cookie
/// and an atom of its own as the last one run.
fn route(
    table: &mut HashMap<u64, Entry>,
    done: Outcome,
    woken: &mut Vec<Waker>,
    freed: &mut Vec<Storage>,
) {
    let Some(entry) = table.get_mut(&done.cookie) else {
        return;
    };
    if !entry.storage.owns_atom(done.last_atom) {
        return;
    }
    match &mut entry.state {
        State::Waiting(waker) => {
            if let Some(w) = waker.take() {
                woken.push(w);
            }
            entry.state = State::Completed(done);
        }
        State::Abandoned => {
            if let Some(entry) = table.remove(&done.cookie) {
                freed.push(entry.storage);
            }
        }
        // Exactly one completion per chain: a second is not ours.
        State::Completed(_) => {}
    }
}

impl AsFd for Context {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.dev.as_fd()
    }
}

impl Drop for Context {
    fn drop(&mut self) {
        if self.in_flight() > 0 {
            // Closing the device would cancel them too, but asynchronously:
            // their memory must outlive them.
            let _ = self.dev.cancel_all();
            let deadline = Instant::now() + DRAIN_ON_DROP;
            while self.in_flight() > 0 {
                let left = deadline.saturating_duration_since(Instant::now());
                match self.dev.wait(1, Some(left)) {
                    Ok(_) => {}
                    Err(e) if e.raw_os_error() == Some(libc::EINTR) => {}
                    Err(_) => break,
                }
                self.reap();
            }
        }
        for (_, entry) in self.table.get_mut().drain() {
            match entry.state {
                State::Completed(_) => drop(entry.storage.land()),
                // Still running (or stuck): its memory is leaked, never freed
                // under the kernel's feet.
                State::Waiting(_) | State::Abandoned => std::mem::forget(entry.storage),
            }
        }
    }
}

enum FutState {
    Ready(io::Result<Finished>),
    InFlight(u64),
    Taken,
}

#[cfg(feature = "tokio")]
type Readable<'ctx> = Pin<
    Box<dyn Future<Output = io::Result<tokio::io::unix::AsyncFdReadyGuard<'ctx, DevFd>>> + 'ctx>,
>;

/// The future of a submitted [`Chain`]: its [`Finished`] once it has run,
/// or the error of its submission.
///
/// Polling it reaps the context's completions. Dropping it before the
/// chain finished cancels the chain (`SYSLET_IOC_CANCEL`) and leaves its
/// memory to the context, which frees it when the completion is reaped;
/// forgetting it ([`std::mem::forget`]) leaves it there too, until the
/// context goes.
#[must_use = "a chain's future does nothing unless polled; dropping it cancels the chain"]
pub struct ChainFuture<'ctx> {
    ctx: &'ctx Context,
    state: FutState,
    queued: bool,
    #[cfg(feature = "tokio")]
    readable: Option<Readable<'ctx>>,
}

impl std::fmt::Debug for ChainFuture<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChainFuture")
            .field("went_async", &self.queued)
            .finish_non_exhaustive()
    }
}

impl<'ctx> ChainFuture<'ctx> {
    fn new(ctx: &'ctx Context, state: FutState, queued: bool) -> Self {
        Self {
            ctx,
            state,
            queued,
            #[cfg(feature = "tokio")]
            readable: None,
        }
    }

    /// Whether the chain went asynchronous (an atom blocked): its result
    /// comes through the ring. If not, the future is ready at once.
    pub fn went_async(&self) -> bool {
        self.queued
    }

    /// Asks the kernel to stop the chain (`SYSLET_IOC_CANCEL`); it then ends
    /// with [`Outcome::cancelled`](crate::Outcome::cancelled), and the future
    /// still gives its [`Finished`]. Returns whether the chain was still
    /// running.
    pub fn cancel(&self) -> io::Result<bool> {
        let FutState::InFlight(cookie) = self.state else {
            return Ok(false);
        };
        match self.ctx.dev.cancel(cookie) {
            Ok(found) => Ok(found > 0),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(false),
            Err(e) => Err(e),
        }
    }
}

impl Future for ChainFuture<'_> {
    type Output = io::Result<Finished>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let cookie = match std::mem::replace(&mut this.state, FutState::Taken) {
            FutState::Ready(result) => return Poll::Ready(result),
            FutState::Taken => panic!("ChainFuture polled after it completed"),
            FutState::InFlight(cookie) => cookie,
        };
        this.state = FutState::InFlight(cookie);
        loop {
            let (_, backlog) = this.ctx.reap_inner();
            if let Some(done) = this.ctx.claim(cookie, cx.waker()) {
                this.state = FutState::Taken;
                #[cfg(feature = "tokio")]
                {
                    this.readable = None;
                }
                return Poll::Ready(Ok(done));
            }
            if let ControlFlow::Break(poll) = this.wait_ready(cookie, backlog, cx) {
                return poll;
            }
        }
    }
}

impl ChainFuture<'_> {
    /// After a reap that left the chain running: without tokio, nothing to
    /// do (the executor waits, see `block_on`); with it, waits for the
    /// descriptor through tokio's reactor. `Continue`: reap again.
    #[cfg(not(feature = "tokio"))]
    fn wait_ready(
        &mut self,
        _cookie: u64,
        _backlog: bool,
        _cx: &mut TaskContext<'_>,
    ) -> ControlFlow<Poll<io::Result<Finished>>> {
        ControlFlow::Break(Poll::Pending)
    }

    /// After a reap that left the chain running: without tokio, nothing to
    /// do (the executor waits, see `block_on`); with it, waits for the
    /// descriptor through tokio's reactor. `Continue`: reap again.
    #[cfg(feature = "tokio")]
    fn wait_ready(
        &mut self,
        cookie: u64,
        backlog: bool,
        cx: &mut TaskContext<'_>,
    ) -> ControlFlow<Poll<io::Result<Finished>>> {
        let ctx = self.ctx;
        let Some(afd) = &ctx.tokio else {
            return ControlFlow::Break(Poll::Pending);
        };
        if backlog {
            // Completions the kernel could not move into the ring yet: come
            // back soon rather than wait for an edge that may not come.
            cx.waker().wake_by_ref();
            return ControlFlow::Break(Poll::Pending);
        }
        let readable = self
            .readable
            .get_or_insert_with(|| Box::pin(afd.readable()));
        match readable.as_mut().poll(cx) {
            Poll::Pending => ControlFlow::Break(Poll::Pending),
            Poll::Ready(Ok(mut guard)) => {
                self.readable = None;
                // Drain with the guard held, then clear: a completion posted
                // after the drain is a new event, which `clear_ready` leaves
                // set. Cleared before the drain, the readiness of a
                // completion posted in between would be lost, and with it
                // the wake-up (tokio's epoll is edge-triggered).
                let (_, backlog) = ctx.reap_inner();
                if !backlog {
                    guard.clear_ready();
                }
                ControlFlow::Continue(())
            }
            Poll::Ready(Err(e)) => {
                // The reactor is gone: give up on the chain, as a drop would.
                self.readable = None;
                self.state = FutState::Taken;
                ctx.abandon(cookie);
                ControlFlow::Break(Poll::Ready(Err(e)))
            }
        }
    }
}

impl Drop for ChainFuture<'_> {
    fn drop(&mut self) {
        #[cfg(feature = "tokio")]
        {
            self.readable = None;
        }
        if let FutState::InFlight(cookie) = self.state {
            self.ctx.abandon(cookie);
        }
    }
}

#[cfg(test)]
mod tests;

//! [`Finished`]: a chain that has run, with its results and buffers.

use std::{io, os::fd::OwnedFd};

use crate::{
    chain::{BufStep, Opened, StatStep, Step},
    storage::{Landed, LandedSlot, NOT_RUN},
    Outcome,
};

/// A chain that has run to its end: how it ended, each step's result, and
/// the buffers it owned.
///
/// Dropping it frees the buffers and closes the descriptors the chain
/// opened and did not close (unless taken with [`Finished::take_fd`]).
///
/// # Panics
///
/// The methods that take a step handle panic on a handle of another chain.
pub struct Finished {
    landed: Landed,
    outcome: Outcome,
}

impl std::fmt::Debug for Finished {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Finished")
            .field("outcome", &self.outcome)
            .field("results", &self.landed.results)
            .finish_non_exhaustive()
    }
}

impl Finished {
    pub(crate) fn new(landed: Landed, outcome: Outcome) -> Self {
        Self { landed, outcome }
    }

    /// How the chain ended (its last step's result, whether a stop
    /// condition, a cancellation or a deadline ended it, ...).
    pub fn outcome(&self) -> &Outcome {
        &self.outcome
    }

    /// The chain itself, or an error if it did not end well: the error of
    /// the step that ended it (a negative result), `ECANCELED` if it was
    /// cancelled, `ETIME` past its deadline, or the chain's own error (a
    /// refused system call, ...).
    pub fn check(self) -> io::Result<Self> {
        let o = &self.outcome;
        if o.result < 0 || o.aborted || o.cancelled || o.timed_out || o.killed {
            let errno = match o.result {
                r if r < 0 => i32::try_from(-r).unwrap_or(libc::EIO),
                _ => libc::EIO,
            };
            return Err(io::Error::from_raw_os_error(errno));
        }
        Ok(self)
    }

    /// The result word of `step`: `None` if the step did not run.
    pub fn raw_result(&self, step: impl Into<Step>) -> Option<i64> {
        let step = self.own(step.into());
        match self.landed.results[step.index] {
            NOT_RUN => None,
            r => Some(r),
        }
    }

    /// The result of `step` as a `Result`: a negative result is its errno;
    /// a step that did not run is an error of kind
    /// [`io::ErrorKind::Other`].
    pub fn result(&self, step: impl Into<Step>) -> io::Result<i64> {
        let step = step.into();
        match self.raw_result(step) {
            None => Err(io::Error::other(format!("step {} did not run", step.index))),
            Some(r) if r < 0 => Err(io::Error::from_raw_os_error(
                i32::try_from(-r).unwrap_or(libc::EIO),
            )),
            Some(r) => Ok(r),
        }
    }

    /// The buffer of `step`, once: for a read, with its length set to the
    /// bytes read (0 if the step failed or did not run); for a write, as
    /// it was given.
    pub fn take_buf(&mut self, step: BufStep) -> Option<Vec<u8>> {
        self.own(step.step);
        match &mut self.landed.slots[step.slot] {
            LandedSlot::Bytes(buf) => buf.take(),
            _ => None,
        }
    }

    /// The `struct stat` that `step` filled, or its error.
    pub fn stat(&self, step: StatStep) -> io::Result<libc::stat> {
        self.result(step)?;
        self.landed
            .stats
            .get(step.stat)
            .copied()
            .ok_or_else(|| io::Error::from_raw_os_error(libc::EINVAL))
    }

    /// The descriptor that `step` opened, if it succeeded and no step of
    /// the chain closed it: it is then the caller's (and not closed when
    /// the `Finished` goes). `None` the second time.
    pub fn take_fd(&mut self, step: Opened) -> Option<OwnedFd> {
        self.own(step.step);
        self.landed.take_opened(step.opened)
    }

    fn own(&self, step: Step) -> Step {
        assert_eq!(step.chain, self.landed.chain, "a handle of another chain");
        step
    }
}

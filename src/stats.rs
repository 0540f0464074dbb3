// SPDX-License-Identifier: GPL-2.0

// Copyright (C) 2026 The syslet authors.

//! Per-context counters, shown in `/proc/<pid>/fdinfo/<fd>`.

use kernel::{
    seq_file::SeqFile,
    seq_print,
    sync::atomic::{
        Atomic,
        Relaxed, //
    }, //
};

/// Counters of one context. Relaxed atomics: they are statistics, read
/// without any ordering against the work they count.
pub(crate) struct Stats {
    /// Chains run to their end.
    pub(crate) chains: Atomic<u64>,
    /// Atoms run (system calls and operations).
    pub(crate) atoms: Atomic<u64>,
    /// Chains ended by an error of the chain itself (bad atom, budget, ...).
    pub(crate) aborted: Atomic<u64>,
    /// Atoms refused because the system call may not run as an atom.
    pub(crate) refused: Atomic<u64>,
    /// Atoms the caller's seccomp filters did not let run.
    pub(crate) seccomp_denied: Atomic<u64>,
    /// Submissions whose caller a spare took over when an atom blocked.
    pub(crate) went_async: Atomic<u64>,
    /// Atoms that blocked the caller: no spare, or a cap reached.
    pub(crate) blocked_sync: Atomic<u64>,
    /// Hand-offs that gave the chains after the blocked one to the spare
    /// with the caller's context (`continuation`).
    pub(crate) continued: Atomic<u64>,
    /// Spare threads started, and starts that failed (RLIMIT_NPROC, ...).
    pub(crate) spawned: Atomic<u64>,
    pub(crate) spawn_failed: Atomic<u64>,
    /// Spares sent away at a hand-off because they could not take the
    /// caller's context: another security identity or FPU image.
    pub(crate) retired: Atomic<u64>,
    /// Reads and writes issued with no thread waiting for them (`direct_io`).
    pub(crate) direct_io: Atomic<u64>,
    /// Chains stopped by `SYSLET_IOC_CANCEL`, and by a deadline.
    pub(crate) cancelled: Atomic<u64>,
    pub(crate) timed_out: Atomic<u64>,
}

impl Stats {
    pub(crate) const fn new() -> Self {
        Self {
            chains: Atomic::new(0),
            atoms: Atomic::new(0),
            aborted: Atomic::new(0),
            refused: Atomic::new(0),
            seccomp_denied: Atomic::new(0),
            went_async: Atomic::new(0),
            blocked_sync: Atomic::new(0),
            continued: Atomic::new(0),
            spawned: Atomic::new(0),
            spawn_failed: Atomic::new(0),
            retired: Atomic::new(0),
            direct_io: Atomic::new(0),
            cancelled: Atomic::new(0),
            timed_out: Atomic::new(0),
        }
    }

    /// Adds one to `counter`.
    pub(crate) fn bump(counter: &Atomic<u64>) {
        Self::add(counter, 1);
    }

    /// Adds `n` to `counter`.
    pub(crate) fn add(counter: &Atomic<u64>, n: u32) {
        counter.add(u64::from(n), Relaxed);
    }

    /// Prints every counter, one `name:\tvalue` line each.
    pub(crate) fn show(&self, m: &SeqFile) {
        seq_print!(m, "syslet-chains:\t{}\n", self.chains.load(Relaxed));
        seq_print!(m, "syslet-atoms:\t{}\n", self.atoms.load(Relaxed));
        seq_print!(m, "syslet-aborted:\t{}\n", self.aborted.load(Relaxed));
        seq_print!(m, "syslet-refused:\t{}\n", self.refused.load(Relaxed));
        seq_print!(
            m,
            "syslet-seccomp-denied:\t{}\n",
            self.seccomp_denied.load(Relaxed)
        );
        seq_print!(m, "syslet-went-async:\t{}\n", self.went_async.load(Relaxed));
        seq_print!(
            m,
            "syslet-blocked-sync:\t{}\n",
            self.blocked_sync.load(Relaxed)
        );
        seq_print!(m, "syslet-continued:\t{}\n", self.continued.load(Relaxed));
        seq_print!(
            m,
            "syslet-spares-spawned:\t{}\n",
            self.spawned.load(Relaxed)
        );
        seq_print!(
            m,
            "syslet-spares-failed:\t{}\n",
            self.spawn_failed.load(Relaxed)
        );
        seq_print!(
            m,
            "syslet-spares-retired:\t{}\n",
            self.retired.load(Relaxed)
        );
        seq_print!(m, "syslet-direct-io:\t{}\n", self.direct_io.load(Relaxed));
        seq_print!(m, "syslet-cancelled:\t{}\n", self.cancelled.load(Relaxed));
        seq_print!(m, "syslet-timed-out:\t{}\n", self.timed_out.load(Relaxed));
    }
}

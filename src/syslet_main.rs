// SPDX-License-Identifier: GPL-2.0

// Copyright (C) 2026 The syslet authors.

//! Syslets: chains of system calls run in the caller's own context.
//!
//! User space opens `/dev/syslet` and drives it with the ioctls defined in
//! `include/uapi/linux/syslet.h`. This file holds only the module glue; each
//! concept has a file of its own:
//!
//! - [`access`]: who may make a context (the `disabled` and `group`
//!   parameters),
//! - [`device`]: the misc device, its file operations and ioctl handlers,
//! - [`context`]: the state behind one open file,
//! - [`chain`]: the atom interpreter,
//! - [`threads`]: cachemiss threads and the takeover (the scheduler hook),
//! - [`slots`]: the pool's slot table, O(1) per hand-off,
//! - [`continuation`]: the rest of a batch, run by the spare that took the
//!   caller's context over,
//! - [`buffers`]: registered buffers, pinned once for many reads and writes,
//! - [`completions`]: completions of chains that went asynchronous,
//! - [`direct_io`]: thread-free I/O, completed by the device's callback,
//! - [`ring`]: the completion ring user space maps,
//! - [`policy`]: which system calls may run as atoms,
//! - [`stats`]: per-context counters shown in fdinfo,
//! - [`teardown`]: contexts freed later, when their release cannot wait,
//! - [`trace`]: trace events (tracefs `events/syslet/`),
//! - [`uapi`]: the ABI, generated from the uapi header.

use kernel::{
    miscdevice::{
        MiscDeviceOptions,
        MiscDeviceRegistration, //
    },
    prelude::*, //
};

mod access;
mod buffers;
mod cancel;
mod chain;
mod completions;
mod context;
mod continuation;
mod deadline;
mod device;
mod direct_io;
mod held_refs;
mod identity;
mod policy;
mod ring;
mod slots;
mod stats;
mod syscall;
mod teardown;
mod threads;
mod trace;
mod uapi;
mod user_context;
mod user_words;

module! {
    type: SysletModule,
    name: "syslet",
    authors: ["The syslet authors"],
    description: "Syslets: system-call chains that go asynchronous only when they block",
    license: "GPL",
    params: {
        disabled: u32 {
            default: 0,
            description: "0: anyone who can open /dev/syslet may use it; 1: only CAP_SYS_ADMIN or members of `group`; 2: nobody",
        },
        group: u32 {
            default: 4294967295,
            description: "gid (initial user namespace) allowed when disabled=1; 4294967295 (the default) for none",
        },
    },
}

#[pin_data]
struct SysletModule {
    #[pin]
    _misc: MiscDeviceRegistration<device::SysletFile>,
    // Dropped after `_misc`: runs the teardowns still queued, after which
    // no context and no thread that could call the hook is left (each file
    // pins the module, and each thread while it runs our code).
    _teardown: teardown::TeardownQueue,
    _hooks: threads::HookRegistration,
}

impl kernel::InPlaceModule for SysletModule {
    fn init(_module: &'static ThisModule) -> impl PinInit<Self, Error> {
        pr_info!("syslet: ABI version {}\n", uapi::SYSLET_ABI_VERSION);
        try_pin_init!(Self {
            _misc <- MiscDeviceRegistration::register(MiscDeviceOptions { name: c"syslet" }),
            _teardown: teardown::TeardownQueue::new()?,
            _hooks: threads::HookRegistration::new()?,
        })
    }
}

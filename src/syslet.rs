// SPDX-License-Identifier: GPL-2.0

// Copyright (C) 2026 The syslet authors.

//! Syslets: chains of system calls run in the caller's own context.
//!
//! User space opens `/dev/syslet` and drives it with the ioctls defined in
//! `include/uapi/linux/syslet.h`. This file holds only the module glue; each
//! concept has a file of its own:
//!
//! - [`device`]: the misc device and its file operations (one context per
//!   open file),
//! - [`uapi`]: the ABI, generated from the uapi header.

use kernel::{
    miscdevice::{
        MiscDeviceOptions,
        MiscDeviceRegistration, //
    },
    prelude::*, //
};

mod device;
mod uapi;

module! {
    type: SysletModule,
    name: "syslet",
    authors: ["The syslet authors"],
    description: "Syslets: system-call chains that go asynchronous only when they block",
    license: "GPL",
}

#[pin_data]
struct SysletModule {
    #[pin]
    _misc: MiscDeviceRegistration<device::SysletFile>,
}

impl kernel::InPlaceModule for SysletModule {
    fn init(_module: &'static ThisModule) -> impl PinInit<Self, Error> {
        pr_info!("syslet: ABI version {}\n", uapi::SYSLET_ABI_VERSION);
        try_pin_init!(Self {
            _misc <- MiscDeviceRegistration::register(MiscDeviceOptions { name: c"syslet" }),
        })
    }
}

// SPDX-License-Identifier: GPL-2.0

// Copyright (C) 2026 The syslet authors.

//! `/dev/syslet`: the misc device and its file operations.
//!
//! Every open file is a syslet context. The ioctl entry point decodes the
//! command and hands the user pointer to the handler of that command; unknown
//! commands fail with `ENOTTY`, as the ioctl convention asks.

use core::mem::size_of;
use kernel::{
    fs::File,
    ioctl::_IOC_SIZE,
    miscdevice::{
        MiscDevice,
        MiscDeviceRegistration, //
    },
    prelude::*,
    seq_file::SeqFile,
    seq_print,
    task::Pid,
    uaccess::{
        UserPtr,
        UserSlice, //
    },
};

use crate::uapi;

/// The state of one open `/dev/syslet` file.
pub(crate) struct SysletFile {
    /// The thread-group id of the process that opened the file.
    owner_tgid: Pid,
}

#[vtable]
impl MiscDevice for SysletFile {
    type Ptr = KBox<Self>;

    fn open(_file: &File, _misc: &MiscDeviceRegistration<Self>) -> Result<KBox<Self>> {
        let owner_tgid = kernel::current!().tgid();
        KBox::new(Self { owner_tgid }, GFP_KERNEL)
    }

    fn ioctl(_this: &SysletFile, _file: &File, cmd: u32, arg: usize) -> Result<isize> {
        let user = UserSlice::new(UserPtr::from_addr(arg), _IOC_SIZE(cmd));
        match cmd {
            uapi::SYSLET_IOC_QUERY => query(user),
            _ => Err(ENOTTY),
        }
    }

    fn show_fdinfo(this: &SysletFile, m: &SeqFile, _file: &File) {
        seq_print!(m, "syslet-abi:\t{}\n", uapi::SYSLET_ABI_VERSION);
        seq_print!(m, "syslet-owner-tgid:\t{}\n", this.owner_tgid);
    }
}

/// `SYSLET_IOC_QUERY`: report the ABI version and features.
fn query(user: UserSlice) -> Result<isize> {
    let answer = uapi::syslet_query {
        abi_version: uapi::SYSLET_ABI_VERSION,
        // The struct is 64 bytes: the cast cannot truncate.
        query_size: size_of::<uapi::syslet_query>() as u32,
        ..Default::default()
    };
    user.writer().write(&answer)?;
    Ok(0)
}

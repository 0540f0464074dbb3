// SPDX-License-Identifier: GPL-2.0

// Copyright (C) 2026 The syslet authors.

//! Which system calls may run as atoms.
//!
//! An explicit allowlist (x86-64 numbers): I/O, file and directory
//! operations, sockets, poll and epoll waits, futexes, sleeps and a few
//! harmless queries. Everything else is refused with `EOPNOTSUPP`, notably
//! what creates or ends tasks (clone, fork, vfork, execve, exit), what works
//! on the caller's register frame (rt_sigreturn), process control (ptrace,
//! prctl, seccomp, unshare, setns), identity changes (the setuid family,
//! capset), and ioctl, which would let a chain re-enter this device. Atoms
//! that pass the allowlist still go through the caller's seccomp filters.

/// Allowed x86-64 system call numbers, in order.
const ALLOWED: &[u32] = &[
    0,   // read
    1,   // write
    2,   // open
    3,   // close
    4,   // stat
    5,   // fstat
    6,   // lstat
    7,   // poll
    8,   // lseek
    17,  // pread64
    18,  // pwrite64
    19,  // readv
    20,  // writev
    21,  // access
    22,  // pipe
    23,  // select
    24,  // sched_yield
    32,  // dup
    33,  // dup2
    35,  // nanosleep
    39,  // getpid
    40,  // sendfile
    41,  // socket
    42,  // connect
    43,  // accept
    44,  // sendto
    45,  // recvfrom
    46,  // sendmsg
    47,  // recvmsg
    48,  // shutdown
    49,  // bind
    50,  // listen
    51,  // getsockname
    52,  // getpeername
    53,  // socketpair
    54,  // setsockopt
    55,  // getsockopt
    72,  // fcntl
    73,  // flock
    74,  // fsync
    75,  // fdatasync
    76,  // truncate
    77,  // ftruncate
    78,  // getdents
    79,  // getcwd
    80,  // chdir
    81,  // fchdir
    82,  // rename
    83,  // mkdir
    84,  // rmdir
    85,  // creat
    86,  // link
    87,  // unlink
    88,  // symlink
    89,  // readlink
    90,  // chmod
    91,  // fchmod
    92,  // chown
    93,  // fchown
    94,  // lchown
    95,  // umask
    96,  // gettimeofday
    102, // getuid
    104, // getgid
    107, // geteuid
    108, // getegid
    110, // getppid
    162, // sync
    186, // gettid
    187, // readahead
    188, // setxattr
    189, // lsetxattr
    190, // fsetxattr
    191, // getxattr
    192, // lgetxattr
    193, // fgetxattr
    194, // listxattr
    195, // llistxattr
    196, // flistxattr
    197, // removexattr
    198, // lremovexattr
    199, // fremovexattr
    201, // time
    202, // futex
    213, // epoll_create
    217, // getdents64
    221, // fadvise64
    228, // clock_gettime
    230, // clock_nanosleep
    232, // epoll_wait
    233, // epoll_ctl
    257, // openat
    258, // mkdirat
    260, // fchownat
    262, // newfstatat
    263, // unlinkat
    264, // renameat
    265, // linkat
    266, // symlinkat
    267, // readlinkat
    268, // fchmodat
    269, // faccessat
    270, // pselect6
    271, // ppoll
    275, // splice
    276, // tee
    277, // sync_file_range
    280, // utimensat
    281, // epoll_pwait
    284, // eventfd
    285, // fallocate
    288, // accept4
    290, // eventfd2
    291, // epoll_create1
    292, // dup3
    293, // pipe2
    295, // preadv
    296, // pwritev
    299, // recvmmsg
    306, // syncfs
    307, // sendmmsg
    316, // renameat2
    318, // getrandom
    326, // copy_file_range
    327, // preadv2
    328, // pwritev2
    332, // statx
    437, // openat2
    439, // faccessat2
    441, // epoll_pwait2
];

/// Words of [`ALLOWED_MAP`]: every allowed number is below 64 times this.
const MAP_WORDS: usize = 8;

/// [`ALLOWED`] as a bitmap, built at compile time: every atom asks, and a
/// bit test is cheaper than a search.
static ALLOWED_MAP: [u64; MAP_WORDS] = {
    let mut map = [0u64; MAP_WORDS];
    let mut i = 0;
    while i < ALLOWED.len() {
        let nr = ALLOWED[i] as usize;
        assert!(nr < MAP_WORDS * 64);
        map[nr / 64] |= 1 << (nr % 64);
        i += 1;
    }
    map
};

/// Whether system call `nr` may run as an atom.
pub(crate) fn allowed(nr: u32) -> bool {
    let nr = nr as usize;
    ALLOWED_MAP
        .get(nr / 64)
        .is_some_and(|word| word & (1 << (nr % 64)) != 0)
}

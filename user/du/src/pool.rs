//! The walk on a pool of threads doing plain calls: what a program does
//! today to keep several blocking calls in flight. One job per directory:
//! a thread opens it, lists it, stats (and reads) its entries and queues
//! its subdirectories for any thread to take. A job names its directory by
//! path, so no descriptor crosses threads.

use std::{
    collections::VecDeque,
    ffi::{CStr, CString},
    sync::{Condvar, Mutex},
};

use crate::{
    plain::{list_dir, open_dir},
    tree::{child, Listing, Walk},
};

struct Job {
    rel: Vec<u8>,
    path: CString,
}

struct Queue {
    jobs: VecDeque<Job>,
    /// Jobs taken and not finished: while any is, more may come.
    busy: usize,
}

/// Walks the tree at `root` with `threads` threads.
pub fn walk(root: &CStr, read: bool, threads: usize) -> Walk {
    let queue = Mutex::new(Queue {
        jobs: VecDeque::from([Job {
            rel: Vec::new(),
            path: root.to_owned(),
        }]),
        busy: 0,
    });
    let more = Condvar::new();
    let walk = Mutex::new(Walk::default());
    std::thread::scope(|s| {
        for _ in 0..threads.max(1) {
            s.spawn(|| worker(&queue, &more, &walk, read));
        }
    });
    walk.into_inner().unwrap_or_else(|e| e.into_inner())
}

fn worker(queue: &Mutex<Queue>, more: &Condvar, walk: &Mutex<Walk>, read: bool) {
    loop {
        let job = {
            let mut q = queue.lock().unwrap_or_else(|e| e.into_inner());
            loop {
                if let Some(job) = q.jobs.pop_front() {
                    q.busy += 1;
                    break job;
                }
                if q.busy == 0 {
                    more.notify_all();
                    return;
                }
                q = more.wait(q).unwrap_or_else(|e| e.into_inner());
            }
        };
        let (listing, bytes, files) = match open_dir(libc::AT_FDCWD, &job.path) {
            Ok(fd) => list_dir(&fd, read),
            Err(e) => (
                Listing {
                    entries: Vec::new(),
                    error: Some(e),
                },
                0,
                0,
            ),
        };
        let subdirs: Vec<Job> = listing
            .entries
            .iter()
            .filter(|e| e.stat.is_ok_and(|st| st.is_dir()))
            .map(|e| {
                let mut path = job.path.as_bytes().to_vec();
                path.push(b'/');
                path.extend_from_slice(e.name.as_bytes());
                Job {
                    rel: child(&job.rel, &e.name),
                    // No NUL inside: both parts are C strings.
                    path: CString::new(path).unwrap_or_default(),
                }
            })
            .collect();
        {
            let mut w = walk.lock().unwrap_or_else(|e| e.into_inner());
            w.bytes_read += bytes;
            w.files_read += files;
            w.dirs.insert(job.rel, listing);
        }
        let mut q = queue.lock().unwrap_or_else(|e| e.into_inner());
        q.jobs.extend(subdirs);
        q.busy -= 1;
        more.notify_all();
    }
}

//! Cross-process coordination on the store without a daemon.
//!
//! Every operation that writes content holds a *lease*: a shared `flock` on `gc.lock`.
//! Garbage collection takes the same lock exclusively, so it never runs while another
//! process has written a blob it has not yet referenced in the database. A process killed
//! with -9 loses its lock with its file descriptors, so a crashed writer never blocks GC.

use crate::error::{IoContext, Result};
use rustix::fs::{flock, FlockOperation};
use std::fs::File;
use std::path::Path;
use std::time::{Duration, Instant};

/// A shared lease on the store; dropping it releases the lock.
pub struct Lease {
    _file: File,
}

/// Exclusive hold on the store for garbage collection.
pub struct GcGuard {
    _file: File,
}

fn open(path: &Path) -> Result<File> {
    std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .ctx("open lock", path)
}

pub(crate) fn lease(path: &Path) -> Result<Lease> {
    let f = open(path)?;
    flock(&f, FlockOperation::LockShared)
        .map_err(std::io::Error::from)
        .ctx("lock", path)?;
    Ok(Lease { _file: f })
}

/// Waits up to `wait` for every writer to finish; `None` when they did not.
pub(crate) fn gc(path: &Path, wait: Duration) -> Result<Option<GcGuard>> {
    let f = open(path)?;
    let start = Instant::now();
    loop {
        match flock(&f, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => return Ok(Some(GcGuard { _file: f })),
            Err(rustix::io::Errno::WOULDBLOCK) if start.elapsed() < wait => {
                std::thread::sleep(Duration::from_millis(20))
            }
            Err(rustix::io::Errno::WOULDBLOCK) => return Ok(None),
            Err(e) => return Err(std::io::Error::from(e)).ctx("lock", path),
        }
    }
}

//! Keeps the kernel's cgroup-migration fast path open while a container starts.
//!
//! Moving a process into a cgroup (what every OCI runtime does with the container's first
//! process) takes the global `cgroup_threadgroup_rwsem` for writing. When no migration
//! happened in the last RCU grace period, that lock waits for a whole grace period first:
//! 5-18 ms measured here, the largest single cost of `berth run`. Right after a
//! migration the next ones are cheap (~0.4 ms), for about one more grace period.
//!
//! So while a container is being set up, a thread re-adds this process to the cgroup it
//! is already in (a no-op migration) every 2 ms: the first one waits for the grace
//! period in the background, overlapping the rootfs and spec work, and the runtime's own
//! migration finds the fast path. See ADR 0023. Where the kernel has `favordynmods` set,
//! or the cgroup file cannot be written, this does nothing useful and nothing harmful.

use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Stops the warming thread when dropped.
pub struct AttachWarmer {
    stop: Arc<AtomicBool>,
    /// When the thread stops by itself: nanoseconds after `base`.
    until: Arc<AtomicU64>,
    base: Instant,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// A warmer started at the top of `main` (see `begin`), for the first `start` to take.
static EARLY: Mutex<Option<AttachWarmer>> = Mutex::new(None);

/// Starts warming as early as possible for a command that will start a container or a
/// process in one (run, exec, start): the grace period then overlaps the whole command.
/// Without a taker the thread stops after a few seconds.
pub fn begin() {
    if let Some(w) = spawn(Duration::from_secs(3)) {
        *EARLY.lock().unwrap_or_else(|e| e.into_inner()) = Some(w);
    }
}

impl AttachWarmer {
    /// Stops by itself at the latest `max` from now.
    pub fn limit(&self, max: Duration) {
        let at = (self.base.elapsed() + max).as_nanos().min(u64::MAX as u128) as u64;
        self.until.store(at, Ordering::SeqCst);
    }

    /// Stops the thread and waits until it is gone (before this process forks again).
    pub fn finish(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for AttachWarmer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

const PERIOD: Duration = Duration::from_millis(2);

/// Warming for at most `max` from now (or until the guard is dropped): the one `begin`
/// started if there is one, else a new one; `None` when this process's cgroup file is
/// not writable.
pub fn start(max: Duration) -> Option<AttachWarmer> {
    let early = EARLY.lock().unwrap_or_else(|e| e.into_inner()).take();
    match early {
        Some(w) if !w.stop.load(Ordering::SeqCst) => {
            w.limit(max);
            Some(w)
        }
        Some(expired) => {
            expired.finish(); // gone before anything forks
            spawn(max)
        }
        None => spawn(max),
    }
}

fn spawn(max: Duration) -> Option<AttachWarmer> {
    let file = own_procs_file()?;
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let base = Instant::now();
    let until = Arc::new(AtomicU64::new(max.as_nanos().min(u64::MAX as u128) as u64));
    let deadline = until.clone();
    let pid = std::process::id().to_string().into_bytes();
    // The loop allocates nothing and takes no lock: the process may fork meanwhile.
    let thread = std::thread::Builder::new()
        .name("cgroup-warm".into())
        .spawn(move || {
            while !flag.load(Ordering::SeqCst)
                && (base.elapsed().as_nanos() as u64) < deadline.load(Ordering::SeqCst)
            {
                if (&file).write_all(&pid).is_err() {
                    flag.store(true, Ordering::SeqCst);
                    return;
                }
                std::thread::sleep(PERIOD);
            }
            flag.store(true, Ordering::SeqCst);
        })
        .ok()?;
    Some(AttachWarmer {
        stop,
        until,
        base,
        thread: Some(thread),
    })
}

/// `cgroup.procs` of the cgroup this process is in: the unified (v2) hierarchy's when
/// mounted, else the first v1 hierarchy's.
fn own_procs_file() -> Option<File> {
    let text = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let mut candidates: Vec<PathBuf> = Vec::new();
    for line in text.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(_), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let rel = path.trim_start_matches('/');
        if controllers.is_empty() {
            for base in ["/sys/fs/cgroup/unified", "/sys/fs/cgroup"] {
                candidates.insert(0, PathBuf::from(base).join(rel).join("cgroup.procs"));
            }
        } else {
            let dir = controllers.strip_prefix("name=").unwrap_or(controllers);
            candidates.push(
                PathBuf::from("/sys/fs/cgroup")
                    .join(dir)
                    .join(rel)
                    .join("cgroup.procs"),
            );
        }
    }
    candidates
        .iter()
        .find_map(|p| std::fs::OpenOptions::new().write(true).open(p).ok())
}

#[cfg(test)]
mod tests {
    #[test]
    fn finds_a_writable_cgroup_file_as_root() {
        if !rustix::process::geteuid().is_root() {
            return;
        }
        assert!(super::own_procs_file().is_some());
        let w = super::start(std::time::Duration::from_secs(1)).expect("warming starts");
        std::thread::sleep(std::time::Duration::from_millis(10));
        drop(w);
    }
}

//! The kernel side that is not rtnetlink (see `netlink.rs`): `nft` for rules, `ip` for the
//! background removal of a stopped container's veth, network namespaces held by bind
//! mounts, sysctls, and a host-wide lock (ADR 0031).

use crate::{Error, Result};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

fn run_batch(tool: &str, args: &[&str], script: &str, what: &str) -> Result<()> {
    let mut child = Command::new(tool)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            Error::Kernel(format!(
                "{what}: cannot run {tool}: {e} (install {})",
                if tool == "nft" {
                    "nftables"
                } else {
                    "iproute2"
                }
            ))
        })?;
    child
        .stdin
        .take()
        .expect("piped")
        .write_all(script.as_bytes())
        .map_err(|e| Error::Kernel(format!("{what}: write to {tool}: {e}")))?;
    let out = child
        .wait_with_output()
        .map_err(|e| Error::Kernel(format!("{what}: {tool}: {e}")))?;
    if out.status.success() {
        return Ok(());
    }
    let err = String::from_utf8_lossy(&out.stderr).trim().to_string();
    let hint = if tool == "nft"
        && (err.contains("No such file or directory") || err.contains("Operation not supported"))
    {
        " (the kernel lacks an nftables feature berth needs: nf_tables, nft_nat, nft_masq, nft_fib_ipv4, nft_ct; load them with modprobe)"
    } else if err.contains("Operation not permitted") {
        " (berth needs root, or CAP_NET_ADMIN, for bridge networks)"
    } else {
        ""
    };
    Err(Error::Kernel(format!("{what}: {tool} failed: {err}{hint}")))
}

/// Starts `ip ARGS` without waiting for it (best effort: what it removes is also removed
/// by the kernel with the namespace). A thread reaps it in long-lived processes.
pub fn ip_background(args: &[&str]) {
    if let Ok(mut child) = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
    {
        std::thread::spawn(move || {
            let _ = child.wait();
        });
    }
}

/// Applies an nftables script atomically (`nft -f -`).
pub fn nft(script: &str, what: &str) -> Result<()> {
    run_batch("nft", &["-f", "-"], script, what)
}

/// `nft` with arguments; its stdout.
pub fn nft_out(args: &[&str]) -> Result<Option<String>> {
    let out = Command::new("nft")
        .args(args)
        .stderr(Stdio::null())
        .output()
        .map_err(|e| Error::Kernel(format!("cannot run nft: {e} (install nftables)")))?;
    Ok(out
        .status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned()))
}

pub fn link_exists(name: &str) -> bool {
    Path::new("/sys/class/net").join(name).exists()
}

pub fn sysctl(path: &str, value: &str) -> Result<()> {
    let p = Path::new("/proc/sys").join(path);
    if std::fs::read_to_string(&p).is_ok_and(|v| v.trim() == value) {
        return Ok(());
    }
    std::fs::write(&p, value)
        .map_err(|e| Error::Kernel(format!("set {} to {value}: {e}", p.display())))
}

/// Runs `f` on a thread that joined the network namespace at `ns` (setns changes only
/// the calling thread; processes it spawns inherit that namespace).
pub fn in_netns<T: Send>(ns: &Path, f: impl FnOnce() -> Result<T> + Send) -> Result<T> {
    std::thread::scope(|s| {
        s.spawn(|| {
            let fd = std::fs::File::open(ns).map_err(|e| {
                Error::Kernel(format!("open network namespace {}: {e}", ns.display()))
            })?;
            nix::sched::setns(&fd, nix::sched::CloneFlags::CLONE_NEWNET).map_err(|e| {
                Error::Kernel(format!("join network namespace {}: {e}", ns.display()))
            })?;
            f()
        })
        .join()
        .unwrap_or_else(|_| Err(Error::Kernel("network namespace thread panicked".into())))
    })
}

/// Creates a new network namespace held by a bind mount at `path` (like `ip netns add`,
/// but under berth's root). An existing one is kept.
pub fn create_netns(path: &Path) -> Result<()> {
    if is_netns(path) {
        return Ok(());
    }
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d)
            .map_err(|e| Error::Kernel(format!("create {}: {e}", d.display())))?;
    }
    std::fs::write(path, b"")
        .map_err(|e| Error::Kernel(format!("create {}: {e}", path.display())))?;
    let r = std::thread::scope(|s| {
        s.spawn(|| {
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET)
                .map_err(|e| Error::Kernel(format!("create a network namespace: {e}")))?;
            rustix::mount::mount_bind("/proc/thread-self/ns/net", path).map_err(|e| {
                Error::Kernel(format!(
                    "bind the network namespace to {}: {e}",
                    path.display()
                ))
            })
        })
        .join()
        .unwrap_or_else(|_| Err(Error::Kernel("network namespace thread panicked".into())))
    });
    if r.is_err() {
        let _ = std::fs::remove_file(path);
    }
    r
}

/// Whether `path` holds a network namespace (an nsfs bind mount).
#[allow(clippy::unnecessary_cast)] // f_type is i64 on x86_64, other types elsewhere
pub fn is_netns(path: &Path) -> bool {
    rustix::fs::statfs(path).is_ok_and(|s| s.f_type as i64 == 0x6e73_6673) // NSFS_MAGIC
}

/// Releases a namespace created by `create_netns`; a missing one is fine.
pub fn remove_netns(path: &Path) -> Result<()> {
    if is_netns(path) {
        rustix::mount::unmount(path, rustix::mount::UnmountFlags::DETACH).map_err(|e| {
            Error::Kernel(format!("unmount network namespace {}: {e}", path.display()))
        })?;
    }
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::Kernel(format!("remove {}: {e}", path.display()))),
    }
}

/// A host-wide exclusive lock (bridge names, subnets and the nftables table are shared by
/// every berth root on the machine). Released on drop.
pub struct HostLock(#[allow(dead_code)] std::fs::File);

pub fn host_lock() -> Result<HostLock> {
    let dir = Path::new("/run/berth");
    std::fs::create_dir_all(dir)
        .map_err(|e| Error::Kernel(format!("create {}: {e}", dir.display())))?;
    let p = dir.join("net.lock");
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&p)
        .map_err(|e| Error::Kernel(format!("open {}: {e}", p.display())))?;
    rustix::fs::flock(&f, rustix::fs::FlockOperation::LockExclusive)
        .map_err(|e| Error::Kernel(format!("lock {}: {e}", p.display())))?;
    Ok(HostLock(f))
}

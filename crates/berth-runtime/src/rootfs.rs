//! The container's root filesystem: an overlay of the image's snapshots (read-only lower
//! layers) with a per-container upper directory.

use rustix::mount::{mount, unmount, MountFlags, UnmountFlags};
use std::io;
use std::path::{Path, PathBuf};

/// For snapshot directories `<root>/snapshots/<hex>/fs`: the store root and, for each,
/// a short link `l/<12 hex>` below it (created if missing) pointing at the directory.
fn short_lowers(lowers: &[PathBuf]) -> io::Result<Option<(PathBuf, Vec<String>)>> {
    let mut base: Option<PathBuf> = None;
    let mut rel = Vec::new();
    for p in lowers.iter().rev() {
        let (Some(hex_dir), Some(snaps)) = (p.parent(), p.parent().and_then(|d| d.parent())) else {
            return Ok(None);
        };
        let Some(root) = snaps.parent() else {
            return Ok(None);
        };
        if p.file_name() != Some("fs".as_ref()) || snaps.file_name() != Some("snapshots".as_ref()) {
            return Ok(None);
        }
        match &base {
            Some(b) if b != root => return Ok(None),
            None => base = Some(root.to_path_buf()),
            _ => {}
        }
        let hex = hex_dir
            .file_name()
            .expect("named")
            .to_string_lossy()
            .into_owned();
        let want = PathBuf::from(format!("../snapshots/{hex}/fs"));
        let links = root.join("l");
        std::fs::create_dir_all(&links)?;
        let mut name = hex[..hex.len().min(12)].to_string();
        let link = links.join(&name);
        match std::fs::read_link(&link) {
            Ok(t) if t == want => {}
            Ok(_) => name = hex.clone(), // a prefix clash: the full name is unique
            Err(_) => match std::os::unix::fs::symlink(&want, &link) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    if std::fs::read_link(&link).ok().as_ref() != Some(&want) {
                        name = hex.clone();
                    }
                }
                Err(e) => return Err(e),
            },
        }
        if name == hex {
            let l = links.join(&name);
            if std::fs::read_link(&l).is_err() {
                std::os::unix::fs::symlink(&want, &l)?;
            }
        }
        rel.push(format!("l/{name}"));
    }
    Ok(base.map(|b| (b, rel)))
}

/// Mounts with relative lower paths, from a thread with its own working directory.
fn mount_from(dir: &Path, data: String, target: &Path) -> io::Result<()> {
    std::thread::scope(|s| {
        s.spawn(|| -> io::Result<()> {
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_FS).map_err(io::Error::from)?;
            std::env::set_current_dir(dir)?;
            mount_with(data, target)
        })
        .join()
        .expect("mount thread")
    })
}

/// Mounts `lowers` (bottom layer first) with `upper`/`work` at `target`.
///
/// `volatile` is for an upper directory that is thrown away after use (a `--rm`
/// container, a scratch mount): the kernel then skips syncing the upper filesystem,
/// which otherwise happens at unmount and waits for the disk (measured 1-270 ms on a
/// busy machine). After a host crash such an upper may be incomplete, which does not
/// matter for what is thrown away anyway.
pub fn mount_overlay(
    lowers: &[PathBuf],
    upper: &Path,
    work: &Path,
    target: &Path,
    empty: &Path,
    volatile: bool,
) -> io::Result<()> {
    if is_mounted(target) {
        return Ok(());
    }
    let extra = if volatile {
        // The kernel leaves this marker to refuse a second mount of a volatile upper
        // (its content may be incomplete after a crash); ours are throw-away.
        let _ = std::fs::remove_dir(work.join("work/incompat/volatile"));
        ",volatile"
    } else {
        ""
    };
    let mut lower: Vec<String> = lowers
        .iter()
        .rev()
        .map(|p| p.display().to_string())
        .collect();
    if lower.is_empty() {
        std::fs::create_dir_all(empty)?;
        lower.push(empty.display().to_string());
    }
    let data = format!(
        "lowerdir={},upperdir={},workdir={}{extra}",
        lower.join(":"),
        upper.display(),
        work.display()
    );
    if data.len() >= 4000 {
        // Too long for one page: name the layers through short links, relative to the
        // store root, and mount from a thread whose working directory is that root.
        if let Some((base, rel)) = short_lowers(lowers)? {
            let short = format!(
                "lowerdir={},upperdir={},workdir={}{extra}",
                rel.join(":"),
                upper.display(),
                work.display()
            );
            if short.len() < 4000 {
                return mount_from(&base, short, target);
            }
        }
        return Err(io::Error::other(format!(
            "the image has {} layers, more than one overlay mount can take here; flatten it (berth build --squash) first",
            lowers.len()
        )));
    }
    mount_with(data, target)
}

fn mount_with(data: String, target: &Path) -> io::Result<()> {
    let data = std::ffi::CString::new(data).map_err(io::Error::other)?;
    mount(
        "overlay",
        target,
        "overlay",
        MountFlags::empty(),
        Some(data.as_c_str()),
    )
    .map_err(|e| io::Error::other(format!("mount overlay at {}: {e}", target.display())))
}

pub fn unmount_overlay(target: &Path) -> io::Result<()> {
    // EINVAL: nothing is mounted there.
    match unmount(target, UnmountFlags::DETACH) {
        Ok(()) | Err(rustix::io::Errno::INVAL) | Err(rustix::io::Errno::NOENT) => Ok(()),
        Err(e) => Err(io::Error::other(format!(
            "unmount {}: {e}",
            target.display()
        ))),
    }
}

/// Whether something is mounted exactly at `p` (per /proc/self/mountinfo).
pub fn is_mounted(p: &Path) -> bool {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    let want = p.to_string_lossy();
    info.lines()
        .any(|l| l.split(' ').nth(4).map(unescape).as_deref() == Some(&*want))
}

pub(crate) fn unescape(s: &str) -> String {
    s.replace("\\040", " ")
        .replace("\\011", "\t")
        .replace("\\012", "\n")
        .replace("\\134", "\\")
}

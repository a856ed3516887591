//! The container's root filesystem: an overlay of the image's snapshots (read-only lower
//! layers) with a per-container upper directory.

use rustix::mount::{mount, unmount, MountFlags, UnmountFlags};
use std::io;
use std::path::{Path, PathBuf};

/// Mounts `lowers` (bottom layer first) with `upper`/`work` at `target`.
pub fn mount_overlay(
    lowers: &[PathBuf],
    upper: &Path,
    work: &Path,
    target: &Path,
    empty: &Path,
) -> io::Result<()> {
    if is_mounted(target) {
        return Ok(());
    }
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
        "lowerdir={},upperdir={},workdir={}",
        lower.join(":"),
        upper.display(),
        work.display()
    );
    if data.len() >= 4000 {
        return Err(io::Error::other(format!(
            "the image has {} layers, more than one overlay mount can take here; flatten it (berth build --squash) first",
            lowers.len()
        )));
    }
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
    if !is_mounted(target) {
        return Ok(());
    }
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

fn unescape(s: &str) -> String {
    s.replace("\\040", " ")
        .replace("\\011", "\t")
        .replace("\\012", "\n")
        .replace("\\134", "\\")
}

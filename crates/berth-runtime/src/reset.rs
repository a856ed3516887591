//! `berth system reset`: everything of one store removed, host state included.
//!
//! Deleting a store's directory by hand leaves what berth made outside it: the bridges,
//! addresses and nftables rules of its networks, container cgroups, stopped-but-mounted
//! overlays. `reset` removes containers, networks and volumes through the same paths as
//! `rm -f`, `network rm` and `volume rm`, then the store's files.

use crate::{io_err, Error, Result, Runtime};
use std::path::{Path, PathBuf};

/// What `reset` removed.
#[derive(Debug, Default)]
pub struct ResetReport {
    pub containers: usize,
    pub networks: usize,
    pub volumes: usize,
}

impl Runtime {
    /// Removes every container (stopping it), network and volume of this store, then
    /// every file of the store; the store directory itself stays (it may be a mount
    /// point). The files go only once nothing is mounted below the store: a mount left
    /// there could be a bind of host data.
    pub fn reset(self) -> Result<ResetReport> {
        let mut report = ResetReport::default();
        let mut failures = Vec::new();
        for c in self.list()? {
            match self.remove(&c.id, true, true) {
                Ok(()) => report.containers += 1,
                Err(e) => failures.push(format!("container {}: {e}", c.name)),
            }
        }
        for n in self.store.networks()? {
            match self.net().remove(&n.id) {
                Ok(_) => report.networks += 1,
                Err(e) => failures.push(format!("network {}: {e}", n.name)),
            }
        }
        for v in self.store.volumes()? {
            match self.volume_remove(&v.name, true) {
                Ok(()) => report.volumes += 1,
                Err(e) => failures.push(format!("volume {}: {e}", v.name)),
            }
        }
        if !failures.is_empty() {
            return Err(Error::Conflict(format!(
                "reset stopped before deleting the store's files, because these could not be removed:\n  {}\nfix what they say and run `berth system reset` again",
                failures.join("\n  ")
            )));
        }
        let root = self.store.root().to_path_buf();
        let root =
            std::fs::canonicalize(&root).map_err(io_err(format!("resolve {}", root.display())))?;
        drop(self); // closes the database before its files go
        let left = mounts_below(&root);
        for m in left.iter().rev() {
            let _ = nix::mount::umount2(m, nix::mount::MntFlags::MNT_DETACH);
        }
        let left = mounts_below(&root);
        if !left.is_empty() {
            return Err(Error::Conflict(format!(
                "reset removed containers, networks and volumes but not the store's files: still mounted below {}: {}; unmount them and run `berth system reset` again",
                root.display(),
                left.iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        for e in std::fs::read_dir(&root).map_err(io_err(format!("read {}", root.display())))? {
            let p = e
                .map_err(io_err(format!("read {}", root.display())))?
                .path();
            let r = if p.is_dir() && !p.is_symlink() {
                std::fs::remove_dir_all(&p)
            } else {
                std::fs::remove_file(&p)
            };
            r.map_err(io_err(format!("remove {}", p.display())))?;
        }
        Ok(report)
    }
}

/// Mount points strictly below `root`, in mount order.
fn mounts_below(root: &Path) -> Vec<PathBuf> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    info.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|m| PathBuf::from(crate::rootfs::unescape(m)))
        .filter(|m| m.starts_with(root) && m != root)
        .collect()
}

//! Named volumes: `volumes/<name>/_data` on the host, recorded in the store. A new volume
//! is seeded from the image's content at its mount point the first time it is mounted,
//! as Docker does.

use crate::fsroot::RootDir;
use crate::{io_err, Result, Runtime};
use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags};
use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

fn errno(e: rustix::io::Errno) -> std::io::Error {
    std::io::Error::from_raw_os_error(e.raw_os_error())
}

/// Copies the directory open at `src` into the host directory `dst` (which exists),
/// never following symlinks, keeping modes, owners and times.
pub fn copy_tree(src: &impl AsFd, dst: &Path) -> std::io::Result<()> {
    let dfd = rfs::open(
        dst,
        OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(errno)?;
    copy_dir(src, &dfd)
}

fn copy_dir(src: &impl AsFd, dst: &OwnedFd) -> std::io::Result<()> {
    for e in rfs::Dir::read_from(src).map_err(errno)? {
        let e = e.map_err(errno)?;
        let name = OsStr::from_bytes(e.file_name().to_bytes()).to_os_string();
        if name == "." || name == ".." {
            continue;
        }
        let st = rfs::statat(src, &name, AtFlags::SYMLINK_NOFOLLOW).map_err(errno)?;
        let mode = Mode::from_raw_mode(st.st_mode & 0o7777);
        match FileType::from_raw_mode(st.st_mode) {
            FileType::Directory => {
                match rfs::mkdirat(dst, &name, mode) {
                    Ok(()) | Err(rustix::io::Errno::EXIST) => {}
                    Err(e) => return Err(errno(e)),
                }
                let s = rfs::openat(
                    src,
                    &name,
                    OFlags::DIRECTORY | OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .map_err(errno)?;
                let d = rfs::openat(
                    dst,
                    &name,
                    OFlags::DIRECTORY | OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .map_err(errno)?;
                copy_dir(&s, &d)?;
                rfs::fchmod(&d, mode).map_err(errno)?;
            }
            FileType::RegularFile => {
                let s = rfs::openat(
                    src,
                    &name,
                    OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .map_err(errno)?;
                let d = rfs::openat(
                    dst,
                    &name,
                    OFlags::WRONLY
                        | OFlags::CREATE
                        | OFlags::TRUNC
                        | OFlags::NOFOLLOW
                        | OFlags::CLOEXEC,
                    mode,
                )
                .map_err(errno)?;
                let (mut s, mut d) = (std::fs::File::from(s), std::fs::File::from(d));
                std::io::copy(&mut s, &mut d)?;
                rfs::fchmod(&d, mode).map_err(errno)?;
            }
            FileType::Symlink => {
                let target = rfs::readlinkat(src, &name, Vec::new()).map_err(errno)?;
                let _ = rfs::unlinkat(dst, &name, AtFlags::empty());
                rfs::symlinkat(target.as_c_str(), dst, &name).map_err(errno)?;
            }
            // Devices, fifos and sockets are not copied into volumes.
            _ => continue,
        }
        let _ = rfs::chownat(
            dst,
            &name,
            Some(rustix::process::Uid::from_raw(st.st_uid)),
            Some(rustix::process::Gid::from_raw(st.st_gid)),
            AtFlags::SYMLINK_NOFOLLOW,
        );
    }
    Ok(())
}

impl Runtime {
    pub fn volume_dir(&self, name: &str) -> PathBuf {
        self.store.volumes_dir().join(name).join("_data")
    }

    /// Creates a volume (or finds it); returns whether it is new.
    pub fn volume_create(
        &self,
        name: &str,
        anonymous: bool,
        labels: &BTreeMap<String, String>,
    ) -> Result<bool> {
        crate::validate_name("volume", name)?;
        let dir = self.volume_dir(name);
        std::fs::create_dir_all(&dir).map_err(io_err(format!("create {}", dir.display())))?;
        Ok(self.store.ensure_volume(
            name,
            anonymous,
            &serde_json::to_string(labels).expect("serialises"),
        )?)
    }

    /// The volume's host directory, first seeded from `root`'s content at `target`.
    pub(crate) fn volume_seed(&self, name: &str, root: &RootDir, target: &str) -> Result<PathBuf> {
        let dir = self.volume_dir(name);
        let rec = self.store.volume(name)?;
        if !rec.seeded {
            let empty = std::fs::read_dir(&dir)
                .map(|mut d| d.next().is_none())
                .unwrap_or(true);
            if empty {
                if let Ok(src) = root.open_at(Path::new(target), OFlags::DIRECTORY | OFlags::RDONLY)
                {
                    copy_tree(&src, &dir).map_err(io_err(format!(
                        "seed volume {name} from the image's {target}"
                    )))?;
                    // The volume's root takes the mode and owner of the image's directory.
                    if let Ok(st) = rfs::fstat(&src) {
                        let _ = std::fs::set_permissions(
                            &dir,
                            std::os::unix::fs::PermissionsExt::from_mode(st.st_mode & 0o7777),
                        );
                        let _ = rfs::chown(
                            &dir,
                            Some(rustix::process::Uid::from_raw(st.st_uid)),
                            Some(rustix::process::Gid::from_raw(st.st_gid)),
                        );
                    }
                }
            }
            self.store.mark_volume_seeded(name)?;
        }
        Ok(dir)
    }

    /// `berth volume rm`.
    pub fn volume_remove(&self, name: &str, force: bool) -> Result<()> {
        let _ = force;
        self.store.volume(name)?;
        self.store.delete_volume(name)?;
        let top = self.store.volumes_dir().join(name);
        if top.exists() {
            std::fs::remove_dir_all(&top).map_err(io_err(format!("remove {}", top.display())))?;
        }
        Ok(())
    }

    /// `berth volume prune [-a]`: unused anonymous volumes (all unused ones with `all`).
    pub fn volume_prune(&self, all: bool) -> Result<Vec<String>> {
        let mut removed = Vec::new();
        for v in self.store.volumes()? {
            if (v.anonymous || all) && self.store.volume_users(&v.name)?.is_empty() {
                self.volume_remove(&v.name, false)?;
                removed.push(v.name);
            }
        }
        Ok(removed)
    }
}

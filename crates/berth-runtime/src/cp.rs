//! `berth cp` in both directions. Paths inside the container are resolved with the
//! container's root as `/` (a planted symlink to `/etc` means the container's `/etc`),
//! and nothing is ever written through a symlink on either side.

use crate::fsroot::RootDir;
use crate::model::Status;
use crate::volumes::copy_tree;
use crate::{io_err, rootfs, Error, Result, Runtime};
use rustix::fs::{self as rfs, FileType, Mode, OFlags};
use std::path::{Path, PathBuf};

impl Runtime {
    /// Runs `f` with the container's merged rootfs mounted (temporarily when stopped).
    fn with_rootfs<T>(&self, what: &str, f: impl FnOnce(&RootDir) -> Result<T>) -> Result<T> {
        let c = self.refresh(self.get(what)?)?;
        let dir = self.dir(&c.id);
        let target = dir.join("rootfs");
        let mounted_here = if rootfs::is_mounted(&target) {
            false
        } else {
            if c.state.status == Status::Running {
                return Err(Error::Conflict(format!(
                    "container {} runs but its rootfs is not mounted",
                    c.name
                )));
            }
            self.mount_rootfs(&c)?;
            true
        };
        let res = RootDir::open(&target)
            .map_err(io_err("open the rootfs"))
            .and_then(|r| f(&r));
        if mounted_here {
            let _ = rootfs::unmount_overlay(&target);
        }
        res
    }

    /// Copies `src` from the container to `dst` on the host.
    pub fn copy_out(&self, what: &str, src: &str, dst: &Path) -> Result<()> {
        self.with_rootfs(what, |root| {
            let contents_only = src.ends_with("/.");
            let fd = root.open_at(Path::new(src), OFlags::PATH).map_err(|e| {
                Error::NotFound(format!("could not find {src} in the container: {e}"))
            })?;
            let st = rfs::fstat(&fd).map_err(|e| Error::Io {
                what: format!("stat {src}"),
                source: e.into(),
            })?;
            let base = Path::new(src.trim_end_matches("/."))
                .file_name()
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("root"));
            if FileType::from_raw_mode(st.st_mode) == FileType::Directory {
                let target = if dst.is_dir() && !contents_only {
                    dst.join(base)
                } else {
                    dst.to_path_buf()
                };
                std::fs::create_dir_all(&target)
                    .map_err(io_err(format!("create {}", target.display())))?;
                let dirfd = root
                    .open_at(Path::new(src), OFlags::DIRECTORY | OFlags::RDONLY)
                    .map_err(io_err(format!("open {src}")))?;
                copy_tree(&dirfd, &target)
                    .map_err(io_err(format!("copy {src} to {}", target.display())))?;
            } else {
                let target = if dst.is_dir() {
                    dst.join(base)
                } else {
                    dst.to_path_buf()
                };
                if target
                    .symlink_metadata()
                    .map(|m| m.file_type().is_symlink())
                    .unwrap_or(false)
                {
                    std::fs::remove_file(&target)
                        .map_err(io_err(format!("replace {}", target.display())))?;
                }
                let mut s = std::fs::File::from(
                    root.open_at(Path::new(src), OFlags::RDONLY)
                        .map_err(io_err(format!("open {src}")))?,
                );
                let mut d = std::fs::File::create(&target)
                    .map_err(io_err(format!("create {}", target.display())))?;
                std::io::copy(&mut s, &mut d).map_err(io_err(format!("copy {src}")))?;
                let _ = d.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(
                    st.st_mode & 0o7777,
                ));
            }
            Ok(())
        })
    }

    /// Copies `src` from the host into the container at `dst`.
    pub fn copy_in(&self, what: &str, src: &Path, dst: &str) -> Result<()> {
        let meta = src
            .symlink_metadata()
            .map_err(|e| Error::NotFound(format!("could not find {}: {e}", src.display())))?;
        self.with_rootfs(what, |root| {
            let dst_is_dir = root
                .stat(Path::new(dst))
                .map(|s| FileType::from_raw_mode(s.st_mode) == FileType::Directory)
                .unwrap_or(false);
            let base = src.file_name().map(PathBuf::from).unwrap_or_default();
            let target = if dst_is_dir && !src.ends_with(".") {
                Path::new(dst).join(base)
            } else {
                PathBuf::from(dst)
            };
            if meta.is_dir() {
                for e in walkdir::WalkDir::new(src).sort_by_file_name() {
                    let e = e.map_err(|e| Error::Io {
                        what: format!("walk {}", src.display()),
                        source: e.into(),
                    })?;
                    let rel = e.path().strip_prefix(src).expect("below src");
                    put(root, e.path(), &target.join(rel))?;
                }
            } else {
                put(root, src, &target)?;
            }
            Ok(())
        })
    }
}

/// Creates one host entry at `dst` inside the container.
fn put(root: &RootDir, host: &Path, dst: &Path) -> Result<()> {
    let m = host
        .symlink_metadata()
        .map_err(io_err(format!("stat {}", host.display())))?;
    let mode = std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o7777;
    let ft = m.file_type();
    if ft.is_dir() {
        let fd = root
            .mkdir_all(dst)
            .map_err(io_err(format!("create {} in the container", dst.display())))?;
        let _ = rfs::fchmod(&fd, Mode::from_raw_mode(mode));
    } else if ft.is_symlink() {
        let target =
            std::fs::read_link(host).map_err(io_err(format!("read {}", host.display())))?;
        let (dir, name) = root
            .parent_of(dst)
            .map_err(io_err(format!("open the parent of {}", dst.display())))?;
        let _ = crate::fsroot::remove_at(&dir, &name);
        rfs::symlinkat(&target, &dir, &name).map_err(|e| Error::Io {
            what: format!("create {}", dst.display()),
            source: e.into(),
        })?;
    } else if ft.is_file() {
        let mut s =
            std::fs::File::open(host).map_err(io_err(format!("open {}", host.display())))?;
        let mut d = root
            .create_file(dst, mode)
            .map_err(io_err(format!("create {} in the container", dst.display())))?;
        std::io::copy(&mut s, &mut d).map_err(io_err(format!("copy {}", host.display())))?;
        let _ = rfs::fchmod(&d, Mode::from_raw_mode(mode));
    }
    Ok(())
}

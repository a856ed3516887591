//! Filesystem work of COPY/ADD inside a build step's rootfs (an overlay mount), resolved
//! with `RootDir` so no path can leave it, and the merge of several snapshot layers into
//! one (for `--squash`).

use berth_runtime::fsroot::{remove_at, RootDir};
use rustix::fs::{self as rfs, AtFlags, Mode, Timestamps};
use std::io;
use std::os::fd::AsFd;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;

/// Ownership and mode for copied entries.
#[derive(Debug, Clone, Copy, Default)]
pub struct Attrs {
    /// `--chown`: (uid, gid); None keeps the default (root for context files, the
    /// source's owner for `--from` copies).
    pub owner: Option<(u32, u32)>,
    pub keep_owner: bool,
    /// `--chmod`.
    pub mode: Option<u32>,
}

pub(crate) fn uid_(u: u32) -> rustix::fs::Uid {
    rustix::fs::Uid::from_raw(u)
}

pub(crate) fn gid_(g: u32) -> rustix::fs::Gid {
    rustix::fs::Gid::from_raw(g)
}

fn errno(e: rustix::io::Errno) -> io::Error {
    io::Error::from_raw_os_error(e.raw_os_error())
}

fn owner_of(m: &std::fs::Metadata, a: &Attrs) -> (u32, u32) {
    match a.owner {
        Some(o) => o,
        None if a.keep_owner => (m.uid(), m.gid()),
        None => (0, 0),
    }
}

fn times(m: &std::fs::Metadata) -> Timestamps {
    let t = rfs::Timespec {
        tv_sec: m.mtime(),
        tv_nsec: m.mtime_nsec() as _,
    };
    Timestamps {
        last_access: t,
        last_modification: t,
    }
}

/// Copies one host entry (file, directory, symlink) to `dest` inside `root`.
/// Directories are created (not their contents); existing directories keep their content.
pub fn copy_entry(
    root: &RootDir,
    host: &Path,
    meta: &std::fs::Metadata,
    dest: &Path,
    a: &Attrs,
) -> io::Result<()> {
    let ft = meta.file_type();
    let (uid, gid) = owner_of(meta, a);
    let perm = meta.permissions().mode() & 0o7777;
    if ft.is_dir() {
        let fd = root.mkdir_all(dest)?;
        rfs::fchmod(&fd, Mode::from_raw_mode(a.mode.unwrap_or(perm))).map_err(errno)?;
        rfs::fchown(&fd, Some(uid_(uid)), Some(gid_(gid))).map_err(errno)?;
        return Ok(());
    }
    if let Some(parent) = dest.parent() {
        root.mkdir_all(parent)?;
    }
    if ft.is_symlink() {
        let target = std::fs::read_link(host)?;
        let (dir, name) = root.parent_of(dest)?;
        if rfs::statat(&dir, &name, AtFlags::SYMLINK_NOFOLLOW).is_ok() {
            remove_at(&dir, &name)?;
        }
        rfs::symlinkat(&target, &dir, &name).map_err(errno)?;
        rfs::chownat(
            &dir,
            &name,
            Some(uid_(uid)),
            Some(gid_(gid)),
            AtFlags::SYMLINK_NOFOLLOW,
        )
        .map_err(errno)?;
        return Ok(());
    }
    if ft.is_file() {
        let mut f = root.create_file(dest, 0o600)?;
        let mut src = std::fs::File::open(host)?;
        io::copy(&mut src, &mut f)?;
        set_file_attrs(&f, uid, gid, a.mode.unwrap_or(perm), Some(meta))?;
        return Ok(());
    }
    if ft.is_fifo() || ft.is_char_device() || ft.is_block_device() {
        let (dir, name) = root.parent_of(dest)?;
        if rfs::statat(&dir, &name, AtFlags::SYMLINK_NOFOLLOW).is_ok() {
            remove_at(&dir, &name)?;
        }
        let kind = rfs::FileType::from_raw_mode(meta.mode());
        rfs::mknodat(&dir, &name, kind, Mode::from_raw_mode(perm), meta.rdev()).map_err(errno)?;
        rfs::chownat(
            &dir,
            &name,
            Some(uid_(uid)),
            Some(gid_(gid)),
            AtFlags::SYMLINK_NOFOLLOW,
        )
        .map_err(errno)?;
    }
    Ok(())
}

fn set_file_attrs(
    f: &impl AsFd,
    uid: u32,
    gid: u32,
    mode: u32,
    meta: Option<&std::fs::Metadata>,
) -> io::Result<()> {
    rfs::fchown(f, Some(uid_(uid)), Some(gid_(gid))).map_err(errno)?;
    // After chown: it clears set-id bits.
    rfs::fchmod(f, Mode::from_raw_mode(mode)).map_err(errno)?;
    if let Some(m) = meta {
        rfs::futimens(f, &times(m)).map_err(errno)?;
    }
    Ok(())
}

/// Writes `data` as a regular file at `dest` inside `root`.
pub fn write_file(
    root: &RootDir,
    dest: &Path,
    data: &[u8],
    uid: u32,
    gid: u32,
    mode: u32,
) -> io::Result<()> {
    if let Some(parent) = dest.parent() {
        root.mkdir_all(parent)?;
    }
    let mut f = root.create_file(dest, 0o600)?;
    io::Write::write_all(&mut f, data)?;
    set_file_attrs(&f, uid, gid, mode, None)
}

/// Whether `p` inside `root` is an existing directory (following symlinks inside it).
pub fn is_dir(root: &RootDir, p: &Path) -> bool {
    root.stat(p)
        .map(|s| rfs::FileType::from_raw_mode(s.st_mode) == rfs::FileType::Directory)
        .unwrap_or(false)
}

fn is_whiteout(m: &std::fs::Metadata) -> bool {
    m.file_type().is_char_device() && m.rdev() == 0
}

fn opaque(p: &Path) -> bool {
    let mut buf = [0u8; 4];
    matches!(rustix::fs::lgetxattr(p, "trusted.overlay.opaque", &mut buf), Ok(1) if buf[0] == b'y')
}

fn remove_path(p: &Path) -> io::Result<()> {
    match p.symlink_metadata() {
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(p),
        Ok(_) => std::fs::remove_file(p),
        Err(_) => Ok(()),
    }
}

/// Merges snapshot directories (overlay format: whiteouts are 0:0 character devices,
/// opaque directories carry `trusted.overlay.opaque=y`), bottom first, into `out`, as
/// one layer that has the same effect as all of them on top of what lies below.
pub fn merge_layers(layers: &[&Path], out: &Path) -> io::Result<()> {
    std::fs::create_dir_all(out)?;
    for layer in layers {
        for e in walkdir::WalkDir::new(layer)
            .min_depth(1)
            .sort_by_file_name()
        {
            let e = e.map_err(io::Error::other)?;
            let rel = e.path().strip_prefix(layer).expect("inside");
            let dst = out.join(rel);
            let m = e.path().symlink_metadata()?;
            if is_whiteout(&m) {
                remove_path(&dst)?;
                rfs::mknodat(
                    rfs::CWD,
                    &dst,
                    rfs::FileType::CharacterDevice,
                    Mode::from_raw_mode(0),
                    0,
                )
                .map_err(errno)?;
                continue;
            }
            let ft = m.file_type();
            if ft.is_dir() {
                let existing = dst.symlink_metadata().ok();
                if opaque(e.path()) || existing.as_ref().is_some_and(|x| !x.is_dir()) {
                    remove_path(&dst)?;
                }
                if dst.symlink_metadata().is_err() {
                    std::fs::create_dir(&dst)?;
                }
                if opaque(e.path()) {
                    rustix::fs::lsetxattr(
                        &dst,
                        "trusted.overlay.opaque",
                        b"y",
                        rustix::fs::XattrFlags::empty(),
                    )
                    .map_err(errno)?;
                }
                std::fs::set_permissions(&dst, m.permissions())?;
                rustix::fs::chown(&dst, Some(uid_(m.uid())), Some(gid_(m.gid()))).map_err(errno)?;
                continue;
            }
            remove_path(&dst)?;
            if ft.is_symlink() {
                std::os::unix::fs::symlink(std::fs::read_link(e.path())?, &dst)?;
            } else if ft.is_file() {
                std::fs::copy(e.path(), &dst)?;
            } else {
                rfs::mknodat(
                    rfs::CWD,
                    &dst,
                    rfs::FileType::from_raw_mode(m.mode()),
                    Mode::from_raw_mode(m.mode() & 0o7777),
                    m.rdev(),
                )
                .map_err(errno)?;
            }
            rfs::chownat(
                rfs::CWD,
                &dst,
                Some(uid_(m.uid())),
                Some(gid_(m.gid())),
                AtFlags::SYMLINK_NOFOLLOW,
            )
            .map_err(errno)?;
            if !ft.is_symlink() {
                std::fs::set_permissions(&dst, m.permissions())?;
            }
        }
    }
    Ok(())
}

//! Layer tar streams: the security boundary of the image store.
//!
//! Every layer that enters berth passes through [`EntryGuard`], which refuses entries that
//! could write outside the layer root (`..`, absolute names, writes through a symlink the
//! layer planted, hardlinks to outside or to nothing, relative symlinks that climb above
//! the root) and device nodes unless allowed. Names are checked lexically against what the
//! same stream created, so a layer can be validated while it streams through (import,
//! load, pull) without touching the filesystem, and [`unpack_layer`] can rely on the same
//! checks when it writes into a fresh snapshot directory. OCI whiteouts (`.wh.NAME`,
//! `.wh..wh..opq`) become overlay whiteouts on unpack.

use crate::digest::{Digest, HashingReader};
use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs;
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

pub const WHITEOUT_PREFIX: &str = ".wh.";
pub const WHITEOUT_OPAQUE: &str = ".wh..wh..opq";

/// What to do with character and block device entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DevicePolicy {
    /// Refuse the layer (default for user-supplied rootfs tarballs).
    #[default]
    Refuse,
    /// Drop device entries and go on.
    Skip,
    /// Keep them (the layer will create them on unpack).
    Allow,
}

#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    #[error("hostile layer entry {entry:?}: {why}")]
    Hostile { entry: String, why: String },
    #[error("layer entry {entry:?} is a {kind} device node; device nodes are not allowed in this layer (containers get their own /dev). Remove it from the tarball or pass --skip-devices")]
    Device { entry: String, kind: &'static str },
    #[error("reading layer tar: {0}")]
    Read(#[source] io::Error),
    #[error("writing {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

impl LayerError {
    fn hostile(entry: &[u8], why: impl Into<String>) -> Self {
        LayerError::Hostile {
            entry: String::from_utf8_lossy(entry).into_owned(),
            why: why.into(),
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Dir,
    Symlink,
    Other,
}

/// A validated entry: its clean relative name and how to treat it.
#[derive(Debug, PartialEq, Eq)]
pub enum Checked {
    /// The root itself (`.` or `./`): only its metadata matters.
    Root,
    /// A normal entry at this clean relative path.
    Entry(PathBuf),
    /// `.wh.NAME`: NAME in a lower layer is deleted.
    Whiteout(PathBuf),
    /// `.wh..wh..opq` in DIR: DIR's lower contents are hidden.
    Opaque(PathBuf),
    /// A device entry dropped by [`DevicePolicy::Skip`].
    Skipped,
}

/// Lexical guard over one layer stream. See the module docs.
pub struct EntryGuard {
    devices: DevicePolicy,
    seen: HashMap<Vec<u8>, Kind>,
}

/// Splits a tar name into clean components, refusing absolute names, `..` and NUL.
fn clean(name: &[u8]) -> Result<Vec<&[u8]>, String> {
    if name.starts_with(b"/") {
        return Err("absolute path names are not allowed in a layer".into());
    }
    if name.contains(&0) {
        return Err("NUL byte in name".into());
    }
    let mut out = Vec::new();
    for c in name.split(|b| *b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => return Err("`..` path components are not allowed in a layer".into()),
            c => out.push(c),
        }
    }
    Ok(out)
}

fn join(parts: &[&[u8]]) -> Vec<u8> {
    parts.join(&b'/')
}

impl EntryGuard {
    pub fn new(devices: DevicePolicy) -> Self {
        EntryGuard {
            devices,
            seen: HashMap::new(),
        }
    }

    /// Refuses a path one of whose parents is a symlink this layer created.
    fn check_parents(&self, raw: &[u8], parts: &[&[u8]]) -> Result<(), LayerError> {
        for i in 1..parts.len() {
            let prefix = join(&parts[..i]);
            if self.seen.get(&prefix) == Some(&Kind::Symlink) {
                return Err(LayerError::hostile(
                    raw,
                    format!(
                        "it would be written through the symlink {:?} that this layer created",
                        String::from_utf8_lossy(&prefix)
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Checks one entry. Must be called for every entry, in stream order.
    pub fn check<R: Read>(&mut self, entry: &tar::Entry<'_, R>) -> Result<Checked, LayerError> {
        let raw = entry.path_bytes();
        let raw: &[u8] = &raw;
        let parts = clean(raw).map_err(|why| LayerError::hostile(raw, why))?;
        if parts.is_empty() {
            return Ok(Checked::Root);
        }
        self.check_parents(raw, &parts)?;
        let name = join(&parts);
        let last = parts[parts.len() - 1];
        let ty = entry.header().entry_type();

        if last == WHITEOUT_OPAQUE.as_bytes() {
            return Ok(Checked::Opaque(bytes_path(&join(
                &parts[..parts.len() - 1],
            ))));
        }
        if let Some(hidden) = last.strip_prefix(WHITEOUT_PREFIX.as_bytes()) {
            if hidden.is_empty() || hidden == b"." || hidden == b".." {
                return Err(LayerError::hostile(raw, "malformed whiteout name"));
            }
            let mut p = parts[..parts.len() - 1].to_vec();
            p.push(hidden);
            return Ok(Checked::Whiteout(bytes_path(&join(&p))));
        }

        let kind = match ty {
            tar::EntryType::Directory => Kind::Dir,
            tar::EntryType::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| LayerError::hostile(raw, "symlink without a target"))?;
                if target.is_empty() || target.contains(&0) {
                    return Err(LayerError::hostile(raw, "empty or NUL symlink target"));
                }
                if !target.starts_with(b"/") {
                    // Resolve lexically from the link's directory; it may not climb above the root.
                    let mut depth = parts.len() as i64 - 1;
                    for c in target.split(|b| *b == b'/') {
                        match c {
                            b"" | b"." => {}
                            b".." => depth -= 1,
                            _ => depth += 1,
                        }
                        if depth < 0 {
                            return Err(LayerError::hostile(
                                raw,
                                format!(
                                    "symlink target {:?} leads outside the layer root",
                                    String::from_utf8_lossy(&target)
                                ),
                            ));
                        }
                    }
                }
                Kind::Symlink
            }
            tar::EntryType::Link => {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| LayerError::hostile(raw, "hardlink without a target"))?;
                let tparts = clean(&target).map_err(|why| {
                    LayerError::hostile(
                        raw,
                        format!(
                            "hardlink target {:?}: {why}",
                            String::from_utf8_lossy(&target)
                        ),
                    )
                })?;
                if tparts.is_empty() {
                    return Err(LayerError::hostile(raw, "hardlink to the layer root"));
                }
                self.check_parents(raw, &tparts)?;
                match self.seen.get(&join(&tparts)) {
                    Some(Kind::Dir) => {
                        return Err(LayerError::hostile(raw, "hardlink to a directory"))
                    }
                    Some(_) => {}
                    None => {
                        return Err(LayerError::hostile(
                            raw,
                            format!(
                                "hardlink target {:?} is not an earlier entry of this layer",
                                String::from_utf8_lossy(&target)
                            ),
                        ))
                    }
                }
                Kind::Other
            }
            tar::EntryType::Char | tar::EntryType::Block => {
                let kind = if ty == tar::EntryType::Char {
                    "character"
                } else {
                    "block"
                };
                match self.devices {
                    DevicePolicy::Refuse => {
                        return Err(LayerError::Device {
                            entry: String::from_utf8_lossy(raw).into_owned(),
                            kind,
                        })
                    }
                    DevicePolicy::Skip => return Ok(Checked::Skipped),
                    DevicePolicy::Allow => Kind::Other,
                }
            }
            tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::Fifo => {
                Kind::Other
            }
            tar::EntryType::GNUSparse => {
                return Err(LayerError::hostile(
                    raw,
                    "GNU sparse files are not supported in layers",
                ))
            }
            other => {
                return Err(LayerError::hostile(
                    raw,
                    format!("unsupported tar entry type {other:?}"),
                ))
            }
        };
        // A directory may be listed again (metadata update); anything else replaces.
        self.seen.insert(name.clone(), kind);
        Ok(Checked::Entry(bytes_path(&name)))
    }
}

fn bytes_path(b: &[u8]) -> PathBuf {
    PathBuf::from(OsStr::from_bytes(b))
}

/// What a full pass over a layer found.
#[derive(Debug, Clone)]
pub struct LayerSummary {
    /// sha256 of the uncompressed tar stream (the OCI diff id).
    pub diff_id: Digest,
    /// Length of the uncompressed tar stream.
    pub tar_size: u64,
    /// Sum of regular file sizes (what `images` reports as size).
    pub content_size: u64,
    pub entries: u64,
}

/// Reads an uncompressed tar stream to its end, validating every entry, and returns its
/// diff id. Nothing is written anywhere.
pub fn scan_layer<R: Read>(r: R, devices: DevicePolicy) -> Result<LayerSummary, LayerError> {
    let mut hr = HashingReader::new(r);
    let (content_size, entries) = {
        let mut ar = tar::Archive::new(&mut hr);
        let mut guard = EntryGuard::new(devices);
        let mut content = 0u64;
        let mut n = 0u64;
        for e in ar.entries().map_err(LayerError::Read)? {
            let e = e.map_err(LayerError::Read)?;
            guard.check(&e)?;
            if e.header().entry_type().is_file() {
                content += e.size();
            }
            n += 1;
        }
        (content, n)
    };
    let (diff_id, tar_size) = hr.finish().map_err(LayerError::Read)?;
    Ok(LayerSummary {
        diff_id,
        tar_size,
        content_size,
        entries,
    })
}

/// Unpacks an uncompressed layer tar into `dest` (an empty directory owned by the caller),
/// turning OCI whiteouts into overlay whiteouts. Returns the same summary as
/// [`scan_layer`], so callers can check the diff id they expected.
pub fn unpack_layer<R: Read>(
    r: R,
    dest: &Path,
    devices: DevicePolicy,
) -> Result<LayerSummary, LayerError> {
    let mut hr = HashingReader::new(r);
    let mut dirs: Vec<(PathBuf, tar::Header)> = Vec::new();
    let (content_size, entries) = {
        let mut ar = tar::Archive::new(&mut hr);
        let mut guard = EntryGuard::new(devices);
        let mut content = 0u64;
        let mut n = 0u64;
        for e in ar.entries().map_err(LayerError::Read)? {
            let mut e = e.map_err(LayerError::Read)?;
            n += 1;
            match guard.check(&e)? {
                Checked::Skipped => {}
                Checked::Root => dirs.push((dest.to_path_buf(), e.header().clone())),
                Checked::Whiteout(rel) => {
                    let p = dest.join(&rel);
                    ensure_parent(dest, &p)?;
                    remove_any(&p)?;
                    sys::whiteout(&p).map_err(|source| LayerError::Write { path: p, source })?;
                }
                Checked::Opaque(rel) => {
                    let p = dest.join(&rel);
                    ensure_parent(dest, &p.join("x"))?;
                    if !p.is_dir() {
                        fs::create_dir_all(&p).map_err(|source| LayerError::Write {
                            path: p.clone(),
                            source,
                        })?;
                    }
                    sys::set_opaque(&p).map_err(|source| LayerError::Write { path: p, source })?;
                }
                Checked::Entry(rel) => {
                    let p = dest.join(&rel);
                    ensure_parent(dest, &p)?;
                    if e.header().entry_type().is_file() {
                        content += e.size();
                    }
                    write_entry(&mut e, dest, &p, &mut dirs)?;
                }
            }
        }
        (content, n)
    };
    // Directory times last, deepest first, so writing children does not bump them.
    for (p, h) in dirs.iter().rev() {
        let mode = h.mode().unwrap_or(0o755) & 0o7777;
        sys::chmod(p, mode).map_err(|source| LayerError::Write {
            path: p.clone(),
            source,
        })?;
        sys::chown_nofollow(p, h).map_err(|source| LayerError::Write {
            path: p.clone(),
            source,
        })?;
        sys::set_times(p, h).map_err(|source| LayerError::Write {
            path: p.clone(),
            source,
        })?;
    }
    let (diff_id, tar_size) = hr.finish().map_err(LayerError::Read)?;
    Ok(LayerSummary {
        diff_id,
        tar_size,
        content_size,
        entries,
    })
}

/// Creates missing parents of `p` (below `dest`) as 0755 directories.
fn ensure_parent(dest: &Path, p: &Path) -> Result<(), LayerError> {
    if let Some(parent) = p.parent() {
        if parent != dest && !parent.is_dir() {
            fs::create_dir_all(parent).map_err(|source| LayerError::Write {
                path: parent.to_path_buf(),
                source,
            })?;
        }
    }
    Ok(())
}

/// Removes whatever is at `p` (never following a symlink), if anything.
fn remove_any(p: &Path) -> Result<(), LayerError> {
    match fs::symlink_metadata(p) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(p),
        Ok(_) => fs::remove_file(p),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
    .map_err(|source| LayerError::Write {
        path: p.to_path_buf(),
        source,
    })
}

fn write_entry<R: Read>(
    e: &mut tar::Entry<'_, R>,
    dest: &Path,
    p: &Path,
    dirs: &mut Vec<(PathBuf, tar::Header)>,
) -> Result<(), LayerError> {
    let h = e.header().clone();
    let w = |source| LayerError::Write {
        path: p.to_path_buf(),
        source,
    };
    let ty = h.entry_type();
    if ty.is_dir() {
        match fs::symlink_metadata(p) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                remove_any(p)?;
                fs::create_dir(p).map_err(w)?;
            }
            Err(_) => fs::create_dir(p).map_err(w)?,
        }
        dirs.push((p.to_path_buf(), h));
        return Ok(());
    }
    remove_any(p)?;
    let mode = h.mode().map_err(w)? & 0o7777;
    match ty {
        tar::EntryType::Regular | tar::EntryType::Continuous => {
            let mut f = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(p)
                .map_err(w)?;
            io::copy(e, &mut f).map_err(w)?;
            drop(f);
        }
        tar::EntryType::Symlink => {
            let target = e.link_name_bytes().expect("checked by guard");
            std::os::unix::fs::symlink(OsStr::from_bytes(&target), p).map_err(w)?;
        }
        tar::EntryType::Link => {
            let target = e.link_name_bytes().expect("checked by guard");
            let t = clean(&target).expect("checked by guard");
            let src = dest.join(bytes_path(&join(&t)));
            sys::hardlink(&src, p).map_err(w)?;
            return Ok(());
        }
        tar::EntryType::Fifo | tar::EntryType::Char | tar::EntryType::Block => {
            let dev = (
                h.device_major().ok().flatten().unwrap_or(0),
                h.device_minor().ok().flatten().unwrap_or(0),
            );
            sys::mknod(p, ty, mode, dev).map_err(w)?;
        }
        _ => unreachable!("entry types are filtered by EntryGuard"),
    }
    sys::chown_nofollow(p, &h).map_err(w)?;
    if ty != tar::EntryType::Symlink {
        sys::chmod(p, mode).map_err(w)?;
    }
    if let Ok(Some(exts)) = e.pax_extensions() {
        for ext in exts.flatten() {
            if let Some(name) = ext.key_bytes().strip_prefix(b"SCHILY.xattr.") {
                // Best effort for xattrs the kernel lets us set (e.g. security.capability).
                let _ = sys::set_xattr(p, name, ext.value_bytes());
            }
        }
    }
    sys::set_times(p, &h).map_err(w)?;
    Ok(())
}

mod sys {
    //! The few filesystem calls std does not offer, through rustix (no unsafe here).
    use rustix::fs::{self as rfs, AtFlags, FileType, Mode, Timespec, Timestamps, XattrFlags, CWD};
    use std::io;
    use std::path::Path;

    fn io_err(e: rustix::io::Errno) -> io::Error {
        io::Error::from_raw_os_error(e.raw_os_error())
    }

    pub(super) fn whiteout(p: &Path) -> io::Result<()> {
        rfs::mknodat(CWD, p, FileType::CharacterDevice, Mode::empty(), 0).map_err(io_err)
    }

    pub(super) fn set_opaque(p: &Path) -> io::Result<()> {
        rfs::lsetxattr(p, "trusted.overlay.opaque", b"y", XattrFlags::empty()).map_err(io_err)
    }

    pub(super) fn set_xattr(p: &Path, name: &[u8], value: &[u8]) -> io::Result<()> {
        rfs::lsetxattr(
            p,
            std::ffi::OsStr::new(std::str::from_utf8(name).map_err(io::Error::other)?),
            value,
            XattrFlags::empty(),
        )
        .map_err(io_err)
    }

    pub(super) fn hardlink(src: &Path, dst: &Path) -> io::Result<()> {
        rfs::linkat(CWD, src, CWD, dst, AtFlags::empty()).map_err(io_err)
    }

    pub(super) fn mknod(
        p: &Path,
        ty: tar::EntryType,
        mode: u32,
        (major, minor): (u32, u32),
    ) -> io::Result<()> {
        let ft = match ty {
            tar::EntryType::Fifo => FileType::Fifo,
            tar::EntryType::Char => FileType::CharacterDevice,
            _ => FileType::BlockDevice,
        };
        rfs::mknodat(
            CWD,
            p,
            ft,
            Mode::from_raw_mode(mode),
            rfs::makedev(major, minor),
        )
        .map_err(io_err)
    }

    pub(super) fn chmod(p: &Path, mode: u32) -> io::Result<()> {
        rfs::chmodat(CWD, p, Mode::from_raw_mode(mode), AtFlags::empty()).map_err(io_err)
    }

    pub(super) fn chown_nofollow(p: &Path, h: &tar::Header) -> io::Result<()> {
        let uid = h.uid().unwrap_or(0) as u32;
        let gid = h.gid().unwrap_or(0) as u32;
        let (uid, gid) = (
            rustix::process::Uid::from_raw(uid),
            rustix::process::Gid::from_raw(gid),
        );
        match rfs::chownat(CWD, p, Some(uid), Some(gid), AtFlags::SYMLINK_NOFOLLOW) {
            Ok(()) => Ok(()),
            // Unprivileged callers keep their own ownership.
            Err(rustix::io::Errno::PERM) => Ok(()),
            Err(e) => Err(io_err(e)),
        }
    }

    pub(super) fn set_times(p: &Path, h: &tar::Header) -> io::Result<()> {
        let t = Timespec {
            tv_sec: h.mtime().unwrap_or(0) as i64,
            tv_nsec: 0,
        };
        let ts = Timestamps {
            last_access: t,
            last_modification: t,
        };
        rfs::utimensat(CWD, p, &ts, AtFlags::SYMLINK_NOFOLLOW).map_err(io_err)
    }
}

#[cfg(test)]
mod tests;

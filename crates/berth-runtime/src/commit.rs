//! `berth commit`: a container's changes (its overlay upper directory) become a new layer
//! on top of its image. Overlay whiteouts (0:0 character devices) and opaque directories
//! become OCI whiteouts (`.wh.NAME`, `.wh..wh..opq`).

use crate::{io_err, Error, Result, Runtime};
use berth_image::config::{apply_change, History, ImageConfig};
use berth_image::layer::DevicePolicy;
use berth_image::reference::Reference;
use berth_store::{ImageRecord, NewImage, Quiet};
use std::io::Write;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

#[derive(Debug, Default)]
pub struct CommitOptions {
    pub changes: Vec<String>,
    pub message: Option<String>,
    pub author: Option<String>,
}

fn is_whiteout(m: &std::fs::Metadata) -> bool {
    m.file_type().is_char_device() && m.rdev() == 0
}

fn is_opaque(p: &Path) -> bool {
    let mut buf = [0u8; 4];
    matches!(rustix::fs::lgetxattr(p, "trusted.overlay.opaque", &mut buf), Ok(1) if buf[0] == b'y')
}

/// Extended attributes worth keeping in a layer (POSIX ACLs, file capabilities, user
/// attributes), as PAX records; overlay's own `trusted.overlay.*` are not content.
fn xattrs(p: &Path) -> Vec<(String, Vec<u8>)> {
    let mut names = vec![0u8; 4096];
    let Ok(n) = rustix::fs::llistxattr(p, &mut names) else {
        return vec![];
    };
    let mut out = Vec::new();
    for name in names[..n].split(|&b| b == 0).filter(|n| !n.is_empty()) {
        let Ok(name) = std::str::from_utf8(name) else {
            continue;
        };
        if name.starts_with("trusted.overlay.") {
            continue;
        }
        let mut value = vec![0u8; 64 * 1024];
        if let Ok(len) = rustix::fs::lgetxattr(p, name, &mut value) {
            value.truncate(len);
            out.push((format!("SCHILY.xattr.{name}"), value));
        }
    }
    out
}

fn header_for(m: &std::fs::Metadata, ty: tar::EntryType, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(ty);
    h.set_mode(m.mode() & 0o7777);
    h.set_uid(m.uid() as u64);
    h.set_gid(m.gid() as u64);
    h.set_mtime(m.mtime().max(0) as u64);
    h.set_size(size);
    h
}

/// Writes the upper directory as an OCI layer tar.
pub fn diff_tar<W: Write>(upper: &Path, out: W) -> std::io::Result<W> {
    diff_tar_clamped(upper, out, None)
}

/// `diff_tar`, with modification times clamped to `clamp` (SOURCE_DATE_EPOCH).
pub fn diff_tar_clamped<W: Write>(upper: &Path, out: W, clamp: Option<u64>) -> std::io::Result<W> {
    let header_for = |m: &std::fs::Metadata, ty: tar::EntryType, size: u64| {
        let mut h = header_for(m, ty, size);
        if let Some(c) = clamp {
            if h.mtime().unwrap_or(0) > c {
                h.set_mtime(c);
            }
        }
        h
    };
    let mut b = tar::Builder::new(out);
    let walker = walkdir::WalkDir::new(upper)
        .min_depth(1)
        .sort_by_file_name();
    for e in walker {
        let e = e.map_err(std::io::Error::other)?;
        let rel = e.path().strip_prefix(upper).expect("below upper");
        let m = e.path().symlink_metadata()?;
        if is_whiteout(&m) {
            let name = rel.parent().unwrap_or(Path::new("")).join(format!(
                ".wh.{}",
                rel.file_name().expect("named").to_string_lossy()
            ));
            let mut h = header_for(&m, tar::EntryType::Regular, 0);
            h.set_mode(0o600);
            b.append_data(&mut h, name, std::io::empty())?;
            continue;
        }
        let ft = m.file_type();
        let x = xattrs(e.path());
        if !x.is_empty() {
            b.append_pax_extensions(x.iter().map(|(k, v)| (k.as_str(), v.as_slice())))?;
        }
        if ft.is_dir() {
            let mut h = header_for(&m, tar::EntryType::Directory, 0);
            b.append_data(&mut h, rel, std::io::empty())?;
            if is_opaque(e.path()) {
                let mut h = header_for(&m, tar::EntryType::Regular, 0);
                h.set_mode(0o600);
                b.append_data(&mut h, rel.join(".wh..wh..opq"), std::io::empty())?;
            }
        } else if ft.is_symlink() {
            let target = std::fs::read_link(e.path())?;
            let mut h = header_for(&m, tar::EntryType::Symlink, 0);
            b.append_link(&mut h, rel, target)?;
        } else if ft.is_file() {
            let mut h = header_for(&m, tar::EntryType::Regular, m.len());
            b.append_data(&mut h, rel, std::fs::File::open(e.path())?)?;
        } else if ft.is_fifo() || ft.is_char_device() || ft.is_block_device() {
            let ty = if ft.is_fifo() {
                tar::EntryType::Fifo
            } else if ft.is_char_device() {
                tar::EntryType::Char
            } else {
                tar::EntryType::Block
            };
            let mut h = header_for(&m, ty, 0);
            let dev = m.rdev();
            h.set_device_major(rustix::fs::major(dev))?;
            h.set_device_minor(rustix::fs::minor(dev))?;
            b.append_data(&mut h, rel, std::io::empty())?;
        }
        // Sockets are not part of a filesystem image.
    }
    b.into_inner()
}

/// Stores an overlay upper directory as a layer (tar written on a thread, compressed and
/// verified by the store as it streams). Call it holding a lease.
pub fn store_upper(
    store: &berth_store::Store,
    upper: &Path,
    clamp: Option<u64>,
) -> Result<berth_store::LayerRecord> {
    let (reader, writer) = std::io::pipe().map_err(io_err("create a pipe"))?;
    let up = upper.to_path_buf();
    let producer = std::thread::spawn(move || diff_tar_clamped(&up, writer, clamp).map(drop));
    let layer = store.put_layer(reader, None, DevicePolicy::Allow, &Quiet);
    producer
        .join()
        .expect("diff thread")
        .map_err(io_err(format!("read the changes in {}", upper.display())))?;
    Ok(layer?)
}

impl Runtime {
    /// Snapshots a container's changes into a new image named `tag`.
    pub fn commit(
        &self,
        what: &str,
        tag: Option<&Reference>,
        o: &CommitOptions,
    ) -> Result<ImageRecord> {
        let c = self.get(what)?;
        let image = self.image_of(&c)?;
        let mut cfg: ImageConfig = self.store.config(&image)?;
        // The container's run configuration becomes the image's, then --change edits it.
        cfg.config.env = Some(c.config.env.clone());
        cfg.config.cmd = Some(c.config.args.clone());
        cfg.config.entrypoint = None;
        if !c.config.cwd.is_empty() {
            cfg.config.working_dir = c.config.cwd.clone();
        }
        cfg.config.user = c.config.user.clone();
        if !c.config.labels.is_empty() {
            cfg.config.labels = Some(c.config.labels.clone());
        }
        for ch in &o.changes {
            apply_change(&mut cfg.config, ch).map_err(|e| Error::Invalid(e.to_string()))?;
        }
        let upper = self.dir(&c.id).join("upper");
        let _lease = self.store.lease()?;
        let layer = store_upper(&self.store, &upper, None)?;
        let created = jiff::Timestamp::now().to_string();
        cfg.created = Some(created.clone());
        if let Some(a) = &o.author {
            cfg.author = Some(a.clone());
        }
        cfg.rootfs.diff_ids.push(layer.diff_id.to_string());
        cfg.history.push(History {
            created: Some(created),
            created_by: Some(format!("berth commit {}", c.name)),
            comment: o.message.clone(),
            author: o.author.clone(),
            ..Default::default()
        });
        let mut layers = image.layers.clone();
        layers.push(layer);
        let config = cfg.to_json();
        let tags: Vec<Reference> = tag.cloned().into_iter().collect();
        Ok(self.store.commit_image(
            NewImage {
                config: &config,
                layers,
                manifest: None,
            },
            &tags,
        )?)
    }
}

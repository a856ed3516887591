//! `berth save` and `berth load`: docker-archive and oci-archive tarballs.
//!
//! Load reads either format (auto-detected, the whole archive optionally gzip/zstd/xz
//! compressed). Layers pass the same validation as every other layer input; blob digests
//! and diff ids are checked against the manifest and config before anything is named.
//! Save writes deterministic archives (fixed times and owners, stable order).

use crate::error::{Error, IoContext, Result};
use crate::images::{ImageRecord, LayerRecord, NewImage};
use crate::layers::{open_plain, store_layer};
use crate::progress::Progress;
use crate::util::random_name;
use crate::Store;
use berth_image::compression::{self, Compression, Compressor};
use berth_image::digest::{Digest, HashingReader, HashingWriter};
use berth_image::layer::DevicePolicy;
use berth_image::manifest::{self, Descriptor};
use berth_image::media;
use berth_image::reference::{familiar, Reference};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchiveFormat {
    Docker,
    Oci,
}

impl std::str::FromStr for ArchiveFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "docker-archive" | "docker" => Ok(ArchiveFormat::Docker),
            "oci-archive" | "oci" => Ok(ArchiveFormat::Oci),
            o => Err(format!(
                "unknown archive format {o:?}: use docker-archive or oci-archive"
            )),
        }
    }
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DockerManifestEntry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

const ANN_REF_NAME: &str = "org.opencontainers.image.ref.name";
const ANN_CONTAINERD_NAME: &str = "io.containerd.image.name";

/// An uncompressed archive on disk with an index of its regular files.
struct IndexedArchive {
    file: File,
    path: PathBuf,
    files: HashMap<String, (u64, u64)>,
    _spool: Option<tempfile_guard::Guard>,
}

mod tempfile_guard {
    pub(super) struct Guard(pub(super) std::path::PathBuf);
    impl Drop for Guard {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}

fn clean_name(n: &str) -> String {
    n.trim_start_matches("./").to_string()
}

impl IndexedArchive {
    fn open(store: &Store, source: LoadSource, progress: &dyn Progress) -> Result<IndexedArchive> {
        let (path, spool) = match source {
            LoadSource::File(p) => {
                let mut f = File::open(&p).ctx("open archive", &p)?;
                let mut head = [0u8; 8];
                let n = f.read(&mut head).ctx("read archive", &p)?;
                if Compression::detect(&head[..n]) == Compression::None {
                    (p, None)
                } else {
                    f.seek(SeekFrom::Start(0)).ctx("read archive", &p)?;
                    let spooled = spool(store, f, progress)?;
                    (spooled.clone(), Some(tempfile_guard::Guard(spooled)))
                }
            }
            LoadSource::Reader(r) => {
                let spooled = spool(store, r, progress)?;
                (spooled.clone(), Some(tempfile_guard::Guard(spooled)))
            }
        };
        let mut files = HashMap::new();
        {
            let f = File::open(&path).ctx("open archive", &path)?;
            let mut ar = tar::Archive::new(BufReader::new(f));
            for e in ar.entries().ctx("read archive", &path)? {
                let e = e.ctx("read archive", &path)?;
                if !e.header().entry_type().is_file() {
                    continue;
                }
                let name = clean_name(&String::from_utf8_lossy(&e.path_bytes()));
                files.insert(name, (e.raw_file_position(), e.size()));
            }
        }
        let file = File::open(&path).ctx("open archive", &path)?;
        Ok(IndexedArchive {
            file,
            path,
            files,
            _spool: spool,
        })
    }

    fn has(&self, name: &str) -> bool {
        self.files.contains_key(name)
    }

    fn reader(&self, name: &str) -> Result<impl Read + '_> {
        let (off, size) = *self.files.get(&clean_name(name)).ok_or_else(|| {
            Error::invalid(format!(
                "archive {}: {name:?} is referenced but not present",
                self.path.display()
            ))
        })?;
        let mut f = &self.file;
        f.seek(SeekFrom::Start(off))
            .ctx("read archive", &self.path)?;
        Ok(BufReader::with_capacity(256 * 1024, f.take(size)))
    }

    fn read_small(&self, name: &str) -> Result<Vec<u8>> {
        let (_, size) = self.files.get(&clean_name(name)).copied().unwrap_or((0, 0));
        if size > 64 << 20 {
            return Err(Error::invalid(format!(
                "archive member {name:?} is too large for a JSON document"
            )));
        }
        let mut v = Vec::new();
        self.reader(name)?
            .read_to_end(&mut v)
            .ctx("read archive", &self.path)?;
        Ok(v)
    }

    /// Reads `blobs/sha256/<hex>` and checks it against its name.
    fn read_blob(&self, d: &Digest) -> Result<Vec<u8>> {
        let v = self.read_small(&format!("blobs/sha256/{}", d.hex()))?;
        let got = Digest::of(&v);
        if &got != d {
            return Err(Error::DigestMismatch {
                what: format!("archive blob {d}"),
                expected: d.to_string(),
                actual: got.to_string(),
            });
        }
        Ok(v)
    }
}

fn spool(store: &Store, r: impl Read, progress: &dyn Progress) -> Result<PathBuf> {
    let path = store.tmp_dir().join(format!("load-{}.tar", random_name()));
    progress.begin("decompressing archive", None);
    let (_, mut dec) = compression::auto_decompress(r).ctx("read archive", "input")?;
    let mut out = io::BufWriter::with_capacity(1 << 20, File::create(&path).ctx("create", &path)?);
    let res = io::copy(&mut dec, &mut out).and_then(|_| out.flush());
    if let Err(e) = res {
        let _ = std::fs::remove_file(&path);
        return Err(e).ctx("decompress archive to", path);
    }
    progress.end("archive ready");
    Ok(path)
}

/// Where `load` reads from.
pub enum LoadSource {
    File(PathBuf),
    Reader(Box<dyn Read + Send>),
}

/// One image found in an archive, before it is stored.
struct Candidate {
    config: Vec<u8>,
    names: Vec<Reference>,
    layers: Vec<LayerSource>,
    manifest: Option<(Vec<u8>, String)>,
}

struct LayerSource {
    member: String,
    expected: Option<Descriptor>,
}

impl Store {
    /// Loads every image of a docker-archive or oci-archive.
    pub fn load(&self, source: LoadSource, progress: &dyn Progress) -> Result<Vec<ImageRecord>> {
        let _lease = self.lease()?;
        let ar = IndexedArchive::open(self, source, progress)?;
        let mut kept = Vec::new();
        let candidates = if ar.has("manifest.json") {
            docker_candidates(&ar)?
        } else if ar.has("index.json") {
            oci_candidates(&ar, &mut kept)?
        } else {
            return Err(Error::invalid(
                "not an image archive: it has neither manifest.json (docker-archive) nor index.json (oci-archive)",
            ));
        };
        if candidates.is_empty() {
            return Err(Error::invalid("the archive lists no images"));
        }
        let mut out = Vec::new();
        for c in candidates {
            let mut layers: Vec<LayerRecord> = Vec::new();
            for (i, l) in c.layers.iter().enumerate() {
                if let Some(known) = match &l.expected {
                    Some(d) => self.layer_record(&d.digest)?,
                    None => None,
                } {
                    layers.push(known);
                    continue;
                }
                progress.begin(
                    &format!("layer {}/{}", i + 1, c.layers.len()),
                    ar.files.get(&l.member).map(|x| x.1),
                );
                let stored = store_layer(
                    &self.blobs,
                    ar.reader(&l.member)?,
                    l.expected.as_ref().map(|d| &d.digest),
                    DevicePolicy::Allow,
                    progress,
                )
                .map_err(|e| match e {
                    Error::DigestMismatch {
                        expected, actual, ..
                    } => Error::DigestMismatch {
                        what: format!("layer {:?} of the archive", l.member),
                        expected,
                        actual,
                    },
                    // A damaged stream fails as gzip/zstd or as tar, wherever the damage is.
                    Error::Layer(berth_image::layer::LayerError::Read(io)) => Error::invalid(format!(
                        "layer {:?} of the archive is damaged (not a readable compressed tar): {io}",
                        l.member
                    )),
                    e => e,
                })?;
                progress.end(&format!("layer {}", stored.digest.short()));
                layers.push(stored.into());
            }
            // A manifest is kept only if its layers were stored exactly as it lists them.
            let keep = c.manifest.as_ref().is_some_and(|_| {
                c.layers
                    .iter()
                    .zip(&layers)
                    .all(|(s, l)| s.expected.as_ref().is_some_and(|d| d.digest == l.digest))
            });
            let manifest = if keep {
                c.manifest
                    .as_ref()
                    .map(|(b, mt)| (b.as_slice(), mt.clone()))
            } else {
                None
            };
            out.push(self.commit_image(
                NewImage {
                    config: &c.config,
                    layers,
                    manifest,
                },
                &c.names,
            )?);
        }
        for k in kept {
            for n in &k.names {
                self.tag_index(&n.repository(), n.tag_or_latest(), &k.bytes, &k.media_type)?;
            }
        }
        Ok(out)
    }
}

fn docker_candidates(ar: &IndexedArchive) -> Result<Vec<Candidate>> {
    let entries: Vec<DockerManifestEntry> =
        serde_json::from_slice(&ar.read_small("manifest.json")?)
            .map_err(|e| Error::invalid(format!("manifest.json of the archive: {e}")))?;
    let mut out = Vec::new();
    for e in entries {
        let config = ar.read_small(&e.config)?;
        let mut names = Vec::new();
        for t in e.repo_tags.unwrap_or_default() {
            names.push(Reference::parse_tagged(&t)?);
        }
        // Docker 25+ archives are OCI layouts too: layer members are blobs/sha256/<hex>.
        let layers = e
            .layers
            .iter()
            .map(|m| LayerSource {
                member: clean_name(m),
                expected: m
                    .trim_start_matches("./")
                    .strip_prefix("blobs/sha256/")
                    .and_then(|h| Digest::from_hex(h).ok())
                    .map(|digest| Descriptor {
                        media_type: String::new(),
                        digest,
                        size: 0,
                    }),
            })
            .collect();
        out.push(Candidate {
            config,
            names,
            layers,
            manifest: None,
        });
    }
    Ok(out)
}

/// A multi-platform index of an archive, to keep under its names.
struct KeptIndex {
    names: Vec<Reference>,
    bytes: Vec<u8>,
    media_type: String,
}

fn oci_candidates(ar: &IndexedArchive, kept: &mut Vec<KeptIndex>) -> Result<Vec<Candidate>> {
    let index = manifest::parse_index(&ar.read_small("index.json")?)
        .map_err(|e| Error::invalid(format!("index.json of the archive: {e}")))?;
    let mut out: Vec<Candidate> = Vec::new();
    let mut queue: Vec<(manifest::IndexEntry, Vec<Reference>)> = index
        .into_iter()
        .map(|e| {
            let names = name_from_annotations(&e.annotations).into_iter().collect();
            (e, names)
        })
        .collect();
    while let Some((entry, names)) = queue.pop() {
        let mt = entry.descriptor.media_type.as_str();
        let bytes = ar.read_blob(&entry.descriptor.digest)?;
        if mt == media::OCI_INDEX || mt == media::DOCKER_MANIFEST_LIST {
            let nested =
                manifest::parse_index(&bytes).map_err(|e| Error::invalid(e.to_string()))?;
            let host = (
                "linux".to_string(),
                berth_image::config::host_arch().to_string(),
            );
            let pick = nested
                .iter()
                .find(|n| n.platform.as_ref() == Some(&host))
                .or(nested.first());
            // Every platform is loaded; the names go to this machine's image (or the
            // first), and the index is kept under them so `berth push` sends them all.
            let platforms: Vec<&manifest::IndexEntry> = nested
                .iter()
                .filter(|n| n.platform.as_ref().is_some_and(|(os, _)| os != "unknown"))
                .collect();
            if platforms.len() > 1 && !names.is_empty() {
                kept.push(KeptIndex {
                    names: names.clone(),
                    bytes: bytes.clone(),
                    media_type: mt.to_string(),
                });
                for n in platforms {
                    if pick.is_none_or(|p| p.descriptor.digest != n.descriptor.digest) {
                        queue.push((n.clone(), Vec::new()));
                    }
                }
            }
            if let Some(p) = pick {
                queue.push((p.clone(), names));
            }
            continue;
        }
        let m = manifest::parse_manifest(&bytes)
            .map_err(|e| Error::invalid(format!("{e} (blob {})", entry.descriptor.digest)))?;
        let config = ar.read_blob(&m.config.digest)?;
        if let Some(existing) = out.iter_mut().find(|c| c.config == config) {
            existing.names.extend(names);
            continue;
        }
        let layers = m
            .layers
            .iter()
            .map(|l| LayerSource {
                member: format!("blobs/sha256/{}", l.digest.hex()),
                expected: Some(l.clone()),
            })
            .collect();
        out.push(Candidate {
            config,
            names,
            layers,
            manifest: Some((bytes, m.media_type)),
        });
    }
    out.reverse();
    Ok(out)
}

fn name_from_annotations(a: &HashMap<String, String>) -> Option<Reference> {
    if let Some(n) = a.get(ANN_CONTAINERD_NAME) {
        return Reference::parse_tagged(n).ok();
    }
    let n = a.get(ANN_REF_NAME)?;
    // A bare tag ("latest") names no repository.
    if n.contains('/') || n.contains(':') {
        Reference::parse_tagged(n).ok()
    } else {
        None
    }
}

/// One image to save and the names to record for it.
pub struct SaveItem {
    pub image: ImageRecord,
    pub names: Vec<Reference>,
}

fn header(path: &str, size: u64) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_path(path)
        .expect("archive member names are short and clean");
    h.set_size(size);
    h.set_mode(0o644);
    h.set_mtime(0);
    h.set_uid(0);
    h.set_gid(0);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_cksum();
    h
}

fn add_bytes<W: Write>(b: &mut tar::Builder<W>, path: &str, data: &[u8]) -> Result<()> {
    let mut h = header(path, data.len() as u64);
    b.append_data(&mut h, path, data)
        .ctx("write archive member", path)
}

fn add_dir<W: Write>(b: &mut tar::Builder<W>, path: &str) -> Result<()> {
    let mut h = tar::Header::new_ustar();
    h.set_path(path).expect("clean name");
    h.set_entry_type(tar::EntryType::Directory);
    h.set_mode(0o755);
    h.set_mtime(0);
    h.set_size(0);
    h.set_cksum();
    b.append_data(&mut h, path, io::empty())
        .ctx("write archive member", path)
}

impl Store {
    /// Writes images as a docker-archive or oci-archive to `out`. `compression` recompresses
    /// layers of an oci-archive (zstd or gzip); docker-archive layers are always plain tar.
    pub fn save<W: Write>(
        &self,
        items: &[SaveItem],
        format: ArchiveFormat,
        compression: Option<Compression>,
        out: W,
        progress: &dyn Progress,
    ) -> Result<W> {
        let _lease = self.lease()?;
        let mut b = tar::Builder::new(out);
        b.mode(tar::HeaderMode::Deterministic);
        match format {
            ArchiveFormat::Docker => {
                if compression.is_some_and(|c| c != Compression::None) {
                    return Err(Error::invalid(
                        "docker-archive layers are uncompressed tar by definition: use --format oci-archive with --compression, or compress the whole file",
                    ));
                }
                self.save_docker(items, &mut b, progress)?
            }
            ArchiveFormat::Oci => self.save_oci(items, compression, &mut b, progress)?,
        }
        for it in items {
            self.mark_used(&it.image.id)?;
        }
        b.into_inner().ctx("finish archive", "output")
    }

    fn save_docker<W: Write>(
        &self,
        items: &[SaveItem],
        b: &mut tar::Builder<W>,
        progress: &dyn Progress,
    ) -> Result<()> {
        let mut manifest = Vec::new();
        let mut repositories: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        let mut written = std::collections::HashSet::new();
        for it in items {
            let config = self.blobs.read(&it.image.id)?;
            let config_name = format!("{}.json", it.image.id.hex());
            if written.insert(config_name.clone()) {
                add_bytes(b, &config_name, &config)?;
            }
            let mut layer_names = Vec::new();
            for (i, l) in it.image.layers.iter().enumerate() {
                let name = format!("{}.tar", l.diff_id.hex());
                if written.insert(name.clone()) {
                    progress.begin(
                        &format!("layer {}/{}", i + 1, it.image.layers.len()),
                        Some(l.tar_size),
                    );
                    self.append_plain_layer(b, &name, l, progress)?;
                    progress.end(&format!("layer {}", l.diff_id.short()));
                }
                layer_names.push(name);
            }
            let tags: Vec<String> = it
                .names
                .iter()
                .map(|r| format!("{}:{}", familiar(&r.repository()), r.tag_or_latest()))
                .collect();
            for r in &it.names {
                repositories
                    .entry(familiar(&r.repository()))
                    .or_default()
                    .insert(r.tag_or_latest().to_string(), it.image.id.hex().to_string());
            }
            manifest.push(DockerManifestEntry {
                config: config_name,
                repo_tags: Some(tags),
                layers: layer_names,
            });
        }
        add_bytes(
            b,
            "manifest.json",
            &serde_json::to_vec(&manifest).expect("serialises"),
        )?;
        add_bytes(
            b,
            "repositories",
            &serde_json::to_vec(&repositories).expect("serialises"),
        )?;
        Ok(())
    }

    /// Streams a layer as uncompressed tar, checking its diff id on the way.
    fn append_plain_layer<W: Write>(
        &self,
        b: &mut tar::Builder<W>,
        name: &str,
        l: &LayerRecord,
        progress: &dyn Progress,
    ) -> Result<()> {
        let mut h = header(name, l.tar_size);
        // Fail early with the store's message when the blob is missing.
        drop(self.blobs.open(&l.digest)?);
        let mut r = HashingReader::new(CountRead {
            inner: crate::layers::read_ahead(self.blobs.path(&l.digest)),
            progress,
        });
        b.append_data(&mut h, name, &mut r).map_err(|e| {
            Error::invalid(format!("cannot write layer {} to the archive: {e} (if the store is damaged, `berth system check` says so)", l.digest))
        })?;
        let (d, n) = r.finish().ctx("read layer", self.blobs.path(&l.digest))?;
        if d != l.diff_id || n != l.tar_size {
            return Err(Error::DigestMismatch {
                what: format!("layer {} in the store (run `berth system check`)", l.digest),
                expected: l.diff_id.to_string(),
                actual: d.to_string(),
            });
        }
        Ok(())
    }

    fn save_oci<W: Write>(
        &self,
        items: &[SaveItem],
        compression: Option<Compression>,
        b: &mut tar::Builder<W>,
        progress: &dyn Progress,
    ) -> Result<()> {
        add_bytes(b, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
        add_dir(b, "blobs/")?;
        add_dir(b, "blobs/sha256/")?;
        let mut written = std::collections::HashSet::new();
        let mut index = Vec::new();
        for it in items {
            let config = self.blobs.read(&it.image.id)?;
            let manifest_bytes = self.blobs.read(&it.image.manifest)?;
            let parsed = manifest::parse_manifest(&manifest_bytes)
                .map_err(|e| Error::invalid(e.to_string()))?;
            let recompress = compression.filter(|c| {
                it.image
                    .layers
                    .iter()
                    .any(|l| Compression::from_media_type(&l.media_type) != *c)
            });
            let mut layer_descs = Vec::new();
            for (i, l) in it.image.layers.iter().enumerate() {
                progress.begin(
                    &format!("layer {}/{}", i + 1, it.image.layers.len()),
                    Some(l.size),
                );
                let desc = match recompress {
                    Some(c) if Compression::from_media_type(&l.media_type) != c => {
                        let tmp = self.tmp_dir().join(format!("save-{}", random_name()));
                        let _guard = tempfile_guard::Guard(tmp.clone());
                        let (digest, size) = {
                            let f = File::create(&tmp).ctx("create", &tmp)?;
                            let mut w =
                                Compressor::new(c, HashingWriter::new(io::BufWriter::new(f)))
                                    .ctx("compress", &tmp)?;
                            io::copy(
                                &mut CountRead {
                                    inner: open_plain(&self.blobs, &l.digest)?,
                                    progress,
                                },
                                &mut w,
                            )
                            .ctx("recompress layer", &tmp)?;
                            let hw = w.finish().ctx("compress", &tmp)?;
                            let (mut buf, d, n) = hw.finish();
                            buf.flush().ctx("write", &tmp)?;
                            (d, n)
                        };
                        let name = format!("blobs/sha256/{}", digest.hex());
                        if written.insert(name.clone()) {
                            let mut h = header(&name, size);
                            b.append_data(&mut h, &name, File::open(&tmp).ctx("open", &tmp)?)
                                .ctx("write archive member", &name)?;
                        }
                        Descriptor {
                            media_type: c.oci_layer_media_type().into(),
                            digest,
                            size,
                        }
                    }
                    _ => {
                        let name = format!("blobs/sha256/{}", l.digest.hex());
                        if written.insert(name.clone()) {
                            let mut h = header(&name, l.size);
                            let f = self.blobs.open(&l.digest)?;
                            b.append_data(&mut h, &name, CountRead { inner: f, progress })
                                .ctx("write archive member", &name)?;
                        }
                        Descriptor {
                            media_type: l.media_type.clone(),
                            digest: l.digest.clone(),
                            size: l.size,
                        }
                    }
                };
                progress.end(&format!("layer {}", desc.digest.short()));
                layer_descs.push(desc);
            }
            let (mbytes, mt) = if recompress.is_some() {
                let cfg = Descriptor {
                    media_type: media::OCI_CONFIG.into(),
                    digest: it.image.id.clone(),
                    size: config.len() as u64,
                };
                (
                    manifest::build_manifest(&cfg, &layer_descs),
                    media::OCI_MANIFEST.to_string(),
                )
            } else {
                (manifest_bytes, parsed.media_type.clone())
            };
            let mdigest = Digest::of(&mbytes);
            for (name, data) in [
                (it.image.id.hex().to_string(), config.as_slice()),
                (mdigest.hex().to_string(), mbytes.as_slice()),
            ] {
                let member = format!("blobs/sha256/{name}");
                if written.insert(member.clone()) {
                    add_bytes(b, &member, data)?;
                }
            }
            let desc = Descriptor {
                media_type: mt,
                digest: mdigest,
                size: mbytes.len() as u64,
            };
            if it.names.is_empty() {
                index.push((desc.clone(), vec![]));
            }
            for r in &it.names {
                let full = format!("{}:{}", r.repository(), r.tag_or_latest());
                index.push((
                    desc.clone(),
                    vec![
                        (ANN_CONTAINERD_NAME.to_string(), full.clone()),
                        (ANN_REF_NAME.to_string(), full),
                    ],
                ));
            }
        }
        add_bytes(b, "index.json", &manifest::build_index(&index))?;
        Ok(())
    }
}

struct CountRead<'p, R> {
    inner: R,
    progress: &'p dyn Progress,
}

impl<R: Read> Read for CountRead<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.progress.advance(n as u64);
        Ok(n)
    }
}

/// Opens a path or `-` (stdin) as a load source.
pub fn load_source(path: Option<&Path>) -> LoadSource {
    match path {
        Some(p) if p != Path::new("-") => LoadSource::File(p.to_path_buf()),
        _ => LoadSource::Reader(Box::new(io::stdin())),
    }
}

//! `berth push`: config and layers in parallel (skipping blobs the registry has, mounting
//! from another repository of the same registry when the image came from one), then the
//! manifest. Without recompression the stored manifest is sent byte for byte, so the
//! digest is the one `berth images --digests` shows.
//!
//! Resumable uploads: blobs larger than one chunk go up in `PATCH` chunks; the session URL
//! is kept in `ingest/push-<key>.upload`, so a later push asks the server how much it has
//! (`GET` on the session: `Range: 0-N`) and sends only the rest.

use crate::client::{Client, Options, UploadStart};
use crate::error::{Error, IoContext, Result};
use berth_image::compression::{Compression, Compressor};
use berth_image::digest::{Digest, HashingWriter};
use berth_image::manifest::{self, Descriptor};
use berth_image::media;
use berth_image::reference::Reference;
use berth_store::{ImageRecord, Progress, Store};
use sha2::{Digest as _, Sha256};
use std::fs::File;
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

#[derive(Debug, Default)]
pub struct PushReport {
    pub digest: Option<Digest>,
    pub manifest_size: u64,
    pub blobs_existing: usize,
    pub blobs_mounted: usize,
    pub blobs_uploaded: usize,
    pub bytes_sent: u64,
    /// Bytes the server already held from interrupted uploads.
    pub bytes_resumed: u64,
}

/// A blob to send and where its bytes are.
struct Blob {
    digest: Digest,
    size: u64,
    path: PathBuf,
}

/// Temporary files of recompressed layers, removed when the push ends.
struct TempFiles(Vec<PathBuf>);

impl Drop for TempFiles {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Pushes `image` as `dest` (which carries a tag). `compression` recompresses layers that
/// are stored otherwise (the manifest is then rebuilt as OCI).
pub fn push(
    store: &Store,
    image: &ImageRecord,
    dest: &Reference,
    compression: Option<Compression>,
    opts: &Options,
    progress: &dyn Progress,
) -> Result<PushReport> {
    let _lease = store.lease()?;
    let client = Client::connect(&dest.domain, &dest.path, opts)?;
    push_to(
        store,
        &client,
        image,
        dest,
        dest.tag_or_latest(),
        compression,
        opts,
        progress,
    )
}

/// Pushes the multi-platform image kept under `source` (`repo:tag` in the store, see
/// `berth pull --all-platforms`) as `dest`: every platform image by digest, then the index
/// byte for byte under the tag, so the digests are the same on both sides. Entries the
/// store has no image for (attestations a pull skipped) are left out of the index, which
/// then gets a new digest; the report says so.
pub fn push_index(
    store: &Store,
    source: &Reference,
    dest: &Reference,
    opts: &Options,
    progress: &dyn Progress,
) -> Result<(PushReport, Vec<String>)> {
    let _lease = store.lease()?;
    let repo_tag = (source.repository(), source.tag_or_latest().to_string());
    let (index_digest, mt) = store
        .index_for_tag(&repo_tag.0, &repo_tag.1)?
        .ok_or_else(|| Error::invalid(format!("{source} has no multi-platform index")))?;
    let bytes = store.blobs.read(&index_digest)?;
    let entries = manifest::parse_index(&bytes)
        .map_err(|e| Error::invalid(format!("stored index of {source}: {e}")))?;
    let client = Client::connect(&dest.domain, &dest.path, opts)?;
    let mut total = PushReport::default();
    let mut dropped = Vec::new();
    let mut kept = Vec::new();
    for e in &entries {
        let platform = e
            .platform
            .as_ref()
            .map(|(o, a)| format!("{o}/{a}"))
            .unwrap_or_else(|| "no platform".into());
        let Some(id) = store.image_by_manifest(&e.descriptor.digest)? else {
            dropped.push(format!("{} ({platform})", e.descriptor.digest));
            continue;
        };
        let image = store.image(&id)?;
        progress.line(&format!("{platform}: {}", e.descriptor.digest.short()));
        let rep = push_to(
            store,
            &client,
            &image,
            dest,
            &e.descriptor.digest.to_string(),
            None,
            opts,
            progress,
        )?;
        if rep.digest.as_ref() != Some(&e.descriptor.digest) {
            return Err(Error::DigestMismatch {
                what: format!("platform manifest {platform} of {source} as pushed"),
                expected: e.descriptor.digest.to_string(),
                actual: rep.digest.map(|d| d.to_string()).unwrap_or_default(),
            });
        }
        total.blobs_existing += rep.blobs_existing;
        total.blobs_mounted += rep.blobs_mounted;
        total.blobs_uploaded += rep.blobs_uploaded;
        total.bytes_sent += rep.bytes_sent;
        total.bytes_resumed += rep.bytes_resumed;
        kept.push(e);
    }
    if kept.is_empty() {
        return Err(Error::invalid(format!(
            "none of the images the index of {source} names is in the store; pull it again with --all-platforms"
        )));
    }
    let bytes = if dropped.is_empty() {
        bytes
    } else {
        let mut v: serde_json::Value = serde_json::from_slice(&bytes)
            .map_err(|e| Error::invalid(format!("stored index of {source}: {e}")))?;
        if let Some(list) = v.get_mut("manifests").and_then(|m| m.as_array_mut()) {
            list.retain(|m| {
                m.get("digest")
                    .and_then(|d| d.as_str())
                    .is_some_and(|d| kept.iter().any(|k| k.descriptor.digest.to_string() == d))
            });
        }
        serde_json::to_vec(&v).expect("JSON value serialises")
    };
    let digest = client.put_manifest(&dest.path, dest.tag_or_latest(), &bytes, &mt)?;
    total.digest = Some(digest);
    total.manifest_size = bytes.len() as u64;
    Ok((total, dropped))
}

/// Pushes one image's blobs and its manifest under `reference` (a tag or its digest).
#[allow(clippy::too_many_arguments)]
fn push_to(
    store: &Store,
    client: &Client,
    image: &ImageRecord,
    dest: &Reference,
    reference: &str,
    compression: Option<Compression>,
    opts: &Options,
    progress: &dyn Progress,
) -> Result<PushReport> {
    let repo = dest.path.as_str();
    let manifest_bytes = store.blobs.read(&image.manifest)?;
    let parsed = manifest::parse_manifest(&manifest_bytes)
        .map_err(|e| Error::invalid(format!("stored manifest of {}: {e}", image.id.short())))?;
    let mut temps = TempFiles(Vec::new());
    let mut blobs = vec![Blob {
        digest: parsed.config.digest.clone(),
        size: parsed.config.size,
        path: store.blobs.path(&parsed.config.digest),
    }];
    let needs_recompress = compression.is_some_and(|c| {
        parsed
            .layers
            .iter()
            .any(|l| Compression::from_media_type(&l.media_type) != c)
    });
    let (manifest_bytes, manifest_mt) = if let (true, Some(c)) = (needs_recompress, compression) {
        let mut layers = Vec::new();
        for l in &parsed.layers {
            if Compression::from_media_type(&l.media_type) == c {
                blobs.push(Blob {
                    digest: l.digest.clone(),
                    size: l.size,
                    path: store.blobs.path(&l.digest),
                });
                layers.push(Descriptor {
                    media_type: c.oci_layer_media_type().into(),
                    ..l.clone()
                });
                continue;
            }
            progress.begin(
                &format!("compressing {} with {}", l.digest.short(), c.name()),
                None,
            );
            let (path, digest, size) = recompress(store, &l.digest, c)?;
            progress.end(&format!("{} is now {}", l.digest.short(), digest.short()));
            temps.0.push(path.clone());
            blobs.push(Blob {
                digest: digest.clone(),
                size,
                path,
            });
            layers.push(Descriptor {
                media_type: c.oci_layer_media_type().into(),
                digest,
                size,
            });
        }
        let config = Descriptor {
            media_type: media::OCI_CONFIG.into(),
            ..parsed.config.clone()
        };
        (
            manifest::build_manifest(&config, &layers),
            media::OCI_MANIFEST.to_string(),
        )
    } else {
        for l in &parsed.layers {
            blobs.push(Blob {
                digest: l.digest.clone(),
                size: l.size,
                path: store.blobs.path(&l.digest),
            });
        }
        (manifest_bytes, image.manifest_media_type.clone())
    };

    // Another repository of the same registry this image is known under: mount from it.
    let mount_from: Option<String> = image
        .repo_digests
        .iter()
        .filter_map(|rd| rd.split_once('@').map(|(r, _)| r.to_string()))
        .chain(image.tags.iter().map(|(r, _)| r.clone()))
        .filter_map(|r| Reference::parse(&r).ok())
        .find(|r| r.domain == dest.domain && r.path != dest.path)
        .map(|r| r.path);

    // The same blob twice in one image (empty layers) goes up once.
    let mut seen = std::collections::HashSet::new();
    blobs.retain(|b| seen.insert(b.digest.clone()));

    let report = Mutex::new(PushReport::default());
    let sent = AtomicU64::new(0);
    let total: u64 = blobs.iter().map(|b| b.size).sum();
    progress.begin(&format!("pushing {dest}"), Some(total));
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let errors: Mutex<Vec<Error>> = Mutex::new(Vec::new());
    let workers = opts.max_concurrent.clamp(1, 16).min(blobs.len());
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                let k = next.fetch_add(1, Ordering::SeqCst);
                if k >= blobs.len() || failed.load(Ordering::SeqCst) {
                    break;
                }
                let b = &blobs[k];
                match upload_blob(
                    store,
                    client,
                    repo,
                    b,
                    mount_from.as_deref(),
                    opts.chunk_size,
                    progress,
                    &sent,
                ) {
                    Ok(outcome) => {
                        let mut r = report.lock().unwrap();
                        match outcome {
                            Outcome::Existed => {
                                progress.advance(b.size);
                                r.blobs_existing += 1;
                                progress.line(&format!(
                                    "{}: already on the registry",
                                    b.digest.short()
                                ));
                            }
                            Outcome::Mounted => {
                                progress.advance(b.size);
                                r.blobs_mounted += 1;
                                progress.line(&format!(
                                    "{}: mounted from {}",
                                    b.digest.short(),
                                    mount_from.as_deref().unwrap_or("?")
                                ));
                            }
                            Outcome::Uploaded { resumed } => {
                                r.blobs_uploaded += 1;
                                r.bytes_resumed += resumed;
                                progress.line(&format!("{}: pushed", b.digest.short()));
                            }
                        }
                    }
                    Err(e) => {
                        failed.store(true, Ordering::SeqCst);
                        errors.lock().unwrap().push(e);
                    }
                }
            });
        }
    });
    if let Some(e) = errors.into_inner().unwrap().into_iter().next() {
        progress.end("failed");
        return Err(e);
    }
    let digest = client.put_manifest(repo, reference, &manifest_bytes, &manifest_mt)?;
    progress.end(&format!("pushed {dest}"));
    if !needs_recompress {
        store.add_repo_digest(&dest.repository(), &digest, &image.id)?;
    }
    store.mark_used(&image.id)?;
    let mut r = report.into_inner().unwrap();
    r.digest = Some(digest);
    r.manifest_size = manifest_bytes.len() as u64;
    r.bytes_sent = sent.into_inner();
    Ok(r)
}

enum Outcome {
    Existed,
    Mounted,
    Uploaded { resumed: u64 },
}

/// Where the session URL of an unfinished upload is kept.
fn session_file(store: &Store, registry: &str, repo: &str, d: &Digest) -> PathBuf {
    let key = hex::encode(Sha256::digest(format!("{registry}/{repo}@{d}")));
    store
        .root()
        .join("ingest")
        .join(format!("push-{}.upload", &key[..32]))
}

#[allow(clippy::too_many_arguments)]
fn upload_blob(
    store: &Store,
    client: &Client,
    repo: &str,
    b: &Blob,
    mount_from: Option<&str>,
    chunk: u64,
    progress: &dyn Progress,
    sent: &AtomicU64,
) -> Result<Outcome> {
    let scopes = [crate::client::push_scope(repo)];
    if client.blob_size(repo, &b.digest, &scopes)?.is_some() {
        return Ok(Outcome::Existed);
    }
    let state = session_file(store, &client.registry, repo, &b.digest);
    let mut resumed = 0;
    // An earlier, interrupted upload of this blob: continue at the server's offset.
    let mut session: Option<(String, u64)> = None;
    if let Ok(loc) = std::fs::read_to_string(&state) {
        let loc = loc.trim().to_string();
        if let Ok(Some(off)) = client.upload_offset(repo, &loc) {
            if off <= b.size {
                progress.line(&format!(
                    "{}: resuming upload at byte {off} of {}",
                    b.digest.short(),
                    b.size
                ));
                progress.advance(off);
                resumed = off;
                session = Some((loc, off));
            }
        }
    }
    let (mut loc, mut offset) = match session {
        Some(s) => s,
        None => match client.start_upload(repo, &b.digest, mount_from)? {
            UploadStart::Mounted => return Ok(Outcome::Mounted),
            UploadStart::Session(loc) => (loc, 0),
        },
    };
    let save =
        |loc: &str| -> Result<()> { std::fs::write(&state, loc).ctx("save upload state", &state) };
    save(&loc)?;
    let open_at = |off: u64, len: u64| -> Result<Box<dyn Read + Send>> {
        let mut f = File::open(&b.path).ctx("open blob", &b.path)?;
        f.seek(SeekFrom::Start(off)).ctx("seek blob", &b.path)?;
        Ok(Box::new(f.take(len)))
    };
    if offset == 0 && b.size <= chunk {
        let open = || open_at(0, b.size);
        client.finish_upload(repo, &loc, &b.digest, Some((b.size, &open)))?;
        sent.fetch_add(b.size, Ordering::Relaxed);
        progress.advance(b.size);
    } else {
        let mut failures = 0;
        while offset < b.size {
            let len = chunk.min(b.size - offset);
            let open = || open_at(offset, len);
            match client.upload_chunk(repo, &loc, offset, len, &open) {
                Ok((next, end)) => {
                    sent.fetch_add(len, Ordering::Relaxed);
                    progress.advance(end.saturating_sub(offset));
                    loc = next;
                    offset = end;
                    save(&loc)?;
                    failures = 0;
                }
                // A broken connection or a disagreement about the offset: ask the server
                // how much it holds and go on from there, a few times.
                Err(e @ (Error::Connect { .. } | Error::Status { status: 416, .. }))
                    if failures < 3 =>
                {
                    failures += 1;
                    std::thread::sleep(std::time::Duration::from_millis(300 * failures));
                    match client.upload_offset(repo, &loc) {
                        Ok(Some(held)) if held <= b.size => {
                            progress.line(&format!(
                                "{}: {e}; continuing at byte {held}",
                                b.digest.short()
                            ));
                            progress.advance(held.saturating_sub(offset));
                            offset = held;
                        }
                        // Still unreachable: try the chunk again after the next pause.
                        Err(Error::Connect { .. }) => {}
                        _ => return Err(e),
                    }
                }
                Err(e) => return Err(e),
            }
        }
        client.finish_upload(repo, &loc, &b.digest, None)?;
    }
    let _ = std::fs::remove_file(&state);
    Ok(Outcome::Uploaded { resumed })
}

/// Recompresses a stored layer into a temporary file; returns path, digest and size.
fn recompress(store: &Store, d: &Digest, c: Compression) -> Result<(PathBuf, Digest, u64)> {
    let path = store.tmp_dir().join(format!(
        "push-{}-{}.{}",
        d.short(),
        std::process::id(),
        c.name()
    ));
    let run = |path: &Path| -> Result<(Digest, u64)> {
        let f = File::create(path).ctx("create", path)?;
        let mut plain = store.open_layer_tar(d)?;
        let mut comp = Compressor::new(c, HashingWriter::new(BufWriter::with_capacity(1 << 20, f)))
            .ctx("compress layer", path)?;
        io::copy(&mut plain, &mut comp).ctx("compress layer", path)?;
        let hw = comp.finish().ctx("compress layer", path)?;
        let (mut buf, digest, size) = hw.finish();
        buf.flush().ctx("write", path)?;
        Ok((digest, size))
    };
    match run(&path) {
        Ok((digest, size)) => Ok((path, digest, size)),
        Err(e) => {
            let _ = std::fs::remove_file(&path);
            Err(e)
        }
    }
}

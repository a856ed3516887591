//! `berth pull`: manifest (or index → platform manifest), config, then layers in parallel,
//! each streamed through [`Store::put_layer`], which checks its digest and every tar entry
//! before the blob is named. The original manifest bytes are committed so its digest
//! survives, and the repository digest is recorded.
//!
//! Resumable downloads: the bytes of a layer are appended, as they arrive, to
//! `ingest/pull-<hex>.partial` (named after the expected digest). A later pull re-hashes
//! that file and asks for only the rest with a `Range` request. The whole file is checked
//! against its digest before the store reads it as a layer; a file whose content turns out
//! wrong is deleted, so nothing a registry sent wrongly is ever stored or resumed from.

use crate::client::{is_index, Client, Options};
use crate::error::{Error, IoContext, Result};
use berth_image::compression::Compression;
use berth_image::config::host_arch;
use berth_image::digest::{Digest, Hasher};
use berth_image::layer::{scan_layer, DevicePolicy};
use berth_image::manifest::{self, Descriptor};
use berth_image::reference::Reference;
use berth_store::{ImageRecord, LayerRecord, NewImage, Progress, Store};
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

/// What a pull did.
#[derive(Debug)]
pub struct PullReport {
    pub image: ImageRecord,
    /// The digest the registry names the image by (the index's, for multi-platform images).
    pub digest: Digest,
    pub layers_skipped: usize,
    pub bytes_downloaded: u64,
    /// Bytes taken from partial downloads of earlier, interrupted pulls.
    pub bytes_resumed: u64,
}

/// A platform as `os/arch`.
#[derive(Debug, Clone)]
pub struct Platform {
    pub os: String,
    pub arch: String,
}

impl Platform {
    pub fn host() -> Platform {
        Platform {
            os: "linux".into(),
            arch: host_arch().into(),
        }
    }

    pub fn parse(s: &str) -> Result<Platform> {
        let mut it = s.split('/');
        match (it.next(), it.next()) {
            (Some(os), Some(arch)) if !os.is_empty() && !arch.is_empty() => Ok(Platform {
                os: os.into(),
                arch: arch.into(),
            }),
            _ => Err(Error::invalid(format!(
                "invalid platform {s:?}: use OS/ARCH, e.g. linux/amd64"
            ))),
        }
    }
}

/// A manifest resolved to one platform.
pub struct Resolved {
    /// Digest of what the reference named (index or manifest).
    pub top_digest: Digest,
    pub manifest: Vec<u8>,
    pub media_type: String,
    pub digest: Digest,
    pub parsed: manifest::ParsedManifest,
}

/// Fetches the manifest `r` names; for an index, the entry for `platform`.
pub fn resolve(client: &Client, r: &Reference, platform: &Platform) -> Result<Resolved> {
    let reference = match &r.digest {
        Some(d) => d.to_string(),
        None => r.tag_or_latest().to_string(),
    };
    let (bytes, mt, digest) = client.get_manifest(&r.path, &reference)?;
    if !is_index(&mt) {
        let parsed = parse(&bytes, r)?;
        return Ok(Resolved {
            top_digest: digest.clone(),
            manifest: bytes,
            media_type: mt,
            digest,
            parsed,
        });
    }
    let entries = manifest::parse_index(&bytes)
        .map_err(|e| Error::invalid(format!("image index of {r}: {e}")))?;
    let want = (platform.os.clone(), platform.arch.clone());
    let pick = entries
        .iter()
        .find(|e| e.platform.as_ref() == Some(&want))
        .ok_or_else(|| {
            let have: Vec<String> = entries
                .iter()
                .filter_map(|e| e.platform.as_ref().map(|(o, a)| format!("{o}/{a}")))
                .collect();
            Error::invalid(format!(
                "{r} has no image for {}/{} (it has: {}); choose one with --platform",
                platform.os,
                platform.arch,
                have.join(", ")
            ))
        })?;
    let (child, cmt, cdigest) =
        client.get_manifest(&r.path, &pick.descriptor.digest.to_string())?;
    if cdigest != pick.descriptor.digest {
        return Err(Error::DigestMismatch {
            what: format!("platform manifest of {r}"),
            expected: pick.descriptor.digest.to_string(),
            actual: cdigest.to_string(),
        });
    }
    let parsed = parse(&child, r)?;
    Ok(Resolved {
        top_digest: digest,
        manifest: child,
        media_type: cmt,
        digest: cdigest,
        parsed,
    })
}

fn parse(bytes: &[u8], r: &Reference) -> Result<manifest::ParsedManifest> {
    manifest::parse_manifest(bytes).map_err(|e| Error::invalid(format!("{e} (image {r})")))
}

/// Pulls one image; tags it as `r` unless `r` names only a digest.
pub fn pull(
    store: &Store,
    r: &Reference,
    platform: &Platform,
    opts: &Options,
    progress: &dyn Progress,
) -> Result<PullReport> {
    let client = Client::connect(&r.domain, &r.path, opts)?;
    pull_with(store, &client, r, platform, opts, progress)
}

pub fn pull_with(
    store: &Store,
    client: &Client,
    r: &Reference,
    platform: &Platform,
    opts: &Options,
    progress: &dyn Progress,
) -> Result<PullReport> {
    let _lease = store.lease()?;
    let res = resolve(client, r, platform)?;
    let m = &res.parsed;
    let config = client.get_small_blob(&r.path, &m.config.digest, m.config.size)?;
    let cfg: berth_image::config::ImageConfig = serde_json::from_slice(&config)
        .map_err(|e| Error::invalid(format!("image config of {r} is not valid: {e}")))?;
    if cfg.rootfs.diff_ids.len() != m.layers.len() {
        return Err(Error::invalid(format!(
            "{r}: the manifest lists {} layers but the config {}",
            m.layers.len(),
            cfg.rootfs.diff_ids.len()
        )));
    }

    let mut layers: Vec<Option<LayerRecord>> = vec![None; m.layers.len()];
    let mut todo: Vec<usize> = Vec::new();
    let mut skipped = 0;
    for (i, l) in m.layers.iter().enumerate() {
        match store.layer_record(&l.digest)? {
            Some(rec) => {
                layers[i] = Some(rec);
                skipped += 1;
            }
            // The same blob twice in one image (empty layers): fetched once.
            None if todo.iter().any(|&j| m.layers[j].digest == l.digest) => {}
            None => todo.push(i),
        }
    }
    let total: u64 = todo.iter().map(|&i| m.layers[i].size).sum();
    progress.begin(&format!("pulling {r}"), Some(total));
    let downloaded = AtomicU64::new(0);
    let resumed = AtomicU64::new(0);
    let results: Vec<Mutex<Option<Result<LayerRecord>>>> =
        todo.iter().map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let workers = opts.max_concurrent.clamp(1, 16).min(todo.len().max(1));
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                let k = next.fetch_add(1, Ordering::SeqCst);
                if k >= todo.len() || failed.load(Ordering::SeqCst) {
                    break;
                }
                let l = &m.layers[todo[k]];
                let res = fetch_layer(store, client, &r.path, l, progress, &downloaded, &resumed);
                if let Ok(rec) = &res {
                    progress.line(&format!(
                        "{}: pulled ({} bytes)",
                        l.digest.short(),
                        rec.size
                    ));
                } else {
                    failed.store(true, Ordering::SeqCst);
                }
                *results[k].lock().unwrap() = Some(res);
            });
        }
    });
    for slot in results {
        match slot.into_inner().unwrap() {
            Some(Ok(rec)) => {
                for (i, l) in m.layers.iter().enumerate() {
                    if l.digest == rec.digest && layers[i].is_none() {
                        layers[i] = Some(rec.clone());
                    }
                }
            }
            Some(Err(e)) => {
                progress.end("failed");
                return Err(e);
            }
            None => {}
        }
    }
    let layers: Vec<LayerRecord> = match layers.into_iter().collect::<Option<Vec<_>>>() {
        Some(l) => l,
        None => {
            progress.end("failed");
            return Err(Error::invalid("a layer download stopped without a result"));
        }
    };
    progress.end(&format!("pulled {r}"));
    let tags: Vec<Reference> = if r.tag.is_some() || r.digest.is_none() {
        let mut t = r.clone();
        t.digest = None;
        vec![t]
    } else {
        vec![]
    };
    let img = store.commit_image(
        NewImage {
            config: &config,
            layers,
            manifest: Some((&res.manifest, res.media_type.clone())),
        },
        &tags,
    )?;
    store.add_repo_digest(&r.repository(), &res.top_digest, &img.id)?;
    let image = store.image(&img.id)?;
    Ok(PullReport {
        image,
        digest: res.top_digest,
        layers_skipped: skipped,
        bytes_downloaded: downloaded.into_inner(),
        bytes_resumed: resumed.into_inner(),
    })
}

/// Where the partial download of a blob lives.
pub fn partial_path(store: &Store, d: &Digest) -> PathBuf {
    store
        .root()
        .join("ingest")
        .join(format!("pull-{}.partial", d.hex()))
}

/// Downloads one layer into its partial file (continuing it with a range request),
/// verifies the digest of the whole file, then stores it through the store's layer checks.
/// A broken connection is retried a few times, each time from where the data stopped.
fn fetch_layer(
    store: &Store,
    client: &Client,
    repo: &str,
    l: &Descriptor,
    progress: &dyn Progress,
    downloaded: &AtomicU64,
    resumed: &AtomicU64,
) -> Result<LayerRecord> {
    let path = partial_path(store, &l.digest);
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .read(true)
        .open(&path)
        .ctx("open partial download", &path)?;
    // One writer per partial file, across processes: a second pull of the same layer waits.
    rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive)
        .map_err(io::Error::from)
        .ctx("lock partial download", &path)?;
    // Re-hash what an earlier pull left, then continue after it.
    let mut have = file.metadata().ctx("stat", &path)?.len();
    if have > l.size {
        file.set_len(0).ctx("truncate", &path)?;
        have = 0;
    }
    let mut hasher = Hasher::default();
    if have > 0 {
        let mut f = File::open(&path).ctx("open partial download", &path)?;
        let mut buf = vec![0u8; 1 << 20];
        let mut left = have;
        while left > 0 {
            let n = f.read(&mut buf).ctx("read partial download", &path)?;
            if n == 0 {
                break;
            }
            let n = n.min(left as usize);
            hasher.update(&buf[..n]);
            left -= n as u64;
        }
        resumed.fetch_add(have, Ordering::Relaxed);
        progress.advance(have);
        progress.line(&format!(
            "{}: resuming download at byte {have} of {}",
            l.digest.short(),
            l.size
        ));
    }
    let mut attempt = 0u64;
    while hasher.len() < l.size {
        attempt += 1;
        let offset = hasher.len();
        let res = client
            .get_blob(repo, &l.digest, offset)
            .and_then(|(resp, start)| {
                if start != offset {
                    // The server ignored the range: start over.
                    file.set_len(0).ctx("truncate", &path)?;
                    hasher = Hasher::default();
                }
                let mut body = resp.take(l.size - hasher.len());
                let mut buf = vec![0u8; 256 * 1024];
                loop {
                    let n = match body.read(&mut buf) {
                        Ok(0) => break,
                        Ok(n) => n,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(e) => {
                            return Err(Error::Connect {
                                registry: client.registry.clone(),
                                detail: format!("download of layer {} broke: {e}", l.digest),
                            })
                        }
                    };
                    file.write_all(&buf[..n])
                        .ctx("write partial download", &path)?;
                    hasher.update(&buf[..n]);
                    progress.advance(n as u64);
                    downloaded.fetch_add(n as u64, Ordering::Relaxed);
                }
                if hasher.len() < l.size {
                    return Err(Error::Connect {
                        registry: client.registry.clone(),
                        detail: format!(
                            "the registry ended layer {} after {} of {} bytes",
                            l.digest,
                            hasher.len(),
                            l.size
                        ),
                    });
                }
                Ok(())
            });
        match res {
            Ok(()) => {}
            Err(Error::Connect { detail, .. }) if attempt < 4 && made_progress(&hasher, offset) => {
                progress.line(&format!(
                    "{}: {detail}; retrying from byte {}",
                    l.digest.short(),
                    hasher.len()
                ));
                std::thread::sleep(std::time::Duration::from_millis(200 * attempt));
            }
            Err(Error::Connect { registry, detail }) => {
                return Err(Error::Connect {
                    registry,
                    detail: format!(
                        "{detail}; {} bytes are kept, run the pull again to resume",
                        hasher.len()
                    ),
                })
            }
            Err(e) => return Err(e),
        }
    }
    file.sync_data().ctx("fsync partial download", &path)?;
    let (got, _) = std::mem::take(&mut hasher).finish();
    if got != l.digest {
        let _ = std::fs::remove_file(&path);
        return Err(Error::DigestMismatch {
            what: format!(
                "layer {} downloaded from {}/{repo} (the registry sent wrong bytes; nothing was stored)",
                l.digest, client.registry
            ),
            expected: l.digest.to_string(),
            actual: got.to_string(),
        });
    }
    // Verified bytes: now the tar checks, and the blob gets its name.
    let mut head = [0u8; 8];
    let n = File::open(&path)
        .and_then(|mut f| f.read(&mut head))
        .ctx("read partial download", &path)?;
    let res = if Compression::detect(&head[..n]) == Compression::None {
        store_plain(store, &path, l)
    } else {
        let f = File::open(&path).ctx("open partial download", &path)?;
        store
            .put_layer(f, Some(&l.digest), DevicePolicy::Allow, &berth_store::Quiet)
            .map_err(Error::from)
    };
    let _ = std::fs::remove_file(&path);
    res.map_err(|e| {
        Error::invalid(format!(
            "layer {} from {}/{repo} was refused: {e}",
            l.digest, client.registry
        ))
    })
}

/// Stores an uncompressed layer as it is (the store would compress it, which would change
/// the digest the manifest names): the same tar checks, then the verified bytes.
fn store_plain(store: &Store, path: &Path, l: &Descriptor) -> Result<LayerRecord> {
    let f = File::open(path).ctx("open partial download", path)?;
    let summary = scan_layer(
        io::BufReader::with_capacity(256 * 1024, f),
        DevicePolicy::Allow,
    )
    .map_err(|e| Error::invalid(e.to_string()))?;
    let mut w = store.blobs.writer()?;
    let mut f = File::open(path).ctx("open partial download", path)?;
    io::copy(&mut f, &mut w).ctx("store layer", path)?;
    let (digest, size) = w.commit(Some(&l.digest))?;
    Ok(LayerRecord {
        digest,
        media_type: l.media_type.clone(),
        size,
        diff_id: summary.diff_id,
        tar_size: summary.tar_size,
        content_size: summary.content_size,
    })
}

/// A retry is worth it when the failed attempt got some bytes further.
fn made_progress(h: &Hasher, offset: u64) -> bool {
    h.len() > offset
}

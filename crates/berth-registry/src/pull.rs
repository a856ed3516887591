//! `berth pull`: manifest (or index → platform manifest), config, then layers in parallel.
//! Each layer is one pass over the network: the bytes are written to a partial file in the
//! store's `ingest/` and hashed, and a second thread decompresses them, computes the diff
//! id and checks every tar entry at the same time. The blob is named only when both its
//! digest and the tar check passed. The original manifest bytes are committed so its digest
//! survives, and the repository digest is recorded.
//!
//! Resumable downloads: the partial file is named after the expected digest
//! (`ingest/pull-<hex>.partial`). A later pull re-hashes (and re-checks) that file and asks
//! for only the rest with a `Range` request. A file whose content turns out wrong is
//! deleted, so nothing a registry sent wrongly is ever stored or resumed from.

use crate::client::{is_index, Client, Options};
use crate::error::{Error, IoContext, Result};
use berth_image::compression::{self, Compression};
use berth_image::config::host_arch;
use berth_image::digest::Digest;
use berth_image::layer::{scan_layer, DevicePolicy, LayerSummary};
use berth_image::manifest::{self, Descriptor};
use berth_image::reference::Reference;
use berth_store::{ImageRecord, LayerRecord, NewImage, Progress, Store, DIRECT_ALIGN};
use std::io::{self, BufRead, Read};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{channel, sync_channel, Receiver, Sender, SyncSender};
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

/// A platform as `os/arch[/variant]`.
#[derive(Debug, Clone)]
pub struct Platform {
    pub os: String,
    pub arch: String,
    pub variant: Option<String>,
}

impl Platform {
    pub fn host() -> Platform {
        Platform {
            os: "linux".into(),
            arch: host_arch().into(),
            variant: None,
        }
    }

    pub fn parse(s: &str) -> Result<Platform> {
        let parts: Vec<&str> = s.split('/').collect();
        match parts[..] {
            [os, arch] | [os, arch, _]
                if !os.is_empty() && !arch.is_empty() && parts.iter().all(|p| !p.is_empty()) =>
            {
                Ok(Platform {
                    os: os.into(),
                    arch: arch.into(),
                    variant: parts.get(2).map(|v| v.to_string()),
                })
            }
            _ => Err(Error::invalid(format!(
                "invalid platform {s:?}: use OS/ARCH[/VARIANT], e.g. linux/amd64 or linux/arm64/v8"
            ))),
        }
    }

    /// Whether an index entry is for this platform (any variant when none is asked for).
    pub fn matches(&self, e: &manifest::IndexEntry) -> bool {
        e.platform.as_ref() == Some(&(self.os.clone(), self.arch.clone()))
            && (self.variant.is_none() || e.variant == self.variant)
    }

    fn of(e: &manifest::IndexEntry) -> Option<String> {
        e.platform.as_ref().map(|(o, a)| match &e.variant {
            Some(v) => format!("{o}/{a}/{v}"),
            None => format!("{o}/{a}"),
        })
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.arch)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
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
    let pick = entries
        .iter()
        .find(|e| platform.matches(e))
        .ok_or_else(|| {
            let have: Vec<String> = entries.iter().filter_map(Platform::of).collect();
            Error::invalid(format!(
                "{r} has no image for {platform} (it has: {}); choose one with --platform",
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
    let endpoints = opts.settings.endpoints(&r.domain, true, opts.tls_verify)?;
    let mut failed: Vec<String> = Vec::new();
    let n = endpoints.len();
    for (i, ep) in endpoints.iter().enumerate() {
        let res = Client::connect_endpoint(&r.domain, &r.path, opts, ep)
            .and_then(|c| pull_with(store, &c, r, platform, opts, progress));
        match res {
            Ok(rep) => return Ok(rep),
            // A store error is not the endpoint's fault: no point trying the next one.
            Err(e @ Error::Store(_)) => return Err(e),
            Err(e) if n == 1 => return Err(e),
            Err(e) => {
                if i + 1 < n {
                    progress.line(&format!(
                        "{r}: {} failed ({e}); trying the next",
                        ep.describe()
                    ));
                }
                failed.push(format!("{}: {e}", ep.describe()));
            }
        }
    }
    Err(Error::invalid(format!(
        "{r} could not be pulled from any of its {n} endpoints: {}",
        failed.join("; ")
    )))
}

/// Pulls every platform of a multi-platform image (`--all-platforms`): each platform's
/// image goes into the store (untagged, known by its manifest digest), the index is kept
/// byte for byte under the tag, and the tag points at this machine's image (or at the
/// `platform` one). A single-platform image is pulled as usual.
pub fn pull_all_platforms(
    store: &Store,
    r: &Reference,
    platform: &Platform,
    opts: &Options,
    progress: &dyn Progress,
) -> Result<Vec<PullReport>> {
    let client = connect_for_pull(r, opts)?;
    let reference = match &r.digest {
        Some(d) => d.to_string(),
        None => r.tag_or_latest().to_string(),
    };
    let (bytes, mt, digest) = client.get_manifest(&r.path, &reference)?;
    if !is_index(&mt) {
        return Ok(vec![pull_with(
            store, &client, r, platform, opts, progress,
        )?]);
    }
    let entries = manifest::parse_index(&bytes)
        .map_err(|e| Error::invalid(format!("image index of {r}: {e}")))?;
    let mut reports = Vec::new();
    let mut main: Option<usize> = None;
    for e in &entries {
        // Attestations and other non-images have no platform (or unknown/unknown).
        let Some((os, _)) = &e.platform else { continue };
        if os == "unknown" {
            continue;
        }
        let mut child = r.clone();
        child.tag = None;
        child.digest = Some(e.descriptor.digest.clone());
        progress.line(&format!(
            "{}: {}",
            Platform::of(e).unwrap_or_default(),
            e.descriptor.digest.short()
        ));
        let rep = pull_with(store, &client, &child, platform, opts, progress)?;
        if main.is_none() && platform.matches(e) {
            main = Some(reports.len());
        }
        reports.push(rep);
    }
    if r.tag.is_some() || r.digest.is_none() {
        let mut tagged = r.clone();
        tagged.digest = None;
        let tag = tagged.tag_or_latest().to_string();
        let _lease = store.lease()?;
        store.tag_index(&r.repository(), &tag, &bytes, &mt)?;
        // The name runs this machine's image; with no image for it, the first platform's.
        if let Some(i) = main.or(if reports.is_empty() { None } else { Some(0) }) {
            store.tag(&reports[i].image.id, &tagged)?;
            store.add_repo_digest(&r.repository(), &digest, &reports[i].image.id)?;
        }
    }
    Ok(reports)
}

/// Connects to where `r` can be pulled from (the first reachable of its mirrors and
/// endpoint), for listing tags and reading manifests.
pub fn connect_for_pull(r: &Reference, opts: &Options) -> Result<Client> {
    let mut last = None;
    for ep in opts.settings.endpoints(&r.domain, true, opts.tls_verify)? {
        match Client::connect_endpoint(&r.domain, &r.path, opts, &ep) {
            Ok(c) => return Ok(c),
            Err(e) => last = Some(e),
        }
    }
    Err(last.expect("endpoints() returns at least one or an error"))
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
    store.root().join("ingest").join(partial_name(d))
}

fn partial_name(d: &Digest) -> String {
    format!("pull-{}.partial", d.hex())
}

/// Size of the pieces the download writes and hands to the layer check (1 MiB: a quarter
/// of the wake-ups and write calls of 256 KiB, measurably faster on the loaded machine).
const PIECE: usize = 1 << 20;

/// A piece of a download: up to `PIECE` bytes at an address aligned for direct writes, so
/// the blob writer writes it from where it is (`BlobWriter::write_piece`). The check thread
/// sends used pieces back for the next reads: no allocation, zeroing or page faults per
/// piece.
struct Piece {
    mem: Vec<u8>,
    off: usize,
    len: usize,
}

impl Piece {
    fn new() -> Piece {
        let mem = vec![0u8; PIECE + DIRECT_ALIGN];
        let off = mem.as_ptr().align_offset(DIRECT_ALIGN);
        Piece { mem, off, len: 0 }
    }
    fn data(&self) -> &[u8] {
        &self.mem[self.off..self.off + self.len]
    }
    /// The room after the data, up to `PIECE` bytes in all.
    fn room(&mut self, max: usize) -> &mut [u8] {
        let start = self.off + self.len;
        let end = self.off + PIECE.min(self.len + max);
        &mut self.mem[start..end]
    }
}

/// The tar check of a layer, on a thread of its own: the bytes of the download are handed
/// over as they arrive and decompressed, hashed (diff id) and checked entry by entry there,
/// so the check overlaps the download instead of re-reading the file after it.
struct LayerCheck {
    tx: Option<SyncSender<Piece>>,
    /// Pieces the check is done with.
    used: Receiver<Piece>,
    /// Bytes fed by the slice, not yet sent.
    pending: Option<Piece>,
    thread: Option<std::thread::JoinHandle<std::result::Result<LayerSummary, String>>>,
}

impl LayerCheck {
    fn start() -> LayerCheck {
        let (tx, rx) = sync_channel::<Piece>(8);
        let (used_tx, used) = channel::<Piece>();
        let thread = std::thread::spawn(move || -> std::result::Result<LayerSummary, String> {
            let mut input = Pieces {
                rx,
                used: used_tx,
                piece: None,
                pos: 0,
            };
            let head = input.fill_buf().map_err(|e| e.to_string())?;
            let found = Compression::detect(head);
            let plain = compression::decompress(found, input).map_err(|e| e.to_string())?;
            scan_layer(plain, DevicePolicy::Allow).map_err(|e| e.to_string())
        });
        LayerCheck {
            tx: Some(tx),
            used,
            pending: None,
            thread: Some(thread),
        }
    }

    /// An empty piece: one the check is done with, or a new one.
    fn piece(&self) -> Piece {
        match self.used.try_recv() {
            Ok(mut p) => {
                p.len = 0;
                p
            }
            Err(_) => Piece::new(),
        }
    }

    /// Hands over a copy of `data`.
    fn feed(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            let mut p = match self.pending.take() {
                Some(p) => p,
                None => self.piece(),
            };
            let room = p.room(data.len());
            let n = room.len();
            room.copy_from_slice(&data[..n]);
            p.len += n;
            data = &data[n..];
            if p.len == PIECE {
                self.send(p);
            } else {
                self.pending = Some(p);
            }
        }
    }

    /// Hands over a piece (after what was fed before it).
    fn feed_piece(&mut self, p: Piece) {
        if let Some(q) = self.pending.take() {
            self.send(q);
        }
        self.send(p);
    }

    fn send(&mut self, piece: Piece) {
        if let Some(tx) = &self.tx {
            // A check that already ended (a refused entry) drops its receiver; its result
            // says why, so the rest of the bytes need not go there.
            if tx.send(piece).is_err() {
                self.tx = None;
            }
        }
    }

    /// Waits for the check of everything fed.
    fn finish(mut self) -> std::result::Result<LayerSummary, String> {
        if let Some(p) = self.pending.take() {
            self.send(p);
        }
        self.tx = None;
        match self.thread.take().map(|t| t.join()) {
            Some(Ok(r)) => r,
            _ => Err("the layer check stopped".into()),
        }
    }
}

impl Drop for LayerCheck {
    fn drop(&mut self) {
        // Closing the channel ends the thread (with an error nobody reads).
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The pieces received from the download, as a buffered reader.
struct Pieces {
    rx: Receiver<Piece>,
    used: Sender<Piece>,
    piece: Option<Piece>,
    pos: usize,
}

impl Read for Pieces {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let avail = self.fill_buf()?;
        let n = avail.len().min(buf.len());
        buf[..n].copy_from_slice(&avail[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for Pieces {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        while self.piece.as_ref().is_none_or(|p| self.pos == p.len) {
            if let Some(p) = self.piece.take() {
                // The download may have ended: then nobody takes it back.
                let _ = self.used.send(p);
            }
            match self.rx.recv() {
                Ok(p) => {
                    self.piece = Some(p);
                    self.pos = 0;
                }
                Err(_) => return Ok(&[]),
            }
        }
        let p = self.piece.as_ref().expect("filled above");
        Ok(&p.data()[self.pos..])
    }

    fn consume(&mut self, n: usize) {
        if let Some(p) = &self.piece {
            self.pos = (self.pos + n).min(p.len);
        }
    }
}

/// Fills `buf` from `r` as far as it goes (fewer bytes only at the end of the stream).
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            // Hand over what came before the error; the next read fails (or ends) again,
            // and the caller retries from there.
            Err(_) if n > 0 => break,
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Downloads one layer into its partial file in the store's ingest directory (continuing
/// it with a range request), while a second thread decompresses and checks the same bytes.
/// The digest of the whole file is verified, and the tar check must have passed, before the
/// blob gets its name. A broken connection is retried a few times, each time from where the
/// data stopped.
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
    let mut check = LayerCheck::start();
    // Re-hash what an earlier pull left (and check it), then continue after it.
    let mut w = store
        .blobs
        .resume(&partial_name(&l.digest), l.size, &mut |b| check.feed(b))?;
    let have = w.len();
    if have > 0 {
        resumed.fetch_add(have, Ordering::Relaxed);
        progress.advance(have);
        progress.line(&format!(
            "{}: resuming download at byte {have} of {}",
            l.digest.short(),
            l.size
        ));
    }
    let mut attempt = 0u64;
    while w.len() < l.size {
        attempt += 1;
        let offset = w.len();
        let res = client
            .get_blob(repo, &l.digest, offset)
            .and_then(|(resp, start)| {
                if start != offset {
                    // The server ignored the range: start over.
                    w.reset()?;
                    check = LayerCheck::start();
                }
                let mut body = resp.take(l.size - w.len());
                loop {
                    let mut piece = check.piece();
                    // Short of whole blocks by what the file has past its last one, so
                    // that from the next piece on, pieces land on block boundaries.
                    let want = PIECE - (w.len() % DIRECT_ALIGN as u64) as usize;
                    let n = match read_full(&mut body, piece.room(want)) {
                        Ok(0) => break,
                        Ok(n) => n,
                        Err(e) => {
                            return Err(Error::Connect {
                                registry: client.registry.clone(),
                                detail: format!("download of layer {} broke: {e}", l.digest),
                            })
                        }
                    };
                    piece.len = n;
                    w.write_piece(piece.data())
                        .ctx("write partial download", &path)?;
                    check.feed_piece(piece);
                    progress.advance(n as u64);
                    downloaded.fetch_add(n as u64, Ordering::Relaxed);
                }
                if w.len() < l.size {
                    return Err(Error::Connect {
                        registry: client.registry.clone(),
                        detail: format!(
                            "the registry ended layer {} after {} of {} bytes",
                            l.digest,
                            w.len(),
                            l.size
                        ),
                    });
                }
                Ok(())
            });
        match res {
            Ok(()) => {}
            Err(Error::Connect { detail, .. }) if attempt < 4 && w.len() > offset => {
                progress.line(&format!(
                    "{}: {detail}; retrying from byte {}",
                    l.digest.short(),
                    w.len()
                ));
                std::thread::sleep(std::time::Duration::from_millis(200 * attempt));
            }
            Err(Error::Connect { registry, detail }) => {
                return Err(Error::Connect {
                    registry,
                    detail: format!(
                        "{detail}; {} bytes are kept, run the pull again to resume",
                        w.len()
                    ),
                })
            }
            Err(e) => return Err(e),
        }
    }
    let (got, _) = w.current();
    if got != l.digest {
        w.discard();
        return Err(Error::DigestMismatch {
            what: format!(
                "layer {} downloaded from {}/{repo} (the registry sent wrong bytes; nothing was stored)",
                l.digest, client.registry
            ),
            expected: l.digest.to_string(),
            actual: got.to_string(),
        });
    }
    // Verified bytes; the blob gets its name only if the tar check passed too.
    let summary = match check.finish() {
        Ok(s) => s,
        Err(e) => {
            w.discard();
            return Err(Error::invalid(format!(
                "layer {} from {}/{repo} was refused: {e}",
                l.digest, client.registry
            )));
        }
    };
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

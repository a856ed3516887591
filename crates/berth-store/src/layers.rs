//! Storing one layer stream: validate every entry, compute the diff id, and write the
//! compressed blob, in one pass over the input.
//!
//! Already-compressed input (gzip, zstd) is kept byte for byte while it is decompressed
//! and scanned. Uncompressed (or xz) input is compressed on a second thread, so parsing and
//! hashing on one core overlap compression on the other.

use crate::blobs::{BlobWriter, Blobs};
use crate::error::{IoContext, Result};
use crate::progress::Progress;
use berth_image::compression::{self, Compression, Compressor};
use berth_image::digest::Digest;
use berth_image::layer::{scan_layer, DevicePolicy, LayerSummary};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::sync::mpsc::{sync_channel, SyncSender};

/// A layer as stored: its blob and what is inside.
#[derive(Debug, Clone)]
pub struct StoredLayer {
    pub digest: Digest,
    pub size: u64,
    pub media_type: String,
    pub diff_id: Digest,
    pub tar_size: u64,
    pub content_size: u64,
}

/// Counts bytes read for progress reporting.
struct Counting<'p, R> {
    inner: R,
    progress: &'p dyn Progress,
}

impl<R: Read> Read for Counting<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.progress.advance(n as u64);
        Ok(n)
    }
}

/// Copies what is read into a blob writer.
struct TeeToBlob<'w, R> {
    inner: R,
    out: &'w mut BlobWriter,
}

impl<R: Read> Read for TeeToBlob<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.out.write_all(&buf[..n])?;
        Ok(n)
    }
}

/// Sends what is read to the compression thread.
struct TeeToChannel<R> {
    inner: R,
    tx: SyncSender<Vec<u8>>,
}

impl<R: Read> Read for TeeToChannel<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n > 0 {
            self.tx
                .send(buf[..n].to_vec())
                .map_err(|_| io::Error::other("layer compression thread stopped"))?;
        }
        Ok(n)
    }
}

/// Reads a whole layer from `raw` (compressed or not), validates it, and stores its blob.
/// `expected` is the blob digest a manifest promised, when there is one.
pub(crate) fn store_layer<R: Read>(
    blobs: &Blobs,
    raw: R,
    expected: Option<&Digest>,
    devices: DevicePolicy,
    progress: &dyn Progress,
) -> Result<StoredLayer> {
    let mut input = BufReader::with_capacity(
        256 * 1024,
        Counting {
            inner: raw,
            progress,
        },
    );
    let head = input.fill_buf().ctx("read layer", "input")?;
    let found = Compression::detect(head);
    match found {
        Compression::Gzip | Compression::Zstd => {
            let mut w = blobs.writer()?;
            let summary = {
                let tee = TeeToBlob {
                    inner: input,
                    out: &mut w,
                };
                let mut dec =
                    compression::decompress(found, BufReader::with_capacity(256 * 1024, tee))
                        .ctx("decompress layer", "input")?;
                // gzip and zstd decoders read their input to its end (further members or
                // frames), so every byte of the blob passes through the tee.
                scan_layer(&mut dec, devices)?
            };
            let (digest, size) = w.commit(expected)?;
            Ok(stored(digest, size, found, summary))
        }
        Compression::None | Compression::Xz => {
            let plain = compression::decompress(found, input).ctx("decompress layer", "input")?;
            store_compressing(blobs, plain, expected, devices, Compression::Gzip)
        }
    }
}

/// Stores an uncompressed tar stream, compressing it with `to` on a second thread.
pub(crate) fn store_compressing<R: Read>(
    blobs: &Blobs,
    plain: R,
    expected: Option<&Digest>,
    devices: DevicePolicy,
    to: Compression,
) -> Result<StoredLayer> {
    let w = blobs.writer()?;
    let (tx, rx) = sync_channel::<Vec<u8>>(32);
    let (summary, writer) = std::thread::scope(|s| {
        let compressor = s.spawn(move || -> io::Result<BlobWriter> {
            let mut c = Compressor::new(to, w)?;
            for chunk in rx {
                c.write_all(&chunk)?;
            }
            c.finish()
        });
        let tee = TeeToChannel { inner: plain, tx };
        let summary = scan_layer(BufReader::with_capacity(256 * 1024, tee), devices);
        let writer = compressor.join().expect("compression thread panicked");
        (summary, writer)
    });
    let summary = summary?;
    let writer = writer.ctx("compress layer", "blob")?;
    let (digest, size) = writer.commit(expected)?;
    Ok(stored(digest, size, to, summary))
}

fn stored(digest: Digest, size: u64, c: Compression, s: LayerSummary) -> StoredLayer {
    StoredLayer {
        digest,
        size,
        media_type: c.oci_layer_media_type().to_string(),
        diff_id: s.diff_id,
        tar_size: s.tar_size,
        content_size: s.content_size,
    }
}

/// The chain id of a stack of layers (OCI image spec): the id of its top snapshot.
pub fn chain_ids(diff_ids: &[Digest]) -> Vec<Digest> {
    let mut out: Vec<Digest> = Vec::with_capacity(diff_ids.len());
    for d in diff_ids {
        let next = match out.last() {
            None => d.clone(),
            Some(prev) => Digest::of(format!("{prev} {d}").as_bytes()),
        };
        out.push(next);
    }
    out
}

/// Opens a stored layer blob as an uncompressed tar stream.
pub(crate) fn open_plain(blobs: &Blobs, digest: &Digest) -> Result<Box<dyn Read>> {
    let mut r = blobs.open_sequential(digest)?;
    // Trust the bytes over the media type: docker-archive "layer.tar" files are often gzip.
    let head = r.fill_buf().ctx("read blob", blobs.path(digest))?;
    let found = Compression::detect(head);
    compression::decompress(found, r).ctx("decompress blob", blobs.path(digest))
}

impl crate::Store {
    /// Stores one layer from `raw` (gzip/zstd kept as they are, plain or xz compressed
    /// with gzip), validating every entry; `expected` is the blob digest a manifest
    /// promised. Call it while holding a [`crate::Lease`], and reference the result in
    /// [`crate::Store::commit_image`] before releasing it.
    pub fn put_layer<R: Read>(
        &self,
        raw: R,
        expected: Option<&Digest>,
        devices: DevicePolicy,
        progress: &dyn Progress,
    ) -> Result<crate::LayerRecord> {
        store_layer(&self.blobs, raw, expected, devices, progress).map(Into::into)
    }

    /// Opens a stored layer blob as an uncompressed tar stream.
    pub fn open_layer_tar(&self, digest: &Digest) -> Result<Box<dyn Read>> {
        open_plain(&self.blobs, digest)
    }
}

/// Decompresses a stored layer on a thread of its own, handing the plain tar over in
/// chunks, so the reader's hashing and writing overlap decompression (save uses it).
pub(crate) struct ReadAhead {
    rx: std::sync::mpsc::Receiver<io::Result<Vec<u8>>>,
    chunk: Vec<u8>,
    pos: usize,
}

pub(crate) fn read_ahead(path: std::path::PathBuf) -> ReadAhead {
    let (tx, rx) = sync_channel::<io::Result<Vec<u8>>>(8);
    std::thread::spawn(move || {
        let run = || -> io::Result<()> {
            let mut r = BufReader::with_capacity(256 * 1024, std::fs::File::open(&path)?);
            let found = Compression::detect(r.fill_buf()?);
            let mut dec = compression::decompress(found, r)?;
            loop {
                let mut chunk = vec![0u8; 512 * 1024];
                let mut n = 0;
                while n < chunk.len() {
                    match dec.read(&mut chunk[n..]) {
                        Ok(0) => break,
                        Ok(k) => n += k,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(e),
                    }
                }
                if n == 0 {
                    return Ok(());
                }
                chunk.truncate(n);
                if tx.send(Ok(chunk)).is_err() {
                    return Ok(()); // the reader went away
                }
            }
        };
        if let Err(e) = run() {
            let _ = tx.send(Err(e));
        }
    });
    ReadAhead {
        rx,
        chunk: Vec::new(),
        pos: 0,
    }
}

impl Read for ReadAhead {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos == self.chunk.len() {
            match self.rx.recv() {
                Ok(Ok(c)) => {
                    self.chunk = c;
                    self.pos = 0;
                }
                Ok(Err(e)) => return Err(e),
                Err(_) => return Ok(0),
            }
        }
        let n = (self.chunk.len() - self.pos).min(buf.len());
        buf[..n].copy_from_slice(&self.chunk[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

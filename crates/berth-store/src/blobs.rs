//! Content-addressed blobs: `blobs/sha256/<hex>`, immutable once named.
//!
//! Writes go to a uniquely named file in `ingest/`, hashed while written; `commit` fsyncs,
//! checks size and digest, renames into place and fsyncs the directory. A blob that is
//! already there makes the commit a success (content is the same by definition).

use crate::error::{Error, IoContext, Result};
use crate::util::random_name;
use berth_image::digest::{Digest, HashingWriter};
use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

pub struct Blobs {
    dir: PathBuf,
    ingest: PathBuf,
}

impl Blobs {
    pub(crate) fn new(root: &Path) -> Blobs {
        Blobs {
            dir: root.join("blobs/sha256"),
            ingest: root.join("ingest"),
        }
    }

    pub fn path(&self, d: &Digest) -> PathBuf {
        self.dir.join(d.hex())
    }

    pub fn exists(&self, d: &Digest) -> bool {
        self.path(d).exists()
    }

    pub fn size(&self, d: &Digest) -> Result<u64> {
        let p = self.path(d);
        Ok(fs::metadata(&p).ctx("stat blob", &p)?.len())
    }

    pub fn open(&self, d: &Digest) -> Result<File> {
        let p = self.path(d);
        File::open(&p).map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                Error::NotFound(format!(
                    "blob {d} is missing from the store (run `berth system check`)"
                ))
            } else {
                Error::Io {
                    op: "open blob",
                    path: p,
                    source: e,
                }
            }
        })
    }

    pub fn read(&self, d: &Digest) -> Result<Vec<u8>> {
        let mut v = Vec::new();
        self.open(d)?
            .read_to_end(&mut v)
            .ctx("read blob", self.path(d))?;
        let got = Digest::of(&v);
        if &got != d {
            return Err(Error::DigestMismatch {
                what: format!("blob {d}"),
                expected: d.to_string(),
                actual: got.to_string(),
            });
        }
        Ok(v)
    }

    /// Starts writing a new blob.
    pub fn writer(&self) -> Result<BlobWriter> {
        let path = self.ingest.join(random_name());
        let f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .ctx("create", &path)?;
        Ok(BlobWriter {
            inner: Some(HashingWriter::new(BufWriter::with_capacity(1 << 20, f))),
            path,
            dir: self.dir.clone(),
        })
    }

    /// Stores bytes as a blob, returning their digest.
    pub fn put(&self, data: &[u8]) -> Result<Digest> {
        let d = Digest::of(data);
        if self.exists(&d) {
            return Ok(d);
        }
        let mut w = self.writer()?;
        w.write_all(data).ctx("write blob", &self.ingest)?;
        w.commit(Some(&d))?;
        Ok(d)
    }

    /// Every blob digest on disk (names that are not digests are skipped).
    pub fn list(&self) -> Result<Vec<Digest>> {
        let mut out = Vec::new();
        for e in fs::read_dir(&self.dir).ctx("list", &self.dir)? {
            let e = e.ctx("list", &self.dir)?;
            if let Some(d) = e
                .file_name()
                .to_str()
                .and_then(|n| Digest::from_hex(n).ok())
            {
                out.push(d);
            }
        }
        Ok(out)
    }

    /// Re-hashes a blob; `Ok(false)` when its content no longer matches its name.
    pub fn verify(&self, d: &Digest) -> Result<bool> {
        let mut f = self.open(d)?;
        let mut w = HashingWriter::new(io::sink());
        io::copy(&mut f, &mut w).ctx("read blob", self.path(d))?;
        Ok(&w.finish().1 == d)
    }

    pub(crate) fn remove(&self, d: &Digest) -> Result<()> {
        let p = self.path(d);
        match fs::remove_file(&p) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e).ctx("remove blob", p),
            _ => Ok(()),
        }
    }

    pub(crate) fn ingest_dir(&self) -> &Path {
        &self.ingest
    }
}

/// A blob being written; dropped without `commit`, its temporary file is removed.
pub struct BlobWriter {
    inner: Option<HashingWriter<BufWriter<File>>>,
    path: PathBuf,
    dir: PathBuf,
}

impl BlobWriter {
    /// Finishes the blob: fsync, verify against `expected` if given, rename into place.
    pub fn commit(mut self, expected: Option<&Digest>) -> Result<(Digest, u64)> {
        let inner = self.inner.take().expect("commit runs once");
        let path = &self.path;
        // On any error below, Drop removes the temporary file.
        let (buf, digest, size) = inner.finish();
        let file = buf
            .into_inner()
            .map_err(|e| e.into_error())
            .ctx("write", path)?;
        file.sync_all().ctx("fsync", path)?;
        drop(file);
        if let Some(want) = expected {
            if want != &digest {
                return Err(Error::DigestMismatch {
                    what: "blob".into(),
                    expected: want.to_string(),
                    actual: digest.to_string(),
                });
            }
        }
        let target = self.dir.join(digest.hex());
        if target.exists() {
            return Ok((digest, size));
        }
        let _ = fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o444));
        fs::rename(path, &target).ctx("rename into blob store", &target)?;
        if let Ok(d) = File::open(&self.dir) {
            let _ = d.sync_all();
        }
        Ok((digest, size))
    }
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.as_mut().expect("not committed").write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.as_mut().expect("not committed").flush()
    }
}

impl Drop for BlobWriter {
    fn drop(&mut self) {
        // After a successful commit the file was renamed away and this finds nothing.
        let _ = fs::remove_file(&self.path);
    }
}

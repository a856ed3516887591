//! Content-addressed blobs: `blobs/sha256/<hex>`, immutable once named.
//!
//! Writes go to a uniquely named file in `ingest/`, hashed while written; `commit` fsyncs,
//! checks size and digest, renames into place and fsyncs the directory. A blob that is
//! already there makes the commit a success (content is the same by definition).
//!
//! Resumable ingest files (pulled layers) are written with `O_DIRECT` where the filesystem
//! allows it: no copy into the page cache and no writeback work later (ADR 0053). `commit`
//! still fsyncs before the rename, so a named blob is on disk either way.

use crate::error::{Error, IoContext, Result};
use crate::util::random_name;
use berth_image::digest::{Digest, HashingWriter};
use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Seek, Write};
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

    /// Opens a blob to be read once from start to end (a layer being unpacked). A blob
    /// that is not in the page cache (a pulled one: written with O_DIRECT) is read with
    /// O_DIRECT as well: filling the cache with it would cost about as much as the read,
    /// for pages nobody reads again. A cached blob is read through the cache.
    pub fn open_sequential(&self, d: &Digest) -> Result<Box<dyn io::BufRead + Send>> {
        let f = self.open(d)?;
        if !in_page_cache(&f) {
            match DirectReader::open(&self.path(d)) {
                Ok(Some(r)) => return Ok(Box::new(r)),
                Ok(None) => {}
                Err(e) => return Err(e).ctx("open blob", self.path(d)),
            }
        }
        Ok(Box::new(io::BufReader::with_capacity(256 * 1024, f)))
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
            inner: Some(HashingWriter::new(Sink::Buffered(
                BufWriter::with_capacity(1 << 20, f),
            ))),
            path,
            dir: self.dir.clone(),
            keep: false,
            writeback_from: 0,
            _lock: None,
        })
    }

    /// Opens, or creates, the resumable ingest file `ingest/<name>` (e.g. a partial
    /// download named after the digest it should have): locks it against other processes
    /// (a second writer of the same name waits), re-hashes what an interrupted writer left
    /// there, handing each piece to `seen`, and returns a writer that appends after it
    /// ([`BlobWriter::len`] tells how much that is). A file longer than `max` starts over.
    /// Dropped without `commit`, the file stays for a later resume; a commit that finds the
    /// wrong digest, or [`BlobWriter::discard`], deletes it.
    pub fn resume(&self, name: &str, max: u64, seen: &mut dyn FnMut(&[u8])) -> Result<BlobWriter> {
        if name.contains('/') || name.starts_with('.') {
            return Err(Error::Invalid(format!("bad ingest name {name:?}")));
        }
        let path = self.ingest.join(name);
        let f = fs::OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(false)
            .read(true)
            .open(&path)
            .ctx("open partial blob", &path)?;
        rustix::fs::flock(&f, rustix::fs::FlockOperation::LockExclusive)
            .map_err(io::Error::from)
            .ctx("lock partial blob", &path)?;
        let have = f.metadata().ctx("stat", &path)?.len();
        let mut h = HashingWriter::new(io::sink());
        if have > max {
            f.set_len(0).ctx("truncate", &path)?;
        } else if have > 0 {
            let mut buf = vec![0u8; 1 << 20];
            let mut r = File::open(&path).ctx("open partial blob", &path)?;
            let mut left = have;
            while left > 0 {
                let n = r.read(&mut buf).ctx("read partial blob", &path)?;
                if n == 0 {
                    break;
                }
                let n = n.min(left as usize);
                h.write_all(&buf[..n]).ctx("hash", &path)?;
                seen(&buf[..n]);
                left -= n as u64;
            }
            let (_, got) = h.current();
            if got < have {
                f.set_len(got).ctx("truncate", &path)?;
            }
        }
        let (_, have) = h.current();
        let sink = match DirectFile::open(&path, have) {
            Ok(Some(d)) => Sink::Direct(d),
            // The filesystem has no O_DIRECT (tmpfs before Linux 6.6, some FUSE ones).
            Ok(None) => {
                let mut f = f.try_clone().ctx("open partial blob", &path)?;
                f.seek(io::SeekFrom::Start(have)).ctx("seek", &path)?;
                Sink::Buffered(BufWriter::with_capacity(1 << 20, f))
            }
            Err(e) => return Err(e).ctx("open partial blob", &path),
        };
        // `f` holds the lock for as long as the writer lives.
        let mut inner = HashingWriter::new(sink);
        inner.set_hasher_from(&h);
        let writeback_from = inner.current_len();
        Ok(BlobWriter {
            inner: Some(inner),
            path,
            dir: self.dir.clone(),
            keep: true,
            writeback_from,
            _lock: Some(f),
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

/// A blob being written; dropped without `commit`, its temporary file is removed (unless
/// it came from [`Blobs::resume`]).
pub struct BlobWriter {
    inner: Option<HashingWriter<Sink>>,
    path: PathBuf,
    dir: PathBuf,
    keep: bool,
    /// Where the range starts that was written but not yet handed to writeback.
    writeback_from: u64,
    /// The descriptor holding the `flock` of a resumable file.
    _lock: Option<File>,
}

impl BlobWriter {
    /// Bytes written so far (for a resumed writer, including what was there before).
    pub fn len(&self) -> u64 {
        self.inner.as_ref().expect("not committed").current_len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Digest and length of the bytes so far.
    pub fn current(&self) -> (Digest, u64) {
        self.inner.as_ref().expect("not committed").current()
    }

    /// Throws away what was written and starts again from nothing.
    pub fn reset(&mut self) -> Result<()> {
        let inner = self.inner.take().expect("not committed");
        let (sink, _, _) = inner.finish();
        let sink = sink.reset().ctx("truncate", &self.path)?;
        self.writeback_from = 0;
        self.inner = Some(HashingWriter::new(sink));
        Ok(())
    }

    /// Deletes the file, also for a resumable writer.
    pub fn discard(mut self) {
        self.keep = false;
    }

    /// Finishes the blob: fsync, verify against `expected` if given, rename into place.
    pub fn commit(mut self, expected: Option<&Digest>) -> Result<(Digest, u64)> {
        let inner = self.inner.take().expect("commit runs once");
        let path = &self.path;
        // On any error below, Drop removes the temporary file.
        let (sink, digest, size) = inner.finish();
        let file = sink.into_file().ctx("write", path)?;
        file.sync_all().ctx("fsync", path)?;
        drop(file);
        if let Some(want) = expected {
            if want != &digest {
                self.keep = false;
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

/// Bytes written between two writeback starts (see [`BlobWriter::write`]).
const WRITEBACK_STEP: u64 = 8 << 20;

/// Asks the kernel to start writing a range of `f` to disk, without waiting for it.
fn start_writeback(f: &File, from: u64, len: u64) {
    use std::os::fd::AsRawFd;
    // SAFETY: sync_file_range only reads its integer arguments; a bad fd gives EBADF.
    #[allow(unsafe_code)]
    unsafe {
        libc::sync_file_range(
            f.as_raw_fd(),
            from as libc::off64_t,
            len as libc::off64_t,
            libc::SYNC_FILE_RANGE_WRITE,
        );
    }
}

impl BlobWriter {
    /// Like `write_all`. A resumable writer with direct I/O writes a `data` that starts at
    /// a [`DIRECT_ALIGN`]ed address and is a whole number of such blocks from where it is,
    /// without copying it, when the file so far ends on a block boundary too (a caller
    /// sizes its pieces so that it does: `len() % DIRECT_ALIGN` short of whole blocks).
    pub fn write_piece(&mut self, data: &[u8]) -> io::Result<()> {
        let inner = self.inner.as_mut().expect("not committed");
        if !matches!(inner.get_ref(), Sink::Direct(_)) {
            return self.write_all(data);
        }
        inner.write_all_with(data, |sink, data| match sink {
            Sink::Direct(d) => d.write_piece(data),
            Sink::Buffered(b) => b.write_all(data),
        })
    }
}

impl Write for BlobWriter {
    /// Large blobs (layers) start their writeback every few MiB, so the fsync of `commit`
    /// waits only for the last of them instead of the whole blob at once.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let inner = self.inner.as_mut().expect("not committed");
        let n = inner.write(buf)?;
        // Direct writes have no writeback to start.
        if let Sink::Buffered(b) = inner.get_ref() {
            let on_disk = inner.current_len() - b.buffer().len() as u64;
            if on_disk >= self.writeback_from + WRITEBACK_STEP {
                start_writeback(
                    b.get_ref(),
                    self.writeback_from,
                    on_disk - self.writeback_from,
                );
                self.writeback_from = on_disk;
            }
        }
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.as_mut().expect("not committed").flush()
    }
}

/// Where a blob's bytes go: through the page cache, or straight to the disk.
enum Sink {
    Buffered(BufWriter<File>),
    Direct(DirectFile),
}

impl Sink {
    /// Writes out what is buffered and returns the file.
    fn into_file(self) -> io::Result<File> {
        match self {
            Sink::Buffered(b) => b.into_inner().map_err(|e| e.into_error()),
            Sink::Direct(d) => d.into_file(),
        }
    }

    /// Empties the file and starts again at its first byte.
    fn reset(self) -> io::Result<Sink> {
        Ok(match self {
            Sink::Buffered(b) => {
                let mut f = b.into_inner().map_err(|e| e.into_error())?;
                f.set_len(0)?;
                f.seek(io::SeekFrom::Start(0))?;
                Sink::Buffered(BufWriter::with_capacity(1 << 20, f))
            }
            Sink::Direct(mut d) => {
                d.len = 0;
                d.pos = 0;
                d.file.set_len(0)?;
                Sink::Direct(d)
            }
        })
    }
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Sink::Buffered(b) => b.write(buf),
            Sink::Direct(d) => d.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Sink::Buffered(b) => b.flush(),
            // Only whole blocks can be written directly; the rest waits for `into_file`.
            Sink::Direct(_) => Ok(()),
        }
    }
}

/// Alignment of direct writes: offsets, lengths and memory (the largest logical block
/// size of common disks).
pub const DIRECT_ALIGN: usize = 4096;
const ALIGN: usize = DIRECT_ALIGN;
/// Size of one direct write.
const DIRECT_CHUNK: usize = 1 << 20;

/// A file opened with `O_DIRECT`, written in whole aligned chunks from an aligned buffer;
/// the last, partial block is written through the page cache when the file is finished
/// (or dropped, for a resume later).
struct DirectFile {
    file: File,
    /// `DIRECT_CHUNK + ALIGN` bytes; the chunk starts at `off`, which is aligned.
    mem: Vec<u8>,
    off: usize,
    /// Bytes in the chunk.
    len: usize,
    /// File offset of the chunk's first byte (aligned).
    pos: u64,
    /// Whether O_DIRECT is still on (off after the filesystem refused a direct write).
    direct: bool,
}

impl DirectFile {
    /// Opens `path` (which has `have` bytes) for direct writes after them; `None` when the
    /// filesystem does not do O_DIRECT. The partial block at the end is read back into the
    /// buffer, so every write starts at an aligned offset.
    fn open(path: &Path, have: u64) -> io::Result<Option<DirectFile>> {
        use std::os::unix::fs::{FileExt, OpenOptionsExt};
        let file = match fs::OpenOptions::new()
            .write(true)
            .read(true)
            .custom_flags(libc::O_DIRECT)
            .open(path)
        {
            Ok(f) => f,
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => return Ok(None),
            Err(e) => return Err(e),
        };
        let mut mem = vec![0u8; DIRECT_CHUNK + ALIGN];
        let off = mem.as_ptr().align_offset(ALIGN);
        let pos = have - have % ALIGN as u64;
        let len = (have - pos) as usize;
        if len > 0 {
            // Through a buffered descriptor: a direct read would need an aligned length.
            File::open(path)?.read_exact_at(&mut mem[off..off + len], pos)?;
        }
        Ok(Some(DirectFile {
            file,
            mem,
            off,
            len,
            pos,
            direct: true,
        }))
    }

    /// Writes the first `n` bytes of the chunk at `pos` (`n` is a multiple of ALIGN unless
    /// O_DIRECT is off).
    fn write_out(&mut self, n: usize) -> io::Result<()> {
        let range = self.off..self.off + n;
        write_at(&self.file, &mut self.direct, &self.mem[range], self.pos)
    }

    fn set_direct(&mut self, on: bool) -> io::Result<()> {
        set_direct(&self.file, on)?;
        self.direct = on;
        Ok(())
    }

    /// See [`BlobWriter::write_piece`].
    fn write_piece(&mut self, data: &[u8]) -> io::Result<()> {
        let aligned = data.as_ptr().align_offset(ALIGN) == 0 && data.len().is_multiple_of(ALIGN);
        if !(self.direct && aligned && self.len.is_multiple_of(ALIGN)) {
            return self.write_all(data);
        }
        if self.len > 0 {
            self.write_out(self.len)?;
            self.pos += self.len as u64;
            self.len = 0;
        }
        write_at(&self.file, &mut self.direct, data, self.pos)?;
        self.pos += data.len() as u64;
        Ok(())
    }

    /// Writes out everything held: the whole blocks directly, the partial one last through
    /// the page cache. Nothing is held afterwards; the next write starts a new partial block
    /// at an unaligned offset, so this is only for the end (commit or drop).
    fn flush_all(&mut self) -> io::Result<()> {
        let whole = self.len - self.len % ALIGN;
        if whole > 0 {
            self.write_out(whole)?;
        }
        let rest = self.len - whole;
        if rest > 0 {
            if self.direct {
                self.set_direct(false)?;
            }
            use std::os::unix::fs::FileExt;
            let start = self.off + whole;
            self.file
                .write_all_at(&self.mem[start..start + rest], self.pos + whole as u64)?;
        }
        self.pos += self.len as u64;
        self.len = 0;
        Ok(())
    }

    fn into_file(mut self) -> io::Result<File> {
        self.flush_all()?;
        let file = self.file.try_clone()?;
        // Nothing left to write when `self` drops.
        Ok(file)
    }
}

/// Whether the first byte of `f` is in the page cache (a read that must not wait for the
/// disk, `RWF_NOWAIT`, gets it). Where the kernel cannot tell, it is taken as cached.
fn in_page_cache(f: &File) -> bool {
    use rustix::io::{preadv2, ReadWriteFlags};
    let mut b = [0u8; 1];
    match preadv2(
        f,
        &mut [io::IoSliceMut::new(&mut b)],
        0,
        ReadWriteFlags::NOWAIT,
    ) {
        Err(e) => e != rustix::io::Errno::AGAIN,
        Ok(_) => true,
    }
}

/// Reads a file with O_DIRECT, a chunk at a time, into aligned buffers. A thread reads
/// ahead (up to `READ_AHEAD` chunks), as the kernel's readahead does for buffered reads, so
/// the reader does not wait for the disk at each chunk.
struct DirectReader {
    rx: std::sync::mpsc::Receiver<io::Result<Chunk>>,
    /// Chunks read, for the thread to fill again.
    back: std::sync::mpsc::Sender<Chunk>,
    chunk: Option<Chunk>,
    /// Where the unread bytes of `chunk` start.
    start: usize,
}

/// Chunks read ahead of the reader.
const READ_AHEAD: usize = 4;

struct Chunk {
    mem: Vec<u8>,
    off: usize,
    len: usize,
}

impl DirectReader {
    /// `None` when the filesystem does not do O_DIRECT.
    fn open(path: &Path) -> io::Result<Option<DirectReader>> {
        use std::os::unix::fs::OpenOptionsExt;
        let file = match fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECT)
            .open(path)
        {
            Ok(f) => f,
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => return Ok(None),
            Err(e) => return Err(e),
        };
        let (tx, rx) = std::sync::mpsc::sync_channel(READ_AHEAD);
        let (back, used) = std::sync::mpsc::channel::<Chunk>();
        std::thread::Builder::new()
            .name("blob-read".into())
            .spawn(move || read_ahead(file, tx, used))?;
        Ok(Some(DirectReader {
            rx,
            back,
            chunk: None,
            start: 0,
        }))
    }
}

/// The read-ahead thread: reads `file` chunk by chunk until its end, an error, or the
/// reader is gone.
fn read_ahead(
    file: File,
    tx: std::sync::mpsc::SyncSender<io::Result<Chunk>>,
    used: std::sync::mpsc::Receiver<Chunk>,
) {
    use std::os::unix::fs::FileExt;
    let mut direct = true;
    let mut pos = 0u64;
    loop {
        let mut c = used.try_recv().unwrap_or_else(|_| {
            let mem = vec![0u8; DIRECT_CHUNK + ALIGN];
            let off = mem.as_ptr().align_offset(ALIGN);
            Chunk { mem, off, len: 0 }
        });
        let buf = &mut c.mem[c.off..c.off + DIRECT_CHUNK];
        let res = match file.read_at(buf, pos) {
            // A short read leaves the next offset unaligned (usually only at the end);
            // then, and if the filesystem refuses, go on through the page cache.
            Err(e) if direct && e.raw_os_error() == Some(libc::EINVAL) => {
                direct = false;
                set_direct(&file, false).and_then(|_| file.read_at(buf, pos))
            }
            r => r,
        };
        match res {
            Ok(0) => return,
            Ok(n) => {
                c.len = n;
                pos += n as u64;
                if tx.send(Ok(c)).is_err() {
                    return;
                }
            }
            Err(e) => {
                let _ = tx.send(Err(e));
                return;
            }
        }
    }
}

impl io::BufRead for DirectReader {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        while self.chunk.as_ref().is_none_or(|c| self.start == c.len) {
            if let Some(c) = self.chunk.take() {
                let _ = self.back.send(c);
            }
            match self.rx.recv() {
                Ok(Ok(c)) => {
                    self.chunk = Some(c);
                    self.start = 0;
                }
                Ok(Err(e)) => return Err(e),
                // The end of the file.
                Err(_) => return Ok(&[]),
            }
        }
        let c = self.chunk.as_ref().expect("filled above");
        Ok(&c.mem[c.off + self.start..c.off + c.len])
    }

    fn consume(&mut self, n: usize) {
        if let Some(c) = &self.chunk {
            self.start = (self.start + n).min(c.len);
        }
    }
}

impl Read for DirectReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let avail = io::BufRead::fill_buf(self)?;
        let n = avail.len().min(buf.len());
        buf[..n].copy_from_slice(&avail[..n]);
        io::BufRead::consume(self, n);
        Ok(n)
    }
}

/// Writes `data` at `pos`; when the filesystem refuses a direct write (it opened the file
/// with O_DIRECT but cannot do it), turns O_DIRECT off and writes through the page cache.
fn write_at(file: &File, direct: &mut bool, data: &[u8], pos: u64) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    match file.write_all_at(data, pos) {
        Err(e) if *direct && e.raw_os_error() == Some(libc::EINVAL) => {
            set_direct(file, false)?;
            *direct = false;
            file.write_all_at(data, pos)
        }
        r => r,
    }
}

fn set_direct(file: &File, on: bool) -> io::Result<()> {
    use rustix::fs::OFlags;
    let mut fl = rustix::fs::fcntl_getfl(file)?;
    fl.set(OFlags::DIRECT, on);
    rustix::fs::fcntl_setfl(file, fl)?;
    Ok(())
}

impl Write for DirectFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = buf.len().min(DIRECT_CHUNK - self.len);
        let at = self.off + self.len;
        self.mem[at..at + n].copy_from_slice(&buf[..n]);
        self.len += n;
        if self.len == DIRECT_CHUNK {
            self.write_out(DIRECT_CHUNK)?;
            self.pos += DIRECT_CHUNK as u64;
            self.len = 0;
        }
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for DirectFile {
    /// A writer dropped without commit keeps its bytes for a resume, like a `BufWriter`.
    fn drop(&mut self) {
        let _ = self.flush_all();
    }
}

impl Drop for BlobWriter {
    fn drop(&mut self) {
        // After a successful commit the file was renamed away and this finds nothing.
        if !self.keep || self.inner.is_none() {
            let _ = fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resumable_writers_keep_continue_and_verify() {
        let t = tempfile::tempdir().unwrap();
        let store = crate::Store::open(t.path()).unwrap();
        let b = &store.blobs;
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        let want = Digest::of(&data);
        let name = "pull-test.partial";
        // A first writer stops half-way; its bytes stay.
        let mut w = b.resume(name, data.len() as u64, &mut |_| {}).unwrap();
        w.write_all(&data[..1_000_000]).unwrap();
        drop(w);
        assert_eq!(
            fs::metadata(b.ingest_dir().join(name)).unwrap().len(),
            1_000_000
        );
        // The next one is handed those bytes, continues after them, and commits.
        let mut seen = Vec::new();
        let mut w = b
            .resume(name, data.len() as u64, &mut |p| seen.extend_from_slice(p))
            .unwrap();
        assert_eq!(seen, &data[..1_000_000]);
        assert_eq!(w.len(), 1_000_000);
        w.write_all(&data[1_000_000..]).unwrap();
        assert_eq!(w.current().0, want);
        let (d, n) = w.commit(Some(&want)).unwrap();
        assert_eq!((d, n), (want.clone(), data.len() as u64));
        assert!(b.verify(&want).unwrap());
        assert!(!b.ingest_dir().join(name).exists());
        // Wrong bytes: the commit fails and nothing is kept to resume from.
        let mut w = b.resume(name, 10, &mut |_| {}).unwrap();
        w.write_all(b"0123456789").unwrap();
        assert!(w.commit(Some(&want)).is_err());
        assert!(!b.ingest_dir().join(name).exists());
        // Longer than allowed: starts over; reset and discard remove what was there.
        fs::write(b.ingest_dir().join(name), b"too long for max").unwrap();
        let mut w = b
            .resume(name, 4, &mut |_| panic!("nothing to hand over"))
            .unwrap();
        assert_eq!(w.len(), 0);
        w.write_all(b"ab").unwrap();
        w.reset().unwrap();
        assert_eq!(w.len(), 0);
        w.discard();
        assert!(!b.ingest_dir().join(name).exists());
        assert!(b.resume("../escape", 1, &mut |_| {}).is_err());
    }

    #[test]
    fn a_refused_direct_write_goes_through_the_page_cache() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("f");
        fs::write(&p, b"").unwrap();
        let Some(d) = DirectFile::open(&p, 0).unwrap() else {
            return; // no O_DIRECT here: the buffered writer is used anyway
        };
        // An unaligned write with O_DIRECT on fails with EINVAL, as a filesystem that
        // opens with O_DIRECT but cannot write that way does: it is written buffered.
        let mut direct = d.direct;
        write_at(&d.file, &mut direct, b"abc", 1).unwrap();
        assert!(!direct);
        drop(d);
        assert_eq!(fs::read(&p).unwrap(), b"\0abc");
    }

    #[test]
    fn pieces_after_an_unaligned_resume_land_where_they_belong() {
        let t = tempfile::tempdir().unwrap();
        let store = crate::Store::open(t.path()).unwrap();
        let b = &store.blobs;
        let data: Vec<u8> = (0..5_000_000u32).map(|i| (i % 241) as u8).collect();
        let want = Digest::of(&data);
        let name = "pull-pieces.partial";
        let mut w = b.resume(name, data.len() as u64, &mut |_| {}).unwrap();
        w.write_all(&data[..12_345]).unwrap();
        drop(w);
        let mut w = b.resume(name, data.len() as u64, &mut |_| {}).unwrap();
        // Pieces as the pull makes them: aligned memory, sized to reach block boundaries.
        let mut mem = vec![0u8; (1 << 20) + DIRECT_ALIGN];
        let off = mem.as_ptr().align_offset(DIRECT_ALIGN);
        while (w.len() as usize) < data.len() {
            let at = w.len() as usize;
            let n = ((1 << 20) - at % DIRECT_ALIGN).min(data.len() - at);
            mem[off..off + n].copy_from_slice(&data[at..at + n]);
            w.write_piece(&mem[off..off + n]).unwrap();
        }
        let (d, n) = w.commit(Some(&want)).unwrap();
        assert_eq!((d, n), (want.clone(), data.len() as u64));
        // Read once from start to end (directly, where the blob is not cached).
        let mut back = Vec::new();
        b.open_sequential(&want)
            .unwrap()
            .read_to_end(&mut back)
            .unwrap();
        assert!(back == data);
        assert_eq!(fs::read(b.path(&want)).unwrap(), data);
    }
}

//! Layer and archive compression: detection by magic bytes, streaming decompression, and
//! deterministic compression (no timestamps or names in gzip headers).

use std::io::{self, BufRead, BufReader, Read, Write};

/// Compression of a stream, as found by its first bytes or asked for by the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
    Xz,
}

/// gzip level used for layers berth writes. Level 1 with the zlib-rs backend keeps
/// compression off the critical path (hundreds of MB/s) at a few percent of size.
pub const GZIP_LEVEL: u32 = 1;
/// zstd level used for layers berth writes.
pub const ZSTD_LEVEL: i32 = 3;

impl Compression {
    /// Looks at the first bytes of a stream.
    pub fn detect(head: &[u8]) -> Compression {
        if head.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
            Compression::Xz
        } else {
            Compression::None
        }
    }

    /// Whether a stream starting with `head` is a tar archive, compressed or not (the
    /// `ustar` magic of the first header, or a compression berth reads).
    pub fn is_archive(head: &[u8]) -> bool {
        Compression::detect(head) != Compression::None
            || (head.len() >= 262 && &head[257..262] == b"ustar")
    }

    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
            Compression::Xz => "xz",
        }
    }

    /// The OCI layer media type for a tar layer compressed this way.
    pub fn oci_layer_media_type(self) -> &'static str {
        match self {
            Compression::None => crate::media::OCI_LAYER_TAR,
            Compression::Gzip => crate::media::OCI_LAYER_GZIP,
            Compression::Zstd => crate::media::OCI_LAYER_ZSTD,
            Compression::Xz => "application/vnd.oci.image.layer.v1.tar+xz",
        }
    }

    /// Compression implied by a layer media type.
    pub fn from_media_type(mt: &str) -> Compression {
        if mt.ends_with("+gzip") || mt.ends_with(".gzip") || mt == crate::media::DOCKER_LAYER_GZIP {
            Compression::Gzip
        } else if mt.ends_with("+zstd") {
            Compression::Zstd
        } else {
            Compression::None
        }
    }
}

impl std::str::FromStr for Compression {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "gzip" => Ok(Compression::Gzip),
            "zstd" => Ok(Compression::Zstd),
            "none" | "uncompressed" => Ok(Compression::None),
            other => Err(format!(
                "unknown compression {other:?}: use gzip, zstd or none"
            )),
        }
    }
}

/// Wraps a reader, detecting its compression from the first bytes and decompressing.
pub fn auto_decompress<'a, R: Read + 'a>(
    inner: R,
) -> io::Result<(Compression, Box<dyn Read + 'a>)> {
    let mut buf = BufReader::with_capacity(256 * 1024, inner);
    let head = buf.fill_buf()?;
    let c = Compression::detect(head);
    Ok((c, decompress(c, buf)?))
}

/// Decompresses a reader known to be compressed with `c`.
pub fn decompress<'a, R: BufRead + 'a>(c: Compression, r: R) -> io::Result<Box<dyn Read + 'a>> {
    Ok(match c {
        Compression::None => Box::new(r),
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(r)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(r)?),
        Compression::Xz => Box::new(liblzma::bufread::XzDecoder::new_multi_decoder(r)),
    })
}

/// Size of the blocks handed to the gzip encoder. zlib-rs output depends on how input is
/// split into writes, so the encoder always sees whole blocks of this size (and one final
/// short block): the same input then gives the same bytes, however callers write it.
const GZIP_BLOCK: usize = 256 * 1024;

/// Feeds its inner writer in fixed-size blocks.
pub struct Blocks<W: Write> {
    inner: W,
    buf: Vec<u8>,
}

impl<W: Write> Blocks<W> {
    fn new(inner: W) -> Self {
        Blocks {
            inner,
            buf: Vec::with_capacity(GZIP_BLOCK),
        }
    }
    fn finish(mut self) -> io::Result<W> {
        if !self.buf.is_empty() {
            self.inner.write_all(&self.buf)?;
        }
        Ok(self.inner)
    }
}

impl<W: Write> Write for Blocks<W> {
    fn write(&mut self, mut data: &[u8]) -> io::Result<usize> {
        let n = data.len();
        while !data.is_empty() {
            let take = (GZIP_BLOCK - self.buf.len()).min(data.len());
            self.buf.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.buf.len() == GZIP_BLOCK {
                self.inner.write_all(&self.buf)?;
                self.buf.clear();
            }
        }
        Ok(n)
    }
    /// Flushing would cut a block short and change the output; it only flushes what the
    /// encoder already produced.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A compressing writer; `finish` flushes the trailer and hands back the inner writer.
pub enum Compressor<W: Write> {
    None(W),
    Gzip(Blocks<flate2::write::GzEncoder<W>>),
    Zstd(zstd::stream::write::Encoder<'static, W>),
}

impl<W: Write> Compressor<W> {
    pub fn new(c: Compression, w: W) -> io::Result<Self> {
        Ok(match c {
            Compression::None => Compressor::None(w),
            Compression::Gzip => Compressor::Gzip(Blocks::new(
                flate2::GzBuilder::new()
                    .mtime(0)
                    .write(w, flate2::Compression::new(GZIP_LEVEL)),
            )),
            Compression::Zstd => {
                let mut e = zstd::stream::write::Encoder::new(w, ZSTD_LEVEL)?;
                e.include_checksum(false)?;
                Compressor::Zstd(e)
            }
            Compression::Xz => {
                return Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    "berth reads xz but does not write it; use gzip or zstd",
                ))
            }
        })
    }

    pub fn finish(self) -> io::Result<W> {
        match self {
            Compressor::None(w) => Ok(w),
            Compressor::Gzip(e) => e.finish()?.finish(),
            Compressor::Zstd(e) => e.finish(),
        }
    }
}

impl<W: Write> Write for Compressor<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Compressor::None(w) => w.write(buf),
            Compressor::Gzip(e) => e.write(buf),
            Compressor::Zstd(e) => e.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Compressor::None(w) => w.flush(),
            Compressor::Gzip(e) => e.flush(),
            Compressor::Zstd(e) => e.flush(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_deterministic() {
        let data = b"berth layer data ".repeat(1000);
        for c in [Compression::Gzip, Compression::Zstd, Compression::None] {
            let mut a = Compressor::new(c, Vec::new()).unwrap();
            a.write_all(&data).unwrap();
            let a = a.finish().unwrap();
            let mut b = Compressor::new(c, Vec::new()).unwrap();
            b.write_all(&data).unwrap();
            assert_eq!(a, b.finish().unwrap(), "{c:?} output must be deterministic");
            let (found, mut r) = auto_decompress(&a[..]).unwrap();
            assert_eq!(found, c);
            let mut out = Vec::new();
            r.read_to_end(&mut out).unwrap();
            assert_eq!(out, data);
        }
    }
}

#[cfg(test)]
mod chunking {
    use super::*;
    #[test]
    fn output_independent_of_write_sizes() {
        let data: Vec<u8> = std::fs::read("/bin/busybox").unwrap();
        for c in [Compression::Gzip, Compression::Zstd] {
            let mut outs = vec![];
            for chunk in [512usize, 8192, 100_000, 262_144, 1 << 20] {
                let mut w = Compressor::new(c, Vec::new()).unwrap();
                for part in data.chunks(chunk) {
                    w.write_all(part).unwrap();
                }
                outs.push(w.finish().unwrap());
            }
            for (i, o) in outs.iter().enumerate() {
                assert!(o == &outs[0], "{c:?} chunking {i} differs");
            }
        }
    }
}

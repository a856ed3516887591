//! Content digests (`sha256:<hex>`) and readers/writers that hash what passes through.

use sha2::{Digest as _, Sha256};
use std::fmt;
use std::io::{self, Read, Write};
use std::str::FromStr;

/// A sha256 content digest. Only sha256 is produced; other algorithms are refused on parse
/// with a clear error, as berth never stores content it cannot verify.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    hex: String,
}

#[derive(Debug, thiserror::Error)]
#[error("invalid digest {input:?}: {why} (expected sha256:<64 lowercase hex characters>)")]
pub struct DigestParseError {
    input: String,
    why: &'static str,
}

impl Digest {
    pub fn from_hex(hex: &str) -> Result<Self, DigestParseError> {
        if hex.len() != 64 {
            return Err(DigestParseError {
                input: hex.into(),
                why: "wrong length",
            });
        }
        if !hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(DigestParseError {
                input: hex.into(),
                why: "not lowercase hex",
            });
        }
        Ok(Digest {
            hex: hex.to_string(),
        })
    }

    pub fn of(data: &[u8]) -> Self {
        Digest {
            hex: hex::encode(Sha256::digest(data)),
        }
    }

    pub fn hex(&self) -> &str {
        &self.hex
    }

    /// First 12 hex characters, as `docker images` shows ids.
    pub fn short(&self) -> &str {
        &self.hex[..12]
    }
}

impl FromStr for Digest {
    type Err = DigestParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.split_once(':') {
            Some(("sha256", hex)) => Digest::from_hex(hex),
            Some(_) => Err(DigestParseError {
                input: s.into(),
                why: "unsupported algorithm",
            }),
            None => Err(DigestParseError {
                input: s.into(),
                why: "missing algorithm prefix",
            }),
        }
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex)
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Running sha256 plus byte count.
#[derive(Default, Clone)]
pub struct Hasher {
    inner: Sha256,
    len: u64,
}

impl Hasher {
    pub fn update(&mut self, data: &[u8]) {
        self.inner.update(data);
        self.len += data.len() as u64;
    }
    pub fn len(&self) -> u64 {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    pub fn finish(self) -> (Digest, u64) {
        (
            Digest {
                hex: hex::encode(self.inner.finalize()),
            },
            self.len,
        )
    }
}

/// A reader that hashes every byte read through it.
pub struct HashingReader<R> {
    inner: R,
    hasher: Hasher,
}

impl<R: Read> HashingReader<R> {
    pub fn new(inner: R) -> Self {
        HashingReader {
            inner,
            hasher: Hasher::default(),
        }
    }
    /// Reads the rest of the stream (so the digest covers all of it) and returns it.
    pub fn finish(mut self) -> io::Result<(Digest, u64)> {
        io::copy(&mut self, &mut io::sink())?;
        Ok(self.hasher.finish())
    }
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.inner
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// A writer that hashes every byte written through it.
pub struct HashingWriter<W> {
    inner: W,
    hasher: Hasher,
}

impl<W: Write> HashingWriter<W> {
    pub fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            hasher: Hasher::default(),
        }
    }
    pub fn finish(self) -> (W, Digest, u64) {
        let (d, n) = self.hasher.finish();
        (self.inner, d, n)
    }
    pub fn get_ref(&self) -> &W {
        &self.inner
    }
    /// Continues the hash of another writer (for a file appended to).
    pub fn set_hasher_from<X>(&mut self, other: &HashingWriter<X>) {
        self.hasher = other.hasher.clone();
    }
    /// Writes `buf` with `write` (instead of the inner writer's `write_all`), hashing it.
    pub fn write_all_with(
        &mut self,
        buf: &[u8],
        write: impl FnOnce(&mut W, &[u8]) -> io::Result<()>,
    ) -> io::Result<()> {
        write(&mut self.inner, buf)?;
        self.hasher.update(buf);
        Ok(())
    }
    /// How many bytes were written so far.
    pub fn current_len(&self) -> u64 {
        self.hasher.len()
    }
    /// The digest and length of what was written so far (the writer goes on).
    pub fn current(&self) -> (Digest, u64) {
        self.hasher.clone().finish()
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_print() {
        let d = Digest::of(b"");
        assert_eq!(
            d.to_string(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(d.to_string().parse::<Digest>().unwrap(), d);
        assert!("sha512:abcd".parse::<Digest>().is_err());
        assert!("sha256:ABCD".parse::<Digest>().is_err());
        assert!("e3b0".parse::<Digest>().is_err());
    }

    #[test]
    fn hashing_reader_covers_all() {
        let mut r = HashingReader::new(&b"hello world"[..]);
        let mut buf = [0u8; 5];
        r.read_exact(&mut buf).unwrap();
        let (d, n) = r.finish().unwrap();
        assert_eq!(n, 11);
        assert_eq!(d, Digest::of(b"hello world"));
    }
}

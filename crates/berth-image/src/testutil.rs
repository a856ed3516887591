//! Test helpers shared with other crates' tests (feature `testutil`).

/// Builds a tar with raw names (the tar crate's safe setters refuse hostile ones).
pub struct RawTar(Vec<u8>);

impl Default for RawTar {
    fn default() -> Self {
        Self::new()
    }
}

impl RawTar {
    pub fn new() -> Self {
        RawTar(Vec::new())
    }
    fn push(mut self, name: &str, ty: tar::EntryType, link: &str, data: &[u8]) -> Self {
        let mut h = tar::Header::new_gnu();
        {
            let raw = h.as_old_mut();
            raw.name[..name.len()].copy_from_slice(name.as_bytes());
            raw.linkname[..link.len()].copy_from_slice(link.as_bytes());
        }
        h.set_entry_type(ty);
        h.set_size(data.len() as u64);
        h.set_mode(if ty == tar::EntryType::Directory {
            0o755
        } else {
            0o644
        });
        h.set_mtime(1_700_000_000);
        h.set_cksum();
        self.0.extend_from_slice(h.as_bytes());
        self.0.extend_from_slice(data);
        let pad = (512 - data.len() % 512) % 512;
        self.0.extend(std::iter::repeat_n(0u8, pad));
        self
    }
    pub fn file(self, name: &str, data: &[u8]) -> Self {
        self.push(name, tar::EntryType::Regular, "", data)
    }
    pub fn dir(self, name: &str) -> Self {
        self.push(name, tar::EntryType::Directory, "", b"")
    }
    pub fn symlink(self, name: &str, target: &str) -> Self {
        self.push(name, tar::EntryType::Symlink, target, b"")
    }
    pub fn hardlink(self, name: &str, target: &str) -> Self {
        self.push(name, tar::EntryType::Link, target, b"")
    }
    pub fn chardev(self, name: &str) -> Self {
        self.push(name, tar::EntryType::Char, "", b"")
    }
    pub fn finish(mut self) -> Vec<u8> {
        self.0.extend(std::iter::repeat_n(0u8, 1024));
        self.0
    }
}

//! The build context: a directory read through its `.dockerignore`. COPY/ADD sources are
//! matched here, and hashed by content (type, mode, bytes or link target; never mtime or
//! owner), so a touched but unchanged file keeps the cache.

use crate::{Error, Result};
use berth_dockerfile::dockerignore::{clean_path, IgnoreFile};
use berth_dockerfile::glob::Glob;
use sha2::{Digest as _, Sha256};
use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

pub struct Context {
    pub dir: PathBuf,
    pub ignore: IgnoreFile,
    /// The ignore file used (for messages).
    pub ignore_path: Option<PathBuf>,
    hashes: Mutex<BTreeMap<PathBuf, String>>,
}

/// One file or directory picked by a COPY source.
#[derive(Debug, Clone)]
pub struct Picked {
    /// Host path.
    pub host: PathBuf,
    /// Path relative to the source's root (what lands under the destination);
    /// empty for the source itself.
    pub rel: PathBuf,
    pub meta: std::fs::Metadata,
}

/// The entries one source pattern selected.
#[derive(Debug, Clone)]
pub struct Selection {
    /// Each matched top-level path with its descendants (for directories).
    pub roots: Vec<(PathBuf, Vec<Picked>)>,
}

pub fn has_wildcard(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

impl Context {
    pub fn new(dir: PathBuf, ignore: IgnoreFile, ignore_path: Option<PathBuf>) -> Context {
        Context {
            dir,
            ignore,
            ignore_path,
            hashes: Mutex::new(BTreeMap::new()),
        }
    }

    fn excluded(&self, rel: &str) -> bool {
        self.ignore.is_excluded(rel)
    }

    /// Explains an excluded path: which ignore file line excluded it.
    fn excluded_message(&self, src: &str) -> Option<String> {
        let v = self.ignore.check(src);
        if !v.excluded {
            return None;
        }
        let file = self
            .ignore_path
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| ".dockerignore".into());
        Some(format!(
            "{src:?} exists in the build context but is excluded by {file}:{} ({:?}); remove that line or add an exception (!{src})",
            v.line.unwrap_or(0),
            v.pattern.unwrap_or_default()
        ))
    }

    /// Matches one COPY/ADD source (a path or a pattern relative to the context).
    pub fn select(&self, src: &str, exclude: &IgnoreFile) -> Result<Selection> {
        let cleaned = clean_path(src.trim_start_matches('/'));
        let wildcard = has_wildcard(&cleaned);
        let mut roots = Vec::new();
        if !wildcard {
            let host = if cleaned == "." {
                self.dir.clone()
            } else {
                self.dir.join(&cleaned)
            };
            if host.symlink_metadata().is_err() {
                return Err(Error::Input(format!(
                    "{src:?} not found in the build context {}",
                    self.dir.display()
                )));
            }
            if cleaned != "." {
                if let Some(m) = self.excluded_message(&cleaned) {
                    return Err(Error::Input(m));
                }
            }
            let picked = self.walk(&host, &cleaned, exclude)?;
            roots.push((PathBuf::from(&cleaned), picked));
        } else {
            let glob = Glob::new(&cleaned, true, false)
                .map_err(|e| Error::Input(format!("source pattern {src:?}: {e}")))?;
            let depth = Path::new(&cleaned).components().count();
            let mut matched_but_excluded = None;
            for e in walkdir::WalkDir::new(&self.dir)
                .min_depth(depth)
                .max_depth(depth)
                .sort_by_file_name()
            {
                let e = e.map_err(|e| Error::Input(format!("read the build context: {e}")))?;
                let rel = e
                    .path()
                    .strip_prefix(&self.dir)
                    .expect("inside")
                    .to_string_lossy()
                    .into_owned();
                if !glob.matches(&rel) {
                    continue;
                }
                if self.excluded(&rel) {
                    matched_but_excluded.get_or_insert(rel);
                    continue;
                }
                if exclude.is_excluded(&rel) {
                    continue;
                }
                let picked = self.walk(e.path(), &rel, exclude)?;
                roots.push((PathBuf::from(rel), picked));
            }
            if roots.is_empty() {
                if let Some(rel) = matched_but_excluded {
                    return Err(Error::Input(
                        self.excluded_message(&rel)
                            .unwrap_or_else(|| format!("{src:?}: every match is excluded")),
                    ));
                }
                return Err(Error::Input(format!(
                    "no file in the build context matches {src:?}"
                )));
            }
        }
        Ok(Selection { roots })
    }

    /// The path itself and, for a directory, everything below it that is not ignored.
    fn walk(&self, host: &Path, rel_root: &str, exclude: &IgnoreFile) -> Result<Vec<Picked>> {
        let mut out = Vec::new();
        let can_prune = !self.ignore.has_exceptions() && !exclude.has_exceptions();
        let mut it = walkdir::WalkDir::new(host).sort_by_file_name().into_iter();
        while let Some(e) = it.next() {
            let e = e.map_err(|e| Error::Input(format!("read the build context: {e}")))?;
            let rel = e.path().strip_prefix(host).expect("inside").to_path_buf();
            if e.depth() > 0 {
                let ctx_rel = if rel_root == "." {
                    rel.to_string_lossy().into_owned()
                } else {
                    format!("{rel_root}/{}", rel.display())
                };
                let excl = self.excluded(&ctx_rel) || exclude.is_excluded(&ctx_rel);
                if excl {
                    if e.file_type().is_dir() && can_prune {
                        it.skip_current_dir();
                    }
                    continue;
                }
            }
            let meta = e
                .path()
                .symlink_metadata()
                .map_err(|err| Error::Input(format!("{}: {err}", e.path().display())))?;
            out.push(Picked {
                host: e.path().to_path_buf(),
                rel,
                meta,
            });
        }
        Ok(out)
    }

    /// A content hash of one picked entry.
    pub fn entry_hash(&self, p: &Picked) -> Result<String> {
        hash_entry(p, Some(&self.hashes))
    }
}

/// Content hash of an entry: type, permission bits, and bytes or link target.
pub fn hash_entry(p: &Picked, memo: Option<&Mutex<BTreeMap<PathBuf, String>>>) -> Result<String> {
    let ft = p.meta.file_type();
    let mode = p.meta.permissions().mode() & 0o7777;
    if ft.is_dir() {
        return Ok(format!("dir {mode:o}"));
    }
    if ft.is_symlink() {
        let t = std::fs::read_link(&p.host)
            .map_err(|e| Error::Input(format!("{}: {e}", p.host.display())))?;
        return Ok(format!("link {}", t.display()));
    }
    if !ft.is_file() {
        return Ok(format!("special {mode:o} {}", p.meta.rdev()));
    }
    if let Some(m) = memo {
        if let Some(h) = m.lock().expect("lock").get(&p.host) {
            return Ok(format!("file {mode:o} {h}"));
        }
    }
    let mut f = std::fs::File::open(&p.host)
        .map_err(|e| Error::Input(format!("read {}: {e}", p.host.display())))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = f
            .read(&mut buf)
            .map_err(|e| Error::Input(format!("read {}: {e}", p.host.display())))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    let hex = hex::encode(h.finalize());
    if let Some(m) = memo {
        m.lock().expect("lock").insert(p.host.clone(), hex.clone());
    }
    Ok(format!("file {mode:o} {hex}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(dir: &Path, ignore: &str) -> Context {
        Context::new(dir.to_path_buf(), IgnoreFile::parse(ignore).unwrap(), None)
    }

    #[test]
    fn hashes_ignore_mtime_and_follow_content() {
        let t = tempfile::tempdir().unwrap();
        std::fs::write(t.path().join("a.txt"), "one").unwrap();
        let hash = |c: &Context| {
            let sel = c.select("a.txt", &IgnoreFile::default()).unwrap();
            c.entry_hash(&sel.roots[0].1[0]).unwrap()
        };
        let h1 = hash(&ctx(t.path(), ""));
        let f = std::fs::File::options()
            .write(true)
            .open(t.path().join("a.txt"))
            .unwrap();
        f.set_modified(std::time::SystemTime::UNIX_EPOCH).unwrap();
        assert_eq!(hash(&ctx(t.path(), "")), h1, "mtime does not count");
        std::fs::write(t.path().join("a.txt"), "two").unwrap();
        assert_ne!(hash(&ctx(t.path(), "")), h1);
    }

    #[test]
    fn ignored_sources_say_which_line_excluded_them() {
        let t = tempfile::tempdir().unwrap();
        std::fs::write(t.path().join("secret.env"), "x").unwrap();
        std::fs::create_dir(t.path().join("src")).unwrap();
        std::fs::write(t.path().join("src/keep.py"), "x").unwrap();
        std::fs::write(t.path().join("src/drop.log"), "x").unwrap();
        let c = ctx(t.path(), "# comment\n*.env\n**/*.log\n");
        let e = c
            .select("secret.env", &IgnoreFile::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains(".dockerignore:2"), "{e}");
        let sel = c.select("src", &IgnoreFile::default()).unwrap();
        let names: Vec<String> = sel.roots[0]
            .1
            .iter()
            .map(|p| p.rel.display().to_string())
            .collect();
        assert_eq!(names, vec!["", "keep.py"]);
        let e = c
            .select("nope/*.txt", &IgnoreFile::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("no file in the build context matches"), "{e}");
    }
}

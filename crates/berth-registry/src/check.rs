//! `berth registry check`: the served root is consistent when every blob file matches its
//! name, and every tag, manifest, manifest reference and blob link points at content that
//! is there. Leftovers (unreferenced blobs, upload files without a session) are reported
//! apart: they are garbage for `berth registry gc`, not damage.

use crate::error::{IoContext, Result};
use crate::server::meta;
use berth_image::digest::{Digest, Hasher};
use std::collections::HashSet;
use std::io::Read;
use std::path::Path;

#[derive(Debug, Default)]
pub struct CheckReport {
    pub blobs_checked: usize,
    pub manifests_checked: usize,
    pub problems: Vec<String>,
    pub garbage: Vec<String>,
}

impl CheckReport {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

fn hash_file(p: &Path) -> Result<Digest> {
    let mut f = std::fs::File::open(p).ctx("open blob", p)?;
    let mut h = Hasher::default();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).ctx("read blob", p)?;
        if n == 0 {
            return Ok(h.finish().0);
        }
        h.update(&buf[..n]);
    }
}

pub fn check(root: &Path) -> Result<CheckReport> {
    if !root.join("registry.db").exists() {
        return Err(crate::Error::invalid(format!(
            "{} is not a berth registry root (no registry.db)",
            root.display()
        )));
    }
    let conn = meta::open(root)?;
    let mut r = CheckReport::default();
    let dir = root.join("blobs/sha256");
    let mut good: HashSet<String> = HashSet::new();
    for e in std::fs::read_dir(&dir).ctx("list", &dir)? {
        let e = e.ctx("list", &dir)?;
        let name = e.file_name().to_string_lossy().into_owned();
        let Ok(d) = Digest::from_hex(&name) else {
            r.problems
                .push(format!("{}: not a blob name", e.path().display()));
            continue;
        };
        r.blobs_checked += 1;
        let got = hash_file(&e.path())?;
        if got == d {
            good.insert(d.to_string());
        } else {
            r.problems.push(format!(
                "blob {d}: content does not match its digest ({got})"
            ));
        }
    }
    let rows = |q: &str| -> Result<Vec<(String, String, String)>> {
        let mut st = conn.prepare(q)?;
        let v = st
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(v)
    };
    let manifests = rows("SELECT repo, digest, media_type FROM manifests")?;
    let known: HashSet<(String, String)> = manifests
        .iter()
        .map(|(repo, d, _)| (repo.clone(), d.clone()))
        .collect();
    for (repo, d, _) in &manifests {
        r.manifests_checked += 1;
        if !good.contains(d) {
            r.problems.push(format!(
                "manifest {repo}@{d}: its content is missing or corrupt"
            ));
        }
    }
    for (repo, tag, d) in rows("SELECT repo, tag, digest FROM tags")? {
        if !known.contains(&(repo.clone(), d.clone())) {
            r.problems
                .push(format!("tag {repo}:{tag} points at unknown manifest {d}"));
        }
    }
    for (repo, m, child) in rows("SELECT repo, manifest, child FROM manifest_refs")? {
        if !good.contains(&child) && !known.contains(&(repo.clone(), child.clone())) {
            r.problems.push(format!(
                "manifest {repo}@{m} references {child}, which is missing"
            ));
        }
    }
    for (repo, d, _) in rows("SELECT repo, digest, '' FROM blob_links")? {
        if !good.contains(&d) {
            r.problems
                .push(format!("blob {d} linked in {repo} is missing or corrupt"));
        }
    }
    let referenced: HashSet<String> = rows(
        "SELECT digest, '', '' FROM blob_links UNION SELECT digest, '', '' FROM manifests UNION SELECT child, '', '' FROM manifest_refs",
    )?
    .into_iter()
    .map(|(d, _, _)| d)
    .collect();
    let orphans = good.iter().filter(|d| !referenced.contains(*d)).count();
    if orphans > 0 {
        r.garbage.push(format!("{orphans} unreferenced blob(s)"));
    }
    let sessions: HashSet<String> = rows("SELECT id, '', '' FROM uploads")?
        .into_iter()
        .map(|(id, _, _)| id)
        .collect();
    let up = root.join("uploads");
    let stray = std::fs::read_dir(&up)
        .ctx("list", &up)?
        .flatten()
        .filter(|e| !sessions.contains(&e.file_name().to_string_lossy().into_owned()))
        .count();
    if stray > 0 {
        r.garbage
            .push(format!("{stray} upload file(s) without a session"));
    }
    let integrity: String = conn.query_row("PRAGMA quick_check", [], |row| row.get(0))?;
    if integrity != "ok" {
        r.problems.push(format!("database: {integrity}"));
    }
    Ok(r)
}

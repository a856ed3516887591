//! Garbage collection of a served registry, safe while `berth registry serve` runs.
//!
//! Mark: every manifest row (and, with `delete_untagged`, only those a tag, an index or a
//! subject reaches), the blobs manifests reference, and blob links younger than the grace
//! period (uploads whose manifest has not arrived yet). Sweep: unreachable links and blob
//! files, inside one IMMEDIATE transaction, so the server (which links and references
//! blobs in IMMEDIATE transactions after checking the file exists) never sees a blob
//! vanish under a reference it just made. Stale upload sessions go too.

use crate::error::{IoContext, Result};
use crate::server::meta;
use berth_image::digest::Digest;
use rusqlite::params;
use std::collections::HashSet;
use std::path::Path;
use std::time::{Duration, SystemTime};

#[derive(Debug, Clone)]
pub struct GcOptions {
    pub delete_untagged: bool,
    /// Unreferenced content younger than this is kept.
    pub grace: Duration,
    pub dry_run: bool,
}

#[derive(Debug, Default)]
pub struct GcReport {
    pub manifests_deleted: usize,
    pub links_deleted: usize,
    pub blobs_deleted: usize,
    pub bytes_freed: u64,
    pub uploads_deleted: usize,
}

/// Upload sessions idle this long are abandoned.
const STALE_UPLOAD: Duration = Duration::from_secs(24 * 3600);

pub fn collect(root: &Path, opts: &GcOptions) -> Result<GcReport> {
    if !root.join("registry.db").exists() {
        return Err(crate::Error::invalid(format!(
            "{} is not a berth registry root (no registry.db)",
            root.display()
        )));
    }
    let mut conn = meta::open(root)?;
    let now = meta::now();
    let cutoff = now - opts.grace.as_secs() as i64;
    let mut r = GcReport::default();
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;

    if opts.delete_untagged {
        // Repeat: deleting an untagged index can leave its children unreachable.
        loop {
            let doomed: Vec<(String, String)> = {
                let mut st = tx.prepare(
                    "SELECT m.repo, m.digest FROM manifests m
                     WHERE m.created <= ?1
                       AND NOT EXISTS (SELECT 1 FROM tags t WHERE t.repo = m.repo AND t.digest = m.digest)
                       AND NOT EXISTS (SELECT 1 FROM manifest_refs c WHERE c.repo = m.repo AND c.child = m.digest)
                       AND (m.subject IS NULL OR NOT EXISTS (SELECT 1 FROM manifests s WHERE s.repo = m.repo AND s.digest = m.subject))",
                )?;
                let v = st
                    .query_map([cutoff], |row| Ok((row.get(0)?, row.get(1)?)))?
                    .collect::<rusqlite::Result<_>>()?;
                v
            };
            if doomed.is_empty() {
                break;
            }
            for (repo, d) in &doomed {
                tx.execute(
                    "DELETE FROM manifest_refs WHERE repo = ?1 AND manifest = ?2",
                    params![repo, d],
                )?;
                tx.execute(
                    "DELETE FROM manifests WHERE repo = ?1 AND digest = ?2",
                    params![repo, d],
                )?;
            }
            r.manifests_deleted += doomed.len();
        }
    }

    // Links no manifest of their repository references, older than the grace period.
    r.links_deleted = tx.execute(
        "DELETE FROM blob_links WHERE created <= ?1 AND NOT EXISTS (
            SELECT 1 FROM manifest_refs c WHERE c.repo = blob_links.repo AND c.child = blob_links.digest)",
        [cutoff],
    )?;

    let mut keep: HashSet<String> = HashSet::new();
    for q in [
        "SELECT digest FROM blob_links",
        "SELECT digest FROM manifests",
        "SELECT child FROM manifest_refs",
    ] {
        let mut st = tx.prepare(q)?;
        for d in st.query_map([], |row| row.get::<_, String>(0))? {
            keep.insert(d?);
        }
    }
    let dir = root.join("blobs/sha256");
    let grace_start = SystemTime::now()
        .checked_sub(opts.grace)
        .unwrap_or(SystemTime::UNIX_EPOCH);
    for e in std::fs::read_dir(&dir).ctx("list", &dir)? {
        let e = e.ctx("list", &dir)?;
        let name = e.file_name().to_string_lossy().into_owned();
        let Ok(d) = Digest::from_hex(&name) else {
            continue;
        };
        if keep.contains(&d.to_string()) {
            continue;
        }
        let md = e.metadata().ctx("stat", e.path())?;
        if md.modified().map(|m| m > grace_start).unwrap_or(true) && !opts.grace.is_zero() {
            continue;
        }
        r.blobs_deleted += 1;
        r.bytes_freed += md.len();
        if !opts.dry_run {
            std::fs::remove_file(e.path()).ctx("remove blob", e.path())?;
        }
    }

    let stale = now - opts.grace.max(STALE_UPLOAD).as_secs() as i64;
    let old: Vec<String> = {
        let mut st = tx.prepare("SELECT id FROM uploads WHERE updated <= ?1")?;
        let v = st
            .query_map([stale], |row| row.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        v
    };
    for id in &old {
        tx.execute("DELETE FROM uploads WHERE id = ?1", [id])?;
        if !opts.dry_run {
            let _ = std::fs::remove_file(root.join("uploads").join(id));
        }
    }
    r.uploads_deleted = old.len();
    if opts.dry_run {
        tx.rollback()?;
    } else {
        tx.commit()?;
    }
    Ok(r)
}

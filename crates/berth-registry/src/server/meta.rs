//! The served registry's metadata: one SQLite file, `registry.db`, beside its blobs.
//!
//! ```text
//! tags(repo, tag) ──► manifests(repo, digest) ──► manifest_refs(repo, manifest, child)
//!                                                     child = config/layer blob or child manifest
//! blob_links(repo, digest)   blobs a repository may serve (uploaded, mounted or referenced)
//! uploads(id) ──► uploads/<id> (data appended by PATCH)
//! ```
//! Blob files live in `blobs/sha256/<hex>`, written to `uploads/` first and renamed only
//! after their digest is verified. A blob file is referenced by a link or a manifest row;
//! every change that adds a reference runs in an IMMEDIATE transaction that first checks
//! the file exists, and GC deletes files only inside its own IMMEDIATE transaction, so the
//! two never race.

use crate::error::{IoContext, Result};
use rusqlite::Connection;
use std::path::Path;
use std::time::Duration;

const MIGRATIONS: &[&str] = &[r#"
CREATE TABLE blob_links (
    repo TEXT NOT NULL,
    digest TEXT NOT NULL,
    created INTEGER NOT NULL,
    PRIMARY KEY (repo, digest)
);
CREATE TABLE manifests (
    repo TEXT NOT NULL,
    digest TEXT NOT NULL,
    media_type TEXT NOT NULL,
    size INTEGER NOT NULL,
    subject TEXT,                       -- digest of the manifest this one refers to
    artifact_type TEXT,
    annotations TEXT,                   -- JSON object, for the referrers API
    created INTEGER NOT NULL,
    PRIMARY KEY (repo, digest)
);
CREATE INDEX manifests_subject ON manifests(repo, subject);
CREATE TABLE manifest_refs (
    repo TEXT NOT NULL,
    manifest TEXT NOT NULL,
    child TEXT NOT NULL,
    PRIMARY KEY (repo, manifest, child)
);
CREATE INDEX manifest_refs_child ON manifest_refs(repo, child);
CREATE TABLE tags (
    repo TEXT NOT NULL,
    tag TEXT NOT NULL,
    digest TEXT NOT NULL,
    PRIMARY KEY (repo, tag)
);
CREATE INDEX tags_digest ON tags(repo, digest);
CREATE TABLE uploads (
    id TEXT PRIMARY KEY,
    repo TEXT NOT NULL,
    started INTEGER NOT NULL,
    updated INTEGER NOT NULL
);
"#];

/// Opens (creating) the served root: directories and the database.
pub fn open(root: &Path) -> Result<Connection> {
    for d in ["blobs/sha256", "uploads"] {
        let p = root.join(d);
        std::fs::create_dir_all(&p).ctx("create directory", &p)?;
    }
    let mut conn = Connection::open(root.join("registry.db"))?;
    conn.busy_timeout(Duration::from_secs(60))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    let current: usize = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if current < MIGRATIONS.len() {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let current: usize = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
        for (i, m) in MIGRATIONS.iter().enumerate().skip(current) {
            tx.execute_batch(m)?;
            tx.pragma_update(None, "user_version", i + 1)?;
        }
        tx.commit()?;
    }
    Ok(conn)
}

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

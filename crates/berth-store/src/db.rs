//! The metadata database: one SQLite file in WAL mode that alone owns names and references.
//!
//! ```text
//! tags(repo, tag) ──► images(id = config digest) ──► manifest blob, config blob
//!                           │
//!                           └─► layers(image, idx) ──► layer blob (digest), diff_id
//! snapshots(chain_id) ──► parent snapshot         (unpacked layers, keyed by chain id)
//! containers(id) ──► images(id)                   (an image in use is not removed)
//! container_volumes ──► volumes(name)             (a volume in use is not removed)
//! endpoints(network, container) ──► networks(id)  (a network in use is not removed)
//! ```
//! The schema version lives in `PRAGMA user_version`; `MIGRATIONS[i]` moves it from i to i+1.
//! Every multi-step change is one transaction, written after the files it references.

use crate::error::Result;
use rusqlite::Connection;
use std::path::Path;
use std::time::Duration;

const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE images (
    id TEXT PRIMARY KEY,                -- config digest: the image id
    manifest TEXT NOT NULL,             -- manifest digest
    manifest_media_type TEXT NOT NULL,
    created INTEGER,                    -- config "created", unix seconds
    added INTEGER NOT NULL,             -- when this store got it
    last_used INTEGER NOT NULL,         -- last run/build/save/push (for retention)
    size INTEGER NOT NULL,              -- sum of layer content sizes
    architecture TEXT NOT NULL,
    os TEXT NOT NULL
);
CREATE TABLE layers (
    image TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    idx INTEGER NOT NULL,
    digest TEXT NOT NULL,               -- blob digest (compressed as stored)
    media_type TEXT NOT NULL,
    size INTEGER NOT NULL,              -- blob size
    diff_id TEXT NOT NULL,              -- digest of the uncompressed tar
    tar_size INTEGER NOT NULL,          -- length of the uncompressed tar
    content_size INTEGER NOT NULL,      -- sum of file sizes in it
    PRIMARY KEY (image, idx)
);
CREATE INDEX layers_digest ON layers(digest);
CREATE TABLE tags (
    repo TEXT NOT NULL,                 -- full name: docker.io/library/busybox
    tag TEXT NOT NULL,
    image TEXT NOT NULL REFERENCES images(id),
    PRIMARY KEY (repo, tag)
);
CREATE INDEX tags_image ON tags(image);
CREATE TABLE repo_digests (
    repo TEXT NOT NULL,
    digest TEXT NOT NULL,
    image TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    PRIMARY KEY (repo, digest)
);
CREATE TABLE snapshots (
    chain_id TEXT PRIMARY KEY,
    parent TEXT,                        -- chain id of the snapshot below, NULL at the bottom
    diff_id TEXT NOT NULL,
    size INTEGER NOT NULL,
    created INTEGER NOT NULL
);
CREATE TABLE containers (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    image TEXT NOT NULL REFERENCES images(id),
    created INTEGER NOT NULL,
    state TEXT NOT NULL DEFAULT '{}'
);
"#,
    r#"
CREATE TABLE volumes (
    name TEXT PRIMARY KEY,
    created INTEGER NOT NULL,
    anonymous INTEGER NOT NULL DEFAULT 0,
    labels TEXT NOT NULL DEFAULT '{}',
    seeded INTEGER NOT NULL DEFAULT 0   -- copied from the image on first mount (Docker's rule)
);
CREATE TABLE container_volumes (
    container TEXT NOT NULL REFERENCES containers(id) ON DELETE CASCADE,
    volume TEXT NOT NULL REFERENCES volumes(name),
    PRIMARY KEY (container, volume)
);
"#,
    // Networks (berth-net): one row per network, one per container attachment. The
    // UNIQUE (network, address) constraint is IPAM's guarantee: an address is never
    // handed out twice, whatever number of berth processes allocate at once.
    r#"
CREATE TABLE networks (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    bridge TEXT NOT NULL UNIQUE,        -- the host's bridge interface
    subnet TEXT NOT NULL,               -- 10.88.0.0/24
    gateway TEXT NOT NULL,              -- the bridge's address
    internal INTEGER NOT NULL DEFAULT 0,
    labels TEXT NOT NULL DEFAULT '{}',
    created INTEGER NOT NULL
);
CREATE TABLE endpoints (
    network TEXT NOT NULL REFERENCES networks(id),
    container TEXT NOT NULL,            -- no FK: the row outlives a crashed removal
    address TEXT NOT NULL,
    ifname TEXT NOT NULL,               -- inside the container: eth0, eth1...
    veth TEXT NOT NULL,                 -- the host's end
    names TEXT NOT NULL DEFAULT '[]',   -- container name and aliases (DNS)
    ports TEXT NOT NULL DEFAULT '[]',   -- published ports, as resolved
    PRIMARY KEY (network, container),
    UNIQUE (network, address)
);
CREATE INDEX endpoints_container ON endpoints(container);
"#,
    // The build cache (berth-build).
    r#"
CREATE TABLE build_cache (
    key TEXT PRIMARY KEY,               -- content-based cache key of one build step
    state TEXT NOT NULL,                -- JSON: the stage's layers and config after the step
    size INTEGER NOT NULL DEFAULT 0,    -- bytes of the step's own layer (0: config only)
    created INTEGER NOT NULL,
    last_used INTEGER NOT NULL
);
CREATE TABLE build_steps (
    position TEXT PRIMARY KEY,          -- Dockerfile + stage + step: where a step sits
    key TEXT NOT NULL,                  -- its key in the latest build
    inputs TEXT NOT NULL,               -- JSON: what the key was made of (explains misses)
    updated INTEGER NOT NULL
);
"#,
    // Multi-platform images (berth-registry): an image index kept under a tag. The index
    // bytes are a blob; its platform images are ordinary images (found by manifest digest).
    r#"
CREATE TABLE index_tags (
    repo TEXT NOT NULL,
    tag TEXT NOT NULL,
    digest TEXT NOT NULL,               -- the index blob
    media_type TEXT NOT NULL,
    PRIMARY KEY (repo, tag)
);
"#,
    // A container's own DNS servers (`--dns`, compose `dns:`): the network's resolver
    // forwards that container's other queries to them instead of the host's.
    r#"
ALTER TABLE endpoints ADD COLUMN dns TEXT NOT NULL DEFAULT '[]';
"#,
];

pub(crate) fn open(path: &Path) -> Result<Connection> {
    let mut conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(60))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // Short-lived CLI processes: do not checkpoint (and fsync) on every close. But every
    // process that opens the database first (no other connection open) rebuilds the WAL
    // index by reading the whole WAL: at SQLite's default of 1000 pages (~4 MB) that was
    // ~25 ms of each `berth run`. Checkpoint every 64 pages and trim the file to 1 MiB.
    conn.pragma_update(None, "wal_autocheckpoint", 64)?;
    conn.pragma_update(None, "journal_size_limit", 1 << 20)?;
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE,
        true,
    )?;
    migrate(&mut conn)?;
    Ok(conn)
}

fn migrate(conn: &mut Connection) -> Result<()> {
    let current: usize = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if current >= MIGRATIONS.len() {
        return Ok(());
    }
    // IMMEDIATE: two processes opening a new store at once migrate one after the other.
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let current: usize = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
    for (i, m) in MIGRATIONS.iter().enumerate().skip(current) {
        tx.execute_batch(m)?;
        tx.pragma_update(None, "user_version", i + 1)?;
    }
    tx.commit()?;
    Ok(())
}

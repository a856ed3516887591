//! berth-store owns everything berth keeps on disk below its root: the content-addressed
//! blob store (`blobs/sha256/<hex>`, written through `ingest/`), unpacked layer snapshots
//! keyed by chain id (`snapshots/<hex>/fs`), and the SQLite metadata database (`berth.db`)
//! that alone holds names and references. On top of those it implements the image
//! operations that need nothing but the store: import, load/save archives, bootstrap,
//! tagging, removal, retention (prune), garbage collection and consistency checks.
//! It knows nothing of containers beyond "an image in use may not be removed".

pub mod archive;
mod blobs;
pub mod bootstrap;
pub mod build_cache;
pub mod check;
pub mod containers;
mod db;
mod error;
pub mod gc;
pub mod images;
pub mod import;
mod indexes;
mod layers;
mod lock;
pub mod networks;
pub mod progress;
mod repo_digests;
pub mod snapshots;
mod util;

pub use blobs::{BlobWriter, Blobs, DIRECT_ALIGN};
pub use error::{Error, Result};
pub use images::{ImageRecord, LayerRecord, NewImage};
pub use layers::chain_ids;
pub use lock::Lease;
pub use progress::{Progress, Quiet};

use error::IoContext;
use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

/// Default root, as `/var/lib/docker` is Docker's.
pub const DEFAULT_ROOT: &str = "/var/lib/berth";

pub struct Store {
    root: PathBuf,
    pub blobs: Blobs,
    conn: Mutex<Connection>,
}

impl Store {
    /// Opens (creating if needed) the store at `root`.
    pub fn open(root: impl AsRef<Path>) -> Result<Store> {
        let root = root.as_ref().to_path_buf();
        for d in [
            "blobs/sha256",
            "ingest",
            "snapshots",
            "tmp",
            "containers",
            "volumes",
        ] {
            let p = root.join(d);
            std::fs::create_dir_all(&p).ctx("create directory", &p)?;
        }
        let conn = db::open(&root.join("berth.db"))?;
        Ok(Store {
            blobs: Blobs::new(&root),
            root,
            conn: Mutex::new(conn),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Scratch space on the store's filesystem (renames from here are atomic).
    pub fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    pub(crate) fn db(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes a shared lease: content written while it is held is safe from GC.
    pub fn lease(&self) -> Result<Lease> {
        lock::lease(&self.root.join("gc.lock"))
    }
}

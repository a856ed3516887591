//! The build cache: one record per build step, keyed by a content-based key the build
//! engine computes, holding the stage's state after the step (its layers and image config).
//! Layers a record names are kept by GC like an image's; `builder prune` drops records.
//! Beside it, `build_steps` remembers what each step's key was made of in the latest
//! build, so a later miss can say what changed.

use crate::error::Result;
use crate::images::LayerRecord;
use crate::util::now;
use crate::Store;
use berth_image::digest::Digest;
use rusqlite::{params, OptionalExtension};
use serde::{Deserialize, Serialize};

/// A stage after one build step.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct StepState {
    pub layers: Vec<LayerRecord>,
    /// The image config JSON (berth_image::config::ImageConfig).
    pub config: serde_json::Value,
}

/// What `builder prune` removed.
#[derive(Debug, Default)]
pub struct CachePruneReport {
    pub records: usize,
    pub bytes: u64,
}

impl Store {
    /// The state recorded under `key`, if every blob it names is still stored. A hit
    /// updates the record's last use.
    pub fn cache_get(&self, key: &Digest) -> Result<Option<StepState>> {
        let row: Option<String> = self
            .db()
            .query_row(
                "SELECT state FROM build_cache WHERE key = ?1",
                [key.to_string()],
                |r| r.get(0),
            )
            .optional()?;
        let Some(json) = row else { return Ok(None) };
        let Ok(state) = serde_json::from_str::<StepState>(&json) else {
            return Ok(None);
        };
        if !state.layers.iter().all(|l| self.blobs.exists(&l.digest)) {
            return Ok(None);
        }
        self.db().execute(
            "UPDATE build_cache SET last_used = ?2 WHERE key = ?1",
            params![key.to_string(), now()],
        )?;
        Ok(Some(state))
    }

    /// Records `state` under `key`; `size` is the bytes the step added.
    pub fn cache_put(&self, key: &Digest, state: &StepState, size: u64) -> Result<()> {
        let json = serde_json::to_string(state).expect("serialises");
        let t = now();
        self.db().execute(
            "INSERT OR REPLACE INTO build_cache (key, state, size, created, last_used) VALUES (?1, ?2, ?3, ?4, ?4)",
            params![key.to_string(), json, size as i64, t],
        )?;
        Ok(())
    }

    /// What the step at `position` was made of in the latest build.
    pub fn step_inputs(&self, position: &str) -> Result<Option<(String, String)>> {
        Ok(self
            .db()
            .query_row(
                "SELECT key, inputs FROM build_steps WHERE position = ?1",
                [position],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?)
    }

    pub fn set_step_inputs(&self, position: &str, key: &Digest, inputs: &str) -> Result<()> {
        self.db().execute(
            "INSERT OR REPLACE INTO build_steps (position, key, inputs, updated) VALUES (?1, ?2, ?3, ?4)",
            params![position, key.to_string(), inputs, now()],
        )?;
        Ok(())
    }

    /// The layer lists of every cache record (GC keeps them).
    pub(crate) fn build_cache_layers(&self) -> Result<Vec<Vec<LayerRecord>>> {
        let db = self.db();
        let mut st = db.prepare("SELECT state FROM build_cache")?;
        let rows = st.query_map([], |r| r.get::<_, String>(0))?;
        let mut out = Vec::new();
        for r in rows {
            if let Ok(s) = serde_json::from_str::<StepState>(&r?) {
                out.push(s.layers);
            }
        }
        Ok(out)
    }

    /// Every record: (key, state, size).
    pub fn cache_records(&self) -> Result<Vec<(String, StepState, u64)>> {
        let db = self.db();
        let mut st = db.prepare("SELECT key, state, size FROM build_cache ORDER BY key")?;
        let rows = st.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
            ))
        })?;
        let mut out = Vec::new();
        for r in rows {
            let (k, s, n) = r?;
            if let Ok(state) = serde_json::from_str::<StepState>(&s) {
                out.push((k, state, n as u64));
            }
        }
        Ok(out)
    }

    /// Records and bytes of the build cache.
    pub fn cache_usage(&self) -> Result<(usize, u64)> {
        Ok(self.db().query_row(
            "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM build_cache",
            [],
            |r| Ok((r.get::<_, i64>(0)? as usize, r.get::<_, i64>(1)? as u64)),
        )?)
    }

    /// `berth builder prune`: drops records last used before `older_than` (unix seconds),
    /// or all with `all`; then, with `keep_bytes`, the least recently used ones until
    /// the records' own layers fit. Blobs go with the next GC.
    pub fn cache_prune(
        &self,
        all: bool,
        older_than: Option<i64>,
        keep_bytes: Option<u64>,
    ) -> Result<CachePruneReport> {
        let mut rep = CachePruneReport::default();
        let db = self.db();
        let rows: Vec<(String, u64, i64)> = {
            let mut st =
                db.prepare("SELECT key, size, last_used FROM build_cache ORDER BY last_used")?;
            let it = st.query_map([], |r| {
                Ok((r.get(0)?, r.get::<_, i64>(1)? as u64, r.get(2)?))
            })?;
            it.collect::<rusqlite::Result<_>>()?
        };
        let mut total: u64 = rows.iter().map(|r| r.1).sum();
        for (key, size, last_used) in rows {
            let old = older_than.is_some_and(|t| last_used < t);
            let over = keep_bytes.is_some_and(|k| total > k);
            // No filter: everything goes.
            let drop_it = all || old || over || (keep_bytes.is_none() && older_than.is_none());
            if drop_it {
                db.execute("DELETE FROM build_cache WHERE key = ?1", [&key])?;
                rep.records += 1;
                rep.bytes += size;
                total -= size;
            }
        }
        if keep_bytes.is_none() && older_than.is_none() {
            db.execute("DELETE FROM build_steps", [])?;
        }
        Ok(rep)
    }

    /// Records an unpacked directory as the snapshot of `chain` (the top of `layers`),
    /// moving `dir` into place; if another process got there first, `dir` is removed.
    pub fn adopt_snapshot(
        &self,
        layers: &[LayerRecord],
        dir: &std::path::Path,
    ) -> Result<std::path::PathBuf> {
        use crate::error::IoContext;
        let diffs: Vec<Digest> = layers.iter().map(|l| l.diff_id.clone()).collect();
        let chains = crate::layers::chain_ids(&diffs);
        let (Some(chain), Some(top)) = (chains.last(), layers.last()) else {
            return Err(crate::Error::Invalid("adopt_snapshot: no layers".into()));
        };
        let target = self.snapshot_dir(chain);
        if target.join("fs").is_dir() {
            let _ = std::fs::remove_dir_all(dir);
        } else {
            let tmp = self
                .tmp_dir()
                .join(format!("snap-{}", crate::util::random_name()));
            std::fs::create_dir_all(&tmp).ctx("create", &tmp)?;
            std::fs::rename(dir, tmp.join("fs")).ctx("move the step's files", dir)?;
            if let Err(e) = std::fs::rename(&tmp, &target) {
                let _ = std::fs::remove_dir_all(&tmp);
                if !target.join("fs").is_dir() {
                    return Err(e).ctx("rename snapshot into place", &target);
                }
            }
        }
        let parent = chains.len().checked_sub(2).map(|i| chains[i].to_string());
        self.db().execute(
            "INSERT OR IGNORE INTO snapshots (chain_id, parent, diff_id, size, created) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![chain.to_string(), parent, top.diff_id.to_string(), top.content_size as i64, now()],
        )?;
        Ok(target.join("fs"))
    }
}

//! Unpacked layers, `snapshots/<chain-id hex>/fs`, used as overlay lower directories.
//!
//! A snapshot is unpacked into a private temporary directory and renamed into place, then
//! recorded in the database; a crash leaves at worst an unreferenced directory that GC
//! removes. Two processes unpacking the same snapshot both succeed: the second rename
//! finds the first one's result and discards its own.

use crate::error::{Error, IoContext, Result};
use crate::images::{ImageRecord, LayerRecord};
use crate::layers::{chain_ids, open_plain};
use crate::util::{now, random_name};
use crate::Store;
use berth_image::digest::Digest;
use berth_image::layer::{unpack_layer, DevicePolicy};
use rusqlite::{params, OptionalExtension};
use std::path::PathBuf;

impl Store {
    pub fn snapshot_dir(&self, chain_id: &Digest) -> PathBuf {
        self.root().join("snapshots").join(chain_id.hex())
    }

    /// Makes sure every layer of an image is unpacked; returns the `fs` directories,
    /// bottom layer first.
    pub fn ensure_snapshots(&self, image: &ImageRecord) -> Result<Vec<PathBuf>> {
        self.ensure_layer_snapshots(&image.layers)
    }

    /// Makes sure every layer of a stack is unpacked; returns the `fs` directories,
    /// bottom layer first.
    pub fn ensure_layer_snapshots(&self, layers: &[LayerRecord]) -> Result<Vec<PathBuf>> {
        let _lease = self.lease()?;
        let diff_ids: Vec<Digest> = layers.iter().map(|l| l.diff_id.clone()).collect();
        let chains = chain_ids(&diff_ids);
        let mut out = Vec::new();
        for (i, (layer, chain)) in layers.iter().zip(&chains).enumerate() {
            let dir = self.snapshot_dir(chain);
            let recorded: bool = self
                .db()
                .query_row(
                    "SELECT 1 FROM snapshots WHERE chain_id = ?1",
                    [chain.to_string()],
                    |_| Ok(true),
                )
                .optional()?
                .is_some();
            if !(recorded && dir.join("fs").is_dir()) {
                if !dir.join("fs").is_dir() {
                    let tmp = self.tmp_dir().join(format!("snap-{}", random_name()));
                    std::fs::create_dir_all(tmp.join("fs")).ctx("create", &tmp)?;
                    let res = unpack_layer(
                        open_plain(&self.blobs, &layer.digest)?,
                        &tmp.join("fs"),
                        DevicePolicy::Allow,
                    );
                    let summary = match res {
                        Ok(s) => s,
                        Err(e) => {
                            let _ = std::fs::remove_dir_all(&tmp);
                            return Err(e.into());
                        }
                    };
                    if summary.diff_id != layer.diff_id {
                        let _ = std::fs::remove_dir_all(&tmp);
                        return Err(Error::DigestMismatch {
                            what: format!(
                                "layer {} while unpacking (run `berth system check`)",
                                layer.digest
                            ),
                            expected: layer.diff_id.to_string(),
                            actual: summary.diff_id.to_string(),
                        });
                    }
                    if let Err(e) = std::fs::rename(&tmp, &dir) {
                        let _ = std::fs::remove_dir_all(&tmp);
                        if !dir.join("fs").is_dir() {
                            return Err(e).ctx("rename snapshot into place", &dir);
                        }
                    }
                }
                let parent = if i == 0 {
                    None
                } else {
                    Some(chains[i - 1].to_string())
                };
                self.db().execute(
                    "INSERT OR IGNORE INTO snapshots (chain_id, parent, diff_id, size, created) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![chain.to_string(), parent, layer.diff_id.to_string(), layer.content_size as i64, now()],
                )?;
            }
            out.push(dir.join("fs"));
        }
        Ok(out)
    }
}

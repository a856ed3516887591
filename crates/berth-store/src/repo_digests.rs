//! Small helpers for registry transfers: find a layer the store already has by blob
//! digest, and record which repository digest an image was pulled from or pushed to.

use crate::error::{Error, Result};
use crate::images::LayerRecord;
use crate::Store;
use berth_image::digest::Digest;
use rusqlite::{params, OptionalExtension};

impl Store {
    /// The record of a layer blob this store holds (so a pull can skip downloading it).
    pub fn layer_record(&self, digest: &Digest) -> Result<Option<LayerRecord>> {
        if !self.blobs.exists(digest) {
            return Ok(None);
        }
        let row: Option<(String, i64, String, i64, i64)> = self
            .db()
            .query_row(
                "SELECT media_type, size, diff_id, tar_size, content_size FROM layers WHERE digest = ?1 LIMIT 1",
                [digest.to_string()],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .optional()?;
        row.map(|(media_type, size, diff_id, tar_size, content_size)| {
            Ok(LayerRecord {
                digest: digest.clone(),
                media_type,
                size: size as u64,
                diff_id: diff_id
                    .parse()
                    .map_err(|e| Error::invalid(format!("store database: {e}")))?,
                tar_size: tar_size as u64,
                content_size: content_size as u64,
            })
        })
        .transpose()
    }

    /// Records that `repo` (full name) serves `image` under manifest (or index) `digest`.
    pub fn add_repo_digest(&self, repo: &str, digest: &Digest, image: &Digest) -> Result<()> {
        self.db().execute(
            "INSERT INTO repo_digests (repo, digest, image) VALUES (?1, ?2, ?3) ON CONFLICT(repo, digest) DO UPDATE SET image = excluded.image",
            params![repo, digest.to_string(), image.to_string()],
        )?;
        Ok(())
    }
}

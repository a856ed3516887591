//! Multi-platform images: an image index (OCI index or Docker manifest list) kept under a
//! tag, so that `berth push` can send every platform and the index byte for byte. The
//! index is a blob; `index_tags(repo, tag)` names it; its platform images are ordinary
//! images in the store, found by their manifest digest.

use crate::error::Result;
use berth_image::digest::Digest;
use rusqlite::{params, OptionalExtension};

impl crate::Store {
    /// Stores index `bytes` and records it under `repo:tag` (replacing an earlier one).
    pub fn tag_index(
        &self,
        repo: &str,
        tag: &str,
        bytes: &[u8],
        media_type: &str,
    ) -> Result<Digest> {
        let d = self.blobs.put(bytes)?;
        self.db().execute(
            "INSERT INTO index_tags (repo, tag, digest, media_type) VALUES (?1, ?2, ?3, ?4) ON CONFLICT(repo, tag) DO UPDATE SET digest = excluded.digest, media_type = excluded.media_type",
            params![repo, tag, d.to_string(), media_type],
        )?;
        Ok(d)
    }

    /// The index recorded under `repo:tag`: digest and media type.
    pub fn index_for_tag(&self, repo: &str, tag: &str) -> Result<Option<(Digest, String)>> {
        let row: Option<(String, String)> = self
            .db()
            .query_row(
                "SELECT digest, media_type FROM index_tags WHERE repo = ?1 AND tag = ?2",
                params![repo, tag],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        row.map(|(d, mt)| Ok((crate::images::parse_digest(d)?, mt)))
            .transpose()
    }

    /// Forgets the index under `repo:tag`; whether there was one.
    pub fn untag_index(&self, repo: &str, tag: &str) -> Result<bool> {
        Ok(self.db().execute(
            "DELETE FROM index_tags WHERE repo = ?1 AND tag = ?2",
            params![repo, tag],
        )? > 0)
    }

    /// The image whose manifest has this digest, if the store has it.
    pub fn image_by_manifest(&self, manifest: &Digest) -> Result<Option<Digest>> {
        let id: Option<String> = self
            .db()
            .query_row(
                "SELECT id FROM images WHERE manifest = ?1",
                params![manifest.to_string()],
                |r| r.get(0),
            )
            .optional()?;
        id.map(crate::images::parse_digest).transpose()
    }

    /// Every index blob a tag names (they are kept by GC).
    pub(crate) fn index_blobs(&self) -> Result<Vec<String>> {
        let db = self.db();
        let mut st = db.prepare("SELECT DISTINCT digest FROM index_tags")?;
        let rows = st.query_map([], |r| r.get::<_, String>(0))?;
        let mut out = Vec::new();
        for r in rows {
            let d = r?;
            out.push(d.strip_prefix("sha256:").unwrap_or(&d).to_string());
        }
        Ok(out)
    }
}

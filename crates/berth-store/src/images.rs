//! Image records: commit a new image, resolve names and ids, tag, untag, remove, list.

use crate::error::{Error, Result};
use crate::layers::StoredLayer;
use crate::util::{now, parse_rfc3339};
use crate::Store;
use berth_image::config::ImageConfig;
use berth_image::digest::Digest;
use berth_image::manifest::{self, Descriptor};
use berth_image::media;
use berth_image::reference::{familiar, Reference};
use rusqlite::{params, OptionalExtension, Row};

/// One layer of a stored image.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LayerRecord {
    pub digest: Digest,
    pub media_type: String,
    pub size: u64,
    pub diff_id: Digest,
    pub tar_size: u64,
    pub content_size: u64,
}

impl From<StoredLayer> for LayerRecord {
    fn from(s: StoredLayer) -> Self {
        LayerRecord {
            digest: s.digest,
            media_type: s.media_type,
            size: s.size,
            diff_id: s.diff_id,
            tar_size: s.tar_size,
            content_size: s.content_size,
        }
    }
}

/// An image in the store.
#[derive(Debug, Clone)]
pub struct ImageRecord {
    pub id: Digest,
    pub manifest: Digest,
    pub manifest_media_type: String,
    pub created: Option<i64>,
    pub added: i64,
    pub last_used: i64,
    pub size: u64,
    pub architecture: String,
    pub os: String,
    /// (full repository, tag)
    pub tags: Vec<(String, String)>,
    pub repo_digests: Vec<String>,
    pub layers: Vec<LayerRecord>,
}

impl ImageRecord {
    /// `repo:tag` strings as Docker prints them.
    pub fn repo_tags(&self) -> Vec<String> {
        self.tags
            .iter()
            .map(|(r, t)| format!("{}:{t}", familiar(r)))
            .collect()
    }
}

/// What a new image consists of: its config bytes, its layers (already stored), and
/// optionally the manifest it came with (kept byte for byte so its digest survives).
pub struct NewImage<'a> {
    pub config: &'a [u8],
    pub layers: Vec<LayerRecord>,
    pub manifest: Option<(&'a [u8], String)>,
}

const IMAGE_COLS: &str =
    "id, manifest, manifest_media_type, created, added, last_used, size, architecture, os";

fn image_row(r: &Row<'_>) -> rusqlite::Result<ImageRecord> {
    let d = |i: usize| -> rusqlite::Result<Digest> {
        let s: String = r.get(i)?;
        s.parse().map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, Box::new(e))
        })
    };
    Ok(ImageRecord {
        id: d(0)?,
        manifest: d(1)?,
        manifest_media_type: r.get(2)?,
        created: r.get(3)?,
        added: r.get(4)?,
        last_used: r.get(5)?,
        size: r.get::<_, i64>(6)? as u64,
        architecture: r.get(7)?,
        os: r.get(8)?,
        tags: vec![],
        repo_digests: vec![],
        layers: vec![],
    })
}

pub(crate) fn parse_digest(s: String) -> Result<Digest> {
    s.parse()
        .map_err(|e: berth_image::digest::DigestParseError| {
            Error::Invalid(format!("store database: {e}"))
        })
}

impl Store {
    /// Writes the config (and manifest) blobs, then records the image and moves `tags` to it,
    /// all in one transaction. Layers must already be stored.
    pub fn commit_image(&self, new: NewImage<'_>, tags: &[Reference]) -> Result<ImageRecord> {
        let cfg: ImageConfig = serde_json::from_slice(new.config)
            .map_err(|e| Error::invalid(format!("image config is not valid JSON: {e}")))?;
        if cfg.rootfs.diff_ids.len() != new.layers.len() {
            return Err(Error::invalid(format!(
                "image config lists {} layers but {} were given",
                cfg.rootfs.diff_ids.len(),
                new.layers.len()
            )));
        }
        for (i, (want, l)) in cfg.rootfs.diff_ids.iter().zip(&new.layers).enumerate() {
            if want != &l.diff_id.to_string() {
                return Err(Error::DigestMismatch {
                    what: format!("layer {} (diff id in the image config)", i + 1),
                    expected: want.clone(),
                    actual: l.diff_id.to_string(),
                });
            }
        }
        let id = self.blobs.put(new.config)?;
        let (manifest_digest, manifest_mt) = match &new.manifest {
            Some((bytes, mt)) => (self.blobs.put(bytes)?, mt.clone()),
            None => {
                let config = Descriptor {
                    media_type: media::OCI_CONFIG.into(),
                    digest: id.clone(),
                    size: new.config.len() as u64,
                };
                let layers: Vec<Descriptor> = new
                    .layers
                    .iter()
                    .map(|l| Descriptor {
                        media_type: l.media_type.clone(),
                        digest: l.digest.clone(),
                        size: l.size,
                    })
                    .collect();
                (
                    self.blobs
                        .put(&manifest::build_manifest(&config, &layers))?,
                    media::OCI_MANIFEST.to_string(),
                )
            }
        };
        let size: u64 = new.layers.iter().map(|l| l.content_size).sum();
        let created = cfg.created.as_deref().and_then(parse_rfc3339);
        let t = now();
        {
            let mut db = self.db();
            let tx = db.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let exists: bool = tx
                .query_row(
                    "SELECT 1 FROM images WHERE id = ?1",
                    [id.to_string()],
                    |_| Ok(true),
                )
                .optional()?
                .is_some();
            if !exists {
                tx.execute(
                    &format!("INSERT INTO images ({IMAGE_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"),
                    params![
                        id.to_string(),
                        manifest_digest.to_string(),
                        manifest_mt,
                        created,
                        t,
                        t,
                        size as i64,
                        cfg.architecture,
                        cfg.os
                    ],
                )?;
                for (i, l) in new.layers.iter().enumerate() {
                    tx.execute(
                        "INSERT INTO layers (image, idx, digest, media_type, size, diff_id, tar_size, content_size) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                        params![
                            id.to_string(),
                            i as i64,
                            l.digest.to_string(),
                            l.media_type,
                            l.size as i64,
                            l.diff_id.to_string(),
                            l.tar_size as i64,
                            l.content_size as i64
                        ],
                    )?;
                }
            } else {
                tx.execute(
                    "UPDATE images SET last_used = ?2 WHERE id = ?1",
                    params![id.to_string(), t],
                )?;
            }
            for r in tags {
                tx.execute(
                    "INSERT INTO tags (repo, tag, image) VALUES (?1, ?2, ?3) ON CONFLICT(repo, tag) DO UPDATE SET image = excluded.image",
                    params![r.repository(), r.tag_or_latest(), id.to_string()],
                )?;
            }
            tx.commit()?;
        }
        self.image(&id)
    }

    /// The full record of an image by id.
    pub fn image(&self, id: &Digest) -> Result<ImageRecord> {
        let db = self.db();
        let mut rec = db
            .query_row(
                &format!("SELECT {IMAGE_COLS} FROM images WHERE id = ?1"),
                [id.to_string()],
                image_row,
            )
            .optional()?
            .ok_or_else(|| Error::NotFound(format!("no such image: {id}")))?;
        let mut st =
            db.prepare_cached("SELECT repo, tag FROM tags WHERE image = ?1 ORDER BY repo, tag")?;
        rec.tags = st
            .query_map([id.to_string()], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        let mut st = db.prepare_cached(
            "SELECT repo, digest FROM repo_digests WHERE image = ?1 ORDER BY repo",
        )?;
        rec.repo_digests = st
            .query_map([id.to_string()], |r| {
                Ok(format!(
                    "{}@{}",
                    familiar(&r.get::<_, String>(0)?),
                    r.get::<_, String>(1)?
                ))
            })?
            .collect::<Result<_, _>>()?;
        let mut st = db.prepare_cached(
            "SELECT digest, media_type, size, diff_id, tar_size, content_size FROM layers WHERE image = ?1 ORDER BY idx",
        )?;
        let rows: Vec<(String, String, i64, String, i64, i64)> = st
            .query_map([id.to_string()], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                ))
            })?
            .collect::<Result<_, _>>()?;
        for (digest, media_type, size, diff_id, tar_size, content_size) in rows {
            rec.layers.push(LayerRecord {
                digest: parse_digest(digest)?,
                media_type,
                size: size as u64,
                diff_id: parse_digest(diff_id)?,
                tar_size: tar_size as u64,
                content_size: content_size as u64,
            });
        }
        Ok(rec)
    }

    /// Every image, newest first.
    pub fn images(&self) -> Result<Vec<ImageRecord>> {
        let ids: Vec<String> = {
            let db = self.db();
            let mut st = db.prepare(
                "SELECT id FROM images ORDER BY COALESCE(created, added) DESC, added DESC",
            )?;
            let ids = st.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
            ids
        };
        ids.into_iter()
            .map(|s| self.image(&parse_digest(s)?))
            .collect()
    }

    /// Finds an image by `name[:tag]`, `name@digest`, full id or unique id prefix.
    pub fn resolve(&self, what: &str) -> Result<ImageRecord> {
        let not_found = || Error::NotFound(format!("no such image: {what} (see `berth images`)"));
        if let Ok(d) = what.parse::<Digest>() {
            return self.image(&d).map_err(|_| not_found());
        }
        if let Ok(r) = Reference::parse(what) {
            let found: Option<String> = {
                let db = self.db();
                match &r.digest {
                    Some(d) => db
                        .query_row(
                            "SELECT image FROM repo_digests WHERE repo = ?1 AND digest = ?2 UNION SELECT id FROM images WHERE manifest = ?2",
                            params![r.repository(), d.to_string()],
                            |row| row.get(0),
                        )
                        .optional()?,
                    None => db
                        .query_row(
                            "SELECT image FROM tags WHERE repo = ?1 AND tag = ?2",
                            params![r.repository(), r.tag_or_latest()],
                            |row| row.get(0),
                        )
                        .optional()?,
                }
            };
            if let Some(id) = found {
                return self.image(&parse_digest(id)?);
            }
        }
        let prefix = what.strip_prefix("sha256:").unwrap_or(what);
        if !prefix.is_empty()
            && prefix.len() <= 64
            && prefix
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        {
            let ids: Vec<String> = {
                let db = self.db();
                let mut st =
                    db.prepare("SELECT id FROM images WHERE id >= ?1 AND id < ?2 LIMIT 2")?;
                let lo = format!("sha256:{prefix}");
                let hi = format!("sha256:{prefix}\u{7f}");
                let ids = st
                    .query_map(params![lo, hi], |r| r.get(0))?
                    .collect::<Result<_, _>>()?;
                ids
            };
            match ids.len() {
                1 => return self.image(&parse_digest(ids[0].clone())?),
                2.. => {
                    return Err(Error::Conflict(format!(
                        "image id prefix {what} is ambiguous: give more characters"
                    )))
                }
                _ => {}
            }
        }
        Err(not_found())
    }

    /// The parsed config of an image.
    pub fn config(&self, rec: &ImageRecord) -> Result<ImageConfig> {
        let bytes = self.blobs.read(&rec.id)?;
        serde_json::from_slice(&bytes)
            .map_err(|e| Error::invalid(format!("config of image {}: {e}", rec.id)))
    }

    /// Points `target` at an image.
    pub fn tag(&self, id: &Digest, target: &Reference) -> Result<()> {
        if target.digest.is_some() {
            return Err(Error::invalid(format!(
                "cannot tag with a digest reference: {target}"
            )));
        }
        self.db().execute(
            "INSERT INTO tags (repo, tag, image) VALUES (?1, ?2, ?3) ON CONFLICT(repo, tag) DO UPDATE SET image = excluded.image",
            params![target.repository(), target.tag_or_latest(), id.to_string()],
        )?;
        Ok(())
    }

    /// Removes one tag; returns whether it existed.
    pub fn untag(&self, r: &Reference) -> Result<bool> {
        let db = self.db();
        // A multi-platform index under the same name goes with the tag.
        db.execute(
            "DELETE FROM index_tags WHERE repo = ?1 AND tag = ?2",
            params![r.repository(), r.tag_or_latest()],
        )?;
        Ok(db.execute(
            "DELETE FROM tags WHERE repo = ?1 AND tag = ?2",
            params![r.repository(), r.tag_or_latest()],
        )? > 0)
    }

    /// Names of containers that use an image.
    pub fn image_users(&self, id: &Digest) -> Result<Vec<String>> {
        let db = self.db();
        let mut st = db.prepare("SELECT name FROM containers WHERE image = ?1 ORDER BY name")?;
        let names = st
            .query_map([id.to_string()], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        Ok(names)
    }

    /// Deletes an image record and its tags (blobs are left for GC). With `force`, also an
    /// image that containers use (they keep their snapshots until removed).
    pub fn delete_image(&self, id: &Digest, force: bool) -> Result<()> {
        let users = self.image_users(id)?;
        if !users.is_empty() && !force {
            return Err(Error::Conflict(format!(
                "image {} is in use by container(s) {}: remove them first, or use -f",
                id.short(),
                users.join(", ")
            )));
        }
        let mut db = self.db();
        let tx = db.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        tx.execute("DELETE FROM tags WHERE image = ?1", [id.to_string()])?;
        if users.is_empty() {
            tx.execute("DELETE FROM images WHERE id = ?1", [id.to_string()])?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Records that an image was used now (run, build, save, push).
    pub fn mark_used(&self, id: &Digest) -> Result<()> {
        self.db().execute(
            "UPDATE images SET last_used = ?2 WHERE id = ?1",
            params![id.to_string(), now()],
        )?;
        Ok(())
    }

    /// Sets the last-used time explicitly (tests, migrations).
    pub fn set_last_used(&self, id: &Digest, when: i64) -> Result<()> {
        self.db().execute(
            "UPDATE images SET last_used = ?2 WHERE id = ?1",
            params![id.to_string(), when],
        )?;
        Ok(())
    }
}

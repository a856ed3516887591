//! `berth system check [--repair]`: every blob matches its digest, and every reference
//! (tag → image → manifest → config and layers; snapshot → parent) resolves.

use crate::error::{IoContext, Result};
use crate::lock;
use crate::Store;
use berth_image::digest::Digest;
use berth_image::manifest;
use std::collections::HashSet;
use std::time::Duration;

#[derive(Debug, Default)]
pub struct CheckReport {
    pub blobs_checked: usize,
    pub images_checked: usize,
    /// Problems: the store is not consistent while this is non-empty.
    pub problems: Vec<String>,
    /// What `--repair` did.
    pub repairs: Vec<String>,
    /// Harmless leftovers (unreferenced content, files of killed writers) GC will remove.
    pub garbage: Vec<String>,
}

impl CheckReport {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

impl Store {
    /// Checks the store; with `repair`, removes corrupt blobs, images whose content is
    /// broken or missing, and snapshot records that point at nothing. Repair holds the GC
    /// lock, so it waits for running writers.
    pub fn check(&self, repair: bool) -> Result<CheckReport> {
        let _guard = if repair {
            match lock::gc(&self.root().join("gc.lock"), Duration::from_secs(300))? {
                Some(g) => Some(g),
                None => {
                    return Err(crate::Error::Conflict(
                        "other berth processes kept writing to the store for 5 minutes; run the repair again when they are done".into(),
                    ))
                }
            }
        } else {
            None
        };
        let mut r = CheckReport::default();
        let mut corrupt: HashSet<Digest> = HashSet::new();
        let on_disk: HashSet<Digest> = self.blobs.list()?.into_iter().collect();
        for d in &on_disk {
            r.blobs_checked += 1;
            match self.blobs.verify(d) {
                Ok(true) => {}
                Ok(false) => {
                    r.problems
                        .push(format!("blob {d}: content does not match its digest"));
                    corrupt.insert(d.clone());
                }
                Err(e) => {
                    r.problems.push(format!("blob {d}: {e}"));
                    corrupt.insert(d.clone());
                }
            }
        }
        if repair {
            for d in &corrupt {
                self.blobs.remove(d)?;
                r.repairs.push(format!("removed corrupt blob {d}"));
            }
        }
        let usable = |d: &Digest| on_disk.contains(d) && !corrupt.contains(d);

        let mut broken_images = Vec::new();
        for img in self.images()? {
            r.images_checked += 1;
            let mut why = Vec::new();
            if !usable(&img.id) {
                why.push(format!("config blob {} missing or corrupt", img.id));
            }
            if !usable(&img.manifest) {
                why.push(format!("manifest blob {} missing or corrupt", img.manifest));
            } else {
                match self
                    .blobs
                    .read(&img.manifest)
                    .map_err(|e| e.to_string())
                    .and_then(|b| manifest::parse_manifest(&b).map_err(|e| e.to_string()))
                {
                    Ok(m) => {
                        if m.config.digest != img.id {
                            why.push(format!(
                                "manifest names config {} but the image id is {}",
                                m.config.digest, img.id
                            ));
                        }
                        let listed: Vec<&Digest> = m.layers.iter().map(|l| &l.digest).collect();
                        let recorded: Vec<&Digest> = img.layers.iter().map(|l| &l.digest).collect();
                        if listed != recorded {
                            why.push("manifest layers differ from the recorded layers".into());
                        }
                    }
                    Err(e) => why.push(format!("manifest {}: {e}", img.manifest)),
                }
            }
            if usable(&img.id) {
                match self.config(&img) {
                    Ok(cfg) => {
                        let recorded: Vec<String> =
                            img.layers.iter().map(|l| l.diff_id.to_string()).collect();
                        if cfg.rootfs.diff_ids != recorded {
                            why.push("config diff ids differ from the recorded layers".into());
                        }
                    }
                    Err(e) => why.push(e.to_string()),
                }
            }
            for l in &img.layers {
                if !usable(&l.digest) {
                    why.push(format!("layer blob {} missing or corrupt", l.digest));
                }
            }
            if !why.is_empty() {
                let name = img
                    .repo_tags()
                    .first()
                    .cloned()
                    .unwrap_or_else(|| img.id.short().to_string());
                r.problems.push(format!(
                    "image {name} ({}): {}",
                    img.id.short(),
                    why.join("; ")
                ));
                broken_images.push(img);
            }
        }
        if repair {
            for img in &broken_images {
                // The containers table keeps its reference: force-untag, keep the row if used.
                self.delete_image(&img.id, true)?;
                r.repairs.push(format!(
                    "removed broken image {} (tags {:?}); pull or load it again",
                    img.id.short(),
                    img.repo_tags()
                ));
            }
        }

        // Snapshots: each record has its directory and its parent record.
        let snaps: Vec<(String, Option<String>)> = {
            let db = self.db();
            let mut st = db.prepare("SELECT chain_id, parent FROM snapshots")?;
            let v = st
                .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
                .collect::<Result<_, _>>()?;
            v
        };
        let known: HashSet<&String> = snaps.iter().map(|(c, _)| c).collect();
        for (chain, parent) in &snaps {
            let hex = chain.strip_prefix("sha256:").unwrap_or(chain);
            let dir = self.root().join("snapshots").join(hex).join("fs");
            let mut bad = None;
            if !dir.is_dir() {
                bad = Some("its directory is missing".to_string());
            } else if let Some(p) = parent {
                if !known.contains(p) {
                    bad = Some(format!("its parent {p} is not recorded"));
                }
            }
            if let Some(b) = bad {
                r.problems.push(format!("snapshot {chain}: {b}"));
                if repair {
                    self.db()
                        .execute("DELETE FROM snapshots WHERE chain_id = ?1", [chain])?;
                    r.repairs.push(format!(
                        "forgot snapshot {chain} (it is unpacked again when needed)"
                    ));
                }
            }
        }

        // Dangling tags cannot exist (foreign key), but check the DB itself too.
        let integrity: String = self
            .db()
            .query_row("PRAGMA quick_check", [], |row| row.get(0))?;
        if integrity != "ok" {
            r.problems.push(format!("database: {integrity}"));
        }

        // Leftovers are not problems; report them so the user knows what GC will free.
        let (reach_blobs, reach_snaps) = self.reachable()?;
        let orphans = on_disk
            .iter()
            .filter(|d| !reach_blobs.contains(d.hex()) && !corrupt.contains(d))
            .count();
        if orphans > 0 {
            r.garbage.push(format!("{orphans} unreferenced blob(s)"));
        }
        let snapdir = self.root().join("snapshots");
        let orphan_snaps = std::fs::read_dir(&snapdir)
            .ctx("list", &snapdir)?
            .flatten()
            .filter(|e| !reach_snaps.contains(&e.file_name().to_string_lossy().into_owned()))
            .count();
        if orphan_snaps > 0 {
            r.garbage
                .push(format!("{orphan_snaps} unreferenced snapshot(s)"));
        }
        for dir in [self.blobs.ingest_dir().to_path_buf(), self.tmp_dir()] {
            let n = std::fs::read_dir(&dir).ctx("list", &dir)?.count();
            if n > 0 {
                r.garbage
                    .push(format!("{n} leftover file(s) in {}", dir.display()));
            }
        }
        if repair && (!r.repairs.is_empty() || !r.garbage.is_empty()) {
            drop(_guard);
            let gc = self.gc(Duration::from_secs(300))?;
            if gc.ran {
                r.repairs.push(format!(
                    "collected garbage: {} blob(s), {} snapshot(s), {} bytes",
                    gc.blobs_removed, gc.snapshots_removed, gc.bytes_freed
                ));
            }
        }
        Ok(r)
    }
}

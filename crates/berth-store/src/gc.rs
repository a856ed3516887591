//! Retention and garbage collection.
//!
//! Removing an image only deletes database rows. Space comes back when GC runs: it takes
//! the store's lock exclusively (so no writer has unreferenced content in flight), marks
//! every blob and snapshot reachable from an image, and deletes the rest, along with
//! leftovers of killed processes in `ingest/` and `tmp/`.

use crate::error::{Error, IoContext, Result};
use crate::images::ImageRecord;
use crate::layers::chain_ids;
use crate::lock;
use crate::util::now;
use crate::Store;
use berth_image::digest::Digest;
use std::collections::{HashMap, HashSet};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::Duration;

/// A `--filter` of `image prune`.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// Created before this unix time.
    Until(i64),
    /// Has (or, negated, has not) this label, optionally with this value.
    Label {
        key: String,
        value: Option<String>,
        negate: bool,
    },
    /// Not used since this unix time.
    UnusedSince(i64),
}

/// Parses a duration (`24h`, `7d`, `90m`) or a point in time (RFC 3339 or unix seconds)
/// into a unix time: durations count back from now.
pub fn parse_time_spec(s: &str) -> Result<i64> {
    if let Ok(secs) = s.parse::<i64>() {
        return Ok(secs);
    }
    if let Ok(t) = s.parse::<jiff::Timestamp>() {
        return Ok(t.as_second());
    }
    let d = humantime::parse_duration(s).map_err(|e| {
        Error::invalid(format!(
            "{s:?} is neither a duration (like 24h, 7d, 90m) nor a timestamp: {e}"
        ))
    })?;
    Ok(now() - d.as_secs() as i64)
}

impl Filter {
    pub fn parse(s: &str) -> Result<Filter> {
        let bad = || {
            Error::invalid(format!("invalid filter {s:?}: use until=DURATION, unused-for=DURATION, label=KEY[=VALUE] or label!=KEY[=VALUE]"))
        };
        if let Some(v) = s.strip_prefix("until=") {
            return Ok(Filter::Until(parse_time_spec(v)?));
        }
        if let Some(v) = s.strip_prefix("unused-for=") {
            return Ok(Filter::UnusedSince(parse_time_spec(v)?));
        }
        let (rest, negate) = match (s.strip_prefix("label!="), s.strip_prefix("label=")) {
            (Some(r), _) => (r, true),
            (None, Some(r)) => (r, false),
            _ => return Err(bad()),
        };
        if rest.is_empty() {
            return Err(bad());
        }
        let (key, value) = match rest.split_once('=') {
            Some((k, v)) => (k.to_string(), Some(v.to_string())),
            None => (rest.to_string(), None),
        };
        Ok(Filter::Label { key, value, negate })
    }

    fn matches(
        &self,
        img: &ImageRecord,
        labels: &std::collections::BTreeMap<String, String>,
    ) -> bool {
        match self {
            Filter::Until(t) => img.created.unwrap_or(img.added) < *t,
            Filter::UnusedSince(t) => img.last_used < *t,
            Filter::Label { key, value, negate } => {
                let has = match value {
                    Some(v) => labels.get(key) == Some(v),
                    None => labels.contains_key(key),
                };
                has != *negate
            }
        }
    }
}

#[derive(Debug, Default)]
pub struct PruneOptions {
    /// Also tagged images (not only dangling ones), as `docker image prune -a`.
    pub all: bool,
    pub filters: Vec<Filter>,
    /// Keep the newest N images of each repository; older ones are candidates.
    pub keep: Option<usize>,
}

#[derive(Debug, Default)]
pub struct PruneReport {
    /// Removed images with the tags they had.
    pub removed: Vec<(Digest, Vec<String>)>,
    pub gc: GcReport,
}

#[derive(Debug, Default)]
pub struct GcReport {
    pub blobs_removed: usize,
    pub snapshots_removed: usize,
    pub bytes_freed: u64,
    /// False when other berth processes kept writing and GC gave up waiting.
    pub ran: bool,
}

/// How long a partial download (`*.partial`) or an unfinished upload (`*.upload`) is
/// kept for a retry to continue it.
pub const RESUME_WINDOW: Duration = Duration::from_secs(24 * 3600);

fn is_resumable(e: &std::fs::DirEntry) -> bool {
    let name = e.file_name();
    let name = name.to_string_lossy();
    (name.ends_with(".partial") || name.ends_with(".upload"))
        && e.metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age < RESUME_WINDOW)
}

/// Blobs and snapshots (hex names) that `images` reference.
fn reachable_from(images: &[ImageRecord]) -> (HashSet<String>, HashSet<String>) {
    let mut blobs = HashSet::new();
    let mut snaps = HashSet::new();
    for img in images {
        blobs.insert(img.id.hex().to_string());
        blobs.insert(img.manifest.hex().to_string());
        blobs.extend(img.layers.iter().map(|l| l.digest.hex().to_string()));
        let diffs: Vec<Digest> = img.layers.iter().map(|l| l.diff_id.clone()).collect();
        snaps.extend(chain_ids(&diffs).iter().map(|c| c.hex().to_string()));
    }
    (blobs, snaps)
}

/// Bytes a path really takes on disk (allocated blocks; hardlinks counted once), like `du`.
pub fn disk_usage(path: &Path) -> u64 {
    let mut seen = HashSet::new();
    let mut total = 0;
    for e in walkdir::WalkDir::new(path).into_iter().flatten() {
        if let Ok(m) = e.metadata() {
            if m.nlink() > 1 && !m.is_dir() && !seen.insert((m.dev(), m.ino())) {
                continue;
            }
            total += m.blocks() * 512;
        }
    }
    total
}

impl Store {
    fn selected_for_prune(&self, opts: &PruneOptions) -> Result<Vec<ImageRecord>> {
        let images = self.images()?;
        // Newest N per repository are protected when --keep is given.
        let mut protected: HashSet<Digest> = HashSet::new();
        if let Some(n) = opts.keep {
            let mut per_repo: HashMap<&str, Vec<&ImageRecord>> = HashMap::new();
            for img in &images {
                for (repo, _) in &img.tags {
                    per_repo.entry(repo.as_str()).or_default().push(img);
                }
            }
            for list in per_repo.values_mut() {
                list.sort_by_key(|i| std::cmp::Reverse((i.created.unwrap_or(i.added), i.added)));
                list.dedup_by_key(|i| i.id.clone());
                protected.extend(list.iter().take(n).map(|i| i.id.clone()));
            }
        }
        let mut out = Vec::new();
        for img in images {
            let dangling = img.tags.is_empty();
            if !(dangling || opts.all || opts.keep.is_some()) || protected.contains(&img.id) {
                continue;
            }
            if !self.image_users(&img.id)?.is_empty() {
                continue;
            }
            if !opts.filters.is_empty() {
                let labels = self.config(&img).map(|c| c.labels()).unwrap_or_default();
                if !opts.filters.iter().all(|f| f.matches(&img, &labels)) {
                    continue;
                }
            }
            out.push(img);
        }
        Ok(out)
    }

    /// `berth image prune`.
    pub fn prune_images(&self, opts: &PruneOptions) -> Result<PruneReport> {
        let victims = self.selected_for_prune(opts)?;
        let mut report = PruneReport::default();
        for img in victims {
            self.delete_image(&img.id, false)?;
            report.removed.push((img.id.clone(), img.repo_tags()));
        }
        report.gc = self.gc(Duration::from_secs(300))?;
        Ok(report)
    }

    /// `berth system prune`: dangling (or, with `all`, every unused) image, then, while the
    /// store is above `max_size` bytes, the least recently used unused images; then GC.
    pub fn system_prune(&self, all: bool, max_size: Option<u64>) -> Result<PruneReport> {
        let mut report = self.prune_images(&PruneOptions {
            all,
            ..Default::default()
        })?;
        if let Some(max) = max_size {
            let images = self.images()?;
            // Bytes per blob and snapshot, and how many images reference each.
            let mut sizes: HashMap<String, u64> = HashMap::new();
            let mut refs: HashMap<String, usize> = HashMap::new();
            let keys = |img: &ImageRecord| -> Vec<String> {
                let mut k = vec![img.id.to_string(), img.manifest.to_string()];
                k.extend(img.layers.iter().map(|l| l.digest.to_string()));
                let diffs: Vec<Digest> = img.layers.iter().map(|l| l.diff_id.clone()).collect();
                k.extend(
                    chain_ids(&diffs)
                        .iter()
                        .map(|c| format!("snap:{}", c.hex())),
                );
                k.sort();
                k.dedup();
                k
            };
            for img in &images {
                for k in keys(img) {
                    *refs.entry(k.clone()).or_default() += 1;
                    sizes
                        .entry(k.clone())
                        .or_insert_with(|| match k.strip_prefix("snap:") {
                            Some(hex) => disk_usage(&self.root().join("snapshots").join(hex)),
                            None => k
                                .parse::<Digest>()
                                .map(|d| disk_usage(&self.blobs.path(&d)))
                                .unwrap_or(0),
                        });
                }
            }
            let mut total = self.usage()?.total();
            let mut lru: Vec<&ImageRecord> = images.iter().collect();
            lru.sort_by_key(|i| (i.last_used, i.added));
            for img in lru {
                if total <= max {
                    break;
                }
                if !self.image_users(&img.id)?.is_empty() {
                    continue;
                }
                for k in keys(img) {
                    let r = refs.get_mut(&k).expect("counted above");
                    *r -= 1;
                    if *r == 0 {
                        total = total.saturating_sub(sizes[&k]);
                    }
                }
                self.delete_image(&img.id, false)?;
                report.removed.push((img.id.clone(), img.repo_tags()));
            }
            let gc = self.gc(Duration::from_secs(300))?;
            report.gc.blobs_removed += gc.blobs_removed;
            report.gc.snapshots_removed += gc.snapshots_removed;
            report.gc.bytes_freed += gc.bytes_freed;
        }
        Ok(report)
    }

    /// Blobs and snapshots reachable from the database.
    pub(crate) fn reachable(&self) -> Result<(HashSet<String>, HashSet<String>)> {
        let (mut blobs, mut snaps) = reachable_from(&self.images()?);
        blobs.extend(self.index_blobs()?);
        for layers in self.build_cache_layers()? {
            blobs.extend(layers.iter().map(|l| l.digest.hex().to_string()));
            let diffs: Vec<Digest> = layers.iter().map(|l| l.diff_id.clone()).collect();
            snaps.extend(chain_ids(&diffs).iter().map(|c| c.hex().to_string()));
        }
        Ok((blobs, snaps))
    }

    /// Deletes everything no image references. Waits up to `wait` for writers to finish;
    /// if they do not, nothing is deleted and `ran` is false.
    pub fn gc(&self, wait: Duration) -> Result<GcReport> {
        let Some(_guard) = lock::gc(&self.root().join("gc.lock"), wait)? else {
            return Ok(GcReport::default());
        };
        let (blobs, snaps) = self.reachable()?;
        let mut r = GcReport {
            ran: true,
            ..Default::default()
        };
        for d in self.blobs.list()? {
            if !blobs.contains(d.hex()) {
                r.bytes_freed += disk_usage(&self.blobs.path(&d));
                self.blobs.remove(&d)?;
                r.blobs_removed += 1;
            }
        }
        let snapdir = self.root().join("snapshots");
        for e in std::fs::read_dir(&snapdir).ctx("list", &snapdir)? {
            let e = e.ctx("list", &snapdir)?;
            let name = e.file_name().to_string_lossy().into_owned();
            if !snaps.contains(&name) {
                r.bytes_freed += disk_usage(&e.path());
                std::fs::remove_dir_all(e.path()).ctx("remove snapshot", e.path())?;
                r.snapshots_removed += 1;
            }
        }
        {
            let db = self.db();
            let rows: Vec<String> = {
                let mut st = db.prepare("SELECT chain_id FROM snapshots")?;
                let v = st.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
                v
            };
            for c in rows {
                let hex = c.strip_prefix("sha256:").unwrap_or(&c);
                if !snaps.contains(hex) {
                    db.execute("DELETE FROM snapshots WHERE chain_id = ?1", [&c])?;
                }
            }
        }
        // No writer holds a lease now, so whatever is in ingest/ and tmp/ is abandoned,
        // except the recent state of interrupted transfers, which a retry continues.
        for dir in [self.blobs.ingest_dir().to_path_buf(), self.tmp_dir()] {
            for e in std::fs::read_dir(&dir).ctx("list", &dir)? {
                let e = e.ctx("list", &dir)?;
                if is_resumable(&e) {
                    continue;
                }
                r.bytes_freed += disk_usage(&e.path());
                let res = if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                    std::fs::remove_dir_all(e.path())
                } else {
                    std::fs::remove_file(e.path())
                };
                res.ctx("remove leftover", e.path())?;
            }
        }
        Ok(r)
    }

    /// Disk usage of the store, as `berth system df` shows it.
    pub fn usage(&self) -> Result<Usage> {
        let images = self.images()?;
        let (reach_blobs, reach_snaps) = reachable_from(&images);
        let mut u = Usage {
            images: images.len(),
            ..Default::default()
        };
        for img in &images {
            if !self.image_users(&img.id)?.is_empty() {
                u.images_active += 1;
            }
        }
        for d in self.blobs.list()? {
            let s = disk_usage(&self.blobs.path(&d));
            u.blob_bytes += s;
            if !reach_blobs.contains(d.hex()) {
                u.blob_reclaimable += s;
            }
        }
        let snapdir = self.root().join("snapshots");
        for e in std::fs::read_dir(&snapdir).ctx("list", &snapdir)?.flatten() {
            let s = disk_usage(&e.path());
            u.snapshots += 1;
            u.snapshot_bytes += s;
            if !reach_snaps.contains(&e.file_name().to_string_lossy().into_owned()) {
                u.snapshot_reclaimable += s;
            }
        }
        for dir in [self.blobs.ingest_dir().to_path_buf(), self.tmp_dir()] {
            for e in std::fs::read_dir(&dir).ctx("list", &dir)?.flatten() {
                u.leftover_bytes += disk_usage(&e.path());
            }
        }
        u.db_bytes = ["berth.db", "berth.db-wal", "berth.db-shm"]
            .iter()
            .map(|f| {
                std::fs::metadata(self.root().join(f))
                    .map(|m| m.blocks() * 512)
                    .unwrap_or(0)
            })
            .sum();
        Ok(u)
    }
}

#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Usage {
    pub images: usize,
    pub images_active: usize,
    pub blob_bytes: u64,
    pub blob_reclaimable: u64,
    pub snapshots: usize,
    pub snapshot_bytes: u64,
    pub snapshot_reclaimable: u64,
    pub leftover_bytes: u64,
    pub db_bytes: u64,
}

impl Usage {
    pub fn total(&self) -> u64 {
        self.blob_bytes + self.snapshot_bytes + self.leftover_bytes + self.db_bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gc_keeps_recent_transfer_state_only() {
        let t = tempfile::tempdir().unwrap();
        let store = Store::open(t.path()).unwrap();
        let ingest = t.path().join("ingest");
        std::fs::write(ingest.join("pull-abc.partial"), b"half a layer").unwrap();
        std::fs::write(ingest.join("push-abc.upload"), b"session").unwrap();
        std::fs::write(ingest.join("0123abandoned"), b"killed writer").unwrap();
        std::fs::create_dir(t.path().join("tmp/snap-x")).unwrap();
        let r = store.gc(Duration::from_secs(1)).unwrap();
        assert!(r.ran);
        let mut left: Vec<String> = std::fs::read_dir(&ingest)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, ["pull-abc.partial", "push-abc.upload"]);
        assert_eq!(std::fs::read_dir(t.path().join("tmp")).unwrap().count(), 0);
    }

    #[test]
    fn filters() {
        assert!(
            matches!(Filter::parse("until=24h").unwrap(), Filter::Until(t) if t < now() - 86_000)
        );
        assert_eq!(
            Filter::parse("label=ci.job=42").unwrap(),
            Filter::Label {
                key: "ci.job".into(),
                value: Some("42".into()),
                negate: false
            }
        );
        assert_eq!(
            Filter::parse("label!=keep").unwrap(),
            Filter::Label {
                key: "keep".into(),
                value: None,
                negate: true
            }
        );
        assert!(matches!(
            Filter::parse("unused-for=7d").unwrap(),
            Filter::UnusedSince(_)
        ));
        assert!(Filter::parse("until=yesterday-ish").is_err());
        assert!(Filter::parse("dangling=true").is_err());
    }
}

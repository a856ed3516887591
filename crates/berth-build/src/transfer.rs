//! `--cache-to type=local,dest=DIR` / `--cache-from type=local,src=DIR`: the build cache
//! as a directory another machine can import: `index.json` (records), the layer blobs
//! they name (`blobs/sha256/<hex>`), and the contents of `RUN --mount=type=cache`
//! directories (`mounts/<id hash>.tar`), which no other builder carries.

use crate::{io_err, Error, Result};
use berth_image::digest::Digest;
use berth_store::build_cache::StepState;
use berth_store::Store;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::path::Path;

#[derive(Serialize, Deserialize)]
struct Index {
    records: Vec<Record>,
    mounts: Vec<String>,
}

#[derive(Serialize, Deserialize)]
struct Record {
    key: String,
    state: StepState,
    size: u64,
}

/// Parses `type=local,dest=DIR` / `type=local,src=DIR` (or a bare DIR).
pub fn cache_dir(spec: &str, field: &str) -> Result<std::path::PathBuf> {
    if !spec.contains('=') {
        return Ok(spec.into());
    }
    let mut dir = None;
    for part in spec.split(',') {
        match part.split_once('=') {
            Some(("type", "local")) => {}
            Some(("type", other)) => {
                return Err(Error::Input(format!(
                    "cache type {other:?} is not supported: use type=local"
                )))
            }
            Some((k, v)) if k == field => dir = Some(v.into()),
            Some(("mode", _)) => {}
            _ => return Err(Error::Input(format!("{spec:?}: unknown field {part:?}"))),
        }
    }
    dir.ok_or_else(|| Error::Input(format!("{spec:?}: {field}= is missing")))
}

fn mounts_dir(store: &Store) -> std::path::PathBuf {
    store.root().join("build").join("cache-mounts")
}

/// Writes the whole build cache (records, blobs, cache mounts) to `dir`.
pub fn export_cache(store: &Store, dir: &Path) -> Result<usize> {
    let _lease = store.lease()?;
    let blobs = dir.join("blobs").join("sha256");
    std::fs::create_dir_all(&blobs).map_err(io_err(format!("create {}", blobs.display())))?;
    let mut records = Vec::new();
    let mut seen = BTreeSet::new();
    for (key, state, size) in store.cache_records()? {
        for l in &state.layers {
            if seen.insert(l.digest.clone()) {
                let dst = blobs.join(l.digest.hex());
                if !dst.exists() {
                    let tmp = dst.with_extension("partial");
                    std::fs::copy(store.blobs.path(&l.digest), &tmp)
                        .map_err(io_err(format!("copy blob {}", l.digest)))?;
                    std::fs::rename(&tmp, &dst).map_err(io_err("rename blob"))?;
                }
            }
        }
        records.push(Record { key, state, size });
    }
    let mut mounts = Vec::new();
    let md = mounts_dir(store);
    if let Ok(rd) = std::fs::read_dir(&md) {
        std::fs::create_dir_all(dir.join("mounts")).map_err(io_err("create mounts/"))?;
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let out = dir.join("mounts").join(format!("{name}.tar"));
            let f =
                std::fs::File::create(&out).map_err(io_err(format!("create {}", out.display())))?;
            let mut b = tar::Builder::new(std::io::BufWriter::new(f));
            b.follow_symlinks(false);
            b.append_dir_all(".", e.path())
                .map_err(io_err(format!("archive cache mount {name}")))?;
            b.into_inner().map_err(io_err("finish the archive"))?;
            mounts.push(name);
        }
    }
    let n = records.len();
    let index = Index { records, mounts };
    let tmp = dir.join("index.json.partial");
    std::fs::write(&tmp, serde_json::to_vec_pretty(&index).expect("serialises"))
        .map_err(io_err("write index.json"))?;
    std::fs::rename(&tmp, dir.join("index.json")).map_err(io_err("write index.json"))?;
    Ok(n)
}

/// Reads a cache exported by `export_cache` into the store (blobs verified by digest).
pub fn import_cache(store: &Store, dir: &Path) -> Result<usize> {
    let text = std::fs::read(dir.join("index.json")).map_err(|e| {
        Error::Input(format!(
            "--cache-from {}: no index.json there ({e}); make one with --cache-to type=local,dest=DIR",
            dir.display()
        ))
    })?;
    let index: Index = serde_json::from_slice(&text)
        .map_err(|e| Error::Input(format!("{}/index.json: {e}", dir.display())))?;
    let _lease = store.lease()?;
    let mut n = 0;
    for r in &index.records {
        let key: Digest = r
            .key
            .parse()
            .map_err(|e| Error::Input(format!("cache record key {:?}: {e}", r.key)))?;
        for l in &r.state.layers {
            if store.blobs.exists(&l.digest) {
                continue;
            }
            let src = dir.join("blobs").join("sha256").join(l.digest.hex());
            let mut f =
                std::fs::File::open(&src).map_err(io_err(format!("open {}", src.display())))?;
            let mut w = store.blobs.writer()?;
            std::io::copy(&mut f, &mut w).map_err(io_err(format!("read {}", src.display())))?;
            w.commit(Some(&l.digest))?;
        }
        store.cache_put(&key, &r.state, r.size)?;
        n += 1;
    }
    let md = mounts_dir(store);
    for name in &index.mounts {
        if name.contains('/') || name.starts_with('.') {
            continue;
        }
        let target = md.join(name);
        if target.exists() {
            continue;
        }
        let tmp = md.join(format!(".import-{name}"));
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir_all(&tmp).map_err(io_err(format!("create {}", tmp.display())))?;
        let f = std::fs::File::open(dir.join("mounts").join(format!("{name}.tar")))
            .map_err(io_err(format!("open cache mount {name}")))?;
        berth_image::layer::unpack_layer(f, &tmp, berth_image::layer::DevicePolicy::Skip)
            .map_err(|e| Error::Input(format!("cache mount {name}: {e}")))?;
        std::fs::rename(&tmp, &target).map_err(io_err("move the cache mount into place"))?;
    }
    Ok(n)
}

//! Manifests and indexes: validated PUT, GET/HEAD by tag or digest, DELETE, referrers.

#![allow(clippy::result_large_err)]

use super::*;

pub(super) fn blob_path(root: &Path, d: &Digest) -> PathBuf {
    root.join("blobs/sha256").join(d.hex())
}

pub(super) fn lookup_manifest(
    db: &Connection,
    name: &str,
    reference: &str,
) -> rusqlite::Result<Option<(String, String, i64)>> {
    let digest: Option<String> = if reference.starts_with("sha256:") {
        Some(reference.to_string())
    } else {
        db.query_row(
            "SELECT digest FROM tags WHERE repo = ?1 AND tag = ?2",
            [name, reference],
            |r| r.get(0),
        )
        .optional()?
    };
    let Some(d) = digest else { return Ok(None) };
    db.query_row(
        "SELECT digest, media_type, size FROM manifests WHERE repo = ?1 AND digest = ?2",
        [name, &d],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )
    .optional()
}

pub(super) fn get_manifest(st: &AppState, name: &str, reference: &str, head: bool) -> Response {
    if reference.contains(':') {
        if let Err(r) = parse_digest(reference) {
            return r;
        }
    } else if !valid_tag(reference) {
        return err(
            StatusCode::BAD_REQUEST,
            "TAG_INVALID",
            format!("invalid tag {reference:?}"),
        );
    }
    let found = lookup_manifest(&st.db.lock().unwrap(), name, reference);
    let (digest, mt, size) = match found {
        Ok(Some(f)) => f,
        Ok(None) => {
            return err(
                StatusCode::NOT_FOUND,
                "MANIFEST_UNKNOWN",
                format!("manifest {name}:{reference} is not known"),
            )
        }
        Err(e) => return internal(e),
    };
    let d: Digest = match digest.parse() {
        Ok(d) => d,
        Err(e) => return internal(e),
    };
    let h = [
        ("content-type", mt),
        ("docker-content-digest", digest.clone()),
        ("content-length", size.to_string()),
        ("etag", format!("\"{digest}\"")),
    ];
    if head {
        return empty(StatusCode::OK, &h);
    }
    match std::fs::read(blob_path(&st.root, &d)) {
        Ok(b) => with_headers((StatusCode::OK, b).into_response(), &h),
        Err(e) => internal(format!("manifest {digest}: {e}")),
    }
}

/// Reads a whole request body, refusing more than `limit` bytes.
pub(super) async fn read_limited(
    body: Body,
    limit: usize,
) -> std::result::Result<Vec<u8>, Response> {
    let mut out = Vec::new();
    let mut body = body;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| {
            err(
                StatusCode::BAD_REQUEST,
                "UNKNOWN",
                format!("reading the request: {e}"),
            )
        })?;
        if let Ok(data) = frame.into_data() {
            if out.len() + data.len() > limit {
                return Err(err(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "SIZE_INVALID",
                    format!("manifest larger than {limit} bytes"),
                ));
            }
            out.extend_from_slice(&data);
        }
    }
    Ok(out)
}

pub(super) struct Checked {
    pub(super) media_type: String,
    pub(super) children: Vec<(Digest, u64, bool)>, // digest, size, is a manifest
    pub(super) subject: Option<String>,
    pub(super) artifact_type: Option<String>,
    pub(super) annotations: Option<String>,
}

pub(super) fn manifest_invalid(msg: impl std::fmt::Display) -> Response {
    err(StatusCode::BAD_REQUEST, "MANIFEST_INVALID", msg)
}

/// Validates a manifest's structure (not yet whether what it references exists).
pub(super) fn check_manifest(
    bytes: &[u8],
    content_type: Option<&str>,
) -> std::result::Result<Checked, Response> {
    let v: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| manifest_invalid(format!("not JSON: {e}")))?;
    if !v.is_object() {
        return Err(manifest_invalid("not a JSON object"));
    }
    if v.get("schemaVersion").and_then(|s| s.as_u64()) != Some(2) {
        return Err(manifest_invalid("schemaVersion must be 2"));
    }
    let body_mt = v.get("mediaType").and_then(|m| m.as_str());
    if let (Some(b), Some(c)) = (body_mt, content_type) {
        if b != c {
            return Err(manifest_invalid(format!(
                "mediaType {b:?} differs from Content-Type {c:?}"
            )));
        }
    }
    let mt = body_mt
        .or(content_type)
        .map(str::to_string)
        .unwrap_or_else(|| {
            if v.get("manifests").is_some() {
                media::OCI_INDEX.into()
            } else {
                media::OCI_MANIFEST.into()
            }
        });
    let desc =
        |d: &serde_json::Value, what: &str| -> std::result::Result<(Digest, u64), Response> {
            let digest = d
                .get("digest")
                .and_then(|x| x.as_str())
                .ok_or_else(|| manifest_invalid(format!("{what} has no digest")))?;
            let digest: Digest = digest.parse().map_err(|e| {
                err(
                    StatusCode::BAD_REQUEST,
                    "DIGEST_INVALID",
                    format!("{what}: {e}"),
                )
            })?;
            let size = d
                .get("size")
                .and_then(|x| x.as_u64())
                .ok_or_else(|| manifest_invalid(format!("{what} has no valid size")))?;
            if d.get("mediaType").and_then(|m| m.as_str()).is_none() {
                return Err(manifest_invalid(format!("{what} has no mediaType")));
            }
            Ok((digest, size))
        };
    let mut children = Vec::new();
    if mt == media::OCI_MANIFEST || mt == media::DOCKER_MANIFEST {
        let cfg = v
            .get("config")
            .ok_or_else(|| manifest_invalid("an image manifest needs a config"))?;
        let (d, s) = desc(cfg, "config")?;
        children.push((d, s, false));
        let layers = v
            .get("layers")
            .and_then(|l| l.as_array())
            .ok_or_else(|| manifest_invalid("an image manifest needs a layers array"))?;
        for (i, l) in layers.iter().enumerate() {
            let (d, s) = desc(l, &format!("layer {i}"))?;
            // Foreign layers (with urls) are not expected to be in the registry.
            if l.get("urls").is_none() {
                children.push((d, s, false));
            }
        }
    } else if mt == media::OCI_INDEX || mt == media::DOCKER_MANIFEST_LIST {
        let ms = v
            .get("manifests")
            .and_then(|l| l.as_array())
            .ok_or_else(|| manifest_invalid("an index needs a manifests array"))?;
        for (i, m) in ms.iter().enumerate() {
            let (d, s) = desc(m, &format!("manifest {i}"))?;
            children.push((d, s, true));
        }
    } else {
        return Err(manifest_invalid(format!(
            "unsupported manifest media type {mt:?}"
        )));
    }
    let subject = match v.get("subject") {
        Some(s) => Some(desc(s, "subject")?.0.to_string()),
        None => None,
    };
    let artifact_type = v
        .get("artifactType")
        .and_then(|a| a.as_str())
        .map(str::to_string)
        .or_else(|| {
            v.get("config")
                .and_then(|c| c.get("mediaType"))
                .and_then(|m| m.as_str())
                .map(str::to_string)
        });
    let annotations = v.get("annotations").map(|a| a.to_string());
    Ok(Checked {
        media_type: mt,
        children,
        subject,
        artifact_type,
        annotations,
    })
}

pub(super) async fn put_manifest(
    st: &AppState,
    name: &str,
    reference: &str,
    headers: &HeaderMap,
    body: Body,
) -> Response {
    let by_digest = reference.contains(':');
    if by_digest {
        if let Err(r) = parse_digest(reference) {
            return r;
        }
    } else if !valid_tag(reference) {
        return err(
            StatusCode::BAD_REQUEST,
            "TAG_INVALID",
            format!("invalid tag {reference:?}"),
        );
    }
    let bytes = match read_limited(body, MAX_MANIFEST).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let ct = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(|s| s.split(';').next().unwrap_or("").trim().to_string())
        .filter(|s| !s.is_empty() && s != "application/json" && s != "application/octet-stream");
    let checked = match check_manifest(&bytes, ct.as_deref()) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let digest = Digest::of(&bytes);
    if by_digest && reference != digest.to_string() {
        return err(
            StatusCode::BAD_REQUEST,
            "DIGEST_INVALID",
            format!("the manifest's digest is {digest}, not {reference}"),
        );
    }
    // The content first, then the reference (a crash leaves only an unreferenced file).
    let path = blob_path(&st.root, &digest);
    if !path.exists() {
        let tmp = st
            .root
            .join("uploads")
            .join(format!("manifest-{}", random_id()));
        let w = std::fs::write(&tmp, &bytes)
            .and_then(|_| std::fs::File::open(&tmp)?.sync_all())
            .and_then(|_| std::fs::rename(&tmp, &path));
        if let Err(e) = w {
            let _ = std::fs::remove_file(&tmp);
            return internal(format!("store manifest {digest}: {e}"));
        }
    }
    let res = (|| -> std::result::Result<(), Response> {
        let mut db = st.db.lock().unwrap();
        let tx = db
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(internal)?;
        for (d, size, is_manifest) in &checked.children {
            let found: Option<i64> = if *is_manifest {
                tx.query_row(
                    "SELECT size FROM manifests WHERE repo = ?1 AND digest = ?2",
                    [name, &d.to_string()],
                    |r| r.get(0),
                )
                .optional()
                .map_err(internal)?
            } else {
                let linked: Option<i64> = tx
                    .query_row(
                        "SELECT 1 FROM blob_links WHERE repo = ?1 AND digest = ?2",
                        [name, &d.to_string()],
                        |r| r.get(0),
                    )
                    .optional()
                    .map_err(internal)?;
                match linked {
                    Some(_) => std::fs::metadata(blob_path(&st.root, d))
                        .ok()
                        .map(|m| m.len() as i64),
                    None => None,
                }
            };
            match found {
                None => {
                    return Err(err(
                        StatusCode::BAD_REQUEST,
                        "MANIFEST_BLOB_UNKNOWN",
                        format!(
                            "{} {d} referenced by the manifest is not in repository {name}",
                            if *is_manifest { "manifest" } else { "blob" }
                        ),
                    ))
                }
                Some(s) if s as u64 != *size => {
                    return Err(manifest_invalid(format!(
                        "{d} is {s} bytes but the manifest says {size}"
                    )))
                }
                Some(_) => {}
            }
        }
        if !path.exists() {
            return Err(internal(format!("manifest file {digest} vanished; retry")));
        }
        let ds = digest.to_string();
        tx.execute(
            "INSERT INTO manifests (repo, digest, media_type, size, subject, artifact_type, annotations, created) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT(repo, digest) DO NOTHING",
            params![name, ds, checked.media_type, bytes.len() as i64, checked.subject, checked.artifact_type, checked.annotations, meta::now()],
        )
        .map_err(internal)?;
        for (d, _, _) in &checked.children {
            tx.execute(
                "INSERT OR IGNORE INTO manifest_refs (repo, manifest, child) VALUES (?1, ?2, ?3)",
                params![name, ds, d.to_string()],
            )
            .map_err(internal)?;
        }
        if !by_digest {
            tx.execute(
                "INSERT INTO tags (repo, tag, digest) VALUES (?1, ?2, ?3) ON CONFLICT(repo, tag) DO UPDATE SET digest = excluded.digest",
                params![name, reference, ds],
            )
            .map_err(internal)?;
        }
        tx.commit().map_err(internal)?;
        Ok(())
    })();
    if let Err(r) = res {
        return r;
    }
    let mut h = vec![
        ("location", format!("/v2/{name}/manifests/{digest}")),
        ("docker-content-digest", digest.to_string()),
    ];
    if let Some(s) = &checked.subject {
        h.push(("oci-subject", s.clone()));
    }
    empty(StatusCode::CREATED, &h)
}

pub(super) fn delete_manifest(st: &AppState, name: &str, reference: &str) -> Response {
    let mut db = st.db.lock().unwrap();
    let res = (|| -> rusqlite::Result<bool> {
        let tx = db.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let n = if reference.starts_with("sha256:") {
            tx.execute(
                "DELETE FROM tags WHERE repo = ?1 AND digest = ?2",
                [name, reference],
            )?;
            tx.execute(
                "DELETE FROM manifest_refs WHERE repo = ?1 AND manifest = ?2",
                [name, reference],
            )?;
            tx.execute(
                "DELETE FROM manifests WHERE repo = ?1 AND digest = ?2",
                [name, reference],
            )?
        } else {
            tx.execute(
                "DELETE FROM tags WHERE repo = ?1 AND tag = ?2",
                [name, reference],
            )?
        };
        tx.commit()?;
        Ok(n > 0)
    })();
    match res {
        Ok(true) => empty(StatusCode::ACCEPTED, &[]),
        Ok(false) => err(
            StatusCode::NOT_FOUND,
            "MANIFEST_UNKNOWN",
            format!("manifest {name}:{reference} is not known"),
        ),
        Err(e) => internal(e),
    }
}

pub(super) fn referrers(st: &AppState, name: &str, d: &str, qs: &[(String, String)]) -> Response {
    if let Err(r) = parse_digest(d) {
        return r;
    }
    let filter = q(qs, "artifactType");
    let db = st.db.lock().unwrap();
    type Row = (String, String, i64, Option<String>, Option<String>);
    let rows: rusqlite::Result<Vec<Row>> = db
        .prepare_cached(
            "SELECT digest, media_type, size, artifact_type, annotations FROM manifests WHERE repo = ?1 AND subject = ?2 ORDER BY digest",
        )
        .and_then(|mut s| {
            s.query_map([name, d], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))?
                .collect()
        });
    let rows = match rows {
        Ok(r) => r,
        Err(e) => return internal(e),
    };
    let manifests: Vec<serde_json::Value> = rows
        .into_iter()
        .filter(|r| filter.is_none_or(|f| r.3.as_deref() == Some(f)))
        .map(|(digest, mt, size, at, ann)| {
            let mut o = serde_json::json!({"mediaType": mt, "digest": digest, "size": size});
            if let Some(at) = at {
                o["artifactType"] = at.into();
            }
            if let Some(a) = ann.and_then(|a| serde_json::from_str::<serde_json::Value>(&a).ok()) {
                o["annotations"] = a;
            }
            o
        })
        .collect();
    let body = serde_json::json!({"schemaVersion": 2, "mediaType": media::OCI_INDEX, "manifests": manifests});
    let mut h = vec![("content-type", media::OCI_INDEX.to_string())];
    if filter.is_some() {
        h.push(("oci-filters-applied", "artifactType".into()));
    }
    with_headers((StatusCode::OK, body.to_string()).into_response(), &h)
}

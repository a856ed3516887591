//! Blobs (HEAD, ranged GET, DELETE) and uploads (monolithic, chunked, resumable, mounts).

#![allow(clippy::result_large_err)]

use super::*;

pub(super) fn linked(db: &Connection, name: &str, d: &Digest) -> rusqlite::Result<bool> {
    Ok(db
        .query_row(
            "SELECT 1 FROM blob_links WHERE repo = ?1 AND digest = ?2",
            [name, &d.to_string()],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

/// `bytes=N-` or `bytes=N-M` → (start, inclusive end) within `size`.
pub fn parse_range(v: &str, size: u64) -> Option<(u64, u64)> {
    let spec = v.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (a, b) = spec.split_once('-')?;
    if a.is_empty() {
        // Suffix: the last N bytes.
        let n: u64 = b.parse().ok()?;
        if n == 0 || size == 0 {
            return None;
        }
        return Some((size.saturating_sub(n), size - 1));
    }
    let start: u64 = a.parse().ok()?;
    let end: u64 = if b.is_empty() {
        size.checked_sub(1)?
    } else {
        b.parse().ok()?
    };
    (start <= end && start < size).then_some((start, end.min(size - 1)))
}

pub(super) async fn get_blob(
    st: &AppState,
    name: &str,
    d: &str,
    headers: &HeaderMap,
    head: bool,
) -> Response {
    let d = match parse_digest(d) {
        Ok(d) => d,
        Err(r) => return r,
    };
    let unknown = || {
        err(
            StatusCode::NOT_FOUND,
            "BLOB_UNKNOWN",
            format!("blob {d} is not in repository {name}"),
        )
    };
    match linked(&st.db.lock().unwrap(), name, &d) {
        Ok(true) => {}
        Ok(false) => return unknown(),
        Err(e) => return internal(e),
    }
    let path = blob_path(&st.root, &d);
    let mut f = match tokio::fs::File::open(&path).await {
        Ok(f) => f,
        Err(_) => return unknown(),
    };
    let size = match f.metadata().await {
        Ok(m) => m.len(),
        Err(e) => return internal(e),
    };
    let mut h = vec![
        ("content-type", "application/octet-stream".to_string()),
        ("docker-content-digest", d.to_string()),
        ("accept-ranges", "bytes".into()),
        ("etag", format!("\"{d}\"")),
    ];
    let range = headers.get("range").and_then(|v| v.to_str().ok());
    let (status, start, len) = match range {
        Some(r) => match parse_range(r, size) {
            Some((s, e)) => {
                h.push(("content-range", format!("bytes {s}-{e}/{size}")));
                (StatusCode::PARTIAL_CONTENT, s, e - s + 1)
            }
            None => {
                return with_headers(
                    err(
                        StatusCode::RANGE_NOT_SATISFIABLE,
                        "BLOB_UNKNOWN",
                        format!("range {r} is outside blob {d} ({size} bytes)"),
                    ),
                    &[("content-range", format!("bytes */{size}"))],
                )
            }
        },
        None => (StatusCode::OK, 0, size),
    };
    h.push(("content-length", len.to_string()));
    if head {
        return empty(status, &h);
    }
    if start > 0 {
        if let Err(e) = f.seek(std::io::SeekFrom::Start(start)).await {
            return internal(e);
        }
    }
    use tokio::io::AsyncReadExt;
    let stream = tokio_util::io::ReaderStream::with_capacity(f.take(len), 256 * 1024);
    with_headers((status, Body::from_stream(stream)).into_response(), &h)
}

pub(super) fn delete_blob(st: &AppState, name: &str, d: &str) -> Response {
    let d = match parse_digest(d) {
        Ok(d) => d,
        Err(r) => return r,
    };
    match st.db.lock().unwrap().execute(
        "DELETE FROM blob_links WHERE repo = ?1 AND digest = ?2",
        [name, &d.to_string()],
    ) {
        Ok(0) => err(
            StatusCode::NOT_FOUND,
            "BLOB_UNKNOWN",
            format!("blob {d} is not in repository {name}"),
        ),
        Ok(_) => empty(StatusCode::ACCEPTED, &[]),
        Err(e) => internal(e),
    }
}

// ---------- uploads ----------

pub(super) fn random_id() -> String {
    let b: [u8; 16] = rand::random();
    hex::encode(b)
}

pub(super) fn valid_upload_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

pub(super) fn upload_path(root: &Path, id: &str) -> PathBuf {
    root.join("uploads").join(id)
}

pub(super) fn upload_headers(name: &str, id: &str, size: u64) -> Vec<(&'static str, String)> {
    vec![
        ("location", format!("/v2/{name}/blobs/uploads/{id}")),
        ("docker-upload-uuid", id.to_string()),
        ("range", format!("0-{}", size.saturating_sub(1))),
    ]
}

pub(super) fn upload_unknown(id: &str) -> Response {
    err(
        StatusCode::NOT_FOUND,
        "BLOB_UPLOAD_UNKNOWN",
        format!("upload {id} is not known (it finished, was cancelled or expired)"),
    )
}

/// Links a verified blob file into a repository (checking, under the write lock, that the
/// file is still there).
pub(super) fn link(
    st: &AppState,
    name: &str,
    d: &Digest,
    upload: Option<&str>,
) -> std::result::Result<(), Response> {
    let mut db = st.db.lock().unwrap();
    let tx = db
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(internal)?;
    if !blob_path(&st.root, d).exists() {
        return Err(internal(format!(
            "blob {d} vanished before it was linked; retry"
        )));
    }
    tx.execute(
        "INSERT INTO blob_links (repo, digest, created) VALUES (?1, ?2, ?3) ON CONFLICT(repo, digest) DO UPDATE SET created = excluded.created",
        params![name, d.to_string(), meta::now()],
    )
    .map_err(internal)?;
    if let Some(id) = upload {
        tx.execute("DELETE FROM uploads WHERE id = ?1", [id])
            .map_err(internal)?;
    }
    tx.commit().map_err(internal)
}

pub(super) fn blob_created(name: &str, d: &Digest) -> Response {
    empty(
        StatusCode::CREATED,
        &[
            ("location", format!("/v2/{name}/blobs/{d}")),
            ("docker-content-digest", d.to_string()),
        ],
    )
}

pub(super) async fn start_upload(
    st: &AppState,
    name: &str,
    qs: &[(String, String)],
    headers: &HeaderMap,
    body: Body,
) -> Response {
    // Cross-repository mount.
    if let (Some(m), Some(from)) = (q(qs, "mount"), q(qs, "from")) {
        let d = match parse_digest(m) {
            Ok(d) => d,
            Err(r) => return r,
        };
        if valid_repo(from) {
            let ok = linked(&st.db.lock().unwrap(), from, &d).unwrap_or(false);
            if ok && link(st, name, &d, None).is_ok() {
                return blob_created(name, &d);
            }
        }
        // Not mountable: fall through to a normal upload session, as the spec says.
    }
    let id = random_id();
    let path = upload_path(&st.root, &id);
    if let Err(e) = tokio::fs::File::create(&path).await {
        return internal(format!("create upload {}: {e}", path.display()));
    }
    if let Err(e) = st.db.lock().unwrap().execute(
        "INSERT INTO uploads (id, repo, started, updated) VALUES (?1, ?2, ?3, ?3)",
        params![id, name, meta::now()],
    ) {
        return internal(e);
    }
    st.hashers
        .lock()
        .unwrap()
        .insert(id.clone(), (0, Hasher::default()));
    // Monolithic upload in one POST.
    if let Some(d) = q(qs, "digest") {
        let qs2 = vec![("digest".to_string(), d.to_string())];
        return put_upload(st, name, &id, &qs2, headers, body).await;
    }
    empty(StatusCode::ACCEPTED, &upload_headers(name, &id, 0))
}

/// Checks that an upload session exists and belongs to `name`; returns its current size.
pub(super) fn session(st: &AppState, name: &str, id: &str) -> std::result::Result<u64, Response> {
    if !valid_upload_id(id) {
        return Err(upload_unknown(id));
    }
    let repo: Option<String> = st
        .db
        .lock()
        .unwrap()
        .query_row("SELECT repo FROM uploads WHERE id = ?1", [id], |r| r.get(0))
        .optional()
        .map_err(internal)?;
    match repo {
        Some(r) if r == name => {}
        _ => return Err(upload_unknown(id)),
    }
    std::fs::metadata(upload_path(&st.root, id))
        .map(|m| m.len())
        .map_err(|_| upload_unknown(id))
}

/// Appends a request body to an upload, keeping the running hash when it is in step.
pub(super) async fn append(
    st: &AppState,
    id: &str,
    start: u64,
    body: Body,
) -> std::result::Result<u64, Response> {
    let path = upload_path(&st.root, id);
    let mut f = tokio::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .await
        .map_err(|_| upload_unknown(id))?;
    let mut hasher = {
        let mut hs = st.hashers.lock().unwrap();
        match hs.remove(id) {
            Some((n, h)) if n == start => Some(h),
            _ => None,
        }
    };
    let mut size = start;
    let mut body = body;
    let mut failure = None;
    while let Some(frame) = body.frame().await {
        let data = match frame {
            Ok(f) => match f.into_data() {
                Ok(d) => d,
                Err(_) => continue,
            },
            Err(e) => {
                // The client went away: keep what arrived, so it can resume from here.
                failure = Some(err(
                    StatusCode::BAD_REQUEST,
                    "BLOB_UPLOAD_INVALID",
                    format!("upload broke off: {e}"),
                ));
                break;
            }
        };
        if size + data.len() as u64 > st.max_upload {
            failure = Some(err(
                StatusCode::PAYLOAD_TOO_LARGE,
                "SIZE_INVALID",
                format!(
                    "blob larger than this registry's limit of {} bytes",
                    st.max_upload
                ),
            ));
            break;
        }
        if let Err(e) = f.write_all(&data).await {
            failure = Some(internal(format!("write upload: {e}")));
            break;
        }
        if let Some(h) = hasher.as_mut() {
            h.update(&data);
        }
        size += data.len() as u64;
    }
    let _ = f.flush().await;
    if let Some(h) = hasher {
        st.hashers.lock().unwrap().insert(id.to_string(), (size, h));
    }
    let _ = st.db.lock().unwrap().execute(
        "UPDATE uploads SET updated = ?2 WHERE id = ?1",
        params![id, meta::now()],
    );
    match failure {
        Some(r) => Err(r),
        None => Ok(size),
    }
}

pub(super) fn content_length(h: &HeaderMap) -> Option<u64> {
    h.get("content-length")?.to_str().ok()?.parse().ok()
}

pub(super) async fn patch_upload(
    st: &AppState,
    name: &str,
    id: &str,
    headers: &HeaderMap,
    body: Body,
) -> Response {
    let size = match session(st, name, id) {
        Ok(s) => s,
        Err(r) => return r,
    };
    if let Some(cr) = headers.get("content-range").and_then(|v| v.to_str().ok()) {
        let start = crate::client::parse_content_range_start(cr);
        if start != Some(size) {
            return with_headers(
                err(
                    StatusCode::RANGE_NOT_SATISFIABLE,
                    "BLOB_UPLOAD_INVALID",
                    format!("chunk starts at {cr:?} but the upload holds {size} bytes"),
                ),
                &upload_headers(name, id, size),
            );
        }
    }
    if content_length(headers).is_some_and(|n| size + n > st.max_upload) {
        return err(
            StatusCode::PAYLOAD_TOO_LARGE,
            "SIZE_INVALID",
            format!(
                "blob larger than this registry's limit of {} bytes",
                st.max_upload
            ),
        );
    }
    match append(st, id, size, body).await {
        Ok(n) => empty(StatusCode::ACCEPTED, &upload_headers(name, id, n)),
        Err(r) => r,
    }
}

pub(super) async fn put_upload(
    st: &AppState,
    name: &str,
    id: &str,
    qs: &[(String, String)],
    headers: &HeaderMap,
    body: Body,
) -> Response {
    let size = match session(st, name, id) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let Some(want) = q(qs, "digest") else {
        return err(
            StatusCode::BAD_REQUEST,
            "DIGEST_INVALID",
            "completing an upload needs ?digest=",
        );
    };
    let want = match parse_digest(want) {
        Ok(d) => d,
        Err(r) => return r,
    };
    if content_length(headers).is_some_and(|n| size + n > st.max_upload) {
        return err(
            StatusCode::PAYLOAD_TOO_LARGE,
            "SIZE_INVALID",
            format!(
                "blob larger than this registry's limit of {} bytes",
                st.max_upload
            ),
        );
    }
    let size = match append(st, id, size, body).await {
        Ok(n) => n,
        Err(r) => return r,
    };
    let path = upload_path(&st.root, id);
    let cached = st.hashers.lock().unwrap().remove(id);
    let got = match cached {
        Some((n, h)) if n == size => h.finish().0,
        _ => {
            let p = path.clone();
            match tokio::task::spawn_blocking(move || -> std::io::Result<Digest> {
                let mut f = std::fs::File::open(&p)?;
                let mut h = Hasher::default();
                let mut buf = vec![0u8; 1 << 20];
                loop {
                    let n = f.read(&mut buf)?;
                    if n == 0 {
                        break;
                    }
                    h.update(&buf[..n]);
                }
                Ok(h.finish().0)
            })
            .await
            {
                Ok(Ok(d)) => d,
                Ok(Err(e)) => return internal(format!("hash upload: {e}")),
                Err(e) => return internal(e),
            }
        }
    };
    let drop_session = || {
        let _ = std::fs::remove_file(&path);
        let _ = st
            .db
            .lock()
            .unwrap()
            .execute("DELETE FROM uploads WHERE id = ?1", [id]);
    };
    if got != want {
        drop_session();
        return err(
            StatusCode::BAD_REQUEST,
            "DIGEST_INVALID",
            format!("uploaded content has digest {got}, not {want}; the upload was discarded"),
        );
    }
    let target = blob_path(&st.root, &want);
    let p = path.clone();
    let t = target.clone();
    let moved = tokio::task::spawn_blocking(move || -> std::io::Result<()> {
        if t.exists() {
            std::fs::remove_file(&p)
        } else {
            std::fs::File::open(&p)?.sync_all()?;
            std::fs::rename(&p, &t)?;
            if let Some(dir) = t.parent() {
                std::fs::File::open(dir)?.sync_all()?;
            }
            Ok(())
        }
    })
    .await;
    match moved {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return internal(format!("store blob {want}: {e}")),
        Err(e) => return internal(e),
    }
    if let Err(r) = link(st, name, &want, Some(id)) {
        return r;
    }
    blob_created(name, &want)
}

pub(super) fn upload_status(st: &AppState, name: &str, id: &str) -> Response {
    match session(st, name, id) {
        Ok(size) => empty(StatusCode::NO_CONTENT, &upload_headers(name, id, size)),
        Err(r) => r,
    }
}

pub(super) fn cancel_upload(st: &AppState, name: &str, id: &str) -> Response {
    if let Err(r) = session(st, name, id) {
        return r;
    }
    let _ = std::fs::remove_file(upload_path(&st.root, id));
    st.hashers.lock().unwrap().remove(id);
    match st
        .db
        .lock()
        .unwrap()
        .execute("DELETE FROM uploads WHERE id = ?1", [id])
    {
        Ok(_) => empty(StatusCode::NO_CONTENT, &[]),
        Err(e) => internal(e),
    }
}

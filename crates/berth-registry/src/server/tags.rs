//! Tag listing and the catalog, with `n`/`last` pagination.

#![allow(clippy::result_large_err)]

use super::*;

pub(super) fn page(qs: &[(String, String)]) -> std::result::Result<(i64, String), Response> {
    let n = match q(qs, "n") {
        Some(v) => v.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
            err(
                StatusCode::BAD_REQUEST,
                "PAGINATION_NUMBER_INVALID",
                "n must be a non-negative number",
            )
        })?,
        None => 10_000,
    };
    Ok((n.min(10_000), q(qs, "last").unwrap_or("").to_string()))
}

pub(super) fn catalog(st: &AppState, qs: &[(String, String)]) -> Response {
    let (n, last) = match page(qs) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let db = st.db.lock().unwrap();
    let res: rusqlite::Result<Vec<String>> = db
        .prepare_cached(
            "SELECT repo FROM (SELECT repo FROM manifests UNION SELECT repo FROM tags) WHERE repo > ?1 ORDER BY repo LIMIT ?2",
        )
        .and_then(|mut s| {
            s.query_map(params![last, n + 1], |r| r.get(0))?
                .collect()
        });
    let mut repos = match res {
        Ok(v) => v,
        Err(e) => return internal(e),
    };
    let more = repos.len() as i64 > n;
    repos.truncate(n as usize);
    let body = serde_json::json!({ "repositories": repos }).to_string();
    let mut h = vec![];
    if more {
        if let Some(l) = repos.last() {
            h.push((
                "link",
                format!("</v2/_catalog?n={n}&last={l}>; rel=\"next\""),
            ));
        }
    }
    with_headers(
        ([("content-type", "application/json")], body).into_response(),
        &h,
    )
}

pub(super) fn tags_list(st: &AppState, name: &str, qs: &[(String, String)]) -> Response {
    let (n, last) = match page(qs) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let db = st.db.lock().unwrap();
    let known: rusqlite::Result<Option<i64>> = db
        .query_row(
            "SELECT 1 FROM manifests WHERE repo = ?1 UNION SELECT 1 FROM tags WHERE repo = ?1 LIMIT 1",
            [name],
            |r| r.get(0),
        )
        .optional();
    match known {
        Ok(Some(_)) => {}
        Ok(None) => {
            return err(
                StatusCode::NOT_FOUND,
                "NAME_UNKNOWN",
                format!("repository {name} is not known"),
            )
        }
        Err(e) => return internal(e),
    }
    let res: rusqlite::Result<Vec<String>> = db
        .prepare_cached("SELECT tag FROM tags WHERE repo = ?1 AND tag > ?2 ORDER BY tag LIMIT ?3")
        .and_then(|mut s| {
            s.query_map(params![name, last, n + 1], |r| r.get(0))?
                .collect()
        });
    let mut tags = match res {
        Ok(v) => v,
        Err(e) => return internal(e),
    };
    let more = tags.len() as i64 > n;
    tags.truncate(n as usize);
    let mut h = vec![];
    if more {
        if let Some(l) = tags.last() {
            h.push((
                "link",
                format!("</v2/{name}/tags/list?n={n}&last={l}>; rel=\"next\""),
            ));
        }
    }
    let body = serde_json::json!({ "name": name, "tags": tags }).to_string();
    with_headers(
        ([("content-type", "application/json")], body).into_response(),
        &h,
    )
}

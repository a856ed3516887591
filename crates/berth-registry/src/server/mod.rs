//! `berth registry serve`: an OCI distribution-spec registry on axum/tokio.
//!
//! Blobs: HEAD/GET (with `Range`), DELETE; uploads: monolithic (`POST ?digest=` or
//! POST + PUT), chunked (`PATCH` with or without `Content-Range`, resumable: `GET` on the
//! session tells the offset), cross-repository mounts. Manifests by tag and digest (OCI and
//! Docker schema 2, images and indexes), validated before they are stored; tag listing and
//! catalog with `n`/`last` pagination; the referrers API; DELETE. Auth: none, basic
//! against an htpasswd file, or bearer tokens issued by `/token` after an htpasswd check.
//! Errors use the distribution spec's codes.

// Handlers return `Result<_, Response>` so that an early error is the HTTP answer itself;
// a Response is large, but these paths run once per request, not in loops.
#![allow(clippy::result_large_err)]

pub mod meta;

use crate::auth::{scope_allows, Grant, Htpasswd, TokenSigner};
use crate::error::{Error, IoContext, Result};
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use base64::Engine;
use berth_image::digest::{Digest, Hasher};
use berth_image::media;
use http_body_util::BodyExt;
use rusqlite::{params, Connection, OptionalExtension};
use sha2::{Digest as _, Sha256};
use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncSeekExt, AsyncWriteExt};

/// How clients authenticate.
#[derive(Debug, Clone)]
pub enum AuthMode {
    None,
    /// Basic auth on every request, checked against an htpasswd file.
    Basic(PathBuf),
    /// Bearer tokens from `/token`, which checks basic credentials against the file.
    Token(PathBuf),
}

#[derive(Debug, Clone)]
pub struct Config {
    pub addr: String,
    pub root: PathBuf,
    pub auth: AuthMode,
    /// PEM certificate chain and key: serve https.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Largest blob accepted, in bytes.
    pub max_upload: u64,
}

const MAX_MANIFEST: usize = 4 << 20;
const SERVICE: &str = "berth-registry";
const TOKEN_TTL: i64 = 900;

struct AppState {
    root: PathBuf,
    db: Mutex<Connection>,
    htpasswd: Option<Htpasswd>,
    token_mode: bool,
    signer: TokenSigner,
    /// sha256 of `user:password` pairs bcrypt already accepted (bcrypt is slow by design).
    verified: Mutex<HashSet<[u8; 32]>>,
    max_upload: u64,
    /// Running hash of each upload, valid while it covers the whole file.
    hashers: Mutex<HashMap<String, (u64, Hasher)>>,
    tls: bool,
}

type Shared = Arc<AppState>;

/// Runs the registry until the process is stopped.
pub fn run(cfg: Config) -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .ctx("start runtime", &cfg.root)?;
    rt.block_on(serve(cfg))
}

async fn serve(cfg: Config) -> Result<()> {
    std::fs::create_dir_all(&cfg.root).ctx("create directory", &cfg.root)?;
    let conn = meta::open(&cfg.root)?;
    let (htpasswd, token_mode) = match &cfg.auth {
        AuthMode::None => (None, false),
        AuthMode::Basic(p) => (Some(Htpasswd::load(p)?), false),
        AuthMode::Token(p) => (Some(Htpasswd::load(p)?), true),
    };
    let key = token_key(&cfg.root)?;
    let state = Arc::new(AppState {
        root: cfg.root.clone(),
        db: Mutex::new(conn),
        htpasswd,
        token_mode,
        signer: TokenSigner::new(key),
        verified: Mutex::new(HashSet::new()),
        max_upload: cfg.max_upload,
        hashers: Mutex::new(HashMap::new()),
        tls: cfg.tls.is_some(),
    });
    let app = Router::new()
        .route("/token", axum::routing::get(token))
        .fallback(dispatch)
        .with_state(state);
    let listener = tokio::net::TcpListener::bind(&cfg.addr)
        .await
        .map_err(|e| Error::invalid(format!("cannot listen on {}: {e}", cfg.addr)))?;
    let local = listener
        .local_addr()
        .map_err(|e| Error::invalid(format!("listening socket: {e}")))?;
    let acceptor = match &cfg.tls {
        Some((cert, key)) => Some(tls_acceptor(cert, key)?),
        None => None,
    };
    eprintln!(
        "berth registry serving {} on {}://{local}",
        cfg.root.display(),
        if acceptor.is_some() { "https" } else { "http" }
    );
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!("accept: {e}");
                continue;
            }
        };
        let app = app.clone();
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let svc = hyper_util::service::TowerToHyperService::new(app);
            let builder = hyper::server::conn::http1::Builder::new();
            let res = match acceptor {
                Some(a) => match a.accept(stream).await {
                    Ok(tls) => {
                        builder
                            .serve_connection(hyper_util::rt::TokioIo::new(tls), svc)
                            .await
                    }
                    Err(e) => {
                        tracing::debug!("tls handshake: {e}");
                        return;
                    }
                },
                None => {
                    builder
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                        .await
                }
            };
            if let Err(e) = res {
                tracing::debug!("connection: {e}");
            }
        });
    }
}

fn tls_acceptor(cert: &Path, key: &Path) -> Result<tokio_rustls::TlsAcceptor> {
    let certs = rustls_pemfile::certs(&mut std::io::BufReader::new(
        std::fs::File::open(cert).ctx("open certificate", cert)?,
    ))
    .collect::<std::result::Result<Vec<_>, _>>()
    .ctx("read certificate", cert)?;
    let key_der = rustls_pemfile::private_key(&mut std::io::BufReader::new(
        std::fs::File::open(key).ctx("open private key", key)?,
    ))
    .ctx("read private key", key)?
    .ok_or_else(|| Error::invalid(format!("{}: no private key found", key.display())))?;
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let cfg = tokio_rustls::rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::invalid(format!("tls: {e}")))?
        .with_no_client_auth()
        .with_single_cert(certs, key_der)
        .map_err(|e| Error::invalid(format!("tls certificate {}: {e}", cert.display())))?;
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(cfg)))
}

/// The token signing key, kept in the root so tokens survive a restart.
fn token_key(root: &Path) -> Result<Vec<u8>> {
    use std::os::unix::fs::OpenOptionsExt;
    let p = root.join("token.key");
    if let Ok(k) = std::fs::read(&p) {
        if k.len() >= 32 {
            return Ok(k);
        }
    }
    let k: [u8; 32] = rand::random();
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&p)
        .ctx("create", &p)?;
    std::io::Write::write_all(&mut f, &k).ctx("write", &p)?;
    Ok(k.to_vec())
}

// ---------- responses ----------

fn err(status: StatusCode, code: &str, msg: impl std::fmt::Display) -> Response {
    let body =
        serde_json::json!({"errors": [{"code": code, "message": msg.to_string(), "detail": null}]});
    (
        status,
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn internal(e: impl std::fmt::Display) -> Response {
    tracing::error!("{e}");
    err(StatusCode::INTERNAL_SERVER_ERROR, "UNKNOWN", e)
}

fn with_headers(mut r: Response, h: &[(&str, String)]) -> Response {
    for (k, v) in h {
        if let Ok(v) = HeaderValue::from_str(v) {
            r.headers_mut().insert(
                axum::http::HeaderName::from_bytes(k.as_bytes()).expect("static header name"),
                v,
            );
        }
    }
    r.headers_mut().insert(
        "docker-distribution-api-version",
        HeaderValue::from_static("registry/2.0"),
    );
    r
}

fn empty(status: StatusCode, h: &[(&str, String)]) -> Response {
    with_headers((status, Body::empty()).into_response(), h)
}

// ---------- names ----------

/// A repository name as the spec allows (`a/b-c/d_e.f`), so no path tricks get through.
pub fn valid_repo(name: &str) -> bool {
    name.len() <= 255
        && berth_image::reference::Reference::parse(&format!("localhost/{name}"))
            .is_ok_and(|r| r.path == name && r.tag.is_none() && r.digest.is_none())
}

fn valid_tag(t: &str) -> bool {
    let b = t.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

enum Route {
    Ping,
    Catalog,
    Tags(String),
    Manifest(String, String),
    Blob(String, String),
    Upload(String, String),
    Referrers(String, String),
}

fn route(path: &str) -> Option<Route> {
    let rest = path.strip_prefix("/v2")?;
    if rest.is_empty() || rest == "/" {
        return Some(Route::Ping);
    }
    let rest = rest.strip_prefix('/')?;
    if rest == "_catalog" {
        return Some(Route::Catalog);
    }
    if let Some(name) = rest.strip_suffix("/tags/list") {
        return Some(Route::Tags(name.into()));
    }
    if let Some(i) = rest.rfind("/manifests/") {
        return Some(Route::Manifest(rest[..i].into(), rest[i + 11..].into()));
    }
    if let Some(name) = rest.strip_suffix("/blobs/uploads") {
        return Some(Route::Upload(name.into(), String::new()));
    }
    if let Some(i) = rest.rfind("/blobs/uploads/") {
        return Some(Route::Upload(rest[..i].into(), rest[i + 15..].into()));
    }
    if let Some(i) = rest.rfind("/blobs/") {
        return Some(Route::Blob(rest[..i].into(), rest[i + 7..].into()));
    }
    if let Some(i) = rest.rfind("/referrers/") {
        return Some(Route::Referrers(rest[..i].into(), rest[i + 11..].into()));
    }
    None
}

fn query(uri: &Uri) -> Vec<(String, String)> {
    url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

fn q<'a>(qs: &'a [(String, String)], k: &str) -> Option<&'a str> {
    qs.iter().find(|(a, _)| a == k).map(|(_, v)| v.as_str())
}

// ---------- auth ----------

impl AppState {
    fn check_password(&self, user: &str, pass: &str) -> bool {
        let Some(h) = &self.htpasswd else {
            return false;
        };
        let key: [u8; 32] = Sha256::digest(format!("{user}\0{pass}")).into();
        if self.verified.lock().unwrap().contains(&key) {
            return true;
        }
        if h.verify(user, pass) {
            self.verified.lock().unwrap().insert(key);
            true
        } else {
            false
        }
    }

    fn basic_user(&self, headers: &HeaderMap) -> Option<String> {
        let v = headers.get("authorization")?.to_str().ok()?;
        let b = v
            .strip_prefix("Basic ")
            .or_else(|| v.strip_prefix("basic "))?;
        let raw = base64::engine::general_purpose::STANDARD
            .decode(b.trim())
            .ok()?;
        let raw = String::from_utf8(raw).ok()?;
        let (u, p) = raw.split_once(':')?;
        self.check_password(u, p).then(|| u.to_string())
    }

    /// `None` when the request may go on; otherwise the 401 to send.
    fn authorize(&self, headers: &HeaderMap, needs: &[(String, &str)]) -> Option<Response> {
        self.htpasswd.as_ref()?;
        let host = headers
            .get("host")
            .and_then(|h| h.to_str().ok())
            .unwrap_or("localhost");
        if !self.token_mode {
            if self.basic_user(headers).is_some() {
                return None;
            }
            let wrong = headers.contains_key("authorization");
            return Some(with_headers(
                err(
                    StatusCode::UNAUTHORIZED,
                    "UNAUTHORIZED",
                    if wrong {
                        "wrong user name or password"
                    } else {
                        "authentication required"
                    },
                ),
                &[("www-authenticate", format!("Basic realm=\"{SERVICE}\""))],
            ));
        }
        let grant = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .and_then(|t| self.signer.check(t.trim(), meta::now()));
        let ok = grant.as_ref().is_some_and(|g| {
            needs
                .iter()
                .all(|(res, action)| scope_allows(&g.access, res, action))
        });
        if ok {
            return None;
        }
        let scheme = if self.tls { "https" } else { "http" };
        let mut scope = String::new();
        let mut by_res: Vec<(String, Vec<&str>)> = Vec::new();
        for (res, action) in needs {
            match by_res.iter_mut().find(|(r, _)| r == res) {
                Some((_, a)) => a.push(action),
                None => by_res.push((res.clone(), vec![action])),
            }
        }
        for (res, actions) in by_res {
            if !scope.is_empty() {
                scope.push(' ');
            }
            scope.push_str(&format!("{res}:{}", actions.join(",")));
        }
        let mut ch = format!("Bearer realm=\"{scheme}://{host}/token\",service=\"{SERVICE}\"");
        if !scope.is_empty() {
            ch.push_str(&format!(",scope=\"{scope}\""));
        }
        Some(with_headers(
            err(
                StatusCode::UNAUTHORIZED,
                "UNAUTHORIZED",
                if grant.is_some() {
                    "the token does not grant this access"
                } else {
                    "authentication required"
                },
            ),
            &[("www-authenticate", ch)],
        ))
    }
}

/// `GET /token`: basic credentials in, a bearer token for the requested scopes out.
async fn token(State(st): State<Shared>, headers: HeaderMap, uri: Uri) -> Response {
    if st.htpasswd.is_none() || !st.token_mode {
        return err(
            StatusCode::NOT_FOUND,
            "UNSUPPORTED",
            "this registry does not issue tokens",
        );
    }
    let Some(user) = st.basic_user(&headers) else {
        return with_headers(
            err(
                StatusCode::UNAUTHORIZED,
                "UNAUTHORIZED",
                if headers.contains_key("authorization") {
                    "wrong user name or password"
                } else {
                    "give credentials to get a token"
                },
            ),
            &[("www-authenticate", format!("Basic realm=\"{SERVICE}\""))],
        );
    };
    let qs = query(&uri);
    let mut access = Vec::new();
    for (k, v) in &qs {
        if k != "scope" {
            continue;
        }
        for s in v.split(' ').filter(|s| !s.is_empty()) {
            // repository:NAME:ACTIONS or registry:catalog:*; every user may do everything.
            let parts: Vec<&str> = s.rsplitn(2, ':').collect();
            if parts.len() == 2 && parts[1].contains(':') {
                access.push(s.to_string());
            }
        }
    }
    let t = st.signer.issue(&Grant {
        sub: user,
        exp: meta::now() + TOKEN_TTL,
        access,
    });
    let body = serde_json::json!({"token": t, "access_token": t, "expires_in": TOKEN_TTL});
    ([("content-type", "application/json")], body.to_string()).into_response()
}

// ---------- dispatch ----------

async fn dispatch(
    State(st): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Some(r) = route(uri.path()) else {
        return err(
            StatusCode::NOT_FOUND,
            "UNSUPPORTED",
            format!("no such endpoint: {}", uri.path()),
        );
    };
    let qs = query(&uri);
    let repo_of = |r: &Route| -> Option<String> {
        match r {
            Route::Tags(n)
            | Route::Manifest(n, _)
            | Route::Blob(n, _)
            | Route::Upload(n, _)
            | Route::Referrers(n, _) => Some(n.clone()),
            _ => None,
        }
    };
    if let Some(name) = repo_of(&r) {
        if !valid_repo(&name) {
            return err(
                StatusCode::BAD_REQUEST,
                "NAME_INVALID",
                format!("invalid repository name {name:?}"),
            );
        }
    }
    // Which access this request needs.
    let action = match method {
        Method::GET | Method::HEAD => "pull",
        Method::DELETE => "delete",
        _ => "push",
    };
    let mut needs: Vec<(String, &str)> = Vec::new();
    match (&r, repo_of(&r)) {
        (Route::Catalog, _) => needs.push(("registry:catalog".into(), "*")),
        (_, Some(name)) => {
            if action == "push" {
                needs.push((format!("repository:{name}"), "pull"));
            }
            needs.push((format!("repository:{name}"), action));
            if let (Route::Upload(_, _), Some(from)) = (&r, q(&qs, "from")) {
                if valid_repo(from) && method == Method::POST && q(&qs, "mount").is_some() {
                    needs.push((format!("repository:{from}"), "pull"));
                }
            }
        }
        _ => {}
    }
    if let Some(resp) = st.authorize(&headers, &needs) {
        return resp;
    }
    let head = method == Method::HEAD;
    let resp = match (r, method.clone()) {
        (Route::Ping, Method::GET | Method::HEAD) => with_headers(
            ([("content-type", "application/json")], "{}").into_response(),
            &[],
        ),
        (Route::Catalog, Method::GET) => catalog(&st, &qs),
        (Route::Tags(n), Method::GET) => tags_list(&st, &n, &qs),
        (Route::Manifest(n, rf), Method::GET | Method::HEAD) => get_manifest(&st, &n, &rf, head),
        (Route::Manifest(n, rf), Method::PUT) => put_manifest(&st, &n, &rf, &headers, body).await,
        (Route::Manifest(n, rf), Method::DELETE) => delete_manifest(&st, &n, &rf),
        (Route::Blob(n, d), Method::GET | Method::HEAD) => {
            get_blob(&st, &n, &d, &headers, head).await
        }
        (Route::Blob(n, d), Method::DELETE) => delete_blob(&st, &n, &d),
        (Route::Upload(n, id), Method::POST) if id.is_empty() => {
            start_upload(&st, &n, &qs, &headers, body).await
        }
        (Route::Upload(n, id), Method::PATCH) if !id.is_empty() => {
            patch_upload(&st, &n, &id, &headers, body).await
        }
        (Route::Upload(n, id), Method::PUT) if !id.is_empty() => {
            put_upload(&st, &n, &id, &qs, &headers, body).await
        }
        (Route::Upload(n, id), Method::GET) if !id.is_empty() => upload_status(&st, &n, &id),
        (Route::Upload(n, id), Method::DELETE) if !id.is_empty() => cancel_upload(&st, &n, &id),
        (Route::Referrers(n, d), Method::GET) => referrers(&st, &n, &d, &qs),
        _ => err(
            StatusCode::METHOD_NOT_ALLOWED,
            "UNSUPPORTED",
            format!("{method} is not supported on {}", uri.path()),
        ),
    };
    tracing::debug!(%method, path = uri.path(), status = resp.status().as_u16(), "request");
    with_headers(resp, &[])
}

fn parse_digest(s: &str) -> std::result::Result<Digest, Response> {
    s.parse::<Digest>()
        .map_err(|e| err(StatusCode::BAD_REQUEST, "DIGEST_INVALID", e))
}

// ---------- catalog and tags ----------

fn page(qs: &[(String, String)]) -> std::result::Result<(i64, String), Response> {
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

fn catalog(st: &AppState, qs: &[(String, String)]) -> Response {
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

fn tags_list(st: &AppState, name: &str, qs: &[(String, String)]) -> Response {
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

// ---------- manifests ----------

fn blob_path(root: &Path, d: &Digest) -> PathBuf {
    root.join("blobs/sha256").join(d.hex())
}

fn lookup_manifest(
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

fn get_manifest(st: &AppState, name: &str, reference: &str, head: bool) -> Response {
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
async fn read_limited(body: Body, limit: usize) -> std::result::Result<Vec<u8>, Response> {
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

struct Checked {
    media_type: String,
    children: Vec<(Digest, u64, bool)>, // digest, size, is a manifest
    subject: Option<String>,
    artifact_type: Option<String>,
    annotations: Option<String>,
}

fn manifest_invalid(msg: impl std::fmt::Display) -> Response {
    err(StatusCode::BAD_REQUEST, "MANIFEST_INVALID", msg)
}

/// Validates a manifest's structure (not yet whether what it references exists).
fn check_manifest(
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

async fn put_manifest(
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

fn delete_manifest(st: &AppState, name: &str, reference: &str) -> Response {
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

fn referrers(st: &AppState, name: &str, d: &str, qs: &[(String, String)]) -> Response {
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

// ---------- blobs ----------

fn linked(db: &Connection, name: &str, d: &Digest) -> rusqlite::Result<bool> {
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

async fn get_blob(st: &AppState, name: &str, d: &str, headers: &HeaderMap, head: bool) -> Response {
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

fn delete_blob(st: &AppState, name: &str, d: &str) -> Response {
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

fn random_id() -> String {
    let b: [u8; 16] = rand::random();
    hex::encode(b)
}

fn valid_upload_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

fn upload_path(root: &Path, id: &str) -> PathBuf {
    root.join("uploads").join(id)
}

fn upload_headers(name: &str, id: &str, size: u64) -> Vec<(&'static str, String)> {
    vec![
        ("location", format!("/v2/{name}/blobs/uploads/{id}")),
        ("docker-upload-uuid", id.to_string()),
        ("range", format!("0-{}", size.saturating_sub(1))),
    ]
}

fn upload_unknown(id: &str) -> Response {
    err(
        StatusCode::NOT_FOUND,
        "BLOB_UPLOAD_UNKNOWN",
        format!("upload {id} is not known (it finished, was cancelled or expired)"),
    )
}

/// Links a verified blob file into a repository (checking, under the write lock, that the
/// file is still there).
fn link(
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

fn blob_created(name: &str, d: &Digest) -> Response {
    empty(
        StatusCode::CREATED,
        &[
            ("location", format!("/v2/{name}/blobs/{d}")),
            ("docker-content-digest", d.to_string()),
        ],
    )
}

async fn start_upload(
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
fn session(st: &AppState, name: &str, id: &str) -> std::result::Result<u64, Response> {
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
async fn append(
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

fn content_length(h: &HeaderMap) -> Option<u64> {
    h.get("content-length")?.to_str().ok()?.parse().ok()
}

async fn patch_upload(
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

async fn put_upload(
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

fn upload_status(st: &AppState, name: &str, id: &str) -> Response {
    match session(st, name, id) {
        Ok(size) => empty(StatusCode::NO_CONTENT, &upload_headers(name, id, size)),
        Err(r) => r,
    }
}

fn cancel_upload(st: &AppState, name: &str, id: &str) -> Response {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert!(matches!(route("/v2/"), Some(Route::Ping)));
        assert!(matches!(route("/v2"), Some(Route::Ping)));
        assert!(matches!(route("/v2/_catalog"), Some(Route::Catalog)));
        assert!(matches!(route("/v2/a/b/tags/list"), Some(Route::Tags(n)) if n == "a/b"));
        assert!(
            matches!(route("/v2/a/manifests/x"), Some(Route::Manifest(n, r)) if n == "a" && r == "x")
        );
        assert!(
            matches!(route("/v2/a/b/blobs/uploads/"), Some(Route::Upload(n, i)) if n == "a/b" && i.is_empty())
        );
        assert!(
            matches!(route("/v2/a/blobs/uploads/abc"), Some(Route::Upload(n, i)) if n == "a" && i == "abc")
        );
        assert!(
            matches!(route("/v2/a/blobs/sha256:x"), Some(Route::Blob(n, d)) if n == "a" && d == "sha256:x")
        );
        assert!(matches!(
            route("/v2/a/referrers/sha256:x"),
            Some(Route::Referrers(..))
        ));
        assert!(route("/v1/x").is_none());
    }

    #[test]
    fn names() {
        assert!(valid_repo("a/b-c/d_e.f"));
        for bad in [
            "", "../x", "a/../b", "a/./b", "A", "a//b", "%2e%2e/x", "a/", "/a", "a b",
        ] {
            assert!(!valid_repo(bad), "{bad:?}");
        }
    }

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-", 10), Some((0, 9)));
        assert_eq!(parse_range("bytes=5-7", 10), Some((5, 7)));
        assert_eq!(parse_range("bytes=5-100", 10), Some((5, 9)));
        assert_eq!(parse_range("bytes=-3", 10), Some((7, 9)));
        assert_eq!(parse_range("bytes=10-", 10), None);
        assert_eq!(parse_range("bytes=7-5", 10), None);
        assert_eq!(parse_range("bytes=0-1,3-4", 10), None);
        assert_eq!(parse_range("items=0-1", 10), None);
    }

    #[test]
    fn manifest_checks() {
        let d = Digest::of(b"x");
        let ok = format!(
            r#"{{"schemaVersion":2,"mediaType":"{}","config":{{"mediaType":"{}","digest":"{d}","size":1}},"layers":[]}}"#,
            media::OCI_MANIFEST,
            media::OCI_CONFIG
        );
        let c = check_manifest(ok.as_bytes(), None).unwrap_or_else(|_| panic!("valid"));
        assert_eq!(c.children.len(), 1);
        assert!(check_manifest(ok.as_bytes(), Some(media::DOCKER_MANIFEST)).is_err());
        assert!(check_manifest(b"[]", None).is_err());
        assert!(check_manifest(br#"{"schemaVersion":1}"#, None).is_err());
        assert!(check_manifest(
            br#"{"schemaVersion":2,"config":{"mediaType":"x","digest":"sha256:zz","size":1},"layers":[]}"#,
            None
        )
        .is_err());
    }
}

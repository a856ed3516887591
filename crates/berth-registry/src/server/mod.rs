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

mod blobs;
mod manifests;
pub mod meta;
mod tags;

use blobs::*;
use manifests::*;
use tags::*;

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

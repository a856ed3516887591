//! A distribution API v2 (OCI distribution spec) client: endpoint discovery (https, or http
//! for insecure registries), auth challenges with basic and bearer-token flows, blob
//! HEAD/GET with ranges, monolithic and chunked uploads that resume from the server's
//! offset, cross-repository mounts, manifests and indexes, and tag listing.
//!
//! The client is blocking (reqwest's blocking client): callers run transfers on threads,
//! which fits the store's `Read`-based layer ingestion.

use crate::auth::{parse_challenges, AuthFiles, Challenge, Credentials};
use crate::error::{Error, Result};
use berth_image::digest::Digest;
use berth_image::media;
use reqwest::blocking::{Body, Client as Http, RequestBuilder, Response};
use reqwest::header::{HeaderMap, ACCEPT, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, LOCATION};
use reqwest::{Method, StatusCode};
use std::collections::HashMap;
use std::io::Read;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

/// Largest manifest or index berth reads or writes (distribution's own limit is 4 MiB).
pub const MAX_MANIFEST: u64 = 4 << 20;

/// The default of `berth registry serve --max-upload-size`, as the flag spells it.
pub const DEFAULT_MAX_UPLOAD: &str = "10GB";

/// Every manifest type berth understands, for `Accept`.
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json";

pub use crate::settings::{Endpoint, Settings};

/// How to reach registries: TLS policy, credentials, transfer tuning.
#[derive(Debug, Clone)]
pub struct Options {
    /// `--tls-verify=false`: allow http and unverified https for every registry.
    pub tls_verify: bool,
    pub settings: Settings,
    pub auth: AuthFiles,
    /// Explicit credentials (`--creds`), overriding the auth files.
    pub credentials: Option<Credentials>,
    /// Layers transferred at once.
    pub max_concurrent: usize,
    /// Chunk size of chunked uploads; blobs up to this size go in one request.
    pub chunk_size: u64,
}

impl Options {
    pub fn from_env() -> Result<Options> {
        Ok(Options {
            tls_verify: true,
            settings: Settings::load()?,
            auth: AuthFiles::from_env(None),
            credentials: None,
            max_concurrent: 3,
            chunk_size: 16 << 20,
        })
    }

    #[cfg(test)]
    fn insecure(&self, registry: &str) -> bool {
        !self.tls_verify || self.settings.is_insecure(registry)
    }
}

/// Opens (again, for a retry) the bytes of a request body.
pub type OpenBody<'a> = dyn Fn() -> Result<Box<dyn Read + Send>> + 'a;

/// The answer to starting an upload.
pub enum UploadStart {
    /// The blob was mounted from another repository: nothing to send.
    Mounted,
    /// An upload session at this URL.
    Session(String),
}

/// A connection to one registry.
pub struct Client {
    http: Http,
    base: String,
    pub registry: String,
    creds: Option<Credentials>,
    challenge: Mutex<Option<Challenge>>,
    tokens: Mutex<HashMap<String, String>>,
}

fn transport(registry: &str, e: reqwest::Error) -> Error {
    let mut msg = e.to_string();
    let mut src = std::error::Error::source(&e);
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    Error::Connect {
        registry: registry.to_string(),
        detail: msg,
    }
}

/// The message of a distribution error body (`{"errors":[{"code","message"}]}`), or the
/// start of whatever else the server said.
fn error_message(body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct E {
        code: Option<String>,
        message: Option<String>,
    }
    #[derive(serde::Deserialize)]
    struct Es {
        errors: Vec<E>,
    }
    if let Ok(es) = serde_json::from_slice::<Es>(body) {
        let parts: Vec<String> = es
            .errors
            .into_iter()
            .map(|e| match (e.code, e.message) {
                (Some(c), Some(m)) => format!("{c}: {m}"),
                (Some(c), None) => c,
                (None, Some(m)) => m,
                (None, None) => "error".into(),
            })
            .collect();
        if !parts.is_empty() {
            return parts.join("; ");
        }
    }
    let s = String::from_utf8_lossy(&body[..body.len().min(300)])
        .trim()
        .to_string();
    if s.is_empty() {
        "no details given".into()
    } else {
        s
    }
}

impl Client {
    /// Connects to `registry` (host[:port] as in image references) for repository `path`
    /// (used to pick credentials), pinging `/v2/` to learn the scheme and auth challenge.
    pub fn connect(registry: &str, path: &str, opts: &Options) -> Result<Client> {
        let ep = opts
            .settings
            .endpoints(registry, false, opts.tls_verify)?
            .pop()
            .expect("a registry has an endpoint or an error");
        Client::connect_endpoint(registry, path, opts, &ep)
    }

    /// Connects to `registry` at one of its endpoints (its own address, or a mirror).
    pub fn connect_endpoint(
        registry: &str,
        path: &str,
        opts: &Options,
        ep: &Endpoint,
    ) -> Result<Client> {
        let creds = match &opts.credentials {
            Some(c) => Some(c.clone()),
            None => opts.auth.lookup(&ep.host, path)?,
        };
        let insecure = ep.insecure;
        let http = Http::builder()
            .danger_accept_invalid_certs(insecure)
            .connect_timeout(Duration::from_secs(30))
            .timeout(None)
            .pool_max_idle_per_host(opts.max_concurrent.max(1) * 2)
            .user_agent(concat!("berth/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| transport(registry, e))?;
        let mut last = None;
        for base in ep.bases.iter().cloned() {
            match http.get(format!("{base}/v2/")).send() {
                Ok(resp) => {
                    let c = Client {
                        http,
                        base,
                        registry: registry.to_string(),
                        creds,
                        challenge: Mutex::new(None),
                        tokens: Mutex::new(HashMap::new()),
                    };
                    c.learn(&resp);
                    let status = resp.status();
                    if !(status.is_success() || status == StatusCode::UNAUTHORIZED) {
                        return Err(Error::Status {
                            registry: registry.into(),
                            what: format!("GET {}/v2/ (is this a registry?)", c.base),
                            status: status.as_u16(),
                            message: error_message(&resp.bytes().unwrap_or_default()),
                        });
                    }
                    tracing::debug!(base = %c.base, "registry endpoint");
                    return Ok(c);
                }
                Err(e) => last = Some(transport(registry, e)),
            }
        }
        let e = last.expect("at least one endpoint was tried");
        Err(match e {
            Error::Connect { registry, detail } if ep.host != registry => Error::Connect {
                detail: format!("{detail} (at {})", ep.describe()),
                registry,
            },
            Error::Connect { registry, detail } if !insecure => Error::Connect {
                detail: format!("{detail} (for a registry served over plain http or with a self-signed certificate, pass --tls-verify=false or list it under \"insecure\" in {})", Settings::path().display()),
                registry,
            },
            e => e,
        })
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// Remembers the auth challenge of a 401 answer.
    fn learn(&self, resp: &Response) {
        if resp.status() != StatusCode::UNAUTHORIZED {
            return;
        }
        let all: Vec<Challenge> = resp
            .headers()
            .get_all(reqwest::header::WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(parse_challenges)
            .collect();
        let pick = all
            .iter()
            .find(|c| c.scheme == "bearer")
            .or_else(|| all.iter().find(|c| c.scheme == "basic"))
            .cloned();
        if pick.is_some() {
            *self.challenge.lock().unwrap() = pick;
        }
    }

    fn login_hint(&self) -> String {
        match &self.creds {
            Some(c) => format!(
                "the credentials of user {:?} were refused (wrong user name or password?); run `berth login {}` again",
                c.username, self.registry
            ),
            None => format!(
                "the registry requires authentication: run `berth login {}` first",
                self.registry
            ),
        }
    }

    /// Fetches a bearer token for `scopes` from the challenge's realm.
    fn fetch_token(&self, ch: &Challenge, scopes: &[String]) -> Result<String> {
        let realm = ch.params.get("realm").ok_or_else(|| {
            Error::invalid(format!(
                "registry {} sent a Bearer challenge without a realm",
                self.registry
            ))
        })?;
        let mut url = url::Url::parse(realm).map_err(|e| {
            Error::invalid(format!(
                "registry {} sent a token realm that is not a URL ({realm:?}): {e}",
                self.registry
            ))
        })?;
        {
            let mut q = url.query_pairs_mut();
            if let Some(s) = ch.params.get("service") {
                q.append_pair("service", s);
            }
            for s in scopes {
                q.append_pair("scope", s);
            }
            if let Some(c) = &self.creds {
                q.append_pair("account", &c.username);
            }
        }
        let mut rb = self.http.get(url.as_str());
        if let Some(c) = &self.creds {
            rb = rb.header(AUTHORIZATION, c.basic_header());
        }
        let resp = rb.send().map_err(|e| transport(&self.registry, e))?;
        let status = resp.status();
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return Err(Error::Unauthorized {
                registry: self.registry.clone(),
                what: format!("a token for {}", scopes.join(" ")),
                detail: self.login_hint(),
            });
        }
        let body = resp.bytes().map_err(|e| transport(&self.registry, e))?;
        if !status.is_success() {
            return Err(Error::Status {
                registry: self.registry.clone(),
                what: format!("token request to {realm}"),
                status: status.as_u16(),
                message: error_message(&body),
            });
        }
        #[derive(serde::Deserialize)]
        struct T {
            token: Option<String>,
            access_token: Option<String>,
        }
        let t: T = serde_json::from_slice(&body).map_err(|e| {
            Error::invalid(format!(
                "token server {realm} answered something that is not a token ({e})"
            ))
        })?;
        t.token
            .or(t.access_token)
            .ok_or_else(|| Error::invalid(format!("token server {realm} answered without a token")))
    }

    fn auth_header(&self, scopes: &[String], refresh: bool) -> Result<Option<String>> {
        let ch = self.challenge.lock().unwrap().clone();
        match ch {
            None => Ok(None),
            Some(c) if c.scheme == "basic" => Ok(self.creds.as_ref().map(|c| c.basic_header())),
            Some(c) => {
                let key = scopes.join(" ");
                if !refresh {
                    if let Some(t) = self.tokens.lock().unwrap().get(&key) {
                        return Ok(Some(format!("Bearer {t}")));
                    }
                }
                let t = self.fetch_token(&c, scopes)?;
                self.tokens.lock().unwrap().insert(key, t.clone());
                Ok(Some(format!("Bearer {t}")))
            }
        }
    }

    /// Checks that the registry accepts this client's credentials (for `berth login`).
    pub fn check_login(&self) -> Result<()> {
        let ch = self.challenge.lock().unwrap().clone();
        match ch {
            None => Ok(()),
            Some(c) if c.scheme == "bearer" => self.fetch_token(&c, &[]).map(|_| ()),
            Some(_) => {
                let mut rb = self.http.get(format!("{}/v2/", self.base));
                if let Some(c) = &self.creds {
                    rb = rb.header(AUTHORIZATION, c.basic_header());
                }
                let resp = rb.send().map_err(|e| transport(&self.registry, e))?;
                if resp.status().is_success() {
                    Ok(())
                } else {
                    Err(Error::Unauthorized {
                        registry: self.registry.clone(),
                        what: "login".into(),
                        detail: self.login_hint(),
                    })
                }
            }
        }
    }

    /// Sends a request built by `build` (called again for the retry after a 401, so bodies
    /// can be re-created), with the auth header for `scopes`.
    pub fn send(
        &self,
        scopes: &[String],
        what: &str,
        build: &dyn Fn(&Http) -> Result<RequestBuilder>,
    ) -> Result<Response> {
        for attempt in 0..2 {
            let mut rb = build(&self.http)?;
            if let Some(h) = self.auth_header(scopes, attempt > 0)? {
                rb = rb.header(AUTHORIZATION, h);
            }
            let resp = rb.send().map_err(|e| transport(&self.registry, e))?;
            if resp.status() == StatusCode::UNAUTHORIZED {
                if attempt == 0 {
                    self.learn(&resp);
                    continue;
                }
                let msg = error_message(&resp.bytes().unwrap_or_default());
                return Err(Error::Unauthorized {
                    registry: self.registry.clone(),
                    what: what.to_string(),
                    detail: format!("{} ({msg})", self.login_hint()),
                });
            }
            if resp.status() == StatusCode::FORBIDDEN {
                let msg = error_message(&resp.bytes().unwrap_or_default());
                return Err(Error::Unauthorized {
                    registry: self.registry.clone(),
                    what: what.to_string(),
                    detail: format!("access denied: {msg}"),
                });
            }
            return Ok(resp);
        }
        unreachable!("the loop returns on its second attempt")
    }

    fn fail(&self, what: &str, resp: Response) -> Error {
        let status = resp.status();
        let body = resp.bytes().unwrap_or_default();
        if status == StatusCode::NOT_FOUND {
            return Error::NotFound {
                registry: self.registry.clone(),
                what: format!("{what} ({})", error_message(&body)),
            };
        }
        let mut message = error_message(&body);
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            message.push_str(&format!(
                " (the registry, or a proxy in front of it, refuses uploads this large: for `berth registry serve` raise --max-upload-size (default {}), for a proxy its request body limit; a smaller --chunk-size only helps against a limit per request)",
                DEFAULT_MAX_UPLOAD
            ));
        }
        Error::Status {
            registry: self.registry.clone(),
            what: what.to_string(),
            status: status.as_u16(),
            message,
        }
    }

    pub fn url(&self, repo: &str, rest: &str) -> String {
        format!("{}/v2/{repo}/{rest}", self.base)
    }

    /// Resolves an upload `Location` (absolute or relative) against the endpoint.
    fn absolute(&self, loc: &str) -> Result<url::Url> {
        let base = url::Url::parse(&self.base).map_err(|e| Error::invalid(e.to_string()))?;
        base.join(loc).map_err(|e| {
            Error::invalid(format!(
                "registry {} sent an invalid upload location {loc:?}: {e}",
                self.registry
            ))
        })
    }

    /// `HEAD` a blob: its size when the repository has it.
    pub fn blob_size(&self, repo: &str, d: &Digest, scopes: &[String]) -> Result<Option<u64>> {
        let url = self.url(repo, &format!("blobs/{d}"));
        let resp = self.send(scopes, &format!("HEAD blob {d} in {repo}"), &|h| {
            Ok(h.head(&url))
        })?;
        match resp.status() {
            s if s.is_success() => Ok(Some(
                resp.headers()
                    .get(CONTENT_LENGTH)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0),
            )),
            StatusCode::NOT_FOUND => Ok(None),
            _ => Err(self.fail(&format!("HEAD blob {d} in {repo}"), resp)),
        }
    }

    /// `GET` a blob from `offset` on. Returns the response and where its body starts (0 when
    /// the server ignored the range).
    pub fn get_blob(&self, repo: &str, d: &Digest, offset: u64) -> Result<(Response, u64)> {
        let url = self.url(repo, &format!("blobs/{d}"));
        let scopes = [pull_scope(repo)];
        let what = format!("GET blob {d} of {repo}");
        let resp = self.send(&scopes, &what, &|h| {
            let mut rb = h.get(&url);
            if offset > 0 {
                rb = rb.header(reqwest::header::RANGE, format!("bytes={offset}-"));
            }
            Ok(rb)
        })?;
        match resp.status() {
            StatusCode::PARTIAL_CONTENT => {
                let start = resp
                    .headers()
                    .get(reqwest::header::CONTENT_RANGE)
                    .and_then(|v| v.to_str().ok())
                    .and_then(parse_content_range_start);
                match start {
                    Some(s) if s == offset => Ok((resp, offset)),
                    other => Err(Error::invalid(format!(
                        "registry {} answered a range request for {d} at {offset} with content range starting at {other:?}",
                        self.registry
                    ))),
                }
            }
            s if s.is_success() => Ok((resp, 0)),
            _ => Err(self.fail(&what, resp)),
        }
    }

    /// Reads a small blob (a config) whole and checks its digest.
    pub fn get_small_blob(&self, repo: &str, d: &Digest, size: u64) -> Result<Vec<u8>> {
        if size > 64 << 20 {
            return Err(Error::invalid(format!(
                "blob {d} of {repo} is {size} bytes, too large for an image config"
            )));
        }
        let (resp, _) = self.get_blob(repo, d, 0)?;
        let mut v = Vec::new();
        resp.take(size + 1)
            .read_to_end(&mut v)
            .map_err(|e| Error::Connect {
                registry: self.registry.clone(),
                detail: format!("reading blob {d}: {e}"),
            })?;
        let got = Digest::of(&v);
        if &got != d {
            return Err(Error::DigestMismatch {
                what: format!("blob {d} from {}/{repo}", self.registry),
                expected: d.to_string(),
                actual: got.to_string(),
            });
        }
        Ok(v)
    }

    /// Fetches a manifest or index by tag or digest; verifies it against a digest reference
    /// (and the server's `Docker-Content-Digest`). Returns bytes, media type and digest.
    pub fn get_manifest(&self, repo: &str, reference: &str) -> Result<(Vec<u8>, String, Digest)> {
        let url = self.url(repo, &format!("manifests/{reference}"));
        let what = format!("manifest {repo}:{reference}");
        let resp = self.send(&[pull_scope(repo)], &what, &|h| {
            Ok(h.get(&url).header(ACCEPT, MANIFEST_ACCEPT))
        })?;
        if !resp.status().is_success() {
            return Err(self.fail(&what, resp));
        }
        let server_digest = header_digest(resp.headers());
        let ct = resp
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.split(';').next().unwrap_or("").trim().to_string());
        let mut bytes = Vec::new();
        resp.take(MAX_MANIFEST + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| Error::Connect {
                registry: self.registry.clone(),
                detail: format!("reading {what}: {e}"),
            })?;
        if bytes.len() as u64 > MAX_MANIFEST {
            return Err(Error::invalid(format!(
                "{what} on {} is larger than {MAX_MANIFEST} bytes",
                self.registry
            )));
        }
        let digest = Digest::of(&bytes);
        let expected = reference.parse::<Digest>().ok().or(server_digest);
        if let Some(want) = expected {
            if want != digest {
                return Err(Error::DigestMismatch {
                    what: format!("{what} from {}", self.registry),
                    expected: want.to_string(),
                    actual: digest.to_string(),
                });
            }
        }
        let mt = manifest_media_type(&bytes, ct.as_deref())?;
        Ok((bytes, mt, digest))
    }

    /// Uploads a manifest under a tag or its digest; returns the digest the registry names.
    pub fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        bytes: &[u8],
        media_type: &str,
    ) -> Result<Digest> {
        let url = self.url(repo, &format!("manifests/{reference}"));
        let what = format!("PUT manifest {repo}:{reference}");
        let body = bytes.to_vec();
        let resp = self.send(&[push_scope(repo)], &what, &|h| {
            Ok(h.put(&url)
                .header(CONTENT_TYPE, media_type)
                .body(body.clone()))
        })?;
        if !resp.status().is_success() {
            return Err(self.fail(&what, resp));
        }
        let local = Digest::of(bytes);
        if let Some(d) = header_digest(resp.headers()) {
            if d != local {
                return Err(Error::DigestMismatch {
                    what: format!("manifest stored by {}", self.registry),
                    expected: local.to_string(),
                    actual: d.to_string(),
                });
            }
        }
        Ok(local)
    }

    /// Every tag of a repository, following `Link` pagination.
    pub fn tags(&self, repo: &str) -> Result<Vec<String>> {
        let mut out = Vec::new();
        let mut next = Some(self.url(repo, "tags/list?n=1000"));
        while let Some(url) = next.take() {
            let what = format!("tag list of {repo}");
            let resp = self.send(&[pull_scope(repo)], &what, &|h| Ok(h.get(&url)))?;
            if !resp.status().is_success() {
                return Err(self.fail(&what, resp));
            }
            next = resp
                .headers()
                .get(reqwest::header::LINK)
                .and_then(|v| v.to_str().ok())
                .and_then(parse_next_link)
                .map(|l| self.absolute(&l).map(|u| u.to_string()))
                .transpose()?;
            #[derive(serde::Deserialize)]
            struct Tags {
                tags: Option<Vec<String>>,
            }
            let body = resp.bytes().map_err(|e| transport(&self.registry, e))?;
            let t: Tags = serde_json::from_slice(&body)
                .map_err(|e| Error::invalid(format!("{what} from {}: {e}", self.registry)))?;
            out.extend(t.tags.unwrap_or_default());
        }
        Ok(out)
    }

    /// Starts an upload, trying a cross-repository mount first when `mount_from` is given.
    pub fn start_upload(
        &self,
        repo: &str,
        d: &Digest,
        mount_from: Option<&str>,
    ) -> Result<UploadStart> {
        let mut scopes = vec![push_scope(repo)];
        let mut url = self.url(repo, "blobs/uploads/");
        if let Some(from) = mount_from {
            scopes.push(pull_scope(from));
            url.push_str(&format!("?mount={d}&from={from}"));
        }
        let what = format!("start upload of {d} to {repo}");
        let resp = self.send(&scopes, &what, &|h| {
            Ok(h.post(&url).header(CONTENT_LENGTH, 0))
        })?;
        match resp.status() {
            StatusCode::CREATED => Ok(UploadStart::Mounted),
            StatusCode::ACCEPTED => Ok(UploadStart::Session(self.location(&resp, &what)?)),
            _ => Err(self.fail(&what, resp)),
        }
    }

    fn location(&self, resp: &Response, what: &str) -> Result<String> {
        let loc = resp
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                Error::invalid(format!(
                    "registry {} answered {what} without a Location",
                    self.registry
                ))
            })?;
        Ok(self.absolute(loc)?.to_string())
    }

    /// How many bytes an upload session holds, or `None` when the server forgot it.
    pub fn upload_offset(&self, repo: &str, location: &str) -> Result<Option<u64>> {
        let what = format!("upload status in {repo}");
        let resp = self.send(&[push_scope(repo)], &what, &|h| Ok(h.get(location)))?;
        match resp.status() {
            s if s.is_success() => Ok(Some(
                resp.headers()
                    .get(reqwest::header::RANGE)
                    .and_then(|v| v.to_str().ok())
                    .and_then(held_from_range)
                    .unwrap_or(0),
            )),
            StatusCode::NOT_FOUND => Ok(None),
            _ => Err(self.fail(&what, resp)),
        }
    }

    /// Sends one chunk (`PATCH` with `Content-Range`); returns the next location and the
    /// server's offset after it.
    pub fn upload_chunk(
        &self,
        repo: &str,
        location: &str,
        offset: u64,
        len: u64,
        open: &OpenBody<'_>,
    ) -> Result<(String, u64)> {
        let what = format!("upload chunk at {offset} to {repo}");
        let resp = self.send(&[push_scope(repo)], &what, &|h| {
            Ok(h.request(Method::PATCH, location)
                .header(CONTENT_TYPE, "application/octet-stream")
                .header(
                    reqwest::header::CONTENT_RANGE,
                    format!("{offset}-{}", offset + len - 1),
                )
                .header(CONTENT_LENGTH, len)
                .body(read_body(open, len)?))
        })?;
        if !resp.status().is_success() {
            return Err(self.fail(&what, resp));
        }
        let loc = self.location(&resp, &what)?;
        let end = resp
            .headers()
            .get(reqwest::header::RANGE)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_range_end)
            .map(|e| e + 1)
            .unwrap_or(offset + len);
        Ok((loc, end))
    }

    /// Completes an upload (`PUT ?digest=`), sending `body` (the rest of the blob) if any.
    pub fn finish_upload(
        &self,
        repo: &str,
        location: &str,
        d: &Digest,
        body: Option<(u64, &OpenBody<'_>)>,
    ) -> Result<()> {
        let mut url = self.absolute(location)?;
        url.query_pairs_mut().append_pair("digest", &d.to_string());
        let what = format!("complete upload of {d} to {repo}");
        let resp = self.send(&[push_scope(repo)], &what, &|h| {
            let rb = h.put(url.as_str());
            Ok(match &body {
                Some((len, open)) => rb
                    .header(CONTENT_TYPE, "application/octet-stream")
                    .header(CONTENT_LENGTH, *len)
                    .body(read_body(*open, *len)?),
                None => rb.header(CONTENT_LENGTH, 0),
            })
        })?;
        if !resp.status().is_success() {
            return Err(self.fail(&what, resp));
        }
        if let Some(got) = header_digest(resp.headers()) {
            if &got != d {
                return Err(Error::DigestMismatch {
                    what: format!("blob stored by {}", self.registry),
                    expected: d.to_string(),
                    actual: got.to_string(),
                });
            }
        }
        Ok(())
    }
}

/// The body of one upload request, read into memory. Requests are at most a chunk
/// (`Options::chunk_size`) long, and a body in one buffer goes to the socket in large
/// writes: reqwest's blocking client pumps a streamed (`Read`) body through a channel in
/// 8 KiB pieces, a thread switch each, which made pushes several times slower in `sys`.
fn read_body(open: &OpenBody<'_>, len: u64) -> Result<Body> {
    let mut v = Vec::with_capacity(len as usize);
    open()?
        .take(len)
        .read_to_end(&mut v)
        .map_err(|e| Error::Io {
            op: "read blob to upload",
            path: PathBuf::new(),
            source: e,
        })?;
    if (v.len() as u64) < len {
        return Err(Error::invalid(format!(
            "the blob to upload ended after {} of {len} bytes",
            v.len()
        )));
    }
    Ok(Body::from(v))
}

pub fn pull_scope(repo: &str) -> String {
    format!("repository:{repo}:pull")
}

pub fn push_scope(repo: &str) -> String {
    format!("repository:{repo}:pull,push")
}

fn header_digest(h: &HeaderMap) -> Option<Digest> {
    h.get("docker-content-digest")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

/// The media type of a manifest: its own `mediaType`, else the Content-Type, else guessed
/// from its shape (an OCI index has `manifests`).
pub fn manifest_media_type(bytes: &[u8], content_type: Option<&str>) -> Result<String> {
    let v: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| Error::invalid(format!("manifest is not JSON: {e}")))?;
    if let Some(mt) = v.get("mediaType").and_then(|m| m.as_str()) {
        return Ok(mt.to_string());
    }
    if let Some(ct) = content_type.filter(|c| {
        [
            media::OCI_MANIFEST,
            media::OCI_INDEX,
            media::DOCKER_MANIFEST,
            media::DOCKER_MANIFEST_LIST,
        ]
        .contains(c)
    }) {
        return Ok(ct.to_string());
    }
    Ok(if v.get("manifests").is_some() {
        media::OCI_INDEX.into()
    } else {
        media::OCI_MANIFEST.into()
    })
}

pub fn is_index(mt: &str) -> bool {
    mt == media::OCI_INDEX || mt == media::DOCKER_MANIFEST_LIST
}

/// `bytes 100-199/1000` or `100-199/*` → 100.
pub fn parse_content_range_start(v: &str) -> Option<u64> {
    let v = v.trim();
    let v = v.strip_prefix("bytes").map(str::trim_start).unwrap_or(v);
    let v = v.strip_prefix('=').unwrap_or(v);
    v.split('-').next()?.trim().parse().ok()
}

/// Upload status `Range: 0-99` → 99 (the last byte the server holds).
pub fn parse_range_end(v: &str) -> Option<u64> {
    let v = v.trim();
    let v = v.strip_prefix("bytes=").unwrap_or(v);
    v.split_once('-')?.1.trim().parse().ok()
}

/// How many bytes an upload holds, from its status `Range`. Both distribution and berth's
/// server say `0-0` for an empty upload (and for one holding a single byte): read as empty,
/// since resuming from 0 is always safe while resuming from 1 fails forever on an empty one.
pub fn held_from_range(v: &str) -> Option<u64> {
    let end = parse_range_end(v)?;
    Some(if end == 0 { 0 } else { end + 1 })
}

/// `<url>; rel="next"` → url.
pub fn parse_next_link(v: &str) -> Option<String> {
    v.split(',').find_map(|part| {
        let (url, params) = part.split_once(';')?;
        params
            .split(';')
            .any(|p| p.trim().replace(' ', "") == "rel=\"next\"" || p.trim() == "rel=next")
            .then(|| {
                url.trim()
                    .trim_start_matches('<')
                    .trim_end_matches('>')
                    .to_string()
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_math() {
        assert_eq!(parse_content_range_start("bytes 100-199/1000"), Some(100));
        assert_eq!(parse_content_range_start("bytes=5-"), Some(5));
        assert_eq!(parse_content_range_start("bytes */1000"), None);
        assert_eq!(parse_range_end("0-99"), Some(99));
        assert_eq!(parse_range_end("bytes=0-0"), Some(0));
        assert_eq!(parse_range_end("junk"), None);
        assert_eq!(held_from_range("0-0"), Some(0));
        assert_eq!(held_from_range("0-99"), Some(100));
    }

    #[test]
    fn link_headers() {
        assert_eq!(
            parse_next_link(r#"</v2/a/tags/list?n=2&last=b>; rel="next""#).as_deref(),
            Some("/v2/a/tags/list?n=2&last=b")
        );
        assert_eq!(parse_next_link(r#"</x>; rel="prev""#), None);
    }

    #[test]
    fn insecure_setting() {
        let s = Settings::parse(r#"insecure = ["127.0.0.1:5000"]"#, false).unwrap();
        let o = Options {
            tls_verify: true,
            settings: s,
            auth: AuthFiles {
                read: vec![],
                write: PathBuf::from("/nonexistent"),
            },
            credentials: None,
            max_concurrent: 1,
            chunk_size: 1,
        };
        assert!(o.insecure("127.0.0.1:5000"));
        assert!(!o.insecure("127.0.0.1:5001"));
    }

    #[test]
    fn media_types() {
        assert_eq!(
            manifest_media_type(br#"{"schemaVersion":2,"manifests":[]}"#, None).unwrap(),
            media::OCI_INDEX
        );
        assert_eq!(
            manifest_media_type(br#"{"schemaVersion":2}"#, Some(media::DOCKER_MANIFEST)).unwrap(),
            media::DOCKER_MANIFEST
        );
        assert!(manifest_media_type(b"nope", None).is_err());
    }
}

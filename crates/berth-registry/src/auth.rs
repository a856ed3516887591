//! Credentials and authentication: the `auth.json` files podman, skopeo and Docker share,
//! `WWW-Authenticate` challenge parsing, htpasswd (bcrypt) checking, and the signed bearer
//! tokens `berth registry serve` hands out in token mode.

use crate::error::{Error, IoContext, Result};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// A user name and password (or identity token) for one registry.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({}, <hidden>)", self.username)
    }
}

impl Credentials {
    /// The value of a `Basic` Authorization header.
    pub fn basic_header(&self) -> String {
        format!(
            "Basic {}",
            B64.encode(format!("{}:{}", self.username, self.password))
        )
    }

    /// Decodes the `auth` field of auth.json (base64 of `user:password`).
    pub fn from_auth_field(s: &str) -> Option<Credentials> {
        let raw = B64.decode(s.trim()).ok()?;
        let raw = String::from_utf8(raw).ok()?;
        let (u, p) = raw.split_once(':')?;
        Some(Credentials {
            username: u.to_string(),
            password: p.to_string(),
        })
    }
}

/// Where credentials are read from, in order, and where `login` writes: the podman/skopeo
/// conventions (`REGISTRY_AUTH_FILE`, `$XDG_RUNTIME_DIR/containers/auth.json`,
/// `~/.config/containers/auth.json`) and Docker's `config.json` (`$DOCKER_CONFIG` or
/// `~/.docker`), so that existing logins work.
#[derive(Debug, Clone)]
pub struct AuthFiles {
    pub read: Vec<PathBuf>,
    pub write: PathBuf,
}

impl AuthFiles {
    /// The usual locations, from the environment; `explicit` (`--authfile`) overrides all.
    pub fn from_env(explicit: Option<&Path>) -> AuthFiles {
        let env = |k: &str| {
            std::env::var_os(k)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        if let Some(p) = explicit
            .map(Path::to_path_buf)
            .or_else(|| env("REGISTRY_AUTH_FILE"))
        {
            return AuthFiles {
                read: vec![p.clone()],
                write: p,
            };
        }
        let home = env("HOME").unwrap_or_else(|| PathBuf::from("/root"));
        let mut read = Vec::new();
        let runtime = env("XDG_RUNTIME_DIR").map(|d| d.join("containers/auth.json"));
        let config = env("XDG_CONFIG_HOME")
            .unwrap_or_else(|| home.join(".config"))
            .join("containers/auth.json");
        read.extend(runtime.clone());
        read.push(config.clone());
        read.push(
            env("DOCKER_CONFIG")
                .unwrap_or_else(|| home.join(".docker"))
                .join("config.json"),
        );
        AuthFiles {
            read,
            write: runtime.unwrap_or(config),
        }
    }

    /// Credentials for `registry` (a host[:port]) and repository path, most specific key
    /// first (`host/ns/repo`, `host/ns`, `host`), from the first file that has any.
    pub fn lookup(&self, registry: &str, path: &str) -> Result<Option<Credentials>> {
        for f in &self.read {
            let Some(doc) = read_json(f)? else { continue };
            if let Some(h) = helper_for(&doc, registry, f) {
                if let Some(c) = h.get(registry)? {
                    return Ok(Some(c));
                }
            }
            let Some(auths) = doc.get("auths").and_then(Value::as_object) else {
                continue;
            };
            let mut keys: Vec<String> = Vec::new();
            let mut p = format!("{registry}/{path}");
            loop {
                keys.push(p.clone());
                match p.rsplit_once('/') {
                    Some((head, _)) => p = head.to_string(),
                    None => break,
                }
            }
            for want in &keys {
                for (k, v) in auths {
                    if &normalize_key(k) != want {
                        continue;
                    }
                    if let Some(c) = entry_credentials(v) {
                        return Ok(Some(c));
                    }
                }
            }
        }
        Ok(None)
    }

    /// The credential helper that files configure for `registry`, if any (the first file
    /// that names one: `credHelpers` for the registry, else `credsStore`).
    pub fn helper(&self, registry: &str) -> Result<Option<Helper>> {
        let mut files = self.read.clone();
        files.push(self.write.clone());
        for f in &files {
            if let Some(doc) = read_json(f)? {
                if let Some(h) = helper_for(&doc, registry, f) {
                    return Ok(Some(h));
                }
            }
        }
        Ok(None)
    }

    /// Stores credentials for `registry`: with the credential helper the files configure
    /// for it, else in the write file (created 0600 if missing), keeping every other entry
    /// and field as it was. Returns where they went, for messages.
    pub fn store(&self, registry: &str, c: &Credentials) -> Result<String> {
        if let Some(h) = self.helper(registry)? {
            h.store(registry, c)?;
            return Ok(format!("credential helper {} ({})", h.program(), h.origin));
        }
        let mut doc = read_json(&self.write)?.unwrap_or_else(|| Value::Object(Map::new()));
        let obj = doc.as_object_mut().ok_or_else(|| {
            Error::invalid(format!(
                "{} is not a JSON object; fix or remove it",
                self.write.display()
            ))
        })?;
        let auths = obj
            .entry("auths")
            .or_insert_with(|| Value::Object(Map::new()));
        let auths = auths.as_object_mut().ok_or_else(|| {
            Error::invalid(format!(
                "\"auths\" in {} is not an object",
                self.write.display()
            ))
        })?;
        let auth = B64.encode(format!("{}:{}", c.username, c.password));
        auths.insert(registry.to_string(), serde_json::json!({ "auth": auth }));
        write_json(&self.write, &doc)?;
        Ok(self.write.display().to_string())
    }

    /// Removes the entry for `registry` from every readable auth.json-style file berth
    /// may write; returns whether one existed.
    pub fn remove(&self, registry: &str) -> Result<bool> {
        let mut found = match self.helper(registry)? {
            Some(h) => h.erase(registry)?,
            None => false,
        };
        let mut files = vec![self.write.clone()];
        files.extend(
            self.read
                .iter()
                .filter(|p| p.ends_with("auth.json"))
                .cloned(),
        );
        files.dedup();
        for f in files {
            let Some(mut doc) = read_json(&f)? else {
                continue;
            };
            let Some(auths) = doc.get_mut("auths").and_then(Value::as_object_mut) else {
                continue;
            };
            let keys: Vec<String> = auths
                .keys()
                .filter(|k| normalize_key(k) == registry)
                .cloned()
                .collect();
            if keys.is_empty() {
                continue;
            }
            for k in keys {
                auths.remove(&k);
            }
            found = true;
            write_json(&f, &doc)?;
        }
        Ok(found)
    }
}

/// A Docker credential helper: the program `docker-credential-<name>`, which speaks JSON on
/// stdin/stdout (`get` takes the registry and prints `{"Username","Secret"}`; `store` takes
/// `{"ServerURL","Username","Secret"}`; `erase` takes the registry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Helper {
    pub name: String,
    /// Which file and key named it, for messages.
    pub origin: String,
    /// The server name as the config file spells it (its `credHelpers` or `auths` key,
    /// e.g. Docker's legacy URL for its default registry): the helper keeps its secrets
    /// under that name. Without one, the registry as berth names it.
    pub server: Option<String>,
}

fn helper_for(doc: &Value, registry: &str, file: &Path) -> Option<Helper> {
    let name_in = |v: Option<&Value>| {
        v.and_then(Value::as_str)
            .filter(|n| !n.is_empty())
            .map(str::to_string)
    };
    let per = doc
        .get("credHelpers")
        .and_then(Value::as_object)
        .and_then(|m| {
            m.iter()
                .find(|(k, _)| normalize_key(k) == registry)
                .and_then(|(k, v)| {
                    name_in(Some(v)).map(|n| (n, format!("credHelpers.{k:?}"), Some(k.clone())))
                })
        });
    // With credsStore, Docker lists the registries it stored secrets for under "auths".
    let known = doc
        .get("auths")
        .and_then(Value::as_object)
        .and_then(|m| m.keys().find(|k| normalize_key(k) == registry).cloned());
    let (name, key, server) = per
        .or_else(|| name_in(doc.get("credsStore")).map(|n| (n, "credsStore".to_string(), known)))?;
    Some(Helper {
        name,
        origin: format!("{key} in {}", file.display()),
        server,
    })
}

impl Helper {
    pub fn program(&self) -> String {
        format!("docker-credential-{}", self.name)
    }

    /// Runs the helper with `input` on stdin: (success, stdout, stderr).
    fn run(&self, verb: &str, input: &str) -> Result<(bool, String, String)> {
        use std::io::Write;
        use std::process::{Command, Stdio};
        let prog = self.program();
        let mut child = Command::new(&prog)
            .arg(verb)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| {
                Error::invalid(format!(
                    "cannot run credential helper {prog} ({}): {e}; install it on PATH or remove that setting",
                    self.origin
                ))
            })?;
        if let Some(mut stdin) = child.stdin.take() {
            let _ = stdin.write_all(input.as_bytes());
        }
        let out = child
            .wait_with_output()
            .map_err(|e| Error::invalid(format!("credential helper {prog} {verb} failed: {e}")))?;
        Ok((
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).trim().to_string(),
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        ))
    }

    fn failed(&self, verb: &str, registry: &str, out: &str, err: &str) -> Error {
        let msg = if err.is_empty() { out } else { err };
        Error::invalid(format!(
            "credential helper {} {verb} failed for {registry} ({}): {msg}",
            self.program(),
            self.origin
        ))
    }

    /// The helper's credentials for `registry`, or `None` when it has none.
    /// The name the helper knows the registry by.
    fn server<'a>(&'a self, registry: &'a str) -> &'a str {
        self.server.as_deref().unwrap_or(registry)
    }

    pub fn get(&self, registry: &str) -> Result<Option<Credentials>> {
        let (ok, out, err) = self.run("get", self.server(registry))?;
        if !ok {
            // The helpers' protocol: this text on stdout means "no credentials".
            if out.contains("credentials not found") || err.contains("credentials not found") {
                return Ok(None);
            }
            return Err(self.failed("get", registry, &out, &err));
        }
        #[derive(serde::Deserialize)]
        struct Answer {
            #[serde(rename = "Username")]
            username: String,
            #[serde(rename = "Secret")]
            secret: String,
        }
        let a: Answer = serde_json::from_str(&out).map_err(|e| {
            Error::invalid(format!(
                "credential helper {} get answered something that is not {{\"Username\",\"Secret\"}} JSON ({e})",
                self.program()
            ))
        })?;
        if a.username.is_empty() && a.secret.is_empty() {
            return Ok(None);
        }
        Ok(Some(Credentials {
            username: a.username,
            password: a.secret,
        }))
    }

    pub fn store(&self, registry: &str, c: &Credentials) -> Result<()> {
        let input = serde_json::json!({
            "ServerURL": self.server(registry),
            "Username": c.username,
            "Secret": c.password,
        })
        .to_string();
        let (ok, out, err) = self.run("store", &input)?;
        if ok {
            Ok(())
        } else {
            Err(self.failed("store", registry, &out, &err))
        }
    }

    /// Erases the helper's credentials for `registry`; whether it had any.
    pub fn erase(&self, registry: &str) -> Result<bool> {
        let (ok, out, err) = self.run("erase", self.server(registry))?;
        if ok {
            Ok(true)
        } else if out.contains("credentials not found") || err.contains("credentials not found") {
            Ok(false)
        } else {
            Err(self.failed("erase", registry, &out, &err))
        }
    }
}

fn entry_credentials(v: &Value) -> Option<Credentials> {
    if let Some(a) = v.get("auth").and_then(Value::as_str) {
        if !a.is_empty() {
            return Credentials::from_auth_field(a);
        }
    }
    let u = v.get("username").and_then(Value::as_str)?;
    let p = v.get("password").and_then(Value::as_str)?;
    Some(Credentials {
        username: u.into(),
        password: p.into(),
    })
}

/// `https://host:5000/v1/` and `host:5000` name the same registry in auth files.
pub fn normalize_key(k: &str) -> String {
    let k = k
        .strip_prefix("https://")
        .or_else(|| k.strip_prefix("http://"))
        .unwrap_or(k);
    let k = k.trim_end_matches('/');
    let k = k
        .strip_suffix("/v1")
        .or_else(|| k.strip_suffix("/v2"))
        .unwrap_or(k);
    // Docker writes its default registry under its legacy index name.
    match k.split_once('/') {
        Some(("index.docker.io", rest)) => format!("docker.io/{rest}"),
        None if k == "index.docker.io" => "docker.io".into(),
        _ => k.to_string(),
    }
}

fn read_json(p: &Path) -> Result<Option<Value>> {
    match std::fs::read(p) {
        Ok(b) if b.iter().all(u8::is_ascii_whitespace) => Ok(None),
        Ok(b) => serde_json::from_slice(&b).map(Some).map_err(|e| {
            Error::invalid(format!(
                "credentials file {} is not valid JSON ({e}); fix or remove it",
                p.display()
            ))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).ctx("read credentials file", p),
    }
}

fn write_json(p: &Path, v: &Value) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = p.parent() {
        std::fs::create_dir_all(dir).ctx("create directory", dir)?;
    }
    let tmp = p.with_extension(format!("tmp{}", std::process::id()));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .ctx("create", &tmp)?;
    let mut bytes = serde_json::to_vec_pretty(v).expect("JSON value serialises");
    bytes.push(b'\n');
    f.write_all(&bytes).ctx("write", &tmp)?;
    f.sync_all().ctx("fsync", &tmp)?;
    std::fs::rename(&tmp, p).ctx("replace credentials file", p)?;
    Ok(())
}

/// One challenge of a `WWW-Authenticate` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// Lower-case scheme: `basic` or `bearer`.
    pub scheme: String,
    pub params: BTreeMap<String, String>,
}

/// Parses `WWW-Authenticate` (RFC 7235): `Bearer realm="x",service="y",scope="a b"`.
/// Several challenges may share one header; quoted strings may contain commas and escapes.
pub fn parse_challenges(header: &str) -> Vec<Challenge> {
    let mut out: Vec<Challenge> = Vec::new();
    let b = header.as_bytes();
    let mut i = 0;
    let skip_ws = |i: &mut usize| {
        while *i < b.len() && (b[*i] == b' ' || b[*i] == b'\t' || b[*i] == b',') {
            *i += 1;
        }
    };
    let token = |i: &mut usize| -> String {
        let s = *i;
        while *i < b.len() && !matches!(b[*i], b' ' | b'\t' | b',' | b'=') {
            *i += 1;
        }
        String::from_utf8_lossy(&b[s..*i]).into_owned()
    };
    while i < b.len() {
        skip_ws(&mut i);
        if i >= b.len() {
            break;
        }
        let word = token(&mut i);
        // Lookahead: `word=` is a parameter of the current challenge; otherwise a scheme.
        let mut j = i;
        while j < b.len() && b[j] == b' ' {
            j += 1;
        }
        if j < b.len() && b[j] == b'=' && !out.is_empty() {
            i = j + 1;
            while i < b.len() && b[i] == b' ' {
                i += 1;
            }
            let value = if i < b.len() && b[i] == b'"' {
                i += 1;
                let mut v = Vec::new();
                while i < b.len() && b[i] != b'"' {
                    if b[i] == b'\\' && i + 1 < b.len() {
                        i += 1;
                    }
                    v.push(b[i]);
                    i += 1;
                }
                i += 1;
                String::from_utf8_lossy(&v).into_owned()
            } else {
                token(&mut i)
            };
            if let Some(c) = out.last_mut() {
                c.params.insert(word.to_ascii_lowercase(), value);
            }
        } else if !word.is_empty() {
            out.push(Challenge {
                scheme: word.to_ascii_lowercase(),
                params: BTreeMap::new(),
            });
        } else {
            i += 1;
        }
    }
    out
}

/// An htpasswd file of bcrypt entries (`htpasswd -B`), as distribution accepts.
#[derive(Debug, Clone, Default)]
pub struct Htpasswd {
    users: HashMap<String, String>,
}

impl Htpasswd {
    pub fn load(p: &Path) -> Result<Htpasswd> {
        let text = std::fs::read_to_string(p).ctx("read htpasswd file", p)?;
        let mut users = HashMap::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (u, h) = line.split_once(':').ok_or_else(|| {
                Error::invalid(format!(
                    "{}:{}: expected USER:BCRYPT-HASH",
                    p.display(),
                    n + 1
                ))
            })?;
            if !h.starts_with("$2") {
                return Err(Error::invalid(format!(
                    "{}:{}: only bcrypt entries are supported (create them with `htpasswd -B`)",
                    p.display(),
                    n + 1
                )));
            }
            users.insert(u.to_string(), h.to_string());
        }
        Ok(Htpasswd { users })
    }

    /// Checks a password (bcrypt: deliberately slow; callers cache successes).
    pub fn verify(&self, user: &str, password: &str) -> bool {
        self.users
            .get(user)
            .is_some_and(|h| bcrypt::verify(password, h).unwrap_or(false))
    }
}

/// A bcrypt htpasswd line for `user` (what `htpasswd -nbB` prints).
pub fn htpasswd_line(user: &str, password: &str) -> Result<String> {
    let h = bcrypt::hash(password, bcrypt::DEFAULT_COST)
        .map_err(|e| Error::invalid(format!("bcrypt: {e}")))?;
    Ok(format!("{user}:{h}"))
}

/// HMAC-SHA256 (RFC 2104).
pub(crate) fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(k.map(|b| b ^ 0x36));
    inner.update(msg);
    let mut outer = Sha256::new();
    outer.update(k.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().into()
}

/// What a bearer token grants: `scope` entries as in the token request.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Grant {
    pub sub: String,
    pub exp: i64,
    pub access: Vec<String>,
}

/// Issues and checks bearer tokens signed with the server's key.
pub struct TokenSigner {
    key: Vec<u8>,
}

impl TokenSigner {
    pub fn new(key: Vec<u8>) -> TokenSigner {
        TokenSigner { key }
    }

    pub fn issue(&self, g: &Grant) -> String {
        let body = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(serde_json::to_vec(g).expect("grant serialises"));
        let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(hmac_sha256(&self.key, body.as_bytes()));
        format!("{body}.{sig}")
    }

    /// The grant of a valid, unexpired token.
    pub fn check(&self, token: &str, now: i64) -> Option<Grant> {
        let (body, sig) = token.split_once('.')?;
        let want = hmac_sha256(&self.key, body.as_bytes());
        let got = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(sig)
            .ok()?;
        // Constant-time comparison: the signature is a secret-derived value.
        if got.len() != want.len() || got.iter().zip(want).fold(0u8, |a, (x, y)| a | (x ^ y)) != 0 {
            return None;
        }
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(body)
            .ok()?;
        let g: Grant = serde_json::from_slice(&raw).ok()?;
        (g.exp > now).then_some(g)
    }
}

/// Does a list of scopes (`repository:NAME:pull,push`) allow `action` on `resource`?
pub fn scope_allows(access: &[String], resource: &str, action: &str) -> bool {
    access.iter().any(|s| {
        let Some((res, actions)) = s.rsplit_once(':') else {
            return false;
        };
        res == resource && actions.split(',').any(|a| a == action || a == "*")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_helper_selection() {
        let f = Path::new("/x/config.json");
        let doc: Value = serde_json::from_str(
            r#"{"credsStore": "desktop",
                "credHelpers": {"127.0.0.1:5000": "pass"},
                "auths": {"https://docker.io/v1/": {}}}"#,
        )
        .unwrap();
        let h = helper_for(&doc, "127.0.0.1:5000", f).unwrap();
        assert_eq!(h.program(), "docker-credential-pass");
        assert_eq!(h.server(""), "127.0.0.1:5000");
        // The store's secrets for the default registry are under the name Docker wrote.
        let h = helper_for(&doc, "docker.io", f).unwrap();
        assert_eq!(h.name, "desktop");
        assert_eq!(h.server("docker.io"), "https://docker.io/v1/");
        let h = helper_for(&doc, "127.0.0.1:6000", f).unwrap();
        assert_eq!(
            (h.name.as_str(), h.server("127.0.0.1:6000")),
            ("desktop", "127.0.0.1:6000")
        );
        assert!(helper_for(&serde_json::json!({"auths": {}}), "h", f).is_none());
    }

    #[test]
    fn challenges() {
        let c = parse_challenges(
            r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push""#,
        );
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].scheme, "bearer");
        assert_eq!(c[0].params["realm"], "https://auth.example/token");
        assert_eq!(c[0].params["scope"], "repository:a/b:pull,push");
        let c = parse_challenges(r#"Basic realm="Registry Realm", Bearer realm="x\"y""#);
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].scheme, "basic");
        assert_eq!(c[0].params["realm"], "Registry Realm");
        assert_eq!(c[1].params["realm"], "x\"y");
        assert_eq!(parse_challenges("basic").len(), 1);
        assert!(parse_challenges("").is_empty());
    }

    #[test]
    fn auth_json_round_trip_keeps_other_fields() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("auth.json");
        std::fs::write(
            &p,
            r#"{"auths":{"https://index.docker.io/v1/":{"auth":"dTpw"}},"credHelpers":{"x":"y"}}"#,
        )
        .unwrap();
        let f = AuthFiles {
            read: vec![p.clone()],
            write: p.clone(),
        };
        let hub = f.lookup("docker.io", "library/busybox").unwrap().unwrap();
        assert_eq!((hub.username.as_str(), hub.password.as_str()), ("u", "p"));
        let c = Credentials {
            username: "me".into(),
            password: "s:e:cret".into(),
        };
        f.store("127.0.0.1:5000", &c).unwrap();
        assert_eq!(f.lookup("127.0.0.1:5000", "a/b").unwrap(), Some(c));
        assert_eq!(f.lookup("127.0.0.1:5001", "a/b").unwrap(), None);
        let doc: Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
        assert_eq!(doc["credHelpers"]["x"], "y");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert!(f.remove("127.0.0.1:5000").unwrap());
        assert!(!f.remove("127.0.0.1:5000").unwrap());
        assert_eq!(f.lookup("127.0.0.1:5000", "a/b").unwrap(), None);
    }

    #[test]
    fn most_specific_key_wins() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("auth.json");
        let enc = |s: &str| B64.encode(s);
        std::fs::write(
            &p,
            serde_json::json!({"auths": {
                "h:1": {"auth": enc("a:1")},
                "h:1/team": {"auth": enc("b:2")},
            }})
            .to_string(),
        )
        .unwrap();
        let f = AuthFiles {
            read: vec![p.clone()],
            write: p,
        };
        assert_eq!(f.lookup("h:1", "team/app").unwrap().unwrap().username, "b");
        assert_eq!(f.lookup("h:1", "other/app").unwrap().unwrap().username, "a");
    }

    #[test]
    fn auth_keys() {
        assert_eq!(normalize_key("https://index.docker.io/v1/"), "docker.io");
        assert_eq!(normalize_key("http://127.0.0.1:5000/v2/"), "127.0.0.1:5000");
        assert_eq!(normalize_key("host:5000/team"), "host:5000/team");
        assert_eq!(normalize_key("index.docker.io/me"), "docker.io/me");
    }

    #[test]
    fn tokens_and_scopes() {
        let s = TokenSigner::new(b"k".to_vec());
        let g = Grant {
            sub: "u".into(),
            exp: 100,
            access: vec!["repository:a/b:pull,push".into()],
        };
        let t = s.issue(&g);
        assert_eq!(s.check(&t, 50), Some(g.clone()));
        assert_eq!(s.check(&t, 100), None, "expired");
        assert_eq!(TokenSigner::new(b"other".to_vec()).check(&t, 50), None);
        let mut forged = t.clone();
        forged.insert(3, 'x');
        assert_eq!(s.check(&forged, 50), None);
        assert!(scope_allows(&g.access, "repository:a/b", "push"));
        assert!(!scope_allows(&g.access, "repository:a/c", "pull"));
        assert!(!scope_allows(&g.access, "repository:a/b", "delete"));
    }

    #[test]
    fn hmac_known_answer() {
        // RFC 4231 test case 2.
        assert_eq!(
            hex::encode(hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn htpasswd_bcrypt() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("htpasswd");
        let line = bcrypt::hash("pw", 4).unwrap();
        std::fs::write(&p, format!("# users\nalice:{line}\n")).unwrap();
        let h = Htpasswd::load(&p).unwrap();
        assert!(h.verify("alice", "pw"));
        assert!(!h.verify("alice", "wrong"));
        assert!(!h.verify("bob", "pw"));
        std::fs::write(&p, "alice:{SHA}abc\n").unwrap();
        assert!(Htpasswd::load(&p).is_err());
    }
}

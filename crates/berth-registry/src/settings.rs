//! Registry settings: where each registry is reached (endpoint, mirrors) and which ones are
//! insecure (plain http or self-signed https). berth has no built-in address for any
//! registry, not even for `docker.io`, the registry short names like `busybox` belong to:
//! that one answers only when a settings file gives it an endpoint or mirrors.
//!
//! The file (TOML; the first that exists is used):
//! `$BERTH_REGISTRIES_CONF`, `$XDG_CONFIG_HOME/berth/registries.toml` (or
//! `~/.config/berth/registries.toml`), `/etc/berth/registries.toml`, and the older
//! `/etc/berth/registries.json` (JSON, same keys; a `.json` name is always read as JSON).
//!
//! ```toml
//! insecure = ["127.0.0.1:5000"]          # reached over http / without certificate checks
//!
//! [registry."docker.io"]
//! endpoint = "https://registry.example"  # URL, or host:port (https; http too if insecure)
//! mirrors = ["http://127.0.0.1:5001"]    # pulls try these first, in order, then endpoint
//! insecure = false
//! ```
//!
//! The older `endpoints = { "docker.io" = "https://..." }` table is still read.

use crate::error::{Error, Result};
use berth_image::reference::DEFAULT_DOMAIN;
use std::collections::HashMap;
use std::path::PathBuf;

/// The whole settings file.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Registries reached over http, or https without certificate checks.
    #[serde(default)]
    pub insecure: Vec<String>,
    /// Base URL to use for a registry name (older form of `registry.NAME.endpoint`).
    #[serde(default)]
    pub endpoints: HashMap<String, String>,
    /// Per registry: endpoint, mirrors, insecure.
    #[serde(default)]
    pub registry: HashMap<String, RegistrySettings>,
    /// The file these settings came from (for messages).
    #[serde(skip)]
    pub source: Option<PathBuf>,
}

/// Settings of one registry.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistrySettings {
    /// Where the registry is: a URL (`https://host:port`) or `host[:port]`.
    pub endpoint: Option<String>,
    /// Tried first for pulls, in order; the endpoint comes after them.
    #[serde(default)]
    pub mirrors: Vec<String>,
    /// Plain http or unverified https for the endpoint and the mirrors.
    #[serde(default)]
    pub insecure: bool,
}

/// One place to reach a registry at.
#[derive(Debug, Clone, PartialEq)]
pub struct Endpoint {
    /// Base URLs to try, in order (`https://h`, then `http://h` for insecure hosts).
    pub bases: Vec<String>,
    /// Accept invalid certificates.
    pub insecure: bool,
    /// The host:port whose credentials apply.
    pub host: String,
    /// A mirror (pulls fall back from it to the next endpoint).
    pub mirror: bool,
}

impl Endpoint {
    fn new(spec: &str, insecure: bool, mirror: bool) -> Endpoint {
        let spec = spec.trim().trim_end_matches('/');
        match spec.split_once("://") {
            Some((_, rest)) => Endpoint {
                bases: vec![spec.to_string()],
                insecure,
                host: rest.split('/').next().unwrap_or(rest).to_string(),
                mirror,
            },
            None => Endpoint {
                bases: if insecure {
                    vec![format!("https://{spec}"), format!("http://{spec}")]
                } else {
                    vec![format!("https://{spec}")]
                },
                insecure,
                host: spec.to_string(),
                mirror,
            },
        }
    }

    /// How messages name it.
    pub fn describe(&self) -> String {
        let kind = if self.mirror { "mirror" } else { "endpoint" };
        format!("{kind} {}", self.bases[0])
    }
}

impl Settings {
    /// Where settings are looked for, in order.
    pub fn candidates() -> Vec<PathBuf> {
        let env = |k: &str| {
            std::env::var_os(k)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        if let Some(p) = env("BERTH_REGISTRIES_CONF") {
            return vec![p];
        }
        let mut out = Vec::new();
        if let Some(dir) = env("XDG_CONFIG_HOME").or_else(|| env("HOME").map(|h| h.join(".config")))
        {
            out.push(dir.join("berth/registries.toml"));
        }
        out.push(PathBuf::from("/etc/berth/registries.toml"));
        out.push(PathBuf::from("/etc/berth/registries.json"));
        out
    }

    /// The file that is read (the first candidate that exists), or where to create one.
    pub fn path() -> PathBuf {
        let c = Settings::candidates();
        c.iter()
            .find(|p| p.exists())
            .cloned()
            .unwrap_or_else(|| c[0].clone())
    }

    /// Reads the settings; no file means no settings.
    pub fn load() -> Result<Settings> {
        for p in Settings::candidates() {
            match std::fs::read_to_string(&p) {
                Ok(text) => {
                    let mut s = Settings::parse(&text, p.extension().is_some_and(|e| e == "json"))
                        .map_err(|e| {
                            Error::invalid(format!(
                                "registry settings {} are not valid: {e}",
                                p.display()
                            ))
                        })?;
                    s.source = Some(p);
                    return Ok(s);
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => {
                    return Err(Error::Io {
                        op: "read registry settings",
                        path: p,
                        source: e,
                    })
                }
            }
        }
        Ok(Settings::default())
    }

    pub fn parse(text: &str, json: bool) -> std::result::Result<Settings, String> {
        if json {
            serde_json::from_str(text).map_err(|e| e.to_string())
        } else {
            basic_toml::from_str(text).map_err(|e| e.to_string())
        }
    }

    fn file(&self) -> String {
        self.source
            .clone()
            .unwrap_or_else(Settings::path)
            .display()
            .to_string()
    }

    /// Whether `registry` (host[:port]) is listed as insecure.
    pub fn is_insecure(&self, registry: &str) -> bool {
        self.insecure.iter().any(|r| r == registry)
            || self.registry.get(registry).is_some_and(|r| r.insecure)
    }

    /// Where to reach `registry`: for pulls its mirrors first, then its endpoint (by default
    /// the registry's own name, except for `docker.io`, which needs one configured).
    /// `tls_verify = false` makes every endpoint insecure.
    pub fn endpoints(&self, registry: &str, pull: bool, tls_verify: bool) -> Result<Vec<Endpoint>> {
        let conf = self.registry.get(registry).cloned().unwrap_or_default();
        let insecure = |host: &str| !tls_verify || conf.insecure || self.is_insecure(host);
        let mut out = Vec::new();
        if pull {
            for m in &conf.mirrors {
                let host = Endpoint::new(m, false, true).host;
                out.push(Endpoint::new(m, insecure(&host), true));
            }
        }
        let endpoint = conf
            .endpoint
            .clone()
            .or_else(|| self.endpoints.get(registry).cloned());
        match endpoint {
            Some(e) => out.push(Endpoint::new(&e, insecure(registry), false)),
            None if registry == DEFAULT_DOMAIN => {
                if out.is_empty() {
                    return Err(Error::invalid(format!(
                        "berth has no address for {registry} (the registry of names without a host, like `busybox`): set `endpoint` and/or `mirrors` under [registry.\"{registry}\"] in {} (or the file $BERTH_REGISTRIES_CONF names), or use a name with a registry host, e.g. 127.0.0.1:5000/busybox",
                        self.file()
                    )));
                }
            }
            None => out.push(Endpoint::new(registry, insecure(registry), false)),
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_and_json_forms() {
        let s = Settings::parse(
            r#"
insecure = ["127.0.0.1:5000"]
[registry."docker.io"]
endpoint = "https://upstream.example:5000"
mirrors = ["http://127.0.0.1:5001", "127.0.0.1:5002"]
[registry."127.0.0.1:6000"]
insecure = true
"#,
            false,
        )
        .unwrap();
        let eps = s.endpoints("docker.io", true, true).unwrap();
        assert_eq!(eps.len(), 3);
        assert_eq!(eps[0].bases, ["http://127.0.0.1:5001"]);
        assert!(eps[0].mirror);
        assert_eq!(eps[1].bases, ["https://127.0.0.1:5002"]);
        assert_eq!(eps[2].bases, ["https://upstream.example:5000"]);
        assert!(!eps[2].mirror);
        // Pushes go to the endpoint only.
        assert_eq!(s.endpoints("docker.io", false, true).unwrap().len(), 1);
        let local = s.endpoints("127.0.0.1:6000", true, true).unwrap();
        assert_eq!(
            local[0].bases,
            ["https://127.0.0.1:6000", "http://127.0.0.1:6000"]
        );
        assert!(s.is_insecure("127.0.0.1:5000") && !s.is_insecure("127.0.0.1:5001"));

        let j = Settings::parse(
            r#"{"insecure": ["h:1"], "endpoints": {"docker.io": "https://m:5000"}}"#,
            true,
        )
        .unwrap();
        assert_eq!(
            j.endpoints("docker.io", true, true).unwrap()[0].bases,
            ["https://m:5000"]
        );
        assert!(Settings::parse("bogus = 1", false).is_err());
    }

    #[test]
    fn docker_io_needs_configuring() {
        let e = Settings::default()
            .endpoints("docker.io", true, true)
            .unwrap_err()
            .to_string();
        assert!(e.contains("[registry.\"docker.io\"]"), "{e}");
        assert!(e.contains("endpoint"), "{e}");
        // Other registries are reached at their own name.
        let eps = Settings::default()
            .endpoints("127.0.0.1:5000", true, false)
            .unwrap();
        assert_eq!(
            eps[0].bases,
            ["https://127.0.0.1:5000", "http://127.0.0.1:5000"]
        );
    }
}

//! The image configuration (OCI image config, with the Docker fields berth also keeps:
//! Healthcheck, OnBuild, Shell) and `--change` edits in Dockerfile syntax.
//!
//! Our own serde types rather than oci-spec's `ImageConfiguration`, because that type drops
//! Docker's Healthcheck/OnBuild/Shell; unknown fields are kept in `extra` so a loaded
//! config re-serialises without loss. Stored configs are never re-serialised anyway: the
//! blob bytes are kept as they came.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub type Extra = BTreeMap<String, serde_json::Value>;

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ImageConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub os: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    #[serde(default)]
    pub config: RunConfig,
    pub rootfs: RootFs,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<History>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct RunConfig {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub user: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exposed_ports: Option<BTreeMap<String, serde_json::Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volumes: Option<BTreeMap<String, serde_json::Value>>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub working_dir: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_build: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shell: Option<Vec<String>>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct RootFs {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub diff_ids: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct History {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub empty_layer: bool,
}

impl ImageConfig {
    /// A config for a new image on this machine's platform.
    pub fn new_for_host() -> ImageConfig {
        ImageConfig {
            architecture: host_arch().into(),
            os: "linux".into(),
            rootfs: RootFs {
                kind: "layers".into(),
                diff_ids: vec![],
            },
            ..Default::default()
        }
    }

    pub fn labels(&self) -> BTreeMap<String, String> {
        self.config.labels.clone().unwrap_or_default()
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("config serialises")
    }
}

/// The OCI architecture name of the running machine.
pub fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

#[derive(Debug, thiserror::Error)]
#[error("--change {input:?}: {why}")]
pub struct ChangeError {
    input: String,
    why: String,
}

/// Applies one `--change` line (Dockerfile syntax: CMD, ENTRYPOINT, ENV, WORKDIR, USER,
/// LABEL, EXPOSE, VOLUME, STOPSIGNAL) to a config.
pub fn apply_change(cfg: &mut RunConfig, line: &str) -> Result<(), ChangeError> {
    let e = |why: &str| ChangeError {
        input: line.into(),
        why: why.into(),
    };
    let line = line.trim();
    let (instr, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
    let rest = rest.trim();
    match instr.to_ascii_uppercase().as_str() {
        "CMD" => cfg.cmd = Some(exec_or_shell(rest).map_err(|w| e(&w))?),
        "ENTRYPOINT" => cfg.entrypoint = Some(exec_or_shell(rest).map_err(|w| e(&w))?),
        "WORKDIR" if !rest.is_empty() => cfg.working_dir = rest.into(),
        "USER" if !rest.is_empty() => cfg.user = rest.into(),
        "STOPSIGNAL" if !rest.is_empty() => cfg.stop_signal = Some(rest.into()),
        "ENV" => {
            for (k, v) in key_values(rest).map_err(|w| e(&w))? {
                let env = cfg.env.get_or_insert_with(Vec::new);
                env.retain(|x| x.split_once('=').map(|(a, _)| a) != Some(k.as_str()));
                env.push(format!("{k}={v}"));
            }
        }
        "LABEL" => {
            for (k, v) in key_values(rest).map_err(|w| e(&w))? {
                cfg.labels.get_or_insert_with(BTreeMap::new).insert(k, v);
            }
        }
        "EXPOSE" => {
            for p in words(rest).map_err(|w| e(&w))? {
                let (port, proto) = p.split_once('/').unwrap_or((&p, "tcp"));
                if port.parse::<u16>().is_err() || !matches!(proto, "tcp" | "udp" | "sctp") {
                    return Err(e(&format!("invalid port {p:?} (want PORT[/tcp|udp|sctp])")));
                }
                cfg.exposed_ports
                    .get_or_insert_with(BTreeMap::new)
                    .insert(format!("{port}/{proto}"), serde_json::json!({}));
            }
        }
        "VOLUME" => {
            let vols = if rest.starts_with('[') {
                serde_json::from_str::<Vec<String>>(rest).map_err(|x| e(&format!("bad JSON array: {x}")))?
            } else {
                words(rest).map_err(|w| e(&w))?
            };
            for v in vols {
                cfg.volumes.get_or_insert_with(BTreeMap::new).insert(v, serde_json::json!({}));
            }
        }
        "WORKDIR" | "USER" | "STOPSIGNAL" => return Err(e("missing value")),
        _ => {
            return Err(e(
                "unsupported instruction; use one of CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR",
            ))
        }
    }
    Ok(())
}

fn exec_or_shell(rest: &str) -> Result<Vec<String>, String> {
    if rest.starts_with('[') {
        if let Ok(v) = serde_json::from_str::<Vec<String>>(rest) {
            return Ok(v);
        }
    }
    if rest.is_empty() {
        return Err("missing command".into());
    }
    Ok(vec!["/bin/sh".into(), "-c".into(), rest.into()])
}

/// Splits shell-like words with "double" and 'single' quotes and backslash escapes.
fn words(s: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' | '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        None => return Err(format!("unterminated {c} quote")),
                        Some(x) if x == c => break,
                        Some('\\') if c == '"' => {
                            cur.push(chars.next().ok_or("dangling backslash")?)
                        }
                        Some(x) => cur.push(x),
                    }
                }
            }
            '\\' => {
                in_word = true;
                cur.push(chars.next().ok_or("dangling backslash")?);
            }
            c if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        out.push(cur);
    }
    Ok(out)
}

/// `K=V K2="v 2"` or the legacy single pair `K V...`.
fn key_values(s: &str) -> Result<Vec<(String, String)>, String> {
    let ws = words(s)?;
    if ws.is_empty() {
        return Err("missing KEY=VALUE".into());
    }
    if !ws[0].contains('=') {
        let (k, v) = s
            .trim()
            .split_once(char::is_whitespace)
            .ok_or("missing value")?;
        return Ok(vec![(k.to_string(), words(v)?.join(" "))]);
    }
    ws.into_iter()
        .map(|w| match w.split_once('=') {
            Some(("", _)) => Err("empty key".to_string()),
            Some((k, v)) => Ok((k.to_string(), v.to_string())),
            None => Err(format!("{w:?} is not KEY=VALUE")),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes() {
        let mut c = RunConfig::default();
        apply_change(&mut c, r#"CMD ["sh", "-c", "echo hi"]"#).unwrap();
        assert_eq!(c.cmd.as_ref().unwrap(), &["sh", "-c", "echo hi"]);
        apply_change(&mut c, "ENTRYPOINT /init --flag").unwrap();
        assert_eq!(
            c.entrypoint.as_ref().unwrap(),
            &["/bin/sh", "-c", "/init --flag"]
        );
        apply_change(&mut c, r#"ENV A=1 B="two words""#).unwrap();
        apply_change(&mut c, "ENV A 3").unwrap();
        assert_eq!(c.env.as_ref().unwrap(), &["B=two words", "A=3"]);
        apply_change(&mut c, "LABEL org.example.job=42 team='ci ops'").unwrap();
        assert_eq!(c.labels.as_ref().unwrap()["team"], "ci ops");
        apply_change(&mut c, "EXPOSE 80 53/udp").unwrap();
        assert!(c.exposed_ports.as_ref().unwrap().contains_key("53/udp"));
        apply_change(&mut c, "WORKDIR /srv").unwrap();
        apply_change(&mut c, "USER app:app").unwrap();
        assert_eq!(c.user, "app:app");
        assert!(apply_change(&mut c, "RUN rm -rf /").is_err());
        assert!(apply_change(&mut c, "EXPOSE http").is_err());
        assert!(apply_change(&mut c, "ENV A=\"x").is_err());
    }

    #[test]
    fn keeps_unknown_fields() {
        let raw = r#"{"architecture":"amd64","os":"linux","config":{"Cmd":["sh"],"ArgsEscaped":true},"rootfs":{"type":"layers","diff_ids":[]},"docker_version":"20.10"}"#;
        let c: ImageConfig = serde_json::from_str(raw).unwrap();
        assert_eq!(c.extra["docker_version"], "20.10");
        let back: serde_json::Value = serde_json::from_slice(&c.to_json()).unwrap();
        assert_eq!(back["config"]["ArgsEscaped"], true);
    }
}

//! `RUN --mount=type=cache|bind|secret|tmpfs|ssh,...` parsed into typed mounts.
//!
//! Options are comma separated `key=value` fields (CSV quoting allowed); boolean options
//! may be written bare (`ro`, `required`). Values can be run through an expander (build
//! arguments) before they are interpreted.

use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MountType {
    Bind,
    Cache,
    Tmpfs,
    Secret,
    Ssh,
}

impl MountType {
    pub fn as_str(self) -> &'static str {
        match self {
            MountType::Bind => "bind",
            MountType::Cache => "cache",
            MountType::Tmpfs => "tmpfs",
            MountType::Secret => "secret",
            MountType::Ssh => "ssh",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Sharing {
    Shared,
    Private,
    Locked,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Mount {
    pub kind: MountType,
    pub target: Option<String>,
    pub source: Option<String>,
    /// A stage name, stage index or image the source is read from (bind, cache).
    pub from: Option<String>,
    pub readonly: bool,
    /// Cache or secret/ssh id.
    pub id: Option<String>,
    pub sharing: Option<Sharing>,
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    /// tmpfs size in bytes.
    pub size: Option<u64>,
    /// secret: fail if the secret is not provided.
    pub required: bool,
    /// secret: expose as this environment variable.
    pub env: Option<String>,
    /// The flag value as written.
    pub raw: String,
}

impl Mount {
    /// Where the mount appears in the container, with the defaults for secret and ssh.
    pub fn effective_target(&self) -> Option<String> {
        match (&self.target, self.kind) {
            (Some(t), _) => Some(t.clone()),
            (None, MountType::Secret) => self.id.as_ref().map(|id| format!("/run/secrets/{id}")),
            (None, MountType::Ssh) => Some("/run/buildkit/ssh_agent.0".to_string()),
            _ => None,
        }
    }
}

/// Splits `a=b,"c=d,e",f` into fields, honouring CSV double quotes.
fn csv_fields(s: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut field = String::new();
    let mut chars = s.chars().peekable();
    let mut in_quotes = false;
    while let Some(c) = chars.next() {
        match c {
            '"' if in_quotes && chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            '"' => in_quotes = !in_quotes,
            ',' if !in_quotes => out.push(std::mem::take(&mut field)),
            _ => field.push(c),
        }
    }
    if in_quotes {
        return Err(format!("unterminated quote in mount options {s:?}"));
    }
    out.push(field);
    Ok(out)
}

fn parse_bool(key: &str, v: Option<&str>) -> Result<bool, String> {
    match v.map(str::to_ascii_lowercase).as_deref() {
        None | Some("true") | Some("1") => Ok(true),
        Some("false") | Some("0") => Ok(false),
        Some(other) => Err(format!("invalid value {other:?} for mount option {key}")),
    }
}

fn parse_u32(key: &str, v: &str, radix: u32) -> Result<u32, String> {
    let digits = if radix == 8 {
        v.strip_prefix("0o").unwrap_or(v)
    } else {
        v
    };
    u32::from_str_radix(digits, radix)
        .map_err(|_| format!("invalid value {v:?} for mount option {key}"))
}

/// `64m`, `1g`, `4096`, `1.5k` → bytes (binary units, as Docker's RAMInBytes).
pub fn parse_size(v: &str) -> Result<u64, String> {
    let lower = v.trim().to_ascii_lowercase();
    let lower = lower.strip_suffix('b').unwrap_or(&lower);
    let split = lower
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(lower.len());
    let (num, unit) = lower.split_at(split);
    let mult: u64 = match unit.trim() {
        "" => 1,
        "k" | "ki" => 1 << 10,
        "m" | "mi" => 1 << 20,
        "g" | "gi" => 1 << 30,
        "t" | "ti" => 1 << 40,
        _ => return Err(format!("invalid size {v:?}")),
    };
    let n: f64 = num.parse().map_err(|_| format!("invalid size {v:?}"))?;
    if n < 0.0 {
        return Err(format!("invalid size {v:?}"));
    }
    Ok((n * mult as f64) as u64)
}

/// Parses one `--mount` value. `expand` is applied to every option value first.
pub fn parse_mount(
    raw: &str,
    expand: &mut dyn FnMut(&str) -> Result<String, String>,
) -> Result<Mount, String> {
    let mut m = Mount {
        kind: MountType::Bind,
        target: None,
        source: None,
        from: None,
        readonly: false,
        id: None,
        sharing: None,
        mode: None,
        uid: None,
        gid: None,
        size: None,
        required: false,
        env: None,
        raw: raw.to_string(),
    };
    let mut readonly: Option<bool> = None;
    let mut fields = Vec::new();
    for field in csv_fields(raw)? {
        let field = field.trim();
        if field.is_empty() {
            continue;
        }
        let (key, value) = match field.split_once('=') {
            Some((k, v)) => (k.trim().to_ascii_lowercase(), Some(expand(v.trim())?)),
            None => (field.to_ascii_lowercase(), None),
        };
        fields.push((key, value));
    }
    // The type decides which keys are valid, so read it first.
    for (key, value) in &fields {
        if key == "type" {
            m.kind = match value.as_deref().map(str::to_ascii_lowercase).as_deref() {
                Some("bind") => MountType::Bind,
                Some("cache") => MountType::Cache,
                Some("tmpfs") => MountType::Tmpfs,
                Some("secret") => MountType::Secret,
                Some("ssh") => MountType::Ssh,
                other => {
                    return Err(format!(
                        "unsupported mount type {:?}",
                        other.unwrap_or_default()
                    ))
                }
            };
        }
    }
    let kind = m.kind;
    for (key, value) in fields {
        let need = |value: Option<String>| {
            value.ok_or_else(|| format!("mount option {key} needs a value ({key}=...)"))
        };
        let only = |ok: &[MountType]| {
            if ok.contains(&kind) {
                Ok(())
            } else {
                Err(format!(
                    "mount option {key} is not valid for type={}",
                    kind.as_str()
                ))
            }
        };
        match key.as_str() {
            "type" => {}
            "target" | "dst" | "destination" => m.target = Some(need(value)?),
            "source" | "src" => m.source = Some(need(value)?),
            "from" => {
                only(&[MountType::Bind, MountType::Cache])?;
                m.from = Some(need(value)?);
            }
            "readonly" | "ro" => readonly = Some(parse_bool(&key, value.as_deref())?),
            "readwrite" | "rw" => readonly = Some(!parse_bool(&key, value.as_deref())?),
            "id" => m.id = Some(need(value)?),
            "sharing" => {
                only(&[MountType::Cache])?;
                m.sharing = Some(match need(value)?.to_ascii_lowercase().as_str() {
                    "shared" => Sharing::Shared,
                    "private" => Sharing::Private,
                    "locked" => Sharing::Locked,
                    other => return Err(format!("unsupported sharing value {other:?}")),
                });
            }
            "mode" => {
                only(&[MountType::Cache, MountType::Secret, MountType::Ssh])?;
                m.mode = Some(parse_u32(&key, &need(value)?, 8)?);
            }
            "uid" => {
                only(&[MountType::Cache, MountType::Secret, MountType::Ssh])?;
                m.uid = Some(parse_u32(&key, &need(value)?, 10)?);
            }
            "gid" => {
                only(&[MountType::Cache, MountType::Secret, MountType::Ssh])?;
                m.gid = Some(parse_u32(&key, &need(value)?, 10)?);
            }
            "size" => {
                only(&[MountType::Tmpfs])?;
                m.size = Some(parse_size(&need(value)?)?);
            }
            "required" => {
                only(&[MountType::Secret, MountType::Ssh])?;
                m.required = parse_bool(&key, value.as_deref())?;
            }
            "env" => {
                only(&[MountType::Secret])?;
                m.env = Some(need(value)?);
            }
            _ => return Err(format!("unexpected key '{key}' in '{raw}'")),
        }
    }
    m.readonly = match kind {
        MountType::Bind => readonly.unwrap_or(true),
        MountType::Secret | MountType::Ssh => true,
        MountType::Cache | MountType::Tmpfs => readonly.unwrap_or(false),
    };
    match kind {
        MountType::Bind | MountType::Cache | MountType::Tmpfs if m.target.is_none() => {
            return Err(format!("--mount type={} requires a target", kind.as_str()))
        }
        MountType::Secret => {
            if m.id.is_none() {
                m.id = m
                    .target
                    .as_deref()
                    .and_then(|t| t.rsplit('/').find(|s| !s.is_empty()))
                    .map(str::to_string);
            }
            if m.id.is_none() && m.env.is_none() {
                return Err("--mount type=secret requires an id or a target".into());
            }
        }
        MountType::Ssh if m.id.is_none() => m.id = Some("default".into()),
        _ => {}
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Mount, String> {
        parse_mount(s, &mut |v| Ok(v.to_string()))
    }

    #[test]
    fn cache_mount() {
        let m = parse("type=cache,target=/root/.cache,id=pip,sharing=locked,mode=0755,uid=1000")
            .unwrap();
        assert_eq!(m.kind, MountType::Cache);
        assert_eq!(m.target.as_deref(), Some("/root/.cache"));
        assert_eq!(m.sharing, Some(Sharing::Locked));
        assert_eq!(m.mode, Some(0o755));
        assert_eq!(m.uid, Some(1000));
        assert!(!m.readonly);
    }

    #[test]
    fn bind_defaults_readonly() {
        let m = parse("target=/src,from=builder,source=/out").unwrap();
        assert_eq!(m.kind, MountType::Bind);
        assert!(m.readonly);
        assert_eq!(m.from.as_deref(), Some("builder"));
        let m = parse("type=bind,dst=/src,rw").unwrap();
        assert!(!m.readonly);
    }

    #[test]
    fn secret_and_ssh() {
        let m = parse("type=secret,id=npmrc,required").unwrap();
        assert_eq!(m.effective_target().as_deref(), Some("/run/secrets/npmrc"));
        assert!(m.required);
        let m = parse("type=secret,target=/etc/token").unwrap();
        assert_eq!(m.id.as_deref(), Some("token"));
        let m = parse("type=ssh").unwrap();
        assert_eq!(m.id.as_deref(), Some("default"));
    }

    #[test]
    fn tmpfs_size() {
        let m = parse("type=tmpfs,target=/tmp,size=64m").unwrap();
        assert_eq!(m.size, Some(64 << 20));
    }

    #[test]
    fn errors() {
        assert!(parse("type=nfs,target=/x")
            .unwrap_err()
            .contains("unsupported mount type"));
        assert!(parse("type=cache")
            .unwrap_err()
            .contains("requires a target"));
        assert!(parse("type=cache,target=/x,colour=red")
            .unwrap_err()
            .contains("unexpected key 'colour'"));
        assert!(parse("type=bind,target=/x,sharing=locked")
            .unwrap_err()
            .contains("not valid for type=bind"));
        assert!(parse("type=cache,target=/x,sharing=maybe")
            .unwrap_err()
            .contains("sharing"));
        assert!(parse("type=cache,target=/x,mode=999")
            .unwrap_err()
            .contains("mode"));
    }

    #[test]
    fn quoted_fields_and_expansion() {
        let m = parse_mount(r#"type=cache,"target=/a,b",id=$X"#, &mut |v| {
            Ok(v.replace("$X", "pip"))
        })
        .unwrap();
        assert_eq!(m.target.as_deref(), Some("/a,b"));
        assert_eq!(m.id.as_deref(), Some("pip"));
    }
}

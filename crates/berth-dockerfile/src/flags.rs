//! Instruction flags (`--from=x`, `--link`, `--mount=...` repeated) checked against the
//! set each instruction accepts, with BuildKit's messages for the usual mistakes.

use std::collections::BTreeMap;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlagKind {
    /// `--link` or `--link=true|false`.
    Bool,
    /// `--from=value`, once.
    String,
    /// `--mount=value`, may repeat.
    Strings,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Value {
    Bool(bool),
    String(String),
    Strings(Vec<String>),
}

/// Parsed flags of one instruction.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Flags {
    values: BTreeMap<&'static str, Value>,
}

impl Flags {
    pub fn string(&self, name: &str) -> Option<String> {
        match self.values.get(name) {
            Some(Value::String(s)) => Some(s.clone()),
            _ => None,
        }
    }

    pub fn bool(&self, name: &str) -> bool {
        matches!(self.values.get(name), Some(Value::Bool(true)))
    }

    pub fn strings(&self, name: &str) -> Vec<String> {
        match self.values.get(name) {
            Some(Value::Strings(v)) => v.clone(),
            _ => Vec::new(),
        }
    }
}

/// Parses `words` (each starting with `--`) against the accepted `spec`.
pub fn parse_flags(words: &[String], spec: &[(&'static str, FlagKind)]) -> Result<Flags, String> {
    let mut flags = Flags::default();
    for word in words {
        let Some(body) = word.strip_prefix("--") else {
            return Err(format!("arg should start with -- : {word}"));
        };
        let (name, value) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (body, None),
        };
        let Some(&(key, kind)) = spec.iter().find(|(n, _)| *n == name) else {
            return Err(format!("unknown flag: --{name}"));
        };
        if kind != FlagKind::Strings && flags.values.contains_key(key) {
            return Err(format!("duplicate flag specified: --{name}"));
        }
        match kind {
            FlagKind::Bool => {
                let b = match value.map(str::to_ascii_lowercase).as_deref() {
                    None | Some("true") => true,
                    Some("false") => false,
                    Some(other) => {
                        return Err(format!(
                            "expecting boolean value for flag --{name}, not: {other}"
                        ))
                    }
                };
                flags.values.insert(key, Value::Bool(b));
            }
            FlagKind::String | FlagKind::Strings => {
                let Some(v) = value else {
                    return Err(format!("missing a value on flag: --{name}"));
                };
                if kind == FlagKind::String {
                    flags.values.insert(key, Value::String(v.to_string()));
                } else {
                    let slot = flags
                        .values
                        .entry(key)
                        .or_insert_with(|| Value::Strings(Vec::new()));
                    if let Value::Strings(list) = slot {
                        list.push(v.to_string());
                    }
                }
            }
        }
    }
    Ok(flags)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: &[(&str, FlagKind)] = &[
        ("from", FlagKind::String),
        ("link", FlagKind::Bool),
        ("exclude", FlagKind::Strings),
    ];

    fn w(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn good_flags() {
        let f = parse_flags(
            &w(&["--from=b", "--link", "--exclude=a", "--exclude=*.md"]),
            SPEC,
        )
        .unwrap();
        assert_eq!(f.string("from").as_deref(), Some("b"));
        assert!(f.bool("link"));
        assert_eq!(f.strings("exclude"), vec!["a", "*.md"]);
        let f = parse_flags(&w(&["--link=FALSE"]), SPEC).unwrap();
        assert!(!f.bool("link"));
    }

    #[test]
    fn bad_flags() {
        assert_eq!(
            parse_flags(&w(&["--chown=1"]), SPEC).unwrap_err(),
            "unknown flag: --chown"
        );
        assert_eq!(
            parse_flags(&w(&["--from"]), SPEC).unwrap_err(),
            "missing a value on flag: --from"
        );
        assert!(parse_flags(&w(&["--from=a", "--from=b"]), SPEC)
            .unwrap_err()
            .contains("duplicate flag"));
        assert!(parse_flags(&w(&["--link=maybe"]), SPEC)
            .unwrap_err()
            .contains("expecting boolean"));
    }
}

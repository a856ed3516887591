//! Image references as Docker parses them: `[DOMAIN[:PORT]/]PATH[:TAG][@DIGEST]`.
//!
//! `busybox` means `docker.io/library/busybox:latest`; a first component with a `.` or `:`
//! or equal to `localhost` is a registry. Names are stored in full and shown in the short
//! ("familiar") form, as `docker images` does.

use crate::digest::Digest;
use std::fmt;

pub const DEFAULT_DOMAIN: &str = "docker.io";
const LEGACY_DOMAIN: &str = "index.docker.io";
pub const DEFAULT_TAG: &str = "latest";

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Reference {
    pub domain: String,
    pub path: String,
    pub tag: Option<String>,
    pub digest: Option<Digest>,
}

#[derive(Debug, thiserror::Error)]
#[error("invalid image reference {input:?}: {why}")]
pub struct ReferenceError {
    pub input: String,
    pub why: String,
}

fn err(input: &str, why: impl Into<String>) -> ReferenceError {
    ReferenceError {
        input: input.into(),
        why: why.into(),
    }
}

fn valid_path_component(c: &str) -> bool {
    // [a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*
    let b = c.as_bytes();
    if b.is_empty() || !is_alnum(b[0]) || !is_alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if is_alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !is_alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-');
        if !ok {
            return false;
        }
    }
    true
}

fn is_alnum(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

fn valid_tag(t: &str) -> bool {
    let b = t.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

fn valid_domain(d: &str) -> bool {
    let (host, port) = match d.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') && !h.contains(':') => (h, Some(p)),
        Some((h, p)) if h.ends_with(']') => (h, Some(p)),
        _ => (d, None),
    };
    if let Some(p) = port {
        if p.is_empty() || !p.bytes().all(|c| c.is_ascii_digit()) {
            return false;
        }
    }
    if host.starts_with('[') {
        return host.ends_with(']') && host.len() > 2;
    }
    !host.is_empty()
        && host.split('.').all(|l| {
            !l.is_empty()
                && l.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

impl Reference {
    /// Parses a reference the way `docker pull` does.
    pub fn parse(input: &str) -> Result<Reference, ReferenceError> {
        if input.is_empty() {
            return Err(err(input, "empty"));
        }
        if input.len() > 4096 {
            return Err(err(input, "too long"));
        }
        let (rest, digest) = match input.split_once('@') {
            Some((r, d)) => (
                r,
                Some(d.parse::<Digest>().map_err(|e| err(input, e.to_string()))?),
            ),
            None => (input, None),
        };
        let (name, tag) = match rest.rfind(':') {
            Some(i) if !rest[i + 1..].contains('/') => (&rest[..i], Some(&rest[i + 1..])),
            _ => (rest, None),
        };
        if let Some(t) = tag {
            if !valid_tag(t) {
                return Err(err(
                    input,
                    format!("invalid tag {t:?} (letters, digits, _ . -, at most 128)"),
                ));
            }
        }
        let (domain, path) = match name.split_once('/') {
            Some((first, remainder))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                if !valid_domain(first) {
                    return Err(err(input, format!("invalid registry host {first:?}")));
                }
                (first.to_string(), remainder.to_string())
            }
            _ => (DEFAULT_DOMAIN.to_string(), name.to_string()),
        };
        let domain = if domain == LEGACY_DOMAIN {
            DEFAULT_DOMAIN.to_string()
        } else {
            domain
        };
        if path.is_empty() {
            return Err(err(input, "missing repository name"));
        }
        if path.bytes().any(|c| c.is_ascii_uppercase()) {
            return Err(err(input, "repository name must be lowercase"));
        }
        if !path.split('/').all(valid_path_component) {
            return Err(err(
                input,
                "repository name components must be lowercase letters and digits separated by . _ __ or -",
            ));
        }
        if path.len() + domain.len() + 1 > 255 {
            return Err(err(input, "repository name longer than 255 characters"));
        }
        let path = if domain == DEFAULT_DOMAIN && !path.contains('/') {
            format!("library/{path}")
        } else {
            path
        };
        Ok(Reference {
            domain,
            path,
            tag: tag.map(str::to_string),
            digest,
        })
    }

    /// Like [`Reference::parse`], adding `:latest` when neither tag nor digest was given.
    pub fn parse_tagged(input: &str) -> Result<Reference, ReferenceError> {
        let mut r = Reference::parse(input)?;
        if r.tag.is_none() && r.digest.is_none() {
            r.tag = Some(DEFAULT_TAG.into());
        }
        Ok(r)
    }

    /// Full repository name: `docker.io/library/busybox`.
    pub fn repository(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }

    /// Short form of the repository, as Docker prints it: `busybox`, `me/app`, `host:5000/app`.
    pub fn familiar_repository(&self) -> String {
        familiar(&self.repository())
    }

    pub fn tag_or_latest(&self) -> &str {
        self.tag.as_deref().unwrap_or(DEFAULT_TAG)
    }
}

/// Shortens a full repository name the way Docker prints it.
pub fn familiar(repo: &str) -> String {
    match repo.strip_prefix("docker.io/") {
        Some(rest) => rest
            .strip_prefix("library/")
            .filter(|r| !r.contains('/'))
            .unwrap_or(rest)
            .to_string(),
        None => repo.to_string(),
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.familiar_repository())?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Reference {
        Reference::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn docker_normalisation() {
        let r = p("busybox");
        assert_eq!(r.repository(), "docker.io/library/busybox");
        assert_eq!(r.familiar_repository(), "busybox");
        assert_eq!(r.tag, None);
        assert_eq!(p("me/app:1.0").repository(), "docker.io/me/app");
        assert_eq!(p("me/app:1.0").tag.as_deref(), Some("1.0"));
        assert_eq!(p("localhost:5000/app").domain, "localhost:5000");
        assert_eq!(p("localhost/app").domain, "localhost");
        assert_eq!(p("127.0.0.1:5000/a/b/c:t").path, "a/b/c");
        assert_eq!(
            p("index.docker.io/library/debian").familiar_repository(),
            "debian"
        );
        assert_eq!(
            p("localhost:5000/app").familiar_repository(),
            "localhost:5000/app"
        );
        assert_eq!(p("[::1]:5000/app").domain, "[::1]:5000");
        let d = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let r = p(&format!("debian:bookworm@{d}"));
        assert_eq!(r.tag.as_deref(), Some("bookworm"));
        assert_eq!(r.digest.unwrap().to_string(), d);
        assert_eq!(p("a_b__c-d---e.f").path, "library/a_b__c-d---e.f");
        assert_eq!(
            Reference::parse_tagged("x").unwrap().to_string(),
            "x:latest"
        );
    }

    #[test]
    fn refusals() {
        for bad in [
            "",
            "UPPER",
            "a/",
            "/a",
            "a//b",
            "a:",
            "a:-x",
            "a@sha256:zz",
            "a..b",
            "_a",
            "a/../b",
            "host:port/x",
        ] {
            assert!(Reference::parse(bad).is_err(), "{bad:?} must be refused");
        }
    }
}

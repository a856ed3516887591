//! `.dockerignore` with Docker's rules (moby/patternmatcher semantics), reporting which
//! line decided, plus the rule for picking the ignore file beside a custom Dockerfile.
//!
//! Reading the file: a BOM is dropped; lines starting with `#` (in column one) are
//! comments; blank lines are skipped; each pattern is trimmed, a leading `!` makes it an
//! exception, the rest is path-cleaned (`a//b/../c` → `a/c`, trailing `/` dropped) and a
//! leading `/` removed.
//!
//! Matching a path (relative to the context, cleaned the same way): every pattern is tried
//! in order against the path and against each of its parent directories; the last pattern
//! that matches wins, so a later `!exception` re-includes and a later pattern excludes
//! again. `*` and `?` do not cross `/`; `**` spans any number of directories (`**/x`,
//! `a/**/b`, `a/**`); `[...]` classes (`^` negates) and `\` escapes work as in Go's
//! regexps, which is what Docker turns patterns into.

use crate::error::{ParseError, Span};
use crate::glob::{parse_class, Glob, Token};
use std::path::{Path, PathBuf};

/// Go's `filepath.Clean` for slash-separated paths.
pub fn clean_path(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let rooted = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            s => parts.push(s),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Matcher {
    Exact(String),
    Prefix(String),
    Suffix(String),
    Glob(Glob),
}

/// One pattern of an ignore file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pattern {
    /// 1-based line in the ignore file (0 for patterns given programmatically).
    pub line: usize,
    /// The line as written.
    pub text: String,
    /// The cleaned pattern, without `!`.
    pub cleaned: String,
    pub exception: bool,
    matcher: Matcher,
}

fn compile(p: &str) -> Result<Matcher, String> {
    let chars: Vec<char> = p.chars().collect();
    #[derive(PartialEq)]
    enum Ty {
        Exact,
        Prefix,
        Suffix,
        Regex,
    }
    let mut ty = Ty::Exact;
    let mut tokens = Vec::new();
    let mut i = 0;
    let mut first = true;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        match c {
            '*' if chars.get(i) == Some(&'*') => {
                i += 1;
                if chars.get(i) == Some(&'/') {
                    i += 1;
                }
                if i >= chars.len() {
                    if ty == Ty::Exact {
                        ty = Ty::Prefix;
                    } else {
                        ty = Ty::Regex;
                    }
                    tokens.push(Token::AnyRest);
                } else {
                    ty = Ty::Regex;
                    tokens.push(Token::AnyDirs);
                }
                if first {
                    ty = Ty::Suffix;
                }
            }
            '*' => {
                ty = Ty::Regex;
                tokens.push(Token::Star);
            }
            '?' => {
                ty = Ty::Regex;
                tokens.push(Token::One);
            }
            '\\' => {
                let Some(&n) = chars.get(i) else {
                    return Err("syntax error in pattern: trailing \\".into());
                };
                i += 1;
                ty = Ty::Regex;
                tokens.push(Token::Literal(n));
            }
            '[' => {
                let (t, next) = parse_class(&chars, i, false)?;
                i = next;
                ty = Ty::Regex;
                tokens.push(t);
            }
            ']' => {
                ty = Ty::Regex;
                tokens.push(Token::Literal(']'));
            }
            _ => tokens.push(Token::Literal(c)),
        }
        first = false;
    }
    Ok(match ty {
        Ty::Exact => Matcher::Exact(p.to_string()),
        Ty::Prefix => Matcher::Prefix(p[..p.len() - 2].to_string()),
        Ty::Suffix => Matcher::Suffix(p[2..].to_string()),
        Ty::Regex => Matcher::Glob(Glob {
            tokens,
            slash_sensitive: true,
            class_matches_slash: true,
        }),
    })
}

impl Pattern {
    /// A pattern as it appears in an ignore file (already trimmed of comments).
    pub fn new(text: &str, line: usize) -> Result<Pattern, String> {
        let t = text.trim();
        let (exception, body) = match t.strip_prefix('!') {
            Some(rest) => (true, rest.trim()),
            None => (false, t),
        };
        if exception && body.is_empty() {
            return Err("illegal exclusion pattern: \"!\"".into());
        }
        let mut cleaned = clean_path(body);
        if cleaned.len() > 1 && cleaned.starts_with('/') {
            cleaned.remove(0);
        }
        let matcher = compile(&cleaned)?;
        Ok(Pattern {
            line,
            text: text.to_string(),
            cleaned,
            exception,
            matcher,
        })
    }

    /// Whether the pattern matches this exact (cleaned) path.
    pub fn matches_exact(&self, path: &str) -> bool {
        match &self.matcher {
            Matcher::Exact(p) => path == p,
            Matcher::Prefix(p) => path.starts_with(p.as_str()),
            Matcher::Suffix(s) => {
                path.ends_with(s.as_str()) || s.strip_prefix('/').is_some_and(|rest| path == rest)
            }
            Matcher::Glob(g) => g.matches(path),
        }
    }

    /// Whether the pattern matches the path or one of its parent directories.
    pub fn matches(&self, path: &str) -> bool {
        if self.matches_exact(path) {
            return true;
        }
        let Some((parent, _)) = path.rsplit_once('/') else {
            return false;
        };
        let mut prefix = String::new();
        for (i, seg) in parent.split('/').enumerate() {
            if i > 0 {
                prefix.push('/');
            }
            prefix.push_str(seg);
            if self.matches_exact(&prefix) {
                return true;
            }
        }
        false
    }
}

/// The verdict for one path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    pub excluded: bool,
    /// The last pattern that matched (the one that decided), if any did.
    pub line: Option<usize>,
    pub pattern: Option<String>,
}

/// A parsed ignore file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IgnoreFile {
    pub patterns: Vec<Pattern>,
}

impl IgnoreFile {
    /// Parses ignore file text. Errors name the line of a malformed pattern.
    pub fn parse(text: &str) -> Result<IgnoreFile, ParseError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut patterns = Vec::new();
        for (n, raw) in text.split('\n').enumerate() {
            let raw = raw.strip_suffix('\r').unwrap_or(raw);
            if raw.starts_with('#') || raw.trim().is_empty() {
                continue;
            }
            let p = Pattern::new(raw, n + 1).map_err(|e| {
                ParseError::new(Span::line(n + 1), format!("{e} in {:?}", raw.trim()))
            })?;
            patterns.push(p);
        }
        Ok(IgnoreFile { patterns })
    }

    /// Builds a matcher from patterns given directly (e.g. `COPY --exclude`).
    pub fn from_patterns<S: AsRef<str>>(patterns: &[S]) -> Result<IgnoreFile, String> {
        let mut out = Vec::new();
        for p in patterns {
            if p.as_ref().trim().is_empty() {
                continue;
            }
            out.push(Pattern::new(p.as_ref(), 0)?);
        }
        Ok(IgnoreFile { patterns: out })
    }

    /// Whether there are `!` exceptions (then a walker cannot skip excluded directories
    /// without looking inside them).
    pub fn has_exceptions(&self) -> bool {
        self.patterns.iter().any(|p| p.exception)
    }

    /// Decides a context-relative path. `.` (the context itself) is never excluded.
    pub fn check(&self, path: &str) -> Verdict {
        let path = clean_path(path.trim_start_matches('/'));
        let mut verdict = Verdict {
            excluded: false,
            line: None,
            pattern: None,
        };
        if path == "." {
            return verdict;
        }
        for p in &self.patterns {
            if p.matches(&path) {
                verdict.excluded = !p.exception;
                verdict.line = Some(p.line);
                verdict.pattern = Some(p.text.trim().to_string());
            }
        }
        verdict
    }

    pub fn is_excluded(&self, path: &str) -> bool {
        self.check(path).excluded
    }
}

/// The ignore files to try, in order, for a build: `<Dockerfile name>.dockerignore` next
/// to the Dockerfile (so `-f build/Web.Dockerfile` looks for
/// `build/Web.Dockerfile.dockerignore`, and the default `Dockerfile` for
/// `Dockerfile.dockerignore`), then `.dockerignore` at the root of the context. The first
/// that exists is used, alone.
pub fn ignore_file_candidates(context_dir: &Path, dockerfile: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Some(name) = dockerfile.file_name() {
        let mut n = name.to_os_string();
        n.push(".dockerignore");
        out.push(dockerfile.with_file_name(n));
    }
    let root = context_dir.join(".dockerignore");
    if !out.contains(&root) {
        out.push(root);
    }
    out
}

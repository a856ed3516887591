//! A small glob engine shared by `.dockerignore` patterns and the `${var#pattern}` family:
//! `*`, `?`, `[...]` classes (with `^`/`!` negation and ranges), `\` escapes, and, for
//! ignore files, `**` that spans directories.

/// One element of a compiled pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Token {
    Literal(char),
    /// `*`: any run of characters (not `/` when `slash_sensitive`).
    Star,
    /// `?`: one character (not `/` when `slash_sensitive`).
    One,
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
    /// `**/` in the middle: zero or more whole directories (`(.*/)?`).
    AnyDirs,
    /// `**` at the end: anything at all (`.*`).
    AnyRest,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Glob {
    pub tokens: Vec<Token>,
    /// Whether `*` and `?` stop at `/` (path patterns) or not (shell patterns).
    pub slash_sensitive: bool,
    /// Whether a `[...]` class can match `/` (it can in `.dockerignore`, whose patterns
    /// become regular expressions).
    pub class_matches_slash: bool,
}

/// Parses a class body; `i` is just after `[`. `bang` allows `[!...]` negation (shell);
/// `[^...]` always negates. As in Go's `filepath.Match`, a class needs at least one
/// item, and `-` or `]` must be escaped (`[\-x]`, `[\]]`) to be taken literally.
/// Returns the token and the index after `]`.
pub fn parse_class(chars: &[char], mut i: usize, bang: bool) -> Result<(Token, usize), String> {
    let bad = || Err("syntax error in pattern: malformed [...] class".to_string());
    let mut negated = false;
    if i < chars.len() && (chars[i] == '^' || (bang && chars[i] == '!')) {
        negated = true;
        i += 1;
    }
    // One class member: a character, or an escaped one; `-` and `]` need the escape.
    let member = |i: &mut usize| -> Option<char> {
        let c = *chars.get(*i)?;
        if c == '-' || c == ']' {
            return None;
        }
        *i += 1;
        if c == '\\' {
            let n = *chars.get(*i)?;
            *i += 1;
            return Some(n);
        }
        Some(c)
    };
    let mut ranges = Vec::new();
    loop {
        if chars.get(i) == Some(&']') && !ranges.is_empty() {
            return Ok((Token::Class { negated, ranges }, i + 1));
        }
        let Some(lo) = member(&mut i) else {
            return bad();
        };
        if chars.get(i) == Some(&'-') {
            i += 1;
            let Some(hi) = member(&mut i) else {
                return bad();
            };
            if hi < lo {
                return bad();
            }
            ranges.push((lo, hi));
        } else {
            ranges.push((lo, lo));
        }
    }
}

impl Glob {
    /// A shell pattern as BuildKit reads `${var#pattern}`: `*` and `?` match any
    /// character (including `/`), there are no bracket classes, and `\` may only escape
    /// `*`, `?` and `\` (and `}` or `/`, which the `${}` syntax needs escaped).
    pub fn shell(pattern: &str) -> Result<Glob, String> {
        let mut tokens = Vec::new();
        let mut chars = pattern.chars();
        while let Some(c) = chars.next() {
            tokens.push(match c {
                '*' => Token::Star,
                '?' => Token::One,
                '\\' => match chars.next() {
                    Some(n @ ('*' | '?' | '\\' | '}' | '/')) => Token::Literal(n),
                    Some(n) => {
                        return Err(format!("invalid escape '\\{n}' in pattern {pattern:?}"))
                    }
                    None => return Err(format!("trailing escape in pattern {pattern:?}")),
                },
                other => Token::Literal(other),
            });
        }
        Ok(Glob {
            tokens,
            slash_sensitive: false,
            class_matches_slash: true,
        })
    }

    /// Compiles a pattern. `double_star` enables `**`; otherwise `**` is just two stars.
    pub fn new(pattern: &str, slash_sensitive: bool, double_star: bool) -> Result<Glob, String> {
        let chars: Vec<char> = pattern.chars().collect();
        let mut tokens = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            match c {
                '*' if double_star && chars.get(i + 1) == Some(&'*') => {
                    i += 2;
                    if chars.get(i) == Some(&'/') {
                        i += 1;
                    }
                    if i >= chars.len() {
                        tokens.push(Token::AnyRest);
                    } else {
                        tokens.push(Token::AnyDirs);
                    }
                    continue;
                }
                '*' => tokens.push(Token::Star),
                '?' => tokens.push(Token::One),
                '[' => {
                    let (t, next) = parse_class(&chars, i + 1, true)?;
                    tokens.push(t);
                    i = next;
                    continue;
                }
                '\\' => {
                    i += 1;
                    tokens.push(Token::Literal(*chars.get(i).unwrap_or(&'\\')));
                }
                _ => tokens.push(Token::Literal(c)),
            }
            i += 1;
        }
        Ok(Glob {
            tokens,
            slash_sensitive,
            class_matches_slash: !slash_sensitive,
        })
    }

    pub fn matches(&self, text: &str) -> bool {
        let chars: Vec<char> = text.chars().collect();
        // Memo of (token, position) pairs already known not to match, so patterns with
        // many stars stay polynomial.
        let mut failed = vec![false; (self.tokens.len() + 1) * (chars.len() + 1)];
        self.match_at(0, &chars, 0, &mut failed)
    }

    fn single(&self, t: &Token, c: char) -> bool {
        match t {
            Token::Literal(l) => *l == c,
            Token::One => !(self.slash_sensitive && c == '/'),
            Token::Class { negated, ranges } => {
                if !self.class_matches_slash && c == '/' {
                    return false;
                }
                ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi) != *negated
            }
            _ => false,
        }
    }

    fn match_at(&self, ti: usize, s: &[char], si: usize, failed: &mut [bool]) -> bool {
        let slot = ti * (s.len() + 1) + si;
        if failed[slot] {
            return false;
        }
        let ok = self.match_uncached(ti, s, si, failed);
        if !ok {
            failed[slot] = true;
        }
        ok
    }

    fn match_uncached(&self, ti: usize, s: &[char], si: usize, failed: &mut [bool]) -> bool {
        let Some(t) = self.tokens.get(ti) else {
            return si == s.len();
        };
        match t {
            Token::Star => {
                let mut j = si;
                loop {
                    if self.match_at(ti + 1, s, j, failed) {
                        return true;
                    }
                    if j == s.len() || (self.slash_sensitive && s[j] == '/') {
                        return false;
                    }
                    j += 1;
                }
            }
            Token::AnyRest => true,
            Token::AnyDirs => {
                // zero directories, or any prefix ending in '/'
                if self.match_at(ti + 1, s, si, failed) {
                    return true;
                }
                (si..s.len()).any(|j| s[j] == '/' && self.match_at(ti + 1, s, j + 1, failed))
            }
            _ => si < s.len() && self.single(t, s[si]) && self.match_at(ti + 1, s, si + 1, failed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(p: &str, s: &str) -> bool {
        Glob::new(p, true, true).unwrap().matches(s)
    }

    fn shell(p: &str, s: &str) -> bool {
        Glob::new(p, false, false).unwrap().matches(s)
    }

    #[test]
    fn path_globs() {
        assert!(path("*.go", "main.go"));
        assert!(!path("*.go", "cmd/main.go"));
        assert!(path("**/*.go", "cmd/main.go"));
        assert!(path("**/*.go", "main.go"));
        assert!(path("a/**", "a/b/c"));
        assert!(path("a/**/z", "a/z"));
        assert!(path("a/**/z", "a/b/c/z"));
        assert!(!path("a/**/z", "a/bz"));
        assert!(path("?.txt", "a.txt"));
        assert!(!path("?", "/"));
        assert!(path("[a-c]x", "bx"));
        assert!(!path("[!a-c]x", "bx"));
        assert!(path("[^a-c]x", "dx"));
        assert!(path("\\*", "*"));
        assert!(!path("\\*", "a"));
    }

    #[test]
    fn shell_pattern_rules() {
        let g = Glob::shell("()[]{\\}^$.\\*\\?|\\\\").unwrap();
        assert!(g.matches("()[]{}^$.*?|\\"));
        assert!(Glob::shell("\\x").is_err());
        assert!(Glob::shell("a\\").is_err());
        assert!(Glob::shell("a[b]").unwrap().matches("a[b]"));
    }

    #[test]
    fn shell_globs() {
        assert!(shell("*/", "a/b/"));
        assert!(shell("a*", "a/b"));
        assert!(!shell("a?", "abc"));
    }

    #[test]
    fn many_stars_stay_fast() {
        let g = Glob::shell(&"*a".repeat(30)).unwrap();
        let text = "a".repeat(29) + "b";
        let start = std::time::Instant::now();
        assert!(!g.matches(&text));
        assert!(start.elapsed() < std::time::Duration::from_secs(1));
    }

    #[test]
    fn bad_class() {
        for bad in [
            "[abc", "[z-a]", "[]a]", "[-]", "[x-]", "[-x]", "[a-b-c]", "[", "[^", "a[",
        ] {
            assert!(Glob::new(bad, true, true).is_err(), "{bad}");
        }
        for (p, s) in [
            ("[\\]a]", "]"),
            ("[\\-]", "-"),
            ("[x\\-]", "-"),
            ("[\\-x]", "x"),
        ] {
            assert!(Glob::new(p, true, true).unwrap().matches(s), "{p} {s}");
        }
    }
}

//! Variable expansion with BuildKit's shell-lexer rules.
//!
//! Supported: `$a`, `${a}`, `${a:-w}`, `${a-w}`, `${a:+w}`, `${a+w}`, `${a:?msg}`,
//! `${a?msg}`, `${a#pat}`, `${a##pat}`, `${a%pat}`, `${a%%pat}`, `${a/pat/rep}`,
//! `${a//pat/rep}`. Single quotes are literal; in double quotes the escape character only
//! escapes `"`, `$` and itself; outside quotes it escapes any character. Quotes are
//! removed. An unset variable expands to the empty string. Every name looked up is
//! recorded so callers know which build arguments a word used.

use crate::glob::Glob;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Where variable values come from. `None` means unset (different from empty).
pub trait Lookup {
    fn lookup(&self, name: &str) -> Option<String>;
}

impl Lookup for BTreeMap<String, String> {
    fn lookup(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}

impl Lookup for HashMap<String, String> {
    fn lookup(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}

impl Lookup for Vec<(String, String)> {
    fn lookup(&self, name: &str) -> Option<String> {
        self.iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }
}

impl<F: Fn(&str) -> Option<String>> Lookup for F {
    fn lookup(&self, name: &str) -> Option<String> {
        self(name)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ExpandError(pub String);

/// Names a word referred to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Refs {
    /// Every variable name looked up.
    pub referenced: BTreeSet<String>,
    /// Names used without a default/alternative/error modifier (`$a`, `${a}`, `${a#x}`):
    /// if these are undefined the author probably made a mistake.
    pub unguarded: BTreeSet<String>,
}

impl Refs {
    pub fn extend(&mut self, other: Refs) {
        self.referenced.extend(other.referenced);
        self.unguarded.extend(other.unguarded);
    }
}

/// A shell lexer for one escape character.
#[derive(Debug, Clone, Copy)]
pub struct Lexer {
    pub escape: char,
    /// Quotes are ordinary characters (heredoc bodies); the escape character only escapes
    /// `$` and itself.
    pub literal_quotes: bool,
}

impl Lexer {
    pub fn new(escape: char) -> Self {
        Lexer {
            escape,
            literal_quotes: false,
        }
    }

    /// Expands a word into one string (whitespace kept, quotes removed).
    pub fn process_word(
        &self,
        text: &str,
        env: &dyn Lookup,
    ) -> Result<(String, Refs), ExpandError> {
        let mut w = Walker::new(self, text, env);
        let s = w.process(None)?;
        Ok((s, w.refs))
    }

    /// Expands and splits into words on unquoted whitespace, including whitespace that
    /// came from unquoted variable values.
    pub fn process_words(
        &self,
        text: &str,
        env: &dyn Lookup,
    ) -> Result<(Vec<String>, Refs), ExpandError> {
        let mut w = Walker::new(self, text, env);
        w.process(None)?;
        let words = w.words.finish();
        Ok((words, w.refs))
    }
}

#[derive(Default)]
struct Words {
    done: Vec<String>,
    word: String,
    in_word: bool,
}

impl Words {
    fn raw(&mut self, c: char) {
        self.word.push(c);
        self.in_word = true;
    }
    fn raw_str(&mut self, s: &str) {
        self.in_word = true;
        self.word.push_str(s);
    }
    fn split(&mut self, c: char) {
        if c.is_whitespace() {
            if self.in_word {
                self.flush();
            }
        } else {
            self.raw(c);
        }
    }
    fn split_str(&mut self, s: &str) {
        for c in s.chars() {
            self.split(c);
        }
    }
    fn flush(&mut self) {
        if !self.word.is_empty() {
            self.done.push(std::mem::take(&mut self.word));
        }
        self.in_word = false;
    }
    fn finish(mut self) -> Vec<String> {
        self.flush();
        self.done
    }
}

struct Walker<'a> {
    lexer: &'a Lexer,
    chars: Vec<char>,
    pos: usize,
    env: &'a dyn Lookup,
    refs: Refs,
    words: Words,
    /// Keep escape characters (pattern and replacement words of `${a#p}`, `${a/p/r}`).
    raw_escapes: bool,
}

fn is_name_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

impl<'a> Walker<'a> {
    fn new(lexer: &'a Lexer, text: &str, env: &'a dyn Lookup) -> Self {
        Walker {
            lexer,
            chars: text.chars().collect(),
            pos: 0,
            env,
            refs: Refs::default(),
            words: Words::default(),
            raw_escapes: false,
        }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek();
        if c.is_some() {
            self.pos += 1;
        }
        c
    }

    fn get(&mut self, name: &str, guarded: bool) -> Option<String> {
        self.refs.referenced.insert(name.to_string());
        if !guarded {
            self.refs.unguarded.insert(name.to_string());
        }
        self.env.lookup(name)
    }

    /// Processes until `stop` (consumed) or the end of input.
    fn process(&mut self, stop: Option<char>) -> Result<String, ExpandError> {
        let esc = self.lexer.escape;
        let mut out = String::new();
        loop {
            let Some(c) = self.peek() else {
                if let Some(s) = stop {
                    return Err(ExpandError(format!(
                        "unexpected end of statement while looking for matching {s}"
                    )));
                }
                return Ok(out);
            };
            if Some(c) == stop {
                self.pos += 1;
                return Ok(out);
            }
            if self.lexer.literal_quotes {
                self.pos += 1;
                if c == '$' {
                    self.pos -= 1;
                    let v = self.dollar()?;
                    out.push_str(&v);
                    self.words.split_str(&v);
                } else if c == esc && matches!(self.peek(), Some(n) if n == '$' || n == esc) {
                    let n = self.next().unwrap_or(esc);
                    out.push(n);
                    self.words.raw(n);
                } else {
                    out.push(c);
                    self.words.split(c);
                }
                continue;
            }
            match c {
                '\'' => {
                    let s = self.single_quoted()?;
                    self.words.raw_str(&s);
                    out.push_str(&s);
                }
                '"' => {
                    let s = self.double_quoted()?;
                    self.words.raw_str(&s);
                    out.push_str(&s);
                }
                '$' => {
                    let v = self.dollar()?;
                    self.words.split_str(&v);
                    out.push_str(&v);
                }
                _ => {
                    self.pos += 1;
                    if c == esc {
                        match self.next() {
                            Some(n) => {
                                if self.raw_escapes {
                                    out.push(c);
                                }
                                out.push(n);
                                self.words.raw(n);
                            }
                            None => return Ok(out),
                        }
                    } else {
                        out.push(c);
                        self.words.split(c);
                    }
                }
            }
        }
    }

    fn single_quoted(&mut self) -> Result<String, ExpandError> {
        self.pos += 1;
        let mut s = String::new();
        loop {
            match self.next() {
                None => {
                    return Err(ExpandError(
                        "unexpected end of statement while looking for matching single-quote"
                            .into(),
                    ))
                }
                Some('\'') => return Ok(s),
                Some(c) => s.push(c),
            }
        }
    }

    fn double_quoted(&mut self) -> Result<String, ExpandError> {
        self.pos += 1;
        let esc = self.lexer.escape;
        let mut s = String::new();
        loop {
            match self.peek() {
                None => {
                    return Err(ExpandError(
                        "unexpected end of statement while looking for matching double-quote"
                            .into(),
                    ))
                }
                Some('"') => {
                    self.pos += 1;
                    return Ok(s);
                }
                Some('$') => {
                    let saved = std::mem::take(&mut self.words);
                    let v = self.dollar()?;
                    self.words = saved;
                    s.push_str(&v);
                }
                Some(c) => {
                    self.pos += 1;
                    if c == esc {
                        match self.peek() {
                            Some(n) if n == '"' || n == '$' || n == esc => {
                                self.pos += 1;
                                s.push(n);
                            }
                            _ => s.push(c),
                        }
                    } else {
                        s.push(c);
                    }
                }
            }
        }
    }

    fn name(&mut self) -> String {
        let mut name = String::new();
        match self.peek() {
            Some(c) if c.is_ascii_digit() => {
                while let Some(d) = self.peek().filter(char::is_ascii_digit) {
                    name.push(d);
                    self.pos += 1;
                }
                return name;
            }
            Some(c) if "@*#?-$!".contains(c) => {
                self.pos += 1;
                return c.to_string();
            }
            _ => {}
        }
        while let Some(c) = self.peek().filter(|&c| is_name_char(c)) {
            name.push(c);
            self.pos += 1;
        }
        name
    }

    /// A nested word inside `${...}`, processed up to `stop`.
    fn nested(&mut self, stop: char) -> Result<String, ExpandError> {
        self.nested_with(stop, false)
    }

    fn nested_with(&mut self, stop: char, raw_escapes: bool) -> Result<String, ExpandError> {
        let saved = std::mem::take(&mut self.words);
        let saved_raw = std::mem::replace(&mut self.raw_escapes, raw_escapes);
        let r = self.process(Some(stop));
        self.words = saved;
        self.raw_escapes = saved_raw;
        r
    }

    fn dollar(&mut self) -> Result<String, ExpandError> {
        self.pos += 1; // '$'
        if self.peek() != Some('{') {
            let name = self.name();
            if name.is_empty() {
                return Ok("$".into());
            }
            return Ok(self.get(&name, false).unwrap_or_default());
        }
        self.pos += 1; // '{'
        let missing = || ExpandError("syntax error: missing '}'".into());
        // `${#}`-style special names are read by `name`; `${#a}` (length) is not supported.
        let name = self.name();
        let Some(op) = self.next() else {
            return Err(missing());
        };
        if name.is_empty() {
            return Err(ExpandError(
                "bad substitution: missing variable name".into(),
            ));
        }
        match op {
            '}' => Ok(self.get(&name, false).unwrap_or_default()),
            ':' | '-' | '+' | '?' => {
                let colon = op == ':';
                let m = if colon {
                    self.next().ok_or_else(missing)?
                } else {
                    op
                };
                if !matches!(m, '-' | '+' | '?') {
                    return Err(ExpandError(format!(
                        "unsupported modifier ({op}{m}) in substitution"
                    )));
                }
                let word = self.nested('}')?;
                let value = self.get(&name, true);
                let set = match (&value, colon) {
                    (Some(v), true) => !v.is_empty(),
                    (Some(_), false) => true,
                    (None, _) => false,
                };
                match m {
                    '-' => Ok(if set { value.unwrap_or_default() } else { word }),
                    '+' => Ok(if set { word } else { String::new() }),
                    _ => {
                        if set {
                            Ok(value.unwrap_or_default())
                        } else if !word.is_empty() {
                            Err(ExpandError(format!("{name}: {word}")))
                        } else if colon {
                            Err(ExpandError(format!("{name}: is not allowed to be empty")))
                        } else {
                            Err(ExpandError(format!("{name}: is not allowed to be unset")))
                        }
                    }
                }
            }
            '#' | '%' => {
                let longest = self.peek() == Some(op);
                if longest {
                    self.pos += 1;
                }
                let pat = self.nested_with('}', true)?;
                let value = self.get(&name, false).unwrap_or_default();
                let glob = Glob::shell(&pat).map_err(ExpandError)?;
                Ok(trim_match(&value, &glob, op == '#', longest))
            }
            '/' => {
                let all = self.peek() == Some('/');
                if all {
                    self.pos += 1;
                }
                let pat = self.nested_with('/', true)?;
                let rep = self.nested_with('}', true)?;
                let value = self.get(&name, false).unwrap_or_default();
                let glob = Glob::shell(&pat).map_err(ExpandError)?;
                Ok(replace_match(&value, &glob, &rep, all))
            }
            other => Err(ExpandError(format!(
                "unsupported modifier ({other}) in substitution"
            ))),
        }
    }
}

/// Removes the shortest/longest prefix (or suffix) of `value` matching `glob`.
fn trim_match(value: &str, glob: &Glob, prefix: bool, longest: bool) -> String {
    let cuts: Vec<usize> = value
        .char_indices()
        .map(|(i, _)| i)
        .chain(std::iter::once(value.len()))
        .collect();
    let ordered: Vec<usize> = if prefix == longest {
        cuts.iter().rev().copied().collect()
    } else {
        cuts.clone()
    };
    for cut in ordered {
        let (part, rest) = if prefix {
            (&value[..cut], &value[cut..])
        } else {
            (&value[cut..], &value[..cut])
        };
        if glob.matches(part) {
            return rest.to_string();
        }
    }
    value.to_string()
}

/// Replaces the first (or every) longest match of `glob` with `rep`.
fn replace_match(value: &str, glob: &Glob, rep: &str, all: bool) -> String {
    if glob.tokens.is_empty() {
        // An empty pattern matches the empty string at the start.
        return if all {
            value.to_string()
        } else {
            format!("{rep}{value}")
        };
    }
    let idx: Vec<usize> = value
        .char_indices()
        .map(|(i, _)| i)
        .chain(std::iter::once(value.len()))
        .collect();
    let mut out = String::new();
    let mut i = 0;
    let mut replaced = false;
    while i < idx.len() - 1 {
        let start = idx[i];
        let found = if replaced && !all {
            None
        } else {
            (i + 1..idx.len())
                .rev()
                .find(|&j| glob.matches(&value[start..idx[j]]))
        };
        match found {
            Some(j) => {
                out.push_str(rep);
                replaced = true;
                i = j;
            }
            None => {
                out.push_str(&value[start..idx[i + 1]]);
                i += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> BTreeMap<String, String> {
        [
            ("a", "apple"),
            ("empty", ""),
            ("path", "/usr/local/bin/tool.tar.gz"),
            ("spaced", "one two  three"),
            ("under_score1", "u"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    fn w(s: &str) -> String {
        Lexer::new('\\').process_word(s, &env()).unwrap().0
    }

    fn werr(s: &str) -> String {
        Lexer::new('\\').process_word(s, &env()).unwrap_err().0
    }

    #[test]
    fn expansion_table() {
        let cases = [
            ("$a", "apple"),
            ("${a}", "apple"),
            ("x${a}y", "xappley"),
            ("$a_x", ""),
            ("${under_score1}", "u"),
            ("$missing", ""),
            ("${missing:-def}", "def"),
            ("${empty:-def}", "def"),
            ("${empty-def}", ""),
            ("${missing-def}", "def"),
            ("${a:-def}", "apple"),
            ("${a:+alt}", "alt"),
            ("${empty:+alt}", ""),
            ("${empty+alt}", "alt"),
            ("${missing+alt}", ""),
            ("${a:?boom}", "apple"),
            ("${missing:-${a}}", "apple"),
            ("${missing:-\"q w\"}", "q w"),
            ("${path#*/}", "usr/local/bin/tool.tar.gz"),
            ("${path##*/}", "tool.tar.gz"),
            ("${path%.*}", "/usr/local/bin/tool.tar"),
            ("${path%%.*}", "/usr/local/bin/tool"),
            ("${path#nomatch}", "/usr/local/bin/tool.tar.gz"),
            ("${a/p/P}", "aPple"),
            ("${a//p/P}", "aPPle"),
            ("${a/p*/_}", "a_"),
            ("'$a'", "$a"),
            ("\"$a\"", "apple"),
            ("\"\\$a\"", "$a"),
            ("\\$a", "$a"),
            ("\"a\\b\"", "a\\b"),
            ("a\\ b", "a b"),
            ("\"it's\"", "it's"),
            ("'say \"hi\"'", "say \"hi\""),
            ("$", "$"),
            ("a$", "a$"),
            ("$1", ""),
            ("cost: $ 5", "cost: $ 5"),
            ("trailing\\", "trailing"),
            ("${spaced}", "one two  three"),
        ];
        for (input, want) in cases {
            assert_eq!(w(input), want, "input {input:?}");
        }
    }

    #[test]
    fn expansion_errors() {
        assert_eq!(werr("${missing:?must be set}"), "missing: must be set");
        assert_eq!(werr("${empty:?}"), "empty: is not allowed to be empty");
        assert_eq!(werr("${missing?}"), "missing: is not allowed to be unset");
        assert!(werr("${a").contains("missing '}'"));
        assert!(werr("${a:-x").contains("matching }"));
        assert!(werr("'open").contains("single-quote"));
        assert!(werr("\"open").contains("double-quote"));
        assert!(werr("${a:1}").contains("unsupported modifier"));
        assert!(werr("${a^^}").contains("unsupported modifier"));
        assert!(werr("${}").contains("bad substitution"));
        assert!(werr("${:a}").contains("bad substitution"));
        assert!(werr("${a=b}").contains("unsupported modifier"));
        assert!(werr("${a//x}").contains("matching"));
        assert!(werr("${a#\\x}").contains("invalid escape"));
    }

    fn wenv(s: &str, pairs: &[(&str, &str)]) -> String {
        let env: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Lexer::new('\\').process_word(s, &env).unwrap().0
    }

    #[test]
    fn pattern_words_keep_escapes() {
        assert_eq!(wenv("${F%%\\**}", &[("F", "xx**")]), "xx");
        assert_eq!(wenv("${F%%\\**\\*}", &[("F", "a***yy*")]), "a");
        assert_eq!(wenv("${F#*x*y}", &[("F", "xxyy")]), "y");
        assert_eq!(wenv("${F##*x}", &[("F", "xxyy")]), "yy");
        assert_eq!(wenv("${F#?\\?}", &[("F", "???y")]), "?y");
        assert_eq!(wenv("${F#$B}", &[("F", "xxyy"), ("B", "x")]), "xyy");
        assert_eq!(wenv("${F#}", &[("F", "xxyy")]), "xxyy");
        assert_eq!(
            wenv("${F#()[]{\\}^$.\\*\\?|\\\\}", &[("F", "()[]{}^$.*?|\\x")]),
            "x"
        );
    }

    #[test]
    fn replacement_forms() {
        let env = [("F", "/foo*/*/*.txt"), ("N", "\\*/")];
        assert_eq!(
            wenv("${F/$N/.} - ${F//$N/.}", &env),
            "/foo.*/*.txt - /foo..*.txt"
        );
        let env = [("F", "/tmp/tmp/bar.txt"), ("N", "/tmp")];
        assert_eq!(
            wenv("${F/$N/} - ${F//$N/}", &env),
            "/tmp/bar.txt - /bar.txt"
        );
        let env = [("F", "/a/foo/b/c.txt"), ("N", "/?/"), ("R", "/")];
        assert_eq!(
            wenv("${F/$N/$R} - ${F//$N/$R}", &env),
            "/foo/b/c.txt - /foo/c.txt"
        );
        assert_eq!(
            wenv("${F//\\//\\/}", &[("F", "/tmp/foo.txt")]),
            "\\/tmp\\/foo.txt"
        );
        assert_eq!(wenv("${F/$B/ww}", &[("F", "xxyy"), ("B", "")]), "wwxxyy");
        assert_eq!(wenv("${F///}", &[("F", "xxyy")]), "xxyy");
    }

    #[test]
    fn platform_style_release_name() {
        let env = [
            ("VERSION", "v1.2.3"),
            ("TARGETOS", "linux"),
            ("TARGETARCH", "arm"),
            ("TARGETVARIANT", "v7"),
        ];
        let w = "something-${VERSION}.${TARGETOS}-${TARGETARCH}${TARGETVARIANT:+-${TARGETVARIANT}}.tar.gz";
        assert_eq!(wenv(w, &env), "something-v1.2.3.linux-arm-v7.tar.gz");
        assert_eq!(wenv(w, &env[..3]), "something-v1.2.3.linux-arm.tar.gz");
    }

    #[test]
    fn words_split_unquoted_values() {
        let lx = Lexer::new('\\');
        let (words, _) = lx
            .process_words("$spaced \"$spaced\" x\\ y", &env())
            .unwrap();
        assert_eq!(words, vec!["one", "two", "three", "one two  three", "x y"]);
    }

    #[test]
    fn backtick_escape() {
        let lx = Lexer::new('`');
        let (s, _) = lx.process_word("C:\\dir `$a \"`\"\"", &env()).unwrap();
        assert_eq!(s, "C:\\dir $a \"");
    }

    #[test]
    fn refs_recorded() {
        let (_, refs) = Lexer::new('\\')
            .process_word("$a ${b:-x} ${c#y} '$d'", &env())
            .unwrap();
        let names = |s: &BTreeSet<String>| s.iter().cloned().collect::<Vec<_>>();
        assert_eq!(names(&refs.referenced), vec!["a", "b", "c"]);
        assert_eq!(names(&refs.unguarded), vec!["a", "c"]);
    }

    #[test]
    fn literal_quotes_mode() {
        let lx = Lexer {
            escape: '\\',
            literal_quotes: true,
        };
        let (s, _) = lx.process_word("it's \"$a\" \\$a\n", &env()).unwrap();
        assert_eq!(s, "it's \"apple\" $a\n");
    }
}

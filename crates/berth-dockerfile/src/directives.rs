//! Parser directives: `# syntax=`, `# escape=` and `# check=` lines at the very top.
//!
//! Directives are only recognised before the first line that is not one (a blank line,
//! an ordinary comment, an unknown `# key=value`, or an instruction ends the block). A
//! `#!` shebang on line 1 is skipped. Each directive may appear once.

use crate::error::{ParseError, Span};

/// The escape character used for line continuations and in words: `\` or `` ` ``.
pub const DEFAULT_ESCAPE: char = '\\';

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Directive {
    pub name: String,
    pub value: String,
    pub line: usize,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Directives {
    pub escape: char,
    pub syntax: Option<String>,
    pub check: Option<CheckDirective>,
    /// Every directive found, in order, with its line.
    pub all: Vec<Directive>,
}

impl Default for Directives {
    fn default() -> Self {
        Directives {
            escape: DEFAULT_ESCAPE,
            syntax: None,
            check: None,
            all: Vec::new(),
        }
    }
}

/// `# check=skip=A,B;error=true`.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct CheckDirective {
    /// Rule names to skip; `["all"]` skips every rule.
    pub skip: Vec<String>,
    /// Whether warnings should fail the build.
    pub error: bool,
}

impl CheckDirective {
    fn parse(value: &str, line: usize) -> Result<Self, ParseError> {
        let mut out = CheckDirective::default();
        for part in value.split(';') {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            let (k, v) = part.split_once('=').ok_or_else(|| {
                ParseError::new(
                    Span::line(line),
                    format!("invalid check directive {part:?}: expected key=value"),
                )
            })?;
            match k.trim().to_ascii_lowercase().as_str() {
                "skip" => {
                    out.skip = v
                        .split(',')
                        .map(|s| s.trim().to_string())
                        .filter(|s| !s.is_empty())
                        .collect()
                }
                "error" => {
                    out.error = parse_bool(v.trim()).ok_or_else(|| {
                        ParseError::new(
                            Span::line(line),
                            format!("invalid check directive: error={v:?} is not a boolean"),
                        )
                    })?
                }
                other => {
                    return Err(ParseError::new(
                        Span::line(line),
                        format!("invalid check directive: unknown key {other:?}"),
                    ))
                }
            }
        }
        Ok(out)
    }

    pub fn skips(&self, rule: &str) -> bool {
        self.skip
            .iter()
            .any(|s| s.eq_ignore_ascii_case("all") || s.eq_ignore_ascii_case(rule))
    }
}

fn parse_bool(s: &str) -> Option<bool> {
    match s.to_ascii_lowercase().as_str() {
        "1" | "t" | "true" => Some(true),
        "0" | "f" | "false" => Some(false),
        _ => None,
    }
}

/// Feeds lines one at a time; stops recognising directives at the first other line.
#[derive(Debug, Default)]
pub struct DirectiveScanner {
    line: usize,
    done: bool,
    pub directives: Directives,
}

impl DirectiveScanner {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn done(&self) -> bool {
        self.done
    }

    /// Offer the next physical line (without its newline). Returns true if it was a
    /// directive.
    pub fn offer(&mut self, raw: &str) -> Result<bool, ParseError> {
        self.line += 1;
        if self.done {
            return Ok(false);
        }
        if self.line == 1 && raw.starts_with("#!") {
            return Ok(false);
        }
        let Some((key, value)) = split_directive(raw.trim_start()) else {
            self.done = true;
            return Ok(false);
        };
        let key = key.to_ascii_lowercase();
        if !matches!(key.as_str(), "syntax" | "escape" | "check") {
            self.done = true;
            return Ok(false);
        }
        let span = Span::line(self.line);
        if self.directives.all.iter().any(|d| d.name == key) {
            return Err(ParseError::new(
                span,
                format!("only one {key} parser directive can be used"),
            ));
        }
        match key.as_str() {
            "escape" => {
                self.directives.escape = match value {
                    "\\" => '\\',
                    "`" => '`',
                    other => {
                        return Err(ParseError::new(
                            span,
                            format!("invalid escape token {other:?} does not match ` or \\"),
                        ))
                    }
                }
            }
            "syntax" => self.directives.syntax = Some(value.to_string()),
            _ => self.directives.check = Some(CheckDirective::parse(value, self.line)?),
        }
        self.directives.all.push(Directive {
            name: key,
            value: value.to_string(),
            line: self.line,
        });
        Ok(true)
    }
}

/// `#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$`
fn split_directive(line: &str) -> Option<(&str, &str)> {
    let rest = line.strip_prefix('#')?.trim_start();
    let key_len = rest
        .char_indices()
        .find(|&(i, c)| !(c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit())))
        .map(|(i, _)| i)
        .unwrap_or(rest.len());
    if key_len == 0 {
        return None;
    }
    let (key, after) = rest.split_at(key_len);
    let value = after.trim_start().strip_prefix('=')?.trim();
    if value.is_empty() {
        return None;
    }
    Some((key, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(lines: &[&str]) -> Result<Directives, ParseError> {
        let mut s = DirectiveScanner::new();
        for l in lines {
            s.offer(l)?;
        }
        Ok(s.directives)
    }

    #[test]
    fn escape_and_syntax() {
        let d = scan(&["# escape=`", "#syntax = docker/dockerfile:1", "FROM x"]).unwrap();
        assert_eq!(d.escape, '`');
        assert_eq!(d.syntax.as_deref(), Some("docker/dockerfile:1"));
        assert_eq!(d.all.len(), 2);
    }

    #[test]
    fn blank_line_ends_directives() {
        let d = scan(&["", "# escape=`"]).unwrap();
        assert_eq!(d.escape, '\\');
    }

    #[test]
    fn unknown_directive_ends_block() {
        let d = scan(&["# foo=bar", "# escape=`"]).unwrap();
        assert_eq!(d.escape, '\\');
    }

    #[test]
    fn shebang_is_skipped() {
        let d = scan(&["#!/usr/bin/env berth", "# escape=`"]).unwrap();
        assert_eq!(d.escape, '`');
    }

    #[test]
    fn duplicate_is_error() {
        let e = scan(&["# escape=`", "# ESCAPE=\\"]).unwrap_err();
        assert!(e.message.contains("only one escape"), "{e}");
    }

    #[test]
    fn bad_escape() {
        let e = scan(&["# escape=x"]).unwrap_err();
        assert!(e.message.contains("invalid escape token"));
    }

    #[test]
    fn check_directive() {
        let d = scan(&["# check=skip=JSONArgsRecommended,StageNameCasing;error=true"]).unwrap();
        let c = d.check.unwrap();
        assert!(c.error);
        assert!(c.skips("jsonargsrecommended"));
        assert!(!c.skips("Other"));
    }
}

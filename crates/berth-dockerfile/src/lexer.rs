//! Physical lines → logical lines: byte-order mark, CRLF, comments, line continuations
//! (the escape character at the end of a line, trailing blanks allowed), comment lines and
//! empty lines inside a continuation, and reading heredoc bodies on request.

use crate::error::{ParseError, Span};
use crate::heredoc::{Heredoc, Marker};

/// One instruction's text with continuations joined.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogicalLine {
    pub span: Span,
    /// Joined text, leading whitespace of the first line removed, continuation
    /// characters removed, comment and empty lines inside the continuation dropped.
    pub text: String,
    /// The physical lines as written (newline separated, CR and BOM removed).
    pub original: String,
    /// Comment lines directly above the instruction (`#` and surrounding blanks removed).
    pub comments: Vec<String>,
    /// Lines that were empty inside a continuation (Docker warns about these).
    pub empty_continuation_lines: Vec<usize>,
}

pub struct Lines<'a> {
    lines: Vec<&'a str>,
    /// Index of the next physical line (0-based).
    pos: usize,
    escape: char,
}

fn is_comment(line: &str) -> bool {
    line.trim_start().starts_with('#')
}

/// If the line ends with the escape character (then optional spaces/tabs), strips it.
/// Returns the remaining text and whether the logical line ends here.
fn trim_continuation(line: &str, escape: char) -> (&str, bool) {
    let trimmed = line.trim_end_matches([' ', '\t']);
    match trimmed.strip_suffix(escape) {
        Some(t) => (t, false),
        None => (line, true),
    }
}

/// Splits text into physical lines: `\n` separated, a trailing `\r` removed, the BOM
/// removed from the first line. A final newline does not make an extra empty line.
pub fn physical_lines(source: &str) -> Vec<&str> {
    let source = source.strip_prefix('\u{feff}').unwrap_or(source);
    let body = source.strip_suffix('\n').unwrap_or(source);
    if source.is_empty() {
        return Vec::new();
    }
    body.split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect()
}

impl<'a> Lines<'a> {
    pub fn new(source: &'a str, escape: char) -> Self {
        Lines {
            lines: physical_lines(source),
            pos: 0,
            escape,
        }
    }

    /// The next logical line, or None at the end of the file.
    pub fn next_logical(&mut self) -> Option<LogicalLine> {
        let mut comments = Vec::new();
        while self.pos < self.lines.len() {
            let raw = self.lines[self.pos];
            self.pos += 1;
            let first_line = self.pos;
            if is_comment(raw) {
                // An empty `#` line separates comment blocks: only the block directly
                // above an instruction is attached to it.
                let text = raw.trim().trim_start_matches('#').trim();
                if text.is_empty() {
                    comments.clear();
                } else {
                    comments.push(text.to_string());
                }
                continue;
            }
            let (first, mut ended) = trim_continuation(raw.trim_start(), self.escape);
            if ended && first.trim().is_empty() {
                continue;
            }
            let mut text = first.to_string();
            let mut empty = Vec::new();
            while !ended && self.pos < self.lines.len() {
                let raw = self.lines[self.pos];
                self.pos += 1;
                if is_comment(raw) {
                    continue;
                }
                if raw.trim().is_empty() {
                    empty.push(self.pos);
                    continue;
                }
                let (part, end) = trim_continuation(raw, self.escape);
                text.push_str(part);
                ended = end;
            }
            let original = self.lines[first_line - 1..self.pos].join("\n");
            return Some(LogicalLine {
                span: Span::new(first_line, self.pos),
                text,
                original,
                comments,
                empty_continuation_lines: empty,
            });
        }
        None
    }

    /// Reads the body of one heredoc that follows the current position.
    pub fn read_heredoc(
        &mut self,
        marker: &Marker,
        opened_at: Span,
    ) -> Result<Heredoc, ParseError> {
        let start = self.pos + 1;
        let mut raw = String::new();
        while self.pos < self.lines.len() {
            let line = self.lines[self.pos];
            self.pos += 1;
            let candidate = if marker.chomp {
                line.trim_start_matches('\t')
            } else {
                line
            };
            if candidate == marker.name {
                return Ok(Heredoc {
                    name: marker.name.clone(),
                    expand: marker.expand,
                    chomp: marker.chomp,
                    fd: marker.fd,
                    raw,
                    span: Span::new(start, self.pos),
                });
            }
            raw.push_str(line);
            raw.push('\n');
        }
        Err(ParseError::new(
            Span::new(
                opened_at.start_line,
                self.lines.len().max(opened_at.end_line),
            ),
            format!("unterminated heredoc {:?}", marker.name),
        ))
    }

    /// Line number of the last line consumed.
    pub fn current_line(&self) -> usize {
        self.pos
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(src: &str, escape: char) -> Vec<LogicalLine> {
        let mut l = Lines::new(src, escape);
        let mut out = Vec::new();
        while let Some(x) = l.next_logical() {
            out.push(x);
        }
        out
    }

    #[test]
    fn continuation_with_comments_and_blanks() {
        let src = "# top\nRUN a \\\n# inside\n\n  b \\  \n  c\nCMD x\n";
        let v = all(src, '\\');
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].text, "RUN a   b   c");
        assert_eq!(v[0].span, Span::new(2, 6));
        assert_eq!(v[0].comments, vec!["top"]);
        assert_eq!(v[0].empty_continuation_lines, vec![4]);
        assert_eq!(v[1].span, Span::line(7));
    }

    #[test]
    fn crlf_and_bom() {
        let v = all("\u{feff}FROM a\r\nRUN b `\r\n c\r\n", '`');
        assert_eq!(v[0].text, "FROM a");
        assert_eq!(v[1].text, "RUN b  c");
        assert_eq!(v[1].original, "RUN b `\n c");
    }

    #[test]
    fn backslash_is_literal_with_backtick_escape() {
        let v = all("COPY a c:\\\nRUN x\n", '`');
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].text, "COPY a c:\\");
    }

    #[test]
    fn continuation_at_eof() {
        let v = all("RUN a \\", '\\');
        assert_eq!(v[0].text, "RUN a ");
    }

    #[test]
    fn heredoc_body() {
        let mut l = Lines::new("RUN <<EOF\n  x\nEOF\nCMD y\n", '\\');
        let first = l.next_logical().unwrap();
        let m = crate::heredoc::parse_marker("<<EOF").unwrap().unwrap();
        let h = l.read_heredoc(&m, first.span).unwrap();
        assert_eq!(h.raw, "  x\n");
        assert_eq!(h.span, Span::new(2, 3));
        assert_eq!(l.next_logical().unwrap().text, "CMD y");
    }
}

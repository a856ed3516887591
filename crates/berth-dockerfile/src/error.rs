//! Errors that point at the Dockerfile: a message plus the line range it concerns.

use std::fmt;

/// A range of 1-based source lines, inclusive at both ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
pub struct Span {
    pub start_line: usize,
    pub end_line: usize,
}

impl Span {
    pub fn new(start_line: usize, end_line: usize) -> Self {
        Span {
            start_line,
            end_line,
        }
    }

    pub fn line(line: usize) -> Self {
        Span::new(line, line)
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.start_line == self.end_line {
            write!(f, "{}", self.start_line)
        } else {
            write!(f, "{}-{}", self.start_line, self.end_line)
        }
    }
}

/// An error located in a Dockerfile (or a `.dockerignore`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {}: {message}", span.start_line)]
pub struct ParseError {
    pub span: Span,
    pub message: String,
    /// A suggestion shown after the source lines ("did you mean RUN?").
    pub hint: Option<String>,
}

impl ParseError {
    pub fn new(span: Span, message: impl Into<String>) -> Self {
        ParseError {
            span,
            message: message.into(),
            hint: None,
        }
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// `FILE:LINE: message`, then the offending source lines with their numbers, then the
    /// hint if there is one. `source` is the text the error was produced from.
    pub fn render(&self, file_name: &str, source: &str) -> String {
        render_located(
            file_name,
            source,
            self.span,
            &self.message,
            self.hint.as_deref(),
        )
    }
}

/// Shared renderer for located messages (errors and warnings alike).
pub fn render_located(
    file_name: &str,
    source: &str,
    span: Span,
    message: &str,
    hint: Option<&str>,
) -> String {
    let mut out = format!("{file_name}:{}: {message}\n", span.start_line);
    let lines: Vec<&str> = source.split('\n').collect();
    let last = span.end_line.min(span.start_line + 9);
    let width = last.to_string().len();
    for n in span.start_line..=last {
        if let Some(text) = lines.get(n.wrapping_sub(1)) {
            let text = text.strip_suffix('\r').unwrap_or(text);
            let text = if n == 1 {
                text.strip_prefix('\u{feff}').unwrap_or(text)
            } else {
                text
            };
            out.push_str(&format!(" {n:>width$} | {text}\n"));
        }
    }
    if span.end_line > last {
        out.push_str(&format!(" {:>width$} | ...\n", ""));
    }
    if let Some(h) = hint {
        out.push_str(&format!("hint: {h}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_points_at_line() {
        let src = "FROM busybox\n\nRUNN echo hi\n";
        let e = ParseError::new(Span::line(3), "unknown instruction \"RUNN\"");
        assert_eq!(
            e.render("Dockerfile", src),
            "Dockerfile:3: unknown instruction \"RUNN\"\n 3 | RUNN echo hi\n"
        );
    }

    #[test]
    fn render_multi_line_with_hint() {
        let src = "FROM a\r\nRUN x \\\r\n  y\r\n";
        let e = ParseError::new(Span::new(2, 3), "bad").with_hint("try this");
        assert_eq!(
            e.render("df", src),
            "df:2: bad\n 2 | RUN x \\\n 3 |   y\nhint: try this\n"
        );
    }
}

//! Heredocs: `<<EOF`, `<<-EOF` (leading tabs stripped), `<<"EOF"` / `<<'EOF'` (no
//! expansion), an optional file descriptor (`3<<EOF`), several on one line.
//!
//! Only RUN, COPY and ADD in shell form may carry heredocs. The bodies follow the
//! instruction line in order, each ended by a line equal to its delimiter (after tab
//! stripping for `<<-`).

use crate::error::Span;
use crate::words::raw_shell_words;

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Heredoc {
    /// The delimiter with quotes removed (`EOF`).
    pub name: String,
    /// False when any part of the delimiter was quoted: the body is taken literally.
    pub expand: bool,
    /// `<<-`: leading tabs are stripped from each body line and from the terminator.
    pub chomp: bool,
    /// `3<<EOF`.
    pub fd: Option<u32>,
    /// The body exactly as written (each line ending in `\n`), before tab stripping.
    pub raw: String,
    /// Lines of the body and its terminator.
    pub span: Span,
}

impl Heredoc {
    /// The body as the instruction sees it: leading tabs stripped for `<<-`.
    pub fn content(&self) -> String {
        if !self.chomp {
            return self.raw.clone();
        }
        let mut out = String::with_capacity(self.raw.len());
        for line in self.raw.split_inclusive('\n') {
            out.push_str(line.trim_start_matches('\t'));
        }
        out
    }
}

/// A heredoc marker found on an instruction line, before its body has been read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Marker {
    pub name: String,
    pub expand: bool,
    pub chomp: bool,
    pub fd: Option<u32>,
}

/// Parses one word as a heredoc marker: `(\d*)<<(-?)(word)`.
pub fn parse_marker(word: &str, escape: char) -> Option<Marker> {
    let digits = word.chars().take_while(|c| c.is_ascii_digit()).count();
    let rest = word[digits..].strip_prefix("<<")?;
    let (chomp, rest) = match rest.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, rest),
    };
    if rest.is_empty() || rest.contains('<') {
        return None;
    }
    let fd = if digits > 0 {
        Some(word[..digits].parse().ok()?)
    } else {
        None
    };
    // Remove quotes and escapes; any quoting disables expansion of the body.
    let mut name = String::new();
    let mut quoted = false;
    let mut quote: Option<char> = None;
    let mut chars = rest.chars();
    while let Some(c) = chars.next() {
        match quote {
            Some(q) if c == q => quote = None,
            Some('"') if c == escape => {
                if let Some(n) = chars.next() {
                    name.push(n)
                }
            }
            Some(_) => name.push(c),
            None if c == '"' || c == '\'' => {
                quote = Some(c);
                quoted = true;
            }
            None if c == escape => {
                quoted = true;
                if let Some(n) = chars.next() {
                    name.push(n)
                }
            }
            None => name.push(c),
        }
    }
    if quote.is_some() || name.is_empty() {
        return None;
    }
    Some(Marker {
        name,
        expand: !quoted,
        chomp,
        fd,
    })
}

/// All heredoc markers on an instruction line, in order.
pub fn markers_in_line(line: &str, escape: char) -> Vec<Marker> {
    raw_shell_words(line, escape)
        .iter()
        .filter_map(|w| parse_marker(w, escape))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers() {
        let m = markers_in_line(r#"cat <<EOF <<-"TWO" 3<<'x' > out"#, '\\');
        assert_eq!(m.len(), 3);
        assert_eq!(m[0].name, "EOF");
        assert!(m[0].expand && !m[0].chomp);
        assert_eq!(m[1].name, "TWO");
        assert!(!m[1].expand && m[1].chomp);
        assert_eq!(m[2].fd, Some(3));
        assert!(!m[2].expand);
    }

    #[test]
    fn not_markers() {
        assert!(markers_in_line(r#"echo "<<EOF" a<<b <<"#, '\\').is_empty());
        assert!(parse_marker("<<A<B", '\\').is_none());
        assert!(parse_marker("<<'open", '\\').is_none());
    }

    #[test]
    fn partly_quoted_disables_expansion() {
        let m = parse_marker(r#"<<E"O"F"#, '\\').unwrap();
        assert_eq!(m.name, "EOF");
        assert!(!m.expand);
        let m = parse_marker(r"<<\EOF", '\\').unwrap();
        assert_eq!(m.name, "EOF");
        assert!(!m.expand);
    }

    #[test]
    fn chomp_content() {
        let h = Heredoc {
            name: "E".into(),
            expand: true,
            chomp: true,
            fd: None,
            raw: "\t\tone\n\t two\nthree\n".into(),
            span: Span::line(1),
        };
        assert_eq!(h.content(), "one\n two\nthree\n");
    }
}

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

/// Parses one word as a heredoc marker: `(\d*)<<(-?)\s*(word)`. `Ok(None)` when the word
/// is not a marker; an error when it is one with an unterminated quote.
///
/// The delimiter is unquoted like a shell word. Expansion of the body is disabled when
/// any part of the delimiter was quoted (`<<"EOF"`, `<<'EOF'`, `<<E"O"F`); an escaped
/// quote (`<<eo\'f`) is a literal character and does not disable it.
pub fn parse_marker(word: &str) -> Result<Option<Marker>, String> {
    let digits = word.chars().take_while(|c| c.is_ascii_digit()).count();
    let Some(rest) = word[digits..].strip_prefix("<<") else {
        return Ok(None);
    };
    let (chomp, rest) = match rest.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, rest),
    };
    let rest = rest.trim_start();
    if rest.is_empty() || rest.contains('<') {
        return Ok(None);
    }
    let fd = if digits > 0 {
        word[..digits].parse().ok()
    } else {
        None
    };
    let mut name = String::new();
    let mut quoted = false;
    let mut quote: Option<char> = None;
    let mut chars = rest.chars().peekable();
    while let Some(c) = chars.next() {
        match quote {
            Some(q) if c == q => quote = None,
            Some('"') if c == '\\' && matches!(chars.peek(), Some('"' | '$' | '\\')) => {
                name.extend(chars.next());
            }
            Some(_) => name.push(c),
            None if c == '"' || c == '\'' => {
                quote = Some(c);
                quoted = true;
            }
            None if c == '\\' => name.extend(chars.next()),
            // Several words after `<<`: not a delimiter.
            None if c.is_whitespace() => return Ok(None),
            None => name.push(c),
        }
    }
    if let Some(q) = quote {
        return Err(format!(
            "unterminated {} in heredoc delimiter {word:?}",
            if q == '"' {
                "double quote"
            } else {
                "single quote"
            }
        ));
    }
    if name.is_empty() {
        return Ok(None);
    }
    Ok(Some(Marker {
        name,
        expand: !quoted,
        chomp,
        fd,
    }))
}

/// All heredoc markers on an instruction line, in order. Words are split as a shell
/// would with `\` as the escape (whatever the escape directive says, as BuildKit does),
/// and `<<` followed by blanks joins the next word (`<< EOF`).
pub fn markers_in_line(line: &str) -> Result<Vec<Marker>, String> {
    let words = raw_shell_words(line, '\\');
    let mut out = Vec::new();
    let mut i = 0;
    while i < words.len() {
        let w = &words[i];
        let bare = w.trim_start_matches(|c: char| c.is_ascii_digit());
        let joined;
        let word = if (bare == "<<" || bare == "<<-") && i + 1 < words.len() {
            i += 1;
            joined = format!("{w} {}", words[i]);
            &joined
        } else {
            w
        };
        if let Some(m) = parse_marker(word)? {
            out.push(m);
        }
        i += 1;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers() {
        let m = markers_in_line(r#"cat <<EOF <<-"TWO" 3<<'x' > out"#).unwrap();
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
        assert!(markers_in_line(r#"echo "<<EOF" '<<EOF' a<<b <<"#)
            .unwrap()
            .is_empty());
        assert!(parse_marker("<<A<B").unwrap().is_none());
        assert!(parse_marker("<<<EOF").unwrap().is_none());
        assert!(parse_marker("<<-").unwrap().is_none());
        assert!(parse_marker("<<'open").is_err());
        assert!(parse_marker("<<EOF\"").is_err());
    }

    #[test]
    fn partly_quoted_disables_expansion() {
        let m = parse_marker(r#"<<E"O"F"#).unwrap().unwrap();
        assert_eq!(m.name, "EOF");
        assert!(!m.expand);
        // an escaped quote is a literal character and keeps expansion on
        let m = parse_marker(r"<<eo\'f").unwrap().unwrap();
        assert_eq!(m.name, "eo'f");
        assert!(m.expand);
        let m = parse_marker(r"<<'e'o\'f").unwrap().unwrap();
        assert_eq!(m.name, "eo'f");
        assert!(!m.expand);
        let m = parse_marker("<<'one two'").unwrap().unwrap();
        assert_eq!(m.name, "one two");
        let m = parse_marker("<<$EOF").unwrap().unwrap();
        assert_eq!(m.name, "$EOF");
    }

    #[test]
    fn blanks_after_operator() {
        let m = markers_in_line("<<  EOF  > foo").unwrap();
        assert_eq!(m[0].name, "EOF");
        let m = markers_in_line("<<- EOF").unwrap();
        assert!(m[0].chomp);
        let m = markers_in_line("<< -EOF").unwrap();
        assert_eq!(m[0].name, "-EOF");
        assert!(!m[0].chomp);
        let m = markers_in_line("4<<EOF <<EOF2").unwrap();
        assert_eq!((m[0].fd, m[1].name.as_str()), (Some(4), "EOF2"));
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

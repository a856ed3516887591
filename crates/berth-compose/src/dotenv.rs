//! `.env` and `env_file` files as compose reads them: `KEY=VALUE` lines, an optional
//! `export ` prefix, `#` comments, single quotes (literal), double quotes (escapes, and
//! interpolation of earlier variables), unquoted values with ` #` comments and
//! interpolation. A line with a bare `KEY` takes the value from the environment.

use crate::interp::interpolate;
use std::collections::BTreeMap;

/// Parses `text`; `outer` looks up variables not defined earlier in the file.
/// Errors are "line N: message".
pub fn parse(
    text: &str,
    outer: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<(String, Option<String>)>, String> {
    let mut out: Vec<(String, Option<String>)> = Vec::new();
    let mut lines = text.lines().enumerate().peekable();
    while let Some((n, raw)) = lines.next() {
        let line = raw.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line).trim_start();
        let (key, rest) = match line.split_once('=') {
            Some((k, v)) => (k.trim_end(), Some(v)),
            None => (line.trim_end(), None),
        };
        if key.is_empty()
            || !key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        {
            return Err(format!(
                "line {}: invalid variable name {key:?}: want KEY=VALUE",
                n + 1
            ));
        }
        let Some(rest) = rest else {
            out.push((key.to_string(), outer(key)));
            continue;
        };
        let lookup = |k: &str| {
            out.iter()
                .rev()
                .find(|(x, _)| x == k)
                .and_then(|(_, v)| v.clone())
                .or_else(|| outer(k))
        };
        let rest = rest.trim_start();
        let value = if let Some(body) = rest.strip_prefix('\'') {
            let mut acc = body.to_string();
            while !acc.contains('\'') {
                match lines.next() {
                    Some((_, l)) => {
                        acc.push('\n');
                        acc.push_str(l);
                    }
                    None => return Err(format!("line {}: unterminated single quote", n + 1)),
                }
            }
            acc[..acc.find('\'').unwrap_or(acc.len())].to_string()
        } else if let Some(body) = rest.strip_prefix('"') {
            let mut acc = body.to_string();
            let end = loop {
                if let Some(e) = closing_double_quote(&acc) {
                    break e;
                }
                match lines.next() {
                    Some((_, l)) => {
                        acc.push('\n');
                        acc.push_str(l);
                    }
                    None => return Err(format!("line {}: unterminated double quote", n + 1)),
                }
            };
            let mut s = String::new();
            let mut it = acc[..end].chars();
            while let Some(c) = it.next() {
                if c == '\\' {
                    match it.next() {
                        Some('n') => s.push('\n'),
                        Some('t') => s.push('\t'),
                        Some('r') => s.push('\r'),
                        Some('\\') => s.push('\\'),
                        Some('"') => s.push('"'),
                        Some('$') => s.push_str("$$"),
                        Some(o) => {
                            s.push('\\');
                            s.push(o);
                        }
                        None => s.push('\\'),
                    }
                } else {
                    s.push(c);
                }
            }
            interpolate(&s, &lookup).map_err(|e| format!("line {}: {e}", n + 1))?
        } else {
            let v = match rest.find(" #") {
                Some(i) => &rest[..i],
                None => rest,
            };
            interpolate(v.trim_end(), &lookup).map_err(|e| format!("line {}: {e}", n + 1))?
        };
        out.retain(|(k, _)| k != key);
        out.push((key.to_string(), Some(value)));
    }
    Ok(out)
}

fn closing_double_quote(s: &str) -> Option<usize> {
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        match c {
            '\\' if !escaped => escaped = true,
            '"' if !escaped => return Some(i),
            _ => escaped = false,
        }
    }
    None
}

/// Reads a file into a map (variables without value and not in the environment are left out).
pub fn read_file(
    path: &std::path::Path,
    outer: &dyn Fn(&str) -> Option<String>,
) -> Result<BTreeMap<String, String>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read env file {}: {e}", path.display()))?;
    let vars = parse(&text, outer).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(vars
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Vec<(String, Option<String>)> {
        parse(s, &|k| (k == "HOSTVAR").then(|| "fromhost".to_string())).unwrap()
    }

    fn get(v: &[(String, Option<String>)], k: &str) -> Option<String> {
        v.iter().find(|(x, _)| x == k).and_then(|(_, v)| v.clone())
    }

    #[test]
    fn forms() {
        let v = p("# comment\nA=1\nexport B=two words\nC='single $A #x'\nD=\"dq ${A}\\n\"\nE=val # comment\nF=\nHOSTVAR\nG=${A}-${HOSTVAR}\nH=\"multi\nline\"\nI=a#b\n");
        assert_eq!(get(&v, "A").unwrap(), "1");
        assert_eq!(get(&v, "B").unwrap(), "two words");
        assert_eq!(get(&v, "C").unwrap(), "single $A #x");
        assert_eq!(get(&v, "D").unwrap(), "dq 1\n");
        assert_eq!(get(&v, "E").unwrap(), "val");
        assert_eq!(get(&v, "F").unwrap(), "");
        assert_eq!(get(&v, "HOSTVAR").unwrap(), "fromhost");
        assert_eq!(get(&v, "G").unwrap(), "1-fromhost");
        assert_eq!(get(&v, "H").unwrap(), "multi\nline");
        assert_eq!(get(&v, "I").unwrap(), "a#b");
    }

    #[test]
    fn errors_name_the_line() {
        let e = parse("A=1\nnot valid line\n", &|_| None).unwrap_err();
        assert!(e.starts_with("line 2:"), "{e}");
        let e = parse("A=\"open\n", &|_| None).unwrap_err();
        assert!(e.contains("unterminated"), "{e}");
    }
}

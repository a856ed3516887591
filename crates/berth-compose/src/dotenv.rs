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
    let lines: Vec<&str> = text
        .lines()
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect();
    let mut n = 0;
    while n < lines.len() {
        let raw = lines[n];
        let lineno = n + 1;
        n += 1;
        let line = raw.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = match line.strip_prefix("export") {
            Some(rest) if rest.starts_with([' ', '\t']) => rest.trim_start(),
            _ => line,
        };
        // KEY=VALUE, or the YAML-like KEY: VALUE; whichever separator comes first.
        let sep = line.find(['=', ':']);
        let (key, rest) = match sep {
            Some(i) => (line[..i].trim_end(), Some(&line[i + 1..])),
            None => (line.trim_end(), None),
        };
        if key.is_empty()
            || !key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        {
            return Err(format!(
                "line {lineno}: invalid variable name {key:?}: want KEY=VALUE"
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
        let quote = rest.chars().next().filter(|c| *c == '\'' || *c == '"');
        // A quoted value may span lines; without a closing quote it is taken literally.
        let quoted = quote.and_then(|q| {
            let mut acc = rest[1..].to_string();
            let mut used = 0;
            loop {
                let end = if q == '"' {
                    closing_double_quote(&acc)
                } else {
                    acc.find('\'')
                };
                if let Some(e) = end {
                    return Some((acc[..e].to_string(), used));
                }
                let next = lines.get(n + used)?;
                acc.push('\n');
                acc.push_str(next);
                used += 1;
            }
        });
        let value = match (quote, quoted) {
            (Some('\''), Some((body, used))) => {
                n += used;
                body
            }
            (Some(_), Some((body, used))) => {
                n += used;
                let mut s = String::new();
                let mut it = body.chars();
                while let Some(c) = it.next() {
                    if c != '\\' {
                        s.push(c);
                        continue;
                    }
                    match it.next() {
                        Some('n') => s.push('\n'),
                        Some('t') => s.push('\t'),
                        Some('r') => s.push('\r'),
                        Some('$') => s.push_str("$$"),
                        Some(o) => s.push(o),
                        None => s.push('\\'),
                    }
                }
                interpolate(&s, &lookup).map_err(|e| format!("line {lineno}: {e}"))?
            }
            _ => {
                let v = match rest.find(" #") {
                    Some(i) => &rest[..i],
                    None => rest,
                };
                interpolate(v.trim_end(), &lookup).map_err(|e| format!("line {lineno}: {e}"))?
            }
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
        let e = parse("A=1\nB=${C:?need C}\n", &|_| None).unwrap_err();
        assert!(e.starts_with("line 2:") && e.contains("need C"), "{e}");
    }

    /// One-line cases as compose-go's dotenv parser reads them.
    #[test]
    fn compose_go_dotenv_lines() {
        let cases: &[(&str, &str, &str)] = &[
            ("FOO=bar", "FOO", "bar"),
            ("FOO =bar", "FOO", "bar"),
            ("FOO= bar", "FOO", "bar"),
            ("FOO=\"bar\"", "FOO", "bar"),
            ("FOO='bar'", "FOO", "bar"),
            ("FOO=\"escaped\\\"bar\"", "FOO", "escaped\"bar"),
            ("FOO=\"'d'\"", "FOO", "'d'"),
            ("OPTION_A: 1", "OPTION_A", "1"),
            ("OPTION_A: Foo=bar", "OPTION_A", "Foo=bar"),
            ("OPTION_A=1:B", "OPTION_A", "1:B"),
            ("export OPTION_A=2", "OPTION_A", "2"),
            ("export OPTION_B='\\n'", "OPTION_B", "\\n"),
            ("export exportFoo=2", "exportFoo", "2"),
            ("exportFOO=2", "exportFOO", "2"),
            ("export_FOO =2", "export_FOO", "2"),
            ("export.FOO= 2", "export.FOO", "2"),
            ("export\tOPTION_A=2", "OPTION_A", "2"),
            ("  export OPTION_A=2", "OPTION_A", "2"),
            ("FOO=\"bar\\nbaz\"", "FOO", "bar\nbaz"),
            ("FOO.BAR=foobar", "FOO.BAR", "foobar"),
            ("FOO=foobar=", "FOO", "foobar="),
            ("FOO=bar ", "FOO", "bar"),
            ("FOO=bar # this is foo", "FOO", "bar"),
            ("FOO=\"bar#baz\" # comment", "FOO", "bar#baz"),
            ("FOO='bar#baz' # comment", "FOO", "bar#baz"),
            ("FOO=\"ba#r\"", "FOO", "ba#r"),
            ("FOO=\"bar\\n\\ b\\az\"", "FOO", "bar\n baz"),
            ("FOO=\"bar\\\\r\\ b\\az\"", "FOO", "bar\\r baz"),
            ("KEY=\"", "KEY", "\""),
            ("KEY=\"value", "KEY", "\"value"),
            (" KEY =value", "KEY", "value"),
            ("\tKEY=value", "KEY", "value"),
            ("FOO=\"foo\\$BAR\"", "FOO", "foo$BAR"),
            ("FOO=\"foo\\${BAR}\"", "FOO", "foo${BAR}"),
            ("KEY=value\r", "KEY", "value"),
        ];
        for (line, key, value) in cases {
            let v = parse(line, &|_| None).unwrap_or_else(|e| panic!("{line:?}: {e}"));
            assert_eq!(
                v,
                vec![(key.to_string(), Some(value.to_string()))],
                "{line:?}"
            );
        }
        assert!(parse("lol$wut", &|_| None).is_err());
        let v = parse(
            "FOO=test\nBAR=\"foo\\${FOO} ${FOO}\"\nQ='quote $FOO'\nM='first\nsecond'\nZ=\"last\"",
            &|_| None,
        )
        .unwrap();
        assert_eq!(get(&v, "BAR").unwrap(), "foo${FOO} test");
        assert_eq!(get(&v, "Q").unwrap(), "quote $FOO");
        assert_eq!(get(&v, "M").unwrap(), "first\nsecond");
        assert_eq!(get(&v, "Z").unwrap(), "last");
    }
}

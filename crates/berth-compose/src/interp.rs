//! Variable interpolation as the compose specification defines it: `$VAR`, `${VAR}`,
//! `${VAR:-default}`, `${VAR-default}`, `${VAR:?error}`, `${VAR?error}`, `${VAR:+alt}`,
//! `${VAR+alt}`, `$$` for a literal `$`; defaults and alternatives may nest.

/// Looks a variable up; None when unset.
pub trait Lookup {
    fn get(&self, name: &str) -> Option<String>;
}

impl<F: Fn(&str) -> Option<String>> Lookup for F {
    fn get(&self, name: &str) -> Option<String> {
        self(name)
    }
}

/// Interpolates `s`. The error is the message to show (without position).
pub fn interpolate(s: &str, env: &dyn Lookup) -> Result<String, String> {
    let chars: Vec<char> = s.chars().collect();
    let (out, _) = expand(&chars, 0, env, None)?;
    Ok(out)
}

fn is_name_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Expands from `i` until the end, or until an unmatched `}` when `stop` is set;
/// returns the text and the index after what was consumed.
fn expand(
    c: &[char],
    mut i: usize,
    env: &dyn Lookup,
    stop: Option<char>,
) -> Result<(String, usize), String> {
    let mut out = String::new();
    while i < c.len() {
        let ch = c[i];
        if Some(ch) == stop {
            return Ok((out, i));
        }
        if ch != '$' {
            out.push(ch);
            i += 1;
            continue;
        }
        match c.get(i + 1) {
            Some('$') => {
                out.push('$');
                i += 2;
            }
            Some('{') => {
                let (v, next) = braced(c, i + 2, env)?;
                out.push_str(&v);
                i = next;
            }
            Some(&n) if is_name_start(n) => {
                let mut j = i + 1;
                while j < c.len() && is_name_char(c[j]) {
                    j += 1;
                }
                let name: String = c[i + 1..j].iter().collect();
                out.push_str(&env.get(&name).unwrap_or_default());
                i = j;
            }
            _ => {
                // A lone `$` (end of string or before a non-name character) stays.
                out.push('$');
                i += 1;
            }
        }
    }
    if stop.is_some() {
        return Err("missing closing brace }".into());
    }
    Ok((out, i))
}

/// `${...}` starting after the brace; returns the value and the index after `}`.
fn braced(c: &[char], start: usize, env: &dyn Lookup) -> Result<(String, usize), String> {
    let mut j = start;
    while j < c.len() && is_name_char(c[j]) {
        j += 1;
    }
    let name: String = c[start..j].iter().collect();
    let whole = || -> String {
        let end = c[start..]
            .iter()
            .position(|&x| x == '}')
            .map(|p| start + p + 1)
            .unwrap_or(c.len());
        format!("${{{}", c[start..end].iter().collect::<String>())
    };
    if name.is_empty() || !is_name_start(name.chars().next().unwrap_or('0')) {
        return Err(format!(
            "invalid interpolation format for {:?}: a variable name must start with a letter or _",
            whole()
        ));
    }
    let val = env.get(&name);
    match c.get(j) {
        Some('}') => Ok((val.unwrap_or_default(), j + 1)),
        Some(':') | Some('-') | Some('?') | Some('+') => {
            let colon = c[j] == ':';
            let op_at = if colon { j + 1 } else { j };
            let op = *c.get(op_at).ok_or_else(|| format!("invalid interpolation format for {:?}", whole()))?;
            if !matches!(op, '-' | '?' | '+') {
                return Err(format!(
                    "invalid interpolation format for {:?}: use ${{VAR:-default}}, ${{VAR-default}}, ${{VAR:?error}}, ${{VAR?error}} or ${{VAR:+alternative}}",
                    whole()
                ));
            }
            // The word is expanded lazily: only when it is used (an unset variable in an
            // unused default is no error).
            let set = match &val {
                Some(v) => !colon || !v.is_empty(),
                None => false,
            };
            let word_used = match op {
                '-' | '?' => !set,
                _ => set,
            };
            let (word, next) = if word_used {
                expand(c, op_at + 1, env, Some('}'))?
            } else {
                let end = matching_brace(c, op_at + 1)
                    .ok_or_else(|| format!("invalid interpolation format for {:?}: missing closing brace }}", whole()))?;
                (String::new(), end)
            };
            let value = match op {
                '-' => {
                    if set {
                        val.unwrap_or_default()
                    } else {
                        word
                    }
                }
                '?' => {
                    if set {
                        val.unwrap_or_default()
                    } else {
                        return Err(if word.is_empty() {
                            format!("required variable {name} is missing a value")
                        } else {
                            format!("required variable {name} is missing a value: {word}")
                        });
                    }
                }
                _ => {
                    if set {
                        word
                    } else {
                        String::new()
                    }
                }
            };
            Ok((value, next + 1))
        }
        _ => Err(format!(
            "invalid interpolation format for {:?}: a variable name may only hold letters, digits and _",
            whole()
        )),
    }
}

/// The index of the `}` closing a word that starts at `i` (nested `${` counted).
fn matching_brace(c: &[char], mut i: usize) -> Option<usize> {
    let mut depth = 0;
    while i < c.len() {
        match c[i] {
            '$' if c.get(i + 1) == Some(&'$') => i += 1,
            '$' if c.get(i + 1) == Some(&'{') => {
                depth += 1;
                i += 1;
            }
            '}' if depth == 0 => return Some(i),
            '}' => depth -= 1,
            _ => {}
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env() -> HashMap<&'static str, &'static str> {
        HashMap::from([("FOO", "foo"), ("EMPTY", ""), ("N", "3")])
    }

    fn i(s: &str) -> Result<String, String> {
        let e = env();
        interpolate(s, &|k: &str| e.get(k).map(|v| v.to_string()))
    }

    #[test]
    fn plain_and_braced() {
        assert_eq!(i("$FOO").unwrap(), "foo");
        assert_eq!(i("${FOO}").unwrap(), "foo");
        assert_eq!(i("a${FOO}b$FOO.c").unwrap(), "afoobfoo.c");
        assert_eq!(i("$UNSET").unwrap(), "");
        assert_eq!(i("x${N}y").unwrap(), "x3y");
    }

    #[test]
    fn dollar_escapes_and_lone_dollars() {
        assert_eq!(i("$$FOO").unwrap(), "$FOO");
        assert_eq!(i("$${FOO}").unwrap(), "${FOO}");
        assert_eq!(i("cost: 5$").unwrap(), "cost: 5$");
        assert_eq!(i("a $ b").unwrap(), "a $ b");
    }

    #[test]
    fn defaults_distinguish_unset_and_empty() {
        assert_eq!(i("${UNSET:-d}").unwrap(), "d");
        assert_eq!(i("${EMPTY:-d}").unwrap(), "d");
        assert_eq!(i("${UNSET-d}").unwrap(), "d");
        assert_eq!(i("${EMPTY-d}").unwrap(), "");
        assert_eq!(i("${FOO:-d}").unwrap(), "foo");
        assert_eq!(i("${UNSET:-}").unwrap(), "");
        assert_eq!(i("${UNSET:-a b:c}").unwrap(), "a b:c");
    }

    #[test]
    fn alternatives() {
        assert_eq!(i("${FOO:+alt}").unwrap(), "alt");
        assert_eq!(i("${EMPTY:+alt}").unwrap(), "");
        assert_eq!(i("${EMPTY+alt}").unwrap(), "alt");
        assert_eq!(i("${UNSET+alt}").unwrap(), "");
    }

    #[test]
    fn nested_defaults() {
        assert_eq!(i("${UNSET:-${FOO}}").unwrap(), "foo");
        assert_eq!(i("${UNSET:-${ALSO:-deep}}").unwrap(), "deep");
        assert_eq!(i("${FOO:-${MISSING:?never evaluated}}").unwrap(), "foo");
        assert_eq!(i("${UNSET:-pre-${FOO}-post}x").unwrap(), "pre-foo-postx");
    }

    #[test]
    fn required_variables() {
        assert_eq!(i("${FOO:?need it}").unwrap(), "foo");
        let e = i("${UNSET:?please set UNSET}").unwrap_err();
        assert!(
            e.contains("required variable UNSET is missing a value: please set UNSET"),
            "{e}"
        );
        let e = i("${EMPTY:?}").unwrap_err();
        assert!(e.contains("EMPTY"), "{e}");
        assert_eq!(i("${EMPTY?err}").unwrap(), "");
        assert!(i("${UNSET?err}").is_err());
    }

    /// The cases of compose-go's template tests, with FOO=first and BAR="" as there.
    #[test]
    fn compose_go_template_cases() {
        let vars = HashMap::from([("FOO", "first"), ("BAR", "")]);
        let t = |s: &str| interpolate(s, &|k: &str| vars.get(k).map(|v| v.to_string()));
        let ok: &[(&str, &str)] = &[
            ("$${foo}", "${foo}"),
            ("foo", "foo"),
            ("$FOO-bar", "first-bar"),
            ("This ${missing} var", "This  var"),
            ("This ${BAR} var", "This  var"),
            ("This $FOO var", "This first var"),
            ("ok ${missing:-def}", "ok def"),
            ("ok ${missing-def}", "ok def"),
            ("ok ${BAR:-def}", "ok def"),
            ("ok ${FOO:-def}", "ok first"),
            ("ok ${BAR-def}", "ok "),
            ("ok ${BAR:-/non:-alphanumeric}", "ok /non:-alphanumeric"),
            ("ok ${UNSET_VAR-$FOO}", "ok first"),
            ("ok ${UNSET_VAR-${FOO} ${FOO}}", "ok first first"),
            ("ok ${BAR:-$FOO}", "ok first"),
            ("ok ${BAR:-${FOO} ${FOO}}", "ok first first"),
            ("ok ${FOO:?err}", "ok first"),
            ("ok ${FOO?err}", "ok first"),
            ("ok ${BAR?err}", "ok "),
            ("${UNSET_VAR-myerror?msg}", "myerror?msg"),
            ("${FOO?bar-baz}", "first"),
            (
                "${BAR:-default_value_for_empty_var}",
                "default_value_for_empty_var",
            ),
            (
                "${UNSET_VAR-default_value_for_unset_var}",
                "default_value_for_unset_var",
            ),
            ("$docker:${project:-cli}", ":cli"),
        ];
        for (input, want) in ok {
            assert_eq!(t(input).as_deref(), Ok(*want), "{input}");
        }
        let errors: &[(&str, &str)] = &[
            (
                "not ok ${UNSET_VAR:?Mandatory Variable Unset}",
                "required variable UNSET_VAR is missing a value: Mandatory Variable Unset",
            ),
            (
                "not ok ${BAR:?Mandatory Variable Empty}",
                "required variable BAR is missing a value: Mandatory Variable Empty",
            ),
            (
                "not ok ${UNSET_VAR:?}",
                "required variable UNSET_VAR is missing a value",
            ),
            (
                "not ok ${UNSET_VAR?}",
                "required variable UNSET_VAR is missing a value",
            ),
            (
                "not ok ${UNSET_VAR:?Mandatory Variable ${FOO}}",
                "required variable UNSET_VAR is missing a value: Mandatory Variable first",
            ),
            (
                "not ok ${UNSET_VAR?Mandatory Variable ${FOO}}",
                "required variable UNSET_VAR is missing a value: Mandatory Variable first",
            ),
            (
                "${UNSET_VAR?bar-baz}",
                "required variable UNSET_VAR is missing a value: bar-baz",
            ),
        ];
        for (input, want) in errors {
            assert_eq!(t(input), Err(want.to_string()), "{input}");
        }
        for bad in ["${", "${}", "${ }", "${ foo}", "${foo }", "${foo!}"] {
            let e = t(bad).unwrap_err();
            assert!(
                e.contains("invalid interpolation format") || e.contains("missing closing brace"),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn malformed() {
        assert!(i("${FOO").is_err());
        assert!(i("${}").is_err());
        assert!(i("${1A}").is_err());
        assert!(i("${FOO/bar}").is_err());
        assert!(i("${UNSET:-abc").is_err());
    }
}

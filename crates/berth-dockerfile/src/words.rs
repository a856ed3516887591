//! Splitting an instruction's argument text into words, the way each instruction needs:
//! quote-aware words that keep their quotes (ENV, LABEL, ARG), plain whitespace fields
//! (FROM, EXPOSE, COPY in shell form), leading `--flags`, and JSON (exec) arrays.

/// Result of trying to read the arguments as a JSON array of strings.
#[derive(Debug, PartialEq, Eq)]
pub enum JsonArgs {
    /// A JSON array of strings.
    Strings(Vec<String>),
    /// Not JSON (or malformed JSON): the text is used in shell form.
    NotJson,
    /// A well-formed JSON array with something other than strings in it: an error.
    NotStrings,
}

/// Reads `text` as a JSON array. Malformed JSON falls back to shell form (as Docker does);
/// a valid array holding a non-string is an error.
pub fn parse_json_array(text: &str) -> JsonArgs {
    let t = text.trim_start();
    if !t.starts_with('[') {
        return JsonArgs::NotJson;
    }
    match serde_json::from_str::<Vec<serde_json::Value>>(t) {
        Err(_) => JsonArgs::NotJson,
        Ok(values) => {
            let mut out = Vec::with_capacity(values.len());
            for v in values {
                match v {
                    serde_json::Value::String(s) => out.push(s),
                    _ => return JsonArgs::NotStrings,
                }
            }
            JsonArgs::Strings(out)
        }
    }
}

/// Splits on runs of whitespace, nothing else.
pub fn whitespace_fields(text: &str) -> Vec<String> {
    text.split_whitespace().map(str::to_string).collect()
}

/// Quote-aware split for `KEY=VALUE` lists: whitespace separates words unless quoted or
/// escaped; quotes and escape characters are kept in the words (expansion removes them).
/// A `""` or `''` word is kept even though it is empty once unquoted.
pub fn quoted_words(text: &str, escape: char) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut keep_blank = false;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if let Some(q) = quote {
            if c == q {
                quote = None;
                word.push(c);
            } else if c == escape && q != '\'' {
                if i + 1 == chars.len() {
                    quote = None;
                } else {
                    word.push(c);
                    i += 1;
                    word.push(chars[i]);
                }
            } else {
                word.push(c);
            }
            i += 1;
            continue;
        }
        if c.is_whitespace() {
            if in_word && (keep_blank || !word.is_empty()) {
                words.push(std::mem::take(&mut word));
            }
            word.clear();
            in_word = false;
            keep_blank = false;
            i += 1;
            continue;
        }
        in_word = true;
        if c == '\'' || c == '"' {
            quote = Some(c);
            keep_blank = true;
            word.push(c);
        } else if c == escape {
            if i + 1 < chars.len() {
                word.push(c);
                i += 1;
                word.push(chars[i]);
            }
        } else {
            word.push(c);
        }
        i += 1;
    }
    if in_word && (keep_blank || !word.is_empty()) {
        words.push(word);
    }
    words
}

/// Words split on unquoted whitespace with quotes and escapes left in place; used to find
/// heredoc markers (`<<EOF`) without being fooled by `"<<EOF"`.
pub fn raw_shell_words(text: &str, escape: char) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quote: Option<char> = None;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match quote {
            Some(q) => {
                word.push(c);
                if c == q {
                    quote = None;
                } else if c == escape && q == '"' && i + 1 < chars.len() {
                    i += 1;
                    word.push(chars[i]);
                }
            }
            None if c.is_whitespace() => {
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
            }
            None => {
                word.push(c);
                if c == '\'' || c == '"' {
                    quote = Some(c);
                } else if c == escape && i + 1 < chars.len() {
                    i += 1;
                    word.push(chars[i]);
                }
            }
        }
        i += 1;
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

/// Leading `--name[=value]` words, with quotes inside a flag word removed, and the rest of
/// the text after them. A bare `--` ends the flags and is dropped.
pub fn extract_flags(text: &str) -> (Vec<String>, String) {
    let chars: Vec<char> = text.chars().collect();
    let mut flags = Vec::new();
    let mut i = 0;
    loop {
        while i < chars.len() && chars[i].is_whitespace() {
            i += 1;
        }
        if i + 1 >= chars.len() || chars[i] != '-' || chars[i + 1] != '-' {
            break;
        }
        let mut word = String::new();
        let mut quote: Option<char> = None;
        while i < chars.len() {
            let c = chars[i];
            match quote {
                Some(q) if c == q => quote = None,
                None if c.is_whitespace() => break,
                None if c == '"' || c == '\'' => quote = Some(c),
                // A backslash takes the next character literally (dropped at the end).
                _ if c == '\\' => {
                    if let Some(&n) = chars.get(i + 1) {
                        word.push(n);
                        i += 1;
                    }
                }
                _ => word.push(c),
            }
            i += 1;
        }
        if word == "--" {
            break;
        }
        flags.push(word);
    }
    let rest: String = chars[i..]
        .iter()
        .collect::<String>()
        .trim_start()
        .to_string();
    (flags, rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_forms() {
        assert_eq!(
            parse_json_array(r#"["echo", "hi"]"#),
            JsonArgs::Strings(vec!["echo".into(), "hi".into()])
        );
        assert_eq!(parse_json_array("[]"), JsonArgs::Strings(vec![]));
        // single quotes are not JSON: shell form
        assert_eq!(parse_json_array("['echo', 'hi']"), JsonArgs::NotJson);
        // missing comma: shell form
        assert_eq!(parse_json_array(r#"["a" "b"]"#), JsonArgs::NotJson);
        // trailing text: shell form
        assert_eq!(parse_json_array(r#"["a"] b"#), JsonArgs::NotJson);
        assert_eq!(parse_json_array(r#"["a", 1]"#), JsonArgs::NotStrings);
        assert_eq!(parse_json_array("echo [1]"), JsonArgs::NotJson);
    }

    #[test]
    fn quoted_words_keep_quotes() {
        assert_eq!(
            quoted_words(r#"a="b c" d=e\ f g='h i'"#, '\\'),
            vec![r#"a="b c""#, r"d=e\ f", "g='h i'"]
        );
        assert_eq!(quoted_words(r#"  x=""  "#, '\\'), vec![r#"x="""#]);
        assert_eq!(quoted_words("a=b`", '`'), vec!["a=b"]);
        assert_eq!(quoted_words("a=` b", '`'), vec!["a=` b"]);
    }

    #[test]
    fn flags_then_rest() {
        let (f, r) = extract_flags(r#"--mount=type=secret,id="a b" --network=none  echo --x"#);
        assert_eq!(f, vec!["--mount=type=secret,id=a b", "--network=none"]);
        assert_eq!(r, "echo --x");
        let (f, r) = extract_flags("-- --not-a-flag");
        assert!(f.is_empty());
        assert_eq!(r, "--not-a-flag");
        let (f, r) = extract_flags(r#"--exclude=a\ b --x="q\"q" rest"#);
        assert_eq!(f, vec!["--exclude=a b", "--x=q\"q"]);
        assert_eq!(r, "rest");
        let (f, r) = extract_flags("plain");
        assert!(f.is_empty());
        assert_eq!(r, "plain");
    }

    #[test]
    fn raw_words_for_heredocs() {
        assert_eq!(
            raw_shell_words(r#"cat "<<EOF" <<'X Y' 3<<E"#, '\\'),
            vec!["cat", "\"<<EOF\"", "<<'X Y'", "3<<E"]
        );
    }
}

//! Parsing one logical line (keyword, flags, arguments, heredocs) into its typed AST node,
//! with BuildKit's rules and messages for each instruction. The node types live in `ast`
//! and are re-exported here.

pub use crate::ast::*;
use crate::duration::parse_go_duration;
use crate::flags::{parse_flags, FlagKind, Flags};
use crate::heredoc::Heredoc;
use crate::mount::parse_mount;
use crate::words::{extract_flags, parse_json_array, quoted_words, whitespace_fields, JsonArgs};
use std::time::Duration;

/// A failure to interpret one instruction; the parser adds the location.
#[derive(Debug)]
pub struct CommandError {
    pub message: String,
    pub hint: Option<String>,
}

impl CommandError {
    fn new(message: impl Into<String>) -> Self {
        CommandError {
            message: message.into(),
            hint: None,
        }
    }
}

impl std::convert::From<String> for CommandError {
    fn from(message: String) -> Self {
        CommandError::new(message)
    }
}

type Res<T> = Result<T, CommandError>;

/// Splits the keyword off a logical line.
pub fn split_keyword(line: &str) -> (&str, &str) {
    let line = line.trim();
    match line.find(char::is_whitespace) {
        Some(i) => (&line[..i], line[i..].trim()),
        None => (line, ""),
    }
}

/// Closest known keyword within edit distance 2, for "did you mean".
pub fn suggest_keyword(word: &str) -> Option<&'static str> {
    let w = word.to_ascii_uppercase();
    Kind::ALL
        .iter()
        .map(|k| (edit_distance(&w, k.as_str()), k.as_str()))
        .filter(|(d, _)| *d <= 2)
        .min()
        .map(|(_, k)| k)
}

/// Levenshtein distance, for "did you mean" hints.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for i in 1..=a.len() {
        let mut cur = vec![i; b.len() + 1];
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            cur[j] = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// Parses the arguments of one instruction (keyword already identified).
/// `heredocs` are the bodies read for the markers on the line, in order.
pub fn parse_command(kind: Kind, args: &str, heredocs: Vec<Heredoc>, escape: char) -> Res<Command> {
    let (flag_words, rest) = extract_flags(args);
    let rest = rest.trim();
    let name = kind.as_str();
    use FlagKind as F;
    let spec: &[(&'static str, FlagKind)] = match kind {
        Kind::From => &[("platform", F::String)],
        Kind::Run => &[
            ("mount", F::Strings),
            ("network", F::String),
            ("security", F::String),
        ],
        Kind::Copy => &[
            ("from", F::String),
            ("chown", F::String),
            ("chmod", F::String),
            ("link", F::Bool),
            ("parents", F::Bool),
            ("exclude", F::Strings),
        ],
        Kind::Add => &[
            ("chown", F::String),
            ("chmod", F::String),
            ("link", F::Bool),
            ("keep-git-dir", F::Bool),
            ("checksum", F::String),
            ("exclude", F::Strings),
        ],
        Kind::Healthcheck => &[
            ("interval", F::String),
            ("timeout", F::String),
            ("start-period", F::String),
            ("start-interval", F::String),
            ("retries", F::String),
        ],
        _ => &[],
    };
    // ONBUILD's own text may start with a flagged instruction; it has no flags itself.
    let (flags, rest) = if kind == Kind::Onbuild {
        (Flags::default(), args.trim())
    } else {
        (parse_flags(&flag_words, spec)?, rest)
    };
    let at_least_one = || CommandError::new(format!("{name} requires at least one argument"));
    let exactly_one = || CommandError::new(format!("{name} requires exactly one argument"));
    Ok(match kind {
        Kind::From => Command::From(parse_from(&flags, rest)?),
        Kind::Run => Command::Run(parse_run(&flags, rest, heredocs)?),
        Kind::Cmd => Command::Cmd(shell_or_exec(name, rest)?),
        Kind::Entrypoint => Command::Entrypoint(shell_or_exec(name, rest)?),
        Kind::Label => Command::Label(parse_name_val(name, rest, escape)?),
        Kind::Env => Command::Env(parse_name_val(name, rest, escape)?),
        Kind::Maintainer => {
            if rest.is_empty() {
                return Err(exactly_one());
            }
            Command::Maintainer(rest.to_string())
        }
        Kind::Expose => {
            let ports = whitespace_fields(rest);
            if ports.is_empty() {
                return Err(at_least_one());
            }
            Command::Expose(ports)
        }
        Kind::Copy | Kind::Add => parse_copy_add(kind, &flags, rest, heredocs)?,
        Kind::Volume => {
            let (paths, json) = json_or_fields(name, rest)?;
            if paths.is_empty() {
                return Err(at_least_one());
            }
            if paths.iter().any(|p| p.trim().is_empty()) {
                return Err(CommandError::new(
                    "VOLUME specified can not be an empty string",
                ));
            }
            Command::Volume { paths, json }
        }
        Kind::User | Kind::Workdir | Kind::Stopsignal => {
            if rest.is_empty() {
                return Err(exactly_one());
            }
            match kind {
                Kind::User => Command::User(rest.to_string()),
                Kind::Workdir => Command::Workdir(rest.to_string()),
                _ => Command::Stopsignal(rest.to_string()),
            }
        }
        Kind::Arg => {
            let words = quoted_words(rest, escape);
            if words.is_empty() {
                return Err(at_least_one());
            }
            let mut decls = Vec::new();
            for w in words {
                let (n, d) = match w.split_once('=') {
                    Some((n, d)) => (n.to_string(), Some(d.to_string())),
                    None => (w, None),
                };
                if n.is_empty() {
                    return Err(CommandError::new("ARG names can not be blank"));
                }
                decls.push(ArgDecl {
                    name: n,
                    default: d,
                });
            }
            Command::Arg(decls)
        }
        Kind::Onbuild => Command::Onbuild(parse_onbuild(rest, heredocs, escape)?),
        Kind::Healthcheck => Command::Healthcheck(parse_healthcheck(&flags, rest)?),
        Kind::Shell => match parse_json_array(rest) {
            JsonArgs::Strings(v) if v.is_empty() => return Err(at_least_one()),
            JsonArgs::Strings(v) => Command::Shell(v),
            _ => {
                return Err(CommandError::new(
                    "SHELL requires the arguments to be in JSON form",
                ))
            }
        },
    })
}

fn not_strings() -> CommandError {
    CommandError::new("when using JSON array syntax, arrays must be comprised of strings only")
}

fn shell_or_exec(name: &str, rest: &str) -> Res<ShellOrExec> {
    match parse_json_array(rest) {
        JsonArgs::Strings(v) => Ok(ShellOrExec::Exec(v)),
        JsonArgs::NotStrings => Err(not_strings()),
        JsonArgs::NotJson if rest.is_empty() => Err(CommandError::new(format!(
            "{name} requires at least one argument"
        ))),
        JsonArgs::NotJson => Ok(ShellOrExec::Shell(rest.to_string())),
    }
}

fn json_or_fields(_name: &str, rest: &str) -> Res<(Vec<String>, bool)> {
    match parse_json_array(rest) {
        JsonArgs::Strings(v) => Ok((v, true)),
        JsonArgs::NotStrings => Err(not_strings()),
        JsonArgs::NotJson => Ok((whitespace_fields(rest), false)),
    }
}

fn is_valid_stage_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c))
}

fn parse_from(flags: &Flags, rest: &str) -> Res<From> {
    let fields = whitespace_fields(rest);
    let (image, as_kw, name) = match fields.as_slice() {
        [image] => (image.clone(), None, None),
        [image, kw, name] if kw.eq_ignore_ascii_case("as") => {
            (image.clone(), Some(kw.clone()), Some(name.clone()))
        }
        _ => {
            return Err(CommandError::new(
                "FROM requires either one or three arguments",
            ))
        }
    };
    let lower = name.as_ref().map(|n| n.to_ascii_lowercase());
    if let Some(n) = &lower {
        if !is_valid_stage_name(n) {
            return Err(CommandError::new(format!(
                "invalid name for build stage: {:?}, name can't start with a number or contain symbols",
                name.unwrap_or_default()
            )));
        }
    }
    Ok(From {
        image,
        platform: flags.string("platform"),
        name: lower,
        name_as_written: name,
        as_keyword: as_kw,
    })
}

fn parse_run(flags: &Flags, rest: &str, heredocs: Vec<Heredoc>) -> Res<Run> {
    let cmd = match parse_json_array(rest) {
        JsonArgs::Strings(v) => ShellOrExec::Exec(v),
        JsonArgs::NotStrings => return Err(not_strings()),
        JsonArgs::NotJson if rest.is_empty() && heredocs.is_empty() => {
            return Err(CommandError::new("RUN requires at least one argument"))
        }
        JsonArgs::NotJson => ShellOrExec::Shell(rest.to_string()),
    };
    let mut mounts = Vec::new();
    for raw in flags.strings("mount") {
        let parsed = parse_mount(&raw, &mut |v| Ok(v.to_string()));
        let mount = match parsed {
            Ok(m) => Some(m),
            // Values that use build arguments are checked again after expansion.
            Err(_) if raw.contains('$') => None,
            Err(e) => return Err(CommandError::new(e)),
        };
        mounts.push(MountFlag { raw, mount });
    }
    let network = match flags.string("network").as_deref() {
        None => None,
        Some("default") => Some(NetworkMode::Default),
        Some("none") => Some(NetworkMode::None),
        Some("host") => Some(NetworkMode::Host),
        Some(other) => {
            return Err(CommandError::new(format!(
                "unsupported network mode {other:?} (want default, none or host)"
            )))
        }
    };
    let security = match flags.string("security").as_deref() {
        None => None,
        Some("sandbox") => Some(SecurityMode::Sandbox),
        Some("insecure") => Some(SecurityMode::Insecure),
        Some(other) => {
            return Err(CommandError::new(format!(
                "unsupported security mode {other:?} (want sandbox or insecure)"
            )))
        }
    };
    Ok(Run {
        cmd,
        mounts,
        network,
        security,
        heredocs,
    })
}

fn parse_name_val(name: &str, rest: &str, escape: char) -> Res<KeyValues> {
    let words = quoted_words(rest, escape);
    if words.is_empty() {
        return Err(CommandError::new(format!(
            "{name} requires at least one argument"
        )));
    }
    if !words[0].contains('=') {
        // Legacy `KEY name value`: the value is everything after the first blank run.
        let Some(i) = rest.find(char::is_whitespace) else {
            return Err(CommandError::new(format!("{name} must have two arguments")));
        };
        return Ok(KeyValues {
            pairs: vec![KeyValue {
                key: rest[..i].to_string(),
                value: rest[i..].trim_start().to_string(),
            }],
            legacy: true,
        });
    }
    let mut pairs = Vec::new();
    for w in words {
        let Some((k, v)) = w.split_once('=') else {
            return Err(CommandError::new(format!(
                "Syntax error - can't find = in {w:?}. Must be of the form: name=value"
            )));
        };
        if k.is_empty() {
            return Err(CommandError::new(format!("{name} names can not be blank")));
        }
        pairs.push(KeyValue {
            key: k.to_string(),
            value: v.to_string(),
        });
    }
    Ok(KeyValues {
        pairs,
        legacy: false,
    })
}

fn parse_sources(words: Vec<String>, heredocs: Vec<Heredoc>) -> Vec<Source> {
    let mut docs = heredocs.into_iter();
    words
        .into_iter()
        .map(|w| {
            if matches!(crate::heredoc::parse_marker(&w), Ok(Some(_))) {
                if let Some(h) = docs.next() {
                    return Source::Heredoc(h);
                }
            }
            Source::Path(w)
        })
        .collect()
}

fn parse_copy_add(kind: Kind, flags: &Flags, rest: &str, heredocs: Vec<Heredoc>) -> Res<Command> {
    let name = kind.as_str();
    let (mut words, json) = json_or_fields(name, rest)?;
    if words.len() < 2 {
        return Err(CommandError::new(format!(
            "{name} requires at least two arguments, but only {} provided. Destination could not be determined",
            if words.is_empty() { "none was" } else { "one was" }
        )));
    }
    let dest = words.pop().unwrap_or_default();
    if !json && matches!(crate::heredoc::parse_marker(&dest), Ok(Some(_))) {
        return Err(CommandError::new(format!(
            "{name} requires the destination to be a path, not a heredoc"
        )));
    }
    let sources = if json {
        words.into_iter().map(Source::Path).collect()
    } else {
        parse_sources(words, heredocs)
    };
    Ok(if kind == Kind::Copy {
        Command::Copy(Copy {
            from: flags.string("from"),
            chown: flags.string("chown"),
            chmod: flags.string("chmod"),
            link: flags.bool("link"),
            parents: flags.bool("parents"),
            exclude: flags.strings("exclude"),
            sources,
            dest,
            json,
        })
    } else {
        Command::Add(Add {
            chown: flags.string("chown"),
            chmod: flags.string("chmod"),
            link: flags.bool("link"),
            keep_git_dir: flags.bool("keep-git-dir"),
            checksum: flags.string("checksum"),
            exclude: flags.strings("exclude"),
            sources,
            dest,
            json,
        })
    })
}

fn parse_onbuild(rest: &str, heredocs: Vec<Heredoc>, escape: char) -> Res<Onbuild> {
    if rest.is_empty() {
        return Err(CommandError::new("ONBUILD requires at least one argument"));
    }
    let (keyword, args) = split_keyword(rest);
    let Some(kind) = Kind::from_keyword(keyword) else {
        let mut e = CommandError::new(format!("unknown instruction {keyword:?}"));
        e.hint = suggest_keyword(keyword).map(|k| format!("did you mean {k}?"));
        return Err(e);
    };
    if kind == Kind::Onbuild {
        return Err(CommandError::new(
            "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed",
        ));
    }
    if matches!(kind, Kind::From | Kind::Maintainer) {
        return Err(CommandError::new(format!(
            "{} isn't allowed as an ONBUILD trigger",
            kind.as_str()
        )));
    }
    let trigger = parse_command(kind, args, heredocs, escape)?;
    Ok(Onbuild {
        text: rest.to_string(),
        keyword: keyword.to_string(),
        trigger: Box::new(trigger),
    })
}

fn parse_health_duration(flags: &Flags, name: &str) -> Res<Option<Duration>> {
    let Some(v) = flags.string(name) else {
        return Ok(None);
    };
    let d = parse_go_duration(&v).map_err(|e| format!("--{name}: {e}"))?;
    if !d.is_zero() && d < Duration::from_millis(1) {
        return Err(CommandError::new(format!(
            "--{name} cannot be less than 1ms"
        )));
    }
    Ok(Some(d))
}

fn parse_healthcheck(flags: &Flags, rest: &str) -> Res<Healthcheck> {
    let (typ, args) = split_keyword(rest);
    match typ.to_ascii_uppercase().as_str() {
        "NONE" => {
            if !args.is_empty() {
                return Err(CommandError::new("HEALTHCHECK NONE takes no arguments"));
            }
            Ok(Healthcheck::None)
        }
        "CMD" => {
            if args.is_empty() {
                return Err(CommandError::new("Missing command after HEALTHCHECK CMD"));
            }
            let retries = match flags.string("retries") {
                None => None,
                Some(r) => Some(r.parse::<u32>().map_err(|_| {
                    CommandError::new(format!(
                        "--retries must be a whole number of at least 0, not {r:?}"
                    ))
                })?),
            };
            Ok(Healthcheck::Cmd(HealthcheckCmd {
                cmd: shell_or_exec("HEALTHCHECK CMD", args)?,
                interval: parse_health_duration(flags, "interval")?,
                timeout: parse_health_duration(flags, "timeout")?,
                start_period: parse_health_duration(flags, "start-period")?,
                start_interval: parse_health_duration(flags, "start-interval")?,
                retries,
            }))
        }
        "" => Err(CommandError::new(
            "HEALTHCHECK requires at least one argument",
        )),
        other => Err(CommandError::new(format!(
            "Unknown type {other:?} in HEALTHCHECK (try CMD)"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(kind: Kind, args: &str) -> Command {
        parse_command(kind, args, Vec::new(), '\\').unwrap()
    }

    fn err(kind: Kind, args: &str) -> String {
        parse_command(kind, args, Vec::new(), '\\')
            .unwrap_err()
            .message
    }

    #[test]
    fn keyword_lookup_and_suggest() {
        assert_eq!(Kind::from_keyword("rUn"), Some(Kind::Run));
        assert_eq!(Kind::from_keyword("RUNN"), None);
        assert_eq!(suggest_keyword("RUNN"), Some("RUN"));
        assert_eq!(suggest_keyword("copi"), Some("COPY"));
        assert_eq!(suggest_keyword("XYZZYQ"), None);
    }

    #[test]
    fn from_forms() {
        let Command::From(f) = cmd(Kind::From, "--platform=$BUILDPLATFORM golang:1.22 As Build")
        else {
            panic!()
        };
        assert_eq!(f.image, "golang:1.22");
        assert_eq!(f.platform.as_deref(), Some("$BUILDPLATFORM"));
        assert_eq!(f.name.as_deref(), Some("build"));
        assert_eq!(f.as_keyword.as_deref(), Some("As"));
        assert!(err(Kind::From, "a b").contains("one or three"));
        assert!(err(Kind::From, "a as 1x").contains("invalid name for build stage"));
        assert!(err(Kind::From, "").contains("one or three"));
    }

    #[test]
    fn env_forms() {
        let Command::Env(kv) = cmd(Kind::Env, r#"A=1 B="two words" C=three\ four"#) else {
            panic!()
        };
        assert!(!kv.legacy);
        assert_eq!(kv.pairs.len(), 3);
        assert_eq!(kv.pairs[1].value, r#""two words""#);
        let Command::Env(kv) = cmd(Kind::Env, "PATH /usr/bin:/bin   extra") else {
            panic!()
        };
        assert!(kv.legacy);
        assert_eq!(kv.pairs[0].key, "PATH");
        assert_eq!(kv.pairs[0].value, "/usr/bin:/bin   extra");
        assert!(err(Kind::Env, "ONLYKEY").contains("must have two arguments"));
        assert!(err(Kind::Env, "A=1 B").contains("can't find ="));
        assert!(err(Kind::Env, "=1").contains("names can not be blank"));
    }

    #[test]
    fn healthcheck_forms() {
        let Command::Healthcheck(Healthcheck::Cmd(h)) = cmd(
            Kind::Healthcheck,
            "--interval=5m --timeout=3s --retries=3 CMD curl -f http://localhost/",
        ) else {
            panic!()
        };
        assert_eq!(h.interval, Some(Duration::from_secs(300)));
        assert_eq!(h.retries, Some(3));
        assert_eq!(
            h.cmd,
            ShellOrExec::Shell("curl -f http://localhost/".into())
        );
        assert_eq!(
            cmd(Kind::Healthcheck, "none"),
            Command::Healthcheck(Healthcheck::None)
        );
        assert!(err(Kind::Healthcheck, "NONE x").contains("takes no arguments"));
        assert!(err(Kind::Healthcheck, "CHECK x").contains("Unknown type"));
        assert!(err(Kind::Healthcheck, "--retries=-1 CMD x").contains("--retries"));
        assert!(err(Kind::Healthcheck, "--interval=1us CMD x").contains("less than 1ms"));
    }

    #[test]
    fn onbuild_rules() {
        let Command::Onbuild(o) = cmd(Kind::Onbuild, "copy --from=x . /app") else {
            panic!()
        };
        assert_eq!(o.trigger.kind(), Kind::Copy);
        assert!(err(Kind::Onbuild, "ONBUILD RUN x").contains("Chaining ONBUILD"));
        assert!(err(Kind::Onbuild, "FROM x").contains("isn't allowed"));
    }

    #[test]
    fn json_and_shell() {
        assert_eq!(
            cmd(Kind::Cmd, r#"["a", "b"]"#),
            Command::Cmd(ShellOrExec::Exec(vec!["a".into(), "b".into()]))
        );
        assert_eq!(
            cmd(Kind::Cmd, "[\"a\", 'b']"),
            Command::Cmd(ShellOrExec::Shell("[\"a\", 'b']".into()))
        );
        assert!(err(Kind::Entrypoint, r#"["a", true]"#).contains("strings only"));
        assert!(err(Kind::Shell, "/bin/sh -c").contains("JSON form"));
    }

    #[test]
    fn flags_checked_per_instruction() {
        assert!(err(Kind::Copy, "--chwon=1 a b").contains("unknown flag: --chwon"));
        assert!(err(Kind::Workdir, "--x=1 /a").contains("unknown flag"));
        assert!(err(Kind::Run, "--network=bridge true").contains("network"));
        assert!(err(Kind::Copy, "onlyone").contains("at least two arguments"));
    }
}

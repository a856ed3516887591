//! A stable, line-oriented text dump of a parsed Dockerfile, used by the golden tests
//! (`testdata/parser/<case>/result`) and handy when debugging the parser.
//!
//! Strings are printed with Rust's `{:?}` quoting so whitespace and escapes are visible.

use crate::duration::format_duration;
use crate::heredoc::Heredoc;
use crate::instructions::{Command, Healthcheck, Instruction, KeyValues, ShellOrExec, Source};
use crate::mount::Mount;
use crate::parser::Dockerfile;
use std::fmt::Write as _;
use std::time::Duration;

/// Dumps the whole file: directives, instructions, stages, warnings.
pub fn dump(df: &Dockerfile) -> String {
    let mut out = String::new();
    for d in &df.directives.all {
        let _ = writeln!(out, "directive {} {:?} (line {})", d.name, d.value, d.line);
    }
    for ins in &df.instructions {
        dump_instruction(&mut out, ins);
    }
    if !df.global_args.is_empty() {
        let lines: Vec<String> = df
            .global_args
            .iter()
            .map(|&i| df.instructions[i].span.to_string())
            .collect();
        let _ = writeln!(out, "global-args at {}", lines.join(", "));
    }
    for s in &df.stages {
        let _ = writeln!(
            out,
            "stage {} name={} base={:?} instructions={}",
            s.index,
            opt(&s.name),
            s.base.image,
            s.body.len()
        );
    }
    for w in &df.warnings {
        let _ = writeln!(out, "warning {} line {}: {}", w.rule, w.span, w.message);
    }
    out
}

fn opt(v: &Option<String>) -> String {
    match v {
        Some(s) => format!("{s:?}"),
        None => "-".into(),
    }
}

fn dur(v: &Option<Duration>) -> String {
    v.map(format_duration).unwrap_or_else(|| "-".into())
}

fn list(v: &[String]) -> String {
    format!("{v:?}")
}

fn shell_or_exec(c: &ShellOrExec) -> String {
    match c {
        ShellOrExec::Shell(s) => format!("shell {s:?}"),
        ShellOrExec::Exec(v) => format!("exec {}", list(v)),
    }
}

fn key_values(kv: &KeyValues) -> String {
    let mut s = String::new();
    if kv.legacy {
        s.push_str("legacy ");
    }
    let parts: Vec<String> = kv
        .pairs
        .iter()
        .map(|p| format!("{:?}={:?}", p.key, p.value))
        .collect();
    s.push_str(&parts.join(" "));
    s
}

fn sources(v: &[Source]) -> String {
    let parts: Vec<String> = v
        .iter()
        .map(|s| match s {
            Source::Path(p) => format!("{p:?}"),
            Source::Heredoc(h) => format!("heredoc:{:?}", h.name),
        })
        .collect();
    format!("[{}]", parts.join(", "))
}

fn mount(m: &Mount) -> String {
    let mut s = format!("type={}", m.kind.as_str());
    let mut field = |k: &str, v: String| {
        let _ = write!(s, " {k}={v}");
    };
    if let Some(t) = &m.target {
        field("target", format!("{t:?}"));
    }
    if let Some(v) = &m.source {
        field("source", format!("{v:?}"));
    }
    if let Some(v) = &m.from {
        field("from", format!("{v:?}"));
    }
    if let Some(v) = &m.id {
        field("id", format!("{v:?}"));
    }
    if let Some(v) = &m.sharing {
        field("sharing", format!("{v:?}").to_ascii_lowercase());
    }
    if let Some(v) = m.mode {
        field("mode", format!("{v:o}"));
    }
    if let Some(v) = m.uid {
        field("uid", v.to_string());
    }
    if let Some(v) = m.gid {
        field("gid", v.to_string());
    }
    if let Some(v) = m.size {
        field("size", v.to_string());
    }
    if let Some(v) = &m.env {
        field("env", format!("{v:?}"));
    }
    field("readonly", m.readonly.to_string());
    if m.required {
        field("required", "true".into());
    }
    s
}

fn heredoc(out: &mut String, h: &Heredoc) {
    let _ = writeln!(
        out,
        "    heredoc {:?} expand={} chomp={} fd={} lines {}",
        h.name,
        h.expand,
        h.chomp,
        h.fd.map(|f| f.to_string()).unwrap_or_else(|| "-".into()),
        h.span
    );
    for line in h.content().lines() {
        let _ = writeln!(out, "    | {line}");
    }
}

/// The one-line summary of a command (without flags that have their own lines).
pub fn command_line(c: &Command) -> String {
    let k = c.kind().as_str();
    match c {
        Command::From(f) => format!(
            "{k} image={:?} platform={} name={} as={}",
            f.image,
            opt(&f.platform),
            opt(&f.name),
            opt(&f.as_keyword)
        ),
        Command::Run(r) => {
            let mut s = format!("{k} {}", shell_or_exec(&r.cmd));
            if let Some(n) = r.network {
                let _ = write!(s, " network={}", format!("{n:?}").to_ascii_lowercase());
            }
            if let Some(n) = r.security {
                let _ = write!(s, " security={}", format!("{n:?}").to_ascii_lowercase());
            }
            s
        }
        Command::Cmd(c) | Command::Entrypoint(c) => format!("{k} {}", shell_or_exec(c)),
        Command::Label(kv) | Command::Env(kv) => format!("{k} {}", key_values(kv)),
        Command::Maintainer(s)
        | Command::User(s)
        | Command::Workdir(s)
        | Command::Stopsignal(s) => format!("{k} {s:?}"),
        Command::Expose(v) | Command::Shell(v) => format!("{k} {}", list(v)),
        Command::Volume { paths, json } => format!("{k} {} json={json}", list(paths)),
        Command::Arg(decls) => {
            let parts: Vec<String> = decls
                .iter()
                .map(|d| match &d.default {
                    Some(v) => format!("{:?}={v:?}", d.name),
                    None => format!("{:?}", d.name),
                })
                .collect();
            format!("{k} {}", parts.join(" "))
        }
        Command::Copy(c) => format!(
            "{k} from={} chown={} chmod={} link={} parents={} exclude={} json={} src={} dest={:?}",
            opt(&c.from),
            opt(&c.chown),
            opt(&c.chmod),
            c.link,
            c.parents,
            list(&c.exclude),
            c.json,
            sources(&c.sources),
            c.dest
        ),
        Command::Add(a) => format!(
            "{k} chown={} chmod={} link={} keep-git-dir={} checksum={} exclude={} json={} src={} dest={:?}",
            opt(&a.chown),
            opt(&a.chmod),
            a.link,
            a.keep_git_dir,
            opt(&a.checksum),
            list(&a.exclude),
            a.json,
            sources(&a.sources),
            a.dest
        ),
        Command::Onbuild(o) => format!("{k} {:?} -> {}", o.text, command_line(&o.trigger)),
        Command::Healthcheck(Healthcheck::None) => format!("{k} NONE"),
        Command::Healthcheck(Healthcheck::Cmd(h)) => format!(
            "{k} {} interval={} timeout={} start-period={} start-interval={} retries={}",
            shell_or_exec(&h.cmd),
            dur(&h.interval),
            dur(&h.timeout),
            dur(&h.start_period),
            dur(&h.start_interval),
            h.retries.map(|r| r.to_string()).unwrap_or_else(|| "-".into())
        ),
    }
}

fn dump_instruction(out: &mut String, ins: &Instruction) {
    for c in &ins.comments {
        let _ = writeln!(out, "# {c}");
    }
    let _ = writeln!(
        out,
        "{} [{}] {}",
        ins.span,
        ins.keyword,
        command_line(&ins.command)
    );
    dump_details(out, &ins.command);
}

/// Mounts and heredoc bodies, on their own indented lines.
fn dump_details(out: &mut String, command: &Command) {
    match command {
        Command::Run(r) => {
            for m in &r.mounts {
                match &m.mount {
                    Some(mm) => {
                        let _ = writeln!(out, "    mount {}", mount(mm));
                    }
                    None => {
                        let _ = writeln!(out, "    mount (after expansion) {:?}", m.raw);
                    }
                }
            }
            for h in &r.heredocs {
                heredoc(out, h);
            }
        }
        Command::Copy(crate::instructions::Copy { sources, .. })
        | Command::Add(crate::instructions::Add { sources, .. }) => {
            for s in sources {
                if let Source::Heredoc(h) = s {
                    heredoc(out, h);
                }
            }
        }
        Command::Onbuild(o) => dump_details(out, &o.trigger),
        _ => {}
    }
}

/// Dumps expanded stages: the resolved base, each instruction after expansion with the
/// build args it used and any undefined variables, and the final ENV.
pub fn dump_expanded(stages: &[crate::scope::ExpandedStage]) -> String {
    let fmt_used = |m: &std::collections::BTreeMap<String, Option<String>>| {
        m.iter()
            .map(|(k, v)| match v {
                Some(v) => format!("{k}={v:?}"),
                None => format!("{k}=<unset>"),
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    let mut out = String::new();
    for st in stages {
        let _ = writeln!(
            out,
            "stage {} name={} base={:?} platform={}",
            st.index,
            opt(&st.name),
            st.base,
            opt(&st.platform)
        );
        if !st.from_used_args.is_empty() {
            let _ = writeln!(out, "  from uses {}", fmt_used(&st.from_used_args));
        }
        for n in &st.from_undefined {
            let _ = writeln!(out, "  from undefined ${n}");
        }
        for ins in &st.instructions {
            let _ = writeln!(
                out,
                "  {} {}",
                ins.instruction.span,
                command_line(&ins.instruction.command)
            );
            if !ins.used_args.is_empty() {
                let _ = writeln!(out, "      uses {}", fmt_used(&ins.used_args));
            }
            for n in &ins.undefined {
                let _ = writeln!(out, "      undefined ${n}");
            }
            let mut details = String::new();
            dump_details(&mut details, &ins.instruction.command);
            for line in details.lines() {
                let _ = writeln!(out, "  {line}");
            }
        }
        for (k, v) in &st.final_env {
            let _ = writeln!(out, "  env {k}={v:?}");
        }
    }
    out
}

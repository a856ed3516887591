//! The model behind `berth build --check [--format json]`: a stable, serialisable outline
//! of the file (stages, args, instructions with their lines) and warnings in the spirit
//! of BuildKit's checks, honouring `# check=skip=...;error=true`.
//!
//! Field names and rule names are part of the output contract; `version` goes up if they
//! change incompatibly.

use crate::error::{render_located, Span};
use crate::instructions::{Command, Kind, ShellOrExec};
use crate::parser::Dockerfile;
use crate::scope::{expand_each, ExpandOptions};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

pub const REPORT_VERSION: u32 = 1;

/// Rule names, as BuildKit spells them where BuildKit has the rule.
pub mod rules {
    pub const CONSISTENT_INSTRUCTION_CASING: &str = "ConsistentInstructionCasing";
    pub const FROM_AS_CASING: &str = "FromAsCasing";
    pub const STAGE_NAME_CASING: &str = "StageNameCasing";
    pub const JSON_ARGS_RECOMMENDED: &str = "JSONArgsRecommended";
    pub const UNDEFINED_VAR: &str = "UndefinedVar";
    pub const UNDEFINED_ARG_IN_FROM: &str = "UndefinedArgInFrom";
    pub const DUPLICATE_STAGE_NAME: &str = "DuplicateStageName";
    pub const RESERVED_STAGE_NAME: &str = "ReservedStageName";
    pub const MAINTAINER_DEPRECATED: &str = "MaintainerDeprecated";
    pub const LEGACY_KEY_VALUE_FORMAT: &str = "LegacyKeyValueFormat";
    pub const MULTIPLE_INSTRUCTIONS_DISALLOWED: &str = "MultipleInstructionsDisallowed";
    pub const NO_EMPTY_CONTINUATION: &str = "NoEmptyContinuation";
    pub const EXPANSION_FAILED: &str = "ExpansionFailed";
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warning,
    Error,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub rule: String,
    pub severity: Severity,
    pub message: String,
    pub start_line: usize,
    pub end_line: usize,
    /// Docker's documentation page for rules BuildKit also has.
    pub url: Option<String>,
}

/// `JSONArgsRecommended` → `https://docs.docker.com/go/dockerfile/rule/json-args-recommended/`.
fn rule_url(rule: &str) -> Option<String> {
    if rule == rules::EXPANSION_FAILED {
        return None;
    }
    let mut kebab = String::new();
    let chars: Vec<char> = rule.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        let next_lower = chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
        let prev_lower = i > 0 && chars[i - 1].is_ascii_lowercase();
        if c.is_ascii_uppercase() && i > 0 && (prev_lower || next_lower) {
            kebab.push('-');
        }
        kebab.push(c.to_ascii_lowercase());
    }
    Some(format!(
        "https://docs.docker.com/go/dockerfile/rule/{kebab}/"
    ))
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StageInfo {
    pub index: usize,
    pub name: Option<String>,
    /// The FROM image or stage as written.
    pub base: String,
    pub platform: Option<String>,
    pub start_line: usize,
    pub end_line: usize,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ArgInfo {
    pub name: String,
    pub default: Option<String>,
    pub line: usize,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StageArgs {
    pub stage: usize,
    pub args: Vec<ArgInfo>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Args {
    pub global: Vec<ArgInfo>,
    pub stages: Vec<StageArgs>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct InstructionInfo {
    /// Stage index; `None` for global ARGs.
    pub stage: Option<usize>,
    pub kind: Kind,
    /// The keyword as written.
    pub keyword: String,
    pub start_line: usize,
    pub end_line: usize,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CheckReport {
    pub version: u32,
    pub syntax: Option<String>,
    pub escape: String,
    pub stages: Vec<StageInfo>,
    pub args: Args,
    pub instructions: Vec<InstructionInfo>,
    pub warnings: Vec<Finding>,
    /// True when the build should fail: an error-level finding, or `# check=error=true`
    /// with any warning.
    pub fail: bool,
}

/// Inputs for the checks besides the file.
#[derive(Clone, Debug)]
pub struct CheckOptions {
    pub expand: ExpandOptions,
    /// Variables that base images are known to define (never "undefined"). `PATH` by
    /// default, as every build starts with a default PATH.
    pub known_env: BTreeSet<String>,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            expand: ExpandOptions::default(),
            known_env: ["PATH".to_string()].into_iter().collect(),
        }
    }
}

fn finding(rule: &str, severity: Severity, span: Span, message: String) -> Finding {
    Finding {
        rule: rule.to_string(),
        severity,
        message,
        start_line: span.start_line,
        end_line: span.end_line,
        url: rule_url(rule),
    }
}

fn warn(rule: &str, span: Span, message: String) -> Finding {
    finding(rule, Severity::Warning, span, message)
}

fn casing(word: &str) -> Option<bool> {
    // Some(true) upper, Some(false) lower, None mixed
    if word.chars().all(|c| !c.is_ascii_lowercase()) {
        Some(true)
    } else if word.chars().all(|c| !c.is_ascii_uppercase()) {
        Some(false)
    } else {
        None
    }
}

/// The closest name within a small edit distance (case-insensitive), for hints.
fn closest<'a>(name: &str, candidates: impl Iterator<Item = &'a String>) -> Option<&'a String> {
    let limit = if name.len() <= 3 { 1 } else { 2 };
    candidates
        .map(|c| {
            let d = crate::instructions::edit_distance(
                &name.to_ascii_lowercase(),
                &c.to_ascii_lowercase(),
            );
            (d, c)
        })
        .filter(|(d, _)| *d <= limit)
        .min()
        .map(|(_, c)| c)
}

/// Runs the checks and builds the report.
pub fn check(df: &Dockerfile, opts: &CheckOptions) -> CheckReport {
    let mut warnings = Vec::new();

    // Outline.
    let stage_of = |i: usize| {
        df.stages
            .iter()
            .find(|s| s.from == i || s.body.contains(&i))
    };
    let instructions: Vec<InstructionInfo> = df
        .instructions
        .iter()
        .enumerate()
        .map(|(i, ins)| InstructionInfo {
            stage: stage_of(i).map(|s| s.index),
            kind: ins.kind(),
            keyword: ins.keyword.clone(),
            start_line: ins.span.start_line,
            end_line: ins.span.end_line,
        })
        .collect();
    let stages: Vec<StageInfo> = df
        .stages
        .iter()
        .map(|s| {
            let start = df.instructions[s.from].span.start_line;
            let end = df.instructions[s.body.end - 1].span.end_line;
            StageInfo {
                index: s.index,
                name: s.name.clone(),
                base: s.base.image.clone(),
                platform: s.base.platform.clone(),
                start_line: start,
                end_line: end,
            }
        })
        .collect();
    let arg_infos = |range: &mut dyn Iterator<Item = usize>| -> Vec<ArgInfo> {
        let mut out = Vec::new();
        for i in range {
            if let Command::Arg(decls) = &df.instructions[i].command {
                for d in decls {
                    out.push(ArgInfo {
                        name: d.name.clone(),
                        default: d.default.clone(),
                        line: df.instructions[i].span.start_line,
                    });
                }
            }
        }
        out
    };
    let args = Args {
        global: arg_infos(&mut df.global_args.iter().copied()),
        stages: df
            .stages
            .iter()
            .map(|s| StageArgs {
                stage: s.index,
                args: arg_infos(&mut s.body.clone()),
            })
            .collect(),
    };

    // Keyword casing: each keyword should be all upper or all lower, and agree with the
    // majority of the file.
    let mut keywords: Vec<(&str, Span)> = Vec::new();
    for ins in &df.instructions {
        keywords.push((ins.keyword.as_str(), ins.span));
        if let Command::Onbuild(o) = &ins.command {
            keywords.push((o.keyword.as_str(), ins.span));
        }
    }
    let upper = keywords
        .iter()
        .filter(|(k, _)| casing(k) == Some(true))
        .count();
    let lower = keywords
        .iter()
        .filter(|(k, _)| casing(k) == Some(false))
        .count();
    let majority_upper = upper >= lower;
    for (k, span) in &keywords {
        match casing(k) {
            None => warnings.push(warn(
                rules::CONSISTENT_INSTRUCTION_CASING,
                *span,
                format!("Command '{k}' should be consistently cased"),
            )),
            Some(u) if u != majority_upper => warnings.push(warn(
                rules::CONSISTENT_INSTRUCTION_CASING,
                *span,
                format!(
                    "Command '{k}' should match the case of the command majority ({})",
                    if majority_upper {
                        "uppercase"
                    } else {
                        "lowercase"
                    }
                ),
            )),
            _ => {}
        }
    }

    // Stage names.
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for s in &df.stages {
        let span = df.instructions[s.from].span;
        let f = &s.base;
        if let (Some(as_kw), Some(from_case)) =
            (&f.as_keyword, casing(&df.instructions[s.from].keyword))
        {
            if let Some(as_case) = casing(as_kw) {
                if as_case != from_case {
                    warnings.push(warn(
                        rules::FROM_AS_CASING,
                        span,
                        format!(
                            "'{as_kw}' and '{}' keywords' casing do not match",
                            df.instructions[s.from].keyword
                        ),
                    ));
                }
            }
        }
        if let (Some(name), Some(written)) = (&s.name, &f.name_as_written) {
            if name != written {
                warnings.push(warn(
                    rules::STAGE_NAME_CASING,
                    span,
                    format!("Stage name '{written}' should be lowercase"),
                ));
            }
            if matches!(name.as_str(), "scratch" | "context") {
                warnings.push(warn(
                    rules::RESERVED_STAGE_NAME,
                    span,
                    format!("'{name}' is reserved and should not be used as a stage name"),
                ));
            }
            if let Some(first) = seen.get(name) {
                warnings.push(finding(
                    rules::DUPLICATE_STAGE_NAME,
                    Severity::Error,
                    span,
                    format!(
                        "Duplicate stage name {name:?}, stage names should be unique (first defined at line {first})"
                    ),
                ));
            } else {
                seen.insert(name.clone(), span.start_line);
            }
        }

        // Per-stage instruction rules.
        let mut last_of: BTreeMap<Kind, usize> = BTreeMap::new();
        for ins in df.body_of(s) {
            let span = ins.span;
            match &ins.command {
                Command::Cmd(ShellOrExec::Shell(_)) | Command::Entrypoint(ShellOrExec::Shell(_)) => {
                    warnings.push(warn(
                        rules::JSON_ARGS_RECOMMENDED,
                        span,
                        format!(
                            "JSON arguments recommended for {} to prevent unintended behavior related to OS signals",
                            ins.kind().as_str()
                        ),
                    ))
                }
                Command::Maintainer(_) => warnings.push(warn(
                    rules::MAINTAINER_DEPRECATED,
                    span,
                    "Maintainer instruction is deprecated in favor of using label".into(),
                )),
                Command::Env(kv) | Command::Label(kv) if kv.legacy => {
                    let k = ins.kind().as_str();
                    warnings.push(warn(
                        rules::LEGACY_KEY_VALUE_FORMAT,
                        span,
                        format!("\"{k} key=value\" should be used instead of legacy \"{k} key value\" format"),
                    ))
                }
                _ => {}
            }
            if matches!(ins.kind(), Kind::Cmd | Kind::Entrypoint | Kind::Healthcheck) {
                if let Some(prev) = last_of.insert(ins.kind(), span.start_line) {
                    warnings.push(warn(
                        rules::MULTIPLE_INSTRUCTIONS_DISALLOWED,
                        Span::line(prev),
                        format!(
                            "Multiple {} instructions should not be used in the same stage because only the last one will be used",
                            ins.kind().as_str()
                        ),
                    ));
                }
            }
        }
    }

    // Undefined variables, from a real expansion pass.
    let expanded = match expand_each(df, &opts.expand) {
        Ok(stages) => stages,
        Err(e) => vec![Err(e)],
    };
    for result in expanded {
        let st = match result {
            Ok(st) => st,
            Err(e) => {
                warnings.push(finding(
                    rules::EXPANSION_FAILED,
                    Severity::Error,
                    e.span,
                    e.message,
                ));
                continue;
            }
        };
        let from_span = df.instructions[df.stages[st.index].from].span;
        for n in &st.from_undefined {
            warnings.push(warn(
                rules::UNDEFINED_ARG_IN_FROM,
                from_span,
                format!("FROM argument '{n}' is not declared"),
            ));
        }
        for ins in &st.instructions {
            for n in &ins.undefined {
                if opts.known_env.contains(n) {
                    continue;
                }
                let known = ins
                    .env
                    .iter()
                    .map(|(k, _)| k)
                    .chain(ins.arg_env.keys())
                    .chain(opts.known_env.iter());
                let hint = closest(n, known)
                    .map(|k| format!(" (did you mean ${k}?)"))
                    .unwrap_or_default();
                warnings.push(warn(
                    rules::UNDEFINED_VAR,
                    ins.instruction.span,
                    format!("Usage of undefined variable '${n}'{hint}"),
                ));
            }
        }
    }

    for w in &df.warnings {
        warnings.push(warn(w.rule, w.span, w.message.clone()));
    }

    // `# check=` directive.
    let directive = df.directives.check.clone().unwrap_or_default();
    warnings.retain(|w| w.severity == Severity::Error || !directive.skips(&w.rule));
    warnings.sort_by(|a, b| {
        (a.start_line, &a.rule, &a.message).cmp(&(b.start_line, &b.rule, &b.message))
    });
    warnings.dedup();
    let fail = warnings
        .iter()
        .any(|w| w.severity == Severity::Error || directive.error);

    CheckReport {
        version: REPORT_VERSION,
        syntax: df.directives.syntax.clone(),
        escape: df.directives.escape.to_string(),
        stages,
        args,
        instructions,
        warnings,
        fail,
    }
}

impl CheckReport {
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self)
            .unwrap_or_else(|e| format!("{{\"error\":{:?}}}", e.to_string()))
    }

    /// Human output: one block per finding with the source line, then a summary line.
    pub fn render_text(&self, file_name: &str, source: &str) -> String {
        let mut out = String::new();
        for w in &self.warnings {
            let level = match w.severity {
                Severity::Warning => "warning",
                Severity::Error => "error",
            };
            out.push_str(&render_located(
                file_name,
                source,
                Span::new(w.start_line, w.end_line),
                &format!("{level}: {}: {}", w.rule, w.message),
                None,
            ));
        }
        let n = self.warnings.len();
        out.push_str(&format!(
            "Check complete, {}\n",
            match n {
                0 => "no warnings found.".to_string(),
                1 => "1 warning has been found!".to_string(),
                _ => format!("{n} warnings have been found!"),
            }
        ));
        out
    }
}

/// Line-ending facts about a file (for "script has CRLF line endings" hints).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LineEndings {
    pub crlf: usize,
    pub lf: usize,
    /// 1-based line of the first CRLF ending.
    pub first_crlf_line: Option<usize>,
}

impl LineEndings {
    pub fn has_crlf(&self) -> bool {
        self.crlf > 0
    }

    pub fn mixed(&self) -> bool {
        self.crlf > 0 && self.lf > 0
    }
}

/// Counts CRLF and bare LF line endings in raw bytes.
pub fn line_endings(bytes: &[u8]) -> LineEndings {
    let mut out = LineEndings {
        crlf: 0,
        lf: 0,
        first_crlf_line: None,
    };
    let mut line = 1;
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'\n' {
            if i > 0 && bytes[i - 1] == b'\r' {
                out.crlf += 1;
                out.first_crlf_line.get_or_insert(line);
            } else {
                out.lf += 1;
            }
            line += 1;
        }
    }
    out
}

/// A ready-made hint when `bytes` (a script about to be run) has CRLF endings.
pub fn crlf_hint(name: &str, bytes: &[u8]) -> Option<String> {
    let le = line_endings(bytes);
    let first = le.first_crlf_line?;
    Some(format!(
        "{name} has CRLF (Windows) line endings (first at line {first}); /bin/sh will see a stray \\r, convert it with dos2unix or set git's core.autocrlf=input"
    ))
}

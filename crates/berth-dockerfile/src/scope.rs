//! ARG and ENV scoping, and the per-stage expansion walk the build engine runs.
//!
//! Rules (as Docker/BuildKit):
//! - ARGs before the first FROM are global: usable in FROM lines only, unless a stage
//!   declares `ARG NAME` again (then it takes the global value by default).
//! - A stage ARG's value: the `--build-arg` if given, else its own default, else (with no
//!   default) the global ARG's value.
//! - ENV always wins over an ARG of the same name.
//! - The platform args (`TARGETPLATFORM`, `BUILDARCH`, ...) are defined in the global
//!   scope automatically and inside a stage once declared with `ARG NAME`.
//! - The proxy args (`HTTP_PROXY`, ...) reach RUN without being declared and never count
//!   towards the cache key.
//! - Which arguments each instruction expands is fixed per instruction: ENV, ARG, LABEL
//!   (keys and values), WORKDIR, USER, STOPSIGNAL, EXPOSE, VOLUME, COPY/ADD (sources,
//!   destination, --from/--chown/--chmod/--checksum/--exclude, unquoted heredoc bodies),
//!   RUN `--mount` values, FROM image and `--platform`. RUN/CMD/ENTRYPOINT/SHELL/
//!   HEALTHCHECK/ONBUILD/MAINTAINER text is left to the shell or the child image.

use crate::error::{ParseError, Span};
use crate::expand::{ExpandError, Lexer, Refs};
use crate::instructions::{Command, Instruction, KeyValue, MountFlag, Source};
use crate::mount::parse_mount;
use crate::parser::Dockerfile;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// Build arguments that reach RUN without an ARG line and are kept out of cache keys.
pub const PROXY_ARGS: [&str; 10] = [
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
];

/// Names of the automatic platform args.
pub const PLATFORM_ARGS: [&str; 8] = [
    "TARGETPLATFORM",
    "TARGETOS",
    "TARGETARCH",
    "TARGETVARIANT",
    "BUILDPLATFORM",
    "BUILDOS",
    "BUILDARCH",
    "BUILDVARIANT",
];

/// `os/arch[/variant]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Platform {
    pub os: String,
    pub arch: String,
    pub variant: Option<String>,
}

impl Platform {
    pub fn parse(s: &str) -> Option<Platform> {
        let mut parts = s.split('/');
        let os = parts.next().filter(|p| !p.is_empty())?.to_string();
        let arch = parts.next().filter(|p| !p.is_empty())?.to_string();
        let variant = parts.next().map(str::to_string);
        if parts.next().is_some() {
            return None;
        }
        Some(Platform { os, arch, variant })
    }

    pub fn to_string_full(&self) -> String {
        match &self.variant {
            Some(v) => format!("{}/{}/{v}", self.os, self.arch),
            None => format!("{}/{}", self.os, self.arch),
        }
    }
}

/// Values of the automatic platform args for a build running on `build` for `target`.
pub fn platform_args(build: &Platform, target: &Platform) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    for (prefix, p) in [("BUILD", build), ("TARGET", target)] {
        m.insert(format!("{prefix}PLATFORM"), p.to_string_full());
        m.insert(format!("{prefix}OS"), p.os.clone());
        m.insert(format!("{prefix}ARCH"), p.arch.clone());
        m.insert(
            format!("{prefix}VARIANT"),
            p.variant.clone().unwrap_or_default(),
        );
    }
    m
}

/// Inputs of the expansion walk.
#[derive(Clone, Debug, Default)]
pub struct ExpandOptions {
    /// `--build-arg NAME=VALUE`.
    pub build_args: BTreeMap<String, String>,
    /// Automatic args (see `platform_args`); may be empty.
    pub automatic_args: BTreeMap<String, String>,
    /// ENV of base images, keyed by the FROM reference after expansion (as written,
    /// e.g. `golang:1.22`). Used by `expand_all` for stages built on images; stages built
    /// on other stages inherit that stage's final ENV instead.
    pub image_env: BTreeMap<String, Vec<(String, String)>>,
}

/// The global scope: ARGs declared before the first FROM with their resolved values.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct GlobalScope {
    /// Declared global args in order; `None` when declared without a value.
    pub args: Vec<(String, Option<String>)>,
}

impl GlobalScope {
    pub fn get(&self, name: &str) -> Option<&Option<String>> {
        self.args
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }
}

/// One instruction after expansion.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ExpandedInstruction {
    /// A copy of the instruction with its expandable arguments expanded and unquoted.
    pub instruction: Instruction,
    /// Build args this instruction depends on, with the value it saw (`None`: declared
    /// but unset). For RUN this includes every ARG declared in the stage and not hidden
    /// by an ENV of the same name, since RUN receives them in its environment (proxy
    /// args excluded: they never count towards the cache key).
    pub used_args: BTreeMap<String, Option<String>>,
    /// Variables referenced without a default that are neither ENV nor a declared ARG.
    pub undefined: BTreeSet<String>,
    /// ENV in effect when the instruction runs (base env included).
    pub env: Vec<(String, String)>,
    /// ARGs in scope with values: RUN sees these as environment variables (ENV wins).
    pub arg_env: BTreeMap<String, String>,
}

/// One stage after expansion.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ExpandedStage {
    pub index: usize,
    pub name: Option<String>,
    /// FROM image (or stage name) after expansion with the global args.
    pub base: String,
    pub platform: Option<String>,
    /// Global/automatic args used by the FROM line.
    pub from_used_args: BTreeMap<String, Option<String>>,
    pub from_undefined: BTreeSet<String>,
    pub instructions: Vec<ExpandedInstruction>,
    /// ENV at the end of the stage (what a `FROM <this stage>` starts with).
    pub final_env: Vec<(String, String)>,
}

fn located(span: Span, e: ExpandError) -> ParseError {
    ParseError::new(span, format!("failed to expand: {}", e.0))
}

/// Resolves the global ARGs.
pub fn global_scope(df: &Dockerfile, opts: &ExpandOptions) -> Result<GlobalScope, ParseError> {
    let lexer = Lexer::new(df.directives.escape);
    let mut scope = GlobalScope::default();
    for &i in &df.global_args {
        let ins = &df.instructions[i];
        let Command::Arg(decls) = &ins.command else {
            continue;
        };
        let mut resolved = Vec::new();
        for d in decls {
            let lookup = |n: &str| global_lookup(&scope, opts, n);
            let (name, _) = lexer
                .process_word(&d.name, &lookup)
                .map_err(|e| located(ins.span, e))?;
            let default = match &d.default {
                Some(v) => Some(
                    lexer
                        .process_word(v, &lookup)
                        .map_err(|e| located(ins.span, e))?
                        .0,
                ),
                None => None,
            };
            let value = opts
                .build_args
                .get(&name)
                .cloned()
                .or_else(|| automatic(opts, &name))
                .or(default);
            resolved.push((name, value));
        }
        scope.args.extend(resolved);
    }
    Ok(scope)
}

/// The automatic value of a platform arg (they beat an ARG's own default, as BuildKit
/// passes them like build arguments).
fn automatic(opts: &ExpandOptions, name: &str) -> Option<String> {
    if PLATFORM_ARGS.contains(&name) {
        opts.automatic_args.get(name).cloned()
    } else {
        None
    }
}

fn global_lookup(scope: &GlobalScope, opts: &ExpandOptions, name: &str) -> Option<String> {
    match scope.get(name) {
        Some(v) => v.clone(),
        None => opts.automatic_args.get(name).cloned(),
    }
}

/// Expands every stage. A stage based on another starts from that stage's final ENV; a
/// stage based on an image starts from `opts.image_env[image]` (empty if absent). The
/// first error stops the walk; see `expand_each` to keep going.
pub fn expand_all(df: &Dockerfile, opts: &ExpandOptions) -> Result<Vec<ExpandedStage>, ParseError> {
    expand_each(df, opts)?.into_iter().collect()
}

/// Expands every stage, keeping each stage's own result, so that an error in a stage the
/// build does not need (a `${VERSION:?}` in a release stage when building `--target
/// dev`) does not stop the others. Only a failure in the global ARGs is fatal.
pub fn expand_each(
    df: &Dockerfile,
    opts: &ExpandOptions,
) -> Result<Vec<Result<ExpandedStage, ParseError>>, ParseError> {
    let global = global_scope(df, opts)?;
    let mut out: Vec<Result<ExpandedStage, ParseError>> = Vec::new();
    for stage in &df.stages {
        let base_env = {
            let lexer = Lexer::new(df.directives.escape);
            let lookup = |n: &str| global_lookup(&global, opts, n);
            let base = lexer
                .process_word(&stage.base.image, &lookup)
                .map(|r| r.0)
                .unwrap_or_default();
            let lower = base.to_ascii_lowercase();
            let parent = df.stages[..stage.index]
                .iter()
                .position(|s| s.name.as_deref() == Some(lower.as_str()));
            match parent {
                Some(p) => out[p]
                    .as_ref()
                    .map(|s| s.final_env.clone())
                    .unwrap_or_default(),
                None => opts.image_env.get(&base).cloned().unwrap_or_default(),
            }
        };
        out.push(expand_stage_with(df, stage.index, opts, &global, base_env));
    }
    Ok(out)
}

/// A stage as written, without expansion (used for stages whose expansion failed).
pub fn unexpanded_stage(df: &Dockerfile, stage_index: usize) -> Option<ExpandedStage> {
    let stage = df.stages.get(stage_index)?;
    Some(ExpandedStage {
        index: stage.index,
        name: stage.name.clone(),
        base: stage.base.image.clone(),
        platform: stage.base.platform.clone(),
        from_used_args: BTreeMap::new(),
        from_undefined: BTreeSet::new(),
        instructions: df
            .body_of(stage)
            .iter()
            .map(|ins| ExpandedInstruction {
                instruction: ins.clone(),
                used_args: BTreeMap::new(),
                undefined: BTreeSet::new(),
                env: Vec::new(),
                arg_env: BTreeMap::new(),
            })
            .collect(),
        final_env: Vec::new(),
    })
}

/// Expands one stage. `base_env` is the ENV of the base image (or base stage).
pub fn expand_stage(
    df: &Dockerfile,
    stage_index: usize,
    opts: &ExpandOptions,
    base_env: Vec<(String, String)>,
) -> Result<ExpandedStage, ParseError> {
    let global = global_scope(df, opts)?;
    expand_stage_with(df, stage_index, opts, &global, base_env)
}

struct State<'a> {
    lexer: Lexer,
    env: Vec<(String, String)>,
    /// Declared stage ARGs and their values.
    args: BTreeMap<String, Option<String>>,
    opts: &'a ExpandOptions,
    refs: Refs,
}

impl State<'_> {
    fn env_get(&self, name: &str) -> Option<&String> {
        self.env
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }

    fn lookup(&self, name: &str) -> Option<String> {
        if let Some(v) = self.env_get(name) {
            return Some(v.clone());
        }
        self.args.get(name).cloned().flatten()
    }

    fn word(&mut self, s: &str) -> Result<String, ExpandError> {
        let lookup = |n: &str| self.lookup(n);
        let (v, refs) = self.lexer.process_word(s, &lookup)?;
        self.refs.extend(refs);
        Ok(v)
    }

    fn words(&mut self, s: &str) -> Result<Vec<String>, ExpandError> {
        let lookup = |n: &str| self.lookup(n);
        let (v, refs) = self.lexer.process_words(s, &lookup)?;
        self.refs.extend(refs);
        Ok(v)
    }

    fn opt(&mut self, s: &Option<String>) -> Result<Option<String>, ExpandError> {
        s.as_ref().map(|v| self.word(v)).transpose()
    }

    fn heredoc_body(&mut self, s: &str) -> Result<String, ExpandError> {
        let lexer = Lexer {
            escape: self.lexer.escape,
            literal_quotes: true,
        };
        let lookup = |n: &str| self.lookup(n);
        let (v, refs) = lexer.process_word(s, &lookup)?;
        self.refs.extend(refs);
        Ok(v)
    }

    fn sources(&mut self, v: &mut [Source]) -> Result<(), ExpandError> {
        for s in v {
            match s {
                Source::Path(p) => *p = self.word(p)?,
                Source::Heredoc(h) => {
                    if h.expand {
                        h.raw = self.heredoc_body(&h.content())?;
                    } else {
                        h.raw = h.content();
                    }
                    h.chomp = false;
                }
            }
        }
        Ok(())
    }

    fn pairs(&mut self, pairs: &mut [KeyValue]) -> Result<(), ExpandError> {
        for p in pairs {
            p.key = self.word(&p.key)?;
            p.value = self.word(&p.value)?;
        }
        Ok(())
    }

    /// Expands the arguments of `cmd` in place (not applying its effects).
    fn expand(&mut self, cmd: &mut Command) -> Result<(), ExpandError> {
        match cmd {
            Command::Env(kv) | Command::Label(kv) => self.pairs(&mut kv.pairs)?,
            Command::Arg(decls) => {
                for d in decls {
                    d.name = self.word(&d.name)?;
                    d.default = self.opt(&d.default)?;
                }
            }
            Command::Workdir(s) | Command::User(s) | Command::Stopsignal(s) => *s = self.word(s)?,
            Command::Expose(ports) => {
                let mut out = Vec::new();
                for p in ports.iter() {
                    out.extend(self.words(p)?);
                }
                *ports = out;
            }
            Command::Volume { paths, .. } => {
                for p in paths {
                    *p = self.word(p)?;
                }
            }
            Command::Copy(c) => {
                c.from = self.opt(&c.from)?;
                c.chown = self.opt(&c.chown)?;
                c.chmod = self.opt(&c.chmod)?;
                for e in &mut c.exclude {
                    *e = self.word(e)?;
                }
                self.sources(&mut c.sources)?;
                c.dest = self.word(&c.dest)?;
            }
            Command::Add(a) => {
                a.chown = self.opt(&a.chown)?;
                a.chmod = self.opt(&a.chmod)?;
                a.checksum = self.opt(&a.checksum)?;
                for e in &mut a.exclude {
                    *e = self.word(e)?;
                }
                self.sources(&mut a.sources)?;
                a.dest = self.word(&a.dest)?;
            }
            Command::Run(r) => {
                for MountFlag { raw, mount } in &mut r.mounts {
                    let mut failure = None;
                    let parsed = parse_mount(raw, &mut |v| {
                        self.word(v).map_err(|e| {
                            failure = Some(e.clone());
                            e.0
                        })
                    });
                    if let Some(e) = failure {
                        return Err(e);
                    }
                    *mount = Some(parsed.map_err(ExpandError)?);
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// The PATH a stage starts with when its base sets none (BuildKit's rule: the image
/// config gets it, and `ENV PATH=/opt/bin:$PATH` extends it).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

fn expand_stage_with(
    df: &Dockerfile,
    stage_index: usize,
    opts: &ExpandOptions,
    global: &GlobalScope,
    mut base_env: Vec<(String, String)>,
) -> Result<ExpandedStage, ParseError> {
    if !base_env.iter().any(|(k, _)| k == "PATH") {
        base_env.insert(0, ("PATH".into(), DEFAULT_PATH.into()));
    }
    let stage = df.stages.get(stage_index).ok_or_else(|| {
        ParseError::new(Span::line(1), format!("no stage with index {stage_index}"))
    })?;
    let lexer = Lexer::new(df.directives.escape);
    let from_span = df.instructions[stage.from].span;

    // FROM sees the global scope only.
    let mut from_refs = Refs::default();
    let mut from_word = |s: &str| -> Result<String, ParseError> {
        let lookup = |n: &str| global_lookup(global, opts, n);
        let (v, refs) = lexer
            .process_word(s, &lookup)
            .map_err(|e| located(from_span, e))?;
        from_refs.extend(refs);
        Ok(v)
    };
    let base = from_word(&stage.base.image)?;
    let platform = stage
        .base
        .platform
        .as_deref()
        .map(&mut from_word)
        .transpose()?;
    let mut from_used_args = BTreeMap::new();
    let mut from_undefined = BTreeSet::new();
    for n in &from_refs.referenced {
        if let Some(v) = global.get(n) {
            from_used_args.insert(n.clone(), v.clone());
        } else if let Some(v) = opts.automatic_args.get(n) {
            from_used_args.insert(n.clone(), Some(v.clone()));
        } else if from_refs.unguarded.contains(n) {
            from_undefined.insert(n.clone());
        }
    }

    let mut st = State {
        lexer,
        env: base_env,
        args: BTreeMap::new(),
        opts,
        refs: Refs::default(),
    };
    let mut out = Vec::new();
    for ins in df.body_of(stage) {
        st.refs = Refs::default();
        let env_before = st.env.clone();
        let mut expanded = ins.clone();
        st.expand(&mut expanded.command)
            .map_err(|e| located(ins.span, e))?;
        let refs = std::mem::take(&mut st.refs);
        let mut used = BTreeMap::new();
        let mut undefined = BTreeSet::new();
        for n in &refs.referenced {
            if st.env_get(n).is_some() {
                continue;
            }
            if let Some(v) = st.args.get(n) {
                used.insert(n.clone(), v.clone());
            } else if refs.unguarded.contains(n) {
                undefined.insert(n.clone());
            }
        }
        let mut arg_env = BTreeMap::new();
        for (k, v) in &st.args {
            if let Some(v) = v {
                arg_env.insert(k.clone(), v.clone());
            }
        }
        for p in PROXY_ARGS {
            if let Some(v) = st.opts.build_args.get(p) {
                arg_env.entry(p.to_string()).or_insert_with(|| v.clone());
            }
        }
        if matches!(ins.command, Command::Run(_)) {
            // RUN gets every declared ARG as environment (unset ones are absent, and
            // setting them later changes what RUN sees), so it depends on all of them.
            for (k, v) in &st.args {
                if st.env_get(k).is_none() && !PROXY_ARGS.contains(&k.as_str()) {
                    used.insert(k.clone(), v.clone());
                }
            }
        }
        // Apply the instruction's effect on the scope.
        match &expanded.command {
            Command::Env(kv) => {
                for p in &kv.pairs {
                    st.env.retain(|(k, _)| k != &p.key);
                    st.env.push((p.key.clone(), p.value.clone()));
                }
            }
            Command::Arg(decls) => {
                for d in decls {
                    let value = st
                        .opts
                        .build_args
                        .get(&d.name)
                        .cloned()
                        .or_else(|| automatic(st.opts, &d.name))
                        .or_else(|| d.default.clone())
                        .or_else(|| global.get(&d.name).cloned().flatten());
                    st.args.insert(d.name.clone(), value);
                }
            }
            _ => {}
        }
        out.push(ExpandedInstruction {
            instruction: expanded,
            used_args: used,
            undefined,
            env: env_before,
            arg_env,
        });
    }
    Ok(ExpandedStage {
        index: stage.index,
        name: stage.name.clone(),
        base,
        platform,
        from_used_args,
        from_undefined,
        instructions: out,
        final_env: st.env,
    })
}

/// Build args given on the command line that no ARG in the file declares (Docker warns
/// "One or more build-args were not consumed"). Proxy and platform args are exempt.
pub fn unconsumed_build_args(df: &Dockerfile, opts: &ExpandOptions) -> Vec<String> {
    let mut declared = BTreeSet::new();
    for ins in &df.instructions {
        if let Command::Arg(decls) = &ins.command {
            declared.extend(decls.iter().map(|d| d.name.clone()));
        }
    }
    opts.build_args
        .keys()
        .filter(|k| {
            !declared.contains(*k)
                && !PROXY_ARGS.contains(&k.as_str())
                && !PLATFORM_ARGS.contains(&k.as_str())
        })
        .cloned()
        .collect()
}

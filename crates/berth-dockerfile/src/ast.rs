//! The typed AST: one node type per Dockerfile instruction, each instruction carrying its
//! source span, the keyword as written, its original text and the comments above it.

use crate::error::Span;
use crate::heredoc::Heredoc;
use crate::mount::Mount;
use serde::Serialize;
use std::time::Duration;

/// One instruction with where it came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Instruction {
    /// Lines of the instruction, heredoc bodies included.
    pub span: Span,
    /// The keyword as written (`run`, `Run`, `RUN`).
    pub keyword: String,
    /// The physical lines of the instruction as written (heredoc bodies excluded).
    pub original: String,
    /// The logical line: continuations joined, comments inside them dropped.
    pub text: String,
    /// Comment lines directly above the instruction.
    pub comments: Vec<String>,
    pub command: Command,
}

impl Instruction {
    pub fn kind(&self) -> Kind {
        self.command.kind()
    }
}

/// Instruction kinds, without their data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Kind {
    From,
    Run,
    Cmd,
    Label,
    Maintainer,
    Expose,
    Env,
    Add,
    Copy,
    Entrypoint,
    Volume,
    User,
    Workdir,
    Arg,
    Onbuild,
    Stopsignal,
    Healthcheck,
    Shell,
}

impl Kind {
    pub const ALL: [Kind; 18] = [
        Kind::From,
        Kind::Run,
        Kind::Cmd,
        Kind::Label,
        Kind::Maintainer,
        Kind::Expose,
        Kind::Env,
        Kind::Add,
        Kind::Copy,
        Kind::Entrypoint,
        Kind::Volume,
        Kind::User,
        Kind::Workdir,
        Kind::Arg,
        Kind::Onbuild,
        Kind::Stopsignal,
        Kind::Healthcheck,
        Kind::Shell,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::From => "FROM",
            Kind::Run => "RUN",
            Kind::Cmd => "CMD",
            Kind::Label => "LABEL",
            Kind::Maintainer => "MAINTAINER",
            Kind::Expose => "EXPOSE",
            Kind::Env => "ENV",
            Kind::Add => "ADD",
            Kind::Copy => "COPY",
            Kind::Entrypoint => "ENTRYPOINT",
            Kind::Volume => "VOLUME",
            Kind::User => "USER",
            Kind::Workdir => "WORKDIR",
            Kind::Arg => "ARG",
            Kind::Onbuild => "ONBUILD",
            Kind::Stopsignal => "STOPSIGNAL",
            Kind::Healthcheck => "HEALTHCHECK",
            Kind::Shell => "SHELL",
        }
    }

    /// Case-insensitive keyword lookup.
    pub fn from_keyword(word: &str) -> Option<Kind> {
        Kind::ALL
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(word))
    }

    /// Whether the instruction may carry heredocs.
    pub fn takes_heredocs(self) -> bool {
        matches!(self, Kind::Run | Kind::Copy | Kind::Add)
    }
}

/// Shell form (`RUN echo hi`, run through the SHELL) or exec form (`RUN ["echo","hi"]`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ShellOrExec {
    Shell(String),
    Exec(Vec<String>),
}

impl ShellOrExec {
    pub fn is_exec(&self) -> bool {
        matches!(self, ShellOrExec::Exec(_))
    }
}

/// A `key=value` pair as written (quotes and escapes still in place until expansion).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct KeyValue {
    pub key: String,
    pub value: String,
}

/// ENV or LABEL pairs; `legacy` for the old `ENV key value` form.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct KeyValues {
    pub pairs: Vec<KeyValue>,
    pub legacy: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ArgDecl {
    pub name: String,
    pub default: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct From {
    pub image: String,
    pub platform: Option<String>,
    /// Stage name, lowercased.
    pub name: Option<String>,
    /// Stage name as written.
    pub name_as_written: Option<String>,
    /// The `AS` keyword as written (for casing checks).
    pub as_keyword: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NetworkMode {
    Default,
    None,
    Host,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SecurityMode {
    Sandbox,
    Insecure,
}

/// A `--mount` flag: the text as written and, when it could be interpreted without build
/// arguments, the typed mount. Expansion re-reads `raw` with the arguments applied.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MountFlag {
    pub raw: String,
    pub mount: Option<Mount>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Run {
    pub cmd: ShellOrExec,
    pub mounts: Vec<MountFlag>,
    pub network: Option<NetworkMode>,
    pub security: Option<SecurityMode>,
    pub heredocs: Vec<Heredoc>,
}

/// A COPY/ADD source: a path (or URL, for ADD) or an inline heredoc file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Path(String),
    Heredoc(Heredoc),
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Copy {
    pub from: Option<String>,
    pub chown: Option<String>,
    pub chmod: Option<String>,
    pub link: bool,
    pub parents: bool,
    pub exclude: Vec<String>,
    pub sources: Vec<Source>,
    pub dest: String,
    pub json: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Add {
    pub chown: Option<String>,
    pub chmod: Option<String>,
    pub link: bool,
    pub keep_git_dir: bool,
    pub checksum: Option<String>,
    pub exclude: Vec<String>,
    pub sources: Vec<Source>,
    pub dest: String,
    pub json: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HealthcheckCmd {
    pub cmd: ShellOrExec,
    pub interval: Option<Duration>,
    pub timeout: Option<Duration>,
    pub start_period: Option<Duration>,
    pub start_interval: Option<Duration>,
    pub retries: Option<u32>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Healthcheck {
    None,
    Cmd(HealthcheckCmd),
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Onbuild {
    /// The trigger line after `ONBUILD` (`RUN make`).
    pub text: String,
    /// The trigger keyword as written.
    pub keyword: String,
    pub trigger: Box<Command>,
}

impl Onbuild {
    /// The trigger as stored in the image's `OnBuild` list: the line, then each heredoc
    /// body followed by its delimiter, so the child build can parse it again.
    pub fn expression(&self) -> String {
        let mut out = self.text.clone();
        let docs: Vec<&Heredoc> = match self.trigger.as_ref() {
            Command::Run(r) => r.heredocs.iter().collect(),
            Command::Copy(Copy { sources, .. }) | Command::Add(Add { sources, .. }) => sources
                .iter()
                .filter_map(|s| match s {
                    Source::Heredoc(h) => Some(h),
                    Source::Path(_) => None,
                })
                .collect(),
            _ => Vec::new(),
        };
        for h in docs {
            out.push('\n');
            out.push_str(&h.raw);
            out.push_str(&h.name);
        }
        out
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "args", rename_all = "UPPERCASE")]
pub enum Command {
    From(From),
    Run(Run),
    Cmd(ShellOrExec),
    Label(KeyValues),
    Maintainer(String),
    Expose(Vec<String>),
    Env(KeyValues),
    Add(Add),
    Copy(Copy),
    Entrypoint(ShellOrExec),
    Volume { paths: Vec<String>, json: bool },
    User(String),
    Workdir(String),
    Arg(Vec<ArgDecl>),
    Onbuild(Onbuild),
    Stopsignal(String),
    Healthcheck(Healthcheck),
    Shell(Vec<String>),
}

impl Command {
    pub fn kind(&self) -> Kind {
        match self {
            Command::From(_) => Kind::From,
            Command::Run(_) => Kind::Run,
            Command::Cmd(_) => Kind::Cmd,
            Command::Label(_) => Kind::Label,
            Command::Maintainer(_) => Kind::Maintainer,
            Command::Expose(_) => Kind::Expose,
            Command::Env(_) => Kind::Env,
            Command::Add(_) => Kind::Add,
            Command::Copy(_) => Kind::Copy,
            Command::Entrypoint(_) => Kind::Entrypoint,
            Command::Volume { .. } => Kind::Volume,
            Command::User(_) => Kind::User,
            Command::Workdir(_) => Kind::Workdir,
            Command::Arg(_) => Kind::Arg,
            Command::Onbuild(_) => Kind::Onbuild,
            Command::Stopsignal(_) => Kind::Stopsignal,
            Command::Healthcheck(_) => Kind::Healthcheck,
            Command::Shell(_) => Kind::Shell,
        }
    }
}

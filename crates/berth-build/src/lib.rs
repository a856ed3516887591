//! berth-build owns `berth build`: it reads a Dockerfile through berth-dockerfile (parse,
//! expansion, stage graph), resolves base images in the store, and runs each needed
//! stage step by step: `RUN` in an isolated process on an overlay of the stage's layers
//! (the upper directory becomes the layer), `COPY`/`ADD` written into such an overlay
//! without running anything, config instructions applied to the image config. Every
//! step has a content-based cache key (parent key, the expanded instruction, the build
//! args it uses, the content hashes of its inputs); a hit reuses the recorded state, a
//! miss says why. Independent stages build in parallel. The result is committed to the
//! store and/or exported (`--output`).

mod context;
mod engine;
pub mod fsops;
mod transfer;

pub use engine::explain_text;
pub use transfer::{cache_dir, export_cache, import_cache};

use berth_image::reference::Reference;
use std::collections::BTreeMap;
use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Already rendered with the Dockerfile's file:line and the line shown.
    #[error("{0}")]
    Located(String),
    /// A problem with the context or options (the caller adds where).
    #[error("{0}")]
    Input(String),
    #[error(transparent)]
    Store(#[from] berth_store::Error),
    #[error(transparent)]
    Runtime(#[from] berth_runtime::Error),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

pub(crate) fn io_err(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let what = what.into();
    move |source| Error::Io { what, source }
}

/// Where the build's result goes besides the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// The final root filesystem as files in a directory.
    Local(PathBuf),
    /// The final root filesystem as a tar file (`-` for stdout).
    Tar(PathBuf),
    /// The image as an OCI archive.
    Oci(PathBuf),
    /// The image as a docker archive.
    Docker(PathBuf),
}

impl Output {
    /// Parses `type=local,dest=DIR` (or a bare `DIR`, which means local).
    pub fn parse(s: &str) -> Result<Output> {
        if !s.contains('=') {
            return Ok(Output::Local(PathBuf::from(s)));
        }
        let mut kind = None;
        let mut dest = None;
        for part in s.split(',') {
            match part.split_once('=') {
                Some(("type", v)) => kind = Some(v.to_string()),
                Some(("dest", v)) => dest = Some(PathBuf::from(v)),
                _ => return Err(Error::Input(format!("--output {s:?}: unknown field {part:?} (want type=local|tar|oci|docker,dest=PATH)"))),
            }
        }
        let dest = dest.ok_or_else(|| Error::Input(format!("--output {s:?}: dest= is missing")))?;
        match kind.as_deref().unwrap_or("local") {
            "local" => Ok(Output::Local(dest)),
            "tar" => Ok(Output::Tar(dest)),
            "oci" => Ok(Output::Oci(dest)),
            "docker" => Ok(Output::Docker(dest)),
            other => Err(Error::Input(format!(
                "--output type={other} is not known: use local, tar, oci or docker"
            ))),
        }
    }
}

/// Everything `berth build` was asked for.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The context directory.
    pub context: PathBuf,
    /// The Dockerfile's path (for reading, messages and the ignore file next to it).
    pub dockerfile: PathBuf,
    /// The Dockerfile's text when it came from stdin.
    pub dockerfile_text: Option<String>,
    pub tags: Vec<Reference>,
    pub build_args: BTreeMap<String, String>,
    pub target: Option<String>,
    pub no_cache: bool,
    pub labels: BTreeMap<String, String>,
    pub outputs: Vec<Output>,
    /// `--secret id=ID,src=FILE`.
    pub secrets: BTreeMap<String, PathBuf>,
    /// default | host | none
    pub network: String,
    pub platform: Option<String>,
    pub squash: bool,
    /// `SOURCE_DATE_EPOCH`: timestamps in the image and its layers.
    pub source_date_epoch: Option<i64>,
    /// OCI runtime for RUN steps ("" for berth's own).
    pub runtime: String,
    /// Print why each step missed the cache (always on with plain progress).
    pub explain: bool,
    /// Mount the host's CA bundle into RUN steps and point the usual variables at it.
    pub host_certs: bool,
    /// Do not pull missing base images.
    pub no_pull: bool,
}

/// Receives the build's progress lines.
pub trait Log: Sync {
    /// A step header, a cache verdict, a summary.
    fn line(&self, s: &str);
    /// One line of a RUN step's output (`step` is its number).
    fn output(&self, step: usize, s: &str) {
        self.line(&format!("#{step} {s}"));
    }
}

/// What a build produced.
#[derive(Debug)]
pub struct Built {
    pub image: berth_store::ImageRecord,
    pub steps: usize,
    pub cached: usize,
}

pub use engine::build;

//! berth-runtime owns containers: it turns an image and run options into an OCI runtime
//! bundle (`config.json` over an overlay rootfs), runs it under a per-container monitor
//! (the process that holds the container's stdio, writes its logs, records its exit code
//! and applies its restart policy), and implements the verbs on it: start, stop, kill,
//! exec, wait, rm, logs, commit, cp, and named volumes. Images and records come from
//! berth-store; the OCI runtime that does the namespace work is an executor (runc or any
//! OCI runtime binary).

pub mod attach;
pub mod cgroup_warm;
pub mod commit;
pub mod cp;
pub mod executor;
pub mod fsroot;
pub mod logs;
pub mod model;
mod monitor;
pub mod network;
pub mod oci;
mod ops;
pub mod options;
pub mod reset;
pub mod rootfs;
pub mod seccomp;
pub mod spec;
pub mod stats;
pub mod task;
pub mod timing;
pub mod volumes;

pub use model::{
    Container, ContainerConfig, ContainerState, Mount, NetworkAttachment, RestartPolicy, Status,
};
pub use monitor::Attach;

use berth_store::containers::ContainerRow;
use berth_store::Store;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Store(#[from] berth_store::Error),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    NotFound(String),
    /// The command cannot be run (126) or was not found (127).
    #[error("{message}")]
    Command { code: i32, message: String },
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Executor(#[from] executor::ExecutorError),
}

pub(crate) fn io_err(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let what = what.into();
    move |source| Error::Io { what, source }
}

/// What `create` needs beyond the image.
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    pub name: Option<String>,
    pub image: String,
    /// Arguments after the image name (replace the image's CMD).
    pub cmd: Vec<String>,
    /// `--entrypoint` (an empty string resets the image's entrypoint).
    pub entrypoint: Option<String>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    pub stop_signal: Option<String>,
    pub stop_timeout: Option<u64>,
    /// `--no-healthcheck`
    pub no_healthcheck: bool,
    /// `-P`: publish every port the image EXPOSEs on a random host port.
    pub publish_all: bool,
    /// The rest, as the user gave it (env: -e, then --env-file, in order).
    pub config: ContainerConfig,
}

pub struct Runtime {
    pub store: Store,
    /// The berth binary, re-executed as the monitor of detached containers.
    pub self_exe: PathBuf,
}

impl Runtime {
    pub fn new(store: Store) -> Runtime {
        let self_exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("berth"));
        Runtime { store, self_exe }
    }

    pub fn dir(&self, id: &str) -> PathBuf {
        self.store.containers_dir().join(id)
    }

    pub fn executor(&self, c: &Container) -> executor::Executor {
        executor::Executor::new(&c.config.runtime, self.store.root(), &self.self_exe)
    }

    /// The image a container was created from.
    pub(crate) fn image_of(&self, c: &Container) -> Result<berth_store::ImageRecord> {
        let id = c
            .config
            .image
            .parse()
            .map_err(|e| Error::Invalid(format!("container {}: {e}", c.name)))?;
        Ok(self.store.image(&id)?)
    }

    /// Mounts the container's overlay rootfs (its image's snapshots under its upper
    /// directory), unpacking layers first if needed; returns the mount point.
    pub(crate) fn mount_rootfs(&self, c: &Container) -> Result<PathBuf> {
        let dir = self.dir(&c.id);
        let target = dir.join("rootfs");
        let lowers = self.store.ensure_snapshots(&self.image_of(c)?)?;
        rootfs::mount_overlay(
            &lowers,
            &dir.join("upper"),
            &dir.join("work"),
            &target,
            &dir.join("empty"),
            c.config.auto_remove,
        )
        .map_err(io_err(format!("mount the rootfs of {}", c.name)))?;
        Ok(target)
    }

    /// The executor for a `--runtime` value.
    pub fn executor_for(&self, runtime: &str) -> executor::Executor {
        executor::Executor::new(runtime, self.store.root(), &self.self_exe)
    }

    /// Loads a container by id, name or unique id prefix.
    pub fn get(&self, what: &str) -> Result<Container> {
        let row = self.store.find_container(what)?;
        parse(&row)
    }

    pub fn list(&self) -> Result<Vec<Container>> {
        self.store.containers()?.iter().map(parse).collect()
    }

    /// Changes a container's document in one transaction and returns the new one.
    pub(crate) fn update(&self, id: &str, f: impl Fn(&mut Container)) -> Result<Container> {
        let out = self.store.modify_container_state(id, &mut |cur| {
            let mut c: Container = serde_json::from_str(cur)
                .map_err(|e| berth_store::Error::invalid(format!("container {id}: {e}")))?;
            f(&mut c);
            Ok(serde_json::to_string(&c).expect("serialises"))
        })?;
        serde_json::from_str(&out).map_err(|e| Error::Invalid(format!("container {id}: {e}")))
    }

    /// `berth create`: resolves the image, unpacks its layers, prepares the container's
    /// directory and records it. Nothing runs yet.
    pub fn create(&self, opts: CreateOptions) -> Result<Container> {
        crate::timing::mark("create");
        let image = self.store.resolve(&opts.image)?;
        let img_cfg = self.store.config(&image)?;
        let ic = &img_cfg.config;
        let mut cfg = opts.config.clone();
        cfg.image = image.id.to_string();
        cfg.image_name = opts.image.clone();

        // Docker's rule: --entrypoint drops the image's CMD unless a command is given.
        let entrypoint: Vec<String> = match &opts.entrypoint {
            Some(e) if e.is_empty() => vec![],
            Some(e) => vec![e.clone()],
            None => ic.entrypoint.clone().unwrap_or_default(),
        };
        let cmd = if !opts.cmd.is_empty() {
            opts.cmd.clone()
        } else if opts.entrypoint.is_some() {
            vec![]
        } else {
            ic.cmd.clone().unwrap_or_default()
        };
        cfg.args = entrypoint.into_iter().chain(cmd).collect();
        if cfg.args.is_empty() {
            return Err(Error::Invalid("no command specified: the image has no CMD or ENTRYPOINT; give one after the image name".into()));
        }
        let mut env: Vec<String> = ic.env.clone().unwrap_or_default();
        for e in &opts.config.env {
            let key = e.split_once('=').map(|(k, _)| k).unwrap_or(e);
            env.retain(|x| x.split_once('=').map(|(k, _)| k).unwrap_or(x) != key);
            if e.contains('=') {
                env.push(e.clone());
            } else if let Ok(v) = std::env::var(key) {
                env.push(format!("{key}={v}"));
            }
        }
        cfg.env = env;
        cfg.cwd = opts
            .workdir
            .clone()
            .filter(|w| !w.is_empty())
            .unwrap_or_else(|| ic.working_dir.clone());
        if !cfg.cwd.is_empty() && !cfg.cwd.starts_with('/') {
            return Err(Error::Invalid(format!(
                "the working directory {:?} is not an absolute path",
                cfg.cwd
            )));
        }
        cfg.user = opts.user.clone().unwrap_or_else(|| ic.user.clone());
        let mut labels: BTreeMap<String, String> = ic.labels.clone().unwrap_or_default();
        labels.extend(opts.config.labels.clone());
        cfg.labels = labels;
        cfg.stop_signal = opts
            .stop_signal
            .clone()
            .or_else(|| ic.stop_signal.clone())
            .unwrap_or_else(|| "SIGTERM".into());
        cfg.stop_timeout = opts.stop_timeout.unwrap_or(10);
        if opts.no_healthcheck {
            cfg.healthcheck = None;
        } else if cfg.healthcheck.is_none() {
            cfg.healthcheck = ic.healthcheck.as_ref().and_then(model_health_from_image);
        }
        if cfg.restart.name.is_empty() {
            cfg.restart.name = "no".into();
        }
        if cfg.restart.name != "no" && cfg.auto_remove {
            return Err(Error::Invalid(
                "--restart and --rm cannot be used together".into(),
            ));
        }
        if cfg.network.is_empty() || cfg.network == berth_net::DEFAULT_BRIDGE {
            cfg.network = berth_net::DEFAULT_NETWORK.into();
        }
        if cfg.network.starts_with("container:") {
            return Err(Error::Invalid(format!(
                "--network {}: sharing another container's network namespace is not supported; put both containers on one user network (berth network create) instead",
                cfg.network
            )));
        }
        if network::is_bridge_mode(&cfg.network) {
            // The named network must exist (the default one is made on first use).
            let n = self.net().get(&cfg.network)?;
            cfg.network = n.name.clone();
            if cfg.networks.is_empty() {
                cfg.networks.push(NetworkAttachment {
                    network: n.name,
                    ..Default::default()
                });
            }
            if opts.publish_all {
                for k in ic.exposed_ports.clone().unwrap_or_default().keys() {
                    let p = berth_net::ports::parse_exposed(k).ok_or_else(|| {
                        Error::Invalid(format!("the image exposes an unusable port {k:?}"))
                    })?;
                    if !cfg
                        .publish
                        .iter()
                        .any(|q| q.container_port == p.container_port && q.proto == p.proto)
                    {
                        cfg.publish.push(p);
                    }
                }
            }
        } else {
            if !cfg.publish.is_empty() || opts.publish_all {
                return Err(Error::Invalid(format!(
                    "ports cannot be published with --network {}: use a bridge network (the default)",
                    cfg.network
                )));
            }
            if !cfg.networks.is_empty() {
                return Err(Error::Invalid(format!(
                    "--network-alias and --ip need a bridge network, not --network {}",
                    cfg.network
                )));
            }
        }
        if cfg.log_max_size == 0 {
            cfg.log_max_size = logs::DEFAULT_MAX_SIZE;
        }
        if cfg.log_max_files == 0 {
            cfg.log_max_files = logs::DEFAULT_MAX_FILES;
        }
        spec::capabilities(cfg.privileged, &cfg.cap_add, &cfg.cap_drop).map_err(Error::Invalid)?;
        // Image VOLUMEs not covered by a mount become anonymous volumes, as in Docker.
        for v in ic.volumes.clone().unwrap_or_default().keys() {
            if !cfg
                .mounts
                .iter()
                .any(|m| m.target.trim_end_matches('/') == v.trim_end_matches('/'))
            {
                cfg.mounts.push(Mount {
                    kind: "volume".into(),
                    source: String::new(),
                    target: v.clone(),
                    read_only: false,
                    options: vec![],
                });
            }
        }

        let id = random_id();
        if cfg.hostname.is_empty() {
            cfg.hostname = id[..12].to_string();
        }
        let name = match &opts.name {
            Some(n) => {
                validate_name("container", n)?;
                n.clone()
            }
            None => generate_name(),
        };
        let mut volume_names = Vec::new();
        for m in cfg.mounts.iter_mut() {
            if !m.target.starts_with('/') {
                return Err(Error::Invalid(format!(
                    "mount destination {:?} is not an absolute path",
                    m.target
                )));
            }
            match m.kind.as_str() {
                "volume" => {
                    let anonymous = m.source.is_empty();
                    if anonymous {
                        m.source = random_id();
                    }
                    validate_name("volume", &m.source)?;
                    self.volume_create(&m.source, anonymous, &BTreeMap::new())?;
                    volume_names.push(m.source.clone());
                }
                "bind" => {
                    let p = Path::new(&m.source);
                    if !p.is_absolute() {
                        return Err(Error::Invalid(format!(
                            "bind source {:?} is not an absolute path",
                            m.source
                        )));
                    }
                    if !p.exists() {
                        // `-v /host:/ctr` creates a missing host directory, as Docker does.
                        std::fs::create_dir_all(p)
                            .map_err(io_err(format!("create bind source {}", p.display())))?;
                    }
                }
                "tmpfs" => {}
                other => {
                    return Err(Error::Invalid(format!(
                        "unknown mount type {other:?}: use bind, volume or tmpfs"
                    )))
                }
            }
        }
        if let Some(profile) = &cfg.seccomp {
            if profile != "unconfined" {
                seccomp::from_profile(profile).map_err(Error::Invalid)?;
            }
        }

        // Unpack the image's layers (once per store) before anything names the container.
        self.store.ensure_snapshots(&image)?;
        self.store.mark_used(&image.id)?;
        let dir = self.dir(&id);
        for d in ["upper", "work", "rootfs"] {
            std::fs::create_dir_all(dir.join(d))
                .map_err(io_err(format!("create {}", dir.join(d).display())))?;
        }
        std::fs::write(dir.join("hostname"), format!("{}\n", cfg.hostname))
            .map_err(io_err("write hostname"))?;

        let c = Container {
            id: id.clone(),
            name: name.clone(),
            created: jiff::Timestamp::now().to_string(),
            config: cfg,
            state: ContainerState::default(),
        };
        let row = ContainerRow {
            id: id.clone(),
            name,
            image: image.id.to_string(),
            created: jiff::Timestamp::now().as_second(),
            state: serde_json::to_string(&c).expect("serialises"),
        };
        self.write_net_files(&c, None)?;
        if let Err(e) = self.store.insert_container(&row, &volume_names) {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(e.into());
        }
        Ok(c)
    }
}

fn model_health_from_image(v: &serde_json::Value) -> Option<model::Healthcheck> {
    let test: Vec<String> = serde_json::from_value(v.get("Test")?.clone()).ok()?;
    if test.first().map(String::as_str) == Some("NONE") || test.is_empty() {
        return None;
    }
    let ns = |k: &str, d: u64| {
        v.get(k)
            .and_then(|x| x.as_u64())
            .map(|n| n / 1_000_000)
            .filter(|n| *n > 0)
            .unwrap_or(d)
    };
    Some(model::Healthcheck {
        test,
        interval_ms: ns("Interval", 30_000),
        timeout_ms: ns("Timeout", 30_000),
        start_period_ms: ns("StartPeriod", 0),
        retries: v
            .get("Retries")
            .and_then(|x| x.as_u64())
            .filter(|n| *n > 0)
            .unwrap_or(3) as u32,
    })
}

pub(crate) fn parse(row: &ContainerRow) -> Result<Container> {
    serde_json::from_str(&row.state).map_err(|e| {
        Error::Invalid(format!(
            "container {} has an unreadable record: {e}",
            row.id
        ))
    })
}

fn random_id() -> String {
    format!(
        "{:016x}{:016x}{:016x}{:016x}",
        rand::random::<u64>(),
        rand::random::<u64>(),
        rand::random::<u64>(),
        rand::random::<u64>()
    )
}

/// Docker's rule for container and volume names: `[a-zA-Z0-9][a-zA-Z0-9_.-]*`.
pub(crate) fn validate_name(kind: &str, n: &str) -> Result<()> {
    let ok = !n.is_empty()
        && n.len() <= 255
        && n.as_bytes()[0].is_ascii_alphanumeric()
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "invalid {kind} name {n:?}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        )))
    }
}

fn generate_name() -> String {
    const LEFT: &[&str] = &[
        "brave", "calm", "eager", "fond", "keen", "lucid", "merry", "nimble", "quiet", "sharp",
        "steady", "witty",
    ];
    const RIGHT: &[&str] = &[
        "anchor", "buoy", "cove", "dock", "harbor", "jetty", "keel", "mast", "pier", "quay",
        "rudder", "wharf",
    ];
    format!(
        "{}_{}_{:04x}",
        LEFT[rand::random_range(0..LEFT.len())],
        RIGHT[rand::random_range(0..RIGHT.len())],
        rand::random::<u16>()
    )
}

pub use ops::ExecOptions;

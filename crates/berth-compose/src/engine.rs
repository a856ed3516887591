//! Running a project: containers through berth-runtime, named and labelled as Docker
//! Compose names and labels them (`<project>-<service>-<n>`, `com.docker.compose.*`), so
//! two projects with the same service names live side by side and `up` on a running
//! project recreates only the services whose configuration hash changed.
//!
//! Each project gets its own bridge network(s) (`<project>_default`, and those it
//! declares); services join them under their service name and aliases, so they find
//! each other by name, and publish their `ports:`.

use crate::model::{Project, Service};
use crate::{config_hash, graph};
use berth_runtime::model::Healthcheck as RtHealth;
use berth_runtime::{
    Container, ContainerConfig, CreateOptions, Mount, RestartPolicy, Runtime, Status,
};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

pub const PROJECT: &str = "com.docker.compose.project";
pub const SERVICE: &str = "com.docker.compose.service";
pub const NUMBER: &str = "com.docker.compose.container-number";
pub const HASH: &str = "com.docker.compose.config-hash";
pub const ONEOFF: &str = "com.docker.compose.oneoff";
pub const WORKING_DIR: &str = "com.docker.compose.project.working_dir";
pub const CONFIG_FILES: &str = "com.docker.compose.project.config_files";
pub const VOLUME: &str = "com.docker.compose.volume";

pub type Result<T> = std::result::Result<T, EngineError>;

/// A service's networking: mode (`host`, `none` or its first network), the networks it
/// joins with its aliases there, the ports it publishes.
#[derive(Debug, Clone)]
pub struct ServiceNet {
    pub mode: String,
    pub attachments: Vec<berth_runtime::NetworkAttachment>,
    pub publish: Vec<berth_net::ports::Port>,
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Runtime(#[from] berth_runtime::Error),
    #[error(transparent)]
    Store(#[from] berth_store::Error),
    #[error("{0}")]
    Failed(String),
}

fn failed(s: impl Into<String>) -> EngineError {
    EngineError::Failed(s.into())
}

/// `up` options.
#[derive(Debug, Clone, Default)]
pub struct UpOptions {
    pub services: Vec<String>,
    /// `--scale SVC=N`
    pub scale: BTreeMap<String, u32>,
    pub remove_orphans: bool,
    /// `--build`: build images of services with a build section first.
    pub build: bool,
    /// `--force-recreate`
    pub force_recreate: bool,
    /// `--no-deps`
    pub no_deps: bool,
}

/// `run` options: the one-off container's overrides.
#[derive(Debug, Clone, Default)]
pub struct OneOff {
    /// Replaces the service's command when not empty.
    pub cmd: Vec<String>,
    pub env: Vec<String>,
    pub user: Option<String>,
    pub workdir: Option<String>,
    pub no_deps: bool,
    pub rm: bool,
    /// Replaces the service's entrypoint (empty: none).
    pub entrypoint: Option<Vec<String>>,
    /// The container's name instead of PROJECT-SERVICE-run-ID.
    pub name: Option<String>,
    /// Extra mounts (`-v`); a volume named as one of the project's keys is that volume.
    pub mounts: Vec<berth_runtime::Mount>,
    /// Ports to publish (`-p`).
    pub publish: Vec<berth_net::ports::Port>,
    /// Publish the service's own ports as well.
    pub service_ports: bool,
    pub labels: Vec<(String, String)>,
    /// Build the service's image first.
    pub build: bool,
    /// No terminal, whatever the service's `tty:` says (`-T`).
    pub no_tty: bool,
}

pub struct Engine<'a> {
    pub rt: &'a Runtime,
    pub project: &'a Project,
    /// Progress lines (`Container x  Started`, waiting messages); the CLI prints them.
    pub progress: &'a dyn Fn(&str),
}

/// What a container of the project is: (service, number).
pub fn service_of(c: &Container) -> Option<(String, u32)> {
    let s = c.config.labels.get(SERVICE)?.clone();
    let n = c
        .config
        .labels
        .get(NUMBER)
        .and_then(|n| n.parse().ok())
        .unwrap_or(1);
    Some((s, n))
}

fn running(c: &Container) -> bool {
    matches!(c.state.status, Status::Running | Status::Restarting)
}

impl Engine<'_> {
    fn say(&self, s: &str) {
        (self.progress)(s)
    }

    /// All containers of this project (one-off `run` containers too when `oneoff`).
    pub fn containers(&self, oneoff: bool) -> Result<Vec<Container>> {
        let mut v: Vec<Container> = self
            .rt
            .list_refreshed()?
            .into_iter()
            .filter(|c| c.config.labels.get(PROJECT) == Some(&self.project.name))
            .filter(|c| oneoff || c.config.labels.get(ONEOFF).map(String::as_str) != Some("True"))
            .collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(v)
    }

    fn service_containers(&self, svc: &str) -> Result<Vec<Container>> {
        let mut v: Vec<Container> = self
            .containers(false)?
            .into_iter()
            .filter(|c| c.config.labels.get(SERVICE).map(String::as_str) == Some(svc))
            .collect();
        v.sort_by_key(|c| service_of(c).map(|x| x.1).unwrap_or(0));
        Ok(v)
    }

    fn service(&self, name: &str) -> Result<&Service> {
        self.project
            .services
            .get(name)
            .ok_or_else(|| failed(format!("no such service: {name}")))
    }

    pub fn container_name(&self, svc: &str, n: u32) -> String {
        match self
            .project
            .services
            .get(svc)
            .and_then(|s| s.container_name.clone())
        {
            Some(c) => c,
            None => format!("{}-{svc}-{n}", self.project.name),
        }
    }

    /// The name a project volume has in the store.
    pub fn volume_name(&self, key: &str) -> String {
        self.project
            .volumes
            .get(key)
            .and_then(|v| v.name.clone())
            .unwrap_or_else(|| format!("{}_{key}", self.project.name))
    }

    // ---- networks ----

    /// The store name of a project network (`<project>_<key>` unless `name:` is given).
    pub fn network_name(&self, key: &str) -> String {
        self.project
            .networks
            .get(key)
            .and_then(|n| n.name.clone())
            .unwrap_or_else(|| format!("{}_{key}", self.project.name))
    }

    /// The network keys services use (`default` for those that name none).
    fn used_networks(&self) -> Vec<String> {
        let mut keys: Vec<String> = self.project.networks.keys().cloned().collect();
        let needs_default = self
            .project
            .services
            .values()
            .any(|s| s.network_mode.is_none() && s.networks.is_empty());
        if needs_default && !keys.iter().any(|k| k == "default") {
            keys.push("default".into());
        }
        keys
    }

    /// Creates the project's networks (a bridge each; `external` ones must exist).
    pub fn ensure_network(&self) -> Result<()> {
        let net = self.rt.net();
        for key in self.used_networks() {
            let name = self.network_name(&key);
            let spec = self.project.networks.get(&key);
            if spec.is_some_and(|n| n.external) {
                net.get(&name).map_err(|e| {
                    failed(format!("networks.{key}: external network {name}: {e} (create it with berth network create {name})"))
                })?;
                continue;
            }
            if self.rt.store.find_network(&name).is_ok() {
                continue;
            }
            if let Some(d) = spec.and_then(|n| n.driver.as_deref()) {
                if d != "bridge" {
                    return Err(failed(format!(
                        "networks.{key}.driver {d:?}: berth has bridge networks only"
                    )));
                }
            }
            let mut labels = spec.map(|n| n.labels.clone()).unwrap_or_default();
            labels.insert(PROJECT.into(), self.project.name.clone());
            labels.insert("com.docker.compose.network".into(), key.clone());
            match net.create(&berth_net::CreateNetwork {
                name: name.clone(),
                internal: spec.is_some_and(|n| n.internal),
                labels,
                ..Default::default()
            }) {
                Ok(_) => self.say(&format!("Network {name}  Created")),
                // Another berth process made it meanwhile.
                Err(_) if self.rt.store.find_network(&name).is_ok() => {}
                Err(e) => return Err(failed(format!("create network {name}: {e}"))),
            }
        }
        Ok(())
    }

    /// Removes the project's own networks (not external ones).
    pub fn remove_network(&self) -> Result<()> {
        let net = self.rt.net();
        for key in self.used_networks() {
            if self.project.networks.get(&key).is_some_and(|n| n.external) {
                continue;
            }
            let name = self.network_name(&key);
            if self.rt.store.find_network(&name).is_ok() {
                net.remove(&name)
                    .map_err(|e| failed(format!("remove network {name}: {e}")))?;
                self.say(&format!("Network {name}  Removed"));
            }
        }
        Ok(())
    }

    /// How a service's containers are networked: the mode, the networks they join (the
    /// service name and its aliases resolve there), and the ports they publish.
    pub fn network_of(&self, name: &str, s: &Service) -> Result<ServiceNet> {
        let mut publish = Vec::new();
        for p in &s.ports {
            let mut spec = String::new();
            if let Some(ip) = &p.host_ip {
                spec.push_str(ip);
                spec.push(':');
            }
            match &p.published {
                Some(h) => spec.push_str(&format!("{h}:{}", p.target)),
                None if p.host_ip.is_some() => spec.push_str(&format!(":{}", p.target)),
                None => spec.push_str(&p.target.to_string()),
            }
            spec.push('/');
            spec.push_str(if p.protocol.is_empty() {
                "tcp"
            } else {
                &p.protocol
            });
            publish.push(
                berth_net::ports::parse(&spec)
                    .map_err(|e| failed(format!("services.{name}.ports: {e}")))?,
            );
        }
        if let Some(mode) = &s.network_mode {
            if !matches!(mode.as_str(), "host" | "none") {
                return Err(failed(format!(
                    "services.{name}.network_mode {mode:?}: use host or none, or networks: for bridge networks"
                )));
            }
            if !publish.is_empty() && mode == "none" {
                return Err(failed(format!(
                    "services.{name}: ports cannot be published with network_mode none"
                )));
            }
            return Ok(ServiceNet {
                mode: mode.clone(),
                attachments: vec![],
                publish: if mode == "host" { vec![] } else { publish },
            });
        }
        let keys: Vec<String> = if s.networks.is_empty() {
            vec!["default".into()]
        } else {
            s.networks.keys().cloned().collect()
        };
        let mut attachments = Vec::new();
        for key in &keys {
            if key != "default" && !self.project.networks.contains_key(key) {
                return Err(failed(format!(
                    "services.{name}.networks: {key} is not declared under the top-level networks:"
                )));
            }
            let mut aliases = vec![name.to_string()];
            if let Some(n) = s.networks.get(key) {
                aliases.extend(n.aliases.iter().cloned());
            }
            attachments.push(berth_runtime::NetworkAttachment {
                network: self.network_name(key),
                aliases,
                ip: None,
            });
        }
        Ok(ServiceNet {
            mode: attachments[0].network.clone(),
            attachments,
            publish,
        })
    }

    // ---- images ----

    /// Builds a service's image with berth's build engine.
    pub fn build_service(&self, name: &str, s: &Service) -> Result<()> {
        self.build_service_with(name, s, false, &BTreeMap::new())
    }

    /// `compose build --no-cache --build-arg K=V`: `args` go over the file's.
    pub fn build_service_with(
        &self,
        name: &str,
        s: &Service,
        no_cache: bool,
        args: &BTreeMap<String, String>,
    ) -> Result<()> {
        let b = s
            .build
            .as_ref()
            .ok_or_else(|| failed(format!("service {name} has no build section")))?;
        let image = s.image_name(&self.project.name, name);
        let context = self.project.working_dir.join(&b.context);
        let dockerfile = context.join(b.dockerfile.as_deref().unwrap_or("Dockerfile"));
        let tag = berth_image::reference::Reference::parse_tagged(&image)
            .map_err(|e| failed(format!("services.{name}: image name {image:?}: {e}")))?;
        let mut build_args = BTreeMap::new();
        for (k, v) in &b.args {
            // `args: [NAME]` takes the value from the environment, as Compose does.
            if let Some(v) = v.clone().or_else(|| std::env::var(k).ok()) {
                build_args.insert(k.clone(), v);
            }
        }
        build_args.extend(args.iter().map(|(k, v)| (k.clone(), v.clone())));
        let opts = berth_build::Options {
            context,
            dockerfile,
            tags: vec![tag],
            build_args,
            no_cache,
            target: b.target.clone(),
            labels: b.labels.clone(),
            network: "default".into(),
            host_certs: std::env::var("BERTH_HOST_CERTS").is_ok_and(|v| !v.is_empty() && v != "0"),
            ..Default::default()
        };
        // Build steps run in parallel threads: their lines go straight to stderr.
        struct Lines(String);
        impl berth_build::Log for Lines {
            fn line(&self, s: &str) {
                eprintln!("{} {s}", self.0);
            }
        }
        self.say(&format!("Service {name}  Building {image}"));
        let log = Lines(format!("{name}:"));
        let pull = |n: &str| -> std::result::Result<berth_store::ImageRecord, String> {
            Err(format!(
                "{n} is not in the store (berth compose pull, or berth pull {n}, first)"
            ))
        };
        berth_build::build(self.rt, &opts, &log, &pull)
            .map_err(|e| failed(format!("service {name}: build failed: {e}")))?;
        self.say(&format!("Service {name}  Built"));
        Ok(())
    }

    /// Makes sure a service's image is in the store.
    fn ensure_image(&self, name: &str, s: &Service, build: bool) -> Result<String> {
        let image = s.image_name(&self.project.name, name);
        let present = self.rt.store.resolve(&image).is_ok();
        if s.build.is_some() && (build || !present) {
            self.build_service(name, s)?;
            return Ok(image);
        }
        if !present {
            return Err(failed(format!(
                "service {name}: no such image {image} in the store: pull it first (berth compose pull) or load it"
            )));
        }
        Ok(image)
    }

    // ---- volumes, secrets ----

    fn ensure_volumes(&self) -> Result<()> {
        for (key, v) in &self.project.volumes {
            let name = self.volume_name(key);
            if v.external {
                self.rt.store.volume(&name).map_err(|_| {
                    failed(format!("external volume {name} does not exist: create it with berth volume create {name}"))
                })?;
                continue;
            }
            let mut labels = v.labels.clone();
            labels.insert(PROJECT.into(), self.project.name.clone());
            labels.insert(VOLUME.into(), key.clone());
            if self.rt.volume_create(&name, false, &labels)? {
                self.say(&format!("Volume {name}  Created"));
            }
        }
        Ok(())
    }

    /// A file for a secret or config given as content or environment variable.
    fn materialize(&self, kind: &str, key: &str, o: &crate::model::FileObject) -> Result<String> {
        if let Some(f) = &o.file {
            if !std::path::Path::new(f).exists() {
                return Err(failed(format!("{kind}s.{key}: file {f} does not exist")));
            }
            return Ok(f.clone());
        }
        if o.external {
            return Err(failed(format!(
                "{kind}s.{key} is external: berth has no secret store; use file:"
            )));
        }
        let content = match (&o.content, &o.environment) {
            (Some(c), _) => c.clone(),
            (None, Some(var)) => std::env::var(var).map_err(|_| {
                failed(format!(
                    "{kind}s.{key}: environment variable {var} is not set"
                ))
            })?,
            _ => String::new(),
        };
        let dir = self
            .rt
            .store
            .root()
            .join("compose")
            .join(&self.project.name)
            .join(kind);
        std::fs::create_dir_all(&dir)
            .map_err(|e| failed(format!("create {}: {e}", dir.display())))?;
        let p = dir.join(key);
        std::fs::write(&p, content).map_err(|e| failed(format!("write {}: {e}", p.display())))?;
        Ok(p.display().to_string())
    }

    // ---- containers ----

    /// The runtime's create options for replica `n` of a service.
    pub fn create_options(
        &self,
        name: &str,
        s: &Service,
        n: u32,
        image: &str,
        oneoff: bool,
    ) -> Result<CreateOptions> {
        let mut mounts = Vec::new();
        for v in &s.volumes {
            let (source, mut options) = match v.kind.as_str() {
                "volume" => match &v.source {
                    Some(k) => (self.volume_name(k), vec![]),
                    // Anonymous volumes carry the project's label so `down -v` finds
                    // them even after the container that made them is gone.
                    None => {
                        let vol = format!(
                            "{:016x}{:016x}{:016x}{:016x}",
                            rand::random::<u64>(),
                            rand::random::<u64>(),
                            rand::random::<u64>(),
                            rand::random::<u64>()
                        );
                        let labels = BTreeMap::from([
                            (PROJECT.to_string(), self.project.name.clone()),
                            (SERVICE.to_string(), name.to_string()),
                        ]);
                        self.rt.volume_create(&vol, false, &labels)?;
                        (vol, vec![])
                    }
                },
                "bind" => (v.source.clone().unwrap_or_default(), vec![]),
                _ => (String::new(), vec![]),
            };
            if let Some(size) = v.tmpfs_size {
                options.push(format!("size={size}"));
            }
            mounts.push(Mount {
                kind: v.kind.clone(),
                source,
                target: v.target.clone(),
                read_only: v.read_only,
                options,
            });
        }
        for t in &s.tmpfs {
            let (target, opts) = t.split_once(':').unwrap_or((t, ""));
            mounts.push(Mount {
                kind: "tmpfs".into(),
                source: String::new(),
                target: target.into(),
                read_only: false,
                options: opts
                    .split(',')
                    .filter(|o| !o.is_empty())
                    .map(String::from)
                    .collect(),
            });
        }
        for (kind, refs, defs) in [
            ("secret", &s.secrets, &self.project.secrets),
            ("config", &s.configs, &self.project.configs),
        ] {
            for r in refs {
                let def = defs
                    .get(&r.source)
                    .ok_or_else(|| failed(format!("{kind} {} is not defined", r.source)))?;
                let file = self.materialize(kind, &r.source, def)?;
                let target = match (&r.target, kind) {
                    (Some(t), _) if t.starts_with('/') => t.clone(),
                    (Some(t), "secret") => format!("/run/secrets/{t}"),
                    (Some(t), _) => format!("/{t}"),
                    (None, "secret") => format!("/run/secrets/{}", r.source),
                    (None, _) => format!("/{}", r.source),
                };
                mounts.push(Mount {
                    kind: "bind".into(),
                    source: file,
                    target,
                    read_only: true,
                    options: vec![],
                });
            }
        }
        let env: Vec<String> = s
            .environment
            .iter()
            .map(|(k, v)| match v {
                Some(v) => format!("{k}={v}"),
                None => k.clone(),
            })
            .collect();
        let mut labels = s.labels.clone();
        labels.insert(PROJECT.into(), self.project.name.clone());
        labels.insert(SERVICE.into(), name.into());
        labels.insert(NUMBER.into(), n.to_string());
        labels.insert(HASH.into(), config_hash(s));
        labels.insert(ONEOFF.into(), if oneoff { "True" } else { "False" }.into());
        labels.insert(
            WORKING_DIR.into(),
            self.project.working_dir.display().to_string(),
        );
        labels.insert(
            CONFIG_FILES.into(),
            self.project
                .files
                .iter()
                .map(|f| f.display().to_string())
                .collect::<Vec<_>>()
                .join(","),
        );
        let healthcheck = match &s.healthcheck {
            Some(h)
                if !h.disable
                    && h.test.first().map(String::as_str) != Some("NONE")
                    && !h.test.is_empty() =>
            {
                Some(RtHealth {
                    test: h.test.clone(),
                    interval_ms: h.interval.map(|d| d.0).unwrap_or(30_000),
                    timeout_ms: h.timeout.map(|d| d.0).unwrap_or(30_000),
                    start_period_ms: h.start_period.map(|d| d.0).unwrap_or(0),
                    retries: h.retries.unwrap_or(3),
                })
            }
            _ => None,
        };
        let no_healthcheck = s
            .healthcheck
            .as_ref()
            .map(|h| h.disable || h.test.first().map(String::as_str) == Some("NONE"))
            .unwrap_or(false);
        let limits = s
            .deploy
            .as_ref()
            .and_then(|d| d.resources.as_ref())
            .and_then(|r| r.limits.clone())
            .unwrap_or_default();
        let sn = self.network_of(name, s)?;
        let restart = if oneoff {
            RestartPolicy {
                name: "no".into(),
                max_retries: 0,
            }
        } else {
            RestartPolicy::parse(s.restart.as_deref().unwrap_or("no")).map_err(failed)?
        };
        let (entrypoint, cmd) = match (&s.entrypoint, &s.command) {
            (Some(e), c) => match e.split_first() {
                Some((first, rest)) => (
                    Some(first.clone()),
                    rest.iter()
                        .cloned()
                        .chain(c.clone().unwrap_or_default())
                        .collect(),
                ),
                None => (Some(String::new()), c.clone().unwrap_or_default()),
            },
            (None, c) => (None, c.clone().unwrap_or_default()),
        };
        let (no_new_privileges, seccomp) =
            berth_runtime::options::security_opts(&s.security_opt)
                .map_err(|e| failed(format!("service {name}: security_opt: {e}")))?;
        let add_hosts = s
            .extra_hosts
            .iter()
            .map(|h| berth_runtime::options::add_host(h))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| failed(format!("service {name}: extra_hosts: {e}")))?;
        let log = s.logging.as_ref().map(|l| &l.options);
        let log_max_size = log
            .and_then(|o| o.get("max-size"))
            .and_then(|v| crate::convert::parse_bytes(v).ok())
            .unwrap_or(0);
        let log_max_files = log
            .and_then(|o| o.get("max-file"))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let config = ContainerConfig {
            env,
            hostname: s.hostname.clone().unwrap_or_default(),
            no_new_privileges,
            seccomp,
            ulimits: s
                .ulimits
                .iter()
                .map(|(k, u)| (k.clone(), u.soft, u.hard))
                .collect(),
            add_hosts,
            dns: s.dns.clone(),
            dns_search: s.dns_search.clone(),
            dns_options: s.dns_opt.clone(),
            shm_size: s.shm_size,
            sysctls: s.sysctls.clone(),
            log_max_size,
            log_max_files,
            tty: s.tty,
            open_stdin: s.stdin_open,
            read_only: s.read_only,
            privileged: s.privileged,
            cap_add: s.cap_add.clone(),
            cap_drop: s.cap_drop.clone(),
            init: s.init.unwrap_or(false),
            mounts,
            labels,
            memory: limits.memory.or(s.mem_limit).map(|m| m as i64),
            cpus: limits.cpus.or(s.cpus),
            pids_limit: limits.pids.or(s.pids_limit),
            restart,
            healthcheck,
            network: sn.mode,
            networks: sn.attachments,
            // `run` does not publish the service's ports (as `docker compose run`).
            publish: if oneoff { vec![] } else { sn.publish },
            ..Default::default()
        };
        Ok(CreateOptions {
            name: Some(if oneoff {
                format!(
                    "{}-{name}-run-{:012x}",
                    self.project.name,
                    rand::random::<u64>() & 0xffff_ffff_ffff
                )
            } else {
                self.container_name(name, n)
            }),
            image: image.to_string(),
            cmd,
            entrypoint,
            workdir: s.working_dir.clone(),
            user: s.user.clone(),
            stop_signal: s.stop_signal.clone(),
            stop_timeout: s.stop_grace_period.map(|d| d.0.div_ceil(1000)),
            no_healthcheck,
            publish_all: false,
            config,
        })
    }

    /// Starts a container; returns once it runs (the monitor reports it started only
    /// when the OCI runtime says so) or failed to start.
    fn start_container(&self, id: &str) -> Result<Container> {
        Ok(self.rt.start_detached(id)?)
    }

    /// Waits until every dependency of `name` meets its condition.
    pub fn wait_dependencies(&self, name: &str) -> Result<()> {
        let s = self.service(name)?;
        for (dep, d) in &s.depends_on {
            if !self.project.services.contains_key(dep) {
                continue; // optional (required: false) and disabled
            }
            self.wait_condition(name, dep, &d.condition, None)?;
        }
        Ok(())
    }

    /// Waits until `dep` meets `condition`; with `deadline`, fails once it has passed.
    fn wait_condition(
        &self,
        who: &str,
        dep: &str,
        condition: &str,
        deadline: Option<Instant>,
    ) -> Result<()> {
        let mut last_said = String::new();
        let began = Instant::now();
        loop {
            let cs = self.service_containers(dep)?;
            if cs.is_empty() {
                return Err(failed(format!("{who}: dependency {dep} has no container")));
            }
            let mut done = true;
            let mut say = String::new();
            for c in &cs {
                match condition {
                    "service_healthy" => {
                        if c.config.healthcheck.is_none() {
                            return Err(failed(format!(
                                "{who} waits for {dep} to be healthy, but {dep} has no healthcheck: give it one or use condition: service_started"
                            )));
                        }
                        let h = c.state.health.clone().unwrap_or_default();
                        if !running(c) {
                            return Err(failed(format!(
                                "dependency failed to start: {} exited with code {} before it was healthy",
                                c.name,
                                c.state.exit_code.unwrap_or(0)
                            )));
                        }
                        match h.status.as_str() {
                            "healthy" => {}
                            "unhealthy" => {
                                return Err(failed(format!(
                                    "dependency failed to start: container {} is unhealthy (last probe: {})",
                                    c.name,
                                    probe_text(&h.last_output)
                                )))
                            }
                            _ => {
                                done = false;
                                say = format!(
                                    "{who}: waiting for {dep} to be healthy, last probe: {}",
                                    if h.last_check == 0 { "none yet".to_string() } else { probe_text(&h.last_output) }
                                );
                            }
                        }
                    }
                    "service_completed_successfully" => match c.state.status {
                        Status::Exited | Status::Dead => {
                            let code = c.state.exit_code.unwrap_or(0);
                            if code != 0 {
                                return Err(failed(format!(
                                    "service {dep} didn't complete successfully: {} exited with code {code}",
                                    c.name
                                )));
                            }
                        }
                        _ => {
                            done = false;
                            say = format!("{who}: waiting for {dep} to complete successfully");
                        }
                    },
                    _ => {
                        if c.state.status == Status::Created {
                            done = false;
                            say = format!("{who}: waiting for {dep} to start");
                        }
                    }
                }
            }
            if done {
                if began.elapsed() > Duration::from_millis(200) {
                    self.say(&format!(
                        "{who}: {dep} is {}",
                        match condition {
                            "service_healthy" => "healthy",
                            "service_completed_successfully" => "done",
                            _ => "started",
                        }
                    ));
                }
                return Ok(());
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(failed(format!(
                    "{who}: gave up after {}s: {}",
                    began.elapsed().as_secs(),
                    say.strip_prefix(&format!("{who}: ")).unwrap_or(&say)
                )));
            }
            if say != last_said {
                self.say(&say);
                last_said = say;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `up`: creates, recreates and starts what the model asks for, in dependency order.
    pub fn up(&self, o: &UpOptions) -> Result<Vec<String>> {
        for s in &o.services {
            self.service(s)?;
        }
        let order = if o.no_deps {
            o.services.clone()
        } else {
            graph::start_order(self.project, &o.services)
        };
        // Check everything that can fail before touching anything.
        let mut images = BTreeMap::new();
        for name in &order {
            let s = self.service(name)?;
            self.network_of(name, s)?;
            images.insert(name.clone(), self.ensure_image(name, s, o.build)?);
        }
        self.ensure_network()?;
        self.ensure_volumes()?;
        let mut recreated: Vec<String> = Vec::new();
        for name in &order {
            let s = self.service(name)?;
            if !o.no_deps {
                self.wait_dependencies(name)?;
            }
            self.up_service(name, s, o, &images[name], &mut recreated)
                .map_err(|e| match e {
                    EngineError::Failed(m) if m.starts_with("services.") => EngineError::Failed(m),
                    e => failed(format!("service {name}: {e}")),
                })?;
        }
        self.orphans(o.remove_orphans)?;
        Ok(order)
    }

    /// `up` for one service whose dependencies are ready: reconcile its containers.
    fn up_service(
        &self,
        name: &str,
        s: &Service,
        o: &UpOptions,
        image: &str,
        recreated: &mut Vec<String>,
    ) -> Result<()> {
        let want = o.scale.get(name).copied().unwrap_or_else(|| s.replicas());
        if want > 1 && s.container_name.is_some() {
            return Err(failed(format!(
                "services.{name}: container_name {:?} cannot be used with more than one replica",
                s.container_name.as_deref().unwrap_or_default()
            )));
        }
        let hash = config_hash(s);
        // A dependency recreated with restart: true restarts this service too.
        let restart_for_dep = s
            .depends_on
            .iter()
            .any(|(d, dep)| dep.restart && recreated.contains(d));
        let existing = self.service_containers(name)?;
        let mut have = Vec::new();
        for c in existing {
            let n = service_of(&c).map(|x| x.1).unwrap_or(0);
            let same = c.config.labels.get(HASH) == Some(&hash)
                && self
                    .rt
                    .store
                    .resolve(image)
                    .map(|i| i.id.to_string() == c.config.image)
                    .unwrap_or(false);
            if n == 0 || n > want {
                self.rt.remove(&c.id, true, false)?;
                self.say(&format!("Container {}  Removed", c.name));
            } else if !same || o.force_recreate {
                self.rt.remove(&c.id, true, false)?;
                let c2 = self
                    .rt
                    .create(self.create_options(name, s, n, image, false)?)?;
                self.start_container(&c2.id)?;
                self.say(&format!("Container {}  Recreated", c2.name));
                if !recreated.iter().any(|r| r == name) {
                    recreated.push(name.to_string());
                }
                have.push(n);
            } else if !running(&c) {
                self.start_container(&c.id)?;
                self.say(&format!("Container {}  Started", c.name));
                have.push(n);
            } else if restart_for_dep {
                self.rt.stop(&c.id, None)?;
                self.start_container(&c.id)?;
                self.say(&format!("Container {}  Restarted", c.name));
                have.push(n);
            } else {
                self.say(&format!("Container {}  Running", c.name));
                have.push(n);
            }
        }
        for n in 1..=want {
            if have.contains(&n) {
                continue;
            }
            let c = self
                .rt
                .create(self.create_options(name, s, n, image, false)?)?;
            self.say(&format!("Container {}  Created", c.name));
            self.start_container(&c.id)?;
            self.say(&format!("Container {}  Started", c.name));
        }
        Ok(())
    }

    /// Containers of services no longer in the model: a warning, or removed.
    fn orphans(&self, remove: bool) -> Result<()> {
        for c in self.containers(false)? {
            let Some((svc, _)) = service_of(&c) else {
                continue;
            };
            if self.project.services.contains_key(&svc) || self.project.disabled.contains_key(&svc)
            {
                continue;
            }
            if remove {
                self.rt.remove(&c.id, true, false)?;
                self.say(&format!("Container {}  Removed", c.name));
            } else {
                self.say(&format!(
                    "warning: found orphan container {} of service {svc}, which is not in the project; run with --remove-orphans to remove it",
                    c.name
                ));
            }
        }
        Ok(())
    }

    /// `up --wait`: until every service of `order` runs (and is healthy if it has a
    /// healthcheck) or completed successfully when it is a dependency that must; with
    /// `timeout` (`--wait-timeout`), an error once it has passed.
    pub fn wait_ready(&self, order: &[String], timeout: Option<Duration>) -> Result<()> {
        let deadline = timeout.map(|t| Instant::now() + t);
        for name in order {
            let s = self.service(name)?;
            let one_shot = self.project.services.values().any(|o| {
                o.depends_on
                    .get(name)
                    .map(|d| d.condition == "service_completed_successfully")
                    .unwrap_or(false)
            });
            let cond = if one_shot {
                "service_completed_successfully"
            } else if s.healthcheck.as_ref().map(|h| !h.disable).unwrap_or(false) {
                "service_healthy"
            } else {
                "service_started"
            };
            self.wait_condition("up --wait", name, cond, deadline)?;
        }
        Ok(())
    }

    /// `down`: removes the project's containers (dependants first), its network, and
    /// with `volumes` its named volumes and the containers' anonymous volumes.
    pub fn down(&self, volumes: bool, remove_orphans: bool, timeout: Option<u64>) -> Result<()> {
        let mut cs = Vec::new();
        for c in self.containers(true)? {
            let svc = service_of(&c).map(|x| x.0).unwrap_or_default();
            let known = self.project.services.contains_key(&svc)
                || self.project.disabled.contains_key(&svc);
            if !known && !remove_orphans {
                self.say(&format!("warning: leaving orphan container {} (service {svc} is not in the project; use --remove-orphans)", c.name));
                continue;
            }
            cs.push(c);
        }
        // Dependants first, level by level; orphans before all. Within a level each
        // container is stopped and removed on its own thread.
        self.by_stop_level(cs, |c| {
            let mut said = Vec::new();
            if running(c) {
                self.rt.stop(&c.id, timeout)?;
                said.push(format!("Container {}  Stopped", c.name));
            }
            self.rt.remove(&c.id, true, volumes)?;
            said.push(format!("Container {}  Removed", c.name));
            Ok(said)
        })?;
        self.remove_network()?;
        if volumes {
            for v in self.rt.store.volumes()? {
                let labels: BTreeMap<String, String> =
                    serde_json::from_str(&v.labels).unwrap_or_default();
                if labels.get(PROJECT) == Some(&self.project.name) {
                    self.rt.volume_remove(&v.name, false)?;
                    self.say(&format!("Volume {}  Removed", v.name));
                }
            }
        }
        let dir = self
            .rt
            .store
            .root()
            .join("compose")
            .join(&self.project.name);
        if dir.exists() {
            let _ = std::fs::remove_dir_all(&dir);
        }
        Ok(())
    }

    /// `start`: starts existing containers in dependency order, honouring conditions.
    pub fn start(&self, services: &[String]) -> Result<()> {
        for name in graph::start_order(self.project, services) {
            self.wait_dependencies(&name)?;
            for c in self.service_containers(&name)? {
                if !running(&c) {
                    self.start_container(&c.id)?;
                    self.say(&format!("Container {}  Started", c.name));
                }
            }
        }
        Ok(())
    }

    /// `stop`: dependants first.
    pub fn stop(&self, services: &[String], timeout: Option<u64>) -> Result<()> {
        let mut order = graph::start_order(self.project, services);
        if !services.is_empty() {
            order.retain(|s| services.contains(s));
        }
        let mut cs = Vec::new();
        for name in order {
            cs.extend(self.service_containers(&name)?.into_iter().filter(running));
        }
        self.by_stop_level(cs, |c| {
            self.rt.stop(&c.id, timeout)?;
            Ok(vec![format!("Container {}  Stopped", c.name)])
        })
    }

    /// Runs `f` on `cs` the way Compose stops a project: dependants first, level by
    /// level (graph::stop_levels; containers of unknown services first), the containers
    /// of one level (replicas and services independent of each other) concurrently.
    /// `f`'s progress lines are printed in container order once its level is done; the
    /// first error stops before the next level.
    fn by_stop_level(
        &self,
        cs: Vec<Container>,
        f: impl Fn(&Container) -> Result<Vec<String>> + Sync,
    ) -> Result<()> {
        let svc = |c: &Container| service_of(c).map(|x| x.0).unwrap_or_default();
        let names: std::collections::BTreeSet<String> = cs.iter().map(svc).collect();
        let levels = graph::stop_levels(self.project, &names);
        let key = |c: &Container| {
            let s = svc(c);
            if self.project.services.contains_key(&s) || self.project.disabled.contains_key(&s) {
                levels.get(&s).copied().unwrap_or(0) + 1
            } else {
                0
            }
        };
        let mut groups: BTreeMap<usize, Vec<Container>> = BTreeMap::new();
        for c in cs {
            groups.entry(key(&c)).or_default().push(c);
        }
        for (_, group) in groups {
            let results: Vec<Result<Vec<String>>> = if group.len() == 1 {
                vec![f(&group[0])]
            } else {
                std::thread::scope(|sc| {
                    let hs: Vec<_> = group.iter().map(|c| sc.spawn(|| f(c))).collect();
                    hs.into_iter()
                        .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                        .collect()
                })
            };
            let mut first_err = None;
            for r in results {
                match r {
                    Ok(lines) => lines.iter().for_each(|l| self.say(l)),
                    Err(e) => {
                        first_err.get_or_insert(e);
                    }
                }
            }
            if let Some(e) = first_err {
                return Err(e);
            }
        }
        Ok(())
    }

    /// `restart`: stop (dependants first), then start in dependency order.
    pub fn restart(&self, services: &[String], timeout: Option<u64>) -> Result<()> {
        self.stop(services, timeout)?;
        let mut order = graph::start_order(self.project, services);
        if !services.is_empty() {
            order.retain(|s| services.contains(s));
        }
        for name in order {
            self.wait_dependencies(&name)?;
            for c in self.service_containers(&name)? {
                self.start_container(&c.id)?;
                self.say(&format!("Container {}  Started", c.name));
            }
        }
        Ok(())
    }

    /// `kill`: a signal to the running containers of `services` (all when empty).
    pub fn kill(&self, services: &[String], signal: &str) -> Result<()> {
        for s in services {
            self.service(s)?;
        }
        for c in self.containers(false)? {
            let svc = service_of(&c).map(|x| x.0).unwrap_or_default();
            if running(&c) && (services.is_empty() || services.contains(&svc)) {
                self.rt.kill(&c.id, signal)?;
                self.say(&format!("Container {}  Killed", c.name));
            }
        }
        Ok(())
    }

    /// `rm`: removes the stopped containers of `services` (all when empty); with `stop`
    /// running ones are stopped first, otherwise they are left and named.
    pub fn rm(&self, services: &[String], stop: bool, volumes: bool) -> Result<()> {
        for s in services {
            self.service(s)?;
        }
        for c in self.containers(true)? {
            let svc = service_of(&c).map(|x| x.0).unwrap_or_default();
            if !services.is_empty() && !services.contains(&svc) {
                continue;
            }
            if running(&c) {
                if !stop {
                    self.say(&format!(
                        "Container {} is running: stop it first, or use rm -s",
                        c.name
                    ));
                    continue;
                }
                self.rt.stop(&c.id, None)?;
                self.say(&format!("Container {}  Stopped", c.name));
            }
            self.rt.remove(&c.id, true, volumes)?;
            self.say(&format!("Container {}  Removed", c.name));
        }
        Ok(())
    }

    /// The container `exec` targets: replica `index` of a service, running.
    pub fn container_for(&self, service: &str, index: u32) -> Result<Container> {
        self.service(service)?;
        self.service_containers(service)?
            .into_iter()
            .find(|c| service_of(c).map(|x| x.1) == Some(index))
            .ok_or_else(|| {
                failed(format!(
                    "service {service} has no container number {index}: run berth compose up first"
                ))
            })
    }

    /// `run`: starts the service's dependencies, then creates a one-off container with
    /// `cmd` (the service's command when empty). The caller runs it in the foreground.
    pub fn create_oneoff(&self, service: &str, r: &OneOff) -> Result<Container> {
        let s = self.service(service)?;
        let cmd = &r.cmd;
        if !r.no_deps {
            let mut deps = graph::start_order(self.project, &[service.to_string()]);
            deps.retain(|d| d != service);
            if !deps.is_empty() {
                self.up(&UpOptions {
                    services: deps,
                    ..Default::default()
                })?;
            }
        }
        self.ensure_network()?;
        self.ensure_volumes()?;
        if !r.no_deps {
            self.wait_dependencies(service)?;
        }
        let image = self.ensure_image(service, s, r.build)?;
        let mut s = s.clone();
        if let Some(e) = &r.entrypoint {
            s.entrypoint = Some(e.clone());
        }
        let s = &s;
        let mut o = self.create_options(service, s, 1, &image, true)?;
        if let Some(n) = &r.name {
            o.name = Some(n.clone());
        }
        if r.no_tty {
            o.config.tty = false;
        }
        for m in &r.mounts {
            let mut m = m.clone();
            if m.kind == "volume" && self.project.volumes.contains_key(&m.source) {
                m.source = self.volume_name(&m.source);
            }
            o.config.mounts.push(m);
        }
        if r.service_ports {
            o.config.publish = self.network_of(service, s)?.publish;
        }
        o.config.publish.extend(r.publish.iter().cloned());
        o.config
            .labels
            .extend(r.labels.iter().map(|(k, v)| (k.clone(), v.clone())));
        if !cmd.is_empty() {
            o.cmd = cmd.to_vec();
            if let Some(e) = &s.entrypoint {
                o.cmd = e
                    .iter()
                    .skip(1)
                    .cloned()
                    .chain(cmd.iter().cloned())
                    .collect();
            }
        }
        o.config.env.extend(r.env.iter().cloned());
        if r.user.is_some() {
            o.user = r.user.clone();
        }
        if r.workdir.is_some() {
            o.workdir = r.workdir.clone();
        }
        o.config.auto_remove = r.rm;
        Ok(self.rt.create(o)?)
    }
}

fn probe_text(s: &str) -> String {
    let t = s.trim();
    if t.is_empty() {
        "failed with no output".into()
    } else {
        t.lines().last().unwrap_or(t).to_string()
    }
}

/// One row of `compose ls`: a project seen in the store's containers.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ProjectSummary {
    pub name: String,
    pub status: String,
    pub config_files: String,
}

/// Every project with containers in the store.
pub fn list_projects(rt: &Runtime) -> Result<Vec<ProjectSummary>> {
    let mut by: BTreeMap<String, (BTreeMap<String, u32>, String)> = BTreeMap::new();
    for c in rt.list_refreshed()? {
        let Some(p) = c.config.labels.get(PROJECT) else {
            continue;
        };
        let e = by.entry(p.clone()).or_default();
        *e.0.entry(c.state.status.as_str().to_string()).or_default() += 1;
        if let Some(f) = c.config.labels.get(CONFIG_FILES) {
            e.1 = f.clone();
        }
    }
    Ok(by
        .into_iter()
        .map(|(name, (counts, files))| ProjectSummary {
            name,
            status: counts
                .iter()
                .map(|(s, n)| format!("{s}({n})"))
                .collect::<Vec<_>>()
                .join(", "),
            config_files: files,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{load, Options};

    fn setup(yaml: &str) -> (tempfile::TempDir, Runtime, Project) {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("proj");
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("compose.yaml"), yaml).unwrap();
        std::fs::write(dir.join("token.txt"), "t0k3n").unwrap();
        let p = load(&Options {
            working_dir: dir,
            project_name: Some("demo".into()),
            ..Default::default()
        })
        .unwrap();
        let rt = Runtime::new(berth_store::Store::open(t.path().join("root")).unwrap());
        (t, rt, p)
    }

    fn quiet(_: &str) {}

    #[test]
    fn create_options_map_the_service_onto_the_runtime() {
        let (_t, rt, p) = setup(
            r#"
services:
  web:
    image: bb
    entrypoint: [/bin/sh, -c]
    command: ["echo hi"]
    environment: {A: '1', B: null}
    user: "1000:1000"
    working_dir: /srv
    init: true
    restart: on-failure:3
    stop_signal: SIGINT
    stop_grace_period: 1500ms
    labels: {team: core}
    volumes:
      - data:/data:ro
      - ./src:/src
      - /cache
      - {type: tmpfs, target: /tmp, tmpfs: {size: 1m}}
    secrets: [token, {source: token, target: other}]
    healthcheck: {test: [CMD, "true"], interval: 2s, timeout: 1s, start_period: 3s, retries: 4}
    deploy: {resources: {limits: {cpus: '0.25', memory: 64m, pids: 50}}}
volumes:
  data: {name: shared-data}
secrets:
  token: {file: ./token.txt}
"#,
        );
        let e = Engine {
            rt: &rt,
            project: &p,
            progress: &quiet,
        };
        let s = &p.services["web"];
        let o = e.create_options("web", s, 2, "bb", false).unwrap();
        assert_eq!(o.name.as_deref(), Some("demo-web-2"));
        assert_eq!(o.entrypoint.as_deref(), Some("/bin/sh"));
        assert_eq!(o.cmd, vec!["-c", "echo hi"]);
        assert_eq!(o.user.as_deref(), Some("1000:1000"));
        assert_eq!(o.workdir.as_deref(), Some("/srv"));
        assert_eq!(o.stop_signal.as_deref(), Some("SIGINT"));
        assert_eq!(o.stop_timeout, Some(2));
        let c = &o.config;
        assert_eq!(c.env, vec!["A=1", "B"]);
        assert!(c.init);
        assert_eq!(
            (c.restart.name.as_str(), c.restart.max_retries),
            ("on-failure", 3)
        );
        assert_eq!(c.network, "demo_default");
        assert_eq!(c.labels["team"], "core");
        assert_eq!(c.labels[PROJECT], "demo");
        assert_eq!(c.labels[SERVICE], "web");
        assert_eq!(c.labels[NUMBER], "2");
        assert_eq!(c.labels[HASH], config_hash(s));
        assert_eq!(
            (c.memory, c.cpus, c.pids_limit),
            (Some(64 << 20), Some(0.25), Some(50))
        );
        let h = c.healthcheck.as_ref().unwrap();
        assert_eq!(
            (h.interval_ms, h.timeout_ms, h.start_period_ms, h.retries),
            (2000, 1000, 3000, 4)
        );
        let m = &c.mounts;
        assert_eq!(
            (m[0].kind.as_str(), m[0].source.as_str(), m[0].read_only),
            ("volume", "shared-data", true)
        );
        assert_eq!(m[1].kind, "bind");
        assert!(m[1].source.ends_with("/proj/src"), "{}", m[1].source);
        // The anonymous volume is made here, with the project's label.
        assert_eq!(m[2].kind, "volume");
        let labels: BTreeMap<String, String> =
            serde_json::from_str(&rt.store.volume(&m[2].source).unwrap().labels).unwrap();
        assert_eq!(labels[PROJECT], "demo");
        assert_eq!(
            (m[3].kind.as_str(), m[3].options.clone()),
            ("tmpfs", vec![format!("size={}", 1 << 20)])
        );
        assert_eq!(
            (m[4].target.as_str(), m[4].read_only),
            ("/run/secrets/token", true)
        );
        assert!(m[4].source.ends_with("/proj/token.txt"));
        assert_eq!(m[5].target, "/run/secrets/other");
        // One-off containers never restart and have their own names.
        let o = e.create_options("web", s, 1, "bb", true).unwrap();
        assert!(o.name.unwrap().starts_with("demo-web-run-"));
        assert_eq!(o.config.restart.name, "no");
        assert_eq!(o.config.labels[ONEOFF], "True");
    }

    #[test]
    fn entrypoint_and_command_follow_docker() {
        let (_t, rt, p) = setup(
            "services:\n  a:\n    image: bb\n  b:\n    image: bb\n    entrypoint: []\n  c:\n    image: bb\n    entrypoint: /run.sh\n  d:\n    image: bb\n    command: sh -c 'echo \"x y\"'\n  e:\n    image: bb\n    healthcheck: {disable: true}\n",
        );
        let e = Engine {
            rt: &rt,
            project: &p,
            progress: &quiet,
        };
        let o = |n: &str| e.create_options(n, &p.services[n], 1, "bb", false).unwrap();
        assert_eq!((o("a").entrypoint, o("a").cmd), (None, vec![]));
        assert_eq!(o("b").entrypoint.as_deref(), Some(""));
        assert_eq!(
            (o("c").entrypoint.as_deref(), o("c").cmd),
            (Some("/run.sh"), vec![])
        );
        assert_eq!(o("d").cmd, vec!["sh", "-c", "echo \"x y\""]);
        assert!(o("e").no_healthcheck);
        assert!(!o("a").no_healthcheck);
    }

    #[test]
    fn services_join_project_networks_with_their_names_and_publish_ports() {
        let (_t, rt, p) = setup(
            "services:\n  remap:\n    image: bb\n    ports: ['127.0.0.1:8080:80', '53/udp']\n  same:\n    image: bb\n    networks: {front: {aliases: [www]}}\n  mode:\n    image: bb\n    network_mode: bridge\nnetworks:\n  front: {}\n",
        );
        let progress = |_: &str| {};
        let e = Engine {
            rt: &rt,
            project: &p,
            progress: &progress,
        };
        let n = e.network_of("remap", &p.services["remap"]).unwrap();
        assert_eq!(n.mode, format!("{}_default", p.name));
        assert_eq!(n.attachments[0].aliases, vec!["remap".to_string()]);
        let ports: Vec<String> = n.publish.iter().map(|p| p.to_string()).collect();
        assert_eq!(ports.len(), 2, "{ports:?}");
        assert!(
            ports[0].contains("8080") && ports[0].contains("80"),
            "{ports:?}"
        );
        let n = e.network_of("same", &p.services["same"]).unwrap();
        assert_eq!(n.attachments[0].network, format!("{}_front", p.name));
        assert_eq!(
            n.attachments[0].aliases,
            vec!["same".to_string(), "www".to_string()]
        );
        assert!(e
            .network_of("mode", &p.services["mode"])
            .unwrap_err()
            .to_string()
            .contains("network_mode"));
    }
}

//! Command-line types of the container commands (clap only).

use clap::{Args, Subcommand};
use std::path::PathBuf;

/// Flags shared by `run` and `create`.
#[derive(Args, Debug, Clone)]
pub struct CreateFlags {
    /// Assign a name to the container.
    #[arg(long)]
    pub name: Option<String>,
    /// Keep STDIN open.
    #[arg(short, long)]
    pub interactive: bool,
    /// Allocate a pseudo-TTY.
    #[arg(short, long)]
    pub tty: bool,
    /// Remove the container when it exits.
    #[arg(long)]
    pub rm: bool,
    /// Set environment variables (KEY=VALUE, or KEY to pass the host's value).
    #[arg(short, long = "env")]
    pub env: Vec<String>,
    /// Read environment variables from a file (KEY=VALUE lines, # comments).
    #[arg(long = "env-file")]
    pub env_file: Vec<PathBuf>,
    /// Working directory inside the container.
    #[arg(short, long)]
    pub workdir: Option<String>,
    /// USER[:GROUP] (names from the image's /etc/passwd and /etc/group, or numbers).
    #[arg(short, long)]
    pub user: Option<String>,
    /// Override the image's ENTRYPOINT ("" resets it).
    #[arg(long)]
    pub entrypoint: Option<String>,
    /// Bind mount or volume: HOST:CTR[:ro] or NAME:CTR[:ro] or CTR (anonymous).
    #[arg(short, long = "volume")]
    pub volumes: Vec<String>,
    /// type=bind|volume|tmpfs,source=...,target=...[,readonly]
    #[arg(long = "mount")]
    pub mounts: Vec<String>,
    /// Mount a tmpfs: PATH[:OPTIONS].
    #[arg(long)]
    pub tmpfs: Vec<String>,
    /// Mount the root filesystem read-only.
    #[arg(long)]
    pub read_only: bool,
    /// Container host name.
    #[arg(long)]
    pub hostname: Option<String>,
    /// Memory limit (e.g. 64m, 1g).
    #[arg(short, long)]
    pub memory: Option<String>,
    /// Number of CPUs (e.g. 0.5).
    #[arg(long)]
    pub cpus: Option<f64>,
    /// Maximum number of processes.
    #[arg(long)]
    pub pids_limit: Option<i64>,
    #[arg(long = "cap-add")]
    pub cap_add: Vec<String>,
    #[arg(long = "cap-drop")]
    pub cap_drop: Vec<String>,
    /// All capabilities, all devices, no seccomp or masked paths.
    #[arg(long)]
    pub privileged: bool,
    /// no-new-privileges | seccomp=unconfined | seccomp=PROFILE.json
    #[arg(long = "security-opt")]
    pub security_opt: Vec<String>,
    /// Run an init (tini) as PID 1 that reaps zombies and forwards signals.
    #[arg(long)]
    pub init: bool,
    /// no | on-failure[:N] | always | unless-stopped
    #[arg(long, default_value = "no")]
    pub restart: String,
    #[arg(short, long = "label")]
    pub labels: Vec<String>,
    #[arg(long)]
    pub stop_signal: Option<String>,
    /// Run systemd (or another init that wants it) as PID 1: tmpfs on /run, /run/lock,
    /// /tmp and /var/log/journal, a writable cgroup mount, container=berth in the
    /// environment, and SIGRTMIN+3 as the stop signal.
    #[arg(long)]
    pub systemd: bool,
    /// Seconds to wait for the stop signal before SIGKILL.
    #[arg(long)]
    pub stop_timeout: Option<u64>,
    /// NAME=SOFT[:HARD], e.g. nofile=1024:2048.
    #[arg(long)]
    pub ulimit: Vec<String>,
    /// Size of /dev/shm, e.g. 256m (default 64m).
    #[arg(long = "shm-size")]
    pub shm_size: Option<String>,
    /// A namespaced kernel parameter: KEY=VALUE, e.g. net.core.somaxconn=1024.
    #[arg(long)]
    pub sysctl: Vec<String>,
    #[arg(long)]
    pub health_cmd: Option<String>,
    #[arg(long)]
    pub health_interval: Option<String>,
    #[arg(long)]
    pub health_timeout: Option<String>,
    #[arg(long)]
    pub health_start_period: Option<String>,
    #[arg(long)]
    pub health_retries: Option<u32>,
    #[arg(long)]
    pub no_healthcheck: bool,
    /// OCI runtime binary (default: runc).
    #[arg(long)]
    pub runtime: Option<String>,
    /// bridge (the default network) | NAME (a network from `berth network create`) |
    /// host (the host's network) | none (loopback only).
    #[arg(long, alias = "net", default_value = "bridge")]
    pub network: String,
    /// Another name the container answers to on its network's DNS.
    #[arg(long = "network-alias", alias = "net-alias")]
    pub network_alias: Vec<String>,
    /// The container's IPv4 address on its network (default: the next free one).
    #[arg(long)]
    pub ip: Option<std::net::Ipv4Addr>,
    /// Publish a port: [IP:][HOST_PORT:]CONTAINER_PORT[/tcp|udp] (no HOST_PORT: a free one).
    #[arg(short = 'p', long = "publish")]
    pub publish: Vec<String>,
    /// Publish every port the image EXPOSEs on a free host port.
    #[arg(short = 'P', long = "publish-all")]
    pub publish_all: bool,
    /// Add a line to /etc/hosts: NAME:IP (IP may be host-gateway).
    #[arg(long = "add-host")]
    pub add_host: Vec<String>,
    /// DNS server for the container: on a bridge network the network's resolver forwards
    /// to it (other containers' names still resolve); with --network none it is used directly.
    #[arg(long)]
    pub dns: Vec<std::net::IpAddr>,
    /// DNS search domain (`.` for none; default: the host's).
    #[arg(long = "dns-search")]
    pub dns_search: Vec<String>,
    /// Resolver option for resolv.conf, e.g. ndots:2 (default: the host's).
    #[arg(long = "dns-option", alias = "dns-opt")]
    pub dns_option: Vec<String>,
    /// max-size=10m, max-file=3
    #[arg(long = "log-opt")]
    pub log_opt: Vec<String>,
    /// Image, then the command and its arguments.
    #[arg(required = true, trailing_var_arg = true)]
    pub image_and_args: Vec<String>,
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// Run in the background and print the container id.
    #[arg(short, long)]
    pub detach: bool,
    #[command(flatten)]
    pub create: CreateFlags,
}

#[derive(Args, Debug)]
pub struct ExecArgs {
    #[arg(short, long)]
    pub detach: bool,
    #[arg(short, long)]
    pub interactive: bool,
    #[arg(short, long)]
    pub tty: bool,
    #[arg(short, long = "env")]
    pub env: Vec<String>,
    #[arg(short, long)]
    pub user: Option<String>,
    #[arg(short, long)]
    pub workdir: Option<String>,
    #[arg(long)]
    pub privileged: bool,
    /// Container, then the command and its arguments.
    #[arg(required = true, trailing_var_arg = true)]
    pub container_and_args: Vec<String>,
}

#[derive(Args, Debug)]
pub struct PsArgs {
    /// Show all containers (default: running only).
    #[arg(short, long)]
    pub all: bool,
    #[arg(short, long)]
    pub quiet: bool,
    #[arg(long)]
    pub no_trunc: bool,
    /// status=, label=, name=, id=, ancestor=
    #[arg(short, long = "filter")]
    pub filters: Vec<String>,
    #[arg(long)]
    pub format: Option<String>,
}

#[derive(Args, Debug)]
pub struct LogsArgs {
    pub container: String,
    #[arg(short, long)]
    pub follow: bool,
    /// Number of lines from the end (or "all").
    #[arg(short = 'n', long)]
    pub tail: Option<String>,
    /// Only lines since a timestamp or a duration ago (e.g. 10m).
    #[arg(long)]
    pub since: Option<String>,
    #[arg(short, long)]
    pub timestamps: bool,
}

#[derive(Args, Debug)]
pub struct StopArgs {
    #[arg(required = true)]
    pub containers: Vec<String>,
    /// Seconds to wait before killing.
    #[arg(short = 't', long = "time", alias = "timeout")]
    pub time: Option<u64>,
}

#[derive(Args, Debug)]
pub struct KillArgs {
    #[arg(required = true)]
    pub containers: Vec<String>,
    #[arg(short, long, default_value = "KILL")]
    pub signal: String,
}

#[derive(Args, Debug)]
pub struct RmArgs {
    #[arg(required = true)]
    pub containers: Vec<String>,
    #[arg(short, long)]
    pub force: bool,
    /// Remove anonymous volumes too.
    #[arg(short, long)]
    pub volumes: bool,
}

#[derive(Args, Debug)]
pub struct StartArgs {
    #[arg(required = true)]
    pub containers: Vec<String>,
    /// Attach to the output and wait (exit with the container's code).
    #[arg(short, long)]
    pub attach: bool,
    #[arg(short, long)]
    pub interactive: bool,
}

#[derive(Args, Debug)]
pub struct CommitArgs {
    pub container: String,
    pub reference: Option<String>,
    #[arg(short, long = "change")]
    pub changes: Vec<String>,
    #[arg(short, long)]
    pub message: Option<String>,
    #[arg(short, long)]
    pub author: Option<String>,
}

#[derive(Args, Debug)]
pub struct AnyInspectArgs {
    #[arg(required = true)]
    pub names: Vec<String>,
    #[arg(short, long)]
    pub format: Option<String>,
    /// container or image (default: whichever matches).
    #[arg(long = "type")]
    pub kind: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum VolumeCommand {
    /// Create a volume.
    Create {
        name: Option<String>,
        #[arg(short, long = "label")]
        labels: Vec<String>,
    },
    /// List volumes.
    #[command(alias = "list")]
    Ls {
        #[arg(short, long)]
        quiet: bool,
        #[arg(long)]
        format: Option<String>,
    },
    /// Show volumes as JSON.
    Inspect {
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Remove volumes.
    Rm {
        #[arg(required = true)]
        names: Vec<String>,
        #[arg(short, long)]
        force: bool,
    },
    /// Remove unused anonymous volumes (-a: all unused).
    Prune {
        #[arg(short, long)]
        all: bool,
        #[arg(short, long)]
        force: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum NetworkCommand {
    /// Create a bridge network.
    Create {
        name: String,
        /// IPv4 subnet in CIDR form (default: a free /24 from 10.88.0.0-10.127.255.0).
        #[arg(long)]
        subnet: Option<String>,
        /// The bridge's address (default: the subnet's first address).
        #[arg(long)]
        gateway: Option<String>,
        /// No access outside the network (no NAT, no route out).
        #[arg(long)]
        internal: bool,
        #[arg(short, long = "label")]
        labels: Vec<String>,
        /// Only "bridge" exists.
        #[arg(short, long, default_value = "bridge")]
        driver: String,
    },
    /// List networks.
    #[command(alias = "list")]
    Ls {
        #[arg(short, long)]
        quiet: bool,
        #[arg(long)]
        format: Option<String>,
    },
    /// Show networks and the containers on them as JSON.
    Inspect {
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Remove networks (refused while containers use them).
    #[command(alias = "remove")]
    Rm {
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Remove networks no container uses (the default network stays).
    Prune {
        #[arg(short, long)]
        force: bool,
    },
    /// Connect a container to a network (now if it runs, and at each start).
    Connect {
        network: String,
        container: String,
        #[arg(long)]
        alias: Vec<String>,
        #[arg(long)]
        ip: Option<std::net::Ipv4Addr>,
    },
    /// Disconnect a container from a network.
    Disconnect {
        network: String,
        container: String,
        /// Accepted for Docker compatibility.
        #[arg(short, long)]
        force: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum ContainerCommand {
    /// List containers.
    Ls(PsArgs),
    /// Remove all stopped containers.
    Prune {
        #[arg(short, long)]
        force: bool,
    },
    /// Show containers as JSON.
    Inspect(AnyInspectArgs),
}

/// `berth oci`: the built-in OCI runtime, with runc's command surface (used by the monitor).
#[derive(Args, Debug)]
pub struct OciArgs {
    /// Write errors here (runc's --log).
    #[arg(long)]
    pub log: Option<PathBuf>,
    #[arg(long, default_value = "text")]
    pub log_format: String,
    #[command(subcommand)]
    pub verb: OciVerb,
}

#[derive(Subcommand, Debug)]
pub enum OciVerb {
    Run {
        #[arg(short, long)]
        bundle: PathBuf,
        #[arg(long)]
        pid_file: Option<PathBuf>,
        id: String,
    },
    Exec {
        #[arg(short, long)]
        tty: bool,
        #[arg(short, long)]
        detach: bool,
        #[arg(long = "cap")]
        caps: Vec<String>,
        #[arg(short, long)]
        user: Option<String>,
        #[arg(long = "additional-gids")]
        additional_gids: Vec<u32>,
        #[arg(long)]
        cwd: Option<PathBuf>,
        #[arg(short, long = "env")]
        env: Vec<String>,
        id: String,
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
        args: Vec<String>,
    },
    Kill {
        #[arg(short, long)]
        all: bool,
        id: String,
        #[arg(default_value = "SIGTERM")]
        signal: String,
    },
    Delete {
        #[arg(short, long)]
        force: bool,
        id: String,
    },
    State {
        id: String,
    },
    Ps {
        #[arg(long, default_value = "json")]
        format: String,
        id: String,
    },
}

/// `berth build` (only `--check` so far).
#[derive(Args, Debug)]
pub struct BuildArgs {
    /// Build context: a directory, or `-` (a Dockerfile, or a tar of the context, on stdin).
    pub context: String,
    /// The Dockerfile (default: CONTEXT/Dockerfile; `-` reads it from stdin).
    #[arg(short, long)]
    pub file: Option<PathBuf>,
    /// Name the result (repeatable).
    #[arg(short, long = "tag")]
    pub tags: Vec<String>,
    #[arg(long = "build-arg", value_name = "NAME=VALUE")]
    pub build_args: Vec<String>,
    /// Build up to this stage only.
    #[arg(long)]
    pub target: Option<String>,
    /// Run every step again.
    #[arg(long)]
    pub no_cache: bool,
    /// Pull missing base images (`--pull=false`: never).
    #[arg(long, value_name = "BOOL", default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub pull: bool,
    /// Add a label to the image (KEY=VALUE, repeatable).
    #[arg(long = "label")]
    pub labels: Vec<String>,
    /// Write the image id to this file.
    #[arg(long)]
    pub iidfile: Option<PathBuf>,
    /// auto, plain (every step and its output) or quiet (the id only).
    #[arg(long, default_value = "auto")]
    pub progress: String,
    /// Print only the image id.
    #[arg(short, long)]
    pub quiet: bool,
    /// type=local,dest=DIR | type=tar,dest=FILE | type=oci,dest=FILE | type=docker,dest=FILE
    #[arg(short, long = "output")]
    pub outputs: Vec<String>,
    /// id=ID,src=FILE: a secret RUN --mount=type=secret can read (never stored).
    #[arg(long = "secret")]
    pub secrets: Vec<String>,
    /// Network for RUN steps: default, host or none.
    #[arg(long, default_value = "default")]
    pub network: String,
    /// Only linux/<this machine's architecture> (berth does not emulate).
    #[arg(long)]
    pub platform: Option<String>,
    /// Merge the layers the build adds into one.
    #[arg(long)]
    pub squash: bool,
    /// Say why each step that runs missed the cache.
    #[arg(long)]
    pub explain: bool,
    /// Let RUN steps trust the host's CA bundle (for TLS-inspecting proxies): mounted at
    /// /run/berth/host-ca.crt with SSL_CERT_FILE, PIP_CERT, REQUESTS_CA_BUNDLE,
    /// CURL_CA_BUNDLE, NODE_EXTRA_CA_CERTS, GIT_SSL_CAINFO pointing at it.
    #[arg(long, env = "BERTH_HOST_CERTS", value_parser = clap::builder::FalseyValueParser::new())]
    pub host_certs: bool,
    /// Import build cache first: type=local,src=DIR.
    #[arg(long)]
    pub cache_from: Vec<String>,
    /// Export the build cache afterwards: type=local,dest=DIR.
    #[arg(long)]
    pub cache_to: Option<String>,
    /// OCI runtime for RUN steps (default: berth's own).
    #[arg(long, default_value = "")]
    pub runtime: String,
    /// Parse and lint without building; print stages, args and instructions with lines.
    #[arg(long)]
    pub check: bool,
    /// `json` for the stable machine-readable form of --check.
    #[arg(long)]
    pub format: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum BuilderCommand {
    /// Remove build cache: all of it, or what is older than --filter until=, or the least
    /// recently used beyond --keep-storage.
    Prune {
        #[arg(long)]
        keep_storage: Option<String>,
        /// until=DURATION (e.g. 24h)
        #[arg(long)]
        filter: Vec<String>,
        #[arg(short, long)]
        all: bool,
        #[arg(short, long)]
        force: bool,
    },
    /// Show how much the build cache holds.
    Du,
}

//! `berth compose` command-line types (clap), with Docker Compose's names and flags.

use clap::{Args, Subcommand};
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct ComposeArgs {
    /// Compose file(s), merged in order (default: compose.yaml and compose.override.yaml, or docker-compose.yml...).
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Project name (default: COMPOSE_PROJECT_NAME, the top-level name key, or the directory's name).
    #[arg(short = 'p', long = "project-name", value_name = "NAME")]
    pub project_name: Option<String>,
    /// Activate a profile (also COMPOSE_PROFILES=a,b).
    #[arg(long = "profile", value_name = "PROFILE")]
    pub profiles: Vec<String>,
    /// Variables for interpolation (default: .env in the project directory).
    #[arg(long = "env-file", value_name = "FILE")]
    pub env_files: Vec<PathBuf>,
    /// Where to look for the default files (default: the current directory).
    #[arg(long = "project-directory", value_name = "DIR")]
    pub project_directory: Option<PathBuf>,
    #[command(subcommand)]
    pub command: ComposeCommand,
}

#[derive(Subcommand, Debug)]
pub enum ComposeCommand {
    /// Create and start the project's containers (recreating only what changed).
    Up(ComposeUpArgs),
    /// Stop and remove the project's containers (and with -v its volumes).
    Down {
        /// Remove named volumes of the project and anonymous volumes of its containers.
        #[arg(short = 'v', long)]
        volumes: bool,
        /// Also remove containers of services that are no longer in the files.
        #[arg(long)]
        remove_orphans: bool,
        /// Seconds to wait for each container to stop before SIGKILL (default: the
        /// service's stop_grace_period, else 10).
        #[arg(short = 't', long)]
        timeout: Option<u64>,
    },
    /// List the project's containers.
    Ps {
        /// Show stopped containers too.
        #[arg(short, long)]
        all: bool,
        /// Only container ids.
        #[arg(short, long)]
        quiet: bool,
        /// table (default) or json.
        #[arg(long)]
        format: Option<String>,
        /// Print only the names of the services listed.
        #[arg(long)]
        services: bool,
        /// Only containers in this state (running, exited, created, restarting, dead);
        /// implies --all. May be repeated.
        #[arg(long, value_name = "STATE")]
        status: Vec<String>,
        #[arg(value_name = "SERVICE")]
        only: Vec<String>,
    },
    /// Show the output of the project's containers.
    Logs {
        #[arg(short, long)]
        follow: bool,
        #[arg(short, long)]
        timestamps: bool,
        /// Number of lines from the end of each container's log (or "all").
        #[arg(short = 'n', long)]
        tail: Option<String>,
        /// Only lines since then: a timestamp, or a duration ago (10m, 2h).
        #[arg(long)]
        since: Option<String>,
        /// Do not prefix lines with the container's name.
        #[arg(long)]
        no_log_prefix: bool,
        /// berth writes no colors; accepted for Docker Compose's scripts.
        #[arg(long)]
        no_color: bool,
        services: Vec<String>,
    },
    /// Build the images of services with a build section.
    Build {
        /// Run every step again.
        #[arg(long)]
        no_cache: bool,
        /// KEY=VALUE over the file's build args.
        #[arg(long = "build-arg", value_name = "KEY=VALUE")]
        build_args: Vec<String>,
        services: Vec<String>,
    },
    /// Run a one-off command in a new container of a service.
    Run(ComposeRunArgs),
    /// Run a command in a running service container.
    Exec(ComposeExecArgs),
    /// Start the existing containers of services (in dependency order).
    Start { services: Vec<String> },
    /// Stop services (dependants first).
    Stop {
        #[arg(short = 't', long = "timeout")]
        timeout: Option<u64>,
        services: Vec<String>,
    },
    /// Restart services (stop, then start in dependency order).
    Restart {
        #[arg(short = 't', long = "timeout")]
        timeout: Option<u64>,
        services: Vec<String>,
    },
    /// Send a signal to the running containers of services.
    Kill {
        #[arg(short, long, default_value = "SIGKILL")]
        signal: String,
        services: Vec<String>,
    },
    /// Remove stopped containers of services.
    Rm {
        /// Do not ask (berth does not ask anyway; for Docker Compose's scripts).
        #[arg(short, long)]
        force: bool,
        /// Stop running containers first.
        #[arg(short, long)]
        stop: bool,
        /// Also remove their anonymous volumes.
        #[arg(short, long)]
        volumes: bool,
        services: Vec<String>,
    },
    /// Pull the images of services from their registries.
    Pull {
        /// No progress output.
        #[arg(short, long)]
        quiet: bool,
        #[command(flatten)]
        registry: crate::cli::RegistryAccessArgs,
        services: Vec<String>,
    },
    /// Push the images of services to their registries.
    Push {
        #[command(flatten)]
        registry: crate::cli::RegistryAccessArgs,
        services: Vec<String>,
    },
    /// Print the resolved model: merged, interpolated, in canonical form.
    Config {
        /// Print only the service names.
        #[arg(long)]
        services: bool,
        /// Print only the volume names.
        #[arg(long)]
        volumes: bool,
        /// Print only the profile names.
        #[arg(long)]
        profiles: bool,
        /// Check only; print nothing.
        #[arg(short, long)]
        quiet: bool,
        /// yaml (default; a loadable compose file, a literal $ written $$) or json (the values as they are).
        #[arg(long, default_value = "yaml")]
        format: String,
        /// Write to a file instead of stdout.
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// List the projects that have containers.
    Ls {
        /// Also projects whose containers are all stopped.
        #[arg(short, long)]
        all: bool,
        #[arg(short, long)]
        quiet: bool,
        /// table (default) or json.
        #[arg(long)]
        format: Option<String>,
    },
    /// Write the app as Kubernetes manifests (Deployments, Services, PVCs, ConfigMaps, Secrets).
    Kube {
        /// Directory to write one file per object into (default: one YAML stream on stdout).
        #[arg(short, long, value_name = "DIR")]
        output: Option<PathBuf>,
    },
}

#[derive(Args, Debug)]
pub struct ComposeUpArgs {
    /// Run in the background.
    #[arg(short, long)]
    pub detach: bool,
    /// Build images before starting.
    #[arg(long)]
    pub build: bool,
    /// Wait until services are running and healthy (implies --detach).
    #[arg(long)]
    pub wait: bool,
    /// With --wait: give up (exit 1, containers left running) after this many seconds.
    #[arg(long, value_name = "SECONDS", requires = "wait")]
    pub wait_timeout: Option<u64>,
    /// SERVICE=N replicas (overrides deploy.replicas).
    #[arg(long, value_name = "SERVICE=N")]
    pub scale: Vec<String>,
    /// Remove containers of services no longer in the files.
    #[arg(long)]
    pub remove_orphans: bool,
    /// Recreate containers even if their configuration did not change.
    #[arg(long)]
    pub force_recreate: bool,
    /// Do not start the services' dependencies.
    #[arg(long)]
    pub no_deps: bool,
    /// Stop every container as soon as one ends (attached only); exit with its code.
    #[arg(long, conflicts_with_all = ["detach", "wait"])]
    pub abort_on_container_exit: bool,
    /// Exit with this service's container's code (implies --abort-on-container-exit).
    #[arg(long, value_name = "SERVICE", conflicts_with_all = ["detach", "wait"])]
    pub exit_code_from: Option<String>,
    /// Pull images first: missing (those not in the store), always, or never.
    #[arg(long, default_value = "missing", value_parser = ["missing", "always", "never"])]
    pub pull: String,
    /// Pull without progress output.
    #[arg(long)]
    pub quiet_pull: bool,
    /// berth writes no colors; accepted for Docker Compose's scripts.
    #[arg(long)]
    pub no_color: bool,
    #[command(flatten)]
    pub registry: crate::cli::RegistryAccessArgs,
    pub services: Vec<String>,
}

#[derive(Args, Debug)]
pub struct ComposeRunArgs {
    /// Remove the container when it exits.
    #[arg(long)]
    pub rm: bool,
    /// Run in the background; print the container's name.
    #[arg(short, long)]
    pub detach: bool,
    /// Do not start the service's dependencies.
    #[arg(long)]
    pub no_deps: bool,
    /// Extra environment variables.
    #[arg(short = 'e', long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// Override the user.
    #[arg(short, long)]
    pub user: Option<String>,
    /// Override the working directory.
    #[arg(short, long)]
    pub workdir: Option<String>,
    /// Keep stdin open.
    #[arg(short, long)]
    pub interactive: bool,
    /// Do not allocate a terminal (the service's `tty: true` notwithstanding).
    #[arg(short = 'T', long = "no-TTY", alias = "no-tty")]
    pub no_tty: bool,
    /// Override the entrypoint ("" clears it).
    #[arg(long, value_name = "CMD")]
    pub entrypoint: Option<String>,
    /// Name the container (default PROJECT-SERVICE-run-ID).
    #[arg(long)]
    pub name: Option<String>,
    /// Mount: HOST:CTR[:ro], NAME:CTR[:ro] (a volume of the project's by its key, else by
    /// its name) or CTR.
    #[arg(short = 'v', long = "volume", value_name = "SPEC")]
    pub volumes: Vec<String>,
    /// Publish a port: [IP:][HOST:]CTR[/udp].
    #[arg(short = 'p', long = "publish", value_name = "SPEC")]
    pub publish: Vec<String>,
    /// Publish the service's own ports too (run does not by default).
    #[arg(long)]
    pub service_ports: bool,
    /// Add a label: KEY=VALUE.
    #[arg(short = 'l', long = "label", value_name = "KEY=VALUE")]
    pub labels: Vec<String>,
    /// Build the service's image first.
    #[arg(long)]
    pub build: bool,
    /// Pull images first: missing (those not in the store), always, or never.
    #[arg(long, default_value = "missing", value_parser = ["missing", "always", "never"])]
    pub pull: String,
    #[command(flatten)]
    pub registry: crate::cli::RegistryAccessArgs,
    /// SERVICE [COMMAND...]
    #[arg(required = true, trailing_var_arg = true)]
    pub service_and_command: Vec<String>,
}

#[derive(Args, Debug)]
pub struct ComposeExecArgs {
    /// Which replica (container number).
    #[arg(long, default_value_t = 1)]
    pub index: u32,
    #[arg(short, long)]
    pub detach: bool,
    #[arg(short = 'e', long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    #[arg(short, long)]
    pub user: Option<String>,
    #[arg(short, long)]
    pub workdir: Option<String>,
    /// Do not allocate a terminal (one is allocated when stdin is a terminal).
    #[arg(short = 'T', long = "no-TTY", alias = "no-tty")]
    pub no_tty: bool,
    /// SERVICE COMMAND...
    #[arg(required = true, trailing_var_arg = true)]
    pub service_and_command: Vec<String>,
}

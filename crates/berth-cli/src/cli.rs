//! Command-line types only (clap). Names and flags follow Docker's wherever a Docker user
//! would guess them.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

pub use crate::cli_compose::*;
pub use crate::cli_containers::*;

#[derive(Parser, Debug)]
#[command(
    name = "berth",
    version,
    about = "A daemonless container engine: build, run, share images.",
    long_about = "berth builds OCI images, runs containers and moves images to and from registries, as one binary with no daemon. State lives under --root (default /var/lib/berth)."
)]
pub struct Cli {
    /// Store root directory.
    #[arg(long, global = true, env = "BERTH_ROOT", default_value = berth_store::DEFAULT_ROOT, value_name = "DIR")]
    pub root: PathBuf,
    /// Print debug logs.
    #[arg(short = 'D', long, global = true)]
    pub debug: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Make a one-layer image from a rootfs tarball (plain, .gz, .zst or .xz; `-` for stdin).
    Import(ImportArgs),
    /// Build a Debian/Ubuntu base image from nothing with debootstrap.
    Bootstrap(BootstrapArgs),
    /// List images.
    Images(ImagesArgs),
    /// Give an image another name.
    Tag {
        /// Image name or id.
        source: String,
        /// New name[:tag].
        target: String,
    },
    /// Remove images (untag; delete when no name is left).
    Rmi(RmiArgs),
    /// Show the layers an image was made of.
    History(HistoryArgs),
    /// Write images to a docker-archive or oci-archive tarball.
    Save(SaveArgs),
    /// Load images from a docker-archive or oci-archive tarball (format detected).
    Load(LoadArgs),
    /// Manage images.
    #[command(subcommand)]
    Image(ImageCommand),
    /// Store-wide operations.
    #[command(subcommand)]
    System(SystemCommand),

    // --- containers ---
    /// Create a container from an image and run it.
    Run(RunArgs),
    /// Create a container without starting it.
    Create(CreateFlags),
    /// Start stopped containers.
    Start(StartArgs),
    /// Run a command in a running container.
    Exec(ExecArgs),
    /// List containers.
    Ps(PsArgs),
    /// Show a container's output.
    Logs(LogsArgs),
    /// Stop containers (stop signal, then SIGKILL after the timeout).
    Stop(StopArgs),
    /// Send a signal to containers.
    Kill(KillArgs),
    /// Stop and start containers again.
    Restart(StopArgs),
    /// Remove containers.
    Rm(RmArgs),
    /// Wait for containers to stop; print their exit codes.
    Wait {
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Show containers or images as JSON.
    Inspect(AnyInspectArgs),
    /// Copy files between a container and the host: CTR:PATH HOSTPATH or HOSTPATH CTR:PATH.
    Cp { source: String, destination: String },
    /// Show the processes of a container.
    Top { container: String },
    /// Rename a container.
    Rename { container: String, new_name: String },
    /// Make an image from a container's changes.
    Commit(CommitArgs),
    /// Show CPU, memory and process counts of running containers.
    Stats {
        containers: Vec<String>,
        /// One sample, then exit (the only mode berth has).
        #[arg(long)]
        no_stream: bool,
        #[arg(long)]
        format: Option<String>,
    },
    /// Connect to a running container: its output, and our input when it was started with
    /// -i (Ctrl-P Ctrl-Q detaches); exit with its code when it ends.
    Attach { container: String },
    /// Manage volumes.
    #[command(subcommand)]
    Volume(VolumeCommand),
    /// Manage containers.
    #[command(subcommand)]
    Container(ContainerCommand),
    /// Manage bridge networks.
    #[command(subcommand)]
    Network(NetworkCommand),
    /// List a container's published ports, or the host address of one of them.
    Port {
        container: String,
        /// PORT[/PROTO]: show only this container port.
        port: Option<String>,
    },
    /// (internal) The DNS server of a network.
    #[command(hide = true)]
    NetworkDns { id: String },
    /// (internal) The monitor of a detached container.
    #[command(hide = true)]
    ContainerMonitor { id: String },
    /// Check a Dockerfile (`--check`): parse and lint it, show stages, args and instructions.
    Build(BuildArgs),
    /// Manage the build cache.
    #[command(subcommand)]
    Builder(BuilderCommand),
    /// (internal) berth's built-in OCI runtime, with runc's command surface.
    #[command(hide = true)]
    Oci(OciArgs),
    // --- registry: pull, push, login, logout, registry serve/gc, manifest inspect ---
    /// Download an image from a registry: NAME[:TAG|@DIGEST].
    Pull(PullArgs),
    /// Upload an image to a registry: NAME[:TAG] [DESTINATION].
    Push(PushArgs),
    /// Log in to a registry (credentials are kept in auth.json).
    Login(LoginArgs),
    /// Remove the stored credentials of a registry.
    Logout(LogoutArgs),
    /// Serve a registry from a directory, or collect its garbage.
    #[command(subcommand)]
    Registry(RegistryCommand),
    /// Read image manifests from a registry without pulling.
    #[command(subcommand)]
    Manifest(ManifestCommand),
    /// Run multi-container apps from compose files.
    Compose(ComposeArgs),
}

impl Command {
    /// Commands that only print (lists, inspections, logs): a closed stdout ends them.
    pub fn prints_listing(&self) -> bool {
        matches!(
            self,
            Command::Ps(_)
                | Command::Images(_)
                | Command::Image(ImageCommand::Ls(_))
                | Command::Image(ImageCommand::Inspect(_))
                | Command::Image(ImageCommand::History(_))
                | Command::History(_)
                | Command::Inspect(_)
                | Command::Logs(_)
                | Command::Container(ContainerCommand::Ls(_))
                | Command::Container(ContainerCommand::Inspect(_))
        )
    }
}

#[derive(Subcommand, Debug)]
pub enum ImageCommand {
    /// List images.
    #[command(alias = "list")]
    Ls(ImagesArgs),
    /// Show the configuration and layers of images as JSON.
    Inspect(InspectArgs),
    /// Remove images.
    Rm(RmiArgs),
    /// Remove unused images, by age, count or label.
    Prune(PruneArgs),
    /// Show the layers an image was made of.
    History(HistoryArgs),
    /// Give an image another name.
    Tag { source: String, target: String },
    /// Make a one-layer image from a rootfs tarball.
    Import(ImportArgs),
    /// Write images to an archive.
    Save(SaveArgs),
    /// Load images from an archive.
    Load(LoadArgs),
}

#[derive(Subcommand, Debug)]
pub enum SystemCommand {
    /// Show disk usage of the store (bytes really on disk).
    Df(DfArgs),
    /// Remove dangling images and garbage; --max-size evicts least recently used images.
    Prune(SystemPruneArgs),
    /// Remove everything of this store: containers (stopped first), networks with their
    /// bridges and firewall rules, volumes, images, build cache, then the store's files.
    Reset {
        /// Do not ask; needed when stdin is not a terminal.
        #[arg(short, long)]
        force: bool,
    },
    /// Verify every blob and reference; --repair fixes what it can.
    Check {
        /// Remove corrupt content and broken references, then collect garbage.
        #[arg(long)]
        repair: bool,
    },
}

#[derive(Args, Debug)]
pub struct ImportArgs {
    /// Rootfs tarball, or `-` for stdin.
    pub file: String,
    /// Name for the image, NAME[:TAG].
    pub reference: Option<String>,
    /// Apply a Dockerfile instruction to the config (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR).
    #[arg(short = 'c', long = "change", value_name = "INSTRUCTION")]
    pub changes: Vec<String>,
    /// Commit message recorded in the history.
    #[arg(short, long)]
    pub message: Option<String>,
    /// Leave device nodes out instead of refusing the tarball.
    #[arg(long, conflicts_with = "allow_devices")]
    pub skip_devices: bool,
    /// Keep device nodes (they are created when the layer is unpacked).
    #[arg(long)]
    pub allow_devices: bool,
    /// Print only the image id.
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Args, Debug)]
pub struct BootstrapArgs {
    /// DISTRO:SUITE, e.g. debian:bookworm.
    pub what: String,
    /// debootstrap variant.
    #[arg(long, default_value = "minbase")]
    pub variant: String,
    /// Extra packages, comma separated.
    #[arg(long, value_delimiter = ',')]
    pub include: Vec<String>,
    /// Package mirror URL (default: the host's apt sources, else debootstrap's default).
    #[arg(long)]
    pub mirror: Option<String>,
    /// Name for the image (default: DISTRO:SUITE).
    #[arg(short = 't', long = "tag")]
    pub tags: Vec<String>,
}

#[derive(Args, Debug)]
pub struct ImagesArgs {
    /// Only images of this repository (and tag).
    pub reference: Option<String>,
    /// Show all images (berth keeps no intermediate images, so the same as without).
    #[arg(short, long)]
    pub all: bool,
    /// Only ids.
    #[arg(short, long)]
    pub quiet: bool,
    /// Show full ids.
    #[arg(long)]
    pub no_trunc: bool,
    /// label=K[=V], dangling=true|false, before=IMAGE, since=IMAGE, reference=PATTERN.
    #[arg(short, long = "filter")]
    pub filters: Vec<String>,
    /// `json` (one object per line), `table`, or a template such as '{{.Repository}}:{{.Tag}}'.
    #[arg(long)]
    pub format: Option<String>,
}

#[derive(Args, Debug)]
pub struct RmiArgs {
    #[arg(required = true)]
    pub images: Vec<String>,
    /// Remove even if used by containers or named in several repositories.
    #[arg(short, long)]
    pub force: bool,
}

#[derive(Args, Debug)]
pub struct HistoryArgs {
    pub image: String,
    #[arg(long)]
    pub no_trunc: bool,
    #[arg(short, long)]
    pub quiet: bool,
    #[arg(long)]
    pub format: Option<String>,
}

#[derive(Args, Debug)]
pub struct InspectArgs {
    #[arg(required = true)]
    pub images: Vec<String>,
    /// A template such as '{{.Config.Cmd}}' or '{{json .RootFS}}'.
    #[arg(short, long)]
    pub format: Option<String>,
    /// Inspect the image in its registry instead of the local store.
    #[arg(long)]
    pub remote: bool,
    #[command(flatten)]
    pub registry: RegistryAccessArgs,
}

#[derive(Args, Debug)]
pub struct SaveArgs {
    #[arg(required = true)]
    pub images: Vec<String>,
    /// Output file (default: stdout, when it is not a terminal).
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// docker-archive or oci-archive.
    #[arg(long, default_value = "docker-archive")]
    pub format: String,
    /// Recompress layers of an oci-archive: gzip or zstd.
    #[arg(long)]
    pub compression: Option<String>,
}

#[derive(Args, Debug)]
pub struct LoadArgs {
    /// Archive to read (default: stdin).
    #[arg(short, long)]
    pub input: Option<PathBuf>,
    /// Print only image ids.
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Args, Debug)]
pub struct PruneArgs {
    /// Remove all unused images, not just dangling ones.
    #[arg(short, long)]
    pub all: bool,
    /// until=DURATION, unused-for=DURATION, label=K[=V], label!=K[=V].
    #[arg(long = "filter")]
    pub filters: Vec<String>,
    /// Keep the newest N images of each repository.
    #[arg(long, value_name = "N")]
    pub keep: Option<usize>,
    /// Do not ask for confirmation.
    #[arg(short, long)]
    pub force: bool,
}

#[derive(Args, Debug)]
pub struct SystemPruneArgs {
    /// Remove all unused images, not just dangling ones.
    #[arg(short, long)]
    pub all: bool,
    /// Evict least recently used images until the store is at most this big (e.g. 20GB).
    #[arg(long, value_name = "SIZE")]
    pub max_size: Option<String>,
    #[arg(short, long)]
    pub force: bool,
}

#[derive(Args, Debug)]
pub struct DfArgs {
    /// `json` or `table`.
    #[arg(long)]
    pub format: Option<String>,
    /// Show each image.
    #[arg(short, long)]
    pub verbose: bool,
}

// --- registry: argument types of pull, push, login, logout, registry, manifest ---

#[derive(Args, Debug, Clone)]
pub struct RegistryAccessArgs {
    /// Require https with a verified certificate; `--tls-verify=false` also allows plain http
    /// and self-signed certificates (for local registries).
    #[arg(long, value_name = "BOOL", default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub tls_verify: bool,
    /// Credentials file (default: REGISTRY_AUTH_FILE, else the podman and Docker locations).
    #[arg(long, value_name = "FILE")]
    pub authfile: Option<PathBuf>,
    /// USER:PASSWORD to use for this command instead of stored credentials.
    #[arg(long, value_name = "USER:PASSWORD")]
    pub creds: Option<String>,
}

#[derive(Args, Debug)]
pub struct PullArgs {
    /// NAME[:TAG|@DIGEST], e.g. 127.0.0.1:5000/app:1.0.
    pub reference: String,
    /// Pull every tag of the repository.
    #[arg(short, long)]
    pub all_tags: bool,
    /// OS/ARCH[/VARIANT] to pick from multi-platform images (default: this machine's).
    #[arg(long)]
    pub platform: Option<String>,
    /// Pull every platform of a multi-platform image and keep its index (so `berth push`
    /// sends them all); the name runs this machine's (or --platform's) image.
    #[arg(long)]
    pub all_platforms: bool,
    /// Layers downloaded at once.
    #[arg(long, default_value_t = 3, value_name = "N")]
    pub max_concurrent_downloads: usize,
    /// Print only the image id.
    #[arg(short, long)]
    pub quiet: bool,
    #[command(flatten)]
    pub registry: RegistryAccessArgs,
}

#[derive(Args, Debug)]
pub struct PushArgs {
    /// Image to push: NAME[:TAG] or id.
    pub image: String,
    /// Where to push it, NAME[:TAG] (default: the image's own name).
    pub destination: Option<String>,
    /// Recompress layers stored otherwise: gzip or zstd (the manifest then becomes OCI).
    #[arg(long)]
    pub compression: Option<String>,
    /// Layers uploaded at once.
    #[arg(long, default_value_t = 3, value_name = "N")]
    pub max_concurrent_uploads: usize,
    /// Upload blobs larger than this in resumable chunks of this size (e.g. 16MB).
    #[arg(long, default_value = "16MB", value_name = "SIZE")]
    pub chunk_size: String,
    /// Print only the manifest digest.
    #[arg(short, long)]
    pub quiet: bool,
    #[command(flatten)]
    pub registry: RegistryAccessArgs,
}

#[derive(Args, Debug)]
pub struct LoginArgs {
    /// Registry host[:port].
    pub server: String,
    #[arg(short, long)]
    pub username: Option<String>,
    /// Password (prefer --password-stdin: arguments are visible to other users).
    #[arg(short, long)]
    pub password: Option<String>,
    /// Read the password from standard input.
    #[arg(long)]
    pub password_stdin: bool,
    /// Require https with a verified certificate (`--tls-verify=false` for local registries).
    #[arg(long, value_name = "BOOL", default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub tls_verify: bool,
    /// Credentials file to write (default: REGISTRY_AUTH_FILE, else podman's auth.json).
    #[arg(long, value_name = "FILE")]
    pub authfile: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct LogoutArgs {
    /// Registry host[:port].
    pub server: String,
    /// Credentials file (default: REGISTRY_AUTH_FILE, else podman's auth.json).
    #[arg(long, value_name = "FILE")]
    pub authfile: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
pub enum RegistryCommand {
    /// Serve an OCI distribution registry from the directory given with --root (created if
    /// missing; with the default store root, its `registry/` subdirectory).
    Serve(ServeArgs),
    /// Delete what nothing references in the registry served from --root (safe while it
    /// serves).
    Gc(RegistryGcArgs),
    /// Verify every blob and reference of the registry served from --root.
    Check,
}

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:5000")]
    pub addr: String,
    /// Require logins checked against this htpasswd file (bcrypt entries, `htpasswd -B`).
    #[arg(long, value_name = "FILE")]
    pub htpasswd: Option<PathBuf>,
    /// With --htpasswd: `basic` auth on every request, or `token` (bearer tokens from /token).
    #[arg(long, default_value = "basic", value_name = "MODE")]
    pub auth: String,
    /// PEM certificate chain for https.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for https.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Largest blob accepted (e.g. 10GB).
    #[arg(long, default_value = berth_registry::client::DEFAULT_MAX_UPLOAD, value_name = "SIZE")]
    pub max_upload_size: String,
}

#[derive(Args, Debug)]
pub struct RegistryGcArgs {
    /// Also delete manifests no tag or index reaches.
    #[arg(long)]
    pub delete_untagged: bool,
    /// Keep unreferenced blobs younger than this (uploads in flight), e.g. 1h or 0s.
    #[arg(long, default_value = "1h", value_name = "DURATION")]
    pub grace: String,
    /// Only report what would be deleted.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Subcommand, Debug)]
pub enum ManifestCommand {
    /// Print an image's manifest (or index) as the registry serves it.
    Inspect(ManifestInspectArgs),
}

#[derive(Args, Debug)]
pub struct ManifestInspectArgs {
    /// NAME[:TAG|@DIGEST].
    pub reference: String,
    #[command(flatten)]
    pub registry: RegistryAccessArgs,
}

//! One function per command; each opens the store, calls the engine, prints.

mod archive;
mod build;
mod compose;
mod containers;
mod images;
mod network;
mod oci;
mod registry;
mod system;

use crate::cli::{Cli, Command, ContainerCommand, ImageCommand, SystemCommand};
use crate::cli::{ManifestCommand, RegistryCommand};
use anyhow::{Context, Result};
use berth_store::Store;
use std::path::Path;

pub fn open_store(root: &Path) -> Result<Store> {
    Store::open(root).with_context(|| {
        format!(
            "cannot open the berth store at {} (set --root or BERTH_ROOT to use another directory)",
            root.display()
        )
    })
}

/// Runs a command; returns the process exit code.
pub fn run(cli: Cli) -> Result<i32> {
    let root = cli.root.clone();
    match cli.command {
        Command::Import(a) | Command::Image(ImageCommand::Import(a)) => archive::import(&root, a),
        Command::Bootstrap(a) => archive::bootstrap(&root, a),
        Command::Save(a) | Command::Image(ImageCommand::Save(a)) => archive::save(&root, a),
        Command::Load(a) | Command::Image(ImageCommand::Load(a)) => archive::load(&root, a),
        Command::Images(a) | Command::Image(ImageCommand::Ls(a)) => images::list(&root, a),
        Command::Tag { source, target } | Command::Image(ImageCommand::Tag { source, target }) => {
            images::tag(&root, &source, &target)
        }
        Command::Rmi(a) | Command::Image(ImageCommand::Rm(a)) => images::rmi(&root, a),
        Command::History(a) | Command::Image(ImageCommand::History(a)) => images::history(&root, a),
        Command::Image(ImageCommand::Inspect(a)) if a.remote => registry::inspect_remote(a),
        Command::Image(ImageCommand::Inspect(a)) => images::inspect(&root, a),
        Command::Image(ImageCommand::Prune(a)) => images::prune(&root, a),
        Command::System(SystemCommand::Df(a)) => system::df(&root, a),
        Command::System(SystemCommand::Prune(a)) => system::prune(&root, a),
        Command::System(SystemCommand::Check { repair }) => system::check(&root, repair),
        Command::System(SystemCommand::Reset { force }) => system::reset(&root, force),

        // Containers: berth's own failures exit 125 (as Docker), the command's exit code otherwise.
        Command::Run(a) => run_family(containers::run(&root, a)),
        Command::Create(a) => run_family(containers::create(&root, a)),
        Command::Start(a) => run_family(containers::start(&root, a)),
        Command::Exec(a) => run_family(containers::exec(&root, a)),
        Command::Ps(a) | Command::Container(ContainerCommand::Ls(a)) => containers::ps(&root, a),
        Command::Logs(a) => containers::logs(&root, a),
        Command::Stop(a) => containers::stop(&root, a),
        Command::Restart(a) => containers::restart(&root, a),
        Command::Kill(a) => containers::kill(&root, a),
        Command::Rm(a) => containers::rm(&root, a),
        Command::Wait { containers: c } => containers::wait(&root, c),
        Command::Inspect(a) | Command::Container(ContainerCommand::Inspect(a)) => {
            containers::inspect(&root, a)
        }
        Command::Cp {
            source,
            destination,
        } => containers::cp(&root, &source, &destination),
        Command::Top { container } => containers::top(&root, &container),
        Command::Rename {
            container,
            new_name,
        } => containers::rename(&root, &container, &new_name),
        Command::Commit(a) => containers::commit(&root, a),
        Command::Stats {
            containers: c,
            no_stream: _,
            format,
        } => containers::stats(&root, &c, format.as_deref()),
        Command::Attach { container } => containers::attach(&root, &container),
        Command::Volume(v) => containers::volume(&root, v),
        Command::Container(ContainerCommand::Prune { force }) => {
            containers::container_prune(&root, force)
        }
        Command::ContainerMonitor { id } => containers::monitor(&root, &id),
        Command::Network(n) => network::network(&root, n),
        Command::Port { container, port } => network::port(&root, &container, port.as_deref()),
        Command::NetworkDns { id } => network::dns(&root, &id),
        Command::Oci(a) => Ok(oci::main(&root, a)),
        Command::Build(a) => build::run(&root, a),
        Command::Builder(b) => build::builder(&root, b),

        // registry
        Command::Pull(a) => registry::pull(&root, a),
        Command::Push(a) => registry::push(&root, a),
        Command::Login(a) => registry::login(a),
        Command::Logout(a) => registry::logout(a),
        Command::Registry(RegistryCommand::Serve(a)) => registry::serve(&root, a),
        Command::Registry(RegistryCommand::Gc(a)) => registry::gc(&root, a),
        Command::Registry(RegistryCommand::Check) => registry::check(&root),
        Command::Manifest(ManifestCommand::Inspect(a)) => registry::manifest_inspect(a),
        Command::Compose(a) => match &a.command {
            crate::cli::ComposeCommand::Run(_) | crate::cli::ComposeCommand::Exec(_) => {
                run_family(compose::run(&root, a))
            }
            _ => compose::run(&root, a),
        },
    }
}

/// Prints the error of a run-family command and turns it into its exit code.
fn run_family(r: Result<i32>) -> Result<i32> {
    r.or_else(|e| {
        eprintln!("berth: error: {}", crate::output::error_chain(&e));
        let code = exit_code_for(&e);
        Ok(if code == 1 { 125 } else { code })
    })
}

/// 126/127 when the container's command could not be run, 125 for berth's own failures
/// in run-family commands, 1 elsewhere.
pub fn exit_code_for(e: &anyhow::Error) -> i32 {
    for c in e.chain() {
        if let Some(berth_runtime::Error::Command { code, .. }) =
            c.downcast_ref::<berth_runtime::Error>()
        {
            return *code;
        }
    }
    if e.chain()
        .any(|c| c.downcast_ref::<berth_runtime::Error>().is_some())
    {
        125
    } else {
        1
    }
}

/// Asks "y/N" on a terminal; elsewhere (scripts, CI) goes ahead.
pub fn confirm(question: &str) -> bool {
    use std::io::{BufRead, IsTerminal, Write};
    if !std::io::stdin().is_terminal() {
        return true;
    }
    eprint!("{question} [y/N] ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    let _ = std::io::stdin().lock().read_line(&mut line);
    matches!(line.trim(), "y" | "Y" | "yes")
}

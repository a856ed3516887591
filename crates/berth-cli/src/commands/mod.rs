//! One function per command; each opens the store, calls the engine, prints.

mod archive;
mod images;
mod registry;
mod system;

use crate::cli::{Cli, Command, ImageCommand, SystemCommand};
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
        // registry
        Command::Pull(a) => registry::pull(&root, a),
        Command::Push(a) => registry::push(&root, a),
        Command::Login(a) => registry::login(a),
        Command::Logout(a) => registry::logout(a),
        Command::Registry(RegistryCommand::Serve(a)) => registry::serve(&root, a),
        Command::Registry(RegistryCommand::Gc(a)) => registry::gc(&root, a),
        Command::Registry(RegistryCommand::Check) => registry::check(&root),
        Command::Manifest(ManifestCommand::Inspect(a)) => registry::manifest_inspect(a),
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

//! The `berth` binary: parse the command line, run one command, map errors to exit codes.

mod cli;
mod cli_compose;
mod cli_containers;
mod commands;
mod output;
mod progress;

use clap::Parser;

fn main() {
    berth_runtime::timing::begin();
    // Commands that start a container (or a process in one) warm the kernel's cgroup
    // migration path from the first moment (ADR 0023). Not the built-in runtime's own
    // `oci` process: libcontainer forks there with no thread allowed to come or go.
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    if !args.iter().any(|a| a == "oci")
        && args
            .iter()
            .any(|a| a == "run" || a == "exec" || a == "start" || a == "container-monitor")
    {
        berth_runtime::cgroup_warm::begin();
    }
    let args = cli::Cli::parse();
    if args.command.prints_listing() {
        restore_sigpipe();
    }
    // The built-in OCI runtime's stderr is the container's: it logs to --log only.
    if !matches!(args.command, cli::Command::Oci(_)) {
        output::init_logging(args.debug);
    }
    berth_runtime::timing::mark("parsed");
    let code = match commands::run(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("berth: error: {}", output::error_chain(&e));
            commands::exit_code_for(&e)
        }
    };
    berth_runtime::timing::mark("exit");
    std::process::exit(code);
}

/// `berth ps | head -1`: end quietly when the reader goes away, as Unix tools do, instead
/// of panicking on a write to a closed pipe (Rust ignores SIGPIPE by default).
fn restore_sigpipe() {
    #[allow(unsafe_code)]
    // SAFETY: called at the start of main, before any thread exists; installs the default
    // disposition for one signal and touches no memory.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn command_line_definition_is_consistent() {
        use clap::CommandFactory;
        crate::cli::Cli::command().debug_assert();
    }
}

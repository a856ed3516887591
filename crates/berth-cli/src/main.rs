//! The `berth` binary: parse the command line, run one command, map errors to exit codes.

mod cli;
mod commands;
mod output;
mod progress;

use clap::Parser;

fn main() {
    let args = cli::Cli::parse();
    output::init_logging(args.debug);
    let code = match commands::run(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("berth: error: {}", output::error_chain(&e));
            1
        }
    };
    std::process::exit(code);
}

//! `berth oci ...`: the built-in OCI runtime's command line (runc-compatible subset).

use crate::cli::{OciArgs, OciVerb};
use berth_runtime::oci;
use std::io::Write;
use std::path::Path;

/// Runs one verb; errors go to stderr and to `--log` in runc's text format.
pub fn main(state: &Path, a: OciArgs) -> i32 {
    let res: Result<i32, String> = match a.verb {
        OciVerb::Run {
            bundle,
            pid_file,
            id,
        } => oci::run(state, &bundle, pid_file.as_deref(), &id),
        OciVerb::Exec {
            tty,
            detach,
            caps,
            user,
            additional_gids,
            cwd,
            env,
            id,
            args,
        } => {
            let user = user.as_deref().map(|u| {
                let (a, b) = u.split_once(':').unwrap_or((u, "0"));
                (a.parse().unwrap_or(0), b.parse().unwrap_or(0))
            });
            oci::exec(
                state,
                &id,
                oci::ExecArgs {
                    tty,
                    detach,
                    caps,
                    user,
                    additional_gids,
                    cwd,
                    env,
                    args,
                    null_stdin: false,
                },
                None,
            )
        }
        OciVerb::Kill { all, id, signal } => {
            oci::kill_container(state, &id, &signal, all).map(|_| 0)
        }
        OciVerb::Delete { force, id } => oci::delete(state, &id, force).map(|_| 0),
        OciVerb::State { id } => oci::state(state, &id).map(|s| {
            println!("{s}");
            0
        }),
        OciVerb::Ps { id, .. } => oci::ps(state, &id).map(|p| {
            println!("{}", serde_json::to_string(&p).unwrap_or_default());
            0
        }),
    };
    match res {
        Ok(code) => code,
        Err(e) => {
            if a.log.is_none() {
                eprintln!("berth oci: {e}");
            }
            if let Some(log) = a.log {
                if let Ok(mut f) = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(log)
                {
                    let _ = writeln!(
                        f,
                        "time=\"{}\" level=error msg=\"{}\"",
                        jiff::Timestamp::now(),
                        e.replace('"', "\\\"")
                    );
                }
            }
            1
        }
    }
}

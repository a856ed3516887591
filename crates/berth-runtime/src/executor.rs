//! Running a bundle with an OCI runtime: berth's built-in one (libcontainer, reached as
//! `berth oci ...`) by default, runc or any OCI runtime binary with `--runtime NAME|PATH`.
//! All speak runc's command surface. The monitor owns the `run` child; other verbs are
//! one-shot calls.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub struct Executor {
    /// The runtime binary.
    pub binary: PathBuf,
    /// Its state directory (`--root`).
    pub state: PathBuf,
    /// Arguments after `--root DIR` that select the runtime (`oci` for berth's own).
    prefix: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
#[error("{runtime} {verb} failed: {message}")]
pub struct ExecutorError {
    pub runtime: String,
    pub verb: &'static str,
    pub message: String,
}

impl Executor {
    /// `runtime` empty or `berth` selects the built-in runtime (the `self_exe` binary).
    pub fn new(runtime: &str, berth_root: &Path, self_exe: &Path) -> Executor {
        if runtime.is_empty() || runtime == "berth" {
            return Executor {
                binary: self_exe.to_path_buf(),
                state: berth_root.join("runtime").join("berth"),
                prefix: vec!["oci".into()],
            };
        }
        let name = Path::new(runtime)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "runtime".into());
        Executor {
            binary: PathBuf::from(runtime),
            state: berth_root.join("runtime").join(name),
            prefix: vec![],
        }
    }

    /// berth's own runtime (libcontainer), which the monitor may also call in-process.
    pub fn is_builtin(&self) -> bool {
        self.prefix.first().is_some_and(|p| p == "oci")
    }

    fn name(&self) -> String {
        self.binary.display().to_string()
    }

    pub fn command(&self) -> Command {
        let mut c = Command::new(&self.binary);
        c.arg("--root").arg(&self.state).args(&self.prefix);
        c
    }

    /// `run` in the foreground: the runtime stays the parent of the container's init.
    pub fn run_command(&self, id: &str, bundle: &Path, pid_file: &Path, log: &Path) -> Command {
        let mut c = self.command();
        c.arg("--log")
            .arg(log)
            .arg("run")
            .arg("--bundle")
            .arg(bundle)
            .arg("--pid-file")
            .arg(pid_file)
            .arg(id);
        c
    }

    fn one_shot(&self, verb: &'static str, args: &[&str]) -> Result<(), ExecutorError> {
        let out = self
            .command()
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| ExecutorError {
                runtime: self.name(),
                verb,
                message: format!("{e} (is it installed? apt-get install runc)"),
            })?;
        if out.status.success() {
            Ok(())
        } else {
            Err(ExecutorError {
                runtime: self.name(),
                verb,
                message: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            })
        }
    }

    /// Sends `signal` to the container's init, as Docker does: the init decides how the
    /// rest stops (gunicorn's master drains its workers, postgres its backends,
    /// supervisord stops its programs in order with their own stop signals; a signal
    /// sent to every process at once bypassed all that and killed health checks in
    /// flight). SIGKILL goes to every process (`kill --all`), so that nothing outlives a
    /// container whose init is gone.
    pub fn kill(&self, id: &str, signal: &str) -> Result<(), ExecutorError> {
        if crate::ops::signal_number(signal) == Some(libc::SIGKILL) {
            self.one_shot("kill", &["kill", "--all", id, signal])
        } else {
            self.one_shot("kill", &["kill", id, signal])
        }
    }

    /// Forgets the container in the runtime; nothing to do (no process spawned) when the
    /// runtime keeps no state for it, as after a `run` that ended normally.
    pub fn delete(&self, id: &str) -> Result<(), ExecutorError> {
        if !self.state.join(id).exists() {
            return Ok(());
        }
        self.one_shot("delete", &["delete", "--force", id])
    }

    /// Whether the runtime still knows the container.
    pub fn exists(&self, id: &str) -> bool {
        self.command()
            .args(["state", id])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    }
}

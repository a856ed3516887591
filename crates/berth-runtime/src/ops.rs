//! Verbs on existing containers: refresh (the truth after a crash), stop, kill, restart,
//! wait, rm, exec, rename.

use crate::fsroot::{check_command, resolve_user, RootDir};
use crate::model::{Container, Status};
use crate::{io_err, rootfs, Error, Result, Runtime};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

fn alive(pid: i32) -> bool {
    pid > 0
        && Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| s.contains(") Z "))
            .unwrap_or(true)
}

/// The `berth` cgroup parent in every mounted hierarchy (v1 controllers, v2).
fn cgroup_parents() -> Vec<std::path::PathBuf> {
    let base = Path::new("/sys/fs/cgroup");
    let mut parents = vec![base.join("berth"), base.join("unified").join("berth")];
    if let Ok(rd) = std::fs::read_dir(base) {
        parents.extend(rd.flatten().map(|e| e.path().join("berth")));
    }
    parents.sort();
    parents.dedup();
    parents.retain(|p| p.is_dir());
    parents
}

/// Removes a cgroup and the cgroups below it, deepest first, when none holds a process
/// (systemd in a `--systemd` container makes its own below the container's, which the
/// runtime's delete does not remove). Whether it is gone.
fn remove_cgroup_tree(dir: &Path) -> bool {
    // Most often a leaf no process holds any more: one rmdir. The kernel refuses (EBUSY)
    // one that still has a process or a child cgroup; those take the way below.
    match std::fs::remove_dir(dir) {
        Ok(()) => return true,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return true,
        Err(_) => {}
    }
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                remove_cgroup_tree(&e.path());
            }
        }
    }
    if !std::fs::read_to_string(dir.join("cgroup.procs")).is_ok_and(|p| p.trim().is_empty()) {
        return false;
    }
    // Empty but busy: the last task is still being released by the kernel.
    for delay_ms in [0, 1, 2, 4, 8] {
        if delay_ms > 0 {
            std::thread::sleep(Duration::from_millis(delay_ms));
        }
        match std::fs::remove_dir(dir) {
            Ok(()) => return true,
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => continue,
            Err(e) => return e.kind() == std::io::ErrorKind::NotFound,
        }
    }
    false
}

/// Removes container `id`'s cgroups in every hierarchy (what its runtime's delete left,
/// or all of them once its init has ended). Whether none is left.
pub(crate) fn remove_container_cgroups(id: &str) -> bool {
    let mut all = true;
    for parent in cgroup_parents() {
        all &= remove_cgroup_tree(&parent.join(id));
    }
    all
}

/// A signal's number from its name ("SIGTERM", "term", "15", "SIGRTMIN+3"): the one
/// parser of signal names for stop, kill and the runtimes.
pub(crate) fn signal_number(name: &str) -> Option<i32> {
    let up = name.to_ascii_uppercase();
    let bare = up.strip_prefix("SIG").unwrap_or(&up);
    if let Ok(n) = bare.parse::<i32>() {
        return Some(n);
    }
    format!("SIG{bare}")
        .parse::<nix::sys::signal::Signal>()
        .map(|s| s as i32)
        .ok()
        .or_else(|| realtime_signal(name))
}

/// `SIGRTMIN+N`, `RTMIN+N`, `SIGRTMAX-N` or a number in the real-time range.
fn realtime_signal(sig: &str) -> Option<i32> {
    let s = sig.to_ascii_uppercase();
    let s = s.strip_prefix("SIG").unwrap_or(&s);
    let (min, max) = (libc::SIGRTMIN(), libc::SIGRTMAX());
    let n = if let Some(rest) = s.strip_prefix("RTMIN") {
        min + rest.strip_prefix('+').map_or(Some(0), |r| r.parse().ok())?
    } else if let Some(rest) = s.strip_prefix("RTMAX") {
        max - rest.strip_prefix('-').map_or(Some(0), |r| r.parse().ok())?
    } else {
        s.parse::<i32>().ok().filter(|n| *n >= min)?
    };
    (min..=max).contains(&n).then_some(n)
}

/// Whether process `pid` has a handler for signal `sig` (not ignoring it, not the
/// default); `None` when it cannot be read (it is gone).
fn caught(pid: i32, sig: i32) -> Option<bool> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let mask = status
        .lines()
        .find_map(|l| l.strip_prefix("SigCgt:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())?;
    Some(mask & (1u64 << (sig - 1)) != 0)
}

/// Whether `pid` is the monitor of container `id` (guards against pid reuse).
fn is_monitor(pid: i32, id: &str) -> bool {
    alive(pid)
        && std::fs::read(format!("/proc/{pid}/cmdline"))
            .map(|c| String::from_utf8_lossy(&c).contains(id))
            .unwrap_or(false)
}

/// Exec options (`berth exec`).
#[derive(Debug, Clone, Default)]
pub struct ExecOptions {
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub user: Option<String>,
    pub workdir: Option<String>,
    pub tty: bool,
    pub interactive: bool,
    pub detach: bool,
    pub privileged: bool,
}

impl Runtime {
    /// Reconciles a container's record with reality: a running container whose monitor
    /// died (kill -9) is reported as running while its init lives, and as exited (and
    /// cleaned up) once it does not.
    pub fn refresh(&self, c: Container) -> Result<Container> {
        if !matches!(c.state.status, Status::Running | Status::Restarting)
            || is_monitor(c.state.monitor_pid, &c.id)
        {
            return Ok(c);
        }
        if c.state.status == Status::Running && alive(c.state.pid) {
            return Ok(c);
        }
        // Nobody is watching and nothing runs: record the end and release what it held.
        let _ = self.executor(&c).delete(&c.id);
        remove_container_cgroups(&c.id);
        let _ = rootfs::unmount_overlay(&self.dir(&c.id).join("rootfs"));
        // Not fatal here (this runs inside ps/inspect): the endpoint records stay, and
        // rm or system prune release them and report a failure.
        if let Err(e) = self.teardown_network(&c.id) {
            eprintln!("berth: container {}: release its network: {e}", c.name);
        }
        let c = self.update(&c.id, |x| {
            x.state.status = Status::Exited;
            x.state.pid = 0;
            if x.state.exit_code.is_none() {
                x.state.exit_code = Some(255);
            }
            if x.state.error.is_empty() {
                x.state.error = "the container's monitor died; its exit code is unknown".into();
            }
            x.state
                .finished_at
                .get_or_insert_with(|| jiff::Timestamp::now().to_string());
        })?;
        if c.config.auto_remove {
            self.remove(&c.id, true, true)?;
        }
        Ok(c)
    }

    /// All containers, reconciled.
    pub fn list_refreshed(&self) -> Result<Vec<Container>> {
        let mut out = Vec::new();
        for c in self.list()? {
            let id = c.id.clone();
            match self.refresh(c) {
                Ok(c) => out.push(c),
                Err(Error::Store(berth_store::Error::NotFound(_))) => {} // --rm removed it
                Err(e) => return Err(Error::Invalid(format!("container {id}: {e}"))),
            }
        }
        Ok(out)
    }

    fn wait_until_stopped(&self, id: &str, timeout: Duration) -> Result<bool> {
        let until = Instant::now() + timeout;
        loop {
            let c = match self.get(id) {
                Ok(c) => self.refresh(c)?,
                Err(Error::Store(berth_store::Error::NotFound(_))) => return Ok(true),
                Err(e) => return Err(e),
            };
            if !matches!(c.state.status, Status::Running | Status::Restarting) {
                return Ok(true);
            }
            if Instant::now() >= until {
                return Ok(false);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits up to `timeout` for a container sent its stop signal to end. The kernel
    /// drops a signal sent to a namespace's PID 1 that has no handler for it (default or
    /// ignored); an app that installs its handler only after it started (Python, the JVM,
    /// a shell's `trap`) would then sit out the whole timeout. So when the init had no
    /// handler, the signal is sent again once it has one: it gets the signal as soon as
    /// it can take it.
    /// `dropped`: the init had no handler when the signal was sent.
    fn wait_stopping(&self, c: &Container, timeout: Duration, dropped: bool) -> Result<bool> {
        let sig = signal_number(&c.config.stop_signal);
        let until = Instant::now() + timeout;
        let mut dropped = dropped;
        loop {
            let step = Instant::now() + Duration::from_millis(100);
            if self.wait_until_stopped(&c.id, step.min(until) - Instant::now())? {
                return Ok(true);
            }
            if Instant::now() >= until {
                return Ok(false);
            }
            if let (true, Some(s)) = (dropped, sig) {
                if caught(c.state.pid, s) == Some(true) {
                    let _ = self.executor(c).kill(&c.id, &c.config.stop_signal);
                    dropped = false;
                }
            }
        }
    }

    /// `berth stop`: the stop signal, then SIGKILL after `timeout`.
    pub fn stop(&self, what: &str, timeout: Option<u64>) -> Result<Container> {
        let c = self.refresh(self.get(what)?)?;
        if !matches!(c.state.status, Status::Running | Status::Restarting) {
            return Ok(c);
        }
        let c = self.update(&c.id, |x| x.state.stop_requested = true)?;
        let exe = self.executor(&c);
        let mut dropped = false;
        if c.state.status == Status::Running {
            dropped = signal_number(&c.config.stop_signal)
                .is_some_and(|s| caught(c.state.pid, s) == Some(false));
            let _ = exe.kill(&c.id, &c.config.stop_signal);
        }
        let t = Duration::from_secs(timeout.unwrap_or(c.config.stop_timeout));
        if !self.wait_stopping(&c, t, dropped)? {
            let _ = exe.kill(&c.id, "KILL");
            if !self.wait_until_stopped(&c.id, Duration::from_secs(10))? {
                return Err(Error::Conflict(format!(
                    "container {} did not stop after SIGKILL",
                    c.name
                )));
            }
        }
        self.get(&c.id).or_else(|_| Ok(c))
    }

    /// `berth kill`.
    pub fn kill(&self, what: &str, signal: &str) -> Result<Container> {
        let c = self.refresh(self.get(what)?)?;
        if c.state.status != Status::Running {
            return Err(Error::Conflict(format!(
                "container {} is not running",
                c.name
            )));
        }
        if matches!(signal_number(signal), Some(libc::SIGKILL | libc::SIGTERM)) {
            self.update(&c.id, |x| x.state.stop_requested = true)?;
        }
        if let Err(e) = self.executor(&c).kill(&c.id, signal) {
            // It may have ended between the check above and the signal.
            let now = self.refresh(self.get(&c.id)?)?;
            if now.state.status != Status::Running || !alive(now.state.pid) {
                return Err(Error::Conflict(format!(
                    "container {} is not running (the runtime said: {e})",
                    c.name
                )));
            }
            return Err(e.into());
        }
        Ok(c)
    }

    /// `berth wait`: blocks until the container is not running; its exit code.
    pub fn wait(&self, what: &str) -> Result<i32> {
        let id = self.get(what)?.id;
        loop {
            let c = self.refresh(self.get(&id)?)?;
            if matches!(c.state.status, Status::Exited | Status::Dead)
                || (c.state.status == Status::Created && c.state.exit_code.is_some())
            {
                return Ok(c.state.exit_code.unwrap_or(0));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `berth rm [-f] [-v]`.
    pub fn remove(&self, what: &str, force: bool, volumes: bool) -> Result<()> {
        let c = match self.get(what) {
            Ok(c) => self.refresh(c)?,
            Err(e) => return Err(e),
        };
        if matches!(c.state.status, Status::Running | Status::Restarting) {
            if !force {
                return Err(Error::Conflict(format!(
                    "you cannot remove a running container {}: stop it first, or use rm -f",
                    &c.id[..12]
                )));
            }
            self.update(&c.id, |x| x.state.stop_requested = true)?;
            let _ = self.executor(&c).kill(&c.id, "KILL");
            self.wait_until_stopped(&c.id, Duration::from_secs(10))?;
        }
        let _ = self.executor(&c).delete(&c.id);
        remove_container_cgroups(&c.id);
        let dir = self.dir(&c.id);
        rootfs::unmount_overlay(&dir.join("rootfs")).map_err(io_err("unmount the rootfs"))?;
        crate::timing::mark("rm: unmounted");
        // Before the record goes: the endpoints say what to release.
        self.teardown_network(&c.id)?;
        let vols = self.store.container_volumes(&c.id)?;
        self.store.delete_container(&c.id)?;
        crate::timing::mark("rm: record deleted");
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(io_err(format!("remove {}", dir.display())))?;
        }
        if volumes {
            for v in vols {
                if self.store.volume(&v).map(|r| r.anonymous).unwrap_or(false) {
                    let _ = self.volume_remove(&v, false);
                }
            }
        }
        Ok(())
    }

    /// `berth exec`: runs a process in a running container; its exit code.
    pub fn exec(&self, what: &str, o: &ExecOptions) -> Result<i32> {
        // The new process joins the container's cgroup: see cgroup_warm.
        let warm = crate::cgroup_warm::start(if o.tty {
            Duration::from_millis(300)
        } else {
            Duration::from_secs(3600) // stopped by `oci::exec` once the process exists
        });
        let in_process = !o.tty && crate::oci::may_fork_here(warm.as_ref());
        let c = self.refresh(self.get(what)?)?;
        if c.state.status != Status::Running {
            return Err(Error::Conflict(format!(
                "container {} is not running",
                c.name
            )));
        }
        let root =
            RootDir::open(&self.dir(&c.id).join("rootfs")).map_err(io_err("open the rootfs"))?;
        let user =
            resolve_user(&root, o.user.as_deref().unwrap_or(&c.config.user)).map_err(|m| {
                Error::Command {
                    code: 126,
                    message: m,
                }
            })?;
        let mut env = c.config.env.clone();
        for e in &o.env {
            let key = e.split_once('=').map(|(k, _)| k).unwrap_or(e);
            env.retain(|x| x.split_once('=').map(|(k, _)| k).unwrap_or(x) != key);
            env.push(e.clone());
        }
        let path_env = env.iter().find_map(|e| e.strip_prefix("PATH="));
        let Some(cmd0) = o.args.first() else {
            return Err(Error::Invalid("exec needs a command".into()));
        };
        let cwd = o
            .workdir
            .clone()
            .filter(|w| !w.is_empty())
            .unwrap_or_else(|| {
                if c.config.cwd.is_empty() {
                    "/".into()
                } else {
                    c.config.cwd.clone()
                }
            });
        if !root.is_dir(Path::new(&cwd)) {
            return Err(Error::Command {
                code: 126,
                message: format!(
                    "exec: working directory {cwd} is not a directory in the container"
                ),
            });
        }
        check_command(&root, cmd0, path_env, &cwd)
            .map_err(|(code, message)| Error::Command { code, message })?;
        let exe = self.executor(&c);
        let caps = if o.privileged {
            crate::spec::capabilities(true, &[], &[]).map_err(Error::Invalid)?
        } else {
            Vec::new()
        };
        if in_process && exe.is_builtin() {
            // The built-in runtime in this process: no `berth oci exec` child.
            return crate::oci::exec(
                &exe.state,
                &c.id,
                crate::oci::ExecArgs {
                    tty: false,
                    detach: o.detach,
                    caps,
                    user: Some((user.uid, user.gid)),
                    additional_gids: user.additional_gids.clone(),
                    cwd: Some(cwd.into()),
                    env,
                    args: o.args.clone(),
                    null_stdin: !o.interactive,
                },
                warm,
            )
            .map_err(|message| Error::Command { code: 126, message });
        }
        // The child joins the cgroup within this bound; a long exec must not keep warming.
        if let Some(w) = &warm {
            w.limit(Duration::from_millis(300));
        }
        let mut cmd = exe.command();
        cmd.arg("exec");
        if o.tty {
            cmd.arg("--tty");
        }
        if o.detach {
            cmd.arg("--detach");
        }
        for cap in caps {
            cmd.arg("--cap").arg(cap);
        }
        cmd.arg("--user").arg(format!("{}:{}", user.uid, user.gid));
        for g in &user.additional_gids {
            cmd.arg("--additional-gids").arg(g.to_string());
        }
        cmd.arg("--cwd").arg(cwd);
        for e in &env {
            cmd.arg("--env").arg(e);
        }
        cmd.arg(&c.id).args(&o.args);
        cmd.stdin(if o.interactive {
            Stdio::inherit()
        } else {
            Stdio::null()
        });
        let status = cmd.status().map_err(io_err("run the OCI runtime"))?;
        Ok(status.code().unwrap_or_else(|| {
            128 + std::os::unix::process::ExitStatusExt::signal(&status).unwrap_or(0)
        }))
    }

    pub fn rename(&self, what: &str, new_name: &str) -> Result<()> {
        let c = self.get(what)?;
        crate::validate_name("container", new_name)?;
        self.store.rename_container(&c.id, new_name)?;
        self.update(&c.id, |x| x.name = new_name.to_string())?;
        Ok(())
    }

    /// Processes of a running container (pids in the host namespace).
    pub fn processes(&self, what: &str) -> Result<Vec<i32>> {
        let c = self.refresh(self.get(what)?)?;
        if c.state.status != Status::Running {
            return Err(Error::Conflict(format!(
                "container {} is not running",
                c.name
            )));
        }
        let out = self
            .executor(&c)
            .command()
            .args(["ps", "--format", "json", &c.id])
            .output()
            .map_err(io_err("run the OCI runtime"))?;
        let pids: Vec<i32> = serde_json::from_slice(&out.stdout).unwrap_or_default();
        Ok(pids)
    }

    /// Removes every container that is not running; returns their names.
    pub fn prune_containers(&self) -> Result<Vec<String>> {
        let mut removed = Vec::new();
        for c in self.list_refreshed()? {
            if matches!(
                c.state.status,
                Status::Exited | Status::Created | Status::Dead
            ) {
                self.remove(&c.id, false, false)?;
                removed.push(c.name);
            }
        }
        Ok(removed)
    }

    /// Removes empty container cgroups (`berth/<name>` in every hierarchy) that nothing
    /// running owns and that are older than `min_age`: left by a runtime that died before
    /// its cleanup, by this store or by one deleted since (the `berth` parent is shared by
    /// every store on the host; a young one may be a container of another store starting
    /// right now, and the kernel refuses to remove one that holds processes). Returns how
    /// many went.
    pub fn sweep_stale_cgroups(&self, min_age: Duration) -> Result<usize> {
        let running: std::collections::HashSet<String> = self
            .list_refreshed()?
            .into_iter()
            .filter(|c| matches!(c.state.status, Status::Running | Status::Restarting))
            .map(|c| c.id)
            .collect();
        let mut removed = 0;
        for parent in cgroup_parents() {
            let Ok(rd) = std::fs::read_dir(&parent) else {
                continue;
            };
            for e in rd.flatten() {
                let (path, name) = (e.path(), e.file_name().to_string_lossy().into_owned());
                let old = e
                    .metadata()
                    .and_then(|m| m.modified())
                    .is_ok_and(|t| t.elapsed().unwrap_or_default() >= min_age);
                if path.is_dir() && old && !running.contains(&name) && remove_cgroup_tree(&path) {
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }

    /// Unmounts rootfs mounts of containers that are not running (after crashes).
    pub fn release_stale_mounts(&self) -> Result<usize> {
        let mut n = 0;
        for c in self.list_refreshed()? {
            let root = self.dir(&c.id).join("rootfs");
            if !matches!(c.state.status, Status::Running | Status::Restarting)
                && rootfs::is_mounted(&root)
            {
                rootfs::unmount_overlay(&root).map_err(io_err("unmount"))?;
                n += 1;
            }
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn signal_names_and_masks() {
        assert_eq!(super::signal_number("SIGTERM"), Some(15));
        assert_eq!(super::signal_number("int"), Some(2));
        assert_eq!(super::signal_number("9"), Some(9));
        assert_eq!(
            super::signal_number("SIGRTMIN+3"),
            Some(libc::SIGRTMIN() + 3)
        );
        assert_eq!(super::signal_number("NOPE"), None);
        // This test process: Rust ignores SIGPIPE (not a handler) and catches SIGSEGV
        // (its stack-overflow handler); SIGTERM stays at the default.
        let me = std::process::id() as i32;
        assert_eq!(super::caught(me, libc::SIGPIPE), Some(false));
        assert_eq!(super::caught(me, libc::SIGSEGV), Some(true));
        assert_eq!(super::caught(me, libc::SIGTERM), Some(false));
    }
}

//! The per-container monitor: prepares the rootfs, runs the container through the
//! executor, copies its output into the log, records its exit, applies the restart policy,
//! runs health checks, and cleans up. `berth run` in the foreground is itself the monitor;
//! detached containers get a `berth container-monitor ID` process of their own.

use crate::fsroot::{check_command, resolve_user, RootDir};
use crate::logs::{pump, LogWriter, LOG_FILE};
use crate::model::{Container, Health, Status};
use crate::{io_err, rootfs, spec, Error, Result, Runtime};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Told once whether the container started: Ok, or (exit code, message).
pub type Ready<'a> = &'a mut dyn FnMut(std::result::Result<(), (i32, String)>);

/// How a foreground `run`/`start -a` is connected to the user's terminal.
#[derive(Debug, Clone, Copy, Default)]
pub struct Attach {
    /// Pass our stdin to the container (`-i`).
    pub stdin: bool,
    /// Our stdin is a terminal and the container has a tty: hand the terminal over.
    pub terminal: bool,
}

/// What happened to one run of the container.
enum Outcome {
    /// Never started: (exit code for `run`, message).
    Failed(i32, String),
    Exited(i32),
}

fn now() -> String {
    jiff::Timestamp::now().to_string()
}

impl Runtime {
    /// Mounts the rootfs, checks the user and the command, seeds new volumes, writes `config.json`.
    fn prepare(&self, c: &Container, netns: Option<&std::path::Path>) -> Result<()> {
        let dir = self.dir(&c.id);
        crate::timing::mark("prepare");
        let rootfs_dir = self.mount_rootfs(c)?;
        crate::timing::mark("mounted");
        let root = RootDir::open(&rootfs_dir).map_err(io_err("open the rootfs"))?;
        let user = resolve_user(&root, &c.config.user).map_err(|m| Error::Command {
            code: 126,
            message: m,
        })?;
        if !c.config.cwd.is_empty() {
            // Docker (runc) creates a missing working directory; libcontainer does not.
            root.mkdir_all(std::path::Path::new(&c.config.cwd))
                .map_err(io_err(format!(
                    "create the working directory {}",
                    c.config.cwd
                )))?;
        }
        let path_env = c.config.env.iter().find_map(|e| e.strip_prefix("PATH="));
        check_command(&root, &c.config.args[0], path_env, &c.config.cwd)
            .map_err(|(code, message)| Error::Command { code, message })?;
        let mut volume_dirs = Vec::new();
        for m in c.config.mounts.iter().filter(|m| m.kind == "volume") {
            volume_dirs.push(self.volume_seed(&m.source, &root, &m.target)?);
        }
        let init = if c.config.init {
            Some(find_init()?)
        } else {
            None
        };
        let spec = spec::build(
            c,
            &user,
            &spec::SpecPaths {
                rootfs: &rootfs_dir,
                hosts: &dir.join("hosts"),
                hostname: &dir.join("hostname"),
                resolv: &dir.join("resolv.conf"),
                volume_dirs: &volume_dirs,
                init: init.as_deref(),
                netns,
            },
        )
        .map_err(Error::Invalid)?;
        crate::timing::mark("spec built");
        std::fs::write(
            dir.join("config.json"),
            serde_json::to_vec_pretty(&spec).expect("serialises"),
        )
        .map_err(io_err("write config.json"))?;
        Ok(())
    }

    /// Runs the container once; `ready` hears "ok" or the failure once it is known.
    fn run_once(
        &self,
        c: &Container,
        attach: Option<Attach>,
        ready: &mut Option<Ready<'_>>,
    ) -> Outcome {
        let dir = self.dir(&c.id);
        let exe = self.executor(c);
        let terminal = attach.is_some_and(|a| a.terminal);
        // The built-in runtime without a tty runs in this process (no `berth oci` child):
        // only while no other thread exists but the warming one, see `oci::InProcess`.
        // A tty needs the child, which receives the pty and copies it.
        let can_in_process = !terminal && !c.config.tty && exe.is_builtin();
        let warm = crate::cgroup_warm::start(if can_in_process {
            Duration::from_secs(3600) // stopped right after the start, below
        } else {
            Duration::from_secs(2)
        });
        let netns = match self.setup_network(c) {
            Ok(ns) => ns,
            Err(e) => return Outcome::Failed(125, e.to_string()),
        };
        if let Err(e) = self.prepare(c, netns.as_deref()) {
            let code = match &e {
                Error::Command { code, .. } => *code,
                _ => 125,
            };
            return Outcome::Failed(code, e.to_string());
        }
        let log = match LogWriter::open(
            &dir.join(LOG_FILE),
            c.config.log_max_size,
            c.config.log_max_files,
        ) {
            Ok(l) => Arc::new(l),
            Err(e) => return Outcome::Failed(125, format!("open the container log: {e}")),
        };
        // A leftover from a crash would make `run` fail.
        let _ = exe.delete(&c.id);
        // Detached with -i: stdin stays open for `berth attach` (not for runc's tty, which
        // reads a terminal of ours instead).
        let open_stdin =
            attach.is_none() && c.config.open_stdin && (exe.is_builtin() || !c.config.tty);
        let stdin_pipe = match open_stdin.then(std::io::pipe).transpose() {
            Ok(p) => p,
            Err(e) => return Outcome::Failed(125, format!("create a pipe: {e}")),
        };
        let (stdin_r, stdin_w) = match stdin_pipe {
            Some((r, w)) => (Some(std::os::fd::OwnedFd::from(r)), Some(w)),
            None => (None, None),
        };
        // No thread but the warming one, right before the fork (anything on the way, the
        // network setup say, may have started one)?
        let in_process = can_in_process && crate::oci::may_fork_here(warm.as_ref());
        let started = if in_process {
            self.start_in_process(c, &exe, attach, warm, stdin_r)
        } else {
            if let Some(w) = &warm {
                w.limit(Duration::from_secs(2));
            }
            let r = self.start_runtime_child(c, &exe, attach, &log, stdin_r);
            drop(warm);
            r
        };
        let mut running = match started {
            Ok(r) => r,
            Err((code, msg)) => return Outcome::Failed(code, msg),
        };
        // Threads only now: the in-process start forks.
        berth_net::Net::reap_dns_servers();
        let hub = stdin_w.and_then(|w| {
            crate::attach::Hub::start(&dir, std::fs::File::from(std::os::fd::OwnedFd::from(w)))
                .map_err(|e| eprintln!("berth: container {}: attach socket: {e}", c.name))
                .ok()
        });
        let echo = match (&hub, attach.is_some()) {
            (_, true) => Echo::Ours,
            (Some(h), false) => Echo::Clients(h.clients.clone()),
            (None, false) => Echo::None,
        };
        running.pumps = spawn_pumps(running.pipes.take(), &log, echo);
        if let Some(f) = &running.forwarder {
            f.target.store(running.signal_target, Ordering::SeqCst);
            let held = f.pending.swap(0, Ordering::SeqCst);
            if held > 0 {
                send_signal(running.signal_target, held);
            }
        }
        crate::timing::mark("started");
        let _ = self.update(&c.id, |x| {
            x.state.status = Status::Running;
            x.state.pid = running.pid;
            x.state.monitor_pid = std::process::id() as i32;
            x.state.started_at = Some(now());
            x.state.finished_at = None;
            x.state.exit_code = None;
            x.state.error.clear();
            x.state.oom_killed = false;
            if x.config.healthcheck.is_some() {
                x.state.health = Some(Health {
                    status: "starting".into(),
                    ..Default::default()
                });
            }
        });
        if let Some(r) = ready.take() {
            r(Ok(()));
        }
        let stop_health = Arc::new(AtomicBool::new(false));
        let health = c.config.healthcheck.clone().map(|h| {
            let stop = stop_health.clone();
            let rt_root = self.store.root().to_path_buf();
            let id = c.id.clone();
            let runtime = c.config.runtime.clone();
            std::thread::spawn(move || health_loop(&rt_root, &id, &runtime, &h, &stop))
        });
        crate::timing::mark("recorded running");
        let code = running.wait();
        crate::timing::mark("runtime exited");
        stop_health.store(true, Ordering::SeqCst);
        if let Some(f) = &running.forwarder {
            f.target.store(0, Ordering::SeqCst);
        }
        for p in running.pumps.drain(..) {
            let _ = p.join();
        }
        if let Some(h) = health {
            let _ = h.join();
        }
        if let Some(h) = hub {
            h.close();
        }
        match running.finish(code) {
            Ok(code) => Outcome::Exited(code),
            Err((code, msg)) => Outcome::Failed(code, msg),
        }
    }

    /// Creates and starts the container with libcontainer in this process.
    fn start_in_process(
        &self,
        c: &Container,
        exe: &crate::executor::Executor,
        attach: Option<Attach>,
        warm: Option<crate::cgroup_warm::AttachWarmer>,
        stdin_pipe: Option<std::os::fd::OwnedFd>,
    ) -> std::result::Result<Running, (i32, String)> {
        let failed = |what: &str, e: std::io::Error| (125, format!("{what}: {e}"));
        let (out_r, out_w) = std::io::pipe().map_err(|e| failed("create a pipe", e))?;
        let (err_r, err_w) = std::io::pipe().map_err(|e| failed("create a pipe", e))?;
        let stdin: std::os::fd::OwnedFd = if let Some(p) = stdin_pipe {
            p
        } else if attach.is_some_and(|a| a.stdin) {
            std::os::fd::AsFd::as_fd(&std::io::stdin())
                .try_clone_to_owned()
                .map_err(|e| failed("duplicate stdin", e))?
        } else {
            std::fs::File::open("/dev/null")
                .map_err(|e| failed("open /dev/null", e))?
                .into()
        };
        // Signals that come before the start wait in `pending` (no thread may exist yet).
        let early = attach.map(|_| EarlySignals::catch());
        let started = crate::oci::InProcess::start(
            &exe.state,
            &self.dir(&c.id),
            &c.id,
            crate::oci::Stdio3 {
                stdin,
                stdout: out_w.into(),
                stderr: err_w.into(),
            },
        );
        if let Some(w) = warm {
            w.finish();
        }
        let container = started.map_err(|m| (126, m))?;
        let pid = container.init.as_raw();
        let forwarder = attach.map(|a| forward_signals(a.terminal));
        if let (Some(e), Some(f)) = (early, &forwarder) {
            e.hand_over(f);
        }
        Ok(Running {
            pid,
            signal_target: pid,
            pipes: Some((Box::new(out_r), Box::new(err_r))),
            pumps: Vec::new(),
            forwarder,
            waiter: Waiter::InProcess(container),
        })
    }

    /// Starts `<runtime> run` as a child and waits until it reports the container's pid.
    fn start_runtime_child(
        &self,
        c: &Container,
        exe: &crate::executor::Executor,
        attach: Option<Attach>,
        log: &Arc<LogWriter>,
        stdin_pipe: Option<std::os::fd::OwnedFd>,
    ) -> std::result::Result<Running, (i32, String)> {
        let dir = self.dir(&c.id);
        let pid_file = dir.join("init.pid");
        let runtime_log = dir.join("runtime.log");
        let _ = std::fs::remove_file(&pid_file);
        let _ = std::fs::remove_file(&runtime_log);
        let mut cmd = exe.run_command(&c.id, &dir, &pid_file, &runtime_log);
        let terminal = attach.is_some_and(|a| a.terminal);
        // A tty but no terminal of ours (`run -d -t`): runc in the foreground wants a
        // terminal to copy the container's pty to, so it gets one, whose other end we read.
        let mut pty_master = None;
        if !terminal && c.config.tty && !exe.is_builtin() {
            let pty = nix::pty::openpty(None, None)
                .map_err(|e| (125, format!("allocate a terminal for the runtime: {e}")))?;
            let slave = std::fs::File::from(pty.slave);
            let dup = |f: &std::fs::File| {
                f.try_clone()
                    .map_err(|e| (125, format!("allocate a terminal for the runtime: {e}")))
            };
            cmd.stdin(dup(&slave)?).stdout(dup(&slave)?).stderr(slave);
            // SAFETY: runs in the child between fork and exec and calls only setsid(2) and
            // ioctl(2), both async-signal-safe; it touches no memory of the parent.
            #[allow(unsafe_code)]
            unsafe {
                std::os::unix::process::CommandExt::pre_exec(&mut cmd, || {
                    if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
            pty_master = Some(pty.master);
        } else if terminal {
            cmd.stdin(Stdio::inherit())
                .stdout(Stdio::inherit())
                .stderr(Stdio::inherit());
        } else {
            cmd.stdin(if let Some(p) = stdin_pipe {
                Stdio::from(p)
            } else if attach.is_some_and(|a| a.stdin) {
                Stdio::inherit()
            } else {
                Stdio::null()
            });
            cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
            // Its own process group: terminal signals reach berth, which forwards them once.
            std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        }
        crate::timing::mark("spawn runtime");
        let mut child: Child = cmd.spawn().map_err(|e| {
            (
                125,
                format!(
                    "cannot start the OCI runtime {}: {e} (apt-get install runc)",
                    exe.binary.display()
                ),
            )
        })?;
        let pipes = match (child.stdout.take(), child.stderr.take(), pty_master) {
            (Some(o), Some(e), _) => Some((
                Box::new(o) as Box<dyn Read + Send>,
                Box::new(e) as Box<dyn Read + Send>,
            )),
            (_, _, Some(m)) => Some((
                Box::new(PtyReader(std::fs::File::from(m))) as Box<dyn Read + Send>,
                Box::new(std::io::empty()) as Box<dyn Read + Send>,
            )),
            _ => None,
        };
        let runtime_pid = child.id() as i32;
        // Signals that come before the container runs wait: the runtime blocks (and so
        // forwards) them only once the container started; earlier they would kill it.
        let forwarder = attach.map(|a| forward_signals(a.terminal));

        // Started once the runtime wrote the init pid; failed if it exits first.
        let started = Instant::now();
        let pid = loop {
            if let Some(pid) = std::fs::read_to_string(&pid_file)
                .ok()
                .and_then(|s| s.trim().parse::<i32>().ok())
            {
                break Some(pid);
            }
            match child.try_wait() {
                Ok(Some(_)) => break None,
                Ok(None) => {}
                Err(_) => break None,
            }
            std::thread::sleep(Duration::from_micros(
                if started.elapsed() < Duration::from_millis(50) {
                    200
                } else {
                    2000
                },
            ));
        };
        let Some(pid) = pid else {
            let status = child.wait().ok();
            // Drain the output so that what the runtime printed is not lost.
            let echo = if attach.is_some() {
                Echo::Ours
            } else {
                Echo::None
            };
            for p in spawn_pumps(pipes, log, echo) {
                let _ = p.join();
            }
            let msg = runtime_error(&runtime_log).unwrap_or_else(|| {
                format!("the OCI runtime exited with {status:?} before the container started")
            });
            return Err((126, msg));
        };
        if !exe.is_builtin() {
            // runc writes the pid file at create, before the container runs; an `exec`
            // in between fails ("incompatible container status"). Ready means running.
            wait_until_running(exe, &c.id, &mut child);
        }
        Ok(Running {
            pid,
            signal_target: runtime_pid,
            pipes,
            pumps: Vec::new(),
            forwarder,
            waiter: Waiter::Child(child, runtime_log),
        })
    }

    /// Tears down what one run set up (the runtime's record, the rootfs mount).
    fn teardown(&self, c: &Container) {
        let _ = self.executor(c).delete(&c.id);
        // What the runtime's delete leaves: cgroups systemd made below the container's.
        crate::ops::remove_container_cgroups(&c.id);
        crate::timing::mark("executor delete");
        let _ = rootfs::unmount_overlay(&self.dir(&c.id).join("rootfs"));
        crate::timing::mark("unmounted");
        if let Err(e) = self.teardown_network(&c.id) {
            eprintln!("berth: container {}: release its network: {e}", c.name);
        }
    }

    /// Runs a container to the end of its restart policy. Returns the last exit code.
    /// `ready` is told once whether the first start worked.
    pub fn monitor(
        &self,
        id: &str,
        attach: Option<Attach>,
        mut ready: Option<Ready<'_>>,
    ) -> Result<i32> {
        let mut delay = Duration::from_millis(100);
        loop {
            let c = self.get(id)?;
            let began = Instant::now();
            let outcome = self.run_once(&c, attach, &mut ready);
            self.teardown(&c);
            crate::timing::mark("torn down");
            let (code, failed_msg) = match outcome {
                Outcome::Failed(code, msg) => (code, Some(msg)),
                Outcome::Exited(code) => (code, None),
            };
            let c = self.update(id, |x| {
                x.state.status = Status::Exited;
                x.state.exit_code = Some(code);
                x.state.pid = 0;
                x.state.finished_at = Some(now());
                x.state.error = failed_msg.clone().unwrap_or_default();
                x.state.oom_killed = code == 137 && x.config.memory.is_some();
                if let Some(h) = x.state.health.as_mut() {
                    h.status = "unhealthy".into();
                }
            })?;
            if let Some(msg) = &failed_msg {
                if let Some(r) = ready.take() {
                    r(Err((code, msg.clone())));
                    // A container that never started is not restarted.
                    self.finish(&c)?;
                    return Ok(code);
                }
            }
            let policy = &c.config.restart;
            let restart = !c.state.stop_requested
                && match policy.name.as_str() {
                    "always" | "unless-stopped" => true,
                    "on-failure" => {
                        code != 0
                            && (policy.max_retries == 0
                                || c.state.restart_count < policy.max_retries)
                    }
                    _ => false,
                };
            if !restart {
                self.finish(&c)?;
                if let Some(msg) = failed_msg {
                    return Err(Error::Command { code, message: msg });
                }
                return Ok(code);
            }
            if began.elapsed() > Duration::from_secs(10) {
                delay = Duration::from_millis(100);
            }
            self.update(id, |x| {
                x.state.status = Status::Restarting;
                x.state.restart_count += 1;
            })?;
            let until = Instant::now() + delay;
            while Instant::now() < until {
                std::thread::sleep(Duration::from_millis(20));
                if self.get(id).map(|x| x.state.stop_requested).unwrap_or(true) {
                    let c = self.update(id, |x| x.state.status = Status::Exited)?;
                    self.finish(&c)?;
                    return Ok(code);
                }
            }
            delay = (delay * 2).min(Duration::from_secs(60));
        }
    }

    /// After the last run: `--rm` removes the container.
    fn finish(&self, c: &Container) -> Result<()> {
        if c.config.auto_remove {
            crate::timing::mark("remove");
            self.remove(&c.id, true, true)?;
            crate::timing::mark("removed");
        }
        Ok(())
    }

    /// Starts a created or exited container under a monitor process of its own and returns
    /// once it runs (or failed to start).
    pub fn start_detached(&self, what: &str) -> Result<Container> {
        let c = self.refresh(self.get(what)?)?;
        let id = c.id.as_str();
        if matches!(c.state.status, Status::Running | Status::Restarting) {
            return Ok(c);
        }
        self.update(id, |x| {
            x.state.stop_requested = false;
            x.state.status = Status::Created;
        })?;
        let dir = self.dir(id);
        let mlog = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("monitor.log"))
            .map_err(io_err("open monitor.log"))?;
        let mut cmd = std::process::Command::new(&self.self_exe);
        cmd.arg("--root")
            .arg(self.store.root())
            .arg("container-monitor")
            .arg(id);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(mlog));
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let mut child = cmd.spawn().map_err(io_err("start the container monitor"))?;
        let mut line = String::new();
        let _ = std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.take().expect("piped")),
            &mut line,
        );
        // The monitor lives on; reap it in the background if it ends while we are here.
        std::thread::spawn(move || {
            let _ = child.wait();
        });
        let line = line.trim();
        if line == "ok" {
            return self.get(id);
        }
        let (code, msg) = line
            .split_once(' ')
            .map(|(c, m)| (c.parse().unwrap_or(125), m.to_string()))
            .unwrap_or((
                125,
                format!(
                    "the container monitor failed; see {}",
                    dir.join("monitor.log").display()
                ),
            ));
        Err(Error::Command { code, message: msg })
    }

    /// Entry point of the `container-monitor` process: reports readiness on stdout.
    pub fn monitor_main(&self, id: &str) -> Result<i32> {
        let mut out = std::io::stdout();
        let mut report = |r: std::result::Result<(), (i32, String)>| {
            let line = match r {
                Ok(()) => "ok\n".to_string(),
                Err((code, msg)) => format!("{code} {}\n", msg.replace('\n', " ")),
            };
            let _ = out.write_all(line.as_bytes());
            let _ = out.flush();
        };
        self.monitor(id, None, Some(&mut report))
    }
}

type Pipes = (Box<dyn Read + Send>, Box<dyn Read + Send>);

/// A pty master as a stream: EIO (the last holder of the other end is gone) is its end.
struct PtyReader(std::fs::File);

impl Read for PtyReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self.0.read(buf) {
            Err(e) if e.raw_os_error() == Some(libc::EIO) => Ok(0),
            r => r,
        }
    }
}

/// Polls `<runtime> state ID` until it says running, the runtime child ends, or 3 s pass.
fn wait_until_running(exe: &crate::executor::Executor, id: &str, child: &mut Child) {
    let until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < until {
        let status = exe
            .command()
            .args(["state", id])
            .stderr(Stdio::null())
            .output()
            .ok()
            .and_then(|o| serde_json::from_slice::<serde_json::Value>(&o.stdout).ok())
            .and_then(|v| v.get("status").and_then(|s| s.as_str()).map(String::from));
        if status.is_some_and(|s| s.eq_ignore_ascii_case("running"))
            || !matches!(child.try_wait(), Ok(None))
        {
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A started container, as the monitor holds it until it ends.
struct Running {
    /// The container's init (host pid).
    pid: i32,
    /// Where forwarded signals go: the init itself, or the runtime child that forwards them.
    signal_target: i32,
    /// The container's stdout and stderr, until the pumps take them.
    pipes: Option<Pipes>,
    pumps: Vec<std::thread::JoinHandle<()>>,
    forwarder: Option<Forwarder>,
    waiter: Waiter,
}

enum Waiter {
    /// `<runtime> run` as our child, and its log.
    Child(Child, PathBuf),
    /// libcontainer in this process; the init is our child.
    InProcess(crate::oci::InProcess),
}

impl Running {
    /// Waits for the container to end; its exit code.
    fn wait(&mut self) -> i32 {
        match &mut self.waiter {
            Waiter::Child(child, _) => match child.wait() {
                Ok(s) => s.code().unwrap_or_else(|| {
                    128 + std::os::unix::process::ExitStatusExt::signal(&s).unwrap_or(0)
                }),
                Err(_) => 255,
            },
            Waiter::InProcess(c) => c.wait(),
        }
    }

    /// After the end: forgets the container in the runtime. A runtime child logs an error
    /// only when it failed after the init existed (e.g. a start that did not go through):
    /// then `code` is not the container's exit code.
    fn finish(self, code: i32) -> std::result::Result<i32, (i32, String)> {
        match self.waiter {
            Waiter::Child(_, log) => match runtime_error(&log) {
                Some(msg) => {
                    let code = if msg.contains("not found") || msg.contains("no such file") {
                        127
                    } else {
                        126
                    };
                    Err((code, msg))
                }
                None => Ok(code),
            },
            Waiter::InProcess(c) => {
                // A failure here leaves the record to `teardown`, which deletes it again.
                let _ = c.delete();
                crate::timing::mark("runtime record deleted");
                Ok(code)
            }
        }
    }
}

/// Where the container's output goes besides its log.
#[derive(Clone)]
enum Echo {
    None,
    /// Our stdout and stderr (a foreground run).
    Ours,
    /// The `berth attach` clients of a detached container.
    Clients(crate::attach::Clients),
}

/// Threads copying the container's output into its log (and wherever `echo` says).
fn spawn_pumps(
    pipes: Option<Pipes>,
    log: &Arc<LogWriter>,
    echo: Echo,
) -> Vec<std::thread::JoinHandle<()>> {
    let Some((out, err)) = pipes else {
        return Vec::new();
    };
    [("stdout", out), ("stderr", err)]
        .into_iter()
        .map(|(stream, pipe)| {
            let log = log.clone();
            let echo = echo.clone();
            std::thread::spawn(move || match echo {
                Echo::None => pump(pipe, stream, &log, None),
                Echo::Ours if stream == "stdout" => {
                    pump(pipe, stream, &log, Some(&mut std::io::stdout()))
                }
                Echo::Ours => pump(pipe, stream, &log, Some(&mut std::io::stderr())),
                Echo::Clients(mut c) => pump(pipe, stream, &log, Some(&mut c)),
            })
        })
        .collect()
}

/// Signals that arrive while the container is being created in this process, when no
/// thread may exist yet: caught by a flag-setting handler, then handed to the forwarder.
struct EarlySignals {
    ids: Vec<signal_hook::SigId>,
    last: Arc<std::sync::atomic::AtomicUsize>,
}

impl EarlySignals {
    fn catch() -> EarlySignals {
        let last = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let ids = forwarded_signals(false)
            .into_iter()
            .filter_map(|s| signal_hook::flag::register_usize(s, last.clone(), s as usize).ok())
            .collect();
        EarlySignals { ids, last }
    }

    fn hand_over(self, f: &Forwarder) {
        let s = self.last.swap(0, Ordering::SeqCst);
        if s > 0 {
            f.pending.store(s as i32, Ordering::SeqCst);
        }
    }
}

impl Drop for EarlySignals {
    /// Back to what the signals did before (also when the start failed).
    fn drop(&mut self) {
        for id in self.ids.drain(..) {
            signal_hook::low_level::unregister(id);
        }
    }
}

/// What a foreground `run` forwards. With a terminal, SIGINT and SIGQUIT reach the
/// container from the terminal itself (it is in the foreground group).
fn forwarded_signals(terminal: bool) -> Vec<i32> {
    use signal_hook::consts::*;
    let mut sigs = vec![SIGTERM, SIGHUP, SIGUSR1, SIGUSR2];
    if !terminal {
        sigs.extend([SIGINT, SIGQUIT]);
    }
    sigs
}

/// Forwards SIGINT/SIGTERM/... to the runtime process (which passes them to the container).
/// Where forwarded signals go (0: nowhere yet), and the last one that came before.
struct Forwarder {
    target: Arc<AtomicI32>,
    pending: Arc<AtomicI32>,
}

fn send_signal(pid: i32, s: i32) {
    if let (Some(p), Some(sig)) = (
        rustix::process::Pid::from_raw(pid),
        rustix::process::Signal::from_named_raw(s),
    ) {
        let _ = rustix::process::kill_process(p, sig);
    }
}

fn forward_signals(terminal: bool) -> Forwarder {
    use signal_hook::consts::*;
    let target = Arc::new(AtomicI32::new(0));
    let pending = Arc::new(AtomicI32::new(0));
    let sigs = forwarded_signals(terminal);
    if terminal {
        // The terminal delivers these to the whole foreground group; just survive them.
        let _ = signal_hook::flag::register(SIGINT, Arc::new(AtomicBool::new(false)));
        let _ = signal_hook::flag::register(SIGQUIT, Arc::new(AtomicBool::new(false)));
    }
    if let Ok(mut signals) = signal_hook::iterator::Signals::new(&sigs) {
        let (t, held) = (target.clone(), pending.clone());
        std::thread::spawn(move || {
            for s in signals.forever() {
                let pid = t.load(Ordering::SeqCst);
                if pid > 0 {
                    send_signal(pid, s);
                } else {
                    held.store(s, Ordering::SeqCst);
                }
            }
        });
    }
    Forwarder { target, pending }
}

/// The last error the OCI runtime logged.
pub(crate) fn runtime_error(log: &std::path::Path) -> Option<String> {
    let text = std::fs::read_to_string(log).ok()?;
    let line = text
        .lines()
        .rev()
        .find(|l| l.contains("level=error") || l.contains("\"level\":\"error\""))?;
    let msg = line
        .split("msg=")
        .nth(1)
        .unwrap_or(line)
        .trim()
        .trim_matches('"')
        .replace("\\\"", "\"");
    Some(msg)
}

/// The init binary `--init` mounts at /dev/init.
fn find_init() -> Result<PathBuf> {
    for p in [
        "/usr/bin/tini-static",
        "/usr/libexec/berth/init",
        "/usr/bin/docker-init",
    ] {
        if std::path::Path::new(p).exists() {
            return Ok(PathBuf::from(p));
        }
    }
    Err(Error::Invalid(
        "--init needs a static init binary: apt-get install tini (berth uses /usr/bin/tini-static)"
            .into(),
    ))
}

fn health_loop(
    root: &std::path::Path,
    id: &str,
    runtime: &str,
    h: &crate::model::Healthcheck,
    stop: &AtomicBool,
) {
    let Ok(store) = berth_store::Store::open(root) else {
        return;
    };
    let rt = Runtime::new(store);
    let began = Instant::now();
    let exe = rt.executor_for(runtime);
    // Until the first success the check runs every 100 ms (Docker's start interval, on
    // by default here: `compose up --wait` and `service_healthy` should not wait a whole
    // interval for a service that is ready), but a check starts no sooner than twice the
    // last one's duration after it, so that a heavy check (a Python one-liner) keeps at
    // most half a core from the service it waits for; a failure counts towards `retries` at most once per
    // interval, so "unhealthy" comes no sooner than with the interval alone.
    const START_INTERVAL_MS: u64 = 100;
    let interval = Duration::from_millis(h.interval_ms.max(100));
    let mut next =
        Instant::now() + Duration::from_millis(h.interval_ms.clamp(100, START_INTERVAL_MS));
    let mut first = true;
    let mut seen_healthy = false;
    let mut last_counted: Option<Instant> = None;
    while !stop.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(20));
        if Instant::now() < next {
            continue;
        }
        let probe_began = Instant::now();
        let argv: Vec<String> = match h.test.first().map(String::as_str) {
            Some("CMD-SHELL") => vec!["/bin/sh".into(), "-c".into(), h.test[1..].join(" ")],
            Some("CMD") => h.test[1..].to_vec(),
            _ => h.test.clone(),
        };
        let mut cmd = exe.command();
        cmd.arg("exec")
            .arg(id)
            .args(&argv)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let (ok, output) = match cmd.spawn() {
            Ok(mut child) => {
                let deadline = Instant::now() + Duration::from_millis(h.timeout_ms.max(100));
                loop {
                    match child.try_wait() {
                        Ok(Some(st)) => {
                            let mut o = String::new();
                            if let Some(mut s) = child.stdout.take() {
                                let _ = s.read_to_string(&mut o);
                            }
                            if let Some(mut s) = child.stderr.take() {
                                let _ = s.read_to_string(&mut o);
                            }
                            break (st.success(), o);
                        }
                        // The container ended: a check still running (its runtime may be
                        // joining a namespace that is going away) must not hold up the
                        // monitor, and so `stop` and `down`, until its timeout.
                        Ok(None) if stop.load(Ordering::SeqCst) => {
                            let _ = child.kill();
                            let _ = child.wait();
                            return;
                        }
                        Ok(None) if Instant::now() > deadline => {
                            let _ = child.kill();
                            let _ = child.wait();
                            break (
                                false,
                                format!("health check timed out after {}ms", h.timeout_ms),
                            );
                        }
                        Ok(None) => std::thread::sleep(Duration::from_millis(10)),
                        Err(e) => break (false, e.to_string()),
                    }
                }
            }
            Err(e) => (false, e.to_string()),
        };
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let took = probe_began.elapsed();
        next = probe_began
            + if seen_healthy || ok {
                interval
            } else {
                interval.min(Duration::from_millis(START_INTERVAL_MS).max(took * 2))
            };
        let in_start_period = began.elapsed() < Duration::from_millis(h.start_period_ms);
        let counts = !ok && last_counted.is_none_or(|t| t.elapsed() >= interval);
        if counts {
            last_counted = Some(Instant::now());
        }
        seen_healthy |= ok;
        let _ = rt.update(id, |x| {
            let hs = x.state.health.get_or_insert_with(Health::default);
            hs.last_output = output.chars().take(4096).collect();
            hs.last_check = jiff::Timestamp::now().as_second();
            if ok {
                hs.status = "healthy".into();
                hs.failing_streak = 0;
            } else if !in_start_period && counts {
                hs.failing_streak += 1;
                if hs.failing_streak >= h.retries {
                    hs.status = "unhealthy".into();
                }
            }
        });
        if first {
            first = false;
        }
    }
}

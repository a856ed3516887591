//! berth's built-in OCI runtime: youki's `libcontainer` behind the same command surface
//! berth uses for runc (`run`, `exec`, `kill`, `delete`, `state`, `ps`), reached as the
//! hidden `berth oci ...` command. The monitor runs it as it runs runc, so the same bundle
//! runs either way (`--runtime runc` picks runc). Without a terminal, the monitor and
//! `berth exec` call it in their own process instead (`InProcess`, `exec`; ADR 0023).

use libcontainer::container::builder::ContainerBuilder;
use libcontainer::container::Container;
use libcontainer::syscall::syscall::SyscallType;
use nix::sys::signal::{self, kill};
use nix::sys::signalfd::SigSet;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};

pub type Result<T> = std::result::Result<T, String>;

fn err(what: &str) -> impl Fn(libcontainer::error::LibcontainerError) -> String + '_ {
    move |e| format!("{what}: {e}")
}

fn load(root: &Path, id: &str) -> Result<Container> {
    let dir = root.join(id);
    if !dir.exists() {
        return Err(format!("container {id} does not exist"));
    }
    Container::load(dir).map_err(err("load container state"))
}

/// Receives the pty master libcontainer sends over the console socket.
fn receive_pty(listener: UnixListener) -> Result<OwnedFd> {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
    let (stream, _) = listener
        .accept()
        .map_err(|e| format!("accept console socket: {e}"))?;
    let mut buf = [0u8; 4096];
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    let mut cmsg = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let msg = recvmsg::<()>(
        stream.as_raw_fd(),
        &mut iov,
        Some(&mut cmsg),
        MsgFlags::empty(),
    )
    .map_err(|e| format!("receive pty: {e}"))?;
    for c in msg.cmsgs().map_err(|e| format!("receive pty: {e}"))? {
        if let ControlMessageOwned::ScmRights(fds) = c {
            if let Some(fd) = fds.first() {
                // SAFETY: the kernel just installed this descriptor in our table for us
                // (SCM_RIGHTS); nothing else owns it.
                #[allow(unsafe_code)]
                return Ok(unsafe { OwnedFd::from_raw_fd(*fd) });
            }
        }
    }
    Err("the container sent no pty".into())
}

/// Copies our stdin to the pty and the pty to our stdout; raw mode while a terminal.
fn bridge(master: OwnedFd) -> Option<nix::sys::termios::Termios> {
    bridge_joined(master).0
}

/// `bridge`, also returning the thread that copies the terminal's output (it ends when
/// the last process holding the pty's other end is gone).
fn bridge_joined(
    master: OwnedFd,
) -> (
    Option<nix::sys::termios::Termios>,
    Option<std::thread::JoinHandle<()>>,
) {
    use nix::sys::termios;
    let stdin = std::io::stdin();
    let saved = termios::tcgetattr(&stdin).ok();
    if let Some(t) = &saved {
        let mut raw = t.clone();
        termios::cfmakeraw(&mut raw);
        let _ = termios::tcsetattr(&stdin, termios::SetArg::TCSANOW, &raw);
        resize(&master);
    }
    let out = master.try_clone().ok();
    let winch = master.try_clone().ok();
    std::thread::spawn(move || {
        let mut m = std::fs::File::from(master);
        let _ = std::io::copy(&mut std::io::stdin(), &mut m);
    });
    let mut output = None;
    if let Some(o) = out {
        output = Some(std::thread::spawn(move || {
            let mut m = std::fs::File::from(o);
            let mut buf = [0u8; 8192];
            let mut stdout = std::io::stdout();
            while let Ok(n) = m.read(&mut buf) {
                if n == 0
                    || stdout
                        .write_all(&buf[..n])
                        .and_then(|_| stdout.flush())
                        .is_err()
                {
                    break;
                }
            }
        }));
    }
    if let Some(w) = winch {
        WINCH_FD.store(w.as_raw_fd(), std::sync::atomic::Ordering::SeqCst);
        std::mem::forget(w);
    }
    (saved, output)
}

static WINCH_FD: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(-1);

/// Gives the container's terminal the size of ours.
fn resize(master: &impl std::os::fd::AsFd) {
    if let Ok(ws) = rustix::termios::tcgetwinsize(std::io::stdin()) {
        let _ = rustix::termios::tcsetwinsize(master, ws);
    }
}

/// `run --bundle B --pid-file F ID`: creates, starts and waits for the container,
/// forwarding signals to its init; returns its exit status.
pub fn run(root: &Path, bundle: &Path, pid_file: Option<&Path>, id: &str) -> Result<i32> {
    std::fs::create_dir_all(root).map_err(|e| format!("create {}: {e}", root.display()))?;
    let spec: oci_spec::runtime::Spec = oci_spec::runtime::Spec::load(bundle.join("config.json"))
        .map_err(|e| format!("load config.json: {e}"))?;
    let terminal = spec
        .process()
        .as_ref()
        .and_then(|p| p.terminal())
        .unwrap_or(false);
    let console = if terminal {
        let path =
            std::env::temp_dir().join(format!("berth-console-{id}-{}.sock", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let l = UnixListener::bind(&path).map_err(|e| format!("console socket: {e}"))?;
        Some((path, std::thread::spawn(move || receive_pty(l))))
    } else {
        None
    };
    crate::timing::mark("oci: spec loaded");
    let console_path = console.as_ref().map(|(p, _)| p.clone());
    let mut container = create(root, bundle, id, &spec, console_path, None)?;
    let mut saved_term = None;
    if let Some((path, t)) = console {
        let master = t
            .join()
            .map_err(|_| "console thread panicked".to_string())??;
        let _ = std::fs::remove_file(path);
        saved_term = bridge(master);
    }
    crate::timing::mark("oci: created");
    container.start().map_err(err("start container"))?;
    crate::timing::mark("oci: started");
    let init = container.pid().ok_or("the container has no init pid")?;
    // Blocked only now: the container's processes must not inherit a blocked mask. A
    // child that exited before this is reaped by the first `reap` below.
    SigSet::all()
        .thread_block()
        .map_err(|e| format!("block signals: {e}"))?;
    // The pid file tells the monitor the container runs, and from then on it forwards
    // signals here: so only once they are blocked (and so forwarded, not fatal).
    if let Some(p) = pid_file {
        // Whole or absent for a reader: written aside, then renamed.
        let tmp = p.with_extension("pid.tmp");
        std::fs::write(&tmp, init.as_raw().to_string())
            .and_then(|()| std::fs::rename(&tmp, p))
            .map_err(|e| format!("write the pid file {}: {e}", p.display()))?;
    }
    let status = foreground(init);
    if let Some(t) = saved_term {
        let _ =
            nix::sys::termios::tcsetattr(std::io::stdin(), nix::sys::termios::SetArg::TCSANOW, &t);
    }
    crate::timing::mark("oci: exited");
    if let Err(e) = container.delete(true) {
        eprintln!("berth oci: delete {id}: {e}");
    }
    status
}

/// The container's standard streams when it is created in this process.
pub struct Stdio3 {
    pub stdin: OwnedFd,
    pub stdout: OwnedFd,
    pub stderr: OwnedFd,
}

/// Creates the container (its init waits for `start`) and brings up its loopback.
fn create(
    root: &Path,
    bundle: &Path,
    id: &str,
    spec: &oci_spec::runtime::Spec,
    console: Option<PathBuf>,
    stdio: Option<Stdio3>,
) -> Result<Container> {
    let mut builder = ContainerBuilder::new(id.to_string(), SyscallType::default())
        .with_executor(libcontainer::workload::default::DefaultExecutor {})
        .with_root_path(root)
        .map_err(err("root path"))?
        // No pid file from libcontainer: it writes one at create, before the container
        // runs and before its state says so; an `exec` that trusted it could fail with
        // "incompatible container status". Ours is written after start.
        .with_pid_file(None::<std::path::PathBuf>)
        .map_err(err("pid file"))?
        .with_console_socket(console)
        .validate_id()
        .map_err(err("container id"))?;
    if let Some(s) = stdio {
        builder = builder
            .with_stdin(s.stdin)
            .with_stdout(s.stdout)
            .with_stderr(s.stderr);
    }
    let container = builder
        .as_init(bundle)
        .with_systemd(false)
        .with_detach(true)
        .build()
        .map_err(err("create container"))?;
    // A new network namespace starts with loopback down; Docker's (and runc's) is up.
    let new_netns = spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .is_some_and(|ns| {
            ns.iter().any(|n| {
                n.typ() == oci_spec::runtime::LinuxNamespaceType::Network && n.path().is_none()
            })
        });
    if new_netns {
        let pid = container.pid().ok_or("the container has no init pid")?;
        loopback_up(pid.as_raw())?;
    }
    Ok(container)
}

/// Whether libcontainer may fork in this process now: no thread runs but this one and
/// `warm`'s (which allocates nothing and takes no lock). libcontainer forks with a raw
/// `clone3`, which skips the C library's fork handlers: a lock another thread held at
/// that moment (the allocator's, say) would stay locked forever in the child.
pub fn may_fork_here(warm: Option<&crate::cgroup_warm::AttachWarmer>) -> bool {
    let threads = std::fs::read_dir("/proc/self/task").map(|d| d.count()).ok();
    threads == Some(1 + usize::from(warm.is_some()))
}

/// A container created and started by this process itself, without a `berth oci run`
/// child: the monitor's fast path for the built-in runtime (no terminal). Its init is
/// this process's child. Call only while `may_fork_here` holds.
pub struct InProcess {
    container: Container,
    pub init: Pid,
    /// Set once `wait` has reaped the init.
    reaped: std::sync::atomic::AtomicBool,
}

impl InProcess {
    /// Creates and starts the container described by `bundle/config.json`.
    pub fn start(root: &Path, bundle: &Path, id: &str, stdio: Stdio3) -> Result<InProcess> {
        std::fs::create_dir_all(root).map_err(|e| format!("create {}: {e}", root.display()))?;
        let spec = oci_spec::runtime::Spec::load(bundle.join("config.json"))
            .map_err(|e| format!("load config.json: {e}"))?;
        let mut container = create(root, bundle, id, &spec, None, Some(stdio))?;
        let init = container.pid().ok_or("the container has no init pid")?;
        // Out of our process group before it runs anything, as with a runtime child: a
        // terminal's Ctrl-C reaches berth, which forwards it once.
        let _ = nix::unistd::setpgid(init, init);
        if let Err(e) = container.start() {
            let _ = container.delete(true);
            return Err(format!("start container: {e}"));
        }
        Ok(InProcess {
            container,
            init,
            reaped: Default::default(),
        })
    }

    /// Waits for the init to end; its exit code (128+N when killed by signal N).
    pub fn wait(&self) -> i32 {
        use std::sync::atomic::Ordering;
        loop {
            match waitpid(self.init, None) {
                Ok(WaitStatus::Exited(_, code)) => {
                    self.reaped.store(true, Ordering::SeqCst);
                    return code;
                }
                Ok(WaitStatus::Signaled(_, sig, _)) => {
                    self.reaped.store(true, Ordering::SeqCst);
                    return 128 + sig as i32;
                }
                Ok(_) | Err(nix::errno::Errno::EINTR) => continue,
                Err(_) => return 255,
            }
        }
    }

    /// Removes the runtime's record and the container's cgroup. Once `wait` has reaped
    /// the init, nothing of the container runs (its pid namespace ended with it) and no
    /// hooks are configured, so this removes the cgroups and the state directory itself:
    /// libcontainer's delete would first re-read the state and build a cgroup manager,
    /// ~2 ms of checked procfs reads per container. Otherwise, or when a cgroup still
    /// holds a process, libcontainer's delete (which kills first).
    pub fn delete(mut self) -> Result<()> {
        let id = self.container.id().to_string();
        if self.reaped.load(std::sync::atomic::Ordering::SeqCst)
            && crate::ops::remove_container_cgroups(&id)
        {
            let dir = self.container.root.clone();
            return std::fs::remove_dir_all(&dir)
                .or_else(|e| match e.kind() {
                    std::io::ErrorKind::NotFound => Ok(()),
                    _ => Err(e),
                })
                .map_err(|e| format!("remove {}: {e}", dir.display()));
        }
        self.container
            .delete(true)
            .map_err(err("delete the container"))
    }
}

/// Brings `lo` up inside the network namespace of `pid`, from a thread that joins that
/// namespace (setns affects only the calling thread) and ends with it.
fn loopback_up(pid: i32) -> Result<()> {
    let ns = std::fs::File::open(format!("/proc/{pid}/ns/net"))
        .map_err(|e| format!("open the container's network namespace: {e}"))?;
    std::thread::spawn(move || -> Result<()> {
        nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNET)
            .map_err(|e| format!("join the container's network namespace: {e}"))?;
        let sock = nix::sys::socket::socket(
            nix::sys::socket::AddressFamily::Inet,
            nix::sys::socket::SockType::Datagram,
            nix::sys::socket::SockFlag::SOCK_CLOEXEC,
            None,
        )
        .map_err(|e| format!("socket: {e}"))?;
        // SAFETY: ifreq is plain data; zeroed is a valid value and we set the name.
        #[allow(unsafe_code)]
        let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
        for (d, s) in ifr.ifr_name.iter_mut().zip(b"lo\0") {
            *d = *s as libc::c_char;
        }
        // SAFETY: SIOCGIFFLAGS/SIOCSIFFLAGS read and write the `ifreq` we own, on a socket
        // we own; the union field written is the one these requests use.
        #[allow(unsafe_code)]
        unsafe {
            if libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut ifr) < 0 {
                return Err(format!(
                    "read loopback flags: {}",
                    std::io::Error::last_os_error()
                ));
            }
            ifr.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
            if libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &ifr) < 0 {
                return Err(format!(
                    "bring loopback up: {}",
                    std::io::Error::last_os_error()
                ));
            }
        }
        Ok(())
    })
    .join()
    .map_err(|_| "loopback thread panicked".to_string())?
}

fn foreground(init: Pid) -> Result<i32> {
    let set = SigSet::all();
    loop {
        if let Some(code) = reap(init)? {
            return Ok(code);
        }
        match set.wait().map_err(|e| format!("sigwait: {e}"))? {
            signal::SIGCHLD => {}
            signal::SIGURG => {}
            signal::SIGWINCH => {
                let fd = WINCH_FD.load(std::sync::atomic::Ordering::SeqCst);
                if fd >= 0 {
                    // SAFETY: WINCH_FD holds a descriptor `bridge` leaked on purpose for
                    // the life of the process; it is only borrowed here.
                    #[allow(unsafe_code)]
                    let master = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
                    resize(&master);
                }
            }
            s => {
                let _ = kill(init, s);
            }
        }
    }
}

fn reap(init: Pid) -> Result<Option<i32>> {
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(pid, code)) if pid == init => return Ok(Some(code)),
            Ok(WaitStatus::Signaled(pid, sig, _)) if pid == init => {
                return Ok(Some(128 + sig as i32))
            }
            Ok(WaitStatus::StillAlive) | Err(nix::errno::Errno::ECHILD) => return Ok(None),
            Ok(_) => continue,
            Err(e) => return Err(format!("waitpid: {e}")),
        }
    }
}

#[derive(Debug, Default)]
pub struct ExecArgs {
    pub tty: bool,
    pub detach: bool,
    pub caps: Vec<String>,
    pub user: Option<(u32, u32)>,
    pub additional_gids: Vec<u32>,
    pub cwd: Option<PathBuf>,
    pub env: Vec<String>,
    pub args: Vec<String>,
    /// The process's stdin is /dev/null instead of ours.
    pub null_stdin: bool,
}

/// `exec`: a new process in a running container; its exit status. `warm` (see
/// `cgroup_warm`) is stopped as soon as the process exists.
pub fn exec(
    root: &Path,
    id: &str,
    a: ExecArgs,
    warm: Option<crate::cgroup_warm::AttachWarmer>,
) -> Result<i32> {
    // libcontainer 0.7 hands a new pty over a console socket only to detached processes.
    // So `exec -t` asks for a detached one, and this process becomes a child subreaper:
    // the detached process is re-parented here when libcontainer's intermediate exits,
    // and `waitpid` below still gets its exit status.
    let console: Option<(PathBuf, std::thread::JoinHandle<Result<OwnedFd>>)> = if a.tty && !a.detach
    {
        nix::sys::prctl::set_child_subreaper(true)
            .map_err(|e| format!("become a child subreaper: {e}"))?;
        let path =
            std::env::temp_dir().join(format!("berth-exec-{id}-{}.sock", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let l = UnixListener::bind(&path).map_err(|e| format!("console socket: {e}"))?;
        Some((path, std::thread::spawn(move || receive_pty(l))))
    } else {
        None
    };
    let pty = console.is_some();
    // With a pty the process is described in a process.json (libcontainer only lets a
    // tenant have a terminal that way): the same args, env, cwd, user and capabilities.
    let process_file = if pty {
        Some(tty_process_file(root, id, &a)?)
    } else {
        None
    };
    let env = a
        .env
        .iter()
        .filter_map(|e| {
            e.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
        })
        .collect();
    let mut builder = ContainerBuilder::new(id.to_string(), SyscallType::default())
        .with_executor(libcontainer::workload::default::DefaultExecutor {})
        .with_root_path(root)
        .map_err(err("root path"))?
        .with_console_socket(console.as_ref().map(|(p, _)| p.clone()))
        .validate_id()
        .map_err(err("container id"))?;
    if a.null_stdin {
        let null = std::fs::File::open("/dev/null").map_err(|e| format!("open /dev/null: {e}"))?;
        builder = builder.with_stdin(null);
    }
    let built = builder
        .as_tenant()
        .with_process(process_file.as_ref())
        .with_detach(a.detach || pty)
        .with_cwd(a.cwd.as_ref())
        .with_env(env)
        .with_container_args(a.args.clone())
        .with_additional_gids(a.additional_gids.clone())
        .with_user(a.user.map(|u| u.0))
        .with_group(a.user.map(|u| u.1))
        .with_capabilities(a.caps.clone())
        .build();
    if let Some(w) = warm {
        w.finish();
    }
    let pid = built.map_err(err("exec"))?;
    let mut saved = None;
    let mut output = None;
    if let Some((path, t)) = console {
        let master = t
            .join()
            .map_err(|_| "console thread panicked".to_string())??;
        let _ = std::fs::remove_file(path);
        // Window size changes follow the caller's terminal.
        if let Ok(mut signals) =
            signal_hook::iterator::Signals::new([signal_hook::consts::SIGWINCH])
        {
            let m = master.try_clone().ok();
            std::thread::spawn(move || {
                for _ in signals.forever() {
                    if let Some(m) = &m {
                        resize(m);
                    }
                }
            });
        }
        (saved, output) = bridge_joined(master);
    }
    if a.detach {
        return Ok(0);
    }
    let status = loop {
        match waitpid(pid, None) {
            Ok(WaitStatus::Exited(_, code)) => break code,
            Ok(WaitStatus::Signaled(_, sig, _)) => break 128 + sig as i32,
            Ok(_) => continue,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(format!("waitpid: {e}")),
        }
    };
    if let Some(f) = &process_file {
        let _ = std::fs::remove_file(f);
    }
    // The last output before the process ended is still in the pty: let it out.
    if let Some(o) = output {
        let _ = o.join();
    }
    if let Some(t) = saved {
        let _ =
            nix::sys::termios::tcsetattr(std::io::stdin(), nix::sys::termios::SetArg::TCSANOW, &t);
    }
    Ok(status)
}

/// Writes the process.json of an `exec -t`: terminal on, the rest as `exec` asked, the
/// capabilities and no-new-privileges of the container's own process unless given.
fn tty_process_file(root: &Path, id: &str, a: &ExecArgs) -> Result<PathBuf> {
    use oci_spec::runtime::{LinuxCapabilitiesBuilder, ProcessBuilder, UserBuilder};
    let c = load(root, id)?;
    let spec = oci_spec::runtime::Spec::load(c.bundle().join("config.json"))
        .map_err(|e| format!("load the container's config.json: {e}"))?;
    let base = spec.process().clone().unwrap_or_default();
    let caps = if a.caps.is_empty() {
        base.capabilities().clone()
    } else {
        let set: std::collections::HashSet<oci_spec::runtime::Capability> =
            a.caps.iter().filter_map(|c| c.parse().ok()).collect();
        Some(
            LinuxCapabilitiesBuilder::default()
                .bounding(set.clone())
                .effective(set.clone())
                .permitted(set)
                .build()
                .map_err(|e| format!("capabilities: {e}"))?,
        )
    };
    let (uid, gid) = a.user.unwrap_or((0, 0));
    let mut env = a.env.clone();
    for default in [
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "TERM=xterm",
    ] {
        let key = default.split('=').next().expect("key");
        if !env.iter().any(|e| e.split('=').next() == Some(key)) {
            env.push(default.to_string());
        }
    }
    let mut p = ProcessBuilder::default()
        .terminal(true)
        .args(a.args.clone())
        .env(env)
        .cwd(a.cwd.clone().unwrap_or_else(|| PathBuf::from("/")))
        .user(
            UserBuilder::default()
                .uid(uid)
                .gid(gid)
                .additional_gids(a.additional_gids.clone())
                .build()
                .map_err(|e| format!("user: {e}"))?,
        )
        .build()
        .map_err(|e| format!("process: {e}"))?;
    p.set_capabilities(caps);
    p.set_no_new_privileges(base.no_new_privileges());
    p.set_rlimits(base.rlimits().clone());
    let path = std::env::temp_dir().join(format!("berth-exec-{id}-{}.json", std::process::id()));
    std::fs::write(
        &path,
        serde_json::to_vec(&p).map_err(|e| format!("process.json: {e}"))?,
    )
    .map_err(|e| format!("write {}: {e}", path.display()))?;
    Ok(path)
}

pub fn kill_container(root: &Path, id: &str, sig: &str, all: bool) -> Result<()> {
    let mut c = load(root, id)?;
    let n = crate::ops::signal_number(sig).ok_or_else(|| format!("unknown signal {sig:?}"))?;
    if (libc::SIGRTMIN()..=libc::SIGRTMAX()).contains(&n) {
        // libcontainer only knows the named signals; systemd stops on SIGRTMIN+3.
        let pid = c
            .pid()
            .ok_or_else(|| format!("container {id} is not running"))?;
        #[allow(unsafe_code)]
        // SAFETY: kill(2) with a pid and a signal number; no memory is involved.
        let r = unsafe { libc::kill(pid.as_raw(), n) };
        return if r == 0 {
            Ok(())
        } else {
            Err(format!(
                "kill {id} with signal {n}: {}",
                std::io::Error::last_os_error()
            ))
        };
    }
    let s = libcontainer::signal::Signal::try_from(n).map_err(|e| format!("{e}"))?;
    c.kill(s, all).map_err(err("kill"))
}

pub fn delete(root: &Path, id: &str, force: bool) -> Result<()> {
    let mut c = load(root, id)?;
    c.delete(force).map_err(err("delete"))
}

pub fn state(root: &Path, id: &str) -> Result<String> {
    let mut c = load(root, id)?;
    c.refresh_status().map_err(err("state"))?;
    Ok(format!(
        "{{\"id\":{:?},\"status\":\"{}\",\"pid\":{}}}",
        id,
        c.status(),
        c.pid().map(|p| p.as_raw()).unwrap_or(0)
    ))
}

pub fn ps(root: &Path, id: &str) -> Result<Vec<i32>> {
    use libcgroups::common::CgroupManager;
    let c = load(root, id)?;
    let spec = c.spec().map_err(err("container spec"))?;
    let m = libcgroups::common::create_cgroup_manager(libcgroups::common::CgroupConfig {
        cgroup_path: spec.cgroup_path.clone(),
        systemd_cgroup: false,
        container_name: id.to_string(),
    })
    .map_err(|e| format!("cgroup manager: {e}"))?;
    Ok(m.get_all_pids()
        .map_err(|e| format!("list pids: {e}"))?
        .into_iter()
        .map(|p| p.as_raw())
        .collect())
}

//! One process run to its end in a root filesystem the caller prepared (a build step's
//! overlay): no container record, no monitor, no restart policy. The build engine runs
//! `RUN` instructions through it, with the same spec, defaults and executors as
//! `berth run`, so a build step is isolated exactly like a container.

use crate::fsroot::{check_command, resolve_user, RootDir};
use crate::model::{Container, ContainerConfig};
use crate::{io_err, spec, Error, Result, Runtime};
use std::io::Read;
use std::path::Path;
use std::process::Stdio;

/// A process to run in `rootfs`; `dir` holds its bundle (config.json, hosts, resolv.conf).
pub struct Task<'a> {
    pub id: String,
    pub dir: &'a Path,
    pub rootfs: &'a Path,
    /// args, env, cwd, user, mounts (bind/tmpfs), network ("none" or "host"), runtime,
    /// hostname; the rest as `berth run` defaults them.
    pub config: ContainerConfig,
}

impl Runtime {
    /// Runs `t` to the end; `out` receives its output as it comes ("stdout"/"stderr",
    /// bytes). Returns the exit code; `Error::Command` when the command cannot be run.
    pub fn run_task(&self, t: &Task<'_>, out: &(dyn Fn(&str, &[u8]) + Sync)) -> Result<i32> {
        let _warm = crate::cgroup_warm::start(std::time::Duration::from_secs(1));
        let root = RootDir::open(t.rootfs).map_err(io_err("open the build root"))?;
        let user = resolve_user(&root, &t.config.user).map_err(|m| Error::Command {
            code: 126,
            message: m,
        })?;
        if !t.config.cwd.is_empty() {
            // Docker creates a missing working directory.
            root.mkdir_all(Path::new(&t.config.cwd))
                .map_err(io_err(format!(
                    "create the working directory {}",
                    t.config.cwd
                )))?;
        }
        let path_env = t.config.env.iter().find_map(|e| e.strip_prefix("PATH="));
        check_command(&root, &t.config.args[0], path_env, &t.config.cwd)
            .map_err(|(code, message)| Error::Command { code, message })?;
        drop(root);
        std::fs::create_dir_all(t.dir).map_err(io_err(format!("create {}", t.dir.display())))?;
        let hostname = if t.config.hostname.is_empty() {
            "berth-build".to_string()
        } else {
            t.config.hostname.clone()
        };
        let mut config = t.config.clone();
        config.hostname = hostname;
        let c = Container {
            id: t.id.clone(),
            name: t.id.clone(),
            created: String::new(),
            config,
            state: Default::default(),
        };
        std::fs::write(t.dir.join("hostname"), format!("{}\n", c.config.hostname))
            .map_err(io_err("write hostname"))?;
        std::fs::write(t.dir.join("hosts"), crate::network::hosts_file(&c, None))
            .map_err(io_err("write hosts"))?;
        let resolv = if t.config.network == "host" {
            std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default()
        } else {
            crate::network::resolv_conf(&c.config, None)
        };
        std::fs::write(t.dir.join("resolv.conf"), resolv).map_err(io_err("write resolv.conf"))?;
        let spec = spec::build(
            &c,
            &user,
            &spec::SpecPaths {
                rootfs: t.rootfs,
                hosts: &t.dir.join("hosts"),
                hostname: &t.dir.join("hostname"),
                resolv: &t.dir.join("resolv.conf"),
                volume_dirs: &[],
                init: None,
                netns: None,
            },
        )
        .map_err(Error::Invalid)?;
        std::fs::write(
            t.dir.join("config.json"),
            serde_json::to_vec_pretty(&spec).expect("serialises"),
        )
        .map_err(io_err("write config.json"))?;

        let exe = self.executor_for(&t.config.runtime);
        let pid_file = t.dir.join("init.pid");
        let log = t.dir.join("runtime.log");
        let mut cmd = exe.run_command(&t.id, t.dir, &pid_file, &log);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(|e| {
            Error::Invalid(format!(
                "cannot start the OCI runtime {}: {e}",
                exe.binary.display()
            ))
        })?;
        let pipes: Vec<(&str, Box<dyn Read + Send>)> = vec![
            ("stdout", Box::new(child.stdout.take().expect("piped"))),
            ("stderr", Box::new(child.stderr.take().expect("piped"))),
        ];
        let status = std::thread::scope(|s| {
            for (name, mut pipe) in pipes {
                s.spawn(move || {
                    let mut buf = vec![0u8; 16 * 1024];
                    loop {
                        match pipe.read(&mut buf) {
                            Ok(0) => break,
                            Ok(n) => out(name, &buf[..n]),
                            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                            Err(_) => break,
                        }
                    }
                });
            }
            child.wait()
        });
        let _ = exe.delete(&t.id);
        let status = status.map_err(io_err("wait for the OCI runtime"))?;
        let code = status.code().unwrap_or_else(|| {
            128 + std::os::unix::process::ExitStatusExt::signal(&status).unwrap_or(0)
        });
        if !pid_file.exists() {
            if let Some(msg) = crate::monitor::runtime_error(&log) {
                let code = if msg.contains("not found") || msg.contains("no such file") {
                    127
                } else {
                    126
                };
                return Err(Error::Command { code, message: msg });
            }
        }
        Ok(code)
    }
}

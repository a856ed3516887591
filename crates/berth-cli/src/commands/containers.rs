//! run, create, start, exec, ps, logs, stop, kill, restart, rm, wait, inspect, cp, top,
//! rename, commit, volume, container prune, and the hidden container-monitor.

use super::open_store;
use crate::cli::{
    AnyInspectArgs, CommitArgs, CreateFlags, ExecArgs, KillArgs, LogsArgs, PsArgs, RmArgs, RunArgs,
    StartArgs, StopArgs, VolumeCommand,
};
use crate::output::{ago, table, Format};
use anyhow::{bail, Context, Result};
use berth_image::reference::Reference;
use berth_runtime::commit::CommitOptions;
use berth_runtime::model::Healthcheck;
use berth_runtime::{
    Attach, Container, CreateOptions, ExecOptions, Mount, RestartPolicy, Runtime, Status,
};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::Path;

fn runtime(root: &Path) -> Result<Runtime> {
    Ok(Runtime::new(open_store(root)?))
}

/// Docker's memory sizes: binary units, b/k/m/g.
fn parse_mem(s: &str) -> Result<i64> {
    let v = berth_runtime::options::ram_bytes(s)
        .map_err(|e| anyhow::anyhow!("{e}"))
        .with_context(|| format!("invalid memory size {s:?}: use e.g. 64m or 1g"))?
        as i64;
    if v < 6 << 20 {
        bail!("minimum memory limit allowed is 6MB, got {s}");
    }
    Ok(v)
}

fn parse_duration_ms(s: &str) -> Result<u64> {
    Ok(humantime::parse_duration(s)
        .with_context(|| format!("invalid duration {s:?}: use e.g. 30s, 1m30s, 500ms"))?
        .as_millis() as u64)
}

fn env_file(p: &Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(p)
        .with_context(|| format!("cannot read env file {}", p.display()))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let l = line.trim_start();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        if l.contains(char::is_whitespace) && !l.contains('=') {
            bail!(
                "{}:{}: invalid line {line:?}: want KEY=VALUE",
                p.display(),
                i + 1
            );
        }
        out.push(l.to_string());
    }
    Ok(out)
}

/// `-v HOST:CTR[:ro]`, `-v NAME:CTR[:ro]`, `-v CTR`.
pub(crate) fn parse_volume(v: &str) -> Result<Mount> {
    let parts: Vec<&str> = v.split(':').collect();
    let (src, dst, opts) = match parts.as_slice() {
        [dst] => ("", *dst, ""),
        [src, dst] => (*src, *dst, ""),
        [src, dst, opts] => (*src, *dst, *opts),
        _ => bail!("invalid volume spec {v:?}: use HOST:CTR[:ro], NAME:CTR[:ro] or CTR"),
    };
    let mut read_only = false;
    for o in opts.split(',').filter(|o| !o.is_empty()) {
        match o {
            "ro" => read_only = true,
            "rw" | "z" | "Z" | "rprivate" | "private" => {}
            other => bail!("invalid volume option {other:?} in {v:?}"),
        }
    }
    let kind = if src.starts_with('/') || src.starts_with('.') {
        "bind"
    } else {
        "volume"
    };
    let source = if src.starts_with('.') {
        std::fs::canonicalize(src)
            .with_context(|| format!("bind source {src} does not exist"))?
            .display()
            .to_string()
    } else {
        src.to_string()
    };
    Ok(Mount {
        kind: kind.into(),
        source,
        target: dst.to_string(),
        read_only,
        options: vec![],
    })
}

/// `--mount type=...,source=...,target=...[,readonly][,tmpfs-size=...]`
fn parse_mount(s: &str) -> Result<Mount> {
    let mut m = Mount {
        kind: "volume".into(),
        ..Default::default()
    };
    for kv in s.split(',') {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        match k {
            "type" => m.kind = v.to_string(),
            "source" | "src" => m.source = v.to_string(),
            "target" | "destination" | "dst" => m.target = v.to_string(),
            "readonly" | "ro" => m.read_only = v.is_empty() || v == "true" || v == "1",
            "tmpfs-size" => m.options.push(format!("size={v}")),
            "tmpfs-mode" => m.options.push(format!("mode={v}")),
            "bind-propagation" | "volume-nocopy" | "consistency" => {}
            other => bail!("unknown --mount option {other:?} in {s:?}"),
        }
    }
    if m.target.is_empty() {
        bail!("--mount {s:?} has no target");
    }
    if m.kind == "bind" && !Path::new(&m.source).exists() {
        bail!(
            "--mount {s:?}: bind source path does not exist: {}",
            m.source
        );
    }
    Ok(m)
}

fn create_options(f: &CreateFlags) -> Result<CreateOptions> {
    let image = f.image_and_args[0].clone();
    let cmd = f.image_and_args[1..].to_vec();
    let mut env = f.env.clone();
    for p in &f.env_file {
        env.extend(env_file(p)?);
    }
    let mut mounts = Vec::new();
    for v in &f.volumes {
        mounts.push(parse_volume(v)?);
    }
    for m in &f.mounts {
        mounts.push(parse_mount(m)?);
    }
    for t in &f.tmpfs {
        let (target, opts) = t.split_once(':').unwrap_or((t, ""));
        mounts.push(Mount {
            kind: "tmpfs".into(),
            source: String::new(),
            target: target.into(),
            read_only: false,
            options: opts
                .split(',')
                .filter(|o| !o.is_empty())
                .map(str::to_string)
                .collect(),
        });
    }
    if f.systemd {
        for (target, opts) in [
            ("/run", "mode=755"),
            ("/run/lock", "mode=1777"),
            ("/tmp", "mode=1777"),
            ("/var/log/journal", "mode=755"),
        ] {
            if !mounts
                .iter()
                .any(|m| m.target.trim_end_matches('/') == target)
            {
                mounts.push(Mount {
                    kind: "tmpfs".into(),
                    source: String::new(),
                    target: target.into(),
                    read_only: false,
                    options: vec![opts.into()],
                });
            }
        }
        if !env.iter().any(|e| e.starts_with("container=")) {
            env.push("container=berth".into());
        }
    }
    let mut labels = BTreeMap::new();
    for l in &f.labels {
        let (k, v) = l.split_once('=').unwrap_or((l, ""));
        labels.insert(k.to_string(), v.to_string());
    }
    let (no_new_privileges, seccomp) =
        berth_runtime::options::security_opts(&f.security_opt).map_err(anyhow::Error::msg)?;
    let ulimits = f
        .ulimit
        .iter()
        .map(|u| berth_runtime::options::ulimit(u).map_err(anyhow::Error::msg))
        .collect::<Result<Vec<_>>>()?;
    let sysctls = f
        .sysctl
        .iter()
        .map(|kv| {
            berth_runtime::options::sysctl(kv, f.network == "host").map_err(anyhow::Error::msg)
        })
        .collect::<Result<BTreeMap<_, _>>>()?;
    let shm_size = f
        .shm_size
        .as_deref()
        .map(|v| {
            berth_runtime::options::ram_bytes(v).map_err(|e| anyhow::anyhow!("--shm-size: {e}"))
        })
        .transpose()?;
    let (mut log_max_size, mut log_max_files) = (0u64, 0u32);
    for o in &f.log_opt {
        match o.split_once('=') {
            Some(("max-size", v)) => {
                log_max_size =
                    parse_mem(v).or_else(|_| crate::output::parse_size(v).map(|n| n as i64))? as u64
            }
            Some(("max-file", v)) => {
                log_max_files = v
                    .parse()
                    .with_context(|| format!("invalid --log-opt {o:?}"))?
            }
            _ => bail!("unsupported --log-opt {o:?}: use max-size=SIZE or max-file=N"),
        }
    }
    let healthcheck = match &f.health_cmd {
        Some(cmd) => Some(Healthcheck {
            test: vec!["CMD-SHELL".into(), cmd.clone()],
            interval_ms: f
                .health_interval
                .as_deref()
                .map(parse_duration_ms)
                .transpose()?
                .unwrap_or(30_000),
            timeout_ms: f
                .health_timeout
                .as_deref()
                .map(parse_duration_ms)
                .transpose()?
                .unwrap_or(30_000),
            start_period_ms: f
                .health_start_period
                .as_deref()
                .map(parse_duration_ms)
                .transpose()?
                .unwrap_or(0),
            retries: f.health_retries.unwrap_or(3),
        }),
        None => None,
    };
    let publish = f
        .publish
        .iter()
        .map(|p| berth_net::ports::parse(p).map_err(anyhow::Error::msg))
        .collect::<Result<Vec<_>>>()?;
    let add_hosts = f
        .add_host
        .iter()
        .map(|h| berth_runtime::options::add_host(h).map_err(anyhow::Error::msg))
        .collect::<Result<Vec<_>>>()?;
    let bridge = berth_runtime::network::is_bridge_mode(&f.network);
    let networks = if bridge && (!f.network_alias.is_empty() || f.ip.is_some()) {
        vec![berth_runtime::NetworkAttachment {
            network: f.network.clone(),
            aliases: f.network_alias.clone(),
            ip: f.ip,
        }]
    } else if !f.network_alias.is_empty() || f.ip.is_some() {
        bail!(
            "--network-alias and --ip need a bridge network, not --network {}",
            f.network
        );
    } else {
        vec![]
    };
    let config = berth_runtime::ContainerConfig {
        env,
        hostname: f.hostname.clone().unwrap_or_default(),
        tty: f.tty,
        open_stdin: f.interactive,
        auto_remove: f.rm,
        read_only: f.read_only,
        privileged: f.privileged,
        cap_add: f.cap_add.clone(),
        cap_drop: f.cap_drop.clone(),
        no_new_privileges,
        seccomp,
        init: f.init,
        mounts,
        labels,
        memory: f.memory.as_deref().map(parse_mem).transpose()?,
        cpus: f.cpus,
        pids_limit: f.pids_limit,
        ulimits,
        restart: RestartPolicy::parse(&f.restart).map_err(anyhow::Error::msg)?,
        healthcheck,
        runtime: f.runtime.clone().unwrap_or_default(),
        network: f.network.clone(),
        networks,
        publish,
        dns: f.dns.iter().map(|d| d.to_string()).collect(),
        dns_search: f.dns_search.clone(),
        dns_options: f.dns_option.clone(),
        add_hosts,
        log_max_size,
        log_max_files,
        shm_size,
        sysctls,
        annotations: if f.systemd {
            BTreeMap::from([("berth.systemd".to_string(), "true".to_string())])
        } else {
            BTreeMap::new()
        },
        ..Default::default()
    };
    Ok(CreateOptions {
        name: f.name.clone(),
        image,
        cmd,
        entrypoint: f.entrypoint.clone(),
        workdir: f.workdir.clone(),
        user: f.user.clone(),
        stop_signal: f
            .stop_signal
            .clone()
            .or_else(|| f.systemd.then(|| "SIGRTMIN+3".to_string())),
        stop_timeout: f.stop_timeout,
        no_healthcheck: f.no_healthcheck,
        publish_all: f.publish_all,
        config,
    })
}

pub fn create(root: &Path, f: CreateFlags) -> Result<i32> {
    let rt = runtime(root)?;
    let c = rt.create(create_options(&f)?)?;
    println!("{}", c.id);
    Ok(0)
}

pub fn run(root: &Path, a: RunArgs) -> Result<i32> {
    let rt = runtime(root)?;
    let c = rt.create(create_options(&a.create)?)?;
    if a.detach {
        rt.start_detached(&c.id).inspect_err(|_| {
            if c.config.auto_remove {
                let _ = rt.remove(&c.id, true, true);
            }
        })?;
        println!("{}", c.id);
        return Ok(0);
    }
    let attach = Attach {
        stdin: a.create.interactive,
        terminal: a.create.tty && std::io::stdin().is_terminal(),
    };
    Ok(rt.monitor(&c.id, Some(attach), None)?)
}

pub fn start(root: &Path, a: StartArgs) -> Result<i32> {
    let rt = runtime(root)?;
    if a.attach {
        if a.containers.len() != 1 {
            bail!("you cannot start and attach multiple containers at once");
        }
        let c = rt.get(&a.containers[0])?;
        let attach = Attach {
            stdin: a.interactive,
            terminal: c.config.tty && std::io::stdin().is_terminal(),
        };
        return Ok(rt.monitor(&c.id, Some(attach), None)?);
    }
    for name in &a.containers {
        rt.start_detached(name)?;
        println!("{name}");
    }
    Ok(0)
}

pub fn exec(root: &Path, a: ExecArgs) -> Result<i32> {
    let rt = runtime(root)?;
    let (ctr, args) = a.container_and_args.split_first().expect("required");
    if args.is_empty() {
        bail!("exec needs a command after the container name");
    }
    Ok(rt.exec(
        ctr,
        &ExecOptions {
            args: args.to_vec(),
            env: a.env,
            user: a.user,
            workdir: a.workdir,
            tty: a.tty,
            interactive: a.interactive,
            detach: a.detach,
            privileged: a.privileged,
        },
    )?)
}

pub(crate) fn status_text(c: &Container) -> String {
    let since = |t: &Option<String>| {
        t.as_deref()
            .and_then(|s| s.parse::<jiff::Timestamp>().ok())
            .map(|t| t.as_second())
            .unwrap_or(0)
    };
    let health = c
        .state
        .health
        .as_ref()
        .map(|h| {
            format!(
                " ({})",
                if h.status == "starting" {
                    "health: starting"
                } else {
                    &h.status
                }
            )
        })
        .unwrap_or_default();
    match c.state.status {
        Status::Created => "Created".into(),
        Status::Running => format!(
            "Up {}{health}",
            ago(since(&c.state.started_at)).trim_end_matches(" ago")
        ),
        Status::Restarting => format!(
            "Restarting ({}) {}",
            c.state.exit_code.unwrap_or(0),
            ago(since(&c.state.finished_at))
        ),
        Status::Exited => format!(
            "Exited ({}) {}",
            c.state.exit_code.unwrap_or(0),
            ago(since(&c.state.finished_at))
        ),
        s => s.as_str().to_string(),
    }
}

fn summary(c: &Container, no_trunc: bool) -> Value {
    let cmd = c.config.args.join(" ");
    json!({
        "ID": if no_trunc { c.id.clone() } else { c.id[..12].to_string() },
        "Image": c.config.image_name,
        "Command": if no_trunc || cmd.chars().count() <= 20 { format!("\"{cmd}\"") } else { format!("\"{}…\"", cmd.chars().take(19).collect::<String>()) },
        "CreatedAt": c.created,
        "Status": status_text(c),
        "State": c.state.status.as_str(),
        "Names": c.name,
        "Labels": c.config.labels,
        "ExitCode": c.state.exit_code,
        "Health": c.state.health.as_ref().map(|h| h.status.clone()),
    })
}

pub fn ps(root: &Path, a: PsArgs) -> Result<i32> {
    let rt = runtime(root)?;
    let mut list = rt.list_refreshed()?;
    let mut status_filter: Vec<String> = Vec::new();
    for f in &a.filters {
        let (k, v) = f
            .split_once('=')
            .with_context(|| format!("invalid filter {f:?}: want KEY=VALUE"))?;
        match k {
            "status" => status_filter.push(v.to_string()),
            "label" => {
                let (lk, lv) = v
                    .split_once('=')
                    .map(|(a, b)| (a, Some(b)))
                    .unwrap_or((v, None));
                list.retain(|c| match lv {
                    Some(lv) => c.config.labels.get(lk).map(String::as_str) == Some(lv),
                    None => c.config.labels.contains_key(lk),
                });
            }
            "name" => list.retain(|c| c.name.contains(v)),
            "id" => list.retain(|c| c.id.starts_with(v)),
            "ancestor" => list.retain(|c| c.config.image_name == v || c.config.image.contains(v)),
            _ => bail!("unknown filter {k:?}: use status, label, name, id or ancestor"),
        }
    }
    if !status_filter.is_empty() {
        list.retain(|c| status_filter.iter().any(|s| s == c.state.status.as_str()));
    } else if !a.all {
        list.retain(|c| matches!(c.state.status, Status::Running | Status::Restarting));
    }
    if a.quiet {
        for c in &list {
            println!(
                "{}",
                if a.no_trunc {
                    c.id.clone()
                } else {
                    c.id[..12].to_string()
                }
            );
        }
        return Ok(0);
    }
    let objects: Vec<Value> = list.iter().map(|c| summary(c, a.no_trunc)).collect();
    match Format::parse(a.format.as_deref()) {
        Format::Table => {
            let rows: Vec<Vec<String>> = objects
                .iter()
                .zip(&list)
                .map(|(o, c)| {
                    vec![
                        o["ID"].as_str().unwrap_or_default().to_string(),
                        c.config.image_name.clone(),
                        o["Command"].as_str().unwrap_or_default().to_string(),
                        c.created
                            .parse::<jiff::Timestamp>()
                            .map(|t| ago(t.as_second()))
                            .unwrap_or_default(),
                        status_text(c),
                        if c.state.status == Status::Running {
                            rt.published_ports(&c.id)
                                .unwrap_or_default()
                                .iter()
                                .map(|p| {
                                    format!(
                                        "{}:{}->{}/{}",
                                        p.host_ip.unwrap_or(std::net::Ipv4Addr::UNSPECIFIED),
                                        p.host_port,
                                        p.container_port,
                                        p.proto.as_str()
                                    )
                                })
                                .collect::<Vec<_>>()
                                .join(", ")
                        } else {
                            String::new()
                        },
                        c.name.clone(),
                    ]
                })
                .collect();
            table(
                &[
                    "CONTAINER ID",
                    "IMAGE",
                    "COMMAND",
                    "CREATED",
                    "STATUS",
                    "PORTS",
                    "NAMES",
                ],
                &rows,
            );
        }
        f => f.print_objects(&objects)?,
    }
    Ok(0)
}

pub fn logs(root: &Path, a: LogsArgs) -> Result<i32> {
    let rt = runtime(root)?;
    let c = rt.get(&a.container)?;
    let path = rt.dir(&c.id).join(berth_runtime::logs::LOG_FILE);
    let tail = match a.tail.as_deref() {
        None | Some("all") => None,
        Some(n) => Some(
            n.parse::<usize>()
                .with_context(|| format!("--tail {n:?}: want a number or all"))?,
        ),
    };
    let since = a
        .since
        .as_deref()
        .map(|s| {
            berth_store::gc::parse_time_spec(s)
                .map(|t| jiff::Timestamp::from_second(t).unwrap_or(jiff::Timestamp::UNIX_EPOCH))
        })
        .transpose()?;
    let opts = berth_runtime::logs::ReadOptions {
        tail,
        since,
        timestamps: a.timestamps,
    };
    let (mut out, mut err) = (std::io::stdout(), std::io::stderr());
    let pos = berth_runtime::logs::read(&path, &opts, &mut out, &mut err)?;
    if a.follow {
        let id = c.id.clone();
        let done = || {
            rt.get(&id)
                .and_then(|c| rt.refresh(c))
                .map(|c| {
                    !matches!(
                        c.state.status,
                        Status::Running | Status::Restarting | Status::Created
                    )
                })
                .unwrap_or(true)
        };
        let opts = berth_runtime::logs::ReadOptions { tail: None, ..opts };
        berth_runtime::logs::follow(&path, pos, &opts, &mut out, &mut err, &done)?;
    }
    Ok(0)
}

pub(super) fn each(names: &[String], mut f: impl FnMut(&str) -> Result<()>) -> Result<i32> {
    let mut failed = false;
    for n in names {
        match f(n) {
            Ok(()) => println!("{n}"),
            Err(e) => {
                eprintln!("berth: error: {}", crate::output::error_chain(&e));
                failed = true;
            }
        }
    }
    Ok(if failed { 1 } else { 0 })
}

pub fn stop(root: &Path, a: StopArgs) -> Result<i32> {
    let rt = runtime(root)?;
    each(&a.containers, |n| {
        rt.stop(n, a.time).map(drop).map_err(Into::into)
    })
}

pub fn restart(root: &Path, a: StopArgs) -> Result<i32> {
    let rt = runtime(root)?;
    each(&a.containers, |n| {
        rt.stop(n, a.time)?;
        rt.start_detached(n)?;
        Ok(())
    })
}

pub fn kill(root: &Path, a: KillArgs) -> Result<i32> {
    let rt = runtime(root)?;
    each(&a.containers, |n| {
        rt.kill(n, &a.signal).map(drop).map_err(Into::into)
    })
}

pub fn rm(root: &Path, a: RmArgs) -> Result<i32> {
    let rt = runtime(root)?;
    each(&a.containers, |n| {
        rt.remove(n, a.force, a.volumes).map_err(Into::into)
    })
}

pub fn wait(root: &Path, containers: Vec<String>) -> Result<i32> {
    let rt = runtime(root)?;
    for c in &containers {
        println!("{}", rt.wait(c)?);
    }
    Ok(0)
}

fn container_json(rt: &Runtime, c: &Container) -> Value {
    let cfg = &c.config;
    json!({
        "Id": c.id,
        "Name": format!("/{}", c.name),
        "Created": c.created,
        "Path": cfg.args.first(),
        "Args": cfg.args.get(1..).unwrap_or_default(),
        "State": {
            "Status": c.state.status.as_str(),
            "Running": c.state.status == Status::Running,
            "Paused": false,
            "Restarting": c.state.status == Status::Restarting,
            "OOMKilled": c.state.oom_killed,
            "Dead": c.state.status == Status::Dead,
            "Pid": c.state.pid,
            "MonitorPid": c.state.monitor_pid,
            "ExitCode": c.state.exit_code.unwrap_or(0),
            "Error": c.state.error,
            "StartedAt": c.state.started_at,
            "FinishedAt": c.state.finished_at,
            "Health": c.state.health.as_ref().map(|h| json!({"Status": h.status, "FailingStreak": h.failing_streak, "LastOutput": h.last_output})),
        },
        "Image": cfg.image,
        "ImageName": cfg.image_name,
        "RestartCount": c.state.restart_count,
        "LogPath": rt.dir(&c.id).join(berth_runtime::logs::LOG_FILE),
        "Mounts": cfg.mounts.iter().map(|m| json!({
            "Type": m.kind, "Name": if m.kind == "volume" { Some(&m.source) } else { None },
            "Source": if m.kind == "volume" { rt.volume_dir(&m.source).display().to_string() } else { m.source.clone() },
            "Destination": m.target, "RW": !m.read_only,
        })).collect::<Vec<_>>(),
        "Config": {
            "Hostname": cfg.hostname, "User": cfg.user, "Env": cfg.env, "Cmd": cfg.args, "WorkingDir": cfg.cwd,
            "Labels": cfg.labels, "StopSignal": cfg.stop_signal, "Tty": cfg.tty, "OpenStdin": cfg.open_stdin, "Image": cfg.image_name,
        },
        "HostConfig": {
            "AutoRemove": cfg.auto_remove, "ReadonlyRootfs": cfg.read_only, "Privileged": cfg.privileged,
            "CapAdd": cfg.cap_add, "CapDrop": cfg.cap_drop, "Memory": cfg.memory.unwrap_or(0),
            "NanoCpus": cfg.cpus.map(|c| (c * 1e9) as i64).unwrap_or(0), "PidsLimit": cfg.pids_limit,
            "RestartPolicy": {"Name": cfg.restart.name, "MaximumRetryCount": cfg.restart.max_retries},
            "NetworkMode": cfg.network, "Init": cfg.init, "Runtime": if cfg.runtime.is_empty() { "runc" } else { &cfg.runtime },
            "PortBindings": cfg.publish.iter().map(|p| json!({"ContainerPort": p.container_port, "Protocol": p.proto.as_str(), "HostIp": p.host_ip.map(|i| i.to_string()).unwrap_or_default(), "HostPort": p.host_port})).collect::<Vec<_>>(),
            "Dns": cfg.dns, "ExtraHosts": cfg.add_hosts.iter().map(|(n, i)| format!("{n}:{i}")).collect::<Vec<_>>(),
        },
        "NetworkSettings": network_settings(rt, c),
    })
}

fn network_settings(rt: &Runtime, c: &Container) -> Value {
    let addrs = rt.addresses(&c.id).unwrap_or_default();
    let ports = rt.published_ports(&c.id).unwrap_or_default();
    let mut networks = serde_json::Map::new();
    for (name, addr, gw) in &addrs {
        let aliases = c
            .config
            .networks
            .iter()
            .find(|a| &a.network == name)
            .map(|a| a.aliases.clone())
            .unwrap_or_default();
        networks.insert(
            name.clone(),
            json!({"IPAddress": addr, "Gateway": gw, "Aliases": aliases}),
        );
    }
    json!({
        "IPAddress": addrs.first().map(|a| a.1.clone()).unwrap_or_default(),
        "Gateway": addrs.first().map(|a| a.2.clone()).unwrap_or_default(),
        "Networks": networks,
        "Ports": ports.iter().map(|p| json!({"ContainerPort": p.container_port, "Protocol": p.proto.as_str(), "HostIp": p.host_ip.unwrap_or(std::net::Ipv4Addr::UNSPECIFIED).to_string(), "HostPort": p.host_port})).collect::<Vec<_>>(),
    })
}

pub fn inspect(root: &Path, a: AnyInspectArgs) -> Result<i32> {
    let rt = runtime(root)?;
    let mut out = Vec::new();
    let mut failed = false;
    for n in &a.names {
        let as_container = a.kind.as_deref() != Some("image");
        let as_image = a.kind.as_deref() != Some("container");
        if as_container {
            if let Ok(c) = rt.get(n).and_then(|c| rt.refresh(c)) {
                out.push(container_json(&rt, &c));
                continue;
            }
        }
        if as_image {
            if let Ok(img) = rt.store.resolve(n) {
                out.push(super::images::inspect_json(&rt.store, &img)?);
                continue;
            }
        }
        eprintln!("berth: error: no such object: {n}");
        failed = true;
    }
    crate::output::print_inspect(&out, a.format.as_deref())?;
    Ok(if failed { 1 } else { 0 })
}

pub fn cp(root: &Path, source: &str, destination: &str) -> Result<i32> {
    let rt = runtime(root)?;
    let split = |s: &str| -> Option<(String, String)> {
        let (c, p) = s.split_once(':')?;
        if c.is_empty() || c.contains('/') {
            return None;
        }
        Some((c.to_string(), p.to_string()))
    };
    match (split(source), split(destination)) {
        (Some((c, p)), None) => rt.copy_out(&c, &p, Path::new(destination))?,
        (None, Some((c, p))) => rt.copy_in(&c, Path::new(source), &p)?,
        _ => bail!("give exactly one side as CONTAINER:PATH, e.g. berth cp web:/etc/hosts ./hosts"),
    }
    Ok(0)
}

pub fn top(root: &Path, container: &str) -> Result<i32> {
    let rt = runtime(root)?;
    let pids = rt.processes(container)?;
    let rows: Vec<Vec<String>> = pids
        .iter()
        .map(|p| {
            let stat = std::fs::read_to_string(format!("/proc/{p}/status")).unwrap_or_default();
            let uid = stat
                .lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|l| l.split_whitespace().next())
                .unwrap_or("?")
                .to_string();
            let ppid = stat
                .lines()
                .find_map(|l| l.strip_prefix("PPid:"))
                .map(|s| s.trim().to_string())
                .unwrap_or_default();
            let cmd = std::fs::read(format!("/proc/{p}/cmdline"))
                .map(|c| {
                    String::from_utf8_lossy(&c)
                        .replace('\0', " ")
                        .trim()
                        .to_string()
                })
                .unwrap_or_default();
            vec![uid, p.to_string(), ppid, cmd]
        })
        .collect();
    table(&["UID", "PID", "PPID", "CMD"], &rows);
    Ok(0)
}

pub fn rename(root: &Path, container: &str, new_name: &str) -> Result<i32> {
    runtime(root)?.rename(container, new_name)?;
    Ok(0)
}

pub fn commit(root: &Path, a: CommitArgs) -> Result<i32> {
    let rt = runtime(root)?;
    let tag = a
        .reference
        .as_deref()
        .map(Reference::parse_tagged)
        .transpose()?;
    let img = rt.commit(
        &a.container,
        tag.as_ref(),
        &CommitOptions {
            changes: a.changes,
            message: a.message,
            author: a.author,
        },
    )?;
    println!("{}", img.id);
    Ok(0)
}

pub fn volume(root: &Path, cmd: VolumeCommand) -> Result<i32> {
    let rt = runtime(root)?;
    match cmd {
        VolumeCommand::Create { name, labels } => {
            let name = name.unwrap_or_else(|| {
                format!(
                    "{:016x}{:016x}",
                    rand::random::<u64>(),
                    rand::random::<u64>()
                )
            });
            let labels: BTreeMap<String, String> = labels
                .iter()
                .map(|l| {
                    l.split_once('=')
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .unwrap_or((l.clone(), String::new()))
                })
                .collect();
            rt.volume_create(&name, false, &labels)?;
            println!("{name}");
        }
        VolumeCommand::Ls { quiet, format } => {
            let vols = rt.store.volumes()?;
            if quiet {
                for v in vols {
                    println!("{}", v.name);
                }
            } else {
                match Format::parse(format.as_deref()) {
                    Format::Table => table(&["DRIVER", "VOLUME NAME"], &vols.iter().map(|v| vec!["local".into(), v.name.clone()]).collect::<Vec<_>>()),
                    f => f.print_objects(&vols.iter().map(|v| json!({"Name": v.name, "Driver": "local", "Mountpoint": rt.volume_dir(&v.name)})).collect::<Vec<_>>())?,
                }
            }
        }
        VolumeCommand::Inspect { names } => {
            let mut out = Vec::new();
            for n in names {
                let v = rt.store.volume(&n)?;
                out.push(json!({
                    "Name": v.name, "Driver": "local", "Mountpoint": rt.volume_dir(&v.name),
                    "CreatedAt": crate::output::rfc3339(v.created), "Labels": serde_json::from_str::<Value>(&v.labels).unwrap_or(json!({})),
                    "Scope": "local", "Anonymous": v.anonymous, "UsedBy": rt.store.volume_users(&v.name)?,
                }));
            }
            println!("{}", serde_json::to_string_pretty(&out)?);
        }
        VolumeCommand::Rm { names, force } => {
            return each(&names, |n| rt.volume_remove(n, force).map_err(Into::into))
        }
        VolumeCommand::Prune { all, force } => {
            if !force
                && !super::confirm(
                    "WARNING! This will remove unused volumes. Are you sure you want to continue?",
                )
            {
                return Ok(0);
            }
            for n in rt.volume_prune(all)? {
                println!("Deleted: {n}");
            }
        }
    }
    Ok(0)
}

pub fn container_prune(root: &Path, force: bool) -> Result<i32> {
    if !force
        && !super::confirm(
            "WARNING! This will remove all stopped containers. Are you sure you want to continue?",
        )
    {
        return Ok(0);
    }
    let rt = runtime(root)?;
    for n in rt.prune_containers()? {
        println!("Deleted: {n}");
    }
    Ok(0)
}

pub fn monitor(root: &Path, id: &str) -> Result<i32> {
    Ok(runtime(root)?.monitor_main(id)?)
}

pub fn stats(root: &Path, names: &[String], format: Option<&str>) -> Result<i32> {
    let rt = runtime(root)?;
    let stats = rt.stats(names, std::time::Duration::from_millis(250))?;
    match Format::parse(format) {
        Format::Table => {
            let rows: Vec<Vec<String>> = stats
                .iter()
                .map(|s| {
                    vec![
                        s.id[..12].to_string(),
                        s.name.clone(),
                        format!("{:.2}%", s.cpu_percent),
                        format!("{} / {}", crate::output::human_size(s.memory_usage), crate::output::human_size(s.memory_limit)),
                        format!("{:.2}%", s.memory_usage as f64 * 100.0 / s.memory_limit.max(1) as f64),
                        s.pids.to_string(),
                    ]
                })
                .collect();
            table(&["CONTAINER ID", "NAME", "CPU %", "MEM USAGE / LIMIT", "MEM %", "PIDS"], &rows);
        }
        f => f.print_objects(&stats.iter().map(|s| json!({"ID": s.id, "Name": s.name, "CPUPerc": s.cpu_percent, "MemUsage": s.memory_usage, "MemLimit": s.memory_limit, "PIDs": s.pids})).collect::<Vec<_>>())?,
    }
    Ok(0)
}

/// A container started with `-i` takes our stdin and gives its output (Ctrl-P Ctrl-Q
/// leaves it running); without `-i` its stdin is closed and this follows its output.
pub fn attach(root: &Path, container: &str) -> Result<i32> {
    let rt = runtime(root)?;
    let c = rt.refresh(rt.get(container)?)?;
    if c.state.status != Status::Running {
        bail!("container {} is not running", c.name);
    }
    if let Some(conn) = berth_runtime::attach::connect(&rt.dir(&c.id)) {
        let raw = c.config.tty && std::io::stdin().is_terminal();
        return match berth_runtime::attach::session(conn, raw).context("attach")? {
            berth_runtime::attach::Ended::Detached => Ok(0),
            berth_runtime::attach::Ended::Output => Ok(rt.wait(&c.id)?),
        };
    }
    let path = rt.dir(&c.id).join(berth_runtime::logs::LOG_FILE);
    let pos = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    let opts = berth_runtime::logs::ReadOptions {
        tail: None,
        since: None,
        timestamps: false,
    };
    let id = c.id.clone();
    let done = || {
        rt.get(&id)
            .and_then(|c| rt.refresh(c))
            .map(|c| !matches!(c.state.status, Status::Running | Status::Restarting))
            .unwrap_or(true)
    };
    berth_runtime::logs::follow(
        &path,
        pos,
        &opts,
        &mut std::io::stdout(),
        &mut std::io::stderr(),
        &done,
    )?;
    Ok(rt.wait(&id)?)
}

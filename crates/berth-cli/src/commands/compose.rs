//! `berth compose ...`: load the project (berth-compose), call the engine, print.

use super::open_store;
use crate::cli::{
    ComposeArgs, ComposeCommand, ComposeExecArgs, ComposeRunArgs, ComposeUpArgs, PushArgs,
};
use crate::output::{table, Format};
use anyhow::{bail, Context, Result};
use berth_compose::engine::{self, Engine, UpOptions};
use berth_compose::{Options, Project};
use berth_image::reference::Reference;
use berth_registry::pull::Platform;
use berth_runtime::{Attach, Container, ExecOptions, Runtime, Status};
use serde_json::json;
use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

fn load(a: &ComposeArgs, services: &[String]) -> Result<Project> {
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let working_dir = match &a.project_directory {
        Some(d) => cwd.join(d),
        None => cwd,
    };
    let opts = Options {
        files: a.files.clone(),
        project_name: a.project_name.clone(),
        profiles: a.profiles.clone(),
        env_files: a.env_files.clone(),
        working_dir,
        environ: std::env::vars().collect(),
        services: services.to_vec(),
    };
    let p = berth_compose::load(&opts)?;
    for w in &p.warnings {
        eprintln!("warning: {w}");
    }
    Ok(p)
}

fn progress(s: &str) {
    eprintln!("{s}");
}

/// The project name for commands that work without files (down, ps, logs... on a
/// project whose files are gone): -p, else the files' project.
fn project_or_name(a: &ComposeArgs, services: &[String]) -> Result<Project> {
    match load(a, services) {
        Ok(p) => Ok(p),
        Err(e) => match &a.project_name {
            Some(n) if a.files.is_empty() => Ok(Project {
                name: n.clone(),
                ..Default::default()
            }),
            _ => Err(e),
        },
    }
}

pub fn run(root: &Path, a: ComposeArgs) -> Result<i32> {
    match &a.command {
        ComposeCommand::Config {
            services,
            volumes,
            profiles,
            quiet,
            format,
            output,
        } => {
            let p = load(&a, &[])?;
            let text = if *services {
                p.services.keys().map(|s| format!("{s}\n")).collect()
            } else if *volumes {
                p.volumes.keys().map(|s| format!("{s}\n")).collect()
            } else if *profiles {
                let mut all: Vec<&String> = p
                    .services
                    .values()
                    .chain(p.disabled.values())
                    .flat_map(|s| &s.profiles)
                    .collect();
                all.sort();
                all.dedup();
                all.iter().map(|s| format!("{s}\n")).collect()
            } else if format == "json" {
                serde_json::to_string_pretty(&p)? + "\n"
            } else if format == "yaml" {
                berth_compose::to_yaml(&p)
            } else {
                bail!("--format {format:?}: use yaml or json");
            };
            if *quiet {
                return Ok(0);
            }
            match output {
                Some(f) => std::fs::write(f, text)
                    .with_context(|| format!("cannot write {}", f.display()))?,
                None => print!("{text}"),
            }
            Ok(0)
        }
        ComposeCommand::Kube { output } => {
            let p = load(&a, &[])?;
            let objects = berth_compose::kube::export(&p)?;
            for w in &objects.warnings {
                eprintln!("warning: {w}");
            }
            match output {
                Some(dir) => {
                    std::fs::create_dir_all(dir)
                        .with_context(|| format!("cannot create {}", dir.display()))?;
                    for (file, text) in objects.files() {
                        let path = dir.join(&file);
                        std::fs::write(&path, text)
                            .with_context(|| format!("cannot write {}", path.display()))?;
                        println!("{}", path.display());
                    }
                }
                None => print!("{}", objects.stream()),
            }
            Ok(0)
        }
        ComposeCommand::Ls { all, quiet, format } => {
            let rt = Runtime::new(open_store(root)?);
            let mut list = engine::list_projects(&rt)?;
            if !all {
                list.retain(|p| p.status.contains("running"));
            }
            if *quiet {
                for p in &list {
                    println!("{}", p.name);
                }
                return Ok(0);
            }
            match Format::parse(format.as_deref()) {
                Format::Table => table(
                    &["NAME", "STATUS", "CONFIG FILES"],
                    &list.iter().map(|p| vec![p.name.clone(), p.status.clone(), p.config_files.clone()]).collect::<Vec<_>>(),
                ),
                f => f.print_objects(&list.iter().map(|p| json!({"Name": p.name, "Status": p.status, "ConfigFiles": p.config_files})).collect::<Vec<_>>())?,
            }
            Ok(0)
        }
        ComposeCommand::Up(u) => up(root, &a, u),
        ComposeCommand::Down {
            volumes,
            remove_orphans,
            timeout,
        } => {
            let p = project_or_name(&a, &[])?;
            let rt = Runtime::new(open_store(root)?);
            engine(&rt, &p).down(*volumes, *remove_orphans, *timeout)?;
            Ok(0)
        }
        ComposeCommand::Ps {
            all,
            quiet,
            format,
            services: names_only,
            status,
            only: services,
        } => {
            const STATES: [&str; 6] = [
                "created",
                "running",
                "restarting",
                "removing",
                "exited",
                "dead",
            ];
            if let Some(s) = status.iter().find(|s| !STATES.contains(&s.as_str())) {
                bail!("--status {s:?}: use one of {}", STATES.join(", "));
            }
            let p = project_or_name(&a, &[])?;
            let rt = Runtime::new(open_store(root)?);
            let mut list = engine(&rt, &p).containers(true)?;
            list.retain(|c| {
                if status.is_empty() {
                    *all || matches!(c.state.status, Status::Running | Status::Restarting)
                } else {
                    status.iter().any(|s| s == c.state.status.as_str())
                }
            });
            list.retain(|c| {
                services.is_empty()
                    || engine::service_of(c)
                        .map(|s| services.contains(&s.0))
                        .unwrap_or(false)
            });
            if *names_only {
                let names: std::collections::BTreeSet<String> = list
                    .iter()
                    .filter_map(|c| engine::service_of(c).map(|s| s.0))
                    .collect();
                for n in names {
                    println!("{n}");
                }
                return Ok(0);
            }
            if *quiet {
                for c in &list {
                    println!("{}", c.id);
                }
                return Ok(0);
            }
            let objects: Vec<serde_json::Value> = list
                .iter()
                .map(|c| {
                    json!({
                        "ID": c.id, "Name": c.name, "Image": c.config.image_name, "Command": c.config.args.join(" "),
                        "Project": p.name, "Service": engine::service_of(c).map(|s| s.0).unwrap_or_default(),
                        "State": c.state.status.as_str(), "Health": c.state.health.as_ref().map(|h| h.status.clone()).unwrap_or_default(),
                        "ExitCode": c.state.exit_code.unwrap_or(0), "Status": super::containers::status_text(c), "Labels": c.config.labels,
                    })
                })
                .collect();
            match Format::parse(format.as_deref()) {
                Format::Table => table(
                    &["NAME", "IMAGE", "COMMAND", "SERVICE", "STATUS"],
                    &objects
                        .iter()
                        .map(|o| {
                            ["Name", "Image", "Command", "Service", "Status"]
                                .iter()
                                .map(|k| {
                                    let s = o[k].as_str().unwrap_or_default().to_string();
                                    if *k == "Command" && s.chars().count() > 20 {
                                        format!("\"{}…\"", s.chars().take(19).collect::<String>())
                                    } else if *k == "Command" {
                                        format!("\"{s}\"")
                                    } else {
                                        s
                                    }
                                })
                                .collect()
                        })
                        .collect::<Vec<_>>(),
                ),
                f => f.print_objects(&objects)?,
            }
            Ok(0)
        }
        ComposeCommand::Logs {
            follow,
            timestamps,
            tail,
            since,
            no_log_prefix,
            no_color: _,
            services,
        } => {
            let p = project_or_name(&a, &[])?;
            let rt = Runtime::new(open_store(root)?);
            let mut list = engine(&rt, &p).containers(true)?;
            list.retain(|c| {
                services.is_empty()
                    || engine::service_of(c)
                        .map(|s| services.contains(&s.0))
                        .unwrap_or(false)
            });
            let tail = match tail.as_deref() {
                None | Some("all") => None,
                Some(n) => Some(
                    n.parse::<usize>()
                        .with_context(|| format!("--tail {n:?}: want a number or all"))?,
                ),
            };
            let follow = follow.then_some(Follow {
                interrupted: None,
                first_exit: None,
                from: BTreeMap::new(),
            });
            let since = since
                .as_deref()
                .map(|s| {
                    berth_store::gc::parse_time_spec(s).map(|t| {
                        jiff::Timestamp::from_second(t).unwrap_or(jiff::Timestamp::UNIX_EPOCH)
                    })
                })
                .transpose()?;
            let read = berth_runtime::logs::ReadOptions {
                tail,
                since,
                timestamps: *timestamps,
            };
            logs(root, &list, follow, read, !*no_log_prefix)?;
            Ok(0)
        }
        ComposeCommand::Build {
            no_cache,
            build_args,
            services,
        } => {
            let p = load(&a, services)?;
            let rt = Runtime::new(open_store(root)?);
            let e = engine(&rt, &p);
            let mut args = BTreeMap::new();
            for kv in build_args {
                // `--build-arg NAME` takes the value from the environment, as Compose does.
                match kv.split_once('=') {
                    Some((k, v)) => args.insert(k.to_string(), v.to_string()),
                    None => match std::env::var(kv) {
                        Ok(v) => args.insert(kv.clone(), v),
                        Err(_) => continue,
                    },
                };
            }
            let mut built = 0;
            for (name, s) in &p.services {
                if (services.is_empty() || services.contains(name)) && s.build.is_some() {
                    e.build_service_with(name, s, *no_cache, &args)?;
                    built += 1;
                }
            }
            if built == 0 {
                eprintln!("no service to build: none has a build section");
            }
            Ok(0)
        }
        ComposeCommand::Run(r) => run_oneoff(root, &a, r),
        ComposeCommand::Exec(x) => exec(root, &a, x),
        ComposeCommand::Start { services } => {
            let p = load(&a, services)?;
            let rt = Runtime::new(open_store(root)?);
            engine(&rt, &p).start(services)?;
            Ok(0)
        }
        ComposeCommand::Stop { timeout, services } => {
            let p = project_or_name(&a, services)?;
            let rt = Runtime::new(open_store(root)?);
            if p.services.is_empty() {
                // No files: stop whatever the project has.
                for c in engine(&rt, &p).containers(true)? {
                    rt.stop(&c.id, *timeout)?;
                    progress(&format!("Container {}  Stopped", c.name));
                }
                return Ok(0);
            }
            engine(&rt, &p).stop(services, *timeout)?;
            Ok(0)
        }
        ComposeCommand::Restart { timeout, services } => {
            let p = load(&a, services)?;
            let rt = Runtime::new(open_store(root)?);
            engine(&rt, &p).restart(services, *timeout)?;
            Ok(0)
        }
        ComposeCommand::Kill { signal, services } => {
            let p = load(&a, services)?;
            let rt = Runtime::new(open_store(root)?);
            engine(&rt, &p).kill(services, signal)?;
            Ok(0)
        }
        ComposeCommand::Rm {
            force: _,
            stop,
            volumes,
            services,
        } => {
            let p = load(&a, services)?;
            let rt = Runtime::new(open_store(root)?);
            engine(&rt, &p).rm(services, *stop, *volumes)?;
            Ok(0)
        }
        ComposeCommand::Pull {
            quiet,
            registry,
            services,
        } => {
            let p = load(&a, services)?;
            let names: Vec<String> = p
                .services
                .keys()
                .filter(|n| services.is_empty() || services.contains(n))
                .cloned()
                .collect();
            pull_images(root, &p, &names, registry, false, *quiet)?;
            Ok(0)
        }
        ComposeCommand::Push { registry, services } => {
            let p = load(&a, services)?;
            for (name, s) in &p.services {
                if !services.is_empty() && !services.contains(name) {
                    continue;
                }
                let Some(image) = &s.image else {
                    eprintln!("{name}: skipped, it has no image name to push to");
                    continue;
                };
                eprintln!("{name}: pushing {image}");
                super::registry::push(
                    root,
                    PushArgs {
                        image: image.clone(),
                        destination: None,
                        compression: None,
                        max_concurrent_uploads: 3,
                        chunk_size: "16MB".into(),
                        quiet: false,
                        registry: registry.clone(),
                    },
                )
                .with_context(|| format!("service {name}: push of {image} failed"))?;
            }
            Ok(0)
        }
    }
}

/// Pulls the images of `names` (all of them, or with `only_missing` those not in the
/// store); services that are built are left to the build.
fn pull_images(
    root: &Path,
    p: &Project,
    names: &[String],
    registry: &crate::cli::RegistryAccessArgs,
    only_missing: bool,
    quiet: bool,
) -> Result<()> {
    let store = if only_missing {
        Some(open_store(root)?)
    } else {
        None
    };
    for name in names {
        let s = &p.services[name];
        let Some(image) = &s.image else {
            if !only_missing {
                eprintln!("{name}: no image to pull (it is built)");
            }
            continue;
        };
        if s.build.is_some() && (only_missing || s.pull_policy.as_deref() == Some("build")) {
            continue;
        }
        if let Some(store) = &store {
            if store.resolve(image).is_ok() {
                continue;
            }
        }
        if !quiet {
            eprintln!("{name}: pulling {image}");
        }
        let r = Reference::parse_tagged(image)
            .with_context(|| format!("service {name}: invalid image name {image:?}"))?;
        let opts = super::registry::options(registry)?;
        let store = open_store(root)?;
        // Like `berth pull`: the registry's mirrors first, then its endpoint (settings).
        let rep = berth_registry::pull::pull(
            &store,
            &r,
            &Platform::host(),
            &opts,
            &crate::progress::Reporter::new(quiet),
        )
        .with_context(|| format!("service {name}: pull of {image} failed"))?;
        if !quiet {
            eprintln!("{name}: pulled {image} ({})", rep.digest);
        }
    }
    Ok(())
}

fn engine<'a>(rt: &'a Runtime, p: &'a Project) -> Engine<'a> {
    Engine {
        rt,
        project: p,
        progress: &progress,
    }
}

fn up(root: &Path, a: &ComposeArgs, u: &ComposeUpArgs) -> Result<i32> {
    let p = load(a, &u.services)?;
    let rt = Runtime::new(open_store(root)?);
    let mut scale = BTreeMap::new();
    for s in &u.scale {
        let (k, v) = s
            .split_once('=')
            .with_context(|| format!("--scale {s:?}: want SERVICE=N"))?;
        if !p.services.contains_key(k) {
            bail!("--scale {s:?}: no such service: {k}");
        }
        scale.insert(
            k.to_string(),
            v.parse()
                .with_context(|| format!("--scale {s:?}: N must be a number"))?,
        );
    }
    let names = if u.no_deps {
        u.services.clone()
    } else {
        berth_compose::graph::start_order(&p, &u.services)
    };
    if let Some(svc) = &u.exit_code_from {
        if !names.contains(svc) {
            bail!("--exit-code-from {svc}: not a service this up starts");
        }
    }
    if u.pull != "never" {
        pull_images(
            root,
            &p,
            &names,
            &u.registry,
            u.pull == "missing",
            u.quiet_pull,
        )?;
    }
    let e = engine(&rt, &p);
    // Where each existing container's log ends now: an attached `up` shows only what
    // this run writes (Docker Compose shows no earlier runs' output either).
    let log_ends: BTreeMap<String, u64> = if u.detach || u.wait {
        BTreeMap::new()
    } else {
        e.containers(true)?
            .iter()
            .filter_map(|c| {
                let log = rt.dir(&c.id).join(berth_runtime::logs::LOG_FILE);
                Some((c.id.clone(), std::fs::metadata(log).ok()?.len()))
            })
            .collect()
    };
    let order = e.up(&UpOptions {
        services: u.services.clone(),
        scale,
        remove_orphans: u.remove_orphans,
        build: u.build,
        force_recreate: u.force_recreate,
        no_deps: u.no_deps,
    })?;
    if u.wait {
        e.wait_ready(&order, u.wait_timeout.map(std::time::Duration::from_secs))?;
        return Ok(0);
    }
    if u.detach {
        return Ok(0);
    }
    // Attached: follow the logs until every container stops; Ctrl-C stops them.
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        let _ = signal_hook::flag::register(sig, stop.clone());
    }
    let mut list = e.containers(false)?;
    list.retain(|c| {
        engine::service_of(c)
            .map(|s| order.contains(&s.0))
            .unwrap_or(false)
    });
    let abort = u.abort_on_container_exit || u.exit_code_from.is_some();
    let first_exit = Mutex::new(None);
    let follow = Follow {
        interrupted: Some(stop.clone()),
        first_exit: abort.then_some(&first_exit),
        from: log_ends,
    };
    logs(root, &list, Some(follow), Default::default(), true)?;
    if let Some(id) = first_exit.into_inner().unwrap_or_else(|e| e.into_inner()) {
        eprintln!("Aborting on container exit...");
        e.stop(&order, None)?;
        let code = |c: &Container| {
            rt.get(&c.id)
                .and_then(|c| rt.refresh(c))
                .ok()
                .and_then(|c| c.state.exit_code)
                .unwrap_or(0)
        };
        return Ok(match &u.exit_code_from {
            Some(svc) => list
                .iter()
                .find(|c| engine::service_of(c).is_some_and(|s| &s.0 == svc))
                .map(code)
                .unwrap_or(0),
            None => list.iter().find(|c| c.id == id).map(code).unwrap_or(0),
        });
    }
    if stop.load(Ordering::SeqCst) {
        eprintln!("Gracefully stopping... (press Ctrl+C again to force)");
        e.stop(&order, None)?;
        return Ok(130);
    }
    Ok(0)
}

/// Writes lines with a `name  | ` prefix (padded to `width`).
struct Prefixed<'a> {
    out: &'a Mutex<Box<dyn Write + Send>>,
    prefix: String,
    at_start: bool,
}

impl Write for Prefixed<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut o = self.out.lock().unwrap_or_else(|e| e.into_inner());
        for line in buf.split_inclusive(|b| *b == b'\n') {
            if self.at_start {
                o.write_all(self.prefix.as_bytes())?;
            }
            o.write_all(line)?;
            self.at_start = line.ends_with(b"\n");
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.out.lock().unwrap_or_else(|e| e.into_inner()).flush()
    }
}

/// How `logs` follows the containers: until each one stops, or until `interrupted` is
/// set. With `first_exit`, the first container to end records its id there and sets
/// `interrupted`, which ends the others (`up --abort-on-container-exit`).
struct Follow<'a> {
    interrupted: Option<Arc<AtomicBool>>,
    first_exit: Option<&'a Mutex<Option<String>>>,
    /// Containers to follow from this offset of their log instead of from its start:
    /// those `up` started again, whose earlier runs' output is not this run's.
    from: BTreeMap<String, u64>,
}

fn logs(
    root: &Path,
    list: &[Container],
    follow: Option<Follow>,
    read: berth_runtime::logs::ReadOptions,
    prefix: bool,
) -> Result<()> {
    let width = list.iter().map(|c| c.name.len()).max().unwrap_or(0);
    let out: Mutex<Box<dyn Write + Send>> = Mutex::new(Box::new(std::io::stdout()));
    let err: Mutex<Box<dyn Write + Send>> = Mutex::new(Box::new(std::io::stderr()));
    let root = root.to_path_buf();
    std::thread::scope(|scope| -> Result<()> {
        let mut handles = Vec::new();
        for c in list {
            let (out, err, root, follow) = (&out, &err, root.clone(), follow.as_ref());
            handles.push(scope.spawn(move || -> Result<()> {
                let rt = Runtime::new(open_store(&root)?);
                let p = if prefix {
                    format!("{:width$}  | ", c.name)
                } else {
                    String::new()
                };
                let mut o = Prefixed {
                    out,
                    prefix: p.clone(),
                    at_start: true,
                };
                let mut e = Prefixed {
                    out: err,
                    prefix: p,
                    at_start: true,
                };
                let path = rt.dir(&c.id).join(berth_runtime::logs::LOG_FILE);
                let opts = read;
                let pos = match follow.and_then(|f| f.from.get(&c.id)) {
                    Some(&end) => end,
                    None => berth_runtime::logs::read(&path, &opts, &mut o, &mut e)?,
                };
                if let Some(f) = follow {
                    let id = c.id.clone();
                    let interrupted = || {
                        f.interrupted
                            .as_ref()
                            .is_some_and(|i| i.load(Ordering::SeqCst))
                    };
                    let done = || {
                        interrupted()
                            || rt
                                .get(&id)
                                .and_then(|c| rt.refresh(c))
                                .map(|c| match c.state.status {
                                    Status::Running | Status::Restarting => false,
                                    // Being started again (it ran before): wait; never started: done.
                                    Status::Created => c.state.started_at.is_none(),
                                    _ => true,
                                })
                                .unwrap_or(true)
                    };
                    let opts = berth_runtime::logs::ReadOptions { tail: None, ..opts };
                    berth_runtime::logs::follow(&path, pos, &opts, &mut o, &mut e, &done)?;
                    if let (Some(first), Some(i)) = (f.first_exit, &f.interrupted) {
                        if !interrupted() {
                            first
                                .lock()
                                .unwrap_or_else(|e| e.into_inner())
                                .get_or_insert(id);
                            i.store(true, Ordering::SeqCst);
                        }
                    }
                }
                Ok(())
            }));
        }
        for h in handles {
            h.join()
                .map_err(|_| anyhow::anyhow!("a log reader panicked"))??;
        }
        Ok(())
    })
}

fn run_oneoff(root: &Path, a: &ComposeArgs, r: &ComposeRunArgs) -> Result<i32> {
    let (service, cmd) = r.service_and_command.split_first().expect("required");
    let p = load(a, std::slice::from_ref(service))?;
    if r.pull != "never" {
        let names = if r.no_deps {
            vec![service.clone()]
        } else {
            berth_compose::graph::start_order(&p, std::slice::from_ref(service))
        };
        pull_images(root, &p, &names, &r.registry, r.pull == "missing", false)?;
    }
    let rt = Runtime::new(open_store(root)?);
    let e = engine(&rt, &p);
    let c = e.create_oneoff(
        service,
        &engine::OneOff {
            cmd: cmd.to_vec(),
            env: r.env.clone(),
            user: r.user.clone(),
            workdir: r.workdir.clone(),
            no_deps: r.no_deps,
            rm: r.rm,
            entrypoint: match r.entrypoint.as_deref() {
                None => None,
                Some(e) => Some(
                    berth_compose::convert::shell_split(e)
                        .map_err(|m| anyhow::anyhow!("--entrypoint {e:?}: {m}"))?,
                ),
            },
            name: r.name.clone(),
            mounts: r
                .volumes
                .iter()
                .map(|v| super::containers::parse_volume(v))
                .collect::<Result<_>>()?,
            publish: r
                .publish
                .iter()
                .map(|p| {
                    berth_net::ports::parse(p).map_err(|m| anyhow::anyhow!("--publish {p:?}: {m}"))
                })
                .collect::<Result<_>>()?,
            service_ports: r.service_ports,
            labels: r
                .labels
                .iter()
                .map(|l| match l.split_once('=') {
                    Some((k, v)) => (k.to_string(), v.to_string()),
                    None => (l.clone(), String::new()),
                })
                .collect(),
            build: r.build,
            no_tty: r.no_tty,
        },
    )?;
    finish_run(&rt, &c, r)
}

fn finish_run(rt: &Runtime, c: &Container, r: &ComposeRunArgs) -> Result<i32> {
    if r.detach {
        rt.start_detached(&c.id)?;
        println!("{}", c.name);
        return Ok(0);
    }
    let attach = Attach {
        stdin: r.interactive,
        terminal: c.config.tty && !r.no_tty && std::io::stdin().is_terminal(),
    };
    Ok(rt.monitor(&c.id, Some(attach), None)?)
}

fn exec(root: &Path, a: &ComposeArgs, x: &ComposeExecArgs) -> Result<i32> {
    let (service, cmd) = x.service_and_command.split_first().expect("required");
    if cmd.is_empty() {
        bail!("exec needs a command after the service name");
    }
    let p = load(a, std::slice::from_ref(service))?;
    let rt = Runtime::new(open_store(root)?);
    let c = engine(&rt, &p).container_for(service, x.index)?;
    Ok(rt.exec(
        &c.id,
        &ExecOptions {
            args: cmd.to_vec(),
            env: x.env.clone(),
            user: x.user.clone(),
            workdir: x.workdir.clone(),
            tty: !x.no_tty && std::io::stdin().is_terminal(),
            interactive: std::io::stdin().is_terminal(),
            detach: x.detach,
            privileged: false,
        },
    )?)
}

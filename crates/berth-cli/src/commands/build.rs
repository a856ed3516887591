//! `berth build` (and `--check`), `berth builder prune|du`.

use super::open_store;
use crate::cli::{BuildArgs, BuilderCommand};
use crate::output::{human_size, parse_size};
use anyhow::{bail, Context, Result};
use berth_build::{Log, Options, Output};
use berth_dockerfile::check::{check, CheckOptions};
use berth_image::reference::Reference;
use std::collections::BTreeMap;
use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};

/// Plain lines (CI logs, `--progress plain`), nothing (`quiet`), or on a terminal the
/// step lines with a spinner showing the running steps' latest output line.
enum Lines {
    Plain,
    Quiet,
    Tty(indicatif::ProgressBar),
}

impl Lines {
    fn new(quiet: bool, plain: bool) -> Lines {
        if quiet {
            Lines::Quiet
        } else if !plain && std::io::stderr().is_terminal() {
            let pb = indicatif::ProgressBar::new_spinner().with_style(
                indicatif::ProgressStyle::with_template("{spinner} {elapsed:>4} {wide_msg}")
                    .expect("valid template"),
            );
            pb.enable_steady_tick(std::time::Duration::from_millis(120));
            Lines::Tty(pb)
        } else {
            Lines::Plain
        }
    }

    fn done(&self) {
        if let Lines::Tty(pb) = self {
            pb.finish_and_clear();
        }
    }
}

impl Log for Lines {
    fn line(&self, s: &str) {
        match self {
            Lines::Plain => {
                let mut e = std::io::stderr().lock();
                let _ = writeln!(e, "{s}");
            }
            Lines::Quiet => {}
            Lines::Tty(pb) => {
                pb.println(s);
                if s.starts_with('#') && !s.contains(" DONE ") && !s.ends_with("CACHED") {
                    pb.set_message(s.to_string());
                }
            }
        }
    }

    fn output(&self, step: usize, s: &str) {
        match self {
            Lines::Tty(pb) => pb.set_message(format!("#{step} {s}")),
            _ => self.line(&format!("#{step} {s}")),
        }
    }
}

fn kv(s: &str, what: &str) -> Result<(String, String)> {
    let (k, v) = s
        .split_once('=')
        .with_context(|| format!("{what} {s:?}: want NAME=VALUE"))?;
    Ok((k.to_string(), v.to_string()))
}

/// A context from stdin: a tar (plain or compressed) becomes a directory; anything
/// else is a Dockerfile with an empty context.
fn stdin_context(tmp: &Path) -> Result<(PathBuf, Option<String>)> {
    let mut data = Vec::new();
    std::io::stdin()
        .read_to_end(&mut data)
        .context("cannot read the build context from stdin")?;
    let dir = tmp.join("context");
    std::fs::create_dir_all(&dir)?;
    if berth_image::Compression::is_archive(&data) {
        let (_, r) = berth_image::compression::auto_decompress(&data[..])?;
        berth_image::layer::unpack_layer(r, &dir, berth_image::layer::DevicePolicy::Skip)
            .context("the build context on stdin is not a valid tar")?;
        Ok((dir, None))
    } else {
        Ok((dir, Some(String::from_utf8_lossy(&data).into_owned())))
    }
}

pub fn run(root: &Path, a: BuildArgs) -> Result<i32> {
    if a.check {
        return run_check(a);
    }
    let store = open_store(root)?;
    let rt = berth_runtime::Runtime::new(store);
    let tmp = tempfile::Builder::new()
        .prefix("build-ctx-")
        .tempdir_in(rt.store.tmp_dir())
        .context("cannot make a temporary directory in the store")?;
    let (context, mut text) = if a.context == "-" {
        stdin_context(tmp.path())?
    } else {
        let c = PathBuf::from(&a.context);
        if !c.is_dir() {
            bail!("the build context {} is not a directory", c.display());
        }
        (c, None)
    };
    let dockerfile = match &a.file {
        Some(f) if f.as_os_str() == "-" => {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .context("cannot read the Dockerfile from stdin")?;
            text = Some(s);
            context.join("Dockerfile")
        }
        Some(f) => f.clone(),
        None => context.join("Dockerfile"),
    };
    let mut build_args = BTreeMap::new();
    for b in &a.build_args {
        match b.split_once('=') {
            Some((k, v)) => {
                build_args.insert(k.to_string(), v.to_string());
            }
            // `--build-arg NAME` takes the value from the environment, as Docker.
            None => {
                if let Ok(v) = std::env::var(b) {
                    build_args.insert(b.clone(), v);
                }
            }
        }
    }
    let epoch = build_args
        .get("SOURCE_DATE_EPOCH")
        .cloned()
        .or_else(|| std::env::var("SOURCE_DATE_EPOCH").ok())
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<i64>()
                .with_context(|| format!("SOURCE_DATE_EPOCH={s}: want seconds since 1970"))
        })
        .transpose()?;
    let mut labels = BTreeMap::new();
    for l in &a.labels {
        let (k, v) = kv(l, "--label")?;
        labels.insert(k, v);
    }
    let mut secrets = BTreeMap::new();
    for s in &a.secrets {
        let mut id = None;
        let mut src = None;
        for part in s.split(',') {
            match part.split_once('=') {
                Some(("id", v)) => id = Some(v.to_string()),
                Some(("src" | "source", v)) => src = Some(PathBuf::from(v)),
                Some(("type", "file")) => {}
                Some(("env", v)) => {
                    let val = std::env::var(v)
                        .with_context(|| format!("--secret {s}: ${v} is not set"))?;
                    let p = tmp.path().join(format!("secret-{}", secrets.len()));
                    std::fs::write(&p, val)?;
                    src = Some(p);
                }
                _ => bail!("--secret {s:?}: want id=ID,src=FILE"),
            }
        }
        let id = id.with_context(|| format!("--secret {s:?}: id= is missing"))?;
        let src = src.unwrap_or_else(|| PathBuf::from(&id));
        if !src.is_file() {
            bail!("--secret {s}: {} is not a readable file", src.display());
        }
        secrets.insert(id, src);
    }
    let mut tags = Vec::new();
    for t in &a.tags {
        tags.push(
            Reference::parse_tagged(t)
                .with_context(|| format!("-t {t:?} is not a valid image name"))?,
        );
    }
    let outputs = a
        .outputs
        .iter()
        .map(|o| Output::parse(o))
        .collect::<Result<Vec<_>, _>>()?;
    if !["default", "host", "none"].contains(&a.network.as_str()) {
        bail!("--network {}: builds take default, host or none", a.network);
    }
    let quiet = a.quiet || a.progress == "quiet";
    let plain = a.progress == "plain";
    if !["auto", "plain", "quiet", "tty"].contains(&a.progress.as_str()) {
        bail!("--progress {}: use auto, plain or quiet", a.progress);
    }
    let opts = Options {
        context,
        dockerfile,
        dockerfile_text: text,
        tags,
        build_args,
        target: a.target.clone(),
        no_cache: a.no_cache,
        labels,
        outputs,
        secrets,
        network: a.network.clone(),
        platform: a.platform.clone(),
        squash: a.squash,
        source_date_epoch: epoch,
        runtime: a.runtime.clone(),
        explain: a.explain || plain,
        host_certs: a.host_certs,
        no_pull: !a.pull,
    };
    for c in &a.cache_from {
        let dir = berth_build::cache_dir(c, "src")?;
        let n = berth_build::import_cache(&rt.store, &dir)?;
        if !quiet {
            eprintln!("imported {n} build cache records from {}", dir.display());
        }
    }
    let log = Lines::new(quiet, plain);
    let store_for_pull = &rt.store;
    let pull = |name: &str| {
        super::registry::pull_for_build(store_for_pull, name).map_err(|e| format!("{e:#}"))
    };
    let result = berth_build::build(&rt, &opts, &log, &pull);
    log.done();
    let built = match result {
        Ok(b) => b,
        Err(e) => {
            let msg = e.to_string();
            let _ = std::io::stderr().write_all(format!("berth: build failed: {msg}\n").as_bytes());
            return Ok(1);
        }
    };
    if let Some(dest) = &a.cache_to {
        let dir = berth_build::cache_dir(dest, "dest")?;
        let n = berth_build::export_cache(&rt.store, &dir)?;
        if !quiet {
            eprintln!("exported {n} build cache records to {}", dir.display());
        }
    }
    if let Some(f) = &a.iidfile {
        std::fs::write(f, built.image.id.to_string())
            .with_context(|| format!("cannot write --iidfile {}", f.display()))?;
    }
    if !quiet {
        for t in &opts.tags {
            eprintln!("tagged {t}");
        }
    }
    let tar_to_stdout = opts
        .outputs
        .iter()
        .any(|o| matches!(o, Output::Tar(p) if p.as_os_str() == "-"));
    if !tar_to_stdout {
        println!("{}", built.image.id);
    }
    Ok(0)
}

fn run_check(a: BuildArgs) -> Result<i32> {
    let (name, source) = if a.context == "-" && a.file.is_none() {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .context("cannot read the Dockerfile from stdin")?;
        ("Dockerfile".to_string(), s)
    } else {
        let path = a
            .file
            .clone()
            .unwrap_or_else(|| PathBuf::from(&a.context).join("Dockerfile"));
        let bytes =
            std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
        (
            path.display().to_string(),
            String::from_utf8_lossy(&bytes).into_owned(),
        )
    };
    let mut opts = CheckOptions::default();
    for b in &a.build_args {
        let (k, v) = kv(b, "--build-arg")?;
        opts.expand.build_args.insert(k, v);
    }
    let df = match berth_dockerfile::parse(&source) {
        Ok(df) => df,
        Err(e) => {
            eprint!("{}", e.render(&name, &source));
            return Ok(1);
        }
    };
    let report = check(&df, &opts);
    if a.format.as_deref() == Some("json") {
        println!("{}", report.to_json());
    } else {
        print!("{}", report.render_text(&name, &source));
    }
    Ok(if report.fail { 1 } else { 0 })
}

pub fn builder(root: &Path, b: BuilderCommand) -> Result<i32> {
    let store = open_store(root)?;
    match b {
        BuilderCommand::Du => {
            let (n, bytes) = store.cache_usage()?;
            println!("{n} build cache records, {} of layers", human_size(bytes));
            Ok(0)
        }
        BuilderCommand::Prune {
            keep_storage,
            filter,
            all,
            force: _,
        } => {
            let keep = keep_storage.as_deref().map(parse_size).transpose()?;
            let mut older = None;
            for f in &filter {
                match f.split_once('=') {
                    Some(("until", d)) => {
                        let d = humantime::parse_duration(d).with_context(|| {
                            format!("--filter {f}: want until=DURATION, e.g. 24h")
                        })?;
                        let now = std::time::SystemTime::now()
                            .duration_since(std::time::UNIX_EPOCH)?
                            .as_secs() as i64;
                        older = Some(now - d.as_secs() as i64);
                    }
                    _ => bail!("--filter {f}: builder prune knows until=DURATION"),
                }
            }
            let rep = store.cache_prune(all, older, keep)?;
            if keep.is_none() && older.is_none() {
                let mounts = store.root().join("build").join("cache-mounts");
                let _ = std::fs::remove_dir_all(&mounts);
            }
            let gc = store.gc(std::time::Duration::from_secs(30))?;
            println!(
                "removed {} build cache records; {} freed",
                rep.records,
                human_size(gc.bytes_freed)
            );
            Ok(0)
        }
    }
}

//! The build engine: stages in waves (in parallel), steps in order, each step keyed,
//! looked up in the cache, and run on a miss.

use crate::context::{has_wildcard, Context, Picked};
use crate::fsops::{self, Attrs};
use crate::{io_err, Built, Error, Log, Options, Output, Result};
use berth_dockerfile::ast::{Command, Healthcheck, NetworkMode, ShellOrExec, Source};
use berth_dockerfile::dockerignore::{ignore_file_candidates, IgnoreFile};
use berth_dockerfile::error::{render_located, Span};
use berth_dockerfile::mount::{MountType, Sharing};
use berth_dockerfile::scope::{expand_each, platform_args, Platform};
use berth_dockerfile::stages::Base;
use berth_dockerfile::{
    ExpandOptions, ExpandedInstruction, ExpandedStage, GraphOptions, StageGraph,
};
use berth_image::config::{History, ImageConfig};
use berth_image::digest::Digest;
use berth_image::layer::DevicePolicy;
use berth_runtime::fsroot::{resolve_user, RootDir};
use berth_runtime::model::{ContainerConfig, Mount};
use berth_runtime::task::Task;
use berth_runtime::{rootfs, Runtime};
use berth_store::build_cache::StepState;
use berth_store::{ImageRecord, LayerRecord, NewImage, Quiet, Store};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

/// `PATH=` and the default, for a base image that sets no PATH (as BuildKit).
fn default_path() -> String {
    format!("PATH={}", berth_dockerfile::scope::DEFAULT_PATH)
}
/// Where `--host-certs` puts the host's CA bundle inside RUN steps.
const HOST_CA_TARGET: &str = "/run/berth/host-ca.crt";
const HOST_CA_SOURCE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// A stage's state between steps.
#[derive(Clone, Debug)]
struct State {
    layers: Vec<LayerRecord>,
    config: ImageConfig,
    key: Digest,
    /// The base's digest, for explanations.
    base: String,
}

struct Builder<'a> {
    rt: &'a Runtime,
    store: &'a Store,
    opts: &'a Options,
    log: &'a dyn Log,
    ctx: Context,
    file_name: String,
    source: String,
    stages: Vec<Option<ExpandedStage>>,
    graph: StageGraph,
    images: HashMap<String, ImageRecord>,
    results: Mutex<HashMap<usize, State>>,
    step_no: AtomicUsize,
    cached: AtomicUsize,
    total: AtomicUsize,
    work: PathBuf,
    log_file: Mutex<std::fs::File>,
    log_path: PathBuf,
    epoch: Option<i64>,
    position_prefix: String,
    flattened: Mutex<Vec<Digest>>,
}

/// Lower layers one step mounts before the bottom ones are merged (BERTH_MAX_LOWERS
/// overrides it, for tests).
fn max_lowers() -> usize {
    std::env::var("BERTH_MAX_LOWERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n: &usize| n >= 2)
        .unwrap_or(200)
}

fn key_of(v: &Value) -> Digest {
    Digest::of(&serde_json::to_vec(v).expect("serialises"))
}

fn now_string(epoch: Option<i64>) -> String {
    match epoch.and_then(|e| jiff::Timestamp::from_second(e).ok()) {
        Some(t) => t.to_string(),
        None => jiff::Timestamp::now().to_string(),
    }
}

/// An overlay of a layer stack, unmounted on drop.
struct Mounted {
    rootfs: PathBuf,
    upper: PathBuf,
}

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = rootfs::unmount_overlay(&self.rootfs);
    }
}

/// Builds what `opts` asks for. `pull` fetches a base image missing from the store.
pub fn build(
    rt: &Runtime,
    opts: &Options,
    log: &dyn Log,
    pull: &(dyn Fn(&str) -> std::result::Result<ImageRecord, String> + Sync),
) -> Result<Built> {
    let store = &rt.store;
    let began = Instant::now();
    let source = match &opts.dockerfile_text {
        Some(t) => t.clone(),
        None => {
            let bytes = std::fs::read(&opts.dockerfile).map_err(|e| {
                Error::Input(format!(
                    "cannot read the Dockerfile {}: {e} (give another with -f)",
                    opts.dockerfile.display()
                ))
            })?;
            String::from_utf8_lossy(&bytes).into_owned()
        }
    };
    let file_name = opts
        .dockerfile
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "Dockerfile".into());
    let df = berth_dockerfile::parse(&source)
        .map_err(|e| Error::Located(e.render(&file_name, &source)))?;

    // The context and its ignore file.
    let mut ignore = IgnoreFile::default();
    let mut ignore_path = None;
    for cand in ignore_file_candidates(&opts.context, &opts.dockerfile) {
        if let Ok(text) = std::fs::read_to_string(&cand) {
            ignore = IgnoreFile::parse(&text)
                .map_err(|e| Error::Located(e.render(&cand.display().to_string(), &text)))?;
            ignore_path = Some(cand);
            break;
        }
    }
    let ctx = Context::new(opts.context.clone(), ignore, ignore_path);

    if let Some(p) = &opts.platform {
        let want = Platform::parse(p)
            .ok_or_else(|| Error::Input(format!("--platform {p:?}: want os/arch[/variant]")))?;
        let host = berth_image::config::host_arch();
        if want.os != "linux" || want.arch != host {
            return Err(Error::Input(format!(
                "--platform {p}: this machine builds linux/{host} only (berth does not emulate other architectures)"
            )));
        }
    }
    let host_platform = Platform {
        os: "linux".into(),
        arch: berth_image::config::host_arch().into(),
        variant: None,
    };
    let mut exp = ExpandOptions {
        build_args: opts.build_args.clone(),
        automatic_args: platform_args(&host_platform, &host_platform),
        image_env: BTreeMap::new(),
    };
    let graph = StageGraph::new(&df, &exp, GraphOptions::default())
        .map_err(|e| Error::Located(e.render(&file_name, &source)))?;
    let plan = graph
        .reachable(opts.target.as_deref())
        .map_err(|e| Error::Located(e.render(&file_name, &source)))?;

    // Base images (and --from images) the needed stages read, resolved once.
    let _lease = store.lease()?;
    let mut images: HashMap<String, ImageRecord> = HashMap::new();
    for &i in &plan.order {
        for d in &graph.nodes[i].deps {
            if let Base::Image(name) = &d.target {
                if images.contains_key(name) {
                    continue;
                }
                let rec = match store.resolve(name) {
                    Ok(r) => r,
                    Err(_) if !opts.no_pull => pull(name).map_err(|e| {
                        Error::Located(render_located(
                            &file_name,
                            &source,
                            Span::line(d.line),
                            &format!("base image {name:?} is not in the store and could not be pulled: {e}"),
                            Some("make it with `berth bootstrap`, `berth import` or `berth load`, or build it first"),
                        ))
                    })?,
                    Err(e) => {
                        return Err(Error::Located(render_located(
                            &file_name,
                            &source,
                            Span::line(d.line),
                            &format!("base image {name:?}: {e}"),
                            Some("--pull=false: make it with `berth bootstrap`, `berth import` or `berth load`"),
                        )))
                    }
                };
                let cfg = store.config(&rec)?;
                let env: Vec<(String, String)> = cfg
                    .config
                    .env
                    .clone()
                    .unwrap_or_default()
                    .iter()
                    .map(|e| match e.split_once('=') {
                        Some((k, v)) => (k.to_string(), v.to_string()),
                        None => (e.clone(), String::new()),
                    })
                    .collect();
                exp.image_env.insert(name.clone(), env);
                images.insert(name.clone(), rec);
            }
        }
    }
    let expanded =
        expand_each(&df, &exp).map_err(|e| Error::Located(e.render(&file_name, &source)))?;
    let mut stages = Vec::new();
    for (i, r) in expanded.into_iter().enumerate() {
        match r {
            Ok(s) => stages.push(Some(s)),
            Err(e) if plan.order.contains(&i) => {
                return Err(Error::Located(e.render(&file_name, &source)))
            }
            Err(_) => stages.push(None),
        }
    }
    for (k, v) in unconsumed(&df, &exp) {
        log.line(&format!(
            "warning: build argument {k}={v} is not used by any ARG"
        ));
    }

    let work = store.tmp_dir().join(format!("build-{}", random_hex()));
    std::fs::create_dir_all(&work).map_err(io_err(format!("create {}", work.display())))?;
    let logs_dir = store.root().join("build").join("logs");
    std::fs::create_dir_all(&logs_dir).map_err(io_err(format!("create {}", logs_dir.display())))?;
    let log_path = logs_dir.join(format!(
        "{}-{}.log",
        jiff::Timestamp::now().strftime("%Y%m%dT%H%M%S"),
        &random_hex()[..6]
    ));
    let log_file = std::fs::File::create(&log_path)
        .map_err(io_err(format!("create {}", log_path.display())))?;
    let epoch = opts.source_date_epoch;
    let position_prefix = {
        let p = if opts.dockerfile_text.is_some() {
            opts.context.join("<stdin>")
        } else {
            std::fs::canonicalize(&opts.dockerfile).unwrap_or(opts.dockerfile.clone())
        };
        p.display().to_string()
    };
    let b = Builder {
        rt,
        store,
        opts,
        log,
        ctx,
        file_name,
        source,
        stages,
        graph,
        images,
        results: Mutex::new(HashMap::new()),
        step_no: AtomicUsize::new(0),
        cached: AtomicUsize::new(0),
        total: AtomicUsize::new(0),
        work: work.clone(),
        log_file: Mutex::new(log_file),
        log_path,
        epoch,
        position_prefix,
        flattened: Mutex::new(Vec::new()),
    };
    let result = b.run_plan(&plan.waves, plan.target);
    let _ = std::fs::remove_dir_all(&work);
    let state = result?;
    let built = b.finish(state)?;
    log.line(&format!(
        "built {} in {:.2}s ({} steps, {} cached)",
        built.image.id,
        began.elapsed().as_secs_f64(),
        built.steps,
        built.cached
    ));
    Ok(built)
}

fn unconsumed(df: &berth_dockerfile::Dockerfile, exp: &ExpandOptions) -> Vec<(String, String)> {
    berth_dockerfile::scope::unconsumed_build_args(df, exp)
        .into_iter()
        .filter(|k| k != "SOURCE_DATE_EPOCH")
        .map(|k| {
            let v = exp.build_args.get(&k).cloned().unwrap_or_default();
            (k, v)
        })
        .collect()
}

fn random_hex() -> String {
    format!("{:016x}", rand::random::<u64>())
}

impl Builder<'_> {
    fn run_plan(&self, waves: &[Vec<usize>], target: usize) -> Result<State> {
        for wave in waves {
            let errors: Vec<Error> = std::thread::scope(|s| {
                let handles: Vec<_> = wave
                    .iter()
                    .map(|&i| s.spawn(move || self.build_stage(i).map(|st| (i, st))))
                    .collect();
                let mut errs = Vec::new();
                for h in handles {
                    match h.join().expect("stage thread") {
                        Ok((i, st)) => {
                            self.results.lock().expect("lock").insert(i, st);
                        }
                        Err(e) => errs.push(e),
                    }
                }
                errs
            });
            if let Some(e) = errors.into_iter().next() {
                return Err(e);
            }
        }
        Ok(self.results.lock().expect("lock")[&target].clone())
    }

    fn located(&self, span: Span, msg: &str, hint: Option<&str>) -> Error {
        Error::Located(render_located(
            &self.file_name,
            &self.source,
            span,
            msg,
            hint,
        ))
    }

    fn write_log(&self, s: &str) {
        let mut f = self.log_file.lock().expect("lock");
        let _ = writeln!(f, "{s}");
    }

    fn say(&self, s: &str) {
        self.write_log(s);
        self.log.line(s);
    }

    fn stage_label(&self, i: usize) -> String {
        self.graph.nodes[i].label()
    }

    /// The state a stage starts from.
    fn base_state(&self, i: usize) -> Result<State> {
        match &self.graph.nodes[i].base {
            Base::Scratch => {
                let mut config = ImageConfig::new_for_host();
                config.config.env = Some(vec![default_path()]);
                Ok(State {
                    layers: vec![],
                    config,
                    key: key_of(
                        &json!({"base": "scratch", "arch": berth_image::config::host_arch()}),
                    ),
                    base: "scratch".into(),
                })
            }
            Base::Image(name) => {
                let rec = &self.images[name];
                let mut config = self.store.config(rec)?;
                let env = config.config.env.get_or_insert_with(Vec::new);
                if !env.iter().any(|e| e.starts_with("PATH=")) {
                    env.insert(0, default_path());
                }
                Ok(State {
                    layers: rec.layers.clone(),
                    config,
                    key: key_of(&json!({"base": rec.id.to_string()})),
                    base: format!("image {name} ({})", rec.id),
                })
            }
            Base::Stage(s) => {
                let st = self.results.lock().expect("lock")[s].clone();
                Ok(State {
                    base: format!("stage {}", self.stage_label(*s)),
                    ..st
                })
            }
        }
    }

    fn build_stage(&self, i: usize) -> Result<State> {
        let stage = self.stages[i].as_ref().expect("expanded");
        let label = self.stage_label(i);
        let mut st = self.base_state(i)?;
        // Triggers of the base image run first, then they are gone from the config.
        let triggers = st.config.config.on_build.take().unwrap_or_default();
        if !triggers.is_empty() && matches!(self.graph.nodes[i].base, Base::Image(_)) {
            self.run_triggers(i, &label, &triggers, &mut st)?;
        } else if matches!(self.graph.nodes[i].base, Base::Stage(_)) {
            st.config.config.on_build = if triggers.is_empty() {
                None
            } else {
                Some(triggers)
            };
        }
        let n = stage.instructions.len();
        let mut cmd_set = false;
        let mut rebuilt_from: Option<usize> = None;
        for (k, ins) in stage.instructions.iter().enumerate() {
            self.step(
                i,
                &label,
                k,
                n,
                ins,
                &mut st,
                &mut cmd_set,
                &mut rebuilt_from,
            )?;
        }
        Ok(st)
    }

    fn run_triggers(
        &self,
        i: usize,
        label: &str,
        triggers: &[String],
        st: &mut State,
    ) -> Result<()> {
        let text = format!("FROM scratch\n{}\n", triggers.join("\n"));
        let df = berth_dockerfile::parse(&text).map_err(|e| {
            Error::Input(format!(
                "the base image's ONBUILD triggers do not parse: {}",
                e.render("ONBUILD", &text)
            ))
        })?;
        let exp = ExpandOptions {
            build_args: self.opts.build_args.clone(),
            ..Default::default()
        };
        let env: Vec<(String, String)> = st
            .config
            .config
            .env
            .clone()
            .unwrap_or_default()
            .iter()
            .filter_map(|e| {
                e.split_once('=')
                    .map(|(k, v)| (k.to_string(), v.to_string()))
            })
            .collect();
        let stage = berth_dockerfile::expand_stage(&df, 0, &exp, env).map_err(|e| {
            Error::Input(format!("ONBUILD trigger: {}", e.render("ONBUILD", &text)))
        })?;
        let mut cmd_set = false;
        let mut rebuilt = None;
        let n = stage.instructions.len();
        for (k, ins) in stage.instructions.iter().enumerate() {
            self.step(
                i,
                &format!("{label} onbuild"),
                k,
                n,
                ins,
                st,
                &mut cmd_set,
                &mut rebuilt,
            )?;
        }
        Ok(())
    }

    /// The key parts and content inputs of one step.
    fn inputs(
        &self,
        ins: &ExpandedInstruction,
        st: &State,
    ) -> Result<(Value, BTreeMap<String, String>)> {
        let mut files = BTreeMap::new();
        let mut extra = json!({});
        match &ins.instruction.command {
            Command::Copy(c) => {
                if let Some(from) = &c.from {
                    extra = json!({"from": self.source_key(from)?});
                } else {
                    self.hash_sources(&c.sources, &c.exclude, &mut files)?;
                }
            }
            Command::Add(a) => {
                self.hash_sources(&a.sources, &a.exclude, &mut files)?;
            }
            Command::Run(r) => {
                let mut froms = Vec::new();
                for m in &r.mounts {
                    if let Some(mm) = &m.mount {
                        if let Some(from) = &mm.from {
                            froms.push(self.source_key(from)?);
                        } else if mm.kind == MountType::Bind {
                            // A bind of the context: its content is an input.
                            let src = mm.source.clone().unwrap_or_else(|| ".".into());
                            self.hash_sources(&[Source::Path(src)], &[], &mut files)?;
                        }
                    }
                }
                extra = json!({
                    "env": env_for_run(st, ins),
                    "mount_from": froms,
                    "network": self.network_for(r.network),
                });
            }
            _ => {}
        }
        let v = json!({
            "parent": st.key.to_string(),
            "instruction": serde_json::to_value(&ins.instruction.command).expect("serialises"),
            "args": ins.used_args,
            "files": files,
            "extra": extra,
        });
        Ok((v, files))
    }

    fn hash_sources(
        &self,
        sources: &[Source],
        exclude: &[String],
        files: &mut BTreeMap<String, String>,
    ) -> Result<()> {
        let excl = IgnoreFile::from_patterns(exclude).map_err(Error::Input)?;
        for s in sources {
            match s {
                Source::Path(p) if is_url(p) => {
                    files.insert(p.clone(), "url".into());
                }
                Source::Path(p) => {
                    let sel = self.ctx.select(p, &excl)?;
                    for (root, picked) in &sel.roots {
                        for e in picked {
                            let name = if e.rel.as_os_str().is_empty() {
                                root.display().to_string()
                            } else {
                                root.join(&e.rel).display().to_string()
                            };
                            files.insert(name, self.ctx.entry_hash(e)?);
                        }
                    }
                }
                Source::Heredoc(h) => {
                    files.insert(
                        format!("<<{}", h.name),
                        Digest::of(h.content().as_bytes()).to_string(),
                    );
                }
            }
        }
        Ok(())
    }

    /// What a `--from` names, as a key: a stage's final key or an image id.
    fn source_key(&self, from: &str) -> Result<String> {
        match self.resolve_from(from)? {
            (Some(s), _) => Ok(s.key.to_string()),
            (None, Some(rec)) => Ok(rec.id.to_string()),
            _ => Ok("scratch".into()),
        }
    }

    /// A `--from` value: a stage (by name or index) or an image.
    fn resolve_from(&self, from: &str) -> Result<(Option<State>, Option<ImageRecord>)> {
        let lower = from.to_ascii_lowercase();
        let idx = self
            .graph
            .nodes
            .iter()
            .position(|n| n.name.as_deref() == Some(lower.as_str()))
            .or_else(|| {
                from.parse::<usize>()
                    .ok()
                    .filter(|&i| i < self.graph.nodes.len())
            });
        if let Some(i) = idx {
            let st = self.results.lock().expect("lock").get(&i).cloned();
            return match st {
                Some(s) => Ok((Some(s), None)),
                None => Err(Error::Input(format!("stage {from:?} was not built"))),
            };
        }
        if lower == "scratch" {
            return Ok((None, None));
        }
        match self.images.get(from) {
            Some(r) => Ok((None, Some(r.clone()))),
            None => Ok((None, Some(self.store.resolve(from)?))),
        }
    }

    fn network_for(&self, n: Option<NetworkMode>) -> &'static str {
        match n {
            Some(NetworkMode::None) => "none",
            Some(NetworkMode::Host) => "host",
            Some(NetworkMode::Default) | None => match self.opts.network.as_str() {
                "none" => "none",
                // Until bridge networks exist, the default for builds is the host's network.
                _ => "host",
            },
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn step(
        &self,
        stage: usize,
        label: &str,
        k: usize,
        n: usize,
        ins: &ExpandedInstruction,
        st: &mut State,
        cmd_set: &mut bool,
        rebuilt_from: &mut Option<usize>,
    ) -> Result<()> {
        let no = self.step_no.fetch_add(1, Ordering::SeqCst) + 1;
        self.total.fetch_add(1, Ordering::SeqCst);
        let text = ins.instruction.text.trim().to_string();
        let span = ins.instruction.span;
        let kind = ins.instruction.kind();
        let short: String = text.chars().take(120).collect();
        self.say(&format!("#{no} [{label} {}/{n}] {short}", k + 1));
        let (inputs, _files) = self.inputs(ins, st).map_err(|e| match e {
            Error::Input(m) => self.located(span, &format!("{}: {m}", kind.as_str()), None),
            other => other,
        })?;
        let key = key_of(&inputs);
        let position = format!("{}#{}#{}", self.position_prefix, label, k);
        if !self.opts.no_cache {
            if let Some(hit) = self.store.cache_get(&key)? {
                let config: ImageConfig = serde_json::from_value(hit.config)
                    .map_err(|e| Error::Input(format!("build cache record {key}: {e}")))?;
                st.layers = hit.layers;
                st.config = config;
                st.key = key.clone();
                if matches!(kind, berth_dockerfile::Kind::Cmd) {
                    *cmd_set = true;
                }
                self.cached.fetch_add(1, Ordering::SeqCst);
                self.say(&format!("#{no} CACHED"));
                let _ = self
                    .store
                    .set_step_inputs(&position, &key, &inputs.to_string());
                return Ok(());
            }
        }
        // A miss: say why.
        let why = if self.opts.no_cache {
            "--no-cache".to_string()
        } else if let Some(prev) = rebuilt_from {
            format!("follows #{prev}, which ran")
        } else {
            match self.store.step_inputs(&position)? {
                None => "no earlier build ran this step".into(),
                Some((old_key, _)) if old_key == key.to_string() => {
                    "its cache record is gone (pruned)".into()
                }
                Some((_, old)) => {
                    let old: Value = serde_json::from_str(&old).unwrap_or(Value::Null);
                    explain_text(&old, &inputs, k == 0, &st.base)
                }
            }
        };
        if self.opts.explain {
            self.say(&format!("#{no} cache miss: {why}"));
        } else {
            self.write_log(&format!("#{no} cache miss: {why}"));
        }
        if rebuilt_from.is_none() {
            *rebuilt_from = Some(no);
        }
        let began = Instant::now();
        let created = now_string(self.epoch);
        let mut added: Option<LayerRecord> = None;
        match &ins.instruction.command {
            Command::Run(_) | Command::Copy(_) | Command::Add(_) => {
                let layer = self.fs_step(stage, no, ins, st).map_err(|e| match e {
                    Error::Input(m) => self.located(span, &format!("{}: {m}", kind.as_str()), None),
                    Error::Runtime(berth_runtime::Error::Command { code, message }) => self
                        .located(
                            span,
                            &format!(
                                "{} cannot run its command ({code}): {message}",
                                kind.as_str()
                            ),
                            crlf_hint(&message),
                        ),
                    other => other,
                })?;
                added = layer;
            }
            cmd => apply_config(cmd, &mut st.config, cmd_set)
                .map_err(|m| self.located(span, &m, None))?,
        }
        let size = added.as_ref().map(|l| l.size).unwrap_or(0);
        let empty = added.is_none();
        if let Some(l) = added {
            st.config.rootfs.diff_ids.push(l.diff_id.to_string());
            st.layers.push(l);
        }
        st.config.history.push(History {
            created: Some(created.clone()),
            created_by: Some(history_text(kind, &text)),
            comment: Some("berth build".into()),
            empty_layer: empty,
            ..Default::default()
        });
        st.config.created = Some(created);
        st.key = key.clone();
        let state = StepState {
            layers: st.layers.clone(),
            config: serde_json::to_value(&st.config).expect("serialises"),
        };
        self.store.cache_put(&key, &state, size)?;
        self.store
            .set_step_inputs(&position, &key, &inputs.to_string())?;
        if matches!(
            kind,
            berth_dockerfile::Kind::Run
                | berth_dockerfile::Kind::Copy
                | berth_dockerfile::Kind::Add
        ) {
            self.say(&format!("#{no} DONE {:.2}s", began.elapsed().as_secs_f64()));
        }
        Ok(())
    }

    /// Mounts the stage's layers with a fresh upper directory. Past the overlay's layer
    /// limit, the bottom layers are merged into one directory first (once per build).
    fn mount(&self, layers: &[LayerRecord], dir: &Path) -> Result<Mounted> {
        let mut lowers = self.store.ensure_layer_snapshots(layers)?;
        let max = max_lowers();
        if lowers.len() > max {
            let keep = max / 2;
            let cut = lowers.len() - keep;
            let diffs: Vec<Digest> = layers[..cut].iter().map(|l| l.diff_id.clone()).collect();
            let chain = berth_store::chain_ids(&diffs).pop().expect("layers");
            let flat = self.work.join(format!("flat-{}", chain.hex()));
            let mut done = self.flattened.lock().expect("lock");
            if !done.contains(&chain) {
                let bottom: Vec<&Path> = lowers[..cut].iter().map(|p| p.as_path()).collect();
                fsops::merge_layers(&bottom, &flat).map_err(io_err("flatten the lower layers"))?;
                done.push(chain);
            }
            drop(done);
            let mut rest = vec![flat];
            rest.extend(lowers.drain(cut..));
            lowers = rest;
        }
        for d in ["upper", "work", "rootfs", "empty"] {
            std::fs::create_dir_all(dir.join(d))
                .map_err(io_err(format!("create {}", dir.join(d).display())))?;
        }
        rootfs::mount_overlay(
            &lowers,
            &dir.join("upper"),
            &dir.join("work"),
            &dir.join("rootfs"),
            &dir.join("empty"),
            false,
        )
        .map_err(io_err("mount the build step's filesystem"))?;
        Ok(Mounted {
            rootfs: dir.join("rootfs"),
            upper: dir.join("upper"),
        })
    }

    /// RUN/COPY/ADD: changes the filesystem; returns the new layer (None: no change).
    fn fs_step(
        &self,
        stage: usize,
        no: usize,
        ins: &ExpandedInstruction,
        st: &State,
    ) -> Result<Option<LayerRecord>> {
        let dir = self.work.join(format!("step-{no}"));
        let m = self.mount(&st.layers, &dir)?;
        let mut views: Vec<Mounted> = Vec::new();
        match &ins.instruction.command {
            Command::Run(r) => self.run(stage, no, ins, r, st, &m, &dir, &mut views)?,
            Command::Copy(c) => {
                let attrs_owner = self.chown(&m, c.chown.as_deref())?;
                let mode = parse_chmod(c.chmod.as_deref())?;
                if let Some(from) = &c.from {
                    let root = match self.resolve_from(from)? {
                        (Some(s), _) => Some(s.layers),
                        (None, Some(rec)) => Some(rec.layers),
                        _ => None,
                    };
                    let view_dir = dir.join("from");
                    let v = self.mount(&root.unwrap_or_default(), &view_dir)?;
                    let attrs = Attrs {
                        owner: attrs_owner,
                        keep_owner: true,
                        mode,
                    };
                    self.copy_from_root(
                        &v.rootfs, &c.sources, &c.dest, c.parents, &c.exclude, st, &m, attrs,
                    )?;
                    views.push(v);
                } else {
                    let attrs = Attrs {
                        owner: attrs_owner,
                        keep_owner: false,
                        mode,
                    };
                    self.copy_context(
                        &c.sources, &c.dest, c.parents, &c.exclude, st, &m, attrs, false,
                    )?;
                }
            }
            Command::Add(a) => {
                if a.keep_git_dir {
                    return Err(Error::Input(
                        "--keep-git-dir: git sources are not supported by berth".into(),
                    ));
                }
                let attrs = Attrs {
                    owner: self.chown(&m, a.chown.as_deref())?,
                    keep_owner: false,
                    mode: parse_chmod(a.chmod.as_deref())?,
                };
                self.add(a, st, &m, attrs, &dir)?;
            }
            _ => unreachable!("fs_step only for RUN/COPY/ADD"),
        }
        drop(views);
        let upper = m.upper.clone();
        drop(m);
        let _ = std::fs::remove_dir_all(dir.join("work"));
        if std::fs::read_dir(&upper)
            .map(|mut d| d.next().is_none())
            .unwrap_or(true)
        {
            let _ = std::fs::remove_dir_all(&dir);
            return Ok(None);
        }
        let layer = self.layer_from(&upper)?;
        let mut layers = st.layers.clone();
        layers.push(layer.clone());
        self.store.adopt_snapshot(&layers, &upper)?;
        let _ = std::fs::remove_dir_all(&dir);
        Ok(Some(layer))
    }

    fn layer_from(&self, upper: &Path) -> Result<LayerRecord> {
        let clamp = self.epoch.map(|e| e.max(0) as u64);
        Ok(berth_runtime::commit::store_upper(
            self.store, upper, clamp,
        )?)
    }

    fn chown(&self, m: &Mounted, chown: Option<&str>) -> Result<Option<(u32, u32)>> {
        let Some(spec) = chown else { return Ok(None) };
        let root = RootDir::open(&m.rootfs).map_err(io_err("open the build root"))?;
        // `--chown=user` alone means the user's own primary group... as Docker: the
        // group is the user's when a name, else the same number.
        let u =
            resolve_user(&root, spec).map_err(|e| Error::Input(format!("--chown={spec}: {e}")))?;
        Ok(Some((u.uid, u.gid)))
    }

    #[allow(clippy::too_many_arguments)]
    fn copy_context(
        &self,
        sources: &[Source],
        dest: &str,
        parents: bool,
        exclude: &[String],
        st: &State,
        m: &Mounted,
        attrs: Attrs,
        extract: bool,
    ) -> Result<()> {
        let root = RootDir::open(&m.rootfs).map_err(io_err("open the build root"))?;
        let excl = IgnoreFile::from_patterns(exclude).map_err(Error::Input)?;
        let dest_path = dest_path(st, dest);
        let many = sources.len() > 1
            || sources
                .iter()
                .any(|s| matches!(s, Source::Path(p) if has_wildcard(p)));
        let dest_is_dir = dest.ends_with('/') || many || fsops::is_dir(&root, &dest_path);
        if many && !dest.ends_with('/') && !fsops::is_dir(&root, &dest_path) && sources.len() > 1 {
            return Err(Error::Input(format!(
                "with several sources the destination must be a directory ending in /: {dest:?}"
            )));
        }
        for s in sources {
            match s {
                Source::Heredoc(h) => {
                    let target = if dest_is_dir {
                        dest_path.join(&h.name)
                    } else {
                        dest_path.clone()
                    };
                    let (uid, gid) = attrs.owner.unwrap_or((0, 0));
                    fsops::write_file(
                        &root,
                        &target,
                        h.content().as_bytes(),
                        uid,
                        gid,
                        attrs.mode.unwrap_or(0o644),
                    )
                    .map_err(io_err(format!("write {}", target.display())))?;
                }
                Source::Path(p) => {
                    let sel = self.ctx.select(p, &excl)?;
                    for (top, picked) in &sel.roots {
                        let src_is_dir = picked.first().is_some_and(|e| e.meta.is_dir());
                        let base = copy_target(&dest_path, top, parents, src_is_dir, dest_is_dir);
                        for e in picked {
                            if extract
                                && e.rel.as_os_str().is_empty()
                                && e.meta.is_file()
                                && is_archive(&e.host)
                            {
                                self.extract_archive(&root, &e.host, &dest_path, attrs)?;
                                continue;
                            }
                            let target = if e.rel.as_os_str().is_empty() {
                                base.clone()
                            } else {
                                base.join(&e.rel)
                            };
                            fsops::copy_entry(&root, &e.host, &e.meta, &target, &attrs).map_err(
                                io_err(format!(
                                    "copy {} to {}",
                                    e.host.display(),
                                    target.display()
                                )),
                            )?;
                        }
                    }
                }
            }
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn copy_from_root(
        &self,
        from: &Path,
        sources: &[Source],
        dest: &str,
        parents: bool,
        exclude: &[String],
        st: &State,
        m: &Mounted,
        attrs: Attrs,
    ) -> Result<()> {
        let root = RootDir::open(&m.rootfs).map_err(io_err("open the build root"))?;
        let src_root = RootDir::open(from).map_err(io_err("open the source stage"))?;
        let excl = IgnoreFile::from_patterns(exclude).map_err(Error::Input)?;
        let dest_path = dest_path(st, dest);
        let many = sources.len() > 1
            || sources
                .iter()
                .any(|s| matches!(s, Source::Path(p) if has_wildcard(p)));
        let dest_is_dir = dest.ends_with('/') || many || fsops::is_dir(&root, &dest_path);
        for s in sources {
            let Source::Path(p) = s else {
                return Err(Error::Input("COPY --from cannot take a heredoc".into()));
            };
            let tops = resolve_in(&src_root, from, p)?;
            for top in tops {
                let rel_top = top.strip_prefix(from).unwrap_or(&top).to_path_buf();
                let meta = top
                    .metadata()
                    .map_err(io_err(format!("stat {}", top.display())))?;
                let base = copy_target(&dest_path, &rel_top, parents, meta.is_dir(), dest_is_dir);
                let mut it = walkdir::WalkDir::new(&top).sort_by_file_name().into_iter();
                while let Some(e) = it.next() {
                    let e = e.map_err(|e| Error::Input(format!("read the source stage: {e}")))?;
                    let rel = e.path().strip_prefix(&top).expect("inside").to_path_buf();
                    if e.depth() > 0 && excl.is_excluded(&rel.display().to_string()) {
                        if e.file_type().is_dir() {
                            it.skip_current_dir();
                        }
                        continue;
                    }
                    // The top itself is followed (a symlink source copies what it points to).
                    let meta = if e.depth() == 0 {
                        e.path().metadata()
                    } else {
                        e.path().symlink_metadata()
                    }
                    .map_err(io_err(format!("stat {}", e.path().display())))?;
                    let target = if rel.as_os_str().is_empty() {
                        base.clone()
                    } else {
                        base.join(&rel)
                    };
                    let p = Picked {
                        host: e.path().to_path_buf(),
                        rel,
                        meta,
                    };
                    fsops::copy_entry(&root, &p.host, &p.meta, &target, &attrs).map_err(io_err(
                        format!("copy {} to {}", p.host.display(), target.display()),
                    ))?;
                }
            }
        }
        Ok(())
    }

    fn add(
        &self,
        a: &berth_dockerfile::ast::Add,
        st: &State,
        m: &Mounted,
        attrs: Attrs,
        dir: &Path,
    ) -> Result<()> {
        let (urls, locals): (Vec<&Source>, Vec<&Source>) = a
            .sources
            .iter()
            .partition(|s| matches!(s, Source::Path(p) if is_url(p)));
        let locals: Vec<Source> = locals.into_iter().cloned().collect();
        if !locals.is_empty() {
            self.copy_context(&locals, &a.dest, false, &a.exclude, st, m, attrs, true)?;
        }
        for u in urls {
            let Source::Path(url) = u else { continue };
            let dl = dir.join("download");
            let data = download(url)?;
            if let Some(sum) = &a.checksum {
                let got = Digest::of(&data).to_string();
                if &got != sum {
                    return Err(Error::Input(format!(
                        "{url}: checksum mismatch: want {sum}, got {got}"
                    )));
                }
            }
            std::fs::write(&dl, &data).map_err(io_err("save the download"))?;
            let name = url
                .split('?')
                .next()
                .unwrap_or(url)
                .rsplit('/')
                .next()
                .filter(|s| !s.is_empty())
                .unwrap_or("download")
                .to_string();
            let root = RootDir::open(&m.rootfs).map_err(io_err("open the build root"))?;
            let dp = dest_path(st, &a.dest);
            let target = if a.dest.ends_with('/') || fsops::is_dir(&root, &dp) {
                dp.join(name)
            } else {
                dp
            };
            let (uid, gid) = attrs.owner.unwrap_or((0, 0));
            fsops::write_file(&root, &target, &data, uid, gid, attrs.mode.unwrap_or(0o600))
                .map_err(io_err(format!("write {}", target.display())))?;
        }
        Ok(())
    }

    /// ADD of a local archive: its entries land under `dest`, checked like a layer.
    fn extract_archive(
        &self,
        root: &RootDir,
        archive: &Path,
        dest: &Path,
        attrs: Attrs,
    ) -> Result<()> {
        let tmp = self.work.join(format!("extract-{}", random_hex()));
        std::fs::create_dir_all(&tmp).map_err(io_err("create a temporary directory"))?;
        let f =
            std::fs::File::open(archive).map_err(io_err(format!("open {}", archive.display())))?;
        let (_, r) = berth_image::compression::auto_decompress(f)
            .map_err(io_err(format!("read {}", archive.display())))?;
        berth_image::layer::unpack_layer(r, &tmp, DevicePolicy::Skip)
            .map_err(|e| Error::Input(format!("ADD {}: {e}", archive.display())))?;
        for e in walkdir::WalkDir::new(&tmp).min_depth(1).sort_by_file_name() {
            let e = e.map_err(|e| Error::Input(e.to_string()))?;
            let rel = e.path().strip_prefix(&tmp).expect("inside");
            let meta = e.path().symlink_metadata().map_err(io_err("stat"))?;
            let a = Attrs {
                keep_owner: attrs.owner.is_none(),
                ..attrs
            };
            fsops::copy_entry(root, e.path(), &meta, &dest.join(rel), &a)
                .map_err(io_err(format!("extract to {}", dest.join(rel).display())))?;
        }
        let _ = std::fs::remove_dir_all(&tmp);
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn run(
        &self,
        _stage: usize,
        no: usize,
        ins: &ExpandedInstruction,
        r: &berth_dockerfile::ast::Run,
        st: &State,
        m: &Mounted,
        dir: &Path,
        views: &mut Vec<Mounted>,
    ) -> Result<()> {
        let shell = st
            .config
            .config
            .shell
            .clone()
            .unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into()]);
        let args: Vec<String> = match &r.cmd {
            ShellOrExec::Exec(v) => v.clone(),
            ShellOrExec::Shell(s) => {
                let only_heredoc =
                    r.heredocs.len() == 1 && s.trim().starts_with("<<") && !s.trim().contains(' ');
                if only_heredoc {
                    let body = r.heredocs[0].content();
                    if body.starts_with("#!") {
                        // A script with its own interpreter: written beside the bundle and
                        // bind-mounted into /dev (a tmpfs), so it is not in the layer.
                        let p = PathBuf::from(format!("/dev/.berth-heredoc-{no}"));
                        let script = dir.join("heredoc");
                        std::fs::write(&script, &body).map_err(io_err("write the heredoc"))?;
                        std::fs::set_permissions(
                            &script,
                            std::os::unix::fs::PermissionsExt::from_mode(0o755),
                        )
                        .map_err(io_err("chmod the heredoc"))?;
                        // Run through its interpreter, so the command checked before the
                        // start (which the mount does not cover yet) is the interpreter.
                        let first = body.lines().next().unwrap_or("");
                        let mut a: Vec<String> =
                            first[2..].split_whitespace().map(str::to_string).collect();
                        a.push(p.display().to_string());
                        a
                    } else {
                        let mut a = shell.clone();
                        a.push(body);
                        a
                    }
                } else {
                    let mut script = s.clone();
                    for h in &r.heredocs {
                        script.push('\n');
                        script.push_str(&h.raw);
                        script.push_str(&h.name);
                    }
                    let mut a = shell.clone();
                    a.push(script);
                    a
                }
            }
        };
        let mut env = env_for_run(st, ins);
        let mut mounts: Vec<Mount> = Vec::new();
        if let Some(script) = args
            .iter()
            .find(|a| a.starts_with("/dev/.berth-heredoc-"))
            .cloned()
        {
            mounts.push(Mount {
                kind: "bind".into(),
                source: dir.join("heredoc").display().to_string(),
                target: script,
                read_only: true,
                options: vec![],
            });
        }
        let mut locks = Vec::new();
        for mf in &r.mounts {
            let Some(mm) = &mf.mount else {
                return Err(Error::Input(format!("--mount={}: cannot be read", mf.raw)));
            };
            let target = mm.effective_target().unwrap_or_default();
            match mm.kind {
                MountType::Cache => {
                    let id = mm.id.clone().unwrap_or_else(|| target.clone());
                    let d = self
                        .store
                        .root()
                        .join("build")
                        .join("cache-mounts")
                        .join(Digest::of(id.as_bytes()).hex());
                    if !d.exists() {
                        std::fs::create_dir_all(&d)
                            .map_err(io_err(format!("create {}", d.display())))?;
                        let _ = rustix::fs::chown(
                            &d,
                            Some(crate::fsops::uid_(mm.uid.unwrap_or(0))),
                            Some(crate::fsops::gid_(mm.gid.unwrap_or(0))),
                        );
                        let _ = std::fs::set_permissions(
                            &d,
                            std::os::unix::fs::PermissionsExt::from_mode(mm.mode.unwrap_or(0o755)),
                        );
                    }
                    if matches!(mm.sharing, Some(Sharing::Locked)) {
                        let f = std::fs::File::open(&d).map_err(io_err("open cache mount"))?;
                        rustix::fs::flock(&f, rustix::fs::FlockOperation::LockExclusive)
                            .map_err(|e| Error::Input(format!("lock the cache mount {id}: {e}")))?;
                        locks.push(f);
                    }
                    mounts.push(Mount {
                        kind: "bind".into(),
                        source: d.display().to_string(),
                        target,
                        read_only: mm.readonly,
                        options: vec![],
                    });
                }
                MountType::Bind => {
                    let src = mm.source.clone().unwrap_or_else(|| "/".into());
                    let base = match &mm.from {
                        Some(from) => {
                            let layers = match self.resolve_from(from)? {
                                (Some(s), _) => s.layers,
                                (None, Some(rec)) => rec.layers,
                                _ => vec![],
                            };
                            let v =
                                self.mount(&layers, &dir.join(format!("bind-{}", views.len())))?;
                            let p = v.rootfs.clone();
                            views.push(v);
                            p
                        }
                        None => self.ctx.dir.clone(),
                    };
                    let src_root = RootDir::open(&base).map_err(io_err("open the mount source"))?;
                    let host = resolve_in(&src_root, &base, &src)?
                        .into_iter()
                        .next()
                        .ok_or_else(|| Error::Input(format!("--mount source {src:?} not found")))?;
                    let (host, ro) = if mm.readonly {
                        (host, true)
                    } else {
                        // Writable, but what is written is thrown away: an overlay on top.
                        let vd = dir.join(format!("bindrw-{}", views.len()));
                        for d in ["upper", "work", "rootfs", "empty"] {
                            std::fs::create_dir_all(vd.join(d))
                                .map_err(io_err("create a mount directory"))?;
                        }
                        if host.is_dir() {
                            rootfs::mount_overlay(
                                std::slice::from_ref(&host),
                                &vd.join("upper"),
                                &vd.join("work"),
                                &vd.join("rootfs"),
                                &vd.join("empty"),
                                true,
                            )
                            .map_err(io_err("mount a writable bind"))?;
                            views.push(Mounted {
                                rootfs: vd.join("rootfs"),
                                upper: vd.join("upper"),
                            });
                            (vd.join("rootfs"), false)
                        } else {
                            (host, true)
                        }
                    };
                    mounts.push(Mount {
                        kind: "bind".into(),
                        source: host.display().to_string(),
                        target,
                        read_only: ro,
                        options: vec![],
                    });
                }
                MountType::Secret => {
                    let id = mm
                        .id
                        .clone()
                        .or_else(|| {
                            mm.target
                                .as_ref()
                                .and_then(|t| t.rsplit('/').next().map(String::from))
                        })
                        .unwrap_or_default();
                    match self.opts.secrets.get(&id) {
                        Some(src) => {
                            if let Some(var) = &mm.env {
                                let v = std::fs::read_to_string(src)
                                    .map_err(io_err(format!("read secret {id}")))?;
                                env.push(format!("{var}={}", v.trim_end_matches('\n')));
                                if mm.target.is_none() {
                                    continue;
                                }
                            }
                            let target = mm
                                .target
                                .clone()
                                .unwrap_or_else(|| format!("/run/secrets/{id}"));
                            mounts.push(Mount {
                                kind: "bind".into(),
                                source: src.display().to_string(),
                                target,
                                read_only: true,
                                options: vec![],
                            });
                        }
                        None if mm.required => {
                            return Err(Error::Input(format!(
                            "the secret {id:?} is required: give it with --secret id={id},src=FILE"
                        )))
                        }
                        None => {}
                    }
                }
                MountType::Tmpfs => {
                    let mut options = vec![];
                    if let Some(s) = mm.size {
                        options.push(format!("size={s}"));
                    }
                    mounts.push(Mount {
                        kind: "tmpfs".into(),
                        source: String::new(),
                        target,
                        read_only: false,
                        options,
                    });
                }
                MountType::Ssh => {
                    return Err(Error::Input(
                        "--mount=type=ssh is not supported by berth; use a secret mount".into(),
                    ))
                }
            }
        }
        if self.opts.host_certs && Path::new(HOST_CA_SOURCE).exists() {
            mounts.push(Mount {
                kind: "bind".into(),
                source: HOST_CA_SOURCE.into(),
                target: HOST_CA_TARGET.into(),
                read_only: true,
                options: vec![],
            });
            for v in [
                "SSL_CERT_FILE",
                "REQUESTS_CA_BUNDLE",
                "PIP_CERT",
                "CURL_CA_BUNDLE",
                "NODE_EXTRA_CA_CERTS",
                "GIT_SSL_CAINFO",
            ] {
                env.push(format!("{v}={HOST_CA_TARGET}"));
            }
        }
        // Mount points the runtime creates are not part of the layer.
        let probe = RootDir::open(&m.rootfs).map_err(io_err("open the build root"))?;
        let mut stubs = Vec::new();
        let fixed = [
            "/proc",
            "/sys",
            "/dev",
            "/etc/hosts",
            "/etc/hostname",
            "/etc/resolv.conf",
        ];
        for t in fixed
            .iter()
            .map(|s| s.to_string())
            .chain(mounts.iter().map(|m| m.target.clone()))
        {
            if let Some(first_missing) = first_missing(&probe, Path::new(&t)) {
                stubs.push(first_missing);
            }
        }
        drop(probe);
        let security_insecure = matches!(
            r.security,
            Some(berth_dockerfile::ast::SecurityMode::Insecure)
        );
        let config = ContainerConfig {
            args,
            env,
            cwd: st.config.config.working_dir.clone(),
            user: st.config.config.user.clone(),
            mounts,
            network: self.network_for(r.network).into(),
            runtime: self.opts.runtime.clone(),
            privileged: security_insecure,
            hostname: "berth-build".into(),
            ..Default::default()
        };
        let id = format!("build-{}", random_hex());
        let bundle = dir.join("bundle");
        let task = Task {
            id,
            dir: &bundle,
            rootfs: &m.rootfs,
            config,
        };
        let tail = Mutex::new(std::collections::VecDeque::<String>::new());
        let partial = Mutex::new(Vec::<u8>::new());
        let emit = |line: &str| {
            self.write_log(&format!("#{no} {line}"));
            self.log.output(no, line);
            let mut t = tail.lock().expect("lock");
            t.push_back(line.to_string());
            if t.len() > 15 {
                t.pop_front();
            }
        };
        let out = |_stream: &str, bytes: &[u8]| {
            let mut p = partial.lock().expect("lock");
            p.extend_from_slice(bytes);
            while let Some(pos) = p.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = p.drain(..=pos).collect();
                let s = String::from_utf8_lossy(&line[..line.len() - 1]).into_owned();
                // Progress redrawn with \r (apt, pip): keep what a terminal would show.
                let s = s.trim_end_matches('\r');
                emit(s.rsplit('\r').next().unwrap_or(s));
            }
        };
        let code = self.rt.run_task(&task, &out)?;
        let rest = std::mem::take(&mut *partial.lock().expect("lock"));
        if !rest.is_empty() {
            emit(&String::from_utf8_lossy(&rest));
        }
        drop(locks);
        for s in stubs {
            let p = m.upper.join(s.strip_prefix("/").unwrap_or(&s));
            // Only if still an empty stub (a RUN may have filled it on purpose).
            if is_empty_tree(&p) {
                let _ = if p.is_dir() {
                    std::fs::remove_dir_all(&p)
                } else {
                    std::fs::remove_file(&p)
                };
            }
        }
        if code != 0 {
            let crlf = crlf_script(&m.rootfs, &task.config.args, &r.cmd);
            let t = tail.lock().expect("lock");
            let mut msg = format!("RUN failed with exit code {code}\n  last output:\n");
            for l in t.iter() {
                msg.push_str(&format!("    {l}\n"));
            }
            msg.push_str(&format!("  full log: {}", self.log_path.display()));
            return Err(Error::Located(render_located(
                &self.file_name,
                &self.source,
                ins.instruction.span,
                &msg,
                crlf.or_else(|| crlf_hint(&t.iter().cloned().collect::<Vec<_>>().join("\n"))),
            )));
        }
        Ok(())
    }

    /// Commits the target stage's state as the image, tags it, writes outputs.
    fn finish(&self, mut st: State) -> Result<Built> {
        if !self.opts.labels.is_empty() {
            let l = st.config.config.labels.get_or_insert_with(BTreeMap::new);
            l.extend(self.opts.labels.clone());
        }
        if self.opts.squash {
            st = self.squash(st)?;
        }
        if self.epoch.is_some() {
            st.config.created = Some(now_string(self.epoch));
        }
        st.config.rootfs.kind = "layers".into();
        st.config.rootfs.diff_ids = st.layers.iter().map(|l| l.diff_id.to_string()).collect();
        let config = st.config.to_json();
        let image = self.store.commit_image(
            NewImage {
                config: &config,
                layers: st.layers.clone(),
                manifest: None,
            },
            &self.opts.tags,
        )?;
        for o in &self.opts.outputs {
            self.output(o, &st, &image)?;
        }
        Ok(Built {
            image,
            steps: self.total.load(Ordering::SeqCst),
            cached: self.cached.load(Ordering::SeqCst),
        })
    }

    /// `--squash`: the layers the build added become one.
    fn squash(&self, mut st: State) -> Result<State> {
        let base_len = self.base_layer_count();
        if st.layers.len() <= base_len + 1 {
            return Ok(st);
        }
        let snaps = self.store.ensure_layer_snapshots(&st.layers)?;
        let dir = self
            .store
            .tmp_dir()
            .join(format!("squash-{}", random_hex()));
        let merged = dir.join("fs");
        let tops: Vec<&Path> = snaps[base_len..].iter().map(|p| p.as_path()).collect();
        fsops::merge_layers(&tops, &merged).map_err(io_err("merge the layers for --squash"))?;
        let layer = self.layer_from(&merged);
        let _ = std::fs::remove_dir_all(&dir);
        let layer = layer?;
        st.layers.truncate(base_len);
        st.layers.push(layer);
        st.config.history.push(History {
            created: Some(now_string(self.epoch)),
            created_by: Some("berth build --squash".into()),
            comment: Some(format!("{} layers merged", tops.len())),
            ..Default::default()
        });
        Ok(st)
    }

    /// How many layers the target stage's base image has (squash keeps them).
    fn base_layer_count(&self) -> usize {
        let mut i = self
            .graph
            .resolve_target(self.opts.target.as_deref())
            .unwrap_or(0);
        loop {
            match &self.graph.nodes[i].base {
                Base::Scratch => return 0,
                Base::Image(n) => return self.images.get(n).map(|r| r.layers.len()).unwrap_or(0),
                Base::Stage(s) => i = *s,
            }
        }
    }

    fn output(&self, o: &Output, st: &State, image: &ImageRecord) -> Result<()> {
        match o {
            Output::Local(dest) | Output::Tar(dest) => {
                let dir = self.store.tmp_dir().join(format!("out-{}", random_hex()));
                let m = self.mount(&st.layers, &dir)?;
                let res = match o {
                    Output::Local(_) => export_dir(&m.rootfs, dest),
                    _ => export_tar(&m.rootfs, dest),
                };
                drop(m);
                let _ = std::fs::remove_dir_all(&dir);
                res.map_err(io_err(format!("write the output {}", dest.display())))?;
            }
            Output::Oci(dest) | Output::Docker(dest) => {
                let format = if matches!(o, Output::Oci(_)) {
                    berth_store::archive::ArchiveFormat::Oci
                } else {
                    berth_store::archive::ArchiveFormat::Docker
                };
                let item = berth_store::archive::SaveItem {
                    image: image.clone(),
                    names: self.opts.tags.clone(),
                };
                let f = std::fs::File::create(dest)
                    .map_err(io_err(format!("create {}", dest.display())))?;
                let w =
                    self.store
                        .save(&[item], format, None, std::io::BufWriter::new(f), &Quiet)?;
                w.into_inner()
                    .map_err(|e| io_err(format!("write {}", dest.display()))(e.into_error()))?
                    .sync_all()
                    .map_err(io_err(format!("write {}", dest.display())))?;
            }
        }
        Ok(())
    }
}

fn export_dir(src: &Path, dest: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dest)?;
    let root = RootDir::open(dest)?;
    for e in walkdir::WalkDir::new(src).min_depth(1).sort_by_file_name() {
        let e = e.map_err(std::io::Error::other)?;
        let rel = e.path().strip_prefix(src).expect("inside");
        let meta = e.path().symlink_metadata()?;
        fsops::copy_entry(
            &root,
            e.path(),
            &meta,
            &Path::new("/").join(rel),
            &Attrs {
                keep_owner: true,
                ..Default::default()
            },
        )?;
    }
    Ok(())
}

fn export_tar(src: &Path, dest: &Path) -> std::io::Result<()> {
    let out: Box<dyn Write> = if dest.as_os_str() == "-" {
        Box::new(std::io::stdout().lock())
    } else {
        Box::new(std::io::BufWriter::new(std::fs::File::create(dest)?))
    };
    let mut b = tar::Builder::new(out);
    b.follow_symlinks(false);
    for e in walkdir::WalkDir::new(src).min_depth(1).sort_by_file_name() {
        let e = e.map_err(std::io::Error::other)?;
        let rel = e.path().strip_prefix(src).expect("inside");
        b.append_path_with_name(e.path(), rel)?;
    }
    b.into_inner()?.flush()
}

/// The topmost component of `p` that does not exist in `root` (None: it all exists).
fn first_missing(root: &RootDir, p: &Path) -> Option<PathBuf> {
    let mut cur = PathBuf::from("/");
    for c in p.components() {
        if let std::path::Component::Normal(n) = c {
            cur.push(n);
            if !root.exists(&cur) {
                return Some(cur);
            }
        }
    }
    None
}

fn is_empty_tree(p: &Path) -> bool {
    match p.symlink_metadata() {
        Ok(m) if m.is_dir() => std::fs::read_dir(p)
            .map(|d| d.flatten().all(|e| is_empty_tree(&e.path())))
            .unwrap_or(false),
        Ok(m) if m.is_file() => m.len() == 0,
        Ok(_) => false,
        Err(_) => false,
    }
}

/// Paths inside `root` (host path `host_root`) a source names (wildcards in the last
/// component allowed), resolved inside the root.
fn resolve_in(root: &RootDir, host_root: &Path, src: &str) -> Result<Vec<PathBuf>> {
    let clean = berth_dockerfile::dockerignore::clean_path(src.trim_start_matches('/'));
    let resolve = |p: &Path| -> Option<PathBuf> {
        use std::os::fd::AsRawFd;
        let fd = root.open_at(p, rustix::fs::OFlags::PATH).ok()?;
        let real = std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())).ok()?;
        real.starts_with(host_root).then_some(real)
    };
    if !has_wildcard(&clean) {
        let p = Path::new("/").join(&clean);
        return match resolve(&p) {
            Some(r) => Ok(vec![r]),
            None => Err(Error::Input(format!("{src:?} not found in the source"))),
        };
    }
    let glob = berth_dockerfile::glob::Glob::new(&clean, true, false).map_err(Error::Input)?;
    let depth = Path::new(&clean).components().count();
    let mut out = Vec::new();
    for e in walkdir::WalkDir::new(host_root)
        .min_depth(depth)
        .max_depth(depth)
        .sort_by_file_name()
    {
        let Ok(e) = e else { continue };
        let rel = e
            .path()
            .strip_prefix(host_root)
            .expect("inside")
            .display()
            .to_string();
        if glob.matches(&rel) {
            if let Some(r) = resolve(&Path::new("/").join(&rel)) {
                out.push(r);
            }
        }
    }
    if out.is_empty() {
        return Err(Error::Input(format!(
            "nothing in the source matches {src:?}"
        )));
    }
    Ok(out)
}

/// Where a COPY source `top` (context- or root-relative) lands: under its own path with
/// `--parents`, a directory's contents into the destination, a file into a destination
/// directory by its name, or at the destination itself.
fn copy_target(
    dest: &Path,
    top: &Path,
    parents: bool,
    src_is_dir: bool,
    dest_is_dir: bool,
) -> PathBuf {
    if parents {
        dest.join(top)
    } else if !src_is_dir && dest_is_dir {
        dest.join(top.file_name().unwrap_or_default())
    } else {
        dest.to_path_buf()
    }
}

fn dest_path(st: &State, dest: &str) -> PathBuf {
    let wd = if st.config.config.working_dir.is_empty() {
        "/"
    } else {
        &st.config.config.working_dir
    };
    Path::new(wd).join(dest)
}

fn is_url(s: &str) -> bool {
    s.starts_with("http://") || s.starts_with("https://")
}

fn is_archive(p: &Path) -> bool {
    let mut head = [0u8; 512];
    let Ok(mut f) = std::fs::File::open(p) else {
        return false;
    };
    let n = std::io::Read::read(&mut f, &mut head).unwrap_or(0);
    berth_image::compression::Compression::is_archive(&head[..n])
}

fn download(url: &str) -> Result<Vec<u8>> {
    let resp =
        reqwest::blocking::get(url).map_err(|e| Error::Input(format!("download {url}: {e}")))?;
    if !resp.status().is_success() {
        return Err(Error::Input(format!("download {url}: {}", resp.status())));
    }
    Ok(resp
        .bytes()
        .map_err(|e| Error::Input(format!("download {url}: {e}")))?
        .to_vec())
}

fn parse_chmod(s: Option<&str>) -> Result<Option<u32>> {
    match s {
        None => Ok(None),
        Some(v) => u32::from_str_radix(v, 8)
            .map(Some)
            .map_err(|_| Error::Input(format!("--chmod={v}: want an octal mode like 755"))),
    }
}

/// ENV, then the stage's ARGs that ENV does not hide: what RUN sees.
fn env_for_run(st: &State, ins: &ExpandedInstruction) -> Vec<String> {
    let mut env: Vec<String> = st.config.config.env.clone().unwrap_or_default();
    for (k, v) in &ins.arg_env {
        if !env
            .iter()
            .any(|e| e.split_once('=').map(|(a, _)| a) == Some(k.as_str()))
        {
            env.push(format!("{k}={v}"));
        }
    }
    env
}

fn history_text(kind: berth_dockerfile::Kind, text: &str) -> String {
    let rest = text
        .split_once(char::is_whitespace)
        .map(|(_, r)| r.trim())
        .unwrap_or("");
    format!("{} {rest}", kind.as_str())
}

fn crlf_hint(output: &str) -> Option<&'static str> {
    if output.contains("\r") || output.contains("^M") || output.contains("bad interpreter") {
        Some("the script has Windows (CRLF) line endings; convert it with dos2unix or `sed -i 's/\\r$//'`")
    } else {
        None
    }
}

/// Whether the command RUN started is a script with CRLF line endings.
fn crlf_script(rootfs: &Path, args: &[String], cmd: &ShellOrExec) -> Option<&'static str> {
    let first = match cmd {
        ShellOrExec::Exec(_) => args.first()?.clone(),
        ShellOrExec::Shell(s) => s.split_whitespace().next()?.to_string(),
    };
    if !first.contains('/') {
        return None;
    }
    let root = RootDir::open(rootfs).ok()?;
    let data = root.read(Path::new(&first)).ok()?;
    let head = &data[..data.len().min(4096)];
    let line = head.split(|&b| b == b'\n').next()?;
    if line.ends_with(b"\r") {
        Some("the script has Windows (CRLF) line endings, so its #! line names an interpreter that does not exist; convert it with dos2unix or `sed -i 's/\\r$//'`")
    } else {
        None
    }
}

fn shell_or_exec(config: &ImageConfig, v: &ShellOrExec) -> Vec<String> {
    match v {
        ShellOrExec::Exec(a) => a.clone(),
        ShellOrExec::Shell(s) => {
            let mut a = config
                .config
                .shell
                .clone()
                .unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into()]);
            a.push(s.clone());
            a
        }
    }
}

/// Config-only instructions.
fn apply_config(
    cmd: &Command,
    config: &mut ImageConfig,
    cmd_set: &mut bool,
) -> std::result::Result<(), String> {
    let c = &mut config.config;
    match cmd {
        Command::Env(kv) => {
            let env = c.env.get_or_insert_with(Vec::new);
            for p in &kv.pairs {
                env.retain(|e| e.split_once('=').map(|(k, _)| k) != Some(p.key.as_str()));
                env.push(format!("{}={}", p.key, p.value));
            }
        }
        Command::Label(kv) => {
            let l = c.labels.get_or_insert_with(BTreeMap::new);
            for p in &kv.pairs {
                l.insert(p.key.clone(), p.value.clone());
            }
        }
        Command::Maintainer(m) => config.author = Some(m.clone()),
        Command::Expose(ports) => {
            let e = c.exposed_ports.get_or_insert_with(BTreeMap::new);
            for p in ports {
                let p = if p.contains('/') {
                    p.to_ascii_lowercase()
                } else {
                    format!("{p}/tcp")
                };
                e.insert(p, json!({}));
            }
        }
        Command::Cmd(v) => {
            let a = shell_or_exec(config, v);
            config.config.cmd = Some(a);
            *cmd_set = true;
        }
        Command::Entrypoint(v) => {
            let a = shell_or_exec(config, v);
            config.config.entrypoint = Some(a);
            if !*cmd_set {
                config.config.cmd = None;
            }
        }
        Command::Volume { paths, .. } => {
            let v = c.volumes.get_or_insert_with(BTreeMap::new);
            for p in paths {
                v.insert(p.clone(), json!({}));
            }
        }
        Command::User(u) => c.user = u.clone(),
        Command::Workdir(w) => {
            let base = if c.working_dir.is_empty() {
                "/".to_string()
            } else {
                c.working_dir.clone()
            };
            c.working_dir = Path::new(&base).join(w).display().to_string();
        }
        Command::Arg(_) | Command::From(_) => {}
        Command::Onbuild(o) => {
            c.on_build.get_or_insert_with(Vec::new).push(o.expression());
        }
        Command::Stopsignal(s) => c.stop_signal = Some(s.clone()),
        Command::Healthcheck(h) => {
            c.healthcheck = Some(match h {
                Healthcheck::None => json!({"Test": ["NONE"]}),
                Healthcheck::Cmd(hc) => {
                    let test = match &hc.cmd {
                        ShellOrExec::Exec(a) => {
                            let mut t = vec!["CMD".to_string()];
                            t.extend(a.iter().cloned());
                            t
                        }
                        ShellOrExec::Shell(s) => vec!["CMD-SHELL".to_string(), s.clone()],
                    };
                    let mut v = json!({"Test": test});
                    let ns = |d: &std::time::Duration| d.as_nanos() as u64;
                    if let Some(d) = &hc.interval {
                        v["Interval"] = json!(ns(d));
                    }
                    if let Some(d) = &hc.timeout {
                        v["Timeout"] = json!(ns(d));
                    }
                    if let Some(d) = &hc.start_period {
                        v["StartPeriod"] = json!(ns(d));
                    }
                    if let Some(d) = &hc.start_interval {
                        v["StartInterval"] = json!(ns(d));
                    }
                    if let Some(r) = hc.retries {
                        v["Retries"] = json!(r);
                    }
                    v
                }
            })
        }
        Command::Shell(s) => c.shell = Some(s.clone()),
        Command::Run(_) | Command::Copy(_) | Command::Add(_) => unreachable!(),
    }
    Ok(())
}

/// Says why a step's key changed, comparing what it was made of last time with now.
pub fn explain_text(old: &Value, new: &Value, first: bool, base: &str) -> String {
    let mut why = Vec::new();
    if old["instruction"] != new["instruction"] {
        why.push("the instruction changed".to_string());
    }
    let (oa, na) = (&old["args"], &new["args"]);
    if oa != na {
        let empty = serde_json::Map::new();
        let om = oa.as_object().unwrap_or(&empty);
        let nm = na.as_object().unwrap_or(&empty);
        for (k, v) in nm {
            match om.get(k) {
                Some(o) if o == v => {}
                Some(o) => why.push(format!("build arg {k} changed: {} -> {}", show(o), show(v))),
                None => why.push(format!("build arg {k} is now used ({})", show(v))),
            }
        }
        for k in om.keys().filter(|k| !nm.contains_key(*k)) {
            why.push(format!("build arg {k} is no longer used"));
        }
    }
    let (of, nf) = (&old["files"], &new["files"]);
    if of != nf {
        let empty = serde_json::Map::new();
        let om = of.as_object().unwrap_or(&empty);
        let nm = nf.as_object().unwrap_or(&empty);
        let mut changed: Vec<String> = Vec::new();
        for (k, v) in nm {
            match om.get(k) {
                Some(o) if o == v => {}
                Some(_) => changed.push(format!("{k} changed")),
                None => changed.push(format!("{k} added")),
            }
        }
        for k in om.keys().filter(|k| !nm.contains_key(*k)) {
            changed.push(format!("{k} removed"));
        }
        let n = changed.len();
        let mut s = changed.into_iter().take(5).collect::<Vec<_>>().join(", ");
        if n > 5 {
            s.push_str(&format!(" and {} more", n - 5));
        }
        why.push(format!("files: {s}"));
    }
    if old["extra"] != new["extra"] {
        if old["extra"]["env"] != new["extra"]["env"] {
            if oa == na {
                why.push("the environment changed".into());
            }
        } else {
            why.push("a --from or --mount source changed".into());
        }
    }
    if why.is_empty() && old["parent"] != new["parent"] {
        if first {
            why.push(format!("the base changed: now {base}"));
        } else {
            why.push("an earlier step's result changed".into());
        }
    }
    if why.is_empty() {
        why.push("its inputs changed".into());
    }
    why.join("; ")
}

fn show(v: &Value) -> String {
    match v {
        Value::Null => "(unset)".into(),
        Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs(parent: &str, instr: &str, args: Value, files: Value) -> Value {
        json!({"parent": parent, "instruction": instr, "args": args, "files": files, "extra": {}})
    }

    #[test]
    fn explanations_name_what_changed() {
        let old = inputs(
            "k1",
            "COPY . /",
            json!({"V": "1"}),
            json!({"a.txt": "h1", "b.txt": "h2"}),
        );
        let new = inputs(
            "k1",
            "COPY . /",
            json!({"V": "2"}),
            json!({"a.txt": "h9", "c.txt": "h3"}),
        );
        let why = explain_text(&old, &new, false, "");
        assert!(why.contains("build arg V changed: \"1\" -> \"2\""), "{why}");
        assert!(
            why.contains("a.txt changed")
                && why.contains("c.txt added")
                && why.contains("b.txt removed"),
            "{why}"
        );
        let why = explain_text(
            &old,
            &inputs(
                "k2",
                "COPY . /",
                json!({"V": "1"}),
                json!({"a.txt": "h1", "b.txt": "h2"}),
            ),
            true,
            "image base:1",
        );
        assert_eq!(why, "the base changed: now image base:1");
        let why = explain_text(
            &old,
            &inputs(
                "k1",
                "COPY . /app",
                json!({"V": "1"}),
                json!({"a.txt": "h1", "b.txt": "h2"}),
            ),
            false,
            "",
        );
        assert_eq!(why, "the instruction changed");
    }

    #[test]
    fn many_changed_files_are_summed_up() {
        let files_old: serde_json::Map<String, Value> =
            (0..9).map(|i| (format!("f{i}"), json!("x"))).collect();
        let files_new: serde_json::Map<String, Value> =
            (0..9).map(|i| (format!("f{i}"), json!("y"))).collect();
        let why = explain_text(
            &inputs("k", "COPY", json!({}), Value::Object(files_old)),
            &inputs("k", "COPY", json!({}), Value::Object(files_new)),
            false,
            "",
        );
        assert!(why.ends_with("and 4 more"), "{why}");
    }

    #[test]
    fn keys_are_stable_and_content_based() {
        let a = key_of(&inputs("p", "RUN make", json!({"V": "1"}), json!({})));
        let b = key_of(&inputs("p", "RUN make", json!({"V": "1"}), json!({})));
        let c = key_of(&inputs("p", "RUN make", json!({"V": "2"}), json!({})));
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn small_helpers() {
        assert!(is_url("https://example.invalid/x.tar.gz") && !is_url("src/x"));
        assert_eq!(parse_chmod(Some("755")).unwrap(), Some(0o755));
        assert!(parse_chmod(Some("rwx")).is_err());
        assert_eq!(
            history_text(berth_dockerfile::Kind::Run, "run  echo hi"),
            "RUN echo hi"
        );
    }
}

//! Loading a project: find the files, read `.env`, parse each file with positions,
//! interpolate, resolve `extends`, merge the files, convert to the typed model, apply
//! profiles, and check references and the dependency graph.

use crate::convert::{entries, unknown_key, Conv};
use crate::merge::{merge, normalize, normalize_service};
use crate::model::Project;
use crate::yaml::{self, Node, Value};
use crate::{graph, interp, Error};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type R<T> = Result<T, Error>;

/// What the command line gives the loader. `environ` is the process environment
/// (passed in, so loading is pure and testable).
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `-f` files; empty: the default files in `working_dir`.
    pub files: Vec<PathBuf>,
    pub project_name: Option<String>,
    pub profiles: Vec<String>,
    /// `--env-file`; empty: `.env` in the project directory if there is one.
    pub env_files: Vec<PathBuf>,
    pub working_dir: PathBuf,
    pub environ: BTreeMap<String, String>,
    /// Services named on the command line: enabled even when their profiles are not.
    pub services: Vec<String>,
}

pub const DEFAULT_FILES: &[&str] = &[
    "compose.yaml",
    "compose.yml",
    "docker-compose.yaml",
    "docker-compose.yml",
];

/// The default files in `dir`: the first of DEFAULT_FILES, then its override file.
pub fn default_files(dir: &Path) -> R<Vec<PathBuf>> {
    for f in DEFAULT_FILES {
        let p = dir.join(f);
        if p.exists() {
            let (stem, ext) = f.rsplit_once('.').unwrap_or((f, "yaml"));
            let mut out = vec![p];
            for o in [
                format!("{stem}.override.{ext}"),
                format!("{stem}.override.yaml"),
                format!("{stem}.override.yml"),
            ] {
                let op = dir.join(&o);
                if op.exists() {
                    out.push(op);
                    break;
                }
            }
            return Ok(out);
        }
    }
    Err(Error::Other(format!(
        "no compose file found in {}: create compose.yaml or give one with -f",
        dir.display()
    )))
}

const TOP_KEYS: &[&str] = &[
    "version", "name", "services", "networks", "volumes", "secrets", "configs", "include",
];

/// The name a file is shown under in errors: relative to the working directory if inside.
fn display_name(p: &Path, wd: &Path) -> String {
    p.strip_prefix(wd).unwrap_or(p).display().to_string()
}

struct Loader<'a> {
    opts: &'a Options,
    vars: BTreeMap<String, String>,
    /// The files that include the one being read (to refuse include cycles).
    including: Vec<PathBuf>,
}

impl Loader<'_> {
    fn lookup(&self, k: &str) -> Option<String> {
        self.vars.get(k).cloned()
    }

    /// Reads, parses, checks top-level keys, interpolates and normalises one file.
    fn read(&self, path: &Path) -> R<Node> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::Other(format!("cannot read compose file {}: {e}", path.display()))
        })?;
        // Several documents in one file merge in order, as several files do.
        let mut root: Option<Node> = None;
        for doc in yaml::parse_all(&text, &display_name(path, &self.opts.working_dir))? {
            let doc = self.check_and_interpolate(doc)?;
            root = Some(match root {
                None => doc,
                Some(b) => {
                    merge(b, doc, &[]).unwrap_or_else(|| Node::new(Value::Null, Default::default()))
                }
            });
        }
        let mut root = root.unwrap_or_else(|| Node::new(Value::Null, Default::default()));
        self.include(&mut root, path)?;
        Ok(root)
    }

    /// `include`: each included file is loaded as a project of its own (its directory,
    /// its `.env`), its relative paths made absolute, and its services, networks,
    /// volumes, secrets and configs added to this file's; defining one twice is an error.
    fn include(&self, root: &mut Node, path: &Path) -> R<()> {
        let Value::Map(entries_) = &mut root.value else {
            return Ok(());
        };
        let Some(i) = entries_.iter().position(|(k, _)| k.name == "include") else {
            return Ok(());
        };
        let (_, list) = entries_.remove(i);
        let dir = path.parent().unwrap_or(Path::new("."));
        let items: Vec<Node> = match list.value {
            Value::Seq(v) => v,
            _ => {
                return Err(Error::at(
                    list.pos.clone(),
                    "include must be a list of files".into(),
                ))
            }
        };
        for item in items {
            let (paths, project_dir, env_files): (Vec<String>, Option<String>, Vec<String>) =
                match &item.value {
                    Value::Str(s) => (vec![s.clone()], None, vec![]),
                    Value::Map(m) => {
                        let (mut paths, mut pd, mut envs) = (vec![], None, vec![]);
                        for (k, v) in m {
                            let list = |v: &Node| -> R<Vec<String>> {
                                match &v.value {
                                    Value::Seq(x) => x
                                        .iter()
                                        .map(|n| {
                                            n.scalar_text().ok_or_else(|| {
                                                Error::at(
                                                    n.pos.clone(),
                                                    format!("include.{} must hold strings", k.name),
                                                )
                                            })
                                        })
                                        .collect(),
                                    _ => Ok(vec![v.scalar_text().ok_or_else(|| {
                                        Error::at(
                                            v.pos.clone(),
                                            format!(
                                                "include.{} must be a string or a list",
                                                k.name
                                            ),
                                        )
                                    })?]),
                                }
                            };
                            match k.name.as_str() {
                                "path" => paths = list(v)?,
                                "env_file" => envs = list(v)?,
                                "project_directory" => pd = v.scalar_text(),
                                _ => {
                                    return Err(unknown_key(
                                        k,
                                        "include",
                                        &["path", "project_directory", "env_file"],
                                    ))
                                }
                            }
                        }
                        (paths, pd, envs)
                    }
                    _ => {
                        return Err(Error::at(
                            item.pos.clone(),
                            "an include entry is a path or a mapping with path".into(),
                        ))
                    }
                };
            if paths.is_empty() {
                return Err(Error::at(
                    item.pos.clone(),
                    "an include entry needs a path".into(),
                ));
            }
            let first = dir.join(&paths[0]);
            let project_dir = match &project_dir {
                Some(p) => dir.join(p),
                None => first.parent().unwrap_or(dir).to_path_buf(),
            };
            // Its variables: its env files (default: its .env), then the process environment.
            let env_files: Vec<PathBuf> = if env_files.is_empty() {
                let d = project_dir.join(".env");
                if d.is_file() {
                    vec![d]
                } else {
                    vec![]
                }
            } else {
                env_files.iter().map(|f| dir.join(f)).collect()
            };
            let mut vars = BTreeMap::new();
            for f in &env_files {
                let environ = &self.opts.environ;
                let sofar = vars.clone();
                let outer = |k: &str| environ.get(k).or_else(|| sofar.get(k)).cloned();
                vars.extend(
                    crate::dotenv::read_file(f, &outer)
                        .map_err(|e| Error::at(item.pos.clone(), e))?,
                );
            }
            vars.extend(self.opts.environ.clone());
            let mut including = self.including.clone();
            including.push(path.to_path_buf());
            let sub = Loader {
                opts: self.opts,
                vars,
                including,
            };
            let mut included: Option<Node> = None;
            for p in &paths {
                let file = dir.join(p);
                if !file.is_file() {
                    return Err(Error::at(
                        item.pos.clone(),
                        format!("include: {} does not exist", file.display()),
                    ));
                }
                let canon = std::fs::canonicalize(&file).ok();
                if sub
                    .including
                    .iter()
                    .any(|a| std::fs::canonicalize(a).ok() == canon)
                {
                    let chain: Vec<String> = sub
                        .including
                        .iter()
                        .chain([&file])
                        .map(|f| f.display().to_string())
                        .collect();
                    return Err(Error::at(
                        item.pos.clone(),
                        format!("include cycle: {}", chain.join(" -> ")),
                    ));
                }
                let mut r = sub.read(&file)?;
                sub.extends(&mut r, &file)?;
                included = Some(match included {
                    None => r,
                    Some(b) => merge(b, r, &[])
                        .unwrap_or_else(|| Node::new(Value::Null, Default::default())),
                });
            }
            let Some(mut inc) = included else { continue };
            rebase_project(&mut inc, &project_dir);
            for section in ["services", "networks", "volumes", "secrets", "configs"] {
                let Some(Value::Map(add)) = inc.get(section).map(|n| n.value.clone()) else {
                    continue;
                };
                let Value::Map(top) = &mut root.value else {
                    break;
                };
                let slot = match top.iter().position(|(k, _)| k.name == section) {
                    Some(i) => i,
                    None => {
                        top.push((
                            crate::yaml::Key {
                                name: section.into(),
                                pos: item.pos.clone(),
                            },
                            Node::new(Value::Map(vec![]), item.pos.clone()),
                        ));
                        top.len() - 1
                    }
                };
                let Value::Map(existing) = &mut top[slot].1.value else {
                    return Err(Error::at(
                        top[slot].1.pos.clone(),
                        format!("{section} must be a mapping"),
                    ));
                };
                for (k, v) in add {
                    if let Some((prev, _)) = existing.iter().find(|(x, _)| x.name == k.name) {
                        return Err(Error::at(prev.pos.clone(), format!(
                            "{section}.{} is defined here and in the included file {}:{}: rename one of them",
                            k.name, k.pos.file, k.pos.line
                        )));
                    }
                    existing.push((k, v));
                }
            }
        }
        Ok(())
    }

    fn check_and_interpolate(&self, mut root: Node) -> R<Node> {
        match &root.value {
            Value::Map(m) => {
                for (k, _) in m {
                    if !TOP_KEYS.contains(&k.name.as_str()) && !k.name.starts_with("x-") {
                        return Err(unknown_key(k, "", TOP_KEYS));
                    }
                }
            }
            Value::Null => {}
            _ => {
                return Err(Error::at(
                    root.pos.clone(),
                    format!("a compose file must be a mapping, not {}", root.kind()),
                ))
            }
        }
        self.interpolate(&mut root, "")?;
        normalize(&mut root);
        Ok(root)
    }

    fn interpolate(&self, n: &mut Node, path: &str) -> R<()> {
        match &mut n.value {
            Value::Str(s) if s.contains('$') => {
                let lookup = |k: &str| self.lookup(k);
                *s = interp::interpolate(s, &lookup)
                    .map_err(|e| Error::at(n.pos.clone(), format!("{path}: {e}")))?;
            }
            Value::Seq(v) => {
                for (i, x) in v.iter_mut().enumerate() {
                    self.interpolate(x, &format!("{path}[{i}]"))?;
                }
            }
            Value::Map(m) => {
                for (k, v) in m.iter_mut() {
                    let p = if path.is_empty() {
                        k.name.clone()
                    } else {
                        format!("{path}.{}", k.name)
                    };
                    self.interpolate(v, &p)?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Resolves `extends` of every service of `root` (a file at `path`).
    fn extends(&self, root: &mut Node, path: &Path) -> R<()> {
        let names: Vec<String> = match root.get("services").map(|s| &s.value) {
            Some(Value::Map(m)) => m.iter().map(|(k, _)| k.name.clone()).collect(),
            _ => return Ok(()),
        };
        let snapshot = root.clone();
        for name in names {
            let mut chain = vec![(path.to_path_buf(), name.clone())];
            let resolved = self.resolve_service(&snapshot, path, &name, &mut chain)?;
            if let Some(Value::Map(m)) = root.get_mut("services").map(|s| &mut s.value) {
                if let Some(slot) = m.iter_mut().find(|(k, _)| k.name == name) {
                    slot.1 = resolved;
                }
            }
        }
        Ok(())
    }

    fn resolve_service(
        &self,
        root: &Node,
        path: &Path,
        name: &str,
        chain: &mut Vec<(PathBuf, String)>,
    ) -> R<Node> {
        let svc = root
            .get("services")
            .and_then(|s| s.get(name))
            .cloned()
            .ok_or_else(|| {
                Error::Other(format!(
                    "{}: extends names service {name:?}, which is not defined there",
                    path.display()
                ))
            })?;
        let Some(ext) = svc.get("extends").cloned() else {
            return Ok(svc);
        };
        let (base_name, base_file) = match &ext.value {
            Value::Str(s) => (s.clone(), None),
            Value::Map(_) => {
                let mut sname = None;
                let mut file = None;
                for (k, v) in entries(&ext, "extends")? {
                    match k.name.as_str() {
                        "service" => sname = v.scalar_text(),
                        "file" => file = v.scalar_text(),
                        _ => {
                            return Err(unknown_key(
                                k,
                                &format!("services.{name}.extends"),
                                &["service", "file"],
                            ))
                        }
                    }
                }
                let sname = sname.ok_or_else(|| {
                    Error::at(
                        ext.pos.clone(),
                        format!("services.{name}.extends needs a service"),
                    )
                })?;
                (sname, file)
            }
            _ => {
                return Err(Error::at(
                    ext.pos.clone(),
                    format!("services.{name}.extends must be a service name or a mapping"),
                ))
            }
        };
        let (base_root, base_path) = match base_file {
            Some(f) => {
                let dir = path.parent().unwrap_or(Path::new("."));
                let p = dir.join(f);
                (self.read(&p)?, p)
            }
            None => (root.clone(), path.to_path_buf()),
        };
        if chain
            .iter()
            .any(|(p, n)| *p == base_path && *n == base_name)
        {
            let cycle: Vec<String> = chain
                .iter()
                .map(|(_, n)| n.clone())
                .chain([base_name.clone()])
                .collect();
            return Err(Error::at(
                ext.pos.clone(),
                format!(
                    "services.{name}.extends: circular reference: {}",
                    cycle.join(" -> ")
                ),
            ));
        }
        if base_root
            .get("services")
            .and_then(|s| s.get(&base_name))
            .is_none()
        {
            return Err(Error::at(
                ext.pos.clone(),
                format!(
                    "services.{name}.extends: no service {base_name:?} in {}",
                    base_path.display()
                ),
            ));
        }
        chain.push((base_path.clone(), base_name.clone()));
        let mut base = self.resolve_service(&base_root, &base_path, &base_name, chain)?;
        chain.pop();
        // Relative paths of a service from a file elsewhere stay relative to that file.
        let base_dir = base_path.parent().unwrap_or(Path::new("."));
        if base_dir != path.parent().unwrap_or(Path::new(".")) {
            rebase_paths(&mut base, base_dir);
        }
        if let Value::Map(m) = &mut base.value {
            m.retain(|(k, _)| k.name != "extends");
        }
        let mut over = svc;
        if let Value::Map(m) = &mut over.value {
            m.retain(|(k, _)| k.name != "extends");
        }
        normalize_service(&mut base);
        normalize_service(&mut over);
        Ok(merge(base, over, &["<service>"])
            .unwrap_or_else(|| Node::new(Value::Map(vec![]), ext.pos.clone())))
    }
}

/// Makes the relative paths of a service node (build context, env_file, bind mount
/// sources) absolute against `dir`.
fn rebase_paths(svc: &mut Node, dir: &Path) {
    let fix = |n: &mut Node| {
        if let Value::Str(s) = &mut n.value {
            if !s.starts_with('/') && !s.starts_with('~') && !s.contains("://") {
                *s = dir.join(&*s).display().to_string();
            }
        }
    };
    if let Some(b) = svc.get_mut("build") {
        match &mut b.value {
            Value::Str(_) => fix(b),
            Value::Map(_) => {
                if let Some(c) = b.get_mut("context") {
                    fix(c);
                }
            }
            _ => {}
        }
    }
    if let Some(e) = svc.get_mut("env_file") {
        match &mut e.value {
            Value::Str(_) => fix(e),
            Value::Seq(items) => {
                for it in items {
                    match &it.value {
                        Value::Map(_) => {
                            if let Some(p) = it.get_mut("path") {
                                fix(p);
                            }
                        }
                        _ => fix(it),
                    }
                }
            }
            _ => {}
        }
    }
    if let Some(Value::Seq(items)) = svc.get_mut("volumes").map(|v| &mut v.value) {
        for it in items {
            match &mut it.value {
                Value::Str(s) if s.starts_with('.') => {
                    *s = dir.join(&*s).display().to_string();
                }
                Value::Map(_) => {
                    let bind =
                        it.get("type").and_then(Node::scalar_text).as_deref() == Some("bind");
                    if let (true, Some(src)) = (bind, it.get_mut("source")) {
                        fix(src);
                    }
                }
                _ => {}
            }
        }
    }
}

/// Makes the relative paths of an included file absolute against its project directory:
/// those of its services and the files of its secrets and configs.
fn rebase_project(root: &mut Node, dir: &Path) {
    if let Some(Value::Map(services)) = root.get_mut("services").map(|n| &mut n.value) {
        for (_, svc) in services.iter_mut() {
            rebase_paths(svc, dir);
        }
    }
    for section in ["secrets", "configs"] {
        if let Some(Value::Map(items)) = root.get_mut(section).map(|n| &mut n.value) {
            for (_, it) in items.iter_mut() {
                if let Some(f) = it.get_mut("file") {
                    if let Value::Str(s) = &mut f.value {
                        if !s.starts_with('/') {
                            *s = dir.join(&*s).display().to_string();
                        }
                    }
                }
            }
        }
    }
}

/// Docker Compose's rule for project names.
pub fn normalize_project_name(s: &str) -> String {
    s.to_ascii_lowercase()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))
        .collect::<String>()
        .trim_start_matches(['_', '-'])
        .to_string()
}

fn check_project_name(n: &str) -> R<()> {
    let ok = !n.is_empty()
        && n.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && n.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(Error::Other(format!("invalid project name {n:?}: use lowercase letters, digits, dashes and underscores, starting with a letter or digit")))
    }
}

/// Loads the project the options describe.
pub fn load(opts: &Options) -> R<Project> {
    let from_env: Vec<PathBuf> = opts
        .environ
        .get("COMPOSE_FILE")
        .filter(|_| opts.files.is_empty())
        .map(|v| {
            let sep = opts
                .environ
                .get("COMPOSE_PATH_SEPARATOR")
                .map(String::as_str)
                .unwrap_or(":");
            v.split(sep)
                .filter(|s| !s.is_empty())
                .map(PathBuf::from)
                .collect()
        })
        .unwrap_or_default();
    let files: Vec<PathBuf> = if !from_env.is_empty() {
        from_env.iter().map(|f| opts.working_dir.join(f)).collect()
    } else if opts.files.is_empty() {
        // Like Docker Compose: the working directory, then its parents.
        let mut dir = Some(opts.working_dir.as_path());
        let mut found = None;
        while let Some(d) = dir {
            if let Ok(f) = default_files(d) {
                found = Some(f);
                break;
            }
            dir = d.parent();
        }
        match found {
            Some(f) => f,
            None => default_files(&opts.working_dir)?,
        }
    } else {
        opts.files
            .iter()
            .map(|f| {
                if f.is_absolute() {
                    f.clone()
                } else {
                    opts.working_dir.join(f)
                }
            })
            .collect()
    };
    let project_dir = files[0]
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| opts.working_dir.clone());
    let project_dir = std::fs::canonicalize(&project_dir).unwrap_or(project_dir);

    // Variables: the env files, then the process environment wins.
    let mut vars: BTreeMap<String, String> = BTreeMap::new();
    let env_files: Vec<PathBuf> = if opts.env_files.is_empty() {
        let d = project_dir.join(".env");
        if d.is_file() {
            vec![d]
        } else {
            vec![]
        }
    } else {
        opts.env_files
            .iter()
            .map(|f| opts.working_dir.join(f))
            .collect()
    };
    for f in &env_files {
        let environ = &opts.environ;
        let sofar = vars.clone();
        let outer = |k: &str| environ.get(k).or_else(|| sofar.get(k)).cloned();
        vars.extend(crate::dotenv::read_file(f, &outer).map_err(Error::Other)?);
    }
    vars.extend(opts.environ.clone());

    let loader = Loader {
        opts,
        vars,
        including: Vec::new(),
    };
    let mut merged: Option<Node> = None;
    for f in &files {
        let mut root = loader.read(f)?;
        loader.extends(&mut root, f)?;
        merged = Some(match merged {
            None => root,
            Some(b) => {
                merge(b, root, &[]).unwrap_or_else(|| Node::new(Value::Null, Default::default()))
            }
        });
    }
    let root = merged.unwrap_or_else(|| Node::new(Value::Null, Default::default()));

    let name = match (
        &opts.project_name,
        loader.vars.get("COMPOSE_PROJECT_NAME"),
        root.get("name").and_then(Node::scalar_text),
    ) {
        (Some(n), _, _) => n.clone(),
        (None, Some(n), _) if !n.is_empty() => n.clone(),
        (None, _, Some(n)) => n,
        _ => normalize_project_name(
            &project_dir
                .file_name()
                .map(|s| s.to_string_lossy().to_string())
                .unwrap_or_default(),
        ),
    };
    check_project_name(&name)?;

    let mut conv = Conv {
        dir: &project_dir,
        warnings: Vec::new(),
    };
    let mut p = Project {
        name,
        working_dir: project_dir.clone(),
        files: files.clone(),
        ..Default::default()
    };
    if let Some(v) = root.get("version") {
        conv.warnings.push(format!(
            "{}: the top-level version key is obsolete and ignored",
            v.pos
        ));
    }
    let mut positions: BTreeMap<String, &Node> = BTreeMap::new();
    if let Some(s) = root.get("services") {
        for (k, v) in entries(s, "services")? {
            check_service_name(k)?;
            p.services.insert(k.name.clone(), conv.service(&k.name, v)?);
            positions.insert(k.name.clone(), v);
        }
    }
    for (section, f) in [
        ("networks", 0),
        ("volumes", 1),
        ("secrets", 2),
        ("configs", 3),
    ] {
        if let Some(s) = root.get(section) {
            for (k, v) in entries(s, section)? {
                let path = format!("{section}.{}", k.name);
                match f {
                    0 => {
                        p.networks.insert(k.name.clone(), conv.network(v, &path)?);
                    }
                    1 => {
                        p.volumes.insert(k.name.clone(), conv.volume(v, &path)?);
                    }
                    2 => {
                        p.secrets
                            .insert(k.name.clone(), conv.file_object(v, &path)?);
                    }
                    _ => {
                        p.configs
                            .insert(k.name.clone(), conv.file_object(v, &path)?);
                    }
                }
            }
        }
    }
    p.warnings = conv.warnings;
    // `environment: [KEY]` takes KEY from the same variables interpolation sees.
    for s in p.services.values_mut() {
        for (k, v) in s.environment.iter_mut() {
            if v.is_none() {
                *v = loader.vars.get(k).cloned();
            }
        }
    }

    for s in &opts.services {
        if !p.services.contains_key(s) {
            return Err(Error::Other(format!(
                "no such service: {s} (the project has {})",
                p.services.keys().cloned().collect::<Vec<_>>().join(", ")
            )));
        }
    }

    // Profiles.
    let mut active: BTreeSet<String> = opts.profiles.iter().cloned().collect();
    if let Some(v) = loader.vars.get("COMPOSE_PROFILES") {
        active.extend(
            v.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from),
        );
    }
    let names: Vec<String> = p.services.keys().cloned().collect();
    for n in names {
        let s = &p.services[&n];
        let on = s.profiles.is_empty()
            || active.contains("*")
            || s.profiles.iter().any(|x| active.contains(x))
            || opts.services.contains(&n);
        if !on {
            let s = p.services.remove(&n).expect("present");
            p.disabled.insert(n, s);
        }
    }

    validate(&p, &positions)?;
    Ok(p)
}

fn check_service_name(k: &crate::yaml::Key) -> R<()> {
    let ok = !k.name.is_empty()
        && k.name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        && k.name.starts_with(|c: char| c.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(Error::at(
            k.pos.clone(),
            format!(
                "invalid service name {:?}: use letters, digits, ., _ and -",
                k.name
            ),
        ))
    }
}

/// Where a service's key is, for errors about references (falls back to the service).
fn key_pos(positions: &BTreeMap<String, &Node>, svc: &str, key: &str) -> crate::yaml::Pos {
    let n = positions[svc];
    n.get(key)
        .map(|v| v.pos.clone())
        .or_else(|| match &n.value {
            Value::Map(m) => m
                .iter()
                .find(|(k, _)| k.name == key)
                .map(|(k, _)| k.pos.clone()),
            _ => None,
        })
        .unwrap_or_else(|| n.pos.clone())
}

fn validate(p: &Project, positions: &BTreeMap<String, &Node>) -> R<()> {
    for (name, s) in &p.services {
        for (dep, d) in &s.depends_on {
            if p.services.contains_key(dep) {
                continue;
            }
            let at = key_pos(positions, name, "depends_on");
            if let Some(off) = p.disabled.get(dep) {
                if d.required {
                    return Err(Error::at(at, format!(
                        "service {name:?} depends on {dep:?}, which is not enabled: activate one of its profiles ({}) with --profile",
                        off.profiles.join(", ")
                    )));
                }
            } else if d.required {
                return Err(Error::at(
                    at,
                    format!("service {name:?} depends on undefined service {dep:?}"),
                ));
            }
        }
        for v in &s.volumes {
            if let (Some(src), "volume") = (&v.source, v.kind.as_str()) {
                if !p.volumes.contains_key(src) {
                    return Err(Error::at(key_pos(positions, name, "volumes"), format!(
                        "service {name:?} refers to undefined volume {src:?}: declare it under the top-level volumes key"
                    )));
                }
            }
        }
        for n in s.networks.keys() {
            if n != "default" && !p.networks.contains_key(n) {
                return Err(Error::at(key_pos(positions, name, "networks"), format!(
                    "service {name:?} refers to undefined network {n:?}: declare it under the top-level networks key"
                )));
            }
        }
        for (kind, refs, defs) in [
            ("secret", &s.secrets, &p.secrets),
            ("config", &s.configs, &p.configs),
        ] {
            for r in refs {
                if !defs.contains_key(&r.source) {
                    return Err(Error::at(key_pos(positions, name, &format!("{kind}s")), format!(
                        "service {name:?} refers to undefined {kind} {:?}: declare it under the top-level {kind}s key", r.source
                    )));
                }
            }
        }
    }
    let mut names: BTreeMap<&str, &str> = BTreeMap::new();
    for (name, s) in &p.services {
        if let Some(c) = &s.container_name {
            if let Some(other) = names.insert(c, name) {
                return Err(Error::at(
                    key_pos(positions, name, "container_name"),
                    format!("services {other:?} and {name:?} both use container_name {c:?}: container names must be unique"),
                ));
            }
        }
    }
    let deps: BTreeMap<String, Vec<String>> = p
        .services
        .iter()
        .map(|(n, s)| (n.clone(), s.depends_on.keys().cloned().collect()))
        .collect();
    if let Some(cycle) = graph::find_cycle(&deps) {
        return Err(Error::at(
            key_pos(positions, &cycle[0], "depends_on"),
            format!("dependency cycle between services: {}", cycle.join(" -> ")),
        ));
    }
    Ok(())
}

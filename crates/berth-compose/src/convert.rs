//! From the merged node tree to the typed model: every key checked (unknown keys are
//! errors with a suggestion, keys of the specification berth does not act on are
//! warnings), every value type-checked, short syntaxes expanded to long ones. Errors
//! carry the file and line of the offending node.

use crate::model::*;
use crate::yaml::{Key, Node, Value};
use crate::Error;
use std::collections::BTreeMap;
use std::path::Path;

type R<T> = Result<T, Error>;

pub(crate) struct Conv<'a> {
    pub dir: &'a Path,
    pub warnings: Vec<String>,
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn type_err(n: &Node, path: &str, want: &str) -> Error {
    Error::at(
        n.pos.clone(),
        format!("{path} must be {want}, not {}", n.kind()),
    )
}

/// Levenshtein distance, for "did you mean".
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

pub(crate) fn unknown_key(k: &Key, path: &str, known: &[&str]) -> Error {
    let best = known
        .iter()
        .map(|c| (distance(&k.name, c), *c))
        .min()
        .filter(|(d, _)| *d <= 2 || k.name.len() > 6 && *d <= 3);
    let hint = match best {
        Some((_, c)) => format!(" (did you mean {c:?}?)"),
        None => String::new(),
    };
    let place = if path.is_empty() {
        "at the top level".to_string()
    } else {
        format!("in {path}")
    };
    Error::at(
        k.pos.clone(),
        format!(
            "unknown key {:?} {place}{hint}; extension keys must start with x-",
            k.name
        ),
    )
}

pub(crate) fn entries<'n>(n: &'n Node, path: &str) -> R<&'n [(Key, Node)]> {
    match &n.value {
        Value::Map(m) => Ok(m),
        Value::Null => Ok(&[]),
        _ => Err(type_err(n, path, "a mapping")),
    }
}

pub(crate) fn string(n: &Node, path: &str) -> R<String> {
    match &n.value {
        Value::Str(s) => Ok(s.clone()),
        Value::Int(i) => Ok(i.to_string()),
        Value::Float(f) => Ok(f.to_string()),
        _ => Err(type_err(n, path, "a string")),
    }
}

fn opt_string(n: &Node, path: &str) -> R<Option<String>> {
    match n.value {
        Value::Null => Ok(None),
        _ => string(n, path).map(Some),
    }
}

fn boolean(n: &Node, path: &str) -> R<bool> {
    match &n.value {
        Value::Bool(b) => Ok(*b),
        // Interpolated values are strings: "true"/"false" as the spec's schema allows.
        Value::Str(s) if matches!(s.as_str(), "true" | "false" | "True" | "False") => {
            Ok(s.eq_ignore_ascii_case("true"))
        }
        _ => Err(type_err(n, path, "true or false")),
    }
}

fn integer(n: &Node, path: &str) -> R<i64> {
    match &n.value {
        Value::Int(i) => Ok(*i),
        Value::Str(s) => s
            .trim()
            .parse()
            .map_err(|_| type_err(n, path, "a whole number")),
        _ => Err(type_err(n, path, "a whole number")),
    }
}

fn unsigned(n: &Node, path: &str) -> R<u32> {
    let i = integer(n, path)?;
    u32::try_from(i)
        .map_err(|_| Error::at(n.pos.clone(), format!("{path} must be 0 or more, not {i}")))
}

fn float(n: &Node, path: &str) -> R<f64> {
    match &n.value {
        Value::Int(i) => Ok(*i as f64),
        Value::Float(f) => Ok(*f),
        Value::Str(s) => s.trim().parse().map_err(|_| type_err(n, path, "a number")),
        _ => Err(type_err(n, path, "a number")),
    }
}

fn string_list(n: &Node, path: &str) -> R<Vec<String>> {
    match &n.value {
        Value::Seq(v) => v
            .iter()
            .enumerate()
            .map(|(i, x)| string(x, &format!("{path}[{i}]")))
            .collect(),
        Value::Null => Ok(vec![]),
        _ => Err(type_err(n, path, "a list of strings")),
    }
}

/// A string or a list of strings.
fn string_or_list(n: &Node, path: &str) -> R<Vec<String>> {
    match &n.value {
        Value::Seq(_) => string_list(n, path),
        _ => Ok(vec![string(n, path)?]),
    }
}

/// A command: a list, or a string split as a shell would (no expansion).
fn command(n: &Node, path: &str) -> R<Option<Vec<String>>> {
    match &n.value {
        Value::Null => Ok(None),
        Value::Seq(_) => string_list(n, path).map(Some),
        _ => {
            let s = string(n, path)?;
            shell_split(&s)
                .map(Some)
                .map_err(|e| Error::at(n.pos.clone(), format!("{path}: {e}")))
        }
    }
}

pub fn shell_split(s: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut have = false;
    let mut it = s.chars().peekable();
    while let Some(c) = it.next() {
        match c {
            '\'' => {
                have = true;
                loop {
                    match it.next() {
                        Some('\'') => break,
                        Some(x) => cur.push(x),
                        None => return Err(format!("unterminated single quote in {s:?}")),
                    }
                }
            }
            '"' => {
                have = true;
                loop {
                    match it.next() {
                        Some('"') => break,
                        Some('\\') if matches!(it.peek(), Some('"' | '\\' | '$' | '`')) => {
                            cur.push(it.next().unwrap_or('\\'))
                        }
                        Some(x) => cur.push(x),
                        None => return Err(format!("unterminated double quote in {s:?}")),
                    }
                }
            }
            '\\' => {
                have = true;
                if let Some(x) = it.next() {
                    cur.push(x);
                }
            }
            c if c.is_whitespace() => {
                if have {
                    out.push(std::mem::take(&mut cur));
                    have = false;
                }
            }
            c => {
                have = true;
                cur.push(c);
            }
        }
    }
    if have {
        out.push(cur);
    }
    Ok(out)
}

/// A mapping or a `KEY=VALUE` list; values may be null (take it from elsewhere).
pub(crate) fn dict(n: &Node, path: &str) -> R<BTreeMap<String, Option<String>>> {
    let mut out = BTreeMap::new();
    match &n.value {
        Value::Null => {}
        Value::Map(m) => {
            for (k, v) in m {
                let val = match &v.value {
                    Value::Null => None,
                    Value::Bool(b) => Some(b.to_string()),
                    _ => Some(string(v, &join(path, &k.name))?),
                };
                out.insert(k.name.clone(), val);
            }
        }
        Value::Seq(items) => {
            for (i, it) in items.iter().enumerate() {
                let Value::Str(s) = &it.value else {
                    return Err(type_err(it, &format!("{path}[{i}]"), "a string KEY=VALUE"));
                };
                match s.split_once('=') {
                    Some((k, v)) => out.insert(k.to_string(), Some(v.to_string())),
                    None => out.insert(s.clone(), None),
                };
            }
        }
        _ => return Err(type_err(n, path, "a mapping or a list of KEY=VALUE")),
    }
    Ok(out)
}

fn labels(n: &Node, path: &str) -> R<BTreeMap<String, String>> {
    Ok(dict(n, path)?
        .into_iter()
        .map(|(k, v)| (k, v.unwrap_or_default()))
        .collect())
}

/// Go durations: `1h2m3s`, `1.5s`, `500ms`, `10us`.
pub fn parse_duration(s: &str) -> Result<u64, String> {
    let t = s.trim();
    if t == "0" {
        return Ok(0);
    }
    let mut total = 0f64;
    let mut rest = t;
    if rest.is_empty() {
        return Err("an empty duration".into());
    }
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| {
                format!("invalid duration {s:?}: missing unit (use e.g. 30s, 1m30s, 500ms)")
            })?;
        let n: f64 = rest[..num_end]
            .parse()
            .map_err(|_| format!("invalid duration {s:?}: use e.g. 30s, 1m30s, 500ms"))?;
        let unit_end = rest[num_end..]
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .map(|i| num_end + i)
            .unwrap_or(rest.len());
        let ms = match &rest[num_end..unit_end] {
            "ns" => 1e-6,
            "us" | "µs" => 1e-3,
            "ms" => 1.0,
            "s" => 1e3,
            "m" => 60e3,
            "h" => 3600e3,
            u => {
                return Err(format!(
                    "invalid duration {s:?}: unknown unit {u:?} (use ns, us, ms, s, m, h)"
                ))
            }
        };
        total += n * ms;
        rest = &rest[unit_end..];
    }
    Ok(total.round() as u64)
}

pub fn format_duration(ms: u64) -> String {
    if ms == 0 {
        return "0s".into();
    }
    let (h, m, s, r) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if s > 0 || (r > 0 && (h > 0 || m > 0)) {
        if r > 0 {
            out.push_str(format!("{s}.{r:03}").trim_end_matches('0'));
            out.push('s');
        } else {
            out.push_str(&format!("{s}s"));
        }
    } else if r > 0 {
        out.push_str(&format!("{r}ms"));
    }
    out
}

fn duration(n: &Node, path: &str) -> R<Duration> {
    match &n.value {
        Value::Int(i) if *i >= 0 => Ok(Duration(*i as u64 / 1_000_000)), // nanoseconds, as Go
        _ => {
            let s = string(n, path)?;
            parse_duration(&s)
                .map(Duration)
                .map_err(|e| Error::at(n.pos.clone(), format!("{path}: {e}")))
        }
    }
}

/// Byte sizes: 1024, `512m`, `1g`, `1gb`, `64k`.
/// Sizes as Docker writes them: binary units (`64m` is 64 MiB).
pub fn parse_bytes(s: &str) -> Result<u64, String> {
    berth_runtime::options::ram_bytes(s)
}

fn bytes(n: &Node, path: &str) -> R<u64> {
    match &n.value {
        Value::Int(i) if *i >= 0 => Ok(*i as u64),
        _ => parse_bytes(&string(n, path)?)
            .map_err(|e| Error::at(n.pos.clone(), format!("{path}: {e}"))),
    }
}

const SERVICE_KEYS: &[&str] = &[
    "build",
    "image",
    "container_name",
    "hostname",
    "command",
    "entrypoint",
    "environment",
    "env_file",
    "ports",
    "expose",
    "volumes",
    "tmpfs",
    "networks",
    "network_mode",
    "depends_on",
    "healthcheck",
    "secrets",
    "configs",
    "restart",
    "user",
    "working_dir",
    "init",
    "labels",
    "deploy",
    "stop_signal",
    "stop_grace_period",
    "tty",
    "stdin_open",
    "read_only",
    "privileged",
    "cap_add",
    "cap_drop",
    "mem_limit",
    "cpus",
    "pids_limit",
    "profiles",
    "pull_policy",
    "ulimits",
    "extra_hosts",
    "dns",
    "dns_search",
    "dns_opt",
    "security_opt",
    "shm_size",
    "sysctls",
    "logging",
    "extends",
];

/// Keys of the specification that berth reads but does not act on (a warning each).
const SERVICE_IGNORED: &[&str] = &[
    "annotations",
    "attach",
    "blkio_config",
    "cgroup",
    "cgroup_parent",
    "cpu_count",
    "cpu_percent",
    "cpu_period",
    "cpu_quota",
    "cpu_rt_period",
    "cpu_rt_runtime",
    "cpu_shares",
    "cpuset",
    "credential_spec",
    "develop",
    "device_cgroup_rules",
    "devices",
    "domainname",
    "external_links",
    "gpus",
    "group_add",
    "ipc",
    "isolation",
    "links",
    "mac_address",
    "mem_reservation",
    "mem_swappiness",
    "memswap_limit",
    "oom_kill_disable",
    "oom_score_adj",
    "pid",
    "platform",
    "post_start",
    "pre_stop",
    "runtime",
    "scale",
    "storage_opt",
    "userns_mode",
    "uts",
    "volumes_from",
    "models",
    "provider",
    "label_file",
    "use_api_socket",
];

/// `ulimits`: `name: N` or `name: {soft: N, hard: M}`.
fn ulimits(n: &Node, path: &str) -> R<BTreeMap<String, Ulimit>> {
    let mut out = BTreeMap::new();
    for (k, v) in entries(n, path)? {
        let p = join(path, &k.name);
        let (soft, hard) = match &v.value {
            Value::Map(_) => {
                let (mut soft, mut hard) = (None, None);
                for (kk, vv) in entries(v, &p)? {
                    let pp = join(&p, &kk.name);
                    match kk.name.as_str() {
                        "soft" => soft = Some(integer(vv, &pp)?),
                        "hard" => hard = Some(integer(vv, &pp)?),
                        _ => return Err(unknown_key(kk, &p, &["soft", "hard"])),
                    }
                }
                match (soft, hard) {
                    (Some(s), Some(h)) => (s, h),
                    _ => {
                        return Err(Error::at(
                            v.pos.clone(),
                            format!("{p} needs both soft and hard"),
                        ))
                    }
                }
            }
            _ => {
                let i = integer(v, &p)?;
                (i, i)
            }
        };
        let (_, soft, hard) = berth_runtime::options::ulimit(&format!("{}={soft}:{hard}", k.name))
            .map_err(|e| Error::at(v.pos.clone(), format!("{p}: {e}")))?;
        out.insert(k.name.clone(), Ulimit { soft, hard });
    }
    Ok(out)
}

/// `extra_hosts`: a list of `NAME:IP`/`NAME=IP`, or a mapping NAME: IP (or a list of
/// IPs); kept as `NAME=IP`.
fn extra_hosts(n: &Node, path: &str) -> R<Vec<String>> {
    let mut raw: Vec<(String, &Node)> = Vec::new();
    match &n.value {
        Value::Seq(items) => {
            for (i, it) in items.iter().enumerate() {
                raw.push((string(it, &format!("{path}[{i}]"))?, it));
            }
        }
        Value::Map(m) => {
            for (k, v) in m {
                for ip in string_or_list(v, &join(path, &k.name))? {
                    raw.push((format!("{}={ip}", k.name), v));
                }
            }
        }
        Value::Null => {}
        _ => return Err(type_err(n, path, "a list of NAME:IP or a mapping")),
    }
    raw.into_iter()
        .map(|(h, node)| {
            berth_runtime::options::add_host(&h)
                .map(|(name, ip)| format!("{name}={ip}"))
                .map_err(|e| Error::at(node.pos.clone(), format!("{path}: {e}")))
        })
        .collect()
}

impl Conv<'_> {
    /// `logging`: berth writes json lines itself; other drivers are ignored with a
    /// warning, `max-size`/`max-file` rotate berth's log.
    fn logging(&mut self, n: &Node, path: &str) -> R<Logging> {
        let mut l = Logging::default();
        for (k, v) in entries(n, path)? {
            let p = join(path, &k.name);
            match k.name.as_str() {
                "driver" => l.driver = opt_string(v, &p)?,
                "options" => l.options = labels(v, &p)?,
                _ => return Err(unknown_key(k, path, &["driver", "options"])),
            }
        }
        if let Some(d) = l.driver.as_deref() {
            if !matches!(d, "json-file" | "local") {
                self.warn(
                    &n.pos,
                    format!("{path}.driver: berth keeps json-file logs; driver {d:?} is ignored"),
                );
            }
        }
        for (k, v) in &l.options {
            match k.as_str() {
                "max-size" => {
                    parse_bytes(v).map_err(|e| {
                        Error::at(n.pos.clone(), format!("{path}.options.max-size: {e}"))
                    })?;
                }
                "max-file" => {
                    v.parse::<u32>().map_err(|_| {
                        Error::at(
                            n.pos.clone(),
                            format!("{path}.options.max-file: {v:?} is not a whole number"),
                        )
                    })?;
                }
                _ => self.warn(
                    &n.pos,
                    format!(
                        "{path}.options.{k}: berth does not support this log option and ignores it"
                    ),
                ),
            }
        }
        Ok(l)
    }

    fn warn(&mut self, pos: &crate::yaml::Pos, msg: String) {
        self.warnings.push(format!("{pos}: {msg}"));
    }

    fn abs(&self, p: &str) -> String {
        if let Some(rest) = p.strip_prefix("~/") {
            if let Ok(h) = std::env::var("HOME") {
                return Path::new(&h).join(rest).display().to_string();
            }
        }
        let path = Path::new(p);
        let joined = if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.dir.join(path)
        };
        normalize(&joined)
    }

    pub fn service(&mut self, name: &str, n: &Node) -> R<Service> {
        let path = format!("services.{name}");
        let mut s = Service::default();
        let mut env_from_key = BTreeMap::new();
        let mut legacy_scale = None;
        for (k, v) in entries(n, &path)? {
            let p = join(&path, &k.name);
            let p = p.as_str();
            match k.name.as_str() {
                "build" => s.build = Some(self.build(v, p)?),
                "image" => s.image = opt_string(v, p)?,
                "container_name" => s.container_name = opt_string(v, p)?,
                "hostname" => s.hostname = opt_string(v, p)?,
                "command" => s.command = command(v, p)?,
                "entrypoint" => s.entrypoint = command(v, p)?,
                "environment" => env_from_key = dict(v, p)?,
                "env_file" => s.env_file = self.env_files(v, p)?,
                "ports" => s.ports = ports(v, p)?,
                "expose" => {
                    s.expose = match &v.value {
                        Value::Seq(items) => items
                            .iter()
                            .enumerate()
                            .map(|(i, x)| string(x, &format!("{p}[{i}]")))
                            .collect::<R<_>>()?,
                        _ => return Err(type_err(v, p, "a list of ports")),
                    }
                }
                "volumes" => s.volumes = self.volumes(v, p)?,
                "tmpfs" => s.tmpfs = string_or_list(v, p)?,
                "networks" => s.networks = service_networks(v, p)?,
                "network_mode" => s.network_mode = opt_string(v, p)?,
                "depends_on" => s.depends_on = depends_on(v, p)?,
                "healthcheck" => s.healthcheck = Some(healthcheck(v, p)?),
                "secrets" => s.secrets = file_refs(v, p)?,
                "configs" => s.configs = file_refs(v, p)?,
                "restart" => {
                    let r = string(v, p)?;
                    let base = r.split(':').next().unwrap_or_default();
                    if !matches!(base, "no" | "always" | "on-failure" | "unless-stopped") {
                        return Err(Error::at(
                            v.pos.clone(),
                            format!("{p}: invalid restart policy {r:?}: use no, always, on-failure[:N] or unless-stopped"),
                        ));
                    }
                    s.restart = Some(r)
                }
                "user" => s.user = opt_string(v, p)?,
                "working_dir" => s.working_dir = opt_string(v, p)?,
                "init" => s.init = Some(boolean(v, p)?),
                "labels" => s.labels = labels(v, p)?,
                "deploy" => s.deploy = Some(self.deploy(v, p)?),
                "stop_signal" => s.stop_signal = opt_string(v, p)?,
                "stop_grace_period" => s.stop_grace_period = Some(duration(v, p)?),
                "tty" => s.tty = boolean(v, p)?,
                "stdin_open" => s.stdin_open = boolean(v, p)?,
                "read_only" => s.read_only = boolean(v, p)?,
                "privileged" => s.privileged = boolean(v, p)?,
                "cap_add" => s.cap_add = string_list(v, p)?,
                "cap_drop" => s.cap_drop = string_list(v, p)?,
                "mem_limit" => s.mem_limit = Some(bytes(v, p)?),
                "cpus" => s.cpus = Some(float(v, p)?),
                "pids_limit" => s.pids_limit = Some(integer(v, p)?),
                "profiles" => s.profiles = string_list(v, p)?,
                "pull_policy" => s.pull_policy = opt_string(v, p)?,
                "ulimits" => s.ulimits = ulimits(v, p)?,
                "extra_hosts" => s.extra_hosts = extra_hosts(v, p)?,
                "dns" => {
                    s.dns = string_or_list(v, p)?;
                    if let Some(bad) = s
                        .dns
                        .iter()
                        .find(|d| d.parse::<std::net::IpAddr>().is_err())
                    {
                        return Err(Error::at(
                            v.pos.clone(),
                            format!("{p}: {bad:?} is not an IP address of a DNS server"),
                        ));
                    }
                }
                "dns_search" => s.dns_search = string_or_list(v, p)?,
                "dns_opt" => s.dns_opt = string_list(v, p)?,
                "security_opt" => {
                    s.security_opt = string_list(v, p)?
                        .into_iter()
                        .map(|o| match o.split_once(['=', ':']) {
                            // A seccomp profile's path is relative to the project directory.
                            Some(("seccomp", f)) if f != "unconfined" => {
                                format!("seccomp={}", self.abs(f))
                            }
                            _ => o,
                        })
                        .collect();
                    for o in &s.security_opt {
                        if !(o.starts_with("seccomp=") || o.starts_with("no-new-privileges")) {
                            berth_runtime::options::security_opts(std::slice::from_ref(o))
                                .map_err(|e| Error::at(v.pos.clone(), format!("{p}: {e}")))?;
                        }
                    }
                }
                "shm_size" => s.shm_size = Some(bytes(v, p)?),
                "sysctls" => {
                    s.sysctls = labels(v, p)?;
                    for (k, val) in &s.sysctls {
                        berth_runtime::options::sysctl(&format!("{k}={val}"), false)
                            .map_err(|e| Error::at(v.pos.clone(), format!("{p}: {e}")))?;
                    }
                }
                "logging" => s.logging = Some(self.logging(v, p)?),
                // The older spelling of deploy.replicas (deploy.replicas wins).
                "scale" => legacy_scale = Some(unsigned(v, p)?),
                "extends" => {} // resolved before conversion
                x if x.starts_with("x-") => {}
                x if SERVICE_IGNORED.contains(&x) => self.warn(
                    &k.pos,
                    format!("{p}: berth does not support this key yet and ignores it"),
                ),
                _ => return Err(unknown_key(k, &path, SERVICE_KEYS)),
            }
        }
        // env_file values first, environment wins.
        for f in &s.env_file {
            let path = Path::new(&f.path);
            if !path.exists() {
                if f.required {
                    return Err(Error::at(
                        n.pos.clone(),
                        format!("{}.env_file: {} does not exist (set required: false to make it optional)", format_args!("services.{name}"), f.path),
                    ));
                }
                continue;
            }
            let vars = crate::dotenv::read_file(path, &|k| std::env::var(k).ok())
                .map_err(|e| Error::at(n.pos.clone(), format!("services.{name}.env_file: {e}")))?;
            for (k, v) in vars {
                s.environment.insert(k, Some(v));
            }
        }
        s.environment.extend(env_from_key);
        if let Some(n) = legacy_scale {
            let d = s.deploy.get_or_insert_with(Deploy::default);
            d.replicas.get_or_insert(n);
        }
        if s.image.is_none() && s.build.is_none() {
            return Err(Error::at(
                n.pos.clone(),
                format!("service {name:?} has neither an image nor a build section: give it one"),
            ));
        }
        Ok(s)
    }

    fn build(&mut self, n: &Node, path: &str) -> R<Build> {
        if matches!(n.value, Value::Str(_)) {
            return Ok(Build {
                context: self.abs(&string(n, path)?),
                ..Default::default()
            });
        }
        let mut b = Build {
            context: self.abs("."),
            ..Default::default()
        };
        for (k, v) in entries(n, path)? {
            let p = join(path, &k.name);
            match k.name.as_str() {
                "context" => b.context = self.abs(&string(v, &p)?),
                "dockerfile" => b.dockerfile = Some(string(v, &p)?),
                "args" => b.args = dict(v, &p)?,
                "target" => b.target = Some(string(v, &p)?),
                "labels" => b.labels = labels(v, &p)?,
                x if x.starts_with("x-") => {}
                "cache_from"
                | "cache_to"
                | "no_cache"
                | "pull"
                | "network"
                | "shm_size"
                | "extra_hosts"
                | "isolation"
                | "platforms"
                | "privileged"
                | "secrets"
                | "ssh"
                | "tags"
                | "ulimits"
                | "additional_contexts"
                | "dockerfile_inline"
                | "entitlements"
                | "provenance"
                | "sbom" => self.warn(
                    &k.pos,
                    format!("{p}: berth does not support this key yet and ignores it"),
                ),
                _ => {
                    return Err(unknown_key(
                        k,
                        path,
                        &["context", "dockerfile", "args", "target", "labels"],
                    ))
                }
            }
        }
        Ok(b)
    }

    fn env_files(&mut self, n: &Node, path: &str) -> R<Vec<EnvFile>> {
        let items: Vec<&Node> = match &n.value {
            Value::Seq(v) => v.iter().collect(),
            _ => vec![n],
        };
        let mut out = Vec::new();
        for (i, it) in items.into_iter().enumerate() {
            let p = format!("{path}[{i}]");
            match &it.value {
                Value::Map(_) => {
                    let mut f = EnvFile {
                        required: true,
                        ..Default::default()
                    };
                    for (k, v) in entries(it, &p)? {
                        match k.name.as_str() {
                            "path" => f.path = self.abs(&string(v, &p)?),
                            "required" => f.required = boolean(v, &p)?,
                            "format" => {}
                            _ => return Err(unknown_key(k, &p, &["path", "required", "format"])),
                        }
                    }
                    out.push(f);
                }
                _ => out.push(EnvFile {
                    path: self.abs(&string(it, &p)?),
                    required: true,
                }),
            }
        }
        Ok(out)
    }

    fn volumes(&mut self, n: &Node, path: &str) -> R<Vec<ServiceVolume>> {
        let Value::Seq(items) = &n.value else {
            return Err(type_err(n, path, "a list"));
        };
        let mut out = Vec::new();
        for (i, it) in items.iter().enumerate() {
            let p = format!("{path}[{i}]");
            let mut v = match &it.value {
                Value::Map(_) => long_volume(it, &p)?,
                _ => short_volume(&string(it, &p)?)
                    .map_err(|e| Error::at(it.pos.clone(), format!("{p}: {e}")))?,
            };
            if v.kind == "bind" {
                if let Some(s) = &v.source {
                    v.source = Some(self.abs(s));
                }
            }
            if !v.target.starts_with('/') {
                return Err(Error::at(
                    it.pos.clone(),
                    format!("{p}: the target {:?} is not an absolute path", v.target),
                ));
            }
            out.push(v.finish());
        }
        Ok(out)
    }

    fn deploy(&mut self, n: &Node, path: &str) -> R<Deploy> {
        let mut d = Deploy::default();
        for (k, v) in entries(n, path)? {
            let p = join(path, &k.name);
            match k.name.as_str() {
                "replicas" => d.replicas = Some(unsigned(v, &p)?),
                "resources" => {
                    let mut r = Resources::default();
                    for (k2, v2) in entries(v, &p)? {
                        let p2 = join(&p, &k2.name);
                        match k2.name.as_str() {
                            "limits" => r.limits = Some(limits(v2, &p2)?),
                            "reservations" => r.reservations = Some(limits(v2, &p2)?),
                            _ => return Err(unknown_key(k2, &p, &["limits", "reservations"])),
                        }
                    }
                    d.resources = Some(r);
                }
                "mode" | "endpoint_mode" | "labels" | "placement" | "restart_policy"
                | "rollback_config" | "update_config" => self.warn(
                    &k.pos,
                    format!("{p}: berth does not support this key yet and ignores it"),
                ),
                x if x.starts_with("x-") => {}
                _ => {
                    return Err(unknown_key(
                        k,
                        path,
                        &[
                            "replicas",
                            "resources",
                            "mode",
                            "labels",
                            "placement",
                            "restart_policy",
                        ],
                    ))
                }
            }
        }
        Ok(d)
    }

    pub fn network(&mut self, n: &Node, path: &str) -> R<Network> {
        let mut net = Network::default();
        for (k, v) in entries(n, path)? {
            let p = join(path, &k.name);
            match k.name.as_str() {
                "name" => net.name = Some(string(v, &p)?),
                "driver" => net.driver = Some(string(v, &p)?),
                "external" => net.external = boolean(v, &p)?,
                "internal" => net.internal = boolean(v, &p)?,
                "labels" => net.labels = labels(v, &p)?,
                "driver_opts" | "attachable" | "enable_ipv6" | "enable_ipv4" | "ipam" => self.warn(
                    &k.pos,
                    format!("{p}: berth does not support this key yet and ignores it"),
                ),
                x if x.starts_with("x-") => {}
                _ => {
                    return Err(unknown_key(
                        k,
                        path,
                        &["name", "driver", "external", "internal", "labels", "ipam"],
                    ))
                }
            }
        }
        Ok(net)
    }

    pub fn volume(&mut self, n: &Node, path: &str) -> R<Volume> {
        let mut vol = Volume::default();
        for (k, v) in entries(n, path)? {
            let p = join(path, &k.name);
            match k.name.as_str() {
                "name" => vol.name = Some(string(v, &p)?),
                "driver" => {
                    let d = string(v, &p)?;
                    if d != "local" {
                        return Err(Error::at(
                            v.pos.clone(),
                            format!("{p}: berth has only the local volume driver, not {d:?}"),
                        ));
                    }
                    vol.driver = Some(d)
                }
                "external" => vol.external = boolean(v, &p)?,
                "labels" => vol.labels = labels(v, &p)?,
                "driver_opts" => self.warn(
                    &k.pos,
                    format!("{p}: berth does not support this key yet and ignores it"),
                ),
                x if x.starts_with("x-") => {}
                _ => {
                    return Err(unknown_key(
                        k,
                        path,
                        &["name", "driver", "external", "labels", "driver_opts"],
                    ))
                }
            }
        }
        Ok(vol)
    }

    pub fn file_object(&mut self, n: &Node, path: &str) -> R<FileObject> {
        let mut o = FileObject::default();
        for (k, v) in entries(n, path)? {
            let p = join(path, &k.name);
            match k.name.as_str() {
                "name" => o.name = Some(string(v, &p)?),
                "file" => o.file = Some(self.abs(&string(v, &p)?)),
                "content" => o.content = Some(string(v, &p)?),
                "environment" => o.environment = Some(string(v, &p)?),
                "external" => o.external = boolean(v, &p)?,
                "labels" | "driver" | "driver_opts" | "template_driver" => self.warn(
                    &k.pos,
                    format!("{p}: berth does not support this key yet and ignores it"),
                ),
                x if x.starts_with("x-") => {}
                _ => {
                    return Err(unknown_key(
                        k,
                        path,
                        &["name", "file", "content", "environment", "external"],
                    ))
                }
            }
        }
        let sources = [
            o.file.is_some(),
            o.content.is_some(),
            o.environment.is_some(),
            o.external,
        ]
        .iter()
        .filter(|x| **x)
        .count();
        if sources != 1 {
            return Err(Error::at(
                n.pos.clone(),
                format!("{path} needs exactly one of file, content, environment or external"),
            ));
        }
        Ok(o)
    }
}

fn normalize(p: &Path) -> String {
    let mut out = std::path::PathBuf::new();
    for c in p.components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            c => out.push(c),
        }
    }
    out.display().to_string()
}

fn limits(n: &Node, path: &str) -> R<Limits> {
    let mut l = Limits::default();
    for (k, v) in entries(n, path)? {
        let p = join(path, &k.name);
        match k.name.as_str() {
            "cpus" => l.cpus = Some(float(v, &p)?),
            "memory" => l.memory = Some(bytes(v, &p)?),
            "pids" => l.pids = Some(integer(v, &p)?),
            "devices" | "generic_resources" => {}
            _ => return Err(unknown_key(k, path, &["cpus", "memory", "pids"])),
        }
    }
    Ok(l)
}

/// `[SOURCE:]TARGET[:MODE]`
pub fn short_volume(s: &str) -> Result<ServiceVolume, String> {
    let parts: Vec<&str> = s.split(':').collect();
    let (src, target, mode) = match parts.as_slice() {
        [t] => (None, *t, ""),
        [a, b] if b.starts_with('/') || a.is_empty() => (Some(*a), *b, ""),
        [t, m] => (None, *t, *m),
        [a, b, m] => (Some(*a), *b, *m),
        _ => return Err(format!("invalid volume {s:?}: use [SOURCE:]TARGET[:MODE]")),
    };
    let mut v = ServiceVolume {
        target: target.to_string(),
        ..Default::default()
    };
    for m in mode.split(',').filter(|m| !m.is_empty()) {
        match m {
            "ro" => v.read_only = true,
            "rw" | "z" | "Z" | "cached" | "delegated" | "consistent" | "rprivate" | "private"
            | "rshared" | "shared" | "rslave" | "slave" => {}
            "nocopy" => v.nocopy = true,
            o => {
                return Err(format!(
                    "invalid volume mode {o:?} in {s:?}: use ro, rw or nocopy"
                ))
            }
        }
    }
    match src {
        None | Some("") => v.kind = "volume".into(),
        Some(p) if p.starts_with('/') || p.starts_with('.') || p.starts_with('~') => {
            v.kind = "bind".into();
            v.source = Some(p.to_string());
        }
        Some(name) => {
            v.kind = "volume".into();
            v.source = Some(name.to_string());
        }
    }
    Ok(v)
}

fn long_volume(n: &Node, path: &str) -> R<ServiceVolume> {
    let mut v = ServiceVolume::default();
    for (k, x) in entries(n, path)? {
        let p = join(path, &k.name);
        match k.name.as_str() {
            "type" => {
                v.kind = string(x, &p)?;
                if !matches!(v.kind.as_str(), "volume" | "bind" | "tmpfs") {
                    return Err(Error::at(
                        x.pos.clone(),
                        format!(
                            "{p}: berth supports volume, bind and tmpfs, not {:?}",
                            v.kind
                        ),
                    ));
                }
            }
            "source" => v.source = Some(string(x, &p)?),
            "target" => v.target = string(x, &p)?,
            "read_only" => v.read_only = boolean(x, &p)?,
            "tmpfs" => {
                for (k2, x2) in entries(x, &p)? {
                    match k2.name.as_str() {
                        "size" => v.tmpfs_size = Some(bytes(x2, &join(&p, "size"))?),
                        "mode" => {}
                        _ => return Err(unknown_key(k2, &p, &["size", "mode"])),
                    }
                }
            }
            "volume" => {
                for (k2, x2) in entries(x, &p)? {
                    match k2.name.as_str() {
                        "nocopy" => v.nocopy = boolean(x2, &join(&p, "nocopy"))?,
                        "subpath" => {}
                        _ => return Err(unknown_key(k2, &p, &["nocopy", "subpath"])),
                    }
                }
            }
            "bind" | "consistency" => {}
            _ => {
                return Err(unknown_key(
                    k,
                    path,
                    &[
                        "type",
                        "source",
                        "target",
                        "read_only",
                        "bind",
                        "volume",
                        "tmpfs",
                        "consistency",
                    ],
                ))
            }
        }
    }
    if v.kind.is_empty() {
        return Err(Error::at(
            n.pos.clone(),
            format!("{path} needs a type: volume, bind or tmpfs"),
        ));
    }
    if v.target.is_empty() {
        return Err(Error::at(n.pos.clone(), format!("{path} needs a target")));
    }
    if v.kind == "bind" && v.source.is_none() {
        return Err(Error::at(
            n.pos.clone(),
            format!("{path}: a bind mount needs a source"),
        ));
    }
    Ok(v)
}

fn port_range(s: &str) -> Result<(u16, u16), String> {
    let (a, b) = s.split_once('-').unwrap_or((s, s));
    let a: u16 = a.parse().map_err(|_| format!("invalid port {s:?}"))?;
    let b: u16 = b.parse().map_err(|_| format!("invalid port {s:?}"))?;
    if b < a {
        return Err(format!("invalid port range {s:?}"));
    }
    Ok((a, b))
}

/// `[HOST_IP:][HOST:]CONTAINER[/PROTOCOL]`, ranges allowed.
pub fn short_ports(s: &str) -> Result<Vec<Port>, String> {
    let (spec, proto) = s.rsplit_once('/').unwrap_or((s, "tcp"));
    let (host_ip, rest) = if let Some(r) = spec.strip_prefix('[') {
        let (ip, r) = r
            .split_once("]:")
            .ok_or_else(|| format!("invalid port {s:?}"))?;
        (Some(ip.to_string()), r)
    } else {
        let n = spec.matches(':').count();
        if n == 2 {
            let (ip, r) = spec.split_once(':').unwrap_or_default();
            (Some(ip.to_string()), r)
        } else {
            (None, spec)
        }
    };
    let (published, target) = match rest.rsplit_once(':') {
        Some((h, t)) => (Some(h), t),
        None => (None, rest),
    };
    let (t0, t1) = port_range(target)?;
    let count = t1 - t0 + 1;
    let pubs: Option<(u16, u16)> = match published {
        Some("") | None => None,
        Some(h) => Some(port_range(h)?),
    };
    if let Some((p0, p1)) = pubs {
        if p1 - p0 + 1 != count && p0 != p1 {
            return Err(format!("invalid port {s:?}: the ranges differ in length"));
        }
    }
    if !matches!(proto, "tcp" | "udp" | "sctp") {
        return Err(format!(
            "invalid protocol {proto:?} in {s:?}: use tcp or udp"
        ));
    }
    Ok((0..count)
        .map(|i| Port {
            target: t0 + i,
            published: pubs.map(|(p0, p1)| {
                if p0 == p1 {
                    p0.to_string()
                } else if count == 1 {
                    format!("{p0}-{p1}")
                } else {
                    (p0 + i).to_string()
                }
            }),
            host_ip: host_ip.clone(),
            protocol: proto.to_string(),
            mode: "ingress".into(),
        })
        .collect())
}

fn ports(n: &Node, path: &str) -> R<Vec<Port>> {
    let Value::Seq(items) = &n.value else {
        return Err(type_err(n, path, "a list"));
    };
    let mut out = Vec::new();
    for (i, it) in items.iter().enumerate() {
        let p = format!("{path}[{i}]");
        match &it.value {
            Value::Map(_) => {
                let mut port = Port {
                    protocol: "tcp".into(),
                    mode: "ingress".into(),
                    ..Default::default()
                };
                for (k, v) in entries(it, &p)? {
                    let pk = join(&p, &k.name);
                    match k.name.as_str() {
                        "target" => {
                            let t = integer(v, &pk)?;
                            port.target = u16::try_from(t).map_err(|_| {
                                Error::at(v.pos.clone(), format!("{pk}: {t} is not a port"))
                            })?;
                        }
                        "published" => port.published = Some(string(v, &pk)?),
                        "host_ip" => port.host_ip = Some(string(v, &pk)?),
                        "protocol" => port.protocol = string(v, &pk)?,
                        "mode" => port.mode = string(v, &pk)?,
                        "name" | "app_protocol" => {}
                        _ => {
                            return Err(unknown_key(
                                k,
                                &p,
                                &[
                                    "target",
                                    "published",
                                    "host_ip",
                                    "protocol",
                                    "mode",
                                    "name",
                                    "app_protocol",
                                ],
                            ))
                        }
                    }
                }
                if port.target == 0 {
                    return Err(Error::at(
                        it.pos.clone(),
                        format!("{p} needs a target port"),
                    ));
                }
                out.push(port);
            }
            _ => {
                let s = string(it, &p)?;
                out.extend(
                    short_ports(&s).map_err(|e| Error::at(it.pos.clone(), format!("{p}: {e}")))?,
                );
            }
        }
    }
    Ok(out)
}

fn service_networks(n: &Node, path: &str) -> R<BTreeMap<String, ServiceNetwork>> {
    let mut out = BTreeMap::new();
    match &n.value {
        Value::Seq(_) => {
            for name in string_list(n, path)? {
                out.insert(name, ServiceNetwork::default());
            }
        }
        Value::Map(m) => {
            for (k, v) in m {
                let p = join(path, &k.name);
                let mut sn = ServiceNetwork::default();
                for (k2, v2) in entries(v, &p)? {
                    match k2.name.as_str() {
                        "aliases" => sn.aliases = string_list(v2, &join(&p, "aliases"))?,
                        "ipv4_address" | "ipv6_address" | "priority" | "link_local_ips"
                        | "mac_address" | "driver_opts" | "gw_priority" | "interface_name" => {}
                        _ => {
                            return Err(unknown_key(
                                k2,
                                &p,
                                &["aliases", "ipv4_address", "ipv6_address", "priority"],
                            ))
                        }
                    }
                }
                out.insert(k.name.clone(), sn);
            }
        }
        _ => return Err(type_err(n, path, "a list or a mapping")),
    }
    Ok(out)
}

const CONDITIONS: &[&str] = &[
    "service_started",
    "service_healthy",
    "service_completed_successfully",
];

fn depends_on(n: &Node, path: &str) -> R<BTreeMap<String, Dependency>> {
    let mut out = BTreeMap::new();
    match &n.value {
        Value::Seq(_) => {
            for name in string_list(n, path)? {
                out.insert(
                    name,
                    Dependency {
                        condition: "service_started".into(),
                        restart: false,
                        required: true,
                    },
                );
            }
        }
        Value::Map(m) => {
            for (k, v) in m {
                let p = join(path, &k.name);
                let mut d = Dependency {
                    condition: "service_started".into(),
                    restart: false,
                    required: true,
                };
                for (k2, v2) in entries(v, &p)? {
                    let p2 = join(&p, &k2.name);
                    match k2.name.as_str() {
                        "condition" => {
                            d.condition = string(v2, &p2)?;
                            if !CONDITIONS.contains(&d.condition.as_str()) {
                                return Err(Error::at(v2.pos.clone(), format!("{p2}: unknown condition {:?}: use service_started, service_healthy or service_completed_successfully", d.condition)));
                            }
                        }
                        "restart" => d.restart = boolean(v2, &p2)?,
                        "required" => d.required = boolean(v2, &p2)?,
                        _ => {
                            return Err(unknown_key(k2, &p, &["condition", "restart", "required"]))
                        }
                    }
                }
                out.insert(k.name.clone(), d);
            }
        }
        _ => return Err(type_err(n, path, "a list or a mapping")),
    }
    Ok(out)
}

fn healthcheck(n: &Node, path: &str) -> R<Healthcheck> {
    let mut h = Healthcheck::default();
    for (k, v) in entries(n, path)? {
        let p = join(path, &k.name);
        match k.name.as_str() {
            "test" => {
                h.test = match &v.value {
                    Value::Seq(_) => string_list(v, &p)?,
                    _ => vec!["CMD-SHELL".into(), string(v, &p)?],
                };
                if let Some(first) = h.test.first() {
                    if !matches!(first.as_str(), "CMD" | "CMD-SHELL" | "NONE") {
                        return Err(Error::at(v.pos.clone(), format!("{p}: a list test must start with CMD, CMD-SHELL or NONE, not {first:?}")));
                    }
                }
            }
            "interval" => h.interval = Some(duration(v, &p)?),
            "timeout" => h.timeout = Some(duration(v, &p)?),
            "start_period" => h.start_period = Some(duration(v, &p)?),
            "start_interval" => {}
            "retries" => h.retries = Some(unsigned(v, &p)?),
            "disable" => h.disable = boolean(v, &p)?,
            _ => {
                return Err(unknown_key(
                    k,
                    path,
                    &[
                        "test",
                        "interval",
                        "timeout",
                        "start_period",
                        "start_interval",
                        "retries",
                        "disable",
                    ],
                ))
            }
        }
    }
    Ok(h)
}

fn file_refs(n: &Node, path: &str) -> R<Vec<FileRef>> {
    let Value::Seq(items) = &n.value else {
        return Err(type_err(n, path, "a list"));
    };
    let mut out = Vec::new();
    for (i, it) in items.iter().enumerate() {
        let p = format!("{path}[{i}]");
        match &it.value {
            Value::Map(_) => {
                let mut r = FileRef::default();
                for (k, v) in entries(it, &p)? {
                    let pk = join(&p, &k.name);
                    match k.name.as_str() {
                        "source" => r.source = string(v, &pk)?,
                        "target" => r.target = Some(string(v, &pk)?),
                        "mode" => {
                            r.mode = Some(match &v.value {
                                Value::Str(s) => u32::from_str_radix(s.trim_start_matches("0o"), 8)
                                    .map_err(|_| {
                                        Error::at(
                                            v.pos.clone(),
                                            format!("{pk}: invalid mode {s:?}"),
                                        )
                                    })?,
                                _ => unsigned(v, &pk)?,
                            })
                        }
                        "uid" | "gid" => {}
                        _ => {
                            return Err(unknown_key(
                                k,
                                &p,
                                &["source", "target", "uid", "gid", "mode"],
                            ))
                        }
                    }
                }
                if r.source.is_empty() {
                    return Err(Error::at(it.pos.clone(), format!("{p} needs a source")));
                }
                out.push(r);
            }
            _ => out.push(FileRef {
                source: string(it, &p)?,
                ..Default::default()
            }),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1m30s").unwrap(), 90_000);
        assert_eq!(parse_duration("1.5s").unwrap(), 1500);
        assert_eq!(parse_duration("500ms").unwrap(), 500);
        assert_eq!(parse_duration("2h").unwrap(), 7_200_000);
        assert!(parse_duration("10").is_err());
        assert!(parse_duration("5 days").is_err());
        assert_eq!(format_duration(90_000), "1m30s");
        assert_eq!(format_duration(500), "500ms");
        assert_eq!(format_duration(1500), "1.5s");
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_bytes("64m").unwrap(), 64 << 20);
        assert_eq!(parse_bytes("1gb").unwrap(), 1 << 30);
        assert_eq!(parse_bytes("1024").unwrap(), 1024);
        assert_eq!(parse_bytes("0.5g").unwrap(), 512 << 20);
        assert!(parse_bytes("lots").is_err());
    }

    #[test]
    fn shell_words() {
        assert_eq!(
            shell_split(r#"sh -c 'echo "a b"; exit 1'"#).unwrap(),
            vec!["sh", "-c", "echo \"a b\"; exit 1"]
        );
        assert_eq!(
            shell_split(r#"a "b c" d\ e"#).unwrap(),
            vec!["a", "b c", "d e"]
        );
        assert_eq!(shell_split("x ''").unwrap(), vec!["x", ""]);
        assert!(shell_split("'open").is_err());
    }

    #[test]
    fn short_volume_forms() {
        let v = short_volume("data:/var/lib/data:ro").unwrap();
        assert_eq!(
            (
                v.kind.as_str(),
                v.source.as_deref(),
                v.target.as_str(),
                v.read_only
            ),
            ("volume", Some("data"), "/var/lib/data", true)
        );
        let v = short_volume("./src:/app").unwrap();
        assert_eq!(
            (v.kind.as_str(), v.source.as_deref()),
            ("bind", Some("./src"))
        );
        let v = short_volume("/cache").unwrap();
        assert_eq!((v.kind.as_str(), v.source), ("volume", None));
        let v = short_volume("/host:/ctr:rw,z").unwrap();
        assert_eq!(v.kind, "bind");
        assert!(short_volume("a:/b:bogus").is_err());
    }

    #[test]
    fn short_port_forms() {
        let p = short_ports("8080:80").unwrap();
        assert_eq!(
            (
                p[0].target,
                p[0].published.as_deref(),
                p[0].protocol.as_str()
            ),
            (80, Some("8080"), "tcp")
        );
        let p = short_ports("127.0.0.1:5000:5000/udp").unwrap();
        assert_eq!(
            (p[0].host_ip.as_deref(), p[0].protocol.as_str()),
            (Some("127.0.0.1"), "udp")
        );
        let p = short_ports("3000").unwrap();
        assert_eq!((p[0].target, p[0].published.clone()), (3000, None));
        let p = short_ports("9090-9091:8080-8081").unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(
            (p[1].target, p[1].published.as_deref()),
            (8081, Some("9091"))
        );
        let p = short_ports("[::1]:6000:6000").unwrap();
        assert_eq!(p[0].host_ip.as_deref(), Some("::1"));
        assert!(short_ports("80/icmp").is_err());
        assert!(short_ports("x:80").is_err());
    }

    #[test]
    fn suggestions() {
        let k = Key {
            name: "imgae".into(),
            pos: Default::default(),
        };
        let e = unknown_key(&k, "services.web", SERVICE_KEYS).to_string();
        assert!(e.contains("did you mean \"image\""), "{e}");
        let k = Key {
            name: "zzzzzz".into(),
            pos: Default::default(),
        };
        assert!(!unknown_key(&k, "services.web", SERVICE_KEYS)
            .to_string()
            .contains("did you mean"));
    }
}

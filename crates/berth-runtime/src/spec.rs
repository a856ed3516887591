//! The OCI runtime spec (`config.json`) for a container, with Docker's defaults:
//! capabilities, masked and read-only /proc and /sys paths, a private /dev, seccomp,
//! namespaces, cgroup limits under `/berth/<id>`.

use crate::fsroot::ResolvedUser;
use crate::model::Container;
use crate::seccomp;
use serde_json::{json, Value};
use std::path::Path;

pub const DEFAULT_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Every capability, in the kernel's numbering order (CAP_CHOWN is 0).
pub const ALL_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

const MASKED: &[&str] = &[
    "/proc/asound",
    "/proc/acpi",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];
const READONLY: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// Normalises `net_admin`, `CAP_NET_ADMIN` and `ALL`.
fn cap_name(c: &str) -> String {
    let up = c.to_ascii_uppercase();
    if up == "ALL" || up.starts_with("CAP_") {
        up
    } else {
        format!("CAP_{up}")
    }
}

/// Capabilities this process may hand on (its bounding set); a sandbox may lack some.
fn available() -> Vec<&'static str> {
    let bnd = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("CapBnd:")
                    .map(|v| u64::from_str_radix(v.trim(), 16).unwrap_or(u64::MAX))
            })
        })
        .unwrap_or(u64::MAX);
    // ALL_CAPS is in the kernel's order: a capability's index is its bit.
    ALL_CAPS
        .iter()
        .enumerate()
        .filter(|(bit, _)| bnd & (1u64 << bit) != 0)
        .map(|(_, c)| *c)
        .collect()
}

/// Docker's capability rules (default set, --privileged, --cap-add/--cap-drop, ALL),
/// limited to what berth itself holds.
pub fn capabilities(
    privileged: bool,
    add: &[String],
    drop: &[String],
) -> Result<Vec<String>, String> {
    let avail = available();
    let all = || avail.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let mut caps: Vec<String> = if privileged {
        all()
    } else {
        DEFAULT_CAPS
            .iter()
            .filter(|c| avail.contains(c))
            .map(|s| s.to_string())
            .collect()
    };
    for c in drop.iter().map(|c| cap_name(c)) {
        if c == "ALL" {
            caps.clear();
        } else if !ALL_CAPS.contains(&c.as_str()) {
            return Err(format!("unknown capability {c:?} in --cap-drop"));
        } else {
            caps.retain(|x| *x != c);
        }
    }
    for c in add.iter().map(|c| cap_name(c)) {
        if c == "ALL" {
            caps = all();
        } else if !ALL_CAPS.contains(&c.as_str()) {
            return Err(format!("unknown capability {c:?} in --cap-add"));
        } else if !avail.contains(&c.as_str()) {
            return Err(format!(
                "cannot add {c}: berth itself does not hold it (its bounding set lacks it)"
            ));
        } else if !caps.contains(&c) {
            caps.push(c);
        }
    }
    Ok(caps)
}

/// Host paths a spec refers to.
pub struct SpecPaths<'a> {
    pub rootfs: &'a Path,
    pub hosts: &'a Path,
    pub hostname: &'a Path,
    pub resolv: &'a Path,
    /// Host path of each `volume` mount's source, in mount order.
    pub volume_dirs: &'a [std::path::PathBuf],
    pub init: Option<&'a Path>,
    /// The network namespace berth-net prepared (bridge networks); None: a new empty one.
    pub netns: Option<&'a Path>,
}

fn ulimit_type(name: &str) -> Result<String, String> {
    let n = name.to_ascii_uppercase();
    let known = [
        "CORE",
        "CPU",
        "DATA",
        "FSIZE",
        "LOCKS",
        "MEMLOCK",
        "MSGQUEUE",
        "NICE",
        "NOFILE",
        "NPROC",
        "RSS",
        "RTPRIO",
        "RTTIME",
        "SIGPENDING",
        "STACK",
        "AS",
    ];
    if known.contains(&n.as_str()) {
        Ok(format!("RLIMIT_{n}"))
    } else {
        Err(format!("unknown ulimit {name:?}"))
    }
}

/// The highest open-files limit berth gives by default (the machine's hard limit may be low).
fn default_nofile() -> u64 {
    rustix::process::getrlimit(rustix::process::Resource::Nofile)
        .maximum
        .unwrap_or(1 << 20)
        .min(1 << 20)
}

pub fn build(c: &Container, user: &ResolvedUser, p: &SpecPaths<'_>) -> Result<Value, String> {
    let cfg = &c.config;
    // `run --systemd`: systemd as PID 1 manages its own cgroups below the container's.
    let systemd = cfg
        .annotations
        .get("berth.systemd")
        .is_some_and(|v| v == "true");
    let caps = capabilities(cfg.privileged, &cfg.cap_add, &cfg.cap_drop)?;
    let mut args = cfg.args.clone();
    if let Some(init) = p.init {
        let _ = init;
        args.insert(0, "--".into());
        args.insert(0, "/dev/init".into());
    }
    let mut env = cfg.env.clone();
    if !env.iter().any(|e| e.starts_with("PATH=")) {
        env.insert(
            0,
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
        );
    }
    if !env.iter().any(|e| e.starts_with("HOSTNAME=")) {
        env.push(format!("HOSTNAME={}", cfg.hostname));
    }
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        env.push(format!(
            "HOME={}",
            if user.home.is_empty() {
                "/"
            } else {
                &user.home
            }
        ));
    }
    if cfg.tty && !env.iter().any(|e| e.starts_with("TERM=")) {
        env.push("TERM=xterm".into());
    }
    let nofile = default_nofile();
    let mut rlimits =
        vec![json!({"type": "RLIMIT_NOFILE", "hard": nofile, "soft": nofile.min(1024 * 1024)})];
    for (name, soft, hard) in &cfg.ulimits {
        let t = ulimit_type(name)?;
        rlimits.retain(|r| r["type"] != t);
        rlimits.push(json!({"type": t, "soft": soft, "hard": hard}));
    }
    let process = json!({
        "terminal": cfg.tty,
        "user": {"uid": user.uid, "gid": user.gid, "additionalGids": user.additional_gids},
        "args": args,
        "env": env,
        "cwd": if cfg.cwd.is_empty() { "/" } else { &cfg.cwd },
        "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
        "rlimits": rlimits,
        "oomScoreAdj": 0,
    });
    // Absent rather than false: libcontainer loads seccomp before dropping capabilities
    // only when the field is missing (with it false, the load fails without CAP_SYS_ADMIN).
    let mut process = process;
    if cfg.no_new_privileges {
        process["noNewPrivileges"] = json!(true);
    }

    let mut mounts = vec![
        json!({"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}),
        json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]}),
        json!({"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", if cfg.privileged { "rw" } else { "ro" }]}),
        json!({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime", if cfg.privileged || systemd { "rw" } else { "ro" }]}),
        json!({"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", format!("size={}", cfg.shm_size.unwrap_or(64 << 20))]}),
        json!({"destination": "/etc/hosts", "type": "bind", "source": p.hosts, "options": ["rbind", "rprivate"]}),
        json!({"destination": "/etc/hostname", "type": "bind", "source": p.hostname, "options": ["rbind", "rprivate"]}),
        json!({"destination": "/etc/resolv.conf", "type": "bind", "source": p.resolv, "options": ["rbind", "rprivate"]}),
    ];
    if let Some(init) = p.init {
        mounts.push(json!({"destination": "/dev/init", "type": "bind", "source": init, "options": ["rbind", "ro", "rprivate"]}));
    }
    let mut vol = p.volume_dirs.iter();
    for m in &cfg.mounts {
        let ro = if m.read_only { "ro" } else { "rw" };
        match m.kind.as_str() {
            "bind" => mounts.push(json!({"destination": m.target, "type": "bind", "source": m.source, "options": ["rbind", "rprivate", ro]})),
            "volume" => {
                let dir = vol.next().ok_or("volume directories do not match the mounts")?;
                mounts.push(json!({"destination": m.target, "type": "bind", "source": dir, "options": ["rbind", "rprivate", ro]}))
            }
            "tmpfs" => {
                let mut opts: Vec<String> = vec!["nosuid".into(), "nodev".into()];
                opts.extend(m.options.iter().cloned());
                if m.read_only {
                    opts.push("ro".into());
                }
                mounts.push(json!({"destination": m.target, "type": "tmpfs", "source": "tmpfs", "options": opts}))
            }
            other => return Err(format!("unknown mount type {other:?}")),
        }
    }

    let mut namespaces = vec![
        json!({"type": "pid"}),
        json!({"type": "ipc"}),
        json!({"type": "uts"}),
        json!({"type": "mount"}),
    ];
    match p.netns {
        _ if cfg.network == "host" => {}
        Some(ns) => namespaces.push(json!({"type": "network", "path": ns})),
        None => namespaces.push(json!({"type": "network"})),
    }
    let mut resources = json!({"devices": [{"allow": cfg.privileged, "access": "rwm"}]});
    if !cfg.privileged {
        // Docker's default device rules: the usual nodes and ptys.
        let allow = |t: &str, major: i64, minor: Option<i64>| json!({"allow": true, "type": t, "major": major, "minor": minor, "access": "rwm"});
        let list = resources["devices"].as_array_mut().expect("array");
        list.push(allow("c", 1, Some(3)));
        list.push(allow("c", 1, Some(5)));
        list.push(allow("c", 1, Some(7)));
        list.push(allow("c", 1, Some(8)));
        list.push(allow("c", 1, Some(9)));
        list.push(allow("c", 5, Some(0)));
        list.push(allow("c", 5, Some(1)));
        list.push(allow("c", 5, Some(2)));
        list.push(allow("c", 136, None));
        list.push(allow("c", 10, Some(200)));
    }
    if let Some(m) = cfg.memory {
        // Swap equal to the limit: an allocation past it is OOM-killed (exit 137).
        resources["memory"] = json!({"limit": m, "swap": m});
    }
    if let Some(cpus) = cfg.cpus {
        let period: u64 = 100_000;
        resources["cpu"] = json!({"quota": (cpus * period as f64) as i64, "period": period});
    }
    if let Some(p) = cfg.pids_limit {
        resources["pids"] = json!({"limit": p});
    }
    let mut linux = json!({
        "namespaces": namespaces,
        "cgroupsPath": format!("/berth/{}", c.id),
        "resources": resources,
    });
    if !cfg.sysctls.is_empty() {
        for kv in cfg.sysctls.iter().map(|(k, v)| format!("{k}={v}")) {
            crate::options::sysctl(&kv, cfg.network == "host")?;
        }
        linux["sysctl"] = json!(cfg.sysctls);
    }
    if !cfg.privileged {
        linux["maskedPaths"] = json!(MASKED);
        linux["readonlyPaths"] = json!(READONLY);
        let sys_admin = caps.iter().any(|c| c == "CAP_SYS_ADMIN");
        match cfg.seccomp.as_deref() {
            Some("unconfined") => {}
            Some(text) => linux["seccomp"] = seccomp::from_profile(text)?,
            None if systemd => linux["seccomp"] = seccomp::systemd_profile(sys_admin),
            None => linux["seccomp"] = seccomp::default_profile(sys_admin),
        }
    }
    let spec = json!({
        "ociVersion": "1.0.2",
        "process": process,
        "root": {"path": p.rootfs, "readonly": cfg.read_only},
        "hostname": cfg.hostname,
        "mounts": mounts,
        "linux": linux,
        "annotations": cfg.annotations,
    });
    // Typed check: what we write is a valid OCI runtime spec.
    serde_json::from_value::<oci_spec::runtime::Spec>(spec.clone())
        .map_err(|e| format!("internal error: invalid runtime spec: {e}"))?;
    Ok(spec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capability_edits() {
        let c = capabilities(false, &["net_admin".into()], &["CHOWN".into()]).unwrap();
        assert!(c.contains(&"CAP_NET_ADMIN".to_string()) && !c.contains(&"CAP_CHOWN".to_string()));
        assert!(!c.contains(&"CAP_SYS_ADMIN".to_string()));
        assert_eq!(capabilities(false, &[], &["ALL".into()]).unwrap().len(), 0);
        assert_eq!(
            capabilities(true, &[], &[]).unwrap().len(),
            available().len()
        );
        assert!(capabilities(false, &["FLY".into()], &[]).is_err());
    }

    #[test]
    fn spec_is_valid_oci() {
        let mut c = Container {
            id: "abc".into(),
            ..Default::default()
        };
        c.config.args = vec!["sh".into()];
        c.config.memory = Some(64 << 20);
        c.config.mounts.push(crate::model::Mount {
            kind: "tmpfs".into(),
            target: "/run".into(),
            options: vec!["size=1m".into()],
            ..Default::default()
        });
        let u = ResolvedUser {
            uid: 0,
            gid: 0,
            additional_gids: vec![],
            home: "/root".into(),
        };
        let p = SpecPaths {
            rootfs: Path::new("/r"),
            hosts: Path::new("/h"),
            hostname: Path::new("/n"),
            resolv: Path::new("/rc"),
            volume_dirs: &[],
            init: None,
            netns: None,
        };
        let s = build(&c, &u, &p).unwrap();
        assert_eq!(s["linux"]["cgroupsPath"], "/berth/abc");
        assert_eq!(s["linux"]["resources"]["memory"]["limit"], 64 << 20);
        assert!(s["linux"]["seccomp"].is_object());
    }
}

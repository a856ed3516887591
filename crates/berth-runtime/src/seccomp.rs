//! berth's default seccomp profile and loading of user profiles.
//!
//! Docker's default profile is an allow-list of ~350 syscalls. berth's is the converse:
//! allow by default and return EPERM for the syscalls Docker's list leaves out for an
//! unprivileged container (namespace creation, mounts, keyrings, kernel modules, clocks,
//! reboot, bpf, perf, ...). The effect on a container with the default capabilities is
//! the same for the calls that matter, and the profile stays short enough to review.
//! `CAP_SYS_ADMIN` (via --cap-add or --privileged) lifts the namespace and mount rules,
//! as in Docker.

use serde_json::{json, Value};

/// Syscalls refused in every unprivileged container.
const DENIED: &[&str] = &[
    "acct",
    "add_key",
    "bpf",
    "clock_adjtime",
    "clock_settime",
    "create_module",
    "delete_module",
    "finit_module",
    "get_kernel_syms",
    "get_mempolicy",
    "init_module",
    "ioperm",
    "iopl",
    "kcmp",
    "kexec_file_load",
    "kexec_load",
    "keyctl",
    "lookup_dcookie",
    "mbind",
    "move_pages",
    "nfsservctl",
    "open_by_handle_at",
    "perf_event_open",
    "personality",
    "pivot_root",
    "process_vm_readv",
    "process_vm_writev",
    "query_module",
    "quotactl",
    "quotactl_fd",
    "reboot",
    "request_key",
    "set_mempolicy",
    "settimeofday",
    "stime",
    "swapoff",
    "swapon",
    "_sysctl",
    "sysfs",
    "uselib",
    "userfaultfd",
    "ustat",
    "vm86",
    "vm86old",
    "syslog",
];

/// Refused unless the container has CAP_SYS_ADMIN.
const NEED_SYS_ADMIN: &[&str] = &[
    "mount",
    "umount",
    "umount2",
    "unshare",
    "setns",
    "fsconfig",
    "fsmount",
    "fsopen",
    "fspick",
    "move_mount",
    "open_tree",
    "mount_setattr",
    "name_to_handle_at",
];

/// clone() flags that create namespaces.
const NS_FLAGS: &[u64] = &[
    0x0002_0000,
    0x0200_0000,
    0x0400_0000,
    0x0800_0000,
    0x1000_0000,
    0x2000_0000,
    0x4000_0000,
];

/// The native architecture and those its kernel also runs (libseccomp refuses others).
fn native_arches() -> &'static [&'static str] {
    match std::env::consts::ARCH {
        "x86_64" => &["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "aarch64" => &["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"],
        _ => &[],
    }
}

/// The default profile as an OCI `linux.seccomp` object.
pub fn default_profile(sys_admin: bool) -> Value {
    profile(sys_admin, false)
}

/// The default profile for `run --systemd`: systemd applies `LockPersonality=` to its
/// services by reading the personality first (`personality(0xffffffff)`), so that call
/// is allowed there. Docker allows a few personality values by argument; a rule that
/// lets exactly those through cannot be written on an allow-by-default profile.
pub fn systemd_profile(sys_admin: bool) -> Value {
    profile(sys_admin, true)
}

fn profile(sys_admin: bool, systemd: bool) -> Value {
    let denied: Vec<&str> = DENIED
        .iter()
        .copied()
        .filter(|s| !(systemd && *s == "personality"))
        .collect();
    let mut syscalls = vec![json!({"names": denied, "action": "SCMP_ACT_ERRNO", "errnoRet": 1})];
    // clone3 hides its flags in memory seccomp cannot read: ENOSYS makes libc use clone.
    syscalls.push(json!({"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}));
    if !sys_admin {
        syscalls.push(json!({"names": NEED_SYS_ADMIN, "action": "SCMP_ACT_ERRNO", "errnoRet": 1}));
        for f in NS_FLAGS {
            syscalls.push(json!({
                "names": ["clone"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
                "args": [{"index": 0, "value": f, "valueTwo": f, "op": "SCMP_CMP_MASKED_EQ"}]
            }));
        }
    }
    json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": native_arches(),
        "syscalls": syscalls,
    })
}

/// Converts a Docker-format (or OCI) profile file to an OCI `linux.seccomp` object.
pub fn from_profile(text: &str) -> Result<Value, String> {
    let v: Value = serde_json::from_str(text)
        .map_err(|e| format!("seccomp profile is not valid JSON: {e}"))?;
    let default_action = v
        .get("defaultAction")
        .and_then(Value::as_str)
        .ok_or("seccomp profile has no defaultAction")?;
    let mut out = json!({"defaultAction": default_action});
    if let Some(r) = v.get("defaultErrnoRet") {
        out["defaultErrnoRet"] = r.clone();
    }
    let mut arches: Vec<Value> = v
        .get("architectures")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if let Some(map) = v.get("archMap").and_then(Value::as_array) {
        for m in map {
            if let Some(a) = m.get("architecture") {
                arches.push(a.clone());
            }
            if let Some(subs) = m.get("subArchitectures").and_then(Value::as_array) {
                arches.extend(subs.iter().cloned());
            }
        }
    }
    if !arches.is_empty() {
        out["architectures"] = Value::Array(arches);
    }
    let mut syscalls = Vec::new();
    for s in v
        .get("syscalls")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
    {
        let names = match (s.get("names"), s.get("name")) {
            (Some(n), _) => n.clone(),
            (None, Some(n)) => json!([n]),
            _ => return Err("a seccomp rule has no names".into()),
        };
        let mut r = json!({"names": names, "action": s.get("action").cloned().ok_or("a seccomp rule has no action")?});
        for k in ["args", "errnoRet"] {
            if let Some(x) = s.get(k).filter(|x| !x.is_null()) {
                r[k] = x.clone();
            }
        }
        syscalls.push(r);
    }
    out["syscalls"] = Value::Array(syscalls);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_parse_as_oci() {
        for admin in [false, true] {
            let p = default_profile(admin);
            let _: oci_spec::runtime::LinuxSeccomp = serde_json::from_value(p).unwrap();
        }
        let docker = r#"{"defaultAction":"SCMP_ACT_ERRNO","archMap":[{"architecture":"SCMP_ARCH_X86_64","subArchitectures":["SCMP_ARCH_X86"]}],
            "syscalls":[{"names":["read","write"],"action":"SCMP_ACT_ALLOW","args":[],"comment":"","includes":{},"excludes":{}}]}"#;
        let p = from_profile(docker).unwrap();
        let _: oci_spec::runtime::LinuxSeccomp = serde_json::from_value(p).unwrap();
        assert!(from_profile("{}").is_err());
    }
}

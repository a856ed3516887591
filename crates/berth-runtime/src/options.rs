//! Parsers for container options that both `berth run` flags and compose keys give
//! (`--security-opt`/`security_opt`, `--ulimit`/`ulimits`, `--add-host`/`extra_hosts`,
//! `--sysctl`/`sysctls`), so the two accept and reject the same things.

/// `no-new-privileges`, `seccomp=unconfined`, `seccomp=PROFILE.json` (read now): the
/// no-new-privileges flag and the seccomp setting of a [`crate::ContainerConfig`].
pub fn security_opts(opts: &[String]) -> Result<(bool, Option<String>), String> {
    let mut no_new_privileges = false;
    let mut seccomp = None;
    for o in opts {
        match o.split_once(['=', ':']) {
            _ if matches!(
                o.as_str(),
                "no-new-privileges" | "no-new-privileges:true" | "no-new-privileges=true"
            ) =>
            {
                no_new_privileges = true
            }
            Some(("no-new-privileges", "false")) => no_new_privileges = false,
            Some(("seccomp", "unconfined")) => seccomp = Some("unconfined".to_string()),
            Some(("seccomp", path)) => {
                seccomp = Some(
                    std::fs::read_to_string(path)
                        .map_err(|e| format!("cannot read seccomp profile {path}: {e}"))?,
                )
            }
            _ => {
                return Err(format!(
                "unsupported security option {o:?}: use no-new-privileges, seccomp=unconfined or seccomp=PROFILE.json"
            ))
            }
        }
    }
    Ok((no_new_privileges, seccomp))
}

/// A size as Docker writes memory and /dev/shm sizes: binary units, an optional `b`
/// (`64m`, `1.5g`, `512kb`, `1048576`).
pub fn ram_bytes(s: &str) -> Result<u64, String> {
    let t = s.trim().to_ascii_lowercase();
    let t = t.strip_suffix('b').unwrap_or(&t);
    let (num, mult) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 1u64 << 10),
        Some('m') => (&t[..t.len() - 1], 1 << 20),
        Some('g') => (&t[..t.len() - 1], 1 << 30),
        Some('t') => (&t[..t.len() - 1], 1 << 40),
        _ => (t, 1),
    };
    let n: f64 = num
        .trim()
        .parse()
        .ok()
        .filter(|n: &f64| n.is_finite() && *n >= 0.0)
        .ok_or_else(|| format!("invalid size {s:?}: use e.g. 64m, 1g or a number of bytes"))?;
    Ok((n * mult as f64) as u64)
}

/// `NAME=SOFT[:HARD]` (`nofile=1024:2048`); -1 means unlimited.
pub fn ulimit(u: &str) -> Result<(String, u64, u64), String> {
    let bad = || format!("invalid ulimit {u:?}: want NAME=SOFT[:HARD], e.g. nofile=1024:2048");
    let (name, vals) = u.split_once('=').ok_or_else(bad)?;
    let (soft, hard) = vals.split_once(':').unwrap_or((vals, vals));
    let num = |s: &str| match s.trim() {
        "-1" | "unlimited" => Ok(u64::MAX),
        s => s.parse::<u64>().map_err(|_| bad()),
    };
    let (soft, hard) = (num(soft)?, num(hard)?);
    if soft > hard {
        return Err(format!(
            "invalid ulimit {u:?}: the soft limit is above the hard limit"
        ));
    }
    Ok((name.trim().to_string(), soft, hard))
}

/// `NAME:IP` or `NAME=IP`; IP may be `host-gateway` (the host's address on the
/// container's network).
pub fn add_host(h: &str) -> Result<(String, String), String> {
    // An IPv6 address has colons itself: split at the first `=`, else the first `:`.
    let Some((name, ip)) = h.split_once('=').or_else(|| h.split_once(':')) else {
        return Err(format!("invalid extra host {h:?}: use NAME:IP"));
    };
    let ip = ip.trim_start_matches('[').trim_end_matches(']');
    if ip != "host-gateway" && ip.parse::<std::net::IpAddr>().is_err() {
        return Err(format!(
            "invalid extra host {h:?}: {ip:?} is not an IP address (or host-gateway)"
        ));
    }
    Ok((name.to_string(), ip.to_string()))
}

/// `KEY=VALUE` for a kernel parameter the container's own namespaces hold, as Docker
/// allows: IPC ones (`kernel.msg*`, `kernel.sem`, `kernel.shm*`, `fs.mqueue.*`), UTS
/// ones (`kernel.domainname`, `kernel.hostname`), and network ones (`net.*`) unless the
/// container shares the host's network.
pub fn sysctl(kv: &str, host_network: bool) -> Result<(String, String), String> {
    let (k, v) = kv
        .split_once('=')
        .ok_or_else(|| format!("invalid sysctl {kv:?}: want KEY=VALUE"))?;
    let k = k.trim().replace('/', ".");
    let ipc = k.starts_with("kernel.msg")
        || k == "kernel.sem"
        || k.starts_with("kernel.shm")
        || k.starts_with("fs.mqueue.");
    let net = k.starts_with("net.");
    let uts = k == "kernel.domainname" || k == "kernel.hostname";
    if net && host_network {
        return Err(format!(
            "sysctl {k:?} is not allowed with the host's network: it would change the host"
        ));
    }
    if !(ipc || net || uts) {
        return Err(format!(
            "sysctl {k:?} is not allowed: only namespaced ones can be set (kernel.msg*, kernel.sem, kernel.shm*, fs.mqueue.*, kernel.domainname, kernel.hostname, net.*)"
        ));
    }
    Ok((k, v.trim().to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_rejects() {
        assert_eq!(ram_bytes("16m").unwrap(), 16 << 20);
        assert_eq!(ram_bytes("1.5g").unwrap(), 3 << 29);
        assert_eq!(ram_bytes("512kb").unwrap(), 512 << 10);
        assert!(ram_bytes("-1m").is_err() && ram_bytes("lots").is_err());
        assert_eq!(
            ulimit("nofile=1024:2048").unwrap(),
            ("nofile".into(), 1024, 2048)
        );
        assert_eq!(ulimit("nproc=64").unwrap(), ("nproc".into(), 64, 64));
        assert!(ulimit("nofile=2048:1024").is_err());
        assert!(ulimit("nofile").is_err());
        assert_eq!(
            add_host("db:10.0.0.2").unwrap(),
            ("db".into(), "10.0.0.2".into())
        );
        assert_eq!(add_host("v6=::1").unwrap(), ("v6".into(), "::1".into()));
        assert_eq!(add_host("gw:host-gateway").unwrap().1, "host-gateway");
        assert!(add_host("db:nope").is_err());
        assert_eq!(
            sysctl("net.core.somaxconn=1024", false).unwrap(),
            ("net.core.somaxconn".into(), "1024".into())
        );
        assert!(sysctl("net.core.somaxconn=1024", true).is_err());
        assert!(sysctl("kernel.shmmax=1", true).is_ok());
        assert!(sysctl("vm.swappiness=1", false).is_err());
        assert!(sysctl("kernel.domainname=example", false).is_ok());
        assert!(security_opts(&["no-new-privileges:true".into()]).unwrap().0);
        assert!(security_opts(&["apparmor=x".into()]).is_err());
    }
}

//! What a container is: the configuration the user asked for and the state it is in.
//! Both are one JSON document in the store's `containers.state` column.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Mount {
    /// bind | volume | tmpfs
    pub kind: String,
    /// Host path (bind) or volume name (volume); empty for tmpfs.
    pub source: String,
    pub target: String,
    pub read_only: bool,
    /// tmpfs options (size=64m,mode=1777), bind propagation etc.
    #[serde(default)]
    pub options: Vec<String>,
}

/// One network a container is connected to.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct NetworkAttachment {
    pub network: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    /// `--ip`
    #[serde(default)]
    pub ip: Option<std::net::Ipv4Addr>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Healthcheck {
    pub test: Vec<String>,
    pub interval_ms: u64,
    pub timeout_ms: u64,
    pub start_period_ms: u64,
    pub retries: u32,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct RestartPolicy {
    /// no | on-failure | always | unless-stopped
    pub name: String,
    pub max_retries: u32,
}

impl RestartPolicy {
    pub fn parse(s: &str) -> Result<RestartPolicy, String> {
        let (name, n) = match s.split_once(':') {
            Some((n, c)) => (n, Some(c)),
            None => (s, None),
        };
        let max_retries = match n {
            Some(c) => c
                .parse()
                .map_err(|_| format!("invalid restart count {c:?}"))?,
            None => 0,
        };
        match name {
            "no" | "always" | "unless-stopped" if n.is_none() => Ok(RestartPolicy {
                name: name.into(),
                max_retries: 0,
            }),
            "on-failure" => Ok(RestartPolicy {
                name: name.into(),
                max_retries,
            }),
            _ => Err(format!(
                "invalid restart policy {s:?}: use no, on-failure[:N], always or unless-stopped"
            )),
        }
    }
}

/// Everything `berth create/run` was asked for, resolved against the image.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ContainerConfig {
    pub image: String,
    pub image_name: String,
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: String,
    /// As given: "", "name", "uid", "name:group", "uid:gid".
    pub user: String,
    pub hostname: String,
    pub tty: bool,
    pub open_stdin: bool,
    pub auto_remove: bool,
    pub read_only: bool,
    pub privileged: bool,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub no_new_privileges: bool,
    /// None: berth's default profile; Some("unconfined"); Some(path contents as JSON).
    pub seccomp: Option<String>,
    pub init: bool,
    pub mounts: Vec<Mount>,
    pub labels: BTreeMap<String, String>,
    pub memory: Option<i64>,
    pub cpus: Option<f64>,
    pub pids_limit: Option<i64>,
    pub ulimits: Vec<(String, u64, u64)>,
    pub restart: RestartPolicy,
    pub stop_signal: String,
    pub stop_timeout: u64,
    pub healthcheck: Option<Healthcheck>,
    /// Path of an OCI runtime binary, or empty for the default executor.
    pub runtime: String,
    /// The network mode: none | host | bridge (the default network) | a network's name.
    pub network: String,
    /// The bridge networks the container joins at start (the first one gets `eth0`,
    /// the default route and the published ports). Empty for none/host.
    #[serde(default)]
    pub networks: Vec<NetworkAttachment>,
    /// `-p`/`-P`, as asked (host port 0: one is picked at each start).
    #[serde(default)]
    pub publish: Vec<berth_net::ports::Port>,
    /// `--dns` servers: on a bridge network the network's resolver forwards to them (service
    /// names keep resolving); with no network they are the resolv.conf.
    pub dns: Vec<String>,
    /// `--dns-search` domains (`.`: none); empty: the host's.
    #[serde(default)]
    pub dns_search: Vec<String>,
    /// `--dns-option` resolver options; empty: the host's.
    #[serde(default)]
    pub dns_options: Vec<String>,
    /// `--add-host NAME:IP` entries for /etc/hosts.
    #[serde(default)]
    pub add_hosts: Vec<(String, String)>,
    pub log_max_size: u64,
    pub log_max_files: u32,
    /// `--shm-size`: bytes of /dev/shm (None: Docker's 64 MiB).
    #[serde(default)]
    pub shm_size: Option<u64>,
    /// `--sysctl`: namespaced kernel parameters (checked by `options::sysctl`).
    #[serde(default)]
    pub sysctls: BTreeMap<String, String>,
    /// `--systemd`-style extras may append here.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    #[default]
    Created,
    Running,
    Restarting,
    Exited,
    Removing,
    Dead,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Restarting => "restarting",
            Status::Exited => "exited",
            Status::Removing => "removing",
            Status::Dead => "dead",
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Health {
    /// starting | healthy | unhealthy
    pub status: String,
    pub failing_streak: u32,
    pub last_output: String,
    pub last_check: i64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ContainerState {
    pub status: Status,
    /// The container's init process, in the host pid namespace.
    pub pid: i32,
    /// The monitor process that owns the container while it runs.
    pub monitor_pid: i32,
    pub exit_code: Option<i32>,
    pub error: String,
    pub oom_killed: bool,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub restart_count: u32,
    /// Set by stop/kill so the restart policy leaves the container down.
    pub stop_requested: bool,
    pub health: Option<Health>,
}

/// The document kept for each container.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Container {
    pub id: String,
    pub name: String,
    pub created: String,
    pub config: ContainerConfig,
    pub state: ContainerState,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restart_policies() {
        assert_eq!(RestartPolicy::parse("on-failure:3").unwrap().max_retries, 3);
        assert_eq!(RestartPolicy::parse("always").unwrap().name, "always");
        assert!(RestartPolicy::parse("always:3").is_err());
        assert!(RestartPolicy::parse("sometimes").is_err());
    }
}

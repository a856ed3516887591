//! `berth stats`: resource use of running containers, read from their cgroups (v1 or v2,
//! whichever the machine has).

use crate::model::Status;
use crate::{Error, Result, Runtime};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, serde::Serialize)]
pub struct Stats {
    pub id: String,
    pub name: String,
    pub cpu_percent: f64,
    pub memory_usage: u64,
    pub memory_limit: u64,
    pub pids: u64,
}

fn read_u64(p: &Path) -> Option<u64> {
    std::fs::read_to_string(p)
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Where the container's cgroup lives: (v2 dir) or (v1 memory, cpuacct, pids dirs).
enum Cgroup {
    V2(PathBuf),
    V1 {
        memory: PathBuf,
        cpuacct: PathBuf,
        pids: PathBuf,
    },
}

fn cgroup(id: &str) -> Cgroup {
    let base = Path::new("/sys/fs/cgroup");
    let v2 = base.join("berth").join(id);
    if base.join("cgroup.controllers").exists() && v2.exists() {
        return Cgroup::V2(v2);
    }
    let find = |names: &[&str]| {
        names
            .iter()
            .map(|n| base.join(n).join("berth").join(id))
            .find(|p| p.exists())
            .unwrap_or_default()
    };
    Cgroup::V1 {
        memory: find(&["memory"]),
        cpuacct: find(&["cpuacct", "cpu,cpuacct", "cpuacct,cpu"]),
        pids: find(&["pids"]),
    }
}

/// CPU time used, in nanoseconds.
fn cpu_ns(cg: &Cgroup) -> Option<u64> {
    match cg {
        Cgroup::V2(d) => {
            let text = std::fs::read_to_string(d.join("cpu.stat")).ok()?;
            text.lines()
                .find_map(|l| l.strip_prefix("usage_usec "))
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(|u| u * 1000)
        }
        Cgroup::V1 { cpuacct, .. } => read_u64(&cpuacct.join("cpuacct.usage")),
    }
}

impl Runtime {
    /// One sample per running container (CPU over `window`).
    pub fn stats(&self, names: &[String], window: Duration) -> Result<Vec<Stats>> {
        let list: Vec<_> = if names.is_empty() {
            self.list_refreshed()?
                .into_iter()
                .filter(|c| c.state.status == Status::Running)
                .collect()
        } else {
            names
                .iter()
                .map(|n| self.get(n).and_then(|c| self.refresh(c)))
                .collect::<Result<_>>()?
        };
        let groups: Vec<Cgroup> = list.iter().map(|c| cgroup(&c.id)).collect();
        let before: Vec<Option<u64>> = groups.iter().map(cpu_ns).collect();
        let t = Instant::now();
        std::thread::sleep(window);
        let elapsed = t.elapsed().as_nanos() as f64;
        let mut out = Vec::new();
        for ((c, cg), b) in list.iter().zip(&groups).zip(before) {
            if c.state.status != Status::Running {
                return Err(Error::Conflict(format!(
                    "container {} is not running",
                    c.name
                )));
            }
            let cpu = match (b, cpu_ns(cg)) {
                (Some(b), Some(a)) if a >= b => (a - b) as f64 / elapsed * 100.0,
                _ => 0.0,
            };
            let host_mem = std::fs::read_to_string("/proc/meminfo")
                .ok()
                .and_then(|m| {
                    m.lines()
                        .next()
                        .and_then(|l| l.split_whitespace().nth(1))
                        .and_then(|v| v.parse::<u64>().ok())
                })
                .map(|kb| kb * 1024)
                .unwrap_or(0);
            let (usage, limit, pids) = match cg {
                Cgroup::V2(d) => (
                    read_u64(&d.join("memory.current")).unwrap_or(0),
                    read_u64(&d.join("memory.max")).unwrap_or(host_mem),
                    // Without the pids controller, the members of the cgroup itself.
                    read_u64(&d.join("pids.current")).unwrap_or_else(|| {
                        std::fs::read_to_string(d.join("cgroup.procs"))
                            .map(|p| p.lines().count() as u64)
                            .unwrap_or(0)
                    }),
                ),
                Cgroup::V1 { memory, pids, .. } => (
                    read_u64(&memory.join("memory.usage_in_bytes")).unwrap_or(0),
                    read_u64(&memory.join("memory.limit_in_bytes")).unwrap_or(host_mem),
                    read_u64(&pids.join("pids.current")).unwrap_or(0),
                ),
            };
            out.push(Stats {
                id: c.id.clone(),
                name: c.name.clone(),
                cpu_percent: cpu,
                memory_usage: usage,
                memory_limit: limit.min(host_mem.max(1)),
                pids,
            });
        }
        Ok(out)
    }
}

//! A container's networking, as the runtime sees it: which networks it joins (its
//! config), asking berth-net to attach it before each start and to release everything
//! when it stops or goes, and the files (`hosts`, `resolv.conf`) that follow from that.

use crate::model::{Container, NetworkAttachment, Status};
use crate::{io_err, Error, Result, Runtime};
use berth_net::ports::Port;
use berth_net::{AttachRequest, Net};
use std::net::Ipv4Addr;
use std::path::PathBuf;

impl From<berth_net::Error> for Error {
    fn from(e: berth_net::Error) -> Error {
        match e {
            berth_net::Error::Store(s) => Error::Store(s),
            berth_net::Error::Conflict(m) => Error::Conflict(m),
            berth_net::Error::Invalid(m) => Error::Invalid(m),
            berth_net::Error::Kernel(m) => Error::Invalid(m),
        }
    }
}

/// Whether a network mode means "a bridge network".
pub fn is_bridge_mode(mode: &str) -> bool {
    !matches!(mode, "none" | "host" | "")
}

impl Runtime {
    pub fn net(&self) -> Net<'_> {
        Net::new(&self.store, &self.self_exe)
    }

    fn names_of(c: &Container, aliases: &[String]) -> Vec<String> {
        let mut names = vec![c.name.clone(), c.id[..12].to_string()];
        if c.config.hostname != c.id[..12] && !c.config.hostname.is_empty() {
            names.push(c.config.hostname.clone());
        }
        names.extend(aliases.iter().cloned());
        names.dedup();
        names
    }

    /// Attaches the container to its networks (before its start); the namespace path
    /// for the spec, or None for none/host. On failure nothing stays attached.
    pub(crate) fn setup_network(&self, c: &Container) -> Result<Option<PathBuf>> {
        if c.config.networks.is_empty() {
            self.write_net_files(c, None)?;
            return Ok(None);
        }
        let net = self.net();
        // Left over from a run whose monitor died: start clean.
        net.detach_all(&c.id)?;
        let mut first = None;
        for (i, a) in c.config.networks.iter().enumerate() {
            let r = net.attach(&AttachRequest {
                container: c.id.clone(),
                network: a.network.clone(),
                names: Self::names_of(c, &a.aliases),
                ip: a.ip,
                ports: if i == 0 {
                    c.config.publish.clone()
                } else {
                    vec![]
                },
                dns: c.config.dns.clone(),
            });
            match r {
                Ok(at) => {
                    if first.is_none() {
                        first = Some(at);
                    }
                }
                Err(e) => {
                    let _ = net.detach_all(&c.id);
                    return Err(Error::Invalid(format!(
                        "connect container {} to network {}: {e}",
                        c.name, a.network
                    )));
                }
            }
        }
        let at = first.expect("one network at least");
        let addr = BridgeAddr {
            address: at.address,
            gateway: at.network.gateway.parse().expect("checked by berth-net"),
            internal: at.network.internal,
        };
        if let Err(e) = self.write_net_files(c, Some(addr)) {
            let _ = net.detach_all(&c.id);
            return Err(e);
        }
        Ok(Some(net.netns_path(&c.id)))
    }

    /// Releases everything the container holds on its networks.
    pub(crate) fn teardown_network(&self, id: &str) -> Result<()> {
        Ok(self.net().detach_all(id)?)
    }

    /// Writes `hosts` and `resolv.conf` for a container at `addr` on a bridge network.
    pub(crate) fn write_net_files(&self, c: &Container, addr: Option<BridgeAddr>) -> Result<()> {
        let dir = self.dir(&c.id);
        std::fs::write(dir.join("hosts"), hosts_file(c, addr)).map_err(io_err("write hosts"))?;
        let resolv = resolv_conf(&c.config, addr.map(|a| a.gateway));
        std::fs::write(dir.join("resolv.conf"), resolv).map_err(io_err("write resolv.conf"))?;
        Ok(())
    }

    /// `berth network connect`: records the network in the container's config and, if it
    /// runs, attaches it now.
    pub fn network_connect(
        &self,
        network: &str,
        what: &str,
        aliases: &[String],
        ip: Option<Ipv4Addr>,
    ) -> Result<()> {
        let c = self.refresh(self.get(what)?)?;
        if !is_bridge_mode(&c.config.network) {
            return Err(Error::Conflict(format!(
                "container {} uses --network {}: it cannot join bridge networks",
                c.name, c.config.network
            )));
        }
        let n = self.net().get(network)?;
        if c.config
            .networks
            .iter()
            .any(|a| a.network == n.name || a.network == n.id)
        {
            return Err(Error::Conflict(format!(
                "container {} is already connected to network {}",
                c.name, n.name
            )));
        }
        if c.state.status == Status::Running {
            self.net()
                .attach(&AttachRequest {
                    container: c.id.clone(),
                    network: n.name.clone(),
                    names: Self::names_of(&c, aliases),
                    ip,
                    ports: vec![],
                    dns: c.config.dns.clone(),
                })
                .map_err(|e| {
                    Error::Invalid(format!(
                        "connect container {} to network {}: {e}",
                        c.name, n.name
                    ))
                })?;
        }
        self.update(&c.id, |x| {
            x.config.networks.push(NetworkAttachment {
                network: n.name.clone(),
                aliases: aliases.to_vec(),
                ip,
            })
        })?;
        Ok(())
    }

    /// `berth network disconnect`.
    pub fn network_disconnect(&self, network: &str, what: &str) -> Result<()> {
        let c = self.refresh(self.get(what)?)?;
        let n = self.store.find_network(network)?;
        if !c
            .config
            .networks
            .iter()
            .any(|a| a.network == n.name || a.network == n.id)
        {
            return Err(Error::Conflict(format!(
                "container {} is not connected to network {}",
                c.name, n.name
            )));
        }
        self.net().detach(&c.id, &n.id)?;
        self.update(&c.id, |x| {
            x.config
                .networks
                .retain(|a| a.network != n.name && a.network != n.id)
        })?;
        Ok(())
    }

    /// The container's published ports as they are now (`berth port`).
    pub fn published_ports(&self, what: &str) -> Result<Vec<Port>> {
        let c = self.get(what)?;
        let mut out = Vec::new();
        for e in self.store.endpoints_of_container(&c.id)? {
            out.extend(serde_json::from_str::<Vec<Port>>(&e.ports).unwrap_or_default());
        }
        Ok(out)
    }

    /// The container's addresses: (network name, address, gateway).
    pub fn addresses(&self, id: &str) -> Result<Vec<(String, String, String)>> {
        let mut out = Vec::new();
        for e in self.store.endpoints_of_container(id)? {
            let n = self.store.find_network(&e.network)?;
            out.push((n.name, e.address, n.gateway));
        }
        Ok(out)
    }

    /// Releases endpoints of containers that no longer exist (`system prune`).
    pub fn sweep_endpoints(&self) -> Result<usize> {
        let live: std::collections::BTreeSet<String> =
            self.list()?.into_iter().map(|c| c.id).collect();
        Ok(self.net().sweep(&|id| live.contains(id))?)
    }
}

/// Where a container sits on its first bridge network.
#[derive(Clone, Copy)]
pub(crate) struct BridgeAddr {
    pub address: Ipv4Addr,
    pub gateway: Ipv4Addr,
    /// An `--internal` network: the host answers on the gateway for DNS only.
    pub internal: bool,
}

/// The names podman gives the host, on the gateway of a network that reaches it; Docker
/// Desktop's is the second, which compose files and guides written there use.
const HOST_NAMES: [&str; 2] = ["host.containers.internal", "host.docker.internal"];

pub(crate) fn hosts_file(c: &Container, addr: Option<BridgeAddr>) -> String {
    let h = &c.config.hostname;
    let mut s = String::from("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n");
    match addr {
        Some(a) => s += &format!("{}\t{h}\n", a.address),
        None => s += &format!("127.0.1.1\t{h}\n"),
    }
    for (name, ip) in &c.config.add_hosts {
        let ip = if ip == "host-gateway" {
            addr.map(|a| a.gateway.to_string())
                .unwrap_or_else(|| "127.0.0.1".into())
        } else {
            ip.clone()
        };
        s += &format!("{ip}\t{name}\n");
    }
    if let Some(a) = addr.filter(|a| !a.internal) {
        let own: Vec<&str> = HOST_NAMES
            .into_iter()
            .filter(|n| !c.config.add_hosts.iter().any(|(name, _)| name == n))
            .collect();
        if !own.is_empty() {
            s += &format!("{}\t{}\n", a.gateway, own.join(" "));
        }
    }
    s
}

/// A container's resolv.conf. Name servers: on a bridge network its gateway (the network's
/// DNS, which forwards to `--dns` servers if the container has any); else the `--dns`
/// servers, else the host's (without loopback ones, unreachable from the container).
/// Search domains and options: `--dns-search` (`.` for none) and `--dns-option` when
/// given, else the host's.
pub(crate) fn resolv_conf(cfg: &crate::ContainerConfig, gateway: Option<Ipv4Addr>) -> String {
    let host = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let host_lines = |kw: &str| -> Vec<String> {
        host.lines()
            .filter(|l| l.split_whitespace().next() == Some(kw))
            .map(str::to_string)
            .collect()
    };
    let mut out: Vec<String> = match gateway {
        Some(gw) => vec![format!("nameserver {gw}")],
        None if !cfg.dns.is_empty() => cfg.dns.iter().map(|d| format!("nameserver {d}")).collect(),
        None => host_lines("nameserver")
            .into_iter()
            .filter(|l| !(l.contains(" 127.") || l.contains(" ::1")))
            .collect(),
    };
    match cfg.dns_search.as_slice() {
        [] => out.extend(host_lines("search").into_iter().chain(host_lines("domain"))),
        [dot] if dot == "." => {}
        list => out.push(format!("search {}", list.join(" "))),
    }
    if cfg.dns_options.is_empty() {
        out.extend(host_lines("options"));
    } else {
        out.push(format!("options {}", cfg.dns_options.join(" ")));
    }
    out.iter().map(|l| format!("{l}\n")).collect()
}

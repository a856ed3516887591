//! berth-net owns container networking on the host: bridge networks (their records, the
//! bridge interface, its nftables rules), IPAM (addresses allocated in one store
//! transaction, never twice), a container's attachment to a network (network namespace
//! held under `<root>/netns/<id>`, veth pair, address, routes), published ports (DNAT
//! rules), and the embedded DNS that resolves container names on a network. It uses
//! berth-store for records and knows nothing of how containers run: berth-runtime calls
//! `attach` before it starts a container and `detach_all` when it goes.

pub mod dns;
pub mod firewall;
pub mod ipam;
pub mod netlink;
pub mod ports;
pub mod sys;

use berth_store::networks::{EndpointRow, NetworkRow};
use berth_store::Store;
use ipam::Subnet;
use ports::Port;
use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Store(#[from] berth_store::Error),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Conflict(String),
    /// The kernel or a tool refused; the message says what and how to fix it.
    #[error("{0}")]
    Kernel(String),
}

/// The network containers join when none is named (Docker's `bridge`).
pub const DEFAULT_NETWORK: &str = "bridge";
/// The preferred interface name of the default network's bridge.
pub const DEFAULT_BRIDGE: &str = "berth0";

/// DNS servers started by this process and not yet reaped (see `reap_dns_servers`).
static DNS_SERVERS: std::sync::Mutex<Vec<std::process::Child>> = std::sync::Mutex::new(Vec::new());

/// `berth network create`.
#[derive(Debug, Clone, Default)]
pub struct CreateNetwork {
    pub name: String,
    pub subnet: Option<String>,
    pub gateway: Option<String>,
    pub internal: bool,
    pub labels: BTreeMap<String, String>,
}

/// What a container asks of one network.
#[derive(Debug, Clone, Default)]
pub struct AttachRequest {
    pub container: String,
    pub network: String,
    /// DNS names: the container's name, its short id, `--network-alias`es.
    pub names: Vec<String>,
    pub ip: Option<Ipv4Addr>,
    /// Published ports (host port 0: pick one).
    pub ports: Vec<Port>,
    /// The container's own DNS servers (`--dns`): the network's resolver forwards its
    /// queries for names it does not know there instead of to the host's resolvers.
    pub dns: Vec<String>,
}

/// What the container got.
#[derive(Debug, Clone)]
pub struct Attached {
    pub network: NetworkRow,
    pub address: Ipv4Addr,
    pub prefix: u8,
    pub ifname: String,
    pub ports: Vec<Port>,
}

pub struct Net<'a> {
    pub store: &'a Store,
    /// The berth binary, started as `berth network-dns ID`.
    pub self_exe: PathBuf,
}

fn random_hex() -> String {
    format!(
        "{:016x}{:016x}{:016x}{:016x}",
        rand::random::<u64>(),
        rand::random::<u64>(),
        rand::random::<u64>(),
        rand::random::<u64>()
    )
}

pub fn validate_name(n: &str) -> Result<()> {
    let ok = !n.is_empty()
        && n.len() <= 64
        && n.as_bytes()[0].is_ascii_alphanumeric()
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "invalid network name {n:?}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        )))
    }
}

impl<'a> Net<'a> {
    pub fn new(store: &'a Store, self_exe: impl Into<PathBuf>) -> Net<'a> {
        Net {
            store,
            self_exe: self_exe.into(),
        }
    }

    /// Where a container's network namespace is held.
    pub fn netns_path(&self, container: &str) -> PathBuf {
        self.store.root().join("netns").join(container)
    }

    /// Creates a network: its record, then its bridge and rules.
    pub fn create(&self, o: &CreateNetwork) -> Result<NetworkRow> {
        validate_name(&o.name)?;
        if matches!(o.name.as_str(), "none" | "host") {
            return Err(Error::Invalid(format!(
                "{} is a network mode, not a name a network can have",
                o.name
            )));
        }
        if self.store.find_network(&o.name).is_ok() {
            return Err(Error::Conflict(format!(
                "network with name {} already exists: choose another name",
                o.name
            )));
        }
        let id = random_hex();
        let _lock = sys::host_lock()?;
        let mut used: Vec<Subnet> = ipam::host_routes();
        used.extend(ipam::host_interface_subnets());
        for n in self.store.networks()? {
            if let Ok(s) = Subnet::parse(&n.subnet) {
                used.push(s);
            }
        }
        let subnet = match &o.subnet {
            Some(s) => {
                let s = Subnet::parse(s).map_err(Error::Invalid)?;
                if let Some(u) = used.iter().find(|u| u.overlaps(&s)) {
                    return Err(Error::Conflict(format!(
                        "subnet {s} overlaps {u}, which a host route, a host interface address or another network uses: choose another --subnet"
                    )));
                }
                s
            }
            None => ipam::pick_subnet(&used).ok_or_else(|| {
                Error::Conflict(
                    "no free subnet left in 10.88.0.0-10.127.255.0/24: remove unused networks (berth network prune) or give --subnet"
                        .into(),
                )
            })?,
        };
        let gateway = match &o.gateway {
            Some(g) => {
                let g: Ipv4Addr = g.parse().map_err(|_| {
                    Error::Invalid(format!("invalid gateway {g:?}: not an IPv4 address"))
                })?;
                if !subnet.contains(g) || g == subnet.network() || g == subnet.broadcast() {
                    return Err(Error::Invalid(format!(
                        "gateway {g} is not a usable address of subnet {subnet}"
                    )));
                }
                g
            }
            None => subnet.first_host(),
        };
        let bridge = if o.name == DEFAULT_NETWORK && !sys::link_exists(DEFAULT_BRIDGE) {
            DEFAULT_BRIDGE.to_string()
        } else {
            format!("br-{}", &id[..12])
        };
        let row = NetworkRow {
            id,
            name: o.name.clone(),
            bridge,
            subnet: subnet.to_string(),
            gateway: gateway.to_string(),
            internal: o.internal,
            labels: serde_json::to_string(&o.labels).expect("serialises"),
            created: 0,
        };
        self.store.insert_network(&row)?;
        if let Err(e) = self.bring_up(&row) {
            let _ = self.take_down(&row);
            let _ = self.store.delete_network(&row.id);
            return Err(e);
        }
        Ok(row)
    }

    /// The network named `what`; the default network is created on first use.
    pub fn get(&self, what: &str) -> Result<NetworkRow> {
        match self.store.find_network(what) {
            Ok(n) => Ok(n),
            Err(berth_store::Error::NotFound(_)) if what == DEFAULT_NETWORK => {
                match self.create(&CreateNetwork {
                    name: DEFAULT_NETWORK.into(),
                    ..Default::default()
                }) {
                    Ok(n) => Ok(n),
                    // Another berth process created it at the same time.
                    Err(Error::Conflict(_))
                    | Err(Error::Store(berth_store::Error::Conflict(_))) => {
                        Ok(self.store.find_network(what)?)
                    }
                    Err(e) => Err(e),
                }
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Makes sure the bridge and its rules exist (after a reboot they do not).
    pub fn ensure_up(&self, n: &NetworkRow) -> Result<()> {
        if sys::link_exists(&n.bridge) {
            return fix_bridge_mac(n);
        }
        let _lock = sys::host_lock()?;
        if sys::link_exists(&n.bridge) {
            return Ok(());
        }
        // Removed meanwhile (network rm holds the same lock): do not bring it back.
        self.store.find_network(&n.id)?;
        self.bring_up(n)
    }

    /// Creates the bridge and the network's rules. Call under the host lock.
    fn bring_up(&self, n: &NetworkRow) -> Result<()> {
        let subnet = Subnet::parse(&n.subnet).map_err(Error::Invalid)?;
        let gw: Ipv4Addr = n
            .gateway
            .parse()
            .map_err(|_| Error::Invalid(format!("network {}: bad gateway", n.name)))?;
        // nftables first: a missing nft or kernel feature fails before any link exists.
        firewall::ensure_table()?;
        firewall::delete_tagged(&firewall::net_tag(&n.id))?;
        let mut nl = netlink::Rtnl::open()?;
        nl.add_bridge(&n.bridge, bridge_mac(gw))?;
        let idx = netlink::index(&n.bridge)
            .ok_or_else(|| Error::Kernel(format!("bridge {} vanished", n.bridge)))?;
        nl.add_address(
            idx,
            gw,
            subnet.prefix,
            &format!("give bridge {} the address {gw}", n.bridge),
        )?;
        sys::sysctl(&format!("net/ipv4/conf/{}/route_localnet", n.bridge), "1")?;
        if !n.internal {
            sys::sysctl("net/ipv4/ip_forward", "1")?;
        }
        firewall::apply(
            &firewall::network_rules(&n.id, &n.bridge, &n.subnet, gw, n.internal),
            &format!("add the nftables rules of network {}", n.name),
        )
    }

    /// Removes the bridge and the network's rules; tries both even if one fails.
    fn take_down(&self, n: &NetworkRow) -> Result<()> {
        let rules = firewall::delete_tagged(&firewall::net_tag(&n.id));
        if let Some(i) = netlink::index(&n.bridge) {
            netlink::Rtnl::open()?.del_link(i, &format!("remove the bridge {}", n.bridge))?;
        }
        rules
    }

    /// `berth network rm`: refuses while containers use it.
    pub fn remove(&self, what: &str) -> Result<NetworkRow> {
        let n = self.store.find_network(what)?;
        let _lock = sys::host_lock()?;
        self.store.delete_network(&n.id)?;
        self.take_down(&n)?;
        Ok(n)
    }

    /// `berth network prune`: removes networks no container uses; their names.
    pub fn prune(&self) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for n in self.store.networks()? {
            if n.name != DEFAULT_NETWORK && self.store.endpoints_of_network(&n.id)?.is_empty() {
                match self.remove(&n.id) {
                    Ok(_) => out.push(n.name),
                    Err(Error::Store(berth_store::Error::Conflict(_))) => {} // joined meanwhile
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(out)
    }

    /// Connects a container's network namespace (created if needed) to a network: an
    /// address from IPAM, a veth pair into the bridge, routes, published ports, DNS.
    /// On failure everything this call did is undone.
    pub fn attach(&self, r: &AttachRequest) -> Result<Attached> {
        let n = self.get(&r.network)?;
        self.ensure_up(&n)?;
        let subnet = Subnet::parse(&n.subnet).map_err(Error::Invalid)?;
        let gw: Ipv4Addr = n
            .gateway
            .parse()
            .map_err(|_| Error::Invalid(format!("network {}: bad gateway", n.name)))?;
        let veth = format!("vb{}{}", &r.container[..8], &n.id[..5]);
        let mut chosen_ports = r.ports.clone();
        let row = self
            .store
            .allocate_endpoint(&n.id, &r.container, &mut |t| {
                let address = match r.ip {
                    Some(a) => {
                        ipam::check_address(&subnet, gw, a, t.addresses)
                            .map_err(berth_store::Error::Conflict)?;
                        a
                    }
                    None => ipam::pick_address(&subnet, gw, t.addresses).ok_or_else(|| {
                        berth_store::Error::Conflict(format!(
                            "network {} has no free address left in {subnet}: remove containers from it, or use a network with a larger --subnet",
                            n.name
                        ))
                    })?,
                };
                let ifname = (0..)
                    .map(|i| format!("eth{i}"))
                    .find(|i| !t.ifnames.contains(i))
                    .expect("a free name");
                let mut taken = BTreeSet::new();
                for p in t.ports {
                    for q in serde_json::from_str::<Vec<Port>>(p).unwrap_or_default() {
                        taken.insert((q.proto, q.host_port));
                    }
                }
                chosen_ports = r.ports.clone();
                ports::resolve(&mut chosen_ports, &taken).map_err(berth_store::Error::Conflict)?;
                Ok(EndpointRow {
                    network: n.id.clone(),
                    container: r.container.clone(),
                    address: address.to_string(),
                    ifname,
                    veth: veth.clone(),
                    names: serde_json::to_string(&r.names).expect("serialises"),
                    ports: serde_json::to_string(&chosen_ports).expect("serialises"),
                    dns: serde_json::to_string(&r.dns).expect("serialises"),
                })
            })?;
        let address: Ipv4Addr = row.address.parse().expect("written by us");
        let done = self.plumb(&n, &row, address, subnet.prefix, gw, &chosen_ports);
        if let Err(e) = done {
            let _ = self.detach(&r.container, &n.id);
            return Err(e);
        }
        if let Err(e) = self.start_dns(&n) {
            let _ = self.detach(&r.container, &n.id);
            return Err(e);
        }
        Ok(Attached {
            network: n,
            address,
            prefix: subnet.prefix,
            ifname: row.ifname,
            ports: chosen_ports,
        })
    }

    fn plumb(
        &self,
        n: &NetworkRow,
        row: &EndpointRow,
        address: Ipv4Addr,
        prefix: u8,
        gw: Ipv4Addr,
        ports: &[Port],
    ) -> Result<()> {
        let ns = self.netns_path(&row.container);
        sys::create_netns(&ns)?;
        let mut nl = netlink::Rtnl::open()?;
        if let Some(stale) = netlink::index(&row.veth) {
            // The previous run's pair, still being removed in the background.
            let _ = nl.del_link(stale, "remove a stale veth");
        }
        let master = netlink::index(&n.bridge)
            .ok_or_else(|| Error::Kernel(format!("bridge {} does not exist", n.bridge)))?;
        // The MAC follows the address (as Docker's does), so neighbour caches that still
        // hold an address's previous user stay right when the address is handed out again.
        let o = address.octets();
        let mac = [0x02, 0x42, o[0], o[1], o[2], o[3]];
        let ns_file = std::fs::File::open(&ns)
            .map_err(|e| Error::Kernel(format!("open {}: {e}", ns.display())))?;
        nl.add_veth(&row.veth, master, &row.ifname, mac, &ns_file)?;
        let route = !n.internal && row.ifname == "eth0";
        sys::in_netns(&ns, || {
            let mut nl = netlink::Rtnl::open()?;
            nl.set_up(1, "bring loopback up")?;
            let i = netlink::index(&row.ifname).ok_or_else(|| {
                Error::Kernel(format!("{} did not arrive in the namespace", row.ifname))
            })?;
            nl.add_address(i, address, prefix, &format!("add {address}/{prefix}"))?;
            nl.set_up(i, &format!("bring {} up", row.ifname))?;
            if route {
                nl.add_default_route(gw, i)?;
            }
            Ok(())
        })?;
        if !ports.is_empty() {
            firewall::apply(
                &firewall::port_rules(&row.container, address, ports),
                "publish ports",
            )?;
        }
        Ok(())
    }

    /// Reaps, from a thread, the DNS servers this process started whenever they end, so
    /// that a long-lived monitor does not keep them as zombies. Call it when a thread may
    /// exist (after the container started).
    pub fn reap_dns_servers() {
        let kids: Vec<std::process::Child> =
            std::mem::take(&mut *DNS_SERVERS.lock().unwrap_or_else(|e| e.into_inner()));
        if !kids.is_empty() {
            std::thread::spawn(move || {
                for mut k in kids {
                    let _ = k.wait();
                }
            });
        }
    }

    /// Starts the network's DNS server unless one runs (it exits on its own when idle).
    fn start_dns(&self, n: &NetworkRow) -> Result<()> {
        // This network's server holds its lock while it runs (or exits; a new one waits
        // for it). The port says less: it may still be held by the server of a removed
        // network with the same gateway (`down -v` then `up`), which exits within half a
        // second and leaves the new network without DNS unless its own server starts.
        let lock_path = self
            .store
            .root()
            .join("netns")
            .join(format!("dns-{}.lock", &n.id[..12]));
        if let Ok(f) = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
        {
            if rustix::fs::flock(&f, rustix::fs::FlockOperation::NonBlockingLockExclusive).is_err()
            {
                return Ok(());
            }
        }
        let log = self
            .store
            .root()
            .join("netns")
            .join(format!("dns-{}.log", &n.id[..12]));
        let err = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .map_err(|e| Error::Kernel(format!("open {}: {e}", log.display())))?;
        let mut cmd = std::process::Command::new(&self.self_exe);
        cmd.arg("--root")
            .arg(self.store.root())
            .arg("network-dns")
            .arg(&n.id)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(err);
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let child = cmd
            .spawn()
            .map_err(|e| Error::Kernel(format!("start the DNS server of {}: {e}", n.name)))?;
        // Reaped later by `reap_dns_servers`: no thread here, the caller may be about to
        // fork (the monitor runs libcontainer in-process only while single-threaded).
        DNS_SERVERS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(child);
        // Ready before the container runs: a first lookup sent before the server binds
        // is refused at once (seen as "bad address" from a container started right after
        // the network's first one, when the berth binary was not yet in the page cache).
        // Ready means: it holds the lock and port 53 on the gateway is taken.
        if let Ok(gw) = n.gateway.parse::<Ipv4Addr>() {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
            while std::time::Instant::now() < deadline {
                let locked = std::fs::File::open(&lock_path).is_ok_and(|f| {
                    rustix::fs::flock(&f, rustix::fs::FlockOperation::NonBlockingLockShared)
                        .is_err()
                });
                if locked && std::net::UdpSocket::bind((gw, 53)).is_err() {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
        }
        Ok(())
    }

    /// Releases one endpoint: the veth (its peer goes with it), port rules, the record.
    pub fn detach(&self, container: &str, network_id: &str) -> Result<()> {
        let eps = self.store.endpoints_of_container(container)?;
        let Some(e) = eps.iter().find(|e| e.network == network_id) else {
            return Ok(());
        };
        self.release(e, true)?;
        if eps.len() == 1 {
            sys::remove_netns(&self.netns_path(container))?;
        }
        Ok(())
    }

    /// Removes an endpoint's veth, port rules and record. `wait: false` (a container
    /// that stopped) leaves the veth's removal to a background `ip link del` (deleting a
    /// link waits ~20 ms for the kernel's RCU grace period; the record goes at once, and
    /// unmounting the namespace makes the kernel remove the pair as well).
    fn release(&self, e: &EndpointRow, wait: bool) -> Result<()> {
        if sys::link_exists(&e.veth) {
            if wait {
                if let Some(i) = netlink::index(&e.veth) {
                    netlink::Rtnl::open()?.del_link(i, &format!("remove the veth {}", e.veth))?;
                }
            } else {
                sys::ip_background(&["link", "del", &e.veth]);
            }
        }
        if e.ports != "[]" {
            firewall::delete_tagged(&firewall::ctr_tag(&e.container))?;
        }
        self.store.delete_endpoint(&e.network, &e.container)?;
        Ok(())
    }

    /// Releases everything a container holds on every network, and its namespace. Safe
    /// to call again, and after a crash at any point of `attach`.
    pub fn detach_all(&self, container: &str) -> Result<()> {
        let mut first_err = None;
        for e in self.store.endpoints_of_container(container)? {
            if let Err(x) = self.release(&e, false) {
                first_err.get_or_insert(x);
            }
        }
        if let Err(x) = sys::remove_netns(&self.netns_path(container)) {
            first_err.get_or_insert(x);
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Endpoints of containers that no longer exist (a crash between removing the
    /// container and its endpoints): released by `system prune`.
    pub fn sweep(&self, live: &dyn Fn(&str) -> bool) -> Result<usize> {
        let mut n = 0;
        for e in self.store.endpoints()? {
            if !live(&e.container) {
                self.release(&e, true)?;
                let _ = sys::remove_netns(&self.netns_path(&e.container));
                n += 1;
            }
        }
        Ok(n)
    }
}

/// The bridge's own MAC address: fixed, so that it does not follow its ports' (see
/// `Rtnl::add_bridge`), and made from the gateway address as the containers' are.
fn bridge_mac(gw: Ipv4Addr) -> [u8; 6] {
    let o = gw.octets();
    [0x02, 0x42, o[0], o[1], o[2], o[3]]
}

/// A bridge made by an older berth has no address of its own (the kernel's
/// `addr_assign_type` is not 3, "set"): gives it one, once.
fn fix_bridge_mac(n: &NetworkRow) -> Result<()> {
    let kind = std::fs::read_to_string(format!("/sys/class/net/{}/addr_assign_type", n.bridge))
        .unwrap_or_default();
    if kind.trim() == "3" {
        return Ok(());
    }
    let (Ok(gw), Some(idx)) = (n.gateway.parse::<Ipv4Addr>(), netlink::index(&n.bridge)) else {
        return Ok(());
    };
    netlink::Rtnl::open()?.set_mac(
        idx,
        bridge_mac(gw),
        &format!("give bridge {} a fixed MAC address", n.bridge),
    )
}

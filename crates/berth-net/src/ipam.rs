//! Address arithmetic: IPv4 subnets, picking a container's address, picking a free subnet
//! for a new network. Pure functions; the atomicity lives in the store's transaction.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

/// An IPv4 subnet in CIDR form, normalised (host bits cleared).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subnet {
    pub addr: Ipv4Addr,
    pub prefix: u8,
}

impl Subnet {
    pub fn parse(s: &str) -> Result<Subnet, String> {
        let (a, p) = s
            .split_once('/')
            .ok_or_else(|| format!("invalid subnet {s:?}: use CIDR form, e.g. 10.89.0.0/24"))?;
        let addr: Ipv4Addr = a
            .parse()
            .map_err(|_| format!("invalid subnet {s:?}: {a:?} is not an IPv4 address"))?;
        let prefix: u8 = p
            .parse()
            .ok()
            .filter(|p| *p <= 30 && *p >= 8)
            .ok_or_else(|| format!("invalid subnet {s:?}: the prefix length must be 8 to 30"))?;
        let n = Subnet { addr, prefix };
        if n.network() != addr {
            return Err(format!(
                "invalid subnet {s:?}: host bits are set; did you mean {}?",
                Subnet {
                    addr: n.network(),
                    prefix
                }
            ));
        }
        Ok(n)
    }

    fn mask(&self) -> u32 {
        if self.prefix == 0 {
            0
        } else {
            u32::MAX << (32 - self.prefix)
        }
    }

    pub fn network(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) & self.mask())
    }

    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) | !self.mask())
    }

    pub fn contains(&self, a: Ipv4Addr) -> bool {
        u32::from(a) & self.mask() == u32::from(self.network())
    }

    pub fn overlaps(&self, o: &Subnet) -> bool {
        self.contains(o.network()) || o.contains(self.network())
    }

    /// The first usable address (the gateway by convention).
    pub fn first_host(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network()) + 1)
    }
}

impl std::fmt::Display for Subnet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// The lowest free host address in `subnet`, skipping the gateway and `taken`.
pub fn pick_address(
    subnet: &Subnet,
    gateway: Ipv4Addr,
    taken: &BTreeSet<String>,
) -> Option<Ipv4Addr> {
    let first = u32::from(subnet.network()) + 1;
    let last = u32::from(subnet.broadcast()) - 1;
    (first..=last)
        .map(Ipv4Addr::from)
        .find(|a| *a != gateway && !taken.contains(&a.to_string()))
}

/// Checks a requested address (`--ip`).
pub fn check_address(
    subnet: &Subnet,
    gateway: Ipv4Addr,
    a: Ipv4Addr,
    taken: &BTreeSet<String>,
) -> Result<(), String> {
    if !subnet.contains(a) || a == subnet.network() || a == subnet.broadcast() {
        return Err(format!(
            "address {a} is not a usable address of the network's subnet {subnet}"
        ));
    }
    if a == gateway {
        return Err(format!("address {a} is the network's gateway"));
    }
    if taken.contains(&a.to_string()) {
        return Err(format!(
            "address {a} is already in use on this network: choose another --ip, or leave it out"
        ));
    }
    Ok(())
}

/// The candidate subnets for new networks, in order: 10.88.0.0/24 .. 10.127.255.0/24.
pub fn candidates() -> impl Iterator<Item = Subnet> {
    (88u32..128).flat_map(|b| {
        (0u32..256).map(move |c| Subnet {
            addr: Ipv4Addr::new(10, b as u8, c as u8, 0),
            prefix: 24,
        })
    })
}

/// The first candidate that overlaps none of `used` (host routes and other networks).
pub fn pick_subnet(used: &[Subnet]) -> Option<Subnet> {
    candidates().find(|c| !used.iter().any(|u| u.overlaps(c)))
}

/// IPv4 routes of the host (its main table), as subnets; default routes are left out.
pub fn host_routes() -> Vec<Subnet> {
    let text = std::fs::read_to_string("/proc/net/route").unwrap_or_default();
    parse_proc_route(&text)
}

/// The subnets of every IPv4 address on the host's interfaces, also those that are down
/// and so have no route (a bridge left behind by a deleted store, a VPN link not up yet):
/// a new network must not reuse their addresses either.
pub fn host_interface_subnets() -> Vec<Subnet> {
    let Ok(addrs) = nix::ifaddrs::getifaddrs() else {
        return Vec::new();
    };
    addrs
        .filter_map(|a| {
            let ip = a.address?.as_sockaddr_in()?.ip();
            let mask = a.netmask?.as_sockaddr_in()?.ip();
            let prefix = u32::from(mask).count_ones() as u8;
            if ip.is_loopback() || prefix == 0 {
                return None;
            }
            let net = u32::from(ip) & u32::from(mask);
            Some(Subnet {
                addr: Ipv4Addr::from(net),
                prefix,
            })
        })
        .collect()
}

fn parse_proc_route(text: &str) -> Vec<Subnet> {
    let mut out = Vec::new();
    for l in text.lines().skip(1) {
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.len() < 8 {
            continue;
        }
        let (Ok(dst), Ok(mask)) = (u32::from_str_radix(f[1], 16), u32::from_str_radix(f[7], 16))
        else {
            continue;
        };
        // /proc/net/route prints the raw network-order word as a host-order number.
        let dst = Ipv4Addr::from(dst.to_le_bytes());
        if mask == 0 {
            continue;
        }
        out.push(Subnet {
            addr: dst,
            prefix: mask.count_ones() as u8,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_contains() {
        let s = Subnet::parse("10.89.3.0/24").unwrap();
        assert!(s.contains("10.89.3.77".parse().unwrap()));
        assert!(!s.contains("10.89.4.1".parse().unwrap()));
        assert_eq!(s.first_host().to_string(), "10.89.3.1");
        assert_eq!(s.broadcast().to_string(), "10.89.3.255");
        assert!(Subnet::parse("10.89.3.1/24")
            .unwrap_err()
            .contains("did you mean 10.89.3.0/24"));
        assert!(Subnet::parse("10.89.3.0").is_err());
        assert!(Subnet::parse("10.89.3.0/31").is_err());
        assert!(Subnet::parse("10.0.0.0/8")
            .unwrap()
            .overlaps(&Subnet::parse("10.2.0.0/16").unwrap()));
    }

    #[test]
    fn addresses_skip_gateway_and_taken_and_run_out() {
        let s = Subnet::parse("10.1.0.0/30").unwrap();
        let gw = s.first_host();
        let mut taken = BTreeSet::new();
        let a = pick_address(&s, gw, &taken).unwrap();
        assert_eq!(a.to_string(), "10.1.0.2");
        taken.insert(a.to_string());
        assert_eq!(
            pick_address(&s, gw, &taken),
            None,
            "a /30 holds one container"
        );
        assert!(check_address(&s, gw, "10.1.0.2".parse().unwrap(), &taken).is_err());
        assert!(check_address(&s, gw, gw, &BTreeSet::new()).is_err());
        assert!(check_address(&s, gw, "10.1.0.3".parse().unwrap(), &BTreeSet::new()).is_err());
    }

    #[test]
    fn subnets_avoid_routes() {
        let used = vec![
            Subnet::parse("10.88.0.0/16").unwrap(),
            Subnet::parse("10.89.0.0/24").unwrap(),
        ];
        assert_eq!(pick_subnet(&used).unwrap().to_string(), "10.89.1.0/24");
    }

    #[test]
    fn proc_route() {
        let t =
            "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
                 eth0\t00000000\t0100000A\t0003\t0\t0\t0\t00000000\t0\t0\t0\n\
                 br0\t0000580A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n";
        let r = parse_proc_route(t);
        assert_eq!(r, vec![Subnet::parse("10.88.0.0/24").unwrap()]);
    }
}

//! Published ports: `-p [IP:][HOST:]CTR[/tcp|udp]` parsing and random host port choice.

use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::net::Ipv4Addr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    Tcp,
    Udp,
}

impl Proto {
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }
}

/// One published port. `host_port` 0 means "pick a free one" until resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Port {
    pub host_ip: Option<Ipv4Addr>,
    pub host_port: u16,
    pub container_port: u16,
    pub proto: Proto,
}

impl std::fmt::Display for Port {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}/{} -> {}:{}",
            self.container_port,
            self.proto.as_str(),
            self.host_ip.unwrap_or(Ipv4Addr::UNSPECIFIED),
            self.host_port
        )
    }
}

fn port_num(s: &str, spec: &str) -> Result<u16, String> {
    if s.contains('-') {
        return Err(format!(
            "invalid port mapping {spec:?}: port ranges are not supported; give one -p per port"
        ));
    }
    s.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(|| {
        format!("invalid port mapping {spec:?}: {s:?} is not a port number (1-65535)")
    })
}

/// Parses `-p` values: `80`, `8080:80`, `127.0.0.1:8080:80`, `127.0.0.1::80`, `/udp`.
pub fn parse(spec: &str) -> Result<Port, String> {
    let (rest, proto) = match spec.rsplit_once('/') {
        Some((r, "tcp")) => (r, Proto::Tcp),
        Some((r, "udp")) => (r, Proto::Udp),
        Some((_, p)) => {
            return Err(format!(
                "invalid port mapping {spec:?}: unknown protocol {p:?} (use tcp or udp)"
            ))
        }
        None => (spec, Proto::Tcp),
    };
    let parts: Vec<&str> = rest.split(':').collect();
    let (ip, host, ctr) = match parts.as_slice() {
        [c] => (None, "", *c),
        [h, c] => (None, *h, *c),
        [ip, h, c] => (Some(*ip), *h, *c),
        _ => {
            return Err(format!(
                "invalid port mapping {spec:?}: use [IP:][HOST_PORT:]CONTAINER_PORT[/tcp|udp] (IPv6 is not supported)"
            ))
        }
    };
    let host_ip =
        match ip {
            None | Some("") => None,
            Some(i) => Some(i.parse::<Ipv4Addr>().map_err(|_| {
                format!("invalid port mapping {spec:?}: {i:?} is not an IPv4 address")
            })?),
        };
    Ok(Port {
        host_ip,
        host_port: if host.is_empty() {
            0
        } else {
            port_num(host, spec)?
        },
        container_port: port_num(ctr, spec)?,
        proto,
    })
}

/// Parses an image's `ExposedPorts` key (`80/tcp`).
pub fn parse_exposed(key: &str) -> Option<Port> {
    let p = parse(key).ok()?;
    (p.host_port == 0 && p.host_ip.is_none()).then_some(p)
}

/// Gives every port with host port 0 a free one: free for the kernel now (a bind works)
/// and not published by another container of this store (`taken`).
pub fn resolve(ports: &mut [Port], taken: &BTreeSet<(Proto, u16)>) -> Result<(), String> {
    let mut mine: BTreeSet<(Proto, u16)> = BTreeSet::new();
    for p in ports.iter() {
        if p.host_port != 0 {
            if taken.contains(&(p.proto, p.host_port)) || !mine.insert((p.proto, p.host_port)) {
                return Err(format!(
                    "host port {}/{} is already published by another container: choose another with -p HOST:{}",
                    p.host_port,
                    p.proto.as_str(),
                    p.container_port
                ));
            }
            if !host_port_free(p.proto, p.host_ip, p.host_port) {
                return Err(format!(
                    "host port {}/{} is in use by a process on this host: choose another with -p HOST:{}",
                    p.host_port,
                    p.proto.as_str(),
                    p.container_port
                ));
            }
        }
    }
    for p in ports.iter_mut().filter(|p| p.host_port == 0) {
        let mut found = None;
        for _ in 0..64 {
            let n = ephemeral(p.proto)
                .ok_or_else(|| "cannot find a free host port: the kernel gave none".to_string())?;
            if !taken.contains(&(p.proto, n)) && !mine.contains(&(p.proto, n)) {
                found = Some(n);
                break;
            }
        }
        let n = found.ok_or_else(|| "cannot find a free host port".to_string())?;
        mine.insert((p.proto, n));
        p.host_port = n;
    }
    Ok(())
}

fn host_port_free(proto: Proto, ip: Option<Ipv4Addr>, port: u16) -> bool {
    let a = (ip.unwrap_or(Ipv4Addr::UNSPECIFIED), port);
    match proto {
        Proto::Tcp => std::net::TcpListener::bind(a).is_ok(),
        Proto::Udp => std::net::UdpSocket::bind(a).is_ok(),
    }
}

fn ephemeral(proto: Proto) -> Option<u16> {
    let a = (Ipv4Addr::UNSPECIFIED, 0);
    match proto {
        Proto::Tcp => std::net::TcpListener::bind(a)
            .ok()?
            .local_addr()
            .ok()
            .map(|a| a.port()),
        Proto::Udp => std::net::UdpSocket::bind(a)
            .ok()?
            .local_addr()
            .ok()
            .map(|a| a.port()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let p = parse("127.0.0.1:8080:80/udp").unwrap();
        assert_eq!(p.host_ip, Some(Ipv4Addr::LOCALHOST));
        assert_eq!(
            (p.host_port, p.container_port, p.proto),
            (8080, 80, Proto::Udp)
        );
        let p = parse("80").unwrap();
        assert_eq!(
            (p.host_port, p.container_port, p.proto),
            (0, 80, Proto::Tcp)
        );
        let p = parse("127.0.0.1::80").unwrap();
        assert_eq!((p.host_port, p.container_port), (0, 80));
        assert!(parse("80/sctp").unwrap_err().contains("protocol"));
        assert!(parse("8000-8001:80-81").unwrap_err().contains("ranges"));
        assert!(parse("x:80").unwrap_err().contains("not a port"));
        assert!(parse("1.2.3:80:80").unwrap_err().contains("IPv4"));
        assert_eq!(parse_exposed("443/tcp").unwrap().container_port, 443);
    }

    #[test]
    fn random_ports_are_distinct_and_taken_ones_refused() {
        let mut ports = vec![parse("80").unwrap(), parse("81").unwrap()];
        resolve(&mut ports, &BTreeSet::new()).unwrap();
        assert!(ports[0].host_port != 0 && ports[0].host_port != ports[1].host_port);
        let taken: BTreeSet<_> = [(Proto::Tcp, 18080)].into();
        let mut ports = vec![parse("18080:80").unwrap()];
        assert!(resolve(&mut ports, &taken)
            .unwrap_err()
            .contains("already published"));
    }
}

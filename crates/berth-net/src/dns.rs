//! The embedded DNS of a bridge network: a small UDP responder on the network's gateway
//! address that answers A queries for the network's container names and aliases from the
//! store, and forwards every other query to the host's resolvers (not for internal
//! networks: those get REFUSED). It runs as `berth network-dns ID`, started by the first
//! container that joins, and exits a few seconds after the last one left (ADR 0032).

use berth_store::Store;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::Path;
use std::time::{Duration, Instant};

pub const TYPE_A: u16 = 1;
pub const TYPE_AAAA: u16 = 28;

/// The question of a query.
#[derive(Debug, PartialEq)]
pub struct Question {
    pub id: u16,
    pub flags: u16,
    /// Lowercase, without the final dot.
    pub name: String,
    pub qtype: u16,
    pub qclass: u16,
    /// Where the question section ends in the message.
    pub end: usize,
}

pub fn parse_query(m: &[u8]) -> Option<Question> {
    if m.len() < 12 {
        return None;
    }
    let id = u16::from_be_bytes([m[0], m[1]]);
    let flags = u16::from_be_bytes([m[2], m[3]]);
    let qd = u16::from_be_bytes([m[4], m[5]]);
    if flags & 0x8000 != 0 || qd == 0 {
        return None;
    }
    let mut i = 12;
    let mut labels: Vec<String> = Vec::new();
    loop {
        let n = *m.get(i)? as usize;
        i += 1;
        if n == 0 {
            break;
        }
        if n & 0xc0 != 0 {
            return None; // compression in a question: not from a stub resolver
        }
        let l = m.get(i..i + n)?;
        labels.push(String::from_utf8_lossy(l).to_ascii_lowercase());
        i += n;
    }
    let t = m.get(i..i + 4)?;
    Some(Question {
        id,
        flags,
        name: labels.join("."),
        qtype: u16::from_be_bytes([t[0], t[1]]),
        qclass: u16::from_be_bytes([t[2], t[3]]),
        end: i + 4,
    })
}

/// A response to `q` (whose message is `m`) with A records `addrs` and `rcode`.
pub fn answer(m: &[u8], q: &Question, addrs: &[Ipv4Addr], rcode: u8) -> Vec<u8> {
    let mut r = Vec::with_capacity(q.end + 16 * addrs.len());
    r.extend_from_slice(&q.id.to_be_bytes());
    let flags: u16 = 0x8000 | 0x0400 | (q.flags & 0x0100) | 0x0080 | (rcode as u16 & 0xf);
    r.extend_from_slice(&flags.to_be_bytes());
    r.extend_from_slice(&1u16.to_be_bytes());
    r.extend_from_slice(&(addrs.len() as u16).to_be_bytes());
    r.extend_from_slice(&[0, 0, 0, 0]);
    r.extend_from_slice(&m[12..q.end]);
    for a in addrs {
        r.extend_from_slice(&[0xc0, 0x0c]); // the name in the question
        r.extend_from_slice(&TYPE_A.to_be_bytes());
        r.extend_from_slice(&1u16.to_be_bytes());
        r.extend_from_slice(&0u32.to_be_bytes()); // TTL 0: containers come and go
        r.extend_from_slice(&4u16.to_be_bytes());
        r.extend_from_slice(&a.octets());
    }
    r
}

/// The host's name servers (loopback ones included: this process runs on the host).
pub fn host_resolvers() -> Vec<SocketAddr> {
    let text = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("nameserver"))
        .filter_map(|a| a.trim().parse::<std::net::IpAddr>().ok())
        .map(|ip| SocketAddr::new(ip, 53))
        .collect()
}

/// The addresses of `name` as seen by the container at `client` on `network`: names on
/// this network first, then on the other networks that container is connected to (as
/// Docker's resolver does), each answered with the address on that shared network.
fn lookup(store: &Store, network: &str, client: Ipv4Addr, name: &str) -> Vec<Ipv4Addr> {
    let here = store.endpoints_of_network(network).unwrap_or_default();
    let mut nets = vec![network.to_string()];
    if let Some(me) = here.iter().find(|e| e.address == client.to_string()) {
        for e in store
            .endpoints_of_container(&me.container)
            .unwrap_or_default()
        {
            if !nets.contains(&e.network) {
                nets.push(e.network);
            }
        }
    }
    for n in nets {
        let found = lookup_on(store, &n, name);
        if !found.is_empty() {
            return found;
        }
    }
    vec![]
}

fn lookup_on(store: &Store, network: &str, name: &str) -> Vec<Ipv4Addr> {
    let mut out = Vec::new();
    for e in store.endpoints_of_network(network).unwrap_or_default() {
        let names: Vec<String> = serde_json::from_str(&e.names).unwrap_or_default();
        if names.iter().any(|n| n.eq_ignore_ascii_case(name)) {
            if let Ok(a) = e.address.parse() {
                out.push(a);
            }
        }
    }
    out
}

/// The answer berth gives itself: a name of the asking container's networks, or REFUSED
/// when there is nowhere to forward to. None: forward it.
fn local_answer(
    store: &Store,
    network: &str,
    from: SocketAddr,
    m: &[u8],
    q: &Question,
    no_upstream: bool,
) -> Option<Vec<u8>> {
    let short = q.name.trim_end_matches(".berth");
    let found = match (q.qclass, from.ip()) {
        (1, std::net::IpAddr::V4(client)) => lookup(store, network, client, short),
        _ => vec![],
    };
    if !found.is_empty() {
        let addrs = if q.qtype == TYPE_A { found } else { vec![] };
        return Some(answer(m, q, &addrs, 0));
    }
    no_upstream.then(|| answer(m, q, &[], 5))
}

/// Where to forward `client`'s queries: its own DNS servers (`--dns`) if it has any,
/// else `default` (the host's resolvers; none on an internal network).
fn upstream_for(
    store: &Store,
    network: &str,
    client: SocketAddr,
    default: &[SocketAddr],
) -> Vec<SocketAddr> {
    if default.is_empty() {
        return vec![]; // internal: nothing leaves the network
    }
    let own: Vec<SocketAddr> = store
        .endpoints_of_network(network)
        .unwrap_or_default()
        .into_iter()
        .find(|e| e.address == client.ip().to_string())
        .map(|e| serde_json::from_str::<Vec<String>>(&e.dns).unwrap_or_default())
        .unwrap_or_default()
        .iter()
        .filter_map(|d| d.parse::<std::net::IpAddr>().ok())
        .map(|ip| SocketAddr::new(ip, 53))
        .collect();
    if own.is_empty() {
        default.to_vec()
    } else {
        own
    }
}

/// DNS over TCP (clients retry there when a UDP answer was truncated): the same local
/// answers, other queries relayed over TCP to the host's resolvers.
fn serve_tcp(
    root: std::path::PathBuf,
    network: String,
    l: std::net::TcpListener,
    upstream: Vec<SocketAddr>,
) {
    use std::io::{Read, Write};
    for conn in l.incoming().flatten() {
        let (root, network, upstream) = (root.clone(), network.clone(), upstream.clone());
        std::thread::spawn(move || {
            let Ok(store) = Store::open(&root) else {
                return;
            };
            let mut c = conn;
            let _ = c.set_read_timeout(Some(Duration::from_secs(10)));
            let Ok(from) = c.peer_addr() else { return };
            loop {
                let mut len = [0u8; 2];
                if c.read_exact(&mut len).is_err() {
                    return;
                }
                let mut m = vec![0u8; u16::from_be_bytes(len) as usize];
                if c.read_exact(&mut m).is_err() {
                    return;
                }
                let reply = match parse_query(&m) {
                    Some(q) => {
                        match local_answer(&store, &network, from, &m, &q, upstream.is_empty()) {
                            Some(r) => Some(r),
                            None => upstream_for(&store, &network, from, &upstream)
                                .iter()
                                .find_map(|u| {
                                    let mut s = std::net::TcpStream::connect_timeout(
                                        u,
                                        Duration::from_secs(3),
                                    )
                                    .ok()?;
                                    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
                                    s.write_all(&[&len[..], &m].concat()).ok()?;
                                    let mut rl = [0u8; 2];
                                    s.read_exact(&mut rl).ok()?;
                                    let mut r = vec![0u8; u16::from_be_bytes(rl) as usize];
                                    s.read_exact(&mut r).ok()?;
                                    Some(r)
                                }),
                        }
                    }
                    None => None,
                };
                let Some(r) = reply else { return };
                let framed = [&(r.len() as u16).to_be_bytes()[..], &r].concat();
                if c.write_all(&framed).is_err() {
                    return;
                }
            }
        });
    }
}

/// Serves the network's DNS until it has had no endpoints for `idle`.
pub fn serve(root: &Path, network: &str, idle: Duration) -> crate::Result<()> {
    let store = Store::open(root)?;
    let net = store.find_network(network)?;
    let gw: Ipv4Addr = net
        .gateway
        .parse()
        .map_err(|_| crate::Error::Invalid(format!("bad gateway {}", net.gateway)))?;
    // One server per network: the lock says who. A holder that still serves has the
    // port bound (then this one is not needed); one that is exiting lets go shortly.
    let lock_path = root
        .join("netns")
        .join(format!("dns-{}.lock", &net.id[..12]));
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| crate::Error::Kernel(format!("open {}: {e}", lock_path.display())))?;
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match rustix::fs::flock(&lock, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => break,
            Err(_) if UdpSocket::bind((gw, 53)).is_err() => return Ok(()), // it serves
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => {
                return Err(crate::Error::Kernel(format!(
                    "lock {}: {e}",
                    lock_path.display()
                )))
            }
        }
    }
    let bind = || -> crate::Result<UdpSocket> {
        // The starter's probe may hold the port for a moment: retry briefly.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            match UdpSocket::bind((gw, 53)) {
                Ok(s) => {
                    s.set_read_timeout(Some(Duration::from_millis(500)))
                        .map_err(|e| crate::Error::Kernel(format!("DNS socket: {e}")))?;
                    return Ok(s);
                }
                Err(_) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                Err(e) => {
                    return Err(crate::Error::Kernel(format!(
                        "bind the DNS server to {gw}:53: {e}"
                    )))
                }
            }
        }
    };
    let mut sock = bind()?;
    let upstream = if net.internal {
        vec![]
    } else {
        host_resolvers()
    };
    // TCP beside UDP; it stays bound for the life of this process (a successor waits
    // for our lock, so it never finds the port taken by us).
    let tcp_deadline = Instant::now() + Duration::from_secs(5);
    let tcp = loop {
        match std::net::TcpListener::bind((gw, 53)) {
            Ok(l) => break l,
            Err(_) if Instant::now() < tcp_deadline => {
                std::thread::sleep(Duration::from_millis(20))
            }
            Err(e) => {
                return Err(crate::Error::Kernel(format!(
                    "bind the DNS server to {gw}:53/tcp: {e}"
                )))
            }
        }
    };
    {
        let (root, id, ups) = (root.to_path_buf(), net.id.clone(), upstream.clone());
        std::thread::spawn(move || serve_tcp(root, id, tcp, ups));
    }
    let mut last_used = Instant::now();
    let mut last_check = Instant::now();
    let mut buf = [0u8; 1500];
    loop {
        if last_check.elapsed() > Duration::from_millis(500) {
            last_check = Instant::now();
            match store.endpoints_of_network(&net.id) {
                Ok(v) if !v.is_empty() => last_used = Instant::now(),
                Ok(_) => {}
                Err(_) => return Ok(()), // the network is gone
            }
            if store.find_network(&net.id).is_err() {
                return Ok(());
            }
            if last_used.elapsed() > idle {
                // Let the port go, then look again: a container that joined in between
                // found the port free and started a server, which waits for our lock.
                drop(sock);
                if store
                    .endpoints_of_network(&net.id)
                    .map(|v| v.is_empty())
                    .unwrap_or(true)
                {
                    return Ok(());
                }
                sock = bind()?;
                last_used = Instant::now();
            }
        }
        let (n, from) = match sock.recv_from(&mut buf) {
            Ok(x) => x,
            Err(_) => continue,
        };
        let m = &buf[..n];
        let Some(q) = parse_query(m) else {
            continue;
        };
        if let Some(r) = local_answer(&store, &net.id, from, m, &q, upstream.is_empty()) {
            let _ = sock.send_to(&r, from);
            continue;
        }
        // Only for queries that leave the network (empty exactly when `upstream` is).
        let ups = upstream_for(&store, &net.id, from, &upstream);
        let query = m.to_vec();
        let reply_sock = match sock.try_clone() {
            Ok(s) => s,
            Err(_) => continue,
        };
        std::thread::spawn(move || {
            for u in ups {
                let bind: SocketAddr = if u.is_ipv4() {
                    (Ipv4Addr::UNSPECIFIED, 0).into()
                } else {
                    (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
                };
                let Ok(s) = UdpSocket::bind(bind) else {
                    continue;
                };
                let _ = s.set_read_timeout(Some(Duration::from_secs(3)));
                if s.send_to(&query, u).is_err() {
                    continue;
                }
                let mut b = [0u8; 4096];
                if let Ok((n, _)) = s.recv_from(&mut b) {
                    let _ = reply_sock.send_to(&b[..n], from);
                    return;
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(name: &str, qtype: u16) -> Vec<u8> {
        let mut m = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        for l in name.split('.') {
            m.push(l.len() as u8);
            m.extend_from_slice(l.as_bytes());
        }
        m.push(0);
        m.extend_from_slice(&qtype.to_be_bytes());
        m.extend_from_slice(&1u16.to_be_bytes());
        m
    }

    #[test]
    fn parses_and_answers() {
        let m = query("Web.berth", TYPE_A);
        let q = parse_query(&m).unwrap();
        assert_eq!(
            (q.id, q.name.as_str(), q.qtype, q.end),
            (0x1234, "web.berth", 1, m.len())
        );
        let r = answer(&m, &q, &["10.1.0.2".parse().unwrap()], 0);
        assert_eq!(&r[0..2], &[0x12, 0x34]);
        assert_eq!(r[2] & 0x80, 0x80, "a response");
        assert_eq!(u16::from_be_bytes([r[6], r[7]]), 1, "one answer");
        assert_eq!(&r[r.len() - 4..], &[10, 1, 0, 2]);
        let r = answer(&m, &q, &[], 5);
        assert_eq!(r[3] & 0xf, 5);
        assert_eq!(r.len(), m.len());
    }

    #[test]
    fn rejects_garbage() {
        assert!(parse_query(&[0; 5]).is_none());
        let mut m = query("a", TYPE_A);
        m[2] |= 0x80; // a response, not a query
        assert!(parse_query(&m).is_none());
        let m = query("abc", TYPE_A);
        assert!(parse_query(&m[..m.len() - 2]).is_none());
    }
}

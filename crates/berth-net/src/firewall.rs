//! nftables: one `ip berth` table shared by every berth root on the host. Rules a network
//! or a container adds carry a comment naming it (`berth-net:<id>`, `berth-ctr:<id>`);
//! removal lists the table and deletes exactly the rules with that comment, by handle.

use crate::ports::{Port, Proto};
use crate::sys::{nft, nft_out};
use crate::{Error, Result};
use std::net::Ipv4Addr;

pub const TABLE: &str = "berth";

const TABLE_SCRIPT: &str = "table ip berth {
  chain ports { }
  chain prerouting { type nat hook prerouting priority dstnat; policy accept; fib daddr type local jump ports; }
  chain output { type nat hook output priority -100; policy accept; fib daddr type local jump ports; }
  chain postrouting { type nat hook postrouting priority srcnat; policy accept; }
  chain forward { type filter hook forward priority filter; policy accept; }
  chain input { type filter hook input priority filter; policy accept; }
}
";

pub fn net_tag(id: &str) -> String {
    format!("berth-net:{id}")
}

pub fn ctr_tag(id: &str) -> String {
    format!("berth-ctr:{id}")
}

/// Creates the table with its base chains if it is missing. Call under the host lock.
pub fn ensure_table() -> Result<()> {
    if nft_out(&["list", "table", "ip", TABLE])?.is_some() {
        return Ok(());
    }
    nft(TABLE_SCRIPT, "create the nftables table ip berth")
}

/// The rules of one network: NAT out (unless internal), 127.0.0.1 publishing, hairpin,
/// and for internal networks the drops that keep traffic inside the bridge.
pub fn network_rules(
    id: &str,
    bridge: &str,
    subnet: &str,
    gateway: Ipv4Addr,
    internal: bool,
) -> String {
    let c = net_tag(id);
    let mut s = String::new();
    if !internal {
        s += &format!("add rule ip berth postrouting ip saddr {subnet} ip daddr != {subnet} masquerade comment \"{c}\"\n");
    } else {
        s += &format!("add rule ip berth forward iifname \"{bridge}\" oifname != \"{bridge}\" drop comment \"{c}\"\n");
        s += &format!("add rule ip berth forward oifname \"{bridge}\" iifname != \"{bridge}\" drop comment \"{c}\"\n");
        s += &format!("add rule ip berth input iifname \"{bridge}\" ip daddr != {gateway} drop comment \"{c}\"\n");
    }
    s += &format!("add rule ip berth postrouting oifname \"{bridge}\" ip saddr 127.0.0.0/8 masquerade comment \"{c}\"\n");
    // route_localnet on the bridge (for 127.0.0.1 publishing) must not let containers
    // reach the host's loopback services (CVE-2020-8558): only replies of DNAT'd
    // connections may carry a 127/8 destination in from the bridge.
    s += &format!("add rule ip berth input iifname \"{bridge}\" ip daddr 127.0.0.0/8 ct status and dnat == 0 drop comment \"{c}\"\n");
    s += &format!("add rule ip berth postrouting oifname \"{bridge}\" iifname \"{bridge}\" ct status dnat masquerade comment \"{c}\"\n");
    s
}

/// DNAT rules publishing `ports` of a container at `addr`.
pub fn port_rules(container: &str, addr: Ipv4Addr, ports: &[Port]) -> String {
    let c = ctr_tag(container);
    let mut s = String::new();
    for p in ports {
        let daddr = match p.host_ip {
            Some(ip) if !ip.is_unspecified() => format!("ip daddr {ip} "),
            _ => String::new(),
        };
        let proto = match p.proto {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        };
        s += &format!(
            "add rule ip berth ports {daddr}{proto} dport {} dnat to {addr}:{} comment \"{c}\"\n",
            p.host_port, p.container_port
        );
    }
    s
}

pub fn apply(script: &str, what: &str) -> Result<()> {
    if script.is_empty() {
        return Ok(());
    }
    nft(script, what)
}

/// Deletes every rule of the berth table whose comment is `tag`.
pub fn delete_tagged(tag: &str) -> Result<()> {
    let Some(json) = nft_out(&["-j", "list", "table", "ip", TABLE])? else {
        return Ok(()); // no table: nothing to delete
    };
    let v: serde_json::Value = serde_json::from_str(&json)
        .map_err(|e| Error::Kernel(format!("read nft's JSON listing: {e}")))?;
    let mut script = String::new();
    for item in v["nftables"].as_array().into_iter().flatten() {
        let Some(rule) = item.get("rule") else {
            continue;
        };
        if rule["comment"].as_str() == Some(tag) {
            script += &format!(
                "delete rule ip berth {} handle {}\n",
                rule["chain"].as_str().unwrap_or_default(),
                rule["handle"]
            );
        }
    }
    apply(&script, &format!("remove the nftables rules of {tag}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_are_tagged() {
        let r = network_rules(
            "n1",
            "br-n1",
            "10.1.0.0/24",
            "10.1.0.1".parse().unwrap(),
            true,
        );
        assert!(r.lines().all(|l| l.ends_with("comment \"berth-net:n1\"")));
        assert!(!r.contains("ip daddr != 10.1.0.0/24 masquerade"));
        let r = network_rules(
            "n1",
            "br-n1",
            "10.1.0.0/24",
            "10.1.0.1".parse().unwrap(),
            false,
        );
        assert!(r.contains("masquerade"));
        assert!(
            !r.contains("forward"),
            "not internal: forwarding is not dropped"
        );
        assert!(r.contains("ip daddr 127.0.0.0/8 ct status and dnat == 0 drop"));
        let p = port_rules(
            "c1",
            "10.1.0.2".parse().unwrap(),
            &[Port {
                host_ip: Some("127.0.0.1".parse().unwrap()),
                host_port: 8080,
                container_port: 80,
                proto: Proto::Udp,
            }],
        );
        assert_eq!(p, "add rule ip berth ports ip daddr 127.0.0.1 udp dport 8080 dnat to 10.1.0.2:80 comment \"berth-ctr:c1\"\n");
    }
}

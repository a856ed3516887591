//! network create/ls/inspect/rm/prune/connect/disconnect, port, and the hidden
//! network-dns server.

use super::open_store;
use crate::cli::NetworkCommand;
use crate::output::{table, Format};
use anyhow::{bail, Result};
use berth_net::CreateNetwork;
use berth_runtime::Runtime;
use serde_json::{json, Value};
use std::path::Path;

fn network_json(rt: &Runtime, n: &berth_store::networks::NetworkRow) -> Result<Value> {
    let mut containers = serde_json::Map::new();
    for e in rt.store.endpoints_of_network(&n.id)? {
        let name = rt.get(&e.container).map(|c| c.name).unwrap_or_default();
        containers.insert(
            e.container.clone(),
            json!({"Name": name, "IPv4Address": format!("{}/{}", e.address, n.subnet.split('/').nth(1).unwrap_or("24")),
                   "Interface": e.ifname, "HostInterface": e.veth,
                   "Aliases": serde_json::from_str::<Value>(&e.names).unwrap_or(json!([]))}),
        );
    }
    Ok(json!({
        "Name": n.name, "Id": n.id, "Created": crate::output::rfc3339(n.created),
        "Driver": "bridge", "Scope": "local", "Internal": n.internal,
        "IPAM": {"Driver": "default", "Config": [{"Subnet": n.subnet, "Gateway": n.gateway}]},
        "Options": {"com.docker.network.bridge.name": n.bridge},
        "Labels": serde_json::from_str::<Value>(&n.labels).unwrap_or(json!({})),
        "Containers": containers,
    }))
}

pub fn network(root: &Path, cmd: NetworkCommand) -> Result<i32> {
    let rt = Runtime::new(open_store(root)?);
    let net = rt.net();
    match cmd {
        NetworkCommand::Create {
            name,
            subnet,
            gateway,
            internal,
            labels,
            driver,
        } => {
            if driver != "bridge" {
                bail!("network driver {driver:?} is not supported: berth has bridge networks only");
            }
            let labels = labels
                .iter()
                .map(|l| {
                    l.split_once('=')
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .unwrap_or((l.clone(), String::new()))
                })
                .collect();
            let n = net.create(&CreateNetwork {
                name,
                subnet,
                gateway,
                internal,
                labels,
            })?;
            println!("{}", n.id);
        }
        NetworkCommand::Ls { quiet, format } => {
            let nets = rt.store.networks()?;
            if quiet {
                for n in nets {
                    println!("{}", &n.id[..12]);
                }
                return Ok(0);
            }
            match Format::parse(format.as_deref()) {
                Format::Table => table(
                    &[
                        "NETWORK ID",
                        "NAME",
                        "DRIVER",
                        "SUBNET",
                        "BRIDGE",
                        "INTERNAL",
                    ],
                    &nets
                        .iter()
                        .map(|n| {
                            vec![
                                n.id[..12].to_string(),
                                n.name.clone(),
                                "bridge".into(),
                                n.subnet.clone(),
                                n.bridge.clone(),
                                n.internal.to_string(),
                            ]
                        })
                        .collect::<Vec<_>>(),
                ),
                f => f.print_objects(
                    &nets
                        .iter()
                        .map(|n| network_json(&rt, n))
                        .collect::<Result<Vec<_>>>()?,
                )?,
            }
        }
        NetworkCommand::Inspect { names } => {
            let mut out = Vec::new();
            for n in names {
                out.push(network_json(&rt, &rt.store.find_network(&n)?)?);
            }
            println!("{}", serde_json::to_string_pretty(&out)?);
        }
        NetworkCommand::Rm { names } => {
            return super::containers::each(&names, |n| {
                net.remove(n)?;
                Ok(())
            })
        }
        NetworkCommand::Prune { force } => {
            if !force
                && !super::confirm(
                    "WARNING! This will remove all networks not used by at least one container. Are you sure you want to continue?",
                )
            {
                return Ok(0);
            }
            rt.sweep_endpoints()?;
            let removed = net.prune()?;
            if !removed.is_empty() {
                println!("Deleted Networks:");
                for n in removed {
                    println!("{n}");
                }
            }
        }
        NetworkCommand::Connect {
            network,
            container,
            alias,
            ip,
        } => rt.network_connect(&network, &container, &alias, ip)?,
        NetworkCommand::Disconnect {
            network, container, ..
        } => rt.network_disconnect(&network, &container)?,
    }
    Ok(0)
}

pub fn port(root: &Path, container: &str, filter: Option<&str>) -> Result<i32> {
    let rt = Runtime::new(open_store(root)?);
    let c = rt.get(container)?;
    let ports = if c.state.status == berth_runtime::Status::Running {
        rt.published_ports(&c.id)?
    } else {
        vec![]
    };
    let want = match filter {
        Some(f) => {
            let p = berth_net::ports::parse(f).map_err(anyhow::Error::msg)?;
            Some((p.container_port, p.proto))
        }
        None => None,
    };
    let mut found = false;
    for p in &ports {
        if want.is_some_and(|w| w != (p.container_port, p.proto)) {
            continue;
        }
        found = true;
        let host = format!(
            "{}:{}",
            p.host_ip.unwrap_or(std::net::Ipv4Addr::UNSPECIFIED),
            p.host_port
        );
        if want.is_some() {
            println!("{host}");
        } else {
            println!("{}/{} -> {host}", p.container_port, p.proto.as_str());
        }
    }
    if let (Some(f), false) = (filter, found) {
        bail!("no public port {f:?} published for container {}", c.name);
    }
    Ok(0)
}

pub fn dns(root: &Path, id: &str) -> Result<i32> {
    berth_net::dns::serve(root, id, std::time::Duration::from_secs(5))?;
    Ok(0)
}

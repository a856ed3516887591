//! Network and endpoint records. The store keeps them and makes allocation atomic (one
//! IMMEDIATE transaction per allocation, `UNIQUE (network, address)` as the last line of
//! defence); berth-net decides what the addresses and names are and does the kernel side.

use crate::error::{Error, Result};
use crate::util::now;
use crate::Store;
use rusqlite::{params, OptionalExtension};
use std::collections::BTreeSet;

#[derive(Debug, Clone, PartialEq)]
pub struct NetworkRow {
    pub id: String,
    pub name: String,
    pub bridge: String,
    pub subnet: String,
    pub gateway: String,
    pub internal: bool,
    /// JSON object.
    pub labels: String,
    pub created: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct EndpointRow {
    pub network: String,
    pub container: String,
    pub address: String,
    pub ifname: String,
    pub veth: String,
    /// JSON list of DNS names (container name first, then aliases).
    pub names: String,
    /// JSON list of published ports as resolved (berth-net's type).
    pub ports: String,
    /// JSON list of the container's own DNS servers; empty: the host's resolvers.
    pub dns: String,
}

fn network_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<NetworkRow> {
    Ok(NetworkRow {
        id: r.get(0)?,
        name: r.get(1)?,
        bridge: r.get(2)?,
        subnet: r.get(3)?,
        gateway: r.get(4)?,
        internal: r.get(5)?,
        labels: r.get(6)?,
        created: r.get(7)?,
    })
}

fn endpoint_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<EndpointRow> {
    Ok(EndpointRow {
        network: r.get(0)?,
        container: r.get(1)?,
        address: r.get(2)?,
        ifname: r.get(3)?,
        veth: r.get(4)?,
        names: r.get(5)?,
        ports: r.get(6)?,
        dns: r.get(7)?,
    })
}

const NET_COLS: &str = "id, name, bridge, subnet, gateway, internal, labels, created";
const EP_COLS: &str = "network, container, address, ifname, veth, names, ports, dns";

/// What an allocation is decided from: the addresses and host ports already taken.
pub struct Taken<'a> {
    pub addresses: &'a BTreeSet<String>,
    /// Every endpoint's `ports` JSON in this store (host ports are store-wide).
    pub ports: &'a [String],
    /// Interface names this container already uses (eth0, ...).
    pub ifnames: &'a BTreeSet<String>,
}

impl Store {
    /// Records a new network; fails if the name is taken.
    pub fn insert_network(&self, row: &NetworkRow) -> Result<()> {
        let mut db = self.db();
        let tx = db.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let taken: Option<String> = tx
            .query_row(
                "SELECT id FROM networks WHERE name = ?1",
                [&row.name],
                |r| r.get(0),
            )
            .optional()?;
        if taken.is_some() {
            return Err(Error::Conflict(format!(
                "network with name {} already exists: choose another name, or remove it first (berth network rm {})",
                row.name, row.name
            )));
        }
        tx.execute(
            "INSERT INTO networks (id, name, bridge, subnet, gateway, internal, labels, created) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![row.id, row.name, row.bridge, row.subnet, row.gateway, row.internal, row.labels, if row.created == 0 { now() } else { row.created }],
        )?;
        tx.commit()?;
        Ok(())
    }

    pub fn networks(&self) -> Result<Vec<NetworkRow>> {
        let db = self.db();
        let mut st = db.prepare(&format!(
            "SELECT {NET_COLS} FROM networks ORDER BY created, name"
        ))?;
        let rows = st
            .query_map([], network_row)?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    /// A network by name, id or unique id prefix.
    pub fn find_network(&self, what: &str) -> Result<NetworkRow> {
        let db = self.db();
        if let Some(r) = db
            .query_row(
                &format!("SELECT {NET_COLS} FROM networks WHERE name = ?1 OR id = ?1"),
                [what],
                network_row,
            )
            .optional()?
        {
            return Ok(r);
        }
        let mut st = db.prepare(&format!(
            "SELECT {NET_COLS} FROM networks WHERE id LIKE ?1 || '%'"
        ))?;
        let rows: Vec<NetworkRow> = st
            .query_map([what], network_row)?
            .collect::<rusqlite::Result<_>>()?;
        match rows.len() {
            1 if !what.is_empty() => Ok(rows.into_iter().next().expect("one")),
            0 | 1 => Err(Error::NotFound(format!(
                "network {what} not found: see berth network ls"
            ))),
            _ => Err(Error::Invalid(format!(
                "network id prefix {what} is ambiguous: give more of the id or the name"
            ))),
        }
    }

    /// Deletes a network row; refuses while endpoints use it.
    pub fn delete_network(&self, id: &str) -> Result<()> {
        let mut db = self.db();
        let tx = db.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let users: Vec<String> = {
            let mut st = tx.prepare("SELECT container FROM endpoints WHERE network = ?1")?;
            let v = st
                .query_map([id], |r| r.get::<_, String>(0))?
                .collect::<rusqlite::Result<_>>()?;
            v
        };
        if !users.is_empty() {
            let names: Vec<String> = users
                .iter()
                .map(|c| {
                    tx.query_row("SELECT name FROM containers WHERE id = ?1", [c], |r| {
                        r.get::<_, String>(0)
                    })
                    .unwrap_or_else(|_| c[..12.min(c.len())].to_string())
                })
                .collect();
            return Err(Error::Conflict(format!(
                "network is in use by container(s) {}: stop and remove them, or disconnect them (berth network disconnect NETWORK CONTAINER)",
                names.join(", ")
            )));
        }
        tx.execute("DELETE FROM networks WHERE id = ?1", [id])?;
        tx.commit()?;
        Ok(())
    }

    /// Allocates an endpoint in one IMMEDIATE transaction: `decide` sees what is taken
    /// and returns the row to insert (or an error, e.g. "subnet full"). The unique
    /// constraint on (network, address) makes a double allocation fail, never succeed.
    pub fn allocate_endpoint(
        &self,
        network: &str,
        container: &str,
        decide: &mut dyn FnMut(&Taken<'_>) -> Result<EndpointRow>,
    ) -> Result<EndpointRow> {
        let mut db = self.db();
        let tx = db.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let exists: Option<String> = tx
            .query_row(
                "SELECT address FROM endpoints WHERE network = ?1 AND container = ?2",
                [network, container],
                |r| r.get(0),
            )
            .optional()?;
        if exists.is_some() {
            return Err(Error::Conflict(format!(
                "container {} is already connected to this network",
                &container[..12.min(container.len())]
            )));
        }
        let addresses: BTreeSet<String> = {
            let mut st = tx.prepare("SELECT address FROM endpoints WHERE network = ?1")?;
            let v = st
                .query_map([network], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            v
        };
        let ports: Vec<String> = {
            let mut st = tx.prepare("SELECT ports FROM endpoints WHERE ports != '[]'")?;
            let v = st
                .query_map([], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            v
        };
        let ifnames: BTreeSet<String> = {
            let mut st = tx.prepare("SELECT ifname FROM endpoints WHERE container = ?1")?;
            let v = st
                .query_map([container], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            v
        };
        let row = decide(&Taken {
            addresses: &addresses,
            ports: &ports,
            ifnames: &ifnames,
        })?;
        let ins = tx.execute(
            &format!("INSERT INTO endpoints ({EP_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"),
            params![
                row.network,
                row.container,
                row.address,
                row.ifname,
                row.veth,
                row.names,
                row.ports,
                row.dns
            ],
        );
        match ins {
            Ok(_) => {}
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                return Err(Error::Conflict(format!(
                    "address {} is already in use on this network",
                    row.address
                )))
            }
            Err(e) => return Err(e.into()),
        }
        tx.commit()?;
        Ok(row)
    }

    /// Updates the ports JSON of an endpoint.
    pub fn set_endpoint_ports(&self, network: &str, container: &str, ports: &str) -> Result<()> {
        self.db().execute(
            "UPDATE endpoints SET ports = ?3 WHERE network = ?1 AND container = ?2",
            params![network, container, ports],
        )?;
        Ok(())
    }

    pub fn endpoints_of_network(&self, network: &str) -> Result<Vec<EndpointRow>> {
        let db = self.db();
        let mut st = db.prepare(&format!(
            "SELECT {EP_COLS} FROM endpoints WHERE network = ?1 ORDER BY address"
        ))?;
        let rows = st
            .query_map([network], endpoint_row)?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    pub fn endpoints_of_container(&self, container: &str) -> Result<Vec<EndpointRow>> {
        let db = self.db();
        let mut st = db.prepare(&format!(
            "SELECT {EP_COLS} FROM endpoints WHERE container = ?1 ORDER BY ifname"
        ))?;
        let rows = st
            .query_map([container], endpoint_row)?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    /// All endpoints (for sweeping those of containers that are gone).
    pub fn endpoints(&self) -> Result<Vec<EndpointRow>> {
        let db = self.db();
        let mut st = db.prepare(&format!("SELECT {EP_COLS} FROM endpoints"))?;
        let rows = st
            .query_map([], endpoint_row)?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    pub fn delete_endpoint(&self, network: &str, container: &str) -> Result<()> {
        self.db().execute(
            "DELETE FROM endpoints WHERE network = ?1 AND container = ?2",
            [network, container],
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(store: &Store) -> NetworkRow {
        let n = NetworkRow {
            id: "n1".into(),
            name: "front".into(),
            bridge: "br-test".into(),
            subnet: "10.1.0.0/24".into(),
            gateway: "10.1.0.1".into(),
            internal: false,
            labels: "{}".into(),
            created: 0,
        };
        store.insert_network(&n).unwrap();
        n
    }

    fn ep(container: &str, address: &str) -> EndpointRow {
        EndpointRow {
            network: "n1".into(),
            container: container.into(),
            address: address.into(),
            ifname: "eth0".into(),
            veth: format!("v{container}"),
            names: "[]".into(),
            ports: "[]".into(),
            dns: "[]".into(),
        }
    }

    #[test]
    fn an_address_is_never_given_twice() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        net(&store);
        store
            .allocate_endpoint("n1", "c1", &mut |_| Ok(ep("c1", "10.1.0.2")))
            .unwrap();
        // A buggy decision that picks a taken address is refused by the constraint.
        let e = store
            .allocate_endpoint("n1", "c2", &mut |t| {
                assert!(t.addresses.contains("10.1.0.2"));
                Ok(ep("c2", "10.1.0.2"))
            })
            .unwrap_err();
        assert!(e.to_string().contains("already in use"), "{e}");
        assert_eq!(store.endpoints_of_network("n1").unwrap().len(), 1);
        // The network is in use: it cannot be deleted.
        let e = store.delete_network("n1").unwrap_err();
        assert!(e.to_string().contains("in use"), "{e}");
        store.delete_endpoint("n1", "c1").unwrap();
        store.delete_network("n1").unwrap();
        assert!(store.find_network("front").is_err());
    }

    #[test]
    fn names_are_unique() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let n = net(&store);
        let e = store
            .insert_network(&NetworkRow {
                id: "n2".into(),
                bridge: "br-other".into(),
                ..n
            })
            .unwrap_err();
        assert!(e.to_string().contains("already exists"), "{e}");
    }
}

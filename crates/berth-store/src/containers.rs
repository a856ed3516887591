//! Container and volume records. The store keeps them (names are unique, an image or a
//! volume in use is not removed) but does not interpret a container's state: the runtime
//! owns that JSON document.

use crate::error::{Error, Result};
use crate::util::now;
use crate::Store;
use rusqlite::{params, OptionalExtension};

/// A container row: identity plus the runtime's JSON document.
#[derive(Debug, Clone)]
pub struct ContainerRow {
    pub id: String,
    pub name: String,
    pub image: String,
    pub created: i64,
    pub state: String,
}

/// A named volume row.
#[derive(Debug, Clone)]
pub struct VolumeRow {
    pub name: String,
    pub created: i64,
    pub anonymous: bool,
    pub labels: String,
    pub seeded: bool,
}

fn container_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ContainerRow> {
    Ok(ContainerRow {
        id: r.get(0)?,
        name: r.get(1)?,
        image: r.get(2)?,
        created: r.get(3)?,
        state: r.get(4)?,
    })
}

fn volume_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<VolumeRow> {
    Ok(VolumeRow {
        name: r.get(0)?,
        created: r.get(1)?,
        anonymous: r.get(2)?,
        labels: r.get(3)?,
        seeded: r.get(4)?,
    })
}

impl Store {
    pub fn containers_dir(&self) -> std::path::PathBuf {
        self.root().join("containers")
    }

    pub fn volumes_dir(&self) -> std::path::PathBuf {
        self.root().join("volumes")
    }

    /// Records a new container using `volumes`; fails if the name is taken.
    pub fn insert_container(&self, row: &ContainerRow, volumes: &[String]) -> Result<()> {
        let mut db = self.db();
        let tx = db.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let taken: Option<String> = tx
            .query_row(
                "SELECT id FROM containers WHERE name = ?1",
                [&row.name],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(other) = taken {
            return Err(Error::Conflict(format!(
                "the container name \"/{}\" is already in use by container {}: remove or rename that container, or choose another name",
                row.name,
                &other[..12.min(other.len())]
            )));
        }
        tx.execute(
            "INSERT INTO containers (id, name, image, created, state) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![row.id, row.name, row.image, row.created, row.state],
        )?;
        for v in volumes {
            tx.execute(
                "INSERT OR IGNORE INTO container_volumes (container, volume) VALUES (?1, ?2)",
                params![row.id, v],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    pub fn update_container_state(&self, id: &str, state: &str) -> Result<()> {
        let n = self.db().execute(
            "UPDATE containers SET state = ?2 WHERE id = ?1",
            params![id, state],
        )?;
        if n == 0 {
            return Err(Error::NotFound(format!("no such container: {id}")));
        }
        Ok(())
    }

    /// Read-modify-write of a container's state in one transaction.
    pub fn modify_container_state(
        &self,
        id: &str,
        f: &mut dyn FnMut(&str) -> Result<String>,
    ) -> Result<String> {
        let mut db = self.db();
        let tx = db.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let cur: Option<String> = tx
            .query_row("SELECT state FROM containers WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .optional()?;
        let cur = cur.ok_or_else(|| Error::NotFound(format!("no such container: {id}")))?;
        let next = f(&cur)?;
        tx.execute(
            "UPDATE containers SET state = ?2 WHERE id = ?1",
            params![id, next],
        )?;
        tx.commit()?;
        Ok(next)
    }

    pub fn rename_container(&self, id: &str, new_name: &str) -> Result<()> {
        let res = self.db().execute(
            "UPDATE containers SET name = ?2 WHERE id = ?1",
            params![id, new_name],
        );
        match res {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                Err(Error::Conflict(format!(
                    "the container name \"/{new_name}\" is already in use"
                )))
            }
            r => r.map(|_| ()).map_err(Into::into),
        }
    }

    /// Finds a container by full id, name, or unique id prefix.
    pub fn find_container(&self, what: &str) -> Result<ContainerRow> {
        let db = self.db();
        let cols = "id, name, image, created, state";
        let name = what.strip_prefix('/').unwrap_or(what);
        if let Some(r) = db
            .query_row(
                &format!("SELECT {cols} FROM containers WHERE id = ?1 OR name = ?2"),
                params![what, name],
                container_row,
            )
            .optional()?
        {
            return Ok(r);
        }
        if !what.is_empty() && what.bytes().all(|b| b.is_ascii_hexdigit()) {
            let mut st = db.prepare(&format!(
                "SELECT {cols} FROM containers WHERE id >= ?1 AND id < ?2 LIMIT 2"
            ))?;
            let rows: Vec<ContainerRow> = st
                .query_map(params![what, format!("{what}\u{7f}")], container_row)?
                .collect::<Result<_, _>>()?;
            match rows.len() {
                1 => return Ok(rows.into_iter().next().expect("one")),
                2.. => {
                    return Err(Error::Conflict(format!(
                        "container id prefix {what} is ambiguous: give more characters"
                    )))
                }
                _ => {}
            }
        }
        Err(Error::NotFound(format!("no such container: {what}")))
    }

    pub fn containers(&self) -> Result<Vec<ContainerRow>> {
        let db = self.db();
        let mut st = db.prepare(
            "SELECT id, name, image, created, state FROM containers ORDER BY created DESC, id",
        )?;
        let rows = st.query_map([], container_row)?.collect::<Result<_, _>>()?;
        Ok(rows)
    }

    pub fn delete_container(&self, id: &str) -> Result<()> {
        self.db()
            .execute("DELETE FROM containers WHERE id = ?1", [id])?;
        Ok(())
    }

    /// Volumes a container uses.
    pub fn container_volumes(&self, id: &str) -> Result<Vec<String>> {
        let db = self.db();
        let mut st = db
            .prepare("SELECT volume FROM container_volumes WHERE container = ?1 ORDER BY volume")?;
        let v = st
            .query_map([id], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        Ok(v)
    }

    /// Creates a volume record if missing; returns whether it was created now.
    pub fn ensure_volume(&self, name: &str, anonymous: bool, labels: &str) -> Result<bool> {
        let n = self.db().execute(
            "INSERT OR IGNORE INTO volumes (name, created, anonymous, labels) VALUES (?1, ?2, ?3, ?4)",
            params![name, now(), anonymous, labels],
        )?;
        Ok(n > 0)
    }

    pub fn volume(&self, name: &str) -> Result<VolumeRow> {
        self.db()
            .query_row(
                "SELECT name, created, anonymous, labels, seeded FROM volumes WHERE name = ?1",
                [name],
                volume_row,
            )
            .optional()?
            .ok_or_else(|| Error::NotFound(format!("no such volume: {name}")))
    }

    pub fn volumes(&self) -> Result<Vec<VolumeRow>> {
        let db = self.db();
        let mut st = db.prepare(
            "SELECT name, created, anonymous, labels, seeded FROM volumes ORDER BY name",
        )?;
        let v = st.query_map([], volume_row)?.collect::<Result<_, _>>()?;
        Ok(v)
    }

    pub fn mark_volume_seeded(&self, name: &str) -> Result<()> {
        self.db()
            .execute("UPDATE volumes SET seeded = 1 WHERE name = ?1", [name])?;
        Ok(())
    }

    /// Containers using a volume.
    pub fn volume_users(&self, name: &str) -> Result<Vec<String>> {
        let db = self.db();
        let mut st = db.prepare(
            "SELECT c.name FROM container_volumes v JOIN containers c ON c.id = v.container WHERE v.volume = ?1 ORDER BY c.name",
        )?;
        let v = st
            .query_map([name], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        Ok(v)
    }

    /// Forgets a volume record (the caller removes its directory first).
    pub fn delete_volume(&self, name: &str) -> Result<()> {
        let users = self.volume_users(name)?;
        if !users.is_empty() {
            return Err(Error::Conflict(format!(
                "volume {name} is in use by container(s) {}: remove them first",
                users.join(", ")
            )));
        }
        self.db()
            .execute("DELETE FROM volumes WHERE name = ?1", [name])?;
        Ok(())
    }
}

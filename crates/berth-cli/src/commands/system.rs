//! system df, system prune, system reset, system check.

use super::images::print_prune;
use super::{confirm, open_store};
use crate::cli::{DfArgs, SystemPruneArgs};
use crate::output::{human_size, parse_size, table};
use anyhow::Result;
use std::path::Path;

pub fn df(root: &Path, a: DfArgs) -> Result<i32> {
    let store = open_store(root)?;
    let u = store.usage()?;
    if a.format.as_deref() == Some("json") {
        println!(
            "{}",
            serde_json::to_string(&serde_json::json!({
                "Images": u.images, "ActiveImages": u.images_active,
                "BlobBytes": u.blob_bytes, "BlobReclaimable": u.blob_reclaimable,
                "Snapshots": u.snapshots, "SnapshotBytes": u.snapshot_bytes, "SnapshotReclaimable": u.snapshot_reclaimable,
                "LeftoverBytes": u.leftover_bytes, "DatabaseBytes": u.db_bytes, "TotalBytes": u.total(),
            }))?
        );
        return Ok(0);
    }
    let pct = |r: u64, t: u64| match (r * 100).checked_div(t) {
        Some(p) => format!("{} ({p}%)", human_size(r)),
        None => "0B".to_string(),
    };
    table(
        &["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"],
        &[
            vec![
                "Images".into(),
                u.images.to_string(),
                u.images_active.to_string(),
                human_size(u.blob_bytes),
                pct(u.blob_reclaimable, u.blob_bytes),
            ],
            vec![
                "Layer snapshots".into(),
                u.snapshots.to_string(),
                "-".into(),
                human_size(u.snapshot_bytes),
                pct(u.snapshot_reclaimable, u.snapshot_bytes),
            ],
            vec![
                "Leftovers".into(),
                "-".into(),
                "-".into(),
                human_size(u.leftover_bytes),
                human_size(u.leftover_bytes),
            ],
            vec![
                "Metadata".into(),
                "-".into(),
                "-".into(),
                human_size(u.db_bytes),
                "0B".into(),
            ],
        ],
    );
    if a.verbose {
        println!();
        let rows: Vec<Vec<String>> = store
            .images()?
            .iter()
            .map(|i| {
                vec![
                    i.repo_tags().first().cloned().unwrap_or("<none>".into()),
                    i.id.short().to_string(),
                    human_size(i.size),
                    human_size(i.layers.iter().map(|l| l.size).sum()),
                    crate::output::ago(i.last_used),
                ]
            })
            .collect();
        table(
            &[
                "IMAGE",
                "IMAGE ID",
                "SIZE",
                "STORED (COMPRESSED)",
                "LAST USED",
            ],
            &rows,
        );
    }
    Ok(0)
}

pub fn prune(root: &Path, a: SystemPruneArgs) -> Result<i32> {
    let max = a.max_size.as_deref().map(parse_size).transpose()?;
    if !a.force && !confirm("WARNING! This will remove stopped containers, dangling images (all unused ones with -a, least recently used ones above --max-size) and unreferenced content. Are you sure you want to continue?") {
        return Ok(0);
    }
    let rt = berth_runtime::Runtime::new(open_store(root)?);
    // As Docker: stopped containers go first, so the images they held become unused;
    // rootfs mounts left by crashed monitors are released.
    let removed = rt.prune_containers()?;
    if !removed.is_empty() {
        println!("Deleted Containers:");
        for n in &removed {
            println!("{n}");
        }
        println!();
    }
    rt.release_stale_mounts()?;
    let cgroups = rt.sweep_stale_cgroups(std::time::Duration::from_secs(60))?;
    if cgroups > 0 {
        println!("Deleted {cgroups} empty cgroup(s) of containers that ended without cleanup");
        println!();
    }
    rt.sweep_endpoints()?;
    for n in rt.net().prune()? {
        println!("Deleted Network: {n}");
    }
    let report = rt.store.system_prune(a.all, max)?;
    print_prune(&report);
    Ok(0)
}

pub fn reset(root: &Path, force: bool) -> Result<i32> {
    use std::io::IsTerminal;
    if !root.join("berth.db").exists() {
        anyhow::bail!(
            "{} is not a berth store (no berth.db): nothing to reset; check --root or BERTH_ROOT",
            root.display()
        );
    }
    if !force {
        if !std::io::stdin().is_terminal() {
            anyhow::bail!(
                "system reset removes every container, network, volume and image of {}: pass --force to confirm without a terminal",
                root.display()
            );
        }
        if !confirm(&format!(
            "WARNING! This removes every container, network, volume, image and the build cache of {}. Are you sure you want to continue?",
            root.display()
        )) {
            return Ok(0);
        }
    }
    let r = berth_runtime::Runtime::new(open_store(root)?).reset()?;
    println!(
        "Removed {} container(s), {} network(s), {} volume(s); {} is empty",
        r.containers,
        r.networks,
        r.volumes,
        root.display()
    );
    Ok(0)
}

pub fn check(root: &Path, repair: bool) -> Result<i32> {
    let store = open_store(root)?;
    let r = store.check(repair)?;
    println!(
        "checked {} blob(s) and {} image(s)",
        r.blobs_checked, r.images_checked
    );
    for p in &r.problems {
        println!("problem: {p}");
    }
    for p in &r.repairs {
        println!("repaired: {p}");
    }
    for g in &r.garbage {
        println!("garbage (freed by `berth system prune`): {g}");
    }
    if r.ok() {
        println!("store is consistent");
        Ok(0)
    } else if repair {
        println!("problems were repaired; run `berth system check` again to confirm");
        Ok(0)
    } else {
        println!("store has problems: run `berth system check --repair`");
        Ok(1)
    }
}

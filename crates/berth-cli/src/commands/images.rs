//! images, tag, rmi, image inspect, history, image prune.

use super::{confirm, open_store};
use crate::cli::{HistoryArgs, ImagesArgs, InspectArgs, PruneArgs, RmiArgs};
use crate::output::{ago, human_size, rfc3339, table, Format};
use anyhow::{bail, Context, Result};
use berth_image::reference::{familiar, Reference};
use berth_store::gc::{Filter, PruneOptions};
use berth_store::{ImageRecord, Store};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

fn created(img: &ImageRecord) -> i64 {
    img.created.unwrap_or(img.added)
}

/// Docker-style glob: `*` within a path component, `**`-free, `?` one character.
fn glob(pattern: &str, s: &str) -> bool {
    fn m(p: &[u8], s: &[u8]) -> bool {
        match (p.first(), s.first()) {
            (None, None) => true,
            (Some(b'*'), _) => m(&p[1..], s) || (!s.is_empty() && s[0] != b'/' && m(p, &s[1..])),
            (Some(b'?'), Some(c)) if *c != b'/' => m(&p[1..], &s[1..]),
            (Some(a), Some(b)) if a == b => m(&p[1..], &s[1..]),
            _ => false,
        }
    }
    m(pattern.as_bytes(), s.as_bytes())
}

struct ListFilter {
    labels: Vec<(String, Option<String>)>,
    dangling: Option<bool>,
    before: Option<i64>,
    since: Option<i64>,
    references: Vec<String>,
}

fn list_filter(store: &Store, a: &ImagesArgs) -> Result<ListFilter> {
    let mut f = ListFilter {
        labels: vec![],
        dangling: None,
        before: None,
        since: None,
        references: vec![],
    };
    for raw in &a.filters {
        let (k, v) = raw
            .split_once('=')
            .with_context(|| format!("invalid filter {raw:?}: want KEY=VALUE"))?;
        match k {
            "label" => f.labels.push(match v.split_once('=') {
                Some((k, v)) => (k.into(), Some(v.into())),
                None => (v.into(), None),
            }),
            "dangling" => {
                f.dangling = Some(
                    v.parse()
                        .with_context(|| format!("dangling={v}: want true or false"))?,
                )
            }
            "before" => f.before = Some(created(&store.resolve(v)?)),
            "since" => f.since = Some(created(&store.resolve(v)?)),
            "reference" => f.references.push(v.into()),
            _ => bail!("unknown filter {k:?}: use label, dangling, before, since or reference"),
        }
    }
    if let Some(r) = &a.reference {
        f.references.push(r.clone());
    }
    Ok(f)
}

pub fn list(root: &Path, a: ImagesArgs) -> Result<i32> {
    let store = open_store(root)?;
    let filter = list_filter(&store, &a)?;
    let format = Format::parse(a.format.as_deref());
    let mut rows: Vec<(ImageRecord, Option<(String, String)>)> = Vec::new();
    for img in store.images()? {
        if filter.dangling.is_some_and(|d| d != img.tags.is_empty()) {
            continue;
        }
        if filter.before.is_some_and(|t| created(&img) >= t)
            || filter.since.is_some_and(|t| created(&img) <= t)
        {
            continue;
        }
        if !filter.labels.is_empty() {
            let labels = store.config(&img).map(|c| c.labels()).unwrap_or_default();
            if !filter.labels.iter().all(|(k, v)| match v {
                Some(v) => labels.get(k) == Some(v),
                None => labels.contains_key(k),
            }) {
                continue;
            }
        }
        let tags: Vec<(String, String)> = img
            .tags
            .iter()
            .map(|(r, t)| (familiar(r), t.clone()))
            .collect();
        if tags.is_empty() {
            if filter.references.is_empty() {
                rows.push((img, None));
            }
            continue;
        }
        for (repo, tag) in tags {
            let name = format!("{repo}:{tag}");
            let ok = filter.references.iter().all(|p| {
                if p.contains(':') {
                    glob(p, &name)
                } else {
                    glob(p, &repo)
                }
            });
            if ok {
                rows.push((img.clone(), Some((repo, tag))));
            }
        }
    }
    if a.quiet {
        let mut seen = std::collections::HashSet::new();
        for (img, _) in &rows {
            if seen.insert(img.id.clone()) {
                println!(
                    "{}",
                    if a.no_trunc {
                        img.id.to_string()
                    } else {
                        img.id.short().to_string()
                    }
                );
            }
        }
        return Ok(0);
    }
    let id = |img: &ImageRecord| {
        if a.no_trunc {
            img.id.to_string()
        } else {
            img.id.short().to_string()
        }
    };
    match format {
        Format::Table => {
            let rows: Vec<Vec<String>> = rows
                .iter()
                .map(|(img, t)| {
                    let (r, tg) = t.clone().unwrap_or(("<none>".into(), "<none>".into()));
                    vec![r, tg, id(img), ago(created(img)), human_size(img.size)]
                })
                .collect();
            table(&["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"], &rows);
        }
        f => {
            let objects: Vec<Value> = rows
                .iter()
                .map(|(img, t)| {
                    let (r, tg) = t.clone().unwrap_or(("<none>".into(), "<none>".into()));
                    let labels = store.config(img).map(|c| c.labels()).unwrap_or_default();
                    json!({
                        "ID": id(img),
                        "Repository": r,
                        "Tag": tg,
                        "Digest": img.repo_digests.first().and_then(|d| d.split_once('@').map(|x| x.1.to_string())).unwrap_or("<none>".into()),
                        "CreatedAt": rfc3339(created(img)),
                        "CreatedSince": ago(created(img)),
                        "LastUsed": rfc3339(img.last_used),
                        "Size": human_size(img.size),
                        "SizeBytes": img.size,
                        "Labels": labels,
                    })
                })
                .collect();
            f.print_objects(&objects)?;
        }
    }
    Ok(0)
}

pub fn tag(root: &Path, source: &str, target: &str) -> Result<i32> {
    let store = open_store(root)?;
    let img = store.resolve(source)?;
    let r = Reference::parse_tagged(target)?;
    store.tag(&img.id, &r)?;
    Ok(0)
}

pub fn rmi(root: &Path, a: RmiArgs) -> Result<i32> {
    let store = open_store(root)?;
    let mut failed = false;
    for name in &a.images {
        if let Err(e) = rmi_one(&store, name, a.force) {
            eprintln!("berth: error: {}", crate::output::error_chain(&e));
            failed = true;
        }
    }
    // Space comes back now unless another berth is writing; then the next prune frees it.
    store.gc(Duration::from_millis(0))?;
    Ok(if failed { 1 } else { 0 })
}

fn rmi_one(store: &Store, name: &str, force: bool) -> Result<()> {
    let img = store.resolve(name)?;
    let by_tag = Reference::parse_tagged(name).ok().filter(|r| {
        r.digest.is_none()
            && img
                .tags
                .iter()
                .any(|(repo, t)| *repo == r.repository() && t == r.tag_or_latest())
    });
    if let Some(r) = by_tag {
        store.untag(&r)?;
        println!(
            "Untagged: {}:{}",
            r.familiar_repository(),
            r.tag_or_latest()
        );
        if img.tags.len() > 1 {
            return Ok(());
        }
    } else {
        let repos: std::collections::BTreeSet<&String> = img.tags.iter().map(|(r, _)| r).collect();
        if repos.len() > 1 && !force {
            bail!(
                "unable to delete {} (must be forced): image is referenced in multiple repositories ({})",
                img.id.short(),
                img.repo_tags().join(", ")
            );
        }
        for t in img.repo_tags() {
            println!("Untagged: {t}");
        }
    }
    let users = store.image_users(&img.id)?;
    if !users.is_empty() && !force {
        bail!(
            "unable to delete {} (must be forced): image is being used by container(s) {}",
            img.id.short(),
            users.join(", ")
        );
    }
    store.delete_image(&img.id, force)?;
    if users.is_empty() {
        println!("Deleted: {}", img.id);
    }
    Ok(())
}

pub fn inspect_json(store: &Store, img: &ImageRecord) -> Result<Value> {
    let cfg = store.config(img)?;
    Ok(json!({
        "Id": img.id.to_string(),
        "RepoTags": img.repo_tags(),
        "RepoDigests": img.repo_digests,
        "Parent": "",
        "Comment": cfg.history.last().and_then(|h| h.comment.clone()).unwrap_or_default(),
        "Created": cfg.created.clone().unwrap_or_default(),
        "Author": cfg.author.clone().unwrap_or_default(),
        "Config": serde_json::to_value(&cfg.config)?,
        "Architecture": cfg.architecture,
        "Variant": cfg.variant,
        "Os": cfg.os,
        "Size": img.size,
        "RootFS": { "Type": cfg.rootfs.kind, "Layers": cfg.rootfs.diff_ids },
        "Manifest": { "Digest": img.manifest.to_string(), "MediaType": img.manifest_media_type,
            "Layers": img.layers.iter().map(|l| json!({"Digest": l.digest.to_string(), "MediaType": l.media_type, "Size": l.size})).collect::<Vec<_>>() },
        "Metadata": { "Added": rfc3339(img.added), "LastUsed": rfc3339(img.last_used) },
    }))
}

pub fn inspect(root: &Path, a: InspectArgs) -> Result<i32> {
    let store = open_store(root)?;
    let mut out = Vec::new();
    let mut failed = false;
    for name in &a.images {
        match store.resolve(name) {
            Ok(img) => out.push(inspect_json(&store, &img)?),
            Err(e) => {
                eprintln!("berth: error: {e}");
                failed = true;
            }
        }
    }
    crate::output::print_inspect(&out, a.format.as_deref())?;
    Ok(if failed { 1 } else { 0 })
}

pub fn history(root: &Path, a: HistoryArgs) -> Result<i32> {
    let store = open_store(root)?;
    let img = store.resolve(&a.image)?;
    let cfg = store.config(&img)?;
    // Walk history newest first, pairing non-empty entries with layers from the top.
    let mut layer_idx = img.layers.len();
    let mut rows = Vec::new();
    let n = cfg.history.len();
    for (i, h) in cfg.history.iter().enumerate().rev() {
        let size = if h.empty_layer {
            0
        } else if layer_idx > 0 {
            layer_idx -= 1;
            img.layers[layer_idx].content_size
        } else {
            0
        };
        let id = if i + 1 == n {
            if a.no_trunc {
                img.id.to_string()
            } else {
                img.id.short().to_string()
            }
        } else {
            "<missing>".into()
        };
        let t = h
            .created
            .as_deref()
            .and_then(|c| c.parse::<jiff::Timestamp>().ok())
            .map(|t| t.as_second());
        rows.push((
            id,
            t,
            h.created_by.clone().unwrap_or_default(),
            size,
            h.comment.clone().unwrap_or_default(),
        ));
    }
    if a.quiet {
        for r in &rows {
            println!("{}", r.0);
        }
        return Ok(0);
    }
    match Format::parse(a.format.as_deref()) {
        Format::Table => {
            let rows: Vec<Vec<String>> = rows
                .into_iter()
                .map(|(id, t, by, size, comment)| {
                    let by = if a.no_trunc || by.chars().count() <= 45 {
                        by
                    } else {
                        format!("{}…", by.chars().take(44).collect::<String>())
                    };
                    vec![
                        id,
                        t.map(ago).unwrap_or_default(),
                        by,
                        human_size(size),
                        comment,
                    ]
                })
                .collect();
            table(
                &["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"],
                &rows,
            );
        }
        f => {
            let objects: Vec<Value> = rows
                .into_iter()
                .map(|(id, t, by, size, comment)| {
                    json!({"ID": id, "CreatedAt": t.map(rfc3339), "CreatedSince": t.map(ago), "CreatedBy": by, "Size": human_size(size), "SizeBytes": size, "Comment": comment})
                })
                .collect();
            f.print_objects(&objects)?;
        }
    }
    Ok(0)
}

pub fn prune(root: &Path, a: PruneArgs) -> Result<i32> {
    let store = open_store(root)?;
    let filters = a
        .filters
        .iter()
        .map(|f| Filter::parse(f))
        .collect::<Result<Vec<_>, _>>()?;
    let what = if a.all || a.keep.is_some() {
        "all images without a container (within --keep and --filter)"
    } else {
        "all dangling images"
    };
    if !a.force
        && !confirm(&format!(
            "WARNING! This will remove {what}. Are you sure you want to continue?"
        ))
    {
        return Ok(0);
    }
    let report = store.prune_images(&PruneOptions {
        all: a.all,
        filters,
        keep: a.keep,
    })?;
    print_prune(&report);
    Ok(0)
}

pub fn print_prune(report: &berth_store::gc::PruneReport) {
    let mut untagged: BTreeMap<String, ()> = BTreeMap::new();
    for (_, tags) in &report.removed {
        for t in tags {
            untagged.insert(t.clone(), ());
        }
    }
    if !report.removed.is_empty() {
        println!("Deleted Images:");
        for t in untagged.keys() {
            println!("untagged: {t}");
        }
        for (id, _) in &report.removed {
            println!("deleted: {id}");
        }
        println!();
    }
    if !report.gc.ran {
        println!(
            "Other berth processes are writing to the store; space is freed by the next prune."
        );
    }
    println!(
        "Total reclaimed space: {}",
        human_size(report.gc.bytes_freed)
    );
}

#[cfg(test)]
mod tests {
    #[test]
    fn globbing() {
        assert!(super::glob("app*", "app-web"));
        assert!(super::glob("*/web", "team/web"));
        assert!(!super::glob("*", "team/web"));
        assert!(super::glob("app:1.?", "app:1.2"));
    }
}

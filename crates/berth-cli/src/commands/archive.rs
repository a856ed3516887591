//! import, bootstrap, save, load.

use super::open_store;
use crate::cli::{BootstrapArgs, ImportArgs, LoadArgs, SaveArgs};
use crate::progress::Reporter;
use anyhow::{bail, Context, Result};
use berth_image::layer::DevicePolicy;
use berth_image::reference::Reference;
use berth_image::Compression;
use berth_store::archive::{load_source, ArchiveFormat, SaveItem};
use berth_store::bootstrap::BootstrapOptions;
use berth_store::import::ImportOptions;
use std::io::{IsTerminal, Write};
use std::path::Path;

pub fn import(root: &Path, a: ImportArgs) -> Result<i32> {
    let store = open_store(root)?;
    let tags = match &a.reference {
        Some(r) => vec![Reference::parse_tagged(r)?],
        None => vec![],
    };
    let opts = ImportOptions {
        tags,
        changes: a.changes.clone(),
        message: a.message.clone(),
        devices: if a.allow_devices {
            DevicePolicy::Allow
        } else if a.skip_devices {
            DevicePolicy::Skip
        } else {
            DevicePolicy::Refuse
        },
        created_by: None,
        base_config: None,
    };
    let progress = Reporter::new(a.quiet);
    let img = if a.file == "-" {
        store.import(std::io::stdin().lock(), &opts, &progress)
    } else {
        let f = std::fs::File::open(&a.file).with_context(|| format!("cannot open {}", a.file))?;
        store.import(f, &opts, &progress)
    }
    .with_context(|| format!("import of {} failed", a.file))?;
    println!("{}", img.id);
    Ok(0)
}

pub fn bootstrap(root: &Path, a: BootstrapArgs) -> Result<i32> {
    let (distro, suite) = a
        .what
        .split_once(':')
        .with_context(|| format!("{:?}: give DISTRO:SUITE, e.g. debian:bookworm", a.what))?;
    if !matches!(distro, "debian" | "ubuntu") {
        bail!("bootstrap knows debian and ubuntu (debootstrap's families), not {distro:?}; for anything else import a rootfs tarball with `berth import`");
    }
    let tags = if a.tags.is_empty() {
        vec![a.what.clone()]
    } else {
        a.tags.clone()
    };
    let tags = tags
        .iter()
        .map(|t| Reference::parse_tagged(t))
        .collect::<Result<Vec<_>, _>>()?;
    let store = open_store(root)?;
    let opts = BootstrapOptions {
        suite: suite.to_string(),
        variant: Some(a.variant.clone()),
        include: a.include.clone(),
        mirror: a.mirror.clone(),
        tags,
    };
    let img = store
        .bootstrap(&opts, &Reporter::new(false))
        .with_context(|| format!("bootstrap of {} failed", a.what))?;
    eprintln!("Bootstrapped {} as {}", a.what, img.repo_tags().join(", "));
    println!("{}", img.id);
    Ok(0)
}

pub fn save(root: &Path, a: SaveArgs) -> Result<i32> {
    let format: ArchiveFormat = a.format.parse().map_err(anyhow::Error::msg)?;
    let compression: Option<Compression> = a
        .compression
        .as_deref()
        .map(str::parse)
        .transpose()
        .map_err(anyhow::Error::msg)?;
    let store = open_store(root)?;
    let mut items = Vec::new();
    for name in &a.images {
        let image = store.resolve(name)?;
        // Named by tag: record that name; by id: no name, as Docker does.
        let names = match Reference::parse(name) {
            Ok(r)
                if r.digest.is_none()
                    && image
                        .tags
                        .iter()
                        .any(|(repo, t)| *repo == r.repository() && t == r.tag_or_latest()) =>
            {
                vec![Reference::parse_tagged(name)?]
            }
            _ => vec![],
        };
        items.push(SaveItem { image, names });
    }
    match &a.output {
        Some(path) => {
            // Written beside the target and renamed, so a killed save leaves no half file.
            let dir = path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            let (tmp_path, file) = tempfile_in(dir, path)?;
            let progress = Reporter::new(false);
            let res = store
                .save(
                    &items,
                    format,
                    compression,
                    std::io::BufWriter::with_capacity(1 << 20, file),
                    &progress,
                )
                .map_err(anyhow::Error::from)
                .and_then(|w| {
                    let f = w.into_inner().map_err(|e| e.into_error())?;
                    f.sync_all()?;
                    Ok(())
                });
            match res {
                Ok(()) => std::fs::rename(&tmp_path, path)
                    .with_context(|| format!("cannot write {}", path.display()))?,
                Err(e) => {
                    let _ = std::fs::remove_file(&tmp_path);
                    return Err(e).context("save failed");
                }
            }
        }
        None => {
            if std::io::stdout().is_terminal() {
                bail!("refusing to write an archive to a terminal: use -o FILE or redirect stdout");
            }
            let progress = Reporter::new(true);
            let out = std::io::BufWriter::with_capacity(1 << 20, std::io::stdout().lock());
            let mut w = store
                .save(&items, format, compression, out, &progress)
                .context("save failed")?;
            w.flush()?;
        }
    }
    Ok(0)
}

fn tempfile_in(dir: &Path, target: &Path) -> Result<(std::path::PathBuf, std::fs::File)> {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "archive".into());
    let p = dir.join(format!(".{name}.berth-{}", std::process::id()));
    let f = std::fs::File::create(&p).with_context(|| format!("cannot create {}", p.display()))?;
    Ok((p, f))
}

pub fn load(root: &Path, a: LoadArgs) -> Result<i32> {
    if a.input.is_none() && std::io::stdin().is_terminal() {
        bail!("no archive given: use -i FILE or pipe one to stdin");
    }
    let store = open_store(root)?;
    let progress = Reporter::new(a.quiet);
    let images = store
        .load(load_source(a.input.as_deref()), &progress)
        .with_context(|| {
            format!(
                "load of {} failed",
                a.input
                    .as_deref()
                    .map(|p| p.display().to_string())
                    .unwrap_or("stdin".into())
            )
        })?;
    for img in images {
        if a.quiet {
            println!("{}", img.id);
        } else if img.tags.is_empty() {
            println!("Loaded image ID: {}", img.id);
        } else {
            for t in img.repo_tags() {
                println!("Loaded image: {t}");
            }
        }
    }
    Ok(0)
}

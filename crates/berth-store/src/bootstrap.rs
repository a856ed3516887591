//! `berth bootstrap`: a Debian (or Ubuntu) base image made from nothing with debootstrap.
//!
//! The mirror comes from `--mirror`, else from the host's apt sources when they serve the
//! requested suite, else debootstrap's own default: berth names no mirror itself.

use crate::error::{Error, IoContext, Result};
use crate::images::ImageRecord;
use crate::import::ImportOptions;
use crate::progress::Progress;
use crate::util::random_name;
use crate::Store;
use berth_image::config::RunConfig;
use berth_image::layer::DevicePolicy;
use berth_image::reference::Reference;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

#[derive(Debug, Clone, Default)]
pub struct BootstrapOptions {
    pub suite: String,
    pub variant: Option<String>,
    pub include: Vec<String>,
    pub mirror: Option<String>,
    pub tags: Vec<Reference>,
}

/// The first `deb` URI of the host's apt sources that serves `suite`.
pub fn host_mirror(suite: &str) -> Option<String> {
    let mut files: Vec<PathBuf> = vec![PathBuf::from("/etc/apt/sources.list")];
    if let Ok(rd) = std::fs::read_dir("/etc/apt/sources.list.d") {
        let mut v: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
        v.sort();
        files.extend(v);
    }
    for f in files {
        let Ok(text) = std::fs::read_to_string(&f) else {
            continue;
        };
        let found = match f.extension().and_then(|e| e.to_str()) {
            Some("sources") => mirror_from_deb822(&text, suite),
            _ if f.file_name().is_some_and(|n| n == "sources.list")
                || f.extension().is_some_and(|e| e == "list") =>
            {
                mirror_from_one_line(&text, suite)
            }
            _ => None,
        };
        if found.is_some() {
            return found;
        }
    }
    None
}

fn mirror_from_one_line(text: &str, suite: &str) -> Option<String> {
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        let mut words = line.split_whitespace();
        if words.next() != Some("deb") {
            continue;
        }
        let mut rest: Vec<&str> = words.collect();
        if rest.first().is_some_and(|w| w.starts_with('[')) {
            let end = rest.iter().position(|w| w.ends_with(']')).unwrap_or(0);
            rest.drain(..=end);
        }
        if rest.len() >= 2 && rest[1] == suite {
            return Some(rest[0].to_string());
        }
    }
    None
}

fn mirror_from_deb822(text: &str, suite: &str) -> Option<String> {
    for stanza in text.split("\n\n") {
        let mut types = "";
        let mut uris = "";
        let mut suites = "";
        let mut enabled = true;
        for line in stanza.lines() {
            if line.starts_with('#') {
                continue;
            }
            if let Some((k, v)) = line.split_once(':') {
                match k.trim() {
                    "Types" => types = v.trim(),
                    "URIs" => uris = v.trim(),
                    "Suites" => suites = v.trim(),
                    "Enabled" => enabled = v.trim() != "no",
                    _ => {}
                }
            }
        }
        if enabled
            && types.split_whitespace().any(|t| t == "deb")
            && suites.split_whitespace().any(|s| s == suite)
        {
            return uris.split_whitespace().next().map(str::to_string);
        }
    }
    None
}

/// Paths whose contents stay out of the image (the runtime provides them, or they are caches).
const EMPTIED: &[&str] = &[
    "dev",
    "proc",
    "sys",
    "run",
    "tmp",
    "var/cache/apt/archives",
    "var/lib/apt/lists",
    "debootstrap",
];

impl Store {
    pub fn bootstrap(
        &self,
        opts: &BootstrapOptions,
        progress: &dyn Progress,
    ) -> Result<ImageRecord> {
        if which("debootstrap").is_none() {
            return Err(Error::NotFound(
                "debootstrap is not installed: install it with `apt-get install debootstrap`"
                    .into(),
            ));
        }
        let mirror = opts.mirror.clone().or_else(|| host_mirror(&opts.suite));
        let dir = self.tmp_dir().join(format!("bootstrap-{}", random_name()));
        let result = self.bootstrap_in(&dir, mirror.as_deref(), opts, progress);
        let _ = std::fs::remove_dir_all(&dir);
        result
    }

    fn bootstrap_in(
        &self,
        dir: &Path,
        mirror: Option<&str>,
        opts: &BootstrapOptions,
        progress: &dyn Progress,
    ) -> Result<ImageRecord> {
        std::fs::create_dir_all(dir).ctx("create", dir)?;
        let mut cmd = Command::new("debootstrap");
        cmd.arg(format!(
            "--variant={}",
            opts.variant.as_deref().unwrap_or("minbase")
        ));
        if !opts.include.is_empty() {
            cmd.arg(format!("--include={}", opts.include.join(",")));
        }
        cmd.arg(&opts.suite).arg(dir);
        if let Some(m) = mirror {
            cmd.arg(m);
        }
        progress.begin(
            &format!(
                "debootstrap {} ({})",
                opts.suite,
                mirror.unwrap_or("debootstrap's default mirror")
            ),
            None,
        );
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .ctx("run", "debootstrap")?;
        let stderr = child.stderr.take().expect("piped");
        let err_thread = std::thread::spawn(move || {
            let mut tail: Vec<String> = Vec::new();
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                tail.push(line);
                if tail.len() > 30 {
                    tail.remove(0);
                }
            }
            tail
        });
        let mut last = Vec::new();
        for line in BufReader::new(child.stdout.take().expect("piped"))
            .lines()
            .map_while(Result::ok)
        {
            progress.line(&line);
            last.push(line);
            if last.len() > 30 {
                last.remove(0);
            }
        }
        let status = child.wait().ctx("wait for", "debootstrap")?;
        let err_tail = err_thread.join().unwrap_or_default();
        if !status.success() {
            let log = dir.join("debootstrap/debootstrap.log");
            let log_tail = std::fs::read_to_string(&log)
                .map(|s| {
                    s.lines()
                        .rev()
                        .take(15)
                        .collect::<Vec<_>>()
                        .into_iter()
                        .rev()
                        .collect::<Vec<_>>()
                        .join("\n")
                })
                .unwrap_or_default();
            return Err(Error::invalid(format!(
                "debootstrap {} failed ({status}):\n{}\n{}\n{}",
                opts.suite,
                last.join("\n"),
                err_tail.join("\n"),
                log_tail
            )));
        }
        progress.end("debootstrap finished");
        self.import_dir(dir, opts, progress)
    }

    /// Imports a directory tree as a one-layer image, streaming it as a tar.
    fn import_dir(
        &self,
        dir: &Path,
        opts: &BootstrapOptions,
        progress: &dyn Progress,
    ) -> Result<ImageRecord> {
        let (reader, mut writer) = std::io::pipe().ctx("create pipe", dir)?;
        let dir_owned = dir.to_path_buf();
        let producer = std::thread::spawn(move || -> std::io::Result<()> {
            let mut b = tar::Builder::new(&mut writer);
            b.follow_symlinks(false);
            b.mode(tar::HeaderMode::Complete);
            append_tree(&mut b, &dir_owned)?;
            b.finish()?;
            drop(b);
            writer.flush()
        });
        let io = ImportOptions {
            tags: opts.tags.clone(),
            changes: vec![],
            message: Some(format!(
                "debootstrap {} {}",
                opts.variant.as_deref().unwrap_or("minbase"),
                opts.suite
            )),
            devices: DevicePolicy::Refuse,
            created_by: Some(format!("berth bootstrap {}", opts.suite)),
            base_config: Some(RunConfig {
                env: Some(vec![
                    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
                ]),
                cmd: Some(vec!["bash".into()]),
                ..Default::default()
            }),
        };
        let res = self.import(reader, &io, progress);
        let produced = producer.join().expect("tar thread panicked");
        let img = res?;
        produced.ctx("archive", dir)?;
        Ok(img)
    }
}

/// Appends a tree in sorted order, leaving the contents of [`EMPTIED`] out.
fn append_tree<W: std::io::Write>(b: &mut tar::Builder<W>, root: &Path) -> std::io::Result<()> {
    let walker = walkdir::WalkDir::new(root)
        .sort_by_file_name()
        .min_depth(1)
        .into_iter()
        .filter_entry(|e| {
            let rel = e.path().strip_prefix(root).unwrap_or(e.path());
            !EMPTIED
                .iter()
                .any(|x| rel.starts_with(x) && rel != Path::new(x))
                && rel != Path::new("debootstrap")
        });
    for e in walker {
        let e = e.map_err(std::io::Error::other)?;
        let rel = e.path().strip_prefix(root).expect("below root");
        b.append_path_with_name(e.path(), rel)?;
    }
    Ok(())
}

fn which(cmd: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/sbin:/usr/bin:/sbin:/bin".into());
    std::env::split_paths(&path)
        .map(|p| p.join(cmd))
        .find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirrors_from_sources() {
        let one = "# comment\ndeb [arch=amd64 signed-by=/k.gpg] http://mirror.invalid/debian bookworm main\ndeb http://other.invalid/debian-security bookworm-security main\n";
        assert_eq!(
            mirror_from_one_line(one, "bookworm").as_deref(),
            Some("http://mirror.invalid/debian")
        );
        assert_eq!(mirror_from_one_line(one, "trixie"), None);
        let deb822 = "Types: deb\nURIs: http://a.invalid/debian\nSuites: bookworm bookworm-updates\nComponents: main\n\nTypes: deb\nURIs: http://a.invalid/debian-security\nSuites: bookworm-security\n";
        assert_eq!(
            mirror_from_deb822(deb822, "bookworm").as_deref(),
            Some("http://a.invalid/debian")
        );
        assert_eq!(
            mirror_from_deb822(deb822, "bookworm-security").as_deref(),
            Some("http://a.invalid/debian-security")
        );
    }
}

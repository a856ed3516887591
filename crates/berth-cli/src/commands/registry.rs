//! pull, push, login, logout, registry serve/gc, manifest inspect, image inspect --remote.

use super::open_store;
use crate::cli::{
    InspectArgs, LoginArgs, LogoutArgs, ManifestInspectArgs, PullArgs, PushArgs,
    RegistryAccessArgs, RegistryGcArgs, ServeArgs,
};
use crate::output::{human_size, parse_size, render};
use crate::progress::Reporter;
use anyhow::{bail, Context, Result};
use berth_image::reference::Reference;
use berth_image::Compression;
use berth_registry::auth::{AuthFiles, Credentials};
use berth_registry::client::{Client, Options};
use berth_registry::pull::{self, Platform};
use berth_registry::{push, server};
use serde_json::{json, Value};
use std::io::Read;
use std::path::Path;

pub(super) fn options(a: &RegistryAccessArgs) -> Result<Options> {
    let mut o = Options::from_env()?;
    o.tls_verify = a.tls_verify;
    o.auth = AuthFiles::from_env(a.authfile.as_deref());
    if let Some(c) = &a.creds {
        let (u, p) = c.split_once(':').context("--creds takes USER:PASSWORD")?;
        o.credentials = Some(Credentials {
            username: u.into(),
            password: p.into(),
        });
    }
    Ok(o)
}

pub fn pull(root: &Path, a: PullArgs) -> Result<i32> {
    let r = Reference::parse_tagged(&a.reference)?;
    let mut opts = options(&a.registry)?;
    opts.max_concurrent = a.max_concurrent_downloads.max(1);
    let platform = match &a.platform {
        Some(p) => Platform::parse(p)?,
        None => Platform::host(),
    };
    let store = open_store(root)?;
    let progress = Reporter::new(a.quiet);
    let refs: Vec<Reference> = if a.all_tags {
        if r.digest.is_some() || a.reference.contains(':') && r.tag.as_deref() != Some("latest") {
            bail!("--all-tags takes a repository name without a tag or digest");
        }
        let client =
            pull::connect_for_pull(&r, &opts).with_context(|| format!("pull of {r} failed"))?;
        let tags = client
            .tags(&r.path)
            .with_context(|| format!("listing the tags of {} failed", r.familiar_repository()))?;
        if tags.is_empty() {
            bail!("{} has no tags to pull", r.familiar_repository());
        }
        tags.into_iter()
            .map(|t| Reference {
                tag: Some(t),
                ..r.clone()
            })
            .collect()
    } else {
        vec![r]
    };
    for r in refs {
        if a.all_platforms {
            let reps = pull::pull_all_platforms(&store, &r, &platform, &opts, &progress)
                .with_context(|| format!("pull of {r} failed"))?;
            if !a.quiet {
                eprintln!(
                    "Pulled {r}: {} platform image(s), {} downloaded",
                    reps.len(),
                    human_size(reps.iter().map(|p| p.bytes_downloaded).sum())
                );
            }
            let main = store.resolve(&r.to_string()).ok();
            for rep in &reps {
                if main.as_ref().is_none_or(|m| m.id == rep.image.id) {
                    println!("{}", rep.image.id);
                    break;
                }
            }
            continue;
        }
        let rep = pull::pull(&store, &r, &platform, &opts, &progress)
            .with_context(|| format!("pull of {r} failed"))?;
        if !a.quiet {
            eprintln!(
                "Pulled {r}: digest {}, {} downloaded, {} resumed from an earlier pull, {} of {} layer(s) already present",
                rep.digest,
                human_size(rep.bytes_downloaded),
                human_size(rep.bytes_resumed),
                rep.layers_skipped,
                rep.image.layers.len()
            );
            eprintln!("Digest: {}", rep.digest);
        }
        println!("{}", rep.image.id);
    }
    Ok(0)
}

pub fn push(root: &Path, a: PushArgs) -> Result<i32> {
    let store = open_store(root)?;
    let img = store.resolve(&a.image)?;
    let dest = match &a.destination {
        Some(d) => Reference::parse_tagged(d)?,
        None => {
            let r = Reference::parse_tagged(&a.image).with_context(|| {
                format!("{:?} is not a name to push to: give a DESTINATION", a.image)
            })?;
            if !img.tags.iter().any(|(repo, _)| *repo == r.repository()) {
                bail!(
                    "{:?} is not a name of this image: give a DESTINATION such as 127.0.0.1:5000/app:1",
                    a.image
                );
            }
            r
        }
    };
    if dest.digest.is_some() {
        bail!("cannot push to a digest reference ({dest}); give a tag");
    }
    let compression = a
        .compression
        .as_deref()
        .map(|c| c.parse::<Compression>().map_err(anyhow::Error::msg))
        .transpose()?;
    if matches!(compression, Some(Compression::None | Compression::Xz)) {
        bail!("--compression takes gzip or zstd");
    }
    let mut opts = options(&a.registry)?;
    opts.max_concurrent = a.max_concurrent_uploads.max(1);
    opts.chunk_size = parse_size(&a.chunk_size)?.max(64 * 1024);
    let progress = Reporter::new(a.quiet);
    // A name pulled with --all-platforms (and still naming one of its images) pushes the
    // whole multi-platform image.
    let source = Reference::parse_tagged(&a.image).ok();
    let index = match &source {
        Some(s) if s.digest.is_none() => store
            .index_for_tag(&s.repository(), s.tag_or_latest())?
            .filter(|(d, _)| {
                store
                    .blobs
                    .read(d)
                    .ok()
                    .and_then(|b| berth_image::manifest::parse_index(&b).ok())
                    .is_some_and(|es| es.iter().any(|e| e.descriptor.digest == img.manifest))
            }),
        _ => None,
    };
    if let (Some(source), Some(_)) = (&source, &index) {
        if compression.is_some() {
            bail!("--compression cannot be used on a multi-platform image (it would change the manifests its index names)");
        }
        let (rep, dropped) = push::push_index(&store, source, &dest, &opts, &progress)
            .with_context(|| format!("push of {} to {dest} failed", a.image))?;
        if !dropped.is_empty() {
            eprintln!(
                "warning: the index was pushed without {} entr(ies) the store does not hold ({}); its digest changed",
                dropped.len(),
                dropped.join(", ")
            );
        }
        let sent = format!("{} sent", human_size(rep.bytes_sent));
        report_pushed(&dest, " (multi-platform)", &sent, &rep, a.quiet);
        return Ok(0);
    }
    let rep = push::push(&store, &img, &dest, compression, &opts, &progress)
        .with_context(|| format!("push of {} to {dest} failed", a.image))?;
    let sent = format!(
        "{} sent, {} resumed from an earlier push",
        human_size(rep.bytes_sent),
        human_size(rep.bytes_resumed)
    );
    report_pushed(&dest, "", &sent, &rep, a.quiet);
    Ok(0)
}

/// What a push prints: the digest alone with -q; else a summary on stderr and Docker's
/// "TAG: digest: D size: N" line.
fn report_pushed(dest: &Reference, what: &str, sent: &str, rep: &push::PushReport, quiet: bool) {
    let digest = rep.digest.as_ref().expect("a finished push has a digest");
    if quiet {
        println!("{digest}");
        return;
    }
    eprintln!(
        "Pushed {dest}{what}: {} blob(s) uploaded ({sent}), {} already there, {} mounted",
        rep.blobs_uploaded, rep.blobs_existing, rep.blobs_mounted
    );
    println!(
        "{}: digest: {digest} size: {}",
        dest.tag_or_latest(),
        rep.manifest_size
    );
}

/// A registry host[:port] as given to login/logout (a URL or a reference prefix also works).
fn registry_name(s: &str) -> String {
    let n = berth_registry::auth::normalize_key(s);
    n.split('/').next().unwrap_or(&n).to_string()
}

pub fn login(a: LoginArgs) -> Result<i32> {
    let registry = registry_name(&a.server);
    let username = a
        .username
        .clone()
        .context("give the user name with -u USER")?;
    let password = if a.password_stdin {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .context("cannot read the password from standard input")?;
        s.trim_end_matches(['\n', '\r']).to_string()
    } else if let Some(p) = &a.password {
        p.clone()
    } else {
        bail!("give the password with --password-stdin (or -p)");
    };
    if password.is_empty() {
        bail!("the password is empty");
    }
    let creds = Credentials { username, password };
    let mut opts = Options::from_env()?;
    opts.tls_verify = a.tls_verify;
    opts.auth = AuthFiles::from_env(a.authfile.as_deref());
    opts.credentials = Some(creds.clone());
    let client = Client::connect(&registry, "", &opts)
        .with_context(|| format!("login to {registry} failed"))?;
    client
        .check_login()
        .with_context(|| format!("login to {registry} failed"))?;
    let place = opts
        .auth
        .store(&registry, &creds)
        .with_context(|| format!("cannot save the credentials for {registry}"))?;
    eprintln!("Login Succeeded (credentials saved in {place})");
    Ok(0)
}

pub fn logout(a: LogoutArgs) -> Result<i32> {
    let registry = registry_name(&a.server);
    let files = AuthFiles::from_env(a.authfile.as_deref());
    let removed = files.remove(&registry)?;
    if files.lookup(&registry, "")?.is_some() {
        let docker = files
            .read
            .iter()
            .find(|p| p.ends_with("config.json"))
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        bail!("credentials for {registry} remain in Docker's {docker}; berth does not edit it (use `docker logout {registry}`)");
    }
    if removed {
        eprintln!("Removed login credentials for {registry}");
        Ok(0)
    } else {
        bail!("not logged in to {registry}");
    }
}

pub fn manifest_inspect(a: ManifestInspectArgs) -> Result<i32> {
    let r = Reference::parse_tagged(&a.reference)?;
    let opts = options(&a.registry)?;
    let client = pull::connect_for_pull(&r, &opts)?;
    let reference = match &r.digest {
        Some(d) => d.to_string(),
        None => r.tag_or_latest().to_string(),
    };
    let (bytes, _, _) = client
        .get_manifest(&r.path, &reference)
        .with_context(|| format!("cannot read the manifest of {r}"))?;
    let v: Value = serde_json::from_slice(&bytes)?;
    println!("{}", serde_json::to_string_pretty(&v)?);
    Ok(0)
}

pub fn inspect_remote(a: InspectArgs) -> Result<i32> {
    let opts = options(&a.registry)?;
    let mut out = Vec::new();
    for name in &a.images {
        let r = Reference::parse_tagged(name)?;
        let client = pull::connect_for_pull(&r, &opts)?;
        let res = pull::resolve(&client, &r, &Platform::host())
            .with_context(|| format!("cannot read {r} from its registry"))?;
        let cfg_bytes =
            client.get_small_blob(&r.path, &res.parsed.config.digest, res.parsed.config.size)?;
        let cfg: Value = serde_json::from_slice(&cfg_bytes)
            .with_context(|| format!("the config of {r} is not JSON"))?;
        let tags = client.tags(&r.path).unwrap_or_default();
        out.push(json!({
            "Name": r.repository(),
            "Digest": res.top_digest.to_string(),
            "ManifestDigest": res.digest.to_string(),
            "MediaType": res.media_type,
            "IsIndex": res.top_digest != res.digest,
            "RepoTags": tags,
            "Id": res.parsed.config.digest.to_string(),
            "Created": cfg.get("created").cloned().unwrap_or(Value::Null),
            "Architecture": cfg.get("architecture").cloned().unwrap_or(Value::Null),
            "Os": cfg.get("os").cloned().unwrap_or(Value::Null),
            "Config": cfg.get("config").cloned().unwrap_or(Value::Null),
            "RootFS": cfg.get("rootfs").cloned().unwrap_or(Value::Null),
            "Layers": res.parsed.layers.iter().map(|l| json!({
                "Digest": l.digest.to_string(), "MediaType": l.media_type, "Size": l.size
            })).collect::<Vec<_>>(),
        }));
    }
    match &a.format {
        Some(t) => {
            for o in &out {
                println!("{}", render(t, o)?);
            }
        }
        None => println!("{}", serde_json::to_string_pretty(&out)?),
    }
    Ok(0)
}

/// The served registry's directory: `--root`, or `registry/` under berth's default store.
fn served_root(root: &Path) -> std::path::PathBuf {
    if root == Path::new(berth_store::DEFAULT_ROOT) {
        root.join("registry")
    } else {
        root.to_path_buf()
    }
}

pub fn serve(root: &Path, a: ServeArgs) -> Result<i32> {
    let auth = match (&a.htpasswd, a.auth.as_str()) {
        (None, "basic") => server::AuthMode::None,
        (None, _) => bail!("--auth {} needs --htpasswd FILE with the users", a.auth),
        (Some(p), "basic") => server::AuthMode::Basic(p.clone()),
        (Some(p), "token") => server::AuthMode::Token(p.clone()),
        (Some(_), other) => bail!("--auth takes basic or token, not {other:?}"),
    };
    let cfg = server::Config {
        addr: a.addr.clone(),
        root: served_root(root),
        auth,
        tls: a.tls_cert.clone().zip(a.tls_key.clone()),
        max_upload: parse_size(&a.max_upload_size)?,
    };
    server::run(cfg).with_context(|| format!("registry on {} stopped", a.addr))?;
    Ok(0)
}

pub fn gc(root: &Path, a: RegistryGcArgs) -> Result<i32> {
    let dir = served_root(root);
    let grace = humantime::parse_duration(&a.grace)
        .with_context(|| format!("invalid --grace {:?}: use e.g. 1h, 10m or 0s", a.grace))?;
    let rep = berth_registry::gc::collect(
        &dir,
        &berth_registry::gc::GcOptions {
            delete_untagged: a.delete_untagged,
            grace,
            dry_run: a.dry_run,
        },
    )
    .with_context(|| format!("garbage collection of {} failed", dir.display()))?;
    let verb = if a.dry_run { "would delete" } else { "deleted" };
    println!(
        "{verb} {} manifest(s), {} blob link(s), {} blob(s) ({}), {} stale upload(s)",
        rep.manifests_deleted,
        rep.links_deleted,
        rep.blobs_deleted,
        human_size(rep.bytes_freed),
        rep.uploads_deleted
    );
    Ok(0)
}

pub fn check(root: &Path) -> Result<i32> {
    let dir = served_root(root);
    let r = berth_registry::check::check(&dir)
        .with_context(|| format!("check of the registry in {} failed", dir.display()))?;
    for p in &r.problems {
        println!("problem: {p}");
    }
    for g in &r.garbage {
        println!("garbage (freed by `berth registry gc`): {g}");
    }
    println!(
        "checked {} blob(s) and {} manifest(s)",
        r.blobs_checked, r.manifests_checked
    );
    if r.ok() {
        println!("registry is consistent");
        Ok(0)
    } else {
        println!("registry has problems: remove the broken images (DELETE their manifests) and push them again");
        Ok(1)
    }
}

/// Pulls one image for a build's FROM (default registry settings, this platform).
pub fn pull_for_build(store: &berth_store::Store, name: &str) -> Result<berth_store::ImageRecord> {
    let r = Reference::parse_tagged(name)?;
    let opts = Options::from_env()?;
    let rep = pull::pull(store, &r, &Platform::host(), &opts, &Reporter::new(true))?;
    Ok(rep.image)
}

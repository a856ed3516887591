//! Registry interop with real peers: `docker-registry` (distribution) and `berth registry
//! serve` as servers; berth, skopeo and podman as clients. Only 127.0.0.1 is ever used.

use crate::common::*;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_listening(port: u16, child: &mut Child, what: &str) {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(20) {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        if let Ok(Some(st)) = child.try_wait() {
            panic!("{what} exited early: {st}");
        }
        std::thread::sleep(Duration::from_millis(30));
    }
    panic!("{what} did not listen on {port}");
}

/// A registry server process on a free loopback port, killed on drop.
struct Server {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
    kind: Kind,
    args: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Distribution,
    Berth,
}

impl Server {
    fn start(kind: Kind, htpasswd: Option<&Path>, extra: &[&str]) -> Server {
        let dir = tempfile::Builder::new()
            .prefix("berth-reg-")
            .tempdir()
            .unwrap();
        let port = free_port();
        let args: Vec<String> = match kind {
            Kind::Distribution => {
                let auth = match htpasswd {
                    Some(p) => format!(
                        "auth:\n  htpasswd:\n    realm: test-realm\n    path: {}\n",
                        p.display()
                    ),
                    None => String::new(),
                };
                let cfg = format!(
                    "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n{auth}",
                    dir.path().join("data").display()
                );
                let cfg_path = dir.path().join("config.yml");
                std::fs::write(&cfg_path, cfg).unwrap();
                vec!["serve".into(), cfg_path.to_string_lossy().into_owned()]
            }
            Kind::Berth => {
                let mut a: Vec<String> = vec![
                    "--root".into(),
                    dir.path().join("data").to_string_lossy().into_owned(),
                    "registry".into(),
                    "serve".into(),
                    "--addr".into(),
                    format!("127.0.0.1:{port}"),
                ];
                if let Some(p) = htpasswd {
                    a.push("--htpasswd".into());
                    a.push(p.to_string_lossy().into_owned());
                }
                a.extend(extra.iter().map(|s| s.to_string()));
                a
            }
        };
        let mut s = Server {
            child: Server::spawn(kind, &args, dir.path()),
            port,
            dir,
            kind,
            args,
        };
        wait_listening(port, &mut s.child, &format!("{kind:?} registry"));
        s
    }

    fn spawn(kind: Kind, args: &[String], dir: &Path) -> Child {
        let bin = match kind {
            Kind::Distribution => PathBuf::from("docker-registry"),
            Kind::Berth => berth_bin(),
        };
        Command::new(bin)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("server.log")).unwrap())
            .spawn()
            .unwrap()
    }

    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn restart(&mut self) {
        self.kill();
        self.child = Server::spawn(self.kind, &self.args, self.dir.path());
        wait_listening(self.port, &mut self.child, "restarted registry");
    }

    /// Where this server keeps the bytes of a blob.
    fn blob_file(&self, digest: &str) -> PathBuf {
        let hex = digest.trim_start_matches("sha256:");
        match self.kind {
            Kind::Distribution => self.data().join(format!(
                "docker/registry/v2/blobs/sha256/{}/{hex}/data",
                &hex[..2]
            )),
            Kind::Berth => self.data().join("blobs/sha256").join(hex),
        }
    }
}

impl Server {
    /// `berth registry check` on a berth server's root.
    #[track_caller]
    fn check(&self) -> Run {
        Run {
            out: Command::new(berth_bin())
                .args(["--root", self.data().to_str().unwrap(), "registry", "check"])
                .output()
                .unwrap(),
        }
    }

    #[track_caller]
    fn check_clean(&self) {
        let r = self.check().ok();
        assert!(
            r.stdout().contains("registry is consistent"),
            "{}",
            r.stdout()
        );
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Runs berth with extra environment (credentials file).
fn berth_env(c: &Ctx, env: &[(&str, &Path)], args: &[&str]) -> Run {
    let mut cmd = c.cmd(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    Run {
        out: cmd.output().expect("run berth"),
    }
}

fn push_digest(r: &Run) -> String {
    let out = r.stdout();
    out.split("digest: ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .unwrap_or_else(|| panic!("no digest in push output: {out}"))
        .to_string()
}

fn skopeo_digest(image: &str, extra: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(&sh(&format!(
        "skopeo inspect --tls-verify=false {extra} docker://{image}"
    )))
    .unwrap();
    v["Digest"].as_str().unwrap().to_string()
}

/// curl against a local registry: (status, headers, body).
fn curl(args: &str) -> (u16, String, String) {
    let d = tempfile::tempdir().unwrap();
    let h = d.path().join("h");
    let b = d.path().join("b");
    let code = sh(&format!(
        "curl -s --path-as-is -o {} -D {} -w '%{{http_code}}' {args}",
        b.display(),
        h.display()
    ));
    (
        code.trim().parse().unwrap(),
        std::fs::read_to_string(&h)
            .unwrap_or_default()
            .to_ascii_lowercase(),
        std::fs::read_to_string(&b).unwrap_or_default(),
    )
}

fn htpasswd(dir: &Path, user: &str, pass: &str) -> PathBuf {
    let p = dir.join("htpasswd");
    let line = sh(&format!("htpasswd -nbB {user} {pass}"));
    std::fs::write(&p, line.trim()).unwrap();
    p
}

/// A one-layer image of `mb` MiB of random data, stored gzip-compressed as given.
fn big_image(c: &Ctx, name: &str, mb: usize) -> String {
    let d = c.path("big");
    std::fs::create_dir_all(d.join("rootfs")).unwrap();
    sh(&format!(
        "head -c {mb}M /dev/urandom > {0}/rootfs/blob && tar -C {0}/rootfs -cf - . | gzip -1 > {0}/layer.tar.gz",
        d.display()
    ));
    c.berth(&[
        "import",
        "-q",
        d.join("layer.tar.gz").to_str().unwrap(),
        name,
    ])
    .ok()
    .stdout()
    .trim()
    .to_string()
}

#[test]
fn berth_push_is_pulled_by_skopeo_and_podman_with_the_same_digest() {
    for kind in [Kind::Distribution, Kind::Berth] {
        let reg = Server::start(kind, None, &[]);
        let c = Ctx::new();
        let id = c.busybox("localhost/push-src:1");
        let dest = format!("{}/team/app:1", reg.host());
        // Small chunks: the layer goes up in several PATCH requests.
        let r = c
            .berth(&[
                "push",
                "--tls-verify=false",
                "--chunk-size",
                "256kB",
                "localhost/push-src:1",
                &dest,
            ])
            .ok();
        let digest = push_digest(&r);
        assert_eq!(
            digest,
            c.inspect("localhost/push-src:1")["Manifest"]["Digest"],
            "{kind:?}: the stored manifest went out byte for byte"
        );
        assert_eq!(skopeo_digest(&dest, ""), digest, "{kind:?}: skopeo");
        let p = Podman::new();
        p.run(&format!("pull -q --tls-verify=false {dest}"));
        assert_eq!(
            p.run(&format!("image inspect --format '{{{{.Digest}}}}' {dest}"))
                .trim(),
            digest,
            "{kind:?}: podman sees the same manifest digest"
        );
        assert_eq!(
            format!(
                "sha256:{}",
                p.run(&format!("image inspect --format '{{{{.Id}}}}' {dest}"))
                    .trim()
            ),
            id,
            "{kind:?}: podman sees the same image id"
        );
        // A second push sends nothing: every blob is already there.
        let again = c
            .berth(&["push", "--tls-verify=false", "localhost/push-src:1", &dest])
            .ok();
        assert!(
            again.stderr().contains("0 blob(s) uploaded")
                && again.stderr().contains("2 already there"),
            "{kind:?}: {}",
            again.stderr()
        );
        // Another repository of the same registry: blobs are mounted, not sent.
        c.berth(&["tag", "localhost/push-src:1", &dest]).ok();
        c.berth(&["pull", "--tls-verify=false", &dest]).ok();
        let other = format!("{}/team/other:1", reg.host());
        let m = c.berth(&["push", "--tls-verify=false", &dest, &other]).ok();
        assert!(
            m.stderr().contains("mounted from team/app"),
            "{kind:?}: {}",
            m.stderr()
        );
        assert_eq!(push_digest(&m), digest);
        c.check_clean();
    }
}

#[test]
fn skopeo_and_podman_pushes_are_pulled_by_berth_with_the_same_digest() {
    for kind in [Kind::Distribution, Kind::Berth] {
        let reg = Server::start(kind, None, &[]);
        let p = Podman::new();
        let pid = p.run(&format!(
            "import --change 'CMD [\"sh\"]' {} localhost/frompodman:1",
            busybox_tar().display()
        ));
        let pid = format!("sha256:{}", pid.trim().trim_start_matches("sha256:"));
        let from_podman = format!("{}/podman/img:1", reg.host());
        p.run(&format!(
            "push -q --tls-verify=false localhost/frompodman:1 {from_podman}"
        ));
        let from_skopeo = format!("{}/skopeo/img:2", reg.host());
        sh(&format!(
            "skopeo copy --quiet --src-tls-verify=false --dest-tls-verify=false --format oci docker://{from_podman} docker://{from_skopeo}"
        ));
        let c = Ctx::new();
        for image in [&from_podman, &from_skopeo] {
            let digest = skopeo_digest(image, "");
            let out = c.berth(&["pull", "--tls-verify=false", image]).ok();
            assert_eq!(out.stdout().trim(), pid, "{kind:?} {image}: same image id");
            let i = c.inspect(image);
            assert_eq!(i["Manifest"]["Digest"], digest.as_str(), "{kind:?} {image}");
            let repo = image.rsplit_once(':').unwrap().0;
            assert!(
                i["RepoDigests"]
                    .as_array()
                    .unwrap()
                    .contains(&serde_json::json!(format!("{repo}@{digest}"))),
                "{kind:?}: {}",
                i["RepoDigests"]
            );
            assert_eq!(i["Config"]["Cmd"], serde_json::json!(["sh"]));
            // The image saves and loads elsewhere identically.
            let tar = c.path("saved.tar");
            c.berth(&[
                "save",
                "--format",
                "oci-archive",
                "-o",
                tar.to_str().unwrap(),
                image,
            ])
            .ok();
            let d = Ctx::new();
            d.berth(&["load", "-i", tar.to_str().unwrap()]).ok();
            let j = d.inspect(image);
            for k in ["Id", "RootFS", "Config", "Manifest"] {
                assert_eq!(i[k], j[k], "{kind:?} {image}: {k} after save/load");
            }
            d.check_clean();
        }
        // Pulling again downloads nothing.
        let again = c.berth(&["pull", "--tls-verify=false", &from_podman]).ok();
        assert!(
            again.stderr().contains("1 of 1 layer(s) already present"),
            "{}",
            again.stderr()
        );
        c.check_clean();
    }
}

#[test]
fn indexes_all_tags_and_remote_inspect() {
    for kind in [Kind::Distribution, Kind::Berth] {
        let reg = Server::start(kind, None, &[]);
        let c = Ctx::new();
        c.busybox("localhost/multi:1");
        let h = reg.host();
        let d1 = push_digest(
            &c.berth(&[
                "push",
                "--tls-verify=false",
                "localhost/multi:1",
                &format!("{h}/m/app:a"),
            ])
            .ok(),
        );
        c.berth(&[
            "push",
            "--tls-verify=false",
            "localhost/multi:1",
            &format!("{h}/m/app:b"),
        ])
        .ok();
        // An index listing the image for this machine's platform and another one.
        let m = c.inspect("localhost/multi:1");
        let size = sh(&format!(
            "curl -s -o /dev/null -w '%{{size_download}}' -H 'Accept: application/vnd.oci.image.manifest.v1+json' http://{h}/v2/m/app/manifests/a"
        ));
        let arch = m["Architecture"].as_str().unwrap();
        let index = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [
                {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": d1, "size": size.trim().parse::<u64>().unwrap(),
                 "platform": {"os": "linux", "architecture": "s390x"}},
                {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": d1, "size": size.trim().parse::<u64>().unwrap(),
                 "platform": {"os": "linux", "architecture": arch}},
            ]
        });
        let f = c.path("index.json");
        std::fs::write(&f, index.to_string()).unwrap();
        let (code, _, body) = curl(&format!(
            "-X PUT -H 'Content-Type: application/vnd.oci.image.index.v1+json' --data-binary @{} http://{h}/v2/m/app/manifests/multi",
            f.display()
        ));
        assert_eq!(code, 201, "{kind:?}: {body}");
        let index_digest = format!(
            "sha256:{}",
            sh(&format!("sha256sum {}", f.display()))
                .split_whitespace()
                .next()
                .unwrap()
        );

        let d = Ctx::new();
        let out = d
            .berth(&[
                "pull",
                "--tls-verify=false",
                "--all-tags",
                &format!("{h}/m/app"),
            ])
            .ok();
        assert_eq!(
            out.stdout().lines().count(),
            3,
            "{kind:?}: {}",
            out.stderr()
        );
        let i = d.inspect(&format!("{h}/m/app:multi"));
        assert_eq!(
            i["Manifest"]["Digest"],
            d1.as_str(),
            "{kind:?}: platform manifest kept"
        );
        assert!(
            i["RepoDigests"].to_string().contains(&index_digest),
            "{kind:?}: the index digest is the repo digest: {}",
            i["RepoDigests"]
        );
        let tags: Vec<String> = d
            .images_json()
            .iter()
            .map(|v| v["Tag"].as_str().unwrap_or("").to_string())
            .collect();
        for t in ["a", "b", "multi"] {
            assert!(tags.contains(&t.to_string()), "{kind:?}: {tags:?}");
        }
        // By digest: no tag is made, the repo digest is recorded.
        let e = Ctx::new();
        e.berth(&["pull", "--tls-verify=false", &format!("{h}/m/app@{d1}")])
            .ok();
        assert_eq!(e.images_json().len(), 1, "{kind:?}");
        assert!(
            e.inspect(&format!("{h}/m/app@{d1}"))["RepoTags"]
                .as_array()
                .unwrap()
                .is_empty(),
            "{kind:?}: a digest pull makes no tag"
        );
        e.check_clean();
        d.berth(&[
            "pull",
            "--tls-verify=false",
            "--platform",
            "linux/arm",
            &format!("{h}/m/app:multi"),
        ])
        .fails_with("has no image for linux/arm");
        // Remote reads, without pulling.
        let mi = c
            .berth(&[
                "manifest",
                "inspect",
                "--tls-verify=false",
                &format!("{h}/m/app:multi"),
            ])
            .ok();
        let v: serde_json::Value = serde_json::from_str(&mi.stdout()).unwrap();
        assert_eq!(v["manifests"].as_array().unwrap().len(), 2);
        let ri = c
            .berth(&[
                "image",
                "inspect",
                "--remote",
                "--tls-verify=false",
                &format!("{h}/m/app:a"),
            ])
            .ok();
        let v: serde_json::Value = serde_json::from_str(&ri.stdout()).unwrap();
        assert_eq!(v[0]["Digest"], d1.as_str());
        assert_eq!(v[0]["Id"], m["Id"]);
        assert_eq!(v[0]["RootFS"]["diff_ids"], m["RootFS"]["Layers"]);
        c.berth(&[
            "manifest",
            "inspect",
            "--tls-verify=false",
            &format!("{h}/m/nothere:1"),
        ])
        .fails_with("not found");
        d.check_clean();
    }
}

#[test]
fn logins_basic_and_bearer_with_clear_errors() {
    let c = Ctx::new();
    let pw = htpasswd(c.dir.path(), "alice", "s3cret");
    let authfile = c.path("auth.json");
    let env = [("REGISTRY_AUTH_FILE", authfile.as_path())];
    c.busybox("localhost/auth:1");
    for (kind, extra) in [
        (Kind::Distribution, vec![]),
        (Kind::Berth, vec!["--auth", "basic"]),
        (Kind::Berth, vec!["--auth", "token"]),
    ] {
        let reg = Server::start(kind, Some(&pw), &extra);
        let h = reg.host();
        let dest = format!("{h}/private/app:1");
        berth_env(
            &c,
            &env,
            &["push", "--tls-verify=false", "localhost/auth:1", &dest],
        )
        .fails_with(&format!("run `berth login {h}` first"));
        let login = |pass: &str| {
            let mut cmd = c.cmd(&[
                "login",
                "--tls-verify=false",
                "-u",
                "alice",
                "--password-stdin",
                &h,
            ]);
            cmd.env("REGISTRY_AUTH_FILE", &authfile);
            cmd.stdin(Stdio::piped());
            let mut child = cmd
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            use std::io::Write;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(pass.as_bytes())
                .unwrap();
            Run {
                out: child.wait_with_output().unwrap(),
            }
        };
        login("wrong\n").fails_with("wrong user name or password");
        assert!(!std::fs::read_to_string(&authfile)
            .unwrap_or_default()
            .contains(&h));
        login("s3cret\n").ok();
        assert!(std::fs::read_to_string(&authfile).unwrap().contains(&h));
        let digest = push_digest(
            &berth_env(
                &c,
                &env,
                &["push", "--tls-verify=false", "localhost/auth:1", &dest],
            )
            .ok(),
        );
        // skopeo reads the same auth.json (and runs the token flow against berth's /token).
        assert_eq!(
            skopeo_digest(&dest, &format!("--authfile {}", authfile.display())),
            digest,
            "{kind:?} {extra:?}"
        );
        let d = Ctx::new();
        berth_env(&d, &env, &["pull", "--tls-verify=false", &dest]).ok();
        berth_env(
            &d,
            &env,
            &["pull", "--tls-verify=false", "--creds", "alice:nope", &dest],
        )
        .fails_with("were refused");
        berth_env(&c, &env, &["logout", &h]).ok();
        berth_env(&d, &env, &["pull", "--tls-verify=false", &dest])
            .fails_with("requires authentication");
        berth_env(&c, &env, &["logout", &h]).fails_with("not logged in");
        // The server's answer to a wrong password is the spec's UNAUTHORIZED.
        let (code, headers, body) =
            curl(&format!("-u alice:bad http://{h}/v2/private/app/tags/list"));
        assert_eq!(code, 401, "{kind:?}");
        assert!(headers.contains("www-authenticate"), "{headers}");
        assert!(body.contains("UNAUTHORIZED"), "{body}");
    }
}

#[test]
fn wrong_bytes_from_a_registry_never_land_in_the_store() {
    for kind in [Kind::Distribution, Kind::Berth] {
        let reg = Server::start(kind, None, &[]);
        let c = Ctx::new();
        c.busybox("localhost/bad:1");
        let dest = format!("{}/bad/app:1", reg.host());
        c.berth(&["push", "--tls-verify=false", "localhost/bad:1", &dest])
            .ok();
        let layer = c.inspect("localhost/bad:1")["Manifest"]["Layers"][0]["Digest"]
            .as_str()
            .unwrap()
            .to_string();
        // Flip one byte in the middle of the layer as the registry stores it.
        let f = reg.blob_file(&layer);
        let mut bytes = std::fs::read(&f).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0xff;
        sh(&format!("chmod u+w {}", f.display()));
        std::fs::write(&f, &bytes).unwrap();
        let d = Ctx::new();
        d.berth(&["pull", "--tls-verify=false", &dest])
            .fails_with("digest mismatch");
        assert!(
            d.images_json().is_empty(),
            "{kind:?}: no image was recorded"
        );
        d.check_clean();
        let leftovers: Vec<_> = std::fs::read_dir(d.root().join("ingest"))
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        if kind == Kind::Berth {
            let r = reg.check();
            assert_eq!(r.code(), 1, "{}", r.stdout());
            assert!(
                r.stdout().contains("content does not match its digest"),
                "{}",
                r.stdout()
            );
        }
        assert!(
            leftovers.is_empty(),
            "{kind:?}: wrong bytes were kept: {leftovers:?}"
        );
    }
}

#[test]
fn the_server_refuses_bad_requests_with_spec_error_codes() {
    let reg = Server::start(Kind::Berth, None, &["--max-upload-size", "1400kB"]);
    let h = reg.host();
    let c = Ctx::new();
    c.busybox("localhost/spec:1");
    let digest = push_digest(
        &c.berth(&[
            "push",
            "--tls-verify=false",
            "localhost/spec:1",
            &format!("{h}/s/app:1"),
        ])
        .ok(),
    );
    let expect = |args: &str, code: u16, err: &str| {
        let (got, _, body) = curl(args);
        assert_eq!(got, code, "{args}: {body}");
        assert!(body.contains(err), "{args}: expected {err}, got {body}");
    };
    // Path tricks in repository names.
    expect(
        &format!("http://{h}/v2/s/../app/tags/list"),
        400,
        "NAME_INVALID",
    );
    expect(
        &format!("http://{h}/v2/%2e%2e/app/tags/list"),
        400,
        "NAME_INVALID",
    );
    expect(
        &format!("http://{h}/v2/S/App/manifests/1"),
        400,
        "NAME_INVALID",
    );
    expect(
        &format!("http://{h}/v2/nothere/tags/list"),
        404,
        "NAME_UNKNOWN",
    );
    expect(
        &format!("http://{h}/v2/s/app/manifests/2"),
        404,
        "MANIFEST_UNKNOWN",
    );
    expect(
        &format!("http://{h}/v2/s/app/blobs/sha256:{}", "0".repeat(64)),
        404,
        "BLOB_UNKNOWN",
    );
    expect(
        &format!("http://{h}/v2/s/app/blobs/sha256:xyz"),
        400,
        "DIGEST_INVALID",
    );
    // Malformed manifests, references to missing blobs, digest mismatches.
    let put = |body: &str, reference: &str, ct: &str| {
        let f = c.path("m.json");
        std::fs::write(&f, body).unwrap();
        format!(
            "-X PUT -H 'Content-Type: {ct}' --data-binary @{} http://{h}/v2/s/app/manifests/{reference}",
            f.display()
        )
    };
    let oci = "application/vnd.oci.image.manifest.v1+json";
    expect(&put("not json", "x", oci), 400, "MANIFEST_INVALID");
    expect(
        &put(r#"{"schemaVersion":1}"#, "x", oci),
        400,
        "MANIFEST_INVALID",
    );
    let missing = format!(
        r#"{{"schemaVersion":2,"mediaType":"{oci}","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:{}","size":2}},"layers":[]}}"#,
        "1".repeat(64)
    );
    expect(&put(&missing, "x", oci), 400, "MANIFEST_BLOB_UNKNOWN");
    let real = sh(&format!(
        "curl -s -H 'Accept: {oci}' http://{h}/v2/s/app/manifests/{digest}"
    ));
    expect(
        &put(&real, &format!("sha256:{}", "2".repeat(64)), oci),
        400,
        "DIGEST_INVALID",
    );
    expect(&put(&real, "-bad", oci), 400, "TAG_INVALID");
    expect(&put(&real, "again", oci), 201, "");
    // Uploads: wrong digest, oversize, out-of-order chunk.
    let blob = c.path("blob");
    std::fs::write(&blob, b"hello").unwrap();
    let wrong = format!("sha256:{}", "3".repeat(64));
    expect(
        &format!(
            "-X POST --data-binary @{} 'http://{h}/v2/s/app/blobs/uploads/?digest={wrong}'",
            blob.display()
        ),
        400,
        "DIGEST_INVALID",
    );
    let big = c.path("big");
    std::fs::write(&big, vec![7u8; 1_500_000]).unwrap();
    let big_digest = format!(
        "sha256:{}",
        sh(&format!("sha256sum {}", big.display()))
            .split_whitespace()
            .next()
            .unwrap()
    );
    expect(
        &format!(
            "-X POST --data-binary @{} 'http://{h}/v2/s/app/blobs/uploads/?digest={big_digest}'",
            big.display()
        ),
        413,
        "SIZE_INVALID",
    );
    let (code, headers, _) = curl(&format!("-X POST http://{h}/v2/s/app/blobs/uploads/"));
    assert_eq!(code, 202);
    let loc = headers
        .lines()
        .find_map(|l| l.strip_prefix("location: "))
        .unwrap()
        .trim()
        .to_string();
    expect(
        &format!(
            "-X PATCH -H 'Content-Range: 5-9' --data-binary @{} http://{h}{loc}",
            blob.display()
        ),
        416,
        "BLOB_UPLOAD_INVALID",
    );
    expect(
        &format!("http://{h}/v2/s/app/blobs/uploads/{}", "f".repeat(32)),
        404,
        "BLOB_UPLOAD_UNKNOWN",
    );
    // Range reads.
    let layer = c.inspect("localhost/spec:1")["Manifest"]["Layers"][0]["Digest"]
        .as_str()
        .unwrap()
        .to_string();
    let (code, headers, _) = curl(&format!(
        "-H 'Range: bytes=10-19' http://{h}/v2/s/app/blobs/{layer}"
    ));
    assert_eq!(code, 206);
    assert!(headers.contains("content-range: bytes 10-19/"), "{headers}");
    assert!(headers.contains("content-length: 10"), "{headers}");
    let (code, headers, _) = curl(&format!("-I http://{h}/v2/s/app/blobs/{layer}"));
    assert_eq!(code, 200);
    assert!(
        headers.contains(&format!("docker-content-digest: {layer}")),
        "{headers}"
    );
    // Tag pagination and the catalog.
    for t in ["t2", "t3"] {
        c.berth(&[
            "push",
            "--tls-verify=false",
            "localhost/spec:1",
            &format!("{h}/s/app:{t}"),
        ])
        .ok();
    }
    let (code, headers, body) = curl(&format!("'http://{h}/v2/s/app/tags/list?n=2'"));
    assert_eq!(code, 200);
    assert_eq!(body, r#"{"name":"s/app","tags":["1","again"]}"#);
    assert!(
        headers.contains("link: </v2/s/app/tags/list?n=2&last=again>; rel=\"next\""),
        "{headers}"
    );
    let (_, headers, body) = curl(&format!("'http://{h}/v2/s/app/tags/list?n=2&last=again'"));
    assert_eq!(body, r#"{"name":"s/app","tags":["t2","t3"]}"#);
    assert!(!headers.contains("link:"), "{headers}");
    let (_, _, body) = curl(&format!("http://{h}/v2/_catalog"));
    assert_eq!(body, r#"{"repositories":["s/app"]}"#);
    // Referrers: an artifact whose subject is the image.
    let empty = c.path("empty");
    std::fs::write(&empty, b"{}").unwrap();
    let empty_digest = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";
    expect(
        &format!(
            "-X POST --data-binary @{} 'http://{h}/v2/s/app/blobs/uploads/?digest={empty_digest}'",
            empty.display()
        ),
        201,
        "",
    );
    let art = format!(
        r#"{{"schemaVersion":2,"mediaType":"{oci}","artifactType":"application/x-test-sig","config":{{"mediaType":"application/vnd.oci.empty.v1+json","digest":"{empty_digest}","size":2}},"layers":[],"subject":{{"mediaType":"{oci}","digest":"{digest}","size":{}}},"annotations":{{"k":"v"}}}}"#,
        real.len()
    );
    let art_digest = format!(
        "sha256:{}",
        sh(&format!("printf '%s' '{art}' | sha256sum"))
            .split_whitespace()
            .next()
            .unwrap()
    );
    let (code, headers, body) = curl(&put(&art, &art_digest, oci));
    assert_eq!(code, 201, "{body}");
    assert!(
        headers.contains(&format!("oci-subject: {digest}")),
        "{headers}"
    );
    let (code, _, body) = curl(&format!("http://{h}/v2/s/app/referrers/{digest}"));
    assert_eq!(code, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["manifests"][0]["digest"], art_digest.as_str());
    assert_eq!(v["manifests"][0]["artifactType"], "application/x-test-sig");
    assert_eq!(v["manifests"][0]["annotations"]["k"], "v");
    let (_, headers, body) = curl(&format!(
        "'http://{h}/v2/s/app/referrers/{digest}?artifactType=other'"
    ));
    assert!(
        headers.contains("oci-filters-applied: artifacttype"),
        "{headers}"
    );
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap()["manifests"],
        serde_json::json!([])
    );
    // Delete.
    expect(
        &format!("-X DELETE http://{h}/v2/s/app/manifests/{art_digest}"),
        202,
        "",
    );
    expect(
        &format!("http://{h}/v2/s/app/manifests/{art_digest}"),
        404,
        "MANIFEST_UNKNOWN",
    );
    expect(
        &format!("-X DELETE http://{h}/v2/s/app/blobs/{empty_digest}"),
        202,
        "",
    );
    expect(
        &format!("http://{h}/v2/s/app/blobs/{empty_digest}"),
        404,
        "BLOB_UNKNOWN",
    );
    reg.check_clean();
}

#[test]
fn gc_runs_while_the_registry_serves() {
    let reg = Server::start(Kind::Berth, None, &[]);
    let h = reg.host();
    let c = Ctx::new();
    c.busybox("localhost/keep:1");
    let t = c.path("other.tar");
    make_tar(&t, &[("hello.txt", b"only in the deleted image")]);
    c.berth(&["import", "-q", t.to_str().unwrap(), "localhost/drop:1"])
        .ok();
    let keep = format!("{h}/gc/keep:1");
    let drop = format!("{h}/gc/drop:1");
    let keep_digest = push_digest(
        &c.berth(&["push", "--tls-verify=false", "localhost/keep:1", &keep])
            .ok(),
    );
    let drop_digest = push_digest(
        &c.berth(&["push", "--tls-verify=false", "localhost/drop:1", &drop])
            .ok(),
    );
    let drop_layer = c.inspect("localhost/drop:1")["Manifest"]["Layers"][0]["Digest"]
        .as_str()
        .unwrap()
        .to_string();
    // Nothing unreferenced yet.
    let root = reg.data();
    let gc = |args: &[&str]| {
        let out = Command::new(berth_bin())
            .args([
                "--root",
                root.to_str().unwrap(),
                "registry",
                "gc",
                "--grace",
                "0s",
            ])
            .args(args)
            .output()
            .unwrap();
        Run { out }.ok().stdout()
    };
    assert!(gc(&[]).contains("deleted 0 manifest(s), 0 blob link(s), 0 blob(s)"));
    reg.check_clean();
    let (code, _, _) = curl(&format!("-X DELETE http://{h}/v2/gc/drop/manifests/1"));
    assert_eq!(code, 202);
    assert!(reg.blob_file(&drop_layer).exists());
    let out = gc(&["--delete-untagged"]);
    assert!(
        out.contains("deleted 1 manifest(s), 2 blob link(s), 3 blob(s)"),
        "{out}"
    );
    assert!(!reg.blob_file(&drop_layer).exists());
    assert!(!reg.blob_file(&drop_digest).exists());
    // The server goes on serving what is left.
    assert_eq!(skopeo_digest(&keep, ""), keep_digest);
    let d = Ctx::new();
    d.berth(&["pull", "--tls-verify=false", &keep]).ok();
    d.berth(&["pull", "--tls-verify=false", &drop])
        .fails_with("not found");
    reg.check_clean();
    d.check_clean();
}

fn file_size(p: &Path) -> u64 {
    std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)
}

fn largest_in(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| file_size(&e.path()))
                .max()
                .unwrap_or(0)
        })
        .unwrap_or(0)
}

/// Number after `label` in text like "12.5MB resumed".
fn bytes_before(text: &str, label: &str) -> f64 {
    let i = text
        .find(label)
        .unwrap_or_else(|| panic!("{label:?} not in {text}"));
    let word = text[..i].split_whitespace().last().unwrap();
    let (n, unit) = word.split_at(word.find(|c: char| c.is_ascii_alphabetic()).unwrap());
    let n: f64 = n.trim_start_matches('(').parse().unwrap();
    n * match unit {
        "B" => 1.0,
        "kB" => 1e3,
        "MB" => 1e6,
        "GB" => 1e9,
        u => panic!("unit {u}"),
    }
}

#[test]
fn an_interrupted_pull_resumes_after_the_registry_is_killed() {
    let mut reg = Server::start(Kind::Distribution, None, &[]);
    let c = Ctx::new();
    big_image(&c, "localhost/big:1", 64);
    let dest = format!("{}/big/app:1", reg.host());
    c.berth(&["push", "--tls-verify=false", "localhost/big:1", &dest])
        .ok();
    let layer = c.inspect("localhost/big:1")["Manifest"]["Layers"][0].clone();
    let hex = layer["Digest"].as_str().unwrap()[7..].to_string();
    let total = layer["Size"].as_u64().unwrap();

    let d = Ctx::new();
    let partial = d.root().join(format!("ingest/pull-{hex}.partial"));
    let mut child = d
        .cmd(&["pull", "--tls-verify=false", &dest])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while file_size(&partial) < 8 << 20 {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "download never started"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "pull finished before it could be interrupted"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    reg.kill();
    let st = child.wait().unwrap();
    assert!(!st.success(), "the pull must fail when the registry dies");
    let kept = file_size(&partial);
    assert!(
        kept >= 8 << 20 && kept < total,
        "partial download kept: {kept} of {total}"
    );
    d.check_clean();

    reg.restart();
    let r = d.berth(&["pull", "--tls-verify=false", &dest]).ok();
    let err = r.stderr();
    assert!(err.contains("resuming download at byte"), "{err}");
    let resumed = bytes_before(&err, "resumed from an earlier pull");
    let downloaded = bytes_before(&err, "downloaded,");
    assert!(resumed >= kept as f64 * 0.99, "{err}");
    assert!(
        downloaded <= (total - kept) as f64 * 1.01 + 1e5,
        "only the rest was fetched: {err}"
    );
    assert!(!partial.exists());
    assert_eq!(d.inspect(&dest)["Id"], c.inspect("localhost/big:1")["Id"]);
    d.check_clean();
}

#[test]
fn an_interrupted_push_resumes_from_the_servers_offset() {
    let reg = Server::start(Kind::Berth, None, &[]);
    let c = Ctx::new();
    big_image(&c, "localhost/bigpush:1", 64);
    let dest = format!("{}/big/push:1", reg.host());
    let layer = c.inspect("localhost/bigpush:1")["Manifest"]["Layers"][0].clone();
    let total = layer["Size"].as_u64().unwrap();
    let mut child = c
        .cmd(&[
            "push",
            "--tls-verify=false",
            "--chunk-size",
            "2MB",
            "localhost/bigpush:1",
            &dest,
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let uploads = reg.data().join("uploads");
    let start = Instant::now();
    while largest_in(&uploads) < 8 << 20 {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "upload never started"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "push finished before it could be interrupted"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    let _ = child.kill();
    let _ = child.wait();
    std::thread::sleep(Duration::from_millis(200));
    let held = largest_in(&uploads);
    assert!(
        held >= 8 << 20 && held < total,
        "server holds {held} of {total}"
    );

    // The registry is consistent with half an upload in it.
    reg.check_clean();
    let r = c
        .berth(&[
            "push",
            "--tls-verify=false",
            "--chunk-size",
            "2MB",
            "localhost/bigpush:1",
            &dest,
        ])
        .ok();
    let err = r.stderr();
    assert!(err.contains("resuming upload at byte"), "{err}");
    let resumed = bytes_before(&err, "resumed from an earlier push");
    let sent = bytes_before(&err, "sent,");
    assert!(resumed >= held as f64 * 0.99, "{err}");
    assert!(
        sent <= (total - held) as f64 * 1.01 + 1e5,
        "only the rest was sent: {err}"
    );
    let digest = push_digest(&r);
    assert_eq!(skopeo_digest(&dest, ""), digest);
    let d = Ctx::new();
    d.berth(&["pull", "--tls-verify=false", &dest]).ok();
    d.check_clean();
    c.check_clean();
    reg.check_clean();
}

/// A CA and a certificate for 127.0.0.1 signed by it (webpki refuses a self-signed leaf).
fn make_certs(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let d = dir.display();
    sh(&format!(
        "cd {d} && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=berth-test-ca 2>/dev/null \
         && openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout key.pem -out leaf.csr -subj /CN=127.0.0.1 2>/dev/null \
         && printf 'subjectAltName=IP:127.0.0.1\\nbasicConstraints=CA:FALSE\\nextendedKeyUsage=serverAuth\\n' > ext.cnf \
         && openssl x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile ext.cnf -out cert.pem 2>/dev/null"
    ));
    (
        dir.join("ca.pem"),
        dir.join("cert.pem"),
        dir.join("key.pem"),
    )
}

#[test]
fn tls_zstd_and_the_insecure_registries_setting() {
    let c = Ctx::new();
    let (ca, cert, key) = make_certs(c.dir.path());
    let reg = Server::start(
        Kind::Berth,
        None,
        &[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
    );
    let id = c.busybox("localhost/tls:1");
    let dest = format!("{}/secure/app:1", reg.host());
    // Verification on, the CA unknown: a clear refusal with the way out.
    c.berth(&["push", "localhost/tls:1", &dest])
        .fails_with("--tls-verify=false");
    // The CA trusted through the standard variable: verified https works.
    let mut cmd = c.cmd(&["push", "--compression", "zstd", "localhost/tls:1", &dest]);
    cmd.env("SSL_CERT_FILE", &ca);
    let r = Run {
        out: cmd.output().unwrap(),
    }
    .ok();
    let digest = push_digest(&r);
    // Recompressed with zstd: a new OCI manifest, read by skopeo and pulled back by berth.
    let v: serde_json::Value = serde_json::from_str(&sh(&format!(
        "skopeo inspect --raw --tls-verify=false docker://{dest}"
    )))
    .unwrap();
    assert_eq!(
        v["layers"][0]["mediaType"],
        "application/vnd.oci.image.layer.v1.tar+zstd"
    );
    assert_ne!(digest, c.inspect("localhost/tls:1")["Manifest"]["Digest"]);
    assert_eq!(skopeo_digest(&dest, ""), digest);
    let p = Podman::new();
    p.run(&format!("pull -q --tls-verify=false {dest}"));
    assert_eq!(
        p.run(&format!("image inspect --format '{{{{.Digest}}}}' {dest}"))
            .trim(),
        digest
    );
    // The insecure list in the settings file stands in for --tls-verify=false.
    let conf = c.path("registries.json");
    std::fs::write(&conf, format!(r#"{{"insecure": ["{}"]}}"#, reg.host())).unwrap();
    let d = Ctx::new();
    let mut cmd = d.cmd(&["pull", &dest]);
    cmd.env("BERTH_REGISTRIES_CONF", &conf);
    let out = Run {
        out: cmd.output().unwrap(),
    }
    .ok();
    assert_eq!(
        out.stdout().trim(),
        id,
        "same image id after zstd round trip"
    );
    let i = d.inspect(&dest);
    assert_eq!(i["Manifest"]["Digest"], digest.as_str());
    assert_eq!(i["RootFS"], c.inspect("localhost/tls:1")["RootFS"]);
    d.check_clean();
}

fn sha256_file(p: &Path) -> String {
    sh(&format!("sha256sum {}", p.display()))
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

/// An oci-archive of one image named `name` whose layers each hold one file with the
/// given content (gzip layers, so their digests are fixed by the bytes here).
fn layered_archive(c: &Ctx, name: &str, contents: &[&str]) -> PathBuf {
    let dir = c.path(&format!("layout-{}", name.replace(['/', ':'], "-")));
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let mut diff_ids = Vec::new();
    let mut layers = Vec::new();
    for (i, content) in contents.iter().enumerate() {
        let tar = dir.join(format!("layer{i}.tar"));
        make_tar(&tar, &[(&format!("layer{i}.txt"), content.as_bytes())]);
        diff_ids.push(format!("sha256:{}", sha256_file(&tar)));
        let gz = dir.join(format!("layer{i}.tar.gz"));
        sh(&format!(
            "gzip -1 -n -c {} > {}",
            tar.display(),
            gz.display()
        ));
        let hex = sha256_file(&gz);
        let size = std::fs::metadata(&gz).unwrap().len();
        std::fs::rename(&gz, blobs.join(&hex)).unwrap();
        std::fs::remove_file(&tar).unwrap();
        layers.push(serde_json::json!({
            "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
            "digest": format!("sha256:{hex}"), "size": size
        }));
    }
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "config": {"Cmd": ["sh"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    })
    .to_string();
    let put = |bytes: &[u8]| -> (String, usize) {
        let f = dir.join("tmp");
        std::fs::write(&f, bytes).unwrap();
        let hex = sha256_file(&f);
        std::fs::rename(&f, blobs.join(&hex)).unwrap();
        (format!("sha256:{hex}"), bytes.len())
    };
    let (cd, cs) = put(config.as_bytes());
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cs},
        "layers": layers,
    })
    .to_string();
    let (md, ms) = put(manifest.as_bytes());
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": ms,
            "annotations": {"org.opencontainers.image.ref.name": name}}],
    });
    std::fs::write(dir.join("index.json"), index.to_string()).unwrap();
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let out = c.path(&format!("{}.tar", name.replace(['/', ':'], "-")));
    sh(&format!("tar -C {} -cf {} .", dir.display(), out.display()));
    out
}

#[test]
fn many_layers_move_in_parallel_and_present_ones_are_skipped() {
    let contents: Vec<String> = (0..5)
        .map(|i| format!("layer {i} ").repeat(20_000))
        .collect();
    let first: Vec<&str> = contents.iter().map(String::as_str).collect();
    let mut second = first.clone();
    second[4] = "a different top layer";
    for kind in [Kind::Distribution, Kind::Berth] {
        let reg = Server::start(kind, None, &[]);
        let h = reg.host();
        let c = Ctx::new();
        let a = layered_archive(&c, "localhost/layers:a", &first);
        let b = layered_archive(&c, "localhost/layers:b", &second);
        c.berth(&["load", "-i", a.to_str().unwrap()]).ok();
        c.berth(&["load", "-i", b.to_str().unwrap()]).ok();
        let da = push_digest(
            &c.berth(&[
                "push",
                "--tls-verify=false",
                "--max-concurrent-uploads",
                "4",
                "localhost/layers:a",
                &format!("{h}/layers/app:a"),
            ])
            .ok(),
        );
        assert_eq!(skopeo_digest(&format!("{h}/layers/app:a"), ""), da);
        let pb = c
            .berth(&[
                "push",
                "--tls-verify=false",
                "--max-concurrent-uploads",
                "1",
                "localhost/layers:b",
                &format!("{h}/layers/app:b"),
            ])
            .ok();
        assert!(
            pb.stderr().contains("2 blob(s) uploaded") && pb.stderr().contains("4 already there"),
            "{kind:?}: shared layers are not sent again: {}",
            pb.stderr()
        );
        let d = Ctx::new();
        let r = d
            .berth(&[
                "pull",
                "--tls-verify=false",
                "--max-concurrent-downloads",
                "4",
                &format!("{h}/layers/app:a"),
            ])
            .ok();
        assert!(
            r.stderr().contains("0 of 5 layer(s) already present"),
            "{}",
            r.stderr()
        );
        assert_eq!(
            d.inspect(&format!("{h}/layers/app:a"))["Id"],
            c.inspect("localhost/layers:a")["Id"]
        );
        let r = d
            .berth(&[
                "pull",
                "--tls-verify=false",
                "--max-concurrent-downloads",
                "1",
                &format!("{h}/layers/app:b"),
            ])
            .ok();
        assert!(
            r.stderr().contains("4 of 5 layer(s) already present"),
            "{kind:?}: {}",
            r.stderr()
        );
        let p = Podman::new();
        p.run(&format!("pull -q --tls-verify=false {h}/layers/app:b"));
        assert_eq!(
            p.run(&format!(
                "image inspect --format '{{{{.Digest}}}}' {h}/layers/app:b"
            ))
            .trim(),
            d.inspect(&format!("{h}/layers/app:b"))["Manifest"]["Digest"]
                .as_str()
                .unwrap()
        );
        // The same layer twice in one image goes up and comes down once.
        let dup = layered_archive(&c, "localhost/layers:dup", &["twice", "twice", "once"]);
        c.berth(&["load", "-i", dup.to_str().unwrap()]).ok();
        let dd = push_digest(
            &c.berth(&[
                "push",
                "--tls-verify=false",
                "localhost/layers:dup",
                &format!("{h}/layers/dup:1"),
            ])
            .ok(),
        );
        let e = Ctx::new();
        e.berth(&["pull", "--tls-verify=false", &format!("{h}/layers/dup:1")])
            .ok();
        assert_eq!(
            e.inspect(&format!("{h}/layers/dup:1"))["Manifest"]["Digest"],
            dd.as_str()
        );
        e.check_clean();
        d.check_clean();
    }
}

#[test]
fn a_push_continues_by_itself_when_the_registry_restarts() {
    let mut reg = Server::start(Kind::Berth, None, &[]);
    let c = Ctx::new();
    big_image(&c, "localhost/restart:1", 48);
    let dest = format!("{}/big/restart:1", reg.host());
    let child = c
        .cmd(&[
            "push",
            "--tls-verify=false",
            "--chunk-size",
            "1MB",
            "localhost/restart:1",
            &dest,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let uploads = reg.data().join("uploads");
    let start = Instant::now();
    while largest_in(&uploads) < 6 << 20 {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "upload never started"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    reg.restart();
    let r = Run {
        out: child.wait_with_output().unwrap(),
    }
    .ok();
    assert!(r.stderr().contains("continuing at byte"), "{}", r.stderr());
    assert_eq!(skopeo_digest(&dest, ""), push_digest(&r));
    reg.check_clean();
}

#[test]
fn uncompressed_layers_keep_their_digests() {
    for kind in [Kind::Distribution, Kind::Berth] {
        let reg = Server::start(kind, None, &[]);
        let h = reg.host();
        let c = Ctx::new();
        // An image whose only layer is a plain tar, uploaded by hand.
        let layer = busybox_tar();
        let layer_digest = format!("sha256:{}", sha256_file(&layer));
        let layer_size = std::fs::metadata(&layer).unwrap().len();
        let config = c.path("config.json");
        std::fs::write(
            &config,
            serde_json::json!({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["sh"]},
                "rootfs": {"type": "layers", "diff_ids": [layer_digest]}})
            .to_string(),
        )
        .unwrap();
        let config_digest = format!("sha256:{}", sha256_file(&config));
        for (f, d) in [(&layer, &layer_digest), (&config, &config_digest)] {
            let (code, _, body) = curl(&format!(
                "-X POST -H 'Content-Type: application/octet-stream' --data-binary @{} 'http://{h}/v2/plain/app/blobs/uploads/?digest={d}'",
                f.display()
            ));
            if code == 202 {
                // distribution wants POST then PUT for a monolithic upload.
                // (Headers as sent: the upload state in the location is case-sensitive.)
                let headers = sh(&format!(
                    "curl -s -D - -o /dev/null -X POST http://{h}/v2/plain/app/blobs/uploads/"
                ));
                let loc = headers
                    .lines()
                    .find_map(|l| {
                        l.split_once(':')
                            .filter(|(k, _)| k.eq_ignore_ascii_case("location"))
                            .map(|(_, v)| v.trim().to_string())
                    })
                    .unwrap();
                let sep = if loc.contains('?') { '&' } else { '?' };
                let url = if loc.starts_with("http") {
                    loc.clone()
                } else {
                    format!("http://{h}{loc}")
                };
                let (code, _, body) = curl(&format!(
                    "-X PUT -H 'Content-Type: application/octet-stream' --data-binary @{} '{url}{sep}digest={d}'",
                    f.display()
                ));
                assert_eq!(code, 201, "{kind:?}: {body}");
            } else {
                assert_eq!(code, 201, "{kind:?}: {body}");
            }
        }
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest,
                "size": std::fs::metadata(&config).unwrap().len()},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer_digest, "size": layer_size}],
        })
        .to_string();
        let mf = c.path("manifest.json");
        std::fs::write(&mf, &manifest).unwrap();
        let (code, _, body) = curl(&format!(
            "-X PUT -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' --data-binary @{} http://{h}/v2/plain/app/manifests/1",
            mf.display()
        ));
        assert_eq!(code, 201, "{kind:?}: {body}");
        let manifest_digest = format!("sha256:{}", sha256_file(&mf));
        let image = format!("{h}/plain/app:1");
        let id = c
            .berth(&["pull", "--tls-verify=false", &image])
            .ok()
            .stdout();
        assert_eq!(id.trim(), config_digest);
        let i = c.inspect(&image);
        assert_eq!(
            i["Manifest"]["Digest"],
            manifest_digest.as_str(),
            "{kind:?}"
        );
        assert_eq!(i["RootFS"]["Layers"][0], layer_digest.as_str());
        c.check_clean();
        // Out again byte for byte, and readable by skopeo.
        let again = format!("{h}/plain/again:1");
        let d = push_digest(
            &c.berth(&["push", "--tls-verify=false", &image, &again])
                .ok(),
        );
        assert_eq!(d, manifest_digest, "{kind:?}");
        assert_eq!(skopeo_digest(&again, ""), manifest_digest);
    }
}

/// A token server, as a registry's auth service: it checks basic credentials and signs
/// JWTs (RS256, certificate chain in `x5c`) with `openssl`, for docker-registry's token
/// auth. Serves until the test process ends.
struct TokenServer {
    port: u16,
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap()
}

impl TokenServer {
    fn start(dir: &Path, user: &str, pass: &str) -> TokenServer {
        let d = dir.display();
        sh(&format!(
            "cd {d} && openssl req -x509 -newkey rsa:2048 -nodes -keyout tok-ca.key -out tok-ca.pem -days 2 -subj /CN=token-ca 2>/dev/null \
             && openssl req -newkey rsa:2048 -nodes -keyout tok.key -out tok.csr -subj /CN=token-signer 2>/dev/null \
             && printf 'basicConstraints=CA:FALSE\\nkeyUsage=digitalSignature\\n' > tok.cnf \
             && openssl x509 -req -in tok.csr -CA tok-ca.pem -CAkey tok-ca.key -CAcreateserial -days 2 -extfile tok.cnf -out tok.pem 2>/dev/null"
        ));
        let x5c = sh(&format!(
            "openssl x509 -in {d}/tok.pem -outform DER | openssl base64 -A"
        ));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let expected = format!(
            "Basic {}",
            sh(&format!("printf '%s' '{user}:{pass}' | openssl base64 -A")).trim()
        );
        let key = dir.join("tok.key");
        std::thread::spawn(move || {
            use std::io::{BufRead, BufReader, Write};
            for stream in listener.incoming().flatten() {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut first = String::new();
                reader.read_line(&mut first).unwrap_or(0);
                let mut auth = String::new();
                loop {
                    let mut l = String::new();
                    if reader.read_line(&mut l).unwrap_or(0) == 0 || l == "\r\n" {
                        break;
                    }
                    if let Some((k, v)) = l.split_once(':') {
                        if k.eq_ignore_ascii_case("authorization") {
                            auth = v.trim().to_string();
                        }
                    }
                }
                let target = first.split_whitespace().nth(1).unwrap_or("").to_string();
                let query = target.split_once('?').map(|x| x.1).unwrap_or("");
                let mut access = Vec::new();
                for (k, v) in query.split('&').filter_map(|kv| kv.split_once('=')) {
                    if k != "scope" {
                        continue;
                    }
                    for scope in percent_decode(v).split(' ') {
                        let mut parts = scope.rsplitn(2, ':');
                        let actions = parts.next().unwrap_or("");
                        let (kind, name) = parts
                            .next()
                            .unwrap_or("")
                            .split_once(':')
                            .unwrap_or(("", ""));
                        access.push(serde_json::json!({"type": kind, "name": name,
                            "actions": actions.split(',').collect::<Vec<_>>()}));
                    }
                }
                let mut out = stream;
                if auth != expected {
                    let body =
                        r#"{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]}"#;
                    let _ = write!(out, "HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
                    continue;
                }
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_secs();
                let header = serde_json::json!({"typ": "JWT", "alg": "RS256", "x5c": [x5c.trim()]});
                let claims = serde_json::json!({"iss": "test-issuer", "sub": "alice", "aud": "test-service",
                    "exp": now + 300, "nbf": now - 10, "iat": now, "jti": format!("{now}-{}", access.len()),
                    "access": access});
                let b64 = "openssl base64 -A | tr '+/' '-_' | tr -d '='";
                let jwt = sh(&format!(
                    "h=$(printf '%s' '{header}' | {b64}); c=$(printf '%s' '{claims}' | {b64}); \
                     s=$(printf '%s.%s' \"$h\" \"$c\" | openssl dgst -sha256 -sign {} | {b64}); printf '%s.%s.%s' \"$h\" \"$c\" \"$s\"",
                    key.display()
                ));
                let body = serde_json::json!({"token": jwt, "expires_in": 300}).to_string();
                let _ = write!(out, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
            }
        });
        TokenServer { port }
    }
}

#[test]
fn bearer_tokens_from_a_separate_token_server_for_docker_registry() {
    let c = Ctx::new();
    let tokens = TokenServer::start(c.dir.path(), "alice", "s3cret");
    // docker-registry trusting the token server's CA.
    let dir = tempfile::Builder::new()
        .prefix("berth-reg-")
        .tempdir()
        .unwrap();
    let port = free_port();
    let cfg = format!(
        "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\nauth:\n  token:\n    realm: http://127.0.0.1:{}/token\n    service: test-service\n    issuer: test-issuer\n    rootcertbundle: {}\n",
        dir.path().join("data").display(),
        tokens.port,
        c.path("tok-ca.pem").display()
    );
    std::fs::write(dir.path().join("config.yml"), cfg).unwrap();
    let mut reg = Server {
        child: Server::spawn(
            Kind::Distribution,
            &[
                "serve".into(),
                dir.path().join("config.yml").to_string_lossy().into_owned(),
            ],
            dir.path(),
        ),
        port,
        dir,
        kind: Kind::Distribution,
        args: vec![],
    };
    wait_listening(port, &mut reg.child, "docker-registry with token auth");
    let h = reg.host();
    let authfile = c.path("auth.json");
    let env = [("REGISTRY_AUTH_FILE", authfile.as_path())];
    c.busybox("localhost/tok:1");
    let dest = format!("{h}/tok/app:1");
    berth_env(
        &c,
        &env,
        &["push", "--tls-verify=false", "localhost/tok:1", &dest],
    )
    .fails_with("requires authentication");
    berth_env(
        &c,
        &env,
        &[
            "push",
            "--tls-verify=false",
            "--creds",
            "alice:wrong",
            "localhost/tok:1",
            &dest,
        ],
    )
    .fails_with("wrong user name or password");
    let digest = push_digest(
        &berth_env(
            &c,
            &env,
            &[
                "push",
                "--tls-verify=false",
                "--creds",
                "alice:s3cret",
                "localhost/tok:1",
                &dest,
            ],
        )
        .ok(),
    );
    assert_eq!(
        skopeo_digest(&dest, "--creds alice:s3cret"),
        digest,
        "skopeo reads what berth pushed through the same token server"
    );
    let d = Ctx::new();
    berth_env(
        &d,
        &env,
        &[
            "pull",
            "--tls-verify=false",
            "--creds",
            "alice:s3cret",
            &dest,
        ],
    )
    .ok();
    assert_eq!(d.inspect(&dest)["Manifest"]["Digest"], digest.as_str());
    d.check_clean();
}

/// Writes the blobs of one image (gzip layers from the raw tars, a config for `arch`)
/// into the OCI layout at `dir`; returns the manifest's digest and size.
fn layout_image(dir: &Path, arch: &str, tars: &[Vec<u8>]) -> (String, usize) {
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let put = |bytes: &[u8]| -> (String, usize) {
        let tmp = dir.join("tmp");
        std::fs::write(&tmp, bytes).unwrap();
        let hex = sh(&format!("sha256sum < {}", tmp.display()))
            .split_whitespace()
            .next()
            .unwrap()
            .to_string();
        std::fs::rename(&tmp, blobs.join(&hex)).unwrap();
        (format!("sha256:{hex}"), bytes.len())
    };
    let mut layers = Vec::new();
    let mut diff_ids = Vec::new();
    for t in tars {
        let tmp = dir.join("layer.tar");
        std::fs::write(&tmp, t).unwrap();
        let diff = sh(&format!("sha256sum < {}", tmp.display()));
        diff_ids.push(format!(
            "\"sha256:{}\"",
            diff.split_whitespace().next().unwrap()
        ));
        sh(&format!("gzip -n -f {}", tmp.display()));
        let gz = std::fs::read(dir.join("layer.tar.gz")).unwrap();
        std::fs::remove_file(dir.join("layer.tar.gz")).unwrap();
        let (d, s) = put(&gz);
        layers.push(format!(
            r#"{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"{d}","size":{s}}}"#
        ));
    }
    let config = format!(
        r#"{{"architecture":"{arch}","os":"linux","config":{{}},"rootfs":{{"type":"layers","diff_ids":[{}]}}}}"#,
        diff_ids.join(",")
    );
    let (cd, cs) = put(config.as_bytes());
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{cd}","size":{cs}}},"layers":[{}]}}"#,
        layers.join(",")
    );
    put(manifest.as_bytes())
}

fn write_layout_index(dir: &Path, entries: &[String]) {
    std::fs::write(
        dir.join("index.json"),
        format!(
            r#"{{"schemaVersion":2,"manifests":[{}]}}"#,
            entries.join(",")
        ),
    )
    .unwrap();
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
}

/// Writes an OCI layout at `dir` holding one image of the given gzip layers (raw tars are
/// compressed here), tagged `ref_name`; returns the manifest digest.
fn oci_layout(dir: &Path, ref_name: &str, tars: &[Vec<u8>]) -> String {
    let (md, ms) = layout_image(dir, "amd64", tars);
    write_layout_index(
        dir,
        &[format!(
            r#"{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{md}","size":{ms},"annotations":{{"org.opencontainers.image.ref.name":"{ref_name}"}}}}"#
        )],
    );
    md
}

#[test]
fn a_hostile_layer_from_a_registry_is_refused_and_nothing_is_stored() {
    use berth_image::testutil::RawTar;
    let reg = Server::start(Kind::Distribution, None, &[]);
    let c = Ctx::new();
    let layout = c.path("evil-layout");
    let good = RawTar::new().file("ok", b"fine").finish();
    let evil = RawTar::new().file("../../escaped", b"x").finish();
    oci_layout(&layout, "1", &[good, evil]);
    let dest = format!("{}/evil/app:1", reg.host());
    sh(&format!(
        "skopeo copy -q --dest-tls-verify=false oci:{}:1 docker://{dest}",
        layout.display()
    ));
    // skopeo pushed it as it is; berth's pull checks every entry while downloading.
    c.berth(&["pull", "--tls-verify=false", &dest])
        .fails_with("was refused");
    assert!(c.images_json().is_empty());
    let ingest: Vec<_> = std::fs::read_dir(c.root().join("ingest"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(ingest.is_empty(), "no partial download is kept: {ingest:?}");
    let blobs = std::fs::read_dir(c.root().join("blobs/sha256"))
        .unwrap()
        .count();
    // Only the good layer (verified, checked) and the config may have been stored.
    assert!(blobs <= 2, "{blobs} blobs stored");
    let r = c.berth(&["pull", "--tls-verify=false", &dest]);
    let err = r.fails_with("was refused").stderr();
    assert!(err.contains("`..` path components"), "{err}");
    c.check_clean();
}

fn berth_conf(c: &Ctx, conf: &Path, args: &[&str]) -> Run {
    berth_env(c, &[("BERTH_REGISTRIES_CONF", conf)], args)
}

#[test]
fn docker_io_comes_from_the_settings_with_mirrors_tried_in_order() {
    let c = Ctx::new();
    let missing = c.path("no-such-registries.toml");
    // Without settings, a short name has nowhere to go, and the error says what to set.
    let err = berth_conf(&c, &missing, &["pull", "busybox"])
        .fails_with("[registry.\"docker.io\"]")
        .stderr();
    assert!(err.contains("no-such-registries.toml"), "{err}");
    assert!(err.contains("endpoint"), "{err}");

    let upstream = Server::start(Kind::Berth, None, &[]);
    let mirror = Server::start(Kind::Distribution, None, &[]);
    let dead = free_port();
    let conf = c.path("registries.toml");
    std::fs::write(
        &conf,
        format!(
            "[registry.\"docker.io\"]\nendpoint = \"http://{}\"\nmirrors = [\"http://127.0.0.1:{dead}\", \"{}\"]\ninsecure = true\n",
            upstream.host(),
            mirror.host()
        ),
    )
    .unwrap();
    // Pushes go to the endpoint, never to a mirror.
    c.busybox("localhost/bb:1");
    let up_digest = push_digest(&berth_conf(&c, &conf, &["push", "localhost/bb:1", "app:1"]).ok());
    assert_eq!(
        skopeo_digest(&format!("{}/library/app:1", upstream.host()), ""),
        up_digest
    );
    let (code, _, _) = curl(&format!(
        "http://{}/v2/library/app/tags/list",
        mirror.host()
    ));
    assert_eq!(code, 404, "nothing was pushed to the mirror");
    // The mirror has a different app:1 (one more layer); pulls prefer it, after the dead one.
    let layout = c.path("mirror-layout");
    oci_layout(
        &layout,
        "1",
        &[berth_image::testutil::RawTar::new()
            .file("from-mirror", b"m")
            .finish()],
    );
    sh(&format!(
        "skopeo copy -q --dest-tls-verify=false oci:{}:1 docker://{}/library/app:1",
        layout.display(),
        mirror.host()
    ));
    let mirror_digest = skopeo_digest(&format!("{}/library/app:1", mirror.host()), "");
    let d = Ctx::new();
    let r = berth_conf(&d, &conf, &["pull", "app:1"]).ok();
    assert!(
        r.stderr()
            .contains(&format!("mirror http://127.0.0.1:{dead} failed")),
        "{}",
        r.stderr()
    );
    assert_eq!(
        d.inspect("docker.io/library/app:1")["Manifest"]["Digest"],
        mirror_digest.as_str()
    );
    // `compose pull` goes the same way.
    let e = Ctx::new();
    let file = e.path("compose.yaml");
    std::fs::write(&file, "services:\n  app:\n    image: app:1\n").unwrap();
    let r = berth_conf(
        &e,
        &conf,
        &["compose", "-f", file.to_str().unwrap(), "pull"],
    )
    .ok();
    assert!(
        r.stderr()
            .contains(&format!("mirror http://127.0.0.1:{dead} failed")),
        "{}",
        r.stderr()
    );
    assert_eq!(
        e.inspect("docker.io/library/app:1")["Manifest"]["Digest"],
        mirror_digest.as_str()
    );
    // -q: the same pull without its progress lines.
    let r = berth_conf(
        &e,
        &conf,
        &["compose", "-f", file.to_str().unwrap(), "pull", "-q"],
    )
    .ok();
    assert!(!r.stderr().contains("pulling"), "{}", r.stderr());
    e.check_clean();
    // Only the endpoint has bb:1: the mirror's 404 falls through to it.
    berth_conf(&c, &conf, &["push", "localhost/bb:1", "library/only-up:1"]).ok();
    berth_conf(&d, &conf, &["pull", "only-up:1"]).ok();
    assert_eq!(
        d.inspect("only-up:1")["Manifest"]["Digest"],
        up_digest.as_str()
    );
    // Nowhere to be found: every endpoint is named in the error.
    let err = berth_conf(&d, &conf, &["pull", "nothing:1"])
        .fails_with("could not be pulled from any of its 3 endpoints")
        .stderr();
    assert!(
        err.contains(&mirror.host()) && err.contains(&upstream.host()),
        "{err}"
    );
    d.check_clean();
}

/// A credential helper speaking Docker's protocol, keeping its secrets in `store_dir`.
fn write_helper(bin: &Path, name: &str, store_dir: &Path) {
    std::fs::create_dir_all(bin).unwrap();
    std::fs::create_dir_all(store_dir).unwrap();
    let script = format!(
        r#"#!/bin/sh
# docker-credential-{name}: get/store/erase, one file per server under {dir}
set -e
verb="$1"; input=$(cat)
echo "$verb" >> {dir}/calls
case "$verb" in
  get)
    f="{dir}/$(echo "$input" | tr '/:' '__')"
    if [ -f "$f" ]; then cat "$f"; else echo "credentials not found in native keychain"; exit 1; fi ;;
  store)
    server=$(echo "$input" | sed 's/.*"ServerURL":"\([^"]*\)".*/\1/')
    user=$(echo "$input" | sed 's/.*"Username":"\([^"]*\)".*/\1/')
    secret=$(echo "$input" | sed 's/.*"Secret":"\([^"]*\)".*/\1/')
    printf '{{"ServerURL":"%s","Username":"%s","Secret":"%s"}}' "$server" "$user" "$secret" > "{dir}/$(echo "$server" | tr '/:' '__')" ;;
  erase)
    f="{dir}/$(echo "$input" | tr '/:' '__')"
    if [ -f "$f" ]; then rm "$f"; else echo "credentials not found in native keychain"; exit 1; fi ;;
  *) echo "unknown verb $verb" >&2; exit 2 ;;
esac
"#,
        dir = store_dir.display()
    );
    let p = bin.join(format!("docker-credential-{name}"));
    std::fs::write(&p, script).unwrap();
    sh(&format!("chmod +x {}", p.display()));
}

#[test]
fn credential_helpers_from_docker_config_json() {
    let dir = tempfile::tempdir().unwrap();
    let reg = Server::start(
        Kind::Berth,
        Some(&htpasswd(dir.path(), "alice", "s3cret")),
        &[],
    );
    let h = reg.host();
    let c = Ctx::new();
    c.busybox("localhost/helped:1");
    let bin = c.path("bin");
    let secrets = c.path("secrets");
    write_helper(&bin, "berthtest", &secrets);
    let docker = c.path("docker");
    std::fs::create_dir_all(&docker).unwrap();
    let config = docker.join("config.json");
    std::fs::write(&config, r#"{"credsStore": "berthtest"}"#).unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let home = c.path("home");
    let run = |args: &[&str], stdin: Option<&str>| -> Run {
        let mut cmd = c.cmd(args);
        cmd.env("PATH", &path)
            .env("DOCKER_CONFIG", &docker)
            .env("HOME", &home)
            .env_remove("XDG_RUNTIME_DIR")
            .env_remove("XDG_CONFIG_HOME")
            .env_remove("REGISTRY_AUTH_FILE");
        match stdin {
            Some(s) => {
                use std::io::Write;
                cmd.stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped());
                let mut child = cmd.spawn().unwrap();
                child.stdin.take().unwrap().write_all(s.as_bytes()).unwrap();
                Run {
                    out: child.wait_with_output().unwrap(),
                }
            }
            None => Run {
                out: cmd.output().unwrap(),
            },
        }
    };
    let dest = format!("{h}/private/helped:1");
    run(
        &["push", "--tls-verify=false", "localhost/helped:1", &dest],
        None,
    )
    .fails_with("requires authentication");
    // login stores through the helper: the secret is not written into any file of ours.
    let r = run(
        &[
            "login",
            "--tls-verify=false",
            "-u",
            "alice",
            "--password-stdin",
            &h,
        ],
        Some("s3cret\n"),
    )
    .ok();
    assert!(
        r.stderr().contains("docker-credential-berthtest"),
        "{}",
        r.stderr()
    );
    assert!(!std::fs::read_to_string(&config).unwrap().contains("s3cret"));
    assert!(!home.join(".config/containers/auth.json").exists());
    let stored = std::fs::read_to_string(secrets.join(h.replace(':', "_"))).unwrap();
    assert!(stored.contains("\"Secret\":\"s3cret\""), "{stored}");
    // push and pull get the credentials from the helper.
    let digest = push_digest(
        &run(
            &["push", "--tls-verify=false", "localhost/helped:1", &dest],
            None,
        )
        .ok(),
    );
    let d = Ctx::new();
    let mut cmd = d.cmd(&["pull", "--tls-verify=false", &dest]);
    cmd.env("PATH", &path)
        .env("DOCKER_CONFIG", &docker)
        .env("HOME", &home)
        .env_remove("XDG_RUNTIME_DIR")
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("REGISTRY_AUTH_FILE");
    Run {
        out: cmd.output().unwrap(),
    }
    .ok();
    assert_eq!(d.inspect(&dest)["Manifest"]["Digest"], digest.as_str());
    // logout erases through the helper; then the registry asks again.
    run(&["logout", &h], None).ok();
    assert!(!secrets.join(h.replace(':', "_")).exists());
    run(
        &["push", "--tls-verify=false", "localhost/helped:1", &dest],
        None,
    )
    .fails_with("requires authentication");
    let calls = std::fs::read_to_string(secrets.join("calls")).unwrap();
    assert!(
        calls.contains("store") && calls.contains("get") && calls.contains("erase"),
        "{calls}"
    );

    // credHelpers for this registry wins over credsStore; a missing helper is a clear error.
    std::fs::write(
        &config,
        format!(r#"{{"credsStore": "berthtest", "credHelpers": {{"{h}": "absent"}}}}"#),
    )
    .unwrap();
    run(
        &["push", "--tls-verify=false", "localhost/helped:1", &dest],
        None,
    )
    .fails_with("cannot run credential helper docker-credential-absent");
}

#[test]
fn an_oversize_push_says_what_the_limit_is_and_how_to_raise_it() {
    let reg = Server::start(Kind::Berth, None, &["--max-upload-size", "1MB"]);
    let c = Ctx::new();
    big_image(&c, "localhost/big:1", 20);
    let dest = format!("{}/big/app:1", reg.host());
    // One request larger than the limit (refused before its body is read), then chunks
    // that cross it (refused in the middle of the upload).
    for chunk in ["16MB", "256kB"] {
        let err = c
            .berth(&[
                "push",
                "--tls-verify=false",
                "--chunk-size",
                chunk,
                "localhost/big:1",
                &dest,
            ])
            .fails_with("413")
            .stderr();
        assert!(err.contains("limit of 1000000 bytes"), "{chunk}: {err}");
        assert!(err.contains("--max-upload-size"), "{chunk}: {err}");
    }
    reg.check_clean();
}

#[test]
fn multi_platform_images_pull_and_push_with_their_index() {
    use berth_image::testutil::RawTar;
    let src = Server::start(Kind::Distribution, None, &[]);
    let c = Ctx::new();
    // A two-platform index, as skopeo copies it (`--all`) into the source registry.
    let layout = c.path("multi-layout");
    let mut entries = Vec::new();
    let mut platform_digests = Vec::new();
    for (arch, variant) in [("amd64", None), ("arm64", Some("v8"))] {
        let (d, s) = layout_image(
            &layout,
            arch,
            &[RawTar::new()
                .file(&format!("arch-{arch}"), arch.as_bytes())
                .finish()],
        );
        platform_digests.push(d.clone());
        let v = variant
            .map(|v| format!(r#","variant":"{v}""#))
            .unwrap_or_default();
        entries.push(format!(
            r#"{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{d}","size":{s},"platform":{{"os":"linux","architecture":"{arch}"{v}}}}}"#
        ));
    }
    let index = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{}]}}"#,
        entries.join(",")
    );
    let nested = layout.join("index-blob.json");
    std::fs::write(&nested, &index).unwrap();
    let ihex = sha256_file(&nested);
    std::fs::rename(&nested, layout.join("blobs/sha256").join(&ihex)).unwrap();
    write_layout_index(
        &layout,
        &[format!(
            r#"{{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"sha256:{ihex}","size":{},"annotations":{{"org.opencontainers.image.ref.name":"1"}}}}"#,
            index.len()
        )],
    );
    let from = format!("{}/multi/app:1", src.host());
    sh(&format!(
        "skopeo copy -q --all --dest-tls-verify=false oci:{}:1 docker://{from}",
        layout.display()
    ));
    let index_digest = format!("sha256:{ihex}");
    assert_eq!(skopeo_digest(&from, ""), index_digest);

    // --all-platforms keeps both images and the index; the name runs this machine's.
    c.berth(&["pull", "--tls-verify=false", "--all-platforms", &from])
        .ok();
    assert_eq!(c.images_json().len(), 2, "{:?}", c.images_json());
    assert_eq!(c.inspect(&from)["Architecture"], "amd64");

    for kind in [Kind::Distribution, Kind::Berth] {
        let dst = Server::start(kind, None, &[]);
        let to = format!("{}/copy/app:1", dst.host());
        let r = c.berth(&["push", "--tls-verify=false", &from, &to]).ok();
        assert_eq!(push_digest(&r), index_digest, "{kind:?}");
        // The peers see the same index, and both platform images behind it.
        assert_eq!(skopeo_digest(&to, ""), index_digest, "{kind:?}");
        let raw = sh(&format!(
            "skopeo inspect --raw --tls-verify=false docker://{to}"
        ));
        assert_eq!(raw, index, "the index byte for byte");
        let out = c.path(&format!("copied-{kind:?}"));
        sh(&format!(
            "skopeo copy -q --all --src-tls-verify=false docker://{to} oci:{}:1",
            out.display()
        ));
        let arm = sh(&format!(
            "skopeo inspect --tls-verify=false --override-arch arm64 --override-variant v8 docker://{to}"
        ));
        assert!(arm.contains("\"Architecture\": \"arm64\""), "{arm}");
        // podman picks the arm64 image from the same index, and finds it by digest.
        let p = Podman::new();
        p.run(&format!(
            "pull -q --platform linux/arm64/v8 --tls-verify=false {to}"
        ));
        assert_eq!(
            p.run(&format!(
                "image inspect --format '{{{{.Architecture}}}}' {to}"
            ))
            .trim(),
            "arm64",
            "{kind:?}"
        );
        p.run(&format!(
            "pull -q --tls-verify=false {}@{}",
            to.trim_end_matches(":1"),
            platform_digests[1]
        ));
        if kind == Kind::Berth {
            dst.check_clean();
        }
    }

    // A plain pull takes this machine's platform; --platform takes another (with variant).
    let d = Ctx::new();
    d.berth(&["pull", "--tls-verify=false", &from]).ok();
    assert_eq!(d.inspect(&from)["Architecture"], "amd64");
    let e = Ctx::new();
    e.berth(&[
        "pull",
        "--tls-verify=false",
        "--platform",
        "linux/arm64/v8",
        &from,
    ])
    .ok();
    assert_eq!(e.inspect(&from)["Architecture"], "arm64");
    e.berth(&[
        "pull",
        "--tls-verify=false",
        "--platform",
        "linux/arm64/v7",
        &from,
    ])
    .fails_with("it has: linux/amd64, linux/arm64/v8");
    c.check_clean();

    // The same index in an oci-archive: `berth load` keeps both platforms and the index,
    // and the push sends them as they were.
    write_layout_index(
        &layout,
        &[format!(
            r#"{{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"sha256:{ihex}","size":{},"annotations":{{"org.opencontainers.image.ref.name":"localhost/multi:1"}}}}"#,
            index.len()
        )],
    );
    let archive = c.path("multi.tar");
    sh(&format!(
        "tar -C {} -cf {} oci-layout index.json blobs",
        layout.display(),
        archive.display()
    ));
    let l = Ctx::new();
    l.berth(&["load", "-i", archive.to_str().unwrap()]).ok();
    assert_eq!(l.images_json().len(), 2, "{:?}", l.images_json());
    assert_eq!(l.inspect("localhost/multi:1")["Architecture"], "amd64");
    let dst = Server::start(Kind::Distribution, None, &[]);
    let to = format!("{}/loaded/multi:1", dst.host());
    let r = l
        .berth(&["push", "--tls-verify=false", "localhost/multi:1", &to])
        .ok();
    assert_eq!(push_digest(&r), index_digest);
    assert_eq!(skopeo_digest(&to, ""), index_digest);
    l.check_clean();
}

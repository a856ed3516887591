//! save/load round trips in both formats, compressed archives, determinism, bad archives.

use crate::common::*;

fn layer_digests(c: &Ctx, name: &str) -> Vec<String> {
    c.inspect(name)["Manifest"]["Layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["Digest"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn docker_and_oci_archives_round_trip() {
    let c = Ctx::new();
    let id = c.busybox("bb:1");
    c.berth(&["tag", "bb:1", "bb:2"]).ok();
    let diff = c.inspect("bb:1")["RootFS"].clone();
    for format in ["docker-archive", "oci-archive"] {
        let out = c.path(&format!("{format}.tar"));
        c.berth(&[
            "save",
            "--format",
            format,
            "-o",
            out.to_str().unwrap(),
            "bb:1",
            "bb:2",
        ])
        .ok();
        // Saving again gives the same bytes.
        let again = c.path(&format!("{format}-again.tar"));
        c.berth(&[
            "save",
            "--format",
            format,
            "-o",
            again.to_str().unwrap(),
            "bb:1",
            "bb:2",
        ])
        .ok();
        same_file(&out, &again, &format!("{format} save is deterministic"));

        let d = Ctx::new();
        let loaded = d
            .berth(&["load", "-i", out.to_str().unwrap()])
            .ok()
            .stdout();
        assert!(
            loaded.contains("Loaded image: bb:1") && loaded.contains("bb:2"),
            "{format}: {loaded}"
        );
        assert_eq!(
            d.inspect("bb:1")["Id"],
            id.as_str(),
            "{format}: image id survives"
        );
        assert_eq!(d.inspect("bb:2")["RootFS"], diff);
        d.check_clean();

        // And back out of the second store: the same bytes again.
        let third = d.path("third.tar");
        d.berth(&[
            "save",
            "--format",
            format,
            "-o",
            third.to_str().unwrap(),
            "bb:1",
            "bb:2",
        ])
        .ok();
        same_file(&out, &third, &format!("{format} round trip is exact"));
    }
    // An OCI archive keeps the manifest digest.
    let d = Ctx::new();
    d.berth(&["load", "-i", c.path("oci-archive.tar").to_str().unwrap()])
        .ok();
    assert_eq!(
        d.inspect("bb:1")["Manifest"]["Digest"],
        c.inspect("bb:1")["Manifest"]["Digest"]
    );
}

#[test]
fn compressed_archives_stdin_and_zstd_layers() {
    let c = Ctx::new();
    let id = c.busybox("bb");
    let oci = c.path("oci.tar");
    c.berth(&[
        "save",
        "--format",
        "oci-archive",
        "--compression",
        "zstd",
        "-o",
        oci.to_str().unwrap(),
        "bb",
    ])
    .ok();
    let listing = sh(&format!("tar -tvf {}", oci.display()));
    assert!(
        listing.contains("index.json") && listing.contains("oci-layout"),
        "{listing}"
    );
    let index = sh(&format!("tar -xOf {} index.json", oci.display()));
    assert!(index.contains("docker.io/library/bb:latest"), "{index}");
    let manifest_digest = serde_json::from_str::<serde_json::Value>(&index).unwrap()["manifests"]
        [0]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let manifest = sh(&format!(
        "tar -xOf {} blobs/sha256/{}",
        oci.display(),
        &manifest_digest[7..]
    ));
    assert!(
        manifest.contains("application/vnd.oci.image.layer.v1.tar+zstd"),
        "{manifest}"
    );

    // zstd archives are deterministic too.
    let again = c.path("oci2.tar");
    c.berth(&[
        "save",
        "--format",
        "oci-archive",
        "--compression",
        "zstd",
        "-o",
        again.to_str().unwrap(),
        "bb",
    ])
    .ok();
    same_file(&oci, &again, "same bytes");

    // A gzip-compressed archive piped on stdin loads, with zstd layers.
    sh(&format!("gzip -k {}", oci.display()));
    let d = Ctx::new();
    d.berth_stdin(&["load"], &c.path("oci.tar.gz")).ok();
    assert_eq!(d.inspect("bb")["Id"], id.as_str());
    assert!(d.inspect("bb")["Manifest"]["Layers"][0]["MediaType"]
        .as_str()
        .unwrap()
        .ends_with("+zstd"));
    d.check_clean();

    // zstd makes no sense for docker-archive layers: a clear error, no file left.
    let bad = c.path("bad.tar");
    c.berth(&[
        "save",
        "--compression",
        "zstd",
        "-o",
        bad.to_str().unwrap(),
        "bb",
    ])
    .fails_with("docker-archive layers are uncompressed");
    assert!(!bad.exists());
    // Saving to stdout works when it is not a terminal.
    let out = c.cmd(&["save", "bb"]).output().unwrap();
    assert!(out.status.success() && out.stdout.len() > 1_000_000);
}

#[test]
fn load_refuses_wrong_digests_and_garbage() {
    let c = Ctx::new();
    c.busybox("bb");
    let oci = c.path("oci.tar");
    c.berth(&[
        "save",
        "--format",
        "oci-archive",
        "-o",
        oci.to_str().unwrap(),
        "bb",
    ])
    .ok();
    // Corrupt the layer blob inside the archive: same size, different bytes.
    let layer = layer_digests(&c, "bb")[0].clone();
    let x = c.path("x");
    std::fs::create_dir(&x).unwrap();
    sh(&format!("tar -C {} -xf {}", x.display(), oci.display()));
    let blob = x.join("blobs/sha256").join(&layer[7..]);
    let mut bytes = std::fs::read(&blob).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::set_permissions(&blob, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    std::fs::write(&blob, bytes).unwrap();
    let bad = c.path("bad.tar");
    sh(&format!("tar -C {} -cf {} .", x.display(), bad.display()));
    let d = Ctx::new();
    let r = d.berth(&["load", "-i", bad.to_str().unwrap()]);
    assert!(!r.out.status.success());
    assert!(
        r.stderr().contains("digest mismatch") || r.stderr().contains("is damaged"),
        "{}",
        r.stderr()
    );
    assert!(d.images_json().is_empty());
    d.check_clean();

    let junk = c.path("junk.tar");
    make_tar(&junk, &[("hello.txt", b"hi")]);
    d.berth(&["load", "-i", junk.to_str().unwrap()])
        .fails_with("neither manifest.json");
    d.berth(&["load", "-i", "/nonexistent.tar"])
        .fails_with("/nonexistent.tar");
}

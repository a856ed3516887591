//! Interop with podman and skopeo as real peers (installed by .ci/run).

use crate::common::*;

#[test]
fn berth_archives_load_in_podman_with_the_same_digests() {
    let c = Ctx::new();
    let id = c.busybox("localhost/interop:1");
    let diff_ids = c.inspect("localhost/interop:1")["RootFS"]["Layers"].clone();
    for format in ["docker-archive", "oci-archive"] {
        let out = c.path(&format!("{format}.tar"));
        c.berth(&[
            "save",
            "--format",
            format,
            "-o",
            out.to_str().unwrap(),
            "localhost/interop:1",
        ])
        .ok();
        let p = Podman::new();
        let loaded = p.run(&format!("load -i {}", out.display()));
        assert!(loaded.contains("interop"), "{format}: {loaded}");
        let pid = p.run("image inspect --format '{{.Id}}' localhost/interop:1");
        assert_eq!(
            format!("sha256:{}", pid.trim()),
            id,
            "{format}: podman sees the same image id"
        );
        let players = p.run("image inspect --format '{{json .RootFS.Layers}}' localhost/interop:1");
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(players.trim()).unwrap(),
            diff_ids,
            "{format}"
        );
    }
}

#[test]
fn skopeo_reads_berth_oci_archives_byte_for_byte() {
    let c = Ctx::new();
    c.busybox("interop:2");
    let manifest_digest = c.inspect("interop:2")["Manifest"]["Digest"]
        .as_str()
        .unwrap()
        .to_string();
    let layer = c.inspect("interop:2")["Manifest"]["Layers"][0]["Digest"]
        .as_str()
        .unwrap()
        .to_string();
    let id = c.inspect("interop:2")["Id"].as_str().unwrap().to_string();
    let out = c.path("oci.tar");
    c.berth(&[
        "save",
        "--format",
        "oci-archive",
        "-o",
        out.to_str().unwrap(),
        "interop:2",
    ])
    .ok();
    let dir = c.path("skopeo-dir");
    sh(&format!(
        "skopeo copy --quiet oci-archive:{} dir:{}",
        out.display(),
        dir.display()
    ));
    let m = std::fs::read(dir.join("manifest.json")).unwrap();
    assert_eq!(
        sh(&format!(
            "sha256sum {}",
            dir.join("manifest.json").display()
        ))
        .split_whitespace()
        .next()
        .unwrap(),
        &manifest_digest[7..]
    );
    assert!(!m.is_empty());
    assert!(dir.join(&id[7..]).exists(), "config blob {id}");
    assert!(dir.join(&layer[7..]).exists(), "layer blob {layer}");
    // And skopeo can write an OCI archive from that which berth loads with the same digests.
    let back = c.path("back.tar");
    sh(&format!(
        "skopeo copy --quiet dir:{} oci-archive:{}:docker.io/library/interop:3",
        dir.display(),
        back.display()
    ));
    c.berth(&["load", "-i", back.to_str().unwrap()]).ok();
    assert_eq!(c.inspect("interop:3")["Id"], id.as_str());
    assert_eq!(
        c.inspect("interop:3")["Manifest"]["Digest"],
        manifest_digest.as_str()
    );
    c.check_clean();
}

#[test]
fn podman_saved_images_load_in_berth_and_round_trip() {
    let p = Podman::new();
    let tar = busybox_tar();
    let pid = p.run(&format!(
        "import --change 'CMD [\"sh\"]' {} localhost/frompodman:1",
        tar.display()
    ));
    let pid = pid.trim().trim_start_matches("sha256:").to_string();
    let c = Ctx::new();
    for format in ["docker-archive", "oci-archive"] {
        let out = c.path(&format!("podman-{format}.tar"));
        p.run(&format!(
            "save --format {format} -o {} localhost/frompodman:1",
            out.display()
        ));
        let d = Ctx::new();
        let loaded = d
            .berth(&["load", "-i", out.to_str().unwrap()])
            .ok()
            .stdout();
        assert!(loaded.contains("frompodman"), "{format}: {loaded}");
        let i = d.inspect("localhost/frompodman:1");
        assert_eq!(
            i["Id"].as_str().unwrap(),
            format!("sha256:{pid}"),
            "{format}: same image id as podman"
        );
        assert_eq!(i["Config"]["Cmd"], serde_json::json!(["sh"]));
        d.check_clean();
        // Back out of berth into a fresh podman: still the same image.
        let again = d.path("again.tar");
        d.berth(&[
            "save",
            "--format",
            format,
            "-o",
            again.to_str().unwrap(),
            "localhost/frompodman:1",
        ])
        .ok();
        let p2 = Podman::new();
        p2.run(&format!("load -i {}", again.display()));
        assert_eq!(
            p2.run("image inspect --format '{{.Id}}' localhost/frompodman:1")
                .trim(),
            pid,
            "{format}"
        );
    }
}

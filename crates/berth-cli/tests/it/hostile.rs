//! Hostile tar input is refused with a clear error, nothing is written outside the store,
//! nothing is tagged, and the store stays consistent.

use crate::common::*;
use berth_image::testutil::RawTar;

fn refuse(c: &Ctx, tar: Vec<u8>, needle: &str) {
    let p = c.path("hostile.tar");
    std::fs::write(&p, tar).unwrap();
    c.berth(&["import", p.to_str().unwrap(), "hostile"])
        .fails_with(needle);
    assert!(c.images_json().is_empty(), "a refused import tags nothing");
    c.check_clean();
}

#[test]
fn dotdot_entries() {
    let c = Ctx::new();
    refuse(
        &c,
        RawTar::new().file("../escaped", b"x").finish(),
        "`..` path components",
    );
    refuse(
        &c,
        RawTar::new()
            .dir("a")
            .file("a/../../escaped", b"x")
            .finish(),
        "`..` path components",
    );
    assert!(
        !c.dir.path().join("escaped").exists()
            && !c.dir.path().parent().unwrap().join("escaped").exists()
    );
}

#[test]
fn absolute_paths() {
    let c = Ctx::new();
    refuse(
        &c,
        RawTar::new()
            .file("/tmp/berth-absolute-escape", b"x")
            .finish(),
        "absolute path names",
    );
    assert!(!std::path::Path::new("/tmp/berth-absolute-escape").exists());
}

#[test]
fn symlinks_and_hardlinks_leading_outside() {
    let c = Ctx::new();
    refuse(
        &c,
        RawTar::new()
            .symlink("etc/evil", "../../../../etc/shadow")
            .finish(),
        "leads outside the layer root",
    );
    refuse(
        &c,
        RawTar::new().hardlink("evil", "../../etc/shadow").finish(),
        "hardlink target",
    );
    refuse(
        &c,
        RawTar::new().hardlink("evil", "/etc/shadow").finish(),
        "absolute path names",
    );
    refuse(
        &c,
        RawTar::new().hardlink("evil", "etc/shadow").finish(),
        "not an earlier entry",
    );
}

#[test]
fn symlinked_parent_then_file_write() {
    let c = Ctx::new();
    let canary = c.path("canary");
    std::fs::create_dir(&canary).unwrap();
    let target = canary.to_str().unwrap().to_string();
    refuse(
        &c,
        RawTar::new()
            .symlink("out", &target)
            .file("out/written", b"pwned")
            .finish(),
        "written through the symlink \"out\"",
    );
    refuse(
        &c,
        RawTar::new()
            .symlink("etc", "/etc")
            .file("etc/cron.d/evil", b"x")
            .finish(),
        "through the symlink",
    );
    assert!(!canary.join("written").exists());
}

#[test]
fn device_nodes() {
    let c = Ctx::new();
    let tar = RawTar::new()
        .dir("dev")
        .chardev("dev/mem")
        .file("etc/hostname", b"x\n")
        .finish();
    refuse(&c, tar.clone(), "device node");
    let p = c.path("dev.tar");
    std::fs::write(&p, &tar).unwrap();
    c.berth(&["import", "--skip-devices", p.to_str().unwrap(), "skipped"])
        .ok();
    c.berth(&["import", "--allow-devices", p.to_str().unwrap(), "allowed"])
        .ok();
    assert_eq!(c.images_json().len(), 2);
    c.check_clean();
}

#[test]
fn hostile_layer_inside_an_archive_is_refused_on_load() {
    let c = Ctx::new();
    // A docker-archive whose layer escapes, and one whose manifest points outside the archive.
    let layer = RawTar::new().file("../../escaped", b"x").finish();
    let diff_id = sha256_hex(&layer);
    let config = format!(
        r#"{{"architecture":"amd64","os":"linux","config":{{}},"rootfs":{{"type":"layers","diff_ids":["sha256:{diff_id}"]}}}}"#
    );
    let archive = c.path("evil-archive.tar");
    make_tar(
        &archive,
        &[
            ("config.json", config.as_bytes()),
            ("layer.tar", &layer),
            (
                "manifest.json",
                br#"[{"Config":"config.json","RepoTags":["evil:1"],"Layers":["layer.tar"]}]"#,
            ),
        ],
    );
    c.berth(&["load", "-i", archive.to_str().unwrap()])
        .fails_with("`..` path components");
    let archive2 = c.path("evil-archive2.tar");
    make_tar(
        &archive2,
        &[
            ("config.json", config.as_bytes()),
            ("manifest.json", br#"[{"Config":"config.json","RepoTags":["evil:1"],"Layers":["../../../etc/passwd"]}]"#),
        ],
    );
    c.berth(&["load", "-i", archive2.to_str().unwrap()])
        .fails_with("is referenced but not present");
    assert!(c.images_json().is_empty());
    c.check_clean();
}

/// sha256 via the system tool, so the test does not need a hashing crate.
fn sha256_hex(data: &[u8]) -> String {
    use std::io::Write;
    let mut child = std::process::Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(data).unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

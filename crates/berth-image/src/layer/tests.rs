use super::*;

use crate::testutil::RawTar;

fn scan(t: Vec<u8>) -> Result<LayerSummary, LayerError> {
    scan_layer(&t[..], DevicePolicy::Refuse)
}

fn hostile(t: Vec<u8>, needle: &str) {
    let err = scan(t).expect_err("must be refused").to_string();
    assert!(
        err.contains(needle),
        "error {err:?} should mention {needle:?}"
    );
}

#[test]
fn accepts_ordinary_rootfs() {
    let t = RawTar::new()
        .dir("./")
        .dir("./bin")
        .file("./bin/busybox", b"ELF")
        .hardlink("./bin/sh2", "./bin/busybox")
        .symlink("./bin/sh", "busybox")
        .symlink("./etc-link", "/etc")
        .symlink("./usr/lib/x", "../../bin/busybox")
        .finish();
    let s = scan(t).unwrap();
    assert_eq!(s.entries, 7);
    assert_eq!(s.content_size, 3);
}

#[test]
fn refuses_dotdot() {
    hostile(RawTar::new().file("../evil", b"x").finish(), "`..`");
    hostile(RawTar::new().file("a/../../evil", b"x").finish(), "`..`");
}

#[test]
fn refuses_absolute() {
    hostile(RawTar::new().file("/etc/passwd", b"x").finish(), "absolute");
}

#[test]
fn refuses_symlink_climbing_out() {
    hostile(
        RawTar::new().symlink("a/b", "../../../etc/passwd").finish(),
        "outside the layer root",
    );
}

#[test]
fn refuses_write_through_planted_symlink() {
    hostile(
        RawTar::new()
            .symlink("evil", "/etc")
            .file("evil/passwd", b"root::0:0")
            .finish(),
        "through the symlink",
    );
    hostile(
        RawTar::new().symlink("d", "/").dir("d/x").finish(),
        "through the symlink",
    );
}

#[test]
fn refuses_hardlinks_out() {
    hostile(
        RawTar::new().hardlink("x", "../../etc/shadow").finish(),
        "hardlink target",
    );
    hostile(
        RawTar::new().hardlink("x", "/etc/shadow").finish(),
        "absolute",
    );
    hostile(
        RawTar::new().hardlink("x", "etc/shadow").finish(),
        "not an earlier entry",
    );
    hostile(
        RawTar::new()
            .symlink("l", "/etc")
            .hardlink("x", "l/shadow")
            .finish(),
        "through the symlink",
    );
}

#[test]
fn device_policy() {
    let t = || RawTar::new().chardev("dev/sda").finish();
    assert!(matches!(scan(t()), Err(LayerError::Device { .. })));
    assert_eq!(scan_layer(&t()[..], DevicePolicy::Skip).unwrap().entries, 1);
    assert_eq!(
        scan_layer(&t()[..], DevicePolicy::Allow).unwrap().entries,
        1
    );
}

#[test]
fn unpack_writes_nothing_outside() {
    let top = tempfile::tempdir().unwrap();
    let dest = top.path().join("layer");
    fs::create_dir(&dest).unwrap();
    let t = RawTar::new()
        .file("ok", b"fine")
        .symlink("evil", "..")
        .file("evil/escaped", b"x")
        .finish();
    // `evil -> ..` climbs out, so it is refused before anything is written through it.
    assert!(unpack_layer(&t[..], &dest, DevicePolicy::Refuse).is_err());
    assert!(!top.path().join("escaped").exists());
}

#[test]
fn unpack_roundtrip_with_whiteouts() {
    let top = tempfile::tempdir().unwrap();
    let t = RawTar::new()
        .dir("etc")
        .file("etc/hostname", b"berth\n")
        .symlink("etc/alias", "hostname")
        .hardlink("etc/hard", "etc/hostname")
        .file("gone/.wh..wh..opq", b"")
        .file("etc/.wh.motd", b"")
        .finish();
    let want = Digest::of(&t);
    let s = unpack_layer(&t[..], top.path(), DevicePolicy::Refuse).unwrap();
    assert_eq!(s.diff_id, want);
    assert_eq!(
        fs::read(top.path().join("etc/hostname")).unwrap(),
        b"berth\n"
    );
    assert_eq!(
        fs::read_link(top.path().join("etc/alias")).unwrap(),
        Path::new("hostname")
    );
    assert_eq!(fs::read(top.path().join("etc/hard")).unwrap(), b"berth\n");
    use std::os::unix::fs::FileTypeExt;
    let m = fs::symlink_metadata(top.path().join("etc/motd")).unwrap();
    assert!(
        m.file_type().is_char_device(),
        "whiteout becomes a 0:0 char device"
    );
    assert!(top.path().join("gone").is_dir());
}

//! Several berth processes at once, and berth killed with -9 mid-write.

use crate::common::*;
use std::process::Stdio;
use std::time::Duration;

#[test]
fn parallel_imports_and_loads_keep_the_store_consistent() {
    let c = Ctx::new();
    c.busybox("seed");
    let archive = c.path("seed.tar");
    c.berth(&["save", "-o", archive.to_str().unwrap(), "seed"])
        .ok();
    let big = c.path("big.tar");
    big_tar(&big, 6);
    let other = c.path("other.tar");
    big_tar(&other, 5);
    let bb = busybox_tar();
    // Same image four times at once, then different images at once, mixed with loads.
    for round in 0..2 {
        let mut children = Vec::new();
        for i in 0..4 {
            let args: Vec<String> = match (round, i % 4) {
                (0, _) => vec![
                    "import".into(),
                    "-q".into(),
                    big.to_str().unwrap().into(),
                    format!("same:{i}"),
                ],
                (_, 0) => vec![
                    "import".into(),
                    "-q".into(),
                    other.to_str().unwrap().into(),
                    "other".into(),
                ],
                (_, 1) => vec![
                    "import".into(),
                    "-q".into(),
                    bb.to_str().unwrap().into(),
                    "bb".into(),
                ],
                (_, 2) => vec![
                    "load".into(),
                    "-q".into(),
                    "-i".into(),
                    archive.to_str().unwrap().into(),
                ],
                _ => vec![
                    "import".into(),
                    "-q".into(),
                    big.to_str().unwrap().into(),
                    "same:again".into(),
                ],
            };
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            children.push(
                c.cmd(&refs)
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap(),
            );
        }
        for ch in children {
            let out = ch.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        c.check_clean();
    }
    let layers: std::collections::HashSet<String> = (0..4)
        .map(|i| {
            c.inspect(&format!("same:{i}"))["Manifest"]["Layers"][0]["Digest"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(layers.len(), 1, "the same tar gives one layer blob");
    for n in ["other", "bb", "seed", "same:again"] {
        c.inspect(n);
    }
    // A prune running against writers waits for them and leaves a consistent store.
    let writer = c
        .cmd(&["import", "-q", other.to_str().unwrap(), "during-prune"])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    c.berth(&["system", "prune", "-f"]).ok();
    let mut writer = writer;
    assert!(writer.wait().unwrap().success());
    c.inspect("during-prune");
    c.check_clean();
}

#[test]
fn kill_9_during_import_and_load_never_corrupts() {
    let c = Ctx::new();
    let big = c.path("big.tar");
    big_tar(&big, 48);
    // One image that finishes; it must survive every crash after it.
    c.busybox("survivor");
    let archive = c.path("survivor.tar");
    c.berth(&[
        "save",
        "--format",
        "oci-archive",
        "-o",
        archive.to_str().unwrap(),
        "survivor",
    ])
    .ok();
    let big_archive = c.path("big-archive.tar");
    c.berth(&["import", "-q", big.to_str().unwrap(), "bigimg"])
        .ok();
    c.berth(&["save", "-o", big_archive.to_str().unwrap(), "bigimg"])
        .ok();
    c.berth(&["rmi", "bigimg"]).ok();
    let survivor_id = c.inspect("survivor")["Id"].clone();

    let delays = [5u64, 30, 80, 150, 300, 600];
    for (n, ms) in delays.iter().enumerate() {
        let args: Vec<&str> = if n % 2 == 0 {
            vec!["import", "-q", big.to_str().unwrap(), "killed"]
        } else {
            vec!["load", "-q", "-i", big_archive.to_str().unwrap()]
        };
        let mut child = c
            .cmd(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(*ms));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        c.check_clean();
        assert_eq!(c.inspect("survivor")["Id"], survivor_id);
    }
    // Whatever was interrupted, the finished image is intact: it saves and loads elsewhere.
    let out = c.path("survivor-again.tar");
    c.berth(&[
        "save",
        "--format",
        "oci-archive",
        "-o",
        out.to_str().unwrap(),
        "survivor",
    ])
    .ok();
    same_file(&archive, &out, "survivor saves the same after the crashes");
    // Leftovers of the killed writers are garbage that prune collects.
    c.berth(&["system", "prune", "-f"]).ok();
    assert_eq!(
        std::fs::read_dir(c.root().join("ingest")).unwrap().count(),
        0
    );
    assert_eq!(std::fs::read_dir(c.root().join("tmp")).unwrap().count(), 0);
    c.check_clean();
    // And a retried import completes.
    c.berth(&["import", "-q", big.to_str().unwrap(), "killed"])
        .ok();
    c.check_clean();
}

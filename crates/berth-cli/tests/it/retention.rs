//! Retention: image prune by count, label, age and last use; system prune --max-size; df.

use crate::common::*;

/// Imports the busybox rootfs as `name`, created at unix time `at`, with labels.
fn image_at(c: &Ctx, name: &str, at: i64, labels: &[&str]) -> String {
    let tar = busybox_tar();
    let mut args: Vec<String> = vec!["import".into(), "-q".into()];
    for l in labels {
        args.push("-c".into());
        args.push(format!("LABEL {l}"));
    }
    args.push(tar.to_str().unwrap().into());
    args.push(name.into());
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut cmd = c.cmd(&refs);
    cmd.env("SOURCE_DATE_EPOCH", at.to_string());
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn names(c: &Ctx) -> Vec<String> {
    let mut v: Vec<String> = c
        .images_json()
        .iter()
        .map(|i| {
            format!(
                "{}:{}",
                i["Repository"].as_str().unwrap(),
                i["Tag"].as_str().unwrap()
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn keep_newest_n_per_repository_with_label_filter() {
    let c = Ctx::new();
    for (i, job) in [101, 102, 103, 104, 105].iter().enumerate() {
        image_at(
            &c,
            &format!("ci/app:job-{job}"),
            1_700_000_000 + i as i64 * 60,
            &["ci.pipeline=app"],
        );
    }
    image_at(&c, "ci/other:job-1", 1_600_000_000, &["ci.pipeline=other"]);
    image_at(&c, "base:1", 1_500_000_000, &[]);
    let out = c
        .berth(&[
            "image",
            "prune",
            "-f",
            "--keep",
            "2",
            "--filter",
            "label=ci.pipeline=app",
        ])
        .ok()
        .stdout();
    assert!(
        out.contains("untagged: ci/app:job-101") && out.contains("Total reclaimed space"),
        "{out}"
    );
    assert_eq!(
        names(&c),
        vec![
            "base:1",
            "ci/app:job-104",
            "ci/app:job-105",
            "ci/other:job-1"
        ]
    );
    // --keep without a filter applies to every repository.
    image_at(&c, "base:2", 1_500_000_100, &[]);
    c.berth(&["image", "prune", "-f", "--keep", "1"]).ok();
    assert_eq!(
        names(&c),
        vec!["base:2", "ci/app:job-105", "ci/other:job-1"]
    );
    c.check_clean();
}

#[test]
fn prune_until_and_dangling() {
    let c = Ctx::new();
    image_at(&c, "old:1", 1_000_000_000, &[]);
    image_at(&c, "new:1", 4_000_000_000, &[]);
    // Plain prune only removes dangling images: there are none.
    c.berth(&["image", "prune", "-f"]).ok();
    assert_eq!(names(&c).len(), 2);
    // Re-tagging makes the old image of that name dangling.
    image_at(&c, "old:1", 1_000_000_500, &[]);
    assert_eq!(
        c.berth(&["images", "-q", "--filter", "dangling=true"])
            .ok()
            .stdout()
            .lines()
            .count(),
        1
    );
    c.berth(&["image", "prune", "-f"]).ok();
    assert_eq!(
        c.berth(&["images", "-q", "--filter", "dangling=true"])
            .ok()
            .stdout()
            .lines()
            .count(),
        0
    );
    // -a with until= removes what was created before then, whatever its tags.
    c.berth(&[
        "image",
        "prune",
        "-a",
        "-f",
        "--filter",
        "until=2020-01-01T00:00:00Z",
    ])
    .ok();
    assert_eq!(names(&c), vec!["new:1"]);
    c.berth(&["image", "prune", "--filter", "until=soon"])
        .fails_with("neither a duration");
    c.check_clean();
}

#[test]
fn prune_unused_for_keeps_recently_used() {
    let c = Ctx::new();
    c.busybox("a");
    image_at(&c, "b", 1_000, &[]);
    std::thread::sleep(std::time::Duration::from_millis(3100));
    // Saving counts as a use.
    c.berth(&["save", "-o", c.path("a.tar").to_str().unwrap(), "a"])
        .ok();
    c.berth(&["image", "prune", "-a", "-f", "--filter", "unused-for=2s"])
        .ok();
    assert_eq!(names(&c), vec!["a:latest"]);
}

#[test]
fn system_prune_max_size_evicts_least_recently_used() {
    let c = Ctx::new();
    // Three images with distinct 3 MiB layers.
    for (i, name) in ["first", "second", "third"].iter().enumerate() {
        let t = c.path(&format!("{name}.tar"));
        big_tar(&t, 3 + i);
        c.berth(&["import", "-q", t.to_str().unwrap(), name]).ok();
        std::thread::sleep(std::time::Duration::from_millis(1100));
    }
    // Use "first" so that "second" is now the least recently used.
    c.berth(&[
        "save",
        "-o",
        c.path("first-out.tar").to_str().unwrap(),
        "first",
    ])
    .ok();
    let df: serde_json::Value =
        serde_json::from_str(&c.berth(&["system", "df", "--format", "json"]).ok().stdout())
            .unwrap();
    let total = df["TotalBytes"].as_u64().unwrap();
    // Room for all but about one image.
    let max = total - 4 * 1024 * 1024;
    c.berth(&["system", "prune", "-f", "--max-size", &max.to_string()])
        .ok();
    assert_eq!(names(&c), vec!["first:latest", "third:latest"]);
    let df: serde_json::Value =
        serde_json::from_str(&c.berth(&["system", "df", "--format", "json"]).ok().stdout())
            .unwrap();
    assert!(df["TotalBytes"].as_u64().unwrap() <= max);
    c.check_clean();
}

#[test]
fn df_matches_bytes_on_disk() {
    let c = Ctx::new();
    c.busybox("bb");
    let t = c.path("big.tar");
    big_tar(&t, 4);
    c.berth(&["import", t.to_str().unwrap(), "big"]).ok();
    let df: serde_json::Value =
        serde_json::from_str(&c.berth(&["system", "df", "--format", "json"]).ok().stdout())
            .unwrap();
    let du = |p: &str| -> u64 {
        sh(&format!("du -sB1 {}", c.root().join(p).display()))
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    let files_only = |p: &str| -> u64 {
        sh(&format!(
            "find {} -type f -exec du -B1 {{}} + | awk '{{s+=$1}} END {{print s+0}}'",
            c.root().join(p).display()
        ))
        .trim()
        .parse()
        .unwrap()
    };
    // Blob bytes are exactly what the blob files take (the directory inode aside).
    assert_eq!(
        df["BlobBytes"].as_u64().unwrap(),
        files_only("blobs/sha256")
    );
    assert!(du("blobs/sha256") >= files_only("blobs/sha256"));
    assert_eq!(df["Images"], 2);
    let table = c.berth(&["system", "df"]).ok().stdout();
    assert!(
        table.contains("Images") && table.contains("RECLAIMABLE"),
        "{table}"
    );
    // After removing one image its bytes are gone from disk and from df.
    c.berth(&["rmi", "big"]).ok();
    let df2: serde_json::Value =
        serde_json::from_str(&c.berth(&["system", "df", "--format", "json"]).ok().stdout())
            .unwrap();
    assert!(df2["BlobBytes"].as_u64().unwrap() + 4_000_000 < df["BlobBytes"].as_u64().unwrap());
    assert_eq!(
        df2["BlobBytes"].as_u64().unwrap(),
        files_only("blobs/sha256")
    );
}

#[test]
fn check_finds_and_repairs_corruption() {
    let c = Ctx::new();
    c.busybox("bb");
    c.busybox("keep");
    let big = c.path("big.tar");
    big_tar(&big, 2);
    c.berth(&["import", big.to_str().unwrap(), "victim"]).ok();
    let layer = c.inspect("victim")["Manifest"]["Layers"][0]["Digest"]
        .as_str()
        .unwrap()
        .to_string();
    let blob = c.root().join("blobs/sha256").join(&layer[7..]);
    std::fs::set_permissions(&blob, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let mut bytes = std::fs::read(&blob).unwrap();
    bytes[100] ^= 1;
    std::fs::write(&blob, bytes).unwrap();
    let r = c.berth(&["system", "check"]);
    assert_eq!(r.code(), 1);
    assert!(
        r.stdout()
            .contains(&format!("blob {layer}: content does not match")),
        "{}",
        r.stdout()
    );
    assert!(r.stdout().contains("image victim:latest"), "{}", r.stdout());
    // Save refuses to ship the corrupt layer.
    c.berth(&["save", "-o", c.path("v.tar").to_str().unwrap(), "victim"])
        .fails_with("berth system check");
    let r = c.berth(&["system", "check", "--repair"]).ok();
    assert!(
        r.stdout().contains("removed corrupt blob") && r.stdout().contains("removed broken image"),
        "{}",
        r.stdout()
    );
    c.check_clean();
    assert_eq!(names(&c), vec!["bb:latest", "keep:latest"]);
}

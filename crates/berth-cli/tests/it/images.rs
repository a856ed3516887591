use crate::common::*;

#[test]
fn import_lists_inspects_and_tags() {
    let c = Ctx::new();
    let tar = busybox_tar();
    let id = c
        .berth(&[
            "import",
            "-q",
            "-c",
            r#"CMD ["sh", "-c", "echo hi"]"#,
            "-c",
            "ENV APP_ENV=production",
            "-c",
            "WORKDIR /srv",
            "-c",
            "USER nobody",
            "-c",
            "LABEL org.example.job=42",
            "-c",
            "EXPOSE 8080",
            "-c",
            "ENTRYPOINT [\"/bin/sh\"]",
            "-m",
            "from busybox",
            tar.to_str().unwrap(),
            "app:1.0",
        ])
        .ok()
        .stdout();
    let id = id.trim();
    assert!(id.starts_with("sha256:") && id.len() == 71, "{id}");

    let i = c.inspect("app:1.0");
    assert_eq!(i["Id"], id);
    assert_eq!(i["RepoTags"], serde_json::json!(["app:1.0"]));
    assert_eq!(
        i["Config"]["Cmd"],
        serde_json::json!(["sh", "-c", "echo hi"])
    );
    assert_eq!(i["Config"]["Entrypoint"], serde_json::json!(["/bin/sh"]));
    assert_eq!(
        i["Config"]["Env"],
        serde_json::json!(["APP_ENV=production"])
    );
    assert_eq!(i["Config"]["WorkingDir"], "/srv");
    assert_eq!(i["Config"]["User"], "nobody");
    assert_eq!(i["Config"]["Labels"]["org.example.job"], "42");
    assert!(i["Config"]["ExposedPorts"]["8080/tcp"].is_object());
    assert_eq!(i["Os"], "linux");
    assert_eq!(i["Architecture"], "amd64");
    assert_eq!(i["Comment"], "from busybox");
    assert_eq!(i["RootFS"]["Layers"].as_array().unwrap().len(), 1);
    assert!(i["Size"].as_u64().unwrap() > 500_000);

    // Table and JSON listings.
    let table = c.berth(&["images"]).ok().stdout();
    assert!(table.starts_with("REPOSITORY"), "{table}");
    assert!(
        table.contains("app") && table.contains("1.0") && table.contains(&id[7..19]),
        "{table}"
    );
    let j = c.images_json();
    assert_eq!(j.len(), 1);
    assert_eq!(j[0]["Repository"], "app");
    assert_eq!(j[0]["Labels"]["org.example.job"], "42");
    assert_eq!(c.berth(&["images", "-q"]).ok().stdout().trim(), &id[7..19]);
    assert_eq!(
        c.berth(&["images", "--format", "{{.Repository}}:{{.Tag}}"])
            .ok()
            .stdout()
            .trim(),
        "app:1.0"
    );
    assert_eq!(
        c.berth(&[
            "image",
            "inspect",
            "-f",
            "{{.Config.WorkingDir}}",
            "app:1.0"
        ])
        .ok()
        .stdout()
        .trim(),
        "/srv"
    );

    // Tag, resolve by id prefix and by full id, list by reference.
    c.berth(&["tag", &id[7..15], "registry.local:5000/team/app:prod"])
        .ok();
    c.berth(&["tag", id, "other"]).ok();
    let names: Vec<String> = c
        .images_json()
        .iter()
        .map(|v| {
            format!(
                "{}:{}",
                v["Repository"].as_str().unwrap(),
                v["Tag"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(names.len(), 3, "{names:?}");
    assert!(names.contains(&"registry.local:5000/team/app:prod".to_string()));
    assert!(names.contains(&"other:latest".to_string()));
    assert_eq!(c.berth(&["images", "app"]).ok().stdout().lines().count(), 2);
    assert_eq!(
        c.berth(&["images", "--filter", "reference=*/team/*"])
            .ok()
            .stdout()
            .lines()
            .count(),
        2
    );
    assert_eq!(
        c.berth(&["images", "-q", "--filter", "label=org.example.job=42"])
            .ok()
            .stdout()
            .lines()
            .count(),
        1
    );
    assert_eq!(
        c.berth(&["images", "-q", "--filter", "label=org.example.job=43"])
            .ok()
            .stdout()
            .lines()
            .count(),
        0
    );
    assert_eq!(
        c.berth(&["images", "-q", "--filter", "dangling=true"])
            .ok()
            .stdout()
            .lines()
            .count(),
        0
    );

    // History shows the import.
    let h = c.berth(&["history", "app:1.0"]).ok().stdout();
    assert!(
        h.contains("berth import") && h.contains("from busybox"),
        "{h}"
    );

    // rmi by id refuses an image named in several repositories; by name it untags.
    c.berth(&["rmi", &id[7..19]])
        .fails_with("referenced in multiple repositories");
    let out = c.berth(&["rmi", "other"]).ok().stdout();
    assert!(
        out.contains("Untagged: other:latest") && !out.contains("Deleted"),
        "{out}"
    );
    c.berth(&["rmi", "registry.local:5000/team/app:prod"]).ok();
    let out = c.berth(&["rmi", "app:1.0"]).ok().stdout();
    assert!(out.contains(&format!("Deleted: {id}")), "{out}");
    assert!(c.images_json().is_empty());
    c.berth(&["rmi", "app:1.0"]).fails_with("no such image");
    c.berth(&["image", "inspect", "nope"])
        .fails_with("no such image");
    c.check_clean();
    // Space came back: only the database is left.
    let blobs = std::fs::read_dir(c.root().join("blobs/sha256"))
        .unwrap()
        .count();
    assert_eq!(blobs, 0, "rmi frees blobs");
}

#[test]
fn import_compressed_and_stdin_inputs() {
    let c = Ctx::new();
    let tar = busybox_tar();
    let t = tar.to_str().unwrap();
    sh(&format!(
        "gzip -c {t} > {0}.gz && zstd -q -c {t} > {0}.zst && xz -T1 -c {t} > {0}.xz",
        c.path("rootfs.tar").display()
    ));
    let plain = c.berth(&["import", "-q", t, "plain"]).ok().stdout();
    for ext in ["gz", "zst", "xz"] {
        let p = c.path(&format!("rootfs.tar.{ext}"));
        // A message of its own: imports within one second would otherwise have the same
        // config, hence the same image id, and share the first one's manifest.
        let msg = format!("from {ext}");
        c.berth(&[
            "import",
            "-q",
            "-m",
            &msg,
            p.to_str().unwrap(),
            &format!("from-{ext}"),
        ])
        .ok();
        let i = c.inspect(&format!("from-{ext}"));
        // The same tar inside: the same diff id whatever the outer compression.
        assert_eq!(i["RootFS"], c.inspect("plain")["RootFS"], "{ext}");
    }
    let stdin = c
        .berth_stdin(&["import", "-q", "-m", "stdin", "-", "from-stdin"], &tar)
        .ok()
        .stdout();
    assert!(!stdin.trim().is_empty());
    assert_eq!(
        c.inspect("from-stdin")["RootFS"],
        c.inspect("plain")["RootFS"]
    );
    // Layer digests are deterministic: the same tar gives the same blob.
    let l1 = c.inspect("plain")["Manifest"]["Layers"][0]["Digest"].clone();
    let l2 = c.inspect("from-stdin")["Manifest"]["Layers"][0]["Digest"].clone();
    let l3 = c.inspect("from-xz")["Manifest"]["Layers"][0]["Digest"].clone();
    assert_eq!(l1, l2);
    assert_eq!(l1, l3, "xz input is recompressed to the same gzip blob");
    assert!(!plain.is_empty());
    c.check_clean();
}

#[test]
fn bad_changes_and_names_are_clear_errors() {
    let c = Ctx::new();
    let t = busybox_tar();
    c.berth(&["import", "-c", "RUN rm -rf /", t.to_str().unwrap(), "x"])
        .fails_with("unsupported instruction");
    c.berth(&["import", t.to_str().unwrap(), "Bad:Name"])
        .fails_with("invalid image reference");
    c.berth(&["import", "/nonexistent.tar", "x"])
        .fails_with("cannot open /nonexistent.tar");
    let junk = c.path("junk.tar");
    std::fs::write(&junk, b"this is not a tar file at all, not even close....").unwrap();
    c.berth(&["import", junk.to_str().unwrap(), "x"])
        .fails_with("import of");
    assert!(c.images_json().is_empty(), "nothing tagged after failures");
    c.check_clean();
}

#[test]
fn version_and_help() {
    let c = Ctx::new();
    assert!(c.berth(&["--version"]).ok().stdout().starts_with("berth "));
    let h = c.berth(&["--help"]).ok().stdout();
    for cmd in ["import", "bootstrap", "images", "save", "load", "system"] {
        assert!(h.contains(cmd), "help lists {cmd}");
    }
    // BERTH_ROOT is honoured like --root.
    let mut cmd = std::process::Command::new(berth_bin());
    cmd.env("BERTH_ROOT", c.root()).args(["images", "-q"]);
    assert!(cmd.output().unwrap().status.success());
    assert!(c.root().join("berth.db").exists());
}

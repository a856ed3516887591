//! The one slow end-to-end test: a Debian base image from nothing with debootstrap.

use crate::common::*;

#[test]
fn bootstrap_debian_bookworm_minbase() {
    if std::env::var("BERTH_SKIP_BOOTSTRAP").is_ok() {
        eprintln!("BERTH_SKIP_BOOTSTRAP is set: skipping the debootstrap test");
        return;
    }
    let c = Ctx::new();
    let r = c
        .berth(&[
            "bootstrap",
            "debian:bookworm",
            "--include",
            "ca-certificates",
            "-t",
            "base/debian:bookworm",
        ])
        .ok();
    assert!(
        r.stderr().contains("Bootstrapped debian:bookworm"),
        "{}",
        r.stderr()
    );
    let i = c.inspect("base/debian:bookworm");
    assert_eq!(i["Config"]["Cmd"], serde_json::json!(["bash"]));
    assert!(
        i["Size"].as_u64().unwrap() > 50_000_000,
        "a real Debian rootfs"
    );
    // The layer holds a real Debian: look inside the saved archive.
    let out = c.path("debian.tar");
    c.berth(&["save", "-o", out.to_str().unwrap(), "base/debian:bookworm"])
        .ok();
    let layer = sh(&format!(
        "tar -tf {} | grep '.tar$' | head -1",
        out.display()
    ));
    let listing = sh(&format!(
        "tar -xOf {} {} | tar -t",
        out.display(),
        layer.trim()
    ));
    for must in [
        "./etc/debian_version",
        "./usr/bin/apt-get",
        "./usr/bin/bash",
        "./etc/ssl/certs/ca-certificates.crt",
    ] {
        assert!(
            listing.lines().any(|l| l == must || l == &must[2..]),
            "{must} in the image"
        );
    }
    assert!(
        !listing
            .lines()
            .any(|l| l.starts_with("./proc/") && l.len() > 7),
        "no /proc contents"
    );
    c.check_clean();

    // apt works in a build on it (plain http to the mirror the host uses).
    let ctx = c.path("apt");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM base/debian:bookworm\nRUN apt-get update -q && apt-get install -y -q --no-install-recommends hello && rm -rf /var/lib/apt/lists/*\nCMD [\"hello\"]\n",
    )
    .unwrap();
    c.berth(&["build", "-q", "-t", "hello:1", ctx.to_str().unwrap()])
        .ok();
    assert_eq!(
        c.berth(&["run", "--rm", "hello:1"]).ok().stdout(),
        "Hello, world!\n"
    );
    c.check_clean();

    // Unknown distributions get a clear error.
    c.berth(&["bootstrap", "alpine:3.19"])
        .fails_with("debian and ubuntu");
}

//! Golden tests for expansion: `testdata/expand/<case>/Dockerfile`, optional `build-args`
//! (`NAME=VALUE` per line; the platform args are fixed to linux/amd64 building for
//! linux/arm64/v8), compared with `result`. `BERTH_UPDATE_GOLDEN=1` rewrites results.

use berth_dockerfile::scope::{expand_all, platform_args, ExpandOptions, Platform};
use std::fs;
use std::path::Path;

#[test]
fn expand_golden() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/expand");
    let update = std::env::var("BERTH_UPDATE_GOLDEN").is_ok_and(|v| v == "1");
    let mut dirs: Vec<_> = fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    dirs.sort();
    assert!(dirs.len() >= 5);
    let mut failures = Vec::new();
    for dir in dirs {
        let src = fs::read_to_string(dir.join("Dockerfile")).unwrap();
        let mut opts = ExpandOptions {
            automatic_args: platform_args(
                &Platform::parse("linux/amd64").unwrap(),
                &Platform::parse("linux/arm64/v8").unwrap(),
            ),
            ..Default::default()
        };
        if let Ok(args) = fs::read_to_string(dir.join("build-args")) {
            for line in args.lines().filter(|l| !l.trim().is_empty()) {
                let (k, v) = line.split_once('=').unwrap();
                opts.build_args.insert(k.to_string(), v.to_string());
            }
        }
        let df = berth_dockerfile::parse(&src).unwrap();
        let got = match expand_all(&df, &opts) {
            Ok(stages) => berth_dockerfile::dump::dump_expanded(&stages),
            Err(e) => format!("error: {}", e.render("Dockerfile", &src)),
        };
        let path = dir.join("result");
        if update {
            fs::write(&path, &got).unwrap();
            continue;
        }
        let want = fs::read_to_string(&path).unwrap_or_default();
        if want != got {
            failures.push(format!(
                "{}:\n--- want\n{want}--- got\n{got}",
                dir.display()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

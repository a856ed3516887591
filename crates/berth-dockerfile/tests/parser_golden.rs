//! Golden tests: every `testdata/parser/<case>/Dockerfile` is parsed and its dump compared
//! with `result`; set `BERTH_UPDATE_GOLDEN=1` to rewrite the results. Every
//! `testdata/parser-negative/<case>/Dockerfile` must fail with an error whose rendering
//! contains the text in `error`.

use std::fs;
use std::path::{Path, PathBuf};

fn cases(dir: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(dir);
    let mut out: Vec<PathBuf> = fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    out.sort();
    out
}

#[test]
fn parser_golden() {
    let update = std::env::var("BERTH_UPDATE_GOLDEN").is_ok_and(|v| v == "1");
    let mut failures = Vec::new();
    let all = cases("parser");
    assert!(
        all.len() >= 30,
        "expected the golden cases, found {}",
        all.len()
    );
    for case in all {
        let src = fs::read_to_string(case.join("Dockerfile")).unwrap();
        let got = match berth_dockerfile::parse(&src) {
            Ok(df) => berth_dockerfile::dump::dump(&df),
            Err(e) => panic!("{}: {}", case.display(), e.render("Dockerfile", &src)),
        };
        let result = case.join("result");
        if update {
            fs::write(&result, &got).unwrap();
            continue;
        }
        let want = fs::read_to_string(&result).unwrap_or_default();
        if want != got {
            failures.push(format!(
                "{}:\n--- want\n{want}--- got\n{got}",
                case.display()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn parser_negative() {
    let mut failures = Vec::new();
    let all = cases("parser-negative");
    assert!(
        all.len() >= 20,
        "expected the negative cases, found {}",
        all.len()
    );
    for case in all {
        let src = fs::read_to_string(case.join("Dockerfile")).unwrap();
        let want = fs::read_to_string(case.join("error")).unwrap();
        let want = want.trim_end_matches('\n');
        match berth_dockerfile::parse(&src) {
            Ok(_) => failures.push(format!("{}: parsed without error", case.display())),
            Err(e) => {
                let got = e.render("Dockerfile", &src);
                if !got.contains(want) {
                    failures.push(format!(
                        "{}: error {got:?} does not contain {want:?}",
                        case.display()
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

//! `berth build --check`: the report structure (golden JSON) and each rule.

use berth_dockerfile::check::{check, crlf_hint, line_endings, rules, CheckOptions, Severity};
use std::fs;
use std::path::Path;

fn report(src: &str) -> berth_dockerfile::check::CheckReport {
    let df = berth_dockerfile::parse(src).unwrap();
    check(&df, &CheckOptions::default())
}

fn rules_hit(src: &str) -> Vec<(String, usize)> {
    report(src)
        .warnings
        .into_iter()
        .map(|w| (w.rule, w.start_line))
        .collect()
}

#[test]
fn golden_json() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/check");
    let update = std::env::var("BERTH_UPDATE_GOLDEN").is_ok_and(|v| v == "1");
    let mut dirs: Vec<_> = fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    dirs.sort();
    for dir in dirs {
        let src = fs::read_to_string(dir.join("Dockerfile")).unwrap();
        let got = report(&src).to_json() + "\n";
        let path = dir.join("report.json");
        if update {
            fs::write(&path, &got).unwrap();
        } else {
            let want = fs::read_to_string(&path).unwrap_or_default();
            assert_eq!(want, got, "{}", dir.display());
        }
    }
}

#[test]
fn outline_fields() {
    let r = report("ARG A=1\nFROM busybox AS one\nARG B\nRUN true\nFROM one\nCMD [\"x\"]\n");
    assert_eq!(r.version, 1);
    assert_eq!(r.stages.len(), 2);
    assert_eq!((r.stages[0].start_line, r.stages[0].end_line), (2, 4));
    assert_eq!(r.args.global[0].name, "A");
    assert_eq!(r.args.global[0].default.as_deref(), Some("1"));
    assert_eq!(r.args.stages[0].args[0].name, "B");
    assert!(r.args.stages[1].args.is_empty());
    assert_eq!(r.instructions[0].stage, None);
    assert_eq!(r.instructions[3].stage, Some(0));
    assert_eq!(r.instructions[5].stage, Some(1));
    let v: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
    assert_eq!(v["instructions"][1]["kind"], "FROM");
    assert_eq!(v["stages"][0]["name"], "one");
    assert_eq!(v["fail"], false);
}

#[test]
fn clean_file_has_no_warnings() {
    let r = report("FROM busybox AS base\nENV A=1\nCMD [\"sh\"]\n");
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    assert!(r
        .render_text("Dockerfile", "")
        .contains("Check complete, no warnings found."));
}

#[test]
fn keyword_casing() {
    let hits = rules_hit("FROM a\nRUN x\nrun y\nRun z\n");
    assert!(hits.contains(&(rules::CONSISTENT_INSTRUCTION_CASING.into(), 3)));
    assert!(hits.contains(&(rules::CONSISTENT_INSTRUCTION_CASING.into(), 4)));
    assert!(!hits.iter().any(|(_, l)| *l == 2));
    // lowercase majority
    let hits = rules_hit("from a\nrun x\nRUN y\n");
    assert_eq!(hits, vec![(rules::CONSISTENT_INSTRUCTION_CASING.into(), 3)]);
}

#[test]
fn from_as_casing_and_stage_name_casing() {
    let hits = rules_hit("FROM a as b\n");
    assert_eq!(hits, vec![(rules::FROM_AS_CASING.into(), 1)]);
    let hits = rules_hit("from a AS b\n");
    assert_eq!(hits, vec![(rules::FROM_AS_CASING.into(), 1)]);
    let hits = rules_hit("FROM a AS Build\n");
    assert_eq!(hits, vec![(rules::STAGE_NAME_CASING.into(), 1)]);
}

#[test]
fn json_args_recommended() {
    let hits = rules_hit("FROM a\nCMD echo hi\nENTRYPOINT exec x\nHEALTHCHECK CMD true\n");
    assert_eq!(
        hits,
        vec![
            (rules::JSON_ARGS_RECOMMENDED.into(), 2),
            (rules::JSON_ARGS_RECOMMENDED.into(), 3)
        ]
    );
}

#[test]
fn undefined_variables() {
    let hits = rules_hit(
        "FROM a\nARG DECLARED\nENV PATH=/x:$PATH\nWORKDIR /$DECLARED/$NOPE/${GUARDED:-x}\n",
    );
    assert_eq!(hits, vec![(rules::UNDEFINED_VAR.into(), 4)]);
    let r = report("FROM a\nWORKDIR $NOPE\n");
    assert_eq!(r.warnings[0].message, "Usage of undefined variable '$NOPE'");
    let r = report("FROM a\nARG VERSION=1\nENV HOME_DIR=/h\nWORKDIR $VERSOIN/$home_dir\n");
    let msgs: Vec<&str> = r.warnings.iter().map(|w| w.message.as_str()).collect();
    assert_eq!(
        msgs,
        vec![
            "Usage of undefined variable '$VERSOIN' (did you mean $VERSION?)",
            "Usage of undefined variable '$home_dir' (did you mean $HOME_DIR?)"
        ]
    );
    let hits = rules_hit("FROM alpine:$TAG\n");
    assert_eq!(hits, vec![(rules::UNDEFINED_ARG_IN_FROM.into(), 1)]);
}

#[test]
fn duplicate_stage_name_is_error() {
    let r = report("FROM a AS x\nFROM b AS x\n");
    assert_eq!(r.warnings.len(), 1);
    assert_eq!(r.warnings[0].rule, rules::DUPLICATE_STAGE_NAME);
    assert_eq!(r.warnings[0].severity, Severity::Error);
    assert_eq!(r.warnings[0].start_line, 2);
    assert!(r.fail);
}

#[test]
fn maintainer_and_legacy_forms() {
    let hits = rules_hit("FROM a\nMAINTAINER me\nENV A 1\nLABEL b 2\nENV C=3\n");
    assert_eq!(
        hits,
        vec![
            (rules::MAINTAINER_DEPRECATED.into(), 2),
            (rules::LEGACY_KEY_VALUE_FORMAT.into(), 3),
            (rules::LEGACY_KEY_VALUE_FORMAT.into(), 4)
        ]
    );
}

#[test]
fn multiple_cmd_and_reserved_name() {
    let hits = rules_hit("FROM a AS scratch\nCMD [\"a\"]\nCMD [\"b\"]\n");
    assert!(hits.contains(&(rules::RESERVED_STAGE_NAME.into(), 1)));
    assert!(hits.contains(&(rules::MULTIPLE_INSTRUCTIONS_DISALLOWED.into(), 2)));
}

#[test]
fn empty_continuation_reported() {
    let hits = rules_hit("FROM a\nRUN a \\\n\n  b\n");
    assert_eq!(hits, vec![(rules::NO_EMPTY_CONTINUATION.into(), 3)]);
}

#[test]
fn check_directive_skip_and_error() {
    let r = report("# check=skip=JSONArgsRecommended\nFROM a\nCMD echo\n");
    assert!(r.warnings.is_empty());
    let r = report("# check=skip=all\nFROM a AS x\nCMD echo\nFROM a AS x\n");
    assert_eq!(r.warnings.len(), 1, "errors are never skipped");
    let r = report("# check=error=true\nFROM a\nCMD echo\n");
    assert!(r.fail);
    let r = report("FROM a\nCMD echo\n");
    assert!(!r.fail);
}

#[test]
fn expansion_failure_is_reported() {
    let r = report("FROM a\nARG V\nWORKDIR ${V:?required}\n");
    assert_eq!(r.warnings[0].rule, rules::EXPANSION_FAILED);
    assert_eq!(r.warnings[0].start_line, 3);
}

#[test]
fn other_stages_still_checked_after_expansion_failure() {
    let r = report("FROM a AS one\nWORKDIR ${V:?x}\nFROM a AS two\nWORKDIR $NOPE\n");
    let rules: Vec<&str> = r.warnings.iter().map(|w| w.rule.as_str()).collect();
    assert_eq!(rules, vec![rules::EXPANSION_FAILED, rules::UNDEFINED_VAR]);
}

#[test]
fn text_rendering() {
    let src = "FROM a\nCMD echo hi\n";
    let text = report(src).render_text("Dockerfile", src);
    assert_eq!(
        text,
        "Dockerfile:2: warning: JSONArgsRecommended: JSON arguments recommended for CMD to prevent unintended behavior related to OS signals\n 2 | CMD echo hi\nCheck complete, 1 warning has been found!\n"
    );
}

#[test]
fn rule_urls() {
    let r = report("FROM a\nCMD echo\n");
    assert_eq!(
        r.warnings[0].url.as_deref(),
        Some("https://docs.docker.com/go/dockerfile/rule/json-args-recommended/")
    );
    let r = report("FROM a\nARG V\nWORKDIR ${V:?x}\n");
    assert_eq!(r.warnings[0].url, None);
    let r = report("FROM a AS x\nFROM a AS x\n");
    assert_eq!(
        r.warnings[0].url.as_deref(),
        Some("https://docs.docker.com/go/dockerfile/rule/duplicate-stage-name/")
    );
}

#[test]
fn crlf_detection() {
    let le = line_endings(b"#!/bin/sh\r\necho hi\r\n");
    assert_eq!((le.crlf, le.lf, le.first_crlf_line), (2, 0, Some(1)));
    assert!(!le.mixed());
    let le = line_endings(b"a\nb\r\nc\n");
    assert!(le.mixed());
    assert_eq!(le.first_crlf_line, Some(2));
    assert!(!line_endings(b"a\nb\n").has_crlf());
    assert!(crlf_hint("entrypoint.sh", b"x\r\n")
        .unwrap()
        .starts_with("entrypoint.sh has CRLF"));
    assert!(crlf_hint("ok.sh", b"x\n").is_none());
}

//! `berth build --check`: the Dockerfile front end from the command line.

use crate::common::*;

#[test]
fn check_lints_and_describes_a_dockerfile() {
    let c = Ctx::new();
    let ctx = c.path("app");
    std::fs::create_dir(&ctx).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "ARG BASE=debian:bookworm\nFROM ${BASE} AS compile\nRUN make\nFROM compile as test\nRUN make test\nFROM debian:bookworm\nCOPY --from=compile /src/app /app\nCMD app\n",
    )
    .unwrap();
    let text = c
        .berth(&["build", "--check", ctx.to_str().unwrap()])
        .ok()
        .stdout();
    assert!(
        text.contains("Dockerfile:4: warning: FromAsCasing"),
        "{text}"
    );
    assert!(
        text.contains("Dockerfile:8: warning: JSONArgsRecommended"),
        "{text}"
    );
    let json: serde_json::Value = serde_json::from_str(
        &c.berth(&[
            "build",
            "--check",
            "--format",
            "json",
            ctx.to_str().unwrap(),
        ])
        .ok()
        .stdout(),
    )
    .unwrap();
    let stages = json["stages"].as_array().unwrap();
    assert_eq!(stages.len(), 3);
    assert_eq!(stages[0]["name"], "compile");
    assert_eq!(stages[1]["base"], "compile");
    assert_eq!(stages[2]["start_line"], 6);
    // Errors point at the file and line, with the line shown.
    let bad = c.path("Dockerfile.bad");
    std::fs::write(&bad, "FROM scratch\nRUNN echo hi\n").unwrap();
    let r = c.berth(&[
        "build",
        "--check",
        "-f",
        bad.to_str().unwrap(),
        ctx.to_str().unwrap(),
    ]);
    assert_eq!(r.code(), 1);
    assert!(
        r.stderr()
            .contains("Dockerfile.bad:2: unknown instruction \"RUNN\""),
        "{}",
        r.stderr()
    );
    assert!(r.stderr().contains("RUNN echo hi"));
    // Building itself is not there yet, and says so.
    c.berth(&["build", ctx.to_str().unwrap()])
        .fails_with("build engine");
}

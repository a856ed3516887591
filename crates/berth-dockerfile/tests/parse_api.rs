//! Parser API details that the golden dumps do not show.

use berth_dockerfile::instructions::{Command, Kind, Source};
use berth_dockerfile::{parse, ShellOrExec};

#[test]
fn unknown_instruction_render_matches_docker_style() {
    let src = "FROM busybox\n".repeat(11) + "RUNN echo hi\n";
    let e = parse(&src).unwrap_err();
    let r = e.render("Dockerfile", &src);
    assert!(
        r.starts_with("Dockerfile:12: unknown instruction \"RUNN\"\n 12 | RUNN echo hi\n"),
        "{r}"
    );
    assert!(r.ends_with("hint: did you mean RUN?\n"));
}

#[test]
fn onbuild_expression_carries_heredocs() {
    let df = parse("FROM a\nONBUILD RUN <<EOF\necho hi\nEOF\n").unwrap();
    let Command::Onbuild(o) = &df.instructions[1].command else {
        panic!()
    };
    assert_eq!(o.expression(), "RUN <<EOF\necho hi\nEOF");
    // a child build can parse the stored trigger again
    let again = parse(&format!("FROM a\n{}\n", o.expression())).unwrap();
    assert_eq!(again.instructions[1].kind(), Kind::Run);
}

#[test]
fn stages_and_spans() {
    let src = "ARG X\nFROM a AS One\nRUN a \\\n  b\nFROM one\nCOPY --from=ONE /x /y\n";
    let df = parse(src).unwrap();
    assert_eq!(df.global_args, vec![0]);
    assert_eq!(df.stages.len(), 2);
    assert_eq!(df.stage_by_name("ONE").unwrap().index, 0);
    assert_eq!(df.body_of(&df.stages[0]).len(), 1);
    assert_eq!(df.instructions[2].span.start_line, 3);
    assert_eq!(df.instructions[2].span.end_line, 4);
    assert_eq!(df.instructions[2].original, "RUN a \\\n  b");
}

#[test]
fn heredoc_span_extends_instruction() {
    let df = parse("FROM a\nCOPY <<A <<B /d/\n1\nA\n2\nB\nRUN x\n").unwrap();
    assert_eq!(df.instructions[1].span.start_line, 2);
    assert_eq!(df.instructions[1].span.end_line, 6);
    let Command::Copy(c) = &df.instructions[1].command else {
        panic!()
    };
    let names: Vec<&str> = c
        .sources
        .iter()
        .map(|s| match s {
            Source::Heredoc(h) => h.name.as_str(),
            Source::Path(p) => p.as_str(),
        })
        .collect();
    assert_eq!(names, vec!["A", "B"]);
    assert_eq!(df.instructions[2].span.start_line, 7);
}

#[test]
fn heredoc_not_read_for_json_form_or_other_instructions() {
    let df = parse("FROM a\nRUN [\"<<EOF\"]\nUSER <<X\n").unwrap();
    let Command::Run(r) = &df.instructions[1].command else {
        panic!()
    };
    assert!(r.heredocs.is_empty());
    assert_eq!(r.cmd, ShellOrExec::Exec(vec!["<<EOF".into()]));
    assert_eq!(df.instructions[2].kind(), Kind::User);
}

#[test]
fn ast_serialises() {
    let df = parse("FROM a AS b\nRUN --mount=type=cache,target=/c make\n").unwrap();
    let v = serde_json::to_value(&df).unwrap();
    assert_eq!(v["instructions"][1]["command"]["kind"], "RUN");
    assert_eq!(
        v["instructions"][1]["command"]["args"]["mounts"][0]["mount"]["kind"],
        "cache"
    );
    assert_eq!(v["stages"][0]["name"], "b");
}

#[test]
fn empty_and_whitespace_only_files() {
    for src in ["", "\n\n", "   \n\t\n", "# comment only\n", "\u{feff}"] {
        let e = parse(src).unwrap_err();
        assert!(e.message.contains("file with no instructions"), "{src:?}");
    }
}

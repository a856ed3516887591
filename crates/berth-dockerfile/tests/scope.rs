//! Expansion through whole Dockerfiles: which instructions expand what, ARG scoping,
//! ENV over ARG, build args, automatic platform args, and the used-args record.

use berth_dockerfile::instructions::{Command, Source};
use berth_dockerfile::scope::{
    expand_all, global_scope, platform_args, unconsumed_build_args, ExpandOptions, ExpandedStage,
    Platform,
};
use std::collections::BTreeMap;

fn opts(args: &[(&str, &str)]) -> ExpandOptions {
    ExpandOptions {
        build_args: args
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        automatic_args: platform_args(
            &Platform::parse("linux/amd64").unwrap(),
            &Platform::parse("linux/arm64/v8").unwrap(),
        ),
        ..Default::default()
    }
}

fn stages(src: &str, args: &[(&str, &str)]) -> Vec<ExpandedStage> {
    let df = berth_dockerfile::parse(src).unwrap();
    expand_all(&df, &opts(args)).unwrap()
}

fn used(st: &ExpandedStage, i: usize) -> Vec<String> {
    st.instructions[i]
        .used_args
        .iter()
        .map(|(k, v)| format!("{k}={}", v.clone().unwrap_or_else(|| "<unset>".into())))
        .collect()
}

fn workdir(st: &ExpandedStage, i: usize) -> String {
    match &st.instructions[i].instruction.command {
        Command::Workdir(w) => w.clone(),
        other => panic!("not WORKDIR: {other:?}"),
    }
}

#[test]
fn global_args_only_in_from() {
    let s = stages(
        "ARG TAG=3.19\nARG IMG=alpine\nFROM $IMG:${TAG}\nWORKDIR /x/$TAG\n",
        &[],
    );
    assert_eq!(s[0].base, "alpine:3.19");
    assert_eq!(workdir(&s[0], 0), "/x/");
    assert_eq!(s[0].instructions[0].undefined.len(), 1);
    assert!(s[0].from_used_args.contains_key("TAG"));
}

#[test]
fn redeclared_global_arg_takes_global_value() {
    let s = stages("ARG TAG=3.19\nFROM alpine\nARG TAG\nWORKDIR /x/$TAG\n", &[]);
    assert_eq!(workdir(&s[0], 1), "/x/3.19");
    assert_eq!(used(&s[0], 1), vec!["TAG=3.19"]);
}

#[test]
fn build_arg_overrides_defaults() {
    let src = "ARG TAG=3.19\nFROM alpine:$TAG\nARG TAG\nARG MODE=debug\nWORKDIR /$TAG/$MODE\n";
    let s = stages(src, &[("TAG", "edge"), ("MODE", "release")]);
    assert_eq!(s[0].base, "alpine:edge");
    assert_eq!(workdir(&s[0], 2), "/edge/release");
}

#[test]
fn stage_default_beats_global_default() {
    let s = stages("ARG V=global\nFROM a\nARG V=local\nWORKDIR /$V\n", &[]);
    assert_eq!(workdir(&s[0], 1), "/local");
}

#[test]
fn args_do_not_cross_stages() {
    let s = stages(
        "FROM a AS one\nARG X=1\nWORKDIR /$X\nFROM a AS two\nWORKDIR /$X\n",
        &[],
    );
    assert_eq!(workdir(&s[0], 1), "/1");
    assert_eq!(workdir(&s[1], 0), "/");
}

#[test]
fn env_overrides_arg() {
    let s = stages(
        "FROM a\nARG V=arg\nENV V=env\nWORKDIR /$V\nARG V=again\nWORKDIR /$V\n",
        &[("V", "cli")],
    );
    assert_eq!(workdir(&s[0], 2), "/env");
    assert_eq!(workdir(&s[0], 4), "/env");
    assert!(s[0].instructions[2].used_args.is_empty());
}

#[test]
fn env_pairs_see_previous_values() {
    let s = stages("FROM a\nENV A=old\nENV A=new B=$A\nENV C=$A\n", &[]);
    let env = &s[0].final_env;
    let get = |k: &str| env.iter().find(|(n, _)| n == k).unwrap().1.clone();
    assert_eq!(get("B"), "old");
    assert_eq!(get("C"), "new");
}

#[test]
fn env_inherited_from_base_stage() {
    let s = stages(
        "FROM a AS base\nENV P=/opt\nFROM base\nWORKDIR $P/app\n",
        &[],
    );
    assert_eq!(workdir(&s[1], 0), "/opt/app");
}

#[test]
fn image_env_seeds_stages_built_on_images() {
    let df = berth_dockerfile::parse(
        "FROM golang:1.22 AS b\nENV PATH=/x:$PATH\nFROM B\nWORKDIR $GOPATH\n",
    )
    .unwrap();
    let mut o = opts(&[]);
    o.image_env.insert(
        "golang:1.22".into(),
        vec![
            ("PATH".into(), "/usr/bin".into()),
            ("GOPATH".into(), "/go".into()),
        ],
    );
    let s = expand_all(&df, &o).unwrap();
    assert!(s[0].instructions[0].undefined.is_empty());
    assert_eq!(s[0].final_env[1], ("PATH".into(), "/x:/usr/bin".into()));
    assert_eq!(workdir(&s[1], 0), "/go");
}

#[test]
fn arg_default_unset_and_used() {
    let s = stages("FROM a\nARG NOVAL\nWORKDIR /x$NOVAL\n", &[]);
    assert_eq!(workdir(&s[0], 1), "/x");
    assert_eq!(used(&s[0], 1), vec!["NOVAL=<unset>"]);
    assert!(s[0].instructions[1].undefined.is_empty());
}

#[test]
fn run_uses_all_args_in_scope_but_not_proxies() {
    let s = stages(
        "FROM a\nARG A=1\nARG HTTP_PROXY\nARG B\nRUN echo hi\nENV A=2\nRUN echo again\n",
        &[("HTTP_PROXY", "http://proxy:3128"), ("B", "b")],
    );
    assert_eq!(used(&s[0], 3), vec!["A=1", "B=b"]);
    assert_eq!(used(&s[0], 5), vec!["B=b"]);
    assert_eq!(
        s[0].instructions[3]
            .arg_env
            .get("HTTP_PROXY")
            .map(String::as_str),
        Some("http://proxy:3128")
    );
}

#[test]
fn undeclared_proxy_reaches_run_env() {
    let s = stages("FROM a\nRUN env\n", &[("https_proxy", "http://p")]);
    assert_eq!(
        s[0].instructions[0].arg_env.get("https_proxy").unwrap(),
        "http://p"
    );
    assert!(s[0].instructions[0].used_args.is_empty());
}

#[test]
fn unrelated_instructions_use_nothing() {
    let s = stages("FROM a\nARG A=1\nARG B=2\nWORKDIR /$A\nUSER app\n", &[]);
    assert_eq!(used(&s[0], 2), vec!["A=1"]);
    assert!(s[0].instructions[3].used_args.is_empty());
}

#[test]
fn platform_args_automatic_in_global_scope() {
    let s = stages(
        "FROM --platform=$BUILDPLATFORM golang AS b\nARG TARGETARCH\nWORKDIR /out/$TARGETARCH$TARGETVARIANT\n",
        &[],
    );
    assert_eq!(s[0].platform.as_deref(), Some("linux/amd64"));
    assert_eq!(workdir(&s[0], 1), "/out/arm64");
}

#[test]
fn platform_arg_beats_its_default() {
    let s = stages(
        "ARG TARGETOS=plan9\nFROM a:$TARGETOS\nARG TARGETARCH=none\nWORKDIR /$TARGETARCH\n",
        &[],
    );
    assert_eq!(s[0].base, "a:linux");
    assert_eq!(workdir(&s[0], 1), "/arm64");
}

#[test]
fn run_depends_on_unset_args_too() {
    let s = stages("FROM a\nARG LATER\nRUN make\n", &[]);
    assert_eq!(used(&s[0], 1), vec!["LATER=<unset>"]);
}

#[test]
fn platform_arg_needs_declaring_in_stage() {
    let s = stages("FROM a\nWORKDIR /$TARGETOS\n", &[]);
    assert_eq!(workdir(&s[0], 0), "/");
}

#[test]
fn copy_add_expansion() {
    let src = "FROM a\nARG SRC=app DEST=/srv U=1000\nCOPY --chown=$U:$U --from=${STAGE:-base} $SRC/ $DEST/\nADD --chmod=${MODE:-644} [\"$SRC two\", \"/x\"]\n";
    let s = stages(src, &[]);
    let Command::Copy(c) = &s[0].instructions[1].instruction.command else {
        panic!()
    };
    assert_eq!(c.chown.as_deref(), Some("1000:1000"));
    assert_eq!(c.from.as_deref(), Some("base"));
    assert_eq!(c.sources, vec![Source::Path("app/".into())]);
    assert_eq!(c.dest, "/srv/");
    assert_eq!(used(&s[0], 1), vec!["DEST=/srv", "SRC=app", "U=1000"]);
    let Command::Add(a) = &s[0].instructions[2].instruction.command else {
        panic!()
    };
    assert_eq!(a.chmod.as_deref(), Some("644"));
    assert_eq!(a.sources, vec![Source::Path("app two".into())]);
}

#[test]
fn shell_form_copy_cannot_quote_spaces() {
    // As in Docker: shell-form COPY splits on blanks before expansion, so a quoted source
    // with a space is two broken words. The JSON form is the way to name such a file.
    let df = berth_dockerfile::parse("FROM a\nCOPY \"a b\" /x\n").unwrap();
    let e = expand_all(&df, &opts(&[])).unwrap_err();
    assert!(e.message.contains("double-quote"), "{e}");
}

#[test]
fn copy_heredoc_expanded_unless_quoted() {
    let src = "FROM a\nARG WHO=world\nCOPY <<EOF /a\nhello $WHO, it's \\$HOME\nEOF\nCOPY <<'EOF' /b\nhello $WHO\nEOF\nCOPY <<-EOF /c\n\tindented $WHO\n\tEOF\n";
    let s = stages(src, &[]);
    let body = |i: usize| match &s[0].instructions[i].instruction.command {
        Command::Copy(c) => match &c.sources[0] {
            Source::Heredoc(h) => h.content(),
            _ => panic!(),
        },
        _ => panic!(),
    };
    assert_eq!(body(1), "hello world, it's $HOME\n");
    assert_eq!(body(2), "hello $WHO\n");
    assert_eq!(body(3), "indented world\n");
}

#[test]
fn run_text_not_expanded_but_mounts_are() {
    let src = "FROM a\nARG CACHE=/root/.cache\nRUN --mount=type=cache,target=$CACHE,id=${ID:-pip} echo $CACHE\n";
    let s = stages(src, &[]);
    let Command::Run(r) = &s[0].instructions[1].instruction.command else {
        panic!()
    };
    assert_eq!(
        r.cmd,
        berth_dockerfile::ShellOrExec::Shell("echo $CACHE".into())
    );
    let m = r.mounts[0].mount.as_ref().unwrap();
    assert_eq!(m.target.as_deref(), Some("/root/.cache"));
    assert_eq!(m.id.as_deref(), Some("pip"));
}

#[test]
fn mount_needing_args_checked_after_expansion() {
    let df =
        berth_dockerfile::parse("FROM a\nARG T=cache\nRUN --mount=type=$T,id=x true\n").unwrap();
    let e = expand_all(&df, &opts(&[])).unwrap_err();
    assert!(e.message.contains("requires a target"), "{e}");
    assert_eq!(e.span.start_line, 3);
}

#[test]
fn label_keys_and_values_expand() {
    let s = stages("FROM a\nARG V=1.2\nLABEL \"ver $V\"=\"$V\" plain=x\n", &[]);
    let Command::Label(kv) = &s[0].instructions[1].instruction.command else {
        panic!()
    };
    assert_eq!(kv.pairs[0].key, "ver 1.2");
    assert_eq!(kv.pairs[0].value, "1.2");
}

#[test]
fn expose_splits_expanded_ports() {
    let s = stages("FROM a\nARG PORTS=\"80 443\"\nEXPOSE $PORTS 53/udp\n", &[]);
    let Command::Expose(p) = &s[0].instructions[1].instruction.command else {
        panic!()
    };
    assert_eq!(p, &vec!["80", "443", "53/udp"]);
}

#[test]
fn cmd_and_onbuild_left_alone() {
    let s = stages("FROM a\nARG X=1\nCMD echo $X\nONBUILD RUN echo $X\n", &[]);
    assert!(s[0].instructions[1].used_args.is_empty());
    assert!(s[0].instructions[2].used_args.is_empty());
}

#[test]
fn required_arg_error_is_located() {
    let df = berth_dockerfile::parse("FROM a\nARG V\nWORKDIR ${V:?set --build-arg V}\n").unwrap();
    let e = expand_all(&df, &opts(&[])).unwrap_err();
    assert_eq!(e.span.start_line, 3);
    assert!(e.message.contains("V: set --build-arg V"));
    let ok = expand_all(&df, &opts(&[("V", "/v")])).unwrap();
    assert_eq!(workdir(&ok[0], 1), "/v");
}

#[test]
fn escape_directive_applies_to_expansion() {
    let s = stages("# escape=`\nFROM a\nENV P=C:\\dir`$notvar\n", &[]);
    let Command::Env(kv) = &s[0].instructions[0].instruction.command else {
        panic!()
    };
    assert_eq!(kv.pairs[0].value, "C:\\dir$notvar");
    // After the default PATH a base without one starts with.
    assert_eq!(s[0].final_env[1], ("P".into(), "C:\\dir$notvar".into()));
}

#[test]
fn global_scope_resolution_order() {
    let df = berth_dockerfile::parse("ARG A=1\nARG B=${A}2\nARG C\nFROM x\n").unwrap();
    let g = global_scope(&df, &opts(&[("A", "9")])).unwrap();
    let want: Vec<(String, Option<String>)> = vec![
        ("A".into(), Some("9".into())),
        ("B".into(), Some("92".into())),
        ("C".into(), None),
    ];
    assert_eq!(g.args, want);
}

#[test]
fn unconsumed_args_reported() {
    let df = berth_dockerfile::parse("ARG A\nFROM x\nARG B\n").unwrap();
    let o = opts(&[("A", "1"), ("B", "2"), ("C", "3"), ("HTTP_PROXY", "p")]);
    assert_eq!(unconsumed_build_args(&df, &o), vec!["C".to_string()]);
}

#[test]
fn env_snapshot_before_each_instruction() {
    let s = stages("FROM a\nENV A=1\nRUN x\n", &[]);
    // A base that sets no PATH starts with the default one (BuildKit's rule).
    let path = (
        "PATH".to_string(),
        berth_dockerfile::scope::DEFAULT_PATH.to_string(),
    );
    assert_eq!(s[0].instructions[0].env, vec![path.clone()]);
    assert_eq!(
        s[0].instructions[1].env,
        vec![path, ("A".into(), "1".into())]
    );
    let _: &BTreeMap<String, String> = &s[0].instructions[1].arg_env;
}

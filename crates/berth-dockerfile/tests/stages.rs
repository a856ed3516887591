//! Stage graph: bases, dependencies, `--target` reachability, order, parallel waves, and
//! the errors for unknown targets, cycles and references to later stages.

use berth_dockerfile::scope::ExpandOptions;
use berth_dockerfile::stages::{Base, DepKind, GraphError, GraphOptions, StageGraph};

fn graph_with(src: &str, forward: bool) -> Result<StageGraph, GraphError> {
    let df = berth_dockerfile::parse(src).unwrap();
    StageGraph::new(
        &df,
        &ExpandOptions::default(),
        GraphOptions {
            allow_forward_refs: forward,
        },
    )
}

fn graph(src: &str) -> StageGraph {
    graph_with(src, false).unwrap()
}

const MULTI: &str = "\
FROM alpine AS base
RUN apk add build-base

FROM base AS deps
RUN fetch

FROM base AS assets
RUN npm build

FROM golang AS tools
RUN go install x

FROM deps AS build
COPY --from=assets /dist /dist
RUN --mount=type=bind,from=tools,source=/go/bin,target=/t make

FROM scratch AS final
COPY --from=build /out /
COPY --from=busybox:latest /bin/sh /sh

FROM alpine AS unrelated
RUN true
";

#[test]
fn bases_and_dependencies() {
    let g = graph(MULTI);
    assert_eq!(g.nodes.len(), 7);
    assert_eq!(g.nodes[0].base, Base::Image("alpine".into()));
    assert_eq!(g.nodes[1].base, Base::Stage(0));
    assert_eq!(g.nodes[5].base, Base::Scratch);
    let build = &g.nodes[4];
    assert_eq!(
        build.stage_deps().into_iter().collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    assert!(build
        .deps
        .iter()
        .any(|d| d.kind == DepKind::MountFrom && d.target == Base::Stage(3)));
    assert!(g.nodes[5]
        .deps
        .iter()
        .any(|d| d.kind == DepKind::CopyFrom && d.target == Base::Image("busybox:latest".into())));
}

#[test]
fn target_reaches_only_needed_stages() {
    let g = graph(MULTI);
    let p = g.reachable(Some("final")).unwrap();
    assert_eq!(p.target, 5);
    assert_eq!(p.order, vec![0, 3, 1, 2, 4, 5]);
    assert_eq!(p.waves, vec![vec![0, 3], vec![1, 2], vec![4], vec![5]]);
    assert!(!p.order.contains(&6));
}

#[test]
fn default_target_is_last_stage() {
    let g = graph(MULTI);
    let p = g.reachable(None).unwrap();
    assert_eq!(p.order, vec![6]);
}

#[test]
fn target_is_case_insensitive() {
    let g = graph(MULTI);
    assert_eq!(g.reachable(Some("DEPS")).unwrap().order, vec![0, 1]);
}

#[test]
fn independence() {
    let g = graph(MULTI);
    assert!(g.independent(1, 2));
    assert!(g.independent(0, 3));
    assert!(!g.independent(0, 4));
    assert!(g.needs(5, 0));
    assert!(!g.needs(0, 5));
}

#[test]
fn unknown_target() {
    let g = graph(MULTI);
    let e = g.reachable(Some("nope")).unwrap_err();
    assert!(matches!(e, GraphError::UnknownTarget { .. }));
    assert!(e
        .to_string()
        .contains("target stage \"nope\" could not be found"));
    assert!(e.to_string().contains("base, deps"));
}

#[test]
fn copy_from_index() {
    let g = graph("FROM a\nRUN x\nFROM b\nCOPY --from=0 /x /y\n");
    assert_eq!(
        g.nodes[1].stage_deps().into_iter().collect::<Vec<_>>(),
        vec![0]
    );
    assert_eq!(g.reachable(None).unwrap().waves, vec![vec![0], vec![1]]);
}

#[test]
fn copy_from_later_stage_is_error() {
    let src = "FROM a AS one\nCOPY --from=two /x /y\nFROM b AS two\n";
    let e = graph_with(src, false).unwrap_err();
    assert!(
        matches!(
            e,
            GraphError::ForwardReference {
                line: 2,
                defined_at: 3,
                ..
            }
        ),
        "{e:?}"
    );
    let r = e.render("Dockerfile", src);
    assert!(
        r.starts_with("Dockerfile:2: COPY --from refers to stage \"two\", which is defined later"),
        "{r}"
    );
    // BuildKit's lookup allows it
    let g = graph_with(src, true).unwrap();
    assert_eq!(g.reachable(Some("one")).unwrap().order, vec![1, 0]);
}

#[test]
fn copy_from_later_index_is_error() {
    let e = graph_with("FROM a\nCOPY --from=1 /x /y\nFROM b\n", false).unwrap_err();
    assert!(matches!(e, GraphError::ForwardReference { .. }));
    let e = graph_with("FROM a\nCOPY --from=7 /x /y\n", false).unwrap_err();
    assert!(matches!(
        e,
        GraphError::IndexOutOfRange {
            index: 7,
            count: 1,
            line: 2,
            ..
        }
    ));
}

#[test]
fn self_copy_is_cycle_but_self_named_from_is_image() {
    let e = graph_with("FROM a AS x\nCOPY --from=x /a /b\n", false).unwrap_err();
    assert!(matches!(e, GraphError::Cycle { line: 2, .. }));
    let g = graph("FROM golang AS golang\nRUN go version\n");
    assert_eq!(g.nodes[0].base, Base::Image("golang".into()));
}

#[test]
fn cycle_with_forward_refs() {
    let src = "FROM a AS one\nCOPY --from=two /x /y\nFROM a AS two\nCOPY --from=one /x /y\n";
    let e = graph_with(src, true).unwrap_err();
    let GraphError::Cycle { path, .. } = &e else {
        panic!("{e:?}")
    };
    assert_eq!(path, &vec!["one".to_string(), "two".into(), "one".into()]);
    assert!(e.to_string().contains("one -> two -> one"));
}

#[test]
fn from_expanded_with_global_args() {
    let df = berth_dockerfile::parse("ARG BASE=builder\nFROM alpine AS builder\nFROM ${BASE}\n")
        .unwrap();
    let g = StageGraph::new(&df, &ExpandOptions::default(), GraphOptions::default()).unwrap();
    assert_eq!(g.nodes[1].base, Base::Stage(0));
    let mut o = ExpandOptions::default();
    o.build_args.insert("BASE".into(), "debian".into());
    let g = StageGraph::new(&df, &o, GraphOptions::default()).unwrap();
    assert_eq!(g.nodes[1].base, Base::Image("debian".into()));
}

#[test]
fn copy_from_uses_stage_args() {
    let df = berth_dockerfile::parse(
        "FROM a AS src\nFROM b\nARG FROM_STAGE=src\nCOPY --from=$FROM_STAGE / /\n",
    )
    .unwrap();
    let g = StageGraph::new(&df, &ExpandOptions::default(), GraphOptions::default()).unwrap();
    assert_eq!(
        g.nodes[1].stage_deps().into_iter().collect::<Vec<_>>(),
        vec![0]
    );
}

#[test]
fn mount_from_unnamed_image() {
    let g = graph("FROM a\nRUN --mount=type=bind,from=ghcr.io/x/y:1,target=/y true\n");
    assert!(g.nodes[0]
        .deps
        .iter()
        .any(|d| d.target == Base::Image("ghcr.io/x/y:1".into())));
}

#[test]
fn expansion_error_only_matters_when_needed() {
    let src = "FROM a AS dev\nRUN make\nFROM a AS release\nARG VERSION\nWORKDIR /v${VERSION:?pass VERSION}\n";
    let g = graph_with(src, false).unwrap();
    assert_eq!(g.reachable(Some("dev")).unwrap().order, vec![0]);
    let e = g.reachable(Some("release")).unwrap_err();
    assert!(matches!(e, GraphError::Expand(_)));
    assert!(e
        .render("Dockerfile", src)
        .starts_with("Dockerfile:5: failed to expand: VERSION: pass VERSION"));
}

//! berth-dockerfile owns the Dockerfile language for `berth build`: parser directives,
//! line continuations, heredocs and every instruction parsed into a typed AST whose nodes
//! carry source spans; BuildKit's shell-lexer variable expansion with ARG/ENV scoping and
//! a record of which build arguments each instruction used; the stage graph (`--target`,
//! build order, parallel groups); `.dockerignore` matching with the deciding line; and the
//! model behind `berth build --check`. It is pure: it reads no files and knows nothing of
//! containers, images or the store. The build engine calls it and does the I/O.
//!
//! The pipeline, as the build engine uses it:
//!
//! ```
//! use berth_dockerfile::{expand_all, parse, ExpandOptions, GraphOptions, StageGraph};
//!
//! let src = "ARG V=1\nFROM alpine AS base\nARG V\nRUN echo $V\n\
//!            FROM base AS app\nCOPY --from=base /etc/os-release /\n\
//!            FROM busybox AS other\n";
//! let df = parse(src).map_err(|e| e.render("Dockerfile", src)).unwrap();
//! let opts = ExpandOptions::default();
//! let graph = StageGraph::new(&df, &opts, GraphOptions::default()).unwrap();
//! let plan = graph.reachable(Some("app")).unwrap();
//! assert_eq!(plan.order, vec![0, 1]);
//! let stages = expand_all(&df, &opts).unwrap();
//! // RUN saw V=1, so only a change of V busts its cache
//! assert_eq!(stages[0].instructions[1].used_args["V"].as_deref(), Some("1"));
//! ```

pub mod ast;
pub mod check;
pub mod directives;
pub mod dockerignore;
pub mod dump;
pub mod duration;
pub mod error;
pub mod expand;
pub mod flags;
pub mod glob;
pub mod heredoc;
pub mod instructions;
pub mod lexer;
pub mod mount;
pub mod parser;
pub mod scope;
pub mod stages;
pub mod words;

pub use check::{check, CheckOptions, CheckReport};
pub use directives::Directives;
pub use dockerignore::{ignore_file_candidates, IgnoreFile, Verdict};
pub use error::{ParseError, Span};
pub use instructions::{Command, Instruction, Kind, ShellOrExec};
pub use parser::{parse, Dockerfile, Stage};
pub use scope::{expand_all, expand_stage, ExpandOptions, ExpandedInstruction, ExpandedStage};
pub use stages::{BuildPlan, GraphError, GraphOptions, StageGraph};

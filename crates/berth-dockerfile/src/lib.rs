//! berth-dockerfile owns the Dockerfile language for `berth build`: parser directives,
//! line continuations, heredocs and every instruction parsed into a typed AST whose nodes
//! carry source spans; BuildKit's shell-lexer variable expansion with ARG/ENV scoping and
//! a record of which build arguments each instruction used; the stage graph (`--target`,
//! build order, parallel groups); `.dockerignore` matching with the deciding line; and the
//! model behind `berth build --check`. It is pure: it reads no files and knows nothing of
//! containers, images or the store. The build engine calls it and does the I/O.

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

pub use directives::Directives;
pub use error::{ParseError, Span};
pub use instructions::{Command, Instruction, Kind, ShellOrExec};
pub use parser::{parse, Dockerfile, Stage};

//! Integration tests: the real `berth` binary on its own temporary store per test.
//! They need root (ownership, device nodes, overlay) and the tools .ci/run installs.

mod archives;
mod bootstrap;
mod build;
mod common;
mod compose;
mod concurrency;
mod containers;
mod hostile;
mod images;
mod interop;
mod net;
mod registry;
mod retention;

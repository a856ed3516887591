//! berth-registry owns berth's side of the OCI distribution spec: the client that pulls
//! and pushes images between a berth store and any registry (auth challenges, basic and
//! bearer tokens, resumable and parallel blob transfers, manifests and indexes), the
//! credentials files shared with podman, skopeo and Docker (`auth.json`, `config.json`),
//! and `berth registry serve`: a registry server with its own metadata database and blob
//! directory under the served root, plus the garbage collector that runs beside it.
//! It uses the store only through its public API and never changes its schema.

pub mod auth;
pub mod check;
pub mod client;
mod error;
pub mod gc;
pub mod pull;
pub mod push;
pub mod server;
pub mod settings;

pub use client::{Client, Options, Settings};
pub use error::{Error, Result};

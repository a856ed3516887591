//! berth-image owns the image formats: references as Docker parses them, sha256 digests,
//! stream compression, the layer tar security boundary (validation, unpack, whiteouts),
//! image configuration edits, and the docker-archive / oci-archive layouts. It does no
//! storage and knows nothing of containers.

pub mod compression;
pub mod config;
pub mod digest;
pub mod layer;
pub mod manifest;
pub mod media;
pub mod reference;
#[cfg(any(test, feature = "testutil"))]
pub mod testutil;

pub use compression::Compression;
pub use digest::Digest;
pub use reference::Reference;

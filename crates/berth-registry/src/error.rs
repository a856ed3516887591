use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Errors of the registry client and server. Each says what failed and on what; where the
/// user can do something about it, the message says what.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot reach registry {registry}: {detail}")]
    Connect { registry: String, detail: String },
    #[error("registry {registry} refused the credentials for {what}: {detail}")]
    Unauthorized {
        registry: String,
        what: String,
        detail: String,
    },
    #[error("{what} not found on {registry}")]
    NotFound { registry: String, what: String },
    #[error("registry {registry} answered {status} to {what}: {message}")]
    Status {
        registry: String,
        what: String,
        status: u16,
        message: String,
    },
    #[error("digest mismatch for {what}: expected {expected}, got {actual}")]
    DigestMismatch {
        what: String,
        expected: String,
        actual: String,
    },
    #[error(transparent)]
    Store(#[from] berth_store::Error),
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("registry database: {0}")]
    Db(#[from] rusqlite::Error),
    #[error("{0}")]
    Invalid(String),
}

impl Error {
    pub fn invalid(msg: impl Into<String>) -> Self {
        Error::Invalid(msg.into())
    }
}

/// Attaches the operation and path to an io::Error.
pub(crate) trait IoContext<T> {
    fn ctx(self, op: &'static str, path: impl Into<PathBuf>) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn ctx(self, op: &'static str, path: impl Into<PathBuf>) -> Result<T> {
        self.map_err(|source| Error::Io {
            op,
            path: path.into(),
            source,
        })
    }
}

//! The crate's error type: what can stop the service from starting.

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why the service could not start or keep running.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration is wrong.
    #[error("configuration: {0}")]
    Config(String),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// What happened.
        source: std::io::Error,
    },
    /// The listener could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: std::net::SocketAddr,
        /// What happened.
        source: std::io::Error,
    },
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] pippin_store::Error),
    /// Shared service plumbing failed (TLS, logs, PKI).
    #[error(transparent)]
    Service(#[from] pippin_service::Error),
    /// The SCEP CA could not be loaded or made.
    #[error("SCEP CA: {0}")]
    Scep(#[from] scep::Error),
    /// The enrollment profile could not be built or signed.
    #[error("enrollment profile: {0}")]
    Profile(#[from] apple_mdm_protocol::Error),
}

impl Error {
    pub(crate) fn io(path: impl Into<std::path::PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}

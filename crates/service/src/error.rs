//! The crate's error type.

use std::io;
use std::path::PathBuf;

/// Everything that can go wrong in this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file-system operation failed.
    #[error("cannot {op} {}: {source}", path.display())]
    Io {
        /// What was being done ("read", "write", "create directory", ...).
        op: &'static str,
        /// The file or directory concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },

    /// A configuration file is not valid TOML or does not fit the expected
    /// structure (a missing key, a wrong type, an unknown key).
    #[error("{}:{line}:{column}: {message}", path.display())]
    Config {
        /// The configuration file.
        path: PathBuf,
        /// The 1-based line of the offending text (0 when the parser gave no position).
        line: usize,
        /// The 1-based column, in characters, of the offending text (0 when unknown).
        column: usize,
        /// The parser's description of the problem.
        message: String,
    },

    /// A log filter directive (`RUST_LOG` syntax) does not parse.
    #[error("invalid log filter {filter:?}: {message}")]
    LogFilter {
        /// The directive as given.
        filter: String,
        /// Why it does not parse.
        message: String,
    },

    /// A global logger could not be installed, usually because one already is.
    #[error("cannot install the logger: {0}")]
    LogInit(String),

    /// A name given to this crate is unusable: an executable name with a path
    /// separator, an empty host name, a metric name outside the Prometheus
    /// alphabet, ...
    #[error("invalid name {name:?}: {reason}")]
    InvalidName {
        /// The name as given.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },

    /// PEM text does not decode, or holds none of the expected sections.
    #[error("bad PEM ({what}): {message}")]
    Pem {
        /// What the PEM was supposed to hold ("certificates", "private key").
        what: &'static str,
        /// The decoder's complaint.
        message: String,
    },

    /// A certificate could not be generated or signed.
    #[error("cannot generate a certificate: {0}")]
    CertificateGeneration(#[source] rcgen::Error),

    /// A stored certificate or key is unusable: it does not parse, or it does
    /// not belong with the key or CA next to it.
    #[error("unusable certificate material in {}: {reason}", path.display())]
    BadPki {
        /// The file concerned.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },

    /// rustls refused the configuration (a key it cannot use, a chain that
    /// does not match the key, no usable trust anchor, ...).
    #[error("TLS configuration: {0}")]
    Tls(#[from] rustls::Error),

    /// The operating system's random number generator failed.
    #[error("the system random number generator failed")]
    Random,

    /// A metric was registered twice with different types or help texts.
    #[error("metric {name:?}: {reason}")]
    Metric {
        /// The metric family name.
        name: String,
        /// The conflict.
        reason: &'static str,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Self::Io {
            op,
            path: path.into(),
            source,
        }
    }
}

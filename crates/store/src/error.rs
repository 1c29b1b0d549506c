//! The crate's error type.

use apple_mdm_protocol::queue::QueueError;

/// A `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a store operation failed.
///
/// The first variants are answers about the data (an unknown enrollment, a
/// report naming a command that is not queued, ...): the operation changed
/// nothing and the caller answers its own client accordingly. The last ones
/// are failures of the database itself (I/O, connection, a schema this build
/// does not know), for which the caller can only report an internal error or
/// retry later.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No enrollment is stored under this id (for a user channel: no device
    /// channel either, when the operation needs one).
    #[error("no enrollment {0}")]
    UnknownEnrollment(String),
    /// An enrollment id with an empty device or user part.
    #[error("invalid enrollment id {0:?}")]
    InvalidId(String),
    /// The command queue refused the operation, by the rules of
    /// [`apple_mdm_protocol::queue`]: a duplicate command UUID, a report for a
    /// command not queued for the enrollment, a report without a UUID.
    #[error(transparent)]
    Queue(#[from] QueueError),
    /// A command was enqueued for no enrollment.
    #[error("a command must be queued for at least one enrollment")]
    NoTargets,
    /// An identity certificate renewal named a certificate that is not the
    /// one bound to the device.
    #[error("the identity certificate of {0} is not the one named")]
    IdentityMismatch(String),
    /// No DEP link is stored under this name.
    #[error("no DEP link {0:?}")]
    UnknownDepLink(String),
    /// A DEP link name that is not 1 to 64 characters of `A-Z a-z 0-9 . _ -`.
    #[error("invalid DEP link name {0:?} (1 to 64 of A-Z a-z 0-9 . _ -)")]
    InvalidDepLinkName(String),
    /// A DEP device record, or a device of a VPP assignment request,
    /// without a serial number.
    #[error("invalid device serial number {0:?}")]
    InvalidSerialNumber(String),
    /// No VPP (Apps and Books) token is stored under this name.
    #[error("no VPP token {0:?}")]
    UnknownVppToken(String),
    /// A VPP token name that is not 1 to 64 characters of
    /// `A-Z a-z 0-9 . _ -`.
    #[error("invalid VPP token name {0:?} (1 to 64 of A-Z a-z 0-9 . _ -)")]
    InvalidVppTokenName(String),
    /// The token has no such asset (as the last asset walk found them).
    #[error("no VPP asset {adam_id} ({pricing_param}) on token {token:?}")]
    UnknownVppAsset {
        /// The token.
        token: String,
        /// The asset's `adamId`.
        adam_id: String,
        /// Its `pricingParam`.
        pricing_param: String,
    },
    /// The asset's licenses cannot be assigned to devices
    /// (`deviceAssignable` is false); nothing was changed.
    #[error("VPP asset {adam_id} ({pricing_param}) cannot be assigned to devices")]
    VppNotDeviceAssignable {
        /// The asset's `adamId`.
        adam_id: String,
        /// Its `pricingParam`.
        pricing_param: String,
    },
    /// An assignment request needs more licenses than are free (Apple's
    /// available count less those already asked for); nothing was changed.
    #[error("{needed} VPP licenses needed, {free} free")]
    NotEnoughVppLicenses {
        /// Licenses the request needs.
        needed: u64,
        /// Licenses free (never below 0).
        free: u64,
    },
    /// More items than one call takes (see
    /// [`MAX_DEP_BATCH`](crate::MAX_DEP_BATCH),
    /// [`MAX_VPP_BATCH`](crate::MAX_VPP_BATCH)); nothing was stored.
    #[error("{len} items in one call; at most {max}")]
    BatchTooLarge {
        /// How many were given.
        len: usize,
        /// The most one call takes.
        max: usize,
    },
    /// A value read from the database is not one this crate writes (a state
    /// or kind name it does not know, a digest of the wrong length, ...).
    #[error("corrupt stored value in {what}: {detail}")]
    Corrupt {
        /// Which column or value.
        what: &'static str,
        /// What is wrong with it.
        detail: String,
    },
    /// The database has migrations applied that this build does not know:
    /// a newer version of Pippin has upgraded it.
    #[error("database schema version {found} is newer than this build knows ({known})")]
    SchemaTooNew {
        /// The highest migration applied to the database.
        found: i64,
        /// The highest migration this build has.
        known: i64,
    },
    /// The configuration cannot be used (a malformed connection URL, a
    /// schema name that is not a plain identifier, ...).
    #[error("invalid store configuration: {0}")]
    Config(String),
    /// Creating the database's directory failed.
    #[error("creating {path}: {source}")]
    Io {
        /// The directory.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// SQLite failed.
    #[cfg(feature = "sqlite")]
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// PostgreSQL failed (connection lost, statement failed, ...).
    #[cfg(feature = "postgres")]
    #[error("postgres: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    /// No PostgreSQL connection could be had from the pool.
    #[cfg(feature = "postgres")]
    #[error("postgres connection pool: {0}")]
    Pool(#[from] deadpool_postgres::PoolError),
    /// A SQLite operation did not finish: it panicked, the writer thread
    /// could not be started, or the runtime is shutting down.
    #[error("store worker failed: {0}")]
    Worker(String),
}

impl Error {
    pub(crate) fn corrupt(what: &'static str, detail: impl Into<String>) -> Self {
        Self::Corrupt {
            what,
            detail: detail.into(),
        }
    }
}

//! The crate's error type.

use std::fmt;

use pippin_http_client::RetryAfter;

/// A `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = core::result::Result<T, E>;

/// Everything that can go wrong in this crate.
///
/// The variants fall into groups a caller treats differently:
///
/// - the content token: [`MalformedToken`](Self::MalformedToken),
///   [`TokenExpired`](Self::TokenExpired);
/// - the service said no: [`Api`](Self::Api), with Apple's error number
///   (see [`ApiError::is_retryable`] and [`ApiError::is_token_problem`]);
/// - another MDM server manages the token: [`MdmConflict`](Self::MdmConflict);
/// - the service answered something unreadable:
///   [`InvalidResponse`](Self::InvalidResponse),
///   [`BodyTooLarge`](Self::BodyTooLarge);
/// - a request this crate refuses to build:
///   [`InvalidRequest`](Self::InvalidRequest),
///   [`InvalidBaseUrl`](Self::InvalidBaseUrl);
/// - the transport (feature `client`): [`Transport`](Self::Transport).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The content token file is not one: not base64, not JSON, or
    /// missing a field.
    #[error("the content token is damaged or not an Apps and Books token: {what}")]
    MalformedToken {
        /// What was wrong.
        what: String,
    },
    /// The content token's `expDate` has passed.
    #[error(
        "the content token expired at {expiry}: download a new one in Apple Business Manager \
         (Settings, Apps and Books) and upload it"
    )]
    TokenExpired {
        /// The expiry, as the token states it.
        expiry: String,
    },
    /// The service answered with an error.
    #[error("{0}")]
    Api(ApiError),
    /// The token is managed by another MDM server: the service's `mdmInfo`
    /// names someone else.
    #[error(
        "the content token is managed by another MDM server ({theirs}); this server is {ours}: \
         take it over explicitly, or use another token"
    )]
    MdmConflict {
        /// Our `mdmInfo.id`.
        ours: String,
        /// Who the service says manages it (`name` and `id`), or `nobody`.
        theirs: String,
    },
    /// A response could not be understood.
    #[error("invalid {what} response: {detail}")]
    InvalidResponse {
        /// Which response.
        what: &'static str,
        /// What was wrong.
        detail: String,
    },
    /// A response body is longer than the configured limit.
    #[error("the response body is longer than {limit} bytes")]
    BodyTooLarge {
        /// The limit.
        limit: usize,
    },
    /// A request cannot be built from these values.
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// The base URL is not usable.
    #[error(
        "invalid Apps and Books base URL `{0}`: use https://host[:port][/path], or http:// on loopback only"
    )]
    InvalidBaseUrl(String),
    /// The transport failed (connect, TLS, HTTP, timeout).
    #[error("talking to the Apps and Books service: {0}")]
    Transport(#[from] pippin_http_client::Error),
}

impl Error {
    /// Whether the same request may succeed later: throttling, server
    /// errors, unreadable answers and transport failures.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Api(e) => e.is_retryable(),
            Self::InvalidResponse { .. } | Self::BodyTooLarge { .. } => true,
            Self::Transport(e) => e.is_transient(),
            _ => false,
        }
    }

    /// The service's error, if this is one.
    pub fn api(&self) -> Option<&ApiError> {
        match self {
            Self::Api(e) => Some(e),
            _ => None,
        }
    }

    pub(crate) fn invalid(what: &'static str, detail: impl fmt::Display) -> Self {
        Self::InvalidResponse {
            what,
            detail: detail.to_string(),
        }
    }
}

/// Apple's error numbers this crate acts on ("Handling error responses").
pub mod codes {
    /// Login required (401).
    pub const LOGIN_REQUIRED: i64 = 9601;
    /// Invalid argument (400).
    pub const INVALID_ARGUMENT: i64 = 9602;
    /// Internal error (500; also reported asynchronously).
    pub const INTERNAL_ERROR: i64 = 9603;
    /// Registered user not found (400).
    pub const USER_NOT_FOUND: i64 = 9609;
    /// License not found (legacy; seen when installing before an
    /// association completed).
    pub const LICENSE_NOT_FOUND: i64 = 9610;
    /// The token has expired (401).
    pub const TOKEN_EXPIRED: i64 = 9621;
    /// Invalid authentication token (legacy number, still answered).
    pub const INVALID_TOKEN: i64 = 9622;
    /// The token has been revoked (401).
    pub const TOKEN_REVOKED: i64 = 9625;
    /// The service is no longer available (410).
    pub const SERVICE_REMOVED: i64 = 9634;
    /// Too many recent requests (429): back off.
    pub const TOO_MANY_REQUESTS: i64 = 9646;
    /// Maintenance mode (asynchronous).
    pub const MAINTENANCE: i64 = 9644;
    /// The page index is out of range (400).
    pub const PAGE_INDEX_OUT_OF_RANGE: i64 = 9650;
    /// Too many assets in one request (400).
    pub const TOO_MANY_ASSETS: i64 = 9700;
    /// Too many client user ids in one request (400).
    pub const TOO_MANY_CLIENT_USER_IDS: i64 = 9701;
    /// Too many serial numbers in one request (400).
    pub const TOO_MANY_SERIAL_NUMBERS: i64 = 9702;
    /// Duplicate assets (400).
    pub const DUPLICATE_ASSETS: i64 = 9703;
    /// Duplicate client user ids (400).
    pub const DUPLICATE_CLIENT_USER_IDS: i64 = 9704;
    /// Duplicate serial numbers (400).
    pub const DUPLICATE_SERIAL_NUMBERS: i64 = 9705;
    /// The asset is not revocable (400).
    pub const NOT_REVOCABLE: i64 = 9706;
    /// The asset cannot be assigned to devices (400).
    pub const NOT_DEVICE_ASSIGNABLE: i64 = 9707;
    /// No event with that id (400).
    pub const EVENT_NOT_FOUND: i64 = 9708;
    /// Not enough licenses (asynchronous).
    pub const NOT_ENOUGH_LICENSES: i64 = 9709;
    /// No assets in the request (400).
    pub const NO_ASSETS: i64 = 9718;
    /// Neither client user ids nor serial numbers (400).
    pub const NO_TARGETS: i64 = 9719;
    /// Invalid version id (400).
    pub const INVALID_VERSION_ID: i64 = 9721;
    /// The `Authorization` header is malformed (401).
    pub const BAD_AUTHORIZATION: i64 = 9722;
    /// Unsupported method (405).
    pub const METHOD_NOT_ALLOWED: i64 = 9726;
    /// Unsupported content type (415).
    pub const UNSUPPORTED_CONTENT_TYPE: i64 = 9727;
    /// The notification URL could not be reached (400).
    pub const NOTIFICATION_URL_UNREACHABLE: i64 = 9728;
    /// The service is temporarily unavailable (503).
    pub const SERVICE_UNAVAILABLE: i64 = 9729;
}

/// Most bytes of an error message kept.
const MAX_MESSAGE_LEN: usize = 512;

/// An error answer from the service: `{"errorNumber": ..., "errorMessage":
/// ...}`, with the HTTP status it came with (Apple's documentation gives
/// each a 4xx or 5xx status; older deployments answered some with 200, and
/// those are errors too).
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct ApiError {
    /// The HTTP status.
    pub status: u16,
    /// `errorNumber`, when the body had one.
    pub error_number: Option<i64>,
    /// `errorMessage` (cut to 512 bytes), or a piece of a body that was not
    /// JSON.
    pub message: Option<String>,
    /// The `Retry-After` header.
    pub retry_after: Option<RetryAfter>,
}

impl ApiError {
    /// Whether waiting and sending again may succeed: 9646 (too many
    /// requests), 9603 (internal error), 9729 (unavailable), HTTP 429 and
    /// 5xx.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self.error_number,
            Some(codes::TOO_MANY_REQUESTS | codes::INTERNAL_ERROR | codes::SERVICE_UNAVAILABLE)
        ) || self.status == 429
            || (500..600).contains(&self.status)
    }

    /// Whether the content token itself is refused (expired, revoked,
    /// invalid, or a malformed header): nothing works until an
    /// administrator uploads a new one.
    pub fn is_token_problem(&self) -> bool {
        matches!(
            self.error_number,
            Some(
                codes::TOKEN_EXPIRED
                    | codes::INVALID_TOKEN
                    | codes::TOKEN_REVOKED
                    | codes::LOGIN_REQUIRED
                    | codes::BAD_AUTHORIZATION
            )
        ) || (self.error_number.is_none() && self.status == 401)
    }

    /// Whether the error number is `n`.
    pub fn is(&self, n: i64) -> bool {
        self.error_number == Some(n)
    }

    /// A sentence on what to do, where this crate knows one.
    pub fn advice(&self) -> Option<&'static str> {
        Some(match self.error_number? {
            codes::TOKEN_EXPIRED => {
                "the content token has expired: download a new one in Apple Business Manager"
            }
            codes::TOKEN_REVOKED => {
                "the content token was revoked (a newer one was downloaded?): upload the current one"
            }
            codes::INVALID_TOKEN | codes::BAD_AUTHORIZATION | codes::LOGIN_REQUIRED => {
                "the service does not accept this content token: upload the current one"
            }
            codes::TOO_MANY_REQUESTS => "the service is throttling requests: try again later",
            codes::NOT_ENOUGH_LICENSES => "buy more licenses or free some",
            codes::NOT_DEVICE_ASSIGNABLE => "this app's licenses cannot be assigned to devices",
            codes::SERVICE_UNAVAILABLE | codes::MAINTENANCE => {
                "the service is unavailable for now: try again later"
            }
            _ => return None,
        })
    }

    pub(crate) fn new(
        status: u16,
        error_number: Option<i64>,
        message: Option<&str>,
        retry_after: Option<RetryAfter>,
    ) -> Self {
        Self {
            status,
            error_number,
            message: message.map(cut),
            retry_after,
        }
    }
}

/// `s` cut to [`MAX_MESSAGE_LEN`] bytes at a character boundary, control
/// characters replaced.
pub(crate) fn cut(s: &str) -> String {
    let mut end = s.len().min(MAX_MESSAGE_LEN);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end]
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the Apps and Books service answered {}", self.status)?;
        if let Some(n) = self.error_number {
            write!(f, " error {n}")?;
        }
        if let Some(m) = &self.message {
            write!(f, " ({m})")?;
        }
        if let Some(advice) = self.advice() {
            write!(f, ": {advice}")?;
        }
        Ok(())
    }
}

//! Apple Automated Device Enrollment (DEP) for an MDM server: the server
//! token, the session, the API, and the device-sync state machine.
//!
//! What it does:
//!
//! - the token exchange with Apple Business Manager (or Apple School
//!   Manager): [`generate_key_pair`] makes the RSA-2048 key and the
//!   self-signed certificate the admin uploads; [`TokenKey::decrypt`] opens
//!   the token file the portal gives back (S/MIME CMS `EnvelopedData`, RSA
//!   PKCS #1 v1.5 or OAEP key transport, AES-CBC or Triple-DES content,
//!   BER accepted) into a [`ServerToken`], telling a damaged file, a file
//!   made for another key and an expired token apart;
//! - the session ([`Session`], [`Call`]): OAuth 1.0a HMAC-SHA1 signed
//!   `GET /session` ([`oauth`]), the `X-ADM-Auth-Session` header on every
//!   call and its replacement when a response carries a new one, and one
//!   sign-in-and-replay on `401` or `403 FORBIDDEN`;
//! - the endpoints ([`Endpoint`]): account, fetch and sync devices, device
//!   details, disown, define / get / assign / remove profiles, Activation
//!   Lock, each a request builder plus a typed, bounded answer parser;
//!   error answers become an [`ApiError`] with Apple's [`ErrorCode`]
//!   however the body spells it, and `Retry-After`;
//! - the sync state machine ([`SyncMachine`]): fetch every device, then
//!   sync changes on a schedule, with the cursor persisted after every
//!   page, cursor resets, and bounded retries with capped back-off;
//! - with the `client` feature, `client::DepClient` sends all of this over
//!   HTTPS (hyper, rustls with ring, TLS 1.2+);
//! - with the `simulator` feature, `simulator::Simulator` is a loopback
//!   server that behaves like Apple's DEP service, quirks included, for
//!   tests, examples and benchmarks.
//!
//! What it does not do: the core (default features) has no I/O, no clock
//! and no randomness of its own — time stamps, nonces, `now` and the RNG
//! are inputs. It does not store tokens, cursors or devices (a service
//! does, on the events the machine emits), and it does not handle
//! Apple School Manager's roster endpoints.
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Instant;
//! use dep_client::{Call, Config, CursorState, OAuthCredentials, OAuthParams, Session,
//!                  SyncConfig, SyncEvent, SyncMachine};
//!
//! let creds = OAuthCredentials {
//!     consumer_key: "CK_1".into(), consumer_secret: "CS_1".into(),
//!     access_token: "AT_1".into(), access_secret: "AS_1".into(),
//! };
//! let mut session = Session::new(creds, Arc::new(Config::default()))?;
//! let now = Instant::now();
//! let mut sync = SyncMachine::new(SyncConfig::default(), CursorState::default(), now);
//! let mut call = Call::new(sync.poll_request(now).unwrap());
//! // The sign-in first, then the fetch; a client sends each and hands back the answer.
//! let login = call.poll_request(&session, || OAuthParams::new(1_700_000_000, b"nonce"))?;
//! assert_eq!(login.uri().path(), "/session");
//! let answer = http::Response::builder().status(200)
//!     .body(&br#"{"auth_session_token":"t1"}"#[..]).unwrap();
//! assert!(call.handle_response(&mut session, &answer)?.is_none());
//! let fetch = call.poll_request(&session, || unreachable!())?;
//! assert_eq!(fetch.uri().path(), "/server/devices");
//! let answer = http::Response::builder().status(200).body(&br#"{
//!     "devices": [{"serial_number": "C02ABC", "model": "MacBook Air"}],
//!     "cursor": "c1", "more_to_follow": false, "fetched_until": "2026-01-01T00:00:00Z"}"#[..]).unwrap();
//! let page = call.handle_response(&mut session, &answer)?.unwrap();
//! sync.handle_response(now, std::time::SystemTime::now(), Ok(page));
//! assert!(matches!(sync.poll_event(), Some(SyncEvent::Devices { .. })));
//! # Ok::<(), dep_client::Error>(())
//! ```

#![warn(missing_docs)]
#![forbid(unsafe_code)]

mod api;
mod envelope;
mod error;
mod mime;
mod model;
pub mod oauth;
mod response;
mod session;
mod sync;
mod timestamp;
mod token;

#[cfg(feature = "client")]
pub mod client;
#[cfg(feature = "simulator")]
pub mod simulator;

pub use api::{
    ActivationLock, AssignProfile, DEFAULT_LIMIT, DefineProfile, DeviceDetails, DisownDevices,
    Endpoint, FetchDevices, GetAccount, GetProfile, MAX_CURSOR_LEN, MAX_DEVICES_PER_REQUEST,
    MAX_LIMIT, MAX_PAGE_DEVICES, RemoveProfile, SyncDevices,
};
pub use envelope::ContentEncryption;
pub use error::{Error, Result};
pub use mime::MAX_TOKEN_FILE_LEN;
pub use model::{
    Account, AccountUrl, ActivationLockRequest, ActivationLockResponse, AssignProfileResponse,
    DefineProfileResponse, Device, DeviceDetailsResponse, DevicePage, DeviceStatus,
    DeviceStatusResponse, Limit, OpType, Profile, ProfileStatus,
};
pub use oauth::{OAuthCredentials, OAuthParams};
pub use response::{ApiError, ErrorCode, RetryAfter};
pub use session::{
    AUTH_SESSION_HEADER, CONTENT_TYPE, Call, Config, DEFAULT_BASE_URL, DEFAULT_MAX_BODY_LEN,
    DEFAULT_PROTOCOL_VERSION, PROTOCOL_VERSION_HEADER, RETRY_AFTER_SINCE_VERSION, Reply, Session,
    THROTTLED_SINCE_VERSION, is_loopback_host,
};
pub use sync::{CursorState, Phase, SyncConfig, SyncEvent, SyncMachine, SyncRequest, SyncStats};
pub use timestamp::{format_timestamp, parse_timestamp};
pub use token::{
    CERT_VALIDITY, GeneratedKeyPair, KEY_BITS, ServerToken, TokenFile, TokenKey,
    certificate_from_pem, generate_key_pair, private_key_from_pem,
};

//! The provider side of the Apple Push Notification service (APNs) for MDM:
//! the pushes that tell an enrolled Mac, iPhone or iPad to contact its MDM
//! server.
//!
//! What it does:
//!
//! - builds the HTTP/2 request for an MDM push ([`PushRequest::to_http`]):
//!   `POST /3/device/<token>`, body `{"mdm":"<PushMagic>"}`,
//!   `apns-push-type: mdm` and the topic, priority, expiration and ID
//!   headers;
//! - reads APNs's answer ([`PushResponse::from_http`]) — status, `apns-id`,
//!   every documented [`Reason`], the `410` timestamp — and turns it into a
//!   [`Verdict`]: delivered, retry later (with capped exponential
//!   back-off), drop the token, fix the certificate, or a bad request;
//! - loads the push certificate and its RSA key from PEM
//!   ([`PushCertificate::from_pem`]) or from a password-protected PKCS #12
//!   file as Keychain Access, Windows and OpenSSL export it
//!   ([`PushCertificate::from_pkcs12`], decoded by [`pkcs12`]: PBES2
//!   AES/PBKDF2 and the legacy 3DES/RC2 schemes, SHA-1/SHA-2 MACs, BER),
//!   checks that the key matches and that the subject's UID is an MDM topic
//!   (`com.apple.mgmt.…`), and reports the topic, common name and expiry; [`topic_change_warning`] says when a
//!   replacement certificate would strand enrolled devices;
//! - with the `client` feature, sends pushes over one long-lived HTTP/2
//!   connection with the push certificate as TLS client identity
//!   (`client::ApnsClient`).
//!
//! What it does not do: the core (default features) has no I/O and no
//! clock — the caller passes the attempt number for back-off and the time
//! for expiry checks. It does not use token-based (JWT, `.p8`) provider
//! authentication, send user-visible notifications, read encrypted PEM
//! keys, or store anything: what to do with a dropped token or an
//! expiring certificate is the caller's business.
//!
//! ```
//! use apns::{PushRequest, PushResponse, RetryPolicy, Verdict};
//!
//! let push = PushRequest::new(vec![0xc2, 0x73], "PUSH-MAGIC", "com.apple.mgmt.External.1234");
//! let request: http::Request<Vec<u8>> = push.to_http()?;
//! // ... the client layer sends `request` and gets back:
//! let response = http::Response::builder()
//!     .status(429)
//!     .body(&br#"{"reason":"TooManyRequests"}"#[..])
//!     .unwrap();
//! let verdict = PushResponse::from_http(&response).verdict(2, &RetryPolicy::default());
//! assert_eq!(verdict, Verdict::RetryLater { after: std::time::Duration::from_secs(4) });
//! # Ok::<(), apns::Error>(())
//! ```

#![warn(missing_docs)]
#![forbid(unsafe_code)]

mod cert;
mod error;
pub mod pkcs12;
mod request;
mod response;

#[cfg(feature = "client")]
pub mod client;

pub use cert::{
    MDM_TOPIC_PREFIX, PrivateKeyDer, PushCertificate, PushCertificateInfo, topic_change_warning,
};
pub use error::{Error, Result};
pub use request::{
    APNS_EXPIRATION, APNS_ID, APNS_PRIORITY, APNS_PUSH_TYPE, APNS_TOPIC, DEFAULT_PRIORITY,
    PushRequest,
};
pub use response::{
    MAX_BODY_LEN, PushResponse, Reason, RetryPolicy, Verdict, goaway_reason, goaway_verdict,
};
pub use uuid::Uuid;

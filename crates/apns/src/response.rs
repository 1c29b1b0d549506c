//! Reading APNs's answer to a push and deciding what to do about it.
//!
//! Apple, "Handling notification responses from APNs": a `200` means APNs
//! accepted the push; any other status comes with a JSON body
//! `{"reason": "<Reason>"}`, plus `"timestamp"` (milliseconds since the
//! UNIX epoch at which the token stopped being valid) with a `410`. Every
//! response carries the push's `apns-id` header.

use std::time::Duration;

use crate::request::APNS_ID;

/// Bodies longer than this are not parsed: APNs's are a few dozen bytes.
pub const MAX_BODY_LEN: usize = 4096;

/// The `reason` string of an APNs error response, as listed in Apple's
/// "Handling notification responses from APNs".
#[derive(Clone, Debug, Eq, Hash, PartialEq)]
#[non_exhaustive]
pub enum Reason {
    /// 400: the collapse identifier exceeds the maximum allowed size.
    BadCollapseId,
    /// 400: the device token is invalid (or for the other environment).
    BadDeviceToken,
    /// 400: the `apns-expiration` value is invalid.
    BadExpirationDate,
    /// 400: the `apns-id` value is invalid.
    BadMessageId,
    /// 400: the `apns-priority` value is invalid.
    BadPriority,
    /// 400: the `apns-topic` value is invalid.
    BadTopic,
    /// 400: the device token doesn't match the topic.
    DeviceTokenNotForTopic,
    /// 400: one or more headers are repeated.
    DuplicateHeaders,
    /// 400: idle timeout.
    IdleTimeout,
    /// 400: the `apns-push-type` value is invalid.
    InvalidPushType,
    /// 400: the device token isn't in the request path.
    MissingDeviceToken,
    /// 400: the `apns-topic` header is missing.
    MissingTopic,
    /// 400: the message payload is empty.
    PayloadEmpty,
    /// 400: pushing to this topic is not allowed.
    TopicDisallowed,
    /// 403: the certificate is invalid.
    BadCertificate,
    /// 403: the client certificate is for the wrong environment.
    BadCertificateEnvironment,
    /// 403: the provider token is stale.
    ExpiredProviderToken,
    /// 403: the specified action is not allowed.
    Forbidden,
    /// 403: the provider token is not valid.
    InvalidProviderToken,
    /// 403: no provider certificate or token was given.
    MissingProviderToken,
    /// 403: the key ID in the provider token is unrelated to the topic.
    UnrelatedKeyIdInToken,
    /// 403: the provider token's signing key is for the other environment
    /// (sandbox or production) than the endpoint.
    BadEnvironmentKeyInToken,
    /// 404: the request path is wrong.
    BadPath,
    /// 405: the request method is not `POST`.
    MethodNotAllowed,
    /// 410: the device token has expired.
    ExpiredToken,
    /// 410: the device token is no longer active for the topic.
    Unregistered,
    /// 413: the payload is too large.
    PayloadTooLarge,
    /// 429: the provider token is being updated too often.
    TooManyProviderTokenUpdates,
    /// 429: too many requests to the same device token.
    TooManyRequests,
    /// 500: an internal server error.
    InternalServerError,
    /// 503: the service is unavailable.
    ServiceUnavailable,
    /// 503: the APNs server is shutting down.
    Shutdown,
    /// A reason this crate does not know.
    Unknown(String),
}

impl Reason {
    /// Every known reason, for tests and tools.
    pub const KNOWN: [Self; 32] = [
        Self::BadCollapseId,
        Self::BadDeviceToken,
        Self::BadExpirationDate,
        Self::BadMessageId,
        Self::BadPriority,
        Self::BadTopic,
        Self::DeviceTokenNotForTopic,
        Self::DuplicateHeaders,
        Self::IdleTimeout,
        Self::InvalidPushType,
        Self::MissingDeviceToken,
        Self::MissingTopic,
        Self::PayloadEmpty,
        Self::TopicDisallowed,
        Self::BadCertificate,
        Self::BadCertificateEnvironment,
        Self::ExpiredProviderToken,
        Self::Forbidden,
        Self::InvalidProviderToken,
        Self::MissingProviderToken,
        Self::UnrelatedKeyIdInToken,
        Self::BadEnvironmentKeyInToken,
        Self::BadPath,
        Self::MethodNotAllowed,
        Self::ExpiredToken,
        Self::Unregistered,
        Self::PayloadTooLarge,
        Self::TooManyProviderTokenUpdates,
        Self::TooManyRequests,
        Self::InternalServerError,
        Self::ServiceUnavailable,
        Self::Shutdown,
    ];

    /// The reason named by `s` (case-sensitive, as APNs sends it).
    pub fn parse(s: &str) -> Self {
        Self::KNOWN
            .iter()
            .find(|r| r.as_str() == s)
            .cloned()
            .unwrap_or_else(|| Self::Unknown(s.to_owned()))
    }

    /// The reason as APNs spells it.
    pub fn as_str(&self) -> &str {
        match self {
            Self::BadCollapseId => "BadCollapseId",
            Self::BadDeviceToken => "BadDeviceToken",
            Self::BadExpirationDate => "BadExpirationDate",
            Self::BadMessageId => "BadMessageId",
            Self::BadPriority => "BadPriority",
            Self::BadTopic => "BadTopic",
            Self::DeviceTokenNotForTopic => "DeviceTokenNotForTopic",
            Self::DuplicateHeaders => "DuplicateHeaders",
            Self::IdleTimeout => "IdleTimeout",
            Self::InvalidPushType => "InvalidPushType",
            Self::MissingDeviceToken => "MissingDeviceToken",
            Self::MissingTopic => "MissingTopic",
            Self::PayloadEmpty => "PayloadEmpty",
            Self::TopicDisallowed => "TopicDisallowed",
            Self::BadCertificate => "BadCertificate",
            Self::BadCertificateEnvironment => "BadCertificateEnvironment",
            Self::ExpiredProviderToken => "ExpiredProviderToken",
            Self::Forbidden => "Forbidden",
            Self::InvalidProviderToken => "InvalidProviderToken",
            Self::MissingProviderToken => "MissingProviderToken",
            Self::UnrelatedKeyIdInToken => "UnrelatedKeyIdInToken",
            Self::BadEnvironmentKeyInToken => "BadEnvironmentKeyInToken",
            Self::BadPath => "BadPath",
            Self::MethodNotAllowed => "MethodNotAllowed",
            Self::ExpiredToken => "ExpiredToken",
            Self::Unregistered => "Unregistered",
            Self::PayloadTooLarge => "PayloadTooLarge",
            Self::TooManyProviderTokenUpdates => "TooManyProviderTokenUpdates",
            Self::TooManyRequests => "TooManyRequests",
            Self::InternalServerError => "InternalServerError",
            Self::ServiceUnavailable => "ServiceUnavailable",
            Self::Shutdown => "Shutdown",
            Self::Unknown(s) => s,
        }
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// APNs's answer to one push.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct PushResponse {
    /// The HTTP status.
    pub status: u16,
    /// The `apns-id` response header, when present and printable.
    pub apns_id: Option<String>,
    /// The body's `reason`; `None` for a `200`, or when the body is
    /// missing, too long or not the expected JSON.
    pub reason: Option<Reason>,
    /// The body's `timestamp`: when the token became invalid, in
    /// milliseconds since the UNIX epoch. Read from a JSON number or from a
    /// string of digits; anything else gives `None`.
    pub timestamp: Option<u64>,
}

impl PushResponse {
    /// Reads a response. Never fails: what cannot be read is left `None`
    /// and the [`verdict`](Self::verdict) falls back on the status.
    ///
    /// ```
    /// let response = http::Response::builder()
    ///     .status(410)
    ///     .header("apns-id", "922D9F1F-B82E-B337-EDC9-DB4FC8527676")
    ///     .body(&br#"{"reason":"Unregistered","timestamp":1458114061260}"#[..])
    ///     .unwrap();
    /// let parsed = apns::PushResponse::from_http(&response);
    /// assert_eq!(parsed.reason, Some(apns::Reason::Unregistered));
    /// assert_eq!(
    ///     parsed.verdict(0, &apns::RetryPolicy::default()),
    ///     apns::Verdict::DropToken { unregistered_at: Some(1458114061260) }
    /// );
    /// ```
    pub fn from_http(response: &http::Response<&[u8]>) -> Self {
        let apns_id = response
            .headers()
            .get(APNS_ID)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let (reason, timestamp) = parse_body(response.body());
        Self {
            status: response.status().as_u16(),
            apns_id,
            reason,
            timestamp,
        }
    }

    /// What the caller should do, for the `attempt`-th try of this push
    /// (0 for the first), with back-off from `policy`.
    pub fn verdict(&self, attempt: u32, policy: &RetryPolicy) -> Verdict {
        if self.status == 200 {
            return Verdict::Delivered;
        }
        let retry = Verdict::RetryLater {
            after: policy.delay(attempt),
        };
        let drop = Verdict::DropToken {
            unregistered_at: self.timestamp,
        };
        match &self.reason {
            Some(
                Reason::TooManyRequests
                | Reason::TooManyProviderTokenUpdates
                | Reason::InternalServerError
                | Reason::ServiceUnavailable
                | Reason::Shutdown
                | Reason::IdleTimeout,
            ) => retry,
            Some(
                Reason::BadDeviceToken
                | Reason::Unregistered
                | Reason::ExpiredToken
                | Reason::DeviceTokenNotForTopic,
            ) => drop,
            // The topic is the certificate's UID, so a topic APNs refuses
            // means the certificate (or its environment) is wrong.
            Some(
                Reason::BadCertificate
                | Reason::BadCertificateEnvironment
                | Reason::TopicDisallowed
                | Reason::BadTopic
                | Reason::ExpiredProviderToken
                | Reason::Forbidden
                | Reason::InvalidProviderToken
                | Reason::MissingProviderToken
                | Reason::UnrelatedKeyIdInToken
                | Reason::BadEnvironmentKeyInToken,
            ) => Verdict::FixCertificate,
            Some(
                Reason::BadCollapseId
                | Reason::BadExpirationDate
                | Reason::BadMessageId
                | Reason::BadPriority
                | Reason::DuplicateHeaders
                | Reason::InvalidPushType
                | Reason::MissingDeviceToken
                | Reason::MissingTopic
                | Reason::PayloadEmpty
                | Reason::BadPath
                | Reason::MethodNotAllowed
                | Reason::PayloadTooLarge,
            ) => Verdict::BadRequest,
            Some(Reason::Unknown(_)) | None => match self.status {
                429 | 500..=599 => retry,
                410 => drop,
                403 => Verdict::FixCertificate,
                _ => Verdict::BadRequest,
            },
        }
    }
}

/// What to do after a push, derived from [`PushResponse::verdict`].
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
pub enum Verdict {
    /// APNs accepted the push.
    Delivered,
    /// APNs is busy, failing or going away: send the push again after
    /// `after`.
    RetryLater {
        /// How long to wait first.
        after: Duration,
    },
    /// The device token is no longer valid for this topic: stop pushing to
    /// it until the device sends a new `TokenUpdate`.
    DropToken {
        /// When APNs says the token stopped being valid (milliseconds since
        /// the UNIX epoch), if it said. A `TokenUpdate` newer than this
        /// supersedes it.
        unregistered_at: Option<u64>,
    },
    /// The push certificate is refused (invalid, expired, revoked, wrong
    /// environment or wrong topic): no push will succeed until an
    /// administrator replaces it.
    FixCertificate,
    /// The request was malformed; sending it again will not help.
    BadRequest,
}

/// Exponential back-off for [`Verdict::RetryLater`]: `base × 2^attempt`,
/// capped at `max`.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub struct RetryPolicy {
    /// The delay after the first failure.
    pub base: Duration,
    /// The longest delay.
    pub max: Duration,
}

impl Default for RetryPolicy {
    /// One second, doubling up to five minutes.
    fn default() -> Self {
        Self {
            base: Duration::from_secs(1),
            max: Duration::from_secs(300),
        }
    }
}

impl RetryPolicy {
    /// The delay before retry number `attempt + 1`.
    pub fn delay(&self, attempt: u32) -> Duration {
        let factor = 1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.max)
    }
}

/// The reason in a GOAWAY frame's debug data. APNs closes a connection
/// with GOAWAY carrying the same JSON as an error answer
/// (`{"reason":"Shutdown"}`); other servers may put any text there, which
/// gives `None`.
pub fn goaway_reason(debug_data: &[u8]) -> Option<Reason> {
    parse_body(debug_data).0
}

/// What to do with pushes lost to a GOAWAY that gave `reason`: a
/// certificate problem needs an administrator, anything else (shutdown,
/// idle timeout, overload, no reason) is retried on a new connection.
pub fn goaway_verdict(reason: Option<&Reason>, attempt: u32, policy: &RetryPolicy) -> Verdict {
    let response = PushResponse {
        status: 0,
        apns_id: None,
        reason: reason.cloned(),
        timestamp: None,
    };
    match response.verdict(attempt, policy) {
        Verdict::FixCertificate => Verdict::FixCertificate,
        _ => Verdict::RetryLater {
            after: policy.delay(attempt),
        },
    }
}

fn parse_body(body: &[u8]) -> (Option<Reason>, Option<u64>) {
    if body.is_empty() || body.len() > MAX_BODY_LEN {
        return (None, None);
    }
    let Ok(serde_json::Value::Object(map)) = serde_json::from_slice(body) else {
        return (None, None);
    };
    let reason = map
        .get("reason")
        .and_then(|v| v.as_str())
        .map(Reason::parse);
    let timestamp = match map.get("timestamp") {
        Some(serde_json::Value::Number(n)) => n.as_u64(),
        Some(serde_json::Value::String(s))
            if !s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit()) =>
        {
            s.parse().ok()
        }
        _ => None,
    };
    (reason, timestamp)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(status: u16, body: &[u8]) -> PushResponse {
        let resp = http::Response::builder()
            .status(status)
            .header("apns-id", "EC1BF194-B3B2-424A-89A9-5A918A6E6B5B")
            .body(body)
            .unwrap();
        PushResponse::from_http(&resp)
    }

    fn verdict(status: u16, body: &[u8]) -> Verdict {
        parse(status, body).verdict(0, &RetryPolicy::default())
    }

    #[test]
    fn goaway_debug_data() {
        assert_eq!(
            goaway_reason(br#"{"reason":"Shutdown"}"#),
            Some(Reason::Shutdown)
        );
        assert_eq!(goaway_reason(b"server shutting down"), None);
        assert_eq!(goaway_reason(b""), None);
        let p = RetryPolicy::default();
        assert_eq!(
            goaway_verdict(Some(&Reason::BadCertificateEnvironment), 0, &p),
            Verdict::FixCertificate
        );
        assert_eq!(
            goaway_verdict(Some(&Reason::Shutdown), 2, &p),
            Verdict::RetryLater { after: p.delay(2) }
        );
        assert_eq!(
            goaway_verdict(Some(&Reason::BadDeviceToken), 0, &p),
            Verdict::RetryLater { after: p.delay(0) },
            "a token reason in a GOAWAY concerns no token of ours"
        );
        assert_eq!(
            goaway_verdict(None, 0, &p),
            Verdict::RetryLater { after: p.delay(0) }
        );
    }

    #[test]
    fn delivered() {
        let r = parse(200, b"");
        assert_eq!(
            r.apns_id.as_deref(),
            Some("EC1BF194-B3B2-424A-89A9-5A918A6E6B5B")
        );
        assert_eq!(r.reason, None);
        assert_eq!(r.verdict(3, &RetryPolicy::default()), Verdict::Delivered);
    }

    #[test]
    fn every_reason_round_trips_and_has_a_verdict() {
        for r in Reason::KNOWN {
            assert_eq!(Reason::parse(r.as_str()), r);
            let body = format!(r#"{{"reason":"{r}"}}"#);
            let p = parse(400, body.as_bytes());
            assert_eq!(p.reason, Some(r.clone()));
            let _ = p.verdict(0, &RetryPolicy::default());
        }
        assert_eq!(Reason::parse("Nope"), Reason::Unknown("Nope".to_owned()));
    }

    #[test]
    fn verdicts() {
        let one = Duration::from_secs(1);
        assert_eq!(
            verdict(400, br#"{"reason":"BadDeviceToken"}"#),
            Verdict::DropToken {
                unregistered_at: None
            }
        );
        assert_eq!(
            verdict(400, br#"{"reason":"DeviceTokenNotForTopic"}"#),
            Verdict::DropToken {
                unregistered_at: None
            }
        );
        assert_eq!(
            verdict(429, br#"{"reason":"TooManyRequests"}"#),
            Verdict::RetryLater { after: one }
        );
        assert_eq!(
            verdict(500, br#"{"reason":"InternalServerError"}"#),
            Verdict::RetryLater { after: one }
        );
        assert_eq!(
            verdict(503, br#"{"reason":"Shutdown"}"#),
            Verdict::RetryLater { after: one }
        );
        assert_eq!(
            verdict(400, br#"{"reason":"IdleTimeout"}"#),
            Verdict::RetryLater { after: one }
        );
        assert_eq!(
            verdict(403, br#"{"reason":"BadCertificate"}"#),
            Verdict::FixCertificate
        );
        assert_eq!(
            verdict(403, br#"{"reason":"BadCertificateEnvironment"}"#),
            Verdict::FixCertificate
        );
        assert_eq!(
            verdict(400, br#"{"reason":"TopicDisallowed"}"#),
            Verdict::FixCertificate
        );
        assert_eq!(
            verdict(403, br#"{"reason":"BadEnvironmentKeyInToken"}"#),
            Verdict::FixCertificate
        );
        assert_eq!(
            Reason::parse("BadEnvironmentKeyInToken"),
            Reason::BadEnvironmentKeyInToken
        );
        assert_eq!(
            verdict(400, br#"{"reason":"PayloadEmpty"}"#),
            Verdict::BadRequest
        );
        assert_eq!(
            verdict(413, br#"{"reason":"PayloadTooLarge"}"#),
            Verdict::BadRequest
        );
        // Unknown or missing reasons fall back on the status.
        assert_eq!(verdict(503, b""), Verdict::RetryLater { after: one });
        assert_eq!(
            verdict(410, b"garbage"),
            Verdict::DropToken {
                unregistered_at: None
            }
        );
        assert_eq!(
            verdict(403, br#"{"reason":"SomethingNew"}"#),
            Verdict::FixCertificate
        );
        assert_eq!(
            verdict(400, br#"{"reason":"SomethingNew"}"#),
            Verdict::BadRequest
        );
    }

    #[test]
    fn timestamps() {
        let r = parse(
            410,
            br#"{"reason":"Unregistered","timestamp":1458114061260}"#,
        );
        assert_eq!(r.timestamp, Some(1458114061260));
        assert_eq!(
            r.verdict(0, &RetryPolicy::default()),
            Verdict::DropToken {
                unregistered_at: Some(1458114061260)
            }
        );
        assert_eq!(
            parse(
                410,
                br#"{"reason":"Unregistered","timestamp":"1458114061260"}"#
            )
            .timestamp,
            Some(1458114061260)
        );
        assert_eq!(
            parse(
                410,
                br#"{"reason":"Unregistered","timestamp":"2016-01-16 17:44:04 +1300"}"#
            )
            .timestamp,
            None
        );
        assert_eq!(
            parse(410, br#"{"reason":"Unregistered","timestamp":-5}"#).timestamp,
            None
        );
        assert_eq!(
            parse(
                410,
                br#"{"reason":"Unregistered","timestamp":"99999999999999999999999"}"#
            )
            .timestamp,
            None
        );
        assert_eq!(parse(410, br#"{"reason":"Unregistered"}"#).timestamp, None);
    }

    #[test]
    fn oversized_and_odd_bodies() {
        let mut big = br#"{"reason":"BadDeviceToken","pad":""#.to_vec();
        big.resize(MAX_BODY_LEN + 1, b'a');
        big.extend_from_slice(br#""}"#);
        assert_eq!(parse(400, &big).reason, None);
        assert_eq!(parse(400, b"[1,2]").reason, None);
        assert_eq!(parse(400, br#"{"reason":5}"#).reason, None);
        assert_eq!(parse(400, b"\xff\xfe").reason, None);
    }

    #[test]
    fn backoff() {
        let p = RetryPolicy::default();
        assert_eq!(p.delay(0), Duration::from_secs(1));
        assert_eq!(p.delay(1), Duration::from_secs(2));
        assert_eq!(p.delay(5), Duration::from_secs(32));
        assert_eq!(p.delay(9), Duration::from_secs(300));
        assert_eq!(p.delay(u32::MAX), Duration::from_secs(300));
    }

    #[test]
    fn sideshow_samples() {
        // Response bodies from sideshow/apns2's tests (see SOURCES.md in
        // the shared fixtures folder); skipped when the folder is absent.
        let dir = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/fixtures/apple-services/apns/sideshow"
        );
        let read = |name: &str| std::fs::read(format!("{dir}/{name}")).ok();
        let Some(empty) = read("error_payload_empty.json") else {
            eprintln!("\n*** SKIPPED (sideshow_samples): {dir} is absent ***\n");
            return;
        };
        assert_eq!(parse(400, &empty).reason, Some(Reason::PayloadEmpty));
        let gone = parse(410, &read("error_unregistered_410.json").unwrap());
        assert_eq!(
            (gone.reason, gone.timestamp),
            (Some(Reason::Unregistered), Some(1458114061260))
        );
        let odd = parse(
            410,
            &read("error_unregistered_string_timestamp.json").unwrap(),
        );
        assert_eq!(
            (odd.reason, odd.timestamp),
            (Some(Reason::Unregistered), None)
        );
    }
}

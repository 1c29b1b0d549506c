//! The DEP service's error answers: status, error code, message and
//! `Retry-After`.
//!
//! Apple's service writes the error code in the body in several ways, and
//! all of them occur: a bare word (`EXPIRED_CURSOR`), a JSON string
//! (`"EXPIRED_CURSOR"`), or a JSON object (`{"code": "EXPIRED_CURSOR",
//! "message": "..."}`). [`ApiError::from_response`] reads all three, so
//! callers match on [`ErrorCode`] alone.

use std::fmt;

use crate::model::string_enum;

/// Most bytes of an error body kept as its message.
const MAX_MESSAGE_LEN: usize = 512;

string_enum! {
    /// An error code from the DEP service (Apple: "Interpreting Automated
    /// Device Enrollment error codes" and each endpoint's error list).
    pub enum ErrorCode {
        /// `401`: the session token is missing, invalid or expired.
        Unauthorized = "UNAUTHORIZED",
        /// `403`: the session token is no longer accepted; get a new one.
        Forbidden = "FORBIDDEN",
        /// `403`: this server token may not do this.
        AccessDenied = "ACCESS_DENIED",
        /// `403`: the organisation has not accepted the latest terms and
        /// conditions in Apple Business Manager.
        TermsNotSigned = "T_C_NOT_SIGNED",
        /// `400`: the cursor is not one the service issued.
        InvalidCursor = "INVALID_CURSOR",
        /// `400`: the fetch cursor has already returned every device.
        ExhaustedCursor = "EXHAUSTED_CURSOR",
        /// `400`: the cursor is too old (sync).
        ExpiredCursor = "EXPIRED_CURSOR",
        /// `400`: sync needs a cursor.
        CursorRequired = "CURSOR_REQUIRED",
        /// `400`: the request body is not valid.
        MalformedRequestBody = "MALFORMED_REQUEST_BODY",
        /// `400`: the request names no device.
        DeviceIdRequired = "DEVICE_ID_REQUIRED",
        /// `400`: the request names no profile.
        ProfileUuidRequired = "PROFILE_UUID_REQUIRED",
        /// `400`/`404`: no such profile.
        ProfileNotFound = "PROFILE_NOT_FOUND",
        /// `400`: the profile has no enrollment URL.
        ConfigUrlRequired = "CONFIG_URL_REQUIRED",
        /// `400`: the profile has no name.
        ConfigNameRequired = "CONFIG_NAME_REQUIRED",
        /// `400`: a profile flag combination is not allowed.
        FlagsInvalid = "FLAGS_INVALID",
        /// `405`: the method is not allowed on this endpoint.
        MethodNotAllowed = "METHOD_NOT_ALLOWED",
        /// `429`: too many requests; wait for `Retry-After`.
        TooManyRequests = "TOO_MANY_REQUESTS",
        /// `400`: an OAuth problem on `/session`.
        BadRequest = "BAD_REQUEST",
        /// `404`: no such resource.
        NotFound = "NOT_FOUND",
    }
}

impl ErrorCode {
    /// A sentence on what the code means and what to do, where this crate
    /// knows one.
    pub fn advice(&self) -> Option<&'static str> {
        Some(match self {
            Self::TermsNotSigned => {
                "the organisation must accept the latest terms and conditions in Apple \
                 Business Manager (or Apple School Manager) before the service answers"
            }
            Self::AccessDenied => {
                "this server token may not do this: check the MDM server's assignment in \
                 Apple Business Manager, or download a new token"
            }
            Self::Unauthorized | Self::Forbidden => {
                "the session was refused even after signing in again: the server token may \
                 have been revoked or replaced"
            }
            Self::ExpiredCursor | Self::InvalidCursor => {
                "the cursor is no longer valid: fetch the device list again from the start"
            }
            Self::TooManyRequests => "the service is throttling requests: try again later",
            _ => return None,
        })
    }
}

pub use pippin_http_client::RetryAfter;

/// An error answer from the DEP service.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct ApiError {
    /// The HTTP status.
    pub status: u16,
    /// The error code from the body, however it was written.
    pub code: Option<ErrorCode>,
    /// The `message` of a JSON error object, or the body when it is not a
    /// code (cut to 512 bytes).
    pub message: Option<String>,
    /// The `Retry-After` header.
    pub retry_after: Option<RetryAfter>,
}

impl ApiError {
    /// Reads an error response: the status, the code from the body, and
    /// `Retry-After`.
    ///
    /// ```
    /// use dep_client::{ApiError, ErrorCode};
    /// for body in [&b"EXPIRED_CURSOR"[..], b"\"EXPIRED_CURSOR\"\n", br#"{"code":"EXPIRED_CURSOR","message":"too old"}"#] {
    ///     let resp = http::Response::builder().status(400).body(body).unwrap();
    ///     assert_eq!(ApiError::from_response(&resp).code, Some(ErrorCode::ExpiredCursor));
    /// }
    /// ```
    pub fn from_response(response: &http::Response<&[u8]>) -> Self {
        let (code, message) = parse_error_body(response.body());
        let header = |name| response.headers().get(name).and_then(|v| v.to_str().ok());
        let retry_after = header(http::header::RETRY_AFTER)
            .and_then(|v| RetryAfter::parse(v, header(http::header::DATE)));
        Self {
            status: response.status().as_u16(),
            code,
            message,
            retry_after,
        }
    }

    /// Whether the body's code is `code`.
    pub fn is(&self, code: &ErrorCode) -> bool {
        self.code.as_ref() == Some(code)
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the DEP service answered {}", self.status)?;
        if let Some(code) = &self.code {
            write!(f, " {code}")?;
        }
        if let Some(m) = &self.message {
            write!(f, " ({m})")?;
        }
        if let Some(advice) = self.code.as_ref().and_then(ErrorCode::advice) {
            write!(f, ": {advice}")?;
        }
        Ok(())
    }
}

/// The code and message of an error body, in any of its forms.
fn parse_error_body(body: &[u8]) -> (Option<ErrorCode>, Option<String>) {
    let text = String::from_utf8_lossy(&body[..body.len().min(64 * 1024)]);
    let text = text.trim();
    if text.is_empty() {
        return (None, None);
    }
    if text.starts_with('{') || text.starts_with('"') {
        match serde_json::from_str::<serde_json::Value>(text) {
            Ok(serde_json::Value::String(s)) => return code_or_message(&s),
            Ok(serde_json::Value::Object(map)) => {
                let field = |k: &str| map.get(k).and_then(|v| v.as_str()).map(str::to_owned);
                let code = field("code")
                    .or_else(|| field("error"))
                    .filter(|c| is_code_word(c))
                    .map(|c| ErrorCode::parse(&c));
                let message = field("message")
                    .or_else(|| field("description"))
                    .map(|m| cut(&m));
                return (code, message);
            }
            _ => {}
        }
    }
    code_or_message(text)
}

/// A bare word in upper case with underscores is a code; anything else is
/// a message.
fn code_or_message(s: &str) -> (Option<ErrorCode>, Option<String>) {
    let s = s.trim();
    if is_code_word(s) {
        (Some(ErrorCode::parse(s)), None)
    } else if s.is_empty() {
        (None, None)
    } else {
        (None, Some(cut(s)))
    }
}

fn is_code_word(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        && s.bytes().any(|b| b.is_ascii_uppercase())
}

fn cut(s: &str) -> String {
    if s.len() <= MAX_MESSAGE_LEN {
        return s.to_owned();
    }
    let mut end = MAX_MESSAGE_LEN;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use proptest::prelude::*;

    fn resp(status: u16, body: &[u8]) -> ApiError {
        let r = http::Response::builder().status(status).body(body).unwrap();
        ApiError::from_response(&r)
    }

    #[test]
    fn body_forms() {
        assert_eq!(
            resp(403, b"T_C_NOT_SIGNED").code,
            Some(ErrorCode::TermsNotSigned)
        );
        assert_eq!(resp(403, b"\"FORBIDDEN\"").code, Some(ErrorCode::Forbidden));
        let e = resp(
            400,
            br#"{"code":"INVALID_CURSOR","message":"Cursor is invalid"}"#,
        );
        assert_eq!(e.code, Some(ErrorCode::InvalidCursor));
        assert_eq!(e.message.as_deref(), Some("Cursor is invalid"));
        let e = resp(500, b"Internal Server Error");
        assert_eq!(e.code, None);
        assert_eq!(e.message.as_deref(), Some("Internal Server Error"));
        assert_eq!(resp(401, b"").code, None);
        assert_eq!(
            resp(400, b"SOME_NEW_CODE").code,
            Some(ErrorCode::Other("SOME_NEW_CODE".into()))
        );
        let long = "x".repeat(2000);
        assert!(resp(500, long.as_bytes()).message.unwrap().len() < 600);
        let shown = resp(403, b"T_C_NOT_SIGNED").to_string();
        assert!(shown.contains("403 T_C_NOT_SIGNED"), "{shown}");
        assert!(shown.contains("terms and conditions"), "{shown}");
    }

    #[test]
    fn retry_after() {
        let r = http::Response::builder()
            .status(429)
            .header("Retry-After", "7")
            .body(&b"TOO_MANY_REQUESTS"[..])
            .unwrap();
        let e = ApiError::from_response(&r);
        assert_eq!(e.retry_after.unwrap().delay(), Some(Duration::from_secs(7)));
        let r = http::Response::builder()
            .status(503)
            .header("Retry-After", "Wed, 21 Oct 2015 07:28:30 GMT")
            .header("Date", "Wed, 21 Oct 2015 07:28:00 GMT")
            .body(&b""[..])
            .unwrap();
        let ra = ApiError::from_response(&r).retry_after.unwrap();
        assert_eq!(ra.delay(), Some(Duration::from_secs(30)));
        let ra = RetryAfter::parse("Wed, 21 Oct 2015 07:28:30 GMT", None).unwrap();
        assert_eq!(ra.delay(), None);
        let at = httpdate::parse_http_date("Wed, 21 Oct 2015 07:28:10 GMT").unwrap();
        assert_eq!(ra.delay_from(at), Duration::from_secs(20));
        assert_eq!(RetryAfter::parse("soon", None), None);
        assert_eq!(
            RetryAfter::parse("99999999999999999999999", None)
                .unwrap()
                .delay(),
            Some(Duration::from_secs(u64::MAX))
        );
    }

    proptest! {
        #[test]
        fn any_body_any_form(code in "[A-Z][A-Z_]{0,20}") {
            for body in [code.clone(), format!("\"{code}\""), format!("{{\"code\":\"{code}\"}}"), format!(" {code}\r\n")] {
                prop_assert_eq!(resp(400, body.as_bytes()).code, Some(ErrorCode::parse(&code)));
            }
        }

        #[test]
        fn never_panics(body in proptest::collection::vec(any::<u8>(), 0..200), status in 400u16..600) {
            let _ = resp(status, &body).to_string();
        }
    }
}

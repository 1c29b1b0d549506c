//! Building the HTTP/2 request for one MDM push.
//!
//! Apple, "Sending notification requests to APNs" and "Sending MDM
//! notifications" (Device Management): an MDM push is a `POST` to
//! `/3/device/<device token in hex>` whose JSON body is
//! `{"mdm":"<PushMagic>"}`, sent with `apns-push-type: mdm` and the push
//! certificate's topic in `apns-topic`.

use http::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use uuid::Uuid;

use crate::error::{Error, Result};

/// The `apns-priority` MDM pushes use: send immediately.
pub const DEFAULT_PRIORITY: u8 = 10;

/// One MDM push to one device.
///
/// The token and push magic are the `Token` and `PushMagic` the device sent
/// in its `TokenUpdate` check-in; the topic is the push certificate's
/// (see [`PushCertificate::topic`](crate::PushCertificate::topic)).
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct PushRequest {
    /// The device token, as raw bytes (the check-in carries it as base64
    /// `data`).
    pub token: Vec<u8>,
    /// The device's `PushMagic`, sent back as the body's `mdm` value.
    pub push_magic: String,
    /// `apns-topic`: the push certificate's UID, `com.apple.mgmt.…`.
    pub topic: String,
    /// `apns-priority`; [`DEFAULT_PRIORITY`] (10) when `None`.
    pub priority: Option<u8>,
    /// `apns-expiration`: UNIX time in seconds until which APNs keeps
    /// trying to deliver, `0` for "once only"; not sent when `None`.
    pub expiration: Option<u64>,
    /// `apns-id`: the caller's ID for this push; APNs makes one up when
    /// `None` and returns it either way.
    pub id: Option<Uuid>,
}

impl PushRequest {
    /// A push with the default priority and no expiration or ID.
    pub fn new(token: Vec<u8>, push_magic: impl Into<String>, topic: impl Into<String>) -> Self {
        Self {
            token,
            push_magic: push_magic.into(),
            topic: topic.into(),
            priority: None,
            expiration: None,
            id: None,
        }
    }

    /// The request path, `/3/device/<lowercase hex token>`.
    pub fn path(&self) -> String {
        let mut path = String::with_capacity(10 + 2 * self.token.len());
        path.push_str("/3/device/");
        for b in &self.token {
            path.push(char::from(HEX[usize::from(b >> 4)]));
            path.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
        path
    }

    /// The request body, `{"mdm":"<PushMagic>"}` with the push magic
    /// JSON-escaped.
    pub fn body(&self) -> Vec<u8> {
        let magic = serde_json::Value::String(self.push_magic.clone());
        let mut body = Vec::with_capacity(self.push_magic.len() + 12);
        body.extend_from_slice(b"{\"mdm\":");
        body.extend_from_slice(magic.to_string().as_bytes());
        body.push(b'}');
        body
    }

    /// The HTTP request: `POST /3/device/<token>` with the APNs headers and
    /// the JSON body.
    ///
    /// The URI holds only the path; the client supplies scheme and
    /// authority for the endpoint it talks to.
    ///
    /// ```
    /// let push = apns::PushRequest::new(vec![0xab, 0x01], "magic", "com.apple.mgmt.External.x");
    /// let request = push.to_http()?;
    /// assert_eq!(request.uri().path(), "/3/device/ab01");
    /// assert_eq!(request.headers()["apns-push-type"], "mdm");
    /// assert_eq!(request.body(), br#"{"mdm":"magic"}"#);
    /// # Ok::<(), apns::Error>(())
    /// ```
    pub fn to_http(&self) -> Result<http::Request<Vec<u8>>> {
        if self.token.is_empty() {
            return Err(Error::EmptyToken);
        }
        if self.push_magic.is_empty() {
            return Err(Error::EmptyPushMagic);
        }
        let priority = self.priority.unwrap_or(DEFAULT_PRIORITY);
        if !matches!(priority, 1 | 5 | 10) {
            return Err(Error::InvalidPriority(priority));
        }
        if self.topic.is_empty() {
            return Err(Error::InvalidHeader { name: "apns-topic" });
        }
        let topic = HeaderValue::from_str(&self.topic)
            .map_err(|_| Error::InvalidHeader { name: "apns-topic" })?;

        let mut builder = http::Request::builder()
            .method(http::Method::POST)
            .uri(self.path());
        let headers = builder
            .headers_mut()
            .ok_or(Error::InvalidHeader { name: ":path" })?;
        headers.insert(APNS_PUSH_TYPE, HeaderValue::from_static("mdm"));
        headers.insert(APNS_TOPIC, topic);
        headers.insert(APNS_PRIORITY, HeaderValue::from(u16::from(priority)));
        if let Some(expiration) = self.expiration {
            headers.insert(APNS_EXPIRATION, HeaderValue::from(expiration));
        }
        if let Some(id) = self.id {
            let text = id.hyphenated().to_string();
            let value = HeaderValue::from_str(&text)
                .map_err(|_| Error::InvalidHeader { name: "apns-id" })?;
            headers.insert(APNS_ID, value);
        }
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        builder
            .body(self.body())
            .map_err(|_| Error::InvalidHeader { name: ":path" })
    }
}

/// `apns-push-type`.
pub const APNS_PUSH_TYPE: HeaderName = HeaderName::from_static("apns-push-type");
/// `apns-topic`.
pub const APNS_TOPIC: HeaderName = HeaderName::from_static("apns-topic");
/// `apns-priority`.
pub const APNS_PRIORITY: HeaderName = HeaderName::from_static("apns-priority");
/// `apns-expiration`.
pub const APNS_EXPIRATION: HeaderName = HeaderName::from_static("apns-expiration");
/// `apns-id`, in requests and responses.
pub const APNS_ID: HeaderName = HeaderName::from_static("apns-id");

const HEX: &[u8; 16] = b"0123456789abcdef";

#[cfg(test)]
mod tests {
    use super::*;

    fn push() -> PushRequest {
        PushRequest::new(
            vec![0xc2, 0x73, 0x22, 0x27],
            "47250C9C-1B37-4381-98A9-0B8315A441C7",
            "com.apple.mgmt.External.18a16429-886b-41f1-9c30-2bd04ae4fc37",
        )
    }

    #[test]
    fn builds_the_mdm_request() {
        let req = push().to_http().unwrap();
        assert_eq!(req.method(), http::Method::POST);
        assert_eq!(req.uri().to_string(), "/3/device/c2732227");
        let h = req.headers();
        assert_eq!(h["apns-push-type"], "mdm");
        assert_eq!(
            h["apns-topic"],
            "com.apple.mgmt.External.18a16429-886b-41f1-9c30-2bd04ae4fc37"
        );
        assert_eq!(h["apns-priority"], "10");
        assert_eq!(h["content-type"], "application/json");
        assert!(h.get("apns-expiration").is_none());
        assert!(h.get("apns-id").is_none());
        assert_eq!(h.len(), 4);
        assert_eq!(
            req.body().as_slice(),
            br#"{"mdm":"47250C9C-1B37-4381-98A9-0B8315A441C7"}"#
        );
    }

    #[test]
    fn optional_headers() {
        let mut p = push();
        p.priority = Some(5);
        p.expiration = Some(0);
        p.id = Some(Uuid::from_u128(0x922D9F1F_B82E_B337_EDC9_DB4FC8527676));
        let req = p.to_http().unwrap();
        let h = req.headers();
        assert_eq!(h["apns-priority"], "5");
        assert_eq!(h["apns-expiration"], "0");
        assert_eq!(h["apns-id"], "922d9f1f-b82e-b337-edc9-db4fc8527676");
    }

    #[test]
    fn escapes_push_magic() {
        let mut p = push();
        p.push_magic = "a\"b\\c\u{1}é".to_owned();
        let body = p.body();
        assert_eq!(body, "{\"mdm\":\"a\\\"b\\\\c\\u0001é\"}".as_bytes());
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["mdm"], "a\"b\\c\u{1}é");
    }

    #[test]
    fn rejects_bad_input() {
        let mut p = push();
        p.token.clear();
        assert!(matches!(p.to_http(), Err(Error::EmptyToken)));
        let mut p = push();
        p.priority = Some(7);
        assert!(matches!(p.to_http(), Err(Error::InvalidPriority(7))));
        let mut p = push();
        p.topic = "com.apple.mgmt.x\r\nX-Evil: 1".to_owned();
        assert!(matches!(p.to_http(), Err(Error::InvalidHeader { .. })));
        let mut p = push();
        p.push_magic.clear();
        assert!(matches!(p.to_http(), Err(Error::EmptyPushMagic)));
    }

    #[test]
    fn nanomdm_vectors() {
        // Token, push magic, path and body from nanomdm's provider tests
        // (see /work/shared/fixtures/apple-services/apns/nanomdm).
        let dir = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/fixtures/apple-services/apns/nanomdm/push_vectors.json"
        );
        let Ok(text) = std::fs::read_to_string(dir) else {
            eprintln!("\n*** SKIPPED (nanomdm_vectors): {dir} is absent ***\n");
            return;
        };
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        for push in v["pushes"].as_array().unwrap() {
            let hex = push["token_hex"].as_str().unwrap();
            let token: Vec<u8> = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                .collect();
            let p = PushRequest::new(
                token,
                push["push_magic"].as_str().unwrap(),
                push["topic"].as_str().unwrap(),
            );
            let req = p.to_http().unwrap();
            assert_eq!(req.uri().path(), push["path"].as_str().unwrap());
            assert_eq!(
                req.body().as_slice(),
                push["body"].as_str().unwrap().as_bytes()
            );
        }
    }

    proptest::proptest! {
        /// Whatever the token and push magic, the request reads back as
        /// them: the path's hex is the token, the body's `mdm` the magic.
        #[test]
        fn request_reads_back(
            token in proptest::collection::vec(proptest::num::u8::ANY, 1..100),
            magic in "\\PC{1,64}",
            priority in proptest::sample::select(vec![1u8, 5, 10]),
            expiration in proptest::option::of(proptest::num::u64::ANY),
        ) {
            let mut p = PushRequest::new(token.clone(), magic.clone(), "com.apple.mgmt.External.x");
            p.priority = Some(priority);
            p.expiration = expiration;
            let req = p.to_http().unwrap();
            let hex = req.uri().path().strip_prefix("/3/device/").unwrap();
            let decoded: Vec<u8> = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                .collect();
            proptest::prop_assert_eq!(decoded, token);
            proptest::prop_assert_eq!(hex.to_lowercase(), hex);
            let body: serde_json::Value = serde_json::from_slice(req.body()).unwrap();
            proptest::prop_assert_eq!(body, serde_json::json!({ "mdm": magic }));
            proptest::prop_assert_eq!(req.headers()["apns-priority"].to_str().unwrap(), priority.to_string());
            proptest::prop_assert_eq!(
                req.headers().get("apns-expiration").map(|v| v.to_str().unwrap().to_owned()),
                expiration.map(|e| e.to_string())
            );
        }
    }
}

//! Notifications the Apps and Books service posts to the MDM server's
//! `notificationUrl`.
//!
//! Apple sends `POST` with `Authorization: Bearer <notificationAuthToken>`
//! and a JSON body `{"notification": {...}, "notificationId": "...",
//! "notificationType": "...", "uId": "..."}`; any 2xx answer counts as
//! delivered. Delivery is best effort: a notification may come more than
//! once (de-duplicate on [`Notification::notification_id`]), late, or not
//! at all, and holds at most 100 elements.

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::model::{Assignment, ErrorResponse, PricingParam};

/// The largest notification body read (100 elements are a few KB).
pub const MAX_NOTIFICATION_LEN: usize = 1024 * 1024;

/// A notification.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Notification {
    /// Unique per notification: the key to drop repeats.
    pub notification_id: String,
    /// The location it concerns.
    pub u_id: Option<String>,
    /// What it says.
    pub body: NotificationBody,
}

/// A notification's content, by `notificationType`.
#[derive(Clone, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub enum NotificationBody {
    /// `TEST_NOTIFICATION`: sent when notifications are set up.
    Test,
    /// `ASSET_MANAGEMENT`: the result of (part of) an associate,
    /// disassociate or revoke job — including jobs other servers started.
    AssetManagement(AssetManagement),
    /// `ASSET_COUNT`: licenses bought, transferred or refunded.
    AssetCount(AssetCount),
    /// Any other type (`USER_MANAGEMENT`, `USER_ASSOCIATED`, subscription
    /// types, and types added later): the type and the raw
    /// `notification` object.
    Other {
        /// `notificationType`.
        notification_type: String,
        /// The `notification` object, as sent.
        raw: serde_json::Value,
    },
}

/// `AssetManagementNotification`.
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AssetManagement {
    /// The assignments this part of the job concerned.
    #[serde(default)]
    pub assignments: Vec<Assignment>,
    /// The job (`eventId` of the request that started it).
    #[serde(default)]
    pub event_id: Option<String>,
    /// `SUCCESS` or `FAILURE`.
    #[serde(default)]
    pub result: String,
    /// `ASSOCIATE`, `DISASSOCIATE` or `REVOKE`.
    #[serde(default, rename = "type")]
    pub kind: String,
    /// Why it failed, for every listed assignment.
    #[serde(default)]
    pub error: Option<ErrorResponse>,
}

impl AssetManagement {
    /// Whether the listed assignments succeeded.
    pub fn succeeded(&self) -> bool {
        self.result.eq_ignore_ascii_case("SUCCESS")
    }
}

/// `AssetCountNotification`.
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AssetCount {
    /// The product.
    pub adam_id: String,
    /// `STDQ` or `PLUS`.
    #[serde(default)]
    pub pricing_param: PricingParam,
    /// The change of the license count (negative: fewer).
    pub count_delta: i64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Envelope {
    notification: Option<serde_json::Value>,
    notification_id: String,
    notification_type: String,
    u_id: Option<String>,
}

/// Whether an `Authorization` header carries `secret` as a bearer token,
/// compared in constant time.
pub fn authorized(header: Option<&str>, secret: &str) -> bool {
    let Some(value) = header else {
        return false;
    };
    let Some(token) = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
    else {
        return false;
    };
    let (a, b) = (token.trim().as_bytes(), secret.as_bytes());
    // Constant time in the secret's length.
    let mut diff = u8::from(a.len() != b.len());
    for (i, x) in b.iter().enumerate() {
        diff |= x ^ a.get(i).copied().unwrap_or(0);
    }
    diff == 0 && !b.is_empty()
}

impl Notification {
    /// Reads a notification body.
    ///
    /// ```
    /// use vpp_client::{Notification, NotificationBody};
    /// let n = Notification::parse(br#"{"notification":{"adamId":"408709785","countDelta":-12,"pricingParam":"STDQ"},
    ///     "notificationId":"n-1","notificationType":"ASSET_COUNT","uId":"2049025000431439"}"#)?;
    /// assert!(matches!(n.body, NotificationBody::AssetCount(c) if c.count_delta == -12));
    /// # Ok::<(), vpp_client::Error>(())
    /// ```
    pub fn parse(body: &[u8]) -> Result<Self> {
        if body.len() > MAX_NOTIFICATION_LEN {
            return Err(Error::BodyTooLarge {
                limit: MAX_NOTIFICATION_LEN,
            });
        }
        let e: Envelope =
            serde_json::from_slice(body).map_err(|e| Error::invalid("notification", e))?;
        if e.notification_id.is_empty() || e.notification_id.len() > 256 {
            return Err(Error::invalid(
                "notification",
                "notificationId is empty or longer than 256 characters",
            ));
        }
        let raw = e.notification.unwrap_or(serde_json::Value::Null);
        let typed = |what: &'static str| -> Result<_> {
            Ok(match e.notification_type.as_str() {
                "TEST_NOTIFICATION" => NotificationBody::Test,
                "ASSET_MANAGEMENT" => NotificationBody::AssetManagement(
                    serde_json::from_value(raw.clone()).map_err(|e| Error::invalid(what, e))?,
                ),
                "ASSET_COUNT" => NotificationBody::AssetCount(
                    serde_json::from_value(raw.clone()).map_err(|e| Error::invalid(what, e))?,
                ),
                other => NotificationBody::Other {
                    notification_type: other.to_owned(),
                    raw: raw.clone(),
                },
            })
        };
        Ok(Self {
            body: typed("notification")?,
            notification_id: e.notification_id,
            u_id: e.u_id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apple_shaped_notifications() {
        let n = Notification::parse(include_bytes!(
            "../tests/fixtures/apple-notification-asset-management-failure.json"
        ))
        .unwrap();
        assert_eq!(n.notification_id, "eba66bc1-9a9f-4b3f-8a34-3b7b6e8f1f6c");
        assert_eq!(n.u_id.as_deref(), Some("2049025000431439"));
        let NotificationBody::AssetManagement(m) = n.body else {
            panic!("asset management expected")
        };
        assert!(!m.succeeded());
        assert_eq!(m.kind, "ASSOCIATE");
        assert_eq!(
            m.event_id.as_deref(),
            Some("f743928c-5c4b-4cb8-b2a1-7d2b9c0f1f00")
        );
        assert_eq!(m.assignments.len(), 2);
        assert_eq!(m.assignments[0].serial_number.as_deref(), Some("device1"));
        assert_eq!(m.assignments[1].client_user_id.as_deref(), Some("user1"));
        assert_eq!(m.error.unwrap().error_number, 9709);

        let n = Notification::parse(
            br#"{"notification":{},"notificationId":"t","notificationType":"TEST_NOTIFICATION","uId":"1"}"#,
        )
        .unwrap();
        assert_eq!(n.body, NotificationBody::Test);
        let n = Notification::parse(
            br#"{"notification":{"associatedUsers":[]},"notificationId":"u","notificationType":"USER_ASSOCIATED"}"#,
        )
        .unwrap();
        assert!(
            matches!(n.body, NotificationBody::Other { ref notification_type, .. } if notification_type == "USER_ASSOCIATED")
        );
    }

    #[test]
    fn bad_notifications() {
        for body in [
            &b""[..],
            b"[]",
            br#"{"notificationType":"ASSET_COUNT"}"#,
            br#"{"notificationId":"","notificationType":"TEST_NOTIFICATION"}"#,
            br#"{"notification":{"adamId":"1"},"notificationId":"x","notificationType":"ASSET_COUNT"}"#,
            br#"{"notification":{"assignments":"no"},"notificationId":"x","notificationType":"ASSET_MANAGEMENT"}"#,
        ] {
            assert!(Notification::parse(body).is_err(), "{}", String::from_utf8_lossy(body));
        }
        let big = vec![b' '; MAX_NOTIFICATION_LEN + 1];
        assert!(matches!(
            Notification::parse(&big),
            Err(Error::BodyTooLarge { .. })
        ));
    }

    #[test]
    fn bearer_secrets() {
        assert!(authorized(Some("Bearer s3cret"), "s3cret"));
        assert!(authorized(Some("bearer s3cret "), "s3cret"));
        assert!(!authorized(Some("Bearer s3cre"), "s3cret"));
        assert!(!authorized(Some("Bearer s3cretX"), "s3cret"));
        assert!(!authorized(Some("Basic s3cret"), "s3cret"));
        assert!(!authorized(None, "s3cret"));
        assert!(!authorized(Some("Bearer "), ""));
    }
}

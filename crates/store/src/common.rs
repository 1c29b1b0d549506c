//! Helpers both backends share.

use std::collections::HashMap;
use std::sync::Mutex;

use apple_mdm_protocol::EnrollmentId;

use crate::error::{Error, Result};
use crate::model::{
    CommandTarget, Enrollment, EntryState, InventoryKind, MAX_PAGE, PushResult, Sha256, UnixMillis,
};

/// How an [`EnrollmentId`] is stored: `(device, user_key)`, where the device
/// channel's `user_key` is the empty string.
pub(crate) fn key(id: &EnrollmentId) -> Result<(&str, &str)> {
    if id.device.is_empty() {
        return Err(Error::InvalidId(id.to_string()));
    }
    match id.user.as_deref() {
        None => Ok((&id.device, "")),
        Some("") => Err(Error::InvalidId(id.to_string())),
        Some(u) => Ok((&id.device, u)),
    }
}

/// Like [`key`], owned (to move into a blocking task).
#[cfg(feature = "sqlite")]
pub(crate) fn owned_key(id: &EnrollmentId) -> Result<(String, String)> {
    let (d, u) = key(id)?;
    Ok((d.to_owned(), u.to_owned()))
}

/// The [`EnrollmentId`] of a stored `(device, user_key)`.
pub(crate) fn id_of(device: String, user_key: String) -> EnrollmentId {
    EnrollmentId {
        device,
        user: (!user_key.is_empty()).then_some(user_key),
    }
}

/// A stored digest.
pub(crate) fn sha256(v: Vec<u8>) -> Result<Sha256> {
    let n = v.len();
    v.try_into()
        .map_err(|_| Error::corrupt("identity_sha256", format!("{n} bytes, not 32")))
}

/// A stored counter.
pub(crate) fn count(v: i64, what: &'static str) -> Result<u32> {
    u32::try_from(v).map_err(|_| Error::corrupt(what, v.to_string()))
}

/// A list limit clamped to `1..=MAX_PAGE`.
pub(crate) fn clamp_limit(limit: u32) -> u32 {
    limit.clamp(1, MAX_PAGE)
}

/// The columns of an enrollment, in the order [`enrollment_from_row`] reads
/// them.
pub(crate) const ENROLLMENT_COLUMNS: &str = "device, user_key, enrolled, serial_number, model, \
    model_name, product_name, os_version, build_version, device_name, imei, meid, topic, \
    push_token, push_magic, unlock_token IS NOT NULL, bootstrap_token IS NOT NULL, \
    awaiting_configuration, user_short_name, user_long_name, identity_sha256, token_invalid, \
    push_at, push_status, push_reason, created_at, authenticated_at, token_updated_at, \
    checked_out_at, last_seen_at, push_http_status, push_apns_id, push_unregistered_at";

/// Reading a result row, whatever the database.
pub(crate) trait Columns {
    fn string(&self, i: usize) -> Result<String>;
    fn opt_string(&self, i: usize) -> Result<Option<String>>;
    fn opt_bytes(&self, i: usize) -> Result<Option<Vec<u8>>>;
    fn boolean(&self, i: usize) -> Result<bool>;
    fn opt_bool(&self, i: usize) -> Result<Option<bool>>;
    fn int(&self, i: usize) -> Result<i64>;
    fn opt_int(&self, i: usize) -> Result<Option<i64>>;
}

/// An [`Enrollment`] from a row of [`ENROLLMENT_COLUMNS`].
pub(crate) fn enrollment_from_row(r: &impl Columns) -> Result<Enrollment> {
    let push_at = r.opt_int(22)?;
    let push_status = r.opt_string(23)?;
    let token_invalid = r.boolean(21)?;
    let last_push = match (push_at, push_status) {
        (Some(at), Some(status)) => Some(PushResult {
            at,
            status,
            reason: r.opt_string(24)?,
            http_status: r
                .opt_int(30)?
                .map(|s| {
                    u16::try_from(s).map_err(|_| Error::corrupt("push_http_status", s.to_string()))
                })
                .transpose()?,
            apns_id: r.opt_string(31)?,
            unregistered_at: r.opt_int(32)?,
            token_invalid,
        }),
        _ => None,
    };
    Ok(Enrollment {
        id: id_of(r.string(0)?, r.string(1)?),
        enrolled: r.boolean(2)?,
        serial_number: r.opt_string(3)?,
        model: r.opt_string(4)?,
        model_name: r.opt_string(5)?,
        product_name: r.opt_string(6)?,
        os_version: r.opt_string(7)?,
        build_version: r.opt_string(8)?,
        device_name: r.opt_string(9)?,
        imei: r.opt_string(10)?,
        meid: r.opt_string(11)?,
        topic: r.opt_string(12)?,
        push_token: r.opt_bytes(13)?,
        push_magic: r.opt_string(14)?,
        has_unlock_token: r.boolean(15)?,
        has_bootstrap_token: r.boolean(16)?,
        awaiting_configuration: r.boolean(17)?,
        user_short_name: r.opt_string(18)?,
        user_long_name: r.opt_string(19)?,
        identity: r.opt_bytes(20)?.map(sha256).transpose()?,
        token_invalid,
        last_push,
        created_at: r.int(25)?,
        authenticated_at: r.opt_int(26)?,
        token_updated_at: r.opt_int(27)?,
        checked_out_at: r.opt_int(28)?,
        last_seen_at: r.opt_int(29)?,
    })
}

/// The columns of a command's queue entry, in the order
/// [`target_from_row`] reads them (`q` is `queue`, `e` is `enrollments`).
pub(crate) const TARGET_COLUMNS: &str = "e.device, e.user_key, q.state, q.deliveries, \
    q.not_now_count, q.sent_at, q.status_at, q.result";

/// A [`CommandTarget`] from a row of [`TARGET_COLUMNS`].
pub(crate) fn target_from_row(r: &impl Columns) -> Result<CommandTarget> {
    let state = r.string(2)?;
    Ok(CommandTarget {
        id: id_of(r.string(0)?, r.string(1)?),
        state: EntryState::parse(&state).ok_or_else(|| Error::corrupt("queue.state", state))?,
        deliveries: count(r.int(3)?, "queue.deliveries")?,
        not_now_count: count(r.int(4)?, "queue.not_now_count")?,
        sent_at: r.opt_int(5)?,
        status_at: r.opt_int(6)?,
        result: r.opt_bytes(7)?,
    })
}

/// The stored name of an inventory kind, parsed.
pub(crate) fn inventory_kind(s: &str) -> Result<InventoryKind> {
    InventoryKind::parse(s).ok_or_else(|| Error::corrupt("inventory.kind", s))
}

/// Removes repeated ids, keeping the first of each.
pub(crate) fn dedup(ids: &[EnrollmentId]) -> Vec<EnrollmentId> {
    let mut seen = std::collections::HashSet::new();
    ids.iter().filter(|i| seen.insert(*i)).cloned().collect()
}

/// A device-wide secret kept on the device channel's row.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Secret {
    /// The escrowed bootstrap token.
    Bootstrap,
    /// The `UnlockToken`.
    Unlock,
}

impl Secret {
    /// Its column.
    pub(crate) fn column(self) -> &'static str {
        match self {
            Self::Bootstrap => "bootstrap_token",
            Self::Unlock => "unlock_token",
        }
    }
}

/// The enrollment summary columns a `DeviceInformation` refreshes.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct DeviceSummary {
    pub(crate) serial_number: Option<String>,
    pub(crate) model: Option<String>,
    pub(crate) model_name: Option<String>,
    pub(crate) product_name: Option<String>,
    pub(crate) os_version: Option<String>,
    pub(crate) build_version: Option<String>,
    pub(crate) device_name: Option<String>,
    pub(crate) imei: Option<String>,
    pub(crate) meid: Option<String>,
}

impl DeviceSummary {
    /// Reads the `QueryResponses` keys, at the top level or under
    /// `QueryResponses`. Keys that are missing or not strings are `None`.
    pub(crate) fn from_device_information(v: &serde_json::Value) -> Self {
        let q = v.get("QueryResponses").unwrap_or(v);
        let s = |k: &str| q.get(k).and_then(|x| x.as_str()).map(str::to_owned);
        Self {
            serial_number: s("SerialNumber"),
            model: s("Model"),
            model_name: s("ModelName"),
            product_name: s("ProductName"),
            os_version: s("OSVersion"),
            build_version: s("BuildVersion"),
            device_name: s("DeviceName"),
            imei: s("IMEI"),
            meid: s("MEID"),
        }
    }
}

/// Remembers the last-seen time written per enrollment, so that most
/// [`Store::touch`](crate::Store::touch) calls need no database round trip.
#[derive(Debug)]
pub(crate) struct TouchCache {
    interval: UnixMillis,
    seen: Mutex<HashMap<(String, String), UnixMillis>>,
}

/// The cache forgets everything past this many enrollments (and then fills
/// again): it only saves writes, it is never needed for correctness.
const TOUCH_CACHE_MAX: usize = 200_000;

impl TouchCache {
    pub(crate) fn new(interval: UnixMillis) -> Self {
        Self {
            interval: interval.max(0),
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// The interval (milliseconds).
    pub(crate) fn interval(&self) -> UnixMillis {
        self.interval
    }

    /// Whether a touch at `now` should go to the database; if so, records it.
    pub(crate) fn due(&self, device: &str, user: &str, now: UnixMillis) -> bool {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        let k = (device.to_owned(), user.to_owned());
        match seen.get(&k) {
            Some(&last) if now < last.saturating_add(self.interval) && now >= last => false,
            _ => {
                if seen.len() >= TOUCH_CACHE_MAX {
                    seen.clear();
                }
                seen.insert(k, now);
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_ids() {
        let d = EnrollmentId::device("D");
        assert_eq!(key(&d).unwrap(), ("D", ""));
        let u = EnrollmentId {
            device: "D".into(),
            user: Some("U".into()),
        };
        assert_eq!(key(&u).unwrap(), ("D", "U"));
        assert_eq!(id_of("D".into(), String::new()), d);
        assert_eq!(id_of("D".into(), "U".into()), u);
        assert!(matches!(
            key(&EnrollmentId::device("")),
            Err(Error::InvalidId(_))
        ));
        let empty_user = EnrollmentId {
            device: "D".into(),
            user: Some(String::new()),
        };
        assert!(matches!(key(&empty_user), Err(Error::InvalidId(_))));
    }

    #[test]
    fn summary_top_level_or_nested() {
        let flat = serde_json::json!({"SerialNumber": "C02X", "OSVersion": "14.4", "Model": 3});
        let s = DeviceSummary::from_device_information(&flat);
        assert_eq!(s.serial_number.as_deref(), Some("C02X"));
        assert_eq!(s.os_version.as_deref(), Some("14.4"));
        assert_eq!(s.model, None);
        let nested = serde_json::json!({"QueryResponses": {"DeviceName": "Mac"}});
        let s = DeviceSummary::from_device_information(&nested);
        assert_eq!(s.device_name.as_deref(), Some("Mac"));
        assert_eq!(s.serial_number, None);
    }

    #[test]
    fn touch_cache_throttles() {
        let c = TouchCache::new(1_000);
        assert!(c.due("D", "", 10_000));
        assert!(!c.due("D", "", 10_500));
        assert!(c.due("D", "U", 10_500));
        assert!(c.due("D", "", 11_000));
        // A clock that went back is passed through.
        assert!(c.due("D", "", 5_000));
        assert_eq!(c.interval(), 1_000);
    }

    #[test]
    fn stored_values() {
        assert!(sha256(vec![0; 32]).is_ok());
        assert!(matches!(sha256(vec![0; 31]), Err(Error::Corrupt { .. })));
        assert_eq!(count(7, "x").unwrap(), 7);
        assert!(count(-1, "x").is_err());
        assert_eq!(clamp_limit(0), 1);
        assert_eq!(clamp_limit(5000), MAX_PAGE);
    }
}

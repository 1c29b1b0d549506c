//! Automated Device Enrollment (DEP): the links to Apple Business Manager,
//! the devices Apple reports for each, and what the service did about them.
//!
//! A *link* is one MDM server in Apple Business Manager (or Apple School
//! Manager), reached with its server token; a site may have several. For
//! each link the store keeps the sealed token, the sync cursor, the outcome of
//! the last sync, and the devices Apple reported, as Apple described them
//! ([Device Assignment]), next to the service's own state of assigning them
//! an enrollment profile.
//!
//! [Device Assignment]: https://developer.apple.com/documentation/devicemanagement/device-assignment

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};
use std::fmt;

use crate::common::Columns;
use crate::error::{Error, Result};
use crate::model::UnixMillis;

/// The most device records one
/// [`Store::upsert_dep_devices`](crate::Store::upsert_dep_devices) call
/// takes, and the most serial numbers one
/// [`Store::set_dep_assignment`](crate::Store::set_dep_assignment) call
/// takes: Apple's largest page.
pub const MAX_DEP_BATCH: usize = 1000;

/// The longest DEP link name.
pub const MAX_DEP_LINK_NAME: usize = 64;

/// Which listing a link's [`cursor`](DepLink::cursor) continues.
///
/// Apple: a first `POST /server/devices` ("fetch") pages through every
/// device assigned to the server; after it, `POST /devices/sync` pages
/// through what changed since the cursor.
#[derive(Clone, Copy, Debug, Default, Eq, Hash, Ord, PartialEq, PartialOrd)]
pub enum DepPhase {
    /// Fetching every device (the cursor is a fetch cursor, or none yet).
    #[default]
    Fetch,
    /// Syncing changes (the cursor is from the last fetch or sync page).
    Sync,
}

impl DepPhase {
    /// Both phases.
    pub const ALL: [Self; 2] = [Self::Fetch, Self::Sync];

    /// The name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Fetch => "fetch",
            Self::Sync => "sync",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }
}

impl fmt::Display for DepPhase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A DEP link to store, or the new token of a stored one
/// ([`Store::put_dep_link`](crate::Store::put_dep_link)).
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct NewDepLink {
    /// The link's name, chosen by the administrator: 1 to
    /// [`MAX_DEP_LINK_NAME`] characters of `A-Z a-z 0-9 . _ -`.
    pub name: String,
    /// The server token (the OAuth token JSON of the `.p7m` Apple hands
    /// out), already encrypted by the caller: the store never sees it in
    /// clear.
    pub token_sealed: String,
    /// When the token expires (`access_token_expiry`).
    pub token_expiry: Option<UnixMillis>,
    /// The token's `consumer_key` (not secret; shown to administrators).
    pub consumer_key: String,
    /// When the token was stored.
    pub now: UnixMillis,
}

/// A stored DEP link.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct DepLink {
    /// The name.
    pub name: String,
    /// The encrypted server token.
    pub token_sealed: String,
    /// When the token expires.
    pub token_expiry: Option<UnixMillis>,
    /// The token's `consumer_key`.
    pub consumer_key: String,
    /// Apple's `GET /account` answer, JSON text as the caller stored it.
    pub account_json: Option<String>,
    /// `server_name` of the account.
    pub server_name: Option<String>,
    /// `server_uuid` of the account.
    pub server_uuid: Option<String>,
    /// `org_name` of the account.
    pub org_name: Option<String>,
    /// The cursor to continue the device listing with.
    pub cursor: Option<String>,
    /// Which listing the cursor continues.
    pub phase: DepPhase,
    /// When the cursor was last stored.
    pub cursor_at: Option<UnixMillis>,
    /// When the last sync ended.
    pub last_sync_at: Option<UnixMillis>,
    /// Whether the last sync succeeded.
    pub last_sync_ok: Option<bool>,
    /// Why the last sync failed.
    pub last_error: Option<String>,
    /// The enrollment profile defined with Apple for this link
    /// (`profile_uuid` of `POST /profile`).
    pub profile_uuid: Option<String>,
    /// The caller's hash of the profile definition it defined, to tell
    /// when to define it again.
    pub profile_hash: Option<String>,
    /// When the link was first stored.
    pub created_at: UnixMillis,
    /// When anything about the link last changed.
    pub updated_at: UnixMillis,
}

/// One device record as Apple reports it in a fetch or sync page (Apple:
/// `Device`), for [`Store::upsert_dep_devices`](crate::Store::upsert_dep_devices).
///
/// Apple's values are kept as Apple's text (dates included).
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct DepDeviceRecord {
    /// `serial_number` (not empty).
    pub serial_number: String,
    /// `model`.
    pub model: Option<String>,
    /// `description`.
    pub description: Option<String>,
    /// `color`.
    pub color: Option<String>,
    /// `asset_tag`.
    pub asset_tag: Option<String>,
    /// `os`.
    pub os: Option<String>,
    /// `device_family`.
    pub device_family: Option<String>,
    /// `profile_status`: `empty`, `assigned`, `pushed` or `removed`.
    pub profile_status: Option<String>,
    /// `profile_uuid`.
    pub profile_uuid: Option<String>,
    /// `profile_assign_time`.
    pub profile_assign_time: Option<String>,
    /// `profile_push_time`.
    pub profile_push_time: Option<String>,
    /// `device_assigned_date`.
    pub device_assigned_date: Option<String>,
    /// `device_assigned_by`.
    pub device_assigned_by: Option<String>,
    /// `op_type` of a sync record: `added`, `modified` or `deleted`; `None`
    /// in fetch results.
    pub op_type: Option<String>,
    /// `op_date` of a sync record.
    pub op_date: Option<String>,
    /// The whole device object as Apple sent it (JSON text).
    pub raw_json: String,
}

impl DepDeviceRecord {
    /// The `op_type` that removes a device from the server (unassigned in
    /// Apple Business Manager, or disowned).
    pub const DELETED: &'static str = "deleted";

    /// Whether the record says the device left the server.
    pub fn is_deleted(&self) -> bool {
        self.op_type.as_deref() == Some(Self::DELETED)
    }
}

/// Where assigning the enrollment profile to a device stands (the service's
/// state, not Apple's `profile_status`).
#[derive(Clone, Copy, Debug, Default, Eq, Hash, Ord, PartialEq, PartialOrd)]
pub enum AssignStatus {
    /// To be assigned: new, or back on the server after a removal.
    #[default]
    Pending,
    /// Apple accepted the assignment (`SUCCESS`).
    Assigned,
    /// The assignment failed: the request got an error answer, or Apple
    /// answered `FAILED` for the device ("try again later"). While its
    /// [`retry_after`](DepDevice::retry_after) is set it is tried again
    /// then; once [`assign_attempts`](DepDevice::assign_attempts) reaches the
    /// caller's limit it has none, and stays failed with the last
    /// [`assign_detail`](DepDevice::assign_detail).
    Failed,
    /// Apple says the device is not this server's (`NOT_ACCESSIBLE`):
    /// final, never tried again by itself.
    NotAccessible,
    /// Apple asked to wait (`THROTTLED`): due again after
    /// [`retry_after`](DepDevice::retry_after).
    Throttled,
    /// The service chose not to assign one (by policy, or an administrator).
    Skipped,
}

impl AssignStatus {
    /// Every state.
    pub const ALL: [Self; 6] = [
        Self::Pending,
        Self::Assigned,
        Self::Failed,
        Self::NotAccessible,
        Self::Throttled,
        Self::Skipped,
    ];

    /// The name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Assigned => "assigned",
            Self::Failed => "failed",
            Self::NotAccessible => "not_accessible",
            Self::Throttled => "throttled",
            Self::Skipped => "skipped",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl fmt::Display for AssignStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A stored DEP device: Apple's last record of it on one link, and the
/// service's assignment state.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct DepDevice {
    /// The link that reported it.
    pub link: String,
    /// `serial_number`.
    pub serial_number: String,
    /// `model`.
    pub model: Option<String>,
    /// `description`.
    pub description: Option<String>,
    /// `color`.
    pub color: Option<String>,
    /// `asset_tag`.
    pub asset_tag: Option<String>,
    /// `os`.
    pub os: Option<String>,
    /// `device_family`.
    pub device_family: Option<String>,
    /// Apple's `profile_status`.
    pub profile_status: Option<String>,
    /// Apple's `profile_uuid`.
    pub profile_uuid: Option<String>,
    /// `profile_assign_time`.
    pub profile_assign_time: Option<String>,
    /// `profile_push_time`.
    pub profile_push_time: Option<String>,
    /// `device_assigned_date`.
    pub device_assigned_date: Option<String>,
    /// `device_assigned_by`.
    pub device_assigned_by: Option<String>,
    /// `op_type` of the last record (`None` for a fetch record).
    pub op_type: Option<String>,
    /// `op_date` of the last record.
    pub op_date: Option<String>,
    /// The device left the server (its last record was `deleted`).
    pub deleted: bool,
    /// The last record as Apple sent it (JSON text).
    pub raw_json: String,
    /// Where assigning the enrollment profile stands.
    pub assign_status: AssignStatus,
    /// Details of the last assignment outcome (Apple's answer, an error).
    pub assign_detail: Option<String>,
    /// The profile the last assignment was about.
    pub assign_profile_uuid: Option<String>,
    /// When the assignment state was last set: when the device arrived or
    /// came back (pending), or by
    /// [`Store::set_dep_assignment`](crate::Store::set_dep_assignment).
    pub assign_at: Option<UnixMillis>,
    /// A throttled device, or a failed one to be tried again, is not due
    /// before this time.
    pub retry_after: Option<UnixMillis>,
    /// Failed tries at assigning the profile since the assignment state was
    /// last set otherwise (by
    /// [`Store::set_dep_assignment`](crate::Store::set_dep_assignment), which
    /// keeps it only for [`AssignStatus::Throttled`], or by the device coming
    /// back).
    pub assign_attempts: u32,
    /// When the link first reported the device.
    pub first_seen_at: UnixMillis,
    /// When the device's row last changed.
    pub updated_at: UnixMillis,
}

/// Which DEP devices to list, in the order of `(link, serial_number)`
/// (byte order).
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct DepDeviceQuery {
    /// Only this link's devices.
    pub link: Option<String>,
    /// Start after this `(link, serial_number)`: the `next` of the previous
    /// [`DepDevicePage`].
    pub after: Option<(String, String)>,
    /// At most this many (clamped to `1..=`[`MAX_PAGE`](crate::MAX_PAGE)).
    pub limit: u32,
    /// Only devices in this assignment state.
    pub assign_status: Option<AssignStatus>,
    /// Include devices that left the server.
    pub include_deleted: bool,
}

impl Default for DepDeviceQuery {
    fn default() -> Self {
        Self {
            link: None,
            after: None,
            limit: 100,
            assign_status: None,
            include_deleted: false,
        }
    }
}

/// One page of DEP devices.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct DepDevicePage {
    /// The devices, in order.
    pub items: Vec<DepDevice>,
    /// The cursor for the next page (`after`): the last item's
    /// `(link, serial_number)`, or `None` when this page is the last.
    pub next: Option<(String, String)>,
}

/// What [`Store::upsert_dep_devices`](crate::Store::upsert_dep_devices)
/// did. Each serial number counts once, however many records of it the
/// batch had.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct UpsertOutcome {
    /// Serial numbers the link had not reported before.
    pub new: u32,
    /// Serial numbers stored before, updated.
    pub updated: u32,
    /// Devices this batch marked deleted (they were not before).
    pub deleted: u32,
    /// Serial numbers that became [`AssignStatus::Pending`] (new devices,
    /// and devices back on the server after a removal), in the order of
    /// the batch: the ones to assign a profile to.
    pub pending: Vec<String>,
}

/// An assignment outcome to record for some devices
/// ([`Store::set_dep_assignment`](crate::Store::set_dep_assignment)).
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct DepAssignment {
    /// The new state.
    pub status: AssignStatus,
    /// Details (Apple's per-device answer, an error message).
    pub detail: Option<String>,
    /// The profile it is about.
    pub profile_uuid: Option<String>,
    /// For [`AssignStatus::Throttled`]: not due before this time.
    pub retry_after: Option<UnixMillis>,
    /// When.
    pub now: UnixMillis,
}

/// How failed profile assignments are tried again
/// ([`Store::record_dep_assign_failure`](crate::Store::record_dep_assign_failure)):
/// after the `n`-th failed try a device waits
/// `min(first_delay_ms × 2^(n−1), max_delay_ms)` (the doubling stops after
/// 20 tries), until `max_attempts` tries have failed; then it stays failed.
///
/// ```
/// let p = pippin_store::DepRetryPolicy { first_delay_ms: 60_000, max_delay_ms: 600_000, max_attempts: 5 };
/// assert_eq!([1, 2, 3, 4, 5].map(|n| p.delay(n)), [60_000, 120_000, 240_000, 480_000, 600_000]);
/// ```
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub struct DepRetryPolicy {
    /// The wait after the first failed try (clamped to 1 ms .. 1 day).
    pub first_delay_ms: UnixMillis,
    /// The longest wait (clamped to `first_delay_ms` .. 30 days).
    pub max_delay_ms: UnixMillis,
    /// Failed tries before giving up (clamped to 1 ..= 1000).
    pub max_attempts: u32,
}

impl Default for DepRetryPolicy {
    /// A minute, doubling to an hour, five tries.
    fn default() -> Self {
        Self {
            first_delay_ms: 60_000,
            max_delay_ms: 3_600_000,
            max_attempts: 5,
        }
    }
}

impl DepRetryPolicy {
    /// The wait after the `attempt`-th failed try (1 for the first).
    pub fn delay(&self, attempt: u32) -> UnixMillis {
        let (first, max, _) = self.clamped();
        let shift = attempt.saturating_sub(1).min(MAX_DOUBLINGS);
        (first << shift).min(max)
    }

    /// The values within their bounds: `(first, max, attempts)`.
    pub(crate) fn clamped(&self) -> (UnixMillis, UnixMillis, u32) {
        let first = self.first_delay_ms.clamp(1, 86_400_000);
        let max = self.max_delay_ms.clamp(first, 30 * 86_400_000);
        (first, max, self.max_attempts.clamp(1, 1000))
    }
}

/// Doublings of the retry delay at most: a day's first delay doubled 20
/// times stays far below `i64::MAX` milliseconds.
pub(crate) const MAX_DOUBLINGS: u32 = 20;

/// A failed try at assigning the enrollment profile to some devices
/// ([`Store::record_dep_assign_failure`](crate::Store::record_dep_assign_failure)).
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct DepAssignFailure {
    /// Why (the error, or Apple's per-device answer).
    pub detail: Option<String>,
    /// The profile it was about.
    pub profile_uuid: Option<String>,
    /// How to try again.
    pub retry: DepRetryPolicy,
    /// When.
    pub now: UnixMillis,
}

/// What [`Store::record_dep_assign_failure`](crate::Store::record_dep_assign_failure)
/// did.
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
pub struct DepFailureOutcome {
    /// Devices to be tried again (they have a `retry_after`).
    pub retrying: u64,
    /// Devices that reached the limit of tries: failed for good.
    pub gave_up: u64,
    /// The earliest `retry_after` set, if any.
    pub next_retry: Option<UnixMillis>,
}

/// A device record with an `op_type`, as received
/// ([`Store::dep_device_events`](crate::Store::dep_device_events)).
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct DepDeviceEvent {
    /// Increasing in the order of receipt.
    pub id: i64,
    /// The link.
    pub link: String,
    /// `serial_number`.
    pub serial_number: String,
    /// `op_type`.
    pub op_type: String,
    /// `op_date`.
    pub op_date: Option<String>,
    /// When it was stored.
    pub at: UnixMillis,
}

/// How many devices of a link are in each assignment state
/// ([`Store::count_dep_devices`](crate::Store::count_dep_devices)).
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct DepDeviceCounts {
    /// Devices on the server (not deleted), by state; every state is
    /// present, 0 when no device is in it.
    pub by_status: BTreeMap<AssignStatus, u64>,
    /// Devices that left the server (whatever their state).
    pub deleted: u64,
}

impl DepDeviceCounts {
    /// Devices on the server.
    pub fn total(&self) -> u64 {
        self.by_status.values().sum()
    }

    /// Devices on the server in state `s`.
    pub fn get(&self, s: AssignStatus) -> u64 {
        self.by_status.get(&s).copied().unwrap_or(0)
    }
}

// --- Shared by the backends ---------------------------------------------------

/// Refuses a link name that is not 1..=64 characters of `[A-Za-z0-9._-]`.
pub(crate) fn check_link_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= MAX_DEP_LINK_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidDepLinkName(name.to_owned()))
    }
}

/// Refuses more than [`MAX_DEP_BATCH`] items.
pub(crate) fn check_batch(len: usize) -> Result<()> {
    if len > MAX_DEP_BATCH {
        return Err(Error::BatchTooLarge {
            len,
            max: MAX_DEP_BATCH,
        });
    }
    Ok(())
}

/// A list limit for serial numbers clamped to `1..=MAX_DEP_BATCH`.
pub(crate) fn clamp_batch(limit: u32) -> u32 {
    // MAX_DEP_BATCH is 1000: it fits.
    limit.clamp(1, MAX_DEP_BATCH as u32)
}

/// One serial number of an upsert batch: the last record of it, applied to
/// the stored row.
#[derive(Debug)]
pub(crate) struct BatchDevice<'a> {
    /// The last record of the serial number in the batch.
    pub(crate) rec: &'a DepDeviceRecord,
    /// The last record marks the device deleted.
    pub(crate) deleted: bool,
    /// An earlier record of the batch marked it deleted: if the last one
    /// does not, the device came back and is assigned again.
    pub(crate) seen_deleted: bool,
}

impl BatchDevice<'_> {
    /// Whether a stored row (deleted before or not) goes back to pending.
    pub(crate) fn resets(&self, was_deleted: bool) -> bool {
        !self.deleted && (was_deleted || self.seen_deleted)
    }
}

/// Checks an upsert batch and folds it to one entry per serial number, in
/// the order each first appears.
pub(crate) fn fold_batch(records: &[DepDeviceRecord]) -> Result<Vec<BatchDevice<'_>>> {
    check_batch(records.len())?;
    let mut index: HashMap<&str, usize> = HashMap::with_capacity(records.len());
    let mut out: Vec<BatchDevice<'_>> = Vec::with_capacity(records.len());
    for rec in records {
        if rec.serial_number.is_empty() {
            return Err(Error::InvalidSerialNumber(rec.serial_number.clone()));
        }
        let deleted = rec.is_deleted();
        match index.get(rec.serial_number.as_str()) {
            Some(&i) => {
                let d = &mut out[i];
                d.seen_deleted |= d.deleted;
                d.rec = rec;
                d.deleted = deleted;
            }
            None => {
                index.insert(&rec.serial_number, out.len());
                out.push(BatchDevice {
                    rec,
                    deleted,
                    seen_deleted: false,
                });
            }
        }
    }
    Ok(out)
}

/// The outcome of a folded batch, given whether each serial number was
/// stored before and whether it was deleted (`prior`: serial → deleted).
pub(crate) fn upsert_outcome(
    batch: &[BatchDevice<'_>],
    prior: &HashMap<String, bool>,
) -> UpsertOutcome {
    let mut o = UpsertOutcome::default();
    for d in batch {
        let serial = &d.rec.serial_number;
        match prior.get(serial) {
            None => {
                o.new += 1;
                if d.deleted {
                    o.deleted += 1;
                } else {
                    o.pending.push(serial.clone());
                }
            }
            Some(&was_deleted) => {
                o.updated += 1;
                if d.deleted && !was_deleted {
                    o.deleted += 1;
                }
                if d.resets(was_deleted) {
                    o.pending.push(serial.clone());
                }
            }
        }
    }
    o
}

/// The columns of a link, in the order [`link_from_row`] reads them.
pub(crate) const LINK_COLUMNS: &str = "name, token_sealed, token_expiry, consumer_key, \
    account_json, server_name, server_uuid, org_name, cursor, phase, cursor_at, last_sync_at, \
    last_sync_ok, last_error, profile_uuid, profile_hash, created_at, updated_at";

/// A [`DepLink`] from a row of [`LINK_COLUMNS`].
pub(crate) fn link_from_row(r: &impl Columns) -> Result<DepLink> {
    let phase = r.string(9)?;
    Ok(DepLink {
        name: r.string(0)?,
        token_sealed: r.string(1)?,
        token_expiry: r.opt_int(2)?,
        consumer_key: r.string(3)?,
        account_json: r.opt_string(4)?,
        server_name: r.opt_string(5)?,
        server_uuid: r.opt_string(6)?,
        org_name: r.opt_string(7)?,
        cursor: r.opt_string(8)?,
        phase: DepPhase::parse(&phase).ok_or_else(|| Error::corrupt("dep_links.phase", phase))?,
        cursor_at: r.opt_int(10)?,
        last_sync_at: r.opt_int(11)?,
        last_sync_ok: r.opt_bool(12)?,
        last_error: r.opt_string(13)?,
        profile_uuid: r.opt_string(14)?,
        profile_hash: r.opt_string(15)?,
        created_at: r.int(16)?,
        updated_at: r.int(17)?,
    })
}

/// The columns of a device, in the order [`device_from_row`] reads them.
pub(crate) const DEVICE_COLUMNS: &str = "link, serial_number, model, description, color, \
    asset_tag, os, device_family, profile_status, profile_uuid, profile_assign_time, \
    profile_push_time, device_assigned_date, device_assigned_by, op_type, op_date, deleted, \
    raw_json, assign_status, assign_detail, assign_profile_uuid, assign_at, retry_after, \
    first_seen_at, updated_at, assign_attempts";

/// A [`DepDevice`] from a row of [`DEVICE_COLUMNS`].
pub(crate) fn device_from_row(r: &impl Columns) -> Result<DepDevice> {
    let attempts = r.int(25)?;
    let assign_attempts = u32::try_from(attempts)
        .map_err(|_| Error::corrupt("dep_devices.assign_attempts", attempts.to_string()))?;
    Ok(DepDevice {
        link: r.string(0)?,
        serial_number: r.string(1)?,
        model: r.opt_string(2)?,
        description: r.opt_string(3)?,
        color: r.opt_string(4)?,
        asset_tag: r.opt_string(5)?,
        os: r.opt_string(6)?,
        device_family: r.opt_string(7)?,
        profile_status: r.opt_string(8)?,
        profile_uuid: r.opt_string(9)?,
        profile_assign_time: r.opt_string(10)?,
        profile_push_time: r.opt_string(11)?,
        device_assigned_date: r.opt_string(12)?,
        device_assigned_by: r.opt_string(13)?,
        op_type: r.opt_string(14)?,
        op_date: r.opt_string(15)?,
        deleted: r.boolean(16)?,
        raw_json: r.string(17)?,
        assign_status: assign_status(&r.string(18)?)?,
        assign_detail: r.opt_string(19)?,
        assign_profile_uuid: r.opt_string(20)?,
        assign_at: r.opt_int(21)?,
        retry_after: r.opt_int(22)?,
        first_seen_at: r.int(23)?,
        updated_at: r.int(24)?,
        assign_attempts,
    })
}

/// The stored name of an assignment state, parsed.
pub(crate) fn assign_status(s: &str) -> Result<AssignStatus> {
    AssignStatus::parse(s).ok_or_else(|| Error::corrupt("dep_devices.assign_status", s))
}

/// The columns of an event, in the order [`event_from_row`] reads them.
pub(crate) const EVENT_COLUMNS: &str = "id, link, serial_number, op_type, op_date, at";

/// A [`DepDeviceEvent`] from a row of [`EVENT_COLUMNS`].
pub(crate) fn event_from_row(r: &impl Columns) -> Result<DepDeviceEvent> {
    Ok(DepDeviceEvent {
        id: r.int(0)?,
        link: r.string(1)?,
        serial_number: r.string(2)?,
        op_type: r.string(3)?,
        op_date: r.opt_string(4)?,
        at: r.int(5)?,
    })
}

/// Adds one `(assign_status, deleted, count)` row to the counts.
pub(crate) fn add_count(
    counts: &mut DepDeviceCounts,
    status: &str,
    deleted: bool,
    n: i64,
) -> Result<()> {
    let n = u64::try_from(n).map_err(|_| Error::corrupt("dep_devices count", n.to_string()))?;
    if deleted {
        counts.deleted += n;
    } else {
        *counts.by_status.entry(assign_status(status)?).or_insert(0) += n;
    }
    Ok(())
}

/// Counts with every state present.
pub(crate) fn empty_counts() -> DepDeviceCounts {
    DepDeviceCounts {
        by_status: AssignStatus::ALL.into_iter().map(|s| (s, 0)).collect(),
        deleted: 0,
    }
}

/// A parameter of the device listing, in the order [`list_sql`] numbers
/// them.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub(crate) enum ListParam {
    /// `query.link`.
    Link,
    /// `query.after.0`.
    AfterLink,
    /// `query.after.1`.
    AfterSerial,
    /// `query.assign_status`.
    Status,
    /// The row limit (one more than the page).
    Fetch,
}

/// The device listing's SQL for `query`, with placeholders `{mark}1`,
/// `{mark}2`, ... (`?` for SQLite, `$` for PostgreSQL), and what each
/// placeholder is; `None` when the page is empty whatever is stored (a
/// cursor past the link asked for).
///
/// Within one link the cursor is `serial_number > ?`, so that the index
/// range starts at the cursor (a row-value comparison next to `link = ?`
/// would only narrow the range to the link).
pub(crate) fn list_sql(query: &DepDeviceQuery, mark: char) -> Option<(String, Vec<ListParam>)> {
    let mut params = Vec::new();
    let mut sql = format!("SELECT {DEVICE_COLUMNS} FROM dep_devices WHERE TRUE");
    let next = |p: ListParam, params: &mut Vec<ListParam>| {
        params.push(p);
        format!("{mark}{}", params.len())
    };
    match (&query.link, &query.after) {
        (Some(link), Some((after_link, _))) => {
            let l = next(ListParam::Link, &mut params);
            sql.push_str(&format!(" AND link = {l}"));
            match after_link.as_str().cmp(link.as_str()) {
                Ordering::Less => {}
                Ordering::Equal => {
                    let s = next(ListParam::AfterSerial, &mut params);
                    sql.push_str(&format!(" AND serial_number > {s}"));
                }
                Ordering::Greater => return None,
            }
        }
        (Some(_), None) => {
            let l = next(ListParam::Link, &mut params);
            sql.push_str(&format!(" AND link = {l}"));
        }
        (None, Some(_)) => {
            let l = next(ListParam::AfterLink, &mut params);
            let s = next(ListParam::AfterSerial, &mut params);
            sql.push_str(&format!(" AND (link, serial_number) > ({l}, {s})"));
        }
        (None, None) => {}
    }
    if query.assign_status.is_some() {
        let s = next(ListParam::Status, &mut params);
        sql.push_str(&format!(" AND assign_status = {s}"));
    }
    if !query.include_deleted {
        sql.push_str(" AND NOT deleted");
    }
    let f = next(ListParam::Fetch, &mut params);
    sql.push_str(&format!(" ORDER BY link, serial_number LIMIT {f}"));
    Some((sql, params))
}

/// Counts per state and deletion of one link (`{mark}1`). Every state is
/// named so that the index leading with the state serves it.
pub(crate) fn count_sql(mark: char) -> String {
    let states = AssignStatus::ALL
        .iter()
        .map(|s| format!("'{s}'"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "SELECT assign_status, deleted, count(*) FROM dep_devices
         WHERE assign_status IN ({states}) AND link = {mark}1
         GROUP BY assign_status, deleted"
    )
}

/// The serial numbers due for an assignment: `{mark}1` link, `{mark}2`
/// now, `{mark}3` limit. The first conditions are those of the partial
/// index `dep_devices_todo`; the rest is one `CASE`, which no other index
/// could serve (an `OR` of states would tempt SQLite to the state index
/// and a sort).
pub(crate) fn to_assign_sql(mark: char, not_deleted: &str) -> String {
    format!(
        "SELECT serial_number FROM dep_devices
         WHERE link = {mark}1 AND {not_deleted}
           AND assign_status IN ('pending', 'throttled', 'failed')
           AND CASE assign_status
                   WHEN 'pending' THEN TRUE
                   WHEN 'throttled' THEN (retry_after IS NULL OR retry_after <= {mark}2)
                   ELSE (retry_after IS NOT NULL AND retry_after <= {mark}2)
               END
         ORDER BY first_seen_at, serial_number
         LIMIT {mark}3"
    )
}

/// The earliest time a throttled or failed device of link `{mark}1` is
/// due again (through the state index: two short ranges).
pub(crate) fn next_retry_sql(mark: char, not_deleted: &str) -> String {
    format!(
        "SELECT min(retry_after) FROM dep_devices
         WHERE assign_status IN ('throttled', 'failed') AND link = {mark}1
           AND {not_deleted} AND retry_after IS NOT NULL"
    )
}

/// A failed try for one device or several: `{mark}1` link, `{mark}2` the
/// serial number(s) condition's value, `{mark}3` detail, `{mark}4`
/// profile, `{mark}5` now, `{mark}6` first delay, `{mark}7` longest delay,
/// `{mark}8` tries allowed. Answers whether each device gave up, and its
/// `retry_after`. (In `SET`, the columns on the right are the old values.)
pub(crate) fn failure_sql(mark: char, serial_condition: &str, min: &str) -> String {
    format!(
        "UPDATE dep_devices SET
             assign_attempts = assign_attempts + 1,
             assign_status = 'failed',
             assign_detail = {mark}3,
             assign_profile_uuid = {mark}4,
             retry_after = CASE WHEN assign_attempts + 1 >= {mark}8 THEN NULL
                 ELSE {mark}5 + {min}({mark}7, {mark}6 * (CAST(1 AS BIGINT) << {min}(assign_attempts, {MAX_DOUBLINGS}))) END,
             assign_at = {mark}5,
             updated_at = {mark}5
         WHERE link = {mark}1 AND {serial_condition}
         RETURNING retry_after"
    )
}

/// Assigned devices of link `{mark}1` whose profile is not `{mark}2` go
/// back to pending (`{mark}3` now).
pub(crate) fn requeue_sql(mark: char, not_deleted: &str) -> String {
    format!(
        "UPDATE dep_devices SET
             assign_status = 'pending',
             assign_detail = 'the enrollment profile changed',
             retry_after = NULL,
             assign_attempts = 0,
             assign_at = {mark}3,
             updated_at = {mark}3
         WHERE assign_status = 'assigned' AND link = {mark}1 AND {not_deleted}
           AND (assign_profile_uuid IS NULL OR assign_profile_uuid <> {mark}2)"
    )
}

/// Folds the `retry_after` of each device a failure touched.
pub(crate) fn failure_outcome(
    retries: impl IntoIterator<Item = Option<UnixMillis>>,
) -> DepFailureOutcome {
    let mut o = DepFailureOutcome::default();
    for r in retries {
        match r {
            Some(at) => {
                o.retrying += 1;
                o.next_retry = Some(o.next_retry.map_or(at, |n| n.min(at)));
            }
            None => o.gave_up += 1,
        }
    }
    o
}

/// Cuts the extra row fetched past the page and sets the cursor.
pub(crate) fn page(mut items: Vec<DepDevice>, limit: u32) -> DepDevicePage {
    let limit = limit as usize;
    let next = if items.len() > limit {
        items.truncate(limit);
        items
            .last()
            .map(|d| (d.link.clone(), d.serial_number.clone()))
    } else {
        None
    };
    DepDevicePage { items, next }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(serial: &str, op: Option<&str>) -> DepDeviceRecord {
        DepDeviceRecord {
            serial_number: serial.into(),
            op_type: op.map(str::to_owned),
            raw_json: "{}".into(),
            ..Default::default()
        }
    }

    #[test]
    fn link_names() {
        for ok in ["a", "ABM-main", "site_1.east", &"x".repeat(64)] {
            assert!(check_link_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "with space", "slash/", "é", "a:b", &"x".repeat(65)] {
            assert!(
                matches!(check_link_name(bad), Err(Error::InvalidDepLinkName(n)) if n == bad),
                "{bad}"
            );
        }
    }

    #[test]
    fn names_round_trip() {
        for s in AssignStatus::ALL {
            assert_eq!(AssignStatus::parse(s.as_str()), Some(s));
            assert_eq!(s.to_string(), s.as_str());
        }
        for p in DepPhase::ALL {
            assert_eq!(DepPhase::parse(p.as_str()), Some(p));
            assert_eq!(p.to_string(), p.as_str());
        }
        assert_eq!(AssignStatus::parse("PENDING"), None);
        assert_eq!(DepPhase::parse(""), None);
    }

    #[test]
    fn batches_fold_per_serial() {
        let records = vec![
            rec("A", Some("added")),
            rec("B", Some("deleted")),
            rec("A", Some("modified")),
            rec("B", Some("added")),
            rec("C", None),
            rec("D", Some("added")),
            rec("D", Some("deleted")),
        ];
        let b = fold_batch(&records).unwrap();
        let got: Vec<(&str, Option<&str>, bool, bool)> = b
            .iter()
            .map(|d| {
                (
                    d.rec.serial_number.as_str(),
                    d.rec.op_type.as_deref(),
                    d.deleted,
                    d.seen_deleted,
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("A", Some("modified"), false, false),
                ("B", Some("added"), false, true),
                ("C", None, false, false),
                ("D", Some("deleted"), true, false),
            ]
        );
        // B existed and was not deleted: it went away and came back.
        let prior: HashMap<String, bool> = [("A".to_owned(), true), ("B".to_owned(), false)].into();
        let o = upsert_outcome(&b, &prior);
        assert_eq!(
            o,
            UpsertOutcome {
                new: 2,
                updated: 2,
                deleted: 1,
                pending: vec!["A".into(), "B".into(), "C".into()],
            }
        );
    }

    #[test]
    fn batches_are_bounded_and_need_serials() {
        let many = vec![rec("S", None); MAX_DEP_BATCH + 1];
        assert!(matches!(
            fold_batch(&many),
            Err(Error::BatchTooLarge {
                len: 1001,
                max: 1000
            })
        ));
        assert_eq!(fold_batch(&many[..MAX_DEP_BATCH]).unwrap().len(), 1);
        assert!(matches!(
            fold_batch(&[rec("", None)]),
            Err(Error::InvalidSerialNumber(_))
        ));
        assert!(fold_batch(&[]).unwrap().is_empty());
        assert_eq!(clamp_batch(0), 1);
        assert_eq!(clamp_batch(5_000), 1_000);
    }

    #[test]
    fn listing_sql_numbers_its_parameters() {
        let (sql, p) = list_sql(&DepDeviceQuery::default(), '$').unwrap();
        assert!(sql.ends_with("WHERE TRUE AND NOT deleted ORDER BY link, serial_number LIMIT $1"));
        assert_eq!(p, vec![ListParam::Fetch]);
        let mut q = DepDeviceQuery {
            link: Some("L".into()),
            after: Some(("L".into(), "S".into())),
            limit: 5,
            assign_status: Some(AssignStatus::Failed),
            include_deleted: true,
        };
        let (sql, p) = list_sql(&q, '?').unwrap();
        assert!(sql.contains(
            "WHERE TRUE AND link = ?1 AND serial_number > ?2 AND assign_status = ?3 \
             ORDER BY link, serial_number LIMIT ?4"
        ));
        assert_eq!(
            p,
            vec![
                ListParam::Link,
                ListParam::AfterSerial,
                ListParam::Status,
                ListParam::Fetch
            ]
        );
        // A cursor before the link: the link from its start.
        q.after = Some(("K".into(), "Z".into()));
        let (sql, p) = list_sql(&q, '$').unwrap();
        assert!(sql.contains("WHERE TRUE AND link = $1 AND assign_status = $2 ORDER BY"));
        assert_eq!(
            p,
            vec![ListParam::Link, ListParam::Status, ListParam::Fetch]
        );
        // Past it: nothing.
        q.after = Some(("M".into(), String::new()));
        assert_eq!(list_sql(&q, '$'), None);
        // Across links: the row value.
        q.link = None;
        q.assign_status = None;
        let (sql, p) = list_sql(&q, '$').unwrap();
        assert!(sql.contains("WHERE TRUE AND (link, serial_number) > ($1, $2) ORDER BY"));
        assert_eq!(
            p,
            vec![
                ListParam::AfterLink,
                ListParam::AfterSerial,
                ListParam::Fetch
            ]
        );
        assert!(count_sql('$').contains("'not_accessible', 'throttled', 'skipped') AND link = $1"));
    }

    #[test]
    fn counts() {
        let mut c = empty_counts();
        add_count(&mut c, "pending", false, 3).unwrap();
        add_count(&mut c, "assigned", false, 2).unwrap();
        add_count(&mut c, "pending", true, 4).unwrap();
        assert_eq!(c.total(), 5);
        assert_eq!(c.get(AssignStatus::Pending), 3);
        assert_eq!(c.get(AssignStatus::Skipped), 0);
        assert_eq!(c.deleted, 4);
        assert!(add_count(&mut c, "bogus", false, 1).is_err());
        assert!(add_count(&mut c, "pending", false, -1).is_err());
    }
}

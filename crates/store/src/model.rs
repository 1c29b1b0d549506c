//! The values the store takes and gives back.

use std::collections::BTreeMap;
use std::fmt;

use apple_mdm_protocol::EnrollmentId;
use apple_mdm_protocol::report::Status;

/// A point in time: milliseconds since the Unix epoch (UTC).
///
/// Every time the store records is passed in by the caller; the store never
/// reads the clock.
pub type UnixMillis = i64;

/// A SHA-256 digest (of an identity certificate's DER encoding).
pub type Sha256 = [u8; 32];

/// The most enrollments, audit entries or publications one list call
/// returns.
pub const MAX_PAGE: u32 = 1000;

/// What a device-channel `Authenticate` check-in tells about the device.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct AuthenticateRecord {
    /// The device's `UDID` (or a User Enrollment's `EnrollmentID`): the
    /// device channel's [`EnrollmentId`].
    pub device: String,
    /// `SerialNumber`.
    pub serial_number: Option<String>,
    /// `Model` (e.g. `MacBookPro18,3`).
    pub model: Option<String>,
    /// `ModelName` (e.g. `MacBook Pro`).
    pub model_name: Option<String>,
    /// `ProductName`.
    pub product_name: Option<String>,
    /// `OSVersion`.
    pub os_version: Option<String>,
    /// `BuildVersion`.
    pub build_version: Option<String>,
    /// `DeviceName`.
    pub device_name: Option<String>,
    /// `IMEI`.
    pub imei: Option<String>,
    /// `MEID`.
    pub meid: Option<String>,
    /// `Topic`: the APNs topic of the MDM push certificate.
    pub topic: String,
    /// SHA-256 of the identity certificate the device authenticated with;
    /// becomes the device's identity binding.
    pub identity: Option<Sha256>,
    /// When the check-in arrived.
    pub now: UnixMillis,
}

/// What a `TokenUpdate` check-in tells, on either channel.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct TokenUpdateRecord {
    /// `Token`: the APNs device token.
    pub push_token: Vec<u8>,
    /// `PushMagic`: the string the push payload carries.
    pub push_magic: String,
    /// `Topic`.
    pub topic: String,
    /// `UnlockToken` (device channel, iOS/iPadOS). `None` keeps the token
    /// stored before: devices send it only in some updates.
    pub unlock_token: Option<Vec<u8>>,
    /// `AwaitingConfiguration`: the device waits in Setup Assistant for
    /// `DeviceConfigured`.
    pub awaiting_configuration: bool,
    /// `UserShortName` (user channel).
    pub user_short_name: Option<String>,
    /// `UserLongName` (user channel).
    pub user_long_name: Option<String>,
    /// When the check-in arrived.
    pub now: UnixMillis,
}

/// The outcome of the last APNs push to an enrollment.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct PushResult {
    /// When APNs answered (or the push was given up).
    pub at: UnixMillis,
    /// The outcome, in the caller's words (`delivered`, `failed`, ...).
    pub status: String,
    /// Why it failed: APNs' `reason` (`BadDeviceToken`, `Unregistered`,
    /// ...) or why there was no answer.
    pub reason: Option<String>,
    /// The HTTP status APNs answered with; `None` when there was no answer.
    pub http_status: Option<u16>,
    /// The `apns-id` APNs answered with.
    pub apns_id: Option<String>,
    /// For `410 Unregistered`: when APNs says the token stopped being valid.
    pub unregistered_at: Option<UnixMillis>,
    /// The push token is no longer valid: no push is sent to this enrollment
    /// until its next `TokenUpdate`. On reading, whether the enrollment's
    /// token is marked invalid now.
    pub token_invalid: bool,
}

/// The outcome of a push to one enrollment, for
/// [`Store::mark_push_results`](crate::Store::mark_push_results).
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct PushRecord {
    /// The enrollment pushed.
    pub id: EnrollmentId,
    /// The device token the push was sent to.
    pub token: Vec<u8>,
    /// What happened.
    pub result: PushResult,
}

/// The most push results one
/// [`Store::mark_push_results`](crate::Store::mark_push_results) call
/// stores, and the most enrollments one
/// [`Store::enqueue_more`](crate::Store::enqueue_more) call takes.
pub const MAX_PUSH_BATCH: usize = 10_000;

/// A push topic enrolled enrollments use, and how many use it.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct TopicCount {
    /// The topic (`com.apple.mgmt.…`).
    pub topic: String,
    /// How many enrolled enrollments (device and user channels) use it.
    pub enrollments: u64,
}

/// Where to push to wake an enrollment.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct PushTarget {
    /// The enrollment.
    pub id: EnrollmentId,
    /// APNs device token.
    pub token: Vec<u8>,
    /// `PushMagic`, the push payload's `mdm` value.
    pub push_magic: String,
    /// APNs topic.
    pub topic: String,
}

/// One enrollment: the device channel of a device, or a user channel.
///
/// Device facts (serial number, model, ...) are on the device channel's row;
/// a user channel's are `None`. They come from `Authenticate`, and are
/// refreshed by every `DeviceInformation` stored as inventory.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Enrollment {
    /// The key.
    pub id: EnrollmentId,
    /// Whether the enrollment is active: a `TokenUpdate` came after the last
    /// `Authenticate`, and no `CheckOut` since.
    pub enrolled: bool,
    /// `SerialNumber`.
    pub serial_number: Option<String>,
    /// `Model`.
    pub model: Option<String>,
    /// `ModelName`.
    pub model_name: Option<String>,
    /// `ProductName`.
    pub product_name: Option<String>,
    /// `OSVersion`.
    pub os_version: Option<String>,
    /// `BuildVersion`.
    pub build_version: Option<String>,
    /// `DeviceName`.
    pub device_name: Option<String>,
    /// `IMEI`.
    pub imei: Option<String>,
    /// `MEID`.
    pub meid: Option<String>,
    /// APNs topic.
    pub topic: Option<String>,
    /// APNs device token.
    pub push_token: Option<Vec<u8>>,
    /// `PushMagic`.
    pub push_magic: Option<String>,
    /// Whether an `UnlockToken` is stored (read it with
    /// [`Store::get_unlock_token`](crate::Store::get_unlock_token)).
    pub has_unlock_token: bool,
    /// Whether a bootstrap token is escrowed (device channel).
    pub has_bootstrap_token: bool,
    /// `AwaitingConfiguration` of the last `TokenUpdate`.
    pub awaiting_configuration: bool,
    /// `UserShortName` (user channel).
    pub user_short_name: Option<String>,
    /// `UserLongName` (user channel).
    pub user_long_name: Option<String>,
    /// SHA-256 of the identity certificate bound to the device (device
    /// channel).
    pub identity: Option<Sha256>,
    /// The last push failed because the token is invalid.
    pub token_invalid: bool,
    /// The outcome of the last push.
    pub last_push: Option<PushResult>,
    /// When the enrollment was first stored.
    pub created_at: UnixMillis,
    /// The last `Authenticate` (device channel).
    pub authenticated_at: Option<UnixMillis>,
    /// The last `TokenUpdate`.
    pub token_updated_at: Option<UnixMillis>,
    /// The last `CheckOut`.
    pub checked_out_at: Option<UnixMillis>,
    /// The last request from the enrollment that was recorded (see
    /// [`Store::touch`](crate::Store::touch)).
    pub last_seen_at: Option<UnixMillis>,
}

/// Which enrollments to list, in the order of their ids (device, then user;
/// the device channel before its user channels).
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct ListQuery {
    /// Start after this id: the `next` of the previous [`EnrollmentPage`].
    pub after: Option<EnrollmentId>,
    /// At most this many (clamped to `1..=`[`MAX_PAGE`]).
    pub limit: u32,
    /// Only enrollments that are [`enrolled`](Enrollment::enrolled).
    pub enrolled_only: bool,
}

impl Default for ListQuery {
    fn default() -> Self {
        Self {
            after: None,
            limit: 100,
            enrolled_only: false,
        }
    }
}

/// One page of a listing.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct EnrollmentPage {
    /// The enrollments, in order.
    pub items: Vec<Enrollment>,
    /// The cursor for the next page (`after`), or `None` when this page is
    /// the last.
    pub next: Option<EnrollmentId>,
}

/// A command to queue.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct NewCommand {
    /// `CommandUUID`. Unique for the store's lifetime: a UUID used before is
    /// refused even when that command has completed.
    pub uuid: String,
    /// `RequestType`.
    pub request_type: String,
    /// The command as sent to the device (the plist bytes).
    pub body: Vec<u8>,
    /// Higher goes first.
    pub priority: i32,
    /// Who queued it (an admin, a policy, the service itself).
    pub queued_by: String,
    /// When it was queued: older goes first among equal priorities.
    pub now: UnixMillis,
}

/// A command to send to a device now.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct NextCommand {
    /// `CommandUUID`.
    pub uuid: String,
    /// `RequestType`.
    pub request_type: String,
    /// The plist bytes to answer the device with.
    pub body: Vec<u8>,
}

/// A command a report completed.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct CompletedCommand {
    /// `CommandUUID`.
    pub uuid: String,
    /// `RequestType`: tells the caller how to read the result.
    pub request_type: String,
    /// The final status (`Acknowledged`, `Error` or `CommandFormatError`).
    pub status: Status,
    /// How many times the command was handed to this enrollment.
    pub deliveries: u32,
    /// How many times this enrollment answered `NotNow`.
    pub not_now_count: u32,
    /// When the command was queued.
    pub queued_at: UnixMillis,
}

/// What [`Store::handle_report`](crate::Store::handle_report) did.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct ReportOutcome {
    /// The command the report completed.
    pub completed: Option<CompletedCommand>,
    /// The command to answer the device with, already marked sent; `None`
    /// for an empty answer.
    pub next: Option<NextCommand>,
}

/// Where a command stands for one enrollment.
#[derive(Clone, Copy, Debug, Eq, Hash, Ord, PartialEq, PartialOrd)]
pub enum EntryState {
    /// Waiting to be sent.
    Queued,
    /// Sent, no answer yet (sent again on the next `Idle`).
    Sent,
    /// The device answered `NotNow`; eligible again after its next `Idle`.
    NotNow,
    /// Completed: `Acknowledged`.
    Acknowledged,
    /// Completed: `Error`.
    Error,
    /// Completed: `CommandFormatError`.
    CommandFormatError,
    /// Removed by an administrator before it completed.
    Cancelled,
}

impl EntryState {
    /// Every state.
    pub const ALL: [Self; 7] = [
        Self::Queued,
        Self::Sent,
        Self::NotNow,
        Self::Acknowledged,
        Self::Error,
        Self::CommandFormatError,
        Self::Cancelled,
    ];

    /// The name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Sent => "sent",
            Self::NotNow => "not_now",
            Self::Acknowledged => "acknowledged",
            Self::Error => "error",
            Self::CommandFormatError => "command_format_error",
            Self::Cancelled => "cancelled",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Whether the command is still in the queue (not completed, not
    /// cancelled).
    pub fn is_open(self) -> bool {
        matches!(self, Self::Queued | Self::Sent | Self::NotNow)
    }

    /// The state a final report status leaves the entry in.
    pub fn completed_by(status: Status) -> Option<Self> {
        match status {
            Status::Acknowledged => Some(Self::Acknowledged),
            Status::Error => Some(Self::Error),
            Status::CommandFormatError => Some(Self::CommandFormatError),
            Status::Idle | Status::NotNow => None,
        }
    }
}

impl fmt::Display for EntryState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A command and where it stands for each enrollment it was queued for.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct CommandRecord {
    /// `CommandUUID`.
    pub uuid: String,
    /// `RequestType`.
    pub request_type: String,
    /// Priority.
    pub priority: i32,
    /// Who queued it.
    pub queued_by: String,
    /// When it was queued.
    pub queued_at: UnixMillis,
    /// One entry per enrollment, in the order of their ids.
    pub targets: Vec<CommandTarget>,
}

/// A command's progress for one enrollment.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct CommandTarget {
    /// The enrollment.
    pub id: EnrollmentId,
    /// Where it stands.
    pub state: EntryState,
    /// How many times it was handed to the device.
    pub deliveries: u32,
    /// How many times the device answered `NotNow`.
    pub not_now_count: u32,
    /// When it was last handed to the device.
    pub sent_at: Option<UnixMillis>,
    /// When the device last reported on it, or when it was cancelled.
    pub status_at: Option<UnixMillis>,
    /// The report plist bytes of the final answer.
    pub result: Option<Vec<u8>>,
}

/// The kinds of inventory kept per enrollment, the latest of each.
#[derive(Clone, Copy, Debug, Eq, Hash, Ord, PartialEq, PartialOrd)]
pub enum InventoryKind {
    /// `DeviceInformation` query responses.
    DeviceInformation,
    /// `SecurityInfo`.
    SecurityInfo,
    /// `InstalledApplicationList`.
    InstalledApplications,
    /// `ManagedApplicationList`.
    ManagedApplications,
    /// `ProfileList`.
    Profiles,
    /// `CertificateList`.
    Certificates,
    /// `AvailableOSUpdates`.
    AvailableOSUpdates,
    /// `OSUpdateStatus`.
    OSUpdateStatus,
    /// `DeviceLocation` (Lost Mode).
    DeviceLocation,
}

impl InventoryKind {
    /// Every kind.
    pub const ALL: [Self; 9] = [
        Self::DeviceInformation,
        Self::SecurityInfo,
        Self::InstalledApplications,
        Self::ManagedApplications,
        Self::Profiles,
        Self::Certificates,
        Self::AvailableOSUpdates,
        Self::OSUpdateStatus,
        Self::DeviceLocation,
    ];

    /// The name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::DeviceInformation => "DeviceInformation",
            Self::SecurityInfo => "SecurityInfo",
            Self::InstalledApplications => "InstalledApplications",
            Self::ManagedApplications => "ManagedApplications",
            Self::Profiles => "Profiles",
            Self::Certificates => "Certificates",
            Self::AvailableOSUpdates => "AvailableOSUpdates",
            Self::OSUpdateStatus => "OSUpdateStatus",
            Self::DeviceLocation => "DeviceLocation",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl fmt::Display for InventoryKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One stored piece of inventory.
#[derive(Clone, Debug, PartialEq)]
pub struct InventoryItem {
    /// The data, as JSON.
    pub data: serde_json::Value,
    /// When it was stored.
    pub updated_at: UnixMillis,
}

/// An enrollment's inventory: the latest of each kind stored.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Inventory {
    /// By kind.
    pub kinds: BTreeMap<InventoryKind, InventoryItem>,
}

/// Something an administrator or the service did, for the audit log.
#[derive(Clone, Debug, PartialEq)]
pub struct AuditEntry {
    /// When.
    pub at: UnixMillis,
    /// Who (an admin's name, a token's id, `system`).
    pub actor: String,
    /// What (`command.enqueue`, `device.wipe`, `token.create`, ...).
    pub action: String,
    /// On what (an enrollment id, a command UUID, ...).
    pub target: String,
    /// Details.
    pub detail: serde_json::Value,
}

/// An audit entry as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct AuditRecord {
    /// Increasing: the cursor for [`Store::list_audit`](crate::Store::list_audit).
    pub id: i64,
    /// The entry.
    pub entry: AuditEntry,
}

/// The most software-update catalog publications the store keeps: recording
/// one more deletes the oldest (by id) beyond this many.
pub const MAX_PUBLICATIONS: u32 = 10_000;

/// A software-update catalog publication: a signed WSUS catalog of Apple
/// updates that `sup-service` built and reported.
#[derive(Clone, Debug, PartialEq)]
pub struct NewPublication {
    /// When the report was received.
    pub at: UnixMillis,
    /// Who reported it (the admin API's actor).
    pub reporter: String,
    /// Where the catalog is served.
    pub catalog_url: String,
    /// SHA-256 of the catalog file: 64 lower-case hex digits (the caller
    /// checks them; the store keeps what it is given).
    pub catalog_sha256: String,
    /// When the service built the catalog.
    pub published_at: UnixMillis,
    /// Apple products the catalog describes.
    pub products: u32,
    /// Update packages published into WSUS.
    pub packages_published: u32,
    /// Packages marked superseded.
    pub superseded: u32,
    /// Packages marked expired.
    pub expired: u32,
    /// Details: the sources with their URLs, ETags and product counts, the
    /// signer's subject, warnings.
    pub detail: serde_json::Value,
}

/// A publication as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct Publication {
    /// Increasing: the cursor for
    /// [`Store::list_publications`](crate::Store::list_publications).
    pub id: i64,
    /// The publication.
    pub publication: NewPublication,
}

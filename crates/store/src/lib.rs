//! Persistence for the Pippin MDM service: enrollments, command queues,
//! inventory, the audit log, Automated Device Enrollment (DEP) links and
//! devices, Apps and Books (VPP) tokens, assets and license assignments,
//! and the software-update catalogs published into WSUS.
//!
//! The service talks to a [`Store`], an object-safe async trait it holds as
//! `Arc<dyn Store>`. Two implementations:
//!
//! * [`SqliteStore`] (feature `sqlite`): an embedded SQLite file, the
//!   default for a single host. One writer connection, on a thread of its
//!   own, makes every change in turn; a few read-only connections serve
//!   reads concurrently on tokio's blocking pool (WAL mode).
//! * [`PostgresStore`] (feature `postgres`): PostgreSQL through a connection
//!   pool, for several service processes sharing one database.
//!
//! Both create and upgrade their schema when opened, from SQL migrations
//! compiled into the crate (one set per SQL dialect), recorded in a
//! `schema_migrations` table.
//!
//! # The command queue
//!
//! The queue follows exactly the rules of
//! [`apple_mdm_protocol::queue::CommandQueue`], and is tested against it:
//! per enrollment (device and user channels are separate queues), the next
//! command is the eligible one with the highest priority, then the oldest,
//! then the first queued; `NotNow` sets a command aside until the device's
//! next `Idle`; `Acknowledged`, `Error` and `CommandFormatError` complete it;
//! a command handed out but not answered is handed out again; a report naming
//! a command that is not queued for the enrollment is an error and changes
//! nothing. [`Store::handle_report`] applies a report and picks the next
//! command in one transaction.
//!
//! Completed and cancelled entries are kept, with the device's report, so
//! [`Store::get_command`] can show what happened.
//!
//! # Automated Device Enrollment
//!
//! A [`DepLink`] is one MDM server in Apple Business Manager, with its
//! (caller-encrypted) server token, its sync cursor and the outcome of its
//! last sync. [`Store::upsert_dep_devices`] stores a page of Apple's device
//! records (up to [`MAX_DEP_BATCH`]) in one transaction and tells which
//! devices became [`AssignStatus::Pending`]; the service assigns them a
//! profile and records the outcome with [`Store::set_dep_assignment`].
//! Records with an `op_type` are also kept as history
//! ([`Store::dep_device_events`]), pruned by the caller
//! ([`Store::prune_dep_events`]).
//!
//! # Apps and Books
//!
//! A [`VppToken`] is one location's content token, with what claiming it
//! taught the service. Its assets are stored as complete walks of Apple's
//! asset listing left them: [`Store::upsert_vpp_assets`] stores a page
//! (up to [`MAX_VPP_BATCH`]) marked with the walk's generation, and
//! [`Store::finish_vpp_asset_walk`] drops the assets the walk did not see.
//! [`Store::request_vpp_assignments`] takes licenses for devices in one
//! transaction, refusing a request that needs more than are free (Apple's
//! available count less those asked for and not yet confirmed, which are
//! counted, not stored); the service moves each assignment through the
//! states of [`VppAssignState`] with [`Store::set_vpp_assignments`], and
//! [`Store::request_vpp_removals`] starts giving licenses back. Notification
//! ids are remembered to drop repeats ([`Store::first_vpp_notification`]).
//!
//! # Software-update catalog publications
//!
//! Each signed WSUS catalog `sup-service` builds is recorded with
//! [`Store::record_publication`] and listed with
//! [`Store::list_publications`]; the store keeps the latest
//! [`MAX_PUBLICATIONS`] of them.
//!
//! # Time
//!
//! Every time is a [`UnixMillis`] passed in by the caller: milliseconds since
//! the Unix epoch. The store never reads the clock. (The databases stamp their
//! own migration records.)
//!
//! # What it does not do
//!
//! No APNs, no HTTP, no plist parsing: command bodies and reports are stored as
//! the bytes the caller gives. No encryption: DEP server tokens, VPP content
//! tokens and notification secrets arrive sealed by the caller. No retention
//! of its own beyond a cap on catalog publications: MDM records are never
//! deleted, DEP history and VPP notification ids only when the caller
//! prunes them, a DEP link's devices when the link is deleted, a VPP
//! token's assets and assignments when the token is deleted (and an asset's
//! assignments when a walk no longer finds the asset).
//!
//! # Example
//!
//! ```
//! use apple_mdm_protocol::EnrollmentId;
//! use apple_mdm_protocol::report::Status;
//! use pippin_store::{AuthenticateRecord, NewCommand, SqliteStore, Store, TokenUpdateRecord};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> pippin_store::Result<()> {
//! let store = SqliteStore::open_in_memory()?;
//! let device = EnrollmentId::device("UDID-1");
//! store
//!     .authenticate(&AuthenticateRecord {
//!         device: device.device.clone(),
//!         topic: "com.apple.mgmt.External.example".into(),
//!         now: 1_000,
//!         ..Default::default()
//!     })
//!     .await?;
//! store
//!     .token_update(
//!         &device,
//!         &TokenUpdateRecord {
//!             push_token: vec![1, 2, 3],
//!             push_magic: "magic".into(),
//!             topic: "com.apple.mgmt.External.example".into(),
//!             now: 2_000,
//!             ..Default::default()
//!         },
//!     )
//!     .await?;
//!
//! store
//!     .enqueue(
//!         &[device.clone()],
//!         NewCommand {
//!             uuid: "c1".into(),
//!             request_type: "DeviceInformation".into(),
//!             body: b"<plist/>".to_vec(),
//!             priority: 0,
//!             queued_by: "admin".into(),
//!             now: 3_000,
//!         },
//!     )
//!     .await?;
//!
//! // The device checks in with Idle and receives the command ...
//! let out = store.handle_report(&device, Status::Idle, None, None, 4_000).await?;
//! assert_eq!(out.next.map(|c| c.uuid).as_deref(), Some("c1"));
//! // ... answers it, and the queue is empty.
//! let out = store
//!     .handle_report(&device, Status::Acknowledged, Some("c1"), Some(b"<report/>".to_vec()), 5_000)
//!     .await?;
//! assert_eq!(out.completed.map(|c| c.request_type).as_deref(), Some("DeviceInformation"));
//! assert_eq!(out.next, None);
//! # Ok(())
//! # }
//! ```
#![warn(missing_docs)]
#![forbid(unsafe_code)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

// Without a backend only the trait and its types remain.
#[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
mod common;
#[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
mod dep;
mod error;
#[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
mod migrations;
mod model;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "sqlite")]
mod sqlite;
#[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
mod vpp;

pub use apple_mdm_protocol::queue::QueueError;
pub use dep::{
    AssignStatus, DepAssignFailure, DepAssignment, DepDevice, DepDeviceCounts, DepDeviceEvent,
    DepDevicePage, DepDeviceQuery, DepDeviceRecord, DepFailureOutcome, DepLink, DepPhase,
    DepRetryPolicy, MAX_DEP_BATCH, MAX_DEP_LINK_NAME, NewDepLink, UpsertOutcome,
};
pub use error::{Error, Result};
pub use model::{
    AuditEntry, AuditRecord, AuthenticateRecord, CommandRecord, CommandTarget, CompletedCommand,
    Enrollment, EnrollmentPage, EntryState, Inventory, InventoryItem, InventoryKind, ListQuery,
    MAX_PAGE, MAX_PUBLICATIONS, MAX_PUSH_BATCH, NewCommand, NewPublication, NextCommand,
    Publication, PushRecord, PushResult, PushTarget, ReportOutcome, Sha256, TokenUpdateRecord,
    TopicCount, UnixMillis,
};
#[cfg(feature = "postgres")]
pub use postgres::{PostgresConfig, PostgresStore};
#[cfg(feature = "sqlite")]
pub use sqlite::{SqliteConfig, SqliteStore};
pub use vpp::{
    MAX_VPP_BATCH, MAX_VPP_TOKEN_NAME, NewVppToken, VppAsset, VppAssetMetadata, VppAssetPage,
    VppAssetQuery, VppAssetRecord, VppAssignRequest, VppAssignState, VppAssignUpdate,
    VppAssignment, VppAssignmentPage, VppAssignmentQuery, VppClaim, VppOrgType, VppRequestOutcome,
    VppToken,
};

use apple_mdm_protocol::EnrollmentId;
use apple_mdm_protocol::report::Status;

/// Everything the MDM service persists.
///
/// Enrollments are keyed by [`EnrollmentId`]: a device channel
/// (`EnrollmentId { device, user: None }`) and each of its user channels are
/// separate enrollments, each with its own push token and command queue. A
/// user channel belongs to its device channel. Ids with an empty device or
/// user part are refused with [`Error::InvalidId`].
///
/// Device-wide facts (the identity certificate binding, the bootstrap token,
/// the unlock token) are kept on the device channel; the methods that read or
/// write them accept either channel's id and use the device channel.
///
/// Every method is one transaction: it happens whole or not at all.
#[async_trait::async_trait]
pub trait Store: Send + Sync + 'static {
    // --- Enrollments -----------------------------------------------------

    /// Records a device-channel `Authenticate`: creates the enrollment, or
    /// re-creates it for a device that enrolls again.
    ///
    /// The enrollment is not [`enrolled`](Enrollment::enrolled) until its
    /// `TokenUpdate`. A repeated `Authenticate` clears the push token, push
    /// magic, unlock token and the "token invalid" mark of the device channel
    /// and its user channels, marks them all not enrolled, and cancels every
    /// command still queued for them (commands meant for the previous
    /// enrollment must not reach the new one). Device facts given as `None`
    /// keep their stored value; the identity binding is replaced when
    /// `identity` is given. Inventory, bootstrap token, command history and
    /// audit are kept.
    async fn authenticate(&self, rec: &AuthenticateRecord) -> Result<()>;

    /// Records a `TokenUpdate` and marks the enrollment enrolled; clears the
    /// "token invalid" mark.
    ///
    /// A device channel must have been authenticated first; a user channel
    /// is created on its first `TokenUpdate` (user channels do not send
    /// `Authenticate`) and needs its device channel. Otherwise
    /// [`Error::UnknownEnrollment`].
    async fn token_update(&self, id: &EnrollmentId, rec: &TokenUpdateRecord) -> Result<()>;

    /// Records a `CheckOut`: the enrollment is no longer enrolled (a device
    /// channel's check-out also ends its user channels). Everything stored
    /// about it is kept.
    async fn check_out(&self, id: &EnrollmentId, now: UnixMillis) -> Result<()>;

    /// The enrollment `id`.
    async fn get_enrollment(&self, id: &EnrollmentId) -> Result<Option<Enrollment>>;

    /// A page of enrollments, in the order of their ids (keyset pagination:
    /// pass the page's `next` as the following query's `after`).
    async fn list_enrollments(&self, query: &ListQuery) -> Result<EnrollmentPage>;

    /// How many enrollments are stored (or only those enrolled).
    async fn count_enrollments(&self, enrolled_only: bool) -> Result<u64>;

    /// Records that the enrollment was seen at `now` (call it on every
    /// request). To stay cheap, the stored time only moves when it is at
    /// least the configured interval older than `now`, and a call that
    /// would not move it usually does not reach the database. Unknown
    /// enrollments are ignored.
    async fn touch(&self, id: &EnrollmentId, now: UnixMillis) -> Result<()>;

    // --- Device identity and escrowed secrets ------------------------------

    /// Binds the device to the identity certificate with this SHA-256,
    /// replacing any earlier binding.
    async fn bind_identity(&self, id: &EnrollmentId, sha256: Sha256) -> Result<()>;

    /// The identity certificate bound to the device; `None` for an unknown
    /// device or one without a binding.
    async fn identity_for(&self, id: &EnrollmentId) -> Result<Option<Sha256>>;

    /// Moves the binding from `old` to `new` (a SCEP renewal), only if the
    /// device is bound to `old`; otherwise [`Error::IdentityMismatch`] and
    /// nothing changes.
    async fn rebind_identity(&self, id: &EnrollmentId, old: Sha256, new: Sha256) -> Result<()>;

    /// Records that the certificate `new` was issued (by SCEP `RenewalReq`)
    /// as the renewal of `old`, so that the device bound to `old` may be
    /// re-bound to `new` when it first presents it. Recording the same `new`
    /// again replaces the earlier record.
    async fn record_renewal(&self, old: Sha256, new: Sha256, now: UnixMillis) -> Result<()>;

    /// The certificate `new` renewed, if it was issued as a renewal.
    async fn renewed_from(&self, new: Sha256) -> Result<Option<Sha256>>;

    /// Escrows (`Some`) or removes (`None`) the device's bootstrap token.
    async fn set_bootstrap_token(&self, id: &EnrollmentId, token: Option<Vec<u8>>) -> Result<()>;

    /// The device's escrowed bootstrap token.
    async fn get_bootstrap_token(&self, id: &EnrollmentId) -> Result<Option<Vec<u8>>>;

    /// The device's `UnlockToken` from its last `TokenUpdate` that had one.
    async fn get_unlock_token(&self, id: &EnrollmentId) -> Result<Option<Vec<u8>>>;

    // --- Push ----------------------------------------------------------------

    /// Stores the outcome of a push sent to the device token `token`.
    ///
    /// `result.token_invalid` marks the enrollment's token invalid until its
    /// next `TokenUpdate`, but only when that push went to the token the
    /// enrollment has now, and, when APNs gave the time the token stopped
    /// being valid (`unregistered_at`), only when the token was not updated
    /// after it: a `TokenUpdate` that arrived while the push was under way
    /// keeps its fresh token. A later result without the mark does not
    /// clear it. [`Error::UnknownEnrollment`] for an unknown enrollment.
    async fn mark_push_result(
        &self,
        id: &EnrollmentId,
        token: &[u8],
        result: &PushResult,
    ) -> Result<()>;

    /// Stores many push outcomes in one transaction, each as
    /// [`mark_push_result`](Self::mark_push_result) does; at most
    /// [`MAX_PUSH_BATCH`] ([`Error::BatchTooLarge`]). Unknown enrollments
    /// are left out; returns how many were stored.
    async fn mark_push_results(&self, records: &[PushRecord]) -> Result<u64>;

    /// The push topics of the enrolled enrollments, each with how many use
    /// it, most used first (then by topic).
    async fn enrolled_topics(&self) -> Result<Vec<TopicCount>>;

    /// Where to push for each of `ids`, in their order, leaving out unknown
    /// enrollments, enrollments not enrolled, and those whose token is marked
    /// invalid.
    async fn push_targets(&self, ids: &[EnrollmentId]) -> Result<Vec<PushTarget>>;

    // --- Command queue -------------------------------------------------------

    /// Queues one command for every enrollment in `ids` (repeats count once),
    /// all or nothing. Refused with [`QueueError::Duplicate`] when a command
    /// with this UUID was ever queued, [`Error::UnknownEnrollment`] when an id
    /// is not stored, [`Error::NoTargets`] when `ids` is empty.
    async fn enqueue(&self, ids: &[EnrollmentId], cmd: NewCommand) -> Result<()>;

    /// Queues the already queued command `uuid` for more enrollments (a
    /// command for many devices is queued in batches; the new entries take
    /// the command's priority and queue time), all or nothing, at
    /// most [`MAX_PUSH_BATCH`] ([`Error::BatchTooLarge`]). Enrollments it
    /// is queued for already are left out; returns how many were added.
    /// [`QueueError::UnknownCommand`] for an unknown command,
    /// [`Error::UnknownEnrollment`] when an id is not stored.
    async fn enqueue_more(&self, uuid: &str, ids: &[EnrollmentId]) -> Result<u64>;

    /// Applies a command report from `id` and picks the command to answer
    /// with, in one transaction.
    ///
    /// `Idle` makes the commands set aside by `NotNow` eligible again.
    /// `NotNow` sets `command_uuid` aside. `Acknowledged`, `Error` and
    /// `CommandFormatError` complete it and store `result` (the report's
    /// plist bytes). Then the next eligible command, if any, is marked sent
    /// and returned.
    ///
    /// A report that names a command not queued for `id` (unknown, completed,
    /// cancelled, or queued for another enrollment) fails with
    /// [`QueueError::UnknownCommand`]; a non-`Idle` report without a UUID
    /// with [`QueueError::MissingCommandUuid`]. Either way nothing changes.
    async fn handle_report(
        &self,
        id: &EnrollmentId,
        status: Status,
        command_uuid: Option<&str>,
        result: Option<Vec<u8>>,
        now: UnixMillis,
    ) -> Result<ReportOutcome>;

    /// The command `uuid` and its progress for each enrollment.
    async fn get_command(&self, uuid: &str) -> Result<Option<CommandRecord>>;

    /// Cancels the command `uuid` for `id`, or for every enrollment when
    /// `id` is `None`, where it has not completed. Returns how many queue
    /// entries were cancelled (0 for an unknown command).
    async fn cancel_command(
        &self,
        uuid: &str,
        id: Option<&EnrollmentId>,
        now: UnixMillis,
    ) -> Result<usize>;

    /// How many commands are queued (not completed) for `id`.
    async fn queue_depth(&self, id: &EnrollmentId) -> Result<u64>;

    /// How many queue entries are open across all enrollments.
    async fn queue_depth_total(&self) -> Result<u64>;

    // --- Inventory -------------------------------------------------------------

    /// Stores the latest inventory of one kind, replacing the previous one.
    /// `DeviceInformation` also refreshes the enrollment's summary columns
    /// (serial number, model, OS version, device name, ...) from its
    /// `QueryResponses` keys, given at the top level or under
    /// `QueryResponses`.
    async fn put_inventory(
        &self,
        id: &EnrollmentId,
        kind: InventoryKind,
        data: &serde_json::Value,
        now: UnixMillis,
    ) -> Result<()>;

    /// The latest inventory of each kind stored for `id`
    /// ([`Error::UnknownEnrollment`] for an unknown enrollment).
    async fn get_inventory(&self, id: &EnrollmentId) -> Result<Inventory>;

    // --- Audit -----------------------------------------------------------------

    /// Appends to the audit log; returns the entry's id.
    async fn audit(&self, entry: &AuditEntry) -> Result<i64>;

    /// Audit entries with an id greater than `after`, oldest first, at most
    /// `limit` (clamped to `1..=`[`MAX_PAGE`]).
    async fn list_audit(&self, after: Option<i64>, limit: u32) -> Result<Vec<AuditRecord>>;

    // --- Software-update catalog publications -----------------------------------

    /// Records a catalog publication `sup-service` reported; returns its id.
    /// Only the latest [`MAX_PUBLICATIONS`] are kept: the same transaction
    /// deletes older ones (by id). Recordings take turns (on PostgreSQL
    /// under a table lock that lets reads go on), so the cap holds exactly.
    async fn record_publication(&self, publication: &NewPublication) -> Result<i64>;

    /// Publications with an id greater than `after`, oldest first, at most
    /// `limit` (clamped to `1..=`[`MAX_PAGE`]).
    async fn list_publications(&self, after: Option<i64>, limit: u32) -> Result<Vec<Publication>>;

    /// The publication recorded last (highest id), if any.
    async fn latest_publication(&self) -> Result<Option<Publication>>;

    // --- Automated Device Enrollment: links ----------------------------------

    /// Stores a DEP link, or replaces the token (`token_sealed`,
    /// `token_expiry`, `consumer_key`) of the stored link of that name,
    /// keeping its cursor, account, profile and devices. Returns whether the
    /// link is new. A name that is not 1 to 64 characters of
    /// `A-Z a-z 0-9 . _ -` is refused with [`Error::InvalidDepLinkName`] (as by
    /// every method taking a link name).
    async fn put_dep_link(&self, link: &NewDepLink) -> Result<bool>;

    /// The link `name`.
    async fn get_dep_link(&self, name: &str) -> Result<Option<DepLink>>;

    /// Every link, by name.
    async fn list_dep_links(&self) -> Result<Vec<DepLink>>;

    /// Deletes the link `name` with its devices and their history; returns
    /// whether it was stored.
    async fn delete_dep_link(&self, name: &str) -> Result<bool>;

    /// Stores the cursor to continue the device listing with, and which
    /// listing it continues (the caller stores it after every page).
    /// [`Error::UnknownDepLink`] for an unknown link, as for every change to
    /// a link or its devices.
    async fn set_dep_cursor(
        &self,
        name: &str,
        cursor: Option<&str>,
        phase: DepPhase,
        now: UnixMillis,
    ) -> Result<()>;

    /// Records the end of a sync: when, whether it succeeded, and why not
    /// (`error` replaces the stored one, so a success clears it).
    async fn record_dep_sync(
        &self,
        name: &str,
        ok: bool,
        error: Option<&str>,
        now: UnixMillis,
    ) -> Result<()>;

    /// Stores Apple's `GET /account` answer (JSON text) and the fields of it
    /// shown in listings, replacing the stored ones.
    async fn set_dep_account(
        &self,
        name: &str,
        account_json: Option<&str>,
        server_name: Option<&str>,
        server_uuid: Option<&str>,
        org_name: Option<&str>,
        now: UnixMillis,
    ) -> Result<()>;

    /// Stores the enrollment profile defined for the link and the caller's
    /// hash of its definition.
    async fn set_dep_profile(
        &self,
        name: &str,
        profile_uuid: Option<&str>,
        profile_hash: Option<&str>,
        now: UnixMillis,
    ) -> Result<()>;

    // --- Automated Device Enrollment: devices ---------------------------------

    /// Stores one page of Apple's device records for the link, in one
    /// transaction.
    ///
    /// At most [`MAX_DEP_BATCH`] records ([`Error::BatchTooLarge`]), each
    /// with a serial number ([`Error::InvalidSerialNumber`]); either refusal
    /// stores nothing. Records apply in order; for a serial number that
    /// appears more than once, the last record is the one kept.
    ///
    /// * A serial number the link had not reported is stored
    ///   [`AssignStatus::Pending`] (`assign_at` is `now`).
    /// * A record whose `op_type` is `deleted` marks the device
    ///   [`deleted`](DepDevice::deleted); its fields left `None` keep their
    ///   stored values. Any other record replaces Apple's fields, and
    ///   `raw_json`, `op_type` and `op_date` are always the last record's.
    /// * A device that comes back after a removal (a record that is not
    ///   `deleted`, for a device that is, or that an earlier record of the
    ///   batch deleted) is no longer deleted and is pending again:
    ///   `assign_at` is `now`, its other assignment details are cleared.
    /// * Each record with an `op_type` is added to the device's history.
    ///
    /// The outcome counts each serial number once and lists those that
    /// became pending.
    async fn upsert_dep_devices(
        &self,
        link: &str,
        records: &[DepDeviceRecord],
        now: UnixMillis,
    ) -> Result<UpsertOutcome>;

    /// The device `serial_number` as the link reported it.
    async fn get_dep_device(&self, link: &str, serial_number: &str) -> Result<Option<DepDevice>>;

    /// The device `serial_number` on every link that reported it, by link.
    async fn find_dep_device(&self, serial_number: &str) -> Result<Vec<DepDevice>>;

    /// A page of devices in `(link, serial_number)` order (keyset
    /// pagination: pass the page's `next` as the following query's `after`).
    /// Devices stored while a listing goes on never make it repeat or skip
    /// one: each device stored throughout shows exactly once; one added
    /// meanwhile shows if it sorts after the cursor. [`Error::UnknownDepLink`]
    /// when `query.link` names an unknown link.
    async fn list_dep_devices(&self, query: &DepDeviceQuery) -> Result<DepDevicePage>;

    /// Serial numbers of the link's devices due for a profile assignment,
    /// oldest first (first seen, then serial number): those pending, those
    /// throttled whose `retry_after` has passed (or is not set), and those
    /// failed whose `retry_after` has passed (a failed device without one
    /// is failed for good); never deleted ones. At most `limit` (clamped to
    /// `1..=`[`MAX_DEP_BATCH`]).
    async fn dep_devices_to_assign(
        &self,
        link: &str,
        now: UnixMillis,
        limit: u32,
    ) -> Result<Vec<String>>;

    /// When the link's next throttled or failed device is due again (the
    /// earliest `retry_after` of those waiting), if any is waiting.
    async fn dep_next_assign_retry(&self, link: &str) -> Result<Option<UnixMillis>>;

    /// Records an assignment outcome for the link's devices `serials` (at
    /// most [`MAX_DEP_BATCH`], else [`Error::BatchTooLarge`]): sets their
    /// state, details, profile and `retry_after`, and `assign_at` to
    /// `assignment.now`; resets their
    /// [`assign_attempts`](DepDevice::assign_attempts), except for
    /// [`AssignStatus::Throttled`] (being throttled is not a failed try).
    /// Serial numbers the link does not have are left out; returns how many
    /// devices were updated.
    async fn set_dep_assignment(
        &self,
        link: &str,
        serials: &[String],
        assignment: &DepAssignment,
    ) -> Result<u64>;

    /// Records a failed try at assigning the profile to the link's devices
    /// `serials` (at most [`MAX_DEP_BATCH`]): each one's
    /// [`assign_attempts`](DepDevice::assign_attempts) goes up by one and it
    /// becomes [`AssignStatus::Failed`] with `failure`'s detail and profile.
    /// Below `failure.retry.max_attempts` tries it gets a `retry_after` of
    /// `now` plus [`DepRetryPolicy::delay`] of its count; at the limit it
    /// gets none and is failed for good. Serial numbers the link does not
    /// have are left out.
    async fn record_dep_assign_failure(
        &self,
        link: &str,
        serials: &[String],
        failure: &DepAssignFailure,
    ) -> Result<DepFailureOutcome>;

    /// Puts the link's [`AssignStatus::Assigned`] devices (not deleted) whose
    /// `assign_profile_uuid` is not `profile_uuid` back to
    /// [`AssignStatus::Pending`], with no retry time, no tries counted and
    /// `assign_at` `now`: the enrollment profile changed, and they are to
    /// get the new one. Returns how many.
    async fn requeue_dep_assignments(
        &self,
        link: &str,
        profile_uuid: &str,
        now: UnixMillis,
    ) -> Result<u64>;

    /// The device's history on the link, newest first, at most `limit`
    /// (clamped to `1..=`[`MAX_PAGE`]).
    async fn dep_device_events(
        &self,
        link: &str,
        serial_number: &str,
        limit: u32,
    ) -> Result<Vec<DepDeviceEvent>>;

    /// Deletes the history entries stored before `older_than`, on every
    /// link; returns how many.
    async fn prune_dep_events(&self, older_than: UnixMillis) -> Result<u64>;

    /// How many of the link's devices are in each assignment state, and how
    /// many are deleted.
    async fn count_dep_devices(&self, link: &str) -> Result<DepDeviceCounts>;

    // --- Operations ------------------------------------------------------------

    /// Checks that the database answers.
    async fn health(&self) -> Result<()>;

    // --- Apps and Books (VPP) ---------------------------------------------------

    /// Stores a content token, or the new file of the stored token of that
    /// name: its description, organisation type and name, expiry and sealed
    /// token are replaced, and `claimed_at` and `claim_error` cleared (the
    /// new file is to be claimed again); what the last claim learnt, the
    /// assets, their assignments and the sync outcome are kept. Returns
    /// whether the token is new. A name that is not 1 to
    /// [`MAX_VPP_TOKEN_NAME`] characters of `A-Z a-z 0-9 . _ -` is refused
    /// with [`Error::InvalidVppTokenName`] (as by every method taking a token
    /// name).
    async fn put_vpp_token(&self, token: &NewVppToken) -> Result<bool>;

    /// The token `name`.
    async fn get_vpp_token(&self, name: &str) -> Result<Option<VppToken>>;

    /// Every token, by name.
    async fn list_vpp_tokens(&self) -> Result<Vec<VppToken>>;

    /// Deletes the token `name` with its assets, their assignments and the
    /// notification ids seen for it; returns whether it was stored.
    async fn delete_vpp_token(&self, name: &str) -> Result<bool>;

    /// Records a successful claim of the token (`client/config`): stores what
    /// it learnt, sets `claimed_at` to `claim.now` and clears `claim_error`.
    /// [`Error::UnknownVppToken`] for an unknown token, as for every change
    /// to a token, its assets or its assignments.
    async fn set_vpp_claim(&self, name: &str, claim: &VppClaim) -> Result<()>;

    /// Records why claiming the token failed (`claimed_at` is kept).
    async fn record_vpp_claim_error(&self, name: &str, error: &str, now: UnixMillis) -> Result<()>;

    /// Records the end of a sync pass: when, whether it succeeded, and why
    /// not (`error` replaces the stored one, so a success clears it).
    async fn record_vpp_sync(
        &self,
        name: &str,
        ok: bool,
        error: Option<&str>,
        now: UnixMillis,
    ) -> Result<()>;

    /// Stores one page of an asset walk (`GET assets`), in one transaction:
    /// at most [`MAX_VPP_BATCH`] records ([`Error::BatchTooLarge`], nothing
    /// stored), keyed `(adam_id, pricing_param)` (a key repeated within the
    /// page counts once, its last record kept). Apple's fields are replaced
    /// and the row marked with the walk's `generation`; the looked-up
    /// metadata is kept. See [`finish_vpp_asset_walk`](Self::finish_vpp_asset_walk).
    async fn upsert_vpp_assets(
        &self,
        token: &str,
        records: &[VppAssetRecord],
        generation: i64,
        now: UnixMillis,
    ) -> Result<()>;

    /// Ends a complete asset walk whose pages were stored with
    /// `generation`: deletes the token's assets of any other generation
    /// (Apple no longer lists them) and returns how many, and stores the
    /// walk's `versionId` and `now` as the token's `assets_version` and
    /// `assets_synced_at`. A walk that never gets here (it failed, or
    /// started again) deletes nothing.
    ///
    /// An asset deleted here takes its assignments with it, active ones
    /// included: the store keeps no assignment of an asset Apple no longer
    /// reports (its licenses are gone with it).
    async fn finish_vpp_asset_walk(
        &self,
        token: &str,
        generation: i64,
        version_id: Option<&str>,
        now: UnixMillis,
    ) -> Result<u64>;

    /// The asset, with its [`requested`](VppAsset::requested) count.
    async fn get_vpp_asset(
        &self,
        token: &str,
        adam_id: &str,
        pricing_param: &str,
    ) -> Result<Option<VppAsset>>;

    /// A page of assets in `(token, adam_id, pricing_param)` order (keyset
    /// pagination: pass the page's `next` as the following query's `after`).
    /// [`Error::UnknownVppToken`] when `query.token` names an unknown token.
    async fn list_vpp_assets(&self, query: &VppAssetQuery) -> Result<VppAssetPage>;

    /// Applies an `ASSET_COUNT` notification: the asset's `total_count` and
    /// `available_count` change by `delta`, never below 0; an unlimited
    /// asset's (no counts) stay as they are. `false` when the token has no
    /// such asset (a new one: the next walk brings it in).
    async fn adjust_vpp_asset_count(
        &self,
        token: &str,
        adam_id: &str,
        pricing_param: &str,
        delta: i64,
        now: UnixMillis,
    ) -> Result<bool>;

    /// Stores the app metadata of `adam_id` (every pricing param of it the
    /// token has) and sets their `metadata_at` to `now`, also when
    /// `metadata` is empty (the lookup found nothing: not asked again).
    /// Returns how many assets were updated.
    async fn set_vpp_asset_metadata(
        &self,
        token: &str,
        adam_id: &str,
        metadata: &VppAssetMetadata,
        now: UnixMillis,
    ) -> Result<u64>;

    /// The token's adam ids that have an asset without metadata
    /// (`metadata_at` not set), each once, in order, at most `limit`
    /// (clamped to `1..=`[`MAX_VPP_BATCH`]).
    async fn vpp_assets_without_metadata(&self, token: &str, limit: u32) -> Result<Vec<String>>;

    /// Asks for licenses of an asset for devices, in one transaction.
    ///
    /// At most [`MAX_VPP_BATCH`] devices ([`Error::BatchTooLarge`]), each
    /// with a serial number ([`Error::InvalidSerialNumber`]); a serial
    /// number given twice counts once (its last UDID kept). The asset must
    /// be stored ([`Error::UnknownVppAsset`]) and device-assignable
    /// ([`Error::VppNotDeviceAssignable`]).
    ///
    /// * A device whose assignment is [active](VppAssignState::is_active) is
    ///   left as it is, and so is one being disassociated
    ///   ([`VppAssignState::Disassociating`]: the job under way at Apple is
    ///   not overtaken; ask again once it is removed). Both count as
    ///   `unchanged`.
    /// * Every other device is (re)started: new ones, failed and removed
    ///   ones, and removals not yet sent to Apple
    ///   ([`PendingRemove`](VppAssignState::PendingRemove),
    ///   [`Removing`](VppAssignState::Removing),
    ///   [`PendingDisassociate`](VppAssignState::PendingDisassociate): the
    ///   device still holds the license, associating it again is harmless,
    ///   and a remove command under way is forgotten, its answer no longer
    ///   found by [`vpp_assignments_by_command`](Self::vpp_assignments_by_command)).
    ///   Each needs a license: when there are more of them than are free
    ///   (Apple's `available_count` less [`requested`](VppAsset::requested);
    ///   no limit for an unlimited asset), the request fails with
    ///   [`Error::NotEnoughVppLicenses`] and changes nothing. Otherwise each
    ///   becomes [`VppAssignState::PendingAssociate`] with the request's
    ///   UDID, options and requester, no attempts, no retry time, no event,
    ///   command or detail (`created_at` is kept for a restarted one).
    ///
    /// On PostgreSQL the asset's row is locked for the transaction, so two
    /// requests at once never both take the last licenses.
    async fn request_vpp_assignments(
        &self,
        request: &VppAssignRequest,
    ) -> Result<VppRequestOutcome>;

    /// Asks to remove the asset from devices `serials` (at most
    /// [`MAX_VPP_BATCH`]) and give their licenses back: an installing or
    /// installed assignment becomes [`VppAssignState::PendingRemove`]; one
    /// still [`PendingAssociate`](VppAssignState::PendingAssociate) was never
    /// sent to Apple and becomes [`Removed`](VppAssignState::Removed) at
    /// once. Each one changed has no event, command, retry time or attempts
    /// left, and `requested_by` becomes `actor`. Others are left as they
    /// are: one being associated (the job under way at Apple is followed to
    /// its end first; ask again then), failed, or already on its way out.
    /// Returns how many changed. [`Error::UnknownVppAsset`] for an unknown
    /// asset.
    ///
    /// The service's worker may have sent a pending association just
    /// before; when it then records it ([`set_vpp_assignments`](Self::set_vpp_assignments)),
    /// the assignment is active again and the removal has to be asked again.
    async fn request_vpp_removals(
        &self,
        token: &str,
        adam_id: &str,
        pricing_param: &str,
        serials: &[String],
        actor: &str,
        now: UnixMillis,
    ) -> Result<u64>;

    /// The token's assignments in `state` that are due (`next_at` not set,
    /// or at most `now`), the least recently changed first (then by asset
    /// and serial number), at most `limit` (clamped to
    /// `1..=`[`MAX_VPP_BATCH`]).
    async fn vpp_assignments_in_state(
        &self,
        token: &str,
        state: VppAssignState,
        now: UnixMillis,
        limit: u32,
    ) -> Result<Vec<VppAssignment>>;

    /// Moves the asset's assignments of the devices `serials` (at most
    /// [`MAX_VPP_BATCH`]) to `update`: every field is set as given (`None`
    /// clears), `attempts` goes up by one when `update.count_attempt`, else
    /// back to 0, and `updated_at` is `update.now`. Whatever their state:
    /// the caller decides the transitions. Serial numbers without an
    /// assignment of the asset are left out; returns how many changed.
    async fn set_vpp_assignments(
        &self,
        token: &str,
        adam_id: &str,
        pricing_param: &str,
        serials: &[String],
        update: &VppAssignUpdate,
    ) -> Result<u64>;

    /// The assignments whose `event_id` is `event_id`, on any token, by key.
    async fn vpp_assignments_by_event(&self, event_id: &str) -> Result<Vec<VppAssignment>>;

    /// The assignment whose `command_uuid` is `command_uuid` (the first by
    /// key, should several have it).
    async fn vpp_assignments_by_command(&self, command_uuid: &str)
    -> Result<Option<VppAssignment>>;

    /// A page of assignments in `(token, adam_id, pricing_param,
    /// serial_number)` order (keyset pagination: pass the page's `next` as
    /// the following query's `after`). [`Error::UnknownVppToken`] when
    /// `query.token` names an unknown token.
    async fn list_vpp_assignments(&self, query: &VppAssignmentQuery) -> Result<VppAssignmentPage>;

    /// How many of the token's assignments are in each state (every state
    /// present, 0 when none is in it).
    async fn count_vpp_assignments(
        &self,
        token: &str,
    ) -> Result<std::collections::BTreeMap<VppAssignState, u64>>;

    /// Records the notification `notification_id` received for the token
    /// at `now`; `true` the first time the id is seen, `false` for a repeat
    /// (Apple may send one again: drop it). Ids are remembered until
    /// [`prune_vpp_notifications`](Self::prune_vpp_notifications) forgets
    /// them, or the token is deleted.
    async fn first_vpp_notification(
        &self,
        notification_id: &str,
        token: &str,
        now: UnixMillis,
    ) -> Result<bool>;

    /// Forgets the notification ids received before `before`, on every
    /// token; returns how many.
    async fn prune_vpp_notifications(&self, before: UnixMillis) -> Result<u64>;
}

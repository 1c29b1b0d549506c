//! Apps and Books (volume purchasing, "VPP"): content tokens, the assets
//! (apps and books) each token's location owns with their license counts,
//! and the service's license assignments to devices.
//!
//! A *token* is one location's content token in Apple Business Manager;
//! a site may have several. For each, the store keeps the sealed token, what
//! Apple said when the service claimed it (location, country, ...), the
//! assets as the last complete walk of `GET assets` found them (each page is
//! stored with the walk's *generation*; finishing the walk drops assets it
//! did not see), and the assignments the service manages: one row per
//! (token, asset, device serial number) going through the states of
//! [`VppAssignState`].

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};
use std::fmt;

use crate::common::Columns;
use crate::error::{Error, Result};
use crate::model::UnixMillis;

/// The most records one batch call takes (asset pages, serial numbers).
pub const MAX_VPP_BATCH: usize = 1000;

/// The longest token name.
pub const MAX_VPP_TOKEN_NAME: usize = 64;

/// The organisation type of a token, as the product this replaces records
/// it.
#[derive(Clone, Copy, Debug, Default, Eq, Hash, Ord, PartialEq, PartialOrd)]
pub enum VppOrgType {
    /// Apple Business Manager.
    #[default]
    Business,
    /// Apple School Manager.
    Education,
}

impl VppOrgType {
    /// Both.
    pub const ALL: [Self; 2] = [Self::Business, Self::Education];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Business => "business",
            Self::Education => "education",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

impl fmt::Display for VppOrgType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A token to store, or the new file of a stored one
/// ([`Store::put_vpp_token`](crate::Store::put_vpp_token)).
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct NewVppToken {
    /// 1 to [`MAX_VPP_TOKEN_NAME`] characters of `A-Z a-z 0-9 . _ -`.
    pub name: String,
    /// Free text for administrators.
    pub description: String,
    /// Business or education.
    pub org_type: VppOrgType,
    /// The token file, encrypted by the caller.
    pub token_sealed: String,
    /// `orgName` of the token.
    pub org_name: String,
    /// `expDate` of the token.
    pub token_expiry: Option<UnixMillis>,
    /// When it was stored.
    pub now: UnixMillis,
}

/// What the service learnt claiming a token (`client/config`), for
/// [`Store::set_vpp_claim`](crate::Store::set_vpp_claim).
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct VppClaim {
    /// The notification secret given to Apple, encrypted by the caller.
    pub notify_secret_sealed: Option<String>,
    /// `locationName`.
    pub location_name: Option<String>,
    /// `uId`.
    pub u_id: Option<String>,
    /// `countryISO2ACode`.
    pub country: Option<String>,
    /// `defaultPlatform`.
    pub default_platform: Option<String>,
    /// When.
    pub now: UnixMillis,
}

/// A stored token.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct VppToken {
    /// The name.
    pub name: String,
    /// Free text.
    pub description: String,
    /// Business or education.
    pub org_type: VppOrgType,
    /// The encrypted token file.
    pub token_sealed: String,
    /// `orgName`.
    pub org_name: String,
    /// `expDate`.
    pub token_expiry: Option<UnixMillis>,
    /// The encrypted notification secret, once claimed.
    pub notify_secret_sealed: Option<String>,
    /// `locationName`, once claimed.
    pub location_name: Option<String>,
    /// `uId`, once claimed.
    pub u_id: Option<String>,
    /// `countryISO2ACode`, once claimed.
    pub country: Option<String>,
    /// `defaultPlatform`, once claimed.
    pub default_platform: Option<String>,
    /// When the service last claimed it; `None` until it has (a new token
    /// file clears it, so the new one is claimed again).
    pub claimed_at: Option<UnixMillis>,
    /// Why claiming failed (another MDM server manages it, ...), until a
    /// claim succeeds.
    pub claim_error: Option<String>,
    /// The `versionId` of the last complete asset walk.
    pub assets_version: Option<String>,
    /// When the last complete asset walk ended.
    pub assets_synced_at: Option<UnixMillis>,
    /// When the last sync pass ended.
    pub last_sync_at: Option<UnixMillis>,
    /// Whether it succeeded.
    pub last_sync_ok: Option<bool>,
    /// Why it failed.
    pub last_error: Option<String>,
    /// When first stored.
    pub created_at: UnixMillis,
    /// When anything about it last changed.
    pub updated_at: UnixMillis,
}

/// One asset as a page of `GET assets` describes it, for
/// [`Store::upsert_vpp_assets`](crate::Store::upsert_vpp_assets).
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct VppAssetRecord {
    /// `adamId`.
    pub adam_id: String,
    /// `pricingParam`.
    pub pricing_param: String,
    /// `productType`.
    pub product_type: Option<String>,
    /// `totalCount` (absent for unlimited assets).
    pub total_count: Option<i64>,
    /// `assignedCount`.
    pub assigned_count: i64,
    /// `availableCount` (absent for unlimited assets).
    pub available_count: Option<i64>,
    /// `retiredCount`.
    pub retired_count: Option<i64>,
    /// `deviceAssignable`.
    pub device_assignable: bool,
    /// `revocable`.
    pub revocable: bool,
    /// `supportedPlatforms`.
    pub platforms: Vec<String>,
}

/// App metadata from the content lookup, for
/// [`Store::set_vpp_asset_metadata`](crate::Store::set_vpp_asset_metadata).
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct VppAssetMetadata {
    /// The app's name.
    pub name: Option<String>,
    /// Its bundle identifier (what `RemoveApplication` needs).
    pub bundle_id: Option<String>,
    /// An icon URL.
    pub icon_url: Option<String>,
    /// The current version.
    pub version: Option<String>,
}

/// A stored asset.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct VppAsset {
    /// The token.
    pub token: String,
    /// Apple's description of it.
    pub record: VppAssetRecord,
    /// Metadata, once looked up.
    pub metadata: VppAssetMetadata,
    /// When metadata was last stored.
    pub metadata_at: Option<UnixMillis>,
    /// Licenses the service has asked for and Apple has not yet confirmed:
    /// assignments in [`VppAssignState::PendingAssociate`] or
    /// [`VppAssignState::Associating`] (they are not in Apple's counts yet).
    pub requested: i64,
    /// When the row last changed.
    pub updated_at: UnixMillis,
}

impl VppAsset {
    /// Licenses free for new requests: Apple's available count less what
    /// the service has already asked for (`None`: unlimited).
    pub fn free(&self) -> Option<i64> {
        self.record
            .available_count
            .map(|a| a.saturating_sub(self.requested))
    }
}

/// Which assets to list, in the order of `(token, adam_id, pricing_param)`.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct VppAssetQuery {
    /// Only this token's.
    pub token: Option<String>,
    /// Start after this key: the `next` of the previous page.
    pub after: Option<(String, String, String)>,
    /// At most this many (clamped to `1..=`[`MAX_PAGE`](crate::MAX_PAGE)).
    pub limit: u32,
}

/// A page of assets.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct VppAssetPage {
    /// The assets.
    pub items: Vec<VppAsset>,
    /// The key to continue after, when there may be more.
    pub next: Option<(String, String, String)>,
}

/// Where one license assignment stands.
///
/// Assigning: `PendingAssociate` → (associate sent) `Associating` → (Apple
/// confirmed) `Installing` (`InstallApplication` queued) → `Installed`
/// (the device acknowledged), or `Failed`. Removing: `PendingRemove` →
/// (`RemoveApplication` queued, if the device is enrolled and the bundle id
/// known) `Removing` → `PendingDisassociate` → (disassociate sent)
/// `Disassociating` → `Removed`.
#[derive(Clone, Copy, Debug, Default, Eq, Hash, Ord, PartialEq, PartialOrd)]
pub enum VppAssignState {
    /// To be associated with Apple.
    #[default]
    PendingAssociate,
    /// Associate sent; waiting for its event.
    Associating,
    /// Associated; the install command is queued.
    Installing,
    /// The device acknowledged the install.
    Installed,
    /// Associating or installing failed (the detail says why).
    Failed,
    /// An administrator asked to remove it.
    PendingRemove,
    /// The remove command is queued.
    Removing,
    /// To be disassociated with Apple.
    PendingDisassociate,
    /// Disassociate sent; waiting for its event.
    Disassociating,
    /// The license is back.
    Removed,
}

impl VppAssignState {
    /// Every state.
    pub const ALL: [Self; 10] = [
        Self::PendingAssociate,
        Self::Associating,
        Self::Installing,
        Self::Installed,
        Self::Failed,
        Self::PendingRemove,
        Self::Removing,
        Self::PendingDisassociate,
        Self::Disassociating,
        Self::Removed,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PendingAssociate => "pending_associate",
            Self::Associating => "associating",
            Self::Installing => "installing",
            Self::Installed => "installed",
            Self::Failed => "failed",
            Self::PendingRemove => "pending_remove",
            Self::Removing => "removing",
            Self::PendingDisassociate => "pending_disassociate",
            Self::Disassociating => "disassociating",
            Self::Removed => "removed",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Whether the device holds (or is getting) the license: a new request
    /// for it changes nothing.
    pub fn is_active(self) -> bool {
        matches!(
            self,
            Self::PendingAssociate | Self::Associating | Self::Installing | Self::Installed
        )
    }

    /// Whether the license is asked for but not yet in Apple's counts.
    pub fn is_requested(self) -> bool {
        matches!(self, Self::PendingAssociate | Self::Associating)
    }
}

impl fmt::Display for VppAssignState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Devices to give an asset's licenses, for
/// [`Store::request_vpp_assignments`](crate::Store::request_vpp_assignments).
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct VppAssignRequest {
    /// The token.
    pub token: String,
    /// The asset's `adamId`.
    pub adam_id: String,
    /// Its `pricingParam`.
    pub pricing_param: String,
    /// `(serial number, enrolled device UDID)` of each device (at most
    /// [`MAX_VPP_BATCH`]).
    pub devices: Vec<(String, Option<String>)>,
    /// Install options the service keeps with the assignment (JSON text).
    pub options_json: String,
    /// Who asked.
    pub requested_by: String,
    /// When.
    pub now: UnixMillis,
}

/// What [`Store::request_vpp_assignments`](crate::Store::request_vpp_assignments)
/// did.
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
pub struct VppRequestOutcome {
    /// Assignments created or restarted (from failed or removed, or from a
    /// removal not yet sent to Apple).
    pub requested: u32,
    /// Devices that already hold or are getting the license (and those
    /// whose license is being given back to Apple right now,
    /// [`VppAssignState::Disassociating`], left alone).
    pub unchanged: u32,
}

/// A new state for some assignments, for
/// [`Store::set_vpp_assignments`](crate::Store::set_vpp_assignments). Every
/// field is set as given (`None` clears).
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct VppAssignUpdate {
    /// The state.
    pub state: VppAssignState,
    /// The Apple event id (associating, disassociating).
    pub event_id: Option<String>,
    /// The MDM command (installing, removing).
    pub command_uuid: Option<String>,
    /// Why (failures), or what happened.
    pub detail: Option<String>,
    /// Not to be worked on before this time (retries).
    pub next_at: Option<UnixMillis>,
    /// Count this as one more attempt (else the count restarts at 0).
    pub count_attempt: bool,
    /// When.
    pub now: UnixMillis,
}

/// A stored assignment.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct VppAssignment {
    /// The token.
    pub token: String,
    /// The asset's `adamId`.
    pub adam_id: String,
    /// Its `pricingParam`.
    pub pricing_param: String,
    /// The device's serial number.
    pub serial_number: String,
    /// The enrolled device the install goes to.
    pub udid: Option<String>,
    /// Where it stands.
    pub state: VppAssignState,
    /// The Apple event id of the job under way.
    pub event_id: Option<String>,
    /// The MDM command under way.
    pub command_uuid: Option<String>,
    /// Why it failed, or what happened last.
    pub detail: Option<String>,
    /// Install options (JSON text).
    pub options_json: String,
    /// Attempts counted by updates.
    pub attempts: u32,
    /// Not to be worked on before this time.
    pub next_at: Option<UnixMillis>,
    /// Who asked.
    pub requested_by: String,
    /// When first requested.
    pub created_at: UnixMillis,
    /// When it last changed.
    pub updated_at: UnixMillis,
}

/// Which assignments to list, in the order of `(token, adam_id,
/// pricing_param, serial_number)`.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct VppAssignmentQuery {
    /// Only this token's.
    pub token: Option<String>,
    /// Only this asset's.
    pub adam_id: Option<String>,
    /// Only this device's.
    pub serial_number: Option<String>,
    /// Only in this state.
    pub state: Option<VppAssignState>,
    /// Start after this key: the `next` of the previous page.
    pub after: Option<(String, String, String, String)>,
    /// At most this many (clamped to `1..=`[`MAX_PAGE`](crate::MAX_PAGE)).
    pub limit: u32,
}

/// A page of assignments.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct VppAssignmentPage {
    /// The assignments.
    pub items: Vec<VppAssignment>,
    /// The key to continue after, when there may be more.
    pub next: Option<(String, String, String, String)>,
}

// --- Shared by the backends ---------------------------------------------------

/// Refuses a token name that is not 1..=64 characters of `[A-Za-z0-9._-]`.
pub(crate) fn check_token_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= MAX_VPP_TOKEN_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidVppTokenName(name.to_owned()))
    }
}

/// Refuses more than [`MAX_VPP_BATCH`] items.
pub(crate) fn check_batch(len: usize) -> Result<()> {
    if len > MAX_VPP_BATCH {
        return Err(Error::BatchTooLarge {
            len,
            max: MAX_VPP_BATCH,
        });
    }
    Ok(())
}

/// A limit clamped to `1..=MAX_VPP_BATCH`.
pub(crate) fn clamp_batch(limit: u32) -> u32 {
    // MAX_VPP_BATCH is 1000: it fits.
    limit.clamp(1, MAX_VPP_BATCH as u32)
}

/// The error for an unknown token.
pub(crate) fn unknown_token(name: &str) -> Error {
    Error::UnknownVppToken(name.to_owned())
}

/// The error for an unknown asset.
pub(crate) fn unknown_asset(token: &str, adam_id: &str, pricing_param: &str) -> Error {
    Error::UnknownVppAsset {
        token: token.to_owned(),
        adam_id: adam_id.to_owned(),
        pricing_param: pricing_param.to_owned(),
    }
}

/// Checks a page of assets and keeps one record per `(adam_id,
/// pricing_param)`, the last one, in the order each key first appears (one
/// statement cannot change a row twice).
pub(crate) fn fold_assets(records: &[VppAssetRecord]) -> Result<Vec<&VppAssetRecord>> {
    check_batch(records.len())?;
    let mut index: HashMap<(&str, &str), usize> = HashMap::with_capacity(records.len());
    let mut out: Vec<&VppAssetRecord> = Vec::with_capacity(records.len());
    for r in records {
        match index.get(&(r.adam_id.as_str(), r.pricing_param.as_str())) {
            Some(&i) => out[i] = r,
            None => {
                index.insert((&r.adam_id, &r.pricing_param), out.len());
                out.push(r);
            }
        }
    }
    Ok(out)
}

/// Checks the devices of a request and keeps one entry per serial number,
/// the last one, in the order each first appears.
pub(crate) fn fold_devices(
    devices: &[(String, Option<String>)],
) -> Result<Vec<(&str, Option<&str>)>> {
    check_batch(devices.len())?;
    let mut index: HashMap<&str, usize> = HashMap::with_capacity(devices.len());
    let mut out: Vec<(&str, Option<&str>)> = Vec::with_capacity(devices.len());
    for (serial, udid) in devices {
        if serial.is_empty() {
            return Err(Error::InvalidSerialNumber(serial.clone()));
        }
        let entry = (serial.as_str(), udid.as_deref());
        match index.get(serial.as_str()) {
            Some(&i) => out[i] = entry,
            None => {
                index.insert(serial, out.len());
                out.push(entry);
            }
        }
    }
    Ok(out)
}

/// Checks the serial numbers of a change and drops repeats.
pub(crate) fn fold_serials(serials: &[String]) -> Result<Vec<&str>> {
    check_batch(serials.len())?;
    let mut seen = std::collections::HashSet::with_capacity(serials.len());
    Ok(serials
        .iter()
        .map(String::as_str)
        .filter(|s| seen.insert(*s))
        .collect())
}

/// Whether a request for a device whose assignment is in `prior` (`None`:
/// none stored) (re)starts it at [`VppAssignState::PendingAssociate`].
///
/// Active assignments stay as they are, and so does one being disassociated
/// (a job under way at Apple that a new association could overtake). Every
/// other state restarts: failed and removed ones, and removals that have not
/// reached Apple yet (`pending_remove`, `removing`, `pending_disassociate`:
/// the license is still the device's, and associating it again is harmless).
pub(crate) fn restarts(prior: Option<VppAssignState>) -> bool {
    match prior {
        None => true,
        Some(s) => RESTARTABLE.contains(&s),
    }
}

/// The states a request restarts (see [`restarts`]).
pub(crate) const RESTARTABLE: [VppAssignState; 5] = [
    VppAssignState::Failed,
    VppAssignState::Removed,
    VppAssignState::PendingRemove,
    VppAssignState::Removing,
    VppAssignState::PendingDisassociate,
];

/// The state a removal request moves an assignment in `s` to, if any:
/// one not yet sent to Apple is removed at once, an associated one is to
/// be removed; others stay (associating: the job under way at Apple is
/// followed to its end first).
pub(crate) fn removal_target(s: VppAssignState) -> Option<VppAssignState> {
    match s {
        VppAssignState::PendingAssociate => Some(VppAssignState::Removed),
        VppAssignState::Installing | VppAssignState::Installed => {
            Some(VppAssignState::PendingRemove)
        }
        _ => None,
    }
}

/// The detail a removal leaves on an assignment removed before it reached
/// Apple.
pub(crate) const REMOVED_UNSENT: &str = "removed before the license was asked of Apple";

/// Refuses a request that needs more licenses than are free:
/// `available` (`None`: unlimited) less `requested`.
pub(crate) fn check_licenses(needed: usize, available: Option<i64>, requested: i64) -> Result<()> {
    let Some(available) = available else {
        return Ok(());
    };
    let free = available.saturating_sub(requested).max(0);
    let needed = needed as u64;
    if needed > free as u64 {
        return Err(Error::NotEnoughVppLicenses {
            needed,
            free: free as u64,
        });
    }
    Ok(())
}

/// A SQL list of state names, for `IN (...)`.
pub(crate) fn state_list(states: &[VppAssignState]) -> String {
    states
        .iter()
        .map(|s| format!("'{s}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The condition of the states counted as requested. Spelled exactly as
/// the partial index `vpp_assignments_requested` is, so that it serves it.
pub(crate) const REQUESTED: &str = "state IN ('pending_associate', 'associating')";

/// The columns of a token, in the order [`token_from_row`] reads them.
pub(crate) const TOKEN_COLUMNS: &str = "name, description, org_type, token_sealed, org_name, \
    token_expiry, notify_secret_sealed, location_name, u_id, country, default_platform, \
    claimed_at, claim_error, assets_version, assets_synced_at, last_sync_at, last_sync_ok, \
    last_error, created_at, updated_at";

/// A [`VppToken`] from a row of [`TOKEN_COLUMNS`].
pub(crate) fn token_from_row(r: &impl Columns) -> Result<VppToken> {
    let org_type = r.string(2)?;
    Ok(VppToken {
        name: r.string(0)?,
        description: r.string(1)?,
        org_type: VppOrgType::parse(&org_type)
            .ok_or_else(|| Error::corrupt("vpp_tokens.org_type", org_type))?,
        token_sealed: r.string(3)?,
        org_name: r.string(4)?,
        token_expiry: r.opt_int(5)?,
        notify_secret_sealed: r.opt_string(6)?,
        location_name: r.opt_string(7)?,
        u_id: r.opt_string(8)?,
        country: r.opt_string(9)?,
        default_platform: r.opt_string(10)?,
        claimed_at: r.opt_int(11)?,
        claim_error: r.opt_string(12)?,
        assets_version: r.opt_string(13)?,
        assets_synced_at: r.opt_int(14)?,
        last_sync_at: r.opt_int(15)?,
        last_sync_ok: r.opt_bool(16)?,
        last_error: r.opt_string(17)?,
        created_at: r.int(18)?,
        updated_at: r.int(19)?,
    })
}

/// The columns of an asset (table alias `x`), in the order
/// [`asset_from_row`] reads them; the last one counts its requested
/// licenses through the partial index `vpp_assignments_requested`.
pub(crate) const ASSET_COLUMNS: &str = "x.token, x.adam_id, x.pricing_param, x.product_type, \
    x.total_count, x.assigned_count, x.available_count, x.retired_count, x.device_assignable, \
    x.revocable, x.platforms, x.name, x.bundle_id, x.icon_url, x.version, x.metadata_at, \
    x.updated_at, (SELECT count(*) FROM vpp_assignments a \
    WHERE a.token = x.token AND a.adam_id = x.adam_id AND a.pricing_param = x.pricing_param \
    AND state IN ('pending_associate', 'associating'))";

/// A [`VppAsset`] from a row of [`ASSET_COLUMNS`].
pub(crate) fn asset_from_row(r: &impl Columns) -> Result<VppAsset> {
    Ok(VppAsset {
        token: r.string(0)?,
        record: VppAssetRecord {
            adam_id: r.string(1)?,
            pricing_param: r.string(2)?,
            product_type: r.opt_string(3)?,
            total_count: r.opt_int(4)?,
            assigned_count: r.int(5)?,
            available_count: r.opt_int(6)?,
            retired_count: r.opt_int(7)?,
            device_assignable: r.boolean(8)?,
            revocable: r.boolean(9)?,
            platforms: platforms_from_json(&r.string(10)?)?,
        },
        metadata: VppAssetMetadata {
            name: r.opt_string(11)?,
            bundle_id: r.opt_string(12)?,
            icon_url: r.opt_string(13)?,
            version: r.opt_string(14)?,
        },
        metadata_at: r.opt_int(15)?,
        updated_at: r.int(16)?,
        requested: r.int(17)?,
    })
}

/// How `supportedPlatforms` is stored: a JSON array of strings.
pub(crate) fn platforms_json(platforms: &[String]) -> String {
    serde_json::Value::from(platforms.to_vec()).to_string()
}

fn platforms_from_json(s: &str) -> Result<Vec<String>> {
    serde_json::from_str(s).map_err(|e| Error::corrupt("vpp_assets.platforms", format!("{e}: {s}")))
}

/// The columns of an assignment, in the order [`assignment_from_row`] reads
/// them.
pub(crate) const ASSIGNMENT_COLUMNS: &str = "token, adam_id, pricing_param, serial_number, \
    udid, state, event_id, command_uuid, detail, options_json, attempts, next_at, \
    requested_by, created_at, updated_at";

/// A [`VppAssignment`] from a row of [`ASSIGNMENT_COLUMNS`].
pub(crate) fn assignment_from_row(r: &impl Columns) -> Result<VppAssignment> {
    let attempts = r.int(10)?;
    Ok(VppAssignment {
        token: r.string(0)?,
        adam_id: r.string(1)?,
        pricing_param: r.string(2)?,
        serial_number: r.string(3)?,
        udid: r.opt_string(4)?,
        state: state(&r.string(5)?)?,
        event_id: r.opt_string(6)?,
        command_uuid: r.opt_string(7)?,
        detail: r.opt_string(8)?,
        options_json: r.string(9)?,
        attempts: u32::try_from(attempts)
            .map_err(|_| Error::corrupt("vpp_assignments.attempts", attempts.to_string()))?,
        next_at: r.opt_int(11)?,
        requested_by: r.string(12)?,
        created_at: r.int(13)?,
        updated_at: r.int(14)?,
    })
}

/// The stored name of an assignment state, parsed.
pub(crate) fn state(s: &str) -> Result<VppAssignState> {
    VppAssignState::parse(s).ok_or_else(|| Error::corrupt("vpp_assignments.state", s))
}

/// Counts with every state present, at 0.
pub(crate) fn empty_counts() -> BTreeMap<VppAssignState, u64> {
    VppAssignState::ALL.into_iter().map(|s| (s, 0)).collect()
}

/// Adds one `(state, count)` row to the counts.
pub(crate) fn add_count(counts: &mut BTreeMap<VppAssignState, u64>, s: &str, n: i64) -> Result<()> {
    let n = u64::try_from(n).map_err(|_| Error::corrupt("vpp_assignments count", n.to_string()))?;
    *counts.entry(state(s)?).or_insert(0) += n;
    Ok(())
}

/// Counts per state of one token (`{mark}1`), through the index leading
/// with `(token, state)`.
pub(crate) fn count_sql(mark: char) -> String {
    format!("SELECT state, count(*) FROM vpp_assignments WHERE token = {mark}1 GROUP BY state")
}

/// The assignments of token `{mark}1` in state `{mark}2` due at `{mark}3`,
/// oldest change first, at most `{mark}4`: the order is that of the index
/// `vpp_assignments_due`, so the rows not due yet are the only ones read
/// past the batch.
pub(crate) fn due_sql(mark: char) -> String {
    format!(
        "SELECT {ASSIGNMENT_COLUMNS} FROM vpp_assignments
         WHERE token = {mark}1 AND state = {mark}2 AND (next_at IS NULL OR next_at <= {mark}3)
         ORDER BY updated_at, adam_id, pricing_param, serial_number
         LIMIT {mark}4"
    )
}

/// (Re)starts the assignment of one device or several: `{mark}1` token,
/// `{mark}2` adam id, `{mark}3` pricing param, `{rows}` the source of
/// `(serial_number, udid)` (a `VALUES` row or an `unnest`), `{mark}4`
/// options, `{mark}5` requested by, `{mark}6` now. A row that is not in a
/// [restartable](RESTARTABLE) state is left as it is (so a concurrent change
/// to a state this request would not restart is never undone).
pub(crate) fn request_sql(mark: char, rows: &str) -> String {
    let restartable = state_list(&RESTARTABLE);
    format!(
        "INSERT INTO vpp_assignments (token, adam_id, pricing_param, serial_number, udid, state,
             options_json, attempts, requested_by, created_at, updated_at)
         SELECT CAST({mark}1 AS TEXT), CAST({mark}2 AS TEXT), CAST({mark}3 AS TEXT),
             d.serial_number, d.udid, 'pending_associate', CAST({mark}4 AS TEXT), 0,
             CAST({mark}5 AS TEXT), CAST({mark}6 AS BIGINT), CAST({mark}6 AS BIGINT)
         FROM {rows}
         WHERE TRUE
         ON CONFLICT (token, adam_id, pricing_param, serial_number) DO UPDATE SET
             udid = excluded.udid,
             state = 'pending_associate',
             event_id = NULL,
             command_uuid = NULL,
             detail = NULL,
             options_json = excluded.options_json,
             attempts = 0,
             next_at = NULL,
             requested_by = excluded.requested_by,
             updated_at = excluded.updated_at
         WHERE vpp_assignments.state IN ({restartable})"
    )
}

/// A removal request: `{mark}1` token, `{mark}2` adam id, `{mark}3`
/// pricing param, `{serial}` the serial number condition, `{mark}5` actor,
/// `{mark}6` now. See [`removal_target`].
pub(crate) fn removal_sql(mark: char, serial: &str) -> String {
    let moves: Vec<(VppAssignState, VppAssignState)> = VppAssignState::ALL
        .into_iter()
        .filter_map(|s| removal_target(s).map(|t| (s, t)))
        .collect();
    let from = state_list(&moves.iter().map(|m| m.0).collect::<Vec<_>>());
    let to: String = moves
        .iter()
        .map(|(s, t)| format!(" WHEN '{s}' THEN '{t}'"))
        .collect();
    format!(
        "UPDATE vpp_assignments SET
             state = CASE state{to} END,
             detail = CASE state WHEN 'pending_associate' THEN '{REMOVED_UNSENT}' END,
             event_id = NULL,
             command_uuid = NULL,
             next_at = NULL,
             attempts = 0,
             requested_by = {mark}5,
             updated_at = {mark}6
         WHERE token = {mark}1 AND adam_id = {mark}2 AND pricing_param = {mark}3 AND {serial}
           AND state IN ({from})"
    )
}

/// Sets the state of some assignments: `{mark}1` token, `{mark}2` adam id,
/// `{mark}3` pricing param, `{serial}` the serial number condition,
/// `{mark}5` state, `{mark}6` event id, `{mark}7` command, `{mark}8`
/// detail, `{mark}9` next_at, `{mark}10` count the attempt, `{mark}11` now.
pub(crate) fn set_sql(mark: char, serial: &str) -> String {
    format!(
        "UPDATE vpp_assignments SET
             state = {mark}5,
             event_id = {mark}6,
             command_uuid = {mark}7,
             detail = {mark}8,
             next_at = {mark}9,
             attempts = CASE WHEN {mark}10 THEN attempts + 1 ELSE 0 END,
             updated_at = {mark}11
         WHERE token = {mark}1 AND adam_id = {mark}2 AND pricing_param = {mark}3 AND {serial}"
    )
}

/// Applies an `ASSET_COUNT` notification: `{mark}1` token, `{mark}2` adam
/// id, `{mark}3` pricing param, `{mark}4` delta, `{mark}5` now. `{max}` is
/// the dialect's two-argument maximum.
pub(crate) fn adjust_sql(mark: char, max: &str) -> String {
    format!(
        "UPDATE vpp_assets SET
             total_count = CASE WHEN total_count IS NULL THEN NULL
                                ELSE {max}(total_count + {mark}4, 0) END,
             available_count = CASE WHEN available_count IS NULL THEN NULL
                                    ELSE {max}(available_count + {mark}4, 0) END,
             updated_at = {mark}5
         WHERE token = {mark}1 AND adam_id = {mark}2 AND pricing_param = {mark}3"
    )
}

/// The SQL of a keyset listing, and its parameters: the text values
/// numbered `{mark}1` on; the row limit is the next number.
#[derive(Debug, Eq, PartialEq)]
pub(crate) struct Listing<'a> {
    /// The statement.
    pub(crate) sql: String,
    /// The text parameters, in order.
    pub(crate) params: Vec<&'a str>,
}

/// Builds a keyset listing: `select` (up to `WHERE`), the `key` columns in
/// order, the values of the leading key columns the query fixes
/// (`prefix`), other equality filters, and the cursor (a value per key
/// column). `None` when the page is empty whatever is stored: the cursor
/// is past the fixed prefix.
///
/// The cursor condition starts at the first key column not fixed, as one
/// row value: both databases read it as the start of an index range (a row
/// value that repeats an equality column would only narrow the range to
/// its value, on SQLite).
pub(crate) fn listing<'a>(
    select: &str,
    key: &[&str],
    prefix: &[&'a str],
    filters: &[(&str, &'a str)],
    after: Option<&[&'a str]>,
    mark: char,
) -> Option<Listing<'a>> {
    let mut sql = format!("{select} WHERE TRUE");
    let mut params: Vec<&'a str> = Vec::new();
    let push = |v: &'a str, params: &mut Vec<&'a str>| {
        params.push(v);
        format!("{mark}{}", params.len())
    };
    for (col, v) in key.iter().zip(prefix) {
        let p = push(v, &mut params);
        sql.push_str(&format!(" AND {col} = {p}"));
    }
    for (col, v) in filters {
        let p = push(v, &mut params);
        sql.push_str(&format!(" AND {col} = {p}"));
    }
    if let Some(after) = after {
        let fixed = prefix.len().min(after.len());
        match after[..fixed].cmp(prefix) {
            Ordering::Less => {}
            Ordering::Greater => return None,
            Ordering::Equal => {
                let rest = &key[fixed..];
                let values = &after[fixed..];
                match rest.len() {
                    0 => return None,
                    1 => {
                        let p = push(values[0], &mut params);
                        sql.push_str(&format!(" AND {} > {p}", rest[0]));
                    }
                    _ => {
                        let ps: Vec<String> = values.iter().map(|v| push(v, &mut params)).collect();
                        sql.push_str(&format!(" AND ({}) > ({})", rest.join(", "), ps.join(", ")));
                    }
                }
            }
        }
    }
    sql.push_str(&format!(
        " ORDER BY {} LIMIT {mark}{}",
        key.join(", "),
        params.len() + 1
    ));
    Some(Listing { sql, params })
}

/// The asset listing for `q`.
pub(crate) fn assets_listing<'a>(q: &'a VppAssetQuery, mark: char) -> Option<Listing<'a>> {
    let prefix: Vec<&str> = q.token.as_deref().into_iter().collect();
    let after = q
        .after
        .as_ref()
        .map(|(t, a, p)| [t.as_str(), a.as_str(), p.as_str()]);
    listing(
        &format!("SELECT {ASSET_COLUMNS} FROM vpp_assets x"),
        &["x.token", "x.adam_id", "x.pricing_param"],
        &prefix,
        &[],
        after.as_ref().map(|a| &a[..]),
        mark,
    )
}

/// The assignment listing for `q`: the token (and with it the adam id) fix
/// the key's start; the other filters check each row.
pub(crate) fn assignments_listing<'a>(
    q: &'a VppAssignmentQuery,
    mark: char,
) -> Option<Listing<'a>> {
    let mut prefix: Vec<&str> = Vec::new();
    let mut filters: Vec<(&str, &str)> = Vec::new();
    match (&q.token, &q.adam_id) {
        (Some(t), Some(a)) => prefix.extend([t.as_str(), a.as_str()]),
        (Some(t), None) => prefix.push(t),
        (None, Some(a)) => filters.push(("adam_id", a)),
        (None, None) => {}
    }
    if let Some(s) = &q.serial_number {
        filters.push(("serial_number", s));
    }
    if let Some(s) = q.state {
        filters.push(("state", s.as_str()));
    }
    let after = q
        .after
        .as_ref()
        .map(|(t, a, p, s)| [t.as_str(), a.as_str(), p.as_str(), s.as_str()]);
    listing(
        &format!("SELECT {ASSIGNMENT_COLUMNS} FROM vpp_assignments"),
        &["token", "adam_id", "pricing_param", "serial_number"],
        &prefix,
        &filters,
        after.as_ref().map(|a| &a[..]),
        mark,
    )
}

/// Cuts the extra row fetched past the page and sets the cursor.
pub(crate) fn asset_page(mut items: Vec<VppAsset>, limit: u32) -> VppAssetPage {
    let next = if items.len() > limit as usize {
        items.truncate(limit as usize);
        items.last().map(|a| {
            (
                a.token.clone(),
                a.record.adam_id.clone(),
                a.record.pricing_param.clone(),
            )
        })
    } else {
        None
    };
    VppAssetPage { items, next }
}

/// Cuts the extra row fetched past the page and sets the cursor.
pub(crate) fn assignment_page(mut items: Vec<VppAssignment>, limit: u32) -> VppAssignmentPage {
    let next = if items.len() > limit as usize {
        items.truncate(limit as usize);
        items.last().map(|a| {
            (
                a.token.clone(),
                a.adam_id.clone(),
                a.pricing_param.clone(),
                a.serial_number.clone(),
            )
        })
    } else {
        None
    };
    VppAssignmentPage { items, next }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asset(adam: &str, pricing: &str, total: i64) -> VppAssetRecord {
        VppAssetRecord {
            adam_id: adam.into(),
            pricing_param: pricing.into(),
            total_count: Some(total),
            ..Default::default()
        }
    }

    #[test]
    fn token_names() {
        for ok in ["a", "ABM-main", "site_1.east", &"x".repeat(64)] {
            assert!(check_token_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "with space", "slash/", "é", "a:b", &"x".repeat(65)] {
            assert!(
                matches!(check_token_name(bad), Err(Error::InvalidVppTokenName(n)) if n == bad),
                "{bad}"
            );
        }
    }

    #[test]
    fn names_round_trip() {
        for s in VppAssignState::ALL {
            assert_eq!(VppAssignState::parse(s.as_str()), Some(s));
            assert_eq!(s.to_string(), s.as_str());
            assert_eq!(state(s.as_str()).unwrap(), s);
        }
        for t in VppOrgType::ALL {
            assert_eq!(VppOrgType::parse(t.as_str()), Some(t));
            assert_eq!(t.to_string(), t.as_str());
        }
        assert_eq!(VppAssignState::parse("Installed"), None);
        assert!(matches!(state("bogus"), Err(Error::Corrupt { .. })));
        assert_eq!(VppOrgType::parse(""), None);
    }

    #[test]
    fn states_and_transitions() {
        let active: Vec<_> = VppAssignState::ALL
            .into_iter()
            .filter(|s| s.is_active())
            .collect();
        assert_eq!(
            active,
            [
                VppAssignState::PendingAssociate,
                VppAssignState::Associating,
                VppAssignState::Installing,
                VppAssignState::Installed
            ]
        );
        // A request restarts exactly the states neither active nor under
        // way at Apple.
        for s in VppAssignState::ALL {
            let want = !s.is_active() && s != VppAssignState::Disassociating;
            assert_eq!(restarts(Some(s)), want, "{s}");
            assert!(!s.is_requested() || s.is_active(), "{s}");
        }
        assert!(restarts(None));
        // A removal: unsent ones go at once, associated ones are removed,
        // the job under way at Apple is left to finish.
        let moved: Vec<_> = VppAssignState::ALL
            .into_iter()
            .filter_map(|s| removal_target(s).map(|t| (s, t)))
            .collect();
        assert_eq!(
            moved,
            [
                (VppAssignState::PendingAssociate, VppAssignState::Removed),
                (VppAssignState::Installing, VppAssignState::PendingRemove),
                (VppAssignState::Installed, VppAssignState::PendingRemove),
            ]
        );
        // The SQL says the same.
        let sql = removal_sql('?', "serial_number = ?4");
        assert!(sql.contains("state IN ('pending_associate', 'installing', 'installed')"));
        assert!(sql.contains(
            "state = CASE state WHEN 'pending_associate' THEN 'removed' \
             WHEN 'installing' THEN 'pending_remove' WHEN 'installed' THEN 'pending_remove' END"
        ));
        let sql = request_sql(
            '$',
            "unnest($7::text[], $8::text[]) AS d (serial_number, udid)",
        );
        assert!(sql.ends_with(
            "WHERE vpp_assignments.state IN ('failed', 'removed', 'pending_remove', 'removing', \
             'pending_disassociate')"
        ));
        assert_eq!(
            REQUESTED,
            format!(
                "state IN ({})",
                state_list(
                    &VppAssignState::ALL
                        .into_iter()
                        .filter(|s| s.is_requested())
                        .collect::<Vec<_>>()
                )
            )
        );
        assert!(ASSET_COLUMNS.contains(REQUESTED));
    }

    #[test]
    fn licenses() {
        assert!(check_licenses(5, None, 100).is_ok());
        assert!(check_licenses(3, Some(5), 2).is_ok());
        assert!(matches!(
            check_licenses(4, Some(5), 2),
            Err(Error::NotEnoughVppLicenses { needed: 4, free: 3 })
        ));
        // Apple's count below what is requested: none free, never negative.
        assert!(matches!(
            check_licenses(1, Some(1), 3),
            Err(Error::NotEnoughVppLicenses { needed: 1, free: 0 })
        ));
        assert!(check_licenses(0, Some(0), 3).is_ok());
        let a = VppAsset {
            token: "t".into(),
            record: VppAssetRecord {
                available_count: Some(2),
                ..Default::default()
            },
            metadata: VppAssetMetadata::default(),
            metadata_at: None,
            requested: 5,
            updated_at: 0,
        };
        assert_eq!(a.free(), Some(-3));
    }

    #[test]
    fn batches_fold_and_are_bounded() {
        let records = vec![
            asset("1", "STDQ", 1),
            asset("2", "STDQ", 2),
            asset("1", "PLUS", 3),
            asset("1", "STDQ", 4),
        ];
        let got: Vec<_> = fold_assets(&records)
            .unwrap()
            .iter()
            .map(|r| (r.adam_id.as_str(), r.pricing_param.as_str(), r.total_count))
            .collect();
        assert_eq!(
            got,
            [
                ("1", "STDQ", Some(4)),
                ("2", "STDQ", Some(2)),
                ("1", "PLUS", Some(3))
            ]
        );
        let many = vec![asset("1", "STDQ", 1); MAX_VPP_BATCH + 1];
        assert!(matches!(
            fold_assets(&many),
            Err(Error::BatchTooLarge {
                len: 1001,
                max: 1000
            })
        ));
        assert_eq!(fold_assets(&many[..MAX_VPP_BATCH]).unwrap().len(), 1);

        let devices = vec![
            ("A".to_owned(), None),
            ("B".to_owned(), Some("U-B".to_owned())),
            ("A".to_owned(), Some("U-A".to_owned())),
        ];
        assert_eq!(
            fold_devices(&devices).unwrap(),
            [("A", Some("U-A")), ("B", Some("U-B"))]
        );
        assert!(matches!(
            fold_devices(&[(String::new(), None)]),
            Err(Error::InvalidSerialNumber(_))
        ));
        assert!(matches!(
            fold_devices(&vec![("S".to_owned(), None); 1001]),
            Err(Error::BatchTooLarge { .. })
        ));
        let serials = vec!["B".to_owned(), "A".to_owned(), "B".to_owned()];
        assert_eq!(fold_serials(&serials).unwrap(), ["B", "A"]);
        assert!(fold_serials(&vec![String::new(); 1001]).is_err());
        assert_eq!(clamp_batch(0), 1);
        assert_eq!(clamp_batch(5_000), 1_000);
    }

    #[test]
    fn platforms_are_json() {
        let p = vec!["iOS".to_owned(), "macOS".to_owned()];
        let s = platforms_json(&p);
        assert_eq!(s, r#"["iOS","macOS"]"#);
        assert_eq!(platforms_from_json(&s).unwrap(), p);
        assert_eq!(platforms_from_json("[]").unwrap(), Vec::<String>::new());
        assert!(platforms_from_json("iOS").is_err());
    }

    #[test]
    fn listings_number_their_parameters() {
        let mut q = VppAssignmentQuery {
            limit: 10,
            ..Default::default()
        };
        let l = assignments_listing(&q, '?').unwrap();
        assert!(l.sql.ends_with(
            "FROM vpp_assignments WHERE TRUE \
             ORDER BY token, adam_id, pricing_param, serial_number LIMIT ?1"
        ));
        assert!(l.params.is_empty());

        // Token and adam id fix the key's start; the cursor goes on from
        // the pricing param.
        q.token = Some("T".into());
        q.adam_id = Some("A".into());
        q.state = Some(VppAssignState::Failed);
        q.after = Some(("T".into(), "A".into(), "P".into(), "S".into()));
        let l = assignments_listing(&q, '$').unwrap();
        assert!(l.sql.contains(
            "WHERE TRUE AND token = $1 AND adam_id = $2 AND state = $3 \
             AND (pricing_param, serial_number) > ($4, $5) ORDER BY"
        ));
        assert!(l.sql.ends_with("LIMIT $6"));
        assert_eq!(l.params, ["T", "A", "failed", "P", "S"]);

        // A cursor before the fixed start: from the start; past it: nothing.
        q.after = Some(("T".into(), "0".into(), "P".into(), "S".into()));
        let l = assignments_listing(&q, '$').unwrap();
        assert_eq!(l.params, ["T", "A", "failed"]);
        q.after = Some(("U".into(), String::new(), String::new(), String::new()));
        assert_eq!(assignments_listing(&q, '$'), None);

        // The adam id alone, or the serial number, check each row; the
        // cursor is the whole key.
        q.token = None;
        q.state = None;
        q.serial_number = Some("S".into());
        q.after = Some(("T".into(), "A".into(), "P".into(), "S".into()));
        let l = assignments_listing(&q, '?').unwrap();
        assert!(l.sql.contains(
            "WHERE TRUE AND adam_id = ?1 AND serial_number = ?2 \
             AND (token, adam_id, pricing_param, serial_number) > (?3, ?4, ?5, ?6) ORDER BY"
        ));
        assert!(l.sql.ends_with("LIMIT ?7"));

        let mut a = VppAssetQuery {
            token: Some("T".into()),
            after: Some(("T".into(), "A".into(), "P".into())),
            limit: 5,
        };
        let l = assets_listing(&a, '?').unwrap();
        assert!(l.sql.contains(
            "WHERE TRUE AND x.token = ?1 AND (x.adam_id, x.pricing_param) > (?2, ?3) \
             ORDER BY x.token, x.adam_id, x.pricing_param LIMIT ?4"
        ));
        a.token = None;
        let l = assets_listing(&a, '?').unwrap();
        assert!(l.sql.contains(
            "WHERE TRUE AND (x.token, x.adam_id, x.pricing_param) > (?1, ?2, ?3) ORDER BY"
        ));
        // Every key column fixed: nothing after the one row.
        assert_eq!(
            listing("SELECT k FROM t", &["k"], &["v"], &[], Some(&["v"]), '?'),
            None
        );
        let l = listing("SELECT k FROM t", &["k"], &[], &[], Some(&["v"]), '?').unwrap();
        assert_eq!(
            l.sql,
            "SELECT k FROM t WHERE TRUE AND k > ?1 ORDER BY k LIMIT ?2"
        );
    }

    #[test]
    fn counts() {
        let mut c = empty_counts();
        assert_eq!(c.len(), VppAssignState::ALL.len());
        add_count(&mut c, "installed", 3).unwrap();
        add_count(&mut c, "failed", 1).unwrap();
        assert_eq!(c[&VppAssignState::Installed], 3);
        assert_eq!(c[&VppAssignState::Failed], 1);
        assert_eq!(c[&VppAssignState::Removed], 0);
        assert!(add_count(&mut c, "bogus", 1).is_err());
        assert!(add_count(&mut c, "failed", -1).is_err());
        assert!(count_sql('$').ends_with("WHERE token = $1 GROUP BY state"));
    }
}

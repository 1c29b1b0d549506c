//! The Apps and Books service: volume-purchased app licenses given to
//! devices and installed through MDM.
//!
//! A site has one or more content *tokens* (one per location in Apple
//! Business Manager). For each, a task
//!
//! - claims the token for this server (`client/config`: our `mdmInfo`, and
//!   a notification URL with a secret, so that Apple reports jobs and
//!   license counts as they change); a token another MDM server manages is
//!   left alone until an administrator takes it over;
//! - keeps the assets and their license counts current: a full walk of
//!   `GET assets` on a schedule (starting again when the data changes under
//!   it), `ASSET_COUNT` notifications in between (each applied once), and
//!   app names and bundle ids from the metadata lookup;
//! - works through the license assignments administrators ask for:
//!   associate the license by serial number, follow the job to its end
//!   (status polls on Apple's schedule, hurried by `ASSET_MANAGEMENT`
//!   notifications), then queue `InstallApplication` (`iTunesStoreID`,
//!   `PurchaseMethod` 1) for the device and push; removing is
//!   `RemoveApplication`, then disassociate.
//!
//! A request that the licenses Apple reports free (less those already
//! asked for) cannot cover is refused up front. Token files and
//! notification secrets are kept sealed with the site master key.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use apple_mdm_protocol::command::{InstallApplication, ManagementFlags, RemoveApplication};
use apple_mdm_protocol::report::Status;
use apple_mdm_protocol::{Command, EnrollmentId};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use pippin_store::{
    AuditEntry, NewCommand, NewVppToken, VppAssetMetadata, VppAssetQuery, VppAssetRecord,
    VppAssignRequest, VppAssignState, VppAssignUpdate, VppAssignment, VppAssignmentQuery, VppClaim,
    VppOrgType, VppToken,
};
use serde::Deserialize;
use serde_json::{Value as Json_, json};
use tokio::sync::{Notify, watch};
use tracing::{error, info, warn};
use vpp_client::client::{VppClient, VppClientConfig};
use vpp_client::{
    AssetFilter, AssetRef, ClientConfigRequest, ContentToken, EventAction, EventConfig,
    EventOutcome, EventTracker, ManageAssetsRequest, MdmInfo, Notification, NotificationBody,
    PageWalker, PricingParam, WalkConfig, WalkEvent, notification_types,
};

use crate::api::{ApiError, ApiResult, authorize, push_now};
use crate::config::VppConfig;
use crate::state::{App, unix_millis};

/// Largest content token upload (they are a few hundred bytes).
pub const MAX_TOKEN_UPLOAD: usize = 64 * 1024;

/// Devices per assignment request through the admin API.
pub const MAX_DEVICES_PER_REQUEST: usize = 1000;

/// Assignment rows worked on per state and pass (bounding one pass).
const WORK_BATCH: u32 = 1000;

/// Batches per state and pass.
const MAX_BATCHES: usize = 20;

/// Failed tries of an association before the assignment fails.
const MAX_ATTEMPTS: u32 = 5;

/// Metadata lookups per pass.
const METADATA_PER_PASS: u32 = 200;

/// Notification ids are remembered this long (Apple retries for minutes).
const NOTIFICATION_MEMORY: Duration = Duration::from_secs(7 * 86_400);

fn token_context(name: &str) -> String {
    format!("vpp-token:{name}")
}

fn secret_context(name: &str) -> String {
    format!("vpp-notify:{name}")
}

/// Which kind of job an event id belongs to.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
enum JobKind {
    Associate,
    Disassociate,
}

/// The running token tasks and what they share.
pub struct VppService {
    config: VppConfig,
    public_url: String,
    data_dir: std::path::PathBuf,
    extra_ca_pem: Option<String>,
    tasks: Mutex<HashMap<String, TaskHandle>>,
    stop: Mutex<Option<watch::Receiver<bool>>>,
    /// Notification secrets handed to Apple but not yet stored (Apple
    /// sends its test notification while the claim is under way).
    pending_secrets: Mutex<HashMap<String, String>>,
    mdm_id: Mutex<Option<String>>,
}

struct TaskHandle {
    wake: Arc<Notify>,
    /// Event ids a notification mentioned, and whether a sync was asked
    /// for.
    hurry: Arc<Mutex<Hurry>>,
    task: tokio::task::JoinHandle<()>,
}

#[derive(Default)]
struct Hurry {
    events: HashSet<String>,
    sync: bool,
}

impl std::fmt::Debug for VppService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VppService")
            .field("base_url", &self.config.base_url)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Every value behind these locks is changed in single steps; a panic
    // cannot leave one half-changed.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl VppService {
    /// The service for `config`; tokens start with [`start`](Self::start).
    pub fn new(
        config: VppConfig,
        public_url: &str,
        data_dir: std::path::PathBuf,
    ) -> crate::Result<Self> {
        let extra_ca_pem = match &config.ca {
            Some(p) => Some(std::fs::read_to_string(p).map_err(|e| crate::Error::io(p, e))?),
            None => None,
        };
        if !matches!(config.management_flags, 0 | 1 | 4 | 5) {
            return Err(crate::Error::Config(format!(
                "vpp.management_flags must be 0, 1, 4 or 5, not {}",
                config.management_flags
            )));
        }
        pippin_http_client::check_base_url(&config.base_url).map_err(|_| {
            crate::Error::Config(format!(
                "vpp.base_url {:?} is not https:// (or http:// on loopback)",
                config.base_url
            ))
        })?;
        Ok(Self {
            config,
            public_url: public_url.trim_end_matches('/').to_owned(),
            data_dir,
            extra_ca_pem,
            tasks: Mutex::new(HashMap::new()),
            stop: Mutex::new(None),
            pending_secrets: Mutex::new(HashMap::new()),
            mdm_id: Mutex::new(None),
        })
    }

    /// Starts a task per stored token; they stop when `stop` turns true.
    pub async fn start(app: &Arc<App>, stop: watch::Receiver<bool>) {
        *lock(&app.vpp.stop) = Some(stop);
        match app.store.list_vpp_tokens().await {
            Ok(tokens) => {
                for t in tokens {
                    app.vpp.ensure_task(app, &t.name);
                }
            }
            Err(e) => error!(error = %e, "cannot list VPP tokens; Apps and Books is not running"),
        }
    }

    /// Waits for every token task to end (after `stop`).
    pub async fn join(&self) {
        let tasks: Vec<_> = lock(&self.tasks).drain().map(|(_, h)| h.task).collect();
        for t in tasks {
            let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
        }
    }

    /// Starts the task of `name` if it is not running, or wakes it.
    fn ensure_task(&self, app: &Arc<App>, name: &str) {
        let Some(stop) = lock(&self.stop).clone() else {
            return;
        };
        let mut tasks = lock(&self.tasks);
        if let Some(h) = tasks.get(name)
            && !h.task.is_finished()
        {
            h.wake.notify_one();
            return;
        }
        let wake = Arc::new(Notify::new());
        let hurry = Arc::new(Mutex::new(Hurry {
            sync: true,
            ..Hurry::default()
        }));
        let task = tokio::spawn(run_token(
            app.clone(),
            name.to_owned(),
            wake.clone(),
            hurry.clone(),
            stop,
        ));
        tasks.insert(name.to_owned(), TaskHandle { wake, hurry, task });
    }

    /// Wakes the task of `name`, asking for a full sync.
    fn request_sync(&self, name: &str) {
        if let Some(h) = lock(&self.tasks).get(name) {
            lock(&h.hurry).sync = true;
            h.wake.notify_one();
        }
    }

    /// A notification mentioned `event_id`: ask about it now.
    fn hurry_event(&self, name: &str, event_id: &str) {
        if let Some(h) = lock(&self.tasks).get(name) {
            lock(&h.hurry).events.insert(event_id.to_owned());
            h.wake.notify_one();
        }
    }

    /// Wakes the task of `name`.
    fn wake(&self, name: &str) {
        if let Some(h) = lock(&self.tasks).get(name) {
            h.wake.notify_one();
        }
    }

    fn forget_task(&self, name: &str) {
        if let Some(h) = lock(&self.tasks).remove(name) {
            h.task.abort();
        }
    }

    /// This server's `mdmInfo.id`: a UUID made once and kept in the data
    /// directory, so every token (and every restart) names the same
    /// server.
    fn mdm_id(&self) -> Result<String, String> {
        let mut cached = lock(&self.mdm_id);
        if let Some(id) = cached.as_ref() {
            return Ok(id.clone());
        }
        let dir = self.data_dir.join("vpp");
        let path = dir.join("mdm-id");
        let id = match std::fs::read_to_string(&path) {
            Ok(s) if !s.trim().is_empty() => s.trim().to_owned(),
            _ => {
                std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
                let id = uuid::Uuid::new_v4().hyphenated().to_string();
                pippin_service::write_file_atomic(&path, id.as_bytes(), false, true)
                    .map_err(|e| e.to_string())?;
                id
            }
        };
        *cached = Some(id.clone());
        Ok(id)
    }

    fn mdm_info(&self) -> Result<MdmInfo, String> {
        let host = self
            .public_url
            .split_once("://")
            .map_or(self.public_url.as_str(), |(_, r)| r);
        let mut metadata = host.split('/').next().unwrap_or(host).to_owned();
        metadata.truncate(255);
        Ok(MdmInfo {
            id: self.mdm_id()?,
            metadata,
            name: "Pippin".to_owned(),
        })
    }

    fn notification_url(&self, name: &str) -> String {
        format!("{}/mdm/vpp/notify/{name}", self.public_url)
    }

    fn client(&self, token: ContentToken) -> vpp_client::Result<VppClient> {
        let mut c = VppClientConfig::default();
        c.base_url(self.config.base_url.clone())
            .max_requests_per_second(self.config.max_requests_per_second);
        if let Ok(id) = self.mdm_id() {
            c.api.mdm_id(id);
        }
        if let Some(pem) = &self.extra_ca_pem {
            c.extra_ca_pem(pem.clone());
        }
        let poll = Duration::from_secs(self.config.event_poll_secs.max(1));
        c.event
            .polling(poll.min(Duration::from_secs(5)), poll)
            .resubmit(Duration::from_secs(600).max(poll * 4), 2);
        c.walk.delays(
            Duration::from_secs(self.config.retry_secs.max(1)),
            Duration::from_secs(300),
        );
        VppClient::new(token, c)
    }
}

/// The stored token file of `name`, opened.
async fn open_token(app: &App, name: &str) -> Result<Option<(VppToken, ContentToken)>, String> {
    let Some(row) = app
        .store
        .get_vpp_token(name)
        .await
        .map_err(|e| e.to_string())?
    else {
        return Ok(None);
    };
    let plain = app
        .secrets
        .open(&token_context(name), &row.token_sealed)
        .map_err(|e| format!("the stored token of {name}: {e}"))?;
    let token = ContentToken::parse(plain.expose())
        .map_err(|e| format!("the stored token of {name}: {e}"))?;
    Ok(Some((row, token)))
}

/// What claiming a token came to.
enum Claimed {
    Done,
    /// Another MDM server manages it.
    Conflict(String),
    Failed(String),
}

/// Claims the token `name` for this server: our `mdmInfo`, and (when
/// configured) the notification URL with a new secret. If Apple cannot
/// reach the notification URL (9728), claims without notifications and
/// relies on polling.
async fn claim(app: &App, name: &str, client: &VppClient, take_over: bool) -> Claimed {
    let now = unix_millis(SystemTime::now());
    let info = match app.vpp.mdm_info() {
        Ok(i) => i,
        Err(e) => return Claimed::Failed(e),
    };
    let secret = match pippin_service::random_token() {
        Ok(s) => s.into_inner(),
        Err(e) => return Claimed::Failed(e.to_string()),
    };
    let mut request = ClientConfigRequest {
        mdm_info: Some(info),
        ..ClientConfigRequest::default()
    };
    if app.vpp.config.notifications {
        request.notification_url = Some(app.vpp.notification_url(name));
        request.notification_auth_token = Some(secret.clone());
        request.notification_types = Some(vec![
            notification_types::ASSET_MANAGEMENT.to_owned(),
            notification_types::ASSET_COUNT.to_owned(),
        ]);
        lock(&app.vpp.pending_secrets).insert(name.to_owned(), secret.clone());
    }
    let mut result = client.claim(request.clone(), take_over).await;
    let mut with_notifications = request.notification_url.is_some();
    if let Err(e) = &result
        && e.api()
            .is_some_and(|a| a.is(vpp_client::codes::NOTIFICATION_URL_UNREACHABLE))
    {
        warn!(token = %name, url = %app.vpp.notification_url(name),
            "Apple cannot reach the notification URL; claiming the token without notifications (license changes are found by polling)");
        request.notification_url = None;
        request.notification_auth_token = None;
        request.notification_types = Some(Vec::new());
        with_notifications = false;
        result = client.claim(request, take_over).await;
    }
    let outcome = match result {
        Ok(config) => {
            let sealed = if with_notifications {
                match app.secrets.seal(&secret_context(name), secret.as_bytes()) {
                    Ok(s) => Some(s),
                    Err(e) => {
                        lock(&app.vpp.pending_secrets).remove(name);
                        return Claimed::Failed(e.to_string());
                    }
                }
            } else {
                None
            };
            let claim = VppClaim {
                notify_secret_sealed: sealed,
                location_name: config.location_name.clone(),
                u_id: config.u_id.clone(),
                country: config.country_iso2a_code.clone(),
                default_platform: config.default_platform.clone(),
                now,
            };
            match app.store.set_vpp_claim(name, &claim).await {
                Ok(()) => {
                    info!(token = %name, location = config.location_name.as_deref().unwrap_or(""),
                        notifications = with_notifications, "VPP token claimed for this server");
                    Claimed::Done
                }
                Err(e) => Claimed::Failed(e.to_string()),
            }
        }
        Err(e @ vpp_client::Error::MdmConflict { .. }) => Claimed::Conflict(e.to_string()),
        Err(e) => Claimed::Failed(e.to_string()),
    };
    lock(&app.vpp.pending_secrets).remove(name);
    if let Claimed::Conflict(m) | Claimed::Failed(m) = &outcome
        && let Err(e) = app.store.record_vpp_claim_error(name, m, now).await
    {
        warn!(token = %name, error = %e, "cannot record the claim error");
    }
    outcome
}

/// One token's life: claim, then sync and work passes until stopped or
/// the token is removed.
async fn run_token(
    app: Arc<App>,
    name: String,
    wake: Arc<Notify>,
    hurry: Arc<Mutex<Hurry>>,
    mut stop: watch::Receiver<bool>,
) {
    let sync_every = Duration::from_secs(app.vpp.config.sync_interval_secs.clamp(60, 604_800));
    let work_every = Duration::from_secs(app.vpp.config.work_interval_secs.clamp(1, 300));
    let mut last_sync: Option<Instant> = None;
    let mut trackers: HashMap<String, (EventTracker, JobKind)> = HashMap::new();
    let mut loaded: Option<String> = None;
    loop {
        if *stop.borrow() {
            return;
        }
        let (row, token) = match open_token(&app, &name).await {
            Ok(Some(v)) => v,
            Ok(None) => {
                info!(token = %name, "VPP token removed; its task stops");
                return;
            }
            Err(e) => {
                error!(token = %name, error = %e, "VPP token unusable");
                record(&app, &name, false, Some(&e)).await;
                if sleep_or_stop(&mut stop, &wake, sync_every).await {
                    return;
                }
                continue;
            }
        };
        // A new token file starts over with new jobs' bookkeeping.
        if loaded.as_deref() != Some(row.token_sealed.as_str()) {
            loaded = Some(row.token_sealed.clone());
            trackers.clear();
        }
        warn_expiry(&app, &name, &token);
        let client = match app.vpp.client(token) {
            Ok(c) => c,
            Err(e) => {
                error!(token = %name, error = %e, "VPP client");
                record(&app, &name, false, Some(&e.to_string())).await;
                if sleep_or_stop(&mut stop, &wake, sync_every).await {
                    return;
                }
                continue;
            }
        };
        if row.claimed_at.is_none() {
            if row.claim_error.is_some() && !lock(&hurry).sync {
                // Claiming failed (another server manages the token, or
                // Apple refused): wait for an administrator, or the next
                // scheduled try.
                if sleep_or_stop(&mut stop, &wake, sync_every).await {
                    return;
                }
                lock(&hurry).sync = true;
                continue;
            }
            match claim(&app, &name, &client, false).await {
                Claimed::Done => {}
                Claimed::Conflict(m) => {
                    error!(token = %name, error = %m, "VPP token managed by another MDM server; upload it again with take_over to move it here");
                    record(&app, &name, false, Some(&m)).await;
                    lock(&hurry).sync = false;
                    continue;
                }
                Claimed::Failed(m) => {
                    warn!(token = %name, error = %m, "claiming the VPP token failed; trying again later");
                    record(&app, &name, false, Some(&m)).await;
                    lock(&hurry).sync = false;
                    if sleep_or_stop(&mut stop, &wake, work_every * 12).await {
                        return;
                    }
                    continue;
                }
            }
        }
        let sync_due = {
            let mut h = lock(&hurry);
            let due = h.sync || last_sync.is_none_or(|t| t.elapsed() >= sync_every);
            h.sync = false;
            due
        };
        if sync_due {
            let ok = sync_assets(&app, &name, &client, &row).await;
            last_sync = Some(Instant::now());
            if ok {
                lookup_metadata(&app, &name, &client, &row).await;
            }
        }
        let hurried: Vec<String> = lock(&hurry).events.drain().collect();
        let now = Instant::now();
        for id in hurried {
            if let Some((t, _)) = trackers.get_mut(&id) {
                t.notified(now, &id);
            }
        }
        if let Err(e) = work_pass(&app, &name, &client, &mut trackers).await {
            warn!(token = %name, error = %e, "VPP assignment work");
        }
        let next = trackers
            .values()
            .filter_map(|(t, _)| t.poll_timeout())
            .min()
            .map_or(work_every, |at| {
                at.saturating_duration_since(Instant::now()).min(work_every)
            });
        if sleep_or_stop(&mut stop, &wake, next.max(Duration::from_millis(50))).await {
            return;
        }
    }
}

/// Sleeps `d`, or until woken; true when the service stops.
async fn sleep_or_stop(stop: &mut watch::Receiver<bool>, wake: &Notify, d: Duration) -> bool {
    tokio::select! {
        () = tokio::time::sleep(d) => false,
        () = wake.notified() => false,
        r = stop.changed() => r.is_err() || *stop.borrow(),
    }
}

async fn record(app: &App, name: &str, ok: bool, error: Option<&str>) {
    if !ok {
        app.metrics.vpp_failures.inc();
    }
    if let Err(e) = app
        .store
        .record_vpp_sync(name, ok, error, unix_millis(SystemTime::now()))
        .await
    {
        warn!(token = %name, error = %e, "cannot record the VPP sync result");
    }
}

fn warn_expiry(app: &App, name: &str, token: &ContentToken) {
    let now = SystemTime::now();
    let days = token.days_left(now);
    if token.check_expiry(now).is_err() {
        error!(token = %name, expiry = %token.exp_date, "the VPP content token has expired: download a new one in Apple Business Manager and upload it");
    } else if days < i64::try_from(app.vpp.config.token_warning_days).unwrap_or(i64::MAX) {
        warn!(token = %name, days, "the VPP content token expires soon: renew it in Apple Business Manager");
    }
}

/// Walks every asset of the token into the store; true when it finished.
async fn sync_assets(app: &App, name: &str, client: &VppClient, row: &VppToken) -> bool {
    let started = Instant::now();
    // Each walk (and each restart within it) writes its own generation, so
    // finishing drops what the walk did not see.
    let base = unix_millis(SystemTime::now()).saturating_mul(64);
    let mut walk = WalkConfig::default();
    walk.delays(
        Duration::from_secs(app.vpp.config.retry_secs.max(1)),
        Duration::from_secs(300),
    );
    let mut walker = PageWalker::<vpp_client::AssetsPage>::new(walk);
    let make = |page_index| vpp_client::GetAssets {
        filter: AssetFilter::default(),
        page_index,
    };
    let summary = loop {
        match client.next_walk_event(&mut walker, make).await {
            WalkEvent::Page {
                generation, items, ..
            } => {
                let records: Vec<VppAssetRecord> = items.into_iter().map(asset_record).collect();
                for chunk in records.chunks(pippin_store::MAX_VPP_BATCH) {
                    if let Err(e) = app
                        .store
                        .upsert_vpp_assets(
                            name,
                            chunk,
                            base + i64::from(generation),
                            unix_millis(SystemTime::now()),
                        )
                        .await
                    {
                        error!(token = %name, error = %e, "cannot store VPP assets");
                        record(app, name, false, Some(&e.to_string())).await;
                        return false;
                    }
                }
            }
            WalkEvent::Restarted { reason, .. } => {
                info!(token = %name, ?reason, "VPP assets changed during the walk; starting again");
            }
            WalkEvent::Retrying {
                page_index,
                error,
                delay,
                ..
            } => {
                warn!(token = %name, page_index, %error, ?delay, "VPP asset page failed; trying again");
            }
            WalkEvent::Done {
                generation,
                version_id,
                pages,
                items,
            } => break (generation, version_id, pages, items),
            WalkEvent::Failed { error } => {
                // Another server taking the token over, or Apple refusing
                // it, shows as the token's last error until an
                // administrator acts.
                error!(token = %name, %error, "VPP asset walk failed");
                record(app, name, false, Some(&error.to_string())).await;
                return false;
            }
        }
    };
    let (walk_generation, version_id, pages, items) = summary;
    let generation = base + i64::from(walk_generation);
    match app
        .store
        .finish_vpp_asset_walk(
            name,
            generation,
            version_id.as_deref(),
            unix_millis(SystemTime::now()),
        )
        .await
    {
        Ok(dropped) => {
            info!(token = %name, assets = items, pages, restarts = walk_generation,
                dropped, ms = started.elapsed().as_millis() as u64, org = %row.org_name, "VPP assets synced");
            record(app, name, true, None).await;
            true
        }
        Err(e) => {
            error!(token = %name, error = %e, "cannot finish the VPP asset walk");
            record(app, name, false, Some(&e.to_string())).await;
            false
        }
    }
}

fn asset_record(a: vpp_client::Asset) -> VppAssetRecord {
    VppAssetRecord {
        adam_id: a.adam_id,
        pricing_param: a.pricing_param.0,
        product_type: a.product_type,
        total_count: a.total_count,
        assigned_count: a.assigned_count,
        available_count: a.available_count,
        retired_count: a.retired_count,
        device_assignable: a.device_assignable,
        revocable: a.revocable,
        platforms: a.supported_platforms,
    }
}

/// Names, bundle ids and icons of assets that have none yet.
async fn lookup_metadata(app: &App, name: &str, client: &VppClient, row: &VppToken) {
    let ids = match app
        .store
        .vpp_assets_without_metadata(name, METADATA_PER_PASS)
        .await
    {
        Ok(ids) if !ids.is_empty() => ids,
        Ok(_) => return,
        Err(e) => {
            warn!(token = %name, error = %e, "cannot read assets without metadata");
            return;
        }
    };
    let url = match client.service_config().await {
        Ok(c) => match c.content_metadata_lookup() {
            Some(u) => u.to_owned(),
            None => return,
        },
        Err(e) => {
            warn!(token = %name, error = %e, "GET service/config failed");
            return;
        }
    };
    let platform = row
        .default_platform
        .clone()
        .unwrap_or_else(|| "enterprisestore".to_owned());
    let country = app
        .vpp
        .config
        .country
        .clone()
        .or_else(|| row.country.clone())
        .unwrap_or_else(|| "us".to_owned());
    match client
        .lookup_metadata(&url, &ids, &platform, &country)
        .await
    {
        Ok(found) => {
            let now = unix_millis(SystemTime::now());
            let mut seen = HashSet::new();
            for m in found {
                seen.insert(m.adam_id.clone());
                let md = VppAssetMetadata {
                    name: m.name,
                    bundle_id: m.bundle_id,
                    icon_url: m.icon_url,
                    version: m.version,
                };
                if let Err(e) = app
                    .store
                    .set_vpp_asset_metadata(name, &m.adam_id, &md, now)
                    .await
                {
                    warn!(token = %name, error = %e, "cannot store app metadata");
                    return;
                }
            }
            // Ids the store does not know get an empty record, so they are
            // not asked about on every pass.
            for id in ids.iter().filter(|i| !seen.contains(*i)) {
                let _ = app
                    .store
                    .set_vpp_asset_metadata(name, id, &VppAssetMetadata::default(), now)
                    .await;
            }
        }
        Err(e) => warn!(token = %name, error = %e, "app metadata lookup failed"),
    }
}

/// Groups assignments by asset.
fn by_asset(rows: Vec<VppAssignment>) -> BTreeMap<(String, String), Vec<VppAssignment>> {
    let mut m: BTreeMap<(String, String), Vec<VppAssignment>> = BTreeMap::new();
    for r in rows {
        m.entry((r.adam_id.clone(), r.pricing_param.clone()))
            .or_default()
            .push(r);
    }
    m
}

fn update(state: VppAssignState, now: i64) -> VppAssignUpdate {
    VppAssignUpdate {
        state,
        now,
        ..VppAssignUpdate::default()
    }
}

/// One pass over the token's assignments.
async fn work_pass(
    app: &App,
    name: &str,
    client: &VppClient,
    trackers: &mut HashMap<String, (EventTracker, JobKind)>,
) -> Result<(), String> {
    let limits = client
        .service_config()
        .await
        .map(|c| c.limits())
        .unwrap_or_default();
    submit(
        app,
        name,
        client,
        trackers,
        JobKind::Associate,
        limits.max_serial_numbers,
    )
    .await?;
    start_removals(app, name).await?;
    submit(
        app,
        name,
        client,
        trackers,
        JobKind::Disassociate,
        limits.max_serial_numbers,
    )
    .await?;
    adopt_jobs(app, name, client, trackers).await?;
    follow_jobs(app, name, client, trackers).await
}

/// Sends the pending associations (or disassociations), grouped by asset
/// in requests of at most `per_request` serial numbers.
async fn submit(
    app: &App,
    name: &str,
    client: &VppClient,
    trackers: &mut HashMap<String, (EventTracker, JobKind)>,
    kind: JobKind,
    per_request: usize,
) -> Result<(), String> {
    let (from, to) = match kind {
        JobKind::Associate => (
            VppAssignState::PendingAssociate,
            VppAssignState::Associating,
        ),
        JobKind::Disassociate => (
            VppAssignState::PendingDisassociate,
            VppAssignState::Disassociating,
        ),
    };
    for _ in 0..MAX_BATCHES {
        let now = unix_millis(SystemTime::now());
        let rows = app
            .store
            .vpp_assignments_in_state(name, from, now, WORK_BATCH)
            .await
            .map_err(|e| e.to_string())?;
        let full = rows.len() == WORK_BATCH as usize;
        if rows.is_empty() {
            return Ok(());
        }
        for ((adam, pricing), group) in by_asset(rows) {
            for chunk in group.chunks(per_request.max(1)) {
                let serials: Vec<String> = chunk.iter().map(|r| r.serial_number.clone()).collect();
                let request = ManageAssetsRequest {
                    assets: vec![AssetRef {
                        adam_id: adam.clone(),
                        pricing_param: PricingParam(pricing.clone()),
                    }],
                    serial_numbers: serials.clone(),
                    client_user_ids: Vec::new(),
                };
                let result = match kind {
                    JobKind::Associate => client.associate(request).await,
                    JobKind::Disassociate => client.disassociate(request).await,
                };
                let now = unix_millis(SystemTime::now());
                match result {
                    Ok(ev) => {
                        let mut u = update(to, now);
                        u.event_id = Some(ev.event_id.clone());
                        app.store
                            .set_vpp_assignments(name, &adam, &pricing, &serials, &u)
                            .await
                            .map_err(|e| e.to_string())?;
                        trackers.insert(
                            ev.event_id.clone(),
                            (
                                EventTracker::new(ev.event_id, job_config(app), Instant::now()),
                                kind,
                            ),
                        );
                        info!(token = %name, adam_id = %adam, devices = serials.len(), job = ?kind, "VPP job submitted");
                    }
                    Err(e) => {
                        warn!(token = %name, adam_id = %adam, error = %e, job = ?kind, "VPP request failed");
                        retry_or_fail(
                            app,
                            name,
                            &adam,
                            &pricing,
                            chunk,
                            from,
                            &e.to_string(),
                            e.is_retryable(),
                        )
                        .await?;
                    }
                }
            }
        }
        if !full {
            return Ok(());
        }
    }
    Ok(())
}

fn job_config(app: &App) -> EventConfig {
    let poll = Duration::from_secs(app.vpp.config.event_poll_secs.max(1));
    let mut c = EventConfig::default();
    c.polling(poll.min(Duration::from_secs(5)), poll)
        .resubmit(Duration::from_secs(600).max(poll * 4), 0);
    c
}

/// Puts `rows` back in `state` to be tried again later with back-off, or
/// fails them after [`MAX_ATTEMPTS`] (or at once for a refusal).
#[allow(clippy::too_many_arguments)]
async fn retry_or_fail(
    app: &App,
    name: &str,
    adam: &str,
    pricing: &str,
    rows: &[VppAssignment],
    state: VppAssignState,
    detail: &str,
    retryable: bool,
) -> Result<(), String> {
    let now = unix_millis(SystemTime::now());
    let base = app.vpp.config.retry_secs.max(1);
    let (again, failed): (Vec<&VppAssignment>, Vec<&VppAssignment>) = rows
        .iter()
        .partition(|r| retryable && r.attempts + 1 < MAX_ATTEMPTS);
    if !again.is_empty() {
        let attempts = again.iter().map(|r| r.attempts).max().unwrap_or(0);
        let wait = base.saturating_mul(1 << attempts.min(10)).min(3600);
        let mut u = update(state, now);
        u.detail = Some(detail.to_owned());
        u.next_at = Some(now.saturating_add(i64::try_from(wait * 1000).unwrap_or(i64::MAX)));
        u.count_attempt = true;
        let serials: Vec<String> = again.iter().map(|r| r.serial_number.clone()).collect();
        app.store
            .set_vpp_assignments(name, adam, pricing, &serials, &u)
            .await
            .map_err(|e| e.to_string())?;
    }
    if !failed.is_empty() {
        let mut u = update(VppAssignState::Failed, now);
        u.detail = Some(detail.to_owned());
        let serials: Vec<String> = failed.iter().map(|r| r.serial_number.clone()).collect();
        app.store
            .set_vpp_assignments(name, adam, pricing, &serials, &u)
            .await
            .map_err(|e| e.to_string())?;
        app.metrics.vpp_failures.add(serials.len() as u64);
    }
    Ok(())
}

/// Jobs under way that no tracker follows (after a restart): follow them.
async fn adopt_jobs(
    app: &App,
    name: &str,
    client: &VppClient,
    trackers: &mut HashMap<String, (EventTracker, JobKind)>,
) -> Result<(), String> {
    let _ = client;
    for (state, kind) in [
        (VppAssignState::Associating, JobKind::Associate),
        (VppAssignState::Disassociating, JobKind::Disassociate),
    ] {
        let rows = app
            .store
            .vpp_assignments_in_state(name, state, i64::MAX, WORK_BATCH)
            .await
            .map_err(|e| e.to_string())?;
        for r in rows {
            let Some(id) = r.event_id else { continue };
            trackers.entry(id.clone()).or_insert_with(|| {
                let mut t = EventTracker::new(id.clone(), job_config(app), Instant::now());
                t.notified(Instant::now(), &id);
                (t, kind)
            });
        }
    }
    Ok(())
}

/// Polls the jobs that are due and finishes those that ended.
async fn follow_jobs(
    app: &App,
    name: &str,
    client: &VppClient,
    trackers: &mut HashMap<String, (EventTracker, JobKind)>,
) -> Result<(), String> {
    let ids: Vec<String> = trackers.keys().cloned().collect();
    for id in ids {
        let Some((tracker, kind)) = trackers.get_mut(&id) else {
            continue;
        };
        let kind = *kind;
        match tracker.poll_action(Instant::now()) {
            Some(EventAction::Poll(event)) => {
                let status = client.event_status(&event).await;
                tracker.handle_status(Instant::now(), status);
            }
            Some(EventAction::Resubmit) => {
                // Pending too long (Apple: after ten minutes, send it
                // again): the rows go back to be submitted anew.
                let rows = app
                    .store
                    .vpp_assignments_by_event(&id)
                    .await
                    .map_err(|e| e.to_string())?;
                let back = match kind {
                    JobKind::Associate => VppAssignState::PendingAssociate,
                    JobKind::Disassociate => VppAssignState::PendingDisassociate,
                };
                for ((adam, pricing), group) in by_asset(rows) {
                    retry_or_fail(
                        app,
                        name,
                        &adam,
                        &pricing,
                        &group,
                        back,
                        "still pending at Apple; sent again",
                        true,
                    )
                    .await?;
                }
                trackers.remove(&id);
                continue;
            }
            None => {}
        }
        let Some((tracker, _)) = trackers.get_mut(&id) else {
            continue;
        };
        if let Some(outcome) = tracker.take_outcome() {
            trackers.remove(&id);
            finish_job(app, name, &id, kind, outcome).await?;
        }
    }
    Ok(())
}

/// A job ended: per device, the next state.
async fn finish_job(
    app: &App,
    name: &str,
    event_id: &str,
    kind: JobKind,
    outcome: EventOutcome,
) -> Result<(), String> {
    let rows = app
        .store
        .vpp_assignments_by_event(event_id)
        .await
        .map_err(|e| e.to_string())?;
    let status = match outcome {
        EventOutcome::Finished(s) => s,
        EventOutcome::GaveUp(e) => {
            warn!(token = %name, event_id, error = %e, "VPP job could not be followed; sending it again");
            let back = match kind {
                JobKind::Associate => VppAssignState::PendingAssociate,
                JobKind::Disassociate => VppAssignState::PendingDisassociate,
            };
            for ((adam, pricing), group) in by_asset(rows) {
                retry_or_fail(
                    app,
                    name,
                    &adam,
                    &pricing,
                    &group,
                    back,
                    &e.to_string(),
                    e.is_retryable(),
                )
                .await?;
            }
            return Ok(());
        }
    };
    let failed: HashMap<String, String> = status
        .failed_serial_numbers()
        .map(|(s, f)| {
            (
                s.to_owned(),
                format!("Apple error {}: {}", f.error_number, f.error_message),
            )
        })
        .collect();
    info!(token = %name, event_id, job = ?kind, completed = status.num_completed,
        requested = status.num_requested, failed = failed.len(), "VPP job finished");
    let now = unix_millis(SystemTime::now());
    for ((adam, pricing), group) in by_asset(rows) {
        let (bad, good): (Vec<VppAssignment>, Vec<VppAssignment>) = group
            .into_iter()
            .partition(|r| failed.contains_key(&r.serial_number));
        for r in &bad {
            let mut u = update(VppAssignState::Failed, now);
            u.detail = failed.get(&r.serial_number).cloned();
            app.store
                .set_vpp_assignments(
                    name,
                    &adam,
                    &pricing,
                    std::slice::from_ref(&r.serial_number),
                    &u,
                )
                .await
                .map_err(|e| e.to_string())?;
        }
        app.metrics.vpp_failures.add(bad.len() as u64);
        match kind {
            JobKind::Associate => {
                app.metrics.vpp_associated.add(good.len() as u64);
                install(app, name, &adam, &pricing, &good).await?;
            }
            JobKind::Disassociate => {
                let serials: Vec<String> = good.iter().map(|r| r.serial_number.clone()).collect();
                let mut u = update(VppAssignState::Removed, now);
                u.detail = Some("license returned".to_owned());
                app.store
                    .set_vpp_assignments(name, &adam, &pricing, &serials, &u)
                    .await
                    .map_err(|e| e.to_string())?;
            }
        }
    }
    Ok(())
}

/// Install options kept with an assignment.
#[derive(Clone, Debug, Default, Deserialize, serde::Serialize)]
struct InstallOptions {
    /// `ManagementFlags`.
    #[serde(default)]
    management_flags: Option<u64>,
}

/// Queues `InstallApplication` for each associated device and pushes.
async fn install(
    app: &App,
    name: &str,
    adam: &str,
    pricing: &str,
    rows: &[VppAssignment],
) -> Result<(), String> {
    let now = unix_millis(SystemTime::now());
    let Ok(store_id) = adam.parse::<u64>() else {
        let serials: Vec<String> = rows.iter().map(|r| r.serial_number.clone()).collect();
        let mut u = update(VppAssignState::Failed, now);
        u.detail = Some(format!("Adam ID {adam} is not a number; cannot install"));
        app.store
            .set_vpp_assignments(name, adam, pricing, &serials, &u)
            .await
            .map_err(|e| e.to_string())?;
        return Ok(());
    };
    let mut pushed = Vec::new();
    for r in rows {
        let Some(udid) = r.udid.clone() else {
            let mut u = update(VppAssignState::Failed, now);
            u.detail = Some("license associated, but no enrolled device to install on".to_owned());
            app.store
                .set_vpp_assignments(
                    name,
                    adam,
                    pricing,
                    std::slice::from_ref(&r.serial_number),
                    &u,
                )
                .await
                .map_err(|e| e.to_string())?;
            continue;
        };
        let options: InstallOptions = serde_json::from_str(&r.options_json).unwrap_or_default();
        let mut cmd = InstallApplication::vpp(store_id);
        cmd.management_flags = Some(ManagementFlags(
            options
                .management_flags
                .unwrap_or(app.vpp.config.management_flags),
        ));
        let uuid = uuid::Uuid::new_v4().hyphenated().to_string().to_uppercase();
        let command = Command::new(uuid.clone(), cmd);
        let id = EnrollmentId::device(udid);
        let queued = app
            .store
            .enqueue(
                std::slice::from_ref(&id),
                NewCommand {
                    uuid: uuid.clone(),
                    request_type: command.request_type().to_owned(),
                    body: command.to_xml(),
                    priority: 0,
                    queued_by: format!("vpp:{name}"),
                    now,
                },
            )
            .await;
        let mut u = match queued {
            Ok(()) => {
                pushed.push(id);
                let mut u = update(VppAssignState::Installing, now);
                u.command_uuid = Some(uuid);
                u
            }
            Err(e) => {
                let mut u = update(VppAssignState::Failed, now);
                u.detail = Some(format!(
                    "license associated, but the install could not be queued: {e}"
                ));
                u
            }
        };
        u.now = now;
        app.store
            .set_vpp_assignments(
                name,
                adam,
                pricing,
                std::slice::from_ref(&r.serial_number),
                &u,
            )
            .await
            .map_err(|e| e.to_string())?;
    }
    if !pushed.is_empty() {
        app.metrics.commands_queued.add(pushed.len() as u64);
        push_now(app, &pushed).await;
    }
    Ok(())
}

/// Removal requests: `RemoveApplication` where the device and the bundle
/// id are known, else straight to disassociation.
async fn start_removals(app: &App, name: &str) -> Result<(), String> {
    for _ in 0..MAX_BATCHES {
        let now = unix_millis(SystemTime::now());
        let rows = app
            .store
            .vpp_assignments_in_state(name, VppAssignState::PendingRemove, now, WORK_BATCH)
            .await
            .map_err(|e| e.to_string())?;
        if rows.is_empty() {
            return Ok(());
        }
        let full = rows.len() == WORK_BATCH as usize;
        let mut pushed = Vec::new();
        for ((adam, pricing), group) in by_asset(rows) {
            let bundle = app
                .store
                .get_vpp_asset(name, &adam, &pricing)
                .await
                .map_err(|e| e.to_string())?
                .and_then(|a| a.metadata.bundle_id);
            for r in group {
                let enrolled = match &r.udid {
                    Some(u) => app
                        .store
                        .get_enrollment(&EnrollmentId::device(u.clone()))
                        .await
                        .map_err(|e| e.to_string())?
                        .is_some_and(|e| e.enrolled),
                    None => false,
                };
                let mut u = update(VppAssignState::PendingDisassociate, now);
                if let (true, Some(bundle), Some(udid)) = (enrolled, &bundle, &r.udid) {
                    let uuid = uuid::Uuid::new_v4().hyphenated().to_string().to_uppercase();
                    let command =
                        Command::new(uuid.clone(), RemoveApplication::new(bundle.clone()));
                    let id = EnrollmentId::device(udid.clone());
                    app.store
                        .enqueue(
                            std::slice::from_ref(&id),
                            NewCommand {
                                uuid: uuid.clone(),
                                request_type: command.request_type().to_owned(),
                                body: command.to_xml(),
                                priority: 0,
                                queued_by: format!("vpp:{name}"),
                                now,
                            },
                        )
                        .await
                        .map_err(|e| e.to_string())?;
                    pushed.push(id);
                    u = update(VppAssignState::Removing, now);
                    u.command_uuid = Some(uuid);
                } else {
                    u.detail = Some(if bundle.is_none() {
                        "app bundle id unknown; license returned without removing the app"
                            .to_owned()
                    } else {
                        "device not enrolled; license returned without removing the app".to_owned()
                    });
                }
                app.store
                    .set_vpp_assignments(
                        name,
                        &adam,
                        &pricing,
                        std::slice::from_ref(&r.serial_number),
                        &u,
                    )
                    .await
                    .map_err(|e| e.to_string())?;
            }
        }
        if !pushed.is_empty() {
            app.metrics.commands_queued.add(pushed.len() as u64);
            push_now(app, &pushed).await;
        }
        if !full {
            return Ok(());
        }
    }
    Ok(())
}

/// A device answered an `InstallApplication` or `RemoveApplication`: moves
/// the assignment it belongs to on. Called by the MDM report handler.
pub async fn command_completed(
    app: &App,
    command_uuid: &str,
    status: Status,
    detail: Option<String>,
) {
    let row = match app.store.vpp_assignments_by_command(command_uuid).await {
        Ok(Some(r)) => r,
        Ok(None) => return,
        Err(e) => {
            warn!(command_uuid, error = %e, "cannot look up the VPP assignment of a command");
            return;
        }
    };
    let now = unix_millis(SystemTime::now());
    let mut u = match (row.state, status) {
        (VppAssignState::Installing, Status::Acknowledged) => {
            let mut u = update(VppAssignState::Installed, now);
            u.detail = Some("the device accepted the install".to_owned());
            u
        }
        (VppAssignState::Installing, _) => {
            let mut u = update(VppAssignState::Failed, now);
            u.detail = Some(format!(
                "the device answered the install with {status}{}",
                detail.map(|d| format!(": {d}")).unwrap_or_default()
            ));
            u
        }
        (VppAssignState::Removing, _) => {
            let mut u = update(VppAssignState::PendingDisassociate, now);
            u.detail = Some(format!("the device answered the removal with {status}"));
            u
        }
        _ => return,
    };
    u.command_uuid = Some(command_uuid.to_owned());
    if let Err(e) = app
        .store
        .set_vpp_assignments(
            &row.token,
            &row.adam_id,
            &row.pricing_param,
            std::slice::from_ref(&row.serial_number),
            &u,
        )
        .await
    {
        warn!(command_uuid, error = %e, "cannot update the VPP assignment");
        return;
    }
    info!(token = %row.token, adam_id = %row.adam_id, serial = %row.serial_number, state = %u.state, "VPP assignment moved on");
    app.vpp.wake(&row.token);
}

// ---- Admin API -------------------------------------------------------

/// `PUT /api/v1/vpp/tokens/{name}` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenUpload {
    /// The `.vpptoken` file's content.
    token: String,
    /// Free text.
    #[serde(default)]
    description: Option<String>,
    /// `business` (default) or `education`.
    #[serde(default)]
    organization_type: Option<String>,
    /// Claim the token even if another MDM server manages it.
    #[serde(default)]
    take_over: bool,
}

fn valid_name(name: &str) -> bool {
    (1..=pippin_store::MAX_VPP_TOKEN_NAME).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

fn store_error(e: pippin_store::Error) -> ApiError {
    use pippin_store::Error as E;
    match e {
        E::UnknownVppToken(n) => ApiError::not_found(format!("no VPP token {n}")),
        E::UnknownVppAsset { .. } => ApiError::not_found(e.to_string()),
        E::VppNotDeviceAssignable { .. } | E::InvalidVppTokenName(_) | E::BatchTooLarge { .. } => {
            ApiError::bad(e.to_string())
        }
        E::NotEnoughVppLicenses { .. } => ApiError::new(StatusCode::CONFLICT, e.to_string()),
        other => ApiError::from(other),
    }
}

/// `PUT /api/v1/vpp/tokens/{name}`: add a token, or replace its file
/// (keeping its assets and assignments); claims it for this server.
pub async fn put_token(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(name): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    let actor = authorize(&app, &headers)?;
    if !valid_name(&name) {
        return Err(ApiError::bad(
            "a VPP token name is 1 to 64 letters, digits, '.', '_' or '-'",
        ));
    }
    if body.len() > MAX_TOKEN_UPLOAD {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("a token upload is at most {MAX_TOKEN_UPLOAD} bytes"),
        ));
    }
    let up: TokenUpload =
        serde_json::from_slice(&body).map_err(|e| ApiError::bad(format!("body: {e}")))?;
    let org_type = match up.organization_type.as_deref() {
        None => VppOrgType::Business,
        Some(s) => VppOrgType::parse(s)
            .ok_or_else(|| ApiError::bad("organization_type is business or education"))?,
    };
    let token = ContentToken::parse(up.token.as_bytes())
        .map_err(|e| ApiError::bad(format!("content token: {e}")))?;
    let now = SystemTime::now();
    token
        .check_expiry(now)
        .map_err(|e| ApiError::bad(e.to_string()))?;
    let sealed = app
        .secrets
        .seal(&token_context(&name), token.bearer().as_bytes())
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let created = app
        .store
        .put_vpp_token(&NewVppToken {
            name: name.clone(),
            description: up.description.clone().unwrap_or_default(),
            org_type,
            token_sealed: sealed,
            org_name: token.org_name.clone(),
            token_expiry: Some(unix_millis(token.expiry)),
            now: unix_millis(now),
        })
        .await
        .map_err(store_error)?;
    // Claim now, so that the administrator sees a conflict at once.
    let client = app
        .vpp
        .client(token.clone())
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let claimed = claim(&app, &name, &client, up.take_over).await;
    app.store
        .audit(&AuditEntry {
            at: unix_millis(now),
            actor,
            action: if created { "add_vpp_token" } else { "renew_vpp_token" }.to_owned(),
            target: name.clone(),
            detail: json!({ "org_name": token.org_name, "exp_date": token.exp_date, "take_over": up.take_over }),
        })
        .await?;
    app.vpp.ensure_task(&app, &name);
    app.vpp.request_sync(&name);
    let mut out = token_json(&app, &name).await?;
    match claimed {
        Claimed::Done => {}
        Claimed::Conflict(m) => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                format!(
                    "{m} (the token is stored but not used; PUT it again with \"take_over\": true to manage it here)"
                ),
            ));
        }
        Claimed::Failed(m) => {
            out["warning"] = json!(format!(
                "the token is stored, but claiming it failed: {m}; it is tried again in the background"
            ));
        }
    }
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(out)).into_response())
}

async fn token_json(app: &App, name: &str) -> ApiResult<Json_> {
    let t = app
        .store
        .get_vpp_token(name)
        .await
        .map_err(store_error)?
        .ok_or_else(|| ApiError::not_found(format!("no VPP token {name}")))?;
    let now = unix_millis(SystemTime::now());
    let counts = app
        .store
        .count_vpp_assignments(name)
        .await
        .map_err(store_error)?;
    let mut by_state = serde_json::Map::new();
    for (state, n) in &counts {
        by_state.insert(state.as_str().to_owned(), json!(n));
    }
    let warn_ms = i64::try_from(app.vpp.config.token_warning_days.saturating_mul(86_400_000))
        .unwrap_or(i64::MAX);
    Ok(json!({
        "name": t.name,
        "description": t.description,
        "organization_type": t.org_type.as_str(),
        "org_name": t.org_name,
        "token_expiry": t.token_expiry,
        "token_expires_in_days": t.token_expiry.map(|e| (e - now).div_euclid(86_400_000)),
        "token_expired": t.token_expiry.is_some_and(|e| e <= now),
        "token_expiring_soon": t.token_expiry.is_some_and(|e| e > now && e - now < warn_ms),
        "claimed": t.claimed_at.is_some(),
        "claimed_at": t.claimed_at,
        "claim_error": t.claim_error,
        "notifications": t.notify_secret_sealed.is_some(),
        "location_name": t.location_name,
        "u_id": t.u_id,
        "country": t.country,
        "default_platform": t.default_platform,
        "assets_version": t.assets_version,
        "assets_synced_at": t.assets_synced_at,
        "last_sync_at": t.last_sync_at,
        "last_sync_ok": t.last_sync_ok,
        "last_error": t.last_error,
        "assignments": by_state,
    }))
}

/// `GET /api/v1/vpp/tokens`.
pub async fn list_tokens(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
) -> ApiResult<Json<Json_>> {
    authorize(&app, &headers)?;
    let mut out = Vec::new();
    for t in app.store.list_vpp_tokens().await.map_err(store_error)? {
        out.push(token_json(&app, &t.name).await?);
    }
    Ok(Json(json!({ "tokens": out })))
}

/// `GET /api/v1/vpp/tokens/{name}`.
pub async fn get_token(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> ApiResult<Json<Json_>> {
    authorize(&app, &headers)?;
    Ok(Json(token_json(&app, &name).await?))
}

/// `DELETE /api/v1/vpp/tokens/{name}`: forget a token, its assets and
/// assignments (licenses at Apple are left as they are).
pub async fn delete_token(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    let actor = authorize(&app, &headers)?;
    if !app
        .store
        .delete_vpp_token(&name)
        .await
        .map_err(store_error)?
    {
        return Err(ApiError::not_found(format!("no VPP token {name}")));
    }
    app.vpp.forget_task(&name);
    app.store
        .audit(&AuditEntry {
            at: unix_millis(SystemTime::now()),
            actor,
            action: "delete_vpp_token".to_owned(),
            target: name,
            detail: Json_::Null,
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/v1/vpp/tokens/{name}/sync`: sync the assets now.
pub async fn sync_token(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> ApiResult<(StatusCode, Json<Json_>)> {
    authorize(&app, &headers)?;
    if app
        .store
        .get_vpp_token(&name)
        .await
        .map_err(store_error)?
        .is_none()
    {
        return Err(ApiError::not_found(format!("no VPP token {name}")));
    }
    app.vpp.ensure_task(&app, &name);
    app.vpp.request_sync(&name);
    Ok((StatusCode::ACCEPTED, Json(json!({ "sync": "started" }))))
}

/// `GET /api/v1/vpp/assets` parameters.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssetParams {
    token: Option<String>,
    after: Option<String>,
    limit: Option<u32>,
}

/// `GET /api/v1/vpp/assets`: assets with their license counts.
pub async fn list_assets(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Query(p): Query<AssetParams>,
) -> ApiResult<Json<Json_>> {
    authorize(&app, &headers)?;
    let after = match p.after.as_deref() {
        Some(a) => {
            let mut parts = a.splitn(3, ':');
            match (parts.next(), parts.next(), parts.next()) {
                (Some(t), Some(id), Some(pp)) => Some((t.to_owned(), id.to_owned(), pp.to_owned())),
                _ => {
                    return Err(ApiError::bad(
                        "after is TOKEN:ADAM_ID:PRICING, the previous page's next",
                    ));
                }
            }
        }
        None => None,
    };
    let page = app
        .store
        .list_vpp_assets(&VppAssetQuery {
            token: p.token,
            after,
            limit: p.limit.unwrap_or(100).clamp(1, 1000),
        })
        .await
        .map_err(store_error)?;
    let assets: Vec<Json_> = page
        .items
        .iter()
        .map(|a| {
            json!({
                "token": a.token,
                "adam_id": a.record.adam_id,
                "pricing_param": a.record.pricing_param,
                "product_type": a.record.product_type,
                "name": a.metadata.name,
                "bundle_id": a.metadata.bundle_id,
                "icon_url": a.metadata.icon_url,
                "version": a.metadata.version,
                "platforms": a.record.platforms,
                "total_count": a.record.total_count,
                "assigned_count": a.record.assigned_count,
                "available_count": a.record.available_count,
                "retired_count": a.record.retired_count,
                "requested_count": a.requested,
                "free_count": a.free(),
                "device_assignable": a.record.device_assignable,
                "revocable": a.record.revocable,
                "updated_at": a.updated_at,
            })
        })
        .collect();
    Ok(Json(json!({
        "assets": assets,
        "next": page.next.map(|(t, id, pp)| format!("{t}:{id}:{pp}")),
    })))
}

/// `POST /api/v1/vpp/assignments` (and `/remove`) body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssignBody {
    token: String,
    adam_id: String,
    #[serde(default)]
    pricing_param: Option<String>,
    /// Enrolled devices, by UDID.
    devices: Vec<String>,
    /// `ManagementFlags` of the install (1: remove with the MDM profile,
    /// 4: no backup of the app's data, 5: both).
    #[serde(default)]
    management_flags: Option<u64>,
}

/// `(serial, udid)` of each device, or the error naming the first that
/// cannot take a license.
async fn resolve_devices(app: &App, udids: &[String]) -> ApiResult<Vec<(String, Option<String>)>> {
    if udids.is_empty() || udids.len() > MAX_DEVICES_PER_REQUEST {
        return Err(ApiError::bad(format!(
            "name 1 to {MAX_DEVICES_PER_REQUEST} devices (UDIDs) per request"
        )));
    }
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(udids.len());
    for udid in udids {
        if !seen.insert(udid) {
            continue;
        }
        let ok = !udid.is_empty() && udid.len() <= 128 && !udid.chars().any(char::is_control);
        if !ok {
            return Err(ApiError::bad("invalid device identifier"));
        }
        let e = app
            .store
            .get_enrollment(&EnrollmentId::device(udid.clone()))
            .await?
            .ok_or_else(|| ApiError::not_found(format!("no device {udid}")))?;
        let serial = e.serial_number.clone().ok_or_else(|| {
            ApiError::new(
                StatusCode::CONFLICT,
                format!(
                    "device {udid} has not reported its serial number yet (run DeviceInformation)"
                ),
            )
        })?;
        out.push((serial, Some(udid.clone())));
    }
    Ok(out)
}

/// `POST /api/v1/vpp/assignments`: give the app's licenses to devices and
/// install it on them. Refused with 409 when the free licenses cannot
/// cover it.
pub async fn assign(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> ApiResult<(StatusCode, Json<Json_>)> {
    let actor = authorize(&app, &headers)?;
    let body: AssignBody =
        serde_json::from_slice(&body).map_err(|e| ApiError::bad(format!("body: {e}")))?;
    if let Some(f) = body.management_flags
        && !matches!(f, 0 | 1 | 4 | 5)
    {
        return Err(ApiError::bad("management_flags is 0, 1, 4 or 5"));
    }
    let pricing = body
        .pricing_param
        .clone()
        .unwrap_or_else(|| "STDQ".to_owned());
    let devices = resolve_devices(&app, &body.devices).await?;
    let asset = app
        .store
        .get_vpp_asset(&body.token, &body.adam_id, &pricing)
        .await
        .map_err(store_error)?
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "token {} has no asset {} ({pricing}); sync it if it was just bought",
                body.token, body.adam_id
            ))
        })?;
    let now = unix_millis(SystemTime::now());
    let options = json!({ "management_flags": body.management_flags }).to_string();
    let outcome = app
        .store
        .request_vpp_assignments(&VppAssignRequest {
            token: body.token.clone(),
            adam_id: body.adam_id.clone(),
            pricing_param: pricing.clone(),
            devices: devices.clone(),
            options_json: options,
            requested_by: actor.clone(),
            now,
        })
        .await
        .map_err(|e| match e {
            pippin_store::Error::NotEnoughVppLicenses { needed, free } => ApiError::new(
                StatusCode::CONFLICT,
                format!(
                    "not enough licenses: {} ({}) has {free} free, and {needed} of these devices need one",
                    asset.metadata.name.as_deref().unwrap_or(&body.adam_id),
                    body.adam_id
                ),
            ),
            other => store_error(other),
        })?;
    app.store
        .audit(&AuditEntry {
            at: now,
            actor,
            action: "vpp_assign".to_owned(),
            target: format!("{}:{}", body.token, body.adam_id),
            detail: json!({ "devices": body.devices, "requested": outcome.requested, "unchanged": outcome.unchanged }),
        })
        .await?;
    app.vpp.wake(&body.token);
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({
            "token": body.token,
            "adam_id": body.adam_id,
            "pricing_param": pricing,
            "requested": outcome.requested,
            "unchanged": outcome.unchanged,
            "devices": devices.iter().map(|(s, u)| json!({"serial_number": s, "udid": u})).collect::<Vec<_>>(),
        })),
    ))
}

/// `POST /api/v1/vpp/assignments/remove`: remove the app from devices and
/// give the licenses back.
pub async fn unassign(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> ApiResult<(StatusCode, Json<Json_>)> {
    let actor = authorize(&app, &headers)?;
    let body: AssignBody =
        serde_json::from_slice(&body).map_err(|e| ApiError::bad(format!("body: {e}")))?;
    let pricing = body
        .pricing_param
        .clone()
        .unwrap_or_else(|| "STDQ".to_owned());
    let devices = resolve_devices(&app, &body.devices).await?;
    let serials: Vec<String> = devices.into_iter().map(|(s, _)| s).collect();
    let now = unix_millis(SystemTime::now());
    let changed = app
        .store
        .request_vpp_removals(&body.token, &body.adam_id, &pricing, &serials, &actor, now)
        .await
        .map_err(store_error)?;
    app.store
        .audit(&AuditEntry {
            at: now,
            actor,
            action: "vpp_unassign".to_owned(),
            target: format!("{}:{}", body.token, body.adam_id),
            detail: json!({ "devices": body.devices, "changed": changed }),
        })
        .await?;
    app.vpp.wake(&body.token);
    Ok((StatusCode::ACCEPTED, Json(json!({ "changed": changed }))))
}

/// `GET /api/v1/vpp/assignments` parameters.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssignmentParams {
    token: Option<String>,
    adam_id: Option<String>,
    serial_number: Option<String>,
    state: Option<String>,
    after: Option<String>,
    limit: Option<u32>,
}

/// `GET /api/v1/vpp/assignments`: each assignment and where it stands.
pub async fn list_assignments(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Query(p): Query<AssignmentParams>,
) -> ApiResult<Json<Json_>> {
    authorize(&app, &headers)?;
    let state = match p.state.as_deref() {
        Some(s) => Some(
            VppAssignState::parse(s)
                .ok_or_else(|| ApiError::bad(format!("unknown state {s:?}")))?,
        ),
        None => None,
    };
    let after = match p.after.as_deref() {
        Some(a) => {
            let parts: Vec<&str> = a.splitn(4, ':').collect();
            match parts.as_slice() {
                [t, id, pp, s] => Some((
                    (*t).to_owned(),
                    (*id).to_owned(),
                    (*pp).to_owned(),
                    (*s).to_owned(),
                )),
                _ => return Err(ApiError::bad("after is the previous page's next")),
            }
        }
        None => None,
    };
    let page = app
        .store
        .list_vpp_assignments(&VppAssignmentQuery {
            token: p.token,
            adam_id: p.adam_id,
            serial_number: p.serial_number,
            state,
            after,
            limit: p.limit.unwrap_or(100).clamp(1, 1000),
        })
        .await
        .map_err(store_error)?;
    let items: Vec<Json_> = page
        .items
        .iter()
        .map(|a| {
            json!({
                "token": a.token,
                "adam_id": a.adam_id,
                "pricing_param": a.pricing_param,
                "serial_number": a.serial_number,
                "udid": a.udid,
                "state": a.state.as_str(),
                "event_id": a.event_id,
                "command_uuid": a.command_uuid,
                "detail": a.detail,
                "attempts": a.attempts,
                "next_at": a.next_at,
                "requested_by": a.requested_by,
                "created_at": a.created_at,
                "updated_at": a.updated_at,
            })
        })
        .collect();
    Ok(Json(json!({
        "assignments": items,
        "next": page.next.map(|(t, id, pp, s)| format!("{t}:{id}:{pp}:{s}")),
    })))
}

// ---- Notifications from Apple ----------------------------------------

/// `POST /mdm/vpp/notify/{name}`: a notification from Apple, with the
/// secret given when the token was claimed as its bearer token.
pub async fn notify(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let stored = match app.store.get_vpp_token(&name).await {
        Ok(Some(t)) => t.notify_secret_sealed,
        Ok(None) => return (StatusCode::NOT_FOUND, "no such token").into_response(),
        Err(e) => {
            error!(error = %e, "VPP notification: store");
            return (StatusCode::SERVICE_UNAVAILABLE, "try again").into_response();
        }
    };
    let mut secrets = Vec::new();
    if let Some(sealed) = stored
        && let Ok(s) = app.secrets.open(&secret_context(&name), &sealed)
    {
        secrets.push(String::from_utf8_lossy(s.expose()).into_owned());
    }
    if let Some(p) = lock(&app.vpp.pending_secrets).get(&name) {
        secrets.push(p.clone());
    }
    if !secrets.iter().any(|s| vpp_client::authorized(auth, s)) {
        app.metrics.rejected.inc();
        warn!(token = %name, "VPP notification with a wrong or missing secret refused");
        return (StatusCode::UNAUTHORIZED, "unauthorized").into_response();
    }
    let n = match Notification::parse(&body) {
        Ok(n) => n,
        Err(e) => {
            warn!(token = %name, error = %e, "unreadable VPP notification");
            return (StatusCode::BAD_REQUEST, "unreadable notification").into_response();
        }
    };
    app.metrics.vpp_notifications.inc();
    let now = unix_millis(SystemTime::now());
    match app
        .store
        .first_vpp_notification(&n.notification_id, &name, now)
        .await
    {
        Ok(true) => {}
        Ok(false) => return StatusCode::OK.into_response(),
        Err(e) => {
            error!(error = %e, "VPP notification: store");
            return (StatusCode::SERVICE_UNAVAILABLE, "try again").into_response();
        }
    }
    match n.body {
        NotificationBody::Test => info!(token = %name, "VPP test notification received"),
        NotificationBody::AssetManagement(m) => {
            info!(token = %name, event_id = m.event_id.as_deref().unwrap_or(""), result = %m.result,
                kind = %m.kind, assignments = m.assignments.len(), "VPP job notification");
            if let Some(id) = &m.event_id {
                app.vpp.hurry_event(&name, id);
            }
        }
        NotificationBody::AssetCount(c) => {
            match app
                .store
                .adjust_vpp_asset_count(
                    &name,
                    &c.adam_id,
                    c.pricing_param.as_str(),
                    c.count_delta,
                    now,
                )
                .await
            {
                Ok(true) => {
                    info!(token = %name, adam_id = %c.adam_id, delta = c.count_delta, "VPP license count changed")
                }
                // A new asset: the next sync brings it in.
                Ok(false) => app.vpp.request_sync(&name),
                Err(e) => warn!(token = %name, error = %e, "cannot apply a license count change"),
            }
        }
        other => info!(token = %name, notification = ?other, "VPP notification ignored"),
    }
    let cutoff =
        now.saturating_sub(i64::try_from(NOTIFICATION_MEMORY.as_millis()).unwrap_or(i64::MAX));
    if n.notification_id.ends_with('0') {
        // Now and then, forget old ids.
        let _ = app.store.prune_vpp_notifications(cutoff).await;
    }
    StatusCode::OK.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_names() {
        assert!(valid_name("main"));
        assert!(valid_name("school-1.b_c"));
        assert!(!valid_name(""));
        assert!(!valid_name("a/b"));
        assert!(!valid_name(&"x".repeat(65)));
    }

    #[test]
    fn groups_by_asset() {
        let row = |adam: &str, serial: &str| VppAssignment {
            token: "t".into(),
            adam_id: adam.into(),
            pricing_param: "STDQ".into(),
            serial_number: serial.into(),
            udid: None,
            state: VppAssignState::PendingAssociate,
            event_id: None,
            command_uuid: None,
            detail: None,
            options_json: "{}".into(),
            attempts: 0,
            next_at: None,
            requested_by: "a".into(),
            created_at: 0,
            updated_at: 0,
        };
        let g = by_asset(vec![row("2", "A"), row("1", "B"), row("2", "C")]);
        let keys: Vec<_> = g.keys().map(|(a, _)| a.as_str()).collect();
        assert_eq!(keys, vec!["1", "2"]);
        assert_eq!(g[&("2".to_owned(), "STDQ".to_owned())].len(), 2);
    }
}

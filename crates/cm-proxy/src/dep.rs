//! The DEP service: Automated Device Enrollment through Apple Business
//! Manager.
//!
//! A site has one or more *DEP links*, one per server token Apple Business
//! Manager issues. For each, a task keeps the site's device list in step
//! with Apple's (a full fetch, then syncs on a schedule; the cursor is
//! stored after every page), records every device and its `op_type`
//! history, and assigns the site's enrollment profile to devices that
//! appear. Devices in Setup Assistant then fetch that profile from
//! [`enroll`], posting their signed machine information.
//!
//! The key pair whose certificate the administrator uploads to Apple
//! Business Manager is made on first use; its private key, and every
//! token's OAuth secrets, are kept sealed with the site master key.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use dep_client::client::{ClientConfig, DepClient};
use dep_client::{
    CursorState, DeviceStatus, ErrorCode, Phase, Profile, ServerToken, SyncConfig, SyncEvent,
    SyncMachine, TokenKey,
};
use pippin_store::{
    AssignStatus, AuditEntry, DepAssignFailure, DepAssignment, DepDevice, DepDeviceCounts,
    DepDeviceQuery, DepDeviceRecord, DepPhase, DepRetryPolicy, NewDepLink,
};
use serde::Deserialize;
use serde_json::{Value as Json_, json};
use sha2::Digest as _;
use tokio::sync::{Notify, watch};
use tracing::{error, info, warn};
use x509_cert::Certificate;

use crate::api::{ApiError, ApiResult, authorize};
use crate::config::DepConfig;
use crate::state::{App, unix_millis};

/// Sealing context of the DEP private key.
const DEP_KEY_CONTEXT: &str = "dep-key";

/// Largest server token file accepted (they are a few KB).
pub const MAX_TOKEN_UPLOAD: usize = 256 * 1024;

/// Devices assigned per request (Apple's limit).
const ASSIGN_BATCH: u32 = 1000;

/// Assignment requests per pass, bounding one pass's work.
const MAX_ASSIGN_BATCHES: usize = 200;

/// The longest sync interval accepted: a week.
pub const MAX_SYNC_INTERVAL_SECS: u64 = 7 * 86_400;

/// The shortest sync interval accepted.
pub const MIN_SYNC_INTERVAL_SECS: u64 = 10;

/// The shortest wait between two passes of a link, so that a retry time
/// already due never makes a busy loop.
const MIN_PASS_GAP: Duration = Duration::from_secs(1);

/// Certificates between a MachineInfo signer and an anchor, at most.
const MAX_CHAIN_DEPTH: usize = 8;

fn token_context(link: &str) -> String {
    format!("dep-token:{link}")
}

/// The running DEP links and what they share.
pub struct DepService {
    config: DepConfig,
    /// The DEP enrollment URL (`…/mdm/dep/enroll`).
    enroll_url: String,
    /// The server CA (DER), given to devices as an anchor certificate so
    /// that Setup Assistant trusts the server.
    anchor_der: Vec<u8>,
    data_dir: std::path::PathBuf,
    extra_ca_pem: Option<String>,
    /// `[dep] machine_info_ca`: MachineInfo signers must chain to one of
    /// these (none: not anchored).
    machine_info_anchors: Vec<Certificate>,
    links: Mutex<HashMap<String, LinkHandle>>,
    stop: Mutex<Option<watch::Receiver<bool>>>,
    key_lock: tokio::sync::Mutex<()>,
}

struct LinkHandle {
    wake: Arc<Notify>,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for DepService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DepService")
            .field("base_url", &self.config.base_url)
            .field("enroll_url", &self.enroll_url)
            .finish_non_exhaustive()
    }
}

impl DepService {
    /// The service for `config`; links start with [`start`](Self::start).
    pub fn new(
        config: DepConfig,
        public_url: &str,
        anchor_der: Vec<u8>,
        data_dir: std::path::PathBuf,
    ) -> crate::Result<Self> {
        let extra_ca_pem = match &config.ca {
            Some(p) => Some(std::fs::read_to_string(p).map_err(|e| crate::Error::io(p, e))?),
            None => None,
        };
        match config.assign_method.to_ascii_lowercase().as_str() {
            "post" | "put" => {}
            other => {
                return Err(crate::Error::Config(format!(
                    "dep.assign_method must be post or put, not {other:?}"
                )));
            }
        }
        check_config(&config)?;
        let machine_info_anchors = match &config.machine_info_ca {
            Some(p) => {
                let pem = std::fs::read(p).map_err(|e| crate::Error::io(p, e))?;
                let certs = Certificate::load_pem_chain(&pem).map_err(|e| {
                    crate::Error::Config(format!(
                        "dep.machine_info_ca {}: not PEM certificates: {e}",
                        p.display()
                    ))
                })?;
                if certs.is_empty() {
                    return Err(crate::Error::Config(format!(
                        "dep.machine_info_ca {}: no certificate in it",
                        p.display()
                    )));
                }
                certs
            }
            None => Vec::new(),
        };
        Ok(Self {
            enroll_url: format!("{}/mdm/dep/enroll", public_url.trim_end_matches('/')),
            config,
            anchor_der,
            data_dir,
            extra_ca_pem,
            machine_info_anchors,
            links: Mutex::new(HashMap::new()),
            stop: Mutex::new(None),
            key_lock: tokio::sync::Mutex::new(()),
        })
    }

    /// Starts a task per stored link; they stop when `stop` turns true.
    pub async fn start(app: &Arc<App>, stop: watch::Receiver<bool>) {
        *lock(&app.dep.stop) = Some(stop);
        if app.dep.machine_info_anchors.is_empty() {
            info!(
                "DEP enrollment: MachineInfo signatures must verify, but their signers are not \
                 anchored to Apple's device CA; set [dep] machine_info_ca to require that"
            );
        } else {
            info!(
                anchors = app.dep.machine_info_anchors.len(),
                "DEP enrollment: MachineInfo signers must chain to [dep] machine_info_ca"
            );
        }
        match app.store.list_dep_links().await {
            Ok(links) => {
                for link in links {
                    app.dep.ensure_task(app, &link.name);
                }
            }
            Err(e) => error!(error = %e, "cannot list DEP links; DEP sync is not running"),
        }
    }

    /// Waits for every link task to end (after `stop`).
    pub async fn join(&self) {
        let tasks: Vec<_> = lock(&self.links).drain().map(|(_, h)| h.task).collect();
        for t in tasks {
            let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
        }
    }

    /// Starts the task of `name` if it is not running, or wakes it.
    fn ensure_task(&self, app: &Arc<App>, name: &str) {
        let Some(stop) = lock(&self.stop).clone() else {
            // Not serving (a build without `serve`): nothing to run.
            return;
        };
        let mut links = lock(&self.links);
        if let Some(h) = links.get(name)
            && !h.task.is_finished()
        {
            h.wake.notify_one();
            return;
        }
        let wake = Arc::new(Notify::new());
        let task = tokio::spawn(run_link(app.clone(), name.to_owned(), wake.clone(), stop));
        links.insert(name.to_owned(), LinkHandle { wake, task });
    }

    fn forget_task(&self, name: &str) {
        if let Some(h) = lock(&self.links).remove(name) {
            h.task.abort();
        }
    }

    /// The key pair whose certificate goes to Apple Business Manager: read,
    /// or made on first use (the key sealed with the master key).
    async fn key_pair(&self, app: &App) -> Result<(String, TokenKey), String> {
        let _one = self.key_lock.lock().await;
        let dir = self.data_dir.join("dep");
        let cert_path = dir.join("dep-cert.pem");
        let key_path = dir.join("dep-key.sealed");
        if !cert_path.exists() {
            std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            let mut rng = scep::rand_core::UnwrapErr(getrandom::SysRng);
            let pair = dep_client::generate_key_pair("Pippin MDM", SystemTime::now(), &mut rng)
                .map_err(|e| e.to_string())?;
            let sealed = app
                .secrets
                .seal(DEP_KEY_CONTEXT, pair.key_pem.as_bytes())
                .map_err(|e| e.to_string())?;
            pippin_service::write_file_atomic(&key_path, sealed.as_bytes(), true, true)
                .map_err(|e| e.to_string())?;
            pippin_service::write_file_atomic(&cert_path, pair.cert_pem.as_bytes(), false, true)
                .map_err(|e| e.to_string())?;
            info!(file = %cert_path.display(), "created the DEP key pair");
        }
        let cert_pem = std::fs::read_to_string(&cert_path)
            .map_err(|e| format!("{}: {e}", cert_path.display()))?;
        let sealed = std::fs::read_to_string(&key_path)
            .map_err(|e| format!("{}: {e}", key_path.display()))?;
        let key_pem = app
            .secrets
            .open(DEP_KEY_CONTEXT, &sealed)
            .map_err(|e| format!("{}: {e}", key_path.display()))?;
        let key_pem = String::from_utf8_lossy(key_pem.expose()).into_owned();
        let key = TokenKey::from_pem(&key_pem, Some(&cert_pem)).map_err(|e| e.to_string())?;
        Ok((cert_pem, key))
    }

    /// The enrollment profile definition sent to Apple.
    fn profile(&self) -> Profile {
        let c = &self.config.profile;
        let mut p = Profile::new(c.name.clone(), self.enroll_url.clone());
        p.is_supervised = Some(c.is_supervised);
        p.is_mandatory = Some(c.is_mandatory);
        p.is_mdm_removable = Some(c.is_mdm_removable);
        p.await_device_configured = Some(c.await_device_configured);
        p.allow_pairing = Some(c.allow_pairing);
        p.department.clone_from(&c.department);
        p.support_phone_number.clone_from(&c.support_phone_number);
        p.support_email_address.clone_from(&c.support_email_address);
        p.org_magic.clone_from(&c.org_magic);
        p.language.clone_from(&c.language);
        p.region.clone_from(&c.region);
        p.skip_setup_items.clone_from(&c.skip_setup_items);
        use base64::Engine as _;
        p.anchor_certs = vec![base64::engine::general_purpose::STANDARD.encode(&self.anchor_der)];
        p
    }

    /// How failed assignments are tried again.
    fn retry_policy(&self) -> DepRetryPolicy {
        let ms = |secs: u64| i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX);
        DepRetryPolicy {
            first_delay_ms: ms(self.config.assign_retry_secs),
            max_delay_ms: ms(self.config.assign_retry_max_secs),
            max_attempts: self.config.assign_max_attempts,
        }
    }

    fn client(&self, token: &ServerToken) -> dep_client::Result<DepClient> {
        let mut config = ClientConfig::default();
        config.base_url(self.config.base_url.clone());
        config.protocol_version(self.config.protocol_version);
        if self.config.assign_method.eq_ignore_ascii_case("put") {
            config.assign_method(axum::http::Method::PUT);
        }
        if let Some(pem) = &self.extra_ca_pem {
            config.extra_ca_pem(pem.clone());
        }
        DepClient::new(token.credentials.clone(), config)
    }
}

/// Refuses `[dep]` values the service cannot run with.
fn check_config(c: &DepConfig) -> crate::Result<()> {
    let bad = |m: String| Err(crate::Error::Config(m));
    if !(MIN_SYNC_INTERVAL_SECS..=MAX_SYNC_INTERVAL_SECS).contains(&c.sync_interval_secs) {
        return bad(format!(
            "dep.sync_interval_secs must be {MIN_SYNC_INTERVAL_SECS} to {MAX_SYNC_INTERVAL_SECS} \
             seconds, not {}",
            c.sync_interval_secs
        ));
    }
    if !(1..=99).contains(&c.protocol_version) {
        return bad(format!(
            "dep.protocol_version must be 1 to 99, not {}",
            c.protocol_version
        ));
    }
    if !(1..=86_400).contains(&c.assign_retry_secs) {
        return bad(format!(
            "dep.assign_retry_secs must be 1 to 86400, not {}",
            c.assign_retry_secs
        ));
    }
    if !(c.assign_retry_secs..=30 * 86_400).contains(&c.assign_retry_max_secs) {
        return bad(format!(
            "dep.assign_retry_max_secs must be dep.assign_retry_secs ({}) to 2592000, not {}",
            c.assign_retry_secs, c.assign_retry_max_secs
        ));
    }
    if !(1..=1000).contains(&c.assign_max_attempts) {
        return bad(format!(
            "dep.assign_max_attempts must be 1 to 1000, not {}",
            c.assign_max_attempts
        ));
    }
    Ok(())
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // The maps stay consistent across a panic (single inserts/removes).
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The stored token of `name`, opened.
async fn open_token(app: &App, name: &str) -> Result<Option<ServerToken>, String> {
    let Some(link) = app
        .store
        .get_dep_link(name)
        .await
        .map_err(|e| e.to_string())?
    else {
        return Ok(None);
    };
    let plain = app
        .secrets
        .open(&token_context(name), &link.token_sealed)
        .map_err(|e| format!("the stored token of {name}: {e}"))?;
    let json = String::from_utf8_lossy(plain.expose()).into_owned();
    ServerToken::from_json(&json)
        .map(Some)
        .map_err(|e| format!("the stored token of {name}: {e}"))
}

/// One link's life: sync passes on a schedule (or when woken), each
/// followed by profile assignment; in between, assignment passes when a
/// throttled or failed device is due again.
async fn run_link(app: Arc<App>, name: String, wake: Arc<Notify>, mut stop: watch::Receiver<bool>) {
    // Checked at start-up to be 10 s to a week.
    let interval = Duration::from_secs(app.dep.config.sync_interval_secs);
    let mut machine: Option<SyncMachine> = None;
    let mut loaded_token: Option<String> = None;
    let mut next_sync = Instant::now();
    loop {
        if *stop.borrow() {
            return;
        }
        let sync_due = Instant::now() >= next_sync;
        let pass = link_pass(
            &app,
            &name,
            &mut machine,
            &mut loaded_token,
            sync_due,
            interval,
        );
        let Some(next_retry) = pass.await else {
            info!(link = %name, "DEP link removed; its sync stops");
            return;
        };
        if sync_due {
            next_sync = Instant::now() + interval;
        }
        let wake_at = next_retry
            .map_or(next_sync, |r| r.min(next_sync))
            .max(Instant::now() + MIN_PASS_GAP);
        tokio::select! {
            () = tokio::time::sleep_until(wake_at.into()) => {}
            // Woken by the admin API (a new token, a sync or an assignment
            // asked for): sync and assign now.
            () = wake.notified() => next_sync = Instant::now(),
            _ = stop.changed() => return,
        }
    }
}

/// One pass: a sync when due, then the assignments due. `None` when the
/// link is gone; else when the next throttled or failed device is due.
async fn link_pass(
    app: &App,
    name: &str,
    machine: &mut Option<SyncMachine>,
    loaded_token: &mut Option<String>,
    sync_due: bool,
    interval: Duration,
) -> Option<Option<Instant>> {
    let token = match open_token(app, name).await {
        Ok(Some(t)) => t,
        Ok(None) => return None,
        Err(e) => {
            error!(link = %name, error = %e, "DEP link unusable");
            record(app, name, false, Some(&e)).await;
            return Some(None);
        }
    };
    // A replaced token starts a new session and machine.
    let fingerprint = token.credentials.access_token.clone();
    if loaded_token.as_deref() != Some(fingerprint.as_str()) {
        *machine = None;
        *loaded_token = Some(fingerprint);
    }
    warn_expiry(app, name, &token);
    let client = match app.dep.client(&token) {
        Ok(c) => c,
        Err(e) => {
            error!(link = %name, error = %e, "DEP client");
            record(app, name, false, Some(&e.to_string())).await;
            return Some(None);
        }
    };
    if sync_due {
        sync_pass(app, name, &client, machine, interval).await;
    }
    assign_pass(app, name, &client).await;
    match app.store.dep_next_assign_retry(name).await {
        Ok(next) => Some(next.map(|at| {
            let wait = at.saturating_sub(unix_millis(SystemTime::now())).max(0);
            Instant::now() + Duration::from_millis(u64::try_from(wait).unwrap_or(0))
        })),
        Err(pippin_store::Error::UnknownDepLink(_)) => None,
        Err(e) => {
            warn!(link = %name, error = %e, "cannot read the next DEP assignment retry");
            Some(None)
        }
    }
}

async fn record(app: &App, name: &str, ok: bool, error: Option<&str>) {
    if !ok {
        app.metrics.dep_sync_failures.inc();
    }
    if let Err(e) = app
        .store
        .record_dep_sync(name, ok, error, unix_millis(SystemTime::now()))
        .await
    {
        warn!(link = %name, error = %e, "cannot record the DEP sync result");
    }
}

fn warn_expiry(app: &App, name: &str, token: &ServerToken) {
    let Some(expiry) = token.expiry() else { return };
    let now = SystemTime::now();
    let warn_at = Duration::from_secs(app.dep.config.token_warning_days * 86_400);
    if expiry <= now {
        error!(link = %name, "the DEP server token has expired: download a new one from Apple Business Manager and upload it");
    } else if expiry.duration_since(now).unwrap_or_default() < warn_at {
        let days = expiry.duration_since(now).unwrap_or_default().as_secs() / 86_400;
        warn!(link = %name, days, "the DEP server token expires soon: renew it in Apple Business Manager");
    }
}

/// Runs the sync machine until it is caught up (or fails), storing every
/// page and cursor.
async fn sync_pass(
    app: &App,
    name: &str,
    client: &DepClient,
    machine: &mut Option<SyncMachine>,
    interval: Duration,
) {
    // The account (server name, organisation) for the admin API.
    match client.account().await {
        Ok(account) => {
            let json = serde_json::to_string(&account).unwrap_or_default();
            let server_name = account.server_name.clone();
            let server_uuid = account.server_uuid.clone();
            let org_name = account.org_name.clone();
            if let Err(e) = app
                .store
                .set_dep_account(
                    name,
                    Some(&json),
                    server_name.as_deref(),
                    server_uuid.as_deref(),
                    org_name.as_deref(),
                    unix_millis(SystemTime::now()),
                )
                .await
            {
                warn!(link = %name, error = %e, "cannot store the DEP account");
            }
        }
        Err(e) => {
            warn!(link = %name, error = %e, "GET /account failed");
            if !e.is_retryable() {
                record(app, name, false, Some(&e.to_string())).await;
                return;
            }
        }
    }
    let m = match machine {
        Some(m) => m,
        None => {
            let state = match app.store.get_dep_link(name).await {
                Ok(Some(link)) => CursorState {
                    cursor: link.cursor.clone(),
                    phase: match link.phase {
                        DepPhase::Sync => Phase::Sync,
                        _ => Phase::Fetch,
                    },
                },
                Ok(None) => return,
                Err(e) => {
                    warn!(link = %name, error = %e, "cannot read the DEP cursor");
                    return;
                }
            };
            let mut config = SyncConfig::default();
            config.interval(interval);
            machine.insert(SyncMachine::new(config, state, Instant::now()))
        }
    };
    m.sync_now(Instant::now());
    let started = Instant::now();
    let mut devices_seen = 0usize;
    loop {
        match client.next_sync_event(m).await {
            SyncEvent::Devices { devices, .. } => {
                devices_seen += devices.len();
                app.metrics.dep_devices.add(devices.len() as u64);
                let records: Vec<DepDeviceRecord> = devices.iter().map(record_of).collect();
                for chunk in records.chunks(1000) {
                    match app
                        .store
                        .upsert_dep_devices(name, chunk, unix_millis(SystemTime::now()))
                        .await
                    {
                        Ok(out) => {
                            if out.new > 0 || out.deleted > 0 {
                                info!(link = %name, new = out.new, updated = out.updated, deleted = out.deleted, "DEP devices");
                            }
                            if !app.dep.config.auto_assign && !out.pending.is_empty() {
                                skip_new_devices(app, name, &out.pending).await;
                            }
                        }
                        Err(e) => {
                            // Not persisting the cursor after a failed
                            // write would lose nothing, but the machine
                            // has moved on: stop the pass and start over
                            // from the stored cursor next time.
                            error!(link = %name, error = %e, "cannot store DEP devices");
                            *machine = None;
                            record(app, name, false, Some(&e.to_string())).await;
                            return;
                        }
                    }
                }
            }
            SyncEvent::Cursor(state) => {
                let phase = match state.phase {
                    Phase::Sync => DepPhase::Sync,
                    Phase::Fetch => DepPhase::Fetch,
                };
                if let Err(e) = app
                    .store
                    .set_dep_cursor(
                        name,
                        state.cursor.as_deref(),
                        phase,
                        unix_millis(SystemTime::now()),
                    )
                    .await
                {
                    error!(link = %name, error = %e, "cannot store the DEP cursor");
                    *machine = None;
                    record(app, name, false, Some(&e.to_string())).await;
                    return;
                }
            }
            SyncEvent::FetchComplete => {
                info!(link = %name, "DEP full fetch complete");
            }
            SyncEvent::CursorReset { code } => {
                warn!(link = %name, code = code.as_str(), "DEP cursor refused; fetching every device again");
            }
            SyncEvent::Retrying {
                attempt,
                delay,
                error,
            } => {
                warn!(link = %name, attempt, ?delay, %error, "DEP request failed; retrying");
            }
            SyncEvent::CaughtUp { .. } => {
                info!(
                    link = %name,
                    devices = devices_seen,
                    ms = started.elapsed().as_millis() as u64,
                    "DEP sync caught up"
                );
                record(app, name, true, None).await;
                prune_history(app).await;
                return;
            }
            SyncEvent::Failed { error, .. } => {
                error!(link = %name, %error, "DEP sync failed");
                record(app, name, false, Some(&error.to_string())).await;
                return;
            }
        }
    }
}

/// Drops device history older than `history_days` (every link's; cheap
/// with the history's time index).
async fn prune_history(app: &App) {
    let keep = Duration::from_secs(app.dep.config.history_days.max(1) * 86_400);
    let cutoff = unix_millis(
        SystemTime::now()
            .checked_sub(keep)
            .unwrap_or(SystemTime::UNIX_EPOCH),
    );
    match app.store.prune_dep_events(cutoff).await {
        Ok(0) => {}
        Ok(n) => info!(removed = n, "pruned old DEP device history"),
        Err(e) => warn!(error = %e, "cannot prune DEP device history"),
    }
}

fn record_of(d: &dep_client::Device) -> DepDeviceRecord {
    DepDeviceRecord {
        serial_number: d.serial_number.clone(),
        model: d.model.clone(),
        description: d.description.clone(),
        color: d.color.clone(),
        asset_tag: d.asset_tag.clone(),
        os: d.os.clone(),
        device_family: d.device_family.clone(),
        profile_status: d.profile_status.as_ref().map(|s| s.as_str().to_owned()),
        profile_uuid: d.profile_uuid.clone(),
        profile_assign_time: d.profile_assign_time.clone(),
        profile_push_time: d.profile_push_time.clone(),
        device_assigned_date: d.device_assigned_date.clone(),
        device_assigned_by: d.device_assigned_by.clone(),
        op_type: d.op_type.as_ref().map(|o| o.as_str().to_owned()),
        op_date: d.op_date.clone(),
        raw_json: serde_json::to_string(d).unwrap_or_default(),
    }
}

/// With `auto_assign` off, devices that appear (new, or back on the
/// server) are not assigned a profile until an administrator asks.
async fn skip_new_devices(app: &App, name: &str, serials: &[String]) {
    let assignment = DepAssignment {
        status: AssignStatus::Skipped,
        detail: Some("auto_assign is off: assign it through the admin API".to_owned()),
        profile_uuid: None,
        retry_after: None,
        now: unix_millis(SystemTime::now()),
    };
    match app
        .store
        .set_dep_assignment(name, serials, &assignment)
        .await
    {
        Ok(n) => info!(link = %name, count = n, "DEP devices not assigned (auto_assign is off)"),
        Err(e) => warn!(link = %name, error = %e, "cannot mark DEP devices skipped"),
    }
}

/// Defines the profile if it changed (and puts the devices assigned the
/// old one back in line for the new one), then assigns it to the devices
/// due: pending ones, and throttled or failed ones whose retry time has
/// come.
async fn assign_pass(app: &App, name: &str, client: &DepClient) {
    let profile = app.dep.profile();
    let hash = hex::encode(sha2::Sha256::digest(
        serde_json::to_vec(&profile).unwrap_or_default(),
    ));
    let Ok(Some(link)) = app.store.get_dep_link(name).await else {
        return;
    };
    let profile_uuid = match (&link.profile_uuid, &link.profile_hash) {
        (Some(uuid), Some(h)) if *h == hash => uuid.clone(),
        _ => match client.define_profile(&profile).await {
            Ok(resp) => {
                let uuid = resp.profile_uuid.clone();
                info!(link = %name, profile_uuid = %uuid, "DEP enrollment profile defined");
                let now = unix_millis(SystemTime::now());
                // Everything assigned with an older definition gets the new
                // one. Until that is recorded the new profile is not: if it
                // fails, the next pass defines the profile again.
                match app.store.requeue_dep_assignments(name, &uuid, now).await {
                    Ok(0) => {}
                    Ok(n) => {
                        info!(link = %name, count = n, "DEP devices to be assigned the new profile")
                    }
                    Err(e) => {
                        warn!(link = %name, error = %e, "cannot re-queue DEP devices for the new profile");
                        return;
                    }
                }
                if let Err(e) = app
                    .store
                    .set_dep_profile(name, Some(&uuid), Some(&hash), now)
                    .await
                {
                    warn!(link = %name, error = %e, "cannot store the DEP profile");
                }
                uuid
            }
            Err(e) => {
                error!(link = %name, error = %e, "defining the DEP profile failed");
                return;
            }
        },
    };
    let retry = app.dep.retry_policy();
    for _ in 0..MAX_ASSIGN_BATCHES {
        let now = unix_millis(SystemTime::now());
        let serials = match app
            .store
            .dep_devices_to_assign(name, now, ASSIGN_BATCH)
            .await
        {
            Ok(s) => s,
            Err(e) => {
                warn!(link = %name, error = %e, "cannot read DEP devices to assign");
                return;
            }
        };
        if serials.is_empty() {
            return;
        }
        let failure = |detail: String| DepAssignFailure {
            detail: Some(detail),
            profile_uuid: Some(profile_uuid.clone()),
            retry,
            now,
        };
        match client.assign_profile(&profile_uuid, &serials).await {
            Ok(resp) => {
                if !record_assign_answer(app, name, &profile_uuid, &serials, &resp, &failure, now)
                    .await
                {
                    return;
                }
            }
            Err(e) if e.api().is_some_and(|a| a.is(&ErrorCode::ProfileNotFound)) => {
                // Apple does not know the stored profile: define it again
                // at the next pass. The devices are not to blame.
                warn!(link = %name, profile_uuid = %profile_uuid, "the DEP service does not know the enrollment profile; it is defined again");
                if let Err(e) = app.store.set_dep_profile(name, None, None, now).await {
                    warn!(link = %name, error = %e, "cannot forget the DEP profile");
                }
                return;
            }
            Err(e) => {
                error!(link = %name, error = %e, retryable = e.is_retryable(), devices = serials.len(), "assigning the DEP profile failed");
                match app
                    .store
                    .record_dep_assign_failure(name, &serials, &failure(e.to_string()))
                    .await
                {
                    Ok(o) => {
                        count_assign_failures(app, o.retrying + o.gave_up);
                        if o.gave_up > 0 {
                            warn!(link = %name, count = o.gave_up, "DEP profile assignment given up after {} tries", retry.max_attempts);
                        }
                    }
                    Err(e) => {
                        warn!(link = %name, error = %e, "cannot store DEP assignment failures")
                    }
                }
                // The service is failing: leave the rest to their retries.
                return;
            }
        }
    }
}

/// Adds to `pippin_dep_assignment_failures_total`.
fn count_assign_failures(app: &App, n: u64) {
    if let Ok(c) = app.metrics.registry.counter(
        "pippin_dep_assignment_failures_total",
        "DEP profile assignments that failed for a device (each try counts; retried until \
         [dep] assign_max_attempts).",
        &[],
    ) {
        c.add(n);
    }
}

/// Sets the DEP token gauges from the stored links: days to the earliest
/// token expiry (`NaN` with no expiry known) and how many tokens expire
/// within `[dep] token_warning_days` (or have expired). Called when
/// `/metrics` is read.
pub async fn update_metrics(app: &App) {
    let Ok(links) = app.store.list_dep_links().await else {
        return;
    };
    let now = unix_millis(SystemTime::now());
    let warn_ms = warning_window_ms(&app.dep.config);
    let earliest = links.iter().filter_map(|l| l.token_expiry).min();
    let soon = links
        .iter()
        .filter(|l| {
            l.token_expiry
                .is_some_and(|e| e.saturating_sub(now) < warn_ms)
        })
        .count();
    let gauge = |name: &str, help: &str| app.metrics.registry.gauge(name, help, &[]);
    if let Ok(g) = gauge(
        "pippin_dep_token_expiry_days",
        "Days until the earliest DEP server token expires (negative: expired; NaN: no token).",
    ) {
        #[allow(clippy::cast_precision_loss)]
        g.set(earliest.map_or(f64::NAN, |e| (e - now) as f64 / 86_400_000.0));
    }
    if let Ok(g) = gauge(
        "pippin_dep_tokens_expiring_soon",
        "DEP server tokens that expire within [dep] token_warning_days, or have expired.",
    ) {
        #[allow(clippy::cast_precision_loss)]
        g.set(soon as f64);
    }
}

/// `[dep] token_warning_days` in milliseconds.
fn warning_window_ms(c: &DepConfig) -> i64 {
    i64::try_from(c.token_warning_days.saturating_mul(86_400_000)).unwrap_or(i64::MAX)
}

/// Stores Apple's per-device answer to an assignment. False if the store
/// failed (the pass stops).
async fn record_assign_answer(
    app: &App,
    name: &str,
    profile_uuid: &str,
    serials: &[String],
    resp: &dep_client::AssignProfileResponse,
    failure: &impl Fn(String) -> DepAssignFailure,
    now: i64,
) -> bool {
    let mut assigned = Vec::new();
    let mut not_accessible = Vec::new();
    let mut throttled = Vec::new();
    // Per detail: FAILED, no answer, or a status this code does not know.
    let mut failed: HashMap<String, Vec<String>> = HashMap::new();
    for serial in serials {
        match resp.devices.get(serial) {
            Some(DeviceStatus::Success) => assigned.push(serial.clone()),
            Some(DeviceStatus::NotAccessible) => not_accessible.push(serial.clone()),
            Some(DeviceStatus::Throttled) => throttled.push(serial.clone()),
            Some(DeviceStatus::Failed) => failed
                .entry("FAILED".to_owned())
                .or_default()
                .push(serial.clone()),
            Some(other) => failed
                .entry(other.as_str().to_owned())
                .or_default()
                .push(serial.clone()),
            None => failed
                .entry("no answer for the device".to_owned())
                .or_default()
                .push(serial.clone()),
        }
    }
    // Apple's wait for throttled devices (protocol version 10), or our own.
    let throttled_until = match resp.retry_after_seconds {
        Some(s) => now.saturating_add(i64::try_from(s.saturating_mul(1000)).unwrap_or(i64::MAX)),
        None => now.saturating_add(app.dep.retry_policy().delay(1)),
    };
    let outcomes = [
        (AssignStatus::Assigned, assigned, "SUCCESS", None),
        (
            AssignStatus::NotAccessible,
            not_accessible,
            "NOT_ACCESSIBLE",
            None,
        ),
        (
            AssignStatus::Throttled,
            throttled,
            "THROTTLED",
            Some(throttled_until),
        ),
    ];
    for (status, list, detail, retry_after) in outcomes {
        if list.is_empty() {
            continue;
        }
        let assignment = DepAssignment {
            status,
            detail: Some(detail.to_owned()),
            profile_uuid: Some(profile_uuid.to_owned()),
            retry_after,
            now,
        };
        if let Err(e) = app.store.set_dep_assignment(name, &list, &assignment).await {
            warn!(link = %name, error = %e, "cannot store DEP assignments");
            return false;
        }
        if status == AssignStatus::Assigned {
            app.metrics.dep_assigned.add(list.len() as u64);
        }
        info!(link = %name, count = list.len(), status = status.as_str(), "DEP profile assignment");
    }
    for (detail, list) in failed {
        match app
            .store
            .record_dep_assign_failure(name, &list, &failure(detail.clone()))
            .await
        {
            Ok(o) => {
                count_assign_failures(app, list.len() as u64);
                warn!(link = %name, count = list.len(), detail, gave_up = o.gave_up, "DEP profile assignment failed for devices");
            }
            Err(e) => {
                warn!(link = %name, error = %e, "cannot store DEP assignment failures");
                return false;
            }
        }
    }
    true
}

// ---- Admin API -------------------------------------------------------

/// `GET /api/v1/dep/certificate`: the PEM certificate to upload to Apple
/// Business Manager (made on first request).
pub async fn get_certificate(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    authorize(&app, &headers)?;
    let (cert_pem, _) = app
        .dep
        .key_pair(&app)
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e))?;
    Ok(([(header::CONTENT_TYPE, "application/x-pem-file")], cert_pem).into_response())
}

/// `PUT /api/v1/dep/links/{name}` body: the server token file Apple
/// Business Manager gave, in one of two forms.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenUpload {
    /// The file as text (S/MIME `.p7m`, PEM).
    token: Option<String>,
    /// The file's bytes in base64 (any form, DER included).
    token_base64: Option<String>,
}

impl TokenUpload {
    /// The token file's bytes.
    fn bytes(self) -> Result<Vec<u8>, ApiError> {
        use base64::Engine as _;
        match (self.token, self.token_base64) {
            (Some(text), None) => Ok(text.into_bytes()),
            (None, Some(b64)) => {
                let clean: String = b64.chars().filter(|c| !c.is_ascii_whitespace()).collect();
                base64::engine::general_purpose::STANDARD
                    .decode(clean)
                    .map_err(|e| ApiError::bad(format!("token_base64 is not base64: {e}")))
            }
            _ => Err(ApiError::bad(
                "give the server token file as token (text) or token_base64 (its bytes), one of them",
            )),
        }
    }
}

fn valid_link_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// `PUT /api/v1/dep/links/{name}`: add a link, or replace its token
/// (renewal keeps the cursor and devices).
pub async fn put_link(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(name): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    let actor = authorize(&app, &headers)?;
    if !valid_link_name(&name) {
        return Err(ApiError::bad(
            "a DEP link name is 1 to 64 letters, digits, '.', '_' or '-'",
        ));
    }
    if body.len() > MAX_TOKEN_UPLOAD {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("a server token upload is at most {MAX_TOKEN_UPLOAD} bytes"),
        ));
    }
    let up: TokenUpload =
        serde_json::from_slice(&body).map_err(|e| ApiError::bad(format!("body: {e}")))?;
    let file = up.bytes()?;
    let (_, key) = app
        .dep
        .key_pair(&app)
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e))?;
    let mut rng = scep::rand_core::UnwrapErr(getrandom::SysRng);
    let now = SystemTime::now();
    let token = key
        .decrypt(&file, now, &mut rng)
        .map_err(|e| ApiError::bad(format!("server token: {e}")))?;
    let json = serde_json::to_string(&token)
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let sealed = app
        .secrets
        .seal(&token_context(&name), json.as_bytes())
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let expiry = token.expiry().map(unix_millis);
    let created = app
        .store
        .put_dep_link(&NewDepLink {
            name: name.clone(),
            token_sealed: sealed,
            token_expiry: expiry,
            consumer_key: token.credentials.consumer_key.clone(),
            now: unix_millis(now),
        })
        .await?;
    app.store
        .audit(&AuditEntry {
            at: unix_millis(now),
            actor,
            action: if created {
                "add_dep_link"
            } else {
                "renew_dep_token"
            }
            .to_owned(),
            target: name.clone(),
            detail: json!({
                "consumer_key": token.credentials.consumer_key,
                "access_token_expiry": token.access_token_expiry,
            }),
        })
        .await?;
    info!(link = %name, created, "DEP server token stored");
    app.dep.ensure_task(&app, &name);
    let link = link_json(&app, &name).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(link)).into_response())
}

async fn link_json(app: &App, name: &str) -> ApiResult<Json_> {
    let link = app
        .store
        .get_dep_link(name)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no DEP link {name}")))?;
    let now = unix_millis(SystemTime::now());
    let counts = app.store.count_dep_devices(name).await?;
    let account: Json_ = link
        .account_json
        .as_deref()
        .and_then(|j| serde_json::from_str(j).ok())
        .unwrap_or(Json_::Null);
    Ok(json!({
        "name": link.name,
        "consumer_key": link.consumer_key,
        "token_expiry": link.token_expiry,
        "token_expires_in_days": link.token_expiry.map(|e| (e - now).div_euclid(86_400_000)),
        "token_expired": link.token_expiry.is_some_and(|e| e <= now),
        "token_expiring_soon": link
            .token_expiry
            .is_some_and(|e| e.saturating_sub(now) < warning_window_ms(&app.dep.config)),
        "server_name": link.server_name,
        "server_uuid": link.server_uuid,
        "org_name": link.org_name,
        "account": account,
        "phase": link.phase.as_str(),
        "has_cursor": link.cursor.is_some(),
        "cursor_at": link.cursor_at,
        "last_sync_at": link.last_sync_at,
        "last_sync_ok": link.last_sync_ok,
        "last_error": link.last_error,
        "profile_uuid": link.profile_uuid,
        "devices": counts_json(&counts),
    }))
}

fn counts_json(c: &DepDeviceCounts) -> Json_ {
    let mut by = serde_json::Map::new();
    for (status, n) in &c.by_status {
        by.insert(status.as_str().to_owned(), json!(n));
    }
    json!({ "total": c.total(), "deleted": c.deleted, "by_assign_status": by })
}

/// `GET /api/v1/dep/links`.
pub async fn list_links(State(app): State<Arc<App>>, headers: HeaderMap) -> ApiResult<Json<Json_>> {
    authorize(&app, &headers)?;
    let mut out = Vec::new();
    for link in app.store.list_dep_links().await? {
        out.push(link_json(&app, &link.name).await?);
    }
    Ok(Json(json!({ "links": out })))
}

/// `GET /api/v1/dep/links/{name}`.
pub async fn get_link(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> ApiResult<Json<Json_>> {
    authorize(&app, &headers)?;
    Ok(Json(link_json(&app, &name).await?))
}

/// `DELETE /api/v1/dep/links/{name}`: forget a link and its devices.
pub async fn delete_link(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    let actor = authorize(&app, &headers)?;
    if !app.store.delete_dep_link(&name).await? {
        return Err(ApiError::not_found(format!("no DEP link {name}")));
    }
    app.dep.forget_task(&name);
    app.store
        .audit(&AuditEntry {
            at: unix_millis(SystemTime::now()),
            actor,
            action: "delete_dep_link".to_owned(),
            target: name.clone(),
            detail: Json_::Null,
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/v1/dep/links/{name}/sync`: sync (and assign) now.
pub async fn sync_link(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> ApiResult<(StatusCode, Json<Json_>)> {
    authorize(&app, &headers)?;
    if app.store.get_dep_link(&name).await?.is_none() {
        return Err(ApiError::not_found(format!("no DEP link {name}")));
    }
    app.dep.ensure_task(&app, &name);
    Ok((StatusCode::ACCEPTED, Json(json!({ "sync": "started" }))))
}

/// `GET /api/v1/dep/devices` parameters.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceParams {
    link: Option<String>,
    after: Option<String>,
    limit: Option<u32>,
    assign_status: Option<String>,
    #[serde(default)]
    include_deleted: bool,
}

/// `GET /api/v1/dep/devices`.
pub async fn list_devices(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Query(p): Query<DeviceParams>,
) -> ApiResult<Json<Json_>> {
    authorize(&app, &headers)?;
    let assign_status = match p.assign_status.as_deref() {
        Some(s) => Some(
            AssignStatus::parse(s)
                .ok_or_else(|| ApiError::bad(format!("unknown assign_status {s:?}")))?,
        ),
        None => None,
    };
    let after = match p.after.as_deref() {
        Some(c) => Some(
            c.split_once(':')
                .map(|(l, s)| (l.to_owned(), s.to_owned()))
                .ok_or_else(|| ApiError::bad("after is LINK:SERIAL, the previous page's next"))?,
        ),
        None => None,
    };
    let page = app
        .store
        .list_dep_devices(&DepDeviceQuery {
            link: p.link.clone(),
            after,
            limit: p.limit.unwrap_or(100).clamp(1, 1000),
            assign_status,
            include_deleted: p.include_deleted,
        })
        .await?;
    let devices: Vec<Json_> = page.items.iter().map(device_json).collect();
    Ok(Json(json!({
        "devices": devices,
        "next": page.next.map(|(l, s)| format!("{l}:{s}")),
    })))
}

fn device_json(d: &DepDevice) -> Json_ {
    json!({
        "link": d.link,
        "serial_number": d.serial_number,
        "model": d.model,
        "description": d.description,
        "color": d.color,
        "asset_tag": d.asset_tag,
        "os": d.os,
        "device_family": d.device_family,
        "profile_status": d.profile_status,
        "profile_uuid": d.profile_uuid,
        "profile_assign_time": d.profile_assign_time,
        "profile_push_time": d.profile_push_time,
        "device_assigned_date": d.device_assigned_date,
        "device_assigned_by": d.device_assigned_by,
        "op_type": d.op_type,
        "op_date": d.op_date,
        "deleted": d.deleted,
        "assign_status": d.assign_status.as_str(),
        "assign_detail": d.assign_detail,
        "assign_profile_uuid": d.assign_profile_uuid,
        "assign_at": d.assign_at,
        "assign_attempts": d.assign_attempts,
        "retry_after": d.retry_after,
        "first_seen_at": d.first_seen_at,
        "updated_at": d.updated_at,
    })
}

/// `POST /api/v1/dep/devices/{serial}/assign`: assign the profile again
/// (at the next pass, which this starts), whatever `auto_assign` says and
/// however the last assignment ended.
pub async fn reassign_device(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(serial): Path<String>,
) -> ApiResult<(StatusCode, Json<Json_>)> {
    let actor = authorize(&app, &headers)?;
    let found = app.store.find_dep_device(&serial).await?;
    if found.is_empty() {
        return Err(ApiError::not_found(format!("no DEP device {serial}")));
    }
    let now = unix_millis(SystemTime::now());
    for d in &found {
        let assignment = DepAssignment {
            status: AssignStatus::Pending,
            detail: Some("re-assignment requested".to_owned()),
            profile_uuid: None,
            retry_after: None,
            now,
        };
        app.store
            .set_dep_assignment(&d.link, std::slice::from_ref(&serial), &assignment)
            .await?;
        app.dep.ensure_task(&app, &d.link);
    }
    app.store
        .audit(&AuditEntry {
            at: now,
            actor,
            action: "dep_reassign".to_owned(),
            target: serial.clone(),
            detail: json!({ "links": found.iter().map(|d| d.link.clone()).collect::<Vec<_>>() }),
        })
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "serial_number": serial, "assign_status": "pending" })),
    ))
}

// ---- The DEP enrollment URL -----------------------------------------

/// Largest MachineInfo accepted.
const MAX_MACHINE_INFO: usize = 64 * 1024;

/// What a device in Setup Assistant says about itself (`MachineInfo`).
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct MachineInfo {
    /// `SERIAL`.
    pub serial: Option<String>,
    /// `UDID`.
    pub udid: Option<String>,
    /// `PRODUCT` (`iPhone14,2`, `MacBookPro18,3`).
    pub product: Option<String>,
    /// `VERSION` (the OS build).
    pub version: Option<String>,
    /// `IMEI`, `MEID`, `LANGUAGE`, `OS_VERSION` and the rest, as sent.
    pub other: Vec<(String, String)>,
}

/// Reads a `MachineInfo` plist.
pub fn parse_machine_info(plist: &[u8]) -> Result<MachineInfo, String> {
    let mut limits = pippin_plist::Limits::default();
    limits
        .max_input_len(MAX_MACHINE_INFO)
        .max_depth(4)
        .max_values(256);
    let value = pippin_plist::from_bytes_with(plist, &limits).map_err(|e| e.to_string())?;
    let dict = value
        .as_dictionary()
        .ok_or_else(|| "MachineInfo is not a dictionary".to_owned())?;
    let mut info = MachineInfo::default();
    for (k, v) in dict.iter() {
        let Some(text) = v.as_str().map(str::to_owned) else {
            continue;
        };
        match k.as_str() {
            "SERIAL" => info.serial = Some(text),
            "UDID" => info.udid = Some(text),
            "PRODUCT" => info.product = Some(text),
            "VERSION" => info.version = Some(text),
            _ => info.other.push((k.clone(), text)),
        }
    }
    if info.serial.as_deref().is_none_or(str::is_empty) {
        return Err("MachineInfo has no SERIAL".to_owned());
    }
    Ok(info)
}

/// `POST /mdm/dep/enroll`: a device in Setup Assistant posts its
/// `MachineInfo`, CMS-signed (`application/pkcs7-signature`); the answer
/// is the enrollment profile.
pub async fn enroll(State(app): State<Arc<App>>, body: axum::body::Bytes) -> Response {
    app.metrics.requests.inc();
    if body.len() > MAX_MACHINE_INFO {
        return (StatusCode::PAYLOAD_TOO_LARGE, "MachineInfo too large").into_response();
    }
    let (content, signer) = match apple_mdm_protocol::signature::verify_attached(&body) {
        Ok(v) => v,
        Err(e) => {
            app.metrics.rejected.inc();
            warn!(error = %e, "DEP enrollment: the MachineInfo signature does not verify");
            return (StatusCode::BAD_REQUEST, "MachineInfo must be CMS-signed").into_response();
        }
    };
    if !app.dep.machine_info_anchors.is_empty()
        && let Err(why) = check_signer_chain(
            signer.certificate(),
            signer.other_certificates(),
            &app.dep.machine_info_anchors,
            SystemTime::now(),
        )
    {
        app.metrics.rejected.inc();
        warn!(
            error = %why,
            signer = %hex::encode(signer.sha256_fingerprint()),
            "DEP enrollment refused: the MachineInfo signer does not chain to [dep] machine_info_ca"
        );
        return (
            StatusCode::FORBIDDEN,
            "the MachineInfo signer is not an Apple device identity",
        )
            .into_response();
    }
    let info = match parse_machine_info(&content) {
        Ok(i) => i,
        Err(e) => {
            app.metrics.malformed.inc();
            warn!(error = %e, "DEP enrollment: unreadable MachineInfo");
            return (StatusCode::BAD_REQUEST, "unreadable MachineInfo").into_response();
        }
    };
    let serial = info.serial.clone().unwrap_or_default();
    let known = match app.store.find_dep_device(&serial).await {
        Ok(list) => list.iter().any(|d| !d.deleted),
        Err(e) => {
            error!(error = %e, "DEP enrollment: store");
            return (StatusCode::SERVICE_UNAVAILABLE, "try again").into_response();
        }
    };
    if app.dep.config.require_known_serial && !known {
        app.metrics.rejected.inc();
        warn!(
            serial,
            udid = info.udid.as_deref().unwrap_or(""),
            "DEP enrollment refused: serial number not in any DEP link"
        );
        return (
            StatusCode::FORBIDDEN,
            "this device is not assigned to this server",
        )
            .into_response();
    }
    info!(
        serial,
        udid = info.udid.as_deref().unwrap_or(""),
        product = info.product.as_deref().unwrap_or(""),
        version = info.version.as_deref().unwrap_or(""),
        signer = %hex::encode(signer.sha256_fingerprint()),
        known,
        "DEP enrollment: serving the enrollment profile"
    );
    (
        [(header::CONTENT_TYPE, "application/x-apple-aspen-config")],
        app.push.current().profile.to_vec(),
    )
        .into_response()
}

/// Checks that `signer` chains to one of `anchors` at `now`: each
/// certificate on the way is valid at `now` and issued by the next (issuer
/// name and signature, [`certificate_issued_by`]), the intermediates taken
/// from `others` (the certificates that came with the signature), at most
/// eight of them. An anchor is trusted as it is, and so is a signer that
/// is itself one of them. Why not, otherwise.
///
/// [`certificate_issued_by`]: apple_mdm_protocol::signature::certificate_issued_by
pub fn check_signer_chain(
    signer: &Certificate,
    others: &[Certificate],
    anchors: &[Certificate],
    now: SystemTime,
) -> Result<(), String> {
    use apple_mdm_protocol::signature::certificate_issued_by;
    let valid = |c: &Certificate| {
        let v = c.tbs_certificate().validity();
        v.not_before.to_system_time() <= now && now <= v.not_after.to_system_time()
    };
    let subject = |c: &Certificate| c.tbs_certificate().subject().to_string();
    let mut current = signer;
    let mut used = vec![false; others.len()];
    for _ in 0..=MAX_CHAIN_DEPTH {
        if !valid(current) {
            return Err(format!("{} is not valid now", subject(current)));
        }
        if anchors.contains(current) {
            return Ok(());
        }
        if anchors.iter().any(|a| certificate_issued_by(current, a)) {
            return Ok(());
        }
        let issuer = others
            .iter()
            .enumerate()
            .find(|(i, c)| !used[*i] && certificate_issued_by(current, c));
        match issuer {
            Some((i, c)) => {
                used[i] = true;
                current = c;
            }
            None => {
                return Err(format!(
                    "no anchor or certificate of the signature issued {}",
                    subject(current)
                ));
            }
        }
    }
    Err(format!(
        "more than {MAX_CHAIN_DEPTH} certificates between the signer and an anchor"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn machine_info() {
        let xml = br#"<?xml version="1.0" encoding="UTF-8"?>
<plist version="1.0"><dict>
<key>LANGUAGE</key><string>en</string>
<key>PRODUCT</key><string>MacBookPro18,3</string>
<key>SERIAL</key><string>C02XK0AAJGH5</string>
<key>UDID</key><string>0000FE00-0A1B2C3D4E5F6071</string>
<key>VERSION</key><string>23A344</string>
</dict></plist>"#;
        let i = parse_machine_info(xml).unwrap();
        assert_eq!(i.serial.as_deref(), Some("C02XK0AAJGH5"));
        assert_eq!(i.udid.as_deref(), Some("0000FE00-0A1B2C3D4E5F6071"));
        assert_eq!(i.product.as_deref(), Some("MacBookPro18,3"));
        assert_eq!(i.version.as_deref(), Some("23A344"));
        assert_eq!(i.other, vec![("LANGUAGE".to_owned(), "en".to_owned())]);
        assert!(parse_machine_info(b"<plist><dict/></plist>").is_err());
        assert!(parse_machine_info(b"garbage").is_err());
        assert!(parse_machine_info(b"<plist><array/></plist>").is_err());
    }

    #[test]
    fn dep_settings_are_bounded() {
        let ok = DepConfig::default();
        check_config(&ok).unwrap();
        let refused = |f: &dyn Fn(&mut DepConfig), key: &str| {
            let mut c = DepConfig::default();
            f(&mut c);
            let e = check_config(&c).unwrap_err().to_string();
            assert!(e.contains(key), "{e}");
        };
        refused(
            &|c| c.sync_interval_secs = u64::MAX,
            "dep.sync_interval_secs",
        );
        refused(
            &|c| c.sync_interval_secs = MAX_SYNC_INTERVAL_SECS + 1,
            "dep.sync_interval_secs",
        );
        refused(&|c| c.sync_interval_secs = 0, "dep.sync_interval_secs");
        refused(&|c| c.protocol_version = 0, "dep.protocol_version");
        refused(&|c| c.assign_retry_secs = 0, "dep.assign_retry_secs");
        refused(
            &|c| c.assign_retry_max_secs = 1,
            "dep.assign_retry_max_secs",
        );
        refused(&|c| c.assign_max_attempts = 0, "dep.assign_max_attempts");
        check_config(&DepConfig {
            sync_interval_secs: MAX_SYNC_INTERVAL_SECS,
            protocol_version: 3,
            ..DepConfig::default()
        })
        .unwrap();
        // The interval becomes the sync machine's and the task's wait:
        // the largest one accepted is far from overflowing an Instant.
        assert!(
            Instant::now()
                .checked_add(Duration::from_secs(MAX_SYNC_INTERVAL_SECS))
                .is_some()
        );
    }

    #[test]
    fn link_names() {
        assert!(valid_link_name("main"));
        assert!(valid_link_name("site-a.b_c"));
        assert!(!valid_link_name(""));
        assert!(!valid_link_name("a/b"));
        assert!(!valid_link_name(&"x".repeat(65)));
    }
}

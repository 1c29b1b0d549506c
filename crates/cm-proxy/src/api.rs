//! The admin API under `/api/v1`: JSON over HTTPS, `Authorization: Bearer`.
//!
//! | method and path | what it does |
//! |---|---|
//! | `GET /api/v1/devices?after=&limit=&enrolled=` | list enrollments (keyset pages) |
//! | `GET /api/v1/devices/{udid}` | one device: enrollment state and latest inventory |
//! | `POST /api/v1/devices/{udid}/commands` | queue a command: `{"request_type": "...", "priority": 0, ...parameters}` → `201 {"command_uuid"}`; `DeviceInformation` without `Queries` asks for the routine inventory |
//! | `POST /api/v1/devices/{udid}/push` | push to the device now; one entry per enrollment: the outcome, or `"status": "skipped"` with why |
//! | `POST /api/v1/devices/{udid}/unenroll` | mark the device not enrolled, so that it may enroll again with a new identity (a replaced or re-imaged device) |
//! | `POST /api/v1/commands` | queue one command for many devices (`"devices": [{"udid", "user"}]`, at most 100,000, or `"all_enrolled": true`) → `202 {"command_uuid", "targets"}`; pushes go out in the background (see [`crate::bulk`]) |
//! | `GET /api/v1/commands/{uuid}` | a command's status and result per enrollment, counts per state, and the push progress of a command for many devices |
//! | `DELETE /api/v1/commands/{uuid}` | cancel a command that has not completed |
//! | `GET /api/v1/pushcert` | the push certificate in use: topic, subject, expiry, where it came from |
//! | `PUT /api/v1/pushcert` | install or replace it: `{"certificate": PEM, "private_key": PEM}` or `{"pkcs12": base64, "password": "…"}`, plus `"allow_topic_change": true` to confirm a new topic |
//! | `GET /api/v1/audit?after=&limit=` | who queued what |
//! | `POST /api/v1/software-updates/publications` | record a signed WSUS catalog `sup-service` published: `{"catalog_url", "catalog_sha256", "published_at": RFC 3339, "products", "packages_published", "superseded", "expired", "detail": {…}}` → `201 {"id"}`; audited as `software_updates.publish` |
//! | `GET /api/v1/software-updates/publications?after=&limit=` | the publications, oldest first: `{"publications": [...], "next_after": id or null}` (the latest 10,000 are kept) |
//! | `GET /api/v1/software-updates/publications/latest` | the publication recorded last (404 before the first) |
//! | `GET /api/v1/openapi.json` | the OpenAPI 3.0 document describing all of this (no token needed) |
//!
//! Errors are JSON: `{"error": "what went wrong"}` with a 4xx/5xx status.

use std::sync::Arc;
use std::time::SystemTime;

use apple_mdm_protocol::{Command, EnrollmentId, json as mdm_json};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use pippin_store::{
    AuditEntry, Enrollment, EnrollmentPage, InventoryKind, ListQuery, MAX_PUSH_BATCH,
    NewPublication, Publication, PushRecord, PushResult, PushTarget,
};
use serde::Deserialize;
use serde_json::{Value as Json_, json};
use tracing::{info, warn};

use crate::state::{App, unix_millis};

/// An API error: status plus message.
#[derive(Debug)]
pub struct ApiError(StatusCode, String);

impl ApiError {
    /// An error with `status`.
    pub(crate) fn new(status: StatusCode, msg: impl Into<String>) -> Self {
        Self(status, msg.into())
    }
    pub(crate) fn bad(msg: impl Into<String>) -> Self {
        Self(StatusCode::BAD_REQUEST, msg.into())
    }
    pub(crate) fn not_found(msg: impl Into<String>) -> Self {
        Self(StatusCode::NOT_FOUND, msg.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

impl From<pippin_store::Error> for ApiError {
    fn from(e: pippin_store::Error) -> Self {
        match e {
            pippin_store::Error::UnknownEnrollment(id) => {
                Self::not_found(format!("no enrolled device {id}"))
            }
            pippin_store::Error::InvalidId(id) => Self::bad(format!("invalid device id {id:?}")),
            pippin_store::Error::Queue(q) => Self(StatusCode::CONFLICT, q.to_string()),
            other => {
                warn!(error = %other, "store failure in the admin API");
                Self(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal error".to_owned(),
                )
            }
        }
    }
}

pub(crate) type ApiResult<T> = Result<T, ApiError>;

/// Checks the bearer token; returns the actor name for the audit log.
pub fn authorize(app: &App, headers: &HeaderMap) -> ApiResult<String> {
    let value = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .map(str::trim)
        .unwrap_or("");
    if token.is_empty() {
        return Err(ApiError(
            StatusCode::UNAUTHORIZED,
            "missing Authorization: Bearer token".to_owned(),
        ));
    }
    if pippin_service::constant_time_eq(token.as_bytes(), app.admin_token.expose().as_bytes()) {
        Ok("administrator".to_owned())
    } else {
        Err(ApiError(
            StatusCode::UNAUTHORIZED,
            "invalid token".to_owned(),
        ))
    }
}

pub(crate) fn device_id(udid: &str, user: Option<&str>) -> ApiResult<EnrollmentId> {
    let ok = |s: &str| !s.is_empty() && s.len() <= 128 && !s.chars().any(char::is_control);
    if !ok(udid) || user.is_some_and(|u| !ok(u)) {
        return Err(ApiError::bad("invalid device or user identifier"));
    }
    Ok(EnrollmentId {
        device: udid.to_owned(),
        user: user.map(str::to_owned),
    })
}

fn hex_opt(b: Option<&[u8]>) -> Json_ {
    b.map_or(Json_::Null, |b| Json_::String(hex::encode(b)))
}

fn enrollment_json(e: &Enrollment) -> Json_ {
    json!({
        "id": e.id.to_string(),
        "udid": e.id.device,
        "user_id": e.id.user,
        "channel": if e.id.user.is_some() { "user" } else { "device" },
        "enrolled": e.enrolled,
        "serial_number": e.serial_number,
        "model": e.model,
        "model_name": e.model_name,
        "product_name": e.product_name,
        "os_version": e.os_version,
        "build_version": e.build_version,
        "device_name": e.device_name,
        "topic": e.topic,
        "push_token": hex_opt(e.push_token.as_deref()),
        "token_invalid": e.token_invalid,
        "awaiting_configuration": e.awaiting_configuration,
        "has_unlock_token": e.has_unlock_token,
        "has_bootstrap_token": e.has_bootstrap_token,
        "user_short_name": e.user_short_name,
        "user_long_name": e.user_long_name,
        "identity_sha256": hex_opt(e.identity.as_ref().map(|x| x.as_slice())),
        "last_push": e.last_push.as_ref().map(|p| json!({
            "at": p.at, "status": p.status, "reason": p.reason, "http_status": p.http_status,
            "apns_id": p.apns_id, "unregistered_at": p.unregistered_at,
            "token_invalid": p.token_invalid,
        })),
        "created_at": e.created_at,
        "authenticated_at": e.authenticated_at,
        "token_updated_at": e.token_updated_at,
        "checked_out_at": e.checked_out_at,
        "last_seen_at": e.last_seen_at,
    })
}

/// `GET /api/v1/devices` query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    after: Option<String>,
    limit: Option<u32>,
    enrolled: Option<bool>,
}

/// `GET /api/v1/devices`.
pub async fn list_devices(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Query(p): Query<ListParams>,
) -> ApiResult<Json<Json_>> {
    authorize(&app, &headers)?;
    let after = match p.after.as_deref() {
        None | Some("") => None,
        Some(s) => Some(match s.split_once(':') {
            Some((d, u)) => device_id(d, Some(u))?,
            None => device_id(s, None)?,
        }),
    };
    let EnrollmentPage { items, next } = app
        .store
        .list_enrollments(&ListQuery {
            after,
            limit: p.limit.unwrap_or(100).clamp(1, pippin_store::MAX_PAGE),
            enrolled_only: p.enrolled.unwrap_or(false),
        })
        .await?;
    Ok(Json(json!({
        "devices": items.iter().map(enrollment_json).collect::<Vec<_>>(),
        "next": next.map(|n| n.to_string()),
    })))
}

/// `?user=` selects a user channel of the device.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelParams {
    user: Option<String>,
}

/// `GET /api/v1/devices/{udid}`.
pub async fn get_device(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(udid): Path<String>,
    Query(c): Query<ChannelParams>,
) -> ApiResult<Json<Json_>> {
    authorize(&app, &headers)?;
    let id = device_id(&udid, c.user.as_deref())?;
    let e = app
        .store
        .get_enrollment(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no device {id}")))?;
    let mut out = enrollment_json(&e);
    let inv = app.store.get_inventory(&id.device_channel()).await?;
    let mut inventory = serde_json::Map::new();
    for (kind, item) in &inv.kinds {
        inventory.insert(
            kind.as_str().to_owned(),
            json!({ "updated_at": item.updated_at, "data": item.data }),
        );
    }
    let apps = inv
        .kinds
        .get(&InventoryKind::InstalledApplications)
        .map(|i| i.data.clone())
        .unwrap_or(Json_::Null);
    let profiles = inv
        .kinds
        .get(&InventoryKind::Profiles)
        .map(|i| i.data.clone())
        .unwrap_or(Json_::Null);
    if let Some(o) = out.as_object_mut() {
        o.insert("installed_applications".into(), apps);
        o.insert("profiles".into(), profiles);
        o.insert("inventory".into(), Json_::Object(inventory));
        o.insert(
            "queue_depth".into(),
            json!(app.store.queue_depth(&id).await?),
        );
    }
    Ok(Json(out))
}

/// `POST /api/v1/devices/{udid}/commands`.
pub async fn queue_command(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(udid): Path<String>,
    Query(c): Query<ChannelParams>,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    let actor = authorize(&app, &headers)?;
    let id = device_id(&udid, c.user.as_deref())?;
    let mut request: Json_ = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad(format!("body is not JSON: {e}")))?;
    let obj = request
        .as_object_mut()
        .ok_or_else(|| ApiError::bad("body must be a JSON object"))?;
    let priority = take_priority(obj)?;
    // ClearPasscode needs the device's UnlockToken, which the server holds.
    if obj.get("request_type").and_then(Json_::as_str) == Some("ClearPasscode")
        && !obj.contains_key("UnlockToken")
    {
        let token = app.store.get_unlock_token(&id).await?.ok_or_else(|| {
            ApiError(
                StatusCode::CONFLICT,
                format!("no UnlockToken escrowed for {id}: the device has not sent one"),
            )
        })?;
        use base64::Engine;
        obj.insert(
            "UnlockToken".to_owned(),
            Json_::String(base64::engine::general_purpose::STANDARD.encode(token)),
        );
    }
    let uuid = uuid::Uuid::new_v4().hyphenated().to_string().to_uppercase();
    let command = build_command(&mut request, &uuid)?;
    let request_type = command.request_type().to_owned();
    let now = unix_millis(SystemTime::now());
    app.store
        .enqueue(
            std::slice::from_ref(&id),
            pippin_store::NewCommand {
                uuid: uuid.clone(),
                request_type: request_type.clone(),
                body: command.to_xml(),
                priority,
                queued_by: actor.clone(),
                now,
            },
        )
        .await?;
    app.metrics.commands_queued.inc();
    let mut detail = request.clone();
    redact(&mut detail);
    app.store
        .audit(&AuditEntry {
            at: now,
            actor: actor.clone(),
            action: "queue_command".to_owned(),
            target: id.to_string(),
            detail: json!({ "command_uuid": uuid, "request": detail }),
        })
        .await?;
    info!(enrollment = %id, command_uuid = uuid, request_type, actor, "command queued");
    let push = push_now(&app, &[id]).await;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "command_uuid": uuid, "request_type": request_type, "push": push })),
    )
        .into_response())
}

/// The command `request` (the API's JSON, without `priority`) asks for,
/// as `uuid`. `DeviceInformation` without `Queries` asks for the routine
/// inventory (the queries are added to `request`).
pub(crate) fn build_command(request: &mut Json_, uuid: &str) -> ApiResult<Command> {
    let obj = request
        .as_object_mut()
        .ok_or_else(|| ApiError::bad("body must be a JSON object"))?;
    if obj.get("request_type").and_then(Json_::as_str) == Some("DeviceInformation")
        && !obj.contains_key("Queries")
    {
        let queries = apple_mdm_protocol::command::DeviceInformation::standard().queries;
        obj.insert("Queries".to_owned(), json!(queries));
    }
    let command_body =
        mdm_json::command_body_from_json(request).map_err(|e| ApiError::bad(e.to_string()))?;
    Ok(Command::new(uuid.to_owned(), command_body))
}

/// The `priority` of a command request (removed from it); 0 when absent.
pub(crate) fn take_priority(obj: &mut serde_json::Map<String, Json_>) -> ApiResult<i32> {
    match obj.remove("priority") {
        None => Ok(0),
        Some(v) => v
            .as_i64()
            .and_then(|p| i32::try_from(p).ok())
            .ok_or_else(|| ApiError::bad("priority must be an integer")),
    }
}

/// Keys whose values must not reach the audit log or logs.
pub(crate) fn redact(v: &mut Json_) {
    if let Some(o) = v.as_object_mut() {
        for k in [
            "PIN",
            "UnlockToken",
            "Passcode",
            "NewPassword",
            "Password",
            "Payload",
        ] {
            if let Some(x) = o.get_mut(k) {
                *x = Json_::String("***".to_owned());
            }
        }
    }
}

/// Pushes to `ids` and records each outcome; returns them as JSON, one
/// entry per enrollment (those not pushed as `"status": "skipped"` with the
/// reason).
pub async fn push_now(app: &App, ids: &[EnrollmentId]) -> Json_ {
    let first: Vec<(EnrollmentId, u32)> = ids.iter().map(|id| (id.clone(), 0)).collect();
    push_attempts(app, &first, true).await
}

/// The most times one push is sent (the first try and its retries):
/// 1 s, 2 s, 4 s, … up to the policy's 5-minute cap, about 14 minutes in
/// all. After that, the next queued command pushes again.
pub const MAX_PUSH_ATTEMPTS: u32 = 10;

/// Why an enrollment was not pushed, from its stored state.
pub(crate) fn skip_reason(e: Option<&Enrollment>) -> &'static str {
    match e {
        None => "unknown_enrollment",
        Some(e) if !e.enrolled => "not_enrolled",
        Some(e) if e.token_invalid => "token_invalid",
        Some(_) => "no_push_token",
    }
}

/// The entry for an enrollment enrolled under another topic than the push
/// certificate's: APNs would refuse the push (DeviceTokenNotForTopic or
/// TopicDisallowed), so it is not sent.
pub(crate) fn topic_mismatch(target: &PushTarget, topic: &str) -> PushResult {
    PushResult {
        at: unix_millis(SystemTime::now()),
        status: "skipped".to_owned(),
        reason: Some(format!(
            "topic_mismatch: enrolled with push topic {}, but the push certificate's topic is \
             {topic}; the device must enroll again",
            target.topic
        )),
        ..PushResult::default()
    }
}

/// What one outcome leads to: metrics, a retry scheduled for
/// `attempt + 1` when APNs asked to retry later (else any scheduled retry
/// dropped), and the record to store. Returns the record and the retry
/// time, if one was scheduled.
pub(crate) fn settle(
    app: &App,
    target: &PushTarget,
    o: &crate::push::PushOutcome,
    attempt: u32,
    now: i64,
) -> (PushRecord, Option<i64>) {
    app.metrics.pushes.inc();
    if o.token_invalid || o.status == "failed" {
        app.metrics.push_failures.inc();
    }
    let mut retry_at = None;
    if o.retry_later {
        let next = attempt.saturating_add(1);
        if next < MAX_PUSH_ATTEMPTS {
            let delay = apns::RetryPolicy::default().delay(attempt);
            let at = now.saturating_add(i64::try_from(delay.as_millis()).unwrap_or(i64::MAX));
            if app.push.schedule_retry(&target.id, at, next) {
                retry_at = Some(at);
            } else {
                warn!(enrollment = %target.id, "too many pushes waiting to be retried; this one is not");
            }
        } else {
            warn!(enrollment = %target.id, attempts = next, "push still not delivered; giving up until the next queued command");
        }
    } else {
        app.push.cancel_retry(&target.id);
    }
    let record = PushRecord {
        id: target.id.clone(),
        token: target.token.clone(),
        result: PushResult {
            at: now,
            status: o.status.clone(),
            reason: o.reason.clone(),
            http_status: o.http_status,
            apns_id: o.apns_id.clone(),
            unregistered_at: o.unregistered_at,
            token_invalid: o.token_invalid,
        },
    };
    (record, retry_at)
}

/// Stores push records in batches; a failure is logged.
pub(crate) async fn store_push_records(app: &App, records: &[PushRecord]) {
    for chunk in records.chunks(MAX_PUSH_BATCH) {
        if let Err(e) = app.store.mark_push_results(chunk).await {
            warn!(error = %e, count = chunk.len(), "cannot store push results");
        }
    }
}

/// Pushes to each enrollment as the given attempt (0 = first), records
/// each outcome (in batches) and schedules a retry for those APNs asked to
/// send again later; returns the outcomes as JSON. With `explain`, the
/// enrollments not pushed get an entry saying why (one store read each).
///
/// Enrollments whose stored topic is not the push certificate's are not
/// pushed: the push would go out with the certificate's topic, which their
/// token is not for.
pub async fn push_attempts(app: &App, ids: &[(EnrollmentId, u32)], explain: bool) -> Json_ {
    let plain: Vec<EnrollmentId> = ids.iter().map(|(id, _)| id.clone()).collect();
    let targets = match app.store.push_targets(&plain).await {
        Ok(t) => t,
        Err(e) => {
            warn!(error = %e, "cannot read push targets");
            return json!([]);
        }
    };
    // Retry batches hold thousands of enrollments: look attempts up by id.
    let attempts: std::collections::HashMap<&EnrollmentId, u32> =
        ids.iter().map(|(id, a)| (id, *a)).collect();
    let attempt_of = |id: &EnrollmentId| attempts.get(id).copied().unwrap_or(0);
    // One snapshot: the sender and the topic it pushes with.
    let state = app.push.current();
    let (pushable, other_topic): (Vec<PushTarget>, Vec<PushTarget>) =
        targets.into_iter().partition(|t| t.topic == state.topic);
    let outcomes = state.sender.push(&pushable).await;
    let now = unix_millis(SystemTime::now());
    let mut records = Vec::with_capacity(pushable.len() + other_topic.len());
    let mut by_id: std::collections::HashMap<EnrollmentId, Json_> =
        std::collections::HashMap::with_capacity(ids.len());
    for (t, o) in pushable.iter().zip(&outcomes) {
        let attempt = attempt_of(&t.id);
        let (record, retry_at) = settle(app, t, o, attempt, now);
        records.push(record);
        let mut entry = json!({
            "id": t.id.to_string(), "status": o.status, "reason": o.reason,
            "http_status": o.http_status, "apns_id": o.apns_id,
        });
        if let Some(at) = retry_at {
            entry["retry_at"] = json!(at);
            entry["attempt"] = json!(attempt + 1);
        }
        by_id.insert(t.id.clone(), entry);
    }
    for t in &other_topic {
        app.push.cancel_retry(&t.id);
        let result = topic_mismatch(t, &state.topic);
        warn!(enrollment = %t.id, enrolled_topic = %t.topic, topic = %state.topic, "not pushed: enrolled under another push topic");
        by_id.insert(
            t.id.clone(),
            json!({ "id": t.id.to_string(), "status": "skipped", "reason": "topic_mismatch",
                    "detail": result.reason }),
        );
        records.push(PushRecord {
            id: t.id.clone(),
            token: t.token.clone(),
            result,
        });
    }
    store_push_records(app, &records).await;
    let mut out = Vec::with_capacity(ids.len());
    let mut seen = std::collections::HashSet::with_capacity(ids.len());
    for id in &plain {
        if !seen.insert(id) {
            continue;
        }
        if let Some(entry) = by_id.remove(id) {
            out.push(entry);
        } else if explain {
            app.push.cancel_retry(id);
            let stored = app.store.get_enrollment(id).await.ok().flatten();
            out.push(json!({
                "id": id.to_string(), "status": "skipped",
                "reason": skip_reason(stored.as_ref()),
            }));
        }
    }
    Json_::Array(out)
}

/// Sends the pushes whose retry is due, once a second, until `stop`.
pub async fn retry_pushes(app: Arc<App>, mut stop: tokio::sync::watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        // Bounded batches: a big backlog goes out over several ticks.
        let due = app.push.due_retries(unix_millis(SystemTime::now()), 5_000);
        if due.is_empty() {
            continue;
        }
        for _ in &due {
            app.metrics.push_retries.inc();
        }
        info!(count = due.len(), "sending pushes again");
        push_attempts(&app, &due, false).await;
    }
}

/// `POST /api/v1/devices/{udid}/push`.
pub async fn push_device(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(udid): Path<String>,
    Query(c): Query<ChannelParams>,
) -> ApiResult<Json<Json_>> {
    let actor = authorize(&app, &headers)?;
    let id = device_id(&udid, c.user.as_deref())?;
    if app.store.get_enrollment(&id).await?.is_none() {
        return Err(ApiError::not_found(format!("no device {id}")));
    }
    let result = push_now(&app, std::slice::from_ref(&id)).await;
    app.store
        .audit(&AuditEntry {
            at: unix_millis(SystemTime::now()),
            actor,
            action: "push".to_owned(),
            target: id.to_string(),
            detail: result.clone(),
        })
        .await?;
    Ok(Json(json!({ "push": result })))
}

/// `POST /api/v1/devices/{udid}/unenroll`.
pub async fn unenroll_device(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(udid): Path<String>,
) -> ApiResult<Json<Json_>> {
    let actor = authorize(&app, &headers)?;
    let id = device_id(&udid, None)?;
    if app.store.get_enrollment(&id).await?.is_none() {
        return Err(ApiError::not_found(format!("no device {id}")));
    }
    let now = unix_millis(SystemTime::now());
    app.store.check_out(&id, now).await?;
    app.store
        .audit(&AuditEntry {
            at: now,
            actor: actor.clone(),
            action: "unenroll".to_owned(),
            target: id.to_string(),
            detail: json!({}),
        })
        .await?;
    info!(enrollment = %id, actor, "device marked not enrolled; it may enroll again");
    Ok(Json(json!({ "udid": id.device, "enrolled": false })))
}

/// `GET /api/v1/commands/{uuid}`.
pub async fn get_command(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(uuid): Path<String>,
) -> ApiResult<Json<Json_>> {
    authorize(&app, &headers)?;
    let rec = app
        .store
        .get_command(&uuid)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no command {uuid}")))?;
    // A command for many devices: counts per state, and the first targets.
    let mut counts = serde_json::Map::new();
    for t in &rec.targets {
        let n = counts
            .entry(t.state.as_str().to_owned())
            .or_insert(json!(0));
        *n = json!(n.as_u64().unwrap_or(0) + 1);
    }
    let targets: Vec<Json_> = rec
        .targets
        .iter()
        .take(MAX_SHOWN_TARGETS)
        .map(|t| {
            let result = t.result.as_deref().map(|bytes| {
                pippin_plist::from_bytes(bytes)
                    .ok()
                    .and_then(|v| serde_json::to_value(v).ok())
                    .unwrap_or(Json_::Null)
            });
            json!({
                "id": t.id.to_string(),
                "state": t.state.as_str(),
                "deliveries": t.deliveries,
                "not_now_count": t.not_now_count,
                "sent_at": t.sent_at,
                "status_at": t.status_at,
                "result": result,
            })
        })
        .collect();
    // The overall status is the single target's when there is one.
    let status = rec.targets.first().map(|t| t.state.as_str());
    let mut out = json!({
        "command_uuid": rec.uuid,
        "request_type": rec.request_type,
        "priority": rec.priority,
        "queued_by": rec.queued_by,
        "queued_at": rec.queued_at,
        "status": status,
        "result": targets.first().and_then(|t| t.get("result").cloned()),
        "target_count": rec.targets.len(),
        "counts": counts,
        "targets": targets,
    });
    if rec.targets.len() > MAX_SHOWN_TARGETS {
        out["targets_truncated"] = json!(true);
    }
    if let Some(progress) = app.push.bulk_job(&rec.uuid) {
        out["push"] = progress.to_json();
    }
    Ok(Json(out))
}

/// The most targets `GET /api/v1/commands/{uuid}` lists (`counts` and
/// `target_count` cover them all).
pub const MAX_SHOWN_TARGETS: usize = 1000;

/// `DELETE /api/v1/commands/{uuid}`.
pub async fn cancel_command(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(uuid): Path<String>,
) -> ApiResult<Response> {
    let actor = authorize(&app, &headers)?;
    if app.store.get_command(&uuid).await?.is_none() {
        return Err(ApiError::not_found(format!("no command {uuid}")));
    }
    let n = app
        .store
        .cancel_command(&uuid, None, unix_millis(SystemTime::now()))
        .await?;
    if n == 0 {
        return Err(ApiError(
            StatusCode::CONFLICT,
            format!("command {uuid} has already completed everywhere"),
        ));
    }
    app.store
        .audit(&AuditEntry {
            at: unix_millis(SystemTime::now()),
            actor,
            action: "cancel_command".to_owned(),
            target: uuid.clone(),
            detail: json!({ "cancelled": n }),
        })
        .await?;
    Ok(Json(json!({ "command_uuid": uuid, "cancelled": n })).into_response())
}

/// The push certificate in use, as JSON (never the key).
pub fn pushcert_json(app: &App) -> Json_ {
    let state = app.push.current();
    let now = SystemTime::now();
    let mut v = json!({
        "topic": state.topic,
        "topic_is_placeholder": state.topic_is_placeholder,
        "source": state.source.as_str(),
        "sender": state.sender.describe(),
        "endpoint": app.push.apns_settings().endpoint,
        "pending_retries": app.push.pending_retries(),
    });
    if let Some(c) = &state.certificate {
        let days_left = c
            .not_after
            .duration_since(now)
            .map(|d| i64::try_from(d.as_secs() / 86_400).unwrap_or(i64::MAX))
            .unwrap_or_else(|e| -i64::try_from(e.duration().as_secs() / 86_400).unwrap_or(0) - 1);
        v["certificate"] = json!({
            "subject": c.subject,
            "subject_cn": c.subject_cn,
            "not_before": crate::pushcert::httpdate(c.not_before),
            "not_after": crate::pushcert::httpdate(c.not_after),
            "expired": c.is_expired_at(now),
            "days_left": days_left,
        });
    }
    v
}

/// `GET /api/v1/pushcert`.
pub async fn get_pushcert(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
) -> ApiResult<Json<Json_>> {
    authorize(&app, &headers)?;
    Ok(Json(pushcert_json(&app)))
}

/// `PUT /api/v1/pushcert` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PushCertUpload {
    /// The certificate Apple issued, PEM (may be followed by its issuers).
    certificate: Option<String>,
    /// Its RSA private key, PEM (PKCS #1 or PKCS #8, unencrypted).
    private_key: Option<String>,
    /// Or both in a PKCS #12 file, base64.
    pkcs12: Option<String>,
    /// The PKCS #12 file's password.
    password: Option<String>,
    /// Install even though the topic differs from the one devices enrolled
    /// with (they must all enroll again).
    #[serde(default)]
    allow_topic_change: bool,
}

/// Largest accepted upload body (a certificate chain and key are a few KB).
pub const MAX_PUSHCERT_BODY: usize = 256 * 1024;

/// `PUT /api/v1/pushcert`: install or replace the push certificate.
pub async fn put_pushcert(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    let actor = authorize(&app, &headers)?;
    if body.len() > MAX_PUSHCERT_BODY {
        return Err(ApiError(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("a push certificate upload is at most {MAX_PUSHCERT_BODY} bytes"),
        ));
    }
    let up: PushCertUpload =
        serde_json::from_slice(&body).map_err(|e| ApiError::bad(format!("body: {e}")))?;
    let cert = match (&up.certificate, &up.private_key, &up.pkcs12) {
        (Some(c), Some(k), None) => apns::PushCertificate::from_pem(c, k),
        (None, None, Some(p12)) => {
            use base64::Engine as _;
            let der = base64::engine::general_purpose::STANDARD
                .decode(p12.trim())
                .map_err(|e| ApiError::bad(format!("pkcs12: not base64: {e}")))?;
            apns::PushCertificate::from_pkcs12(&der, up.password.as_deref().unwrap_or(""))
        }
        _ => {
            return Err(ApiError::bad(
                "give either certificate and private_key (PEM), or pkcs12 (base64) with its password",
            ));
        }
    }
    .map_err(|e| ApiError::bad(e.to_string()))?;
    let enrolled = app.store.enrolled_topics().await?;
    let installed = app
        .push
        .install(cert, up.allow_topic_change, &enrolled, SystemTime::now())
        .await
        .map_err(|e| {
            use crate::pushcert::InstallError;
            let status = match &e {
                InstallError::Invalid(_) => StatusCode::BAD_REQUEST,
                InstallError::Configured(_) | InstallError::TopicChange(_) => StatusCode::CONFLICT,
                InstallError::Storage(_) => StatusCode::INTERNAL_SERVER_ERROR,
            };
            ApiError(status, e.to_string())
        })?;
    let mut out = pushcert_json(&app);
    out["previous_topic"] = json!(installed.previous_topic);
    if let Some(w) = &installed.topic_warning {
        out["warning"] = json!(w);
    }
    app.store
        .audit(&AuditEntry {
            at: unix_millis(SystemTime::now()),
            actor,
            action: "install_push_certificate".to_owned(),
            target: installed.certificate.topic.clone(),
            detail: json!({
                "subject": installed.certificate.subject,
                "not_after": crate::pushcert::httpdate(installed.certificate.not_after),
                "previous_topic": installed.previous_topic,
                "topic_changed": installed.topic_warning.is_some(),
            }),
        })
        .await?;
    Ok(Json(out).into_response())
}

/// `GET /api/v1/audit` query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditParams {
    after: Option<i64>,
    limit: Option<u32>,
}

/// `GET /api/v1/audit`.
pub async fn list_audit(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Query(p): Query<AuditParams>,
) -> ApiResult<Json<Json_>> {
    authorize(&app, &headers)?;
    let items = app
        .store
        .list_audit(p.after, p.limit.unwrap_or(100))
        .await?;
    Ok(Json(json!({
        "entries": items.iter().map(|r| json!({
            "id": r.id, "at": r.entry.at, "actor": r.entry.actor, "action": r.entry.action,
            "target": r.entry.target, "detail": r.entry.detail,
        })).collect::<Vec<_>>(),
    })))
}

/// `POST /api/v1/software-updates/publications` body: a catalog
/// publication `sup-service` reports. Unknown fields are refused.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PublicationReport {
    /// Where the catalog is served: `https://` or `http://`, at most
    /// [`MAX_CATALOG_URL`] bytes.
    catalog_url: String,
    /// SHA-256 of the catalog file: 64 hex digits (stored in lower case).
    catalog_sha256: String,
    /// When the service built it, RFC 3339.
    published_at: String,
    /// Apple products the catalog describes.
    products: u64,
    /// Update packages published into WSUS.
    packages_published: u64,
    /// Packages marked superseded.
    superseded: u64,
    /// Packages marked expired.
    expired: u64,
    /// Details (sources, signer, warnings): a JSON object of at most
    /// [`MAX_PUBLICATION_DETAIL`] bytes; `{}` when absent.
    #[serde(default)]
    detail: Option<Json_>,
}

/// The longest catalog URL a publication may give, in bytes.
pub const MAX_CATALOG_URL: usize = 2048;

/// The largest `detail` object a publication may carry, serialized.
pub const MAX_PUBLICATION_DETAIL: usize = 64 * 1024;

/// The highest package or product count a publication may give.
pub const MAX_PUBLICATION_COUNT: u64 = 10_000_000;

/// Largest accepted publication body (the detail, and room for the rest).
pub const MAX_PUBLICATION_BODY: usize = MAX_PUBLICATION_DETAIL + 16 * 1024;

impl PublicationReport {
    /// The record to store, received at `at` from `reporter`; a bad field
    /// is a 400 saying which.
    fn into_record(self, reporter: String, at: i64) -> ApiResult<NewPublication> {
        check_catalog_url(&self.catalog_url)?;
        let sha = &self.catalog_sha256;
        if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ApiError::bad("catalog_sha256 must be 64 hex digits"));
        }
        let published_at = parse_rfc3339_millis(&self.published_at).ok_or_else(|| {
            ApiError::bad("published_at must be an RFC 3339 date and time (2024-05-01T12:00:00Z)")
        })?;
        let count = |name: &str, n: u64| -> ApiResult<u32> {
            if n > MAX_PUBLICATION_COUNT {
                return Err(ApiError::bad(format!(
                    "{name} must be at most {MAX_PUBLICATION_COUNT}"
                )));
            }
            // At most MAX_PUBLICATION_COUNT, well inside u32.
            u32::try_from(n).map_err(|_| ApiError::bad(format!("{name} is too large")))
        };
        let detail = match self.detail {
            None => json!({}),
            Some(d @ Json_::Object(_)) => {
                if d.to_string().len() > MAX_PUBLICATION_DETAIL {
                    return Err(ApiError::bad(format!(
                        "detail must be at most {MAX_PUBLICATION_DETAIL} bytes of JSON"
                    )));
                }
                d
            }
            Some(_) => return Err(ApiError::bad("detail must be a JSON object")),
        };
        Ok(NewPublication {
            at,
            reporter,
            catalog_sha256: self.catalog_sha256.to_ascii_lowercase(),
            catalog_url: self.catalog_url,
            published_at,
            products: count("products", self.products)?,
            packages_published: count("packages_published", self.packages_published)?,
            superseded: count("superseded", self.superseded)?,
            expired: count("expired", self.expired)?,
            detail,
        })
    }
}

/// An absolute `https://` or `http://` URL with a host, at most
/// [`MAX_CATALOG_URL`] bytes.
fn check_catalog_url(url: &str) -> ApiResult<()> {
    let bad = || {
        ApiError::bad(format!(
            "catalog_url must be an https:// or http:// URL of at most {MAX_CATALOG_URL} bytes"
        ))
    };
    if url.len() > MAX_CATALOG_URL {
        return Err(bad());
    }
    let uri: axum::http::Uri = url.parse().map_err(|_| bad())?;
    let scheme_ok = matches!(uri.scheme_str(), Some("https" | "http"));
    // The scheme must be spelt as given (not only parsed case-insensitively).
    let prefix_ok = url.starts_with("https://") || url.starts_with("http://");
    let host_ok = uri.host().is_some_and(|h| !h.is_empty());
    if scheme_ok && prefix_ok && host_ok {
        Ok(())
    } else {
        Err(bad())
    }
}

/// Milliseconds since the Unix epoch of an RFC 3339 date and time.
fn parse_rfc3339_millis(s: &str) -> Option<i64> {
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos().div_euclid(1_000_000)).ok()
}

/// RFC 3339 UTC text of milliseconds since the Unix epoch.
fn rfc3339_of_millis(ms: i64) -> Json_ {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .map_or(Json_::Null, Json_::String)
}

/// A stored publication as the API shows it.
fn publication_json(p: &Publication) -> Json_ {
    let r = &p.publication;
    json!({
        "id": p.id,
        "received_at": rfc3339_of_millis(r.at),
        "reporter": r.reporter,
        "catalog_url": r.catalog_url,
        "catalog_sha256": r.catalog_sha256,
        "published_at": rfc3339_of_millis(r.published_at),
        "products": r.products,
        "packages_published": r.packages_published,
        "superseded": r.superseded,
        "expired": r.expired,
        "detail": r.detail,
    })
}

/// `POST /api/v1/software-updates/publications`: records a catalog
/// publication → `201 {"id"}`.
pub async fn record_publication(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    let actor = authorize(&app, &headers)?;
    let report: PublicationReport =
        serde_json::from_slice(&body).map_err(|e| ApiError::bad(format!("body: {e}")))?;
    let now = unix_millis(SystemTime::now());
    let record = report.into_record(actor.clone(), now)?;
    let id = app.store.record_publication(&record).await?;
    app.store
        .audit(&AuditEntry {
            at: now,
            actor: actor.clone(),
            action: "software_updates.publish".to_owned(),
            target: record.catalog_url.clone(),
            detail: json!({
                "publication_id": id,
                "catalog_sha256": record.catalog_sha256,
                "published_at": rfc3339_of_millis(record.published_at),
                "products": record.products,
                "packages_published": record.packages_published,
                "superseded": record.superseded,
                "expired": record.expired,
            }),
        })
        .await?;
    info!(
        id,
        catalog_url = record.catalog_url,
        packages = record.packages_published,
        actor,
        "software-update catalog publication recorded"
    );
    Ok((StatusCode::CREATED, Json(json!({ "id": id }))).into_response())
}

/// `GET /api/v1/software-updates/publications` query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublicationParams {
    after: Option<i64>,
    limit: Option<u32>,
}

/// `GET /api/v1/software-updates/publications`: oldest first, a page at a
/// time; `next_after` is the cursor of the next page, `null` after the last.
pub async fn list_publications(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    params: Result<Query<PublicationParams>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Json_>> {
    authorize(&app, &headers)?;
    let Query(p) = params.map_err(|e| ApiError::bad(e.body_text()))?;
    let limit = p.limit.unwrap_or(100).clamp(1, pippin_store::MAX_PAGE);
    let items = app.store.list_publications(p.after, limit).await?;
    let last = items.last().map(|r| r.id);
    // A full page: the next one may be empty; say so now rather than later.
    let next_after = match last {
        Some(id) if items.len() == limit as usize => {
            let more = app.store.list_publications(Some(id), 1).await?;
            (!more.is_empty()).then_some(id)
        }
        _ => None,
    };
    Ok(Json(json!({
        "publications": items.iter().map(publication_json).collect::<Vec<_>>(),
        "next_after": next_after,
    })))
}

/// `GET /api/v1/software-updates/publications/latest`: the publication
/// recorded last, or 404.
pub async fn latest_publication(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
) -> ApiResult<Json<Json_>> {
    authorize(&app, &headers)?;
    let p =
        app.store.latest_publication().await?.ok_or_else(|| {
            ApiError::not_found("no software-update catalog publication recorded")
        })?;
    Ok(Json(publication_json(&p)))
}

/// Fallback for unknown API paths.
pub async fn not_found() -> ApiError {
    ApiError::not_found("no such API endpoint")
}

//! One command for many devices: `POST /api/v1/commands`.
//!
//! The body names the devices (`"devices": [{"udid": …, "user": …}]`, at
//! most [`MAX_BULK_TARGETS`]) or asks for every enrolled one
//! (`"all_enrolled": true`), next to the command's own keys, as for
//! `POST /api/v1/devices/{udid}/commands`. The command is queued in store
//! batches of [`BULK_BATCH`] enrollments (all or nothing: a failed batch
//! cancels the command where it was queued), the request is answered
//! `202 Accepted` with the command's UUID and how many enrollments it was
//! queued for, and the pushes go out in the background through the one
//! APNs client — its bounded window of pushes in flight, no task per push.
//! Their outcomes are stored in batches as they arrive, and
//! `GET /api/v1/commands/{uuid}` shows the progress (`"push"`).

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::SystemTime;

use apple_mdm_protocol::EnrollmentId;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use pippin_store::{AuditEntry, ListQuery, MAX_PAGE, NewCommand, PushRecord, PushTarget};
use serde_json::{Value as Json_, json};
use tracing::{info, warn};

use crate::api::{
    ApiError, ApiResult, authorize, build_command, device_id, redact, settle, store_push_records,
    take_priority, topic_mismatch,
};
use crate::pushcert::BulkProgress;
use crate::state::{App, unix_millis};

/// The most enrollments one bulk command is queued for.
pub const MAX_BULK_TARGETS: usize = 100_000;

/// Enrollments per store call (queuing, reading push targets).
pub const BULK_BATCH: usize = 5_000;

/// Push outcomes per store write.
const RECORD_BATCH: usize = 1_000;

/// Largest accepted body: 100,000 devices with user channels fit.
pub const MAX_BULK_BODY: usize = 16 * 1024 * 1024;

/// `POST /api/v1/commands`.
pub async fn queue_bulk_command(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    let actor = authorize(&app, &headers)?;
    let mut request: Json_ = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad(format!("body is not JSON: {e}")))?;
    let obj = request
        .as_object_mut()
        .ok_or_else(|| ApiError::bad("body must be a JSON object"))?;
    let devices = obj.remove("devices");
    let all_enrolled = match obj.remove("all_enrolled") {
        None => false,
        Some(Json_::Bool(b)) => b,
        Some(_) => return Err(ApiError::bad("all_enrolled must be true or false")),
    };
    let priority = take_priority(obj)?;
    if obj.get("request_type").and_then(Json_::as_str) == Some("ClearPasscode") {
        return Err(ApiError::bad(
            "ClearPasscode needs each device's own UnlockToken: queue it per device",
        ));
    }
    let ids = match (devices, all_enrolled) {
        (Some(list), false) => listed_devices(&list)?,
        (None, true) => all_enrolled_ids(&app).await?,
        _ => {
            return Err(ApiError::bad(
                "give either devices (a list of {\"udid\", \"user\"}) or \"all_enrolled\": true",
            ));
        }
    };
    if ids.is_empty() {
        return Err(ApiError::bad("no devices to queue the command for"));
    }
    let uuid = uuid::Uuid::new_v4().hyphenated().to_string().to_uppercase();
    let command = build_command(&mut request, &uuid)?;
    let request_type = command.request_type().to_owned();
    let now = unix_millis(SystemTime::now());
    let new = NewCommand {
        uuid: uuid.clone(),
        request_type: request_type.clone(),
        body: command.to_xml(),
        priority,
        queued_by: actor.clone(),
        now,
    };
    let mut batches = ids.chunks(BULK_BATCH);
    if let Some(first) = batches.next() {
        app.store.enqueue(first, new).await?;
    }
    for batch in batches {
        if let Err(e) = app.store.enqueue_more(&uuid, batch).await {
            // All or nothing: take back what was queued.
            if let Err(undo) = app.store.cancel_command(&uuid, None, now).await {
                warn!(command_uuid = uuid, error = %undo, "cannot cancel a half-queued command");
            }
            return Err(e.into());
        }
    }
    for _ in 0..ids.len() {
        app.metrics.commands_queued.inc();
    }
    let mut detail = request.clone();
    redact(&mut detail);
    app.store
        .audit(&AuditEntry {
            at: now,
            actor: actor.clone(),
            action: "queue_bulk_command".to_owned(),
            target: if all_enrolled {
                "all enrolled".to_owned()
            } else {
                format!("{} devices", ids.len())
            },
            detail: json!({ "command_uuid": uuid, "targets": ids.len(), "request": detail }),
        })
        .await?;
    info!(
        command_uuid = uuid,
        request_type,
        targets = ids.len(),
        actor,
        "command queued for many devices"
    );
    let progress = Arc::new(BulkProgress {
        targets: u64::try_from(ids.len()).unwrap_or(u64::MAX),
        started_at: unix_millis(SystemTime::now()),
        ..BulkProgress::default()
    });
    app.push.start_bulk_job(&uuid, progress.clone());
    tokio::spawn(push_bulk(app.clone(), ids.clone(), progress));
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({
            "command_uuid": uuid,
            "request_type": request_type,
            "targets": ids.len(),
            "progress": format!("/api/v1/commands/{uuid}"),
        })),
    )
        .into_response())
}

/// `[{"udid": …, "user": …}, …]` → distinct enrollment ids, in order.
fn listed_devices(list: &Json_) -> ApiResult<Vec<EnrollmentId>> {
    let items = list
        .as_array()
        .ok_or_else(|| ApiError::bad("devices must be a list"))?;
    if items.len() > MAX_BULK_TARGETS {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "{} devices; one command is queued for at most {MAX_BULK_TARGETS}",
                items.len()
            ),
        ));
    }
    let mut seen = std::collections::HashSet::with_capacity(items.len());
    let mut ids = Vec::with_capacity(items.len());
    for item in items {
        let udid = item
            .get("udid")
            .and_then(Json_::as_str)
            .ok_or_else(|| ApiError::bad("each device needs a udid"))?;
        let user = match item.get("user") {
            None | Some(Json_::Null) => None,
            Some(Json_::String(u)) => Some(u.as_str()),
            Some(_) => return Err(ApiError::bad("user must be a string")),
        };
        let id = device_id(udid, user)?;
        if seen.insert(id.clone()) {
            ids.push(id);
        }
    }
    Ok(ids)
}

/// Every enrolled enrollment, read page by page.
async fn all_enrolled_ids(app: &App) -> ApiResult<Vec<EnrollmentId>> {
    let mut ids = Vec::new();
    let mut after = None;
    loop {
        let page = app
            .store
            .list_enrollments(&ListQuery {
                after,
                limit: MAX_PAGE,
                enrolled_only: true,
            })
            .await?;
        ids.extend(page.items.into_iter().map(|e| e.id));
        if ids.len() > MAX_BULK_TARGETS {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "more than {MAX_BULK_TARGETS} enrolled devices; queue the command in parts \
                     (\"devices\")"
                ),
            ));
        }
        match page.next {
            Some(next) => after = Some(next),
            None => return Ok(ids),
        }
    }
}

/// Pushes to every enrollment of a bulk command, storing outcomes in
/// batches as they come, and counts them in `progress`.
pub async fn push_bulk(app: Arc<App>, ids: Vec<EnrollmentId>, progress: Arc<BulkProgress>) {
    let state = app.push.current();
    let mut targets: Vec<PushTarget> = Vec::with_capacity(ids.len());
    for batch in ids.chunks(BULK_BATCH) {
        match app.store.push_targets(batch).await {
            Ok(t) => targets.extend(t),
            Err(e) => warn!(error = %e, "cannot read push targets; those devices are not pushed"),
        }
    }
    let no_token = ids.len().saturating_sub(targets.len());
    let (pushable, other_topic): (Vec<PushTarget>, Vec<PushTarget>) =
        targets.into_iter().partition(|t| t.topic == state.topic);
    let skipped = no_token + other_topic.len();
    progress
        .skipped
        .fetch_add(u64::try_from(skipped).unwrap_or(u64::MAX), Relaxed);
    progress.topic_mismatch.fetch_add(
        u64::try_from(other_topic.len()).unwrap_or(u64::MAX),
        Relaxed,
    );
    if !other_topic.is_empty() {
        warn!(
            count = other_topic.len(),
            topic = %state.topic,
            "not pushed: enrolled under another push topic than the push certificate's"
        );
    }

    // Outcomes go to the store from a task of their own, so that pushing
    // never waits on a store write (the channel bounds what is buffered).
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<PushRecord>>(8);
    let writer = {
        let app = app.clone();
        tokio::spawn(async move {
            while let Some(batch) = rx.recv().await {
                store_push_records(&app, &batch).await;
            }
        })
    };
    let mismatched: Vec<PushRecord> = other_topic
        .iter()
        .map(|t| PushRecord {
            id: t.id.clone(),
            token: t.token.clone(),
            result: topic_mismatch(t, &state.topic),
        })
        .collect();
    for chunk in mismatched.chunks(RECORD_BATCH) {
        let _ = tx.send(chunk.to_vec()).await;
    }
    let mut buffer = Vec::with_capacity(RECORD_BATCH);
    {
        let mut outcomes = state.sender.push_stream(&pushable);
        while let Some((i, o)) = outcomes.next().await {
            let Some(target) = pushable.get(i) else {
                continue;
            };
            let (record, retry_at) = settle(&app, target, &o, 0, unix_millis(SystemTime::now()));
            progress.pushed.fetch_add(1, Relaxed);
            if o.status == "delivered" || o.status == "recorded" {
                progress.delivered.fetch_add(1, Relaxed);
            } else {
                progress.failed.fetch_add(1, Relaxed);
            }
            if retry_at.is_some() {
                progress.retry_scheduled.fetch_add(1, Relaxed);
            }
            buffer.push(record);
            if buffer.len() >= RECORD_BATCH {
                let full = std::mem::replace(&mut buffer, Vec::with_capacity(RECORD_BATCH));
                let _ = tx.send(full).await;
            }
        }
    }
    if !buffer.is_empty() {
        let _ = tx.send(buffer).await;
    }
    drop(tx);
    let _ = writer.await;
    progress
        .finished_at
        .store(unix_millis(SystemTime::now()).max(1), Relaxed);
    info!(
        targets = progress.targets,
        pushed = progress.pushed.load(Relaxed),
        delivered = progress.delivered.load(Relaxed),
        skipped = progress.skipped.load(Relaxed),
        "bulk pushes done"
    );
}

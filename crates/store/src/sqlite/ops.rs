//! The SQL of each operation, run on a connection (inside the blocking
//! task).

use apple_mdm_protocol::queue::QueueError;
use apple_mdm_protocol::report::Status;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use crate::common::{
    DeviceSummary, ENROLLMENT_COLUMNS, Secret, TARGET_COLUMNS, clamp_limit, count,
    enrollment_from_row, id_of, inventory_kind, sha256, target_from_row,
};
use crate::error::{Error, Result};
use crate::model::{
    AuditEntry, AuditRecord, AuthenticateRecord, CommandRecord, CompletedCommand, Enrollment,
    EnrollmentPage, EntryState, Inventory, InventoryItem, InventoryKind, NewCommand,
    NewPublication, NextCommand, Publication, PushRecord, PushResult, PushTarget, ReportOutcome,
    Sha256, TokenUpdateRecord, TopicCount, UnixMillis,
};

/// `(device, user_key)`.
pub(super) type Key = (String, String);

fn unknown(key: &Key) -> Error {
    Error::UnknownEnrollment(id_of(key.0.clone(), key.1.clone()).to_string())
}

pub(super) fn immediate(c: &mut Connection) -> Result<rusqlite::Transaction<'_>> {
    Ok(c.transaction_with_behavior(TransactionBehavior::Immediate)?)
}

fn pk(c: &Connection, device: &str, user: &str) -> Result<Option<i64>> {
    Ok(
        c.prepare_cached("SELECT pk FROM enrollments WHERE device = ?1 AND user_key = ?2")?
            .query_row(params![device, user], |r| r.get(0))
            .optional()?,
    )
}

pub(super) fn authenticate(c: &mut Connection, rec: &AuthenticateRecord) -> Result<()> {
    let tx = immediate(c)?;
    let pk: i64 = tx
        .prepare_cached(
            "INSERT INTO enrollments (device, user_key, enrolled, serial_number, model, model_name,
                 product_name, os_version, build_version, device_name, imei, meid, topic,
                 identity_sha256, created_at, authenticated_at)
             VALUES (?1, '', 0, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?13)
             ON CONFLICT (device, user_key) DO UPDATE SET
                 enrolled = 0,
                 serial_number = COALESCE(excluded.serial_number, enrollments.serial_number),
                 model = COALESCE(excluded.model, enrollments.model),
                 model_name = COALESCE(excluded.model_name, enrollments.model_name),
                 product_name = COALESCE(excluded.product_name, enrollments.product_name),
                 os_version = COALESCE(excluded.os_version, enrollments.os_version),
                 build_version = COALESCE(excluded.build_version, enrollments.build_version),
                 device_name = COALESCE(excluded.device_name, enrollments.device_name),
                 imei = COALESCE(excluded.imei, enrollments.imei),
                 meid = COALESCE(excluded.meid, enrollments.meid),
                 topic = excluded.topic,
                 identity_sha256 = COALESCE(excluded.identity_sha256, enrollments.identity_sha256),
                 push_token = NULL,
                 push_magic = NULL,
                 unlock_token = NULL,
                 token_invalid = 0,
                 awaiting_configuration = 0,
                 authenticated_at = excluded.authenticated_at
             RETURNING pk",
        )?
        .query_row(
            params![
                rec.device,
                rec.serial_number,
                rec.model,
                rec.model_name,
                rec.product_name,
                rec.os_version,
                rec.build_version,
                rec.device_name,
                rec.imei,
                rec.meid,
                rec.topic,
                rec.identity.as_ref().map(|d| &d[..]),
                rec.now,
            ],
            |r| r.get(0),
        )?;
    tx.prepare_cached(
        "UPDATE enrollments SET enrolled = 0, push_token = NULL, push_magic = NULL,
             unlock_token = NULL, token_invalid = 0
         WHERE device_pk = ?1",
    )?
    .execute([pk])?;
    tx.prepare_cached(
        "UPDATE queue SET state = 'cancelled', status_at = ?2
         WHERE state IN ('queued', 'sent', 'not_now')
           AND enrollment IN (SELECT pk FROM enrollments WHERE pk = ?1 OR device_pk = ?1)",
    )?
    .execute(params![pk, rec.now])?;
    tx.commit()?;
    Ok(())
}

pub(super) fn token_update(c: &mut Connection, key: &Key, rec: &TokenUpdateRecord) -> Result<()> {
    let tx = immediate(c)?;
    if key.1.is_empty() {
        let n = tx
            .prepare_cached(
                "UPDATE enrollments SET enrolled = 1, push_token = ?2, push_magic = ?3,
                     topic = ?4, unlock_token = COALESCE(?5, unlock_token),
                     awaiting_configuration = ?6, token_invalid = 0, token_updated_at = ?7
                 WHERE device = ?1 AND user_key = ''",
            )?
            .execute(params![
                key.0,
                rec.push_token,
                rec.push_magic,
                rec.topic,
                rec.unlock_token,
                rec.awaiting_configuration,
                rec.now,
            ])?;
        if n == 0 {
            return Err(unknown(key));
        }
    } else {
        let device_pk = pk(&tx, &key.0, "")?.ok_or_else(|| unknown(key))?;
        tx.prepare_cached(
            "INSERT INTO enrollments (device, user_key, device_pk, enrolled, topic, push_token,
                 push_magic, unlock_token, awaiting_configuration, user_short_name,
                 user_long_name, created_at, token_updated_at)
             VALUES (?1, ?2, ?3, 1, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11)
             ON CONFLICT (device, user_key) DO UPDATE SET
                 enrolled = 1,
                 device_pk = excluded.device_pk,
                 topic = excluded.topic,
                 push_token = excluded.push_token,
                 push_magic = excluded.push_magic,
                 unlock_token = COALESCE(excluded.unlock_token, enrollments.unlock_token),
                 awaiting_configuration = excluded.awaiting_configuration,
                 user_short_name = COALESCE(excluded.user_short_name, enrollments.user_short_name),
                 user_long_name = COALESCE(excluded.user_long_name, enrollments.user_long_name),
                 token_invalid = 0,
                 token_updated_at = excluded.token_updated_at",
        )?
        .execute(params![
            key.0,
            key.1,
            device_pk,
            rec.topic,
            rec.push_token,
            rec.push_magic,
            rec.unlock_token,
            rec.awaiting_configuration,
            rec.user_short_name,
            rec.user_long_name,
            rec.now,
        ])?;
    }
    tx.commit()?;
    Ok(())
}

pub(super) fn check_out(c: &mut Connection, key: &Key, now: UnixMillis) -> Result<()> {
    let tx = immediate(c)?;
    let pk = pk(&tx, &key.0, &key.1)?.ok_or_else(|| unknown(key))?;
    tx.prepare_cached(
        "UPDATE enrollments SET enrolled = 0, checked_out_at = ?2 WHERE pk = ?1 OR device_pk = ?1",
    )?
    .execute(params![pk, now])?;
    tx.commit()?;
    Ok(())
}

pub(super) fn get_enrollment(c: &Connection, key: &Key) -> Result<Option<Enrollment>> {
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {ENROLLMENT_COLUMNS} FROM enrollments WHERE device = ?1 AND user_key = ?2"
    ))?;
    let mut rows = stmt.query(params![key.0, key.1])?;
    match rows.next()? {
        Some(r) => Ok(Some(enrollment_from_row(r)?)),
        None => Ok(None),
    }
}

pub(super) fn list_enrollments(
    c: &Connection,
    after: Option<&Key>,
    limit: u32,
    enrolled_only: bool,
) -> Result<EnrollmentPage> {
    let limit = clamp_limit(limit);
    let filter = if enrolled_only {
        "AND enrolled = 1"
    } else {
        ""
    };
    // One more than asked tells whether another page follows.
    let fetch = i64::from(limit) + 1;
    let mut items = Vec::new();
    let mut push_rows = |mut rows: rusqlite::Rows<'_>| -> Result<()> {
        while let Some(r) = rows.next()? {
            items.push(enrollment_from_row(r)?);
        }
        Ok(())
    };
    match after {
        Some(k) => {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {ENROLLMENT_COLUMNS} FROM enrollments
                 WHERE (device, user_key) > (?1, ?2) {filter}
                 ORDER BY device, user_key LIMIT ?3"
            ))?;
            push_rows(stmt.query(params![k.0, k.1, fetch])?)?;
        }
        None => {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {ENROLLMENT_COLUMNS} FROM enrollments
                 WHERE 1 = 1 {filter}
                 ORDER BY device, user_key LIMIT ?1"
            ))?;
            push_rows(stmt.query(params![fetch])?)?;
        }
    }
    let next = if items.len() > limit as usize {
        items.truncate(limit as usize);
        items.last().map(|e| e.id.clone())
    } else {
        None
    };
    Ok(EnrollmentPage { items, next })
}

pub(super) fn count_enrollments(c: &Connection, enrolled_only: bool) -> Result<u64> {
    let sql = if enrolled_only {
        "SELECT count(*) FROM enrollments WHERE enrolled = 1"
    } else {
        "SELECT count(*) FROM enrollments"
    };
    let n: i64 = c.prepare_cached(sql)?.query_row([], |r| r.get(0))?;
    Ok(n.unsigned_abs())
}

pub(super) fn touch(c: &mut Connection, key: &Key, now: UnixMillis, interval: i64) -> Result<()> {
    c.prepare_cached(
        "UPDATE enrollments SET last_seen_at = ?3
         WHERE device = ?1 AND user_key = ?2
           AND (last_seen_at IS NULL OR last_seen_at <= ?3 - ?4)",
    )?
    .execute(params![key.0, key.1, now, interval])?;
    Ok(())
}

pub(super) fn bind_identity(c: &mut Connection, device: &str, sha: &Sha256) -> Result<()> {
    let n = c
        .prepare_cached(
            "UPDATE enrollments SET identity_sha256 = ?2 WHERE device = ?1 AND user_key = ''",
        )?
        .execute(params![device, &sha[..]])?;
    if n == 0 {
        return Err(Error::UnknownEnrollment(device.to_owned()));
    }
    Ok(())
}

pub(super) fn identity_for(c: &Connection, device: &str) -> Result<Option<Sha256>> {
    let v: Option<Option<Vec<u8>>> = c
        .prepare_cached(
            "SELECT identity_sha256 FROM enrollments WHERE device = ?1 AND user_key = ''",
        )?
        .query_row([device], |r| r.get(0))
        .optional()?;
    v.flatten().map(sha256).transpose()
}

pub(super) fn rebind_identity(
    c: &mut Connection,
    device: &str,
    old: &Sha256,
    new: &Sha256,
) -> Result<()> {
    let tx = immediate(c)?;
    let n = tx
        .prepare_cached(
            "UPDATE enrollments SET identity_sha256 = ?3
             WHERE device = ?1 AND user_key = '' AND identity_sha256 = ?2",
        )?
        .execute(params![device, &old[..], &new[..]])?;
    if n == 0 {
        return Err(match pk(&tx, device, "")? {
            Some(_) => Error::IdentityMismatch(device.to_owned()),
            None => Error::UnknownEnrollment(device.to_owned()),
        });
    }
    tx.commit()?;
    Ok(())
}

pub(super) fn record_renewal(
    c: &mut Connection,
    old: &Sha256,
    new: &Sha256,
    now: UnixMillis,
) -> Result<()> {
    c.prepare_cached(
        "INSERT INTO identity_renewals (new_sha256, old_sha256, renewed_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (new_sha256) DO UPDATE SET old_sha256 = excluded.old_sha256,
             renewed_at = excluded.renewed_at",
    )?
    .execute(params![&new[..], &old[..], now])?;
    Ok(())
}

pub(super) fn renewed_from(c: &Connection, new: &Sha256) -> Result<Option<Sha256>> {
    let v: Option<Vec<u8>> = c
        .prepare_cached("SELECT old_sha256 FROM identity_renewals WHERE new_sha256 = ?1")?
        .query_row([&new[..]], |r| r.get(0))
        .optional()?;
    v.map(sha256).transpose()
}

pub(super) fn set_device_secret(
    c: &mut Connection,
    device: &str,
    secret: Secret,
    value: Option<Vec<u8>>,
) -> Result<()> {
    let col = secret.column();
    let n = c
        .prepare_cached(&format!(
            "UPDATE enrollments SET {col} = ?2 WHERE device = ?1 AND user_key = ''"
        ))?
        .execute(params![device, value])?;
    if n == 0 {
        return Err(Error::UnknownEnrollment(device.to_owned()));
    }
    Ok(())
}

pub(super) fn device_secret(
    c: &Connection,
    device: &str,
    secret: Secret,
) -> Result<Option<Vec<u8>>> {
    let col = secret.column();
    let v: Option<Option<Vec<u8>>> = c
        .prepare_cached(&format!(
            "SELECT {col} FROM enrollments WHERE device = ?1 AND user_key = ''"
        ))?
        .query_row([device], |r| r.get(0))
        .optional()?;
    Ok(v.flatten())
}

/// Stores a push outcome; the token is marked invalid only while it is the
/// one pushed, and not updated after APNs's Unregistered time.
const MARK_PUSH_RESULT: &str = "UPDATE enrollments SET push_at = ?3, push_status = ?4,
         push_reason = ?5, push_http_status = ?6, push_apns_id = ?7,
         push_unregistered_at = ?8,
         token_invalid = CASE
             WHEN ?9 AND push_token = ?10
                  AND (?8 IS NULL OR token_updated_at IS NULL OR token_updated_at <= ?8)
             THEN 1 ELSE token_invalid END
     WHERE device = ?1 AND user_key = ?2";

pub(super) fn mark_push_result(
    c: &mut Connection,
    key: &Key,
    token: &[u8],
    r: &PushResult,
) -> Result<()> {
    let n = c.prepare_cached(MARK_PUSH_RESULT)?.execute(params![
        key.0,
        key.1,
        r.at,
        r.status,
        r.reason,
        r.http_status,
        r.apns_id,
        r.unregistered_at,
        r.token_invalid,
        token
    ])?;
    if n == 0 {
        return Err(unknown(key));
    }
    Ok(())
}

pub(super) fn mark_push_results(c: &mut Connection, records: &[(Key, PushRecord)]) -> Result<u64> {
    let tx = immediate(c)?;
    let mut stored = 0u64;
    {
        let mut update = tx.prepare_cached(MARK_PUSH_RESULT)?;
        for (key, r) in records {
            let p = &r.result;
            let n = update.execute(params![
                key.0,
                key.1,
                p.at,
                p.status,
                p.reason,
                p.http_status,
                p.apns_id,
                p.unregistered_at,
                p.token_invalid,
                r.token
            ])?;
            stored += u64::try_from(n).unwrap_or(0);
        }
    }
    tx.commit()?;
    Ok(stored)
}

pub(super) fn enrolled_topics(c: &Connection) -> Result<Vec<TopicCount>> {
    let mut stmt = c.prepare_cached(
        "SELECT topic, COUNT(*) FROM enrollments
         WHERE enrolled = 1 AND topic IS NOT NULL
         GROUP BY topic ORDER BY COUNT(*) DESC, topic",
    )?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
    let mut out = Vec::new();
    for row in rows {
        let (topic, n) = row?;
        out.push(TopicCount {
            topic,
            enrollments: u64::try_from(n).map_err(|_| Error::corrupt("COUNT(*)", n.to_string()))?,
        });
    }
    Ok(out)
}

pub(super) fn enqueue_more(c: &mut Connection, uuid: &str, keys: &[Key]) -> Result<u64> {
    let tx = immediate(c)?;
    let command: Option<(i64, i64, i64)> = tx
        .prepare_cached("SELECT pk, priority, queued_at FROM commands WHERE uuid = ?1")?
        .query_row([uuid], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    let Some((command, priority, queued_at)) = command else {
        return Err(QueueError::UnknownCommand(uuid.to_owned()).into());
    };
    let mut added = 0u64;
    {
        let mut insert = tx.prepare_cached(
            "INSERT INTO queue (enrollment, command, priority, queued_at, state)
             VALUES (?1, ?2, ?3, ?4, 'queued')
             ON CONFLICT (command, enrollment) DO NOTHING",
        )?;
        for key in keys {
            let enrollment = pk(&tx, &key.0, &key.1)?.ok_or_else(|| unknown(key))?;
            let n = insert.execute(params![enrollment, command, priority, queued_at])?;
            added += u64::try_from(n).unwrap_or(0);
        }
    }
    tx.commit()?;
    Ok(added)
}

pub(super) fn push_targets(c: &Connection, keys: &[Key]) -> Result<Vec<PushTarget>> {
    let tx = c.unchecked_transaction()?;
    let mut stmt = tx.prepare_cached(
        "SELECT push_token, push_magic, topic FROM enrollments
         WHERE device = ?1 AND user_key = ?2 AND enrolled = 1 AND token_invalid = 0
           AND push_token IS NOT NULL AND push_magic IS NOT NULL AND topic IS NOT NULL",
    )?;
    let mut out = Vec::new();
    for key in keys {
        let row: Option<(Vec<u8>, String, String)> = stmt
            .query_row(params![key.0, key.1], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .optional()?;
        if let Some((token, push_magic, topic)) = row {
            out.push(PushTarget {
                id: id_of(key.0.clone(), key.1.clone()),
                token,
                push_magic,
                topic,
            });
        }
    }
    drop(stmt);
    tx.finish()?;
    Ok(out)
}

pub(super) fn enqueue(c: &mut Connection, keys: &[Key], cmd: &NewCommand) -> Result<()> {
    let tx = immediate(c)?;
    let exists: bool = tx
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM commands WHERE uuid = ?1)")?
        .query_row([&cmd.uuid], |r| r.get(0))?;
    if exists {
        return Err(QueueError::Duplicate(cmd.uuid.clone()).into());
    }
    let command: i64 = tx
        .prepare_cached(
            "INSERT INTO commands (uuid, request_type, body, priority, queued_by, queued_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING pk",
        )?
        .query_row(
            params![
                cmd.uuid,
                cmd.request_type,
                cmd.body,
                cmd.priority,
                cmd.queued_by,
                cmd.now
            ],
            |r| r.get(0),
        )?;
    {
        let mut insert = tx.prepare_cached(
            "INSERT INTO queue (enrollment, command, priority, queued_at, state)
             VALUES (?1, ?2, ?3, ?4, 'queued')",
        )?;
        for key in keys {
            let enrollment = pk(&tx, &key.0, &key.1)?.ok_or_else(|| unknown(key))?;
            insert.execute(params![enrollment, command, cmd.priority, cmd.now])?;
        }
    }
    tx.commit()?;
    Ok(())
}

pub(super) fn handle_report(
    c: &mut Connection,
    key: &Key,
    status: Status,
    uuid: Option<&str>,
    result: Option<Vec<u8>>,
    now: UnixMillis,
) -> Result<ReportOutcome> {
    let uuid = match (status, uuid) {
        (Status::Idle, _) => None,
        (_, None) => return Err(QueueError::MissingCommandUuid(status).into()),
        (_, Some(u)) => Some(u),
    };
    let tx = immediate(c)?;
    let Some(enrollment) = pk(&tx, &key.0, &key.1)? else {
        return match uuid {
            // An enrollment with no queue: nothing to send.
            None => Ok(ReportOutcome {
                completed: None,
                next: None,
            }),
            Some(u) => Err(QueueError::UnknownCommand(u.to_owned()).into()),
        };
    };
    let mut completed = None;
    match uuid {
        None => {
            tx.prepare_cached(
                "UPDATE queue SET state = 'queued' WHERE state = 'not_now' AND enrollment = ?1",
            )?
            .execute([enrollment])?;
        }
        Some(uuid) => {
            let entry: Option<(i64, String, i64, i64, i64)> = tx
                .prepare_cached(
                    "SELECT q.seq, c.request_type, q.deliveries, q.not_now_count, q.queued_at
                     FROM commands c JOIN queue q ON q.command = c.pk
                     WHERE c.uuid = ?1 AND q.enrollment = ?2
                       AND q.state IN ('queued', 'sent', 'not_now')",
                )?
                .query_row(params![uuid, enrollment], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
                })
                .optional()?;
            let Some((seq, request_type, deliveries, not_now_count, queued_at)) = entry else {
                return Err(QueueError::UnknownCommand(uuid.to_owned()).into());
            };
            match EntryState::completed_by(status) {
                None => {
                    tx.prepare_cached(
                        "UPDATE queue SET state = 'not_now', not_now_count = not_now_count + 1,
                             status_at = ?2
                         WHERE seq = ?1",
                    )?
                    .execute(params![seq, now])?;
                }
                Some(state) => {
                    tx.prepare_cached(
                        "UPDATE queue SET state = ?2, status_at = ?3, result = ?4 WHERE seq = ?1",
                    )?
                    .execute(params![seq, state.as_str(), now, result])?;
                    completed = Some(CompletedCommand {
                        uuid: uuid.to_owned(),
                        request_type,
                        status,
                        deliveries: count(deliveries, "queue.deliveries")?,
                        not_now_count: count(not_now_count, "queue.not_now_count")?,
                        queued_at,
                    });
                }
            }
        }
    }
    let next: Option<(i64, NextCommand)> = tx
        .prepare_cached(
            "SELECT q.seq, c.uuid, c.request_type, c.body
             FROM queue q JOIN commands c ON c.pk = q.command
             WHERE q.enrollment = ?1 AND q.state IN ('queued', 'sent')
             ORDER BY q.priority DESC, q.queued_at, q.seq
             LIMIT 1",
        )?
        .query_row([enrollment], |r| {
            Ok((
                r.get(0)?,
                NextCommand {
                    uuid: r.get(1)?,
                    request_type: r.get(2)?,
                    body: r.get(3)?,
                },
            ))
        })
        .optional()?;
    if let Some((seq, _)) = &next {
        tx.prepare_cached(
            "UPDATE queue SET state = 'sent', deliveries = deliveries + 1, sent_at = ?2
             WHERE seq = ?1",
        )?
        .execute(params![seq, now])?;
    }
    tx.commit()?;
    Ok(ReportOutcome {
        completed,
        next: next.map(|(_, n)| n),
    })
}

pub(super) fn get_command(c: &Connection, uuid: &str) -> Result<Option<CommandRecord>> {
    let tx = c.unchecked_transaction()?;
    let head: Option<(i64, String, i32, String, i64)> = tx
        .prepare_cached(
            "SELECT pk, request_type, priority, queued_by, queued_at FROM commands WHERE uuid = ?1",
        )?
        .query_row([uuid], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .optional()?;
    let Some((pk, request_type, priority, queued_by, queued_at)) = head else {
        return Ok(None);
    };
    let mut targets = Vec::new();
    {
        let mut stmt = tx.prepare_cached(&format!(
            "SELECT {TARGET_COLUMNS} FROM queue q JOIN enrollments e ON e.pk = q.enrollment
             WHERE q.command = ?1 ORDER BY e.device, e.user_key"
        ))?;
        let mut rows = stmt.query([pk])?;
        while let Some(r) = rows.next()? {
            targets.push(target_from_row(r)?);
        }
    }
    tx.finish()?;
    Ok(Some(CommandRecord {
        uuid: uuid.to_owned(),
        request_type,
        priority,
        queued_by,
        queued_at,
        targets,
    }))
}

pub(super) fn cancel_command(
    c: &mut Connection,
    uuid: &str,
    key: Option<&Key>,
    now: UnixMillis,
) -> Result<usize> {
    let n = match key {
        None => c
            .prepare_cached(
                "UPDATE queue SET state = 'cancelled', status_at = ?2
                 WHERE command = (SELECT pk FROM commands WHERE uuid = ?1)
                   AND state IN ('queued', 'sent', 'not_now')",
            )?
            .execute(params![uuid, now])?,
        Some(key) => c
            .prepare_cached(
                "UPDATE queue SET state = 'cancelled', status_at = ?2
                 WHERE command = (SELECT pk FROM commands WHERE uuid = ?1)
                   AND enrollment = (SELECT pk FROM enrollments
                                     WHERE device = ?3 AND user_key = ?4)
                   AND state IN ('queued', 'sent', 'not_now')",
            )?
            .execute(params![uuid, now, key.0, key.1])?,
    };
    Ok(n)
}

pub(super) fn queue_depth(c: &Connection, key: Option<&Key>) -> Result<u64> {
    let n: i64 = match key {
        None => c
            .prepare_cached(
                "SELECT count(*) FROM queue WHERE state IN ('queued', 'sent', 'not_now')",
            )?
            .query_row([], |r| r.get(0))?,
        Some(key) => c
            .prepare_cached(
                "SELECT count(*) FROM queue
                 WHERE state IN ('queued', 'sent', 'not_now')
                   AND enrollment = (SELECT pk FROM enrollments
                                     WHERE device = ?1 AND user_key = ?2)",
            )?
            .query_row(params![key.0, key.1], |r| r.get(0))?,
    };
    Ok(n.unsigned_abs())
}

pub(super) fn put_inventory(
    c: &mut Connection,
    key: &Key,
    kind: InventoryKind,
    data: &str,
    summary: Option<&DeviceSummary>,
    now: UnixMillis,
) -> Result<()> {
    let tx = immediate(c)?;
    let enrollment = pk(&tx, &key.0, &key.1)?.ok_or_else(|| unknown(key))?;
    tx.prepare_cached(
        "INSERT INTO inventory (enrollment, kind, data, updated_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (enrollment, kind) DO UPDATE SET
             data = excluded.data, updated_at = excluded.updated_at",
    )?
    .execute(params![enrollment, kind.as_str(), data, now])?;
    if let Some(s) = summary {
        tx.prepare_cached(
            "UPDATE enrollments SET
                 serial_number = COALESCE(?2, serial_number),
                 model = COALESCE(?3, model),
                 model_name = COALESCE(?4, model_name),
                 product_name = COALESCE(?5, product_name),
                 os_version = COALESCE(?6, os_version),
                 build_version = COALESCE(?7, build_version),
                 device_name = COALESCE(?8, device_name),
                 imei = COALESCE(?9, imei),
                 meid = COALESCE(?10, meid)
             WHERE pk = ?1",
        )?
        .execute(params![
            enrollment,
            s.serial_number,
            s.model,
            s.model_name,
            s.product_name,
            s.os_version,
            s.build_version,
            s.device_name,
            s.imei,
            s.meid,
        ])?;
    }
    tx.commit()?;
    Ok(())
}

pub(super) fn get_inventory(c: &Connection, key: &Key) -> Result<Inventory> {
    let tx = c.unchecked_transaction()?;
    let enrollment = pk(&tx, &key.0, &key.1)?.ok_or_else(|| unknown(key))?;
    let mut inv = Inventory::default();
    {
        let mut stmt = tx
            .prepare_cached("SELECT kind, data, updated_at FROM inventory WHERE enrollment = ?1")?;
        let mut rows = stmt.query([enrollment])?;
        while let Some(r) = rows.next()? {
            let kind = inventory_kind(&r.get::<_, String>(0)?)?;
            let text: String = r.get(1)?;
            let data = serde_json::from_str(&text)
                .map_err(|e| Error::corrupt("inventory.data", e.to_string()))?;
            inv.kinds.insert(
                kind,
                InventoryItem {
                    data,
                    updated_at: r.get(2)?,
                },
            );
        }
    }
    tx.finish()?;
    Ok(inv)
}

pub(super) fn audit(c: &mut Connection, e: &AuditEntry) -> Result<i64> {
    Ok(c.prepare_cached(
        "INSERT INTO audit (at, actor, action, target, detail) VALUES (?1, ?2, ?3, ?4, ?5)
         RETURNING id",
    )?
    .query_row(
        params![e.at, e.actor, e.action, e.target, e.detail.to_string()],
        |r| r.get(0),
    )?)
}

pub(super) fn list_audit(
    c: &Connection,
    after: Option<i64>,
    limit: u32,
) -> Result<Vec<AuditRecord>> {
    let mut stmt = c.prepare_cached(
        "SELECT id, at, actor, action, target, detail FROM audit
         WHERE id > ?1 ORDER BY id LIMIT ?2",
    )?;
    let mut rows = stmt.query(params![after.unwrap_or(i64::MIN), clamp_limit(limit)])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let text: String = r.get(5)?;
        out.push(AuditRecord {
            id: r.get(0)?,
            entry: AuditEntry {
                at: r.get(1)?,
                actor: r.get(2)?,
                action: r.get(3)?,
                target: r.get(4)?,
                detail: serde_json::from_str(&text)
                    .map_err(|e| Error::corrupt("audit.detail", e.to_string()))?,
            },
        });
    }
    Ok(out)
}

/// Stores a publication and deletes those beyond the latest `keep` (at
/// least 1), in one transaction.
pub(super) fn record_publication(c: &mut Connection, p: &NewPublication, keep: u32) -> Result<i64> {
    let tx = immediate(c)?;
    let id = tx
        .prepare_cached(
            "INSERT INTO sup_publications (at, reporter, catalog_url, catalog_sha256,
                 published_at, products, packages_published, superseded, expired, detail)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) RETURNING id",
        )?
        .query_row(
            params![
                p.at,
                p.reporter,
                p.catalog_url,
                p.catalog_sha256,
                p.published_at,
                p.products,
                p.packages_published,
                p.superseded,
                p.expired,
                p.detail.to_string()
            ],
            |r| r.get(0),
        )?;
    // The id of the oldest row to keep; none (NULL) while there are fewer.
    tx.prepare_cached(
        "DELETE FROM sup_publications WHERE id < (
             SELECT id FROM sup_publications ORDER BY id DESC LIMIT 1 OFFSET ?1)",
    )?
    .execute([keep.max(1) - 1])?;
    tx.commit()?;
    Ok(id)
}

/// The columns of a publication, in the order [`publication_from_row`]
/// reads them.
const PUBLICATION_COLUMNS: &str = "id, at, reporter, catalog_url, catalog_sha256, published_at, \
    products, packages_published, superseded, expired, detail";

fn publication_from_row(r: &rusqlite::Row<'_>) -> Result<Publication> {
    let text: String = r.get(10)?;
    Ok(Publication {
        id: r.get(0)?,
        publication: NewPublication {
            at: r.get(1)?,
            reporter: r.get(2)?,
            catalog_url: r.get(3)?,
            catalog_sha256: r.get(4)?,
            published_at: r.get(5)?,
            products: count(r.get(6)?, "sup_publications.products")?,
            packages_published: count(r.get(7)?, "sup_publications.packages_published")?,
            superseded: count(r.get(8)?, "sup_publications.superseded")?,
            expired: count(r.get(9)?, "sup_publications.expired")?,
            detail: serde_json::from_str(&text)
                .map_err(|e| Error::corrupt("sup_publications.detail", e.to_string()))?,
        },
    })
}

pub(super) fn list_publications(
    c: &Connection,
    after: Option<i64>,
    limit: u32,
) -> Result<Vec<Publication>> {
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {PUBLICATION_COLUMNS} FROM sup_publications WHERE id > ?1 ORDER BY id LIMIT ?2"
    ))?;
    let mut rows = stmt.query(params![after.unwrap_or(i64::MIN), clamp_limit(limit)])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(publication_from_row(r)?);
    }
    Ok(out)
}

pub(super) fn latest_publication(c: &Connection) -> Result<Option<Publication>> {
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {PUBLICATION_COLUMNS} FROM sup_publications ORDER BY id DESC LIMIT 1"
    ))?;
    let mut rows = stmt.query([])?;
    rows.next()?.map(publication_from_row).transpose()
}

//! The SQL of the DEP operations, run on a connection (inside the blocking
//! task or on the writer thread).

use std::collections::HashMap;

use rusqlite::{Connection, OptionalExtension, params};

use super::ops::immediate;
use crate::common::clamp_limit;
use crate::dep::{
    BatchDevice, DEVICE_COLUMNS, EVENT_COLUMNS, LINK_COLUMNS, ListParam, add_count, check_batch,
    clamp_batch, count_sql, device_from_row, empty_counts, event_from_row, failure_outcome,
    failure_sql, fold_batch, link_from_row, list_sql, next_retry_sql, page, requeue_sql,
    to_assign_sql, upsert_outcome,
};
use crate::error::{Error, Result};
use crate::model::UnixMillis;
use crate::{
    AssignStatus, DepAssignFailure, DepAssignment, DepDevice, DepDeviceCounts, DepDeviceEvent,
    DepDevicePage, DepDeviceQuery, DepDeviceRecord, DepFailureOutcome, DepLink, DepPhase,
    NewDepLink, UpsertOutcome,
};

fn unknown(name: &str) -> Error {
    Error::UnknownDepLink(name.to_owned())
}

fn link_exists(c: &Connection, name: &str) -> Result<bool> {
    Ok(
        c.prepare_cached("SELECT EXISTS (SELECT 1 FROM dep_links WHERE name = ?1)")?
            .query_row([name], |r| r.get(0))?,
    )
}

/// Fails with [`Error::UnknownDepLink`] unless the link is stored.
fn need_link(c: &Connection, name: &str) -> Result<()> {
    if link_exists(c, name)? {
        Ok(())
    } else {
        Err(unknown(name))
    }
}

pub(super) fn put_link(c: &mut Connection, l: &NewDepLink) -> Result<bool> {
    let tx = immediate(c)?;
    let new = !link_exists(&tx, &l.name)?;
    tx.prepare_cached(
        "INSERT INTO dep_links (name, token_sealed, token_expiry, consumer_key, phase,
             created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, 'fetch', ?5, ?5)
         ON CONFLICT (name) DO UPDATE SET
             token_sealed = excluded.token_sealed,
             token_expiry = excluded.token_expiry,
             consumer_key = excluded.consumer_key,
             updated_at = excluded.updated_at",
    )?
    .execute(params![
        l.name,
        l.token_sealed,
        l.token_expiry,
        l.consumer_key,
        l.now
    ])?;
    tx.commit()?;
    Ok(new)
}

pub(super) fn get_link(c: &Connection, name: &str) -> Result<Option<DepLink>> {
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {LINK_COLUMNS} FROM dep_links WHERE name = ?1"
    ))?;
    let mut rows = stmt.query([name])?;
    match rows.next()? {
        Some(r) => Ok(Some(link_from_row(r)?)),
        None => Ok(None),
    }
}

pub(super) fn list_links(c: &Connection) -> Result<Vec<DepLink>> {
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {LINK_COLUMNS} FROM dep_links ORDER BY name"
    ))?;
    let mut rows = stmt.query([])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(link_from_row(r)?);
    }
    Ok(out)
}

pub(super) fn delete_link(c: &mut Connection, name: &str) -> Result<bool> {
    // The devices and events go with it (ON DELETE CASCADE).
    let n = c
        .prepare_cached("DELETE FROM dep_links WHERE name = ?1")?
        .execute([name])?;
    Ok(n > 0)
}

/// Runs an `UPDATE dep_links ... WHERE name = ?1`; unknown link if it
/// changed nothing.
fn update_link(c: &Connection, name: &str, sql: &str, p: &[&dyn rusqlite::ToSql]) -> Result<()> {
    let mut all: Vec<&dyn rusqlite::ToSql> = Vec::with_capacity(p.len() + 1);
    all.push(&name);
    all.extend_from_slice(p);
    let n = c.prepare_cached(sql)?.execute(all.as_slice())?;
    if n == 0 {
        return Err(unknown(name));
    }
    Ok(())
}

pub(super) fn set_cursor(
    c: &mut Connection,
    name: &str,
    cursor: Option<&str>,
    phase: DepPhase,
    now: UnixMillis,
) -> Result<()> {
    update_link(
        c,
        name,
        "UPDATE dep_links SET cursor = ?2, phase = ?3, cursor_at = ?4, updated_at = ?4
         WHERE name = ?1",
        &[&cursor, &phase.as_str(), &now],
    )
}

pub(super) fn record_sync(
    c: &mut Connection,
    name: &str,
    ok: bool,
    error: Option<&str>,
    now: UnixMillis,
) -> Result<()> {
    update_link(
        c,
        name,
        "UPDATE dep_links SET last_sync_at = ?2, last_sync_ok = ?3, last_error = ?4,
             updated_at = ?2
         WHERE name = ?1",
        &[&now, &ok, &error],
    )
}

/// `GET /account`: the JSON text and the fields shown in listings.
pub(super) struct Account {
    pub(super) json: Option<String>,
    pub(super) server_name: Option<String>,
    pub(super) server_uuid: Option<String>,
    pub(super) org_name: Option<String>,
}

pub(super) fn set_account(
    c: &mut Connection,
    name: &str,
    a: &Account,
    now: UnixMillis,
) -> Result<()> {
    update_link(
        c,
        name,
        "UPDATE dep_links SET account_json = ?2, server_name = ?3, server_uuid = ?4,
             org_name = ?5, updated_at = ?6
         WHERE name = ?1",
        &[&a.json, &a.server_name, &a.server_uuid, &a.org_name, &now],
    )
}

pub(super) fn set_profile(
    c: &mut Connection,
    name: &str,
    profile_uuid: Option<&str>,
    profile_hash: Option<&str>,
    now: UnixMillis,
) -> Result<()> {
    update_link(
        c,
        name,
        "UPDATE dep_links SET profile_uuid = ?2, profile_hash = ?3, updated_at = ?4
         WHERE name = ?1",
        &[&profile_uuid, &profile_hash, &now],
    )
}

pub(super) fn upsert_devices(
    c: &mut Connection,
    link: &str,
    records: &[DepDeviceRecord],
    now: UnixMillis,
) -> Result<UpsertOutcome> {
    let batch = fold_batch(records)?;
    let tx = immediate(c)?;
    need_link(&tx, link)?;
    let mut prior: HashMap<String, bool> = HashMap::with_capacity(batch.len());
    {
        let mut read = tx.prepare_cached(
            "SELECT deleted FROM dep_devices WHERE link = ?1 AND serial_number = ?2",
        )?;
        let mut insert = tx.prepare_cached(
            "INSERT INTO dep_devices (link, serial_number, model, description, color, asset_tag,
                 os, device_family, profile_status, profile_uuid, profile_assign_time,
                 profile_push_time, device_assigned_date, device_assigned_by, op_type, op_date,
                 deleted, raw_json, assign_status, assign_at, first_seen_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,
                 ?17, ?18, 'pending', ?19, ?19, ?19)",
        )?;
        // A deleted record keeps the fields it leaves out; any other record
        // replaces them. `?20`: the device comes back, to be assigned again.
        let mut update = tx.prepare_cached(
            "UPDATE dep_devices SET
                 model = COALESCE(?3, CASE WHEN ?17 THEN model END),
                 description = COALESCE(?4, CASE WHEN ?17 THEN description END),
                 color = COALESCE(?5, CASE WHEN ?17 THEN color END),
                 asset_tag = COALESCE(?6, CASE WHEN ?17 THEN asset_tag END),
                 os = COALESCE(?7, CASE WHEN ?17 THEN os END),
                 device_family = COALESCE(?8, CASE WHEN ?17 THEN device_family END),
                 profile_status = COALESCE(?9, CASE WHEN ?17 THEN profile_status END),
                 profile_uuid = COALESCE(?10, CASE WHEN ?17 THEN profile_uuid END),
                 profile_assign_time = COALESCE(?11, CASE WHEN ?17 THEN profile_assign_time END),
                 profile_push_time = COALESCE(?12, CASE WHEN ?17 THEN profile_push_time END),
                 device_assigned_date = COALESCE(?13, CASE WHEN ?17 THEN device_assigned_date END),
                 device_assigned_by = COALESCE(?14, CASE WHEN ?17 THEN device_assigned_by END),
                 op_type = ?15,
                 op_date = ?16,
                 deleted = ?17,
                 raw_json = ?18,
                 updated_at = ?19,
                 assign_status = CASE WHEN ?20 THEN 'pending' ELSE assign_status END,
                 assign_detail = CASE WHEN ?20 THEN NULL ELSE assign_detail END,
                 assign_profile_uuid = CASE WHEN ?20 THEN NULL ELSE assign_profile_uuid END,
                 assign_at = CASE WHEN ?20 THEN ?19 ELSE assign_at END,
                 retry_after = CASE WHEN ?20 THEN NULL ELSE retry_after END,
                 assign_attempts = CASE WHEN ?20 THEN 0 ELSE assign_attempts END
             WHERE link = ?1 AND serial_number = ?2",
        )?;
        for d in &batch {
            let BatchDevice {
                rec: r, deleted, ..
            } = d;
            let was: Option<bool> = read
                .query_row(params![link, r.serial_number], |row| row.get(0))
                .optional()?;
            let fields = params![
                link,
                r.serial_number,
                r.model,
                r.description,
                r.color,
                r.asset_tag,
                r.os,
                r.device_family,
                r.profile_status,
                r.profile_uuid,
                r.profile_assign_time,
                r.profile_push_time,
                r.device_assigned_date,
                r.device_assigned_by,
                r.op_type,
                r.op_date,
                deleted,
                r.raw_json,
                now,
            ];
            match was {
                None => {
                    insert.execute(fields)?;
                }
                Some(was_deleted) => {
                    let mut all = fields.to_vec();
                    let resets = d.resets(was_deleted);
                    all.push(&resets);
                    update.execute(all.as_slice())?;
                    prior.insert(r.serial_number.clone(), was_deleted);
                }
            }
        }
        let mut event = tx.prepare_cached(
            "INSERT INTO dep_device_events (link, serial_number, op_type, op_date, at)
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        for r in records {
            if let Some(op) = &r.op_type {
                event.execute(params![link, r.serial_number, op, r.op_date, now])?;
            }
        }
    }
    tx.commit()?;
    Ok(upsert_outcome(&batch, &prior))
}

fn devices(mut rows: rusqlite::Rows<'_>) -> Result<Vec<DepDevice>> {
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(device_from_row(r)?);
    }
    Ok(out)
}

pub(super) fn get_device(c: &Connection, link: &str, serial: &str) -> Result<Option<DepDevice>> {
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {DEVICE_COLUMNS} FROM dep_devices WHERE link = ?1 AND serial_number = ?2"
    ))?;
    Ok(devices(stmt.query(params![link, serial])?)?.pop())
}

pub(super) fn find_device(c: &Connection, serial: &str) -> Result<Vec<DepDevice>> {
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {DEVICE_COLUMNS} FROM dep_devices WHERE serial_number = ?1 ORDER BY link"
    ))?;
    devices(stmt.query([serial])?)
}

pub(super) fn list_devices(c: &Connection, q: &DepDeviceQuery) -> Result<DepDevicePage> {
    let limit = clamp_limit(q.limit);
    let fetch = i64::from(limit) + 1;
    let Some((sql, order)) = list_sql(q, '?') else {
        return match &q.link {
            Some(link) => get_link(c, link)?
                .map(|_| DepDevicePage::default())
                .ok_or_else(|| unknown(link)),
            None => Ok(DepDevicePage::default()),
        };
    };
    let status = q.assign_status.map(|s| s.as_str());
    let values: Vec<&dyn rusqlite::ToSql> = order
        .iter()
        .map(|p| -> &dyn rusqlite::ToSql {
            match p {
                ListParam::Link => &q.link,
                ListParam::AfterLink => q.after.as_ref().map_or(&"", |a| &a.0),
                ListParam::AfterSerial => q.after.as_ref().map_or(&"", |a| &a.1),
                ListParam::Status => &status,
                ListParam::Fetch => &fetch,
            }
        })
        .collect();
    let tx = c.unchecked_transaction()?;
    let items = {
        let mut stmt = tx.prepare_cached(&sql)?;
        devices(stmt.query(values.as_slice())?)?
    };
    if items.is_empty()
        && let Some(link) = &q.link
    {
        need_link(&tx, link)?;
    }
    tx.finish()?;
    Ok(page(items, limit))
}

pub(super) fn to_assign(
    c: &Connection,
    link: &str,
    now: UnixMillis,
    limit: u32,
) -> Result<Vec<String>> {
    let tx = c.unchecked_transaction()?;
    let out = tx
        .prepare_cached(&to_assign_sql('?', "deleted = 0"))?
        .query_map(params![link, now, clamp_batch(limit)], |r| r.get(0))?
        .collect::<rusqlite::Result<Vec<String>>>()?;
    if out.is_empty() {
        need_link(&tx, link)?;
    }
    tx.finish()?;
    Ok(out)
}

pub(super) fn set_assignment(
    c: &mut Connection,
    link: &str,
    serials: &[String],
    a: &DepAssignment,
) -> Result<u64> {
    check_batch(serials.len())?;
    let tx = immediate(c)?;
    need_link(&tx, link)?;
    let mut n = 0;
    {
        let mut update = tx.prepare_cached(
            "UPDATE dep_devices SET assign_status = ?3, assign_detail = ?4,
                 assign_profile_uuid = ?5, retry_after = ?6, assign_at = ?7, updated_at = ?7,
                 assign_attempts = CASE WHEN ?8 THEN assign_attempts ELSE 0 END
             WHERE link = ?1 AND serial_number = ?2",
        )?;
        let keep_attempts = a.status == AssignStatus::Throttled;
        for serial in serials {
            n += update.execute(params![
                link,
                serial,
                a.status.as_str(),
                a.detail,
                a.profile_uuid,
                a.retry_after,
                a.now,
                keep_attempts,
            ])? as u64;
        }
    }
    tx.commit()?;
    Ok(n)
}

pub(super) fn next_retry(c: &Connection, link: &str) -> Result<Option<UnixMillis>> {
    let tx = c.unchecked_transaction()?;
    let next: Option<UnixMillis> = tx
        .prepare_cached(&next_retry_sql('?', "deleted = 0"))?
        .query_row([link], |r| r.get(0))?;
    if next.is_none() {
        need_link(&tx, link)?;
    }
    tx.finish()?;
    Ok(next)
}

pub(super) fn record_failure(
    c: &mut Connection,
    link: &str,
    serials: &[String],
    f: &DepAssignFailure,
) -> Result<DepFailureOutcome> {
    check_batch(serials.len())?;
    let (first, max, attempts) = f.retry.clamped();
    let tx = immediate(c)?;
    need_link(&tx, link)?;
    let mut retries = Vec::with_capacity(serials.len());
    {
        let mut update = tx.prepare_cached(&failure_sql('?', "serial_number = ?2", "min"))?;
        for serial in serials {
            let mut rows = update.query(params![
                link,
                serial,
                f.detail,
                f.profile_uuid,
                f.now,
                first,
                max,
                attempts,
            ])?;
            while let Some(r) = rows.next()? {
                retries.push(r.get::<_, Option<UnixMillis>>(0)?);
            }
        }
    }
    tx.commit()?;
    Ok(failure_outcome(retries))
}

pub(super) fn requeue(
    c: &mut Connection,
    link: &str,
    profile_uuid: &str,
    now: UnixMillis,
) -> Result<u64> {
    let tx = immediate(c)?;
    need_link(&tx, link)?;
    let n = tx
        .prepare_cached(&requeue_sql('?', "deleted = 0"))?
        .execute(params![link, profile_uuid, now])?;
    tx.commit()?;
    Ok(n as u64)
}

pub(super) fn events(
    c: &Connection,
    link: &str,
    serial: &str,
    limit: u32,
) -> Result<Vec<DepDeviceEvent>> {
    let tx = c.unchecked_transaction()?;
    let mut out = Vec::new();
    {
        let mut stmt = tx.prepare_cached(&format!(
            "SELECT {EVENT_COLUMNS} FROM dep_device_events
             WHERE link = ?1 AND serial_number = ?2 ORDER BY id DESC LIMIT ?3"
        ))?;
        let mut rows = stmt.query(params![link, serial, clamp_limit(limit)])?;
        while let Some(r) = rows.next()? {
            out.push(event_from_row(r)?);
        }
    }
    if out.is_empty() {
        need_link(&tx, link)?;
    }
    tx.finish()?;
    Ok(out)
}

pub(super) fn prune_events(c: &mut Connection, older_than: UnixMillis) -> Result<u64> {
    let n = c
        .prepare_cached("DELETE FROM dep_device_events WHERE at < ?1")?
        .execute([older_than])?;
    Ok(n as u64)
}

pub(super) fn count_devices(c: &Connection, link: &str) -> Result<DepDeviceCounts> {
    let tx = c.unchecked_transaction()?;
    let mut counts = empty_counts();
    let mut any = false;
    {
        let mut stmt = tx.prepare_cached(&count_sql('?'))?;
        let mut rows = stmt.query([link])?;
        while let Some(r) = rows.next()? {
            any = true;
            add_count(&mut counts, &r.get::<_, String>(0)?, r.get(1)?, r.get(2)?)?;
        }
    }
    if !any {
        need_link(&tx, link)?;
    }
    tx.finish()?;
    Ok(counts)
}

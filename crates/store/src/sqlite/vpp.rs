//! The SQL of the Apps and Books (VPP) operations, run on a connection
//! (inside the blocking task or on the writer thread).

use std::collections::BTreeMap;

use rusqlite::{Connection, OptionalExtension, params};

use super::ops::immediate;
use crate::common::clamp_limit;
use crate::error::Result;
use crate::model::UnixMillis;
use crate::vpp::{
    ASSET_COLUMNS, ASSIGNMENT_COLUMNS, Listing, REQUESTED, TOKEN_COLUMNS, add_count, adjust_sql,
    asset_from_row, asset_page, assets_listing, assignment_from_row, assignment_page,
    assignments_listing, check_licenses, clamp_batch, count_sql, due_sql, empty_counts,
    fold_assets, fold_devices, fold_serials, platforms_json, removal_sql, request_sql, restarts,
    set_sql, state, token_from_row, unknown_asset, unknown_token,
};
use crate::{
    NewVppToken, VppAsset, VppAssetMetadata, VppAssetPage, VppAssetQuery, VppAssetRecord,
    VppAssignRequest, VppAssignState, VppAssignUpdate, VppAssignment, VppAssignmentPage,
    VppAssignmentQuery, VppClaim, VppRequestOutcome, VppToken,
};

fn token_exists(c: &Connection, name: &str) -> Result<bool> {
    Ok(
        c.prepare_cached("SELECT EXISTS (SELECT 1 FROM vpp_tokens WHERE name = ?1)")?
            .query_row([name], |r| r.get(0))?,
    )
}

/// Fails with [`Error::UnknownVppToken`](crate::Error::UnknownVppToken)
/// unless the token is stored.
fn need_token(c: &Connection, name: &str) -> Result<()> {
    if token_exists(c, name)? {
        Ok(())
    } else {
        Err(unknown_token(name))
    }
}

pub(super) fn put_token(c: &mut Connection, t: &NewVppToken) -> Result<bool> {
    let tx = immediate(c)?;
    let new = !token_exists(&tx, &t.name)?;
    tx.prepare_cached(
        "INSERT INTO vpp_tokens (name, description, org_type, token_sealed, org_name,
             token_expiry, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)
         ON CONFLICT (name) DO UPDATE SET
             description = excluded.description,
             org_type = excluded.org_type,
             token_sealed = excluded.token_sealed,
             org_name = excluded.org_name,
             token_expiry = excluded.token_expiry,
             claimed_at = NULL,
             claim_error = NULL,
             updated_at = excluded.updated_at",
    )?
    .execute(params![
        t.name,
        t.description,
        t.org_type.as_str(),
        t.token_sealed,
        t.org_name,
        t.token_expiry,
        t.now
    ])?;
    tx.commit()?;
    Ok(new)
}

pub(super) fn get_token(c: &Connection, name: &str) -> Result<Option<VppToken>> {
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {TOKEN_COLUMNS} FROM vpp_tokens WHERE name = ?1"
    ))?;
    let mut rows = stmt.query([name])?;
    match rows.next()? {
        Some(r) => Ok(Some(token_from_row(r)?)),
        None => Ok(None),
    }
}

pub(super) fn list_tokens(c: &Connection) -> Result<Vec<VppToken>> {
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {TOKEN_COLUMNS} FROM vpp_tokens ORDER BY name"
    ))?;
    let mut rows = stmt.query([])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(token_from_row(r)?);
    }
    Ok(out)
}

pub(super) fn delete_token(c: &mut Connection, name: &str) -> Result<bool> {
    // Assets, assignments and notification ids go with it (ON DELETE
    // CASCADE).
    let n = c
        .prepare_cached("DELETE FROM vpp_tokens WHERE name = ?1")?
        .execute([name])?;
    Ok(n > 0)
}

/// Runs an `UPDATE vpp_tokens ... WHERE name = ?1`; unknown token if it
/// changed nothing.
fn update_token(c: &Connection, name: &str, sql: &str, p: &[&dyn rusqlite::ToSql]) -> Result<()> {
    let mut all: Vec<&dyn rusqlite::ToSql> = Vec::with_capacity(p.len() + 1);
    all.push(&name);
    all.extend_from_slice(p);
    if c.prepare_cached(sql)?.execute(all.as_slice())? == 0 {
        return Err(unknown_token(name));
    }
    Ok(())
}

pub(super) fn set_claim(c: &mut Connection, name: &str, k: &VppClaim) -> Result<()> {
    update_token(
        c,
        name,
        "UPDATE vpp_tokens SET notify_secret_sealed = ?2, location_name = ?3, u_id = ?4,
             country = ?5, default_platform = ?6, claimed_at = ?7, claim_error = NULL,
             updated_at = ?7
         WHERE name = ?1",
        &[
            &k.notify_secret_sealed,
            &k.location_name,
            &k.u_id,
            &k.country,
            &k.default_platform,
            &k.now,
        ],
    )
}

pub(super) fn record_claim_error(
    c: &mut Connection,
    name: &str,
    error: &str,
    now: UnixMillis,
) -> Result<()> {
    update_token(
        c,
        name,
        "UPDATE vpp_tokens SET claim_error = ?2, updated_at = ?3 WHERE name = ?1",
        &[&error, &now],
    )
}

pub(super) fn record_sync(
    c: &mut Connection,
    name: &str,
    ok: bool,
    error: Option<&str>,
    now: UnixMillis,
) -> Result<()> {
    update_token(
        c,
        name,
        "UPDATE vpp_tokens SET last_sync_at = ?2, last_sync_ok = ?3, last_error = ?4,
             updated_at = ?2
         WHERE name = ?1",
        &[&now, &ok, &error],
    )
}

pub(super) fn upsert_assets(
    c: &mut Connection,
    token: &str,
    records: &[VppAssetRecord],
    generation: i64,
    now: UnixMillis,
) -> Result<()> {
    let batch = fold_assets(records)?;
    let tx = immediate(c)?;
    need_token(&tx, token)?;
    {
        // Apple's fields are replaced, the metadata kept.
        let mut upsert = tx.prepare_cached(
            "INSERT INTO vpp_assets (token, adam_id, pricing_param, product_type, total_count,
                 assigned_count, available_count, retired_count, device_assignable, revocable,
                 platforms, generation, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)
             ON CONFLICT (token, adam_id, pricing_param) DO UPDATE SET
                 product_type = excluded.product_type,
                 total_count = excluded.total_count,
                 assigned_count = excluded.assigned_count,
                 available_count = excluded.available_count,
                 retired_count = excluded.retired_count,
                 device_assignable = excluded.device_assignable,
                 revocable = excluded.revocable,
                 platforms = excluded.platforms,
                 generation = excluded.generation,
                 updated_at = excluded.updated_at",
        )?;
        for r in batch {
            upsert.execute(params![
                token,
                r.adam_id,
                r.pricing_param,
                r.product_type,
                r.total_count,
                r.assigned_count,
                r.available_count,
                r.retired_count,
                r.device_assignable,
                r.revocable,
                platforms_json(&r.platforms),
                generation,
                now,
            ])?;
        }
    }
    tx.commit()?;
    Ok(())
}

pub(super) fn finish_walk(
    c: &mut Connection,
    token: &str,
    generation: i64,
    version_id: Option<&str>,
    now: UnixMillis,
) -> Result<u64> {
    let tx = immediate(c)?;
    update_token(
        &tx,
        token,
        "UPDATE vpp_tokens SET assets_version = ?2, assets_synced_at = ?3, updated_at = ?3
         WHERE name = ?1",
        &[&version_id, &now],
    )?;
    // Their assignments go with them (ON DELETE CASCADE).
    let n = tx
        .prepare_cached("DELETE FROM vpp_assets WHERE token = ?1 AND generation <> ?2")?
        .execute(params![token, generation])?;
    tx.commit()?;
    Ok(n as u64)
}

fn assets(mut rows: rusqlite::Rows<'_>) -> Result<Vec<VppAsset>> {
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(asset_from_row(r)?);
    }
    Ok(out)
}

pub(super) fn get_asset(
    c: &Connection,
    token: &str,
    adam_id: &str,
    pricing_param: &str,
) -> Result<Option<VppAsset>> {
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {ASSET_COLUMNS} FROM vpp_assets x
         WHERE x.token = ?1 AND x.adam_id = ?2 AND x.pricing_param = ?3"
    ))?;
    Ok(assets(stmt.query(params![token, adam_id, pricing_param])?)?.pop())
}

/// Runs a listing: its text parameters, then the row limit.
fn run_listing<T>(
    c: &Connection,
    l: &Listing<'_>,
    fetch: i64,
    read: impl Fn(&rusqlite::Row<'_>) -> Result<T>,
) -> Result<Vec<T>> {
    let mut values: Vec<&dyn rusqlite::ToSql> =
        l.params.iter().map(|p| p as &dyn rusqlite::ToSql).collect();
    values.push(&fetch);
    let mut stmt = c.prepare_cached(&l.sql)?;
    let mut rows = stmt.query(values.as_slice())?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(read(r)?);
    }
    Ok(out)
}

pub(super) fn list_assets(c: &Connection, q: &VppAssetQuery) -> Result<VppAssetPage> {
    let limit = clamp_limit(q.limit);
    let tx = c.unchecked_transaction()?;
    let items = match assets_listing(q, '?') {
        Some(l) => run_listing(&tx, &l, i64::from(limit) + 1, |r| asset_from_row(r))?,
        None => Vec::new(),
    };
    if items.is_empty()
        && let Some(t) = &q.token
    {
        need_token(&tx, t)?;
    }
    tx.finish()?;
    Ok(asset_page(items, limit))
}

pub(super) fn adjust_count(
    c: &mut Connection,
    token: &str,
    adam_id: &str,
    pricing_param: &str,
    delta: i64,
    now: UnixMillis,
) -> Result<bool> {
    let tx = immediate(c)?;
    let n = tx
        .prepare_cached(&adjust_sql('?', "max"))?
        .execute(params![token, adam_id, pricing_param, delta, now])?;
    if n == 0 {
        need_token(&tx, token)?;
    }
    tx.commit()?;
    Ok(n > 0)
}

pub(super) fn set_metadata(
    c: &mut Connection,
    token: &str,
    adam_id: &str,
    m: &VppAssetMetadata,
    now: UnixMillis,
) -> Result<u64> {
    let tx = immediate(c)?;
    let n = tx
        .prepare_cached(
            "UPDATE vpp_assets SET name = ?3, bundle_id = ?4, icon_url = ?5, version = ?6,
                 metadata_at = ?7, updated_at = ?7
             WHERE token = ?1 AND adam_id = ?2",
        )?
        .execute(params![
            token,
            adam_id,
            m.name,
            m.bundle_id,
            m.icon_url,
            m.version,
            now
        ])?;
    if n == 0 {
        need_token(&tx, token)?;
    }
    tx.commit()?;
    Ok(n as u64)
}

pub(super) fn without_metadata(c: &Connection, token: &str, limit: u32) -> Result<Vec<String>> {
    let tx = c.unchecked_transaction()?;
    let out = tx
        .prepare_cached(
            "SELECT DISTINCT adam_id FROM vpp_assets
             WHERE token = ?1 AND metadata_at IS NULL ORDER BY adam_id LIMIT ?2",
        )?
        .query_map(params![token, clamp_batch(limit)], |r| r.get(0))?
        .collect::<rusqlite::Result<Vec<String>>>()?;
    if out.is_empty() {
        need_token(&tx, token)?;
    }
    tx.finish()?;
    Ok(out)
}

/// The asset's `(device_assignable, available_count)`, or the error for
/// an unknown token or asset.
fn asset_for_change(
    c: &Connection,
    token: &str,
    adam_id: &str,
    pricing_param: &str,
) -> Result<(bool, Option<i64>)> {
    let found = c
        .prepare_cached(
            "SELECT device_assignable, available_count FROM vpp_assets
             WHERE token = ?1 AND adam_id = ?2 AND pricing_param = ?3",
        )?
        .query_row(params![token, adam_id, pricing_param], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()?;
    match found {
        Some(f) => Ok(f),
        None => {
            need_token(c, token)?;
            Err(unknown_asset(token, adam_id, pricing_param))
        }
    }
}

pub(super) fn request(c: &mut Connection, q: &VppAssignRequest) -> Result<VppRequestOutcome> {
    let devices = fold_devices(&q.devices)?;
    let tx = immediate(c)?;
    let (assignable, available) = asset_for_change(&tx, &q.token, &q.adam_id, &q.pricing_param)?;
    if !assignable {
        return Err(crate::Error::VppNotDeviceAssignable {
            adam_id: q.adam_id.clone(),
            pricing_param: q.pricing_param.clone(),
        });
    }
    let requested: i64 = tx
        .prepare_cached(&format!(
            "SELECT count(*) FROM vpp_assignments
             WHERE token = ?1 AND adam_id = ?2 AND pricing_param = ?3 AND {REQUESTED}"
        ))?
        .query_row(params![q.token, q.adam_id, q.pricing_param], |r| r.get(0))?;
    let mut todo = Vec::with_capacity(devices.len());
    {
        let mut prior = tx.prepare_cached(
            "SELECT state FROM vpp_assignments
             WHERE token = ?1 AND adam_id = ?2 AND pricing_param = ?3 AND serial_number = ?4",
        )?;
        for d in &devices {
            let s: Option<String> = prior
                .query_row(params![q.token, q.adam_id, q.pricing_param, d.0], |r| {
                    r.get(0)
                })
                .optional()?;
            if restarts(s.as_deref().map(state).transpose()?) {
                todo.push(*d);
            }
        }
    }
    check_licenses(todo.len(), available, requested)?;
    {
        let mut upsert = tx.prepare_cached(&request_sql(
            '?',
            "(SELECT ?7 AS serial_number, ?8 AS udid) AS d",
        ))?;
        for (serial, udid) in &todo {
            upsert.execute(params![
                q.token,
                q.adam_id,
                q.pricing_param,
                q.options_json,
                q.requested_by,
                q.now,
                serial,
                udid,
            ])?;
        }
    }
    tx.commit()?;
    // Within the writer's transaction nothing changed the rows read.
    let requested = u32::try_from(todo.len()).unwrap_or(u32::MAX);
    Ok(VppRequestOutcome {
        requested,
        unchanged: u32::try_from(devices.len()).unwrap_or(u32::MAX) - requested,
    })
}

pub(super) fn request_removals(
    c: &mut Connection,
    token: &str,
    adam_id: &str,
    pricing_param: &str,
    serials: &[String],
    actor: &str,
    now: UnixMillis,
) -> Result<u64> {
    let serials = fold_serials(serials)?;
    let tx = immediate(c)?;
    asset_for_change(&tx, token, adam_id, pricing_param)?;
    let mut n = 0;
    {
        let mut update = tx.prepare_cached(&removal_sql('?', "serial_number = ?4"))?;
        for serial in serials {
            n += update.execute(params![token, adam_id, pricing_param, serial, actor, now])? as u64;
        }
    }
    tx.commit()?;
    Ok(n)
}

fn assignments(mut rows: rusqlite::Rows<'_>) -> Result<Vec<VppAssignment>> {
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(assignment_from_row(r)?);
    }
    Ok(out)
}

pub(super) fn in_state(
    c: &Connection,
    token: &str,
    s: VppAssignState,
    now: UnixMillis,
    limit: u32,
) -> Result<Vec<VppAssignment>> {
    let tx = c.unchecked_transaction()?;
    let out = {
        let mut stmt = tx.prepare_cached(&due_sql('?'))?;
        assignments(stmt.query(params![token, s.as_str(), now, clamp_batch(limit)])?)?
    };
    if out.is_empty() {
        need_token(&tx, token)?;
    }
    tx.finish()?;
    Ok(out)
}

pub(super) fn set_assignments(
    c: &mut Connection,
    token: &str,
    adam_id: &str,
    pricing_param: &str,
    serials: &[String],
    u: &VppAssignUpdate,
) -> Result<u64> {
    let serials = fold_serials(serials)?;
    let tx = immediate(c)?;
    need_token(&tx, token)?;
    let mut n = 0;
    {
        let mut update = tx.prepare_cached(&set_sql('?', "serial_number = ?4"))?;
        for serial in serials {
            n += update.execute(params![
                token,
                adam_id,
                pricing_param,
                serial,
                u.state.as_str(),
                u.event_id,
                u.command_uuid,
                u.detail,
                u.next_at,
                u.count_attempt,
                u.now,
            ])? as u64;
        }
    }
    tx.commit()?;
    Ok(n)
}

pub(super) fn by_event(c: &Connection, event_id: &str) -> Result<Vec<VppAssignment>> {
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {ASSIGNMENT_COLUMNS} FROM vpp_assignments WHERE event_id = ?1
         ORDER BY token, adam_id, pricing_param, serial_number"
    ))?;
    assignments(stmt.query([event_id])?)
}

pub(super) fn by_command(c: &Connection, command_uuid: &str) -> Result<Option<VppAssignment>> {
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {ASSIGNMENT_COLUMNS} FROM vpp_assignments WHERE command_uuid = ?1
         ORDER BY token, adam_id, pricing_param, serial_number LIMIT 1"
    ))?;
    Ok(assignments(stmt.query([command_uuid])?)?.pop())
}

pub(super) fn list_assignments(
    c: &Connection,
    q: &VppAssignmentQuery,
) -> Result<VppAssignmentPage> {
    let limit = clamp_limit(q.limit);
    let tx = c.unchecked_transaction()?;
    let items = match assignments_listing(q, '?') {
        Some(l) => run_listing(&tx, &l, i64::from(limit) + 1, |r| assignment_from_row(r))?,
        None => Vec::new(),
    };
    if items.is_empty()
        && let Some(t) = &q.token
    {
        need_token(&tx, t)?;
    }
    tx.finish()?;
    Ok(assignment_page(items, limit))
}

pub(super) fn count_assignments(
    c: &Connection,
    token: &str,
) -> Result<BTreeMap<VppAssignState, u64>> {
    let tx = c.unchecked_transaction()?;
    let mut counts = empty_counts();
    let mut any = false;
    {
        let mut stmt = tx.prepare_cached(&count_sql('?'))?;
        let mut rows = stmt.query([token])?;
        while let Some(r) = rows.next()? {
            any = true;
            add_count(&mut counts, &r.get::<_, String>(0)?, r.get(1)?)?;
        }
    }
    if !any {
        need_token(&tx, token)?;
    }
    tx.finish()?;
    Ok(counts)
}

pub(super) fn first_notification(
    c: &mut Connection,
    notification_id: &str,
    token: &str,
    now: UnixMillis,
) -> Result<bool> {
    let tx = immediate(c)?;
    need_token(&tx, token)?;
    let n = tx
        .prepare_cached(
            "INSERT INTO vpp_notifications (notification_id, token, received_at)
             VALUES (?1, ?2, ?3) ON CONFLICT (notification_id) DO NOTHING",
        )?
        .execute(params![notification_id, token, now])?;
    tx.commit()?;
    Ok(n > 0)
}

pub(super) fn prune_notifications(c: &mut Connection, before: UnixMillis) -> Result<u64> {
    let n = c
        .prepare_cached("DELETE FROM vpp_notifications WHERE received_at < ?1")?
        .execute([before])?;
    Ok(n as u64)
}

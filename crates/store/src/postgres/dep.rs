//! The DEP operations on PostgreSQL.
//!
//! A page of devices is one statement: the records go in as parallel
//! arrays (`unnest`), and the statement reads the stored state, upserts the
//! devices (`INSERT ... ON CONFLICT DO UPDATE`) and appends the history, so
//! a page costs four round trips (BEGIN, lock the link, the page, COMMIT)
//! however many devices it holds, and each device costs index lookups by
//! its key however many the link has.

use std::collections::HashMap;

use deadpool_postgres::GenericClient;
use tokio_postgres::types::ToSql;

use super::PostgresStore;
use crate::common::{Columns, clamp_limit};
use crate::dep::{
    DEVICE_COLUMNS, EVENT_COLUMNS, LINK_COLUMNS, ListParam, add_count, check_batch, clamp_batch,
    count_sql, device_from_row, empty_counts, event_from_row, failure_outcome, failure_sql,
    fold_batch, link_from_row, list_sql, next_retry_sql, page, requeue_sql, to_assign_sql,
    upsert_outcome,
};
use crate::error::{Error, Result};
use crate::model::UnixMillis;
use crate::{
    AssignStatus, DepAssignFailure, DepAssignment, DepDevice, DepDeviceCounts, DepDeviceEvent,
    DepDevicePage, DepDeviceQuery, DepDeviceRecord, DepFailureOutcome, DepLink, DepPhase,
    NewDepLink, UpsertOutcome,
};

type Param<'a> = &'a (dyn ToSql + Sync);

fn unknown(name: &str) -> Error {
    Error::UnknownDepLink(name.to_owned())
}

async fn link_exists<C: GenericClient>(c: &C, name: &str) -> Result<bool> {
    let stmt = c
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM dep_links WHERE name = $1)")
        .await?;
    Ok(c.query_one(&stmt, &[&name]).await?.try_get(0)?)
}

/// Fails with [`Error::UnknownDepLink`] unless the link is stored.
async fn need_link<C: GenericClient>(c: &C, name: &str) -> Result<()> {
    if link_exists(c, name).await? {
        Ok(())
    } else {
        Err(unknown(name))
    }
}

/// The upsert of one page; see the module docs. `$1` link, `$2`..`$17` the
/// records' text columns, `$18` deleted, `$19` deleted earlier in the page,
/// `$20` now, `$21`..`$23` the history rows. Answers the devices stored
/// before, with whether they were deleted.
///
/// Every access to a device goes by its key, whatever the statistics say:
/// `prior` looks each one up (a lateral subquery the planner cannot turn
/// into a join over the whole link), and the write is one `INSERT ... ON
/// CONFLICT` (the unique index decides). The proposed row is the device as
/// this record leaves it, so `ON CONFLICT` takes its values; its `assign_at`
/// is set when the record (re)starts the assignment (a new device, or one
/// back on the server), and is `NULL` when the stored assignment state
/// stays. (The link is locked, so `prior` is what the write finds.)
const UPSERT: &str = "
WITH input AS (
    SELECT * FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
        $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[],
        $14::text[], $15::text[], $16::text[], $17::text[], $18::bool[], $19::bool[])
        AS t (serial_number, model, description, color, asset_tag, os, device_family,
              profile_status, profile_uuid, profile_assign_time, profile_push_time,
              device_assigned_date, device_assigned_by, op_type, op_date, raw_json,
              deleted, seen_deleted)
), prior AS (
    SELECT i.serial_number, p.deleted
    FROM input i CROSS JOIN LATERAL (
        SELECT d.deleted FROM dep_devices d
        WHERE d.link = $1 AND d.serial_number = i.serial_number
        OFFSET 0
    ) p
), upserted AS (
    INSERT INTO dep_devices AS d (link, serial_number, model, description, color, asset_tag,
        os, device_family, profile_status, profile_uuid, profile_assign_time, profile_push_time,
        device_assigned_date, device_assigned_by, op_type, op_date, deleted, raw_json,
        assign_status, assign_at, first_seen_at, updated_at)
    SELECT $1, i.serial_number, i.model, i.description, i.color, i.asset_tag, i.os,
        i.device_family, i.profile_status, i.profile_uuid, i.profile_assign_time,
        i.profile_push_time, i.device_assigned_date, i.device_assigned_by, i.op_type, i.op_date,
        i.deleted, i.raw_json, 'pending',
        CASE WHEN p.serial_number IS NULL
               OR (NOT i.deleted AND (p.deleted OR i.seen_deleted)) THEN $20::bigint END,
        $20, $20
    FROM input i LEFT JOIN prior p ON p.serial_number = i.serial_number
    ON CONFLICT (link, serial_number) DO UPDATE SET
        -- A deleted record keeps the fields it leaves out; any other record
        -- replaces them.
        model = COALESCE(excluded.model, CASE WHEN excluded.deleted THEN d.model END),
        description = COALESCE(excluded.description,
                               CASE WHEN excluded.deleted THEN d.description END),
        color = COALESCE(excluded.color, CASE WHEN excluded.deleted THEN d.color END),
        asset_tag = COALESCE(excluded.asset_tag,
                             CASE WHEN excluded.deleted THEN d.asset_tag END),
        os = COALESCE(excluded.os, CASE WHEN excluded.deleted THEN d.os END),
        device_family = COALESCE(excluded.device_family,
                                 CASE WHEN excluded.deleted THEN d.device_family END),
        profile_status = COALESCE(excluded.profile_status,
                                  CASE WHEN excluded.deleted THEN d.profile_status END),
        profile_uuid = COALESCE(excluded.profile_uuid,
                                CASE WHEN excluded.deleted THEN d.profile_uuid END),
        profile_assign_time = COALESCE(excluded.profile_assign_time,
                                       CASE WHEN excluded.deleted THEN d.profile_assign_time END),
        profile_push_time = COALESCE(excluded.profile_push_time,
                                     CASE WHEN excluded.deleted THEN d.profile_push_time END),
        device_assigned_date = COALESCE(excluded.device_assigned_date,
                                        CASE WHEN excluded.deleted THEN d.device_assigned_date END),
        device_assigned_by = COALESCE(excluded.device_assigned_by,
                                      CASE WHEN excluded.deleted THEN d.device_assigned_by END),
        op_type = excluded.op_type,
        op_date = excluded.op_date,
        deleted = excluded.deleted,
        raw_json = excluded.raw_json,
        updated_at = excluded.updated_at,
        -- Back on the server: to be assigned again.
        assign_status = CASE WHEN excluded.assign_at IS NULL THEN d.assign_status
                             ELSE 'pending' END,
        assign_detail = CASE WHEN excluded.assign_at IS NULL THEN d.assign_detail END,
        assign_profile_uuid = CASE WHEN excluded.assign_at IS NULL
                                   THEN d.assign_profile_uuid END,
        retry_after = CASE WHEN excluded.assign_at IS NULL THEN d.retry_after END,
        assign_attempts = CASE WHEN excluded.assign_at IS NULL THEN d.assign_attempts ELSE 0 END,
        assign_at = COALESCE(excluded.assign_at, d.assign_at)
), events AS (
    INSERT INTO dep_device_events (link, serial_number, op_type, op_date, at)
    SELECT $1, e.serial_number, e.op_type, e.op_date, $20
    FROM unnest($21::text[], $22::text[], $23::text[]) WITH ORDINALITY
        AS e (serial_number, op_type, op_date, n)
    ORDER BY e.n
)
SELECT serial_number, deleted FROM prior";

impl PostgresStore {
    pub(super) async fn dep_put_link(&self, l: &NewDepLink) -> Result<bool> {
        let c = self.client().await?;
        // `xmax = 0`: the row version was inserted, not updated (an update by
        // ON CONFLICT leaves the transaction's id there). Exact even when
        // two calls for one new name race.
        let stmt = c
            .prepare_cached(
                "INSERT INTO dep_links (name, token_sealed, token_expiry, consumer_key, phase,
                     created_at, updated_at)
                 VALUES ($1, $2, $3, $4, 'fetch', $5, $5)
                 ON CONFLICT (name) DO UPDATE SET
                     token_sealed = excluded.token_sealed,
                     token_expiry = excluded.token_expiry,
                     consumer_key = excluded.consumer_key,
                     updated_at = excluded.updated_at
                 RETURNING (xmax = 0)",
            )
            .await?;
        Ok(c.query_one(
            &stmt,
            &[
                &l.name,
                &l.token_sealed,
                &l.token_expiry,
                &l.consumer_key,
                &l.now,
            ],
        )
        .await?
        .try_get(0)?)
    }

    pub(super) async fn dep_get_link(&self, name: &str) -> Result<Option<DepLink>> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(&format!(
                "SELECT {LINK_COLUMNS} FROM dep_links WHERE name = $1"
            ))
            .await?;
        c.query_opt(&stmt, &[&name])
            .await?
            .map(|r| link_from_row(&r))
            .transpose()
    }

    pub(super) async fn dep_list_links(&self) -> Result<Vec<DepLink>> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(&format!(
                "SELECT {LINK_COLUMNS} FROM dep_links ORDER BY name"
            ))
            .await?;
        c.query(&stmt, &[])
            .await?
            .iter()
            .map(link_from_row)
            .collect()
    }

    pub(super) async fn dep_delete_link(&self, name: &str) -> Result<bool> {
        let c = self.client().await?;
        // The devices and events go with it (ON DELETE CASCADE).
        let stmt = c
            .prepare_cached("DELETE FROM dep_links WHERE name = $1")
            .await?;
        Ok(c.execute(&stmt, &[&name]).await? > 0)
    }

    /// Runs an `UPDATE dep_links ... WHERE name = $1`; unknown link if it
    /// changed nothing.
    async fn dep_update_link(&self, name: &str, sql: &str, p: &[Param<'_>]) -> Result<()> {
        let c = self.client().await?;
        let stmt = c.prepare_cached(sql).await?;
        let mut all: Vec<Param<'_>> = Vec::with_capacity(p.len() + 1);
        all.push(&name);
        all.extend_from_slice(p);
        if c.execute(&stmt, &all).await? == 0 {
            return Err(unknown(name));
        }
        Ok(())
    }

    pub(super) async fn dep_set_cursor(
        &self,
        name: &str,
        cursor: Option<&str>,
        phase: DepPhase,
        now: UnixMillis,
    ) -> Result<()> {
        self.dep_update_link(
            name,
            "UPDATE dep_links SET cursor = $2, phase = $3, cursor_at = $4, updated_at = $4
             WHERE name = $1",
            &[&cursor, &phase.as_str(), &now],
        )
        .await
    }

    pub(super) async fn dep_record_sync(
        &self,
        name: &str,
        ok: bool,
        error: Option<&str>,
        now: UnixMillis,
    ) -> Result<()> {
        self.dep_update_link(
            name,
            "UPDATE dep_links SET last_sync_at = $2, last_sync_ok = $3, last_error = $4,
                 updated_at = $2
             WHERE name = $1",
            &[&now, &ok, &error],
        )
        .await
    }

    pub(super) async fn dep_set_account(
        &self,
        name: &str,
        account: [Option<&str>; 4],
        now: UnixMillis,
    ) -> Result<()> {
        let [json, server_name, server_uuid, org_name] = account;
        self.dep_update_link(
            name,
            "UPDATE dep_links SET account_json = $2, server_name = $3, server_uuid = $4,
                 org_name = $5, updated_at = $6
             WHERE name = $1",
            &[&json, &server_name, &server_uuid, &org_name, &now],
        )
        .await
    }

    pub(super) async fn dep_set_profile(
        &self,
        name: &str,
        profile_uuid: Option<&str>,
        profile_hash: Option<&str>,
        now: UnixMillis,
    ) -> Result<()> {
        self.dep_update_link(
            name,
            "UPDATE dep_links SET profile_uuid = $2, profile_hash = $3, updated_at = $4
             WHERE name = $1",
            &[&profile_uuid, &profile_hash, &now],
        )
        .await
    }

    pub(super) async fn dep_upsert_devices(
        &self,
        link: &str,
        records: &[DepDeviceRecord],
        now: UnixMillis,
    ) -> Result<UpsertOutcome> {
        let batch = fold_batch(records)?;
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        // Pages of one link are stored one at a time, so what the page
        // statement reads as stored is what it changes.
        //
        // And its lookups by key stay index lookups: with the statistics of
        // a table that was small (or empty), a plan made then could scan the
        // table once per device, and a first fetch of 100,000 devices would
        // be quadratic. Only this transaction is affected.
        let lock = tx
            .prepare_cached(
                "SELECT set_config('enable_seqscan', 'off', true)
                 FROM dep_links WHERE name = $1 FOR NO KEY UPDATE",
            )
            .await?;
        if tx.query_opt(&lock, &[&link]).await?.is_none() {
            return Err(unknown(link));
        }
        if batch.is_empty() {
            tx.commit().await?;
            return Ok(UpsertOutcome::default());
        }
        let text = |f: fn(&DepDeviceRecord) -> &Option<String>| -> Vec<Option<&str>> {
            batch.iter().map(|d| f(d.rec).as_deref()).collect()
        };
        let serials: Vec<&str> = batch.iter().map(|d| d.rec.serial_number.as_str()).collect();
        let model = text(|r| &r.model);
        let description = text(|r| &r.description);
        let color = text(|r| &r.color);
        let asset_tag = text(|r| &r.asset_tag);
        let os = text(|r| &r.os);
        let device_family = text(|r| &r.device_family);
        let profile_status = text(|r| &r.profile_status);
        let profile_uuid = text(|r| &r.profile_uuid);
        let profile_assign_time = text(|r| &r.profile_assign_time);
        let profile_push_time = text(|r| &r.profile_push_time);
        let device_assigned_date = text(|r| &r.device_assigned_date);
        let device_assigned_by = text(|r| &r.device_assigned_by);
        let op_type = text(|r| &r.op_type);
        let op_date = text(|r| &r.op_date);
        let raw_json: Vec<&str> = batch.iter().map(|d| d.rec.raw_json.as_str()).collect();
        let deleted: Vec<bool> = batch.iter().map(|d| d.deleted).collect();
        let seen_deleted: Vec<bool> = batch.iter().map(|d| d.seen_deleted).collect();
        // The history: every record with an op_type, in the page's order.
        let mut ev_serial = Vec::new();
        let mut ev_op = Vec::new();
        let mut ev_date = Vec::new();
        for r in records {
            if let Some(op) = &r.op_type {
                ev_serial.push(r.serial_number.as_str());
                ev_op.push(op.as_str());
                ev_date.push(r.op_date.as_deref());
            }
        }
        let stmt = tx.prepare_cached(UPSERT).await?;
        let rows = tx
            .query(
                &stmt,
                &[
                    &link,
                    &serials,
                    &model,
                    &description,
                    &color,
                    &asset_tag,
                    &os,
                    &device_family,
                    &profile_status,
                    &profile_uuid,
                    &profile_assign_time,
                    &profile_push_time,
                    &device_assigned_date,
                    &device_assigned_by,
                    &op_type,
                    &op_date,
                    &raw_json,
                    &deleted,
                    &seen_deleted,
                    &now,
                    &ev_serial,
                    &ev_op,
                    &ev_date,
                ],
            )
            .await?;
        tx.commit().await?;
        let mut prior = HashMap::with_capacity(rows.len());
        for r in &rows {
            prior.insert(r.string(0)?, r.boolean(1)?);
        }
        Ok(upsert_outcome(&batch, &prior))
    }

    pub(super) async fn dep_get_device(
        &self,
        link: &str,
        serial: &str,
    ) -> Result<Option<DepDevice>> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(&format!(
                "SELECT {DEVICE_COLUMNS} FROM dep_devices WHERE link = $1 AND serial_number = $2"
            ))
            .await?;
        c.query_opt(&stmt, &[&link, &serial])
            .await?
            .map(|r| device_from_row(&r))
            .transpose()
    }

    pub(super) async fn dep_find_device(&self, serial: &str) -> Result<Vec<DepDevice>> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(&format!(
                "SELECT {DEVICE_COLUMNS} FROM dep_devices WHERE serial_number = $1 ORDER BY link"
            ))
            .await?;
        c.query(&stmt, &[&serial])
            .await?
            .iter()
            .map(device_from_row)
            .collect()
    }

    pub(super) async fn dep_list_devices(&self, q: &DepDeviceQuery) -> Result<DepDevicePage> {
        let limit = clamp_limit(q.limit);
        let fetch = i64::from(limit) + 1;
        let Some((sql, order)) = list_sql(q, '$') else {
            if let Some(link) = &q.link {
                need_link(&self.client().await?, link).await?;
            }
            return Ok(DepDevicePage::default());
        };
        let link: &str = q.link.as_deref().unwrap_or_default();
        let (after_link, after_serial): (&str, &str) = q
            .after
            .as_ref()
            .map_or(("", ""), |(l, s)| (l.as_str(), s.as_str()));
        let status: &str = q.assign_status.map_or("", |s| s.as_str());
        let values: Vec<Param<'_>> = order
            .iter()
            .map(|p| -> Param<'_> {
                match p {
                    ListParam::Link => &link,
                    ListParam::AfterLink => &after_link,
                    ListParam::AfterSerial => &after_serial,
                    ListParam::Status => &status,
                    ListParam::Fetch => &fetch,
                }
            })
            .collect();
        let c = self.client().await?;
        let stmt = c.prepare_cached(&sql).await?;
        let items = c
            .query(&stmt, &values)
            .await?
            .iter()
            .map(device_from_row)
            .collect::<Result<Vec<_>>>()?;
        if items.is_empty()
            && let Some(link) = &q.link
        {
            need_link(&c, link).await?;
        }
        Ok(page(items, limit))
    }

    pub(super) async fn dep_to_assign(
        &self,
        link: &str,
        now: UnixMillis,
        limit: u32,
    ) -> Result<Vec<String>> {
        let c = self.client().await?;
        let stmt = c.prepare_cached(&to_assign_sql('$', "NOT deleted")).await?;
        let limit = i64::from(clamp_batch(limit));
        let out = c
            .query(&stmt, &[&link, &now, &limit])
            .await?
            .iter()
            .map(|r| r.string(0))
            .collect::<Result<Vec<_>>>()?;
        if out.is_empty() {
            need_link(&c, link).await?;
        }
        Ok(out)
    }

    pub(super) async fn dep_set_assignment(
        &self,
        link: &str,
        serials: &[String],
        a: &DepAssignment,
    ) -> Result<u64> {
        check_batch(serials.len())?;
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(
                "UPDATE dep_devices SET assign_status = $3, assign_detail = $4,
                     assign_profile_uuid = $5, retry_after = $6, assign_at = $7, updated_at = $7,
                     assign_attempts = CASE WHEN $8 THEN assign_attempts ELSE 0 END
                 WHERE link = $1 AND serial_number = ANY ($2::text[])",
            )
            .await?;
        let keep_attempts = a.status == AssignStatus::Throttled;
        let n = c
            .execute(
                &stmt,
                &[
                    &link,
                    &serials,
                    &a.status.as_str(),
                    &a.detail,
                    &a.profile_uuid,
                    &a.retry_after,
                    &a.now,
                    &keep_attempts,
                ],
            )
            .await?;
        if n == 0 {
            need_link(&c, link).await?;
        }
        Ok(n)
    }

    pub(super) async fn dep_next_retry(&self, link: &str) -> Result<Option<UnixMillis>> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(&next_retry_sql('$', "NOT deleted"))
            .await?;
        let next = c.query_one(&stmt, &[&link]).await?.opt_int(0)?;
        if next.is_none() {
            need_link(&c, link).await?;
        }
        Ok(next)
    }

    pub(super) async fn dep_record_failure(
        &self,
        link: &str,
        serials: &[String],
        f: &DepAssignFailure,
    ) -> Result<DepFailureOutcome> {
        check_batch(serials.len())?;
        let (first, max, attempts) = f.retry.clamped();
        // Compared with the INTEGER column: an int4 parameter.
        let attempts = i32::try_from(attempts).unwrap_or(i32::MAX);
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(&failure_sql(
                '$',
                "serial_number = ANY ($2::text[])",
                "LEAST",
            ))
            .await?;
        let rows = c
            .query(
                &stmt,
                &[
                    &link,
                    &serials,
                    &f.detail,
                    &f.profile_uuid,
                    &f.now,
                    &first,
                    &max,
                    &attempts,
                ],
            )
            .await?;
        if rows.is_empty() {
            need_link(&c, link).await?;
        }
        let retries = rows
            .iter()
            .map(|r| r.opt_int(0))
            .collect::<Result<Vec<_>>>()?;
        Ok(failure_outcome(retries))
    }

    pub(super) async fn dep_requeue(
        &self,
        link: &str,
        profile_uuid: &str,
        now: UnixMillis,
    ) -> Result<u64> {
        let c = self.client().await?;
        let stmt = c.prepare_cached(&requeue_sql('$', "NOT deleted")).await?;
        let n = c.execute(&stmt, &[&link, &profile_uuid, &now]).await?;
        if n == 0 {
            need_link(&c, link).await?;
        }
        Ok(n)
    }

    pub(super) async fn dep_events(
        &self,
        link: &str,
        serial: &str,
        limit: u32,
    ) -> Result<Vec<DepDeviceEvent>> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(&format!(
                "SELECT {EVENT_COLUMNS} FROM dep_device_events
                 WHERE link = $1 AND serial_number = $2 ORDER BY id DESC LIMIT $3"
            ))
            .await?;
        let limit = i64::from(clamp_limit(limit));
        let out = c
            .query(&stmt, &[&link, &serial, &limit])
            .await?
            .iter()
            .map(event_from_row)
            .collect::<Result<Vec<_>>>()?;
        if out.is_empty() {
            need_link(&c, link).await?;
        }
        Ok(out)
    }

    pub(super) async fn dep_prune_events(&self, older_than: UnixMillis) -> Result<u64> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached("DELETE FROM dep_device_events WHERE at < $1")
            .await?;
        Ok(c.execute(&stmt, &[&older_than]).await?)
    }

    pub(super) async fn dep_count_devices(&self, link: &str) -> Result<DepDeviceCounts> {
        let c = self.client().await?;
        let stmt = c.prepare_cached(&count_sql('$')).await?;
        let rows = c.query(&stmt, &[&link]).await?;
        if rows.is_empty() {
            need_link(&c, link).await?;
        }
        let mut counts = empty_counts();
        for r in &rows {
            add_count(&mut counts, &r.string(0)?, r.boolean(1)?, r.int(2)?)?;
        }
        Ok(counts)
    }
}

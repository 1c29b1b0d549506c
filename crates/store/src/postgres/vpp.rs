//! The Apps and Books (VPP) operations on PostgreSQL.
//!
//! A page of assets is one statement (the records go in as parallel arrays,
//! `unnest`); so are a batch of assignment changes (`serial_number = ANY`)
//! and the (re)started assignments of a request. A request runs in a
//! transaction that first locks the asset's row (`FOR NO KEY UPDATE`):
//! requests for one asset are applied one after the other, so the free
//! licenses each one counts are exact.

use std::collections::BTreeMap;

use deadpool_postgres::GenericClient;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use super::PostgresStore;
use crate::common::{Columns, clamp_limit};
use crate::error::{Error, Result};
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

type Param<'a> = &'a (dyn ToSql + Sync);

async fn token_exists<C: GenericClient>(c: &C, name: &str) -> Result<bool> {
    let stmt = c
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM vpp_tokens WHERE name = $1)")
        .await?;
    Ok(c.query_one(&stmt, &[&name]).await?.try_get(0)?)
}

/// Fails with [`Error::UnknownVppToken`] unless the token is stored.
async fn need_token<C: GenericClient>(c: &C, name: &str) -> Result<()> {
    if token_exists(c, name).await? {
        Ok(())
    } else {
        Err(unknown_token(name))
    }
}

/// The error for a change to an asset that is not stored: an unknown
/// token's, or an unknown asset's.
async fn missing_asset<C: GenericClient>(
    c: &C,
    token: &str,
    adam_id: &str,
    pricing_param: &str,
) -> Error {
    match need_token(c, token).await {
        Ok(()) => unknown_asset(token, adam_id, pricing_param),
        Err(e) => e,
    }
}

/// Runs a listing: its text parameters, then the row limit.
async fn run_listing<C: GenericClient>(c: &C, l: &Listing<'_>, fetch: i64) -> Result<Vec<Row>> {
    let mut values: Vec<Param<'_>> = l.params.iter().map(|p| p as Param<'_>).collect();
    values.push(&fetch);
    let stmt = c.prepare_cached(&l.sql).await?;
    Ok(c.query(&stmt, &values).await?)
}

impl PostgresStore {
    pub(super) async fn vpp_put_token(&self, t: &NewVppToken) -> Result<bool> {
        let c = self.client().await?;
        // `xmax = 0`: the row version was inserted, not updated.
        let stmt = c
            .prepare_cached(
                "INSERT INTO vpp_tokens (name, description, org_type, token_sealed, org_name,
                     token_expiry, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $7)
                 ON CONFLICT (name) DO UPDATE SET
                     description = excluded.description,
                     org_type = excluded.org_type,
                     token_sealed = excluded.token_sealed,
                     org_name = excluded.org_name,
                     token_expiry = excluded.token_expiry,
                     claimed_at = NULL,
                     claim_error = NULL,
                     updated_at = excluded.updated_at
                 RETURNING (xmax = 0)",
            )
            .await?;
        Ok(c.query_one(
            &stmt,
            &[
                &t.name,
                &t.description,
                &t.org_type.as_str(),
                &t.token_sealed,
                &t.org_name,
                &t.token_expiry,
                &t.now,
            ],
        )
        .await?
        .try_get(0)?)
    }

    pub(super) async fn vpp_get_token(&self, name: &str) -> Result<Option<VppToken>> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(&format!(
                "SELECT {TOKEN_COLUMNS} FROM vpp_tokens WHERE name = $1"
            ))
            .await?;
        c.query_opt(&stmt, &[&name])
            .await?
            .map(|r| token_from_row(&r))
            .transpose()
    }

    pub(super) async fn vpp_list_tokens(&self) -> Result<Vec<VppToken>> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(&format!(
                "SELECT {TOKEN_COLUMNS} FROM vpp_tokens ORDER BY name"
            ))
            .await?;
        c.query(&stmt, &[])
            .await?
            .iter()
            .map(token_from_row)
            .collect()
    }

    pub(super) async fn vpp_delete_token(&self, name: &str) -> Result<bool> {
        let c = self.client().await?;
        // Assets, assignments and notification ids go with it (ON DELETE
        // CASCADE).
        let stmt = c
            .prepare_cached("DELETE FROM vpp_tokens WHERE name = $1")
            .await?;
        Ok(c.execute(&stmt, &[&name]).await? > 0)
    }

    /// Runs an `UPDATE vpp_tokens ... WHERE name = $1`; unknown token if it
    /// changed nothing.
    async fn vpp_update_token(&self, name: &str, sql: &str, p: &[Param<'_>]) -> Result<()> {
        let c = self.client().await?;
        let stmt = c.prepare_cached(sql).await?;
        let mut all: Vec<Param<'_>> = Vec::with_capacity(p.len() + 1);
        all.push(&name);
        all.extend_from_slice(p);
        if c.execute(&stmt, &all).await? == 0 {
            return Err(unknown_token(name));
        }
        Ok(())
    }

    pub(super) async fn vpp_set_claim(&self, name: &str, k: &VppClaim) -> Result<()> {
        self.vpp_update_token(
            name,
            "UPDATE vpp_tokens SET notify_secret_sealed = $2, location_name = $3, u_id = $4,
                 country = $5, default_platform = $6, claimed_at = $7, claim_error = NULL,
                 updated_at = $7
             WHERE name = $1",
            &[
                &k.notify_secret_sealed,
                &k.location_name,
                &k.u_id,
                &k.country,
                &k.default_platform,
                &k.now,
            ],
        )
        .await
    }

    pub(super) async fn vpp_record_claim_error(
        &self,
        name: &str,
        error: &str,
        now: UnixMillis,
    ) -> Result<()> {
        self.vpp_update_token(
            name,
            "UPDATE vpp_tokens SET claim_error = $2, updated_at = $3 WHERE name = $1",
            &[&error, &now],
        )
        .await
    }

    pub(super) async fn vpp_record_sync(
        &self,
        name: &str,
        ok: bool,
        error: Option<&str>,
        now: UnixMillis,
    ) -> Result<()> {
        self.vpp_update_token(
            name,
            "UPDATE vpp_tokens SET last_sync_at = $2, last_sync_ok = $3, last_error = $4,
                 updated_at = $2
             WHERE name = $1",
            &[&now, &ok, &error],
        )
        .await
    }

    pub(super) async fn vpp_upsert_assets(
        &self,
        token: &str,
        records: &[VppAssetRecord],
        generation: i64,
        now: UnixMillis,
    ) -> Result<()> {
        let batch = fold_assets(records)?;
        let c = self.client().await?;
        if batch.is_empty() {
            return need_token(&c, token).await;
        }
        let text = |f: fn(&VppAssetRecord) -> Option<&str>| -> Vec<Option<&str>> {
            batch.iter().map(|r| f(r)).collect()
        };
        let int = |f: fn(&VppAssetRecord) -> Option<i64>| -> Vec<Option<i64>> {
            batch.iter().map(|r| f(r)).collect()
        };
        let adam: Vec<&str> = batch.iter().map(|r| r.adam_id.as_str()).collect();
        let pricing: Vec<&str> = batch.iter().map(|r| r.pricing_param.as_str()).collect();
        let product_type = text(|r| r.product_type.as_deref());
        let total = int(|r| r.total_count);
        let assigned: Vec<i64> = batch.iter().map(|r| r.assigned_count).collect();
        let available = int(|r| r.available_count);
        let retired = int(|r| r.retired_count);
        let assignable: Vec<bool> = batch.iter().map(|r| r.device_assignable).collect();
        let revocable: Vec<bool> = batch.iter().map(|r| r.revocable).collect();
        let platforms: Vec<String> = batch.iter().map(|r| platforms_json(&r.platforms)).collect();
        // Apple's fields are replaced, the metadata kept. Nothing is
        // inserted for an unknown token.
        let stmt = c
            .prepare_cached(
                "INSERT INTO vpp_assets AS x (token, adam_id, pricing_param, product_type,
                     total_count, assigned_count, available_count, retired_count,
                     device_assignable, revocable, platforms, generation, updated_at)
                 SELECT $1::text, i.adam_id, i.pricing_param, i.product_type, i.total_count,
                     i.assigned_count, i.available_count, i.retired_count, i.device_assignable,
                     i.revocable, i.platforms, $12::int8, $13::int8
                 FROM unnest($2::text[], $3::text[], $4::text[], $5::int8[], $6::int8[],
                         $7::int8[], $8::int8[], $9::bool[], $10::bool[], $11::text[])
                     AS i (adam_id, pricing_param, product_type, total_count, assigned_count,
                           available_count, retired_count, device_assignable, revocable,
                           platforms)
                 WHERE EXISTS (SELECT 1 FROM vpp_tokens WHERE name = $1)
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
            )
            .await?;
        let n = c
            .execute(
                &stmt,
                &[
                    &token,
                    &adam,
                    &pricing,
                    &product_type,
                    &total,
                    &assigned,
                    &available,
                    &retired,
                    &assignable,
                    &revocable,
                    &platforms,
                    &generation,
                    &now,
                ],
            )
            .await?;
        if n == 0 {
            return Err(unknown_token(token));
        }
        Ok(())
    }

    pub(super) async fn vpp_finish_walk(
        &self,
        token: &str,
        generation: i64,
        version_id: Option<&str>,
        now: UnixMillis,
    ) -> Result<u64> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        let mark = tx
            .prepare_cached(
                "UPDATE vpp_tokens SET assets_version = $2, assets_synced_at = $3,
                     updated_at = $3
                 WHERE name = $1",
            )
            .await?;
        if tx.execute(&mark, &[&token, &version_id, &now]).await? == 0 {
            return Err(unknown_token(token));
        }
        // Their assignments go with them (ON DELETE CASCADE).
        let delete = tx
            .prepare_cached("DELETE FROM vpp_assets WHERE token = $1 AND generation <> $2")
            .await?;
        let n = tx.execute(&delete, &[&token, &generation]).await?;
        tx.commit().await?;
        Ok(n)
    }

    pub(super) async fn vpp_get_asset(
        &self,
        token: &str,
        adam_id: &str,
        pricing_param: &str,
    ) -> Result<Option<VppAsset>> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(&format!(
                "SELECT {ASSET_COLUMNS} FROM vpp_assets x
                 WHERE x.token = $1 AND x.adam_id = $2 AND x.pricing_param = $3"
            ))
            .await?;
        c.query_opt(&stmt, &[&token, &adam_id, &pricing_param])
            .await?
            .map(|r| asset_from_row(&r))
            .transpose()
    }

    pub(super) async fn vpp_list_assets(&self, q: &VppAssetQuery) -> Result<VppAssetPage> {
        let limit = clamp_limit(q.limit);
        let c = self.client().await?;
        let items = match assets_listing(q, '$') {
            Some(l) => run_listing(&c, &l, i64::from(limit) + 1)
                .await?
                .iter()
                .map(asset_from_row)
                .collect::<Result<Vec<_>>>()?,
            None => Vec::new(),
        };
        if items.is_empty()
            && let Some(t) = &q.token
        {
            need_token(&c, t).await?;
        }
        Ok(asset_page(items, limit))
    }

    pub(super) async fn vpp_adjust_count(
        &self,
        token: &str,
        adam_id: &str,
        pricing_param: &str,
        delta: i64,
        now: UnixMillis,
    ) -> Result<bool> {
        let c = self.client().await?;
        let stmt = c.prepare_cached(&adjust_sql('$', "GREATEST")).await?;
        let n = c
            .execute(&stmt, &[&token, &adam_id, &pricing_param, &delta, &now])
            .await?;
        if n == 0 {
            need_token(&c, token).await?;
        }
        Ok(n > 0)
    }

    pub(super) async fn vpp_set_metadata(
        &self,
        token: &str,
        adam_id: &str,
        m: &VppAssetMetadata,
        now: UnixMillis,
    ) -> Result<u64> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(
                "UPDATE vpp_assets SET name = $3, bundle_id = $4, icon_url = $5, version = $6,
                     metadata_at = $7, updated_at = $7
                 WHERE token = $1 AND adam_id = $2",
            )
            .await?;
        let n = c
            .execute(
                &stmt,
                &[
                    &token,
                    &adam_id,
                    &m.name,
                    &m.bundle_id,
                    &m.icon_url,
                    &m.version,
                    &now,
                ],
            )
            .await?;
        if n == 0 {
            need_token(&c, token).await?;
        }
        Ok(n)
    }

    pub(super) async fn vpp_without_metadata(
        &self,
        token: &str,
        limit: u32,
    ) -> Result<Vec<String>> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(
                "SELECT DISTINCT adam_id FROM vpp_assets
                 WHERE token = $1 AND metadata_at IS NULL ORDER BY adam_id LIMIT $2",
            )
            .await?;
        let limit = i64::from(clamp_batch(limit));
        let out = c
            .query(&stmt, &[&token, &limit])
            .await?
            .iter()
            .map(|r| r.string(0))
            .collect::<Result<Vec<_>>>()?;
        if out.is_empty() {
            need_token(&c, token).await?;
        }
        Ok(out)
    }

    pub(super) async fn vpp_request(&self, q: &VppAssignRequest) -> Result<VppRequestOutcome> {
        let devices = fold_devices(&q.devices)?;
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        // Requests for the asset wait here for each other; what they read
        // next includes what the one before committed.
        let lock = tx
            .prepare_cached(
                "SELECT device_assignable, available_count FROM vpp_assets
                 WHERE token = $1 AND adam_id = $2 AND pricing_param = $3
                 FOR NO KEY UPDATE",
            )
            .await?;
        let Some(asset) = tx
            .query_opt(&lock, &[&q.token, &q.adam_id, &q.pricing_param])
            .await?
        else {
            return Err(missing_asset(&tx, &q.token, &q.adam_id, &q.pricing_param).await);
        };
        if !asset.boolean(0)? {
            return Err(Error::VppNotDeviceAssignable {
                adam_id: q.adam_id.clone(),
                pricing_param: q.pricing_param.clone(),
            });
        }
        let available = asset.opt_int(1)?;
        let count = tx
            .prepare_cached(&format!(
                "SELECT count(*) FROM vpp_assignments
                 WHERE token = $1 AND adam_id = $2 AND pricing_param = $3 AND {REQUESTED}"
            ))
            .await?;
        let requested = tx
            .query_one(&count, &[&q.token, &q.adam_id, &q.pricing_param])
            .await?
            .int(0)?;
        let serials: Vec<&str> = devices.iter().map(|d| d.0).collect();
        let prior = tx
            .prepare_cached(
                "SELECT serial_number, state FROM vpp_assignments
                 WHERE token = $1 AND adam_id = $2 AND pricing_param = $3
                   AND serial_number = ANY ($4::text[])",
            )
            .await?;
        let mut stored = std::collections::HashMap::new();
        for r in tx
            .query(&prior, &[&q.token, &q.adam_id, &q.pricing_param, &serials])
            .await?
        {
            stored.insert(r.string(0)?, state(&r.string(1)?)?);
        }
        let todo: Vec<(&str, Option<&str>)> = devices
            .iter()
            .copied()
            .filter(|d| restarts(stored.get(d.0).copied()))
            .collect();
        check_licenses(todo.len(), available, requested)?;
        let mut n = 0;
        if !todo.is_empty() {
            let serials: Vec<&str> = todo.iter().map(|d| d.0).collect();
            let udids: Vec<Option<&str>> = todo.iter().map(|d| d.1).collect();
            let upsert = tx
                .prepare_cached(&request_sql(
                    '$',
                    "unnest($7::text[], $8::text[]) AS d (serial_number, udid)",
                ))
                .await?;
            // A row another transaction moved to a state this request does
            // not restart is left out: not counted as requested.
            n = tx
                .execute(
                    &upsert,
                    &[
                        &q.token,
                        &q.adam_id,
                        &q.pricing_param,
                        &q.options_json,
                        &q.requested_by,
                        &q.now,
                        &serials,
                        &udids,
                    ],
                )
                .await?;
        }
        tx.commit().await?;
        let requested = u32::try_from(n).unwrap_or(u32::MAX);
        Ok(VppRequestOutcome {
            requested,
            unchanged: u32::try_from(devices.len())
                .unwrap_or(u32::MAX)
                .saturating_sub(requested),
        })
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) async fn vpp_request_removals(
        &self,
        token: &str,
        adam_id: &str,
        pricing_param: &str,
        serials: &[String],
        actor: &str,
        now: UnixMillis,
    ) -> Result<u64> {
        let serials = fold_serials(serials)?;
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(&removal_sql('$', "serial_number = ANY ($4::text[])"))
            .await?;
        let n = c
            .execute(
                &stmt,
                &[&token, &adam_id, &pricing_param, &serials, &actor, &now],
            )
            .await?;
        if n == 0 {
            let exists = c
                .prepare_cached(
                    "SELECT EXISTS (SELECT 1 FROM vpp_assets
                     WHERE token = $1 AND adam_id = $2 AND pricing_param = $3)",
                )
                .await?;
            if !c
                .query_one(&exists, &[&token, &adam_id, &pricing_param])
                .await?
                .boolean(0)?
            {
                return Err(missing_asset(&c, token, adam_id, pricing_param).await);
            }
        }
        Ok(n)
    }

    pub(super) async fn vpp_in_state(
        &self,
        token: &str,
        s: VppAssignState,
        now: UnixMillis,
        limit: u32,
    ) -> Result<Vec<VppAssignment>> {
        let c = self.client().await?;
        let stmt = c.prepare_cached(&due_sql('$')).await?;
        let limit = i64::from(clamp_batch(limit));
        let out = c
            .query(&stmt, &[&token, &s.as_str(), &now, &limit])
            .await?
            .iter()
            .map(assignment_from_row)
            .collect::<Result<Vec<_>>>()?;
        if out.is_empty() {
            need_token(&c, token).await?;
        }
        Ok(out)
    }

    pub(super) async fn vpp_set_assignments(
        &self,
        token: &str,
        adam_id: &str,
        pricing_param: &str,
        serials: &[String],
        u: &VppAssignUpdate,
    ) -> Result<u64> {
        let serials = fold_serials(serials)?;
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(&set_sql('$', "serial_number = ANY ($4::text[])"))
            .await?;
        let n = c
            .execute(
                &stmt,
                &[
                    &token,
                    &adam_id,
                    &pricing_param,
                    &serials,
                    &u.state.as_str(),
                    &u.event_id,
                    &u.command_uuid,
                    &u.detail,
                    &u.next_at,
                    &u.count_attempt,
                    &u.now,
                ],
            )
            .await?;
        if n == 0 {
            need_token(&c, token).await?;
        }
        Ok(n)
    }

    pub(super) async fn vpp_by_event(&self, event_id: &str) -> Result<Vec<VppAssignment>> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(&format!(
                "SELECT {ASSIGNMENT_COLUMNS} FROM vpp_assignments WHERE event_id = $1
                 ORDER BY token, adam_id, pricing_param, serial_number"
            ))
            .await?;
        c.query(&stmt, &[&event_id])
            .await?
            .iter()
            .map(assignment_from_row)
            .collect()
    }

    pub(super) async fn vpp_by_command(&self, command_uuid: &str) -> Result<Option<VppAssignment>> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(&format!(
                "SELECT {ASSIGNMENT_COLUMNS} FROM vpp_assignments WHERE command_uuid = $1
                 ORDER BY token, adam_id, pricing_param, serial_number LIMIT 1"
            ))
            .await?;
        c.query_opt(&stmt, &[&command_uuid])
            .await?
            .map(|r| assignment_from_row(&r))
            .transpose()
    }

    pub(super) async fn vpp_list_assignments(
        &self,
        q: &VppAssignmentQuery,
    ) -> Result<VppAssignmentPage> {
        let limit = clamp_limit(q.limit);
        let c = self.client().await?;
        let items = match assignments_listing(q, '$') {
            Some(l) => run_listing(&c, &l, i64::from(limit) + 1)
                .await?
                .iter()
                .map(assignment_from_row)
                .collect::<Result<Vec<_>>>()?,
            None => Vec::new(),
        };
        if items.is_empty()
            && let Some(t) = &q.token
        {
            need_token(&c, t).await?;
        }
        Ok(assignment_page(items, limit))
    }

    pub(super) async fn vpp_count_assignments(
        &self,
        token: &str,
    ) -> Result<BTreeMap<VppAssignState, u64>> {
        let c = self.client().await?;
        let stmt = c.prepare_cached(&count_sql('$')).await?;
        let rows = c.query(&stmt, &[&token]).await?;
        if rows.is_empty() {
            need_token(&c, token).await?;
        }
        let mut counts = empty_counts();
        for r in &rows {
            add_count(&mut counts, &r.string(0)?, r.int(1)?)?;
        }
        Ok(counts)
    }

    pub(super) async fn vpp_first_notification(
        &self,
        notification_id: &str,
        token: &str,
        now: UnixMillis,
    ) -> Result<bool> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(
                "INSERT INTO vpp_notifications (notification_id, token, received_at)
                 SELECT $1::text, $2::text, $3::int8 WHERE EXISTS (SELECT 1 FROM vpp_tokens WHERE name = $2)
                 ON CONFLICT (notification_id) DO NOTHING",
            )
            .await?;
        let n = c.execute(&stmt, &[&notification_id, &token, &now]).await?;
        if n == 0 {
            need_token(&c, token).await?;
        }
        Ok(n > 0)
    }

    pub(super) async fn vpp_prune_notifications(&self, before: UnixMillis) -> Result<u64> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached("DELETE FROM vpp_notifications WHERE received_at < $1")
            .await?;
        Ok(c.execute(&stmt, &[&before]).await?)
    }
}

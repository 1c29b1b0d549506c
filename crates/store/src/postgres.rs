//! The PostgreSQL backend.

mod dep;
mod vpp;

use std::fmt;
use std::time::Duration;

use apple_mdm_protocol::EnrollmentId;
use apple_mdm_protocol::queue::QueueError;
use apple_mdm_protocol::report::Status;
use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::Type;
use tokio_postgres::{NoTls, Row};

use crate::Store;
use crate::common::{
    Columns, DeviceSummary, ENROLLMENT_COLUMNS, Secret, TARGET_COLUMNS, TouchCache, clamp_limit,
    count, dedup, enrollment_from_row, id_of, inventory_kind, key, sha256, target_from_row,
};
use crate::dep::check_link_name;
use crate::error::{Error, Result};
use crate::migrations::{self, POSTGRES};
use crate::model::{
    AuditEntry, AuditRecord, AuthenticateRecord, CommandRecord, CompletedCommand, Enrollment,
    EnrollmentPage, EntryState, Inventory, InventoryItem, InventoryKind, ListQuery,
    MAX_PUBLICATIONS, MAX_PUSH_BATCH, NewCommand, NewPublication, NextCommand, Publication,
    PushRecord, PushResult, PushTarget, ReportOutcome, Sha256, TokenUpdateRecord, TopicCount,
    UnixMillis,
};
use crate::vpp::check_token_name;
use crate::{
    DepAssignFailure, DepAssignment, DepDevice, DepDeviceCounts, DepDeviceEvent, DepDevicePage,
    DepDeviceQuery, DepDeviceRecord, DepFailureOutcome, DepLink, DepPhase, NewDepLink, NewVppToken,
    UpsertOutcome, VppAsset, VppAssetMetadata, VppAssetPage, VppAssetQuery, VppAssetRecord,
    VppAssignRequest, VppAssignState, VppAssignUpdate, VppAssignment, VppAssignmentPage,
    VppAssignmentQuery, VppClaim, VppRequestOutcome, VppToken,
};

/// The advisory lock held while migrating (`pg_advisory_xact_lock`), so
/// that processes starting together apply each migration once.
const MIGRATION_LOCK: i64 = 0x5069_7070_696e_0001;

/// Settings of a [`PostgresStore`].
#[derive(Clone)]
pub struct PostgresConfig {
    /// Connection URL, `postgres://user:password@host:port/database` (or
    /// the `key=value` form `tokio-postgres` accepts).
    pub url: String,
    /// Most connections open at once.
    pub pool_size: usize,
    /// Keep the tables in this schema (created if missing) instead of the
    /// connection's default `search_path`. A plain lower-case identifier.
    pub schema: Option<String>,
    /// How long to wait for a new connection.
    pub connect_timeout: Duration,
    /// How long an operation waits for a free connection from the pool.
    pub acquire_timeout: Duration,
    /// [`Store::touch`] moves the last-seen time only when it is at least
    /// this old, in milliseconds.
    pub touch_interval: UnixMillis,
}

impl PostgresConfig {
    /// Settings for the database at `url`, otherwise the defaults: a pool of
    /// 16 connections, the default schema, 10 s to connect, 30 s to get a
    /// connection, last-seen times moved at most once a minute.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            pool_size: 16,
            schema: None,
            connect_timeout: Duration::from_secs(10),
            acquire_timeout: Duration::from_secs(30),
            touch_interval: 60_000,
        }
    }

    /// Sets [`pool_size`](Self::pool_size).
    pub fn pool_size(&mut self, n: usize) -> &mut Self {
        self.pool_size = n;
        self
    }

    /// Sets [`schema`](Self::schema).
    pub fn schema(&mut self, schema: Option<String>) -> &mut Self {
        self.schema = schema;
        self
    }

    /// Sets [`connect_timeout`](Self::connect_timeout).
    pub fn connect_timeout(&mut self, d: Duration) -> &mut Self {
        self.connect_timeout = d;
        self
    }

    /// Sets [`acquire_timeout`](Self::acquire_timeout).
    pub fn acquire_timeout(&mut self, d: Duration) -> &mut Self {
        self.acquire_timeout = d;
        self
    }

    /// Sets [`touch_interval`](Self::touch_interval).
    pub fn touch_interval(&mut self, ms: UnixMillis) -> &mut Self {
        self.touch_interval = ms;
        self
    }
}

/// Shows the URL without its password.
impl fmt::Debug for PostgresConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresConfig")
            .field("url", &redact(&self.url))
            .field("pool_size", &self.pool_size)
            .field("schema", &self.schema)
            .field("connect_timeout", &self.connect_timeout)
            .field("acquire_timeout", &self.acquire_timeout)
            .field("touch_interval", &self.touch_interval)
            .finish()
    }
}

/// `url` with the password replaced by `***`.
fn redact(url: &str) -> String {
    if let Some(scheme_end) = url.find("://") {
        let rest = &url[scheme_end + 3..];
        let auth_end = rest.find('@');
        let path_start = rest.find('/').unwrap_or(rest.len());
        if let Some(at) = auth_end.filter(|&at| at < path_start) {
            let userinfo = &rest[..at];
            if let Some(colon) = userinfo.find(':') {
                return format!(
                    "{}{}:***{}",
                    &url[..scheme_end + 3],
                    &userinfo[..colon],
                    &rest[at..]
                );
            }
        }
        return url.to_owned();
    }
    // key=value form
    url.split_whitespace()
        .map(|kv| {
            if kv.starts_with("password=") {
                "password=***"
            } else {
                kv
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Whether `s` can name a schema without quoting.
fn plain_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && s.len() <= 63
}

/// A [`Store`] in a PostgreSQL database, through a connection pool.
///
/// Several service processes can share one database: every operation is
/// one transaction, and [`Store::handle_report`] picks the next command with
/// `SELECT ... FOR UPDATE SKIP LOCKED`, so two transactions running at once
/// never hand out the same queue entry. Connections are plain TCP or Unix
/// sockets (no TLS). Cloning is cheap and shares the pool.
#[derive(Clone)]
pub struct PostgresStore {
    pool: Pool,
    touch: std::sync::Arc<TouchCache>,
    schema: Option<String>,
}

impl fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresStore")
            .field("pool", &self.pool.status())
            .field("schema", &self.schema)
            .finish()
    }
}

impl PostgresStore {
    /// Connects, and brings the schema up to date (under an advisory lock,
    /// so that processes starting together do not race).
    pub async fn connect(config: &PostgresConfig) -> Result<Self> {
        let mut pg: tokio_postgres::Config = config
            .url
            .parse()
            .map_err(|e| Error::Config(format!("{}: {e}", redact(&config.url))))?;
        pg.connect_timeout(config.connect_timeout);
        if pg.get_application_name().is_none() {
            pg.application_name("pippin");
        }
        if let Some(schema) = &config.schema {
            if !plain_identifier(schema) {
                return Err(Error::Config(format!(
                    "schema {schema:?} is not a plain lower-case identifier"
                )));
            }
            let options = match pg.get_options() {
                Some(o) => format!("{o} -c search_path={schema}"),
                None => format!("-c search_path={schema}"),
            };
            pg.options(options);
        }
        let manager = Manager::from_config(
            pg,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(config.pool_size.max(1))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(config.acquire_timeout))
            .create_timeout(Some(config.connect_timeout))
            .build()
            .map_err(|e| Error::Config(e.to_string()))?;
        let store = Self {
            pool,
            touch: std::sync::Arc::new(TouchCache::new(config.touch_interval)),
            schema: config.schema.clone(),
        };
        store.migrate().await?;
        Ok(store)
    }

    /// The highest schema migration applied.
    pub async fn schema_version(&self) -> Result<i64> {
        let c = self.client().await?;
        let r = c
            .query_one(
                "SELECT COALESCE(MAX(version), 0)::BIGINT FROM schema_migrations",
                &[],
            )
            .await?;
        Ok(r.try_get(0)?)
    }

    async fn client(&self) -> Result<Object> {
        Ok(self.pool.get().await?)
    }

    async fn migrate(&self) -> Result<()> {
        let mut c = self.client().await?;
        let known = migrations::latest(POSTGRES);
        for m in POSTGRES {
            let tx = c.transaction().await?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
                .await?;
            if let Some(schema) = &self.schema {
                // Checked by `plain_identifier`.
                tx.batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
                    .await?;
            }
            tx.batch_execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (
                    version    BIGINT      PRIMARY KEY,
                    name       TEXT        NOT NULL,
                    applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
                )",
            )
            .await?;
            let found: i64 = tx
                .query_one(
                    "SELECT COALESCE(MAX(version), 0)::BIGINT FROM schema_migrations",
                    &[],
                )
                .await?
                .try_get(0)?;
            if found > known {
                return Err(Error::SchemaTooNew { found, known });
            }
            let applied: bool = tx
                .query_one(
                    "SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = $1)",
                    &[&m.version],
                )
                .await?
                .try_get(0)?;
            if !applied {
                tx.batch_execute(m.sql).await?;
                tx.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                    &[&m.version, &m.name],
                )
                .await?;
            }
            tx.commit().await?;
        }
        Ok(())
    }
}

impl Columns for Row {
    fn string(&self, i: usize) -> Result<String> {
        Ok(self.try_get(i)?)
    }
    fn opt_string(&self, i: usize) -> Result<Option<String>> {
        Ok(self.try_get(i)?)
    }
    fn opt_bytes(&self, i: usize) -> Result<Option<Vec<u8>>> {
        Ok(self.try_get(i)?)
    }
    fn boolean(&self, i: usize) -> Result<bool> {
        Ok(self.try_get(i)?)
    }
    fn opt_bool(&self, i: usize) -> Result<Option<bool>> {
        Ok(self.try_get(i)?)
    }
    fn int(&self, i: usize) -> Result<i64> {
        self.opt_int(i)?
            .ok_or_else(|| Error::corrupt("integer", "NULL"))
    }
    fn opt_int(&self, i: usize) -> Result<Option<i64>> {
        let ty = self.columns().get(i).map(|c| c.type_().clone());
        Ok(match ty {
            Some(Type::INT4) => self.try_get::<_, Option<i32>>(i)?.map(i64::from),
            Some(Type::INT2) => self.try_get::<_, Option<i16>>(i)?.map(i64::from),
            _ => self.try_get(i)?,
        })
    }
}

fn unknown(id: &EnrollmentId) -> Error {
    Error::UnknownEnrollment(id.to_string())
}

/// An enrollment's `pk`.
async fn pk<C: deadpool_postgres::GenericClient>(
    c: &C,
    device: &str,
    user: &str,
) -> Result<Option<i64>> {
    let stmt = c
        .prepare_cached("SELECT pk FROM enrollments WHERE device = $1 AND user_key = $2")
        .await?;
    Ok(match c.query_opt(&stmt, &[&device, &user]).await? {
        Some(r) => Some(r.try_get(0)?),
        None => None,
    })
}

#[async_trait::async_trait]
impl Store for PostgresStore {
    async fn authenticate(&self, rec: &AuthenticateRecord) -> Result<()> {
        key(&EnrollmentId::device(rec.device.clone()))?;
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        let upsert = tx
            .prepare_cached(
                "INSERT INTO enrollments (device, user_key, enrolled, serial_number, model,
                     model_name, product_name, os_version, build_version, device_name, imei,
                     meid, topic, identity_sha256, created_at, authenticated_at)
                 VALUES ($1, '', FALSE, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13)
                 ON CONFLICT (device, user_key) DO UPDATE SET
                     enrolled = FALSE,
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
                     identity_sha256 = COALESCE(excluded.identity_sha256,
                                                enrollments.identity_sha256),
                     push_token = NULL,
                     push_magic = NULL,
                     unlock_token = NULL,
                     token_invalid = FALSE,
                     awaiting_configuration = FALSE,
                     authenticated_at = excluded.authenticated_at
                 RETURNING pk",
            )
            .await?;
        let identity = rec.identity.as_ref().map(|d| &d[..]);
        let pk: i64 = tx
            .query_one(
                &upsert,
                &[
                    &rec.device,
                    &rec.serial_number,
                    &rec.model,
                    &rec.model_name,
                    &rec.product_name,
                    &rec.os_version,
                    &rec.build_version,
                    &rec.device_name,
                    &rec.imei,
                    &rec.meid,
                    &rec.topic,
                    &identity,
                    &rec.now,
                ],
            )
            .await?
            .try_get(0)?;
        let users = tx
            .prepare_cached(
                "UPDATE enrollments SET enrolled = FALSE, push_token = NULL, push_magic = NULL,
                     unlock_token = NULL, token_invalid = FALSE
                 WHERE device_pk = $1",
            )
            .await?;
        tx.execute(&users, &[&pk]).await?;
        let cancel = tx
            .prepare_cached(
                "UPDATE queue SET state = 'cancelled', status_at = $2
                 WHERE state IN ('queued', 'sent', 'not_now')
                   AND enrollment IN (SELECT pk FROM enrollments
                                      WHERE pk = $1 OR device_pk = $1)",
            )
            .await?;
        tx.execute(&cancel, &[&pk, &rec.now]).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn token_update(&self, id: &EnrollmentId, rec: &TokenUpdateRecord) -> Result<()> {
        let (device, user) = key(id)?;
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        if user.is_empty() {
            let stmt = tx
                .prepare_cached(
                    "UPDATE enrollments SET enrolled = TRUE, push_token = $2, push_magic = $3,
                         topic = $4, unlock_token = COALESCE($5, unlock_token),
                         awaiting_configuration = $6, token_invalid = FALSE,
                         token_updated_at = $7
                     WHERE device = $1 AND user_key = ''",
                )
                .await?;
            let n = tx
                .execute(
                    &stmt,
                    &[
                        &device,
                        &rec.push_token,
                        &rec.push_magic,
                        &rec.topic,
                        &rec.unlock_token,
                        &rec.awaiting_configuration,
                        &rec.now,
                    ],
                )
                .await?;
            if n == 0 {
                return Err(unknown(id));
            }
        } else {
            let device_pk = pk(&tx, device, "").await?.ok_or_else(|| unknown(id))?;
            let stmt = tx
                .prepare_cached(
                    "INSERT INTO enrollments (device, user_key, device_pk, enrolled, topic,
                         push_token, push_magic, unlock_token, awaiting_configuration,
                         user_short_name, user_long_name, created_at, token_updated_at)
                     VALUES ($1, $2, $3, TRUE, $4, $5, $6, $7, $8, $9, $10, $11, $11)
                     ON CONFLICT (device, user_key) DO UPDATE SET
                         enrolled = TRUE,
                         device_pk = excluded.device_pk,
                         topic = excluded.topic,
                         push_token = excluded.push_token,
                         push_magic = excluded.push_magic,
                         unlock_token = COALESCE(excluded.unlock_token, enrollments.unlock_token),
                         awaiting_configuration = excluded.awaiting_configuration,
                         user_short_name = COALESCE(excluded.user_short_name,
                                                    enrollments.user_short_name),
                         user_long_name = COALESCE(excluded.user_long_name,
                                                   enrollments.user_long_name),
                         token_invalid = FALSE,
                         token_updated_at = excluded.token_updated_at",
                )
                .await?;
            tx.execute(
                &stmt,
                &[
                    &device,
                    &user,
                    &device_pk,
                    &rec.topic,
                    &rec.push_token,
                    &rec.push_magic,
                    &rec.unlock_token,
                    &rec.awaiting_configuration,
                    &rec.user_short_name,
                    &rec.user_long_name,
                    &rec.now,
                ],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn check_out(&self, id: &EnrollmentId, now: UnixMillis) -> Result<()> {
        let (device, user) = key(id)?;
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        let pk = pk(&tx, device, user).await?.ok_or_else(|| unknown(id))?;
        let stmt = tx
            .prepare_cached(
                "UPDATE enrollments SET enrolled = FALSE, checked_out_at = $2
                 WHERE pk = $1 OR device_pk = $1",
            )
            .await?;
        tx.execute(&stmt, &[&pk, &now]).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn get_enrollment(&self, id: &EnrollmentId) -> Result<Option<Enrollment>> {
        let (device, user) = key(id)?;
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(&format!(
                "SELECT {ENROLLMENT_COLUMNS} FROM enrollments WHERE device = $1 AND user_key = $2"
            ))
            .await?;
        c.query_opt(&stmt, &[&device, &user])
            .await?
            .map(|r| enrollment_from_row(&r))
            .transpose()
    }

    async fn list_enrollments(&self, query: &ListQuery) -> Result<EnrollmentPage> {
        let after = query.after.as_ref().map(key).transpose()?;
        let limit = clamp_limit(query.limit);
        let filter = if query.enrolled_only {
            "AND enrolled"
        } else {
            ""
        };
        // One more than asked tells whether another page follows.
        let fetch = i64::from(limit) + 1;
        let c = self.client().await?;
        let rows = match after {
            Some((d, u)) => {
                let stmt = c
                    .prepare_cached(&format!(
                        "SELECT {ENROLLMENT_COLUMNS} FROM enrollments
                         WHERE (device, user_key) > ($1, $2) {filter}
                         ORDER BY device, user_key LIMIT $3"
                    ))
                    .await?;
                c.query(&stmt, &[&d, &u, &fetch]).await?
            }
            None => {
                let stmt = c
                    .prepare_cached(&format!(
                        "SELECT {ENROLLMENT_COLUMNS} FROM enrollments
                         WHERE TRUE {filter}
                         ORDER BY device, user_key LIMIT $1"
                    ))
                    .await?;
                c.query(&stmt, &[&fetch]).await?
            }
        };
        let mut items = rows
            .iter()
            .map(enrollment_from_row)
            .collect::<Result<Vec<_>>>()?;
        let next = if items.len() > limit as usize {
            items.truncate(limit as usize);
            items.last().map(|e| e.id.clone())
        } else {
            None
        };
        Ok(EnrollmentPage { items, next })
    }

    async fn count_enrollments(&self, enrolled_only: bool) -> Result<u64> {
        let c = self.client().await?;
        let sql = if enrolled_only {
            "SELECT count(*) FROM enrollments WHERE enrolled"
        } else {
            "SELECT count(*) FROM enrollments"
        };
        let stmt = c.prepare_cached(sql).await?;
        let n: i64 = c.query_one(&stmt, &[]).await?.try_get(0)?;
        Ok(n.unsigned_abs())
    }

    async fn touch(&self, id: &EnrollmentId, now: UnixMillis) -> Result<()> {
        let (device, user) = key(id)?;
        if !self.touch.due(device, user, now) {
            return Ok(());
        }
        let interval = self.touch.interval();
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(
                "UPDATE enrollments SET last_seen_at = $3
                 WHERE device = $1 AND user_key = $2
                   AND (last_seen_at IS NULL OR last_seen_at <= $3::BIGINT - $4::BIGINT)",
            )
            .await?;
        c.execute(&stmt, &[&device, &user, &now, &interval]).await?;
        Ok(())
    }

    async fn bind_identity(&self, id: &EnrollmentId, sha256: Sha256) -> Result<()> {
        let device = key(id)?.0;
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(
                "UPDATE enrollments SET identity_sha256 = $2 WHERE device = $1 AND user_key = ''",
            )
            .await?;
        if c.execute(&stmt, &[&device, &&sha256[..]]).await? == 0 {
            return Err(Error::UnknownEnrollment(device.to_owned()));
        }
        Ok(())
    }

    async fn identity_for(&self, id: &EnrollmentId) -> Result<Option<Sha256>> {
        let device = key(id)?.0;
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(
                "SELECT identity_sha256 FROM enrollments WHERE device = $1 AND user_key = ''",
            )
            .await?;
        let v: Option<Vec<u8>> = match c.query_opt(&stmt, &[&device]).await? {
            Some(r) => r.try_get(0)?,
            None => None,
        };
        v.map(sha256).transpose()
    }

    async fn rebind_identity(&self, id: &EnrollmentId, old: Sha256, new: Sha256) -> Result<()> {
        let device = key(id)?.0;
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(
                "UPDATE enrollments SET identity_sha256 = $3
                 WHERE device = $1 AND user_key = '' AND identity_sha256 = $2",
            )
            .await?;
        if c.execute(&stmt, &[&device, &&old[..], &&new[..]]).await? == 0 {
            return Err(match pk(&c, device, "").await? {
                Some(_) => Error::IdentityMismatch(device.to_owned()),
                None => Error::UnknownEnrollment(device.to_owned()),
            });
        }
        Ok(())
    }

    async fn record_renewal(&self, old: Sha256, new: Sha256, now: UnixMillis) -> Result<()> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(
                "INSERT INTO identity_renewals (new_sha256, old_sha256, renewed_at)
                 VALUES ($1, $2, $3)
                 ON CONFLICT (new_sha256) DO UPDATE SET old_sha256 = EXCLUDED.old_sha256,
                     renewed_at = EXCLUDED.renewed_at",
            )
            .await?;
        c.execute(&stmt, &[&&new[..], &&old[..], &now]).await?;
        Ok(())
    }

    async fn renewed_from(&self, new: Sha256) -> Result<Option<Sha256>> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached("SELECT old_sha256 FROM identity_renewals WHERE new_sha256 = $1")
            .await?;
        match c.query_opt(&stmt, &[&&new[..]]).await? {
            None => Ok(None),
            Some(row) => {
                let v: Vec<u8> = row.get(0);
                Ok(Some(v.try_into().map_err(|_| Error::Corrupt {
                    what: "identity_renewals.old_sha256",
                    detail: "not 32 bytes".to_owned(),
                })?))
            }
        }
    }

    async fn set_bootstrap_token(&self, id: &EnrollmentId, token: Option<Vec<u8>>) -> Result<()> {
        let device = key(id)?.0;
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(&format!(
                "UPDATE enrollments SET {} = $2 WHERE device = $1 AND user_key = ''",
                Secret::Bootstrap.column()
            ))
            .await?;
        if c.execute(&stmt, &[&device, &token]).await? == 0 {
            return Err(Error::UnknownEnrollment(device.to_owned()));
        }
        Ok(())
    }

    async fn get_bootstrap_token(&self, id: &EnrollmentId) -> Result<Option<Vec<u8>>> {
        self.device_secret(id, Secret::Bootstrap).await
    }

    async fn get_unlock_token(&self, id: &EnrollmentId) -> Result<Option<Vec<u8>>> {
        self.device_secret(id, Secret::Unlock).await
    }

    async fn mark_push_result(
        &self,
        id: &EnrollmentId,
        token: &[u8],
        result: &PushResult,
    ) -> Result<()> {
        let record = PushRecord {
            id: id.clone(),
            token: token.to_vec(),
            result: result.clone(),
        };
        if self
            .mark_push_results(std::slice::from_ref(&record))
            .await?
            == 0
        {
            key(id)?;
            return Err(unknown(id));
        }
        Ok(())
    }

    async fn mark_push_results(&self, records: &[PushRecord]) -> Result<u64> {
        if records.len() > MAX_PUSH_BATCH {
            return Err(Error::BatchTooLarge {
                len: records.len(),
                max: MAX_PUSH_BATCH,
            });
        }
        // One row per enrollment: the last record of each wins, as if
        // stored one after the other.
        let mut last = std::collections::HashMap::with_capacity(records.len());
        for (i, r) in records.iter().enumerate() {
            last.insert(key(&r.id)?, i);
        }
        let mut picked: Vec<usize> = last.into_values().collect();
        picked.sort_unstable();
        let n = picked.len();
        let (mut devices, mut users) = (Vec::with_capacity(n), Vec::with_capacity(n));
        let (mut at, mut status, mut reason) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        let (mut http, mut apns_id, mut gone) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        let (mut invalid, mut tokens) = (Vec::with_capacity(n), Vec::with_capacity(n));
        for i in picked {
            let r = &records[i];
            let (d, u) = key(&r.id)?;
            devices.push(d);
            users.push(u);
            at.push(r.result.at);
            status.push(r.result.status.as_str());
            reason.push(r.result.reason.as_deref());
            http.push(r.result.http_status.map(i32::from));
            apns_id.push(r.result.apns_id.as_deref());
            gone.push(r.result.unregistered_at);
            invalid.push(r.result.token_invalid);
            tokens.push(r.token.as_slice());
        }
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(
                "UPDATE enrollments e SET push_at = u.at, push_status = u.status,
                     push_reason = u.reason, push_http_status = u.http,
                     push_apns_id = u.apns_id, push_unregistered_at = u.gone,
                     token_invalid = CASE
                         WHEN u.invalid AND e.push_token = u.token
                              AND (u.gone IS NULL OR e.token_updated_at IS NULL
                                   OR e.token_updated_at <= u.gone)
                         THEN TRUE ELSE e.token_invalid END
                 FROM unnest($1::TEXT[], $2::TEXT[], $3::BIGINT[], $4::TEXT[], $5::TEXT[],
                             $6::INTEGER[], $7::TEXT[], $8::BIGINT[], $9::BOOLEAN[],
                             $10::BYTEA[])
                      AS u (device, user_key, at, status, reason, http, apns_id, gone,
                            invalid, token)
                 WHERE e.device = u.device COLLATE \"C\" AND e.user_key = u.user_key COLLATE \"C\"",
            )
            .await?;
        let stored = c
            .execute(
                &stmt,
                &[
                    &devices, &users, &at, &status, &reason, &http, &apns_id, &gone, &invalid,
                    &tokens,
                ],
            )
            .await?;
        Ok(stored)
    }

    async fn enrolled_topics(&self) -> Result<Vec<TopicCount>> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(
                "SELECT topic, COUNT(*) FROM enrollments
                 WHERE enrolled AND topic IS NOT NULL
                 GROUP BY topic ORDER BY COUNT(*) DESC, topic",
            )
            .await?;
        c.query(&stmt, &[])
            .await?
            .iter()
            .map(|r| {
                let n: i64 = r.try_get(1)?;
                Ok(TopicCount {
                    topic: r.try_get(0)?,
                    enrollments: u64::try_from(n)
                        .map_err(|_| Error::corrupt("COUNT(*)", n.to_string()))?,
                })
            })
            .collect()
    }

    async fn enqueue_more(&self, uuid: &str, ids: &[EnrollmentId]) -> Result<u64> {
        if ids.len() > MAX_PUSH_BATCH {
            return Err(Error::BatchTooLarge {
                len: ids.len(),
                max: MAX_PUSH_BATCH,
            });
        }
        let ids = dedup(ids);
        let (devices, users) = key_arrays(&ids)?;
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        let head = tx
            .prepare_cached("SELECT pk, priority, queued_at FROM commands WHERE uuid = $1")
            .await?;
        let Some(h) = tx.query_opt(&head, &[&uuid]).await? else {
            return Err(QueueError::UnknownCommand(uuid.to_owned()).into());
        };
        let (command, priority, queued_at): (i64, i32, i64) =
            (h.try_get(0)?, h.try_get(1)?, h.try_get(2)?);
        let lookup = tx
            .prepare_cached(
                "SELECT k.ord, e.pk
                 FROM unnest($1::TEXT[], $2::TEXT[]) WITH ORDINALITY AS k (device, user_key, ord)
                 LEFT JOIN enrollments e
                   ON e.device = k.device COLLATE \"C\" AND e.user_key = k.user_key COLLATE \"C\"
                 ORDER BY k.ord",
            )
            .await?;
        let mut pks = Vec::with_capacity(ids.len());
        for (r, id) in tx
            .query(&lookup, &[&devices, &users])
            .await?
            .iter()
            .zip(&ids)
        {
            match r.try_get::<_, Option<i64>>(1)? {
                Some(pk) => pks.push(pk),
                None => return Err(unknown(id)),
            }
        }
        let insert = tx
            .prepare_cached(
                "INSERT INTO queue (enrollment, command, priority, queued_at, state)
                 SELECT e, $2, $3, $4, 'queued' FROM unnest($1::BIGINT[]) WITH ORDINALITY AS t (e, ord)
                 ORDER BY ord
                 ON CONFLICT (command, enrollment) DO NOTHING",
            )
            .await?;
        let added = tx
            .execute(&insert, &[&pks, &command, &priority, &queued_at])
            .await?;
        tx.commit().await?;
        Ok(added)
    }

    async fn push_targets(&self, ids: &[EnrollmentId]) -> Result<Vec<PushTarget>> {
        let ids = dedup(ids);
        let (devices, users) = key_arrays(&ids)?;
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(
                "SELECT e.device, e.user_key, e.push_token, e.push_magic, e.topic
                 FROM unnest($1::TEXT[], $2::TEXT[]) WITH ORDINALITY AS k (device, user_key, ord)
                 JOIN enrollments e
                   ON e.device = k.device COLLATE \"C\" AND e.user_key = k.user_key COLLATE \"C\"
                 WHERE e.enrolled AND NOT e.token_invalid AND e.push_token IS NOT NULL
                   AND e.push_magic IS NOT NULL AND e.topic IS NOT NULL
                 ORDER BY k.ord",
            )
            .await?;
        c.query(&stmt, &[&devices, &users])
            .await?
            .iter()
            .map(|r| {
                Ok(PushTarget {
                    id: id_of(r.try_get(0)?, r.try_get(1)?),
                    token: r.try_get(2)?,
                    push_magic: r.try_get(3)?,
                    topic: r.try_get(4)?,
                })
            })
            .collect()
    }

    async fn enqueue(&self, ids: &[EnrollmentId], cmd: NewCommand) -> Result<()> {
        let ids = dedup(ids);
        let (devices, users) = key_arrays(&ids)?;
        if ids.is_empty() {
            return Err(Error::NoTargets);
        }
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        let insert = tx
            .prepare_cached(
                "INSERT INTO commands (uuid, request_type, body, priority, queued_by, queued_at)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (uuid) DO NOTHING
                 RETURNING pk",
            )
            .await?;
        let command: i64 = match tx
            .query_opt(
                &insert,
                &[
                    &cmd.uuid,
                    &cmd.request_type,
                    &cmd.body,
                    &cmd.priority,
                    &cmd.queued_by,
                    &cmd.now,
                ],
            )
            .await?
        {
            Some(r) => r.try_get(0)?,
            None => return Err(QueueError::Duplicate(cmd.uuid).into()),
        };
        let lookup = tx
            .prepare_cached(
                "SELECT k.ord, e.pk
                 FROM unnest($1::TEXT[], $2::TEXT[]) WITH ORDINALITY AS k (device, user_key, ord)
                 LEFT JOIN enrollments e
                   ON e.device = k.device COLLATE \"C\" AND e.user_key = k.user_key COLLATE \"C\"
                 ORDER BY k.ord",
            )
            .await?;
        let mut pks = Vec::with_capacity(ids.len());
        for (r, id) in tx
            .query(&lookup, &[&devices, &users])
            .await?
            .iter()
            .zip(&ids)
        {
            match r.try_get::<_, Option<i64>>(1)? {
                Some(pk) => pks.push(pk),
                None => return Err(unknown(id)),
            }
        }
        let queue = tx
            .prepare_cached(
                "INSERT INTO queue (enrollment, command, priority, queued_at, state)
                 SELECT e, $2, $3, $4, 'queued' FROM unnest($1::BIGINT[]) WITH ORDINALITY AS t (e, ord)
                 ORDER BY ord",
            )
            .await?;
        tx.execute(&queue, &[&pks, &command, &cmd.priority, &cmd.now])
            .await?;
        tx.commit().await.map_err(|e| {
            // Another process queued the same UUID at the same moment.
            if e.code() == Some(&SqlState::UNIQUE_VIOLATION) {
                Error::Queue(QueueError::Duplicate(cmd.uuid.clone()))
            } else {
                e.into()
            }
        })?;
        Ok(())
    }

    async fn handle_report(
        &self,
        id: &EnrollmentId,
        status: Status,
        command_uuid: Option<&str>,
        result: Option<Vec<u8>>,
        now: UnixMillis,
    ) -> Result<ReportOutcome> {
        let (device, user) = key(id)?;
        let uuid = match (status, command_uuid) {
            (Status::Idle, _) => None,
            (_, None) => return Err(QueueError::MissingCommandUuid(status).into()),
            (_, Some(u)) => Some(u),
        };
        // Four round trips: BEGIN, apply the report, pick and mark the next
        // entry, COMMIT. The enrollment is looked up inside each statement;
        // an unknown one simply has no entries.
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        let mut completed = None;
        match (uuid, EntryState::completed_by(status)) {
            (None, _) => {
                let stmt = tx
                    .prepare_cached(
                        "UPDATE queue SET state = 'queued'
                         WHERE state = 'not_now'
                           AND enrollment = (SELECT pk FROM enrollments
                                             WHERE device = $1 AND user_key = $2)",
                    )
                    .await?;
                tx.execute(&stmt, &[&device, &user]).await?;
            }
            (Some(uuid), None) => {
                let stmt = tx
                    .prepare_cached(
                        "UPDATE queue q SET state = 'not_now',
                             not_now_count = q.not_now_count + 1, status_at = $4
                         FROM commands c
                         WHERE c.pk = q.command AND c.uuid = $3
                           AND q.enrollment = (SELECT pk FROM enrollments
                                               WHERE device = $1 AND user_key = $2)
                           AND q.state IN ('queued', 'sent', 'not_now')",
                    )
                    .await?;
                if tx.execute(&stmt, &[&device, &user, &uuid, &now]).await? == 0 {
                    return Err(QueueError::UnknownCommand(uuid.to_owned()).into());
                }
            }
            (Some(uuid), Some(state)) => {
                let stmt = tx
                    .prepare_cached(
                        "UPDATE queue q SET state = $4, status_at = $5, result = $6
                         FROM commands c
                         WHERE c.pk = q.command AND c.uuid = $3
                           AND q.enrollment = (SELECT pk FROM enrollments
                                               WHERE device = $1 AND user_key = $2)
                           AND q.state IN ('queued', 'sent', 'not_now')
                         RETURNING c.request_type, q.deliveries, q.not_now_count, q.queued_at",
                    )
                    .await?;
                let row = tx
                    .query_opt(
                        &stmt,
                        &[&device, &user, &uuid, &state.as_str(), &now, &result],
                    )
                    .await?;
                let Some(row) = row else {
                    return Err(QueueError::UnknownCommand(uuid.to_owned()).into());
                };
                completed = Some(CompletedCommand {
                    uuid: uuid.to_owned(),
                    request_type: row.try_get(0)?,
                    status,
                    deliveries: count(row.int(1)?, "queue.deliveries")?,
                    not_now_count: count(row.int(2)?, "queue.not_now_count")?,
                    queued_at: row.try_get(3)?,
                });
            }
        }
        // SKIP LOCKED: an entry another transaction is handing out or
        // answering right now is not handed out here as well.
        let pick = tx
            .prepare_cached(
                "WITH picked AS (
                     SELECT q.seq FROM queue q
                     WHERE q.enrollment = (SELECT pk FROM enrollments
                                           WHERE device = $1 AND user_key = $2)
                       AND q.state IN ('queued', 'sent')
                     ORDER BY q.priority DESC, q.queued_at, q.seq
                     LIMIT 1
                     FOR UPDATE SKIP LOCKED
                 ), marked AS (
                     UPDATE queue q SET state = 'sent', deliveries = q.deliveries + 1,
                         sent_at = $3
                     FROM picked WHERE q.seq = picked.seq
                     RETURNING q.command
                 )
                 SELECT c.uuid, c.request_type, c.body
                 FROM marked JOIN commands c ON c.pk = marked.command",
            )
            .await?;
        let next = match tx.query_opt(&pick, &[&device, &user, &now]).await? {
            Some(r) => Some(NextCommand {
                uuid: r.try_get(0)?,
                request_type: r.try_get(1)?,
                body: r.try_get(2)?,
            }),
            None => None,
        };
        tx.commit().await?;
        Ok(ReportOutcome { completed, next })
    }

    async fn get_command(&self, uuid: &str) -> Result<Option<CommandRecord>> {
        let mut c = self.client().await?;
        let tx = c
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await?;
        let head = tx
            .prepare_cached(
                "SELECT pk, request_type, priority, queued_by, queued_at
                 FROM commands WHERE uuid = $1",
            )
            .await?;
        let Some(h) = tx.query_opt(&head, &[&uuid]).await? else {
            return Ok(None);
        };
        let pk: i64 = h.try_get(0)?;
        let targets = tx
            .prepare_cached(&format!(
                "SELECT {TARGET_COLUMNS} FROM queue q JOIN enrollments e ON e.pk = q.enrollment
                 WHERE q.command = $1 ORDER BY e.device, e.user_key"
            ))
            .await?;
        let targets = tx
            .query(&targets, &[&pk])
            .await?
            .iter()
            .map(target_from_row)
            .collect::<Result<Vec<_>>>()?;
        tx.commit().await?;
        Ok(Some(CommandRecord {
            uuid: uuid.to_owned(),
            request_type: h.try_get(1)?,
            priority: h.try_get(2)?,
            queued_by: h.try_get(3)?,
            queued_at: h.try_get(4)?,
            targets,
        }))
    }

    async fn cancel_command(
        &self,
        uuid: &str,
        id: Option<&EnrollmentId>,
        now: UnixMillis,
    ) -> Result<usize> {
        let key = id.map(key).transpose()?;
        let c = self.client().await?;
        let n = match key {
            None => {
                let stmt = c
                    .prepare_cached(
                        "UPDATE queue SET state = 'cancelled', status_at = $2
                         WHERE command = (SELECT pk FROM commands WHERE uuid = $1)
                           AND state IN ('queued', 'sent', 'not_now')",
                    )
                    .await?;
                c.execute(&stmt, &[&uuid, &now]).await?
            }
            Some((d, u)) => {
                let stmt = c
                    .prepare_cached(
                        "UPDATE queue SET state = 'cancelled', status_at = $2
                         WHERE command = (SELECT pk FROM commands WHERE uuid = $1)
                           AND enrollment = (SELECT pk FROM enrollments
                                             WHERE device = $3 AND user_key = $4)
                           AND state IN ('queued', 'sent', 'not_now')",
                    )
                    .await?;
                c.execute(&stmt, &[&uuid, &now, &d, &u]).await?
            }
        };
        usize::try_from(n).map_err(|_| Error::corrupt("cancelled count", n.to_string()))
    }

    async fn queue_depth(&self, id: &EnrollmentId) -> Result<u64> {
        let (device, user) = key(id)?;
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(
                "SELECT count(*) FROM queue
                 WHERE state IN ('queued', 'sent', 'not_now')
                   AND enrollment = (SELECT pk FROM enrollments
                                     WHERE device = $1 AND user_key = $2)",
            )
            .await?;
        let n: i64 = c.query_one(&stmt, &[&device, &user]).await?.try_get(0)?;
        Ok(n.unsigned_abs())
    }

    async fn queue_depth_total(&self) -> Result<u64> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(
                "SELECT count(*) FROM queue WHERE state IN ('queued', 'sent', 'not_now')",
            )
            .await?;
        let n: i64 = c.query_one(&stmt, &[]).await?.try_get(0)?;
        Ok(n.unsigned_abs())
    }

    async fn put_inventory(
        &self,
        id: &EnrollmentId,
        kind: InventoryKind,
        data: &serde_json::Value,
        now: UnixMillis,
    ) -> Result<()> {
        let (device, user) = key(id)?;
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        let enrollment = pk(&tx, device, user).await?.ok_or_else(|| unknown(id))?;
        let upsert = tx
            .prepare_cached(
                "INSERT INTO inventory (enrollment, kind, data, updated_at)
                 VALUES ($1, $2, $3, $4)
                 ON CONFLICT (enrollment, kind) DO UPDATE SET
                     data = excluded.data, updated_at = excluded.updated_at",
            )
            .await?;
        tx.execute(&upsert, &[&enrollment, &kind.as_str(), data, &now])
            .await?;
        if kind == InventoryKind::DeviceInformation {
            let s = DeviceSummary::from_device_information(data);
            let stmt = tx
                .prepare_cached(
                    "UPDATE enrollments SET
                         serial_number = COALESCE($2, serial_number),
                         model = COALESCE($3, model),
                         model_name = COALESCE($4, model_name),
                         product_name = COALESCE($5, product_name),
                         os_version = COALESCE($6, os_version),
                         build_version = COALESCE($7, build_version),
                         device_name = COALESCE($8, device_name),
                         imei = COALESCE($9, imei),
                         meid = COALESCE($10, meid)
                     WHERE pk = $1",
                )
                .await?;
            tx.execute(
                &stmt,
                &[
                    &enrollment,
                    &s.serial_number,
                    &s.model,
                    &s.model_name,
                    &s.product_name,
                    &s.os_version,
                    &s.build_version,
                    &s.device_name,
                    &s.imei,
                    &s.meid,
                ],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn get_inventory(&self, id: &EnrollmentId) -> Result<Inventory> {
        let (device, user) = key(id)?;
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(
                "SELECT e.pk, i.kind, i.data, i.updated_at
                 FROM enrollments e LEFT JOIN inventory i ON i.enrollment = e.pk
                 WHERE e.device = $1 AND e.user_key = $2",
            )
            .await?;
        let rows = c.query(&stmt, &[&device, &user]).await?;
        if rows.is_empty() {
            return Err(unknown(id));
        }
        let mut inv = Inventory::default();
        for r in &rows {
            let Some(kind) = r.try_get::<_, Option<String>>(1)? else {
                continue;
            };
            inv.kinds.insert(
                inventory_kind(&kind)?,
                InventoryItem {
                    data: r.try_get(2)?,
                    updated_at: r.try_get(3)?,
                },
            );
        }
        Ok(inv)
    }

    async fn audit(&self, entry: &AuditEntry) -> Result<i64> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(
                "INSERT INTO audit (at, actor, action, target, detail)
                 VALUES ($1, $2, $3, $4, $5) RETURNING id",
            )
            .await?;
        Ok(c.query_one(
            &stmt,
            &[
                &entry.at,
                &entry.actor,
                &entry.action,
                &entry.target,
                &entry.detail,
            ],
        )
        .await?
        .try_get(0)?)
    }

    async fn list_audit(&self, after: Option<i64>, limit: u32) -> Result<Vec<AuditRecord>> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(
                "SELECT id, at, actor, action, target, detail FROM audit
                 WHERE id > $1 ORDER BY id LIMIT $2",
            )
            .await?;
        let limit = i64::from(clamp_limit(limit));
        c.query(&stmt, &[&after.unwrap_or(i64::MIN), &limit])
            .await?
            .iter()
            .map(|r| {
                Ok(AuditRecord {
                    id: r.try_get(0)?,
                    entry: AuditEntry {
                        at: r.try_get(1)?,
                        actor: r.try_get(2)?,
                        action: r.try_get(3)?,
                        target: r.try_get(4)?,
                        detail: r.try_get(5)?,
                    },
                })
            })
            .collect()
    }

    async fn record_publication(&self, publication: &NewPublication) -> Result<i64> {
        let p = publication;
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        // Recordings take turns (reads go on), so that each prunes with the
        // others' rows in sight and the cap holds exactly.
        tx.batch_execute("LOCK TABLE sup_publications IN SHARE ROW EXCLUSIVE MODE")
            .await?;
        let insert = tx
            .prepare_cached(
                "INSERT INTO sup_publications (at, reporter, catalog_url, catalog_sha256,
                     published_at, products, packages_published, superseded, expired, detail)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
            )
            .await?;
        let id: i64 = tx
            .query_one(
                &insert,
                &[
                    &p.at,
                    &p.reporter,
                    &p.catalog_url,
                    &p.catalog_sha256,
                    &p.published_at,
                    &i64::from(p.products),
                    &i64::from(p.packages_published),
                    &i64::from(p.superseded),
                    &i64::from(p.expired),
                    &p.detail,
                ],
            )
            .await?
            .try_get(0)?;
        // The id of the oldest row to keep; none (NULL) while there are fewer.
        let prune = tx
            .prepare_cached(
                "DELETE FROM sup_publications WHERE id < (
                     SELECT id FROM sup_publications ORDER BY id DESC LIMIT 1 OFFSET $1)",
            )
            .await?;
        tx.execute(&prune, &[&i64::from(MAX_PUBLICATIONS - 1)])
            .await?;
        tx.commit().await?;
        Ok(id)
    }

    async fn list_publications(&self, after: Option<i64>, limit: u32) -> Result<Vec<Publication>> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(&format!(
                "SELECT {PUBLICATION_COLUMNS} FROM sup_publications
                 WHERE id > $1 ORDER BY id LIMIT $2"
            ))
            .await?;
        let limit = i64::from(clamp_limit(limit));
        c.query(&stmt, &[&after.unwrap_or(i64::MIN), &limit])
            .await?
            .iter()
            .map(publication_from_row)
            .collect()
    }

    async fn latest_publication(&self) -> Result<Option<Publication>> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(&format!(
                "SELECT {PUBLICATION_COLUMNS} FROM sup_publications ORDER BY id DESC LIMIT 1"
            ))
            .await?;
        c.query_opt(&stmt, &[])
            .await?
            .as_ref()
            .map(publication_from_row)
            .transpose()
    }

    async fn put_dep_link(&self, link: &NewDepLink) -> Result<bool> {
        check_link_name(&link.name)?;
        self.dep_put_link(link).await
    }

    async fn get_dep_link(&self, name: &str) -> Result<Option<DepLink>> {
        check_link_name(name)?;
        self.dep_get_link(name).await
    }

    async fn list_dep_links(&self) -> Result<Vec<DepLink>> {
        self.dep_list_links().await
    }

    async fn delete_dep_link(&self, name: &str) -> Result<bool> {
        check_link_name(name)?;
        self.dep_delete_link(name).await
    }

    async fn set_dep_cursor(
        &self,
        name: &str,
        cursor: Option<&str>,
        phase: DepPhase,
        now: UnixMillis,
    ) -> Result<()> {
        check_link_name(name)?;
        self.dep_set_cursor(name, cursor, phase, now).await
    }

    async fn record_dep_sync(
        &self,
        name: &str,
        ok: bool,
        error: Option<&str>,
        now: UnixMillis,
    ) -> Result<()> {
        check_link_name(name)?;
        self.dep_record_sync(name, ok, error, now).await
    }

    async fn set_dep_account(
        &self,
        name: &str,
        account_json: Option<&str>,
        server_name: Option<&str>,
        server_uuid: Option<&str>,
        org_name: Option<&str>,
        now: UnixMillis,
    ) -> Result<()> {
        check_link_name(name)?;
        self.dep_set_account(
            name,
            [account_json, server_name, server_uuid, org_name],
            now,
        )
        .await
    }

    async fn set_dep_profile(
        &self,
        name: &str,
        profile_uuid: Option<&str>,
        profile_hash: Option<&str>,
        now: UnixMillis,
    ) -> Result<()> {
        check_link_name(name)?;
        self.dep_set_profile(name, profile_uuid, profile_hash, now)
            .await
    }

    async fn upsert_dep_devices(
        &self,
        link: &str,
        records: &[DepDeviceRecord],
        now: UnixMillis,
    ) -> Result<UpsertOutcome> {
        check_link_name(link)?;
        self.dep_upsert_devices(link, records, now).await
    }

    async fn get_dep_device(&self, link: &str, serial_number: &str) -> Result<Option<DepDevice>> {
        check_link_name(link)?;
        self.dep_get_device(link, serial_number).await
    }

    async fn find_dep_device(&self, serial_number: &str) -> Result<Vec<DepDevice>> {
        self.dep_find_device(serial_number).await
    }

    async fn list_dep_devices(&self, query: &DepDeviceQuery) -> Result<DepDevicePage> {
        if let Some(link) = &query.link {
            check_link_name(link)?;
        }
        self.dep_list_devices(query).await
    }

    async fn dep_devices_to_assign(
        &self,
        link: &str,
        now: UnixMillis,
        limit: u32,
    ) -> Result<Vec<String>> {
        check_link_name(link)?;
        self.dep_to_assign(link, now, limit).await
    }

    async fn set_dep_assignment(
        &self,
        link: &str,
        serials: &[String],
        assignment: &DepAssignment,
    ) -> Result<u64> {
        check_link_name(link)?;
        self.dep_set_assignment(link, serials, assignment).await
    }

    async fn dep_next_assign_retry(&self, link: &str) -> Result<Option<UnixMillis>> {
        check_link_name(link)?;
        self.dep_next_retry(link).await
    }

    async fn record_dep_assign_failure(
        &self,
        link: &str,
        serials: &[String],
        failure: &DepAssignFailure,
    ) -> Result<DepFailureOutcome> {
        check_link_name(link)?;
        self.dep_record_failure(link, serials, failure).await
    }

    async fn requeue_dep_assignments(
        &self,
        link: &str,
        profile_uuid: &str,
        now: UnixMillis,
    ) -> Result<u64> {
        check_link_name(link)?;
        self.dep_requeue(link, profile_uuid, now).await
    }

    async fn dep_device_events(
        &self,
        link: &str,
        serial_number: &str,
        limit: u32,
    ) -> Result<Vec<DepDeviceEvent>> {
        check_link_name(link)?;
        self.dep_events(link, serial_number, limit).await
    }

    async fn prune_dep_events(&self, older_than: UnixMillis) -> Result<u64> {
        self.dep_prune_events(older_than).await
    }

    async fn count_dep_devices(&self, link: &str) -> Result<DepDeviceCounts> {
        check_link_name(link)?;
        self.dep_count_devices(link).await
    }

    async fn health(&self) -> Result<()> {
        let c = self.client().await?;
        c.simple_query("SELECT 1").await?;
        Ok(())
    }

    async fn put_vpp_token(&self, token: &NewVppToken) -> Result<bool> {
        check_token_name(&token.name)?;
        self.vpp_put_token(token).await
    }

    async fn get_vpp_token(&self, name: &str) -> Result<Option<VppToken>> {
        check_token_name(name)?;
        self.vpp_get_token(name).await
    }

    async fn list_vpp_tokens(&self) -> Result<Vec<VppToken>> {
        self.vpp_list_tokens().await
    }

    async fn delete_vpp_token(&self, name: &str) -> Result<bool> {
        check_token_name(name)?;
        self.vpp_delete_token(name).await
    }

    async fn set_vpp_claim(&self, name: &str, claim: &VppClaim) -> Result<()> {
        check_token_name(name)?;
        self.vpp_set_claim(name, claim).await
    }

    async fn record_vpp_claim_error(&self, name: &str, error: &str, now: UnixMillis) -> Result<()> {
        check_token_name(name)?;
        self.vpp_record_claim_error(name, error, now).await
    }

    async fn record_vpp_sync(
        &self,
        name: &str,
        ok: bool,
        error: Option<&str>,
        now: UnixMillis,
    ) -> Result<()> {
        check_token_name(name)?;
        self.vpp_record_sync(name, ok, error, now).await
    }

    async fn upsert_vpp_assets(
        &self,
        token: &str,
        records: &[VppAssetRecord],
        generation: i64,
        now: UnixMillis,
    ) -> Result<()> {
        check_token_name(token)?;
        self.vpp_upsert_assets(token, records, generation, now)
            .await
    }

    async fn finish_vpp_asset_walk(
        &self,
        token: &str,
        generation: i64,
        version_id: Option<&str>,
        now: UnixMillis,
    ) -> Result<u64> {
        check_token_name(token)?;
        self.vpp_finish_walk(token, generation, version_id, now)
            .await
    }

    async fn get_vpp_asset(
        &self,
        token: &str,
        adam_id: &str,
        pricing_param: &str,
    ) -> Result<Option<VppAsset>> {
        check_token_name(token)?;
        self.vpp_get_asset(token, adam_id, pricing_param).await
    }

    async fn list_vpp_assets(&self, query: &VppAssetQuery) -> Result<VppAssetPage> {
        if let Some(t) = &query.token {
            check_token_name(t)?;
        }
        self.vpp_list_assets(query).await
    }

    async fn adjust_vpp_asset_count(
        &self,
        token: &str,
        adam_id: &str,
        pricing_param: &str,
        delta: i64,
        now: UnixMillis,
    ) -> Result<bool> {
        check_token_name(token)?;
        self.vpp_adjust_count(token, adam_id, pricing_param, delta, now)
            .await
    }

    async fn set_vpp_asset_metadata(
        &self,
        token: &str,
        adam_id: &str,
        metadata: &VppAssetMetadata,
        now: UnixMillis,
    ) -> Result<u64> {
        check_token_name(token)?;
        self.vpp_set_metadata(token, adam_id, metadata, now).await
    }

    async fn vpp_assets_without_metadata(&self, token: &str, limit: u32) -> Result<Vec<String>> {
        check_token_name(token)?;
        self.vpp_without_metadata(token, limit).await
    }

    async fn request_vpp_assignments(
        &self,
        request: &VppAssignRequest,
    ) -> Result<VppRequestOutcome> {
        check_token_name(&request.token)?;
        self.vpp_request(request).await
    }

    async fn request_vpp_removals(
        &self,
        token: &str,
        adam_id: &str,
        pricing_param: &str,
        serials: &[String],
        actor: &str,
        now: UnixMillis,
    ) -> Result<u64> {
        check_token_name(token)?;
        self.vpp_request_removals(token, adam_id, pricing_param, serials, actor, now)
            .await
    }

    async fn vpp_assignments_in_state(
        &self,
        token: &str,
        state: VppAssignState,
        now: UnixMillis,
        limit: u32,
    ) -> Result<Vec<VppAssignment>> {
        check_token_name(token)?;
        self.vpp_in_state(token, state, now, limit).await
    }

    async fn set_vpp_assignments(
        &self,
        token: &str,
        adam_id: &str,
        pricing_param: &str,
        serials: &[String],
        update: &VppAssignUpdate,
    ) -> Result<u64> {
        check_token_name(token)?;
        self.vpp_set_assignments(token, adam_id, pricing_param, serials, update)
            .await
    }

    async fn vpp_assignments_by_event(&self, event_id: &str) -> Result<Vec<VppAssignment>> {
        self.vpp_by_event(event_id).await
    }

    async fn vpp_assignments_by_command(
        &self,
        command_uuid: &str,
    ) -> Result<Option<VppAssignment>> {
        self.vpp_by_command(command_uuid).await
    }

    async fn list_vpp_assignments(&self, query: &VppAssignmentQuery) -> Result<VppAssignmentPage> {
        if let Some(t) = &query.token {
            check_token_name(t)?;
        }
        self.vpp_list_assignments(query).await
    }

    async fn count_vpp_assignments(
        &self,
        token: &str,
    ) -> Result<std::collections::BTreeMap<VppAssignState, u64>> {
        check_token_name(token)?;
        self.vpp_count_assignments(token).await
    }

    async fn first_vpp_notification(
        &self,
        notification_id: &str,
        token: &str,
        now: UnixMillis,
    ) -> Result<bool> {
        check_token_name(token)?;
        self.vpp_first_notification(notification_id, token, now)
            .await
    }

    async fn prune_vpp_notifications(&self, before: UnixMillis) -> Result<u64> {
        self.vpp_prune_notifications(before).await
    }
}

impl PostgresStore {
    async fn device_secret(&self, id: &EnrollmentId, secret: Secret) -> Result<Option<Vec<u8>>> {
        let device = key(id)?.0;
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(&format!(
                "SELECT {} FROM enrollments WHERE device = $1 AND user_key = ''",
                secret.column()
            ))
            .await?;
        Ok(match c.query_opt(&stmt, &[&device]).await? {
            Some(r) => r.try_get(0)?,
            None => None,
        })
    }
}

/// The columns of a publication, in the order [`publication_from_row`]
/// reads them.
const PUBLICATION_COLUMNS: &str = "id, at, reporter, catalog_url, catalog_sha256, published_at, \
    products, packages_published, superseded, expired, detail";

fn publication_from_row(r: &Row) -> Result<Publication> {
    let n = |i: usize, what: &'static str| -> Result<u32> { count(r.try_get(i)?, what) };
    Ok(Publication {
        id: r.try_get(0)?,
        publication: NewPublication {
            at: r.try_get(1)?,
            reporter: r.try_get(2)?,
            catalog_url: r.try_get(3)?,
            catalog_sha256: r.try_get(4)?,
            published_at: r.try_get(5)?,
            products: n(6, "sup_publications.products")?,
            packages_published: n(7, "sup_publications.packages_published")?,
            superseded: n(8, "sup_publications.superseded")?,
            expired: n(9, "sup_publications.expired")?,
            detail: r.try_get(10)?,
        },
    })
}

/// The ids as two parallel arrays, for `unnest`.
fn key_arrays(ids: &[EnrollmentId]) -> Result<(Vec<&str>, Vec<&str>)> {
    let mut devices = Vec::with_capacity(ids.len());
    let mut users = Vec::with_capacity(ids.len());
    for id in ids {
        let (d, u) = key(id)?;
        devices.push(d);
        users.push(u);
    }
    Ok((devices, users))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords() {
        assert_eq!(
            redact("postgres://pippin:secret@db:5432/pippin"),
            "postgres://pippin:***@db:5432/pippin"
        );
        assert_eq!(
            redact("postgres://pippin@db/pippin"),
            "postgres://pippin@db/pippin"
        );
        assert_eq!(
            redact("host=db user=pippin password=secret"),
            "host=db user=pippin password=***"
        );
        let c = PostgresConfig::new("postgres://u:pw@h/d");
        assert!(!format!("{c:?}").contains("pw@"));
    }

    #[test]
    fn schema_names() {
        assert!(plain_identifier("pippin"));
        assert!(plain_identifier("_t1"));
        assert!(!plain_identifier("Pippin"));
        assert!(!plain_identifier("1abc"));
        assert!(!plain_identifier("a;drop"));
        assert!(!plain_identifier(""));
        assert!(!plain_identifier(&"a".repeat(64)));
    }

    #[tokio::test]
    async fn refuses_bad_schema_and_url() {
        let mut c = PostgresConfig::new("postgres://u@127.0.0.1:1/d");
        c.schema(Some("x; DROP".into()));
        assert!(matches!(
            PostgresStore::connect(&c).await,
            Err(Error::Config(_))
        ));
        let c = PostgresConfig::new("not a url at all =");
        assert!(matches!(
            PostgresStore::connect(&c).await,
            Err(Error::Config(_))
        ));
    }
}

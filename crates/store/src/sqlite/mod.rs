//! The SQLite backend.

mod dep;
mod ops;
mod vpp;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, mpsc};
use std::time::Duration;

use apple_mdm_protocol::EnrollmentId;
use apple_mdm_protocol::report::Status;
use rusqlite::{Connection, OpenFlags, TransactionBehavior};

use crate::Store;
use crate::common::{Columns, Secret, TouchCache, dedup, owned_key};
use crate::dep::check_link_name;
use crate::error::{Error, Result};
use crate::migrations::{self, SQLITE};
use crate::model::{
    AuditEntry, AuditRecord, AuthenticateRecord, CommandRecord, EnrollmentPage, Inventory,
    InventoryKind, ListQuery, MAX_PUBLICATIONS, MAX_PUSH_BATCH, NewCommand, NewPublication,
    Publication, PushRecord, PushResult, PushTarget, ReportOutcome, Sha256, TokenUpdateRecord,
    TopicCount, UnixMillis,
};
use crate::vpp::check_token_name;
use crate::{
    DepAssignFailure, DepAssignment, DepDevice, DepDeviceCounts, DepDeviceEvent, DepDevicePage,
    DepDeviceQuery, DepDeviceRecord, DepFailureOutcome, DepLink, DepPhase, NewDepLink, NewVppToken,
    UpsertOutcome, VppAsset, VppAssetMetadata, VppAssetPage, VppAssetQuery, VppAssetRecord,
    VppAssignRequest, VppAssignState, VppAssignUpdate, VppAssignment, VppAssignmentPage,
    VppAssignmentQuery, VppClaim, VppRequestOutcome, VppToken,
};

/// Settings of a [`SqliteStore`].
#[derive(Clone, Debug)]
pub struct SqliteConfig {
    /// Read-only connections serving reads next to the writer (file
    /// databases only; an in-memory database has only its writer).
    pub readers: usize,
    /// How long a statement waits for a lock held by another process before
    /// failing (`PRAGMA busy_timeout`).
    pub busy_timeout: Duration,
    /// [`Store::touch`] moves the last-seen time only when it is at least
    /// this old, in milliseconds.
    pub touch_interval: UnixMillis,
    /// Page cache of each connection, in KiB (`PRAGMA cache_size`).
    pub cache_kib: u32,
}

impl Default for SqliteConfig {
    fn default() -> Self {
        Self {
            readers: 3,
            busy_timeout: Duration::from_secs(5),
            touch_interval: 60_000,
            cache_kib: 16 * 1024,
        }
    }
}

impl SqliteConfig {
    /// Sets [`readers`](Self::readers).
    pub fn readers(&mut self, n: usize) -> &mut Self {
        self.readers = n;
        self
    }

    /// Sets [`busy_timeout`](Self::busy_timeout).
    pub fn busy_timeout(&mut self, d: Duration) -> &mut Self {
        self.busy_timeout = d;
        self
    }

    /// Sets [`touch_interval`](Self::touch_interval).
    pub fn touch_interval(&mut self, ms: UnixMillis) -> &mut Self {
        self.touch_interval = ms;
        self
    }

    /// Sets [`cache_kib`](Self::cache_kib).
    pub fn cache_kib(&mut self, kib: u32) -> &mut Self {
        self.cache_kib = kib;
        self
    }
}

/// A [`Store`] in an SQLite database.
///
/// Every change goes through one writer connection, owned by a thread of
/// its own that runs the changes one after the other: they are serialised,
/// and a queue entry is never handed out twice at once. Reads use a few
/// read-only connections on tokio's blocking thread pool, which in WAL mode
/// see the last committed state without waiting for the writer. The database runs with
/// `journal_mode=WAL`, `synchronous=NORMAL` (a commit is durable once the
/// WAL is checkpointed, and the database is never corrupted by a crash) and
/// foreign keys enforced.
///
/// The store needs a tokio runtime (for the readers). Cloning is cheap and
/// shares the connections; the writer thread ends, and the database is
/// closed, when the last clone is dropped.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

/// A change for the writer thread to run.
type Job = Box<dyn FnOnce(&mut Connection) + Send>;

#[derive(Debug)]
struct Inner {
    path: Option<PathBuf>,
    /// To the writer thread, which owns the writer connection.
    writer: mpsc::Sender<Job>,
    readers: Vec<Mutex<Connection>>,
    next_reader: AtomicUsize,
    touch: TouchCache,
}

impl SqliteStore {
    /// Opens (creating it, and its directory, if needed) the database at
    /// `path` with default settings, and brings its schema up to date.
    ///
    /// This blocks on file I/O: call it at start-up, or from
    /// `spawn_blocking`.
    pub fn open(path: &Path) -> Result<Self> {
        Self::open_with(path, &SqliteConfig::default())
    }

    /// [`open`](Self::open) with settings.
    pub fn open_with(path: &Path, config: &SqliteConfig) -> Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| Error::Io {
                path: dir.to_owned(),
                source,
            })?;
        }
        let mut writer = Connection::open(path)?;
        configure(&writer, config)?;
        // `journal_mode` answers with the mode in force.
        let mode: String =
            writer.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(Error::Config(format!(
                "{} cannot use WAL mode (journal_mode is {mode})",
                path.display()
            )));
        }
        writer.pragma_update(None, "synchronous", "NORMAL")?;
        migrate(&mut writer)?;
        let mut readers = Vec::with_capacity(config.readers);
        for _ in 0..config.readers {
            let r = Connection::open_with_flags(
                path,
                OpenFlags::SQLITE_OPEN_READ_ONLY
                    | OpenFlags::SQLITE_OPEN_NO_MUTEX
                    | OpenFlags::SQLITE_OPEN_URI,
            )?;
            configure(&r, config)?;
            readers.push(Mutex::new(r));
        }
        Self::from_parts(Some(path.to_owned()), writer, readers, config)
    }

    /// A private in-memory database with default settings (for tests and
    /// trials): gone when the store is dropped.
    pub fn open_in_memory() -> Result<Self> {
        Self::open_in_memory_with(&SqliteConfig::default())
    }

    /// [`open_in_memory`](Self::open_in_memory) with settings.
    pub fn open_in_memory_with(config: &SqliteConfig) -> Result<Self> {
        let mut writer = Connection::open_in_memory()?;
        configure(&writer, config)?;
        migrate(&mut writer)?;
        Self::from_parts(None, writer, Vec::new(), config)
    }

    fn from_parts(
        path: Option<PathBuf>,
        writer: Connection,
        readers: Vec<Mutex<Connection>>,
        config: &SqliteConfig,
    ) -> Result<Self> {
        let (jobs, queue) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("pippin-sqlite-writer".into())
            .spawn(move || {
                let mut conn = writer;
                // Ends when every sender (every clone of the store) is gone.
                while let Ok(job) = queue.recv() {
                    // A panicking job has rolled its transaction back while
                    // unwinding; its caller sees the dropped answer channel.
                    let _ =
                        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(&mut conn)));
                }
            })
            .map_err(|e| Error::Worker(format!("starting the SQLite writer thread: {e}")))?;
        Ok(Self {
            inner: Arc::new(Inner {
                path,
                writer: jobs,
                readers,
                next_reader: AtomicUsize::new(0),
                touch: TouchCache::new(config.touch_interval),
            }),
        })
    }

    /// The database file (`None` in memory).
    pub fn path(&self) -> Option<&Path> {
        self.inner.path.as_deref()
    }

    /// The highest schema migration applied.
    pub async fn schema_version(&self) -> Result<i64> {
        self.read(|c| {
            Ok(c.query_row(
                "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
                [],
                |r| r.get(0),
            )?)
        })
        .await
    }

    /// Runs `f` on the writer connection, on the writer thread.
    async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |c| {
            // The caller may have gone away; the change is made all the same.
            let _ = tx.send(f(c));
        });
        self.inner
            .writer
            .send(job)
            .map_err(|_| Error::Worker("the SQLite writer thread has stopped".into()))?;
        rx.await
            .map_err(|_| Error::Worker("the SQLite writer failed (it panicked)".into()))?
    }

    /// Runs `f` on a reader connection, on the blocking pool (on the writer
    /// when there is no reader: in memory).
    async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        if self.inner.readers.is_empty() {
            return self.write(move |c| f(c)).await;
        }
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || {
            let n = inner.readers.len();
            let start = inner.next_reader.fetch_add(1, Ordering::Relaxed) % n;
            for i in 0..n {
                match inner.readers[(start + i) % n].try_lock() {
                    Ok(conn) => return f(&conn),
                    Err(std::sync::TryLockError::Poisoned(p)) => return f(&p.into_inner()),
                    Err(std::sync::TryLockError::WouldBlock) => {}
                }
            }
            let conn = inner.readers[start]
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            f(&conn)
        })
        .await
        .map_err(|e| Error::Worker(e.to_string()))?
    }
}

/// Settings every connection gets.
fn configure(c: &Connection, config: &SqliteConfig) -> Result<()> {
    c.busy_timeout(config.busy_timeout)?;
    c.pragma_update(None, "foreign_keys", "ON")?;
    c.pragma_update(None, "cache_size", -i64::from(config.cache_kib))?;
    c.pragma_update(None, "temp_store", "MEMORY")?;
    c.set_prepared_statement_cache_capacity(64);
    Ok(())
}

/// Applies the migrations not yet applied, each in its own immediate
/// transaction (which also keeps another process from applying it at the
/// same time).
fn migrate(c: &mut Connection) -> Result<()> {
    c.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version    INTEGER PRIMARY KEY,
            name       TEXT    NOT NULL,
            applied_at INTEGER NOT NULL
        )",
    )?;
    let known = migrations::latest(SQLITE);
    let found: i64 = c.query_row(
        "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
        [],
        |r| r.get(0),
    )?;
    if found > known {
        return Err(Error::SchemaTooNew { found, known });
    }
    for m in SQLITE {
        let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let applied: bool = tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = ?1)",
            [m.version],
            |r| r.get(0),
        )?;
        if !applied {
            tx.execute_batch(m.sql)?;
            tx.execute(
                "INSERT INTO schema_migrations (version, name, applied_at)
                 VALUES (?1, ?2, CAST(unixepoch('subsec') * 1000 AS INTEGER))",
                rusqlite::params![m.version, m.name],
            )?;
        }
        tx.commit()?;
    }
    Ok(())
}

impl Columns for rusqlite::Row<'_> {
    fn string(&self, i: usize) -> Result<String> {
        Ok(self.get(i)?)
    }
    fn opt_string(&self, i: usize) -> Result<Option<String>> {
        Ok(self.get(i)?)
    }
    fn opt_bytes(&self, i: usize) -> Result<Option<Vec<u8>>> {
        Ok(self.get(i)?)
    }
    fn boolean(&self, i: usize) -> Result<bool> {
        Ok(self.get(i)?)
    }
    fn opt_bool(&self, i: usize) -> Result<Option<bool>> {
        Ok(self.get(i)?)
    }
    fn int(&self, i: usize) -> Result<i64> {
        Ok(self.get(i)?)
    }
    fn opt_int(&self, i: usize) -> Result<Option<i64>> {
        Ok(self.get(i)?)
    }
}

#[async_trait::async_trait]
impl Store for SqliteStore {
    async fn authenticate(&self, rec: &AuthenticateRecord) -> Result<()> {
        owned_key(&EnrollmentId::device(rec.device.clone()))?;
        let rec = rec.clone();
        self.write(move |c| ops::authenticate(c, &rec)).await
    }

    async fn token_update(&self, id: &EnrollmentId, rec: &TokenUpdateRecord) -> Result<()> {
        let key = owned_key(id)?;
        let rec = rec.clone();
        self.write(move |c| ops::token_update(c, &key, &rec)).await
    }

    async fn check_out(&self, id: &EnrollmentId, now: UnixMillis) -> Result<()> {
        let key = owned_key(id)?;
        self.write(move |c| ops::check_out(c, &key, now)).await
    }

    async fn get_enrollment(&self, id: &EnrollmentId) -> Result<Option<crate::Enrollment>> {
        let key = owned_key(id)?;
        self.read(move |c| ops::get_enrollment(c, &key)).await
    }

    async fn list_enrollments(&self, query: &ListQuery) -> Result<EnrollmentPage> {
        let after = query.after.as_ref().map(owned_key).transpose()?;
        let (limit, enrolled_only) = (query.limit, query.enrolled_only);
        self.read(move |c| ops::list_enrollments(c, after.as_ref(), limit, enrolled_only))
            .await
    }

    async fn count_enrollments(&self, enrolled_only: bool) -> Result<u64> {
        self.read(move |c| ops::count_enrollments(c, enrolled_only))
            .await
    }

    async fn touch(&self, id: &EnrollmentId, now: UnixMillis) -> Result<()> {
        let key = owned_key(id)?;
        if !self.inner.touch.due(&key.0, &key.1, now) {
            return Ok(());
        }
        let interval = self.inner.touch.interval();
        self.write(move |c| ops::touch(c, &key, now, interval))
            .await
    }

    async fn bind_identity(&self, id: &EnrollmentId, sha256: Sha256) -> Result<()> {
        let device = owned_key(id)?.0;
        self.write(move |c| ops::bind_identity(c, &device, &sha256))
            .await
    }

    async fn identity_for(&self, id: &EnrollmentId) -> Result<Option<Sha256>> {
        let device = owned_key(id)?.0;
        self.read(move |c| ops::identity_for(c, &device)).await
    }

    async fn rebind_identity(&self, id: &EnrollmentId, old: Sha256, new: Sha256) -> Result<()> {
        let device = owned_key(id)?.0;
        self.write(move |c| ops::rebind_identity(c, &device, &old, &new))
            .await
    }

    async fn record_renewal(&self, old: Sha256, new: Sha256, now: UnixMillis) -> Result<()> {
        self.write(move |c| ops::record_renewal(c, &old, &new, now))
            .await
    }

    async fn renewed_from(&self, new: Sha256) -> Result<Option<Sha256>> {
        self.read(move |c| ops::renewed_from(c, &new)).await
    }

    async fn set_bootstrap_token(&self, id: &EnrollmentId, token: Option<Vec<u8>>) -> Result<()> {
        let device = owned_key(id)?.0;
        self.write(move |c| ops::set_device_secret(c, &device, Secret::Bootstrap, token))
            .await
    }

    async fn get_bootstrap_token(&self, id: &EnrollmentId) -> Result<Option<Vec<u8>>> {
        let device = owned_key(id)?.0;
        self.read(move |c| ops::device_secret(c, &device, Secret::Bootstrap))
            .await
    }

    async fn get_unlock_token(&self, id: &EnrollmentId) -> Result<Option<Vec<u8>>> {
        let device = owned_key(id)?.0;
        self.read(move |c| ops::device_secret(c, &device, Secret::Unlock))
            .await
    }

    async fn mark_push_result(
        &self,
        id: &EnrollmentId,
        token: &[u8],
        result: &PushResult,
    ) -> Result<()> {
        let key = owned_key(id)?;
        let token = token.to_vec();
        let result = result.clone();
        self.write(move |c| ops::mark_push_result(c, &key, &token, &result))
            .await
    }

    async fn mark_push_results(&self, records: &[PushRecord]) -> Result<u64> {
        if records.len() > MAX_PUSH_BATCH {
            return Err(Error::BatchTooLarge {
                len: records.len(),
                max: MAX_PUSH_BATCH,
            });
        }
        let records = records
            .iter()
            .map(|r| Ok((owned_key(&r.id)?, r.clone())))
            .collect::<Result<Vec<_>>>()?;
        self.write(move |c| ops::mark_push_results(c, &records))
            .await
    }

    async fn enrolled_topics(&self) -> Result<Vec<TopicCount>> {
        self.read(ops::enrolled_topics).await
    }

    async fn enqueue_more(&self, uuid: &str, ids: &[EnrollmentId]) -> Result<u64> {
        if ids.len() > MAX_PUSH_BATCH {
            return Err(Error::BatchTooLarge {
                len: ids.len(),
                max: MAX_PUSH_BATCH,
            });
        }
        let keys = dedup(ids)
            .iter()
            .map(owned_key)
            .collect::<Result<Vec<_>>>()?;
        let uuid = uuid.to_owned();
        self.write(move |c| ops::enqueue_more(c, &uuid, &keys))
            .await
    }

    async fn push_targets(&self, ids: &[EnrollmentId]) -> Result<Vec<PushTarget>> {
        let keys = dedup(ids)
            .iter()
            .map(owned_key)
            .collect::<Result<Vec<_>>>()?;
        self.read(move |c| ops::push_targets(c, &keys)).await
    }

    async fn enqueue(&self, ids: &[EnrollmentId], cmd: NewCommand) -> Result<()> {
        let keys = dedup(ids)
            .iter()
            .map(owned_key)
            .collect::<Result<Vec<_>>>()?;
        if keys.is_empty() {
            return Err(Error::NoTargets);
        }
        self.write(move |c| ops::enqueue(c, &keys, &cmd)).await
    }

    async fn handle_report(
        &self,
        id: &EnrollmentId,
        status: Status,
        command_uuid: Option<&str>,
        result: Option<Vec<u8>>,
        now: UnixMillis,
    ) -> Result<ReportOutcome> {
        let key = owned_key(id)?;
        let uuid = command_uuid.map(str::to_owned);
        self.write(move |c| ops::handle_report(c, &key, status, uuid.as_deref(), result, now))
            .await
    }

    async fn get_command(&self, uuid: &str) -> Result<Option<CommandRecord>> {
        let uuid = uuid.to_owned();
        self.read(move |c| ops::get_command(c, &uuid)).await
    }

    async fn cancel_command(
        &self,
        uuid: &str,
        id: Option<&EnrollmentId>,
        now: UnixMillis,
    ) -> Result<usize> {
        let key = id.map(owned_key).transpose()?;
        let uuid = uuid.to_owned();
        self.write(move |c| ops::cancel_command(c, &uuid, key.as_ref(), now))
            .await
    }

    async fn queue_depth(&self, id: &EnrollmentId) -> Result<u64> {
        let key = owned_key(id)?;
        self.read(move |c| ops::queue_depth(c, Some(&key))).await
    }

    async fn queue_depth_total(&self) -> Result<u64> {
        self.read(move |c| ops::queue_depth(c, None)).await
    }

    async fn put_inventory(
        &self,
        id: &EnrollmentId,
        kind: InventoryKind,
        data: &serde_json::Value,
        now: UnixMillis,
    ) -> Result<()> {
        let key = owned_key(id)?;
        let summary = (kind == InventoryKind::DeviceInformation)
            .then(|| crate::common::DeviceSummary::from_device_information(data));
        let text = data.to_string();
        self.write(move |c| ops::put_inventory(c, &key, kind, &text, summary.as_ref(), now))
            .await
    }

    async fn get_inventory(&self, id: &EnrollmentId) -> Result<Inventory> {
        let key = owned_key(id)?;
        self.read(move |c| ops::get_inventory(c, &key)).await
    }

    async fn audit(&self, entry: &AuditEntry) -> Result<i64> {
        let entry = entry.clone();
        self.write(move |c| ops::audit(c, &entry)).await
    }

    async fn list_audit(&self, after: Option<i64>, limit: u32) -> Result<Vec<AuditRecord>> {
        self.read(move |c| ops::list_audit(c, after, limit)).await
    }

    async fn record_publication(&self, publication: &NewPublication) -> Result<i64> {
        let publication = publication.clone();
        self.write(move |c| ops::record_publication(c, &publication, MAX_PUBLICATIONS))
            .await
    }

    async fn list_publications(&self, after: Option<i64>, limit: u32) -> Result<Vec<Publication>> {
        self.read(move |c| ops::list_publications(c, after, limit))
            .await
    }

    async fn latest_publication(&self) -> Result<Option<Publication>> {
        self.read(ops::latest_publication).await
    }

    async fn put_dep_link(&self, link: &NewDepLink) -> Result<bool> {
        check_link_name(&link.name)?;
        let link = link.clone();
        self.write(move |c| dep::put_link(c, &link)).await
    }

    async fn get_dep_link(&self, name: &str) -> Result<Option<DepLink>> {
        check_link_name(name)?;
        let name = name.to_owned();
        self.read(move |c| dep::get_link(c, &name)).await
    }

    async fn list_dep_links(&self) -> Result<Vec<DepLink>> {
        self.read(dep::list_links).await
    }

    async fn delete_dep_link(&self, name: &str) -> Result<bool> {
        check_link_name(name)?;
        let name = name.to_owned();
        self.write(move |c| dep::delete_link(c, &name)).await
    }

    async fn set_dep_cursor(
        &self,
        name: &str,
        cursor: Option<&str>,
        phase: DepPhase,
        now: UnixMillis,
    ) -> Result<()> {
        check_link_name(name)?;
        let name = name.to_owned();
        let cursor = cursor.map(str::to_owned);
        self.write(move |c| dep::set_cursor(c, &name, cursor.as_deref(), phase, now))
            .await
    }

    async fn record_dep_sync(
        &self,
        name: &str,
        ok: bool,
        error: Option<&str>,
        now: UnixMillis,
    ) -> Result<()> {
        check_link_name(name)?;
        let name = name.to_owned();
        let error = error.map(str::to_owned);
        self.write(move |c| dep::record_sync(c, &name, ok, error.as_deref(), now))
            .await
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
        let name = name.to_owned();
        let account = dep::Account {
            json: account_json.map(str::to_owned),
            server_name: server_name.map(str::to_owned),
            server_uuid: server_uuid.map(str::to_owned),
            org_name: org_name.map(str::to_owned),
        };
        self.write(move |c| dep::set_account(c, &name, &account, now))
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
        let name = name.to_owned();
        let uuid = profile_uuid.map(str::to_owned);
        let hash = profile_hash.map(str::to_owned);
        self.write(move |c| dep::set_profile(c, &name, uuid.as_deref(), hash.as_deref(), now))
            .await
    }

    async fn upsert_dep_devices(
        &self,
        link: &str,
        records: &[DepDeviceRecord],
        now: UnixMillis,
    ) -> Result<UpsertOutcome> {
        check_link_name(link)?;
        // Refused before copying the batch.
        crate::dep::check_batch(records.len())?;
        let link = link.to_owned();
        let records = records.to_vec();
        self.write(move |c| dep::upsert_devices(c, &link, &records, now))
            .await
    }

    async fn get_dep_device(&self, link: &str, serial_number: &str) -> Result<Option<DepDevice>> {
        check_link_name(link)?;
        let (link, serial) = (link.to_owned(), serial_number.to_owned());
        self.read(move |c| dep::get_device(c, &link, &serial)).await
    }

    async fn find_dep_device(&self, serial_number: &str) -> Result<Vec<DepDevice>> {
        let serial = serial_number.to_owned();
        self.read(move |c| dep::find_device(c, &serial)).await
    }

    async fn list_dep_devices(&self, query: &DepDeviceQuery) -> Result<DepDevicePage> {
        if let Some(link) = &query.link {
            check_link_name(link)?;
        }
        let query = query.clone();
        self.read(move |c| dep::list_devices(c, &query)).await
    }

    async fn dep_devices_to_assign(
        &self,
        link: &str,
        now: UnixMillis,
        limit: u32,
    ) -> Result<Vec<String>> {
        check_link_name(link)?;
        let link = link.to_owned();
        self.read(move |c| dep::to_assign(c, &link, now, limit))
            .await
    }

    async fn set_dep_assignment(
        &self,
        link: &str,
        serials: &[String],
        assignment: &DepAssignment,
    ) -> Result<u64> {
        check_link_name(link)?;
        crate::dep::check_batch(serials.len())?;
        let link = link.to_owned();
        let serials = serials.to_vec();
        let assignment = assignment.clone();
        self.write(move |c| dep::set_assignment(c, &link, &serials, &assignment))
            .await
    }

    async fn dep_next_assign_retry(&self, link: &str) -> Result<Option<UnixMillis>> {
        check_link_name(link)?;
        let link = link.to_owned();
        self.read(move |c| dep::next_retry(c, &link)).await
    }

    async fn record_dep_assign_failure(
        &self,
        link: &str,
        serials: &[String],
        failure: &DepAssignFailure,
    ) -> Result<DepFailureOutcome> {
        check_link_name(link)?;
        crate::dep::check_batch(serials.len())?;
        let link = link.to_owned();
        let serials = serials.to_vec();
        let failure = failure.clone();
        self.write(move |c| dep::record_failure(c, &link, &serials, &failure))
            .await
    }

    async fn requeue_dep_assignments(
        &self,
        link: &str,
        profile_uuid: &str,
        now: UnixMillis,
    ) -> Result<u64> {
        check_link_name(link)?;
        let link = link.to_owned();
        let uuid = profile_uuid.to_owned();
        self.write(move |c| dep::requeue(c, &link, &uuid, now))
            .await
    }

    async fn dep_device_events(
        &self,
        link: &str,
        serial_number: &str,
        limit: u32,
    ) -> Result<Vec<DepDeviceEvent>> {
        check_link_name(link)?;
        let (link, serial) = (link.to_owned(), serial_number.to_owned());
        self.read(move |c| dep::events(c, &link, &serial, limit))
            .await
    }

    async fn prune_dep_events(&self, older_than: UnixMillis) -> Result<u64> {
        self.write(move |c| dep::prune_events(c, older_than)).await
    }

    async fn count_dep_devices(&self, link: &str) -> Result<DepDeviceCounts> {
        check_link_name(link)?;
        let link = link.to_owned();
        self.read(move |c| dep::count_devices(c, &link)).await
    }

    async fn health(&self) -> Result<()> {
        self.read(|c| {
            Ok(c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))
                .map(drop)?)
        })
        .await
    }

    async fn put_vpp_token(&self, token: &NewVppToken) -> Result<bool> {
        check_token_name(&token.name)?;
        let token = token.clone();
        self.write(move |c| vpp::put_token(c, &token)).await
    }

    async fn get_vpp_token(&self, name: &str) -> Result<Option<VppToken>> {
        check_token_name(name)?;
        let name = name.to_owned();
        self.read(move |c| vpp::get_token(c, &name)).await
    }

    async fn list_vpp_tokens(&self) -> Result<Vec<VppToken>> {
        self.read(vpp::list_tokens).await
    }

    async fn delete_vpp_token(&self, name: &str) -> Result<bool> {
        check_token_name(name)?;
        let name = name.to_owned();
        self.write(move |c| vpp::delete_token(c, &name)).await
    }

    async fn set_vpp_claim(&self, name: &str, claim: &VppClaim) -> Result<()> {
        check_token_name(name)?;
        let name = name.to_owned();
        let claim = claim.clone();
        self.write(move |c| vpp::set_claim(c, &name, &claim)).await
    }

    async fn record_vpp_claim_error(&self, name: &str, error: &str, now: UnixMillis) -> Result<()> {
        check_token_name(name)?;
        let (name, error) = (name.to_owned(), error.to_owned());
        self.write(move |c| vpp::record_claim_error(c, &name, &error, now))
            .await
    }

    async fn record_vpp_sync(
        &self,
        name: &str,
        ok: bool,
        error: Option<&str>,
        now: UnixMillis,
    ) -> Result<()> {
        check_token_name(name)?;
        let name = name.to_owned();
        let error = error.map(str::to_owned);
        self.write(move |c| vpp::record_sync(c, &name, ok, error.as_deref(), now))
            .await
    }

    async fn upsert_vpp_assets(
        &self,
        token: &str,
        records: &[VppAssetRecord],
        generation: i64,
        now: UnixMillis,
    ) -> Result<()> {
        check_token_name(token)?;
        // Refused before copying the batch.
        crate::vpp::check_batch(records.len())?;
        let token = token.to_owned();
        let records = records.to_vec();
        self.write(move |c| vpp::upsert_assets(c, &token, &records, generation, now))
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
        let token = token.to_owned();
        let version = version_id.map(str::to_owned);
        self.write(move |c| vpp::finish_walk(c, &token, generation, version.as_deref(), now))
            .await
    }

    async fn get_vpp_asset(
        &self,
        token: &str,
        adam_id: &str,
        pricing_param: &str,
    ) -> Result<Option<VppAsset>> {
        check_token_name(token)?;
        let key = (
            token.to_owned(),
            adam_id.to_owned(),
            pricing_param.to_owned(),
        );
        self.read(move |c| vpp::get_asset(c, &key.0, &key.1, &key.2))
            .await
    }

    async fn list_vpp_assets(&self, query: &VppAssetQuery) -> Result<VppAssetPage> {
        if let Some(t) = &query.token {
            check_token_name(t)?;
        }
        let query = query.clone();
        self.read(move |c| vpp::list_assets(c, &query)).await
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
        let key = (
            token.to_owned(),
            adam_id.to_owned(),
            pricing_param.to_owned(),
        );
        self.write(move |c| vpp::adjust_count(c, &key.0, &key.1, &key.2, delta, now))
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
        let (token, adam_id) = (token.to_owned(), adam_id.to_owned());
        let metadata = metadata.clone();
        self.write(move |c| vpp::set_metadata(c, &token, &adam_id, &metadata, now))
            .await
    }

    async fn vpp_assets_without_metadata(&self, token: &str, limit: u32) -> Result<Vec<String>> {
        check_token_name(token)?;
        let token = token.to_owned();
        self.read(move |c| vpp::without_metadata(c, &token, limit))
            .await
    }

    async fn request_vpp_assignments(
        &self,
        request: &VppAssignRequest,
    ) -> Result<VppRequestOutcome> {
        check_token_name(&request.token)?;
        crate::vpp::check_batch(request.devices.len())?;
        let request = request.clone();
        self.write(move |c| vpp::request(c, &request)).await
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
        crate::vpp::check_batch(serials.len())?;
        let key = (
            token.to_owned(),
            adam_id.to_owned(),
            pricing_param.to_owned(),
        );
        let (serials, actor) = (serials.to_vec(), actor.to_owned());
        self.write(move |c| vpp::request_removals(c, &key.0, &key.1, &key.2, &serials, &actor, now))
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
        let token = token.to_owned();
        self.read(move |c| vpp::in_state(c, &token, state, now, limit))
            .await
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
        crate::vpp::check_batch(serials.len())?;
        let key = (
            token.to_owned(),
            adam_id.to_owned(),
            pricing_param.to_owned(),
        );
        let (serials, update) = (serials.to_vec(), update.clone());
        self.write(move |c| vpp::set_assignments(c, &key.0, &key.1, &key.2, &serials, &update))
            .await
    }

    async fn vpp_assignments_by_event(&self, event_id: &str) -> Result<Vec<VppAssignment>> {
        let event_id = event_id.to_owned();
        self.read(move |c| vpp::by_event(c, &event_id)).await
    }

    async fn vpp_assignments_by_command(
        &self,
        command_uuid: &str,
    ) -> Result<Option<VppAssignment>> {
        let uuid = command_uuid.to_owned();
        self.read(move |c| vpp::by_command(c, &uuid)).await
    }

    async fn list_vpp_assignments(&self, query: &VppAssignmentQuery) -> Result<VppAssignmentPage> {
        if let Some(t) = &query.token {
            check_token_name(t)?;
        }
        let query = query.clone();
        self.read(move |c| vpp::list_assignments(c, &query)).await
    }

    async fn count_vpp_assignments(
        &self,
        token: &str,
    ) -> Result<std::collections::BTreeMap<VppAssignState, u64>> {
        check_token_name(token)?;
        let token = token.to_owned();
        self.read(move |c| vpp::count_assignments(c, &token)).await
    }

    async fn first_vpp_notification(
        &self,
        notification_id: &str,
        token: &str,
        now: UnixMillis,
    ) -> Result<bool> {
        check_token_name(token)?;
        let (id, token) = (notification_id.to_owned(), token.to_owned());
        self.write(move |c| vpp::first_notification(c, &id, &token, now))
            .await
    }

    async fn prune_vpp_notifications(&self, before: UnixMillis) -> Result<u64> {
        self.write(move |c| vpp::prune_notifications(c, before))
            .await
    }
}

#[cfg(test)]
mod tests;

//! The conformance suite on PostgreSQL, and what only several connections
//! show: queue entries are never handed out twice at once, and processes
//! starting together migrate once.
//!
//! Runs when `PIPPIN_TEST_POSTGRES_URL` names a database the tests may
//! create schemas in (see the crate README); each test works in a schema of
//! its own and drops it. Without the variable the tests are skipped, except
//! under CI (`CI=true`), where that is a failure.

#![cfg(feature = "postgres")]

mod suite;

use std::collections::HashSet;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use apple_mdm_protocol::report::Status;
use pippin_store::{PostgresConfig, PostgresStore, Store};

const URL_VAR: &str = "PIPPIN_TEST_POSTGRES_URL";

/// The latest migration's version, and how many migrations there are.
const SCHEMA_VERSION: i64 = 7;
const MIGRATIONS: i64 = 7;

/// The test database's URL, or `None` (after a loud notice) when the tests
/// are to be skipped.
fn url(test: &str) -> Option<String> {
    match std::env::var(URL_VAR) {
        Ok(u) if !u.trim().is_empty() => Some(u),
        _ => {
            let msg = format!("{URL_VAR} is not set; test `{test}` needs PostgreSQL");
            if test_support::in_ci() {
                panic!("{msg} (CI=true: PostgreSQL tests must run)");
            }
            eprintln!("\n*** SKIPPED: {msg} ***\n");
            None
        }
    }
}

/// A schema name no other test uses.
fn fresh_schema() -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.write_u64(N.fetch_add(1, Ordering::Relaxed));
    format!("pippin_test_{:016x}", h.finish())
}

/// A store in a schema of its own, dropped by [`Pg::finish`].
struct Pg {
    url: String,
    schema: String,
    store: Arc<PostgresStore>,
}

impl Pg {
    async fn new(test: &str) -> Option<Self> {
        Self::with_pool(test, 4).await
    }

    async fn with_pool(test: &str, pool_size: usize) -> Option<Self> {
        let url = url(test)?;
        let schema = fresh_schema();
        let store = PostgresStore::connect(
            PostgresConfig::new(url.clone())
                .schema(Some(schema.clone()))
                .pool_size(pool_size),
        )
        .await
        .unwrap_or_else(|e| panic!("connecting to {URL_VAR}: {e}"));
        Some(Self {
            url,
            schema,
            store: Arc::new(store),
        })
    }

    /// Runs SQL on a connection of the test's own.
    async fn sql(&self, sql: &str) {
        run_sql(&self.url, sql).await;
    }

    async fn finish(self) {
        drop(self.store);
        run_sql(
            &self.url,
            &format!("DROP SCHEMA IF EXISTS {} CASCADE", self.schema),
        )
        .await;
    }
}

/// Runs SQL on a connection of its own.
async fn run_sql(url: &str, sql: &str) {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    let task = tokio::spawn(conn);
    client.batch_execute(sql).await.unwrap();
    drop(client);
    let _ = task.await;
}

/// Runs `body` with the store, drops the schema whatever happens, then
/// passes a failure on.
async fn with_pg<F, Fut>(test: &str, body: F)
where
    F: FnOnce(Arc<PostgresStore>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let Some(pg) = Pg::new(test).await else {
        return;
    };
    let result = tokio::spawn(body(Arc::clone(&pg.store))).await;
    pg.finish().await;
    if let Err(e) = result {
        std::panic::resume_unwind(e.into_panic());
    }
}

macro_rules! on_postgres {
    ($($name:ident),* $(,)?) => {
        mod conformance {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::with_pg(stringify!($name), |s| async move {
                        super::suite::$name(&*s).await
                    })
                    .await;
                }
            )*
        }
    };
}

for_each_conformance_test!(on_postgres);

#[test]
fn queue_matches_reference_model() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let Some(pg) = rt.block_on(Pg::new("queue_matches_reference_model")) else {
        return;
    };
    let store: Arc<dyn Store> = pg.store.clone();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        suite::run_queue_model(&rt, 48, || Arc::clone(&store));
    }));
    drop(store);
    rt.block_on(pg.finish());
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
}

#[test]
fn licenses_match_reference_model() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let Some(pg) = rt.block_on(Pg::new("licenses_match_reference_model")) else {
        return;
    };
    let store: Arc<dyn Store> = pg.store.clone();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        suite::run_license_model(&rt, 24, || Arc::clone(&store));
    }));
    drop(store);
    rt.block_on(pg.finish());
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
}

/// Several report handlers for one device at once, each holding its
/// transaction open a while after marking an entry sent (a trigger sleeps):
/// each gets a different command, or none when every entry is taken.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_idles_never_share_an_entry() {
    const TASKS: usize = 8;
    const COMMANDS: usize = 4;
    let Some(pg) = Pg::with_pool("concurrent_idles_never_share_an_entry", TASKS + 2).await else {
        return;
    };
    let store = Arc::clone(&pg.store);
    let schema = pg.schema.clone();
    pg.sql(&format!(
        "CREATE FUNCTION {schema}.slow_sent() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
             IF NEW.state = 'sent' THEN PERFORM pg_sleep(1.0); END IF;
             RETURN NEW;
         END $$;
         CREATE TRIGGER slow_sent BEFORE UPDATE ON {schema}.queue
             FOR EACH ROW EXECUTE FUNCTION {schema}.slow_sent();"
    ))
    .await;

    let result = tokio::spawn(async move {
        let d = suite::enroll(&*store, "CONC-1", 1).await;
        for i in 0..COMMANDS {
            store
                .enqueue(
                    std::slice::from_ref(&d),
                    suite::command(&format!("conc-{i}"), 0, i as i64),
                )
                .await
                .unwrap();
        }
        // Open every connection first, so the handlers start together.
        let warm: Vec<_> = (0..TASKS)
            .map(|_| {
                let s = Arc::clone(&store);
                tokio::spawn(async move { s.health().await.unwrap() })
            })
            .collect();
        for w in warm {
            w.await.unwrap();
        }
        let barrier = Arc::new(tokio::sync::Barrier::new(TASKS));
        let tasks: Vec<_> = (0..TASKS)
            .map(|_| {
                let s = Arc::clone(&store);
                let d = d.clone();
                let b = Arc::clone(&barrier);
                tokio::spawn(async move {
                    b.wait().await;
                    s.handle_report(&d, Status::Idle, None, None, 100)
                        .await
                        .unwrap()
                        .next
                        .map(|n| n.uuid)
                })
            })
            .collect();
        let mut got = Vec::new();
        for t in tasks {
            got.push(t.await.unwrap());
        }
        let handed: Vec<String> = got.iter().flatten().cloned().collect();
        let distinct: HashSet<&String> = handed.iter().collect();
        assert_eq!(
            distinct.len(),
            handed.len(),
            "an entry went out twice: {got:?}"
        );
        assert_eq!(handed.len(), COMMANDS, "{got:?}");
        for i in 0..COMMANDS {
            let rec = store
                .get_command(&format!("conc-{i}"))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(rec.targets[0].deliveries, 1, "conc-{i}");
        }
    })
    .await;
    pg.finish().await;
    if let Err(e) = result {
        std::panic::resume_unwind(e.into_panic());
    }
}

/// Processes starting at the same time on an empty schema: each migration
/// is applied once, and every one of them opens.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_starts_migrate_once() {
    let Some(url) = url("concurrent_starts_migrate_once") else {
        return;
    };
    let schema = fresh_schema();
    let mut config = PostgresConfig::new(url.clone());
    config.schema(Some(schema.clone())).pool_size(2);
    let starts: Vec<_> = (0..4)
        .map(|_| {
            let c = config.clone();
            tokio::spawn(async move { PostgresStore::connect(&c).await })
        })
        .collect();
    let mut stores = Vec::new();
    for s in starts {
        stores.push(s.await.unwrap());
    }
    let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    let task = tokio::spawn(conn);
    let rows: i64 = client
        .query_one(
            &format!("SELECT count(*) FROM {schema}.schema_migrations"),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let mut versions = Vec::new();
    for s in stores {
        versions.push(match s {
            Ok(s) => s.schema_version().await.map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        });
    }
    // Connecting again changes nothing.
    let again = match PostgresStore::connect(&config).await {
        Ok(s) => s.schema_version().await.map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    client
        .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
        .await
        .unwrap();
    drop(client);
    let _ = task.await;
    assert_eq!(rows, MIGRATIONS, "each migration recorded once");
    assert_eq!(versions, vec![Ok(SCHEMA_VERSION); 4]);
    assert_eq!(again, Ok(SCHEMA_VERSION));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newer_schema_is_refused() {
    let Some(pg) = Pg::new("a_newer_schema_is_refused").await else {
        return;
    };
    pg.sql(&format!(
        "INSERT INTO {}.schema_migrations (version, name) VALUES (999, 'future')",
        pg.schema
    ))
    .await;
    let mut config = PostgresConfig::new(pg.url.clone());
    config.schema(Some(pg.schema.clone()));
    let r = PostgresStore::connect(&config).await;
    pg.finish().await;
    assert!(matches!(
        r,
        Err(pippin_store::Error::SchemaTooNew {
            found: 999,
            known: SCHEMA_VERSION
        })
    ));
}

/// Pages of one DEP link stored at once from several connections, with the
/// same serial numbers: the pages are applied one after the other, so each
/// device is new (and pending) in exactly one outcome.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_dep_pages_count_each_device_once() {
    const TASKS: usize = 6;
    let Some(pg) = Pg::with_pool("concurrent_dep_pages_count_each_device_once", TASKS + 2).await
    else {
        return;
    };
    let store = Arc::clone(&pg.store);
    let result = tokio::spawn(async move {
        store
            .put_dep_link(&suite::new_link("race", "t", 1))
            .await
            .unwrap();
        let barrier = Arc::new(tokio::sync::Barrier::new(TASKS));
        let tasks: Vec<_> = (0..TASKS)
            .map(|t| {
                let s = Arc::clone(&store);
                let b = Arc::clone(&barrier);
                tokio::spawn(async move {
                    // Overlapping pages: 500 serial numbers each, 300 shared
                    // with the next task.
                    let page: Vec<_> = (t * 200..t * 200 + 500)
                        .map(|i| suite::record(&format!("R{i:05}"), Some("added")))
                        .collect();
                    b.wait().await;
                    s.upsert_dep_devices("race", &page, 10 + t as i64)
                        .await
                        .unwrap()
                })
            })
            .collect();
        let mut new = 0;
        let mut updated = 0;
        let mut pending = HashSet::new();
        for t in tasks {
            let o = t.await.unwrap();
            new += o.new;
            updated += o.updated;
            for x in o.pending {
                assert!(pending.insert(x.clone()), "{x} pending twice");
            }
        }
        let distinct = (TASKS - 1) * 200 + 500;
        assert_eq!(new as usize, distinct);
        assert_eq!((new + updated) as usize, TASKS * 500);
        assert_eq!(pending.len(), distinct);
        let c = store.count_dep_devices("race").await.unwrap();
        assert_eq!(c.total() as usize, distinct);
        // One history row per record.
        assert_eq!(
            store.prune_dep_events(i64::MAX).await.unwrap() as usize,
            TASKS * 500
        );
    })
    .await;
    pg.finish().await;
    if let Err(e) = result {
        std::panic::resume_unwind(e.into_panic());
    }
}

/// Requests for the last licenses of an asset from several connections at
/// once, each holding its transaction open a while after storing its
/// assignments (a trigger sleeps): the asset's row lock applies them one
/// after the other, so exactly one gets the licenses and the others see
/// them taken.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_vpp_requests_never_share_the_last_licenses() {
    const TASKS: usize = 4;
    let Some(pg) = Pg::with_pool(
        "concurrent_vpp_requests_never_share_the_last_licenses",
        TASKS + 2,
    )
    .await
    else {
        return;
    };
    let store = Arc::clone(&pg.store);
    let schema = pg.schema.clone();
    pg.sql(&format!(
        "CREATE FUNCTION {schema}.slow_assign() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
             PERFORM pg_sleep(0.5);
             RETURN NEW;
         END $$;
         CREATE TRIGGER slow_assign BEFORE INSERT ON {schema}.vpp_assignments
             FOR EACH ROW EXECUTE FUNCTION {schema}.slow_assign();"
    ))
    .await;

    let result = tokio::spawn(async move {
        // Three licenses; each task asks two for devices of its own.
        suite::token_with_assets(&*store, "race", &[suite::vpp_asset("APP", "STDQ", Some(3))])
            .await;
        let warm: Vec<_> = (0..TASKS)
            .map(|_| {
                let s = Arc::clone(&store);
                tokio::spawn(async move { s.health().await.unwrap() })
            })
            .collect();
        for w in warm {
            w.await.unwrap();
        }
        let barrier = Arc::new(tokio::sync::Barrier::new(TASKS));
        let tasks: Vec<_> = (0..TASKS)
            .map(|t| {
                let s = Arc::clone(&store);
                let b = Arc::clone(&barrier);
                tokio::spawn(async move {
                    let a = format!("T{t}-A");
                    let b2 = format!("T{t}-B");
                    b.wait().await;
                    s.request_vpp_assignments(&suite::assign_request(
                        "race",
                        "APP",
                        &[&a, &b2],
                        100 + t as i64,
                    ))
                    .await
                })
            })
            .collect();
        let mut ok = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(o) => {
                    assert_eq!((o.requested, o.unchanged), (2, 0));
                    ok += 1;
                }
                Err(pippin_store::Error::NotEnoughVppLicenses { needed, free }) => {
                    assert_eq!((needed, free), (2, 1));
                }
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(ok, 1, "the last licenses went to {ok} requests");
        let a = store
            .get_vpp_asset("race", "APP", "STDQ")
            .await
            .unwrap()
            .unwrap();
        assert_eq!((a.requested, a.free()), (2, Some(1)));
    })
    .await;
    pg.finish().await;
    if let Err(e) = result {
        std::panic::resume_unwind(e.into_panic());
    }
}

/// Every publication's id, through the store's pages.
async fn publication_ids(store: &PostgresStore) -> Vec<i64> {
    let mut ids = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .list_publications(after, pippin_store::MAX_PAGE)
            .await
            .unwrap();
        let Some(last) = page.last() else {
            return ids;
        };
        after = Some(last.id);
        ids.extend(page.iter().map(|p| p.id));
    }
}

/// At the cap, each publication recorded deletes the oldest, also when
/// several are recorded at once from several connections.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publications_are_capped_at_max_publications() {
    const TASKS: u32 = 6;
    let Some(pg) = Pg::with_pool(
        "publications_are_capped_at_max_publications",
        TASKS as usize + 2,
    )
    .await
    else {
        return;
    };
    let cap = pippin_store::MAX_PUBLICATIONS;
    pg.sql(&format!(
        "INSERT INTO {}.sup_publications (at, reporter, catalog_url, catalog_sha256,
             published_at, products, packages_published, superseded, expired, detail)
         SELECT i, 'r', 'https://u', '', i, 0, 0, 0, 0, '{{}}'
         FROM generate_series(1, {cap}) AS i",
        pg.schema
    ))
    .await;
    let store = Arc::clone(&pg.store);
    let result = tokio::spawn(async move {
        let before = publication_ids(&store).await;
        assert_eq!(before.len(), cap as usize);
        let id = store
            .record_publication(&suite::publication(1))
            .await
            .unwrap();
        let after = publication_ids(&store).await;
        assert_eq!(after.len(), cap as usize);
        assert_eq!(after[0], before[1], "the oldest is gone");
        assert_eq!(after.last(), Some(&id));

        let barrier = Arc::new(tokio::sync::Barrier::new(TASKS as usize));
        let tasks: Vec<_> = (0..TASKS)
            .map(|n| {
                let s = Arc::clone(&store);
                let b = Arc::clone(&barrier);
                tokio::spawn(async move {
                    b.wait().await;
                    s.record_publication(&suite::publication(n)).await.unwrap()
                })
            })
            .collect();
        let mut new = Vec::new();
        for t in tasks {
            new.push(t.await.unwrap());
        }
        new.sort_unstable();
        let now = publication_ids(&store).await;
        assert_eq!(now.len(), cap as usize, "the cap holds exactly");
        assert_eq!(now[0], after[TASKS as usize]);
        assert_eq!(now[now.len() - TASKS as usize..], new[..]);
        let latest = store.latest_publication().await.unwrap().unwrap();
        assert_eq!(latest.id, new[TASKS as usize - 1]);
    })
    .await;
    pg.finish().await;
    if let Err(e) = result {
        std::panic::resume_unwind(e.into_panic());
    }
}

//! DEP device sync throughput of the stores.
//!
//! One iteration is what the DEP service stores for a link of 100,000
//! devices: 100 pages of 1,000 device records, each page one
//! `upsert_dep_devices` call (one transaction). Two cases:
//!
//! * `fetch_100k`: the first fetch, every device new (no history);
//! * `sync_100k`: a sync where every device is `modified` (each row updated,
//!   one history row per record).
//!
//! Measured on SQLite in a WAL file, and on PostgreSQL when
//! `PIPPIN_BENCH_POSTGRES_URL` (or `PIPPIN_TEST_POSTGRES_URL`) is set (a
//! fresh schema is created and dropped; it is vacuumed between
//! iterations, untimed). Criterion reports devices/s as its throughput.
//!
//! ```text
//! cargo bench -p pippin-store --bench dep
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use pippin_store::{DepDeviceRecord, NewDepLink, SqliteStore, Store};
use tokio::runtime::Runtime;

const PAGES: usize = 100;
const PAGE: usize = 1_000;

static LINKS: AtomicU64 = AtomicU64::new(0);

/// A record as Apple sends it, with a raw JSON of the usual size (~450
/// bytes).
fn record(serial: &str, op: Option<&str>) -> DepDeviceRecord {
    let raw = serde_json::json!({
        "serial_number": serial,
        "model": "MacBook Pro",
        "description": "MBP 14.2 SPG/12C CPU/18C GPU/18GB/512GB-USA",
        "color": "SPACE GRAY",
        "asset_tag": format!("ASSET-{serial}"),
        "os": "OSX",
        "device_family": "Mac",
        "profile_status": "assigned",
        "profile_uuid": "2B8F1D1E7A6C4E0F9A3B5C7D9E1F3A5B",
        "profile_assign_time": "2024-03-02T11:00:00Z",
        "device_assigned_date": "2024-03-01T10:00:00Z",
        "device_assigned_by": "purchasing@example.org",
        "op_type": op,
        "op_date": op.map(|_| "2024-03-05T08:30:00Z"),
    });
    DepDeviceRecord {
        serial_number: serial.to_owned(),
        model: Some("MacBook Pro".into()),
        description: Some("MBP 14.2 SPG/12C CPU/18C GPU/18GB/512GB-USA".into()),
        color: Some("SPACE GRAY".into()),
        asset_tag: Some(format!("ASSET-{serial}")),
        os: Some("OSX".into()),
        device_family: Some("Mac".into()),
        profile_status: Some("assigned".into()),
        profile_uuid: Some("2B8F1D1E7A6C4E0F9A3B5C7D9E1F3A5B".into()),
        profile_assign_time: Some("2024-03-02T11:00:00Z".into()),
        profile_push_time: None,
        device_assigned_date: Some("2024-03-01T10:00:00Z".into()),
        device_assigned_by: Some("purchasing@example.org".into()),
        op_type: op.map(str::to_owned),
        op_date: op.map(|_| "2024-03-05T08:30:00Z".to_owned()),
        raw_json: raw.to_string(),
    }
}

/// The 100 pages of a link, built before timing.
fn pages(op: Option<&str>) -> Vec<Vec<DepDeviceRecord>> {
    (0..PAGES)
        .map(|p| {
            (0..PAGE)
                .map(|i| record(&format!("C02{:09}", p * PAGE + i), op))
                .collect()
        })
        .collect()
}

async fn new_link(s: &dyn Store) -> String {
    let name = format!("bench-{}", LINKS.fetch_add(1, Ordering::Relaxed));
    s.put_dep_link(&NewDepLink {
        name: name.clone(),
        token_sealed: "sealed".into(),
        token_expiry: None,
        consumer_key: "CK_bench".into(),
        now: 1,
    })
    .await
    .unwrap();
    name
}

/// Stores every page into `link`; the time it took.
async fn upsert_all(s: &dyn Store, link: &str, pages: &[Vec<DepDeviceRecord>]) -> Duration {
    let start = Instant::now();
    for (i, page) in pages.iter().enumerate() {
        let o = s
            .upsert_dep_devices(link, page, 10 + i as i64)
            .await
            .unwrap();
        assert_eq!((o.new + o.updated) as usize, page.len());
    }
    start.elapsed()
}

/// Work between iterations, not timed (PostgreSQL: what autovacuum would do
/// between syncs, so that a run does not measure the bloat of the ones
/// before it).
type Maintenance<'a> = &'a dyn Fn(&Runtime);

fn bench_store(
    c: &mut Criterion,
    name: &str,
    rt: &Runtime,
    store: Arc<dyn Store>,
    maintenance: Maintenance<'_>,
) {
    let fetch = pages(None);
    let sync = pages(Some("modified"));
    let mut g = c.benchmark_group(name);
    g.sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(20))
        .throughput(Throughput::Elements((PAGES * PAGE) as u64));

    g.bench_function("fetch_100k", |b| {
        b.iter_custom(|iters| {
            let t = rt.block_on(async {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let link = new_link(&*store).await;
                    total += upsert_all(&*store, &link, &fetch).await;
                    // Not timed: keep the database the same size.
                    store.delete_dep_link(&link).await.unwrap();
                }
                total
            });
            maintenance(rt);
            t
        })
    });

    let link = rt.block_on(async {
        let link = new_link(&*store).await;
        upsert_all(&*store, &link, &fetch).await;
        link
    });
    g.bench_function("sync_100k", |b| {
        b.iter_custom(|iters| {
            let t = rt.block_on(async {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    total += upsert_all(&*store, &link, &sync).await;
                    // Not timed: the history would otherwise grow.
                    store.prune_dep_events(i64::MAX).await.unwrap();
                }
                total
            });
            maintenance(rt);
            t
        })
    });
    g.finish();
    rt.block_on(store.delete_dep_link(&link)).unwrap();
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn sqlite(c: &mut Criterion) {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let file: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("dep.db")).unwrap());
    bench_store(c, "dep_sqlite_file", &rt, file, &|_| {});
}

fn postgres(c: &mut Criterion) {
    let url = std::env::var("PIPPIN_BENCH_POSTGRES_URL")
        .or_else(|_| std::env::var("PIPPIN_TEST_POSTGRES_URL"));
    let Ok(url) = url else {
        eprintln!(
            "PIPPIN_BENCH_POSTGRES_URL / PIPPIN_TEST_POSTGRES_URL is not set: PostgreSQL not measured"
        );
        return;
    };
    let rt = runtime();
    let schema = format!("pippin_bench_dep_{}", std::process::id());
    let store = rt.block_on(async {
        pippin_store::PostgresStore::connect(
            pippin_store::PostgresConfig::new(url.clone())
                .schema(Some(schema.clone()))
                .pool_size(4),
        )
        .await
        .unwrap()
    });
    let vacuum = |rt: &Runtime| {
        rt.block_on(run_sql(
            &url,
            &format!("VACUUM ANALYZE {schema}.dep_devices, {schema}.dep_device_events"),
        ))
    };
    bench_store(c, "dep_postgres", &rt, Arc::new(store), &vacuum);
    rt.block_on(run_sql(&url, &format!("DROP SCHEMA {schema} CASCADE")));
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

criterion_group!(benches, sqlite, postgres);
criterion_main!(benches);

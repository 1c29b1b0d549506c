//! Apps and Books (VPP) throughput of the stores.
//!
//! * `walk_50k_new`: a first asset walk of a location with 50,000 apps: 50
//!   pages of 1,000 assets, each page one `upsert_vpp_assets` call (one
//!   transaction), then `finish_vpp_asset_walk`;
//! * `walk_50k_again`: the next walk of the same location (every asset
//!   updated, none dropped);
//! * `request_1000`: one `request_vpp_assignments` of 1,000 devices new to
//!   an app with limited licenses (the asset's lock, the requested count,
//!   the devices' stored states, the inserts), on that location. Between
//!   iterations, untimed, the service's worker moves them on (installed),
//!   so the requested count stays that of one request.
//!
//! Measured on SQLite in a WAL file, and on PostgreSQL when
//! `PIPPIN_BENCH_POSTGRES_URL` (or `PIPPIN_TEST_POSTGRES_URL`) is set (a
//! fresh schema is created and dropped; it is vacuumed between
//! iterations, untimed). Criterion reports assets or devices per second as
//! its throughput.
//!
//! ```text
//! cargo bench -p pippin-store --bench vpp
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use pippin_store::{
    NewVppToken, SqliteStore, Store, VppAssetRecord, VppAssignRequest, VppAssignState,
    VppAssignUpdate, VppOrgType,
};
use tokio::runtime::Runtime;

const PAGES: usize = 50;
const PAGE: usize = 1_000;
const DEVICES: usize = 1_000;

static TOKENS: AtomicU64 = AtomicU64::new(0);
static REQUESTS: AtomicU64 = AtomicU64::new(0);

/// An app as `GET assets` describes it.
fn asset(adam_id: String) -> VppAssetRecord {
    VppAssetRecord {
        adam_id,
        pricing_param: "STDQ".into(),
        product_type: Some("App".into()),
        total_count: Some(1_000_000),
        assigned_count: 1_200,
        available_count: Some(998_800),
        retired_count: Some(0),
        device_assignable: true,
        revocable: true,
        platforms: vec!["iOS".into(), "macOS".into(), "tvOS".into()],
    }
}

/// The 50 pages of a location, built before timing.
fn pages() -> Vec<Vec<VppAssetRecord>> {
    (0..PAGES)
        .map(|p| {
            (0..PAGE)
                .map(|i| asset(format!("{}", 300_000_000 + p * PAGE + i)))
                .collect()
        })
        .collect()
}

async fn new_token(s: &dyn Store) -> String {
    let name = format!("bench-{}", TOKENS.fetch_add(1, Ordering::Relaxed));
    s.put_vpp_token(&NewVppToken {
        name: name.clone(),
        description: "bench".into(),
        org_type: VppOrgType::Business,
        token_sealed: "sealed".into(),
        org_name: "Example".into(),
        token_expiry: None,
        now: 1,
    })
    .await
    .unwrap();
    name
}

/// One complete walk of `generation` into `token`; the time it took.
async fn walk(
    s: &dyn Store,
    token: &str,
    pages: &[Vec<VppAssetRecord>],
    generation: i64,
) -> Duration {
    let start = Instant::now();
    for (i, page) in pages.iter().enumerate() {
        s.upsert_vpp_assets(token, page, generation, 10 + i as i64)
            .await
            .unwrap();
    }
    let dropped = s
        .finish_vpp_asset_walk(token, generation, Some("v"), 100)
        .await
        .unwrap();
    assert_eq!(dropped, 0);
    start.elapsed()
}

/// 1,000 devices never asked for before.
fn request(token: &str, adam_id: &str) -> VppAssignRequest {
    let n = REQUESTS.fetch_add(1, Ordering::Relaxed);
    VppAssignRequest {
        token: token.to_owned(),
        adam_id: adam_id.to_owned(),
        pricing_param: "STDQ".into(),
        devices: (0..DEVICES)
            .map(|i| {
                (
                    format!("C02{n:04}{i:05}"),
                    Some(format!("00008030-{n:06}{i:010}")),
                )
            })
            .collect(),
        options_json: r#"{"remove_on_unenroll":true}"#.into(),
        requested_by: "bench".into(),
        now: 1_000 + n as i64,
    }
}

/// Work between iterations, not timed (PostgreSQL: what autovacuum would do
/// between syncs).
type Maintenance<'a> = &'a dyn Fn(&Runtime);

fn bench_store(
    c: &mut Criterion,
    name: &str,
    rt: &Runtime,
    store: Arc<dyn Store>,
    maintenance: Maintenance<'_>,
) {
    let pages = pages();
    let mut g = c.benchmark_group(name);
    g.sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(15))
        .throughput(Throughput::Elements((PAGES * PAGE) as u64));

    g.bench_function("walk_50k_new", |b| {
        b.iter_custom(|iters| {
            let t = rt.block_on(async {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let token = new_token(&*store).await;
                    total += walk(&*store, &token, &pages, 1).await;
                    // Not timed: keep the database the same size.
                    store.delete_vpp_token(&token).await.unwrap();
                }
                total
            });
            maintenance(rt);
            t
        })
    });

    let token = rt.block_on(async {
        let token = new_token(&*store).await;
        walk(&*store, &token, &pages, 1).await;
        token
    });
    let generation = AtomicU64::new(2);
    g.bench_function("walk_50k_again", |b| {
        b.iter_custom(|iters| {
            let t = rt.block_on(async {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let n = generation.fetch_add(1, Ordering::Relaxed) as i64;
                    total += walk(&*store, &token, &pages, n).await;
                }
                total
            });
            maintenance(rt);
            t
        })
    });

    g.throughput(Throughput::Elements(DEVICES as u64));
    let adam_id = pages[PAGES / 2][PAGE / 2].adam_id.clone();
    g.bench_function("request_1000", |b| {
        b.iter_custom(|iters| {
            let t = rt.block_on(async {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let r = request(&token, &adam_id);
                    let start = Instant::now();
                    let o = store.request_vpp_assignments(&r).await.unwrap();
                    total += start.elapsed();
                    assert_eq!(o.requested as usize, DEVICES);
                    // Not timed: the worker moves them on.
                    let serials: Vec<String> = r.devices.into_iter().map(|d| d.0).collect();
                    store
                        .set_vpp_assignments(
                            &token,
                            &adam_id,
                            "STDQ",
                            &serials,
                            &VppAssignUpdate {
                                state: VppAssignState::Installed,
                                now: r.now,
                                ..Default::default()
                            },
                        )
                        .await
                        .unwrap();
                }
                total
            });
            maintenance(rt);
            t
        })
    });
    g.finish();
    rt.block_on(store.delete_vpp_token(&token)).unwrap();
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
    let file: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("vpp.db")).unwrap());
    bench_store(c, "vpp_sqlite_file", &rt, file, &|_| {});
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
    let schema = format!("pippin_bench_vpp_{}", std::process::id());
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
            &format!("VACUUM ANALYZE {schema}.vpp_assets, {schema}.vpp_assignments"),
        ))
    };
    bench_store(c, "vpp_postgres", &rt, Arc::new(store), &vacuum);
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

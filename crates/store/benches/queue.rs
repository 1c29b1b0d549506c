//! Command-queue throughput of the stores.
//!
//! A round trip is what the service does for one device request that answers
//! a command: `handle_report(Acknowledged)` (completes the command, picks and
//! marks the next one) plus a `touch`. Measured on SQLite in memory and in a
//! WAL file, one device at a time and eight devices at once; and on
//! PostgreSQL when `PIPPIN_BENCH_POSTGRES_URL` is set (a fresh schema is
//! created and dropped).
//!
//! ```text
//! cargo bench -p pippin-store --bench queue
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use apple_mdm_protocol::EnrollmentId;
use apple_mdm_protocol::report::Status;
use criterion::{Criterion, criterion_group, criterion_main};
use pippin_store::{AuthenticateRecord, NewCommand, SqliteStore, Store, TokenUpdateRecord};
use tokio::runtime::Runtime;

static UUIDS: AtomicU64 = AtomicU64::new(0);

fn command(now: i64) -> NewCommand {
    let n = UUIDS.fetch_add(1, Ordering::Relaxed);
    NewCommand {
        uuid: format!("bench-{n:012}"),
        request_type: "DeviceInformation".into(),
        // A typical small command plist.
        body: vec![b'x'; 600],
        priority: 0,
        queued_by: "bench".into(),
        now,
    }
}

async fn enroll(s: &dyn Store, name: &str) -> EnrollmentId {
    s.authenticate(&AuthenticateRecord {
        device: name.into(),
        topic: "com.apple.mgmt.bench".into(),
        now: 1,
        ..Default::default()
    })
    .await
    .unwrap();
    let id = EnrollmentId::device(name);
    s.token_update(
        &id,
        &TokenUpdateRecord {
            push_token: vec![1; 32],
            push_magic: "magic".into(),
            topic: "com.apple.mgmt.bench".into(),
            now: 2,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    id
}

/// Queues `n` commands for `id`, hands out the first, then times `n`
/// round trips.
async fn round_trips(s: &dyn Store, id: &EnrollmentId, n: u64) -> Duration {
    for i in 0..n {
        s.enqueue(std::slice::from_ref(id), command(i as i64))
            .await
            .unwrap();
    }
    let mut next = s
        .handle_report(id, Status::Idle, None, None, 10)
        .await
        .unwrap()
        .next;
    let start = Instant::now();
    let mut now = 1_000_000;
    for _ in 0..n {
        let Some(cmd) = next else {
            panic!("queue ran dry")
        };
        now += 1;
        let out = s
            .handle_report(
                id,
                Status::Acknowledged,
                Some(&cmd.uuid),
                Some(vec![b'r'; 400]),
                now,
            )
            .await
            .unwrap();
        s.touch(id, now).await.unwrap();
        next = out.next;
    }
    start.elapsed()
}

fn bench_store(c: &mut Criterion, name: &str, rt: &Runtime, store: Arc<dyn Store>) {
    let mut g = c.benchmark_group(name);
    g.sample_size(10).measurement_time(Duration::from_secs(6));
    let id = rt.block_on(enroll(&*store, "BENCH-1"));

    g.bench_function("enqueue", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for i in 0..iters {
                    store
                        .enqueue(std::slice::from_ref(&id), command(i as i64))
                        .await
                        .unwrap();
                }
                let t = start.elapsed();
                // Leave the queue empty for the next benchmark.
                store
                    .handle_report(&id, Status::Idle, None, None, 0)
                    .await
                    .unwrap();
                drain(&*store, &id).await;
                t
            })
        })
    });

    g.bench_function("round_trip", |b| {
        b.iter_custom(|iters| rt.block_on(round_trips(&*store, &id, iters)))
    });

    const DEVICES: u64 = 8;
    let ids: Vec<EnrollmentId> = (0..DEVICES)
        .map(|i| rt.block_on(enroll(&*store, &format!("BENCH-C{i}"))))
        .collect();
    g.bench_function("round_trip_8_devices", |b| {
        b.iter_custom(|iters| {
            let per = iters.div_ceil(DEVICES);
            rt.block_on(async {
                let tasks: Vec<_> = ids
                    .iter()
                    .map(|id| {
                        let s = Arc::clone(&store);
                        let id = id.clone();
                        tokio::spawn(async move { round_trips(&*s, &id, per).await })
                    })
                    .collect();
                // The devices run at once: the wall time is the longest.
                let mut longest = Duration::ZERO;
                for t in tasks {
                    longest = longest.max(t.await.unwrap());
                }
                longest.mul_f64(iters as f64 / (per * DEVICES) as f64)
            })
        })
    });
    g.finish();
}

async fn drain(s: &dyn Store, id: &EnrollmentId) {
    loop {
        let out = s
            .handle_report(id, Status::Idle, None, None, 0)
            .await
            .unwrap();
        let Some(cmd) = out.next else { break };
        s.handle_report(id, Status::Acknowledged, Some(&cmd.uuid), None, 0)
            .await
            .unwrap();
    }
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
    let mem: Arc<dyn Store> = Arc::new(SqliteStore::open_in_memory().unwrap());
    bench_store(c, "sqlite_memory", &rt, mem);

    let dir = tempfile::tempdir().unwrap();
    let file: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("bench.db")).unwrap());
    bench_store(c, "sqlite_file", &rt, file);
}

fn postgres(c: &mut Criterion) {
    let Ok(url) = std::env::var("PIPPIN_BENCH_POSTGRES_URL") else {
        eprintln!("PIPPIN_BENCH_POSTGRES_URL is not set: PostgreSQL not measured");
        return;
    };
    let rt = runtime();
    let schema = format!("pippin_bench_{}", std::process::id());
    let store = rt.block_on(async {
        pippin_store::PostgresStore::connect(
            pippin_store::PostgresConfig::new(url.clone())
                .schema(Some(schema.clone()))
                .pool_size(16),
        )
        .await
        .unwrap()
    });
    bench_store(c, "postgres", &rt, Arc::new(store));
    rt.block_on(async {
        let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .unwrap();
        let task = tokio::spawn(conn);
        client
            .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
            .await
            .unwrap();
        drop(client);
        let _ = task.await;
    });
}

criterion_group!(benches, sqlite, postgres);
criterion_main!(benches);

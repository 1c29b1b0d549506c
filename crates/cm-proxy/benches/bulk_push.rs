//! One command for many enrolled devices, end to end but for HTTP: the
//! store (SQLite, in a data directory) is seeded directly with DEVICES
//! enrolled devices (100,000 by default), the service is built with a push
//! certificate and APNs pointed at a local `nghttpd` (nghttp2-server)
//! answering 200 from a document root, then `POST /api/v1/commands` with
//! `"all_enrolled": true` is handled and the pushes are followed until every
//! one is sent, answered and stored.
//!
//! ```text
//! cargo bench -p cm-proxy --bench bulk_push            # DEVICES=100000
//! DEVICES=20000 cargo bench -p cm-proxy --bench bulk_push
//! ```
//!
//! Prints the seeding time, the time to queue the command (the request's
//! answer), the time until every push was sent and stored, and the process
//! CPU time per push.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use apple_mdm_protocol::EnrollmentId;
use axum::extract::State;
use axum::http::HeaderMap;
use pippin_store::{AuthenticateRecord, SqliteStore, Store, TokenUpdateRecord};

const UUID: &str = "5c0f4d1e-77a2-4b43-9e0a-3f1d2c6b8a90";
const TOKEN: [u8; 32] = [0xAB; 32];

/// Kills the child when dropped.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// User plus system CPU time of this process so far.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may hold spaces) start at 3.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15, here 11 and 12; 100 ticks/s.
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

fn start_nghttpd(dir: &Path) -> (KillOnDrop, u16) {
    let docroot = dir.join("htdocs/3/device");
    std::fs::create_dir_all(&docroot).unwrap();
    std::fs::write(docroot.join(hex::encode(TOKEN)), b"").unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let p = |n: &str| dir.join(n).to_string_lossy().into_owned();
    let child = Command::new("nghttpd")
        .args(["--verify-client", "-a", "127.0.0.1", "-d", &p("htdocs")])
        .args(["--max-concurrent-streams=1000", &port.to_string()])
        .args([p("server.key"), p("server.pem")])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("nghttpd (Debian nghttp2-server) is needed");
    let server = KillOnDrop(child);
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return (server, port);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("nghttpd did not start");
}

async fn seed(path: &Path, devices: usize, topic: &str) {
    let store = SqliteStore::open(path).unwrap();
    for n in 0..devices {
        let device = format!("BENCH-{n:06}");
        store
            .authenticate(&AuthenticateRecord {
                device: device.clone(),
                serial_number: Some(format!("C02B{n:06}")),
                topic: topic.to_owned(),
                now: 1,
                ..Default::default()
            })
            .await
            .unwrap();
        store
            .token_update(
                &EnrollmentId::device(device),
                &TokenUpdateRecord {
                    push_token: TOKEN.to_vec(),
                    push_magic: "00000000-1111-2222-3333-444444444444".into(),
                    topic: topic.to_owned(),
                    now: 2,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
    }
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is taken.
    let devices: usize = std::env::var("DEVICES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run(devices));
}

async fn run(devices: usize) {
    let pki = test_support::tempdir();
    test_support::apns_test_pki(pki.path(), UUID);
    let (_nghttpd, port) = start_nghttpd(pki.path());
    let data = test_support::tempdir();
    let topic = format!("com.apple.mgmt.External.{UUID}");

    let started = Instant::now();
    seed(&data.path().join("pippin.db"), devices, &topic).await;
    let seeded = started.elapsed();

    let mut s = cm_proxy::config::Settings::defaults(data.path().to_path_buf());
    s.listen = "127.0.0.1:0".parse().unwrap();
    s.public_url = "https://127.0.0.1:1".into();
    s.admin_token = Some("bench-admin-token-0123456789".into());
    s.log_stderr = false;
    s.apns_cert = Some(pki.path().join("push.pem"));
    s.apns_key = Some(pki.path().join("push.key"));
    s.apns_endpoint = format!("https://127.0.0.1:{port}");
    s.apns_ca = Some(pki.path().join("ca.pem"));
    let built = cm_proxy::bootstrap::build(&s).await.unwrap();
    let app: Arc<cm_proxy::state::App> = built.app;

    let mut headers = HeaderMap::new();
    headers.insert(
        "authorization",
        "Bearer bench-admin-token-0123456789".parse().unwrap(),
    );
    let body = serde_json::to_vec(&serde_json::json!({
        "request_type": "DeviceInformation",
        "all_enrolled": true,
    }))
    .unwrap();
    let cpu_before = cpu_time();
    let started = Instant::now();
    let response = cm_proxy::bulk::queue_bulk_command(State(app.clone()), headers, body.into())
        .await
        .unwrap_or_else(|e| panic!("the bulk command was refused: {e:?}"));
    let queued = started.elapsed();
    assert_eq!(response.status(), 202);
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    let answer: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    let uuid = answer["command_uuid"].as_str().unwrap().to_owned();
    assert_eq!(answer["targets"], devices);
    let progress = app.push.bulk_job(&uuid).expect("the job's progress");
    while progress.finished_at.load(Relaxed) == 0 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let done = started.elapsed();
    let cpu = cpu_time() - cpu_before;
    let delivered = progress.delivered.load(Relaxed);
    assert_eq!(
        delivered,
        u64::try_from(devices).unwrap(),
        "{}",
        progress.to_json()
    );
    let pushing = done - queued;
    println!(
        "bulk command, SQLite, {devices} enrolled devices: seeded in {:.1} s; \
         queued (202) in {:.2} s; every push sent, answered (200) and stored {:.2} s later \
         ({:.2} s in all): {:.0} pushes/s; process CPU {:.2} s = {:.1} us/device",
        seeded.as_secs_f64(),
        queued.as_secs_f64(),
        pushing.as_secs_f64(),
        done.as_secs_f64(),
        devices as f64 / pushing.as_secs_f64(),
        cpu.as_secs_f64(),
        cpu.as_secs_f64() * 1e6 / devices as f64,
    );
}

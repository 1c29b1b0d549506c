//! DEP client benchmarks, no I/O: reading a page of 1,000 devices (the
//! largest the service sends) through the session as a client does,
//! handing it to the sync state machine, and signing the OAuth sign-in.
//!
//! `cargo bench -p pippin-benches --bench dep`; the end-to-end sync of
//! 100,000 devices over loopback is `benches/dep-sync.sh`. Figures are in
//! benches/README.md.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use dep_client::oauth::{OAuthCredentials, OAuthParams, sign};
use dep_client::{Config, CursorState, FetchDevices, Reply, Session, SyncConfig, SyncMachine};
use serde_json::json;

fn credentials() -> OAuthCredentials {
    OAuthCredentials {
        consumer_key: "CK_bench_consumer_key_0123456789abcdef".into(),
        consumer_secret: "CS_bench_consumer_secret_0123456789".into(),
        access_token: "AT_bench_access_token_0123456789abcdef".into(),
        access_secret: "AS_bench_access_secret_0123456789".into(),
    }
}

/// A fetch page of `n` devices, as the service writes them.
fn page(n: usize) -> Vec<u8> {
    let devices: Vec<_> = (0..n)
        .map(|i| {
            json!({
                "serial_number": format!("C02B{i:08}"),
                "description": "MBA 13.6 MIDNIGHT/M2/8C CPU/8GB/256GB",
                "model": "MacBook Air",
                "os": "OSX",
                "device_family": "Mac",
                "color": "MIDNIGHT",
                "profile_status": "assigned",
                "profile_uuid": "3F2504E04F8911D39A0C0305E82C3301",
                "profile_assign_time": "2025-03-05T10:00:00Z",
                "device_assigned_by": "abm-admin@example.org",
                "device_assigned_date": "2025-03-04T09:15:00Z",
            })
        })
        .collect();
    serde_json::to_vec(&json!({
        "devices": devices,
        "cursor": "MDowOjE3NDEwODAwMDAwMDA6MTc0MTA4MDAwMDAwMDp0cnVlOjE3NDEwODAwMDAwMDA",
        "more_to_follow": true,
        "fetched_until": "2025-03-06T12:00:00Z",
    }))
    .expect("JSON")
}

fn session() -> Session {
    let mut s = Session::new(credentials(), Arc::new(Config::default())).expect("config");
    let login = http::Response::builder()
        .status(200)
        .body(&br#"{"auth_session_token":"bench"}"#[..])
        .expect("response");
    s.handle_auth_response(&login).expect("sign-in");
    s
}

fn parse_page(c: &mut Criterion) {
    let body = page(1000);
    let mut g = c.benchmark_group("dep");
    g.throughput(Throughput::Elements(1000));
    let mut s = session();
    let fetch = FetchDevices::new(None, 1000);
    g.bench_function("fetch page of 1000 devices -> Vec<Device>", |b| {
        b.iter(|| {
            let response = http::Response::builder()
                .status(200)
                .body(black_box(&body[..]))
                .expect("response");
            match s.handle_response(&fetch, &response).expect("parses") {
                Reply::Done(page) => page,
                Reply::Reauthenticate(_) => unreachable!(),
            }
        })
    });
    g.bench_function("... and through the sync machine", |b| {
        let now = Instant::now();
        b.iter(|| {
            let response = http::Response::builder()
                .status(200)
                .body(black_box(&body[..]))
                .expect("response");
            let Ok(Reply::Done(page)) = s.handle_response(&fetch, &response) else {
                unreachable!()
            };
            let mut m = SyncMachine::new(SyncConfig::default(), CursorState::default(), now);
            let _ = m.poll_request(now);
            m.handle_response(now, std::time::SystemTime::UNIX_EPOCH, Ok(page));
            let mut n = 0;
            while let Some(e) = m.poll_event() {
                n += black_box(matches!(e, dep_client::SyncEvent::Devices { .. })) as u32;
            }
            n
        })
    });
    g.finish();

    let mut g = c.benchmark_group("dep");
    g.throughput(Throughput::Elements(1));
    let creds = credentials();
    let uri: http::Uri = "https://mdmenrollment.apple.com/session"
        .parse()
        .expect("URL");
    let params = OAuthParams::new(1_700_000_000, b"0123456789abcdef");
    g.bench_function("OAuth 1.0a HMAC-SHA1 sign-in header", |b| {
        b.iter(|| sign(&http::Method::GET, &uri, black_box(&creds), &params).expect("signs"))
    });
    g.finish();
}

criterion_group!(benches, parse_page);
criterion_main!(benches);

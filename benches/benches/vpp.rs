//! Apps and Books client benchmarks, no I/O: reading a page of 1,000
//! assignments and a page of 1,000 assets through the client core as a
//! client does (error and `mdmInfo` checks included) and on through the
//! page walker.
//!
//! `cargo bench -p pippin-benches --bench vpp`; the end-to-end walk of
//! 50,000 assets and 500,000 assignments over loopback is
//! `benches/vpp-walk.sh`. Figures are in benches/README.md.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use base64::Engine as _;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::json;
use vpp_client::{
    Api, AssetsPage, AssignmentsPage, Config, ContentToken, GetAssets, GetAssignments, PageWalker,
    WalkConfig, WalkEvent,
};

fn api() -> Api {
    let file = base64::engine::general_purpose::STANDARD.encode(
        r#"{"token":"VFdwQmVVMVRRWFJKUldS","expDate":"2099-11-08T22:33:22+0000","orgName":"Bench"}"#,
    );
    let mut c = Config::default();
    c.mdm_id("6f1c2b1e-0000-4000-8000-000000000001");
    Api::new(
        ContentToken::parse(file.as_bytes()).expect("token"),
        Arc::new(c),
    )
    .expect("api")
}

fn common() -> serde_json::Value {
    json!({
        "currentPageIndex": 3, "nextPageIndex": 4, "size": 1000, "totalPages": 500,
        "versionId": "70e8c740-514c-11eb-bb63-a90b882fcd52",
        "tokenExpirationDate": "2099-11-08T22:33:22+0000", "uId": "2049025000431439",
        "mdmInfo": {"id": "6f1c2b1e-0000-4000-8000-000000000001", "name": "Pippin", "metadata": "mdm.example.com"},
    })
}

fn assignments_page() -> Vec<u8> {
    let mut v = common();
    v["assignments"] = (0..1000)
        .map(|i| json!({"adamId": format!("{}", 361_309_726 + i % 50), "pricingParam": "STDQ", "serialNumber": format!("C02XK{i:07}")}))
        .collect();
    serde_json::to_vec(&v).expect("JSON")
}

fn assets_page() -> Vec<u8> {
    let mut v = common();
    v["assets"] = (0..1000)
        .map(|i| json!({"adamId": format!("{}", 361_309_726 + i), "assignedCount": 5000, "availableCount": 10000,
            "deviceAssignable": true, "pricingParam": "STDQ", "productType": "App", "retiredCount": 0,
            "revocable": true, "supportedPlatforms": ["iOS", "macOS"], "totalCount": 15000}))
        .collect();
    serde_json::to_vec(&v).expect("JSON")
}

fn bench(c: &mut Criterion) {
    let api = api();
    let body = assignments_page();
    let mut g = c.benchmark_group("vpp");
    g.throughput(Throughput::Elements(1000));
    g.bench_function(
        "assignments page of 1000 through Api::handle_response",
        |b| {
            let call = GetAssignments::default();
            b.iter(|| {
                let response = http::Response::builder()
                    .status(200)
                    .body(&body[..])
                    .expect("response");
                let page = api.handle_response(&call, &response).expect("page");
                black_box(page.assignments.len())
            })
        },
    );
    g.bench_function("... and on through the PageWalker", |b| {
        let call = GetAssignments::default();
        b.iter(|| {
            let now = Instant::now();
            let mut w = PageWalker::<AssignmentsPage>::new(WalkConfig::default());
            let _ = w.poll_request(now);
            let response = http::Response::builder()
                .status(200)
                .body(&body[..])
                .expect("response");
            let mut page = api.handle_response(&call, &response).expect("page");
            page.current_page_index = 0;
            page.next_page_index = Some(1);
            w.handle_response(now, Ok(page));
            match w.poll_event() {
                Some(WalkEvent::Page { items, .. }) => black_box(items.len()),
                _ => 0,
            }
        })
    });
    let assets = assets_page();
    g.bench_function("assets page of 1000 through Api::handle_response", |b| {
        let call = GetAssets::default();
        b.iter(|| {
            let response = http::Response::builder()
                .status(200)
                .body(&assets[..])
                .expect("response");
            let page: AssetsPage = api.handle_response(&call, &response).expect("page");
            black_box(page.assets.len())
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

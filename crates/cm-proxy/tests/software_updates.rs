//! Software-update catalog publications through the admin API: reported,
//! listed a page at a time, the latest read back, bad reports refused, on
//! SQLite and on PostgreSQL.

#[path = "common/mod.rs"]
mod common;

use common::Server;
use serde_json::{Value, json};

const PUBLICATIONS: &str = "/api/v1/software-updates/publications";
const LATEST: &str = "/api/v1/software-updates/publications/latest";

async fn server(backend: &str) -> Option<Server> {
    match backend {
        "sqlite" => Some(Server::start(None).await),
        _ => {
            let url = common::postgres_url()?;
            let schema = format!("sup_{}", uuid::Uuid::new_v4().simple());
            let data = tempfile::tempdir().unwrap();
            Some(
                Server::start_in(data, Some(url), move |s| {
                    s.database_schema = Some(schema);
                })
                .await,
            )
        }
    }
}

fn report(n: u32) -> Value {
    json!({
        "catalog_url": format!("https://sup.example.org/wsus/{n}/catalog.cab"),
        "catalog_sha256": format!("{:064x}", 0xabc0 + n),
        "published_at": format!("2024-05-{:02}T12:00:00.250+02:00", n + 1),
        "products": 420 + n,
        "packages_published": 37,
        "superseded": 5,
        "expired": 2,
        "detail": {
            "sources": [{
                "url": "https://swscan.apple.com/content/catalogs/others/index-14-13-12-10.16.merged-1.sucatalog",
                "etag": "\"5f2c-61b0\"",
                "products": 420 + n,
            }],
            "signer": "CN=Pippin WSUS signing, O=Example",
            "warnings": ["one product without a distribution file"],
        },
    })
}

async fn post(s: &Server, body: Value) -> (u16, Value) {
    s.api("POST", PUBLICATIONS, Some(body)).await
}

/// A bad report: 400 with an error naming what is wrong.
async fn refused(s: &Server, body: Value, mentions: &str) {
    let (st, out) = post(s, body).await;
    assert_eq!(st, 400, "{out}");
    let error = out["error"].as_str().unwrap();
    assert!(
        error.contains(mentions),
        "{error:?} should mention {mentions:?}"
    );
}

async fn publications(backend: &str) {
    let Some(s) = server(backend).await else {
        return;
    };
    // Nothing yet.
    let (st, out) = s.api("GET", LATEST, None).await;
    assert_eq!(st, 404, "{out}");
    assert!(out["error"].is_string());
    let (st, out) = s.api("GET", PUBLICATIONS, None).await;
    assert_eq!(st, 200);
    assert_eq!(out, json!({"publications": [], "next_after": null}));

    // Three reported; the second without detail, in capitals.
    let (st, first) = post(&s, report(0)).await;
    assert_eq!(st, 201, "{first}");
    let first = first["id"].as_i64().unwrap();
    let mut plain = report(1);
    plain.as_object_mut().unwrap().remove("detail");
    plain["catalog_sha256"] = json!("AB".repeat(32));
    plain["catalog_url"] = json!("http://wsus.corp.example:8530/Content/catalog.cab");
    let (st, second) = post(&s, plain).await;
    assert_eq!(st, 201, "{second}");
    let (st, third) = post(&s, report(2)).await;
    assert_eq!(st, 201, "{third}");
    let third = third["id"].as_i64().unwrap();

    // The latest, every field as reported (times in UTC, to the millisecond).
    let (st, latest) = s.api("GET", LATEST, None).await;
    assert_eq!(st, 200, "{latest}");
    assert_eq!(latest["id"], third);
    assert_eq!(latest["reporter"], "administrator");
    assert_eq!(
        latest["catalog_url"],
        "https://sup.example.org/wsus/2/catalog.cab"
    );
    assert_eq!(latest["catalog_sha256"], format!("{:064x}", 0xabc2));
    assert_eq!(latest["published_at"], "2024-05-03T10:00:00.25Z");
    assert_eq!(latest["products"], 422);
    assert_eq!(latest["packages_published"], 37);
    assert_eq!(latest["superseded"], 5);
    assert_eq!(latest["expired"], 2);
    assert_eq!(latest["detail"], report(2)["detail"]);
    let received = latest["received_at"].as_str().unwrap();
    assert!(received.ends_with('Z') && received > "2024", "{received}");

    // Listed oldest first, two at a time.
    let (st, page) = s.api("GET", &format!("{PUBLICATIONS}?limit=2"), None).await;
    assert_eq!(st, 200, "{page}");
    let items = page["publications"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["id"], first);
    assert_eq!(items[1]["catalog_sha256"], "ab".repeat(32));
    assert_eq!(items[1]["detail"], json!({}));
    let next = page["next_after"].as_i64().unwrap();
    assert_eq!(next, items[1]["id"].as_i64().unwrap());
    let (st, page) = s
        .api("GET", &format!("{PUBLICATIONS}?limit=2&after={next}"), None)
        .await;
    assert_eq!(st, 200, "{page}");
    assert_eq!(page["publications"].as_array().unwrap().len(), 1);
    assert_eq!(page["publications"][0], latest);
    assert_eq!(page["next_after"], Value::Null);
    // A full last page says there is no more.
    let (_, page) = s.api("GET", &format!("{PUBLICATIONS}?limit=3"), None).await;
    assert_eq!(page["publications"].as_array().unwrap().len(), 3);
    assert_eq!(page["next_after"], Value::Null);
    let (st, out) = s.api("GET", &format!("{PUBLICATIONS}?after=x"), None).await;
    assert_eq!(st, 400, "{out}");
    let (st, out) = s.api("GET", &format!("{PUBLICATIONS}?page=2"), None).await;
    assert_eq!(st, 400, "{out}");

    // Each report is in the audit log.
    let (_, audit) = s.api("GET", "/api/v1/audit?limit=1000", None).await;
    let published: Vec<&Value> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "software_updates.publish")
        .collect();
    assert_eq!(published.len(), 3);
    assert_eq!(
        published[0]["target"],
        "https://sup.example.org/wsus/0/catalog.cab"
    );
    assert_eq!(published[0]["actor"], "administrator");
    assert_eq!(published[0]["detail"]["publication_id"], first);
    assert_eq!(published[2]["detail"]["packages_published"], 37);

    s.stop().await;
}

async fn bad_reports_are_refused(backend: &str) {
    let Some(s) = server(backend).await else {
        return;
    };
    let with = |key: &str, value: Value| {
        let mut r = report(0);
        r[key] = value;
        r
    };
    let without = |key: &str| {
        let mut r = report(0);
        r.as_object_mut().unwrap().remove(key);
        r
    };
    // The digest: 64 hex digits.
    refused(
        &s,
        with("catalog_sha256", json!("ab".repeat(31))),
        "catalog_sha256",
    )
    .await;
    refused(
        &s,
        with("catalog_sha256", json!("ab".repeat(33))),
        "catalog_sha256",
    )
    .await;
    refused(
        &s,
        with("catalog_sha256", json!("zz".repeat(32))),
        "catalog_sha256",
    )
    .await;
    refused(&s, with("catalog_sha256", json!(12)), "").await;
    // The URL: https:// or http://, with a host, at most 2048 bytes.
    for url in [
        "ftp://sup.example.org/catalog.cab",
        "file:///srv/catalog.cab",
        "sup.example.org/catalog.cab",
        "/catalog.cab",
        "https://",
        "HTTPS://sup.example.org/catalog.cab",
        "https://sup.example.org/a catalog.cab",
        "",
    ] {
        refused(&s, with("catalog_url", json!(url)), "catalog_url").await;
    }
    let long = format!("https://sup.example.org/{}", "a".repeat(2048));
    refused(&s, with("catalog_url", json!(long)), "catalog_url").await;
    // Dates: RFC 3339 only.
    for date in [
        "2024-05-01",
        "2024-05-01 12:00:00",
        "yesterday",
        "1714564800",
    ] {
        refused(&s, with("published_at", json!(date)), "published_at").await;
    }
    // Counts: whole numbers from 0 to 10,000,000.
    refused(&s, with("products", json!(-1)), "").await;
    refused(&s, with("expired", json!(1.5)), "").await;
    refused(&s, with("superseded", json!("3")), "").await;
    refused(
        &s,
        with("packages_published", json!(10_000_001)),
        "packages_published",
    )
    .await;
    // Detail: an object of at most 64 KiB.
    refused(&s, with("detail", json!(["a"])), "detail").await;
    refused(&s, with("detail", json!("text")), "detail").await;
    let big = json!({"warnings": ["x".repeat(64 * 1024)]});
    refused(&s, with("detail", big), "detail").await;
    // Every field but detail is needed; no other is taken.
    refused(&s, without("catalog_url"), "catalog_url").await;
    refused(&s, without("expired"), "expired").await;
    refused(&s, with("signed_by", json!("someone")), "signed_by").await;
    let (st, out) = s
        .client(None)
        .request(
            "POST",
            PUBLICATIONS,
            &[("authorization", format!("Bearer {}", s.token))],
            b"{not json".to_vec(),
        )
        .await;
    assert_eq!(st, 400, "{}", String::from_utf8_lossy(&out));

    // The limits themselves are fine.
    let mut edge = with(
        "catalog_url",
        json!(format!("https://e.example/{}", "a".repeat(2048 - 18))),
    );
    edge["packages_published"] = json!(10_000_000);
    edge["products"] = json!(0);
    edge["detail"] = json!({"w": "x".repeat(64 * 1024 - 8)});
    let (st, out) = post(&s, edge).await;
    assert_eq!(st, 201, "{out}");

    // Nothing else was stored.
    let (_, page) = s.api("GET", PUBLICATIONS, None).await;
    assert_eq!(page["publications"].as_array().unwrap().len(), 1);
    s.stop().await;
}

async fn a_token_is_needed(backend: &str) {
    let Some(s) = server(backend).await else {
        return;
    };
    let c = s.client(None);
    let body = serde_json::to_vec(&report(0)).unwrap();
    for headers in [
        vec![],
        vec![("authorization", "Bearer wrong-token".to_owned())],
        vec![("authorization", format!("Basic {}", s.token))],
    ] {
        let (st, _) = c
            .request("POST", PUBLICATIONS, &headers, body.clone())
            .await;
        assert_eq!(st, 401);
        for path in [PUBLICATIONS, LATEST] {
            let (st, out) = c.request("GET", path, &headers, Vec::new()).await;
            assert_eq!(st, 401);
            let out: Value = serde_json::from_slice(&out).unwrap();
            assert!(out["error"].is_string());
        }
    }
    // Nothing was recorded.
    let (st, _) = s.api("GET", LATEST, None).await;
    assert_eq!(st, 404);
    s.stop().await;
}

macro_rules! both {
    ($scenario:ident, $sqlite:ident, $pg:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $sqlite() {
            $scenario("sqlite").await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $pg() {
            $scenario("postgres").await;
        }
    };
}

both!(publications, publications_sqlite, publications_postgres);
both!(
    bad_reports_are_refused,
    bad_reports_are_refused_sqlite,
    bad_reports_are_refused_postgres
);
both!(
    a_token_is_needed,
    a_token_is_needed_sqlite,
    a_token_is_needed_postgres
);

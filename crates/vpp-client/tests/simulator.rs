//! The client against the simulator, over real loopback sockets: paging
//! with data changing mid-walk, throttling, token errors, jobs with
//! partial failures, notifications, claiming the token, metadata.

use std::collections::BTreeSet;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use vpp_client::client::{VppClient, VppClientConfig};
use vpp_client::simulator::{AssetSpec, LocationId, Simulator, SimulatorConfig};
use vpp_client::{
    AssetFilter, AssetRef, AssignmentFilter, ClientConfigRequest, ContentToken, Error,
    EventOutcome, EventState, ManageAssetsRequest, MdmInfo, Notification, NotificationBody,
    PricingParam, WalkEvent, codes,
};

fn year_from_now() -> SystemTime {
    SystemTime::now() + Duration::from_secs(365 * 86_400)
}

struct Site {
    sim: Simulator,
    loc: LocationId,
    token: String,
}

async fn site(config: SimulatorConfig) -> Site {
    let sim = Simulator::start(config).await.unwrap();
    let loc = sim.add_location("Main library");
    let token = sim.issue_token(loc, "Example Corp", year_from_now());
    Site { sim, loc, token }
}

fn client_for(site: &Site, tweak: impl FnOnce(&mut VppClientConfig)) -> VppClient {
    let mut c = VppClientConfig::default();
    c.base_url(site.sim.base_url());
    c.walk
        .delays(Duration::from_millis(20), Duration::from_millis(200));
    c.event
        .polling(Duration::from_millis(30), Duration::from_millis(30));
    tweak(&mut c);
    VppClient::new(ContentToken::parse(site.token.as_bytes()).unwrap(), c).unwrap()
}

fn serials(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("C02SIM{i:06}")).collect()
}

fn app(id: &str) -> AssetRef {
    AssetRef {
        adam_id: id.to_owned(),
        pricing_param: PricingParam::stdq(),
    }
}

/// Every record of the finished generation of a walk.
async fn all_assets(
    client: &VppClient,
) -> (Vec<vpp_client::Asset>, vpp_client::client::WalkSummary) {
    let mut by_gen: std::collections::BTreeMap<u32, Vec<vpp_client::Asset>> = Default::default();
    let summary = client
        .walk_assets(AssetFilter::default(), |e| {
            if let WalkEvent::Page {
                generation, items, ..
            } = e
            {
                by_gen.entry(generation).or_default().extend(items);
            }
        })
        .await
        .unwrap();
    (
        by_gen.remove(&summary.generation).unwrap_or_default(),
        summary,
    )
}

#[tokio::test]
async fn walks_restart_when_a_purchase_lands_mid_walk() {
    let mut c = SimulatorConfig::default();
    c.page_size(10).max_requests_per_second(0);
    let s = site(c).await;
    for i in 0..95 {
        s.sim
            .add_asset(s.loc, AssetSpec::app(format!("{}", 100_000 + i), 10));
    }
    // Apps and their licenses change while page 4 is being read.
    s.sim.purchase_after_requests(4, s.loc, "999999", 5);
    let client = client_for(&s, |_| {});
    let (assets, summary) = all_assets(&client).await;
    assert_eq!(summary.restarts, 1);
    assert_eq!(assets.len(), 96);
    assert_eq!(summary.pages, 10);
    let ids: BTreeSet<&str> = assets.iter().map(|a| a.adam_id.as_str()).collect();
    assert_eq!(ids.len(), 96);
    assert!(ids.contains("999999"));
    let bought = assets.iter().find(|a| a.adam_id == "999999").unwrap();
    assert_eq!(
        (bought.total_count, bought.available_count),
        (Some(5), Some(5))
    );
    // Page 0 twice (before and after the restart), then 1..9.
    let pages: Vec<String> = s.sim.requests().into_iter().map(|(_, p)| p).collect();
    assert_eq!(
        pages.iter().filter(|p| p.contains("pageIndex=0")).count(),
        2
    );
    assert!(
        pages
            .iter()
            .all(|p| p.starts_with("/mdm/v2/assets?pageIndex="))
    );
}

#[tokio::test]
async fn throttling_is_waited_out() {
    // The service allows 5 a second; an unpaced client gets 9646 and waits.
    let mut c = SimulatorConfig::default();
    c.page_size(2).max_requests_per_second(5);
    let s = site(c).await;
    for i in 0..12 {
        s.sim
            .add_asset(s.loc, AssetSpec::app(format!("{}", 200 + i), 1));
    }
    let unpaced = client_for(&s, |c| {
        c.max_requests_per_second(0);
        c.walk
            .delays(Duration::from_millis(250), Duration::from_secs(1));
    });
    let mut retries = 0;
    let summary = unpaced
        .walk_assets(AssetFilter::default(), |e| {
            if let WalkEvent::Retrying { error, .. } = e {
                assert!(error.api().unwrap().is(codes::TOO_MANY_REQUESTS), "{error}");
                retries += 1;
            }
        })
        .await
        .unwrap();
    assert_eq!(summary.items, 12);
    assert!(retries >= 1, "the service's limit was never hit");

    // A client paced at the service's rate is never throttled.
    let paced = client_for(&s, |c| {
        c.max_requests_per_second(4);
    });
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let mut throttled = 0;
    paced
        .walk_assets(AssetFilter::default(), |e| {
            if matches!(e, WalkEvent::Retrying { .. }) {
                throttled += 1;
            }
        })
        .await
        .unwrap();
    assert_eq!(throttled, 0);

    // Injected 503 with Retry-After: 1 is honoured.
    s.sim.unavailable_next(1);
    let started = std::time::Instant::now();
    let config = paced.service_config().await.unwrap();
    assert_eq!(config.limits().max_requests_per_second, 5);
    let _ = paced.client_config().await.unwrap();
    assert!(started.elapsed() >= Duration::from_secs(1));
}

#[tokio::test]
async fn token_problems_are_clear() {
    let s = site(SimulatorConfig::default()).await;
    let expired = s.sim.issue_token(
        s.loc,
        "Example Corp",
        SystemTime::now() - Duration::from_secs(60),
    );
    let revoked = s.sim.issue_token(s.loc, "Example Corp", year_from_now());
    s.sim.revoke_token(&revoked);
    let unknown = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD
            .encode(r#"{"token":"bm9wZQ==","expDate":"2099-01-01T00:00:00+0000","orgName":"X"}"#)
    };
    for (file, number) in [
        (expired, codes::TOKEN_EXPIRED),
        (revoked, codes::TOKEN_REVOKED),
        (unknown, codes::INVALID_TOKEN),
    ] {
        for errors_with_200 in [false, true] {
            let mut c = SimulatorConfig::default();
            c.errors_with_200(errors_with_200);
            let mut cfg = VppClientConfig::default();
            cfg.base_url(s.sim.base_url());
            let client =
                VppClient::new(ContentToken::parse(file.as_bytes()).unwrap(), cfg).unwrap();
            let e = client.client_config().await.unwrap_err();
            let api = e.api().unwrap_or_else(|| panic!("{e}"));
            assert!(api.is(number), "{e}");
            assert!(api.is_token_problem());
            assert!(!e.is_retryable());
            assert_eq!(api.status, 401);
        }
    }
    // The quirk: errors with HTTP 200 are errors all the same.
    let mut c = SimulatorConfig::default();
    c.errors_with_200(true);
    let quirky = site(c).await;
    let bad = quirky.sim.issue_token(quirky.loc, "X", year_from_now());
    quirky.sim.revoke_token(&bad);
    let mut cfg = VppClientConfig::default();
    cfg.base_url(quirky.sim.base_url());
    let client = VppClient::new(ContentToken::parse(bad.as_bytes()).unwrap(), cfg).unwrap();
    let e = client
        .walk_assets(AssetFilter::default(), |_| {})
        .await
        .unwrap_err();
    let api = e.api().unwrap();
    assert_eq!(
        (api.status, api.error_number),
        (200, Some(codes::TOKEN_REVOKED))
    );
}

#[tokio::test]
async fn associate_with_partial_failure_and_disassociate() {
    let mut c = SimulatorConfig::default();
    c.events(Duration::from_millis(100), 2)
        .max_requests_per_second(0);
    let s = site(c).await;
    s.sim.add_asset(s.loc, AssetSpec::app("361309726", 3));
    let client = client_for(&s, |_| {});
    let request = ManageAssetsRequest {
        assets: vec![app("361309726")],
        serial_numbers: serials(5),
        client_user_ids: vec![],
    };
    let ev = client.associate(request.clone()).await.unwrap();
    assert!(!ev.event_id.is_empty());
    // Right away the job is pending.
    let first = client.event_status(&ev.event_id).await.unwrap();
    assert_eq!(first.event_status, EventState::Pending);
    assert_eq!(first.num_requested, 5);
    let outcome = client
        .wait_event(&ev.event_id, || client.associate(request.clone()))
        .await;
    let EventOutcome::Finished(status) = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(status.event_status, EventState::Failed);
    assert_eq!((status.num_completed, status.num_requested), (3, 5));
    let failed: Vec<&str> = status.failed_serial_numbers().map(|(s, _)| s).collect();
    assert_eq!(failed, vec!["C02SIM000003", "C02SIM000004"]);
    assert!(
        status
            .failures
            .iter()
            .all(|f| f.error_number == codes::NOT_ENOUGH_LICENSES)
    );
    assert_eq!(s.sim.available(s.loc, "361309726"), 0);
    assert_eq!(s.sim.device_assignments(s.loc, "361309726").len(), 3);

    // Giving the licenses back.
    let back = ManageAssetsRequest {
        assets: vec![app("361309726")],
        serial_numbers: serials(3),
        client_user_ids: vec![],
    };
    let ev = client.disassociate(back.clone()).await.unwrap();
    let outcome = client
        .wait_event(&ev.event_id, || client.disassociate(back.clone()))
        .await;
    assert!(
        matches!(outcome, EventOutcome::Finished(ref s) if s.event_status == EventState::Complete),
        "{outcome:?}"
    );
    assert_eq!(s.sim.available(s.loc, "361309726"), 3);

    // Refused up front by the service.
    s.sim.add_asset(
        s.loc,
        AssetSpec {
            device_assignable: false,
            ..AssetSpec::app("555", 10)
        },
    );
    let e = client
        .associate(ManageAssetsRequest {
            assets: vec![app("555")],
            serial_numbers: serials(1),
            client_user_ids: vec![],
        })
        .await
        .unwrap_err();
    assert!(e.api().unwrap().is(codes::NOT_DEVICE_ASSIGNABLE), "{e}");
    let e = client
        .associate(ManageAssetsRequest {
            assets: vec![app("361309726")],
            serial_numbers: serials(1001),
            client_user_ids: vec![],
        })
        .await
        .unwrap_err();
    assert!(e.api().unwrap().is(codes::TOO_MANY_SERIAL_NUMBERS), "{e}");
    let mut dup = serials(2);
    dup.push(dup[0].clone());
    let e = client
        .associate(ManageAssetsRequest {
            assets: vec![app("361309726")],
            serial_numbers: dup,
            client_user_ids: vec![],
        })
        .await
        .unwrap_err();
    assert!(e.api().unwrap().is(codes::DUPLICATE_SERIAL_NUMBERS), "{e}");
    let e = client.event_status("no-such-event").await.unwrap_err();
    assert!(e.api().unwrap().is(codes::EVENT_NOT_FOUND), "{e}");
}

#[tokio::test]
async fn incremental_assignment_walks() {
    let mut c = SimulatorConfig::default();
    c.page_size(50).max_requests_per_second(0);
    let s = site(c).await;
    s.sim.add_asset(s.loc, AssetSpec::app("1", 1000));
    s.sim.seed_assignments(s.loc, "1", serials(120));
    let client = client_for(&s, |_| {});
    let mut seen = 0;
    let full = client
        .walk_assignments(AssignmentFilter::default(), |e| {
            if let WalkEvent::Page { items, .. } = e {
                seen += items.len();
            }
        })
        .await
        .unwrap();
    assert_eq!((seen, full.pages), (120, 3));
    // Three more devices get licenses; only they come back since then.
    let req = ManageAssetsRequest {
        assets: vec![app("1")],
        serial_numbers: vec!["NEW1".into(), "NEW2".into(), "NEW3".into()],
        client_user_ids: vec![],
    };
    let ev = client.associate(req.clone()).await.unwrap();
    client
        .wait_event(&ev.event_id, || client.associate(req.clone()))
        .await;
    let mut changed = Vec::new();
    client
        .walk_assignments(
            AssignmentFilter {
                since_version_id: full.version_id.clone(),
                ..Default::default()
            },
            |e| {
                if let WalkEvent::Page { items, .. } = e {
                    changed.extend(items.into_iter().filter_map(|a| a.serial_number));
                }
            },
        )
        .await
        .unwrap();
    changed.sort();
    assert_eq!(changed, vec!["NEW1", "NEW2", "NEW3"]);
    let e = client
        .walk_assignments(
            AssignmentFilter {
                since_version_id: Some("00000000-514c-11eb-bb63-ffffffffffff".into()),
                ..Default::default()
            },
            |_| {},
        )
        .await
        .unwrap_err();
    assert!(e.api().unwrap().is(codes::INVALID_VERSION_ID), "{e}");
}

/// A notification receiver on loopback that records what it is sent and
/// answers with `status`.
/// What a receiver got: the `Authorization` header and the body.
type Received = Arc<Mutex<Vec<(Option<String>, Vec<u8>)>>>;

struct Receiver {
    url: String,
    got: Received,
    status: Arc<Mutex<u16>>,
}

async fn receiver() -> Receiver {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/mdm/vpp/notify/main",
        listener.local_addr().unwrap()
    );
    let got = Arc::new(Mutex::new(Vec::new()));
    let status = Arc::new(Mutex::new(200u16));
    let (g, st) = (got.clone(), status.clone());
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let (g, st) = (g.clone(), st.clone());
            tokio::spawn(async move {
                let svc = service_fn(move |req: hyper::Request<Incoming>| {
                    let (g, st) = (g.clone(), st.clone());
                    async move {
                        let auth = req
                            .headers()
                            .get("authorization")
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_owned);
                        let body = req.into_body().collect().await.unwrap().to_bytes().to_vec();
                        g.lock().unwrap().push((auth, body));
                        let code = *st.lock().unwrap();
                        Ok::<_, Infallible>(
                            hyper::Response::builder()
                                .status(code)
                                .body(Full::new(Bytes::new()))
                                .unwrap(),
                        )
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    Receiver { url, got, status }
}

async fn wait_for(cond: impl Fn() -> bool) {
    for _ in 0..500 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("condition not met within 5 s");
}

#[tokio::test]
async fn claiming_and_notifications() {
    let mut c = SimulatorConfig::default();
    c.allow_http_notification_urls(true)
        .events(Duration::from_millis(10), 1000)
        .duplicate_notifications(true)
        .max_requests_per_second(0);
    let s = site(c).await;
    s.sim.add_asset(s.loc, AssetSpec::app("361309726", 1000));
    let rx = receiver().await;
    let ours = MdmInfo {
        id: "pippin-site-1".into(),
        metadata: "mdm.example.com".into(),
        name: "Pippin".into(),
    };
    let client = client_for(&s, |c| {
        c.api.mdm_id("pippin-site-1");
    });
    let claim = ClientConfigRequest {
        mdm_info: Some(ours.clone()),
        notification_auth_token: Some("n0t1f-s3cret".into()),
        notification_url: Some(rx.url.clone()),
        notification_types: Some(vec!["ASSET_MANAGEMENT".into(), "ASSET_COUNT".into()]),
    };

    // The receiver fails the test notification: refused with 9728.
    *rx.status.lock().unwrap() = 500;
    let e = client.claim(claim.clone(), false).await.unwrap_err();
    assert!(
        e.api().unwrap().is(codes::NOTIFICATION_URL_UNREACHABLE),
        "{e}"
    );
    assert_eq!(s.sim.mdm_info(s.loc), None);

    *rx.status.lock().unwrap() = 200;
    let config = client.claim(claim.clone(), false).await.unwrap();
    assert_eq!(config.mdm_info.as_ref(), Some(&ours));
    assert_eq!(config.notification_url.as_deref(), Some(rx.url.as_str()));
    assert_eq!(
        config.subscribed_notification_types,
        vec!["ASSET_MANAGEMENT", "ASSET_COUNT"]
    );
    {
        let got = rx.got.lock().unwrap();
        let (auth, body) = got.last().unwrap();
        assert_eq!(auth.as_deref(), Some("Bearer n0t1f-s3cret"));
        let n = Notification::parse(body).unwrap();
        assert_eq!(n.body, NotificationBody::Test);
    }
    rx.got.lock().unwrap().clear();

    // 250 devices: notifications in chunks of at most 100, each sent twice.
    let req = ManageAssetsRequest {
        assets: vec![app("361309726")],
        serial_numbers: serials(250),
        client_user_ids: vec![],
    };
    let ev = client.associate(req.clone()).await.unwrap();
    client
        .wait_event(&ev.event_id, || client.associate(req.clone()))
        .await;
    wait_for(|| rx.got.lock().unwrap().len() >= 6).await;
    let got = rx.got.lock().unwrap().clone();
    let mut ids = BTreeSet::new();
    let mut devices = BTreeSet::new();
    for (auth, body) in &got {
        assert_eq!(auth.as_deref(), Some("Bearer n0t1f-s3cret"));
        let n = Notification::parse(body).unwrap();
        ids.insert(n.notification_id.clone());
        let NotificationBody::AssetManagement(m) = n.body else {
            panic!("{:?}", n.body)
        };
        assert!(m.succeeded());
        assert_eq!(m.event_id.as_deref(), Some(ev.event_id.as_str()));
        assert!(m.assignments.len() <= 100);
        devices.extend(m.assignments.into_iter().filter_map(|a| a.serial_number));
    }
    assert_eq!(got.len(), 6, "three chunks, each twice");
    assert_eq!(ids.len(), 3, "duplicates carry the same notificationId");
    assert_eq!(devices.len(), 250);

    // A purchase: ASSET_COUNT.
    rx.got.lock().unwrap().clear();
    s.sim.purchase(s.loc, "361309726", 25);
    wait_for(|| !rx.got.lock().unwrap().is_empty()).await;
    let (_, body) = rx.got.lock().unwrap()[0].clone();
    let NotificationBody::AssetCount(count) = Notification::parse(&body).unwrap().body else {
        panic!("asset count expected")
    };
    assert_eq!(
        (count.adam_id.as_str(), count.count_delta),
        ("361309726", 25)
    );

    // Another MDM takes the token: our calls say so, and claiming again
    // needs take_over.
    s.sim.set_mdm_info(
        s.loc,
        Some(MdmInfo {
            id: "other".into(),
            metadata: "other.example.com".into(),
            name: "Other MDM".into(),
        }),
    );
    let e = client
        .walk_assets(AssetFilter::default(), |_| {})
        .await
        .unwrap_err();
    assert!(matches!(e, Error::MdmConflict { .. }), "{e}");
    let e = client.claim(claim.clone(), false).await.unwrap_err();
    assert!(e.to_string().contains("Other MDM"), "{e}");
    client.claim(claim, true).await.unwrap();
    assert_eq!(s.sim.mdm_info(s.loc), Some(ours));
    client
        .walk_assets(AssetFilter::default(), |_| {})
        .await
        .unwrap();
}

#[tokio::test]
async fn metadata_lookup_needs_the_cookie_for_custom_apps() {
    let s = site(SimulatorConfig::default()).await;
    s.sim
        .add_catalog_app("361309726", "Pages", "com.apple.Pages", "14.1", false);
    s.sim.add_catalog_app(
        "900000001",
        "Example Field Service",
        "com.example.field",
        "2.0",
        true,
    );
    let client = client_for(&s, |_| {});
    let url = client
        .service_config()
        .await
        .unwrap()
        .content_metadata_lookup()
        .unwrap()
        .to_owned();
    assert_eq!(url, s.sim.lookup_url());
    let ids: Vec<String> = ["361309726", "900000001", "123"]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    let found = client
        .lookup_metadata(&s.sim.lookup_url(), &ids, "enterprisestore", "US")
        .await
        .unwrap();
    assert_eq!(found.len(), 2);
    assert_eq!(found[0].bundle_id.as_deref(), Some("com.apple.Pages"));
    assert_eq!(found[1].name.as_deref(), Some("Example Field Service"));
    assert!(found[1].is_custom_app);
    assert_eq!(
        found[0].icon_url.as_deref(),
        Some("https://is1-ssl.mzstatic.com/image/thumb/361309726/AppIcon/512x512bb.png")
    );
    // 45 ids go out in three lookups of at most 20.
    let many: Vec<String> = (0..45).map(|i| (1000 + i).to_string()).collect();
    let before = s.sim.requests().len();
    client
        .lookup_metadata(&s.sim.lookup_url(), &many, "enterprisestore", "us")
        .await
        .unwrap();
    assert_eq!(s.sim.requests().len() - before, 3);
}

#[tokio::test]
async fn wrong_methods_and_content_types() {
    let s = site(SimulatorConfig::default()).await;
    let http = pippin_http_client::client::HttpsClient::new(&{
        let mut c = pippin_http_client::client::HttpsConfig::default();
        c.trust_anchors_pem(include_str!("fixtures/unused-anchor.pem"));
        c
    })
    .unwrap();
    let send = |method: &str, path: &str, ctype: Option<&str>| {
        let mut b = http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", s.sim.base_url()))
            .header("authorization", format!("Bearer {}", s.token));
        if let Some(c) = ctype {
            b = b.header("content-type", c);
        }
        http.send(b.body(b"{}".to_vec()).unwrap())
    };
    let r = send("DELETE", "/assets", None).await.unwrap();
    assert_eq!(r.status(), 405);
    assert!(String::from_utf8_lossy(r.body()).contains("9726"));
    let r = send("POST", "/assets/associate", Some("text/plain"))
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    assert!(String::from_utf8_lossy(r.body()).contains("9727"));
    let r = send("POST", "/assets/associate", Some("application/json"))
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(String::from_utf8_lossy(r.body()).contains("9718"));
    let r = send("GET", "/assets?pageIndex=7", None).await.unwrap();
    assert_eq!(r.status(), 400);
    assert!(String::from_utf8_lossy(r.body()).contains("9650"));
}

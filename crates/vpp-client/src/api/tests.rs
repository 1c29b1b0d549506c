use std::time::Duration;

use base64::Engine as _;

use super::*;
use crate::error::codes;
use crate::model::{AssetRef, EventState};

const FILE: &str = r#"{"token":"VFdwQmVVMVRRWFJKUldS","expDate":"2030-11-08T22:33:22+0000","orgName":"Example Corp"}"#;

fn api_with(mdm_id: Option<&str>) -> Api {
    let file = base64::engine::general_purpose::STANDARD.encode(FILE);
    let mut c = Config::default();
    if let Some(id) = mdm_id {
        c.mdm_id(id);
    }
    Api::new(ContentToken::parse(file.as_bytes()).unwrap(), Arc::new(c)).unwrap()
}

fn api() -> Api {
    api_with(None)
}

fn resp(status: u16, body: &[u8]) -> http::Response<&[u8]> {
    http::Response::builder().status(status).body(body).unwrap()
}

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn requests_carry_the_token_and_json() {
    let a = api();
    let bearer = format!("Bearer {}", a.token().bearer());
    let r = a.request(&GetClientConfig).unwrap();
    assert_eq!(r.method(), http::Method::GET);
    assert_eq!(r.uri(), "https://vpp.itunes.apple.com/mdm/v2/client/config");
    assert_eq!(r.headers()["authorization"], bearer.as_str());
    assert!(r.headers().get("content-type").is_none());
    assert!(r.body().is_empty());

    let r = a.request(&GetServiceConfig).unwrap();
    assert!(r.headers().get("authorization").is_none());

    let r = a
        .request(&Associate(ManageAssetsRequest {
            assets: vec![AssetRef {
                adam_id: "408709785".into(),
                pricing_param: PricingParam::stdq(),
            }],
            serial_numbers: vec!["C02XK0AAJGH5".into()],
            client_user_ids: vec![],
        }))
        .unwrap();
    assert_eq!(r.method(), http::Method::POST);
    assert_eq!(
        r.uri(),
        "https://vpp.itunes.apple.com/mdm/v2/assets/associate"
    );
    assert_eq!(r.headers()["content-type"], "application/json");
    assert_eq!(
        r.body(),
        br#"{"assets":[{"adamId":"408709785","pricingParam":"STDQ"}],"serialNumbers":["C02XK0AAJGH5"]}"#
    );
    assert!(
        r.headers()["user-agent"]
            .to_str()
            .unwrap()
            .starts_with("pippin-vpp/")
    );
}

#[test]
fn query_strings() {
    let a = api();
    let r = a
        .request(&GetAssets {
            filter: AssetFilter {
                adam_id: Some("361309726".into()),
                pricing_param: Some(PricingParam::stdq()),
                product_type: Some("App".into()),
                device_assignable: Some(true),
                min_available_count: Some(1),
                ..AssetFilter::default()
            },
            page_index: 2,
        })
        .unwrap();
    assert_eq!(
        r.uri(),
        "https://vpp.itunes.apple.com/mdm/v2/assets?adamId=361309726&deviceAssignable=true&minAvailableCount=1&pageIndex=2&pricingParam=STDQ&productType=App"
    );
    let r = a
        .request(&GetAssignments {
            filter: AssignmentFilter {
                serial_number: Some("C02 X&Y".into()),
                since_version_id: Some("70e8c740-514c".into()),
                ..AssignmentFilter::default()
            },
            page_index: 0,
        })
        .unwrap();
    assert_eq!(
        r.uri(),
        "https://vpp.itunes.apple.com/mdm/v2/assignments?pageIndex=0&serialNumber=C02%20X%26Y&sinceVersionId=70e8c740-514c"
    );
    let r = a
        .request(&GetEventStatus {
            event_id: "954910a8-3d9c".into(),
        })
        .unwrap();
    assert_eq!(
        r.uri(),
        "https://vpp.itunes.apple.com/mdm/v2/status?eventId=954910a8-3d9c"
    );
}

#[test]
fn refuses_requests_apple_would_refuse() {
    let a = api();
    assert!(matches!(
        a.request(&Associate(ManageAssetsRequest::default())),
        Err(Error::InvalidRequest(_))
    ));
    let no_targets = ManageAssetsRequest {
        assets: vec![AssetRef::default()],
        ..Default::default()
    };
    assert!(a.request(&Disassociate(no_targets)).is_err());
    assert!(a.request(&Revoke(RevokeAssetsRequest::default())).is_err());
    let half = ClientConfigRequest {
        notification_url: Some("https://mdm.example.com/vpp".into()),
        ..Default::default()
    };
    assert!(a.request(&SetClientConfig(half)).is_err());
    let long_id = ClientConfigRequest {
        mdm_info: Some(MdmInfo {
            id: "x".repeat(101),
            ..Default::default()
        }),
        ..Default::default()
    };
    assert!(a.request(&SetClientConfig(long_id)).is_err());
}

#[test]
fn apple_documented_answers() {
    let a = api();
    let page = a
        .handle_response(
            &GetAssets::default(),
            &resp(200, &fixture("apple-get-assets-200.json")),
        )
        .unwrap();
    assert_eq!(page.assets.len(), 4);
    assert_eq!(page.assets[0].adam_id, "408709785");
    assert_eq!(page.assets[0].total_count, Some(15000));
    assert_eq!(page.assets[2].supported_platforms, vec!["iOS", "macOS"]);
    assert_eq!(page.assets[3].pricing_param, PricingParam::plus());
    assert!(!page.assets[3].device_assignable);
    assert_eq!(page.next_page_index, Some(1));
    assert_eq!(
        page.version_id.as_deref(),
        Some("70e8c740-514c-11eb-bb63-a90b882fcd52")
    );

    let page = a
        .handle_response(
            &GetAssignments::default(),
            &resp(200, &fixture("apple-get-assignments-200.json")),
        )
        .unwrap();
    assert_eq!(page.assignments.len(), 2);
    assert_eq!(
        page.assignments[0].client_user_id.as_deref(),
        Some("client-1")
    );
    assert_eq!(
        page.assignments[1].serial_number.as_deref(),
        Some("serial-1")
    );
    assert_eq!(page.next_page_index, None);

    let c = a
        .handle_response(
            &GetClientConfig,
            &resp(200, &fixture("apple-client-config-200.json")),
        )
        .unwrap();
    assert_eq!(c.country_iso2a_code.as_deref(), Some("US"));
    assert_eq!(c.mdm_info.as_ref().unwrap().name, "Apple Configurator 2");
    assert_eq!(c.subscribed_notification_types.len(), 4);
    assert_eq!(c.website_url.as_deref(), Some("https://school.apple.com"));

    let s = a
        .handle_response(
            &GetServiceConfig,
            &resp(200, &fixture("apple-service-config-200.json")),
        )
        .unwrap();
    assert_eq!(s.limits().max_serial_numbers, 1000);
    assert_eq!(s.limits().max_assets, 25);
    assert_eq!(
        s.content_metadata_lookup(),
        Some("https://uclient-api.itunes.apple.com/WebObjects/MZStorePlatform.woa/wa/lookup")
    );

    let e = a
        .handle_response(
            &Associate::default(),
            &resp(200, &fixture("apple-associate-200.json")),
        )
        .unwrap();
    assert_eq!(e.event_id, "954910a8-3d9c-4fde-948d-253e5aef431a");

    let st = a
        .handle_response(
            &GetEventStatus::default(),
            &resp(200, &fixture("apple-status-failed-200.json")),
        )
        .unwrap();
    assert_eq!(st.event_status, EventState::Failed);
    assert_eq!((st.num_completed, st.num_requested), (14, 16));
    let failed: Vec<(&str, i64)> = st
        .failed_serial_numbers()
        .map(|(s, f)| (s, f.error_number))
        .collect();
    assert_eq!(failed, vec![("C02XK0AAJGH5", 9709), ("C02XK0AAJGH6", 9709)]);
}

#[test]
fn errors_whatever_the_status() {
    let a = api();
    let body = fixture("apple-error-9646-429.json");
    let throttled = http::Response::builder()
        .status(429)
        .header("retry-after", "7")
        .body(&body[..])
        .unwrap();
    let e = a
        .handle_response(&GetAssets::default(), &throttled)
        .unwrap_err();
    let api_err = e.api().unwrap();
    assert_eq!(api_err.status, 429);
    assert!(api_err.is(codes::TOO_MANY_REQUESTS));
    assert_eq!(
        api_err.retry_after.unwrap().delay(),
        Some(Duration::from_secs(7))
    );
    assert!(e.is_retryable());
    assert!(e.to_string().contains("9646"), "{e}");

    // An error body with 200 (older deployments): an error, not an empty page.
    let body = br#"{"errorNumber":9622,"errorMessage":"Invalid authentication token"}"#;
    for endpoint_result in [
        a.handle_response(&GetAssets::default(), &resp(200, body))
            .map(|_| ()),
        a.handle_response(&GetAssignments::default(), &resp(200, body))
            .map(|_| ()),
        a.handle_response(&GetClientConfig, &resp(200, body))
            .map(|_| ()),
        a.handle_response(&GetServiceConfig, &resp(200, body))
            .map(|_| ()),
        a.handle_response(&Associate::default(), &resp(200, body))
            .map(|_| ()),
    ] {
        let e = endpoint_result.unwrap_err();
        let api_err = e.api().unwrap();
        assert!(api_err.is(codes::INVALID_TOKEN), "{e}");
        assert!(api_err.is_token_problem());
        assert!(!e.is_retryable());
    }
    // errorNumber 0 in a success answer is no error.
    let ok = br#"{"eventId":"e","errorNumber":0}"#;
    assert!(
        a.handle_response(&Associate::default(), &resp(200, ok))
            .is_ok()
    );

    // Not JSON at all.
    let e = a
        .handle_response(
            &GetAssets::default(),
            &resp(502, b"<html>Bad Gateway</html>"),
        )
        .unwrap_err();
    assert_eq!(e.api().unwrap().status, 502);
    assert!(e.is_retryable());
    let e = a
        .handle_response(&GetAssets::default(), &resp(200, b"{\"assets\":"))
        .unwrap_err();
    assert!(matches!(e, Error::InvalidResponse { .. }));
    // A 401 without a body is a token problem.
    let e = a
        .handle_response(&GetAssets::default(), &resp(401, b""))
        .unwrap_err();
    assert!(e.api().unwrap().is_token_problem());
}

#[test]
fn another_mdm_took_the_token() {
    let body = br#"{"assets":[],"currentPageIndex":0,"totalPages":1,"mdmInfo":{"id":"other-id","name":"Other MDM","metadata":"mdm.other.example"}}"#;
    let ours = api_with(Some("our-id"));
    let e = ours
        .handle_response(&GetAssets::default(), &resp(200, body))
        .unwrap_err();
    match &e {
        Error::MdmConflict { ours, theirs } => {
            assert_eq!(ours, "our-id");
            assert!(
                theirs.contains("Other MDM") && theirs.contains("other-id"),
                "{theirs}"
            );
        }
        other => panic!("{other}"),
    }
    // Client config answers are for looking: not checked.
    let cc = br#"{"mdmInfo":{"id":"other-id","name":"Other MDM","metadata":""}}"#;
    assert!(
        ours.handle_response(&GetClientConfig, &resp(200, cc))
            .is_ok()
    );
    // Ours, or no mdmInfo yet: fine.
    let mine = br#"{"assets":[],"currentPageIndex":0,"mdmInfo":{"id":"our-id","name":"Pippin","metadata":""}}"#;
    assert!(
        ours.handle_response(&GetAssets::default(), &resp(200, mine))
            .is_ok()
    );
    let none = br#"{"assets":[],"currentPageIndex":0}"#;
    assert!(
        ours.handle_response(&GetAssets::default(), &resp(200, none))
            .is_ok()
    );
    // Without an id configured nothing is checked.
    assert!(
        api()
            .handle_response(&GetAssets::default(), &resp(200, body))
            .is_ok()
    );
}

#[test]
fn body_limit() {
    let file = base64::engine::general_purpose::STANDARD.encode(FILE);
    let mut c = Config::default();
    c.max_body_len(10);
    let a = Api::new(ContentToken::parse(file.as_bytes()).unwrap(), Arc::new(c)).unwrap();
    let e = a
        .handle_response(&GetAssets::default(), &resp(200, &[b' '; 11]))
        .unwrap_err();
    assert!(matches!(e, Error::BodyTooLarge { limit: 10 }));
}

#[test]
fn base_urls() {
    let file = base64::engine::general_purpose::STANDARD.encode(FILE);
    let token = ContentToken::parse(file.as_bytes()).unwrap();
    for bad in [
        "http://vpp.itunes.apple.com/mdm/v2",
        "ftp://x",
        "https://u@x/",
    ] {
        let mut c = Config::default();
        c.base_url(bad);
        assert!(
            matches!(
                Api::new(token.clone(), Arc::new(c)),
                Err(Error::InvalidBaseUrl(_))
            ),
            "{bad}"
        );
    }
    let mut c = Config::default();
    c.base_url("http://127.0.0.1:9999/mdm/v2/");
    let a = Api::new(token, Arc::new(c)).unwrap();
    assert_eq!(
        a.request(&GetClientConfig).unwrap().uri(),
        "http://127.0.0.1:9999/mdm/v2/client/config"
    );
}

#[test]
fn requests_are_json_python_reads_back() {
    if !test_support::require_python("requests_are_json_python_reads_back", &["json"]) {
        return;
    }
    let a = api();
    let req = a
        .request(&SetClientConfig(ClientConfigRequest {
            mdm_info: Some(MdmInfo {
                id: "6f1c2b1e-0000-4000-8000-000000000001".into(),
                metadata: "mdm.example.com \"site A\" ü".into(),
                name: "Pippin".into(),
            }),
            notification_auth_token: Some("s3cr\\et".into()),
            notification_url: Some("https://mdm.example.com:8760/mdm/vpp/notify/main".into()),
            notification_types: Some(vec!["ASSET_MANAGEMENT".into(), "ASSET_COUNT".into()]),
        }))
        .unwrap();
    let out = test_support::python_ok(
        r#"
import json, sys
d = json.load(sys.stdin)
assert d["mdmInfo"] == {"id": "6f1c2b1e-0000-4000-8000-000000000001", "metadata": 'mdm.example.com "site A" \u00fc', "name": "Pippin"}, d
assert d["notificationAuthToken"] == "s3cr\\et", d
assert d["notificationUrl"] == "https://mdm.example.com:8760/mdm/vpp/notify/main"
assert d["notificationTypes"] == ["ASSET_MANAGEMENT", "ASSET_COUNT"]
assert set(d) == {"mdmInfo", "notificationAuthToken", "notificationUrl", "notificationTypes"}, d
print("ok")
"#,
        req.body(),
    );
    assert_eq!(String::from_utf8_lossy(&out).trim(), "ok");
}

//! The conformance cases of Apps and Books (VPP): tokens, asset walks,
//! license counts and metadata, assignment requests, removals and state
//! changes, listings, notification ids; and a reference model of the
//! licenses driven by random operations.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use pippin_store::{
    Error, MAX_PAGE, MAX_VPP_BATCH, NewVppToken, Store, VppAsset, VppAssetMetadata, VppAssetQuery,
    VppAssetRecord, VppAssignRequest, VppAssignState, VppAssignUpdate, VppAssignment,
    VppAssignmentQuery, VppClaim, VppOrgType, VppRequestOutcome, VppToken,
};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use VppAssignState as St;

const YEAR: i64 = 365 * 86_400_000;

pub fn new_vpp_token(name: &str, file: &str, now: i64) -> NewVppToken {
    NewVppToken {
        name: name.to_owned(),
        description: format!("Location {name}"),
        org_type: VppOrgType::Business,
        token_sealed: format!("sealed:{file}"),
        org_name: "Example Org".into(),
        token_expiry: Some(now + YEAR),
        now,
    }
}

/// An app as `GET assets` describes it; `available: None` for an unlimited
/// one.
pub fn vpp_asset(adam_id: &str, pricing: &str, available: Option<i64>) -> VppAssetRecord {
    VppAssetRecord {
        adam_id: adam_id.to_owned(),
        pricing_param: pricing.to_owned(),
        product_type: Some("App".into()),
        total_count: available.map(|a| a + 2),
        assigned_count: 2,
        available_count: available,
        retired_count: Some(0),
        device_assignable: true,
        revocable: true,
        platforms: vec!["iOS".into(), "macOS".into()],
    }
}

/// Stores a token and one finished walk of `assets`.
pub async fn token_with_assets(s: &dyn Store, name: &str, assets: &[VppAssetRecord]) {
    s.put_vpp_token(&new_vpp_token(name, "f", 10))
        .await
        .unwrap();
    s.upsert_vpp_assets(name, assets, 1, 20).await.unwrap();
    assert_eq!(
        s.finish_vpp_asset_walk(name, 1, Some("v1"), 30)
            .await
            .unwrap(),
        0
    );
}

pub fn assign_request(token: &str, adam_id: &str, serials: &[&str], now: i64) -> VppAssignRequest {
    VppAssignRequest {
        token: token.to_owned(),
        adam_id: adam_id.to_owned(),
        pricing_param: "STDQ".into(),
        devices: serials
            .iter()
            .map(|s| ((*s).to_owned(), Some(format!("UDID-{s}"))))
            .collect(),
        options_json: r#"{"remove_on_unenroll":true}"#.into(),
        requested_by: "admin@example.org".into(),
        now,
    }
}

fn to(state: VppAssignState, now: i64) -> VppAssignUpdate {
    VppAssignUpdate {
        state,
        now,
        ..Default::default()
    }
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

async fn asset(s: &dyn Store, token: &str, adam_id: &str) -> VppAsset {
    s.get_vpp_asset(token, adam_id, "STDQ")
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("no asset {token}/{adam_id}"))
}

async fn row(s: &dyn Store, token: &str, adam_id: &str, serial: &str) -> Option<VppAssignment> {
    s.list_vpp_assignments(&VppAssignmentQuery {
        token: Some(token.to_owned()),
        adam_id: Some(adam_id.to_owned()),
        serial_number: Some(serial.to_owned()),
        limit: 10,
        ..Default::default()
    })
    .await
    .unwrap()
    .items
    .into_iter()
    .find(|a| a.pricing_param == "STDQ")
}

async fn state_of(s: &dyn Store, token: &str, adam_id: &str, serial: &str) -> Option<St> {
    row(s, token, adam_id, serial).await.map(|a| a.state)
}

fn is_unknown_token<T: std::fmt::Debug>(r: &Result<T, Error>, name: &str) -> bool {
    matches!(r, Err(Error::UnknownVppToken(n)) if n == name)
}

fn is_invalid_name<T: std::fmt::Debug>(r: &Result<T, Error>) -> bool {
    matches!(r, Err(Error::InvalidVppTokenName(_)))
}

// --- Tokens -----------------------------------------------------------------------

pub async fn vpp_tokens_lifecycle(s: &dyn Store) {
    assert_eq!(s.get_vpp_token("loc").await.unwrap(), None);
    assert!(s.list_vpp_tokens().await.unwrap().is_empty());

    assert!(
        s.put_vpp_token(&new_vpp_token("loc", "f1", 1_000))
            .await
            .unwrap()
    );
    let stored = s.get_vpp_token("loc").await.unwrap().unwrap();
    assert_eq!(
        stored,
        VppToken {
            name: "loc".into(),
            description: "Location loc".into(),
            org_type: VppOrgType::Business,
            token_sealed: "sealed:f1".into(),
            org_name: "Example Org".into(),
            token_expiry: Some(1_000 + YEAR),
            notify_secret_sealed: None,
            location_name: None,
            u_id: None,
            country: None,
            default_platform: None,
            claimed_at: None,
            claim_error: None,
            assets_version: None,
            assets_synced_at: None,
            last_sync_at: None,
            last_sync_ok: None,
            last_error: None,
            created_at: 1_000,
            updated_at: 1_000,
        }
    );

    // Claimed, a failed claim (the last claim's time stays), claimed again.
    let claim = VppClaim {
        notify_secret_sealed: Some("sealed:secret".into()),
        location_name: Some("Main Street".into()),
        u_id: Some("2049025000431439".into()),
        country: Some("GB".into()),
        default_platform: Some("volumestore".into()),
        now: 2_000,
    };
    s.set_vpp_claim("loc", &claim).await.unwrap();
    s.record_vpp_claim_error("loc", "another MDM server manages it", 2_100)
        .await
        .unwrap();
    let t = s.get_vpp_token("loc").await.unwrap().unwrap();
    assert_eq!(t.claimed_at, Some(2_000));
    assert_eq!(
        t.claim_error.as_deref(),
        Some("another MDM server manages it")
    );
    assert_eq!(t.updated_at, 2_100);
    s.set_vpp_claim(
        "loc",
        &VppClaim {
            now: 2_200,
            ..claim.clone()
        },
    )
    .await
    .unwrap();
    let t = s.get_vpp_token("loc").await.unwrap().unwrap();
    assert_eq!((t.claimed_at, t.claim_error), (Some(2_200), None));
    assert_eq!(t.notify_secret_sealed.as_deref(), Some("sealed:secret"));
    assert_eq!(t.location_name.as_deref(), Some("Main Street"));
    assert_eq!(t.u_id.as_deref(), Some("2049025000431439"));
    assert_eq!(t.country.as_deref(), Some("GB"));
    assert_eq!(t.default_platform.as_deref(), Some("volumestore"));

    // Sync outcomes: a success clears the error.
    s.record_vpp_sync("loc", false, Some("503 from Apple"), 2_300)
        .await
        .unwrap();
    let t = s.get_vpp_token("loc").await.unwrap().unwrap();
    assert_eq!(
        (t.last_sync_at, t.last_sync_ok, t.last_error.as_deref()),
        (Some(2_300), Some(false), Some("503 from Apple"))
    );
    s.record_vpp_sync("loc", true, None, 2_400).await.unwrap();
    let t = s.get_vpp_token("loc").await.unwrap().unwrap();
    assert_eq!(
        (t.last_sync_at, t.last_sync_ok, t.last_error),
        (Some(2_400), Some(true), None)
    );

    // A walk, and a device holding a license.
    s.upsert_vpp_assets("loc", &[vpp_asset("361309726", "STDQ", Some(5))], 7, 2_500)
        .await
        .unwrap();
    s.finish_vpp_asset_walk("loc", 7, Some("version-7"), 2_600)
        .await
        .unwrap();
    s.request_vpp_assignments(&assign_request("loc", "361309726", &["C02A"], 2_700))
        .await
        .unwrap();
    s.record_vpp_claim_error("loc", "expired", 2_800)
        .await
        .unwrap();

    // A new file: its fields replaced, to be claimed again; the rest kept.
    let renewed = NewVppToken {
        name: "loc".into(),
        description: "Renewed".into(),
        org_type: VppOrgType::Education,
        token_sealed: "sealed:f2".into(),
        org_name: "Example School".into(),
        token_expiry: None,
        now: 3_000,
    };
    assert!(!s.put_vpp_token(&renewed).await.unwrap());
    let t = s.get_vpp_token("loc").await.unwrap().unwrap();
    assert_eq!(
        t,
        VppToken {
            name: "loc".into(),
            description: "Renewed".into(),
            org_type: VppOrgType::Education,
            token_sealed: "sealed:f2".into(),
            org_name: "Example School".into(),
            token_expiry: None,
            notify_secret_sealed: Some("sealed:secret".into()),
            location_name: Some("Main Street".into()),
            u_id: Some("2049025000431439".into()),
            country: Some("GB".into()),
            default_platform: Some("volumestore".into()),
            claimed_at: None,
            claim_error: None,
            assets_version: Some("version-7".into()),
            assets_synced_at: Some(2_600),
            last_sync_at: Some(2_400),
            last_sync_ok: Some(true),
            last_error: None,
            created_at: 1_000,
            updated_at: 3_000,
        }
    );
    assert_eq!(asset(s, "loc", "361309726").await.requested, 1);
    assert_eq!(
        state_of(s, "loc", "361309726", "C02A").await,
        Some(St::PendingAssociate)
    );

    // Listed in byte order of the names.
    for n in ["a-first", "Zed"] {
        assert!(s.put_vpp_token(&new_vpp_token(n, n, 4_000)).await.unwrap());
    }
    let names: Vec<String> = s
        .list_vpp_tokens()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert_eq!(names, ["Zed", "a-first", "loc"]);
    assert_eq!(
        s.list_vpp_tokens().await.unwrap()[2],
        s.get_vpp_token("loc").await.unwrap().unwrap()
    );

    assert!(s.delete_vpp_token("Zed").await.unwrap());
    assert!(!s.delete_vpp_token("Zed").await.unwrap());
    assert_eq!(s.get_vpp_token("Zed").await.unwrap(), None);
    assert_eq!(s.list_vpp_tokens().await.unwrap().len(), 2);
}

pub async fn vpp_token_errors(s: &dyn Store) {
    let long = "x".repeat(65);
    for bad in ["", "with space", "a/b", long.as_str()] {
        let mut t = new_vpp_token("ok", "f", 1);
        t.name = bad.to_owned();
        assert!(is_invalid_name(&s.put_vpp_token(&t).await), "{bad:?}");
        assert!(is_invalid_name(&s.get_vpp_token(bad).await));
        assert!(is_invalid_name(&s.delete_vpp_token(bad).await));
        assert!(is_invalid_name(
            &s.set_vpp_claim(bad, &VppClaim::default()).await
        ));
        assert!(is_invalid_name(
            &s.record_vpp_claim_error(bad, "e", 1).await
        ));
        assert!(is_invalid_name(
            &s.record_vpp_sync(bad, true, None, 1).await
        ));
        assert!(is_invalid_name(&s.upsert_vpp_assets(bad, &[], 1, 1).await));
        assert!(is_invalid_name(
            &s.finish_vpp_asset_walk(bad, 1, None, 1).await
        ));
        assert!(is_invalid_name(&s.get_vpp_asset(bad, "1", "STDQ").await));
        assert!(is_invalid_name(
            &s.list_vpp_assets(&VppAssetQuery {
                token: Some(bad.to_owned()),
                ..Default::default()
            })
            .await
        ));
        assert!(is_invalid_name(
            &s.adjust_vpp_asset_count(bad, "1", "STDQ", 1, 1).await
        ));
        assert!(is_invalid_name(
            &s.set_vpp_asset_metadata(bad, "1", &VppAssetMetadata::default(), 1)
                .await
        ));
        assert!(is_invalid_name(
            &s.vpp_assets_without_metadata(bad, 5).await
        ));
        assert!(is_invalid_name(
            &s.request_vpp_assignments(&assign_request(bad, "1", &["S"], 1))
                .await
        ));
        assert!(is_invalid_name(
            &s.request_vpp_removals(bad, "1", "STDQ", &strings(&["S"]), "a", 1)
                .await
        ));
        assert!(is_invalid_name(
            &s.vpp_assignments_in_state(bad, St::Failed, 1, 5).await
        ));
        assert!(is_invalid_name(
            &s.set_vpp_assignments(bad, "1", "STDQ", &strings(&["S"]), &to(St::Failed, 1))
                .await
        ));
        assert!(is_invalid_name(
            &s.list_vpp_assignments(&VppAssignmentQuery {
                token: Some(bad.to_owned()),
                ..Default::default()
            })
            .await
        ));
        assert!(is_invalid_name(&s.count_vpp_assignments(bad).await));
        assert!(is_invalid_name(
            &s.first_vpp_notification("n", bad, 1).await
        ));
    }
    // 64 characters are fine.
    assert!(
        s.put_vpp_token(&new_vpp_token(&"y".repeat(64), "f", 1))
            .await
            .unwrap()
    );

    // An unknown token: every change, and listings naming it, refused.
    let g = "ghost";
    assert!(is_unknown_token(
        &s.set_vpp_claim(g, &VppClaim::default()).await,
        g
    ));
    assert!(is_unknown_token(
        &s.record_vpp_claim_error(g, "e", 1).await,
        g
    ));
    assert!(is_unknown_token(
        &s.record_vpp_sync(g, true, None, 1).await,
        g
    ));
    let page = [vpp_asset("1", "STDQ", Some(1))];
    assert!(is_unknown_token(
        &s.upsert_vpp_assets(g, &page, 1, 1).await,
        g
    ));
    assert!(is_unknown_token(
        &s.upsert_vpp_assets(g, &[], 1, 1).await,
        g
    ));
    assert!(is_unknown_token(
        &s.finish_vpp_asset_walk(g, 1, None, 1).await,
        g
    ));
    assert!(is_unknown_token(
        &s.list_vpp_assets(&VppAssetQuery {
            token: Some(g.into()),
            limit: 10,
            ..Default::default()
        })
        .await,
        g
    ));
    assert!(is_unknown_token(
        &s.adjust_vpp_asset_count(g, "1", "STDQ", 1, 1).await,
        g
    ));
    assert!(is_unknown_token(
        &s.set_vpp_asset_metadata(g, "1", &VppAssetMetadata::default(), 1)
            .await,
        g
    ));
    assert!(is_unknown_token(
        &s.vpp_assets_without_metadata(g, 5).await,
        g
    ));
    assert!(is_unknown_token(
        &s.request_vpp_assignments(&assign_request(g, "1", &["S"], 1))
            .await,
        g
    ));
    assert!(is_unknown_token(
        &s.request_vpp_removals(g, "1", "STDQ", &strings(&["S"]), "a", 1)
            .await,
        g
    ));
    assert!(is_unknown_token(
        &s.vpp_assignments_in_state(g, St::PendingAssociate, 1, 5)
            .await,
        g
    ));
    assert!(is_unknown_token(
        &s.set_vpp_assignments(g, "1", "STDQ", &strings(&["S"]), &to(St::Failed, 1))
            .await,
        g
    ));
    assert!(is_unknown_token(
        &s.list_vpp_assignments(&VppAssignmentQuery {
            token: Some(g.into()),
            limit: 10,
            ..Default::default()
        })
        .await,
        g
    ));
    assert!(is_unknown_token(&s.count_vpp_assignments(g).await, g));
    assert!(is_unknown_token(
        &s.first_vpp_notification("n-1", g, 1).await,
        g
    ));
    // Reads of an unknown token's things find nothing.
    assert_eq!(s.get_vpp_token(g).await.unwrap(), None);
    assert_eq!(s.get_vpp_asset(g, "1", "STDQ").await.unwrap(), None);
    assert!(!s.delete_vpp_token(g).await.unwrap());
    assert!(
        s.vpp_assignments_by_event("E-none")
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(s.vpp_assignments_by_command("C-none").await.unwrap(), None);

    // A known token without the asset.
    token_with_assets(s, "known", &[vpp_asset("1", "STDQ", Some(1))]).await;
    let r = s
        .request_vpp_assignments(&assign_request("known", "2", &["S"], 40))
        .await;
    assert!(
        matches!(&r, Err(Error::UnknownVppAsset { token, adam_id, pricing_param })
            if token == "known" && adam_id == "2" && pricing_param == "STDQ"),
        "{r:?}"
    );
    // The same adam id with another pricing param is another asset.
    let mut other = assign_request("known", "1", &["S"], 40);
    other.pricing_param = "PLUS".into();
    assert!(matches!(
        s.request_vpp_assignments(&other).await,
        Err(Error::UnknownVppAsset { .. })
    ));
    assert!(matches!(
        s.request_vpp_removals("known", "2", "STDQ", &strings(&["S"]), "a", 40)
            .await,
        Err(Error::UnknownVppAsset { .. })
    ));
    assert!(
        !s.adjust_vpp_asset_count("known", "2", "STDQ", 1, 40)
            .await
            .unwrap()
    );
    assert_eq!(
        s.set_vpp_asset_metadata("known", "2", &VppAssetMetadata::default(), 40)
            .await
            .unwrap(),
        0
    );
    assert_eq!(s.get_vpp_asset("known", "2", "STDQ").await.unwrap(), None);
    assert_eq!(
        s.set_vpp_assignments("known", "2", "STDQ", &strings(&["S"]), &to(St::Failed, 40))
            .await
            .unwrap(),
        0
    );
    // Nothing was stored by any of it.
    assert!(
        s.list_vpp_assignments(&VppAssignmentQuery {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap()
        .items
        .is_empty()
    );
}

// --- Assets -------------------------------------------------------------------------

pub async fn vpp_asset_walks(s: &dyn Store) {
    s.put_vpp_token(&new_vpp_token("walk", "f", 10))
        .await
        .unwrap();
    assert!(
        s.list_vpp_assets(&VppAssetQuery {
            token: Some("walk".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap()
        .items
        .is_empty()
    );
    // Two pages of walk 10; A1 has two pricing params.
    let mut a1 = vpp_asset("A1", "STDQ", Some(5));
    a1.revocable = false;
    a1.platforms = vec!["iOS".into()];
    let unlimited = VppAssetRecord {
        product_type: None,
        total_count: None,
        available_count: None,
        retired_count: None,
        platforms: Vec::new(),
        ..vpp_asset("A4", "STDQ", None)
    };
    s.upsert_vpp_assets(
        "walk",
        &[
            a1.clone(),
            vpp_asset("A2", "STDQ", Some(5)),
            vpp_asset("A3", "STDQ", Some(5)),
        ],
        10,
        100,
    )
    .await
    .unwrap();
    s.upsert_vpp_assets(
        "walk",
        &[unlimited.clone(), vpp_asset("A1", "PLUS", Some(1))],
        10,
        110,
    )
    .await
    .unwrap();
    assert_eq!(
        s.finish_vpp_asset_walk("walk", 10, Some("v-10"), 120)
            .await
            .unwrap(),
        0
    );
    let t = s.get_vpp_token("walk").await.unwrap().unwrap();
    assert_eq!(
        (
            t.assets_version.as_deref(),
            t.assets_synced_at,
            t.updated_at
        ),
        (Some("v-10"), Some(120), 120)
    );
    // Stored as given.
    assert_eq!(
        s.get_vpp_asset("walk", "A1", "STDQ").await.unwrap(),
        Some(VppAsset {
            token: "walk".into(),
            record: a1.clone(),
            metadata: VppAssetMetadata::default(),
            metadata_at: None,
            requested: 0,
            updated_at: 100,
        })
    );
    let u = asset(s, "walk", "A4").await;
    assert_eq!(u.record, unlimited);
    assert_eq!(u.free(), None);
    assert_eq!(
        s.get_vpp_asset("walk", "A1", "PLUS")
            .await
            .unwrap()
            .unwrap()
            .record
            .total_count,
        Some(3)
    );

    // Metadata, assignments on A2 (pending) and A3 (installed).
    let md = VppAssetMetadata {
        name: Some("Keynote".into()),
        bundle_id: Some("com.apple.iWork.Keynote".into()),
        icon_url: Some("https://is1-ssl.mzstatic.com/image/keynote.png".into()),
        version: Some("14.1".into()),
    };
    assert_eq!(
        s.set_vpp_asset_metadata("walk", "A1", &md, 150)
            .await
            .unwrap(),
        2
    );
    s.request_vpp_assignments(&assign_request("walk", "A2", &["S1"], 160))
        .await
        .unwrap();
    s.request_vpp_assignments(&assign_request("walk", "A3", &["S2"], 160))
        .await
        .unwrap();
    s.set_vpp_assignments(
        "walk",
        "A3",
        "STDQ",
        &strings(&["S2"]),
        &to(St::Installed, 170),
    )
    .await
    .unwrap();

    // Walk 11 misses A2; until it is finished nothing goes.
    let mut a1b = a1.clone();
    a1b.total_count = Some(9);
    a1b.available_count = Some(7);
    a1b.assigned_count = 2;
    s.upsert_vpp_assets(
        "walk",
        &[a1b.clone(), vpp_asset("A1", "PLUS", Some(1))],
        11,
        200,
    )
    .await
    .unwrap();
    s.upsert_vpp_assets(
        "walk",
        &[vpp_asset("A3", "STDQ", Some(5)), unlimited.clone()],
        11,
        210,
    )
    .await
    .unwrap();
    let a = asset(s, "walk", "A1").await;
    assert_eq!(a.record, a1b, "Apple's fields replaced");
    assert_eq!(a.metadata, md, "metadata kept");
    assert_eq!((a.metadata_at, a.updated_at), (Some(150), 200));
    assert!(
        s.get_vpp_asset("walk", "A2", "STDQ")
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(
        s.finish_vpp_asset_walk("walk", 11, Some("v-11"), 220)
            .await
            .unwrap(),
        1
    );
    assert_eq!(s.get_vpp_asset("walk", "A2", "STDQ").await.unwrap(), None);
    // Its assignment went with it.
    assert_eq!(row(s, "walk", "A2", "S1").await, None);
    assert_eq!(
        s.count_vpp_assignments("walk").await.unwrap()[&St::PendingAssociate],
        0
    );
    let t = s.get_vpp_token("walk").await.unwrap().unwrap();
    assert_eq!(
        (t.assets_version.as_deref(), t.assets_synced_at),
        (Some("v-11"), Some(220))
    );

    // A walk that does not finish (it failed, or started over) deletes
    // nothing.
    s.upsert_vpp_assets("walk", &[a1b.clone()], 12, 300)
        .await
        .unwrap();
    async fn all(s: &dyn Store) -> Vec<String> {
        s.list_vpp_assets(&VppAssetQuery {
            token: Some("walk".into()),
            limit: MAX_PAGE,
            ..Default::default()
        })
        .await
        .unwrap()
        .items
        .iter()
        .map(|a| format!("{}/{}", a.record.adam_id, a.record.pricing_param))
        .collect()
    }
    assert_eq!(all(s).await, ["A1/PLUS", "A1/STDQ", "A3/STDQ", "A4/STDQ"]);
    let t = s.get_vpp_token("walk").await.unwrap().unwrap();
    assert_eq!(t.assets_version.as_deref(), Some("v-11"));

    // The next complete walk misses A3, whose assignment is active: the
    // asset and its assignment go (Apple no longer lists it).
    s.upsert_vpp_assets(
        "walk",
        &[
            a1b.clone(),
            vpp_asset("A1", "PLUS", Some(1)),
            unlimited.clone(),
        ],
        13,
        400,
    )
    .await
    .unwrap();
    assert_eq!(
        s.finish_vpp_asset_walk("walk", 13, None, 410)
            .await
            .unwrap(),
        1
    );
    assert_eq!(all(s).await, ["A1/PLUS", "A1/STDQ", "A4/STDQ"]);
    assert_eq!(row(s, "walk", "A3", "S2").await, None);
    let t = s.get_vpp_token("walk").await.unwrap().unwrap();
    assert_eq!((t.assets_version, t.assets_synced_at), (None, Some(410)));
    // Finishing the same walk again drops nothing more.
    assert_eq!(
        s.finish_vpp_asset_walk("walk", 13, None, 420)
            .await
            .unwrap(),
        0
    );

    // A key repeated within a page counts once: its last record.
    let mut first = vpp_asset("A5", "STDQ", Some(1));
    first.product_type = Some("Book".into());
    let last = vpp_asset("A5", "STDQ", Some(8));
    s.upsert_vpp_assets("walk", &[first, last.clone()], 13, 500)
        .await
        .unwrap();
    assert_eq!(asset(s, "walk", "A5").await.record, last);

    // Pages are bounded; an oversize one stores nothing.
    let big: Vec<_> = (0..=MAX_VPP_BATCH)
        .map(|i| vpp_asset(&format!("B{i:05}"), "STDQ", Some(1)))
        .collect();
    let r = s.upsert_vpp_assets("walk", &big, 13, 600).await;
    assert!(
        matches!(
            r,
            Err(Error::BatchTooLarge {
                len: 1001,
                max: 1000
            })
        ),
        "{r:?}"
    );
    assert_eq!(
        s.get_vpp_asset("walk", "B00000", "STDQ").await.unwrap(),
        None
    );
    s.upsert_vpp_assets("walk", &big[..MAX_VPP_BATCH], 13, 600)
        .await
        .unwrap();
    assert!(
        s.get_vpp_asset("walk", "B00999", "STDQ")
            .await
            .unwrap()
            .is_some()
    );
    // An empty page is fine.
    s.upsert_vpp_assets("walk", &[], 13, 700).await.unwrap();
}

pub async fn vpp_asset_counts_and_metadata(s: &dyn Store) {
    let mut book = vpp_asset("B", "STDQ", Some(3));
    book.product_type = Some("Book".into());
    book.device_assignable = false;
    token_with_assets(
        s,
        "cnt",
        &[
            vpp_asset("L", "STDQ", Some(4)),
            vpp_asset("U", "STDQ", None),
            book,
            vpp_asset("M1", "STDQ", Some(1)),
            vpp_asset("M1", "PLUS", Some(1)),
            vpp_asset("M2", "STDQ", Some(1)),
            vpp_asset("M3", "VPPQ", Some(1)),
        ],
    )
    .await;
    token_with_assets(s, "other", &[vpp_asset("L", "STDQ", Some(4))]).await;

    // ASSET_COUNT: both counts move, never below 0.
    assert!(
        s.adjust_vpp_asset_count("cnt", "L", "STDQ", 3, 100)
            .await
            .unwrap()
    );
    let l = asset(s, "cnt", "L").await;
    assert_eq!(
        (l.record.total_count, l.record.available_count, l.updated_at),
        (Some(9), Some(7), 100)
    );
    assert_eq!(l.record.assigned_count, 2, "assigned count untouched");
    assert!(
        s.adjust_vpp_asset_count("cnt", "L", "STDQ", -8, 110)
            .await
            .unwrap()
    );
    let l = asset(s, "cnt", "L").await;
    assert_eq!(
        (l.record.total_count, l.record.available_count),
        (Some(1), Some(0))
    );
    assert!(
        s.adjust_vpp_asset_count("cnt", "L", "STDQ", -5, 120)
            .await
            .unwrap()
    );
    let l = asset(s, "cnt", "L").await;
    assert_eq!(
        (l.record.total_count, l.record.available_count),
        (Some(0), Some(0))
    );
    // Unlimited: unchanged, but found.
    assert!(
        s.adjust_vpp_asset_count("cnt", "U", "STDQ", -5, 130)
            .await
            .unwrap()
    );
    let u = asset(s, "cnt", "U").await;
    assert_eq!(
        (u.record.total_count, u.record.available_count),
        (None, None)
    );
    // Not stored: false. Another token's asset is its own.
    assert!(
        !s.adjust_vpp_asset_count("cnt", "L", "PLUS", 1, 140)
            .await
            .unwrap()
    );
    assert_eq!(asset(s, "other", "L").await.record.available_count, Some(4));

    // Metadata: every adam id without it, once, in order.
    assert_eq!(
        s.vpp_assets_without_metadata("cnt", 100).await.unwrap(),
        ["B", "L", "M1", "M2", "M3", "U"]
    );
    assert_eq!(
        s.vpp_assets_without_metadata("cnt", 2).await.unwrap(),
        ["B", "L"]
    );
    assert_eq!(
        s.vpp_assets_without_metadata("cnt", 0).await.unwrap(),
        ["B"]
    );
    let md = VppAssetMetadata {
        name: Some("Pages".into()),
        bundle_id: Some("com.apple.iWork.Pages".into()),
        icon_url: None,
        version: Some("14.0".into()),
    };
    assert_eq!(
        s.set_vpp_asset_metadata("cnt", "M1", &md, 200)
            .await
            .unwrap(),
        2
    );
    for pricing in ["STDQ", "PLUS"] {
        let a = s
            .get_vpp_asset("cnt", "M1", pricing)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (&a.metadata, a.metadata_at, a.updated_at),
            (&md, Some(200), 200)
        );
    }
    // Nothing found for M2: an empty record, not asked again.
    assert_eq!(
        s.set_vpp_asset_metadata("cnt", "M2", &VppAssetMetadata::default(), 210)
            .await
            .unwrap(),
        1
    );
    let m2 = asset(s, "cnt", "M2").await;
    assert_eq!(
        (m2.metadata, m2.metadata_at),
        (VppAssetMetadata::default(), Some(210))
    );
    assert_eq!(
        s.vpp_assets_without_metadata("cnt", 100).await.unwrap(),
        ["B", "L", "M3", "U"]
    );
    // Replaced by a later lookup.
    let md2 = VppAssetMetadata {
        version: Some("14.1".into()),
        ..md.clone()
    };
    s.set_vpp_asset_metadata("cnt", "M1", &md2, 220)
        .await
        .unwrap();
    assert_eq!(asset(s, "cnt", "M1").await.metadata, md2);
    // A new asset of a walk has none; the others keep theirs.
    s.upsert_vpp_assets(
        "cnt",
        &[
            vpp_asset("M1", "STDQ", Some(1)),
            vpp_asset("N", "STDQ", Some(1)),
        ],
        2,
        300,
    )
    .await
    .unwrap();
    assert_eq!(asset(s, "cnt", "M1").await.metadata, md2);
    assert_eq!(
        s.vpp_assets_without_metadata("cnt", 100).await.unwrap(),
        ["B", "L", "M3", "N", "U"]
    );
    // A token whose assets all have metadata: none, and no error.
    s.set_vpp_asset_metadata("other", "L", &md, 400)
        .await
        .unwrap();
    assert!(
        s.vpp_assets_without_metadata("other", 10)
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn vpp_asset_listing(s: &dyn Store) {
    // Two tokens of 23 and 9 assets.
    let mut want = Vec::new();
    for (token, n) in [("la", 23), ("lb", 9)] {
        let assets: Vec<_> = (0..n)
            .map(|i| vpp_asset(&format!("{:09}", 100 + i * 7), "STDQ", Some(i)))
            .collect();
        token_with_assets(s, token, &assets).await;
        for a in &assets {
            want.push((token.to_owned(), a.adam_id.clone(), "STDQ".to_owned()));
        }
    }
    // Requested licenses show in the listing.
    s.request_vpp_assignments(&assign_request("la", "000000107", &["R1"], 40))
        .await
        .unwrap();
    let collect = |token: Option<&str>, limit: u32| {
        let token = token.map(str::to_owned);
        async move {
            let mut got = Vec::new();
            let mut after = None;
            let mut pages = 0;
            loop {
                let page = s
                    .list_vpp_assets(&VppAssetQuery {
                        token: token.clone(),
                        after: after.clone(),
                        limit,
                    })
                    .await
                    .unwrap();
                pages += 1;
                assert!(page.items.len() <= limit.clamp(1, MAX_PAGE) as usize);
                for a in &page.items {
                    got.push(a.clone());
                }
                match page.next {
                    Some(n) => {
                        let last = page.items.last().unwrap();
                        assert_eq!(
                            n,
                            (
                                last.token.clone(),
                                last.record.adam_id.clone(),
                                last.record.pricing_param.clone()
                            )
                        );
                        after = Some(n);
                    }
                    None => break,
                }
                assert!(pages < 100);
            }
            (got, pages)
        }
    };
    let keys = |v: &[VppAsset]| -> Vec<(String, String, String)> {
        v.iter()
            .map(|a| {
                (
                    a.token.clone(),
                    a.record.adam_id.clone(),
                    a.record.pricing_param.clone(),
                )
            })
            .collect()
    };
    let (all, pages) = collect(None, 5).await;
    assert_eq!(keys(&all), want);
    assert_eq!(pages, 7); // 32 assets by 5
    let requested: Vec<_> = all
        .iter()
        .filter(|a| a.requested > 0)
        .map(|a| (a.token.as_str(), a.record.adam_id.as_str(), a.requested))
        .collect();
    assert_eq!(requested, [("la", "000000107", 1)]);
    let (la, pages) = collect(Some("la"), 10).await;
    assert_eq!(keys(&la), want[..23]);
    assert_eq!(pages, 3);
    let (lb, _) = collect(Some("lb"), 1000).await;
    assert_eq!(keys(&lb), want[23..]);
    // Exactly a page: no cursor after it.
    let page = s
        .list_vpp_assets(&VppAssetQuery {
            token: Some("lb".into()),
            after: None,
            limit: 9,
        })
        .await
        .unwrap();
    assert_eq!((page.items.len(), page.next), (9, None));
    // A cursor from another token: before it, from its start; after it,
    // nothing.
    let page = s
        .list_vpp_assets(&VppAssetQuery {
            token: Some("lb".into()),
            after: Some(("la".into(), "999".into(), "Z".into())),
            limit: 3,
        })
        .await
        .unwrap();
    assert_eq!(keys(&page.items), want[23..26]);
    let page = s
        .list_vpp_assets(&VppAssetQuery {
            token: Some("la".into()),
            after: Some(("lb".into(), String::new(), String::new())),
            limit: 3,
        })
        .await
        .unwrap();
    assert_eq!(page, Default::default());
}

// --- Assignments ------------------------------------------------------------------

pub async fn vpp_assignment_requests(s: &dyn Store) {
    let mut book = vpp_asset("BOOK", "STDQ", Some(10));
    book.device_assignable = false;
    token_with_assets(
        s,
        "req",
        &[
            vpp_asset("APP", "STDQ", Some(3)),
            book,
            vpp_asset("FREE", "STDQ", None),
        ],
    )
    .await;

    let mut r = assign_request("req", "APP", &["S1", "S2"], 100);
    r.devices[1].1 = None;
    assert_eq!(
        s.request_vpp_assignments(&r).await.unwrap(),
        VppRequestOutcome {
            requested: 2,
            unchanged: 0
        }
    );
    let a = asset(s, "req", "APP").await;
    assert_eq!((a.requested, a.free()), (2, Some(1)));
    assert_eq!(
        row(s, "req", "APP", "S1").await.unwrap(),
        VppAssignment {
            token: "req".into(),
            adam_id: "APP".into(),
            pricing_param: "STDQ".into(),
            serial_number: "S1".into(),
            udid: Some("UDID-S1".into()),
            state: St::PendingAssociate,
            event_id: None,
            command_uuid: None,
            detail: None,
            options_json: r#"{"remove_on_unenroll":true}"#.into(),
            attempts: 0,
            next_at: None,
            requested_by: "admin@example.org".into(),
            created_at: 100,
            updated_at: 100,
        }
    );
    assert_eq!(row(s, "req", "APP", "S2").await.unwrap().udid, None);

    // Two new devices, one license free: refused, nothing changed.
    let r = s
        .request_vpp_assignments(&assign_request("req", "APP", &["S1", "S3", "S4"], 110))
        .await;
    assert!(
        matches!(r, Err(Error::NotEnoughVppLicenses { needed: 2, free: 1 })),
        "{r:?}"
    );
    assert_eq!(row(s, "req", "APP", "S3").await, None);
    assert_eq!(row(s, "req", "APP", "S4").await, None);
    assert_eq!(row(s, "req", "APP", "S1").await.unwrap().updated_at, 100);
    assert_eq!(asset(s, "req", "APP").await.requested, 2);

    // S1 is under way already; S3 takes the last license.
    assert_eq!(
        s.request_vpp_assignments(&assign_request("req", "APP", &["S1", "S3"], 120))
            .await
            .unwrap(),
        VppRequestOutcome {
            requested: 1,
            unchanged: 1
        }
    );
    assert_eq!(asset(s, "req", "APP").await.free(), Some(0));
    assert!(matches!(
        s.request_vpp_assignments(&assign_request("req", "APP", &["S5"], 125))
            .await,
        Err(Error::NotEnoughVppLicenses { needed: 1, free: 0 })
    ));

    // Associating still counts as requested; once Apple confirmed (and its
    // count went down) it no longer does.
    let mut u = to(St::Associating, 130);
    u.event_id = Some("EV-1".into());
    s.set_vpp_assignments("req", "APP", "STDQ", &strings(&["S1", "S2"]), &u)
        .await
        .unwrap();
    assert_eq!(asset(s, "req", "APP").await.requested, 3);
    s.set_vpp_assignments(
        "req",
        "APP",
        "STDQ",
        &strings(&["S1"]),
        &to(St::Installing, 140),
    )
    .await
    .unwrap();
    s.adjust_vpp_asset_count("req", "APP", "STDQ", -1, 140)
        .await
        .unwrap();
    let a = asset(s, "req", "APP").await;
    assert_eq!(
        (a.record.available_count, a.requested, a.free()),
        (Some(2), 2, Some(0))
    );
    // A failed association gives its license back; asking again restarts
    // it from scratch, keeping when it was first asked for.
    let mut u = to(St::Failed, 150);
    u.detail = Some("Apple: license not available".into());
    u.count_attempt = true;
    s.set_vpp_assignments("req", "APP", "STDQ", &strings(&["S2"]), &u)
        .await
        .unwrap();
    assert_eq!(asset(s, "req", "APP").await.free(), Some(1));
    let mut again = assign_request("req", "APP", &["S2"], 160);
    again.options_json = "{}".into();
    again.requested_by = "other@example.org".into();
    assert_eq!(
        s.request_vpp_assignments(&again).await.unwrap(),
        VppRequestOutcome {
            requested: 1,
            unchanged: 0
        }
    );
    assert_eq!(
        row(s, "req", "APP", "S2").await.unwrap(),
        VppAssignment {
            token: "req".into(),
            adam_id: "APP".into(),
            pricing_param: "STDQ".into(),
            serial_number: "S2".into(),
            udid: Some("UDID-S2".into()),
            state: St::PendingAssociate,
            event_id: None,
            command_uuid: None,
            detail: None,
            options_json: "{}".into(),
            attempts: 0,
            next_at: None,
            requested_by: "other@example.org".into(),
            created_at: 100,
            updated_at: 160,
        }
    );
    assert_eq!(asset(s, "req", "APP").await.free(), Some(0));

    // Not device-assignable (a book): refused, nothing stored.
    let r = s
        .request_vpp_assignments(&assign_request("req", "BOOK", &["S1"], 170))
        .await;
    assert!(
        matches!(&r, Err(Error::VppNotDeviceAssignable { adam_id, pricing_param })
            if adam_id == "BOOK" && pricing_param == "STDQ"),
        "{r:?}"
    );
    assert_eq!(row(s, "req", "BOOK", "S1").await, None);

    // Unlimited: no limit. A serial number twice counts once (its last
    // UDID).
    let serials: Vec<String> = (0..MAX_VPP_BATCH).map(|i| format!("F{i:04}")).collect();
    let refs: Vec<&str> = serials.iter().map(String::as_str).collect();
    assert_eq!(
        s.request_vpp_assignments(&assign_request("req", "FREE", &refs, 180))
            .await
            .unwrap()
            .requested as usize,
        MAX_VPP_BATCH
    );
    let f = asset(s, "req", "FREE").await;
    assert_eq!((f.requested, f.free()), (MAX_VPP_BATCH as i64, None));
    let mut dup = assign_request("req", "FREE", &["X", "X"], 190);
    dup.devices[1].1 = Some("UDID-second".into());
    assert_eq!(
        s.request_vpp_assignments(&dup).await.unwrap(),
        VppRequestOutcome {
            requested: 1,
            unchanged: 0
        }
    );
    assert_eq!(
        row(s, "req", "FREE", "X").await.unwrap().udid.as_deref(),
        Some("UDID-second")
    );

    // Bad batches are refused whole.
    let r = s
        .request_vpp_assignments(&assign_request("req", "FREE", &["Y", ""], 200))
        .await;
    assert!(matches!(r, Err(Error::InvalidSerialNumber(_))), "{r:?}");
    assert_eq!(row(s, "req", "FREE", "Y").await, None);
    let mut big = refs.clone();
    big.push("ONE-MORE");
    let r = s
        .request_vpp_assignments(&assign_request("req", "FREE", &big, 200))
        .await;
    assert!(
        matches!(
            r,
            Err(Error::BatchTooLarge {
                len: 1001,
                max: 1000
            })
        ),
        "{r:?}"
    );
    assert_eq!(row(s, "req", "FREE", "ONE-MORE").await, None);
    // An empty request changes nothing.
    assert_eq!(
        s.request_vpp_assignments(&assign_request("req", "APP", &[], 200))
            .await
            .unwrap(),
        VppRequestOutcome::default()
    );
}

/// Which states a request restarts, and how many licenses it needs for
/// them.
pub async fn vpp_request_restarts(s: &dyn Store) {
    token_with_assets(
        s,
        "rs",
        &[
            vpp_asset("FREE", "STDQ", None),
            vpp_asset("TWO", "STDQ", Some(2)),
        ],
    )
    .await;
    let serial = |st: St| format!("D-{st}");
    let all: Vec<String> = St::ALL.iter().map(|st| serial(*st)).collect();
    let refs: Vec<&str> = all.iter().map(String::as_str).collect();
    s.request_vpp_assignments(&assign_request("rs", "FREE", &refs, 100))
        .await
        .unwrap();
    for st in St::ALL {
        let mut u = to(st, 110);
        u.event_id = Some(format!("EV-{st}"));
        u.command_uuid = Some(format!("CMD-{st}"));
        u.detail = Some("before".into());
        u.next_at = Some(5_000);
        u.count_attempt = true;
        assert_eq!(
            s.set_vpp_assignments("rs", "FREE", "STDQ", &[serial(st)], &u)
                .await
                .unwrap(),
            1
        );
    }
    let out = s
        .request_vpp_assignments(&assign_request("rs", "FREE", &refs, 200))
        .await
        .unwrap();
    let restarted = [
        St::Failed,
        St::Removed,
        St::PendingRemove,
        St::Removing,
        St::PendingDisassociate,
    ];
    assert_eq!(
        out,
        VppRequestOutcome {
            requested: restarted.len() as u32,
            unchanged: (St::ALL.len() - restarted.len()) as u32
        }
    );
    for st in St::ALL {
        let a = row(s, "rs", "FREE", &serial(st)).await.unwrap();
        if restarted.contains(&st) {
            assert_eq!(
                (
                    a.state,
                    a.event_id,
                    a.command_uuid,
                    a.detail,
                    a.next_at,
                    a.attempts,
                    a.updated_at
                ),
                (St::PendingAssociate, None, None, None, None, 0, 200),
                "{st}"
            );
            // The remove command of a restarted one is no longer followed.
            assert_eq!(
                s.vpp_assignments_by_command(&format!("CMD-{st}"))
                    .await
                    .unwrap(),
                None
            );
        } else {
            // Active, or disassociating (under way at Apple): untouched.
            assert_eq!(
                (a.state, a.event_id, a.attempts, a.updated_at),
                (st, Some(format!("EV-{st}")), 1, 110),
                "{st}"
            );
        }
    }

    // Restarts need licenses like new devices: two free, three asked.
    s.request_vpp_assignments(&assign_request("rs", "TWO", &["T1", "T2"], 300))
        .await
        .unwrap();
    s.set_vpp_assignments(
        "rs",
        "TWO",
        "STDQ",
        &strings(&["T1", "T2"]),
        &to(St::Removed, 310),
    )
    .await
    .unwrap();
    let r = s
        .request_vpp_assignments(&assign_request("rs", "TWO", &["T1", "T2", "T3"], 320))
        .await;
    assert!(
        matches!(r, Err(Error::NotEnoughVppLicenses { needed: 3, free: 2 })),
        "{r:?}"
    );
    assert_eq!(state_of(s, "rs", "TWO", "T1").await, Some(St::Removed));
    assert_eq!(
        s.request_vpp_assignments(&assign_request("rs", "TWO", &["T1", "T2"], 330))
            .await
            .unwrap()
            .requested,
        2
    );
}

pub async fn vpp_assignment_transitions(s: &dyn Store) {
    token_with_assets(s, "tr", &[vpp_asset("APP", "STDQ", None)]).await;
    token_with_assets(s, "tr2", &[vpp_asset("APP", "STDQ", None)]).await;
    s.request_vpp_assignments(&assign_request(
        "tr",
        "APP",
        &["S5", "S1", "S3", "S2", "S4"],
        100,
    ))
    .await
    .unwrap();
    s.request_vpp_assignments(&assign_request("tr2", "APP", &["S1"], 90))
        .await
        .unwrap();
    let serials =
        |v: Vec<VppAssignment>| -> Vec<String> { v.into_iter().map(|a| a.serial_number).collect() };
    // Due work: oldest change first, then by key.
    assert_eq!(
        serials(
            s.vpp_assignments_in_state("tr", St::PendingAssociate, 100, 10)
                .await
                .unwrap()
        ),
        ["S1", "S2", "S3", "S4", "S5"]
    );
    assert!(
        s.vpp_assignments_in_state("tr", St::Installed, 100, 10)
            .await
            .unwrap()
            .is_empty()
    );

    // Associate sent for S1 and S2 (a repeat counts once).
    let mut u = to(St::Associating, 200);
    u.event_id = Some("EV-1".into());
    assert_eq!(
        s.set_vpp_assignments(
            "tr",
            "APP",
            "STDQ",
            &strings(&["S1", "S2", "S1", "NOPE"]),
            &u
        )
        .await
        .unwrap(),
        2
    );
    // S3 throttled: back later, one more attempt each time.
    let mut u = to(St::PendingAssociate, 150);
    u.detail = Some("429 Too Many Requests".into());
    u.next_at = Some(500);
    u.count_attempt = true;
    s.set_vpp_assignments("tr", "APP", "STDQ", &strings(&["S3"]), &u)
        .await
        .unwrap();
    u.now = 160;
    s.set_vpp_assignments("tr", "APP", "STDQ", &strings(&["S3"]), &u)
        .await
        .unwrap();
    let s3 = row(s, "tr", "APP", "S3").await.unwrap();
    assert_eq!(
        (s3.attempts, s3.next_at, s3.detail.as_deref(), s3.updated_at),
        (2, Some(500), Some("429 Too Many Requests"), 160)
    );
    assert_eq!(
        serials(
            s.vpp_assignments_in_state("tr", St::PendingAssociate, 499, 10)
                .await
                .unwrap()
        ),
        ["S4", "S5"]
    );
    assert_eq!(
        serials(
            s.vpp_assignments_in_state("tr", St::PendingAssociate, 500, 10)
                .await
                .unwrap()
        ),
        ["S4", "S5", "S3"]
    );
    assert_eq!(
        serials(
            s.vpp_assignments_in_state("tr", St::PendingAssociate, 500, 1)
                .await
                .unwrap()
        ),
        ["S4"]
    );
    // The limit is at least 1.
    assert_eq!(
        s.vpp_assignments_in_state("tr", St::PendingAssociate, 500, 0)
            .await
            .unwrap()
            .len(),
        1
    );
    // Another token's are its own.
    assert_eq!(
        serials(
            s.vpp_assignments_in_state("tr2", St::PendingAssociate, 500, 10)
                .await
                .unwrap()
        ),
        ["S1"]
    );

    assert_eq!(
        serials(s.vpp_assignments_by_event("EV-1").await.unwrap()),
        ["S1", "S2"]
    );
    // Apple confirmed S1: installing, with its command.
    let mut u = to(St::Installing, 300);
    u.command_uuid = Some("CMD-1".into());
    s.set_vpp_assignments("tr", "APP", "STDQ", &strings(&["S1"]), &u)
        .await
        .unwrap();
    let s1 = s
        .vpp_assignments_by_command("CMD-1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            s1.serial_number.as_str(),
            s1.state,
            s1.event_id,
            s1.attempts,
            s1.updated_at
        ),
        ("S1", St::Installing, None, 0, 300)
    );
    assert_eq!(
        serials(s.vpp_assignments_by_event("EV-1").await.unwrap()),
        ["S2"]
    );
    // The attempts start over when not counted.
    s.set_vpp_assignments("tr", "APP", "STDQ", &strings(&["S3"]), &to(St::Failed, 310))
        .await
        .unwrap();
    let s3 = row(s, "tr", "APP", "S3").await.unwrap();
    assert_eq!(
        (s3.state, s3.attempts, s3.next_at, s3.detail),
        (St::Failed, 0, None, None)
    );
    // An event id on two tokens: both found, by key.
    let mut u = to(St::Associating, 320);
    u.event_id = Some("EV-1".into());
    s.set_vpp_assignments("tr2", "APP", "STDQ", &strings(&["S1"]), &u)
        .await
        .unwrap();
    let both: Vec<_> = s
        .vpp_assignments_by_event("EV-1")
        .await
        .unwrap()
        .into_iter()
        .map(|a| (a.token, a.serial_number))
        .collect();
    assert_eq!(
        both,
        [
            ("tr".to_owned(), "S2".to_owned()),
            ("tr2".to_owned(), "S1".to_owned())
        ]
    );

    // Removals: S1 installing -> pending_remove; S4 never sent -> removed;
    // S2 associating (the job under way at Apple) and S3 failed stay.
    let changed = s
        .request_vpp_removals(
            "tr",
            "APP",
            "STDQ",
            &strings(&["S1", "S2", "S3", "S4", "S4", "NOPE"]),
            "remover@example.org",
            400,
        )
        .await
        .unwrap();
    assert_eq!(changed, 2);
    let s1 = row(s, "tr", "APP", "S1").await.unwrap();
    assert_eq!(
        (
            s1.state,
            s1.command_uuid,
            s1.detail,
            s1.requested_by.as_str(),
            s1.updated_at
        ),
        (St::PendingRemove, None, None, "remover@example.org", 400)
    );
    // The install command's answer no longer finds it.
    assert_eq!(s.vpp_assignments_by_command("CMD-1").await.unwrap(), None);
    let s4 = row(s, "tr", "APP", "S4").await.unwrap();
    assert_eq!(s4.state, St::Removed);
    assert!(s4.detail.is_some());
    assert_eq!(state_of(s, "tr", "APP", "S2").await, Some(St::Associating));
    assert_eq!(state_of(s, "tr", "APP", "S3").await, Some(St::Failed));
    assert_eq!(
        row(s, "tr", "APP", "S2").await.unwrap().updated_at,
        200,
        "untouched"
    );
    // Installed ones are removed too; asking again changes nothing more.
    s.set_vpp_assignments(
        "tr",
        "APP",
        "STDQ",
        &strings(&["S5"]),
        &to(St::Installed, 410),
    )
    .await
    .unwrap();
    assert_eq!(
        s.request_vpp_removals("tr", "APP", "STDQ", &strings(&["S5"]), "a", 420)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        s.request_vpp_removals("tr", "APP", "STDQ", &strings(&["S1", "S5"]), "a", 430)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        state_of(s, "tr", "APP", "S5").await,
        Some(St::PendingRemove)
    );
    // The other token's S1 is its own.
    assert_eq!(state_of(s, "tr2", "APP", "S1").await, Some(St::Associating));

    // Counts: every state present.
    let counts = s.count_vpp_assignments("tr").await.unwrap();
    let mut want: BTreeMap<St, u64> = St::ALL.into_iter().map(|st| (st, 0)).collect();
    want.insert(St::PendingRemove, 2);
    want.insert(St::Associating, 1);
    want.insert(St::Failed, 1);
    want.insert(St::Removed, 1);
    assert_eq!(counts, want);

    // Batches are bounded.
    let big = vec!["S".to_owned(); MAX_VPP_BATCH + 1];
    assert!(matches!(
        s.request_vpp_removals("tr", "APP", "STDQ", &big, "a", 500)
            .await,
        Err(Error::BatchTooLarge { .. })
    ));
    assert!(matches!(
        s.set_vpp_assignments("tr", "APP", "STDQ", &big, &to(St::Failed, 500))
            .await,
        Err(Error::BatchTooLarge { .. })
    ));
    assert_eq!(s.count_vpp_assignments("tr").await.unwrap(), want);
}

pub async fn vpp_assignment_listing(s: &dyn Store) {
    let assets = [vpp_asset("A1", "STDQ", None), vpp_asset("A2", "STDQ", None)];
    token_with_assets(s, "la", &assets).await;
    token_with_assets(s, "lb", &assets).await;
    // A token without assignments counts zero of each.
    token_with_assets(s, "lc", &assets).await;
    let mut want = Vec::new();
    for (token, adam, n) in [("la", "A1", 12), ("la", "A2", 5), ("lb", "A1", 6)] {
        let serials: Vec<String> = (0..n).map(|i| format!("S{:03}", i * 3)).collect();
        let refs: Vec<&str> = serials.iter().map(String::as_str).collect();
        s.request_vpp_assignments(&assign_request(token, adam, &refs, 100))
            .await
            .unwrap();
        for x in serials {
            want.push((token.to_owned(), adam.to_owned(), "STDQ".to_owned(), x));
        }
    }
    s.set_vpp_assignments(
        "la",
        "A1",
        "STDQ",
        &strings(&["S000", "S009", "S030"]),
        &to(St::Installed, 200),
    )
    .await
    .unwrap();
    let keys = |v: &[VppAssignment]| -> Vec<(String, String, String, String)> {
        v.iter()
            .map(|a| {
                (
                    a.token.clone(),
                    a.adam_id.clone(),
                    a.pricing_param.clone(),
                    a.serial_number.clone(),
                )
            })
            .collect()
    };
    let collect = |q: VppAssignmentQuery| async move {
        let mut got = Vec::new();
        let mut q = q;
        let mut pages = 0;
        loop {
            let page = s.list_vpp_assignments(&q).await.unwrap();
            pages += 1;
            if let Some(n) = &page.next {
                let last = page.items.last().unwrap();
                assert_eq!(
                    n,
                    &(
                        last.token.clone(),
                        last.adam_id.clone(),
                        last.pricing_param.clone(),
                        last.serial_number.clone()
                    )
                );
            }
            got.extend(page.items);
            match page.next {
                Some(n) => q.after = Some(n),
                None => break,
            }
            assert!(pages < 100);
        }
        (got, pages)
    };
    let (all, pages) = collect(VppAssignmentQuery {
        limit: 4,
        ..Default::default()
    })
    .await;
    assert_eq!(keys(&all), want);
    assert_eq!(pages, 6); // 23 by 4
    let (la, _) = collect(VppAssignmentQuery {
        token: Some("la".into()),
        limit: 5,
        ..Default::default()
    })
    .await;
    assert_eq!(keys(&la), want[..17]);
    let (la_a2, pages) = collect(VppAssignmentQuery {
        token: Some("la".into()),
        adam_id: Some("A2".into()),
        limit: 2,
        ..Default::default()
    })
    .await;
    assert_eq!(keys(&la_a2), want[12..17]);
    assert_eq!(pages, 3);
    // The adam id across tokens.
    let (a1, _) = collect(VppAssignmentQuery {
        adam_id: Some("A1".into()),
        limit: 5,
        ..Default::default()
    })
    .await;
    let want_a1: Vec<_> = want.iter().filter(|k| k.1 == "A1").cloned().collect();
    assert_eq!(keys(&a1), want_a1);
    // One device, everywhere.
    let (dev, _) = collect(VppAssignmentQuery {
        serial_number: Some("S009".into()),
        limit: 1,
        ..Default::default()
    })
    .await;
    let dev: Vec<_> = dev
        .iter()
        .map(|a| (a.token.as_str(), a.adam_id.as_str(), a.state))
        .collect();
    assert_eq!(
        dev,
        [
            ("la", "A1", St::Installed),
            ("la", "A2", St::PendingAssociate),
            ("lb", "A1", St::PendingAssociate)
        ]
    );
    // By state.
    let (installed, _) = collect(VppAssignmentQuery {
        token: Some("la".into()),
        state: Some(St::Installed),
        limit: 2,
        ..Default::default()
    })
    .await;
    assert_eq!(
        installed
            .iter()
            .map(|a| a.serial_number.as_str())
            .collect::<Vec<_>>(),
        ["S000", "S009", "S030"]
    );
    // A cursor past the token's: an empty page.
    let page = s
        .list_vpp_assignments(&VppAssignmentQuery {
            token: Some("la".into()),
            after: Some(("lb".into(), String::new(), String::new(), String::new())),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(page, Default::default());
    // Nothing stored for lc: an empty page and zero counts, no error.
    assert_eq!(
        s.list_vpp_assignments(&VppAssignmentQuery {
            token: Some("lc".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap(),
        Default::default()
    );
    let zero = s.count_vpp_assignments("lc").await.unwrap();
    assert_eq!(zero.len(), St::ALL.len());
    assert!(zero.values().all(|n| *n == 0));
    let la = s.count_vpp_assignments("la").await.unwrap();
    assert_eq!(
        (
            la[&St::Installed],
            la[&St::PendingAssociate],
            la.values().sum::<u64>()
        ),
        (3, 14, 17)
    );
}

// --- Notifications and deletion -------------------------------------------------------

pub async fn vpp_notifications_are_remembered(s: &dyn Store) {
    token_with_assets(s, "nt", &[]).await;
    token_with_assets(s, "nt2", &[]).await;
    assert!(s.first_vpp_notification("N-1", "nt", 100).await.unwrap());
    assert!(!s.first_vpp_notification("N-1", "nt", 101).await.unwrap());
    // An id is an id, whichever token it arrives for.
    assert!(!s.first_vpp_notification("N-1", "nt2", 102).await.unwrap());
    assert!(s.first_vpp_notification("N-2", "nt2", 200).await.unwrap());
    assert!(s.first_vpp_notification("N-3", "nt", 300).await.unwrap());
    assert_eq!(s.prune_vpp_notifications(100).await.unwrap(), 0);
    assert_eq!(s.prune_vpp_notifications(201).await.unwrap(), 2);
    // Forgotten: new again.
    assert!(s.first_vpp_notification("N-1", "nt", 400).await.unwrap());
    assert!(!s.first_vpp_notification("N-3", "nt", 401).await.unwrap());
    assert_eq!(s.prune_vpp_notifications(i64::MAX).await.unwrap(), 2);
    assert_eq!(s.prune_vpp_notifications(i64::MAX).await.unwrap(), 0);
}

pub async fn vpp_delete_cascades(s: &dyn Store) {
    for t in ["del", "keep"] {
        token_with_assets(s, t, &[vpp_asset("APP", "STDQ", Some(5))]).await;
        s.request_vpp_assignments(&assign_request(t, "APP", &["S1", "S2"], 100))
            .await
            .unwrap();
        let mut u = to(St::Associating, 110);
        u.event_id = Some(format!("EV-{t}"));
        s.set_vpp_assignments(t, "APP", "STDQ", &strings(&["S1"]), &u)
            .await
            .unwrap();
        assert!(
            s.first_vpp_notification(&format!("N-{t}"), t, 120)
                .await
                .unwrap()
        );
    }
    assert!(s.delete_vpp_token("del").await.unwrap());
    assert_eq!(s.get_vpp_token("del").await.unwrap(), None);
    assert_eq!(s.get_vpp_asset("del", "APP", "STDQ").await.unwrap(), None);
    assert!(
        s.vpp_assignments_by_event("EV-del")
            .await
            .unwrap()
            .is_empty()
    );
    let left: Vec<String> = s
        .list_vpp_assignments(&VppAssignmentQuery {
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|a| format!("{}/{}", a.token, a.serial_number))
        .collect();
    assert_eq!(left, ["keep/S1", "keep/S2"]);
    assert_eq!(
        s.vpp_assignments_by_event("EV-keep").await.unwrap().len(),
        1
    );
    // The same name again starts empty; its notification ids were
    // forgotten with it (the other token's are kept).
    s.put_vpp_token(&new_vpp_token("del", "f", 200))
        .await
        .unwrap();
    assert!(
        s.list_vpp_assets(&VppAssetQuery {
            token: Some("del".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap()
        .items
        .is_empty()
    );
    assert!(
        s.count_vpp_assignments("del")
            .await
            .unwrap()
            .values()
            .all(|n| *n == 0)
    );
    assert!(s.first_vpp_notification("N-del", "del", 210).await.unwrap());
    assert!(
        !s.first_vpp_notification("N-keep", "keep", 210)
            .await
            .unwrap()
    );
    assert_eq!(s.prune_vpp_notifications(i64::MAX).await.unwrap(), 2);
}

// --- Licenses against a reference model ---------------------------------------------

/// The devices the model drives.
const DEVICES: usize = 6;

/// A random step: what an administrator, the service's worker, Apple or a
/// notification does. `mask` picks devices (those in the state the step
/// applies to).
#[derive(Clone, Debug)]
pub enum LicenseOp {
    /// An administrator asks for the app on these devices.
    Request { mask: Vec<bool> },
    /// An administrator asks to remove it from these devices.
    Remove { mask: Vec<bool> },
    /// The worker sends the pending associations.
    Send,
    /// Apple confirms these associations (its available count goes down).
    Confirm { mask: Vec<bool> },
    /// Apple refuses these associations.
    Refuse { mask: Vec<bool> },
    /// The devices acknowledge the install.
    Install { mask: Vec<bool> },
    /// The worker queues the remove commands, or goes straight on.
    StartRemoval { mask: Vec<bool> },
    /// The worker sends the pending disassociations.
    Disassociate,
    /// Apple confirms these disassociations (the license is back).
    Returned { mask: Vec<bool> },
    /// More licenses were bought (`ASSET_COUNT`).
    Grant { n: i64 },
}

fn mask() -> impl Strategy<Value = Vec<bool>> {
    proptest::collection::vec(any::<bool>(), DEVICES)
}

fn license_op() -> impl Strategy<Value = LicenseOp> {
    prop_oneof![
        5 => mask().prop_map(|mask| LicenseOp::Request { mask }),
        2 => mask().prop_map(|mask| LicenseOp::Remove { mask }),
        3 => Just(LicenseOp::Send),
        3 => mask().prop_map(|mask| LicenseOp::Confirm { mask }),
        1 => mask().prop_map(|mask| LicenseOp::Refuse { mask }),
        2 => mask().prop_map(|mask| LicenseOp::Install { mask }),
        2 => mask().prop_map(|mask| LicenseOp::StartRemoval { mask }),
        2 => Just(LicenseOp::Disassociate),
        2 => mask().prop_map(|mask| LicenseOp::Returned { mask }),
        1 => (1..3_i64).prop_map(|n| LicenseOp::Grant { n }),
    ]
}

/// A starting number of available licenses and the steps.
pub fn license_ops() -> impl Strategy<Value = (i64, Vec<LicenseOp>)> {
    (0..4_i64, proptest::collection::vec(license_op(), 1..40))
}

/// The model: each device's state (`None`: never asked for) and Apple's
/// available count.
struct Licenses {
    state: Vec<Option<St>>,
    available: i64,
}

impl Licenses {
    fn requested(&self) -> i64 {
        self.state
            .iter()
            .filter(|s| s.is_some_and(|s| s.is_requested()))
            .count() as i64
    }

    fn free(&self) -> i64 {
        self.available - self.requested()
    }

    /// The devices picked by `mask` that are in `from`.
    fn pick(&self, mask: &[bool], from: St) -> Vec<usize> {
        (0..DEVICES)
            .filter(|&d| mask[d] && self.state[d] == Some(from))
            .collect()
    }
}

/// Runs `ops` against the store and the model, checking after each step
/// that the store's requested and free counts are the model's and that no
/// step but Apple's own makes the free count negative. `tag` keeps the
/// token of this case apart from other cases sharing the store.
pub async fn licenses_match_reference(s: &dyn Store, tag: &str, available: i64, ops: &[LicenseOp]) {
    let token = tag;
    token_with_assets(s, token, &[vpp_asset("APP", "STDQ", Some(available))]).await;
    let serial = |d: usize| format!("{tag}-D{d}");
    let mut m = Licenses {
        state: vec![None; DEVICES],
        available,
    };
    let mut clock = 1_000;
    let set = |devices: Vec<usize>, to_state: St, now: i64| {
        let serials: Vec<String> = devices.iter().map(|&d| serial(d)).collect();
        async move {
            if serials.is_empty() {
                return;
            }
            let n = s
                .set_vpp_assignments(token, "APP", "STDQ", &serials, &to(to_state, now))
                .await
                .unwrap();
            assert_eq!(n as usize, serials.len());
        }
    };
    for (step, op) in ops.iter().enumerate() {
        clock += 1;
        let ctx = format!("step {step}: {op:?}");
        match op {
            LicenseOp::Request { mask } => {
                let devices: Vec<usize> = (0..DEVICES).filter(|&d| mask[d]).collect();
                let refs: Vec<String> = devices.iter().map(|&d| serial(d)).collect();
                let refs: Vec<&str> = refs.iter().map(String::as_str).collect();
                let restart: Vec<usize> = devices
                    .iter()
                    .copied()
                    .filter(|&d| match m.state[d] {
                        None => true,
                        Some(st) => !st.is_active() && st != St::Disassociating,
                    })
                    .collect();
                let got = s
                    .request_vpp_assignments(&assign_request(token, "APP", &refs, clock))
                    .await;
                let free = m.free();
                if restart.len() as i64 > free {
                    match got {
                        Err(Error::NotEnoughVppLicenses { needed, free: f }) => {
                            assert_eq!(
                                (needed, f),
                                (restart.len() as u64, free.max(0) as u64),
                                "{ctx}"
                            )
                        }
                        other => panic!("{ctx}: {other:?}"),
                    }
                } else {
                    assert_eq!(
                        got.unwrap(),
                        VppRequestOutcome {
                            requested: restart.len() as u32,
                            unchanged: (devices.len() - restart.len()) as u32
                        },
                        "{ctx}"
                    );
                    for d in restart {
                        m.state[d] = Some(St::PendingAssociate);
                    }
                    assert!(m.free() >= 0, "{ctx}: a request overdrew");
                }
            }
            LicenseOp::Remove { mask } => {
                let devices: Vec<usize> = (0..DEVICES).filter(|&d| mask[d]).collect();
                let serials: Vec<String> = devices.iter().map(|&d| serial(d)).collect();
                let mut want = 0;
                for &d in &devices {
                    let next = match m.state[d] {
                        Some(St::PendingAssociate) => Some(St::Removed),
                        Some(St::Installing | St::Installed) => Some(St::PendingRemove),
                        _ => None,
                    };
                    if let Some(n) = next {
                        m.state[d] = Some(n);
                        want += 1;
                    }
                }
                let got = s
                    .request_vpp_removals(token, "APP", "STDQ", &serials, "admin", clock)
                    .await
                    .unwrap();
                assert_eq!(got, want, "{ctx}");
            }
            LicenseOp::Send => {
                let d = m.pick(&[true; DEVICES], St::PendingAssociate);
                let due = s
                    .vpp_assignments_in_state(token, St::PendingAssociate, clock, 100)
                    .await
                    .unwrap();
                let mut due: Vec<String> = due.into_iter().map(|a| a.serial_number).collect();
                due.sort();
                let mut want: Vec<String> = d.iter().map(|&x| serial(x)).collect();
                want.sort();
                assert_eq!(due, want, "{ctx}");
                for &x in &d {
                    m.state[x] = Some(St::Associating);
                }
                set(d, St::Associating, clock).await;
            }
            LicenseOp::Confirm { mask } => {
                let d = m.pick(mask, St::Associating);
                let n = d.len() as i64;
                for &x in &d {
                    m.state[x] = Some(St::Installing);
                }
                set(d, St::Installing, clock).await;
                if n > 0 {
                    // Apple's notification of the new count.
                    m.available = (m.available - n).max(0);
                    assert!(
                        s.adjust_vpp_asset_count(token, "APP", "STDQ", -n, clock)
                            .await
                            .unwrap()
                    );
                }
            }
            LicenseOp::Refuse { mask } => {
                let d = m.pick(mask, St::Associating);
                for &x in &d {
                    m.state[x] = Some(St::Failed);
                }
                set(d, St::Failed, clock).await;
            }
            LicenseOp::Install { mask } => {
                let d = m.pick(mask, St::Installing);
                for &x in &d {
                    m.state[x] = Some(St::Installed);
                }
                set(d, St::Installed, clock).await;
            }
            LicenseOp::StartRemoval { mask } => {
                let d = m.pick(mask, St::PendingRemove);
                for &x in &d {
                    m.state[x] = Some(St::PendingDisassociate);
                }
                set(d, St::PendingDisassociate, clock).await;
            }
            LicenseOp::Disassociate => {
                let d = m.pick(&[true; DEVICES], St::PendingDisassociate);
                for &x in &d {
                    m.state[x] = Some(St::Disassociating);
                }
                set(d, St::Disassociating, clock).await;
            }
            LicenseOp::Returned { mask } => {
                let d = m.pick(mask, St::Disassociating);
                let n = d.len() as i64;
                for &x in &d {
                    m.state[x] = Some(St::Removed);
                }
                set(d, St::Removed, clock).await;
                if n > 0 {
                    m.available += n;
                    s.adjust_vpp_asset_count(token, "APP", "STDQ", n, clock)
                        .await
                        .unwrap();
                }
            }
            LicenseOp::Grant { n } => {
                m.available += n;
                s.adjust_vpp_asset_count(token, "APP", "STDQ", *n, clock)
                    .await
                    .unwrap();
            }
        }
        let a = asset(s, token, "APP").await;
        assert_eq!(a.record.available_count, Some(m.available), "{ctx}");
        assert_eq!(a.requested, m.requested(), "{ctx}");
        assert_eq!(a.free(), Some(m.free()), "{ctx}");
        assert!(m.free() >= 0, "{ctx}: free below 0");
    }
    // Every device's state agrees.
    let page = s
        .list_vpp_assignments(&VppAssignmentQuery {
            token: Some(token.to_owned()),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    let stored: HashMap<String, St> = page
        .items
        .into_iter()
        .map(|a| (a.serial_number, a.state))
        .collect();
    for d in 0..DEVICES {
        assert_eq!(stored.get(&serial(d)).copied(), m.state[d], "device {d}");
    }
}

/// Runs [`licenses_match_reference`] on `cases` random sequences.
pub fn run_license_model(
    rt: &tokio::runtime::Runtime,
    cases: u32,
    store: impl Fn() -> Arc<dyn Store>,
) {
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let n = std::sync::atomic::AtomicU64::new(0);
    let r = runner.run(&license_ops(), |(available, ops)| {
        let case = n.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let s = store();
        let tag = format!("lm{case}");
        rt.block_on(licenses_match_reference(&*s, &tag, available, &ops));
        Ok(())
    });
    if let Err(e) = r {
        panic!("the store and the license model disagree: {e}");
    }
}

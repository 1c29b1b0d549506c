//! Malformed results are errors that name the offending key by its path, and
//! the lenient cases (integers for reals, unknown enum values, unknown keys)
//! decode.

use apple_mdm_protocol::Error;
use apple_mdm_protocol::results::*;
use pippin_plist::{Dictionary, Value};

fn dict<const N: usize>(entries: [(&str, Value); N]) -> Dictionary {
    entries.into_iter().collect()
}

fn wrong_type(err: Error) -> (String, &'static str, &'static str) {
    match err {
        Error::WrongType {
            key,
            expected,
            found,
        } => (key, expected, found),
        other => panic!("expected WrongType, got {other:?}"),
    }
}

fn missing(err: Error) -> String {
    match err {
        Error::MissingKey { key } => key,
        other => panic!("expected MissingKey, got {other:?}"),
    }
}

#[test]
fn wrong_type_in_query_responses_names_the_path() {
    let payload = dict([(
        "QueryResponses",
        Value::Dictionary(dict([("OSVersion", Value::from(14_i64))])),
    )]);
    let err = DeviceInformationResult::from_payload(payload).unwrap_err();
    assert_eq!(
        wrong_type(err),
        ("QueryResponses.OSVersion".to_owned(), "string", "integer")
    );
}

#[test]
fn wrong_type_deep_in_a_nested_dictionary() {
    let osu = dict([("PreviousScanDate", Value::from("yesterday"))]);
    let payload = dict([(
        "QueryResponses",
        Value::Dictionary(dict([("OSUpdateSettings", Value::Dictionary(osu))])),
    )]);
    let err = DeviceInformationResult::from_payload(payload).unwrap_err();
    assert_eq!(
        wrong_type(err),
        (
            "QueryResponses.OSUpdateSettings.PreviousScanDate".to_owned(),
            "date",
            "string"
        )
    );
}

#[test]
fn wrong_type_in_an_array_item_names_its_index() {
    let good = dict([("Identifier", Value::from("com.example.a"))]);
    let bad = dict([("BundleSize", Value::from("big"))]);
    let payload = dict([(
        "InstalledApplicationList",
        Value::Array(vec![Value::Dictionary(good), Value::Dictionary(bad)]),
    )]);
    let err = InstalledApplicationListResult::from_payload(payload).unwrap_err();
    assert_eq!(
        wrong_type(err),
        (
            "InstalledApplicationList[1].BundleSize".to_owned(),
            "integer",
            "string"
        )
    );
}

#[test]
fn array_item_of_the_wrong_type() {
    let payload = dict([(
        "ProfileList",
        Value::Array(vec![Value::from("not a profile")]),
    )]);
    let err = ProfileListResult::from_payload(payload).unwrap_err();
    assert_eq!(
        wrong_type(err),
        ("ProfileList[0]".to_owned(), "dict", "string")
    );
}

#[test]
fn nested_array_items_name_both_indexes() {
    let content = dict([
        ("PayloadType", Value::Boolean(true)),
        ("PayloadIdentifier", Value::from("p")),
    ]);
    let profile = dict([
        ("PayloadIdentifier", Value::from("com.example")),
        ("PayloadUUID", Value::from("u")),
        (
            "PayloadContent",
            Value::Array(vec![Value::Dictionary(content)]),
        ),
        (
            "SignerCertificates",
            Value::Array(vec![Value::from("PEM?")]),
        ),
    ]);
    let payload = dict([(
        "ProfileList",
        Value::Array(vec![Value::Dictionary(profile.clone())]),
    )]);
    let err = ProfileListResult::from_payload(payload).unwrap_err();
    assert_eq!(
        wrong_type(err),
        (
            "ProfileList[0].PayloadContent[0].PayloadType".to_owned(),
            "string",
            "boolean"
        )
    );

    let mut profile = profile;
    profile.remove("PayloadContent");
    let payload = dict([(
        "ProfileList",
        Value::Array(vec![Value::Dictionary(profile)]),
    )]);
    let err = ProfileListResult::from_payload(payload).unwrap_err();
    assert_eq!(
        wrong_type(err),
        (
            "ProfileList[0].SignerCertificates[0]".to_owned(),
            "data",
            "string"
        )
    );
}

#[test]
fn recovery_key_cms_must_be_data() {
    let info = dict([("FDE_PersonalRecoveryKeyCMS", Value::from("MIAGCSqGSIb3"))]);
    let payload = dict([("SecurityInfo", Value::Dictionary(info))]);
    let err = SecurityInfoResult::from_payload(payload).unwrap_err();
    assert_eq!(
        wrong_type(err),
        (
            "SecurityInfo.FDE_PersonalRecoveryKeyCMS".to_owned(),
            "data",
            "string"
        )
    );
}

#[test]
fn firewall_application_wrong_type() {
    let app = dict([("Allowed", Value::from("yes"))]);
    let fw = dict([("Applications", Value::Array(vec![Value::Dictionary(app)]))]);
    let info = dict([("FirewallSettings", Value::Dictionary(fw))]);
    let payload = dict([("SecurityInfo", Value::Dictionary(info))]);
    let err = SecurityInfoResult::from_payload(payload).unwrap_err();
    assert_eq!(
        wrong_type(err),
        (
            "SecurityInfo.FirewallSettings.Applications[0].Allowed".to_owned(),
            "boolean",
            "string"
        )
    );
}

#[test]
fn managed_application_errors_name_the_bundle_id() {
    let app = dict([("ManagementFlags", Value::from(1_i64))]);
    let payload = dict([(
        "ManagedApplicationList",
        Value::Dictionary(dict([("com.example.app", Value::Dictionary(app))])),
    )]);
    let err = ManagedApplicationListResult::from_payload(payload).unwrap_err();
    assert_eq!(
        missing(err),
        "ManagedApplicationList[com.example.app].Status"
    );

    let payload = dict([(
        "ManagedApplicationList",
        Value::Dictionary(dict([("com.example.app", Value::from(true))])),
    )]);
    let err = ManagedApplicationListResult::from_payload(payload).unwrap_err();
    assert_eq!(
        wrong_type(err),
        (
            "ManagedApplicationList[com.example.app]".to_owned(),
            "dict",
            "boolean"
        )
    );
}

#[test]
fn missing_top_level_keys() {
    let empty = Dictionary::new;
    assert_eq!(
        missing(DeviceInformationResult::from_payload(empty()).unwrap_err()),
        "QueryResponses"
    );
    assert_eq!(
        missing(SecurityInfoResult::from_payload(empty()).unwrap_err()),
        "SecurityInfo"
    );
    assert_eq!(
        missing(InstalledApplicationListResult::from_payload(empty()).unwrap_err()),
        "InstalledApplicationList"
    );
    assert_eq!(
        missing(ManagedApplicationListResult::from_payload(empty()).unwrap_err()),
        "ManagedApplicationList"
    );
    assert_eq!(
        missing(ProfileListResult::from_payload(empty()).unwrap_err()),
        "ProfileList"
    );
    assert_eq!(
        missing(CertificateListResult::from_payload(empty()).unwrap_err()),
        "CertificateList"
    );
    assert_eq!(
        missing(AvailableOSUpdatesResult::from_payload(empty()).unwrap_err()),
        "AvailableOSUpdates"
    );
    assert_eq!(
        missing(OSUpdateStatusResult::from_payload(empty()).unwrap_err()),
        "OSUpdateStatus"
    );
    assert_eq!(
        missing(DeviceLocationResult::from_payload(empty()).unwrap_err()),
        "Latitude"
    );
}

#[test]
fn missing_required_item_keys() {
    let cert = dict([
        ("CommonName", Value::from("x")),
        ("IsIdentity", Value::Boolean(false)),
    ]);
    let payload = dict([(
        "CertificateList",
        Value::Array(vec![Value::Dictionary(cert)]),
    )]);
    assert_eq!(
        missing(CertificateListResult::from_payload(payload).unwrap_err()),
        "CertificateList[0].Data"
    );

    let status = dict([
        ("ProductKey", Value::from("k")),
        ("IsDownloaded", Value::Boolean(false)),
        ("Status", Value::from("Idle")),
    ]);
    let payload = dict([(
        "OSUpdateStatus",
        Value::Array(vec![Value::Dictionary(status)]),
    )]);
    assert_eq!(
        missing(OSUpdateStatusResult::from_payload(payload).unwrap_err()),
        "OSUpdateStatus[0].DownloadPercentComplete"
    );
}

#[test]
fn negative_sizes_are_invalid() {
    let update = dict([
        ("ProductKey", Value::from("k")),
        ("DownloadSize", Value::from(-1_i64)),
    ]);
    let payload = dict([(
        "AvailableOSUpdates",
        Value::Array(vec![Value::Dictionary(update)]),
    )]);
    match AvailableOSUpdatesResult::from_payload(payload).unwrap_err() {
        Error::InvalidValue { key, .. } => assert_eq!(key, "AvailableOSUpdates[0].DownloadSize"),
        other => panic!("expected InvalidValue, got {other:?}"),
    }
}

#[test]
fn reals_accept_integers() {
    let payload = dict([
        ("Latitude", Value::from(52_i64)),
        ("Longitude", Value::Real(13.4)),
        ("Speed", Value::from(0_i64)),
    ]);
    let r = DeviceLocationResult::from_payload(payload).unwrap();
    assert_eq!(r.latitude, 52.0);
    assert_eq!(r.speed, Some(0.0));
    // Written back as Apple types them.
    assert_eq!(r.to_payload().get("Latitude"), Some(&Value::Real(52.0)));

    let q = dict([
        ("DeviceCapacity", Value::from(64_i64)),
        ("BatteryLevel", Value::from(1_i64)),
    ]);
    let payload = dict([("QueryResponses", Value::Dictionary(q))]);
    let r = DeviceInformationResult::from_payload(payload).unwrap();
    assert_eq!(r.query_responses.device_capacity, Some(64.0));
    assert_eq!(r.query_responses.battery_level, Some(1.0));

    let payload = dict([(
        "QueryResponses",
        Value::Dictionary(dict([("BatteryLevel", Value::from("full"))])),
    )]);
    let err = DeviceInformationResult::from_payload(payload).unwrap_err();
    assert_eq!(
        wrong_type(err),
        ("QueryResponses.BatteryLevel".to_owned(), "real", "string")
    );
}

#[test]
fn unknown_enum_values_are_kept() {
    let app = dict([("Status", Value::from("SomethingNew"))]);
    let payload = dict([(
        "ManagedApplicationList",
        Value::Dictionary(dict([("com.example.app", Value::Dictionary(app))])),
    )]);
    let r = ManagedApplicationListResult::from_payload(payload.clone()).unwrap();
    assert_eq!(
        r.applications["com.example.app"].status,
        ManagedApplicationStatus::Other("SomethingNew".to_owned())
    );
    assert_eq!(r.to_payload(), payload);
    assert_eq!(
        ManagedApplicationStatus::from("Managed"),
        ManagedApplicationStatus::Managed
    );
    assert_eq!(SecureBootLevel::NotSupported.as_str(), "not supported");
    assert_eq!(OSUpdateStatus::Downloading.to_string(), "Downloading");
}

#[test]
fn unknown_keys_are_kept_at_every_level() {
    let item = dict([
        ("ProductKey", Value::from("k")),
        ("IsDownloaded", Value::Boolean(true)),
        ("DownloadPercentComplete", Value::Real(1.0)),
        ("Status", Value::from("Idle")),
        ("FutureKey", Value::from(7_i64)),
    ]);
    let payload = dict([
        (
            "OSUpdateStatus",
            Value::Array(vec![Value::Dictionary(item)]),
        ),
        ("TopLevelFuture", Value::Boolean(true)),
    ]);
    let r = OSUpdateStatusResult::from_payload(payload.clone()).unwrap();
    assert_eq!(r.extra.get("TopLevelFuture"), Some(&Value::Boolean(true)));
    assert_eq!(
        r.statuses[0].extra.get("FutureKey"),
        Some(&Value::from(7_i64))
    );
    assert_eq!(r.to_payload(), payload);
}

#[test]
fn decode_result_dispatch() {
    assert!(
        decode_result("RestartDevice", Dictionary::new())
            .unwrap()
            .is_none()
    );
    assert!(decode_result("DeviceInformation", Dictionary::new()).is_err());
    let payload = dict([("CertificateList", Value::Array(vec![]))]);
    match decode_result("CertificateList", payload).unwrap() {
        Some(AnyResult::CertificateList(r)) => assert!(r.certificates.is_empty()),
        other => panic!("{other:?}"),
    }
    assert_eq!(DeviceLocationResult::REQUEST_TYPE, "DeviceLocation");
    assert_eq!(AvailableOSUpdatesResult::REQUEST_TYPE, "AvailableOSUpdates");
}

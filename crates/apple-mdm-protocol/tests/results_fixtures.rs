//! Command results decoded from device-shaped reports written by Python's
//! `plistlib` (`tests/fixtures/make-result-fixtures.py`), and from real
//! device responses published by other MDM projects when they are present.

use std::path::{Path, PathBuf};

use apple_mdm_protocol::results::*;
use pippin_plist::{Date, Dictionary, Value};

/// The report keys that are not part of a command's result.
const ENVELOPE: [&str; 8] = [
    "UDID",
    "UserID",
    "EnrollmentID",
    "EnrollmentUserID",
    "Status",
    "CommandUUID",
    "ErrorChain",
    "RequestType",
];

/// Reads a report and splits it into its `RequestType` (if any) and the
/// result payload.
fn payload_of(bytes: &[u8]) -> (Option<String>, Dictionary) {
    let value = pippin_plist::from_bytes(bytes).expect("a readable plist");
    let Value::Dictionary(mut dict) = value else {
        panic!("report is not a dictionary")
    };
    let request_type = dict
        .get("RequestType")
        .and_then(Value::as_str)
        .map(str::to_owned);
    for key in ENVELOPE {
        dict.remove(key);
    }
    (request_type, dict)
}

fn decode<T: CommandResult>(bytes: &[u8]) -> T {
    let (request_type, payload) = payload_of(bytes);
    assert_eq!(request_type.as_deref(), Some(T::REQUEST_TYPE));
    let result = T::from_payload(payload.clone()).expect("typed decode");
    // Nothing is lost: the typed value encodes back to the same payload.
    assert_eq!(result.to_payload(), payload);
    result
}

fn date(unix_seconds: i64) -> Date {
    Date::from_unix_seconds(unix_seconds)
}

#[test]
fn device_information_macos() {
    let r: DeviceInformationResult = decode(include_bytes!(
        "fixtures/result-DeviceInformation-macos14.plist"
    ));
    let q = &r.query_responses;
    assert_eq!(q.serial_number.as_deref(), Some("C02XXXXXXXXX"));
    assert_eq!(
        q.udid.as_deref(),
        Some("00000000-0000-0000-0000-000000000000")
    );
    assert_eq!(
        q.provisioning_udid.as_deref(),
        Some("00006000-000000000000001E")
    );
    assert_eq!(q.os_version.as_deref(), Some("14.4.1"));
    assert_eq!(q.build_version.as_deref(), Some("23E224"));
    assert_eq!(q.model.as_deref(), Some("Mac14,9"));
    assert_eq!(q.product_name.as_deref(), Some("Mac14,9"));
    assert_eq!(q.is_apple_silicon, Some(true));
    assert_eq!(q.device_capacity, Some(494.38));
    assert_eq!(q.available_device_capacity, Some(312.07));
    assert_eq!(q.battery_level, Some(0.87));
    assert_eq!(q.ethernet_mac.as_deref(), Some("00:00:5e:00:53:03"));
    assert_eq!(q.is_supervised, Some(true));
    assert_eq!(q.system_integrity_protection_enabled, Some(true));
    assert_eq!(q.host_name.as_deref(), Some("finance-mbp.corp.example.com"));
    assert_eq!(q.local_host_name.as_deref(), Some("Finance-MacBook-Pro"));
    assert_eq!(q.eacs_preflight.as_deref(), Some("success"));
    assert_eq!(q.active_managed_users.as_ref().map(Vec::len), Some(1));
    assert_eq!(
        q.auto_setup_admin_accounts.as_ref().unwrap()[0]
            .get("shortName")
            .and_then(Value::as_str),
        Some("mdmadmin")
    );
    let osu = q.os_update_settings.as_ref().unwrap();
    assert_eq!(osu.is_default_catalog, Some(true));
    assert_eq!(osu.automatic_security_updates_enabled, Some(true));
    assert_eq!(osu.previous_scan_date, Some(date(1_712_045_700)));
    assert!(
        osu.catalog_url
            .as_deref()
            .unwrap()
            .ends_with(".sucatalog.gz")
    );
    assert_eq!(
        q.mdm_options.as_ref().unwrap().get("BootstrapTokenAllowed"),
        Some(&Value::Boolean(true))
    );
    // A key Apple's schema does not name is kept.
    assert!(q.extra.contains_key("Languages"));
    assert_eq!(q.extra.len(), 1);
    assert!(q.imei.is_none() && q.battery_level.is_some());
}

#[test]
fn device_information_ios_binary() {
    let r: DeviceInformationResult = decode(include_bytes!(
        "fixtures/result-DeviceInformation-ios17.binary.plist"
    ));
    let q = &r.query_responses;
    assert_eq!(q.serial_number.as_deref(), Some("DMPXXXXXXXXX"));
    assert_eq!(q.os_version.as_deref(), Some("17.4.1"));
    assert_eq!(q.product_name.as_deref(), Some("iPhone15,2"));
    assert_eq!(q.model_name.as_deref(), Some("iPhone"));
    assert_eq!(q.cellular_technology, Some(3));
    assert_eq!(q.imei.as_deref(), Some("35 000000 000000 0"));
    // 128.0 is written by plistlib as a real; it stays a real.
    assert_eq!(q.device_capacity, Some(128.0));
    assert_eq!(q.is_activation_lock_enabled, Some(true));
    assert_eq!(q.last_cloud_backup_date, Some(date(1_711_938_600)));
    assert_eq!(q.time_zone.as_deref(), Some("Europe/Berlin"));
    let subs = q.service_subscriptions.as_ref().unwrap();
    assert_eq!(subs.len(), 2);
    assert_eq!(subs[0].iccid.as_deref(), Some("8900 0000 0000 0000 0000"));
    assert_eq!(subs[0].is_data_preferred, Some(true));
    assert_eq!(
        subs[1].eid.as_deref(),
        Some("89049000000000000000000000000000")
    );
    assert!(subs[1].phone_number.is_none());
    assert!(q.extra.contains_key("SoftwareUpdateSettings"));
    assert!(q.host_name.is_none());
}

#[test]
fn security_info_macos() {
    let r: SecurityInfoResult =
        decode(include_bytes!("fixtures/result-SecurityInfo-macos14.plist"));
    let s = &r.security_info;
    assert_eq!(s.fde_enabled, Some(true));
    assert_eq!(s.fde_has_personal_recovery_key, Some(true));
    assert_eq!(s.fde_has_institutional_recovery_key, Some(false));
    let cms = s.fde_personal_recovery_key_cms.as_ref().unwrap();
    // ContentInfo SEQUENCE (4-byte header) + OID (11) + [0] (4-byte header) + 1500.
    assert_eq!(cms.len(), 4 + 11 + 4 + 1500);
    assert_eq!(&cms[..2], &[0x30, 0x82]);
    assert_eq!(
        s.fde_personal_recovery_key_device_key.as_deref(),
        Some("C02XXXXXXXXX")
    );
    assert_eq!(
        s.bootstrap_token_allowed_for_authentication,
        Some(BootstrapTokenAllowed::Allowed)
    );
    let fw = s.firewall_settings.as_ref().unwrap();
    assert_eq!(fw.firewall_enabled, Some(true));
    assert_eq!(fw.stealth_mode, Some(true));
    let apps = fw.applications.as_ref().unwrap();
    assert_eq!(apps.len(), 2);
    assert_eq!(apps[1].bundle_id.as_deref(), Some("com.example.agent"));
    assert_eq!(apps[1].allowed, Some(false));
    assert_eq!(
        s.firmware_password_status,
        Some(FirmwarePasswordStatus::default())
    );
    let ms = s.management_status.as_ref().unwrap();
    assert_eq!(ms.enrolled_via_dep, Some(true));
    assert_eq!(ms.user_approved_enrollment, Some(true));
    assert_eq!(ms.is_activation_lock_manageable, Some(true));
    let sb = s.secure_boot.as_ref().unwrap();
    assert_eq!(sb.secure_boot_level, Some(SecureBootLevel::Full));
    assert_eq!(
        sb.external_boot_level,
        Some(ExternalBootLevel::NotSupported)
    );
    assert!(s.passcode_present.is_none());
    assert!(s.extra.is_empty());
}

#[test]
fn security_info_ios() {
    let r: SecurityInfoResult = decode(include_bytes!("fixtures/result-SecurityInfo-ios17.plist"));
    let s = &r.security_info;
    assert_eq!(s.hardware_encryption_caps, Some(3));
    assert_eq!(s.passcode_present, Some(true));
    assert_eq!(s.passcode_compliant_with_profiles, Some(true));
    assert_eq!(s.passcode_lock_grace_period_enforced, Some(0));
    assert_eq!(
        s.management_status.as_ref().unwrap().is_user_enrollment,
        Some(false)
    );
    assert!(s.fde_enabled.is_none());
}

#[test]
fn installed_applications_macos() {
    let r: InstalledApplicationListResult = decode(include_bytes!(
        "fixtures/result-InstalledApplicationList-macos14.plist"
    ));
    assert_eq!(r.applications.len(), 4);
    let keynote = r
        .applications
        .iter()
        .find(|a| a.identifier.as_deref() == Some("com.apple.Keynote"))
        .unwrap();
    assert_eq!(keynote.short_version.as_deref(), Some("14.0"));
    assert_eq!(keynote.bundle_size, Some(603_979_776));
    assert_eq!(keynote.has_update_available, Some(true));
    let legacy = &r.applications[3];
    assert!(legacy.identifier.is_none());
    assert_eq!(legacy.name.as_deref(), Some("Legacy Helper"));
}

#[test]
fn installed_applications_ios_binary() {
    let r: InstalledApplicationListResult = decode(include_bytes!(
        "fixtures/result-InstalledApplicationList-ios17.binary.plist"
    ));
    assert_eq!(r.applications.len(), 4);
    let outlook = &r.applications[0];
    assert_eq!(
        outlook.identifier.as_deref(),
        Some("com.microsoft.Office.Outlook")
    );
    assert_eq!(outlook.version.as_deref(), Some("4.2411.0"));
    assert_eq!(outlook.external_version_identifier, Some(864_154_312));
    assert_eq!(outlook.device_based_vpp, Some(true));
    assert_eq!(outlook.dynamic_size, Some(154_140_672));
    let pending = &r.applications[3];
    assert_eq!(pending.installing, Some(true));
    assert_eq!(pending.download_waiting, Some(true));
    assert!(pending.bundle_size.is_none());
}

#[test]
fn managed_applications_ios() {
    let r: ManagedApplicationListResult = decode(include_bytes!(
        "fixtures/result-ManagedApplicationList-ios17.plist"
    ));
    assert_eq!(r.applications.len(), 4);
    let anyconnect = &r.applications["com.cisco.anyconnect"];
    assert_eq!(anyconnect.status, ManagedApplicationStatus::Managed);
    assert_eq!(anyconnect.management_flags, Some(5));
    assert_eq!(anyconnect.external_version_identifier, Some(863_900_045));
    assert_eq!(
        r.applications["com.example.timesheet"].status,
        ManagedApplicationStatus::PromptingForManagement
    );
    assert_eq!(
        r.applications["com.example.fieldnotes"].status,
        ManagedApplicationStatus::Installing
    );
    assert!(
        r.applications["com.microsoft.Office.Outlook"]
            .unused_redemption_code
            .is_none()
    );
}

#[test]
fn profile_list_macos() {
    let r: ProfileListResult = decode(include_bytes!("fixtures/result-ProfileList-macos14.plist"));
    assert_eq!(r.profiles.len(), 3);
    let enroll = &r.profiles[0];
    assert_eq!(enroll.payload_identifier, "com.example.pippin.enroll");
    assert_eq!(enroll.payload_removal_disallowed, Some(true));
    assert_eq!(enroll.is_managed, Some(true));
    let content = enroll.payload_content.as_ref().unwrap();
    assert_eq!(content.len(), 3);
    assert_eq!(content[0].payload_type, "com.apple.mdm");
    assert_eq!(
        content[1].payload_display_name.as_deref(),
        Some("Device identity")
    );
    let signers = enroll.signer_certificates.as_ref().unwrap();
    assert_eq!(signers.len(), 1);
    assert_eq!(signers[0][0], 0x30, "a DER certificate");
    let fv = &r.profiles[1];
    assert_eq!(
        fv.payload_content.as_ref().unwrap()[1].payload_type,
        "com.apple.security.FDERecoveryKeyEscrow"
    );
    let encrypted = &r.profiles[2];
    assert_eq!(encrypted.is_encrypted, Some(true));
    assert!(encrypted.payload_content.is_none());
}

#[test]
fn certificate_list_ios() {
    let r: CertificateListResult = decode(include_bytes!(
        "fixtures/result-CertificateList-ios17.plist"
    ));
    assert_eq!(r.certificates.len(), 2);
    let identity = r.certificates.iter().find(|c| c.is_identity).unwrap();
    assert_eq!(
        identity.common_name.as_deref(),
        Some("00008110-000000000000000A")
    );
    assert_eq!(identity.data[0], 0x30);
    assert!(identity.data.len() > 200);
    assert_eq!(
        r.certificates[0].common_name.as_deref(),
        Some("Example Corp Root CA")
    );
}

#[test]
fn available_updates_macos() {
    let r: AvailableOSUpdatesResult = decode(include_bytes!(
        "fixtures/result-AvailableOSUpdates-macos14.plist"
    ));
    assert_eq!(r.updates.len(), 3);
    let minor = &r.updates[0];
    assert_eq!(minor.product_key, "MSU_UPDATE_23E224_patch_14.5_minor");
    assert_eq!(minor.version.as_deref(), Some("14.5"));
    assert_eq!(minor.build.as_deref(), Some("23F79"));
    assert_eq!(minor.download_size, Some(1_043_582_976));
    assert_eq!(minor.requires_bootstrap_token, Some(true));
    assert_eq!(minor.app_identifiers_to_close.as_deref(), Some(&[][..]));
    let major = &r.updates[1];
    assert_eq!(major.is_major_os_update, Some(true));
    // Above 4 GiB: needs more than 32 bits.
    assert_eq!(major.download_size, Some(6_710_886_400));
    assert_eq!(major.deferred_until, Some(date(1_733_011_200)));
    let config = &r.updates[2];
    assert_eq!(config.is_config_data_update, Some(true));
    assert!(config.metadata_url.is_some());
}

#[test]
fn update_status_macos_binary() {
    let r: OSUpdateStatusResult = decode_lossy(include_bytes!(
        "fixtures/result-OSUpdateStatus-macos14.binary.plist"
    ));
    assert_eq!(r.statuses.len(), 2);
    let s = &r.statuses[0];
    assert_eq!(s.status, OSUpdateStatus::Downloading);
    assert_eq!(s.download_percent_complete, 0.42);
    assert!(!s.is_downloaded);
    assert_eq!(s.max_deferrals, Some(3));
    assert_eq!(s.deferrals_remaining, Some(2));
    assert_eq!(s.next_scheduled_install, Some(date(1_712_181_600)));
    assert_eq!(s.past_notifications.as_ref().map(Vec::len), Some(2));
    let done = &r.statuses[1];
    assert_eq!(done.status, OSUpdateStatus::Idle);
    // Sent as <integer>1, read as a real.
    assert_eq!(done.download_percent_complete, 1.0);
}

/// Like `decode`, for payloads with numbers sent as integers where Apple
/// types them as reals: re-encoding writes reals, so only the typed value
/// (not the payload) roundtrips.
fn decode_lossy<T: CommandResult + PartialEq + std::fmt::Debug>(bytes: &[u8]) -> T {
    let (request_type, payload) = payload_of(bytes);
    assert_eq!(request_type.as_deref(), Some(T::REQUEST_TYPE));
    let result = T::from_payload(payload).expect("typed decode");
    assert_eq!(T::from_payload(result.to_payload()).unwrap(), result);
    result
}

#[test]
fn device_location_ios() {
    let r: DeviceLocationResult =
        decode(include_bytes!("fixtures/result-DeviceLocation-ios17.plist"));
    assert_eq!(r.latitude, 52.520008);
    assert_eq!(r.longitude, 13.404954);
    assert_eq!(r.horizontal_accuracy, Some(12.0));
    assert_eq!(r.speed, Some(-1.0));
    assert_eq!(r.timestamp.as_deref(), Some("2024-04-02T10:15:30Z"));
}

#[test]
fn decode_result_dispatches_fixtures() {
    let fixtures: [&[u8]; 12] = [
        include_bytes!("fixtures/result-DeviceInformation-macos14.plist"),
        include_bytes!("fixtures/result-DeviceInformation-ios17.binary.plist"),
        include_bytes!("fixtures/result-SecurityInfo-macos14.plist"),
        include_bytes!("fixtures/result-SecurityInfo-ios17.plist"),
        include_bytes!("fixtures/result-InstalledApplicationList-macos14.plist"),
        include_bytes!("fixtures/result-InstalledApplicationList-ios17.binary.plist"),
        include_bytes!("fixtures/result-ManagedApplicationList-ios17.plist"),
        include_bytes!("fixtures/result-ProfileList-macos14.plist"),
        include_bytes!("fixtures/result-CertificateList-ios17.plist"),
        include_bytes!("fixtures/result-AvailableOSUpdates-macos14.plist"),
        include_bytes!("fixtures/result-OSUpdateStatus-macos14.binary.plist"),
        include_bytes!("fixtures/result-DeviceLocation-ios17.plist"),
    ];
    for bytes in fixtures {
        let (request_type, payload) = payload_of(bytes);
        let request_type = request_type.unwrap();
        let any = decode_result(&request_type, payload).unwrap().unwrap();
        assert_eq!(any.request_type(), request_type);
    }
}

// --- Real device responses --------------------------------------------------

/// Real responses published by other open-source MDM servers, kept outside
/// this repository (see the folder's SOURCES.md). Absent: nothing to check.
fn real_fixtures() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/mdm");
    dir.is_dir().then_some(dir)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            walk(&path, out);
        } else if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("xml" | "plist")
        ) {
            out.push(path);
        }
    }
}

/// The request type a real response answers: its `RequestType` if it has
/// one, else the folder it is filed under (Commandment files by command name).
fn request_type_of(path: &Path, request_type: Option<String>) -> Option<String> {
    request_type.or_else(|| {
        path.parent()
            .and_then(Path::file_name)
            .and_then(|n| n.to_str())
            .map(str::to_owned)
    })
}

#[test]
fn real_device_responses_decode() {
    let Some(dir) = real_fixtures() else {
        return;
    };
    let mut files = Vec::new();
    walk(&dir, &mut files);
    files.sort();
    let mut decoded = Vec::new();
    for path in &files {
        let bytes = std::fs::read(path).unwrap();
        let Ok(Value::Dictionary(dict)) = pippin_plist::from_bytes(&bytes) else {
            // Not a plist we can read (e.g. a placeholder `Base64=` data
            // value that strict decoders reject); the plist crate's tests
            // cover those.
            continue;
        };
        if dict.get("Status").and_then(Value::as_str) != Some("Acknowledged") {
            continue;
        }
        let (request_type, payload) = payload_of(&bytes);
        let Some(request_type) = request_type_of(path, request_type) else {
            continue;
        };
        match decode_result(&request_type, payload.clone()) {
            Ok(Some(any)) => {
                // Typed values re-encode to a payload that decodes to them.
                let again = decode_result(&request_type, any.to_payload())
                    .unwrap()
                    .unwrap();
                assert_eq!(again, any, "{}", path.display());
                decoded.push((path.clone(), any));
            }
            Ok(None) => {}
            Err(e) => panic!("{}: {e}", path.display()),
        }
    }
    // Spot checks on what the real devices said, where the files exist.
    for (path, any) in &decoded {
        let name = path.to_string_lossy();
        match any {
            AnyResult::DeviceInformation(r) if name.ends_with("DeviceInformation/10.11.x.xml") => {
                let q = &r.query_responses;
                assert_eq!(q.os_version.as_deref(), Some("10.11.6"));
                assert_eq!(q.model.as_deref(), Some("iMac15,1"));
                // macOS 10.11 sends PreviousScanResult as an integer.
                let osu = q.os_update_settings.as_ref().unwrap();
                assert_eq!(osu.previous_scan_result, Some(Value::from(0_i64)));
            }
            AnyResult::DeviceInformation(r)
                if name.ends_with("DeviceInformation/iOS-11.3.1.xml") =>
            {
                assert_eq!(r.query_responses.product_name.as_deref(), Some("iPad4,1"));
            }
            AnyResult::SecurityInfo(r) if name.ends_with("SecurityInfo/macOS-10.13.1.xml") => {
                let fw = r.security_info.firewall_settings.as_ref().unwrap();
                assert_eq!(fw.applications.as_ref().unwrap().len(), 2);
                assert!(fw.applications.as_ref().unwrap()[0].bundle_id.is_none());
            }
            AnyResult::ManagedApplicationList(r) => {
                assert_eq!(
                    r.applications["com.apple.Numbers"].status,
                    ManagedApplicationStatus::Managed
                );
            }
            AnyResult::ProfileList(r) if name.ends_with("ProfileList/iOS-11.3.1.xml") => {
                // iOS 11 omits PayloadUUID in PayloadContent items.
                let content = r.profiles[0].payload_content.as_ref().unwrap();
                assert!(content.iter().all(|c| c.payload_uuid.is_none()));
            }
            _ => {}
        }
    }
    if !files.is_empty() {
        assert!(
            decoded.len() >= 8,
            "only {} real responses decoded",
            decoded.len()
        );
    }
}

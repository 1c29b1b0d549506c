//! Commands against fixed property lists written by an independent writer
//! (Python's `plistlib`, see `fixtures/make-command-fixtures.py`), with the
//! key names and types of Apple's `mdm/commands/*.yaml`.
//!
//! Each typed command must decode from the fixture to the expected value, and
//! encode to exactly the fixture's bytes: the XML a device receives.

use apple_mdm_protocol::command::*;
use pippin_plist::{Dictionary, Value};

const DEVICE_LOCK: &[u8] = include_bytes!("fixtures/command-DeviceLock.xml");
const ERASE_DEVICE: &[u8] = include_bytes!("fixtures/command-EraseDevice.xml");
const ERASE_DEVICE_BINARY: &[u8] = include_bytes!("fixtures/command-EraseDevice.binary.plist");
const INSTALL_APPLICATION: &[u8] = include_bytes!("fixtures/command-InstallApplication-vpp.xml");
const INSTALL_APPLICATION_BINARY: &[u8] =
    include_bytes!("fixtures/command-InstallApplication-vpp.binary.plist");
const DEVICE_INFORMATION: &[u8] = include_bytes!("fixtures/command-DeviceInformation.xml");
const SETTINGS: &[u8] = include_bytes!("fixtures/command-Settings.xml");
const SCHEDULE_OS_UPDATE: &[u8] = include_bytes!("fixtures/command-ScheduleOSUpdate.xml");

/// Every `(path, type)` pair of a value, depth first, in document order.
fn shape(v: &Value) -> Vec<(String, &'static str)> {
    fn walk(v: &Value, path: &str, out: &mut Vec<(String, &'static str)>) {
        out.push((path.to_owned(), v.type_name()));
        match v {
            Value::Dictionary(d) => {
                for (k, child) in d {
                    let p = if path.is_empty() {
                        k.clone()
                    } else {
                        format!("{path}.{k}")
                    };
                    walk(child, &p, out);
                }
            }
            Value::Array(items) => {
                for (i, child) in items.iter().enumerate() {
                    walk(child, &format!("{path}[{i}]"), out);
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(v, "", &mut out);
    out
}

fn owned(pairs: &[(&str, &'static str)]) -> Vec<(String, &'static str)> {
    pairs.iter().map(|(p, t)| ((*p).to_owned(), *t)).collect()
}

/// Decodes `fixture` to `expected`, and encodes `expected` to `fixture`.
fn exact(fixture: &[u8], expected: &Command) {
    assert_eq!(&Command::decode(fixture).unwrap(), expected);
    let xml = expected.to_xml();
    assert_eq!(
        String::from_utf8_lossy(&xml),
        String::from_utf8_lossy(fixture),
        "encoded XML differs from the fixture"
    );
}

#[test]
fn device_lock() {
    let cmd = Command::new(
        "9F1D6B4A-2C1E-4E4B-9B7A-3C2D1E0F0001",
        DeviceLock {
            pin: Some("123456".into()),
            message: Some("This Mac belongs to Example Corp. Please call IT.".into()),
            phone_number: Some("+1 555 0100".into()),
            extra: Dictionary::new(),
        },
    );
    exact(DEVICE_LOCK, &cmd);
    assert_eq!(
        shape(&cmd.to_value()),
        owned(&[
            ("", "dict"),
            ("Command", "dict"),
            ("Command.RequestType", "string"),
            ("Command.PIN", "string"),
            ("Command.Message", "string"),
            ("Command.PhoneNumber", "string"),
            ("CommandUUID", "string"),
        ])
    );
}

fn erase_device() -> Command {
    Command::new(
        "9F1D6B4A-2C1E-4E4B-9B7A-3C2D1E0F0002",
        EraseDevice {
            pin: Some("654321".into()),
            preserve_data_plan: Some(true),
            disallow_proximity_setup: Some(false),
            obliteration_behavior: Some(ObliterationBehavior::DoNotObliterate),
            return_to_service: Some(ReturnToService {
                enabled: true,
                wifi_profile_data: Some(b"<plist>wifi</plist>".to_vec()),
                mdm_profile_data: None,
                extra: Dictionary::new(),
            }),
            extra: Dictionary::new(),
        },
    )
}

#[test]
fn erase_device_xml_and_binary() {
    let cmd = erase_device();
    exact(ERASE_DEVICE, &cmd);
    assert_eq!(Command::decode(ERASE_DEVICE_BINARY).unwrap(), cmd);
    assert_eq!(
        shape(&cmd.to_value()),
        owned(&[
            ("", "dict"),
            ("Command", "dict"),
            ("Command.RequestType", "string"),
            ("Command.PIN", "string"),
            ("Command.PreserveDataPlan", "boolean"),
            ("Command.DisallowProximitySetup", "boolean"),
            ("Command.ObliterationBehavior", "string"),
            ("Command.ReturnToService", "dict"),
            ("Command.ReturnToService.Enabled", "boolean"),
            ("Command.ReturnToService.WiFiProfileData", "data"),
            ("CommandUUID", "string"),
        ])
    );
}

fn install_application() -> Command {
    let mut configuration = Dictionary::new();
    configuration.insert("ServerURL", "https://example.invalid/app");
    configuration.insert("Retries", 3i64);
    let mut app = InstallApplication::vpp(409_201_541);
    app.management_flags =
        Some(ManagementFlags::REMOVE_WITH_MDM_PROFILE | ManagementFlags::PREVENT_BACKUP);
    app.configuration = Some(configuration);
    app.attributes = Some(ApplicationAttributes {
        removable: Some(false),
        associated_domains: Some(vec!["applinks:example.invalid".into()]),
        ..ApplicationAttributes::default()
    });
    app.change_management_state = Some(ChangeManagementState::Managed);
    app.install_as_managed = Some(true);
    Command::new("9F1D6B4A-2C1E-4E4B-9B7A-3C2D1E0F0003", app)
}

#[test]
fn install_application_vpp() {
    let cmd = install_application();
    exact(INSTALL_APPLICATION, &cmd);
    assert_eq!(Command::decode(INSTALL_APPLICATION_BINARY).unwrap(), cmd);
    assert_eq!(
        shape(&cmd.to_value()),
        owned(&[
            ("", "dict"),
            ("Command", "dict"),
            ("Command.RequestType", "string"),
            ("Command.iTunesStoreID", "integer"),
            ("Command.Options", "dict"),
            ("Command.Options.PurchaseMethod", "integer"),
            ("Command.ManagementFlags", "integer"),
            ("Command.Configuration", "dict"),
            ("Command.Configuration.ServerURL", "string"),
            ("Command.Configuration.Retries", "integer"),
            ("Command.Attributes", "dict"),
            ("Command.Attributes.AssociatedDomains", "array"),
            ("Command.Attributes.AssociatedDomains[0]", "string"),
            ("Command.Attributes.Removable", "boolean"),
            ("Command.ChangeManagementState", "string"),
            ("Command.InstallAsManaged", "boolean"),
            ("CommandUUID", "string"),
        ])
    );
    let v = cmd.to_value();
    let options = v.get("Command").and_then(|c| c.get("Options")).unwrap();
    assert_eq!(options.get("PurchaseMethod"), Some(&Value::from(1i64)));
}

#[test]
fn device_information() {
    let info = DeviceInformation {
        queries: [
            "UDID",
            "SerialNumber",
            "OSVersion",
            "DevicePropertiesAttestation",
        ]
        .map(String::from)
        .to_vec(),
        device_attestation_nonce: Some((0u8..32).collect()),
        extra: Dictionary::new(),
    };
    let cmd = Command::new("9F1D6B4A-2C1E-4E4B-9B7A-3C2D1E0F0004", info);
    exact(DEVICE_INFORMATION, &cmd);
    assert_eq!(
        shape(&cmd.to_value()),
        owned(&[
            ("", "dict"),
            ("Command", "dict"),
            ("Command.RequestType", "string"),
            ("Command.Queries", "array"),
            ("Command.Queries[0]", "string"),
            ("Command.Queries[1]", "string"),
            ("Command.Queries[2]", "string"),
            ("Command.Queries[3]", "string"),
            ("Command.DeviceAttestationNonce", "data"),
            ("CommandUUID", "string"),
        ])
    );
}

#[test]
fn standard_inventory_queries() {
    let standard = DeviceInformation::standard();
    assert!(standard.queries.iter().any(|q| q == "SerialNumber"));
    let mac = DeviceInformation::macos();
    assert!(mac.queries.iter().any(|q| q == "EthernetMAC"));
    assert!(!mac.queries.iter().any(|q| q == "IMEI"));
    let ios = DeviceInformation::ios();
    assert!(ios.queries.iter().any(|q| q == "IsCloudBackupEnabled"));
    assert!(!ios.queries.iter().any(|q| q == "EthernetMAC"));
    for q in &mac.queries {
        assert_eq!(mac.queries.iter().filter(|o| *o == q).count(), 1, "{q}");
    }
    for q in &ios.queries {
        assert_eq!(ios.queries.iter().filter(|o| *o == q).count(), 1, "{q}");
    }
}

#[test]
fn settings() {
    let mut cadence = Dictionary::new();
    cadence.insert("RecommendationCadence", 1i64);
    let cmd = Command::new(
        "9F1D6B4A-2C1E-4E4B-9B7A-3C2D1E0F0005",
        Settings::new([
            Setting::DeviceName(DeviceNameSetting {
                device_name: "Reception iPad".into(),
                extra: Dictionary::new(),
            }),
            Setting::MDMOptions(MDMOptionsSetting {
                mdm_options: MDMOptions {
                    activation_lock_allowed_while_supervised: Some(true),
                    ..MDMOptions::default()
                },
                extra: Dictionary::new(),
            }),
            Setting::Bluetooth(EnabledSetting::new(false)),
            Setting::Other(OtherSetting {
                item: "SoftwareUpdateSettings".into(),
                params: cadence,
            }),
        ]),
    );
    exact(SETTINGS, &cmd);
}

#[test]
fn schedule_os_update() {
    let mut later = ScheduleOSUpdateItem::product_version("14.4.1", InstallAction::InstallLater);
    later.max_user_deferrals = Some(3);
    later.priority = Some(UpdatePriority::High);
    let cmd = Command::new(
        "9F1D6B4A-2C1E-4E4B-9B7A-3C2D1E0F0006",
        ScheduleOSUpdate {
            updates: vec![
                later,
                ScheduleOSUpdateItem::product_key(
                    "MSU_UPDATE_23E224_patch_14.4.1",
                    InstallAction::Default,
                ),
            ],
            extra: Dictionary::new(),
        },
    );
    exact(SCHEDULE_OS_UPDATE, &cmd);
}

/// Key order is not significant on the wire: a command written in another
/// order decodes to the same value.
#[test]
fn key_order_does_not_matter() {
    let xml = br#"<?xml version="1.0" encoding="UTF-8"?>
<plist version="1.0">
<dict>
    <key>CommandUUID</key>
    <string>9F1D6B4A-2C1E-4E4B-9B7A-3C2D1E0F0001</string>
    <key>Command</key>
    <dict>
        <key>PhoneNumber</key>
        <string>+1 555 0100</string>
        <key>Message</key>
        <string>This Mac belongs to Example Corp. Please call IT.</string>
        <key>PIN</key>
        <string>123456</string>
        <key>RequestType</key>
        <string>DeviceLock</string>
    </dict>
</dict>
</plist>"#;
    assert_eq!(
        Command::decode(xml).unwrap(),
        Command::decode(DEVICE_LOCK).unwrap()
    );
}

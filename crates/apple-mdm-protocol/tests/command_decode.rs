//! Decoding commands as a device does: unknown keys kept, wrong types and
//! missing keys reported by name, unknown request types passed through.

use apple_mdm_protocol::Error;
use apple_mdm_protocol::command::*;
use pippin_plist::{Dictionary, Value};

/// A command plist whose `Command` dictionary holds `RequestType` and `keys`
/// (each a ready-made XML fragment).
fn xml(request_type: &str, keys: &str) -> Vec<u8> {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
	<key>Command</key>
	<dict>
		<key>RequestType</key>
		<string>{request_type}</string>
		{keys}
	</dict>
	<key>CommandUUID</key>
	<string>0000-test</string>
</dict>
</plist>"#
    )
    .into_bytes()
}

fn wrong_type(err: &Error) -> Option<(&str, &str, &str)> {
    match err {
        Error::WrongType {
            key,
            expected,
            found,
        } => Some((key.as_str(), *expected, *found)),
        _ => None,
    }
}

fn missing(err: &Error) -> Option<&str> {
    match err {
        Error::MissingKey { key } => Some(key.as_str()),
        _ => None,
    }
}

#[test]
fn unknown_keys_survive_decode_and_encode() {
    let bytes = xml(
        "EraseDevice",
        "<key>PIN</key><string>123456</string>
         <key>RequestRequiresNetworkTether</key><true/>
         <key>FutureOption</key><dict><key>Level</key><integer>2</integer></dict>
         <key>ReturnToService</key><dict>
            <key>Enabled</key><true/>
            <key>FutureSubKey</key><string>kept</string>
         </dict>",
    );
    let cmd = Command::decode(&bytes).unwrap();
    let CommandBody::EraseDevice(erase) = &cmd.body else {
        panic!("not EraseDevice: {:?}", cmd.body);
    };
    assert_eq!(erase.pin.as_deref(), Some("123456"));
    assert_eq!(
        erase.extra.get("RequestRequiresNetworkTether"),
        Some(&Value::Boolean(true))
    );
    assert!(erase.extra.get("FutureOption").is_some());
    let rts = erase.return_to_service.as_ref().unwrap();
    assert!(rts.enabled);
    assert_eq!(rts.extra.get("FutureSubKey"), Some(&Value::from("kept")));

    let again = Command::decode(&cmd.to_xml()).unwrap();
    assert_eq!(again, cmd);
    let inner = cmd.to_value();
    let inner = inner.get("Command").unwrap();
    assert_eq!(
        inner.get("RequestRequiresNetworkTether"),
        Some(&Value::Boolean(true))
    );
    assert_eq!(
        inner
            .get("ReturnToService")
            .and_then(|r| r.get("FutureSubKey")),
        Some(&Value::from("kept"))
    );
}

#[test]
fn unknown_request_type_is_raw_and_kept() {
    let bytes = xml(
        "RotateFileVaultKey",
        "<key>KeyType</key><string>personal</string>
         <key>NewPassword</key><string>secret</string>",
    );
    let cmd = Command::decode(&bytes).unwrap();
    let CommandBody::Raw(raw) = &cmd.body else {
        panic!("not raw: {:?}", cmd.body);
    };
    assert_eq!(raw.request_type, "RotateFileVaultKey");
    assert_eq!(raw.params.get("KeyType"), Some(&Value::from("personal")));
    assert_eq!(cmd.request_type(), "RotateFileVaultKey");
    assert_eq!(Command::decode(&cmd.to_xml()).unwrap(), cmd);
}

#[test]
fn wrong_types_name_the_key() {
    let cases: &[(&str, &str, (&str, &str, &str))] = &[
        (
            "DeviceLock",
            "<key>PIN</key><integer>123456</integer>",
            ("Command.PIN", "string", "integer"),
        ),
        (
            "DeviceInformation",
            "<key>Queries</key><string>UDID</string>",
            ("Command.Queries", "array", "string"),
        ),
        (
            "DeviceInformation",
            "<key>Queries</key><array><string>UDID</string><integer>1</integer></array>",
            ("Command.Queries[]", "string", "integer"),
        ),
        (
            "EraseDevice",
            "<key>PreserveDataPlan</key><string>yes</string>",
            ("Command.PreserveDataPlan", "boolean", "string"),
        ),
        (
            "EraseDevice",
            "<key>ReturnToService</key><dict><key>Enabled</key><integer>1</integer></dict>",
            ("Command.ReturnToService.Enabled", "boolean", "integer"),
        ),
        (
            "InstallApplication",
            "<key>iTunesStoreID</key><string>409201541</string>",
            ("Command.iTunesStoreID", "integer", "string"),
        ),
        (
            "InstallApplication",
            "<key>iTunesStoreID</key><integer>1</integer>
             <key>Options</key><dict><key>PurchaseMethod</key><true/></dict>",
            ("Command.Options.PurchaseMethod", "integer", "boolean"),
        ),
        (
            "InstallProfile",
            "<key>Payload</key><integer>7</integer>",
            ("Command.Payload", "data", "integer"),
        ),
        (
            "ScheduleOSUpdate",
            "<key>Updates</key><array><dict><key>InstallAction</key><integer>1</integer></dict></array>",
            ("Command.Updates[0].InstallAction", "string", "integer"),
        ),
        (
            "ScheduleOSUpdate",
            "<key>Updates</key><array><string>x</string></array>",
            ("Command.Updates[0]", "dict", "string"),
        ),
        (
            "Settings",
            "<key>Settings</key><array>
                <dict><key>Item</key><string>Bluetooth</string><key>Enabled</key><true/></dict>
                <dict><key>Item</key><string>DeviceName</string><key>DeviceName</key><false/></dict>
             </array>",
            ("Command.Settings[1].DeviceName", "string", "boolean"),
        ),
        (
            "RestartDevice",
            "<key>KextPaths</key><string>/Library/Extensions/x.kext</string>",
            ("Command.KextPaths", "array", "string"),
        ),
    ];
    for (request_type, keys, expected) in cases {
        let err = Command::decode(&xml(request_type, keys)).unwrap_err();
        assert_eq!(wrong_type(&err), Some(*expected), "{request_type}: {err}");
    }
}

#[test]
fn missing_required_keys_are_named() {
    let cases: &[(&str, &str, &str)] = &[
        ("DeviceInformation", "", "Command.Queries"),
        ("InstallProfile", "", "Command.Payload"),
        ("RemoveProfile", "", "Command.Identifier"),
        ("RemoveApplication", "", "Command.Identifier"),
        ("ClearPasscode", "", "Command.UnlockToken"),
        ("ScheduleOSUpdate", "", "Command.Updates"),
        (
            "ScheduleOSUpdate",
            "<key>Updates</key><array><dict><key>ProductKey</key><string>k</string></dict></array>",
            "Command.Updates[0].InstallAction",
        ),
        ("Settings", "", "Command.Settings"),
        (
            "Settings",
            "<key>Settings</key><array><dict><key>Enabled</key><true/></dict></array>",
            "Command.Settings[0].Item",
        ),
        (
            "Settings",
            "<key>Settings</key><array><dict><key>Item</key><string>MDMOptions</string></dict></array>",
            "Command.Settings[0].MDMOptions",
        ),
        (
            "EraseDevice",
            "<key>ReturnToService</key><dict/>",
            "Command.ReturnToService.Enabled",
        ),
        (
            "InstallApplication",
            "<key>ManagementFlags</key><integer>1</integer>",
            "Command.iTunesStoreID, Identifier or ManifestURL",
        ),
        ("EnableLostMode", "", "Command.Message or PhoneNumber"),
    ];
    for (request_type, keys, expected) in cases {
        let err = Command::decode(&xml(request_type, keys)).unwrap_err();
        assert_eq!(missing(&err), Some(*expected), "{request_type}: {err}");
    }
}

#[test]
fn envelope_errors() {
    let err = Command::decode(b"<plist><array/></plist>").unwrap_err();
    assert!(
        matches!(err, Error::NotADictionary { found: "array" }),
        "{err}"
    );

    let err = Command::decode(
        b"<plist><dict><key>Command</key><dict><key>RequestType</key>\
          <string>DeviceLock</string></dict></dict></plist>",
    )
    .unwrap_err();
    assert_eq!(missing(&err), Some("CommandUUID"));

    let err =
        Command::decode(b"<plist><dict><key>CommandUUID</key><string>x</string></dict></plist>")
            .unwrap_err();
    assert_eq!(missing(&err), Some("Command"));

    let err = Command::decode(
        b"<plist><dict><key>Command</key><dict/><key>CommandUUID</key><string>x</string></dict></plist>",
    )
    .unwrap_err();
    assert_eq!(missing(&err), Some("Command.RequestType"));

    let err = Command::decode(b"<plist><dict><key>Command</key>").unwrap_err();
    assert!(matches!(err, Error::Plist(_)), "{err}");

    let err = Command::decode(&xml("", "")).unwrap_err();
    assert!(matches!(&err, Error::InvalidValue { .. }), "{err}");
}

#[test]
fn negative_store_id_is_invalid() {
    let err = Command::decode(&xml(
        "InstallApplication",
        "<key>iTunesStoreID</key><integer>-1</integer>",
    ))
    .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidValue { key, .. } if key == "Command.iTunesStoreID"),
        "{err}"
    );
}

#[test]
fn data_keys_take_base64_strings() {
    let cmd = Command::decode(&xml(
        "ClearPasscode",
        "<key>UnlockToken</key><string>3q2+7w==</string>",
    ))
    .unwrap();
    let CommandBody::ClearPasscode(clear) = &cmd.body else {
        panic!("not ClearPasscode: {:?}", cmd.body);
    };
    assert_eq!(clear.unlock_token, [0xde, 0xad, 0xbe, 0xef]);
    // Written back as data.
    let v = cmd.to_value();
    assert_eq!(
        v.get("Command").and_then(|c| c.get("UnlockToken")),
        Some(&Value::Data(vec![0xde, 0xad, 0xbe, 0xef]))
    );

    let err = Command::decode(&xml(
        "InstallProfile",
        "<key>Payload</key><string>not base64 at all!</string>",
    ))
    .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidValue { key, .. } if key == "Command.Payload"),
        "{err}"
    );

    let mut wallpaper = Dictionary::new();
    wallpaper.insert("Item", "Wallpaper");
    wallpaper.insert("Image", "iVBORw0KGgo=");
    wallpaper.insert("Where", 3i64);
    let mut params = Dictionary::new();
    params.insert("Settings", Value::Array(vec![Value::Dictionary(wallpaper)]));
    let body = CommandBody::from_params("Settings", params).unwrap();
    let CommandBody::Settings(settings) = body else {
        panic!("not Settings");
    };
    let Setting::Wallpaper(w) = &settings.settings[0] else {
        panic!("not Wallpaper");
    };
    assert_eq!(w.image, b"\x89PNG\r\n\x1a\n");
    assert_eq!(w.r#where, WallpaperWhere::Both);
}

#[test]
fn typed_from_params_and_try_from() {
    let mut params = Dictionary::new();
    params.insert("Identifier", "com.example.profile");
    let body = CommandBody::from_params("RemoveProfile", params.clone()).unwrap();
    assert_eq!(body.request_type(), "RemoveProfile");
    assert_eq!(body.to_params(), params);
    let remove = RemoveProfile::try_from(body).unwrap();
    assert_eq!(remove, RemoveProfile::new("com.example.profile"));

    let other = CommandBody::from(DeviceConfigured::default());
    assert!(RemoveProfile::try_from(other).is_err());

    params.insert("RequestType", "RemoveProfile");
    assert!(CommandBody::from_params("RemoveProfile", params).is_err());
}

#[test]
fn request_type_in_params_is_not_written_twice() {
    let mut params = Dictionary::new();
    params.insert("RequestType", "Spoofed");
    let cmd = Command::new("u", DeviceLocation { extra: params });
    let v = cmd.to_value();
    let inner = v.get("Command").unwrap().as_dictionary().unwrap();
    assert_eq!(inner.len(), 1);
    assert_eq!(
        inner.get("RequestType"),
        Some(&Value::from("DeviceLocation"))
    );
}

#[test]
fn enums_keep_values_apple_adds_later() {
    let cmd = Command::decode(&xml(
        "EraseDevice",
        "<key>ObliterationBehavior</key><string>SomethingNew</string>",
    ))
    .unwrap();
    let CommandBody::EraseDevice(erase) = &cmd.body else {
        panic!("not EraseDevice");
    };
    assert_eq!(
        erase.obliteration_behavior,
        Some(ObliterationBehavior::Other("SomethingNew".into()))
    );
    assert_eq!(
        ObliterationBehavior::from("Always"),
        ObliterationBehavior::Always
    );
    assert_eq!(InstallAction::from("InstallASAP").as_str(), "InstallASAP");
    assert_eq!(PurchaseMethod::from(1), PurchaseMethod::VolumePurchase);
    assert_eq!(PurchaseMethod::from(9).code(), 9);
}

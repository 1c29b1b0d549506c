//! Python's `plistlib`, an independent reader, reads the commands we write
//! (XML and binary) and sees the same keys, types and values.

use apple_mdm_protocol::command::*;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use pippin_plist::{Dictionary, Value};

/// Reads one base64-encoded plist per line of stdin and prints, for each,
/// every value as `path<TAB>type<TAB>value`, then `---`.
const DESCRIBE: &str = r#"
import base64, plistlib, sys

def walk(v, path, out):
    if isinstance(v, dict):
        out.append(f"{path}\tdict\t{len(v)}")
        for k, child in v.items():
            walk(child, f"{path}.{k}" if path else k, out)
    elif isinstance(v, list):
        out.append(f"{path}\tarray\t{len(v)}")
        for i, child in enumerate(v):
            walk(child, f"{path}[{i}]", out)
    elif isinstance(v, bool):
        out.append(f"{path}\tboolean\t{str(v).lower()}")
    elif isinstance(v, int):
        out.append(f"{path}\tinteger\t{v}")
    elif isinstance(v, float):
        out.append(f"{path}\treal\t{v!r}")
    elif isinstance(v, str):
        out.append(f"{path}\tstring\t{v.encode('unicode_escape').decode('ascii')}")
    elif isinstance(v, bytes):
        out.append(f"{path}\tdata\t{v.hex()}")
    else:
        out.append(f"{path}\t{type(v).__name__}\t?")

for line in sys.stdin:
    line = line.strip()
    if not line:
        continue
    out = []
    walk(plistlib.loads(base64.b64decode(line)), "", out)
    print("\n".join(out))
    print("---")
"#;

/// Our own description of `v`, in the format `DESCRIBE` prints.
fn describe(v: &Value) -> String {
    fn escape(s: &str) -> String {
        // Python's unicode_escape: backslash escapes for control and
        // non-ASCII characters.
        let mut out = String::new();
        for c in s.chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '\t' => out.push_str("\\t"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                c if (c as u32) < 0x20 || (0x7f..0x100).contains(&(c as u32)) => {
                    out.push_str(&format!("\\x{:02x}", c as u32));
                }
                c if (c as u32) < 0x7f => out.push(c),
                c if (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04x}", c as u32)),
                c => out.push_str(&format!("\\U{:08x}", c as u32)),
            }
        }
        out
    }
    fn walk(v: &Value, path: &str, out: &mut Vec<String>) {
        match v {
            Value::Dictionary(d) => {
                out.push(format!("{path}\tdict\t{}", d.len()));
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
                out.push(format!("{path}\tarray\t{}", items.len()));
                for (i, child) in items.iter().enumerate() {
                    walk(child, &format!("{path}[{i}]"), out);
                }
            }
            Value::Boolean(b) => out.push(format!("{path}\tboolean\t{b}")),
            Value::Integer(i) => out.push(format!("{path}\tinteger\t{i}")),
            Value::String(s) => out.push(format!("{path}\tstring\t{}", escape(s))),
            Value::Data(d) => out.push(format!("{path}\tdata\t{}", hex::encode(d))),
            other => out.push(format!("{path}\t{}\t?", other.type_name())),
        }
    }
    let mut out = Vec::new();
    walk(v, "", &mut out);
    out.join("\n")
}

/// One command of each typed kind (and a raw one), with non-ASCII text and
/// integers at the edges of their ranges.
fn commands() -> Vec<Command> {
    let mut extra = Dictionary::new();
    extra.insert("RequestRequiresNetworkTether", true);
    let mut config = Dictionary::new();
    config.insert("Größe", -9_223_372_036_854_775_808i64);
    config.insert("Tags", Value::Array(vec!["a".into(), "b".into()]));
    let mut app = InstallApplication::vpp(u64::MAX);
    app.configuration = Some(config);
    app.management_flags = Some(ManagementFlags(5));
    app.ios_app = Some(false);
    let mut raw = Dictionary::new();
    raw.insert("KeyType", "personal");
    raw.insert("ReplyEncryptionCertificate", Value::Data(vec![0, 1, 2]));

    let bodies: Vec<CommandBody> = vec![
        DeviceInformation::macos().into(),
        SecurityInfo::default().into(),
        InstalledApplicationList {
            identifiers: Some(vec!["com.apple.Pages".into()]),
            managed_apps_only: Some(true),
            items: Some(vec!["Name".into(), "ShortVersion".into()]),
            extra: Dictionary::new(),
        }
        .into(),
        ManagedApplicationList::default().into(),
        ProfileList {
            managed_only: Some(true),
            extra: Dictionary::new(),
        }
        .into(),
        CertificateList {
            managed_only: Some(false),
            extra: Dictionary::new(),
        }
        .into(),
        InstallProfile::new(b"<?xml version=\"1.0\"?><plist/>".to_vec()).into(),
        RemoveProfile::new("com.example.wifi").into(),
        app.into(),
        RemoveApplication::new("com.example.app").into(),
        DeviceLock {
            pin: Some("000000".into()),
            message: Some("Verloren — bitte an die IT zurückgeben 📱".into()),
            phone_number: None,
            extra,
        }
        .into(),
        EraseDevice {
            obliteration_behavior: Some(ObliterationBehavior::ObliterateWithWarning),
            return_to_service: Some(ReturnToService {
                enabled: true,
                wifi_profile_data: Some(vec![0xff; 100]),
                mdm_profile_data: Some(vec![]),
                extra: Dictionary::new(),
            }),
            ..EraseDevice::default()
        }
        .into(),
        ClearPasscode::new(vec![9u8; 40]).into(),
        RestartDevice {
            notify_user: Some(true),
            rebuild_kernel_cache: Some(true),
            kext_paths: Some(vec!["/Library/Extensions/Example.kext".into()]),
            extra: Dictionary::new(),
        }
        .into(),
        ShutDownDevice::default().into(),
        EnableLostMode {
            phone_number: Some("+44 20 7946 0000".into()),
            footnote: Some("Reward <&> offered".into()),
            ..EnableLostMode::new("Lost\niPhone")
        }
        .into(),
        DisableLostMode::default().into(),
        PlayLostModeSound::default().into(),
        DeviceLocation::default().into(),
        AvailableOSUpdates::default().into(),
        ScheduleOSUpdateScan {
            force: Some(true),
            extra: Dictionary::new(),
        }
        .into(),
        ScheduleOSUpdate {
            updates: vec![ScheduleOSUpdateItem::product_version(
                "17.4.1",
                InstallAction::InstallASAP,
            )],
            extra: Dictionary::new(),
        }
        .into(),
        OSUpdateStatus::default().into(),
        DeviceConfigured::default().into(),
        Settings::new([
            Setting::TimeZone(TimeZoneSetting {
                time_zone: "Europe/Zürich".into(),
                extra: Dictionary::new(),
            }),
            Setting::Wallpaper(WallpaperSetting {
                image: vec![0x89, b'P', b'N', b'G'],
                r#where: WallpaperWhere::LockScreen,
                extra: Dictionary::new(),
            }),
        ])
        .into(),
        ActivationLockBypassCode::default().into(),
        ClearRestrictionsPassword::default().into(),
        RawCommand::new("RotateFileVaultKey", raw).into(),
    ];
    bodies
        .into_iter()
        .enumerate()
        .map(|(i, body)| Command::new(format!("00000000-0000-4000-8000-{i:012}"), body))
        .collect()
}

fn check(test: &str, encode: impl Fn(&Command) -> Vec<u8>) {
    if !test_support::require_python(test, &["plistlib", "base64"]) {
        return;
    }
    let cmds = commands();
    let input = cmds
        .iter()
        .map(|c| STANDARD.encode(encode(c)) + "\n")
        .collect::<String>();
    let out = test_support::python_ok(DESCRIBE, input.as_bytes());
    let out = String::from_utf8(out).unwrap();
    let blocks = out
        .split("---\n")
        .filter(|b| !b.is_empty())
        .collect::<Vec<_>>();
    assert_eq!(blocks.len(), cmds.len());
    for (cmd, block) in cmds.iter().zip(blocks) {
        assert_eq!(
            block.trim_end(),
            describe(&cmd.to_value()),
            "{}",
            cmd.request_type()
        );
    }
}

#[test]
fn python_reads_our_xml_commands() {
    check("python_reads_our_xml_commands", Command::to_xml);
}

#[test]
fn python_reads_our_binary_commands() {
    check("python_reads_our_binary_commands", |c| {
        c.to_binary().unwrap()
    });
}

/// And the reverse: what plistlib writes, we read (one per typed command).
#[test]
fn we_read_python_commands() {
    if !test_support::require_python("we_read_python_commands", &["plistlib", "base64"]) {
        return;
    }
    // Python writes each of our commands back, from its own parse, in both
    // formats; decoding gives the same command.
    let rewrite = r#"
import base64, plistlib, sys
for line in sys.stdin:
    line = line.strip()
    if not line:
        continue
    v = plistlib.loads(base64.b64decode(line))
    for fmt in (plistlib.FMT_XML, plistlib.FMT_BINARY):
        print(base64.b64encode(plistlib.dumps(v, fmt=fmt, sort_keys=True)).decode())
"#;
    let cmds = commands();
    let input = cmds
        .iter()
        .map(|c| STANDARD.encode(c.to_xml()) + "\n")
        .collect::<String>();
    let out = String::from_utf8(test_support::python_ok(rewrite, input.as_bytes())).unwrap();
    let lines = out.lines().collect::<Vec<_>>();
    assert_eq!(lines.len(), cmds.len() * 2);
    for (i, cmd) in cmds.iter().enumerate() {
        for line in &lines[i * 2..i * 2 + 2] {
            let bytes = STANDARD.decode(line).unwrap();
            let back = Command::decode(&bytes).unwrap();
            // plistlib sorted the keys; compare independent of order.
            assert_eq!(sorted(back.to_value()), sorted(cmd.to_value()));
        }
    }
}

fn sorted(v: Value) -> Value {
    match v {
        Value::Dictionary(d) => {
            let mut d: Dictionary = d.into_iter().map(|(k, v)| (k, sorted(v))).collect();
            d.sort_keys();
            Value::Dictionary(d)
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sorted).collect()),
        other => other,
    }
}

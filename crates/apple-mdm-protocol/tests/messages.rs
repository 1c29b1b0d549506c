//! Check-ins and command reports: decoding the project's fixtures (made with
//! Python's plistlib, see fixtures/make-message-fixtures.py), round trips,
//! and the real messages under ../shared/fixtures/mdm when that folder exists.

use apple_mdm_protocol::checkin::{CheckInMessage, UserAuthenticatePhase};
use apple_mdm_protocol::{
    Channel, CheckIn, CommandReport, Error, Message, MessageKind, Status, classify, decode_message,
};
use pippin_plist::Value;

macro_rules! fixture {
    ($name:literal) => {
        include_bytes!(concat!("fixtures/", $name)).as_slice()
    };
}

fn checkin(bytes: &[u8]) -> CheckIn {
    match decode_message(bytes).unwrap() {
        Message::CheckIn(c) => c,
        Message::Report(r) => panic!("expected a check-in, got report {r:?}"),
    }
}

fn report(bytes: &[u8]) -> CommandReport {
    match decode_message(bytes).unwrap() {
        Message::Report(r) => r,
        Message::CheckIn(c) => panic!("expected a report, got check-in {c:?}"),
    }
}

const TOPIC: &str = "com.apple.mgmt.External.00000000-1111-2222-3333-444444444444";

#[test]
fn authenticate_macos_and_ios() {
    let c = checkin(fixture!("checkin-authenticate-macos.xml"));
    assert_eq!(c.topic.as_deref(), Some(TOPIC));
    assert_eq!(c.identity.channel(), Channel::Device);
    assert_eq!(
        c.identity.udid.as_deref(),
        Some("564D0000-1111-2222-3333-444455556666")
    );
    let CheckInMessage::Authenticate(a) = &c.message else {
        panic!("{c:?}")
    };
    assert_eq!(a.serial_number.as_deref(), Some("C02XXXXXXXXX"));
    assert_eq!(a.os_version.as_deref(), Some("14.5"));
    assert_eq!(a.model_name.as_deref(), Some("MacBook Pro"));
    assert_eq!(a.imei, None);
    assert!(c.extra.is_empty());

    for bytes in [
        fixture!("checkin-authenticate-ios.xml"),
        fixture!("checkin-authenticate-ios.binary.plist"),
    ] {
        let c = checkin(bytes);
        let CheckInMessage::Authenticate(a) = &c.message else {
            panic!("{c:?}")
        };
        assert_eq!(a.imei.as_deref(), Some("35 000000 000000 0"));
        assert_eq!(a.product_name.as_deref(), Some("iPhone15,2"));
        // Unknown keys are kept, not rejected.
        assert_eq!(
            c.extra.get("FutureKeyNotInSchema").and_then(Value::as_str),
            Some("kept")
        );
    }
}

#[test]
fn token_update_channels() {
    for bytes in [
        fixture!("checkin-tokenupdate-device.xml"),
        fixture!("checkin-tokenupdate-device.binary.plist"),
    ] {
        let c = checkin(bytes);
        let CheckInMessage::TokenUpdate(t) = &c.message else {
            panic!("{c:?}")
        };
        assert_eq!(t.token.len(), 32);
        assert_eq!(t.token_hex().len(), 64);
        assert_eq!(t.push_magic, "9D2B1F6C-0E49-4A5B-8C1D-2E3F4A5B6C7D");
        assert_eq!(t.unlock_token.as_ref().map(Vec::len), Some(1536));
        assert_eq!(t.awaiting_configuration, Some(false));
        assert_eq!(
            c.identity.enrollment_id().unwrap().to_string(),
            "00008030-000A1B2C3D4E5F60"
        );
    }

    let c = checkin(fixture!("checkin-tokenupdate-user.xml"));
    assert_eq!(c.identity.channel(), Channel::User);
    assert_eq!(c.identity.user_short_name.as_deref(), Some("jdoe"));
    assert_eq!(c.identity.user_long_name.as_deref(), Some("Jane Doe"));
    assert_eq!(
        c.identity.enrollment_id().unwrap().to_string(),
        "564D0000-1111-2222-3333-444455556666:A1B2C3D4-0000-1111-2222-333344445555"
    );
    let CheckInMessage::TokenUpdate(t) = &c.message else {
        panic!()
    };
    assert_eq!(t.not_on_console, Some(false));
    assert_eq!(t.unlock_token, None);

    let c = checkin(fixture!("checkin-tokenupdate-user-enrollment.xml"));
    assert_eq!(c.identity.udid, None);
    assert_eq!(c.identity.channel(), Channel::User);
    assert_eq!(
        c.identity.enrollment_id().unwrap().to_string(),
        "B5A1C9E2-7F30-4D6A-9E8B-123456789ABC:C6B2DAF3-8041-5E7B-AF9C-23456789ABCD"
    );
}

#[test]
fn the_other_checkins() {
    let c = checkin(fixture!("checkin-checkout.xml"));
    assert_eq!(c.message, CheckInMessage::CheckOut);

    let c = checkin(fixture!("checkin-userauthenticate-initial.xml"));
    let CheckInMessage::UserAuthenticate(u) = &c.message else {
        panic!()
    };
    assert_eq!(u.phase(), UserAuthenticatePhase::Initial);
    let c = checkin(fixture!("checkin-userauthenticate-response.xml"));
    let CheckInMessage::UserAuthenticate(u) = &c.message else {
        panic!()
    };
    assert_eq!(u.phase(), UserAuthenticatePhase::Response);
    assert!(
        u.digest_response
            .as_deref()
            .unwrap()
            .starts_with("Digest username=\"jdoe\"")
    );

    let c = checkin(fixture!("checkin-setbootstraptoken.xml"));
    let CheckInMessage::SetBootstrapToken(b) = &c.message else {
        panic!()
    };
    assert_eq!(b.bootstrap_token.as_ref().map(Vec::len), Some(48));
    assert_eq!(b.awaiting_configuration, Some(true));

    let c = checkin(fixture!("checkin-getbootstraptoken.xml"));
    assert!(
        matches!(c.message, CheckInMessage::GetBootstrapToken(ref b) if b.bootstrap_token.is_none())
    );

    let c = checkin(fixture!("checkin-declarativemanagement.xml"));
    let CheckInMessage::DeclarativeManagement(d) = &c.message else {
        panic!()
    };
    assert_eq!(d.endpoint, "status");
    assert!(d.data.as_ref().unwrap().starts_with(b"{\"StatusItems\""));

    let c = checkin(fixture!("checkin-gettoken.xml"));
    let CheckInMessage::GetToken(g) = &c.message else {
        panic!()
    };
    assert_eq!(g.token_service_type, "com.apple.watch.pairing");
    assert_eq!(
        g.token_parameters
            .as_ref()
            .unwrap()
            .get("WatchUDID")
            .and_then(Value::as_str),
        Some("00008006-0000000000000001")
    );
}

#[test]
fn reports() {
    let r = report(fixture!("report-idle.xml"));
    assert_eq!(r.status, Status::Idle);
    assert_eq!(r.command_uuid, None);
    assert!(r.payload.is_empty());

    let r = report(fixture!("report-idle-user.xml"));
    assert_eq!(r.identity.channel(), Channel::User);

    let r = report(fixture!("report-notnow.xml"));
    assert_eq!(r.status, Status::NotNow);
    assert!(!r.status.is_final());
    assert_eq!(
        r.command_uuid.as_deref(),
        Some("0C9A4E2B-1111-4222-8333-444455556666")
    );

    for bytes in [
        fixture!("report-error-chain.xml"),
        fixture!("report-error-chain.binary.plist"),
    ] {
        let r = report(bytes);
        assert_eq!(r.status, Status::Error);
        assert_eq!(r.error_chain.len(), 2);
        assert_eq!(r.error_chain[0].error_code, Some(89));
        assert_eq!(
            r.error_chain[0].error_domain.as_deref(),
            Some("MCProfileErrorDomain")
        );
        assert_eq!(
            r.error_chain[1].us_english_description.as_deref(),
            Some("The profile could not be found.")
        );
        assert_eq!(
            r.error_summary().unwrap(),
            "MCProfileErrorDomain 89: The profile “Wi-Fi” could not be found.; MDMErrorDomain 1001: The profile could not be found."
        );
    }

    let r = report(fixture!("report-commandformaterror.xml"));
    assert_eq!(r.status, Status::CommandFormatError);
    assert!(r.status.is_final());

    for bytes in [
        fixture!("report-acknowledged-deviceinformation.xml"),
        fixture!("report-acknowledged-deviceinformation.binary.plist"),
    ] {
        let r = report(bytes);
        assert_eq!(r.status, Status::Acknowledged);
        let qr = r.payload.get("QueryResponses").unwrap();
        assert_eq!(
            qr.get("SerialNumber").and_then(Value::as_str),
            Some("C02XXXXXXXXX")
        );
    }
}

#[test]
fn roundtrip_every_fixture() {
    let all: &[&[u8]] = &[
        fixture!("checkin-authenticate-macos.xml"),
        fixture!("checkin-authenticate-ios.xml"),
        fixture!("checkin-tokenupdate-device.xml"),
        fixture!("checkin-tokenupdate-user.xml"),
        fixture!("checkin-tokenupdate-user-enrollment.xml"),
        fixture!("checkin-checkout.xml"),
        fixture!("checkin-userauthenticate-initial.xml"),
        fixture!("checkin-userauthenticate-response.xml"),
        fixture!("checkin-setbootstraptoken.xml"),
        fixture!("checkin-getbootstraptoken.xml"),
        fixture!("checkin-declarativemanagement.xml"),
        fixture!("checkin-gettoken.xml"),
        fixture!("report-idle.xml"),
        fixture!("report-notnow.xml"),
        fixture!("report-error-chain.xml"),
        fixture!("report-commandformaterror.xml"),
        fixture!("report-acknowledged-deviceinformation.xml"),
        fixture!("report-deviceinformation-large.xml"),
    ];
    for bytes in all {
        let m = decode_message(bytes).unwrap();
        let original = pippin_plist::from_bytes(bytes).unwrap();
        let re = match &m {
            Message::CheckIn(c) => c.to_xml(),
            Message::Report(r) => r.to_xml(),
        };
        // Nothing is lost: the re-encoded dictionary has the same entries.
        let again = pippin_plist::from_bytes(&re).unwrap();
        let mut a = original.into_dictionary().unwrap();
        let mut b = again.into_dictionary().unwrap();
        a.sort_keys();
        b.sort_keys();
        assert_eq!(a, b);
        assert_eq!(decode_message(&re).unwrap(), m);
    }
}

#[test]
fn classification() {
    let mut d = pippin_plist::Dictionary::new();
    assert_eq!(classify(&d), None);
    d.insert("Status", "Idle");
    assert_eq!(classify(&d), Some(MessageKind::Report));
    d.insert("MessageType", "Authenticate");
    assert_eq!(classify(&d), Some(MessageKind::CheckIn));
}

fn plist(body: &str) -> Vec<u8> {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd"><plist version="1.0">{body}</plist>"#
    )
    .into_bytes()
}

#[test]
fn bad_messages_are_errors() {
    type Check = fn(&Error) -> bool;
    let cases: &[(&str, Check)] = &[
        ("<array/>", |e| {
            matches!(e, Error::NotADictionary { found: "array" })
        }),
        ("<dict><key>UDID</key><string>x</string></dict>", |e| {
            matches!(e, Error::UnknownMessage)
        }),
        (
            "<dict><key>MessageType</key><string>Nope</string></dict>",
            |e| matches!(e, Error::UnknownMessageType(t) if t == "Nope"),
        ),
        (
            "<dict><key>MessageType</key><integer>1</integer></dict>",
            |e| matches!(e, Error::WrongType { key, expected: "string", found: "integer" } if key == "MessageType"),
        ),
        (
            "<dict><key>Status</key><string>Maybe</string></dict>",
            |e| matches!(e, Error::UnknownStatus(s) if s == "Maybe"),
        ),
        (
            "<dict><key>Status</key><string>Acknowledged</string><key>UDID</key><string>x</string></dict>",
            |e| matches!(e, Error::MissingKey { key } if key == "CommandUUID"),
        ),
        (
            "<dict><key>MessageType</key><string>TokenUpdate</string><key>UDID</key><string>x</string><key>PushMagic</key><string>m</string></dict>",
            |e| matches!(e, Error::MissingKey { key } if key == "Token"),
        ),
        (
            "<dict><key>MessageType</key><string>TokenUpdate</string><key>UDID</key><string>x</string><key>Token</key><string>abc</string><key>PushMagic</key><string>m</string></dict>",
            |e| matches!(e, Error::WrongType { key, expected: "data", .. } if key == "Token"),
        ),
        (
            "<dict><key>MessageType</key><string>TokenUpdate</string><key>UDID</key><string>x</string><key>Token</key><data></data><key>PushMagic</key><string>m</string></dict>",
            |e| matches!(e, Error::InvalidValue { key, .. } if key == "Token"),
        ),
        (
            "<dict><key>Status</key><string>Error</string><key>CommandUUID</key><string>c</string><key>ErrorChain</key><array><string>x</string></array></dict>",
            |e| matches!(e, Error::WrongType { key, expected: "dict", .. } if key == "ErrorChain[]"),
        ),
    ];
    for (body, check) in cases {
        let err = decode_message(&plist(body)).unwrap_err();
        assert!(check(&err), "{body}: unexpected error {err:?}");
    }
    for garbage in [
        &b""[..],
        b"<",
        b"bplist00",
        b"\xff\xfe",
        b"{\"Status\":\"Idle\"}",
    ] {
        assert!(
            matches!(decode_message(garbage), Err(Error::Plist(_))),
            "{garbage:?}"
        );
    }
}

#[test]
fn truncated_messages_never_panic() {
    for bytes in [
        fixture!("checkin-tokenupdate-device.xml"),
        fixture!("checkin-tokenupdate-device.binary.plist"),
        fixture!("report-error-chain.binary.plist"),
    ] {
        for cut in 0..bytes.len() {
            let _ = decode_message(&bytes[..cut]);
        }
    }
}

/// The real messages collected from public MDM projects. The folder sits
/// beside the checkout in development and CI; the test is quiet without it.
#[test]
fn shared_real_world_fixtures() {
    let root =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/mdm");
    if !root.is_dir() {
        eprintln!(
            "shared fixtures not present at {}; nothing to check",
            root.display()
        );
        return;
    }
    let mut files = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if matches!(
                p.extension().and_then(|x| x.to_str()),
                Some("xml" | "plist")
            ) {
                files.push(p);
            }
        }
    }
    files.sort();
    assert!(files.len() >= 20, "found only {} files", files.len());
    // Two commandment files hold the placeholder `<data>Base64=</data>`,
    // which is not base64: refusing them with a plist error is right.
    let placeholder = [
        "TokenUpdate/iOS-11.3.1.xml",
        "CertificateList/iOS-11.3.1.xml",
    ];
    let mut decoded = 0;
    for p in &files {
        let bytes = std::fs::read(p).unwrap();
        let rel = p
            .strip_prefix(&root)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        if rel.starts_with("commandment/dep/") {
            // DEP MachineInfo, not a check-in: a plain plist.
            pippin_plist::from_bytes(&bytes).unwrap();
            continue;
        }
        let r = decode_message(&bytes);
        if placeholder.iter().any(|s| rel.ends_with(s)) {
            assert!(matches!(r, Err(Error::Plist(_))), "{rel}: {r:?}");
            continue;
        }
        let m = r.unwrap_or_else(|e| panic!("{rel}: {e}"));
        let _ = m
            .identity()
            .enrollment_id()
            .unwrap_or_else(|e| panic!("{rel}: {e}"));
        decoded += 1;
    }
    assert!(decoded >= 20, "decoded {decoded}");
}

//! Property tests: every check-in and report value survives encode → decode,
//! in XML and in binary.

use apple_mdm_protocol::checkin::{
    Authenticate, BootstrapTokenMessage, CheckInMessage, DeclarativeManagement, GetToken,
    TokenUpdate, UserAuthenticate,
};
use apple_mdm_protocol::report::ErrorChainItem;
use apple_mdm_protocol::{CheckIn, CommandReport, Identity, Message, Status, decode_message};
use pippin_plist::{Dictionary, Value};
use proptest::prelude::*;

fn s() -> impl Strategy<Value = String> {
    "[ -~]{0,24}|[\\u{80}-\\u{2FFF}]{1,6}"
}

fn os() -> impl Strategy<Value = Option<String>> {
    proptest::option::of(s())
}

fn data() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 1..64)
}

fn identity() -> impl Strategy<Value = Identity> {
    (os(), os(), os(), os(), os(), os()).prop_map(|(a, b, c, d, e, f)| Identity {
        udid: a,
        enrollment_id: b,
        user_id: c,
        enrollment_user_id: d,
        user_short_name: e,
        user_long_name: f,
    })
}

/// Extra keys that the decoder does not know (prefixed so they never collide).
fn extra() -> impl Strategy<Value = Dictionary> {
    proptest::collection::vec(("[A-Z][a-z]{1,8}", s()), 0..3).prop_map(|kv| {
        kv.into_iter()
            .map(|(k, v)| (format!("X{k}"), Value::String(v)))
            .collect()
    })
}

fn message() -> impl Strategy<Value = CheckInMessage> {
    prop_oneof![
        (os(), os(), os(), os(), os(), os(), os(), os(), os()).prop_map(
            |(a, b, c, d, e, f, g, h, i)| CheckInMessage::Authenticate(Authenticate {
                device_name: a,
                model: b,
                model_name: c,
                os_version: d,
                build_version: e,
                product_name: f,
                serial_number: g,
                imei: h,
                meid: i,
            })
        ),
        (
            data(),
            s(),
            proptest::option::of(data()),
            any::<Option<bool>>(),
            any::<Option<bool>>()
        )
            .prop_map(|(t, m, u, a, n)| CheckInMessage::TokenUpdate(TokenUpdate {
                token: t,
                push_magic: m,
                unlock_token: u,
                awaiting_configuration: a,
                not_on_console: n,
            })),
        Just(CheckInMessage::CheckOut),
        os().prop_map(|d| CheckInMessage::UserAuthenticate(UserAuthenticate {
            digest_response: d
        })),
        (proptest::option::of(data()), any::<Option<bool>>()).prop_map(|(t, a)| {
            CheckInMessage::SetBootstrapToken(BootstrapTokenMessage {
                bootstrap_token: t,
                awaiting_configuration: a,
            })
        }),
        any::<Option<bool>>().prop_map(|a| CheckInMessage::GetBootstrapToken(
            BootstrapTokenMessage {
                bootstrap_token: None,
                awaiting_configuration: a,
            }
        )),
        (s(), proptest::option::of(data())).prop_map(|(e, d)| {
            CheckInMessage::DeclarativeManagement(DeclarativeManagement {
                endpoint: e,
                data: d,
            })
        }),
        (s(), proptest::option::of(extra())).prop_map(|(t, p)| CheckInMessage::GetToken(
            GetToken {
                token_service_type: t,
                token_parameters: p,
            }
        )),
    ]
}

fn checkin() -> impl Strategy<Value = CheckIn> {
    (identity(), os(), message(), extra()).prop_map(|(identity, topic, message, extra)| CheckIn {
        identity,
        topic,
        message,
        extra,
    })
}

fn status() -> impl Strategy<Value = Status> {
    prop_oneof![
        Just(Status::Idle),
        Just(Status::Acknowledged),
        Just(Status::Error),
        Just(Status::CommandFormatError),
        Just(Status::NotNow),
    ]
}

fn report() -> impl Strategy<Value = CommandReport> {
    (
        identity(),
        status(),
        s(),
        proptest::collection::vec(
            (any::<Option<i64>>(), os(), os(), os(), extra()).prop_map(|(c, d, l, u, x)| {
                ErrorChainItem {
                    error_code: c,
                    error_domain: d,
                    localized_description: l,
                    us_english_description: u,
                    extra: x,
                }
            }),
            0..3,
        ),
        os(),
        extra(),
    )
        .prop_map(
            |(identity, status, uuid, error_chain, request_type, payload)| CommandReport {
                identity,
                status,
                command_uuid: (status != Status::Idle).then_some(uuid),
                error_chain,
                request_type,
                payload,
            },
        )
}

proptest! {
    #[test]
    fn checkin_roundtrip(c in checkin()) {
        let v = Value::Dictionary(c.to_dictionary());
        for bytes in [pippin_plist::to_xml_vec(&v), pippin_plist::to_binary_vec(&v).unwrap()] {
            match decode_message(&bytes).unwrap() {
                Message::CheckIn(d) => prop_assert_eq!(&d, &c),
                Message::Report(_) => prop_assert!(false, "came back as a report"),
            }
        }
    }

    #[test]
    fn report_roundtrip(r in report()) {
        let v = Value::Dictionary(r.to_dictionary());
        for bytes in [pippin_plist::to_xml_vec(&v), pippin_plist::to_binary_vec(&v).unwrap()] {
            match decode_message(&bytes).unwrap() {
                Message::Report(d) => prop_assert_eq!(&d, &r),
                Message::CheckIn(_) => prop_assert!(false, "came back as a check-in"),
            }
        }
    }
}

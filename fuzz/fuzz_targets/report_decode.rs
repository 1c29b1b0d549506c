//! Command-report decoding, including the typed results of the report's
//! payload for every request type that has one.
#![no_main]

use apple_mdm_protocol::{Message, decode_message_with, results};
use libfuzzer_sys::fuzz_target;
use pippin_plist::Limits;

const TYPES: &[&str] = &[
    "DeviceInformation",
    "SecurityInfo",
    "InstalledApplicationList",
    "ManagedApplicationList",
    "ProfileList",
    "CertificateList",
    "AvailableOSUpdates",
    "OSUpdateStatus",
    "DeviceLocation",
];

fuzz_target!(|data: &[u8]| {
    let mut limits = Limits::default();
    limits.max_depth = 32;
    limits.max_values = 10_000;
    if let Ok(Message::Report(r)) = decode_message_with(data, &limits) {
        for t in TYPES {
            let _ = results::decode_result(t, r.payload.clone());
        }
        let again = apple_mdm_protocol::decode_message(&r.to_xml())
            .expect("a decoded report re-encodes to a decodable one");
        match again {
            Message::Report(r2) => {
                assert_eq!(r.status, r2.status);
                assert_eq!(r.command_uuid, r2.command_uuid);
            }
            Message::CheckIn(_) => panic!("a report came back as a check-in"),
        }
    }
});

//! Check-in decoding: any bytes a device could send to the check-in URL.
//! Whatever decodes as a check-in must re-encode and decode to the same value.
#![no_main]

use apple_mdm_protocol::{Message, decode_message_with};
use libfuzzer_sys::fuzz_target;
use pippin_plist::Limits;

fuzz_target!(|data: &[u8]| {
    let mut limits = Limits::default();
    limits.max_depth = 32;
    limits.max_values = 10_000;
    if let Ok(Message::CheckIn(c)) = decode_message_with(data, &limits) {
        let again = apple_mdm_protocol::decode_message(&c.to_xml())
            .expect("a decoded check-in re-encodes to a decodable one");
        match again {
            Message::CheckIn(c2) => assert_eq!(c.message, c2.message),
            Message::Report(_) => panic!("a check-in came back as a report"),
        }
    }
});

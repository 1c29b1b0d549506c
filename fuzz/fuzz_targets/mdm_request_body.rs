//! The MDM service's request-body handling: any bytes a device (or anyone
//! holding a device certificate) can PUT to the check-in or server URL go
//! through `decode_request` with the service's limits before anything else.
#![no_main]

use apple_mdm_protocol::{Message, decode_request};
use libfuzzer_sys::fuzz_target;
use pippin_plist::Limits;

fuzz_target!(|data: &[u8]| {
    let mut limits = Limits::default();
    limits.max_input_len(1 << 20);
    if let Ok((message, id)) = decode_request(data, &limits) {
        // The enrollment named is the one the message's identity gives.
        assert_eq!(message.identity().enrollment_id().ok(), Some(id));
        match message {
            Message::CheckIn(c) => {
                let _ = c.to_xml();
            }
            Message::Report(r) => {
                let _ = r.to_xml();
            }
        }
    }
});

//! Command decoding, as a device (or the simulated device in `examples/`)
//! reads what a server sends: any bytes, XML or binary.
//!
//! Whatever decodes must encode again, and the binary encoding must be a fixed
//! point (decoding it and encoding again gives the same bytes; binary rather
//! than XML because it keeps every value exactly, NaN and fractional dates
//! included). The `Command` dictionary is also run through every typed
//! decoder, whatever its `RequestType`. The seed corpus in
//! `fuzz/corpus/command_decode/` holds the command fixtures of
//! `crates/apple-mdm-protocol/tests/fixtures/` plus a raw command and a data key
//! given as base64 text.
#![no_main]

use apple_mdm_protocol::command::{Command, CommandBody};
use libfuzzer_sys::fuzz_target;
use pippin_plist::Limits;

fuzz_target!(|data: &[u8]| {
    let mut limits = Limits::default();
    limits.max_depth = 32;
    limits.max_values = 10_000;
    let Ok(cmd) = Command::decode_with(data, &limits) else {
        return;
    };

    let binary = cmd.to_binary().expect("every command encodes as binary");
    let again = Command::decode(&binary).expect("our binary encoding decodes");
    assert_eq!(again.request_type(), cmd.request_type());
    assert_eq!(again.command_uuid, cmd.command_uuid);
    assert_eq!(
        again.to_binary().expect("every command encodes as binary"),
        binary,
        "binary encoding is not a fixed point"
    );
    let _ = Command::decode(&cmd.to_xml());

    let params = cmd.body.to_params();
    for request_type in CommandBody::KNOWN_REQUEST_TYPES {
        if let Ok(body) = CommandBody::from_params(request_type, params.clone()) {
            let round = CommandBody::from_params(request_type, body.to_params())
                .expect("a typed command's own parameters decode");
            assert_eq!(round.request_type(), *request_type);
        }
    }
});

//! Configuration-profile decoding: plain plists and CMS-signed profiles.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = apple_mdm_protocol::profile::decode_profile(data);
});

//! Apps and Books content token files (`.vpptoken`): base64 of a JSON
//! object. Whatever the bytes, parsing ends in a token or an error.
#![no_main]

use std::time::UNIX_EPOCH;

use libfuzzer_sys::fuzz_target;
use vpp_client::ContentToken;

fuzz_target!(|data: &[u8]| {
    if let Ok(t) = ContentToken::parse(data) {
        // The credential is a valid header value.
        assert!(
            t.bearer()
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b))
        );
        let _ = (t.check_expiry(UNIX_EPOCH), t.days_left(UNIX_EPOCH));
    }
});

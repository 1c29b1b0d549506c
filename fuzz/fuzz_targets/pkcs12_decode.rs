//! PKCS #12 decoding (`apns::pkcs12`): the PFX, MAC check, decryption (PBES2
//! and the legacy PKCS #12 schemes), SafeBags and their attributes, then
//! picking the push certificate that matches the key. Never panics.
//!
//! The seed corpus in `fuzz/corpus/pkcs12_decode/` holds small files that
//! `openssl pkcs12 -export` wrote for a throwaway RSA-1024 key and a
//! self-signed `com.apple.mgmt.` certificate, with the password
//! `pippin-fuzz` (the `empty-password` one with an empty password). Files
//! without a MAC let mutations reach the decryption and bag parsing.
#![no_main]

use apns::pkcs12::{Limits, Pkcs12};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Small iteration bounds keep each run fast; the seeds use 2048.
    let mut limits = Limits::default();
    limits.max_iterations(4096).max_total_iterations(32_768);
    for password in ["pippin-fuzz", ""] {
        if let Ok(p12) = Pkcs12::decode_with(data, password, &limits) {
            let _ = apns::PushCertificate::from_pkcs12_contents(&p12);
            for key in p12.keys() {
                let _ = (key.friendly_name(), key.local_key_id());
            }
        }
    }
});

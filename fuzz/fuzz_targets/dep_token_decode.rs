//! DEP server-token files: the outer layers (S/MIME headers, base64, PEM,
//! BER → DER, the CMS `EnvelopedData` and its recipients) and the decrypted
//! message (MIME part, `-----BEGIN MESSAGE-----` markers, wrapped lines,
//! the token JSON and its expiry). Neither may panic.
//!
//! The seed corpus in `fuzz/corpus/dep_token_decode/` holds token files made
//! by `openssl smime -encrypt` and `openssl cms -encrypt` (S/MIME, PEM, DER,
//! streamed BER) and decrypted messages in their several forms.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(file) = dep_client::TokenFile::parse(data) {
        let _ = file.content_encryption();
    }
    if let Ok(token) = dep_client::ServerToken::from_message(data) {
        // A token that parsed has its four credentials and a valid expiry.
        assert!(!token.credentials.consumer_key.is_empty());
        if token.access_token_expiry.is_some() {
            assert!(token.expiry().is_some());
        }
    }
});

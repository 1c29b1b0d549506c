//! CMS signature verification: `Mdm-Signature` headers (detached) and signed
//! profiles (attached), including the BER → DER normaliser they go through.
//!
//! Input format: a 4-byte big-endian length `n`, then `n` bytes of HTTP body,
//! then the CMS (DER or BER). Input too short for that is all CMS, with an
//! empty body. The seed corpus in `fuzz/corpus/mdm_signature_verify/` is
//! written by `crates/apple-mdm-protocol/tests/fixtures/make-sig-fixtures.sh`.
#![no_main]

use std::borrow::Cow;

use apple_mdm_protocol::signature::{verify_attached, verify_detached, verify_mdm_signature};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (body, cms) = split(data);

    let detached = verify_detached(cms, body);
    let attached = verify_attached(cms);
    // A signature is either detached or attached, never both.
    assert!(detached.is_err() || attached.is_err());
    if let Ok((content, signer)) = &attached {
        // An attached signature is refused as a detached one, whatever the
        // content offered.
        assert!(verify_detached(cms, content).is_err());
        assert!(!signer.certificate_der().is_empty());
    }

    // The normaliser's output is DER: normalising again changes nothing, and
    // verification gives the same answer on it.
    if let Ok(der) = pippin_ber::to_der(cms) {
        assert!(matches!(pippin_ber::to_der(&der), Ok(Cow::Borrowed(_))));
        assert_eq!(verify_detached(&der, body).is_ok(), detached.is_ok());
    }

    // The header path: the same bytes read as a header value (mostly not
    // base64, which must fail cleanly).
    if let Ok(header) = std::str::from_utf8(cms) {
        let _ = verify_mdm_signature(header, body);
    }
});

fn split(data: &[u8]) -> (&[u8], &[u8]) {
    let Some((len, rest)) = data.split_first_chunk::<4>() else {
        return (&[], data);
    };
    let len = u32::from_be_bytes(*len) as usize;
    if len > rest.len() {
        return (&[], data);
    }
    rest.split_at(len)
}

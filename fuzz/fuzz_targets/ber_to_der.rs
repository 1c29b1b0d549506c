//! BER → DER normalisation (`pippin-ber`): never panics, and what comes out
//! is DER in its sense — normalising it again returns it borrowed — that the
//! DER reader walks to the end without an error.
//!
//! The first input byte picks the limits (odd: tight ones made from it;
//! even: the defaults); the rest is the document. The seed corpus in
//! `fuzz/corpus/ber_to_der/` holds small BER and DER documents, each after a
//! `00` byte: indefinite lengths, chunked OCTET, BIT and character strings,
//! padded lengths, a certificate and a PKCS #12 file.
#![no_main]

use std::borrow::Cow;

use libfuzzer_sys::fuzz_target;
use pippin_ber::{Limits, Reader};

/// Reads every element of `doc`, descending into constructed ones.
fn walk(doc: &[u8]) {
    fn elements(r: &mut Reader<'_>, depth: usize) {
        while !r.is_empty() {
            let t = r.read().expect("normalised output reads as DER");
            if t.tag & 0x20 != 0 {
                assert!(depth < 200, "deeper than the normaliser allows");
                elements(&mut r.enter(&t), depth + 1);
            }
        }
    }
    elements(&mut Reader::new(doc), 0);
}

fuzz_target!(|data: &[u8]| {
    // The first byte picks tight or default limits, so that both the bound
    // checks and deep documents are reached.
    let Some((&pick, input)) = data.split_first() else {
        return;
    };
    let mut limits = Limits::default();
    if pick & 1 == 1 {
        limits
            .max_depth(usize::from(pick >> 4))
            .max_elements(usize::from(pick) * 4);
    }
    if let Ok(der) = pippin_ber::to_der_with(input, &limits) {
        assert!(matches!(pippin_ber::to_der(&der), Ok(Cow::Borrowed(_))));
        walk(&der);
    }
});

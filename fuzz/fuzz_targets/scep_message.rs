//! SCEP `pkiMessage` handling: the parse-and-verify step (BER → DER
//! rewriting, CMS `SignedData`, signer lookup, digest and signature checks,
//! SCEP attributes), the inner parsers (certification request, degenerate
//! PKCS #7, attribute set), and the whole `PKIOperation` path through
//! `ScepServer::handle` with a fixed test CA and a deterministic RNG.
//!
//! The seed corpus in `fuzz/corpus/scep_message/` holds real messages,
//! written by `cargo test -p scep --test enroll -- --ignored write_fuzz_seeds`.
#![no_main]

use std::borrow::Cow;
use std::convert::Infallible;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use libfuzzer_sys::fuzz_target;
use scep::rand_core::{TryCryptoRng, TryRng};
use scep::{Decode, PkiMessage, ScepConfig, ScepServer, StaticChallenge};

/// SplitMix64: deterministic, so every run of an input does the same thing.
/// Fine for fuzzing, never for keys.
struct FuzzRng(u64);

impl TryRng for FuzzRng {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        Ok(self.try_next_u64()? as u32)
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        Ok(z ^ (z >> 31))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        for chunk in dst.chunks_mut(8) {
            let v = self.try_next_u64()?.to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
        Ok(())
    }
}

impl TryCryptoRng for FuzzRng {}

fn server() -> &'static ScepServer {
    static SERVER: OnceLock<ScepServer> = OnceLock::new();
    SERVER.get_or_init(|| {
        let ca = scep::CertificateAuthority::from_pem(
            include_bytes!("../../crates/scep/tests/fixtures/test-ca.pem"),
            include_bytes!("../../crates/scep/tests/fixtures/test-ca.key"),
        )
        .expect("test CA");
        let config = ScepConfig::new(ca, Arc::new(StaticChallenge::new("pippin-challenge")));
        ScepServer::new(Arc::new(config))
    })
}

fuzz_target!(|data: &[u8]| {
    // The rewriter's output is DER: rewriting it again changes nothing.
    if let Ok(der) = pippin_ber::to_der(data) {
        assert!(matches!(pippin_ber::to_der(&der), Ok(Cow::Borrowed(_))));
    }

    // Parse and verify. A verified message keeps its attributes.
    if let Ok(msg) = PkiMessage::parse(data) {
        assert!(!msg.signer_certificate().is_empty());
        assert!(msg.certificates().len() <= scep::MAX_CERTIFICATES);
        let _ = msg.attributes().transaction_id.as_str();
    }

    // Inner parsers on the same bytes.
    let _ = scep::CertificationRequest::decode(data);
    let _ = scep::ScepAttributes::decode(data);
    let _ = scep::IssuerAndSubject::decode(data);
    let _ = scep::certificates_from_degenerate(data);

    // The whole operation, as the HTTP layer calls it (binary and base64).
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600);
    let mut rng = FuzzRng(0x5ce9);
    let _ = server().handle("PKIOperation", Some(data), now, &mut rng);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = server().handle(text, None, now, &mut rng);
    }
});

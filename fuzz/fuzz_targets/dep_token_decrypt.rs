//! DEP server-token decryption with a fixed test key: the RSA key
//! transport (PKCS #1 v1.5 with implicit rejection, OAEP), the content
//! decryption and its CBC unpadding (AES, Triple-DES), and the decrypted
//! message's parsing (MIME part, `-----BEGIN MESSAGE-----` markers, token
//! JSON). None may panic, and a token that comes out has its credentials.
//!
//! The key is `fuzz/fixtures/dep-test-key.pem`, a test key published on
//! purpose. The seed corpus in `fuzz/corpus/dep_token_decrypt/` holds token
//! files `openssl smime -encrypt` and `openssl cms -encrypt` made for its
//! certificate (S/MIME, PEM, DER, streamed BER, OAEP, subject key
//! identifier), so the mutations start from files that decrypt. CBC lets
//! a mutated ciphertext block garble its own plaintext block and flip
//! chosen bits of the next one, so the message parser sees mutated
//! plaintexts behind a valid padding.
//!
//! The first byte picks whether the certificate is known (the recipient is
//! matched by issuer and serial number or key identifier) or only the key
//! (every RSA recipient is tried); the rest is the token file.
#![no_main]

use std::convert::Infallible;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

const KEY: &str = include_str!("../fixtures/dep-test-key.pem");
const CERT: &str = include_str!("../fixtures/dep-test-cert.pem");

/// A deterministic generator (SplitMix64): decryption takes an RNG for RSA
/// blinding, and a fuzz run must be repeatable.
struct Rng(u64);

impl rand_core::TryRng for Rng {
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

impl rand_core::TryCryptoRng for Rng {}

fn keys() -> &'static (dep_client::TokenKey, dep_client::TokenKey) {
    static KEYS: OnceLock<(dep_client::TokenKey, dep_client::TokenKey)> = OnceLock::new();
    KEYS.get_or_init(|| {
        (
            dep_client::TokenKey::from_pem(KEY, Some(CERT)).expect("the test key and certificate"),
            dep_client::TokenKey::from_pem(KEY, None).expect("the test key"),
        )
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, file)) = data.split_first() else {
        return;
    };
    let (with_cert, key_only) = keys();
    let key = if mode & 1 == 0 { with_cert } else { key_only };
    let mut rng = Rng(u64::from(mode));
    match key.decrypt_unchecked(file, &mut rng) {
        Ok(token) => {
            assert!(!token.credentials.consumer_key.is_empty());
            assert!(!token.credentials.access_secret.is_empty());
            if token.access_token_expiry.is_some() {
                assert!(token.expiry().is_some());
            }
        }
        Err(
            dep_client::Error::MalformedToken { .. }
            | dep_client::Error::WrongRecipient { .. }
            | dep_client::Error::Decryption
            | dep_client::Error::UnsupportedAlgorithm(_),
        ) => {}
        Err(e) => panic!("an error a token file cannot cause: {e}"),
    }
});

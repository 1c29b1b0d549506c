//! Helpers shared by the integration tests.
#![allow(dead_code, unreachable_pub)]

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use scep::client::Requester;
use scep::rsa::PrivateKey;
use scep::{CertificateAuthority, ScepConfig, ScepServer, StaticChallenge};
use sha2::Digest;

pub const CA_PEM: &[u8] = include_bytes!("../fixtures/test-ca.pem");
pub const CA_KEY: &[u8] = include_bytes!("../fixtures/test-ca.key");
pub const REQUESTER_KEY: &[u8] = include_bytes!("../fixtures/requester.key");
pub const WEAK_KEY: &[u8] = include_bytes!("../fixtures/weak.key");
pub const CHALLENGE: &str = "pippin-challenge";

/// A deterministic generator for tests: SHA-256 in counter mode over a seed.
/// Not for production use.
pub struct TestRng {
    seed: [u8; 32],
    counter: u64,
    buf: [u8; 32],
    pos: usize,
}

impl TestRng {
    pub fn new(seed: u64) -> Self {
        let mut s = [0u8; 32];
        s[..8].copy_from_slice(&seed.to_le_bytes());
        Self {
            seed: s,
            counter: 0,
            buf: [0; 32],
            pos: 32,
        }
    }
}

impl rand_core::TryRng for TestRng {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        let mut b = [0u8; 4];
        self.try_fill_bytes(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        let mut b = [0u8; 8];
        self.try_fill_bytes(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        for byte in dst {
            if self.pos == 32 {
                let mut h = sha2::Sha256::new();
                h.update(self.seed);
                h.update(self.counter.to_le_bytes());
                self.buf = h.finalize().into();
                self.counter += 1;
                self.pos = 0;
            }
            *byte = self.buf[self.pos];
            self.pos += 1;
        }
        Ok(())
    }
}

impl rand_core::TryCryptoRng for TestRng {}

/// 2026-01-01T00:00:00Z.
pub fn now() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600)
}

pub fn ca() -> CertificateAuthority {
    CertificateAuthority::from_pem(CA_PEM, CA_KEY).expect("test CA")
}

pub fn rsa_key(pem: &[u8]) -> PrivateKey {
    use scep::rsa::pkcs8::DecodePrivateKey;
    let (_, der) = der::pem::decode_vec(pem).expect("PEM key");
    PrivateKey::from_pkcs8_der(&der).expect("PKCS #8 RSA key")
}

pub fn server_with(config: impl FnOnce(&mut ScepConfig)) -> ScepServer {
    let mut c = ScepConfig::new(ca(), Arc::new(StaticChallenge::new(CHALLENGE)));
    config(&mut c);
    ScepServer::new(Arc::new(c))
}

pub fn server() -> ScepServer {
    server_with(|_| {})
}

pub fn requester(rng: &mut TestRng) -> Requester {
    Requester::self_signed("CN=device-self-signed", rsa_key(REQUESTER_KEY), now(), rng)
        .expect("requester")
}

/// Rewrites DER as BER: indefinite lengths for every constructed element
/// and OCTET STRINGs longer than `chunk` split into segments.
pub fn berify(der: &[u8], chunk: usize) -> Vec<u8> {
    fn header(der: &[u8]) -> (u8, usize, usize) {
        let tag = der[0];
        let first = der[1] as usize;
        if first < 0x80 {
            (tag, first, 2)
        } else {
            let n = first & 0x7f;
            let len = der[2..2 + n]
                .iter()
                .fold(0usize, |a, b| (a << 8) | *b as usize);
            (tag, len, 2 + n)
        }
    }
    fn one(der: &[u8], chunk: usize, out: &mut Vec<u8>) -> usize {
        let (tag, len, hl) = header(der);
        let value = &der[hl..hl + len];
        if tag & 0x20 != 0 {
            out.extend_from_slice(&[tag, 0x80]);
            let mut p = 0;
            while p < value.len() {
                p += one(&value[p..], chunk, out);
            }
            out.extend_from_slice(&[0, 0]);
        } else if tag == 0x04 && value.len() > chunk {
            out.extend_from_slice(&[0x24, 0x80]);
            for c in value.chunks(chunk) {
                out.push(0x04);
                push_len(out, c.len());
                out.extend_from_slice(c);
            }
            out.extend_from_slice(&[0, 0]);
        } else {
            out.extend_from_slice(&der[..hl + len]);
        }
        hl + len
    }
    fn push_len(out: &mut Vec<u8>, len: usize) {
        if len < 0x80 {
            out.push(len as u8);
        } else if len < 0x100 {
            out.extend_from_slice(&[0x81, len as u8]);
        } else {
            out.extend_from_slice(&[0x82, (len >> 8) as u8, len as u8]);
        }
    }
    let mut out = Vec::new();
    one(der, chunk, &mut out);
    out
}

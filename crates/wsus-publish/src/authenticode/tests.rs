use time::macros::{datetime, offset};

use super::*;
use crate::cab::CabBuilder;

/// A throwaway 2048-bit RSA key, made for these tests only.
const KEY_PEM: &str = "-----BEGIN PRIVATE KEY-----\n\
MIIEvAIBADANBgkqhkiG9w0BAQEFAASCBKYwggSiAgEAAoIBAQDB7y1BpNfq6Xsk\n\
Xf7nfg5lbKB/DDaILvF43zNK+6m1JcOg9f5Q03pORZJuycHc7Qvs6wS6ZxZUrmRn\n\
SzmPJyPMSIz03bouGeZFqYPc1u5RThBZi7wk/HAWitLEI0kLCUeyx79P2pcvOmEh\n\
8nimW8FRQzo5qFxKFmZSbQzAvB5uwkNs7XQe1b9aqlrNM9xP9xM/KJW3aevkIH50\n\
js2XpwWJg2TlL9RHexI2DvYaUjXBG9SosZYmAcJM9XQWuDu4sDNrkdzPLjVoWUt7\n\
G2at8PAjnKQxcKgRNOeGAUrnNuzZM+P+ZKaQLMS4/yQYQXWOdRgIJt1nmaiqK0VK\n\
2pCyJGzJAgMBAAECggEAAqp4uxeUUKpF/MfkzaZzdZx3j/Ei7/gcbkNvNcXEEI8e\n\
cDnn2/eUQLtlgGvG/cD6ckoAX7zNpBT21Ct6DpUEqA9YdLNDMG5ygzZwPBrUqten\n\
+a5ZXahktNw5FBfCFMp0949JLd4jSIBrPmeFYtzaPI8JuV1hnpka1GFwYYpHrTd5\n\
qSaYV91tDhw4Ab67Ja6+1frRIX1BssCHDvSd1KZ8lix0PY8BxfaGnSMy8h7yj3YZ\n\
ud/KBxNy5srRr7RtLPCoXcMfLZLHw+A5k74kuGp5k2OW8dWdl+Qts+Ez1Uj89QKh\n\
adC+Vn1RowHOZ8vDsL+R7+WFUXU4dpkQYGafb4GIaQKBgQD4mO8iH/EkfXsp8qT0\n\
Bh5N2Au1zCXp1AsPEGJ/noymEEG0QlFcwV5hTmN9JQO3I6Fnu8K5lgxAaFHnfASK\n\
2CPipG5G9CpIKbbrXN8zIKrtFyPh3bMCYBxLRWwh3hHRWdNzGtBz4zzQNSl/TLQ9\n\
xGJIreULEDfe05RKnR3Rw52jfQKBgQDHtYtD+DIPs05414HICEsG1nXQWGMDc+bi\n\
/hTWPMG0Vc9s1Ps+Ri0fQTvGGiK9PddK6zICFNbLyqHg9vcSJ5tuWnN61VDH+avh\n\
OKf+bOiyL9wI/a4RPpZo6pgj7KM78voF3HVvyf2k6hAtXKcGB33iveVLfCQtLOjw\n\
NADR/Z/YPQKBgG/hrGYISCfrDV5ApPpqMoNIQ2TrXvjQhLWf4ySaf6RRVrDA1AtR\n\
v589f0sYOIbY01BzUVzi6dqm2I284/J0+hmLdVIbm1fk5j0hDBbfke2oZ27Er0bX\n\
aIR71wGbBxvYOHDqVXyCfaEa+/Ud2VSfKLibAqUrBGoVgPzfn0cDqdOlAoGAWJo+\n\
00UGUNjoc8yJE8o6Hyp+0pSkOR/uy76WWAZUmkGH6W0EmrhfxIIYlud5iiQppF98\n\
rFe6hGe+MiTfsPpJh0gx+8kwMcifbSjJv6NqCcQaBxMlaxkteha6sRWHxk0ih/8r\n\
SxF+qu/9hWKZ557jRvmhBUBqfHB0WD16L7AqfrECgYBuT5zC6tu2jJ2vI3jMSlwd\n\
jKW8N8yk8tBdGQDv97e4LJPL+rcQC+//f0aef8gmtWJU5oI59GAxHyJfd7qC7Dow\n\
OinRh+dD6/egnkiIo0cQ4lw6+YMp3CFwfnZse/gPy/exxaPW4SVQFlTNenJJV/M+\n\
2cA/S5ssuA55gbuIV0nhGQ==\n\
-----END PRIVATE KEY-----";

fn cert_pem(key_pem: &str, name: &str) -> String {
    let kp =
        rcgen::KeyPair::from_pkcs8_pem_and_sign_algo(key_pem, &rcgen::PKCS_RSA_SHA256).unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    params.self_signed(&kp).unwrap().pem()
}

fn signer() -> Signer {
    Signer::from_pem(
        cert_pem(KEY_PEM, "Pippin test publisher").as_bytes(),
        KEY_PEM.as_bytes(),
    )
    .unwrap()
}

fn cab(reserve: bool) -> Vec<u8> {
    let mut b = CabBuilder::new();
    if reserve {
        b.authenticode_reserve();
    }
    b.add_file(
        "catalog.xml",
        b"<catalog/>".repeat(10_000),
        datetime!(2025-03-04 05:06:08),
    )
    .unwrap();
    b.add_file("empty", Vec::new(), datetime!(2025-03-04 05:06:08))
        .unwrap();
    b.build().unwrap()
}

#[test]
fn sign_then_verify() {
    let s = signer();
    for reserve in [false, true] {
        let signed = sign_cab(&cab(reserve), &s).unwrap();
        let v = verify_cab(&signed).unwrap();
        assert_eq!(v.digest_algorithm, DigestAlgorithm::Sha256);
        assert_eq!(v.digest.len(), 32);
        assert_eq!(v.signer, *s.certificate());
        assert_eq!(v.certificates.len(), 1);

        // The header describes the signature.
        assert_eq!(
            u16_at(&signed, 30) & FLAG_RESERVE_PRESENT,
            FLAG_RESERVE_PRESENT
        );
        assert_eq!(u16_at(&signed, 36), 20);
        assert_eq!(u32_at(&signed, 40), 0x0010_0000);
        let (at, len) = (u32_at(&signed, 44) as usize, u32_at(&signed, 48) as usize);
        assert_eq!(
            at,
            u32_at(&signed, 8) as usize,
            "the signature follows cbCabinet"
        );
        assert_eq!(at + len, signed.len());
        assert_eq!(len % 8, 0);

        // The cabinet still reads.
        let c = Cabinet::parse(&signed).unwrap();
        let files = c.extract_all().unwrap();
        assert_eq!(files[0].1, b"<catalog/>".repeat(10_000));
        assert!(files[1].1.is_empty());
    }
}

#[test]
fn inserting_the_reserve_gives_what_the_builder_writes() {
    assert_eq!(
        with_reserve(&cab(false)).unwrap(),
        with_reserve(&cab(true)).unwrap()
    );
}

#[test]
fn resigning_replaces_the_signature() {
    let mut s = signer();
    let once = sign_cab(&cab(false), &s).unwrap();
    s.digest_algorithm(DigestAlgorithm::Sha1)
        .program_name("Pippin updates");
    let twice = sign_cab(&once, &s).unwrap();
    let at = u32_at(&once, 44) as usize;
    assert_eq!(u32_at(&twice, 44) as usize, at);
    assert_eq!(once[..44], twice[..44]);
    assert_eq!(once[52..at], twice[52..at]);
    let v = verify_cab(&twice).unwrap();
    assert_eq!(v.digest_algorithm, DigestAlgorithm::Sha1);
    assert_eq!(v.digest.len(), 20);
}

#[test]
fn signing_time_and_program_name() {
    let mut s = signer();
    s.program_name("Apple updates for WSUS ✓")
        .signing_time(datetime!(2025-07-01 10:00:00).assume_offset(offset!(UTC)));
    let signed = sign_cab(&cab(true), &s).unwrap();
    verify_cab(&signed).unwrap();
    let needle = utf16be("Apple updates");
    assert!(signed.windows(needle.len()).any(|w| w == needle));
    assert!(signed.windows(13).any(|w| w == b"250701100000Z"));
}

#[test]
fn the_digest_covers_what_authenticode_covers() {
    let signed = sign_cab(&cab(false), &signer()).unwrap();
    let at = u32_at(&signed, 44) as usize;
    // Changed in hashed places: the digest no longer matches.
    for offset in [0usize, 8, 16, 24, 26, 28, 32, 56, 60, 70, at - 1] {
        let mut bad = signed.clone();
        bad[offset] ^= 0x01;
        let err = verify_cab(&bad).unwrap_err();
        assert!(
            matches!(
                err,
                SignError::DigestMismatch | SignError::Cab(_) | SignError::NotSigned
            ),
            "offset {offset}: {err:?}"
        );
    }
    let mut data = signed.clone();
    data[at - 100] ^= 0x01;
    assert!(matches!(
        verify_cab(&data).unwrap_err(),
        SignError::DigestMismatch
    ));
    // reserved1, iCabinet and the last reserve bytes before 56 are not
    // covered: changing them leaves the signature valid.
    for offset in [4usize, 34, 52] {
        let mut other = signed.clone();
        other[offset] ^= 0x01;
        verify_cab(&other).unwrap_or_else(|e| panic!("offset {offset}: {e}"));
    }
}

#[test]
fn broken_signatures_are_errors() {
    let signed = sign_cab(&cab(false), &signer()).unwrap();
    let at = u32_at(&signed, 44) as usize;
    // Every byte of the signature flipped in turn: an error or (in the
    // certificate's unsigned parts, or padding) still a valid signature,
    // never a panic.
    for i in at..signed.len() {
        let mut bad = signed.clone();
        bad[i] ^= 0x20;
        let _ = verify_cab(&bad);
    }
    // The RSA signature itself (the last bytes of the DER).
    let mut bad = signed.clone();
    let last_nonzero = bad.iter().rposition(|&b| b != 0).unwrap();
    bad[last_nonzero] ^= 0x01;
    assert!(matches!(
        verify_cab(&bad).unwrap_err(),
        SignError::BadSignature
    ));
    for len in 0..signed.len().min(4096) {
        let _ = verify_cab(&signed[..len]);
    }
    let _ = verify_cab(&signed[..signed.len() - 1]);
}

#[test]
fn unsigned_cabinets() {
    assert!(matches!(
        verify_cab(&cab(false)).unwrap_err(),
        SignError::NotSigned
    ));
    assert!(matches!(
        verify_cab(&cab(true)).unwrap_err(),
        SignError::NotSigned
    ));
    assert!(matches!(
        verify_cab(b"not a cabinet").unwrap_err(),
        SignError::Cab(_)
    ));
}

#[test]
fn signer_errors() {
    let cert = cert_pem(KEY_PEM, "x");
    assert!(matches!(
        Signer::from_pem(b"", KEY_PEM.as_bytes()).unwrap_err(),
        SignError::NoCertificates
    ));
    assert!(matches!(
        Signer::from_pem(cert.as_bytes(), b"junk").unwrap_err(),
        SignError::Key(_)
    ));
    assert!(matches!(
        Signer::from_pem(cert.as_bytes(), cert.as_bytes()).unwrap_err(),
        SignError::Key(_)
    ));
    let other = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "other");
    let other_cert = params.self_signed(&other).unwrap().pem();
    assert!(matches!(
        Signer::from_pem(other_cert.as_bytes(), KEY_PEM.as_bytes()).unwrap_err(),
        SignError::KeyMismatch
    ));
    // The signer's certificate is found among others, in any order.
    let both = format!("{other_cert}{cert}");
    let s = Signer::from_pem(both.as_bytes(), KEY_PEM.as_bytes()).unwrap();
    let signed = sign_cab(&cab(false), &s).unwrap();
    assert_eq!(verify_cab(&signed).unwrap().certificates.len(), 2);
}

#[test]
fn refuses_other_reserves() {
    let mut b = CabBuilder::new();
    b.header_reserve(8);
    b.add_file("a", b"a".to_vec(), datetime!(2025-03-04 05:06:08))
        .unwrap();
    let err = sign_cab(&b.build().unwrap(), &signer()).unwrap_err();
    assert!(matches!(err, SignError::UnsupportedCab(_)), "{err:?}");
}

#[test]
fn tlv_lengths() {
    assert_eq!(tlv(0x04, &[]), [0x04, 0x00]);
    assert_eq!(tlv(0x04, &[0; 0x7f])[..2], [0x04, 0x7f]);
    assert_eq!(tlv(0x04, &[0; 0x80])[..3], [0x04, 0x81, 0x80]);
    assert_eq!(tlv(0x04, &[0; 0x1234])[..4], [0x04, 0x82, 0x12, 0x34]);
    assert_eq!(obsolete_link()[..4], [0xa2, 0x1e, 0x80, 0x1c]);
    assert_eq!(opus_info(None), [0x30, 0x00]);
}

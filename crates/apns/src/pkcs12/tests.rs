use proptest::prelude::*;

use super::*;

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// RFC 7292 Appendix B.2 against `openssl kdf ... PKCS12KDF` (OpenSSL
/// 3.0), whose `hexpass` takes the BMPString bytes as they are. The first
/// two are the long-standing vectors from OpenSSL's and Bouncy Castle's
/// tests (password "smeg").
#[test]
fn pkcs12_kdf_matches_openssl() {
    let cases: &[(Hash, u8, &str, &str, u32, &str)] = &[
        (
            Hash::Sha1,
            1,
            "0073006d006500670000",
            "0A58CF64530D823F",
            1,
            "8AAAE6297B6CB04642AB5B077851284EB7128F1A2A7FBCA3",
        ),
        (
            Hash::Sha1,
            2,
            "0073006d006500670000",
            "0A58CF64530D823F",
            1,
            "79993DFE048D3B76",
        ),
        (
            Hash::Sha1,
            1,
            "007100750065006500670000",
            "1682C0FC5B3F7EC5",
            1000,
            "483DD6E919D7DE2E8E648BA8F862F3FBFBDC2BCB2C02957F",
        ),
        (
            Hash::Sha256,
            3,
            "007100750065006500670000",
            "1682C0FC5B3F7EC5",
            1000,
            "2886C84718145A841A2EFE4A91A5E48D50F53B8DEBC34F9883818CCF638E58D3\
             9FA4E4A25FEE1ABFC2F3C4883A93BC572D0C019EED6002F4E4010B08CBC9DE4A\
             20EF43EC1C8AD4DCF1D7F54295DF747477F5406E1AD85ADF13FD07C7B841385C\
             9694419C",
        ),
        (
            Hash::Sha512,
            3,
            "0000",
            "00",
            2048,
            "34EE5AF7FDE63A9B68F0CE5DB4114F01E609E431801B73902759E7334EC14338\
             0831D5E2D2285F9FC4DB6B4957C731982E1EFCD31CB05D5B9B5FD3DF09BE8749\
             5849B6450AD9",
        ),
        (
            Hash::Sha224,
            2,
            "00e90000",
            "0102030405",
            3,
            "F41549F9205BCE31CD59CADBB8FD51043F5D1BEE49EEBD972E93238D56D9234707",
        ),
    ];
    for (hash, id, password, salt, iterations, expected) in cases {
        let expected = unhex(&expected.replace(' ', ""));
        let mut out = vec![0u8; expected.len()];
        hash.pkcs12_kdf(*id, &unhex(password), &unhex(salt), *iterations, &mut out);
        assert_eq!(out, expected, "{hash:?} id {id} {password}");
    }
}

#[test]
fn bmp_strings() {
    assert_eq!(bmp_string(&[0, b'h', 0, b'i']).as_deref(), Some("hi"));
    assert_eq!(bmp_string(&[0x00, 0xE9]).as_deref(), Some("é"));
    assert_eq!(bmp_string(&[0xD8, 0x3D, 0xDE, 0x00]).as_deref(), Some("😀"));
    assert_eq!(bmp_string(&[0xD8, 0x3D]), None);
    assert_eq!(bmp_string(&[0x00]), None);
}

#[test]
fn bounds_are_checked_before_work() {
    let mut limits = Limits::default();
    limits.max_len(10);
    assert!(matches!(
        Pkcs12::decode_with(&[0x30; 11], "", &limits),
        Err(Error::Pkcs12Limit {
            found: 11,
            limit: 10,
            ..
        })
    ));

    let mut work_limits = Limits::default();
    work_limits.max_iterations(100).max_total_iterations(150);
    let mut work = Work {
        limits: &work_limits,
        iterations: 0,
    };
    let n = |count| Iterations { count, offset: 7 };
    assert_eq!(work.spend(n(100)).unwrap(), 100);
    assert!(matches!(
        work.spend(n(101)),
        Err(Error::Pkcs12Limit {
            what: "iteration count",
            ..
        })
    ));
    assert!(matches!(
        work.spend(n(60)),
        Err(Error::Pkcs12Limit {
            what: "total iteration count",
            ..
        })
    ));
    assert!(matches!(
        work.spend(n(0)),
        Err(Error::Pkcs12Malformed { offset: 7, .. })
    ));
}

#[test]
fn structure_errors() {
    // Not BER at all.
    assert!(matches!(
        Pkcs12::decode(b"hello", "x"),
        Err(Error::Pkcs12Malformed {
            source: Some(_),
            ..
        })
    ));
    // SEQUENCE { INTEGER 2 } — PFX version 2.
    assert!(matches!(
        Pkcs12::decode(&[0x30, 0x03, 0x02, 0x01, 0x02], "x"),
        Err(Error::Pkcs12Malformed {
            what: "PFX version (must be 3)",
            offset: 2,
            ..
        })
    ));
    // A PFX whose authSafe is signedData (public-key integrity mode).
    let mut ci = vec![0x06, 0x09];
    ci.extend_from_slice(&[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x07, 0x02]);
    ci.extend_from_slice(&[0xA0, 0x02, 0x04, 0x00]);
    let mut pfx_body = vec![0x02, 0x01, 0x03];
    pippin_ber::push_tlv(&mut pfx_body, 0x30, &ci);
    let mut pfx = Vec::new();
    pippin_ber::push_tlv(&mut pfx, 0x30, &pfx_body);
    match Pkcs12::decode(&pfx, "x") {
        Err(e @ Error::Pkcs12UnsupportedAlgorithm { .. }) => {
            let text = e.to_string();
            assert!(text.contains("1.2.840.113549.1.7.2"), "{text}");
            assert!(text.contains("signedData"), "{text}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_empty_file_without_mac_has_no_key() {
    // PFX { 3, ContentInfo { data, [0] OCTET STRING { SEQUENCE {} } } }
    let auth_safe = [0x30, 0x00];
    let mut octets = Vec::new();
    pippin_ber::push_tlv(&mut octets, OCTET_STRING, &auth_safe);
    let mut explicit = Vec::new();
    pippin_ber::push_tlv(&mut explicit, CONTEXT_0, &octets);
    let mut ci = vec![
        0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x07, 0x01,
    ];
    ci.extend(explicit);
    let mut body = vec![0x02, 0x01, 0x03];
    pippin_ber::push_tlv(&mut body, SEQUENCE, &ci);
    let mut pfx = Vec::new();
    pippin_ber::push_tlv(&mut pfx, SEQUENCE, &body);
    let p12 = Pkcs12::decode(&pfx, "").unwrap();
    assert!(p12.keys().is_empty() && p12.certificates().is_empty());
    assert!(matches!(
        crate::PushCertificate::from_pkcs12(&pfx, ""),
        Err(Error::Pkcs12NoPrivateKey)
    ));
}

/// A PFX around an empty AuthenticatedSafe, with a SHA-1 MAC made with
/// `mac_password` (a BMPString, or empty for "no password").
fn empty_pfx_with_mac(mac_password: &[u8]) -> Vec<u8> {
    use hmac::{KeyInit, Mac};
    let auth_safe = [0x30, 0x00];
    let salt = [1u8, 2, 3, 4, 5, 6, 7, 8];
    let mut key = [0u8; 20];
    Hash::Sha1.pkcs12_kdf(3, mac_password, &salt, 1, &mut key);
    let mut mac = <hmac::Hmac<sha1::Sha1> as KeyInit>::new_from_slice(&key).unwrap();
    mac.update(&auth_safe);
    let tag = mac.finalize().into_bytes();

    let tlv = |tag: u8, parts: &[&[u8]]| {
        let mut out = Vec::new();
        pippin_ber::push_tlv(&mut out, tag, &parts.concat());
        out
    };
    let data_oid = [
        0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x07, 0x01,
    ];
    let sha1_oid = [0x06, 0x05, 0x2B, 0x0E, 0x03, 0x02, 0x1A];
    let ci = tlv(
        SEQUENCE,
        &[
            &data_oid,
            &tlv(CONTEXT_0, &[&tlv(OCTET_STRING, &[&auth_safe])]),
        ],
    );
    let digest_info = tlv(
        SEQUENCE,
        &[
            &tlv(SEQUENCE, &[&sha1_oid, &[0x05, 0x00]]),
            &tlv(OCTET_STRING, &[&tag]),
        ],
    );
    // iterations left out: DEFAULT 1.
    let mac_data = tlv(SEQUENCE, &[&digest_info, &tlv(OCTET_STRING, &[&salt])]);
    tlv(SEQUENCE, &[&[0x02, 0x01, 0x03], &ci, &mac_data])
}

#[test]
fn empty_passwords_are_tried_both_ways() {
    for mac_password in [&[0u8, 0][..], &[][..]] {
        let pfx = empty_pfx_with_mac(mac_password);
        assert!(Pkcs12::decode(&pfx, "").is_ok(), "{mac_password:?}");
        assert!(matches!(
            Pkcs12::decode(&pfx, "x"),
            Err(Error::Pkcs12WrongPassword)
        ));
    }
    // "a" is 00 61 00 00 as a BMPString.
    let pfx = empty_pfx_with_mac(&[0, b'a', 0, 0]);
    assert!(Pkcs12::decode(&pfx, "a").is_ok());
    assert!(matches!(
        Pkcs12::decode(&pfx, ""),
        Err(Error::Pkcs12WrongPassword)
    ));
}

proptest! {
    #[test]
    fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = Pkcs12::decode(&data, "password");
        let _ = crate::PushCertificate::from_pkcs12(&data, "");
    }

    #[test]
    fn pfx_shaped_bytes_never_panic(
        tail in proptest::collection::vec(any::<u8>(), 0..256),
    ) {
        // A plausible PFX start: SEQUENCE (indefinite), version 3, ContentInfo data.
        let mut data = vec![0x30, 0x80, 0x02, 0x01, 0x03, 0x30, 0x80, 0x06, 0x09,
            0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x07, 0x01, 0xA0, 0x80];
        data.extend(tail);
        let _ = Pkcs12::decode(&data, "password");
    }
}

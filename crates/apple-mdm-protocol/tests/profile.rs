//! Enrollment profiles: structure, plistlib interop, and CMS signing checked
//! with `openssl cms`.

use apple_mdm_protocol::profile::{
    EnrollmentProfile, MdmPayload, RootCertificate, ScepPayload, decode_profile,
};
use apple_mdm_protocol::signature::SigningIdentity;
use pippin_plist::Value;

const TOPIC: &str = "com.apple.mgmt.External.00000000-1111-2222-3333-444444444444";

fn profile() -> EnrollmentProfile {
    let mdm = MdmPayload::new("https://mdm.example.test:8760/mdm/connect", TOPIC);
    let scep = ScepPayload::new(
        "https://mdm.example.test:8760/scep",
        Some("s3cret".into()),
        "Pippin Device Identity",
    );
    let mut p = EnrollmentProfile::new(mdm, Some(scep));
    p.organization = Some("Example Org".into());
    p.roots.push(RootCertificate {
        der: vec![0x30, 0x03, 0x02, 0x01, 0x01],
        file_name: "ca.cer".into(),
        display_name: "Example Root".into(),
    });
    p
}

#[test]
fn profile_structure() {
    let p = profile();
    let d = p.to_dictionary();
    assert_eq!(
        d.get("PayloadType").and_then(Value::as_str),
        Some("Configuration")
    );
    assert_eq!(d.get("PayloadVersion").and_then(Value::as_i64), Some(1));
    let content = d.get("PayloadContent").and_then(Value::as_array).unwrap();
    let types: Vec<&str> = content
        .iter()
        .map(|p| p.get("PayloadType").and_then(Value::as_str).unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "com.apple.security.root",
            "com.apple.security.scep",
            "com.apple.mdm"
        ]
    );
    let scep = &content[1];
    let mdm = &content[2];
    // The MDM payload's identity is the SCEP payload.
    assert_eq!(
        mdm.get("IdentityCertificateUUID").and_then(Value::as_str),
        scep.get("PayloadUUID").and_then(Value::as_str)
    );
    assert_eq!(mdm.get("Topic").and_then(Value::as_str), Some(TOPIC));
    assert_eq!(mdm.get("AccessRights").and_then(Value::as_i64), Some(8191));
    assert_eq!(mdm.get("SignMessage").and_then(Value::as_bool), Some(true));
    assert_eq!(
        mdm.get("CheckOutWhenRemoved").and_then(Value::as_bool),
        Some(true)
    );
    let sc = scep.get("PayloadContent").unwrap();
    assert_eq!(sc.get("Challenge").and_then(Value::as_str), Some("s3cret"));
    assert_eq!(sc.get("Keysize").and_then(Value::as_i64), Some(2048));
    assert_eq!(sc.get("Key Type").and_then(Value::as_str), Some("RSA"));
    assert_eq!(sc.get("Key Usage").and_then(Value::as_i64), Some(5));
    let subject = sc.get("Subject").and_then(Value::as_array).unwrap();
    assert_eq!(
        subject[0].as_array().unwrap()[0].as_array().unwrap()[1].as_str(),
        Some("Pippin Device Identity")
    );
    // UUIDs are stable for the same inputs, distinct per payload.
    assert_eq!(p.to_xml(), profile().to_xml());
    let uuids: std::collections::HashSet<&str> = content
        .iter()
        .map(|p| p.get("PayloadUUID").and_then(Value::as_str).unwrap())
        .collect();
    assert_eq!(uuids.len(), 3);

    let decoded = decode_profile(&p.to_xml()).unwrap();
    assert_eq!(decoded.payload_types, types);
    assert_eq!(decoded.signer_sha256, None);
    assert_eq!(
        decoded
            .mdm
            .unwrap()
            .get("ServerURL")
            .and_then(Value::as_str),
        Some("https://mdm.example.test:8760/mdm/connect")
    );
}

#[test]
fn plistlib_reads_the_profile() {
    if !test_support::require_python("plistlib_reads_the_profile", &["plistlib"]) {
        return;
    }
    let out = test_support::python_ok(
        "import plistlib,sys,json\n\
         p = plistlib.loads(sys.stdin.buffer.read())\n\
         m = p['PayloadContent'][2]\n\
         print(json.dumps([p['PayloadType'], m['PayloadType'], m['Topic'], m['AccessRights'], \
               p['PayloadContent'][1]['PayloadContent']['Key Usage'], len(p['PayloadContent'][0]['PayloadContent'])]))",
        &profile().to_xml(),
    );
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(
        v,
        serde_json::json!(["Configuration", "com.apple.mdm", TOPIC, 8191, 5, 5])
    );
}

fn openssl_identity(dir: &std::path::Path, kind: &str) -> (Vec<u8>, Vec<u8>) {
    let key = dir.join(format!("{kind}.key"));
    let cert = dir.join(format!("{kind}.pem"));
    let keyopt: &[&str] = if kind == "ec" {
        &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]
    } else {
        &["-newkey", "rsa:2048"]
    };
    let mut cmd = vec!["openssl", "req", "-x509", "-nodes", "-days", "2"];
    cmd.extend_from_slice(keyopt);
    let (k, c) = (key.to_str().unwrap(), cert.to_str().unwrap());
    cmd.extend_from_slice(&[
        "-keyout",
        k,
        "-out",
        c,
        "-subj",
        "/CN=Pippin Profile Signer/O=Example",
    ]);
    test_support::run_ok(&cmd, b"");
    (std::fs::read(&cert).unwrap(), std::fs::read(&key).unwrap())
}

#[test]
fn signed_profile_verifies_with_openssl() {
    if !test_support::require_peer(
        "signed_profile_verifies_with_openssl",
        &["openssl", "version"],
    ) {
        return;
    }
    let dir = test_support::tempdir();
    for kind in ["rsa", "ec"] {
        let (cert_pem, key_pem) = openssl_identity(dir.path(), kind);
        let id = SigningIdentity::from_pem(&cert_pem, &key_pem).unwrap();
        let p = profile();
        let signed = p.sign(&id).unwrap();
        let signed_path = dir.path().join(format!("{kind}.mobileconfig"));
        std::fs::write(&signed_path, &signed).unwrap();
        let cert_path = dir.path().join(format!("{kind}.pem"));
        let content = test_support::run_ok(
            &[
                "openssl",
                "cms",
                "-verify",
                "-binary",
                "-inform",
                "DER",
                "-in",
                signed_path.to_str().unwrap(),
                "-CAfile",
                cert_path.to_str().unwrap(),
                "-purpose",
                "any",
            ],
            b"",
        );
        assert_eq!(content, p.to_xml(), "{kind}: openssl's content differs");
        // And we read it back, signature checked.
        let decoded = decode_profile(&signed).unwrap();
        assert!(decoded.signer_sha256.is_some());
        assert_eq!(decoded.identifier, p.identifier);
        // A flipped byte in the signed content is refused.
        let mut bad = signed.clone();
        let pos = bad.windows(6).position(|w| w == b"Config").unwrap();
        bad[pos] ^= 0x20;
        assert!(
            decode_profile(&bad).is_err(),
            "{kind}: tampered profile accepted"
        );
    }
}

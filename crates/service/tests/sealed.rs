//! Sealed secrets against Python's `cryptography` AES-GCM: each side opens
//! what the other sealed.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use pippin_service::SecretBox;
use test_support::{python, require_python, run_ok};

const KEY: [u8; 32] = [0x42; 32];

#[test]
fn python_cryptography_opens_ours_and_we_open_its() {
    let test = "python_cryptography_opens_ours_and_we_open_its";
    if !require_python(test, &["cryptography"]) {
        return;
    }
    let b = SecretBox::from_key(&KEY);
    let sealed = b
        .seal("dep-token:site-a", b"access secret \xe2\x9c\x93")
        .unwrap();
    let raw = URL_SAFE_NO_PAD.decode(&sealed[4..]).unwrap();
    let script = r#"
import sys
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
key = bytes([0x42]) * 32
raw = bytes.fromhex(sys.argv[1])
a = AESGCM(key)
print(a.decrypt(raw[:12], raw[12:], b"dep-token:site-a").hex())
nonce = bytes(range(12))
print((nonce + a.encrypt(nonce, b"from python", b"ctx:python")).hex())
"#;
    let py = python();
    let out = run_ok(&[py.as_str(), "-c", script, &hex::encode(&raw)], b"");
    let out = String::from_utf8(out).unwrap();
    let mut lines = out.lines();
    assert_eq!(
        hex::decode(lines.next().unwrap()).unwrap(),
        b"access secret \xe2\x9c\x93"
    );
    let theirs = hex::decode(lines.next().unwrap()).unwrap();
    let text = format!("pv1.{}", URL_SAFE_NO_PAD.encode(theirs));
    assert_eq!(
        b.open("ctx:python", &text).unwrap().expose(),
        b"from python"
    );
    assert!(b.open("ctx:other", &text).is_err());
}

//! Decoding fixtures made with Python's `plistlib` (see
//! `tests/fixtures/make_fixtures.py`), compared with `plistlib`'s own reading
//! of them, and, when it is present beside the checkout, the shared
//! real-world corpus.

mod common;

use common::{canon, crate_dir, files_with_ext};
use pippin_plist::{ErrorKind, Format, Limits};

/// Each fixture, its format, and `plistlib`'s reading of it.
const FIXTURES: &[(&str, Format, &[u8], &str)] = &[
    (
        "plistlib-xml-tokenupdate",
        Format::Xml,
        include_bytes!("fixtures/plistlib-xml-tokenupdate.plist"),
        include_str!("fixtures/plistlib-xml-tokenupdate.canon.json"),
    ),
    (
        "plistlib-binary-tokenupdate",
        Format::Binary,
        include_bytes!("fixtures/plistlib-binary-tokenupdate.plist"),
        include_str!("fixtures/plistlib-binary-tokenupdate.canon.json"),
    ),
    (
        "plistlib-xml-nested",
        Format::Xml,
        include_bytes!("fixtures/plistlib-xml-nested.plist"),
        include_str!("fixtures/plistlib-xml-nested.canon.json"),
    ),
    (
        "plistlib-binary-nested",
        Format::Binary,
        include_bytes!("fixtures/plistlib-binary-nested.plist"),
        include_str!("fixtures/plistlib-binary-nested.canon.json"),
    ),
    (
        "plistlib-xml-special-reals",
        Format::Xml,
        include_bytes!("fixtures/plistlib-xml-special-reals.plist"),
        include_str!("fixtures/plistlib-xml-special-reals.canon.json"),
    ),
    (
        "plistlib-binary-special-reals",
        Format::Binary,
        include_bytes!("fixtures/plistlib-binary-special-reals.plist"),
        include_str!("fixtures/plistlib-binary-special-reals.canon.json"),
    ),
    (
        "plistlib-binary-uid",
        Format::Binary,
        include_bytes!("fixtures/plistlib-binary-uid.plist"),
        include_str!("fixtures/plistlib-binary-uid.canon.json"),
    ),
    (
        "plistlib-binary-many-objects",
        Format::Binary,
        include_bytes!("fixtures/plistlib-binary-many-objects.plist"),
        include_str!("fixtures/plistlib-binary-many-objects.canon.json"),
    ),
];

#[test]
fn plistlib_fixtures_decode_as_plistlib_reads_them() {
    for &(name, format, bytes, expected) in FIXTURES {
        assert_eq!(pippin_plist::detect(bytes), format, "{name}");
        let v = pippin_plist::from_bytes(bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        let expected: serde_json::Value = serde_json::from_str(expected).unwrap();
        assert_eq!(canon(&v, false), expected, "{name}");
    }
}

#[test]
fn plistlib_fixtures_reencode() {
    for &(name, _, bytes, _) in FIXTURES {
        let v = pippin_plist::from_bytes(bytes).unwrap();
        let bin = pippin_plist::to_binary_vec(&v).unwrap();
        let back = pippin_plist::from_bytes(&bin).unwrap();
        assert!(common::same(&v, &back), "{name}: binary roundtrip");
        let xml = pippin_plist::to_xml_vec(&v);
        let back = pippin_plist::from_bytes(&xml).unwrap();
        assert_eq!(canon(&back, true), canon(&v, true), "{name}: XML roundtrip");
    }
}

#[test]
fn xml_written_like_plistlib() {
    // plistlib wrote this fixture with its default layout; so do we.
    let bytes = include_bytes!("fixtures/plistlib-xml-tokenupdate.plist");
    let v = pippin_plist::from_bytes(bytes).unwrap();
    let mut sorted = v.clone().into_dictionary().unwrap();
    sorted.sort_keys();
    let ours = pippin_plist::to_xml_vec(&pippin_plist::Value::Dictionary(sorted));
    assert_eq!(
        String::from_utf8_lossy(&ours),
        String::from_utf8_lossy(bytes)
    );
}

#[test]
fn binary_written_like_plistlib() {
    // Same object order, sharing and sizes as plistlib: byte-identical.
    for name in ["tokenupdate", "nested", "uid"] {
        let path = crate_dir().join(format!("tests/fixtures/plistlib-binary-{name}.plist"));
        let bytes = std::fs::read(path).unwrap();
        let v = pippin_plist::from_bytes(&bytes).unwrap();
        let ours = pippin_plist::to_binary_vec(&v).unwrap();
        assert_eq!(common::hex(&ours), common::hex(&bytes), "{name}");
    }
}

/// The real-world corpus at `../../../shared/fixtures`, if present.
#[test]
fn shared_corpus_decodes() {
    let root = crate_dir().join("../../../shared/fixtures");
    if !root.is_dir() {
        return;
    }
    // Placeholder `<data>Base64=</data>` contents: not base64, must fail.
    const INVALID: &[&str] = &[
        "mdm/commandment/TokenUpdate/iOS-11.3.1.xml",
        "mdm/commandment/CertificateList/iOS-11.3.1.xml",
    ];
    let mut checked = 0;
    for sub in ["mdm", "netboot"] {
        for path in files_with_ext(&root.join(sub), &["plist", "xml", "mobileconfig"]) {
            let bytes = std::fs::read(&path).unwrap();
            let rel = path
                .strip_prefix(&root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            let result = pippin_plist::from_bytes_with(&bytes, &Limits::default());
            if INVALID.contains(&rel.as_str()) {
                let err = result.expect_err(&rel);
                assert_eq!(err.kind(), ErrorKind::Malformed, "{rel}: {err}");
            } else {
                let v = result.unwrap_or_else(|e| panic!("{rel}: {e}"));
                let bin = pippin_plist::to_binary_vec(&v).unwrap();
                assert!(
                    common::same(&pippin_plist::from_bytes(&bin).unwrap(), &v),
                    "{rel}"
                );
            }
            checked += 1;
        }
    }
    assert!(checked > 0, "no fixtures found under {}", root.display());
}

/// The same corpus read by `plistlib`, when both are here: same values.
#[test]
fn shared_corpus_matches_plistlib() {
    let root = crate_dir().join("../../../shared/fixtures");
    if !root.is_dir()
        || !test_support::require_python("shared_corpus_matches_plistlib", &["plistlib"])
    {
        return;
    }
    let mut paths = Vec::new();
    for sub in ["mdm", "netboot"] {
        paths.extend(files_with_ext(
            &root.join(sub),
            &["plist", "xml", "mobileconfig"],
        ));
    }
    let list: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    let code = common::python_prelude()
        + r#"
out = []
for path in json.load(sys.stdin):
    try:
        with open(path, "rb") as f:
            out.append(canon(plistlib.loads(f.read())))
    except Exception:
        out.append(None)
print(json.dumps(out))
"#;
    let stdout = test_support::python_ok(&code, serde_json::to_string(&list).unwrap().as_bytes());
    let theirs: Vec<serde_json::Value> = serde_json::from_slice(&stdout).unwrap();
    for (path, theirs) in paths.iter().zip(theirs) {
        let ours = pippin_plist::from_bytes(&std::fs::read(path).unwrap()).ok();
        match (ours, theirs) {
            (Some(v), t) if !t.is_null() => assert_eq!(canon(&v, true), t, "{}", path.display()),
            (None, t) => assert!(
                t.is_null(),
                "{}: plistlib reads it, we do not",
                path.display()
            ),
            (Some(_), _) => panic!("{}: we read it, plistlib does not", path.display()),
        }
    }
}

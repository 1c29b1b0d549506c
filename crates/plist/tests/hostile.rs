//! Hostile input: every decoder must answer with an error of the right kind,
//! quickly, and never panic or allocate what the input merely declares.

mod common;

use std::time::{Duration, Instant};

use common::bplist;
use pippin_plist::{ErrorKind, Limits, Value};

fn xml_kind(doc: &str) -> ErrorKind {
    pippin_plist::from_bytes(doc.as_bytes()).unwrap_err().kind()
}

fn bin_kind(doc: &[u8]) -> ErrorKind {
    pippin_plist::from_bytes(doc).unwrap_err().kind()
}

fn fixtures() -> Vec<(&'static str, &'static [u8])> {
    vec![
        (
            "xml-tokenupdate",
            &include_bytes!("fixtures/plistlib-xml-tokenupdate.plist")[..],
        ),
        (
            "xml-nested",
            &include_bytes!("fixtures/plistlib-xml-nested.plist")[..],
        ),
        (
            "binary-tokenupdate",
            &include_bytes!("fixtures/plistlib-binary-tokenupdate.plist")[..],
        ),
        (
            "binary-nested",
            &include_bytes!("fixtures/plistlib-binary-nested.plist")[..],
        ),
        (
            "binary-uid",
            &include_bytes!("fixtures/plistlib-binary-uid.plist")[..],
        ),
    ]
}

#[test]
fn truncated_xml_is_unexpected_eof_at_every_offset() {
    for (name, doc) in fixtures().into_iter().filter(|(n, _)| n.starts_with("xml")) {
        let end = doc.windows(8).rposition(|w| w == b"</plist>").unwrap() + 8;
        for cut in 0..end {
            let err = pippin_plist::from_bytes(&doc[..cut])
                .expect_err(&format!("{name} cut at {cut} decoded"));
            assert_eq!(
                err.kind(),
                ErrorKind::UnexpectedEof,
                "{name} cut at {cut}: {err}"
            );
        }
        for cut in end..=doc.len() {
            assert!(
                pippin_plist::from_bytes(&doc[..cut]).is_ok(),
                "{name} cut at {cut}"
            );
        }
    }
}

#[test]
fn truncated_binary_errors_at_every_offset() {
    for (name, doc) in fixtures()
        .into_iter()
        .filter(|(n, _)| n.starts_with("binary"))
    {
        for cut in 0..doc.len() {
            let err = pippin_plist::from_bytes(&doc[..cut])
                .expect_err(&format!("{name} cut at {cut} decoded"));
            assert!(
                matches!(err.kind(), ErrorKind::UnexpectedEof | ErrorKind::Malformed),
                "{name} cut at {cut}: {err}"
            );
        }
    }
}

#[test]
fn corrupted_bytes_never_panic() {
    // Every single-byte change to each fixture either decodes or errors.
    for (_, doc) in fixtures() {
        let mut d = doc.to_vec();
        for i in 0..d.len() {
            let orig = d[i];
            for x in [
                0x00,
                0xFF,
                orig ^ 0x01,
                orig ^ 0x80,
                b'<',
                b'&',
                0x0F,
                0x5F,
                0xAF,
                0xDF,
            ] {
                d[i] = x;
                let _ = pippin_plist::from_bytes(&d);
            }
            d[i] = orig;
        }
    }
}

#[test]
fn deep_xml_nesting_is_too_deep_quickly() {
    let n = 100_000;
    let doc = "<array>".repeat(n) + &"</array>".repeat(n);
    let t = Instant::now();
    assert_eq!(xml_kind(&doc), ErrorKind::TooDeep);
    let doc = "<dict><key>k</key>".repeat(n);
    assert_eq!(xml_kind(&doc), ErrorKind::TooDeep);
    // Unclosed and unbalanced: still bounded by depth first.
    let doc = format!("<plist>{}", "<array>".repeat(n));
    assert_eq!(xml_kind(&doc), ErrorKind::TooDeep);
    assert!(t.elapsed() < Duration::from_secs(2));
}

#[test]
fn depth_limit_is_exact() {
    let nest = |n: usize| "<array>".repeat(n) + &"</array>".repeat(n);
    let mut limits = Limits::default();
    limits.max_depth(10);
    assert!(pippin_plist::from_bytes_with(nest(10).as_bytes(), &limits).is_ok());
    let err = pippin_plist::from_bytes_with(nest(11).as_bytes(), &limits).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TooDeep);
    // The same depth in binary.
    let v = pippin_plist::from_bytes(nest(11).as_bytes()).unwrap();
    let bin = pippin_plist::to_binary_vec(&v).unwrap();
    assert_eq!(
        pippin_plist::from_bytes_with(&bin, &limits)
            .unwrap_err()
            .kind(),
        ErrorKind::TooDeep
    );
    limits.max_depth(11);
    assert!(pippin_plist::from_bytes_with(&bin, &limits).is_ok());
}

#[test]
fn deep_binary_nesting_is_too_deep_quickly() {
    // 100,000 arrays, each holding the next.
    let n = 100_000u32;
    let mut objects: Vec<Vec<u8>> = (1..=n)
        .map(|i| {
            let mut o = vec![0xA1];
            o.extend_from_slice(&i.to_be_bytes());
            o
        })
        .collect();
    objects.push(vec![0x09]);
    let doc = bplist(&objects, 4, 0);
    let t = Instant::now();
    assert_eq!(bin_kind(&doc), ErrorKind::TooDeep);
    assert!(t.elapsed() < Duration::from_secs(2));
}

#[test]
fn billion_laughs_is_not_expanded() {
    let doc = r#"<?xml version="1.0"?>
<!DOCTYPE plist [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
 <!-- a comment with ]> inside -->
]>
<plist version="1.0"><string>&lol9;</string></plist>"#;
    let err = pippin_plist::from_bytes(doc.as_bytes()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UndefinedEntity);
    assert_eq!(&doc[err.offset()..err.offset() + 6], "&lol9;");
    // The DOCTYPE alone is harmless: it is skipped.
    let harmless = doc.replace("&lol9;", "ok");
    assert_eq!(
        pippin_plist::from_bytes(harmless.as_bytes()).unwrap(),
        Value::from("ok")
    );
}

#[test]
fn external_and_undefined_entities_are_rejected() {
    let xxe = r#"<?xml version="1.0"?><!DOCTYPE plist [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<plist><string>&xxe;</string></plist>"#;
    assert_eq!(xml_kind(xxe), ErrorKind::UndefinedEntity);
    assert_eq!(
        xml_kind("<plist><string>&nbsp;</string></plist>"),
        ErrorKind::UndefinedEntity
    );
    assert_eq!(
        xml_kind("<plist><data>&x;</data></plist>"),
        ErrorKind::UndefinedEntity
    );
    assert_eq!(
        xml_kind("<plist><dict><key>&copy;</key><true/></dict></plist>"),
        ErrorKind::UndefinedEntity
    );
    assert_eq!(
        xml_kind("<plist><string>&#0x41;</string></plist>"),
        ErrorKind::Malformed
    );
    assert_eq!(
        xml_kind("<plist><string>&;</string></plist>"),
        ErrorKind::Malformed
    );
}

#[test]
fn malformed_xml() {
    for doc in [
        "<plist><dict><key>a</key></dict></plist>",
        "<plist><dict><true/></dict></plist>",
        "<plist><dict><key>a</key><key>b</key><true/></dict></plist>",
        "<plist><array></dict></plist>",
        "<plist><true/></plist><true/>",
        "<plist><integer>12a</integer></plist>",
        "<plist><integer>99999999999999999999999999999999999999999</integer></plist>",
        "<plist><real>1,5</real></plist>",
        "<plist><date>2024-02-30T00:00:00Z</date></plist>",
        "<plist><data>QQ=Q</data></plist>",
        "<plist><data>Q</data></plist>",
        "<plist><data>Base64=</data></plist>",
        "<plist><unknown/></plist>",
        "<Plist><true/></Plist>",
        "text<plist><true/></plist>",
        "<plist><string>unterminated</plist>",
        "<plist><string attr='1'>x</string></plist>extra",
    ] {
        assert_eq!(xml_kind(doc), ErrorKind::Malformed, "{doc}");
    }
    assert_eq!(
        pippin_plist::from_bytes(b"<plist><string>\xC0\x80</string></plist>")
            .unwrap_err()
            .kind(),
        ErrorKind::Malformed
    );
    assert_eq!(
        pippin_plist::from_bytes(b"\xFE\xFF\x00<\x00p")
            .unwrap_err()
            .kind(),
        ErrorKind::Malformed
    );
}

#[test]
fn over_limit_input() {
    let mut limits = Limits::default();
    limits.max_input_len(64);
    let xml = format!("<plist><string>{}</string></plist>", "x".repeat(64));
    let err = pippin_plist::from_bytes_with(xml.as_bytes(), &limits).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TooLarge);
    let bin = pippin_plist::to_binary_vec(&Value::from("x".repeat(64))).unwrap();
    let err = pippin_plist::from_bytes_with(&bin, &limits).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TooLarge);
}

#[test]
fn too_many_values() {
    let mut limits = Limits::default();
    limits.max_values(100);
    let xml = format!("<plist><array>{}</array></plist>", "<true/>".repeat(100));
    let err = pippin_plist::from_bytes_with(xml.as_bytes(), &limits).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TooManyValues);
    let v = pippin_plist::from_bytes(xml.as_bytes()).unwrap();
    let bin = pippin_plist::to_binary_vec(&v).unwrap();
    let err = pippin_plist::from_bytes_with(&bin, &limits).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TooManyValues);
}

#[test]
fn exponential_dag_is_bounded() {
    // Object i is an array of two references to object i + 1: 2^64 paths.
    let levels = 64u8;
    let mut objects: Vec<Vec<u8>> = (0..levels).map(|i| vec![0xA2, i + 1, i + 1]).collect();
    objects.push(vec![0x09]);
    let doc = bplist(&objects, 1, 0);
    let t = Instant::now();
    assert_eq!(bin_kind(&doc), ErrorKind::TooManyValues);
    assert!(t.elapsed() < Duration::from_secs(10));
    // Within tighter limits, the same file fails at once.
    let mut limits = Limits::default();
    limits.max_values(1000);
    let err = pippin_plist::from_bytes_with(&doc, &limits).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TooManyValues);
    // A legal, small DAG decodes, sharing expanded.
    let objects = vec![vec![0xA2, 1, 1], vec![0xA2, 2, 2], vec![0x5_1, b'x']];
    let v = pippin_plist::from_bytes(&bplist(&objects, 1, 0)).unwrap();
    let leaf = Value::Array(vec!["x".into(), "x".into()]);
    assert_eq!(v, Value::Array(vec![leaf.clone(), leaf]));
}

#[test]
fn shared_data_expansion_is_bounded() {
    // One 10 KiB data object referenced 200 times: 2 MB decoded from 10 KB.
    let mut data = vec![0x4F, 0x11, 0x28, 0x00];
    data.extend(std::iter::repeat_n(0xAB, 10_240));
    let mut array = vec![0xAF, 0x10, 200];
    array.extend(std::iter::repeat_n(1u8, 200));
    let doc = bplist(&[array, data], 1, 0);
    let mut limits = Limits::default();
    limits.max_input_len(20_000);
    let err = pippin_plist::from_bytes_with(&doc, &limits).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TooLarge);
    // With room for it, it decodes.
    assert_eq!(
        pippin_plist::from_bytes(&doc)
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        200
    );
}

#[test]
fn cycles() {
    // An array holding itself.
    assert_eq!(bin_kind(&bplist(&[vec![0xA1, 0]], 1, 0)), ErrorKind::Cycle);
    // A dictionary whose value holds the dictionary.
    let objects = vec![
        vec![0xD1, 1, 2],
        vec![0x51, b'k'],
        vec![0xA2, 3, 0],
        vec![0x08],
    ];
    assert_eq!(bin_kind(&bplist(&objects, 1, 0)), ErrorKind::Cycle);
    // Two arrays holding each other.
    let objects = vec![vec![0xA1, 1], vec![0xA1, 0]];
    assert_eq!(bin_kind(&bplist(&objects, 1, 0)), ErrorKind::Cycle);
    // Siblings sharing an object is not a cycle.
    let objects = vec![vec![0xA2, 1, 1], vec![0xA0]];
    assert!(pippin_plist::from_bytes(&bplist(&objects, 1, 0)).is_ok());
}

#[test]
fn huge_declared_lengths() {
    // Counts far beyond the file, in every sized type, with every int width.
    for m in [0x40u8, 0x50, 0x60, 0xA0, 0xD0] {
        for count in [
            vec![0x10, 0xFF],
            vec![0x11, 0xFF, 0xFF],
            vec![0x12, 0xFF, 0xFF, 0xFF, 0xFF],
            vec![0x13, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF],
            vec![0x13, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF],
            vec![0x13, 0x40, 0, 0, 0, 0, 0, 0, 0],
        ] {
            let mut o = vec![m | 0x0F];
            o.extend(count);
            o.extend_from_slice(b"abcd");
            assert_eq!(
                bin_kind(&bplist(&[o], 1, 0)),
                ErrorKind::Malformed,
                "{m:#x}"
            );
        }
        // A bad count int.
        let o = vec![
            m | 0x0F,
            0x14,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            1,
        ];
        assert_eq!(bin_kind(&bplist(&[o], 1, 0)), ErrorKind::Malformed);
        let o = vec![m | 0x0F, 0x23, 0, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(bin_kind(&bplist(&[o], 1, 0)), ErrorKind::Malformed);
    }
    // Nibble counts past the object area.
    assert_eq!(
        bin_kind(&bplist(&[vec![0x4E, 1, 2]], 1, 0)),
        ErrorKind::Malformed
    );
    assert_eq!(
        bin_kind(&bplist(&[vec![0x6E, 0, 0x41]], 1, 0)),
        ErrorKind::Malformed
    );
}

fn with_trailer(objects: &[Vec<u8>], edit: impl Fn(&mut [u8])) -> Vec<u8> {
    let mut doc = bplist(objects, 1, 0);
    let n = doc.len();
    edit(&mut doc[n - 32..]);
    doc
}

#[test]
fn bad_trailers() {
    let objs = [vec![0x09]];
    assert!(pippin_plist::from_bytes(&bplist(&objs, 1, 0)).is_ok());
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("offset size 0", with_trailer(&objs, |t| t[6] = 0)),
        ("offset size 9", with_trailer(&objs, |t| t[6] = 9)),
        ("ref size 3", with_trailer(&objs, |t| t[7] = 3)),
        ("ref size 0", with_trailer(&objs, |t| t[7] = 0)),
        (
            "no objects",
            with_trailer(&objs, |t| t[8..16].copy_from_slice(&0u64.to_be_bytes())),
        ),
        (
            "huge object count",
            with_trailer(&objs, |t| t[8..16].copy_from_slice(&u64::MAX.to_be_bytes())),
        ),
        (
            "object count past the table",
            with_trailer(&objs, |t| t[15] = 2),
        ),
        (
            "top object out of range",
            with_trailer(&objs, |t| t[23] = 1),
        ),
        (
            "top object huge",
            with_trailer(&objs, |t| {
                t[16..24].copy_from_slice(&u64::MAX.to_be_bytes())
            }),
        ),
        ("table in the header", with_trailer(&objs, |t| t[31] = 4)),
        (
            "table at the header's end",
            with_trailer(&objs, |t| t[31] = 8),
        ),
        ("table in the trailer", with_trailer(&objs, |t| t[31] = 20)),
        (
            "table huge",
            with_trailer(&objs, |t| {
                t[24..32].copy_from_slice(&u64::MAX.to_be_bytes())
            }),
        ),
    ];
    for (what, doc) in cases {
        assert_eq!(bin_kind(&doc), ErrorKind::Malformed, "{what}");
    }
    // Offsets pointing outside the object area.
    let mut doc = bplist(&objs, 1, 0);
    let table = doc.len() - 32 - 8;
    for bad in [0u64, 7, 9, u64::MAX, table as u64] {
        doc[table..table + 8].copy_from_slice(&bad.to_be_bytes());
        assert_eq!(bin_kind(&doc), ErrorKind::Malformed, "offset {bad}");
    }
    // Wrong magic, and too short to hold a trailer.
    assert_eq!(bin_kind(b"bplist00\x09"), ErrorKind::UnexpectedEof);
    let mut wrong = bplist(&objs, 1, 0);
    wrong[7] = b'1';
    assert_eq!(
        pippin_plist::from_binary(&wrong, &Limits::default())
            .unwrap_err()
            .kind(),
        ErrorKind::Malformed
    );
}

#[test]
fn bad_objects() {
    let one = |o: Vec<u8>| bin_kind(&bplist(&[o], 1, 0));
    assert_eq!(one(vec![0x00]), ErrorKind::Malformed, "null");
    assert_eq!(one(vec![0x0F]), ErrorKind::Malformed, "fill");
    assert_eq!(one(vec![0x0C]), ErrorKind::Malformed, "URL");
    assert_eq!(one(vec![0x15, 0]), ErrorKind::Malformed, "32-byte int");
    assert_eq!(one(vec![0x21, 0, 0]), ErrorKind::Malformed, "2-byte real");
    assert_eq!(
        one(vec![0x34, 0, 0, 0, 0, 0, 0, 0, 0]),
        ErrorKind::Malformed,
        "date marker"
    );
    assert_eq!(
        one([vec![0x33], f64::NAN.to_be_bytes().to_vec()].concat()),
        ErrorKind::Malformed,
        "NaN date"
    );
    assert_eq!(one(vec![0x70]), ErrorKind::Malformed, "marker 0x70");
    assert_eq!(one(vec![0xC1, 0]), ErrorKind::Malformed, "set");
    assert_eq!(
        one(vec![0x52, b'a', 0xE9]),
        ErrorKind::Malformed,
        "non-ASCII in an ASCII string"
    );
    assert_eq!(
        one(vec![0x61, 0xD8, 0x00]),
        ErrorKind::Malformed,
        "lone high surrogate"
    );
    assert_eq!(
        one(vec![0x61, 0xDC, 0x00]),
        ErrorKind::Malformed,
        "lone low surrogate"
    );
    assert_eq!(
        one(vec![0x62, 0xDC, 0x00, 0xD8, 0x00]),
        ErrorKind::Malformed,
        "reversed pair"
    );
    // 16-byte ints: in range when the high half is zero or a sign extension.
    let int16 = |hi: u64, lo: u64| {
        let mut o = vec![0x14];
        o.extend_from_slice(&hi.to_be_bytes());
        o.extend_from_slice(&lo.to_be_bytes());
        pippin_plist::from_bytes(&bplist(&[o], 1, 0)).map_err(|e| e.kind())
    };
    assert_eq!(int16(0, u64::MAX), Ok(Value::from(u64::MAX)));
    assert_eq!(int16(u64::MAX, u64::MAX), Ok(Value::from(-1)));
    assert_eq!(int16(u64::MAX, 1 << 63), Ok(Value::from(i64::MIN)));
    assert_eq!(int16(1, 0), Err(ErrorKind::Malformed));
    assert_eq!(int16(u64::MAX, 0), Err(ErrorKind::Malformed));
    // UIDs up to 16 bytes, as long as the value fits 64 bits.
    let mut uid = vec![0x8F];
    uid.extend_from_slice(&[0; 8]);
    uid.extend_from_slice(&7u64.to_be_bytes());
    assert_eq!(
        pippin_plist::from_bytes(&bplist(&[uid.clone()], 1, 0)),
        Ok(Value::Uid(7))
    );
    uid[1] = 1;
    assert_eq!(one(uid), ErrorKind::Malformed);
}

#[test]
fn wrong_key_types() {
    for key in [
        vec![0x10, 1],
        vec![0x41, b'k'],
        vec![0xA0],
        vec![0xD0],
        vec![0x09],
        vec![0x80, 1],
    ] {
        let objects = vec![vec![0xD1, 1, 2], key, vec![0x09]];
        assert_eq!(bin_kind(&bplist(&objects, 1, 0)), ErrorKind::Malformed);
    }
    // A key reference out of range.
    let objects = vec![vec![0xD1, 9, 1], vec![0x09]];
    assert_eq!(bin_kind(&bplist(&objects, 1, 0)), ErrorKind::Malformed);
    // UTF-16 keys are fine; duplicates keep the last value.
    let objects = vec![
        vec![0xD2, 1, 1, 2, 3],
        vec![0x61, 0x00, 0xE9],
        vec![0x08],
        vec![0x09],
    ];
    let v = pippin_plist::from_bytes(&bplist(&objects, 1, 0)).unwrap();
    assert_eq!(v.get("é"), Some(&Value::Boolean(true)));
    assert_eq!(v.as_dictionary().unwrap().len(), 1);
}

//! Property tests: every value survives encoding and decoding in both
//! formats.

mod common;

use pippin_plist::{Date, Dictionary, Integer, Limits, Value};
use proptest::prelude::*;

fn integer() -> impl Strategy<Value = Integer> {
    prop_oneof![
        any::<i64>().prop_map(Integer::from),
        any::<u64>().prop_map(Integer::from),
        (-300i64..300).prop_map(Integer::from),
        Just(Integer::from(i64::MIN)),
        Just(Integer::from(u64::MAX)),
    ]
}

fn finite_real() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>().prop_filter("finite", |r| r.is_finite()),
        prop::num::f64::NORMAL | prop::num::f64::SUBNORMAL | prop::num::f64::ZERO,
        (-1000i32..1000).prop_map(|i| f64::from(i) / 4.0),
    ]
}

/// Dates: any finite instant for binary; whole seconds in a wide range for
/// XML (which has no fraction).
fn date(xml: bool) -> BoxedStrategy<Date> {
    if xml {
        (-100_000_000_000i64..100_000_000_000)
            .prop_map(|s| Date::from_seconds_since_2001(s as f64).unwrap())
            .boxed()
    } else {
        any::<f64>()
            .prop_filter_map("finite", Date::from_seconds_since_2001)
            .boxed()
    }
}

fn leaf(xml: bool) -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<bool>().prop_map(Value::Boolean),
        prop::collection::vec(any::<u8>(), 0..80).prop_map(Value::Data),
        date(xml).prop_map(Value::Date),
        integer().prop_map(Value::Integer),
        finite_real().prop_map(Value::Real),
        any::<String>().prop_map(Value::String),
        "[a-zA-Z0-9 <>&'\"\r\n\t]{0,40}".prop_map(Value::String),
        any::<u64>().prop_map(Value::Uid),
    ]
}

fn value(xml: bool) -> impl Strategy<Value = Value> {
    leaf(xml).prop_recursive(5, 96, 10, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..10).prop_map(Value::Array),
            prop::collection::vec((any::<String>(), inner), 0..10)
                .prop_map(|kv| Value::Dictionary(kv.into_iter().collect::<Dictionary>())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn binary_roundtrip(v in value(false)) {
        let bin = pippin_plist::to_binary_vec(&v).unwrap();
        prop_assert!(bin.starts_with(b"bplist00"));
        let back = pippin_plist::from_bytes(&bin).unwrap();
        prop_assert_eq!(&back, &v);
        // Encoding is deterministic.
        prop_assert_eq!(pippin_plist::to_binary_vec(&back).unwrap(), bin);
    }

    #[test]
    fn xml_roundtrip(v in value(true)) {
        let xml = pippin_plist::to_xml_vec(&v);
        let back = pippin_plist::from_xml(&xml, &Limits::default())
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&xml)));
        prop_assert_eq!(&back, &v);
        prop_assert_eq!(pippin_plist::to_xml_vec(&back), xml);
    }

    #[test]
    fn xml_dates_keep_whole_seconds(secs in any::<f64>().prop_filter("finite", |s| s.is_finite() && s.abs() < 1e15)) {
        let d = Date::from_seconds_since_2001(secs).unwrap();
        let back = pippin_plist::from_bytes(&pippin_plist::to_xml_vec(&Value::Date(d))).unwrap();
        prop_assert_eq!(back.as_date().unwrap().seconds_since_2001(), secs.floor());
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = pippin_plist::from_bytes(&data);
        let mut bin = b"bplist00".to_vec();
        bin.extend_from_slice(&data);
        let _ = pippin_plist::from_bytes(&bin);
    }

    #[test]
    fn xml_like_bytes_never_panic(parts in prop::collection::vec(prop_oneof![
        Just("<plist>"), Just("</plist>"), Just("<dict>"), Just("</dict>"), Just("<array>"),
        Just("</array>"), Just("<key>"), Just("</key>"), Just("<string>"), Just("</string>"),
        Just("<data>"), Just("</data>"), Just("<integer>"), Just("</integer>"), Just("<true/>"),
        Just("<real>"), Just("</real>"), Just("<date>"), Just("</date>"), Just("<dict/>"),
        Just("QUJD"), Just("="), Just("12"), Just("&amp;"), Just("&#x41;"), Just("<!--"),
        Just("-->"), Just("<![CDATA["), Just("]]>"), Just("<?x "), Just("?>"), Just(" "),
        Just("\r\n"), Just("é"), Just("2001-01-01T00:00:00Z"), Just("nan"), Just("<"),
    ], 0..40)) {
        let doc: String = parts.concat();
        let _ = pippin_plist::from_bytes(doc.as_bytes());
    }
}

#[test]
fn specials_roundtrip() {
    let mut d = Dictionary::new();
    d.insert("nan", f64::NAN);
    d.insert("inf", f64::INFINITY);
    d.insert("-inf", f64::NEG_INFINITY);
    d.insert("-0", -0.0);
    d.insert("", "");
    d.insert("CR", "a\rb\r\nc");
    d.insert("nul", "\0\u{1}");
    d.insert("uid", Value::Uid(u64::MAX));
    let v = Value::Dictionary(d);
    for back in [
        pippin_plist::from_bytes(&pippin_plist::to_binary_vec(&v).unwrap()).unwrap(),
        pippin_plist::from_bytes(&pippin_plist::to_xml_vec(&v)).unwrap(),
    ] {
        assert!(common::same(&back, &v), "{back:?}");
        assert!(back.get("-0").unwrap().as_f64().unwrap().is_sign_negative());
    }
}

#[test]
fn deep_values_encode_without_recursion() {
    // Deeper than any decoder limit; the encoders must not recurse.
    let mut v = Value::Boolean(true);
    for _ in 0..100_000 {
        v = Value::Array(vec![v]);
    }
    let bin = pippin_plist::to_binary_vec(&v).unwrap();
    let err = pippin_plist::from_bytes(&bin).unwrap_err();
    assert_eq!(err.kind(), pippin_plist::ErrorKind::TooDeep);
    // Dismantle iteratively: a recursive drop this deep would overflow.
    let mut cur = v;
    while let Value::Array(mut items) = cur {
        cur = items.pop().unwrap_or(Value::Boolean(false));
    }
}

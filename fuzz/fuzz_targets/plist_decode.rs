//! Property-list decoding: any bytes, XML or binary. Whatever decodes must
//! re-encode in both formats and decode again to the same value (up to what
//! a format cannot hold: XML dates have whole seconds).
#![no_main]

use libfuzzer_sys::fuzz_target;
use pippin_plist::{Limits, Value};

fuzz_target!(|data: &[u8]| {
    let mut limits = Limits::default();
    limits
        .max_input_len(1 << 16)
        .max_depth(32)
        .max_values(20_000);
    let Ok(value) = pippin_plist::from_bytes_with(data, &limits) else {
        return;
    };

    let bin = pippin_plist::to_binary_vec(&value).expect("every value encodes");
    let back =
        pippin_plist::from_binary(&bin, &Limits::default()).expect("our binary output decodes");
    assert!(
        same(&value, &back, false),
        "binary roundtrip changed the value"
    );

    let xml = pippin_plist::to_xml_vec(&value);
    let back = pippin_plist::from_xml(&xml, &Limits::default()).expect("our XML output decodes");
    assert!(same(&value, &back, true), "XML roundtrip changed the value");
});

/// Equality up to NaN (equal to itself here) and, after XML, dates cut to
/// whole seconds and `CF$UID` dictionaries read as UIDs.
fn same(a: &Value, b: &Value, xml: bool) -> bool {
    match (a, b) {
        (Value::Real(x), Value::Real(y)) => x == y || (x.is_nan() && y.is_nan()),
        (Value::Date(x), Value::Date(y)) if xml => {
            let (x, y) = (x.seconds_since_2001(), y.seconds_since_2001());
            // Beyond ~1e37 seconds the written year saturates.
            x.floor() == y || x.abs() >= 1e37
        }
        (Value::Dictionary(d), Value::Uid(u)) if xml => {
            d.len() == 1 && d.get("CF$UID").and_then(Value::as_u64) == Some(*u)
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same(p, q, xml))
        }
        (Value::Dictionary(x), Value::Dictionary(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y.iter())
                    .all(|((k1, v1), (k2, v2))| k1 == k2 && same(v1, v2, xml))
        }
        _ => a == b,
    }
}

//! Interoperability with an independent implementation, Python's `plistlib`,
//! in both directions and both formats.
//!
//! Values are compared in the canonical form of
//! `tests/support/plist_canon.py` (and `common::canon` on this side).

mod common;

use common::{Rng, canon, python_prelude, random_value};
use pippin_plist::{Date, Dictionary, Value};
use serde_json::json;

/// Values chosen to cover the formats' corners.
fn handpicked() -> Vec<Value> {
    let mut d = Dictionary::new();
    d.insert("MessageType", "TokenUpdate");
    d.insert("Token", Value::Data((0..32).collect()));
    d.insert("AwaitingConfiguration", false);
    d.insert("big", u64::MAX);
    d.insert("small", i64::MIN);
    d.insert("ünïcödé ключ 鍵 🔑", "值 <&> ]]> \r\n end");
    d.insert("date", Date::from_unix_seconds(1_700_000_000));
    d.insert(
        "early",
        Date::parse_iso8601("1904-01-01T00:00:00Z").unwrap(),
    );
    d.insert("uid", Value::Uid(42));
    d.insert(
        "reals",
        Value::Array(vec![
            Value::Real(0.1),
            Value::Real(-0.0),
            Value::Real(f64::NAN),
            Value::Real(f64::INFINITY),
            Value::Real(f64::NEG_INFINITY),
            Value::Real(5e-324),
            Value::Real(f64::MAX),
            Value::Real(1e100),
        ]),
    );
    let many = Value::Array((0..400).map(|i| Value::from(format!("item {i}"))).collect());
    let wide = Value::Dictionary(
        [("blob", Value::Data(vec![7; 70_000])), ("items", many)]
            .into_iter()
            .collect(),
    );
    vec![
        Value::Dictionary(d),
        wide,
        Value::from(""),
        Value::Array(vec![]),
        Value::Dictionary(Dictionary::new()),
        Value::from(-1),
        Value::Data(vec![]),
    ]
}

#[test]
fn python_reads_what_we_write() {
    if !test_support::require_python("python_reads_what_we_write", &["plistlib"]) {
        return;
    }
    let mut values = handpicked();
    let mut rng = Rng(0x5EED_1234_ABCD_0001);
    values.extend((0..300).map(|_| random_value(&mut rng, 4)));

    let payload: Vec<serde_json::Value> = values
        .iter()
        .map(|v| {
            json!({
                "xml": String::from_utf8(pippin_plist::to_xml_vec(v)).unwrap(),
                "bin": common::hex(&pippin_plist::to_binary_vec(v).unwrap()),
            })
        })
        .collect();
    let code = python_prelude()
        + r#"
out = []
for case in json.load(sys.stdin):
    x = plistlib.loads(case["xml"].encode("utf-8"), fmt=plistlib.FMT_XML)
    b = plistlib.loads(bytes.fromhex(case["bin"]), fmt=plistlib.FMT_BINARY)
    out.append([canon(x), canon(b)])
print(json.dumps(out))
"#;
    let stdout =
        test_support::python_ok(&code, serde_json::to_string(&payload).unwrap().as_bytes());
    let theirs: Vec<(serde_json::Value, serde_json::Value)> =
        serde_json::from_slice(&stdout).unwrap();
    assert_eq!(theirs.len(), values.len());
    for (i, (v, (x, b))) in values.iter().zip(theirs).enumerate() {
        assert_eq!(x, canon(v, true), "value {i} as XML: {v:?}");
        assert_eq!(b, canon(v, false), "value {i} as binary: {v:?}");
    }
}

#[test]
fn we_read_what_python_writes() {
    if !test_support::require_python("we_read_what_python_writes", &["plistlib"]) {
        return;
    }
    let code = python_prelude()
        + r#"
import random
rnd = random.Random(20240501)
E = datetime.datetime

def rstr():
    alphabet = "aZ09 \t\n<>&'\"]];é ß中😀𝄞\u200b"
    return "".join(rnd.choice(alphabet) for _ in range(rnd.choice([0, 1, 5, 14, 15, 16, 40])))

def rval(depth, uid):
    k = rnd.randrange(10 if depth else 8)
    if k == 0: return rnd.choice([True, False])
    if k == 1: return bytes(rnd.randrange(256) for _ in range(rnd.choice([0, 3, 15, 16, 100])))
    if k == 2: return E(2001, 1, 1) + datetime.timedelta(microseconds=rnd.randrange(-3 * 10**15, 3 * 10**15))
    if k == 3: return rnd.choice([0, 1, -1, 255, 256, 2**63 - 1, -2**63, 2**64 - 1, rnd.randrange(-2**63, 2**64)])
    if k == 4: return rnd.choice([0.0, -0.0, 0.1, 1e100, 5e-324, float("inf"), float("-inf"), float("nan"), rnd.uniform(-1e9, 1e9)])
    if k == 5: return rstr()
    if k == 6: return plistlib.UID(rnd.randrange(2**64)) if uid else rstr()
    if k == 7: return rstr()
    if k == 8: return [rval(depth - 1, uid) for _ in range(rnd.randrange(6))]
    return {rstr(): rval(depth - 1, uid) for _ in range(rnd.randrange(6))}

handpicked = [
    {"nested": {"a": [1, 2, {"b": [[], {}]}]}, "unicode": "日本語 \U0001F600 café", "ints": [2**64 - 1, -2**63, 0]},
    {"bytes": bytes(range(256)), "date": E(2024, 2, 29, 23, 59, 59), "floats": [1.5, -2.5e-300, 1.7976931348623157e308]},
    [E(1900, 1, 1), E(2100, 12, 31, 23, 59, 59), E(2001, 1, 1)],
    {"CF$UID": 5},
    {"many": [str(i) for i in range(300)], "blob": bytes(70000)},
    "just a string", 12, 2**64 - 1, -2**63, True, b"",
]
cases = []
for i, v in enumerate(handpicked + [rval(4, False) for _ in range(150)]):
    for fmt, name in [(plistlib.FMT_XML, "xml"), (plistlib.FMT_BINARY, "bin")]:
        for sort_keys in [True, False]:
            data = plistlib.dumps(v, fmt=fmt, sort_keys=sort_keys)
            cases.append({"fmt": name, "data": data.hex(), "canon": canon(plistlib.loads(data))})
for i in range(100):
    v = rval(4, True)
    data = plistlib.dumps(v, fmt=plistlib.FMT_BINARY)
    cases.append({"fmt": "bin", "data": data.hex(), "canon": canon(plistlib.loads(data))})
print(json.dumps(cases))
"#;
    let stdout = test_support::python_ok(&code, b"");
    let cases: Vec<serde_json::Value> = serde_json::from_slice(&stdout).unwrap();
    assert!(cases.len() > 600);
    for (i, case) in cases.iter().enumerate() {
        let hex = case["data"].as_str().unwrap();
        let data: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|j| u8::from_str_radix(&hex[j..j + 2], 16).unwrap())
            .collect();
        let fmt = case["fmt"].as_str().unwrap();
        let v = pippin_plist::from_bytes(&data).unwrap_or_else(|e| {
            panic!("case {i} ({fmt}): {e}\n{}", String::from_utf8_lossy(&data))
        });
        // plistlib reads `CF$UID` dictionaries in XML as dictionaries.
        assert_eq!(canon(&v, fmt == "xml"), case["canon"], "case {i} ({fmt})");
    }
}

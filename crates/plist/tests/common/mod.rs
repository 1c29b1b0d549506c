//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use pippin_plist::{Date, Dictionary, Integer, Value};
use serde_json::json;

/// This crate's folder.
pub(crate) fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `tests/support`, where `plist_canon.py` lives.
pub(crate) fn support_dir() -> PathBuf {
    crate_dir().join("tests").join("support")
}

/// Python source that imports `canon` from `tests/support/plist_canon.py`.
pub(crate) fn python_prelude() -> String {
    format!(
        "import sys, json, base64, plistlib, datetime\nsys.path.insert(0, {:?})\nfrom plist_canon import canon\n",
        support_dir().display().to_string()
    )
}

/// The canonical form of `v` (see `tests/support/plist_canon.py`).
///
/// With `xml`, the form of what an XML reader gives back: dates truncated to
/// whole seconds and UIDs as `CF$UID` dictionaries.
pub(crate) fn canon(v: &Value, xml: bool) -> serde_json::Value {
    match v {
        Value::Boolean(b) => json!(["bool", b]),
        Value::Integer(i) => json!(["int", i.to_string()]),
        Value::Real(r) if r.is_nan() => json!(["real", "nan"]),
        Value::Real(r) => json!(["real", r.to_bits().to_string()]),
        Value::String(s) => json!(["str", s]),
        Value::Data(d) => json!(["data", hex(d)]),
        Value::Date(d) => json!(["date", date_micros(*d, xml).to_string()]),
        Value::Uid(u) if xml => json!(["dict", [["CF$UID", ["int", u.to_string()]]]]),
        Value::Uid(u) => json!(["uid", u.to_string()]),
        Value::Array(a) => json!(["array", a.iter().map(|x| canon(x, xml)).collect::<Vec<_>>()]),
        Value::Dictionary(d) => json!([
            "dict",
            d.iter()
                .map(|(k, x)| json!([k, canon(x, xml)]))
                .collect::<Vec<_>>()
        ]),
    }
}

#[allow(clippy::cast_possible_truncation)]
fn date_micros(d: Date, xml: bool) -> i64 {
    let s = d.seconds_since_2001();
    if xml {
        s.floor() as i64 * 1_000_000
    } else {
        (s * 1e6).round() as i64
    }
}

pub(crate) fn hex(d: &[u8]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// Equality that treats NaN as equal to NaN (bit patterns aside).
pub(crate) fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Real(x), Value::Real(y)) => x == y || (x.is_nan() && y.is_nan()),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same(p, q))
        }
        (Value::Dictionary(x), Value::Dictionary(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y.iter())
                    .all(|((k1, v1), (k2, v2))| k1 == k2 && same(v1, v2))
        }
        _ => a == b,
    }
}

/// A binary plist assembled by hand from encoded objects, with 8-byte
/// offsets and the given reference size, for hostile-input tests.
pub(crate) fn bplist(objects: &[Vec<u8>], ref_size: u8, top: u64) -> Vec<u8> {
    let mut out = b"bplist00".to_vec();
    let mut offsets = Vec::new();
    for o in objects {
        offsets.push(out.len() as u64);
        out.extend_from_slice(o);
    }
    let table = out.len() as u64;
    for o in &offsets {
        out.extend_from_slice(&o.to_be_bytes());
    }
    out.extend_from_slice(&[0; 6]);
    out.push(8);
    out.push(ref_size);
    out.extend_from_slice(&(objects.len() as u64).to_be_bytes());
    out.extend_from_slice(&top.to_be_bytes());
    out.extend_from_slice(&table.to_be_bytes());
    out
}

/// A small deterministic pseudo-random generator (xorshift64*).
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    pub(crate) fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// Characters that every XML 1.0 reader accepts, from several scripts.
const PALETTE: &[char] = &[
    'a',
    'Z',
    '0',
    ' ',
    '\t',
    '\n',
    '\r',
    '<',
    '>',
    '&',
    '"',
    '\'',
    ']',
    ';',
    '#',
    'é',
    'ß',
    'Ω',
    'ж',
    '中',
    '日',
    '한',
    '\u{200B}',
    '\u{FEFF}',
    '😀',
    '𝄞',
    '\u{10FFFD}',
    '$',
    '=',
];

pub(crate) fn random_string(rng: &mut Rng) -> String {
    let n = match rng.below(10) {
        0 => 0,
        1 => 14 + rng.below(3) as usize,
        2 => 100 + rng.below(200) as usize,
        _ => rng.below(12) as usize,
    };
    (0..n).map(|_| *rng.pick(PALETTE)).collect()
}

pub(crate) fn random_integer(rng: &mut Rng) -> Integer {
    let v: i128 = match rng.below(8) {
        0 => i128::from(rng.below(256)),
        1 => i128::from(i64::MIN),
        2 => i128::from(u64::MAX),
        3 => i128::from(i64::MAX),
        4 => -i128::from(rng.below(1 << 40)),
        5 => i128::from(rng.next()),
        6 => i128::from(rng.next() as i64),
        _ => i128::from(rng.below(1 << 33)),
    };
    Integer::new(v).unwrap()
}

pub(crate) fn random_real(rng: &mut Rng) -> f64 {
    match rng.below(8) {
        0 => f64::from_bits(rng.next()),
        1 => *rng.pick(&[
            0.0,
            -0.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
            f64::MAX,
            f64::MIN_POSITIVE,
            5e-324,
        ]),
        2 => (rng.below(1000) as f64) / 8.0,
        _ => (rng.next() as i64 as f64) / 1e6,
    }
}

/// A date Python's `datetime` can hold (years 1900 to 2100), in whole
/// microseconds so that rounding agrees on both sides.
pub(crate) fn random_date(rng: &mut Rng) -> Date {
    let micros = rng.below(6_311_433_600_000_000) as i64 - 3_155_673_600_000_000;
    Date::from_seconds_since_2001(micros as f64 / 1e6).unwrap()
}

/// A random value tree, at most `depth` containers deep.
pub(crate) fn random_value(rng: &mut Rng, depth: usize) -> Value {
    let kinds = if depth == 0 { 8 } else { 10 };
    match rng.below(kinds) {
        0 => Value::Boolean(rng.below(2) == 1),
        1 => {
            let n = *rng.pick(&[0usize, 1, 2, 3, 14, 15, 16, 32, 300]);
            Value::Data((0..n).map(|_| rng.next() as u8).collect())
        }
        2 => Value::Date(random_date(rng)),
        3 => Value::Integer(random_integer(rng)),
        4 => Value::Real(random_real(rng)),
        5 | 6 => Value::String(random_string(rng)),
        7 => Value::Uid(if rng.below(2) == 0 {
            rng.below(300)
        } else {
            rng.next()
        }),
        8 => {
            let n = rng.below(6) as usize + usize::from(rng.below(8) == 0) * 20;
            Value::Array((0..n).map(|_| random_value(rng, depth - 1)).collect())
        }
        _ => {
            let n = rng.below(6) as usize;
            let mut d = Dictionary::new();
            for _ in 0..n {
                let k = random_string(rng);
                let v = random_value(rng, depth - 1);
                d.insert(k, v);
            }
            Value::Dictionary(d)
        }
    }
}

/// Every `*.plist` under `dir`, sorted.
pub(crate) fn files_with_ext(dir: &Path, exts: &[&str]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                todo.push(p);
            } else if p
                .extension()
                .and_then(|x| x.to_str())
                .is_some_and(|x| exts.contains(&x))
            {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

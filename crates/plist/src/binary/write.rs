//! Writing binary property lists.
//!
//! Two passes: the value tree is flattened into a numbered object list
//! (containers in pre-order, a dictionary's keys before its values, equal
//! scalars stored once), then the objects, the offset table and the trailer
//! are written with the smallest reference and offset sizes that fit.

use std::collections::HashMap;

use super::{HEADER_LEN, marker};
use crate::BINARY_MAGIC;
use crate::error::Result;
use crate::value::Value;

/// Appends the binary plist of `value` to `out`.
pub(crate) fn encode(value: &Value, out: &mut Vec<u8>) -> Result<()> {
    let objs = Flattener::default().run(value);
    write(&objs, out);
    Ok(())
}

/// One object of the file.
enum Obj<'a> {
    Bool(bool),
    Int(i128),
    Real(f64),
    Date(f64),
    Data(&'a [u8]),
    Str(&'a str),
    Uid(u64),
    Array(Vec<usize>),
    Dict(Vec<usize>, Vec<usize>),
}

/// What makes two scalar objects the same object.
#[derive(Eq, Hash, PartialEq)]
enum Key<'a> {
    Bool(bool),
    Int(i128),
    Real(u64),
    Date(u64),
    Data(&'a [u8]),
    Str(&'a str),
    Uid(u64),
}

/// A container whose items are being numbered.
enum Pending<'a> {
    Array {
        id: usize,
        items: std::slice::Iter<'a, Value>,
        refs: Vec<usize>,
    },
    Dict {
        id: usize,
        entries: indexmap::map::Iter<'a, String, Value>,
        keys: Vec<usize>,
        vals: Vec<usize>,
    },
}

impl Pending<'_> {
    fn add(&mut self, child: usize) {
        match self {
            Self::Array { refs, .. } => refs.push(child),
            Self::Dict { vals, .. } => vals.push(child),
        }
    }
}

#[derive(Default)]
struct Flattener<'a> {
    objs: Vec<Obj<'a>>,
    seen: HashMap<Key<'a>, usize>,
}

impl<'a> Flattener<'a> {
    /// The object list; the root is object 0.
    fn run(mut self, root: &'a Value) -> Vec<Obj<'a>> {
        let mut stack = Vec::new();
        if self.visit(root, &mut stack).is_some() {
            return self.objs;
        }
        while let Some(top) = stack.last_mut() {
            let next = match top {
                Pending::Array { items, .. } => items.next(),
                Pending::Dict { entries, .. } => entries.next().map(|(_, v)| v),
            };
            let done = match next {
                Some(v) => match self.visit(v, &mut stack) {
                    Some(id) => id,
                    None => continue,
                },
                None => match stack.pop() {
                    Some(Pending::Array { id, refs, .. }) => {
                        self.objs[id] = Obj::Array(refs);
                        id
                    }
                    Some(Pending::Dict { id, keys, vals, .. }) => {
                        self.objs[id] = Obj::Dict(keys, vals);
                        id
                    }
                    None => break,
                },
            };
            match stack.last_mut() {
                Some(parent) => parent.add(done),
                None => break,
            }
        }
        self.objs
    }

    /// Numbers a scalar (giving its number), or opens a container.
    fn visit(&mut self, v: &'a Value, stack: &mut Vec<Pending<'a>>) -> Option<usize> {
        let (key, obj) = match v {
            Value::Array(items) => {
                let id = self.reserve();
                stack.push(Pending::Array {
                    id,
                    items: items.iter(),
                    refs: Vec::with_capacity(items.len()),
                });
                return None;
            }
            Value::Dictionary(dict) => {
                let id = self.reserve();
                let keys = dict.keys().map(|k| self.string(k)).collect();
                stack.push(Pending::Dict {
                    id,
                    entries: dict.into_iter(),
                    keys,
                    vals: Vec::with_capacity(dict.len()),
                });
                return None;
            }
            Value::String(s) => return Some(self.string(s)),
            Value::Boolean(b) => (Key::Bool(*b), Obj::Bool(*b)),
            Value::Integer(i) => (Key::Int(i.as_i128()), Obj::Int(i.as_i128())),
            Value::Real(r) => (Key::Real(r.to_bits()), Obj::Real(*r)),
            Value::Date(d) => {
                let s = d.seconds_since_2001();
                (Key::Date(s.to_bits()), Obj::Date(s))
            }
            Value::Data(d) => (Key::Data(d), Obj::Data(d)),
            Value::Uid(u) => (Key::Uid(*u), Obj::Uid(*u)),
        };
        Some(self.intern(key, obj))
    }

    fn string(&mut self, s: &'a str) -> usize {
        self.intern(Key::Str(s), Obj::Str(s))
    }

    fn intern(&mut self, key: Key<'a>, obj: Obj<'a>) -> usize {
        let next = self.objs.len();
        let id = *self.seen.entry(key).or_insert(next);
        if id == next {
            self.objs.push(obj);
        }
        id
    }

    /// A number for a container, filled in when it closes.
    fn reserve(&mut self) -> usize {
        self.objs.push(Obj::Array(Vec::new()));
        self.objs.len() - 1
    }
}

/// Bytes needed for an unsigned value: 1, 2, 4 or 8.
fn uint_size(v: u64) -> usize {
    if v <= 0xFF {
        1
    } else if v <= 0xFFFF {
        2
    } else if v <= 0xFFFF_FFFF {
        4
    } else {
        8
    }
}

/// Appends the low `size` bytes of `v`, big-endian.
fn push_uint(out: &mut Vec<u8>, v: u64, size: usize) {
    out.extend_from_slice(&v.to_be_bytes()[8 - size..]);
}

/// Appends a marker with its count: in the low nibble if below 15, else
/// nibble `0xF` and an int object.
fn push_header(out: &mut Vec<u8>, m: u8, count: usize) {
    if count < 15 {
        // `count` fits the nibble.
        out.push(m | count as u8);
    } else {
        out.push(m | 0x0F);
        let count = count as u64;
        let size = uint_size(count);
        out.push(marker::INT | size.trailing_zeros() as u8);
        push_uint(out, count, size);
    }
}

fn push_refs(out: &mut Vec<u8>, refs: &[usize], ref_size: usize) {
    for &r in refs {
        push_uint(out, r as u64, ref_size);
    }
}

fn write(objs: &[Obj<'_>], out: &mut Vec<u8>) {
    let base = out.len();
    out.extend_from_slice(BINARY_MAGIC);
    let ref_size = uint_size(objs.len().saturating_sub(1) as u64);
    let mut offsets = Vec::with_capacity(objs.len());
    for obj in objs {
        offsets.push((out.len() - base) as u64);
        write_obj(obj, ref_size, out);
    }
    let table = (out.len() - base) as u64;
    let offset_size = uint_size(offsets.last().copied().unwrap_or(HEADER_LEN as u64));
    for &o in &offsets {
        push_uint(out, o, offset_size);
    }
    // Trailer: five unused bytes, the sort version, the sizes, the counts.
    out.extend_from_slice(&[0; 6]);
    out.push(offset_size as u8);
    out.push(ref_size as u8);
    out.extend_from_slice(&(objs.len() as u64).to_be_bytes());
    out.extend_from_slice(&0u64.to_be_bytes());
    out.extend_from_slice(&table.to_be_bytes());
}

fn write_obj(obj: &Obj<'_>, ref_size: usize, out: &mut Vec<u8>) {
    match obj {
        Obj::Bool(b) => out.push(if *b { marker::TRUE } else { marker::FALSE }),
        Obj::Int(v) => push_int(out, *v),
        Obj::Real(r) => {
            out.push(marker::REAL | 3);
            out.extend_from_slice(&r.to_be_bytes());
        }
        Obj::Date(d) => {
            out.push(marker::DATE);
            out.extend_from_slice(&d.to_be_bytes());
        }
        Obj::Data(d) => {
            push_header(out, marker::DATA, d.len());
            out.extend_from_slice(d);
        }
        Obj::Str(s) if s.is_ascii() => {
            push_header(out, marker::ASCII, s.len());
            out.extend_from_slice(s.as_bytes());
        }
        Obj::Str(s) => {
            let units = s.encode_utf16().count();
            push_header(out, marker::UTF16, units);
            out.reserve(units * 2);
            for u in s.encode_utf16() {
                out.extend_from_slice(&u.to_be_bytes());
            }
        }
        Obj::Uid(u) => {
            let size = uint_size(*u);
            out.push(marker::UID | (size - 1) as u8);
            push_uint(out, *u, size);
        }
        Obj::Array(refs) => {
            push_header(out, marker::ARRAY, refs.len());
            push_refs(out, refs, ref_size);
        }
        Obj::Dict(keys, vals) => {
            push_header(out, marker::DICT, keys.len());
            push_refs(out, keys, ref_size);
            push_refs(out, vals, ref_size);
        }
    }
}

/// An int object: negative values as 8 signed bytes, others in the fewest of
/// 1, 2, 4 or 8 bytes, values above `i64::MAX` in 16 bytes.
fn push_int(out: &mut Vec<u8>, v: i128) {
    if v < 0 || v > i128::from(i64::MAX) {
        if v < 0 {
            out.push(marker::INT | 3);
            // In `i64::MIN..0` for any `Integer`.
            out.extend_from_slice(&(v as i64).to_be_bytes());
        } else {
            out.push(marker::INT | 4);
            out.extend_from_slice(&v.to_be_bytes());
        }
        return;
    }
    let v = v as u64;
    let size = uint_size(v);
    out.push(marker::INT | size.trailing_zeros() as u8);
    push_uint(out, v, size);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::Dictionary;

    fn enc(v: &Value) -> Vec<u8> {
        let mut out = Vec::new();
        encode(v, &mut out).unwrap();
        out
    }

    #[test]
    fn matches_plistlib_bytes() {
        // plistlib.dumps(2**64 - 1, fmt=plistlib.FMT_BINARY)
        let expected = "62706c6973743030140000000000000000ffffffffffffffff08000000000000\
                        0101000000000000000100000000000000000000000000000019";
        let hex: String = enc(&Value::from(u64::MAX))
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(hex, expected);
    }

    #[test]
    fn shares_equal_scalars() {
        let mut d = Dictionary::new();
        d.insert("a", "a");
        d.insert(
            "b",
            Value::Array(vec!["a".into(), "b".into(), Value::from(1), Value::from(1)]),
        );
        let v = Value::Dictionary(d);
        let objs = Flattener::default().run(&v);
        // dict, "a", "b", array, 1
        assert_eq!(objs.len(), 5);
    }

    #[test]
    fn sizes_grow_with_content() {
        let big = Value::Array((0..300).map(|i| Value::from(i64::from(i))).collect());
        let out = enc(&big);
        let t = &out[out.len() - 32..];
        assert_eq!(t[7], 2, "ref size for 301 objects");
        assert_eq!(t[6], 2, "offset size past 255 bytes");
        let mut long = Vec::new();
        push_header(&mut long, marker::DATA, 300);
        assert_eq!(long, [0x4F, 0x11, 0x01, 0x2C]);
        let mut ints = Vec::new();
        for v in [0i128, 255, 256, 65_536, 1 << 32, -1, 1 << 63] {
            push_int(&mut ints, v);
        }
        let hex: String = ints.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "1000\
             10ff\
             110100\
             1200010000\
             130000000100000000\
             13ffffffffffffffff\
             1400000000000000008000000000000000"
        );
    }
}

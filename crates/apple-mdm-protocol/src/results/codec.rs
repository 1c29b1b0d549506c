//! The machinery shared by every result type: how one key of a dictionary is
//! read into a typed field and written back.
//!
//! A result is a tree of dictionaries. Each dictionary-shaped wire structure
//! implements [`Structure`]; each field type implements [`FieldValue`]; the
//! [`Slot`] trait decides whether a missing key is an error (a bare `T`) or
//! not (`Option<T>`). The `structure!` macro (in `macros.rs`) writes the
//! `Structure` impl from the list of fields, so the key names appear once.
//!
//! Error paths name the key as it sits in the response: `QueryResponses.OSVersion`,
//! `ProfileList[2].PayloadContent[0].PayloadType`,
//! `ManagedApplicationList[com.example.app].Status`.

use std::collections::BTreeMap;

use pippin_plist::{Date, Dictionary, Value};

use crate::error::{Error, Result};
use crate::fields::{DictBuilder, Fields};

/// A dictionary-shaped wire structure.
pub(crate) trait Structure: Sized {
    /// Decodes `dict`, found at `path` in the response (empty at top level).
    fn decode(dict: Dictionary, path: &str) -> Result<Self>;

    /// Encodes back to a dictionary, `extra` keys included.
    fn encode(&self) -> Dictionary;
}

/// A type one plist key can hold.
pub(crate) trait FieldValue: Sized {
    /// Takes `key` out of `f` (which reads the dictionary at `path`).
    fn take(f: &mut Fields, path: &str, key: &str) -> Result<Option<Self>>;

    /// The plist value to write for this field.
    fn to_value(&self) -> Value;
}

/// A field of a structure: `Option<T>` for an optional key, `T` for a
/// required one.
pub(crate) trait Slot: Sized {
    fn take_slot(f: &mut Fields, path: &str, key: &str) -> Result<Self>;
    fn put_slot(&self, b: &mut DictBuilder, key: &str);
}

impl<T: FieldValue> Slot for Option<T> {
    fn take_slot(f: &mut Fields, path: &str, key: &str) -> Result<Self> {
        T::take(f, path, key)
    }

    fn put_slot(&self, b: &mut DictBuilder, key: &str) {
        if let Some(v) = self {
            b.set(key, v.to_value());
        }
    }
}

impl<T: FieldValue> Slot for T {
    fn take_slot(f: &mut Fields, path: &str, key: &str) -> Result<Self> {
        let v = T::take(f, path, key)?;
        f.require(key, v)
    }

    fn put_slot(&self, b: &mut DictBuilder, key: &str) {
        b.set(key, self.to_value());
    }
}

/// `path.key`, or `key` at top level.
pub(crate) fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// A reader for the dictionary at `path`.
pub(crate) fn fields_at(dict: Dictionary, path: &str) -> Fields {
    if path.is_empty() {
        Fields::new(dict)
    } else {
        Fields::nested(dict, path)
    }
}

fn wrong(key: String, expected: &'static str, found: &Value) -> Error {
    Error::WrongType {
        key,
        expected,
        found: found.type_name(),
    }
}

/// Takes an array and decodes each item with `item`, which gets the item's
/// path (`Key[3]`).
fn take_array<T>(
    f: &mut Fields,
    path: &str,
    key: &str,
    mut item: impl FnMut(Value, String) -> Result<T>,
) -> Result<Option<Vec<T>>> {
    let Some(items) = f.opt_array(key)? else {
        return Ok(None);
    };
    let base = join(path, key);
    items
        .into_iter()
        .enumerate()
        .map(|(i, v)| item(v, format!("{base}[{i}]")))
        .collect::<Result<Vec<_>>>()
        .map(Some)
}

impl FieldValue for String {
    fn take(f: &mut Fields, _: &str, key: &str) -> Result<Option<Self>> {
        f.opt_string(key)
    }

    fn to_value(&self) -> Value {
        Value::String(self.clone())
    }
}

impl FieldValue for bool {
    fn take(f: &mut Fields, _: &str, key: &str) -> Result<Option<Self>> {
        f.opt_bool(key)
    }

    fn to_value(&self) -> Value {
        Value::Boolean(*self)
    }
}

impl FieldValue for i64 {
    fn take(f: &mut Fields, _: &str, key: &str) -> Result<Option<Self>> {
        f.opt_i64(key)
    }

    fn to_value(&self) -> Value {
        Value::from(*self)
    }
}

impl FieldValue for u64 {
    fn take(f: &mut Fields, _: &str, key: &str) -> Result<Option<Self>> {
        f.opt_u64(key)
    }

    fn to_value(&self) -> Value {
        Value::from(*self)
    }
}

/// Reals are accepted as integers too: devices send whole numbers either way
/// (capacities, battery level, coordinates).
impl FieldValue for f64 {
    fn take(f: &mut Fields, _: &str, key: &str) -> Result<Option<Self>> {
        f.opt_f64(key)
    }

    fn to_value(&self) -> Value {
        Value::Real(*self)
    }
}

impl FieldValue for Date {
    fn take(f: &mut Fields, _: &str, key: &str) -> Result<Option<Self>> {
        f.opt_date(key)
    }

    fn to_value(&self) -> Value {
        Value::Date(*self)
    }
}

/// A sub-dictionary kept as sent.
impl FieldValue for Dictionary {
    fn take(f: &mut Fields, _: &str, key: &str) -> Result<Option<Self>> {
        f.opt_dict(key)
    }

    fn to_value(&self) -> Value {
        Value::Dictionary(self.clone())
    }
}

/// Any value, kept as sent (for keys whose type differs between OS versions).
impl FieldValue for Value {
    fn take(f: &mut Fields, _: &str, key: &str) -> Result<Option<Self>> {
        Ok(f.take(key))
    }

    fn to_value(&self) -> Value {
        self.clone()
    }
}

/// `<data>`.
impl FieldValue for Vec<u8> {
    fn take(f: &mut Fields, _: &str, key: &str) -> Result<Option<Self>> {
        f.opt_data(key)
    }

    fn to_value(&self) -> Value {
        Value::Data(self.clone())
    }
}

/// An array of strings.
impl FieldValue for Vec<String> {
    fn take(f: &mut Fields, path: &str, key: &str) -> Result<Option<Self>> {
        take_array(f, path, key, |v, at| match v {
            Value::String(s) => Ok(s),
            other => Err(wrong(at, "string", &other)),
        })
    }

    fn to_value(&self) -> Value {
        Value::Array(self.iter().cloned().map(Value::String).collect())
    }
}

/// An array of `<data>` (certificate chains).
impl FieldValue for Vec<Vec<u8>> {
    fn take(f: &mut Fields, path: &str, key: &str) -> Result<Option<Self>> {
        take_array(f, path, key, |v, at| match v {
            Value::Data(d) => Ok(d),
            other => Err(wrong(at, "data", &other)),
        })
    }

    fn to_value(&self) -> Value {
        Value::Array(self.iter().cloned().map(Value::Data).collect())
    }
}

/// An array of dates.
impl FieldValue for Vec<Date> {
    fn take(f: &mut Fields, path: &str, key: &str) -> Result<Option<Self>> {
        take_array(f, path, key, |v, at| match v {
            Value::Date(d) => Ok(d),
            other => Err(wrong(at, "date", &other)),
        })
    }

    fn to_value(&self) -> Value {
        Value::Array(self.iter().copied().map(Value::Date).collect())
    }
}

/// An array of dictionaries kept as sent.
impl FieldValue for Vec<Dictionary> {
    fn take(f: &mut Fields, path: &str, key: &str) -> Result<Option<Self>> {
        take_array(f, path, key, |v, at| match v {
            Value::Dictionary(d) => Ok(d),
            other => Err(wrong(at, "dict", &other)),
        })
    }

    fn to_value(&self) -> Value {
        Value::Array(self.iter().cloned().map(Value::Dictionary).collect())
    }
}

/// A typed sub-dictionary.
impl<T: Structure> FieldValue for T {
    fn take(f: &mut Fields, path: &str, key: &str) -> Result<Option<Self>> {
        match f.opt_dict(key)? {
            None => Ok(None),
            Some(d) => T::decode(d, &join(path, key)).map(Some),
        }
    }

    fn to_value(&self) -> Value {
        Value::Dictionary(self.encode())
    }
}

/// An array of typed dictionaries.
impl<T: Structure> FieldValue for Vec<T> {
    fn take(f: &mut Fields, path: &str, key: &str) -> Result<Option<Self>> {
        take_array(f, path, key, |v, at| match v {
            Value::Dictionary(d) => T::decode(d, &at),
            other => Err(wrong(at, "dict", &other)),
        })
    }

    fn to_value(&self) -> Value {
        Value::Array(self.iter().map(|s| Value::Dictionary(s.encode())).collect())
    }
}

/// A dictionary whose keys are names chosen by the device (bundle
/// identifiers) and whose values are typed dictionaries.
impl<T: Structure> FieldValue for BTreeMap<String, T> {
    fn take(f: &mut Fields, path: &str, key: &str) -> Result<Option<Self>> {
        let Some(dict) = f.opt_dict(key)? else {
            return Ok(None);
        };
        let base = join(path, key);
        dict.into_iter()
            .map(|(name, v)| {
                let at = format!("{base}[{name}]");
                match v {
                    Value::Dictionary(d) => Ok((name, T::decode(d, &at)?)),
                    other => Err(wrong(at, "dict", &other)),
                }
            })
            .collect::<Result<Self>>()
            .map(Some)
    }

    fn to_value(&self) -> Value {
        Value::Dictionary(
            self.iter()
                .map(|(name, s)| (name.clone(), Value::Dictionary(s.encode())))
                .collect(),
        )
    }
}

//! Typed extraction of keys from a plist dictionary.
//!
//! Every message type in this crate is decoded the same way: take the keys it
//! knows out of the dictionary, each with its type checked, and keep whatever
//! is left as `extra` so that nothing a device sent is lost.

use pippin_plist::{Date, Dictionary, Value};

use crate::error::{Error, Result};

/// A dictionary being taken apart, key by key.
#[derive(Debug)]
pub(crate) struct Fields {
    dict: Dictionary,
    /// Path prefix for error messages (`QueryResponses.`), empty at top level.
    path: String,
}

impl Fields {
    pub(crate) fn new(dict: Dictionary) -> Self {
        Self {
            dict,
            path: String::new(),
        }
    }

    pub(crate) fn nested(dict: Dictionary, path: &str) -> Self {
        Self {
            dict,
            path: format!("{path}."),
        }
    }

    fn key_path(&self, key: &str) -> String {
        format!("{}{key}", self.path)
    }

    fn wrong(&self, key: &str, expected: &'static str, v: &Value) -> Error {
        Error::WrongType {
            key: self.key_path(key),
            expected,
            found: v.type_name(),
        }
    }

    /// Removes and returns the raw value of `key`.
    pub(crate) fn take(&mut self, key: &str) -> Option<Value> {
        self.dict.remove(key)
    }

    /// Fails with `MissingKey` if `v` is `None`.
    pub(crate) fn require<T>(&self, key: &str, v: Option<T>) -> Result<T> {
        v.ok_or_else(|| Error::missing(self.key_path(key)))
    }

    pub(crate) fn opt_string(&mut self, key: &str) -> Result<Option<String>> {
        match self.dict.remove(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(v) => Err(self.wrong(key, "string", &v)),
        }
    }

    pub(crate) fn string(&mut self, key: &str) -> Result<String> {
        let v = self.opt_string(key)?;
        self.require(key, v)
    }

    pub(crate) fn opt_bool(&mut self, key: &str) -> Result<Option<bool>> {
        match self.dict.remove(key) {
            None => Ok(None),
            Some(Value::Boolean(b)) => Ok(Some(b)),
            Some(v) => Err(self.wrong(key, "boolean", &v)),
        }
    }

    pub(crate) fn opt_data(&mut self, key: &str) -> Result<Option<Vec<u8>>> {
        match self.dict.remove(key) {
            None => Ok(None),
            Some(Value::Data(d)) => Ok(Some(d)),
            Some(v) => Err(self.wrong(key, "data", &v)),
        }
    }

    pub(crate) fn data(&mut self, key: &str) -> Result<Vec<u8>> {
        let v = self.opt_data(key)?;
        self.require(key, v)
    }

    pub(crate) fn opt_i64(&mut self, key: &str) -> Result<Option<i64>> {
        match self.dict.remove(key) {
            None => Ok(None),
            Some(Value::Integer(i)) => i
                .as_i64()
                .map(Some)
                .ok_or_else(|| Error::invalid(self.key_path(key), "integer out of range")),
            Some(v) => Err(self.wrong(key, "integer", &v)),
        }
    }

    pub(crate) fn opt_u64(&mut self, key: &str) -> Result<Option<u64>> {
        match self.dict.remove(key) {
            None => Ok(None),
            Some(Value::Integer(i)) => i
                .as_u64()
                .map(Some)
                .ok_or_else(|| Error::invalid(self.key_path(key), "negative integer")),
            Some(v) => Err(self.wrong(key, "integer", &v)),
        }
    }

    /// A number that devices send as integer or real (battery level, sizes).
    pub(crate) fn opt_f64(&mut self, key: &str) -> Result<Option<f64>> {
        match self.dict.remove(key) {
            None => Ok(None),
            Some(v) => match v.as_f64() {
                Some(f) => Ok(Some(f)),
                None => Err(self.wrong(key, "real", &v)),
            },
        }
    }

    pub(crate) fn opt_date(&mut self, key: &str) -> Result<Option<Date>> {
        match self.dict.remove(key) {
            None => Ok(None),
            Some(Value::Date(d)) => Ok(Some(d)),
            Some(v) => Err(self.wrong(key, "date", &v)),
        }
    }

    pub(crate) fn opt_dict(&mut self, key: &str) -> Result<Option<Dictionary>> {
        match self.dict.remove(key) {
            None => Ok(None),
            Some(Value::Dictionary(d)) => Ok(Some(d)),
            Some(v) => Err(self.wrong(key, "dict", &v)),
        }
    }

    pub(crate) fn opt_array(&mut self, key: &str) -> Result<Option<Vec<Value>>> {
        match self.dict.remove(key) {
            None => Ok(None),
            Some(Value::Array(a)) => Ok(Some(a)),
            Some(v) => Err(self.wrong(key, "array", &v)),
        }
    }

    /// An array of strings.
    pub(crate) fn opt_strings(&mut self, key: &str) -> Result<Option<Vec<String>>> {
        let Some(items) = self.opt_array(key)? else {
            return Ok(None);
        };
        let path = self.key_path(key);
        items
            .into_iter()
            .map(|v| match v {
                Value::String(s) => Ok(s),
                other => Err(Error::WrongType {
                    key: format!("{path}[]"),
                    expected: "string",
                    found: other.type_name(),
                }),
            })
            .collect::<Result<Vec<_>>>()
            .map(Some)
    }

    /// An array of dictionaries, each decoded with `f`.
    pub(crate) fn opt_dicts<T>(
        &mut self,
        key: &str,
        mut f: impl FnMut(Self) -> Result<T>,
    ) -> Result<Option<Vec<T>>> {
        let Some(items) = self.opt_array(key)? else {
            return Ok(None);
        };
        let path = format!("{}[]", self.key_path(key));
        items
            .into_iter()
            .map(|v| match v {
                Value::Dictionary(d) => f(Self::nested(d, &path)),
                other => Err(Error::WrongType {
                    key: path.clone(),
                    expected: "dict",
                    found: other.type_name(),
                }),
            })
            .collect::<Result<Vec<_>>>()
            .map(Some)
    }

    /// What is left: the keys nobody asked for.
    pub(crate) fn rest(self) -> Dictionary {
        self.dict
    }
}

/// Builds a dictionary, skipping `None` values.
#[derive(Debug, Default)]
pub(crate) struct DictBuilder(Dictionary);

impl DictBuilder {
    pub(crate) fn new() -> Self {
        Self(Dictionary::new())
    }

    pub(crate) fn set(&mut self, key: &str, v: impl Into<Value>) -> &mut Self {
        self.0.insert(key, v.into());
        self
    }

    pub(crate) fn opt<V: Into<Value>>(&mut self, key: &str, v: Option<V>) -> &mut Self {
        if let Some(v) = v {
            self.0.insert(key, v.into());
        }
        self
    }

    pub(crate) fn opt_data(&mut self, key: &str, v: Option<&Vec<u8>>) -> &mut Self {
        if let Some(v) = v {
            self.0.insert(key, Value::Data(v.clone()));
        }
        self
    }

    pub(crate) fn opt_strings(&mut self, key: &str, v: Option<&Vec<String>>) -> &mut Self {
        if let Some(v) = v {
            self.0.insert(
                key,
                Value::Array(v.iter().map(|s| Value::String(s.clone())).collect()),
            );
        }
        self
    }

    /// Copies every entry of `extra` that is not already set.
    pub(crate) fn extra(&mut self, extra: &Dictionary) -> &mut Self {
        for (k, v) in extra {
            if !self.0.contains_key(k) {
                self.0.insert(k.clone(), v.clone());
            }
        }
        self
    }

    pub(crate) fn build(&mut self) -> Dictionary {
        std::mem::take(&mut self.0)
    }
}

//! `serde::Serialize` for the value model (feature `serde`), giving natural
//! JSON: dictionaries as objects, data as base64 text, dates as RFC 3339
//! text, non-finite reals as `null`.

use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

use crate::value::{Date, Dictionary, Integer, Value};

impl Serialize for Value {
    /// Serialises as the natural JSON shape: dictionary → object, array →
    /// array, string → string, boolean → boolean, integer → number, real →
    /// number (`null` if not finite), data → base64 string (standard
    /// alphabet, padded), date → RFC 3339 string ([`Date::to_rfc3339`]),
    /// UID → number.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Array(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Self::Boolean(b) => serializer.serialize_bool(*b),
            Self::Data(d) => serializer.serialize_str(&crate::base64::encode_string(d)),
            Self::Date(d) => d.serialize(serializer),
            Self::Dictionary(d) => d.serialize(serializer),
            Self::Integer(i) => i.serialize(serializer),
            Self::Real(r) if r.is_finite() => serializer.serialize_f64(*r),
            Self::Real(_) => serializer.serialize_unit(),
            Self::String(s) => serializer.serialize_str(s),
            Self::Uid(u) => serializer.serialize_u64(*u),
        }
    }
}

impl Serialize for Dictionary {
    /// Serialises as a map, in the dictionary's order.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.len()))?;
        for (k, v) in self {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

impl Serialize for Integer {
    /// Serialises as an `i64` if it fits, else as a `u64`.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match (self.as_i64(), self.as_u64()) {
            (Some(i), _) => serializer.serialize_i64(i),
            (None, Some(u)) => serializer.serialize_u64(u),
            // Every `Integer` fits one of the two.
            (None, None) => serializer.serialize_unit(),
        }
    }
}

impl Serialize for Date {
    /// Serialises as RFC 3339 text ([`Date::to_rfc3339`]).
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_rfc3339())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn natural_json() {
        let mut d = Dictionary::new();
        d.insert("s", "x");
        d.insert("b", true);
        d.insert("i", -3);
        d.insert("u", u64::MAX);
        d.insert("r", 1.5);
        d.insert("nan", f64::NAN);
        d.insert("data", Value::Data(b"foob".to_vec()));
        d.insert("date", Date::from_unix_seconds(1_700_000_000));
        d.insert("frac", Date::from_seconds_since_2001(0.5).unwrap());
        d.insert("uid", Value::Uid(9));
        d.insert(
            "a",
            Value::Array(vec![Value::from(1), Value::Dictionary(Dictionary::new())]),
        );
        let json = serde_json::to_string(&Value::Dictionary(d)).unwrap();
        assert_eq!(
            json,
            r#"{"s":"x","b":true,"i":-3,"u":18446744073709551615,"r":1.5,"nan":null,"data":"Zm9vYg==","date":"2023-11-14T22:13:20Z","frac":"2001-01-01T00:00:00.5Z","uid":9,"a":[1,{}]}"#
        );
    }
}

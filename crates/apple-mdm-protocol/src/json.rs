//! JSON to property-list conversion, for building commands from the admin
//! API's JSON.
//!
//! JSON and property lists share arrays, objects (dictionaries), strings,
//! booleans and numbers. JSON has no bytes and no dates: a command key of type
//! data takes a base64 string (see [`crate::command`]); dates are not used in
//! command parameters. JSON `null` has no property-list form and is refused.
//!
//! ```
//! use apple_mdm_protocol::json::command_body_from_json;
//!
//! let body = command_body_from_json(&serde_json::json!({
//!     "request_type": "EraseDevice",
//!     "PIN": "123456",
//!     "ObliterationBehavior": "DoNotObliterate",
//! }))
//! .unwrap();
//! assert_eq!(body.request_type(), "EraseDevice");
//! ```

use pippin_plist::{Dictionary, Integer, Value};

use crate::command::CommandBody;
use crate::error::{Error, Result};

/// The key holding the request type in the admin API's command JSON.
pub const REQUEST_TYPE_KEY: &str = "request_type";

/// Converts a JSON value to a property-list value.
///
/// Integers become `<integer>` (anything from `i64::MIN` to `u64::MAX`), other
/// numbers `<real>`, strings `<string>`, booleans `<true/>`/`<false/>`, arrays
/// `<array>` and objects `<dict>` (keys in the order the JSON object iterates
/// them: sorted, unless `serde_json`'s `preserve_order` feature is on). A `null`
/// anywhere is an [`Error::InvalidValue`] naming its path (`Options.Foo`,
/// `Queries[2]`; `$` for the value itself).
pub fn json_to_plist(v: &serde_json::Value) -> Result<Value> {
    convert(v, "")
}

/// Builds a command body from the admin API's JSON form:
/// `{"request_type": "DeviceLock", "PIN": "123456", ...}`.
///
/// `request_type` (a string) is required; every other member is a key of the
/// `Command` dictionary, converted with [`json_to_plist`] and checked by
/// [`CommandBody::from_params`].
pub fn command_body_from_json(v: &serde_json::Value) -> Result<CommandBody> {
    let serde_json::Value::Object(members) = v else {
        return Err(Error::NotADictionary {
            found: json_type(v),
        });
    };
    let request_type = match members.get(REQUEST_TYPE_KEY) {
        Some(serde_json::Value::String(s)) => s.as_str(),
        Some(other) => {
            return Err(Error::WrongType {
                key: REQUEST_TYPE_KEY.to_owned(),
                expected: "string",
                found: json_type(other),
            });
        }
        None => return Err(Error::missing(REQUEST_TYPE_KEY)),
    };
    let mut params = Dictionary::with_capacity(members.len().saturating_sub(1));
    for (k, member) in members {
        if k != REQUEST_TYPE_KEY {
            params.insert(k.as_str(), convert(member, k)?);
        }
    }
    CommandBody::from_params(request_type, params)
}

fn convert(v: &serde_json::Value, path: &str) -> Result<Value> {
    Ok(match v {
        serde_json::Value::Null => {
            let at = if path.is_empty() { "$" } else { path };
            return Err(Error::invalid(at, "null has no property-list form"));
        }
        serde_json::Value::Bool(b) => Value::Boolean(*b),
        serde_json::Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::Integer(Integer::from(i))
            } else if let Some(u) = n.as_u64() {
                Value::Integer(Integer::from(u))
            } else {
                // Neither integer form: a number with a fraction or exponent.
                match n.as_f64() {
                    Some(f) => Value::Real(f),
                    None => {
                        let at = if path.is_empty() { "$" } else { path };
                        return Err(Error::invalid(at, "number out of range"));
                    }
                }
            }
        }
        serde_json::Value::String(s) => Value::String(s.clone()),
        serde_json::Value::Array(items) => Value::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, item)| convert(item, &format!("{path}[{i}]")))
                .collect::<Result<_>>()?,
        ),
        serde_json::Value::Object(members) => {
            let mut d = Dictionary::with_capacity(members.len());
            for (k, member) in members {
                let child = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                d.insert(k.as_str(), convert(member, &child)?);
            }
            Value::Dictionary(d)
        }
    })
}

/// The JSON type name, for errors.
fn json_type(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "boolean",
        serde_json::Value::Number(_) => "number",
        serde_json::Value::String(_) => "string",
        serde_json::Value::Array(_) => "array",
        serde_json::Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn scalars_and_containers() {
        let v = json_to_plist(&json!({
            "a": 1, "b": -2, "c": 18446744073709551615u64, "d": 1.5,
            "e": "x", "f": true, "g": [1, "y"], "h": {"i": false}
        }))
        .unwrap();
        let d = v.as_dictionary().unwrap();
        assert_eq!(d.get("a"), Some(&Value::from(1i64)));
        assert_eq!(d.get("b"), Some(&Value::from(-2i64)));
        assert_eq!(d.get("c"), Some(&Value::from(u64::MAX)));
        assert_eq!(d.get("d"), Some(&Value::Real(1.5)));
        assert_eq!(d.get("e"), Some(&Value::from("x")));
        assert_eq!(d.get("f"), Some(&Value::Boolean(true)));
        assert_eq!(
            d.get("g"),
            Some(&Value::Array(vec![Value::from(1i64), Value::from("y")]))
        );
        assert_eq!(
            d.get("h").and_then(|h| h.get("i")),
            Some(&Value::Boolean(false))
        );
        assert_eq!(
            d.keys().map(String::as_str).collect::<Vec<_>>(),
            ["a", "b", "c", "d", "e", "f", "g", "h"]
        );
    }

    #[test]
    fn null_names_its_path() {
        let err = json_to_plist(&json!({"Options": {"PurchaseMethod": null}})).unwrap_err();
        assert!(
            matches!(&err, Error::InvalidValue { key, .. } if key == "Options.PurchaseMethod"),
            "{err}"
        );
        let err = json_to_plist(&json!({"Queries": ["UDID", null]})).unwrap_err();
        assert!(
            matches!(&err, Error::InvalidValue { key, .. } if key == "Queries[1]"),
            "{err}"
        );
        let err = json_to_plist(&json!(null)).unwrap_err();
        assert!(
            matches!(&err, Error::InvalidValue { key, .. } if key == "$"),
            "{err}"
        );
    }

    #[test]
    fn command_json() {
        let body = command_body_from_json(&json!({
            "request_type": "InstallProfile",
            "Payload": "AQID",
        }))
        .unwrap();
        let CommandBody::InstallProfile(p) = body else {
            panic!("not InstallProfile: {body:?}");
        };
        assert_eq!(p.payload, [1, 2, 3]);

        let err = command_body_from_json(&json!({"PIN": "1"})).unwrap_err();
        assert!(matches!(&err, Error::MissingKey { key } if key == "request_type"));

        let err =
            command_body_from_json(&json!({"request_type": "DeviceLock", "PIN": 1})).unwrap_err();
        assert!(
            matches!(&err, Error::WrongType { key, .. } if key == "PIN"),
            "{err}"
        );
    }
}

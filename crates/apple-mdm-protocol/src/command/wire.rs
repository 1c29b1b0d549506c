//! Helpers shared by the command types: string enums with an open end, data
//! keys that also take base64 text, and error paths.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_PAD_INDIFFERENT;
use pippin_plist::{Dictionary, Value};

use crate::error::{Error, Result};
use crate::fields::Fields;

/// Declares a string-valued enum whose last variant, `Other(String)`, keeps
/// any value Apple adds after this crate was written.
///
/// Converting from a string always gives the named variant for a known value,
/// so `Other` never holds one of the known spellings.
macro_rules! string_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $text:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Debug, Eq, Hash, PartialEq)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
            /// A value this crate does not know, kept as sent.
            Other(String),
        }

        impl $name {
            /// The value as it appears in the property list.
            pub fn as_str(&self) -> &str {
                match self {
                    $( Self::$variant => $text, )+
                    Self::Other(s) => s,
                }
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                match s {
                    $( $text => Self::$variant, )+
                    other => Self::Other(other.to_owned()),
                }
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                match s.as_str() {
                    $( $text => Self::$variant, )+
                    _ => Self::Other(s),
                }
            }
        }

        impl From<$name> for pippin_plist::Value {
            fn from(v: $name) -> Self {
                match v {
                    $name::Other(s) => Self::String(s),
                    known => Self::String(known.as_str().to_owned()),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

/// Declares a command that has no keys of its own besides `RequestType`.
macro_rules! no_param_command {
    (
        $(#[$meta:meta])*
        pub struct $name:ident = $request_type:literal;
    ) => {
        $(#[$meta])*
        #[derive(Clone, Debug, Default, PartialEq)]
        pub struct $name {
            /// Keys this crate does not know, kept so that nothing is lost.
            pub extra: pippin_plist::Dictionary,
        }

        impl $crate::command::RequestType for $name {
            const REQUEST_TYPE: &'static str = $request_type;

            fn to_params(&self) -> pippin_plist::Dictionary {
                self.extra.clone()
            }

            fn from_params(params: pippin_plist::Dictionary) -> $crate::Result<Self> {
                Ok(Self { extra: params })
            }
        }
    };
}

pub(crate) use {no_param_command, string_enum};

/// `path.key`, or `key` at the top level.
pub(crate) fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// Opens `dict` for typed extraction at `path` (empty at the top level of a
/// command), first turning a base64 string under any of `data_keys` into
/// data.
///
/// Property lists have a data type; JSON does not, so a JSON client (the
/// admin API, `pippinctl`) passes bytes as a base64 string. Every data key of
/// every command therefore takes either a `<data>` value or a `<string>`
/// holding base64 (standard alphabet, padding optional, whitespace ignored).
/// Encoding always writes `<data>`.
pub(crate) fn open(mut dict: Dictionary, path: &str, data_keys: &[&str]) -> Result<Fields> {
    for key in data_keys {
        if let Some(Value::String(text)) = dict.get(key) {
            let bytes = decode_base64(text).ok_or_else(|| {
                Error::invalid(join(path, key), "a string given for data must be base64")
            })?;
            dict.insert(*key, Value::Data(bytes));
        }
    }
    Ok(if path.is_empty() {
        Fields::new(dict)
    } else {
        Fields::nested(dict, path)
    })
}

/// Decodes standard base64, ignoring ASCII whitespace and missing padding.
fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    STANDARD_PAD_INDIFFERENT.decode(compact).ok()
}

/// An optional string key read into an open string enum.
pub(crate) fn opt_enum<E: From<String>>(f: &mut Fields, key: &str) -> Result<Option<E>> {
    Ok(f.opt_string(key)?.map(E::from))
}

/// An optional dictionary key decoded with `decode`, which receives the
/// dictionary and its path.
pub(crate) fn opt_nested<T>(
    f: &mut Fields,
    path: &str,
    key: &str,
    decode: impl FnOnce(Dictionary, &str) -> Result<T>,
) -> Result<Option<T>> {
    match f.opt_dict(key)? {
        None => Ok(None),
        Some(d) => decode(d, &join(path, key)).map(Some),
    }
}

/// A required array of dictionaries, each decoded with `decode`, which
/// receives the dictionary and its path (`Updates[2]`).
pub(crate) fn dict_list<T>(
    f: &mut Fields,
    path: &str,
    key: &str,
    mut decode: impl FnMut(Dictionary, &str) -> Result<T>,
) -> Result<Vec<T>> {
    let items = f.opt_array(key)?;
    let items = f.require(key, items)?;
    let base = join(path, key);
    items
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            let item_path = format!("{base}[{i}]");
            match v {
                Value::Dictionary(d) => decode(d, &item_path),
                other => Err(Error::WrongType {
                    key: item_path,
                    expected: "dict",
                    found: other.type_name(),
                }),
            }
        })
        .collect()
}

/// Puts `prefix.` in front of the key an error names, for errors raised while
/// decoding a nested dictionary as if it stood alone.
pub(crate) fn within(prefix: &str, e: Error) -> Error {
    match e {
        Error::MissingKey { key } => Error::MissingKey {
            key: join(prefix, &key),
        },
        Error::WrongType {
            key,
            expected,
            found,
        } => Error::WrongType {
            key: join(prefix, &key),
            expected,
            found,
        },
        Error::InvalidValue { key, reason } => Error::InvalidValue {
            key: join(prefix, &key),
            reason,
        },
        other => other,
    }
}

/// An array of strings as a plist value.
pub(crate) fn string_array(items: &[String]) -> Value {
    Value::Array(items.iter().map(|s| Value::String(s.clone())).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_leniency() {
        assert_eq!(decode_base64("AQID").as_deref(), Some(&[1u8, 2, 3][..]));
        assert_eq!(decode_base64("AQI=").as_deref(), Some(&[1u8, 2][..]));
        assert_eq!(decode_base64("AQI").as_deref(), Some(&[1u8, 2][..]));
        assert_eq!(
            decode_base64(" AQ\nID\t").as_deref(),
            Some(&[1u8, 2, 3][..])
        );
        assert_eq!(decode_base64("not base64!"), None);
    }

    #[test]
    fn data_key_takes_base64_string_and_names_the_key_when_bad() {
        let mut d = Dictionary::new();
        d.insert("Payload", "AQID");
        let mut f = open(d, "", &["Payload"]).unwrap();
        assert_eq!(f.opt_data("Payload").unwrap(), Some(vec![1, 2, 3]));

        let mut d = Dictionary::new();
        d.insert("Image", "%%%");
        let err = open(d, "Settings[0]", &["Image"]).unwrap_err();
        assert!(
            matches!(&err, Error::InvalidValue { key, .. } if key == "Settings[0].Image"),
            "{err}"
        );
    }
}

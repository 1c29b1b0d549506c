//! Macros that declare wire structures and string enumerations once, with
//! their plist key names, and derive the decoding and encoding from that.

/// Declares a dictionary-shaped wire structure.
///
/// Each field is written `rust_name: Type = "PlistKey",`; a field of type
/// `Option<T>` is optional, any other type is required. An `extra:
/// Dictionary` field is appended that keeps every key the structure does not
/// name, and `Structure` is implemented.
macro_rules! structure {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $(
                $(#[$fmeta:meta])*
                $field:ident : $ty:ty = $key:literal,
            )*
        }
    ) => {
        $(#[$meta])*
        pub struct $name {
            $(
                $(#[$fmeta])*
                pub $field: $ty,
            )*
            /// Every key this type does not name, as the device sent it.
            pub extra: ::pippin_plist::Dictionary,
        }

        impl $crate::results::codec::Structure for $name {
            fn decode(dict: ::pippin_plist::Dictionary, path: &str) -> $crate::Result<Self> {
                #[allow(unused_mut)]
                let mut f = $crate::results::codec::fields_at(dict, path);
                $(
                    let $field = <$ty as $crate::results::codec::Slot>::take_slot(
                        &mut f, path, $key,
                    )?;
                )*
                Ok(Self {
                    $($field,)*
                    extra: f.rest(),
                })
            }

            fn encode(&self) -> ::pippin_plist::Dictionary {
                #[allow(unused_mut)]
                let mut b = $crate::fields::DictBuilder::new();
                $(
                    $crate::results::codec::Slot::put_slot(&self.$field, &mut b, $key);
                )*
                b.extra(&self.extra).build()
            }
        }
    };
}

/// Declares a string-valued enumeration with an `Other(String)` variant for
/// values this crate does not know.
macro_rules! string_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $(
                $(#[$vmeta:meta])*
                $variant:ident = $text:literal,
            )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Debug, Eq, Hash, PartialEq)]
        pub enum $name {
            $(
                $(#[$vmeta])*
                $variant,
            )*
            /// A value this crate does not know, as sent. Never one of the
            /// values named by the other variants.
            Other(String),
        }

        impl $name {
            /// The value as it appears on the wire.
            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => $text,)*
                    Self::Other(s) => s,
                }
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                match s {
                    $($text => Self::$variant,)*
                    other => Self::Other(other.to_owned()),
                }
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                match s.as_str() {
                    $($text => Self::$variant,)*
                    _ => Self::Other(s),
                }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl $crate::results::codec::FieldValue for $name {
            fn take(
                f: &mut $crate::fields::Fields,
                _path: &str,
                key: &str,
            ) -> $crate::Result<Option<Self>> {
                Ok(f.opt_string(key)?.map(Self::from))
            }

            fn to_value(&self) -> ::pippin_plist::Value {
                ::pippin_plist::Value::String(self.as_str().to_owned())
            }
        }
    };
}

//! The property-list value model.

use indexmap::IndexMap;

/// One property-list value.
///
/// The variants are the object types of Apple's property-list formats: the
/// XML DTD `http://www.apple.com/DTDs/PropertyList-1.0.dtd` (`array`, `dict`,
/// `true`/`false`, `data`, `date`, `integer`, `real`, `string`) plus `UID`,
/// which exists only in the binary format (`bplist00`, marker `0x8_`) and is
/// used by keyed archives.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// `<array>`: an ordered list.
    Array(Vec<Self>),
    /// `<true/>` or `<false/>`.
    Boolean(bool),
    /// `<data>`: bytes, base64 in XML.
    Data(Vec<u8>),
    /// `<date>`: an instant, ISO 8601 in XML, seconds since 2001-01-01 in binary.
    Date(Date),
    /// `<dict>`: string keys to values, in document order.
    Dictionary(Dictionary),
    /// `<integer>`: a signed 64-bit or unsigned 64-bit integer.
    Integer(Integer),
    /// `<real>`: an IEEE-754 double.
    Real(f64),
    /// `<string>`: Unicode text.
    String(String),
    /// A binary-plist UID (keyed-archiver object reference). The XML format
    /// has no such type: it is written, and read back, as
    /// `<dict><key>CF$UID</key><integer>N</integer></dict>`, as Core
    /// Foundation does.
    Uid(u64),
}

impl Value {
    /// The dictionary inside, if this is a dictionary.
    pub fn as_dictionary(&self) -> Option<&Dictionary> {
        match self {
            Self::Dictionary(d) => Some(d),
            _ => None,
        }
    }

    /// The dictionary inside, mutably, if this is a dictionary.
    pub fn as_dictionary_mut(&mut self) -> Option<&mut Dictionary> {
        match self {
            Self::Dictionary(d) => Some(d),
            _ => None,
        }
    }

    /// Unwraps a dictionary, giving the value back otherwise.
    pub fn into_dictionary(self) -> Result<Dictionary, Self> {
        match self {
            Self::Dictionary(d) => Ok(d),
            other => Err(other),
        }
    }

    /// The array inside, if this is an array.
    pub fn as_array(&self) -> Option<&[Self]> {
        match self {
            Self::Array(a) => Some(a),
            _ => None,
        }
    }

    /// Unwraps an array, giving the value back otherwise.
    pub fn into_array(self) -> Result<Vec<Self>, Self> {
        match self {
            Self::Array(a) => Ok(a),
            other => Err(other),
        }
    }

    /// The string inside, if this is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::String(s) => Some(s),
            _ => None,
        }
    }

    /// Unwraps a string, giving the value back otherwise.
    pub fn into_string(self) -> Result<String, Self> {
        match self {
            Self::String(s) => Ok(s),
            other => Err(other),
        }
    }

    /// The boolean inside, if this is a boolean.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Self::Boolean(b) => Some(*b),
            _ => None,
        }
    }

    /// The bytes inside, if this is data.
    pub fn as_data(&self) -> Option<&[u8]> {
        match self {
            Self::Data(d) => Some(d),
            _ => None,
        }
    }

    /// Unwraps data, giving the value back otherwise.
    pub fn into_data(self) -> Result<Vec<u8>, Self> {
        match self {
            Self::Data(d) => Ok(d),
            other => Err(other),
        }
    }

    /// The integer inside, if this is an integer.
    pub fn as_integer(&self) -> Option<Integer> {
        match self {
            Self::Integer(i) => Some(*i),
            _ => None,
        }
    }

    /// The integer inside as `i64`, if this is an integer that fits.
    pub fn as_i64(&self) -> Option<i64> {
        self.as_integer().and_then(Integer::as_i64)
    }

    /// The integer inside as `u64`, if this is a non-negative integer.
    pub fn as_u64(&self) -> Option<u64> {
        self.as_integer().and_then(Integer::as_u64)
    }

    /// The number inside as `f64`: a real, or an integer converted.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Self::Real(r) => Some(*r),
            #[allow(clippy::cast_precision_loss)]
            Self::Integer(i) => Some(i.as_i128() as f64),
            _ => None,
        }
    }

    /// The date inside, if this is a date.
    pub fn as_date(&self) -> Option<Date> {
        match self {
            Self::Date(d) => Some(*d),
            _ => None,
        }
    }

    /// Looks up `key` if this is a dictionary.
    pub fn get(&self, key: &str) -> Option<&Self> {
        self.as_dictionary().and_then(|d| d.get(key))
    }

    /// The name of this value's type as the XML format spells it
    /// (`dict`, `array`, `string`, ...), for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::Array(_) => "array",
            Self::Boolean(_) => "boolean",
            Self::Data(_) => "data",
            Self::Date(_) => "date",
            Self::Dictionary(_) => "dict",
            Self::Integer(_) => "integer",
            Self::Real(_) => "real",
            Self::String(_) => "string",
            Self::Uid(_) => "uid",
        }
    }
}

impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Self::Boolean(v)
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Self::String(v.to_owned())
    }
}

impl From<String> for Value {
    fn from(v: String) -> Self {
        Self::String(v)
    }
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Self::Integer(Integer::from(v))
    }
}

impl From<i32> for Value {
    fn from(v: i32) -> Self {
        Self::Integer(Integer::from(i64::from(v)))
    }
}

impl From<u32> for Value {
    fn from(v: u32) -> Self {
        Self::Integer(Integer::from(u64::from(v)))
    }
}

impl From<u64> for Value {
    fn from(v: u64) -> Self {
        Self::Integer(Integer::from(v))
    }
}

impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Self::Real(v)
    }
}

impl From<Integer> for Value {
    fn from(v: Integer) -> Self {
        Self::Integer(v)
    }
}

impl From<Date> for Value {
    fn from(v: Date) -> Self {
        Self::Date(v)
    }
}

impl From<Dictionary> for Value {
    fn from(v: Dictionary) -> Self {
        Self::Dictionary(v)
    }
}

impl From<Vec<Self>> for Value {
    fn from(v: Vec<Self>) -> Self {
        Self::Array(v)
    }
}

/// A plist integer: anything from `i64::MIN` to `u64::MAX`.
///
/// The binary format stores integers as signed big-endian values of 1, 2, 4
/// or 8 bytes, and values above `i64::MAX` as 16-byte integers; the XML format
/// stores decimal text (or `0x` hexadecimal in some writers).
#[derive(Clone, Copy, Debug, Eq, Hash, Ord, PartialEq, PartialOrd)]
pub struct Integer(i128);

impl Integer {
    /// The smallest representable value, `i64::MIN`.
    pub const MIN: i128 = i64::MIN as i128;
    /// The largest representable value, `u64::MAX`.
    pub const MAX: i128 = u64::MAX as i128;

    /// Makes an integer from an `i128` in `i64::MIN..=u64::MAX`.
    pub fn new(v: i128) -> Option<Self> {
        (Self::MIN..=Self::MAX).contains(&v).then_some(Self(v))
    }

    /// The value as `i64`, if it fits.
    pub fn as_i64(self) -> Option<i64> {
        i64::try_from(self.0).ok()
    }

    /// The value as `u64`, if it is non-negative.
    pub fn as_u64(self) -> Option<u64> {
        u64::try_from(self.0).ok()
    }

    /// The value as `i128` (always exact).
    pub fn as_i128(self) -> i128 {
        self.0
    }
}

impl From<i64> for Integer {
    fn from(v: i64) -> Self {
        Self(i128::from(v))
    }
}

impl From<u64> for Integer {
    fn from(v: u64) -> Self {
        Self(i128::from(v))
    }
}

impl std::fmt::Display for Integer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// An instant as plists store it: seconds since 2001-01-01T00:00:00Z (the
/// Core Foundation absolute-time epoch), as a double.
///
/// The XML format has whole-second resolution (`2024-05-01T12:00:00Z`); the
/// binary format keeps the fraction.
#[derive(Clone, Copy, Debug, PartialEq, PartialOrd)]
pub struct Date {
    since_2001: f64,
}

impl Date {
    /// Seconds between the Unix epoch and 2001-01-01T00:00:00Z.
    pub const UNIX_TO_2001: i64 = 978_307_200;

    /// A date from seconds since 2001-01-01T00:00:00Z. `None` for NaN or infinity.
    pub fn from_seconds_since_2001(secs: f64) -> Option<Self> {
        secs.is_finite().then_some(Self { since_2001: secs })
    }

    /// A date from whole seconds since the Unix epoch.
    #[allow(clippy::cast_precision_loss)]
    pub fn from_unix_seconds(secs: i64) -> Self {
        Self {
            since_2001: (secs as f64) - (Self::UNIX_TO_2001 as f64),
        }
    }

    /// Seconds since 2001-01-01T00:00:00Z.
    pub fn seconds_since_2001(self) -> f64 {
        self.since_2001
    }

    /// Whole seconds since the Unix epoch (fraction dropped toward negative infinity).
    #[allow(clippy::cast_possible_truncation)]
    pub fn unix_seconds(self) -> i64 {
        (self.since_2001.floor() as i64).saturating_add(Self::UNIX_TO_2001)
    }
}

/// A plist dictionary: string keys in document order.
///
/// A key that appears twice keeps the last value (as Apple's parsers and
/// Python's `plistlib` do) at the position of its first appearance.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Dictionary(IndexMap<String, Value>);

impl Dictionary {
    /// An empty dictionary.
    pub fn new() -> Self {
        Self(IndexMap::new())
    }

    /// An empty dictionary with room for `n` entries.
    pub fn with_capacity(n: usize) -> Self {
        Self(IndexMap::with_capacity(n))
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The value for `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.get(key)
    }

    /// The value for `key`, mutably.
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Value> {
        self.0.get_mut(key)
    }

    /// Whether `key` is present.
    pub fn contains_key(&self, key: &str) -> bool {
        self.0.contains_key(key)
    }

    /// Sets `key` to `value`, returning the previous value.
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<Value>) -> Option<Value> {
        self.0.insert(key.into(), value.into())
    }

    /// Removes `key`, keeping the order of the other entries.
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        self.0.shift_remove(key)
    }

    /// The entries in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&String, &Value)> {
        self.0.iter()
    }

    /// The keys in order.
    pub fn keys(&self) -> impl ExactSizeIterator<Item = &String> {
        self.0.keys()
    }

    /// Sorts the entries by key (as Python's `plistlib` does by default when writing).
    pub fn sort_keys(&mut self) {
        self.0.sort_keys();
    }
}

impl IntoIterator for Dictionary {
    type Item = (String, Value);
    type IntoIter = indexmap::map::IntoIter<String, Value>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> IntoIterator for &'a Dictionary {
    type Item = (&'a String, &'a Value);
    type IntoIter = indexmap::map::Iter<'a, String, Value>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl<K: Into<String>, V: Into<Value>> FromIterator<(K, V)> for Dictionary {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        Self(
            iter.into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }
}

//! WMI instances and property values, the same whichever path read them.
//!
//! AdminService answers in JSON with typed numbers and booleans; WS-Management
//! answers in XML where every scalar is text. Both become an [`Instance`]:
//! the class name and its properties in the order the provider sent them.
//! Accessors such as [`Value::as_i64`] accept either form, so typed classes
//! read both paths the same way.

use indexmap::IndexMap;

/// One WMI object: its class and its properties, in the provider's order.
///
/// Properties the typed classes do not know are kept here, so nothing a
/// newer ConfigMgr version sends is lost on the way through.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Instance {
    /// The WMI class, such as `SMS_R_System`. Empty when the provider did
    /// not say (an OData answer without `@odata.type`, say).
    pub class: String,
    /// The properties, by name, in the order received.
    pub properties: IndexMap<String, Value>,
}

/// A property value.
///
/// WMI's CIM types map as follows: `boolean` to [`Bool`](Self::Bool); the
/// integer types to [`Int`](Self::Int) (a `uint64` above `i64::MAX` stays a
/// [`String`](Self::String)); `real32`/`real64` to [`Real`](Self::Real);
/// `string`, `datetime` (DMTF `yyyymmddHHMMSS.mmmmmmsUUU` over WS-Man,
/// ISO 8601 over AdminService) and references to [`String`](Self::String);
/// arrays to [`Array`](Self::Array); embedded objects to
/// [`Object`](Self::Object).
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// No value (`null` in JSON, `xsi:nil="true"` in WS-Man).
    Null,
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A floating-point number.
    Real(f64),
    /// Text: strings, date-times, references, and every scalar WS-Man sends.
    String(String),
    /// An array of values.
    Array(Vec<Self>),
    /// An embedded object, such as an `SMS_CollectionRuleDirect`.
    Object(Box<Instance>),
}

impl Instance {
    /// An instance of `class` with no properties.
    pub fn new(class: impl Into<String>) -> Self {
        Self {
            class: class.into(),
            properties: IndexMap::new(),
        }
    }

    /// Adds or replaces a property; chainable.
    pub fn with(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.properties.insert(name.into(), value.into());
        self
    }

    /// The property `name`, matched without regard to ASCII case (WMI
    /// property names are case-insensitive).
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.properties.get(name).or_else(|| {
            self.properties
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v)
        })
    }

    /// The property as text (see [`Value::as_str`]).
    pub fn get_str(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(Value::as_str)
    }

    /// The property as an integer (see [`Value::as_i64`]).
    pub fn get_i64(&self, name: &str) -> Option<i64> {
        self.get(name).and_then(Value::as_i64)
    }

    /// The property as a boolean (see [`Value::as_bool`]).
    pub fn get_bool(&self, name: &str) -> Option<bool> {
        self.get(name).and_then(Value::as_bool)
    }

    /// The instance as a JSON object: the properties, plus `"__CLASS"` when
    /// the class is known (keys come out sorted). What the examples print.
    pub fn to_json(&self) -> serde_json::Value {
        let mut map = serde_json::Map::new();
        if !self.class.is_empty() {
            map.insert("__CLASS".into(), self.class.clone().into());
        }
        for (k, v) in &self.properties {
            map.insert(k.clone(), v.to_json());
        }
        serde_json::Value::Object(map)
    }
}

impl Value {
    /// Text, for [`String`](Self::String) values.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::String(s) => Some(s),
            _ => None,
        }
    }

    /// An integer, from [`Int`](Self::Int) or from text holding a decimal
    /// integer (WS-Man sends every number as text).
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Self::Int(i) => Some(*i),
            Self::String(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    /// A floating-point number, from [`Real`](Self::Real), [`Int`](Self::Int)
    /// or text.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Self::Real(f) => Some(*f),
            Self::Int(i) => Some(*i as f64),
            Self::String(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    /// A boolean, from [`Bool`](Self::Bool) or from the text `true`/`false`
    /// (any case).
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Self::Bool(b) => Some(*b),
            Self::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
            Self::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
            _ => None,
        }
    }

    /// The elements, for [`Array`](Self::Array) values.
    pub fn as_array(&self) -> Option<&[Self]> {
        match self {
            Self::Array(a) => Some(a),
            _ => None,
        }
    }

    /// The embedded object, for [`Object`](Self::Object) values.
    pub fn as_object(&self) -> Option<&Instance> {
        match self {
            Self::Object(o) => Some(o),
            _ => None,
        }
    }

    /// Whether this is [`Null`](Self::Null).
    pub fn is_null(&self) -> bool {
        matches!(self, Self::Null)
    }

    /// The value as JSON; embedded objects become objects with `__CLASS`.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Self::Null => serde_json::Value::Null,
            Self::Bool(b) => (*b).into(),
            Self::Int(i) => (*i).into(),
            Self::Real(f) => serde_json::Number::from_f64(*f)
                .map_or(serde_json::Value::Null, serde_json::Value::Number),
            Self::String(s) => s.clone().into(),
            Self::Array(a) => a.iter().map(Self::to_json).collect(),
            Self::Object(o) => o.to_json(),
        }
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Self::Bool(b)
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Self::Int(i)
    }
}

impl From<i32> for Value {
    fn from(i: i32) -> Self {
        Self::Int(i.into())
    }
}

impl From<u32> for Value {
    fn from(i: u32) -> Self {
        Self::Int(i.into())
    }
}

impl From<f64> for Value {
    fn from(f: f64) -> Self {
        Self::Real(f)
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Self::String(s.to_owned())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Self::String(s)
    }
}

impl From<Instance> for Value {
    fn from(o: Instance) -> Self {
        Self::Object(Box::new(o))
    }
}

impl<T: Into<Self>> From<Vec<T>> for Value {
    fn from(v: Vec<T>) -> Self {
        Self::Array(v.into_iter().map(Into::into).collect())
    }
}

impl<T: Into<Self>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Self::Null, Into::into)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accessors_read_json_and_wsman_forms_alike() {
        let json = Instance::new("SMS_R_System")
            .with("ResourceId", 16777219)
            .with("Active", true);
        let xml = Instance::new("SMS_R_System")
            .with("ResourceId", "16777219")
            .with("Active", "true");
        for i in [&json, &xml] {
            assert_eq!(i.get_i64("resourceid"), Some(16777219));
            assert_eq!(i.get_bool("ACTIVE"), Some(true));
        }
        assert_eq!(json.get_str("ResourceId"), None);
        assert_eq!(
            xml.to_json().to_string(),
            r#"{"Active":"true","ResourceId":"16777219","__CLASS":"SMS_R_System"}"#
        );
    }
}

//! Reading AdminService answers: pages, entities, method results, errors.
//!
//! Bodies are read with `serde_json` straight into [`Value`]s (no
//! intermediate JSON tree), one entity at a time, counting against
//! [`Limits`] as they go: the body's size first, then depth, properties
//! per object, elements per array, entities per page and string sizes.

use core::cell::RefCell;
use core::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};

use super::{AdminService, Limits, WmiError};
use crate::wql::check_identifier;
use crate::{Error, Instance, Result, Value};

/// One page of a collection answer:
/// `{"@odata.context": "…$metadata#SMS_R_System", "value": [...],
/// "@odata.nextLink": "…"}`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Page {
    /// `@odata.context`, if sent.
    pub context: Option<String>,
    /// The entities, in order. Each has its class from `@odata.type`,
    /// `__CLASS` or the context, and keeps `@odata.etag` and WMI's system
    /// properties (`__RELPATH`, `__PATH`, `__LAZYPROPERTIES`, …) among its
    /// properties.
    pub items: Vec<Instance>,
    /// `@odata.nextLink`, unchecked (the [`Pager`](super::Pager) checks it
    /// with [`AdminService::check_next_link`]).
    pub next_link: Option<String>,
    /// `@odata.count`, if sent.
    pub count: Option<i64>,
}

/// The `@odata.etag` of an instance read from AdminService, for
/// [`AdminService::update`] and [`AdminService::delete`].
pub fn etag(instance: &Instance) -> Option<&str> {
    instance.get_str("@odata.etag")
}

/// The class or entity set an `@odata.context` names:
/// `…/$metadata#SMS_R_System` → `SMS_R_System`;
/// `…#SMS_Collection/$entity` and `…#SMS_R_System(Name,ResourceId)` work
/// too. `None` if it names none.
pub fn class_from_context(context: &str) -> Option<&str> {
    let (_, frag) = context.split_once('#')?;
    let frag = frag.strip_suffix("/$entity").unwrap_or(frag);
    let frag = match frag.strip_prefix("Collection(") {
        Some(inner) => inner.strip_suffix(')')?,
        None => frag.split('(').next().unwrap_or(frag),
    };
    let name = frag.rsplit('.').next().unwrap_or(frag);
    check_identifier(name).ok().map(|()| name)
}

fn class_from_type(t: &str) -> &str {
    let t = t.strip_prefix('#').unwrap_or(t);
    t.rsplit('.').next().unwrap_or(t)
}

/// What the top level of an answer held.
#[derive(Default)]
struct TopLevel {
    context: Option<String>,
    next_link: Option<String>,
    count: Option<i64>,
    value: Option<Value>,
    /// Everything else, as an instance (a bare entity's properties).
    rest: Instance,
}

impl TopLevel {
    /// Whether `rest` has properties other than annotations.
    fn has_properties(&self) -> bool {
        self.rest.properties.keys().any(|k| !k.starts_with('@'))
    }
}

struct Ctx<'l> {
    limits: &'l Limits,
    /// The limit that stopped the parse, to report instead of serde's
    /// message.
    error: RefCell<Option<Error>>,
}

impl Ctx<'_> {
    fn fail<E: de::Error>(&self, what: &'static str, limit: usize) -> E {
        *self.error.borrow_mut() = Some(Error::TooLarge { what, limit });
        E::custom(what)
    }
}

struct ValueSeed<'c, 'l> {
    ctx: &'c Ctx<'l>,
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for ValueSeed<'_, '_> {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueSeed<'_, '_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }

    fn visit_i64<E>(self, i: i64) -> Result<Value, E> {
        Ok(Value::Int(i))
    }

    fn visit_u64<E>(self, u: u64) -> Result<Value, E> {
        Ok(i64::try_from(u).map_or_else(|_| Value::String(u.to_string()), Value::Int))
    }

    fn visit_f64<E>(self, f: f64) -> Result<Value, E> {
        Ok(Value::Real(f))
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Value, E> {
        if s.len() > self.ctx.limits.max_string_len {
            return Err(self.ctx.fail("string", self.ctx.limits.max_string_len));
        }
        Ok(Value::String(s.to_owned()))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let limits = self.ctx.limits;
        if self.depth >= limits.max_depth {
            return Err(self.ctx.fail("JSON depth", limits.max_depth));
        }
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(ValueSeed {
            ctx: self.ctx,
            depth: self.depth + 1,
        })? {
            if out.len() >= limits.max_array_len {
                return Err(self.ctx.fail("array elements", limits.max_array_len));
            }
            out.push(v);
        }
        Ok(Value::Array(out))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let limits = self.ctx.limits;
        if self.depth >= limits.max_depth {
            return Err(self.ctx.fail("JSON depth", limits.max_depth));
        }
        let mut inst = Instance::default();
        read_object(self.ctx, self.depth, &mut map, &mut inst, |_, _| None)?;
        Ok(Value::Object(Box::new(inst)))
    }
}

/// Reads an object's members into `inst`; `special` may claim a key (and
/// read its value itself) by returning `Some`.
fn read_object<'de, A, F>(
    ctx: &Ctx<'_>,
    depth: usize,
    map: &mut A,
    inst: &mut Instance,
    mut special: F,
) -> Result<(), A::Error>
where
    A: MapAccess<'de>,
    F: FnMut(&str, &mut A) -> Option<Result<(), A::Error>>,
{
    let limits = ctx.limits;
    while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
        if key.len() > limits.max_string_len {
            return Err(ctx.fail("string", limits.max_string_len));
        }
        if let Some(r) = special(&key, map) {
            r?;
            continue;
        }
        let v = map.next_value_seed(ValueSeed {
            ctx,
            depth: depth + 1,
        })?;
        if key == "@odata.type" {
            if let Value::String(t) = &v {
                inst.class = class_from_type(t).to_owned();
            }
            continue;
        }
        if key.eq_ignore_ascii_case("__CLASS")
            && inst.class.is_empty()
            && let Value::String(c) = &v
        {
            inst.class.clone_from(c);
        }
        if inst.properties.len() >= limits.max_properties {
            return Err(ctx.fail("properties", limits.max_properties));
        }
        inst.properties.insert(key.into_owned(), v);
    }
    Ok(())
}

struct TopSeed<'c, 'l>(&'c Ctx<'l>);

impl<'de> DeserializeSeed<'de> for TopSeed<'_, '_> {
    type Value = TopLevel;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<TopLevel, D::Error> {
        d.deserialize_map(self)
    }
}

/// The `value` member of the top level: a page's entities are counted
/// against `max_items_per_page`.
struct ItemsSeed<'c, 'l>(&'c Ctx<'l>);

impl<'de> DeserializeSeed<'de> for ItemsSeed<'_, '_> {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ItemsSeed<'_, '_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let limit = self.0.limits.max_items_per_page;
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(ValueSeed {
            ctx: self.0,
            depth: 2,
        })? {
            if out.len() >= limit {
                return Err(self.0.fail("entities per page", limit));
            }
            out.push(v);
        }
        Ok(Value::Array(out))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Value, A::Error> {
        ValueSeed {
            ctx: self.0,
            depth: 1,
        }
        .visit_map(map)
    }

    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }

    fn visit_i64<E>(self, i: i64) -> Result<Value, E> {
        Ok(Value::Int(i))
    }

    fn visit_u64<E: de::Error>(self, u: u64) -> Result<Value, E> {
        ValueSeed {
            ctx: self.0,
            depth: 1,
        }
        .visit_u64(u)
    }

    fn visit_f64<E>(self, f: f64) -> Result<Value, E> {
        Ok(Value::Real(f))
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Value, E> {
        ValueSeed {
            ctx: self.0,
            depth: 1,
        }
        .visit_str(s)
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
}

impl<'de> Visitor<'de> for TopSeed<'_, '_> {
    type Value = TopLevel;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<TopLevel, A::Error> {
        let ctx = self.0;
        let mut top = TopLevel::default();
        let mut rest = Instance::default();
        let string = |map: &mut A| -> Result<Option<String>, A::Error> {
            match map.next_value_seed(ValueSeed { ctx, depth: 1 })? {
                Value::String(s) => Ok(Some(s)),
                Value::Null => Ok(None),
                _ => Err(de::Error::custom("an OData annotation is not a string")),
            }
        };
        let mut context = None;
        let mut next_link = None;
        let mut count = None;
        let mut value = None;
        read_object(ctx, 0, &mut map, &mut rest, |key, map| match key {
            "@odata.context" => Some(string(map).map(|s| context = s)),
            "@odata.nextLink" => Some(string(map).map(|s| next_link = s)),
            "@odata.count" => Some(map.next_value_seed(ValueSeed { ctx, depth: 1 }).and_then(
                |v| match v {
                    Value::Int(n) => {
                        let _: () = count = Some(n);
                        Ok(())
                    }
                    _ => Err(de::Error::custom("@odata.count is not an integer")),
                },
            )),
            "value" => Some(map.next_value_seed(ItemsSeed(ctx)).map(|v| value = Some(v))),
            _ => None,
        })?;
        top.context = context;
        top.next_link = next_link;
        top.count = count;
        top.value = value;
        top.rest = rest;
        Ok(top)
    }
}

fn invalid(what: impl Into<String>) -> Error {
    Error::InvalidResponse { what: what.into() }
}

/// Reads a body's top level within `limits`.
fn read_top(body: &[u8], limits: &Limits) -> Result<TopLevel> {
    let ctx = Ctx {
        limits,
        error: RefCell::new(None),
    };
    let mut de = serde_json::Deserializer::from_slice(body);
    let parsed = TopSeed(&ctx)
        .deserialize(&mut de)
        .and_then(|t| de.end().map(|()| t));
    match parsed {
        Ok(t) => Ok(t),
        Err(e) => Err(ctx
            .error
            .into_inner()
            .unwrap_or_else(|| invalid(format!("JSON: {e}")))),
    }
}

/// The entity list of a `value` array, classed from the context when they
/// do not say.
fn items(value: Value, context_class: Option<&str>) -> Result<Vec<Instance>> {
    let Value::Array(list) = value else {
        return Err(invalid("`value` is not an array"));
    };
    list.into_iter()
        .map(|v| match v {
            Value::Object(mut o) => {
                if o.class.is_empty()
                    && let Some(c) = context_class
                {
                    c.clone_into(&mut o.class);
                }
                Ok(*o)
            }
            _ => Err(invalid("an entity in `value` is not an object")),
        })
        .collect()
}

impl AdminService {
    /// Checks the size and status of an answer: the body if it is a 2xx
    /// answer, else the error (an OData error body becomes [`Error::Wmi`],
    /// anything else [`Error::Http`]).
    pub fn check_status<'b>(&self, response: &http::Response<&'b [u8]>) -> Result<&'b [u8]> {
        let body = *response.body();
        if body.len() > self.limits.max_body_len {
            return Err(Error::TooLarge {
                what: "answer body",
                limit: self.limits.max_body_len,
            });
        }
        let status = response.status();
        if status.is_success() {
            return Ok(body);
        }
        let code = status.as_u16();
        match WmiError::from_body(code, body) {
            Some(e) => Err(Error::Wmi(e)),
            None => {
                let text = String::from_utf8_lossy(&body[..body.len().min(512)]).into_owned();
                Err(Error::Http {
                    status: code,
                    body: text,
                })
            }
        }
    }

    /// Reads a collection answer (a query, or a page of one).
    pub fn parse_page(&self, response: &http::Response<&[u8]>) -> Result<Page> {
        let body = self.check_status(response)?;
        let top = read_top(body, &self.limits)?;
        let class = top.context.as_deref().and_then(class_from_context);
        let value = top
            .value
            .ok_or_else(|| invalid("a collection answer without `value`"))?;
        Ok(Page {
            items: items(value, class)?,
            context: top.context.clone(),
            next_link: top.next_link,
            count: top.count,
        })
    }

    /// Reads a single-entity answer (a get by key, a create's 201): a bare
    /// entity (`…$metadata#SMS_Collection/$entity`), or a one-entity
    /// `value` list, which is how AdminService answers a get by key on
    /// the WMI route. An empty list is `WBEM_E_NOT_FOUND` (as
    /// [`Error::Wmi`]).
    pub fn parse_entity(&self, response: &http::Response<&[u8]>) -> Result<Instance> {
        let status = response.status().as_u16();
        let body = self.check_status(response)?;
        let top = read_top(body, &self.limits)?;
        let class = top.context.as_deref().and_then(class_from_context);
        if top.value.is_some() && !top.has_properties() {
            let mut list = items(top.value.unwrap_or(Value::Null), class)?;
            return match list.len() {
                1 => Ok(list.remove(0)),
                0 => Err(Error::Wmi(WmiError::new(
                    status,
                    "NotFound",
                    "no entity with this key (0x80041002)",
                ))),
                n => Err(invalid(format!("{n} entities where one was expected"))),
            };
        }
        let mut inst = top.rest;
        if let Some(v) = top.value {
            inst.properties.insert("value".into(), v);
        }
        if inst.class.is_empty()
            && let Some(c) = class
        {
            c.clone_into(&mut inst.class);
        }
        Ok(inst)
    }

    /// Reads a method's answer: its out parameters (`ReturnValue`,
    /// `ResourceID`, …) as an instance. A 204 or an empty body gives an
    /// empty instance; an answer wrapping the parameters in `value` (an
    /// object, or a list of one) is unwrapped; a primitive `value` stays
    /// a property named `value`.
    pub fn parse_method_result(&self, response: &http::Response<&[u8]>) -> Result<Instance> {
        let body = self.check_status(response)?;
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Instance::default());
        }
        let top = read_top(body, &self.limits)?;
        let unwrap = !top.has_properties();
        let mut inst = match top.value {
            Some(Value::Object(o)) if unwrap => *o,
            Some(Value::Array(mut a)) if unwrap && a.len() == 1 && a[0].as_object().is_some() => {
                match a.remove(0) {
                    Value::Object(o) => *o,
                    // Checked just above.
                    _ => Instance::default(),
                }
            }
            Some(v) => {
                let mut i = top.rest;
                i.properties.insert("value".into(), v);
                i
            }
            None => top.rest,
        };
        if inst.class.is_empty()
            && let Some(c) = top.context.as_deref().and_then(class_from_context)
        {
            c.clone_into(&mut inst.class);
        }
        Ok(inst)
    }

    /// Reads an answer whose body does not matter (a delete's 204, an
    /// update's 200 or 204): only the status is checked.
    pub fn parse_empty(&self, response: &http::Response<&[u8]>) -> Result<()> {
        self.check_status(response).map(|_| ())
    }
}

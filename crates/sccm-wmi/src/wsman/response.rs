//! Reading the service's answers: envelopes, batches of items, instances,
//! endpoint references and faults.

use super::fault::WsManFault;
use super::xml::{Cursor, Element, PResult, ParseError, malformed, truncate};
use super::{Limits, action, ns};
use crate::{Error, Instance, Result, Value};

/// One batch of an enumeration: the answer to `Enumerate` (optimized) or
/// `Pull`.
///
/// The envelope has been checked whole; the items are turned into
/// [`Instance`]s one at a time by [`items`](Self::items), so a batch costs
/// its bytes plus one instance, however many items it holds.
#[derive(Clone, Debug)]
pub struct EnumerationBatch<'a> {
    /// The context to pull the next batch with (`wsen:EnumerationContext`);
    /// `None` when the service sent none.
    pub context: Option<String>,
    /// Whether the service marked the end (`EndOfSequence`): no further
    /// `Pull` is needed and the context, if any, is spent.
    pub end_of_sequence: bool,
    item_count: usize,
    kind: BatchKind,
    body: &'a [u8],
    limits: Limits,
}

impl<'a> EnumerationBatch<'a> {
    /// The number of items in the batch.
    pub fn len(&self) -> usize {
        self.item_count
    }

    /// Whether the batch holds no item.
    pub fn is_empty(&self) -> bool {
        self.item_count == 0
    }

    /// The items, read one by one.
    pub fn items(&self) -> Items<'a> {
        Items {
            cursor: None,
            body: self.body,
            kind: self.kind,
            limits: self.limits.clone(),
            remaining: self.item_count,
            failed: false,
        }
    }

    /// A batch with no items (the answer to a `Release`).
    pub(crate) fn empty(end_of_sequence: bool) -> Self {
        Self {
            context: None,
            end_of_sequence,
            item_count: 0,
            kind: BatchKind::Enumerate,
            body: &[],
            limits: Limits::default(),
        }
    }
}

/// The items of an [`EnumerationBatch`], each read into an [`Instance`]
/// when reached. After an error the iterator ends.
pub struct Items<'a> {
    cursor: Option<Cursor<'a>>,
    body: &'a [u8],
    kind: BatchKind,
    limits: Limits,
    remaining: usize,
    failed: bool,
}

impl std::fmt::Debug for Items<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Items")
            .field("remaining", &self.remaining)
            .finish_non_exhaustive()
    }
}

impl Items<'_> {
    fn step(&mut self) -> PResult<Option<Instance>> {
        if self.cursor.is_none() {
            let mut cursor = Cursor::new(self.body, &self.limits)?;
            enter_body(&mut cursor)?;
            let Some(response) = cursor.next_child()? else {
                return Err(malformed("the batch is gone"));
            };
            if !is_batch_response(&response, self.kind) {
                return Err(malformed("the batch is gone"));
            }
            loop {
                let Some(child) = cursor.next_child()? else {
                    return Ok(None);
                };
                if is_items(&child) {
                    break;
                }
                cursor.skip_element()?;
            }
            self.cursor = Some(cursor);
        }
        let Some(cursor) = self.cursor.as_mut() else {
            return Ok(None);
        };
        match cursor.next_child()? {
            None => {
                self.remaining = 0;
                Ok(None)
            }
            Some(start) => {
                let element = cursor.read_element(start)?;
                self.remaining = self.remaining.saturating_sub(1);
                Ok(Some(item_instance(&element)))
            }
        }
    }
}

impl Iterator for Items<'_> {
    type Item = Result<Instance>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.remaining == 0 {
            return None;
        }
        match self.step() {
            Ok(Some(i)) => Some(Ok(i)),
            Ok(None) => {
                self.remaining = 0;
                None
            }
            Err(e) => {
                self.failed = true;
                Some(Err(e.into()))
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        if self.failed {
            (0, Some(0))
        } else {
            (0, Some(self.remaining))
        }
    }
}

/// What a [`WsMan::create`](super::WsMan::create) made: the endpoint
/// reference of the new instance (`wxf:ResourceCreated`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResourceCreated {
    /// `wsa:Address` (WinRM answers the anonymous address).
    pub address: String,
    /// `wsman:ResourceURI` of the new instance.
    pub resource_uri: String,
    /// Its keys, `wsman:Selector` name and value, in order.
    pub selectors: Vec<(String, String)>,
}

impl ResourceCreated {
    /// The value of the key `name` (case-insensitive).
    pub fn selector(&self, name: &str) -> Option<&str> {
        self.selectors
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BatchKind {
    Enumerate,
    Pull,
}

// ---------------------------------------------------------------------
// Envelope walking
// ---------------------------------------------------------------------

/// Reads up to the inside of `s:Body`; returns the header.
pub(crate) fn enter_body(cursor: &mut Cursor<'_>) -> PResult<Element> {
    let Some(env) = cursor.next_child_or_eof()? else {
        return Err(malformed("an empty document"));
    };
    if !env.is(ns::SOAP, "Envelope") {
        return Err(malformed(format!(
            "the root element is {{{}}}{}, not a SOAP 1.2 Envelope",
            truncate(&env.ns, 80),
            truncate(&env.local, 80)
        )));
    }
    let mut header = Element::default();
    loop {
        let Some(child) = cursor.next_child()? else {
            return Err(malformed("an envelope without a Body"));
        };
        if child.is(ns::SOAP, "Header") {
            header = cursor.read_element(child)?;
        } else if child.is(ns::SOAP, "Body") {
            return Ok(header);
        } else {
            return Err(malformed(format!(
                "an unexpected {} in the envelope",
                truncate(&child.local, 80)
            )));
        }
    }
}

/// After the body's content: the ends of `s:Body` and `s:Envelope`, then
/// the end of the document.
pub(crate) fn leave_body(cursor: &mut Cursor<'_>) -> PResult<()> {
    while let Some(_extra) = cursor.next_child()? {
        cursor.skip_element()?;
    }
    leave_envelope(cursor)
}

/// After the end of `s:Body`: the end of `s:Envelope`, then the end of
/// the document.
pub(crate) fn leave_envelope(cursor: &mut Cursor<'_>) -> PResult<()> {
    if cursor.next_child()?.is_some() {
        return Err(malformed("content after the Body"));
    }
    cursor.expect_eof()
}

pub(crate) fn header_text<'h>(header: &'h Element, ns: &str, local: &str) -> Option<&'h str> {
    header.child(ns, local).map(Element::trimmed)
}

/// Checks the HTTP status and the envelope; returns a cursor inside the
/// body, positioned before its first child, which is returned too (unless
/// the body is empty). A fault in the body becomes [`Error::Fault`].
fn open_answer<'a>(
    response: &http::Response<&'a [u8]>,
    limits: &Limits,
    expected_action: &str,
) -> Result<(Cursor<'a>, Option<Element>)> {
    let status = response.status().as_u16();
    let body = *response.body();
    let attempt = || -> PResult<(Cursor<'a>, Element, Option<Element>)> {
        let mut cursor = Cursor::new(body, limits)?;
        let header = enter_body(&mut cursor)?;
        let first = cursor.next_child()?;
        Ok((cursor, header, first))
    };
    let (mut cursor, header, first) = match attempt() {
        Ok(x) => x,
        Err(e) if status == 200 => return Err(e.into()),
        Err(ParseError::TooLarge { what, limit }) if body.len() > limits.max_envelope_bytes => {
            return Err(Error::TooLarge { what, limit });
        }
        Err(_) => return Err(http_error(status, body)),
    };
    if let Some(f) = &first
        && f.is(ns::SOAP, "Fault")
    {
        let first = first.expect("checked just above"); // local invariant
        let element = cursor.read_element(first)?;
        return Err(Error::from(WsManFault::from_element(&element)));
    }
    if status != 200 {
        return Err(http_error(status, body));
    }
    if let Some(got) = header_text(&header, ns::ADDRESSING, "Action")
        && got != expected_action
    {
        return Err(Error::InvalidResponse {
            what: format!(
                "the answer's action is {:?}, not {expected_action:?}",
                truncate(got, 200)
            ),
        });
    }
    Ok((cursor, first))
}

fn http_error(status: u16, body: &[u8]) -> Error {
    let text = String::from_utf8_lossy(&body[..body.len().min(512)]).into_owned();
    Error::Http { status, body: text }
}

fn is_batch_response(e: &Element, kind: BatchKind) -> bool {
    match kind {
        BatchKind::Enumerate => e.is(ns::ENUMERATION, "EnumerateResponse"),
        BatchKind::Pull => e.is(ns::ENUMERATION, "PullResponse"),
    }
}

fn is_items(e: &Element) -> bool {
    e.local == "Items" && (e.ns == ns::WSMAN || e.ns == ns::ENUMERATION)
}

// ---------------------------------------------------------------------
// Answers
// ---------------------------------------------------------------------

pub(crate) fn parse_batch<'a>(
    response: &http::Response<&'a [u8]>,
    limits: &Limits,
    kind: BatchKind,
) -> Result<EnumerationBatch<'a>> {
    let expected = match kind {
        BatchKind::Enumerate => action::ENUMERATE_RESPONSE,
        BatchKind::Pull => action::PULL_RESPONSE,
    };
    let (mut cursor, first) = open_answer(response, limits, expected)?;
    let Some(first) = first.filter(|f| is_batch_response(f, kind)) else {
        return Err(Error::InvalidResponse {
            what: format!("the body is not a {expected:?} answer"),
        });
    };
    let _ = first;
    let mut batch = EnumerationBatch {
        context: None,
        end_of_sequence: false,
        item_count: 0,
        kind,
        body: response.body(),
        limits: limits.clone(),
    };
    let mut seen_items = false;
    while let Some(child) = cursor.next_child()? {
        if child.local == "EnumerationContext" && child.ns == ns::ENUMERATION {
            let e = cursor.read_element(child)?;
            let ctx = e.trimmed();
            if !ctx.is_empty() {
                batch.context = Some(ctx.to_owned());
            }
        } else if is_items(&child) {
            if seen_items {
                return Err(Error::InvalidResponse {
                    what: "two Items elements in one batch".into(),
                });
            }
            seen_items = true;
            let n = count_items(&mut cursor)?;
            batch.item_count = n;
        } else if child.local == "EndOfSequence"
            && (child.ns == ns::WSMAN || child.ns == ns::ENUMERATION)
        {
            cursor.skip_element()?;
            batch.end_of_sequence = true;
        } else {
            cursor.skip_element()?;
        }
    }
    leave_body(&mut cursor)?;
    Ok(batch)
}

fn count_items(cursor: &mut Cursor<'_>) -> PResult<usize> {
    let mut n = 0usize;
    while let Some(_item) = cursor.next_child()? {
        n += 1;
        if n > cursor.limits().max_items {
            return Err(ParseError::TooLarge {
                what: "items in one batch",
                limit: cursor.limits().max_items,
            });
        }
        let children = cursor.skip_element()?;
        if children > cursor.limits().max_children {
            return Err(ParseError::TooLarge {
                what: "child elements",
                limit: cursor.limits().max_children,
            });
        }
    }
    Ok(n)
}

pub(crate) fn parse_empty(
    response: &http::Response<&[u8]>,
    limits: &Limits,
    expected_action: &str,
) -> Result<()> {
    let (mut cursor, first) = open_answer(response, limits, expected_action)?;
    if first.is_some() {
        cursor.skip_element()?;
        leave_body(&mut cursor)?;
    } else {
        leave_envelope(&mut cursor)?;
    }
    Ok(())
}

pub(crate) fn parse_instance(
    response: &http::Response<&[u8]>,
    limits: &Limits,
    expected_action: &str,
) -> Result<Option<Instance>> {
    let (mut cursor, first) = open_answer(response, limits, expected_action)?;
    let Some(first) = first else {
        leave_envelope(&mut cursor)?;
        return Ok(None);
    };
    let element = cursor.read_element(first)?;
    leave_body(&mut cursor)?;
    Ok(Some(item_instance(&element)))
}

pub(crate) fn parse_create(
    response: &http::Response<&[u8]>,
    limits: &Limits,
) -> Result<ResourceCreated> {
    let (mut cursor, first) = open_answer(response, limits, action::CREATE_RESPONSE)?;
    let Some(first) = first.filter(|f| f.is(ns::TRANSFER, "ResourceCreated")) else {
        return Err(Error::InvalidResponse {
            what: "a CreateResponse without ResourceCreated".into(),
        });
    };
    let element = cursor.read_element(first)?;
    leave_body(&mut cursor)?;
    Ok(endpoint_reference(&element))
}

// ---------------------------------------------------------------------
// Instances
// ---------------------------------------------------------------------

/// The class an `xsi:type` such as `p:SMS_CollectionRuleDirect_Type` names.
fn class_from_type(e: &Element) -> Option<String> {
    let t = e.attr(ns::XSI, "type")?.trim();
    let local = t.rsplit_once(':').map_or(t, |(_, l)| l);
    let class = local.strip_suffix("_Type")?;
    (!class.is_empty()).then(|| class.to_owned())
}

/// An item or body element as an instance: the class is the element's
/// name (or what its `xsi:type` names); `wsman:XmlFragment` gives an
/// instance with no class.
pub(crate) fn item_instance(e: &Element) -> Instance {
    let class = if e.is(ns::WSMAN, "XmlFragment") {
        String::new()
    } else {
        class_from_type(e).unwrap_or_else(|| e.local.clone())
    };
    instance_with_class(e, class)
}

fn instance_with_class(e: &Element, class: String) -> Instance {
    let mut instance = Instance::new(class);
    for child in &e.children {
        let value = property_value(child);
        match instance.properties.get_mut(&child.local) {
            None => {
                instance.properties.insert(child.local.clone(), value);
            }
            Some(Value::Array(items)) => items.push(value),
            Some(existing) => {
                let first = std::mem::replace(existing, Value::Null);
                *existing = Value::Array(vec![first, value]);
            }
        }
    }
    instance
}

fn property_value(e: &Element) -> Value {
    if e.is_nil() {
        return Value::Null;
    }
    if e.children.is_empty() {
        // An embedded object with no properties still names its type.
        return match class_from_type(e) {
            Some(class) => Value::Object(Box::new(Instance::new(class))),
            None => Value::String(e.text.clone()),
        };
    }
    if let [only] = e.children.as_slice()
        && only.ns == ns::CIM
        && matches!(
            only.local.as_str(),
            "Datetime" | "Interval" | "Date" | "Time"
        )
    {
        return Value::String(only.trimmed().to_owned());
    }
    if e.child(ns::ADDRESSING, "ReferenceParameters").is_some()
        || e.child(ns::ADDRESSING, "Address").is_some()
    {
        return Value::String(reference_path(&endpoint_reference(e)));
    }
    let class = class_from_type(e).unwrap_or_default();
    Value::Object(Box::new(instance_with_class(e, class)))
}

/// Reads an endpoint reference (`wsa:Address`, `wsa:ReferenceParameters`
/// with `wsman:ResourceURI` and `wsman:SelectorSet`).
pub(crate) fn endpoint_reference(e: &Element) -> ResourceCreated {
    let mut out = ResourceCreated {
        address: e
            .child(ns::ADDRESSING, "Address")
            .map(|a| a.trimmed().to_owned())
            .unwrap_or_default(),
        ..ResourceCreated::default()
    };
    if let Some(params) = e.child(ns::ADDRESSING, "ReferenceParameters") {
        out.resource_uri = params
            .child(ns::WSMAN, "ResourceURI")
            .map(|u| u.trimmed().to_owned())
            .unwrap_or_default();
        if let Some(set) = params.child(ns::WSMAN, "SelectorSet") {
            out.selectors = selectors_of(set);
        }
    }
    out
}

/// The `wsman:Selector` children of a `wsman:SelectorSet`; a selector
/// whose value is itself an endpoint reference gives its path form.
pub(crate) fn selectors_of(set: &Element) -> Vec<(String, String)> {
    set.children
        .iter()
        .filter(|s| s.is(ns::WSMAN, "Selector"))
        .map(|s| {
            let name = s.attr("", "Name").unwrap_or_default().to_owned();
            let value = match s.child(ns::ADDRESSING, "EndpointReference") {
                Some(epr) => reference_path(&endpoint_reference(epr)),
                None => s.text.clone(),
            };
            (name, value)
        })
        .collect()
}

/// An endpoint reference in WMI object-path form:
/// `SMS_Collection.CollectionID="PS100042"` (keys in the order sent, every
/// value quoted with `\` before `"` and `\`), or the class alone when there
/// is no key. The class is the last segment of the resource URI.
pub(crate) fn reference_path(epr: &ResourceCreated) -> String {
    let uri = epr.resource_uri.split('?').next().unwrap_or_default();
    let class = uri.rsplit('/').next().unwrap_or_default();
    let mut out = class.to_owned();
    for (i, (name, value)) in epr.selectors.iter().enumerate() {
        out.push(if i == 0 { '.' } else { ',' });
        out.push_str(name);
        out.push_str("=\"");
        for c in value.chars() {
            if matches!(c, '"' | '\\') {
                out.push('\\');
            }
            out.push(c);
        }
        out.push('"');
    }
    out
}

//! Bounded XML reading (a namespace-resolving cursor and small element
//! trees) and escaped writing, on `quick-xml`.
//!
//! Reading never expands entities other than the five predefined ones and
//! character references, refuses document type declarations, and counts
//! depth and children against [`Limits`].

use std::borrow::Cow;

use quick_xml::events::attributes::Attribute;
use quick_xml::events::{BytesEnd, BytesStart, BytesText, Event};
use quick_xml::name::{QName, ResolveResult};
use quick_xml::reader::NsReader;
use quick_xml::{Writer, XmlVersion};

use super::Limits;

/// Why an envelope could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ParseError {
    /// Not XML, not the expected structure, or a value of the wrong shape.
    Malformed(String),
    /// A limit was passed.
    TooLarge { what: &'static str, limit: usize },
}

impl From<ParseError> for crate::Error {
    fn from(e: ParseError) -> Self {
        match e {
            ParseError::Malformed(what) => Self::InvalidResponse { what },
            ParseError::TooLarge { what, limit } => Self::TooLarge { what, limit },
        }
    }
}

pub(crate) type PResult<T> = Result<T, ParseError>;

pub(crate) fn malformed(what: impl Into<String>) -> ParseError {
    ParseError::Malformed(what.into())
}

/// An attribute with its namespace resolved.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Attr {
    pub(crate) ns: String,
    pub(crate) local: String,
    pub(crate) value: String,
}

/// An element with its namespace resolved, its attributes, its child
/// elements and its text (the concatenation of its character data).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Element {
    pub(crate) ns: String,
    pub(crate) local: String,
    pub(crate) attrs: Vec<Attr>,
    pub(crate) children: Vec<Self>,
    pub(crate) text: String,
    /// When the text is a qualified name (`prefix:local`), the namespace
    /// its prefix was bound to where it appeared (fault codes are QNames).
    pub(crate) text_ns: Option<String>,
}

impl Element {
    pub(crate) fn is(&self, ns: &str, local: &str) -> bool {
        self.ns == ns && self.local == local
    }

    pub(crate) fn attr(&self, ns: &str, local: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|a| a.ns == ns && a.local == local)
            .map(|a| a.value.as_str())
    }

    pub(crate) fn child(&self, ns: &str, local: &str) -> Option<&Self> {
        self.children.iter().find(|c| c.is(ns, local))
    }

    /// The text with surrounding XML white space removed.
    pub(crate) fn trimmed(&self) -> &str {
        self.text
            .trim_matches(|c| matches!(c, ' ' | '\t' | '\r' | '\n'))
    }

    /// Whether `xsi:nil` is true.
    pub(crate) fn is_nil(&self) -> bool {
        matches!(
            self.attr(super::ns::XSI, "nil").map(str::trim),
            Some("true" | "1")
        )
    }

    /// The qualified-name text in canonical form (see [`canonical_qname`]).
    pub(crate) fn qname_text(&self) -> String {
        canonical_qname(self.trimmed(), self.text_ns.as_deref())
    }
}

/// A qualified name written with this crate's prefix for its namespace
/// (`s`, `w`, `wsen`, `wsa`, `wxf`, `p`), whatever prefix the sender used;
/// text whose prefix is unknown is kept as sent.
pub(crate) fn canonical_qname(text: &str, ns: Option<&str>) -> String {
    let Some((_, local)) = text.split_once(':') else {
        return text.to_owned();
    };
    match ns.and_then(super::ns::canonical_prefix) {
        Some(prefix) => format!("{prefix}:{local}"),
        None => text.to_owned(),
    }
}

/// One step of the cursor.
#[derive(Debug)]
pub(crate) enum Node {
    /// An element starts (an empty element yields `Open` then `Close`).
    Open(Element),
    /// The innermost open element ends.
    Close,
    /// Character data (already unescaped).
    Text(String),
    /// The end of the document.
    Eof,
}

/// A namespace-resolving pull reader with depth and size limits.
pub(crate) struct Cursor<'a> {
    reader: NsReader<&'a [u8]>,
    depth: usize,
    pending_close: bool,
    seen_root: bool,
    limits: Limits,
}

impl<'a> Cursor<'a> {
    /// A cursor over `bytes`, which must be UTF-8 (a byte order mark is
    /// skipped) and no longer than `limits.max_envelope_bytes`.
    pub(crate) fn new(bytes: &'a [u8], limits: &Limits) -> PResult<Self> {
        if bytes.len() > limits.max_envelope_bytes {
            return Err(ParseError::TooLarge {
                what: "envelope bytes",
                limit: limits.max_envelope_bytes,
            });
        }
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        let text = std::str::from_utf8(bytes).map_err(|e| {
            malformed(format!(
                "the envelope is not UTF-8 (at byte {})",
                e.valid_up_to()
            ))
        })?;
        let mut reader = NsReader::from_str(text);
        reader.config_mut().check_end_names = true;
        reader.config_mut().expand_empty_elements = false;
        reader
            .resolver_mut()
            .set_max_namespace_bindings(limits.max_namespace_bindings);
        Ok(Self {
            reader,
            depth: 0,
            pending_close: false,
            seen_root: false,
            limits: limits.clone(),
        })
    }

    pub(crate) fn limits(&self) -> &Limits {
        &self.limits
    }

    fn position(&self) -> u64 {
        self.reader.buffer_position()
    }

    /// The next node.
    pub(crate) fn next(&mut self) -> PResult<Node> {
        if self.pending_close {
            self.pending_close = false;
            self.depth -= 1;
            return Ok(Node::Close);
        }
        loop {
            let event = self
                .reader
                .read_event()
                .map_err(|e| malformed(format!("XML error near byte {}: {e}", self.position())))?;
            match event {
                Event::Start(start) => return self.open(&start, false),
                Event::Empty(start) => return self.open(&start, true),
                Event::End(_) => {
                    if self.depth == 0 {
                        return Err(malformed("an end tag with no start tag"));
                    }
                    // The reader pops the namespace scope itself.
                    self.depth -= 1;
                    return Ok(Node::Close);
                }
                Event::Text(t) => {
                    let s = t.xml10_content();
                    if self.depth == 0 {
                        if !is_xml_space(&s) {
                            return Err(malformed("text outside the root element"));
                        }
                        continue;
                    }
                    return Ok(Node::Text(s.into_owned()));
                }
                Event::CData(t) => {
                    if self.depth == 0 {
                        return Err(malformed("CDATA outside the root element"));
                    }
                    return Ok(Node::Text(t.xml10_content().into_owned()));
                }
                Event::GeneralRef(r) => {
                    if self.depth == 0 {
                        return Err(malformed("a reference outside the root element"));
                    }
                    let c = if r.is_char_ref() {
                        r.resolve_char_ref()
                            .ok()
                            .flatten()
                            .ok_or_else(|| malformed("an invalid character reference"))?
                    } else {
                        match &*r {
                            "amp" => '&',
                            "lt" => '<',
                            "gt" => '>',
                            "quot" => '"',
                            "apos" => '\'',
                            other => {
                                return Err(malformed(format!(
                                    "an undeclared entity reference &{};",
                                    truncate(other, 40)
                                )));
                            }
                        }
                    };
                    return Ok(Node::Text(c.to_string()));
                }
                Event::DocType(_) => {
                    return Err(malformed("a document type declaration (refused)"));
                }
                Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
                Event::Eof => {
                    if self.depth != 0 {
                        return Err(malformed("the document ends inside an element"));
                    }
                    return Ok(Node::Eof);
                }
            }
        }
    }

    fn open(&mut self, start: &BytesStart<'_>, empty: bool) -> PResult<Node> {
        if self.depth == 0 {
            if self.seen_root {
                return Err(malformed("more than one root element"));
            }
            self.seen_root = true;
        }
        if self.depth >= self.limits.max_depth {
            return Err(ParseError::TooLarge {
                what: "element depth",
                limit: self.limits.max_depth,
            });
        }
        self.depth += 1;
        let resolver = self.reader.resolver();
        let (ns, local) = resolver.resolve_element(start.name());
        let ns = bound(ns)?;
        let mut element = Element {
            ns,
            local: local.as_ref().to_owned(),
            ..Element::default()
        };
        for attr in start.attributes() {
            let attr = attr.map_err(|e| malformed(format!("a bad attribute: {e}")))?;
            if attr.key.as_namespace_binding().is_some() {
                continue;
            }
            if element.attrs.len() >= self.limits.max_attributes {
                return Err(ParseError::TooLarge {
                    what: "attributes on an element",
                    limit: self.limits.max_attributes,
                });
            }
            let (ans, alocal) = resolver.resolve_attribute(attr.key);
            let value = attr
                .normalized_value(XmlVersion::Implicit1_0)
                .map_err(|e| malformed(format!("a bad attribute value: {e}")))?;
            element.attrs.push(Attr {
                ns: bound(ans)?,
                local: alocal.as_ref().to_owned(),
                value: value.into_owned(),
            });
        }
        if empty {
            // The reader keeps the empty element's scope until the next
            // event, so the caller still resolves against it here.
            self.pending_close = true;
        }
        Ok(Node::Open(element))
    }

    /// Resolves the prefix of a qualified name against the scope of the
    /// element being read.
    fn resolve_text_prefix(&self, text: &str) -> Option<String> {
        let t = text.trim();
        let (prefix, local) = t.split_once(':')?;
        if prefix.is_empty() || local.is_empty() || local.contains(':') {
            return None;
        }
        if !t.chars().all(|c| c.is_alphanumeric() || "_-.:".contains(c)) {
            return None;
        }
        match self.reader.resolver().resolve_element(QName(t)).0 {
            ResolveResult::Bound(ns) => Some(ns.0.to_owned()),
            _ => None,
        }
    }

    /// Reads the element just opened (its `Open` already returned) to its
    /// end: children, attributes and text, within the limits.
    pub(crate) fn read_element(&mut self, mut element: Element) -> PResult<Element> {
        let mut stack: Vec<Element> = Vec::new();
        let mut text_len = 0usize;
        loop {
            match self.next()? {
                Node::Open(child) => {
                    if element.children.len() >= self.limits.max_children {
                        return Err(ParseError::TooLarge {
                            what: "child elements",
                            limit: self.limits.max_children,
                        });
                    }
                    stack.push(std::mem::replace(&mut element, child));
                    text_len = 0;
                }
                Node::Text(t) => {
                    text_len += t.len();
                    if text_len > self.limits.max_text_bytes {
                        return Err(ParseError::TooLarge {
                            what: "text bytes in one element",
                            limit: self.limits.max_text_bytes,
                        });
                    }
                    element.text.push_str(&t);
                }
                Node::Close => {
                    if element.text.contains(':') {
                        element.text_ns = self.resolve_text_prefix(&element.text);
                    }
                    match stack.pop() {
                        Some(mut parent) => {
                            parent.children.push(element);
                            element = parent;
                            text_len = element.text.len();
                        }
                        None => return Ok(element),
                    }
                }
                Node::Eof => return Err(malformed("the document ends inside an element")),
            }
        }
    }

    /// Skips the element just opened, to its end; returns how many child
    /// elements it had.
    pub(crate) fn skip_element(&mut self) -> PResult<usize> {
        let mut level = 0usize;
        let mut children = 0usize;
        loop {
            match self.next()? {
                Node::Open(_) => {
                    if level == 0 {
                        children += 1;
                    }
                    level += 1;
                }
                Node::Close => {
                    if level == 0 {
                        return Ok(children);
                    }
                    level -= 1;
                }
                Node::Text(_) => {}
                Node::Eof => return Err(malformed("the document ends inside an element")),
            }
        }
    }

    /// The next child element of the current element, skipping white
    /// space; `None` at the current element's end. Text that is not
    /// white space is refused.
    pub(crate) fn next_child(&mut self) -> PResult<Option<Element>> {
        loop {
            match self.next()? {
                Node::Open(e) => return Ok(Some(e)),
                Node::Close => return Ok(None),
                Node::Text(t) if is_xml_space(&t) => {}
                Node::Text(_) => return Err(malformed("unexpected text between elements")),
                Node::Eof => return Err(malformed("the document ends inside an element")),
            }
        }
    }

    /// The root element, or `None` for a document with none.
    pub(crate) fn next_child_or_eof(&mut self) -> PResult<Option<Element>> {
        match self.next()? {
            Node::Open(e) => Ok(Some(e)),
            Node::Eof => Ok(None),
            Node::Close | Node::Text(_) => Err(malformed("no root element")),
        }
    }

    /// After the root element's end: only comments, processing
    /// instructions and white space may follow.
    pub(crate) fn expect_eof(&mut self) -> PResult<()> {
        match self.next()? {
            Node::Eof => Ok(()),
            _ => Err(malformed("content after the root element")),
        }
    }
}

fn bound(r: ResolveResult<'_>) -> PResult<String> {
    match r {
        ResolveResult::Bound(ns) => Ok(ns.0.to_owned()),
        ResolveResult::Unbound => Ok(String::new()),
        ResolveResult::Unknown(prefix) => Err(malformed(format!(
            "the prefix `{}` is not bound to a namespace",
            truncate(&prefix, 40)
        ))),
    }
}

pub(crate) fn is_xml_space(s: &str) -> bool {
    s.bytes().all(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
}

pub(crate) fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

// ---------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------

/// Whether `c` may appear in an XML 1.0 document.
fn is_xml_char(c: char) -> bool {
    matches!(c,
        '\u{9}' | '\u{A}' | '\u{D}'
        | '\u{20}'..='\u{D7FF}'
        | '\u{E000}'..='\u{FFFD}'
        | '\u{10000}'..='\u{10FFFF}')
}

/// Checks that `s` can be written into XML; `what` names it in the error.
pub(crate) fn check_xml_text(s: &str, what: &str) -> crate::Result<()> {
    match s.chars().find(|&c| !is_xml_char(c)) {
        None => Ok(()),
        Some(c) => Err(crate::Error::InvalidRequest {
            what: format!(
                "{what} holds U+{:04X}, which XML 1.0 cannot carry",
                u32::from(c)
            ),
        }),
    }
}

/// Escapes attribute values so that they survive attribute-value
/// normalisation: the markup characters, quotes and `\r` by
/// `quick_xml::escape::escape`, then `\n` and `\t` as character references.
fn escape_attr(value: &str) -> Cow<'_, str> {
    let escaped = quick_xml::escape::escape(value);
    if escaped.contains(['\n', '\t']) {
        Cow::Owned(escaped.replace('\n', "&#10;").replace('\t', "&#9;"))
    } else {
        escaped
    }
}

/// A small writer over `quick_xml::Writer` into a byte vector. Element
/// names and attribute names are this crate's own (checked identifiers
/// with fixed prefixes); text and attribute values are escaped here.
pub(crate) struct XmlOut {
    writer: Writer<Vec<u8>>,
}

impl XmlOut {
    pub(crate) fn new() -> Self {
        Self {
            writer: Writer::new(Vec::with_capacity(2048)),
        }
    }

    fn event(&mut self, e: Event<'_>) {
        // Writing into a Vec<u8> cannot fail.
        let _ = self.writer.write_event(e);
    }

    fn start_tag<'n>(name: &'n str, attrs: &[(&'n str, &'n str)]) -> BytesStart<'n> {
        let mut start = BytesStart::new(name);
        for (k, v) in attrs {
            start.push_attribute(Attribute {
                key: QName(k),
                value: escape_attr(v),
            });
        }
        start
    }

    /// `<name attrs...>`
    pub(crate) fn open(&mut self, name: &str, attrs: &[(&str, &str)]) {
        self.event(Event::Start(Self::start_tag(name, attrs)));
    }

    /// `</name>`
    pub(crate) fn close(&mut self, name: &str) {
        self.event(Event::End(BytesEnd::new(name)));
    }

    /// `<name attrs.../>`
    pub(crate) fn empty(&mut self, name: &str, attrs: &[(&str, &str)]) {
        self.event(Event::Empty(Self::start_tag(name, attrs)));
    }

    /// Escaped character data.
    pub(crate) fn text(&mut self, text: &str) {
        self.event(Event::Text(BytesText::new(text)));
    }

    /// `<name attrs...>text</name>`
    pub(crate) fn leaf(&mut self, name: &str, attrs: &[(&str, &str)], text: &str) {
        self.open(name, attrs);
        self.text(text);
        self.close(name);
    }

    pub(crate) fn finish(self) -> Vec<u8> {
        self.writer.into_inner()
    }
}

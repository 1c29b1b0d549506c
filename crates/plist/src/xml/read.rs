//! Reading XML property lists.
//!
//! A small hand-written tokenizer for the plist subset of XML 1.0
//! (<https://www.w3.org/TR/xml/>): the XML declaration and other processing
//! instructions, one `DOCTYPE` (skipped, its internal subset included, so no
//! entity it declares is ever expanded), comments, elements with attributes
//! (ignored), character data with the predefined entities and character
//! references, and `CDATA` sections. Line ends are normalised (`\r\n` and
//! lone `\r` become `\n`, XML 1.0 section 2.11).
//!
//! Containers are kept on an explicit stack bounded by
//! [`Limits::max_depth`], so nesting costs heap, not call stack.

use std::borrow::Cow;

use crate::error::{Error, ErrorKind, Result};
use crate::limits::Limits;
use crate::value::{Date, Dictionary, Integer, Value};

/// Decodes an XML property list.
pub(crate) fn decode(data: &[u8], limits: &Limits) -> Result<Value> {
    if data.len() > limits.max_input_len {
        return Err(Error::new(ErrorKind::TooLarge, limits.max_input_len));
    }
    let s = match std::str::from_utf8(data) {
        Ok(s) => s,
        // A character cut off by the end of input is a truncation.
        Err(e) if e.error_len().is_none() => {
            return Err(Error::new(ErrorKind::UnexpectedEof, data.len()));
        }
        Err(e) => return Err(Error::new(ErrorKind::Malformed, e.valid_up_to())),
    };
    let mut r = Reader {
        s,
        b: data,
        pos: 0,
        values: 0,
        max_values: limits.max_values,
        max_depth: limits.max_depth,
        items: Vec::new(),
        entries: Vec::with_capacity(16),
    };
    r.document()
}

/// The elements of the plist vocabulary.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
enum Tag {
    Array,
    Data,
    Date,
    Dict,
    False,
    Integer,
    Key,
    Plist,
    Real,
    String,
    True,
}

impl Tag {
    fn from_name(name: &[u8]) -> Option<Self> {
        Some(match name {
            b"array" => Self::Array,
            b"data" => Self::Data,
            b"date" => Self::Date,
            b"dict" => Self::Dict,
            b"false" => Self::False,
            b"integer" => Self::Integer,
            b"key" => Self::Key,
            b"plist" => Self::Plist,
            b"real" => Self::Real,
            b"string" => Self::String,
            b"true" => Self::True,
            _ => return None,
        })
    }

    fn name(self) -> &'static [u8] {
        match self {
            Self::Array => b"array",
            Self::Data => b"data",
            Self::Date => b"date",
            Self::Dict => b"dict",
            Self::False => b"false",
            Self::Integer => b"integer",
            Self::Key => b"key",
            Self::Plist => b"plist",
            Self::Real => b"real",
            Self::String => b"string",
            Self::True => b"true",
        }
    }
}

/// An open container. Items are gathered on the reader's shared stacks and
/// moved into a container of the exact size when it closes, which saves
/// growing each one step by step.
enum Frame {
    /// Where the array's items start on `Reader::items`.
    Array(usize),
    /// Where the dictionary's entries start on `Reader::entries`, and the
    /// key whose value is being read.
    Dict(usize, Option<String>),
}

/// What comes next inside a container.
enum Next {
    /// A value's start tag: which element, whether it is self-closing
    /// (`<x/>`), and where it starts.
    Start(Tag, bool, usize),
    /// The innermost container closed, giving this value.
    Closed(Value),
}

struct Reader<'a> {
    /// The input, known to be UTF-8.
    s: &'a str,
    /// The same input as bytes.
    b: &'a [u8],
    pos: usize,
    values: usize,
    max_values: usize,
    max_depth: usize,
    /// Items of the open arrays, innermost last.
    items: Vec<Value>,
    /// Entries of the open dictionaries, innermost last.
    entries: Vec<(String, Value)>,
}

fn err(kind: ErrorKind, at: usize) -> Error {
    Error::new(kind, at)
}

fn is_ws(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r')
}

impl<'a> Reader<'a> {
    fn eof(&self) -> Error {
        err(ErrorKind::UnexpectedEof, self.b.len())
    }

    fn malformed(&self, at: usize) -> Error {
        err(ErrorKind::Malformed, at)
    }

    /// The text between two byte offsets that lie on ASCII delimiters.
    fn slice(&self, from: usize, to: usize) -> Result<&'a str> {
        self.s.get(from..to).ok_or(err(ErrorKind::Malformed, from))
    }

    /// Whether the input at `at` starts with `lit`; an input that ends while
    /// still matching it is a truncation.
    fn at(&self, at: usize, lit: &[u8]) -> Result<bool> {
        let rest = self.b.get(at..).unwrap_or_default();
        if rest.len() >= lit.len() {
            Ok(rest.starts_with(lit))
        } else if lit.starts_with(rest) {
            Err(self.eof())
        } else {
            Ok(false)
        }
    }

    fn skip_ws(&mut self) {
        while self.b.get(self.pos).is_some_and(|&c| is_ws(c)) {
            self.pos += 1;
        }
    }

    /// Moves past the first `needle` at or after `from`.
    fn skip_past(&mut self, from: usize, needle: &[u8]) -> Result<()> {
        let end = find_sub(self.b, from, needle).ok_or_else(|| self.eof())?;
        self.pos = end + needle.len();
        Ok(())
    }

    /// Skips whitespace, comments and processing instructions. Returns
    /// `false` at the end of input, `true` at a `<` that starts something else.
    fn skip_misc(&mut self) -> Result<bool> {
        loop {
            self.skip_ws();
            let Some(&c) = self.b.get(self.pos) else {
                return Ok(false);
            };
            if c != b'<' {
                return Err(self.malformed(self.pos));
            }
            if self.at(self.pos, b"<!--")? {
                self.skip_past(self.pos + 4, b"-->")?;
            } else if self.at(self.pos, b"<?")? {
                self.skip_past(self.pos + 2, b"?>")?;
            } else {
                return Ok(true);
            }
        }
    }

    /// Like [`Self::skip_misc`], where the input may not end.
    fn skip_misc_inside(&mut self) -> Result<()> {
        if self.skip_misc()? {
            Ok(())
        } else {
            Err(self.eof())
        }
    }

    /// The document: prolog, root element, epilogue.
    fn document(&mut self) -> Result<Value> {
        if self.b.starts_with(b"\xEF\xBB\xBF") {
            self.pos = 3;
        }
        let mut seen_doctype = false;
        loop {
            self.skip_misc_inside()?;
            if self.at(self.pos, b"<!DOCTYPE")? {
                if seen_doctype {
                    return Err(self.malformed(self.pos));
                }
                seen_doctype = true;
                self.skip_doctype()?;
            } else {
                break;
            }
        }
        let (tag, empty, at) = self.start_tag()?;
        let value = if tag == Tag::Plist {
            if empty {
                return Err(self.malformed(at));
            }
            self.skip_misc_inside()?;
            if self.at(self.pos, b"</")? {
                // `<plist></plist>` holds no value.
                return Err(self.malformed(self.pos));
            }
            let (tag, empty, at) = self.start_tag()?;
            let value = self.value(tag, empty, at)?;
            self.skip_misc_inside()?;
            self.close_tag(Tag::Plist)?;
            value
        } else {
            self.value(tag, empty, at)?
        };
        if self.skip_misc()? {
            return Err(self.malformed(self.pos));
        }
        Ok(value)
    }

    /// Skips `<!DOCTYPE ...>` at `pos`, internal subset and all.
    fn skip_doctype(&mut self) -> Result<()> {
        let mut i = self.pos + b"<!DOCTYPE".len();
        let mut in_subset = false;
        loop {
            let Some(&c) = self.b.get(i) else {
                return Err(self.eof());
            };
            match c {
                b'"' | b'\'' => {
                    let q = find_byte(self.b, i + 1, c).ok_or_else(|| self.eof())?;
                    i = q + 1;
                }
                b'[' if !in_subset => {
                    in_subset = true;
                    i += 1;
                }
                b']' if in_subset => {
                    in_subset = false;
                    i += 1;
                }
                b'<' if in_subset && self.at(i, b"<!--")? => {
                    i = find_sub(self.b, i + 4, b"-->").ok_or_else(|| self.eof())? + 3;
                }
                b'>' if !in_subset => {
                    self.pos = i + 1;
                    return Ok(());
                }
                _ => i += 1,
            }
        }
    }

    /// Reads a start tag at `pos` (which holds `<`): the element, whether it
    /// is self-closing, and its offset. Attributes are skipped.
    fn start_tag(&mut self) -> Result<(Tag, bool, usize)> {
        let at = self.pos;
        let name_start = at + 1;
        let mut i = name_start;
        loop {
            let Some(&c) = self.b.get(i) else {
                return Err(self.eof());
            };
            if is_ws(c) || c == b'/' || c == b'>' {
                break;
            }
            i += 1;
        }
        let tag = self
            .b
            .get(name_start..i)
            .and_then(Tag::from_name)
            .ok_or(err(ErrorKind::Malformed, at))?;
        // Attributes: skipped, minding quoted values.
        loop {
            let Some(&c) = self.b.get(i) else {
                return Err(self.eof());
            };
            match c {
                b'>' => {
                    self.pos = i + 1;
                    return Ok((tag, false, at));
                }
                b'/' => {
                    return match self.b.get(i + 1) {
                        Some(b'>') => {
                            self.pos = i + 2;
                            Ok((tag, true, at))
                        }
                        Some(_) => Err(self.malformed(i)),
                        None => Err(self.eof()),
                    };
                }
                b'"' | b'\'' => {
                    i = find_byte(self.b, i + 1, c).ok_or_else(|| self.eof())? + 1;
                }
                b'<' | b'&' => return Err(self.malformed(i)),
                _ => i += 1,
            }
        }
    }

    /// Reads the end tag of `tag` at `pos` (which holds `</`).
    fn close_tag(&mut self, tag: Tag) -> Result<()> {
        let at = self.pos;
        if !self.at(at, b"</")? {
            return Err(self.malformed(at));
        }
        let name = tag.name();
        let name_start = at + 2;
        if !self.at(name_start, name)? {
            return Err(self.malformed(at));
        }
        self.pos = name_start + name.len();
        self.skip_ws();
        match self.b.get(self.pos) {
            Some(b'>') => {
                self.pos += 1;
                Ok(())
            }
            Some(_) => Err(self.malformed(at)),
            None => Err(self.eof()),
        }
    }

    fn count_value(&mut self, at: usize) -> Result<()> {
        self.values += 1;
        if self.values > self.max_values {
            return Err(err(ErrorKind::TooManyValues, at));
        }
        Ok(())
    }

    /// Reads the value whose start tag has just been read, containers and
    /// all.
    fn value(&mut self, tag: Tag, empty: bool, at: usize) -> Result<Value> {
        let mut stack: Vec<Frame> = Vec::with_capacity(8);
        let mut next = Next::Start(tag, empty, at);
        loop {
            let value = match next {
                Next::Closed(v) => v,
                Next::Start(tag, empty, at) => {
                    self.count_value(at)?;
                    match tag {
                        Tag::Array | Tag::Dict if !empty => {
                            if stack.len() >= self.max_depth {
                                return Err(err(ErrorKind::TooDeep, at));
                            }
                            stack.push(if tag == Tag::Array {
                                Frame::Array(self.items.len())
                            } else {
                                Frame::Dict(self.entries.len(), None)
                            });
                            next = self.next_in(&mut stack)?;
                            continue;
                        }
                        _ => {
                            if stack.len() >= self.max_depth
                                && matches!(tag, Tag::Array | Tag::Dict)
                            {
                                return Err(err(ErrorKind::TooDeep, at));
                            }
                            self.scalar(tag, empty, at)?
                        }
                    }
                }
            };
            match stack.last_mut() {
                None => return Ok(value),
                Some(Frame::Array(_)) => self.items.push(value),
                Some(Frame::Dict(_, key)) => {
                    // `next_in` only starts a value in a dictionary after a key.
                    let key = key.take().unwrap_or_default();
                    self.entries.push((key, value));
                }
            }
            next = self.next_in(&mut stack)?;
        }
    }

    /// Reads what follows inside the innermost open container: the start of
    /// its next value (after the key, in a dictionary), or its end tag.
    fn next_in(&mut self, stack: &mut Vec<Frame>) -> Result<Next> {
        self.skip_misc_inside()?;
        if self.at(self.pos, b"</")? {
            let at = self.pos;
            return match stack.pop() {
                Some(Frame::Array(start)) => {
                    self.close_tag(Tag::Array)?;
                    let items = self.items.drain(start..).collect();
                    Ok(Next::Closed(Value::Array(items)))
                }
                Some(Frame::Dict(start, None)) => {
                    self.close_tag(Tag::Dict)?;
                    let entries = self.entries.drain(start..);
                    let mut dict = Dictionary::with_capacity(entries.len());
                    for (k, v) in entries {
                        dict.insert(k, v);
                    }
                    Ok(Next::Closed(dict_value(dict)))
                }
                // A key with no value, or nothing open.
                Some(Frame::Dict(_, Some(_))) | None => Err(self.malformed(at)),
            };
        }
        let (tag, empty, at) = self.start_tag()?;
        let Some(Frame::Dict(_, key)) = stack.last_mut() else {
            return Ok(Next::Start(tag, empty, at));
        };
        if tag != Tag::Key {
            return Err(self.malformed(at));
        }
        *key = Some(self.text(Tag::Key, empty)?.into_owned());
        self.skip_misc_inside()?;
        if self.at(self.pos, b"</")? {
            return Err(self.malformed(self.pos));
        }
        let (tag, empty, at) = self.start_tag()?;
        Ok(Next::Start(tag, empty, at))
    }

    /// Reads a value that is not a container with contents.
    fn scalar(&mut self, tag: Tag, empty: bool, at: usize) -> Result<Value> {
        let content = self.pos;
        let bad = err(ErrorKind::Malformed, content);
        Ok(match tag {
            Tag::String => Value::String(self.text(tag, empty)?.into_owned()),
            Tag::Data => Value::Data(self.data(empty)?),
            Tag::True | Tag::False => {
                if !empty && !self.text(tag, false)?.bytes().all(is_ws) {
                    return Err(bad);
                }
                Value::Boolean(tag == Tag::True)
            }
            Tag::Integer => {
                let text = self.text(tag, empty)?;
                Value::Integer(parse_integer(trim(&text)).ok_or(bad)?)
            }
            Tag::Real => {
                let text = self.text(tag, empty)?;
                Value::Real(trim(&text).parse::<f64>().map_err(|_| bad)?)
            }
            Tag::Date => {
                let text = self.text(tag, empty)?;
                Value::Date(Date::parse_iso8601(trim(&text)).ok_or(bad)?)
            }
            Tag::Array => Value::Array(Vec::new()),
            Tag::Dict => Value::Dictionary(Dictionary::new()),
            // A key outside a dictionary, or a nested `<plist>`.
            Tag::Key | Tag::Plist => return Err(self.malformed(at)),
        })
    }

    /// Reads character data up to and including the end tag of `tag`.
    fn text(&mut self, tag: Tag, empty: bool) -> Result<Cow<'a, str>> {
        if empty {
            return Ok(Cow::Borrowed(""));
        }
        let start = self.pos;
        let p = find3(self.b, start, b'<', b'&', b'\r').ok_or_else(|| self.eof())?;
        if self.b[p] == b'<' && self.b.get(p + 1) == Some(&b'/') {
            self.pos = p;
            self.close_tag(tag)?;
            return Ok(Cow::Borrowed(self.slice(start, p)?));
        }
        let mut out = String::with_capacity(p - start + 16);
        out.push_str(self.slice(start, p)?);
        self.pos = p;
        self.text_slow(tag, out).map(Cow::Owned)
    }

    /// Character data with entities, line ends to normalise, `CDATA`
    /// sections or comments, appended to `out`.
    fn text_slow(&mut self, tag: Tag, mut out: String) -> Result<String> {
        loop {
            let p = find3(self.b, self.pos, b'<', b'&', b'\r').ok_or_else(|| self.eof())?;
            out.push_str(self.slice(self.pos, p)?);
            self.pos = p;
            match self.b[p] {
                b'\r' => {
                    out.push('\n');
                    self.pos = p + 1;
                    if self.b.get(self.pos) == Some(&b'\n') {
                        self.pos += 1;
                    }
                }
                b'&' => self.entity(&mut out)?,
                _ => {
                    if self.at(p, b"</")? {
                        self.close_tag(tag)?;
                        return Ok(out);
                    } else if self.at(p, b"<![CDATA[")? {
                        let from = p + b"<![CDATA[".len();
                        let end = find_sub(self.b, from, b"]]>").ok_or_else(|| self.eof())?;
                        push_normalised(&mut out, self.slice(from, end)?);
                        self.pos = end + 3;
                    } else if self.at(p, b"<!--")? {
                        self.skip_past(p + 4, b"-->")?;
                    } else if self.at(p, b"<?")? {
                        self.skip_past(p + 2, b"?>")?;
                    } else {
                        // An element inside character data.
                        return Err(self.malformed(p));
                    }
                }
            }
        }
    }

    /// Reads the reference at `pos` (which holds `&`) into `out`.
    fn entity(&mut self, out: &mut String) -> Result<()> {
        let at = self.pos;
        let start = at + 1;
        let mut i = start;
        loop {
            let Some(&c) = self.b.get(i) else {
                return Err(self.eof());
            };
            if c == b';' {
                break;
            }
            if !(c.is_ascii_alphanumeric()
                || matches!(c, b'#' | b'_' | b':' | b'-' | b'.')
                || c >= 0x80)
            {
                return Err(self.malformed(at));
            }
            i += 1;
        }
        let name = &self.b[start..i];
        let c = match name {
            b"lt" => '<',
            b"gt" => '>',
            b"amp" => '&',
            b"apos" => '\'',
            b"quot" => '"',
            [b'#', b'x', hex @ ..] => char_ref(hex, 16).ok_or(err(ErrorKind::Malformed, at))?,
            [b'#', dec @ ..] => char_ref(dec, 10).ok_or(err(ErrorKind::Malformed, at))?,
            [] => return Err(self.malformed(at)),
            _ => return Err(err(ErrorKind::UndefinedEntity, at)),
        };
        out.push(c);
        self.pos = i + 1;
        Ok(())
    }

    /// Reads base64 character data up to and including `</data>`.
    fn data(&mut self, empty: bool) -> Result<Vec<u8>> {
        if empty {
            return Ok(Vec::new());
        }
        let start = self.pos;
        let rest = self.b.get(start..).unwrap_or_default();
        // Usually plain base64 and whitespace: decoded in the same pass that
        // finds the end tag.
        match crate::base64::decode_prefix(rest) {
            Ok((bytes, end)) => {
                let p = start + end;
                if p == self.b.len() {
                    return Err(self.eof());
                }
                if self.at(p, b"</")? {
                    self.pos = p;
                    self.close_tag(Tag::Data)?;
                    return Ok(bytes);
                }
            }
            Err(e) if start + e == self.b.len() => return Err(self.eof()),
            Err(e) if self.b[start + e] != b'&' => {
                return Err(err(ErrorKind::Malformed, start + e));
            }
            Err(_) => {}
        }
        // Entities, comments or CDATA inside: gather the text first.
        let text = self.text_slow(Tag::Data, String::new())?;
        crate::base64::decode(text.as_bytes()).map_err(|_| err(ErrorKind::Malformed, start))
    }
}

/// The value of a closed `<dict>`: a `CF$UID` reference if that is all it
/// holds (as Core Foundation's XML parser reads it), else the dictionary.
fn dict_value(dict: Dictionary) -> Value {
    if dict.len() == 1
        && let Some(uid) = dict.get("CF$UID").and_then(Value::as_u64)
    {
        return Value::Uid(uid);
    }
    Value::Dictionary(dict)
}

/// Trims XML whitespace from both ends.
fn trim(s: &str) -> &str {
    s.trim_matches(|c: char| c.is_ascii() && is_ws(c as u8))
}

/// Parses `<integer>` text: an optional sign, then decimal digits or `0x`
/// and hexadecimal digits, in `i64::MIN..=u64::MAX`.
fn parse_integer(text: &str) -> Option<Integer> {
    let b = text.as_bytes();
    let (negative, rest) = match b.first()? {
        b'-' => (true, &b[1..]),
        b'+' => (false, &b[1..]),
        _ => (false, b),
    };
    let (radix, digits) = match rest {
        [b'0', b'x' | b'X', hex @ ..] if !hex.is_empty() => (16, hex),
        _ => (10, rest),
    };
    if digits.is_empty() {
        return None;
    }
    let mut v: i128 = 0;
    for &c in digits {
        let d = char::from(c).to_digit(radix)?;
        v = v
            .checked_mul(i128::from(radix))?
            .checked_add(i128::from(d))?;
    }
    Integer::new(if negative { -v } else { v })
}

/// The character of a numeric reference's digits.
fn char_ref(digits: &[u8], radix: u32) -> Option<char> {
    if digits.is_empty() {
        return None;
    }
    let mut v: u32 = 0;
    for &c in digits {
        let d = char::from(c).to_digit(radix)?;
        v = v.checked_mul(radix)?.checked_add(d)?;
    }
    char::from_u32(v)
}

/// Appends `s` with its line ends normalised to `\n`.
fn push_normalised(out: &mut String, s: &str) {
    let mut rest = s;
    while let Some(p) = rest.find('\r') {
        out.push_str(&rest[..p]);
        out.push('\n');
        rest = &rest[p + 1..];
        if let Some(r) = rest.strip_prefix('\n') {
            rest = r;
        }
    }
    out.push_str(rest);
}

/// The first `needle` at or after `from`.
fn find_byte(hay: &[u8], from: usize, needle: u8) -> Option<usize> {
    find3(hay, from, needle, needle, needle)
}

/// The first occurrence of `needle` (non-empty) at or after `from`.
fn find_sub(hay: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    let (&first, _) = needle.split_first()?;
    let mut i = from;
    loop {
        let p = find_byte(hay, i, first)?;
        if hay.get(p..)?.starts_with(needle) {
            return Some(p);
        }
        i = p + 1;
    }
}

/// The first byte at or after `from` equal to `a`, `b` or `c`, eight bytes
/// at a time.
fn find3(hay: &[u8], from: usize, a: u8, b: u8, c: u8) -> Option<usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    // High bit set in each byte of `v` that is zero. Borrows can mark bytes
    // above a zero byte too, never below it, so the lowest mark is exact.
    fn zeros(v: u64) -> u64 {
        v.wrapping_sub(LO) & !v & HI
    }
    let rest = hay.get(from..)?;
    let (ra, rb, rc) = (LO * u64::from(a), LO * u64::from(b), LO * u64::from(c));
    let mut chunks = rest.chunks_exact(8);
    let mut off = from;
    for ch in &mut chunks {
        let w = u64::from_le_bytes([ch[0], ch[1], ch[2], ch[3], ch[4], ch[5], ch[6], ch[7]]);
        let m = zeros(w ^ ra) | zeros(w ^ rb) | zeros(w ^ rc);
        if m != 0 {
            return Some(off + (m.trailing_zeros() / 8) as usize);
        }
        off += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(|&x| x == a || x == b || x == c)
        .map(|p| off + p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Value> {
        decode(s.as_bytes(), &Limits::default())
    }

    fn kind(s: &str) -> ErrorKind {
        parse(s).unwrap_err().kind()
    }

    #[test]
    fn find3_matches_naive() {
        let hay = b"0123456789abcdef<ghijklmnopq&rstuvw\rxyz";
        for from in 0..=hay.len() {
            let naive = hay[from..]
                .iter()
                .position(|&x| x == b'<' || x == b'&' || x == b'\r')
                .map(|p| p + from);
            assert_eq!(find3(hay, from, b'<', b'&', b'\r'), naive, "{from}");
        }
        assert_eq!(find3(hay, hay.len() + 1, b'<', b'<', b'<'), None);
        assert_eq!(find_sub(b"a-->b-->", 0, b"-->"), Some(1));
        assert_eq!(find_sub(b"a--b-->", 0, b"-->"), Some(4));
    }

    #[test]
    fn scalars() {
        assert_eq!(parse("<plist><true/></plist>"), Ok(Value::Boolean(true)));
        assert_eq!(parse("<false></false>"), Ok(Value::Boolean(false)));
        assert_eq!(
            parse("<string>a &lt;b&gt; &amp; &apos;&quot;</string>"),
            Ok("a <b> & '\"".into())
        );
        assert_eq!(
            parse("<string>&#65;&#x42;&#x1F600;</string>"),
            Ok("AB\u{1F600}".into())
        );
        assert_eq!(
            parse("<string>a\r\nb\rc&#13;</string>"),
            Ok("a\nb\nc\r".into())
        );
        assert_eq!(
            parse("<string><![CDATA[<&>]]>x<!-- c --></string>"),
            Ok("<&>x".into())
        );
        assert_eq!(parse("<string/>"), Ok("".into()));
        assert_eq!(parse("<integer> -12 </integer>"), Ok(Value::from(-12)));
        assert_eq!(parse("<integer>0x1F</integer>"), Ok(Value::from(31)));
        assert_eq!(
            parse("<integer>18446744073709551615</integer>"),
            Ok(Value::from(u64::MAX))
        );
        assert_eq!(
            parse("<integer>-9223372036854775808</integer>"),
            Ok(Value::from(i64::MIN))
        );
        assert_eq!(parse("<real>1.5e3</real>"), Ok(Value::Real(1500.0)));
        assert_eq!(
            parse("<real>-INF</real>"),
            Ok(Value::Real(f64::NEG_INFINITY))
        );
        assert_eq!(parse("<real>+inf</real>"), Ok(Value::Real(f64::INFINITY)));
        assert!(
            parse("<real>NaN</real>")
                .unwrap()
                .as_f64()
                .unwrap()
                .is_nan()
        );
        assert_eq!(
            parse("<data>\n\tq83v\n\tASM=\n</data>"),
            Ok(Value::Data(vec![0xab, 0xcd, 0xef, 1, 0x23]))
        );
        assert_eq!(
            parse("<data>q83v&#65;SM=</data>"),
            Ok(Value::Data(vec![0xab, 0xcd, 0xef, 1, 0x23]))
        );
        assert_eq!(parse("<data/>"), Ok(Value::Data(vec![])));
        assert_eq!(
            parse("<date>2001-01-01T00:00:00Z</date>"),
            Ok(Value::Date(Date::from_seconds_since_2001(0.0).unwrap()))
        );
    }

    #[test]
    fn containers() {
        let v = parse(
            "<?xml version='1.0'?>\n<!DOCTYPE plist SYSTEM 'x'>\n<!-- c -->\
             <plist version=\"1.0\"><dict><key>a</key><array><integer>1</integer><dict/><array/></array>\
             <key>b</key><string>x</string><key>a</key><true/></dict></plist>\n<!-- end -->\n",
        )
        .unwrap();
        let d = v.as_dictionary().unwrap();
        assert_eq!(d.keys().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(d.get("a"), Some(&Value::Boolean(true)));
        let uid = parse("<dict><key>CF$UID</key><integer>7</integer></dict>").unwrap();
        assert_eq!(uid, Value::Uid(7));
        let not_uid = parse("<dict><key>CF$UID</key><integer>-7</integer></dict>").unwrap();
        assert!(not_uid.as_dictionary().is_some());
    }

    #[test]
    fn errors() {
        use ErrorKind::*;
        assert_eq!(kind(""), UnexpectedEof);
        assert_eq!(kind("  \n"), UnexpectedEof);
        assert_eq!(kind("<plist>"), UnexpectedEof);
        assert_eq!(kind("<plist><dict><key>a</key>"), UnexpectedEof);
        assert_eq!(kind("<string>abc</stri"), UnexpectedEof);
        assert_eq!(kind("<string>&am"), UnexpectedEof);
        assert_eq!(kind("<!-- abc"), UnexpectedEof);
        assert_eq!(kind("<plist></plist>"), Malformed);
        assert_eq!(kind("<plist/>"), Malformed);
        assert_eq!(kind("<plist><true/><true/></plist>"), Malformed);
        assert_eq!(kind("<true/>x"), Malformed);
        assert_eq!(kind("<string>a</key>"), Malformed);
        assert_eq!(kind("<key>a</key>"), Malformed);
        assert_eq!(kind("<dict><string>a</string></dict>"), Malformed);
        assert_eq!(kind("<dict><key>a</key></dict>"), Malformed);
        assert_eq!(kind("<dict><key>a</key><key>b</key></dict>"), Malformed);
        assert_eq!(kind("<array><key>a</key></array>"), Malformed);
        assert_eq!(kind("<array>x</array>"), Malformed);
        assert_eq!(kind("<array><plist><true/></plist></array>"), Malformed);
        assert_eq!(kind("<foo/>"), Malformed);
        assert_eq!(kind("<string>a<b/></string>"), Malformed);
        assert_eq!(kind("<string>a & b</string>"), Malformed);
        assert_eq!(kind("<string>&#xD800;</string>"), Malformed);
        assert_eq!(kind("<string>&#99999999999;</string>"), Malformed);
        assert_eq!(kind("<string>&nbsp;</string>"), UndefinedEntity);
        assert_eq!(kind("<integer>1.5</integer>"), Malformed);
        assert_eq!(kind("<integer>18446744073709551616</integer>"), Malformed);
        assert_eq!(kind("<integer>-9223372036854775809</integer>"), Malformed);
        assert_eq!(kind("<integer>0x</integer>"), Malformed);
        assert_eq!(kind("<integer/>"), Malformed);
        assert_eq!(kind("<real>1.5.5</real>"), Malformed);
        assert_eq!(kind("<date>2001-01-01T00:00:00</date>"), Malformed);
        assert_eq!(kind("<data>Base64=</data>"), Malformed);
        assert_eq!(kind("<true>x</true>"), Malformed);
        assert_eq!(kind("<!DOCTYPE a><!DOCTYPE a><true/>"), Malformed);
        assert_eq!(
            decode(b"<string>\xff</string>", &Limits::default())
                .unwrap_err()
                .kind(),
            Malformed
        );
        assert_eq!(
            decode(b"<string>\xc3", &Limits::default())
                .unwrap_err()
                .kind(),
            UnexpectedEof
        );
    }

    #[test]
    fn limits() {
        let mut l = Limits::default();
        l.max_depth(2).max_values(5).max_input_len(100);
        let d = |s: &str| decode(s.as_bytes(), &l).map_err(|e| e.kind());
        assert!(d("<array><array/></array>").is_ok());
        assert!(d("<array><array><true/></array></array>").is_ok());
        assert_eq!(
            d("<array><array><array/></array></array>"),
            Err(ErrorKind::TooDeep)
        );
        assert_eq!(
            d("<array><array><dict/></array></array>"),
            Err(ErrorKind::TooDeep)
        );
        assert!(d("<array><true/><true/><true/><true/></array>").is_ok());
        assert_eq!(
            d("<array><true/><true/><true/><true/><true/></array>"),
            Err(ErrorKind::TooManyValues)
        );
        assert_eq!(d(&" ".repeat(101)), Err(ErrorKind::TooLarge));
    }
}

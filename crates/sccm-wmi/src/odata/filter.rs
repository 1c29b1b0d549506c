//! `$filter` expressions (OData v4.0 Part 2, 5.1.1 "System Query Option
//! $filter"), built from typed parts or checked when given as text.

use core::fmt;

use crate::classes::DateTime;
use crate::wql::check_identifier;

/// The longest `$filter` text accepted, in bytes (http.sys refuses URLs
/// past 16 KiB; AdminService turns the filter into WQL).
pub const MAX_FILTER_LEN: usize = 8 * 1024;

/// The deepest nesting of parentheses, `not`s and function calls accepted
/// in a `$filter` text.
pub const MAX_FILTER_DEPTH: usize = 32;

/// A `$filter` expression.
///
/// Built from typed parts ([`Filter::eq`], [`Filter::startswith`],
/// [`Filter::and`], `!filter`, …), a filter quotes its values (`'` doubled
/// inside strings) and checks its property names as WMI identifiers, so no
/// value can change the expression's shape. A name that is not an identifier,
/// a non-finite number or a control character in a string makes the filter
/// invalid; the request that uses it is refused with
/// [`Error::InvalidRequest`](crate::Error::InvalidRequest).
///
/// [`Filter::raw`] takes an expression as text and checks it with a small
/// parser of the subset AdminService understands: comparisons (`eq`, `ne`,
/// `gt`, `ge`, `lt`, `le`), `and`, `or`, `not`, parentheses, string, number,
/// boolean, `null` and date-time literals, property names, and the string
/// and date functions (`contains`, `startswith`, `endswith`, `tolower`,
/// `toupper`, `trim`, `length`, `indexof`, `substring`, `concat`, `year`,
/// `month`, `day`, `hour`, `minute`, `second`, `date`, `time`). `in`,
/// arithmetic, lambdas and `$it` are refused: AdminService translates the
/// filter into WQL, which has none of them.
///
/// ```
/// use sccm_wmi::odata::Filter;
///
/// let f = Filter::eq("Name", "O'Brien's Mac").and(!Filter::startswith("Name", "TEST"));
/// assert_eq!(f.to_string(), "Name eq 'O''Brien''s Mac' and not startswith(Name,'TEST')");
/// assert!(Filter::raw("Name eq 'x' and Client eq 1").is_ok());
/// assert!(Filter::raw("Name eq 'x'&$top=1").is_err());
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Filter {
    inner: Result<Rendered, String>,
}

#[derive(Clone, Debug, PartialEq)]
struct Rendered {
    text: String,
    prec: Prec,
}

/// Operator precedence of the outermost operator, lowest first.
#[derive(Clone, Copy, Debug, Eq, Ord, PartialEq, PartialOrd)]
enum Prec {
    Or,
    And,
    Unary,
}

/// A value in a comparison.
#[derive(Clone, Debug, PartialEq)]
pub enum FilterValue {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A number with a fractional part (must be finite).
    Real(f64),
    /// A string, written in `'` with `'` doubled.
    String(String),
    /// A date-time, written as an OData `DateTimeOffset` literal
    /// (`2023-10-04T12:34:56Z`, unquoted).
    DateTime(DateTime),
}

impl FilterValue {
    fn render(&self, out: &mut String) -> Result<(), String> {
        use fmt::Write as _;
        match self {
            Self::Null => out.push_str("null"),
            Self::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Self::Int(i) => {
                let _ = write!(out, "{i}");
            }
            Self::Real(f) => {
                if !f.is_finite() {
                    return Err(format!("the number {f} cannot be written in a filter"));
                }
                let t = f.to_string();
                out.push_str(&t);
                if !t.contains('.') {
                    out.push_str(".0");
                }
            }
            Self::String(s) => {
                if s.chars().any(char::is_control) {
                    return Err("a filter string holds a control character".into());
                }
                out.push('\'');
                for c in s.chars() {
                    if c == '\'' {
                        out.push('\'');
                    }
                    out.push(c);
                }
                out.push('\'');
            }
            Self::DateTime(d) => out.push_str(&d.to_iso8601()),
        }
        Ok(())
    }
}

fn property(name: &str) -> Result<(), String> {
    check_identifier(name).map_err(|_| format!("`{name}` is not a WMI property name"))
}

impl Filter {
    fn compare(name: &str, op: &str, value: FilterValue) -> Self {
        let inner = property(name).and_then(|()| {
            let mut text = format!("{name} {op} ");
            value.render(&mut text)?;
            Ok(Rendered {
                text,
                prec: Prec::Unary,
            })
        });
        Self { inner }
    }

    fn function(func: &str, name: &str, value: &str) -> Self {
        let inner = property(name).and_then(|()| {
            let mut text = format!("{func}({name},");
            FilterValue::String(value.to_owned()).render(&mut text)?;
            text.push(')');
            Ok(Rendered {
                text,
                prec: Prec::Unary,
            })
        });
        Self { inner }
    }

    /// `<property> eq <value>`.
    pub fn eq(property: &str, value: impl Into<FilterValue>) -> Self {
        Self::compare(property, "eq", value.into())
    }

    /// `<property> ne <value>`.
    pub fn ne(property: &str, value: impl Into<FilterValue>) -> Self {
        Self::compare(property, "ne", value.into())
    }

    /// `<property> gt <value>`.
    pub fn gt(property: &str, value: impl Into<FilterValue>) -> Self {
        Self::compare(property, "gt", value.into())
    }

    /// `<property> ge <value>`.
    pub fn ge(property: &str, value: impl Into<FilterValue>) -> Self {
        Self::compare(property, "ge", value.into())
    }

    /// `<property> lt <value>`.
    pub fn lt(property: &str, value: impl Into<FilterValue>) -> Self {
        Self::compare(property, "lt", value.into())
    }

    /// `<property> le <value>`.
    pub fn le(property: &str, value: impl Into<FilterValue>) -> Self {
        Self::compare(property, "le", value.into())
    }

    /// `startswith(<property>,'<prefix>')`.
    pub fn startswith(property: &str, prefix: &str) -> Self {
        Self::function("startswith", property, prefix)
    }

    /// `endswith(<property>,'<suffix>')`.
    pub fn endswith(property: &str, suffix: &str) -> Self {
        Self::function("endswith", property, suffix)
    }

    /// `contains(<property>,'<text>')`.
    pub fn contains(property: &str, text: &str) -> Self {
        Self::function("contains", property, text)
    }

    fn junction(self, other: Self, prec: Prec, word: &str) -> Self {
        let inner = self.inner.and_then(|l| {
            let r = other.inner?;
            let mut text = String::with_capacity(l.text.len() + r.text.len() + 8);
            push_grouped(&mut text, &l, prec);
            text.push(' ');
            text.push_str(word);
            text.push(' ');
            push_grouped(&mut text, &r, prec);
            Ok(Rendered { text, prec })
        });
        Self { inner }
    }

    /// `self and other`.
    pub fn and(self, other: Self) -> Self {
        self.junction(other, Prec::And, "and")
    }

    /// `self or other`.
    pub fn or(self, other: Self) -> Self {
        self.junction(other, Prec::Or, "or")
    }

    /// A filter given as text, checked by a parser of the subset
    /// AdminService understands (see the [type docs](Self)).
    pub fn raw(text: &str) -> Result<Self, crate::Error> {
        check_raw(text).map_err(|what| crate::Error::InvalidRequest {
            what: format!("$filter: {what}"),
        })?;
        Ok(Self {
            inner: Ok(Rendered {
                text: text.trim().to_owned(),
                // Unknown: group it whenever combined.
                prec: Prec::Or,
            }),
        })
    }

    /// The expression as text, or why it is invalid.
    pub fn text(&self) -> Result<&str, crate::Error> {
        match &self.inner {
            Ok(r) => Ok(&r.text),
            Err(what) => Err(crate::Error::InvalidRequest {
                what: format!("$filter: {what}"),
            }),
        }
    }
}

fn push_grouped(out: &mut String, r: &Rendered, parent: Prec) {
    if r.prec < parent {
        out.push('(');
        out.push_str(&r.text);
        out.push(')');
    } else {
        out.push_str(&r.text);
    }
}

impl core::ops::Not for Filter {
    type Output = Self;

    /// `not self`.
    fn not(self) -> Self {
        let inner = self.inner.map(|r| {
            let mut text = String::from("not ");
            push_grouped(&mut text, &r, Prec::Unary);
            Rendered {
                text,
                prec: Prec::Unary,
            }
        });
        Self { inner }
    }
}

impl fmt::Display for Filter {
    /// The expression (not percent-encoded), or `<invalid: …>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner {
            Ok(r) => f.write_str(&r.text),
            Err(what) => write!(f, "<invalid: {what}>"),
        }
    }
}

impl From<&str> for FilterValue {
    fn from(s: &str) -> Self {
        Self::String(s.to_owned())
    }
}

impl From<String> for FilterValue {
    fn from(s: String) -> Self {
        Self::String(s)
    }
}

impl From<&String> for FilterValue {
    fn from(s: &String) -> Self {
        Self::String(s.clone())
    }
}

impl From<i64> for FilterValue {
    fn from(i: i64) -> Self {
        Self::Int(i)
    }
}

impl From<i32> for FilterValue {
    fn from(i: i32) -> Self {
        Self::Int(i.into())
    }
}

impl From<u32> for FilterValue {
    fn from(i: u32) -> Self {
        Self::Int(i.into())
    }
}

impl From<bool> for FilterValue {
    fn from(b: bool) -> Self {
        Self::Bool(b)
    }
}

impl From<f64> for FilterValue {
    fn from(f: f64) -> Self {
        Self::Real(f)
    }
}

impl From<DateTime> for FilterValue {
    fn from(d: DateTime) -> Self {
        Self::DateTime(d)
    }
}

// ---------------------------------------------------------------------------
// The checker for `Filter::raw`.

#[derive(Clone, Copy, Debug, PartialEq)]
enum Tok<'a> {
    Ident(&'a str),
    Literal,
    LParen,
    RParen,
    Comma,
    End,
}

const FUNCTIONS: &[(&str, usize, usize)] = &[
    ("contains", 2, 2),
    ("startswith", 2, 2),
    ("endswith", 2, 2),
    ("tolower", 1, 1),
    ("toupper", 1, 1),
    ("trim", 1, 1),
    ("length", 1, 1),
    ("indexof", 2, 2),
    ("substring", 2, 3),
    ("concat", 2, 2),
    ("year", 1, 1),
    ("month", 1, 1),
    ("day", 1, 1),
    ("hour", 1, 1),
    ("minute", 1, 1),
    ("second", 1, 1),
    ("date", 1, 1),
    ("time", 1, 1),
];

const COMPARISONS: &[&str] = &["eq", "ne", "gt", "ge", "lt", "le"];
const RESERVED: &[&str] = &[
    "and", "or", "not", "eq", "ne", "gt", "ge", "lt", "le", "has", "in", "add", "sub", "mul",
    "div", "mod", "true", "false", "null",
];

fn tokenize(text: &str) -> Result<Vec<Tok<'_>>, String> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match c {
            b' ' | b'\t' => i += 1,
            b'(' | b')' | b',' => {
                out.push(match c {
                    b'(' => Tok::LParen,
                    b')' => Tok::RParen,
                    _ => Tok::Comma,
                });
                i += 1;
            }
            b'\'' => {
                i += 1;
                loop {
                    match b.get(i) {
                        None => return Err(format!("unterminated string at byte {i}")),
                        Some(b'\'') if b.get(i + 1) == Some(&b'\'') => i += 2,
                        Some(b'\'') => {
                            i += 1;
                            break;
                        }
                        Some(&x) if x < 0x20 || x == 0x7f => {
                            return Err(format!("control character at byte {i}"));
                        }
                        Some(_) => i += 1,
                    }
                }
                out.push(Tok::Literal);
            }
            b'a'..=b'z' | b'A'..=b'Z' | b'_' => {
                let start = i;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                    i += 1;
                }
                let w = &text[start..i];
                if matches!(w, "true" | "false" | "null") {
                    out.push(Tok::Literal);
                } else {
                    out.push(Tok::Ident(w));
                }
            }
            b'0'..=b'9' | b'-' => {
                let start = i;
                i += 1;
                while i < b.len()
                    && (b[i].is_ascii_alphanumeric() || matches!(b[i], b'.' | b':' | b'-' | b'+'))
                {
                    i += 1;
                }
                let t = &text[start..i];
                if !is_number(t) && DateTime::parse_iso8601(t).is_err() {
                    return Err(format!("`{t}` is not a number or a date-time"));
                }
                out.push(Tok::Literal);
            }
            _ => return Err(format!("unexpected character at byte {i}")),
        }
    }
    out.push(Tok::End);
    Ok(out)
}

/// `-?digits[.digits][e[+-]digits]`.
fn is_number(t: &str) -> bool {
    let t = t.strip_prefix('-').unwrap_or(t);
    let (mantissa, exp) = match t.find(['e', 'E']) {
        Some(at) => (&t[..at], Some(&t[at + 1..])),
        None => (t, None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok = match mantissa.split_once('.') {
        Some((a, b)) => digits(a) && digits(b),
        None => digits(mantissa),
    };
    let exp_ok = exp.is_none_or(|e| digits(e.strip_prefix(['+', '-']).unwrap_or(e)));
    mantissa_ok && exp_ok
}

struct Checker<'a> {
    toks: Vec<Tok<'a>>,
    pos: usize,
    depth: usize,
}

impl<'a> Checker<'a> {
    fn peek(&self) -> Tok<'a> {
        self.toks[self.pos]
    }

    fn bump(&mut self) {
        if self.pos + 1 < self.toks.len() {
            self.pos += 1;
        }
    }

    fn word(&self, w: &str) -> bool {
        self.peek() == Tok::Ident(w)
    }

    fn enter(&mut self) -> Result<(), String> {
        self.depth += 1;
        if self.depth > MAX_FILTER_DEPTH {
            return Err("nested too deeply".into());
        }
        Ok(())
    }

    fn unexpected(&self) -> String {
        match self.peek() {
            Tok::End => "unexpected end".into(),
            Tok::Ident(w) => format!("unexpected `{w}`"),
            t => format!("unexpected {t:?}"),
        }
    }

    fn or(&mut self) -> Result<(), String> {
        self.and()?;
        while self.word("or") {
            self.bump();
            self.and()?;
        }
        Ok(())
    }

    fn and(&mut self) -> Result<(), String> {
        self.unary()?;
        while self.word("and") {
            self.bump();
            self.unary()?;
        }
        Ok(())
    }

    fn unary(&mut self) -> Result<(), String> {
        if self.word("not") {
            self.enter()?;
            self.bump();
            self.unary()?;
            self.depth -= 1;
            return Ok(());
        }
        self.primary()?;
        if let Tok::Ident(w) = self.peek()
            && COMPARISONS.contains(&w)
        {
            self.bump();
            self.primary()?;
        }
        Ok(())
    }

    fn primary(&mut self) -> Result<(), String> {
        match self.peek() {
            Tok::LParen => {
                self.enter()?;
                self.bump();
                self.or()?;
                if self.peek() != Tok::RParen {
                    return Err(self.unexpected());
                }
                self.bump();
                self.depth -= 1;
                Ok(())
            }
            Tok::Literal => {
                self.bump();
                Ok(())
            }
            Tok::Ident(w) if RESERVED.contains(&w) => Err(self.unexpected()),
            Tok::Ident(w) => {
                self.bump();
                if self.peek() != Tok::LParen {
                    return property(w);
                }
                let Some(&(_, min, max)) = FUNCTIONS.iter().find(|(n, _, _)| *n == w) else {
                    return Err(format!("unknown function `{w}`"));
                };
                self.enter()?;
                self.bump();
                let mut n = 0;
                if self.peek() != Tok::RParen {
                    loop {
                        self.or()?;
                        n += 1;
                        if self.peek() != Tok::Comma || n >= max {
                            break;
                        }
                        self.bump();
                    }
                }
                if self.peek() != Tok::RParen || n < min {
                    return Err(format!("`{w}` takes {min} to {max} arguments"));
                }
                self.bump();
                self.depth -= 1;
                Ok(())
            }
            _ => Err(self.unexpected()),
        }
    }
}

fn check_raw(text: &str) -> Result<(), String> {
    if text.len() > MAX_FILTER_LEN {
        return Err(format!("longer than {MAX_FILTER_LEN} bytes"));
    }
    let toks = tokenize(text)?;
    let mut c = Checker {
        toks,
        pos: 0,
        depth: 0,
    };
    c.or()?;
    if c.peek() != Tok::End {
        return Err(c.unexpected());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_filters() {
        let f = Filter::eq("ResourceId", 16777219)
            .or(Filter::eq("Name", "a'b"))
            .and(Filter::ne("Obsolete", true));
        assert_eq!(
            f.to_string(),
            "(ResourceId eq 16777219 or Name eq 'a''b') and Obsolete ne true"
        );
        let f = !(Filter::gt("X", 1.5).and(Filter::le("Y", FilterValue::Null)));
        assert_eq!(f.to_string(), "not (X gt 1.5 and Y le null)");
        assert!(Filter::eq("Name eq 'x' or 1", 1).text().is_err());
        assert!(Filter::eq("X", f64::INFINITY).text().is_err());
        assert!(Filter::eq("X", "a\nb").text().is_err());
        assert!(
            Filter::eq("ok", 1)
                .and(Filter::eq("bad name", 1))
                .text()
                .is_err()
        );
        assert_eq!(Filter::gt("X", 2.0).to_string(), "X gt 2.0");
    }

    #[test]
    fn raw_filters() {
        for ok in [
            "Name eq 'x'",
            "startswith(Name,'MAC') and not (Client eq 1 or Obsolete eq true)",
            "ResourceId gt -5 and X lt 1.5e3",
            "LastLogonTimestamp ge 2023-10-04T12:34:56Z",
            "substring(Name,1,2) eq 'AC'",
            "tolower(Name) eq 'o''brien'",
            "Active",
        ] {
            assert!(Filter::raw(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "Name eq 'x",
            "Name eq 'x' &$top=1",
            "Name eq 'x' # y",
            "Name eq 'x')",
            "(Name eq 'x'",
            "Name eq",
            "Name in ('a','b')",
            "Name add 1 eq 2",
            "evil(Name)",
            "contains(Name)",
            "Name eq 'a\u{0}'",
            "Name eq 1x",
            "Name eq 'a' 'b'",
            "Name/Sub eq 1",
            "Name eq \"x\"",
        ] {
            assert!(Filter::raw(bad).is_err(), "{bad}");
        }
        let deep = format!("{}X eq 1{}", "(".repeat(40), ")".repeat(40));
        assert!(Filter::raw(&deep).is_err());
    }
}

//! WQL tokens.

use super::ast::CompareOp;
use super::{MAX_QUERY_LEN, WqlError, WqlErrorKind};

/// A token and the byte offset where it starts.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Token<'a> {
    pub(super) kind: Tok<'a>,
    pub(super) offset: usize,
}

#[derive(Clone, Debug, PartialEq)]
pub(super) enum Tok<'a> {
    /// A name or a keyword (the parser tells them apart).
    Ident(&'a str),
    Str(String),
    Int(i64),
    Real(f64),
    LParen,
    RParen,
    Comma,
    Dot,
    Star,
    Op(CompareOp),
    End,
}

/// Splits `text` into tokens, ending with [`Tok::End`].
pub(super) fn tokenize(text: &str) -> Result<Vec<Token<'_>>, WqlError> {
    if text.len() > MAX_QUERY_LEN {
        return Err(WqlError::new(WqlErrorKind::TooLong, MAX_QUERY_LEN));
    }
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let err = |kind, at| Err(WqlError::new(kind, at));
    while i < bytes.len() {
        let b = bytes[i];
        let start = i;
        let kind = match b {
            b' ' | b'\t' | b'\r' | b'\n' => {
                i += 1;
                continue;
            }
            0..=0x1f | 0x7f => return err(WqlErrorKind::ControlChar, i),
            b'a'..=b'z' | b'A'..=b'Z' | b'_' => {
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                    i += 1;
                }
                Tok::Ident(&text[start..i])
            }
            b'0'..=b'9' => number(text, &mut i)?,
            b'-' if bytes.get(i + 1).is_some_and(u8::is_ascii_digit) => number(text, &mut i)?,
            b'"' | b'\'' => Tok::Str(string(text, &mut i)?),
            b'(' | b')' | b',' | b'.' | b'*' | b'=' => {
                i += 1;
                match b {
                    b'(' => Tok::LParen,
                    b')' => Tok::RParen,
                    b',' => Tok::Comma,
                    b'.' => Tok::Dot,
                    b'*' => Tok::Star,
                    _ => Tok::Op(CompareOp::Eq),
                }
            }
            b'<' | b'>' | b'!' => {
                let next = bytes.get(i + 1).copied();
                let (op, len) = match (b, next) {
                    (b'<', Some(b'=')) => (CompareOp::Le, 2),
                    (b'<', Some(b'>')) => (CompareOp::Ne, 2),
                    (b'<', _) => (CompareOp::Lt, 1),
                    (b'>', Some(b'=')) => (CompareOp::Ge, 2),
                    (b'>', _) => (CompareOp::Gt, 1),
                    (b'!', Some(b'=')) => (CompareOp::Ne, 2),
                    _ => return err(WqlErrorKind::UnexpectedChar, i),
                };
                i += len;
                Tok::Op(op)
            }
            _ => return err(WqlErrorKind::UnexpectedChar, i),
        };
        out.push(Token {
            kind,
            offset: start,
        });
    }
    out.push(Token {
        kind: Tok::End,
        offset: bytes.len(),
    });
    Ok(out)
}

/// `-?[0-9]+(\.[0-9]+)?`, not followed by a letter, digit or `_`.
fn number<'a>(text: &str, i: &mut usize) -> Result<Tok<'a>, WqlError> {
    let bytes = text.as_bytes();
    let start = *i;
    if bytes[*i] == b'-' {
        *i += 1;
    }
    let digits = |i: &mut usize| {
        while *i < bytes.len() && bytes[*i].is_ascii_digit() {
            *i += 1;
        }
    };
    digits(i);
    let mut real = false;
    if bytes.get(*i) == Some(&b'.') && bytes.get(*i + 1).is_some_and(u8::is_ascii_digit) {
        real = true;
        *i += 1;
        digits(i);
    }
    if bytes
        .get(*i)
        .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_')
    {
        return Err(WqlError::new(WqlErrorKind::InvalidNumber, *i));
    }
    let t = &text[start..*i];
    let bad = || WqlError::new(WqlErrorKind::InvalidNumber, start);
    if real {
        let f: f64 = t.parse().map_err(|_| bad())?;
        if !f.is_finite() {
            return Err(bad());
        }
        Ok(Tok::Real(f))
    } else {
        t.parse().map(Tok::Int).map_err(|_| bad())
    }
}

/// A string in `"` or `'`; `\\`, `\"` and `\'` are the only escapes.
fn string(text: &str, i: &mut usize) -> Result<String, WqlError> {
    let start = *i;
    let quote = text.as_bytes()[start];
    let mut out = String::new();
    let mut chars = text[start + 1..].char_indices();
    while let Some((j, c)) = chars.next() {
        let at = start + 1 + j;
        match c {
            '\\' => match chars.next() {
                Some((_, e @ ('\\' | '"' | '\''))) => out.push(e),
                Some(_) => return Err(WqlError::new(WqlErrorKind::InvalidEscape, at)),
                None => break,
            },
            c if c as u32 == u32::from(quote) => {
                *i = at + 1;
                return Ok(out);
            }
            c if c.is_control() => return Err(WqlError::new(WqlErrorKind::ControlChar, at)),
            c => out.push(c),
        }
    }
    Err(WqlError::new(WqlErrorKind::UnterminatedString, start))
}

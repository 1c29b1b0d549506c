//! Apple's `.strings` syntax, as distribution files embed it in
//! `<localization><strings language="…">`.
//!
//! The format is the OpenStep property-list dictionary without its braces
//! (Apple, *String Resources*, "Creating strings files"; Core Foundation's
//! `CFOldStylePList.c`): a sequence of `key = value;` entries, where keys and
//! values are strings quoted with `"` or `'` (or, unquoted, runs of
//! letters, digits and `_$+/:.-`), with `/* … */` and `// …` comments
//! between them. Inside quotes, a backslash escapes the next character:
//! `\n`, `\t`, `\r`, `\a`, `\b`, `\f`, `\v`, `\\`, `\"`, `\'`, three octal
//! digits, or `\U` and four hex digits for a UTF-16 code unit; any other
//! escaped character stands for itself. Software Update descriptions are
//! usually single-quoted so that their HTML can hold double quotes:
//!
//! ```text
//! "SU_TITLE" = "Safari";
//! "SU_VERS" = "14.1";
//! "SU_DESCRIPTION" = '<!DOCTYPE html><html><body><p class="x">It\'s new.</p></body></html>';
//! ```
//!
//! An entry with no value (`"KEY";`) maps the key to itself, as Core
//! Foundation reads it. A key given twice keeps its last value.

use indexmap::IndexMap;

/// A strings table: values by key, in the order the keys first appear.
pub type Strings = IndexMap<String, String>;

/// A strings table could not be read: what went wrong and where (byte
/// offset in the text given to [`parse_strings`]).
#[derive(Clone, Copy, Debug, Eq, PartialEq, thiserror::Error)]
#[error("{kind} at byte {offset} of the strings table")]
pub struct StringsError {
    kind: StringsErrorKind,
    offset: usize,
}

impl StringsError {
    /// What went wrong.
    pub fn kind(&self) -> StringsErrorKind {
        self.kind
    }

    /// Where, in bytes from the start of the table's text.
    pub fn offset(&self) -> usize {
        self.offset
    }
}

/// What went wrong reading a strings table.
#[derive(Clone, Copy, Debug, Eq, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum StringsErrorKind {
    /// A quoted string has no closing quote.
    #[error("unterminated string")]
    UnterminatedString,
    /// A `/*` comment has no closing `*/`.
    #[error("unterminated comment")]
    UnterminatedComment,
    /// Something other than a string where a key should start.
    #[error("expected a key")]
    ExpectedKey,
    /// Something other than `=` or `;` after a key.
    #[error("expected '=' or ';'")]
    ExpectedEquals,
    /// Something other than a string after `=`.
    #[error("expected a value")]
    ExpectedValue,
    /// Something other than `;` after a value.
    #[error("expected ';'")]
    ExpectedSemicolon,
    /// A `\U` escape that is not four hex digits, or a UTF-16 surrogate
    /// without its pair.
    #[error("invalid escape")]
    InvalidEscape,
}

/// Reads a strings table.
///
/// ```
/// use wsus_publish::distribution::parse_strings;
///
/// let table = parse_strings(r#"/* Title */ "SU_TITLE" = "Safari \"Tech\"";
/// "SU_DESCRIPTION" = '<p class="x">It\'s here.</p>';"#)?;
/// assert_eq!(table["SU_TITLE"], "Safari \"Tech\"");
/// assert_eq!(table["SU_DESCRIPTION"], "<p class=\"x\">It's here.</p>");
/// # Ok::<(), wsus_publish::distribution::StringsError>(())
/// ```
pub fn parse_strings(text: &str) -> Result<Strings, StringsError> {
    let mut p = Parser {
        s: text.as_bytes(),
        text,
        pos: 0,
    };
    let mut out = Strings::new();
    loop {
        p.skip_space_and_comments()?;
        if p.pos >= p.s.len() {
            return Ok(out);
        }
        let key = p
            .string()?
            .ok_or_else(|| p.error(StringsErrorKind::ExpectedKey))?;
        p.skip_space_and_comments()?;
        match p.peek() {
            Some(b';') => {
                p.pos += 1;
                out.insert(key.clone(), key);
                continue;
            }
            Some(b'=') => p.pos += 1,
            _ => return Err(p.error(StringsErrorKind::ExpectedEquals)),
        }
        p.skip_space_and_comments()?;
        let value = p
            .string()?
            .ok_or_else(|| p.error(StringsErrorKind::ExpectedValue))?;
        p.skip_space_and_comments()?;
        if p.peek() != Some(b';') {
            return Err(p.error(StringsErrorKind::ExpectedSemicolon));
        }
        p.pos += 1;
        out.insert(key, value);
    }
}

struct Parser<'a> {
    s: &'a [u8],
    text: &'a str,
    pos: usize,
}

impl Parser<'_> {
    fn error(&self, kind: StringsErrorKind) -> StringsError {
        StringsError {
            kind,
            offset: self.pos,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn skip_space_and_comments(&mut self) -> Result<(), StringsError> {
        loop {
            match (self.peek(), self.s.get(self.pos + 1)) {
                (Some(c), _) if c.is_ascii_whitespace() => self.pos += 1,
                (Some(b'/'), Some(b'*')) => {
                    let start = self.pos;
                    match find(&self.s[self.pos + 2..], b"*/") {
                        Some(i) => self.pos += 2 + i + 2,
                        None => {
                            self.pos = start;
                            return Err(self.error(StringsErrorKind::UnterminatedComment));
                        }
                    }
                }
                (Some(b'/'), Some(b'/')) => {
                    match self.s[self.pos..].iter().position(|&c| c == b'\n') {
                        Some(i) => self.pos += i + 1,
                        None => self.pos = self.s.len(),
                    }
                }
                // A byte-order mark, which some tables start with.
                _ if self.text[self.pos..].starts_with('\u{feff}') => self.pos += 3,
                _ => return Ok(()),
            }
        }
    }

    /// A quoted or unquoted string, or `None` if none starts here.
    fn string(&mut self) -> Result<Option<String>, StringsError> {
        match self.peek() {
            Some(q @ (b'"' | b'\'')) => self.quoted(q).map(Some),
            Some(c) if is_unquoted(c) => {
                let start = self.pos;
                while self.peek().is_some_and(is_unquoted) {
                    self.pos += 1;
                }
                Ok(Some(self.text[start..self.pos].to_owned()))
            }
            _ => Ok(None),
        }
    }

    fn quoted(&mut self, quote: u8) -> Result<String, StringsError> {
        let open = self.pos;
        self.pos += 1;
        let mut out = String::new();
        loop {
            // Copy the run up to the next quote or backslash in one go; both
            // are ASCII, so the run ends on a character boundary.
            let run = self.s[self.pos..]
                .iter()
                .position(|&c| c == quote || c == b'\\');
            let Some(run) = run else {
                self.pos = open;
                return Err(self.error(StringsErrorKind::UnterminatedString));
            };
            out.push_str(&self.text[self.pos..self.pos + run]);
            self.pos += run;
            if self.s[self.pos] == quote {
                self.pos += 1;
                return Ok(out);
            }
            self.escape(&mut out, open)?;
        }
    }

    /// Reads the escape at `self.pos` (a backslash) into `out`.
    fn escape(&mut self, out: &mut String, open: usize) -> Result<(), StringsError> {
        let backslash = self.pos;
        self.pos += 1;
        let Some(c) = self.text[self.pos..].chars().next() else {
            self.pos = open;
            return Err(self.error(StringsErrorKind::UnterminatedString));
        };
        self.pos += c.len_utf8();
        match c {
            'n' => out.push('\n'),
            't' => out.push('\t'),
            'r' => out.push('\r'),
            'a' => out.push('\u{7}'),
            'b' => out.push('\u{8}'),
            'f' => out.push('\u{c}'),
            'v' => out.push('\u{b}'),
            '0'..='7' => {
                let mut v = u32::from(c) - u32::from('0');
                for _ in 0..2 {
                    match self.peek() {
                        Some(d @ b'0'..=b'7') => {
                            v = v * 8 + u32::from(d - b'0');
                            self.pos += 1;
                        }
                        _ => break,
                    }
                }
                // At most 0o777, always a valid scalar value.
                out.push(char::from_u32(v).unwrap_or('\u{fffd}'));
            }
            'U' | 'u' => {
                let unit = self.hex4().ok_or(StringsError {
                    kind: StringsErrorKind::InvalidEscape,
                    offset: backslash,
                })?;
                let ch = if (0xD800..0xDC00).contains(&unit) {
                    // A high surrogate must be followed by `\U` and a low one.
                    let low = (self.s.get(self.pos) == Some(&b'\\')
                        && matches!(self.s.get(self.pos + 1), Some(b'U' | b'u')))
                    .then(|| {
                        self.pos += 2;
                        self.hex4()
                    })
                    .flatten()
                    .filter(|l| (0xDC00..0xE000).contains(l));
                    low.and_then(|low| {
                        char::from_u32(0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00))
                    })
                } else {
                    char::from_u32(unit)
                };
                out.push(ch.ok_or(StringsError {
                    kind: StringsErrorKind::InvalidEscape,
                    offset: backslash,
                })?);
            }
            other => out.push(other),
        }
        Ok(())
    }

    fn hex4(&mut self) -> Option<u32> {
        let digits = self.s.get(self.pos..self.pos + 4)?;
        let mut v = 0u32;
        for &d in digits {
            v = v * 16 + char::from(d).to_digit(16)?;
        }
        self.pos += 4;
        Some(v)
    }
}

fn is_unquoted(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"_$+/:.-".contains(&c)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// Writes `s` double-quoted, escaping what must be.
    fn write_double(s: &str) -> String {
        let mut out = String::from("\"");
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\t' => out.push_str("\\t"),
                '\r' => out.push_str("\\r"),
                c if (c as u32) < 0x20 => out.push_str(&format!("\\U{:04x}", c as u32)),
                c => out.push(c),
            }
        }
        out.push('"');
        out
    }

    /// Writes `s` single-quoted, escaping only the quote and backslash.
    fn write_single(s: &str) -> String {
        format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
    }

    fn write_table(entries: &[(String, String)], single: bool) -> String {
        let mut out = String::from("/* generated */\n");
        for (k, v) in entries {
            let v = if single {
                write_single(v)
            } else {
                write_double(v)
            };
            out.push_str(&format!("{} = {v};\n", write_double(k)));
        }
        out
    }

    #[test]
    fn apple_shapes() {
        let t = parse_strings(
            "\u{feff}// Software Update\n\"SU_TITLE\" = \"Safari\";\n\"SU_VERS\" = \"14.1\";\n\
             \"SU_SERVERCOMMENT\" = \"Line one\\nline \\\"two\\\"\";\n\
             \"SU_DESCRIPTION\" = '<!DOCTYPE html>\n<html><p class=\"a\">Don\\'t \\\\ wait</p></html>';\n\
             UNQUOTED = value.1;\n\"ALONE\";\n\"U\" = \"\\U00e9\\UD83D\\UDE00\\101\";\n",
        )
        .unwrap();
        assert_eq!(t["SU_TITLE"], "Safari");
        assert_eq!(t["SU_VERS"], "14.1");
        assert_eq!(t["SU_SERVERCOMMENT"], "Line one\nline \"two\"");
        assert_eq!(
            t["SU_DESCRIPTION"],
            "<!DOCTYPE html>\n<html><p class=\"a\">Don't \\ wait</p></html>"
        );
        assert_eq!(t["UNQUOTED"], "value.1");
        assert_eq!(t["ALONE"], "ALONE");
        assert_eq!(t["U"], "é😀A");
        assert_eq!(t.len(), 7);
    }

    #[test]
    fn empty_and_duplicate() {
        assert!(parse_strings("").unwrap().is_empty());
        assert!(
            parse_strings(" /* only */ // a comment")
                .unwrap()
                .is_empty()
        );
        let t = parse_strings("\"a\" = \"1\"; \"b\" = \"2\"; \"a\" = \"3\";").unwrap();
        assert_eq!(
            t.iter().collect::<Vec<_>>(),
            [(&"a".into(), &"3".into()), (&"b".into(), &"2".into())]
        );
    }

    #[test]
    fn errors() {
        let cases: &[(&str, StringsErrorKind, usize)] = &[
            (
                "\"SU_TITLE\" = \"Saf",
                StringsErrorKind::UnterminatedString,
                13,
            ),
            (
                "\"SU_DESCRIPTION\" = '<p>",
                StringsErrorKind::UnterminatedString,
                19,
            ),
            ("\"SU_TITLE", StringsErrorKind::UnterminatedString, 0),
            ("\"a\" = \"b\\", StringsErrorKind::UnterminatedString, 6),
            ("/* open", StringsErrorKind::UnterminatedComment, 0),
            ("= \"x\";", StringsErrorKind::ExpectedKey, 0),
            ("\"a\" \"b\";", StringsErrorKind::ExpectedEquals, 4),
            ("\"a\" = ;", StringsErrorKind::ExpectedValue, 6),
            (
                "\"a\" = \"b\" \"c\"",
                StringsErrorKind::ExpectedSemicolon,
                10,
            ),
            ("\"a\" = \"b\"", StringsErrorKind::ExpectedSemicolon, 9),
            ("\"a\" = \"\\U12\";", StringsErrorKind::InvalidEscape, 7),
            ("\"a\" = \"\\UD800x\";", StringsErrorKind::InvalidEscape, 7),
            ("\"a\" = \"\\UDC00\";", StringsErrorKind::InvalidEscape, 7),
        ];
        for &(text, kind, offset) in cases {
            let e = parse_strings(text).unwrap_err();
            assert_eq!((e.kind(), e.offset()), (kind, offset), "{text:?}");
        }
    }

    proptest! {
        #[test]
        fn roundtrip_double_quoted(entries in proptest::collection::vec((any::<String>(), any::<String>()), 0..8)) {
            let text = write_table(&entries, false);
            let table = parse_strings(&text).unwrap();
            let mut expected = Strings::new();
            for (k, v) in &entries {
                expected.insert(k.clone(), v.clone());
            }
            prop_assert_eq!(table, expected);
        }

        #[test]
        fn roundtrip_single_quoted(entries in proptest::collection::vec(("[A-Z_]{1,12}", any::<String>()), 0..8)) {
            let text = write_table(&entries, true);
            let table = parse_strings(&text).unwrap();
            let mut expected = Strings::new();
            for (k, v) in &entries {
                expected.insert(k.clone(), v.clone());
            }
            prop_assert_eq!(table, expected);
        }

        #[test]
        fn never_panics(text in any::<String>()) {
            let _ = parse_strings(&text);
        }

        #[test]
        fn never_panics_near_the_grammar(text in "[\"'\\\\=; /*a-zU0-9\u{e9}\n]{0,40}") {
            let _ = parse_strings(&text);
        }
    }
}

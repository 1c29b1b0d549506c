//! Writing XML property lists, laid out as Apple's and Python's writers do:
//! one element per line, tab indentation, base64 wrapped in indented lines.

use crate::value::{Dictionary, Value};

const HEADER: &[u8] = b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
<!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n\
<plist version=\"1.0\">\n";
const FOOTER: &[u8] = b"</plist>\n";

/// An open container: the rest of its items.
enum Frame<'a> {
    Array(std::slice::Iter<'a, Value>),
    Dict(indexmap::map::Iter<'a, String, Value>),
}

/// Appends the document for `value` to `out`.
pub(crate) fn encode(value: &Value, out: &mut Vec<u8>) {
    out.extend_from_slice(HEADER);
    // Explicit stack: a value built by hand may be nested arbitrarily deep.
    let mut stack: Vec<Frame<'_>> = Vec::new();
    let mut current = Some(value);
    loop {
        if let Some(v) = current.take() {
            let level = stack.len();
            indent(out, level);
            match v {
                Value::Array(items) if !items.is_empty() => {
                    out.extend_from_slice(b"<array>\n");
                    stack.push(Frame::Array(items.iter()));
                }
                Value::Dictionary(dict) if !dict.is_empty() => {
                    out.extend_from_slice(b"<dict>\n");
                    stack.push(Frame::Dict(dict_iter(dict)));
                }
                scalar => write_scalar(scalar, level, out),
            }
        }
        let level = stack.len();
        let Some(top) = stack.last_mut() else {
            break;
        };
        match top {
            Frame::Array(items) => match items.next() {
                Some(v) => current = Some(v),
                None => {
                    stack.pop();
                    indent(out, level - 1);
                    out.extend_from_slice(b"</array>\n");
                }
            },
            Frame::Dict(entries) => match entries.next() {
                Some((k, v)) => {
                    indent(out, level);
                    out.extend_from_slice(b"<key>");
                    escape(k, out);
                    out.extend_from_slice(b"</key>\n");
                    current = Some(v);
                }
                None => {
                    stack.pop();
                    indent(out, level - 1);
                    out.extend_from_slice(b"</dict>\n");
                }
            },
        }
    }
    out.extend_from_slice(FOOTER);
}

fn dict_iter(dict: &Dictionary) -> indexmap::map::Iter<'_, String, Value> {
    dict.into_iter()
}

fn indent(out: &mut Vec<u8>, level: usize) {
    out.extend(std::iter::repeat_n(b'\t', level));
}

/// Writes a value other than a non-empty container (the indentation is
/// already written), with its line end.
fn write_scalar(v: &Value, level: usize, out: &mut Vec<u8>) {
    match v {
        Value::Array(_) => out.extend_from_slice(b"<array/>\n"),
        Value::Dictionary(_) => out.extend_from_slice(b"<dict/>\n"),
        Value::Boolean(true) => out.extend_from_slice(b"<true/>\n"),
        Value::Boolean(false) => out.extend_from_slice(b"<false/>\n"),
        Value::String(s) => {
            out.extend_from_slice(b"<string>");
            escape(s, out);
            out.extend_from_slice(b"</string>\n");
        }
        Value::Integer(i) => {
            out.extend_from_slice(b"<integer>");
            out.extend_from_slice(i.to_string().as_bytes());
            out.extend_from_slice(b"</integer>\n");
        }
        Value::Real(r) => {
            out.extend_from_slice(b"<real>");
            push_real(*r, out);
            out.extend_from_slice(b"</real>\n");
        }
        Value::Date(d) => {
            let mut s = String::with_capacity(20);
            crate::date::push_xml_date(*d, &mut s);
            out.extend_from_slice(b"<date>");
            out.extend_from_slice(s.as_bytes());
            out.extend_from_slice(b"</date>\n");
        }
        Value::Data(bytes) => {
            out.extend_from_slice(b"<data>\n");
            write_base64_lines(bytes, level, out);
            indent(out, level);
            out.extend_from_slice(b"</data>\n");
        }
        Value::Uid(n) => {
            out.extend_from_slice(b"<dict>\n");
            indent(out, level + 1);
            out.extend_from_slice(b"<key>CF$UID</key>\n");
            indent(out, level + 1);
            out.extend_from_slice(b"<integer>");
            out.extend_from_slice(n.to_string().as_bytes());
            out.extend_from_slice(b"</integer>\n");
            indent(out, level);
            out.extend_from_slice(b"</dict>\n");
        }
    }
}

/// Writes `r` so that it parses back to the same `f64`: the shortest
/// round-tripping decimal (exponent form for very large or small
/// magnitudes), or `nan`, `inf`, `-inf`.
fn push_real(r: f64, out: &mut Vec<u8>) {
    if r.is_nan() {
        out.extend_from_slice(b"nan");
    } else if r.is_infinite() {
        out.extend_from_slice(if r > 0.0 { b"inf" } else { b"-inf" });
    } else {
        out.extend_from_slice(format!("{r:?}").as_bytes());
    }
}

/// Base64 lines as wide as fit in 76 columns after the indentation (tabs
/// counted as 8), at least 16 characters, each indented like `<data>`.
fn write_base64_lines(bytes: &[u8], level: usize, out: &mut Vec<u8>) {
    let width = 76usize.saturating_sub(8 * level).max(16) / 4 * 4;
    let per_line = width / 4 * 3;
    let mut line = Vec::with_capacity(width);
    for chunk in bytes.chunks(per_line) {
        indent(out, level);
        line.clear();
        crate::base64::encode_into(chunk, &mut line);
        out.extend_from_slice(&line);
        out.push(b'\n');
    }
}

/// Escapes character data: `&`, `<`, `>`, and `\r` as `&#13;` (a raw one
/// would be read back as `\n`).
fn escape(s: &str, out: &mut Vec<u8>) {
    let b = s.as_bytes();
    let mut from = 0;
    for (i, &c) in b.iter().enumerate() {
        let rep: &[u8] = match c {
            b'&' => b"&amp;",
            b'<' => b"&lt;",
            b'>' => b"&gt;",
            b'\r' => b"&#13;",
            _ => continue,
        };
        out.extend_from_slice(&b[from..i]);
        out.extend_from_slice(rep);
        from = i + 1;
    }
    out.extend_from_slice(&b[from..]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::{Date, Dictionary};

    fn body(v: &Value) -> String {
        let mut out = Vec::new();
        encode(v, &mut out);
        let s = String::from_utf8(out).unwrap();
        s.strip_prefix(std::str::from_utf8(HEADER).unwrap())
            .unwrap()
            .strip_suffix("</plist>\n")
            .unwrap()
            .to_owned()
    }

    #[test]
    fn layout_matches_plistlib() {
        let mut inner = Dictionary::new();
        inner.insert("x", Value::Data(vec![b'x'; 100]));
        let mut d = Dictionary::new();
        d.insert(
            "a",
            Value::Array(vec![
                Value::Dictionary(Dictionary::new()),
                Value::Array(vec![]),
                Value::Data(vec![]),
                Value::Real(1.5),
                Value::Real(f64::INFINITY),
            ]),
        );
        d.insert("b", Value::Dictionary(inner));
        assert_eq!(
            body(&Value::Dictionary(d)),
            "<dict>\n\t<key>a</key>\n\t<array>\n\t\t<dict/>\n\t\t<array/>\n\t\t<data>\n\t\t</data>\n\
             \t\t<real>1.5</real>\n\t\t<real>inf</real>\n\t</array>\n\t<key>b</key>\n\t<dict>\n\
             \t\t<key>x</key>\n\t\t<data>\n\
             \t\teHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4\n\
             \t\teHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4\n\
             \t\teHh4eHh4eHh4eA==\n\t\t</data>\n\t</dict>\n</dict>\n"
        );
    }

    #[test]
    fn scalars() {
        assert_eq!(
            body(&"a<&>\r\nb".into()),
            "<string>a&lt;&amp;&gt;&#13;\nb</string>\n"
        );
        assert_eq!(
            body(&Value::from(u64::MAX)),
            "<integer>18446744073709551615</integer>\n"
        );
        assert_eq!(body(&Value::Real(1.0)), "<real>1.0</real>\n");
        assert_eq!(body(&Value::Real(1e100)), "<real>1e100</real>\n");
        assert_eq!(body(&Value::Real(-0.0)), "<real>-0.0</real>\n");
        assert_eq!(body(&Value::Real(f64::NAN)), "<real>nan</real>\n");
        assert_eq!(body(&Value::Real(f64::NEG_INFINITY)), "<real>-inf</real>\n");
        assert_eq!(body(&Value::Boolean(false)), "<false/>\n");
        let d = Date::from_seconds_since_2001(0.9).unwrap();
        assert_eq!(body(&Value::Date(d)), "<date>2001-01-01T00:00:00Z</date>\n");
        assert_eq!(
            body(&Value::Uid(3)),
            "<dict>\n\t<key>CF$UID</key>\n\t<integer>3</integer>\n</dict>\n"
        );
    }

    #[test]
    fn deep_values_do_not_recurse() {
        let mut v = Value::Array(vec![]);
        for _ in 0..10_000 {
            v = Value::Array(vec![v]);
        }
        let mut out = Vec::new();
        encode(&v, &mut out);
        assert!(out.len() > 10_000);
        // Take the value apart iteratively; dropping it whole would recurse.
        let mut cur = v;
        while let Value::Array(mut items) = cur {
            cur = items.pop().unwrap_or(Value::Boolean(true));
        }
    }
}

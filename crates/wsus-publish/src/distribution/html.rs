//! Plain text from the HTML of a Software Update description.
//!
//! Descriptions are small HTML documents (`<!DOCTYPE html …><html><head>
//! <style>…</style></head><body><p>…</p></body></html>`). WSUS shows a
//! plain-text description, so this keeps the text of the body: markup,
//! comments, declarations and the contents of `head`, `title`, `style` and
//! `script` are dropped, the common entities are decoded, and white space is
//! collapsed. It is not an HTML parser and does not try to be one.

/// The text of `html`, at most `max_chars` characters (a longer text is cut
/// at a word boundary where one is near and ends with `…`).
pub(crate) fn html_to_text(html: &str, max_chars: usize) -> String {
    let mut out = Text::default();
    let b = html.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'<' => i = tag(html, i, &mut out),
            b'&' => {
                let (c, next) = entity(html, i);
                out.push(c);
                i = next;
            }
            _ => {
                // Copy up to the next markup byte; both are ASCII.
                let end = b[i..]
                    .iter()
                    .position(|&c| c == b'<' || c == b'&')
                    .map_or(b.len(), |n| i + n);
                for c in html[i..end].chars() {
                    out.push(c);
                }
                i = end;
            }
        }
    }
    truncate(out.text.trim_end(), max_chars)
}

/// Text with runs of white space collapsed to one space and none leading.
#[derive(Default)]
struct Text {
    text: String,
    space: bool,
}

impl Text {
    fn push(&mut self, c: char) {
        if c.is_whitespace() {
            self.space = !self.text.is_empty();
        } else {
            if self.space {
                self.text.push(' ');
                self.space = false;
            }
            self.text.push(c);
        }
    }
}

/// Reads the markup starting with `<` at `i`; returns where it ends.
fn tag(html: &str, i: usize, out: &mut Text) -> usize {
    let rest = &html[i..];
    if let Some(comment) = rest.strip_prefix("<!--") {
        return comment.find("-->").map_or(html.len(), |n| i + 4 + n + 3);
    }
    let b = rest.as_bytes();
    let closing = b.get(1) == Some(&b'/');
    let name_start = if closing { 2 } else { 1 };
    match b.get(name_start) {
        Some(c) if c.is_ascii_alphabetic() || *c == b'!' || *c == b'?' => {}
        // Not markup: a lone `<` in text.
        _ => {
            out.push('<');
            return i + 1;
        }
    }
    let name_len = b[name_start..]
        .iter()
        .position(|c| !c.is_ascii_alphanumeric())
        .unwrap_or(b.len() - name_start);
    let name = rest[name_start..name_start + name_len].to_ascii_lowercase();
    let end = tag_end(b).map_or(html.len(), |n| i + n + 1);
    if !closing && matches!(name.as_str(), "head" | "title" | "style" | "script") {
        // Skip to the matching end tag.
        let close = format!("</{name}");
        let after = &html[end..];
        return match find_ascii_ci(after, &close) {
            Some(n) => {
                let from = end + n;
                tag_end(&html.as_bytes()[from..]).map_or(html.len(), |m| from + m + 1)
            }
            None => html.len(),
        };
    }
    if matches!(
        name.as_str(),
        "p" | "br"
            | "div"
            | "li"
            | "ul"
            | "ol"
            | "tr"
            | "td"
            | "th"
            | "table"
            | "h1"
            | "h2"
            | "h3"
            | "h4"
            | "h5"
            | "h6"
            | "blockquote"
            | "hr"
            | "dt"
            | "dd"
            | "pre"
            | "body"
    ) {
        out.push(' ');
    }
    end
}

/// The index of the `>` that ends the tag at the start of `b`, skipping
/// quoted attribute values.
fn tag_end(b: &[u8]) -> Option<usize> {
    let mut quote = None;
    for (i, &c) in b.iter().enumerate().skip(1) {
        match (quote, c) {
            (None, b'"' | b'\'') => quote = Some(c),
            (Some(q), c) if q == c => quote = None,
            (None, b'>') => return Some(i),
            _ => {}
        }
    }
    None
}

fn find_ascii_ci(haystack: &str, needle: &str) -> Option<usize> {
    let (h, n) = (haystack.as_bytes(), needle.as_bytes());
    h.windows(n.len()).position(|w| w.eq_ignore_ascii_case(n))
}

/// Decodes the entity starting with `&` at `i`: the character and where the
/// entity ends. An unknown or malformed entity is a literal `&`.
fn entity(html: &str, i: usize) -> (char, usize) {
    let rest = &html[i + 1..];
    let Some(semi) = rest.bytes().take(12).position(|c| c == b';') else {
        return ('&', i + 1);
    };
    let name = &rest[..semi];
    let c = if let Some(num) = name.strip_prefix('#') {
        let n = match num.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok(),
            None => num.parse::<u32>().ok(),
        };
        n.and_then(char::from_u32)
    } else {
        match name {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            "nbsp" => Some(' '),
            "copy" => Some('©'),
            "reg" => Some('®'),
            "trade" => Some('™'),
            "hellip" => Some('…'),
            "mdash" => Some('—'),
            "ndash" => Some('–'),
            "lsquo" => Some('‘'),
            "rsquo" => Some('’'),
            "ldquo" => Some('“'),
            "rdquo" => Some('”'),
            "bull" => Some('•'),
            _ => None,
        }
    };
    match c {
        Some(c) => (c, i + 1 + semi + 1),
        None => ('&', i + 1),
    }
}

fn truncate(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        return text.to_owned();
    }
    if max_chars == 0 {
        return String::new();
    }
    // Room for the ellipsis.
    let keep = max_chars - 1;
    let cut = text.char_indices().nth(keep).map_or(text.len(), |(i, _)| i);
    let head = &text[..cut];
    // Back up to a word boundary if one is within the last fifth.
    let head = match head.rfind(' ') {
        Some(space) if head[..space].chars().count() * 5 >= keep * 4 => &head[..space],
        _ => head,
    };
    format!("{}…", head.trim_end())
}

#[cfg(test)]
mod tests {
    use super::*;

    const APPLE: &str = "<!DOCTYPE html PUBLIC \"-//W3C//DTD HTML 4.01//EN\" \"http://www.w3.org/TR/html4/strict.dtd\">\n\
        <html>\n<head>\n<meta http-equiv=\"Content-Type\" content=\"text/html; charset=utf-8\" />\n\
        <title>Ignored</title><style type=\"text/css\">body { font: 11pt \"Lucida Grande\"; }</style>\n</head>\n\
        <body>\n<!-- note -->\n<p>This update is recommended for all users.</p>\n\
        <p>It&#39;s safe &amp; &quot;quick&quot;&nbsp;&#x2014; see <a href=\"https://support.apple.com/kb/HT201222?a=1&b=2\">HT201222</a>.</p>\n\
        <SCRIPT>var x = '<p>no</p>';</SCRIPT><ul><li>One</li><li>Two</li></ul>a < b &unknown; & c</body>\n</html>\n";

    #[test]
    fn apple_description() {
        assert_eq!(
            html_to_text(APPLE, 1000),
            "This update is recommended for all users. It's safe & \"quick\" — see HT201222. One Two a < b &unknown; & c"
        );
    }

    #[test]
    fn truncation() {
        let t = html_to_text("<p>one two three four five six seven</p>", 20);
        assert_eq!(t, "one two three four…");
        assert!(t.chars().count() <= 20);
        assert_eq!(html_to_text("<p>abcdefghijklmnop</p>", 5), "abcd…");
        assert_eq!(html_to_text("<p>abc</p>", 0), "");
        assert_eq!(html_to_text("<p>abc</p>", 3), "abc");
        assert_eq!(html_to_text("ééééé", 3), "éé…");
    }

    #[test]
    fn unterminated_markup() {
        assert_eq!(html_to_text("text <p class='x", 100), "text");
        assert_eq!(html_to_text("text <style>p {}", 100), "text");
        assert_eq!(html_to_text("a <!-- b", 100), "a");
        assert_eq!(html_to_text("a &amp", 100), "a &amp");
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,64}", n in 0usize..80) {
            let t = html_to_text(&s, n);
            proptest::prop_assert!(t.chars().count() <= n);
        }

        #[test]
        fn never_panics_on_markup(s in "[<>&;#x/!a-z'\"é ]{0,64}", n in 0usize..80) {
            let t = html_to_text(&s, n);
            proptest::prop_assert!(t.chars().count() <= n);
        }
    }
}

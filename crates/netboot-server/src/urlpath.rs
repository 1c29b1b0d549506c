//! URL paths of the image server mapped to files of the image folder, with
//! no I/O: what reaches the file system has been checked here first.

use std::path::PathBuf;

/// Why a URL path names no file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// Outside the served paths, or a component that is never served
    /// (`..`, empty, a backslash or NUL): answered 404.
    NotFound,
    /// A malformed escape, an encoded `/` or invalid UTF-8: answered 400.
    BadRequest,
}

/// The file a URL path names, relative to the image folder, without
/// touching the file system: `<prefix>/<Name>.nbi/<file...>`, percent
/// escapes decoded, and no empty, `.` or `..` component, backslash, NUL
/// or encoded `/`.
pub fn relative_path(prefix: &str, url_path: &str) -> Result<PathBuf, Refused> {
    let rest = url_path
        .strip_prefix(prefix)
        .and_then(|r| r.strip_prefix('/'))
        .ok_or(Refused::NotFound)?;
    let decoded = percent_decode(rest).ok_or(Refused::BadRequest)?;
    let mut rel = PathBuf::new();
    let mut components = 0;
    for (i, c) in decoded.split('/').enumerate() {
        if c.is_empty() || c == "." || c == ".." || c.contains('\\') || c.contains('\0') {
            return Err(Refused::NotFound);
        }
        if i == 0 && !c.to_ascii_lowercase().ends_with(".nbi") {
            return Err(Refused::NotFound);
        }
        rel.push(c);
        components += 1;
    }
    if components < 2 {
        return Err(Refused::NotFound);
    }
    Ok(rel)
}

/// `%XX` decoding to UTF-8; `None` for bad escapes, encoded `/`, or
/// invalid UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b.get(i + 1..i + 3)?;
            if !hex.iter().all(u8::is_ascii_hexdigit) {
                return None;
            }
            let v = u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?;
            if v == b'/' {
                return None;
            }
            out.push(v);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_paths_map_into_nbi_folders_only() {
        let ok = |p: &str| relative_path("/nbi", p).unwrap();
        assert_eq!(ok("/nbi/A.nbi/A.dmg"), PathBuf::from("A.nbi/A.dmg"));
        assert_eq!(
            ok("/nbi/Net%20Install.nbi/i386/booter"),
            PathBuf::from("Net Install.nbi/i386/booter")
        );
        assert_eq!(ok("/nbi/X.NBI/f"), PathBuf::from("X.NBI/f"));
        for (p, refused) in [
            ("/nbi/A.nbi", Refused::NotFound),
            ("/nbi/A.nbi/", Refused::NotFound),
            ("/nbi/../etc/passwd", Refused::NotFound),
            ("/nbi/A.nbi/../../x", Refused::NotFound),
            ("/nbi/A.nbi/%2e%2e/x", Refused::NotFound),
            ("/nbi/A.nbi/a%2fb", Refused::BadRequest),
            ("/nbi/A.nbi/a%00", Refused::NotFound),
            ("/nbi/A.nbi/a%5c..%5cb", Refused::NotFound),
            ("/nbi/A.nbi/a%zz", Refused::BadRequest),
            ("/nbi/A.nbi/a%+1", Refused::BadRequest),
            ("/nbi/A.nbi/a%4", Refused::BadRequest),
            ("/nbi/A.nbi/a%c3", Refused::BadRequest),
            ("/nbi/A.nbi//b", Refused::NotFound),
            ("/nbi/notes.txt", Refused::NotFound),
            ("/nbiA.nbi/b", Refused::NotFound),
            ("/other/A.nbi/b", Refused::NotFound),
        ] {
            assert_eq!(relative_path("/nbi", p), Err(refused), "{p}");
        }
    }
}

//! Turning a requested file name into a path inside the served folder,
//! without touching the file system: the checks that need the file system
//! (symbolic links leading out, the kind of file) are the server's.

use std::path::PathBuf;

/// Why a requested file name is refused (the server answers ERROR 2,
/// "Access violation", without saying more).
#[derive(Clone, Copy, Debug, Eq, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum PathError {
    /// The name is not UTF-8.
    #[error("the file name is not UTF-8")]
    NotUtf8,
    /// The name holds a control character (NUL included).
    #[error("the file name holds a control character")]
    ControlCharacter,
    /// The name names no file (empty, or only separators and `.`).
    #[error("the file name is empty")]
    Empty,
    /// The name is absolute (`/etc/passwd`, `\\server\share`, `C:\x`).
    #[error("the file name is an absolute path")]
    Absolute,
    /// The name has a `..` component.
    #[error("the file name leads to a parent folder")]
    ParentDirectory,
    /// A component is a Windows device name (`NUL`, `CON`, `aux.txt`, ...).
    #[error("the file name is a device name")]
    DeviceName,
    /// The name is longer than [`MAX_NAME_LEN`].
    #[error("the file name is too long")]
    TooLong,
}

/// The longest file name accepted, in bytes.
pub const MAX_NAME_LEN: usize = 1024;

/// A requested file name, checked: relative, no `..`, no device names, no
/// control characters; backslashes count as separators; empty and `.`
/// components are dropped.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct RequestPath {
    components: Vec<String>,
}

impl RequestPath {
    /// Checks `filename` as sent in a request. With `strip_leading_slash`
    /// a leading `/` (or `\`) is taken relative to the served folder, as
    /// `in.tftpd --secure` does (some boot firmware asks for `/boot/x`);
    /// without it such a name is refused as absolute.
    pub fn parse(filename: &[u8], strip_leading_slash: bool) -> Result<Self, PathError> {
        if filename.len() > MAX_NAME_LEN {
            return Err(PathError::TooLong);
        }
        let name = std::str::from_utf8(filename).map_err(|_| PathError::NotUtf8)?;
        if name.chars().any(char::is_control) {
            return Err(PathError::ControlCharacter);
        }
        let name = name.replace('\\', "/");
        let bytes = name.as_bytes();
        // A drive letter: C:, C:/x, C:x.
        if bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':' {
            return Err(PathError::Absolute);
        }
        let rest = match name.strip_prefix('/') {
            // `//server/share` is a network path whatever the setting.
            Some(r) if r.starts_with('/') => return Err(PathError::Absolute),
            Some(r) if strip_leading_slash => r,
            Some(_) => return Err(PathError::Absolute),
            None => name.as_str(),
        };
        let mut components = Vec::new();
        for c in rest.split('/') {
            match c {
                "" | "." => {}
                ".." => return Err(PathError::ParentDirectory),
                c if is_device_name(c) => return Err(PathError::DeviceName),
                c => components.push(c.to_owned()),
            }
        }
        if components.is_empty() {
            return Err(PathError::Empty);
        }
        Ok(Self { components })
    }

    /// The components, in order.
    pub fn components(&self) -> &[String] {
        &self.components
    }

    /// The path relative to the served folder.
    pub fn to_relative_path(&self) -> PathBuf {
        self.components.iter().collect()
    }

    /// The name with `/` separators, for logs.
    pub fn display(&self) -> String {
        self.components.join("/")
    }
}

/// Whether a component is a Windows device name: `CON`, `PRN`, `AUX`,
/// `NUL`, `COM1`–`COM9`, `LPT1`–`LPT9`, `CONIN$`, `CONOUT$`, with any
/// extension and trailing dots or spaces, in any case.
fn is_device_name(component: &str) -> bool {
    let stem = component.split('.').next().unwrap_or("");
    let stem = stem.trim_end_matches([' ', '.']).to_ascii_uppercase();
    match stem.as_str() {
        "CON" | "PRN" | "AUX" | "NUL" | "CONIN$" | "CONOUT$" => true,
        s if s.len() == 4 && (s.starts_with("COM") || s.starts_with("LPT")) => {
            matches!(s.as_bytes()[3], b'1'..=b'9')
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepted_names() {
        let p = RequestPath::parse(b"nbi/NetInstall.nbi/i386/booter", false).unwrap();
        assert_eq!(p.display(), "nbi/NetInstall.nbi/i386/booter");
        let p = RequestPath::parse(b"boot\\x86\\.\\pxelinux.0", false).unwrap();
        assert_eq!(p.components(), ["boot", "x86", "pxelinux.0"]);
        let p = RequestPath::parse(b"/nbi//booter", true).unwrap();
        assert_eq!(p.to_relative_path(), PathBuf::from("nbi/booter"));
        // Names that merely look like devices or parents.
        for ok in [
            &b"console.cfg"[..],
            b"com10",
            b"lpt0",
            b"..foo",
            b"a..b",
            b"nul_file",
        ] {
            assert!(RequestPath::parse(ok, false).is_ok(), "{ok:?}");
        }
    }

    #[test]
    fn refused_names() {
        let cases: &[(&[u8], PathError)] = &[
            (b"../etc/passwd", PathError::ParentDirectory),
            (b"a/../../etc/passwd", PathError::ParentDirectory),
            (b"a\\..\\..\\x", PathError::ParentDirectory),
            (b"/etc/passwd", PathError::Absolute),
            (b"\\etc\\passwd", PathError::Absolute),
            (b"//server/share/x", PathError::Absolute),
            (b"C:\\Windows\\win.ini", PathError::Absolute),
            (b"c:boot.ini", PathError::Absolute),
            (b"NUL", PathError::DeviceName),
            (b"dir/nul", PathError::DeviceName),
            (b"aux.txt", PathError::DeviceName),
            (b"Con", PathError::DeviceName),
            (b"COM1", PathError::DeviceName),
            (b"lpt9.log", PathError::DeviceName),
            (b"CON .txt", PathError::DeviceName),
            (b"a\x01b", PathError::ControlCharacter),
            (b"a\nb", PathError::ControlCharacter),
            (b"\xff\xfe", PathError::NotUtf8),
            (b"./", PathError::Empty),
            (b"/", PathError::Empty),
        ];
        for &(name, err) in cases {
            let strip = name == b"/";
            assert_eq!(RequestPath::parse(name, strip), Err(err), "{name:?}");
        }
        assert_eq!(
            RequestPath::parse(&vec![b'a'; MAX_NAME_LEN + 1], false),
            Err(PathError::TooLong)
        );
        // Stripping a leading slash never lets `..` through.
        assert_eq!(
            RequestPath::parse(b"/../etc/passwd", true),
            Err(PathError::ParentDirectory)
        );
    }
}

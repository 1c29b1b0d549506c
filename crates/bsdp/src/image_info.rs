//! `NBImageInfo.plist`: the description of one NetBoot image.
//!
//! Each `<Name>.nbi` folder holds an `NBImageInfo.plist` (XML or binary)
//! whose keys are those of Apple's NetBoot image format: `Index`, `Name`,
//! `Type` (`NFS`, `HTTP` or `BootFileOnly`), `BootFile`, `RootPath`,
//! `IsEnabled`, `IsInstall`, `IsDefault`, `Kind`, `Architectures`,
//! `EnabledSystemIdentifiers`, `DisabledSystemIdentifiers`,
//! `EnabledMACAddresses`, `DisabledMACAddresses`, `FilterOnly`,
//! `LoadBalanceServer`, `SupportsDiskless` and `Description`. Other keys
//! (`Language`, `osVersion`, `BackwardCompatible`, ...) are ignored.

use std::net::Ipv4Addr;

use pippin_plist::{Limits, Value};

use crate::bsdp::{IMAGE_NAME_MAX, ImageId, ImageKind};
use crate::error::ImageInfoError;

/// How the client reaches the image's root file system.
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
pub enum ImageType {
    /// An NFS-exported disk image (`nfs:` root path).
    Nfs,
    /// A disk image served over HTTP (`http://` root path).
    Http,
    /// Only a booter (for example hardware diagnostics): no root path.
    BootFileOnly,
}

/// One parsed `NBImageInfo.plist`.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct ImageInfo {
    /// `Index`, 1–65535 (1–4095 local, 4096 and up shared).
    pub index: u16,
    /// `Name`, cut to [`IMAGE_NAME_MAX`] bytes.
    pub name: String,
    /// `Type`.
    pub image_type: ImageType,
    /// `BootFile`: the booter's file name inside `<arch>/`.
    pub boot_file: String,
    /// `RootPath`: the disk image inside the folder, or a full `http://`
    /// or `nfs:` URL (used as given). Absent for `BootFileOnly`.
    pub root_path: Option<String>,
    /// `IsEnabled` (default true): disabled images are never offered.
    pub is_enabled: bool,
    /// `IsInstall` (default false).
    pub is_install: bool,
    /// `IsDefault` (default false).
    pub is_default: bool,
    /// `Kind` (default 1, Mac OS X).
    pub kind: ImageKind,
    /// `Architectures` (default `["i386"]`).
    pub architectures: Vec<String>,
    /// `EnabledSystemIdentifiers`: when not empty, only these models.
    pub enabled_system_identifiers: Vec<String>,
    /// `DisabledSystemIdentifiers`: never these models.
    pub disabled_system_identifiers: Vec<String>,
    /// `EnabledMACAddresses`: when not empty, only these clients.
    pub enabled_mac_addresses: Vec<[u8; 6]>,
    /// `DisabledMACAddresses`: never these clients.
    pub disabled_mac_addresses: Vec<[u8; 6]>,
    /// `FilterOnly`: offered only to clients that send an image attributes
    /// filter list that matches it.
    pub filter_only: bool,
    /// `LoadBalanceServer`: the server that holds the booter and image.
    pub load_balance_server: Option<Ipv4Addr>,
    /// `SupportsDiskless`.
    pub supports_diskless: bool,
    /// `Description`.
    pub description: Option<String>,
}

impl ImageInfo {
    /// The bounds applied by [`ImageInfo::parse`]: 1 MiB, depth 8, 100,000
    /// values. Real files are a few kilobytes.
    pub fn limits() -> Limits {
        let mut l = Limits::new();
        l.max_input_len(1024 * 1024)
            .max_depth(8)
            .max_values(100_000);
        l
    }

    /// Parses an `NBImageInfo.plist` (XML or binary) within
    /// [`ImageInfo::limits`].
    pub fn parse(bytes: &[u8]) -> Result<Self, ImageInfoError> {
        let value = pippin_plist::from_bytes_with(bytes, &Self::limits())?;
        Self::from_value(&value)
    }

    /// Reads the description from an already parsed property list.
    pub fn from_value(value: &Value) -> Result<Self, ImageInfoError> {
        let d = value
            .as_dictionary()
            .ok_or(ImageInfoError::NotADictionary)?;
        let index = match d.get("Index") {
            None => return Err(ImageInfoError::Missing("Index")),
            Some(v) => {
                let i = v.as_integer().ok_or(ImageInfoError::WrongType {
                    key: "Index",
                    expected: "an integer",
                })?;
                let i = i.as_i128();
                match u16::try_from(i) {
                    Ok(n) if n > 0 => n,
                    _ => return Err(ImageInfoError::IndexOutOfRange(i)),
                }
            }
        };
        let name = string(d.get("Name"), "Name")?.ok_or(ImageInfoError::Missing("Name"))?;
        let image_type = match string(d.get("Type"), "Type")?
            .ok_or(ImageInfoError::Missing("Type"))?
            .as_str()
        {
            "NFS" => ImageType::Nfs,
            "HTTP" => ImageType::Http,
            "BootFileOnly" => ImageType::BootFileOnly,
            other => return Err(ImageInfoError::UnknownType(other.to_owned())),
        };
        let boot_file =
            string(d.get("BootFile"), "BootFile")?.ok_or(ImageInfoError::Missing("BootFile"))?;
        if !is_relative_path(&boot_file) {
            return Err(ImageInfoError::BadPath("BootFile"));
        }
        let root_path = string(d.get("RootPath"), "RootPath")?;
        let root_path = match image_type {
            ImageType::BootFileOnly => None,
            _ => {
                let r = root_path.ok_or(ImageInfoError::Missing("RootPath"))?;
                if !is_url(&r) && !is_relative_path(&r) {
                    return Err(ImageInfoError::BadPath("RootPath"));
                }
                Some(r)
            }
        };
        let kind = match d.get("Kind") {
            None => ImageKind::MAC_OS_X,
            Some(v) => {
                let k = v
                    .as_integer()
                    .ok_or(ImageInfoError::WrongType {
                        key: "Kind",
                        expected: "an integer",
                    })?
                    .as_i128();
                u8::try_from(k)
                    .ok()
                    .and_then(ImageKind::new)
                    .ok_or(ImageInfoError::KindOutOfRange(k))?
            }
        };
        let mut architectures = strings(d.get("Architectures"), "Architectures")?;
        if d.get("Architectures").is_none() {
            architectures.push("i386".to_owned());
        }
        let macs = |key: &'static str| -> Result<Vec<[u8; 6]>, ImageInfoError> {
            strings(d.get(key), key)?
                .into_iter()
                .map(|s| parse_mac(&s).ok_or(ImageInfoError::BadMacAddress(s)))
                .collect()
        };
        let load_balance_server = match string(d.get("LoadBalanceServer"), "LoadBalanceServer")? {
            None => None,
            Some(s) if s.is_empty() => None,
            Some(s) => Some(
                s.parse::<Ipv4Addr>()
                    .map_err(|_| ImageInfoError::BadLoadBalanceServer(s))?,
            ),
        };
        Ok(Self {
            index,
            name: truncate(name, IMAGE_NAME_MAX),
            image_type,
            boot_file,
            root_path,
            is_enabled: boolean(d.get("IsEnabled"), "IsEnabled")?.unwrap_or(true),
            is_install: boolean(d.get("IsInstall"), "IsInstall")?.unwrap_or(false),
            is_default: boolean(d.get("IsDefault"), "IsDefault")?.unwrap_or(false),
            kind,
            architectures,
            enabled_system_identifiers: strings(
                d.get("EnabledSystemIdentifiers"),
                "EnabledSystemIdentifiers",
            )?,
            disabled_system_identifiers: strings(
                d.get("DisabledSystemIdentifiers"),
                "DisabledSystemIdentifiers",
            )?,
            enabled_mac_addresses: macs("EnabledMACAddresses")?,
            disabled_mac_addresses: macs("DisabledMACAddresses")?,
            filter_only: boolean(d.get("FilterOnly"), "FilterOnly")?.unwrap_or(false),
            load_balance_server,
            supports_diskless: boolean(d.get("SupportsDiskless"), "SupportsDiskless")?
                .unwrap_or(false),
            description: string(d.get("Description"), "Description")?,
        })
    }

    /// The image id: install flag, kind and index.
    pub fn id(&self) -> ImageId {
        ImageId::new(self.index, self.kind, self.is_install)
    }
}

fn string(v: Option<&Value>, key: &'static str) -> Result<Option<String>, ImageInfoError> {
    match v {
        None => Ok(None),
        Some(v) => v
            .as_str()
            .map(|s| Some(s.to_owned()))
            .ok_or(ImageInfoError::WrongType {
                key,
                expected: "a string",
            }),
    }
}

fn boolean(v: Option<&Value>, key: &'static str) -> Result<Option<bool>, ImageInfoError> {
    match v {
        None => Ok(None),
        Some(v) => v.as_bool().map(Some).ok_or(ImageInfoError::WrongType {
            key,
            expected: "a boolean",
        }),
    }
}

fn strings(v: Option<&Value>, key: &'static str) -> Result<Vec<String>, ImageInfoError> {
    let wrong = ImageInfoError::WrongType {
        key,
        expected: "an array of strings",
    };
    match v {
        None => Ok(Vec::new()),
        Some(v) => {
            let items = v.as_array().ok_or(wrong)?;
            items
                .iter()
                .map(|i| {
                    i.as_str()
                        .map(str::to_owned)
                        .ok_or(ImageInfoError::WrongType {
                            key,
                            expected: "an array of strings",
                        })
                })
                .collect()
        }
    }
}

/// A MAC address as six hex octets separated by `:` or `-`; octets of one
/// digit (`0:1b:...`, as macOS prints them) are accepted.
pub fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let mut out = [0u8; 6];
    let mut n = 0;
    for part in s.split([':', '-']) {
        if n == 6 || part.is_empty() || part.len() > 2 {
            return None;
        }
        out[n] = u8::from_str_radix(part, 16).ok()?;
        n += 1;
    }
    (n == 6).then_some(out)
}

fn is_url(s: &str) -> bool {
    s.starts_with("http://") || s.starts_with("https://") || s.starts_with("nfs:")
}

/// Not empty, not absolute, no `..` component, no NUL.
fn is_relative_path(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with('/')
        && !s.contains('\0')
        && !s.split(['/', '\\']).any(|c| c == "..")
}

fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut cut = max;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use pippin_plist::{Dictionary, Integer};

    fn base() -> Dictionary {
        let mut d = Dictionary::new();
        d.insert("Index", Value::Integer(Integer::new(1001).unwrap()));
        d.insert("Name", Value::String("NetInstall".into()));
        d.insert("Type", Value::String("HTTP".into()));
        d.insert("BootFile", Value::String("booter".into()));
        d.insert("RootPath", Value::String("NetInstall.dmg".into()));
        d
    }

    fn parse(d: Dictionary) -> Result<ImageInfo, ImageInfoError> {
        ImageInfo::from_value(&Value::Dictionary(d))
    }

    #[test]
    fn defaults() {
        let i = parse(base()).unwrap();
        assert_eq!(i.index, 1001);
        assert!(i.is_enabled && !i.is_install && !i.is_default && !i.filter_only);
        assert_eq!(i.kind, ImageKind::MAC_OS_X);
        assert_eq!(i.architectures, vec!["i386"]);
        assert_eq!(i.id(), ImageId(0x0100_03e9));
        assert_eq!(i.root_path.as_deref(), Some("NetInstall.dmg"));
    }

    #[test]
    fn xml_and_binary_parse_alike() {
        let mut d = base();
        d.insert("IsInstall", Value::Boolean(true));
        d.insert(
            "EnabledMACAddresses",
            Value::Array(vec![Value::String("a8:20:66:2:34:56".into())]),
        );
        d.insert("LoadBalanceServer", Value::String("192.168.56.2".into()));
        let v = Value::Dictionary(d);
        let xml = pippin_plist::to_xml_vec(&v);
        let bin = pippin_plist::to_binary_vec(&v).unwrap();
        let a = ImageInfo::parse(&xml).unwrap();
        let b = ImageInfo::parse(&bin).unwrap();
        assert_eq!(a, b);
        assert_eq!(
            a.enabled_mac_addresses,
            vec![[0xa8, 0x20, 0x66, 0x02, 0x34, 0x56]]
        );
        assert_eq!(a.load_balance_server, Some(Ipv4Addr::new(192, 168, 56, 2)));
        assert_eq!(a.id(), ImageId(0x8100_03e9));
    }

    #[test]
    fn refusals() {
        type Edit = Box<dyn Fn(&mut Dictionary)>;
        let cases: Vec<(Edit, &str)> = vec![
            (
                Box::new(|d| {
                    d.remove("Index");
                }),
                "missing key Index",
            ),
            (
                Box::new(|d| {
                    d.insert("Index", Value::Integer(Integer::new(0).unwrap()));
                }),
                "Index 0 is outside 1..=65535",
            ),
            (
                Box::new(|d| {
                    d.insert("Index", Value::Integer(Integer::new(70000).unwrap()));
                }),
                "Index 70000 is outside 1..=65535",
            ),
            (
                Box::new(|d| {
                    d.insert("Index", Value::String("1004".into()));
                }),
                "key Index is not an integer",
            ),
            (
                Box::new(|d| {
                    d.insert("Type", Value::String("Classic".into()));
                }),
                "unknown Type \"Classic\"",
            ),
            (
                Box::new(|d| {
                    d.remove("RootPath");
                }),
                "missing key RootPath",
            ),
            (
                Box::new(|d| {
                    d.insert("BootFile", Value::String("../../etc/passwd".into()));
                }),
                "bad BootFile",
            ),
            (
                Box::new(|d| {
                    d.insert("RootPath", Value::String("/etc/x.dmg".into()));
                }),
                "bad RootPath",
            ),
            (
                Box::new(|d| {
                    d.insert("Kind", Value::Integer(Integer::new(200).unwrap()));
                }),
                "Kind 200 is outside 0..=127",
            ),
            (
                Box::new(|d| {
                    d.insert("IsEnabled", Value::String("yes".into()));
                }),
                "key IsEnabled is not a boolean",
            ),
            (
                Box::new(|d| {
                    d.insert(
                        "DisabledMACAddresses",
                        Value::Array(vec![Value::String("zz".into())]),
                    );
                }),
                "bad MAC address \"zz\"",
            ),
            (
                Box::new(|d| {
                    d.insert("LoadBalanceServer", Value::String("lb.example".into()));
                }),
                "LoadBalanceServer \"lb.example\" is not an IPv4 address",
            ),
        ];
        for (edit, want) in cases {
            let mut d = base();
            edit(&mut d);
            assert_eq!(parse(d).unwrap_err().to_string(), want);
        }
        assert!(matches!(
            ImageInfo::from_value(&Value::Array(vec![])),
            Err(ImageInfoError::NotADictionary)
        ));
        assert!(matches!(
            ImageInfo::parse(b"not a plist"),
            Err(ImageInfoError::Plist(_))
        ));
    }

    #[test]
    fn boot_file_only_needs_no_root_path_and_long_names_are_cut() {
        let mut d = base();
        d.remove("RootPath");
        d.insert("Type", Value::String("BootFileOnly".into()));
        d.insert("Name", Value::String("é".repeat(200)));
        let i = parse(d).unwrap();
        assert_eq!(i.root_path, None);
        assert_eq!(i.name.len(), 246);
        assert!(i.name.chars().all(|c| c == 'é'));
    }

    #[test]
    fn macs() {
        assert_eq!(
            parse_mac("00-1b-63-84-45-e6"),
            Some([0, 0x1b, 0x63, 0x84, 0x45, 0xe6])
        );
        assert_eq!(
            parse_mac("0:1b:63:84:45:e6"),
            Some([0, 0x1b, 0x63, 0x84, 0x45, 0xe6])
        );
        assert_eq!(parse_mac("00:1b:63:84:45"), None);
        assert_eq!(parse_mac("00:1b:63:84:45:e6:01"), None);
        assert_eq!(parse_mac("001:1b:63:84:45:e6"), None);
    }
}

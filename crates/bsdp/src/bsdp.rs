//! The BSDP layer: Apple's vendor class identifier (option 60) and the
//! vendor-specific sub-options carried in option 43.
//!
//! Apple's Boot Service Discovery Protocol is a DHCP extension: a NetBoot
//! client, which already has an address, sends `DHCPINFORM` with option 60
//! `AAPLBSDPC/<arch>/<model>` and, in option 43, BSDP sub-options
//! (tag, length, value; integers big-endian), as defined in Apple's bootp
//! project (`bsdp.h`):
//!
//! | tag | name | value |
//! |---|---|---|
//! | 1 | message type | u8: LIST 1, SELECT 2, FAILED 3 |
//! | 2 | version | u16: 0x0100 (1.0), 0x0101 (1.1) |
//! | 3 | server identifier | IPv4 address |
//! | 4 | server priority | u16 |
//! | 5 | reply port | u16, below 1024 |
//! | 6 | boot image list path | string (unused) |
//! | 7 | default boot image | image id (u32) |
//! | 8 | selected boot image | image id (u32) |
//! | 9 | boot image list | entries of image id (4), name length (1), name |
//! | 10 | NetBoot 1.0 firmware | no value |
//! | 11 | image attributes filter list | u16 each |
//! | 12 | maximum message size | u16 |
//! | 128 | shadow mount path | string (URL) |
//! | 129 | shadow file path | string |
//! | 130 | machine name | string |
//!
//! An image id is the image's attributes in the high 16 bits (bit 15:
//! install image; bits 14–8: kind) and its index in the low 16 bits
//! (1–4095 local to one server, 4096–65535 shared by load-balanced
//! servers).

use std::fmt;
use std::net::Ipv4Addr;

use crate::codec::{Decode, Encode, Writer};
use crate::error::{DecodeError, DecodeErrorKind, EncodeError};

/// The vendor class a server sends back (option 60).
pub const SERVER_VENDOR_CLASS: &[u8] = b"AAPLBSDPC";
/// BSDP 1.0: the `ACK[LIST]` names only the default image.
pub const VERSION_1_0: u16 = 0x0100;
/// BSDP 1.1: the `ACK[LIST]` carries the image list.
pub const VERSION_1_1: u16 = 0x0101;
/// The longest image name a server sends: 255 (option) less two option
/// headers and the 5-byte entry header, as in Apple's `bsdp.h`.
pub const IMAGE_NAME_MAX: usize = 246;

/// BSDP sub-option tags.
pub mod tag {
    /// Message type.
    pub const MESSAGE_TYPE: u8 = 1;
    /// Version.
    pub const VERSION: u8 = 2;
    /// Server identifier.
    pub const SERVER_IDENTIFIER: u8 = 3;
    /// Server priority.
    pub const SERVER_PRIORITY: u8 = 4;
    /// Reply port.
    pub const REPLY_PORT: u8 = 5;
    /// Boot image list path (not used by current clients).
    pub const BOOT_IMAGE_LIST_PATH: u8 = 6;
    /// Default boot image.
    pub const DEFAULT_BOOT_IMAGE: u8 = 7;
    /// Selected boot image.
    pub const SELECTED_BOOT_IMAGE: u8 = 8;
    /// Boot image list.
    pub const BOOT_IMAGE_LIST: u8 = 9;
    /// NetBoot 1.0 firmware.
    pub const NETBOOT_1_0_FIRMWARE: u8 = 10;
    /// Image attributes filter list.
    pub const ATTRIBUTES_FILTER_LIST: u8 = 11;
    /// Maximum message size.
    pub const MAX_MESSAGE_SIZE: u8 = 12;
    /// Shadow mount path.
    pub const SHADOW_MOUNT_PATH: u8 = 128;
    /// Shadow file path.
    pub const SHADOW_FILE_PATH: u8 = 129;
    /// Machine name.
    pub const MACHINE_NAME: u8 = 130;
}

/// BSDP message type (sub-option 1).
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
pub enum BsdpMessageType {
    /// LIST (1): which images are there?
    List,
    /// SELECT (2): boot this one.
    Select,
    /// FAILED (3): the selection was refused.
    Failed,
    /// Any other value.
    Other(u8),
}

impl From<u8> for BsdpMessageType {
    fn from(v: u8) -> Self {
        match v {
            1 => Self::List,
            2 => Self::Select,
            3 => Self::Failed,
            other => Self::Other(other),
        }
    }
}

impl From<BsdpMessageType> for u8 {
    fn from(t: BsdpMessageType) -> Self {
        match t {
            BsdpMessageType::List => 1,
            BsdpMessageType::Select => 2,
            BsdpMessageType::Failed => 3,
            BsdpMessageType::Other(v) => v,
        }
    }
}

impl fmt::Display for BsdpMessageType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::List => f.write_str("LIST"),
            Self::Select => f.write_str("SELECT"),
            Self::Failed => f.write_str("FAILED"),
            Self::Other(v) => write!(f, "type {v}"),
        }
    }
}

/// An image kind (bits 14–8 of an image id, 0–127).
#[derive(Clone, Copy, Debug, Eq, Hash, Ord, PartialEq, PartialOrd)]
pub struct ImageKind(u8);

impl ImageKind {
    /// Mac OS 9 (0).
    pub const MAC_OS_9: Self = Self(0);
    /// Mac OS X / macOS (1).
    pub const MAC_OS_X: Self = Self(1);
    /// Mac OS X Server (2).
    pub const MAC_OS_X_SERVER: Self = Self(2);
    /// Hardware diagnostics (3).
    pub const DIAGNOSTICS: Self = Self(3);

    /// A kind from its number, if it fits in seven bits.
    pub const fn new(kind: u8) -> Option<Self> {
        if kind <= 0x7f { Some(Self(kind)) } else { None }
    }

    /// The number.
    pub const fn get(self) -> u8 {
        self.0
    }
}

/// A boot image identifier: attributes (install flag, kind) and index.
#[derive(Clone, Copy, Debug, Eq, Hash, Ord, PartialEq, PartialOrd)]
pub struct ImageId(pub u32);

impl ImageId {
    /// Bit 31: an install image.
    pub const INSTALL: u32 = 0x8000_0000;
    /// Indexes below this are local to one server; from it up they are
    /// shared by load-balanced servers.
    pub const FIRST_SHARED_INDEX: u16 = 4096;

    /// An id from its parts.
    pub const fn new(index: u16, kind: ImageKind, install: bool) -> Self {
        let install = if install { Self::INSTALL } else { 0 };
        Self(install | ((kind.0 as u32) << 24) | index as u32)
    }

    /// The low 16 bits.
    pub const fn index(self) -> u16 {
        (self.0 & 0xffff) as u16
    }

    /// The kind.
    pub const fn kind(self) -> ImageKind {
        ImageKind(((self.0 >> 24) & 0x7f) as u8)
    }

    /// Whether bit 31 (install) is set.
    pub const fn is_install(self) -> bool {
        self.0 & Self::INSTALL != 0
    }

    /// The high 16 bits: what an attributes filter list (sub-option 11)
    /// matches against.
    pub const fn attributes(self) -> u16 {
        (self.0 >> 16) as u16
    }

    /// Whether the index is local to one server (below 4096).
    pub const fn is_local(self) -> bool {
        self.index() < Self::FIRST_SHARED_INDEX
    }
}

impl fmt::Display for ImageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#010x}", self.0)
    }
}

/// One entry of a boot image list (sub-option 9).
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct BootImage {
    /// The image id.
    pub id: ImageId,
    /// The name shown in Startup Disk (invalid UTF-8 is replaced when
    /// decoding).
    pub name: String,
}

impl BootImage {
    fn wire_len(&self) -> usize {
        5 + self.name.len()
    }
}

/// A client's vendor class identifier, `AAPLBSDPC/<arch>/<model>`.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct VendorClass {
    /// Architecture: `i386`, `ppc`, `arm64`, ...
    pub arch: String,
    /// System identifier (model), for example `MacBookPro11,2`.
    pub model: String,
}

impl VendorClass {
    /// The option-60 value.
    pub fn to_bytes(&self) -> Vec<u8> {
        format!("AAPLBSDPC/{}/{}", self.arch, self.model).into_bytes()
    }
}

impl Decode for VendorClass {
    fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let not_bsdp = DecodeError::new(DecodeErrorKind::NotBsdp, 0);
        let rest = bytes.strip_prefix(b"AAPLBSDPC/").ok_or(not_bsdp)?;
        let text = core::str::from_utf8(rest).map_err(|_| not_bsdp)?;
        let (arch, model) = text.split_once('/').ok_or(not_bsdp)?;
        // The architecture names a folder of booters (`<image>.nbi/i386/`):
        // letters, digits, `_` and `-` only, never `..` or a separator.
        let arch_ok = !arch.is_empty()
            && arch
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !arch_ok || model.is_empty() || model.contains('/') {
            return Err(not_bsdp);
        }
        Ok(Self {
            arch: arch.to_owned(),
            model: model.to_owned(),
        })
    }
}

/// The BSDP sub-options of one message (option 43), typed.
///
/// Repeated boot image lists (sub-option 9) and filter lists (11) are
/// concatenated; for any other repeated sub-option the first counts.
/// Sub-options this crate does not know are kept in `unknown`.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct BsdpOptions {
    /// Sub-option 1.
    pub message_type: Option<BsdpMessageType>,
    /// Sub-option 2.
    pub version: Option<u16>,
    /// Sub-option 3.
    pub server_identifier: Option<Ipv4Addr>,
    /// Sub-option 4.
    pub server_priority: Option<u16>,
    /// Sub-option 5.
    pub reply_port: Option<u16>,
    /// Sub-option 6.
    pub boot_image_list_path: Option<Vec<u8>>,
    /// Sub-option 7.
    pub default_boot_image: Option<ImageId>,
    /// Sub-option 8.
    pub selected_boot_image: Option<ImageId>,
    /// Sub-option 9 (`None` when absent, which differs from an empty list).
    pub boot_image_list: Option<Vec<BootImage>>,
    /// Sub-option 10.
    pub netboot_1_0_firmware: bool,
    /// Sub-option 11.
    pub attributes_filter_list: Option<Vec<u16>>,
    /// Sub-option 12.
    pub max_message_size: Option<u16>,
    /// Sub-option 128.
    pub shadow_mount_path: Option<Vec<u8>>,
    /// Sub-option 129.
    pub shadow_file_path: Option<Vec<u8>>,
    /// Sub-option 130.
    pub machine_name: Option<Vec<u8>>,
    /// Other sub-options, tag and value, in order.
    pub unknown: Vec<(u8, Vec<u8>)>,
}

impl BsdpOptions {
    /// The sub-options as separate option-43 instances of at most 255
    /// bytes each, every sub-option whole inside one instance, so that a
    /// receiver may either join the instances (RFC 3396) or read each on
    /// its own (as Apple's server writes them). The image list is split
    /// into several sub-option 9 entries where needed; names must then be
    /// at most 248 bytes (a server sends at most [`IMAGE_NAME_MAX`]).
    pub fn encode_instances(&self) -> Result<Vec<Vec<u8>>, EncodeError> {
        let mut instances: Vec<Vec<u8>> = Vec::new();
        let mut cur: Vec<u8> = Vec::new();
        let mut atoms = self.atoms()?;
        for atom in atoms.drain(..) {
            match atom {
                Atom::Whole(bytes) => {
                    if bytes.len() > 255 {
                        return Err(EncodeError::TooLong("BSDP sub-option"));
                    }
                    if cur.len() + bytes.len() > 255 {
                        instances.push(core::mem::take(&mut cur));
                    }
                    cur.extend_from_slice(&bytes);
                }
                Atom::List(images) => {
                    // Position of the open list's length byte in `cur`.
                    let mut open: Option<usize> = None;
                    for image in images {
                        let entry = entry_bytes(image)?;
                        if entry.len() + 2 > 255 {
                            return Err(EncodeError::TooLong("boot image name"));
                        }
                        let fits_open = open.is_some_and(|at| {
                            cur.len() + entry.len() <= 255
                                && usize::from(cur[at]) + entry.len() <= 255
                        });
                        if !fits_open {
                            if cur.len() + 2 + entry.len() > 255 {
                                instances.push(core::mem::take(&mut cur));
                            }
                            cur.extend_from_slice(&[tag::BOOT_IMAGE_LIST, 0]);
                            open = Some(cur.len() - 1);
                        }
                        if let Some(at) = open {
                            cur.extend_from_slice(&entry);
                            // Checked above: the list stays within 255.
                            cur[at] += entry.len() as u8;
                        }
                    }
                    if images.is_empty() {
                        if cur.len() + 2 > 255 {
                            instances.push(core::mem::take(&mut cur));
                        }
                        cur.extend_from_slice(&[tag::BOOT_IMAGE_LIST, 0]);
                    }
                }
            }
        }
        if !cur.is_empty() {
            instances.push(cur);
        }
        Ok(instances)
    }

    /// The sub-options in tag order, each whole, and the image list apart.
    fn atoms(&self) -> Result<Vec<Atom<'_>>, EncodeError> {
        let mut atoms = Vec::new();
        if let Some(t) = self.message_type {
            push_whole(&mut atoms, tag::MESSAGE_TYPE, &[u8::from(t)])?;
        }
        if let Some(v) = self.version {
            push_whole(&mut atoms, tag::VERSION, &v.to_be_bytes())?;
        }
        if let Some(a) = self.server_identifier {
            push_whole(&mut atoms, tag::SERVER_IDENTIFIER, &a.octets())?;
        }
        if let Some(p) = self.server_priority {
            push_whole(&mut atoms, tag::SERVER_PRIORITY, &p.to_be_bytes())?;
        }
        if let Some(p) = self.reply_port {
            push_whole(&mut atoms, tag::REPLY_PORT, &p.to_be_bytes())?;
        }
        if let Some(p) = &self.boot_image_list_path {
            push_whole(&mut atoms, tag::BOOT_IMAGE_LIST_PATH, p)?;
        }
        if let Some(id) = self.default_boot_image {
            push_whole(&mut atoms, tag::DEFAULT_BOOT_IMAGE, &id.0.to_be_bytes())?;
        }
        if let Some(id) = self.selected_boot_image {
            push_whole(&mut atoms, tag::SELECTED_BOOT_IMAGE, &id.0.to_be_bytes())?;
        }
        let list_at = atoms.len();
        if self.netboot_1_0_firmware {
            push_whole(&mut atoms, tag::NETBOOT_1_0_FIRMWARE, &[])?;
        }
        if let Some(filters) = &self.attributes_filter_list {
            // Split like the image list: 126 attributes per sub-option, so that
            // each fits whole in one option-43 instance.
            if filters.is_empty() {
                push_whole(&mut atoms, tag::ATTRIBUTES_FILTER_LIST, &[])?;
            }
            for chunk in filters.chunks(126) {
                let v: Vec<u8> = chunk.iter().flat_map(|a| a.to_be_bytes()).collect();
                push_whole(&mut atoms, tag::ATTRIBUTES_FILTER_LIST, &v)?;
            }
        }
        if let Some(m) = self.max_message_size {
            push_whole(&mut atoms, tag::MAX_MESSAGE_SIZE, &m.to_be_bytes())?;
        }
        if let Some(p) = &self.shadow_mount_path {
            push_whole(&mut atoms, tag::SHADOW_MOUNT_PATH, p)?;
        }
        if let Some(p) = &self.shadow_file_path {
            push_whole(&mut atoms, tag::SHADOW_FILE_PATH, p)?;
        }
        if let Some(n) = &self.machine_name {
            push_whole(&mut atoms, tag::MACHINE_NAME, n)?;
        }
        for (t, v) in &self.unknown {
            push_whole(&mut atoms, *t, v)?;
        }
        if let Some(list) = &self.boot_image_list {
            atoms.insert(list_at, Atom::List(list));
        }
        Ok(atoms)
    }
}

fn push_whole(atoms: &mut Vec<Atom<'_>>, tag: u8, v: &[u8]) -> Result<(), EncodeError> {
    let len = u8::try_from(v.len()).map_err(|_| EncodeError::TooLong("BSDP sub-option"))?;
    let mut b = Vec::with_capacity(2 + v.len());
    b.extend_from_slice(&[tag, len]);
    b.extend_from_slice(v);
    atoms.push(Atom::Whole(b));
    Ok(())
}

enum Atom<'a> {
    Whole(Vec<u8>),
    List(&'a [BootImage]),
}

/// One list entry: id, name length, name; names over 250 bytes cannot be
/// written (the entry would not fit in a sub-option).
fn entry_bytes(image: &BootImage) -> Result<Vec<u8>, EncodeError> {
    if image.wire_len() > 255 {
        return Err(EncodeError::TooLong("boot image name"));
    }
    let mut e = Vec::with_capacity(image.wire_len());
    e.extend_from_slice(&image.id.0.to_be_bytes());
    // Checked above: at most 250.
    e.push(image.name.len() as u8);
    e.extend_from_slice(image.name.as_bytes());
    Ok(e)
}

impl BsdpOptions {
    /// The joined option-43 value: sub-options in tag order, the image
    /// list in sub-option 9 entries of at most 255 bytes each.
    fn flat(&self) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::new();
        for atom in self.atoms()? {
            match atom {
                Atom::Whole(bytes) => out.extend_from_slice(&bytes),
                Atom::List(images) => {
                    let mut open: Option<usize> = None;
                    for image in images {
                        let entry = entry_bytes(image)?;
                        let fits = open.is_some_and(|at| usize::from(out[at]) + entry.len() <= 255);
                        if !fits {
                            out.extend_from_slice(&[tag::BOOT_IMAGE_LIST, 0]);
                            open = Some(out.len() - 1);
                        }
                        if let Some(at) = open {
                            out.extend_from_slice(&entry);
                            // Checked above: the list stays within 255.
                            out[at] += entry.len() as u8;
                        }
                    }
                    if images.is_empty() {
                        out.extend_from_slice(&[tag::BOOT_IMAGE_LIST, 0]);
                    }
                }
            }
        }
        Ok(out)
    }
}

impl Encode for BsdpOptions {
    /// The length of the joined value; 0 if it cannot be encoded.
    fn encoded_len(&self) -> usize {
        self.flat().map(|v| v.len()).unwrap_or(0)
    }

    /// The joined option-43 value. A packet encoder splits it into
    /// 255-byte instances as RFC 3396 says; to keep every sub-option whole
    /// inside one instance, use [`BsdpOptions::encode_instances`] instead.
    fn encode(&self, out: &mut [u8]) -> Result<usize, EncodeError> {
        let flat = self.flat()?;
        let mut w = Writer::new(out, flat.len())?;
        w.put(&flat)?;
        Ok(w.pos())
    }
}

impl Decode for BsdpOptions {
    fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut o = Self::default();
        let mut i = 0;
        while i < bytes.len() {
            let t = bytes[i];
            if t == 0 {
                i += 1;
                continue;
            }
            if t == 255 {
                break;
            }
            let len = usize::from(
                *bytes
                    .get(i + 1)
                    .ok_or(DecodeError::new(DecodeErrorKind::Truncated, i))?,
            );
            let end = i + 2 + len;
            let v = bytes
                .get(i + 2..end)
                .ok_or(DecodeError::new(DecodeErrorKind::Truncated, i))?;
            let bad_len = DecodeError::new(DecodeErrorKind::BadLength, i);
            let u16_of = |v: &[u8]| -> Result<u16, DecodeError> {
                let a: [u8; 2] = v.try_into().map_err(|_| bad_len)?;
                Ok(u16::from_be_bytes(a))
            };
            let u32_of = |v: &[u8]| -> Result<u32, DecodeError> {
                let a: [u8; 4] = v.try_into().map_err(|_| bad_len)?;
                Ok(u32::from_be_bytes(a))
            };
            match t {
                tag::MESSAGE_TYPE => {
                    let [m] = v else { return Err(bad_len) };
                    o.message_type.get_or_insert(BsdpMessageType::from(*m));
                }
                tag::VERSION => {
                    let x = u16_of(v)?;
                    o.version.get_or_insert(x);
                }
                tag::SERVER_IDENTIFIER => {
                    let x = Ipv4Addr::from(u32_of(v)?);
                    o.server_identifier.get_or_insert(x);
                }
                tag::SERVER_PRIORITY => {
                    let x = u16_of(v)?;
                    o.server_priority.get_or_insert(x);
                }
                tag::REPLY_PORT => {
                    let x = u16_of(v)?;
                    o.reply_port.get_or_insert(x);
                }
                tag::BOOT_IMAGE_LIST_PATH => {
                    o.boot_image_list_path.get_or_insert_with(|| v.to_vec());
                }
                tag::DEFAULT_BOOT_IMAGE => {
                    let x = ImageId(u32_of(v)?);
                    o.default_boot_image.get_or_insert(x);
                }
                tag::SELECTED_BOOT_IMAGE => {
                    let x = ImageId(u32_of(v)?);
                    o.selected_boot_image.get_or_insert(x);
                }
                tag::BOOT_IMAGE_LIST => {
                    let list = o.boot_image_list.get_or_insert_with(Vec::new);
                    read_image_list(v, i + 2, list)?;
                }
                tag::NETBOOT_1_0_FIRMWARE => o.netboot_1_0_firmware = true,
                tag::ATTRIBUTES_FILTER_LIST => {
                    if v.len() % 2 != 0 {
                        return Err(bad_len);
                    }
                    let list = o.attributes_filter_list.get_or_insert_with(Vec::new);
                    list.extend(v.chunks_exact(2).map(|c| u16::from_be_bytes([c[0], c[1]])));
                }
                tag::MAX_MESSAGE_SIZE => {
                    let x = u16_of(v)?;
                    o.max_message_size.get_or_insert(x);
                }
                tag::SHADOW_MOUNT_PATH => {
                    o.shadow_mount_path.get_or_insert_with(|| v.to_vec());
                }
                tag::SHADOW_FILE_PATH => {
                    o.shadow_file_path.get_or_insert_with(|| v.to_vec());
                }
                tag::MACHINE_NAME => {
                    o.machine_name.get_or_insert_with(|| v.to_vec());
                }
                other => o.unknown.push((other, v.to_vec())),
            }
            i = end;
        }
        Ok(o)
    }
}

fn read_image_list(v: &[u8], base: usize, out: &mut Vec<BootImage>) -> Result<(), DecodeError> {
    let mut j = 0;
    while j < v.len() {
        let head = v
            .get(j..j + 5)
            .ok_or(DecodeError::new(DecodeErrorKind::Truncated, base + j))?;
        let id = ImageId(u32::from_be_bytes([head[0], head[1], head[2], head[3]]));
        let n = usize::from(head[4]);
        let name = v
            .get(j + 5..j + 5 + n)
            .ok_or(DecodeError::new(DecodeErrorKind::Truncated, base + j))?;
        out.push(BootImage {
            id,
            name: String::from_utf8_lossy(name).into_owned(),
        });
        j += 5 + n;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_id_parts() {
        let id = ImageId(0x8100_03e9);
        assert!(id.is_install());
        assert_eq!(id.kind(), ImageKind::MAC_OS_X);
        assert_eq!(id.index(), 1001);
        assert_eq!(id.attributes(), 0x8100);
        assert!(id.is_local());
        assert_eq!(ImageId::new(1001, ImageKind::MAC_OS_X, true), id);
        let shared = ImageId::new(4097, ImageKind::DIAGNOSTICS, false);
        assert_eq!(shared.0, 0x0300_1001);
        assert!(!shared.is_local());
        assert_eq!(ImageKind::new(128), None);
        assert_eq!(ImageKind::new(127).map(ImageKind::get), Some(127));
        assert_eq!(id.to_string(), "0x810003e9");
    }

    #[test]
    fn vendor_class() {
        let vc = VendorClass::decode(b"AAPLBSDPC/i386/MacBookPro11,2").unwrap();
        assert_eq!(vc.arch, "i386");
        assert_eq!(vc.model, "MacBookPro11,2");
        assert_eq!(vc.to_bytes(), b"AAPLBSDPC/i386/MacBookPro11,2");
        for bad in [
            &b"AAPLBSDPC"[..],
            b"AAPLBSDPC/i386",
            b"PXEClient:Arch:00000",
            b"AAPLBSDPC//x",
            b"AAPLBSDPC/a/b/c",
            b"AAPLBSDPC/../MacBookPro11,2",
            b"AAPLBSDPC/i 386/MacBookPro11,2",
        ] {
            assert_eq!(
                VendorClass::decode(bad).unwrap_err().kind,
                DecodeErrorKind::NotBsdp
            );
        }
    }

    #[test]
    fn client_list_vector() {
        // type=LIST, version 1.1, max message size 1500.
        let v = hex::decode("010101020201010c0205dc").unwrap();
        let o = BsdpOptions::decode(&v).unwrap();
        assert_eq!(o.message_type, Some(BsdpMessageType::List));
        assert_eq!(o.version, Some(VERSION_1_1));
        assert_eq!(o.max_message_size, Some(1500));
        assert_eq!(o.to_vec().unwrap(), v);
    }

    #[test]
    fn server_list_vector() {
        let v = hex::decode(
            "0101010402800007048100\
             03e90933810003e9166d61634f532031302e3133204e6574496e7374616c6c010003ea13446961676e6f7374696373204e6574426f6f74",
        )
        .unwrap();
        let o = BsdpOptions::decode(&v).unwrap();
        assert_eq!(o.server_priority, Some(0x8000));
        assert_eq!(o.default_boot_image, Some(ImageId(0x8100_03e9)));
        let list = o.boot_image_list.as_ref().unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!(list[0].name, "macOS 10.13 NetInstall");
        assert_eq!(list[1].id, ImageId(0x0100_03ea));
        assert_eq!(list[1].name, "Diagnostics NetBoot");
        assert_eq!(o.to_vec().unwrap(), v);
    }

    #[test]
    fn long_list_splits_into_whole_instances() {
        let images: Vec<BootImage> = (1..=12u16)
            .map(|i| BootImage {
                id: ImageId::new(i, ImageKind::MAC_OS_X, i % 2 == 0),
                name: format!("NetInstall image number {i:02} macOS"),
            })
            .collect();
        let o = BsdpOptions {
            message_type: Some(BsdpMessageType::List),
            server_priority: Some(0x8000),
            default_boot_image: Some(images[0].id),
            boot_image_list: Some(images.clone()),
            ..BsdpOptions::default()
        };
        let instances = o.encode_instances().unwrap();
        assert!(instances.len() >= 2);
        for inst in &instances {
            assert!(inst.len() <= 255);
            // Each instance decodes on its own.
            BsdpOptions::decode(inst).unwrap();
        }
        let joined: Vec<u8> = instances.concat();
        assert_eq!(BsdpOptions::decode(&joined).unwrap(), o);
    }

    #[test]
    fn malformed_sub_options() {
        let cases: [(&str, DecodeErrorKind, usize); 6] = [
            ("0102", DecodeErrorKind::Truncated, 0),
            ("01", DecodeErrorKind::Truncated, 0),
            ("01020101", DecodeErrorKind::BadLength, 0),
            ("010101020101", DecodeErrorKind::BadLength, 3),
            ("0b03010203", DecodeErrorKind::BadLength, 0),
            ("0906810003e905ab", DecodeErrorKind::Truncated, 2),
        ];
        for (h, kind, offset) in cases {
            let err = BsdpOptions::decode(&hex::decode(h).unwrap()).unwrap_err();
            assert_eq!((err.kind, err.offset), (kind, offset), "{h}");
        }
    }

    #[test]
    fn first_of_repeated_scalars_counts_and_unknowns_are_kept() {
        let v = hex::decode("010101010102fe0161ff0102").unwrap();
        let o = BsdpOptions::decode(&v).unwrap();
        assert_eq!(o.message_type, Some(BsdpMessageType::List));
        assert_eq!(o.unknown, vec![(0xfe, b"a".to_vec())]);
    }

    #[test]
    fn too_long_names_are_refused() {
        let o = BsdpOptions {
            boot_image_list: Some(vec![BootImage {
                id: ImageId(1),
                name: "x".repeat(251),
            }]),
            ..BsdpOptions::default()
        };
        assert_eq!(
            o.encode_instances().unwrap_err(),
            EncodeError::TooLong("boot image name")
        );
        let o = BsdpOptions {
            machine_name: Some(vec![b'x'; 256]),
            ..BsdpOptions::default()
        };
        assert!(o.to_vec().is_err());
    }
}

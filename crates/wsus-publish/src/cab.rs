//! Microsoft Cabinet files ([MS-CAB]): a writer for single-folder cabinets
//! compressed with MSZIP ([MS-MCI]), and a reader that lists and extracts
//! the files of a cabinet.
//!
//! A cabinet is laid out as follows ([MS-CAB] §2):
//!
//! ```text
//! CFHEADER          fixed fields, then (flag RESERVE_PRESENT) cbCFHeader,
//!                   cbCFFolder, cbCFData and abReserve[cbCFHeader]
//! CFFOLDER × cFolders   coffCabStart, cCFData, typeCompress
//! CFFILE × cFiles       cbFile, uoffFolderStart, iFolder, date, time,
//!                       attribs, szName (NUL-terminated)
//! CFDATA × cCFData      csum, cbData, cbUncomp, ab[cbData]
//! ```
//!
//! The files of a folder are concatenated and cut into blocks of at most
//! 32 768 bytes; with MSZIP each block is `CK` followed by an RFC 1951
//! deflate stream. The writer compresses every block on its own (no history
//! carried from the previous block), which every MSZIP reader accepts; the
//! reader also accepts cabinets whose blocks refer back to the previous
//! block's output, as Microsoft's compressor writes them.
//!
//! No I/O and no clock: files come in as bytes with their modification
//! time, and the cabinet goes out as bytes.
//!
//! ```
//! use time::macros::datetime;
//! use wsus_publish::cab::{CabBuilder, Cabinet};
//!
//! let mut cab = CabBuilder::new();
//! cab.add_file("catalog.xml", b"<catalog/>".as_slice(), datetime!(2025-01-02 03:04:06))?;
//! let bytes = cab.build()?;
//!
//! let cabinet = Cabinet::parse(&bytes)?;
//! let files = cabinet.extract_all()?;
//! assert_eq!(files[0].0.name(), "catalog.xml");
//! assert_eq!(files[0].1, b"<catalog/>");
//! # Ok::<(), wsus_publish::cab::CabError>(())
//! ```
//!
//! [MS-CAB]: https://learn.microsoft.com/en-us/openspecs/windows_protocols/ms-cab/
//! [MS-MCI]: https://learn.microsoft.com/en-us/openspecs/exchange_server_protocols/ms-mci/

use time::PrimitiveDateTime;

mod read;
mod write;

pub use read::{Cabinet, FileEntry};
pub use write::CabBuilder;

/// Most uncompressed bytes in one `CFDATA` block ([MS-CAB] §2.4, `cbUncomp`).
///
/// [MS-CAB]: https://learn.microsoft.com/en-us/openspecs/windows_protocols/ms-cab/
pub const MAX_BLOCK_SIZE: usize = 32_768;

/// Largest uncompressed size of a folder and largest cabinet ([MS-CAB]
/// §2.1: `cbCabinet` and `uoffFolderStart` are at most 0x7FFF8000).
///
/// [MS-CAB]: https://learn.microsoft.com/en-us/openspecs/windows_protocols/ms-cab/
pub const MAX_CABINET_SIZE: u64 = 0x7FFF_8000;

/// Longest file name in a `CFFILE`, in bytes, without the terminating NUL
/// ([MS-CAB] §2.3: `szName` is at most 256 bytes including the NUL).
///
/// [MS-CAB]: https://learn.microsoft.com/en-us/openspecs/windows_protocols/ms-cab/
pub const MAX_NAME_LEN: usize = 255;

/// `CFHEADER.flags`: `szCabinetPrev` and `szDiskPrev` are present.
pub(crate) const FLAG_PREV_CABINET: u16 = 0x0001;
/// `CFHEADER.flags`: `szCabinetNext` and `szDiskNext` are present.
pub(crate) const FLAG_NEXT_CABINET: u16 = 0x0002;
/// `CFHEADER.flags`: `cbCFHeader`, `cbCFFolder` and `cbCFData` are present.
pub(crate) const FLAG_RESERVE_PRESENT: u16 = 0x0004;

/// `CFFILE.attribs`: the file has been modified since it was last backed up.
pub const ATTRIB_ARCHIVE: u16 = 0x0020;
/// `CFFILE.attribs`: `szName` is UTF-8 rather than the local code page.
pub const ATTRIB_NAME_IS_UTF: u16 = 0x0080;

/// Size of the fixed part of `CFHEADER`.
pub(crate) const HEADER_SIZE: usize = 36;

/// Compression of a folder (`CFFOLDER.typeCompress`, [MS-CAB] §2.2).
///
/// [MS-CAB]: https://learn.microsoft.com/en-us/openspecs/windows_protocols/ms-cab/
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum Compression {
    /// Blocks hold the data as it is (`tcompTYPE_NONE`).
    None,
    /// MSZIP (`tcompTYPE_MSZIP`): each block is `CK` and a deflate stream,
    /// compressed at this level (0 to 9; 6 is zlib's default).
    MsZip(u32),
}

impl Default for Compression {
    fn default() -> Self {
        Self::MsZip(6)
    }
}

impl Compression {
    /// The `typeCompress` value.
    pub(crate) fn type_compress(self) -> u16 {
        match self {
            Self::None => 0,
            Self::MsZip(_) => 1,
        }
    }
}

/// Bounds on what the writer produces and the reader accepts.
///
/// The reader checks the declared counts before it allocates anything and
/// the uncompressed size while it decompresses.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Limits {
    max_total_size: u64,
    max_files: usize,
    max_folders: usize,
    max_blocks: usize,
}

impl Default for Limits {
    /// 1 GiB uncompressed, 65 535 files, 64 folders and 65 536 data blocks.
    fn default() -> Self {
        Self {
            max_total_size: 1 << 30,
            max_files: 0xFFFF,
            max_folders: 64,
            max_blocks: 65_536,
        }
    }
}

impl Limits {
    /// Most uncompressed bytes in a cabinet (every folder together). The
    /// format itself caps a folder at [`MAX_CABINET_SIZE`].
    pub fn max_total_size(&mut self, bytes: u64) -> &mut Self {
        self.max_total_size = bytes;
        self
    }

    /// Most files in a cabinet (at most 65 535, the format's own bound).
    pub fn max_files(&mut self, files: usize) -> &mut Self {
        self.max_files = files;
        self
    }

    /// Most folders the reader accepts.
    pub fn max_folders(&mut self, folders: usize) -> &mut Self {
        self.max_folders = folders;
        self
    }

    /// Most `CFDATA` blocks in a cabinet, all folders together.
    pub fn max_blocks(&mut self, blocks: usize) -> &mut Self {
        self.max_blocks = blocks;
        self
    }
}

/// A file's modification time as a cabinet stores it: an MS-DOS date and
/// time (`CFFILE.date` and `CFFILE.time`, [MS-CAB] §2.3), local time with
/// two-second resolution, years 1980 to 2107.
///
/// [MS-CAB]: https://learn.microsoft.com/en-us/openspecs/windows_protocols/ms-cab/
#[derive(Clone, Copy, Debug, Eq, Hash, Ord, PartialEq, PartialOrd)]
pub struct DosDateTime {
    date: u16,
    time: u16,
}

impl DosDateTime {
    /// The MS-DOS form of `t`, seconds rounded down to even; `None` outside
    /// the years 1980 to 2107.
    pub fn new(t: PrimitiveDateTime) -> Option<Self> {
        let year = u16::try_from(t.year()).ok()?.checked_sub(1980)?;
        if year > 127 {
            return None;
        }
        let date = (year << 9) | (u16::from(u8::from(t.month())) << 5) | u16::from(t.day());
        let time =
            (u16::from(t.hour()) << 11) | (u16::from(t.minute()) << 5) | u16::from(t.second() / 2);
        Some(Self { date, time })
    }

    /// The raw `date` and `time` fields.
    pub fn from_raw(date: u16, time: u16) -> Self {
        Self { date, time }
    }

    /// The `date` field: bits 9–15 year since 1980, 5–8 month, 0–4 day.
    pub fn date(self) -> u16 {
        self.date
    }

    /// The `time` field: bits 11–15 hour, 5–10 minute, 0–4 seconds / 2.
    pub fn time(self) -> u16 {
        self.time
    }

    /// The date and time, or `None` if the fields do not name one.
    pub fn to_datetime(self) -> Option<PrimitiveDateTime> {
        let month = time::Month::try_from(((self.date >> 5) & 0x0F) as u8).ok()?;
        let date = time::Date::from_calendar_date(
            1980 + i32::from(self.date >> 9),
            month,
            (self.date & 0x1F) as u8,
        )
        .ok()?;
        let t = time::Time::from_hms(
            (self.time >> 11) as u8,
            ((self.time >> 5) & 0x3F) as u8,
            ((self.time & 0x1F) * 2) as u8,
        )
        .ok()?;
        Some(PrimitiveDateTime::new(date, t))
    }
}

/// The cabinet checksum ([MS-CAB] §2.4, `CFDATA.csum`): the XOR of the
/// input taken as little-endian 32-bit words, starting from `seed`; a
/// trailing partial word is read with its first byte most significant.
///
/// A block's `csum` is `checksum(&[cbData, cbUncomp] as 4 bytes,
/// checksum(ab, 0))`.
///
/// [MS-CAB]: https://learn.microsoft.com/en-us/openspecs/windows_protocols/ms-cab/
pub fn checksum(data: &[u8], seed: u32) -> u32 {
    let mut sum = seed;
    let mut words = data.chunks_exact(8);
    for w in &mut words {
        // Two words at a time: XOR is associative, so fold them together.
        let v = u64::from_le_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]);
        sum ^= (v as u32) ^ ((v >> 32) as u32);
    }
    let mut rest = words.remainder();
    if rest.len() >= 4 {
        sum ^= u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]);
        rest = &rest[4..];
    }
    let tail = rest.iter().fold(0u32, |acc, &b| (acc << 8) | u32::from(b));
    sum ^ tail
}

/// The checksum of a data block with its `cbData` and `cbUncomp` fields.
pub(crate) fn block_checksum(ab: &[u8], cb_data: u16, cb_uncomp: u16) -> u32 {
    let sizes = [cb_data.to_le_bytes(), cb_uncomp.to_le_bytes()].concat();
    checksum(&sizes, checksum(ab, 0))
}

/// Errors of building and reading cabinets. Parse errors carry the byte
/// offset in the cabinet where the fault lies.
#[derive(Clone, Debug, Eq, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum CabError {
    /// A structure starting at `offset` runs past the end of the input.
    #[error("cabinet truncated: a structure at offset {offset} runs past the end")]
    Truncated {
        /// Where the structure that does not fit starts.
        offset: usize,
    },
    /// A structure is malformed.
    #[error("malformed cabinet at offset {offset}: {kind}")]
    Malformed {
        /// What is wrong.
        kind: MalformedKind,
        /// Where.
        offset: usize,
    },
    /// A block's stored checksum differs from that of its contents.
    #[error(
        "checksum mismatch in the data block at offset {offset}: stored {stored:#010x}, computed {computed:#010x}"
    )]
    ChecksumMismatch {
        /// Where the block starts.
        offset: usize,
        /// `CFDATA.csum`.
        stored: u32,
        /// The checksum of the block as read.
        computed: u32,
    },
    /// The cabinet uses a feature this reader does not support.
    #[error("unsupported cabinet feature at offset {offset}: {feature}")]
    Unsupported {
        /// Which one.
        feature: Unsupported,
        /// Where.
        offset: usize,
    },
    /// A limit from [`Limits`] (or of the format) was exceeded.
    #[error("cabinet limit exceeded: {0}")]
    LimitExceeded(Limit),
    /// A file name is empty, holds a NUL or is longer than
    /// [`MAX_NAME_LEN`] bytes.
    #[error("invalid file name for a cabinet (empty, NUL or longer than 255 bytes)")]
    InvalidName,
    /// A modification time outside the years 1980 to 2107.
    #[error("modification time outside the MS-DOS range (1980 to 2107)")]
    DateOutOfRange,
    /// The index passed to [`Cabinet::extract`] names no file.
    #[error("no file with index {0} in the cabinet")]
    NoSuchFile(usize),
}

/// What is wrong in a [`CabError::Malformed`].
#[derive(Clone, Copy, Debug, Eq, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum MalformedKind {
    /// The cabinet does not start with `MSCF`.
    #[error("no MSCF signature")]
    Signature,
    /// `cbCabinet` is smaller than the header or larger than the input.
    #[error("cbCabinet does not match the input")]
    CabinetSize,
    /// `coffFiles` or `coffCabStart` points outside the cabinet.
    #[error("offset outside the cabinet")]
    Offset,
    /// A file name has no terminating NUL within 256 bytes, or is empty.
    #[error("bad file name")]
    Name,
    /// A file names a folder that does not exist.
    #[error("file refers to a missing folder")]
    FolderIndex,
    /// A block's sizes are impossible (uncompressed size 0 or above 32 768,
    /// or stored sizes that differ in an uncompressed folder).
    #[error("bad data block sizes")]
    BlockSize,
    /// An MSZIP block does not start with `CK`.
    #[error("MSZIP block without its CK signature")]
    MsZipSignature,
    /// An MSZIP block's deflate data is corrupt or does not produce
    /// `cbUncomp` bytes.
    #[error("corrupt MSZIP data")]
    Deflate,
    /// A file extends past the end of its folder's data.
    #[error("file extends past its folder's data")]
    FileRange,
}

/// A feature named by [`CabError::Unsupported`].
#[derive(Clone, Copy, Debug, Eq, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Unsupported {
    /// The cabinet is part of a multi-cabinet set.
    #[error("multi-cabinet set")]
    MultiCabinet,
    /// A file continues from or into another cabinet.
    #[error("file split across cabinets")]
    SplitFile,
    /// A compression method other than none and MSZIP (Quantum, LZX).
    #[error("compression type {0}")]
    Compression(u16),
}

/// A bound named by [`CabError::LimitExceeded`].
#[derive(Clone, Copy, Debug, Eq, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Limit {
    /// Total uncompressed size.
    #[error("total uncompressed size")]
    TotalSize,
    /// Number of files.
    #[error("number of files")]
    Files,
    /// Number of folders.
    #[error("number of folders")]
    Folders,
    /// Number of data blocks.
    #[error("number of data blocks")]
    Blocks,
    /// Size of the cabinet itself (`cbCabinet` is 32 bits) or of the
    /// header reserve area.
    #[error("cabinet size")]
    CabinetSize,
}

/// Reads a little-endian `u16` at `at`; the caller has checked the bounds.
pub(crate) fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

/// Reads a little-endian `u32` at `at`; the caller has checked the bounds.
pub(crate) fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Checks a file name for a `CFFILE`; returns whether it needs
/// [`ATTRIB_NAME_IS_UTF`].
pub(crate) fn check_name(name: &str) -> Result<bool, CabError> {
    if name.is_empty() || name.len() > MAX_NAME_LEN || name.contains('\0') {
        return Err(CabError::InvalidName);
    }
    Ok(!name.is_ascii())
}

#[cfg(test)]
mod tests;

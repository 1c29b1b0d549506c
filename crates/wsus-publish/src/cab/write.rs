//! The cabinet writer: one folder, MSZIP or stored blocks.

use std::borrow::Cow;

use flate2::{Compress, FlushCompress, Status};
use time::PrimitiveDateTime;

use super::{
    ATTRIB_ARCHIVE, ATTRIB_NAME_IS_UTF, CabError, Compression, DosDateTime, FLAG_RESERVE_PRESENT,
    HEADER_SIZE, Limit, Limits, MAX_BLOCK_SIZE, MAX_CABINET_SIZE, block_checksum, check_name,
};

/// Size of a `CFDATA` header without reserve: `csum`, `cbData`, `cbUncomp`.
const DATA_HEADER_SIZE: usize = 8;

/// Builds a cabinet with a single folder holding every file added, in the
/// order they were added.
///
/// The defaults: MSZIP at level 6, no header reserve, [`Limits::default`].
/// For a cabinet that will be signed, [`CabBuilder::authenticode_reserve`]
/// makes room for the signature's header fields, so that signing does not
/// have to move the data (signing works either way).
#[derive(Clone, Debug, Default)]
pub struct CabBuilder<'a> {
    files: Vec<Entry<'a>>,
    total: u64,
    header_reserve: u16,
    compression: Compression,
    limits: Limits,
}

#[derive(Clone, Debug)]
struct Entry<'a> {
    name: String,
    data: Cow<'a, [u8]>,
    modified: DosDateTime,
    attributes: u16,
}

impl<'a> CabBuilder<'a> {
    /// An empty cabinet with the defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the compression of the folder.
    pub fn compression(&mut self, compression: Compression) -> &mut Self {
        self.compression = compression;
        self
    }

    /// Sets the limits checked while files are added.
    pub fn limits(&mut self, limits: Limits) -> &mut Self {
        self.limits = limits;
        self
    }

    /// Reserves `size` bytes in the header (`cbCFHeader`, [MS-CAB] §2.1),
    /// filled with zeros. 0 (the default) writes no reserve fields at all.
    ///
    /// [MS-CAB]: https://learn.microsoft.com/en-us/openspecs/windows_protocols/ms-cab/
    pub fn header_reserve(&mut self, size: u16) -> &mut Self {
        self.header_reserve = size;
        self
    }

    /// Reserves the 20 header bytes that an Authenticode signature uses
    /// (see [`crate::authenticode`]), with the reserve's marker in place and
    /// no signature yet.
    pub fn authenticode_reserve(&mut self) -> &mut Self {
        self.header_reserve(crate::authenticode::CAB_RESERVE_SIZE)
    }

    /// Adds a file named `name` (stored as given; use `\` between path
    /// components) holding `data`, last modified at `modified` (local time,
    /// as cabinets keep it). A name that is not ASCII is stored as UTF-8
    /// with [`ATTRIB_NAME_IS_UTF`](super::ATTRIB_NAME_IS_UTF).
    pub fn add_file(
        &mut self,
        name: &str,
        data: impl Into<Cow<'a, [u8]>>,
        modified: PrimitiveDateTime,
    ) -> Result<&mut Self, CabError> {
        let utf = check_name(name)?;
        let modified = DosDateTime::new(modified).ok_or(CabError::DateOutOfRange)?;
        let data = data.into();
        if self.files.len() >= self.limits.max_files.min(0xFFFF) {
            return Err(CabError::LimitExceeded(Limit::Files));
        }
        let total = self.total + data.len() as u64;
        if total > self.limits.max_total_size.min(MAX_CABINET_SIZE) {
            return Err(CabError::LimitExceeded(Limit::TotalSize));
        }
        self.total = total;
        let mut attributes = ATTRIB_ARCHIVE;
        if utf {
            attributes |= ATTRIB_NAME_IS_UTF;
        }
        self.files.push(Entry {
            name: name.to_owned(),
            data,
            modified,
            attributes,
        });
        Ok(self)
    }

    /// Writes the cabinet.
    pub fn build(&self) -> Result<Vec<u8>, CabError> {
        let mut out = Vec::new();
        self.write_to(&mut out)?;
        Ok(out)
    }

    /// Appends the cabinet to `out`.
    pub fn write_to(&self, out: &mut Vec<u8>) -> Result<(), CabError> {
        let base = out.len();
        let blocks = self.total.div_ceil(MAX_BLOCK_SIZE as u64);
        if blocks > self.limits.max_blocks as u64 || blocks > u64::from(u16::MAX) {
            return Err(CabError::LimitExceeded(Limit::Blocks));
        }
        let reserve_fields = if self.header_reserve > 0 { 4 } else { 0 };
        let header_len = HEADER_SIZE + reserve_fields + usize::from(self.header_reserve);
        let folder_len = 8;
        let files_len: usize = self.files.iter().map(|f| 16 + f.name.len() + 1).sum();
        let coff_files = header_len + folder_len;
        let coff_cab_start = coff_files + files_len;
        out.reserve(coff_cab_start + self.estimate_data_len(blocks));

        // CFHEADER (§2.1); cbCabinet is filled in at the end.
        out.extend_from_slice(b"MSCF");
        out.extend_from_slice(&0u32.to_le_bytes()); // reserved1
        out.extend_from_slice(&0u32.to_le_bytes()); // cbCabinet
        out.extend_from_slice(&0u32.to_le_bytes()); // reserved2
        out.extend_from_slice(&offset32(coff_files)?.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes()); // reserved3
        out.extend_from_slice(&[3, 1]); // versionMinor, versionMajor
        out.extend_from_slice(&1u16.to_le_bytes()); // cFolders
        out.extend_from_slice(&(self.files.len() as u16).to_le_bytes());
        let flags = if self.header_reserve > 0 {
            FLAG_RESERVE_PRESENT
        } else {
            0
        };
        out.extend_from_slice(&flags.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes()); // setID
        out.extend_from_slice(&0u16.to_le_bytes()); // iCabinet
        if self.header_reserve > 0 {
            out.extend_from_slice(&self.header_reserve.to_le_bytes()); // cbCFHeader
            out.extend_from_slice(&[0, 0]); // cbCFFolder, cbCFData
            let at = out.len();
            out.resize(at + usize::from(self.header_reserve), 0);
            if self.header_reserve == crate::authenticode::CAB_RESERVE_SIZE {
                crate::authenticode::init_reserve(&mut out[at..]);
            }
        }

        // CFFOLDER (§2.2).
        out.extend_from_slice(&offset32(coff_cab_start)?.to_le_bytes());
        out.extend_from_slice(&(blocks as u16).to_le_bytes());
        out.extend_from_slice(&self.compression.type_compress().to_le_bytes());

        // CFFILE (§2.3).
        let mut folder_offset = 0u32;
        for f in &self.files {
            out.extend_from_slice(&(f.data.len() as u32).to_le_bytes());
            out.extend_from_slice(&folder_offset.to_le_bytes());
            out.extend_from_slice(&0u16.to_le_bytes()); // iFolder
            out.extend_from_slice(&f.modified.date().to_le_bytes());
            out.extend_from_slice(&f.modified.time().to_le_bytes());
            out.extend_from_slice(&f.attributes.to_le_bytes());
            out.extend_from_slice(f.name.as_bytes());
            out.push(0);
            // The total was checked against MAX_CABINET_SIZE as files came in.
            folder_offset += f.data.len() as u32;
        }
        debug_assert_eq!(out.len() - base, coff_cab_start);

        // CFDATA (§2.4).
        let mut encoder = BlockEncoder::new(self.compression);
        let mut block = Vec::with_capacity(MAX_BLOCK_SIZE);
        for f in &self.files {
            let mut data: &[u8] = &f.data;
            while !data.is_empty() {
                if block.is_empty() && data.len() >= MAX_BLOCK_SIZE {
                    // A whole block inside one file: no copy.
                    let (whole, rest) = data.split_at(MAX_BLOCK_SIZE);
                    encoder.encode(whole, out);
                    data = rest;
                    continue;
                }
                let take = (MAX_BLOCK_SIZE - block.len()).min(data.len());
                block.extend_from_slice(&data[..take]);
                data = &data[take..];
                if block.len() == MAX_BLOCK_SIZE {
                    encoder.encode(&block, out);
                    block.clear();
                }
            }
        }
        if !block.is_empty() {
            encoder.encode(&block, out);
        }

        let size = out.len() - base;
        if size as u64 > MAX_CABINET_SIZE {
            return Err(CabError::LimitExceeded(Limit::CabinetSize));
        }
        out[base + 8..base + 12].copy_from_slice(&(size as u32).to_le_bytes());
        Ok(())
    }

    /// A first guess at the size of the data blocks, for one allocation.
    fn estimate_data_len(&self, blocks: u64) -> usize {
        let overhead = blocks as usize * (DATA_HEADER_SIZE + 7);
        match self.compression {
            Compression::None => self.total as usize + overhead,
            // XML compresses well; the vector grows if this is short.
            Compression::MsZip(_) => self.total as usize / 4 + overhead,
        }
    }
}

/// A 32-bit offset within a cabinet.
fn offset32(at: usize) -> Result<u32, CabError> {
    u32::try_from(at)
        .ok()
        .filter(|&v| u64::from(v) <= MAX_CABINET_SIZE)
        .ok_or(CabError::LimitExceeded(Limit::CabinetSize))
}

/// Writes `CFDATA` blocks, reusing one deflate state.
struct BlockEncoder {
    deflate: Option<Compress>,
}

impl BlockEncoder {
    fn new(compression: Compression) -> Self {
        let deflate = match compression {
            Compression::None => None,
            Compression::MsZip(level) => {
                Some(Compress::new(flate2::Compression::new(level.min(9)), false))
            }
        };
        Self { deflate }
    }

    /// Appends one block holding `data` (1 to 32 768 bytes).
    fn encode(&mut self, data: &[u8], out: &mut Vec<u8>) {
        let header = out.len();
        out.extend_from_slice(&[0; DATA_HEADER_SIZE]);
        let start = out.len();
        match &mut self.deflate {
            None => out.extend_from_slice(data),
            Some(deflate) => {
                out.extend_from_slice(b"CK");
                // Room for the worst case of a stored encoding and then some,
                // so that compress_vec (which only fills spare capacity) can
                // finish in one call.
                out.reserve(data.len() + data.len() / 8 + 64);
                deflate.reset();
                let before = out.len();
                let finished = matches!(
                    deflate.compress_vec(data, out, FlushCompress::Finish),
                    Ok(Status::StreamEnd)
                );
                if !finished || out.len() - before > data.len() + 5 {
                    // Incompressible (or the compressor gave up): one stored
                    // deflate block (RFC 1951 §3.2.4), BFINAL set.
                    out.truncate(before);
                    let len = data.len() as u16;
                    out.push(0x01);
                    out.extend_from_slice(&len.to_le_bytes());
                    out.extend_from_slice(&(!len).to_le_bytes());
                    out.extend_from_slice(data);
                }
            }
        }
        // Both sizes fit: data is at most 32 768 bytes, and the encoded
        // block at most 32 768 + 7.
        let cb_data = (out.len() - start) as u16;
        let cb_uncomp = data.len() as u16;
        let csum = block_checksum(&out[start..], cb_data, cb_uncomp);
        out[header..header + 4].copy_from_slice(&csum.to_le_bytes());
        out[header + 4..header + 6].copy_from_slice(&cb_data.to_le_bytes());
        out[header + 6..header + 8].copy_from_slice(&cb_uncomp.to_le_bytes());
    }
}

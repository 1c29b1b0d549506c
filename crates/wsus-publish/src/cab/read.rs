//! The cabinet reader: headers are parsed up front, data is decompressed on
//! request.

use flate2::{Decompress, FlushDecompress, Status};

use super::{
    ATTRIB_NAME_IS_UTF, CabError, DosDateTime, FLAG_NEXT_CABINET, FLAG_PREV_CABINET,
    FLAG_RESERVE_PRESENT, HEADER_SIZE, Limit, Limits, MAX_BLOCK_SIZE, MalformedKind, Unsupported,
    block_checksum, u16_at, u32_at,
};

/// A parsed cabinet, borrowing its bytes.
///
/// [`Cabinet::parse`] reads `CFHEADER`, every `CFFOLDER` and every
/// `CFFILE`, checking offsets, counts and [`Limits`]; the data blocks are
/// read, checksummed and decompressed by [`Cabinet::extract`] and
/// [`Cabinet::extract_all`]. Bytes after `cbCabinet` (an Authenticode
/// signature, for instance) are ignored.
#[derive(Clone, Debug)]
pub struct Cabinet<'a> {
    data: &'a [u8],
    header_reserve: &'a [u8],
    data_reserve: usize,
    folders: Vec<Folder>,
    files: Vec<FileEntry>,
    limits: Limits,
}

/// A `CFFOLDER` ([MS-CAB] §2.2).
///
/// [MS-CAB]: https://learn.microsoft.com/en-us/openspecs/windows_protocols/ms-cab/
#[derive(Clone, Copy, Debug)]
struct Folder {
    /// `coffCabStart`: offset of the first `CFDATA`.
    start: usize,
    /// `cCFData`.
    blocks: u16,
    /// `typeCompress` & 0x000F: 0 none, 1 MSZIP.
    mszip: bool,
}

/// A `CFFILE` ([MS-CAB] §2.3): one file of the cabinet.
///
/// [MS-CAB]: https://learn.microsoft.com/en-us/openspecs/windows_protocols/ms-cab/
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct FileEntry {
    name: String,
    size: u32,
    folder: u16,
    folder_offset: u32,
    modified: DosDateTime,
    attributes: u16,
}

impl FileEntry {
    /// `szName`: UTF-8 if [`ATTRIB_NAME_IS_UTF`] is set, otherwise read as
    /// Latin-1.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `cbFile`: the uncompressed size.
    pub fn size(&self) -> u32 {
        self.size
    }

    /// `iFolder`: the folder holding the file.
    pub fn folder(&self) -> u16 {
        self.folder
    }

    /// `uoffFolderStart`: where the file starts in its folder's data.
    pub fn folder_offset(&self) -> u32 {
        self.folder_offset
    }

    /// `date` and `time`.
    pub fn modified(&self) -> DosDateTime {
        self.modified
    }

    /// `attribs`.
    pub fn attributes(&self) -> u16 {
        self.attributes
    }

    fn end(&self) -> u64 {
        u64::from(self.folder_offset) + u64::from(self.size)
    }
}

impl<'a> Cabinet<'a> {
    /// Parses `data` with [`Limits::default`].
    pub fn parse(data: &'a [u8]) -> Result<Self, CabError> {
        Self::parse_with(data, &Limits::default())
    }

    /// Parses `data` within `limits`.
    pub fn parse_with(data: &'a [u8], limits: &Limits) -> Result<Self, CabError> {
        let r = Reader(data);
        r.bytes(0, HEADER_SIZE)?;
        if &data[..4] != b"MSCF" {
            return Err(malformed(MalformedKind::Signature, 0));
        }
        let size = u32_at(data, 8) as usize;
        if size < HEADER_SIZE {
            return Err(malformed(MalformedKind::CabinetSize, 8));
        }
        if size > data.len() {
            return Err(CabError::Truncated { offset: 0 });
        }
        let data = &data[..size];
        let r = Reader(data);
        let coff_files = u32_at(data, 16) as usize;
        let folder_count = usize::from(u16_at(data, 26));
        let file_count = usize::from(u16_at(data, 28));
        let flags = u16_at(data, 30);
        if flags & (FLAG_PREV_CABINET | FLAG_NEXT_CABINET) != 0 {
            return Err(CabError::Unsupported {
                feature: Unsupported::MultiCabinet,
                offset: 30,
            });
        }
        if folder_count > limits.max_folders {
            return Err(CabError::LimitExceeded(Limit::Folders));
        }
        if file_count > limits.max_files {
            return Err(CabError::LimitExceeded(Limit::Files));
        }

        let mut pos = HEADER_SIZE;
        let (mut header_reserve, mut folder_reserve, mut data_reserve) = (&data[..0], 0, 0);
        if flags & FLAG_RESERVE_PRESENT != 0 {
            let fields = r.bytes(pos, 4)?;
            let cb_header = usize::from(u16_at(fields, 0));
            folder_reserve = usize::from(fields[2]);
            data_reserve = usize::from(fields[3]);
            header_reserve = r.bytes(pos + 4, cb_header)?;
            pos += 4 + cb_header;
        }

        let mut folders = Vec::with_capacity(folder_count);
        let mut total_blocks = 0usize;
        for _ in 0..folder_count {
            let f = r.bytes(pos, 8 + folder_reserve)?;
            let start = u32_at(f, 0) as usize;
            let blocks = u16_at(f, 4);
            let compression = u16_at(f, 6) & 0x000F;
            let mszip = match compression {
                0 => false,
                1 => true,
                other => {
                    return Err(CabError::Unsupported {
                        feature: Unsupported::Compression(other),
                        offset: pos + 6,
                    });
                }
            };
            if start > size {
                return Err(malformed(MalformedKind::Offset, pos));
            }
            total_blocks += usize::from(blocks);
            if total_blocks > limits.max_blocks {
                return Err(CabError::LimitExceeded(Limit::Blocks));
            }
            folders.push(Folder {
                start,
                blocks,
                mszip,
            });
            pos += 8 + folder_reserve;
        }

        if coff_files > size {
            return Err(malformed(MalformedKind::Offset, 16));
        }
        let mut pos = coff_files;
        let mut files = Vec::with_capacity(file_count);
        for _ in 0..file_count {
            let f = r.bytes(pos, 16)?;
            let size = u32_at(f, 0);
            let folder_offset = u32_at(f, 4);
            let folder = u16_at(f, 8);
            let modified = DosDateTime::from_raw(u16_at(f, 10), u16_at(f, 12));
            let attributes = u16_at(f, 14);
            if folder >= 0xFFFD {
                return Err(CabError::Unsupported {
                    feature: Unsupported::SplitFile,
                    offset: pos + 8,
                });
            }
            if usize::from(folder) >= folders.len() {
                return Err(malformed(MalformedKind::FolderIndex, pos + 8));
            }
            let name_at = pos + 16;
            let tail = data.get(name_at..).unwrap_or_default();
            let window = &tail[..tail.len().min(257)];
            let Some(len) = window.iter().position(|&b| b == 0) else {
                return Err(if window.len() < 257 {
                    CabError::Truncated { offset: name_at }
                } else {
                    malformed(MalformedKind::Name, name_at)
                });
            };
            if len == 0 {
                return Err(malformed(MalformedKind::Name, name_at));
            }
            let raw = &window[..len];
            let name = if attributes & ATTRIB_NAME_IS_UTF != 0 {
                std::str::from_utf8(raw)
                    .map_err(|_| malformed(MalformedKind::Name, name_at))?
                    .to_owned()
            } else {
                raw.iter().map(|&b| char::from(b)).collect()
            };
            let entry = FileEntry {
                name,
                size,
                folder,
                folder_offset,
                modified,
                attributes,
            };
            if entry.end() > limits.max_total_size {
                return Err(CabError::LimitExceeded(Limit::TotalSize));
            }
            files.push(entry);
            pos = name_at + len + 1;
        }

        Ok(Self {
            data,
            header_reserve,
            data_reserve,
            folders,
            files,
            limits: limits.clone(),
        })
    }

    /// The files, in the order of their `CFFILE` entries.
    pub fn files(&self) -> &[FileEntry] {
        &self.files
    }

    /// The header reserve area (`abReserve`), empty if there is none.
    pub fn header_reserve(&self) -> &'a [u8] {
        self.header_reserve
    }

    /// `cbCabinet`: the size of the cabinet proper.
    pub fn size(&self) -> usize {
        self.data.len()
    }

    /// Number of folders.
    pub fn folder_count(&self) -> usize {
        self.folders.len()
    }

    /// The contents of file number `index`.
    pub fn extract(&self, index: usize) -> Result<Vec<u8>, CabError> {
        let file = self.files.get(index).ok_or(CabError::NoSuchFile(index))?;
        let folder = self.decode_folder(usize::from(file.folder), file.end())?;
        Ok(folder[file.folder_offset as usize..file.end() as usize].to_vec())
    }

    /// Every file with its contents, each folder decompressed once. Every
    /// block's checksum (where it is not 0) is checked.
    pub fn extract_all(&self) -> Result<Vec<(&FileEntry, Vec<u8>)>, CabError> {
        let mut folders: Vec<Option<Vec<u8>>> = vec![None; self.folders.len()];
        for (index, slot) in folders.iter_mut().enumerate() {
            let end = self
                .files
                .iter()
                .filter(|f| usize::from(f.folder) == index)
                .map(FileEntry::end)
                .max();
            if let Some(end) = end {
                *slot = Some(self.decode_folder(index, end)?);
            }
        }
        let mut out = Vec::with_capacity(self.files.len());
        let mut total = 0u64;
        for f in &self.files {
            total += u64::from(f.size);
            if total > self.limits.max_total_size {
                return Err(CabError::LimitExceeded(Limit::TotalSize));
            }
            // Every file's folder was decoded above, to past its end.
            let data = folders[usize::from(f.folder)]
                .as_deref()
                .unwrap_or_default();
            let range = f.folder_offset as usize..f.end() as usize;
            out.push((f, data.get(range).unwrap_or_default().to_vec()));
        }
        Ok(out)
    }

    /// Checks every data block of every folder: the checksums, the sizes
    /// and that the blocks decompress. Files are not copied out.
    pub fn verify(&self) -> Result<(), CabError> {
        for index in 0..self.folders.len() {
            self.decode_folder(index, u64::MAX)?;
        }
        Ok(())
    }

    /// Decompresses folder `index` until at least `need` bytes are out (or
    /// its blocks end), then checks that `need` was reached (unless it is
    /// `u64::MAX`, "every block").
    fn decode_folder(&self, index: usize, need: u64) -> Result<Vec<u8>, CabError> {
        let folder = self.folders[index];
        let r = Reader(self.data);
        let mut out: Vec<u8> = Vec::new();
        let mut inflater = folder.mszip.then(|| Decompress::new(false));
        let mut scratch = Vec::new();
        let mut pos = folder.start;
        for _ in 0..folder.blocks {
            if out.len() as u64 >= need {
                break;
            }
            let h = r.bytes(pos, 8)?;
            let stored = u32_at(h, 0);
            let cb_data = u16_at(h, 4);
            let cb_uncomp = u16_at(h, 6);
            let ab_at = pos + 8 + self.data_reserve;
            let ab = r.bytes(ab_at, usize::from(cb_data))?;
            if stored != 0 {
                let computed = block_checksum(ab, cb_data, cb_uncomp);
                if computed != stored {
                    return Err(CabError::ChecksumMismatch {
                        offset: pos,
                        stored,
                        computed,
                    });
                }
            }
            let uncomp = usize::from(cb_uncomp);
            if uncomp == 0 || uncomp > MAX_BLOCK_SIZE {
                return Err(malformed(MalformedKind::BlockSize, pos + 6));
            }
            if (out.len() + uncomp) as u64 > self.limits.max_total_size {
                return Err(CabError::LimitExceeded(Limit::TotalSize));
            }
            match &mut inflater {
                None => {
                    if ab.len() != uncomp {
                        return Err(malformed(MalformedKind::BlockSize, pos + 4));
                    }
                    out.extend_from_slice(ab);
                }
                Some(inflater) => {
                    inflate_block(inflater, &mut scratch, &mut out, ab, uncomp, ab_at)?;
                }
            }
            pos = ab_at + ab.len();
        }
        if need != u64::MAX && (out.len() as u64) < need {
            return Err(malformed(MalformedKind::FileRange, folder.start));
        }
        Ok(out)
    }
}

/// Decodes one MSZIP block `ab` (at offset `at`) that must produce
/// `uncomp` bytes, appending them to `out`.
///
/// An MSZIP block may refer back to the previous 32 KiB of the folder's
/// output. The inflater starts fresh for each block and is primed with that
/// history as a stored deflate block (RFC 1951 §3.2.4, BFINAL clear) placed
/// before the block's own data; its output then starts with the history,
/// which is dropped.
fn inflate_block(
    inflater: &mut Decompress,
    scratch: &mut Vec<u8>,
    out: &mut Vec<u8>,
    ab: &[u8],
    uncomp: usize,
    at: usize,
) -> Result<(), CabError> {
    let Some(deflate) = ab.strip_prefix(b"CK") else {
        return Err(malformed(MalformedKind::MsZipSignature, at));
    };
    let history = &out[out.len().saturating_sub(MAX_BLOCK_SIZE)..];
    scratch.clear();
    if !history.is_empty() {
        let len = history.len() as u16;
        scratch.push(0x00);
        scratch.extend_from_slice(&len.to_le_bytes());
        scratch.extend_from_slice(&(!len).to_le_bytes());
        scratch.extend_from_slice(history);
    }
    let skip = history.len();
    scratch.extend_from_slice(deflate);
    let input_len = scratch.len();

    inflater.reset(false);
    let mut decoded = Vec::with_capacity(skip + uncomp + 1);
    let status =
        inflater.decompress_vec(&scratch[..input_len], &mut decoded, FlushDecompress::Finish);
    match status {
        Ok(Status::StreamEnd) if decoded.len() == skip + uncomp => {}
        _ => return Err(malformed(MalformedKind::Deflate, at)),
    }
    out.extend_from_slice(&decoded[skip..]);
    Ok(())
}

fn malformed(kind: MalformedKind, offset: usize) -> CabError {
    CabError::Malformed { kind, offset }
}

/// Bounds-checked access to the cabinet's bytes.
#[derive(Clone, Copy)]
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    /// `len` bytes at `at`, or [`CabError::Truncated`].
    fn bytes(self, at: usize, len: usize) -> Result<&'a [u8], CabError> {
        at.checked_add(len)
            .and_then(|end| self.0.get(at..end))
            .ok_or(CabError::Truncated { offset: at })
    }
}

//! The binary encoding, `bplist00`, as Core Foundation defines it in
//! `CFBinaryPList.c` (the layout is described in the comment at the top of
//! that file, in Apple's open-source CF-Lite releases).
//!
//! ```text
//! HEADER   magic "bplist" + version "00"
//! OBJECTS  one marker byte each, high nibble = type, low nibble = size info
//!   0000 0000  null            0000 1000  false        0000 1001  true
//!   0000 1111  fill            0001 nnnn  int, 2^nnnn big-endian bytes
//!   0010 nnnn  real, 2^nnnn bytes          0011 0011  date, 8-byte float
//!   0100 nnnn  data            0101 nnnn  ASCII string
//!   0110 nnnn  UTF-16BE string (nnnn = count of 16-bit units)
//!   1000 nnnn  UID, nnnn+1 bytes
//!   1010 nnnn  array: nnnn object refs
//!   1101 nnnn  dict: nnnn key refs, then nnnn value refs
//!   count nibble 1111: an int object follows holding the count
//! OFFSETS  for each object, its offset from the start, offset-size bytes
//! TRAILER  32 bytes: 5 unused, 1 sort version, offset size, object-ref size,
//!          number of objects (u64), top object (u64), offset-table offset (u64)
//! ```

pub(crate) mod read;
pub(crate) mod write;

/// Length of the header (`bplist00`).
pub(crate) const HEADER_LEN: usize = 8;
/// Length of the trailer.
pub(crate) const TRAILER_LEN: usize = 32;

/// Object markers (high nibble, or the whole byte for singletons).
pub(crate) mod marker {
    pub(crate) const NULL: u8 = 0x00;
    pub(crate) const FALSE: u8 = 0x08;
    pub(crate) const TRUE: u8 = 0x09;
    pub(crate) const FILL: u8 = 0x0F;
    pub(crate) const INT: u8 = 0x10;
    pub(crate) const REAL: u8 = 0x20;
    pub(crate) const DATE: u8 = 0x33;
    pub(crate) const DATA: u8 = 0x40;
    pub(crate) const ASCII: u8 = 0x50;
    pub(crate) const UTF16: u8 = 0x60;
    pub(crate) const UID: u8 = 0x80;
    pub(crate) const ARRAY: u8 = 0xA0;
    pub(crate) const DICT: u8 = 0xD0;
}

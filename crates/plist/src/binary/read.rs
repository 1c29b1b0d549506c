//! Reading binary property lists.
//!
//! Everything in the trailer is checked before any object is read; every
//! length is checked against the bytes before the offset table before
//! anything is allocated for it. Containers are kept on an explicit stack
//! bounded by [`Limits::max_depth`]; the containers on it are marked, so an
//! object that contains itself is an [`ErrorKind::Cycle`]. Objects shared by
//! several parents are decoded once per use and counted once per use against
//! [`Limits::max_values`] (and their bytes against the payload bound), so a
//! small file cannot expand into an exponentially large tree.

use super::{HEADER_LEN, TRAILER_LEN, marker};
use crate::BINARY_MAGIC;
use crate::error::{Error, ErrorKind, Result};
use crate::limits::Limits;
use crate::value::{Date, Dictionary, Integer, Value};

/// Decodes a binary property list.
pub(crate) fn decode(data: &[u8], limits: &Limits) -> Result<Value> {
    if data.len() > limits.max_input_len {
        return Err(Error::new(ErrorKind::TooLarge, limits.max_input_len));
    }
    let magic_len = data.len().min(HEADER_LEN);
    if data[..magic_len] != BINARY_MAGIC[..magic_len] {
        return Err(Error::new(ErrorKind::Malformed, 0));
    }
    let mut r = Reader::new(data, limits)?;
    r.document()
}

/// The parsed trailer and the state of one decode.
struct Reader<'a> {
    data: &'a [u8],
    /// The offset table's start, which is also the end of the object area.
    table: usize,
    offset_size: usize,
    ref_size: usize,
    num_objects: usize,
    top: usize,
    max_depth: usize,
    max_values: usize,
    max_payload: usize,
    values: usize,
    payload: usize,
    /// Containers on the current path, by object number.
    open: Vec<bool>,
}

/// An object's marker and where its contents start.
struct Header {
    marker: u8,
    /// Offset of the marker byte.
    at: usize,
    /// The count from the low nibble (or the int after it), for sized types.
    count: usize,
    /// Offset just past the marker (and the count int, if any).
    body: usize,
}

/// An open container. Its reference lists were checked to lie in the
/// object area when it was opened.
enum Frame {
    Array {
        obj: usize,
        /// Offset of the first object reference.
        refs: usize,
        count: usize,
        items: Vec<Value>,
    },
    Dict {
        obj: usize,
        /// Offset of the first key reference; the value references follow.
        keys: usize,
        count: usize,
        /// Entries read so far (duplicate keys do not grow `dict`).
        next: usize,
        dict: Dictionary,
        /// The key whose value is being read.
        key: Option<String>,
    },
}

/// What decoding one object gave.
enum Step {
    Done(Value),
    Open(Frame),
}

fn malformed(at: usize) -> Error {
    Error::new(ErrorKind::Malformed, at)
}

/// A big-endian unsigned integer of 1 to 8 bytes.
fn be_uint(b: &[u8]) -> u64 {
    b.iter().fold(0u64, |acc, &x| (acc << 8) | u64::from(x))
}

impl<'a> Reader<'a> {
    /// Reads and checks the trailer.
    fn new(data: &'a [u8], limits: &Limits) -> Result<Self> {
        // The smallest file: header, one one-byte object, a one-byte offset
        // table, the trailer.
        if data.len() < HEADER_LEN + 2 + TRAILER_LEN {
            return Err(Error::new(ErrorKind::UnexpectedEof, data.len()));
        }
        let t_at = data.len() - TRAILER_LEN;
        let t = &data[t_at..];
        let offset_size = usize::from(t[6]);
        let ref_size = usize::from(t[7]);
        let num_objects = be_uint(&t[8..16]);
        let top = be_uint(&t[16..24]);
        let table = be_uint(&t[24..32]);
        if !(1..=8).contains(&offset_size) {
            return Err(malformed(t_at + 6));
        }
        if !matches!(ref_size, 1 | 2 | 4 | 8) {
            return Err(malformed(t_at + 7));
        }
        // The offset table lies after the header and at least one object
        // byte, and ends at the trailer.
        let table_ok = usize::try_from(table)
            .ok()
            .filter(|&t| t > HEADER_LEN && t < t_at)
            .ok_or(malformed(t_at + 24))?;
        let num = usize::try_from(num_objects)
            .ok()
            .filter(|&n| {
                n >= 1
                    && n.checked_mul(offset_size)
                        .is_some_and(|len| len <= t_at - table_ok)
            })
            .ok_or(malformed(t_at + 8))?;
        let top = usize::try_from(top)
            .ok()
            .filter(|&t| t < num)
            .ok_or(malformed(t_at + 16))?;
        // Every object starts in the object area (objects nothing refers to
        // included, as Core Foundation checks them too).
        let entries = &data[table_ok..table_ok + num * offset_size];
        if let Some(i) = entries
            .chunks_exact(offset_size)
            .position(|e| !(HEADER_LEN as u64..table).contains(&be_uint(e)))
        {
            return Err(malformed(table_ok + i * offset_size));
        }
        Ok(Self {
            data,
            table: table_ok,
            offset_size,
            ref_size,
            num_objects: num,
            top,
            max_depth: limits.max_depth,
            max_values: limits.max_values,
            max_payload: limits.max_payload(),
            values: 0,
            payload: 0,
            open: Vec::new(),
        })
    }

    /// The number and offset of object `obj`, cited at `cited_at`. (Every
    /// offset was checked to lie in the object area with the trailer.)
    fn offset_of(&self, obj: u64, cited_at: usize) -> Result<(usize, usize)> {
        let obj = usize::try_from(obj)
            .ok()
            .filter(|&o| o < self.num_objects)
            .ok_or(malformed(cited_at))?;
        let at = self.table + obj * self.offset_size;
        let off = be_uint(&self.data[at..at + self.offset_size]);
        let off = usize::try_from(off).map_err(|_| malformed(at))?;
        Ok((obj, off))
    }

    /// `len` bytes at `at`, all inside the object area.
    fn bytes(&self, at: usize, len: usize) -> Result<&'a [u8]> {
        at.checked_add(len)
            .filter(|&end| end <= self.table)
            .and_then(|end| self.data.get(at..end))
            .ok_or(malformed(at))
    }

    /// Reads the marker at `at` and, for sized types, the count.
    fn header(&self, at: usize) -> Result<Header> {
        let m = self.bytes(at, 1)?[0];
        let sized = matches!(
            m & 0xF0,
            marker::DATA | marker::ASCII | marker::UTF16 | marker::ARRAY | marker::DICT
        );
        if !sized || m & 0x0F != 0x0F {
            return Ok(Header {
                marker: m,
                at,
                count: usize::from(m & 0x0F),
                body: at + 1,
            });
        }
        // The count is an int object of 1, 2, 4 or 8 bytes.
        let im = self.bytes(at + 1, 1)?[0];
        if im & 0xF0 != marker::INT || im & 0x0F > 3 {
            return Err(malformed(at + 1));
        }
        let n = 1usize << (im & 0x0F);
        let raw = be_uint(self.bytes(at + 2, n)?);
        // Eight-byte ints are signed; a count is never negative.
        let count = usize::try_from(raw)
            .ok()
            .filter(|_| n < 8 || raw <= i64::MAX as u64)
            .ok_or(malformed(at + 1))?;
        Ok(Header {
            marker: m,
            at,
            count,
            body: at + 2 + n,
        })
    }

    fn count_value(&mut self, at: usize) -> Result<()> {
        self.values += 1;
        if self.values > self.max_values {
            return Err(Error::new(ErrorKind::TooManyValues, at));
        }
        Ok(())
    }

    fn count_payload(&mut self, len: usize, at: usize) -> Result<()> {
        self.payload = self.payload.saturating_add(len);
        if self.payload > self.max_payload {
            return Err(Error::new(ErrorKind::TooLarge, at));
        }
        Ok(())
    }

    fn document(&mut self) -> Result<Value> {
        let mut stack: Vec<Frame> = Vec::new();
        let mut step = self.object(self.top as u64, self.data.len() - 16, 0)?;
        loop {
            let mut value = match step {
                Step::Done(v) => v,
                Step::Open(frame) => {
                    stack.push(frame);
                    match self.next_in(&mut stack)? {
                        Some(s) => {
                            step = s;
                            continue;
                        }
                        None => {
                            // An empty container closed at once.
                            self.close(&mut stack)
                        }
                    }
                }
            };
            // Deliver `value` to its parent, closing parents that are done.
            loop {
                match stack.last_mut() {
                    None => return Ok(value),
                    Some(Frame::Array { items, .. }) => items.push(value),
                    Some(Frame::Dict { dict, key, .. }) => {
                        dict.insert(key.take().unwrap_or_default(), value);
                    }
                }
                match self.next_in(&mut stack)? {
                    Some(s) => {
                        step = s;
                        break;
                    }
                    None => value = self.close(&mut stack),
                }
            }
        }
    }

    /// Pops the innermost container, which has no items left, and gives its
    /// value.
    fn close(&mut self, stack: &mut Vec<Frame>) -> Value {
        match stack.pop() {
            Some(Frame::Array { obj, items, .. }) => {
                self.open[obj] = false;
                Value::Array(items)
            }
            Some(Frame::Dict { obj, dict, .. }) => {
                self.open[obj] = false;
                Value::Dictionary(dict)
            }
            // Only called with an open container.
            None => Value::Array(Vec::new()),
        }
    }

    /// Starts the next item of the innermost container, or `None` if it has
    /// none left.
    fn next_in(&mut self, stack: &mut [Frame]) -> Result<Option<Step>> {
        let depth = stack.len();
        let (obj_ref, cited_at) = match stack.last_mut() {
            Some(Frame::Array {
                refs, count, items, ..
            }) => {
                let i = items.len();
                if i == *count {
                    return Ok(None);
                }
                let at = *refs + i * self.ref_size;
                (self.ref_at(at), at)
            }
            Some(Frame::Dict {
                keys,
                count,
                next,
                key,
                ..
            }) => {
                let i = *next;
                if i == *count {
                    return Ok(None);
                }
                *next += 1;
                let k_at = *keys + i * self.ref_size;
                *key = Some(self.key(self.ref_at(k_at), k_at)?);
                let v_at = k_at + *count * self.ref_size;
                (self.ref_at(v_at), v_at)
            }
            None => return Ok(None),
        };
        self.object(obj_ref, cited_at, depth).map(Some)
    }

    /// The object reference at `at`, inside a reference list checked when
    /// its container was opened.
    fn ref_at(&self, at: usize) -> u64 {
        self.data
            .get(at..at + self.ref_size)
            .map_or(u64::MAX, be_uint)
    }

    /// Reads a dictionary key: it must be a string.
    fn key(&mut self, obj: u64, cited_at: usize) -> Result<String> {
        let (_, off) = self.offset_of(obj, cited_at)?;
        let h = self.header(off)?;
        match h.marker & 0xF0 {
            marker::ASCII | marker::UTF16 => self.string(&h),
            _ => Err(malformed(off)),
        }
    }

    fn string(&mut self, h: &Header) -> Result<String> {
        if h.marker & 0xF0 == marker::ASCII {
            let b = self.bytes(h.body, h.count)?;
            self.count_payload(b.len(), h.at)?;
            if !b.is_ascii() {
                return Err(malformed(h.at));
            }
            std::str::from_utf8(b)
                .map(str::to_owned)
                .map_err(|_| malformed(h.at))
        } else {
            let len = h.count.checked_mul(2).ok_or(malformed(h.at))?;
            let b = self.bytes(h.body, len)?;
            self.count_payload(len, h.at)?;
            let units = b.chunks_exact(2).map(|u| u16::from_be_bytes([u[0], u[1]]));
            let mut s = String::with_capacity(len);
            for c in char::decode_utf16(units) {
                s.push(c.map_err(|_| malformed(h.at))?);
            }
            Ok(s)
        }
    }

    /// Decodes object `obj` (cited at `cited_at`) at container depth
    /// `depth`: a finished value, or a container to fill.
    fn object(&mut self, obj: u64, cited_at: usize, depth: usize) -> Result<Step> {
        let (obj, off) = self.offset_of(obj, cited_at)?;
        let h = self.header(off)?;
        self.count_value(off)?;
        let m = h.marker;
        let v = match m & 0xF0 {
            0x00 => match m {
                marker::FALSE => Value::Boolean(false),
                marker::TRUE => Value::Boolean(true),
                // Null and fill have no plist value.
                marker::NULL | marker::FILL => return Err(malformed(off)),
                _ => return Err(malformed(off)),
            },
            marker::INT => Value::Integer(self.int(&h)?),
            marker::REAL => {
                let r = match m & 0x0F {
                    2 => f64::from(f32::from_be_bytes(self.array::<4>(h.body)?)),
                    3 => f64::from_be_bytes(self.array::<8>(h.body)?),
                    _ => return Err(malformed(off)),
                };
                Value::Real(r)
            }
            0x30 if m == marker::DATE => {
                let secs = f64::from_be_bytes(self.array::<8>(h.body)?);
                Value::Date(Date::from_seconds_since_2001(secs).ok_or(malformed(off))?)
            }
            marker::DATA => {
                let b = self.bytes(h.body, h.count)?;
                self.count_payload(b.len(), off)?;
                Value::Data(b.to_vec())
            }
            marker::ASCII | marker::UTF16 => Value::String(self.string(&h)?),
            marker::UID => {
                let b = self.bytes(h.body, usize::from(m & 0x0F) + 1)?;
                let (high, low) = b.split_at(b.len().saturating_sub(8));
                if high.iter().any(|&x| x != 0) {
                    return Err(malformed(off));
                }
                Value::Uid(be_uint(low))
            }
            marker::ARRAY | marker::DICT => {
                if depth >= self.max_depth {
                    return Err(Error::new(ErrorKind::TooDeep, off));
                }
                if self.open.is_empty() {
                    self.open = vec![false; self.num_objects];
                }
                if self.open[obj] {
                    return Err(Error::new(ErrorKind::Cycle, cited_at));
                }
                let list = h.count.checked_mul(self.ref_size).ok_or(malformed(off))?;
                let room = self.max_values - self.values;
                let frame = if m & 0xF0 == marker::ARRAY {
                    self.bytes(h.body, list)?;
                    Frame::Array {
                        obj,
                        refs: h.body,
                        count: h.count,
                        items: Vec::with_capacity(h.count.min(room)),
                    }
                } else {
                    self.bytes(h.body, list.checked_mul(2).ok_or(malformed(off))?)?;
                    Frame::Dict {
                        obj,
                        keys: h.body,
                        count: h.count,
                        next: 0,
                        dict: Dictionary::with_capacity(h.count.min(room)),
                        key: None,
                    }
                };
                self.open[obj] = true;
                return Ok(Step::Open(frame));
            }
            _ => return Err(malformed(off)),
        };
        Ok(Step::Done(v))
    }

    fn array<const N: usize>(&self, at: usize) -> Result<[u8; N]> {
        let b = self.bytes(at, N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(b);
        Ok(a)
    }

    /// An int object: 1, 2 and 4 bytes unsigned, 8 bytes signed, 16 bytes
    /// signed (how values above `i64::MAX` are stored).
    fn int(&self, h: &Header) -> Result<Integer> {
        let v = match h.marker & 0x0F {
            0 => i128::from(self.array::<1>(h.body)?[0]),
            1 => i128::from(u16::from_be_bytes(self.array::<2>(h.body)?)),
            2 => i128::from(u32::from_be_bytes(self.array::<4>(h.body)?)),
            3 => i128::from(i64::from_be_bytes(self.array::<8>(h.body)?)),
            4 => i128::from_be_bytes(self.array::<16>(h.body)?),
            _ => return Err(malformed(h.at)),
        };
        Integer::new(v).ok_or(malformed(h.at))
    }
}

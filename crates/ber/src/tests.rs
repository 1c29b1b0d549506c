use std::borrow::Cow;

use proptest::prelude::*;

use super::*;

fn der(input: &[u8]) -> Vec<u8> {
    to_der(input).unwrap().into_owned()
}

fn limits(depth: usize, elements: usize) -> Limits {
    let mut l = Limits::default();
    l.max_depth(depth).max_elements(elements);
    l
}

#[test]
fn der_input_is_borrowed() {
    let input = [0x30, 0x06, 0x02, 0x01, 0x01, 0x04, 0x01, 0xAA];
    assert!(matches!(to_der(&input), Ok(Cow::Borrowed(_))));
    // A non-canonical SET OF is still "DER" here: it is not re-sorted.
    let set = [0x31, 0x06, 0x02, 0x01, 0x09, 0x02, 0x01, 0x01];
    assert!(matches!(to_der(&set), Ok(Cow::Borrowed(_))));
}

#[test]
fn indefinite_lengths_become_definite() {
    let input = [
        0x30, 0x80, 0x02, 0x01, 0x01, 0xA0, 0x80, 0x05, 0x00, 0, 0, 0, 0,
    ];
    assert_eq!(
        der(&input),
        [0x30, 0x07, 0x02, 0x01, 0x01, 0xA0, 0x02, 0x05, 0x00]
    );
}

#[test]
fn padded_lengths_become_shortest() {
    let input = [0x30, 0x82, 0x00, 0x04, 0x04, 0x81, 0x01, 0xAA];
    assert_eq!(der(&input), [0x30, 0x03, 0x04, 0x01, 0xAA]);
    let input = [0x30, 0x81, 0x03, 0x02, 0x01, 0x05];
    assert_eq!(der(&input), [0x30, 0x03, 0x02, 0x01, 0x05]);
}

#[test]
fn nested_constructed_octet_strings_flatten() {
    let input = [
        0x24, 0x80, 0x04, 0x01, 1, 0x24, 0x06, 0x04, 0x01, 2, 0x04, 0x01, 3, 0x04, 0x00, 0, 0,
    ];
    assert_eq!(der(&input), [0x04, 0x03, 1, 2, 3]);
    let input = [
        0x30, 0x80, 0xA0, 0x80, 0x24, 0x80, 0x04, 0x01, 1, 0x04, 0x01, 2, 0, 0, 0, 0, 0, 0,
    ];
    assert_eq!(der(&input), [0x30, 0x06, 0xA0, 0x04, 0x04, 0x02, 1, 2]);
}

#[test]
fn bit_string_segments() {
    let input = [
        0x23, 0x80, 0x03, 0x02, 0x00, 0xAA, 0x03, 0x02, 0x04, 0xB0, 0, 0,
    ];
    assert_eq!(der(&input), [0x03, 0x03, 0x04, 0xAA, 0xB0]);
    // An empty constructed BIT STRING is the empty BIT STRING.
    assert_eq!(der(&[0x23, 0x00]), [0x03, 0x01, 0x00]);
    // Unused bits before the last segment, more than 7, or without bits.
    for bad in [
        &[0x23, 0x08, 0x03, 0x02, 0x04, 0xA0, 0x03, 0x02, 0x00, 0xB0][..],
        &[0x23, 0x04, 0x03, 0x02, 0x08, 0xA0][..],
        &[0x23, 0x03, 0x03, 0x01, 0x01][..],
        &[0x23, 0x02, 0x03, 0x00][..],
    ] {
        assert_eq!(
            to_der(bad).unwrap_err().kind,
            ErrorKind::BadBitString,
            "{bad:02x?}"
        );
    }
}

#[test]
fn character_strings_flatten() {
    // UTF8String, constructed, "ab" + "c".
    let input = [0x2C, 0x80, 0x0C, 0x02, b'a', b'b', 0x0C, 0x01, b'c', 0, 0];
    assert_eq!(der(&input), [0x0C, 0x03, b'a', b'b', b'c']);
    // BMPString in a SET, definite lengths.
    let input = [0x31, 0x08, 0x3E, 0x06, 0x1E, 0x04, 0, b'h', 0, b'i'];
    assert_eq!(der(&input), [0x31, 0x06, 0x1E, 0x04, 0, b'h', 0, b'i']);
}

#[test]
fn other_constructed_elements_are_kept() {
    // Context-specific and application tags stay constructed.
    let input = [0xA4, 0x80, 0x04, 0x01, 1, 0, 0];
    assert_eq!(der(&input), [0xA4, 0x03, 0x04, 0x01, 1]);
    let input = [0x64, 0x80, 0x04, 0x01, 1, 0, 0];
    assert_eq!(der(&input), [0x64, 0x03, 0x04, 0x01, 1]);
}

#[test]
fn long_contents_get_long_lengths() {
    let mut input = vec![0x24, 0x80];
    for _ in 0..3 {
        input.extend_from_slice(&[0x04, 0x64]);
        input.extend_from_slice(&[7u8; 100]);
    }
    input.extend_from_slice(&[0, 0]);
    let out = der(&input);
    assert_eq!(&out[..4], &[0x04, 0x82, 0x01, 0x2C]);
    assert_eq!(out.len(), 4 + 300);
}

#[test]
fn high_tag_numbers_are_copied() {
    let input = [0xBF, 0x81, 0x00, 0x80, 0x05, 0x00, 0, 0];
    assert_eq!(der(&input), [0xBF, 0x81, 0x00, 0x02, 0x05, 0x00]);
}

#[test]
fn errors_carry_kind_and_offset() {
    let cases: &[(&[u8], ErrorKind, usize)] = &[
        (&[], ErrorKind::Empty, 0),
        (&[0x30], ErrorKind::Truncated, 1),
        (&[0x30, 0x03, 0x02, 0x01], ErrorKind::Truncated, 0),
        (&[0x02, 0x01, 0x00, 0x00], ErrorKind::TrailingData, 3),
        (&[0x05, 0x00, 0x05], ErrorKind::TrailingData, 2),
        (&[0x04, 0x80, 0, 0], ErrorKind::IndefinitePrimitive, 0),
        (&[0x30, 0x80, 0x05, 0x00], ErrorKind::Truncated, 4),
        (
            &[0x30, 0x02, 0x00, 0x00],
            ErrorKind::UnexpectedEndOfContents,
            2,
        ),
        (
            &[0x30, 0x80, 0x00, 0x01, 0x00],
            ErrorKind::UnexpectedEndOfContents,
            2,
        ),
        (
            &[0x24, 0x03, 0x02, 0x01, 0x00],
            ErrorKind::BadStringSegment,
            2,
        ),
        (
            &[0x24, 0x80, 0x03, 0x01, 0x00, 0, 0],
            ErrorKind::BadStringSegment,
            2,
        ),
        (
            &[0x24, 0x80, 0x04, 0x80, 0, 0],
            ErrorKind::IndefinitePrimitive,
            2,
        ),
        (&[0x24, 0x04, 0x04, 0x03, 1, 2], ErrorKind::Truncated, 2),
        (&[0x04, 0xFF], ErrorKind::BadLength, 1),
        (&[0x04, 0x85, 1, 1, 1, 1, 1], ErrorKind::BadLength, 1),
        (
            &[0x1F, 0x81, 0x81, 0x81, 0x81, 0x01, 0x00],
            ErrorKind::TagTooLong,
            0,
        ),
    ];
    for (input, kind, offset) in cases {
        let e = to_der(input).unwrap_err();
        assert_eq!((e.kind, e.offset), (*kind, *offset), "input {input:02x?}");
    }
    assert_eq!(
        Error::new(ErrorKind::Truncated, 7).to_string(),
        "input ends inside an element at byte 7"
    );
}

#[test]
fn depth_is_bounded() {
    let nest = |open: [u8; 2], levels: usize| {
        let mut input = Vec::new();
        for _ in 0..levels {
            input.extend_from_slice(&open);
        }
        for _ in 0..levels {
            input.extend_from_slice(&[0, 0]);
        }
        input
    };
    let d = Limits::DEFAULT_MAX_DEPTH;
    assert!(to_der(&nest([0x30, 0x80], d + 1)).is_ok());
    assert_eq!(
        to_der(&nest([0x30, 0x80], d + 2)).unwrap_err().kind,
        ErrorKind::TooDeep
    );
    assert_eq!(
        to_der(&nest([0x24, 0x80], d + 2)).unwrap_err().kind,
        ErrorKind::TooDeep
    );
    let l = limits(3, 1000);
    assert!(to_der_with(&nest([0x30, 0x80], 4), &l).is_ok());
    assert_eq!(
        to_der_with(&nest([0x30, 0x80], 5), &l).unwrap_err().kind,
        ErrorKind::TooDeep
    );
}

#[test]
fn element_count_is_bounded() {
    let mut input = vec![0x30, 0x80];
    for _ in 0..Limits::DEFAULT_MAX_ELEMENTS {
        input.extend_from_slice(&[0x05, 0x00]);
    }
    input.extend_from_slice(&[0, 0]);
    assert_eq!(to_der(&input).unwrap_err().kind, ErrorKind::TooManyElements);
    // DER input is bounded too.
    let der = [0x30, 0x06, 0x05, 0x00, 0x05, 0x00, 0x05, 0x00];
    assert!(to_der_with(&der, &limits(8, 4)).is_ok());
    assert_eq!(
        to_der_with(&der, &limits(8, 3)).unwrap_err(),
        Error::new(ErrorKind::TooManyElements, 6)
    );
}

#[test]
fn lengths() {
    for (len, enc) in [
        (0usize, &[0x00][..]),
        (0x7F, &[0x7F]),
        (0x80, &[0x81, 0x80]),
        (0xFF, &[0x81, 0xFF]),
        (0x100, &[0x82, 0x01, 0x00]),
        (0xFF_FFFF, &[0x83, 0xFF, 0xFF, 0xFF]),
        (0x100_0000, &[0x84, 0x01, 0x00, 0x00, 0x00]),
    ] {
        let mut out = Vec::new();
        push_length(&mut out, len);
        assert_eq!(out, enc, "{len}");
        assert_eq!(reader::length_len(len), enc.len(), "{len}");
    }
}

#[test]
fn reader_walks_with_offsets() {
    let doc = [0x30, 0x06, 0x02, 0x01, 0x05, 0x04, 0x01, 0xAA];
    let mut top = Reader::new(&doc);
    let seq = top.read().unwrap();
    assert!(top.is_empty());
    assert_eq!(top.peek_tag(), None);
    let mut inner = top.enter(&seq);
    assert_eq!(inner.peek_tag(), Some(0x02));
    let int = inner.read().unwrap();
    assert_eq!((int.offset, int.value), (2, &[5u8][..]));
    let oct = inner.read().unwrap();
    assert_eq!((oct.offset, oct.raw), (5, &[0x04, 0x01, 0xAA][..]));
    assert_eq!(oct.value_offset(), 7);
    assert!(inner.is_empty());
    assert_eq!(inner.read().unwrap_err().kind, ErrorKind::Truncated);

    // A child that runs past its parent's end.
    let doc = [0x30, 0x02, 0x04, 0x02, 0xAA, 0xBB];
    let mut top = Reader::new(&doc);
    let seq = top.read().unwrap();
    assert_eq!(seq.raw, [0x30, 0x02, 0x04, 0x02]);
    assert_eq!(
        top.enter(&seq).read().unwrap_err(),
        Error::new(ErrorKind::Truncated, 2)
    );
    assert_eq!(top.peek_tag(), Some(0xAA));
    let mut top = Reader::new(&doc[..3]);
    assert!(top.read().is_err());
    // Indefinite lengths are refused.
    let mut r = Reader::new(&[0x30, 0x80, 0, 0]);
    assert_eq!(r.read().unwrap_err().kind, ErrorKind::IndefiniteLength);
}

fn pick(style: &mut impl Iterator<Item = u8>) -> u8 {
    style.next().unwrap_or(0)
}

/// A DER value, for the property tests.
#[derive(Clone, Debug)]
enum Value {
    Octets(Vec<u8>),
    Utf8(String),
    Bits(u8, Vec<u8>),
    Int(u64),
    Null,
    Seq(Vec<Self>),
    Set(Vec<Self>),
    Ctx(u8, Vec<Self>),
}

fn arb_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..300).prop_map(Value::Octets),
        "[a-z\u{e9}\u{4e2d}]{0,20}".prop_map(Value::Utf8),
        (0u8..8, proptest::collection::vec(any::<u8>(), 1..20))
            .prop_map(|(u, b)| Value::Bits(u, b)),
        Just(Value::Bits(0, Vec::new())),
        any::<u64>().prop_map(Value::Int),
        Just(Value::Null),
    ];
    leaf.prop_recursive(5, 48, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Seq),
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Set),
            (0u8..31, proptest::collection::vec(inner, 0..3)).prop_map(|(n, v)| Value::Ctx(n, v)),
        ]
    })
}

impl Value {
    /// The DER encoding.
    fn der(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match self {
            Self::Octets(v) => push_tlv(&mut out, 0x04, v),
            Self::Utf8(s) => push_tlv(&mut out, 0x0C, s.as_bytes()),
            Self::Bits(u, b) => {
                let mut v = vec![*u];
                v.extend_from_slice(b);
                push_tlv(&mut out, 0x03, &v);
            }
            Self::Int(i) => {
                let bytes = i.to_be_bytes();
                let skip = bytes.iter().take_while(|b| **b == 0).count().min(7);
                let mut v = Vec::new();
                if bytes[skip] & 0x80 != 0 {
                    v.push(0);
                }
                v.extend_from_slice(&bytes[skip..]);
                push_tlv(&mut out, 0x02, &v);
            }
            Self::Null => push_tlv(&mut out, 0x05, &[]),
            Self::Seq(items) | Self::Set(items) | Self::Ctx(_, items) => {
                let inner: Vec<u8> = items.iter().flat_map(Self::der).collect();
                push_tlv(&mut out, self.constructed_tag(), &inner);
            }
        }
        out
    }

    fn constructed_tag(&self) -> u8 {
        match self {
            Self::Seq(_) => 0x30,
            Self::Set(_) => 0x31,
            Self::Ctx(n, _) => 0xA0 | n,
            _ => 0,
        }
    }

    /// A BER encoding, with choices drawn from `style`: indefinite or padded
    /// lengths, strings cut into segments of `chunk` bytes.
    fn ber(&self, style: &mut impl Iterator<Item = u8>, chunk: usize) -> Vec<u8> {
        let mut out = Vec::new();
        let head = |out: &mut Vec<u8>, tag: u8, len: usize, choice: u8| {
            out.push(tag);
            if choice % 3 == 1 {
                // Padded long form.
                out.push(0x84);
                out.extend_from_slice(&(len as u32).to_be_bytes());
            } else {
                push_length(out, len);
            }
        };
        let string = |tag: u8, data: &[u8], choice: u8, chunk: usize| -> Vec<u8> {
            let mut out = Vec::new();
            if choice.is_multiple_of(2) {
                push_tlv(&mut out, tag, data);
                return out;
            }
            out.extend_from_slice(&[tag | 0x20, 0x80]);
            for c in data.chunks(chunk) {
                push_tlv(&mut out, tag, c);
            }
            out.extend_from_slice(&[0, 0]);
            out
        };
        match self {
            Self::Octets(v) => out = string(0x04, v, pick(style), chunk),
            Self::Utf8(s) => out = string(0x0C, s.as_bytes(), pick(style), chunk),
            Self::Bits(u, b) if pick(style) % 2 == 1 => {
                out.extend_from_slice(&[0x23, 0x80]);
                let pieces: Vec<&[u8]> = b.chunks(chunk).collect();
                for (i, c) in pieces.iter().enumerate() {
                    let unused = if i + 1 == pieces.len() { *u } else { 0 };
                    let mut v = vec![unused];
                    v.extend_from_slice(c);
                    push_tlv(&mut out, 0x03, &v);
                }
                out.extend_from_slice(&[0, 0]);
            }
            Self::Seq(items) | Self::Set(items) | Self::Ctx(_, items) => {
                let choice = pick(style);
                let mut inner = Vec::new();
                for item in items {
                    inner.extend(item.ber(style, chunk));
                }
                if choice.is_multiple_of(3) {
                    out.extend_from_slice(&[self.constructed_tag(), 0x80]);
                    out.extend(inner);
                    out.extend_from_slice(&[0, 0]);
                } else {
                    head(&mut out, self.constructed_tag(), inner.len(), choice);
                    out.extend(inner);
                }
            }
            other => {
                let der = other.der();
                if pick(style) % 3 == 1 {
                    // Re-encode with a padded length.
                    let r = Reader::new(&der).read().unwrap();
                    head(&mut out, r.tag, r.value.len(), 1);
                    out.extend_from_slice(r.value);
                } else {
                    out = der;
                }
            }
        }
        out
    }
}

proptest! {
    #[test]
    fn der_is_returned_borrowed(value in arb_value()) {
        let der = value.der();
        prop_assert!(matches!(to_der(&der), Ok(Cow::Borrowed(_))));
    }

    #[test]
    fn ber_normalises_to_the_der_of_the_same_value(
        value in arb_value(),
        style in proptest::collection::vec(any::<u8>(), 0..64),
        chunk in 1usize..9,
    ) {
        let der = value.der();
        let ber = value.ber(&mut style.into_iter().cycle(), chunk);
        let out = to_der(&ber).unwrap();
        prop_assert_eq!(&*out, &der[..]);
        // Whatever comes out is a fixed point.
        prop_assert!(matches!(to_der(&out), Ok(Cow::Borrowed(_))));
    }

    #[test]
    fn arbitrary_input_never_panics(data in proptest::collection::vec(any::<u8>(), 0..256)) {
        if let Ok(out) = to_der(&data) {
            prop_assert!(matches!(to_der(&out), Ok(Cow::Borrowed(_))));
        }
    }

    #[test]
    fn ber_shaped_input_never_panics(
        data in proptest::collection::vec(
            prop_oneof![Just(0x30u8), Just(0x80), Just(0x24), Just(0x23), Just(0x04),
                        Just(0x03), Just(0x00), Just(0x01), Just(0x02), any::<u8>()],
            0..200,
        ),
    ) {
        if let Ok(out) = to_der_with(&data, &limits(8, 200)) {
            prop_assert!(matches!(to_der(&out), Ok(Cow::Borrowed(_))));
        }
    }
}

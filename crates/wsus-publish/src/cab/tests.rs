use flate2::{Compress, FlushCompress};
use proptest::prelude::*;
use time::macros::datetime;

use super::*;

const WHEN: PrimitiveDateTime = datetime!(2024-02-29 13:37:42);

fn build(files: &[(&str, &[u8])], compression: Compression) -> Vec<u8> {
    let mut b = CabBuilder::new();
    b.compression(compression);
    for (name, data) in files {
        b.add_file(name, *data, WHEN).unwrap();
    }
    b.build().unwrap()
}

#[test]
fn checksum_known_values() {
    assert_eq!(checksum(&[], 0), 0);
    assert_eq!(checksum(&[], 0x1234_5678), 0x1234_5678);
    // Whole words are little-endian.
    assert_eq!(checksum(&[1, 2, 3, 4], 0), 0x0403_0201);
    assert_eq!(checksum(&[1, 2, 3, 4, 1, 2, 3, 4], 0), 0);
    // A partial word is read with its first byte most significant.
    assert_eq!(checksum(&[0xAA], 0), 0xAA);
    assert_eq!(checksum(&[0xAA, 0xBB], 0), 0xAABB);
    assert_eq!(checksum(&[0xAA, 0xBB, 0xCC], 0), 0x00AA_BBCC);
    assert_eq!(
        checksum(&[1, 2, 3, 4, 0xAA, 0xBB, 0xCC], 0),
        0x0403_0201 ^ 0x00AA_BBCC
    );
    assert_eq!(
        checksum(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13], 7),
        7 ^ 0x0403_0201 ^ 0x0807_0605 ^ 0x0c0b_0a09 ^ 13
    );
}

#[test]
fn checksum_matches_a_word_at_a_time() {
    let data: Vec<u8> = (0..1001u32).map(|i| (i * 7 + 3) as u8).collect();
    let mut sum = 0u32;
    let mut words = data.chunks_exact(4);
    for w in &mut words {
        sum ^= u32::from_le_bytes([w[0], w[1], w[2], w[3]]);
    }
    let rest = words.remainder();
    assert_eq!(rest.len(), 1);
    sum ^= u32::from(rest[0]);
    assert_eq!(checksum(&data, 0), sum);
}

#[test]
fn dos_date_time() {
    let d = DosDateTime::new(WHEN).unwrap();
    assert_eq!(d.date(), (44 << 9) | (2 << 5) | 29);
    assert_eq!(d.time(), (13 << 11) | (37 << 5) | 21);
    assert_eq!(d.to_datetime(), Some(WHEN));
    assert_eq!(DosDateTime::new(datetime!(1979-12-31 23:59:59)), None);
    assert_eq!(DosDateTime::new(datetime!(2108-01-01 00:00:00)), None);
    assert!(DosDateTime::new(datetime!(2107-12-31 23:59:58)).is_some());
    assert_eq!(DosDateTime::from_raw(0, 0).to_datetime(), None);
}

#[test]
fn header_fields() {
    let cab = build(
        &[("a.txt", b"hello"), ("dir\\b.txt", b"")],
        Compression::default(),
    );
    assert_eq!(&cab[..4], b"MSCF");
    assert_eq!(u32_at(&cab, 8) as usize, cab.len());
    assert_eq!(u32_at(&cab, 16), 36 + 8);
    assert_eq!(cab[24..26], [3, 1]);
    assert_eq!(u16_at(&cab, 26), 1);
    assert_eq!(u16_at(&cab, 28), 2);
    assert_eq!(u16_at(&cab, 30), 0);
    // CFFOLDER: data right after the two CFFILEs, one block, MSZIP.
    assert_eq!(u32_at(&cab, 36) as usize, 44 + 16 + 6 + 16 + 10);
    assert_eq!(u16_at(&cab, 40), 1);
    assert_eq!(u16_at(&cab, 42), 1);
    let c = Cabinet::parse(&cab).unwrap();
    assert_eq!(c.files()[0].name(), "a.txt");
    assert_eq!(c.files()[0].attributes(), ATTRIB_ARCHIVE);
    assert_eq!(c.files()[1].name(), "dir\\b.txt");
    assert_eq!(c.files()[1].folder_offset(), 5);
    assert_eq!(
        c.files()[1].modified().to_datetime(),
        Some(datetime!(2024-02-29 13:37:42))
    );
    c.verify().unwrap();
}

#[test]
fn reserve_and_utf8_names() {
    let mut b = CabBuilder::new();
    b.header_reserve(20);
    b.add_file("café.xml", b"x".as_slice(), WHEN).unwrap();
    let cab = b.build().unwrap();
    assert_eq!(u16_at(&cab, 30), FLAG_RESERVE_PRESENT);
    assert_eq!(u16_at(&cab, 36), 20);
    let c = Cabinet::parse(&cab).unwrap();
    assert_eq!(c.header_reserve().len(), 20);
    assert_eq!(c.files()[0].name(), "café.xml");
    assert_eq!(
        c.files()[0].attributes(),
        ATTRIB_ARCHIVE | ATTRIB_NAME_IS_UTF
    );
    assert_eq!(c.extract(0).unwrap(), b"x");
}

#[test]
fn blocks_span_files_and_incompressible_data() {
    let big: Vec<u8> = (0..100_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let text = b"<update id='1'/>".repeat(5000);
    for compression in [
        Compression::None,
        Compression::MsZip(0),
        Compression::MsZip(9),
    ] {
        let cab = build(
            &[
                ("small", b"abc"),
                ("big", &big),
                ("empty", b""),
                ("text", &text),
            ],
            compression,
        );
        let c = Cabinet::parse(&cab).unwrap();
        let files = c.extract_all().unwrap();
        assert_eq!(files[0].1, b"abc");
        assert_eq!(files[1].1, big);
        assert!(files[2].1.is_empty());
        assert_eq!(files[3].1, text);
        assert_eq!(c.extract(3).unwrap(), text);
    }
}

#[test]
fn empty_cabinets() {
    let cab = build(&[], Compression::default());
    let c = Cabinet::parse(&cab).unwrap();
    assert!(c.files().is_empty());
    let cab = build(&[("nothing", b"")], Compression::default());
    assert_eq!(u16_at(&cab, 40), 0, "no data blocks");
    let c = Cabinet::parse(&cab).unwrap();
    assert_eq!(c.extract(0).unwrap(), b"");
}

#[test]
fn builder_rejects_bad_input() {
    let mut b = CabBuilder::new();
    assert_eq!(
        b.add_file("", b"".as_slice(), WHEN).unwrap_err(),
        CabError::InvalidName
    );
    assert_eq!(
        b.add_file("a\0b", b"".as_slice(), WHEN).unwrap_err(),
        CabError::InvalidName
    );
    let long = "n".repeat(256);
    assert_eq!(
        b.add_file(&long, b"".as_slice(), WHEN).unwrap_err(),
        CabError::InvalidName
    );
    assert!(b.add_file(&long[..255], b"".as_slice(), WHEN).is_ok());
    assert_eq!(
        b.add_file("old", b"".as_slice(), datetime!(1970-01-01 00:00:00))
            .unwrap_err(),
        CabError::DateOutOfRange
    );
    let mut limits = Limits::default();
    limits.max_total_size(10).max_files(2);
    let mut b = CabBuilder::new();
    b.limits(limits);
    b.add_file("a", vec![0; 10], WHEN).unwrap();
    assert_eq!(
        b.add_file("b", vec![0; 1], WHEN).unwrap_err(),
        CabError::LimitExceeded(Limit::TotalSize)
    );
    b.add_file("b", vec![], WHEN).unwrap();
    assert_eq!(
        b.add_file("c", vec![], WHEN).unwrap_err(),
        CabError::LimitExceeded(Limit::Files)
    );
}

/// An MSZIP block whose deflate data refers back to the previous block's
/// output, as Microsoft's compressor writes them: each block is ended with
/// an empty final stored block after a sync flush.
#[test]
fn mszip_history_across_blocks() {
    let a: Vec<u8> = (0..MAX_BLOCK_SIZE).map(|i| (i % 251) as u8).collect();
    let b = a.clone();
    let mut z = Compress::new(flate2::Compression::best(), false);
    let mut block = |data: &[u8]| {
        let mut out = Vec::with_capacity(70_000);
        out.extend_from_slice(b"CK");
        z.compress_vec(data, &mut out, FlushCompress::Sync).unwrap();
        out.extend_from_slice(&[0x01, 0x00, 0x00, 0xff, 0xff]);
        out
    };
    let (b1, b2) = (block(&a), block(&b));
    assert!(b2.len() < 1000, "the second block refers back to the first");
    let mut cab = build(
        &[("f", &[a.clone(), b.clone()].concat())],
        Compression::default(),
    );
    // Replace the data blocks with the chained ones.
    let start = u32_at(&cab, 36) as usize;
    cab.truncate(start);
    for (blk, len) in [(&b1, a.len()), (&b2, b.len())] {
        let sum = block_checksum(blk, blk.len() as u16, len as u16);
        cab.extend_from_slice(&sum.to_le_bytes());
        cab.extend_from_slice(&(blk.len() as u16).to_le_bytes());
        cab.extend_from_slice(&(len as u16).to_le_bytes());
        cab.extend_from_slice(blk);
    }
    let size = cab.len() as u32;
    cab[8..12].copy_from_slice(&size.to_le_bytes());
    let c = Cabinet::parse(&cab).unwrap();
    assert_eq!(c.extract(0).unwrap(), [a, b].concat());
}

#[test]
fn checksum_mismatch_is_reported() {
    let mut cab = build(&[("f", b"some data")], Compression::default());
    let start = u32_at(&cab, 36) as usize;
    let last = cab.len() - 1;
    cab[last] ^= 0x40;
    let err = Cabinet::parse(&cab).unwrap().extract(0).unwrap_err();
    assert!(
        matches!(err, CabError::ChecksumMismatch { offset, .. } if offset == start),
        "{err:?}"
    );
}

#[test]
fn parse_errors() {
    assert_eq!(
        Cabinet::parse(b"").unwrap_err(),
        CabError::Truncated { offset: 0 }
    );
    let mut not_cab = vec![0u8; 64];
    not_cab[..4].copy_from_slice(b"MSCX");
    assert_eq!(
        Cabinet::parse(&not_cab).unwrap_err(),
        CabError::Malformed {
            kind: MalformedKind::Signature,
            offset: 0
        }
    );
    let cab = build(&[("f", b"data")], Compression::default());
    assert_eq!(
        Cabinet::parse(&cab[..cab.len() - 1]).unwrap_err(),
        CabError::Truncated { offset: 0 }
    );
    let mut bad_folder = cab.clone();
    bad_folder[44 + 8] = 1;
    assert_eq!(
        Cabinet::parse(&bad_folder).unwrap_err(),
        CabError::Malformed {
            kind: MalformedKind::FolderIndex,
            offset: 52
        }
    );
    let mut lzx = cab.clone();
    lzx[42] = 3;
    assert!(matches!(
        Cabinet::parse(&lzx).unwrap_err(),
        CabError::Unsupported {
            feature: Unsupported::Compression(3),
            offset: 42
        }
    ));
    let mut too_long = cab.clone();
    too_long[44] = 0xFF; // cbFile far past the folder's data
    let c = Cabinet::parse(&too_long).unwrap();
    assert!(matches!(
        c.extract(0).unwrap_err(),
        CabError::Malformed {
            kind: MalformedKind::FileRange,
            ..
        }
    ));
    let mut limits = Limits::default();
    limits.max_files(0);
    assert_eq!(
        Cabinet::parse_with(&cab, &limits).unwrap_err(),
        CabError::LimitExceeded(Limit::Files)
    );
}

#[test]
fn every_truncation_and_byte_flip_is_an_error_not_a_panic() {
    let cab = build(
        &[("one", b"first file"), ("two", &b"0123456789".repeat(5000))],
        Compression::default(),
    );
    for len in 0..cab.len() {
        let _ = Cabinet::parse(&cab[..len]).and_then(|c| c.extract_all().map(|_| ()));
    }
    for at in 0..cab.len() {
        for bit in [0x01, 0x80] {
            let mut bad = cab.clone();
            bad[at] ^= bit;
            let _ = Cabinet::parse(&bad).and_then(|c| c.extract_all().map(|_| ()));
        }
    }
}

proptest! {
    #[test]
    fn roundtrip(
        files in proptest::collection::vec(
            ("[a-zA-Z0-9_.\\\\é]{1,40}", proptest::collection::vec(any::<u8>(), 0..70_000)),
            0..6,
        ),
        level in 0u32..10,
        stored in any::<bool>(),
        reserve in 0u16..64,
    ) {
        let mut b = CabBuilder::new();
        b.compression(if stored { Compression::None } else { Compression::MsZip(level) });
        b.header_reserve(reserve);
        for (name, data) in &files {
            b.add_file(name, data.as_slice(), WHEN).unwrap();
        }
        let cab = b.build().unwrap();
        let c = Cabinet::parse(&cab).unwrap();
        prop_assert_eq!(c.header_reserve().len(), usize::from(reserve));
        let out = c.extract_all().unwrap();
        prop_assert_eq!(out.len(), files.len());
        for ((entry, data), (name, want)) in out.iter().zip(&files) {
            prop_assert_eq!(entry.name(), name.as_str());
            prop_assert_eq!(data, want);
        }
    }

    #[test]
    fn garbage_never_panics(data in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = Cabinet::parse(&data).and_then(|c| c.extract_all().map(|_| ()));
        let mut with_magic = b"MSCF".to_vec();
        with_magic.extend_from_slice(&data);
        let _ = Cabinet::parse(&with_magic).and_then(|c| c.extract_all().map(|_| ()));
    }
}

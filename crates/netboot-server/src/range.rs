//! HTTP byte ranges (RFC 9110 §14): parsing a `Range` header against a
//! representation's length, with no I/O.
//!
//! Macs booting from an HTTP disk image read it with many range requests,
//! so this is the hot path of image serving; it must also hold against a
//! client that asks for thousands of tiny or overlapping ranges.

use std::ops::Range;

/// The most ranges honoured in one request; more and the header is ignored
/// (the whole representation is sent, which RFC 9110 allows).
pub const MAX_RANGES: usize = 16;

/// What to send for a `Range` header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ranges {
    /// Ignore the header and send everything with 200: no header, a unit
    /// other than `bytes`, invalid syntax or too many ranges.
    Full,
    /// 206 with these ranges, each non-empty and inside the length, in
    /// ascending order with overlapping and adjacent ones merged.
    Partial(Vec<Range<u64>>),
    /// 416: valid syntax, but no range overlaps the representation.
    Unsatisfiable,
}

/// Interprets `header` (the `Range` field value) for a representation of
/// `len` bytes.
pub fn parse(header: Option<&str>, len: u64) -> Ranges {
    let Some(header) = header else {
        return Ranges::Full;
    };
    let Some((unit, set)) = header.split_once('=') else {
        return Ranges::Full;
    };
    if !unit.trim().eq_ignore_ascii_case("bytes") {
        return Ranges::Full;
    }
    let mut out: Vec<Range<u64>> = Vec::new();
    let mut specs = 0usize;
    for spec in set.split(',') {
        let spec = spec.trim();
        if spec.is_empty() {
            // Empty list elements are allowed and ignored.
            continue;
        }
        specs += 1;
        if specs > MAX_RANGES {
            return Ranges::Full;
        }
        let Some((first, last)) = spec.split_once('-') else {
            return Ranges::Full;
        };
        let (first, last) = (first.trim(), last.trim());
        let range = if first.is_empty() {
            // A suffix: the last N bytes.
            let Some(n) = digits(last) else {
                return Ranges::Full;
            };
            if n == 0 || len == 0 {
                continue;
            }
            len.saturating_sub(n)..len
        } else {
            let Some(start) = digits(first) else {
                return Ranges::Full;
            };
            let end = if last.is_empty() {
                len
            } else {
                let Some(last) = digits(last) else {
                    return Ranges::Full;
                };
                if last < start {
                    return Ranges::Full;
                }
                last.saturating_add(1).min(len)
            };
            if start >= len {
                continue;
            }
            start..end
        };
        out.push(range);
    }
    if specs == 0 {
        return Ranges::Full;
    }
    if out.is_empty() {
        return Ranges::Unsatisfiable;
    }
    out.sort_by_key(|r| r.start);
    let mut merged: Vec<Range<u64>> = Vec::with_capacity(out.len());
    for r in out {
        match merged.last_mut() {
            Some(m) if r.start <= m.end => m.end = m.end.max(r.end),
            _ => merged.push(r),
        }
    }
    Ranges::Partial(merged)
}

/// Decimal digits only (no sign, no spaces), at most 19 of them.
fn digits(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 19 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn p(h: &str, len: u64) -> Ranges {
        parse(Some(h), len)
    }

    /// One range, as a single-element list.
    fn one(r: Range<u64>) -> Ranges {
        Ranges::Partial(std::iter::once(r).collect())
    }

    #[test]
    fn the_forms_of_rfc_9110() {
        assert_eq!(p("bytes=0-499", 10_000), one(0..500));
        assert_eq!(p("bytes=500-999", 10_000), one(500..1000));
        assert_eq!(p("bytes=-500", 10_000), one(9500..10_000));
        assert_eq!(p("bytes=9500-", 10_000), one(9500..10_000));
        assert_eq!(
            p("bytes=0-0,-1", 10_000),
            Ranges::Partial(vec![0..1, 9999..10_000])
        );
        // Overlapping and adjacent ranges are merged.
        assert_eq!(p("bytes=500-600,601-999", 10_000), one(500..1000));
        assert_eq!(p("bytes=500-700,601-999", 10_000), one(500..1000));
        // A last position past the end is cut to the end.
        assert_eq!(p("bytes=9000-20000", 10_000), one(9000..10_000));
        // A suffix longer than the file is the whole file.
        assert_eq!(p("bytes=-20000", 10_000), one(0..10_000));
        assert_eq!(p("Bytes = 1-2", 10), one(1..3));
    }

    #[test]
    fn unsatisfiable_and_ignored() {
        assert_eq!(p("bytes=10000-", 10_000), Ranges::Unsatisfiable);
        assert_eq!(p("bytes=-0", 10_000), Ranges::Unsatisfiable);
        assert_eq!(p("bytes=0-", 0), Ranges::Unsatisfiable);
        assert_eq!(parse(None, 10), Ranges::Full);
        for h in [
            "items=0-1",
            "bytes",
            "bytes=",
            "bytes=a-b",
            "bytes=5-1",
            "bytes=1",
            "bytes=+1-2",
            "bytes=-",
            "bytes=99999999999999999999-",
        ] {
            assert_eq!(p(h, 10), Ranges::Full, "{h}");
        }
        let many = format!("bytes={}", vec!["0-0"; MAX_RANGES + 1].join(","));
        assert_eq!(p(&many, 10), Ranges::Full);
    }

    proptest! {
        #[test]
        fn ranges_are_inside_sorted_and_disjoint(h in "bytes=[0-9,\\- ]{0,40}", len in 0u64..5000) {
            if let Ranges::Partial(rs) = parse(Some(&h), len) {
                prop_assert!(!rs.is_empty());
                for r in &rs {
                    prop_assert!(r.start < r.end && r.end <= len);
                }
                for w in rs.windows(2) {
                    prop_assert!(w[0].end < w[1].start);
                }
            }
        }
    }
}

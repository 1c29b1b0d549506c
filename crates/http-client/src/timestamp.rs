//! ISO 8601 time stamps as Apple's management services write them:
//! `2027-11-24T20:50:43Z` (DEP) and `2030-11-08T22:33:22+0000` (Apps and
//! Books), read into and written from [`SystemTime`].

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Reads `YYYY-MM-DDTHH:MM:SS[.fraction][Z|±HH:MM|±HHMM|±HH]`. A space or
/// lower-case `t` in place of the `T` and a lower-case `z` are accepted, as
/// is a missing offset (taken as UTC). Returns `None` for anything else,
/// or for a time before 1970.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use pippin_http_client::parse_timestamp;
///
/// let t = parse_timestamp("2027-11-24T20:50:43Z").unwrap();
/// assert_eq!(t, UNIX_EPOCH + Duration::from_secs(1_827_089_443));
/// assert_eq!(parse_timestamp("2027-11-24T21:50:43+0100"), Some(t));
/// assert_eq!(parse_timestamp("2027-11-24T19:50:43-01:00"), Some(t));
/// ```
pub fn parse_timestamp(s: &str) -> Option<SystemTime> {
    let b = s.trim().as_bytes();
    if b.len() < 19 || b.len() > 40 {
        return None;
    }
    let digits = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = b.get(r)?;
        part.iter().try_fold(0i64, |acc, d| {
            d.is_ascii_digit().then(|| acc * 10 + i64::from(d - b'0'))
        })
    };
    if b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (year, month, day) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
    let (hour, minute, second) = (digits(11..13)?, digits(14..16)?, digits(17..19)?);
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    // A leap second reads as the second before it.
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut rest = &b[19..];
    let mut nanos = 0u32;
    if let Some((b'.' | b',', tail)) = rest.split_first() {
        let n = tail.iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 || n > 9 {
            return None;
        }
        let value = tail[..n]
            .iter()
            .fold(0u32, |acc, d| acc * 10 + u32::from(d - b'0'));
        nanos = value * 10u32.pow(9 - n as u32);
        rest = &tail[n..];
    }
    let offset = match rest {
        [] | [b'Z'] | [b'z'] => 0,
        [sign @ (b'+' | b'-'), tail @ ..] => {
            let (h, m) = match tail {
                [h1, h2] => (two(*h1, *h2)?, 0),
                [h1, h2, m1, m2] | [h1, h2, b':', m1, m2] => (two(*h1, *h2)?, two(*m1, *m2)?),
                _ => return None,
            };
            if h > 23 || m > 59 {
                return None;
            }
            let off = h * 3600 + m * 60;
            if *sign == b'+' { off } else { -off }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second.min(59) - offset;
    let secs = u64::try_from(secs).ok()?;
    Some(UNIX_EPOCH + Duration::new(secs, nanos))
}

fn two(a: u8, b: u8) -> Option<i64> {
    (a.is_ascii_digit() && b.is_ascii_digit()).then(|| i64::from((a - b'0') * 10 + (b - b'0')))
}

/// How [`format_timestamp`] writes the UTC offset.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum Offset {
    /// `Z`, as RFC 3339 and the DEP service write it.
    Z,
    /// `+0000`, as the Apps and Books service writes it.
    Numeric,
}

/// Writes `t` as `YYYY-MM-DDTHH:MM:SS` in UTC, whole seconds, followed by
/// the offset in the form asked for. Times before 1970 are written as the
/// epoch.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use pippin_http_client::{Offset, format_timestamp};
///
/// let t = UNIX_EPOCH + Duration::from_secs(1_920_407_602);
/// assert_eq!(format_timestamp(t, Offset::Numeric), "2030-11-08T22:33:22+0000");
/// assert_eq!(format_timestamp(t, Offset::Z), "2030-11-08T22:33:22Z");
/// ```
pub fn format_timestamp(t: SystemTime, offset: Offset) -> String {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let secs = i64::try_from(secs).unwrap_or(i64::MAX / 2);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    let zone = match offset {
        Offset::Z => "Z",
        Offset::Numeric => "+0000",
    };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}{zone}",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (the era-based
/// method: 400-year eras of 146,097 days, years starting in March).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The inverse of [`days_from_civil`].
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn known_values() {
        assert_eq!(parse_timestamp("1970-01-01T00:00:00Z"), Some(at(0)));
        assert_eq!(
            parse_timestamp("2030-11-08T22:33:22+0000"),
            Some(at(1_920_407_602))
        );
        assert_eq!(
            parse_timestamp("2000-02-29T12:00:00+00"),
            Some(at(951_825_600))
        );
        assert_eq!(
            parse_timestamp("2024-12-31 23:59:60z"),
            Some(at(1_735_689_599))
        );
        assert_eq!(
            parse_timestamp("2024-01-01T00:00:00.5Z"),
            Some(at(1_704_067_200) + Duration::from_millis(500))
        );
        assert_eq!(
            parse_timestamp("2024-01-01T00:00:00"),
            Some(at(1_704_067_200))
        );
        for bad in [
            "",
            "2024-02-30T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "2024-13-01T00:00:00Z",
            "2024-01-01T24:00:00Z",
            "2024-01-01T00:00:00+2400",
            "2024-01-01T00:00:00+01:0",
            "2024-01-01T00:00:00.Z",
            "1969-12-31T23:59:59Z",
            "2024-01-01X00:00:00Z",
            "２０２４-01-01T00:00:00Z",
        ] {
            assert_eq!(parse_timestamp(bad), None, "{bad}");
        }
    }

    proptest! {
        #[test]
        fn format_parse_roundtrip(secs in 0u64..253_402_300_799) {
            for offset in [Offset::Z, Offset::Numeric] {
                let text = format_timestamp(at(secs), offset);
                prop_assert_eq!(parse_timestamp(&text), Some(at(secs)), "{}", text);
            }
        }

        #[test]
        fn never_panics(s in "\\PC{0,44}") {
            let _ = parse_timestamp(&s);
        }
    }
}

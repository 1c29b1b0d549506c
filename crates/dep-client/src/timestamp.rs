//! ISO 8601 / RFC 3339 time stamps as the DEP service writes them
//! (`2027-11-24T20:50:43Z`), read into and written from [`SystemTime`].

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Reads an RFC 3339 date-time: `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`.
/// A space or lower-case `t` in place of the `T` and a lower-case `z` are
/// accepted too, as is a missing offset (taken as UTC). Returns `None` for
/// anything else, or a time before 1970.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// let t = dep_client::parse_timestamp("2027-11-24T20:50:43Z").unwrap();
/// assert_eq!(t, UNIX_EPOCH + Duration::from_secs(1_827_089_443));
/// ```
pub fn parse_timestamp(s: &str) -> Option<SystemTime> {
    let b = s.trim().as_bytes();
    if b.len() < 19 || b.len() > 40 {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = b.get(r)?;
        if !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        part.iter()
            .try_fold(0i64, |acc, d| Some(acc * 10 + i64::from(d - b'0')))
    };
    if b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    // A leap second is read as the second before it.
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut rest = &b[19..];
    let mut nanos = 0u32;
    if let Some((b'.', tail)) = rest.split_first() {
        let digits = tail.iter().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 || digits > 9 {
            return None;
        }
        let mut n = 0u32;
        for d in &tail[..digits] {
            n = n * 10 + u32::from(d - b'0');
        }
        nanos = n * 10u32.pow(9 - digits as u32);
        rest = &tail[digits..];
    }
    let offset = match rest {
        [] | [b'Z'] | [b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let digits = [*h1, *h2, *m1, *m2];
            if !digits.iter().all(u8::is_ascii_digit) {
                return None;
            }
            let h = i64::from((h1 - b'0') * 10 + (h2 - b'0'));
            let m = i64::from((m1 - b'0') * 10 + (m2 - b'0'));
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

/// Writes `t` as `YYYY-MM-DDTHH:MM:SSZ` (whole seconds, UTC). Times before
/// 1970 are written as 1970-01-01T00:00:00Z.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// let t = UNIX_EPOCH + Duration::from_secs(1_827_089_443);
/// assert_eq!(dep_client::format_timestamp(t), "2027-11-24T20:50:43Z");
/// ```
pub fn format_timestamp(t: SystemTime) -> String {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let secs = i64::try_from(secs).unwrap_or(i64::MAX / 2);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
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
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_values() {
        let at = |s| {
            parse_timestamp(s)
                .unwrap()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_secs()
        };
        assert_eq!(at("1970-01-01T00:00:00Z"), 0);
        assert_eq!(at("2026-01-17T11:02:21Z"), 1_768_647_741);
        assert_eq!(at("2000-02-29T12:00:00+01:00"), 951_822_000);
        assert_eq!(at("2000-02-29 12:00:00-00:30"), 951_827_400);
        assert_eq!(at("2018-09-08T17:28:18"), 1_536_427_698);
        let frac = parse_timestamp("2018-09-08T17:28:18.25Z").unwrap();
        assert_eq!(
            frac.duration_since(UNIX_EPOCH).unwrap(),
            Duration::new(1_536_427_698, 250_000_000)
        );
        for bad in [
            "",
            "2018-09-08",
            "2018-13-08T17:28:18Z",
            "2019-02-29T17:28:18Z",
            "2018-09-08T24:28:18Z",
            "2018-09-08T17:28:18+25:00",
            "2018-09-08T17:28:18.Z",
            "2018-09-08T17:28:18ZZ",
            "1969-12-31T23:59:59Z",
            "２018-09-08T17:28:18Z",
        ] {
            assert_eq!(parse_timestamp(bad), None, "{bad}");
        }
    }

    proptest! {
        #[test]
        fn format_parse_roundtrip(secs in 0u64..253_402_300_799) {
            let t = UNIX_EPOCH + Duration::from_secs(secs);
            let s = format_timestamp(t);
            prop_assert_eq!(parse_timestamp(&s), Some(t));
        }

        #[test]
        fn never_panics(s in "\\PC{0,40}") {
            let _ = parse_timestamp(&s);
        }
    }
}

//! WMI date-times: DMTF text over WS-Management, ISO 8601 over AdminService.

use core::fmt;

use crate::Value;

/// A date-time with its UTC offset, as WMI carries it; no time zone rules,
/// no clock.
///
/// Two text forms are read and written:
///
/// - DMTF (DSP0004, "Datetime type"): `yyyymmddHHMMSS.mmmmmmsUUU`, exactly
///   25 characters, `s` a sign and `UUU` the offset in minutes, as in
///   `20231004123456.000000+000` (WS-Management answers, WQL values);
/// - ISO 8601 / OData `DateTimeOffset`: `2023-10-04T12:34:56Z`, with an
///   optional fraction (up to 9 digits, kept to the microsecond) and an
///   offset `Z` or `±HH:MM`; a bare date `2023-10-04` is midnight UTC
///   (AdminService answers, `$filter` values).
///
/// DMTF's wildcard fields (`*`) and intervals (`…:000`) are refused.
///
/// ```
/// use sccm_wmi::classes::DateTime;
///
/// let d = DateTime::parse_dmtf("20231004123456.250000-300")?;
/// assert_eq!(d.to_iso8601(), "2023-10-04T12:34:56.25-05:00");
/// assert_eq!(DateTime::parse_iso8601(&d.to_iso8601())?, d);
/// assert_eq!(d.to_dmtf(), "20231004123456.250000-300");
/// # Ok::<(), sccm_wmi::classes::DateTimeError>(())
/// ```
#[derive(Clone, Copy, Debug, Eq, Hash, Ord, PartialEq, PartialOrd)]
pub struct DateTime {
    /// The year, 0–9999.
    pub year: u16,
    /// The month, 1–12.
    pub month: u8,
    /// The day of the month, 1–31 (checked against the month).
    pub day: u8,
    /// The hour, 0–23.
    pub hour: u8,
    /// The minute, 0–59.
    pub minute: u8,
    /// The second, 0–59.
    pub second: u8,
    /// The microseconds, 0–999999.
    pub microsecond: u32,
    /// The offset from UTC in minutes (−999 to 999, DMTF's range).
    pub offset_minutes: i16,
}

/// A date-time text that could not be read.
#[derive(Clone, Copy, Debug, Eq, PartialEq, thiserror::Error)]
#[error("not a date-time at byte {offset}")]
pub struct DateTimeError {
    /// Where the text stopped making sense.
    pub offset: usize,
}

fn digits(b: &[u8], at: usize, n: usize) -> Result<u32, DateTimeError> {
    let s = b.get(at..at + n).ok_or(DateTimeError { offset: at })?;
    let mut v = 0u32;
    for (i, &c) in s.iter().enumerate() {
        if !c.is_ascii_digit() {
            return Err(DateTimeError { offset: at + i });
        }
        v = v * 10 + u32::from(c - b'0');
    }
    Ok(v)
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400) => {
            29
        }
        2 => 28,
        _ => 31,
    }
}

impl DateTime {
    fn checked(
        fields: [u32; 6],
        microsecond: u32,
        offset_minutes: i32,
        at: usize,
    ) -> Result<Self, DateTimeError> {
        let [year, month, day, hour, minute, second] = fields;
        let bad = Err(DateTimeError { offset: at });
        if year > 9999
            || !(1..=12).contains(&month)
            || day == 0
            || day > days_in_month(year, month)
            || hour > 23
            || minute > 59
            || second > 59
            || microsecond > 999_999
            || offset_minutes.abs() > 999
        {
            return bad;
        }
        // The ranges were just checked, so the narrowing casts are exact.
        Ok(Self {
            year: year as u16,
            month: month as u8,
            day: day as u8,
            hour: hour as u8,
            minute: minute as u8,
            second: second as u8,
            microsecond,
            offset_minutes: offset_minutes as i16,
        })
    }

    /// Reads DMTF text (`20231004123456.000000+000`).
    pub fn parse_dmtf(text: &str) -> Result<Self, DateTimeError> {
        let b = text.as_bytes();
        if b.len() != 25 {
            return Err(DateTimeError {
                offset: b.len().min(25),
            });
        }
        let year = digits(b, 0, 4)?;
        let month = digits(b, 4, 2)?;
        let day = digits(b, 6, 2)?;
        let hour = digits(b, 8, 2)?;
        let minute = digits(b, 10, 2)?;
        let second = digits(b, 12, 2)?;
        if b[14] != b'.' {
            return Err(DateTimeError { offset: 14 });
        }
        let micro = digits(b, 15, 6)?;
        let sign = match b[21] {
            b'+' => 1,
            b'-' => -1,
            _ => return Err(DateTimeError { offset: 21 }),
        };
        let off = digits(b, 22, 3)? as i32 * sign;
        Self::checked([year, month, day, hour, minute, second], micro, off, 0)
    }

    /// Reads ISO 8601 text (`2023-10-04T12:34:56Z`, `…56.1234567+02:00`,
    /// `2023-10-04`).
    pub fn parse_iso8601(text: &str) -> Result<Self, DateTimeError> {
        let b = text.as_bytes();
        let sep = |at: usize, c: u8| {
            if b.get(at) == Some(&c) {
                Ok(())
            } else {
                Err(DateTimeError { offset: at })
            }
        };
        let year = digits(b, 0, 4)?;
        sep(4, b'-')?;
        let month = digits(b, 5, 2)?;
        sep(7, b'-')?;
        let day = digits(b, 8, 2)?;
        if b.len() == 10 {
            return Self::checked([year, month, day, 0, 0, 0], 0, 0, 0);
        }
        if !matches!(b.get(10), Some(b'T' | b't')) {
            return Err(DateTimeError { offset: 10 });
        }
        let hour = digits(b, 11, 2)?;
        sep(13, b':')?;
        let minute = digits(b, 14, 2)?;
        let mut i = 16;
        let mut second = 0;
        let mut micro = 0;
        if b.get(i) == Some(&b':') {
            second = digits(b, 17, 2)?;
            i = 19;
            if b.get(i) == Some(&b'.') {
                i += 1;
                let start = i;
                while i < b.len() && b[i].is_ascii_digit() {
                    if i - start < 6 {
                        micro = micro * 10 + u32::from(b[i] - b'0');
                    }
                    i += 1;
                }
                let n = i - start;
                if n == 0 || n > 12 {
                    return Err(DateTimeError { offset: i });
                }
                for _ in n..6 {
                    micro *= 10;
                }
            }
        }
        let offset = match b.get(i) {
            Some(b'Z' | b'z') if i + 1 == b.len() => 0,
            Some(&s @ (b'+' | b'-')) if i + 6 == b.len() => {
                let h = digits(b, i + 1, 2)?;
                sep(i + 3, b':')?;
                let m = digits(b, i + 4, 2)?;
                if h > 14 || m > 59 {
                    return Err(DateTimeError { offset: i });
                }
                let v = (h * 60 + m) as i32;
                if s == b'-' { -v } else { v }
            }
            _ => return Err(DateTimeError { offset: i }),
        };
        Self::checked([year, month, day, hour, minute, second], micro, offset, i)
    }

    /// Reads either form, as a property value may hold (DMTF from
    /// WS-Management, ISO 8601 from AdminService).
    pub fn parse(text: &str) -> Result<Self, DateTimeError> {
        let t = text.trim();
        if t.len() == 25 && t.as_bytes().get(14) == Some(&b'.') {
            Self::parse_dmtf(t)
        } else {
            Self::parse_iso8601(t)
        }
    }

    /// Reads a property value (a string in either form).
    pub fn from_value(v: &Value) -> Option<Self> {
        v.as_str().and_then(|s| Self::parse(s).ok())
    }

    /// The DMTF text, `yyyymmddHHMMSS.mmmmmmsUUU`.
    pub fn to_dmtf(&self) -> String {
        format!(
            "{:04}{:02}{:02}{:02}{:02}{:02}.{:06}{}{:03}",
            self.year,
            self.month,
            self.day,
            self.hour,
            self.minute,
            self.second,
            self.microsecond,
            if self.offset_minutes < 0 { '-' } else { '+' },
            self.offset_minutes.unsigned_abs()
        )
    }

    /// The ISO 8601 text: `2023-10-04T12:34:56Z`, with the fraction when
    /// it is not zero and `±HH:MM` when the offset is not zero.
    pub fn to_iso8601(&self) -> String {
        use fmt::Write as _;
        let mut s = format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        );
        if self.microsecond != 0 {
            let frac = format!("{:06}", self.microsecond);
            let _ = write!(s, ".{}", frac.trim_end_matches('0'));
        }
        if self.offset_minutes == 0 {
            s.push('Z');
        } else {
            let m = self.offset_minutes.unsigned_abs();
            let sign = if self.offset_minutes < 0 { '-' } else { '+' };
            let _ = write!(s, "{sign}{:02}:{:02}", m / 60, m % 60);
        }
        s
    }
}

impl fmt::Display for DateTime {
    /// The ISO 8601 form.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_iso8601())
    }
}

impl From<DateTime> for crate::wql::Literal {
    /// A WQL date-time value: the DMTF text, as a string.
    fn from(d: DateTime) -> Self {
        Self::String(d.to_dmtf())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn reads_both_forms() {
        let d = DateTime::parse("20231004123456.000000+000").unwrap();
        assert_eq!(d, DateTime::parse("2023-10-04T12:34:56Z").unwrap());
        assert_eq!(
            DateTime::parse_iso8601("2023-10-04T12:34:56.1234567Z")
                .unwrap()
                .microsecond,
            123_456
        );
        assert_eq!(
            DateTime::parse_iso8601("1970-01-01").unwrap().to_iso8601(),
            "1970-01-01T00:00:00Z"
        );
        assert_eq!(
            DateTime::parse_iso8601("2024-02-29T23:59+01:30")
                .unwrap()
                .offset_minutes,
            90
        );
        for bad in [
            "2023-02-29T00:00:00Z",
            "2023-10-04T24:00:00Z",
            "2023-10-04T12:34:56",
            "2023-10-04 12:34:56Z",
            "2023-10-04T12:34:56.Z",
            "2023-10-04T12:34:56+15:00",
            "20231004123456.000000*000",
            "2023100412345.0000000+000",
            "********123456.000000+000",
            "",
        ] {
            assert!(DateTime::parse(bad).is_err(), "{bad}");
        }
    }

    fn any_datetime() -> impl Strategy<Value = DateTime> {
        (
            0u16..=9999,
            1u8..=12,
            1u8..=28,
            0u8..24,
            0u8..60,
            0u8..60,
            0u32..1_000_000,
            -999i16..=999,
        )
            .prop_map(
                |(year, month, day, hour, minute, second, microsecond, off)| DateTime {
                    year,
                    month,
                    day,
                    hour,
                    minute,
                    second,
                    microsecond,
                    offset_minutes: off,
                },
            )
    }

    proptest! {
        #[test]
        fn dmtf_roundtrip(d in any_datetime()) {
            prop_assert_eq!(DateTime::parse_dmtf(&d.to_dmtf()), Ok(d));
            prop_assert_eq!(DateTime::parse(&d.to_dmtf()), Ok(d));
        }

        #[test]
        fn iso_roundtrip(mut d in any_datetime()) {
            // ISO offsets are at most 14 hours.
            d.offset_minutes %= 14 * 60;
            prop_assert_eq!(DateTime::parse_iso8601(&d.to_iso8601()), Ok(d));
        }

        #[test]
        fn never_panics(s in "\\PC{0,30}") {
            let _ = DateTime::parse(&s);
        }
    }
}

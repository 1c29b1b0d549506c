//! Dates as text: the XML `<date>` form and RFC 3339, with the proleptic
//! Gregorian calendar computed here (no date crate).

use crate::value::Date;

/// Seconds in a day.
const DAY: i128 = 86_400;

impl Date {
    /// The date as RFC 3339 text in UTC: `YYYY-MM-DDTHH:MM:SSZ`, with a
    /// fraction of a second (to the microsecond, trailing zeros dropped) only
    /// when there is one.
    ///
    /// Years outside 0000–9999, which RFC 3339 cannot express, are written in
    /// the ISO 8601 expanded form with a sign (`-0044-03-15T…`,
    /// `+10000-01-01T…`); [`Date::parse_iso8601`] reads them back.
    ///
    /// ```
    /// use pippin_plist::Date;
    ///
    /// let d = Date::from_unix_seconds(1_700_000_000);
    /// assert_eq!(d.to_rfc3339(), "2023-11-14T22:13:20Z");
    /// let d = Date::from_seconds_since_2001(0.25).unwrap();
    /// assert_eq!(d.to_rfc3339(), "2001-01-01T00:00:00.25Z");
    /// ```
    pub fn to_rfc3339(&self) -> String {
        let secs = self.seconds_since_2001();
        let whole = secs.floor();
        // `floor` leaves a fraction in [0, 1); microseconds, rounded.
        #[allow(clippy::cast_possible_truncation)]
        let mut micros = ((secs - whole) * 1e6).round() as u32;
        #[allow(clippy::cast_possible_truncation)]
        let mut whole = whole as i128;
        if micros >= 1_000_000 {
            micros = 0;
            whole = whole.saturating_add(1);
        }
        let mut out = String::with_capacity(27);
        push_civil(whole, &mut out);
        if micros != 0 {
            let mut digits = format!("{micros:06}");
            while digits.ends_with('0') {
                digits.pop();
            }
            out.push('.');
            out.push_str(&digits);
        }
        out.push('Z');
        out
    }

    /// Reads an ISO 8601 / RFC 3339 date and time.
    ///
    /// Accepted: `YYYY-MM-DD`, optionally followed by `T` (or `t` or a space)
    /// and `HH:MM` or `HH:MM:SS` with an optional fraction of a second, then a
    /// zone: `Z`, `+HH:MM`, `-HH:MM`, `+HHMM` or `-HHMM`. A date alone is
    /// midnight UTC; a time needs a zone. Years may carry a sign and more than
    /// four digits (the expanded form [`Date::to_rfc3339`] writes). `None` for
    /// anything else, including impossible dates such as `2023-02-29`.
    ///
    /// ```
    /// use pippin_plist::Date;
    ///
    /// let d = Date::parse_iso8601("2001-01-01T01:00:00+01:00").unwrap();
    /// assert_eq!(d.seconds_since_2001(), 0.0);
    /// assert_eq!(Date::parse_iso8601("2024-05-01T12:00:00Z").unwrap().unix_seconds(), 1_714_564_800);
    /// assert!(Date::parse_iso8601("2024-13-01T00:00:00Z").is_none());
    /// ```
    pub fn parse_iso8601(text: &str) -> Option<Self> {
        parse(text.as_bytes())
    }
}

/// Appends the XML `<date>` text of `date`: whole seconds, the fraction
/// dropped toward negative infinity.
pub(crate) fn push_xml_date(date: Date, out: &mut String) {
    #[allow(clippy::cast_possible_truncation)]
    let whole = date.seconds_since_2001().floor() as i128;
    push_civil(whole, out);
    out.push('Z');
}

/// Appends `YYYY-MM-DDTHH:MM:SS` for `since_2001` whole seconds.
fn push_civil(since_2001: i128, out: &mut String) {
    use std::fmt::Write;

    let unix = since_2001.saturating_add(i128::from(Date::UNIX_TO_2001));
    let days = unix.div_euclid(DAY);
    let secs = unix.rem_euclid(DAY);
    let (y, m, d) = civil_from_days(days);
    if (0..=9999).contains(&y) {
        let _ = write!(out, "{y:04}");
    } else {
        let _ = write!(out, "{y:+05}");
    }
    let _ = write!(
        out,
        "-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    );
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
///
/// The calendar repeats every 400 years (146,097 days); counting years from
/// March makes the leap day the last day of the year, so the day of the year
/// follows from the month by a linear formula.
fn days_from_civil(y: i128, m: u32, d: u32) -> i128 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400); // [0, 399]
    let mp = i128::from((m + 9) % 12); // March = 0
    let doy = (153 * mp + 2) / 5 + i128::from(d) - 1; // [0, 365]
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; // [0, 146096]
    era * 146_097 + doe - 719_468
}

/// The proleptic Gregorian date of a day counted from 1970-01-01; the
/// inverse of [`days_from_civil`].
fn civil_from_days(z: i128) -> (i128, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11]
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32; // [1, 31]
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32; // [1, 12]
    let y = yoe + era * 400 + i128::from(m <= 2);
    (y, m, d)
}

fn is_leap(y: i128) -> bool {
    y.rem_euclid(4) == 0 && (y.rem_euclid(100) != 0 || y.rem_euclid(400) == 0)
}

fn days_in_month(y: i128, m: u32) -> u32 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// A cursor over the date text.
struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn eat(&mut self, c: u8) -> Option<()> {
        (self.peek()? == c).then(|| self.i += 1)
    }

    /// Exactly `n` decimal digits.
    fn digits(&mut self, n: usize) -> Option<u32> {
        let s = self.b.get(self.i..self.i + n)?;
        let mut v = 0u32;
        for &c in s {
            if !c.is_ascii_digit() {
                return None;
            }
            v = v * 10 + u32::from(c - b'0');
        }
        self.i += n;
        Some(v)
    }
}

/// Longest year accepted, in digits (ample for any finite `f64` of seconds).
const MAX_YEAR_DIGITS: usize = 32;

fn parse(b: &[u8]) -> Option<Date> {
    let mut c = Cursor { b, i: 0 };
    let negative = match c.peek()? {
        b'-' => {
            c.i += 1;
            true
        }
        b'+' => {
            c.i += 1;
            false
        }
        _ => false,
    };
    let start = c.i;
    let mut year: i128 = 0;
    while let Some(d @ b'0'..=b'9') = c.peek() {
        if c.i - start >= MAX_YEAR_DIGITS {
            return None;
        }
        year = year * 10 + i128::from(d - b'0');
        c.i += 1;
    }
    if c.i - start < 4 {
        return None;
    }
    if negative {
        year = -year;
    }
    c.eat(b'-')?;
    let month = c.digits(2)?;
    c.eat(b'-')?;
    let day = c.digits(2)?;
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    let mut secs = days_from_civil(year, month, day).checked_mul(DAY)?;
    let mut frac = 0.0f64;
    if c.i == b.len() {
        return finish(secs, frac);
    }
    match c.peek()? {
        b'T' | b't' | b' ' => c.i += 1,
        _ => return None,
    }
    let hour = c.digits(2)?;
    c.eat(b':')?;
    let minute = c.digits(2)?;
    let second = if c.eat(b':').is_some() {
        c.digits(2)?
    } else {
        0
    };
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    secs = secs.checked_add(i128::from(hour * 3600 + minute * 60 + second))?;
    if c.eat(b'.').is_some() || c.eat(b',').is_some() {
        let start = c.i;
        let mut scale = 0.1;
        while let Some(d @ b'0'..=b'9') = c.peek() {
            frac += f64::from(d - b'0') * scale;
            scale /= 10.0;
            c.i += 1;
        }
        if c.i == start {
            return None;
        }
    }
    match c.peek()? {
        b'Z' | b'z' => c.i += 1,
        sign @ (b'+' | b'-') => {
            c.i += 1;
            let oh = c.digits(2)?;
            let _ = c.eat(b':');
            let om = c.digits(2)?;
            if oh > 23 || om > 59 {
                return None;
            }
            let offset = i128::from(oh * 3600 + om * 60);
            // Local time = UTC + offset.
            secs = if sign == b'+' {
                secs.checked_sub(offset)?
            } else {
                secs.checked_add(offset)?
            };
        }
        _ => return None,
    }
    if c.i != b.len() {
        return None;
    }
    finish(secs, frac)
}

fn finish(unix_secs: i128, frac: f64) -> Option<Date> {
    let since_2001 = unix_secs.checked_sub(i128::from(Date::UNIX_TO_2001))?;
    #[allow(clippy::cast_precision_loss)]
    Date::from_seconds_since_2001(since_2001 as f64 + frac)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn xml(d: Date) -> String {
        let mut s = String::new();
        push_xml_date(d, &mut s);
        s
    }

    #[test]
    fn known_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2001, 1, 1), 11_323);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(1969, 12, 31), -1);
        assert_eq!(civil_from_days(-719_528), (0, 1, 1));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        let epoch = Date::from_seconds_since_2001(0.0).unwrap();
        assert_eq!(epoch.to_rfc3339(), "2001-01-01T00:00:00Z");
        assert_eq!(xml(Date::from_unix_seconds(0)), "1970-01-01T00:00:00Z");
        assert_eq!(xml(Date::from_unix_seconds(-1)), "1969-12-31T23:59:59Z");
        assert_eq!(
            xml(Date::from_unix_seconds(951_782_400)),
            "2000-02-29T00:00:00Z"
        );
    }

    #[test]
    fn civil_roundtrip_over_centuries() {
        for z in (-1_000_000..1_000_000).step_by(97) {
            let (y, m, d) = civil_from_days(z);
            assert!((1..=12).contains(&m) && d >= 1 && d <= days_in_month(y, m));
            assert_eq!(days_from_civil(y, m, d), z);
        }
    }

    #[test]
    fn xml_dates_truncate_toward_the_past() {
        let d = Date::from_seconds_since_2001(-0.5).unwrap();
        assert_eq!(xml(d), "2000-12-31T23:59:59Z");
        let d = Date::from_seconds_since_2001(59.999).unwrap();
        assert_eq!(xml(d), "2001-01-01T00:00:59Z");
        assert_eq!(d.to_rfc3339(), "2001-01-01T00:00:59.999Z");
        let d = Date::from_seconds_since_2001(59.999_999_9).unwrap();
        assert_eq!(d.to_rfc3339(), "2001-01-01T00:01:00Z");
    }

    #[test]
    fn parse_forms() {
        let p = |s: &str| Date::parse_iso8601(s).map(|d| d.seconds_since_2001());
        assert_eq!(p("2001-01-01T00:00:00Z"), Some(0.0));
        assert_eq!(p("2001-01-01"), Some(0.0));
        assert_eq!(p("2001-01-01t00:01z"), Some(60.0));
        assert_eq!(p("2001-01-01 00:00:01.5Z"), Some(1.5));
        assert_eq!(p("2001-01-01T02:00:00+0200"), Some(0.0));
        assert_eq!(p("2000-12-31T22:00:00-02:00"), Some(0.0));
        assert_eq!(p("2000-02-29T00:00:00Z"), Some(-26_524_800.0));
        assert_eq!(p("-0001-01-01T00:00:00Z").map(|s| s < 0.0), Some(true));
        for bad in [
            "",
            "2001",
            "2001-01-01T",
            "2001-01-01T00:00:00",
            "2001-01-01T00:00:00ZZ",
            "2001-1-01T00:00:00Z",
            "2001-02-29T00:00:00Z",
            "1900-02-29T00:00:00Z",
            "2001-01-32T00:00:00Z",
            "2001-00-01T00:00:00Z",
            "2001-01-01T24:00:00Z",
            "2001-01-01T00:60:00Z",
            "2001-01-01T00:00:60Z",
            "2001-01-01T00:00:00.Z",
            "2001-01-01T00:00:00+2400",
            "2001-01-01X00:00:00Z",
            "٢٠٠١-01-01T00:00:00Z",
            "+000000000000000000000000000000000002001-01-01",
            "99999999999999999999999999999999-01-01T00:00:00Z",
        ] {
            assert_eq!(p(bad), None, "{bad}");
        }
    }

    #[test]
    fn expanded_years_roundtrip() {
        for secs in [-1e12, -63_113_904_000.0, 3e11, 1e15, -1e15] {
            let d = Date::from_seconds_since_2001(secs).unwrap();
            let text = d.to_rfc3339();
            assert_eq!(Date::parse_iso8601(&text), Some(d), "{text}");
        }
        let far = Date::from_seconds_since_2001(f64::MAX).unwrap();
        let text = xml(far);
        assert!(Date::parse_iso8601(&text).is_some(), "{text}");
        let far = Date::from_seconds_since_2001(-f64::MAX).unwrap();
        let text = xml(far);
        assert!(Date::parse_iso8601(&text).is_some(), "{text}");
    }

    proptest::proptest! {
        #[test]
        fn whole_seconds_roundtrip(secs in -400_000_000_000i64..400_000_000_000) {
            #[allow(clippy::cast_precision_loss)]
            let d = Date::from_seconds_since_2001(secs as f64).unwrap();
            proptest::prop_assert_eq!(Date::parse_iso8601(&xml(d)), Some(d));
            proptest::prop_assert_eq!(Date::parse_iso8601(&d.to_rfc3339()), Some(d));
        }
    }
}

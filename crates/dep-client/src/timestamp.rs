//! ISO 8601 / RFC 3339 time stamps as the DEP service writes them
//! (`2027-11-24T20:50:43Z`), read into and written from [`SystemTime`]
//! (the reading and writing are `pippin-http-client`'s, shared with the
//! other Apple API clients).

use std::time::SystemTime;

/// Reads an ISO 8601 date-time: `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM|±HHMM)`.
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
    pippin_http_client::parse_timestamp(s)
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
    pippin_http_client::format_timestamp(t, pippin_http_client::Offset::Z)
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

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
    }
}

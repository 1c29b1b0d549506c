//! `Retry-After` (RFC 9110 §10.2.3): a number of seconds or an HTTP date.

use std::time::{Duration, SystemTime};

/// How long a server asked the client to wait.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum RetryAfter {
    /// A number of seconds.
    Delay(Duration),
    /// An HTTP date; `server_now` is the response's `Date` header, when it
    /// had one, so that the wait can be measured on the server's clock.
    At {
        /// The date given.
        at: SystemTime,
        /// The response's `Date`.
        server_now: Option<SystemTime>,
    },
}

impl RetryAfter {
    /// Reads a `Retry-After` value, with the response's `Date` header.
    ///
    /// ```
    /// use std::time::Duration;
    /// use pippin_http_client::RetryAfter;
    ///
    /// assert_eq!(RetryAfter::parse("120", None), Some(RetryAfter::Delay(Duration::from_secs(120))));
    /// let at = RetryAfter::parse("Sun, 06 Nov 1994 08:49:37 GMT", Some("Sun, 06 Nov 1994 08:48:37 GMT")).unwrap();
    /// assert_eq!(at.delay(), Some(Duration::from_secs(60)));
    /// assert_eq!(RetryAfter::parse("soon", None), None);
    /// ```
    pub fn parse(value: &str, date: Option<&str>) -> Option<Self> {
        let value = value.trim();
        if value.is_empty() {
            return None;
        }
        if value.bytes().all(|b| b.is_ascii_digit()) {
            // More digits than a u64 holds is nonsense; saturate.
            let secs = value.parse::<u64>().unwrap_or(u64::MAX);
            return Some(Self::Delay(Duration::from_secs(secs)));
        }
        let at = httpdate::parse_http_date(value).ok()?;
        let server_now = date.and_then(|d| httpdate::parse_http_date(d.trim()).ok());
        Some(Self::At { at, server_now })
    }

    /// Reads the `Retry-After` (and `Date`) headers of a response.
    pub fn from_headers(headers: &http::HeaderMap) -> Option<Self> {
        let header = |name| headers.get(name).and_then(|v| v.to_str().ok());
        header(http::header::RETRY_AFTER).and_then(|v| Self::parse(v, header(http::header::DATE)))
    }

    /// The wait when it can be known without a clock: a delay, or a date
    /// together with the response's `Date` (zero if the date is past).
    pub fn delay(&self) -> Option<Duration> {
        match self {
            Self::Delay(d) => Some(*d),
            Self::At {
                at,
                server_now: Some(now),
            } => Some(at.duration_since(*now).unwrap_or(Duration::ZERO)),
            Self::At { .. } => None,
        }
    }

    /// The wait measured from `now`, the caller's wall clock, for a date
    /// that came without a `Date` header.
    pub fn delay_from(&self, now: SystemTime) -> Duration {
        match (self.delay(), self) {
            (Some(d), _) => d,
            (None, Self::At { at, .. }) => at.duration_since(now).unwrap_or(Duration::ZERO),
            (None, Self::Delay(d)) => *d,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        assert_eq!(
            RetryAfter::parse(" 7 ", None),
            Some(RetryAfter::Delay(Duration::from_secs(7)))
        );
        assert_eq!(
            RetryAfter::parse("99999999999999999999999", None),
            Some(RetryAfter::Delay(Duration::from_secs(u64::MAX)))
        );
        for bad in ["", " ", "-1", "1.5", "tomorrow"] {
            assert_eq!(RetryAfter::parse(bad, None), None, "{bad:?}");
        }
        let date = "Wed, 21 Oct 2015 07:28:00 GMT";
        let r = RetryAfter::parse(date, None).unwrap();
        assert_eq!(r.delay(), None);
        let at = httpdate::parse_http_date(date).unwrap();
        assert_eq!(
            r.delay_from(at - Duration::from_secs(30)),
            Duration::from_secs(30)
        );
        assert_eq!(r.delay_from(at + Duration::from_secs(30)), Duration::ZERO);
        let r = RetryAfter::parse(date, Some("Wed, 21 Oct 2015 07:29:00 GMT")).unwrap();
        assert_eq!(r.delay(), Some(Duration::ZERO));
    }

    #[test]
    fn headers() {
        let mut h = http::HeaderMap::new();
        assert_eq!(RetryAfter::from_headers(&h), None);
        h.insert(http::header::RETRY_AFTER, "3".parse().unwrap());
        assert_eq!(
            RetryAfter::from_headers(&h),
            Some(RetryAfter::Delay(Duration::from_secs(3)))
        );
    }
}

//! The HTTPS client that Pippin's API clients (DEP, Apps and Books, and
//! the Microsoft ones) share.
//!
//! Without features this crate has no I/O: it checks base URLs
//! ([`check_base_url`], [`is_loopback_host`]), reads `Retry-After`
//! ([`RetryAfter`]) and reads and writes the ISO 8601 time stamps Apple's
//! services use ([`parse_timestamp`], [`format_timestamp`]); the protocol
//! cores that build requests and read responses use these. With the `client` feature, [`client::HttpsClient`]
//! sends `http::Request<Vec<u8>>` values and returns whole, size-bounded
//! responses: hyper over rustls (ring provider, TLS 1.2 and 1.3 only),
//! pooled keep-alive connections, a connect timeout and a per-request
//! timeout, trust anchors from the system bundle or given as PEM. Plain
//! `http://` is accepted for loopback hosts only, so that test servers and
//! simulators can stand in for Apple without certificates while nothing
//! ever leaves the host unencrypted.
//!
//! It does not retry, follow redirects, or keep cookies: the protocol
//! cores decide what a response means and what to do next.
//!
//! ```
//! use pippin_http_client::check_base_url;
//!
//! assert_eq!(check_base_url("https://vpp.itunes.apple.com/mdm/v2/")?, "https://vpp.itunes.apple.com/mdm/v2");
//! assert!(check_base_url("http://vpp.itunes.apple.com").is_err()); // plain HTTP off loopback
//! assert!(check_base_url("http://127.0.0.1:8080").is_ok());
//! # Ok::<(), pippin_http_client::Error>(())
//! ```

#![warn(missing_docs)]
#![forbid(unsafe_code)]

mod error;
mod retry_after;
mod timestamp;

#[cfg(feature = "client")]
pub mod client;

pub use error::{Error, Result};
pub use retry_after::RetryAfter;
pub use timestamp::{Offset, format_timestamp, parse_timestamp};

/// Whether `host` (as in a URL, IPv6 in brackets or not) is a loopback
/// address or `localhost`.
pub fn is_loopback_host(host: &str) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    h.eq_ignore_ascii_case("localhost")
        || h.parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Checks a base URL — `https://host[:port][/prefix]`, or `http://` with a
/// loopback host — and returns it without trailing `/`. User info, queries
/// and fragments are refused.
pub fn check_base_url(url: &str) -> Result<String> {
    let bad = || Error::InvalidBaseUrl(url.to_owned());
    let trimmed = url.trim_end_matches('/');
    if trimmed.contains('#') {
        return Err(bad());
    }
    let uri: http::Uri = trimmed.parse().map_err(|_| bad())?;
    let authority = uri.authority().ok_or_else(bad)?;
    if authority.as_str().contains('@') || authority.host().is_empty() || uri.query().is_some() {
        return Err(bad());
    }
    match uri.scheme_str() {
        Some("https") => {}
        Some("http") if is_loopback_host(authority.host()) => {}
        _ => return Err(bad()),
    }
    Ok(trimmed.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls() {
        let ok = |u: &str| check_base_url(u).unwrap();
        assert_eq!(
            ok("https://mdmenrollment.apple.com/"),
            "https://mdmenrollment.apple.com"
        );
        assert_eq!(ok("http://127.0.0.1:8080"), "http://127.0.0.1:8080");
        assert_eq!(ok("http://[::1]:8080/dep/"), "http://[::1]:8080/dep");
        assert_eq!(ok("http://localhost:1"), "http://localhost:1");
        assert_eq!(
            ok("https://vpp.itunes.apple.com/mdm/v2"),
            "https://vpp.itunes.apple.com/mdm/v2"
        );
        for bad in [
            "http://mdmenrollment.apple.com",
            "http://10.0.0.1",
            "http://127.0.0.1.example.com",
            "ftp://x",
            "https://u@h",
            "https://h/?q",
            "https://h/#f",
            "/session",
            "",
        ] {
            assert!(check_base_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn loopback_hosts() {
        assert!(is_loopback_host("127.0.0.1"));
        assert!(is_loopback_host("127.8.9.10"));
        assert!(is_loopback_host("[::1]"));
        assert!(is_loopback_host("LocalHost"));
        assert!(!is_loopback_host("10.0.0.1"));
        assert!(!is_loopback_host("localhost.example.com"));
        assert!(!is_loopback_host("[::2]"));
    }
}

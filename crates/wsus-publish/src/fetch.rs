//! Conditional downloads of catalogs and distribution files, without I/O:
//! the request to send ([`conditional_get`]) and what its response means
//! ([`read_response`]). The `client` feature sends them
//! ([`crate::client::CatalogClient`]).
//!
//! Apple's catalog servers (a CDN) answer `ETag` and `Last-Modified`; a
//! request that repeats them (`If-None-Match`, `If-Modified-Since`, RFC
//! 9110 §13.1) gets `304 Not Modified` and no body while the catalog is
//! unchanged, so a check every few minutes costs a few hundred bytes
//! instead of tens of megabytes.
//!
//! ```
//! use wsus_publish::fetch::{Fetched, Validators, conditional_get, read_response};
//!
//! let url = "https://swscan.apple.com/content/catalogs/others/index-14.merged-1.sucatalog";
//! let req = conditional_get(url, &Validators::default()).unwrap();
//! assert!(req.headers().get("if-none-match").is_none());
//!
//! let resp = http::Response::builder()
//!     .status(200)
//!     .header("etag", "\"abc\"")
//!     .header("last-modified", "Tue, 14 May 2024 17:00:00 GMT")
//!     .body(&b"<plist/>"[..])
//!     .unwrap();
//! let Fetched::Modified { body, validators } = read_response(&resp, 1 << 20).unwrap() else { panic!() };
//! assert_eq!(body, b"<plist/>");
//!
//! let again = conditional_get(url, &validators).unwrap();
//! assert_eq!(again.headers()["if-none-match"], "\"abc\"");
//! assert_eq!(again.headers()["if-modified-since"], "Tue, 14 May 2024 17:00:00 GMT");
//! ```

use http::{Method, Request, Response, StatusCode, header};

/// What identifies the copy we hold: the server's `ETag` and
/// `Last-Modified`, as it sent them.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct Validators {
    /// `ETag` (quotes included, weak or strong).
    pub etag: Option<String>,
    /// `Last-Modified` (an HTTP date).
    pub last_modified: Option<String>,
}

/// The answer to a conditional request.
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum Fetched {
    /// `304`: the copy we hold is current.
    NotModified,
    /// `200`: a new copy, and what identifies it.
    Modified {
        /// The body, as sent (possibly gzip: the catalog parser detects it).
        body: Vec<u8>,
        /// The new validators.
        validators: Validators,
    },
}

/// Why a download failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// The URL is not `https://…` (or `http://` to a loopback host).
    #[error("catalog URL {0:?} is not an https:// URL")]
    Url(String),
    /// The server answered something else than 200 or 304.
    #[error("the server answered HTTP {0}")]
    Status(u16),
    /// The body is larger than allowed.
    #[error("the body is larger than {limit} bytes")]
    TooLarge {
        /// The limit.
        limit: usize,
    },
    /// The transfer failed.
    #[error("download failed: {0}")]
    Http(#[from] pippin_http_client::Error),
}

/// A `GET` of `url` that asks for a body only if it changed since
/// `validators`, and accepts a gzip body (catalogs shrink to a tenth).
pub fn conditional_get(url: &str, validators: &Validators) -> Result<Request<Vec<u8>>, FetchError> {
    let uri: http::Uri = url.parse().map_err(|_| FetchError::Url(url.to_owned()))?;
    let host = uri.host().unwrap_or_default();
    let secure = match uri.scheme_str() {
        Some("https") => true,
        Some("http") => pippin_http_client::is_loopback_host(host),
        _ => false,
    };
    if !secure || host.is_empty() {
        return Err(FetchError::Url(url.to_owned()));
    }
    let mut builder = Request::builder()
        .method(Method::GET)
        .uri(uri)
        .header(header::ACCEPT_ENCODING, "gzip")
        .header(
            header::USER_AGENT,
            concat!("pippin-sup-service/", env!("CARGO_PKG_VERSION")),
        );
    if let Some(etag) = validators.etag.as_deref().filter(|v| header_safe(v)) {
        builder = builder.header(header::IF_NONE_MATCH, etag);
    }
    if let Some(date) = validators
        .last_modified
        .as_deref()
        .filter(|v| header_safe(v))
    {
        builder = builder.header(header::IF_MODIFIED_SINCE, date);
    }
    builder
        .body(Vec::new())
        .map_err(|_| FetchError::Url(url.to_owned()))
}

/// What `response` to a [`conditional_get`] means; a body over
/// `max_body` bytes is refused.
pub fn read_response<B: AsRef<[u8]>>(
    response: &Response<B>,
    max_body: usize,
) -> Result<Fetched, FetchError> {
    match response.status() {
        StatusCode::NOT_MODIFIED => Ok(Fetched::NotModified),
        StatusCode::OK => {
            let body = response.body().as_ref();
            if body.len() > max_body {
                return Err(FetchError::TooLarge { limit: max_body });
            }
            let text = |name: header::HeaderName| {
                response
                    .headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .filter(|v| header_safe(v))
                    .map(str::to_owned)
            };
            Ok(Fetched::Modified {
                body: body.to_vec(),
                validators: Validators {
                    etag: text(header::ETAG),
                    last_modified: text(header::LAST_MODIFIED)
                        .filter(|d| httpdate::parse_http_date(d).is_ok()),
                },
            })
        }
        other => Err(FetchError::Status(other.as_u16())),
    }
}

/// Whether `v` can be sent back as a header value: visible ASCII and
/// spaces, at most 1 KiB.
fn header_safe(v: &str) -> bool {
    !v.is_empty() && v.len() <= 1024 && v.bytes().all(|b| b == b' ' || b.is_ascii_graphic())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_request_is_unconditional_and_asks_for_gzip() {
        let req = conditional_get(
            "https://swscan.apple.com/x.sucatalog",
            &Validators::default(),
        )
        .unwrap();
        assert_eq!(req.method(), Method::GET);
        assert_eq!(req.headers()[header::ACCEPT_ENCODING], "gzip");
        assert!(req.headers().get(header::IF_NONE_MATCH).is_none());
        assert!(req.headers().get(header::IF_MODIFIED_SINCE).is_none());
    }

    #[test]
    fn only_https_or_loopback_http() {
        assert!(conditional_get("http://swscan.apple.com/x", &Validators::default()).is_err());
        assert!(conditional_get("ftp://swscan.apple.com/x", &Validators::default()).is_err());
        assert!(conditional_get("not a url", &Validators::default()).is_err());
        assert!(conditional_get("http://127.0.0.1:8080/x", &Validators::default()).is_ok());
        assert!(conditional_get("http://[::1]:8080/x", &Validators::default()).is_ok());
    }

    #[test]
    fn hostile_validators_are_not_echoed() {
        let v = Validators {
            etag: Some("\"a\"\r\nX-Evil: 1".into()),
            last_modified: Some(String::new()),
        };
        let req = conditional_get("https://h/x", &v).unwrap();
        assert!(req.headers().get(header::IF_NONE_MATCH).is_none());
        assert!(req.headers().get(header::IF_MODIFIED_SINCE).is_none());
    }

    #[test]
    fn responses() {
        let r = Response::builder().status(304).body(Vec::new()).unwrap();
        assert_eq!(read_response(&r, 10).unwrap(), Fetched::NotModified);
        let r = Response::builder().status(404).body(Vec::new()).unwrap();
        assert!(matches!(
            read_response(&r, 10),
            Err(FetchError::Status(404))
        ));
        let r = Response::builder().status(200).body(vec![0u8; 11]).unwrap();
        assert!(matches!(
            read_response(&r, 10),
            Err(FetchError::TooLarge { limit: 10 })
        ));
        let r = Response::builder()
            .status(200)
            .header("etag", "W/\"x\"")
            .header("last-modified", "yesterday")
            .body(b"ok".to_vec())
            .unwrap();
        let Fetched::Modified { body, validators } = read_response(&r, 10).unwrap() else {
            panic!()
        };
        assert_eq!(body, b"ok");
        assert_eq!(validators.etag.as_deref(), Some("W/\"x\""));
        assert_eq!(validators.last_modified, None, "not an HTTP date");
    }
}

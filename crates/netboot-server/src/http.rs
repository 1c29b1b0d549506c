//! The HTTP side: the disk images of the `.nbi` folders, with byte ranges,
//! validators and conditional requests, plus `/healthz` and `/metrics`.
//!
//! A URL `<path>/<Name>.nbi/<file...>` maps to `<images>/<Name>.nbi/<file...>`.
//! Only files inside a `.nbi` folder are served; no listings, no `..`, no
//! encoded separators or NUL bytes, no symbolic link that leads out of the
//! image folder. Error bodies never contain server paths.

use std::collections::VecDeque;
use std::fs::{File, Metadata};
use std::io;
use std::net::SocketAddr;
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures_util::stream;
use http::header::{
    ACCEPT_RANGES, ALLOW, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, ETAG, IF_MODIFIED_SINCE,
    IF_NONE_MATCH, IF_RANGE, LAST_MODIFIED, RANGE,
};
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

use crate::range::{self, Ranges};
use crate::urlpath::{self, Refused};

/// A response body.
pub type Body = BoxBody<Bytes, io::Error>;

/// Bytes read from disk per body frame of a streamed body.
const CHUNK: u64 = 512 * 1024;
/// Bodies with at most this many file bytes are read in one go.
const SMALL_BODY: u64 = 1024 * 1024;
/// Time a client has to send a request's headers.
const HEADER_TIMEOUT: Duration = Duration::from_secs(30);

/// Answers for the service's own paths (`/healthz`, `/metrics`), `None`
/// for every other path.
pub type StatusPages = Arc<dyn Fn(&str) -> Option<Response<Body>> + Send + Sync>;

/// Counters of the HTTP side.
#[derive(Debug, Default)]
pub struct HttpStats {
    /// Requests answered 200.
    pub full: AtomicU64,
    /// Requests answered 206.
    pub partial: AtomicU64,
    /// Requests answered 304.
    pub not_modified: AtomicU64,
    /// Requests answered 4xx or 5xx.
    pub errors: AtomicU64,
    /// Body bytes of file responses (as announced in Content-Length).
    pub bytes: AtomicU64,
    /// Connections refused at the connection limit.
    pub refused_connections: AtomicU64,
}

/// What the HTTP handlers need.
pub struct HttpContext {
    /// The image folder, canonical.
    pub root: PathBuf,
    /// URL path of the image folder, without a trailing `/`.
    pub prefix: String,
    /// Counters.
    pub stats: Arc<HttpStats>,
    /// `/healthz` and `/metrics`.
    pub status: StatusPages,
}

impl std::fmt::Debug for HttpContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpContext")
            .field("root", &self.root)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

/// Serves connections from `listener` until `shutdown` turns true; then
/// stops accepting and lets running requests finish for up to 5 seconds.
pub async fn serve(
    listener: TcpListener,
    ctx: Arc<HttpContext>,
    max_connections: usize,
    mut shutdown: watch::Receiver<bool>,
) {
    let permits = Arc::new(Semaphore::new(max_connections));
    loop {
        let accepted = tokio::select! {
            () = stopped(&mut shutdown) => return,
            a = listener.accept() => a,
        };
        let (stream, peer) = match accepted {
            Ok(x) => x,
            Err(e) => {
                tracing::debug!(error = %e, "http: accept failed");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let Ok(permit) = Arc::clone(&permits).try_acquire_owned() else {
            ctx.stats
                .refused_connections
                .fetch_add(1, Ordering::Relaxed);
            tracing::warn!(%peer, max_connections, "http: connection limit reached, refused");
            continue;
        };
        let ctx = Arc::clone(&ctx);
        let mut shutdown = shutdown.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let _ = stream.set_nodelay(true);
            let svc = hyper::service::service_fn(move |req| {
                let ctx = Arc::clone(&ctx);
                async move { Ok::<_, std::convert::Infallible>(handle(&ctx, peer, req).await) }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(TokioIo::new(stream), svc);
            tokio::pin!(conn);
            tokio::select! {
                r = conn.as_mut() => {
                    if let Err(e) = r {
                        tracing::debug!(%peer, error = %e, "http: connection ended");
                    }
                }
                () = stopped(&mut shutdown) => {
                    conn.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(Duration::from_secs(5), conn).await;
                }
            }
        });
    }
}

/// Resolves once `rx` turns true (or its sender is gone).
pub async fn stopped(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}

/// Answers one request.
pub async fn handle(ctx: &HttpContext, peer: SocketAddr, req: Request<Incoming>) -> Response<Body> {
    let (parts, _body) = req.into_parts();
    let path = parts.uri.path().to_owned();
    if let Some(r) = (ctx.status)(&path) {
        return r;
    }
    let head = parts.method == Method::HEAD;
    if parts.method != Method::GET && !head {
        let mut r = text(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD\n");
        r.headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        ctx.stats.errors.fetch_add(1, Ordering::Relaxed);
        return r;
    }
    let response = serve_file(ctx, &path, &parts.headers, head).await;
    let response = response
        .unwrap_or_else(|status| text(status, status.canonical_reason().unwrap_or("error")));
    count(&ctx.stats, &response);
    let status = response.status();
    let length = response
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("0")
        .to_owned();
    if status == StatusCode::OK {
        tracing::info!(%peer, method = %parts.method, %path, status = status.as_u16(), bytes = %length, "http: image sent");
    } else {
        let range = parts
            .headers
            .get(RANGE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        tracing::debug!(%peer, method = %parts.method, %path, range, status = status.as_u16(), bytes = %length, "http: request");
    }
    response
}

fn count(stats: &HttpStats, r: &Response<Body>) {
    let c = match r.status() {
        StatusCode::OK => &stats.full,
        StatusCode::PARTIAL_CONTENT => &stats.partial,
        StatusCode::NOT_MODIFIED => &stats.not_modified,
        _ => &stats.errors,
    };
    c.fetch_add(1, Ordering::Relaxed);
    if r.status().is_success()
        && let Some(n) = r
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
    {
        stats.bytes.fetch_add(n, Ordering::Relaxed);
    }
}

/// A plain-text response.
pub fn text(status: StatusCode, body: &str) -> Response<Body> {
    let mut r = Response::new(full(Bytes::copy_from_slice(body.as_bytes())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// A body of `bytes`.
pub fn full(bytes: Bytes) -> Body {
    Full::new(bytes).map_err(|never| match never {}).boxed()
}

/// Maps a URL path to a file under `root`: `Err` is the status to answer.
pub fn resolve(root: &Path, prefix: &str, url_path: &str) -> Result<PathBuf, StatusCode> {
    let rel = relative_path(prefix, url_path)?;
    resolve_in(root, &root.join(rel), url_path)
}

/// `full`, with its links followed, if it is still under `root`.
fn resolve_in(root: &Path, full: &Path, url_path: &str) -> Result<PathBuf, StatusCode> {
    // Symbolic links may point anywhere inside the image folder, never out.
    let canonical = std::fs::canonicalize(full).map_err(|_| StatusCode::NOT_FOUND)?;
    if !canonical.starts_with(root) {
        tracing::warn!(path = %url_path, "http: a link out of the image folder refused");
        return Err(StatusCode::NOT_FOUND);
    }
    Ok(canonical)
}

/// [`crate::urlpath::relative_path`] with its refusal as a status.
pub fn relative_path(prefix: &str, url_path: &str) -> Result<PathBuf, StatusCode> {
    urlpath::relative_path(prefix, url_path).map_err(|r| match r {
        Refused::NotFound => StatusCode::NOT_FOUND,
        Refused::BadRequest => StatusCode::BAD_REQUEST,
    })
}

/// The validators of a file: a strong entity tag from its length and
/// modification time, and the time itself.
fn validators(len: u64, modified: Option<SystemTime>) -> (String, Option<SystemTime>) {
    let since = modified
        .and_then(|m| m.duration_since(UNIX_EPOCH).ok())
        .unwrap_or_default();
    (
        format!(
            "\"{len:x}-{:x}.{:x}\"",
            since.as_secs(),
            since.subsec_nanos()
        ),
        modified,
    )
}

/// Whether `If-None-Match` (a list of tags, or `*`) matches `etag` (weak
/// comparison, as RFC 9110 §13.1.2 asks).
fn none_match(header: &str, etag: &str) -> bool {
    let bare = etag.trim_start_matches("W/");
    header
        .split(',')
        .map(str::trim)
        .any(|t| t == "*" || t.trim_start_matches("W/") == bare)
}

/// Whether `If-Range` lets the range apply: a strong tag equal to ours, or
/// a date equal to our Last-Modified.
fn if_range_holds(header: &str, etag: &str, modified: Option<SystemTime>) -> bool {
    let h = header.trim();
    if h.starts_with('"') {
        return h == etag;
    }
    if h.starts_with("W/") {
        return false;
    }
    match (httpdate::parse_http_date(h), modified) {
        (Ok(d), Some(m)) => httpdate::fmt_http_date(d) == httpdate::fmt_http_date(m),
        _ => false,
    }
}

/// Resolves, opens and reads the metadata in one trip to the blocking
/// pool.
async fn open(ctx: &HttpContext, url_path: &str) -> Result<(File, Metadata), StatusCode> {
    let rel = relative_path(&ctx.prefix, url_path)?;
    let root = ctx.root.clone();
    let url_path = url_path.to_owned();
    tokio::task::spawn_blocking(move || {
        let rel = root.join(rel);
        let path = resolve_in(&root, &rel, &url_path)?;
        let file = File::open(path).map_err(|_| StatusCode::NOT_FOUND)?;
        let meta = file.metadata().map_err(|_| StatusCode::NOT_FOUND)?;
        if !meta.is_file() {
            return Err(StatusCode::NOT_FOUND);
        }
        Ok((file, meta))
    })
    .await
    .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?
}

async fn serve_file(
    ctx: &HttpContext,
    url_path: &str,
    headers: &HeaderMap,
    head: bool,
) -> Result<Response<Body>, StatusCode> {
    let (file, meta) = open(ctx, url_path).await?;
    let len = meta.len();
    let (etag, modified) = validators(len, meta.modified().ok());
    let header = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };

    let not_modified = match header(IF_NONE_MATCH) {
        Some(inm) => none_match(inm, &etag),
        None => match (header(IF_MODIFIED_SINCE), modified) {
            (Some(ims), Some(m)) => httpdate::parse_http_date(ims)
                .map(|d| httpdate::fmt_http_date(m) == httpdate::fmt_http_date(d) || m <= d)
                .unwrap_or(false),
            _ => false,
        },
    };
    let mut builder = Response::builder()
        .header(ACCEPT_RANGES, "bytes")
        .header(ETAG, &etag);
    if let Some(m) = modified {
        builder = builder.header(LAST_MODIFIED, httpdate::fmt_http_date(m));
    }
    if not_modified {
        return builder
            .status(StatusCode::NOT_MODIFIED)
            .body(full(Bytes::new()))
            .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR);
    }
    let range_header = match header(IF_RANGE) {
        Some(ir) if !if_range_holds(ir, &etag, modified) => None,
        _ => header(RANGE),
    };
    let (status, segments, body_len, content_type) = match range::parse(range_header, len) {
        Ranges::Full => (
            StatusCode::OK,
            vec![Segment::File(0..len)],
            len,
            "application/octet-stream".to_owned(),
        ),
        Ranges::Unsatisfiable => {
            return builder
                .status(StatusCode::RANGE_NOT_SATISFIABLE)
                .header(CONTENT_RANGE, format!("bytes */{len}"))
                .header(CONTENT_TYPE, "text/plain; charset=utf-8")
                .body(full(Bytes::from_static(b"Range Not Satisfiable")))
                .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR);
        }
        Ranges::Partial(ranges) if ranges.len() == 1 => {
            let r = ranges[0].clone();
            builder = builder.header(
                CONTENT_RANGE,
                format!("bytes {}-{}/{len}", r.start, r.end - 1),
            );
            let n = r.end - r.start;
            (
                StatusCode::PARTIAL_CONTENT,
                vec![Segment::File(r)],
                n,
                "application/octet-stream".to_owned(),
            )
        }
        Ranges::Partial(ranges) => {
            let boundary = format!("nbi-{}", etag.trim_matches('"').replace('.', "-"));
            let (segments, n) = multipart(&ranges, len, &boundary);
            (
                StatusCode::PARTIAL_CONTENT,
                segments,
                n,
                format!("multipart/byteranges; boundary={boundary}"),
            )
        }
    };
    let builder = builder
        .status(status)
        .header(CONTENT_TYPE, content_type)
        .header(CONTENT_LENGTH, body_len);
    let body = if head || body_len == 0 {
        full(Bytes::new())
    } else {
        file_body(file, segments).await?
    };
    builder
        .body(body)
        .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)
}

/// A piece of a response body.
#[derive(Debug)]
enum Segment {
    Bytes(Bytes),
    File(Range<u64>),
}

/// The parts of a `multipart/byteranges` body and its length.
fn multipart(ranges: &[Range<u64>], len: u64, boundary: &str) -> (Vec<Segment>, u64) {
    let mut segments = Vec::with_capacity(ranges.len() * 2 + 1);
    let mut total = 0u64;
    for r in ranges {
        let head = format!(
            "\r\n--{boundary}\r\nContent-Type: application/octet-stream\r\nContent-Range: bytes {}-{}/{len}\r\n\r\n",
            r.start,
            r.end - 1
        );
        total += head.len() as u64 + (r.end - r.start);
        segments.push(Segment::Bytes(Bytes::from(head)));
        segments.push(Segment::File(r.clone()));
    }
    let tail = format!("\r\n--{boundary}--\r\n");
    total += tail.len() as u64;
    segments.push(Segment::Bytes(Bytes::from(tail)));
    (segments, total)
}

/// Reads `range` of `file` completely, at its offset (no shared file
/// position), in the calling thread.
fn read_range(file: &File, range: Range<u64>) -> io::Result<Bytes> {
    let n = usize::try_from(range.end - range.start)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "range too large"))?;
    let mut buf = vec![0u8; n];
    // A file that shrank under us ends the body early (UnexpectedEof), so
    // the client sees a short read, never wrong data.
    file.read_exact_at(&mut buf, range.start)?;
    Ok(Bytes::from(buf))
}

/// The body for `segments`: read at once when the file parts are small
/// (one trip to the blocking pool), else streamed in chunks as the client
/// takes them.
async fn file_body(file: File, segments: Vec<Segment>) -> Result<Body, StatusCode> {
    let file_bytes: u64 = segments
        .iter()
        .map(|s| match s {
            Segment::File(r) => r.end - r.start,
            Segment::Bytes(_) => 0,
        })
        .sum();
    if file_bytes <= SMALL_BODY {
        let parts = tokio::task::spawn_blocking(move || {
            segments
                .into_iter()
                .map(|s| match s {
                    Segment::Bytes(b) => Ok(b),
                    Segment::File(r) => read_range(&file, r),
                })
                .collect::<io::Result<Vec<Bytes>>>()
        })
        .await
        .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?
        .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
        let body = if parts.len() == 1 {
            parts.into_iter().next().unwrap_or_default()
        } else {
            Bytes::from(parts.concat())
        };
        return Ok(full(body));
    }
    let state = BodyState {
        file: Arc::new(file),
        segments: segments.into(),
    };
    let s = stream::unfold(state, |mut st| async move {
        match st.segments.pop_front()? {
            Segment::Bytes(b) => Some((Ok(Frame::data(b)), st)),
            Segment::File(r) => {
                let end = r.end.min(r.start + CHUNK);
                if end < r.end {
                    st.segments.push_front(Segment::File(end..r.end));
                }
                let file = Arc::clone(&st.file);
                let read = tokio::task::spawn_blocking(move || read_range(&file, r.start..end))
                    .await
                    .unwrap_or_else(|e| Err(io::Error::other(e)));
                match read {
                    Ok(b) => Some((Ok(Frame::data(b)), st)),
                    Err(e) => {
                        st.segments.clear();
                        Some((Err(e), st))
                    }
                }
            }
        }
    });
    Ok(BodyExt::boxed(StreamBody::new(s)))
}

/// Where a streamed body is: what is left to send.
struct BodyState {
    file: Arc<File>,
    segments: VecDeque<Segment>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validators_and_conditions() {
        let t = UNIX_EPOCH + Duration::new(1_700_000_000, 5);
        let (etag, _) = validators(4096, Some(t));
        assert_eq!(etag, "\"1000-6553f100.5\"");
        assert!(none_match(&etag, &etag));
        assert!(none_match("\"x\", W/\"1000-6553f100.5\"", &etag));
        assert!(none_match("*", &etag));
        assert!(!none_match("\"x\"", &etag));
        assert!(if_range_holds(&etag, &etag, Some(t)));
        assert!(!if_range_holds(&format!("W/{etag}"), &etag, Some(t)));
        assert!(if_range_holds(&httpdate::fmt_http_date(t), &etag, Some(t)));
        assert!(!if_range_holds(
            "Tue, 15 Nov 1994 08:12:31 GMT",
            &etag,
            Some(t)
        ));
    }

    #[test]
    fn multipart_length_is_exact() {
        let (segments, n) = multipart(&[0..10, 20..25], 100, "b");
        let total: u64 = segments
            .iter()
            .map(|s| match s {
                Segment::Bytes(b) => b.len() as u64,
                Segment::File(r) => r.end - r.start,
            })
            .sum();
        assert_eq!(n, total);
        let Segment::Bytes(first) = &segments[0] else {
            panic!("a part header first")
        };
        assert_eq!(
            &first[..],
            b"\r\n--b\r\nContent-Type: application/octet-stream\r\nContent-Range: bytes 0-9/100\r\n\r\n"
        );
    }
}

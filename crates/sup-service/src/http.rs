//! The HTTPS listener ConfigMgr subscribes to.
//!
//! | path | what |
//! |---|---|
//! | `GET`/`HEAD /catalogs/<name>.cab` | the signed catalog (`ETag` and `Last-Modified`; conditional requests answered with 304) |
//! | `GET /catalogs/<name>.cer` | the signing certificate (DER), to approve or import |
//! | `GET /healthz` | health as JSON (503 until a catalog is published) |
//! | `GET /metrics` | Prometheus metrics |

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tracing::{debug, warn};

/// How long a TLS handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The catalog being served.
#[derive(Clone, Debug)]
pub struct Served {
    /// The signed cabinet.
    pub cab: Bytes,
    /// Its SHA-256, hex (the `ETag`).
    pub sha256: String,
    /// When it was built.
    pub built_at: SystemTime,
}

/// What the routes share.
#[derive(Debug)]
pub struct Shared {
    /// `<name>` in the paths.
    pub catalog_name: String,
    /// The current catalog, once there is one.
    pub current: RwLock<Option<Arc<Served>>>,
    /// The signing certificate, DER.
    pub signing_cert: Bytes,
    /// Health.
    pub health: pippin_service::Health,
    /// Metrics.
    pub metrics: pippin_service::Metrics,
    /// Catalog downloads served.
    pub downloads: pippin_service::Counter,
}

impl Shared {
    /// Replaces the served catalog.
    pub fn set_current(&self, served: Served) {
        let mut slot = self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *slot = Some(Arc::new(served));
    }

    fn current(&self) -> Option<Arc<Served>> {
        self.current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

/// The routes.
pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/catalogs/{file}", get(catalog_file))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .with_state(shared)
}

async fn catalog_file(
    State(shared): State<Arc<Shared>>,
    Path(file): Path<String>,
    headers: HeaderMap,
) -> Response {
    let name = &shared.catalog_name;
    if file.strip_suffix(".cer") == Some(name.as_str()) {
        return (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/pkix-cert"),
            )],
            shared.signing_cert.clone(),
        )
            .into_response();
    }
    if file.strip_suffix(".cab") != Some(name.as_str()) {
        return (StatusCode::NOT_FOUND, "no such catalog\n").into_response();
    }
    let Some(served) = shared.current() else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, HeaderValue::from_static("300"))],
            "no catalog has been published yet\n",
        )
            .into_response();
    };
    let etag = format!("\"{}\"", served.sha256);
    let last_modified = httpdate::fmt_http_date(served.built_at);
    let not_modified = match headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
    {
        Some(tags) => tags.split(',').any(|t| {
            let t = t.trim();
            t == "*" || t.trim_start_matches("W/") == etag
        }),
        None => headers
            .get(header::IF_MODIFIED_SINCE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| httpdate::parse_http_date(v).ok())
            .is_some_and(|since| {
                // HTTP dates have whole seconds.
                let built = httpdate::parse_http_date(&last_modified).unwrap_or(served.built_at);
                built <= since
            }),
    };
    let mut response = if not_modified {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        shared.downloads.inc();
        (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/vnd.ms-cab-compressed"),
            )],
            served.cab.clone(),
        )
            .into_response()
    };
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    if let Ok(v) = HeaderValue::from_str(&last_modified) {
        h.insert(header::LAST_MODIFIED, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

async fn healthz(State(shared): State<Arc<Shared>>) -> Response {
    let report = shared.health.report();
    let status =
        StatusCode::from_u16(report.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        report.to_json(),
    )
        .into_response()
}

async fn metrics(State(shared): State<Arc<Shared>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4"),
        )],
        shared.metrics.render(),
    )
        .into_response()
}

/// Serves HTTPS on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    router: Router,
    shutdown: impl Future<Output = ()>,
) {
    let acceptor = TlsAcceptor::from(tls);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let acceptor = acceptor.clone();
        let router = router.clone();
        tokio::spawn(connection(acceptor, stream, peer, router));
    }
}

async fn connection(
    acceptor: TlsAcceptor,
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    router: Router,
) {
    let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            debug!(%peer, error = %e, "TLS handshake failed");
            return;
        }
        Err(_) => {
            debug!(%peer, "TLS handshake timed out");
            return;
        }
    };
    let svc = TowerToHyperService::new(router);
    if let Err(e) = auto::Builder::new(TokioExecutor::new())
        .serve_connection(TokioIo::new(tls), svc)
        .await
    {
        debug!(%peer, error = %e, "connection ended with an error");
    }
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt as _;

    use super::*;

    fn shared() -> Arc<Shared> {
        let metrics = pippin_service::Metrics::new();
        let downloads = metrics
            .counter("downloads_total", "downloads", &[])
            .unwrap();
        Arc::new(Shared {
            catalog_name: "apple".into(),
            current: RwLock::new(None),
            signing_cert: Bytes::from_static(b"\x30\x03\x02\x01\x01"),
            health: pippin_service::Health::new(),
            metrics,
            downloads,
        })
    }

    async fn get(
        shared: &Arc<Shared>,
        path: &str,
        headers: &[(&str, &str)],
    ) -> (StatusCode, HeaderMap, Vec<u8>) {
        let mut req = Request::get(path);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = router(shared.clone())
            .oneshot(req.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .unwrap()
            .to_vec();
        (status, headers, body)
    }

    #[tokio::test]
    async fn serves_the_catalog_with_validators() {
        let s = shared();
        let (st, h, _) = get(&s, "/catalogs/apple.cab", &[]).await;
        assert_eq!(st, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(h[header::RETRY_AFTER], "300");

        let built = SystemTime::UNIX_EPOCH + Duration::from_secs(1_717_200_000);
        s.set_current(Served {
            cab: Bytes::from_static(b"MSCF cab"),
            sha256: "ab".repeat(32),
            built_at: built,
        });
        let (st, h, body) = get(&s, "/catalogs/apple.cab", &[]).await;
        assert_eq!(st, StatusCode::OK);
        assert_eq!(body, b"MSCF cab");
        let etag = h[header::ETAG].to_str().unwrap().to_owned();
        assert_eq!(etag, format!("\"{}\"", "ab".repeat(32)));
        assert_eq!(h[header::LAST_MODIFIED], "Sat, 01 Jun 2024 00:00:00 GMT");
        assert_eq!(h[header::CONTENT_TYPE], "application/vnd.ms-cab-compressed");
        assert_eq!(s.downloads.get(), 1);

        let (st, _, body) = get(&s, "/catalogs/apple.cab", &[("if-none-match", &etag)]).await;
        assert_eq!((st, body.len()), (StatusCode::NOT_MODIFIED, 0));
        let (st, _, _) = get(
            &s,
            "/catalogs/apple.cab",
            &[("if-none-match", "\"other\", W/\"x\"")],
        )
        .await;
        assert_eq!(st, StatusCode::OK);
        // If-None-Match wins over If-Modified-Since (RFC 9110 §13.2.2).
        let (st, _, _) = get(
            &s,
            "/catalogs/apple.cab",
            &[
                ("if-none-match", "\"other\""),
                ("if-modified-since", "Sun, 02 Jun 2024 00:00:00 GMT"),
            ],
        )
        .await;
        assert_eq!(st, StatusCode::OK);
        let (st, _, _) = get(
            &s,
            "/catalogs/apple.cab",
            &[("if-modified-since", "Sat, 01 Jun 2024 00:00:00 GMT")],
        )
        .await;
        assert_eq!(st, StatusCode::NOT_MODIFIED);
        let (st, _, _) = get(
            &s,
            "/catalogs/apple.cab",
            &[("if-modified-since", "Fri, 31 May 2024 23:59:59 GMT")],
        )
        .await;
        assert_eq!(st, StatusCode::OK);
        let (st, _, _) = get(
            &s,
            "/catalogs/apple.cab",
            &[("if-modified-since", "not a date")],
        )
        .await;
        assert_eq!(st, StatusCode::OK);
        assert_eq!(s.downloads.get(), 5);
    }

    #[tokio::test]
    async fn certificate_health_and_unknown_paths() {
        let s = shared();
        let (st, h, body) = get(&s, "/catalogs/apple.cer", &[]).await;
        assert_eq!(st, StatusCode::OK);
        assert_eq!(h[header::CONTENT_TYPE], "application/pkix-cert");
        assert_eq!(body, b"\x30\x03\x02\x01\x01");
        for path in [
            "/catalogs/other.cab",
            "/catalogs/apple.xml",
            "/catalogs/..%2fstate.json",
            "/state.json",
        ] {
            let (st, _, _) = get(&s, path, &[]).await;
            assert_eq!(st, StatusCode::NOT_FOUND, "{path}");
        }
        s.health
            .set("catalog", pippin_service::HealthStatus::Down, "none yet");
        let (st, _, body) = get(&s, "/healthz", &[]).await;
        assert_eq!(st, StatusCode::SERVICE_UNAVAILABLE);
        assert!(String::from_utf8(body).unwrap().contains("none yet"));
        let (st, _, body) = get(&s, "/metrics", &[]).await;
        assert_eq!(st, StatusCode::OK);
        assert!(String::from_utf8(body).unwrap().contains("downloads_total"));
    }
}

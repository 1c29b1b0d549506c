//! The HTTPS listener: TLS (client certificates optional, checked per
//! route), the routes, and the accept loop.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Extension, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use serde::Deserialize;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;
use tracing::{debug, info, warn};

use crate::mdm::{self, Presented};
use crate::state::App;
use crate::{api, dep, vpp};

/// The client certificate of the TLS connection a request came on.
#[derive(Clone, Debug, Default)]
pub struct PeerCertificate(pub Option<Arc<Vec<u8>>>);

/// How long a TLS handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Every route of the service.
pub fn router(app: Arc<App>) -> Router {
    let mdm_limit = app.config.max_body_bytes;
    let api = Router::new()
        .route("/devices", get(api::list_devices))
        .route("/devices/{udid}", get(api::get_device))
        .route("/devices/{udid}/commands", post(api::queue_command))
        .route("/devices/{udid}/push", post(api::push_device))
        .route("/devices/{udid}/unenroll", post(api::unenroll_device))
        .route(
            "/commands",
            post(crate::bulk::queue_bulk_command)
                .layer(DefaultBodyLimit::max(crate::bulk::MAX_BULK_BODY)),
        )
        .route(
            "/commands/{uuid}",
            get(api::get_command).delete(api::cancel_command),
        )
        .route("/pushcert", get(api::get_pushcert).put(api::put_pushcert))
        .route("/dep/certificate", get(dep::get_certificate))
        .route("/dep/links", get(dep::list_links))
        .route(
            "/dep/links/{name}",
            get(dep::get_link)
                .put(dep::put_link)
                .delete(dep::delete_link),
        )
        .route("/dep/links/{name}/sync", post(dep::sync_link))
        .route("/dep/devices", get(dep::list_devices))
        .route("/dep/devices/{serial}/assign", post(dep::reassign_device))
        .route("/vpp/tokens", get(vpp::list_tokens))
        .route(
            "/vpp/tokens/{name}",
            get(vpp::get_token)
                .put(vpp::put_token)
                .delete(vpp::delete_token),
        )
        .route("/vpp/tokens/{name}/sync", post(vpp::sync_token))
        .route("/vpp/assets", get(vpp::list_assets))
        .route(
            "/vpp/assignments",
            get(vpp::list_assignments).post(vpp::assign),
        )
        .route("/vpp/assignments/remove", post(vpp::unassign))
        .route("/audit", get(api::list_audit))
        .route(
            "/software-updates/publications",
            get(api::list_publications)
                .post(api::record_publication)
                .layer(DefaultBodyLimit::max(api::MAX_PUBLICATION_BODY)),
        )
        .route(
            "/software-updates/publications/latest",
            get(api::latest_publication),
        )
        .route("/openapi.json", get(openapi))
        .fallback(api::not_found)
        .layer(DefaultBodyLimit::max(1024 * 1024));
    Router::new()
        .route("/mdm/enroll", get(enroll))
        .route("/mdm/dep/enroll", post(dep::enroll))
        .route("/mdm/vpp/notify/{name}", post(vpp::notify))
        .route("/mdm/checkin", put(mdm_request).post(mdm_request))
        .route("/mdm/connect", put(mdm_request).post(mdm_request))
        .route("/scep", get(scep_get).post(scep_post))
        .route("/ca.pem", get(ca_pem))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .nest("/api/v1", api)
        .layer(DefaultBodyLimit::max(mdm_limit))
        .with_state(app)
}

async fn enroll(State(app): State<Arc<App>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-apple-aspen-config"),
        )],
        app.push.current().profile.to_vec(),
    )
        .into_response()
}

/// The admin API's OpenAPI document.
pub const OPENAPI: &str = include_str!("openapi/v1.json");

async fn openapi() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        OPENAPI,
    )
        .into_response()
}

async fn ca_pem(State(app): State<Arc<App>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-pem-file"),
        )],
        app.ca_pem.clone(),
    )
        .into_response()
}

async fn healthz(State(app): State<Arc<App>>) -> Response {
    match app.store.health().await {
        Ok(()) => (
            StatusCode::OK,
            axum::Json(serde_json::json!({"status": "ok"})),
        )
            .into_response(),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(serde_json::json!({"status": "unavailable", "store": e.to_string()})),
        )
            .into_response(),
    }
}

async fn metrics(State(app): State<Arc<App>>) -> Response {
    dep::update_metrics(&app).await;
    if let Ok(n) = app.store.queue_depth_total().await {
        #[allow(clippy::cast_precision_loss)]
        app.metrics.queue_depth.set(n as f64);
    }
    if let Ok(n) = app.store.count_enrollments(true).await {
        #[allow(clippy::cast_precision_loss)]
        app.metrics.enrolled.set(n as f64);
    }
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(pippin_service::Metrics::CONTENT_TYPE),
        )],
        app.metrics.registry.render(),
    )
        .into_response()
}

async fn mdm_request(
    State(app): State<Arc<App>>,
    Extension(peer): Extension<PeerCertificate>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let sig = headers.get("mdm-signature").and_then(|v| v.to_str().ok());
    let presented = Presented {
        tls_certificate: peer.0.as_deref().map(Vec::as_slice),
        mdm_signature: sig,
    };
    let r = mdm::handle(&app, presented, &body).await;
    let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    match r.content_type {
        Some(ct) => (status, [(header::CONTENT_TYPE, ct)], r.body).into_response(),
        None => status.into_response(),
    }
}

#[derive(Debug, Deserialize)]
struct ScepQuery {
    operation: Option<String>,
    message: Option<String>,
}

async fn scep_answer(app: &App, operation: Option<&str>, message: Option<&[u8]>) -> Response {
    let Some(op) = operation else {
        return (StatusCode::BAD_REQUEST, "missing operation").into_response();
    };
    let mut rng = scep::rand_core::UnwrapErr(getrandom::SysRng);
    let now = SystemTime::now();
    match app.scep.handle(op, message, now, &mut rng) {
        Ok(resp) => {
            match &resp.outcome {
                scep::Outcome::Issued(i) => {
                    info!(
                        transaction = i.transaction_id.as_str(),
                        renewal = i.is_renewal(),
                        "SCEP certificate issued"
                    );
                    // A renewal: remember what the new certificate replaces,
                    // so the device is re-bound when it first presents it.
                    if let Some(old) = &i.renewal_of {
                        let old_sha = pippin_service::cert_sha256(old);
                        let at = crate::state::unix_millis(now);
                        if let Err(e) = app.store.record_renewal(old_sha, i.sha256, at).await {
                            warn!(error = %e, "cannot record the SCEP renewal");
                            return (StatusCode::INTERNAL_SERVER_ERROR, "internal error")
                                .into_response();
                        }
                    }
                }
                scep::Outcome::Rejected(r) => warn!(
                    transaction = r.transaction_id.as_str(),
                    reason = %r.reason,
                    "SCEP request refused"
                ),
                _ => debug!(operation = op, "SCEP"),
            }
            ([(header::CONTENT_TYPE, resp.content_type)], resp.body).into_response()
        }
        Err(e) => {
            warn!(operation = op, error = %e, "bad SCEP request");
            let status = if matches!(e, scep::Error::UnsupportedOperation(_)) {
                StatusCode::NOT_FOUND
            } else {
                StatusCode::BAD_REQUEST
            };
            (status, e.to_string()).into_response()
        }
    }
}

async fn scep_get(State(app): State<Arc<App>>, Query(q): Query<ScepQuery>) -> Response {
    scep_answer(
        &app,
        q.operation.as_deref(),
        q.message.as_deref().map(str::as_bytes),
    )
    .await
}

async fn scep_post(
    State(app): State<Arc<App>>,
    Query(q): Query<ScepQuery>,
    body: Bytes,
) -> Response {
    scep_answer(&app, q.operation.as_deref(), Some(&body)).await
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
        let _ = stream.set_nodelay(true);
        let acceptor = acceptor.clone();
        let router = router.clone();
        tokio::spawn(async move {
            connection(acceptor, stream, peer, router).await;
        });
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
    let cert = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first())
        .map(|c| Arc::new(c.as_ref().to_vec()));
    let peer_cert = PeerCertificate(cert);
    let svc = router.map_request(move |mut req: axum::http::Request<hyper::body::Incoming>| {
        req.extensions_mut().insert(peer_cert.clone());
        req
    });
    let svc = TowerToHyperService::new(svc);
    if let Err(e) = auto::Builder::new(TokioExecutor::new())
        .serve_connection(TokioIo::new(tls), svc)
        .await
    {
        debug!(%peer, error = %e, "connection ended with an error");
    }
}

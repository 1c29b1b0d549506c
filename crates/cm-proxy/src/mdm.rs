//! The MDM endpoints: check-ins and command reports.
//!
//! Both `PUT /mdm/checkin` and `PUT /mdm/connect` accept either kind of
//! message (a dictionary with `MessageType` is a check-in, one with `Status`
//! a command report), as Apple's protocol allows a single URL for both.
//!
//! Device identity comes from the TLS client certificate, or — when the
//! service is configured to sit behind a TLS-terminating proxy — from a
//! verified `Mdm-Signature` header. Either way the certificate must have
//! been issued by our SCEP CA; the first `Authenticate` binds its SHA-256 to
//! the enrollment and every later request must present the same one (a SCEP
//! renewal re-binds it).

use std::sync::Arc;
use std::time::SystemTime;

use apple_mdm_protocol::checkin::{CheckInMessage, bootstrap_token_response};
use apple_mdm_protocol::{
    CheckIn, CommandReport, EnrollmentId, Message, Status, decode_request, signature,
};
use pippin_plist::Limits;
use pippin_store::{AuthenticateRecord, InventoryKind, QueueError, TokenUpdateRecord};
use tracing::{debug, info, warn};

use crate::state::{App, unix_millis};

/// What a device request is answered with.
#[derive(Debug)]
pub struct MdmResponse {
    /// HTTP status.
    pub status: u16,
    /// `Content-Type`, when there is a body.
    pub content_type: Option<&'static str>,
    /// The body.
    pub body: Vec<u8>,
}

impl MdmResponse {
    fn empty(status: u16) -> Self {
        Self {
            status,
            content_type: None,
            body: Vec::new(),
        }
    }

    fn plist(body: Vec<u8>) -> Self {
        Self {
            status: 200,
            content_type: Some("application/xml"),
            body,
        }
    }

    fn text(status: u16, msg: &str) -> Self {
        Self {
            status,
            content_type: Some("text/plain; charset=utf-8"),
            body: msg.as_bytes().to_vec(),
        }
    }
}

/// How the device proved who it is.
#[derive(Debug)]
pub struct Presented<'a> {
    /// The TLS client certificate (DER), if the handshake had one.
    pub tls_certificate: Option<&'a [u8]>,
    /// The `Mdm-Signature` header, if any.
    pub mdm_signature: Option<&'a str>,
}

/// Handles one request to the check-in or server URL.
pub async fn handle(app: &Arc<App>, presented: Presented<'_>, body: &[u8]) -> MdmResponse {
    app.metrics.requests.inc();
    // Who is it? The certificate must come from our SCEP CA.
    let cert_der: Vec<u8> = match (presented.tls_certificate, presented.mdm_signature) {
        (Some(der), _) => der.to_vec(),
        (None, Some(sig)) if app.config.trust_mdm_signature => {
            match signature::verify_mdm_signature(sig, body) {
                Ok(signer) => signer.certificate_der().to_vec(),
                Err(e) => {
                    warn!(error = %e, "Mdm-Signature did not verify");
                    app.metrics.rejected.inc();
                    return MdmResponse::text(401, "bad Mdm-Signature");
                }
            }
        }
        _ => {
            app.metrics.rejected.inc();
            return MdmResponse::text(401, "a device identity certificate is required");
        }
    };
    // A TLS client certificate was already verified against the SCEP CA by
    // the handshake; a certificate from a signature header is checked here.
    if presented.tls_certificate.is_none()
        && !app
            .scep
            .config()
            .ca()
            .has_issued(&cert_der, SystemTime::now())
    {
        warn!("device certificate not issued by this server's SCEP CA, or expired");
        app.metrics.rejected.inc();
        return MdmResponse::text(401, "device certificate not issued by this server");
    }
    let cert_sha = pippin_service::cert_sha256(&cert_der);

    let limits = Limits::default()
        .max_input_len(app.config.max_body_bytes)
        .clone();
    let (message, id) = match decode_request(body, &limits) {
        Ok(m) => m,
        Err(e) => {
            warn!(error = %e, bytes = body.len(), "undecodable MDM message");
            app.metrics.malformed.inc();
            return MdmResponse::text(400, &format!("malformed message: {e}"));
        }
    };
    let result = match message {
        Message::CheckIn(c) => checkin(app, &id, c, cert_sha).await,
        Message::Report(r) => {
            match check_binding(app, &id, cert_sha).await {
                Ok(()) => {}
                Err(resp) => return resp,
            }
            report(app, &id, r, body).await
        }
    };
    result.unwrap_or_else(|e| {
        warn!(enrollment = %id, error = %e, "store failure handling a device request");
        MdmResponse::text(500, "internal error")
    })
}

/// The certificate must be the one bound to an enrolled device.
async fn check_binding(
    app: &Arc<App>,
    id: &EnrollmentId,
    cert_sha: [u8; 32],
) -> Result<(), MdmResponse> {
    let device = id.device_channel();
    let enrollment = match app.store.get_enrollment(&device).await {
        Ok(e) => e,
        Err(e) => {
            warn!(enrollment = %id, error = %e, "store failure");
            return Err(MdmResponse::text(500, "internal error"));
        }
    };
    let Some(enrollment) = enrollment else {
        info!(enrollment = %id, "unknown device refused");
        app.metrics.rejected.inc();
        return Err(MdmResponse::text(401, "unknown device"));
    };
    // Checked out (or erased, or released by an administrator) since its
    // last Authenticate: refused until it enrolls again.
    let checked_out = match (enrollment.checked_out_at, enrollment.authenticated_at) {
        (Some(out), Some(auth)) => out > auth,
        (Some(_), None) => true,
        (None, _) => false,
    };
    if checked_out && !enrollment.enrolled {
        info!(enrollment = %id, "checked-out device refused");
        app.metrics.rejected.inc();
        return Err(MdmResponse::text(401, "device is not enrolled"));
    }
    match enrollment.identity {
        Some(bound) if pippin_service::constant_time_eq(&bound, &cert_sha) => Ok(()),
        // A certificate renewed through SCEP from the bound one: re-bind.
        Some(bound)
            if app
                .store
                .renewed_from(cert_sha)
                .await
                .ok()
                .flatten()
                .is_some_and(|old| pippin_service::constant_time_eq(&old, &bound)) =>
        {
            match app.store.rebind_identity(&device, bound, cert_sha).await {
                Ok(()) => {
                    info!(enrollment = %id, "identity re-bound to the renewed certificate");
                    Ok(())
                }
                Err(e) => {
                    warn!(enrollment = %id, error = %e, "cannot re-bind the renewed identity");
                    Err(MdmResponse::text(
                        401,
                        "certificate does not match this device",
                    ))
                }
            }
        }
        _ => {
            warn!(enrollment = %id, "certificate differs from the one bound at enrollment");
            app.metrics.rejected.inc();
            Err(MdmResponse::text(
                401,
                "certificate does not match this device",
            ))
        }
    }
}

async fn checkin(
    app: &Arc<App>,
    id: &EnrollmentId,
    c: CheckIn,
    cert_sha: [u8; 32],
) -> pippin_store::Result<MdmResponse> {
    let now = unix_millis(SystemTime::now());
    app.metrics.checkins.inc();
    let kind = c.message.message_type();
    debug!(enrollment = %id, message_type = kind, "check-in");
    if let CheckInMessage::Authenticate(a) = &c.message {
        if id.user.is_some() {
            return Ok(MdmResponse::text(400, "Authenticate on a user channel"));
        }
        // A device already bound to another certificate may enroll again
        // only after it checked out; otherwise the new certificate is refused.
        if let Some(existing) = app.store.get_enrollment(id).await? {
            let same = existing
                .identity
                .is_some_and(|b| pippin_service::constant_time_eq(&b, &cert_sha));
            if !same && existing.identity.is_some() && existing.enrolled {
                warn!(enrollment = %id, "Authenticate with a different certificate refused");
                app.metrics.rejected.inc();
                return Ok(MdmResponse::text(
                    401,
                    "device is enrolled with another certificate",
                ));
            }
        }
        let topic = c.topic.clone().unwrap_or_default();
        let expected = app.push.current().topic.clone();
        if !topic.is_empty() && topic != expected {
            warn!(enrollment = %id, topic, expected, "Authenticate for another push topic");
        }
        app.store
            .authenticate(&AuthenticateRecord {
                device: id.device.clone(),
                serial_number: a.serial_number.clone(),
                model: a.model.clone(),
                model_name: a.model_name.clone(),
                product_name: a.product_name.clone(),
                os_version: a.os_version.clone(),
                build_version: a.build_version.clone(),
                device_name: a.device_name.clone(),
                imei: a.imei.clone(),
                meid: a.meid.clone(),
                topic,
                identity: Some(cert_sha),
                now,
            })
            .await?;
        info!(enrollment = %id, serial = a.serial_number.as_deref().unwrap_or("?"), "device authenticated");
        return Ok(MdmResponse::empty(200));
    }
    if let Err(resp) = check_binding(app, id, cert_sha).await {
        return Ok(resp);
    }
    app.store.touch(&id.device_channel(), now).await?;
    let resp = match c.message {
        CheckInMessage::TokenUpdate(t) => {
            let rec = TokenUpdateRecord {
                push_token: t.token,
                push_magic: t.push_magic,
                topic: c.topic.unwrap_or_default(),
                unlock_token: t.unlock_token,
                awaiting_configuration: t.awaiting_configuration.unwrap_or(false),
                user_short_name: c.identity.user_short_name.clone(),
                user_long_name: c.identity.user_long_name.clone(),
                now,
            };
            app.store.token_update(id, &rec).await?;
            info!(enrollment = %id, "push token updated");
            MdmResponse::empty(200)
        }
        CheckInMessage::CheckOut => {
            app.store.check_out(id, now).await?;
            info!(enrollment = %id, "device checked out");
            MdmResponse::empty(200)
        }
        CheckInMessage::SetBootstrapToken(b) => {
            app.store.set_bootstrap_token(id, b.bootstrap_token).await?;
            info!(enrollment = %id, "bootstrap token escrowed");
            MdmResponse::empty(200)
        }
        CheckInMessage::GetBootstrapToken(_) => {
            let token = app.store.get_bootstrap_token(id).await?;
            MdmResponse::plist(bootstrap_token_response(token.as_deref()))
        }
        // This server does not manage network users: declining makes the
        // device skip the user channel for them.
        CheckInMessage::UserAuthenticate(_) => MdmResponse::empty(410),
        CheckInMessage::DeclarativeManagement(_) | CheckInMessage::GetToken(_) => {
            MdmResponse::text(404, "not supported by this server")
        }
        _ => MdmResponse::text(400, "unsupported check-in"),
    };
    Ok(resp)
}

async fn report(
    app: &Arc<App>,
    id: &EnrollmentId,
    r: CommandReport,
    body: &[u8],
) -> pippin_store::Result<MdmResponse> {
    let now = unix_millis(SystemTime::now());
    app.metrics.reports.inc();
    app.store.touch(&id.device_channel(), now).await?;
    let result = r.status.is_final().then(|| body.to_vec());
    let outcome = match app
        .store
        .handle_report(id, r.status, r.command_uuid.as_deref(), result, now)
        .await
    {
        Ok(o) => o,
        Err(pippin_store::Error::Queue(QueueError::UnknownCommand(uuid))) => {
            // A report for a command that was cancelled or never queued: it
            // changes nothing; the device gets an empty answer and waits for
            // the next push.
            warn!(enrollment = %id, command_uuid = uuid, status = %r.status, "report for a command not queued");
            return Ok(MdmResponse::empty(200));
        }
        Err(e) => return Err(e),
    };
    if let Some(done) = &outcome.completed {
        info!(
            enrollment = %id,
            command_uuid = done.uuid,
            request_type = done.request_type,
            status = %done.status,
            "command completed"
        );
        if done.status == Status::Error
            && let Some(summary) = r.error_summary()
        {
            info!(enrollment = %id, command_uuid = done.uuid, errors = summary, "device error");
        }
        if matches!(
            done.request_type.as_str(),
            "InstallApplication" | "RemoveApplication"
        ) {
            crate::vpp::command_completed(app, &done.uuid, done.status, r.error_summary()).await;
        }
        if done.status == Status::Acknowledged && done.request_type == "EraseDevice" {
            // An erased device comes back with a new identity and a new
            // Authenticate, and never sends CheckOut: it is no longer enrolled.
            app.store.check_out(&id.device_channel(), now).await?;
            info!(enrollment = %id, "device erased; it may enroll again");
        }
        if done.status == Status::Acknowledged
            && let Some(kind) = inventory_kind(&done.request_type)
        {
            let json = inventory_json(kind, &r);
            app.store
                .put_inventory(&id.device_channel(), kind, &json, now)
                .await?;
        }
    }
    Ok(match outcome.next {
        Some(next) => {
            app.metrics.commands_sent.inc();
            debug!(enrollment = %id, command_uuid = next.uuid, request_type = next.request_type, "sending command");
            MdmResponse::plist(next.body)
        }
        None => MdmResponse::empty(200),
    })
}

/// Which inventory a command's result updates.
pub fn inventory_kind(request_type: &str) -> Option<InventoryKind> {
    Some(match request_type {
        "DeviceInformation" => InventoryKind::DeviceInformation,
        "SecurityInfo" => InventoryKind::SecurityInfo,
        "InstalledApplicationList" => InventoryKind::InstalledApplications,
        "ManagedApplicationList" => InventoryKind::ManagedApplications,
        "ProfileList" => InventoryKind::Profiles,
        "CertificateList" => InventoryKind::Certificates,
        "AvailableOSUpdates" => InventoryKind::AvailableOSUpdates,
        "OSUpdateStatus" => InventoryKind::OSUpdateStatus,
        "DeviceLocation" => InventoryKind::DeviceLocation,
        _ => return None,
    })
}

/// The result payload as JSON, unwrapped from its top-level key where the
/// command has one (`QueryResponses`, `SecurityInfo`, `InstalledApplicationList`...).
fn inventory_json(kind: InventoryKind, r: &CommandReport) -> serde_json::Value {
    let key = match kind {
        InventoryKind::DeviceInformation => Some("QueryResponses"),
        InventoryKind::SecurityInfo => Some("SecurityInfo"),
        InventoryKind::InstalledApplications => Some("InstalledApplicationList"),
        InventoryKind::ManagedApplications => Some("ManagedApplicationList"),
        InventoryKind::Profiles => Some("ProfileList"),
        InventoryKind::Certificates => Some("CertificateList"),
        InventoryKind::AvailableOSUpdates => Some("AvailableOSUpdates"),
        InventoryKind::OSUpdateStatus => Some("OSUpdateStatus"),
        _ => None,
    };
    let value = match key.and_then(|k| r.payload.get(k)) {
        Some(v) => serde_json::to_value(v),
        None => serde_json::to_value(&r.payload),
    };
    value.unwrap_or(serde_json::Value::Null)
}

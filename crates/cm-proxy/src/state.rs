//! The running service's shared state.

use std::sync::Arc;
use std::time::SystemTime;

use pippin_service::{Counter, Gauge, Metrics as Registry, Secret};
use pippin_store::Store;
use scep::ScepServer;

use crate::pushcert::PushControl;

/// Settings the request handlers read.
#[derive(Clone, Debug)]
pub struct RuntimeConfig {
    /// Accept a verified `Mdm-Signature` header as the device identity when
    /// the TLS connection has no client certificate (a TLS-terminating proxy
    /// sits in front).
    pub trust_mdm_signature: bool,
    /// Largest request body accepted from a device.
    pub max_body_bytes: usize,
    /// The public base URL (`https://host:8760`).
    pub public_url: String,
}

/// Counters and gauges exposed at `/metrics`.
#[derive(Clone, Debug)]
pub struct Metrics {
    /// The registry that renders them.
    pub registry: Registry,
    /// Device requests to the MDM URLs.
    pub requests: Counter,
    /// Check-in messages handled.
    pub checkins: Counter,
    /// Command reports handled.
    pub reports: Counter,
    /// Device requests refused for identity reasons.
    pub rejected: Counter,
    /// Device requests that were not decodable.
    pub malformed: Counter,
    /// Commands handed to devices.
    pub commands_sent: Counter,
    /// Commands queued through the admin API (per target).
    pub commands_queued: Counter,
    /// Pushes sent.
    pub pushes: Counter,
    /// Pushes that failed.
    pub push_failures: Counter,
    /// Pushes sent again after APNs asked to retry later.
    pub push_retries: Counter,
    /// DEP device records received from Apple.
    pub dep_devices: Counter,
    /// DEP profile assignments that succeeded.
    pub dep_assigned: Counter,
    /// DEP sync passes that failed.
    pub dep_sync_failures: Counter,
    /// VPP licenses Apple associated with devices.
    pub vpp_associated: Counter,
    /// VPP sync passes and assignments that failed.
    pub vpp_failures: Counter,
    /// Notifications received from the Apps and Books service.
    pub vpp_notifications: Counter,
    /// Open queue entries across all enrollments.
    pub queue_depth: Gauge,
    /// Enrolled devices.
    pub enrolled: Gauge,
}

impl Metrics {
    /// Registers every series.
    pub fn new() -> pippin_service::Result<Self> {
        let r = Registry::new();
        let c = |name: &str, help: &str| r.counter(name, help, &[]);
        Ok(Self {
            requests: c(
                "pippin_mdm_requests_total",
                "Device requests to the MDM URLs.",
            )?,
            checkins: c("pippin_mdm_checkins_total", "Check-in messages handled.")?,
            reports: c("pippin_mdm_reports_total", "Command reports handled.")?,
            rejected: c(
                "pippin_mdm_rejected_total",
                "Device requests refused: no, unknown or mismatched identity.",
            )?,
            malformed: c(
                "pippin_mdm_malformed_total",
                "Device requests that could not be decoded.",
            )?,
            commands_sent: c(
                "pippin_mdm_commands_sent_total",
                "Commands handed to devices.",
            )?,
            commands_queued: c(
                "pippin_mdm_commands_queued_total",
                "Commands queued through the admin API, per target enrollment.",
            )?,
            pushes: c("pippin_push_total", "Pushes sent.")?,
            push_failures: c("pippin_push_failures_total", "Pushes that failed.")?,
            push_retries: c(
                "pippin_push_retries_total",
                "Pushes sent again after APNs asked to retry later.",
            )?,
            dep_devices: c(
                "pippin_dep_devices_received_total",
                "DEP device records received from Apple (fetch and sync).",
            )?,
            dep_assigned: c(
                "pippin_dep_profile_assignments_total",
                "DEP devices the enrollment profile was assigned to.",
            )?,
            dep_sync_failures: c(
                "pippin_dep_sync_failures_total",
                "DEP sync passes that failed.",
            )?,
            vpp_associated: c(
                "pippin_vpp_licenses_associated_total",
                "Apps and Books licenses Apple associated with devices.",
            )?,
            vpp_failures: c(
                "pippin_vpp_failures_total",
                "Apps and Books sync passes and license assignments that failed.",
            )?,
            vpp_notifications: c(
                "pippin_vpp_notifications_total",
                "Notifications received from the Apps and Books service.",
            )?,
            queue_depth: r.gauge(
                "pippin_mdm_queue_depth",
                "Open command-queue entries across all enrollments.",
                &[],
            )?,
            enrolled: r.gauge("pippin_mdm_enrolled_devices", "Enrolled enrollments.", &[])?,
            registry: r,
        })
    }
}

/// Everything a request handler needs.
pub struct App {
    /// Handler settings.
    pub config: RuntimeConfig,
    /// Persistence.
    pub store: Arc<dyn Store>,
    /// The SCEP responder.
    pub scep: ScepServer,
    /// Who wakes devices, with which certificate and topic.
    pub push: PushControl,
    /// Metrics.
    pub metrics: Metrics,
    /// Automated Device Enrollment links.
    pub dep: crate::dep::DepService,
    /// Apps and Books content tokens and license assignments.
    pub vpp: crate::vpp::VppService,
    /// Seals secrets kept at rest (master key).
    pub secrets: Arc<pippin_service::SecretBox>,
    /// The bootstrap administrator token.
    pub admin_token: Secret<String>,
    /// The CA certificate (PEM) clients must trust for the HTTPS listener.
    pub ca_pem: String,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("config", &self.config)
            .field("push", &self.push.describe())
            .finish_non_exhaustive()
    }
}

/// `t` as Unix milliseconds, the store's time unit (0 before 1970).
pub fn unix_millis(t: SystemTime) -> i64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

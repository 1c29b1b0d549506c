//! The push certificate in use, replacing it while the service runs, and
//! the retry schedule for pushes APNs asked to send again later.
//!
//! The push topic is the push certificate's subject UID; devices enroll
//! with it (it is in the enrollment profile) and only answer pushes for it.
//! [`PushControl`] holds the certificate, the sender built from it, the
//! topic and the enrollment profile that names the topic, and swaps all of
//! them at once when an administrator installs a new certificate
//! (`PUT /api/v1/pushcert`).
//!
//! A certificate for another topic than the one devices enrolled with
//! silently cuts every enrolled device off (they ignore pushes for other
//! topics and must be re-enrolled), so installing one is refused unless the
//! administrator says the change is intended. What devices enrolled with is
//! read from the store ([`pippin_store::Store::enrolled_topics`]), not
//! remembered: see [`enrolled_topic_warning`].

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use apns::{PushCertificate, PushCertificateInfo};
use apple_mdm_protocol::EnrollmentId;
use apple_mdm_protocol::profile::EnrollmentProfile;
use apple_mdm_protocol::signature::SigningIdentity;
use pippin_store::TopicCount;
use tracing::{error, info, warn};

use crate::push::{ApnsPushSender, PushSender};

/// Where the running push certificate came from.
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum CertSource {
    /// No certificate: pushes are recorded only, the topic is a placeholder
    /// or configured.
    None,
    /// Named by the configuration (`[apns] cert`/`key`).
    Configured {
        /// The certificate file.
        cert: PathBuf,
    },
    /// Installed through the admin API, kept in the data directory.
    Installed {
        /// The certificate file.
        cert: PathBuf,
    },
}

impl CertSource {
    /// `none`, `configuration` or `installed`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Configured { .. } => "configuration",
            Self::Installed { .. } => "installed",
        }
    }
}

/// Everything that changes together when the push certificate changes.
#[derive(Clone)]
pub struct PushState {
    /// Who sends pushes.
    pub sender: Arc<dyn PushSender>,
    /// The topic devices enroll with.
    pub topic: String,
    /// The topic is a placeholder (no certificate ever installed).
    pub topic_is_placeholder: bool,
    /// The certificate in use, if any.
    pub certificate: Option<PushCertificateInfo>,
    /// Where it came from.
    pub source: CertSource,
    /// The enrollment profile served at `/mdm/enroll` (names the topic).
    pub profile: Arc<Vec<u8>>,
}

impl std::fmt::Debug for PushState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PushState")
            .field("sender", &self.sender.describe())
            .field("topic", &self.topic)
            .field("topic_is_placeholder", &self.topic_is_placeholder)
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

/// The sealing context of an installed push certificate's key.
pub const PUSH_KEY_CONTEXT: &str = "apns-push-key";

/// How to reach APNs with a new certificate.
#[derive(Clone, Debug)]
pub struct ApnsSettings {
    /// The APNs base URL.
    pub endpoint: String,
    /// Extra trust anchors (PEM), for a test stand-in.
    pub extra_ca_pem: Option<String>,
    /// The data directory (installed certificates go to `apns/` in it; the
    /// topic in use is remembered in `push-topic`).
    pub data_dir: PathBuf,
    /// Seals the installed key at rest.
    pub secrets: Arc<pippin_service::SecretBox>,
}

impl ApnsSettings {
    /// Where an installed certificate is kept.
    pub fn installed_cert_path(&self) -> PathBuf {
        self.data_dir.join("apns").join("push.pem")
    }

    /// Where an installed certificate's key is kept, sealed with the
    /// master key (and owner-only).
    pub fn installed_key_path(&self) -> PathBuf {
        self.data_dir.join("apns").join("push.key.sealed")
    }

    /// The file remembering the topic enrolled devices use.
    pub fn topic_path(&self) -> PathBuf {
        self.data_dir.join("push-topic")
    }
}

/// Builds the enrollment profile for a topic.
pub struct ProfileTemplate {
    profile: EnrollmentProfile,
    signer: Option<SigningIdentity>,
}

impl ProfileTemplate {
    /// A template from a profile (its topic is replaced per build) and the
    /// identity that signs it, if profiles are signed.
    pub fn new(profile: EnrollmentProfile, signer: Option<SigningIdentity>) -> Self {
        Self { profile, signer }
    }

    /// The profile for `topic`, signed when a signer is set.
    pub fn build(&self, topic: &str) -> apple_mdm_protocol::Result<Vec<u8>> {
        let mut p = self.profile.clone();
        p.mdm.topic = topic.to_owned();
        // Payload UUIDs follow the server and the topic, so a profile for a
        // new topic is a new profile.
        p.uuid_seed = format!("{}|{}", p.mdm.server_url, topic).into_bytes();
        match &self.signer {
            Some(id) => p.sign(id),
            None => Ok(p.to_xml()),
        }
    }
}

/// Why a certificate was not installed.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    /// The certificate or key is unusable (not an MDM push certificate,
    /// key mismatch, expired, malformed).
    #[error("{0}")]
    Invalid(String),
    /// The running certificate comes from the configuration file; replace
    /// those files instead (a restart would otherwise bring the old one
    /// back).
    #[error(
        "the push certificate is set in the configuration ({0}); replace those files and \
         restart, or remove the [apns] cert/key settings to manage it through the API"
    )]
    Configured(String),
    /// The new certificate's topic differs from the one devices enrolled
    /// with, and the change was not confirmed.
    #[error("{0}")]
    TopicChange(String),
    /// Writing the certificate to the data directory failed.
    #[error("{0}")]
    Storage(String),
}

/// What an install did.
#[derive(Clone, Debug)]
pub struct Installed {
    /// The new certificate.
    pub certificate: PushCertificateInfo,
    /// The topic before.
    pub previous_topic: String,
    /// The warning about enrolled devices, when the topic changed.
    pub topic_warning: Option<String>,
}

/// The push certificate, sender, topic and enrollment profile in use, and
/// the pushes waiting to be retried.
pub struct PushControl {
    current: RwLock<Arc<PushState>>,
    template: ProfileTemplate,
    apns: ApnsSettings,
    install: tokio::sync::Mutex<()>,
    retries: Mutex<RetryQueue>,
    jobs: Mutex<BulkJobs>,
}

impl std::fmt::Debug for PushControl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PushControl")
            .field("current", &self.current())
            .finish_non_exhaustive()
    }
}

impl PushControl {
    /// Starts with `state`.
    pub fn new(state: PushState, template: ProfileTemplate, apns: ApnsSettings) -> Self {
        Self {
            current: RwLock::new(Arc::new(state)),
            template,
            apns,
            install: tokio::sync::Mutex::new(()),
            retries: Mutex::new(RetryQueue::default()),
            jobs: Mutex::new(BulkJobs::default()),
        }
    }

    /// The state in use now.
    pub fn current(&self) -> Arc<PushState> {
        // A poisoned lock still holds a complete state (it is replaced whole).
        match self.current.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// The sender in use now, for logs.
    pub fn describe(&self) -> String {
        self.current().sender.describe()
    }

    /// The APNs settings new certificates are used with.
    pub fn apns_settings(&self) -> &ApnsSettings {
        &self.apns
    }

    /// Installs `cert`: checks it, keeps it in the data directory (the
    /// certificate as PEM, the key sealed with the master key), and
    /// switches pushes, topic and enrollment profile over to it.
    ///
    /// `enrolled` are the topics enrolled devices use (from the store). A
    /// certificate whose topic is not the topic of every one of them is
    /// refused unless `allow_topic_change`.
    pub async fn install(
        &self,
        cert: PushCertificate,
        allow_topic_change: bool,
        enrolled: &[TopicCount],
        now: SystemTime,
    ) -> Result<Installed, InstallError> {
        let _one_at_a_time = self.install.lock().await;
        let old = self.current();
        if let CertSource::Configured { cert } = &old.source {
            return Err(InstallError::Configured(cert.display().to_string()));
        }
        let info = cert.info().clone();
        if info.is_expired_at(now) {
            return Err(InstallError::Invalid(format!(
                "the push certificate for {} expired; renew it in the Apple Push Certificates Portal",
                info.topic
            )));
        }
        let topic_warning = enrolled_topic_warning(&info.topic, enrolled);
        if let Some(w) = &topic_warning
            && !allow_topic_change
        {
            return Err(InstallError::TopicChange(format!(
                "{w} Not installed; to install it anyway, confirm the topic change \
                 (allow_topic_change)."
            )));
        }
        let sender = apns_sender(&self.apns, &cert, now).map_err(InstallError::Invalid)?;
        let profile = self
            .template
            .build(&info.topic)
            .map_err(|e| InstallError::Invalid(format!("enrollment profile: {e}")))?;

        let cert_path = self.apns.installed_cert_path();
        let key_path = self.apns.installed_key_path();
        if let Some(dir) = cert_path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| InstallError::Storage(format!("creating {}: {e}", dir.display())))?;
        }
        let storage = |e: pippin_service::Error| InstallError::Storage(e.to_string());
        let write = |p: &Path, data: &[u8], private: bool| {
            pippin_service::write_file_atomic(p, data, private, true).map_err(storage)
        };
        let cert_pem = cert
            .chain_der()
            .iter()
            .map(|der| pem_encode("CERTIFICATE", der))
            .collect::<Result<String, _>>()?;
        let key_pem = match cert.private_key_der() {
            apns::PrivateKeyDer::Pkcs1(der) => pem_encode("RSA PRIVATE KEY", der)?,
            apns::PrivateKeyDer::Pkcs8(der) => pem_encode("PRIVATE KEY", der)?,
        };
        let sealed = self
            .apns
            .secrets
            .seal(PUSH_KEY_CONTEXT, key_pem.as_bytes())
            .map_err(|e| InstallError::Storage(format!("sealing the key: {e}")))?;
        // Key first: a certificate file is only ever next to its key.
        write(&key_path, sealed.as_bytes(), true)?;
        write(&cert_path, cert_pem.as_bytes(), false)?;
        let topic_path = self.apns.topic_path();
        write(&topic_path, format!("{}\n", info.topic).as_bytes(), false)?;

        if let Some(w) = &topic_warning {
            error!(old_topic = %old.topic, new_topic = %info.topic, "{w}");
        }
        info!(
            topic = %info.topic,
            not_after = %httpdate(info.not_after),
            "push certificate installed"
        );
        let new = PushState {
            sender: Arc::new(sender),
            topic: info.topic.clone(),
            topic_is_placeholder: false,
            certificate: Some(info.clone()),
            source: CertSource::Installed { cert: cert_path },
            profile: Arc::new(profile),
        };
        match self.current.write() {
            Ok(mut g) => *g = Arc::new(new),
            Err(p) => *p.into_inner() = Arc::new(new),
        }
        Ok(Installed {
            certificate: info,
            previous_topic: old.topic.clone(),
            topic_warning,
        })
    }

    /// Schedules a push to `id` at `at` (Unix ms) as attempt `attempt`.
    /// An earlier schedule for the same enrollment wins. Returns false when
    /// the schedule is full (the push is then not retried).
    pub fn schedule_retry(&self, id: &EnrollmentId, at: i64, attempt: u32) -> bool {
        self.lock_retries().schedule(id, at, attempt)
    }

    /// Drops a scheduled retry (the device answered, or was pushed again).
    pub fn cancel_retry(&self, id: &EnrollmentId) {
        self.lock_retries().cancel(id);
    }

    /// Takes up to `max` retries due at `now` (Unix ms).
    pub fn due_retries(&self, now: i64, max: usize) -> Vec<(EnrollmentId, u32)> {
        self.lock_retries().take_due(now, max)
    }

    /// Retries scheduled.
    pub fn pending_retries(&self) -> usize {
        self.lock_retries().len()
    }

    /// Registers the push progress of a command queued for many devices.
    pub fn start_bulk_job(&self, uuid: &str, progress: Arc<BulkProgress>) {
        let mut jobs = match self.jobs.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        jobs.insert(uuid, progress);
    }

    /// The push progress of the command `uuid`, if it was queued for many
    /// devices recently (by this process).
    pub fn bulk_job(&self, uuid: &str) -> Option<Arc<BulkProgress>> {
        let jobs = match self.jobs.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        jobs.get(uuid)
    }

    fn lock_retries(&self) -> std::sync::MutexGuard<'_, RetryQueue> {
        // The queue is valid after any panic in between (every operation
        // leaves both indexes consistent before it can panic).
        match self.retries.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }
}

/// What a push certificate for `topic` means for the enrolled devices
/// `enrolled` (their topics, counted): `None` when every enrolled device
/// uses `topic`; otherwise a warning naming the other topics and how many
/// devices each has — those devices ignore pushes sent with this
/// certificate and must enroll again.
pub fn enrolled_topic_warning(topic: &str, enrolled: &[TopicCount]) -> Option<String> {
    let others: Vec<&TopicCount> = enrolled
        .iter()
        .filter(|t| t.topic != topic && t.enrollments > 0)
        .collect();
    let first = others.first()?;
    let stranded: u64 = others.iter().map(|t| t.enrollments).sum();
    let listed = others
        .iter()
        .map(|t| format!("{} ({} enrolled)", t.topic, t.enrollments))
        .collect::<Vec<_>>()
        .join(", ");
    let base = apns::topic_change_warning(&first.topic, topic).unwrap_or_default();
    Some(format!(
        "{stranded} enrolled device(s) use another push topic than {topic}: {listed}. {base}"
    ))
}

/// The APNs push sender for `cert`; logs its expiry.
pub fn apns_sender(
    apns: &ApnsSettings,
    cert: &PushCertificate,
    now: SystemTime,
) -> Result<ApnsPushSender, String> {
    let mut config = apns::client::ApnsConfig::default();
    config.endpoint(apns.endpoint.clone());
    if let Some(ca) = &apns.extra_ca_pem {
        config.extra_ca_pem(ca.clone());
    }
    let client = apns::client::ApnsClient::new(cert, config)
        .map_err(|e| format!("APNs endpoint {:?}: {e}", apns.endpoint))?;
    let info = cert.info();
    if info.is_expired_at(now) {
        error!(
            topic = cert.topic(),
            "the push certificate has expired: APNs will refuse every push until it is renewed"
        );
    } else if info.is_expired_at(now + Duration::from_secs(30 * 24 * 3600)) {
        warn!(
            topic = cert.topic(),
            not_after = %httpdate(info.not_after),
            "the push certificate expires within 30 days: renew it in the Apple Push Certificates Portal"
        );
    }
    info!(
        topic = cert.topic(),
        subject_cn = info.subject_cn.as_deref().unwrap_or(""),
        endpoint = %apns.endpoint,
        "push certificate loaded"
    );
    Ok(ApnsPushSender::new(client, apns.endpoint.clone()))
}

/// One PEM block (RFC 7468).
fn pem_encode(label: &str, der: &[u8]) -> Result<String, InstallError> {
    der::pem::encode_string(label, der::pem::LineEnding::LF, der)
        .map_err(|e| InstallError::Storage(format!("PEM encoding: {e}")))
}

/// RFC 3339 UTC text for a time (for logs and JSON).
pub fn httpdate(t: SystemTime) -> String {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let secs = i64::try_from(secs).unwrap_or(i64::MAX);
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|d| {
            d.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| secs.to_string())
}

/// The push progress of a command queued for many devices
/// (`POST /api/v1/commands`), counted as outcomes arrive.
#[derive(Debug, Default)]
pub struct BulkProgress {
    /// Enrollments the command was queued for.
    pub targets: u64,
    /// When queuing finished and pushing started (Unix ms).
    pub started_at: i64,
    /// Pushes APNs answered or that failed.
    pub pushed: std::sync::atomic::AtomicU64,
    /// Pushes APNs accepted (or recorded, without a push certificate).
    pub delivered: std::sync::atomic::AtomicU64,
    /// Pushes that failed (some are retried later).
    pub failed: std::sync::atomic::AtomicU64,
    /// Enrollments not pushed: no usable token (marked invalid, not
    /// enrolled, none sent yet) or enrolled under another topic.
    pub skipped: std::sync::atomic::AtomicU64,
    /// Of those, enrolled under another topic than the push certificate's.
    pub topic_mismatch: std::sync::atomic::AtomicU64,
    /// Failed pushes scheduled to be sent again.
    pub retry_scheduled: std::sync::atomic::AtomicU64,
    /// When every push was sent and answered (Unix ms); 0 while running.
    pub finished_at: std::sync::atomic::AtomicI64,
}

impl BulkProgress {
    /// The progress as JSON.
    pub fn to_json(&self) -> serde_json::Value {
        use std::sync::atomic::Ordering::Relaxed;
        let finished = self.finished_at.load(Relaxed);
        serde_json::json!({
            "targets": self.targets,
            "pushed": self.pushed.load(Relaxed),
            "delivered": self.delivered.load(Relaxed),
            "failed": self.failed.load(Relaxed),
            "skipped": self.skipped.load(Relaxed),
            "topic_mismatch": self.topic_mismatch.load(Relaxed),
            "retry_scheduled": self.retry_scheduled.load(Relaxed),
            "started_at": self.started_at,
            "finished_at": (finished != 0).then_some(finished),
            "done": finished != 0,
        })
    }
}

/// How many bulk jobs' progress is kept (the oldest is forgotten first).
const MAX_BULK_JOBS: usize = 100;

/// Recent bulk jobs by command UUID.
#[derive(Debug, Default)]
struct BulkJobs {
    order: std::collections::VecDeque<String>,
    by_uuid: HashMap<String, Arc<BulkProgress>>,
}

impl BulkJobs {
    fn insert(&mut self, uuid: &str, progress: Arc<BulkProgress>) {
        if self.by_uuid.insert(uuid.to_owned(), progress).is_none() {
            self.order.push_back(uuid.to_owned());
        }
        while self.order.len() > MAX_BULK_JOBS {
            if let Some(old) = self.order.pop_front() {
                self.by_uuid.remove(&old);
            }
        }
    }

    fn get(&self, uuid: &str) -> Option<Arc<BulkProgress>> {
        self.by_uuid.get(uuid).cloned()
    }
}

/// Most retries waiting at once; a site-wide APNs outage at 100,000
/// devices fits.
pub const MAX_PENDING_RETRIES: usize = 200_000;

/// Pushes waiting to be sent again, earliest first, at most one per
/// enrollment.
#[derive(Debug, Default)]
struct RetryQueue {
    due: BTreeSet<(i64, EnrollmentId)>,
    entries: HashMap<EnrollmentId, (i64, u32)>,
}

impl RetryQueue {
    fn len(&self) -> usize {
        self.entries.len()
    }

    fn schedule(&mut self, id: &EnrollmentId, at: i64, attempt: u32) -> bool {
        if let Some((old_at, old_attempt)) = self.entries.get_mut(id) {
            if at < *old_at {
                self.due.remove(&(*old_at, id.clone()));
                self.due.insert((at, id.clone()));
                *old_at = at;
            }
            *old_attempt = (*old_attempt).max(attempt);
            return true;
        }
        if self.entries.len() >= MAX_PENDING_RETRIES {
            return false;
        }
        self.due.insert((at, id.clone()));
        self.entries.insert(id.clone(), (at, attempt));
        true
    }

    fn cancel(&mut self, id: &EnrollmentId) {
        if let Some((at, _)) = self.entries.remove(id) {
            self.due.remove(&(at, id.clone()));
        }
    }

    fn take_due(&mut self, now: i64, max: usize) -> Vec<(EnrollmentId, u32)> {
        let mut out = Vec::new();
        while out.len() < max && self.due.first().is_some_and(|(at, _)| *at <= now) {
            let Some((_, id)) = self.due.pop_first() else {
                break;
            };
            if let Some((_, attempt)) = self.entries.remove(&id) {
                out.push((id, attempt));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u32) -> EnrollmentId {
        EnrollmentId::device(format!("UDID-{n}"))
    }

    #[test]
    fn retry_queue_orders_dedups_and_bounds() {
        let mut q = RetryQueue::default();
        assert!(q.schedule(&id(1), 300, 1));
        assert!(q.schedule(&id(2), 100, 2));
        assert!(q.schedule(&id(3), 200, 1));
        // A later schedule for the same enrollment keeps the earlier time
        // and the higher attempt.
        assert!(q.schedule(&id(1), 900, 3));
        assert_eq!(q.len(), 3);
        assert!(q.take_due(99, 10).is_empty());
        assert_eq!(q.take_due(250, 10), vec![(id(2), 2), (id(3), 1)]);
        // An earlier schedule moves it forward.
        assert!(q.schedule(&id(1), 260, 1));
        assert_eq!(q.take_due(260, 10), vec![(id(1), 3)]);
        assert_eq!(q.len(), 0);

        q.schedule(&id(4), 10, 1);
        q.cancel(&id(4));
        assert!(q.take_due(i64::MAX, 10).is_empty());

        for n in 0..5 {
            q.schedule(&id(n), 5, 1);
        }
        assert_eq!(q.take_due(5, 2).len(), 2);
        assert_eq!(q.len(), 3);
    }

    #[test]
    fn retry_queue_refuses_past_its_bound() {
        let mut q = RetryQueue::default();
        for n in 0..MAX_PENDING_RETRIES {
            assert!(q.schedule(&id(u32::try_from(n).unwrap()), 1, 1));
        }
        assert!(!q.schedule(&id(u32::MAX), 1, 1));
        // Re-scheduling one already there still works.
        assert!(q.schedule(&id(7), 0, 2));
        assert_eq!(q.len(), MAX_PENDING_RETRIES);
    }

    #[test]
    fn topic_warnings_count_the_stranded_devices() {
        let t = |topic: &str, n| TopicCount {
            topic: topic.to_owned(),
            enrollments: n,
        };
        let new = "com.apple.mgmt.External.new";
        assert_eq!(enrolled_topic_warning(new, &[]), None);
        assert_eq!(enrolled_topic_warning(new, &[t(new, 40)]), None);
        let w = enrolled_topic_warning(
            new,
            &[
                t(new, 40),
                t("com.apple.mgmt.External.a", 7),
                t("com.apple.mgmt.External.b", 2),
            ],
        )
        .unwrap();
        assert!(w.starts_with("9 enrolled device(s)"), "{w}");
        assert!(w.contains("com.apple.mgmt.External.a (7 enrolled)"), "{w}");
        assert!(w.contains("com.apple.mgmt.External.b (2 enrolled)"), "{w}");
        assert!(w.contains("re-enrolled"), "{w}");
    }

    #[test]
    fn bulk_jobs_are_bounded() {
        let mut jobs = BulkJobs::default();
        for n in 0..MAX_BULK_JOBS + 5 {
            jobs.insert(&format!("c{n}"), Arc::new(BulkProgress::default()));
        }
        assert!(jobs.get("c0").is_none());
        assert!(jobs.get("c4").is_none());
        assert!(jobs.get("c5").is_some());
        assert_eq!(jobs.by_uuid.len(), MAX_BULK_JOBS);
        assert_eq!(jobs.order.len(), MAX_BULK_JOBS);
    }

    #[test]
    fn rfc3339_times() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_000_000);
        assert_eq!(httpdate(t), "2026-11-18T11:06:40Z");
    }
}

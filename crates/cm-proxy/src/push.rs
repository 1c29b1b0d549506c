//! Waking devices: the push sender the MDM service calls after queuing
//! commands.
//!
//! [`ApnsPushSender`] sends MDM pushes to APNs with the push certificate;
//! [`RecordingPushSender`] keeps every push in memory, for tests and for
//! running without a push certificate (nothing can reach a real device then,
//! and the service says so when it starts).

use std::sync::Mutex;

use apns::client::{ApnsClient, PushResult};
use apns::{PushRequest, RetryPolicy, Verdict};
use pippin_store::PushTarget;
use tracing::{error, warn};

/// The outcome of one push, as stored with the enrollment.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct PushOutcome {
    /// `delivered`, `recorded`, `failed`, ...
    pub status: String,
    /// Why it failed, when it did.
    pub reason: Option<String>,
    /// The token will never work again (the device must send a new
    /// `TokenUpdate` before it is pushed again).
    pub token_invalid: bool,
    /// APNs was busy, failing or unreachable: worth sending again later.
    pub retry_later: bool,
}

/// Sends MDM pushes.
#[async_trait::async_trait]
pub trait PushSender: Send + Sync + 'static {
    /// Pushes to every target; one outcome per target, in order.
    async fn push(&self, targets: &[PushTarget]) -> Vec<PushOutcome>;

    /// A short name for logs (`apns production`, `recording`).
    fn describe(&self) -> String;
}

/// Records pushes instead of sending them.
#[derive(Debug, Default)]
pub struct RecordingPushSender {
    pushes: Mutex<Vec<PushTarget>>,
}

impl RecordingPushSender {
    /// An empty recorder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every push so far, oldest first.
    pub fn pushes(&self) -> Vec<PushTarget> {
        self.pushes.lock().map(|p| p.clone()).unwrap_or_default()
    }
}

#[async_trait::async_trait]
impl PushSender for RecordingPushSender {
    async fn push(&self, targets: &[PushTarget]) -> Vec<PushOutcome> {
        if let Ok(mut p) = self.pushes.lock() {
            // Bounded: a long-running server without APNs keeps the latest 10,000.
            if p.len() + targets.len() > 10_000 {
                let drop = (p.len() + targets.len())
                    .saturating_sub(10_000)
                    .min(p.len());
                p.drain(..drop);
            }
            p.extend(targets.iter().cloned());
        }
        targets
            .iter()
            .map(|_| PushOutcome {
                status: "recorded".to_owned(),
                reason: Some("no APNs certificate configured; push recorded only".to_owned()),
                token_invalid: false,
                retry_later: false,
            })
            .collect()
    }

    fn describe(&self) -> String {
        "recording (no APNs certificate)".to_owned()
    }
}

/// Sends pushes to APNs over one shared HTTP/2 connection.
///
/// Each push is sent once (the client itself resends a push whose stream
/// failed before an answer); a push APNs asks to retry later is reported as
/// `failed` with [`PushOutcome::retry_later`] set, and the service schedules
/// it again with back-off (see [`crate::pushcert::PushControl`]).
#[derive(Debug)]
pub struct ApnsPushSender {
    client: ApnsClient,
    endpoint: String,
}

impl ApnsPushSender {
    /// A sender using `client`, which talks to `endpoint` (for logs).
    pub fn new(client: ApnsClient, endpoint: impl Into<String>) -> Self {
        Self {
            client,
            endpoint: endpoint.into(),
        }
    }
}

/// The APNs answer's reason, or why there was no answer.
fn failure_reason(result: &PushResult) -> String {
    match &result.outcome {
        Ok(response) => match &response.reason {
            Some(reason) => format!("{} ({})", reason.as_str(), response.status),
            None => format!("APNs answered {}", response.status),
        },
        Err(e) => e.to_string(),
    }
}

fn outcome(target: &PushTarget, result: &PushResult) -> PushOutcome {
    let failed = |reason: String, token_invalid: bool| PushOutcome {
        status: "failed".to_owned(),
        reason: Some(reason),
        token_invalid,
        retry_later: false,
    };
    match result.verdict(0, &RetryPolicy::default()) {
        Verdict::Delivered => PushOutcome {
            status: "delivered".to_owned(),
            reason: None,
            token_invalid: false,
            retry_later: false,
        },
        Verdict::DropToken { .. } => {
            let reason = failure_reason(result);
            warn!(enrollment = %target.id, %reason, "APNs refused the device token; not pushing it again until the next TokenUpdate");
            failed(reason, true)
        }
        Verdict::FixCertificate => {
            let reason = format!(
                "{}: the push certificate must be fixed (renewed, replaced or matched to the APNs environment)",
                failure_reason(result)
            );
            error!(enrollment = %target.id, %reason, "APNs refused the push certificate");
            failed(reason, false)
        }
        Verdict::RetryLater { .. } => {
            let reason = failure_reason(result);
            warn!(enrollment = %target.id, %reason, "push not delivered; it will be sent again");
            PushOutcome {
                retry_later: true,
                ..failed(reason, false)
            }
        }
        Verdict::BadRequest => {
            let reason = failure_reason(result);
            warn!(enrollment = %target.id, %reason, "APNs refused the push as malformed");
            failed(reason, false)
        }
    }
}

#[async_trait::async_trait]
impl PushSender for ApnsPushSender {
    async fn push(&self, targets: &[PushTarget]) -> Vec<PushOutcome> {
        let requests: Vec<PushRequest> = targets
            .iter()
            .map(|t| PushRequest::new(t.token.clone(), t.push_magic.clone(), t.topic.clone()))
            .collect();
        let results = self.client.push_many(requests).await;
        targets
            .iter()
            .zip(&results)
            .map(|(t, r)| outcome(t, r))
            .collect()
    }

    fn describe(&self) -> String {
        format!("apns {}", self.endpoint)
    }
}

#[cfg(test)]
mod tests {
    use apns::{PushResponse, Reason};
    use apple_mdm_protocol::EnrollmentId;

    use super::*;

    fn answered(status: u16, reason: Option<Reason>) -> (PushTarget, PushResult) {
        let target = PushTarget {
            id: EnrollmentId::device("UDID-1"),
            token: vec![0xAB; 32],
            push_magic: "magic".to_owned(),
            topic: "com.apple.mgmt.External.1".to_owned(),
        };
        let request = PushRequest::new(target.token.clone(), "magic", target.topic.clone());
        let response = PushResponse {
            status,
            apns_id: None,
            reason,
            timestamp: None,
        };
        (
            target,
            PushResult {
                request,
                outcome: Ok(response),
            },
        )
    }

    #[test]
    fn verdicts_become_outcomes() {
        let (t, r) = answered(200, None);
        assert_eq!(
            outcome(&t, &r),
            PushOutcome {
                status: "delivered".to_owned(),
                reason: None,
                token_invalid: false,
                retry_later: false,
            }
        );

        let (t, r) = answered(410, Some(Reason::Unregistered));
        let o = outcome(&t, &r);
        assert_eq!(o.status, "failed");
        assert!(o.token_invalid);
        assert!(o.reason.unwrap().contains("Unregistered"));

        let (t, r) = answered(403, Some(Reason::BadCertificate));
        let o = outcome(&t, &r);
        assert_eq!(o.status, "failed");
        assert!(!o.token_invalid);
        let reason = o.reason.unwrap();
        assert!(reason.contains("BadCertificate"), "{reason}");
        assert!(
            reason.contains("push certificate must be fixed"),
            "{reason}"
        );

        let (t, r) = answered(429, Some(Reason::TooManyRequests));
        let o = outcome(&t, &r);
        assert_eq!(o.status, "failed");
        assert!(!o.token_invalid);
        assert!(o.retry_later);
        assert!(o.reason.unwrap().contains("TooManyRequests"));

        let (t, mut r) = answered(200, None);
        r.outcome = Err(apns::Error::Timeout(std::time::Duration::from_secs(1)));
        let o = outcome(&t, &r);
        assert_eq!(o.status, "failed");
        assert!(!o.token_invalid);
        assert!(o.retry_later, "a timeout is retried");
        assert!(o.reason.is_some());
    }
}

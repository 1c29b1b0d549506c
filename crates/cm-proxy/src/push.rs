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
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use pippin_store::PushTarget;
use tracing::{error, warn};

/// The outcome of one push, as stored with the enrollment.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct PushOutcome {
    /// `delivered`, `recorded`, `failed`, ...
    pub status: String,
    /// Why it failed, when it did.
    pub reason: Option<String>,
    /// The HTTP status APNs answered with (`None`: no answer).
    pub http_status: Option<u16>,
    /// The `apns-id` APNs answered with.
    pub apns_id: Option<String>,
    /// For `410 Unregistered`: when APNs says the token stopped being valid
    /// (Unix ms).
    pub unregistered_at: Option<i64>,
    /// The token will never work again (the device must send a new
    /// `TokenUpdate` before it is pushed again).
    pub token_invalid: bool,
    /// APNs was busy, failing or unreachable: worth sending again later.
    pub retry_later: bool,
}

/// Sends MDM pushes.
///
/// Every push goes to the topic of the sender's push certificate; the
/// caller leaves out targets enrolled under another topic.
#[async_trait::async_trait]
pub trait PushSender: Send + Sync + 'static {
    /// Pushes to every target and yields each outcome, with the target's
    /// index, as soon as it is known (in completion order). At most a
    /// bounded number of pushes are in flight, whatever the number of
    /// targets; no task is spawned per push.
    fn push_stream<'a>(&'a self, targets: &'a [PushTarget]) -> BoxStream<'a, (usize, PushOutcome)>;

    /// Pushes to every target; one outcome per target, in order.
    async fn push(&self, targets: &[PushTarget]) -> Vec<PushOutcome> {
        let mut out = vec![PushOutcome::default(); targets.len()];
        let mut results = self.push_stream(targets);
        while let Some((i, outcome)) = results.next().await {
            if let Some(slot) = out.get_mut(i) {
                *slot = outcome;
            }
        }
        out
    }

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
    fn push_stream<'a>(&'a self, targets: &'a [PushTarget]) -> BoxStream<'a, (usize, PushOutcome)> {
        if let Ok(mut p) = self.pushes.lock() {
            // Bounded: a long-running server without APNs keeps the latest 10,000.
            if p.len() + targets.len() > 10_000 {
                let drop = (p.len() + targets.len())
                    .saturating_sub(10_000)
                    .min(p.len());
                p.drain(..drop);
            }
            let keep = targets.len().min(10_000);
            p.extend(targets[targets.len() - keep..].iter().cloned());
        }
        futures_util::stream::iter((0..targets.len()).map(|i| {
            (
                i,
                PushOutcome {
                    status: "recorded".to_owned(),
                    reason: Some("no APNs certificate configured; push recorded only".to_owned()),
                    ..PushOutcome::default()
                },
            )
        }))
        .boxed()
    }

    fn describe(&self) -> String {
        "recording (no APNs certificate)".to_owned()
    }
}

/// Sends pushes to APNs over one shared HTTP/2 connection, with the push
/// certificate's topic as `apns-topic`.
///
/// Each push is sent once (the client itself resends a push whose stream
/// failed before an answer); a push APNs asks to retry later is reported as
/// `failed` with [`PushOutcome::retry_later`] set, and the service schedules
/// it again with back-off (see [`crate::pushcert::PushControl`]). Every
/// caller shares the client's bounded window of pushes in flight.
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
    let (http_status, apns_id, unregistered_at) = match &result.outcome {
        Ok(r) => (
            Some(r.status),
            r.apns_id.clone(),
            r.timestamp.and_then(|t| i64::try_from(t).ok()),
        ),
        Err(_) => (None, None, None),
    };
    let answered = PushOutcome {
        http_status,
        apns_id,
        unregistered_at,
        ..PushOutcome::default()
    };
    let failed = |reason: String, token_invalid: bool| PushOutcome {
        status: "failed".to_owned(),
        reason: Some(reason),
        token_invalid,
        ..answered.clone()
    };
    match result.verdict(0, &RetryPolicy::default()) {
        Verdict::Delivered => PushOutcome {
            status: "delivered".to_owned(),
            ..answered.clone()
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
    fn push_stream<'a>(&'a self, targets: &'a [PushTarget]) -> BoxStream<'a, (usize, PushOutcome)> {
        // The certificate's topic, whatever the enrollment stored: it is the
        // only one APNs accepts on this connection.
        let topic = self.client.topic();
        let requests = targets.iter().enumerate().map(move |(i, t)| {
            (
                i,
                PushRequest::new(t.token.clone(), t.push_magic.clone(), topic),
            )
        });
        self.client
            .push_stream(requests)
            .map(move |(i, result)| (i, outcome(&targets[i], &result)))
            .boxed()
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
        let (t, mut r) = answered(200, None);
        if let Ok(resp) = &mut r.outcome {
            resp.apns_id = Some("922D9F1F-B82E-B337-EDC9-DB4FC8527676".to_owned());
        }
        assert_eq!(
            outcome(&t, &r),
            PushOutcome {
                status: "delivered".to_owned(),
                reason: None,
                http_status: Some(200),
                apns_id: Some("922D9F1F-B82E-B337-EDC9-DB4FC8527676".to_owned()),
                unregistered_at: None,
                token_invalid: false,
                retry_later: false,
            }
        );

        let (t, mut r) = answered(410, Some(Reason::Unregistered));
        if let Ok(resp) = &mut r.outcome {
            resp.timestamp = Some(1_458_114_061_260);
        }
        let o = outcome(&t, &r);
        assert_eq!(o.status, "failed");
        assert!(o.token_invalid);
        assert_eq!(o.http_status, Some(410));
        assert_eq!(o.unregistered_at, Some(1_458_114_061_260));
        assert!(o.reason.unwrap().contains("Unregistered"));

        let (t, r) = answered(400, Some(Reason::BadDeviceToken));
        let o = outcome(&t, &r);
        assert!(o.token_invalid && !o.retry_later);
        assert_eq!((o.http_status, o.unregistered_at), (Some(400), None));

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
        assert_eq!((o.http_status, o.apns_id), (None, None));
    }
}

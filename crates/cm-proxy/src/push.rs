//! Waking devices: the push sender the MDM service calls after queuing
//! commands.
//!
//! The APNs provider client implements [`PushSender`]; [`RecordingPushSender`]
//! keeps every push in memory, for tests and for running without a push
//! certificate (nothing can reach a real device then, and the service says
//! so when it starts).

use std::sync::Mutex;

use pippin_store::PushTarget;

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
            })
            .collect()
    }

    fn describe(&self) -> String {
        "recording (no APNs certificate)".to_owned()
    }
}

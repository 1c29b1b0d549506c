//! Checking the `challengePassword` of a certification request
//! (RFC 8894 §2.3: the shared secret that authorises an enrolment).

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;
use std::time::SystemTime;

use x509_cert::name::Name;

use crate::attributes::TransactionId;
use crate::crypto::ct_eq;

/// Most outstanding one-time challenges held by [`OneTimeChallenges`].
pub const MAX_ONE_TIME_CHALLENGES: usize = 100_000;

/// What a [`ChallengeVerifier`] is asked to judge.
#[derive(Clone, Copy, Debug)]
pub struct ChallengeRequest<'a> {
    /// The `challengePassword` from the request, if it had one.
    pub challenge: Option<&'a str>,
    /// The subject the requester asks for.
    pub subject: &'a Name,
    /// The SCEP transaction.
    pub transaction_id: &'a TransactionId,
    /// The current time.
    pub now: SystemTime,
}

/// Why a challenge was rejected.
#[derive(Clone, Debug, Eq, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ChallengeRejection {
    /// The request carries no challenge password.
    #[error("no challenge password")]
    Missing,
    /// The challenge is not one this server knows (or was already used).
    #[error("unknown or already used challenge")]
    Invalid,
    /// The challenge has expired.
    #[error("challenge expired")]
    Expired,
    /// A policy of the verifier refused it.
    #[error("{0}")]
    Denied(String),
}

/// Decides whether a request's challenge authorises an enrolment.
///
/// Synchronous and pure of I/O: a service backed by a database loads what it
/// needs before calling [`ScepServer::handle`](crate::ScepServer::handle), or
/// implements this over a cache. A verifier that consumes one-time
/// challenges does so in `verify`; the server calls it only after the rest
/// of the request has been checked.
pub trait ChallengeVerifier: Send + Sync {
    /// `Ok(())` to allow the enrolment.
    fn verify(&self, request: &ChallengeRequest<'_>) -> Result<(), ChallengeRejection>;
}

/// One shared secret for every enrolment, compared in constant time.
///
/// An empty challenge is never accepted, even if the secret is empty.
pub struct StaticChallenge {
    secret: String,
}

impl StaticChallenge {
    /// A verifier accepting exactly `secret`.
    pub fn new(secret: impl Into<String>) -> Self {
        Self {
            secret: secret.into(),
        }
    }
}

impl fmt::Debug for StaticChallenge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StaticChallenge").finish_non_exhaustive()
    }
}

impl ChallengeVerifier for StaticChallenge {
    fn verify(&self, request: &ChallengeRequest<'_>) -> Result<(), ChallengeRejection> {
        let given = request
            .challenge
            .filter(|c| !c.is_empty())
            .ok_or(ChallengeRejection::Missing)?;
        if ct_eq(given.as_bytes(), self.secret.as_bytes()) {
            Ok(())
        } else {
            Err(ChallengeRejection::Invalid)
        }
    }
}

/// A set of challenges, each accepted once, optionally until an expiry.
///
/// Held in memory; a service persists them elsewhere and loads them here, or
/// implements [`ChallengeVerifier`] over its store.
#[derive(Default)]
pub struct OneTimeChallenges {
    inner: Mutex<HashMap<String, Option<SystemTime>>>,
}

impl fmt::Debug for OneTimeChallenges {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OneTimeChallenges")
            .field("outstanding", &self.len())
            .finish()
    }
}

impl OneTimeChallenges {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Option<SystemTime>>> {
        // A panic while holding the lock cannot leave the map inconsistent
        // (every operation is a single insert or remove), so poisoning is
        // ignored.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds `challenge`, valid until `expires` (or until used, if `None`).
    /// Returns `false` if the set is full.
    pub fn insert(&self, challenge: impl Into<String>, expires: Option<SystemTime>) -> bool {
        let mut map = self.map();
        if map.len() >= MAX_ONE_TIME_CHALLENGES {
            return false;
        }
        map.insert(challenge.into(), expires);
        true
    }

    /// Makes, adds and returns a new random challenge (32 hex digits).
    /// Returns `None` if the set is full.
    pub fn generate<R: rand_core::CryptoRng + ?Sized>(
        &self,
        rng: &mut R,
        expires: Option<SystemTime>,
    ) -> Option<String> {
        let mut bytes = [0u8; 16];
        rng.fill_bytes(&mut bytes);
        let challenge: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        self.insert(challenge.clone(), expires).then_some(challenge)
    }

    /// Removes `challenge` without using it. Returns whether it was there.
    pub fn revoke(&self, challenge: &str) -> bool {
        self.map().remove(challenge).is_some()
    }

    /// Drops every challenge expired at `now`.
    pub fn purge_expired(&self, now: SystemTime) {
        self.map().retain(|_, exp| exp.is_none_or(|e| now <= e));
    }

    /// How many challenges are outstanding.
    pub fn len(&self) -> usize {
        self.map().len()
    }

    /// Whether none are outstanding.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl ChallengeVerifier for OneTimeChallenges {
    fn verify(&self, request: &ChallengeRequest<'_>) -> Result<(), ChallengeRejection> {
        let given = request.challenge.ok_or(ChallengeRejection::Missing)?;
        let expiry = self
            .map()
            .remove(given)
            .ok_or(ChallengeRejection::Invalid)?;
        match expiry {
            Some(e) if request.now > e => Err(ChallengeRejection::Expired),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn req<'a>(
        c: Option<&'a str>,
        name: &'a Name,
        id: &'a TransactionId,
        now: SystemTime,
    ) -> ChallengeRequest<'a> {
        ChallengeRequest {
            challenge: c,
            subject: name,
            transaction_id: id,
            now,
        }
    }

    #[test]
    fn static_challenge() {
        let v = StaticChallenge::new("s3cret");
        let name: Name = "CN=x".parse().unwrap();
        let id = TransactionId::new("t").unwrap();
        let now = SystemTime::UNIX_EPOCH;
        assert_eq!(v.verify(&req(Some("s3cret"), &name, &id, now)), Ok(()));
        assert_eq!(
            v.verify(&req(Some("s3cre"), &name, &id, now)),
            Err(ChallengeRejection::Invalid)
        );
        assert_eq!(
            v.verify(&req(None, &name, &id, now)),
            Err(ChallengeRejection::Missing)
        );
        assert!(!format!("{v:?}").contains("s3cret"));
        let empty = StaticChallenge::new("");
        assert_eq!(
            empty.verify(&req(Some(""), &name, &id, now)),
            Err(ChallengeRejection::Missing)
        );
    }

    #[test]
    fn one_time_challenges() {
        let v = OneTimeChallenges::new();
        let name: Name = "CN=x".parse().unwrap();
        let id = TransactionId::new("t").unwrap();
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1000);
        assert!(v.insert("a", None));
        assert!(v.insert("b", Some(t0)));
        assert!(v.insert("c", Some(t0)));
        assert_eq!(v.len(), 3);
        assert_eq!(v.verify(&req(Some("a"), &name, &id, t0)), Ok(()));
        assert_eq!(
            v.verify(&req(Some("a"), &name, &id, t0)),
            Err(ChallengeRejection::Invalid)
        );
        assert_eq!(v.verify(&req(Some("b"), &name, &id, t0)), Ok(()));
        let later = t0 + Duration::from_secs(1);
        assert_eq!(
            v.verify(&req(Some("c"), &name, &id, later)),
            Err(ChallengeRejection::Expired)
        );
        assert!(v.is_empty());
        assert!(v.insert("d", Some(t0)));
        assert!(v.insert("e", None));
        v.purge_expired(later);
        assert_eq!(v.len(), 1);
        assert!(v.revoke("e"));
        assert!(!v.revoke("e"));
    }
}

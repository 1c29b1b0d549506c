//! Enrolling as a device does: download the enrollment profile, get an
//! identity certificate by SCEP, then `Authenticate` and `TokenUpdate` at
//! the check-in URL over mutual TLS.

use std::time::{Instant, SystemTime};

use anyhow::{Context as _, anyhow, bail};
use apple_mdm_protocol::CheckIn;
use apple_mdm_protocol::signature::SigningIdentity;
use hyper::Method;
use scep::client::Requester;
use scep::{ContentEncryption, MessageType, Nonce, PkiStatus, TransactionId};

use crate::device::{Device, Hardware, Platform, Push, Rand};
use crate::http::{Link, Reply};
use crate::profile::{MdmSettings, read_enrollment};
use crate::stats::{Series, Stats};

/// The `User-Agent` of the device's MDM client.
pub(crate) const MDM_USER_AGENT: &str = "MDM/1.0";

/// The `User-Agent` while enrolling (profile download and SCEP).
const ENROLL_USER_AGENT: &str = "Device Management Client/1.0";

const CHECKIN_CONTENT_TYPE: &str = "application/x-apple-aspen-mdm-checkin";
const REPORT_CONTENT_TYPE: &str = "application/x-apple-aspen-mdm";

/// What every device of the run shares.
#[derive(Debug)]
pub(crate) struct Env {
    /// The server's base URL, without a trailing slash.
    pub(crate) server: String,
    /// The CA certificates (PEM) the server's TLS certificate chains to.
    pub(crate) roots_pem: Option<String>,
    pub(crate) platform: Platform,
    /// Leave out the `Mdm-Signature` header even when the profile asks for it.
    pub(crate) no_signature: bool,
}

/// An enrolment step that failed: the failure kind of the summary, and why.
#[derive(Debug)]
pub(crate) struct Failed {
    pub(crate) kind: &'static str,
    pub(crate) error: anyhow::Error,
}

pub(crate) trait KindExt<T> {
    /// Tags an error with a failure kind.
    fn kind(self, kind: &'static str) -> Result<T, Failed>;
}

impl<T> KindExt<T> for anyhow::Result<T> {
    fn kind(self, kind: &'static str) -> Result<T, Failed> {
        self.map_err(|error| Failed { kind, error })
    }
}

/// An enrolled device: its state, its keys and where to reach the server.
pub(crate) struct Enrolled {
    pub(crate) device: Device,
    pub(crate) push: Push,
    pub(crate) mdm: MdmSettings,
    /// The identity key, PKCS #8 DER.
    pub(crate) key_der: Vec<u8>,
}

/// The device's MDM connection: its identity as TLS client certificate
/// (and as `Mdm-Signature` when the profile asks for signed messages).
pub(crate) struct MdmClient {
    pub(crate) link: Link,
    signer: Option<SigningIdentity>,
    /// `Mdm-Signature` headers made.
    pub(crate) signatures: u64,
}

impl MdmClient {
    pub(crate) fn new(env: &Env, e: &Enrolled) -> anyhow::Result<Self> {
        let cert_pem = pem("CERTIFICATE", &e.device.identity_cert)?;
        let key_pem = pem("PRIVATE KEY", &e.key_der)?;
        let tls = match &env.roots_pem {
            Some(roots) => Some(
                pippin_service::client_config(roots, Some((&cert_pem, &key_pem)), None)
                    .context("TLS client configuration with the device identity")?,
            ),
            None => None,
        };
        let signer = if e.mdm.sign_message && !env.no_signature {
            Some(
                SigningIdentity::from_der(&[&e.device.identity_cert], &e.key_der)
                    .context("the identity cannot sign")?,
            )
        } else {
            None
        };
        Ok(Self {
            link: Link::new(tls, MDM_USER_AGENT),
            signer,
            signatures: 0,
        })
    }

    /// Adds this client's counters to `stats` and clears them.
    pub(crate) fn drain_counters(&mut self, stats: &mut Stats) {
        stats.http_requests += self.link.requests;
        stats.http_retries += self.link.retries;
        stats.connections += self.link.connections;
        stats.signatures += self.signatures;
        self.link.requests = 0;
        self.link.retries = 0;
        self.link.connections = 0;
        self.signatures = 0;
    }

    async fn put(&mut self, url: &str, content_type: &str, body: Vec<u8>) -> anyhow::Result<Reply> {
        let mut headers = vec![("content-type", content_type.to_owned())];
        if let Some(signer) = &self.signer {
            headers.push(("mdm-signature", signer.mdm_signature_header(&body)?));
            self.signatures += 1;
        }
        self.link.send(Method::PUT, url, &headers, body).await
    }

    /// Sends a check-in; the server must answer 200.
    pub(crate) async fn check_in(
        &mut self,
        url: &str,
        msg: &CheckIn,
        stats: &mut Stats,
    ) -> anyhow::Result<()> {
        let name = msg.message.message_type();
        let reply = self
            .put(url, CHECKIN_CONTENT_TYPE, msg.to_xml())
            .await?
            .ok(name)?;
        stats.record(Series::CheckIn, reply.elapsed);
        Stats::count(&mut stats.checkins, name);
        Ok(())
    }

    /// Sends a command report (or `Idle`) to the server URL; the server
    /// must answer 200, with the next command or an empty body.
    pub(crate) async fn report(&mut self, url: &str, body: Vec<u8>) -> anyhow::Result<Reply> {
        self.put(url, REPORT_CONTENT_TYPE, body)
            .await?
            .ok("command report")
    }
}

/// PEM text for one DER block.
pub(crate) fn pem(label: &str, der: &[u8]) -> anyhow::Result<String> {
    der::pem::encode_string(label, der::pem::LineEnding::LF, der)
        .map_err(|e| anyhow!("PEM encoding: {e}"))
}

/// Enrolls device number `index`: `hw` when it was a device before (it
/// enrolls again as the same device), a new one otherwise.
pub(crate) async fn enroll(
    env: &Env,
    index: usize,
    hw: Option<Hardware>,
    stats: &mut Stats,
) -> Result<(Enrolled, MdmClient), Failed> {
    let started = Instant::now();
    let mut rng = Rand::new();
    let hw = hw.unwrap_or_else(|| Hardware::generate(env.platform, index, &mut rng));
    let tls = match &env.roots_pem {
        Some(roots) => Some(
            pippin_service::client_config(roots, None, None)
                .map_err(anyhow::Error::from)
                .kind("TLS configuration")?,
        ),
        None => None,
    };
    let mut link = Link::new(tls, ENROLL_USER_AGENT);
    let result = enroll_with(env, &mut link, hw, &mut rng, stats).await;
    stats.http_requests += link.requests;
    stats.http_retries += link.retries;
    stats.connections += link.connections;
    let (enrolled, mut client) = result?;

    let checked_in = check_in(&enrolled, &mut client, stats).await;
    if checked_in.is_err() {
        client.drain_counters(stats);
    }
    checked_in?;
    stats.record(Series::Enrollment, started.elapsed());
    stats.enrolled += 1;
    Ok((enrolled, client))
}

/// `Authenticate`, then `TokenUpdate`.
async fn check_in(e: &Enrolled, client: &mut MdmClient, stats: &mut Stats) -> Result<(), Failed> {
    let url = &e.mdm.check_in_url;
    let auth = e.device.hw.authenticate(&e.mdm.topic);
    client
        .check_in(url, &auth, stats)
        .await
        .kind("Authenticate")?;
    let update = e
        .push
        .token_update(&e.device.hw, &e.mdm.topic)
        .kind("TokenUpdate")?;
    client
        .check_in(url, &update, stats)
        .await
        .kind("TokenUpdate")
}

async fn enroll_with(
    env: &Env,
    link: &mut Link,
    hw: Hardware,
    rng: &mut Rand,
    stats: &mut Stats,
) -> Result<(Enrolled, MdmClient), Failed> {
    const PROFILE: &str = "profile download";
    const SCEP: &str = "SCEP";

    let url = format!("{}/mdm/enroll", env.server);
    let reply = link
        .send(Method::GET, &url, &[], Vec::new())
        .await
        .and_then(|r| r.ok("GET /mdm/enroll"))
        .kind(PROFILE)?;
    stats.record(Series::Profile, reply.elapsed);
    let enrollment = read_enrollment(&reply.body)
        .context("reading the enrollment profile")
        .kind(PROFILE)?;

    // GetCACaps, then GetCACert.
    let scep_url = &enrollment.scep.url;
    let reply = link
        .send(
            Method::GET,
            &operation_url(scep_url, "GetCACaps"),
            &[],
            Vec::new(),
        )
        .await
        .and_then(|r| r.ok("GetCACaps"))
        .kind(SCEP)?;
    stats.record(Series::Scep, reply.elapsed);
    let caps = String::from_utf8_lossy(&reply.body).into_owned();
    let has = |cap: &str| caps.lines().any(|l| l.trim().eq_ignore_ascii_case(cap));
    let alg = if has("AES") || has("SCEPStandard") {
        ContentEncryption::Aes256Cbc
    } else {
        ContentEncryption::DesEde3Cbc
    };
    let post = has("POSTPKIOperation") || has("SCEPStandard");

    let reply = link
        .send(
            Method::GET,
            &operation_url(scep_url, "GetCACert"),
            &[],
            Vec::new(),
        )
        .await
        .and_then(|r| r.ok("GetCACert"))
        .kind(SCEP)?;
    stats.record(Series::Scep, reply.elapsed);
    let ca_certs = ca_certificates(&reply).kind(SCEP)?;
    let recipient = ca_certs
        .first()
        .cloned()
        .ok_or_else(|| anyhow!("GetCACert returned no certificate"))
        .kind(SCEP)?;

    // The key and the signed request: CPU work, off the async threads.
    let subject = if enrollment.scep.subject.is_empty() {
        format!("CN={}", hw.udid)
    } else {
        enrollment.scep.subject.clone()
    };
    let challenge = enrollment.scep.challenge.clone();
    let bits = enrollment.scep.key_size;
    let tid = TransactionId::new(hex::encode_upper(rng.bytes(16)))
        .map_err(|e| anyhow!("{e}"))
        .kind(SCEP)?;
    let nonce = Nonce::random(&mut rng.0);
    let started = Instant::now();
    let tid2 = tid.clone();
    let (requester, message) = tokio::task::spawn_blocking(move || {
        let mut rng = Rand::new();
        let key = scep::rsa::PrivateKey::new(&mut rng.0, bits).context("RSA key generation")?;
        let now = SystemTime::now();
        let requester = Requester::self_signed(&subject, key, now, &mut rng.0)
            .with_context(|| format!("self-signed certificate for {subject:?}"))?;
        let csr = requester
            .certification_request(&subject, challenge.as_deref(), &mut rng.0)
            .context("certification request")?;
        let message = requester
            .request(
                MessageType::PkcsReq,
                &csr,
                &recipient,
                alg,
                &tid2,
                nonce,
                now,
                &mut rng.0,
            )
            .context("PKCSReq message")?;
        anyhow::Ok((requester, message))
    })
    .await
    .map_err(|e| anyhow!("key generation task: {e}"))
    .and_then(|r| r)
    .kind(SCEP)?;
    stats.record(Series::KeyGeneration, started.elapsed());

    let reply = if post {
        link.send(
            Method::POST,
            &operation_url(scep_url, "PKIOperation"),
            &[("content-type", scep::CONTENT_TYPE_PKI_MESSAGE.to_owned())],
            message,
        )
        .await
    } else {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD.encode(&message);
        let url = format!(
            "{}&message={}",
            operation_url(scep_url, "PKIOperation"),
            percent_encode(&b64)
        );
        link.send(Method::GET, &url, &[], Vec::new()).await
    }
    .and_then(|r| r.ok("PKIOperation"))
    .kind(SCEP)?;
    stats.record(Series::Scep, reply.elapsed);

    let body = reply.body.to_vec();
    let req2 = requester.clone();
    let rep = tokio::task::spawn_blocking(move || {
        let mut rng = Rand::new();
        req2.read_cert_rep(&body, &mut rng.0)
    })
    .await
    .map_err(|e| anyhow!("CertRep task: {e}"))
    .and_then(|r| r.context("reading the CertRep"))
    .kind(SCEP)?;
    let issued = check_cert_rep(&rep, &tid, nonce, &ca_certs).kind(SCEP)?;
    // The certificate must be for our key.
    let key = requester.key().clone();
    Requester::new(issued.clone(), key.clone())
        .context("the issued certificate is not for the device's key")
        .kind(SCEP)?;
    let key_der = {
        use scep::rsa::pkcs8::EncodePrivateKey as _;
        key.to_pkcs8_der()
            .map_err(|e| anyhow!("encoding the key: {e}"))
            .kind(SCEP)?
            .as_bytes()
            .to_vec()
    };

    let push = Push::generate(env.platform, rng);
    let enrolled = Enrolled {
        device: Device {
            hw,
            identity_cert: issued,
            ca_certs,
            profiles: vec![enrollment.profile],
        },
        push,
        mdm: enrollment.mdm,
        key_der,
    };
    let client = MdmClient::new(env, &enrolled).kind("TLS configuration")?;
    Ok((enrolled, client))
}

/// The CA certificates from a `GetCACert` answer: one DER certificate, or
/// a degenerate PKCS #7 holding the CA (and RA) certificates.
fn ca_certificates(reply: &Reply) -> anyhow::Result<Vec<Vec<u8>>> {
    let ra = reply
        .content_type
        .as_deref()
        .is_some_and(|t| t.starts_with(scep::CONTENT_TYPE_CA_RA_CERT));
    if !ra {
        use der::Decode as _;
        if scep::x509_cert::Certificate::from_der(&reply.body).is_ok() {
            return Ok(vec![reply.body.to_vec()]);
        }
    }
    scep::certificates_from_degenerate(&reply.body)
        .context("GetCACert answer is neither a certificate nor a degenerate PKCS #7")
}

/// Checks a `CertRep`: granted, for our transaction and nonce, signed by
/// the CA; returns the issued certificate.
fn check_cert_rep(
    rep: &scep::client::CertRep,
    tid: &TransactionId,
    nonce: Nonce,
    ca_certs: &[Vec<u8>],
) -> anyhow::Result<Vec<u8>> {
    let a = &rep.attributes;
    match a.pki_status {
        Some(PkiStatus::Success) => {}
        Some(PkiStatus::Failure) => bail!(
            "the SCEP server refused the request (failInfo {})",
            a.fail_info
                .map_or_else(|| "absent".to_owned(), |f| format!("{f:?}"))
        ),
        Some(PkiStatus::Pending) => bail!("the SCEP server left the request pending"),
        None => bail!("the CertRep has no pkiStatus"),
    }
    if &a.transaction_id != tid {
        bail!("the CertRep is for another transaction");
    }
    if a.recipient_nonce != Some(nonce) {
        bail!("the CertRep's recipientNonce is not our senderNonce");
    }
    if !ca_certs.contains(&rep.signer) {
        bail!("the CertRep is not signed by the CA from GetCACert");
    }
    rep.certificates
        .first()
        .cloned()
        .ok_or_else(|| anyhow!("the CertRep holds no certificate"))
}

/// `base?operation=op` (or `&operation=` when `base` has a query).
fn operation_url(base: &str, op: &str) -> String {
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}operation={op}")
}

/// Percent-encodes base64 text for a query string.
fn percent_encode(b64: &str) -> String {
    b64.replace('+', "%2B")
        .replace('/', "%2F")
        .replace('=', "%3D")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_urls() {
        assert_eq!(
            operation_url("https://h/scep", "GetCACaps"),
            "https://h/scep?operation=GetCACaps"
        );
        assert_eq!(
            operation_url("https://h/scep?profile=a", "GetCACert"),
            "https://h/scep?profile=a&operation=GetCACert"
        );
        assert_eq!(percent_encode("a+b/c=="), "a%2Bb%2Fc%3D%3D");
    }
}

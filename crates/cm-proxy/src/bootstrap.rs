//! Building a running service from [`Settings`]: on first start it creates
//! everything it needs in the data directory (server CA and certificate,
//! SCEP CA, challenge, admin token, push-topic placeholder, SQLite database).

use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

use apple_mdm_protocol::profile::{EnrollmentProfile, MdmPayload, RootCertificate, ScepPayload};
use apple_mdm_protocol::signature::SigningIdentity;
use pippin_service::{ClientAuth, MinTlsVersion, Secret, SecretBox};
use pippin_store::{PostgresConfig, PostgresStore, SqliteStore, Store};
use scep::{CertificateAuthority, ScepConfig, ScepServer, StaticChallenge};
use tracing::{error, info, warn};

use crate::config::Settings;
use crate::error::{Error, Result};
use crate::push::{PushSender, RecordingPushSender};
use crate::pushcert::{
    ApnsSettings, CertSource, PUSH_KEY_CONTEXT, ProfileTemplate, PushControl, PushState,
    apns_sender,
};
use crate::state::{App, Metrics, RuntimeConfig};

/// What `build` made: the shared state and the TLS configuration.
pub struct Built {
    /// The state request handlers share.
    pub app: Arc<App>,
    /// The listener's TLS configuration.
    pub tls: Arc<rustls::ServerConfig>,
    /// Things worth telling the person who started the service.
    pub notes: StartupNotes,
}

/// Facts printed at start-up.
#[derive(Clone, Debug)]
pub struct StartupNotes {
    /// Where the enrollment profile is served.
    pub enroll_url: String,
    /// The CA file clients must trust.
    pub ca_file: std::path::PathBuf,
    /// Where the admin token came from (`file PATH`, `configuration`).
    pub admin_token_source: String,
    /// The push topic and whether it is a placeholder.
    pub topic: String,
    /// No APNs certificate: the topic is a placeholder.
    pub topic_is_placeholder: bool,
    /// The database in use (no password).
    pub database: String,
    /// Where pushes go (`apns https://…`, `recording …`).
    pub push: String,
    /// Enrolled devices use another push topic than the one in use: how
    /// many, and what that means for them.
    pub topic_warning: Option<String>,
}

fn rng() -> scep::rand_core::UnwrapErr<getrandom::SysRng> {
    scep::rand_core::UnwrapErr(getrandom::SysRng)
}

/// Writes a file readable by its owner only.
fn write_secret(path: &Path, data: &[u8]) -> Result<()> {
    Ok(pippin_service::write_file_atomic(path, data, true, true)?)
}

/// Reads a one-line secret file, or creates it with `make`.
fn secret_file(path: &Path, make: impl FnOnce() -> String) -> Result<String> {
    match std::fs::read_to_string(path) {
        Ok(s) if !s.trim().is_empty() => Ok(s.trim().to_owned()),
        Ok(_) => {
            let v = make();
            write_secret(path, format!("{v}\n").as_bytes())?;
            Ok(v)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let v = make();
            write_secret(path, format!("{v}\n").as_bytes())?;
            Ok(v)
        }
        Err(e) => Err(Error::io(path, e)),
    }
}

fn random_token() -> String {
    let mut b = [0u8; 32];
    scep::rand_core::Rng::fill_bytes(&mut rng(), &mut b);
    pippin_service::generate_token(b)
}

/// Opens the store the settings name.
pub async fn open_store(s: &Settings) -> Result<(Arc<dyn Store>, String)> {
    match s.database_url.as_deref() {
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            let mut cfg = PostgresConfig::new(url);
            cfg.pool_size = s.pool_size;
            cfg.schema(s.database_schema.clone());
            let store = PostgresStore::connect(&cfg).await?;
            let shown = match url.split_once('@') {
                Some((_, host)) => format!("postgres://…@{host}"),
                None => url.to_owned(),
            };
            Ok((Arc::new(store), shown))
        }
        Some(url) => {
            let path = url.strip_prefix("sqlite:").ok_or_else(|| {
                Error::Config(format!(
                    "database url {url:?}: use sqlite:PATH or postgres://…"
                ))
            })?;
            let path = path.strip_prefix("//").unwrap_or(path);
            let store = SqliteStore::open(Path::new(path))?;
            Ok((Arc::new(store), format!("sqlite:{path}")))
        }
        None => {
            let path = s.data_dir.join("pippin.db");
            let store = SqliteStore::open(&path)?;
            Ok((Arc::new(store), format!("sqlite:{}", path.display())))
        }
    }
}

/// Reads the push certificate: the one the settings name, else the one
/// installed through the admin API, else none.
fn load_push_certificate(
    s: &Settings,
    apns: &ApnsSettings,
) -> Result<Option<(apns::PushCertificate, CertSource)>> {
    if let Some(p12) = &s.apns_p12 {
        if s.apns_cert.is_some() || s.apns_key.is_some() {
            return Err(Error::Config(
                "apns: give the push certificate as cert and key, or as p12, not both".to_owned(),
            ));
        }
        let bytes = std::fs::read(p12).map_err(|e| Error::io(p12, e))?;
        let password = s
            .apns_p12_password
            .as_ref()
            .map(|p| p.expose().clone())
            .unwrap_or_default();
        let pc = apns::PushCertificate::from_pkcs12(&bytes, &password)
            .map_err(|e| Error::Config(format!("push certificate {}: {e}", p12.display())))?;
        return Ok(Some((pc, CertSource::Configured { cert: p12.clone() })));
    }
    let (cert, key, source) = match (&s.apns_cert, &s.apns_key) {
        (Some(c), Some(k)) => (
            c.clone(),
            k.clone(),
            CertSource::Configured { cert: c.clone() },
        ),
        (None, None) => {
            let (c, k) = (apns.installed_cert_path(), apns.installed_key_path());
            if !c.exists() {
                return Ok(None);
            }
            let cert_pem = std::fs::read_to_string(&c).map_err(|e| Error::io(&c, e))?;
            let sealed = std::fs::read_to_string(&k).map_err(|e| Error::io(&k, e))?;
            let key_pem = apns
                .secrets
                .open(PUSH_KEY_CONTEXT, &sealed)
                .map_err(|e| Error::Config(format!("{}: {e}", k.display())))?;
            let key_pem = String::from_utf8_lossy(key_pem.expose()).into_owned();
            let pc = apns::PushCertificate::from_pem(&cert_pem, &key_pem).map_err(|e| {
                Error::Config(format!("installed push certificate {}: {e}", c.display()))
            })?;
            return Ok(Some((pc, CertSource::Installed { cert: c })));
        }
        _ => {
            return Err(Error::Config(
                "apns: give both the push certificate (cert) and its key (key), or neither"
                    .to_owned(),
            ));
        }
    };
    let cert_pem = std::fs::read_to_string(&cert).map_err(|e| Error::io(&cert, e))?;
    let key_pem = std::fs::read_to_string(&key).map_err(|e| Error::io(&key, e))?;
    let pc = apns::PushCertificate::from_pem(&cert_pem, &key_pem).map_err(|e| {
        Error::Config(format!(
            "push certificate {} / key {}: {e}",
            cert.display(),
            key.display()
        ))
    })?;
    Ok(Some((pc, source)))
}

/// How the service reaches APNs.
fn apns_settings(s: &Settings, secrets: Arc<SecretBox>) -> Result<ApnsSettings> {
    let extra_ca_pem = match &s.apns_ca {
        Some(ca) => Some(std::fs::read_to_string(ca).map_err(|e| Error::io(ca, e))?),
        None => None,
    };
    Ok(ApnsSettings {
        endpoint: s.apns_url().to_owned(),
        extra_ca_pem,
        data_dir: s.data_dir.clone(),
        secrets,
    })
}

/// Builds the service. With a push certificate (configured in `[apns]`,
/// or installed earlier through the admin API), pushes go to APNs and its
/// topic is the push topic; without, pushes are recorded only and the
/// topic is a placeholder until one is installed.
pub async fn build(s: &Settings) -> Result<Built> {
    std::fs::create_dir_all(&s.data_dir).map_err(|e| Error::io(&s.data_dir, e))?;
    let key_file = s.master_key_path();
    let (secrets, created) = SecretBox::load_or_create(&key_file)?;
    if created {
        info!(file = %key_file.display(), "created the master key for secrets at rest");
    }
    let secrets = Arc::new(secrets);
    let apns = apns_settings(s, secrets.clone())?;
    let loaded = load_push_certificate(s, &apns)?;
    let now = SystemTime::now();
    let (push, cert): (Arc<dyn PushSender>, _) = match loaded {
        Some((cert, source)) => {
            let sender = apns_sender(&apns, &cert, now).map_err(Error::Config)?;
            (Arc::new(sender), Some((cert.info().clone(), source)))
        }
        None => (Arc::new(RecordingPushSender::new()), None),
    };
    build_inner(s, apns, push, cert, secrets).await
}

/// The push topic: the push certificate's, else the configured one, else
/// the placeholder kept in the data directory.
fn push_topic(s: &Settings, cert_topic: Option<&str>) -> Result<(String, bool)> {
    let stored = s.data_dir.join("push-topic");
    let Some(ct) = cert_topic else {
        return Ok(match &s.topic {
            Some(t) => (t.clone(), false),
            None => (
                secret_file(&stored, || {
                    format!(
                        "com.apple.mgmt.External.{}",
                        uuid::Uuid::new_v4().hyphenated()
                    )
                })?,
                true,
            ),
        });
    };
    if let Some(t) = &s.topic
        && t != ct
    {
        return Err(Error::Config(format!(
            "the configured topic {t:?} differs from the push certificate's topic {ct:?}; \
             remove the topic setting or use the matching certificate"
        )));
    }
    // Remember the topic in use (it stays the topic if the certificate is
    // removed later).
    std::fs::write(&stored, format!("{ct}\n")).map_err(|e| Error::io(&stored, e))?;
    Ok((ct.to_owned(), false))
}

async fn build_inner(
    s: &Settings,
    apns: ApnsSettings,
    push: Arc<dyn PushSender>,
    cert: Option<(apns::PushCertificateInfo, CertSource)>,
    secrets: Arc<SecretBox>,
) -> Result<Built> {
    let cert_topic = cert.as_ref().map(|(c, _)| c.topic.as_str());
    let dir = &s.data_dir;
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let now = SystemTime::now();

    // HTTPS identity.
    let host = s.public_host();
    let mut extra = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
    extra.retain(|n| n != &host);
    let pki = pippin_service::load_or_create_pki(dir, &host, &extra, now)?;
    if pki.ca_created {
        info!(file = %dir.join("ca.pem").display(), "created the server CA");
    }

    // SCEP CA for device identities.
    let scep_cert = dir.join("scep-ca.pem");
    let scep_key = dir.join("scep-ca.key");
    let ca = if scep_cert.exists() && scep_key.exists() {
        let c = std::fs::read(&scep_cert).map_err(|e| Error::io(&scep_cert, e))?;
        let k = std::fs::read(&scep_key).map_err(|e| Error::io(&scep_key, e))?;
        CertificateAuthority::from_pem(&c, &k)?
    } else {
        let ca = CertificateAuthority::generate_self_signed(
            "CN=Pippin Device Identity CA,O=Pippin",
            now,
            &mut rng(),
        )?;
        write_secret(&scep_key, ca.private_key_pem()?.as_bytes())?;
        std::fs::write(&scep_cert, ca.certificate_pem()?).map_err(|e| Error::io(&scep_cert, e))?;
        info!(file = %scep_cert.display(), "created the SCEP CA");
        ca
    };
    let scep_ca_der = ca.certificate_der().to_vec();
    let challenge = match &s.scep_challenge {
        Some(c) => c.clone(),
        None => secret_file(&dir.join("scep-challenge"), random_token)?,
    };
    let mut scep_config = ScepConfig::new(ca, Arc::new(StaticChallenge::new(challenge.clone())));
    let mut opts = scep::IssueOptions::default();
    opts.validity_days(s.scep_validity_days);
    scep_config.issue_options(opts);
    let scep = ScepServer::new(Arc::new(scep_config));

    // Admin token.
    let (admin_token, admin_token_source) = match &s.admin_token {
        Some(t) if !t.is_empty() => (t.clone(), "configuration".to_owned()),
        _ => {
            let p = dir.join("admin-token");
            (
                secret_file(&p, random_token)?,
                format!("file {}", p.display()),
            )
        }
    };

    // Push topic.
    let (topic, topic_is_placeholder) = push_topic(s, cert_topic)?;
    if !topic.starts_with("com.apple.mgmt.") {
        return Err(Error::Config(format!(
            "push topic {topic:?} is not an MDM topic (com.apple.mgmt.…)"
        )));
    }

    // Enrollment profile.
    let base = s.public_url.trim_end_matches('/');
    let mut mdm = MdmPayload::new(format!("{base}/mdm/connect"), topic.clone());
    mdm.check_in_url = Some(format!("{base}/mdm/checkin"));
    mdm.sign_message = true;
    let scep_payload = ScepPayload::new(
        format!("{base}/scep"),
        Some(challenge),
        "Pippin Device Identity",
    );
    let mut profile = EnrollmentProfile::new(mdm, Some(scep_payload));
    if let Some(o) = &s.organization {
        profile.organization = Some(o.clone());
    }
    if let Some(i) = &s.profile_identifier {
        profile.identifier = i.clone();
    }
    profile.roots.push(RootCertificate {
        der: pki.ca.cert_der.clone(),
        file_name: "pippin-ca.cer".to_owned(),
        display_name: "Pippin server CA".to_owned(),
    });
    let signer = if s.sign_profile {
        Some(
            SigningIdentity::from_pem(
                pki.server_chain_pem().as_bytes(),
                pki.server.key_pem.expose().as_bytes(),
            )
            .map_err(apple_mdm_protocol::Error::from)?,
        )
    } else {
        None
    };
    let template = ProfileTemplate::new(profile, signer);
    let profile_bytes = template.build(&topic)?;

    // TLS: client certificates are optional at the handshake (enrollment
    // and the admin API have none) and checked by the MDM routes.
    let roots = vec![rustls::pki_types::CertificateDer::from(scep_ca_der)];
    let tls = pippin_service::server_config(
        &pki.server_chain_pem(),
        pki.server.key_pem.expose(),
        ClientAuth::Optional { roots },
        if s.tls13_only {
            MinTlsVersion::Tls13
        } else {
            MinTlsVersion::Tls12
        },
    )?;

    let (store, database) = open_store(s).await?;
    // The topics enrolled devices use are the truth: any device enrolled
    // under another topic than this one can no longer be woken.
    let enrolled = store.enrolled_topics().await?;
    let topic_warning = crate::pushcert::enrolled_topic_warning(&topic, &enrolled);
    if let Some(w) = &topic_warning {
        error!(topic, "{w}");
    }
    if topic_is_placeholder {
        warn!(
            topic,
            "no push certificate configured: using a placeholder topic; real devices cannot be woken until one is installed"
        );
    }
    let push_description = push.describe();
    info!(push = %push_description, "push sender");
    let app = Arc::new(App {
        config: RuntimeConfig {
            trust_mdm_signature: s.trust_mdm_signature,
            max_body_bytes: s.max_body_bytes,
            public_url: base.to_owned(),
        },
        store,
        scep,
        push: PushControl::new(
            PushState {
                sender: push,
                topic: topic.clone(),
                topic_is_placeholder,
                source: cert
                    .as_ref()
                    .map_or(CertSource::None, |(_, src)| src.clone()),
                certificate: cert.map(|(c, _)| c),
                profile: Arc::new(profile_bytes),
            },
            template,
            apns,
        ),
        metrics: Metrics::new()?,
        dep: crate::dep::DepService::new(
            s.dep.clone(),
            base,
            pki.ca.cert_der.clone(),
            s.data_dir.clone(),
        )?,
        vpp: crate::vpp::VppService::new(s.vpp.clone(), base, s.data_dir.clone())?,
        secrets,
        admin_token: Secret::new(admin_token),
        ca_pem: pki.ca.cert_pem.clone(),
    });
    Ok(Built {
        app,
        tls,
        notes: StartupNotes {
            enroll_url: format!("{base}/mdm/enroll"),
            ca_file: dir.join("ca.pem"),
            admin_token_source,
            topic,
            topic_is_placeholder,
            database,
            push: push_description,
            topic_warning,
        },
    })
}

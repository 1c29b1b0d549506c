//! The connection flags `wmi-query` and `wmi-invoke` share, and the client
//! they build.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{ArgGroup, Args};
use sccm_wmi::client::{AdminServiceClient, Auth, ClientConfig, Trust, WsManClient};
use sccm_wmi::ntlm::Credentials;

/// The environment variable read for the password of `--user`.
pub(crate) const PASSWORD_ENV: &str = "PIPPIN_WMI_PASSWORD";
/// The environment variable read for a bearer token.
pub(crate) const BEARER_ENV: &str = "PIPPIN_WMI_BEARER";

/// Where the SMS Provider is and how to sign in to it.
#[derive(Args, Debug)]
#[group(skip)]
#[command(group(ArgGroup::new("endpoint").required(true).multiple(false).args(["adminservice", "wsman"])))]
pub(crate) struct Connection {
    /// The AdminService (REST/OData):
    /// https://<provider>/AdminService. Plain http:// only to a loopback
    /// address.
    #[arg(long, value_name = "URL")]
    pub(crate) adminservice: Option<String>,
    /// WMI over WS-Management (WinRM): http://<provider>:5985/wsman
    /// (sealed with NTLM) or https://<provider>:5986/wsman. Needs --site.
    #[arg(long, value_name = "URL", requires = "site")]
    pub(crate) wsman: Option<String>,
    /// The site code, for WinRM's namespace root\sms\site_<CODE>.
    #[arg(long, value_name = "CODE")]
    pub(crate) site: Option<String>,
    /// The account, DOMAIN\user (or a local user). Windows Negotiate
    /// (NTLMv2) unless --basic. The password comes from
    /// $PIPPIN_WMI_PASSWORD, or from --password.
    #[arg(long, value_name = "DOMAIN\\USER")]
    pub(crate) user: Option<String>,
    /// The password of --user. Prefer $PIPPIN_WMI_PASSWORD: a flag shows
    /// in `ps` and in shell history.
    #[arg(long, value_name = "P", requires = "user")]
    pub(crate) password: Option<String>,
    /// Authenticate with Kerberos (Negotiate) using the ticket the system
    /// holds (kinit; $KRB5CCNAME picks the cache), through the system's
    /// GSS-API library. The provider is named HTTP/<host of the URL>.
    #[arg(long, conflicts_with_all = ["user", "bearer"])]
    pub(crate) kerberos: bool,
    /// Send --user with HTTP Basic instead of Negotiate (local accounts in
    /// labs; over https, or plain http to a loopback address only).
    #[arg(long, requires = "user")]
    pub(crate) basic: bool,
    /// A bearer token (the cloud management gateway's AdminService).
    /// Prefer $PIPPIN_WMI_BEARER, read when neither --user nor --bearer is
    /// given.
    #[arg(long, value_name = "T", conflicts_with = "user")]
    pub(crate) bearer: Option<String>,
    /// Trust exactly the provider certificate with this SHA-256
    /// fingerprint (64 hex digits, `:` between bytes allowed, or
    /// sha256/BASE64): ConfigMgr's self-signed "SMS Issuing" certificate.
    #[arg(long, value_name = "SHA256", conflicts_with = "ca")]
    pub(crate) pin: Option<String>,
    /// Trust anchors, PEM, instead of the system's.
    #[arg(long, value_name = "PEM")]
    pub(crate) ca: Option<PathBuf>,
}

/// A connected client of either kind.
pub(crate) enum Provider {
    /// The AdminService.
    Admin(AdminServiceClient),
    /// WinRM.
    WsMan(WsManClient),
}

impl Connection {
    /// The credentials the flags and the environment give.
    fn auth(&self) -> anyhow::Result<Auth> {
        if self.kerberos {
            return Ok(Auth::Kerberos { ccache: None });
        }
        if let Some(user) = &self.user {
            let password = match &self.password {
                Some(p) => p.clone(),
                None => match std::env::var(PASSWORD_ENV) {
                    Ok(p) => p,
                    Err(_) => bail!("--user needs a password: set {PASSWORD_ENV} (or --password)"),
                },
            };
            if self.basic {
                return Ok(Auth::Basic {
                    user: user.clone(),
                    password,
                });
            }
            let credentials =
                Credentials::parse(user, &password).with_context(|| format!("--user {user:?}"))?;
            return Ok(Auth::Negotiate(credentials));
        }
        let bearer = self
            .bearer
            .clone()
            .or_else(|| std::env::var(BEARER_ENV).ok().filter(|t| !t.is_empty()));
        Ok(bearer.map_or(Auth::Anonymous, Auth::Bearer))
    }

    fn trust(&self) -> anyhow::Result<Trust> {
        if let Some(pin) = &self.pin {
            return Ok(Trust::parse_pin(pin)?);
        }
        if let Some(ca) = &self.ca {
            let pem =
                std::fs::read_to_string(ca).with_context(|| format!("reading {}", ca.display()))?;
            return Ok(Trust::Anchors(pem));
        }
        Ok(Trust::System)
    }

    /// The client for the endpoint given (it connects on first use).
    pub(crate) fn connect(&self) -> anyhow::Result<Provider> {
        let mut config = ClientConfig::default();
        config.auth(self.auth()?).trust(self.trust()?);
        if let Some(url) = &self.adminservice {
            let client = AdminServiceClient::new(url, config);
            if client.is_err() && url.to_ascii_lowercase().starts_with("http://") {
                return client
                    .map(Provider::Admin)
                    .context("the AdminService takes plain http:// only on a loopback address");
            }
            return Ok(Provider::Admin(client?));
        }
        let (Some(url), Some(site)) = (&self.wsman, &self.site) else {
            bail!("give --adminservice URL, or --wsman URL with --site CODE");
        };
        Ok(Provider::WsMan(WsManClient::new(url, site, config)?))
    }
}

/// An error as one line: the crate's message (which carries the WMI or
/// WinRM code), plus the name and meaning of a WMI code that a WinRM fault
/// gives only as a number.
pub(crate) fn describe(e: &anyhow::Error) -> String {
    let mut line = format!("{e:#}");
    if let Some(sccm_wmi::Error::Fault(fault)) = e.downcast_ref::<sccm_wmi::Error>()
        && let Some(code) = fault.wmi_error.as_ref().and_then(|w| w.error_code)
        && let Some((name, what)) = sccm_wmi::odata::wbem_lookup(code)
    {
        line.push_str(&format!(" [{name}: {what}]"));
    }
    if let Some(sccm_wmi::Error::Tls(m)) = e.downcast_ref::<sccm_wmi::Error>()
        && m.contains("UnknownIssuer")
    {
        line.push_str(
            " (no trust anchor vouches for the certificate: pin ConfigMgr's self-signed \
             certificate with --pin SHA256, or give its issuer with --ca)",
        );
    }
    line.replace(['\n', '\r'], " ")
}

//! Reports publications to cm-proxy's admin API
//! (`POST /api/v1/software-updates/publications`), so that the console
//! and `pippinctl` show what was published and when.

use std::time::Duration;

use anyhow::Context as _;
use pippin_http_client::client::{HttpsClient, HttpsConfig};
use pippin_service::Secret;
use serde_json::json;

use crate::config::CmProxy;
use crate::state::PublishedInfo;

/// Sends reports to one cm-proxy.
pub struct Reporter {
    client: HttpsClient,
    url: String,
    token: Secret<String>,
}

impl std::fmt::Debug for Reporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reporter")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl Reporter {
    /// A reporter for `target`: reads the token and the CA file.
    pub fn new(target: &CmProxy) -> anyhow::Result<Self> {
        let token = std::fs::read_to_string(&target.token_file)
            .with_context(|| format!("reading the cm-proxy token {}", target.token_file.display()))?
            .trim()
            .to_owned();
        anyhow::ensure!(
            !token.is_empty(),
            "the cm-proxy token file {} is empty",
            target.token_file.display()
        );
        let mut config = HttpsConfig::default();
        if let Some(ca) = &target.ca_file {
            let pem = std::fs::read_to_string(ca)
                .with_context(|| format!("reading the cm-proxy CA {}", ca.display()))?;
            // Only cm-proxy's own CA is trusted for this link.
            config.trust_anchors_pem(pem);
        }
        config
            .connect_timeout(Duration::from_secs(10))
            .request_timeout(Duration::from_secs(30));
        let base = pippin_http_client::check_base_url(&target.url)?;
        Ok(Self {
            client: HttpsClient::new(&config)?,
            url: format!("{base}/api/v1/software-updates/publications"),
            token: Secret::new(token),
        })
    }

    /// Reports `published`, served at `catalog_url`; `detail` carries the
    /// sources and the signer.
    pub async fn report(
        &self,
        catalog_url: &str,
        published: &PublishedInfo,
        detail: serde_json::Value,
    ) -> anyhow::Result<i64> {
        let published_at = time::OffsetDateTime::from_unix_timestamp(published.published_at)?
            .format(&time::format_description::well_known::Rfc3339)?;
        let body = json!({
            "catalog_url": catalog_url,
            "catalog_sha256": published.cab_sha256,
            "published_at": published_at,
            "products": published.products,
            "packages_published": published.packages_published,
            "superseded": published.superseded,
            "expired": published.expired,
            "detail": detail,
        });
        let request = http::Request::post(&self.url)
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(
                http::header::AUTHORIZATION,
                format!("Bearer {}", self.token.expose()),
            )
            .body(serde_json::to_vec(&body)?)?;
        let response = self.client.send(request).await?;
        let status = response.status();
        let answer: serde_json::Value = serde_json::from_slice(response.body()).unwrap_or_default();
        anyhow::ensure!(
            status == http::StatusCode::CREATED,
            "cm-proxy answered HTTP {}: {}",
            status.as_u16(),
            answer
                .get("error")
                .and_then(|e| e.as_str())
                .unwrap_or("(no detail)")
        );
        answer
            .get("id")
            .and_then(serde_json::Value::as_i64)
            .context("cm-proxy's answer has no id")
    }
}

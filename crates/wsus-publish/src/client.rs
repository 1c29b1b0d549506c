//! Downloads over HTTPS: [`CatalogClient`] sends the requests of
//! [`crate::fetch`] with the shared Pippin HTTPS client (rustls, TLS 1.2+,
//! the system's trust anchors unless others are given).

use std::time::Duration;

use pippin_http_client::client::{HttpsClient, HttpsConfig};

use crate::fetch::{FetchError, Fetched, Validators, conditional_get, read_response};

/// Largest catalog accepted by default: 256 MiB (Apple's merged catalogs
/// are tens of megabytes uncompressed).
pub const DEFAULT_MAX_CATALOG_BYTES: usize = 256 * 1024 * 1024;

/// Downloads catalogs and distribution files.
#[derive(Debug)]
pub struct CatalogClient {
    https: HttpsClient,
    max_body: usize,
}

impl CatalogClient {
    /// A client trusting the system's certificate authorities, or
    /// `extra_ca_pem` as well, with a 30 s connect and a 10 min transfer
    /// timeout.
    pub fn new(extra_ca_pem: Option<&str>, max_body: usize) -> Result<Self, FetchError> {
        let mut config = HttpsConfig::default();
        if let Some(pem) = extra_ca_pem {
            config.extra_ca_pem(pem);
        }
        config
            .connect_timeout(Duration::from_secs(30))
            .request_timeout(Duration::from_secs(600))
            .max_body_len(max_body);
        Ok(Self {
            https: HttpsClient::new(&config)?,
            max_body,
        })
    }

    /// Gets `url` unless the copy identified by `validators` is current.
    pub async fn fetch(&self, url: &str, validators: &Validators) -> Result<Fetched, FetchError> {
        let request = conditional_get(url, validators)?;
        let response = self.https.send(request).await?;
        read_response(&response, self.max_body)
    }
}

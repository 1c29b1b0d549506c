//! What the service remembers between runs, in its data directory:
//!
//! | path | what |
//! |---|---|
//! | `state.json` | per catalog: validators and the outcome of the last check; the published catalog's digest and counts; the ledger of published products |
//! | `cache/catalogs/<hash>.sucatalog` | the last copy of each Apple catalog that parsed (as downloaded, gzip or not) |
//! | `cache/distributions/<hash>.dist` | distribution files, by URL (Apple never changes one in place) |
//! | `published/<name>.cab` | the signed catalog being served |
//! | `published/<name>.xml` | the same catalog, unsigned, for reading |
//!
//! Every file is replaced atomically, so a crash leaves the previous one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use wsus_publish::fetch::Validators;
use wsus_publish::publish::Ledger;

/// `state.json`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct State {
    /// Per catalog URL.
    pub sources: BTreeMap<String, SourceState>,
    /// The catalog being served.
    pub published: Option<PublishedInfo>,
    /// Every product published, current or expired.
    pub ledger: Ledger,
}

/// One Apple catalog's last check.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(default)]
pub struct SourceState {
    /// `ETag` of the cached copy.
    pub etag: Option<String>,
    /// `Last-Modified` of the cached copy.
    pub last_modified: Option<String>,
    /// When the cached copy was downloaded (Unix seconds).
    pub fetched_at: Option<i64>,
    /// When the catalog was last checked (Unix seconds).
    pub checked_at: Option<i64>,
    /// Products in the cached copy.
    pub products: usize,
    /// What went wrong at the last check, if anything.
    pub last_error: Option<String>,
}

impl SourceState {
    /// The validators to send.
    pub fn validators(&self) -> Validators {
        Validators {
            etag: self.etag.clone(),
            last_modified: self.last_modified.clone(),
        }
    }
}

/// The catalog being served.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
pub struct PublishedInfo {
    /// When it was built (Unix seconds).
    pub published_at: i64,
    /// SHA-256 of the catalog XML, hex.
    pub xml_sha256: String,
    /// SHA-256 of the signed cabinet, hex.
    pub cab_sha256: String,
    /// Products in Apple's catalogs.
    pub products: usize,
    /// Packages in the published catalog (current and expired).
    pub packages_published: usize,
    /// Packages that supersede others.
    pub superseded: usize,
    /// Packages published as expired.
    pub expired: usize,
    /// Whether cm-proxy has been told about it.
    pub reported: bool,
}

/// The data directory.
#[derive(Clone, Debug)]
pub struct DataDir {
    root: PathBuf,
}

impl DataDir {
    /// `root`, with its subfolders created.
    pub fn open(root: &Path) -> anyhow::Result<Self> {
        for sub in ["cache/catalogs", "cache/distributions", "published"] {
            let dir = root.join(sub);
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        Ok(Self {
            root: root.to_path_buf(),
        })
    }

    /// The root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Reads `state.json`, or the empty state on first start. A damaged
    /// file is kept aside (`state.json.damaged`) and the state starts
    /// empty: every product is then published again under the same IDs.
    pub fn load_state(&self) -> State {
        let path = self.root.join("state.json");
        match std::fs::read(&path) {
            Ok(bytes) => match serde_json::from_slice(&bytes) {
                Ok(state) => state,
                Err(e) => {
                    tracing::error!(path = %path.display(), error = %e, "state file damaged; kept aside as state.json.damaged, starting afresh");
                    let _ = std::fs::rename(&path, self.root.join("state.json.damaged"));
                    State::default()
                }
            },
            Err(_) => State::default(),
        }
    }

    /// Writes `state.json`.
    pub fn save_state(&self, state: &State) -> anyhow::Result<()> {
        let bytes = serde_json::to_vec_pretty(state)?;
        write(&self.root.join("state.json"), &bytes)
    }

    /// The cached copy of catalog `url`.
    pub fn cached_catalog(&self, url: &str) -> Option<Vec<u8>> {
        std::fs::read(self.catalog_path(url)).ok()
    }

    /// Whether a copy of catalog `url` is cached.
    pub fn has_catalog(&self, url: &str) -> bool {
        self.catalog_path(url).is_file()
    }

    /// Caches catalog `url`.
    pub fn cache_catalog(&self, url: &str, body: &[u8]) -> anyhow::Result<()> {
        write(&self.catalog_path(url), body)
    }

    /// The cached distribution file at `url`.
    pub fn cached_distribution(&self, url: &str) -> Option<Vec<u8>> {
        std::fs::read(self.distribution_path(url)).ok()
    }

    /// Whether the distribution file at `url` is cached.
    pub fn has_distribution(&self, url: &str) -> bool {
        self.distribution_path(url).is_file()
    }

    /// Caches the distribution file at `url`.
    pub fn cache_distribution(&self, url: &str, body: &[u8]) -> anyhow::Result<()> {
        write(&self.distribution_path(url), body)
    }

    /// Path of the served cabinet.
    pub fn cab_path(&self, name: &str) -> PathBuf {
        self.root.join("published").join(format!("{name}.cab"))
    }

    /// Path of the unsigned XML beside it.
    pub fn xml_path(&self, name: &str) -> PathBuf {
        self.root.join("published").join(format!("{name}.xml"))
    }

    /// Writes a published file.
    pub fn publish(&self, path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
        write(path, bytes)
    }

    fn catalog_path(&self, url: &str) -> PathBuf {
        self.root
            .join("cache/catalogs")
            .join(format!("{}.sucatalog", url_hash(url)))
    }

    fn distribution_path(&self, url: &str) -> PathBuf {
        self.root
            .join("cache/distributions")
            .join(format!("{}.dist", url_hash(url)))
    }
}

/// SHA-256 of `bytes`, lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn url_hash(url: &str) -> String {
    sha256_hex(url.as_bytes())[..32].to_owned()
}

fn write(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    pippin_service::write_file_atomic(path, bytes, false, true)
        .with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_roundtrips_and_damage_is_kept_aside() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::open(dir.path()).unwrap();
        assert!(data.load_state().published.is_none());
        let mut state = State::default();
        state.sources.insert(
            "https://a/x".into(),
            SourceState {
                etag: Some("\"e\"".into()),
                products: 3,
                ..SourceState::default()
            },
        );
        data.save_state(&state).unwrap();
        let back = data.load_state();
        assert_eq!(back.sources["https://a/x"].etag.as_deref(), Some("\"e\""));
        assert_eq!(
            back.sources["https://a/x"].validators().etag.as_deref(),
            Some("\"e\"")
        );

        std::fs::write(dir.path().join("state.json"), b"{not json").unwrap();
        assert!(data.load_state().sources.is_empty());
        assert!(dir.path().join("state.json.damaged").exists());
    }

    #[test]
    fn caches_by_url() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::open(dir.path()).unwrap();
        assert_eq!(data.cached_catalog("https://a/x"), None);
        data.cache_catalog("https://a/x", b"one").unwrap();
        data.cache_distribution("https://a/x", b"two").unwrap();
        assert_eq!(
            data.cached_catalog("https://a/x").as_deref(),
            Some(&b"one"[..])
        );
        assert_eq!(
            data.cached_distribution("https://a/x").as_deref(),
            Some(&b"two"[..])
        );
        assert_eq!(data.cached_catalog("https://a/y"), None);
    }
}

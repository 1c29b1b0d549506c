//! App and book metadata (name, bundle id, platforms, icon) by Adam ID,
//! through the content metadata lookup URL that `service/config` names
//! (`contentMetadataLookup`).
//!
//! The lookup is `GET <url>?version=2&p=mdm-lockup&caller=MDM&platform=…&cc=…&l=…&id=…`
//! with the content token in the `itvt` cookie (needed for custom apps the
//! organisation owns). The answer is `{"results": {"<id>": {...}}}`; an id
//! the store does not know is simply missing, and the shape of a result
//! varies between generations of the service (artwork as a list of sizes,
//! or as one URL template), so this reads it leniently.

use serde_json::Value;

use crate::api::Endpoint;
use crate::error::{Error, Result};
use crate::model::{Envelope, MdmInfo};

/// Ids per lookup request.
pub const MAX_IDS_PER_LOOKUP: usize = 20;

/// The icon size asked for when the artwork is a URL template.
const ICON_SIZE: &str = "512";

/// What is known about one app or book.
#[derive(Clone, Debug, Default, Eq, PartialEq, serde::Serialize)]
pub struct AppMetadata {
    /// The Adam ID.
    pub adam_id: String,
    /// The name.
    pub name: Option<String>,
    /// The bundle identifier (what `RemoveApplication` needs).
    pub bundle_id: Option<String>,
    /// The watchOS app's bundle identifier, when there is one.
    pub watch_bundle_id: Option<String>,
    /// `iosSoftware`, `desktopApp`, `ebook`, ...
    pub kind: Option<String>,
    /// Platforms derived from the device families: `iOS`, `macOS`, `tvOS`,
    /// `watchOS`, `visionOS`.
    pub platforms: Vec<String>,
    /// An icon URL.
    pub icon_url: Option<String>,
    /// The current version.
    pub version: Option<String>,
    /// The lowest OS version it runs on.
    pub minimum_os_version: Option<String>,
    /// A custom (B2B) app for this organisation.
    pub is_custom_app: bool,
}

/// The answer to a lookup: what was found (ids not found are missing).
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct MetadataPage {
    /// Found apps and books, in the order asked.
    pub items: Vec<AppMetadata>,
}

impl Envelope for MetadataPage {
    fn mdm_info(&self) -> Option<&MdmInfo> {
        None
    }
    fn token_expiration_date(&self) -> Option<&str> {
        None
    }
    fn error(&self) -> (Option<i64>, Option<&str>) {
        (None, None)
    }
}

/// A metadata lookup of up to [`MAX_IDS_PER_LOOKUP`] ids.
#[derive(Clone, Debug)]
pub struct LookupMetadata {
    /// The `contentMetadataLookup` URL.
    pub url: String,
    /// Adam IDs (digits).
    pub ids: Vec<String>,
    /// `enterprisestore` or `volumestore` (the client configuration's
    /// `defaultPlatform`).
    pub platform: String,
    /// Storefront country, lower case (`us`).
    pub country: String,
    /// Language (`en`).
    pub language: String,
}

impl LookupMetadata {
    /// A lookup of `ids` in the US English storefront of the enterprise
    /// store.
    pub fn new(url: impl Into<String>, ids: Vec<String>) -> Self {
        Self {
            url: url.into(),
            ids,
            platform: "enterprisestore".to_owned(),
            country: "us".to_owned(),
            language: "en".to_owned(),
        }
    }
}

fn simple(s: &str) -> bool {
    !s.is_empty() && s.len() <= 32 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

impl Endpoint for LookupMetadata {
    type Output = MetadataPage;

    fn method(&self) -> http::Method {
        http::Method::GET
    }

    fn target(&self) -> String {
        // Values are checked in `body`, which every request builds first.
        format!(
            "{}?version=2&p=mdm-lockup&caller=MDM&platform={}&cc={}&l={}&id={}",
            self.url,
            self.platform,
            self.country.to_ascii_lowercase(),
            self.language,
            self.ids.join(",")
        )
    }

    fn body(&self) -> Result<Option<Vec<u8>>> {
        if self.ids.is_empty() || self.ids.len() > MAX_IDS_PER_LOOKUP {
            return Err(Error::InvalidRequest(format!(
                "a lookup names 1 to {MAX_IDS_PER_LOOKUP} ids"
            )));
        }
        if !self
            .ids
            .iter()
            .all(|i| i.bytes().all(|b| b.is_ascii_digit()) && !i.is_empty() && i.len() <= 20)
        {
            return Err(Error::InvalidRequest("Adam IDs are digits".to_owned()));
        }
        if ![&self.platform, &self.country, &self.language]
            .iter()
            .all(|s| simple(s))
        {
            return Err(Error::InvalidRequest(
                "platform, country and language are short words".to_owned(),
            ));
        }
        if !(self.url.starts_with("https://") || self.url.starts_with("http://"))
            || self.url.contains('?')
        {
            return Err(Error::InvalidRequest(format!(
                "the lookup URL `{}` is not an absolute URL without a query",
                self.url
            )));
        }
        Ok(None)
    }

    fn authenticated(&self) -> bool {
        false
    }

    fn sends_token_cookie(&self) -> bool {
        true
    }

    fn checks_mdm_info(&self) -> bool {
        false
    }

    fn parse(&self, body: &[u8]) -> Result<MetadataPage> {
        let v: Value =
            serde_json::from_slice(body).map_err(|e| Error::invalid("metadata lookup", e))?;
        let results = match v.get("results") {
            Some(Value::Object(m)) => m,
            Some(Value::Array(a)) if a.is_empty() => return Ok(MetadataPage::default()),
            _ => return Err(Error::invalid("metadata lookup", "no `results` object")),
        };
        let items = self
            .ids
            .iter()
            .filter_map(|id| results.get(id).map(|r| read_result(id, r)))
            .collect();
        Ok(MetadataPage { items })
    }
}

fn text(v: &Value, key: &str) -> Option<String> {
    match v.get(key)? {
        Value::String(s) if !s.is_empty() => Some(crate::error::cut(s)),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn read_result(id: &str, r: &Value) -> AppMetadata {
    let families: Vec<String> = r
        .get("deviceFamilies")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_ascii_lowercase)
                .collect()
        })
        .unwrap_or_default();
    let kind = text(r, "kind");
    let mut platforms = Vec::new();
    let mut add = |p: &str| {
        if !platforms.iter().any(|x| x == p) {
            platforms.push(p.to_owned());
        }
    };
    for f in &families {
        match f.as_str() {
            "iphone" | "ipad" | "ipod" => add("iOS"),
            "mac" => add("macOS"),
            "tvos" | "appletv" => add("tvOS"),
            "watch" => add("watchOS"),
            "realitydevice" | "vision" => add("visionOS"),
            _ => {}
        }
    }
    if matches!(
        kind.as_deref(),
        Some("desktopApp" | "mac-software" | "macSoftware")
    ) {
        add("macOS");
    }
    if text(r, "watchBundleId").is_some() {
        add("watchOS");
    }
    let version = r
        .get("offers")
        .and_then(Value::as_array)
        .and_then(|o| o.first())
        .and_then(|o| o.get("version"))
        .and_then(|v| text(v, "display"));
    AppMetadata {
        adam_id: id.to_owned(),
        name: text(r, "name"),
        bundle_id: text(r, "bundleId"),
        watch_bundle_id: text(r, "watchBundleId"),
        kind,
        platforms,
        icon_url: icon(r.get("artwork")),
        version,
        minimum_os_version: text(r, "minimumOSVersion"),
        is_custom_app: r
            .get("isB2BCustomApp")
            .and_then(Value::as_bool)
            .unwrap_or(false),
    }
}

/// The largest listed artwork, or the template filled in at 512×512 PNG.
fn icon(artwork: Option<&Value>) -> Option<String> {
    let url = match artwork? {
        Value::Array(list) => list
            .iter()
            .filter_map(|a| {
                Some((
                    a.get("width").and_then(Value::as_u64).unwrap_or(0),
                    a.get("url")?.as_str()?,
                ))
            })
            .max_by_key(|(w, _)| *w)
            .map(|(_, u)| u.to_owned())?,
        obj @ Value::Object(_) => obj
            .get("url")?
            .as_str()?
            .replace("{w}", ICON_SIZE)
            .replace("{h}", ICON_SIZE)
            .replace("{c}", "bb")
            .replace("{f}", "png"),
        _ => return None,
    };
    (url.starts_with("https://") && url.len() <= 2048).then_some(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(ids: &[&str]) -> LookupMetadata {
        LookupMetadata::new(
            "https://uclient-api.itunes.apple.com/WebObjects/MZStorePlatform.woa/wa/lookup",
            ids.iter().map(|s| (*s).to_owned()).collect(),
        )
    }

    #[test]
    fn request_shape() {
        let l = lookup(&["361309726", "408709785"]);
        assert!(l.body().unwrap().is_none());
        assert_eq!(
            l.target(),
            "https://uclient-api.itunes.apple.com/WebObjects/MZStorePlatform.woa/wa/lookup?version=2&p=mdm-lockup&caller=MDM&platform=enterprisestore&cc=us&l=en&id=361309726,408709785"
        );
        assert!(lookup(&[]).body().is_err());
        assert!(lookup(&["12a"]).body().is_err());
        let mut bad = lookup(&["1"]);
        bad.country = "u&s".into();
        assert!(bad.body().is_err());
        let many: Vec<String> = (0..21).map(|i| i.to_string()).collect();
        assert!(
            LookupMetadata::new("https://x/lookup", many)
                .body()
                .is_err()
        );
    }

    #[test]
    fn both_artwork_shapes() {
        let body = include_bytes!("../tests/fixtures/apple-metadata-lookup.json");
        let page = lookup(&["361309726", "408709785", "1"])
            .parse(body)
            .unwrap();
        assert_eq!(page.items.len(), 2);
        let pages = &page.items[0];
        assert_eq!(pages.name.as_deref(), Some("Pages"));
        assert_eq!(pages.bundle_id.as_deref(), Some("com.apple.Pages"));
        assert_eq!(pages.platforms, vec!["iOS".to_owned(), "macOS".to_owned()]);
        assert_eq!(
            pages.icon_url.as_deref(),
            Some("https://is1-ssl.mzstatic.com/image/thumb/Purple/v4/pages/AppIcon/512x512bb.png")
        );
        assert_eq!(pages.version.as_deref(), Some("14.1"));
        let other = &page.items[1];
        assert_eq!(other.adam_id, "408709785");
        assert_eq!(
            other.icon_url.as_deref(),
            Some("https://is1-ssl.mzstatic.com/image/thumb/big.jpg")
        );
        assert_eq!(
            other.watch_bundle_id.as_deref(),
            Some("com.example.app.watchkitapp")
        );
        assert_eq!(
            other.platforms,
            vec!["iOS".to_owned(), "watchOS".to_owned()]
        );
        assert!(other.is_custom_app);
        assert!(
            lookup(&["1"])
                .parse(br#"{"results":[]}"#)
                .unwrap()
                .items
                .is_empty()
        );
        assert!(lookup(&["1"]).parse(br#"{"nothing":1}"#).is_err());
        assert!(lookup(&["1"]).parse(b"<html>").is_err());
    }
}

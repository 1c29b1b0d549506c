//! Apple software-update catalogs (`.sucatalog`).
//!
//! A catalog is the XML property list that macOS's `softwareupdated` fetches
//! from `swscan.apple.com` (for example
//! `https://swscan.apple.com/content/catalogs/others/index-14-13-12-10.16-10.15-10.14-10.13-10.12-10.11-10.10-10.9-mountainlion-lion-snowleopard-leopard.merged-1.sucatalog`),
//! plain or gzip-compressed. Its root dictionary holds `CatalogVersion`,
//! `ApplePostURL`, `IndexDate` and `Products`, a dictionary from product key
//! (`061-12345`) to a product: when it was posted, its distribution files
//! per language, its packages (URL, size, SHA-1 digest, metadata and
//! integrity-data URLs) and, for some, `ExtendedMetaInfo` (the product type
//! and version of macOS installers, `InstallAssistantPackageIdentifiers`,
//! `AutoUpdate`). Apple does not publish a schema; the shape read here is
//! the one its catalogs have carried since Mac OS X 10.5.
//!
//! Reading is tolerant where a catalog is: unknown keys are kept (in
//! [`Catalog::extra`] and [`Product::extra`]), and a product that lacks a
//! required field or has one of the wrong type is skipped and recorded as a
//! [`CatalogWarning`] instead of failing the catalog. Input that is not a
//! property list, or whose root is not a dictionary with `Products`, is a
//! [`CatalogError`].
//!
//! Apple publishes one catalog per macOS release line, and a product usually
//! appears in several of them; [`merge`] combines catalogs into a
//! [`MergedCatalog`] that lists each product once, with the union of what the
//! catalogs say about it and the catalogs that listed it.
//!
//! No I/O: catalogs come in as bytes.
//!
//! ```
//! use wsus_publish::catalog::Catalog;
//!
//! let xml = br#"<?xml version="1.0" encoding="UTF-8"?>
//! <plist version="1.0">
//! <dict>
//!     <key>CatalogVersion</key><integer>2</integer>
//!     <key>ApplePostURL</key><string>http://swpost.apple.com/stats</string>
//!     <key>IndexDate</key><date>2024-05-13T17:42:18Z</date>
//!     <key>Products</key>
//!     <dict>
//!         <key>052-96247</key>
//!         <dict>
//!             <key>PostDate</key><date>2024-05-13T17:40:00Z</date>
//!             <key>Distributions</key>
//!             <dict>
//!                 <key>English</key><string>https://swdist.apple.com/052-96247.English.dist</string>
//!             </dict>
//!             <key>Packages</key>
//!             <array>
//!                 <dict>
//!                     <key>URL</key><string>https://swcdn.apple.com/Safari17.5.pkg</string>
//!                     <key>Size</key><integer>123456789</integer>
//!                 </dict>
//!             </array>
//!         </dict>
//!     </dict>
//! </dict>
//! </plist>"#;
//!
//! let catalog = Catalog::parse(xml)?;
//! assert_eq!(catalog.version, Some(2));
//! let product = &catalog.products["052-96247"];
//! assert_eq!(product.packages[0].size, 123_456_789);
//! assert_eq!(
//!     product.preferred_distribution("en").map(|(_, url)| url),
//!     Some("https://swdist.apple.com/052-96247.English.dist"),
//! );
//! # Ok::<(), wsus_publish::catalog::CatalogError>(())
//! ```

use std::borrow::Cow;
use std::fmt;
use std::io::Read;

use indexmap::IndexMap;
use pippin_plist::{Dictionary, Value};
use time::OffsetDateTime;

/// The first two bytes of a gzip member (RFC 1952, section 2.3.1).
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Bounds on what [`Catalog::parse_with`] accepts, so that a hostile or
/// corrupted catalog costs at most a known amount of memory and time.
///
/// The defaults are several times the size of Apple's largest merged
/// catalogs (about 10–30 MB of XML and tens of thousands of products):
///
/// ```
/// use wsus_publish::catalog::CatalogLimits;
///
/// let mut limits = CatalogLimits::default();
/// limits.max_xml_len(32 * 1024 * 1024).max_products(50_000);
/// assert_eq!(limits.max_products, 50_000);
/// ```
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct CatalogLimits {
    /// Largest input accepted, compressed or not, in bytes. Default 64 MiB.
    pub max_input_len: usize,
    /// Largest property-list document accepted, in bytes: the input itself
    /// when it is plain XML, what it decompresses to when it is gzip (a
    /// larger result is refused while decompressing, so a "zip bomb" costs
    /// at most this much memory). Default 256 MiB.
    pub max_xml_len: usize,
    /// Deepest nesting of arrays and dictionaries. Default 32 (catalogs nest
    /// five or six deep).
    pub max_depth: usize,
    /// Most values in the property list. Default 20,000,000.
    pub max_values: usize,
    /// Most products in one catalog. Default 500,000.
    pub max_products: usize,
}

impl CatalogLimits {
    /// Sets [`CatalogLimits::max_input_len`].
    pub fn max_input_len(&mut self, bytes: usize) -> &mut Self {
        self.max_input_len = bytes;
        self
    }

    /// Sets [`CatalogLimits::max_xml_len`].
    pub fn max_xml_len(&mut self, bytes: usize) -> &mut Self {
        self.max_xml_len = bytes;
        self
    }

    /// Sets [`CatalogLimits::max_depth`].
    pub fn max_depth(&mut self, depth: usize) -> &mut Self {
        self.max_depth = depth;
        self
    }

    /// Sets [`CatalogLimits::max_values`].
    pub fn max_values(&mut self, values: usize) -> &mut Self {
        self.max_values = values;
        self
    }

    /// Sets [`CatalogLimits::max_products`].
    pub fn max_products(&mut self, products: usize) -> &mut Self {
        self.max_products = products;
        self
    }

    fn plist_limits(&self) -> pippin_plist::Limits {
        let mut limits = pippin_plist::Limits::default();
        limits
            .max_input_len(self.max_xml_len)
            .max_depth(self.max_depth)
            .max_values(self.max_values);
        limits
    }
}

impl Default for CatalogLimits {
    fn default() -> Self {
        Self {
            max_input_len: 64 * 1024 * 1024,
            max_xml_len: 256 * 1024 * 1024,
            max_depth: 32,
            max_values: 20_000_000,
            max_products: 500_000,
        }
    }
}

/// A catalog could not be read.
///
/// Cheap to make (no allocation): the kind of failure plus the byte offset
/// where it was found. For gzip failures the offset is in the compressed
/// input (how far the decompressor had read); for property-list failures it
/// is in the decompressed document.
#[derive(Clone, Copy, Debug, Eq, PartialEq, thiserror::Error)]
#[error("{kind} at byte {offset}")]
pub struct CatalogError {
    kind: CatalogErrorKind,
    offset: usize,
}

impl CatalogError {
    fn new(kind: CatalogErrorKind, offset: usize) -> Self {
        Self { kind, offset }
    }

    /// What went wrong.
    pub fn kind(&self) -> CatalogErrorKind {
        self.kind
    }

    /// Where (bytes from the start; see the type's documentation).
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// Whether the input stopped early (a truncated download), as opposed to
    /// being malformed.
    pub fn is_incomplete(&self) -> bool {
        matches!(
            self.kind,
            CatalogErrorKind::TruncatedGzip
                | CatalogErrorKind::Plist(pippin_plist::ErrorKind::UnexpectedEof)
        )
    }
}

/// What went wrong reading a catalog.
#[derive(Clone, Copy, Debug, Eq, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum CatalogErrorKind {
    /// The input is longer than [`CatalogLimits::max_input_len`], or plain
    /// XML longer than [`CatalogLimits::max_xml_len`].
    #[error("input too large")]
    InputTooLarge,
    /// The gzip stream decompresses to more than
    /// [`CatalogLimits::max_xml_len`].
    #[error("decompressed catalog too large")]
    DecompressedTooLarge,
    /// The gzip stream ends early.
    #[error("truncated gzip stream")]
    TruncatedGzip,
    /// The gzip stream is corrupt (bad header, bad deflate data or a
    /// checksum mismatch).
    #[error("corrupt gzip stream")]
    InvalidGzip,
    /// The document is not a property list the plist reader accepts.
    #[error("property list: {0}")]
    Plist(pippin_plist::ErrorKind),
    /// The property list's root is not a dictionary.
    #[error("the root is not a dictionary")]
    RootNotDictionary,
    /// The root has no `Products`, or it is not a dictionary.
    #[error("no Products dictionary")]
    NoProducts,
    /// More products than [`CatalogLimits::max_products`].
    #[error("too many products")]
    TooManyProducts,
}

/// A software-update catalog: its header and its products.
#[derive(Clone, Debug, PartialEq)]
pub struct Catalog {
    /// `CatalogVersion` (2 in every current catalog).
    pub version: Option<i64>,
    /// `ApplePostURL`, where clients once reported installs.
    pub apple_post_url: Option<String>,
    /// `IndexDate`, when Apple generated the catalog.
    pub index_date: Option<OffsetDateTime>,
    /// The products that could be read, by product key, in catalog order.
    pub products: IndexMap<String, Product>,
    /// Products skipped and optional fields dropped, in catalog order.
    pub warnings: Vec<CatalogWarning>,
    /// Root keys other than the four above, as they were.
    pub extra: Dictionary,
}

/// One product of a catalog (an entry of its `Products` dictionary).
#[derive(Clone, Debug, PartialEq)]
pub struct Product {
    /// The product key, such as `052-96247` (the key in `Products`).
    pub key: String,
    /// `PostDate`: when the product was posted.
    pub post_date: OffsetDateTime,
    /// `ServerMetadataURL`: the `.smd` file of older products, if any.
    pub server_metadata_url: Option<String>,
    /// `Distributions`: distribution file URL by language, in catalog
    /// order. Keys are language names (`English`, `Japanese`) or codes
    /// (`en`, `fr`, `zh_TW`), as Apple wrote them.
    pub distributions: IndexMap<String, String>,
    /// `Packages`, in catalog order.
    pub packages: Vec<Package>,
    /// `ExtendedMetaInfo`, if the product has it.
    pub extended_meta_info: Option<ExtendedMetaInfo>,
    /// `State` (for example `ramped`), if present.
    pub state: Option<String>,
    /// `DeferredSUEnablementDate`: when a deferred update becomes visible.
    pub deferred_su_enablement_date: Option<OffsetDateTime>,
    /// Keys other than the above, as they were.
    pub extra: Dictionary,
}

/// One entry of a product's `Packages` array.
#[derive(Clone, Debug, PartialEq)]
pub struct Package {
    /// `URL`: where the package is downloaded from.
    pub url: String,
    /// `Size`: the package's size in bytes.
    pub size: u64,
    /// `Digest`: the SHA-1 of the package, if given (40 hex digits).
    pub digest: Option<[u8; 20]>,
    /// `MetadataURL`: the package's `.pkm` metadata, if any.
    pub metadata_url: Option<String>,
    /// `IntegrityDataURL`: the chunklist of large packages, if any.
    pub integrity_data_url: Option<String>,
    /// `IntegrityDataSize`: the chunklist's size in bytes, if given.
    pub integrity_data_size: Option<u64>,
    /// Keys other than the above, as they were.
    pub extra: Dictionary,
}

/// A product's `ExtendedMetaInfo`: the keys this crate knows, typed, and the
/// whole dictionary as it was.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ExtendedMetaInfo {
    /// `ProductType` (for example `macOS`).
    pub product_type: Option<String>,
    /// `ProductVersion` (for example `14.5`).
    pub product_version: Option<String>,
    /// `InstallAssistantPackageIdentifiers`: the packages of a full macOS
    /// installer by role (`OSInstall`, `SharedSupport`, `InstallInfo`, ...).
    pub install_assistant_package_identifiers: IndexMap<String, String>,
    /// `AutoUpdate` (`YES`/`NO` or a boolean).
    pub auto_update: Option<bool>,
    /// The whole dictionary, known keys included.
    pub raw: Dictionary,
}

/// Something in a catalog that was not read as it stood: a product skipped,
/// or an optional field dropped.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct CatalogWarning {
    /// The product's key.
    pub product: String,
    /// The field concerned (`PostDate`, `Packages`, `Digest`, ...), or `""`
    /// when the product itself is not a dictionary.
    pub field: &'static str,
    /// What was wrong with it.
    pub problem: Problem,
    /// What was done about it.
    pub action: Action,
}

/// What was wrong with a field.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub enum Problem {
    /// A required field is absent.
    Missing,
    /// A field (or the product) has the wrong plist type.
    WrongType,
    /// A field has the right type but an unusable value (a date out of
    /// range, a negative size, a digest that is not 40 hex digits).
    Invalid,
}

/// What was done about a [`CatalogWarning`].
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub enum Action {
    /// The whole product was left out.
    SkippedProduct,
    /// The field was dropped; the product was kept.
    DroppedField,
}

impl fmt::Display for CatalogWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let problem = match self.problem {
            Problem::Missing => "missing",
            Problem::WrongType => "of the wrong type",
            Problem::Invalid => "invalid",
        };
        let action = match self.action {
            Action::SkippedProduct => "product skipped",
            Action::DroppedField => "field dropped",
        };
        if self.field.is_empty() {
            write!(f, "product {}: {problem}, {action}", self.product)
        } else {
            write!(
                f,
                "product {}: {} {problem}, {action}",
                self.product, self.field
            )
        }
    }
}

impl Catalog {
    /// Reads a catalog, plain XML or gzip, within the default
    /// [`CatalogLimits`].
    pub fn parse(data: &[u8]) -> Result<Self, CatalogError> {
        Self::parse_with(data, &CatalogLimits::default())
    }

    /// Reads a catalog, plain XML or gzip (told apart by the gzip magic
    /// bytes), within `limits`.
    pub fn parse_with(data: &[u8], limits: &CatalogLimits) -> Result<Self, CatalogError> {
        let xml = decompress(data, limits)?;
        let value = pippin_plist::from_xml(&xml, &limits.plist_limits())
            .map_err(|e| CatalogError::new(CatalogErrorKind::Plist(e.kind()), e.offset()))?;
        Self::from_plist(value, limits)
    }

    /// Reads a catalog from an already decoded property list.
    pub fn from_plist(value: Value, limits: &CatalogLimits) -> Result<Self, CatalogError> {
        let root = value
            .into_dictionary()
            .map_err(|_| CatalogError::new(CatalogErrorKind::RootNotDictionary, 0))?;
        let mut catalog = Self {
            version: None,
            apple_post_url: None,
            index_date: None,
            products: IndexMap::new(),
            warnings: Vec::new(),
            extra: Dictionary::new(),
        };
        let mut products = None;
        for (key, value) in root {
            match (key.as_str(), value) {
                ("CatalogVersion", Value::Integer(i)) => catalog.version = i.as_i64(),
                ("ApplePostURL", Value::String(s)) => catalog.apple_post_url = Some(s),
                ("IndexDate", Value::Date(d)) => catalog.index_date = to_datetime(d),
                ("Products", Value::Dictionary(d)) => products = Some(d),
                (_, value) => {
                    catalog.extra.insert(key, value);
                }
            }
        }
        let products = products.ok_or(CatalogError::new(CatalogErrorKind::NoProducts, 0))?;
        if products.len() > limits.max_products {
            return Err(CatalogError::new(CatalogErrorKind::TooManyProducts, 0));
        }
        catalog.products.reserve(products.len());
        for (key, value) in products {
            match Product::from_plist(key, value, &mut catalog.warnings) {
                Some(product) => {
                    catalog.products.insert(product.key.clone(), product);
                }
                None => continue,
            }
        }
        Ok(catalog)
    }
}

impl Product {
    /// Reads one product from its entry in `Products`. Returns `None` (and
    /// records why in `warnings`) if a required field is missing or unusable;
    /// unusable optional fields are dropped and recorded too.
    pub fn from_plist(
        key: String,
        value: Value,
        warnings: &mut Vec<CatalogWarning>,
    ) -> Option<Self> {
        let mut reader = ProductReader {
            key: &key,
            warnings,
        };
        let Value::Dictionary(dict) = value else {
            return reader.skip("", Problem::WrongType);
        };
        let mut post_date = None;
        let mut server_metadata_url = None;
        let mut distributions = None;
        let mut packages = None;
        let mut extended_meta_info = None;
        let mut state = None;
        let mut deferred_su_enablement_date = None;
        let mut extra = Dictionary::new();
        for (k, v) in dict {
            match k.as_str() {
                "PostDate" => match v {
                    Value::Date(d) => match to_datetime(d) {
                        Some(d) => post_date = Some(d),
                        None => return reader.skip("PostDate", Problem::Invalid),
                    },
                    _ => return reader.skip("PostDate", Problem::WrongType),
                },
                "ServerMetadataURL" => match v {
                    Value::String(s) => server_metadata_url = Some(s),
                    _ => reader.drop("ServerMetadataURL", Problem::WrongType),
                },
                "Distributions" => match v {
                    Value::Dictionary(d) => distributions = Some(reader.distributions(d)),
                    _ => return reader.skip("Distributions", Problem::WrongType),
                },
                "Packages" => match v {
                    Value::Array(a) => packages = Some(reader.packages(a)?),
                    _ => return reader.skip("Packages", Problem::WrongType),
                },
                "ExtendedMetaInfo" => match v {
                    Value::Dictionary(d) => extended_meta_info = Some(ExtendedMetaInfo::from(d)),
                    _ => reader.drop("ExtendedMetaInfo", Problem::WrongType),
                },
                "State" => match v {
                    Value::String(s) => state = Some(s),
                    _ => reader.drop("State", Problem::WrongType),
                },
                "DeferredSUEnablementDate" => match v {
                    Value::Date(d) => match to_datetime(d) {
                        Some(d) => deferred_su_enablement_date = Some(d),
                        None => reader.drop("DeferredSUEnablementDate", Problem::Invalid),
                    },
                    _ => reader.drop("DeferredSUEnablementDate", Problem::WrongType),
                },
                _ => {
                    extra.insert(k, v);
                }
            }
        }
        let Some(post_date) = post_date else {
            return reader.skip("PostDate", Problem::Missing);
        };
        let Some(distributions) = distributions else {
            return reader.skip("Distributions", Problem::Missing);
        };
        let Some(packages) = packages else {
            return reader.skip("Packages", Problem::Missing);
        };
        Some(Self {
            key,
            post_date,
            server_metadata_url,
            distributions,
            packages,
            extended_meta_info,
            state,
            deferred_su_enablement_date,
            extra,
        })
    }

    /// The distribution to read for `language`, as `(language, URL)`: the
    /// one listed under `language` itself, else under its other spelling
    /// (`English`/`en`, `French`/`fr`, `German`/`de`, `Japanese`/`ja`, ...),
    /// else English (`English`, then `en`), else the first listed. `None`
    /// only if the product lists no distribution.
    pub fn preferred_distribution(&self, language: &str) -> Option<(&str, &str)> {
        let lookup = |lang: &str| {
            self.distributions
                .get_key_value(lang)
                .map(|(k, v)| (k.as_str(), v.as_str()))
        };
        lookup(language)
            .or_else(|| language_alias(language).and_then(lookup))
            .or_else(|| lookup("English"))
            .or_else(|| lookup("en"))
            .or_else(|| {
                self.distributions
                    .first()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
            })
    }

    /// The sum of the sizes of the product's packages.
    pub fn total_size(&self) -> u64 {
        self.packages
            .iter()
            .fold(0u64, |sum, p| sum.saturating_add(p.size))
    }

    /// Adds what `other` (the same product seen in another catalog) says and
    /// `self` does not: distributions in other languages, packages with
    /// other URLs, optional fields `self` lacks, `ExtendedMetaInfo` keys and
    /// unknown keys. The later `PostDate` wins.
    pub fn merge_from(&mut self, other: Self) {
        if other.post_date > self.post_date {
            self.post_date = other.post_date;
        }
        if self.server_metadata_url.is_none() {
            self.server_metadata_url = other.server_metadata_url;
        }
        for (lang, url) in other.distributions {
            self.distributions.entry(lang).or_insert(url);
        }
        for package in other.packages {
            match self.packages.iter_mut().find(|p| p.url == package.url) {
                Some(mine) => mine.merge_from(package),
                None => self.packages.push(package),
            }
        }
        match (&mut self.extended_meta_info, other.extended_meta_info) {
            (Some(mine), Some(theirs)) => {
                let mut raw = mine.raw.clone();
                for (k, v) in theirs.raw {
                    if !raw.contains_key(&k) {
                        raw.insert(k, v);
                    }
                }
                *mine = ExtendedMetaInfo::from(raw);
            }
            (mine @ None, theirs) => *mine = theirs,
            (Some(_), None) => {}
        }
        if self.state.is_none() {
            self.state = other.state;
        }
        if self.deferred_su_enablement_date.is_none() {
            self.deferred_su_enablement_date = other.deferred_su_enablement_date;
        }
        for (k, v) in other.extra {
            if !self.extra.contains_key(&k) {
                self.extra.insert(k, v);
            }
        }
    }
}

impl Package {
    /// Fills the optional fields `self` lacks from `other`, the same package
    /// seen in another catalog.
    fn merge_from(&mut self, other: Self) {
        self.digest = self.digest.or(other.digest);
        if self.metadata_url.is_none() {
            self.metadata_url = other.metadata_url;
        }
        if self.integrity_data_url.is_none() {
            self.integrity_data_url = other.integrity_data_url;
        }
        self.integrity_data_size = self.integrity_data_size.or(other.integrity_data_size);
    }

    /// The digest as 40 lowercase hex digits, as catalogs write it.
    pub fn digest_hex(&self) -> Option<String> {
        self.digest.map(|d| {
            d.iter().fold(String::with_capacity(40), |mut s, b| {
                use fmt::Write;
                // Writing to a String cannot fail.
                let _ = write!(s, "{b:02x}");
                s
            })
        })
    }
}

impl From<Dictionary> for ExtendedMetaInfo {
    /// Reads the known keys of an `ExtendedMetaInfo` dictionary; values of
    /// an unexpected type are left to [`ExtendedMetaInfo::raw`] only.
    fn from(raw: Dictionary) -> Self {
        let string = |k: &str| raw.get(k).and_then(Value::as_str).map(str::to_owned);
        let install_assistant_package_identifiers = raw
            .get("InstallAssistantPackageIdentifiers")
            .and_then(Value::as_dictionary)
            .map(|d| {
                d.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                    .collect()
            })
            .unwrap_or_default();
        let auto_update = match raw.get("AutoUpdate") {
            Some(Value::Boolean(b)) => Some(*b),
            Some(Value::String(s)) => match s.to_ascii_lowercase().as_str() {
                "yes" | "true" | "1" => Some(true),
                "no" | "false" | "0" => Some(false),
                _ => None,
            },
            _ => None,
        };
        Self {
            product_type: string("ProductType"),
            product_version: string("ProductVersion"),
            install_assistant_package_identifiers,
            auto_update,
            raw,
        }
    }
}

/// Several catalogs combined: each product once.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MergedCatalog {
    /// The names the catalogs were given to [`merge`], in order.
    pub sources: Vec<String>,
    /// The products, by key, in order of first appearance.
    pub products: IndexMap<String, MergedProduct>,
    /// Every catalog's warnings, with the index of its source.
    pub warnings: Vec<(usize, CatalogWarning)>,
}

/// A product of a [`MergedCatalog`].
#[derive(Clone, Debug, PartialEq)]
pub struct MergedProduct {
    /// The union of what the catalogs said (see [`Product::merge_from`]).
    pub product: Product,
    /// Indexes into [`MergedCatalog::sources`] of the catalogs that listed
    /// it, ascending.
    pub listed_in: Vec<usize>,
}

impl MergedCatalog {
    /// The names of the catalogs that listed `product`.
    pub fn sources_of<'a>(&'a self, product: &'a MergedProduct) -> impl Iterator<Item = &'a str> {
        product
            .listed_in
            .iter()
            .filter_map(|&i| self.sources.get(i).map(String::as_str))
    }

    /// Adds one more catalog under `name`.
    pub fn add(&mut self, name: impl Into<String>, catalog: Catalog) {
        let index = self.sources.len();
        self.sources.push(name.into());
        self.warnings
            .extend(catalog.warnings.into_iter().map(|w| (index, w)));
        self.products.reserve(catalog.products.len());
        for (key, product) in catalog.products {
            match self.products.get_mut(&key) {
                Some(merged) => {
                    merged.product.merge_from(product);
                    if merged.listed_in.last() != Some(&index) {
                        merged.listed_in.push(index);
                    }
                }
                None => {
                    self.products.insert(
                        key,
                        MergedProduct {
                            product,
                            listed_in: vec![index],
                        },
                    );
                }
            }
        }
    }
}

/// Combines catalogs, each given with a name (its URL, say), into one list
/// of products: a product listed by several catalogs appears once, with the
/// union of what they say ([`Product::merge_from`]) and the catalogs that
/// listed it.
///
/// ```
/// use wsus_publish::catalog::{merge, Catalog};
///
/// let one = |key: &str| format!(
///     "<plist><dict><key>Products</key><dict><key>{key}</key><dict>\
///      <key>PostDate</key><date>2024-01-01T00:00:00Z</date>\
///      <key>Distributions</key><dict><key>English</key><string>https://e/{key}.dist</string></dict>\
///      <key>Packages</key><array/></dict></dict></dict></plist>");
/// let a = Catalog::parse(one("001-00001").as_bytes())?;
/// let b = Catalog::parse(one("001-00001").as_bytes())?;
/// let merged = merge([("index-14.sucatalog", a), ("index-13.sucatalog", b)]);
/// assert_eq!(merged.products.len(), 1);
/// let p = &merged.products["001-00001"];
/// assert_eq!(merged.sources_of(p).collect::<Vec<_>>(), ["index-14.sucatalog", "index-13.sucatalog"]);
/// # Ok::<(), wsus_publish::catalog::CatalogError>(())
/// ```
pub fn merge<N: Into<String>>(catalogs: impl IntoIterator<Item = (N, Catalog)>) -> MergedCatalog {
    let mut merged = MergedCatalog::default();
    for (name, catalog) in catalogs {
        merged.add(name, catalog);
    }
    merged
}

/// Returns the property-list document in `data`: `data` itself if it is not
/// gzip, else its decompression, refused once it would pass
/// [`CatalogLimits::max_xml_len`].
pub fn decompress<'a>(
    data: &'a [u8],
    limits: &CatalogLimits,
) -> Result<Cow<'a, [u8]>, CatalogError> {
    if data.len() > limits.max_input_len {
        return Err(CatalogError::new(
            CatalogErrorKind::InputTooLarge,
            limits.max_input_len,
        ));
    }
    if !data.starts_with(&GZIP_MAGIC) {
        if data.len() > limits.max_xml_len {
            return Err(CatalogError::new(
                CatalogErrorKind::InputTooLarge,
                limits.max_xml_len,
            ));
        }
        return Ok(Cow::Borrowed(data));
    }
    let mut decoder = flate2::bufread::MultiGzDecoder::new(data);
    // Text catalogs compress about tenfold; start there, within the limit.
    let mut out = Vec::with_capacity(data.len().saturating_mul(8).min(limits.max_xml_len));
    let cap = u64::try_from(limits.max_xml_len)
        .unwrap_or(u64::MAX)
        .saturating_add(1);
    let result = (&mut decoder).take(cap).read_to_end(&mut out);
    let consumed = data.len() - decoder.get_ref().len();
    match result {
        Ok(_) if out.len() > limits.max_xml_len => Err(CatalogError::new(
            CatalogErrorKind::DecompressedTooLarge,
            consumed,
        )),
        Ok(_) => Ok(Cow::Owned(out)),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            Err(CatalogError::new(CatalogErrorKind::TruncatedGzip, consumed))
        }
        Err(_) => Err(CatalogError::new(CatalogErrorKind::InvalidGzip, consumed)),
    }
}

/// The other usual spelling of a catalog language key: Apple's catalogs use
/// both English names and ISO 639-1 codes.
fn language_alias(language: &str) -> Option<&'static str> {
    const PAIRS: &[(&str, &str)] = &[
        ("English", "en"),
        ("French", "fr"),
        ("German", "de"),
        ("Japanese", "ja"),
        ("Spanish", "es"),
        ("Italian", "it"),
        ("Dutch", "nl"),
    ];
    PAIRS.iter().find_map(|&(name, code)| {
        if language.eq_ignore_ascii_case(name) {
            Some(code)
        } else if language.eq_ignore_ascii_case(code) {
            Some(name)
        } else {
            None
        }
    })
}

fn to_datetime(date: pippin_plist::Date) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp(date.unix_seconds()).ok()
}

/// Reads the parts of one product, recording warnings against its key.
struct ProductReader<'a> {
    key: &'a str,
    warnings: &'a mut Vec<CatalogWarning>,
}

impl ProductReader<'_> {
    fn warn(&mut self, field: &'static str, problem: Problem, action: Action) {
        self.warnings.push(CatalogWarning {
            product: self.key.to_owned(),
            field,
            problem,
            action,
        });
    }

    fn skip<T>(&mut self, field: &'static str, problem: Problem) -> Option<T> {
        self.warn(field, problem, Action::SkippedProduct);
        None
    }

    fn drop(&mut self, field: &'static str, problem: Problem) {
        self.warn(field, problem, Action::DroppedField);
    }

    fn distributions(&mut self, dict: Dictionary) -> IndexMap<String, String> {
        let mut out = IndexMap::with_capacity(dict.len());
        for (lang, url) in dict {
            match url {
                Value::String(url) => {
                    out.insert(lang, url);
                }
                _ => self.drop("Distributions", Problem::WrongType),
            }
        }
        out
    }

    fn packages(&mut self, array: Vec<Value>) -> Option<Vec<Package>> {
        let mut out = Vec::with_capacity(array.len());
        for value in array {
            let Value::Dictionary(dict) = value else {
                return self.skip("Packages", Problem::WrongType);
            };
            out.push(self.package(dict)?);
        }
        Some(out)
    }

    fn package(&mut self, dict: Dictionary) -> Option<Package> {
        let mut url = None;
        let mut size = None;
        let mut package = Package {
            url: String::new(),
            size: 0,
            digest: None,
            metadata_url: None,
            integrity_data_url: None,
            integrity_data_size: None,
            extra: Dictionary::new(),
        };
        for (k, v) in dict {
            match (k.as_str(), v) {
                ("URL", Value::String(s)) => url = Some(s),
                ("URL", _) => return self.skip("URL", Problem::WrongType),
                ("Size", Value::Integer(i)) => match i.as_u64() {
                    Some(n) => size = Some(n),
                    None => return self.skip("Size", Problem::Invalid),
                },
                ("Size", _) => return self.skip("Size", Problem::WrongType),
                ("Digest", Value::String(s)) => match parse_sha1_hex(&s) {
                    Some(d) => package.digest = Some(d),
                    None => self.drop("Digest", Problem::Invalid),
                },
                ("Digest", _) => self.drop("Digest", Problem::WrongType),
                ("MetadataURL", Value::String(s)) => package.metadata_url = Some(s),
                ("MetadataURL", _) => self.drop("MetadataURL", Problem::WrongType),
                ("IntegrityDataURL", Value::String(s)) => package.integrity_data_url = Some(s),
                ("IntegrityDataURL", _) => self.drop("IntegrityDataURL", Problem::WrongType),
                ("IntegrityDataSize", Value::Integer(i)) => match i.as_u64() {
                    Some(n) => package.integrity_data_size = Some(n),
                    None => self.drop("IntegrityDataSize", Problem::Invalid),
                },
                ("IntegrityDataSize", _) => self.drop("IntegrityDataSize", Problem::WrongType),
                (_, v) => {
                    package.extra.insert(k, v);
                }
            }
        }
        let Some(url) = url else {
            return self.skip("URL", Problem::Missing);
        };
        let Some(size) = size else {
            return self.skip("Size", Problem::Missing);
        };
        package.url = url;
        package.size = size;
        Some(package)
    }
}

/// Reads 40 hex digits (either case, surrounding white space allowed).
fn parse_sha1_hex(s: &str) -> Option<[u8; 20]> {
    let s = s.trim().as_bytes();
    if s.len() != 40 {
        return None;
    }
    let mut out = [0u8; 20];
    for (byte, pair) in out.iter_mut().zip(s.chunks_exact(2)) {
        *byte = (hex_digit(pair[0])? << 4) | hex_digit(pair[1])?;
    }
    Some(out)
}

fn hex_digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests;

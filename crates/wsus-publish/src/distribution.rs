//! A product's distribution file (`.dist`).
//!
//! Each product in a catalog lists, per language, a distribution file: the
//! Installer "distribution definition" XML (Apple, *Distribution Definition
//! XML Schema Reference*), rooted at `<installer-gui-script>` (or the older
//! `<installer-script>`). For Software Update the parts that matter are:
//!
//! - `<title>`, usually the name of a localized string (`SU_TITLE`);
//! - `<options>`, `<allowed-os-versions><os-version min=".." before=".."/>`,
//!   `<volume-check script="..">` and `<installation-check script="..">`;
//! - `<script>`, the JavaScript of those checks ([`VersionCheck`]s are read
//!   out of it where the shape is clear, see [`Distribution::version_checks`]);
//! - `<choice>`s and the `<pkg-ref>`s they install, declared once with
//!   `version` and `installKBytes` and once inside the choice with the
//!   package's file name or URL as content ([`PkgRef`] merges both);
//! - `<auxinfo>`, a property-list dictionary;
//! - `<localization><strings language="English">`, a table in Apple's
//!   `.strings` syntax ([`parse_strings`]) with `SU_TITLE`, `SU_VERS`,
//!   `SU_SERVERCOMMENT` and the HTML `SU_DESCRIPTION`.
//!
//! Input is assumed hostile: its size, element depth, element and
//! attribute counts are bounded by [`DistributionLimits`]; a document type
//! declaration is refused (so no entity is ever declared, let alone
//! expanded), and only the five predefined entities and character
//! references are read. Errors are a [`DistributionError`]: a kind and a
//! byte offset. No I/O.
//!
//! ```
//! use wsus_publish::distribution::Distribution;
//!
//! let dist = br#"<?xml version="1.0" encoding="utf-8"?>
//! <installer-gui-script minSpecVersion="1">
//!     <title>SU_TITLE</title>
//!     <allowed-os-versions><os-version min="11.0" before="12.0"/></allowed-os-versions>
//!     <choice id="su" title="SU_TITLE" versStr="SU_VERS" description="SU_DESCRIPTION">
//!         <pkg-ref id="com.apple.pkg.Safari14.1BigSurAuto">Safari14.1BigSurAuto.pkg</pkg-ref>
//!     </choice>
//!     <pkg-ref id="com.apple.pkg.Safari14.1BigSurAuto" installKBytes="208934" version="16611.1.21.161.6"/>
//!     <localization>
//!         <strings language="English"><![CDATA["SU_TITLE" = "Safari";
//! "SU_VERS" = "14.1";
//! "SU_DESCRIPTION" = '<html><body><p>Safari 14.1 adds "Tab Groups".</p></body></html>';
//! ]]></strings>
//!     </localization>
//! </installer-gui-script>"#;
//!
//! let d = Distribution::parse(dist)?;
//! assert_eq!(d.title(), Some("Safari"));
//! assert_eq!(d.version(), Some("14.1"));
//! assert_eq!(d.description_text(100).as_deref(), Some("Safari 14.1 adds \"Tab Groups\"."));
//! let pkg = &d.pkg_refs[0];
//! assert_eq!(pkg.install_kbytes, Some(208934));
//! assert_eq!(pkg.location.as_deref(), Some("Safari14.1BigSurAuto.pkg"));
//! assert_eq!(d.os_version_constraints().len(), 2);
//! # Ok::<(), wsus_publish::distribution::DistributionError>(())
//! ```

mod html;
mod script;
mod strings;

use indexmap::IndexMap;
use pippin_plist::Dictionary;
use quick_xml::XmlVersion;
use quick_xml::events::{BytesStart, Event};
use quick_xml::reader::Reader;

pub use script::{CheckMeaning, CompareOp, VersionCheck, VersionSubject};
pub use strings::{Strings, StringsError, StringsErrorKind, parse_strings};

/// Bounds on what [`Distribution::parse_with`] accepts.
///
/// Real distribution files are a few kilobytes to a few hundred (a long
/// HTML description in each of forty languages), with a few hundred
/// elements nested five or six deep.
///
/// ```
/// use wsus_publish::distribution::DistributionLimits;
///
/// let mut limits = DistributionLimits::default();
/// limits.max_input_len(1 << 20).max_depth(16);
/// assert_eq!(limits.max_depth, 16);
/// ```
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct DistributionLimits {
    /// Largest input, in bytes. Default 8 MiB.
    pub max_input_len: usize,
    /// Deepest element nesting (the root is at depth 1). Default 32.
    pub max_depth: usize,
    /// Most elements in the document. Default 50,000.
    pub max_elements: usize,
    /// Most attributes on one element. Default 64.
    pub max_attributes: usize,
}

impl DistributionLimits {
    /// Sets [`DistributionLimits::max_input_len`].
    pub fn max_input_len(&mut self, bytes: usize) -> &mut Self {
        self.max_input_len = bytes;
        self
    }

    /// Sets [`DistributionLimits::max_depth`].
    pub fn max_depth(&mut self, depth: usize) -> &mut Self {
        self.max_depth = depth;
        self
    }

    /// Sets [`DistributionLimits::max_elements`].
    pub fn max_elements(&mut self, elements: usize) -> &mut Self {
        self.max_elements = elements;
        self
    }

    /// Sets [`DistributionLimits::max_attributes`].
    pub fn max_attributes(&mut self, attributes: usize) -> &mut Self {
        self.max_attributes = attributes;
        self
    }
}

impl Default for DistributionLimits {
    fn default() -> Self {
        Self {
            max_input_len: 8 * 1024 * 1024,
            max_depth: 32,
            max_elements: 50_000,
            max_attributes: 64,
        }
    }
}

/// A distribution file could not be read.
///
/// Cheap to make (no allocation): the kind of failure plus the byte offset
/// in the input where it was found (for an error inside a strings table,
/// the table's position plus the error's offset within its text).
#[derive(Clone, Copy, Debug, Eq, PartialEq, thiserror::Error)]
#[error("{kind} at byte {offset}")]
pub struct DistributionError {
    kind: DistributionErrorKind,
    offset: usize,
}

impl DistributionError {
    fn new(kind: DistributionErrorKind, offset: usize) -> Self {
        Self { kind, offset }
    }

    /// What went wrong.
    pub fn kind(&self) -> DistributionErrorKind {
        self.kind
    }

    /// Where (bytes from the start of the input).
    pub fn offset(&self) -> usize {
        self.offset
    }
}

/// What went wrong reading a distribution file.
#[derive(Clone, Copy, Debug, Eq, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum DistributionErrorKind {
    /// The input ended before the document did.
    #[error("unexpected end of input")]
    UnexpectedEof,
    /// Input longer than [`DistributionLimits::max_input_len`].
    #[error("input too large")]
    TooLarge,
    /// Elements nested deeper than [`DistributionLimits::max_depth`].
    #[error("elements nested too deep")]
    TooDeep,
    /// More elements than [`DistributionLimits::max_elements`], or more
    /// attributes on one than [`DistributionLimits::max_attributes`].
    #[error("too many elements or attributes")]
    TooMany,
    /// The input is not UTF-8.
    #[error("not UTF-8")]
    NotUtf8,
    /// The input is not well-formed XML.
    #[error("malformed XML")]
    Malformed,
    /// A document type declaration: refused, so that no entity is declared.
    #[error("document type declarations are not accepted")]
    DocType,
    /// An entity reference other than the five predefined ones and
    /// character references.
    #[error("undefined entity reference")]
    UndefinedEntity,
    /// The root element is not `installer-gui-script` or `installer-script`.
    #[error("not a distribution (unexpected root element)")]
    NotADistribution,
    /// A `<strings>` table could not be read.
    #[error("localization strings: {0}")]
    Strings(StringsErrorKind),
    /// The `<auxinfo>` dictionary could not be read.
    #[error("auxinfo property list: {0}")]
    AuxInfo(pippin_plist::ErrorKind),
}

/// The two root elements a distribution file may have.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum RootElement {
    /// `<installer-gui-script>`, every current distribution.
    InstallerGuiScript,
    /// `<installer-script>`, the form of Mac OS X 10.4.
    InstallerScript,
}

/// A range of macOS versions from `<allowed-os-versions>`:
/// `<os-version min="11.0" before="12.0"/>`.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct OsVersionRange {
    /// `min`: the oldest version allowed, inclusive.
    pub min: Option<String>,
    /// `before`: the first version not allowed.
    pub before: Option<String>,
}

/// A requirement on the macOS version, from `<allowed-os-versions>` or a
/// [`VersionCheck`] whose meaning is [`CheckMeaning::Requires`].
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct OsVersionConstraint {
    /// Which version it constrains.
    pub subject: VersionSubject,
    /// The version must be `op` [`OsVersionConstraint::version`].
    pub op: CompareOp,
    /// The version compared with.
    pub version: String,
}

/// A `<choice>`.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct Choice {
    /// `id`.
    pub id: String,
    /// `title` (often a strings key such as `SU_TITLE`).
    pub title: Option<String>,
    /// `versStr` (often `SU_VERS`).
    pub version: Option<String>,
    /// `description` (often `SU_DESCRIPTION`).
    pub description: Option<String>,
    /// `suDisabledGroupID`, the name `softwareupdate --ignore` takes.
    pub su_disabled_group_id: Option<String>,
    /// Every attribute, in document order.
    pub attributes: Vec<(String, String)>,
    /// The ids of the `<pkg-ref>`s inside it, in order.
    pub pkg_refs: Vec<String>,
}

/// A `<pkg-ref>`: every element with the same `id` merged (the declaration
/// with `version` and `installKBytes` and the reference inside a choice
/// with the package's location as content).
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct PkgRef {
    /// `id`, the package identifier.
    pub id: String,
    /// `version`.
    pub version: Option<String>,
    /// `installKBytes`: the installed size in KiB.
    pub install_kbytes: Option<u64>,
    /// `packageIdentifier`, if given.
    pub package_identifier: Option<String>,
    /// `auth` (`Root`, `Admin`, `None`).
    pub auth: Option<String>,
    /// The content: the package's file name or URL (`#Name.pkg` is
    /// relative to the distribution).
    pub location: Option<String>,
    /// Every attribute of every element, first value kept.
    pub attributes: Vec<(String, String)>,
}

/// A distribution file.
#[derive(Clone, Debug, PartialEq)]
pub struct Distribution {
    /// The root element.
    pub root: RootElement,
    /// The root's `minSpecVersion`.
    pub min_spec_version: Option<String>,
    /// The `<title>` text as written (trimmed); see [`Distribution::title`].
    pub title_text: Option<String>,
    /// The attributes of `<options>`, in document order.
    pub options: Vec<(String, String)>,
    /// The `<allowed-os-versions>` ranges.
    pub allowed_os_versions: Vec<OsVersionRange>,
    /// `<volume-check script="…">`.
    pub volume_check_script: Option<String>,
    /// `<installation-check script="…">`.
    pub installation_check_script: Option<String>,
    /// The text of each `<script>`, in order.
    pub scripts: Vec<String>,
    /// The `compareVersions` checks found in the scripts.
    pub version_checks: Vec<VersionCheck>,
    /// The `<choice>`s, in order.
    pub choices: Vec<Choice>,
    /// The `<pkg-ref>`s, merged by id, in order of first appearance.
    pub pkg_refs: Vec<PkgRef>,
    /// The `<auxinfo>` dictionary, if any.
    pub auxinfo: Option<Dictionary>,
    /// The `<strings>` tables by `language`.
    pub localizations: IndexMap<String, Strings>,
}

impl Distribution {
    /// Reads a distribution file within the default [`DistributionLimits`].
    pub fn parse(data: &[u8]) -> Result<Self, DistributionError> {
        Self::parse_with(data, &DistributionLimits::default())
    }

    /// Reads a distribution file within `limits`.
    pub fn parse_with(data: &[u8], limits: &DistributionLimits) -> Result<Self, DistributionError> {
        Parser::new(data, limits)?.run()
    }

    /// The strings table for English (`English`, else `en`, else `en_US`),
    /// else the first one.
    pub fn strings(&self) -> Option<&Strings> {
        ["English", "en", "en_US", "en_GB"]
            .iter()
            .find_map(|l| self.localizations.get(*l))
            .or_else(|| self.localizations.first().map(|(_, s)| s))
    }

    /// The strings table for `language`, exactly as the file names it.
    pub fn strings_for(&self, language: &str) -> Option<&Strings> {
        self.localizations.get(language)
    }

    /// `text` looked up in [`Distribution::strings`] if it is a key there,
    /// else `text` itself (as Installer shows a title or version that names
    /// no string).
    pub fn localized<'a>(&'a self, text: &'a str) -> &'a str {
        self.strings()
            .and_then(|s| s.get(text))
            .map_or(text, String::as_str)
    }

    fn string(&self, key: &str) -> Option<&str> {
        self.strings()?.get(key).map(String::as_str)
    }

    fn first_choice_attr(&self, f: impl Fn(&Choice) -> Option<&String>) -> Option<&str> {
        self.choices.iter().find_map(f).map(|t| self.localized(t))
    }

    /// The product's title: `<title>` (looked up in the strings), else
    /// `SU_TITLE`, else the first choice's `title`.
    pub fn title(&self) -> Option<&str> {
        self.title_text
            .as_deref()
            .filter(|t| !t.is_empty())
            .map(|t| self.localized(t))
            .or_else(|| self.string("SU_TITLE"))
            .or_else(|| self.first_choice_attr(|c| c.title.as_ref()))
    }

    /// The version shown to users: `SU_VERS` (or `SU_VERSION`), else the
    /// first choice's `versStr`.
    pub fn version(&self) -> Option<&str> {
        self.string("SU_VERS")
            .or_else(|| self.string("SU_VERSION"))
            .or_else(|| self.first_choice_attr(|c| c.version.as_ref()))
    }

    /// `SU_SERVERCOMMENT`, Apple's note about the update, if any.
    pub fn server_comment(&self) -> Option<&str> {
        self.string("SU_SERVERCOMMENT")
    }

    /// The description as HTML: `SU_DESCRIPTION`, else the first choice's
    /// `description`.
    pub fn description_html(&self) -> Option<&str> {
        self.string("SU_DESCRIPTION")
            .or_else(|| self.first_choice_attr(|c| c.description.as_ref()))
    }

    /// The description as plain text of at most `max_chars` characters:
    /// markup and the document head dropped, common entities decoded, white
    /// space collapsed; a longer text is cut (at a word boundary where one
    /// is near) and ends with `…`.
    pub fn description_text(&self, max_chars: usize) -> Option<String> {
        self.description_html()
            .map(|h| html::html_to_text(h, max_chars))
    }

    /// The `<pkg-ref>` with `id`.
    pub fn pkg_ref(&self, id: &str) -> Option<&PkgRef> {
        self.pkg_refs.iter().find(|p| p.id == id)
    }

    /// What the file requires of the macOS version: each
    /// `<allowed-os-versions>` range (`min` as `>=`, `before` as `<`), then
    /// each [`VersionCheck`] read as a requirement in a function that the
    /// `installation-check` or `volume-check` script calls.
    pub fn os_version_constraints(&self) -> Vec<OsVersionConstraint> {
        let mut out = Vec::new();
        for range in &self.allowed_os_versions {
            let mut push = |op, v: &Option<String>| {
                if let Some(v) = v {
                    out.push(OsVersionConstraint {
                        subject: VersionSubject::RunningSystem,
                        op,
                        version: v.clone(),
                    });
                }
            };
            push(CompareOp::Ge, &range.min);
            push(CompareOp::Lt, &range.before);
        }
        let called = |f: &str| {
            [&self.installation_check_script, &self.volume_check_script]
                .into_iter()
                .flatten()
                .any(|s| calls(s, f))
        };
        for check in &self.version_checks {
            if check.meaning == CheckMeaning::Requires
                && check.function.as_deref().is_some_and(called)
            {
                out.push(OsVersionConstraint {
                    subject: check.subject,
                    op: check.op,
                    version: check.version.clone(),
                });
            }
        }
        out
    }
}

/// Whether the script attribute `script` (`InstallationCheck()`) calls
/// function `f`.
fn calls(script: &str, f: &str) -> bool {
    script.match_indices(f).any(|(i, _)| {
        let before = script[..i].chars().next_back();
        let after = script[i + f.len()..].trim_start();
        !before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$' || c == '.')
            && after.starts_with('(')
    })
}

/// What an open element is, for the parser's stack.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
enum Open {
    Root,
    Title,
    Script,
    AllowedOs,
    Choice(usize),
    PkgRef(usize),
    Localization,
    Strings,
    Other,
}

impl Open {
    /// Whether the element's text is kept.
    fn captures(self) -> bool {
        matches!(
            self,
            Self::Title | Self::Script | Self::PkgRef(_) | Self::Strings
        )
    }
}

struct Parser<'a> {
    data: &'a [u8],
    reader: Reader<&'a [u8]>,
    limits: &'a DistributionLimits,
    stack: Vec<Open>,
    elements: usize,
    /// The text of the innermost `title`, `script`, `pkg-ref` or `strings`
    /// being read, and where it started.
    text: String,
    text_start: usize,
    strings_language: String,
    dist: Distribution,
}

impl<'a> Parser<'a> {
    fn new(data: &'a [u8], limits: &'a DistributionLimits) -> Result<Self, DistributionError> {
        if data.len() > limits.max_input_len {
            return Err(DistributionError::new(
                DistributionErrorKind::TooLarge,
                limits.max_input_len,
            ));
        }
        if let Err(e) = std::str::from_utf8(data) {
            return Err(DistributionError::new(
                DistributionErrorKind::NotUtf8,
                e.valid_up_to(),
            ));
        }
        let bom = if data.starts_with(b"\xEF\xBB\xBF") {
            3
        } else {
            0
        };
        let mut reader = Reader::from_reader(&data[bom..]);
        let config = reader.config_mut();
        config.check_end_names = true;
        config.expand_empty_elements = false;
        config.trim_text(false);
        Ok(Self {
            data,
            reader,
            limits,
            stack: Vec::new(),
            elements: 0,
            text: String::new(),
            text_start: 0,
            strings_language: String::new(),
            dist: Distribution {
                root: RootElement::InstallerGuiScript,
                min_spec_version: None,
                title_text: None,
                options: Vec::new(),
                allowed_os_versions: Vec::new(),
                volume_check_script: None,
                installation_check_script: None,
                scripts: Vec::new(),
                version_checks: Vec::new(),
                choices: Vec::new(),
                pkg_refs: Vec::new(),
                auxinfo: None,
                localizations: IndexMap::new(),
            },
        })
    }

    /// Bytes skipped before the reader's input (a byte-order mark).
    fn base(&self) -> usize {
        usize::from(self.data.starts_with(b"\xEF\xBB\xBF")) * 3
    }

    fn position(&self) -> usize {
        self.base() + usize::try_from(self.reader.buffer_position()).unwrap_or(usize::MAX)
    }

    fn error(&self, kind: DistributionErrorKind) -> DistributionError {
        DistributionError::new(kind, self.position())
    }

    fn xml_error(&self, e: &quick_xml::Error) -> DistributionError {
        use quick_xml::errors::SyntaxError;
        let at = self.base() + usize::try_from(self.reader.error_position()).unwrap_or(usize::MAX);
        let kind = match e {
            quick_xml::Error::Syntax(
                SyntaxError::UnclosedPI
                | SyntaxError::UnclosedXmlDecl
                | SyntaxError::UnclosedComment
                | SyntaxError::UnclosedCData
                | SyntaxError::UnclosedTag
                | SyntaxError::UnclosedSingleQuotedAttributeValue
                | SyntaxError::UnclosedDoubleQuotedAttributeValue,
            ) => DistributionErrorKind::UnexpectedEof,
            quick_xml::Error::Syntax(SyntaxError::UnclosedDoctype) => {
                DistributionErrorKind::DocType
            }
            quick_xml::Error::Escape(_) => DistributionErrorKind::UndefinedEntity,
            _ => DistributionErrorKind::Malformed,
        };
        DistributionError::new(kind, at)
    }

    fn run(mut self) -> Result<Distribution, DistributionError> {
        let mut seen_root = false;
        loop {
            let event = match self.reader.read_event() {
                Ok(e) => e,
                Err(e) => return Err(self.xml_error(&e)),
            };
            match event {
                Event::Start(e) | Event::Empty(e) if self.stack.is_empty() && seen_root => {
                    drop(e);
                    return Err(self.error(DistributionErrorKind::Malformed));
                }
                Event::Start(e) => {
                    seen_root = true;
                    self.open(&e, false)?;
                }
                Event::Empty(e) => {
                    seen_root = true;
                    self.open(&e, true)?;
                }
                Event::End(_) => self.close()?,
                Event::Text(t) => {
                    let text = t.xml10_content();
                    if self.stack.is_empty() {
                        if !text.trim().is_empty() {
                            return Err(self.error(DistributionErrorKind::Malformed));
                        }
                    } else if self.capturing() {
                        self.text.push_str(&text);
                    }
                }
                Event::CData(t) => {
                    if self.stack.is_empty() {
                        return Err(self.error(DistributionErrorKind::Malformed));
                    }
                    if self.capturing() {
                        self.text.push_str(&t.xml10_content());
                    }
                }
                Event::GeneralRef(r) => {
                    let c = if r.is_char_ref() {
                        match r.resolve_char_ref() {
                            Ok(Some(c)) => c,
                            _ => return Err(self.error(DistributionErrorKind::Malformed)),
                        }
                    } else {
                        match &*r {
                            "amp" => '&',
                            "lt" => '<',
                            "gt" => '>',
                            "quot" => '"',
                            "apos" => '\'',
                            _ => return Err(self.error(DistributionErrorKind::UndefinedEntity)),
                        }
                    };
                    if self.stack.is_empty() {
                        return Err(self.error(DistributionErrorKind::Malformed));
                    }
                    if self.capturing() {
                        self.text.push(c);
                    }
                }
                Event::DocType(_) => return Err(self.error(DistributionErrorKind::DocType)),
                Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
                Event::Eof => {
                    if !self.stack.is_empty() || !seen_root {
                        return Err(self.error(DistributionErrorKind::UnexpectedEof));
                    }
                    let mut dist = self.dist;
                    dist.version_checks = dist
                        .scripts
                        .iter()
                        .flat_map(|s| script::version_checks(s))
                        .collect();
                    return Ok(dist);
                }
            }
        }
    }

    /// Whether text at this point belongs to the element being captured
    /// (and not to one of its children).
    fn capturing(&self) -> bool {
        self.stack.last().is_some_and(|o| o.captures())
    }

    fn attributes(&self, e: &BytesStart<'_>) -> Result<Vec<(String, String)>, DistributionError> {
        let mut out = Vec::new();
        for attr in e.attributes() {
            let attr = attr.map_err(|_| self.error(DistributionErrorKind::Malformed))?;
            if out.len() >= self.limits.max_attributes {
                return Err(self.error(DistributionErrorKind::TooMany));
            }
            let key = attr.key.as_ref().to_owned();
            let value = attr
                .normalized_value(XmlVersion::Implicit1_0)
                .map_err(|e| self.xml_error(&e))?;
            out.push((key, value.into_owned()));
        }
        Ok(out)
    }

    fn open(&mut self, e: &BytesStart<'_>, empty: bool) -> Result<(), DistributionError> {
        if self.stack.len() >= self.limits.max_depth {
            return Err(self.error(DistributionErrorKind::TooDeep));
        }
        self.elements += 1;
        if self.elements > self.limits.max_elements {
            return Err(self.error(DistributionErrorKind::TooMany));
        }
        let local = e.local_name();
        let name = local.as_ref();
        let attrs = self.attributes(e)?;
        let attr = |k: &str| {
            attrs
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.clone())
        };
        let parent = self.stack.last().copied();
        let open = match (parent, name) {
            (None, "installer-gui-script" | "installer-script") => {
                self.dist.root = if name == "installer-script" {
                    RootElement::InstallerScript
                } else {
                    RootElement::InstallerGuiScript
                };
                self.dist.min_spec_version = attr("minSpecVersion");
                Open::Root
            }
            (None, _) => return Err(self.error(DistributionErrorKind::NotADistribution)),
            (Some(Open::Root), "title") => Open::Title,
            (Some(Open::Root), "script") => Open::Script,
            (Some(Open::Root), "options") => {
                self.dist.options = attrs;
                Open::Other
            }
            (Some(Open::Root), "volume-check") => {
                self.dist.volume_check_script = attr("script");
                Open::Other
            }
            (Some(Open::Root), "installation-check") => {
                self.dist.installation_check_script = attr("script");
                Open::Other
            }
            (Some(Open::Root), "allowed-os-versions") => Open::AllowedOs,
            (Some(Open::AllowedOs), "os-version") => {
                self.dist.allowed_os_versions.push(OsVersionRange {
                    min: attr("min"),
                    before: attr("before"),
                });
                Open::Other
            }
            (Some(Open::Root), "choice") => {
                self.dist.choices.push(Choice {
                    id: attr("id").unwrap_or_default(),
                    title: attr("title"),
                    version: attr("versStr"),
                    description: attr("description"),
                    su_disabled_group_id: attr("suDisabledGroupID"),
                    attributes: attrs,
                    pkg_refs: Vec::new(),
                });
                Open::Choice(self.dist.choices.len() - 1)
            }
            (Some(Open::Root | Open::Choice(_)), "pkg-ref") => {
                let id = attr("id").unwrap_or_default();
                if let Some(Open::Choice(c)) = parent
                    && let Some(choice) = self.dist.choices.get_mut(c)
                {
                    choice.pkg_refs.push(id.clone());
                }
                let index = match self.dist.pkg_refs.iter().position(|p| p.id == id) {
                    Some(i) => i,
                    None => {
                        self.dist.pkg_refs.push(PkgRef {
                            id,
                            ..PkgRef::default()
                        });
                        self.dist.pkg_refs.len() - 1
                    }
                };
                let pkg = &mut self.dist.pkg_refs[index];
                for (k, v) in attrs {
                    match k.as_str() {
                        "version" if pkg.version.is_none() => pkg.version = Some(v.clone()),
                        "installKBytes" if pkg.install_kbytes.is_none() => {
                            pkg.install_kbytes = v.trim().parse().ok();
                        }
                        "packageIdentifier" if pkg.package_identifier.is_none() => {
                            pkg.package_identifier = Some(v.clone());
                        }
                        "auth" if pkg.auth.is_none() => pkg.auth = Some(v.clone()),
                        _ => {}
                    }
                    if !pkg.attributes.iter().any(|(key, _)| *key == k) {
                        pkg.attributes.push((k, v));
                    }
                }
                Open::PkgRef(index)
            }
            (Some(Open::Root), "auxinfo") => {
                if !empty {
                    self.auxinfo(e)?;
                }
                // Read to its end tag already (or empty).
                return Ok(());
            }
            (Some(Open::Root), "localization") => Open::Localization,
            (Some(Open::Localization), "strings") => {
                self.strings_language = attr("language").unwrap_or_else(|| "English".to_owned());
                Open::Strings
            }
            _ => Open::Other,
        };
        if open.captures() {
            self.text.clear();
            self.text_start = self.position();
        }
        if empty {
            self.stack.push(open);
            self.close()
        } else {
            self.stack.push(open);
            Ok(())
        }
    }

    fn auxinfo(&mut self, e: &BytesStart<'_>) -> Result<(), DistributionError> {
        let span = match self.reader.read_to_end(e.name()) {
            Ok(span) => span,
            Err(err) => return Err(self.xml_error(&err)),
        };
        let base = self.base();
        let start = usize::try_from(span.start).unwrap_or(usize::MAX);
        let end = usize::try_from(span.end).unwrap_or(usize::MAX);
        let content = self
            .data
            .get(base + start..base + end)
            .ok_or_else(|| self.error(DistributionErrorKind::Malformed))?;
        let mut limits = pippin_plist::Limits::default();
        limits
            .max_input_len(self.limits.max_input_len)
            .max_depth(self.limits.max_depth)
            .max_values(self.limits.max_elements);
        let value = pippin_plist::from_xml(content, &limits).map_err(|err| {
            DistributionError::new(
                DistributionErrorKind::AuxInfo(err.kind()),
                base + start + err.offset(),
            )
        })?;
        match value.into_dictionary() {
            Ok(d) => {
                self.dist.auxinfo = Some(d);
                Ok(())
            }
            Err(_) => Err(DistributionError::new(
                DistributionErrorKind::AuxInfo(pippin_plist::ErrorKind::Malformed),
                base + start,
            )),
        }
    }

    fn close(&mut self) -> Result<(), DistributionError> {
        let Some(open) = self.stack.pop() else {
            return Err(self.error(DistributionErrorKind::Malformed));
        };
        if !open.captures() {
            return Ok(());
        }
        let text = std::mem::take(&mut self.text);
        match open {
            Open::Title => self.dist.title_text = Some(text.trim().to_owned()),
            Open::Script => self.dist.scripts.push(text),
            Open::PkgRef(i) => {
                let location = text.trim();
                if let Some(pkg) = self.dist.pkg_refs.get_mut(i)
                    && pkg.location.is_none()
                    && !location.is_empty()
                {
                    pkg.location = Some(location.to_owned());
                }
            }
            Open::Strings => {
                let table = parse_strings(&text).map_err(|e| {
                    DistributionError::new(
                        DistributionErrorKind::Strings(e.kind()),
                        self.text_start.saturating_add(e.offset()),
                    )
                })?;
                let language = std::mem::take(&mut self.strings_language);
                let entry = self.dist.localizations.entry(language).or_default();
                entry.extend(table);
            }
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;

//! The catalog we write, checked for structure: well-formed for `xmllint`,
//! and — where the reference Software Distribution Packages that real
//! vendors publish sit beside the checkout (`../shared/fixtures/microsoft/sdp`)
//! — built only from the elements, attributes and child orders those use.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;
use time::macros::datetime;
use wsus_publish::publish::{Ledger, PublishOptions, UpdateFacts, build};
use wsus_publish::sdp::OriginFile;

/// A qualified name: namespace URI and local name.
type QName = (String, String);

/// What a document uses: per element, its attributes and the order of its
/// children.
#[derive(Default)]
struct Vocabulary {
    attributes: BTreeMap<QName, BTreeSet<String>>,
    children: BTreeMap<QName, Vec<Vec<QName>>>,
}

fn qname(resolved: ResolveResult<'_>, local: &[u8]) -> QName {
    let ns = match resolved {
        ResolveResult::Bound(ns) => ns.as_ref().to_owned(),
        _ => String::new(),
    };
    (ns, String::from_utf8_lossy(local).into_owned())
}

fn vocabulary(xml: &[u8], into: &mut Vocabulary) {
    let mut reader = quick_xml::NsReader::from_reader(xml);
    let mut stack: Vec<(QName, Vec<QName>)> = Vec::new();
    let mut open = |e: &BytesStart<'_>,
                    reader: &quick_xml::NsReader<&[u8]>,
                    stack: &mut Vec<(QName, Vec<QName>)>| {
        let (ns, local) = reader.resolver().resolve_element(e.name());
        let name = qname(ns, local.as_ref().as_bytes());
        let attrs = into.attributes.entry(name.clone()).or_default();
        for a in e.attributes() {
            let a = a.unwrap();
            if a.key.as_namespace_binding().is_some() {
                continue;
            }
            attrs.insert(
                String::from_utf8_lossy(a.key.local_name().as_ref().as_bytes()).into_owned(),
            );
        }
        if let Some(parent) = stack.last_mut() {
            parent.1.push(name.clone());
        }
        name
    };
    loop {
        match reader.read_event().unwrap() {
            Event::Start(e) => {
                let name = open(&e, &reader, &mut stack);
                stack.push((name, Vec::new()));
            }
            Event::Empty(e) => {
                let name = open(&e, &reader, &mut stack);
                into.children.entry(name).or_default().push(Vec::new());
            }
            Event::End(_) => {
                let (name, children) = stack.pop().unwrap();
                into.children.entry(name).or_default().push(children);
            }
            Event::Eof => break,
            _ => {}
        }
    }
}

fn sample_catalog() -> Vec<u8> {
    let mut safari_old = UpdateFacts::new("041-10001", datetime!(2024-03-07 18:00 UTC));
    safari_old.title = "Safari".into();
    safari_old.version = Some("17.4".into());
    safari_old.os_checks = vec![(">=".into(), "13.0".into()), ("<".into(), "14.0".into())];
    let mut safari = safari_old.clone();
    safari.product_key = "041-10002".into();
    safari.version = Some("17.5".into());
    safari.post_date = datetime!(2024-05-13 17:00 UTC);
    safari.description = "Safari 17.5 includes security fixes.".into();
    safari.receipts = vec![(
        "com.apple.pkg.SafariVentura".into(),
        "18618.2.12.111.5".into(),
    )];
    safari.files = vec![OriginFile {
        file_name: "Safari17.5VenturaAuto.pkg".into(),
        origin_uri:
            "https://swcdn.apple.com/content/downloads/1/2/041-10002/x/Safari17.5VenturaAuto.pkg"
                .into(),
        size: 123_456,
        sha1: [7; 20],
        modified: datetime!(2024-05-13 17:00 UTC),
    }];
    safari.has_distribution = true;
    let mut gone = UpdateFacts::new("041-09999", datetime!(2023-01-01 0:00 UTC));
    gone.title = "Security Update 2023-001 Monterey".into();
    let now = datetime!(2024-06-01 0:00 UTC);
    let first = build(
        &[gone, safari_old.clone()],
        &Ledger::default(),
        &PublishOptions::default(),
        now,
    );
    let second = build(
        &[safari_old, safari],
        &first.ledger,
        &PublishOptions::default(),
        now,
    );
    assert_eq!(second.summary.expired, 1);
    assert_eq!(second.summary.superseding, 1);
    second.catalog.to_xml()
}

fn fixtures() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/microsoft/sdp");
    dir.is_dir().then_some(dir)
}

#[test]
fn catalog_is_well_formed_for_xmllint() {
    if !test_support::require_peer("sdp xmllint", &["xmllint", "--version"]) {
        return;
    }
    let dir = test_support::tempdir();
    let path = dir.path().join("catalog.xml");
    std::fs::write(&path, sample_catalog()).unwrap();
    test_support::run_ok(&["xmllint", "--noout", path.to_str().unwrap()], b"");
    let count = |xpath: &str| {
        let out = test_support::run_ok(&["xmllint", "--xpath", xpath, path.to_str().unwrap()], b"");
        String::from_utf8(out).unwrap().trim().to_owned()
    };
    assert_eq!(
        count(
            "count(/*[local-name()='SystemsManagementCatalog']/*[local-name()='SoftwareDistributionPackage'])"
        ),
        "3"
    );
    assert_eq!(
        count("count(//*[local-name()='Properties'][@PublicationState='Expired'])"),
        "1"
    );
    assert_eq!(
        count("count(//*[local-name()='SupersededPackages']/*[local-name()='PackageID'])"),
        "1"
    );
    assert_eq!(
        count(
            "string(//*[local-name()='Properties'][../*[local-name()='LocalizedProperties']/*[local-name()='Title']='Safari 17.5']/@VendorName)"
        ),
        "Apple"
    );
}

#[test]
fn catalog_uses_the_vocabulary_of_real_sdps() {
    let Some(dir) = fixtures() else {
        eprintln!("\n*** SKIPPED: no reference SDPs at ../shared/fixtures/microsoft/sdp ***\n");
        return;
    };
    let mut reference = Vocabulary::default();
    let mut files = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "xml") {
            vocabulary(&std::fs::read(&path).unwrap(), &mut reference);
            files += 1;
        }
    }
    assert!(files >= 2, "reference SDPs in {}", dir.display());
    let mut ours = Vocabulary::default();
    vocabulary(&sample_catalog(), &mut ours);

    for (name, attrs) in &ours.attributes {
        if is_logical_operator(name) {
            assert!(attrs.is_empty(), "{name:?} takes no attributes");
            continue;
        }
        let known = reference
            .attributes
            .get(name)
            .unwrap_or_else(|| panic!("element {name:?} appears in no reference SDP"));
        let unknown: Vec<_> = attrs.difference(known).collect();
        assert!(
            unknown.is_empty(),
            "{name:?}: attributes {unknown:?} appear in no reference SDP"
        );
    }
    // Children come in an order some reference package uses: our
    // sequence (repeats collapsed) keeps the reference's relative order.
    for (name, sequences) in &ours.children {
        if takes_any_rule(name) {
            for child in sequences.iter().flatten() {
                assert!(
                    child.0.ends_with("ApplicabilityRules.xsd"),
                    "{name:?} holds {child:?}, which is not an applicability rule"
                );
            }
            continue;
        }
        let reference_orders = &reference.children[name];
        for seq in sequences {
            let mut seq = seq.clone();
            seq.dedup();
            let fits = |order: &Vec<QName>| {
                let mut order = order.clone();
                order.dedup();
                let positions: Option<Vec<usize>> = seq
                    .iter()
                    .map(|c| order.iter().position(|o| o == c))
                    .collect();
                positions.is_some_and(|p| p.windows(2).all(|w| w[0] < w[1]))
            };
            let union: BTreeSet<&QName> = reference_orders.iter().flatten().collect();
            for child in &seq {
                assert!(
                    union.contains(child),
                    "{name:?} has child {child:?}, which no reference SDP puts there"
                );
            }
            assert!(
                seq.len() < 2 || reference_orders.iter().any(fits),
                "{name:?}: child order {seq:?} matches no reference SDP"
            );
        }
    }
}

/// The operators `LogicalApplicabilityRules.xsd` defines; the reference
/// packages happen to use only `And` and `Or`.
fn is_logical_operator(name: &QName) -> bool {
    name.0.ends_with("LogicalApplicabilityRules.xsd")
        && matches!(name.1.as_str(), "And" | "Or" | "Not" | "True" | "False")
}

/// Logical rules (`lar:And`, `lar:Or`) and the rule slots of a package
/// (`IsInstallable`, `IsInstalled`) take any applicability rule, in any
/// order.
fn takes_any_rule(name: &QName) -> bool {
    name.0.ends_with("LogicalApplicabilityRules.xsd")
        || matches!(name.1.as_str(), "IsInstallable" | "IsInstalled")
}

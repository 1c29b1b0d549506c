use proptest::prelude::*;
use quick_xml::events::Event;
use time::macros::datetime;

use super::*;

fn sample() -> SoftwareDistributionPackage {
    let mut sdp = SoftwareDistributionPackage::new("041-12345", datetime!(2024-05-13 17:00:05 UTC));
    sdp.properties.product_name = "Safari".into();
    sdp.properties.more_info_url = Some("https://support.apple.com/en-us/100100".into());
    sdp.localized.title = "Safari 17.5 & \"friends\" <beta>".into();
    sdp.localized.description = "Line one.\nLine two.".into();
    sdp.update_data.classification = UpdateClassification::SecurityUpdates;
    sdp.update_data.kb_article_id = Some("041-12345".into());
    sdp.item.origin_files.push(OriginFile {
        file_name: "Safari17.5.pkg".into(),
        origin_uri: "https://swcdn.apple.com/content/downloads/1/2/041-12345/abc/Safari17.5.pkg"
            .into(),
        size: 123_456_789,
        sha1: [0xab; 20],
        modified: datetime!(2024-05-13 17:00:05 UTC),
    });
    sdp.superseded.push(package_id("041-00001"));
    sdp
}

/// An element: name, attributes, text.
type El = (String, Vec<(String, String)>, String);

/// (element name, attributes, text) in document order, entities resolved.
fn elements(xml: &[u8]) -> Vec<El> {
    let mut reader = quick_xml::Reader::from_reader(xml);
    let mut out: Vec<El> = Vec::new();
    let mut buf = Vec::new();
    let mut open: Vec<usize> = Vec::new();
    loop {
        let event = reader.read_event_into(&mut buf).expect("well-formed");
        if let Event::End(_) = event {
            open.pop();
        }
        let empty = matches!(event, Event::Empty(_));
        match event {
            Event::Start(e) | Event::Empty(e) => {
                let name = e.name().as_ref().to_owned();
                let attrs = e
                    .attributes()
                    .map(|a| {
                        let a = a.unwrap();
                        let key = a.key.as_ref().to_owned();
                        let value = a
                            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                            .unwrap()
                            .into_owned();
                        (key, value)
                    })
                    .collect();
                out.push((name, attrs, String::new()));
                if !empty {
                    open.push(out.len() - 1);
                }
            }
            Event::Text(t) => {
                if let Some(&i) = open.last() {
                    out[i].2.push_str(&t.xml10_content());
                }
            }
            Event::GeneralRef(r) => {
                let c = match &*r {
                    "amp" => "&".to_owned(),
                    "lt" => "<".to_owned(),
                    "gt" => ">".to_owned(),
                    "quot" => "\"".to_owned(),
                    "apos" => "'".to_owned(),
                    _ if r.is_char_ref() => r.resolve_char_ref().unwrap().unwrap().to_string(),
                    n => panic!("entity {n}"),
                };
                if let Some(&i) = open.last() {
                    out[i].2.push_str(&c);
                }
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    out
}

fn attr<'a>(e: &'a El, name: &str) -> &'a str {
    e.1.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("{name} on {}", e.0))
}

#[test]
fn package_id_is_stable_across_releases() {
    // Changing this value would make every server publish every Apple
    // update a second time under a new ID.
    assert_eq!(
        package_id("041-12345").to_string(),
        package_id("041-12345").to_string()
    );
    assert_eq!(package_id("041-12345").get_version_num(), 5);
    assert_ne!(package_id("041-12345"), installable_item_id("041-12345"));
    assert_eq!(
        PACKAGE_ID_NAMESPACE.to_string(),
        "5b8f0c4e-9a31-4e55-a1c2-7d9e6f30b214"
    );
}

#[test]
fn standalone_sdp_reads_back() {
    let xml = sample().to_xml();
    let els = elements(&xml);
    assert_eq!(els[0].0, "sdp:SoftwareDistributionPackage");
    assert_eq!(attr(&els[0], "SchemaVersion"), "1.2");
    assert_eq!(attr(&els[0], "xmlns:sdp"), NS_SDP);
    let props = els.iter().find(|e| e.0 == "sdp:Properties").unwrap();
    assert_eq!(
        attr(props, "PackageID"),
        package_id("041-12345").to_string()
    );
    assert_eq!(attr(props, "CreationDate"), "2024-05-13T17:00:05Z");
    assert_eq!(attr(props, "VendorName"), "Apple");
    assert_eq!(attr(props, "PublicationState"), "Published");
    let title = els.iter().find(|e| e.0 == "sdp:Title").unwrap();
    assert_eq!(title.2, "Safari 17.5 & \"friends\" <beta>");
    let desc = els.iter().find(|e| e.0 == "sdp:Description").unwrap();
    assert_eq!(desc.2, "Line one.\nLine two.");
    let usd = els
        .iter()
        .find(|e| e.0 == "sdp:UpdateSpecificData")
        .unwrap();
    assert_eq!(attr(usd, "UpdateClassification"), "Security Updates");
    assert!(usd.1.iter().all(|(k, _)| k != "MsrcSeverity"));
    let superseded: Vec<_> = els
        .iter()
        .filter(|e| e.0 == "sdp:PackageID")
        .map(|e| e.2.clone())
        .collect();
    assert_eq!(superseded, [package_id("041-00001").to_string()]);
    let origin = els.iter().find(|e| e.0 == "sdp:OriginFile").unwrap();
    assert_eq!(attr(origin, "Digest"), "q6urq6urq6urq6urq6urq6urq6s=");
    assert_eq!(attr(origin, "Size"), "123456789");
    let queries: Vec<_> = els
        .iter()
        .filter(|e| e.0 == "bar:WmiQuery")
        .map(|e| attr(e, "WqlQuery").to_owned())
        .collect();
    assert_eq!(
        queries,
        [
            "SELECT * FROM Pippin_OperatingSystem WHERE Platform = 'macOS'",
            "SELECT * FROM Pippin_InstalledOSUpdate WHERE ProductKey = '041-12345'",
            "SELECT * FROM Pippin_AvailableOSUpdate WHERE ProductKey = '041-12345'",
        ]
    );
    let cmd = els
        .iter()
        .find(|e| e.0 == "cmd:CommandLineInstallerData")
        .unwrap();
    assert_eq!(attr(cmd, "Arguments"), "ProductKey=041-12345");
}

#[test]
fn catalog_wraps_packages_and_is_deterministic() {
    let mut catalog = Catalog::new();
    catalog.push(sample());
    let mut other = sample();
    other.product_key = "041-99999".into();
    other.properties.package_id = package_id("041-99999");
    other.properties.publication_state = PublicationState::Expired;
    catalog.push(other);
    let xml = catalog.to_xml();
    assert_eq!(xml, catalog.to_xml());
    let els = elements(&xml);
    assert_eq!(els[0].0, "smc:SystemsManagementCatalog");
    assert_eq!(attr(&els[0], "xmlns:smc"), NS_SMC);
    let packages: Vec<_> = els
        .iter()
        .filter(|e| e.0 == "smc:SoftwareDistributionPackage")
        .collect();
    assert_eq!(packages.len(), 2);
    let states: Vec<_> = els
        .iter()
        .filter(|e| e.0 == "sdp:Properties")
        .map(|e| attr(e, "PublicationState"))
        .collect();
    assert_eq!(states, ["Published", "Expired"]);
}

#[test]
fn limits_cut_title_and_description_on_characters() {
    let mut sdp = sample();
    sdp.localized.title = "é".repeat(300);
    sdp.localized.description = "ü ".repeat(1000);
    let els = elements(&sdp.to_xml());
    let title = &els.iter().find(|e| e.0 == "sdp:Title").unwrap().2;
    assert_eq!(title.chars().count(), MAX_TITLE_CHARS);
    assert!(title.ends_with('…'));
    let desc = &els.iter().find(|e| e.0 == "sdp:Description").unwrap().2;
    assert!(desc.chars().count() <= MAX_DESCRIPTION_CHARS);
    assert!(desc.ends_with("ü…"));
    assert_eq!(truncate_chars("short", 200), "short");
    assert_eq!(truncate_chars("abcdef", 6), "abcdef");
    assert_eq!(truncate_chars("abcdefg", 6), "abcde…");
}

#[test]
fn characters_xml_cannot_carry_are_dropped() {
    let mut sdp = sample();
    sdp.localized.title = "bad\u{0}\u{1b}[1mtitle\u{FFFE}".into();
    let els = elements(&sdp.to_xml());
    assert_eq!(
        els.iter().find(|e| e.0 == "sdp:Title").unwrap().2,
        "bad[1mtitle"
    );
}

#[test]
fn wql_values_are_escaped() {
    let Rule::WmiQuery { wql, .. } = Rule::package_receipt("com.apple.pkg.X' OR '1'='1", "1\\2")
    else {
        panic!()
    };
    assert_eq!(
        wql,
        r"SELECT * FROM Pippin_PackageReceipt WHERE PackageIdentifier = 'com.apple.pkg.X\' OR \'1\'=\'1' AND Version = '1\\2'"
    );
}

#[test]
fn os_version_ranges() {
    let Some(Rule::WmiQuery { wql, namespace }) =
        Rule::os_version_range(Some("10.15.7"), Some("11"))
    else {
        panic!()
    };
    assert_eq!(namespace, PIPPIN_NAMESPACE);
    assert_eq!(
        wql,
        "SELECT * FROM Pippin_OperatingSystem WHERE Platform = 'macOS' AND VersionKey >= 10015007 AND VersionKey < 11000000"
    );
    assert_eq!(Rule::os_version_range(Some("junk"), None), None);
    assert_eq!(Rule::os_version_range(None, None), None);
    assert_eq!(Rule::all(vec![]), Rule::True);
    assert_eq!(Rule::all(vec![Rule::False]), Rule::False);
}

#[test]
fn version_keys() {
    assert_eq!(version_key("13.6.1"), Some(13_006_001));
    assert_eq!(version_key(" 10.9 "), Some(10_009_000));
    assert_eq!(version_key("1.2.3.4"), None);
    assert_eq!(version_key("1000.0"), None);
    assert_eq!(version_key(""), None);
    assert_eq!(version_key("1..2"), None);
    assert_eq!(version_key("-1"), None);
}

#[test]
fn classification_names_roundtrip() {
    for c in [
        UpdateClassification::CriticalUpdates,
        UpdateClassification::DefinitionUpdates,
        UpdateClassification::FeaturePacks,
        UpdateClassification::SecurityUpdates,
        UpdateClassification::ServicePacks,
        UpdateClassification::Tools,
        UpdateClassification::UpdateRollups,
        UpdateClassification::Updates,
    ] {
        assert_eq!(UpdateClassification::from_name(c.as_str()), Some(c));
    }
    for s in [
        MsrcSeverity::Critical,
        MsrcSeverity::Important,
        MsrcSeverity::Moderate,
        MsrcSeverity::Low,
    ] {
        assert_eq!(MsrcSeverity::from_name(s.as_str()), Some(s));
    }
    assert_eq!(UpdateClassification::from_name("Upgrades"), None);
}

proptest! {
    /// Whatever text a catalog carries, the XML stays well-formed and the
    /// text reads back (less what XML cannot carry, and cut to length).
    #[test]
    fn any_text_reads_back(title in any::<String>(), key in "[ -~]{0,40}") {
        let mut sdp = SoftwareDistributionPackage::new(&key, datetime!(2024-01-01 0:00 UTC));
        sdp.localized.title = title.clone();
        sdp.localized.description = title.clone();
        let els = elements(&sdp.to_xml());
        let expected: String = title.chars().filter(|&c| xml_char(c)).collect::<String>();
        let expected = truncate_chars(&expected, MAX_TITLE_CHARS).into_owned();
        let got = &els.iter().find(|e| e.0 == "sdp:Title").unwrap().2;
        // Line ends normalise in XML text: \r became &#13; and survives.
        prop_assert_eq!(got, &expected);
        let cmd = els.iter().find(|e| e.0 == "cmd:CommandLineInstallerData").unwrap();
        let key_clean: String = key.chars().filter(|&c| xml_char(c)).collect();
        prop_assert_eq!(attr(cmd, "Arguments"), format!("ProductKey={key_clean}"));
    }
}

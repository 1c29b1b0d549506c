use time::macros::datetime;

use super::*;

fn facts(key: &str, title: &str, version: Option<&str>, day: u8) -> UpdateFacts {
    let mut f = UpdateFacts::new(
        key,
        datetime!(2024-05-01 12:00 UTC) + time::Duration::days(i64::from(day)),
    );
    f.title = title.to_owned();
    f.version = version.map(str::to_owned);
    f.has_distribution = true;
    f
}

fn now() -> OffsetDateTime {
    datetime!(2024-06-01 0:00 UTC)
}

fn by_key<'a>(p: &'a Publication, key: &str) -> &'a SoftwareDistributionPackage {
    p.catalog
        .packages
        .iter()
        .find(|s| s.product_key == key)
        .unwrap()
}

#[test]
fn classification_by_name() {
    let c = |title: &str| classify(&facts("k", title, None, 0));
    assert_eq!(
        c("Security Update 2024-002 Ventura"),
        (UpdateClassification::SecurityUpdates, "macOS")
    );
    assert_eq!(
        c("XProtectPlistConfigData"),
        (
            UpdateClassification::DefinitionUpdates,
            "macOS Configuration Data"
        )
    );
    assert_eq!(
        c("MRTConfigData"),
        (
            UpdateClassification::DefinitionUpdates,
            "macOS Configuration Data"
        )
    );
    assert_eq!(c("Safari"), (UpdateClassification::Updates, "Safari"));
    assert_eq!(
        c("Command Line Tools for Xcode"),
        (UpdateClassification::Tools, "Xcode")
    );
    assert_eq!(
        c("macOS Sonoma 14.5"),
        (UpdateClassification::Updates, "macOS")
    );
    assert_eq!(
        c("HP Printer Software Update"),
        (UpdateClassification::Updates, "Printers and Scanners")
    );
    assert_eq!(
        c("Pro Video Formats"),
        (UpdateClassification::Updates, "Apple Software")
    );
    let mut installer = facts("k", "macOS installer", Some("14.5"), 0);
    installer.installer = true;
    assert_eq!(
        classify(&installer),
        (UpdateClassification::FeaturePacks, "macOS")
    );
}

#[test]
fn families_ignore_numbers() {
    assert_eq!(
        family_name("Security Update 2024-002 Ventura"),
        "security update ventura"
    );
    assert_eq!(family_name("Safari"), "safari");
    assert_eq!(family_name("macOS Sonoma 14.5"), "macos sonoma");
    assert_eq!(
        compare_versions(&numbers_in("10.15.7"), &numbers_in("10.15")),
        Ordering::Greater
    );
    assert_eq!(
        compare_versions(&numbers_in("14.0"), &numbers_in("14")),
        Ordering::Equal
    );
    assert_eq!(
        compare_versions(&numbers_in("9.1"), &numbers_in("10")),
        Ordering::Less
    );
}

#[test]
fn newer_supersedes_older_within_family_and_os_range() {
    let mut s17_4 = facts("041-0001", "Safari", Some("17.4"), 0);
    let mut s17_5 = facts("041-0002", "Safari", Some("17.5"), 10);
    // Safari for another macOS range: a separate family.
    let mut s17_5_other = facts("041-0003", "Safari", Some("17.5"), 10);
    for f in [&mut s17_4, &mut s17_5] {
        f.os_checks = vec![(">=".into(), "13.0".into()), ("<".into(), "14.0".into())];
    }
    s17_5_other.os_checks = vec![(">=".into(), "14.0".into())];
    let sec2 = facts("041-0004", "Security Update 2024-002 Ventura", None, 1);
    let sec3 = facts("041-0005", "Security Update 2024-003 Ventura", None, 20);
    let sec3_monterey = facts("041-0006", "Security Update 2024-003 Monterey", None, 20);
    let unnamed = UpdateFacts::new("041-0007", datetime!(2024-05-30 0:00 UTC));

    let all = [
        s17_4,
        s17_5,
        s17_5_other,
        sec2,
        sec3,
        sec3_monterey,
        unnamed,
    ];
    let out = build(&all, &Ledger::default(), &PublishOptions::default(), now());
    assert_eq!(
        by_key(&out, "041-0002").superseded,
        [sdp::package_id("041-0001")]
    );
    assert!(by_key(&out, "041-0003").superseded.is_empty());
    assert!(by_key(&out, "041-0001").superseded.is_empty());
    assert_eq!(
        by_key(&out, "041-0005").superseded,
        [sdp::package_id("041-0004")]
    );
    assert!(by_key(&out, "041-0006").superseded.is_empty());
    assert!(by_key(&out, "041-0007").superseded.is_empty());
    assert_eq!(out.summary.superseding, 2);
    assert_eq!(out.summary.superseded, 2);
    assert_eq!(out.summary.published, 7);
    assert_eq!(out.summary.products, 7);
    assert_eq!(out.summary.without_distribution, 1);

    // Newest first, then by key.
    let keys: Vec<_> = out
        .catalog
        .packages
        .iter()
        .map(|p| p.product_key.as_str())
        .collect();
    assert_eq!(
        keys,
        [
            "041-0007", "041-0005", "041-0006", "041-0002", "041-0003", "041-0004", "041-0001"
        ]
    );

    let safari = by_key(&out, "041-0002");
    assert_eq!(safari.localized.title, "Safari 17.5");
    assert_eq!(safari.properties.product_name, "Safari");
    assert_eq!(
        safari.update_data.kb_article_id.as_deref(),
        Some("041-0002")
    );
    let Rule::And(rules) = &safari.item.is_installable else {
        panic!("{:?}", safari.item.is_installable)
    };
    assert_eq!(rules.len(), 2);
    assert_eq!(
        Some(rules[0].clone()),
        Rule::os_version_range(Some("13.0"), Some("14.0"))
    );
    assert_eq!(rules[1], Rule::available_update("041-0002"));
    assert_eq!(by_key(&out, "041-0007").localized.title, "041-0007");
}

#[test]
fn same_input_same_catalog() {
    let all = [
        facts("a", "Safari", Some("1"), 0),
        facts("b", "Safari", Some("2"), 1),
    ];
    let one = build(&all, &Ledger::default(), &PublishOptions::default(), now());
    let reversed = [all[1].clone(), all[0].clone()];
    let two = build(
        &reversed,
        &one.ledger,
        &PublishOptions::default(),
        now() + time::Duration::hours(1),
    );
    assert_eq!(one.catalog.to_xml(), two.catalog.to_xml());
    assert_eq!(
        two.ledger.products["a"].first_published,
        now().unix_timestamp()
    );
    assert_eq!(
        two.ledger.products["a"].last_seen,
        (now() + time::Duration::hours(1)).unix_timestamp()
    );
}

#[test]
fn receipts_and_installers_shape_the_item() {
    let mut f = facts("k1", "Pro Video Formats", Some("2.2.5"), 0);
    f.receipts = vec![("com.apple.pkg.ProVideoFormats".into(), "2.2.5".into())];
    let mut installer = facts("k2", "macOS installer", Some("14.5"), 0);
    installer.installer = true;
    let out = build(
        &[f, installer],
        &Ledger::default(),
        &PublishOptions::default(),
        now(),
    );
    let item = &by_key(&out, "k1").item;
    assert_eq!(
        item.is_installed,
        Rule::Or(vec![
            Rule::installed_update("k1"),
            Rule::package_receipt("com.apple.pkg.ProVideoFormats", "2.2.5")
        ])
    );
    let inst = &by_key(&out, "k2");
    assert_eq!(
        inst.update_data.classification,
        UpdateClassification::FeaturePacks
    );
    assert_eq!(
        inst.item.install.reboot,
        sdp::RebootBehavior::AlwaysRequiresReboot
    );
    assert_eq!(inst.localized.title, "macOS installer 14.5");
}

#[test]
fn products_apple_drops_expire_then_go() {
    let options = PublishOptions {
        expired_retention: Duration::from_secs(10 * 86_400),
        ..PublishOptions::default()
    };
    let first = build(
        &[
            facts("keep", "Safari", Some("1"), 0),
            facts("gone", "Security Update 2024-001 Ventura", None, 0),
        ],
        &Ledger::default(),
        &options,
        now(),
    );
    assert_eq!(first.summary.expired, 0);

    let later = now() + time::Duration::days(1);
    let second = build(
        &[facts("keep", "Safari", Some("1"), 0)],
        &first.ledger,
        &options,
        later,
    );
    assert_eq!(second.summary.expired, 1);
    assert_eq!(second.summary.published, 2);
    let gone = by_key(&second, "gone");
    assert_eq!(gone.properties.publication_state, PublicationState::Expired);
    assert_eq!(gone.properties.creation_date, later);
    assert_eq!(
        gone.update_data.classification,
        UpdateClassification::SecurityUpdates
    );
    assert_eq!(gone.localized.title, "Security Update 2024-001 Ventura");
    assert_eq!(
        second.ledger.products["gone"].expired_since,
        Some(later.unix_timestamp())
    );

    // Within the retention period: still expired, same revision date.
    let third = build(
        &[facts("keep", "Safari", Some("1"), 0)],
        &second.ledger,
        &options,
        later + time::Duration::days(5),
    );
    assert_eq!(by_key(&third, "gone").properties.creation_date, later);
    assert_eq!(third.catalog.to_xml(), second.catalog.to_xml());

    // After it: forgotten.
    let fourth = build(
        &[facts("keep", "Safari", Some("1"), 0)],
        &third.ledger,
        &options,
        later + time::Duration::days(11),
    );
    assert_eq!(fourth.summary.expired, 0);
    assert!(!fourth.ledger.products.contains_key("gone"));

    // A product that comes back is published again.
    let back = build(
        &[
            facts("keep", "Safari", Some("1"), 0),
            facts("gone", "Security Update 2024-001 Ventura", None, 0),
        ],
        &second.ledger,
        &options,
        later + time::Duration::days(2),
    );
    assert_eq!(
        by_key(&back, "gone").properties.publication_state,
        PublicationState::Published
    );
    assert_eq!(back.ledger.products["gone"].expired_since, None);
    assert_eq!(
        back.ledger.products["gone"].first_published,
        now().unix_timestamp()
    );
}

#[test]
fn duplicate_keys_publish_once() {
    let out = build(
        &[
            facts("a", "Safari", Some("1"), 0),
            facts("a", "Safari", Some("1"), 0),
        ],
        &Ledger::default(),
        &PublishOptions::default(),
        now(),
    );
    assert_eq!(out.summary.published, 1);
}

use proptest::prelude::*;

use super::*;

/// A Safari update's distribution in the shape Apple serves it.
const SAFARI: &str = r#"<?xml version="1.0" encoding="utf-8" standalone="no"?>
<installer-gui-script minSpecVersion="1" auth="root">
    <title>SU_TITLE</title>
    <options hostArchitectures="x86_64,arm64" customize="never" allow-external-scripts="no" require-scripts="false"/>
    <domains enable_anywhere="false" enable_currentUserHome="false" enable_localSystem="true"/>
    <volume-check script="VolumeCheck()"/>
    <installation-check script="InstallationCheck()"/>
    <script>
function InstallationCheck(prefix) {
	if (system.compareVersions(system.version.ProductVersion, '11.3') &lt; 0 || system.compareVersions(system.version.ProductVersion, '12.0') >= 0) {
		my.result.message = system.localizedStandardStringWithFormat('InstallationCheckError', system.localizedString('SU_TITLE'));
		my.result.type = 'Fatal';
		return false;
	}
	return true;
}
function VolumeCheck(prefix) {
	if (typeof(my.target.systemVersion) == 'undefined' || system.compareVersions(my.target.systemVersion.ProductVersion, '11.3') &lt; 0) {
		return false;
	}
	return true;
}
function Unused() {
	return system.compareVersions(system.version.ProductVersion, '99.0') >= 0;
}
</script>
    <choices-outline ui="SoftwareUpdate">
        <line choice="su"/>
    </choices-outline>
    <choices-outline>
        <line choice="su"/>
    </choices-outline>
    <choice id="su" suDisabledGroupID="Safari14.1BigSurAuto" visible="false" title="SU_TITLE" versStr="SU_VERS" description="SU_DESCRIPTION" description-mime-type="text/html" secondaryDescription="SU_SERVERCOMMENT" start_selected="true">
        <pkg-ref id="com.apple.pkg.Safari14.1BigSurAuto" auth="Root" packageIdentifier="com.apple.pkg.Safari14.1BigSurAuto" onConclusion="None">Safari14.1BigSurAuto.pkg</pkg-ref>
    </choice>
    <pkg-ref id="com.apple.pkg.Safari14.1BigSurAuto" installKBytes="208934" version="16611.1.21.161.6">
        <bundle-version>
            <bundle CFBundleShortVersionString="14.1" CFBundleVersion="16611.1.21.161.6" id="com.apple.Safari" path="Applications/Safari.app"/>
        </bundle-version>
    </pkg-ref>
    <auxinfo>
        <dict>
            <key>macOSProductVersion</key>
            <string>11.3</string>
            <key>ExtraInfo</key>
            <array><integer>1</integer></array>
        </dict>
    </auxinfo>
    <localization>
        <strings language="English"><![CDATA["SU_TITLE" = "Safari";
"SU_VERS" = "14.1";
"SU_SERVERCOMMENT" = "Safari \"14.1\" for macOS Big Sur";
/* The description. */
"SU_DESCRIPTION" = '<!DOCTYPE html PUBLIC "-//W3C//DTD HTML 4.01//EN" "http://www.w3.org/TR/html4/strict.dtd">
<html>
<head>
<meta http-equiv="Content-Type" content="text/html; charset=utf-8" />
<meta http-equiv="Content-Style-Type" content="text/css" />
<title></title>
<style type="text/css">p.p1 {margin: 0.0px 0.0px 0.0px 0.0px; font: 11.0px \'Lucida Grande\'}</style>
</head>
<body>
<p class="p1">Safari 14.1 adds support for Web Speech API &amp; doesn\'t forget your tabs.</p>
</body>
</html>
';
"InstallationCheckError" = "%@ can\'t be installed on this computer.";
]]></strings>
        <strings language="French">"SU_TITLE" = "Safari (fr)";</strings>
    </localization>
</installer-gui-script>
"#;

#[test]
fn reads_a_safari_distribution() {
    let d = Distribution::parse(SAFARI.as_bytes()).unwrap();
    assert_eq!(d.root, RootElement::InstallerGuiScript);
    assert_eq!(d.min_spec_version.as_deref(), Some("1"));
    assert_eq!(d.title_text.as_deref(), Some("SU_TITLE"));
    assert_eq!(d.title(), Some("Safari"));
    assert_eq!(d.version(), Some("14.1"));
    assert_eq!(
        d.server_comment(),
        Some("Safari \"14.1\" for macOS Big Sur")
    );
    let html = d.description_html().unwrap();
    assert!(html.starts_with("<!DOCTYPE html PUBLIC"));
    assert!(html.contains("font: 11.0px 'Lucida Grande'"));
    assert_eq!(
        d.description_text(500).as_deref(),
        Some("Safari 14.1 adds support for Web Speech API & doesn't forget your tabs.")
    );
    assert_eq!(d.description_text(20).as_deref(), Some("Safari 14.1 adds…"));
    assert_eq!(d.strings_for("French").unwrap()["SU_TITLE"], "Safari (fr)");
    assert_eq!(d.localizations.len(), 2);

    assert_eq!(
        d.options.iter().find(|(k, _)| k == "hostArchitectures"),
        Some(&("hostArchitectures".into(), "x86_64,arm64".into()))
    );
    assert_eq!(d.volume_check_script.as_deref(), Some("VolumeCheck()"));
    assert_eq!(
        d.installation_check_script.as_deref(),
        Some("InstallationCheck()")
    );
    assert_eq!(d.scripts.len(), 1);
    assert!(d.scripts[0].contains("'11.3') < 0 ||"));

    assert_eq!(d.choices.len(), 1);
    let c = &d.choices[0];
    assert_eq!(c.id, "su");
    assert_eq!(
        c.su_disabled_group_id.as_deref(),
        Some("Safari14.1BigSurAuto")
    );
    assert_eq!(c.pkg_refs, ["com.apple.pkg.Safari14.1BigSurAuto"]);

    assert_eq!(d.pkg_refs.len(), 1);
    let p = d.pkg_ref("com.apple.pkg.Safari14.1BigSurAuto").unwrap();
    assert_eq!(p.version.as_deref(), Some("16611.1.21.161.6"));
    assert_eq!(p.install_kbytes, Some(208_934));
    assert_eq!(p.auth.as_deref(), Some("Root"));
    assert_eq!(
        p.package_identifier.as_deref(),
        Some("com.apple.pkg.Safari14.1BigSurAuto")
    );
    assert_eq!(p.location.as_deref(), Some("Safari14.1BigSurAuto.pkg"));
    assert!(p.attributes.iter().any(|(k, _)| k == "onConclusion"));

    let aux = d.auxinfo.as_ref().unwrap();
    assert_eq!(
        aux.get("macOSProductVersion")
            .and_then(pippin_plist::Value::as_str),
        Some("11.3")
    );

    let checks: Vec<_> = d
        .version_checks
        .iter()
        .map(|c| (c.function.as_deref(), c.op, c.version.as_str(), c.meaning))
        .collect();
    assert_eq!(
        checks,
        [
            (
                Some("InstallationCheck"),
                CompareOp::Ge,
                "11.3",
                CheckMeaning::Requires
            ),
            (
                Some("InstallationCheck"),
                CompareOp::Lt,
                "12.0",
                CheckMeaning::Requires
            ),
            (
                Some("VolumeCheck"),
                CompareOp::Ge,
                "11.3",
                CheckMeaning::Requires
            ),
            (
                Some("Unused"),
                CompareOp::Ge,
                "99.0",
                CheckMeaning::Requires
            ),
        ]
    );
    let constraints: Vec<_> = d
        .os_version_constraints()
        .into_iter()
        .map(|c| (c.subject, c.op, c.version))
        .collect();
    assert_eq!(
        constraints,
        [
            (VersionSubject::RunningSystem, CompareOp::Ge, "11.3".into()),
            (VersionSubject::RunningSystem, CompareOp::Lt, "12.0".into()),
            (VersionSubject::TargetVolume, CompareOp::Ge, "11.3".into()),
        ]
    );
}

#[test]
fn escaped_strings_and_the_old_root() {
    let doc = r#"<?xml version="1.0"?>
<installer-script minSpecVersion="1.000000">
  <title>Old Update</title>
  <allowed-os-versions><os-version min="10.4.11"/><os-version before="10.6"/></allowed-os-versions>
  <choice id="c" title="CHOICE_TITLE" versStr="1.0 (v2)" description="DESC"/>
  <pkg-ref id="a"/>
  <pkg-ref id="a" version="1.0">  #a.pkg  </pkg-ref>
  <localization>
    <strings language="en">"SU_DESCRIPTION" = '&lt;p&gt;Fixes &amp;amp; more&lt;/p&gt;';
"CHOICE_TITLE" = "Chosen";</strings>
  </localization>
</installer-script>"#;
    let d = Distribution::parse(doc.as_bytes()).unwrap();
    assert_eq!(d.root, RootElement::InstallerScript);
    assert_eq!(d.title(), Some("Old Update"));
    assert_eq!(d.version(), Some("1.0 (v2)"));
    assert_eq!(d.description_html(), Some("<p>Fixes &amp; more</p>"));
    assert_eq!(d.description_text(100).as_deref(), Some("Fixes & more"));
    assert_eq!(d.pkg_refs.len(), 1);
    assert_eq!(d.pkg_refs[0].location.as_deref(), Some("#a.pkg"));
    assert_eq!(d.pkg_refs[0].version.as_deref(), Some("1.0"));
    assert_eq!(
        d.os_version_constraints()
            .iter()
            .map(|c| (c.op, c.version.as_str()))
            .collect::<Vec<_>>(),
        [(CompareOp::Ge, "10.4.11"), (CompareOp::Lt, "10.6")]
    );
    assert!(d.version_checks.is_empty());
    assert!(d.auxinfo.is_none());
}

#[test]
fn fallbacks_without_strings() {
    let d = Distribution::parse(
        b"<installer-gui-script><choice id='x' title='T' description='&lt;b&gt;D&lt;/b&gt;'/></installer-gui-script>",
    )
    .unwrap();
    assert_eq!(d.title(), Some("T"));
    assert_eq!(d.version(), None);
    assert_eq!(d.description_text(10).as_deref(), Some("D"));
    assert!(d.strings().is_none());
    let d = Distribution::parse(b"<installer-gui-script/>").unwrap();
    assert_eq!(
        (d.title(), d.version(), d.description_html()),
        (None, None, None)
    );
}

fn kind(doc: &[u8]) -> DistributionErrorKind {
    Distribution::parse(doc).unwrap_err().kind()
}

#[test]
fn error_paths() {
    use DistributionErrorKind as K;
    assert_eq!(kind(b""), K::UnexpectedEof);
    assert_eq!(kind(b"not xml at all"), K::Malformed);
    assert_eq!(kind(b"<plist><dict/></plist>"), K::NotADistribution);
    assert_eq!(
        kind(b"<installer-gui-script><title>x</title>"),
        K::UnexpectedEof
    );
    assert_eq!(kind(b"<installer-gui-script><title"), K::UnexpectedEof);
    assert_eq!(
        kind(b"<installer-gui-script></installer-script>"),
        K::Malformed
    );
    assert_eq!(
        kind(b"<installer-gui-script/><installer-gui-script/>"),
        K::Malformed
    );
    assert_eq!(kind(b"<installer-gui-script/>text"), K::Malformed);
    assert_eq!(
        kind(b"<installer-gui-script>\xff</installer-gui-script>"),
        K::NotUtf8
    );
    assert_eq!(
        kind(b"<installer-gui-script><title>&nbsp;</title></installer-gui-script>"),
        K::UndefinedEntity
    );
    assert_eq!(
        kind(b"<installer-gui-script><choice title='&foo;'/></installer-gui-script>"),
        K::UndefinedEntity
    );
    assert_eq!(
        kind(b"<installer-gui-script><auxinfo><dict><key>a</key></dict></auxinfo></installer-gui-script>"),
        K::AuxInfo(pippin_plist::ErrorKind::Malformed)
    );
    assert_eq!(
        kind(b"<installer-gui-script><auxinfo><array/></auxinfo></installer-gui-script>"),
        K::AuxInfo(pippin_plist::ErrorKind::Malformed)
    );
}

#[test]
fn doctype_is_refused() {
    let xxe = br#"<?xml version="1.0"?>
<!DOCTYPE installer-gui-script [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<installer-gui-script><title>&xxe;</title></installer-gui-script>"#;
    let e = Distribution::parse(xxe).unwrap_err();
    assert_eq!(e.kind(), DistributionErrorKind::DocType);
    assert!(e.offset() > 20 && e.offset() < 100, "{e}");
    assert_eq!(
        kind(b"<!DOCTYPE x><installer-gui-script/>"),
        DistributionErrorKind::DocType
    );
    // The billion-laughs shape never gets as far as an entity.
    let laughs = br#"<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]>
<installer-gui-script><title>&lol2;</title></installer-gui-script>"#;
    assert_eq!(kind(laughs), DistributionErrorKind::DocType);
}

#[test]
fn unterminated_strings_block() {
    let doc = "<installer-gui-script><localization><strings language=\"English\">\"SU_TITLE\" = \"Safari\";\n\"SU_DESCRIPTION\" = '<p>never closed</strings></localization></installer-gui-script>";
    let doc = doc.replace("<p>", "&lt;p&gt;");
    let e = Distribution::parse(doc.as_bytes()).unwrap_err();
    assert_eq!(
        e.kind(),
        DistributionErrorKind::Strings(StringsErrorKind::UnterminatedString)
    );
    let table = doc.find("\"SU_TITLE\"").unwrap();
    assert!(e.offset() > table, "{e}");
}

#[test]
fn limits() {
    let mut deep = String::from("<installer-gui-script>");
    deep.push_str(&"<a>".repeat(100));
    deep.push_str(&"</a>".repeat(100));
    deep.push_str("</installer-gui-script>");
    assert_eq!(kind(deep.as_bytes()), DistributionErrorKind::TooDeep);

    let mut many = String::from("<installer-gui-script>");
    many.push_str(&"<a/>".repeat(60_000));
    many.push_str("</installer-gui-script>");
    assert_eq!(kind(many.as_bytes()), DistributionErrorKind::TooMany);

    let attrs: String = (0..100).map(|i| format!(" a{i}='x'")).collect();
    let doc = format!("<installer-gui-script><choice{attrs}/></installer-gui-script>");
    assert_eq!(kind(doc.as_bytes()), DistributionErrorKind::TooMany);

    let mut small = DistributionLimits::default();
    small.max_input_len(100);
    let e = Distribution::parse_with(SAFARI.as_bytes(), &small).unwrap_err();
    assert_eq!(e.kind(), DistributionErrorKind::TooLarge);
    let mut shallow = DistributionLimits::default();
    shallow.max_depth(2).max_elements(10).max_attributes(3);
    let e = Distribution::parse_with(SAFARI.as_bytes(), &shallow).unwrap_err();
    assert!(matches!(
        e.kind(),
        DistributionErrorKind::TooDeep | DistributionErrorKind::TooMany
    ));
}

#[test]
fn byte_order_mark_and_offsets() {
    let mut doc = b"\xEF\xBB\xBF".to_vec();
    doc.extend_from_slice(SAFARI.as_bytes());
    let d = Distribution::parse(&doc).unwrap();
    assert_eq!(d.title(), Some("Safari"));
    let bad = b"\xEF\xBB\xBF<installer-gui-script><title>&bad;</title></installer-gui-script>";
    let e = Distribution::parse(bad).unwrap_err();
    assert_eq!(e.kind(), DistributionErrorKind::UndefinedEntity);
    assert!(e.offset() >= 32 && e.offset() <= bad.len(), "{e}");
}

proptest! {
    #[test]
    fn never_panics_on_arbitrary_bytes(data in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = Distribution::parse(&data);
    }

    #[test]
    fn never_panics_on_damaged_distributions(cut in 0usize..SAFARI.len(), at in 0usize..SAFARI.len(), byte in prop::sample::select(b"<>&;'\"/!?[]-= \\x".to_vec())) {
        let mut data = SAFARI.as_bytes()[..cut].to_vec();
        if at < data.len() {
            data[at] = byte;
        }
        if let Ok(d) = Distribution::parse(&data) {
            let _ = (d.title(), d.version(), d.description_text(50), d.os_version_constraints());
        }
    }
}

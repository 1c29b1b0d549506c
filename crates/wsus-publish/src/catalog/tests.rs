use std::io::Write;

use proptest::prelude::*;

use super::*;

/// A catalog in the shape Apple publishes: one product with everything,
/// one macOS installer with `ExtendedMetaInfo`, and three broken ones.
const SMALL: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
	<key>ApplePostURL</key>
	<string>http://swpost.apple.com/stats</string>
	<key>CatalogVersion</key>
	<integer>2</integer>
	<key>IndexDate</key>
	<date>2024-05-13T17:42:18Z</date>
	<key>_Sample</key>
	<string>kept</string>
	<key>Products</key>
	<dict>
		<key>061-26589</key>
		<dict>
			<key>Distributions</key>
			<dict>
				<key>French</key>
				<string>https://swdist.apple.com/content/downloads/01/23/061-26589/abc/061-26589.French.dist</string>
				<key>English</key>
				<string>https://swdist.apple.com/content/downloads/01/23/061-26589/abc/061-26589.English.dist</string>
			</dict>
			<key>Packages</key>
			<array>
				<dict>
					<key>Digest</key>
					<string>0123456789ABCDEF0123456789abcdef01234567</string>
					<key>MetadataURL</key>
					<string>https://swdist.apple.com/content/downloads/01/23/061-26589/abc/Safari.pkm</string>
					<key>Size</key>
					<integer>110163474</integer>
					<key>URL</key>
					<string>https://swcdn.apple.com/content/downloads/01/23/061-26589/abc/Safari.pkg</string>
					<key>IntegrityDataURL</key>
					<string>https://swcdn.apple.com/content/downloads/01/23/061-26589/abc/Safari.pkg.integrityDataV1</string>
					<key>IntegrityDataSize</key>
					<integer>1032</integer>
				</dict>
			</array>
			<key>PostDate</key>
			<date>2021-04-26T17:06:47Z</date>
			<key>ServerMetadataURL</key>
			<string>https://swcdn.apple.com/content/downloads/01/23/061-26589/abc/Safari.smd</string>
			<key>State</key>
			<string>ramped</string>
			<key>DeferredSUEnablementDate</key>
			<date>2021-05-26T17:06:47Z</date>
			<key>NewKey</key>
			<integer>7</integer>
		</dict>
		<key>071-29172</key>
		<dict>
			<key>ExtendedMetaInfo</key>
			<dict>
				<key>InstallAssistantPackageIdentifiers</key>
				<dict>
					<key>OSInstall</key>
					<string>com.apple.mpkg.OSInstall</string>
					<key>SharedSupport</key>
					<string>com.apple.pkg.InstallAssistant.macOSSonoma</string>
				</dict>
				<key>ProductType</key>
				<string>macOS</string>
				<key>ProductVersion</key>
				<string>14.5</string>
				<key>AutoUpdate</key>
				<string>YES</string>
			</dict>
			<key>Distributions</key>
			<dict>
				<key>fr</key>
				<string>https://swdist.apple.com/071-29172.fr.dist</string>
				<key>en</key>
				<string>https://swdist.apple.com/071-29172.en.dist</string>
			</dict>
			<key>Packages</key>
			<array>
				<dict>
					<key>Size</key>
					<integer>13352214016</integer>
					<key>URL</key>
					<string>https://swcdn.apple.com/InstallAssistant.pkg</string>
					<key>Digest</key>
					<string>not-a-digest</string>
				</dict>
			</array>
			<key>PostDate</key>
			<date>2024-05-13T17:00:00Z</date>
		</dict>
		<key>001-00001</key>
		<dict>
			<key>Distributions</key>
			<dict/>
			<key>Packages</key>
			<array/>
		</dict>
		<key>001-00002</key>
		<string>not a product</string>
		<key>001-00003</key>
		<dict>
			<key>Distributions</key>
			<dict/>
			<key>Packages</key>
			<array><dict><key>URL</key><string>https://x/y.pkg</string></dict></array>
			<key>PostDate</key>
			<date>2024-05-13T17:00:00Z</date>
		</dict>
	</dict>
</dict>
</plist>
"#;

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

#[test]
fn reads_a_small_catalog() {
    let c = Catalog::parse(SMALL.as_bytes()).unwrap();
    assert_eq!(c.version, Some(2));
    assert_eq!(
        c.apple_post_url.as_deref(),
        Some("http://swpost.apple.com/stats")
    );
    assert_eq!(
        c.index_date,
        Some(time::macros::datetime!(2024-05-13 17:42:18 UTC))
    );
    assert_eq!(c.extra.get("_Sample").and_then(Value::as_str), Some("kept"));
    assert_eq!(
        c.products.keys().collect::<Vec<_>>(),
        ["061-26589", "071-29172"]
    );

    let safari = &c.products["061-26589"];
    assert_eq!(
        safari.post_date,
        time::macros::datetime!(2021-04-26 17:06:47 UTC)
    );
    assert_eq!(safari.state.as_deref(), Some("ramped"));
    assert_eq!(
        safari.deferred_su_enablement_date,
        Some(time::macros::datetime!(2021-05-26 17:06:47 UTC))
    );
    assert!(
        safari
            .server_metadata_url
            .as_deref()
            .unwrap()
            .ends_with(".smd")
    );
    assert_eq!(safari.extra.get("NewKey").and_then(Value::as_i64), Some(7));
    let pkg = &safari.packages[0];
    assert_eq!(pkg.size, 110_163_474);
    assert_eq!(
        pkg.digest_hex().as_deref(),
        Some("0123456789abcdef0123456789abcdef01234567")
    );
    assert!(pkg.metadata_url.as_deref().unwrap().ends_with("Safari.pkm"));
    assert!(pkg.integrity_data_url.is_some());
    assert_eq!(pkg.integrity_data_size, Some(1032));
    assert_eq!(safari.total_size(), 110_163_474);
    assert_eq!(
        safari.preferred_distribution("English").unwrap().0,
        "English"
    );
    assert_eq!(safari.preferred_distribution("fr").unwrap().0, "French");
    assert_eq!(safari.preferred_distribution("ja").unwrap().0, "English");

    let macos = &c.products["071-29172"];
    let emi = macos.extended_meta_info.as_ref().unwrap();
    assert_eq!(emi.product_type.as_deref(), Some("macOS"));
    assert_eq!(emi.product_version.as_deref(), Some("14.5"));
    assert_eq!(emi.auto_update, Some(true));
    assert_eq!(
        emi.install_assistant_package_identifiers["SharedSupport"],
        "com.apple.pkg.InstallAssistant.macOSSonoma"
    );
    assert_eq!(emi.raw.len(), 4);
    assert_eq!(macos.packages[0].size, 13_352_214_016);
    assert_eq!(macos.packages[0].digest, None);
    assert_eq!(macos.preferred_distribution("English").unwrap().0, "en");
    assert_eq!(macos.preferred_distribution("de").unwrap().0, "en");

    let w: Vec<_> = c
        .warnings
        .iter()
        .map(|w| (w.product.as_str(), w.field, w.problem, w.action))
        .collect();
    assert_eq!(
        w,
        [
            (
                "071-29172",
                "Digest",
                Problem::Invalid,
                Action::DroppedField
            ),
            (
                "001-00001",
                "PostDate",
                Problem::Missing,
                Action::SkippedProduct
            ),
            ("001-00002", "", Problem::WrongType, Action::SkippedProduct),
            (
                "001-00003",
                "Size",
                Problem::Missing,
                Action::SkippedProduct
            ),
        ]
    );
    assert_eq!(
        c.warnings[1].to_string(),
        "product 001-00001: PostDate missing, product skipped"
    );
}

#[test]
fn gzip_gives_the_same_catalog() {
    let plain = Catalog::parse(SMALL.as_bytes()).unwrap();
    let zipped = Catalog::parse(&gzip(SMALL.as_bytes())).unwrap();
    assert_eq!(plain, zipped);
}

#[test]
fn not_a_plist() {
    let e = Catalog::parse(b"<html><body>503 Service Unavailable</body></html>").unwrap_err();
    assert!(matches!(e.kind(), CatalogErrorKind::Plist(_)), "{e}");
    let e = Catalog::parse(b"").unwrap_err();
    assert!(matches!(e.kind(), CatalogErrorKind::Plist(_)), "{e}");
}

#[test]
fn root_not_a_dictionary() {
    let e = Catalog::parse(b"<plist><array><string>x</string></array></plist>").unwrap_err();
    assert_eq!(e.kind(), CatalogErrorKind::RootNotDictionary);
    let e = Catalog::parse(b"<plist><dict><key>Products</key><array/></dict></plist>").unwrap_err();
    assert_eq!(e.kind(), CatalogErrorKind::NoProducts);
    let e = Catalog::parse(b"<plist><dict/></plist>").unwrap_err();
    assert_eq!(e.kind(), CatalogErrorKind::NoProducts);
}

#[test]
fn truncated_plist_is_incomplete() {
    let e = Catalog::parse(&SMALL.as_bytes()[..SMALL.len() / 2]).unwrap_err();
    assert!(e.is_incomplete(), "{e}");
}

#[test]
fn gzip_bomb_is_refused() {
    // 64 MiB of zeros compress to about 64 KiB.
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; 1024 * 1024];
    for _ in 0..64 {
        enc.write_all(&zeros).unwrap();
    }
    let bomb = enc.finish().unwrap();
    assert!(bomb.len() < 1024 * 1024);
    let mut limits = CatalogLimits::default();
    limits.max_xml_len(4 * 1024 * 1024);
    let e = Catalog::parse_with(&bomb, &limits).unwrap_err();
    assert_eq!(e.kind(), CatalogErrorKind::DecompressedTooLarge);
    assert!(e.offset() <= bomb.len());
    assert!(!e.is_incomplete());
}

#[test]
fn input_over_the_limit_is_refused() {
    let mut limits = CatalogLimits::default();
    limits.max_input_len(100);
    let e = Catalog::parse_with(SMALL.as_bytes(), &limits).unwrap_err();
    assert_eq!(e.kind(), CatalogErrorKind::InputTooLarge);
    let mut limits = CatalogLimits::default();
    limits.max_xml_len(100);
    let e = Catalog::parse_with(SMALL.as_bytes(), &limits).unwrap_err();
    assert_eq!(e.kind(), CatalogErrorKind::InputTooLarge);
}

#[test]
fn truncated_gzip() {
    let z = gzip(SMALL.as_bytes());
    for cut in [3, 10, z.len() / 2, z.len() - 4, z.len() - 1] {
        let e = Catalog::parse(&z[..cut]).unwrap_err();
        assert!(
            matches!(
                e.kind(),
                CatalogErrorKind::TruncatedGzip | CatalogErrorKind::InvalidGzip
            ),
            "cut at {cut}: {e}"
        );
        assert!(e.offset() <= cut);
    }
    let e = Catalog::parse(&z[..z.len() / 2]).unwrap_err();
    assert_eq!(e.kind(), CatalogErrorKind::TruncatedGzip);
    assert!(e.is_incomplete());
}

#[test]
fn corrupt_gzip() {
    let mut z = gzip(SMALL.as_bytes());
    // The CRC-32 in the trailer no longer matches.
    let n = z.len();
    z[n - 8] ^= 0xff;
    let e = Catalog::parse(&z).unwrap_err();
    assert_eq!(e.kind(), CatalogErrorKind::InvalidGzip);
}

#[test]
fn deep_nesting_is_refused() {
    let mut doc = String::from("<plist><dict><key>Products</key><dict><key>x</key>");
    doc.push_str(&"<array>".repeat(100));
    doc.push_str(&"</array>".repeat(100));
    doc.push_str("</dict></dict></plist>");
    let e = Catalog::parse(doc.as_bytes()).unwrap_err();
    assert_eq!(
        e.kind(),
        CatalogErrorKind::Plist(pippin_plist::ErrorKind::TooDeep)
    );
}

#[test]
fn too_many_products() {
    let mut limits = CatalogLimits::default();
    limits.max_products(1);
    let e = Catalog::parse_with(SMALL.as_bytes(), &limits).unwrap_err();
    assert_eq!(e.kind(), CatalogErrorKind::TooManyProducts);
}

#[test]
fn entities_in_a_doctype_are_not_expanded() {
    let doc = br#"<?xml version="1.0"?>
<!DOCTYPE plist [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<plist><dict><key>Products</key><dict/><key>ApplePostURL</key><string>&xxe;</string></dict></plist>"#;
    let e = Catalog::parse(doc).unwrap_err();
    assert_eq!(
        e.kind(),
        CatalogErrorKind::Plist(pippin_plist::ErrorKind::UndefinedEntity)
    );
}

#[test]
fn merging_keeps_the_union() {
    let a = Catalog::parse(SMALL.as_bytes()).unwrap();
    let mut b = a.clone();
    {
        let p = b.products.get_mut("061-26589").unwrap();
        p.distributions
            .insert("Japanese".into(), "https://e/ja.dist".into());
        p.packages[0].digest = None;
        p.packages.push(Package {
            url: "https://e/extra.pkg".into(),
            size: 5,
            digest: None,
            metadata_url: None,
            integrity_data_url: None,
            integrity_data_size: None,
            extra: Dictionary::new(),
        });
        p.post_date += time::Duration::days(1);
        p.state = None;
    }
    b.products.shift_remove("071-29172");
    let later = b.products["061-26589"].post_date;
    let m = merge([("a", a), ("b", b)]);
    assert_eq!(m.sources, ["a", "b"]);
    assert_eq!(m.products.len(), 2);
    let p = &m.products["061-26589"];
    assert_eq!(p.listed_in, [0, 1]);
    assert_eq!(m.sources_of(p).collect::<Vec<_>>(), ["a", "b"]);
    assert_eq!(p.product.distributions.len(), 3);
    assert_eq!(p.product.packages.len(), 2);
    assert!(p.product.packages[0].digest.is_some());
    assert_eq!(p.product.post_date, later);
    assert_eq!(p.product.state.as_deref(), Some("ramped"));
    assert_eq!(m.products["071-29172"].listed_in, [0]);
    assert_eq!(m.warnings.len(), 8);
}

#[test]
fn merging_extended_meta_info_adds_keys() {
    let mut a = Catalog::parse(SMALL.as_bytes()).unwrap();
    let mut b = a.clone();
    a.products
        .get_mut("071-29172")
        .unwrap()
        .extended_meta_info
        .as_mut()
        .unwrap()
        .raw
        .remove("ProductVersion");
    let emi = b
        .products
        .get_mut("071-29172")
        .unwrap()
        .extended_meta_info
        .as_mut()
        .unwrap();
    emi.raw.insert("ProductVersion", "14.5");
    let m = merge([("a", a), ("b", b)]);
    let emi = m.products["071-29172"]
        .product
        .extended_meta_info
        .as_ref()
        .unwrap();
    assert_eq!(emi.product_version.as_deref(), Some("14.5"));
}

#[test]
fn sha1_hex() {
    assert_eq!(parse_sha1_hex(&"ab".repeat(20)), Some([0xab; 20]));
    assert_eq!(parse_sha1_hex(&" AB".repeat(20)), None);
    assert_eq!(parse_sha1_hex(&"ab".repeat(19)), None);
    assert_eq!(parse_sha1_hex(&"ag".repeat(20)), None);
}

proptest! {
    #[test]
    fn never_panics_on_arbitrary_bytes(data in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = Catalog::parse(&data);
    }

    #[test]
    fn never_panics_on_damaged_catalogs(cut in 0usize..SMALL.len(), flip in 0usize..SMALL.len(), byte: u8) {
        let mut data = SMALL.as_bytes()[..cut].to_vec();
        if flip < data.len() {
            data[flip] = byte;
        }
        let _ = Catalog::parse(&data);
        let _ = Catalog::parse(&gzip(&data));
    }

    #[test]
    fn never_panics_on_damaged_gzip(flip in 0usize..2048, byte: u8) {
        let mut z = gzip(SMALL.as_bytes());
        let n = z.len();
        z[flip % n] = byte;
        let _ = Catalog::parse(&z);
    }
}

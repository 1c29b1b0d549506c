use std::fs;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use x509_cert::ext::pkix::{BasicConstraints, ExtendedKeyUsage};

use super::*;

const DAY: Duration = Duration::from_secs(86_400);

fn parse(der: &[u8]) -> Certificate {
    Certificate::from_der(der).unwrap()
}

fn san_names(der: &[u8]) -> Vec<SubjectName> {
    let cert = parse(der);
    let (_, san) = cert
        .tbs_certificate()
        .get_extension::<SubjectAltName>()
        .unwrap()
        .unwrap();
    san.0
        .into_iter()
        .map(|n| match n {
            GeneralName::DnsName(d) => SubjectName::Dns(d.to_string()),
            GeneralName::IpAddress(o) => SubjectName::Ip(match o.as_bytes().len() {
                4 => IpAddr::from(<[u8; 4]>::try_from(o.as_bytes()).unwrap()),
                _ => IpAddr::from(<[u8; 16]>::try_from(o.as_bytes()).unwrap()),
            }),
            other => panic!("unexpected SAN {other:?}"),
        })
        .collect()
}

fn validity_days(der: &[u8], now: SystemTime) -> (i64, i64) {
    let cert = parse(der);
    let v = cert.tbs_certificate().validity();
    let secs = |t: SystemTime| match t.duration_since(now) {
        Ok(d) => d.as_secs() as i64,
        Err(e) => -(e.duration().as_secs() as i64),
    };
    (
        secs(v.not_before.to_system_time()),
        secs(v.not_after.to_system_time()) / 86_400,
    )
}

fn now() -> SystemTime {
    // Whole seconds: certificate times carry no fractions.
    let secs = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
}

#[test]
fn ca_is_a_ten_year_path_length_zero_ca() {
    let now = now();
    let ca = generate_ca("Pippin Test CA", now).unwrap();
    let cert = parse(&ca.cert_der);
    let tbs = cert.tbs_certificate();
    assert_eq!(tbs.subject(), tbs.issuer());
    assert_eq!(tbs.subject().to_string(), "CN=Pippin Test CA,O=Pippin");
    let (_, bc) = tbs.get_extension::<BasicConstraints>().unwrap().unwrap();
    assert!(bc.ca);
    assert_eq!(bc.path_len_constraint, Some(0));
    assert_eq!(validity_days(&ca.cert_der, now), (-3600, 3650));
    assert_eq!(
        pem_to_ders(&ca.cert_pem).unwrap(),
        vec![ca.cert_der.clone()]
    );
    assert!(keys_match(&ca.cert_der, ca.key_pem.expose()));
    assert_eq!(format!("{ca:?}").matches("PRIVATE KEY").count(), 0);
}

#[test]
fn server_cert_has_every_name_and_server_auth() {
    let now = now();
    let ca = generate_ca("Pippin Test CA", now).unwrap();
    let names = vec![
        "MDM.Example.test".to_owned(),
        "192.0.2.7".to_owned(),
        "[::1]".to_owned(),
        "localhost".to_owned(),
    ];
    let leaf = issue_server_cert(&ca, &names, &[IpAddr::V4(Ipv4Addr::LOCALHOST)], now).unwrap();
    assert_eq!(
        san_names(&leaf.cert_der),
        [
            SubjectName::Dns("mdm.example.test".to_owned()),
            SubjectName::Ip(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7))),
            SubjectName::Ip(IpAddr::V6(Ipv6Addr::LOCALHOST)),
            SubjectName::Dns("localhost".to_owned()),
            SubjectName::Ip(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        ]
    );
    let cert = parse(&leaf.cert_der);
    let tbs = cert.tbs_certificate();
    assert_eq!(
        subject_der(&ca.cert_der),
        der::Encode::to_der(tbs.issuer()).unwrap()
    );
    let (_, eku) = tbs.get_extension::<ExtendedKeyUsage>().unwrap().unwrap();
    assert_eq!(eku.0, [const_oid::db::rfc5280::ID_KP_SERVER_AUTH]);
    let (_, bc) = tbs.get_extension::<BasicConstraints>().unwrap().unwrap();
    assert!(!bc.ca);
    assert_eq!(validity_days(&leaf.cert_der, now), (-3600, 730));
    for name in [
        "mdm.example.test",
        "192.0.2.7",
        "::1",
        "localhost",
        "127.0.0.1",
    ] {
        let name = SubjectName::parse(name).unwrap();
        assert!(verifies_against(&leaf, &ca, &name, now), "{name}");
    }
    assert!(!verifies_against(
        &leaf,
        &ca,
        &SubjectName::parse("other.example.test").unwrap(),
        now
    ));
    // Another CA's certificate does not verify.
    let other = generate_ca("Other", now).unwrap();
    let name = SubjectName::parse("localhost").unwrap();
    assert!(!verifies_against(&leaf, &other, &name, now));
    // Serial numbers are random.
    let again = issue_server_cert(&ca, &names, &[], now).unwrap();
    assert_ne!(
        parse(&again.cert_der).tbs_certificate().serial_number(),
        tbs.serial_number()
    );
}

#[test]
fn client_cert_has_client_auth() {
    let now = now();
    let ca = generate_ca("Pippin Test CA", now).unwrap();
    let leaf = issue_client_cert(&ca, "cm-proxy", now).unwrap();
    let cert = parse(&leaf.cert_der);
    let (_, eku) = cert
        .tbs_certificate()
        .get_extension::<ExtendedKeyUsage>()
        .unwrap()
        .unwrap();
    assert_eq!(eku.0, [const_oid::db::rfc5280::ID_KP_CLIENT_AUTH]);
    assert_eq!(cert.tbs_certificate().subject().to_string(), "CN=cm-proxy");
}

#[test]
fn bad_names_are_refused() {
    let now = now();
    let ca = generate_ca("CA", now).unwrap();
    assert!(generate_ca(" ", now).is_err());
    assert!(issue_server_cert(&ca, &[], &[], now).is_err());
    for bad in [
        "",
        "a b",
        "host/path",
        "ex ample.test",
        "h\u{e9}.test",
        "a..b",
        ".a",
        "*",
        "a.*.b",
        "a*.b",
    ] {
        assert!(
            issue_server_cert(&ca, &[bad.to_owned()], &[], now).is_err(),
            "{bad:?}"
        );
    }
    assert!(issue_client_cert(&ca, "", now).is_err());
    let wild = issue_server_cert(&ca, &["*.Example.test.".to_owned()], &[], now).unwrap();
    assert_eq!(
        san_names(&wild.cert_der),
        [SubjectName::Dns("*.example.test".to_owned())]
    );
}

#[test]
fn openssl_verifies_what_we_issue() {
    if !test_support::require_peer("openssl_verifies_what_we_issue", &["openssl", "version"]) {
        return;
    }
    let now = now();
    let dir = test_support::tempdir();
    let ca = generate_ca("Pippin Test CA", now).unwrap();
    let leaf = issue_server_cert(
        &ca,
        &["mdm.example.test".to_owned(), "10.1.2.3".to_owned()],
        &[],
        now,
    )
    .unwrap();
    let ca_path = dir.path().join("ca.pem");
    let leaf_path = dir.path().join("leaf.pem");
    fs::write(&ca_path, &ca.cert_pem).unwrap();
    fs::write(&leaf_path, &leaf.cert_pem).unwrap();
    let ca_arg = ca_path.to_str().unwrap();
    let leaf_arg = leaf_path.to_str().unwrap();
    let out = test_support::run_ok(
        &[
            "openssl",
            "verify",
            "-CAfile",
            ca_arg,
            "-purpose",
            "sslserver",
            "-verify_hostname",
            "mdm.example.test",
            leaf_arg,
        ],
        b"",
    );
    assert!(String::from_utf8_lossy(&out).contains(": OK"));
    let out = test_support::run(
        &[
            "openssl",
            "verify",
            "-CAfile",
            ca_arg,
            "-verify_ip",
            "10.1.2.4",
            leaf_arg,
        ],
        b"",
    );
    assert!(!out.status.success());
    let text = String::from_utf8(test_support::run_ok(
        &["openssl", "x509", "-noout", "-text", "-in", leaf_arg],
        b"",
    ))
    .unwrap();
    assert!(
        text.contains("DNS:mdm.example.test, IP Address:10.1.2.3"),
        "{text}"
    );
    assert!(text.contains("TLS Web Server Authentication"), "{text}");
    assert!(text.contains("CA:FALSE"), "{text}");
    assert!(text.contains("prime256v1"), "{text}");
}

#[test]
fn issues_from_a_ca_made_by_openssl() {
    if !test_support::require_peer("issues_from_a_ca_made_by_openssl", &["openssl", "version"]) {
        return;
    }
    let dir = test_support::tempdir();
    let key_path = dir.path().join("ca.key");
    let ca_path = dir.path().join("ca.pem");
    // C is a PrintableString, O and CN UTF8Strings: the issuer name must be
    // reproduced byte for byte.
    test_support::run_ok(
        &[
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "30",
            "-subj",
            "/C=US/O=Example Org/CN=External CA",
            "-keyout",
            key_path.to_str().unwrap(),
            "-out",
            ca_path.to_str().unwrap(),
        ],
        b"",
    );
    let ca = load_ca(&ca_path, &key_path).unwrap();
    let leaf = issue_server_cert(&ca, &["host.example.test".to_owned()], &[], now()).unwrap();
    let leaf_path = dir.path().join("leaf.pem");
    fs::write(&leaf_path, &leaf.cert_pem).unwrap();
    test_support::run_ok(
        &[
            "openssl",
            "verify",
            "-CAfile",
            ca_path.to_str().unwrap(),
            "-verify_hostname",
            "host.example.test",
            leaf_path.to_str().unwrap(),
        ],
        b"",
    );
    assert_eq!(
        subject_der(&ca.cert_der),
        der::Encode::to_der(parse(&leaf.cert_der).tbs_certificate().issuer()).unwrap()
    );
    // The authority key identifier is the CA's subject key identifier.
    let text = String::from_utf8(test_support::run_ok(
        &[
            "openssl",
            "x509",
            "-noout",
            "-text",
            "-in",
            ca_path.to_str().unwrap(),
        ],
        b"",
    ))
    .unwrap();
    let ski = text
        .split("X509v3 Subject Key Identifier:")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned();
    let leaf_text = String::from_utf8(test_support::run_ok(
        &[
            "openssl",
            "x509",
            "-noout",
            "-text",
            "-in",
            leaf_path.to_str().unwrap(),
        ],
        b"",
    ))
    .unwrap();
    assert!(leaf_text.contains(&ski), "{ski} not in {leaf_text}");
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn pki_is_created_then_reloaded() {
    let now = now();
    let dir = test_support::tempdir();
    let data = dir.path().join("data");
    let first =
        load_or_create_pki(&data, "mdm.example.test", &["127.0.0.1".to_owned()], now).unwrap();
    assert!(first.ca_created && first.server_issued);
    assert_eq!(first.server_names, ["mdm.example.test", "127.0.0.1"]);
    for f in [Pki::CA_CERT, Pki::CA_KEY, Pki::SERVER_CERT, Pki::SERVER_KEY] {
        assert!(data.join(f).is_file(), "{f}");
    }
    #[cfg(unix)]
    {
        assert_eq!(mode(&data.join(Pki::CA_KEY)), 0o600);
        assert_eq!(mode(&data.join(Pki::SERVER_KEY)), 0o600);
        assert_eq!(mode(&data.join(Pki::CA_CERT)), 0o644);
        assert_eq!(mode(&data.join(Pki::SERVER_CERT)), 0o644);
    }
    assert_eq!(
        fs::read_dir(&data).unwrap().count(),
        4,
        "no temporary files left"
    );
    let ca_cn = parse(&first.ca.cert_der)
        .tbs_certificate()
        .subject()
        .to_string();
    assert_eq!(ca_cn, "CN=Pippin CA (mdm.example.test),O=Pippin");

    let second = load_or_create_pki(
        &data,
        "MDM.example.test",
        &["127.0.0.1".to_owned()],
        now + DAY,
    )
    .unwrap();
    assert!(!second.ca_created && !second.server_issued);
    assert_eq!(second.ca.cert_der, first.ca.cert_der);
    assert_eq!(second.server.cert_der, first.server.cert_der);
    assert_eq!(second.ca.key_pem, first.ca.key_pem);
    assert_eq!(
        second.server_chain_pem(),
        format!("{}{}", first.server.cert_pem, first.ca.cert_pem)
    );

    // The same names in another order are the same set.
    let same = load_or_create_pki(
        &data,
        "127.0.0.1",
        &["mdm.example.test".to_owned()],
        now + DAY,
    )
    .unwrap();
    assert!(!same.server_issued);
}

#[test]
fn pki_reissues_the_server_cert_but_keeps_the_ca() {
    let now = now();
    let dir = test_support::tempdir();
    let first = load_or_create_pki(dir.path(), "mdm.example.test", &[], now).unwrap();

    // A new name.
    let renamed = load_or_create_pki(
        dir.path(),
        "mdm.example.test",
        &["alt.example.test".to_owned()],
        now,
    )
    .unwrap();
    assert!(!renamed.ca_created && renamed.server_issued);
    assert_eq!(renamed.ca.cert_der, first.ca.cert_der);
    assert_ne!(renamed.server.cert_der, first.server.cert_der);
    assert_eq!(
        san_names(&renamed.server.cert_der),
        [
            SubjectName::Dns("mdm.example.test".to_owned()),
            SubjectName::Dns("alt.example.test".to_owned())
        ]
    );
    assert!(verifies_against(
        &renamed.server,
        &first.ca,
        &SubjectName::parse("alt.example.test").unwrap(),
        now
    ));

    // A name removed.
    let fewer = load_or_create_pki(dir.path(), "mdm.example.test", &[], now).unwrap();
    assert!(fewer.server_issued);

    // Near the end of its validity.
    let unchanged =
        load_or_create_pki(dir.path(), "mdm.example.test", &[], now + 699 * DAY).unwrap();
    assert!(!unchanged.server_issued);
    let later = now + 701 * DAY;
    let renewed = load_or_create_pki(dir.path(), "mdm.example.test", &[], later).unwrap();
    assert!(renewed.server_issued);
    assert_eq!(validity_days(&renewed.server.cert_der, later).1, 730);
    assert_eq!(renewed.ca.cert_der, first.ca.cert_der);

    // A damaged server certificate or a key that does not match.
    fs::write(dir.path().join(Pki::SERVER_CERT), "garbage").unwrap();
    assert!(
        load_or_create_pki(dir.path(), "mdm.example.test", &[], later)
            .unwrap()
            .server_issued
    );
    let other =
        issue_server_cert(&renewed.ca, &["mdm.example.test".to_owned()], &[], later).unwrap();
    fs::write(dir.path().join(Pki::SERVER_KEY), other.key_pem.expose()).unwrap();
    let fixed = load_or_create_pki(dir.path(), "mdm.example.test", &[], later).unwrap();
    assert!(fixed.server_issued);
    assert!(keys_match(
        &fixed.server.cert_der,
        fixed.server.key_pem.expose()
    ));

    // A server certificate from another CA.
    let foreign_ca = generate_ca("Foreign", later).unwrap();
    let foreign =
        issue_server_cert(&foreign_ca, &["mdm.example.test".to_owned()], &[], later).unwrap();
    fs::write(dir.path().join(Pki::SERVER_CERT), &foreign.cert_pem).unwrap();
    fs::write(dir.path().join(Pki::SERVER_KEY), foreign.key_pem.expose()).unwrap();
    let back = load_or_create_pki(dir.path(), "mdm.example.test", &[], later).unwrap();
    assert!(back.server_issued);
    assert!(verifies_against(
        &back.server,
        &first.ca,
        &SubjectName::parse("mdm.example.test").unwrap(),
        later
    ));
}

#[test]
fn pki_refuses_a_half_or_mismatched_ca() {
    let now = now();
    let dir = test_support::tempdir();
    load_or_create_pki(dir.path(), "h.test", &[], now).unwrap();
    let key = fs::read(dir.path().join(Pki::CA_KEY)).unwrap();

    fs::remove_file(dir.path().join(Pki::CA_KEY)).unwrap();
    let err = load_or_create_pki(dir.path(), "h.test", &[], now).unwrap_err();
    assert!(
        matches!(&err, Error::BadPki { path, .. } if path.ends_with("ca.key")),
        "{err}"
    );

    let other = generate_ca("Other", now).unwrap();
    fs::write(dir.path().join(Pki::CA_KEY), other.key_pem.expose()).unwrap();
    let err = load_or_create_pki(dir.path(), "h.test", &[], now).unwrap_err();
    assert!(err.to_string().contains("does not belong"), "{err}");

    fs::write(dir.path().join(Pki::CA_KEY), key).unwrap();
    fs::remove_file(dir.path().join(Pki::CA_CERT)).unwrap();
    let err = load_or_create_pki(dir.path(), "h.test", &[], now).unwrap_err();
    assert!(
        matches!(&err, Error::BadPki { path, .. } if path.ends_with("ca.pem")),
        "{err}"
    );

    assert!(matches!(
        load_or_create_pki(dir.path(), "bad host", &[], now),
        Err(Error::InvalidName { .. })
    ));
}

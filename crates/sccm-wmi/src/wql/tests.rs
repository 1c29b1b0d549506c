use super::*;

fn kind(text: &str) -> WqlErrorKind {
    parse(text).unwrap_err().kind
}

#[test]
fn parses_and_displays_canonically() {
    let q = parse(
        "select distinct SMS_R_System.Name, ResourceId from SMS_R_System \
         left join SMS_G_System_OPERATING_SYSTEM on SMS_G_System_OPERATING_SYSTEM.ResourceID = SMS_R_System.ResourceId \
         where (Name like 'MAC%' or Name = \"x\\\"y\") and not Client = 1 and Obsolete != 1",
    )
    .unwrap();
    assert_eq!(
        q.to_string(),
        "SELECT DISTINCT SMS_R_System.Name, ResourceId FROM SMS_R_System \
         LEFT OUTER JOIN SMS_G_System_OPERATING_SYSTEM ON SMS_G_System_OPERATING_SYSTEM.ResourceID = SMS_R_System.ResourceId \
         WHERE (Name LIKE \"MAC%\" OR Name = \"x\\\"y\") AND NOT Client = 1 AND Obsolete <> 1"
    );
    assert_eq!(parse(&q.to_string()).unwrap(), q);
}

#[test]
fn errors_carry_offsets() {
    assert_eq!(
        parse("SELECT * FROM X;").unwrap_err(),
        WqlError::new(WqlErrorKind::UnexpectedChar, 15)
    );
    assert_eq!(
        parse("SELECT * FROM X WHERE a = 'b").unwrap_err(),
        WqlError::new(WqlErrorKind::UnterminatedString, 26)
    );
    assert_eq!(
        parse("SELECT * FROM X WHERE a = 1 b").unwrap_err(),
        WqlError::new(WqlErrorKind::TrailingInput, 28)
    );
    assert_eq!(
        kind("SELECT * FROM Select"),
        WqlErrorKind::InvalidIdentifier
    );
    assert_eq!(
        kind("SELECT * FROM X WHERE 1 = 1"),
        WqlErrorKind::NoProperty
    );
    assert_eq!(
        kind("SELECT * FROM X WHERE a = 'b\\n'"),
        WqlErrorKind::InvalidEscape
    );
    assert_eq!(
        kind("SELECT * FROM X WHERE a = 99999999999999999999"),
        WqlErrorKind::InvalidNumber
    );
    assert_eq!(
        kind("SELECT * FROM X WHERE Foo(a) = 1"),
        WqlErrorKind::UnknownFunction
    );
    assert_eq!(
        kind("SELECT * FROM X WHERE Upper() = 1"),
        WqlErrorKind::UnknownFunction
    );
    assert_eq!(
        kind("SELECT * FROM X WHERE a IN ()"),
        WqlErrorKind::EmptyList
    );
    assert_eq!(kind("SELECT * FROM X WHERE"), WqlErrorKind::UnexpectedEnd);
    assert_eq!(
        kind("SELECT * FROM X WHERE (a = 1"),
        WqlErrorKind::UnexpectedEnd
    );
    assert_eq!(
        kind("SELECT * FROM X WHERE a = 1)"),
        WqlErrorKind::TrailingInput
    );
    assert_eq!(
        kind("SELECT * FROM X WHERE a = \0"),
        WqlErrorKind::ControlChar
    );
    let deep = format!(
        "SELECT * FROM X WHERE {}a = 1{}",
        "(".repeat(40),
        ")".repeat(40)
    );
    assert_eq!(kind(&deep), WqlErrorKind::TooDeep);
    let long = format!(
        "SELECT * FROM X WHERE a = \"{}\"",
        "x".repeat(MAX_QUERY_LEN)
    );
    assert_eq!(kind(&long), WqlErrorKind::TooLong);
}

#[test]
fn reals_keep_their_point() {
    let q = parse("SELECT * FROM X WHERE a = 2.0 AND b = -0.5").unwrap();
    assert_eq!(q.to_string(), "SELECT * FROM X WHERE a = 2.0 AND b = -0.5");
}

#[test]
fn builder_checks_names_and_values() {
    assert_eq!(
        Select::new("SMS_R_System; DROP").build().unwrap_err().kind,
        WqlErrorKind::InvalidIdentifier
    );
    assert!(
        Select::new("X")
            .filter(Condition::eq("a b", 1))
            .build()
            .is_err()
    );
    assert!(
        Select::new("X")
            .filter(Condition::eq("a", f64::NAN))
            .build()
            .is_err()
    );
    assert!(
        Select::new("X")
            .filter(Condition::eq("a", "x\0"))
            .build()
            .is_err()
    );
    assert!(
        Select::new("X")
            .filter(Condition::in_list("a", Vec::<i64>::new()))
            .build()
            .is_err()
    );
    assert_eq!(escape_like("100%_[a]"), "100[%][_][[]a]");
}

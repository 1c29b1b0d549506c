//! WQL: injection attempts, ConfigMgr-shaped query rules, and proptest
//! roundtrips (display then parse gives the query back; builder output
//! parses to what was built).

use proptest::prelude::*;
use sccm_wmi::wql::{
    self, CompareOp, Condition, Function, InSet, Join, JoinKind, Literal, Operand, Projection,
    PropertyRef, Query, Select, WqlErrorKind,
};

fn refused(text: &str) -> WqlErrorKind {
    match wql::parse(text) {
        Ok(q) => panic!("accepted {text:?} as {q}"),
        Err(e) => e.kind,
    }
}

#[test]
fn injection_attempts_are_refused() {
    let base = "SELECT * FROM SMS_R_System WHERE Name = ";
    for (tail, kind) in [
        ("'' OR 1=1'", WqlErrorKind::UnterminatedString),
        ("'x' OR 1=1", WqlErrorKind::NoProperty),
        ("'x' OR '1'='1'", WqlErrorKind::NoProperty),
        (
            "\"x\"; DELETE FROM SMS_R_System",
            WqlErrorKind::UnexpectedChar,
        ),
        ("\"x\" DELETE", WqlErrorKind::TrailingInput),
        ("'a\\' OR 1=1", WqlErrorKind::UnterminatedString),
        ("'x' -- comment", WqlErrorKind::UnexpectedChar),
        ("'x' /* comment */", WqlErrorKind::UnexpectedChar),
        ("'x' // comment", WqlErrorKind::UnexpectedChar),
        ("'x' # comment", WqlErrorKind::UnexpectedChar),
        ("'it's'", WqlErrorKind::UnterminatedString),
        ("\"say \"hi\"\"", WqlErrorKind::TrailingInput),
        ("'x\0'", WqlErrorKind::ControlChar),
        ("'x'\0", WqlErrorKind::ControlChar),
        ("'x\\0'", WqlErrorKind::InvalidEscape),
        ("'x' OR Name = 'y' )", WqlErrorKind::TrailingInput),
        ("('x'", WqlErrorKind::UnexpectedToken),
        (
            "'x' UNION SELECT * FROM SMS_Admin",
            WqlErrorKind::TrailingInput,
        ),
        (
            "'x' OR EXISTS(SELECT * FROM SMS_Admin)",
            WqlErrorKind::UnknownFunction,
        ),
        ("0x41", WqlErrorKind::InvalidNumber),
    ] {
        assert_eq!(refused(&format!("{base}{tail}")), kind, "{tail}");
    }
    for text in [
        "SELECT * FROM SMS_R_System; SELECT * FROM SMS_Admin",
        "DELETE FROM SMS_R_System",
        "SELECT * FROM SMS_R_System WHERE (Name = 'x'",
        "SELECT * FROM SMS_R_System WHERE Name = 'x'))",
        "SELECT * FROM SMS_R_System ORDER BY Name",
        "SELECT * FROM SMS_R_System WHERE Name LIKE Other",
        "SELECT * FROM SMS_R_System WHERE Name = 'x' AND",
        "SELECT Name, FROM SMS_R_System",
        "SELECT * FROM SMS_R_System WHERE Name IS 'x'",
        "SELECT * FROM [SMS_R_System]",
        "SELECT * FROM SMS_R_System WHERE Nâme = 'x'",
        "ASSOCIATORS OF {SMS_R_System.ResourceId=1}",
        "SELECT * FROM SMS_R_System WHERE ResourceId IN (SELECT ResourceId FROM X; DROP)",
    ] {
        assert!(wql::parse(text).is_err(), "{text}");
    }
}

#[test]
fn builder_values_cannot_change_the_shape() {
    for evil in [
        "' OR 1=1 --",
        "\"; DELETE FROM SMS_R_System",
        "\\' OR 1=1",
        "\\\" OR 1=1",
        "x\\",
        "/* */ -- //",
        "'\"'\"\\\\",
        "日本 🍎 %_[",
    ] {
        let q = Select::new("SMS_R_System")
            .filter(Condition::eq("Name", evil))
            .build()
            .unwrap();
        let parsed = wql::parse(&q.to_string()).unwrap();
        assert_eq!(parsed, q, "{evil}");
        let Some(Condition::Compare {
            right: Operand::Literal(Literal::String(s)),
            ..
        }) = parsed.condition
        else {
            panic!("one comparison for {evil}");
        };
        assert_eq!(s, evil);
    }
}

/// Collection query rules as the ConfigMgr console writes them, and as
/// admins type them (lower case, single quotes, extra spaces).
const CONFIGMGR_RULES: &[&str] = &[
    "select SMS_R_SYSTEM.ResourceID,SMS_R_SYSTEM.ResourceType,SMS_R_SYSTEM.Name,SMS_R_SYSTEM.SMSUniqueIdentifier,SMS_R_SYSTEM.ResourceDomainORWorkgroup,SMS_R_SYSTEM.Client from SMS_R_System where SMS_R_System.OperatingSystemNameandVersion like \"%Mac OS%\"",
    "select *  from  SMS_R_System inner join SMS_G_System_COMPUTER_SYSTEM on SMS_G_System_COMPUTER_SYSTEM.ResourceId = SMS_R_System.ResourceId where SMS_G_System_COMPUTER_SYSTEM.Model like '%Mac%'",
    "select SMS_R_System.ResourceId from SMS_R_System inner join SMS_G_System_OPERATING_SYSTEM on SMS_G_System_OPERATING_SYSTEM.ResourceID = SMS_R_System.ResourceId where SMS_G_System_OPERATING_SYSTEM.Caption like \"%macOS%\" and SMS_R_System.Client = 1 and SMS_R_System.Obsolete = 0",
    "select * from SMS_R_System where SMS_R_System.ResourceId not in (select SMS_G_System_ADD_REMOVE_PROGRAMS.ResourceID from SMS_G_System_ADD_REMOVE_PROGRAMS where SMS_G_System_ADD_REMOVE_PROGRAMS.DisplayName like \"Microsoft Office%\")",
    "select * from SMS_R_System where ResourceId in (select ResourceId from SMS_FullCollectionMembership where CollectionID = 'PS100042')",
    "select * from SMS_R_System where SMS_R_System.Name in (\"MAC-0001\", \"MAC-0002\", 'IPAD-0003')",
    "select * from SMS_R_System where SMS_R_System.LastLogonTimestamp < DateAdd(dd, -30, GetDate())",
    "select * from SMS_R_System where DateDiff(dd, SMS_R_System.AgentTime, GetDate()) > 14",
    "select * from SMS_R_System where upper(SMS_R_System.NetbiosName) like 'MAC-%' and SMS_R_System.IPSubnets = '10.0.0.0'",
    "select distinct SMS_R_System.Name from SMS_R_System left join SMS_G_System_PC_BIOS on SMS_G_System_PC_BIOS.ResourceID = SMS_R_System.ResourceId where SMS_G_System_PC_BIOS.SerialNumber is null",
    "select * from SMS_R_System where SMS_R_System.Client is not null and (SMS_R_System.Active = 1 or SMS_R_System.Decommissioned != 0) and not SMS_R_System.Obsolete = 1",
    "select * from SMS_R_User where SMS_R_User.UserGroupName = \"CONTOSO\\\\Mac Users\"",
    "select * from SMS_R_System where SMS_R_System.NetbiosName like \"[A-M]%\" and SMS_R_System.Name not like '%TEST%'",
    "SELECT * FROM SMS_G_System_X86_PC_MEMORY WHERE TotalPhysicalMemory >= 8388608 AND TotalPhysicalMemory <= 33554432.5",
    "select * from SMS_R_System where SMS_R_System.SMSAssignedSites = 'PS1' and SMS_R_System.ResourceDomainORWorkgroup <> 'WORKGROUP'",
    "select * from SMS_R_System where SMS_R_System.ResourceId in (select SMS_G_System_SYSTEM_ENCLOSURE.ResourceID from SMS_G_System_SYSTEM_ENCLOSURE where SMS_G_System_SYSTEM_ENCLOSURE.ChassisTypes in (\"8\", \"9\", \"10\", \"14\"))",
];

#[test]
fn configmgr_rules_parse_and_redisplay() {
    for text in CONFIGMGR_RULES {
        let q = wql::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        let canonical = q.to_string();
        assert_eq!(wql::parse(&canonical).as_ref(), Ok(&q), "{canonical}");
        assert_eq!(wql::parse(&canonical).unwrap().to_string(), canonical);
    }
    let q = wql::parse(CONFIGMGR_RULES[3]).unwrap();
    assert_eq!(
        q.to_string(),
        "SELECT * FROM SMS_R_System WHERE SMS_R_System.ResourceId NOT IN (SELECT SMS_G_System_ADD_REMOVE_PROGRAMS.ResourceID FROM SMS_G_System_ADD_REMOVE_PROGRAMS WHERE SMS_G_System_ADD_REMOVE_PROGRAMS.DisplayName LIKE \"Microsoft Office%\")"
    );
    let q = wql::parse(CONFIGMGR_RULES[6]).unwrap();
    assert_eq!(
        q.to_string(),
        "SELECT * FROM SMS_R_System WHERE SMS_R_System.LastLogonTimestamp < DateAdd(dd, -30, GetDate())"
    );
    let q = wql::parse(CONFIGMGR_RULES[11]).unwrap();
    let Some(Condition::Compare {
        right: Operand::Literal(Literal::String(s)),
        ..
    }) = q.condition
    else {
        panic!("a comparison");
    };
    assert_eq!(s, "CONTOSO\\Mac Users");
}

#[test]
fn builder_matches_parser_for_a_configmgr_rule() {
    let sub = Select::new("SMS_G_System_ADD_REMOVE_PROGRAMS")
        .properties(["SMS_G_System_ADD_REMOVE_PROGRAMS.ResourceID"])
        .filter(Condition::like(
            "SMS_G_System_ADD_REMOVE_PROGRAMS.DisplayName",
            "Microsoft Office%",
        ))
        .build()
        .unwrap();
    let q = Select::new("SMS_R_System")
        .filter(Condition::not_in_select("SMS_R_System.ResourceId", sub))
        .build()
        .unwrap();
    assert_eq!(q, wql::parse(CONFIGMGR_RULES[3]).unwrap());
}

// ---------------------------------------------------------------------------
// Property-based roundtrips.

fn ident() -> impl Strategy<Value = String> {
    "[A-Za-z_][A-Za-z0-9_]{0,10}".prop_filter("not a keyword", |s| wql::check_identifier(s).is_ok())
}

fn property() -> impl Strategy<Value = PropertyRef> {
    (proptest::option::of(ident()), ident()).prop_map(|(class, name)| PropertyRef { class, name })
}

fn literal() -> impl Strategy<Value = Literal> {
    prop_oneof![
        Just(Literal::Null),
        any::<bool>().prop_map(Literal::Bool),
        any::<i64>().prop_map(Literal::Int),
        (proptest::num::f64::NORMAL | proptest::num::f64::ZERO | proptest::num::f64::SUBNORMAL)
            .prop_map(Literal::Real),
        "\\PC{0,12}".prop_map(Literal::String),
    ]
}

fn operand() -> impl Strategy<Value = Operand> {
    let leaf = prop_oneof![
        3 => property().prop_map(Operand::Property),
        1 => literal().prop_map(Operand::Literal),
    ];
    leaf.prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            Just(Operand::Call(Function::GetDate, vec![])),
            inner
                .clone()
                .prop_map(|a| Operand::Call(Function::Upper, vec![a])),
            (property(), inner.clone(), inner).prop_map(|(p, a, b)| Operand::Call(
                Function::DateAdd,
                vec![Operand::Property(p), a, b]
            )),
        ]
    })
}

/// An operand that is not a bare literal.
fn non_literal() -> impl Strategy<Value = Operand> {
    operand().prop_filter("a property or call", |o| !o.is_literal())
}

fn op() -> impl Strategy<Value = CompareOp> {
    prop_oneof![
        Just(CompareOp::Eq),
        Just(CompareOp::Ne),
        Just(CompareOp::Lt),
        Just(CompareOp::Gt),
        Just(CompareOp::Le),
        Just(CompareOp::Ge),
    ]
}

fn simple_query() -> impl Strategy<Value = Query> {
    (
        ident(),
        proptest::collection::vec(property(), 1..3),
        non_literal(),
        literal(),
    )
        .prop_map(|(class, props, left, value)| Query {
            distinct: false,
            projection: Projection::Properties(props),
            class,
            joins: vec![],
            condition: Some(Condition::Compare {
                left,
                op: CompareOp::Eq,
                right: Operand::Literal(value),
            }),
        })
}

fn condition() -> impl Strategy<Value = Condition> {
    let leaf = prop_oneof![
        (non_literal(), op(), operand()).prop_map(|(left, op, right)| Condition::Compare {
            left,
            op,
            right
        }),
        (literal(), op(), non_literal()).prop_map(|(l, op, right)| Condition::Compare {
            left: Operand::Literal(l),
            op,
            right
        }),
        (non_literal(), "\\PC{0,10}", any::<bool>()).prop_map(|(operand, pattern, negated)| {
            Condition::Like {
                operand,
                pattern,
                negated,
            }
        }),
        (non_literal(), any::<bool>())
            .prop_map(|(operand, negated)| Condition::IsNull { operand, negated }),
        (non_literal(), ident()).prop_map(|(operand, class)| Condition::Isa { operand, class }),
        (
            non_literal(),
            any::<bool>(),
            proptest::collection::vec(literal(), 1..4)
        )
            .prop_map(|(operand, negated, l)| Condition::In {
                operand,
                negated,
                set: InSet::List(l)
            }),
        (non_literal(), any::<bool>(), simple_query()).prop_map(|(operand, negated, q)| {
            Condition::In {
                operand,
                negated,
                set: InSet::Select(Box::new(q)),
            }
        }),
    ];
    leaf.prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 2..4).prop_map(Condition::And),
            proptest::collection::vec(inner.clone(), 2..4).prop_map(Condition::Or),
            inner.prop_map(|c| Condition::Not(Box::new(c))),
        ]
    })
}

fn query() -> impl Strategy<Value = Query> {
    let join = (
        prop_oneof![
            Just(JoinKind::Inner),
            Just(JoinKind::LeftOuter),
            Just(JoinKind::RightOuter),
            Just(JoinKind::FullOuter)
        ],
        ident(),
        property(),
        property(),
    )
        .prop_map(|(kind, class, left, right)| Join {
            kind,
            class,
            left,
            right,
        });
    (
        any::<bool>(),
        proptest::option::of(proptest::collection::vec(property(), 1..4)),
        ident(),
        proptest::collection::vec(join, 0..3),
        proptest::option::of(condition()),
    )
        .prop_map(|(distinct, props, class, joins, condition)| Query {
            distinct,
            projection: props.map_or(Projection::All, Projection::Properties),
            class,
            joins,
            condition,
        })
}

proptest! {
    #[test]
    fn display_then_parse_roundtrips(q in query()) {
        prop_assert_eq!(q.check(), Ok(()));
        let text = q.to_string();
        prop_assert_eq!(wql::parse(&text), Ok(q), "{}", text);
    }

    #[test]
    fn builder_output_parses_to_what_was_built(
        class in ident(),
        props in proptest::collection::vec(ident(), 0..4),
        name in ident(),
        value in "\\PC{0,16}",
        n in any::<i64>(),
        pattern in "\\PC{0,8}",
    ) {
        let q = Select::new(class)
            .properties(&props)
            .filter(Condition::eq(&name, value.as_str()).or(Condition::gt(&name, n)))
            .filter(!Condition::like(&name, wql::escape_like(&pattern)))
            .filter(Condition::in_list(&name, [value.as_str(), "x"]))
            .build()
            .unwrap();
        prop_assert_eq!(wql::parse(&q.to_string()), Ok(q));
    }

    #[test]
    fn parse_never_panics_and_its_display_is_a_fixpoint(text in "\\PC{0,80}") {
        if let Ok(q) = wql::parse(&text) {
            let canonical = q.to_string();
            prop_assert_eq!(wql::parse(&canonical), Ok(q));
        }
    }

    #[test]
    fn mutated_rules_never_panic(i in 0..CONFIGMGR_RULES.len(), at in any::<usize>(), byte in any::<u8>()) {
        let mut bytes = CONFIGMGR_RULES[i].as_bytes().to_vec();
        let at = at % bytes.len();
        bytes[at] = byte;
        if let Ok(text) = std::str::from_utf8(&bytes)
            && let Ok(q) = wql::parse(text) {
                prop_assert_eq!(wql::parse(&q.to_string()), Ok(q));
            }
    }
}

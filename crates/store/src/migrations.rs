//! The schema migrations, one list per SQL dialect.
//!
//! A migration is applied once, in its own transaction, and recorded in
//! `schema_migrations`. Both lists have the same versions and names; each
//! version does the same thing in its dialect. Never edit a released
//! migration: add the next one.

/// One schema change.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Migration {
    /// Applied in increasing order; recorded in `schema_migrations`.
    pub(crate) version: i64,
    /// A short name, recorded with the version.
    pub(crate) name: &'static str,
    /// The statements.
    pub(crate) sql: &'static str,
}

/// The migrations of the SQLite schema.
#[cfg(feature = "sqlite")]
pub(crate) const SQLITE: &[Migration] = &[
    Migration {
        version: 1,
        name: "initial",
        sql: include_str!("../migrations/sqlite/0001_initial.sql"),
    },
    Migration {
        version: 2,
        name: "identity_renewals",
        sql: include_str!("../migrations/sqlite/0002_identity_renewals.sql"),
    },
    Migration {
        version: 3,
        name: "dep",
        sql: include_str!("../migrations/sqlite/0003_dep.sql"),
    },
    Migration {
        version: 4,
        name: "push",
        sql: include_str!("../migrations/sqlite/0004_push.sql"),
    },
    Migration {
        version: 5,
        name: "dep_assign",
        sql: include_str!("../migrations/sqlite/0005_dep_assign.sql"),
    },
    Migration {
        version: 6,
        name: "vpp",
        sql: include_str!("../migrations/sqlite/0006_vpp.sql"),
    },
    Migration {
        version: 7,
        name: "sup_publications",
        sql: include_str!("../migrations/sqlite/0007_sup_publications.sql"),
    },
];

/// The migrations of the PostgreSQL schema.
#[cfg(feature = "postgres")]
pub(crate) const POSTGRES: &[Migration] = &[
    Migration {
        version: 1,
        name: "initial",
        sql: include_str!("../migrations/postgres/0001_initial.sql"),
    },
    Migration {
        version: 2,
        name: "identity_renewals",
        sql: include_str!("../migrations/postgres/0002_identity_renewals.sql"),
    },
    Migration {
        version: 3,
        name: "dep",
        sql: include_str!("../migrations/postgres/0003_dep.sql"),
    },
    Migration {
        version: 4,
        name: "push",
        sql: include_str!("../migrations/postgres/0004_push.sql"),
    },
    Migration {
        version: 5,
        name: "dep_assign",
        sql: include_str!("../migrations/postgres/0005_dep_assign.sql"),
    },
    Migration {
        version: 6,
        name: "vpp",
        sql: include_str!("../migrations/postgres/0006_vpp.sql"),
    },
    Migration {
        version: 7,
        name: "sup_publications",
        sql: include_str!("../migrations/postgres/0007_sup_publications.sql"),
    },
];

/// The highest version of a list.
pub(crate) fn latest(list: &[Migration]) -> i64 {
    list.last().map_or(0, |m| m.version)
}

#[cfg(all(test, feature = "sqlite", feature = "postgres"))]
mod tests {
    use super::*;

    #[test]
    fn dialects_agree_and_versions_increase() {
        assert_eq!(SQLITE.len(), POSTGRES.len());
        // Versions increase; a number may be unused (the runners apply
        // every version not yet recorded, wherever it sits).
        let mut previous = 0;
        for (s, p) in SQLITE.iter().zip(POSTGRES) {
            assert!(s.version > previous, "{} after {previous}", s.version);
            previous = s.version;
            assert_eq!(s.version, p.version);
            assert_eq!(s.name, p.name);
            assert!(!s.sql.trim().is_empty() && !p.sql.trim().is_empty());
        }
        assert_eq!(latest(SQLITE), previous);
        assert_eq!(latest(&[]), 0);
    }
}

//! Building queries in code: values are never pasted into text, so they
//! cannot change the query's shape.

use super::WqlError;
use super::ast::{
    CompareOp, Condition, InSet, Join, JoinKind, Literal, Operand, Projection, PropertyRef, Query,
};

/// A `SELECT` under construction. Names are checked by
/// [`build`](Self::build), which returns the [`Query`].
///
/// ```
/// use sccm_wmi::wql::{Condition, Select};
///
/// let q = Select::new("SMS_R_System")
///     .properties(["SMS_R_System.ResourceId", "SMS_R_System.Name"])
///     .inner_join(
///         "SMS_G_System_COMPUTER_SYSTEM",
///         "SMS_G_System_COMPUTER_SYSTEM.ResourceId",
///         "SMS_R_System.ResourceId",
///     )
///     .filter(Condition::like("SMS_G_System_COMPUTER_SYSTEM.Model", "%Mac%"))
///     .filter(Condition::eq("SMS_R_System.Client", 1))
///     .build()?;
/// assert_eq!(
///     q.to_string(),
///     "SELECT SMS_R_System.ResourceId, SMS_R_System.Name FROM SMS_R_System \
///      INNER JOIN SMS_G_System_COMPUTER_SYSTEM ON SMS_G_System_COMPUTER_SYSTEM.ResourceId = SMS_R_System.ResourceId \
///      WHERE SMS_G_System_COMPUTER_SYSTEM.Model LIKE \"%Mac%\" AND SMS_R_System.Client = 1"
/// );
/// # Ok::<(), sccm_wmi::wql::WqlError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Select {
    query: Query,
}

impl Select {
    /// `SELECT * FROM <class>`.
    pub fn new(class: impl Into<String>) -> Self {
        Self {
            query: Query {
                distinct: false,
                projection: Projection::All,
                class: class.into(),
                joins: Vec::new(),
                condition: None,
            },
        }
    }

    /// `SELECT DISTINCT`.
    pub fn distinct(mut self) -> Self {
        self.query.distinct = true;
        self
    }

    /// Adds properties to select (`"Name"` or `"Class.Name"`); with none,
    /// the query selects `*`.
    pub fn properties<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let new = names.into_iter().map(|n| PropertyRef::new(n.as_ref()));
        match &mut self.query.projection {
            Projection::All => {
                let list: Vec<_> = new.collect();
                if !list.is_empty() {
                    self.query.projection = Projection::Properties(list);
                }
            }
            Projection::Properties(list) => list.extend(new),
        }
        self
    }

    /// `INNER JOIN <class> ON <left> = <right>`.
    pub fn inner_join(self, class: impl Into<String>, left: &str, right: &str) -> Self {
        self.join(JoinKind::Inner, class, left, right)
    }

    /// `<kind> JOIN <class> ON <left> = <right>`.
    pub fn join(
        mut self,
        kind: JoinKind,
        class: impl Into<String>,
        left: &str,
        right: &str,
    ) -> Self {
        self.query.joins.push(Join {
            kind,
            class: class.into(),
            left: PropertyRef::new(left),
            right: PropertyRef::new(right),
        });
        self
    }

    /// Adds a `WHERE` condition; a second call combines them with `AND`.
    pub fn filter(mut self, condition: Condition) -> Self {
        self.query.condition = Some(match self.query.condition.take() {
            Some(c) => c.and(condition),
            None => condition,
        });
        self
    }

    /// Checks the query (see [`Query::check`]) and returns it.
    pub fn build(self) -> Result<Query, WqlError> {
        self.query.check()?;
        Ok(self.query)
    }
}

fn compare(property: &str, op: CompareOp, value: impl Into<Literal>) -> Condition {
    Condition::Compare {
        left: Operand::Property(PropertyRef::new(property)),
        op,
        right: Operand::Literal(value.into()),
    }
}

impl Condition {
    /// `<property> = <value>`.
    pub fn eq(property: &str, value: impl Into<Literal>) -> Self {
        compare(property, CompareOp::Eq, value)
    }

    /// `<property> <> <value>`.
    pub fn ne(property: &str, value: impl Into<Literal>) -> Self {
        compare(property, CompareOp::Ne, value)
    }

    /// `<property> < <value>`.
    pub fn lt(property: &str, value: impl Into<Literal>) -> Self {
        compare(property, CompareOp::Lt, value)
    }

    /// `<property> > <value>`.
    pub fn gt(property: &str, value: impl Into<Literal>) -> Self {
        compare(property, CompareOp::Gt, value)
    }

    /// `<property> <= <value>`.
    pub fn le(property: &str, value: impl Into<Literal>) -> Self {
        compare(property, CompareOp::Le, value)
    }

    /// `<property> >= <value>`.
    pub fn ge(property: &str, value: impl Into<Literal>) -> Self {
        compare(property, CompareOp::Ge, value)
    }

    /// `<left> = <right>` between two properties (`Class.A = Other.B`).
    pub fn same(left: &str, right: &str) -> Self {
        Self::Compare {
            left: Operand::Property(PropertyRef::new(left)),
            op: CompareOp::Eq,
            right: Operand::Property(PropertyRef::new(right)),
        }
    }

    /// `<property> LIKE "<pattern>"`. The pattern's `%`, `_` and `[…]` are
    /// wildcards; see [`escape_like`] to match them literally.
    pub fn like(property: &str, pattern: impl Into<String>) -> Self {
        Self::Like {
            operand: Operand::Property(PropertyRef::new(property)),
            pattern: pattern.into(),
            negated: false,
        }
    }

    /// `<property> NOT LIKE "<pattern>"`.
    pub fn not_like(property: &str, pattern: impl Into<String>) -> Self {
        Self::Like {
            operand: Operand::Property(PropertyRef::new(property)),
            pattern: pattern.into(),
            negated: true,
        }
    }

    /// `<property> IS NULL`.
    pub fn is_null(property: &str) -> Self {
        Self::IsNull {
            operand: Operand::Property(PropertyRef::new(property)),
            negated: false,
        }
    }

    /// `<property> IS NOT NULL`.
    pub fn is_not_null(property: &str) -> Self {
        Self::IsNull {
            operand: Operand::Property(PropertyRef::new(property)),
            negated: true,
        }
    }

    /// `<property> ISA "<class>"`.
    pub fn isa(property: &str, class: impl Into<String>) -> Self {
        Self::Isa {
            operand: Operand::Property(PropertyRef::new(property)),
            class: class.into(),
        }
    }

    /// `<property> IN (<values>)`; an empty list is refused by
    /// [`Select::build`].
    pub fn in_list<I, V>(property: &str, values: I) -> Self
    where
        I: IntoIterator<Item = V>,
        V: Into<Literal>,
    {
        Self::In {
            operand: Operand::Property(PropertyRef::new(property)),
            negated: false,
            set: InSet::List(values.into_iter().map(Into::into).collect()),
        }
    }

    /// `<property> IN (<sub-select>)`.
    pub fn in_select(property: &str, query: Query) -> Self {
        Self::In {
            operand: Operand::Property(PropertyRef::new(property)),
            negated: false,
            set: InSet::Select(Box::new(query)),
        }
    }

    /// `<property> NOT IN (<sub-select>)`.
    pub fn not_in_select(property: &str, query: Query) -> Self {
        Self::In {
            operand: Operand::Property(PropertyRef::new(property)),
            negated: true,
            set: InSet::Select(Box::new(query)),
        }
    }

    /// `self AND other` (flattened into one list when `self` is already an
    /// `AND`).
    pub fn and(self, other: Self) -> Self {
        match self {
            Self::And(mut items) if items.len() >= 2 => {
                items.push(other);
                Self::And(items)
            }
            c => Self::And(vec![c, other]),
        }
    }

    /// `self OR other` (flattened into one list when `self` is already an
    /// `OR`).
    pub fn or(self, other: Self) -> Self {
        match self {
            Self::Or(mut items) if items.len() >= 2 => {
                items.push(other);
                Self::Or(items)
            }
            c => Self::Or(vec![c, other]),
        }
    }
}

impl core::ops::Not for Condition {
    type Output = Self;

    /// `NOT self`.
    fn not(self) -> Self {
        Self::Not(Box::new(self))
    }
}

/// Escapes `%`, `_` and `[` in `text` so that a `LIKE` pattern matches them
/// literally (`[%]`, `[_]`, `[[]`), for patterns such as
/// `format!("{}%", escape_like(prefix))`.
pub fn escape_like(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '%' | '_' | '[' => {
                out.push('[');
                out.push(c);
                out.push(']');
            }
            c => out.push(c),
        }
    }
    out
}

impl From<&str> for Literal {
    fn from(s: &str) -> Self {
        Self::String(s.to_owned())
    }
}

impl From<String> for Literal {
    fn from(s: String) -> Self {
        Self::String(s)
    }
}

impl From<&String> for Literal {
    fn from(s: &String) -> Self {
        Self::String(s.clone())
    }
}

impl From<i64> for Literal {
    fn from(i: i64) -> Self {
        Self::Int(i)
    }
}

impl From<i32> for Literal {
    fn from(i: i32) -> Self {
        Self::Int(i.into())
    }
}

impl From<u32> for Literal {
    fn from(i: u32) -> Self {
        Self::Int(i.into())
    }
}

impl From<bool> for Literal {
    fn from(b: bool) -> Self {
        Self::Bool(b)
    }
}

impl From<f64> for Literal {
    /// A real; a non-finite one is refused by [`Select::build`].
    fn from(f: f64) -> Self {
        Self::Real(f)
    }
}

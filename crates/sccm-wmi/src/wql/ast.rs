//! The parsed form of a WQL `SELECT` statement, and its canonical text.

use core::fmt::{self, Display, Formatter, Write as _};

use super::{MAX_DEPTH, WqlError, WqlErrorKind, check_identifier};

/// A WQL `SELECT` statement.
///
/// Its [`Display`] is canonical WQL: keywords in upper case, one space
/// between tokens, strings in double quotes, parentheses only where the
/// structure needs them.
#[derive(Clone, Debug, PartialEq)]
pub struct Query {
    /// `SELECT DISTINCT` (a ConfigMgr extension).
    pub distinct: bool,
    /// What is selected.
    pub projection: Projection,
    /// The class after `FROM`.
    pub class: String,
    /// Joined classes (a ConfigMgr extension), in order.
    pub joins: Vec<Join>,
    /// The `WHERE` condition.
    pub condition: Option<Condition>,
}

/// What a `SELECT` returns.
#[derive(Clone, Debug, PartialEq)]
pub enum Projection {
    /// `*`.
    All,
    /// A list of properties (never empty).
    Properties(Vec<PropertyRef>),
}

/// A property, possibly qualified by its class (`SMS_R_System.Name`).
#[derive(Clone, Debug, Eq, Hash, PartialEq)]
pub struct PropertyRef {
    /// The class, when qualified.
    pub class: Option<String>,
    /// The property.
    pub name: String,
}

/// How a class is joined.
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
pub enum JoinKind {
    /// `INNER JOIN` (also written `JOIN`).
    Inner,
    /// `LEFT OUTER JOIN` (also `LEFT JOIN`).
    LeftOuter,
    /// `RIGHT OUTER JOIN` (also `RIGHT JOIN`).
    RightOuter,
    /// `FULL OUTER JOIN` (also `FULL JOIN`).
    FullOuter,
}

/// `<kind> JOIN <class> ON <left> = <right>`, as ConfigMgr's query rules
/// join `SMS_G_System_*` inventory classes to `SMS_R_System`.
#[derive(Clone, Debug, Eq, Hash, PartialEq)]
pub struct Join {
    /// The kind of join.
    pub kind: JoinKind,
    /// The joined class.
    pub class: String,
    /// The property left of `=`.
    pub left: PropertyRef,
    /// The property right of `=`.
    pub right: PropertyRef,
}

/// A constant.
#[derive(Clone, Debug, PartialEq)]
pub enum Literal {
    /// `NULL`.
    Null,
    /// `TRUE` or `FALSE`.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A number with a fractional part (always finite).
    Real(f64),
    /// A string; date-times are strings in DMTF form
    /// (`"20231004123456.000000+000"`).
    String(String),
}

/// The functions ConfigMgr's WQL accepts in query rules.
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
pub enum Function {
    /// `DateAdd(part, number, date)`.
    DateAdd,
    /// `DateDiff(part, start, end)`.
    DateDiff,
    /// `DatePart(part, date)`.
    DatePart,
    /// `GetDate()`: the provider's current time.
    GetDate,
    /// `Upper(string)`.
    Upper,
    /// `Lower(string)`.
    Lower,
}

/// One side of a comparison.
#[derive(Clone, Debug, PartialEq)]
pub enum Operand {
    /// A property (or, as a function argument, a date part such as `dd`).
    Property(PropertyRef),
    /// A constant.
    Literal(Literal),
    /// A function call.
    Call(Function, Vec<Self>),
}

/// A comparison operator.
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
pub enum CompareOp {
    /// `=`.
    Eq,
    /// `<>` (also written `!=`).
    Ne,
    /// `<`.
    Lt,
    /// `>`.
    Gt,
    /// `<=`.
    Le,
    /// `>=`.
    Ge,
}

/// The right side of `IN`.
#[derive(Clone, Debug, PartialEq)]
pub enum InSet {
    /// `IN ("a", "b")` (never empty).
    List(Vec<Literal>),
    /// `IN (SELECT … )`.
    Select(Box<Query>),
}

/// A `WHERE` condition.
#[derive(Clone, Debug, PartialEq)]
pub enum Condition {
    /// All of the conditions (at least two).
    And(Vec<Self>),
    /// Any of the conditions (at least two).
    Or(Vec<Self>),
    /// `NOT <condition>`.
    Not(Box<Self>),
    /// `<left> <op> <right>`; at least one side is not a literal.
    Compare {
        /// The left side.
        left: Operand,
        /// The operator.
        op: CompareOp,
        /// The right side.
        right: Operand,
    },
    /// `<operand> [NOT] LIKE "<pattern>"` (`%`, `_`, `[a-z]`, `[^a]` as in
    /// WQL).
    Like {
        /// What is matched.
        operand: Operand,
        /// The pattern.
        pattern: String,
        /// `NOT LIKE`.
        negated: bool,
    },
    /// `<operand> IS [NOT] NULL`.
    IsNull {
        /// What is tested.
        operand: Operand,
        /// `IS NOT NULL`.
        negated: bool,
    },
    /// `<operand> ISA "<class>"`.
    Isa {
        /// What is tested (an embedded object or `__this`).
        operand: Operand,
        /// The class.
        class: String,
    },
    /// `<operand> [NOT] IN (…)` (a ConfigMgr extension).
    In {
        /// What is tested.
        operand: Operand,
        /// `NOT IN`.
        negated: bool,
        /// The list or sub-select.
        set: InSet,
    },
}

impl PropertyRef {
    /// `"Class.Name"` or `"Name"`, split at the first `.`. Not checked
    /// here; [`Query::check`] checks.
    pub fn new(text: &str) -> Self {
        match text.split_once('.') {
            Some((class, name)) => Self {
                class: Some(class.to_owned()),
                name: name.to_owned(),
            },
            None => Self {
                class: None,
                name: text.to_owned(),
            },
        }
    }

    fn check(&self) -> Result<(), WqlError> {
        if let Some(c) = &self.class {
            check_identifier(c)?;
        }
        check_identifier(&self.name)
    }
}

impl Function {
    /// The function named `name` (any case).
    pub fn from_name(name: &str) -> Option<Self> {
        [
            Self::DateAdd,
            Self::DateDiff,
            Self::DatePart,
            Self::GetDate,
            Self::Upper,
            Self::Lower,
        ]
        .into_iter()
        .find(|f| f.name().eq_ignore_ascii_case(name))
    }

    /// The name, as written in canonical WQL.
    pub const fn name(self) -> &'static str {
        match self {
            Self::DateAdd => "DateAdd",
            Self::DateDiff => "DateDiff",
            Self::DatePart => "DatePart",
            Self::GetDate => "GetDate",
            Self::Upper => "Upper",
            Self::Lower => "Lower",
        }
    }

    /// How many arguments the function takes.
    pub const fn arity(self) -> usize {
        match self {
            Self::GetDate => 0,
            Self::Upper | Self::Lower => 1,
            Self::DatePart => 2,
            Self::DateAdd | Self::DateDiff => 3,
        }
    }
}

impl CompareOp {
    /// The operator as written in canonical WQL.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Eq => "=",
            Self::Ne => "<>",
            Self::Lt => "<",
            Self::Gt => ">",
            Self::Le => "<=",
            Self::Ge => ">=",
        }
    }
}

impl Operand {
    /// `true` for a [`Literal`](Self::Literal).
    pub fn is_literal(&self) -> bool {
        matches!(self, Self::Literal(_))
    }

    fn check(&self, depth: usize) -> Result<(), WqlError> {
        match self {
            Self::Property(p) => p.check(),
            Self::Literal(l) => l.check(),
            Self::Call(f, args) => {
                let depth = deeper(depth)?;
                if args.len() != f.arity() {
                    return Err(WqlError::new(WqlErrorKind::UnknownFunction, 0));
                }
                args.iter().try_for_each(|a| a.check(depth))
            }
        }
    }
}

impl Literal {
    fn check(&self) -> Result<(), WqlError> {
        match self {
            Self::Real(f) if !f.is_finite() => Err(WqlError::new(WqlErrorKind::InvalidNumber, 0)),
            Self::String(s) => check_string(s),
            _ => Ok(()),
        }
    }
}

fn check_string(s: &str) -> Result<(), WqlError> {
    match s.char_indices().find(|(_, c)| c.is_control()) {
        Some((i, _)) => Err(WqlError::new(WqlErrorKind::ControlChar, i)),
        None => Ok(()),
    }
}

fn deeper(depth: usize) -> Result<usize, WqlError> {
    if depth >= MAX_DEPTH {
        Err(WqlError::new(WqlErrorKind::TooDeep, 0))
    } else {
        Ok(depth + 1)
    }
}

impl Query {
    /// Checks what [`parse`](super::parse) would check of the query's
    /// canonical text: identifiers, numbers, strings, argument counts,
    /// non-empty lists, a property in every comparison, and the depth.
    /// [`Select::build`](super::Select::build) calls it.
    pub fn check(&self) -> Result<(), WqlError> {
        self.check_at(0)
    }

    fn check_at(&self, depth: usize) -> Result<(), WqlError> {
        if let Projection::Properties(list) = &self.projection {
            if list.is_empty() {
                return Err(WqlError::new(WqlErrorKind::EmptyList, 0));
            }
            list.iter().try_for_each(PropertyRef::check)?;
        }
        check_identifier(&self.class)?;
        for j in &self.joins {
            check_identifier(&j.class)?;
            j.left.check()?;
            j.right.check()?;
        }
        match &self.condition {
            Some(c) => c.check(depth),
            None => Ok(()),
        }
    }
}

impl Condition {
    fn check(&self, depth: usize) -> Result<(), WqlError> {
        let no_property = || Err(WqlError::new(WqlErrorKind::NoProperty, 0));
        match self {
            Self::And(items) | Self::Or(items) => {
                if items.len() < 2 {
                    return Err(WqlError::new(WqlErrorKind::EmptyList, 0));
                }
                for c in items {
                    // A nested AND/OR is written in parentheses.
                    let d = if c.is_junction() {
                        deeper(depth)?
                    } else {
                        depth
                    };
                    c.check(d)?;
                }
                Ok(())
            }
            Self::Not(c) => {
                let mut d = deeper(depth)?;
                if c.is_junction() {
                    d = deeper(d)?;
                }
                c.check(d)
            }
            Self::Compare { left, right, .. } => {
                if left.is_literal() && right.is_literal() {
                    return no_property();
                }
                left.check(depth)?;
                right.check(depth)
            }
            Self::Like {
                operand, pattern, ..
            } => {
                if operand.is_literal() {
                    return no_property();
                }
                operand.check(depth)?;
                check_string(pattern)
            }
            Self::IsNull { operand, .. } => {
                if operand.is_literal() {
                    return no_property();
                }
                operand.check(depth)
            }
            Self::Isa { operand, class } => {
                if operand.is_literal() {
                    return no_property();
                }
                operand.check(depth)?;
                check_string(class)
            }
            Self::In { operand, set, .. } => {
                if operand.is_literal() {
                    return no_property();
                }
                operand.check(depth)?;
                match set {
                    InSet::List(l) if l.is_empty() => {
                        Err(WqlError::new(WqlErrorKind::EmptyList, 0))
                    }
                    InSet::List(l) => l.iter().try_for_each(Literal::check),
                    InSet::Select(q) => q.check_at(deeper(depth)?),
                }
            }
        }
    }

    fn is_junction(&self) -> bool {
        matches!(self, Self::And(_) | Self::Or(_))
    }
}

impl Display for Query {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str("SELECT ")?;
        if self.distinct {
            f.write_str("DISTINCT ")?;
        }
        match &self.projection {
            Projection::All => f.write_char('*')?,
            Projection::Properties(list) => write_list(f, list)?,
        }
        write!(f, " FROM {}", self.class)?;
        for j in &self.joins {
            let kind = match j.kind {
                JoinKind::Inner => "INNER",
                JoinKind::LeftOuter => "LEFT OUTER",
                JoinKind::RightOuter => "RIGHT OUTER",
                JoinKind::FullOuter => "FULL OUTER",
            };
            write!(f, " {kind} JOIN {} ON {} = {}", j.class, j.left, j.right)?;
        }
        if let Some(c) = &self.condition {
            write!(f, " WHERE {c}")?;
        }
        Ok(())
    }
}

fn write_list<T: Display>(f: &mut Formatter<'_>, items: &[T]) -> fmt::Result {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write!(f, "{item}")?;
    }
    Ok(())
}

impl Display for PropertyRef {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        if let Some(c) = &self.class {
            write!(f, "{c}.")?;
        }
        f.write_str(&self.name)
    }
}

impl Display for Literal {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Self::Null => f.write_str("NULL"),
            Self::Bool(true) => f.write_str("TRUE"),
            Self::Bool(false) => f.write_str("FALSE"),
            Self::Int(i) => write!(f, "{i}"),
            Self::Real(r) => {
                // Rust writes the shortest text that reads back to the same
                // number, without an exponent; keep a `.` so that it reads
                // back as a real.
                let text = r.to_string();
                f.write_str(&text)?;
                if !text.contains('.') {
                    f.write_str(".0")?;
                }
                Ok(())
            }
            Self::String(s) => write_string(f, s),
        }
    }
}

/// Writes `s` as a WQL string literal: in double quotes, with `\` and `"`
/// preceded by `\`.
pub(crate) fn write_string(f: &mut impl fmt::Write, s: &str) -> fmt::Result {
    f.write_char('"')?;
    for c in s.chars() {
        if c == '"' || c == '\\' {
            f.write_char('\\')?;
        }
        f.write_char(c)?;
    }
    f.write_char('"')
}

impl Display for Operand {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Self::Property(p) => write!(f, "{p}"),
            Self::Literal(l) => write!(f, "{l}"),
            Self::Call(func, args) => {
                write!(f, "{}(", func.name())?;
                write_list(f, args)?;
                f.write_char(')')
            }
        }
    }
}

impl Display for CompareOp {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Display for Condition {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Self::And(items) | Self::Or(items) => {
                let sep = if matches!(self, Self::And(_)) {
                    " AND "
                } else {
                    " OR "
                };
                for (i, c) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(sep)?;
                    }
                    write_grouped(f, c)?;
                }
                Ok(())
            }
            Self::Not(c) => {
                f.write_str("NOT ")?;
                write_grouped(f, c)
            }
            Self::Compare { left, op, right } => write!(f, "{left} {op} {right}"),
            Self::Like {
                operand,
                pattern,
                negated,
            } => {
                write!(f, "{operand} {}LIKE ", if *negated { "NOT " } else { "" })?;
                write_string(f, pattern)
            }
            Self::IsNull { operand, negated } => {
                write!(f, "{operand} IS {}NULL", if *negated { "NOT " } else { "" })
            }
            Self::Isa { operand, class } => {
                write!(f, "{operand} ISA ")?;
                write_string(f, class)
            }
            Self::In {
                operand,
                negated,
                set,
            } => {
                write!(f, "{operand} {}IN (", if *negated { "NOT " } else { "" })?;
                match set {
                    InSet::List(l) => write_list(f, l)?,
                    InSet::Select(q) => write!(f, "{q}")?,
                }
                f.write_char(')')
            }
        }
    }
}

fn write_grouped(f: &mut Formatter<'_>, c: &Condition) -> fmt::Result {
    if c.is_junction() {
        write!(f, "({c})")
    } else {
        write!(f, "{c}")
    }
}

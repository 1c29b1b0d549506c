//! A WQL `SELECT` as an AdminService query, for the statements OData can
//! say: one class, properties or `*`, and conditions built from
//! comparisons with literals, `LIKE` with a leading or trailing `%`,
//! `IS [NOT] NULL`, `IN (…)` lists, `AND`, `OR` and `NOT`. Joins,
//! sub-selects, `ISA`, functions and other `LIKE` patterns are refused
//! (WinRM runs those).

use super::{Filter, FilterValue, Query};
use crate::wql::{self, CompareOp, Condition, InSet, Literal, Operand, Projection};
use crate::{Error, Result};

fn refuse(what: &str) -> Error {
    Error::InvalidRequest {
        what: format!("{what} has no AdminService ($filter) equivalent; run the query over WinRM"),
    }
}

impl Query {
    /// The AdminService query (`wmi/<Class>` with `$select` and `$filter`)
    /// that returns what the WQL statement `query` selects.
    ///
    /// ```
    /// use sccm_wmi::odata::Query;
    /// let wql = sccm_wmi::wql::parse(
    ///     "SELECT Name, ResourceId FROM SMS_R_System WHERE Name LIKE 'MAC-%' AND Client = 1",
    /// )?;
    /// let q = Query::from_wql(&wql)?;
    /// assert_eq!(
    ///     q.target()?,
    ///     "wmi/SMS_R_System?$filter=startswith(Name,'MAC-')%20and%20Client%20eq%201&$select=Name,ResourceId",
    /// );
    /// # Ok::<(), sccm_wmi::Error>(())
    /// ```
    pub fn from_wql(query: &wql::Query) -> Result<Self> {
        if !query.joins.is_empty() {
            return Err(refuse("a join"));
        }
        if query.distinct {
            return Err(refuse("SELECT DISTINCT"));
        }
        let mut out = Self::wmi(query.class.clone());
        if let Projection::Properties(props) = &query.projection {
            let mut names = Vec::with_capacity(props.len());
            for p in props {
                if p.class
                    .as_ref()
                    .is_some_and(|c| !c.eq_ignore_ascii_case(&query.class))
                {
                    return Err(refuse("a property of another class"));
                }
                names.push(p.name.clone());
            }
            out = out.select(names);
        }
        if let Some(c) = &query.condition {
            out = out.filter(condition(c, &query.class, 0)?);
        }
        Ok(out)
    }
}

/// Deeper than the WQL parser allows; a guard for hand-built trees.
const MAX_DEPTH: usize = 64;

fn condition(c: &Condition, class: &str, depth: usize) -> Result<Filter> {
    if depth > MAX_DEPTH {
        return Err(refuse("a condition this deep"));
    }
    Ok(match c {
        Condition::And(all) => junction(all, class, depth, Filter::and)?,
        Condition::Or(any) => junction(any, class, depth, Filter::or)?,
        Condition::Not(inner) => !condition(inner, class, depth + 1)?,
        Condition::Compare { left, op, right } => match (left, right) {
            (Operand::Property(_), Operand::Literal(l)) => compare(property(left, class)?, *op, l),
            (Operand::Literal(l), Operand::Property(_)) => {
                compare(property(right, class)?, mirror(*op), l)
            }
            _ => {
                return Err(refuse(
                    "a comparison that is not between a property and a value",
                ));
            }
        },
        Condition::Like {
            operand,
            pattern,
            negated,
        } => {
            let name = property(operand, class)?;
            let f = like(name, pattern)?;
            if *negated { !f } else { f }
        }
        Condition::IsNull { operand, negated } => {
            let name = property(operand, class)?;
            if *negated {
                Filter::ne(name, FilterValue::Null)
            } else {
                Filter::eq(name, FilterValue::Null)
            }
        }
        Condition::In {
            operand,
            negated,
            set,
        } => {
            let name = property(operand, class)?;
            let InSet::List(values) = set else {
                return Err(refuse("IN (SELECT …)"));
            };
            let mut any: Option<Filter> = None;
            for v in values {
                let f = Filter::eq(name, value(v));
                any = Some(match any {
                    Some(a) => a.or(f),
                    None => f,
                });
            }
            let f = any.ok_or_else(|| refuse("an empty IN list"))?;
            if *negated { !f } else { f }
        }
        Condition::Isa { .. } => return Err(refuse("ISA")),
    })
}

fn junction(
    parts: &[Condition],
    class: &str,
    depth: usize,
    join: fn(Filter, Filter) -> Filter,
) -> Result<Filter> {
    let mut acc: Option<Filter> = None;
    for p in parts {
        let f = condition(p, class, depth + 1)?;
        acc = Some(match acc {
            Some(a) => join(a, f),
            None => f,
        });
    }
    acc.ok_or_else(|| refuse("an empty condition"))
}

fn property<'a>(o: &'a Operand, class: &str) -> Result<&'a str> {
    match o {
        Operand::Property(p) => {
            if p.class
                .as_ref()
                .is_some_and(|c| !c.eq_ignore_ascii_case(class))
            {
                return Err(refuse("a property of another class"));
            }
            Ok(&p.name)
        }
        Operand::Call(..) => Err(refuse("a function call")),
        Operand::Literal(_) => Err(refuse("a value where a property belongs")),
    }
}

fn value(l: &Literal) -> FilterValue {
    match l {
        Literal::Null => FilterValue::Null,
        Literal::Bool(b) => FilterValue::Bool(*b),
        Literal::Int(i) => FilterValue::Int(*i),
        Literal::Real(r) => FilterValue::Real(*r),
        Literal::String(s) => FilterValue::String(s.clone()),
    }
}

fn compare(name: &str, op: CompareOp, l: &Literal) -> Filter {
    let v = value(l);
    match op {
        CompareOp::Eq => Filter::eq(name, v),
        CompareOp::Ne => Filter::ne(name, v),
        CompareOp::Lt => Filter::lt(name, v),
        CompareOp::Gt => Filter::gt(name, v),
        CompareOp::Le => Filter::le(name, v),
        CompareOp::Ge => Filter::ge(name, v),
    }
}

/// `5 < X` is `X > 5`.
fn mirror(op: CompareOp) -> CompareOp {
    match op {
        CompareOp::Lt => CompareOp::Gt,
        CompareOp::Gt => CompareOp::Lt,
        CompareOp::Le => CompareOp::Ge,
        CompareOp::Ge => CompareOp::Le,
        other => other,
    }
}

/// `LIKE` patterns OData's string functions can say.
fn like(name: &str, pattern: &str) -> Result<Filter> {
    let lead = pattern.starts_with('%');
    let trail = pattern.len() > 1 && pattern.ends_with('%');
    let core = pattern
        .strip_prefix('%')
        .unwrap_or(pattern)
        .strip_suffix('%')
        .filter(|_| trail)
        .unwrap_or_else(|| pattern.strip_prefix('%').unwrap_or(pattern));
    if core.is_empty() || core.contains(['%', '_', '[', ']']) {
        return Err(refuse(&format!("LIKE {pattern:?}")));
    }
    Ok(match (lead, trail) {
        (true, true) => Filter::contains(name, core),
        (false, true) => Filter::startswith(name, core),
        (true, false) => Filter::endswith(name, core),
        (false, false) => Filter::eq(name, core),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The request target, percent-decoded for reading.
    fn filter(wql: &str) -> Result<String> {
        let q = Query::from_wql(&wql::parse(wql)?)?;
        let t = q.target()?;
        let b = t.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'%' && i + 2 < b.len() {
                out.push(u8::from_str_radix(&t[i + 1..i + 3], 16).unwrap());
                i += 3;
            } else {
                out.push(b[i]);
                i += 1;
            }
        }
        Ok(String::from_utf8(out).unwrap())
    }

    #[test]
    fn wql_becomes_odata() {
        let t = |w: &str| filter(&format!("SELECT * FROM SMS_R_System WHERE {w}")).unwrap();
        assert_eq!(
            t("Name = 'MAC-1'"),
            "wmi/SMS_R_System?$filter=Name eq 'MAC-1'"
        );
        assert_eq!(
            t("16777220 <= ResourceId"),
            "wmi/SMS_R_System?$filter=ResourceId ge 16777220"
        );
        assert_eq!(
            t("Name LIKE '%book%'"),
            "wmi/SMS_R_System?$filter=contains(Name,'book')"
        );
        assert_eq!(
            t("Name LIKE '%-01'"),
            "wmi/SMS_R_System?$filter=endswith(Name,'-01')"
        );
        assert_eq!(
            t("Name NOT LIKE 'PC-%'"),
            "wmi/SMS_R_System?$filter=not startswith(Name,'PC-')"
        );
        assert_eq!(
            t("Obsolete IS NULL"),
            "wmi/SMS_R_System?$filter=Obsolete eq null"
        );
        assert_eq!(
            t("ResourceId IN (1, 2) AND (Client = 1 OR Active = 1)"),
            "wmi/SMS_R_System?$filter=(ResourceId eq 1 or ResourceId eq 2) and (Client eq 1 or Active eq 1)"
        );
        assert_eq!(
            t("Name = 'O\\'Brien'"),
            "wmi/SMS_R_System?$filter=Name eq 'O''Brien'"
        );
        assert_eq!(
            filter("SELECT SMS_R_System.Name FROM SMS_R_System").unwrap(),
            "wmi/SMS_R_System?$select=Name"
        );
    }

    #[test]
    fn what_odata_cannot_say_is_refused() {
        for w in [
            "SELECT * FROM SMS_R_System WHERE Name LIKE 'MAC-0_'",
            "SELECT * FROM SMS_R_System WHERE Name LIKE '%'",
            "SELECT * FROM SMS_R_System WHERE UPPER(Name) = 'X'",
            "SELECT * FROM SMS_R_System WHERE ResourceId IN (SELECT ResourceID FROM SMS_FullCollectionMembership)",
            "SELECT * FROM SMS_R_System INNER JOIN SMS_G_System_COMPUTER_SYSTEM ON SMS_G_System_COMPUTER_SYSTEM.ResourceID = SMS_R_System.ResourceId",
            "SELECT DISTINCT Name FROM SMS_R_System",
        ] {
            let err = filter(w).expect_err(w);
            assert!(err.to_string().contains("WinRM"), "{w}: {err}");
        }
    }
}

//! WQL `WHERE` conditions evaluated against an instance, the way WMI
//! compares: property names and text without regard to case, numbers by
//! value, NULL matching nothing but `IS NULL`, and an array property
//! matching when one of its elements does (as ConfigMgr's
//! `IPAddresses`/`MACAddresses` queries rely on).

use std::cmp::Ordering;

use crate::wql::{CompareOp, Condition, Function, InSet, Literal, Operand};
use crate::{Instance, Value};

/// Whether `instance` satisfies `condition`; an error for what the
/// simulator cannot evaluate (sub-selects, date functions).
pub(crate) fn matches(condition: &Condition, instance: &Instance) -> Result<bool, String> {
    Ok(match condition {
        Condition::And(all) => {
            for c in all {
                if !matches(c, instance)? {
                    return Ok(false);
                }
            }
            true
        }
        Condition::Or(any) => {
            for c in any {
                if matches(c, instance)? {
                    return Ok(true);
                }
            }
            false
        }
        Condition::Not(c) => !matches(c, instance)?,
        Condition::Compare { left, op, right } => {
            let (l, r) = (operand(left, instance)?, operand(right, instance)?);
            any_pair(&l, &r, |a, b| compare(a, b).is_some_and(|o| holds(*op, o)))
        }
        Condition::Like {
            operand: o,
            pattern,
            negated,
        } => {
            let v = operand(o, instance)?;
            let hit = elements(&v).any(|e| e.as_str().is_some_and(|s| like(s, pattern)));
            hit != *negated
        }
        Condition::IsNull {
            operand: o,
            negated,
        } => operand(o, instance)?.is_null() != *negated,
        Condition::Isa { operand: o, class } => match operand(o, instance)? {
            Value::Object(i) => i.class.eq_ignore_ascii_case(class),
            _ => instance.class.eq_ignore_ascii_case(class),
        },
        Condition::In {
            operand: o,
            negated,
            set,
        } => {
            let InSet::List(list) = set else {
                return Err("sub-selects are not supported".to_owned());
            };
            let v = operand(o, instance)?;
            let hit = list.iter().any(|l| {
                let l = literal(l);
                any_pair(&v, &l, |a, b| compare(a, b) == Some(Ordering::Equal))
            });
            hit != *negated
        }
    })
}

fn operand(o: &Operand, instance: &Instance) -> Result<Value, String> {
    Ok(match o {
        Operand::Property(p) => instance.get(&p.name).cloned().unwrap_or(Value::Null),
        Operand::Literal(l) => literal(l),
        Operand::Call(f, args) => {
            let [arg] = args.as_slice() else {
                return Err(format!("{f:?} is not supported"));
            };
            let v = operand(arg, instance)?;
            match (f, v.as_str()) {
                (Function::Upper, Some(s)) => Value::String(s.to_uppercase()),
                (Function::Lower, Some(s)) => Value::String(s.to_lowercase()),
                (Function::Upper | Function::Lower, None) => Value::Null,
                _ => return Err(format!("{f:?} is not supported")),
            }
        }
    })
}

fn literal(l: &Literal) -> Value {
    match l {
        Literal::Null => Value::Null,
        Literal::Bool(b) => Value::Bool(*b),
        Literal::Int(i) => Value::Int(*i),
        Literal::Real(r) => Value::Real(*r),
        Literal::String(s) => Value::String(s.clone()),
    }
}

fn elements(v: &Value) -> Box<dyn Iterator<Item = &Value> + '_> {
    match v {
        Value::Array(a) => Box::new(a.iter()),
        other => Box::new(std::iter::once(other)),
    }
}

fn any_pair(a: &Value, b: &Value, f: impl Fn(&Value, &Value) -> bool) -> bool {
    elements(a).any(|x| elements(b).any(|y| f(x, y)))
}

fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    if a.is_null() || b.is_null() {
        return None;
    }
    if let (Value::Bool(x), Value::Bool(y)) = (a, b) {
        return Some(x.cmp(y));
    }
    if let (Some(x), Some(y)) = (number(a), number(b)) {
        return x.partial_cmp(&y);
    }
    let (x, y) = (text(a)?, text(b)?);
    Some(x.to_lowercase().cmp(&y.to_lowercase()))
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Int(i) => Some(*i as f64),
        Value::Real(r) => Some(*r),
        Value::Bool(b) => Some(f64::from(u8::from(*b))),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Int(i) => Some(i.to_string()),
        Value::Real(r) => Some(r.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn holds(op: CompareOp, o: Ordering) -> bool {
    match op {
        CompareOp::Eq => o == Ordering::Equal,
        CompareOp::Ne => o != Ordering::Equal,
        CompareOp::Lt => o == Ordering::Less,
        CompareOp::Gt => o == Ordering::Greater,
        CompareOp::Le => o != Ordering::Greater,
        CompareOp::Ge => o != Ordering::Less,
    }
}

/// WQL `LIKE`: `%` any run, `_` one character, `[abc]`, `[a-z]`, `[^a]`;
/// case-insensitive.
pub(crate) fn like(text: &str, pattern: &str) -> bool {
    let t: Vec<char> = text.to_lowercase().chars().collect();
    let p: Vec<char> = pattern.to_lowercase().chars().collect();
    // Iterative matching with one backtrack point for `%` (linear in
    // practice, never exponential).
    let (mut ti, mut pi) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == '%' {
            star = Some((pi, ti));
            pi += 1;
            continue;
        }
        if pi < p.len()
            && let Some((true, width)) = one(&p[pi..], t[ti])
        {
            ti += 1;
            pi += width;
            continue;
        }
        match star {
            Some((sp, st)) => {
                pi = sp + 1;
                ti = st + 1;
                star = Some((sp, st + 1));
            }
            None => return false,
        }
    }
    p[pi..].iter().all(|&c| c == '%')
}

/// Whether the pattern element at the start of `p` matches `c`, and its
/// width in the pattern.
fn one(p: &[char], c: char) -> Option<(bool, usize)> {
    match p[0] {
        '_' => Some((true, 1)),
        '[' => {
            let close = p.iter().position(|&x| x == ']').filter(|&i| i > 1)?;
            let set = &p[1..close];
            let (neg, set) = match set.first() {
                Some('^') => (true, &set[1..]),
                _ => (false, set),
            };
            let mut hit = false;
            let mut i = 0;
            while i < set.len() {
                if i + 2 < set.len() && set[i + 1] == '-' {
                    hit |= (set[i]..=set[i + 2]).contains(&c);
                    i += 3;
                } else {
                    hit |= set[i] == c;
                    i += 1;
                }
            }
            Some((hit != neg, close + 1))
        }
        x => Some((x == c, 1)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mac() -> Instance {
        Instance::new("SMS_R_System")
            .with("Name", "MAC-000042")
            .with("ResourceId", 16777258)
            .with("Client", 1)
            .with("MACAddresses", vec!["A4:83:E7:00:00:2A"])
            .with("Obsolete", Value::Null)
    }

    fn eval(where_clause: &str) -> bool {
        let q =
            crate::wql::parse(&format!("SELECT * FROM SMS_R_System WHERE {where_clause}")).unwrap();
        matches(q.condition.as_ref().unwrap(), &mac()).unwrap()
    }

    #[test]
    fn conditions_compare_like_wmi() {
        assert!(eval("Name = 'mac-000042'"));
        assert!(!eval("Name = 'MAC-000043'"));
        assert!(eval("ResourceId > 16777216 AND Client = 1"));
        assert!(eval("ResourceId >= 16777258"));
        assert!(!eval("ResourceId < 16777258"));
        assert!(eval("Name LIKE 'MAC-%42'"));
        assert!(eval("Name LIKE 'mac-0000[3-5]_'"));
        assert!(!eval("Name LIKE 'MAC-1%'"));
        assert!(eval("Name NOT LIKE 'PC-%'"));
        assert!(eval("Obsolete IS NULL"));
        assert!(!eval("Obsolete = 0"), "NULL equals nothing");
        assert!(
            eval("MACAddresses = 'A4:83:E7:00:00:2A'"),
            "an array matches by element"
        );
        assert!(eval("ResourceId IN (1, 16777258)"));
        assert!(eval("NOT (Name = 'x' OR Client = 0)"));
        assert!(eval("UPPER(Name) = 'MAC-000042'"));
    }

    #[test]
    fn like_patterns() {
        assert!(like("", "%"));
        assert!(like("abc", "a%c"));
        assert!(like("abc", "%%%"));
        assert!(!like("abc", "a%d"));
        assert!(like("a-b", "a[-]b") || like("a-b", "a_b"));
        assert!(like("b", "[^a]"));
        assert!(!like("a", "[^a]"));
        // Many `%` over a long text stays fast (one backtrack point).
        let long = "a".repeat(10_000);
        assert!(!like(&long, "%a%a%a%a%b"));
    }
}
